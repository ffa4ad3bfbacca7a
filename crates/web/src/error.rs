//! The UI's error type. Each kind has a deliberate status; internal details go to the log
//! with the request id, never to the page.

use crate::render::error_page;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use patron_domain::AuthzError;
use patron_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// Not signed in: send the browser to the login page, then back to `next`.
    #[error("login required")]
    LoginRequired { next: String },
    /// The form's CSRF token is missing or stale.
    #[error("csrf check failed")]
    Csrf,
    #[error("payload too large")]
    TooLarge,
    /// The change clashes with what exists (a unique name or code): 409, as in the API.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too many failed attempts (a throttle): 429.
    #[error("too many attempts")]
    TooManyAttempts,
    /// A link that was genuine but has expired.
    #[error("gone")]
    Gone,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Something broke on our side; the message is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => UiError::NotFound,
            StoreError::Invalid(i) => UiError::BadRequest(i.to_string()),
            StoreError::Conflict(what) => UiError::Conflict(what),
            other => UiError::Internal(other.to_string()),
        }
    }
}

/// An operation's error as a page answers it: the one mapping of `AppError` for the UI.
impl From<patron_app::AppError> for UiError {
    fn from(e: patron_app::AppError) -> Self {
        use patron_app::AppError as A;
        match e {
            A::NotFound => UiError::NotFound,
            A::Forbidden => UiError::Forbidden,
            A::Invalid(errs) => UiError::BadRequest(
                errs.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            A::Conflict(what) => UiError::Conflict(what),
            A::Throttled => UiError::TooManyAttempts,
            A::Internal(err) => UiError::Internal(err.to_string()),
        }
    }
}

impl From<AuthzError> for UiError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::NotFound => UiError::NotFound,
            AuthzError::Forbidden => UiError::Forbidden,
        }
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::NotFound => StatusCode::NOT_FOUND,
            UiError::Forbidden | UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UiError::Conflict(_) => StatusCode::CONFLICT,
            UiError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            UiError::Gone => StatusCode::GONE,
            UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::LoginRequired { next } => HttpResponse::SeeOther()
                .insert_header(("Location", crate::paths::Site.login_then(next)))
                .finish(),
            UiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                error_page(self.status_code())
            }
            UiError::BadRequest(detail) => {
                tracing::info!(error = %detail, "bad request");
                error_page(self.status_code())
            }
            UiError::Csrf => {
                tracing::warn!("CSRF check failed");
                error_page(self.status_code())
            }
            UiError::Conflict(what) => {
                tracing::info!(conflict = what, "conflict");
                error_page(self.status_code())
            }
            _ => error_page(self.status_code()),
        }
    }
}
