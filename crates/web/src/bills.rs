//! Receiving a trade bill as it arrives, for the reconciliation page (a multipart
//! field) and the API (the raw body): stored in chunks (`patron_app::bills`), its job
//! queued once it is whole; a bill cut short, too large or empty leaves nothing behind.

use crate::AppState;
use actix_web::web;
use futures_util::{Stream, StreamExt};
use patron_app::{bills, AppError};
use patron_domain::TenantScope;
use patron_store::bill_files::BillFile;

/// How receiving ended.
pub(crate) enum Received {
    /// Whole, stored, its job queued.
    Queued(Box<BillFile>),
    /// Over [`bills::MAX_UPLOAD`]: nothing kept.
    TooLarge,
    /// No bytes: nothing kept.
    Empty,
}

/// Why receiving failed (nothing kept either way).
pub(crate) enum ReceiveError {
    /// The body could not be read (the client went away, a broken multipart).
    Body(String),
    App(AppError),
}

impl From<AppError> for ReceiveError {
    fn from(e: AppError) -> Self {
        ReceiveError::App(e)
    }
}

/// Stores `body` as the bill `name` of the tenant, chunk by chunk as it arrives.
pub(crate) async fn receive<E: std::fmt::Display>(
    state: &web::Data<AppState>,
    scope: &TenantScope,
    name: &str,
    by: &str,
    mut body: impl Stream<Item = Result<web::Bytes, E>> + Unpin,
) -> Result<Received, ReceiveError> {
    let (s2, name, by) = (scope.clone(), name.to_string(), by.to_string());
    let file = state
        .run(move |c| bills::start_upload(c, &s2, &name, &by))
        .await?;
    let out = fill(state, scope, file.id, &mut body).await;
    if !matches!(out, Ok(Received::Queued(_))) {
        let (s2, id) = (scope.clone(), file.id);
        if let Err(e) = state.run(move |c| bills::discard(c, &s2, id)).await {
            tracing::warn!(file = id, error = %e, "partial upload not discarded");
        }
    }
    out
}

async fn fill<E: std::fmt::Display>(
    state: &web::Data<AppState>,
    scope: &TenantScope,
    id: i64,
    body: &mut (impl Stream<Item = Result<web::Bytes, E>> + Unpin),
) -> Result<Received, ReceiveError> {
    let mut rx = bills::Receiving::default();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| ReceiveError::Body(e.to_string()))?;
        if rx.size + piece.len() as u64 > bills::MAX_UPLOAD {
            return Ok(Received::TooLarge);
        }
        for (seq, chunk) in rx.push(&piece) {
            let s2 = scope.clone();
            state
                .run(move |c| bills::append(c, &s2, id, seq, &chunk))
                .await?;
        }
    }
    if rx.size == 0 {
        return Ok(Received::Empty);
    }
    let (last, sha1) = rx.finish();
    let s2 = scope.clone();
    let file = state
        .run(move |c| {
            if let Some((seq, chunk)) = last {
                bills::append(c, &s2, id, seq, &chunk)?;
            }
            bills::finish(c, &s2, id, &sha1)
        })
        .await?;
    Ok(Received::Queued(Box::new(file)))
}
