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

/// The OA API base URL; a loopback simulator in tests.
pub fn api_base(s: &str) -> Result<String, Invalid> {
    let s = s.trim().trim_end_matches('/');
    if s.is_empty() {
        return Ok(DEFAULT_API_BASE.to_string());
    }
    let ok = (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 200
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then(|| s.to_string())
        .ok_or(invalid("wx_api_base", "invalid_url"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(api_base("").unwrap(), DEFAULT_API_BASE);
        assert_eq!(MessageMode::parse("safe").unwrap(), MessageMode::Safe);
        assert!(AccountKind::parse("vip").is_err());
    }
}
