//! `/api/v1/tags`: local follower tags.

use super::{ApiAuth, ApiError, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::{validate, Permission};
use patron_store::tags;
use serde::Deserialize;

pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| tags::list(c, &scope)).await?;
    let out: Vec<serde_json::Value> = all
        .into_iter()
        .map(|(t, n)| serde_json::json!({ "id": t.id, "name": t.name, "followers": n, "created_at": t.created_at }))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tags": out })))
}

#[derive(Deserialize)]
pub struct TagBody {
    pub name: String,
}

pub async fn create(auth: ApiAuth, body: web::Json<TagBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let name = body.into_inner().name;
    let t = auth
        .state
        .db(move |c| tags::create(c, &scope, &name))
        .await?;
    Ok(HttpResponse::Created().json(t))
}

pub async fn delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state.db(move |c| tags::delete(c, &scope, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ApplyBody {
    pub follower_ids: Vec<i64>,
    /// Instead of ids: every follower this filter matches (all pages).
    pub filter: Option<patron_store::followers::Filter>,
    /// `add` or `remove`.
    pub action: String,
}

/// Puts the tag on or takes it off followers (ids of other tenants are ignored).
pub async fn apply(auth: ApiAuth, id: web::Path<i64>, body: web::Json<ApplyBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let on = match b.action.as_str() {
        "add" => true,
        "remove" => false,
        _ => {
            return Err(ApiError::invalid(vec![validate::invalid(
                "action",
                "invalid_choice",
            )]))
        }
    };
    if b.follower_ids.len() > 10_000 {
        return Err(ApiError::invalid(vec![validate::invalid(
            "follower_ids",
            "too_long",
        )]));
    }
    let id = id.into_inner();
    let changed = auth
        .state
        .db(move |c| match &b.filter {
            Some(f) => tags::apply_filter(c, &scope, id, f, on),
            None => tags::apply(c, &scope, id, &b.follower_ids, on),
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "changed": changed })))
}
