//! Coupons for merchants beyond campaigns: looking one up by code (its campaign, holder,
//! validity, status and audit trail) and importing existing codes into a campaign.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use patron_app::coupons as app_coupons;
use patron_app::till;
use patron_domain::coupons::{self as rules, ScanRefusal};
use patron_domain::{coupon_csv, Permission};
use patron_store::coupons::{self, Campaign, Coupon, Event};
use patron_store::StoreError;
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
        super::followers::local(t, &self.tz)
    }
    fn when_opt(&self, t: &Option<chrono::NaiveDateTime>) -> String {
        super::followers::local_opt(t, &self.tz)
    }
    fn display(&self, code: &str) -> String {
        rules::display(code)
    }
    fn benefit(&self, c: &Campaign) -> String {
        super::cashier::benefit_text(self.page.lang, c)
    }
    fn state(&self, c: &Coupon) -> String {
        let key = if c.status == "issued" && c.valid_to <= patron_store::now() {
            "coupon.status_expired".to_string()
        } else {
            format!("coupon.status_{}", c.status)
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
            .db(move |c| {
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
                    Err(StoreError::NotFound) => Ok(None),
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

#[derive(Template)]
#[template(path = "coupon_import.html")]
struct ImportPage {
    page: Page,
    slug: String,
    campaign: Campaign,
    imported: Option<usize>,
    errors: Vec<String>,
}

/// Imports a CSV of existing codes into a campaign: all of them or none.
pub async fn import(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    // An unknown (or another tenant's) campaign is 404 before the upload is read.
    let s2 = scope.clone();
    let campaign = ctx.state.db(move |c| coupons::get(c, &s2, id)).await?;
    let up = super::imports::read_upload(&ctx, &req, payload).await?;
    let who = ctx.require_user()?.user.name.clone();
    let lang = ctx.lang;
    let row_msg = move |e: &patron_domain::follower_csv::RowError| {
        let what = lang.t(&format!("err.{}", e.code)).to_string();
        if e.line == 0 {
            what
        } else {
            format!("{} {}, {}: {what}", lang.t("import.line"), e.line, e.column)
        }
    };
    let (imported, errors) = if up.too_large {
        (None, vec![lang.t("import.too_large").to_string()])
    } else {
        match coupon_csv::check(&up.body, campaign.accepts_short_codes) {
            Err(e) => (None, vec![lang.t(&format!("err.{}", e.code())).to_string()]),
            Ok(checked) if !checked.errors.is_empty() => {
                (None, checked.errors.iter().take(50).map(row_msg).collect())
            }
            Ok(checked) => {
                let rows = checked.rows;
                let s3 = scope.clone();
                let r = ctx
                    .state
                    .db(move |c| coupons::import_codes(c, &s3, id, &rows, &who))
                    .await?;
                match r {
                    Ok(n) => (Some(n), vec![]),
                    Err(errs) => (None, errs.iter().take(50).map(row_msg).collect()),
                }
            }
        }
    };
    match imported {
        Some(n) => {
            tracing::info!(tenant = %tenant.slug, campaign = id, codes = n, "coupon codes imported")
        }
        None => {
            tracing::info!(tenant = %tenant.slug, campaign = id, problems = errors.len(), "coupon code import refused")
        }
    }
    let page = ctx
        .page("campaigns", "campaign.import", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &ImportPage {
            page,
            slug: tenant.slug.clone(),
            campaign,
            imported,
            errors,
        },
        status,
    ))
}
