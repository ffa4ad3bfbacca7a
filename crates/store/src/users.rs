//! Users and their memberships (roles on agencies and tenants, stores for cashiers).

use crate::schema::{membership_stores, memberships, users};
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::{AgencyId, AgencyScope, Grant, Role, StoreId, TenantId, TenantScope, UserId};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub locale: Option<String>,
    pub created_at: NaiveDateTime,
    pub password_changed_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
}

impl User {
    pub fn id(&self) -> UserId {
        UserId(self.id)
    }
}

/// Creates a user. `email` and `name` must already be validated.
pub fn create(
    conn: &mut DbConn,
    email: &str,
    name: &str,
    password_hash: &str,
    locale: Option<&str>,
) -> Result<User> {
    let t = now();
    let id: i64 = diesel::insert_into(users::table)
        .values((
            users::email.eq(email),
            users::name.eq(name),
            users::password_hash.eq(password_hash),
            users::locale.eq(locale),
            users::created_at.eq(t),
            users::password_changed_at.eq(t),
        ))
        .returning(users::id)
        .get_result(conn)
        .map_err(|e| StoreError::from(e).conflict_as("email_taken"))?;
    by_id(conn, UserId(id))
}

pub fn by_id(conn: &mut DbConn, id: UserId) -> Result<User> {
    Ok(users::table
        .find(id.0)
        .select(User::as_select())
        .first(conn)?)
}

pub fn by_email(conn: &mut DbConn, email: &str) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn count(conn: &mut DbConn) -> Result<i64> {
    Ok(users::table.count().get_result(conn)?)
}

pub fn set_password(conn: &mut DbConn, id: UserId, hash: &str) -> Result<()> {
    diesel::update(users::table.find(id.0))
        .set((
            users::password_hash.eq(hash),
            users::password_changed_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn set_locale(conn: &mut DbConn, id: UserId, locale: Option<&str>) -> Result<()> {
    diesel::update(users::table.find(id.0))
        .set(users::locale.eq(locale))
        .execute(conn)?;
    Ok(())
}

/// Everything the user may do, for `patron_domain::authz`.
pub fn grants(conn: &mut DbConn, user: UserId) -> Result<Vec<Grant>> {
    let rows: Vec<(i64, i64, Option<i64>, String)> = memberships::table
        .filter(memberships::user_id.eq(user.0))
        .select((
            memberships::id,
            memberships::agency_id,
            memberships::tenant_id,
            memberships::role,
        ))
        .load(conn)?;
    let stores = stores_of(conn, rows.iter().map(|r| r.0).collect())?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, agency, tenant, role)| {
            Some(Grant {
                role: Role::parse(&role)?,
                agency_id: AgencyId(agency),
                tenant_id: tenant.map(TenantId),
                store_ids: stores
                    .iter()
                    .filter(|(m, _)| *m == id)
                    .map(|(_, s)| StoreId(*s))
                    .collect(),
            })
        })
        .collect())
}

/// (membership id, store id) pairs of these memberships.
fn stores_of(conn: &mut DbConn, memberships: Vec<i64>) -> Result<Vec<(i64, i64)>> {
    Ok(membership_stores::table
        .filter(membership_stores::membership_id.eq_any(&memberships))
        .select((
            membership_stores::membership_id,
            membership_stores::store_id,
        ))
        .load(conn)?)
}

/// Grants `role` to a user. Agency roles have no tenant; tenant roles must name one.
/// Store ids must already be checked to belong to the tenant.
pub fn add_membership(
    conn: &mut DbConn,
    user: UserId,
    agency: AgencyId,
    tenant: Option<TenantId>,
    role: Role,
    stores: &[StoreId],
) -> Result<i64> {
    if role.is_tenant_role() != tenant.is_some() {
        return Err(patron_domain::validate::invalid("role", "invalid_choice").into());
    }
    let held: Vec<Option<i64>> = memberships::table
        .filter(memberships::user_id.eq(user.0))
        .filter(memberships::agency_id.eq(agency.0))
        .select(memberships::tenant_id)
        .load(conn)?;
    if held.contains(&tenant.map(|t| t.0)) {
        return Err(StoreError::Conflict("already_member"));
    }
    let id: i64 = diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user.0),
            memberships::agency_id.eq(agency.0),
            memberships::tenant_id.eq(tenant.map(|t| t.0)),
            memberships::role.eq(role.as_str()),
            memberships::created_at.eq(now()),
        ))
        .returning(memberships::id)
        .get_result(conn)?;
    for s in stores {
        diesel::insert_into(membership_stores::table)
            .values((
                membership_stores::membership_id.eq(id),
                membership_stores::store_id.eq(s.0),
            ))
            .execute(conn)?;
    }
    Ok(id)
}

/// A user as seen from one tenant's user list.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub user: User,
    pub role: String,
    pub store_ids: Vec<i64>,
}

/// The tenant's own members (agency admins are listed on the agency page).
pub fn tenant_members(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Member>> {
    let rows: Vec<(i64, String, User)> = memberships::table
        .inner_join(users::table)
        .filter(memberships::tenant_id.eq(scope.tenant_id().0))
        .order(users::name.asc())
        .select((memberships::id, memberships::role, User::as_select()))
        .load(conn)?;
    let stores = stores_of(conn, rows.iter().map(|r| r.0).collect())?;
    Ok(rows
        .into_iter()
        .map(|(mid, role, user)| Member {
            user,
            role,
            store_ids: stores
                .iter()
                .filter(|(m, _)| *m == mid)
                .map(|(_, s)| *s)
                .collect(),
        })
        .collect())
}

pub fn tenant_member(conn: &mut DbConn, scope: &TenantScope, user: UserId) -> Result<Member> {
    tenant_members(conn, scope)?
        .into_iter()
        .find(|m| m.user.id == user.0)
        .ok_or(StoreError::NotFound)
}

/// Removes a user's role in this tenant (the user account itself stays).
pub fn remove_from_tenant(conn: &mut DbConn, scope: &TenantScope, user: UserId) -> Result<()> {
    crate::write_tx(conn, |conn| {
        let ids: Vec<i64> = memberships::table
            .filter(memberships::tenant_id.eq(scope.tenant_id().0))
            .filter(memberships::user_id.eq(user.0))
            .select(memberships::id)
            .load(conn)?;
        if ids.is_empty() {
            return Err(StoreError::NotFound);
        }
        diesel::delete(
            membership_stores::table.filter(membership_stores::membership_id.eq_any(&ids)),
        )
        .execute(conn)?;
        diesel::delete(memberships::table.filter(memberships::id.eq_any(&ids))).execute(conn)?;
        Ok(())
    })
}

/// How many people work on the tenant: its members and the agency's administrators (who
/// reach every tenant of the agency without a membership of their own).
pub fn people_count(conn: &mut DbConn, scope: &TenantScope) -> Result<i64> {
    let ids: Vec<i64> = memberships::table
        .filter(
            memberships::tenant_id
                .eq(scope.tenant_id().0)
                .or(memberships::agency_id
                    .eq(scope.agency_id().0)
                    .and(memberships::tenant_id.is_null())
                    .and(memberships::role.eq(Role::AgencyAdmin.as_str()))),
        )
        .select(memberships::user_id)
        .load(conn)?;
    // One person with a membership here and an agency admin role counts once.
    Ok(ids
        .into_iter()
        .collect::<std::collections::HashSet<_>>()
        .len() as i64)
}

/// The agency's administrators.
pub fn agency_admins(conn: &mut DbConn, scope: &AgencyScope) -> Result<Vec<User>> {
    Ok(memberships::table
        .inner_join(users::table)
        .filter(memberships::agency_id.eq(scope.agency_id().0))
        .filter(memberships::role.eq(Role::AgencyAdmin.as_str()))
        .order(users::name.asc())
        .select(User::as_select())
        .load(conn)?)
}
