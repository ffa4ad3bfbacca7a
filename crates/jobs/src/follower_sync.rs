//! `follower_sync`: pages a tenant's followers from WeChat (`user/get`), fetches their info
//! in batches of 100 (`user/info/batchget`) and merges them into the followers CRM.
//!
//! Payload: `{"tenant_id": 42}`. Idempotent: a second run changes no row.

use crate::worker::{Handler, JobCtx};
use chrono::DateTime;
use patron_domain::TenantScope;
use patron_store::sync::{self, WechatFollower};
use patron_store::{DbConn, SecretBox};
use patron_wechat::api::users::BATCHGET_MAX;
use patron_wechat::api::UserInfo;

pub const KIND: &str = patron_store::jobs::kinds::FOLLOWER_SYNC;

/// The job's payload: the contract with whoever queues it (`patron_app::jobs`).
pub type Payload = patron_app::jobs::TenantJob;

/// Queues a sync of the scoped tenant's followers.
pub fn enqueue(
    conn: &mut DbConn,
    scope: &TenantScope,
) -> Result<patron_domain::JobId, patron_store::StoreError> {
    patron_app::jobs::sync_followers(conn, scope)
}

/// The handler; `secrets` opens the tenants' AppSecrets.
pub fn handler(secrets: SecretBox) -> Handler {
    Box::new(move |ctx: &mut JobCtx| run(ctx, &secrets))
}

/// Tries of one read before the job's attempt fails.
const READ_TRIES: u32 = 4;

/// Runs a read of WeChat's, again after a pause (0.2, 0.4, 0.8 s) while it fails in a way
/// a repeat may not (a dropped connection, a 5xx, WeChat's −1 or minute quota): reads are
/// safe to repeat, and a failed attempt would start the whole sync over from page one.
fn read_again<T>(
    what: &'static str,
    mut read: impl FnMut() -> Result<T, patron_wechat::api::Error>,
) -> Result<T, crate::JobError> {
    let mut pause = std::time::Duration::from_millis(200);
    let mut tries = 1;
    loop {
        match read() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && tries < READ_TRIES => {
                tracing::warn!(error = %e, tries, "{what} failed; trying again");
                std::thread::sleep(pause);
                pause *= 2;
                tries += 1;
            }
            Err(e) => return Err(crate::JobError::wechat(what, e)),
        }
    }
}

/// Maps the API client's record to the store's.
pub fn to_store(u: &UserInfo) -> WechatFollower {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    WechatFollower {
        openid: u.openid.clone(),
        unionid: nonempty(&u.unionid),
        subscribed: u.is_subscribed(),
        subscribed_at: u
            .subscribe_time
            .filter(|t| *t > 0)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(|t| t.naive_utc()),
        subscribe_scene: nonempty(&u.subscribe_scene),
        qr_scene: nonempty(&u.qr_scene_str)
            .or_else(|| u.qr_scene.filter(|n| *n != 0).map(|n| n.to_string())),
        remark: Some(u.remark.clone()).filter(|s| !s.is_empty()),
    }
}

fn run(ctx: &mut JobCtx, secrets: &SecretBox) -> Result<(), crate::JobError> {
    let payload: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
    let tenant_id = payload.tenant_id;
    let (scope, client) = crate::tenant::client(ctx, secrets, tenant_id)?;
    let rt = crate::tenant::runtime()?;
    let mut pages = client.follower_pages();
    let mut done: i64 = 0;
    while let Some(page) = read_again("user/get", || rt.block_on(pages.next_page()))? {
        let total = page.total as i64;
        for chunk in page.openids.chunks(BATCHGET_MAX) {
            let infos = read_again("user/info/batchget", || {
                rt.block_on(client.user_info_batch(chunk))
            })?;
            let batch: Vec<WechatFollower> = infos.iter().map(to_store).collect();
            {
                let mut c = ctx.pool.get()?;
                sync::upsert_from_wechat(&mut c, &scope, &batch)?;
            }
            done += chunk.len() as i64;
            ctx.progress(done, Some(total.max(done)))?;
        }
    }
    // The list may have shrunk or grown while paging: the total is what was seen.
    ctx.progress(done, Some(done))?;
    tracing::info!(tenant = %tenant_id, followers = done, "follower sync done");
    Ok(())
}
