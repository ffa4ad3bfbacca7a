//! Background work: the tenant's jobs (syncs, imports, messages, bulk issues) with their
//! state, why the last attempt failed in a merchant's words, and a retry for failed ones.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use patron_domain::{JobId, Permission};
use patron_store::jobs::{self, Job};
use patron_store::StoreError;
use serde::Deserialize;

/// Jobs listed on the page.
const SHOWN: i64 = 100;

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    page: Page,
    slug: String,
    tz: String,
    jobs: Vec<Job>,
    failed_only: bool,
}

impl JobsPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    fn kind(&self, j: &Job) -> String {
        self.page.t(&format!("jobkind.{}", j.kind)).to_string()
    }
    fn state(&self, j: &Job) -> String {
        self.page.t(&format!("job.{}", j.state)).to_string()
    }
    fn why(&self, j: &Job) -> Option<String> {
        crate::format::job_failure(self.page.lang, j)
    }
    /// A queued job that failed before waits for its next try.
    fn retrying(&self, j: &Job) -> bool {
        j.state == jobs::QUEUED && j.last_error.is_some()
    }
    fn failed(&self, j: &Job) -> bool {
        j.state == jobs::FAILED
    }
    fn open(&self) -> bool {
        self.jobs
            .iter()
            .any(|j| j.state == jobs::QUEUED || j.state == jobs::RUNNING)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    state: String,
}

pub async fn list(
    ctx: Ctx,
    slug: web::Path<String>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    let failed_only = q.state == jobs::FAILED;
    let s2 = scope.clone();
    let list = ctx
        .state
        .db(move |c| jobs::recent(c, &s2, failed_only.then_some(jobs::FAILED), SHOWN))
        .await?;
    let page = ctx
        .page("jobs", "jobs.title", Some((&scope, &tenant)))
        .await?;
    Ok(html(
        &JobsPage {
            page,
            slug: tenant.slug,
            tz: tenant.time_zone,
            jobs: list,
            failed_only,
        },
        StatusCode::OK,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RetryForm {
    csrf: String,
}

/// Runs a failed job again (someone fixed what it failed on, or WeChat is back).
pub async fn retry(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<RetryForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::Market).await?;
    ctx.check_csrf(&f.csrf)?;
    let back = paths::tenant(&tenant.slug).jobs();
    let secure = ctx.state.cfg.secure_cookies;
    let s2 = scope.clone();
    match ctx
        .state
        .db(move |c| {
            // Look it up first: another tenant's id is "not found", not "not failed".
            jobs::get(c, &s2, JobId(id))?;
            jobs::retry(c, &s2, JobId(id))
                .map(|()| true)
                .or_else(|e| match e {
                    StoreError::NotFound => Ok(false),
                    e => Err(e),
                })
        })
        .await?
    {
        true => {
            tracing::info!(tenant = %tenant.slug, job = id, "failed job queued again");
            Ok(redirect_flash(&back, "ok", "flash.job_retried", secure))
        }
        false => Ok(redirect_flash(&back, "err", "flash.job_not_failed", secure)),
    }
}
