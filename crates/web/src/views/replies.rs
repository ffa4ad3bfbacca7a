//! Auto-reply rules: list, create with a preview of what answers a sample message, delete.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, redirect_flash, Page};
use crate::views::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::replies::{self, Incoming, Trigger};
use patron_domain::{validate, Permission};
use patron_store::reply_rules::{self, ReplyRule};
use patron_store::StoreError;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "replies.html")]
struct RepliesPage {
    page: Page,
    slug: String,
    rules: Vec<ReplyRule>,
    kinds: Vec<(&'static str, String)>,
    form: RuleForm,
    preview: Option<(String, Option<String>)>,
    errors: Vec<String>,
}

impl RepliesPage {
    fn kind_name(&self, kind: &str) -> String {
        self.page.t(&format!("trigger.{kind}")).to_string()
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RuleForm {
    csrf: String,
    trigger_kind: String,
    trigger_value: String,
    reply_body: String,
    priority: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PreviewQuery {
    /// A sample message text: the page shows which rule would answer it.
    sample: String,
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    form: RuleForm,
    sample: &str,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (rules, active) = ctx
        .state
        .db(move |c| Ok((reply_rules::list(c, &s2)?, reply_rules::active(c, &s2)?)))
        .await?;
    let preview = (!sample.trim().is_empty()).then(|| {
        let chosen = replies::choose(&active, &Incoming::Text(sample)).map(|r| r.reply.clone());
        (sample.to_string(), chosen)
    });
    let kinds = [
        "keyword_exact",
        "keyword_contains",
        "subscribe",
        "click",
        "default",
    ]
    .into_iter()
    .map(|k| (k, ctx.lang.t(&format!("trigger.{k}")).to_string()))
    .collect();
    let page = ctx
        .page("replies", "replies.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &RepliesPage {
            page,
            slug: tenant.slug,
            rules,
            kinds,
            form,
            preview,
            errors,
        },
        status,
    ))
}

pub async fn list(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<PreviewQuery>,
) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, RuleForm::default(), &q.sample, vec![]).await
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<RuleForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let form = f.into_inner();
    let Some(trigger) = Trigger::from_parts(&form.trigger_kind, &form.trigger_value) else {
        let errors = form_messages(ctx.lang, &[validate::invalid("trigger_value", "required")]);
        return render(&ctx, &slug, form, "", errors).await;
    };
    let priority = form.priority.trim().parse::<i64>().unwrap_or(0);
    let text = form.reply_body.clone();
    match ctx
        .state
        .db(move |c| reply_rules::create(c, &scope, &trigger, &text, priority))
        .await
    {
        Ok(_) => {
            ctx.state.endpoints.invalidate(&tenant.slug);
            Ok(redirect_flash(
                &format!("/t/{}/replies", tenant.slug),
                "ok",
                "flash.rule_created",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(StoreError::Invalid(i)) => {
            let errors = form_messages(ctx.lang, &[i]);
            render(&ctx, &slug, form, "", errors).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<super::auth::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    ctx.state
        .db(move |c| reply_rules::delete(c, &scope, id))
        .await?;
    ctx.state.endpoints.invalidate(&tenant.slug);
    Ok(redirect_flash(
        &format!("/t/{}/replies", tenant.slug),
        "ok",
        "flash.rule_deleted",
        ctx.state.cfg.secure_cookies,
    ))
}
