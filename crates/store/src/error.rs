use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong in the store. The web layer maps each kind to a deliberate status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or exists in another tenant (the two are not told apart).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the text names which, for the caller to translate.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Input broke a domain rule.
    #[error(transparent)]
    Invalid(#[from] patron_domain::validate::Invalid),
    #[error("database error: {0}")]
    Db(DieselError),
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A configuration problem, phrased for the operator.
    #[error("{0}")]
    Config(String),
    /// The blocking task that held the connection failed (it panicked or was cancelled).
    #[error("database task failed: {0}")]
    Task(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// An encrypted value could not be opened: wrong key, or tampered data.
    #[error("cannot decrypt a stored secret: {0}")]
    Secret(&'static str),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StoreError::Conflict("duplicate")
            }
            other => StoreError::Db(other),
        }
    }
}

impl StoreError {
    /// Replace a generic uniqueness conflict by a specific one.
    pub fn conflict_as(self, what: &'static str) -> Self {
        match self {
            StoreError::Conflict(_) => StoreError::Conflict(what),
            other => other,
        }
    }
}
