//! Importing existing coupon codes (printed stock, another system) into a campaign from
//! CSV: all of them or none.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use patron_domain::{coupon_csv, Permission};
use patron_store::coupons::{self, Campaign};

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
    let up = crate::forms::read_upload(&ctx, &req, payload).await?;
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
