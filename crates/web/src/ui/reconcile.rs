//! Reconciliation: upload a day's trade bill, the runs with their count per category,
//! and the exception inbox (each open exception resolved by accepting WeChat's record,
//! adjusting or writing it off, with a reason), exported as CSV.

use crate::bills::{ReceiveError, Received};
use crate::ctx::Ctx;
use crate::error::UiError;
use crate::paths;
use crate::render::{html, redirect_flash, Page};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use patron_app::reconcile::{self as ops, Resolution};
use patron_app::AppError;
use patron_domain::Permission;
use patron_store::bill_files::BillFile;
use patron_store::reconcile::{self as store, Exception, Run};
use serde::Deserialize;

/// A job's progress: done, and the total when known.
type Progress = (i64, Option<i64>);

#[derive(Template)]
#[template(path = "reconciliation.html")]
struct ReconPage {
    page: Page,
    slug: String,
    tz: String,
    runs: Vec<Run>,
    open: Vec<Exception>,
    /// The latest bills received or fetched, with their job's progress.
    files: Vec<(BillFile, Option<Progress>)>,
    errors: Vec<String>,
}

impl ReconPage {
    fn when(&self, t: &chrono::NaiveDateTime) -> String {
        crate::format::local(t, &self.tz)
    }
    /// A run's non-zero categories, in words.
    fn counts(&self, r: &Run) -> String {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&r.counts).unwrap_or_default();
        map.iter()
            .filter(|(_, v)| v.as_i64().unwrap_or(0) > 0)
            .map(|(k, v)| format!("{} {v}", self.page.t(&format!("recon.cat_{k}"))))
            .collect::<Vec<_>>()
            .join(" · ")
    }
    fn category(&self, e: &Exception) -> String {
        self.page
            .t(&format!("recon.cat_{}", e.category))
            .to_string()
    }
    /// An amount of one side of an exception (`order_fen` of the bill, `amount_fen` ours).
    fn side(&self, json: &Option<String>, key: &str) -> String {
        json.as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .and_then(|v| v[key].as_i64())
            .map(|f| format!("¥{}", patron_domain::coupons::yuan(f)))
            .unwrap_or_else(|| "—".into())
    }
    /// A bill still on its way: the page refreshes itself until none is.
    fn any_open(&self) -> bool {
        self.files.iter().any(|(f, _)| f.is_open())
    }
    /// How far a file's job has read, in percent.
    fn percent(&self, p: &Option<Progress>) -> i64 {
        match p {
            Some((done, Some(total))) if *total > 0 => (done * 100 / total).clamp(0, 100),
            _ => 0,
        }
    }
    fn file_state(&self, f: &BillFile) -> String {
        self.page.t(&format!("recon.file_{}", f.state)).to_string()
    }
    fn size(&self, f: &BillFile) -> String {
        let b = f.size_bytes as f64;
        if b >= 1_048_576.0 {
            format!("{:.1} MB", b / 1_048_576.0)
        } else {
            format!("{:.0} KB", (b / 1024.0).ceil())
        }
    }
    /// What a run's bill adds up to beside what is recorded here for the day.
    fn totals(&self, r: &Run) -> String {
        let Some(t) = r
            .totals
            .as_deref()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        else {
            return String::new();
        };
        let yuan = |v: &serde_json::Value| {
            v.as_i64()
                .map(|f| format!("¥{}", patron_domain::coupons::yuan(f)))
                .unwrap_or_else(|| "—".into())
        };
        format!(
            "{} {} · {} {}",
            self.page.t("recon.bill_paid"),
            yuan(&t["bill"]["settled_fen"]),
            self.page.t("recon.our_paid"),
            yuan(&t["ours"]["paid_fen"]),
        )
    }
    fn acceptable(&self, e: &Exception) -> bool {
        e.category == "missing_here" && e.kind == "payment"
    }
}

async fn render(ctx: &Ctx, slug: &str, errors: Vec<String>) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(slug, Permission::ManageSettings).await?;
    let s2 = scope.clone();
    let (runs, open, files) = ctx
        .state
        .db(move |c| {
            let files = patron_store::bill_files::recent(c, &s2, 10)?;
            let jobs: Vec<i64> = files.iter().filter_map(|f| f.job_id).collect();
            let progress = patron_store::bill_files::progress_of(c, &jobs)?;
            let files = files
                .into_iter()
                .map(|f| {
                    let p = f.job_id.and_then(|j| progress.get(&j).copied());
                    (f, p)
                })
                .collect();
            Ok((
                store::runs(c, &s2, 30)?,
                store::exceptions(c, &s2, None, 500)?,
                files,
            ))
        })
        .await?;
    let page = ctx
        .page("reconciliation", "recon.title", Some((&scope, &tenant)))
        .await?;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        &ReconPage {
            page,
            slug: tenant.slug,
            tz: tenant.time_zone,
            runs,
            open,
            files,
            errors,
        },
        status,
    ))
}

pub async fn page(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    render(&ctx, &slug, vec![]).await
}

/// A bill uploaded: stored in chunks as it arrives (up to `bills::MAX_UPLOAD`), then
/// reconciled by a job; the page shows its progress.
pub async fn upload(
    ctx: Ctx,
    slug: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    let Some(mut up) = crate::forms::open_upload(&ctx, &req, payload).await? else {
        let m = ctx.lang.t("recon.no_file").to_string();
        return render(&ctx, &slug, vec![m]).await;
    };
    let by = ctx.require_user()?.user.name.clone();
    let name = up.file_name.clone();
    let received = crate::bills::receive(&ctx.state, &scope, &name, &by, up.body()).await;
    let message = match received {
        Ok(Received::Queued(file)) => {
            up.drain().await;
            tracing::info!(tenant = %tenant.slug, file = file.id, bytes = file.size_bytes, "bill received");
            None
        }
        Ok(Received::TooLarge) => Some("recon.too_large"),
        Ok(Received::Empty) => Some("recon.empty_file"),
        Err(ReceiveError::Body(e)) => {
            tracing::info!(tenant = %tenant.slug, error = %e, "bill upload cut short");
            return Err(UiError::BadRequest(e));
        }
        Err(ReceiveError::App(e)) => return Err(e.into()),
    };
    if let Some(key) = message {
        let m = ctx.lang.t(key).to_string();
        return render(&ctx, &slug, vec![m]).await;
    }
    Ok(redirect_flash(
        &paths::tenant(&tenant.slug).reconciliation(),
        "ok",
        "flash.bill_queued",
        ctx.state.cfg.secure_cookies,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResolveForm {
    csrf: String,
    how: String,
    reason: String,
}

pub async fn resolve(
    ctx: Ctx,
    path: web::Path<(String, i64)>,
    f: web::Form<ResolveForm>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    ctx.check_csrf(&f.csrf)?;
    // Another tenant's exception (or none) is not found, whatever the form says.
    let s2 = scope.clone();
    ctx.state.db(move |c| store::exception(c, &s2, id)).await?;
    let Some(how) = Resolution::parse(&f.how) else {
        let m = crate::ui::messages(
            ctx.lang,
            &[patron_domain::validate::invalid(
                "resolution",
                "invalid_choice",
            )],
        );
        return render(&ctx, &slug, m).await;
    };
    let by = ctx.require_user()?.user.name.clone();
    let reason = f.reason.clone();
    match ctx
        .state
        .run(move |c| ops::resolve(c, &scope, id, how, &reason, &by))
        .await
    {
        Ok(e) => {
            tracing::info!(tenant = %tenant.slug, exception = e.id, state = %e.state, "exception resolved");
            Ok(redirect_flash(
                &paths::tenant(&tenant.slug).reconciliation(),
                "ok",
                "flash.saved",
                ctx.state.cfg.secure_cookies,
            ))
        }
        Err(AppError::Invalid(errs)) => {
            render(&ctx, &slug, crate::ui::messages(ctx.lang, &errs)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Every exception (open and resolved) as CSV.
pub async fn export(ctx: Ctx, slug: web::Path<String>) -> Result<HttpResponse, UiError> {
    let (scope, tenant) = ctx.tenant(&slug, Permission::ManageSettings).await?;
    let rows = ctx
        .state
        .db(move |c| store::all_exceptions(c, &scope))
        .await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "bill_date",
        "category",
        "kind",
        "out_trade_no",
        "out_refund_no",
        "state",
        "reason",
        "resolved_by",
        "resolved_at",
        "bill_side",
        "our_side",
    ];
    let csv_err = |e: csv::Error| UiError::BadRequest(e.to_string());
    w.write_record(header).map_err(csv_err)?;
    for e in rows {
        w.write_record([
            e.id.to_string(),
            e.bill_date.to_string(),
            e.category,
            e.kind,
            e.out_trade_no,
            e.out_refund_no.unwrap_or_default(),
            e.state,
            e.reason.unwrap_or_default(),
            e.resolved_by.unwrap_or_default(),
            e.resolved_at.map(|t| t.to_string()).unwrap_or_default(),
            e.bill_side.unwrap_or_default(),
            e.our_side.unwrap_or_default(),
        ])
        .map_err(csv_err)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| UiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-reconciliation-exceptions.csv\"",
                tenant.slug
            ),
        ))
        .body(body))
}
