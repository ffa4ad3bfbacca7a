//! Sign in, sign out, forgotten passwords.

use crate::ctx::{Ctx, SESSION_COOKIE};
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect, redirect_flash, Page};
use crate::ui::{expired_cookie, message, messages, safe_next, send_mail, start_session};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::validate;
use patron_store::{password_resets, sessions, throttle, users, write_tx};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    email: String,
    next: String,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: String,
}

pub async fn login_form(ctx: Ctx, q: web::Query<NextQuery>) -> Result<HttpResponse, UiError> {
    if ctx.auth.is_some() {
        return Ok(redirect(safe_next(&q.next).unwrap_or(paths::HOME)));
    }
    let page = ctx.page("login", "login.title", None).await?;
    Ok(html(
        &LoginPage {
            page,
            email: String::new(),
            next: q.next.clone(),
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
    next: String,
}

enum Outcome {
    Ok(patron_domain::UserId),
    Wrong,
    Locked(i64),
}

pub async fn login(ctx: Ctx, f: web::Form<LoginForm>) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let email = f.email.trim().to_lowercase();
    let keys = crate::signin::throttle_keys(&email, &ctx.ip);
    let cfg = ctx.state.cfg.clone();
    let password = f.password.clone();
    let outcome = ctx
        .state
        .db(move |c| {
            if let Some(minutes) = crate::signin::locked_for(c, &cfg, &keys)? {
                return Ok(Outcome::Locked(minutes));
            }
            let [acct_key, ip_key] = &keys;
            let user = users::by_email(c, &email)?;
            let ok = match &user {
                Some(u) if u.disabled_at.is_none() => {
                    crate::password::verify(&u.password_hash, &password)
                }
                _ => {
                    crate::password::verify_dummy(&password);
                    false
                }
            };
            match (ok, user) {
                (true, Some(u)) => {
                    throttle::clear(c, acct_key)?;
                    Ok(Outcome::Ok(u.id()))
                }
                _ => {
                    throttle::record_failure(c, acct_key)?;
                    throttle::record_failure(c, ip_key)?;
                    Ok(Outcome::Wrong)
                }
            }
        })
        .await?;
    let (status, errors) = match outcome {
        Outcome::Ok(user) => {
            tracing::info!(user_id = user.0, "signed in");
            let next = safe_next(&f.next).unwrap_or(paths::HOME).to_string();
            return start_session(&ctx, user, &next, None).await;
        }
        Outcome::Wrong => {
            tracing::info!(ip = %ctx.ip, "failed sign-in");
            (
                StatusCode::UNAUTHORIZED,
                message(ctx.lang, "err.bad_credentials"),
            )
        }
        Outcome::Locked(minutes) => {
            tracing::warn!(ip = %ctx.ip, "sign-in throttled");
            (
                StatusCode::TOO_MANY_REQUESTS,
                vec![ctx.lang.t1("err.too_many_attempts", minutes)],
            )
        }
    };
    let page = ctx.page("login", "login.title", None).await?;
    Ok(html(
        &LoginPage {
            page,
            email: f.email.clone(),
            next: f.next.clone(),
            errors,
        },
        status,
    ))
}

pub async fn logout(
    ctx: Ctx,
    f: web::Form<crate::forms::CsrfOnly>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    if let Some(a) = &ctx.auth {
        let id = a.session_id;
        ctx.state.db(move |c| sessions::revoke(c, id)).await?;
    }
    let mut res = redirect_flash(
        paths::LOGIN,
        "ok",
        "flash.signed_out",
        ctx.state.cfg.secure_cookies,
    );
    res.add_cookie(&expired_cookie(SESSION_COOKIE))
        .map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(res)
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    page: Page,
    errors: Vec<String>,
}

pub async fn forgot_form(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let page = ctx.page("login", "forgot.title", None).await?;
    Ok(html(
        &ForgotPage {
            page,
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ForgotForm {
    csrf: String,
    email: String,
}

/// Always answers the same way and in the same time, so the form cannot be used to learn
/// who has an account: the mail is sent after the answer, from a task of its own. Each
/// request spends from the sign-in throttle's per-address budget, so the form cannot be
/// used to flood inboxes either.
pub async fn forgot(ctx: Ctx, f: web::Form<ForgotForm>) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let Ok(email) = validate::email(&f.email) else {
        let page = ctx.page("login", "forgot.title", None).await?;
        let errors = messages(ctx.lang, &[validate::invalid("email", "invalid_email")]);
        return Ok(html(
            &ForgotPage { page, errors },
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let keys = crate::signin::throttle_keys(&email, &ctx.ip);
    let cfg = ctx.state.cfg.clone();
    let lookup = email.clone();
    let token = ctx
        .state
        .db(move |c| {
            if crate::signin::locked_for(c, &cfg, &keys)?.is_some() {
                return Ok(None);
            }
            // Only the address pays: a reset request is no failed sign-in of the account.
            throttle::record_failure(c, &keys[1])?;
            match users::by_email(c, &lookup)? {
                Some(u) if u.disabled_at.is_none() => Ok(Some(password_resets::create(c, u.id())?)),
                _ => Ok(None),
            }
        })
        .await?;
    if let Some(token) = token {
        let link = format!("{}/password/reset/{token}", ctx.state.cfg.base_url);
        let (state, lang) = (ctx.state.clone(), ctx.lang);
        actix_web::rt::spawn(async move {
            send_mail(
                &state,
                lang,
                &email,
                "mail.reset.subject",
                "mail.reset.body",
                &link,
            )
            .await;
        });
    }
    Ok(redirect_flash(
        paths::LOGIN,
        "ok",
        "flash.reset_sent",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    page: Page,
    token: String,
    errors: Vec<String>,
}

pub async fn reset_form(ctx: Ctx, token: web::Path<String>) -> Result<HttpResponse, UiError> {
    let t = token.clone();
    ctx.state.db(move |c| password_resets::peek(c, &t)).await?;
    let page = ctx.page("login", "reset.title", None).await?;
    Ok(html(
        &ResetPage {
            page,
            token: token.into_inner(),
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    csrf: String,
    password: String,
    password_confirm: String,
}

pub async fn reset(
    ctx: Ctx,
    token: web::Path<String>,
    f: web::Form<ResetForm>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    let t = token.clone();
    ctx.state.db(move |c| password_resets::peek(c, &t)).await?;
    let mut errors = match validate::password(&f.password) {
        Ok(()) => vec![],
        Err(e) => messages(ctx.lang, &[e]),
    };
    if f.password != f.password_confirm {
        errors.extend(message(ctx.lang, "err.password_mismatch"));
    }
    if !errors.is_empty() {
        let page = ctx.page("login", "reset.title", None).await?;
        return Ok(html(
            &ResetPage {
                page,
                token: token.into_inner(),
                errors,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let pw = f.password.clone();
    let hash = web::block(move || crate::password::hash(&pw))
        .await
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let t = token.into_inner();
    ctx.state
        .db(move |c| {
            write_tx(c, |c| {
                let user = password_resets::consume(c, &t)?;
                users::set_password(c, user, &hash)?;
                sessions::revoke_all_for_user(c, user, None)?;
                let email = users::by_id(c, user)?.email;
                throttle::clear(c, &format!("acct:{email}"))?;
                Ok(())
            })
        })
        .await?;
    Ok(redirect_flash(
        paths::LOGIN,
        "ok",
        "flash.password_reset",
        ctx.state.cfg.secure_cookies,
    ))
}
