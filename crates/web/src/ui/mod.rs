//! UI handlers, one module per area. Each handler: resolve the context and scope, check
//! CSRF on POST before changing anything, call the store on the blocking pool, render or
//! redirect.

pub mod account;
pub mod agency;
pub mod attributes;
pub mod auth;
pub mod broadcasts;
pub mod campaign_edit;
pub mod campaigns;
pub mod cashier;
pub mod coupon_import;
pub mod coupon_lookup;
pub mod export;
pub mod figures;
pub mod follower_page;
pub mod followers;
pub mod health;
pub mod imports;
pub mod invite;
pub mod jobs;
pub mod loyalty;
pub mod members;
pub mod menu;
pub mod operations;
pub mod payments;
pub mod qr;
pub mod reconcile;
pub mod replies;
pub mod segments;
pub mod setup;
pub mod stores;
pub mod tags;
pub mod tenant;
pub mod tenant_form;
pub mod tokens;
pub mod unsubscribe;

use crate::ctx::{Ctx, SESSION_COOKIE};
use crate::error::UiError;
use crate::i18n::Lang;
use crate::paths;
use crate::render::{error_page, redirect};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use patron_domain::validate::Invalid;
use patron_store::tenants;

/// `/`: send each user where their work is.
pub async fn home(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let Some(auth) = &ctx.auth else {
        return Ok(redirect(paths::LOGIN));
    };
    if !auth.principal.admin_agencies().is_empty() {
        return Ok(redirect(paths::AGENCY_TENANTS));
    }
    let p = auth.principal.clone();
    let visible = ctx.state.db(move |c| tenants::list_visible(c, &p)).await?;
    match visible.first() {
        Some(t) => Ok(redirect(&paths::tenant(&t.slug).home())),
        None => Ok(redirect(paths::ACCOUNT)),
    }
}

pub async fn not_found() -> HttpResponse {
    error_page(StatusCode::NOT_FOUND)
}

/// Translated, human messages for validation failures.
pub fn messages(lang: Lang, errs: &[Invalid]) -> Vec<String> {
    errs.iter()
        .map(|e| {
            let field = lang.t(&format!("field.{}", e.field)).to_string();
            let code = lang.t(&format!("err.{}", e.code)).to_string();
            format!("{field}: {code}")
        })
        .collect()
}

/// A form's refusals shown beside their fields: field → reason, in the viewer's language
/// (the summary at the top is [`messages`]).
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn of(lang: Lang, errs: &[Invalid]) -> FieldErrors {
        FieldErrors(
            errs.iter()
                .map(|e| (e.field, lang.t(&format!("err.{}", e.code)).to_string()))
                .collect(),
        )
    }
    /// Why `field` was refused, if it was.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// A message for a single key.
pub fn message(lang: Lang, key: &str) -> Vec<String> {
    vec![lang.t(key).to_string()]
}

/// Only same-site absolute paths may be redirect targets (no `//evil.example`).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

pub fn session_cookie(value: String, secure: bool, ttl_hours: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::hours(ttl_hours))
        .finish()
}

pub fn expired_cookie(name: &'static str) -> Cookie<'static> {
    Cookie::build(name, "")
        .path("/")
        .max_age(CookieDuration::ZERO)
        .finish()
}

/// Starts a session for `user` and answers with a redirect carrying the new cookies. The
/// CSRF cookie is replaced too, so a value planted before login is worthless after it.
pub async fn start_session(
    ctx: &Ctx,
    user: patron_domain::UserId,
    location: &str,
    flash: Option<&'static str>,
) -> Result<HttpResponse, UiError> {
    let ttl = chrono::TimeDelta::hours(ctx.state.cfg.session_ttl_hours);
    let (ip, ua) = (ctx.ip.clone(), ctx.user_agent.clone());
    let (token, _) = ctx
        .state
        .db(move |c| patron_store::sessions::create(c, user, ttl, &ip, &ua))
        .await?;
    let secure = ctx.state.cfg.secure_cookies;
    let mut res = match flash {
        Some(key) => crate::render::redirect_flash(location, "ok", key, secure),
        None => redirect(location),
    };
    res.add_cookie(&session_cookie(
        token,
        secure,
        ctx.state.cfg.session_ttl_hours,
    ))
    .map_err(|e| UiError::Internal(e.to_string()))?;
    let csrf = Cookie::build(crate::csrf::COOKIE, crate::csrf::new_cookie_value())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    res.add_cookie(&csrf)
        .map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(res)
}

pub use crate::notify::send_mail;

/// A coupon's (or member card's) QR code as an SVG or PNG response.
pub fn coupon_image(payload: &str, ext: &str) -> Result<HttpResponse, UiError> {
    let (body, mime) = match ext {
        "svg" => (
            crate::qr_image::svg(payload, 8)
                .map_err(UiError::Internal)?
                .into_bytes(),
            "image/svg+xml",
        ),
        "png" => (
            crate::qr_image::png(payload, 8).map_err(UiError::Internal)?,
            "image/png",
        ),
        _ => return Err(UiError::NotFound),
    };
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header(("Cache-Control", "private, max-age=300"))
        .body(body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert_eq!(super::safe_next("/t/x"), Some("/t/x"));
        assert_eq!(super::safe_next("//evil.example"), None);
        assert_eq!(super::safe_next("https://evil.example"), None);
        assert_eq!(super::safe_next("/\\evil"), None);
    }
}
