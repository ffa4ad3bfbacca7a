//! Tags: creating and deleting them, putting them on and off followers (one, a selection or
//! a whole filter result), and syncing them with WeChat's.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::redirect_flash;
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::followers::Filter;
use patron_store::StoreError;
use serde::Deserialize;

/// Tags on or off many followers at once (checkboxes on the list), or one (follower page).
pub async fn apply_tag(
    ctx: Ctx,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let (mut csrf, mut tag, mut on, mut ids, mut back) =
        (String::new(), None, true, Vec::new(), String::new());
    let (mut all, mut filter_q) = (false, String::new());
    for (k, v) in crate::forms::form_pairs(&body) {
        match k.as_str() {
            "csrf" => csrf = v,
            "tag_id" => tag = v.parse::<i64>().ok(),
            "action" => on = v != "remove",
            "follower_ids" => ids.push(
                v.parse::<i64>()
                    .map_err(|_| UiError::BadRequest("follower_ids must be numbers".into()))?,
            ),
            "back" => back = v,
            "scope" => all = v == "all",
            "filter" => filter_q = v,
            _ => {}
        }
    }
    ctx.check_csrf(&csrf)?;
    let list = paths::tenant(&tenant.slug).followers();
    let back = super::safe_next(&back).unwrap_or(&list).to_string();
    if let (true, Some(tag)) = (all, tag) {
        let filter: Filter = serde_urlencoded::from_str(&filter_q)
            .map_err(|_| UiError::BadRequest("filter is not a followers filter".into()))?;
        let n = ctx
            .state
            .db(move |c| patron_store::tags::apply_filter(c, &scope, tag, &filter, on))
            .await?;
        tracing::info!(
            tag,
            changed = n,
            on,
            "tags applied to a whole filter result"
        );
        return Ok(redirect_flash(
            &back,
            "ok",
            "flash.tags_applied",
            ctx.state.cfg.secure_cookies,
        ));
    }
    let (Some(tag), false) = (tag, ids.is_empty()) else {
        return Ok(redirect_flash(
            &back,
            "err",
            "flash.tag_pick",
            ctx.state.cfg.secure_cookies,
        ));
    };
    let n = ctx
        .state
        .db(move |c| patron_store::tags::apply(c, &scope, tag, &ids, on))
        .await?;
    tracing::info!(tag, changed = n, on, "tags applied");
    Ok(redirect_flash(
        &back,
        "ok",
        "flash.tags_applied",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TagForm {
    csrf: String,
    name: String,
}

pub async fn create_tag(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TagForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let name = f.name.clone();
    let list = paths::tenant(&tenant.slug).followers();
    let secure = ctx.state.cfg.secure_cookies;
    Ok(
        match ctx
            .state
            .db(move |c| patron_store::tags::create(c, &scope, &name))
            .await
        {
            Ok(_) => redirect_flash(&list, "ok", "flash.tag_created", secure),
            Err(StoreError::Conflict(_)) => redirect_flash(&list, "err", "flash.tag_taken", secure),
            Err(StoreError::Invalid(_)) => {
                redirect_flash(&list, "err", "flash.tag_invalid", secure)
            }
            Err(e) => return Err(e.into()),
        },
    )
}

pub async fn delete_tag(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| patron_store::tags::delete(c, &scope, id))
        .await?;
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).followers(),
        "ok",
        "flash.tag_deleted",
        ctx.state.cfg.secure_cookies,
    ))
}

/// Queues a sync of the tenant's tags with WeChat's (one at a time).
pub async fn sync_tags(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).followers();
    let secure = ctx.state.cfg.secure_cookies;
    if tenant.wx_appid.is_none() || !tenant.has_secret().app_secret {
        return Ok(redirect_flash(
            &back,
            "err",
            "flash.sync_needs_settings",
            secure,
        ));
    }
    let id = ctx
        .state
        .db(move |c| patron_app::jobs::sync_tags(c, &scope))
        .await?;
    tracing::info!(job_id = id.0, tenant = %tenant.slug, "tag sync queued");
    // The jobs page follows it and tells why, should it fail.
    let jobs = paths::tenant(&tenant.slug).jobs();
    Ok(redirect_flash(&jobs, "ok", "flash.tag_sync_queued", secure))
}
