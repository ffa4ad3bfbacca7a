//! The simulator's public data: configuration, seeded followers and what tests can
//! inspect afterwards.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

/// Paths the simulator serves.
pub mod paths {
    /// `GET /cgi-bin/token`.
    pub const TOKEN: &str = "/cgi-bin/token";
    /// `POST /cgi-bin/stable_token`.
    pub const STABLE_TOKEN: &str = "/cgi-bin/stable_token";
    /// `GET /cgi-bin/user/get`.
    pub const USER_GET: &str = "/cgi-bin/user/get";
    /// `GET /cgi-bin/user/info`.
    pub const USER_INFO: &str = "/cgi-bin/user/info";
    /// `POST /cgi-bin/user/info/batchget`.
    pub const USER_INFO_BATCHGET: &str = "/cgi-bin/user/info/batchget";
    /// `POST /cgi-bin/tags/create`.
    pub const TAGS_CREATE: &str = "/cgi-bin/tags/create";
    /// `GET /cgi-bin/tags/get`.
    pub const TAGS_GET: &str = "/cgi-bin/tags/get";
    /// `POST /cgi-bin/tags/update`.
    pub const TAGS_UPDATE: &str = "/cgi-bin/tags/update";
    /// `POST /cgi-bin/tags/delete`.
    pub const TAGS_DELETE: &str = "/cgi-bin/tags/delete";
    /// `POST /cgi-bin/user/tag/get`.
    pub const USER_TAG_GET: &str = "/cgi-bin/user/tag/get";
    /// `POST /cgi-bin/tags/members/batchtagging`.
    pub const BATCH_TAGGING: &str = "/cgi-bin/tags/members/batchtagging";
    /// `POST /cgi-bin/tags/members/batchuntagging`.
    pub const BATCH_UNTAGGING: &str = "/cgi-bin/tags/members/batchuntagging";
    /// `POST /cgi-bin/tags/getidlist`.
    pub const TAGS_GETIDLIST: &str = "/cgi-bin/tags/getidlist";
    /// `POST /cgi-bin/message/custom/send`.
    pub const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";
    /// `POST /cgi-bin/message/mass/sendall`.
    pub const MASS_SENDALL: &str = "/cgi-bin/message/mass/sendall";
    /// `POST /cgi-bin/message/mass/send` (by openid list).
    pub const MASS_SEND: &str = "/cgi-bin/message/mass/send";
    /// `POST /cgi-bin/message/mass/preview`.
    pub const MASS_PREVIEW: &str = "/cgi-bin/message/mass/preview";
    /// `POST /cgi-bin/message/mass/get`.
    pub const MASS_GET: &str = "/cgi-bin/message/mass/get";
    /// `POST /cgi-bin/menu/create`.
    pub const MENU_CREATE: &str = "/cgi-bin/menu/create";
    /// `GET /cgi-bin/menu/get`.
    pub const MENU_GET: &str = "/cgi-bin/menu/get";
    /// `GET /cgi-bin/menu/delete`.
    pub const MENU_DELETE: &str = "/cgi-bin/menu/delete";
    /// `POST /cgi-bin/qrcode/create`.
    pub const QRCODE_CREATE: &str = "/cgi-bin/qrcode/create";
    /// WeChat Pay: `GET /v3/bill/tradebill` (where a day's trade bill is).
    pub const TRADEBILL: &str = "/v3/bill/tradebill";
    /// WeChat Pay: `GET /v3/billdownload/file` (the bill itself, by token).
    pub const BILL_DOWNLOAD: &str = "/v3/billdownload/file";
}

/// A daily and a per-minute call limit for one path of one account. `None` is
/// unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// Calls per day (Beijing time); past it, 45009.
    pub daily: Option<u64>,
    /// Calls per clock minute; past it, 45011.
    pub per_minute: Option<u64>,
}

impl Quota {
    /// Only a daily limit.
    pub fn daily(limit: u64) -> Self {
        Quota {
            daily: Some(limit),
            per_minute: None,
        }
    }
}

/// The simulator's settings. `Default` is WeChat's real numbers; tests shrink the
/// ones they need to reach (page size, permanent QR cap…).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The default account's appid.
    pub appid: String,
    /// The default account's AppSecret.
    pub secret: String,
    /// Openids per page of `user/get` and `user/tag/get` (WeChat: 10 000).
    pub page_size: usize,
    /// Lifetime of an access_token in seconds (WeChat: 7200).
    pub token_ttl_secs: i64,
    /// How many permanent QR codes an account may create (WeChat: 100 000).
    pub permanent_qr_limit: usize,
    /// How many tags an account may create (WeChat: 100).
    pub max_tags: usize,
    /// How many tags one follower may carry (WeChat: 20).
    pub max_tags_per_user: usize,
    /// Above this many followers a tag cannot be deleted (WeChat: 100 000).
    pub tag_delete_fan_limit: usize,
    /// A repeat of a mass send's `clientmsgid` sooner than this many seconds after
    /// the last attempt answers 45066 instead of 45065 (WeChat: one minute).
    pub clientmsgid_retry_secs: i64,
    /// Call limits per path, copied into every account (defaults: fact sheet §5.7).
    /// `mass/send` has no entry of its own: it counts against `mass/sendall`'s.
    pub quotas: HashMap<String, Quota>,
    /// The default account's original id (`gh_…`), the `ToUserName` of its pushes.
    pub original_id: String,
    /// How long after an accepted mass send its `MASSSENDJOBFINISH` is pushed
    /// (default 2 s, for demos; tests set a few milliseconds).
    pub job_finish_delay: Duration,
    /// How long a push waits for the merchant's answer before it counts as failed
    /// (WeChat: 5 s).
    pub push_timeout: Duration,
    /// Deliveries of one push at most, the first included (WeChat: 3).
    pub push_attempts: u32,
    /// The pause before delivering a failed push again (default 1 s).
    pub push_retry_pause: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        let quotas = [
            (paths::TOKEN, Quota::daily(2_000)),
            (
                paths::STABLE_TOKEN,
                Quota {
                    daily: Some(500_000),
                    per_minute: Some(10_000),
                },
            ),
            (paths::MENU_CREATE, Quota::daily(1_000)),
            (paths::CUSTOM_SEND, Quota::daily(500_000)),
            (
                paths::MASS_SENDALL,
                Quota {
                    daily: Some(100),
                    per_minute: Some(60),
                },
            ),
            (paths::QRCODE_CREATE, Quota::daily(100_000)),
            (paths::USER_GET, Quota::daily(500)),
            (paths::USER_INFO, Quota::daily(5_000_000)),
            (paths::USER_INFO_BATCHGET, Quota::daily(5_000_000)),
        ]
        .into_iter()
        .map(|(path, quota)| (path.to_owned(), quota))
        .collect();
        SimConfig {
            appid: "wxsim0000000000001".into(),
            secret: "simsecret0000000000000000000001".into(),
            page_size: 10_000,
            token_ttl_secs: 7_200,
            permanent_qr_limit: 100_000,
            max_tags: 100,
            max_tags_per_user: 20,
            tag_delete_fan_limit: 100_000,
            clientmsgid_retry_secs: 60,
            quotas,
            original_id: "gh_sim000000001".into(),
            job_finish_delay: Duration::from_secs(2),
            push_timeout: Duration::from_secs(5),
            push_attempts: 3,
            push_retry_pause: Duration::from_secs(1),
        }
    }
}

/// A follower (or former follower) of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follower {
    /// The openid (28 characters for seeded followers).
    pub openid: String,
    /// The unionid, if the account is bound to an Open Platform account.
    pub unionid: Option<String>,
    /// Whether the user follows now; unfollowed users stay known (user/info answers
    /// `subscribe` 0) but leave the follower list.
    pub subscribed: bool,
    /// When the user followed, Unix seconds.
    pub subscribe_time: i64,
    /// The client language reported by user/info.
    pub language: String,
    /// The merchant's remark.
    pub remark: String,
    /// Tag ids carried, in the order given.
    pub tags: Vec<u32>,
    /// How the user came (`ADD_SCENE_SEARCH`, `ADD_SCENE_QR_CODE`…).
    pub subscribe_scene: String,
    /// Numeric QR scene followed through, 0 if none.
    pub qr_scene: u64,
    /// String QR scene followed through, empty if none.
    pub qr_scene_str: String,
}

impl Follower {
    /// A subscribed follower with this openid, no unionid and no tags, who followed
    /// at Unix time 0 through search (set the fields as needed).
    pub fn new(openid: impl Into<String>) -> Self {
        Follower {
            openid: openid.into(),
            unionid: None,
            subscribed: true,
            subscribe_time: 0,
            language: "zh_CN".into(),
            remark: String::new(),
            tags: Vec::new(),
            subscribe_scene: "ADD_SCENE_SEARCH".into(),
            qr_scene: 0,
            qr_scene_str: String::new(),
        }
    }
}

/// A user interaction that opens a customer-service window (fact sheet §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// The user sent a message: 5 messages within 48 hours.
    Message,
    /// Menu click, follow or QR scan: 3 messages within 1 minute.
    Event,
    /// A payment succeeded: unlimited messages within 48 hours.
    Payment,
}

impl Interaction {
    /// How long the window stays open, in seconds, and how many messages it allows
    /// (`None`: unlimited).
    pub fn window(self) -> (i64, Option<u32>) {
        match self {
            Interaction::Message => (48 * 3600, Some(5)),
            Interaction::Event => (60, Some(3)),
            Interaction::Payment => (48 * 3600, None),
        }
    }
}

/// A customer-service message the simulator accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The recipient.
    pub touser: String,
    /// The `msgtype`.
    pub msgtype: String,
    /// The whole request body.
    pub body: Value,
    /// Simulated Unix time of the send.
    pub at: i64,
}

/// A mass send the simulator accepted (`mass/sendall` or `mass/send`).
#[derive(Debug, Clone, PartialEq)]
pub struct MassSend {
    /// The job id answered.
    pub msg_id: u64,
    /// The article data id, for mpnews.
    pub msg_data_id: Option<u64>,
    /// `filter.is_to_all` (always `false` for a send by openid list).
    pub to_all: bool,
    /// `filter.tag_id` when not to all.
    pub tag_id: Option<u32>,
    /// A send by openid list (`mass/send`): the listed openids that followed at send
    /// time, in list order without repeats. `None` for `mass/sendall`.
    pub openids: Option<Vec<String>>,
    /// The `msgtype`.
    pub msgtype: String,
    /// The `clientmsgid`, if given.
    pub clientmsgid: Option<String>,
    /// How many subscribed followers matched the filter (or the list) at send time.
    pub recipients: usize,
    /// What `mass/get` answers (`SEND_SUCCESS` unless changed).
    pub status: String,
    /// What the job reports in its `MASSSENDJOBFINISH` push.
    pub job: MassJobResult,
    /// The whole request body.
    pub body: Value,
}

/// The outcome of a mass send job, as its `MASSSENDJOBFINISH` event reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassJobResult {
    /// `Status`: `send success` unless [`MassOutcome::status`] said otherwise.
    pub status: String,
    /// `TotalCount`: the targets (the filter's followers, or the distinct listed
    /// openids).
    pub total_count: u64,
    /// `FilterCount`: the targets still following.
    pub filter_count: u64,
    /// `SentCount`: `FilterCount` − `ErrorCount`.
    pub sent_count: u64,
    /// `ErrorCount`: 0 unless [`MassOutcome::error_count`] said otherwise.
    pub error_count: u64,
}

/// How the next accepted mass send of an account ends (see
/// `Account::set_next_mass_outcome`); `Default` is a clean success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MassOutcome {
    /// Recipients the send fails for (capped at `FilterCount`).
    pub error_count: u64,
    /// `Status` instead of `send success` (e.g. `send fail`, `err(30003)`); a status
    /// other than `send success` also makes `mass/get` answer `SEND_FAIL`.
    pub status: Option<String>,
}

/// A mass preview the simulator accepted (`mass/preview`).
#[derive(Debug, Clone, PartialEq)]
pub struct MassPreview {
    /// The `msg_id` answered.
    pub msg_id: u64,
    /// The recipient's openid (resolved from `towxname` when that was given).
    pub openid: String,
    /// `towxname`, if the preview was addressed by WeChat ID.
    pub towxname: Option<String>,
    /// The `msgtype`.
    pub msgtype: String,
    /// The whole request body.
    pub body: Value,
    /// Simulated Unix time of the preview.
    pub at: i64,
}

/// How pushes reach the merchant's server (fact sheet §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// 明文: the message XML as the body, `signature` in the query.
    Plaintext,
    /// 兼容: the plaintext elements and an `<Encrypt>` element in one body, with
    /// `encrypt_type=aes` and `msg_signature` in the query too.
    Compatible,
    /// 安全: `<xml><ToUserName/><Encrypt/></xml>`, `encrypt_type=aes`,
    /// `msg_signature`.
    Safe,
}

/// Where and how an account pushes messages and events: the server URL, Token,
/// EncodingAESKey and message mode of the OA console's server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The server URL (`http://…`; the simulator speaks plain HTTP only). The push's
    /// query is appended to any query it has.
    pub url: String,
    /// The Token both signatures are computed with.
    pub token: String,
    /// The 43-character EncodingAESKey; unused (may be empty) in plaintext mode.
    pub encoding_aes_key: String,
    /// The message mode.
    pub mode: PushMode,
}

impl Webhook {
    /// Plaintext mode.
    pub fn plaintext(url: impl Into<String>, token: impl Into<String>) -> Self {
        Webhook {
            url: url.into(),
            token: token.into(),
            encoding_aes_key: String::new(),
            mode: PushMode::Plaintext,
        }
    }

    /// Safe (encrypted) mode.
    pub fn safe(
        url: impl Into<String>,
        token: impl Into<String>,
        encoding_aes_key: impl Into<String>,
    ) -> Self {
        Webhook {
            url: url.into(),
            token: token.into(),
            encoding_aes_key: encoding_aes_key.into(),
            mode: PushMode::Safe,
        }
    }

    /// Compatible mode.
    pub fn compatible(
        url: impl Into<String>,
        token: impl Into<String>,
        encoding_aes_key: impl Into<String>,
    ) -> Self {
        Webhook {
            mode: PushMode::Compatible,
            ..Webhook::safe(url, token, encoding_aes_key)
        }
    }
}

/// One delivery attempt of a push to an account's [`Webhook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDelivery {
    /// The push (the same for every attempt at it), as the `Account::push_*` method
    /// returned it.
    pub push_id: u64,
    /// 1 for the first delivery, 2 and 3 for WeChat's retries.
    pub attempt: u32,
    /// The `MsgType` for messages (`text`), the `Event` for events (`subscribe`,
    /// `MASSSENDJOBFINISH`…).
    pub kind: String,
    /// The full URL posted to, query included.
    pub url: String,
    /// The body posted.
    pub body: String,
    /// The message XML before any encryption.
    pub plaintext: String,
    /// The HTTP status answered; `None` when no answer came (timeout, refused
    /// connection).
    pub status: Option<u16>,
    /// The body answered (lossy UTF-8), when an answer came.
    pub response: Option<String>,
    /// Why no answer came.
    pub error: Option<String>,
    /// Simulated Unix time of the attempt.
    pub at: i64,
}

impl PushDelivery {
    /// Whether the merchant took it (a whole 2xx answer): no retry follows.
    pub fn accepted(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A QR code scene.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QrScene {
    /// `scene_id`.
    Id(u64),
    /// `scene_str`.
    Str(String),
}

/// A QR code the simulator created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCodeRecord {
    /// The ticket answered.
    pub ticket: String,
    /// The URL answered.
    pub url: String,
    /// The scene.
    pub scene: QrScene,
    /// Permanent (`QR_LIMIT_*`) or temporary.
    pub permanent: bool,
    /// Simulated Unix time of expiry, for temporary codes.
    pub expires_at: Option<i64>,
}

/// A tag of an account, with how many followers carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTag {
    /// The id.
    pub id: u32,
    /// The name.
    pub name: String,
    /// Followers carrying it.
    pub count: usize,
}

/// One request the simulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, without query.
    pub path: String,
    /// The account, once known (from the token or the token request).
    pub appid: Option<String>,
    /// The `errcode` answered (0 for success); `None` for HTTP-level answers.
    pub errcode: Option<i64>,
    /// The HTTP status answered.
    pub status: u16,
}

/// What an injected failure answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// HTTP 200 with this `errcode` (e.g. −1 busy, 45009 quota).
    Errcode(i64),
    /// This HTTP status with a plain-text body.
    HttpStatus(u16),
    /// The call is carried out at once, as usual, but answered only after this long: a
    /// caller that gives up or dies meanwhile never hears that WeChat acted (the case a
    /// `clientmsgid` is for).
    AnswerLate(std::time::Duration),
}
