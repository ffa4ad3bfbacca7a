//! Per-tenant API tokens: shown once, stored hashed, revocable.

use crate::schema::{api_tokens, tenants};
use crate::{now, tokens, DbConn, Result, StoreError};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use patron_domain::validate;
use patron_domain::{ApiTokenId, Principal, TenantId, TenantScope, UserId};
use serde::Serialize;

pub const PREFIX: &str = "pat_";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub token_prefix: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// Creates a token; returns it and the plaintext, which is never stored.
pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    name: &str,
    created_by: Option<UserId>,
) -> Result<(ApiToken, String)> {
    let name = validate::name("name", name)?;
    let (plain, hash) = tokens::generate(PREFIX);
    let id: i64 = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::tenant_id.eq(scope.tenant_id().0),
            api_tokens::name.eq(&name),
            api_tokens::token_hash.eq(hash),
            api_tokens::token_prefix.eq(&plain[..PREFIX.len() + 6]),
            api_tokens::created_by.eq(created_by.map(|u| u.0)),
            api_tokens::created_at.eq(now()),
        ))
        .returning(api_tokens::id)
        .get_result(conn)?;
    Ok((get(conn, scope, ApiTokenId(id))?, plain))
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: ApiTokenId) -> Result<ApiToken> {
    Ok(api_tokens::table
        .filter(api_tokens::id.eq(id.0))
        .filter(api_tokens::tenant_id.eq(scope.tenant_id().0))
        .select(ApiToken::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<ApiToken>> {
    Ok(api_tokens::table
        .filter(api_tokens::tenant_id.eq(scope.tenant_id().0))
        .order(api_tokens::created_at.desc())
        .select(ApiToken::as_select())
        .load(conn)?)
}

pub fn revoke(conn: &mut DbConn, scope: &TenantScope, id: ApiTokenId) -> Result<()> {
    crate::write_tx(conn, |conn| {
        let n = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(id.0))
                .filter(api_tokens::tenant_id.eq(scope.tenant_id().0))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(now()))
        .execute(conn)?;
        if n == 0 {
            // Unknown, foreign or already revoked: all look the same from outside.
            return Err(StoreError::NotFound);
        }
        // Processes cache live tokens: every one drops them at its next poll.
        crate::cache_epoch::bump(conn)
    })
}

/// The principal behind a bearer token, if it is live.
pub fn authenticate(conn: &mut DbConn, plain: &str) -> Result<Option<Principal>> {
    if !plain.starts_with(PREFIX) {
        return Ok(None);
    }
    let found: Option<(i64, i64, Option<NaiveDateTime>)> = api_tokens::table
        .inner_join(tenants::table)
        .filter(api_tokens::token_hash.eq(tokens::hash(plain)))
        .filter(api_tokens::revoked_at.is_null())
        .select((
            api_tokens::id,
            api_tokens::tenant_id,
            api_tokens::last_used_at,
        ))
        .first(conn)
        .optional()?;
    let Some((id, tenant, last_used)) = found else {
        return Ok(None);
    };
    let t = now();
    if last_used.is_none_or(|l| t - l > TimeDelta::minutes(1)) {
        diesel::update(api_tokens::table.find(id))
            .set(api_tokens::last_used_at.eq(t))
            .execute(conn)?;
    }
    Ok(Some(Principal::ApiToken {
        token_id: ApiTokenId(id),
        tenant_id: TenantId(tenant),
    }))
}
