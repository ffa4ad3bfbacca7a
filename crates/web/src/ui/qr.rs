//! Parametric QR codes: create (through WeChat's API), list with scan and follow counts,
//! the tag a scan puts on, and the images as SVG and PNG.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_app::wechat::{create_qr_code, NewCode, NotCreated};
use patron_domain::Permission;
use patron_store::qr_codes::{self, QrCode};
use patron_store::tags::Tag;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "qr_codes.html")]
struct QrPage {
    page: Page,
    slug: String,
    tz: String,
    codes: Vec<QrCode>,
    tags: Vec<Tag>,
    /// Campaigns a scan can issue a coupon of.
    campaigns: Vec<patron_store::coupons::Campaign>,
    form: QrForm,
    errors: Vec<String>,
    api_ready: bool,
    permanent_used: i64,
}

impl QrPage {
    fn when(&self, t: &Option<chrono::NaiveDateTime>) -> String {
        crate::format::local_opt(t, &self.tz)
    }
    fn expired(&self, c: &QrCode) -> bool {
        c.expired(patron_store::now())
    }
    fn tag_is(&self, tag: &Option<i64>, id: &i64) -> bool {
        *tag == Some(*id)
    }
    fn campaign_is(&self, c: &Option<i64>, id: &i64) -> bool {
        *c == Some(*id)
    }
    fn cap(&self) -> i64 {
        qr_codes::MAX_PERMANENT
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct QrForm {
    csrf: String,
    label: String,
    scene: String,
    /// `permanent` or `temporary`.
    kind: String,
    /// Days a temporary code lives (1–30).
    days: String,
    tag_id: String,
}

async fn render(
    ctx: &Ctx,
    slug: &str,
    form: QrForm,
    errors: Vec<String>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::Market).await?;
    let s2 = scope.clone();
    let (codes, tags, permanent_used, campaigns) = ctx
        .state
        .db(move |c| {
            Ok((
                qr_codes::list(c, &s2)?,
                patron_store::tags::list(c, &s2)?
                    .into_iter()
                    .map(|(t, _)| t)
                    .collect(),
                qr_codes::count_permanent(c, &s2)?,
                patron_store::coupons::list(c, &s2)?,
            ))
        })
        .await?;
    let page = ctx.page("qr", "qr.title", Some((&scope, &tenant))).await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let api_ready = tenant.wx_appid.is_some() && tenant.has_secret().app_secret;
    Ok(html(
        &QrPage {
            page,
            slug: tenant.slug.clone(),
            tz: tenant.time_zone.clone(),
            codes,
            tags,
            campaigns,
            form,
            errors,
            api_ready,
            permanent_used,
        },
        status,
    ))
}

pub async fn list(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, QrForm::default(), vec![]).await
}

pub async fn create(
    ctx: Ctx,
    slug: web::Path<String>,
    f: web::Form<QrForm>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let form = f.into_inner();
    let n = NewCode {
        scene: form.scene.clone(),
        label: form.label.clone(),
        permanent: form.kind == "permanent",
        days: form.days.trim().parse().unwrap_or(0),
        tag_id: form.tag_id.trim().parse().ok(),
    };
    match create_qr_code(&ctx.state.pool, &ctx.state.secrets, &scope, &tenant, n).await {
        Ok(_) => Ok(redirect_flash(
            &paths::tenant(&tenant.slug).qr_codes(),
            "ok",
            "flash.qr_created",
            ctx.state.cfg.secure_cookies,
        )),
        Err(NotCreated::Invalid(i)) => {
            let e = form_messages(ctx.lang, &[i]);
            render(&ctx, &slug, form, e).await
        }
        Err(NotCreated::WeChat(e)) => {
            let msg = crate::format::wechat_failure(ctx.lang, &e);
            render(&ctx, &slug, form, vec![msg]).await
        }
        Err(NotCreated::Failed(e)) => Err(UiError::Internal(e)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TagForm {
    csrf: String,
    tag_id: String,
    /// Absent: left as it is; empty: none.
    campaign_id: Option<String>,
}

/// Sets the tag a scan of the code puts on the follower (empty: none).
pub async fn set_tag(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<TagForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let tag = f.tag_id.trim().parse::<i64>().ok();
    let campaign = f
        .campaign_id
        .as_deref()
        .map(|v| v.trim().parse::<i64>().ok());
    ctx.state
        .db(move |c| {
            patron_store::write_tx(c, |c| {
                qr_codes::set_tag(c, &scope, id, tag)?;
                if let Some(campaign) = campaign {
                    qr_codes::set_campaign(c, &scope, id, campaign)?;
                }
                Ok(())
            })
        })
        .await?;
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).qr_codes(),
        "ok",
        "flash.saved",
        ctx.state.cfg.secure_cookies,
    ))
}

/// The code's image: `/t/{tenant}/qr/{id}.svg` or `.png` (`?download=1` to save it).
pub async fn image(
    ctx: Ctx,
    path: web::Path<(String, String)>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, UiError> {
    let (slug, file) = path.into_inner();
    let (scope, _tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let (id, ext) = file.rsplit_once('.').ok_or(UiError::NotFound)?;
    let id: i64 = id.parse().map_err(|_| UiError::NotFound)?;
    let code = ctx.state.db(move |c| qr_codes::get(c, &scope, id)).await?;
    let (body, mime) = match ext {
        "svg" => (
            crate::qr_image::svg(&code.url, 8)
                .map_err(UiError::Internal)?
                .into_bytes(),
            "image/svg+xml",
        ),
        "png" => (
            crate::qr_image::png(&code.url, 8).map_err(UiError::Internal)?,
            "image/png",
        ),
        _ => return Err(UiError::NotFound),
    };
    let mut res = HttpResponse::Ok();
    res.content_type(mime)
        .insert_header(("Cache-Control", "private, max-age=300"));
    if q.contains_key("download") {
        res.insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"qr-{}.{ext}\"",
                code.scene.replace(['"', '\\'], "_")
            ),
        ));
    }
    Ok(res.body(body))
}
