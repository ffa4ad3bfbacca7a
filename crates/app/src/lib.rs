//! Patron's use-case layer: the operations that a page, the JSON API and a job share.
//!
//! Each operation takes a [`patron_domain::TenantScope`] (made only by authorization, or
//! `TenantScope::system` for jobs), runs as one unit of work on the connection it is
//! given (so a caller makes one trip to the database pool for it), and answers with a
//! typed outcome: refusals are enum values a page and the API each turn into their own
//! words, never strings to match on. Nothing here knows HTTP: `patron-web` is the edge
//! above it, `patron-jobs` the other caller.

pub mod bills;
pub mod broadcasts;
pub mod coupons;
pub mod dashboard;
pub mod error;
pub mod followers;
pub mod imports;
pub mod jobs;
pub mod links;
pub mod loyalty;
pub mod members;
pub mod operations;
pub mod payments;
pub mod portfolio;
pub mod reconcile;
pub mod redeemer;
pub mod replies;
pub mod stats;
pub mod tenants;
pub mod till;
pub mod wechat;

pub use error::AppError;
pub use patron_store::StoreError;

/// Runs blocking database work on a pooled connection, off the async threads: for the
/// operations that also await something else (a WeChat call between two writes).
pub async fn blocking<T, F>(pool: &patron_store::DbPool, f: F) -> Result<T, StoreError>
where
    F: FnOnce(&mut patron_store::DbConn) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = pool.get()?;
        f(&mut c)
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}
