//! Each tenant's WeChat access_token, shared by every process and job: read while
//! valid, refreshed by one caller at a time under a lease (a conditional update, so two
//! processes never both hold it), sealed at rest like the tenant's other secrets.

use crate::schema::wx_tokens as t;
use crate::{now, DbConn, Result, SecretBox};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use patron_domain::TenantId;

const COLUMN: &str = "wx_tokens.token_enc";

/// The stored token and when it expires (UTC).
pub fn load(
    conn: &mut DbConn,
    secrets: &SecretBox,
    tenant: TenantId,
) -> Result<Option<(String, NaiveDateTime)>> {
    let row: Option<(Option<String>, Option<NaiveDateTime>)> = t::table
        .find(tenant.0)
        .select((t::token_enc, t::expires_at))
        .load(conn)?
        .pop();
    match row {
        Some((Some(enc), Some(exp))) => Ok(Some((secrets.decrypt(COLUMN, &enc)?, exp))),
        _ => Ok(None),
    }
}

/// Takes the refresh lease for `lease` unless another caller holds an unexpired one.
pub fn try_lease(conn: &mut DbConn, tenant: TenantId, lease: TimeDelta) -> Result<bool> {
    let at = now();
    let row = (
        t::tenant_id.eq(tenant.0),
        t::refreshes.eq(0i64),
        t::updated_at.eq(at),
    );
    match conn {
        DbConn::Postgres(pg) => diesel::insert_into(t::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::insert_into(t::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(lite)?,
    };
    let n = diesel::update(
        t::table
            .find(tenant.0)
            .filter(t::lease_until.is_null().or(t::lease_until.lt(at))),
    )
    .set((t::lease_until.eq(Some(at + lease)), t::updated_at.eq(at)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Stores a fresh token and gives the lease back.
pub fn save(
    conn: &mut DbConn,
    secrets: &SecretBox,
    tenant: TenantId,
    token: &str,
    expires_at: NaiveDateTime,
) -> Result<()> {
    diesel::update(t::table.find(tenant.0))
        .set((
            t::token_enc.eq(Some(secrets.encrypt(COLUMN, token))),
            t::expires_at.eq(Some(expires_at)),
            t::lease_until.eq(None::<NaiveDateTime>),
            t::refreshes.eq(t::refreshes + 1),
            t::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives the lease back without a token.
pub fn release(conn: &mut DbConn, tenant: TenantId) -> Result<()> {
    diesel::update(t::table.find(tenant.0))
        .set(t::lease_until.eq(None::<NaiveDateTime>))
        .execute(conn)?;
    Ok(())
}

/// Forgets the stored token if it is `rejected`.
pub fn forget(
    conn: &mut DbConn,
    secrets: &SecretBox,
    tenant: TenantId,
    rejected: &str,
) -> Result<()> {
    let stored: Option<Option<String>> = t::table
        .find(tenant.0)
        .select(t::token_enc)
        .load(conn)?
        .pop();
    if let Some(Some(enc)) = stored {
        if secrets.decrypt(COLUMN, &enc)? == rejected {
            diesel::update(t::table.find(tenant.0).filter(t::token_enc.eq(&enc)))
                .set((
                    t::token_enc.eq(None::<String>),
                    t::expires_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// How many times the tenant's token was refreshed (tests and the operations page).
pub fn refreshes(conn: &mut DbConn, tenant: TenantId) -> Result<i64> {
    Ok(t::table
        .find(tenant.0)
        .select(t::refreshes)
        .load(conn)?
        .pop()
        .unwrap_or(0))
}
