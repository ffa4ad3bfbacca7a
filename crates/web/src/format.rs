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
