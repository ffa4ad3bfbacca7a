//! Local follower tags: create, list with counts, delete, put on and take off in bulk.

use crate::schema::{follower_tags as ft, followers, tags};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
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
    if name.contains(';') {
        // `;` separates tags in the followers CSV.
        return Err(validate::invalid("tag", "invalid_tag").into());
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
        apply_in_tx(c, scope, tag_id, follower_ids, on)
    })
}

/// Like [`apply`], for every follower the filter matches (all pages, not just one), in one
/// transaction: either the whole result is tagged or nothing is.
pub fn apply_filter(
    conn: &mut DbConn,
    scope: &TenantScope,
    tag_id: i64,
    filter: &crate::followers::Filter,
    on: bool,
) -> Result<usize> {
    write_tx(conn, |c| {
        get(c, scope, tag_id)?;
        let mut before = None;
        let mut n = 0;
        loop {
            let ids = crate::followers::ids_page(c, scope, filter, before, 1000)?;
            let Some(last) = ids.last().copied() else {
                return Ok(n);
            };
            n += apply_in_tx(c, scope, tag_id, &ids, on)?;
            before = Some(last);
        }
    })
}

fn apply_in_tx(
    c: &mut DbConn,
    scope: &TenantScope,
    tag_id: i64,
    follower_ids: &[i64],
    on: bool,
) -> Result<usize> {
    let mut n = 0;
    for chunk in follower_ids.chunks(1000) {
        let mine: Vec<i64> = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::id.eq_any(chunk))
            .select(followers::id)
            .load(c)?;
        if !on {
            n += diesel::delete(
                ft::table
                    .filter(ft::tag_id.eq(tag_id))
                    .filter(ft::follower_id.eq_any(&mine)),
            )
            .execute(c)?;
            continue;
        }
        let have: std::collections::HashSet<i64> = ft::table
            .filter(ft::tag_id.eq(tag_id))
            .filter(ft::follower_id.eq_any(&mine))
            .select(ft::follower_id)
            .load::<i64>(c)?
            .into_iter()
            .collect();
        let t = now();
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
    }
    Ok(n)
}

/// Makes `names` the follower's exact set of tags, creating tags that do not exist yet.
/// `known` caches name → id across calls (imports set tags on many followers).
pub fn set_for_follower(
    c: &mut DbConn,
    scope: &TenantScope,
    follower_id: i64,
    names: &[String],
    known: &mut std::collections::HashMap<String, i64>,
) -> Result<()> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id = match known.get(name) {
            Some(id) => *id,
            None => {
                let found: Option<i64> = tags::table
                    .filter(tags::tenant_id.eq(scope.tenant_id().0))
                    .filter(tags::name.eq(name))
                    .select(tags::id)
                    .first(c)
                    .optional()?;
                let id = match found {
                    Some(id) => id,
                    None => create(c, scope, name)?.id,
                };
                known.insert(name.clone(), id);
                id
            }
        };
        ids.push(id);
    }
    let tenant = scope.tenant_id().0;
    diesel::delete(
        ft::table
            .filter(ft::tenant_id.eq(tenant))
            .filter(ft::follower_id.eq(follower_id))
            .filter(ft::tag_id.ne_all(&ids)),
    )
    .execute(c)?;
    let have: Vec<i64> = ft::table
        .filter(ft::tenant_id.eq(tenant))
        .filter(ft::follower_id.eq(follower_id))
        .select(ft::tag_id)
        .load(c)?;
    let t = now();
    for id in ids.iter().filter(|id| !have.contains(id)) {
        diesel::insert_into(ft::table)
            .values((
                ft::tenant_id.eq(scope.tenant_id().0),
                ft::tag_id.eq(id),
                ft::follower_id.eq(follower_id),
                ft::created_at.eq(t),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The names of each follower's tags, for exports.
pub fn names_of(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = ft::table
        .inner_join(tags::table.on(tags::id.eq(ft::tag_id)))
        .filter(ft::tenant_id.eq(scope.tenant_id().0))
        .filter(ft::follower_id.eq_any(follower_ids))
        .order((ft::follower_id, tags::name))
        .select((ft::follower_id, tags::name))
        .load(conn)?;
    let mut out: std::collections::HashMap<i64, Vec<String>> = Default::default();
    for (f, n) in rows {
        out.entry(f).or_default().push(n);
    }
    Ok(out)
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

/// Links a local tag to WeChat's tag id (or unlinks it).
pub fn link_wechat(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    wx_tag_id: Option<i64>,
) -> Result<()> {
    let n = diesel::update(
        tags::table
            .filter(tags::id.eq(id))
            .filter(tags::tenant_id.eq(scope.tenant_id().0)),
    )
    .set(tags::wx_tag_id.eq(wx_tag_id))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Creates (or finds by name and links) the local tag for a WeChat tag and gives it these
/// members; OpenIDs Patron does not know are skipped.
pub fn import_wechat(
    conn: &mut DbConn,
    scope: &TenantScope,
    wx_tag_id: i64,
    name: &str,
    openids: &[String],
) -> Result<Tag> {
    write_tx(conn, |c| {
        let existing: Option<i64> = tags::table
            .filter(tags::tenant_id.eq(scope.tenant_id().0))
            .filter(tags::name.eq(name))
            .select(tags::id)
            .first(c)
            .optional()?;
        let id = match existing {
            Some(id) => id,
            None => diesel::insert_into(tags::table)
                .values((
                    tags::tenant_id.eq(scope.tenant_id().0),
                    tags::name.eq(name),
                    tags::created_at.eq(now()),
                ))
                .returning(tags::id)
                .get_result(c)?,
        };
        link_wechat(c, scope, id, Some(wx_tag_id))?;
        for chunk in openids.chunks(1000) {
            let ids: Vec<i64> = followers::table
                .filter(followers::tenant_id.eq(scope.tenant_id().0))
                .filter(followers::openid.eq_any(chunk))
                .select(followers::id)
                .load(c)?;
            apply_in_tx(c, scope, id, &ids, true)?;
        }
        get(c, scope, id)
    })
}

/// The OpenIDs of a tag's subscribed followers (WeChat tags only those).
pub fn member_openids(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Vec<String>> {
    Ok(ft::table
        .inner_join(followers::table.on(followers::id.eq(ft::follower_id)))
        .filter(ft::tenant_id.eq(scope.tenant_id().0))
        .filter(ft::tag_id.eq(id))
        .filter(followers::subscribed.eq(true))
        .select(followers::openid)
        .load(conn)?)
}
