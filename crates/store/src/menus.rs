//! Each tenant's custom menu as edited (JSON), and the outcome of its last publication.

use crate::schema::menus as m;
use crate::{now, DbConn, Result};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::TenantScope;
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = m)]
pub struct MenuRow {
    pub tenant_id: i64,
    /// JSON of `patron_domain::menu::Menu`.
    pub body: String,
    pub published_at: Option<NaiveDateTime>,
    pub publish_error: Option<String>,
    pub updated_at: NaiveDateTime,
}

pub fn get(conn: &mut DbConn, scope: &TenantScope) -> Result<Option<MenuRow>> {
    Ok(m::table
        .filter(m::tenant_id.eq(scope.tenant_id().0))
        .select(MenuRow::as_select())
        .first(conn)
        .optional()?)
}

/// Saves the edited menu (not yet published).
pub fn save(conn: &mut DbConn, scope: &TenantScope, body: &str) -> Result<()> {
    let t = now();
    let n = diesel::update(m::table.filter(m::tenant_id.eq(scope.tenant_id().0)))
        .set((m::body.eq(body), m::updated_at.eq(t)))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(m::table)
            .values((
                m::tenant_id.eq(scope.tenant_id().0),
                m::body.eq(body),
                m::updated_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records the outcome of publishing: `Ok` sets the time, `Err` keeps WeChat's message.
pub fn published(
    conn: &mut DbConn,
    scope: &TenantScope,
    outcome: std::result::Result<(), String>,
) -> Result<()> {
    let (at, err) = match outcome {
        Ok(()) => (Some(now()), None),
        Err(e) => (None, Some(e)),
    };
    let q = diesel::update(m::table.filter(m::tenant_id.eq(scope.tenant_id().0)));
    match at {
        Some(at) => q
            .set((
                m::published_at.eq(Some(at)),
                m::publish_error.eq(None::<String>),
            ))
            .execute(conn)?,
        None => q.set(m::publish_error.eq(err)).execute(conn)?,
    };
    Ok(())
}
