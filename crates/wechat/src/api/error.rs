//! Errors of the OA API client: WeChat's own `errcode`s ([`ApiError`]) apart from
//! transport failures and requests refused before they were sent ([`Error`]).

use std::fmt;

/// WeChat's error codes that Patron names (fact sheet §5, §5.7 and the endpoint
/// sections). Any other code still arrives as an [`ApiError`] with its number.
pub mod codes {
    /// −1: system busy; retry after a short pause. The client retries it itself.
    pub const SYSTEM_BUSY: i64 = -1;
    /// 40001: invalid credential: the access_token is invalid or not the latest (or,
    /// when fetching a token, a wrong AppSecret on older API versions).
    pub const INVALID_CREDENTIAL: i64 = 40001;
    /// 40002: invalid `grant_type`.
    pub const INVALID_GRANT_TYPE: i64 = 40002;
    /// 40003: invalid openid (unknown, or of another account).
    pub const INVALID_OPENID: i64 = 40003;
    /// 40007: invalid media_id.
    pub const INVALID_MEDIA_ID: i64 = 40007;
    /// 40008: invalid message type.
    pub const INVALID_MESSAGE_TYPE: i64 = 40008;
    /// 40013: invalid appid.
    pub const INVALID_APPID: i64 = 40013;
    /// 40014: invalid access_token (malformed).
    pub const INVALID_ACCESS_TOKEN: i64 = 40014;
    /// 40016: invalid number of top-level menu buttons.
    pub const INVALID_BUTTON_SIZE: i64 = 40016;
    /// 40023: invalid number of sub-menu buttons.
    pub const INVALID_SUB_BUTTON_SIZE: i64 = 40023;
    /// 40032: invalid openid list size (batch tagging > 50, batch user info > 100).
    pub const INVALID_OPENID_LIST_SIZE: i64 = 40032;
    /// 40053: invalid `action_info` in a QR code request.
    pub const INVALID_ACTION_INFO: i64 = 40053;
    /// 40125: invalid AppSecret.
    pub const INVALID_APPSECRET: i64 = 40125;
    /// 40131: "out of limit of ticket". WeChat documents the cap of 100 000 permanent
    /// QR codes but not the code it answers past it; this is the one the Patron
    /// simulator uses for it (an assumption, see `patron-simulator`).
    pub const TICKET_LIMIT: i64 = 40131;
    /// 40164: the caller's IP is not on the account's whitelist.
    pub const IP_NOT_WHITELISTED: i64 = 40164;
    /// 41001: the access_token parameter is missing.
    pub const ACCESS_TOKEN_MISSING: i64 = 41001;
    /// 42001: the access_token has expired.
    pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
    /// 43004: the user does not follow the account.
    pub const REQUIRE_SUBSCRIBE: i64 = 43004;
    /// 45009: the API's daily quota is used up.
    pub const API_DAILY_QUOTA: i64 = 45009;
    /// 45011: the API's per-minute limit is reached.
    pub const API_MINUTE_QUOTA: i64 = 45011;
    /// 45015: customer-service message outside the interaction window (or the user
    /// unfollowed).
    pub const RESPONSE_OUT_OF_TIME: i64 = 45015;
    /// 45047: customer-service messages exceed the count allowed in the window.
    pub const RESPONSE_COUNT_EXCEEDED: i64 = 45047;
    /// 45056: too many tags (100 per account).
    pub const TOO_MANY_TAGS: i64 = 45056;
    /// 45057: the tag has more than 100 000 followers and cannot be deleted.
    pub const TAG_HAS_TOO_MANY_FANS: i64 = 45057;
    /// 45058: tags 0, 1 and 2 are reserved and cannot be changed.
    pub const RESERVED_TAG: i64 = 45058;
    /// 45059: a follower would carry more than 20 tags.
    pub const USER_HAS_TOO_MANY_TAGS: i64 = 45059;
    /// 45065: a mass send with the same `clientmsgid` exists (the response carries its
    /// `msg_id`; [`crate::api::Client::mass_send_all`] turns it into a success).
    pub const CLIENTMSGID_DUPLICATE: i64 = 45065;
    /// 45066: the same `clientmsgid` was retried too fast; wait a minute.
    pub const CLIENTMSGID_RETRY_TOO_FAST: i64 = 45066;
    /// 45067: `clientmsgid` longer than 64 bytes.
    pub const CLIENTMSGID_TOO_LONG: i64 = 45067;
    /// 45157: invalid tag name (empty or the same as another tag's).
    pub const INVALID_TAG_NAME: i64 = 45157;
    /// 45158: tag name longer than 30 bytes.
    pub const TAG_NAME_TOO_LONG: i64 = 45158;
    /// 45159: invalid tag id.
    pub const INVALID_TAG_ID: i64 = 45159;
    /// 46003: the account has no menu.
    pub const MENU_NOT_EXIST: i64 = 46003;
    /// 47001: the body is not the JSON the API expects.
    pub const DATA_FORMAT_ERROR: i64 = 47001;
    /// 48001: the account is not authorised for this API.
    pub const API_UNAUTHORIZED: i64 = 48001;
    /// 48004: the API is banned for this account.
    pub const API_BANNED: i64 = 48004;
    /// 48006: the monthly quota resets (`clear_quota`) are used up.
    pub const CLEAR_QUOTA_EXHAUSTED: i64 = 48006;
    /// 49003: the openid does not belong to this appid.
    pub const OPENID_NOT_OF_APPID: i64 = 49003;
    /// 50001: the user is restricted (not authorised for the API).
    pub const USER_RESTRICTED: i64 = 50001;
    /// 50002: the user is restricted / the API is restricted for the account.
    pub const API_RESTRICTED: i64 = 50002;
}

/// A non-zero `errcode` in WeChat's answer (which comes with HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// WeChat's error code; see [`codes`].
    pub errcode: i64,
    /// WeChat's message, as sent (often English, with an `rid` for support).
    pub errmsg: String,
}

impl ApiError {
    /// −1, system busy: the same request may succeed after a short pause. The client
    /// already retried it as often as its [`crate::api::RetryPolicy`] allows.
    pub fn is_busy(&self) -> bool {
        self.errcode == codes::SYSTEM_BUSY
    }

    /// The same request may succeed later without any change: −1 (busy, seconds),
    /// 45011 (per-minute limit) and 45066 (`clientmsgid` retried too fast, one
    /// minute). The daily quota (45009) is not here: it only comes back the next day
    /// or after a `clear_quota`; see [`ApiError::is_quota`].
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.errcode,
            codes::SYSTEM_BUSY | codes::API_MINUTE_QUOTA | codes::CLIENTMSGID_RETRY_TOO_FAST
        )
    }

    /// An API call quota is used up: 45009 (daily) or 45011 (per minute).
    pub fn is_quota(&self) -> bool {
        matches!(
            self.errcode,
            codes::API_DAILY_QUOTA | codes::API_MINUTE_QUOTA
        )
    }

    /// The access_token was refused: 40001, 40014 or 42001. The client refreshes the
    /// token and retries once by itself; seeing this means the retry failed too.
    pub fn is_token_error(&self) -> bool {
        matches!(
            self.errcode,
            codes::INVALID_CREDENTIAL | codes::INVALID_ACCESS_TOKEN | codes::ACCESS_TOKEN_EXPIRED
        )
    }

    /// The account's credentials or setup are wrong and no retry will help until a
    /// person fixes them: bad appid (40013) or AppSecret (40125), IP not whitelisted
    /// (40164), API not authorised or banned (48001, 48004).
    pub fn is_account_problem(&self) -> bool {
        matches!(
            self.errcode,
            codes::INVALID_APPID
                | codes::INVALID_APPSECRET
                | codes::IP_NOT_WHITELISTED
                | codes::API_UNAUTHORIZED
                | codes::API_BANNED
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeChat errcode {}: {}", self.errcode, self.errmsg)
    }
}

impl std::error::Error for ApiError {}

/// Everything an OA API call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// WeChat answered with a non-zero `errcode`.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The request was refused before sending because WeChat would refuse it too
    /// (a batch too large, a name too long, a scene out of range…).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Connecting, sending or reading failed, or timed out. The URL (which carries
    /// the access_token) is stripped from the inner error.
    #[error("HTTP transport error on {path}: {source}")]
    Transport {
        /// The API path, without query.
        path: String,
        /// reqwest's error, without its URL.
        #[source]
        source: reqwest::Error,
    },
    /// WeChat answered with an HTTP status other than 2xx (it answers 200 even for
    /// API errors, so this is a proxy or an outage).
    #[error("HTTP status {status} on {path}")]
    Status {
        /// The API path, without query.
        path: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The shared token store failed (the caller's database).
    #[error("access_token store: {0}")]
    TokenStore(String),
    /// The body is not the JSON this client expects for the endpoint.
    #[error("unexpected response from {path}: {message}")]
    Decode {
        /// The API path, without query.
        path: String,
        /// What did not fit, with the start of the body.
        message: String,
    },
}

impl Error {
    /// The WeChat error, when this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The WeChat `errcode`, when this is a WeChat error.
    pub fn errcode(&self) -> Option<i64> {
        self.api().map(|e| e.errcode)
    }

    /// A later retry of the same request may succeed: a retryable WeChat error (see
    /// [`ApiError::is_retryable`]), a transport error or a 5xx status. Note that a
    /// transport error after sending may mean WeChat did act: retry only what is
    /// idempotent or deduplicated (mass sends carry a `clientmsgid`).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => e.is_retryable(),
            Error::Transport { .. } | Error::TokenStore(_) => true,
            Error::Status { status, .. } => *status >= 500,
            Error::Invalid(_) | Error::Decode { .. } => false,
        }
    }
}

/// What a failed call comes to, in a form that can be stored (a job's failure) and told
/// in a merchant's words later, after the [`Error`] itself (with its reqwest source) is
/// gone. Serialised as `{"kind": "refused", "errcode": 45015, "errmsg": "…"}` and so on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// No answer: connecting, sending or reading failed or timed out.
    Unreachable,
    /// An HTTP status other than 2xx (an outage or a proxy in the way).
    Unavailable {
        /// The HTTP status.
        status: u16,
    },
    /// WeChat answered with an error code.
    Refused {
        /// WeChat's code.
        errcode: i64,
        /// WeChat's message, as sent.
        errmsg: String,
    },
    /// Refused before sending, because WeChat would refuse it too.
    Invalid {
        /// Why.
        why: String,
    },
    /// An answer this client does not understand.
    Unexpected,
}

impl Error {
    /// What this error comes to, to be stored and told later.
    pub fn failure(&self) -> Failure {
        match self {
            Error::Api(e) => Failure::Refused {
                errcode: e.errcode,
                errmsg: e.errmsg.clone(),
            },
            Error::Invalid(why) => Failure::Invalid { why: why.clone() },
            Error::Transport { .. } => Failure::Unreachable,
            Error::Status { status, .. } => Failure::Unavailable { status: *status },
            Error::Decode { .. } | Error::TokenStore(_) => Failure::Unexpected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(code: i64) -> ApiError {
        ApiError {
            errcode: code,
            errmsg: String::new(),
        }
    }

    #[test]
    fn classification() {
        assert!(e(-1).is_busy() && e(-1).is_retryable() && !e(-1).is_quota());
        assert!(e(45009).is_quota() && !e(45009).is_retryable());
        assert!(e(45011).is_quota() && e(45011).is_retryable());
        assert!(e(45066).is_retryable());
        for code in [40001, 40014, 42001] {
            assert!(e(code).is_token_error(), "{code}");
        }
        assert!(!e(41001).is_token_error());
        assert!(e(40125).is_account_problem() && e(40164).is_account_problem());
        assert!(!e(40003).is_retryable() && !e(40003).is_quota());
        assert_eq!(e(45015).to_string(), "WeChat errcode 45015: ");
        let err = Error::from(e(-1));
        assert_eq!(err.errcode(), Some(-1));
        assert!(err.is_retryable());
        assert!(!Error::Invalid("x".into()).is_retryable());
        assert!(Error::Status {
            path: "/".into(),
            status: 502
        }
        .is_retryable());
    }

    #[test]
    fn failures_are_stored_as_tagged_json_and_read_back() {
        let refused = Error::from(e(45015)).failure();
        let json = serde_json::to_string(&refused).unwrap();
        assert_eq!(json, r#"{"kind":"refused","errcode":45015,"errmsg":""}"#);
        assert_eq!(serde_json::from_str::<Failure>(&json).unwrap(), refused);
        let down = Error::Status {
            path: "/".into(),
            status: 503,
        };
        assert_eq!(down.failure(), Failure::Unavailable { status: 503 });
    }
}
