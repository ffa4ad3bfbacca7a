//! Patron's HTTP layer: the admin UI (askama templates), the JSON API under `/api/v1`, and
//! the security middleware around both. It stays thin: rules live in `patron_domain`,
//! persistence in `patron_store`.

pub mod api;
pub mod assets;
pub mod csrf;
pub mod ctx;
pub mod error;
pub mod i18n;
pub mod middleware;
pub mod password;
pub mod qr_image;
pub mod render;
pub mod routes;
pub mod views;
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
    pub session_ttl_hours: i64,
    /// Failed logins per account, and per client address, inside the window before refusing.
    pub login_max_per_account: i64,
    pub login_max_per_ip: i64,
    pub login_window_minutes: i64,
    /// Serve `/wx-crypto-only/{tenant}`, the benchmark's no-database baseline.
    pub bench_routes: bool,
}

impl WebConfig {
    pub fn for_test(base_url: &str) -> Self {
        WebConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            secure_cookies: false,
            trust_proxy: false,
            session_ttl_hours: 12,
            login_max_per_account: 5,
            login_max_per_ip: 20,
            login_window_minutes: 15,
            bench_routes: false,
        }
    }
}

/// Shared state of every worker.
pub struct AppState {
    pub pool: DbPool,
    pub secrets: SecretBox,
    pub mailer: Mailer,
    pub cfg: WebConfig,
    /// Per-tenant webhook settings and reply rules, cached for the hot path.
    pub endpoints: webhook::EndpointCache,
    pub metrics: webhook::Metrics,
    /// The webhook's group-commit writer.
    pub ingest: patron_store::inbox::Batcher,
}

impl AppState {
    /// Runs blocking database work on the blocking pool.
    pub async fn db<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Config(format!("blocking task failed: {e}")))?
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
        .app_data(web::PayloadConfig::default().limit(1024 * 1024));
    routes::register(cfg);
    cfg.default_service(web::to(views::not_found));
}
