//! Around every request: a request id (in the log span and the `X-Request-Id` header), one
//! access-log line, security headers, the CSRF cookie, and clearing a shown flash message.

use crate::csrf;
use crate::render::FLASH_COOKIE;
use actix_web::body::MessageBody;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use std::time::Instant;
use tracing::Instrument;

#[derive(Clone)]
pub struct RequestId(pub String);

/// What an error page needs to know about the request it answers (its id, the
/// visitor's language), set for the whole of the request's handling: error responses are
/// built where the request itself is out of reach (`ResponseError::error_response`).
#[derive(Clone)]
pub struct RequestInfo {
    pub id: String,
    pub lang: crate::i18n::Lang,
}

tokio::task_local! {
    pub static REQUEST: RequestInfo;
}

/// The browser's CSRF cookie value (existing, or minted for this response).
#[derive(Clone)]
pub struct CsrfCookie(pub String);

/// Settings the middleware needs, registered as app data.
#[derive(Clone, Copy)]
pub struct SecurityConfig {
    pub secure_cookies: bool,
}

fn new_request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let secure = req
        .app_data::<actix_web::web::Data<SecurityConfig>>()
        .map(|c| c.secure_cookies)
        .unwrap_or(false);
    // Accept a caller's id only if it is short and plain, so it cannot forge log lines.
    let rid = req
        .headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(rid.clone()));

    let minted_csrf = match req.cookie(csrf::COOKIE) {
        Some(c) if !c.value().is_empty() => {
            req.extensions_mut()
                .insert(CsrfCookie(c.value().to_string()));
            None
        }
        _ => {
            let v = csrf::new_cookie_value();
            req.extensions_mut().insert(CsrfCookie(v.clone()));
            Some(v)
        }
    };
    let had_flash = req.cookie(FLASH_COOKIE).is_some();

    let method = req.method().clone();
    let path = req.path().to_string();
    let span = tracing::info_span!("request", id = %rid, %method, %path);
    let started = Instant::now();
    let lang = req
        .cookie(crate::ctx::LANG_COOKIE)
        .and_then(|c| crate::i18n::Lang::parse(c.value()))
        .or_else(|| {
            req.headers()
                .get("Accept-Language")
                .and_then(|v| v.to_str().ok())
                .map(crate::i18n::Lang::from_accept_language)
        })
        .unwrap_or(crate::i18n::Lang::En);
    let info = RequestInfo {
        id: rid.clone(),
        lang,
    };
    let mut res = REQUEST
        .scope(info, next.call(req).instrument(span.clone()))
        .await?;

    let status = res.status();
    let h = res.headers_mut();
    let set = |h: &mut actix_web::http::header::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(self), microphone=(), geolocation=()",
    );
    set(h, "cross-origin-opener-policy", "same-origin");
    if secure {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    let response_sets_csrf = res.response().cookies().any(|c| c.name() == csrf::COOKIE);
    if let Some(v) = minted_csrf.filter(|_| !response_sets_csrf) {
        let c = Cookie::build(csrf::COOKIE, v)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .finish();
        let _ = res.response_mut().add_cookie(&c);
    }
    let response_sets_flash = res.response().cookies().any(|c| c.name() == FLASH_COOKIE);
    if had_flash && status.is_success() && !response_sets_flash {
        let c = Cookie::build(FLASH_COOKIE, "")
            .path("/")
            .max_age(CookieDuration::ZERO)
            .finish();
        let _ = res.response_mut().add_cookie(&c);
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), ms, "request finished");
        } else {
            tracing::info!(status = status.as_u16(), ms, "request finished");
        }
    });
    Ok(res)
}
