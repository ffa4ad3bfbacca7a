//! Saved segments: a named followers filter. Nothing about the members is stored, so a
//! segment evaluated again (opened, exported, issued to) always reflects today's data.

use crate::followers::Filter;
use crate::schema::segments as s;
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = s)]
pub struct Segment {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    /// The filter as a query string (see [`Filter::query`]).
    pub filter: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Segment {
    pub fn filter(&self) -> Filter {
        let mut f: Filter = serde_urlencoded::from_str(&self.filter).unwrap_or_default();
        f.segment = Some(self.id);
        f.before = None;
        f
    }
}

/// Saves `filter` under `name`; the filter is checked by evaluating it once.
pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    name: &str,
    filter: &Filter,
) -> Result<Segment> {
    let name = validate::name("name", name)?;
    let mut f = filter.clone();
    f.segment = None;
    crate::followers::ids_page(conn, scope, &f, None, 1)?;
    let t = now();
    let id: i64 = diesel::insert_into(s::table)
        .values((
            s::tenant_id.eq(scope.tenant_id().0),
            s::name.eq(&name),
            s::filter.eq(f.query()),
            s::created_at.eq(t),
            s::updated_at.eq(t),
        ))
        .returning(s::id)
        .get_result(conn)
        .map_err(|e| StoreError::from(e).conflict_as("segment_taken"))?;
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Segment> {
    Ok(s::table
        .filter(s::id.eq(id))
        .filter(s::tenant_id.eq(scope.tenant_id().0))
        .select(Segment::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Segment>> {
    Ok(s::table
        .filter(s::tenant_id.eq(scope.tenant_id().0))
        .order(s::name.asc())
        .select(Segment::as_select())
        .load(conn)?)
}

pub fn delete(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    let n = diesel::delete(
        s::table
            .filter(s::id.eq(id))
            .filter(s::tenant_id.eq(scope.tenant_id().0)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
