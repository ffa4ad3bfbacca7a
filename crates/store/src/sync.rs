//! Followers as WeChat reports them (`user/get` + `user/info/batchget`), merged into the
//! followers CRM by the follower-sync job.
//!
//! What WeChat knows wins for the subscription state, the subscribe time and the
//! unionid; first-touch attribution (`subscribe_scene`, `qr_scene`) and the remark are
//! only filled in where Patron has nothing yet, so the webhook's first-touch record and
//! what merchants typed are never overwritten. A row whose values already match is not
//! written at all, so a repeated sync changes nothing.

use crate::schema::followers;
use crate::{now, write_tx, DbConn, Result};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::TenantScope;
use std::collections::HashMap;

/// One follower as WeChat reports it (mapped from the API client's `UserInfo` by the
/// caller: the store does not know the WeChat crate).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WechatFollower {
    pub openid: String,
    pub unionid: Option<String>,
    pub subscribed: bool,
    /// `subscribe_time`, as naive UTC.
    pub subscribed_at: Option<NaiveDateTime>,
    pub subscribe_scene: Option<String>,
    /// `qr_scene_str`, or the numeric `qr_scene` as text; `None` when neither is set.
    pub qr_scene: Option<String>,
    /// WeChat's remark; `None` when empty.
    pub remark: Option<String>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

#[derive(Insertable)]
#[diesel(table_name = followers)]
struct NewFollower<'a> {
    tenant_id: i64,
    openid: &'a str,
    unionid: Option<&'a str>,
    subscribed: bool,
    subscribed_at: Option<NaiveDateTime>,
    subscribe_count: i64,
    subscribe_scene: Option<&'a str>,
    qr_scene: Option<&'a str>,
    remark: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

type Existing = (
    i64,
    Option<String>,
    bool,
    Option<NaiveDateTime>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Inserts the followers Patron does not know yet and updates the ones whose WeChat data
/// changed, in one write transaction per call (callers pass a batch, e.g. 100).
pub fn upsert_from_wechat(
    conn: &mut DbConn,
    scope: &TenantScope,
    batch: &[WechatFollower],
) -> Result<UpsertCounts> {
    let tenant = scope.tenant_id().0;
    let mut counts = UpsertCounts::default();
    if batch.is_empty() {
        return Ok(counts);
    }
    write_tx(conn, |conn| {
        let at = now();
        for chunk in batch.chunks(500) {
            let openids: Vec<&str> = chunk.iter().map(|f| f.openid.as_str()).collect();
            let existing: HashMap<String, Existing> = followers::table
                .filter(followers::tenant_id.eq(tenant))
                .filter(followers::openid.eq_any(&openids))
                .select((
                    followers::openid,
                    (
                        followers::id,
                        followers::unionid,
                        followers::subscribed,
                        followers::subscribed_at,
                        followers::subscribe_scene,
                        followers::qr_scene,
                        followers::remark,
                    ),
                ))
                .load::<(String, Existing)>(conn)?
                .into_iter()
                .collect();
            let mut new_rows: Vec<NewFollower> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for f in chunk {
                if !seen.insert(f.openid.as_str()) {
                    continue; // the same openid twice in one batch: the first wins
                }
                let Some((id, unionid, subscribed, subscribed_at, scene, qr, remark)) =
                    existing.get(&f.openid)
                else {
                    new_rows.push(NewFollower {
                        tenant_id: tenant,
                        openid: &f.openid,
                        unionid: f.unionid.as_deref(),
                        subscribed: f.subscribed,
                        subscribed_at: f.subscribed_at,
                        subscribe_count: i64::from(f.subscribed),
                        subscribe_scene: f.subscribe_scene.as_deref(),
                        qr_scene: f.qr_scene.as_deref(),
                        remark: f.remark.as_deref(),
                        created_at: at,
                        updated_at: at,
                    });
                    continue;
                };
                let new_unionid = f.unionid.clone().or_else(|| unionid.clone());
                let new_subscribed_at = f.subscribed_at.or(*subscribed_at);
                let new_scene = scene.clone().or_else(|| f.subscribe_scene.clone());
                let new_qr = qr.clone().or_else(|| f.qr_scene.clone());
                let new_remark = remark.clone().or_else(|| f.remark.clone());
                let changed = new_unionid != *unionid
                    || f.subscribed != *subscribed
                    || new_subscribed_at != *subscribed_at
                    || new_scene != *scene
                    || new_qr != *qr
                    || new_remark != *remark;
                if !changed {
                    counts.unchanged += 1;
                    continue;
                }
                // The sync lists only current followers; a user WeChat reports as
                // unfollowed is marked so, with the time we learnt it.
                let unsubscribed_at = (*subscribed && !f.subscribed).then_some(at);
                let q = diesel::update(
                    followers::table
                        .filter(followers::id.eq(id))
                        .filter(followers::tenant_id.eq(tenant)),
                );
                let values = (
                    followers::unionid.eq(new_unionid),
                    followers::subscribed.eq(f.subscribed),
                    followers::subscribed_at.eq(new_subscribed_at),
                    followers::subscribe_scene.eq(new_scene),
                    followers::qr_scene.eq(new_qr),
                    followers::remark.eq(new_remark),
                    followers::updated_at.eq(at),
                );
                match unsubscribed_at {
                    Some(t) => q
                        .set((values, followers::unsubscribed_at.eq(Some(t))))
                        .execute(conn)?,
                    None => q.set(values).execute(conn)?,
                };
                counts.updated += 1;
            }
            if !new_rows.is_empty() {
                // Batch inserts do not compile through the MultiConnection: one arm each.
                // On PostgreSQL a follower the webhook stored meanwhile is skipped (the
                // next sync updates it) instead of aborting the transaction; SQLite has
                // one writer, so nobody can have inserted it since the select.
                counts.inserted += match conn {
                    DbConn::Postgres(c) => diesel::insert_into(followers::table)
                        .values(&new_rows)
                        .on_conflict((followers::tenant_id, followers::openid))
                        .do_nothing()
                        .execute(c)?,
                    DbConn::Sqlite(c) => diesel::insert_into(followers::table)
                        .values(&new_rows)
                        .execute(c)?,
                };
            }
        }
        Ok(counts)
    })
}
