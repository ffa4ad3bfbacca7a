//! How values read on a page: local times in the tenant's time zone, what a coupon gives,
//! why it cannot be redeemed. Shared by the pages (and their templates' helpers).

use crate::i18n::Lang;
use chrono::NaiveDateTime;
use patron_domain::coupons::{self as rules, Refusal};
use patron_store::coupons::Campaign;

/// A UTC time as the tenant reads it (its IANA zone; Shanghai when unreadable).
pub fn local(t: &NaiveDateTime, tz: &str) -> String {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    t.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn local_opt(t: &Option<NaiveDateTime>, tz: &str) -> String {
    t.as_ref()
        .map(|t| local(t, tz))
        .unwrap_or_else(|| "—".into())
}

/// What a campaign's coupon gives, in words.
pub fn benefit_text(lang: Lang, c: &Campaign) -> String {
    use rules::Benefit::*;
    match c.benefit() {
        Some(AmountOff { fen }) => lang.t1("coupon.amount_off", rules::yuan(fen)),
        Some(PercentOff { percent, cap_fen }) if cap_fen > 0 => format!(
            "{} ({})",
            lang.t1("coupon.percent_off", percent),
            lang.t1("coupon.cap", rules::yuan(cap_fen))
        ),
        Some(PercentOff { percent, .. }) => lang.t1("coupon.percent_off", percent),
        Some(Gift { item }) => lang.t1("coupon.gift", item),
        Some(Exchange { item }) => lang.t1("coupon.exchange", item),
        None => String::new(),
    }
}

/// Why a coupon cannot be redeemed here and now, in words.
pub fn refusal_text(lang: Lang, r: &Refusal, tz: &str) -> String {
    match r {
        Refusal::NotYetValid { from } => lang.t1("till.not_yet_valid", local(from, tz)),
        Refusal::Expired { to } => lang.t1("till.expired", local(to, tz)),
        Refusal::WrongStore => lang.t("till.wrong_store").to_string(),
        Refusal::MinSpendNotMet { min_fen } => lang.t1("till.min_spend", rules::yuan(*min_fen)),
        Refusal::CampaignPaused => lang.t("till.paused").to_string(),
        Refusal::CampaignEnded => lang.t("till.ended").to_string(),
        Refusal::AlreadyRedeemed => lang.t("till.already").to_string(),
        Refusal::Voided => lang.t("till.voided").to_string(),
    }
}

/// How a coupon came to its holder (`channel`: `manual`, `api`, `import`, `bulk:<job>`,
/// `rule:<rule>`, `stamps:<card>`), in words.
pub fn channel_text(lang: Lang, channel: &str) -> String {
    let kind = channel.split(':').next().unwrap_or(channel);
    match kind {
        "manual" | "api" | "import" | "bulk" | "rule" | "stamps" => {
            lang.t(&format!("coupon.channel_{kind}")).to_string()
        }
        _ => channel.to_string(),
    }
}

/// A coupon event's action (`redeem`, `void`), in words.
pub fn action_text(lang: Lang, action: &str) -> String {
    match action {
        "redeem" | "void" => lang.t(&format!("coupon.action_{action}")).to_string(),
        other => other.to_string(),
    }
}

/// A short name for the device a till ran on, from its browser's User-Agent (`Chrome on
/// Android`, `WeChat on iPhone`); API calls name themselves (`api`).
pub fn device_name(user_agent: &str) -> String {
    let ua = user_agent;
    if ua.is_empty() {
        return String::new();
    }
    let os = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "Mac"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let browser = [
        ("MicroMessenger", "WeChat"),
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} · {o}"),
        (Some(b), None) => b.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => ua.chars().take(24).collect(),
    }
}

/// An archived message's type (`text`, `image`, `event`, …), in words.
pub fn message_type_text(lang: Lang, msg_type: &str) -> String {
    match msg_type {
        "text" | "image" | "voice" | "video" | "shortvideo" | "location" | "link" | "event" => {
            lang.t(&format!("timeline.type_{msg_type}")).to_string()
        }
        other => other.to_string(),
    }
}

/// A WeChat event (`subscribe`, `CLICK`, `SCAN`, …) and its key, in words: a QR scene
/// without WeChat's `qrscene_` prefix, a menu key as it is.
pub fn event_text(lang: Lang, event: &str, key: Option<&str>) -> String {
    let e = event.to_ascii_lowercase();
    let label = match e.as_str() {
        "subscribe"
        | "unsubscribe"
        | "click"
        | "view"
        | "scan"
        | "location"
        | "masssendjobfinish"
        | "templatesendjobfinish" => lang.t(&format!("timeline.event_{e}")).to_string(),
        _ => event.to_string(),
    };
    match key
        .map(|k| k.strip_prefix("qrscene_").unwrap_or(k))
        .filter(|k| !k.is_empty())
    {
        Some(k) => format!("{label}: {k}"),
        None => label,
    }
}

/// Why a call to WeChat failed, in words a merchant can act on: WeChat could not be
/// reached (nothing to fix here, try again), or WeChat refused and why (the account's
/// credentials, the server's IP not on the whitelist, a used-up quota), with WeChat's own
/// code and message for support.
pub fn wechat_failure(lang: Lang, e: &patron_wechat::api::Error) -> String {
    failure_words(lang, &e.failure())
}

/// [`wechat_failure`] from what was stored (a job's failure).
pub fn failure_words(lang: Lang, f: &patron_wechat::api::Failure) -> String {
    use patron_wechat::api::{codes, Failure};
    match f {
        Failure::Unreachable => lang.t("wechat.unreachable").to_string(),
        Failure::Unavailable { status } => lang.t1("wechat.unavailable", status),
        Failure::Refused { errcode, errmsg } => {
            let api = patron_wechat::api::ApiError {
                errcode: *errcode,
                errmsg: errmsg.clone(),
            };
            let key = match api.errcode {
                codes::IP_NOT_WHITELISTED => "wechat.ip_whitelist",
                codes::INVALID_APPID | codes::INVALID_APPSECRET => "wechat.bad_credentials",
                _ if api.is_token_error() => "wechat.bad_credentials",
                _ if api.is_quota() => "wechat.quota",
                codes::API_UNAUTHORIZED | codes::API_BANNED => "wechat.not_authorised",
                codes::RESPONSE_OUT_OF_TIME => "wechat.out_of_window",
                codes::RESPONSE_COUNT_EXCEEDED => "wechat.too_many_messages",
                codes::REQUIRE_SUBSCRIBE => "wechat.not_following",
                codes::INVALID_OPENID | codes::OPENID_NOT_OF_APPID => "wechat.unknown_follower",
                _ => "wechat.refused",
            };
            format!(
                "{} ({} {}: {})",
                lang.t(key),
                lang.t("wechat.code"),
                api.errcode,
                api.errmsg
            )
        }
        Failure::Invalid { why } => lang.t1("wechat.invalid", why),
        Failure::Unexpected => lang.t("wechat.unexpected").to_string(),
    }
}

/// Why a job's last attempt failed, in a merchant's words: the stored failure
/// (`jobs.failure`), or, for one only the log explains, that something went wrong on our
/// side. `None` when the last attempt did not fail.
pub fn job_failure(lang: Lang, job: &patron_store::jobs::Job) -> Option<String> {
    use patron_app::jobs::JobFailure;
    job.last_error.as_ref()?;
    Some(match job.failure.as_deref().and_then(JobFailure::read) {
        Some(JobFailure::NotConfigured) => lang.t("job.not_configured").to_string(),
        Some(JobFailure::Wechat { failure, .. }) => failure_words(lang, &failure),
        None => lang.t("job.internal").to_string(),
    })
}

/// `1234567` as `1,234,567` (grouping both languages read).
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wechat_failures_tell_unreachable_from_refused() {
        use patron_wechat::api::{ApiError, Error};
        let refused = Error::Api(ApiError {
            errcode: 40164,
            errmsg: "invalid ip 1.2.3.4, not in whitelist".into(),
        });
        let text = wechat_failure(Lang::En, &refused);
        assert!(
            text.contains("IP whitelist") && text.contains("40164"),
            "{text}"
        );
        let down = Error::Status {
            path: "/cgi-bin/qrcode/create".into(),
            status: 503,
        };
        assert!(wechat_failure(Lang::En, &down).contains("could not be reached"));
        assert!(!wechat_failure(Lang::ZhCn, &down).is_empty());
        let window = patron_wechat::api::Failure::Refused {
            errcode: 45015,
            errmsg: "response out of time limit".into(),
        };
        assert!(failure_words(Lang::En, &window).contains("48 hours"));
        assert!(failure_words(Lang::ZhCn, &window).contains("48"));
    }

    #[test]
    fn events_read_as_words_in_both_languages() {
        assert_eq!(
            event_text(Lang::En, "CLICK", Some("HOURS")),
            "Menu tap: HOURS"
        );
        assert_eq!(
            event_text(Lang::ZhCn, "subscribe", Some("qrscene_table-7")),
            "关注: table-7"
        );
        assert_eq!(event_text(Lang::En, "unsubscribe", None), "Unfollowed");
        assert_eq!(message_type_text(Lang::ZhCn, "text"), "文字");
    }

    #[test]
    fn devices_get_short_names() {
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";
        assert_eq!(device_name(android), "Chrome · Android");
        let wechat = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47";
        assert_eq!(device_name(wechat), "WeChat · iPhone");
        assert_eq!(device_name("api"), "api");
        assert_eq!(device_name(""), "");
    }

    #[test]
    fn channels_and_actions_read_as_words() {
        assert_eq!(channel_text(Lang::En, "bulk:5"), "bulk issue");
        assert_eq!(channel_text(Lang::ZhCn, "stamps:2"), "集章奖励");
        assert_eq!(action_text(Lang::ZhCn, "void"), "撤销");
    }
}
