//! `/api/v1/campaigns` and `/api/v1/coupons`: campaigns, issuing, validating, redeeming
//! and voiding coupons (a POS integration's till).

use super::{ApiAuth, ApiError, ApiResult};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use patron_app::coupons as app_coupons;
use patron_app::till;
use patron_app::AppError;
use patron_domain::coupons::{Benefit, Validity};
use patron_domain::Permission;
use patron_store::coupons::{self, CampaignInput, NotIssued, Till};
use serde::Deserialize;

fn campaign_json(c: &coupons::Campaign) -> serde_json::Value {
    serde_json::json!({
        "id": c.id, "name": c.name, "benefit": c.benefit(), "min_spend_fen": c.min_spend_fen,
        "validity": c.validity(), "total_supply": c.total_supply, "per_follower_limit": c.per_follower_limit,
        "store_ids": c.stores(), "status": c.status, "terms": c.terms, "code_prefix": c.code_prefix, "accepts_short_codes": c.accepts_short_codes,
        "issued_count": c.issued_count, "created_at": c.created_at,
    })
}

pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| coupons::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(
        serde_json::json!({ "campaigns": all.iter().map(campaign_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
pub struct CampaignBody {
    pub name: String,
    pub benefit: Benefit,
    #[serde(default)]
    pub min_spend_fen: i64,
    pub validity: Validity,
    pub total_supply: Option<i64>,
    pub per_follower_limit: Option<i64>,
    pub store_ids: Option<Vec<i64>>,
    #[serde(default)]
    pub terms: String,
    #[serde(default)]
    pub code_prefix: String,
    /// Imported codes may be 4–7 characters (a system whose codes are that short);
    /// otherwise an import refuses codes under 8 characters, which are guessable.
    #[serde(default)]
    pub accepts_short_codes: bool,
    /// `draft` (default) or `active`.
    #[serde(default)]
    pub status: Option<String>,
}

pub async fn create(auth: ApiAuth, body: web::Json<CampaignBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let input = CampaignInput {
        name: b.name,
        benefit: b.benefit,
        min_spend_fen: b.min_spend_fen,
        validity: b.validity,
        total_supply: b.total_supply,
        per_follower_limit: b.per_follower_limit,
        stores: b.store_ids,
        terms: b.terms,
        code_prefix: b.code_prefix,
        accepts_short_codes: b.accepts_short_codes,
    };
    let status = b.status;
    let c = auth
        .state
        .db(move |c| {
            let camp = coupons::create(c, &scope, &input)?;
            match status.as_deref() {
                Some(s) if s != "draft" => coupons::set_status(c, &scope, camp.id, s),
                _ => Ok(camp),
            }
        })
        .await?;
    Ok(HttpResponse::Created().json(campaign_json(&c)))
}

pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let (c, stats) = auth
        .state
        .db(move |c| Ok((coupons::get(c, &scope, id)?, coupons::stats(c, &scope, id)?)))
        .await?;
    let mut j = campaign_json(&c);
    j["stats"] = serde_json::to_value(stats).unwrap_or_default();
    Ok(HttpResponse::Ok().json(j))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct IssueBody {
    pub follower_id: Option<i64>,
}

pub async fn issue(auth: ApiAuth, id: web::Path<i64>, body: web::Json<IssueBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, follower) = (id.into_inner(), body.follower_id);
    let r = auth
        .state
        .db(move |c| coupons::issue(c, &scope, id, follower, "api", "API"))
        .await?;
    match r {
        Ok(c) => Ok(HttpResponse::Created().json(c)),
        Err(why) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            match why {
                NotIssued::NotActive => "campaign_not_active",
                NotIssued::SupplyExhausted => "supply_exhausted",
                NotIssued::FollowerLimit => "follower_limit",
            },
        )),
    }
}

/// Runs `op` on the code or QR payload in `scanned` behind the till's throttle
/// (`patron_app::till`), in one trip: 429 while this token or address is past the limit,
/// 422 for a forged payload or a typo, 404 for an unknown code (both counted).
async fn on_code<T: Send + 'static>(
    auth: &ApiAuth,
    scanned: String,
    op: impl FnOnce(&mut patron_store::DbConn, &patron_domain::TenantScope, &str) -> Result<T, AppError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    let scope = auth.scope.clone();
    let (key, ip) = (*auth.state.secrets.mac_key(), auth.ip.clone());
    let gated = auth
        .state
        .run(move |c| {
            till::with_code(c, &scope, &key, &ip, &scanned, |c, code| {
                op(c, &scope, code)
            })
        })
        .await?;
    match gated {
        till::Gated::Done(t) => Ok(t),
        till::Gated::Locked => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many unknown or mistyped codes; try again in a few minutes",
        )),
        till::Gated::Refused(r) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            r.as_str(),
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ValidateQuery {
    pub store_id: Option<i64>,
    pub amount_fen: Option<i64>,
}

/// What a coupon is and whether it may be redeemed at a store now (`{code}` is the code or
/// the QR payload, URL-encoded).
pub async fn validate(
    auth: ApiAuth,
    code: web::Path<String>,
    q: web::Query<ValidateQuery>,
) -> ApiResult {
    auth.require(Permission::Redeem)?;
    let (store, amount) = (q.store_id.unwrap_or(0), q.amount_fen);
    let found = on_code(&auth, code.into_inner(), move |c, scope, code| {
        app_coupons::look_up(c, scope, code, store, amount)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "coupon": found.coupon,
        "campaign": campaign_json(&found.campaign),
        "redeemable": found.verdict.is_ok(),
        "refusal": found.verdict.err(),
    })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RedeemBody {
    pub store_id: i64,
    pub idempotency_key: Option<String>,
    pub order_ref: Option<String>,
    pub amount_fen: Option<i64>,
    pub device: Option<String>,
}

pub async fn redeem(
    auth: ApiAuth,
    code: web::Path<String>,
    body: web::Json<RedeemBody>,
) -> ApiResult {
    auth.require(Permission::Redeem)?;
    let b = body.into_inner();
    let r = on_code(&auth, code.into_inner(), move |c, scope, code| {
        app_coupons::redeem(
            c,
            scope,
            &app_coupons::Redemption {
                code,
                till: Till {
                    user_id: None,
                    user_name: "API",
                    store_id: b.store_id,
                    device: b.device.as_deref().unwrap_or("api"),
                },
                idempotency_key: b.idempotency_key.as_deref(),
                order_ref: b.order_ref.as_deref(),
                amount_fen: b.amount_fen,
            },
        )
    })
    .await?;
    let status = match r {
        coupons::Redeemed::Ok { .. } => StatusCode::OK,
        _ => StatusCode::CONFLICT,
    };
    Ok(HttpResponse::build(status).json(r))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VoidBody {
    pub store_id: i64,
    pub reason: String,
}

pub async fn void(auth: ApiAuth, code: web::Path<String>, body: web::Json<VoidBody>) -> ApiResult {
    auth.require(Permission::Redeem)?;
    let b = body.into_inner();
    let r = on_code(&auth, code.into_inner(), move |c, scope, code| {
        let till = Till {
            user_id: None,
            user_name: "API",
            store_id: b.store_id,
            device: "api",
        };
        app_coupons::void(c, scope, code, &till, &b.reason)
    })
    .await?;
    match r {
        Ok(c) => Ok(HttpResponse::Ok().json(c)),
        Err(why) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            why.as_str(),
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BulkBody {
    pub segment_id: Option<i64>,
    pub tag_id: Option<i64>,
}

/// Queues issuing the campaign's coupon to every follower of a segment or tag (a job).
pub async fn bulk(auth: ApiAuth, id: web::Path<i64>, body: web::Json<BulkBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, b) = (id.into_inner(), body.into_inner());
    let r = auth
        .state
        .run(move |c| app_coupons::enqueue_bulk(c, &scope, id, b.segment_id, b.tag_id, "API"))
        .await?;
    match r {
        Ok(job) => Ok(HttpResponse::Accepted().json(serde_json::json!({ "job_id": job.0 }))),
        Err(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "campaign_not_active",
        )),
    }
}
