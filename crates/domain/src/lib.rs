//! Patron's pure rules: identifiers, tenancy, roles and the authorization decision.
//!
//! Nothing in this crate performs I/O. The store and web crates depend on it; it depends on
//! neither. The one way to obtain a [`authz::TenantScope`] — the value every tenant-owned
//! query requires — is [`authz::authorize`].

pub mod attributes;
pub mod authz;
pub mod bill;
pub mod broadcasts;
pub mod coupon_csv;
pub mod coupons;
pub mod follower_csv;
pub mod ids;
pub mod links;
pub mod loyalty;
pub mod period;
pub mod replies;
pub mod role;
pub mod validate;
pub mod wechat_settings;

pub use authz::{AgencyScope, AuthzError, Grant, Principal, TenantRef, TenantScope};
pub use ids::*;
pub use role::{Permission, Role};
