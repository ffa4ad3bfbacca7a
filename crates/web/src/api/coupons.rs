//! `/api/v1/campaigns` and `/api/v1/coupons`: campaigns, issuing, validating, redeeming
//! and voiding coupons (a POS integration's till).

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use patron_app::coupons as app_coupons;
use patron_app::AppError;
use patron_app::{redeemer, till};
use patron_domain::coupons::{Benefit, Refusal, Validity};
use patron_domain::Permission;
use patron_store::coupons::{self, CampaignInput, Coupon, NotIssued, Redeemed, Stats, Till};
use serde::{Deserialize, Serialize};

/// A coupon campaign.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignJson {
    pub id: i64,
    pub name: String,
    pub benefit: Option<Benefit>,
    /// The least a purchase must come to, in fen (0: none).
    pub min_spend_fen: i64,
    pub validity: Option<Validity>,
    /// How many coupons it may issue (null: no limit).
    pub total_supply: Option<i64>,
    pub per_follower_limit: Option<i64>,
    /// The stores where its coupons are redeemed (null: every store).
    pub store_ids: Option<Vec<i64>>,
    /// `draft`, `active`, `paused` or `ended`.
    pub status: String,
    pub terms: String,
    pub code_prefix: String,
    pub accepts_short_codes: bool,
    pub issued_count: i64,
    pub created_at: chrono::NaiveDateTime,
}

impl From<&coupons::Campaign> for CampaignJson {
    fn from(c: &coupons::Campaign) -> Self {
        CampaignJson {
            id: c.id,
            name: c.name.clone(),
            benefit: c.benefit(),
            min_spend_fen: c.min_spend_fen,
            validity: c.validity(),
            total_supply: c.total_supply,
            per_follower_limit: c.per_follower_limit,
            store_ids: c.stores(),
            status: c.status.clone(),
            terms: c.terms.clone(),
            code_prefix: c.code_prefix.clone(),
            accepts_short_codes: c.accepts_short_codes,
            issued_count: c.issued_count,
            created_at: c.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignJson>,
}

/// A campaign with its coupons by status and its redemptions by store and cashier.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CampaignDetail {
    #[serde(flatten)]
    pub campaign: CampaignJson,
    pub stats: Stats,
}

/// A coupon looked up at a till.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Validation {
    pub coupon: Coupon,
    pub campaign: CampaignJson,
    /// Whether it may be redeemed at that store, for that amount, now.
    pub redeemable: bool,
    /// Why not, when not.
    pub refusal: Option<Refusal>,
}

/// A queued job: follow it in the UI's jobs page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct JobAccepted {
    pub job_id: i64,
}

/// The tenant's campaigns.
#[utoipa::path(get, path = "/campaigns", operation_id = "listCampaigns", tag = "coupons",
    responses((status = 200, description = "The campaigns", body = CampaignList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| coupons::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(CampaignList {
        campaigns: all.iter().map(CampaignJson::from).collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
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
    #[schema(pattern = "^(draft|active)$")]
    pub status: Option<String>,
}

/// Creates a campaign.
#[utoipa::path(post, path = "/campaigns", operation_id = "createCampaign", tag = "coupons",
    request_body = CampaignBody,
    responses(
        (status = 201, description = "The campaign", body = CampaignJson),
        (status = 409, description = "A campaign with this name or code prefix exists", body = ErrorBody),
    ))]
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
    Ok(HttpResponse::Created().json(CampaignJson::from(&c)))
}

/// A campaign and its figures.
#[utoipa::path(get, path = "/campaigns/{campaign_id}", operation_id = "getCampaign", tag = "coupons",
    params(("campaign_id" = i64, Path)),
    responses(
        (status = 200, description = "The campaign", body = CampaignDetail),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let (c, stats) = auth
        .state
        .db(move |c| Ok((coupons::get(c, &scope, id)?, coupons::stats(c, &scope, id)?)))
        .await?;
    Ok(HttpResponse::Ok().json(CampaignDetail {
        campaign: CampaignJson::from(&c),
        stats,
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct IssueBody {
    /// The follower who gets it (none: an unassigned coupon, e.g. to print).
    pub follower_id: Option<i64>,
}

/// Issues one coupon.
#[utoipa::path(post, path = "/campaigns/{campaign_id}/coupons", operation_id = "issueCoupon", tag = "coupons",
    params(("campaign_id" = i64, Path)),
    request_body = IssueBody,
    responses(
        (status = 201, description = "The coupon", body = Coupon),
        (status = 404, description = "No such campaign or follower", body = ErrorBody),
        (status = 409, description = "Not issued: `campaign_not_active`, `supply_exhausted` or `follower_limit` (the message)", body = ErrorBody),
    ))]
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
    mut op: impl FnMut(&mut patron_store::DbConn, &patron_domain::TenantScope, &str) -> Result<T, AppError>
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
    past_gate(gated)
}

/// What the code throttle and the scan said, as the API answers it.
fn past_gate<T>(gated: till::Gated<T>) -> Result<T, ApiError> {
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

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ValidateQuery {
    /// The store asking (its redeemability there).
    pub store_id: Option<i64>,
    /// The purchase amount in fen before the coupon (checked against the minimum spend).
    /// With `order_ref`, the order is expected to be paid through WeChat Pay for this
    /// amount less the coupon's discount, and its notification is checked against that.
    pub amount_fen: Option<i64>,
}

/// What a coupon is and whether it may be redeemed at a store now (`{code}` is the code or
/// the QR payload, URL-encoded).
#[utoipa::path(get, path = "/coupons/{code}", operation_id = "validateCoupon", tag = "coupons",
    params(("code" = String, Path, description = "The code as printed (any spacing) or the QR payload"), ValidateQuery),
    responses(
        (status = 200, description = "The coupon, its campaign and the verdict", body = Validation),
        (status = 404, description = "No such code in this tenant (counted towards the throttle)", body = ErrorBody),
        (status = 422, description = "A forged QR payload or a mistyped code (`invalid`)", body = ErrorBody),
    ))]
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
    Ok(HttpResponse::Ok().json(Validation {
        campaign: CampaignJson::from(&found.campaign),
        redeemable: found.verdict.is_ok(),
        refusal: found.verdict.err(),
        coupon: found.coupon,
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct RedeemBody {
    /// The store where it is redeemed.
    pub store_id: i64,
    /// Makes the redemption once only: a retry with the same key answers as the first did.
    pub idempotency_key: Option<String>,
    /// The till's order reference (links the redemption to its payment).
    pub order_ref: Option<String>,
    /// The purchase amount in fen (checked against the minimum spend).
    pub amount_fen: Option<i64>,
    pub device: Option<String>,
}

/// Redeems a coupon, exactly once.
#[utoipa::path(post, path = "/coupons/{code}/redeem", operation_id = "redeemCoupon", tag = "coupons",
    params(("code" = String, Path, description = "The code as printed (any spacing) or the QR payload")),
    request_body = RedeemBody,
    responses(
        (status = 200, description = "Redeemed (`outcome`: `ok`)", body = Redeemed),
        (status = 409, description = "Not redeemed: `already_redeemed` (where, by whom, when) or `refused` (why)", body = Redeemed),
        (status = 404, description = "No such code in this tenant", body = ErrorBody),
    ))]
pub async fn redeem(
    auth: ApiAuth,
    code: web::Path<String>,
    body: web::Json<RedeemBody>,
) -> ApiResult {
    auth.require(Permission::Redeem)?;
    let b = body.into_inner();
    for (what, value, max) in [
        ("idempotency_key", &b.idempotency_key, 128),
        ("order_ref", &b.order_ref, 64),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("{what}: at most {max} characters"),
            ));
        }
    }
    let ask = redeemer::Ask {
        scope: auth.scope.clone(),
        ip: auth.ip.clone(),
        scanned: code.into_inner(),
        user_id: None,
        user_name: "API".into(),
        store_id: b.store_id,
        device: b
            .device
            .as_deref()
            .unwrap_or("api")
            .chars()
            .take(200)
            .collect(),
        idempotency_key: b.idempotency_key,
        order_ref: b.order_ref,
        amount_fen: b.amount_fen,
    };
    let r = past_gate(auth.state.redeemer.redeem(ask).await?)?;
    let status = match r {
        coupons::Redeemed::Ok { .. } => StatusCode::OK,
        _ => StatusCode::CONFLICT,
    };
    Ok(HttpResponse::build(status).json(r))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct VoidBody {
    pub store_id: i64,
    /// Why (required).
    pub reason: String,
}

/// Voids a redemption (within the void window, at its store).
#[utoipa::path(post, path = "/coupons/{code}/void", operation_id = "voidRedemption", tag = "coupons",
    params(("code" = String, Path, description = "The code as printed (any spacing) or the QR payload")),
    request_body = VoidBody,
    responses(
        (status = 200, description = "The coupon, redeemable again", body = Coupon),
        (status = 404, description = "No such code in this tenant", body = ErrorBody),
        (status = 409, description = "Not voided: not redeemed, past the void window, or another store's (the message)", body = ErrorBody),
    ))]
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

/// A segment or a tag: whose followers get a coupon.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct BulkBody {
    pub segment_id: Option<i64>,
    pub tag_id: Option<i64>,
}

/// Queues issuing the campaign's coupon to every follower of a segment or tag (a job).
#[utoipa::path(post, path = "/campaigns/{campaign_id}/bulk", operation_id = "bulkIssue", tag = "coupons",
    params(("campaign_id" = i64, Path)),
    request_body = BulkBody,
    responses(
        (status = 202, description = "Queued", body = JobAccepted),
        (status = 404, description = "No such campaign, segment or tag", body = ErrorBody),
        (status = 409, description = "The campaign is not active (`conflict`)", body = ErrorBody),
    ))]
pub async fn bulk(auth: ApiAuth, id: web::Path<i64>, body: web::Json<BulkBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, b) = (id.into_inner(), body.into_inner());
    let r = auth
        .state
        .run(move |c| app_coupons::enqueue_bulk(c, &scope, id, b.segment_id, b.tag_id, "API"))
        .await?;
    match r {
        Ok(job) => Ok(HttpResponse::Accepted().json(JobAccepted { job_id: job.0 })),
        Err(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "campaign_not_active",
        )),
    }
}
