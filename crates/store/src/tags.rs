//! Local follower tags: create, list with counts, delete, put on and take off in bulk.

use crate::schema::{follower_tags as ft, followers, tags};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub wx_tag_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// WeChat's limit for tag names, kept locally so every tag can be synced.
pub const MAX_NAME_BYTES: usize = 30;

pub fn create(conn: &mut DbConn, scope: &TenantScope, name: &str) -> Result<Tag> {
    let name = validate::name("tag", name)?;
    if name.len() > MAX_NAME_BYTES {
        return Err(validate::invalid("tag", "tag_too_long").into());
    }
    let id: i64 = diesel::insert_into(tags::table)
        .values((
            tags::tenant_id.eq(scope.tenant_id().0),
            tags::name.eq(&name),
            tags::created_at.eq(now()),
        ))
        .returning(tags::id)
        .get_result(conn)
        .map_err(|e| StoreError::from(e).conflict_as("tag_taken"))?;
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Tag> {
    Ok(tags::table
        .filter(tags::id.eq(id))
        .filter(tags::tenant_id.eq(scope.tenant_id().0))
        .select(Tag::as_select())
        .first(conn)?)
}

/// The tenant's tags by name, each with how many followers carry it.
pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<(Tag, i64)>> {
    let all: Vec<Tag> = tags::table
        .filter(tags::tenant_id.eq(scope.tenant_id().0))
        .order(tags::name.asc())
        .select(Tag::as_select())
        .load(conn)?;
    let counts: Vec<(i64, i64)> = ft::table
        .filter(ft::tenant_id.eq(scope.tenant_id().0))
        .group_by(ft::tag_id)
        .select((ft::tag_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(all
        .into_iter()
        .map(|t| {
            let n = counts
                .iter()
                .find(|(id, _)| *id == t.id)
                .map(|c| c.1)
                .unwrap_or(0);
            (t, n)
        })
        .collect())
}

pub fn delete(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    write_tx(conn, |c| {
        get(c, scope, id)?;
        diesel::delete(ft::table.filter(ft::tag_id.eq(id))).execute(c)?;
        diesel::delete(tags::table.filter(tags::id.eq(id))).execute(c)?;
        Ok(())
    })
}

/// Puts the tag on (`on`) or takes it off the given followers; ids of other tenants'
/// followers are ignored. Returns how many followers changed.
pub fn apply(
    conn: &mut DbConn,
    scope: &TenantScope,
    tag_id: i64,
    follower_ids: &[i64],
    on: bool,
) -> Result<usize> {
    write_tx(conn, |c| {
        get(c, scope, tag_id)?;
        let mine: Vec<i64> = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::id.eq_any(follower_ids))
            .select(followers::id)
            .load(c)?;
        if !on {
            return Ok(diesel::delete(
                ft::table
                    .filter(ft::tag_id.eq(tag_id))
                    .filter(ft::follower_id.eq_any(&mine)),
            )
            .execute(c)?);
        }
        let have: Vec<i64> = ft::table
            .filter(ft::tag_id.eq(tag_id))
            .filter(ft::follower_id.eq_any(&mine))
            .select(ft::follower_id)
            .load(c)?;
        let t = now();
        let mut n = 0;
        for id in mine.iter().filter(|id| !have.contains(id)) {
            n += diesel::insert_into(ft::table)
                .values((
                    ft::tenant_id.eq(scope.tenant_id().0),
                    ft::tag_id.eq(tag_id),
                    ft::follower_id.eq(id),
                    ft::created_at.eq(t),
                ))
                .execute(c)?;
        }
        Ok(n)
    })
}

/// The tags a follower carries.
pub fn of_follower(conn: &mut DbConn, scope: &TenantScope, follower_id: i64) -> Result<Vec<Tag>> {
    Ok(tags::table
        .inner_join(ft::table.on(ft::tag_id.eq(tags::id)))
        .filter(tags::tenant_id.eq(scope.tenant_id().0))
        .filter(ft::follower_id.eq(follower_id))
        .order(tags::name.asc())
        .select(Tag::as_select())
        .load(conn)?)
}
