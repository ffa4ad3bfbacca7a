//! `/api/v1/follower-imports`: the CSV import, as in the UI: post the file (checked at
//! once, every bad row listed), then confirm; a job applies it in one transaction.

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use patron_domain::follower_csv::RowError;
use patron_domain::Permission;
use patron_store::imports::{self, Import};
use patron_store::jobs;
use serde::Serialize;

/// A followers import.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportJson {
    pub id: i64,
    pub file_name: String,
    /// `checked` (can be confirmed), `rejected` (`errors` lists the rows), `queued`,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub total_rows: i64,
    pub new_rows: i64,
    pub error_rows: i64,
    /// The first refused rows, with their line and column.
    pub errors: Vec<RowError>,
    pub message: Option<String>,
    /// While it is applied: rows done of the total.
    pub progress: Option<Progress>,
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub done: i64,
    /// Null until the job has counted the rows.
    pub total: Option<i64>,
}

fn json(imp: &Import, job: Option<&jobs::Job>) -> ImportJson {
    ImportJson {
        id: imp.id,
        file_name: imp.file_name.clone(),
        status: imp.status.clone(),
        total_rows: imp.total_rows,
        new_rows: imp.new_rows,
        error_rows: imp.error_rows,
        errors: imp.row_errors(),
        message: imp.message.clone(),
        progress: job.map(|j| Progress {
            done: j.progress_done,
            total: j.progress_total,
        }),
        created_at: imp.created_at,
    }
}

/// Takes the CSV as the request body (`text/csv`, at most 64 MiB). The token is checked
/// before the body is read; the body is streamed in up to that limit (the server's 1 MiB
/// limit for other JSON bodies does not apply here).
#[utoipa::path(post, path = "/follower-imports", operation_id = "createFollowerImport", tag = "imports",
    request_body(content = String, content_type = "text/csv", description = "The CSV: an `openid` column and any of the profile and attribute columns"),
    responses(
        (status = 201, description = "The import, checked", body = ImportJson),
        (status = 413, description = "Larger than 64 MiB (`too_large`)", body = ErrorBody),
        (status = 422, description = "The file is refused as a whole (no openid column, unknown columns, not UTF-8, not CSV, empty)", body = ErrorBody),
    ))]
pub async fn create(auth: ApiAuth, mut payload: web::Payload) -> ApiResult {
    use futures_util::StreamExt;
    let scope = auth.require(Permission::Market)?.clone();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the file is larger than 64 MiB",
        )
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        if body.len() + chunk.len() > patron_app::followers::MAX_UPLOAD {
            tracing::info!("API import refused: body over 64 MiB");
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let result = auth
        .state
        .run(move |c| patron_app::imports::check_file(c, &scope, "API", "api.csv", &body))
        .await?;
    match result {
        Ok(imp) => Ok(HttpResponse::Created().json(json(&imp, None))),
        Err(e) => {
            tracing::info!(reason = e.code(), "API import refused");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("{} ({e})", e.code()),
            ))
        }
    }
}

/// An import and, while it runs, its progress.
#[utoipa::path(get, path = "/follower-imports/{import_id}", operation_id = "getFollowerImport", tag = "imports",
    params(("import_id" = i64, Path)),
    responses(
        (status = 200, description = "The import", body = ImportJson),
        (status = 404, description = "No such import", body = ErrorBody),
    ))]
pub async fn show(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let (imp, job) = auth
        .state
        .db(move |c| {
            let imp = imports::get(c, &scope, id)?;
            let job = match imp.job_id {
                Some(j) => jobs::get(c, &scope, patron_domain::JobId(j)).ok(),
                None => None,
            };
            Ok((imp, job))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json(&imp, job.as_ref())))
}

/// Starts applying a checked import; 409 if it was rejected or already ran.
#[utoipa::path(post, path = "/follower-imports/{import_id}/confirm", operation_id = "confirmFollowerImport", tag = "imports",
    params(("import_id" = i64, Path)),
    responses(
        (status = 202, description = "Queued", body = ImportJson),
        (status = 404, description = "No such import", body = ErrorBody),
        (status = 409, description = "Rejected, or confirmed before (`conflict`)", body = ErrorBody),
    ))]
pub async fn confirm(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let imp = auth
        .state
        .run(move |c| {
            patron_app::imports::confirm(c, &scope, id)?;
            Ok(imports::get(c, &scope, id)?)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(json(&imp, None)))
}
