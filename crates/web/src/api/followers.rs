//! `/api/v1/followers`: the followers CRM and the archive.

use super::{ApiAuth, ApiError, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::followers::{self, Filter, Profile};
use serde::Deserialize;

pub async fn list(auth: ApiAuth, q: web::Query<Filter>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let f = q.into_inner();
    // The page reads an empty value as "any"; the API takes only what its document says.
    if !matches!(f.subscribed.as_str(), "" | "yes" | "no") {
        return Err(ApiError::invalid(vec![patron_domain::validate::invalid(
            "subscribed",
            "invalid_choice",
        )]));
    }
    let (rows, more) = auth
        .state
        .db(move |c| followers::list(c, &scope, &f))
        .await?;
    let next_before = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "followers": rows, "next_before": next_before })))
}

/// Followers at a glance: the counts the dashboard shows.
pub async fn summary(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let today = chrono::Utc::now().date_naive();
    let cap = patron_app::followers::MATCH_CAP;
    let g = auth
        .state
        .db(move |c| followers::glance(c, &scope, today, cap))
        .await?;
    Ok(HttpResponse::Ok().json(g))
}

pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let f = auth
        .state
        .db(move |c| followers::get(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok().json(f))
}

pub async fn update(auth: ApiAuth, id: web::Path<i64>, body: web::Json<Profile>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let p = body.into_inner();
    let f = auth
        .state
        .db(move |c| followers::update_profile(c, &scope, id, &p))
        .await?;
    Ok(HttpResponse::Ok().json(f))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Before {
    before: Option<i64>,
}

pub async fn messages(auth: ApiAuth, id: web::Path<i64>, q: web::Query<Before>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, before) = (id.into_inner(), q.before);
    let (rows, more) = auth
        .state
        .db(move |c| {
            followers::get(c, &scope, id)?;
            followers::timeline(c, &scope, id, before)
        })
        .await
        .map_err(ApiError::from)?;
    let next_before = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "messages": rows, "next_before": next_before })),
    )
}

pub async fn notes(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let notes = auth
        .state
        .db(move |c| {
            followers::get(c, &scope, id)?;
            followers::notes(c, &scope, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "notes": notes })))
}

#[derive(Deserialize)]
pub struct NoteBody {
    pub body: String,
}

pub async fn add_note(auth: ApiAuth, id: web::Path<i64>, body: web::Json<NoteBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, text) = (id.into_inner(), body.into_inner().body);
    let note = auth
        .state
        .db(move |c| followers::add_note(c, &scope, id, (None, "API"), &text))
        .await?;
    Ok(HttpResponse::Created().json(note))
}
