//! A tenant's stores.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::{message, messages};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::{Permission, StoreId};
use patron_store::stores::{self, Store};
use patron_store::StoreError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "stores.html")]
struct StoresPage {
    page: Page,
    slug: String,
    stores: Vec<Store>,
    can_edit: bool,
    name: String,
    address: String,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StoreForm {
    csrf: String,
    name: String,
    address: String,
}

fn store_errors(ctx: &Ctx, e: StoreError) -> Result<Vec<String>, UiError> {
    match e {
        StoreError::Invalid(i) => Ok(messages(ctx.lang, &[i])),
        StoreError::Conflict(_) => Ok(message(ctx.lang, "err.store_name_taken")),
        other => Err(other.into()),
    }
}

async fn render_list(
    ctx: &Ctx,
    slug: &str,
    form: Option<StoreForm>,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::View).await?;
    let s2 = scope.clone();
    let list = ctx.state.db(move |c| stores::list(c, &s2)).await?;
    let page = ctx
        .page("stores", "stores.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let form = form.unwrap_or_default();
    Ok(html(
        &StoresPage {
            page,
            slug: tenant.slug,
            stores: list,
            can_edit: scope.may(Permission::ManageSettings),
            name: form.name,
            address: form.address,
            errors,
        },
        status,
    ))
}

pub async fn list(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render_list(&ctx, &slug, None, vec![]).await
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<StoreForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    ctx.check_csrf(&f.csrf)?;
    let (name, address) = (f.name.clone(), f.address.clone());
    match ctx
        .state
        .db(move |c| stores::create(c, &scope, &name, &address))
        .await
    {
        Ok(s) => {
            tracing::info!(store_id = s.id, "store created");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).stores(),
                "ok",
                "flash.store_created",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(e) => {
            let errors = store_errors(&ctx, e)?;
            render_list(&ctx, &slug, Some(f.into_inner()), errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "store_edit.html")]
struct StoreEditPage {
    page: Page,
    slug: String,
    store: Store,
    errors: Vec<String>,
}

pub async fn edit_form(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    let s2 = scope.clone();
    let store = ctx
        .state
        .db(move |c| stores::get(c, &s2, StoreId(id)))
        .await?;
    let page = ctx
        .page("stores", "stores.edit", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &StoreEditPage {
            page,
            slug: tenant.slug,
            store,
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

pub async fn update(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<StoreForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    ctx.check_csrf(&f.csrf)?;
    let s2 = scope.clone();
    let (name, address) = (f.name.clone(), f.address.clone());
    match ctx
        .state
        .db(move |c| stores::update(c, &s2, StoreId(id), &name, &address))
        .await
    {
        Ok(_) => Ok(redirect_flash(
            &paths::tenant(&tenant.slug).stores(),
            "ok",
            "flash.saved",
            ctx.state.cfg.secure_cookies,
        )),
        Err(e) => {
            let errors = store_errors(&ctx, e)?;
            let s3 = scope.clone();
            let mut store = ctx
                .state
                .db(move |c| stores::get(c, &s3, StoreId(id)))
                .await?;
            store.name = f.name.clone();
            store.address = f.address.clone();
            let page = ctx
                .page("stores", "stores.edit", Some((&scope, &tenant)))
                .await?;
            Ok(html(
                &StoreEditPage {
                    page,
                    slug: tenant.slug,
                    store,
                    errors,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
    }
}
