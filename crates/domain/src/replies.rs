//! Auto-reply rules: which rule answers an inbound message, and what it answers with. Pure:
//! the webhook hands in what it parsed and the tenant's local time, the store hands in the
//! tenant's rules, this picks one.

use crate::validate::{invalid, Invalid};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};

/// A keyword pattern, compiled once when the rules are loaded (case-insensitive).
/// `regex-lite` runs in time linear in the input, so a pattern cannot stall the webhook.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    re: regex_lite::Regex,
}

/// The longest pattern accepted.
pub const MAX_PATTERN_CHARS: usize = 200;

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, Invalid> {
        if source.is_empty() || source.chars().count() > MAX_PATTERN_CHARS {
            return Err(invalid("trigger_value", "invalid_regex"));
        }
        let re = regex_lite::RegexBuilder::new(source)
            .case_insensitive(true)
            .size_limit(1 << 16)
            .build()
            .map_err(|_| invalid("trigger_value", "invalid_regex"))?;
        Ok(Pattern {
            source: source.to_string(),
            re,
        })
    }
    pub fn as_str(&self) -> &str {
        &self.source
    }
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Pattern {}

/// What a rule listens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A follow; with a scene, only follows (and scans by followers) through that
    /// parametric QR code.
    Subscribe(Option<String>),
    /// The whole message text, compared case-insensitively after trimming.
    KeywordExact(String),
    /// The text contains this, case-insensitively.
    KeywordContains(String),
    /// The text matches this regular expression (case-insensitively).
    KeywordRegex(Pattern),
    /// A menu CLICK with this key.
    Click(String),
    /// Any user message no other rule answered.
    Default,
}

impl Trigger {
    pub const KINDS: [&'static str; 6] = [
        "keyword_exact",
        "keyword_contains",
        "keyword_regex",
        "subscribe",
        "click",
        "default",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Subscribe(_) => "subscribe",
            Trigger::KeywordExact(_) => "keyword_exact",
            Trigger::KeywordContains(_) => "keyword_contains",
            Trigger::KeywordRegex(_) => "keyword_regex",
            Trigger::Click(_) => "click",
            Trigger::Default => "default",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Trigger::Subscribe(s) => s.as_deref().unwrap_or(""),
            Trigger::KeywordExact(s) | Trigger::KeywordContains(s) | Trigger::Click(s) => s,
            Trigger::KeywordRegex(p) => p.as_str(),
            Trigger::Default => "",
        }
    }

    pub fn from_parts(kind: &str, value: &str) -> Option<Trigger> {
        Trigger::parse(kind, value).ok()
    }

    /// Like [`Trigger::from_parts`], saying what is wrong.
    pub fn parse(kind: &str, value: &str) -> Result<Trigger, Invalid> {
        let v = value.trim().to_string();
        let need = |t: fn(String) -> Trigger| {
            if v.is_empty() {
                Err(invalid("trigger_value", "required"))
            } else if v.chars().count() > 200 {
                Err(invalid("trigger_value", "too_long"))
            } else {
                Ok(t(v.clone()))
            }
        };
        match kind {
            "subscribe" => Ok(Trigger::Subscribe((!v.is_empty()).then_some(v.clone()))),
            "keyword_exact" => need(Trigger::KeywordExact),
            "keyword_contains" => need(Trigger::KeywordContains),
            "keyword_regex" => Ok(Trigger::KeywordRegex(Pattern::new(&v)?)),
            "click" => need(Trigger::Click),
            "default" => Ok(Trigger::Default),
            _ => Err(invalid("trigger_kind", "invalid_choice")),
        }
    }
}

/// When a rule is active, in the tenant's local time: on these weekdays, between these
/// times of day (a window may run past midnight, e.g. 22:00–06:00), optionally only
/// between two dates (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Window {
    /// Bit 0 is Monday … bit 6 Sunday.
    pub days: u8,
    /// Minutes after midnight; `start == end` means all day.
    pub start: u16,
    pub end: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

impl Window {
    pub const ALL_DAYS: u8 = 0b111_1111;

    pub fn contains(&self, local: NaiveDateTime) -> bool {
        let date = local.date();
        if self.from.is_some_and(|f| date < f) || self.to.is_some_and(|t| date > t) {
            return false;
        }
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let weekday = |d: NaiveDate| self.days & (1 << d.weekday().num_days_from_monday()) != 0;
        if self.start == self.end {
            return weekday(date);
        }
        if self.start < self.end {
            weekday(date) && (self.start..self.end).contains(&minute)
        } else if minute >= self.start {
            // Past midnight: the evening part belongs to today's weekday…
            weekday(date)
        } else if minute < self.end {
            // …the early-morning part to the day the window opened.
            date.pred_opt().is_some_and(weekday)
        } else {
            false
        }
    }

    /// Reads a window from form fields: weekday numbers 1–7 (Monday = 1), `HH:MM` times
    /// (both empty: all day), optional `YYYY-MM-DD` dates. No days and no times and no
    /// dates is no window at all.
    pub fn from_form(
        days: &[u8],
        start: &str,
        end: &str,
        from: &str,
        to: &str,
    ) -> Result<Option<Window>, Invalid> {
        let time = |s: &str, field: &'static str| -> Result<Option<u16>, Invalid> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            let (h, m) = s.split_once(':').ok_or(invalid(field, "invalid_time"))?;
            match (h.parse::<u16>(), m.parse::<u16>()) {
                (Ok(h), Ok(m)) if h < 24 && m < 60 => Ok(Some(h * 60 + m)),
                _ => Err(invalid(field, "invalid_time")),
            }
        };
        let date = |s: &str, field: &'static str| -> Result<Option<NaiveDate>, Invalid> {
            match s.trim() {
                "" => Ok(None),
                d => crate::validate::date(d)
                    .map(Some)
                    .map_err(|code| invalid(field, code)),
            }
        };
        let (start, end) = (time(start, "active_start")?, time(end, "active_end")?);
        let (from, to) = (date(from, "active_from")?, date(to, "active_to")?);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(invalid("active_to", "before_start"));
            }
        }
        let mut mask = 0u8;
        for d in days {
            if !(1..=7).contains(d) {
                return Err(invalid("active_days", "invalid_choice"));
            }
            mask |= 1 << (d - 1);
        }
        if mask == 0 && start.is_none() && end.is_none() && from.is_none() && to.is_none() {
            return Ok(None);
        }
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (s, e),
            (None, None) => (0, 0),
            _ => return Err(invalid("active_end", "required")),
        };
        Ok(Some(Window {
            days: if mask == 0 { Window::ALL_DAYS } else { mask },
            start,
            end,
            from,
            to,
        }))
    }
}

/// One article of a news reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Article {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub pic_url: String,
    pub url: String,
}

/// One message a rule sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        text: String,
    },
    /// A permanent image material's media id.
    Image {
        media_id: String,
    },
    /// Up to 8 articles; a passive reply to a user's message shows only the first.
    News {
        articles: Vec<Article>,
    },
}

/// WeChat cuts passive text at 2048 bytes.
pub const MAX_TEXT_BYTES: usize = 2048;
/// A news reply carries at most 8 articles.
pub const MAX_ARTICLES: usize = 8;
/// A rule sends at most this many messages: the first as the passive reply, the others as
/// customer-service messages.
pub const MAX_MESSAGES: usize = 5;

fn http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 1024
        && !s.contains(char::is_whitespace)
}

impl Content {
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::News { .. } => "news",
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        match self {
            Content::Text { text } => {
                if text.trim().is_empty() {
                    return Err(invalid("reply_body", "required"));
                }
                if text.len() > MAX_TEXT_BYTES {
                    return Err(invalid("reply_body", "too_long"));
                }
            }
            Content::Image { media_id } => {
                let ok = !media_id.is_empty()
                    && media_id.len() <= 128
                    && media_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    return Err(invalid("media_id", "invalid_media_id"));
                }
            }
            Content::News { articles } => {
                if articles.is_empty() || articles.len() > MAX_ARTICLES {
                    return Err(invalid("articles", "articles_count"));
                }
                for a in articles {
                    if a.title.trim().is_empty() || a.title.chars().count() > 64 {
                        return Err(invalid("article_title", "required"));
                    }
                    if a.description.chars().count() > 512 {
                        return Err(invalid("article_description", "too_long"));
                    }
                    if !http_url(&a.url) {
                        return Err(invalid("article_url", "invalid_url"));
                    }
                    if !a.pic_url.is_empty() && !http_url(&a.pic_url) {
                        return Err(invalid("article_pic_url", "invalid_url"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks what a rule sends and stores it as `(reply_kind, reply_body)`: one text message
/// as its text (rules from before the other kinds read the same), anything else as JSON.
pub fn encode(messages: &[Content]) -> Result<(&'static str, String), Invalid> {
    if messages.is_empty() {
        return Err(invalid("reply_body", "required"));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(invalid("reply_body", "too_many_messages"));
    }
    for m in messages {
        m.validate()?;
    }
    Ok(match messages {
        [Content::Text { text }] => ("text", text.trim().to_string()),
        [one] => (one.kind(), serde_json::to_string(one).unwrap_or_default()),
        many => ("several", serde_json::to_string(many).unwrap_or_default()),
    })
}

/// Reads a stored `(reply_kind, reply_body)` back.
pub fn decode(kind: &str, body: &str) -> Option<Vec<Content>> {
    match kind {
        "text" => Some(vec![Content::Text {
            text: body.to_string(),
        }]),
        "image" | "news" => serde_json::from_str::<Content>(body).ok().map(|c| vec![c]),
        "several" => serde_json::from_str(body).ok(),
        _ => None,
    }
}

/// What arrived, reduced to what rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    Text(&'a str),
    /// Any other user message (image, voice, location…).
    OtherMessage,
    /// A follow, optionally through a parametric QR code.
    Subscribe {
        qr_scene: Option<&'a str>,
    },
    /// A scan of a parametric QR code by someone who already follows (`SCAN`): only a
    /// subscribe rule for that very scene answers (not the welcome for any follow).
    Scan(&'a str),
    Click(&'a str),
    /// Events no rule can answer (unsubscribe, job results…).
    Silent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<R> {
    pub id: i64,
    pub trigger: Trigger,
    /// Higher first; ties go to the older rule (lower id).
    pub priority: i64,
    /// When the rule is active; `None`: always.
    pub window: Option<Window>,
    pub reply: R,
}

/// The rule that answers `incoming` at the tenant's local time `now`, if any: the
/// highest-priority active match, where a specific match (keyword, scene) beats the
/// catch-alls (default, any-scene subscribe).
pub fn choose<'r, R>(
    rules: &'r [Rule<R>],
    incoming: &Incoming<'_>,
    now: NaiveDateTime,
) -> Option<&'r Rule<R>> {
    let score = |r: &Rule<R>| -> Option<u8> {
        match (&r.trigger, incoming) {
            (Trigger::KeywordExact(k), Incoming::Text(t))
                if t.trim().to_lowercase() == k.to_lowercase() =>
            {
                Some(3)
            }
            (Trigger::KeywordContains(k), Incoming::Text(t))
                if t.to_lowercase().contains(&k.to_lowercase()) =>
            {
                Some(2)
            }
            (Trigger::KeywordRegex(p), Incoming::Text(t)) if p.is_match(t) => Some(2),
            (Trigger::Default, Incoming::Text(_) | Incoming::OtherMessage) => Some(0),
            (Trigger::Subscribe(Some(s)), Incoming::Subscribe { qr_scene: Some(q) }) if s == q => {
                Some(3)
            }
            (Trigger::Subscribe(Some(s)), Incoming::Scan(q)) if s == q => Some(3),
            (Trigger::Subscribe(None), Incoming::Subscribe { .. }) => Some(1),
            (Trigger::Click(k), Incoming::Click(c)) if k == c => Some(3),
            _ => None,
        }
    };
    rules
        .iter()
        .filter(|r| r.window.as_ref().is_none_or(|w| w.contains(now)))
        .filter_map(|r| score(r).map(|s| (s, r)))
        .max_by(|(sa, a), (sb, b)| {
            sa.cmp(sb)
                .then(a.priority.cmp(&b.priority))
                .then(b.id.cmp(&a.id))
        })
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: i64, trigger: Trigger, priority: i64) -> Rule<&'static str> {
        Rule {
            id,
            trigger,
            priority,
            window: None,
            reply: "",
        }
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn noon() -> NaiveDateTime {
        at("2026-11-25 12:00")
    }

    #[test]
    fn regex_keywords_match_case_insensitively_and_bad_patterns_are_refused() {
        let rules = vec![
            rule(1, Trigger::Default, 0),
            rule(
                2,
                Trigger::parse("keyword_regex", r"^order\s*#?\d{4,}$").unwrap(),
                0,
            ),
        ];
        assert_eq!(
            choose(&rules, &Incoming::Text("ORDER #12345"), noon())
                .unwrap()
                .id,
            2
        );
        assert_eq!(
            choose(&rules, &Incoming::Text("order 12"), noon())
                .unwrap()
                .id,
            1
        );
        assert_eq!(
            Trigger::parse("keyword_regex", "(unclosed")
                .unwrap_err()
                .code,
            "invalid_regex"
        );
        assert!(Trigger::parse("keyword_regex", &"a".repeat(201)).is_err());
    }

    #[test]
    fn windows_follow_weekdays_hours_past_midnight_and_dates() {
        // Weekdays 09:00–18:00.
        let office = Window::from_form(&[1, 2, 3, 4, 5], "09:00", "18:00", "", "")
            .unwrap()
            .unwrap();
        assert!(office.contains(at("2026-11-25 09:00"))); // a Wednesday
        assert!(!office.contains(at("2026-11-25 18:00")));
        assert!(!office.contains(at("2026-11-28 12:00"))); // Saturday
                                                           // Every night 22:00–06:00: Friday night's window reaches into Saturday.
        let night = Window::from_form(&[5], "22:00", "06:00", "", "")
            .unwrap()
            .unwrap();
        assert!(night.contains(at("2026-11-27 23:30")));
        assert!(night.contains(at("2026-11-28 05:59")));
        assert!(!night.contains(at("2026-11-28 06:00")));
        assert!(
            !night.contains(at("2026-11-27 05:00")),
            "Thursday night is not in it"
        );
        // A campaign's dates, all day.
        let promo = Window::from_form(&[], "", "", "2026-12-01", "2026-12-31")
            .unwrap()
            .unwrap();
        assert!(promo.contains(at("2026-12-31 23:59")));
        assert!(!promo.contains(at("2026-11-30 23:59")));
        assert_eq!(Window::from_form(&[], "", "", "", "").unwrap(), None);
        assert!(Window::from_form(&[], "25:00", "06:00", "", "").is_err());
        assert!(Window::from_form(&[], "09:00", "", "", "").is_err());
        assert!(Window::from_form(&[8], "", "", "", "").is_err());
        assert!(Window::from_form(&[], "", "", "2026-12-31", "2026-12-01").is_err());
        // An inactive rule is passed over for the next match.
        let mut r = vec![rule(1, Trigger::Default, 0), rule(2, Trigger::Default, 9)];
        r[1].window = Some(office);
        assert_eq!(
            choose(&r, &Incoming::Text("hi"), at("2026-11-25 10:00"))
                .unwrap()
                .id,
            2
        );
        assert_eq!(
            choose(&r, &Incoming::Text("hi"), at("2026-11-25 20:00"))
                .unwrap()
                .id,
            1
        );
    }

    #[test]
    fn contents_encode_compatibly_and_are_checked() {
        let text = vec![Content::Text {
            text: " Hello ".into(),
        }];
        assert_eq!(encode(&text).unwrap(), ("text", "Hello".to_string()));
        let news = vec![Content::News {
            articles: vec![Article {
                title: "Sale".into(),
                url: "https://shop.example/sale".into(),
                ..Default::default()
            }],
        }];
        let (k, b) = encode(&news).unwrap();
        assert_eq!(k, "news");
        assert_eq!(decode(k, &b).unwrap(), news);
        let several = vec![
            text[0].clone(),
            Content::Image {
                media_id: "m_1-x".into(),
            },
        ];
        let (k, b) = encode(&several).unwrap();
        assert_eq!(k, "several");
        assert_eq!(decode(k, &b).unwrap()[1], several[1]);
        assert!(encode(&[]).is_err());
        assert!(encode(&vec![text[0].clone(); 6]).is_err());
        assert!(encode(&[Content::Image {
            media_id: "bad id".into()
        }])
        .is_err());
        assert!(encode(&[Content::News { articles: vec![] }]).is_err());
        assert!(encode(&[Content::News {
            articles: vec![Article {
                title: "x".into(),
                url: "javascript:alert(1)".into(),
                ..Default::default()
            }]
        }])
        .is_err());
        assert!(encode(&[Content::Text {
            text: "x".repeat(2049)
        }])
        .is_err());
    }

    #[test]
    fn specific_beats_default_and_priority_breaks_ties() {
        let rules = vec![
            rule(1, Trigger::Default, 100),
            rule(2, Trigger::KeywordContains("menu".into()), 0),
            rule(3, Trigger::KeywordExact("Menu".into()), 0),
            rule(4, Trigger::KeywordContains("men".into()), 5),
        ];
        assert_eq!(
            choose(&rules, &Incoming::Text(" menu "), noon())
                .unwrap()
                .id,
            3
        );
        assert_eq!(
            choose(&rules, &Incoming::Text("the menu please"), noon())
                .unwrap()
                .id,
            4
        );
        assert_eq!(
            choose(&rules, &Incoming::Text("hello"), noon()).unwrap().id,
            1
        );
        assert_eq!(
            choose(&rules, &Incoming::OtherMessage, noon()).unwrap().id,
            1
        );
        assert!(choose(&rules, &Incoming::Silent, noon()).is_none());
    }

    #[test]
    fn subscribe_rules_can_target_a_qr_scene() {
        let rules = vec![
            rule(1, Trigger::Subscribe(None), 0),
            rule(2, Trigger::Subscribe(Some("store-7".into())), 0),
        ];
        assert_eq!(
            choose(
                &rules,
                &Incoming::Subscribe {
                    qr_scene: Some("store-7")
                },
                noon()
            )
            .unwrap()
            .id,
            2
        );
        assert_eq!(
            choose(
                &rules,
                &Incoming::Subscribe {
                    qr_scene: Some("other")
                },
                noon()
            )
            .unwrap()
            .id,
            1
        );
        assert_eq!(
            choose(&rules, &Incoming::Subscribe { qr_scene: None }, noon())
                .unwrap()
                .id,
            1
        );
        assert!(choose(&rules, &Incoming::Click("x"), noon()).is_none());
        assert_eq!(
            choose(&rules, &Incoming::Scan("store-7"), noon())
                .unwrap()
                .id,
            2
        );
        assert!(
            choose(&rules, &Incoming::Scan("other"), noon()).is_none(),
            "a scan by a follower does not get the welcome again"
        );
    }

    #[test]
    fn ties_go_to_the_older_rule() {
        let rules = vec![
            rule(9, Trigger::Click("k".into()), 0),
            rule(4, Trigger::Click("k".into()), 0),
        ];
        assert_eq!(choose(&rules, &Incoming::Click("k"), noon()).unwrap().id, 4);
    }

    #[test]
    fn triggers_round_trip_through_their_parts() {
        for t in [
            Trigger::Subscribe(None),
            Trigger::Subscribe(Some("a".into())),
            Trigger::KeywordExact("x".into()),
            Trigger::KeywordRegex(Pattern::new("^a+$").unwrap()),
            Trigger::Click("k".into()),
            Trigger::Default,
        ] {
            assert_eq!(Trigger::from_parts(t.kind(), t.value()), Some(t.clone()));
        }
        assert_eq!(Trigger::from_parts("keyword_exact", " "), None);
        assert_eq!(Trigger::from_parts("regex", "x"), None);
    }
}
