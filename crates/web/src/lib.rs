//! Patron's HTTP layer: the admin UI (askama templates), the JSON API under `/api/v1`, and
//! the security middleware around both. It stays thin: rules live in `patron_domain`,
//! persistence in `patron_store`.

pub mod api;
pub mod assets;
mod bills;
pub mod cache;
pub mod charts;
pub mod csrf;
pub mod ctx;
pub mod error;
pub mod format;
pub mod forms;
pub mod i18n;
pub mod middleware;
pub mod notify;
pub mod password;
pub mod paths;
pub mod pay;
pub mod qr_image;
pub mod render;
pub mod routes;
pub mod signin;
pub mod ui;
pub mod webhook;

use actix_web::web;
use patron_mail::Mailer;
use patron_store::{DbConn, DbPool, SecretBox, StoreError};

/// Settings the web layer needs; built by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Public base URL, used in emailed links (no trailing slash).
    pub base_url: String,
    /// Mark cookies `Secure` and send HSTS (set when served over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    /// Trust `X-Forwarded-For` for the client address (only behind a proxy you run).
    pub trust_proxy: bool,
    /// The proxies whose `X-Forwarded-For` hops are believed: the client is the rightmost
    /// hop that is not one of them (see [`ctx::client_ip`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Let the UI and the API point a tenant's OA API at plain `http://` on loopback (a
    /// local simulator). Off in production: only `https://` bases are accepted there.
    pub allow_loopback_api_base: bool,
    /// WeChat Pay's API (no trailing slash): the daily trade-bill fetch of the job
    /// workers started with this state.
    pub pay_api_base: String,
    /// Failed webhook verifications allowed per client address, and per tenant, inside
    /// the window before the webhook answers 429 (see `webhook::Guard`).
    pub webhook_max_failures_per_ip: u32,
    pub webhook_max_failures_per_tenant: u32,
    pub webhook_failure_window_minutes: u32,
    pub session_ttl_hours: i64,
    /// Failed logins per account, and per client address, inside the window before refusing.
    pub login_max_per_account: i64,
    pub login_max_per_ip: i64,
    pub login_window_minutes: i64,
}

impl WebConfig {
    pub fn for_test(base_url: &str) -> Self {
        WebConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            secure_cookies: false,
            trust_proxy: false,
            trusted_proxies: default_trusted_proxies(),
            allow_loopback_api_base: true,
            pay_api_base: "https://api.mch.weixin.qq.com".into(),
            webhook_max_failures_per_ip: 20,
            webhook_max_failures_per_tenant: 100,
            webhook_failure_window_minutes: 10,
            session_ttl_hours: 12,
            login_max_per_account: 5,
            login_max_per_ip: 20,
            login_window_minutes: 15,
        }
    }
}

impl WebConfig {
    pub fn webhook_limits(&self) -> webhook::guard::Limits {
        webhook::guard::Limits {
            per_ip: self.webhook_max_failures_per_ip,
            per_tenant: self.webhook_max_failures_per_tenant,
            window: std::time::Duration::from_secs(
                60 * u64::from(self.webhook_failure_window_minutes),
            ),
        }
    }
}

/// Loopback, IPv4 and IPv6: a proxy on the same machine.
pub fn default_trusted_proxies() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .map(|s| s.parse().expect("a valid network"))
        .collect()
}

/// Shared state of every worker.
pub struct AppState {
    pub pool: DbPool,
    pub secrets: SecretBox,
    pub mailer: Mailer,
    pub cfg: WebConfig,
    /// Per-tenant webhook settings and reply rules, cached for the hot path.
    pub endpoints: webhook::EndpointCache,
    /// Live API tokens' scopes by token hash, cached for the API's hot paths.
    pub tokens: api::TokenCache,
    pub metrics: webhook::Metrics,
    /// Failed webhook verifications, per address and per tenant (this process).
    pub webhook_guard: webhook::Guard,
    /// The webhook's group-commit writer.
    pub ingest: patron_store::inbox::Batcher,
    /// Redemptions' group-commit writers (the till and the API).
    pub redeemer: patron_app::redeemer::Redeemer,
}

impl AppState {
    /// Runs blocking database work on the blocking pool.
    pub async fn db<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(f).await
    }

    /// Runs an operation of `patron_app` (one unit of work) on the blocking pool; its
    /// `AppError` is mapped once by the page (`UiError`) or the API (`ApiError`).
    pub async fn run<T, F>(&self, f: F) -> Result<T, patron_app::AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, patron_app::AppError> + Send + 'static,
        T: Send + 'static,
    {
        self.blocking(f).await
    }

    async fn blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Something cached for a tenant changed (its webhook settings, reply rules, loyalty
    /// program, API tokens; `None`: any tenant, or a new one): drops this process's copy
    /// at once (every token: they are refilled on their next use). The change itself moved the cache epoch on in its transaction (the store's
    /// and `patron_app`'s writes of cached things do), so every other process drops its
    /// copy at its next poll ([`webhook::watch_cache_epoch`]).
    pub fn forget_cached(&self, slug: Option<&str>) {
        self.tokens.invalidate_all();
        match slug {
            Some(s) => self.endpoints.invalidate(s),
            None => self.endpoints.invalidate_all(),
        }
    }
}

/// Registers every route, the extractor limits and the error handlers.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    cfg.app_data(state)
        .app_data(web::FormConfig::default().limit(64 * 1024).error_handler(
            |err, _req| match err {
                actix_web::error::UrlencodedError::Overflow { .. }
                | actix_web::error::UrlencodedError::Payload(
                    actix_web::error::PayloadError::Overflow,
                ) => error::UiError::TooLarge.into(),
                other => error::UiError::BadRequest(other.to_string()).into(),
            },
        ))
        .app_data(
            web::JsonConfig::default()
                .limit(1024 * 1024)
                .error_handler(|err, _req| match err {
                    actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                    | actix_web::error::JsonPayloadError::Overflow { .. } => api::ApiError::new(
                        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        "the body is larger than 1 MiB",
                    )
                    .into(),
                    other => api::ApiError::bad_request(other.to_string()).into(),
                }),
        )
        .app_data(web::PayloadConfig::default().limit(1024 * 1024))
        // A path or query the extractor cannot read: the API answers in its own JSON
        // shape (`{"error":…}`), pages with an error page.
        .app_data(web::PathConfig::default().error_handler(|err, req| {
            if !is_api(req) {
                return error::UiError::NotFound.into();
            }
            let literal = routes::literal_methods_for(req.path());
            if !literal.is_empty() {
                method_not_allowed(&literal).into()
            } else {
                api::ApiError::new(
                    actix_web::http::StatusCode::NOT_FOUND,
                    "not_found",
                    format!("no such resource ({err})"),
                )
                .into()
            }
        }))
        .app_data(web::QueryConfig::default().error_handler(|err, req| {
            if is_api(req) {
                api::ApiError::bad_request(err.to_string()).into()
            } else {
                error::UiError::BadRequest(err.to_string()).into()
            }
        }));
    routes::register(cfg);
    cfg.default_service(web::to(fallback));
}

fn is_api(req: &actix_web::HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

/// No route matched: under `/api/` a JSON 405 (with `Allow`) when the path exists with
/// other methods, else a JSON 404; elsewhere the 404 page.
async fn fallback(req: actix_web::HttpRequest) -> actix_web::HttpResponse {
    if !is_api(&req) {
        return ui::not_found().await;
    }
    let allowed = routes::methods_for(req.path());
    if allowed.is_empty() {
        return actix_web::ResponseError::error_response(&api::ApiError::not_found());
    }
    actix_web::ResponseError::error_response(&method_not_allowed(&allowed))
}

/// 405 with the methods the path answers (the `Allow` header is set by `ApiError`).
fn method_not_allowed(allowed: &[&str]) -> api::ApiError {
    let allow = allowed
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ");
    let mut e = api::ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this path answers {allow}"),
    );
    e.allow = Some(allow);
    e
}
