//! The JSON API under `/api/v1`. Authenticated by per-tenant bearer tokens; every error is
//! `{"error": {"code", "message", "request_id", "details"?}}` with a stable `code`.

pub mod attributes;
pub mod broadcasts;
pub mod coupons;
pub mod followers;
pub mod imports;
pub mod loyalty;
pub mod openapi;
pub mod payments;
pub mod reconcile;
pub mod replies;
pub mod stores;
pub mod tags;
pub mod tenants;
pub mod users;
pub mod wechat;

use crate::middleware::RequestId;
use crate::AppState;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use patron_domain::validate::Invalid;
use patron_domain::{authz, AuthzError, Permission, Principal, TenantScope};
use patron_store::{api_tokens, StoreError};
use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Detail {
    /// The field, as the request names it.
    pub field: &'static str,
    /// Why it is invalid (`required`, `too_long`, `invalid_choice`, …).
    pub code: &'static str,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorInner {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `conflict`, `invalid`, `bad_request`, `too_large`, `too_many_attempts`, `wechat`
    /// or `internal`.
    pub code: &'static str,
    /// For people; may change.
    pub message: String,
    /// The invalid fields, for `invalid`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
}

/// An API error: the HTTP status, a stable machine-readable code, a human message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
    /// For 405: the methods the path answers (the `Allow` header).
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: vec![],
            allow: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
    pub fn invalid(errs: Vec<Invalid>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message: "the request has invalid fields; see details".into(),
            details: errs
                .into_iter()
                .map(|e| Detail {
                    field: e.field,
                    code: e.code,
                })
                .collect(),
            allow: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            StoreError::Invalid(i) => ApiError::invalid(vec![i]),
            other => {
                tracing::error!(error = %other, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log for the request id",
                )
            }
        }
    }
}

/// An operation's error as the API answers it: the one mapping of `AppError` for the API.
impl From<patron_app::AppError> for ApiError {
    fn from(e: patron_app::AppError) -> Self {
        use patron_app::AppError as A;
        match e {
            A::NotFound => ApiError::not_found(),
            A::Forbidden => AuthzError::Forbidden.into(),
            A::Invalid(errs) => ApiError::invalid(errs),
            A::Conflict(what) => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            A::Throttled => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed attempts; try again in a few minutes",
            ),
            A::Internal(err) => err.into(),
        }
    }
}

impl From<AuthzError> for ApiError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::NotFound => ApiError::not_found(),
            AuthzError::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token may not do that",
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Some(allow) = &self.allow {
            res.insert_header(("Allow", allow.as_str()));
        }
        res.json(ErrorBody {
            error: ErrorInner {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
        })
    }
}

/// A request authenticated by an API token, already scoped to the token's tenant.
pub struct ApiAuth {
    pub state: web::Data<AppState>,
    pub scope: TenantScope,
    pub request_id: String,
    pub lang: crate::i18n::Lang,
    /// The client address (for throttles).
    pub ip: String,
}

impl ApiAuth {
    pub fn require(&self, p: Permission) -> Result<&TenantScope, ApiError> {
        self.scope.require(p)?;
        Ok(&self.scope)
    }
}

impl FromRequest for ApiAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .expect("AppState is registered in configure()");
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let lang = req
            .headers()
            .get("Accept-Language")
            .and_then(|v| v.to_str().ok())
            .map(crate::i18n::Lang::from_accept_language)
            .unwrap_or(crate::i18n::Lang::En);
        let ip = crate::ctx::client_ip(req, &state.cfg);
        let token = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string());
        Box::pin(async move {
            let unauthorized = || {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send a live API token as 'Authorization: Bearer pat_…'",
                )
            };
            let token = token.ok_or_else(unauthorized)?;
            let hash = patron_store::tokens::hash(&token);
            let scope = match state.tokens.get(&hash) {
                Some(scope) => scope,
                None => {
                    let generation = state.tokens.generation();
                    let scope = state
                        .db(move |c| {
                            let Some(p) = api_tokens::authenticate(c, &token)? else {
                                return Ok(None);
                            };
                            let Principal::ApiToken { tenant_id, .. } = &p else {
                                return Ok(None);
                            };
                            let Some(r) = patron_store::tenants::find_ref_by_id(c, *tenant_id)?
                            else {
                                return Ok(None);
                            };
                            Ok(authz::authorize(&p, r, Permission::View).ok())
                        })
                        .await?
                        .ok_or_else(unauthorized)?;
                    state.tokens.put(&hash, scope.clone(), generation);
                    scope
                }
            };
            Ok(ApiAuth {
                state,
                scope,
                request_id,
                lang,
                ip,
            })
        })
    }
}

pub type ApiResult = Result<HttpResponse, ApiError>;

/// Live API tokens' scopes by the token's hash: a request with a token seen in the last
/// [`crate::cache::TTL`] is authorized without a trip to the database (its
/// `last_used_at`, kept to the minute by `api_tokens::authenticate`, is then refreshed
/// on the next miss). Revoking a token moves the cache epoch: this process forgets at
/// once, the others within a poll (200 ms).
pub type TokenCache = crate::cache::EpochCache<TenantScope>;
