//! `/api/v1/attributes`, a follower's attribute values, and `/api/v1/segments`.

use super::{ApiAuth, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::followers::Filter;
use patron_store::{attributes, followers, segments};
use serde::Deserialize;
use std::collections::BTreeMap;

pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| attributes::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "attributes": all })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AttributeBody {
    pub key: String,
    pub label: String,
    /// `text`, `number`, `date` or `bool`.
    pub kind: String,
}

pub async fn create(auth: ApiAuth, body: web::Json<AttributeBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let a = auth
        .state
        .db(move |c| attributes::create(c, &scope, &b.key, &b.label, &b.kind))
        .await?;
    Ok(HttpResponse::Created().json(a))
}

pub async fn delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state
        .db(move |c| attributes::delete(c, &scope, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A follower's values as `{key: "text"}` (numbers, dates and bools as text too).
async fn values_json(
    auth: &ApiAuth,
    scope: patron_domain::TenantScope,
    id: i64,
) -> Result<BTreeMap<String, String>, super::ApiError> {
    Ok(auth
        .state
        .db(move |c| {
            followers::get(c, &scope, id)?;
            let defs = attributes::list(c, &scope)?;
            let mut v = attributes::values_with(c, &scope, &defs, &[id])?;
            let mine = v.remove(&id).unwrap_or_default();
            Ok(defs
                .into_iter()
                .filter_map(|d| {
                    mine.iter()
                        .find(|(a, _)| *a == d.id)
                        .map(|(_, v)| (d.key, v.display()))
                })
                .collect())
        })
        .await?)
}

pub async fn values(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let v = values_json(&auth, scope, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "attributes": v })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ValuesBody {
    /// `{key: "value"}`; an empty string clears. Keys not named are left alone.
    pub values: BTreeMap<String, String>,
}

pub async fn set_values(
    auth: ApiAuth,
    id: web::Path<i64>,
    body: web::Json<ValuesBody>,
) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let input: Vec<(String, String)> = body.into_inner().values.into_iter().collect();
    let s2 = scope.clone();
    auth.state
        .db(move |c| attributes::set_from_text(c, &s2, id, &input))
        .await?;
    let v = values_json(&auth, scope, id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "attributes": v })))
}

pub async fn segments_list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| segments::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "segments": all })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SegmentBody {
    pub name: String,
    pub filter: Filter,
}

pub async fn segment_create(auth: ApiAuth, body: web::Json<SegmentBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let s = auth
        .state
        .db(move |c| segments::create(c, &scope, &b.name, &b.filter))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

pub async fn segment_delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state
        .db(move |c| segments::delete(c, &scope, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Before {
    before: Option<i64>,
}

/// The segment's followers now (it is evaluated on each call), 50 a page.
pub async fn segment_followers(
    auth: ApiAuth,
    id: web::Path<i64>,
    q: web::Query<Before>,
) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, before) = (id.into_inner(), q.before);
    let (rows, more, count) = auth
        .state
        .db(move |c| {
            let mut f = segments::get(c, &scope, id)?.filter();
            let count = followers::count_matching(c, &scope, &f)?;
            f.before = before;
            let (rows, more) = followers::list(c, &scope, &f)?;
            Ok((rows, more, count))
        })
        .await?;
    let next_before = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "count": count, "followers": rows, "next_before": next_before })))
}
