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
//!   [`Account::record_interaction`] (opens a customer-service window).
//! - **Inspect**: [`Account::follower`], [`Account::tags`], [`Account::sent_messages`],
//!   [`Account::mass_sends`], [`Account::menu`], [`Account::qrcodes`],
//!   [`Account::quota_used_today`], [`Account::access_token`], and every request in
//!   [`Simulator::calls`] / [`Simulator::call_count`].
//! - **Time**: [`Simulator::advance`] moves the simulated clock (token expiry,
//!   customer-service windows, quota days and minutes, `clientmsgid` retry spacing);
//!   [`Simulator::freeze_clock_at`] stops it so boundaries are deterministic.
//! - **Failures**: [`Simulator::fail_next`] (the next N API calls answer an errcode,
//!   e.g. −1 busy; token endpoints excepted), [`Simulator::fail_next_on`] (one path,
//!   token endpoints included), [`Simulator::fail_next_http`] (an HTTP status),
//!   [`Account::expire_tokens`] (42001), [`Account::invalidate_tokens`] (40001),
//!   [`Account::set_quota`] (45009 / 45011 sooner), [`Account::set_mass_status`].
//!
//! # What it reproduces
//!
//! Answers are HTTP 200 with JSON, errors as `{"errcode","errmsg"}` with an
//! `rid` in the message like WeChat's; unknown paths are HTTP 404. Every POST body
//! must be a JSON object: empty → 44002, not JSON → 47001; a POST endpoint called
//! with GET → 43002. A missing required field → 47001.
//!
//! | area | behaviour | codes |
//! | --- | --- | --- |
//! | `GET /cgi-bin/token` | checks `grant_type`, appid, secret; each fetch supersedes the previous token, which stays valid 5 more minutes | 40002, 41002, 41004, 40013, 40125 |
//! | `POST /cgi-bin/stable_token` | same token while it has > 5 min left (`expires_in` = what is left), then a new one (the old valid until it expires); `force_refresh` revokes the current one at once, at most 20 a day and 30 s apart | as above; 45011 within 30 s, 45009 past 20 a day |
//! | every other call | `access_token` required and checked | 41001 missing, 40014 malformed, 40001 unknown/revoked/superseded, 42001 expired |
//! | quotas | per account and path, daily (Beijing day) and per minute, counted for calls that pass the token check; defaults from fact sheet §5.7: token 2000/day, stable_token 500 000/day and 10 000/min, menu create 1000, custom send 500 000, mass sendall 100/day and 60/min, QR create 100 000, user/get 500, user/info and batchget 5 000 000 | 45009 daily, 45011 per minute |
//! | `user/get` | subscribed followers in seeding order, [`SimConfig::page_size`] per page (10 000), after `next_openid`; `next_openid` is the page's last openid, and the call after the last page answers `count` 0, `next_openid` "" and no `data` | 40003 unknown `next_openid` |
//! | `user/info` | full record for followers (no nickname/avatar, as since 2021); `subscribe` 0 with openid (and unionid) only for unfollowed users | 41009, 40003 |
//! | `user/info/batchget` | 1–100 entries, all or nothing | 40032 for 0 or > 100 (WeChat's "invalid openid list size"), 40003 |
//! | tags | tag 2 "星标组" exists; created ids from 100; ≤ [`SimConfig::max_tags`] created tags (100), names 1–30 bytes and unique; 0/1/2 cannot be updated or deleted; a tag on more than [`SimConfig::tag_delete_fan_limit`] followers cannot be deleted; deleting untags everyone | 45056, 45157 (empty or duplicate name), 45158, 45058, 45159 unknown id, 45057 |
//! | batch(un)tagging | 1–50 openids, all or nothing; a follower may carry ≤ [`SimConfig::max_tags_per_user`] tags (20) | 40032, 40003, 49003 (openid of another simulated account), 45159, 45059 |
//! | `user/tag/get`, `tags/getidlist` | paging as `user/get` (no `total`); a follower's tag ids | 45159, 40003, 41009 |
//! | `message/custom/send` | only to a subscribed follower inside an open window ([`Interaction`]: message → 5 within 48 h, event → 3 within 1 min, payment → unlimited within 48 h); unlimited windows are used first, then the one closing soonest; `news` with one article only; text/news/image/voice/mpnews checked, other documented types accepted | 40003, 45015 (no open window or unfollowed), 45047 (windows used up), 40008, 40007, 45008 |
//! | `message/mass/sendall` | to all or a tag (recipients counted at send); `msg_id` from 1 000 000 001, `msg_data_id` for mpnews; a repeated `clientmsgid` answers 45065 with the first send's `msg_id`, or 45066 if repeated within [`SimConfig::clientmsgid_retry_secs`] (60 s) of the last attempt | 45159 unknown tag, 40008, 40007, 45067, 45065, 45066 |
//! | `message/mass/get` | `msg_status` of a send (`SEND_SUCCESS` unless [`Account::set_mass_status`]) | 40059 |
//! | menu | create checks 1–3 buttons, sub-menus of 1–5 (no deeper), names ≤ 16 / ≤ 60 bytes, known types with their fields (key ≤ 128, url ≤ 1024, miniprogram appid + pagepath); get answers `{"menu":{…}}` with `sub_button: []` on action buttons; delete always succeeds | 40016–40020, 40022–40027, 40097, 46003 on get without a menu |
//! | `qrcode/create` | the four `action_name`s; temporary `scene_id` 1..=2³²−1, permanent 1..=100 000, `scene_str` 1–64 bytes; `expire_seconds` absent or 0 → 60, above 30 days cut to 30 days (an assumption); permanent codes are one per scene (asking again returns the same ticket) and capped at [`SimConfig::permanent_qr_limit`] | 40052, 40053, 40131 past the permanent cap |
//!
//! Two codes are the simulator's own choice where WeChat documents the rule but not
//! the code: 40131 ("out of limit of ticket") past the permanent QR cap, and 40032
//! for an oversized batchget. force_refresh spacing answering 45011/45009 is also an
//! assumption.
//!
//! Not simulated: message push to the merchant's server (events, scans), template
//! messages, mass send by openid list / preview / delete, media and drafts,
//! `clear_quota`, the per-follower monthly mass-send cap and the subscription
//! account's one-send-a-day rule (Patron's own policy), IP whitelists (40164).

#![warn(missing_docs)]

pub mod codes;
mod server;
mod state;
mod types;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::ops::Deref;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::web;
use serde_json::Value;

use server::Shared;
use state::State;

pub use types::{
    paths, CallRecord, FailureKind, Follower, Interaction, MassSend, QrCodeRecord, QrScene, Quota,
    SentMessage, SimConfig, SimTag,
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
        let shared = web::Data::new(Shared::new(State::new(config)));
        let (handle, thread) = server::spawn(listener, shared.clone())?;
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

    /// Adds an account served by the same server.
    ///
    /// # Panics
    /// If the appid is already taken.
    pub fn add_account(&self, appid: &str, secret: &str) -> Account {
        let mut state = self.shared.lock();
        assert!(
            !state.accounts.contains_key(appid),
            "account {appid} exists already"
        );
        state.add_account(appid, secret);
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
        f(&mut self.shared.lock(), &self.appid)
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
}
