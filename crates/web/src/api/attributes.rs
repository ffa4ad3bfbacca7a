//! `/api/v1/attributes`, a follower's attribute values, and `/api/v1/segments`.

use super::followers::{next_before, Before};
use super::{ApiAuth, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::attributes::Attribute;
use patron_store::followers::{Filter, Follower};
use patron_store::segments::Segment;
use patron_store::{attributes, followers, segments};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttributeList {
    pub attributes: Vec<Attribute>,
}

/// A follower's attribute values.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttributeValues {
    /// key → value as text (numbers, `YYYY-MM-DD` dates, `true`/`false`).
    pub attributes: BTreeMap<String, String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SegmentList {
    pub segments: Vec<Segment>,
}

/// A page of a segment's followers, evaluated now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SegmentFollowers {
    /// How many followers the segment matches now.
    pub count: i64,
    pub followers: Vec<Follower>,
    /// Pass as `before` for the next page; null on the last.
    pub next_before: Option<i64>,
}

/// The tenant's custom attributes.
#[utoipa::path(get, path = "/attributes", operation_id = "listAttributes", tag = "attributes",
    responses((status = 200, description = "The attributes", body = AttributeList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let attributes = auth.state.db(move |c| attributes::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(AttributeList { attributes }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct AttributeBody {
    #[schema(pattern = "^[a-z][a-z0-9_]{0,31}$")]
    pub key: String,
    pub label: String,
    /// `text`, `number`, `date` or `bool`.
    #[schema(pattern = "^(text|number|date|bool)$")]
    pub kind: String,
}

/// Defines a custom attribute.
#[utoipa::path(post, path = "/attributes", operation_id = "createAttribute", tag = "attributes",
    request_body = AttributeBody,
    responses(
        (status = 201, description = "The attribute", body = Attribute),
        (status = 409, description = "Key taken", body = ErrorBody),
    ))]
pub async fn create(auth: ApiAuth, body: web::Json<AttributeBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let a = auth
        .state
        .db(move |c| attributes::create(c, &scope, &b.key, &b.label, &b.kind))
        .await?;
    Ok(HttpResponse::Created().json(a))
}

/// Deletes an attribute and every follower's value of it.
#[utoipa::path(delete, path = "/attributes/{attribute_id}", operation_id = "deleteAttribute", tag = "attributes",
    params(("attribute_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such attribute", body = ErrorBody),
    ))]
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

/// A follower's attribute values.
#[utoipa::path(get, path = "/followers/{follower_id}/attributes", operation_id = "followerAttributes", tag = "attributes",
    params(("follower_id" = i64, Path)),
    responses(
        (status = 200, description = "The values", body = AttributeValues),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
pub async fn values(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let attributes = values_json(&auth, scope, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AttributeValues { attributes }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ValuesBody {
    /// `{key: "value"}`; an empty string clears. Keys not named are left alone.
    pub values: BTreeMap<String, String>,
}

/// Sets some of a follower's attribute values (all or nothing).
#[utoipa::path(put, path = "/followers/{follower_id}/attributes", operation_id = "putFollowerAttributes", tag = "attributes",
    params(("follower_id" = i64, Path)),
    request_body = ValuesBody,
    responses(
        (status = 200, description = "The values after the change", body = AttributeValues),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
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
    let attributes = values_json(&auth, scope, id).await?;
    Ok(HttpResponse::Ok().json(AttributeValues { attributes }))
}

/// The saved segments (each with its filter as a query string).
#[utoipa::path(get, path = "/segments", operation_id = "listSegments", tag = "segments",
    responses((status = 200, description = "The segments", body = SegmentList)))]
pub async fn segments_list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let segments = auth.state.db(move |c| segments::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(SegmentList { segments }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct SegmentBody {
    pub name: String,
    pub filter: Filter,
}

/// Saves a followers filter as a segment.
#[utoipa::path(post, path = "/segments", operation_id = "createSegment", tag = "segments",
    request_body = SegmentBody,
    responses(
        (status = 201, description = "The segment", body = Segment),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
pub async fn segment_create(auth: ApiAuth, body: web::Json<SegmentBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let s = auth
        .state
        .db(move |c| segments::create(c, &scope, &b.name, &b.filter))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Deletes a segment (its followers are not changed).
#[utoipa::path(delete, path = "/segments/{segment_id}", operation_id = "deleteSegment", tag = "segments",
    params(("segment_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such segment", body = ErrorBody),
    ))]
pub async fn segment_delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state
        .db(move |c| segments::delete(c, &scope, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The segment's followers now (it is evaluated on each call), 50 a page.
#[utoipa::path(get, path = "/segments/{segment_id}/followers", operation_id = "segmentFollowers", tag = "segments",
    params(("segment_id" = i64, Path), Before),
    responses(
        (status = 200, description = "A page of the segment's followers", body = SegmentFollowers),
        (status = 404, description = "No such segment", body = ErrorBody),
    ))]
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
    Ok(HttpResponse::Ok().json(SegmentFollowers {
        count,
        next_before: next_before(&rows, more, |r| r.id),
        followers: rows,
    }))
}
