//! Accepting an invitation: newcomers choose a name and password; someone who already has
//! an account signs in and accepts, and the role is added to that account.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::{message, messages, start_session};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::validate;
use patron_store::invitations::{self, Acceptor, Invitation};
use patron_store::{tenants, users};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    page: Page,
    token: String,
    email: String,
    role: String,
    place: String,
    /// The invited address already has an account.
    existing: bool,
    /// The signed-in user is that account.
    signed_in_as_invitee: bool,
    name: String,
    errors: Vec<String>,
}

struct Loaded {
    inv: Invitation,
    place: String,
    existing: bool,
}

async fn load(ctx: &Ctx, token: &str) -> Result<Loaded, UiError> {
    let t = token.to_string();
    Ok(ctx
        .state
        .db(move |c| {
            let inv = invitations::find_open(c, &t)?;
            let place = match inv.tenant_id {
                Some(id) => {
                    let scope = tenants::find_ref_by_id(c, patron_domain::TenantId(id))?
                        .map(patron_domain::TenantScope::system)
                        .ok_or(patron_store::StoreError::NotFound)?;
                    tenants::get(c, &scope)?.name
                }
                None => tenants::agency(c, patron_domain::AgencyId(inv.agency_id))?.name,
            };
            let existing = users::by_email(c, &inv.email)?.is_some();
            Ok(Loaded {
                inv,
                place,
                existing,
            })
        })
        .await?)
}

fn render(
    ctx: &Ctx,
    page: Page,
    token: String,
    l: &Loaded,
    name: String,
    errors: Vec<String>,
    status: StatusCode,
) -> HttpResponse {
    let role_key = format!("role.{}", l.inv.role);
    html(
        &InvitePage {
            page,
            token,
            email: l.inv.email.clone(),
            role: ctx.lang.t(&role_key).to_string(),
            place: l.place.clone(),
            existing: l.existing,
            signed_in_as_invitee: ctx
                .auth
                .as_ref()
                .is_some_and(|a| a.user.email == l.inv.email),
            name,
            errors,
        },
        status,
    )
}

pub async fn form(ctx: Ctx, token: web::Path<String>) -> Result<HttpResponse, UiError> {
    let l = load(&ctx, &token).await?;
    let page = ctx.page("invite", "invite.title", None).await?;
    Ok(render(
        &ctx,
        page,
        token.into_inner(),
        &l,
        String::new(),
        vec![],
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AcceptForm {
    csrf: String,
    name: String,
    password: String,
    password_confirm: String,
}

pub async fn accept(
    ctx: Ctx,
    token: web::Path<String>,
    f: web::Form<AcceptForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let l = load(&ctx, &token).await?;
    let token = token.into_inner();
    if l.existing {
        // An existing account accepts only while signed in as itself.
        let Some(auth) = ctx.auth.as_ref().filter(|a| a.user.email == l.inv.email) else {
            return Err(UiError::LoginRequired {
                next: paths::Site.invite(&token),
            });
        };
        let uid = auth.user.id();
        ctx.state
            .db(move |c| invitations::accept(c, &token, Acceptor::Existing(uid)))
            .await?;
        return Ok(redirect_flash(
            paths::HOME,
            "ok",
            "flash.invitation_accepted",
            ctx.state.cfg.secure_cookies,
        ));
    }
    let mut errs = Vec::new();
    let name = validate::name("name", &f.name)
        .map_err(|e| errs.push(e))
        .ok();
    let _ = validate::password(&f.password).map_err(|e| errs.push(e));
    let mut errors = messages(ctx.lang, &errs);
    if f.password != f.password_confirm {
        errors.extend(message(ctx.lang, "err.password_mismatch"));
    }
    let (Some(name), true) = (name, errors.is_empty()) else {
        let page = ctx.page("invite", "invite.title", None).await?;
        return Ok(render(
            &ctx,
            page,
            token,
            &l,
            f.name.clone(),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let pw = f.password.clone();
    let hash = web::block(move || crate::password::hash(&pw))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let locale = ctx.lang.code().to_string();
    let user = ctx
        .state
        .db(move |c| {
            invitations::accept(
                c,
                &token,
                Acceptor::NewUser {
                    name: &name,
                    password_hash: &hash,
                    locale: Some(&locale),
                },
            )
        })
        .await?;
    tracing::info!(user_id = user.id, "invitation accepted");
    start_session(
        &ctx,
        user.id(),
        paths::HOME,
        Some("flash.invitation_accepted"),
    )
    .await
}
