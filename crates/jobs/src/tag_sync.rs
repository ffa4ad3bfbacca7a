//! `tag_sync`: local tags and WeChat's tags made to agree.
//!
//! - A local tag not linked yet is linked to WeChat's tag of the same name, or created
//!   there (`tags/create`).
//! - A WeChat tag with no local counterpart is imported, with its followers as WeChat
//!   has them (`user/tag/get`; followers Patron does not know yet are skipped until a
//!   follower sync brings them).
//! - For every tag that was linked before this run, Patron's membership is the truth:
//!   followers missing on WeChat are tagged (`batchtagging`, 50 at a time) and followers
//!   WeChat has but Patron does not are untagged (`batchuntagging`).
//!
//! Payload: `{"tenant_id": 1}`. Idempotent: a second run changes nothing.

use crate::worker::{Handler, JobCtx};
use patron_domain::TenantScope;
use patron_store::{tags, SecretBox};
use patron_wechat::api::Client;
use std::collections::HashSet;

pub const KIND: &str = patron_store::jobs::kinds::TAG_SYNC;

/// WeChat's limit of openids per batch (un)tagging call.
const BATCH: usize = 50;
/// WeChat's "invalid openid".
const INVALID_OPENID: i64 = 40003;

/// The job's payload: the contract with whoever queues it (`patron_app::jobs`).
pub type Payload = patron_app::jobs::TenantJob;

pub fn handler(secrets: SecretBox) -> Handler {
    Box::new(move |ctx: &mut JobCtx| run(ctx, &secrets))
}

fn members_on_wechat(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    tagid: u32,
) -> Result<Vec<String>, crate::JobError> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = rt
            .block_on(client.tag_followers(tagid, next.as_deref()))
            .map_err(|e| crate::JobError::wechat("user/tag/get", e))?;
        let n = page.openids.len();
        out.extend(page.openids);
        if n == 0 || page.next_openid.is_empty() {
            return Ok(out);
        }
        next = Some(page.next_openid);
    }
}

fn run(ctx: &mut JobCtx, secrets: &SecretBox) -> Result<(), crate::JobError> {
    let p: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
    let (scope, client) = crate::tenant::client(ctx, secrets, p.tenant_id)?;
    let rt = crate::tenant::runtime()?;
    let db = |ctx: &JobCtx| ctx.pool.get().map_err(|e| e.to_string());
    let remote = rt
        .block_on(client.tags())
        .map_err(|e| crate::JobError::wechat("tags/get", e))?;
    let local: Vec<tags::Tag> = tags::list(&mut *db(ctx)?, &scope)?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let total = (local.len() + remote.len()) as i64;
    let mut done = 0i64;
    // 1. Link or create local tags on WeChat.
    let mut linked_before: Vec<(i64, u32)> = Vec::new();
    for t in &local {
        match t.wx_tag_id {
            Some(id) => linked_before.push((t.id, id as u32)),
            None => {
                let wx_id = match remote.iter().find(|r| r.name == t.name) {
                    Some(r) => r.id,
                    None => {
                        rt.block_on(client.create_tag(&t.name))
                            .map_err(|e| crate::JobError::wechat("tags/create", e))?
                            .id
                    }
                };
                tags::link_wechat(&mut *db(ctx)?, &scope, t.id, Some(wx_id as i64))?;
                // Newly linked: Patron's members are pushed like an older link's.
                linked_before.push((t.id, wx_id));
            }
        }
    }
    // 2. Import WeChat's tags Patron does not have, with their members.
    let known: HashSet<i64> = local.iter().filter_map(|t| t.wx_tag_id).collect();
    let pushed: HashSet<u32> = linked_before.iter().map(|(_, w)| *w).collect();
    for r in remote
        .iter()
        .filter(|r| !known.contains(&(r.id as i64)) && !pushed.contains(&r.id))
    {
        let members = members_on_wechat(&rt, &client, r.id)?;
        let mut c = db(ctx)?;
        tags::import_wechat(&mut c, &scope, r.id as i64, &r.name, &members)?;
        done += 1;
        drop(c);
        ctx.progress(done, Some(total))?;
    }
    // 3. Push Patron's membership of linked tags.
    for (local_id, wx_id) in linked_before {
        push_members(ctx, &rt, &client, &scope, local_id, wx_id)?;
        done += 1;
        ctx.progress(done, Some(total))?;
    }
    ctx.progress(total, Some(total))?;
    tracing::info!(tenant = p.tenant_id, tags = total, "tag sync done");
    Ok(())
}

fn push_members(
    ctx: &JobCtx,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    scope: &TenantScope,
    local_id: i64,
    wx_id: u32,
) -> Result<(), crate::JobError> {
    let mine: HashSet<String> = tags::member_openids(&mut *ctx.pool.get()?, scope, local_id)?
        .into_iter()
        .collect();
    let theirs: HashSet<String> = members_on_wechat(rt, client, wx_id)?.into_iter().collect();
    let mut add: Vec<&String> = mine.difference(&theirs).collect();
    let mut remove: Vec<&String> = theirs.difference(&mine).collect();
    add.sort();
    remove.sort();
    for chunk in add.chunks(BATCH) {
        match rt.block_on(client.batch_tag(wx_id, chunk)) {
            Ok(()) => {}
            // One OpenID WeChat does not know (a follower who left, an import) fails the
            // whole batch: tag one by one and skip those.
            Err(e) if e.errcode() == Some(INVALID_OPENID) => {
                for one in chunk {
                    match rt.block_on(client.batch_tag(wx_id, &[one])) {
                        Ok(()) => {}
                        Err(e) if e.errcode() == Some(INVALID_OPENID) => {
                            tracing::info!(openid = %one, "tag sync skipped an OpenID WeChat does not know");
                        }
                        Err(e) => {
                            return Err(crate::JobError::wechat("tags/members/batchtagging", e))
                        }
                    }
                }
            }
            Err(e) => return Err(crate::JobError::wechat("tags/members/batchtagging", e)),
        }
    }
    for chunk in remove.chunks(BATCH) {
        rt.block_on(client.batch_untag(wx_id, chunk))
            .map_err(|e| crate::JobError::wechat("tags/members/batchuntagging", e))?;
    }
    Ok(())
}
