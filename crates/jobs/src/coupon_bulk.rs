//! `coupon_bulk`: issues a campaign's coupon to every follower a segment (or tag) holds,
//! in batches of 5,000 (one transaction each), with progress.
//!
//! Payload: `{"tenant_id", "campaign_id", "segment_id" | "tag_id", "by"}`. A retried job
//! skips the followers it already served (their coupons carry `bulk:<job id>`).

use crate::worker::{Handler, JobCtx};
use patron_domain::{TenantId, TenantScope};
use patron_store::followers::{self, Filter};
use patron_store::{coupons, segments, tenants, StoreError};

pub const KIND: &str = patron_store::jobs::kinds::COUPON_BULK;
const BATCH: i64 = 5_000;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Payload {
    pub tenant_id: i64,
    pub campaign_id: i64,
    #[serde(default)]
    pub segment_id: Option<i64>,
    #[serde(default)]
    pub tag_id: Option<i64>,
    #[serde(default)]
    pub by: String,
}

pub fn handler() -> Handler {
    Box::new(run)
}

fn run(ctx: &mut JobCtx) -> Result<(), String> {
    let p: Payload =
        serde_json::from_str(&ctx.job.payload).map_err(|e| format!("bad payload: {e}"))?;
    if ctx.job.tenant_id != Some(p.tenant_id) {
        return Err("payload tenant differs from the job's tenant".into());
    }
    let err = |e: StoreError| e.to_string();
    let mut c = ctx.pool.get().map_err(|e| e.to_string())?;
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
    let total = followers::count_matching(&mut c, &scope, &filter).map_err(err)?;
    drop(c);
    let channel = format!("bulk:{}", ctx.job.id);
    let by = if p.by.is_empty() {
        "bulk".to_string()
    } else {
        p.by.clone()
    };
    let (mut done, mut issued) = (0i64, 0i64);
    let mut before = None;
    ctx.progress(0, Some(total))?;
    loop {
        let mut c = ctx.pool.get().map_err(|e| e.to_string())?;
        let ids = followers::ids_page(&mut c, &scope, &filter, before, BATCH).map_err(err)?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        let batch = loop {
            match coupons::issue_batch(&mut c, &scope, p.campaign_id, &ids, &channel, &by) {
                Err(StoreError::Conflict("supply_moved")) => continue,
                other => break other.map_err(err)?,
            }
        };
        drop(c);
        issued += batch.issued;
        done += ids.len() as i64;
        ctx.progress(done, Some(total.max(done)))?;
        if batch.exhausted {
            break;
        }
        before = Some(last);
    }
    tracing::info!(
        campaign = p.campaign_id,
        issued,
        followers = done,
        "bulk issue done"
    );
    Ok(())
}
