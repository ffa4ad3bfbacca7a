//! The agency's own pages: its tenants, its administrators.

use super::tenant_form::{suggested_token, TenantForm, TenantFormPage};
use crate::charts;
use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::figures;
use crate::ui::{message, messages, send_mail};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::portfolio::Sort;
use patron_domain::period::Period;
use patron_domain::validate;

use patron_store::tenants::{self, TenantInput};
use patron_store::users::{self, User};
use patron_store::{invitations, StoreError};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "agency_tenants.html")]
struct TenantsPage {
    page: Page,
    rows: Vec<PortfolioRow>,
    period: Period,
    sort: Sort,
    descending: bool,
    errors: Vec<String>,
}

/// A portfolio row as shown.
struct PortfolioRow {
    r: patron_app::portfolio::Row,
    growth_spark: String,
    messages_spark: String,
}

/// The portfolio's query: the period and the sort.
#[derive(Debug, Default, Deserialize)]
pub struct PortfolioQuery {
    #[serde(flatten)]
    period: figures::Query,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    dir: Option<String>,
}

impl TenantsPage {
    fn sorts(&self) -> [Sort; 8] {
        Sort::ALL
    }

    fn sort_label(&self, s: &Sort) -> &'static str {
        match s {
            Sort::Name => "port.account",
            Sort::Followers => "port.followers",
            Sort::Growth => "port.growth",
            Sort::Messages => "port.messages",
            Sort::Redeemed => "port.redeemed",
            Sort::Revenue => "port.revenue",
            Sort::Exceptions => "port.exceptions",
            Sort::LastPush => "port.last_push",
        }
    }

    /// A column header's link: sorts by it, or turns the order round when it is the
    /// current one.
    fn sort_link(&self, s: &Sort) -> String {
        let descending = if *s == self.sort {
            !self.descending
        } else {
            s.default_descending()
        };
        format!(
            "{}?from={}&to={}&sort={}&dir={}",
            paths::AGENCY_TENANTS,
            self.period.from,
            self.period.to,
            s.code(),
            if descending { "desc" } else { "asc" }
        )
    }

    /// `aria-sort` of a column.
    fn aria_sort(&self, s: &Sort) -> &'static str {
        match (*s == self.sort, self.descending) {
            (false, _) => "none",
            (true, true) => "descending",
            (true, false) => "ascending",
        }
    }

    fn presets(&self) -> Vec<(u64, String)> {
        let today = portfolio_today();
        [7u64, 28, 90]
            .into_iter()
            .map(|days| {
                let p = Period::last(days, today);
                (
                    days,
                    format!(
                        "{}?from={}&to={}&sort={}&dir={}",
                        paths::AGENCY_TENANTS,
                        p.from,
                        p.to,
                        self.sort.code(),
                        if self.descending { "desc" } else { "asc" }
                    ),
                )
            })
            .collect()
    }

    fn grouped(&self, n: &i64) -> String {
        crate::format::grouped(*n)
    }

    fn yuan(&self, fen: &i64) -> String {
        patron_domain::coupons::yuan(*fen)
    }

    fn signed(&self, n: &i64) -> String {
        format!("{n:+}")
    }

    fn when(&self, r: &patron_app::portfolio::Row, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &r.tenant.time_zone)
    }
}

/// The portfolio's days are those of the default zone (each tenant's figures are its
/// own local days).
fn portfolio_today() -> chrono::NaiveDate {
    patron_app::dashboard::today(
        patron_store::now(),
        validate::stored_time_zone(validate::DEFAULT_TIME_ZONE),
    )
}

pub async fn tenants(ctx: Ctx, q: web::Query<PortfolioQuery>) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    let q = q.into_inner();
    let (period, _, refused) = figures::choose(&q.period, portfolio_today());
    let sort = q.sort.as_deref().and_then(Sort::parse).unwrap_or_default();
    let descending = match q.dir.as_deref() {
        Some("desc") => true,
        Some("asc") => false,
        _ => sort.default_descending(),
    };
    if !refused.is_empty() {
        tracing::info!(?refused, "portfolio period refused");
    }
    let now = patron_store::now();
    let mut list = ctx
        .state
        .db(move |c| patron_app::portfolio::load(c, &scope, period, now))
        .await?;
    patron_app::portfolio::sort(&mut list, sort, descending);
    let lang = ctx.lang;
    let rows = list
        .into_iter()
        .map(|r| PortfolioRow {
            growth_spark: charts::sparkline(
                &r.growth_daily,
                &lang.tn("port.growth_trend", &[&period.from, &period.to]),
            ),
            messages_spark: charts::sparkline(
                &r.messages_daily,
                &lang.tn("port.messages_trend", &[&period.from, &period.to]),
            ),
            r,
        })
        .collect();
    let page = ctx
        .page("agency_tenants", "agency.tenants.title", None)
        .await?;
    Ok(html(
        &TenantsPage {
            page,
            rows,
            period,
            sort,
            descending,
            errors: messages(lang, &refused),
        },
        if refused.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        },
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
