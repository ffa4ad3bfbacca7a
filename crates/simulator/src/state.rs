//! The simulated WeChat: accounts, tokens, quotas and every endpoint's behaviour,
//! as plain synchronous code over one state behind a mutex.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::codes::{self, errmsg};
use crate::push::PushJob;
use crate::types::{
    paths, CallRecord, FailureKind, Follower, Interaction, MassJobResult, MassOutcome, MassPreview,
    MassSend, PushDelivery, QrCodeRecord, QrScene, Quota, SentMessage, SimConfig, SimTag, Webhook,
};

mod events;
mod pay;

pub(crate) use pay::PayAnswer;

/// A refusal: an `errcode` and any extra fields of the answer (45065's `msg_id`).
pub(crate) struct Fail {
    code: i64,
    extra: Map<String, Value>,
}

fn fail(code: i64) -> Fail {
    Fail {
        code,
        extra: Map::new(),
    }
}

type Answer = Result<Value, Fail>;

/// What the HTTP layer sends back.
pub(crate) enum Outcome {
    /// HTTP 200 with this JSON.
    Json(Value),
    /// This status with a short text body.
    Status(u16, &'static str),
    /// This answer, after a pause ([`crate::FailureKind::AnswerLate`]).
    Late(std::time::Duration, Box<Outcome>),
    /// A WeChat Pay answer, with its own status, headers and body.
    Pay(PayAnswer),
}

/// One incoming request, already read.
pub(crate) struct Request<'a> {
    pub post: bool,
    pub path: &'a str,
    pub query: HashMap<String, String>,
    pub body: &'a [u8],
    /// The path and query as received (what WeChat Pay signatures cover).
    pub path_and_query: &'a str,
    /// The `Authorization` header, if any (WeChat Pay).
    pub authorization: Option<&'a str>,
    /// `http://host:port` as the client addressed the server (WeChat Pay's
    /// `download_url` points back there).
    pub origin: &'a str,
}

struct Failure {
    path: Option<String>,
    remaining: u32,
    kind: FailureKind,
}

struct TokenRecord {
    appid: String,
    expires_at: i64,
    /// Invalidated at once (force_refresh, test hook): 40001.
    revoked: bool,
    /// Replaced by a newer `/cgi-bin/token` fetch: 40001 once its grace is over.
    superseded: bool,
}

#[derive(Default)]
struct Counter {
    day: i64,
    day_used: u64,
    minute: i64,
    minute_used: u64,
}

struct Window {
    until: i64,
    remaining: Option<u32>,
}

struct Tag {
    name: String,
}

pub(crate) struct AccountState {
    index: usize,
    pub(crate) secret: String,
    seq: u64,
    followers: Vec<Follower>,
    by_openid: HashMap<String, usize>,
    tags: BTreeMap<u32, Tag>,
    next_tag_id: u32,
    windows: HashMap<String, Vec<Window>>,
    sent: Vec<SentMessage>,
    mass: Vec<MassSend>,
    /// clientmsgid → (index in `mass`, time of the last attempt).
    clientmsgids: HashMap<String, (usize, i64)>,
    menu: Option<Value>,
    qrcodes: Vec<QrCodeRecord>,
    permanent: HashMap<QrScene, usize>,
    quotas: HashMap<String, Quota>,
    counters: HashMap<String, Counter>,
    stable_token: Option<String>,
    legacy_token: Option<String>,
    force_refreshes: (i64, u32),
    last_force_refresh: Option<i64>,
    qr_seq: u64,
    /// `gh_…`, the `ToUserName` of pushes.
    pub(crate) original_id: String,
    pub(crate) webhook: Option<Webhook>,
    /// How the next accepted mass send ends.
    pub(crate) next_outcome: Option<MassOutcome>,
    previews: Vec<MassPreview>,
    /// WeChat ID → openid, for previews by `towxname`.
    pub(crate) wxnames: HashMap<String, String>,
    deliveries: Vec<PushDelivery>,
}

/// Tag 2 exists on every account; 0 and 1 are reserved and hidden.
const STAR_TAG: u32 = 2;
const RESERVED_TAGS: [u32; 3] = [0, 1, 2];
const FIRST_TAG_ID: u32 = 100;

pub(crate) struct State {
    pub(crate) config: SimConfig,
    clock_offset: i64,
    /// When set, time stands still there (moved only by `advance`).
    frozen_at: Option<i64>,
    pub(crate) accounts: BTreeMap<String, AccountState>,
    tokens: HashMap<String, TokenRecord>,
    failures: VecDeque<Failure>,
    pub(crate) calls: Vec<CallRecord>,
    next_msg_id: u64,
    next_token: u64,
    next_rid: u64,
    /// Pushes queued under the lock, handed to the pusher once it is released.
    outbox: Vec<PushJob>,
    next_push_id: u64,
    /// Pushes queued and not yet finished (delivered or given up).
    pub(crate) pending_pushes: usize,
    /// `MsgId`s of simulated user messages.
    next_user_msg_id: u64,
    /// WeChat Pay: merchants and their bills.
    pay: pay::PayState,
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn beijing_day(t: i64) -> i64 {
    (t + 8 * 3600).div_euclid(86_400)
}

impl State {
    pub(crate) fn new(config: SimConfig) -> Self {
        let mut state = State {
            config,
            clock_offset: 0,
            frozen_at: None,
            accounts: BTreeMap::new(),
            tokens: HashMap::new(),
            failures: VecDeque::new(),
            calls: Vec::new(),
            next_msg_id: 1_000_000_001,
            next_token: 1,
            next_rid: 1,
            outbox: Vec::new(),
            next_push_id: 1,
            pending_pushes: 0,
            next_user_msg_id: 6_200_000_000_000_000_001,
            pay: pay::PayState::default(),
        };
        let config = &state.config;
        let (appid, secret, original_id) = (
            config.appid.clone(),
            config.secret.clone(),
            config.original_id.clone(),
        );
        state.add_account(&appid, &secret, &original_id);
        state
    }

    /// Simulated Unix time.
    pub(crate) fn now(&self) -> i64 {
        self.frozen_at
            .unwrap_or_else(|| real_now() + self.clock_offset)
    }

    pub(crate) fn freeze_at(&mut self, at: i64) {
        self.frozen_at = Some(at);
    }

    pub(crate) fn advance(&mut self, secs: i64) {
        match self.frozen_at.as_mut() {
            Some(at) => *at += secs,
            None => self.clock_offset += secs,
        }
    }

    pub(crate) fn add_account(&mut self, appid: &str, secret: &str, original_id: &str) {
        let index = self.accounts.len();
        let mut tags = BTreeMap::new();
        tags.insert(
            STAR_TAG,
            Tag {
                name: "星标组".into(),
            },
        );
        self.accounts.insert(
            appid.to_owned(),
            AccountState {
                index,
                secret: secret.to_owned(),
                seq: 0,
                followers: Vec::new(),
                by_openid: HashMap::new(),
                tags,
                next_tag_id: FIRST_TAG_ID,
                windows: HashMap::new(),
                sent: Vec::new(),
                mass: Vec::new(),
                clientmsgids: HashMap::new(),
                menu: None,
                qrcodes: Vec::new(),
                permanent: HashMap::new(),
                quotas: self.config.quotas.clone(),
                counters: HashMap::new(),
                stable_token: None,
                legacy_token: None,
                force_refreshes: (0, 0),
                last_force_refresh: None,
                qr_seq: 0,
                original_id: original_id.to_owned(),
                webhook: None,
                next_outcome: None,
                previews: Vec::new(),
                wxnames: HashMap::new(),
                deliveries: Vec::new(),
            },
        );
    }

    pub(crate) fn account(&self, appid: &str) -> &AccountState {
        self.accounts.get(appid).expect("account exists")
    }

    pub(crate) fn account_mut(&mut self, appid: &str) -> &mut AccountState {
        self.accounts.get_mut(appid).expect("account exists")
    }

    pub(crate) fn push_failure(&mut self, path: Option<&str>, count: u32, kind: FailureKind) {
        if count > 0 {
            self.failures.push_back(Failure {
                path: path.map(str::to_owned),
                remaining: count,
                kind,
            });
        }
    }

    pub(crate) fn clear_failures(&mut self) {
        self.failures.clear();
    }

    /// The first armed failure that applies to `path`. Failures without a path skip
    /// the token endpoints, so "the next N calls are busy" means API calls.
    fn take_failure(&mut self, path: &str) -> Option<FailureKind> {
        let is_token = path == paths::TOKEN || path == paths::STABLE_TOKEN;
        let position = self.failures.iter().position(|f| match &f.path {
            Some(p) => p == path,
            None => !is_token,
        })?;
        let failure = &mut self.failures[position];
        failure.remaining -= 1;
        let kind = failure.kind;
        if failure.remaining == 0 {
            self.failures.remove(position);
        }
        Some(kind)
    }

    /// Makes every token of the account expired (42001) or invalid (40001).
    pub(crate) fn spoil_tokens(&mut self, appid: &str, revoke: bool) {
        let now = self.now();
        for token in self.tokens.values_mut().filter(|t| t.appid == appid) {
            if revoke {
                token.revoked = true;
            } else {
                token.expires_at = token.expires_at.min(now);
            }
        }
    }

    pub(crate) fn valid_token(&self, appid: &str) -> Option<String> {
        let now = self.now();
        let account = self.account(appid);
        [&account.stable_token, &account.legacy_token]
            .into_iter()
            .flatten()
            .find(|t| {
                self.tokens
                    .get(*t)
                    .is_some_and(|r| !r.revoked && r.expires_at > now)
            })
            .cloned()
    }

    fn error_body(&mut self, fail: Fail) -> Value {
        let rid = self.next_rid;
        self.next_rid += 1;
        let mut body = Map::new();
        body.insert("errcode".into(), json!(fail.code));
        body.insert(
            "errmsg".into(),
            json!(format!("{} rid: sim-{rid:08x}", errmsg(fail.code))),
        );
        body.extend(fail.extra);
        Value::Object(body)
    }

    /// Answers one request and logs it.
    pub(crate) fn handle(&mut self, req: &Request<'_>) -> Outcome {
        let mut appid = None;
        let outcome = self.answer(req, &mut appid);
        let answered = match &outcome {
            Outcome::Late(_, inner) => inner.as_ref(),
            other => other,
        };
        let (errcode, status) = match answered {
            Outcome::Json(v) => (
                Some(v.get("errcode").and_then(Value::as_i64).unwrap_or(0)),
                200,
            ),
            Outcome::Status(s, _) => (None, *s),
            Outcome::Pay(answer) => (None, answer.status),
            Outcome::Late(..) => (None, 200),
        };
        self.calls.push(CallRecord {
            method: if req.post { "POST" } else { "GET" }.into(),
            path: req.path.to_owned(),
            appid,
            errcode,
            status,
        });
        outcome
    }

    fn answer(&mut self, req: &Request<'_>, appid_out: &mut Option<String>) -> Outcome {
        // WeChat Pay's paths: no access_token, no errcodes, no injected failures.
        if let Some(outcome) = self.pay_route(req) {
            return outcome;
        }
        let Some(needs_post) = method_of(req.path) else {
            return Outcome::Status(404, "not found");
        };
        let mut late = None;
        if let Some(kind) = self.take_failure(req.path) {
            match kind {
                FailureKind::Errcode(code) => return Outcome::Json(self.error_body(fail(code))),
                FailureKind::HttpStatus(status) => {
                    return Outcome::Status(status, "simulated failure")
                }
                FailureKind::AnswerLate(pause) => late = Some(pause),
            }
        }
        let result = self.route(req, needs_post, appid_out);
        let outcome = match result {
            Ok(v) => Outcome::Json(v),
            Err(f) => Outcome::Json(self.error_body(f)),
        };
        match late {
            Some(pause) => Outcome::Late(pause, Box::new(outcome)),
            None => outcome,
        }
    }

    fn route(
        &mut self,
        req: &Request<'_>,
        needs_post: bool,
        appid_out: &mut Option<String>,
    ) -> Answer {
        if needs_post && !req.post {
            return Err(fail(codes::REQUIRE_POST));
        }
        let now = self.now();
        if req.path == paths::TOKEN {
            return self.legacy_token(&req.query, now, appid_out);
        }
        if req.path == paths::STABLE_TOKEN {
            let body = parse_body(req.body)?;
            return self.stable_token(&body, now, appid_out);
        }
        // The token first, then the quota, then the body.
        let appid = self.authenticate(&req.query, now)?;
        *appid_out = Some(appid.clone());
        self.account_mut(&appid).charge(req.path, now)?;
        let body = if needs_post {
            parse_body(req.body)?
        } else {
            Value::Null
        };
        let q = |k: &str| req.query.get(k).map(String::as_str);
        match req.path {
            paths::USER_GET => self
                .account(&appid)
                .user_get(q("next_openid"), self.config.page_size),
            paths::USER_INFO => self.account(&appid).user_info(q("openid")),
            paths::USER_INFO_BATCHGET => self.account(&appid).batchget(&body),
            paths::TAGS_CREATE => {
                let max = self.config.max_tags;
                self.account_mut(&appid).tags_create(&body, max)
            }
            paths::TAGS_GET => Ok(self.account(&appid).tags_get()),
            paths::TAGS_UPDATE => self.account_mut(&appid).tags_update(&body),
            paths::TAGS_DELETE => {
                let limit = self.config.tag_delete_fan_limit;
                self.account_mut(&appid).tags_delete(&body, limit)
            }
            paths::USER_TAG_GET => self
                .account(&appid)
                .tag_members(&body, self.config.page_size),
            paths::BATCH_TAGGING | paths::BATCH_UNTAGGING => {
                let tagging = req.path == paths::BATCH_TAGGING;
                self.check_openids_of(&appid, &body)?;
                let max = self.config.max_tags_per_user;
                self.account_mut(&appid).batch_tagging(&body, tagging, max)
            }
            paths::TAGS_GETIDLIST => self.account(&appid).getidlist(&body),
            paths::CUSTOM_SEND => self.account_mut(&appid).custom_send(body, now),
            paths::MASS_SENDALL | paths::MASS_SEND => {
                let retry = self.config.clientmsgid_retry_secs;
                let msg_id = self.next_msg_id;
                let account = self.account_mut(&appid);
                let answer = if req.path == paths::MASS_SEND {
                    account.mass_send(body, now, retry, msg_id)
                } else {
                    account.mass_sendall(body, now, retry, msg_id)
                };
                if answer.is_ok() {
                    self.next_msg_id += 1;
                    self.queue_job_finish(&appid, msg_id);
                }
                answer
            }
            paths::MASS_PREVIEW => {
                let msg_id = self.next_msg_id;
                let answer = self.account_mut(&appid).mass_preview(body, now, msg_id);
                if answer.is_ok() {
                    self.next_msg_id += 1;
                }
                answer
            }
            paths::MASS_GET => self.account(&appid).mass_get(&body),
            paths::MENU_CREATE => self.account_mut(&appid).menu_create(&body),
            paths::MENU_GET => self.account(&appid).menu_get(),
            paths::MENU_DELETE => {
                self.account_mut(&appid).menu = None;
                Ok(ok())
            }
            paths::QRCODE_CREATE => {
                let limit = self.config.permanent_qr_limit;
                self.account_mut(&appid).qrcode_create(&body, now, limit)
            }
            _ => unreachable!("method_of knows every path"),
        }
    }

    // --- tokens ------------------------------------------------------------------

    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<String, Fail> {
        if grant_type != Some("client_credential") {
            return Err(fail(codes::INVALID_GRANT_TYPE));
        }
        let appid = appid
            .filter(|a| !a.is_empty())
            .ok_or(fail(codes::APPID_MISSING))?;
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or(fail(codes::SECRET_MISSING))?;
        let account = self.accounts.get(appid).ok_or(fail(codes::INVALID_APPID))?;
        if account.secret != secret {
            return Err(fail(codes::INVALID_APPSECRET));
        }
        Ok(appid.to_owned())
    }

    fn issue_token(&mut self, appid: &str, now: i64) -> String {
        let index = self.account(appid).index;
        let seq = self.next_token;
        self.next_token += 1;
        // Long and opaque like WeChat's, from [A-Za-z0-9_-] only.
        let token = format!(
            "SIM{index:02}_{seq:06}_{:016x}_{:016x}",
            mix(seq ^ 0x5157_4543_4841_5400),
            mix(seq.wrapping_add(now as u64))
        );
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                appid: appid.to_owned(),
                expires_at: now + self.config.token_ttl_secs,
                revoked: false,
                superseded: false,
            },
        );
        token
    }

    fn legacy_token(
        &mut self,
        query: &HashMap<String, String>,
        now: i64,
        appid_out: &mut Option<String>,
    ) -> Answer {
        let q = |k: &str| query.get(k).map(String::as_str);
        let appid = self.check_credentials(q("grant_type"), q("appid"), q("secret"))?;
        *appid_out = Some(appid.clone());
        self.account_mut(&appid).charge(paths::TOKEN, now)?;
        // Each fetch supersedes the previous token, which lingers for 5 minutes.
        if let Some(old) = self.account(&appid).legacy_token.clone() {
            if let Some(record) = self.tokens.get_mut(&old) {
                record.expires_at = record.expires_at.min(now + 300);
                record.superseded = true;
            }
        }
        let token = self.issue_token(&appid, now);
        self.account_mut(&appid).legacy_token = Some(token.clone());
        Ok(json!({ "access_token": token, "expires_in": self.config.token_ttl_secs }))
    }

    fn stable_token(&mut self, body: &Value, now: i64, appid_out: &mut Option<String>) -> Answer {
        let s = |k: &str| body.get(k).and_then(Value::as_str);
        let appid = self.check_credentials(s("grant_type"), s("appid"), s("secret"))?;
        *appid_out = Some(appid.clone());
        self.account_mut(&appid).charge(paths::STABLE_TOKEN, now)?;
        let force = body
            .get("force_refresh")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let current = self.account(&appid).stable_token.clone();
        if force {
            let account = self.account_mut(&appid);
            if account.last_force_refresh.is_some_and(|t| now - t < 30) {
                return Err(fail(codes::API_MINUTE_QUOTA));
            }
            let day = beijing_day(now);
            if account.force_refreshes.0 != day {
                account.force_refreshes = (day, 0);
            }
            if account.force_refreshes.1 >= 20 {
                return Err(fail(codes::API_DAILY_QUOTA));
            }
            account.force_refreshes.1 += 1;
            account.last_force_refresh = Some(now);
            if let Some(old) = current.and_then(|t| self.tokens.get_mut(&t)) {
                old.revoked = true;
            }
        } else if let Some(token) = current {
            if let Some(record) = self.tokens.get(&token) {
                // The same token while it has more than 5 minutes left; in the last
                // 5 minutes a new one, the old staying valid until it expires.
                if !record.revoked && record.expires_at - now > 300 {
                    return Ok(
                        json!({ "access_token": token, "expires_in": record.expires_at - now }),
                    );
                }
            }
        }
        let token = self.issue_token(&appid, now);
        self.account_mut(&appid).stable_token = Some(token.clone());
        Ok(json!({ "access_token": token, "expires_in": self.config.token_ttl_secs }))
    }

    fn authenticate(&self, query: &HashMap<String, String>, now: i64) -> Result<String, Fail> {
        let token = query
            .get("access_token")
            .filter(|t| !t.is_empty())
            .ok_or(fail(codes::ACCESS_TOKEN_MISSING))?;
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(fail(codes::INVALID_ACCESS_TOKEN));
        }
        let record = self
            .tokens
            .get(token)
            .ok_or(fail(codes::INVALID_CREDENTIAL))?;
        if record.revoked {
            return Err(fail(codes::INVALID_CREDENTIAL));
        }
        if record.expires_at <= now {
            return Err(fail(if record.superseded {
                codes::INVALID_CREDENTIAL
            } else {
                codes::ACCESS_TOKEN_EXPIRED
            }));
        }
        Ok(record.appid.clone())
    }

    /// 40032 on list size, then 49003 for openids of another account (checked here,
    /// where all accounts are visible) and 40003 for unknown ones.
    fn check_openids_of(&self, appid: &str, body: &Value) -> Result<(), Fail> {
        let list = body
            .get("openid_list")
            .and_then(Value::as_array)
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        if list.is_empty() || list.len() > 50 {
            return Err(fail(codes::INVALID_OPENID_LIST_SIZE));
        }
        let account = self.account(appid);
        for openid in list {
            let openid = openid.as_str().ok_or(fail(codes::DATA_FORMAT_ERROR))?;
            if !account.by_openid.contains_key(openid) {
                let elsewhere = self
                    .accounts
                    .iter()
                    .any(|(other, a)| other != appid && a.by_openid.contains_key(openid));
                return Err(fail(if elsewhere {
                    codes::OPENID_NOT_OF_APPID
                } else {
                    codes::INVALID_OPENID
                }));
            }
        }
        Ok(())
    }
}

/// Which paths exist and whether they need POST.
fn method_of(path: &str) -> Option<bool> {
    Some(match path {
        paths::TOKEN
        | paths::USER_GET
        | paths::USER_INFO
        | paths::TAGS_GET
        | paths::MENU_GET
        | paths::MENU_DELETE => false,
        paths::STABLE_TOKEN
        | paths::USER_INFO_BATCHGET
        | paths::TAGS_CREATE
        | paths::TAGS_UPDATE
        | paths::TAGS_DELETE
        | paths::USER_TAG_GET
        | paths::BATCH_TAGGING
        | paths::BATCH_UNTAGGING
        | paths::TAGS_GETIDLIST
        | paths::CUSTOM_SEND
        | paths::MASS_SENDALL
        | paths::MASS_SEND
        | paths::MASS_PREVIEW
        | paths::MASS_GET
        | paths::MENU_CREATE
        | paths::QRCODE_CREATE => true,
        _ => return None,
    })
}

fn parse_body(body: &[u8]) -> Result<Value, Fail> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(codes::EMPTY_POST_DATA));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(fail(codes::DATA_FORMAT_ERROR)),
    }
}

/// The path whose quota a call counts against: `mass/send` shares `mass/sendall`'s.
fn quota_path(path: &str) -> &str {
    match path {
        paths::MASS_SEND => paths::MASS_SENDALL,
        other => other,
    }
}

fn ok() -> Value {
    json!({ "errcode": 0, "errmsg": "ok" })
}

/// A cheap integer hash (splitmix64) to make tokens and tickets look opaque.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn tag_id_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|id| u32::try_from(id).ok())
}

impl AccountState {
    // --- seeding and inspection ----------------------------------------------------

    pub(crate) fn next_openid(&mut self) -> (String, String) {
        self.seq += 1;
        (
            format!("oSim{:02}{:022}", self.index, self.seq),
            format!("uSim{:02}{:022}", self.index, self.seq),
        )
    }

    pub(crate) fn insert_follower(&mut self, follower: Follower) -> Result<(), String> {
        if self.by_openid.contains_key(&follower.openid) {
            return Err(format!("openid {} is already known", follower.openid));
        }
        self.by_openid
            .insert(follower.openid.clone(), self.followers.len());
        self.followers.push(follower);
        Ok(())
    }

    pub(crate) fn follower(&self, openid: &str) -> Option<&Follower> {
        self.by_openid.get(openid).map(|&i| &self.followers[i])
    }

    pub(crate) fn follower_mut(&mut self, openid: &str) -> Option<&mut Follower> {
        self.by_openid.get(openid).map(|&i| &mut self.followers[i])
    }

    pub(crate) fn followers(&self) -> &[Follower] {
        &self.followers
    }

    pub(crate) fn record_interaction(&mut self, openid: &str, kind: Interaction, now: i64) {
        let (secs, remaining) = kind.window();
        self.windows
            .entry(openid.to_owned())
            .or_default()
            .push(Window {
                until: now + secs,
                remaining,
            });
    }

    pub(crate) fn sim_tags(&self) -> Vec<SimTag> {
        self.tags
            .iter()
            .map(|(&id, tag)| SimTag {
                id,
                name: tag.name.clone(),
                count: self.tag_count(id),
            })
            .collect()
    }

    pub(crate) fn sent(&self) -> &[SentMessage] {
        &self.sent
    }

    pub(crate) fn mass(&self) -> &[MassSend] {
        &self.mass
    }

    pub(crate) fn mass_mut(&mut self) -> &mut [MassSend] {
        &mut self.mass
    }

    pub(crate) fn previews(&self) -> &[MassPreview] {
        &self.previews
    }

    pub(crate) fn deliveries(&self) -> &[PushDelivery] {
        &self.deliveries
    }

    pub(crate) fn menu(&self) -> Option<&Value> {
        self.menu.as_ref()
    }

    pub(crate) fn qrcodes(&self) -> &[QrCodeRecord] {
        &self.qrcodes
    }

    pub(crate) fn set_quota(&mut self, path: &str, quota: Quota) {
        self.quotas.insert(quota_path(path).to_owned(), quota);
    }

    pub(crate) fn used_today(&self, path: &str, now: i64) -> u64 {
        self.counters
            .get(quota_path(path))
            .filter(|c| c.day == beijing_day(now))
            .map_or(0, |c| c.day_used)
    }

    pub(crate) fn reset_quotas(&mut self) {
        self.counters.clear();
    }

    fn charge(&mut self, path: &str, now: i64) -> Result<(), Fail> {
        let path = quota_path(path);
        let quota = self.quotas.get(path).copied().unwrap_or_default();
        let counter = self.counters.entry(path.to_owned()).or_default();
        let (day, minute) = (beijing_day(now), now.div_euclid(60));
        if counter.day != day {
            counter.day = day;
            counter.day_used = 0;
        }
        if counter.minute != minute {
            counter.minute = minute;
            counter.minute_used = 0;
        }
        if quota.daily.is_some_and(|max| counter.day_used >= max) {
            return Err(fail(codes::API_DAILY_QUOTA));
        }
        if quota
            .per_minute
            .is_some_and(|max| counter.minute_used >= max)
        {
            return Err(fail(codes::API_MINUTE_QUOTA));
        }
        counter.day_used += 1;
        counter.minute_used += 1;
        Ok(())
    }

    // --- users -------------------------------------------------------------------

    /// Follows the list from after `from`: subscribed followers only, `data` left out
    /// on an empty page, `next_openid` the page's last openid (empty on an empty page).
    fn page_after(
        &self,
        from: Option<&str>,
        page_size: usize,
        keep: impl Fn(&Follower) -> bool,
    ) -> Result<(Vec<&str>, String), Fail> {
        let start = match from.filter(|o| !o.is_empty()) {
            None => 0,
            Some(openid) => self
                .by_openid
                .get(openid)
                .map(|i| i + 1)
                .ok_or(fail(codes::INVALID_OPENID))?,
        };
        let page: Vec<&str> = self.followers[start..]
            .iter()
            .filter(|f| f.subscribed && keep(f))
            .take(page_size)
            .map(|f| f.openid.as_str())
            .collect();
        let next = page.last().map(|s| (*s).to_owned()).unwrap_or_default();
        Ok((page, next))
    }

    fn user_get(&self, next_openid: Option<&str>, page_size: usize) -> Answer {
        let (page, next) = self.page_after(next_openid, page_size, |_| true)?;
        let total = self.followers.iter().filter(|f| f.subscribed).count();
        let mut answer = json!({ "total": total, "count": page.len(), "next_openid": next });
        if !page.is_empty() {
            answer["data"] = json!({ "openid": page });
        }
        Ok(answer)
    }

    fn info_json(follower: &Follower) -> Value {
        if !follower.subscribed {
            let mut v = json!({ "subscribe": 0, "openid": follower.openid });
            if let Some(unionid) = &follower.unionid {
                v["unionid"] = json!(unionid);
            }
            return v;
        }
        let mut v = json!({
            "subscribe": 1,
            "openid": follower.openid,
            "language": follower.language,
            "subscribe_time": follower.subscribe_time,
            "remark": follower.remark,
            "groupid": 0,
            "tagid_list": follower.tags,
            "subscribe_scene": follower.subscribe_scene,
            "qr_scene": follower.qr_scene,
            "qr_scene_str": follower.qr_scene_str,
        });
        if let Some(unionid) = &follower.unionid {
            v["unionid"] = json!(unionid);
        }
        v
    }

    fn user_info(&self, openid: Option<&str>) -> Answer {
        let openid = openid
            .filter(|o| !o.is_empty())
            .ok_or(fail(codes::OPENID_MISSING))?;
        let follower = self.follower(openid).ok_or(fail(codes::INVALID_OPENID))?;
        Ok(Self::info_json(follower))
    }

    fn batchget(&self, body: &Value) -> Answer {
        let list = body
            .get("user_list")
            .and_then(Value::as_array)
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        if list.is_empty() || list.len() > 100 {
            return Err(fail(codes::INVALID_OPENID_LIST_SIZE));
        }
        let mut infos = Vec::with_capacity(list.len());
        for entry in list {
            let openid = str_field(entry, "openid").ok_or(fail(codes::DATA_FORMAT_ERROR))?;
            let follower = self.follower(openid).ok_or(fail(codes::INVALID_OPENID))?;
            infos.push(Self::info_json(follower));
        }
        Ok(json!({ "user_info_list": infos }))
    }

    // --- tags --------------------------------------------------------------------

    fn tag_count(&self, id: u32) -> usize {
        self.followers
            .iter()
            .filter(|f| f.tags.contains(&id))
            .count()
    }

    fn check_tag_name(&self, name: &str, except: Option<u32>) -> Result<(), Fail> {
        if name.trim().is_empty() {
            return Err(fail(codes::INVALID_TAG_NAME));
        }
        if name.len() > 30 {
            return Err(fail(codes::TAG_NAME_TOO_LONG));
        }
        if self
            .tags
            .iter()
            .any(|(&id, tag)| Some(id) != except && tag.name == name)
        {
            return Err(fail(codes::INVALID_TAG_NAME));
        }
        Ok(())
    }

    fn tags_create(&mut self, body: &Value, max_tags: usize) -> Answer {
        let name = body
            .get("tag")
            .and_then(|t| str_field(t, "name"))
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        self.check_tag_name(name, None)?;
        let created = self.tags.keys().filter(|&&id| id >= FIRST_TAG_ID).count();
        if created >= max_tags {
            return Err(fail(codes::TOO_MANY_TAGS));
        }
        let id = self.next_tag_id;
        self.next_tag_id += 1;
        self.tags.insert(
            id,
            Tag {
                name: name.to_owned(),
            },
        );
        Ok(json!({ "tag": { "id": id, "name": name } }))
    }

    fn tags_get(&self) -> Value {
        let tags: Vec<Value> = self
            .sim_tags()
            .into_iter()
            .map(|t| json!({ "id": t.id, "name": t.name, "count": t.count }))
            .collect();
        json!({ "tags": tags })
    }

    fn existing_tag(&self, tag: &Value) -> Result<u32, Fail> {
        let id = tag
            .get("id")
            .and_then(tag_id_of)
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        if RESERVED_TAGS.contains(&id) {
            return Err(fail(codes::RESERVED_TAG));
        }
        if !self.tags.contains_key(&id) {
            return Err(fail(codes::INVALID_TAG_ID));
        }
        Ok(id)
    }

    fn tags_update(&mut self, body: &Value) -> Answer {
        let tag = body.get("tag").ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        let id = self.existing_tag(tag)?;
        let name = str_field(tag, "name").ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        self.check_tag_name(name, Some(id))?;
        self.tags.get_mut(&id).expect("checked").name = name.to_owned();
        Ok(ok())
    }

    fn tags_delete(&mut self, body: &Value, fan_limit: usize) -> Answer {
        let tag = body.get("tag").ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        let id = self.existing_tag(tag)?;
        if self.tag_count(id) > fan_limit {
            return Err(fail(codes::TAG_HAS_TOO_MANY_FANS));
        }
        self.tags.remove(&id);
        for follower in &mut self.followers {
            follower.tags.retain(|&t| t != id);
        }
        Ok(ok())
    }

    /// A tag that followers may be put in or listed by: any existing tag, 2 included.
    fn usable_tag(&self, v: Option<&Value>) -> Result<u32, Fail> {
        let id = v
            .and_then(tag_id_of)
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        if !self.tags.contains_key(&id) {
            return Err(fail(codes::INVALID_TAG_ID));
        }
        Ok(id)
    }

    fn tag_members(&self, body: &Value, page_size: usize) -> Answer {
        let id = self.usable_tag(body.get("tagid"))?;
        let (page, next) = self.page_after(str_field(body, "next_openid"), page_size, |f| {
            f.tags.contains(&id)
        })?;
        let mut answer = json!({ "count": page.len(), "next_openid": next });
        if !page.is_empty() {
            answer["data"] = json!({ "openid": page });
        }
        Ok(answer)
    }

    /// Openids are checked by the caller; all or nothing.
    fn batch_tagging(&mut self, body: &Value, tagging: bool, max_per_user: usize) -> Answer {
        let id = self.usable_tag(body.get("tagid"))?;
        let openids: Vec<String> = body["openid_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        if tagging {
            let unique: HashSet<&String> = openids.iter().collect();
            for openid in &unique {
                let f = self.follower(openid).expect("checked");
                if !f.tags.contains(&id) && f.tags.len() >= max_per_user {
                    return Err(fail(codes::USER_HAS_TOO_MANY_TAGS));
                }
            }
        }
        for openid in &openids {
            let f = self.follower_mut(openid).expect("checked");
            if tagging {
                if !f.tags.contains(&id) {
                    f.tags.push(id);
                }
            } else {
                f.tags.retain(|&t| t != id);
            }
        }
        Ok(ok())
    }

    fn getidlist(&self, body: &Value) -> Answer {
        let openid = str_field(body, "openid")
            .filter(|o| !o.is_empty())
            .ok_or(fail(codes::OPENID_MISSING))?;
        let follower = self.follower(openid).ok_or(fail(codes::INVALID_OPENID))?;
        Ok(json!({ "tagid_list": follower.tags }))
    }

    // --- customer-service messages -------------------------------------------------

    fn custom_send(&mut self, body: Value, now: i64) -> Answer {
        let touser = str_field(&body, "touser")
            .filter(|t| !t.is_empty())
            .ok_or(fail(codes::INVALID_OPENID))?
            .to_owned();
        let msgtype = str_field(&body, "msgtype")
            .ok_or(fail(codes::INVALID_MESSAGE_TYPE))?
            .to_owned();
        match msgtype.as_str() {
            "text" => {
                body.get("text")
                    .and_then(|t| str_field(t, "content"))
                    .filter(|c| !c.is_empty())
                    .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
            }
            "news" => {
                let articles = body
                    .get("news")
                    .and_then(|n| n.get("articles"))
                    .and_then(Value::as_array)
                    .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
                if articles.is_empty() {
                    return Err(fail(codes::DATA_FORMAT_ERROR));
                }
                if articles.len() > 1 {
                    return Err(fail(codes::ARTICLE_SIZE_OUT_OF_LIMIT));
                }
            }
            "image" | "voice" | "mpnews" => {
                body.get(&msgtype)
                    .and_then(|m| str_field(m, "media_id"))
                    .filter(|m| !m.is_empty())
                    .ok_or(fail(codes::INVALID_MEDIA_ID))?;
            }
            "video" | "music" | "mpnewsarticle" | "msgmenu" | "wxcard" | "miniprogrampage" => {
                body.get(&msgtype).ok_or(fail(codes::DATA_FORMAT_ERROR))?;
            }
            _ => return Err(fail(codes::INVALID_MESSAGE_TYPE)),
        }
        let follower = self.follower(&touser).ok_or(fail(codes::INVALID_OPENID))?;
        if !follower.subscribed {
            return Err(fail(codes::RESPONSE_OUT_OF_TIME));
        }
        let windows = self.windows.entry(touser.clone()).or_default();
        windows.retain(|w| w.until > now);
        if windows.is_empty() {
            return Err(fail(codes::RESPONSE_OUT_OF_TIME));
        }
        // Unlimited windows first, then the one closing soonest.
        let slot = windows
            .iter_mut()
            .filter(|w| w.remaining != Some(0))
            .min_by_key(|w| (w.remaining.is_some(), w.until))
            .ok_or(fail(codes::RESPONSE_COUNT_EXCEEDED))?;
        if let Some(n) = slot.remaining.as_mut() {
            *n -= 1;
        }
        self.sent.push(SentMessage {
            touser,
            msgtype,
            body,
            at: now,
        });
        Ok(ok())
    }

    // --- mass send ---------------------------------------------------------------

    fn mass_sendall(&mut self, body: Value, now: i64, retry_secs: i64, msg_id: u64) -> Answer {
        let filter = body.get("filter").ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        let to_all = filter
            .get("is_to_all")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let tag_id = if to_all {
            None
        } else {
            Some(self.usable_tag(filter.get("tag_id"))?)
        };
        let msgtype = mass_msgtype(&body)?;
        let clientmsgid = self.check_clientmsgid(&body, now, retry_secs)?;
        let recipients = self
            .followers
            .iter()
            .filter(|f| f.subscribed && tag_id.is_none_or(|t| f.tags.contains(&t)))
            .count();
        let send = MassSend {
            msg_id,
            msg_data_id: None,
            to_all,
            tag_id,
            openids: None,
            msgtype,
            clientmsgid,
            recipients,
            status: String::new(),
            job: self.job_result(recipients, recipients),
            body,
        };
        Ok(self.accept_mass(send, now))
    }

    /// `mass/send`: 2 to 10 000 openids, each known to the account; those who no
    /// longer follow are filtered out (the job's `FilterCount`), repeats ignored.
    fn mass_send(&mut self, body: Value, now: i64, retry_secs: i64, msg_id: u64) -> Answer {
        let list = body
            .get("touser")
            .and_then(Value::as_array)
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        if list.len() < 2 || list.len() > 10_000 {
            return Err(fail(codes::INVALID_OPENID_SIZE));
        }
        let mut seen = HashSet::new();
        let mut listed = Vec::new();
        for openid in list {
            let openid = openid.as_str().ok_or(fail(codes::INVALID_OPENID))?;
            if self.follower(openid).is_none() {
                return Err(fail(codes::INVALID_OPENID));
            }
            if seen.insert(openid) {
                listed.push(openid.to_owned());
            }
        }
        let msgtype = mass_msgtype(&body)?;
        let clientmsgid = self.check_clientmsgid(&body, now, retry_secs)?;
        let total = listed.len();
        listed.retain(|o| self.follower(o).is_some_and(|f| f.subscribed));
        let send = MassSend {
            msg_id,
            msg_data_id: None,
            to_all: false,
            tag_id: None,
            msgtype,
            clientmsgid,
            recipients: listed.len(),
            status: String::new(),
            job: self.job_result(total, listed.len()),
            openids: Some(listed),
            body,
        };
        Ok(self.accept_mass(send, now))
    }

    /// A repeated `clientmsgid` answers 45066 within the retry spacing of the last
    /// attempt, else 45065 with the first send's `msg_id`; a fresh one is returned.
    fn check_clientmsgid(
        &mut self,
        body: &Value,
        now: i64,
        retry_secs: i64,
    ) -> Result<Option<String>, Fail> {
        let Some(id) = str_field(body, "clientmsgid") else {
            return Ok(None);
        };
        if id.len() > 64 {
            return Err(fail(codes::CLIENTMSGID_TOO_LONG));
        }
        if let Some((index, last)) = self.clientmsgids.get_mut(id) {
            let too_fast = now - *last < retry_secs;
            *last = now;
            if too_fast {
                return Err(fail(codes::CLIENTMSGID_RETRY_TOO_FAST));
            }
            let mut f = fail(codes::CLIENTMSGID_DUPLICATE);
            f.extra
                .insert("msg_id".into(), json!(self.mass[*index].msg_id));
            return Err(f);
        }
        Ok(Some(id.to_owned()))
    }

    /// The job's outcome: counts from the targets, errors and status from
    /// [`MassOutcome`] if a test set one (it applies once).
    fn job_result(&mut self, total: usize, following: usize) -> MassJobResult {
        let outcome = self.next_outcome.take().unwrap_or_default();
        let filter_count = following as u64;
        let error_count = outcome.error_count.min(filter_count);
        MassJobResult {
            status: outcome.status.unwrap_or_else(|| "send success".into()),
            total_count: total as u64,
            filter_count,
            sent_count: filter_count - error_count,
            error_count,
        }
    }

    /// Records an accepted send and answers it.
    fn accept_mass(&mut self, mut send: MassSend, now: i64) -> Value {
        if send.msgtype == "mpnews" {
            send.msg_data_id = Some(2_247_483_647 + send.msg_id);
        }
        send.status = if send.job.status == "send success" {
            "SEND_SUCCESS"
        } else {
            "SEND_FAIL"
        }
        .into();
        if let Some(id) = &send.clientmsgid {
            self.clientmsgids.insert(id.clone(), (self.mass.len(), now));
        }
        let mut answer =
            json!({ "errcode": 0, "errmsg": "send job submission success", "msg_id": send.msg_id });
        if let Some(data_id) = send.msg_data_id {
            answer["msg_data_id"] = json!(data_id);
        }
        self.mass.push(send);
        answer
    }

    /// `mass/preview` to one subscribed follower, by openid or WeChat ID.
    fn mass_preview(&mut self, body: Value, now: i64, msg_id: u64) -> Answer {
        let towxname = str_field(&body, "towxname")
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let openid = match &towxname {
            Some(name) => self
                .wxnames
                .get(name)
                .cloned()
                .ok_or(fail(codes::INVALID_WXNAME))?,
            None => str_field(&body, "touser")
                .filter(|t| !t.is_empty())
                .ok_or(fail(codes::INVALID_OPENID))?
                .to_owned(),
        };
        let msgtype = mass_msgtype(&body)?;
        let follower = self.follower(&openid).ok_or(fail(codes::INVALID_OPENID))?;
        if !follower.subscribed {
            return Err(fail(codes::REQUIRE_SUBSCRIBE));
        }
        self.previews.push(MassPreview {
            msg_id,
            openid,
            towxname,
            msgtype,
            body,
            at: now,
        });
        Ok(json!({ "errcode": 0, "errmsg": "preview success", "msg_id": msg_id }))
    }

    fn mass_get(&self, body: &Value) -> Answer {
        let msg_id = body
            .get("msg_id")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        let send = self
            .mass
            .iter()
            .find(|m| m.msg_id == msg_id)
            .ok_or(fail(codes::INVALID_MSG_ID))?;
        Ok(json!({ "msg_id": msg_id, "msg_status": send.status }))
    }

    // --- menu --------------------------------------------------------------------

    fn menu_create(&mut self, body: &Value) -> Answer {
        let buttons = body
            .get("button")
            .and_then(Value::as_array)
            .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        if buttons.is_empty() || buttons.len() > 3 {
            return Err(fail(codes::INVALID_BUTTON_SIZE));
        }
        let mut stored = Vec::with_capacity(buttons.len());
        for button in buttons {
            let subs = button.get("sub_button").and_then(Value::as_array);
            match subs {
                Some(subs) if !subs.is_empty() => {
                    let name = str_field(button, "name").unwrap_or_default();
                    if name.is_empty() || name.len() > 16 {
                        return Err(fail(codes::INVALID_BUTTON_NAME_SIZE));
                    }
                    if subs.len() > 5 {
                        return Err(fail(codes::INVALID_SUB_BUTTON_SIZE));
                    }
                    let mut stored_subs = Vec::with_capacity(subs.len());
                    for sub in subs {
                        if sub
                            .get("sub_button")
                            .and_then(Value::as_array)
                            .is_some_and(|s| !s.is_empty())
                        {
                            return Err(fail(codes::INVALID_SUB_MENU_LEVEL));
                        }
                        stored_subs.push(check_leaf(sub, true)?);
                    }
                    stored.push(json!({ "name": name, "sub_button": stored_subs }));
                }
                _ => stored.push(check_leaf(button, false)?),
            }
        }
        self.menu = Some(json!({ "button": stored }));
        Ok(ok())
    }

    fn menu_get(&self) -> Answer {
        let menu = self.menu.clone().ok_or(fail(codes::MENU_NOT_EXIST))?;
        Ok(json!({ "menu": menu }))
    }

    // --- QR codes ------------------------------------------------------------------

    fn qrcode_create(&mut self, body: &Value, now: i64, permanent_limit: usize) -> Answer {
        let action = str_field(body, "action_name").ok_or(fail(codes::INVALID_ACTION_NAME))?;
        let (permanent, by_str) = match action {
            "QR_SCENE" => (false, false),
            "QR_STR_SCENE" => (false, true),
            "QR_LIMIT_SCENE" => (true, false),
            "QR_LIMIT_STR_SCENE" => (true, true),
            _ => return Err(fail(codes::INVALID_ACTION_NAME)),
        };
        let scene = body
            .get("action_info")
            .and_then(|a| a.get("scene"))
            .ok_or(fail(codes::INVALID_ACTION_INFO))?;
        let scene = if by_str {
            let s = str_field(scene, "scene_str").ok_or(fail(codes::INVALID_ACTION_INFO))?;
            if s.is_empty() || s.len() > 64 {
                return Err(fail(codes::INVALID_ACTION_INFO));
            }
            QrScene::Str(s.to_owned())
        } else {
            let id = scene
                .get("scene_id")
                .and_then(Value::as_u64)
                .ok_or(fail(codes::INVALID_ACTION_INFO))?;
            let max = if permanent {
                100_000
            } else {
                u64::from(u32::MAX)
            };
            if id == 0 || id > max {
                return Err(fail(codes::INVALID_ACTION_INFO));
            }
            QrScene::Id(id)
        };
        if permanent {
            if let Some(&index) = self.permanent.get(&scene) {
                let code = &self.qrcodes[index];
                return Ok(json!({ "ticket": code.ticket, "url": code.url }));
            }
            if self.permanent.len() >= permanent_limit {
                return Err(fail(codes::TICKET_LIMIT));
            }
        }
        // Absent or 0 means WeChat's default of 60 s; more than 30 days is cut to 30.
        let expire = body
            .get("expire_seconds")
            .and_then(Value::as_i64)
            .filter(|&e| e > 0)
            .unwrap_or(60)
            .min(2_592_000);
        self.qr_seq += 1;
        let opaque = mix(self.qr_seq ^ ((self.index as u64) << 48));
        let ticket = format!("gQSim{:02}{:08}{opaque:016x}==", self.index, self.qr_seq);
        let url = format!("http://weixin.qq.com/q/Sim{:02}{opaque:016x}", self.index);
        self.qrcodes.push(QrCodeRecord {
            ticket: ticket.clone(),
            url: url.clone(),
            scene: scene.clone(),
            permanent,
            expires_at: (!permanent).then_some(now + expire),
        });
        if permanent {
            self.permanent.insert(scene, self.qrcodes.len() - 1);
            Ok(json!({ "ticket": ticket, "url": url }))
        } else {
            Ok(json!({ "ticket": ticket, "expire_seconds": expire, "url": url }))
        }
    }
}

/// The `msgtype` of a mass send or preview, its content checked: text needs
/// `content`, media types a `media_id`.
fn mass_msgtype(body: &Value) -> Result<String, Fail> {
    let msgtype = str_field(body, "msgtype").ok_or(fail(codes::INVALID_MESSAGE_TYPE))?;
    match msgtype {
        "text" => {
            body.get("text")
                .and_then(|t| str_field(t, "content"))
                .filter(|c| !c.is_empty())
                .ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        }
        "mpnews" | "image" | "voice" | "mpvideo" => {
            body.get(msgtype)
                .and_then(|m| str_field(m, "media_id"))
                .filter(|m| !m.is_empty())
                .ok_or(fail(codes::INVALID_MEDIA_ID))?;
        }
        "wxcard" => {
            body.get("wxcard").ok_or(fail(codes::DATA_FORMAT_ERROR))?;
        }
        _ => return Err(fail(codes::INVALID_MESSAGE_TYPE)),
    }
    Ok(msgtype.to_owned())
}

/// Checks an action button and returns it as `menu/get` shows it (with an empty
/// `sub_button`).
fn check_leaf(button: &Value, sub: bool) -> Answer {
    let pick = |top: i64, nested: i64| fail(if sub { nested } else { top });
    let name = str_field(button, "name").unwrap_or_default();
    let max_name = if sub { 60 } else { 16 };
    if name.is_empty() || name.len() > max_name {
        return Err(pick(
            codes::INVALID_BUTTON_NAME_SIZE,
            codes::INVALID_SUB_BUTTON_NAME_SIZE,
        ));
    }
    let kind = str_field(button, "type")
        .ok_or_else(|| pick(codes::INVALID_BUTTON_TYPE, codes::INVALID_SUB_BUTTON_TYPE))?;
    let sized = |key: &str, max: usize, code: Fail| -> Result<(), Fail> {
        match str_field(button, key) {
            Some(v) if !v.is_empty() && v.len() <= max => Ok(()),
            _ => Err(code),
        }
    };
    match kind {
        "click" | "scancode_push" | "scancode_waitmsg" | "pic_sysphoto" | "pic_photo_or_album"
        | "pic_weixin" | "location_select" => sized(
            "key",
            128,
            pick(
                codes::INVALID_BUTTON_KEY_SIZE,
                codes::INVALID_SUB_BUTTON_KEY_SIZE,
            ),
        )?,
        "view" => sized(
            "url",
            1024,
            pick(
                codes::INVALID_BUTTON_URL_SIZE,
                codes::INVALID_SUB_BUTTON_URL_SIZE,
            ),
        )?,
        "miniprogram" => {
            sized(
                "url",
                1024,
                pick(
                    codes::INVALID_BUTTON_URL_SIZE,
                    codes::INVALID_SUB_BUTTON_URL_SIZE,
                ),
            )?;
            sized("appid", 64, fail(codes::INVALID_ARGS))?;
            sized("pagepath", 1024, fail(codes::INVALID_ARGS))?;
        }
        "media_id" | "view_limited" => sized("media_id", 128, fail(codes::INVALID_MEDIA_ID))?,
        "article_id" | "article_view_limited" => {
            sized("article_id", 128, fail(codes::INVALID_ARGS))?
        }
        _ => {
            return Err(pick(
                codes::INVALID_BUTTON_TYPE,
                codes::INVALID_SUB_BUTTON_TYPE,
            ))
        }
    }
    let mut stored = button.clone();
    stored["sub_button"] = json!([]);
    Ok(stored)
}
