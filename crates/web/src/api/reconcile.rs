//! `/api/v1/reconciliation/…`: trade bills sent for reconciliation (with their
//! progress), the runs with their count per category and totals, and the exceptions,
//! resolved through the same operations as the page (`patron_app::bills`,
//! `patron_app::reconcile`).

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use crate::bills::{ReceiveError, Received};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use patron_app::reconcile::{self as ops, Resolution};
use patron_domain::Permission;
use patron_store::bill_files::{self as files, BillFile};
use patron_store::reconcile::{self as store, Exception, Run};
use serde::{Deserialize, Serialize};

/// A bill on its way to a run, or what it became.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BillJson {
    pub bill: BillFile,
    /// Bytes read so far by the job reconciling it (of `bill.size_bytes`).
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
}

fn bill_json(
    c: &mut patron_store::DbConn,
    f: BillFile,
) -> Result<BillJson, patron_store::StoreError> {
    let p = match f.job_id {
        Some(j) => files::progress_of(c, &[j])?.get(&j).copied(),
        None => None,
    };
    Ok(BillJson {
        progress_done: p.map(|p| p.0),
        progress_total: p.and_then(|p| p.1),
        bill: f,
    })
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct BillQuery {
    /// The file's name, as shown on the page (default `api.csv`).
    pub name: Option<String>,
}

/// Sends a trade bill (as downloaded from WeChat Pay) for reconciliation: stored as it
/// arrives (up to 1 GiB), then reconciled by a job. Poll the bill for its progress and
/// its run.
#[utoipa::path(post, path = "/reconciliation/bills", operation_id = "createBill", tag = "reconciliation",
    params(BillQuery),
    request_body(content = String, content_type = "text/csv", description = "The trade bill"),
    responses(
        (status = 202, description = "Received; being reconciled", body = BillJson),
        (status = 413, description = "Larger than 1 GiB (`too_large`)", body = ErrorBody),
        (status = 422, description = "An empty body", body = ErrorBody),
    ))]
pub async fn create(
    auth: ApiAuth,
    q: web::Query<BillQuery>,
    mut payload: web::Payload,
) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let name: String = q
        .name
        .clone()
        .unwrap_or_else(|| "api.csv".into())
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    match crate::bills::receive(&auth.state, &scope, &name, "API", &mut payload).await {
        Ok(Received::Queued(f)) => {
            let b = auth.state.db(move |c| bill_json(c, *f)).await?;
            Ok(HttpResponse::Accepted().json(b))
        }
        Ok(Received::TooLarge) => {
            tracing::info!("API bill refused: over 1 GiB");
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the bill is larger than 1 GiB: split it by day, or give it to patron reconcile import",
            ))
        }
        Ok(Received::Empty) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "the body is empty: send the trade bill as downloaded from WeChat Pay",
        )),
        Err(ReceiveError::Body(e)) => Err(ApiError::bad_request(format!("reading the body: {e}"))),
        Err(ReceiveError::App(e)) => Err(e.into()),
    }
}

/// A bill sent for reconciliation: its state, the job's progress, and its run when done
/// (or why it was refused).
#[utoipa::path(get, path = "/reconciliation/bills/{bill_id}", operation_id = "getBill", tag = "reconciliation",
    params(("bill_id" = i64, Path)),
    responses(
        (status = 200, description = "The bill", body = BillJson),
        (status = 404, description = "No such bill", body = ErrorBody),
    ))]
pub async fn show_bill(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let id = id.into_inner();
    let b = auth
        .state
        .db(move |c| {
            let f = files::get(c, &scope, id)?;
            bill_json(c, f)
        })
        .await?;
    Ok(HttpResponse::Ok().json(b))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunList {
    pub runs: Vec<Run>,
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many (1 to 500, default 30).
    pub limit: Option<i64>,
}

/// The runs, newest first.
#[utoipa::path(get, path = "/reconciliation/runs", operation_id = "listRuns", tag = "reconciliation",
    params(LimitQuery),
    responses((status = 200, description = "The runs", body = RunList)))]
pub async fn runs(auth: ApiAuth, q: web::Query<LimitQuery>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let limit = q.limit.unwrap_or(30).clamp(1, 500);
    let runs = auth
        .state
        .db(move |c| store::runs(c, &scope, limit))
        .await?;
    Ok(HttpResponse::Ok().json(RunList { runs }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunJson {
    pub run: Run,
    /// Everything the run found that is not a match (at most 10,000).
    pub exceptions: Vec<Exception>,
}

/// A run with its exceptions.
#[utoipa::path(get, path = "/reconciliation/runs/{run_id}", operation_id = "getRun", tag = "reconciliation",
    params(("run_id" = i64, Path)),
    responses(
        (status = 200, description = "The run", body = RunJson),
        (status = 404, description = "No such run", body = ErrorBody),
    ))]
pub async fn show_run(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let id = id.into_inner();
    let (run, exceptions) = auth
        .state
        .db(move |c| {
            let run = store::run(c, &scope, id)?;
            let ex = store::exceptions(c, &scope, Some(id), 10_000)?;
            Ok((run, ex))
        })
        .await?;
    Ok(HttpResponse::Ok().json(RunJson { run, exceptions }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExceptionList {
    pub exceptions: Vec<Exception>,
}

/// The open exceptions, oldest first.
#[utoipa::path(get, path = "/reconciliation/exceptions", operation_id = "listExceptions", tag = "reconciliation",
    params(LimitQuery),
    responses((status = 200, description = "The open exceptions", body = ExceptionList)))]
pub async fn exceptions(auth: ApiAuth, q: web::Query<LimitQuery>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let limit = q.limit.unwrap_or(500).clamp(1, 500);
    let exceptions = auth
        .state
        .db(move |c| store::exceptions(c, &scope, None, limit))
        .await?;
    Ok(HttpResponse::Ok().json(ExceptionList { exceptions }))
}

/// How to resolve an exception.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResolveBody {
    /// `accept` (a payment missing here is added from the bill), `adjust` or `write_off`.
    #[schema(example = "write_off")]
    pub how: String,
    /// Why (1 to 500 characters); kept with who and when.
    pub reason: String,
}

/// Resolves an open exception.
#[utoipa::path(post, path = "/reconciliation/exceptions/{exception_id}/resolve", operation_id = "resolveException", tag = "reconciliation",
    params(("exception_id" = i64, Path)),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "Resolved", body = Exception),
        (status = 404, description = "No such exception", body = ErrorBody),
        (status = 409, description = "Not open any more, or the payment differs (`conflict`)", body = ErrorBody),
        (status = 422, description = "An unknown resolution, a missing reason, or accept on an exception that is not a payment missing here", body = ErrorBody),
    ))]
pub async fn resolve(auth: ApiAuth, id: web::Path<i64>, body: web::Json<ResolveBody>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let id = id.into_inner();
    let b = body.into_inner();
    let by = "API".to_string();
    let e = auth
        .state
        .run(move |c| {
            // Another tenant's exception (or none) is not found, whatever the body says.
            store::exception(c, &scope, id)?;
            let how = Resolution::parse(&b.how).ok_or_else(|| {
                patron_app::AppError::Invalid(vec![patron_domain::validate::invalid(
                    "how",
                    "invalid_choice",
                )])
            })?;
            ops::resolve(c, &scope, id, how, &b.reason, &by)
        })
        .await?;
    tracing::info!(exception = e.id, state = %e.state, "exception resolved through the API");
    Ok(HttpResponse::Ok().json(e))
}
