//! Editing a campaign after it was created: everything while it is a draft; once started,
//! what it gives and its code prefix stay (issued coupons carry them) and its supply
//! cannot go below what it issued. Each change is recorded (who, when, which fields) and
//! listed on the campaign's page.

use super::campaigns::CampaignForm;
use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::{validate, Permission};
use patron_store::coupons::{self, Campaign};
use patron_store::stores::Store;
use patron_store::StoreError;

#[derive(Template)]
#[template(path = "campaign_edit.html")]
struct EditPage {
    page: Page,
    slug: String,
    id: i64,
    name: String,
    stores: Vec<Store>,
    form: CampaignForm,
    errors: Vec<String>,
    field_errors: super::FieldErrors,
    /// Started: what it gives and its prefix cannot change.
    locked: bool,
}

impl EditPage {
    fn field_err(&self, field: &str) -> Option<&str> {
        self.field_errors.get(field)
    }
    fn store_checked(&self, id: &i64) -> bool {
        self.form.store_ids.contains(id)
    }
}

/// The form, filled from the campaign or from what was typed, with any problems.
async fn render(
    ctx: &Ctx,
    slug: &str,
    camp: Campaign,
    form: Option<CampaignForm>,
    errs: &[validate::Invalid],
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let stores = ctx
        .state
        .db(move |c| patron_store::stores::list(c, &s2))
        .await?;
    let page = ctx
        .page("campaigns", "campaign.edit", Some((&scope, &tenant)))
        .await?;
    let status = if errs.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &EditPage {
            page,
            slug: tenant.slug.clone(),
            id: camp.id,
            name: camp.name.clone(),
            stores,
            locked: camp.status != "draft",
            form: form.unwrap_or_else(|| CampaignForm::of(&camp)),
            errors: form_messages(ctx.lang, errs),
            field_errors: super::FieldErrors::of(ctx.lang, errs),
        },
        status,
    ))
}

pub async fn edit_form(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, _) = ctx.tenant(&slug, Permission::Market).await?;
    let camp = ctx.state.db(move |c| coupons::get(c, &scope, id)).await?;
    render(&ctx, &slug, camp, None, &[]).await
}

pub async fn update(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let mut form = CampaignForm::parse(&body);
    ctx.check_csrf(form.csrf())?;
    // Another tenant's (or no) campaign is 404 before the form is judged.
    let s2 = scope.clone();
    let camp = ctx.state.db(move |c| coupons::get(c, &s2, id)).await?;
    if camp.status != "draft" {
        // The locked fields are not sent (disabled) and could not change anyway.
        form.take_benefit(&camp);
    }
    let input = match form.input() {
        Ok(i) => i,
        Err(errs) => return render(&ctx, &slug, camp, Some(form), &errs).await,
    };
    let by = ctx.require_user()?.user.name.clone();
    match ctx
        .state
        .db(move |c| coupons::update(c, &scope, id, &input, &by))
        .await
    {
        Ok(_) => {
            tracing::info!(tenant = %tenant.slug, campaign = id, "campaign changed");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).campaign(id),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(StoreError::Invalid(i)) => {
            let field = form.form_field(i.field);
            let errs = [validate::invalid(field, i.code)];
            render(&ctx, &slug, camp, Some(form), &errs).await
        }
        Err(e) => Err(e.into()),
    }
}
