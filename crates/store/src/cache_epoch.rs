//! The cache epoch: one counter every process reads to learn that something it caches
//! (a tenant's webhook settings, reply rules, loyalty program) changed in another process.

use crate::schema::cache_epoch::dsl as ce;
use crate::{DbConn, Result};
use diesel::prelude::*;

/// Moves the epoch on: every process drops its caches at its next poll.
pub fn bump(conn: &mut DbConn) -> Result<()> {
    diesel::update(ce::cache_epoch.filter(ce::id.eq(1)))
        .set(ce::epoch.eq(ce::epoch + 1))
        .execute(conn)?;
    Ok(())
}

/// The current epoch.
pub fn read(conn: &mut DbConn) -> Result<i64> {
    Ok(ce::cache_epoch
        .filter(ce::id.eq(1))
        .select(ce::epoch)
        .load::<i64>(conn)?
        .into_iter()
        .next()
        .unwrap_or(0))
}
