//! Auto-reply rules: which rule answers an inbound message. Pure: the webhook hands in what
//! it parsed, the store hands in the tenant's rules, this picks one.

use serde::{Deserialize, Serialize};

/// What a rule listens for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Trigger {
    /// A follow; with a scene, only follows through that parametric QR code.
    Subscribe(Option<String>),
    /// The whole message text, compared case-insensitively after trimming.
    KeywordExact(String),
    /// The text contains this, case-insensitively.
    KeywordContains(String),
    /// A menu CLICK with this key.
    Click(String),
    /// Any user message no other rule answered.
    Default,
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Subscribe(_) => "subscribe",
            Trigger::KeywordExact(_) => "keyword_exact",
            Trigger::KeywordContains(_) => "keyword_contains",
            Trigger::Click(_) => "click",
            Trigger::Default => "default",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Trigger::Subscribe(s) => s.as_deref().unwrap_or(""),
            Trigger::KeywordExact(s) | Trigger::KeywordContains(s) | Trigger::Click(s) => s,
            Trigger::Default => "",
        }
    }

    pub fn from_parts(kind: &str, value: &str) -> Option<Trigger> {
        let v = value.trim().to_string();
        Some(match kind {
            "subscribe" => Trigger::Subscribe((!v.is_empty()).then_some(v)),
            "keyword_exact" if !v.is_empty() => Trigger::KeywordExact(v),
            "keyword_contains" if !v.is_empty() => Trigger::KeywordContains(v),
            "click" if !v.is_empty() => Trigger::Click(v),
            "default" => Trigger::Default,
            _ => return None,
        })
    }
}

/// What arrived, reduced to what rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming<'a> {
    Text(&'a str),
    /// Any other user message (image, voice, location…).
    OtherMessage,
    Subscribe {
        qr_scene: Option<&'a str>,
    },
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
    pub reply: R,
}

/// The rule that answers `incoming`, if any: the highest-priority match, where a specific
/// match (keyword, scene) beats the catch-alls (default, any-scene subscribe).
pub fn choose<'r, R>(rules: &'r [Rule<R>], incoming: &Incoming<'_>) -> Option<&'r Rule<R>> {
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
            (Trigger::Default, Incoming::Text(_) | Incoming::OtherMessage) => Some(0),
            (Trigger::Subscribe(Some(s)), Incoming::Subscribe { qr_scene: Some(q) }) if s == q => {
                Some(3)
            }
            (Trigger::Subscribe(None), Incoming::Subscribe { .. }) => Some(1),
            (Trigger::Click(k), Incoming::Click(c)) if k == c => Some(3),
            _ => None,
        }
    };
    rules
        .iter()
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
            reply: "",
        }
    }

    #[test]
    fn specific_beats_default_and_priority_breaks_ties() {
        let rules = vec![
            rule(1, Trigger::Default, 100),
            rule(2, Trigger::KeywordContains("menu".into()), 0),
            rule(3, Trigger::KeywordExact("Menu".into()), 0),
            rule(4, Trigger::KeywordContains("men".into()), 5),
        ];
        assert_eq!(choose(&rules, &Incoming::Text(" menu ")).unwrap().id, 3);
        assert_eq!(
            choose(&rules, &Incoming::Text("the menu please"))
                .unwrap()
                .id,
            4
        );
        assert_eq!(choose(&rules, &Incoming::Text("hello")).unwrap().id, 1);
        assert_eq!(choose(&rules, &Incoming::OtherMessage).unwrap().id, 1);
        assert!(choose(&rules, &Incoming::Silent).is_none());
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
                }
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
                }
            )
            .unwrap()
            .id,
            1
        );
        assert_eq!(
            choose(&rules, &Incoming::Subscribe { qr_scene: None })
                .unwrap()
                .id,
            1
        );
        assert!(choose(&rules, &Incoming::Click("x")).is_none());
    }

    #[test]
    fn ties_go_to_the_older_rule() {
        let rules = vec![
            rule(9, Trigger::Click("k".into()), 0),
            rule(4, Trigger::Click("k".into()), 0),
        ];
        assert_eq!(choose(&rules, &Incoming::Click("k")).unwrap().id, 4);
    }

    #[test]
    fn triggers_round_trip_through_their_parts() {
        for t in [
            Trigger::Subscribe(None),
            Trigger::Subscribe(Some("a".into())),
            Trigger::KeywordExact("x".into()),
            Trigger::Click("k".into()),
            Trigger::Default,
        ] {
            assert_eq!(Trigger::from_parts(t.kind(), t.value()), Some(t.clone()));
        }
        assert_eq!(Trigger::from_parts("keyword_exact", " "), None);
        assert_eq!(Trigger::from_parts("regex", "x"), None);
    }
}
