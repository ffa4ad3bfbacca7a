//! Custom attributes (defined on the followers page, filled in on a follower's page) and
//! saved segments (a named followers filter).

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::redirect_flash;
use actix_web::{web, HttpResponse};
use patron_domain::Permission;
use patron_store::{attributes, StoreError};
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AttributeForm {
    csrf: String,
    key: String,
    label: String,
    kind: String,
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<AttributeForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let list = paths::tenant(&tenant.slug).followers();
    let secure = ctx.state.cfg.secure_cookies;
    Ok(
        match ctx
            .state
            .db(move |c| attributes::create(c, &scope, &f.key, &f.label, &f.kind))
            .await
        {
            Ok(a) => {
                tracing::info!(tenant = %tenant.slug, key = %a.key, "attribute created");
                redirect_flash(&list, "ok", "flash.attribute_created", secure)
            }
            Err(StoreError::Conflict(_)) => {
                redirect_flash(&list, "err", "flash.attribute_taken", secure)
            }
            Err(StoreError::Invalid(i)) => {
                tracing::info!(tenant = %tenant.slug, error = %i, "attribute refused");
                redirect_flash(&list, "err", "flash.attribute_invalid", secure)
            }
            Err(e) => return Err(e.into()),
        },
    )
}

pub async fn delete(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| attributes::delete(c, &scope, id))
        .await?;
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).followers(),
        "ok",
        "flash.attribute_deleted",
        ctx.state.cfg.secure_cookies,
    ))
}

/// Sets a follower's attribute values from the form (`attr.<key>` fields).
pub async fn set_values(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let mut csrf = String::new();
    let mut values = Vec::new();
    for (k, v) in crate::forms::form_pairs(&body) {
        if k == "csrf" {
            csrf = v;
        } else if let Some(key) = k.strip_prefix("attr.") {
            values.push((key.to_string(), v));
        }
    }
    ctx.check_csrf(&csrf)?;
    let back = paths::tenant(&tenant.slug).follower(id);
    let secure = ctx.state.cfg.secure_cookies;
    Ok(
        match ctx
            .state
            .db(move |c| attributes::set_from_text(c, &scope, id, &values))
            .await
        {
            Ok(()) => redirect_flash(&back, "ok", "flash.saved", secure),
            Err(StoreError::Invalid(i)) => {
                tracing::info!(tenant = %tenant.slug, error = %i, "attribute values refused");
                redirect_flash(&back, "err", "flash.attribute_value_invalid", secure)
            }
            Err(e) => return Err(e.into()),
        },
    )
}
