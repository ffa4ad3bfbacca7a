//! Invitations: an emailed, single-use link that creates an account (or adds a role to an
//! existing one) when accepted.

use crate::schema::invitations as inv;
use crate::users::{self, User};
use crate::{now, tokens, DbConn, Result, StoreError};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use patron_domain::{
    AgencyId, AgencyScope, InvitationId, Role, StoreId, TenantId, TenantScope, UserId,
};
use serde::Serialize;

pub const TTL_DAYS: i64 = 7;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = inv)]
pub struct Invitation {
    pub id: i64,
    pub agency_id: i64,
    pub tenant_id: Option<i64>,
    pub email: String,
    pub role: String,
    pub store_ids: String,
    pub invited_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl Invitation {
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }
    pub fn stores(&self) -> Vec<StoreId> {
        self.store_ids
            .split(',')
            .filter_map(|s| s.parse().ok())
            .map(StoreId)
            .collect()
    }
}

fn insert(
    conn: &mut DbConn,
    agency: AgencyId,
    tenant: Option<TenantId>,
    email: &str,
    role: Role,
    stores: &[StoreId],
    invited_by: Option<UserId>,
) -> Result<(Invitation, String)> {
    let (plain, hash) = tokens::generate("");
    let t = now();
    let store_ids = stores
        .iter()
        .map(|s| s.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let id: i64 = diesel::insert_into(inv::table)
        .values((
            inv::agency_id.eq(agency.0),
            inv::tenant_id.eq(tenant.map(|t| t.0)),
            inv::email.eq(email),
            inv::role.eq(role.as_str()),
            inv::store_ids.eq(store_ids),
            inv::token_hash.eq(hash),
            inv::invited_by.eq(invited_by.map(|u| u.0)),
            inv::created_at.eq(t),
            inv::expires_at.eq(t + TimeDelta::days(TTL_DAYS)),
        ))
        .returning(inv::id)
        .get_result(conn)?;
    let row = inv::table
        .find(id)
        .select(Invitation::as_select())
        .first(conn)?;
    Ok((row, plain))
}

/// Invites someone into a tenant. `email` must be validated, `stores` checked.
pub fn create_for_tenant(
    conn: &mut DbConn,
    scope: &TenantScope,
    email: &str,
    role: Role,
    stores: &[StoreId],
    invited_by: Option<UserId>,
) -> Result<(Invitation, String)> {
    if !role.is_tenant_role() {
        return Err(patron_domain::validate::invalid("role", "invalid_choice").into());
    }
    insert(
        conn,
        scope.agency_id(),
        Some(scope.tenant_id()),
        email,
        role,
        stores,
        invited_by,
    )
}

/// Invites another agency administrator.
pub fn create_for_agency(
    conn: &mut DbConn,
    scope: &AgencyScope,
    email: &str,
    invited_by: Option<UserId>,
) -> Result<(Invitation, String)> {
    insert(
        conn,
        scope.agency_id(),
        None,
        email,
        Role::AgencyAdmin,
        &[],
        invited_by,
    )
}

/// A live invitation by its link token.
pub fn find_open(conn: &mut DbConn, plain: &str) -> Result<Invitation> {
    Ok(inv::table
        .filter(inv::token_hash.eq(tokens::hash(plain)))
        .filter(inv::accepted_at.is_null())
        .filter(inv::revoked_at.is_null())
        .filter(inv::expires_at.gt(now()))
        .select(Invitation::as_select())
        .first(conn)?)
}

/// What accepting needs from a newcomer; an existing user supplies nothing.
pub enum Acceptor<'a> {
    NewUser {
        name: &'a str,
        password_hash: &'a str,
        locale: Option<&'a str>,
    },
    Existing(UserId),
}

/// Accepts an invitation exactly once: marks it used and grants the role, in one transaction.
pub fn accept(conn: &mut DbConn, plain: &str, who: Acceptor<'_>) -> Result<User> {
    crate::write_tx(conn, |conn| {
        let i = find_open(conn, plain)?;
        let n = diesel::update(inv::table.find(i.id).filter(inv::accepted_at.is_null()))
            .set(inv::accepted_at.eq(now()))
            .execute(conn)?;
        if n != 1 {
            return Err(StoreError::NotFound);
        }
        let user = match who {
            Acceptor::NewUser {
                name,
                password_hash,
                locale,
            } => users::create(conn, &i.email, name, password_hash, locale)?,
            Acceptor::Existing(id) => {
                let u = users::by_id(conn, id)?;
                if u.email != i.email {
                    return Err(StoreError::NotFound);
                }
                u
            }
        };
        let role = i.role().ok_or(StoreError::NotFound)?;
        users::add_membership(
            conn,
            user.id(),
            AgencyId(i.agency_id),
            i.tenant_id.map(TenantId),
            role,
            &i.stores(),
        )?;
        Ok(user)
    })
}

pub fn list_open_for_tenant(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Invitation>> {
    Ok(inv::table
        .filter(inv::tenant_id.eq(scope.tenant_id().0))
        .filter(inv::accepted_at.is_null())
        .filter(inv::revoked_at.is_null())
        .filter(inv::expires_at.gt(now()))
        .order(inv::created_at.desc())
        .select(Invitation::as_select())
        .load(conn)?)
}

pub fn revoke_for_tenant(conn: &mut DbConn, scope: &TenantScope, id: InvitationId) -> Result<()> {
    let n = diesel::update(
        inv::table
            .filter(inv::id.eq(id.0))
            .filter(inv::tenant_id.eq(scope.tenant_id().0))
            .filter(inv::accepted_at.is_null())
            .filter(inv::revoked_at.is_null()),
    )
    .set(inv::revoked_at.eq(now()))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
