//! The merchant's dashboard (issue 21): a period's daily figures, the period before it for
//! comparison, named (campaigns, stores, cashiers, QR codes) and grouped by day, week or
//! month. Read from the rolled figures (`stats_daily`) and a few small tables, never
//! from the archive: the page, its CSV downloads and the agency's portfolio share it.

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use patron_domain::period::{self, Bucket, Period, Step};
use patron_domain::TenantScope;
use patron_store::stats::{self, metric, Daily};
use patron_store::{DbConn, Result};
use std::collections::{BTreeMap, HashMap};

/// One dimension of a metric (a campaign, a store, a QR code…) over the period and the
/// period before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The stored dimension (an id, a scene, a text).
    pub key: String,
    /// What the page shows: the campaign's, store's or person's name, the QR code's
    /// label; the key itself otherwise.
    pub name: String,
    pub now: i64,
    pub before: i64,
}

/// A broadcast that started going out in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastFigures {
    pub id: i64,
    pub title: String,
    pub started_at: NaiveDateTime,
    pub status: String,
    /// Followers it was planned for.
    pub recipients: Option<i64>,
    /// WeChat's counts.
    pub sent: i64,
    pub filtered: i64,
    pub errors: i64,
    /// Its offer's coupons, and those redeemed to date.
    pub coupons_issued: i64,
    pub coupons_redeemed: i64,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub period: Period,
    pub previous: Period,
    pub step: Step,
    pub buckets: Vec<Bucket>,
    /// When the figures were last rolled.
    pub rolled_at: Option<NaiveDateTime>,
    /// Each metric's values per bucket (its dimensions summed).
    series: HashMap<String, Vec<i64>>,
    /// Each metric's total over the period and over the period before.
    totals: HashMap<String, (i64, i64)>,
    /// Each metric's dimensions, most first.
    dims: HashMap<String, Vec<Named>>,
    /// Followers at the end of each bucket, walked back from the latest reading by each
    /// day's follows less unfollows; none before the first reading.
    pub followers: Option<Vec<i64>>,
    /// The latest readings: followers and those reachable (wrote within 48 hours).
    pub followers_now: Option<i64>,
    pub reachable_now: Option<i64>,
    pub broadcasts: Vec<BroadcastFigures>,
    pub reconciliation: Vec<patron_store::reconcile::DayStatus>,
    /// Redemptions per local hour, 00 to 23, over the period.
    pub by_hour: [i64; 24],
}

/// The metrics whose values are sums (readings are not).
const SUMMED: [&str; 28] = [
    metric::FOLLOWS,
    metric::FOLLOWS_QR,
    metric::FOLLOWS_SCENE,
    metric::ACQUIRED,
    metric::STILL_FOLLOWING,
    metric::UNFOLLOWS,
    metric::MESSAGES,
    metric::ANSWERED,
    metric::EVENTS,
    metric::MENU_CLICKS,
    metric::RULE_HITS,
    metric::SCANS,
    metric::KEYWORD,
    metric::ISSUED,
    metric::OPENED,
    metric::REDEEMED,
    metric::REDEEMED_STORE,
    metric::REDEEMED_CASHIER,
    metric::REDEEMED_HOUR,
    metric::REDEEMED_CHANNEL,
    metric::VOIDED,
    metric::POINTS,
    metric::STAMPS,
    metric::CARDS_COMPLETED,
    metric::PAYMENTS,
    metric::PAYMENTS_FEN,
    metric::REFUNDS_FEN,
    metric::ATTRIBUTED_FEN,
];

impl Dashboard {
    /// A metric's values per bucket (zeros when it has none).
    pub fn series(&self, metric: &str) -> Vec<i64> {
        self.series
            .get(metric)
            .cloned()
            .unwrap_or_else(|| vec![0; self.buckets.len()])
    }

    /// A metric's total over the period and over the period before.
    pub fn total(&self, metric: &str) -> (i64, i64) {
        self.totals.get(metric).copied().unwrap_or_default()
    }

    /// A metric's dimensions over the period, most first (those with nothing in the
    /// period but something before come last).
    pub fn dims(&self, metric: &str) -> &[Named] {
        self.dims.get(metric).map_or(&[], Vec::as_slice)
    }

    /// Each bucket's label: its first day.
    pub fn labels(&self) -> Vec<NaiveDate> {
        self.buckets.iter().map(|b| b.first).collect()
    }

    /// Net follows per bucket.
    pub fn net(&self) -> Vec<i64> {
        self.series(metric::FOLLOWS)
            .iter()
            .zip(self.series(metric::UNFOLLOWS))
            .map(|(f, u)| f - u)
            .collect()
    }
}

/// The names the dimensions are shown with.
#[derive(Default)]
struct Names {
    campaigns: HashMap<String, String>,
    stores: HashMap<String, String>,
    people: HashMap<String, String>,
    scenes: HashMap<String, String>,
    cards: HashMap<String, String>,
    rules: HashMap<String, String>,
}

impl Names {
    fn load(c: &mut DbConn, scope: &TenantScope) -> Result<Names> {
        let campaigns = patron_store::coupons::list(c, scope)?
            .into_iter()
            .map(|k| (k.id.to_string(), k.name))
            .collect();
        let stores = patron_store::stores::list(c, scope)?
            .into_iter()
            .map(|s| (s.id.to_string(), s.name))
            .collect();
        let people = patron_store::users::tenant_members(c, scope)?
            .into_iter()
            .map(|m| (m.user.id.to_string(), m.user.name))
            .collect();
        let scenes = patron_store::qr_codes::list(c, scope)?
            .into_iter()
            .map(|q| (q.scene, q.label))
            .collect();
        let rules = patron_store::reply_rules::list(c, scope)?
            .into_iter()
            // "kind\tvalue": the page says the kind in its language.
            .map(|r| {
                (
                    r.id.to_string(),
                    format!("{}\t{}", r.trigger_kind, r.trigger_value),
                )
            })
            .collect();
        let cards = patron_store::stamps::list(c, scope)?
            .into_iter()
            .map(|k| (k.id.to_string(), k.name))
            .collect();
        Ok(Names {
            campaigns,
            stores,
            people,
            scenes,
            cards,
            rules,
        })
    }

    fn of(&self, metric: &str, key: &str) -> String {
        let table = match metric {
            metric::ISSUED | metric::OPENED | metric::REDEEMED | metric::VOIDED => &self.campaigns,
            metric::REDEEMED_STORE => &self.stores,
            metric::REDEEMED_CASHIER => &self.people,
            metric::FOLLOWS_QR | metric::SCANS => &self.scenes,
            metric::STAMPS | metric::CARDS_COMPLETED => &self.cards,
            metric::RULE_HITS => &self.rules,
            _ => return key.to_string(),
        };
        match table.get(key) {
            Some(name) if !name.is_empty() => name.clone(),
            _ => key.to_string(),
        }
    }
}

/// The dashboard of `period` for the scoped tenant (its zone `tz`), grouped by `step`.
pub fn load(
    c: &mut DbConn,
    scope: &TenantScope,
    tz: Tz,
    period: Period,
    step: Step,
) -> Result<Dashboard> {
    let previous = period.previous();
    let buckets = period::buckets(&period, step);
    let rows = stats::read(c, scope, previous.from, period.to, &SUMMED)?;
    let names = Names::load(c, scope)?;

    let mut per_day: HashMap<&str, BTreeMap<NaiveDate, i64>> = HashMap::new();
    let mut totals: HashMap<String, (i64, i64)> = HashMap::new();
    let mut dim_totals: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
    let mut by_hour = [0i64; 24];
    for Daily {
        day,
        metric,
        dim,
        value,
    } in &rows
    {
        let now = period.contains(*day);
        let t = totals.entry(metric.clone()).or_default();
        let d = dim_totals.entry((metric, dim)).or_default();
        if now {
            t.0 += value;
            d.0 += value;
            *per_day.entry(metric).or_default().entry(*day).or_default() += value;
            if metric == metric::REDEEMED_HOUR {
                if let Some(h) = dim.parse::<usize>().ok().filter(|h| *h < 24) {
                    by_hour[h] += value;
                }
            }
        } else {
            t.1 += value;
            d.1 += value;
        }
    }
    let series = per_day
        .into_iter()
        .map(|(m, days)| (m.to_string(), period::bucketed(&period, step, days)))
        .collect();
    let mut dims: HashMap<String, Vec<Named>> = HashMap::new();
    for ((m, key), (now, before)) in dim_totals {
        if key.is_empty() {
            continue;
        }
        dims.entry(m.to_string()).or_default().push(Named {
            key: key.to_string(),
            name: names.of(m, key),
            now,
            before,
        });
    }
    for list in dims.values_mut() {
        list.sort_by(|a, b| {
            b.now
                .cmp(&a.now)
                .then(b.before.cmp(&a.before))
                .then_with(|| a.name.cmp(&b.name))
        });
    }

    let followers_now = stats::latest_reading(c, scope, metric::FOLLOWERS)?;
    let reachable_now = stats::latest_reading(c, scope, metric::REACHABLE)?;
    let followers = match followers_now {
        Some(reading) => Some(cumulative(c, scope, &period, step, reading)?),
        None => None,
    };

    let (from_utc, to_utc) = (
        patron_domain::broadcasts::day_start_utc(period.from, tz),
        patron_domain::broadcasts::day_start_utc(period.to.succ_opt().unwrap_or(period.to), tz),
    );
    let sent = patron_store::broadcasts::started_between(c, scope, from_utc, to_utc)?;
    let channels: Vec<String> = sent
        .iter()
        .map(|b| patron_store::broadcasts::offer_channel(b.id))
        .collect();
    let redeemed: HashMap<String, i64> =
        stats::sum_by_dim(c, scope, metric::REDEEMED_CHANNEL, &channels)?
            .into_iter()
            .collect();
    let broadcasts = sent
        .into_iter()
        .zip(channels)
        .map(|(b, channel)| BroadcastFigures {
            id: b.id,
            title: b.title,
            started_at: b.started_at.unwrap_or(b.created_at),
            status: b.status,
            recipients: b.recipients,
            sent: b.sent_count,
            filtered: b.filter_count,
            errors: b.error_count,
            coupons_issued: b.coupons_issued,
            coupons_redeemed: redeemed.get(&channel).copied().unwrap_or(0),
        })
        .collect();

    Ok(Dashboard {
        period,
        previous,
        step,
        buckets,
        rolled_at: stats::rolled_at(c, scope)?,
        series,
        totals,
        dims,
        followers,
        followers_now: followers_now.map(|(_, v)| v),
        reachable_now: reachable_now.map(|(_, v)| v),
        broadcasts,
        reconciliation: patron_store::reconcile::day_statuses(c, scope, period.from, period.to)?,
        by_hour,
    })
}

/// Followers at the end of each bucket: the reading `(day, value)`, walked back (or
/// forward) day by day through follows less unfollows.
fn cumulative(
    c: &mut DbConn,
    scope: &TenantScope,
    p: &Period,
    step: Step,
    (read_on, value): (NaiveDate, i64),
) -> Result<Vec<i64>> {
    let (lo, hi) = (p.from.min(read_on), p.to.max(read_on));
    let mut net: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for d in stats::read(c, scope, lo, hi, &[metric::FOLLOWS, metric::UNFOLLOWS])? {
        let sign = if d.metric == metric::FOLLOWS { 1 } else { -1 };
        *net.entry(d.day).or_default() += sign * d.value;
    }
    // The net of the days after `a` up to and including `b`.
    let between = |a: NaiveDate, b: NaiveDate| -> i64 {
        net.iter()
            .filter(|(d, _)| **d > a && **d <= b)
            .map(|(_, v)| v)
            .sum()
    };
    let at_end_of = |day: NaiveDate| -> i64 {
        if day >= read_on {
            value + between(read_on, day)
        } else {
            value - between(day, read_on)
        }
    };
    Ok(period::buckets(p, step)
        .iter()
        .map(|b| at_end_of(b.last).max(0))
        .collect())
}

/// The local day of `now` in `tz`.
pub fn today(now: NaiveDateTime, tz: Tz) -> NaiveDate {
    now.and_utc().with_timezone(&tz).date_naive()
}
