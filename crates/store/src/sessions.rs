//! Server-side sessions: the cookie carries a random token, the database its hash, so a
//! session can be revoked (logout, password change, "sign out everywhere").

use crate::schema::{sessions, users};
use crate::users::User;
use crate::{now, tokens, DbConn, Result};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use patron_domain::UserId;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
}

/// Starts a session; returns the cookie value (shown once) and the session.
pub fn create(
    conn: &mut DbConn,
    user: UserId,
    ttl: TimeDelta,
    ip: &str,
    user_agent: &str,
) -> Result<(String, i64)> {
    let (token, hash) = tokens::generate("");
    let t = now();
    let ua: String = user_agent.chars().take(300).collect();
    let id = diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(hash),
            sessions::user_id.eq(user.0),
            sessions::created_at.eq(t),
            sessions::last_seen_at.eq(t),
            sessions::expires_at.eq(t + ttl),
            sessions::ip.eq(ip),
            sessions::user_agent.eq(ua),
        ))
        .returning(sessions::id)
        .get_result(conn)?;
    Ok((token, id))
}

/// The live session and user for a cookie value: not revoked, not expired, user enabled.
/// (Password changes and resets revoke the other sessions explicitly.)
pub fn authenticate(conn: &mut DbConn, token: &str) -> Result<Option<(Session, User)>> {
    let t = now();
    let found: Option<(Session, User)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(tokens::hash(token)))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(t))
        .filter(users::disabled_at.is_null())
        .select((Session::as_select(), User::as_select()))
        .first(conn)
        .optional()?;
    let Some((s, u)) = found else { return Ok(None) };
    // One write a minute at most, not one per request.
    if t - s.last_seen_at > TimeDelta::minutes(1) {
        diesel::update(sessions::table.find(s.id))
            .set(sessions::last_seen_at.eq(t))
            .execute(conn)?;
    }
    Ok(Some((s, u)))
}

pub fn revoke(conn: &mut DbConn, session_id: i64) -> Result<()> {
    diesel::update(sessions::table.find(session_id))
        .set(sessions::revoked_at.eq(now()))
        .execute(conn)?;
    Ok(())
}

/// Revokes every session of the user except `keep` (the one changing the password).
pub fn revoke_all_for_user(conn: &mut DbConn, user: UserId, keep: Option<i64>) -> Result<usize> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user.0))
            .filter(sessions::id.ne(keep.unwrap_or(-1)))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now()))
    .execute(conn)?)
}

/// Deletes sessions that expired or were revoked more than a day ago.
pub fn purge(conn: &mut DbConn) -> Result<usize> {
    let cutoff = now() - TimeDelta::days(1);
    Ok(diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .lt(cutoff)
                .or(sessions::revoked_at.lt(cutoff)),
        ),
    )
    .execute(conn)?)
}
