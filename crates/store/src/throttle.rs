//! Failed-login bookkeeping, in the database so every `patron` process sees the same counts.

use crate::schema::login_failures::dsl as f;
use crate::{now, DbConn, Result};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn record_failure(conn: &mut DbConn, key: &str) -> Result<()> {
    diesel::insert_into(f::login_failures)
        .values((f::throttle_key.eq(key), f::at.eq(now())))
        .execute(conn)?;
    Ok(())
}

/// Failures for `key` since `since`, and the oldest of them (to tell when the lock lifts).
pub fn failures_since(
    conn: &mut DbConn,
    key: &str,
    since: NaiveDateTime,
) -> Result<(i64, Option<NaiveDateTime>)> {
    let q = f::login_failures.filter(f::throttle_key.eq(key).and(f::at.ge(since)));
    let n: i64 = q.count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = q.select(diesel::dsl::min(f::at)).first(conn)?;
    Ok((n, oldest))
}

/// Failures since `since` for each of `keys` that has any (one query).
pub fn counts_since(
    conn: &mut DbConn,
    keys: &[&str],
    since: NaiveDateTime,
) -> Result<std::collections::HashMap<String, i64>> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, i64)> = f::login_failures
        .filter(f::throttle_key.eq_any(keys))
        .filter(f::at.ge(since))
        .group_by(f::throttle_key)
        .select((f::throttle_key, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

pub fn clear(conn: &mut DbConn, key: &str) -> Result<()> {
    diesel::delete(f::login_failures.filter(f::throttle_key.eq(key))).execute(conn)?;
    Ok(())
}

pub fn purge_before(conn: &mut DbConn, before: NaiveDateTime) -> Result<usize> {
    Ok(diesel::delete(f::login_failures.filter(f::at.lt(before))).execute(conn)?)
}
