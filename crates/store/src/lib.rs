//! Persistence for Patron: one diesel schema and one set of queries over SQLite and
//! PostgreSQL.
//!
//! Conventions:
//! - every function takes `&mut DbConn` so callers can compose them inside one transaction;
//! - every tenant-owned query takes a [`TenantScope`] (only `patron_domain::authz` makes one)
//!   and filters by its tenant, so a missing tenant filter cannot be written by accident;
//! - functions are blocking: async callers run them on the blocking pool (`web::block`).

pub mod api_tokens;
pub mod attributes;
pub mod bill_files;
pub mod broadcast_emails;
pub mod broadcasts;
pub mod cache_epoch;
pub mod changes;
pub mod conn;
pub mod coupons;
pub mod error;
pub mod followers;
pub mod imports;
pub mod inbox;
pub mod invitations;
pub mod jobs;
pub mod loyalty;
pub mod menus;
pub mod migrate;
pub mod password_resets;
pub mod payments;
pub mod qr_codes;
pub mod reconcile;
pub mod reply_rules;
pub mod scheduled;
pub mod schema;
pub mod secrets;
pub mod segments;
pub mod sessions;
pub mod settings;
pub mod stamps;
pub mod stats;
pub mod stores;
pub mod sync;
pub mod tags;
pub mod tenants;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod wx_tokens;

pub use conn::{savepoint, write_tx, Backend, DbConn, DbPool, DbUrl, PooledConn};
pub use diesel::result::Error as DieselError;
pub use error::StoreError;
pub use patron_domain::{AgencyScope, TenantScope};
pub use secrets::SecretBox;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The current time as stored: naive UTC, truncated to microseconds so both backends
/// round-trip the same value.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let t = chrono::Utc::now().naive_utc();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// A round trip to the database (readiness checks).
pub fn ping(conn: &mut DbConn) -> Result<()> {
    use diesel::connection::SimpleConnection;
    Ok(conn.batch_execute("SELECT 1")?)
}

/// Runs SQL text as is (operator tooling: creating and dropping benchmark schemas).
pub fn exec_sql(conn: &mut DbConn, sql: &str) -> Result<()> {
    use diesel::connection::SimpleConnection;
    Ok(conn.batch_execute(sql)?)
}
