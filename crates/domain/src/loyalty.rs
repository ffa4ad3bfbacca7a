//! Points and stamps rules: a tenant's points program, the placeholders of the messages a
//! follower gets, oldest-first consumption of points, and the member card's signed QR
//! payload. Pure: time and keys come in as values.

use chrono::{NaiveDate, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The most points one rule or one entry may move.
pub const MAX_POINTS: i64 = 1_000_000;
/// Longest check-in keyword, in characters.
pub const MAX_KEYWORD: usize = 30;
/// Longest message text, in bytes (WeChat cuts passive text at 2048).
pub const MAX_TEXT: usize = 600;
/// Longest reason on a ledger entry, in characters.
pub const MAX_REASON: usize = 200;

/// A tenant's points rules. Zero points (or an empty keyword) switches a rule off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Program {
    /// Points for a follower's first follow.
    pub subscribe_points: i64,
    /// The word a follower sends to check in, once per local day (empty: off).
    pub checkin_keyword: String,
    pub checkin_points: i64,
    /// The reply to a check-in, with placeholders (see [`fill`]).
    pub checkin_reply: String,
    /// The reply to a second check-in the same day.
    pub checkin_again_reply: String,
    /// Points per yuan paid (used once payments are recorded; 0: off).
    pub points_per_yuan: i64,
    /// Points expire this many days after they were earned (`None`: never).
    pub expiry_days: Option<i64>,
}

/// `validate` refuses with the field and an error code (`err.<code>` in the catalogues).
impl Program {
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let pts = 0..=MAX_POINTS;
        if !pts.contains(&self.subscribe_points)
            || !pts.contains(&self.checkin_points)
            || !pts.contains(&self.points_per_yuan)
        {
            return Err(("points", "invalid_points"));
        }
        let kw = self.checkin_keyword.trim();
        if kw.chars().count() > MAX_KEYWORD || kw.chars().any(char::is_control) {
            return Err(("checkin_keyword", "invalid_keyword"));
        }
        if !kw.is_empty() && self.checkin_points == 0 {
            return Err(("checkin_points", "checkin_points_required"));
        }
        if self.checkin_reply.len() > MAX_TEXT || self.checkin_again_reply.len() > MAX_TEXT {
            return Err(("checkin_reply", "text_too_long"));
        }
        if let Some(d) = self.expiry_days {
            if !(1..=3650).contains(&d) {
                return Err(("expiry_days", "invalid_expiry"));
            }
        }
        Ok(())
    }

    /// Whether `text` (a follower's message) is this program's check-in word.
    pub fn is_checkin(&self, text: &str) -> bool {
        let kw = self.checkin_keyword.trim();
        !kw.is_empty() && self.checkin_points > 0 && text.trim().eq_ignore_ascii_case(kw)
    }

    /// When points earned at `at` expire.
    pub fn expiry(&self, at: NaiveDateTime) -> Option<NaiveDateTime> {
        self.expiry_days.map(|d| at + chrono::Duration::days(d))
    }
}

/// The once-only key of a check-in on the tenant's local `day`.
pub fn checkin_key(day: NaiveDate) -> String {
    format!("checkin:{day}")
}

/// The once-only key of the points for a first follow.
pub const SUBSCRIBE_KEY: &str = "subscribe";

/// Values for the placeholders of a message to a follower.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    /// `{points}`: what this message's event earned.
    pub points: i64,
    /// `{balance}`: the follower's balance after it.
    pub balance: i64,
    /// `{link}`: the follower's own page (their coupons and points).
    pub link: Option<String>,
}

/// The placeholders a message may carry.
pub const PLACEHOLDERS: [&str; 3] = ["{points}", "{balance}", "{link}"];

/// Whether `text` names any placeholder (then the writer fills it in).
pub fn has_placeholders(text: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| text.contains(p))
}

/// `text` with its placeholders filled in (an unknown `{…}` stays as written).
pub fn fill(text: &str, v: &Values) -> String {
    text.replace("{points}", &v.points.to_string())
        .replace("{balance}", &v.balance.to_string())
        .replace("{link}", v.link.as_deref().unwrap_or(""))
}

/// How a debit of `amount` consumes credits given oldest-first as `(id, remaining)`:
/// the `(id, taken)` pairs, or `None` when they do not hold enough.
pub fn consume(credits: &[(i64, i64)], amount: i64) -> Option<Vec<(i64, i64)>> {
    let mut left = amount;
    let mut out = Vec::new();
    for &(id, remaining) in credits {
        if left == 0 {
            break;
        }
        let take = remaining.min(left);
        if take > 0 {
            out.push((id, take));
            left -= take;
        }
    }
    (left == 0).then_some(out)
}

type HmacSha256 = Hmac<Sha256>;
const MEMBER_TAG: &str = "PM1";

fn member_mac(key: &[u8], follower: i64) -> String {
    use base64::Engine;
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(MEMBER_TAG.as_bytes());
    m.update(b".");
    m.update(follower.to_string().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..16])
}

/// What the member card's QR carries: `PM1.<follower id>.<128-bit MAC>`, keyed per tenant
/// (the same key as coupon payloads, a different tag).
pub fn member_payload(key: &[u8], follower: i64) -> String {
    format!("{MEMBER_TAG}.{follower}.{}", member_mac(key, follower))
}

/// A scanned member card: `None` when it is not one, `Some(Err(()))` when it is forged
/// or altered, `Some(Ok(follower))` when genuine. Constant-time, before any lookup.
#[allow(clippy::result_unit_err)]
pub fn verify_member(key: &[u8], scanned: &str) -> Option<Result<i64, ()>> {
    let rest = scanned.trim().strip_prefix(MEMBER_TAG)?.strip_prefix('.')?;
    let Some((id, tag)) = rest.split_once('.') else {
        return Some(Err(()));
    };
    let Ok(follower) = id.parse::<i64>() else {
        return Some(Err(()));
    };
    use subtle::ConstantTimeEq;
    let want = member_mac(key, follower);
    if bool::from(want.as_bytes().ct_eq(tag.as_bytes())) {
        Some(Ok(follower))
    } else {
        Some(Err(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program() -> Program {
        Program {
            subscribe_points: 50,
            checkin_keyword: "签到".into(),
            checkin_points: 10,
            checkin_reply: "+{points}, balance {balance}".into(),
            checkin_again_reply: "Already, balance {balance}".into(),
            points_per_yuan: 1,
            expiry_days: Some(365),
        }
    }

    #[test]
    fn programs_are_checked() {
        assert_eq!(program().validate(), Ok(()));
        let bad = |f: fn(&mut Program)| {
            let mut p = program();
            f(&mut p);
            p.validate().unwrap_err().1
        };
        assert_eq!(bad(|p| p.subscribe_points = -1), "invalid_points");
        assert_eq!(bad(|p| p.checkin_points = MAX_POINTS + 1), "invalid_points");
        assert_eq!(
            bad(|p| p.checkin_keyword = "x".repeat(31)),
            "invalid_keyword"
        );
        assert_eq!(bad(|p| p.checkin_points = 0), "checkin_points_required");
        assert_eq!(bad(|p| p.checkin_reply = "x".repeat(601)), "text_too_long");
        assert_eq!(bad(|p| p.expiry_days = Some(0)), "invalid_expiry");
        let mut off = program();
        off.checkin_keyword.clear();
        off.checkin_points = 0;
        assert_eq!(off.validate(), Ok(()));
        assert!(!off.is_checkin(""), "an empty keyword never matches");
    }

    #[test]
    fn checkin_matches_the_whole_word_ignoring_case_and_spaces() {
        let mut p = program();
        assert!(p.is_checkin(" 签到 "));
        assert!(!p.is_checkin("签到吧"));
        p.checkin_keyword = "Check in".into();
        assert!(p.is_checkin("check IN"));
        assert!(!p.is_checkin("check"));
    }

    #[test]
    fn placeholders_are_filled() {
        let v = Values {
            points: 10,
            balance: 130,
            link: Some("https://x/m/a/t".into()),
        };
        assert_eq!(
            fill("+{points} = {balance} {link} {other}", &v),
            "+10 = 130 https://x/m/a/t {other}"
        );
        assert!(has_placeholders("see {link}"));
        assert!(!has_placeholders("no {placeholders}"));
    }

    #[test]
    fn debits_consume_the_oldest_credits_first() {
        let credits = [(1, 5), (2, 0), (3, 10), (4, 7)];
        assert_eq!(consume(&credits, 12), Some(vec![(1, 5), (3, 7)]));
        assert_eq!(consume(&credits, 22), Some(vec![(1, 5), (3, 10), (4, 7)]));
        assert_eq!(consume(&credits, 23), None);
        assert_eq!(consume(&credits, 0), Some(vec![]));
    }

    #[test]
    fn member_payloads_are_signed_per_key() {
        let key = [9u8; 32];
        let p = member_payload(&key, 42);
        assert_eq!(verify_member(&key, &p), Some(Ok(42)));
        assert_eq!(
            verify_member(&[8u8; 32], &p),
            Some(Err(())),
            "another tenant"
        );
        let other = p.replacen(".42.", ".43.", 1);
        assert_eq!(verify_member(&key, &other), Some(Err(())));
        assert_eq!(verify_member(&key, "PM1.garbage"), Some(Err(())));
        assert_eq!(
            verify_member(&key, "PC1.ABC.x"),
            None,
            "a coupon, not a card"
        );
        assert_eq!(verify_member(&key, "ABCD"), None);
    }

    #[test]
    fn expiry_counts_days_from_earning() {
        let at = NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(
            program().expiry(at).unwrap().date(),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
        assert_eq!(checkin_key(at.date()), "checkin:2026-01-01");
    }
}
