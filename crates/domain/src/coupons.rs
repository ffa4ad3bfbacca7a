//! Coupon rules: codes (alphabet, check character, prefix), the signed QR payload, what a
//! campaign gives, and whether a coupon may be redeemed here and now. Pure: randomness
//! comes in as an RNG, keys as bytes, time as a value.

use chrono::{NaiveDate, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// 30 characters without look-alikes (no 0/O, 1/I/L, and no U, as Crockford's base 32).
/// An even count: Luhn mod N catches every single typo only for even N.
pub const ALPHABET: &[u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Random characters per code: 30^13 ≈ 2^63.8, above the required 60 bits.
pub const RANDOM_LEN: usize = 13;
/// The longest prefix.
pub const MAX_PREFIX: usize = 8;

fn index(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|&a| a == c)
}

/// The Luhn mod N check character over `body` (every character in [`ALPHABET`]): catches
/// every single mistyped character and every swap of two neighbours.
pub fn check_char(body: &[u8]) -> Option<u8> {
    let n = ALPHABET.len();
    let mut factor = 2;
    let mut sum = 0;
    for &c in body.iter().rev() {
        let mut addend = factor * index(c)?;
        factor = if factor == 2 { 1 } else { 2 };
        addend = addend / n + addend % n;
        sum += addend;
    }
    Some(ALPHABET[(n - sum % n) % n])
}

/// A new code: `[PREFIX-]` + 13 random characters + the check character.
pub fn generate(rng: &mut (impl rand::RngCore + rand::CryptoRng), prefix: &str) -> String {
    use rand::Rng;
    let body: Vec<u8> = (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
        .collect();
    let check = check_char(&body).expect("alphabet characters");
    let mut code = String::with_capacity(prefix.len() + RANDOM_LEN + 2);
    if !prefix.is_empty() {
        code.push_str(prefix);
        code.push('-');
    }
    code.push_str(std::str::from_utf8(&body).expect("ascii"));
    code.push(check as char);
    code
}

/// A prefix: 1 to 8 uppercase ASCII letters or digits.
pub fn valid_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PREFIX
        && p.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// What a typed or scanned code is, before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// A code in Patron's format whose check character matches.
    Generated(String),
    /// A code in Patron's format with a wrong check character: a typo.
    BadCheck,
    /// Anything else: maybe an imported code (looked up as typed, normalised).
    Other(String),
}

/// Normalises what a cashier typed and classifies it. A code of ours is found however
/// it is spaced, dashed or cased, with or without the dash after its prefix
/// (`TEA-6QYK VSDY FMVA W9`, `tea6qykvsdyfmvaw9`, `TEA-6QYK-VSDY-FMVA-W9`): the body is
/// always the last 14 characters, so the prefix is what comes before them. A wrong check
/// character is a typo only when the input has our printed shape (no prefix, or the
/// prefix set off by a dash); anything else is looked up as typed (imported codes, which
/// keep their dashes), without whitespace and in upper case.
pub fn parse_typed(input: &str) -> Typed {
    let upper: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    let compact: String = upper.chars().filter(|c| *c != '-').collect();
    let n = RANDOM_LEN + 1;
    if compact.is_ascii() && compact.len() >= n {
        let (head, body) = compact.split_at(compact.len() - n);
        let b = body.as_bytes();
        if (head.is_empty() || valid_prefix(head)) && b.iter().all(|c| index(*c).is_some()) {
            if check_char(&b[..RANDOM_LEN]) == Some(b[RANDOM_LEN]) {
                return Typed::Generated(if head.is_empty() {
                    body.to_string()
                } else {
                    format!("{head}-{body}")
                });
            }
            if head.is_empty() || upper.starts_with(&format!("{head}-")) {
                return Typed::BadCheck;
            }
        }
    }
    Typed::Other(upper)
}

/// The code grouped for reading aloud: `VIP-ABCD EFGH JKMN PQ`.
pub fn display(code: &str) -> String {
    let (prefix, body) = match code.rsplit_once('-') {
        Some((p, b)) => (Some(p), b),
        None => (None, code),
    };
    let grouped = body
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    match prefix {
        Some(p) => format!("{p}-{grouped}"),
        None => grouped,
    }
}

type HmacSha256 = Hmac<Sha256>;

/// The QR payload's version tag.
const QR_TAG: &str = "PC1";

fn mac(key: &[u8], code: &str) -> String {
    use base64::Engine;
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(QR_TAG.as_bytes());
    m.update(b".");
    m.update(code.as_bytes());
    let tag = m.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..16])
}

/// What the coupon's QR code carries: `PC1.<code>.<128-bit MAC>`, keyed per tenant.
pub fn qr_payload(key: &[u8], code: &str) -> String {
    format!("{QR_TAG}.{code}.{}", mac(key, code))
}

/// What a scan read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// A payload whose MAC checks: the code inside.
    Signed(String),
    /// A payload in our format whose MAC does not check (forged or altered).
    Forged,
    /// Not a payload: treat as typed.
    Typed(Typed),
}

/// Checks a scanned payload in constant time, before anything touches the database.
pub fn verify_scan(key: &[u8], scanned: &str) -> Scanned {
    let s = scanned.trim();
    let Some(rest) = s.strip_prefix(QR_TAG).and_then(|r| r.strip_prefix('.')) else {
        return Scanned::Typed(parse_typed(s));
    };
    let Some((code, tag)) = rest.rsplit_once('.') else {
        return Scanned::Forged;
    };
    use subtle::ConstantTimeEq;
    let want = mac(key, code);
    if want.as_bytes().ct_eq(tag.as_bytes()).into() {
        Scanned::Signed(code.to_string())
    } else {
        Scanned::Forged
    }
}

/// Why what was scanned or typed names no code, before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanRefusal {
    /// Nothing was scanned or typed.
    Empty,
    /// A payload in our format whose MAC does not check.
    ForgedQr,
    /// A code in Patron's format with a wrong check character: a typo.
    BadCheckCharacter,
}

impl ScanRefusal {
    /// The stable code the API answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanRefusal::Empty => "empty",
            ScanRefusal::ForgedQr => "forged_qr",
            ScanRefusal::BadCheckCharacter => "bad_check_character",
        }
    }
}

/// What to look a scan up as: the code, another spelling to try when that finds nothing
/// (what was typed, when it read as one of our codes: an imported code can look like one
/// of ours), and whether a miss is a typo of ours rather than an unknown code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub code: String,
    pub as_typed: Option<String>,
    pub typo: bool,
}

/// The one way from a scan (a signed payload, a typed or hardware-scanned code) to what to
/// look up: forged payloads are refused here, before the database; a code of ours is
/// found however it was spaced or dashed, and an imported code as it was typed.
pub fn scan_lookup(key: &[u8], scanned: &str) -> Result<Lookup, ScanRefusal> {
    if scanned.trim().is_empty() {
        return Err(ScanRefusal::Empty);
    }
    let typed = || -> String {
        scanned
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase()
    };
    Ok(match verify_scan(key, scanned) {
        Scanned::Signed(code) => Lookup {
            code,
            as_typed: None,
            typo: false,
        },
        Scanned::Forged => return Err(ScanRefusal::ForgedQr),
        Scanned::Typed(Typed::Generated(code)) => {
            let as_typed = Some(typed()).filter(|t| *t != code);
            Lookup {
                code,
                as_typed,
                typo: false,
            }
        }
        Scanned::Typed(Typed::BadCheck) => Lookup {
            code: typed(),
            as_typed: None,
            typo: true,
        },
        Scanned::Typed(Typed::Other(code)) => Lookup {
            code,
            as_typed: None,
            typo: false,
        },
    })
}

/// The statuses a campaign may move to from `current`: a draft is started or dropped, an
/// active one paused or ended, a paused one resumed or ended; an ended one stays ended.
pub fn next_campaign_statuses(current: &str) -> &'static [&'static str] {
    match current {
        "draft" => &["active", "ended"],
        "active" => &["paused", "ended"],
        "paused" => &["active", "ended"],
        _ => &[],
    }
}

/// What a campaign gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Benefit {
    /// A fixed amount off, in fen.
    AmountOff { fen: i64 },
    /// A percentage off, capped (fen; 0: no cap).
    PercentOff { percent: i64, cap_fen: i64 },
    /// A gift or free item.
    Gift { item: String },
    /// Exchanged for an item.
    Exchange { item: String },
}

impl Benefit {
    pub fn validate(&self) -> Result<(), &'static str> {
        match self {
            Benefit::AmountOff { fen } if *fen > 0 && *fen <= 100_000_000 => Ok(()),
            Benefit::PercentOff { percent, cap_fen }
                if (1..=100).contains(percent) && *cap_fen >= 0 =>
            {
                Ok(())
            }
            Benefit::Gift { item } | Benefit::Exchange { item }
                if !item.trim().is_empty() && item.chars().count() <= 120 =>
            {
                Ok(())
            }
            _ => Err("invalid_benefit"),
        }
    }

    /// The discount on an order of `amount` fen (0 for items).
    pub fn discount(&self, amount: i64) -> i64 {
        match self {
            Benefit::AmountOff { fen } => (*fen).min(amount.max(0)),
            Benefit::PercentOff { percent, cap_fen } => {
                let d = amount.max(0) * percent / 100;
                if *cap_fen > 0 {
                    d.min(*cap_fen)
                } else {
                    d
                }
            }
            _ => 0,
        }
    }
}

/// How long an issued coupon is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Validity {
    /// From one instant to another (UTC).
    Absolute {
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
    /// N days from issue.
    Relative { days: i64 },
}

impl Validity {
    /// The window of a coupon issued at `issued`.
    pub fn window(&self, issued: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
        match self {
            Validity::Absolute { from, to } => (*from, *to),
            Validity::Relative { days } => (issued, issued + chrono::TimeDelta::days(*days)),
        }
    }
}

/// Where a coupon stands. Stored as its `as_str` text; the API answers with the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponStatus {
    /// Held (or loose) and not used yet.
    Issued,
    /// Used at a till; a void within the window turns it back to issued.
    Redeemed,
    Voided,
}

impl CouponStatus {
    pub const ALL: [CouponStatus; 3] = [
        CouponStatus::Issued,
        CouponStatus::Redeemed,
        CouponStatus::Voided,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            CouponStatus::Issued => "issued",
            CouponStatus::Redeemed => "redeemed",
            CouponStatus::Voided => "voided",
        }
    }
    pub fn parse(s: &str) -> Option<CouponStatus> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for CouponStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the stored and serialized word (`"issued"`, …).
impl PartialEq<&str> for CouponStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<String> for CouponStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        CouponStatus::parse(&s).ok_or_else(|| format!("unknown coupon status {s:?}"))
    }
}

/// Why a coupon cannot be redeemed (each has its own message at the till).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    NotYetValid { from: NaiveDateTime },
    Expired { to: NaiveDateTime },
    WrongStore,
    MinSpendNotMet { min_fen: i64 },
    CampaignPaused,
    CampaignEnded,
    AlreadyRedeemed,
    Voided,
}

/// What the till knows about a coupon and its campaign.
pub struct Redeemable<'a> {
    pub status: CouponStatus,
    pub campaign_status: &'a str,
    pub valid_from: NaiveDateTime,
    pub valid_to: NaiveDateTime,
    /// `None`: every store.
    pub stores: Option<&'a [i64]>,
    pub min_spend_fen: i64,
}

/// Whether the coupon may be redeemed at `store` at `now` for an order of `amount` fen
/// (`None`: no amount given; the minimum spend is then not checked).
pub fn can_redeem(
    r: &Redeemable<'_>,
    store: i64,
    now: NaiveDateTime,
    amount: Option<i64>,
) -> Result<(), Refusal> {
    match r.status {
        CouponStatus::Redeemed => return Err(Refusal::AlreadyRedeemed),
        CouponStatus::Voided => return Err(Refusal::Voided),
        CouponStatus::Issued => {}
    }
    match r.campaign_status {
        "paused" | "draft" => return Err(Refusal::CampaignPaused),
        "ended" => return Err(Refusal::CampaignEnded),
        _ => {}
    }
    if now < r.valid_from {
        return Err(Refusal::NotYetValid { from: r.valid_from });
    }
    if now >= r.valid_to {
        return Err(Refusal::Expired { to: r.valid_to });
    }
    if r.stores.is_some_and(|s| !s.contains(&store)) {
        return Err(Refusal::WrongStore);
    }
    if let Some(a) = amount {
        if a < r.min_spend_fen {
            return Err(Refusal::MinSpendNotMet {
                min_fen: r.min_spend_fen,
            });
        }
    }
    Ok(())
}

/// Fen as yuan for people: `1234` → `12.34`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// Yuan typed by a person (`12`, `12.5`, `12.34`) as fen; no floats.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let f: i64 = format!("{frac:0<2}").parse().ok()?;
    w.checked_mul(100)?.checked_add(f)
}

/// A day as the start of that day (UTC), for absolute validity typed as dates.
pub fn day_start(d: NaiveDate) -> NaiveDateTime {
    d.and_time(chrono::NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupon_statuses_read_back_as_the_words_stored_and_served() {
        for st in CouponStatus::ALL {
            assert_eq!(CouponStatus::try_from(st.as_str().to_string()), Ok(st));
            assert_eq!(
                serde_json::to_string(&st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
            assert!(st == st.as_str());
        }
        assert!(CouponStatus::try_from("spent".to_string()).is_err());
    }
    use rand::SeedableRng;

    #[test]
    fn codes_carry_64_bits_and_a_check_character() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let code = generate(&mut rng, "VIP");
        assert!(
            code.starts_with("VIP-") && code.len() == 4 + RANDOM_LEN + 1,
            "{code}"
        );
        assert_eq!(parse_typed(&code), Typed::Generated(code.clone()));
        // Read aloud and typed back with spaces and lower case.
        assert_eq!(
            parse_typed(&display(&code).to_lowercase()),
            Typed::Generated(code.clone())
        );
        // Every single-character typo is caught.
        let body = code.strip_prefix("VIP-").unwrap().as_bytes().to_vec();
        for i in 0..body.len() {
            for &c in ALPHABET.iter().filter(|&&c| c != body[i]) {
                let mut typo = body.clone();
                typo[i] = c;
                let typed = format!("VIP-{}", std::str::from_utf8(&typo).unwrap());
                assert_eq!(parse_typed(&typed), Typed::BadCheck, "{typed}");
            }
        }
        // And swaps of neighbours.
        for i in 0..body.len() - 1 {
            if body[i] == body[i + 1] {
                continue;
            }
            let mut swapped = body.clone();
            swapped.swap(i, i + 1);
            assert_eq!(
                parse_typed(std::str::from_utf8(&swapped).unwrap()),
                Typed::BadCheck
            );
        }
        // Codes differ (a CSPRNG in production; here: no repeats in 10,000).
        let mut rng = rand::rngs::OsRng;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(generate(&mut rng, "")));
        }
        assert_eq!(
            parse_typed("IMPORTED-0001"),
            Typed::Other("IMPORTED-0001".into())
        );
    }

    /// Property: a generated code, with or without a prefix, is found however it is typed:
    /// any mix of spaces, dashes and case between any characters, with or without the
    /// dash after the prefix (the till, the lookup page and the API all read through this).
    #[test]
    fn codes_are_found_whatever_separators_and_case_they_are_typed_with() {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(22);
        for round in 0..5_000 {
            let prefix = ["", "TEA", "VIP2", "A", "SHOP1234"][round % 5];
            let code = generate(&mut rng, prefix);
            let mut typed = String::new();
            for ch in code.chars() {
                // Drop the prefix's own dash half the time.
                if ch == '-' && rng.gen_bool(0.5) {
                    continue;
                }
                typed.push(if rng.gen_bool(0.5) {
                    ch.to_ascii_lowercase()
                } else {
                    ch
                });
                for _ in 0..rng.gen_range(0..3) {
                    typed.push([' ', '-', '\t', ' '][rng.gen_range(0..4)]);
                }
            }
            let padded = format!("{}{typed}{}", " ".repeat(rng.gen_range(0..3)), " ");
            assert_eq!(
                parse_typed(&padded),
                Typed::Generated(code.clone()),
                "{padded:?} should read as {code}"
            );
        }
        // The three spellings of one code.
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let code = generate(&mut rng, "TEA");
        let body = code.strip_prefix("TEA-").unwrap();
        for typed in [
            format!("TEA{body}"),
            format!("TEA {}", display(body)),
            format!("TEA-{}", display(body).replace(' ', "-")),
        ] {
            assert_eq!(
                parse_typed(&typed),
                Typed::Generated(code.clone()),
                "{typed}"
            );
        }
    }

    #[test]
    fn imported_codes_are_looked_up_as_typed_and_typos_of_ours_stay_typos() {
        // An imported code that merely ends in 14 of our characters is not a typo.
        assert_eq!(
            parse_typed("SUMMERABCDEFGHJKMNPQ"),
            Typed::Other("SUMMERABCDEFGHJKMNPQ".into())
        );
        assert_eq!(
            parse_typed("gift card-0001"),
            Typed::Other("GIFTCARD-0001".into())
        );
        // Our printed shape with a wrong check character is a typo, dashed or not.
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let code = generate(&mut rng, "TEA");
        let mut typo = code.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'2' { b'3' } else { b'2' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(parse_typed(&typo), Typed::BadCheck);
        assert_eq!(
            parse_typed(&typo.replace("TEA-", "tea - ")),
            Typed::BadCheck
        );
        let bare = generate(&mut rng, "");
        let mut t = bare.into_bytes();
        t.swap(0, 1);
        if t[0] != t[1] {
            assert_eq!(parse_typed(&String::from_utf8(t).unwrap()), Typed::BadCheck);
        }
    }

    #[test]
    fn imported_codes_that_look_like_ours_are_still_looked_up_as_typed() {
        // An imported code shaped like a prefix and 14 of our characters: looked up as
        // typed, and only called a typo when that finds nothing either.
        let l = scan_lookup(&[1; 32], "SHOP-ABCD-EFGH-JKMN-PQ").unwrap();
        if l.typo {
            assert_eq!(l.code, "SHOP-ABCD-EFGH-JKMN-PQ");
        } else {
            assert_eq!(l.as_typed.as_deref(), Some("SHOP-ABCD-EFGH-JKMN-PQ"));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let code = generate(&mut rng, "TEA");
        let l = scan_lookup(&[1; 32], &code.replace('-', " ").to_lowercase()).unwrap();
        assert_eq!(l.code, code);
        assert!(!l.typo);
        assert_eq!(scan_lookup(&[1; 32], "  "), Err(ScanRefusal::Empty));
    }

    #[test]
    fn qr_payloads_are_signed_per_key() {
        let key = [7u8; 32];
        let p = qr_payload(&key, "VIP-ABCDEFGHJKMNP2");
        assert_eq!(
            verify_scan(&key, &p),
            Scanned::Signed("VIP-ABCDEFGHJKMNP2".into())
        );
        assert_eq!(
            verify_scan(&[8u8; 32], &p),
            Scanned::Forged,
            "another tenant's key"
        );
        let altered = p.replace("VIP-ABCD", "VIP-ABCE");
        assert_eq!(verify_scan(&key, &altered), Scanned::Forged);
        assert_eq!(verify_scan(&key, "PC1.nodot"), Scanned::Forged);
        assert!(matches!(verify_scan(&key, "vip-abcd"), Scanned::Typed(_)));
    }

    #[test]
    fn benefits_and_money() {
        assert_eq!(Benefit::AmountOff { fen: 500 }.discount(300), 300);
        assert_eq!(
            Benefit::PercentOff {
                percent: 20,
                cap_fen: 1000
            }
            .discount(10_000),
            1000
        );
        assert_eq!(
            Benefit::PercentOff {
                percent: 15,
                cap_fen: 0
            }
            .discount(999),
            149
        );
        assert!(Benefit::PercentOff {
            percent: 101,
            cap_fen: 0
        }
        .validate()
        .is_err());
        assert!(Benefit::Gift { item: " ".into() }.validate().is_err());
        assert_eq!(parse_yuan("12.5"), Some(1250));
        assert_eq!(parse_yuan("0.05"), Some(5));
        assert_eq!(parse_yuan("12.345"), None);
        assert_eq!(parse_yuan("-1"), None);
        assert_eq!(yuan(1205), "12.05");
    }

    #[test]
    fn redemption_rules_give_one_reason_each() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let stores = [1, 2];
        let ok = Redeemable {
            status: CouponStatus::Issued,
            campaign_status: "active",
            valid_from: t("2026-11-01 00:00"),
            valid_to: t("2026-12-01 00:00"),
            stores: Some(&stores),
            min_spend_fen: 5000,
        };
        let now = t("2026-11-25 12:00");
        assert_eq!(can_redeem(&ok, 1, now, Some(5000)), Ok(()));
        assert_eq!(can_redeem(&ok, 1, now, None), Ok(()));
        assert_eq!(can_redeem(&ok, 3, now, None), Err(Refusal::WrongStore));
        assert_eq!(
            can_redeem(&ok, 1, now, Some(4999)),
            Err(Refusal::MinSpendNotMet { min_fen: 5000 })
        );
        assert!(matches!(
            can_redeem(&ok, 1, t("2026-10-31 23:59"), None),
            Err(Refusal::NotYetValid { .. })
        ));
        assert!(matches!(
            can_redeem(&ok, 1, t("2026-12-01 00:00"), None),
            Err(Refusal::Expired { .. })
        ));
        let paused = Redeemable {
            campaign_status: "paused",
            ..ok
        };
        assert_eq!(
            can_redeem(&paused, 1, now, None),
            Err(Refusal::CampaignPaused)
        );
        let used = Redeemable {
            status: CouponStatus::Redeemed,
            ..paused
        };
        assert_eq!(
            can_redeem(&used, 1, now, None),
            Err(Refusal::AlreadyRedeemed)
        );
    }
}
