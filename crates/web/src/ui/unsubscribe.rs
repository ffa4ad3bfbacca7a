//! Stopping a follower's email: the signed link in every broadcast email. Opening it
//! asks to confirm (mail scanners open links; they must not unsubscribe anyone); the
//! confirmation, or a mail client's one-click request (RFC 8058, a POST with
//! `List-Unsubscribe=One-Click`), records it. The link is the credential, bound to one
//! tenant and one follower and signed for this purpose only, so there is no session and
//! no CSRF token: a forged request would need the follower's link.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, Page};
use crate::ui::follower_page::open_for;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::links::Purpose;

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    page: Page,
    shop: String,
    /// Where the confirmation posts (this same link).
    action: String,
    done: bool,
}

async fn render(
    ctx: &Ctx,
    shop: String,
    action: String,
    done: bool,
) -> Result<HttpResponse, UiError> {
    let mut page = ctx.page("unsubscribe", "unsubscribe.title", None).await?;
    page.user = None;
    Ok(html(
        &UnsubscribePage {
            page,
            shop,
            action,
            done,
        },
        StatusCode::OK,
    ))
}

pub async fn form(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, UiError> {
    let (slug, token) = path.into_inner();
    let (_, tenant, _) = open_for(&ctx, Purpose::Unsubscribe, &slug, &token).await?;
    let action = patron_app::links::UNSUBSCRIBE
        .replace("{tenant}", &slug)
        .replace("{token}", &token);
    render(&ctx, tenant.name, action, false).await
}

pub async fn confirm(ctx: Ctx, path: web::Path<(String, String)>) -> Result<HttpResponse, UiError> {
    let (slug, token) = path.into_inner();
    let (scope, tenant, follower) = open_for(&ctx, Purpose::Unsubscribe, &slug, &token).await?;
    let withdrawn = ctx
        .state
        .db(move |c| patron_store::followers::unsubscribe_email(c, &scope, follower))
        .await?;
    tracing::info!(tenant = %slug, follower, withdrawn, "email unsubscribe");
    render(&ctx, tenant.name, String::new(), true).await
}
