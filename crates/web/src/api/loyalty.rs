//! `/api/v1/loyalty`, `/api/v1/followers/{id}/points|stamps`, `/api/v1/stamp-cards`: the
//! points program, a follower's balance and ledger, posting points (idempotent with a
//! key), stamp cards and stamps.

use super::{ApiAuth, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::loyalty::Program;
use patron_domain::{validate, Permission};
use patron_store::loyalty::{self, Kind, Post};
use patron_store::stamps::{self, CardInput};
use serde::Deserialize;

pub async fn program(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let p = auth.state.db(move |c| loyalty::program(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "program": p })))
}

pub async fn save_program(auth: ApiAuth, body: web::Json<Program>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let p = body.into_inner();
    let (saved, slug) = auth
        .state
        .db(move |c| {
            loyalty::save_program(c, &scope, &p)?;
            Ok((
                loyalty::program(c, &scope)?,
                patron_store::tenants::get(c, &scope)?.slug,
            ))
        })
        .await?;
    // The webhook answers check-ins from its cache of the tenant's settings.
    auth.state.tenant_changed(Some(&slug)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "program": saved })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LedgerQuery {
    limit: Option<i64>,
}

/// The follower's balance and latest entries.
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
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "follower_id": id,
        "balance": balance,
        "entries": entries,
        "stamp_cards": cards.iter().map(|(card, n)| serde_json::json!({
            "card_id": card.id, "name": card.name, "stamps": n, "required": card.stamps_required,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
pub struct PointsBody {
    /// `earn`, `spend` or `adjust`.
    pub kind: String,
    pub points: i64,
    #[serde(default)]
    pub reason: String,
    /// Makes the post once only: a retry with the same key changes nothing and answers
    /// with the balance.
    pub idempotency_key: Option<String>,
}

/// Posts points: 201 with the entry and balance, 200 for a repeated key, 409
/// `insufficient` when a debit exceeds the balance (nothing changes).
pub async fn post(auth: ApiAuth, id: web::Path<i64>, body: web::Json<PointsBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let b = body.into_inner();
    let s2 = scope.clone();
    // A stranger's follower is 404 before the body is judged.
    auth.state
        .db(move |c| patron_store::followers::get(c, &s2, id))
        .await?;
    let kind = Kind::parse(&b.kind).ok_or(patron_store::StoreError::from(validate::invalid(
        "kind",
        "invalid_choice",
    )))?;
    if b.idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 100)
    {
        return Err(patron_store::StoreError::from(validate::invalid(
            "idempotency_key",
            "too_long",
        ))
        .into());
    }
    let key = b.idempotency_key.map(|k| format!("api:{k}"));
    let posted = auth
        .state
        .db(move |c| {
            let program = loyalty::program(c, &scope)?;
            let post = Post {
                kind,
                points: b.points,
                source: "api",
                source_key: key.as_deref(),
                reason: &b.reason,
                user: None,
                expires_at: program.and_then(|p| p.expiry(patron_store::now())),
            };
            loyalty::post(c, &scope, id, &post)
        })
        .await?;
    Ok(match posted {
        loyalty::Posted::Done { .. } => HttpResponse::Created().json(&posted),
        loyalty::Posted::Duplicate { .. } => HttpResponse::Ok().json(&posted),
        loyalty::Posted::Insufficient { .. } => HttpResponse::Conflict().json(serde_json::json!({
            "error": { "code": "insufficient", "message": "The debit exceeds the balance; nothing changed.", "details": posted }
        })),
    })
}

/// An idempotency key is 1 to 100 bytes.
fn check_key(key: &Option<String>) -> Result<(), patron_store::StoreError> {
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 100) {
        return Err(validate::invalid("idempotency_key", "too_long").into());
    }
    Ok(())
}

pub async fn cards(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| stamps::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "stamp_cards": all })))
}

pub async fn create_card(auth: ApiAuth, body: web::Json<CardInput>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let input = body.into_inner();
    let card = auth
        .state
        .db(move |c| stamps::create(c, &scope, &input))
        .await?;
    Ok(HttpResponse::Created().json(card))
}

#[derive(Deserialize)]
pub struct StampBody {
    pub card_id: i64,
    /// Makes the stamp once only.
    pub idempotency_key: Option<String>,
}

/// Gives one stamp; a full card answers with its reward coupon.
pub async fn stamp(auth: ApiAuth, id: web::Path<i64>, body: web::Json<StampBody>) -> ApiResult {
    let scope = auth.require(Permission::Redeem)?.clone();
    let id = id.into_inner();
    let b = body.into_inner();
    let s2 = scope.clone();
    let card = b.card_id;
    auth.state
        .db(move |c| {
            patron_store::followers::get(c, &s2, id)?;
            stamps::get(c, &s2, card)
        })
        .await?;
    check_key(&b.idempotency_key)?;
    let key = b.idempotency_key.map(|k| format!("api:{k}"));
    let r = auth
        .state
        .db(move |c| {
            stamps::stamp(
                c,
                &scope,
                card,
                id,
                "api",
                key.as_deref(),
                Default::default(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(r))
}
