//! Saved segments: a follower filter kept under a name, evaluated again whenever it is
//! opened, exported or issued to.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::redirect_flash;
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::followers::Filter;
use patron_store::{segments, StoreError};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SegmentForm {
    csrf: String,
    name: String,
    /// The followers filter as a query string.
    filter: String,
}

pub async fn create_segment(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<SegmentForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let filter: Filter = serde_urlencoded::from_str(&f.filter)
        .map_err(|_| UiError::BadRequest("filter is not a followers filter".into()))?;
    let list = paths::tenant(&tenant.slug).followers();
    let secure = ctx.state.cfg.secure_cookies;
    Ok(
        match ctx
            .state
            .db(move |c| segments::create(c, &scope, &f.name, &filter))
            .await
        {
            Ok(s) => redirect_flash(
                &paths::tenant(&tenant.slug).segment(s.id),
                "ok",
                "flash.segment_saved",
                secure,
            ),
            Err(StoreError::Conflict(_)) => {
                redirect_flash(&list, "err", "flash.segment_taken", secure)
            }
            Err(StoreError::Invalid(_)) => {
                redirect_flash(&list, "err", "flash.segment_invalid", secure)
            }
            Err(e) => return Err(e.into()),
        },
    )
}

/// Opens a segment: the followers list with its filter, evaluated now.
pub async fn open_segment(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let seg = ctx.state.db(move |c| segments::get(c, &scope, id)).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            "Location",
            paths::tenant(&tenant.slug).followers_where(&seg.filter().query()),
        ))
        .finish())
}

pub async fn delete_segment(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| segments::delete(c, &scope, id))
        .await?;
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).followers(),
        "ok",
        "flash.segment_deleted",
        ctx.state.cfg.secure_cookies,
    ))
}
