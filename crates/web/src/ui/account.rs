//! The signed-in user's own account: language, password, other sessions.

use crate::ctx::{Ctx, LANG_COOKIE};
use crate::error::UiError;
use crate::i18n::Lang;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use crate::ui::{message, messages, safe_next};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::validate;
use patron_store::{sessions, users};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Page,
    errors: Vec<String>,
}

pub async fn page(ctx: Ctx) -> Result<HttpResponse, UiError> {
    ctx.require_user()?;
    let page = ctx.page("account", "account.title", None).await?;
    Ok(html(
        &AccountPage {
            page,
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    password: String,
    password_confirm: String,
}

/// Changes the password and signs out every other session of the account.
pub async fn change_password(
    ctx: Ctx,
    f: web::Form<PasswordForm>,
) -> Result<HttpResponse, UiError> {
    let auth = ctx.require_user()?;
    ctx.check_csrf(&f.csrf)?;
    let mut errors = match validate::password(&f.password) {
        Ok(()) => vec![],
        Err(e) => messages(ctx.lang, &[e]),
    };
    if f.password != f.password_confirm {
        errors.extend(message(ctx.lang, "err.password_mismatch"));
    }
    // The current-password check spends from the sign-in throttle (account and address):
    // a stolen session cannot be used to guess the password at argon2's pace.
    let keys = crate::signin::throttle_keys(&auth.user.email, &ctx.ip);
    let stored = auth.user.password_hash.clone();
    let current = f.current_password.clone();
    let cfg = ctx.state.cfg.clone();
    let check = ctx
        .state
        .db(move |c| {
            if let Some(minutes) = crate::signin::locked_for(c, &cfg, &keys)? {
                return Ok(Err(minutes));
            }
            let ok = crate::password::verify(&stored, &current);
            if ok {
                patron_store::throttle::clear(c, &keys[0])?;
            } else {
                for k in &keys {
                    patron_store::throttle::record_failure(c, k)?;
                }
            }
            Ok(Ok(ok))
        })
        .await?;
    let status = match check {
        Err(minutes) => {
            tracing::warn!(user_id = auth.user.id, ip = %ctx.ip, "password change throttled");
            errors = vec![ctx.lang.t1("err.too_many_attempts", minutes)];
            StatusCode::TOO_MANY_REQUESTS
        }
        Ok(false) => {
            tracing::info!(user_id = auth.user.id, ip = %ctx.ip, "wrong current password");
            errors.extend(message(ctx.lang, "err.current_password_wrong"));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Ok(true) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    if !errors.is_empty() {
        let page = ctx.page("account", "account.title", None).await?;
        return Ok(html(&AccountPage { page, errors }, status));
    }
    let pw = f.password.clone();
    let hash = web::block(move || crate::password::hash(&pw))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let (uid, sid) = (auth.user.id(), auth.session_id);
    ctx.state
        .db(move |c| {
            patron_store::write_tx(c, |c| {
                users::set_password(c, uid, &hash)?;
                sessions::revoke_all_for_user(c, uid, Some(sid))?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(user_id = uid.0, "password changed");
    Ok(redirect_flash(
        paths::ACCOUNT,
        "ok",
        "flash.password_changed",
        ctx.state.cfg.secure_cookies,
    ))
}

pub async fn revoke_other_sessions(
    ctx: Ctx,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    let auth = ctx.require_user()?;
    ctx.check_csrf(&f.csrf)?;
    let (uid, sid) = (auth.user.id(), auth.session_id);
    ctx.state
        .db(move |c| sessions::revoke_all_for_user(c, uid, Some(sid)))
        .await?;
    Ok(redirect_flash(
        paths::ACCOUNT,
        "ok",
        "flash.sessions_revoked",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LangForm {
    csrf: String,
    lang: String,
    back: String,
}

/// Switches the language: remembered on the account when signed in, in a cookie always.
pub async fn set_language(ctx: Ctx, f: web::Form<LangForm>) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let lang = Lang::parse(&f.lang)
        .ok_or_else(|| UiError::BadRequest(format!("unknown language {:?}", f.lang)))?;
    if let Some(a) = &ctx.auth {
        let uid = a.user.id();
        ctx.state
            .db(move |c| users::set_locale(c, uid, Some(lang.code())))
            .await?;
    }
    let back = safe_next(&f.back).unwrap_or(paths::HOME);
    let mut res = crate::render::redirect(back);
    res.add_cookie(
        &Cookie::build(LANG_COOKIE, lang.code())
            .path("/")
            .same_site(SameSite::Lax)
            .secure(ctx.state.cfg.secure_cookies)
            .max_age(CookieDuration::days(365))
            .finish(),
    )
    .map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(res)
}
