//! The one error of operations: what went wrong, in terms a page and the API each turn
//! into their own answer once (`UiError: From<AppError>`, `ApiError: From<AppError>`), so
//! a conflict, say, is a conflict everywhere. Outcomes a caller handles as part of the
//! flow (a coupon already redeemed, a void too late) are typed `Ok` values instead.

use patron_domain::validate::Invalid;
use patron_domain::AuthzError;
use patron_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Nothing of this tenant by that name or id (strangers get this too).
    #[error("not found")]
    NotFound,
    /// A member of the tenant whose role does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// Input that breaks a rule, every field at once.
    #[error("invalid fields: {0:?}")]
    Invalid(Vec<Invalid>),
    /// It clashes with what exists (a unique name or code).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Too many failed attempts from this user, token or address.
    #[error("too many attempts")]
    Throttled,
    /// Something broke on our side (the database, a task); logged, never shown.
    #[error("internal: {0}")]
    Internal(StoreError),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Invalid(i) => AppError::Invalid(vec![i]),
            StoreError::Conflict(what) => AppError::Conflict(what),
            other => AppError::Internal(other),
        }
    }
}

impl From<AuthzError> for AppError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::NotFound => AppError::NotFound,
            AuthzError::Forbidden => AppError::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_authorization_errors_keep_their_kind() {
        assert!(matches!(
            AppError::from(StoreError::NotFound),
            AppError::NotFound
        ));
        assert!(matches!(
            AppError::from(StoreError::Conflict("slug_taken")),
            AppError::Conflict("slug_taken")
        ));
        assert!(matches!(
            AppError::from(StoreError::from(patron_domain::validate::invalid(
                "name", "required"
            ))),
            AppError::Invalid(v) if v.len() == 1
        ));
        assert!(matches!(
            AppError::from(AuthzError::Forbidden),
            AppError::Forbidden
        ));
        assert!(matches!(
            AppError::from(StoreError::Config("x".into())),
            AppError::Internal(_)
        ));
    }
}
