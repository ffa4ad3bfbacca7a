//! The shape of a tenant's WeChat Official Account connection, validated.

use crate::validate::{invalid, Invalid};
use serde::{Deserialize, Serialize};

pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

/// How WeChat delivers pushes to the webhook (see wechat-protocol.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MessageMode {
    Plain,
    Compatible,
    #[default]
    Safe,
}

impl MessageMode {
    pub const ALL: [MessageMode; 3] = [
        MessageMode::Plain,
        MessageMode::Compatible,
        MessageMode::Safe,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MessageMode::Plain => "plain",
            MessageMode::Compatible => "compatible",
            MessageMode::Safe => "safe",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or(invalid("message_mode", "invalid_choice"))
    }
}

/// The kind of account decides the broadcast quota preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// 订阅号 / 公众号: one mass send a day.
    #[default]
    Subscription,
    /// Some verified subscription accounts: two a day (per the product's source article).
    VerifiedSubscription,
    /// 服务号: four per follower per month.
    Service,
}

impl AccountKind {
    pub const ALL: [AccountKind; 3] = [
        AccountKind::Subscription,
        AccountKind::VerifiedSubscription,
        AccountKind::Service,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Subscription => "subscription",
            AccountKind::VerifiedSubscription => "verified_subscription",
            AccountKind::Service => "service",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or(invalid("account_kind", "invalid_choice"))
    }
}

/// AppID: `wx` followed by 16 lowercase hex digits.
pub fn appid(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let ok = s.len() == 18 && s.starts_with("wx") && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| s.to_string())
        .ok_or(invalid("wx_appid", "invalid_appid"))
}

/// Original id: `gh_` followed by 12 hex digits.
pub fn original_id(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let ok = s.len() == 15 && s.starts_with("gh_") && s[3..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| s.to_string())
        .ok_or(invalid("wx_original_id", "invalid_original_id"))
}

/// The server-configuration Token: 3 to 32 ASCII letters and digits.
pub fn token(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let ok = (3..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| s.to_string())
        .ok_or(invalid("wx_token", "invalid_token"))
}

/// EncodingAESKey: exactly 43 ASCII letters and digits.
pub fn encoding_aes_key(field: &'static str, s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let ok = s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| s.to_string())
        .ok_or(invalid(field, "invalid_aes_key"))
}

/// AppSecret: 32 hex digits.
pub fn app_secret(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let ok = s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| s.to_string())
        .ok_or(invalid("wx_app_secret", "invalid_app_secret"))
}

/// Tokens shorter than this are accepted (WeChat allows 3–32 characters and an existing
/// account may keep its own) but the settings form warns and offers a strong one.
pub const STRONG_TOKEN_LEN: usize = 16;

/// A strong Token: 32 letters and digits (WeChat's longest), ~190 bits from `rng`.
pub fn generate_token(rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Is this Token short enough to warn about?
pub fn token_is_weak(token: &str) -> bool {
    token.trim().len() < STRONG_TOKEN_LEN
}

/// The OA API base URL, or `None` when blank (keep the current one; the default for a new
/// tenant). `https://` anywhere, or plain `http://` to a loopback address only (a local
/// simulator: nothing secret crosses a network in the clear). Whether loopback is allowed
/// from the web at all is the server's configuration, checked at the edge.
pub fn api_base(s: &str) -> Result<Option<String>, Invalid> {
    let s = s.trim().trim_end_matches('/');
    if s.is_empty() {
        return Ok(None);
    }
    let plain_ok = s.strip_prefix("http://").is_some_and(is_loopback_authority);
    let ok = (s.starts_with("https://") && s.len() > "https://".len() || plain_ok)
        && s.len() <= 200
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@');
    ok.then(|| Some(s.to_string()))
        .ok_or(invalid("wx_api_base", "invalid_url"))
}

/// Does this `http://`/`https://` URL point at this machine (127.0.0.0/8, `localhost`, `[::1]`)?
pub fn is_loopback_url(url: &str) -> bool {
    url.strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .is_some_and(is_loopback_authority)
}

fn is_loopback_authority(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, _)) => return h == "::1",
            None => return false,
        }
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_is_https_or_plain_http_to_loopback_only() {
        assert_eq!(api_base(" ").unwrap(), None);
        assert_eq!(
            api_base("https://api.weixin.qq.com/").unwrap().as_deref(),
            Some("https://api.weixin.qq.com")
        );
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1/x",
            "http://[::1]:99",
        ] {
            assert!(api_base(ok).unwrap().is_some(), "{ok}");
            assert!(is_loopback_url(ok), "{ok}");
        }
        for bad in [
            "http://api.weixin.qq.com",
            "http://10.0.0.1",
            "http://127.0.0.1.evil.test",
            "http://localhost.evil.test",
            "http://user@127.0.0.1",
            "ftp://x",
            "https://",
            "https://a b",
        ] {
            assert!(api_base(bad).is_err(), "{bad}");
        }
        assert!(!is_loopback_url("https://api.weixin.qq.com"));
    }

    #[test]
    fn short_tokens_are_weak() {
        assert!(token_is_weak("spamtest"));
        assert!(!token_is_weak("0123456789abcdef"));
        let t = generate_token(&mut rand::rngs::OsRng);
        assert!(token(&t).is_ok() && !token_is_weak(&t), "{t}");
    }

    #[test]
    fn official_sample_values_are_accepted() {
        assert!(appid("wx2c2769f8efd9abc2").is_ok());
        assert!(original_id("gh_10f6c3c3ac5a").is_ok());
        assert!(encoding_aes_key("k", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").is_ok());
        assert!(token("spamtest").is_ok());
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(appid("wx123").is_err());
        assert!(original_id("gh_zz").is_err());
        assert!(encoding_aes_key("k", "short").is_err());
        assert!(token("no spaces").is_err());
        assert!(api_base("ftp://x").is_err());
        assert_eq!(api_base("").unwrap(), None);
        assert_eq!(MessageMode::parse("safe").unwrap(), MessageMode::Safe);
        assert!(AccountKind::parse("vip").is_err());
    }
}
