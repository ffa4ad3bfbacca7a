//! Parametric QR codes: the tenant's codes (created through WeChat's API by the web layer),
//! their scan and follow counts, and the tag a scan puts on the follower.

use crate::schema::{follower_tags as ft, qr_codes as q};
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = q)]
pub struct QrCode {
    pub id: i64,
    pub tenant_id: i64,
    pub scene: String,
    pub label: String,
    pub permanent: bool,
    pub ticket: String,
    /// What the QR image encodes (WeChat's `url`).
    pub url: String,
    pub expires_at: Option<NaiveDateTime>,
    pub scans: i64,
    pub follows: i64,
    pub tag_id: Option<i64>,
    pub created_at: NaiveDateTime,
    /// A campaign whose coupon a scan issues to the follower.
    pub campaign_id: Option<i64>,
}

impl QrCode {
    pub fn expired(&self, at: NaiveDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= at)
    }
}

/// WeChat's cap on permanent codes per account.
pub const MAX_PERMANENT: i64 = 100_000;

/// A scene string as WeChat takes it: 1 to 64 visible ASCII characters.
pub fn scene(s: &str) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(validate::invalid("scene", "invalid_scene").into());
    }
    Ok(s.to_string())
}

/// Checks a new code before WeChat is asked for it: a valid, unused scene and room under
/// the permanent cap.
pub fn check_new(
    conn: &mut DbConn,
    scope: &TenantScope,
    scene_str: &str,
    permanent: bool,
) -> Result<String> {
    let s = scene(scene_str)?;
    let taken: i64 = q::table
        .filter(q::tenant_id.eq(scope.tenant_id().0))
        .filter(q::scene.eq(&s))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(StoreError::Conflict("scene_taken"));
    }
    if permanent && count_permanent(conn, scope)? >= MAX_PERMANENT {
        return Err(validate::invalid("permanent", "permanent_cap").into());
    }
    Ok(s)
}

pub fn count_permanent(conn: &mut DbConn, scope: &TenantScope) -> Result<i64> {
    Ok(q::table
        .filter(q::tenant_id.eq(scope.tenant_id().0))
        .filter(q::permanent.eq(true))
        .count()
        .get_result(conn)?)
}

/// What WeChat answered for a new code.
pub struct Created<'a> {
    pub scene: &'a str,
    pub label: &'a str,
    pub permanent: bool,
    pub ticket: &'a str,
    pub url: &'a str,
    pub expires_at: Option<NaiveDateTime>,
    pub tag_id: Option<i64>,
}

pub fn insert(conn: &mut DbConn, scope: &TenantScope, c: &Created<'_>) -> Result<QrCode> {
    if let Some(tag) = c.tag_id {
        crate::tags::get(conn, scope, tag)?;
    }
    let label = if c.label.trim().is_empty() {
        c.scene.to_string()
    } else {
        validate::name("label", c.label)?
    };
    let id: i64 = diesel::insert_into(q::table)
        .values((
            q::tenant_id.eq(scope.tenant_id().0),
            q::scene.eq(c.scene),
            q::label.eq(label),
            q::permanent.eq(c.permanent),
            q::ticket.eq(c.ticket),
            q::url.eq(c.url),
            q::expires_at.eq(c.expires_at),
            q::scans.eq(0i64),
            q::follows.eq(0i64),
            q::tag_id.eq(c.tag_id),
            q::created_at.eq(now()),
        ))
        .returning(q::id)
        .get_result(conn)
        .map_err(|e| StoreError::from(e).conflict_as("scene_taken"))?;
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<QrCode> {
    Ok(q::table
        .filter(q::id.eq(id))
        .filter(q::tenant_id.eq(scope.tenant_id().0))
        .select(QrCode::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<QrCode>> {
    Ok(q::table
        .filter(q::tenant_id.eq(scope.tenant_id().0))
        .order(q::id.desc())
        .limit(500)
        .select(QrCode::as_select())
        .load(conn)?)
}

/// Sets (or clears) the tag a scan puts on the follower.
pub fn set_tag(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    tag: Option<i64>,
) -> Result<QrCode> {
    if let Some(t) = tag {
        crate::tags::get(conn, scope, t)?;
    }
    let n = diesel::update(
        q::table
            .filter(q::id.eq(id))
            .filter(q::tenant_id.eq(scope.tenant_id().0)),
    )
    .set(q::tag_id.eq(tag))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    get(conn, scope, id)
}

/// Sets (or clears) the campaign whose coupon a scan issues.
pub fn set_campaign(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    campaign: Option<i64>,
) -> Result<QrCode> {
    get(conn, scope, id)?;
    if let Some(c) = campaign {
        crate::coupons::get(conn, scope, c)?;
    }
    diesel::update(
        q::table
            .filter(q::id.eq(id))
            .filter(q::tenant_id.eq(scope.tenant_id().0)),
    )
    .set(q::campaign_id.eq(campaign))
    .execute(conn)?;
    get(conn, scope, id)
}

/// Counts a scan (and a follow) of the tenant's code with this scene, and puts the code's
/// tag on the follower. A scene that is not one of the tenant's codes changes nothing.
pub fn count_hit(
    conn: &mut DbConn,
    scope: &TenantScope,
    scene: &str,
    follow: bool,
    follower_id: i64,
) -> Result<Option<i64>> {
    let code: Option<(i64, Option<i64>, Option<i64>)> = q::table
        .filter(q::tenant_id.eq(scope.tenant_id().0))
        .filter(q::scene.eq(scene))
        .select((q::id, q::tag_id, q::campaign_id))
        .first(conn)
        .optional()?;
    let Some((id, tag, campaign)) = code else {
        return Ok(None);
    };
    diesel::update(
        q::table
            .filter(q::tenant_id.eq(scope.tenant_id().0))
            .filter(q::id.eq(id)),
    )
    .set((
        q::scans.eq(q::scans + 1),
        q::follows.eq(q::follows + if follow { 1 } else { 0 }),
    ))
    .execute(conn)?;
    if let Some(tag) = tag {
        let has: i64 = ft::table
            .filter(ft::tag_id.eq(tag))
            .filter(ft::follower_id.eq(follower_id))
            .count()
            .get_result(conn)?;
        if has == 0 {
            diesel::insert_into(ft::table)
                .values((
                    ft::tenant_id.eq(scope.tenant_id().0),
                    ft::tag_id.eq(tag),
                    ft::follower_id.eq(follower_id),
                    ft::created_at.eq(now()),
                ))
                .execute(conn)?;
        }
    }
    Ok(campaign)
}
