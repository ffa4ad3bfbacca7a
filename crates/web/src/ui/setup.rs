//! First run: while no user exists, a one-time link (printed by `patron serve`) lets the
//! first person create the agency and its administrator. No default passwords anywhere.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, Page};
use crate::ui::{message, messages, start_session};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::validate::{self, Invalid};
use patron_domain::Role;
use patron_store::{settings, tenants, tokens, users, DbConn, StoreError};
use serde::Deserialize;

const SETUP_KEY: &str = "setup_token_hash";

/// Called at start: if nobody can log in yet, mints a fresh setup token and returns the
/// link to print. Each start replaces the previous token.
pub fn first_run_link(conn: &mut DbConn, base_url: &str) -> Result<Option<String>, StoreError> {
    if users::count(conn)? > 0 {
        settings::delete(conn, SETUP_KEY)?;
        return Ok(None);
    }
    let (token, hash) = tokens::generate("");
    settings::set(conn, SETUP_KEY, &hash)?;
    Ok(Some(format!("{base_url}/setup?token={token}")))
}

fn token_is_valid(conn: &mut DbConn, token: &str) -> Result<bool, StoreError> {
    let stored = settings::get(conn, SETUP_KEY)?;
    Ok(users::count(conn)? == 0 && stored.is_some_and(|h| h == tokens::hash(token)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SetupForm {
    csrf: String,
    token: String,
    agency_name: String,
    name: String,
    email: String,
    password: String,
    password_confirm: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: Page,
    token: String,
    agency_name: String,
    name: String,
    email: String,
    errors: Vec<String>,
}

async fn check_token(ctx: &Ctx, token: &str) -> Result<(), UiError> {
    let t = token.to_string();
    if ctx.state.db(move |c| token_is_valid(c, &t)).await? {
        Ok(())
    } else {
        Err(UiError::NotFound)
    }
}

pub async fn form(ctx: Ctx, q: web::Query<TokenQuery>) -> Result<HttpResponse, UiError> {
    check_token(&ctx, &q.token).await?;
    let page = ctx.page("setup", "setup.title", None).await?;
    Ok(html(
        &SetupPage {
            page,
            token: q.token.clone(),
            agency_name: String::new(),
            name: String::new(),
            email: String::new(),
            errors: vec![],
        },
        StatusCode::OK,
    ))
}

pub async fn submit(ctx: Ctx, f: web::Form<SetupForm>) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&f.csrf)?;
    check_token(&ctx, &f.token).await?;
    let mut errs: Vec<Invalid> = Vec::new();
    let agency = validate::name("agency_name", &f.agency_name)
        .map_err(|e| errs.push(e))
        .ok();
    let name = validate::name("name", &f.name)
        .map_err(|e| errs.push(e))
        .ok();
    let email = validate::email(&f.email).map_err(|e| errs.push(e)).ok();
    let _ = validate::password(&f.password).map_err(|e| errs.push(e));
    let mut errors = messages(ctx.lang, &errs);
    if f.password != f.password_confirm {
        errors.extend(message(ctx.lang, "err.password_mismatch"));
    }
    let (Some(agency), Some(name), Some(email), true) = (agency, name, email, errors.is_empty())
    else {
        let page = ctx.page("setup", "setup.title", None).await?;
        return Ok(html(
            &SetupPage {
                page,
                token: f.token.clone(),
                agency_name: f.agency_name.clone(),
                name: f.name.clone(),
                email: f.email.clone(),
                errors,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    };
    let hash = web::block({
        let pw = f.password.clone();
        move || crate::password::hash(&pw)
    })
    .await
    .map_err(|e| UiError::Internal(e.to_string()))?;
    let token = f.token.clone();
    let locale = ctx.lang.code().to_string();
    let user = ctx
        .state
        .db(move |c| {
            patron_store::write_tx(c, |c| {
                // Re-checked inside the write transaction: two racing submits make one admin.
                if !token_is_valid(c, &token)? {
                    return Err(StoreError::NotFound);
                }
                let a = tenants::create_agency(c, &agency)?;
                let u = users::create(c, &email, &name, &hash, Some(&locale))?;
                users::add_membership(
                    c,
                    u.id(),
                    patron_domain::AgencyId(a.id),
                    None,
                    Role::AgencyAdmin,
                    &[],
                )?;
                settings::delete(c, SETUP_KEY)?;
                Ok(u)
            })
        })
        .await?;
    tracing::info!(user_id = user.id, "first-run setup completed");
    start_session(
        &ctx,
        user.id(),
        paths::AGENCY_TENANTS,
        Some("flash.welcome"),
    )
    .await
}
