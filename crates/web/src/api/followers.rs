//! `/api/v1/followers`: the followers CRM and the archive.

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::followers::{self, ArchivedMessage, Filter, Follower, Glance, Note, Profile};
use serde::{Deserialize, Serialize};

/// A page of followers, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FollowerPage {
    pub followers: Vec<Follower>,
    /// Pass as `before` for the next page; null on the last.
    pub next_before: Option<i64>,
}

/// A page of a follower's messages and events, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub messages: Vec<ArchivedMessage>,
    /// Pass as `before` for the next page; null on the last.
    pub next_before: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NoteList {
    pub notes: Vec<Note>,
}

/// The id of the last row of a page when there are more.
pub(super) fn next_before<T>(rows: &[T], more: bool, id: impl Fn(&T) -> i64) -> Option<i64> {
    if more {
        rows.last().map(id)
    } else {
        None
    }
}

/// Followers, newest first, 50 a page.
#[utoipa::path(get, path = "/followers", operation_id = "listFollowers", tag = "followers",
    params(Filter),
    responses((status = 200, description = "A page of followers", body = FollowerPage)))]
pub async fn list(auth: ApiAuth, q: web::Query<Filter>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let f = q.into_inner();
    // The page reads an empty value as "any"; the API takes only what its document says.
    if !matches!(f.subscribed.as_str(), "" | "yes" | "no" | "unknown") {
        return Err(ApiError::invalid(vec![patron_domain::validate::invalid(
            "subscribed",
            "invalid_choice",
        )]));
    }
    let (rows, more) = auth
        .state
        .db(move |c| followers::list(c, &scope, &f))
        .await?;
    Ok(HttpResponse::Ok().json(FollowerPage {
        next_before: next_before(&rows, more, |r| r.id),
        followers: rows,
    }))
}

/// Followers at a glance: the counts the dashboard shows (each stops counting at 10,000
/// and says `more`).
#[utoipa::path(get, path = "/followers/summary", operation_id = "followersSummary", tag = "followers",
    responses((status = 200, description = "The counts", body = Glance)))]
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

/// One follower.
#[utoipa::path(get, path = "/followers/{follower_id}", operation_id = "getFollower", tag = "followers",
    params(("follower_id" = i64, Path)),
    responses(
        (status = 200, description = "The follower", body = Follower),
        (status = 404, description = "No such follower in this tenant", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let f = auth
        .state
        .db(move |c| followers::get(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok().json(f))
}

/// Sets the merchant-filled profile (name, phone, email, birthday `YYYY-MM-DD`, remark).
#[utoipa::path(put, path = "/followers/{follower_id}", operation_id = "putFollower", tag = "followers",
    params(("follower_id" = i64, Path)),
    request_body = Profile,
    responses(
        (status = 200, description = "The follower", body = Follower),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
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

/// Keyset paging.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Before {
    /// Only rows with a smaller id (the previous page's `next_before`).
    pub before: Option<i64>,
}

/// The follower's messages and events, newest first, 50 a page.
#[utoipa::path(get, path = "/followers/{follower_id}/messages", operation_id = "followerMessages", tag = "followers",
    params(("follower_id" = i64, Path), Before),
    responses(
        (status = 200, description = "A page of the archive", body = MessagePage),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
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
    Ok(HttpResponse::Ok().json(MessagePage {
        next_before: next_before(&rows, more, |r| r.id),
        messages: rows,
    }))
}

/// The follower's notes, newest first.
#[utoipa::path(get, path = "/followers/{follower_id}/notes", operation_id = "followerNotes", tag = "followers",
    params(("follower_id" = i64, Path)),
    responses(
        (status = 200, description = "The notes", body = NoteList),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
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
    Ok(HttpResponse::Ok().json(NoteList { notes }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NoteBody {
    #[schema(max_length = 2000)]
    pub body: String,
}

/// Adds a note to a follower.
#[utoipa::path(post, path = "/followers/{follower_id}/notes", operation_id = "addFollowerNote", tag = "followers",
    params(("follower_id" = i64, Path)),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The note", body = Note),
        (status = 404, description = "No such follower", body = ErrorBody),
    ))]
pub async fn add_note(auth: ApiAuth, id: web::Path<i64>, body: web::Json<NoteBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let (id, text) = (id.into_inner(), body.into_inner().body);
    let note = auth
        .state
        .db(move |c| followers::add_note(c, &scope, id, (None, "API"), &text))
        .await?;
    Ok(HttpResponse::Created().json(note))
}
