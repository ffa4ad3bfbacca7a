//! Broadcast quotas (wechat-protocol.md §5.2): how many mass sends a tenant may make per
//! day or per month of its local calendar, and the periods those are counted in. Pure:
//! the store keeps one row per used slot under a unique (tenant, period, slot) key, and
//! this module says which periods and slots exist.
//!
//! WeChat's own limits differ by account (one a day for subscription accounts, four a
//! month for service accounts, each follower receiving at most four a month; some
//! verified accounts are said to get two a day), so the quota is a per-tenant policy
//! with presets by account kind and a custom setting.

use crate::validate::{invalid, Invalid};
use crate::wechat_settings::AccountKind;
use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The calendar unit a quota is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub const ALL: [Period; 2] = [Period::Day, Period::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Result<Period, Invalid> {
        Period::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or(invalid("quota_period", "invalid_choice"))
    }

    /// The period holding the instant `at` (UTC) on the tenant's local calendar.
    pub fn key_at(self, at: NaiveDateTime, tz: Tz) -> PeriodKey {
        let local = tz.from_utc_datetime(&at).date_naive();
        match self {
            Period::Day => PeriodKey::Day(local),
            Period::Month => PeriodKey::Month {
                year: local.year(),
                month: local.month(),
            },
        }
    }
}

/// The most broadcasts a custom quota allows in one period, and the highest per-follower
/// monthly cap: far above anything WeChat grants, low enough that a typo is caught.
pub const MAX_PER_PERIOD: u32 = 100;

/// How many broadcasts a tenant may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaPolicy {
    /// The calendar unit counted in.
    pub period: Period,
    /// Broadcasts per period (the slots of a period).
    pub count: u32,
    /// Each follower receives at most this many a calendar month (service accounts);
    /// followers at the cap are left out of a send and counted in its report.
    pub follower_monthly_cap: Option<u32>,
}

impl QuotaPolicy {
    /// The preset of an account kind.
    pub fn preset(kind: AccountKind) -> QuotaPolicy {
        match kind {
            AccountKind::Subscription => QuotaPolicy {
                period: Period::Day,
                count: 1,
                follower_monthly_cap: None,
            },
            AccountKind::VerifiedSubscription => QuotaPolicy {
                period: Period::Day,
                count: 2,
                follower_monthly_cap: None,
            },
            AccountKind::Service => QuotaPolicy {
                period: Period::Month,
                count: 4,
                follower_monthly_cap: Some(4),
            },
        }
    }

    /// A custom policy, checked: 1 to [`MAX_PER_PERIOD`] per period, and a cap (when
    /// given) of 1 to [`MAX_PER_PERIOD`].
    pub fn custom(period: Period, count: i64, cap: Option<i64>) -> Result<QuotaPolicy, Invalid> {
        let within = |n: i64| (1..=MAX_PER_PERIOD as i64).contains(&n);
        if !within(count) {
            return Err(invalid("quota_count", "out_of_range"));
        }
        if cap.is_some_and(|c| !within(c)) {
            return Err(invalid("quota_follower_cap", "out_of_range"));
        }
        Ok(QuotaPolicy {
            period,
            count: count as u32,
            follower_monthly_cap: cap.map(|c| c as u32),
        })
    }

    /// The period holding `at` (UTC) in `tz`.
    pub fn key_at(&self, at: NaiveDateTime, tz: Tz) -> PeriodKey {
        self.period.key_at(at, tz)
    }
}

/// One period of a tenant's local calendar: a day or a month. Stored as text
/// (`2026-12-05`, `2026-12`), which sorts as the periods do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeriodKey {
    Day(NaiveDate),
    Month { year: i32, month: u32 },
}

impl fmt::Display for PeriodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeriodKey::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            PeriodKey::Month { year, month } => write!(f, "{year:04}-{month:02}"),
        }
    }
}

impl PeriodKey {
    /// Reads the stored text back.
    pub fn parse(s: &str) -> Option<PeriodKey> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Some(PeriodKey::Day(d));
        }
        let (y, m) = s.split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (y.len() == 4 && m.len() == 2 && (1..=12).contains(&month))
            .then_some(PeriodKey::Month { year, month })
    }

    /// The first local day of the period.
    pub fn first_day(&self) -> NaiveDate {
        match *self {
            PeriodKey::Day(d) => d,
            PeriodKey::Month { year, month } => {
                NaiveDate::from_ymd_opt(year, month, 1).expect("months are 1..=12")
            }
        }
    }

    /// The period after this one.
    pub fn next(&self) -> PeriodKey {
        match *self {
            PeriodKey::Day(d) => PeriodKey::Day(d + Duration::days(1)),
            PeriodKey::Month { year, month: 12 } => PeriodKey::Month {
                year: year + 1,
                month: 1,
            },
            PeriodKey::Month { year, month } => PeriodKey::Month {
                year,
                month: month + 1,
            },
        }
    }

    /// When the period starts, in UTC: the first local midnight of its first day (or the
    /// first local minute after it, where a daylight-saving change skips midnight).
    pub fn start_utc(&self, tz: Tz) -> NaiveDateTime {
        day_start_utc(self.first_day(), tz)
    }

    /// When the next period starts, in UTC (the end, exclusive).
    pub fn end_utc(&self, tz: Tz) -> NaiveDateTime {
        self.next().start_utc(tz)
    }
}

/// The UTC instant a local day starts in `tz`: midnight, or the first existing local time
/// after it where the clocks skip midnight (a few zones change at 00:00).
pub fn day_start_utc(day: NaiveDate, tz: Tz) -> NaiveDateTime {
    let mut local = day.and_time(NaiveTime::MIN);
    // Gaps are at most a few hours; step through them a quarter of an hour at a time.
    for _ in 0..=24 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.naive_utc(),
            LocalResult::Ambiguous(first, _) => return first.naive_utc(),
            LocalResult::None => local += Duration::minutes(15),
        }
    }
    // No zone has a six-hour gap; fall back to reading midnight as UTC offset zero.
    day.and_time(NaiveTime::MIN)
}

/// A local date and time in `tz` as UTC. `None` when it does not exist there (the hour
/// skipped when clocks go forward); an hour that happens twice reads as its first time.
pub fn local_to_utc(local: NaiveDateTime, tz: Tz) -> Option<NaiveDateTime> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.naive_utc()),
        LocalResult::Ambiguous(first, _) => Some(first.naive_utc()),
        LocalResult::None => None,
    }
}

/// A UTC instant as local time in `tz`.
pub fn utc_to_local(at: NaiveDateTime, tz: Tz) -> NaiveDateTime {
    tz.from_utc_datetime(&at).naive_local()
}

/// The lowest slot of a period not in `taken`, if the policy has one left.
pub fn free_slot(policy: &QuotaPolicy, taken: &[u32]) -> Option<u32> {
    (0..policy.count).find(|s| !taken.contains(s))
}

/// Where a broadcast asked for at `wanted` (UTC) can go when its period is full: the
/// first later period with a free slot (`taken(period)` says how many slots are used),
/// at the same local time of day on that period's first day, or the period's start when
/// that time has passed or does not exist. `None` if nothing is free within `horizon`
/// periods.
pub fn next_free(
    policy: &QuotaPolicy,
    wanted: NaiveDateTime,
    tz: Tz,
    horizon: u32,
    mut taken: impl FnMut(&PeriodKey) -> u32,
) -> Option<(PeriodKey, NaiveDateTime)> {
    let time_of_day = utc_to_local(wanted, tz).time();
    let mut key = policy.key_at(wanted, tz).next();
    for _ in 0..horizon {
        if taken(&key) < policy.count {
            let start = key.start_utc(tz);
            let at = local_to_utc(key.first_day().and_time(time_of_day), tz)
                .filter(|t| *t >= start && *t > wanted)
                .unwrap_or(start);
            return Some((key, at));
        }
        key = key.next();
    }
    None
}

/// What a broadcast sends. A mass send carries the same message to everyone, so it has no
/// per-follower placeholders: a coupon offer reaches each follower's own coupon through a
/// reply keyword instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Plain text (at most [`TEXT_MAX_CHARS`] characters).
    Text { text: String },
    /// An image from the account's permanent media library, by media_id.
    Image { media_id: String },
    /// Article cards: a draft from the account's draft box (草稿箱), by media_id.
    News { media_id: String },
    /// A coupon offer: each recipient is issued their own coupon of the campaign when the
    /// broadcast is planned (and only those who got one are sent it, where the audience
    /// goes as OpenID lists). A mass text cannot carry a per-follower link, so `text`
    /// invites a reply with `keyword`, which a reply rule answers with `reply`, where
    /// `{link}` becomes the follower's own page (their coupons). Followers who wrote in
    /// the last 48 hours get `text` and their link directly, as customer-service messages.
    Offer {
        campaign_id: i64,
        text: String,
        keyword: String,
        reply: String,
    },
}

/// The longest reply keyword of a coupon offer.
pub const KEYWORD_MAX_CHARS: usize = 20;

/// WeChat's limit for a text mass message (about 600 Chinese characters is commonly
/// quoted; 2,000 bytes is the documented one for customer-service text). Patron keeps
/// texts under this many characters.
pub const TEXT_MAX_CHARS: usize = 600;

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Text { .. } => "text",
            Message::Image { .. } => "image",
            Message::News { .. } => "news",
            Message::Offer { .. } => "offer",
        }
    }

    /// The campaign whose coupons the broadcast issues.
    pub fn campaign(&self) -> Option<i64> {
        match self {
            Message::Offer { campaign_id, .. } => Some(*campaign_id),
            _ => None,
        }
    }

    /// Checks what a merchant typed: every problem, by field.
    pub fn check(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        match self {
            Message::Text { text } => {
                if text.trim().is_empty() {
                    out.push(invalid("text", "required"));
                } else if text.chars().count() > TEXT_MAX_CHARS {
                    out.push(invalid("text", "too_long"));
                }
            }
            Message::Image { media_id } | Message::News { media_id } => {
                let ok = !media_id.trim().is_empty()
                    && media_id.len() <= 128
                    && media_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    out.push(invalid("media_id", "invalid_media_id"));
                }
            }
            Message::Offer {
                text,
                keyword,
                reply,
                ..
            } => {
                let keyword = keyword.trim();
                if text.trim().is_empty() {
                    out.push(invalid("text", "required"));
                } else if text.chars().count() > TEXT_MAX_CHARS {
                    out.push(invalid("text", "too_long"));
                } else if text.contains("{link}") {
                    // The mass text is the same for everyone: a link in it would be one
                    // follower's (or nobody's).
                    out.push(invalid("text", "no_link_in_mass_text"));
                } else if !keyword.is_empty()
                    && !text.to_lowercase().contains(&keyword.to_lowercase())
                {
                    out.push(invalid("text", "keyword_not_in_text"));
                }
                if keyword.is_empty() {
                    out.push(invalid("keyword", "required"));
                } else if keyword.chars().count() > KEYWORD_MAX_CHARS
                    || keyword.chars().any(char::is_whitespace)
                {
                    out.push(invalid("keyword", "invalid_offer_keyword"));
                }
                if !reply.contains("{link}") {
                    out.push(invalid("reply", "link_required"));
                } else if reply.chars().count() > TEXT_MAX_CHARS {
                    out.push(invalid("reply", "too_long"));
                }
            }
        }
        out
    }

    /// The text a follower reachable by customer-service messages gets: the offer's text
    /// and their own link (filled in when sent).
    pub fn direct_text(&self) -> Option<String> {
        match self {
            Message::Text { text } => Some(text.clone()),
            Message::Offer { text, .. } => Some(format!("{text}\n{{link}}")),
            _ => None,
        }
    }
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    /// Every follower.
    All,
    /// The followers carrying a tag (sent by WeChat's tag when the tag is synced with
    /// WeChat, else as an OpenID list).
    Tag { tag_id: i64 },
    /// The followers a saved segment matches when the broadcast is planned.
    Segment { segment_id: i64 },
    /// An uploaded list of OpenIDs.
    OpenIds { openids: Vec<String> },
    /// Followers who wrote in the last 48 hours: reachable by customer-service messages,
    /// which count against no broadcast quota.
    Recent,
}

/// The most OpenIDs an uploaded list may hold.
pub const OPENID_LIST_MAX: usize = 1_000_000;

impl Audience {
    pub fn kind(&self) -> &'static str {
        match self {
            Audience::All => "all",
            Audience::Tag { .. } => "tag",
            Audience::Segment { .. } => "segment",
            Audience::OpenIds { .. } => "openids",
            Audience::Recent => "recent",
        }
    }

    /// Whether sending uses one of the quota's slots: everything but the customer-service
    /// route to followers who wrote recently.
    pub fn uses_quota(&self) -> bool {
        !matches!(self, Audience::Recent)
    }

    /// Reads an uploaded list: one OpenID per line (or separated by commas, spaces or
    /// semicolons), a header line `openid` allowed, duplicates dropped, order kept.
    pub fn parse_openids(text: &str) -> Result<Vec<String>, Invalid> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for item in text
            .split(|c: char| c == '\n' || c == '\r' || c == ',' || c == ';' || c.is_whitespace())
        {
            let item = item.trim().trim_matches('"').trim_start_matches('\u{feff}');
            if item.is_empty() || item.eq_ignore_ascii_case("openid") {
                continue;
            }
            let ok = item.len() <= 64
                && item
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(invalid("openids", "invalid_openid"));
            }
            if seen.insert(item.to_string()) {
                out.push(item.to_string());
            }
        }
        if out.is_empty() {
            return Err(invalid("openids", "required"));
        }
        if out.len() > OPENID_LIST_MAX {
            return Err(invalid("openids", "too_many"));
        }
        Ok(out)
    }
}

/// How long to wait before the next email so that `sent` emails in `elapsed` keep to
/// `per_minute` (evenly spaced, no burst): zero when the pace allows one now.
pub fn email_pause(
    sent: u64,
    elapsed: std::time::Duration,
    per_minute: u32,
) -> std::time::Duration {
    let per_minute = u64::from(per_minute.max(1));
    // The `sent`-th email (counting from 0) may leave at sent × 60 s / per_minute.
    let due = std::time::Duration::from_millis(sent * 60_000 / per_minute);
    due.saturating_sub(elapsed)
}

/// Where a broadcast is in its life.
pub mod status {
    /// Being written; not scheduled.
    pub const DRAFT: &str = "draft";
    /// Waiting for a merchant admin's approval (when the tenant asks for one).
    pub const AWAITING_APPROVAL: &str = "awaiting_approval";
    /// Approved; may be scheduled.
    pub const APPROVED: &str = "approved";
    /// Holds a quota slot and a time; the scheduler starts it when due.
    pub const SCHEDULED: &str = "scheduled";
    /// Started: its job is sending it.
    pub const SENDING: &str = "sending";
    /// Every chunk was accepted by WeChat (its results arrive as events).
    pub const SENT: &str = "sent";
    /// Could not be sent (its job ran out of attempts); may be retried from its page.
    pub const FAILED: &str = "failed";
    /// Discarded before it was sent.
    pub const CANCELLED: &str = "cancelled";
    /// A recurring template: the scheduler makes each occurrence a broadcast of its own.
    pub const RECURRING: &str = "recurring";
    /// An occurrence of a recurring broadcast whose period had no free slot.
    pub const SKIPPED: &str = "skipped";

    /// Can still be edited (editing sends it back to draft, so approval is asked again).
    pub fn editable(s: &str) -> bool {
        matches!(s, DRAFT | AWAITING_APPROVAL | APPROVED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn utc(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn presets_follow_the_account_kind() {
        assert_eq!(QuotaPolicy::preset(AccountKind::Subscription).count, 1);
        assert_eq!(
            QuotaPolicy::preset(AccountKind::VerifiedSubscription).period,
            Period::Day
        );
        let service = QuotaPolicy::preset(AccountKind::Service);
        assert_eq!(
            (service.period, service.count, service.follower_monthly_cap),
            (Period::Month, 4, Some(4))
        );
        assert!(QuotaPolicy::custom(Period::Day, 0, None).is_err());
        assert!(QuotaPolicy::custom(Period::Month, 3, Some(0)).is_err());
        assert!(QuotaPolicy::custom(Period::Month, 101, None).is_err());
        assert_eq!(
            QuotaPolicy::custom(Period::Month, 8, Some(4))
                .unwrap()
                .count,
            8
        );
    }

    #[test]
    fn days_and_months_are_the_tenants_local_calendar() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        // 16:30 UTC on the 5th is 00:30 on the 6th in Shanghai.
        assert_eq!(
            Period::Day.key_at(utc("2026-12-05 16:30"), sh).to_string(),
            "2026-12-06"
        );
        assert_eq!(
            Period::Month
                .key_at(utc("2026-12-31 16:00"), sh)
                .to_string(),
            "2027-01"
        );
        let key = PeriodKey::parse("2027-01").unwrap();
        assert_eq!(key.start_utc(sh), utc("2026-12-31 16:00"));
        assert_eq!(key.end_utc(sh), utc("2027-01-31 16:00"));
        assert_eq!(
            PeriodKey::parse("2026-02-28").unwrap().next().to_string(),
            "2026-03-01"
        );
        assert_eq!(PeriodKey::parse("2026-13"), None);
        // New York's day of the spring change has 23 hours, of the autumn one 25.
        let ny: Tz = "America/New_York".parse().unwrap();
        let spring = PeriodKey::parse("2026-03-08").unwrap();
        assert_eq!(
            spring.end_utc(ny) - spring.start_utc(ny),
            Duration::hours(23)
        );
        let autumn = PeriodKey::parse("2026-11-01").unwrap();
        assert_eq!(
            autumn.end_utc(ny) - autumn.start_utc(ny),
            Duration::hours(25)
        );
        // 02:30 does not exist in New York on 8 March 2026.
        assert_eq!(local_to_utc(utc("2026-03-08 02:30"), ny), None);
        // Santiago moves its clocks at midnight: the day starts at 01:00.
        let scl: Tz = "America/Santiago".parse().unwrap();
        let day = PeriodKey::parse("2026-09-06").unwrap();
        assert_eq!(
            utc_to_local(day.start_utc(scl), scl),
            utc("2026-09-06 01:00")
        );
    }

    #[test]
    fn a_full_period_offers_the_next_free_one_at_the_same_time_of_day() {
        let sh: Tz = "Asia/Shanghai".parse().unwrap();
        let daily = QuotaPolicy::preset(AccountKind::Subscription);
        // Wanted 2026-12-06 20:00 local; the 6th and 7th are full.
        let wanted = utc("2026-12-06 12:00");
        let (key, at) = next_free(&daily, wanted, sh, 60, |k| {
            u32::from(["2026-12-07"].contains(&k.to_string().as_str()))
        })
        .unwrap();
        assert_eq!(key.to_string(), "2026-12-08");
        assert_eq!(at, utc("2026-12-08 12:00"));
        let monthly = QuotaPolicy::preset(AccountKind::Service);
        let (key, at) = next_free(&monthly, wanted, sh, 12, |_| 0).unwrap();
        assert_eq!(key.to_string(), "2027-01");
        assert_eq!(at, utc("2026-12-31 16:00") + Duration::hours(20));
        assert_eq!(next_free(&daily, wanted, sh, 5, |_| 1), None);
        assert_eq!(free_slot(&monthly, &[0, 2]), Some(1));
        assert_eq!(free_slot(&daily, &[0]), None);
    }

    #[test]
    fn uploaded_openid_lists_are_read_leniently_and_checked() {
        let list = Audience::parse_openids("\u{feff}openid\r\no_1\r\no_2, o_1;o-3\n\n").unwrap();
        assert_eq!(list, ["o_1", "o_2", "o-3"]);
        assert!(Audience::parse_openids("o_1\n<script>").is_err());
        assert!(Audience::parse_openids("openid\n").is_err());
        assert!(!Audience::Recent.uses_quota() && Audience::All.uses_quota());
        assert!(!Message::Text { text: " ".into() }.check().is_empty());
        assert!(Message::Image {
            media_id: "MEDIA_1-x".into()
        }
        .check()
        .is_empty());
        assert!(!Message::News {
            media_id: "a b".into()
        }
        .check()
        .is_empty());
    }

    /// Property: across random zones (with and without daylight saving), instants and
    /// both periods, every instant falls in exactly one period, the periods tile time
    /// without gaps or overlaps (each ends where the next starts), and the period of its
    /// own start is the period itself: so a slot counted per period can never be counted
    /// twice or escape counting, whatever the calendar does.
    #[test]
    fn periods_tile_time_in_every_zone() {
        let zones = [
            "Asia/Shanghai",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Pacific/Chatham",
            "Asia/Kathmandu",
            "Pacific/Apia",
            "UTC",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        for _ in 0..20_000 {
            let tz: Tz = zones[rng.gen_range(0..zones.len())].parse().unwrap();
            let period = [Period::Day, Period::Month][rng.gen_range(0..2)];
            // 2020 to 2035, to the minute.
            let at = utc("2020-01-01 00:00") + Duration::minutes(rng.gen_range(0..8_000_000));
            let key = period.key_at(at, tz);
            let (start, end) = (key.start_utc(tz), key.end_utc(tz));
            assert!(
                start <= at && at < end,
                "{tz} {at} not in {key} [{start}, {end})"
            );
            assert_eq!(
                period.key_at(start, tz),
                key,
                "{tz} {key} starts outside itself"
            );
            assert_eq!(
                period.key_at(end, tz),
                key.next(),
                "{tz} {key} and the next overlap"
            );
            assert_eq!(PeriodKey::parse(&key.to_string()), Some(key));
            let hours = (end - start).num_hours();
            match period {
                Period::Day => assert!((22..=25).contains(&hours), "{tz} {key}: {hours} h"),
                Period::Month => assert!((27 * 24..=31 * 24 + 2).contains(&hours)),
            }
        }
    }

    #[test]
    fn a_coupon_offer_names_its_keyword_and_links_only_in_the_reply() {
        let offer = |text: &str, keyword: &str, reply: &str| Message::Offer {
            campaign_id: 1,
            text: text.into(),
            keyword: keyword.into(),
            reply: reply.into(),
        };
        let fields = |m: Message| {
            m.check()
                .into_iter()
                .map(|i| format!("{}:{}", i.field, i.code))
                .collect::<Vec<_>>()
        };
        assert!(fields(offer("Reply GIFT for 10% off", "gift", "Yours: {link}")).is_empty());
        assert_eq!(
            fields(offer("Reply now for 10% off", "GIFT", "Yours: {link}")),
            ["text:keyword_not_in_text"]
        );
        assert_eq!(
            fields(offer("GIFT {link}", "GIFT", "Yours")),
            ["text:no_link_in_mass_text", "reply:link_required"]
        );
        assert_eq!(
            fields(offer("", "two words", "{link}")),
            ["text:required", "keyword:invalid_offer_keyword"]
        );
        let m = offer("Reply GIFT", "GIFT", "{link}");
        assert_eq!(m.campaign(), Some(1));
        assert_eq!(m.direct_text().as_deref(), Some("Reply GIFT\n{link}"));
        // Stored as JSON with its kind.
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"kind\":\"offer\""), "{json}");
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), m);
    }

    #[test]
    fn emails_are_spaced_to_the_rate() {
        use std::time::Duration as D;
        // 120 a minute: one every 500 ms.
        assert_eq!(email_pause(0, D::ZERO, 120), D::ZERO);
        assert_eq!(email_pause(1, D::ZERO, 120), D::from_millis(500));
        assert_eq!(
            email_pause(4, D::from_millis(1_200), 120),
            D::from_millis(800)
        );
        // Behind the pace (the server was slow): no pause, and no burst to catch up
        // beyond the pace itself.
        assert_eq!(email_pause(4, D::from_secs(5), 120), D::ZERO);
        // Over a minute, never more than the rate.
        let sent_in_a_minute = (0..1_000u64)
            .take_while(|&n| email_pause(n, D::from_secs(60), 120) == D::ZERO)
            .count();
        assert_eq!(sent_in_a_minute, 121, "the 0th plus one every 500 ms");
        assert_eq!(
            email_pause(3, D::ZERO, 0),
            D::from_secs(180),
            "0 reads as 1"
        );
    }
}
