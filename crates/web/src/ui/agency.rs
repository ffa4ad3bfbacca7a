//! The agency's own pages: its tenants, its administrators.

use super::tenant_form::{suggested_token, TenantForm, TenantFormPage};
use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::{message, messages, send_mail};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::validate;

use patron_store::tenants::{self, Tenant, TenantInput};
use patron_store::users::{self, User};
use patron_store::{invitations, StoreError};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "agency_tenants.html")]
struct TenantsPage {
    page: Page,
    tenants: Vec<Tenant>,
}

pub async fn tenants(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    let list = ctx
        .state
        .db(move |c| tenants::list_for_agency(c, &scope))
        .await?;
    let page = ctx
        .page("agency_tenants", "agency.tenants.title", None)
        .await?;
    Ok(html(
        &TenantsPage {
            page,
            tenants: list,
        },
        StatusCode::OK,
    ))
}

pub async fn new_tenant(ctx: Ctx) -> Result<HttpResponse, UiError> {
    ctx.agency()?;
    let page = ctx
        .page("agency_tenants", "agency.new_tenant", None)
        .await?;
    let input = TenantInput {
        time_zone: validate::DEFAULT_TIME_ZONE.into(),
        ..Default::default()
    };
    Ok(html(
        &TenantFormPage {
            page,
            action: paths::AGENCY_TENANTS.into(),
            is_new: true,
            input,
            secrets: None,
            webhook_url: None,
            errors: vec![],
            weak_token: false,
            suggested_token: suggested_token(),
            may_change_api_base: true,
        },
        StatusCode::OK,
    ))
}

pub async fn create_tenant(ctx: Ctx, f: web::Form<TenantForm>) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let checked = tenants::validate(&f.input).and_then(|valid| {
        patron_app::tenants::check_api_base(
            ctx.state.cfg.allow_loopback_api_base,
            None,
            None,
            &valid,
        )
        .map(|()| valid)
        .map_err(|e| vec![e])
    });
    let errors = match checked {
        Err(errs) => messages(ctx.lang, &errs),
        Ok(valid) => {
            let sb = ctx.state.secrets.clone();
            match ctx
                .state
                .db(move |c| tenants::create(c, &scope, &valid, &sb))
                .await
            {
                Ok(t) => {
                    tracing::info!(tenant_id = t.id, slug = %t.slug, "tenant created");
                    // Another process may have cached this slug as unknown.
                    ctx.state.forget_cached(None);
                    return Ok(redirect_flash(
                        &paths::tenant(&t.slug).home(),
                        "ok",
                        "flash.tenant_created",
                        ctx.state.cfg.secure_cookies,
                    ));
                }
                Err(StoreError::Conflict(_)) => message(ctx.lang, "err.slug_taken"),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let page = ctx
        .page("agency_tenants", "agency.new_tenant", None)
        .await?;
    Ok(html(
        &TenantFormPage {
            page,
            action: paths::AGENCY_TENANTS.into(),
            is_new: true,
            input: f.input,
            secrets: None,
            webhook_url: None,
            errors,
            weak_token: false,
            suggested_token: suggested_token(),
            may_change_api_base: true,
        },
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}

#[derive(Template)]
#[template(path = "agency_users.html")]
struct AgencyUsersPage {
    page: Page,
    admins: Vec<User>,
    errors: Vec<String>,
}

pub async fn users(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    let admins = ctx
        .state
        .db(move |c| users::agency_admins(c, &scope))
        .await?;
    let page = ctx.page("agency_users", "agency.users.title", None).await?;
    Ok(html(
        &AgencyUsersPage {
            page,
            admins,
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InviteAdminForm {
    csrf: String,
    email: String,
}

pub async fn invite_admin(
    ctx: Ctx,
    f: web::Form<InviteAdminForm>,
) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    ctx.check_csrf(&f.csrf)?;
    let email = match validate::email(&f.email) {
        Ok(e) => e,
        Err(e) => {
            let s2 = scope.clone();
            let admins = ctx.state.db(move |c| users::agency_admins(c, &s2)).await?;
            let page = ctx.page("agency_users", "agency.users.title", None).await?;
            let errors = messages(ctx.lang, &[e]);
            return Ok(html(
                &AgencyUsersPage {
                    page,
                    admins,
                    errors,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let by = ctx.require_user()?.user.id();
    let e2 = email.clone();
    let (_, token) = ctx
        .state
        .db(move |c| invitations::create_for_agency(c, &scope, &e2, Some(by)))
        .await?;
    let link = format!("{}/invite/{token}", ctx.state.cfg.base_url);
    let sent = send_mail(
        &ctx.state,
        ctx.lang,
        &email,
        "mail.invite.subject",
        "mail.invite.body",
        &link,
    )
    .await;
    let (kind, key) = if sent {
        ("ok", "flash.invitation_sent")
    } else {
        ("err", "flash.mail_failed")
    };
    Ok(redirect_flash(
        paths::AGENCY_USERS,
        kind,
        key,
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Template)]
#[template(path = "agency_settings.html")]
struct AgencySettingsPage {
    page: Page,
    name: String,
    errors: Vec<String>,
}

pub async fn settings(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    let a = ctx
        .state
        .db(move |c| tenants::agency(c, scope.agency_id()))
        .await?;
    let page = ctx
        .page("agency_settings", "agency.settings.title", None)
        .await?;
    Ok(html(
        &AgencySettingsPage {
            page,
            name: a.name,
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AgencyForm {
    csrf: String,
    agency_name: String,
}

pub async fn save_settings(ctx: Ctx, f: web::Form<AgencyForm>) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    ctx.check_csrf(&f.csrf)?;
    let name = f.agency_name.clone();
    match ctx
        .state
        .db(move |c| tenants::rename_agency(c, &scope, &name))
        .await
    {
        Ok(_) => Ok(redirect_flash(
            paths::AGENCY_SETTINGS,
            "ok",
            "flash.saved",
            ctx.state.cfg.secure_cookies,
        )),
        Err(StoreError::Invalid(i)) => {
            let page = ctx
                .page("agency_settings", "agency.settings.title", None)
                .await?;
            Ok(html(
                &AgencySettingsPage {
                    page,
                    name: f.agency_name.clone(),
                    errors: messages(ctx.lang, &[i]),
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(e.into()),
    }
}
