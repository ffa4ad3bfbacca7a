//! Coupons at the till and in the API: from a scan to a code, what a code is worth here
//! and now, voiding a mistake, issuing to a whole segment. Redeeming: [`crate::redeemer`].

use crate::jobs::{self, Job};
use crate::AppError;
use patron_domain::coupons::{self as rules, Refusal, ScanRefusal};
use patron_domain::{JobId, StoreId, TenantScope};
use patron_store::coupons::{self, Campaign, Coupon, NotVoided, Till};
use patron_store::DbConn;

/// How long after a redemption it may be voided.
pub const VOID_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// The key a tenant's coupon (and member card) QR payloads are signed with: derived from
/// the server's MAC key, one per tenant, so one tenant's payloads never check for another.
pub fn qr_key(mac_key: &[u8; 32], scope: &TenantScope) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(mac_key).expect("HMAC takes any key length");
    m.update(format!("coupon-qr:{}", scope.tenant_id().0).as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// From what was scanned or typed to what to look up (no database).
pub fn scan_lookup(
    mac_key: &[u8; 32],
    scope: &TenantScope,
    scanned: &str,
) -> Result<rules::Lookup, ScanRefusal> {
    rules::scan_lookup(&qr_key(mac_key, scope), scanned)
}

/// Whether `coupon` of `campaign` may be redeemed at `store` now, for an order of
/// `amount` fen (`None`: not checked against the minimum spend). The one place the rule's
/// input is assembled from stored rows.
pub fn verdict(
    coupon: &Coupon,
    campaign: &Campaign,
    store: i64,
    amount: Option<i64>,
) -> Result<(), Refusal> {
    let stores = campaign.stores();
    rules::can_redeem(
        &rules::Redeemable {
            status: coupon.status,
            campaign_status: &campaign.status,
            valid_from: coupon.valid_from,
            valid_to: coupon.valid_to,
            stores: stores.as_deref(),
            min_spend_fen: campaign.min_spend_fen,
        },
        store,
        patron_store::now(),
        amount,
    )
}

/// A coupon looked up by code: it, its campaign, who holds it, and the verdict.
#[derive(Debug)]
pub struct LookedUp {
    pub coupon: Coupon,
    pub campaign: Campaign,
    /// The holder's id and display name (name, else OpenID).
    pub holder: Option<(i64, String)>,
    pub verdict: Result<(), Refusal>,
}

/// Looks a code up (one unit of work). `NotFound` for an unknown or another tenant's code.
pub fn look_up(
    c: &mut DbConn,
    scope: &TenantScope,
    code: &str,
    store: i64,
    amount: Option<i64>,
) -> Result<LookedUp, AppError> {
    let coupon = coupons::by_code(c, scope, code)?;
    let campaign = coupons::get(c, scope, coupon.campaign_id)?;
    let holder = match coupon.follower_id {
        Some(id) => {
            let f = patron_store::followers::get(c, scope, id)?;
            Some((id, f.name.unwrap_or(f.openid)))
        }
        None => None,
    };
    let verdict = verdict(&coupon, &campaign, store, amount);
    Ok(LookedUp {
        coupon,
        campaign,
        holder,
        verdict,
    })
}

/// Voids a redemption within [`VOID_WINDOW`], with a reason (an unknown code is
/// `NotFound` first).
pub fn void(
    c: &mut DbConn,
    scope: &TenantScope,
    code: &str,
    till: &Till<'_>,
    reason: &str,
) -> Result<Result<Coupon, NotVoided>, AppError> {
    Ok(coupons::void(c, scope, code, till, reason, VOID_WINDOW)?)
}

/// Why a bulk issue was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotQueued {
    CampaignNotActive,
}

/// Checks the campaign and the target (a segment or a tag of the tenant), then queues
/// issuing the campaign's coupon to every follower in it (the `coupon_bulk` job).
pub fn enqueue_bulk(
    c: &mut DbConn,
    scope: &TenantScope,
    campaign: i64,
    segment_id: Option<i64>,
    tag_id: Option<i64>,
    by: &str,
) -> Result<Result<JobId, NotQueued>, AppError> {
    let camp = coupons::get(c, scope, campaign)?;
    if camp.status != "active" {
        return Ok(Err(NotQueued::CampaignNotActive));
    }
    if let Some(s) = segment_id {
        patron_store::segments::get(c, scope, s)?;
    }
    if let Some(t) = tag_id {
        patron_store::tags::get(c, scope, t)?;
    }
    let job = Job::CouponBulk(jobs::CouponBulk {
        tenant_id: scope.tenant_id().0,
        campaign_id: campaign,
        segment_id,
        tag_id,
        by: by.to_string(),
    });
    Ok(Ok(jobs::enqueue(c, scope, &job)?))
}

/// The stores this scope may work at, of the tenant's (a cashier: their own).
pub fn stores_for(
    c: &mut DbConn,
    scope: &TenantScope,
) -> Result<Vec<patron_store::stores::Store>, AppError> {
    let all = patron_store::stores::list(c, scope)?;
    Ok(match scope.stores() {
        Some(mine) => all
            .into_iter()
            .filter(|s| mine.contains(&StoreId(s.id)))
            .collect(),
        None => all,
    })
}
