//! Password-reset links: single use, short-lived, stored hashed.

use crate::schema::password_resets as pr;
use crate::{now, tokens, DbConn, Result, StoreError};
use chrono::TimeDelta;
use diesel::prelude::*;
use patron_domain::UserId;

pub const TTL_MINUTES: i64 = 60;

pub fn create(conn: &mut DbConn, user: UserId) -> Result<String> {
    let (plain, hash) = tokens::generate("");
    let t = now();
    diesel::insert_into(pr::table)
        .values((
            pr::user_id.eq(user.0),
            pr::token_hash.eq(hash),
            pr::created_at.eq(t),
            pr::expires_at.eq(t + TimeDelta::minutes(TTL_MINUTES)),
        ))
        .execute(conn)?;
    Ok(plain)
}

/// The user a live reset link belongs to, without using it up.
pub fn peek(conn: &mut DbConn, plain: &str) -> Result<UserId> {
    pr::table
        .filter(pr::token_hash.eq(tokens::hash(plain)))
        .filter(pr::used_at.is_null())
        .filter(pr::expires_at.gt(now()))
        .select(pr::user_id)
        .first::<i64>(conn)
        .optional()?
        .map(UserId)
        .ok_or(StoreError::NotFound)
}

/// Uses a reset link up (exactly once, even if two requests race) and returns its user.
pub fn consume(conn: &mut DbConn, plain: &str) -> Result<UserId> {
    let user = peek(conn, plain)?;
    let n = diesel::update(
        pr::table
            .filter(pr::token_hash.eq(tokens::hash(plain)))
            .filter(pr::used_at.is_null()),
    )
    .set(pr::used_at.eq(now()))
    .execute(conn)?;
    if n != 1 {
        return Err(StoreError::NotFound);
    }
    // Any other outstanding links for this user die with it.
    diesel::update(
        pr::table
            .filter(pr::user_id.eq(user.0))
            .filter(pr::used_at.is_null()),
    )
    .set(pr::used_at.eq(now()))
    .execute(conn)?;
    Ok(user)
}
