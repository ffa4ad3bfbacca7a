//! Parametric QR codes: create (through WeChat's API), list with scan and follow counts,
//! the tag a scan puts on, and the images as SVG and PNG.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, redirect_flash, Page};
use crate::views::messages as form_messages;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::{validate, Permission};
use patron_store::qr_codes::{self, QrCode};
use patron_store::tags::Tag;
use patron_store::tenants::Tenant;
use patron_store::StoreError;
use patron_wechat::api::qrcode::{QrCodeRequest, Scene, MAX_EXPIRE_SECONDS};
use serde::Deserialize;

/// An OA API client for the tenant, when its AppID and AppSecret are set.
pub fn client_for(
    ctx: &Ctx,
    tenant: &Tenant,
) -> Result<Option<patron_wechat::api::Client>, UiError> {
    client_for_state(&ctx.state, tenant)
}

pub fn client_for_state(
    state: &crate::AppState,
    tenant: &Tenant,
) -> Result<Option<patron_wechat::api::Client>, UiError> {
    let (Some(appid), true) = (tenant.wx_appid.clone(), tenant.has_secret().app_secret) else {
        return Ok(None);
    };
    let secret = tenant
        .wechat_secrets(&state.secrets)?
        .app_secret
        .unwrap_or_default();
    patron_wechat::api::Client::new(tenant.wx_api_base.clone(), appid, secret)
        .map(Some)
        .map_err(|e| UiError::Internal(e.to_string()))
}

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
        super::followers::local_opt(t, &self.tz)
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

/// What a new code needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewCode {
    pub scene: String,
    pub label: String,
    pub permanent: bool,
    /// Days a temporary code lives (1–30).
    pub days: u32,
    pub tag_id: Option<i64>,
}

/// Why a code was not made.
#[derive(Debug)]
pub enum CreateError {
    Invalid(validate::Invalid),
    /// WeChat refused (its message).
    WeChat(String),
    Other(UiError),
}

impl From<StoreError> for CreateError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(i) => CreateError::Invalid(i),
            StoreError::Conflict(_) => {
                CreateError::Invalid(validate::invalid("scene", "scene_taken"))
            }
            other => CreateError::Other(other.into()),
        }
    }
}

/// Checks the request, asks WeChat for the code, records it. Shared by the page and the API.
pub async fn create_code(
    state: &crate::AppState,
    scope: &patron_domain::TenantScope,
    tenant: &Tenant,
    n: NewCode,
) -> Result<QrCode, CreateError> {
    if !n.permanent && !(1..=MAX_EXPIRE_SECONDS / 86_400).contains(&n.days) {
        return Err(CreateError::Invalid(validate::invalid(
            "days",
            "invalid_days",
        )));
    }
    let Some(client) = client_for_state(state, tenant).map_err(CreateError::Other)? else {
        return Err(CreateError::Invalid(validate::invalid(
            "scene",
            "api_not_configured",
        )));
    };
    let (s2, scene_in, permanent) = (scope.clone(), n.scene.clone(), n.permanent);
    let scene = state
        .db(move |c| qr_codes::check_new(c, &s2, &scene_in, permanent))
        .await?;
    let request = if permanent {
        QrCodeRequest::permanent(Scene::Str(scene.clone()))
    } else {
        QrCodeRequest::temporary(Scene::Str(scene.clone()), n.days * 86_400)
    };
    let made = client.create_qrcode(&request).await.map_err(|e| {
        tracing::warn!(tenant = %tenant.slug, error = %e, "qrcode/create failed");
        CreateError::WeChat(e.to_string())
    })?;
    let expires_at = (!permanent).then(|| {
        patron_store::now()
            + chrono::TimeDelta::seconds(made.expire_seconds.unwrap_or(n.days * 86_400) as i64)
    });
    let s2 = scope.clone();
    let code = state
        .db(move |c| {
            qr_codes::insert(
                c,
                &s2,
                &qr_codes::Created {
                    scene: &scene,
                    label: &n.label,
                    permanent,
                    ticket: &made.ticket,
                    url: &made.url,
                    expires_at,
                    tag_id: n.tag_id,
                },
            )
        })
        .await?;
    tracing::info!(tenant = %tenant.slug, scene = %code.scene, permanent, "QR code created");
    Ok(code)
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
    match create_code(&ctx.state, &scope, &tenant, n).await {
        Ok(_) => Ok(redirect_flash(
            &format!("/t/{}/qr", tenant.slug),
            "ok",
            "flash.qr_created",
            ctx.state.cfg.secure_cookies,
        )),
        Err(CreateError::Invalid(i)) => {
            let e = form_messages(ctx.lang, &[i]);
            render(&ctx, &slug, form, e).await
        }
        Err(CreateError::WeChat(e)) => {
            let msg = format!("{}: {e}", ctx.lang.t("qr.wechat_refused"));
            render(&ctx, &slug, form, vec![msg]).await
        }
        Err(CreateError::Other(e)) => Err(e),
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
        &format!("/t/{}/qr", tenant.slug),
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
