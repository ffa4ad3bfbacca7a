//! A tenant's physical stores (where cashiers work).

use crate::schema::stores;
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::validate;
use patron_domain::{StoreId, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = stores)]
pub struct Store {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub address: String,
    pub created_at: NaiveDateTime,
}

pub fn create(conn: &mut DbConn, scope: &TenantScope, name: &str, address: &str) -> Result<Store> {
    let name = validate::name("name", name)?;
    let address = address.trim().to_string();
    if address.chars().count() > 300 {
        return Err(validate::invalid("address", "too_long").into());
    }
    let id: i64 = diesel::insert_into(stores::table)
        .values((
            stores::tenant_id.eq(scope.tenant_id().0),
            stores::name.eq(&name),
            stores::address.eq(&address),
            stores::created_at.eq(now()),
        ))
        .returning(stores::id)
        .get_result(conn)
        .map_err(|e| StoreError::from(e).conflict_as("store_name_taken"))?;
    get(conn, scope, StoreId(id))
}

pub fn update(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: StoreId,
    name: &str,
    address: &str,
) -> Result<Store> {
    let name = validate::name("name", name)?;
    let n = diesel::update(
        stores::table.filter(
            stores::id
                .eq(id.0)
                .and(stores::tenant_id.eq(scope.tenant_id().0)),
        ),
    )
    .set((stores::name.eq(&name), stores::address.eq(address.trim())))
    .execute(conn)
    .map_err(|e| StoreError::from(e).conflict_as("store_name_taken"))?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: StoreId) -> Result<Store> {
    Ok(stores::table
        .filter(
            stores::id
                .eq(id.0)
                .and(stores::tenant_id.eq(scope.tenant_id().0)),
        )
        .select(Store::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Store>> {
    Ok(stores::table
        .filter(stores::tenant_id.eq(scope.tenant_id().0))
        .order(stores::name.asc())
        .select(Store::as_select())
        .load(conn)?)
}

/// Fails with NotFound unless every id names a store of this tenant.
pub fn check_all_in_tenant(conn: &mut DbConn, scope: &TenantScope, ids: &[StoreId]) -> Result<()> {
    let raw: Vec<i64> = ids.iter().map(|s| s.0).collect();
    let n: i64 = stores::table
        .filter(
            stores::tenant_id
                .eq(scope.tenant_id().0)
                .and(stores::id.eq_any(&raw)),
        )
        .count()
        .get_result(conn)?;
    let mut unique = raw.clone();
    unique.sort_unstable();
    unique.dedup();
    if n as usize == unique.len() {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}
