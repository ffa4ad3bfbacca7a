//! `/api/v1/loyalty`, `/api/v1/followers/{id}/points|stamps`, `/api/v1/stamp-cards`: the
//! points program, a follower's balance and ledger, posting points (idempotent with a
//! key), stamp cards and stamps.

use super::{ApiAuth, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_app::loyalty as app_loyalty;
use patron_domain::loyalty::Program;
use patron_domain::Permission;
use patron_store::loyalty::{self, Entry, Posted};
use patron_store::stamps::{self, Card, CardInput, Stamped};
use serde::{Deserialize, Serialize};

/// The points program; null until one is saved.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProgramJson {
    pub program: Option<Program>,
}

/// A follower's balance, latest ledger entries and stamp cards.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BalanceJson {
    pub follower_id: i64,
    pub balance: i64,
    pub entries: Vec<Entry>,
    pub stamp_cards: Vec<CardProgress>,
}

/// How far a follower is on a stamp card.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CardProgress {
    pub card_id: i64,
    pub name: String,
    pub stamps: i64,
    pub required: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CardList {
    pub stamp_cards: Vec<Card>,
}

/// 409 for a debit larger than the balance: the error, with the balance in `details`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InsufficientBody {
    pub error: Insufficient,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Insufficient {
    /// `insufficient`.
    pub code: &'static str,
    pub message: &'static str,
    pub details: Posted,
}

/// The points program.
#[utoipa::path(get, path = "/loyalty/program", operation_id = "getLoyaltyProgram", tag = "loyalty",
    responses((status = 200, description = "The program", body = ProgramJson)))]
pub async fn program(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let program = auth.state.db(move |c| loyalty::program(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(ProgramJson { program }))
}

/// Saves the points program (points per check-in, per yuan, for following, expiry).
#[utoipa::path(put, path = "/loyalty/program", operation_id = "putLoyaltyProgram", tag = "loyalty",
    request_body = Program,
    responses((status = 200, description = "The program as saved", body = ProgramJson)))]
pub async fn save_program(auth: ApiAuth, body: web::Json<Program>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let p = body.into_inner();
    let saved = auth
        .state
        .db(move |c| {
            loyalty::save_program(c, &scope, &p)?;
            loyalty::program(c, &scope)
        })
        .await?;
    // The webhook answers check-ins from its cache of the tenant's settings.
    auth.state.forget_cached(None);
    Ok(HttpResponse::Ok().json(ProgramJson { program: saved }))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// How many entries, newest first (1 to 500, default 50).
    limit: Option<i64>,
}

/// The follower's balance and latest entries.
#[utoipa::path(get, path = "/followers/{follower_id}/points", operation_id = "followerPoints", tag = "loyalty",
    params(("follower_id" = i64, Path), LedgerQuery),
    responses(
        (status = 200, description = "Balance, entries and stamp cards", body = BalanceJson),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
pub async fn balance(auth: ApiAuth, id: web::Path<i64>, q: web::Query<LedgerQuery>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let (balance, entries, cards) = auth
        .state
        .db(move |c| {
            Ok((
                loyalty::balance(c, &scope, id)?,
                loyalty::entries(c, &scope, id, limit)?,
                stamps::progress(c, &scope, id)?,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(BalanceJson {
        follower_id: id,
        balance,
        entries,
        stamp_cards: cards
            .into_iter()
            .map(|(card, stamps)| CardProgress {
                card_id: card.id,
                name: card.name,
                stamps,
                required: card.stamps_required,
            })
            .collect(),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PointsBody {
    /// `earn`, `spend` or `adjust`.
    #[schema(pattern = "^(earn|spend|adjust)$")]
    pub kind: String,
    pub points: i64,
    #[serde(default)]
    pub reason: String,
    /// Makes the post once only: a retry with the same key changes nothing and answers
    /// with the balance.
    #[schema(min_length = 1, max_length = 100)]
    pub idempotency_key: Option<String>,
}

/// Posts points: 201 with the entry and balance, 200 for a repeated key, 409
/// `insufficient` when a debit exceeds the balance (nothing changes).
#[utoipa::path(post, path = "/followers/{follower_id}/points", operation_id = "postPoints", tag = "loyalty",
    params(("follower_id" = i64, Path)),
    request_body = PointsBody,
    responses(
        (status = 201, description = "Posted: the entry and the balance", body = Posted),
        (status = 200, description = "This key was posted before; nothing changed", body = Posted),
        (status = 404, description = "No such follower", body = ErrorBody),
        (status = 409, description = "The debit exceeds the balance; nothing changed (`insufficient`)", body = InsufficientBody),
    ))]
pub async fn post(auth: ApiAuth, id: web::Path<i64>, body: web::Json<PointsBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let b = body.into_inner();
    let posted = auth
        .state
        .run(move |c| {
            app_loyalty::post_points(
                c,
                &scope,
                id,
                &app_loyalty::PointsRequest {
                    kind: &b.kind,
                    points: Some(b.points),
                    reason: &b.reason,
                    source: "api",
                    key: b.idempotency_key.as_deref(),
                    user: None,
                },
            )
        })
        .await?;
    Ok(match posted {
        Posted::Done { .. } => HttpResponse::Created().json(&posted),
        Posted::Duplicate { .. } => HttpResponse::Ok().json(&posted),
        Posted::Insufficient { .. } => HttpResponse::Conflict().json(InsufficientBody {
            error: Insufficient {
                code: "insufficient",
                message: "The debit exceeds the balance; nothing changed.",
                details: posted,
            },
        }),
    })
}

/// The stamp cards.
#[utoipa::path(get, path = "/stamp-cards", operation_id = "listStampCards", tag = "loyalty",
    responses((status = 200, description = "The cards", body = CardList)))]
pub async fn cards(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let stamp_cards = auth.state.db(move |c| stamps::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(CardList { stamp_cards }))
}

/// Creates a stamp card (N stamps earn a campaign's coupon).
#[utoipa::path(post, path = "/stamp-cards", operation_id = "createStampCard", tag = "loyalty",
    request_body = CardInput,
    responses((status = 201, description = "The card", body = Card)))]
pub async fn create_card(auth: ApiAuth, body: web::Json<CardInput>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let input = body.into_inner();
    let card = auth
        .state
        .db(move |c| stamps::create(c, &scope, &input))
        .await?;
    Ok(HttpResponse::Created().json(card))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct StampBody {
    pub card_id: i64,
    /// Makes the stamp once only.
    #[schema(min_length = 1, max_length = 100)]
    pub idempotency_key: Option<String>,
}

/// Gives one stamp; a full card answers with its reward coupon.
#[utoipa::path(post, path = "/followers/{follower_id}/stamps", operation_id = "addStamp", tag = "loyalty",
    params(("follower_id" = i64, Path)),
    request_body = StampBody,
    responses(
        (status = 200, description = "What the stamp did", body = Stamped),
        (status = 404, description = "No such follower or card", body = ErrorBody),
    ))]
pub async fn stamp(auth: ApiAuth, id: web::Path<i64>, body: web::Json<StampBody>) -> ApiResult {
    let scope = auth.require(Permission::Redeem)?.clone();
    let id = id.into_inner();
    let b = body.into_inner();
    let (r, _card) = auth
        .state
        .run(move |c| {
            app_loyalty::give_stamp(
                c,
                &scope,
                id,
                &app_loyalty::StampRequest {
                    card: b.card_id,
                    source: "api",
                    key: b.idempotency_key.as_deref(),
                    by: Default::default(),
                },
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(r))
}
