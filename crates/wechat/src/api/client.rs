//! The client itself: configuration, the access_token cache and the one request
//! path every endpoint goes through.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::error::{ApiError, Error};
use super::token_store::{SharedToken, TokenStore};

/// WeChat's production API base URL.
pub const PRODUCTION_BASE_URL: &str = "https://api.weixin.qq.com";

/// Which endpoint the client gets its access_token from (fact sheet §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEndpoint {
    /// `POST /cgi-bin/stable_token` (the default, and what the sheet prefers): returns
    /// the same token while it is valid, so several processes or machines fetching
    /// for one appid do not invalidate each other. `force_refresh` is only used when
    /// WeChat rejects the very token `stable_token` keeps returning.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: every fetch invalidates the previous token (after about
    /// 5 minutes), so only one process per appid may use it.
    Legacy,
}

/// How the client retries WeChat's −1 "system busy".
///
/// Only −1 is retried automatically, with a doubling pause. Transport errors,
/// quotas (45009/45011) and everything else come back to the caller, who knows
/// whether the call is safe to repeat (see [`Error::is_retryable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a −1 answer is retried (0: never).
    pub busy_retries: u32,
    /// The pause before the first retry; each further retry waits twice as long.
    pub busy_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Two retries, after 500 ms and 1 s.
    fn default() -> Self {
        RetryPolicy {
            busy_retries: 2,
            busy_backoff: Duration::from_millis(500),
        }
    }
}

/// Builds a [`Client`] with non-default settings.
pub struct ClientBuilder {
    base_url: String,
    appid: String,
    secret: String,
    http: Option<reqwest::Client>,
    token_endpoint: TokenEndpoint,
    retry: RetryPolicy,
    refresh_margin: Duration,
    timeout: Duration,
    store: Option<Arc<dyn TokenStore>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("appid", &self.appid)
            .field("secret", &"<redacted>")
            .field("token_endpoint", &self.token_endpoint)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Use this reqwest client (for a proxy or shared connection pool). Its own
    /// timeouts apply; [`ClientBuilder::timeout`] is then ignored.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Where access tokens come from; [`TokenEndpoint::Stable`] by default.
    pub fn token_endpoint(mut self, endpoint: TokenEndpoint) -> Self {
        self.token_endpoint = endpoint;
        self
    }

    /// How −1 "system busy" is retried; [`RetryPolicy::default`] otherwise.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How long before its announced expiry a cached token is replaced; 5 minutes by
    /// default (the overlap `stable_token` rotates in). Never more than half the
    /// token's lifetime is cut off.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Share the access_token through `store` (every process and job of the account):
    /// the client takes the stored token while it is valid, and one caller at a time
    /// refreshes it.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Whole-request timeout of the built-in HTTP client; 15 s by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Builds the client. Fails only if the TLS backend cannot be initialised.
    pub fn build(self) -> Result<Client, Error> {
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| Error::Transport {
                    path: String::new(),
                    source: e.without_url(),
                })?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: self.base_url.trim_end_matches('/').to_owned(),
                appid: self.appid,
                secret: self.secret,
                token_endpoint: self.token_endpoint,
                retry: self.retry,
                refresh_margin: self.refresh_margin,
                token: Mutex::new(None),
                store: self.store,
            }),
        })
    }
}

/// An async client of the WeChat OA APIs for one account (appid).
///
/// Cheap to clone (the state is shared behind an `Arc`); keep one per appid so the
/// access_token cache is shared. The token is fetched on first use, cached until
/// shortly before expiry, and on 40001/40014/42001 refreshed once and the call
/// retried. WeChat's −1 "busy" is retried per the [`RetryPolicy`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    appid: String,
    secret: String,
    token_endpoint: TokenEndpoint,
    retry: RetryPolicy,
    refresh_margin: Duration,
    token: Mutex<Option<CachedToken>>,
    store: Option<Arc<dyn TokenStore>>,
}

struct CachedToken {
    token: String,
    /// When to stop using it (expiry minus the refresh margin).
    refresh_at: Instant,
    /// When WeChat stops taking it, Unix seconds.
    expires_at: i64,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("appid", &self.inner.appid)
            .field("secret", &"<redacted>")
            .field("token_endpoint", &self.inner.token_endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl Client {
    /// A client with default settings: `base_url` is [`PRODUCTION_BASE_URL`] in
    /// production, a simulator's address in tests.
    pub fn new(
        base_url: impl Into<String>,
        appid: impl Into<String>,
        secret: impl Into<String>,
    ) -> Result<Client, Error> {
        Client::builder(base_url, appid, secret).build()
    }

    /// A builder for a client with other settings.
    pub fn builder(
        base_url: impl Into<String>,
        appid: impl Into<String>,
        secret: impl Into<String>,
    ) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            appid: appid.into(),
            secret: secret.into(),
            http: None,
            token_endpoint: TokenEndpoint::default(),
            retry: RetryPolicy::default(),
            refresh_margin: Duration::from_secs(300),
            timeout: Duration::from_secs(15),
            store: None,
        }
    }

    /// The account's appid.
    pub fn appid(&self) -> &str {
        &self.inner.appid
    }

    /// The base URL calls go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// A valid access_token: the cached one, or a freshly fetched one. Concurrent
    /// callers wait for a single fetch.
    pub async fn access_token(&self) -> Result<String, Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.refresh_at {
                return Ok(token.token.clone());
            }
        }
        let fresh = match &self.inner.store {
            Some(store) => self.shared_token(store.as_ref(), None).await?,
            None => self.fetch_token(false).await?,
        };
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// How long a caller waits for another to finish a refresh before fetching itself.
    const LEASE_WAIT: Duration = Duration::from_secs(10);
    /// How long a refresher holds the lease at most (a caller that died lets it lapse).
    const LEASE: Duration = Duration::from_secs(30);

    /// The shared token: the stored one while valid (and not the `rejected` one), else
    /// a fresh one fetched by whoever takes the lease while the others wait for it.
    async fn shared_token(
        &self,
        store: &dyn TokenStore,
        rejected: Option<&str>,
    ) -> Result<CachedToken, Error> {
        let failed = |e: String| Error::TokenStore(e);
        let usable = |t: &SharedToken| Some(t.token.as_str()) != rejected;
        let started = Instant::now();
        loop {
            if let Some(t) = store.load().await.map_err(failed)? {
                if usable(&t) {
                    if let Some(c) = self.cached_from(&t) {
                        return Ok(c);
                    }
                }
            }
            if store.try_lease(Self::LEASE).await.map_err(failed)? {
                // Another caller may have finished a refresh between the load above and
                // the lease: take its token rather than refresh again.
                if let Some(t) = store.load().await.map_err(failed)? {
                    if let Some(c) = usable(&t).then(|| self.cached_from(&t)).flatten() {
                        store.release().await.map_err(failed)?;
                        return Ok(c);
                    }
                }
                let fetched = async {
                    let mut fresh = self.fetch_token(false).await?;
                    if rejected == Some(fresh.token.as_str())
                        && self.inner.token_endpoint == TokenEndpoint::Stable
                    {
                        fresh = self.fetch_token(true).await?;
                    }
                    Ok::<_, Error>(fresh)
                }
                .await;
                return match fetched {
                    Ok(fresh) => {
                        store
                            .save(SharedToken {
                                token: fresh.token.clone(),
                                expires_at: fresh.expires_at,
                            })
                            .await
                            .map_err(failed)?;
                        Ok(fresh)
                    }
                    Err(e) => {
                        let _ = store.release().await;
                        Err(e)
                    }
                };
            }
            if started.elapsed() > Self::LEASE_WAIT {
                // The refresher is stuck: fetch without it (stable_token hands out the
                // same token while it is valid, so this does not disturb the others).
                return self.fetch_token(false).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The stored token as this client's cache entry, if it has more than the refresh
    /// margin left.
    fn cached_from(&self, t: &SharedToken) -> Option<CachedToken> {
        let now = unix_now();
        let left = t.expires_at - now;
        let margin = self.inner.refresh_margin.as_secs() as i64;
        (left > margin).then(|| CachedToken {
            token: t.token.clone(),
            refresh_at: Instant::now() + Duration::from_secs((left - margin) as u64),
            expires_at: t.expires_at,
        })
    }

    /// Forgets the cached token, so the next call fetches one.
    pub async fn clear_token(&self) {
        *self.inner.token.lock().await = None;
    }

    /// Replaces a token WeChat refused. If another task already replaced it, that
    /// token is used; if `stable_token` hands back the refused token again, a forced
    /// refresh is asked for.
    async fn refresh_rejected(&self, rejected: &str) -> Result<String, Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref() {
            if token.token != rejected && Instant::now() < token.refresh_at {
                return Ok(token.token.clone());
            }
        }
        *cached = None;
        let fresh = match &self.inner.store {
            Some(store) => {
                store
                    .forget(rejected.to_string())
                    .await
                    .map_err(Error::TokenStore)?;
                self.shared_token(store.as_ref(), Some(rejected)).await?
            }
            None => {
                let mut fresh = self.fetch_token(false).await?;
                if fresh.token == rejected && self.inner.token_endpoint == TokenEndpoint::Stable {
                    fresh = self.fetch_token(true).await?;
                }
                fresh
            }
        };
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn fetch_token(&self, force_refresh: bool) -> Result<CachedToken, Error> {
        let inner = &self.inner;
        let value = match inner.token_endpoint {
            TokenEndpoint::Stable => {
                let body = serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": inner.appid,
                    "secret": inner.secret,
                    "force_refresh": force_refresh,
                });
                self.with_busy_retry(|| {
                    self.send(Method::Post, "/cgi-bin/stable_token", &[], Some(&body), &[])
                })
                .await?
            }
            TokenEndpoint::Legacy => {
                let query = [
                    ("grant_type", "client_credential"),
                    ("appid", inner.appid.as_str()),
                    ("secret", inner.secret.as_str()),
                ];
                self.with_busy_retry(|| self.send(Method::Get, "/cgi-bin/token", &query, None, &[]))
                    .await?
            }
        };
        let parsed: TokenResponse = decode("/cgi-bin/token", value)?;
        if parsed.access_token.is_empty() {
            return Err(Error::Decode {
                path: "/cgi-bin/token".into(),
                message: "empty access_token".into(),
            });
        }
        let lifetime = Duration::from_secs(parsed.expires_in);
        let margin = inner.refresh_margin.min(lifetime / 2);
        Ok(CachedToken {
            token: parsed.access_token,
            refresh_at: Instant::now() + (lifetime - margin),
            expires_at: unix_now() + parsed.expires_in as i64,
        })
    }

    /// Runs `attempt` again while it answers −1, per the retry policy.
    async fn with_busy_retry<F, Fut>(&self, mut attempt: F) -> Result<Value, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Value, Error>>,
    {
        let policy = self.inner.retry;
        let mut pause = policy.busy_backoff;
        let mut left = policy.busy_retries;
        loop {
            match attempt().await {
                Err(Error::Api(e)) if e.is_busy() && left > 0 => {
                    left -= 1;
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                }
                other => return other,
            }
        }
    }

    /// Calls an API with the access_token, refreshing it once on a token error and
    /// retrying −1, and decodes the answer.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let value = self.call_value(method, path, query, body, &[]).await?;
        decode(path, value)
    }

    /// Like [`Client::call`] but returns the raw JSON, and treats the `errcode`s in
    /// `accept` as answers rather than errors.
    pub(crate) async fn call_value(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        accept: &[i64],
    ) -> Result<Value, Error> {
        let mut token = self.access_token().await?;
        let mut refreshed = false;
        loop {
            let mut full_query = Vec::with_capacity(query.len() + 1);
            full_query.push(("access_token", token.as_str()));
            full_query.extend_from_slice(query);
            let result = self
                .with_busy_retry(|| self.send(method, path, &full_query, body, accept))
                .await;
            match result {
                Err(Error::Api(e)) if e.is_token_error() && !refreshed => {
                    refreshed = true;
                    token = self.refresh_rejected(&token).await?;
                }
                other => return other,
            }
        }
    }

    /// One HTTP exchange: sends, checks the status, parses the JSON and turns a
    /// non-zero `errcode` (other than those in `accept`) into [`Error::Api`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        accept: &[i64],
    ) -> Result<Value, Error> {
        let url = format!("{}{}", self.inner.base_url, path);
        let transport = |e: reqwest::Error| Error::Transport {
            path: path.to_owned(),
            source: e.without_url(),
        };
        let mut request = match method {
            Method::Get => self.inner.http.get(&url),
            Method::Post => self.inner.http.post(&url),
        }
        .query(query);
        if let Some(body) = body {
            // serde_json writes non-ASCII as UTF-8, never as \uXXXX (which WeChat
            // refuses with 40033).
            let bytes = serde_json::to_vec(body).map_err(|e| Error::Invalid(e.to_string()))?;
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(bytes);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Status {
                path: path.to_owned(),
                status: status.as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(transport)?;
        parse_answer(path, &bytes, accept)
    }
}

/// Parses a WeChat answer: JSON, with a non-zero `errcode` meaning failure (unless
/// listed in `accept`). Success is `errcode` 0 or no `errcode` at all.
pub(crate) fn parse_answer(path: &str, bytes: &[u8], accept: &[i64]) -> Result<Value, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::Decode {
        path: path.to_owned(),
        message: format!("{e}; body starts {:?}", snippet(bytes)),
    })?;
    if let Some(errcode) = value.get("errcode").and_then(Value::as_i64) {
        if errcode != 0 && !accept.contains(&errcode) {
            let errmsg = value
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return Err(ApiError { errcode, errmsg }.into());
        }
    }
    Ok(value)
}

/// Decodes a successful answer into the endpoint's type.
pub(crate) fn decode<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Decode {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn snippet(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned()
}

/// Checks a list size client-side, as WeChat would (40032).
pub(crate) fn check_list_size(what: &str, len: usize, max: usize) -> Result<(), Error> {
    if len == 0 || len > max {
        return Err(Error::Invalid(format!(
            "{what} must hold 1 to {max} entries, not {len}"
        )));
    }
    Ok(())
}

/// `ok` for endpoints answering only `{"errcode":0,"errmsg":"ok"}`.
#[derive(Deserialize)]
pub(crate) struct Ack {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        let ok = parse_answer("/x", br#"{"errcode":0,"errmsg":"ok"}"#, &[]).unwrap();
        assert_eq!(ok["errmsg"], "ok");
        let no_code = parse_answer("/x", br#"{"tagid_list":[2]}"#, &[]).unwrap();
        assert_eq!(no_code["tagid_list"][0], 2);
        let err = parse_answer(
            "/x",
            br#"{"errcode":40001,"errmsg":"invalid credential"}"#,
            &[],
        )
        .unwrap_err();
        assert_eq!(err.errcode(), Some(40001));
        assert!(err.api().unwrap().is_token_error());
        let accepted = parse_answer("/x", br#"{"errcode":45065,"msg_id":7}"#, &[45065]).unwrap();
        assert_eq!(accepted["msg_id"], 7);
        let junk = parse_answer("/x", b"<html>busy</html>", &[]).unwrap_err();
        assert!(matches!(junk, Error::Decode { .. }), "{junk}");
    }

    #[test]
    fn list_sizes() {
        assert!(check_list_size("openids", 50, 50).is_ok());
        assert!(check_list_size("openids", 51, 50).is_err());
        assert!(check_list_size("openids", 0, 50).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let client = Client::new("http://127.0.0.1:1/", "wxid", "s3cr3t").unwrap();
        let shown = format!("{client:?}");
        assert!(
            !shown.contains("s3cr3t") && shown.contains("wxid"),
            "{shown}"
        );
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
    }
}
