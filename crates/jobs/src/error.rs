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
    /// A call to WeChat failed (retried with backoff; the pages tell why in words).
    #[error("{call}: {source}")]
    Wechat {
        /// The API path, as `user/info`.
        call: &'static str,
        source: patron_wechat::api::Error,
    },
    /// Anything else that a later attempt may get past (WeChat's API, the network, a
    /// panic in the handler).
    #[error("{0}")]
    Failed(String),
}

impl From<patron_app::AppError> for JobError {
    fn from(e: patron_app::AppError) -> Self {
        match e {
            patron_app::AppError::Internal(s) => JobError::Store(s),
            other => JobError::Failed(other.to_string()),
        }
    }
}

impl JobError {
    /// Whether no retry can mend it.
    pub fn is_permanent(&self) -> bool {
        use patron_wechat::api::{codes, Error};
        match self {
            JobError::Payload(_)
            | JobError::WrongTenant
            | JobError::NotConfigured(_)
            | JobError::NoHandler(_) => true,
            // What WeChat refuses for a reason a repeat does not change: the account's
            // setup (a person fixes it, then retries the job from its page), the
            // follower (unfollowed, outside the 48-hour window, not this account's), or
            // a request it would never take.
            JobError::Wechat { source, .. } => match source {
                Error::Invalid(_) => true,
                Error::Api(e) => {
                    e.is_account_problem()
                        || matches!(
                            e.errcode,
                            codes::REQUIRE_SUBSCRIBE
                                | codes::RESPONSE_OUT_OF_TIME
                                | codes::INVALID_OPENID
                                | codes::OPENID_NOT_OF_APPID
                        )
                }
                _ => false,
            },
            JobError::Store(_) | JobError::Failed(_) => false,
        }
    }
}

impl JobError {
    /// A failed call to WeChat's `call`.
    pub fn wechat(call: &'static str, source: patron_wechat::api::Error) -> JobError {
        JobError::Wechat { call, source }
    }

    /// Why, in the form the pages turn into words (`jobs.failure`).
    pub fn failure(&self) -> Option<patron_app::jobs::JobFailure> {
        use patron_app::jobs::JobFailure;
        match self {
            JobError::NotConfigured(_) => Some(JobFailure::NotConfigured),
            JobError::Wechat { call, source } => Some(JobFailure::Wechat {
                call: call.to_string(),
                failure: source.failure(),
            }),
            _ => None,
        }
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
