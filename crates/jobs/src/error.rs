//! Why a job's attempt failed. A handler answers with a [`JobError`]; the worker records
//! its message on the job and, for a failure no retry can mend, fails the job at once
//! instead of retrying it with backoff.

use patron_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The stored payload does not read as its kind's (`patron_app::jobs`): permanent.
    #[error(transparent)]
    Payload(#[from] patron_app::jobs::BadPayload),
    /// The payload names another tenant than the job's: permanent.
    #[error("the payload names another tenant than the job")]
    WrongTenant,
    /// The tenant is not set up for this (no AppID or AppSecret): permanent until someone
    /// sets it up, and then a new job is queued.
    #[error("the tenant is not set up for this: {0}")]
    NotConfigured(String),
    /// No handler is registered for the job's kind: permanent.
    #[error("no handler for job kind {0:?}")]
    NoHandler(String),
    /// The database (retried with backoff).
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// Anything else that a later attempt may get past (WeChat's API, the network, a
    /// panic in the handler).
    #[error("{0}")]
    Failed(String),
}

impl JobError {
    /// Whether no retry can mend it.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            JobError::Payload(_)
                | JobError::WrongTenant
                | JobError::NotConfigured(_)
                | JobError::NoHandler(_)
        )
    }
}

impl From<String> for JobError {
    fn from(s: String) -> Self {
        JobError::Failed(s)
    }
}

impl From<&str> for JobError {
    fn from(s: &str) -> Self {
        JobError::Failed(s.to_string())
    }
}

impl From<patron_app::wechat::NoClient> for JobError {
    fn from(e: patron_app::wechat::NoClient) -> Self {
        match e {
            patron_app::wechat::NoClient::NotConfigured => JobError::NotConfigured(e.to_string()),
            patron_app::wechat::NoClient::Store(s) => JobError::Store(s),
            other => JobError::Failed(other.to_string()),
        }
    }
}
