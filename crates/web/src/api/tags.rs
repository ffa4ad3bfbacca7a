//! `/api/v1/tags`: local follower tags.

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::{validate, Permission};
use patron_store::tags::{self, Tag};
use serde::{Deserialize, Serialize};

/// A tag and how many followers carry it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CountedTag {
    pub id: i64,
    pub name: String,
    pub followers: i64,
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TagList {
    pub tags: Vec<CountedTag>,
}

/// How many followers a change touched.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub changed: usize,
}

/// Tags with their follower counts.
#[utoipa::path(get, path = "/tags", operation_id = "listTags", tag = "tags",
    responses((status = 200, description = "The tags", body = TagList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let all = auth.state.db(move |c| tags::list(c, &scope)).await?;
    let tags = all
        .into_iter()
        .map(|(t, followers)| CountedTag {
            id: t.id,
            name: t.name,
            followers,
            created_at: t.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(TagList { tags }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TagBody {
    /// 1 to 30 bytes (WeChat's limit).
    pub name: String,
}

/// Creates a tag.
#[utoipa::path(post, path = "/tags", operation_id = "createTag", tag = "tags",
    request_body = TagBody,
    responses(
        (status = 201, description = "The tag", body = Tag),
        (status = 409, description = "A tag with this name exists", body = ErrorBody),
    ))]
pub async fn create(auth: ApiAuth, body: web::Json<TagBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let name = body.into_inner().name;
    let t = auth
        .state
        .db(move |c| tags::create(c, &scope, &name))
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// Deletes a tag from every follower.
#[utoipa::path(delete, path = "/tags/{tag_id}", operation_id = "deleteTag", tag = "tags",
    params(("tag_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such tag", body = ErrorBody),
    ))]
pub async fn delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state.db(move |c| tags::delete(c, &scope, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Either `follower_ids` or a `filter` (every follower it matches).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct ApplyBody {
    #[schema(max_items = 10000)]
    pub follower_ids: Vec<i64>,
    /// Instead of ids: every follower this filter matches (all pages).
    pub filter: Option<patron_store::followers::Filter>,
    /// `add` or `remove`.
    #[schema(pattern = "^(add|remove)$")]
    pub action: String,
}

/// Puts the tag on or takes it off followers (ids of other tenants are ignored).
#[utoipa::path(post, path = "/tags/{tag_id}/followers", operation_id = "applyTag", tag = "tags",
    params(("tag_id" = i64, Path)),
    request_body = ApplyBody,
    responses(
        (status = 200, description = "Followers changed", body = Changed),
        (status = 404, description = "No such tag", body = ErrorBody),
    ))]
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
    Ok(HttpResponse::Ok().json(Changed { changed }))
}
