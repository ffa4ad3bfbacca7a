//! WeChat Pay in the merchant's pages: the payments (list and detail with refunds, the
//! follower and the coupon they connect to) and the merchant account settings, whose
//! keys are write-only (a key left empty is kept; the page only says whether it is set).

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::{messages as form_messages, FieldErrors};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::NaiveDateTime;
use patron_app::AppError;
use patron_domain::coupons::yuan;
use patron_domain::validate::Invalid;
use patron_domain::Permission;
use patron_store::payments::{
    self as store, PayInput, PaySettingsView, Payment, PlatformKey, Refund,
};
use serde::Deserialize;

/// Payments per page.
const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "payments.html")]
struct ListPage {
    page: Page,
    slug: String,
    tz: String,
    payments: Vec<Payment>,
    /// The id to continue below, when there may be more.
    next: Option<i64>,
}

impl ListPage {
    fn when(&self, t: &Option<NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    fn money(&self, fen: &i64) -> String {
        format!("¥{}", yuan(*fen))
    }
    fn state(&self, p: &Payment) -> String {
        self.page
            .t(&format!("payment.state_{}", p.state))
            .to_string()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    before: Option<i64>,
}

pub async fn list(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let s2 = scope.clone();
    let before = q.before;
    let payments = ctx
        .state
        .db(move |c| store::list(c, &s2, before, PAGE))
        .await?;
    let next = (payments.len() as i64 == PAGE)
        .then(|| payments.last().map(|p| p.id))
        .flatten();
    let page = ctx
        .page("payments", "payments.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &ListPage {
            page,
            slug: tenant.slug,
            tz: tenant.time_zone,
            payments,
            next,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "payment.html")]
struct ShowPage {
    page: Page,
    slug: String,
    tz: String,
    p: Payment,
    refunds: Vec<Refund>,
    /// The coupon redeemed with this order reference.
    coupon: Option<String>,
}

impl ShowPage {
    fn when(&self, t: &Option<NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    fn money(&self, fen: &i64) -> String {
        format!("¥{}", yuan(*fen))
    }
    fn state(&self) -> String {
        self.page
            .t(&format!("payment.state_{}", self.p.state))
            .to_string()
    }
}

pub async fn show(ctx: Ctx, path: web::Path<(String, i64)>) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (p, refunds, coupon) = ctx
        .state
        .db(move |c| {
            let p = store::get(c, &s2, id)?;
            let refunds = store::refunds_of(c, &s2, id)?;
            let coupon = match p.coupon_id {
                Some(cid) => patron_store::coupons::code_of(c, &s2, cid)?,
                None => None,
            };
            Ok((p, refunds, coupon))
        })
        .await?;
    let page = ctx
        .page("payments", "payments.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &ShowPage {
            page,
            slug: tenant.slug,
            tz: tenant.time_zone,
            p,
            refunds,
            coupon,
        },
        StatusCode::OK,
    ))
}

/// What the settings form sends (keys empty: kept).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct SettingsForm {
    csrf: String,
    mch_id: String,
    apiv2_key: String,
    apiv3_key: String,
    public_key_id: String,
    public_key: String,
    merchant_serial: String,
    merchant_key: String,
}

#[derive(Template)]
#[template(path = "pay_settings.html")]
struct SettingsPage {
    page: Page,
    slug: String,
    current: Option<PaySettingsView>,
    /// The form as typed (keys never echoed back).
    mch_id: String,
    public_key_id: String,
    merchant_serial: String,
    /// Where WeChat Pay sends this account's notifications (full URLs).
    urls: [(String, String); 3],
    errors: Vec<String>,
    field_errors: FieldErrors,
}

impl SettingsPage {
    fn field_err(&self, field: &str) -> Option<&str> {
        self.field_errors.get(field)
    }
    fn v2_set(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.apiv2_key_set)
    }
    fn v3_set(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.apiv3_key_set)
    }
    fn merchant_key_set(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.merchant_key_set)
    }
    fn key_ids(&self) -> String {
        self.current
            .as_ref()
            .map(|c| c.platform_key_ids.join(", "))
            .unwrap_or_default()
    }
}

async fn render_settings(
    ctx: &Ctx,
    slug: &str,
    typed: Option<&SettingsForm>,
    errs: &[Invalid],
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::ManageSettings).await?;
    let (s2, sb) = (scope.clone(), ctx.state.secrets.clone());
    let current = ctx
        .state
        .db(move |c| Ok(store::settings(c, &s2, &sb)?.map(|s| s.view())))
        .await?;
    let page = ctx
        .page("pay_settings", "pay.title", Some((&scope, &tenant)))
        .await?;
    let base = &ctx.state.cfg.base_url;
    use patron_app::links::{PAY_V2, PAY_V2_REFUND, PAY_V3};
    let url = |p: &str| format!("{base}{}", p.replace("{tenant}", &tenant.slug));
    let status = if errs.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &SettingsPage {
            mch_id: typed
                .map(|f| f.mch_id.clone())
                .or_else(|| current.as_ref().map(|c| c.mch_id.clone()))
                .unwrap_or_default(),
            public_key_id: typed.map(|f| f.public_key_id.clone()).unwrap_or_default(),
            merchant_serial: typed
                .map(|f| f.merchant_serial.clone())
                .or_else(|| current.as_ref().and_then(|c| c.merchant_serial.clone()))
                .unwrap_or_default(),
            page,
            slug: tenant.slug.clone(),
            current,
            urls: [
                ("pay.url_v2".into(), url(PAY_V2)),
                ("pay.url_v2_refund".into(), url(PAY_V2_REFUND)),
                ("pay.url_v3".into(), url(PAY_V3)),
            ],
            errors: form_messages(ctx.lang, errs),
            field_errors: FieldErrors::of(ctx.lang, errs),
        },
        status,
    ))
}

pub async fn settings_form(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render_settings(&ctx, &slug, None, &[]).await
}

pub async fn save_settings(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<SettingsForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    ctx.check_csrf(&f.csrf)?;
    let f = f.into_inner();
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let platform_keys = opt(&f.public_key).map(|pem| {
        vec![PlatformKey {
            id: f.public_key_id.trim().to_string(),
            pem,
        }]
    });
    let input = PayInput {
        mch_id: f.mch_id.clone(),
        apiv2_key: opt(&f.apiv2_key),
        apiv3_key: opt(&f.apiv3_key),
        platform_keys,
        merchant_serial: opt(&f.merchant_serial),
        merchant_key: opt(&f.merchant_key),
    };
    let sb = ctx.state.secrets.clone();
    match ctx
        .state
        .run(move |c| patron_app::payments::save_settings(c, &scope, &sb, &input))
        .await
    {
        Ok(_) => {
            tracing::info!(tenant = %tenant.slug, "pay settings saved");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).pay_settings(),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(AppError::Invalid(errs)) => render_settings(&ctx, &slug, Some(&f), &errs).await,
        Err(e) => Err(e.into()),
    }
}
