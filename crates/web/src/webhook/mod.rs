//! `/wx/{tenant}`: WeChat's pushes for every tenant, in plaintext, compatible and safe mode.
//!
//! The request path does only bounded local work: verify, decrypt, parse, dedupe-insert,
//! pick the passive reply from the tenant's cached rules. Every rejection is logged with the
//! tenant and reason and counted (see `/metrics`). The protocol itself is `patron_wechat`.

pub mod guard;

pub use guard::Guard;

use crate::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use patron_app::jobs;
use patron_domain::replies::{self, Content, Incoming, Rule};
use patron_domain::wechat_settings::MessageMode;
use patron_domain::TenantScope;
use patron_store::inbox::{self, FollowerChange, Recorded};
use patron_store::{reply_rules, tenants};
use patron_wechat::xml::{Event, Inbound as WxInbound, Message};
use patron_wechat::{crypto, reply, signature, AesKey, KeyUsed};
use serde::Deserialize;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// WeChat pushes are small; anything larger is refused before it is read further.
pub const MAX_BODY: usize = 64 * 1024;
/// Pushes and URL checks signed further than this from our clock are refused: a captured
/// signature cannot be replayed later. WeChat's three deliveries come within about 15 s.
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// How long a tenant's WeChat settings and rules are reused before re-reading them: a
/// backstop. Changes invalidate at once in the process that made them and, through the
/// cache epoch ([`watch_cache_epoch`]), within [`EPOCH_POLL`] in every other.
/// How often each process reads the cache epoch.
pub const EPOCH_POLL: Duration = Duration::from_millis(200);

/// Watches the cache epoch (`patron_store::cache_epoch`) on a thread of its own: when
/// another process (or this one) changed something the webhook caches, this process drops
/// its endpoint cache. One indexed read of a one-row table every [`EPOCH_POLL`]. The thread
/// ends when the application state is dropped.
pub fn watch_cache_epoch(state: &web::Data<AppState>) -> std::io::Result<()> {
    // Read before the first request is served: a change made between this process's
    // first cached read and the thread's first poll would otherwise be taken as the start.
    let mut seen: Option<i64> = state
        .pool
        .get()
        .and_then(|mut c| patron_store::cache_epoch::read(&mut c))
        .ok();
    let weak = Arc::downgrade(&state.clone().into_inner());
    std::thread::Builder::new()
        .name("cache-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_POLL);
            let Some(state) = weak.upgrade() else { return };
            let epoch = state
                .pool
                .get()
                .and_then(|mut c| patron_store::cache_epoch::read(&mut c));
            match epoch {
                Ok(e) => {
                    if seen.is_some_and(|s| s != e) {
                        state.endpoints.invalidate_all();
                        state.tokens.invalidate_all();
                        tracing::debug!(epoch = e, "cache epoch moved: caches dropped");
                    }
                    seen = Some(e);
                }
                Err(err) => tracing::warn!(error = %err, "cache epoch unreadable"),
            }
        })
        .map(|_| ())
}

/// Why a push was refused, for logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    UnknownTenant,
    NotConfigured,
    BadSignature,
    TooLarge,
    MalformedXml,
    DecryptFailed,
    AppIdMismatch,
    /// Plaintext to a tenant in safe mode, or encrypted to one in plaintext mode.
    WrongMode,
    /// Signed more than [`REPLAY_WINDOW_SECS`] from our clock (a replay, or a bad clock).
    StaleTimestamp,
    /// Too many failed verifications from this address or for this tenant.
    Throttled,
}

impl Rejection {
    pub const ALL: [Rejection; 10] = [
        Rejection::UnknownTenant,
        Rejection::NotConfigured,
        Rejection::BadSignature,
        Rejection::TooLarge,
        Rejection::MalformedXml,
        Rejection::DecryptFailed,
        Rejection::AppIdMismatch,
        Rejection::WrongMode,
        Rejection::StaleTimestamp,
        Rejection::Throttled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownTenant => "unknown_tenant",
            Rejection::NotConfigured => "not_configured",
            Rejection::BadSignature => "bad_signature",
            Rejection::TooLarge => "too_large",
            Rejection::MalformedXml => "malformed_xml",
            Rejection::DecryptFailed => "decrypt_failed",
            Rejection::AppIdMismatch => "appid_mismatch",
            Rejection::WrongMode => "wrong_mode",
            Rejection::StaleTimestamp => "stale_timestamp",
            Rejection::Throttled => "throttled",
        }
    }
    fn status(self) -> StatusCode {
        match self {
            Rejection::UnknownTenant | Rejection::NotConfigured => StatusCode::NOT_FOUND,
            Rejection::BadSignature | Rejection::StaleTimestamp => StatusCode::UNAUTHORIZED,
            Rejection::WrongMode => StatusCode::FORBIDDEN,
            Rejection::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::MalformedXml | Rejection::DecryptFailed | Rejection::AppIdMismatch => {
                StatusCode::BAD_REQUEST
            }
        }
    }
}

/// Counters for the webhook, exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    rejected: [AtomicU64; 10],
}

impl Metrics {
    pub fn rejected(&self, r: Rejection) -> u64 {
        self.rejected[r as usize].load(Ordering::Relaxed)
    }
    fn reject(&self, r: Rejection) {
        self.rejected[r as usize].fetch_add(1, Ordering::Relaxed);
    }
    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "# HELP patron_webhook_pushes_total WeChat pushes by outcome.\n# TYPE patron_webhook_pushes_total counter\n",
        );
        s.push_str(&format!(
            "patron_webhook_pushes_total{{outcome=\"accepted\"}} {}\n",
            self.accepted.load(Ordering::Relaxed)
        ));
        s.push_str(&format!(
            "patron_webhook_pushes_total{{outcome=\"duplicate\"}} {}\n",
            self.duplicates.load(Ordering::Relaxed)
        ));
        for r in Rejection::ALL {
            s.push_str(&format!(
                "patron_webhook_pushes_total{{outcome=\"rejected\",reason=\"{}\"}} {}\n",
                r.as_str(),
                self.rejected(r)
            ));
        }
        s
    }
}

/// A tenant's webhook settings, decrypted, with its reply rules.
pub struct Endpoint {
    pub scope: TenantScope,
    pub token: String,
    pub appid: Option<String>,
    pub key: Option<AesKey>,
    pub prev_key: Option<AesKey>,
    pub mode: MessageMode,
    pub rules: Vec<Rule<reply_rules::Action>>,
    /// The points program (check-in word, points for a first follow).
    pub program: Option<patron_domain::loyalty::Program>,
    /// Signs `{link}` to a follower's page in replies.
    pub links: Arc<patron_app::links::FollowerPage>,
    /// The tenant's time zone: rules' active windows are in local time.
    pub tz: chrono_tz::Tz,
    /// Whether jobs can call the OA API for this tenant (AppID and AppSecret set).
    pub api_ready: bool,
}

/// Per-process cache of [`Endpoint`]s by slug (`None`: no such tenant).
pub type EndpointCache = crate::cache::EpochCache<Option<Arc<Endpoint>>>;

enum Lookup {
    Found(Arc<Endpoint>),
    Unknown,
    NotConfigured,
}

async fn endpoint(state: &AppState, slug: &str) -> Result<Lookup, patron_store::StoreError> {
    let cached = match state.endpoints.get(slug) {
        Some(c) => c,
        None => {
            let generation = state.endpoints.generation();
            let s = slug.to_string();
            let sb = state.secrets.clone();
            let loaded = state
                .db(move |c| {
                    let Some(r) = tenants::find_ref_by_slug(c, &s)? else {
                        return Ok(None);
                    };
                    // The webhook acts for WeChat, authenticated by the tenant's signature.
                    let scope = TenantScope::system(r);
                    let t = tenants::get(c, &scope)?;
                    let secrets = t.wechat_secrets(&sb)?;
                    let rules = reply_rules::active(c, &scope)?;
                    let program = patron_store::loyalty::program(c, &scope)?;
                    Ok(Some((scope, t, secrets, rules, program)))
                })
                .await?;
            let e = loaded.map(|(scope, t, secrets, rules, program)| {
                let key = |k: &Option<String>| {
                    k.as_deref()
                        .and_then(|k| AesKey::from_encoding_aes_key(k).ok())
                };
                Arc::new(Endpoint {
                    scope,
                    token: secrets.token.clone().unwrap_or_default(),
                    appid: t.wx_appid.clone(),
                    key: key(&secrets.aes_key),
                    prev_key: key(&secrets.prev_aes_key),
                    mode: MessageMode::parse(&t.wx_message_mode).unwrap_or_default(),
                    rules,
                    program,
                    links: Arc::new(patron_app::links::FollowerPage::new(
                        state.secrets.mac_key(),
                        &state.cfg.base_url,
                        &t.slug,
                    )),
                    tz: t.time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai),
                    api_ready: t.wx_appid.is_some() && secrets.app_secret.is_some(),
                })
            });
            state.endpoints.put(slug, e.clone(), generation);
            e
        }
    };
    Ok(match cached {
        None => Lookup::Unknown,
        Some(e) if e.token.is_empty() => Lookup::NotConfigured,
        Some(e) => Lookup::Found(e),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PushQuery {
    signature: String,
    timestamp: String,
    nonce: String,
    echostr: String,
    encrypt_type: String,
    msg_signature: String,
}

fn reject(state: &AppState, slug: &str, r: Rejection, detail: &str) -> HttpResponse {
    state.metrics.reject(r);
    tracing::warn!(
        tenant = slug,
        reason = r.as_str(),
        detail,
        "webhook push rejected"
    );
    HttpResponse::build(r.status())
        .content_type("text/plain")
        .body(r.as_str())
}

/// Is `timestamp` (seconds, as WeChat signs it) within the replay window of `now`?
fn fresh(timestamp: &str, now: i64) -> bool {
    timestamp
        .parse::<i64>()
        .is_ok_and(|t| (now - t).abs() <= REPLAY_WINDOW_SECS)
}

/// A verification that failed: counted by the guard (unless the sender is known), and
/// answered 429 once the sender is past a limit.
fn refuse(
    state: &AppState,
    slug: &str,
    ip: &str,
    gate: guard::Gate,
    r: Rejection,
    detail: &str,
) -> HttpResponse {
    if gate != guard::Gate::Known && state.webhook_guard.failed(slug, ip) {
        tracing::warn!(tenant = slug, ip, "webhook verification throttled");
        return reject(state, slug, Rejection::Throttled, detail);
    }
    reject(state, slug, r, detail)
}

/// Server-URL verification: echo `echostr` when the signature is right.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    q: web::Query<PushQuery>,
) -> HttpResponse {
    let e = match endpoint(&state, &slug).await {
        Ok(Lookup::Found(e)) => e,
        Ok(Lookup::Unknown) => return reject(&state, &slug, Rejection::UnknownTenant, ""),
        Ok(Lookup::NotConfigured) => return reject(&state, &slug, Rejection::NotConfigured, ""),
        Err(err) => return internal(&err),
    };
    let ip = crate::ctx::client_ip(&req, &state.cfg);
    let gate = state.webhook_guard.gate(&slug, &ip);
    if gate == guard::Gate::Locked {
        return reject(&state, &slug, Rejection::Throttled, "url verification");
    }
    if !signature::verify_url_signature(&q.signature, &e.token, &q.timestamp, &q.nonce) {
        return refuse(
            &state,
            &slug,
            &ip,
            gate,
            Rejection::BadSignature,
            "url verification",
        );
    }
    if !fresh(&q.timestamp, chrono::Utc::now().timestamp()) {
        return refuse(
            &state,
            &slug,
            &ip,
            gate,
            Rejection::StaleTimestamp,
            "url verification",
        );
    }
    state.webhook_guard.passed(&slug, &ip);
    tracing::info!(tenant = %slug.as_str(), "WeChat server URL verified");
    // For the dashboard's "connected" (best effort: the answer does not wait on it).
    let tenant = e.scope.tenant_id();
    let pool = state.pool.clone();
    tokio::task::spawn_blocking(move || {
        let done = pool
            .get()
            .and_then(|mut c| patron_store::tenants::mark_verified(&mut c, tenant));
        if let Err(err) = done {
            tracing::warn!(error = %err, "could not record the URL verification");
        }
    });
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(q.echostr.clone())
}

fn internal(err: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %err, "webhook internal error");
    // 500 makes WeChat retry, which the dedupe makes safe.
    HttpResponse::InternalServerError()
        .content_type("text/plain")
        .body("internal error")
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes.
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, Rejection> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(Rejection::TooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024).min(MAX_BODY));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Rejection::MalformedXml)?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Rejection::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a push did: the reply to send (plaintext XML) and how to send it.
struct Verified {
    inbound: WxInbound,
    plaintext: String,
    /// The key that opened the push, when it was encrypted: the reply uses it too.
    encrypted_with: Option<KeyUsed>,
}

/// Does the tenant's message mode take a push sent this way? Safe mode takes only
/// encrypted pushes (a plaintext push's signature covers the token, timestamp and nonce,
/// not the body), plaintext mode only plaintext, compatible mode both.
fn mode_accepts(mode: MessageMode, encrypted: bool) -> bool {
    match mode {
        MessageMode::Safe => encrypted,
        MessageMode::Plain => !encrypted,
        MessageMode::Compatible => true,
    }
}

fn open(e: &Endpoint, q: &PushQuery, body: &[u8]) -> Result<Verified, (Rejection, String)> {
    let encrypted = q.encrypt_type == "aes";
    if !encrypted {
        if !signature::verify_url_signature(&q.signature, &e.token, &q.timestamp, &q.nonce) {
            return Err((Rejection::BadSignature, "signature".into()));
        }
        if !fresh(&q.timestamp, chrono::Utc::now().timestamp()) {
            return Err((Rejection::StaleTimestamp, "timestamp".into()));
        }
        let inbound = patron_wechat::xml::parse_message(body)
            .map_err(|err| (Rejection::MalformedXml, err.to_string()))?;
        let plaintext = String::from_utf8_lossy(body).into_owned();
        return Ok(Verified {
            inbound,
            plaintext,
            encrypted_with: None,
        });
    }
    let env = patron_wechat::xml::parse_envelope(body)
        .map_err(|err| (Rejection::MalformedXml, err.to_string()))?;
    let encrypt = env
        .encrypt
        .as_deref()
        .ok_or((Rejection::MalformedXml, "no Encrypt element".into()))?;
    if !signature::verify_msg_signature(&q.msg_signature, &e.token, &q.timestamp, &q.nonce, encrypt)
    {
        return Err((Rejection::BadSignature, "msg_signature".into()));
    }
    if !fresh(&q.timestamp, chrono::Utc::now().timestamp()) {
        return Err((Rejection::StaleTimestamp, "timestamp".into()));
    }
    let (Some(key), Some(appid)) = (&e.key, &e.appid) else {
        return Err((
            Rejection::DecryptFailed,
            "tenant has no EncodingAESKey or AppID".into(),
        ));
    };
    let (plain, used) = crypto::decrypt_with_rotation(key, e.prev_key.as_ref(), appid, encrypt)
        .map_err(|err| {
            let r = if matches!(err, patron_wechat::Error::AppIdMismatch) {
                Rejection::AppIdMismatch
            } else {
                Rejection::DecryptFailed
            };
            (r, err.to_string())
        })?;
    let inbound = patron_wechat::xml::parse_message(&plain)
        .map_err(|err| (Rejection::MalformedXml, err.to_string()))?;
    Ok(Verified {
        inbound,
        plaintext: String::from_utf8_lossy(&plain).into_owned(),
        encrypted_with: Some(used),
    })
}

/// How the push changes its follower, and what the rules see.
fn classify(m: &Message) -> (FollowerChange, Incoming<'_>) {
    match m {
        Message::Text(t) => (FollowerChange::Interaction, Incoming::Text(&t.content)),
        Message::Event(Event::Subscribe { .. }) => {
            let scene = match m {
                Message::Event(e) => e.qr_scene(),
                _ => None,
            };
            (
                FollowerChange::Subscribe {
                    qr_scene: scene.map(str::to_string),
                },
                Incoming::Subscribe { qr_scene: scene },
            )
        }
        Message::Event(Event::Unsubscribe) => (FollowerChange::Unsubscribe, Incoming::Silent),
        Message::Event(Event::Scan { event_key, .. }) => {
            (FollowerChange::Interaction, Incoming::Scan(event_key))
        }
        Message::Event(Event::Click { event_key }) => {
            (FollowerChange::Interaction, Incoming::Click(event_key))
        }
        // Sent by WeChat's system account, not by a follower.
        Message::Event(Event::TemplateSendJobFinish { .. } | Event::MassSendJobFinish(_)) => {
            (FollowerChange::System, Incoming::Silent)
        }
        Message::Event(Event::Location { .. } | Event::Unknown { .. }) => {
            (FollowerChange::Interaction, Incoming::Silent)
        }
        Message::Event(_) => (FollowerChange::Interaction, Incoming::Silent),
        _ => (FollowerChange::Interaction, Incoming::OtherMessage),
    }
}

fn searchable(m: &Message) -> Option<String> {
    match m {
        Message::Text(t) => Some(t.content.clone()),
        Message::Link(l) => Some(format!("{} {}", l.title, l.url)),
        Message::Location(l) => Some(l.label.clone()),
        Message::Event(Event::Click { event_key })
        | Message::Event(Event::Scan { event_key, .. }) => Some(event_key.clone()),
        Message::Event(Event::View { url, .. }) => Some(url.clone()),
        Message::Event(Event::Subscribe {
            event_key: Some(k), ..
        }) => Some(k.clone()),
        _ => None,
    }
}

/// Looks the tenant up, reads the body and opens the push; on failure the response to send.
async fn receive(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    q: &PushQuery,
    payload: web::Payload,
) -> Result<(Arc<Endpoint>, Verified), HttpResponse> {
    let e = match endpoint(state, slug).await {
        Ok(Lookup::Found(e)) => e,
        Ok(Lookup::Unknown) => return Err(reject(state, slug, Rejection::UnknownTenant, "")),
        Ok(Lookup::NotConfigured) => return Err(reject(state, slug, Rejection::NotConfigured, "")),
        Err(err) => return Err(internal(&err)),
    };
    let ip = crate::ctx::client_ip(req, &state.cfg);
    let gate = state.webhook_guard.gate(slug, &ip);
    if gate == guard::Gate::Locked {
        return Err(reject(state, slug, Rejection::Throttled, "push"));
    }
    let encrypted = q.encrypt_type == "aes";
    if !mode_accepts(e.mode, encrypted) {
        let detail = format!(
            "{} push to a tenant in {} mode",
            if encrypted {
                "an encrypted"
            } else {
                "a plaintext"
            },
            e.mode.as_str()
        );
        return Err(reject(state, slug, Rejection::WrongMode, &detail));
    }
    let body = read_body(req, payload)
        .await
        .map_err(|r| reject(state, slug, r, "body"))?;
    let v = open(&e, q, &body).map_err(|(r, detail)| match r {
        Rejection::BadSignature | Rejection::StaleTimestamp => {
            refuse(state, slug, &ip, gate, r, &detail)
        }
        _ => reject(state, slug, r, &detail),
    })?;
    if gate != guard::Gate::Known {
        state.webhook_guard.passed(slug, &ip);
    }
    Ok((e, v))
}

/// A rule's message as a passive reply (also the demo's, which answers its history as
/// the webhook would).
pub fn as_reply(c: &Content) -> reply::Reply {
    match c {
        Content::Text { text } => reply::Reply::Text {
            content: text.clone(),
        },
        Content::Image { media_id } => reply::Reply::Image {
            media_id: media_id.clone(),
        },
        Content::News { articles } => reply::Reply::News {
            articles: articles
                .iter()
                .map(|a| reply::Article {
                    title: a.title.clone(),
                    description: a.description.clone(),
                    pic_url: a.pic_url.clone(),
                    url: a.url.clone(),
                })
                .collect(),
        },
    }
}

/// What a push gets: the passive reply (plaintext XML; news keeps WeChat's article
/// limit for the kind of push), the messages for a customer-service job, the loyalty work,
/// and the reply to a check-in already made today.
#[derive(Default)]
struct Answer {
    reply: Option<String>,
    more: Vec<Content>,
    acts: Vec<inbox::Act>,
    again: Option<String>,
}

/// The tenant's check-in word answers first; otherwise its rules: the first message
/// passive, the others for a job, and the rule's coupon. A first follow earns its points
/// whatever answers it.
fn answer(e: &Endpoint, m: &WxInbound, incoming: &Incoming<'_>, now: i64) -> Answer {
    let local = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .with_timezone(&e.tz)
        .naive_local();
    let text = |t: &str| {
        (!t.trim().is_empty()).then(|| {
            reply::Reply::Text {
                content: t.to_string(),
            }
            .answer(m, now)
        })
    };
    let mut out = Answer::default();
    let earned = patron_store::now();
    if let (Some(p), Incoming::Text(t)) = (&e.program, incoming) {
        if p.is_checkin(t) {
            out.reply = text(&p.checkin_reply);
            out.again = text(&p.checkin_again_reply);
            out.acts.push(inbox::Act::Award {
                points: p.checkin_points,
                source: "checkin",
                key: patron_domain::loyalty::checkin_key(local.date()),
                expires_at: p.expiry(earned),
                checkin: true,
            });
            return out;
        }
    }
    if let (Some(p), Incoming::Subscribe { .. }) = (&e.program, incoming) {
        if p.subscribe_points > 0 {
            out.acts.push(inbox::Act::Award {
                points: p.subscribe_points,
                source: "subscribe",
                key: patron_domain::loyalty::SUBSCRIBE_KEY.to_string(),
                expires_at: p.expiry(earned),
                checkin: false,
            });
        }
    }
    if let Some(rule) = replies::choose(&e.rules, incoming, local) {
        if let Some((first, rest)) = rule.reply.messages.split_first() {
            out.reply = Some(as_reply(first).answer(m, now));
            out.more = rest.to_vec();
        }
        if let Some(campaign_id) = rule.reply.campaign_id {
            out.acts.push(inbox::Act::Issue {
                campaign_id,
                channel: format!("rule:{}", rule.id),
            });
        }
    }
    out
}

/// The jobs a new push leads to: the rule's further messages, and after a follow the
/// follower's info (when the tenant's API credentials are set).
fn follow_ups(
    e: &Endpoint,
    message: &Message,
    openid: &str,
    change: &FollowerChange,
    more: Vec<Content>,
) -> Vec<inbox::FollowUp> {
    let mut out = Vec::new();
    let tenant_id = e.scope.tenant_id().0;
    // WeChat's report of a mass send: applied to its broadcast by a job (any tenant with
    // a webhook gets these, API credentials or not).
    if let Message::Event(Event::MassSendJobFinish(f)) = message {
        out.push(
            jobs::Job::MassReport(jobs::MassReport {
                tenant_id,
                msg_id: f.msg_id as i64,
                status: f.status.clone(),
                total: f.total_count.unwrap_or(0) as i64,
                filtered: f.filter_count.unwrap_or(0) as i64,
                sent: f.sent_count.unwrap_or(0) as i64,
                errors: f.error_count.unwrap_or(0) as i64,
            })
            .follow_up(),
        );
    }
    if !e.api_ready {
        return out;
    }
    if !more.is_empty() {
        out.push(
            jobs::Job::CsSend(jobs::CsSend {
                tenant_id,
                openid: openid.to_string(),
                messages: more,
            })
            .follow_up(),
        );
    }
    if matches!(change, FollowerChange::Subscribe { .. }) {
        out.push(
            jobs::Job::FollowerInfo(jobs::FollowerInfo {
                tenant_id,
                openid: openid.to_string(),
            })
            .follow_up(),
        );
    }
    out
}

/// Sends `xml` back the way the push came: encrypted with the key that opened it, or plain.
fn respond(e: &Endpoint, v: &Verified, xml: Option<String>, now: i64, nonce: &str) -> HttpResponse {
    let Some(xml) = xml else {
        return HttpResponse::Ok()
            .content_type("text/plain")
            .body(reply::NO_REPLY);
    };
    match (v.encrypted_with, &e.appid) {
        (Some(used), Some(appid)) => {
            let key = match used {
                KeyUsed::Current => e.key.as_ref(),
                KeyUsed::Previous => e.prev_key.as_ref(),
            };
            let Some(key) = key else {
                return internal(&"key vanished");
            };
            let body = reply::encrypted_reply(key, &e.token, appid, &xml, now, nonce);
            HttpResponse::Ok()
                .content_type("application/xml")
                .body(body)
        }
        _ => HttpResponse::Ok().content_type("application/xml").body(xml),
    }
}

pub async fn push(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    q: web::Query<PushQuery>,
    payload: web::Payload,
) -> HttpResponse {
    let (e, v) = match receive(&req, &state, &slug, &q, payload).await {
        Ok(ok) => ok,
        Err(res) => return res,
    };
    let m = &v.inbound;
    let (change, incoming) = classify(&m.message);
    let now = chrono::Utc::now().timestamp();
    let Answer {
        reply: reply_xml,
        more,
        acts,
        again,
    } = answer(&e, m, &incoming, now);
    let qr_hit = match &incoming {
        Incoming::Subscribe { qr_scene: Some(s) } => Some(inbox::QrHit {
            scene: s.to_string(),
            follow: true,
        }),
        Incoming::Scan(s) => Some(inbox::QrHit {
            scene: s.to_string(),
            follow: false,
        }),
        _ => None,
    };
    let follow_ups = follow_ups(&e, &m.message, &m.header.from_user, &change, more);
    let pending = inbox::Pending {
        scope: e.scope.clone(),
        openid: m.header.from_user.clone(),
        msg_type: m.header.msg_type.clone(),
        event: m.event_name().map(str::to_string),
        dedupe_key: m.dedupe_key(),
        content: searchable(&m.message),
        body: v.plaintext.clone(),
        sent_at: chrono::DateTime::from_timestamp(m.header.create_time, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_else(patron_store::now),
        change,
        reply: reply_xml,
        follow_ups,
        qr_hit,
        acts,
        again_reply: again,
        links: Some(e.links.clone()),
    };
    // Group commit: the push is stored by the ingest writer with others that arrived
    // meanwhile; the answer goes out only after that transaction committed.
    let ingest = state.ingest.clone();
    let recorded = ingest.record_async(pending).await;
    let reply_xml = match recorded {
        Ok(Recorded::New { reply, .. } | Recorded::Accepted { reply }) => {
            state.metrics.accepted.fetch_add(1, Ordering::Relaxed);
            reply
        }
        Ok(Recorded::Duplicate { reply }) => {
            state.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!(tenant = %slug.as_str(), "repeated delivery answered from the archive");
            reply
        }
        Err(err) => return internal(&err),
    };
    respond(&e, &v, reply_xml, now, &q.nonce)
}

/// The benchmark's baseline route, registered only by `patron bench webhook` (never by
/// `patron serve`): `POST /wx-crypto-only/{tenant}`.
pub fn bench_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/wx-crypto-only/{tenant}", web::post().to(crypto_only));
}

/// The same work as [`push`] minus the database: verify, decrypt, parse, pick the reply,
/// encrypt it. Only for the benchmark's side-by-side baseline ([`bench_routes`]).
async fn crypto_only(
    req: HttpRequest,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    q: web::Query<PushQuery>,
    payload: web::Payload,
) -> HttpResponse {
    let (e, v) = match receive(&req, &state, &slug, &q, payload).await {
        Ok(ok) => ok,
        Err(res) => return res,
    };
    let (_, incoming) = classify(&v.inbound.message);
    let now = chrono::Utc::now().timestamp();
    let xml = answer(&e, &v.inbound, &incoming, now).reply;
    respond(&e, &v, xml, now, &q.nonce)
}

/// `/metrics`: counters in Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let w = state.ingest.stats();
    let ingest = format!(
        "# HELP patron_ingest_batches_total Transactions of the webhook's ingest writers.\n\
         # TYPE patron_ingest_batches_total counter\npatron_ingest_batches_total {}\n\
         # HELP patron_ingest_failed_batches_total Batches that failed as a whole (stored one by one).\n\
         # TYPE patron_ingest_failed_batches_total counter\npatron_ingest_failed_batches_total {}\n\
         # HELP patron_ingest_pushes_total Pushes handed to the ingest writers, retries included.\n\
         # TYPE patron_ingest_pushes_total counter\npatron_ingest_pushes_total {}\n\
         # HELP patron_ingest_busy_seconds_total Time the ingest writers spent storing pushes.\n\
         # TYPE patron_ingest_busy_seconds_total counter\npatron_ingest_busy_seconds_total {:.6}\n\
         # HELP patron_ingest_journaled_total Pushes answered from the ingest journal (PostgreSQL).\n\
         # TYPE patron_ingest_journaled_total counter\npatron_ingest_journaled_total {}\n\
         # HELP patron_ingest_journal_applied_total Journaled pushes stored in the database since.\n\
         # TYPE patron_ingest_journal_applied_total counter\npatron_ingest_journal_applied_total {}\n\
         # HELP patron_ingest_journal_flushes_total fdatasync calls of the ingest journal.\n\
         # TYPE patron_ingest_journal_flushes_total counter\npatron_ingest_journal_flushes_total {}\n",
        w.batches,
        w.failed,
        w.pushes,
        w.busy_seconds,
        w.journaled,
        w.journal_applied,
        w.journal_flushes
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render() + &ingest)
}
