//! `coupon_bulk`: issues a campaign's coupon to every follower a segment (or tag) holds,
//! in batches of 20,000 (one transaction each), with progress.
//!
//! Payload: `{"tenant_id", "campaign_id", "segment_id" | "tag_id", "by"}`. A retried job
//! skips the followers it already served (their coupons carry `bulk:<job id>`).

use crate::worker::{Handler, JobCtx};
use patron_domain::{TenantId, TenantScope};
use patron_store::followers::{self, Filter};
use patron_store::{coupons, segments, tenants, StoreError};

pub const KIND: &str = patron_store::jobs::kinds::COUPON_BULK;
pub const BATCH: i64 = 50_000;

/// The job's payload: the contract with whoever queues it (`patron_app::jobs`).
pub type Payload = patron_app::jobs::CouponBulk;

pub fn handler() -> Handler {
    Box::new(run)
}

fn run(ctx: &mut JobCtx) -> Result<(), crate::JobError> {
    let p: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
    if ctx.job.tenant_id != Some(p.tenant_id) {
        return Err("payload tenant differs from the job's tenant".into());
    }
    let err = |e: StoreError| e.to_string();
    let mut c = ctx.pool.get()?;
    let tref = tenants::find_ref_by_id(&mut c, TenantId(p.tenant_id))
        .map_err(err)?
        .ok_or("tenant not found")?;
    let scope = TenantScope::system(tref);
    let filter = match (p.segment_id, p.tag_id) {
        (Some(s), _) => segments::get(&mut c, &scope, s).map_err(err)?.filter(),
        (None, Some(t)) => Filter {
            tag: Some(t),
            ..Default::default()
        },
        (None, None) => Filter::default(),
    };
    drop(c);
    let channel = format!("bulk:{}", ctx.job.id);
    let by = if p.by.is_empty() {
        "bulk".to_string()
    } else {
        p.by.clone()
    };
    let pool = ctx.pool.clone();
    // A retried job (a worker died) skips the followers its first run served.
    let resume = ctx.job.attempts > 1;
    let run = Run {
        campaign: p.campaign_id,
        channel: &channel,
        by: &by,
        resume,
    };
    let outcome = issue_to(&pool, &scope, &filter, &run, |d, t| {
        ctx.progress(d, Some(t))
    })?;
    tracing::info!(
        campaign = p.campaign_id,
        issued = outcome.issued,
        skipped = outcome.skipped,
        not_served = outcome.not_served,
        followers = outcome.followers,
        "bulk issue done"
    );
    ctx.result(&serde_json::to_string(&outcome).unwrap_or_default())?;
    Ok(())
}

/// What a bulk issue did, for its page: coupons issued, followers skipped because they
/// already hold as many as the campaign allows each, and followers not served because
/// the supply ran out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub followers: i64,
    pub issued: i64,
    pub skipped: i64,
    pub not_served: i64,
}

/// One bulk run: which campaign, the channel its coupons carry, who started it, and
/// whether it resumes an earlier attempt.
pub struct Run<'a> {
    pub campaign: i64,
    pub channel: &'a str,
    pub by: &'a str,
    pub resume: bool,
}

/// Issues the campaign's coupon to every follower `filter` matches, in batches; `progress`
/// hears (done, total) after each.
pub fn issue_to(
    pool: &patron_store::DbPool,
    scope: &TenantScope,
    filter: &Filter,
    run: &Run<'_>,
    mut progress: impl FnMut(i64, i64) -> Result<(), crate::JobError>,
) -> Result<Outcome, crate::JobError> {
    let Run {
        campaign,
        channel,
        by,
        resume,
    } = *run;
    let err = |e: StoreError| e.to_string();
    let mut c = pool.get().map_err(err)?;
    let total = followers::count_matching(&mut c, scope, filter).map_err(err)?;
    drop(c);
    let (mut done, mut issued, mut skipped, mut unserved) = (0i64, 0i64, 0i64, 0i64);
    let mut exhausted = false;
    let mut before = None;
    progress(0, total)?;
    loop {
        let mut c = pool.get().map_err(err)?;
        let ids = followers::ids_page(&mut c, scope, filter, before, BATCH).map_err(err)?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        let batch = loop {
            match coupons::issue_batch(&mut c, scope, campaign, &ids, channel, by, resume) {
                Err(StoreError::Conflict("supply_moved")) => continue,
                other => break other.map_err(err)?,
            }
        };
        drop(c);
        // What an earlier attempt of this run issued counts as issued by the run.
        issued += batch.issued + batch.served_before;
        skipped += batch.skipped;
        unserved += batch.unserved;
        done += ids.len() as i64;
        progress(done, total.max(done))?;
        if batch.exhausted {
            exhausted = true;
            break;
        }
        before = Some(last);
    }
    let followers = total.max(done);
    Ok(Outcome {
        followers,
        issued,
        skipped,
        // Those of the last batch the supply did not reach, and those after it (only when
        // the supply ran out: followers who left the audience meanwhile are not counted).
        not_served: unserved + if exhausted { followers - done } else { 0 },
    })
}
