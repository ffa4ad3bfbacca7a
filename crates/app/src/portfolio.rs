//! The agency's portfolio (issue 21): every merchant account side by side over a period,
//! from a handful of reads whatever the number of tenants (each tenant's days in one row
//! each, `stats_summary`; the last roll with its last push; quota slots; open
//! exceptions; broadcast settings).

use chrono::{NaiveDate, NaiveDateTime};
use patron_domain::period::Period;
use patron_domain::AgencyScope;
use patron_store::stats;
use patron_store::tenants::Tenant;
use patron_store::{DbConn, Result};
use std::collections::HashMap;

/// A webhook silent for longer than this is an alarm.
pub const SILENT_AFTER_HOURS: i64 = 24;

/// One merchant account's row.
#[derive(Debug, Clone)]
pub struct Row {
    pub tenant: Tenant,
    /// The latest followers reading in the period.
    pub followers: Option<i64>,
    /// Follows less unfollows: the period and the one before.
    pub growth: (i64, i64),
    pub messages: (i64, i64),
    pub redeemed: (i64, i64),
    pub revenue_fen: (i64, i64),
    /// Net follows and messages per day of the period, for the sparklines.
    pub growth_daily: Vec<i64>,
    pub messages_daily: Vec<i64>,
    /// Quota slots used in the period, and how many the period holds.
    pub slots_used: i64,
    pub slots: i64,
    pub open_exceptions: i64,
    /// When a follower last reached the account (as of the last roll).
    pub last_push_at: Option<NaiveDateTime>,
    /// WeChat has reached the account before and has been silent for more than
    /// [`SILENT_AFTER_HOURS`].
    pub silent: bool,
}

/// What the table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    Followers,
    Growth,
    Messages,
    Redeemed,
    Revenue,
    Exceptions,
    LastPush,
}

impl Sort {
    pub const ALL: [Sort; 8] = [
        Sort::Name,
        Sort::Followers,
        Sort::Growth,
        Sort::Messages,
        Sort::Redeemed,
        Sort::Revenue,
        Sort::Exceptions,
        Sort::LastPush,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Followers => "followers",
            Sort::Growth => "growth",
            Sort::Messages => "messages",
            Sort::Redeemed => "redeemed",
            Sort::Revenue => "revenue",
            Sort::Exceptions => "exceptions",
            Sort::LastPush => "last_push",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|k| k.code() == s)
    }

    /// Names sort A to Z first; figures most first.
    pub fn default_descending(self) -> bool {
        self != Sort::Name
    }
}

/// Sorts rows by `sort`, descending or not; ties by name.
pub fn sort(rows: &mut [Row], sort: Sort, descending: bool) {
    rows.sort_by(|a, b| {
        let o = match sort {
            Sort::Name => a
                .tenant
                .name
                .to_lowercase()
                .cmp(&b.tenant.name.to_lowercase()),
            Sort::Followers => a.followers.cmp(&b.followers),
            Sort::Growth => a.growth.0.cmp(&b.growth.0),
            Sort::Messages => a.messages.0.cmp(&b.messages.0),
            Sort::Redeemed => a.redeemed.0.cmp(&b.redeemed.0),
            Sort::Revenue => a.revenue_fen.0.cmp(&b.revenue_fen.0),
            Sort::Exceptions => a.open_exceptions.cmp(&b.open_exceptions),
            Sort::LastPush => a.last_push_at.cmp(&b.last_push_at),
        };
        let o = if descending { o.reverse() } else { o };
        o.then_with(|| a.tenant.name.cmp(&b.tenant.name))
    });
}

/// The agency's tenants over `period` (each tenant's local days), at `now`.
pub fn load(
    c: &mut DbConn,
    scope: &AgencyScope,
    period: Period,
    now: NaiveDateTime,
) -> Result<Vec<Row>> {
    let tenants = patron_store::tenants::list_for_agency(c, scope)?;
    let ids: Vec<i64> = tenants.iter().map(|t| t.id).collect();
    let previous = period.previous();
    let days_read = stats::summaries(c, &ids, previous.from, period.to)?;
    let rolled: HashMap<i64, Option<NaiveDateTime>> = stats::tenants_rolled(c, &ids)?
        .into_iter()
        .map(|(t, _, push)| (t, push))
        .collect();
    let open: HashMap<i64, i64> = patron_store::reconcile::open_counts(c, &ids)?
        .into_iter()
        .collect();
    let kinds: Vec<_> = tenants
        .iter()
        .map(|t| (t.id, crate::broadcasts::account_kind(t)))
        .collect();
    let settings = patron_store::broadcasts::settings_many(c, &kinds)?;
    // Slots are counted in UTC days around the period (a day's margin either side
    // covers every zone).
    let (from_utc, to_utc) = (
        (period.from - chrono::Days::new(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default(),
        (period.to + chrono::Days::new(2))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default(),
    );
    let used: HashMap<i64, i64> = patron_store::broadcasts::slots_used(c, &ids, from_utc, to_utc)?
        .into_iter()
        .collect();

    let days: Vec<NaiveDate> = period.each_day().collect();
    let index = |d: NaiveDate| days.iter().position(|x| *x == d);
    let mut rows: HashMap<i64, Row> = tenants
        .into_iter()
        .map(|t| {
            let id = t.id;
            let last_push_at = rolled.get(&id).copied().flatten();
            let policy = settings.get(&id).map(|s| s.policy);
            let slots = policy.map_or(0, |p| quota_in(&period, p));
            (
                id,
                Row {
                    tenant: t,
                    followers: None,
                    growth: (0, 0),
                    messages: (0, 0),
                    redeemed: (0, 0),
                    revenue_fen: (0, 0),
                    growth_daily: vec![0; days.len()],
                    messages_daily: vec![0; days.len()],
                    slots_used: used.get(&id).copied().unwrap_or(0),
                    slots,
                    open_exceptions: open.get(&id).copied().unwrap_or(0),
                    last_push_at,
                    silent: last_push_at
                        .is_some_and(|at| now - at > chrono::TimeDelta::hours(SILENT_AFTER_HOURS)),
                },
            )
        })
        .collect();
    let mut latest_reading: HashMap<i64, NaiveDate> = HashMap::new();
    for d in days_read {
        let Some(row) = rows.get_mut(&d.tenant_id) else {
            continue;
        };
        let growth = d.follows - d.unfollows;
        let add = |pair: &mut (i64, i64), v: i64| {
            if period.contains(d.day) {
                pair.0 += v
            } else {
                pair.1 += v
            }
        };
        add(&mut row.growth, growth);
        add(&mut row.messages, d.messages);
        add(&mut row.redeemed, d.redeemed);
        add(&mut row.revenue_fen, d.payments_fen);
        if let Some(i) = index(d.day) {
            row.growth_daily[i] += growth;
            row.messages_daily[i] += d.messages;
            if let Some(f) = d.followers {
                if latest_reading.get(&d.tenant_id).is_none_or(|x| *x < d.day) {
                    latest_reading.insert(d.tenant_id, d.day);
                    row.followers = Some(f);
                }
            }
        }
    }
    let mut out: Vec<Row> = rows.into_values().collect();
    sort(&mut out, Sort::Name, false);
    Ok(out)
}

/// How many broadcasts a quota allows over a period: per day times its days, or per
/// month times the months it touches.
fn quota_in(p: &Period, policy: patron_domain::broadcasts::QuotaPolicy) -> i64 {
    use chrono::Datelike;
    use patron_domain::broadcasts::Period as Unit;
    let count = i64::from(policy.count);
    match policy.period {
        Unit::Day => count * p.days(),
        Unit::Month => {
            let months = (p.to.year() - p.from.year()) as i64 * 12 + p.to.month() as i64
                - p.from.month() as i64
                + 1;
            count * months
        }
    }
}
