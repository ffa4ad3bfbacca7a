//! The agency's operations page: the scheduler's tasks (what each does, when it last ran
//! and how, when it runs next) and each merchant account's background work that is
//! waiting, running or failed.

use crate::ctx::Ctx;
use crate::error::UiError;
use crate::render::{html, Page};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use chrono::NaiveDateTime;
use patron_app::operations::{self as ops, Task};
use patron_store::scheduled::TaskRun;
use patron_store::tenants::Tenant;

struct TaskRow {
    task: Task,
    run: Option<TaskRun>,
    next: Option<NaiveDateTime>,
}

struct TenantRow {
    tenant: Tenant,
    queued: i64,
    running: i64,
    failed: i64,
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OperationsPage {
    page: Page,
    tasks: Vec<TaskRow>,
    tenants: Vec<TenantRow>,
}

impl OperationsPage {
    fn utc(&self, t: &Option<NaiveDateTime>) -> String {
        t.map(|t| format!("{} UTC", t.format("%Y-%m-%d %H:%M:%S")))
            .unwrap_or_else(|| "—".into())
    }
    fn what(&self, t: &Task) -> String {
        self.page.t(&format!("task.{}", t.name)).to_string()
    }
    fn ok(&self, r: &TaskRun) -> bool {
        r.last_outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("ok"))
    }
}

pub async fn page(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let scope = ctx.agency()?;
    let (runs, tenants, counts) = ctx
        .state
        .db(move |c| {
            let runs = patron_store::scheduled::all(c)?;
            let tenants = patron_store::tenants::list_for_agency(c, &scope)?;
            let ids: Vec<i64> = tenants.iter().map(|t| t.id).collect();
            let counts = patron_store::jobs::open_counts(c, &ids)?;
            Ok((runs, tenants, counts))
        })
        .await?;
    let now = patron_store::now();
    let tasks = ops::TASKS
        .iter()
        .map(|t| TaskRow {
            task: *t,
            run: runs.iter().find(|r| r.name == t.name).cloned(),
            next: ops::next_run(t, now),
        })
        .collect();
    let count = |id: i64, state: &str| {
        counts
            .iter()
            .find(|(t, s, _)| *t == id && s == state)
            .map_or(0, |c| c.2)
    };
    let tenants = tenants
        .into_iter()
        .map(|t| TenantRow {
            queued: count(t.id, patron_store::jobs::QUEUED),
            running: count(t.id, patron_store::jobs::RUNNING),
            failed: count(t.id, patron_store::jobs::FAILED),
            tenant: t,
        })
        .collect();
    let page = ctx
        .page("agency_operations", "operations.title", None)
        .await?;
    Ok(html(
        &OperationsPage {
            page,
            tasks,
            tenants,
        },
        StatusCode::OK,
    ))
}
