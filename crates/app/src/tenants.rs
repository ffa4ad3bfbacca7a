//! Which tenant a request acts in, and as whom.

use crate::AppError;
use patron_domain::{authz, Permission, Principal, TenantScope};
use patron_store::tenants::{self, Tenant};
use patron_store::DbConn;

/// Resolves `slug` for `principal` (the one authorization decision): the scope and the
/// tenant, `NotFound` for strangers (a tenant of someone else does not exist for them),
/// `Forbidden` for members whose role does not allow `perm`.
pub fn authorize(
    c: &mut DbConn,
    principal: &Principal,
    slug: &str,
    perm: Permission,
) -> Result<(TenantScope, Tenant), AppError> {
    let r = tenants::find_ref_by_slug(c, slug)?.ok_or(AppError::NotFound)?;
    let scope = authz::authorize(principal, r, perm)?;
    let t = tenants::get(c, &scope)?;
    Ok((scope, t))
}
