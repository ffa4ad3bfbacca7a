//! `follower_info`: fetches one follower's info (`user/info`) after a follow, so unionid,
//! subscribe scene and remark arrive without waiting for a full sync.
//!
//! Payload: `{"tenant_id": 1, "openid": "o…"}`. Idempotent (a merge).

use crate::worker::{Handler, JobCtx};
use patron_store::{sync, SecretBox};

pub const KIND: &str = patron_store::jobs::kinds::FOLLOWER_INFO;

/// The job's payload: the contract with whoever queues it (`patron_app::jobs`).
pub type Payload = patron_app::jobs::FollowerInfo;

pub fn handler(secrets: SecretBox) -> Handler {
    Box::new(move |ctx: &mut JobCtx| {
        let p: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
        let (scope, client) = crate::tenant::client(ctx, &secrets, p.tenant_id)?;
        let info = crate::tenant::runtime()?
            .block_on(client.user_info(&p.openid))
            .map_err(|e| crate::JobError::wechat("user/info", e))?;
        let mut c = ctx.pool.get()?;
        sync::upsert_from_wechat(&mut c, &scope, &[crate::follower_sync::to_store(&info)])?;
        Ok(())
    })
}
