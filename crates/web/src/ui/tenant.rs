//! A tenant's dashboard and settings.

use super::tenant_form::{suggested_token, TenantForm, TenantFormPage};
use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::figures::{self, Figures};
use crate::ui::{message, messages};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::AppError;
use patron_domain::period::Step;
use patron_domain::Permission;
use patron_store::followers;
use patron_store::tenants::{Tenant, TenantInput};
use patron_store::{stores, users};

#[derive(Template)]
#[template(path = "tenant_dashboard.html")]
struct DashboardPage {
    page: Page,
    tenant: Tenant,
    stores: usize,
    members: i64,
    /// The AppID, Token (and key unless plaintext) are saved.
    configured: bool,
    webhook_url: String,
    /// The base URL is public HTTPS (WeChat calls nothing else).
    public_https: bool,
    reached: patron_store::tenants::Reached,
    start: Start,
    may_settings: bool,
    /// The period's figures, for those who may work on them.
    figures: Option<Figures>,
    /// Followers in the archive and following now (the live counters, a few rows), for
    /// those who may work on them. (The capped scans of the followers list, active and
    /// new this week, are links: counting them on every view cost the page its budget
    /// with a million followers; docs/benchmarks.md, "Dashboard and portfolio".)
    audience: Option<(i64, i64)>,
    /// Why the picker's period was refused (the default one is shown).
    query_errors: Vec<String>,
}

pub async fn dashboard(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<figures::Query>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::View).await?;
    // A cashier's work is the till; the dashboard (stores, webhook) is not theirs.
    if scope.may(Permission::Redeem) && !scope.may(Permission::Market) {
        return Ok(crate::render::redirect(
            &paths::tenant(&tenant.slug).cashier(),
        ));
    }
    let s2 = scope.clone();
    let marketer = scope.may(Permission::Market);
    let tz = patron_domain::validate::stored_time_zone(&tenant.time_zone);
    let today = patron_app::dashboard::today(patron_store::now(), tz);
    let (period, step, refused) = figures::choose(&q, today);
    if !refused.is_empty() {
        tracing::info!(tenant = tenant.id, ?refused, "dashboard period refused");
    }
    let (n_stores, n_members, audience, reached, start, dash) = ctx
        .state
        .db(move |c| {
            let n_stores = stores::list(c, &s2)?.len();
            let reached = patron_store::tenants::reached(c, &s2)?;
            let members = users::tenant_members(c, &s2)?;
            let cashier = members.iter().any(|m| m.role == "cashier")
                || patron_store::invitations::list_open_for_tenant(c, &s2)?
                    .iter()
                    .any(|i| i.role == "cashier");
            let start = Start {
                wechat: reached.verified_at.is_some() || reached.last_push_at.is_some(),
                store: n_stores > 0,
                rule: !patron_store::reply_rules::list(c, &s2)?.is_empty(),
                cashier,
                campaign: !patron_store::coupons::list(c, &s2)?.is_empty(),
            };
            Ok((
                n_stores,
                users::people_count(c, &s2)?,
                if marketer {
                    Some(followers::count(c, &s2)?)
                } else {
                    None
                },
                reached,
                start,
                if marketer {
                    Some(patron_app::dashboard::load(c, &s2, tz, period, step)?)
                } else {
                    None
                },
            ))
        })
        .await?;
    let page = ctx
        .page("dashboard", "tenant.dashboard", Some((&scope, &tenant)))
        .await?;
    let p = tenant.has_secret();
    let base = &ctx.state.cfg.base_url;
    let tz_name = tenant.time_zone.clone();
    Ok(html(
        &DashboardPage {
            page,
            configured: tenant.wx_appid.is_some()
                && p.token
                && (p.aes_key || tenant.wx_message_mode == "plain"),
            webhook_url: format!("{base}{}", patron_app::links::webhook_path(&tenant.slug)),
            // WeChat calls only public HTTPS addresses.
            public_https: base.starts_with("https://")
                && !patron_domain::wechat_settings::is_loopback_url(base),
            tenant,
            stores: n_stores,
            members: n_members,
            audience,
            reached,
            start,
            may_settings: scope.may(Permission::ManageSettings),
            figures: dash.map(|d| figures::build(&d, ctx.lang, &tz_name)),
            query_errors: messages(ctx.lang, &refused),
        },
        // A refused period still shows the default one, with the reason.
        if refused.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        },
    ))
}

/// One of the dashboard's tables as CSV, for the same period and step as the page.
pub async fn dashboard_csv(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    q: web::Query<figures::Query>,
) -> Result<HttpResponse, UiError> {
    let (slug, file) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let tz = patron_domain::validate::stored_time_zone(&tenant.time_zone);
    let today = patron_app::dashboard::today(patron_store::now(), tz);
    let (period, step, refused) = figures::choose(&q, today);
    if !refused.is_empty() {
        tracing::info!(tenant = tenant.id, ?refused, "dashboard CSV period refused");
        return Err(UiError::BadRequest(messages(ctx.lang, &refused).join("; ")));
    }
    let table = file.strip_suffix(".csv").unwrap_or(&file).to_string();
    let d = ctx
        .state
        .db(move |c| patron_app::dashboard::load(c, &scope, tz, period, step))
        .await?;
    let f = figures::build(&d, ctx.lang, &tenant.time_zone);
    let Some(t) = f.table(&table) else {
        return Err(UiError::NotFound);
    };
    let body = figures::csv(t).map_err(|e| UiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-{}-{}-{}.csv\"",
                tenant.slug, t.id, period.from, period.to
            ),
        ))
        .body(body))
}

impl DashboardPage {
    /// The first day of "new this week" (the followers list's filter).
    fn week_start(&self) -> String {
        let today = patron_app::dashboard::today(
            patron_store::now(),
            patron_domain::validate::stored_time_zone(&self.tenant.time_zone),
        );
        (today - chrono::Days::new(6)).to_string()
    }

    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tenant.time_zone)
    }

    fn steps(&self) -> [Step; 3] {
        Step::ALL
    }

    fn step_key(&self, s: &Step) -> &'static str {
        match s {
            Step::Day => "dash.by_day",
            Step::Week => "dash.by_week",
            Step::Month => "dash.by_month",
        }
    }

    fn signed(&self, n: &i64) -> String {
        format!("{n:+}%")
    }

    /// The period's query string, for links that keep it.
    fn period_query(&self) -> String {
        self.figures.as_ref().map_or(String::new(), |f| {
            format!(
                "from={}&to={}&step={}",
                f.period.from,
                f.period.to,
                f.step.code()
            )
        })
    }

    fn csv_link(&self, id: &str) -> String {
        format!(
            "{}?{}",
            paths::tenant(&self.tenant.slug).dashboard_csv(format!("{id}.csv")),
            self.period_query()
        )
    }

    /// Links to the last 7, 28 and 90 days, with the step kept.
    fn presets(&self) -> Vec<(u64, String)> {
        let Some(f) = &self.figures else {
            return Vec::new();
        };
        let today = patron_app::dashboard::today(
            patron_store::now(),
            patron_domain::validate::stored_time_zone(&self.tenant.time_zone),
        );
        [7u64, 28, 90]
            .into_iter()
            .map(|days| {
                let p = patron_domain::period::Period::last(days, today);
                (
                    days,
                    format!(
                        "{}?from={}&to={}&step={}",
                        paths::tenant(&self.tenant.slug).home(),
                        p.from,
                        p.to,
                        f.step.code()
                    ),
                )
            })
            .collect()
    }
}

/// The getting-started checklist of a new account, each ticked from real data.
struct Start {
    wechat: bool,
    store: bool,
    rule: bool,
    cashier: bool,
    campaign: bool,
}

impl Start {
    fn done(&self) -> bool {
        self.wechat && self.store && self.rule && self.cashier && self.campaign
    }
}

fn input_of(t: &Tenant) -> TenantInput {
    TenantInput {
        name: t.name.clone(),
        slug: t.slug.clone(),
        time_zone: t.time_zone.clone(),
        wx_appid: t.wx_appid.clone().unwrap_or_default(),
        wx_original_id: t.wx_original_id.clone().unwrap_or_default(),
        wx_message_mode: t.wx_message_mode.clone(),
        wx_account_kind: t.wx_account_kind.clone(),
        wx_api_base: t.wx_api_base.clone(),
        ..Default::default()
    }
}

/// Is the tenant's stored Token shorter than a strong one?
fn weak_token(ctx: &Ctx, tenant: &Tenant) -> Result<bool, UiError> {
    let secrets = tenant.wechat_secrets(&ctx.state.secrets)?;
    Ok(secrets
        .token
        .as_deref()
        .is_some_and(patron_domain::wechat_settings::token_is_weak))
}

fn form_page(
    ctx: &Ctx,
    page: Page,
    scope: &patron_domain::TenantScope,
    tenant: &Tenant,
    input: TenantInput,
    errors: Vec<String>,
) -> Result<TenantFormPage, UiError> {
    Ok(TenantFormPage {
        page,
        action: paths::tenant(&tenant.slug).settings(),
        is_new: false,
        input,
        secrets: Some(tenant.has_secret()),
        webhook_url: Some(format!(
            "{}{}",
            ctx.state.cfg.base_url,
            patron_app::links::webhook_path(&tenant.slug)
        )),
        errors,
        weak_token: weak_token(ctx, tenant)?,
        suggested_token: suggested_token(),
        may_change_api_base: scope.may_change_api_base(),
    })
}

pub async fn settings_form(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    let page = ctx
        .page("settings", "tenant.settings", Some((&scope, &tenant)))
        .await?;
    let form = form_page(&ctx, page, &scope, &tenant, input_of(&tenant), vec![])?;
    Ok(html(&form, StatusCode::OK))
}

pub async fn save_settings(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<TenantForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let (sb, s2, input) = (ctx.state.secrets.clone(), scope.clone(), f.input.clone());
    let loopback = ctx.state.cfg.allow_loopback_api_base;
    let errors = match ctx
        .state
        .run(move |c| patron_app::tenants::update_settings(c, &s2, &input, &sb, loopback))
        .await
    {
        Ok(t) => {
            ctx.state.forget_cached(None);
            tracing::info!(tenant_id = t.id, "tenant settings saved");
            return Ok(redirect_flash(
                &paths::tenant(&t.slug).settings(),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ));
        }
        Err(AppError::Invalid(errs)) => messages(ctx.lang, &errs),
        Err(AppError::Conflict(_)) => message(ctx.lang, "err.slug_taken"),
        Err(e) => return Err(e.into()),
    };
    let page = ctx
        .page("settings", "tenant.settings", Some((&scope, &tenant)))
        .await?;
    let form = form_page(&ctx, page, &scope, &tenant, f.input, errors)?;
    Ok(html(&form, StatusCode::UNPROCESSABLE_ENTITY))
}
