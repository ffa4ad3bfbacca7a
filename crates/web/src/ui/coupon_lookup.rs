//! Looking a coupon up by code: its campaign, holder, validity, status and audit trail.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::coupons as app_coupons;
use patron_app::till;
use patron_app::AppError;
use patron_domain::coupons::{self as rules, ScanRefusal};
use patron_domain::Permission;
use patron_store::coupons::{self, Campaign, Coupon, Event};
use serde::Deserialize;

/// What a lookup found.
pub struct Found {
    coupon: Coupon,
    campaign: Campaign,
    holder: Option<(i64, String)>,
    events: Vec<Event>,
}

#[derive(Template)]
#[template(path = "coupon_lookup.html")]
struct LookupPage {
    page: Page,
    slug: String,
    tz: String,
    code: String,
    /// A message key when nothing was found.
    problem: Option<&'static str>,
    found: Option<Box<Found>>,
}

impl LookupPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn when_opt(&self, t: &Option<chrono::NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    fn display(&self, code: &str) -> String {
        rules::display(code)
    }
    fn benefit(&self, c: &Campaign) -> String {
        crate::format::benefit_text(self.page.lang, c)
    }
    fn channel(&self, channel: &str) -> String {
        crate::format::channel_text(self.page.lang, channel)
    }
    fn action(&self, action: &str) -> String {
        crate::format::action_text(self.page.lang, action)
    }
    fn device(&self, ua: &str) -> String {
        crate::format::device_name(ua)
    }
    fn state(&self, c: &Coupon) -> String {
        let key = if c.status == patron_domain::coupons::CouponStatus::Issued
            && c.valid_to <= patron_store::now()
        {
            "coupon.status_expired".to_string()
        } else {
            format!("coupon.status_{}", c.status.as_str())
        };
        self.page.t(&key).to_string()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LookupQuery {
    code: String,
}

/// `/t/{tenant}/coupons?code=…`: a typed or scanned code, checked before any lookup.
pub async fn lookup(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<LookupQuery>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let typed = q.code.trim().to_string();
    let (found, problem) = if typed.is_empty() {
        (None, None)
    } else {
        // Behind the till's throttle, in one trip: the code, its campaign, its holder and
        // its audit trail.
        let (mac_key, ip, s2, t2) = (
            *ctx.state.secrets.mac_key(),
            ctx.ip.clone(),
            scope.clone(),
            typed.clone(),
        );
        let gated = ctx
            .state
            .run(move |c| {
                match till::with_code(c, &s2, &mac_key, &ip, &t2, |c, code| {
                    let l = app_coupons::look_up(c, &s2, code, 0, None)?;
                    let events = coupons::events_of(c, &s2, l.coupon.id)?;
                    Ok(Found {
                        coupon: l.coupon,
                        campaign: l.campaign,
                        holder: l.holder,
                        events,
                    })
                }) {
                    Err(AppError::NotFound) => Ok(None),
                    other => other.map(Some),
                }
            })
            .await?;
        match gated {
            None => (None, Some("till.unknown")),
            Some(till::Gated::Done(f)) => (Some(Box::new(f)), None),
            Some(till::Gated::Locked) => (None, Some("till.throttled")),
            Some(till::Gated::Refused(ScanRefusal::ForgedQr)) => (None, Some("till.forged")),
            Some(till::Gated::Refused(_)) => (None, Some("till.bad_check")),
        }
    };
    let page = ctx
        .page("coupons", "lookup.title", Some((&scope, &tenant)))
        .await?;
    let status = if problem.is_some() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok(html(
        &LookupPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            code: typed,
            problem,
            found,
        },
        status,
    ))
}
