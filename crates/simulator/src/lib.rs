//! A stand-in for WeChat's OA API server (`api.weixin.qq.com`), in memory, for tests
//! and local development.
//!
//! [`Simulator::start`] binds `127.0.0.1:0`, serves on its own thread with its own
//! actix `System`, and stops when the handle is dropped. Point the client at
//! [`Simulator::base_url`] with the simulator's appid and secret. Nothing leaves the
//! loopback interface.
//!
//! ```ignore
//! let sim = Simulator::start();
//! sim.seed_followers(25_000);
//! let client = patron_wechat::api::Client::new(sim.base_url(), sim.appid(), sim.secret())?;
//! assert_eq!(client.all_followers().await?.len(), 25_000);
//! ```
//!
//! # State and test hooks
//!
//! Everything lives in one mutex-guarded state. A simulator starts with one account
//! ([`SimConfig::appid`] / [`SimConfig::secret`]); [`Simulator::add_account`] adds
//! more (one server, many tenants). The simulator dereferences to its default
//! [`Account`], so `sim.seed_followers(n)` seeds that one.
//!
//! - **Seed**: [`Account::seed_followers`] (28-character openids `oSim…`, unionids,
//!   increasing `subscribe_time`), [`Account::add_follower`], [`Account::set_subscribed`],
//!   [`Account::record_interaction`] (opens a customer-service window),
//!   [`Account::set_wxname`] (a WeChat ID for previews).
//! - **Inspect**: [`Account::follower`], [`Account::follower_openids`],
//!   [`Account::tags`], [`Account::sent_messages`], [`Account::mass_sends`],
//!   [`Account::previews`], [`Account::menu`], [`Account::qrcodes`],
//!   [`Account::quota_used_today`], [`Account::access_token`],
//!   [`Account::push_deliveries`], and every request in [`Simulator::calls`] /
//!   [`Simulator::call_count`].
//! - **Users and pushes** (below): [`Account::set_webhook`], [`Account::push_subscribe`],
//!   [`Account::push_scan`], [`Account::push_unsubscribe`], [`Account::push_text`],
//!   [`Account::set_next_mass_outcome`], [`Account::wait_for_deliveries`],
//!   [`Simulator::wait_for_pushes`].
//! - **WeChat Pay** (below): [`Simulator::add_merchant`], [`Simulator::publish_bill`],
//!   [`Simulator::set_bill_creating`], [`Simulator::corrupt_next_bill_hash`]; the
//!   platform key to configure the merchant's side with:
//!   [`Simulator::pay_platform_public_key_pem`], [`Simulator::pay_platform_key_id`].
//! - **Time**: [`Simulator::advance`] moves the simulated clock (token expiry,
//!   customer-service windows, quota days and minutes, `clientmsgid` retry spacing,
//!   WeChat Pay signature ages and download tokens);
//!   [`Simulator::freeze_clock_at`] stops it so boundaries are deterministic.
//! - **Failures** (OA paths only, never WeChat Pay's): [`Simulator::fail_next`] (the
//!   next N API calls answer an errcode,
//!   e.g. −1 busy; token endpoints excepted), [`Simulator::fail_next_on`] (one path,
//!   token endpoints included), [`Simulator::fail_next_http`] (an HTTP status),
//!   [`FailureKind::AnswerLate`] through [`Simulator::inject_failure`] (carried out at
//!   once, answered late: a caller that dies meanwhile never hears WeChat acted),
//!   [`Account::expire_tokens`] (42001), [`Account::invalidate_tokens`] (40001),
//!   [`Account::set_quota`] (45009 / 45011 sooner), [`Account::set_mass_status`].
//!
//! # What it reproduces
//!
//! OA answers are HTTP 200 with JSON, errors as `{"errcode","errmsg"}` with an
//! `rid` in the message like WeChat's (WeChat Pay's paths answer as APIv3 does, at
//! the end of the table); unknown paths are HTTP 404. Every POST body
//! must be a JSON object: empty → 44002, not JSON → 47001; a POST endpoint called
//! with GET → 43002. A missing required field → 47001.
//!
//! | area | behaviour | codes |
//! | --- | --- | --- |
//! | `GET /cgi-bin/token` | checks `grant_type`, appid, secret; each fetch supersedes the previous token, which stays valid 5 more minutes | 40002, 41002, 41004, 40013, 40125 |
//! | `POST /cgi-bin/stable_token` | same token while it has > 5 min left (`expires_in` = what is left), then a new one (the old valid until it expires); `force_refresh` revokes the current one at once, at most 20 a day and 30 s apart | as above; 45011 within 30 s, 45009 past 20 a day |
//! | every other call | `access_token` required and checked | 41001 missing, 40014 malformed, 40001 unknown/revoked/superseded, 42001 expired |
//! | quotas | per account and path, daily (Beijing day) and per minute, counted for calls that pass the token check; defaults from fact sheet §5.7: token 2000/day, stable_token 500 000/day and 10 000/min, menu create 1000, custom send 500 000, mass sendall 100/day and 60/min (shared with mass/send), QR create 100 000, user/get 500, user/info and batchget 5 000 000 | 45009 daily, 45011 per minute |
//! | `user/get` | subscribed followers in seeding order, [`SimConfig::page_size`] per page (10 000), after `next_openid`; `next_openid` is the page's last openid, and the call after the last page answers `count` 0, `next_openid` "" and no `data` | 40003 unknown `next_openid` |
//! | `user/info` | full record for followers (no nickname/avatar, as since 2021); `subscribe` 0 with openid (and unionid) only for unfollowed users | 41009, 40003 |
//! | `user/info/batchget` | 1–100 entries, all or nothing | 40032 for 0 or > 100 (WeChat's "invalid openid list size"), 40003 |
//! | tags | tag 2 "星标组" exists; created ids from 100; ≤ [`SimConfig::max_tags`] created tags (100), names 1–30 bytes and unique; 0/1/2 cannot be updated or deleted; a tag on more than [`SimConfig::tag_delete_fan_limit`] followers cannot be deleted; deleting untags everyone | 45056, 45157 (empty or duplicate name), 45158, 45058, 45159 unknown id, 45057 |
//! | batch(un)tagging | 1–50 openids, all or nothing; a follower may carry ≤ [`SimConfig::max_tags_per_user`] tags (20) | 40032, 40003, 49003 (openid of another simulated account), 45159, 45059 |
//! | `user/tag/get`, `tags/getidlist` | paging as `user/get` (no `total`); a follower's tag ids | 45159, 40003, 41009 |
//! | `message/custom/send` | only to a subscribed follower inside an open window ([`Interaction`]: message → 5 within 48 h, event → 3 within 1 min, payment → unlimited within 48 h); unlimited windows are used first, then the one closing soonest; `news` with one article only; text/news/image/voice/mpnews checked, other documented types accepted | 40003, 45015 (no open window or unfollowed), 45047 (windows used up), 40008, 40007, 45008 |
//! | `message/mass/sendall` | to all or a tag (recipients counted at send); `msg_id` from 1 000 000 001, `msg_data_id` for mpnews; a repeated `clientmsgid` answers 45065 with the first send's `msg_id`, or 45066 if repeated within [`SimConfig::clientmsgid_retry_secs`] (60 s) of the last attempt; text/mpnews/image/voice/mpvideo/wxcard checked; accepted sends push `MASSSENDJOBFINISH` | 45159 unknown tag, 40008, 40007, 45067, 45065, 45066 |
//! | `message/mass/send` | by openid list: 2–10 000 entries, each known to the account (a follower or a former one); former followers are filtered out ([`MassSend::openids`] = the distinct listed openids that follow), repeats ignored; the same content checks, `clientmsgid` handling (one set per account, shared with sendall), `msg_id` numbering, `MASSSENDJOBFINISH` and **quota** as sendall (its calls count against sendall's 100/day and 60/min) | 40130 for < 2 or > 10 000, 40003, 47001 without a `touser` array, then as sendall |
//! | `message/mass/preview` | to one subscribed follower by `touser`, or by `towxname` (a WeChat ID given with [`Account::set_wxname`]); the same content checks; answers `preview success` and a `msg_id` from the send numbering; recorded in [`Account::previews`]; no quota, no push | 40003 unknown or missing openid, 43004 not following, 40132 unknown WeChat ID |
//! | `message/mass/get` | `msg_status` of a send (`SEND_SUCCESS` unless [`Account::set_mass_status`], or `SEND_FAIL` after a [`MassOutcome`] status other than `send success`) | 40059 |
//! | menu | create checks 1–3 buttons, sub-menus of 1–5 (no deeper), names ≤ 16 / ≤ 60 bytes, known types with their fields (key ≤ 128, url ≤ 1024, miniprogram appid + pagepath); get answers `{"menu":{…}}` with `sub_button: []` on action buttons; delete always succeeds | 40016–40020, 40022–40027, 40097, 46003 on get without a menu |
//! | `qrcode/create` | the four `action_name`s; temporary `scene_id` 1..=2³²−1, permanent 1..=100 000, `scene_str` 1–64 bytes; `expire_seconds` absent or 0 → 60, above 30 days cut to 30 days (an assumption); permanent codes are one per scene (asking again returns the same ticket) and capped at [`SimConfig::permanent_qr_limit`] | 40052, 40053, 40131 past the permanent cap |
//! | `GET /v3/bill/tradebill` (WeChat Pay) | the merchant's `Authorization` checked first (scheme `WECHATPAY2-SHA256-RSA2048`, a known `mchid`, `timestamp` within 5 min of the simulated clock, SHA256withRSA over `GET\n{path?query}\n{timestamp}\n{nonce}\n\n` with the key of [`Simulator::add_merchant`]; `serial_no` required, not compared\*); then `bill_date` a real `YYYY-MM-DD` and `bill_type` `ALL` (the default), `SUCCESS` or `REFUND`; 200 `{"hash_type":"SHA1","hash_value":<lower hex>,"download_url":<this server>/v3/billdownload/file?token=…}` with a fresh token valid 5 minutes. Every answer, errors included, is JSON signed with the platform key (`Wechatpay-Timestamp` = simulated clock, `-Nonce`, `-Signature` over `ts\nnonce\nbody\n`, `-Serial` [`pay::PLATFORM_KEY_ID`]) | 401 `SIGN_ERROR` (unknown `mchid` too\*), 400 `PARAM_ERROR` (also for any `tar_type`\*: no GZIP), 400 `STATEMENT_CREATING` ([`Simulator::set_bill_creating`]), 400 `NO_STATEMENT_EXIST` (no bill of that type published) |
//! | `GET /v3/billdownload/file?token=…` (WeChat Pay) | the same `Authorization` check over this URL; the published bytes as `application/octet-stream`, **unsigned** (as WeChat's docs say); a token serves only the merchant it was handed to\*, any number of times\* until it expires; errors are JSON and unsigned too | 401 `SIGN_ERROR`, 400 `PARAM_ERROR` for an unknown, expired or other merchant's token\* |
//!
//! Some codes and rules are the simulator's own choice where WeChat documents the
//! rule but not the code, or neither: 40131 ("out of limit of ticket") past the
//! permanent QR cap; 40032 for an oversized batchget; force_refresh spacing answering
//! 45011/45009; 40130 for a `mass/send` list size (WeChat's "invalid openid list
//! size, at least two openid"); 40132 for an unknown `towxname`; former followers in
//! a `mass/send` list filtered rather than refused; `mass/send` sharing sendall's
//! quota counter; and no quota on previews. In the WeChat Pay rows, \* marks the
//! simulator's choices where WeChat documents nothing: an unknown `mchid` answered as
//! a bad signature, the certificate `serial_no` not compared, `tar_type` refused, a
//! download token bound to its merchant and reusable until it expires; as are the
//! error `message`s, the `NO_STATEMENT_EXIST` / `STATEMENT_CREATING` status (400, as
//! WeChat's error table lists them) and the bill types being published independently
//! (an `ALL` bill publishes no `SUCCESS` one). Bills are served as published: the
//! simulator neither writes nor checks their content.
//!
//! # Pushes to the merchant's server
//!
//! [`Account::set_webhook`] registers the server configuration of the OA console: a
//! [`Webhook`] with the URL (plain `http://`), Token, EncodingAESKey and
//! [`PushMode`]. From then on the account pushes like WeChat (fact sheet §2–§4):
//!
//! | what | when | pushed |
//! | --- | --- | --- |
//! | `subscribe` | [`Account::push_subscribe`]: the user follows (new, or a former follower again): `subscribe_time` now, an event window (3 within 1 min) | `Event` `subscribe`, no `EventKey` |
//! | `subscribe` / `SCAN` | [`Account::push_scan`] with a QR ticket: a non-follower follows through the code (`subscribe_scene` `ADD_SCENE_QR_CODE`, `qr_scene`/`qr_scene_str`); a follower just scans; both open an event window | `EventKey` `qrscene_<scene>` + `Ticket`; `SCAN` with `EventKey` `<scene>` + `Ticket` |
//! | `unsubscribe` | [`Account::push_unsubscribe`]: out of the follower list, customer-service windows closed | `Event` `unsubscribe` |
//! | `text` | [`Account::push_text`] from a follower: a message window (5 within 48 h) | `Content`, a fresh 19-digit `MsgId` |
//! | `MASSSENDJOBFINISH` | every accepted `mass/sendall` and `mass/send` (not a 45065 repeat), [`SimConfig::job_finish_delay`] later (2 s; tests shorten it) | `FromUserName` [`SYSTEM_OPENID`], `MsgID` = the send's `msg_id`, `Status` `send success`, `TotalCount` (targets), `FilterCount` (those following), `SentCount` = FilterCount − ErrorCount, `ErrorCount` 0 — or as [`Account::set_next_mass_outcome`] arranges; mpnews adds `CopyrightCheckResult` (`CheckState` 1) and `ArticleUrlResult` (one URL) |
//!
//! Every push is a POST of `text/xml` with `signature`, `timestamp`, `nonce` and
//! `openid` (the sender) in the query, appended to any query of the URL. Plaintext
//! mode posts the message XML; safe mode `<xml><ToUserName/><Encrypt/></xml>` with
//! `encrypt_type=aes` and `msg_signature`; compatible mode both forms in one body.
//! Encryption is the simulator's own WXBizMsgCrypt ([`crypto`]; appid = the
//! account's). `ToUserName` is the account's original id ([`SimConfig::original_id`],
//! `gh_sim…` for added accounts, [`Account::set_original_id`]). `CreateTime` is the
//! simulated clock when the push goes out; `timestamp` is the real clock, as
//! receivers check it against theirs.
//!
//! A push is delivered until it gets a 2xx answer, at most [`SimConfig::push_attempts`]
//! times (3), [`SimConfig::push_retry_pause`] apart (1 s), each attempt waiting
//! [`SimConfig::push_timeout`] (5 s) for the answer; every attempt's same signed
//! request and the status and body answered (or the transport error) are in
//! [`Account::push_deliveries`]. The body answered (`success`, a passive reply) is
//! recorded, not interpreted. Pushes go to the webhook registered when the event
//! happened, from one thread with its own tokio runtime: undelayed pushes in the
//! order they happened, each `MASSSENDJOBFINISH` on its own timer. Without a webhook
//! the state changes all the same and nothing is pushed. Dropping the simulator
//! drops pushes not yet delivered.
//!
//! # The binary
//!
//! `patron-simulator [ADDR] [--followers N] [--appid ID --secret SECRET]
//! [--original-id GH_ID] [--webhook URL --token TOKEN [--aes-key KEY]
//! [--mode plaintext|compatible|safe]] [--job-finish-delay SECS] [--mch-id ID
//! --merchant-public-key FILE [--bills-dir DIR]]` serves the default account on ADDR
//! (`127.0.0.1:8089`). With `--mch-id` it is also that WeChat Pay merchant's
//! `api.mch.weixin.qq.com` ([`Simulator::add_merchant`] with the public key in FILE),
//! prints the platform key id and public key PEM to configure Patron with, and
//! publishes every `YYYY-MM-DD.csv` in DIR as that day's `ALL` bill. The webhook may also come from
//! `PATRON_SIM_WEBHOOK`, `PATRON_SIM_TOKEN`, `PATRON_SIM_AES_KEY` and
//! `PATRON_SIM_MODE` (flags win; the mode defaults to safe with a key, plaintext
//! without). Lines on standard input act as users: `subscribe OPENID`,
//! `scan OPENID TICKET`, `unsubscribe OPENID`, `text OPENID CONTENT…`, and
//! `followers [N]`, `pushes`, `help`.
//!
//! Not simulated: events other than those above (menu clicks, location…) and
//! messages other than text, replies interpreted, server-URL verification (the
//! `echostr` GET), the JSON push format, template messages, mass delete, media and
//! drafts, `clear_quota`, the per-follower monthly mass-send cap and the subscription
//! account's one-send-a-day rule (Patron's own policy), the mass-send "API protection"
//! admin confirmation, IP whitelists (40164); of WeChat Pay, everything but the trade
//! bill (payments, notifications, refunds, fund-flow bills, certificate downloads),
//! gzipped bills, and the 3-month history and 10:00 readiness (a bill is there when
//! published).

#![warn(missing_docs)]

pub mod codes;
pub mod crypto;
pub mod pay;
mod push;
mod server;
mod state;
mod types;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::ops::Deref;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::web;
use serde_json::Value;

use server::Shared;
use state::State;

pub use push::SYSTEM_OPENID;
pub use types::{
    paths, CallRecord, FailureKind, Follower, Interaction, MassJobResult, MassOutcome, MassPreview,
    MassSend, PushDelivery, PushMode, QrCodeRecord, QrScene, Quota, SentMessage, SimConfig, SimTag,
    Webhook,
};

/// A running simulator. Dropping it stops the server and joins its thread.
///
/// Dereferences to the default [`Account`].
pub struct Simulator {
    shared: web::Data<Shared>,
    default: Account,
    addr: SocketAddr,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts a simulator with WeChat's defaults on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start() -> Simulator {
        Simulator::start_with(SimConfig::default())
    }

    /// Starts a simulator with this configuration on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub fn start_with(config: SimConfig) -> Simulator {
        Simulator::bind(("127.0.0.1", 0), config).expect("bind the simulator on 127.0.0.1:0")
    }

    /// Starts a simulator on the given address (e.g. for the `patron-simulator`
    /// binary).
    pub fn bind(addr: impl ToSocketAddrs, config: SimConfig) -> io::Result<Simulator> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let appid = config.appid.clone();
        let shared = web::Data::new(Shared::new(State::new(config))?);
        let (handle, thread) = server::spawn(listener, shared.clone()).inspect_err(|_| {
            shared.stop_pushes();
        })?;
        Ok(Simulator {
            default: Account {
                shared: shared.clone(),
                appid,
            },
            shared,
            addr,
            handle: Some(handle),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, to give the client as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The default account.
    pub fn default_account(&self) -> &Account {
        &self.default
    }

    /// Adds an account served by the same server. Its original id is
    /// `gh_sim<9 digits>` (its number); [`Account::set_original_id`] changes it.
    ///
    /// # Panics
    /// If the appid is already taken.
    pub fn add_account(&self, appid: &str, secret: &str) -> Account {
        let mut state = self.shared.lock();
        assert!(
            !state.accounts.contains_key(appid),
            "account {appid} exists already"
        );
        let original_id = format!("gh_sim{:09}", state.accounts.len() + 1);
        state.add_account(appid, secret, &original_id);
        Account {
            shared: self.shared.clone(),
            appid: appid.to_owned(),
        }
    }

    /// The account with this appid, if the simulator has it.
    pub fn account(&self, appid: &str) -> Option<Account> {
        self.shared
            .lock()
            .accounts
            .contains_key(appid)
            .then(|| Account {
                shared: self.shared.clone(),
                appid: appid.to_owned(),
            })
    }

    /// Moves the simulated clock forward (whole seconds).
    pub fn advance(&self, by: Duration) {
        self.shared.lock().advance(by.as_secs() as i64);
    }

    /// Stops the simulated clock at Unix time `at`: from now on only
    /// [`Simulator::advance`] moves it, so minute and day boundaries are where a
    /// test puts them.
    pub fn freeze_clock_at(&self, at: i64) {
        self.shared.lock().freeze_at(at);
    }

    /// The simulated time, Unix seconds.
    pub fn now(&self) -> i64 {
        self.shared.lock().now()
    }

    /// The next `count` API calls (any path but the two token endpoints) answer
    /// `errcode`, e.g. −1 busy. Failures queue up in the order armed.
    pub fn fail_next(&self, count: u32, errcode: i64) {
        self.inject_failure(None, count, FailureKind::Errcode(errcode));
    }

    /// The next `count` calls to `path` (token endpoints included) answer `errcode`.
    pub fn fail_next_on(&self, path: &str, count: u32, errcode: i64) {
        self.inject_failure(Some(path), count, FailureKind::Errcode(errcode));
    }

    /// The next `count` API calls (token endpoints excepted) answer this HTTP status.
    pub fn fail_next_http(&self, count: u32, status: u16) {
        self.inject_failure(None, count, FailureKind::HttpStatus(status));
    }

    /// Arms a failure for the next `count` calls to `path` (`None`: any API path but
    /// the token endpoints).
    pub fn inject_failure(&self, path: Option<&str>, count: u32, kind: FailureKind) {
        self.shared.lock().push_failure(path, count, kind);
    }

    /// Disarms every pending failure.
    pub fn clear_failures(&self) {
        self.shared.lock().clear_failures();
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.lock().calls.clone()
    }

    /// How many requests went to `path`.
    pub fn call_count(&self, path: &str) -> usize {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.path == path)
            .count()
    }

    /// Forgets the request log.
    pub fn clear_calls(&self) {
        self.shared.lock().calls.clear();
    }

    /// Pushes (of every account) queued and not finished yet: waiting for their
    /// delay, being delivered, or waiting to be delivered again.
    pub fn pending_pushes(&self) -> usize {
        self.shared.lock().pending_pushes
    }

    /// Waits until no push is pending (polling every 5 ms, at most `timeout`);
    /// whether that happened. Needs a tokio runtime with its timer (as
    /// `#[tokio::test]` has).
    pub async fn wait_for_pushes(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.pending_pushes() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // --- WeChat Pay ------------------------------------------------------------------

    /// Registers a WeChat Pay merchant: its `mchid` and the public key (PEM: SPKI
    /// `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`, RSA of at least 2048 bits) of its API
    /// certificate, which its request signatures are checked with. Registering a
    /// known merchant again replaces its key (a new certificate). The error says why a
    /// key is refused.
    pub fn add_merchant(&self, mchid: &str, merchant_public_key_pem: &str) -> Result<(), String> {
        if mchid.is_empty() || !mchid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("a mchid is letters and digits, not {mchid:?}"));
        }
        let key = pay::merchant_key(merchant_public_key_pem)?;
        self.shared.lock().add_merchant(mchid, key);
        Ok(())
    }

    /// The public key (SPKI PEM) WeChat Pay answers are signed with: give it to the
    /// merchant's side as the platform key, under [`Simulator::pay_platform_key_id`].
    /// The same fixed test key in every simulator.
    pub fn pay_platform_public_key_pem(&self) -> &'static str {
        pay::PLATFORM_PUBLIC_KEY_PEM
    }

    /// The id of the platform key, as answers name it in `Wechatpay-Serial`
    /// ([`pay::PLATFORM_KEY_ID`]).
    pub fn pay_platform_key_id(&self) -> &'static str {
        pay::PLATFORM_KEY_ID
    }

    /// Publishes the merchant's `bill_type` (`ALL`, `SUCCESS` or `REFUND`) trade bill
    /// of `date` (`YYYY-MM-DD`): `GET /v3/bill/tradebill` hands it out from now on,
    /// byte for byte. Replaces an earlier one; ends [`Simulator::set_bill_creating`]
    /// for the day. The bill types are independent (an `ALL` bill publishes no
    /// `SUCCESS` one).
    ///
    /// # Panics
    /// If the merchant is unknown, the date not a real day written `YYYY-MM-DD`, or the
    /// bill type another.
    pub fn publish_bill(&self, mchid: &str, date: &str, bill_type: &str, bytes: Vec<u8>) {
        assert!(pay::is_bill_date(date), "not a bill date: {date:?}");
        assert!(
            pay::BILL_TYPES.contains(&bill_type),
            "not a bill type: {bill_type:?}"
        );
        let mut state = self.shared.lock();
        assert!(state.has_merchant(mchid), "no merchant {mchid}");
        state.publish_bill(mchid, date, bill_type, bytes);
    }

    /// The merchant's bills of `date` are being written: `STATEMENT_CREATING` for every
    /// bill type until one is published.
    ///
    /// # Panics
    /// If the merchant is unknown or the date not a real day written `YYYY-MM-DD`.
    pub fn set_bill_creating(&self, mchid: &str, date: &str) {
        assert!(pay::is_bill_date(date), "not a bill date: {date:?}");
        let mut state = self.shared.lock();
        assert!(state.has_merchant(mchid), "no merchant {mchid}");
        state.set_bill_creating(mchid, date);
    }

    /// The next bill answer (of any merchant) announces a wrong `hash_value`, as if
    /// the file had been altered on the way; the ones after are right again.
    pub fn corrupt_next_bill_hash(&self) {
        self.shared.lock().corrupt_next_bill_hash();
    }

    /// Stops the server now (as dropping does).
    pub fn stop(self) {}
}

impl Deref for Simulator {
    type Target = Account;

    fn deref(&self) -> &Account {
        &self.default
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // The stop command is sent when `stop` is called; the returned future
            // only waits for it, which joining the thread does too.
            drop(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.stop_pushes();
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("default", &self.default.appid)
            .finish_non_exhaustive()
    }
}

/// One simulated Official Account: its followers, tags, messages, menu, QR codes,
/// quotas and tokens. Cheap to clone; all clones see the same state.
#[derive(Clone)]
pub struct Account {
    shared: web::Data<Shared>,
    appid: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl Account {
    fn with<R>(&self, f: impl FnOnce(&mut State, &str) -> R) -> R {
        Shared::run(&self.shared, |state| f(state, &self.appid))
    }

    /// The appid.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The AppSecret.
    pub fn secret(&self) -> String {
        self.with(|s, appid| s.account(appid).secret.clone())
    }

    /// Adds `n` subscribed followers with openids, unionids and increasing
    /// `subscribe_time`s (the last one now), and returns their openids in list order.
    pub fn seed_followers(&self, n: usize) -> Vec<String> {
        self.with(|s, appid| {
            let now = s.now();
            let account = s.account_mut(appid);
            let mut openids = Vec::with_capacity(n);
            for i in 0..n {
                let (openid, unionid) = account.next_openid();
                let mut follower = Follower::new(openid.clone());
                follower.unionid = Some(unionid);
                follower.subscribe_time = now - (n - i) as i64 + 1;
                account
                    .insert_follower(follower)
                    .expect("generated openids are fresh");
                openids.push(openid);
            }
            openids
        })
    }

    /// Adds one follower (or former follower, with `subscribed: false`) as given;
    /// returns its openid.
    ///
    /// # Panics
    /// If the openid is already known to this account.
    pub fn add_follower(&self, follower: Follower) -> String {
        let openid = follower.openid.clone();
        self.with(|s, appid| s.account_mut(appid).insert_follower(follower))
            .unwrap_or_else(|e| panic!("{e}"));
        openid
    }

    /// A follower as the simulator holds it (tags included), if known.
    pub fn follower(&self, openid: &str) -> Option<Follower> {
        self.with(|s, appid| s.account(appid).follower(openid).cloned())
    }

    /// How many users follow the account now.
    pub fn follower_count(&self) -> usize {
        self.with(|s, appid| {
            s.account(appid)
                .followers()
                .iter()
                .filter(|f| f.subscribed)
                .count()
        })
    }

    /// The openids of those who follow now, in list order (as `user/get` pages
    /// them).
    pub fn follower_openids(&self) -> Vec<String> {
        self.with(|s, appid| {
            s.account(appid)
                .followers()
                .iter()
                .filter(|f| f.subscribed)
                .map(|f| f.openid.clone())
                .collect()
        })
    }

    /// Marks a known user as following or not; `false` if the openid is unknown.
    pub fn set_subscribed(&self, openid: &str, subscribed: bool) -> bool {
        self.with(|s, appid| {
            s.account_mut(appid)
                .follower_mut(openid)
                .map(|f| f.subscribed = subscribed)
                .is_some()
        })
    }

    /// Records that the user interacted now, opening a customer-service window.
    pub fn record_interaction(&self, openid: &str, kind: Interaction) {
        self.with(|s, appid| {
            let now = s.now();
            s.account_mut(appid).record_interaction(openid, kind, now);
        });
    }

    /// The account's tags (2 "星标组" included) with their follower counts.
    pub fn tags(&self) -> Vec<SimTag> {
        self.with(|s, appid| s.account(appid).sim_tags())
    }

    /// Customer-service messages accepted so far.
    pub fn sent_messages(&self) -> Vec<SentMessage> {
        self.with(|s, appid| s.account(appid).sent().to_vec())
    }

    /// Mass sends accepted so far (duplicates by `clientmsgid` are not repeated).
    pub fn mass_sends(&self) -> Vec<MassSend> {
        self.with(|s, appid| s.account(appid).mass().to_vec())
    }

    /// Sets what `mass/get` answers for a send (`SENDING`, `SEND_FAIL`, `DELETE`…);
    /// `false` if there is no such send.
    pub fn set_mass_status(&self, msg_id: u64, status: &str) -> bool {
        self.with(|s, appid| {
            s.account_mut(appid)
                .mass_mut()
                .iter_mut()
                .find(|m| m.msg_id == msg_id)
                .map(|m| m.status = status.to_owned())
                .is_some()
        })
    }

    /// The menu as `menu/get` shows it (`{"button":[…]}`), if one is set.
    pub fn menu(&self) -> Option<Value> {
        self.with(|s, appid| s.account(appid).menu().cloned())
    }

    /// QR codes created so far (a permanent code asked for twice appears once).
    pub fn qrcodes(&self) -> Vec<QrCodeRecord> {
        self.with(|s, appid| s.account(appid).qrcodes().to_vec())
    }

    /// The QR code with this ticket, to learn the scene a scan would report.
    pub fn qrcode(&self, ticket: &str) -> Option<QrCodeRecord> {
        self.with(|s, appid| {
            s.account(appid)
                .qrcodes()
                .iter()
                .find(|q| q.ticket == ticket)
                .cloned()
        })
    }

    /// Sets the call limits of one path (see [`paths`]) for this account.
    pub fn set_quota(&self, path: &str, quota: Quota) {
        self.with(|s, appid| s.account_mut(appid).set_quota(path, quota));
    }

    /// Calls to `path` counted against today's quota.
    pub fn quota_used_today(&self, path: &str) -> u64 {
        self.with(|s, appid| {
            let now = s.now();
            s.account(appid).used_today(path, now)
        })
    }

    /// Zeroes every quota counter (what `clear_quota` does on WeChat).
    pub fn reset_quotas(&self) {
        self.with(|s, appid| s.account_mut(appid).reset_quotas());
    }

    /// Expires every token issued to the account: calls with them answer 42001.
    pub fn expire_tokens(&self) {
        self.with(|s, appid| s.spoil_tokens(appid, false));
    }

    /// Revokes every token issued to the account: calls with them answer 40001.
    pub fn invalidate_tokens(&self) {
        self.with(|s, appid| s.spoil_tokens(appid, true));
    }

    /// A currently valid token of the account (stable first), if any.
    pub fn access_token(&self) -> Option<String> {
        self.with(|s, appid| s.valid_token(appid))
    }

    // --- mass sends --------------------------------------------------------------

    /// Makes the next accepted mass send (sendall or by openid list) end this way:
    /// its `MASSSENDJOBFINISH` counts and status, and what `mass/get` answers.
    pub fn set_next_mass_outcome(&self, outcome: MassOutcome) {
        self.with(|s, appid| s.account_mut(appid).next_outcome = Some(outcome));
    }

    /// Previews accepted so far.
    pub fn previews(&self) -> Vec<MassPreview> {
        self.with(|s, appid| s.account(appid).previews().to_vec())
    }

    /// Gives a known user a WeChat ID, so `mass/preview` can address them by
    /// `towxname`.
    ///
    /// # Panics
    /// If the openid is unknown to the account.
    pub fn set_wxname(&self, openid: &str, wxname: &str) {
        self.with(|s, appid| {
            let account = s.account_mut(appid);
            assert!(
                account.follower(openid).is_some(),
                "{openid} is unknown to {appid}"
            );
            account.wxnames.insert(wxname.to_owned(), openid.to_owned());
        });
    }

    // --- pushes to the merchant's server -------------------------------------------

    /// The original id (`gh_…`): `ToUserName` of every push.
    pub fn original_id(&self) -> String {
        self.with(|s, appid| s.account(appid).original_id.clone())
    }

    /// Changes the original id.
    pub fn set_original_id(&self, original_id: &str) {
        self.with(|s, appid| s.account_mut(appid).original_id = original_id.to_owned());
    }

    /// Registers the merchant's server: from now on events and messages are pushed
    /// there. Replaces any earlier webhook (pushes already queued keep theirs).
    ///
    /// # Panics
    /// If the URL is not `http://…` (the simulator has no TLS), or the mode
    /// encrypts and the EncodingAESKey is not 43 characters of `[A-Za-z0-9]`.
    pub fn set_webhook(&self, webhook: Webhook) {
        assert!(
            webhook.url.starts_with("http://"),
            "the simulator pushes over plain http only, not to {}",
            webhook.url
        );
        assert!(
            webhook.mode == PushMode::Plaintext
                || crypto::aes_key(&webhook.encoding_aes_key).is_some(),
            "an encrypting webhook needs a valid EncodingAESKey"
        );
        self.with(|s, appid| s.account_mut(appid).webhook = Some(webhook));
    }

    /// Stops pushing (pushes already queued are still delivered).
    pub fn clear_webhook(&self) {
        self.with(|s, appid| s.account_mut(appid).webhook = None);
    }

    /// The registered webhook, if any.
    pub fn webhook(&self) -> Option<Webhook> {
        self.with(|s, appid| s.account(appid).webhook.clone())
    }

    /// `openid` follows the account (a new follower, or a former one again): the
    /// follower list, `subscribe_time` and an event window (3 messages within a
    /// minute) change, and a `subscribe` event is pushed. The push id, or `None`
    /// without a webhook.
    pub fn push_subscribe(&self, openid: &str) -> Option<u64> {
        self.with(|s, appid| s.user_subscribes(appid, openid, None))
    }

    /// `openid` scans the QR code with this ticket: a follower causes a `SCAN`
    /// event (`EventKey` the scene), anyone else follows through the code (a
    /// `subscribe` event with `EventKey` `qrscene_<scene>` and `Ticket`; the
    /// follower's `subscribe_scene` becomes `ADD_SCENE_QR_CODE` with its
    /// `qr_scene`/`qr_scene_str`). Opens an event window. The push id, or `None`
    /// without a webhook.
    ///
    /// # Panics
    /// If no QR code of the account has this ticket.
    pub fn push_scan(&self, openid: &str, ticket: &str) -> Option<u64> {
        self.with(|s, appid| s.user_scans(appid, openid, ticket))
    }

    /// `openid` unfollows: out of the follower list, customer-service windows
    /// closed, an `unsubscribe` event pushed. The push id, or `None` without a
    /// webhook.
    ///
    /// # Panics
    /// If the openid is unknown to the account.
    pub fn push_unsubscribe(&self, openid: &str) -> Option<u64> {
        self.with(|s, appid| s.user_unsubscribes(appid, openid))
    }

    /// The follower `openid` writes `content`: a message window opens (5 messages
    /// within 48 h) and a `text` message is pushed with a fresh `MsgId`. The push id,
    /// or `None` without a webhook.
    ///
    /// # Panics
    /// If the openid does not follow the account.
    pub fn push_text(&self, openid: &str, content: &str) -> Option<u64> {
        self.with(|s, appid| s.user_sends_text(appid, openid, content))
    }

    /// Every push delivery attempt to this account's webhook so far, in the order
    /// they finished.
    pub fn push_deliveries(&self) -> Vec<PushDelivery> {
        self.with(|s, appid| s.account(appid).deliveries().to_vec())
    }

    /// Waits until at least `count` delivery attempts are recorded (polling every
    /// 5 ms, at most `timeout`) and returns them all; fewer if the time ran out.
    /// Needs a tokio runtime with its timer (as `#[tokio::test]` has).
    pub async fn wait_for_deliveries(&self, count: usize, timeout: Duration) -> Vec<PushDelivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let deliveries = self.push_deliveries();
            if deliveries.len() >= count || Instant::now() >= deadline {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
