//! A tenant's users: who has which role, invitations, removal.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::AppError;
use patron_domain::{InvitationId, Permission, Role, UserId};
use patron_store::invitations::{self, Invitation};
use patron_store::stores::{self, Store};
use patron_store::users::{self, Member};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    page: Page,
    slug: String,
    /// The tenant's time zone, for the invitations' expiry.
    tz: String,
    me: i64,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    stores: Vec<Store>,
    roles: Vec<(&'static str, String)>,
    email: String,
    errors: Vec<String>,
}

impl MembersPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn role_name(&self, role: &str) -> String {
        self.page.t(&format!("role.{role}")).to_string()
    }
    fn store_names(&self, ids: &[i64]) -> String {
        self.stores
            .iter()
            .filter(|s| ids.contains(&s.id))
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    email: String,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::ManageUsers).await?;
    let s2 = scope.clone();
    let (members, invitations, stores) = ctx
        .state
        .db(move |c| {
            Ok((
                users::tenant_members(c, &s2)?,
                invitations::list_open_for_tenant(c, &s2)?,
                stores::list(c, &s2)?,
            ))
        })
        .await?;
    let roles = Role::ALL
        .into_iter()
        .filter(|r| scope.may_grant(*r))
        .map(|r| {
            (
                r.as_str(),
                ctx.lang.t(&format!("role.{}", r.as_str())).to_string(),
            )
        })
        .collect();
    let page = ctx
        .page("users", "members.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &MembersPage {
            page,
            slug: tenant.slug,
            tz: tenant.time_zone,
            me: ctx.require_user()?.user.id,
            members,
            invitations,
            stores,
            roles,
            email,
            errors,
        },
        status,
    ))
}

pub async fn list(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, String::new(), vec![]).await
}

/// The invite form. `store_ids` repeats (one per checked box), so it is parsed by hand.
pub async fn invite(
    ctx: Ctx,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageUsers).await?;
    let mut csrf = String::new();
    let mut email = String::new();
    let mut role = String::new();
    let mut store_ids = Vec::new();
    for (k, v) in crate::forms::form_pairs(&body) {
        match k.as_str() {
            "csrf" => csrf = v,
            "email" => email = v,
            "role" => role = v,
            "store_ids" => match v.parse() {
                Ok(id) => store_ids.push(id),
                Err(_) => return Err(UiError::BadRequest("store_ids must be numbers".into())),
            },
            _ => {}
        }
    }
    ctx.check_csrf(&csrf)?;
    let by = ctx.require_user()?.user.id();
    match crate::notify::invite(
        &ctx.state,
        ctx.lang,
        &scope,
        &email,
        &role,
        &store_ids,
        Some(by),
    )
    .await
    {
        Ok((_, sent)) => {
            let (kind, key) = if sent {
                ("ok", "flash.invitation_sent")
            } else {
                ("err", "flash.mail_failed")
            };
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).users(),
                kind,
                key,
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(AppError::Invalid(errs)) => render(&ctx, &slug, email, messages(ctx.lang, &errs)).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_invitation(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageUsers).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| invitations::revoke_for_tenant(c, &scope, InvitationId(id)))
        .await?;
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).users(),
        "ok",
        "flash.invitation_revoked",
        ctx.state.cfg.secure_cookies,
    ))
}

pub async fn remove(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageUsers).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).users();
    if ctx.require_user()?.user.id == id {
        return Ok(redirect_flash(
            &back,
            "err",
            "flash.cannot_remove_self",
            ctx.state.cfg.secure_cookies,
        ));
    }
    ctx.state
        .db(move |c| users::remove_from_tenant(c, &scope, UserId(id)))
        .await?;
    Ok(redirect_flash(
        &back,
        "ok",
        "flash.member_removed",
        ctx.state.cfg.secure_cookies,
    ))
}
