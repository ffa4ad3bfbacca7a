//! Per-tenant API tokens: created here, shown once, revocable.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::{ApiTokenId, Permission};
use patron_store::api_tokens::{self, ApiToken};
use patron_store::StoreError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    page: Page,
    slug: String,
    tokens: Vec<ApiToken>,
    /// The plaintext of a token just created: shown on this response only.
    created: Option<String>,
    errors: Vec<String>,
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    created: Option<String>,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::ManageTokens).await?;
    let s2 = scope.clone();
    let tokens = ctx.state.db(move |c| api_tokens::list(c, &s2)).await?;
    let page = ctx
        .page("tokens", "tokens.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &TokensPage {
            page,
            slug: tenant.slug,
            tokens,
            created,
            errors,
        },
        status,
    ))
}

pub async fn list(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, None, vec![], StatusCode::OK).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    csrf: String,
    name: String,
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TokenForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, _) = ctx.tenant(&slug, Permission::ManageTokens).await?;
    ctx.check_csrf(&f.csrf)?;
    let by = ctx.require_user()?.user.id();
    let name = f.name.clone();
    match ctx
        .state
        .db(move |c| api_tokens::create(c, &scope, &name, Some(by)))
        .await
    {
        Ok((t, plain)) => {
            tracing::info!(token_id = t.id, "API token created");
            render(&ctx, &slug, Some(plain), vec![], StatusCode::OK).await
        }
        Err(StoreError::Invalid(i)) => {
            render(
                &ctx,
                &slug,
                None,
                messages(ctx.lang, &[i]),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageTokens).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| api_tokens::revoke(c, &scope, ApiTokenId(id)))
        .await?;
    // This process stops taking it at once; the others at their next epoch poll.
    ctx.state.forget_cached(Some(&tenant.slug));
    tracing::info!(token_id = id, "API token revoked");
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).tokens(),
        "ok",
        "flash.token_revoked",
        ctx.state.cfg.secure_cookies,
    ))
}
