//! Pushes to the merchant's server, as WeChat makes them (fact sheet §2, §4): signed
//! HTTP POSTs of message XML, plain or encrypted, delivered again on a failure or
//! timeout.
//!
//! The state queues [`PushJob`]s while it holds its lock; [`crate::server::Shared`]
//! hands them to the [`Pusher`] once the lock is released. The pusher is one thread
//! with its own current-thread tokio runtime: jobs without a delay go through one
//! lane in the order queued, delayed ones (`MASSSENDJOBFINISH`) each wait on a timer
//! of their own. Every attempt is recorded on the account.

use std::io;
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web;
use rand::Rng;
use tokio::sync::mpsc;

use crate::crypto;
use crate::server::Shared;
use crate::types::{PushDelivery, PushMode, Webhook};

/// The `FromUserName` of system events (`MASSSENDJOBFINISH`).
pub const SYSTEM_OPENID: &str = "oSimSystem000000000000000000";

/// One element of a pushed message.
pub(crate) enum Field {
    /// A string, written as CDATA.
    Text(String),
    /// An integer, written bare.
    Number(u64),
    /// Nested elements, written as given.
    Xml(String),
}

/// A message or event whose `CreateTime` is set when it is delivered.
pub(crate) struct PushMessage {
    /// `ToUserName`: the account's original id.
    to_user: String,
    /// `FromUserName`.
    from_user: String,
    /// `MsgType`.
    msg_type: &'static str,
    /// What deliveries are recorded as: the event or the message type.
    kind: String,
    /// The elements after `MsgType`, in order.
    fields: Vec<(&'static str, Field)>,
}

impl PushMessage {
    /// An event (`MsgType=event`) named `event`.
    pub(crate) fn event(to_user: &str, from_user: &str, event: &str) -> Self {
        PushMessage {
            to_user: to_user.to_owned(),
            from_user: from_user.to_owned(),
            msg_type: "event",
            kind: event.to_owned(),
            fields: vec![("Event", Field::Text(event.to_owned()))],
        }
    }

    /// A user message of type `msg_type`; add its fields with [`PushMessage::with`].
    pub(crate) fn message(to_user: &str, from_user: &str, msg_type: &'static str) -> Self {
        PushMessage {
            to_user: to_user.to_owned(),
            from_user: from_user.to_owned(),
            msg_type,
            kind: msg_type.to_owned(),
            fields: Vec::new(),
        }
    }

    /// Appends an element.
    pub(crate) fn with(mut self, name: &'static str, value: Field) -> Self {
        self.fields.push((name, value));
        self
    }

    /// The XML WeChat would send, with this `CreateTime`.
    fn to_xml(&self, create_time: i64) -> String {
        let mut xml = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
             <CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType>",
            cdata(&self.to_user),
            cdata(&self.from_user),
            cdata(self.msg_type),
        );
        for (name, value) in &self.fields {
            let value = match value {
                Field::Text(text) => cdata(text),
                Field::Number(n) => n.to_string(),
                Field::Xml(inner) => inner.clone(),
            };
            xml.push_str(&format!("<{name}>{value}</{name}>"));
        }
        xml.push_str("</xml>");
        xml
    }
}

/// `<![CDATA[…]]>`, with any `]]>` inside split across two sections.
pub(crate) fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A push waiting for its delivery.
pub(crate) struct PushJob {
    pub(crate) push_id: u64,
    pub(crate) appid: String,
    /// The webhook registered when the event happened.
    pub(crate) webhook: Webhook,
    /// How long to wait before the first delivery.
    pub(crate) delay: Duration,
    pub(crate) message: PushMessage,
}

/// How deliveries are retried (from [`crate::SimConfig`]).
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) timeout: Duration,
    pub(crate) attempts: u32,
    pub(crate) retry_pause: Duration,
}

type Queued = (web::Data<Shared>, PushJob);

/// The pusher thread and the way to it.
pub(crate) struct Pusher {
    tx: Mutex<Option<mpsc::UnboundedSender<Queued>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Pusher {
    /// Starts the pusher thread.
    pub(crate) fn start(settings: Settings) -> io::Result<Pusher> {
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = thread::Builder::new()
            .name("patron-simulator-push".into())
            .spawn(move || runtime.block_on(run(rx, settings)))?;
        Ok(Pusher {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands a job to the pusher thread; dropped once the pusher is stopped.
    pub(crate) fn send(&self, shared: web::Data<Shared>, job: PushJob) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send((shared, job));
        }
    }

    /// Stops the thread: pushes not delivered yet are dropped.
    pub(crate) fn stop(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The pusher thread's loop: until the sender is dropped. Returning drops the
/// runtime, which cancels every delivery still waiting.
async fn run(mut rx: mpsc::UnboundedReceiver<Queued>, settings: Settings) {
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .no_proxy()
        .build()
        .expect("a plain-http client builds");
    let (lane, mut lane_rx) = mpsc::unbounded_channel::<Queued>();
    let lane_client = client.clone();
    tokio::spawn(async move {
        while let Some((shared, job)) = lane_rx.recv().await {
            deliver(&lane_client, settings, shared, job).await;
        }
    });
    while let Some((shared, job)) = rx.recv().await {
        if job.delay.is_zero() {
            let _ = lane.send((shared, job));
        } else {
            let client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(job.delay).await;
                deliver(&client, settings, shared, job).await;
            });
        }
    }
}

/// The URL (with the signed query) and the body of a push.
fn envelope(job: &PushJob, plaintext: &str) -> (String, String) {
    let hook = &job.webhook;
    // The transport's timestamp is the real clock (receivers check it against
    // theirs); CreateTime inside is the simulated one.
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string();
    let nonce = rand::thread_rng()
        .gen_range(100_000_000u32..2_000_000_000)
        .to_string();
    let signature = crypto::signature(&[&hook.token, &timestamp, &nonce]);
    let mut query = format!(
        "signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={}",
        job.message.from_user
    );
    let body = match hook.mode {
        PushMode::Plaintext => plaintext.to_owned(),
        PushMode::Safe | PushMode::Compatible => {
            let key =
                crypto::aes_key(&hook.encoding_aes_key).expect("checked when the webhook was set");
            let encrypt = crypto::encrypt_fresh(&key, &job.appid, plaintext.as_bytes());
            let msg_signature = crypto::signature(&[&hook.token, &timestamp, &nonce, &encrypt]);
            query.push_str(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
            let encrypt = format!("<Encrypt>{}</Encrypt>", cdata(&encrypt));
            if hook.mode == PushMode::Safe {
                format!(
                    "<xml><ToUserName>{}</ToUserName>{encrypt}</xml>",
                    cdata(&job.message.to_user)
                )
            } else {
                let open = plaintext.strip_suffix("</xml>").unwrap_or(plaintext);
                format!("{open}{encrypt}</xml>")
            }
        }
    };
    let separator = if hook.url.contains('?') { '&' } else { '?' };
    (format!("{}{separator}{query}", hook.url), body)
}

/// Delivers one push: up to `attempts` times until a 2xx answer, recording each.
async fn deliver(
    client: &reqwest::Client,
    settings: Settings,
    shared: web::Data<Shared>,
    job: PushJob,
) {
    let create_time = shared.lock().now();
    let plaintext = job.message.to_xml(create_time);
    let (url, body) = envelope(&job, &plaintext);
    let attempts = settings.attempts.max(1);
    for attempt in 1..=attempts {
        let at = shared.lock().now();
        let sent = client
            .post(&url)
            .header("Content-Type", "text/xml")
            .header("User-Agent", "Mozilla/4.0")
            .body(body.clone())
            .send()
            .await;
        let (status, response, error) = match sent {
            Ok(answer) => {
                let status = answer.status().as_u16();
                match answer.bytes().await {
                    Ok(bytes) => (
                        Some(status),
                        Some(String::from_utf8_lossy(&bytes).into_owned()),
                        None,
                    ),
                    Err(e) => (Some(status), None, Some(describe(&e))),
                }
            }
            Err(e) => (None, None, Some(describe(&e))),
        };
        let delivery = PushDelivery {
            push_id: job.push_id,
            attempt,
            kind: job.message.kind.clone(),
            url: url.clone(),
            body: body.clone(),
            plaintext: plaintext.clone(),
            status,
            response,
            error,
            at,
        };
        let accepted = delivery.accepted();
        let last = accepted || attempt == attempts;
        shared.lock().record_delivery(&job.appid, delivery, last);
        if last {
            break;
        }
        tokio::time::sleep(settings.retry_pause).await;
    }
}

/// An error with its sources, which say what actually failed (refused, timed out).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
