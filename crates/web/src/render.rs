//! Rendering: the page frame every template extends, flash messages, and HTML responses.

use crate::i18n::Lang;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

pub const FLASH_COOKIE: &str = "patron_flash";

/// A one-shot message shown on the next page (after a redirect).
#[derive(Debug, Clone)]
pub struct Flash {
    /// `ok` or `err`.
    pub kind: &'static str,
    /// A catalogue key under `flash.`.
    pub key: String,
    /// What fills the message's `{}` (a card's progress, a code), escaped when shown.
    pub arg: Option<String>,
}

impl Flash {
    pub fn parse(cookie: &str) -> Option<Flash> {
        let decoded = urlencoding::decode(cookie).ok()?;
        let (kind, rest) = decoded.split_once('|')?;
        let (key, arg) = match rest.split_once('|') {
            Some((key, arg)) => (key, Some(arg.chars().take(200).collect::<String>())),
            None => (rest, None),
        };
        let kind = match kind {
            "ok" => "ok",
            "err" => "err",
            _ => return None,
        };
        let valid = key.starts_with("flash.")
            && key.len() < 80
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
        valid.then(|| Flash {
            kind,
            key: key.to_string(),
            arg,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone)]
pub struct TenantLink {
    pub slug: String,
    pub name: String,
}

/// The tenant being viewed, with what the viewer may open in it.
#[derive(Debug, Clone)]
pub struct NavTenant {
    pub slug: String,
    pub name: String,
    pub can_settings: bool,
    pub can_market: bool,
    pub can_redeem: bool,
    pub can_users: bool,
    pub can_tokens: bool,
}

/// Everything the frame (`base.html`) needs.
#[derive(Debug, Clone)]
pub struct Page {
    pub lang: Lang,
    pub csrf: String,
    pub title: String,
    pub user: Option<NavUser>,
    pub agency_admin: bool,
    pub tenants: Vec<TenantLink>,
    pub tenant: Option<NavTenant>,
    pub flash: Option<Flash>,
    /// Which navigation entry is current.
    pub active: &'static str,
    /// The current path, for "back here" links.
    pub path: String,
}

impl Page {
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.lang.t(key)
    }
    pub fn t1(&self, key: &str, arg: impl std::fmt::Display) -> String {
        self.lang.t1(key, arg)
    }
    pub fn tn(&self, key: &str, a: impl std::fmt::Display, b: impl std::fmt::Display) -> String {
        self.lang.tn(key, &[&a, &b])
    }
    /// Links within a tenant's pages: `page.at(slug).follower(f.id)`.
    pub fn at<'s>(&self, slug: &'s str) -> crate::paths::Tenant<'s> {
        crate::paths::Tenant(slug)
    }
    /// A file of a follower's own page (`member-card.svg`).
    pub fn follower_file(&self, slug: &str, token: &str, file: &str) -> String {
        patron_app::links::follower_file_path(slug, token, file)
    }
    /// A coupon's QR code on a follower's own page.
    pub fn follower_coupon_svg(&self, slug: &str, token: &str, code: &str) -> String {
        patron_app::links::follower_file_path(slug, token, &format!("{code}.svg"))
    }
    /// Links outside any tenant: `page.site().login()`.
    pub fn site(&self) -> crate::paths::Site {
        crate::paths::Site
    }
    pub fn asset(&self, name: &str) -> String {
        crate::assets::url(name)
    }
    pub fn langs(&self) -> [crate::i18n::Lang; 2] {
        Lang::ALL
    }
    pub fn is_active(&self, name: &str) -> bool {
        self.active == name
    }
    /// Whether the current page is one of a navigation group's (names separated by spaces).
    pub fn in_group(&self, names: &str) -> bool {
        names.split(' ').any(|n| n == self.active)
    }
    pub fn is_tenant(&self, slug: &str) -> bool {
        self.tenant.as_ref().is_some_and(|t| t.slug == slug)
    }
}

/// Renders a template with a status.
pub fn html<T: Template>(t: &T, status: StatusCode) -> HttpResponse {
    match t.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

pub fn ok<T: Template>(t: &T) -> HttpResponse {
    html(t, StatusCode::OK)
}

/// 303 See Other to `location`.
pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

/// 303 See Other with a flash message for the next page.
pub fn redirect_flash(
    location: &str,
    kind: &'static str,
    key: &'static str,
    secure: bool,
) -> HttpResponse {
    flash_cookie(location, &format!("{kind}|{key}"), secure)
}

/// [`redirect_flash`] with a message whose `{}` is `arg` (shown escaped).
pub fn redirect_flash_with(
    location: &str,
    kind: &'static str,
    key: &'static str,
    arg: &str,
    secure: bool,
) -> HttpResponse {
    flash_cookie(location, &format!("{kind}|{key}|{arg}"), secure)
}

fn flash_cookie(location: &str, flash: &str, secure: bool) -> HttpResponse {
    let value = urlencoding::encode(flash).into_owned();
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .cookie(
            Cookie::build(FLASH_COOKIE, value)
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .finish(),
        )
        .finish()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    lang: Lang,
    message: String,
    /// The request id, also in the log line of whatever went wrong.
    request_id: Option<String>,
}

impl ErrorPage {
    fn t(&self, key: &str) -> String {
        self.lang.t(key).to_string()
    }
    fn home(&self) -> String {
        crate::paths::Site.home()
    }
    fn stylesheet(&self) -> String {
        crate::assets::url("app.css")
    }
}

/// An error page that says what happened and nothing about why, in the visitor's
/// language (from the catalogues: `error.<status>`), with the request id to quote to
/// support, which the log line of the failure carries too.
pub fn error_page(status: StatusCode) -> HttpResponse {
    let info = crate::middleware::REQUEST.try_with(|r| r.clone()).ok();
    let lang = info.as_ref().map(|i| i.lang).unwrap_or(Lang::En);
    let key = match status.as_u16() {
        s @ (400 | 403 | 404 | 409 | 410 | 413 | 429) => format!("error.{s}"),
        _ => "error.500".to_string(),
    };
    html(
        &ErrorPage {
            status: status.as_u16(),
            message: lang.t(&key).to_string(),
            lang,
            request_id: info.map(|i| i.id),
        },
        status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_cookie_accepts_only_catalogue_shaped_keys() {
        assert_eq!(Flash::parse("ok%7Cflash.saved").unwrap().key, "flash.saved");
        assert!(Flash::parse("evil|flash.saved").is_none());
        assert!(Flash::parse("ok|<script>").is_none());
        assert!(Flash::parse("ok|nav.home").is_none());
    }
}
