//! What the demo's customers did over the period, made up from a seeded RNG (the same
//! history for the same day, period and merchant): who followed when and through which
//! QR code, what they wrote and tapped, when they came into a store and with what
//! basket, who unfollowed. Pure: `seed` turns it into WeChat pushes and till work.
//!
//! The shape: followers arrive every day with a weekly rhythm (weekends busier) and a
//! growth trend over the period, plus one campaign spike (the café's anniversary week);
//! each follower is a lurker, a casual customer or a regular, which sets how often they
//! write, tap the menu, check in and come by; some unfollow, most soon after following.

use super::world::{Merchant, PHONE_HOURS};
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Weekday};
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

/// The RNG's seed (per merchant: this plus its index).
pub const SEED: u64 = 2026_1201;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Lurker,
    Casual,
    Regular,
}

#[derive(Debug, Clone)]
pub struct Fan {
    pub openid: String,
    pub followed_at: NaiveDateTime,
    pub home_store: usize,
    pub level: Level,
    pub left_at: Option<NaiveDateTime>,
    /// Their last push (the follower row's last update).
    pub last_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Follow { scene: Option<&'static str> },
    Scan(&'static str),
    Text(String),
    Click(&'static str),
    Unfollow,
}

/// A push from a follower (UTC time).
#[derive(Debug, Clone)]
pub struct Push {
    pub at: NaiveDateTime,
    pub fan: usize,
    pub act: Act,
}

/// A purchase at a store's till.
#[derive(Debug, Clone)]
pub struct Visit {
    pub at: NaiveDateTime,
    pub fan: usize,
    pub store: usize,
    pub basket_fen: i64,
    /// Came to use a coupon they were given (they redeem one if they hold one).
    pub keen: bool,
    /// Paid with WeChat Pay (others pay otherwise, and leave no trace unless they
    /// redeem a coupon).
    pub wechat_pay: bool,
}

/// A coupon of the merchant's goodwill campaign, issued by hand.
#[derive(Debug, Clone)]
pub struct Manual {
    pub at: NaiveDateTime,
    pub fan: usize,
    pub campaign: usize,
}

pub struct History {
    pub fans: Vec<Fan>,
    /// In time order.
    pub pushes: Vec<Push>,
    /// In time order.
    pub visits: Vec<Visit>,
    pub manual: Vec<Manual>,
    /// The spike's local days (first, last), if the merchant has one in the period.
    pub spike: Option<(NaiveDate, NaiveDate)>,
    /// The period's first local day.
    pub first_day: NaiveDate,
}

/// Local wall time in `tz` of a UTC instant.
pub fn local(tz: Tz, utc: NaiveDateTime) -> NaiveDateTime {
    utc.and_utc().with_timezone(&tz).naive_local()
}

/// The UTC instant of a local wall time (the first, if the clocks repeat it; a skipped
/// time moves on by an hour).
pub fn utc(tz: Tz, local: NaiveDateTime) -> NaiveDateTime {
    patron_domain::broadcasts::local_to_utc(local, tz)
        .or_else(|| patron_domain::broadcasts::local_to_utc(local + TimeDelta::hours(1), tz))
        .unwrap_or(local)
}

/// How busy a weekday is.
fn weekday_factor(d: NaiveDate) -> f64 {
    match d.weekday() {
        Weekday::Mon | Weekday::Tue => 0.85,
        Weekday::Wed | Weekday::Thu => 0.9,
        Weekday::Fri => 1.05,
        Weekday::Sat => 1.35,
        Weekday::Sun => 1.25,
    }
}

/// Follows on the spike's days, as a multiple of an ordinary day.
const SPIKE: [f64; 7] = [3.2, 2.7, 2.1, 1.8, 1.5, 1.3, 1.15];

struct Gen<'a> {
    rng: StdRng,
    index: u64,
    m: &'a Merchant,
    tz: Tz,
    end: NaiveDateTime,
    spike: Option<(NaiveDate, NaiveDate)>,
    used: HashSet<(usize, i64, u8)>,
}

impl Gen<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return 0;
        }
        let mut x = self.rng.gen_range(0.0..total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    fn poisson(&mut self, lambda: f64) -> usize {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            // Normal approximation (Box–Muller).
            let (u1, u2): (f64, f64) = (self.rng.gen_range(1e-12..1.0), self.rng.gen());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (lambda + lambda.sqrt() * z).round().max(0.0) as usize;
        }
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.rng.gen::<f64>();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.rng.gen::<f64>()).ln()
    }

    /// A time on local day `d`, its hour drawn by `hours`.
    fn time_on(&mut self, d: NaiveDate, hours: &[u32; 24]) -> NaiveDateTime {
        let w: Vec<f64> = hours.iter().map(|h| f64::from(*h)).collect();
        let hour = self.weighted(&w) as u32;
        let t = d
            .and_hms_opt(hour, self.rng.gen_range(0..60), self.rng.gen_range(0..60))
            .unwrap_or_else(|| d.and_time(chrono::NaiveTime::MIN));
        utc(self.tz, t)
    }

    /// A time strictly between `a` and `b` (UTC), by the weekly rhythm and `hours`.
    fn between(
        &mut self,
        a: NaiveDateTime,
        b: NaiveDateTime,
        hours: &[u32; 24],
    ) -> Option<NaiveDateTime> {
        if b - a < TimeDelta::minutes(2) {
            return None;
        }
        let (da, db) = (local(self.tz, a).date(), local(self.tz, b).date());
        let span = (db - da).num_days();
        for _ in 0..12 {
            let d = da + TimeDelta::days(self.rng.gen_range(0..=span));
            if !self.chance(weekday_factor(d) / 1.35) {
                continue;
            }
            let t = self.time_on(d, hours);
            if t > a && t < b {
                return Some(t);
            }
        }
        let secs = (b - a).num_seconds();
        Some(a + TimeDelta::seconds(self.rng.gen_range(1..secs)))
    }

    fn in_spike(&self, at: NaiveDateTime) -> bool {
        let d = local(self.tz, at).date();
        self.spike.is_some_and(|(a, b)| d >= a && d <= b)
    }

    /// `at`, moved on a second at a time until this follower has no push of this kind
    /// in that second (WeChat's event key is follower + second + event).
    fn unique(&mut self, fan: usize, at: NaiveDateTime, kind: u8) -> NaiveDateTime {
        let mut at = at;
        while !self.used.insert((fan, at.and_utc().timestamp(), kind)) {
            at += TimeDelta::seconds(1);
        }
        at
    }

    fn openid(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut s = self.m.openid_prefix.to_string();
        while s.len() < 28 {
            s.push(ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char);
        }
        s
    }

    /// A keyword a follower writes at `at` (one of its spellings), and whether its rule
    /// gives a coupon.
    fn keyword(&mut self, at: NaiveDateTime) -> Option<(String, bool)> {
        let spiking = self.in_spike(at);
        let w: Vec<f64> = self
            .m
            .keywords
            .iter()
            .map(|k| match (k.spike_only, spiking) {
                (true, true) => 6.0,
                (true, false) => 0.0,
                _ => k.weight,
            })
            .collect();
        if w.iter().sum::<f64>() <= 0.0 {
            return None;
        }
        let k = &self.m.keywords[self.weighted(&w)];
        let n = self.rng.gen_range(0..=k.also.len());
        let word = if n == 0 { k.word } else { k.also[n - 1] };
        Some((word.to_string(), k.campaign.is_some()))
    }
}

/// The merchant's history over the `days` local days up to `now` (UTC).
pub fn make(m: &Merchant, index: usize, days: u32, now: NaiveDateTime, tz: Tz) -> History {
    let today = local(tz, now).date();
    let days = days.max(1);
    let first_day = today - TimeDelta::days(i64::from(days) - 1);
    let spike = m.posters.iter().any(|p| p.spike).then(|| {
        let start = today - TimeDelta::days(i64::from(days / 3).max(2));
        (start.max(first_day), start + TimeDelta::days(6))
    });
    let mut g = Gen {
        rng: StdRng::seed_from_u64(SEED + index as u64),
        index: index as u64,
        m,
        tz,
        end: now - TimeDelta::minutes(2),
        spike,
        used: HashSet::new(),
    };
    let mut h = History {
        fans: Vec::new(),
        pushes: Vec::new(),
        visits: Vec::new(),
        manual: Vec::new(),
        spike,
        first_day,
    };
    let store_w: Vec<f64> = m.stores.iter().map(|s| s.weight).collect();
    // QR codes outside the spike: every store's, then the posters that are not the spike's.
    let qr_w: Vec<f64> = m
        .stores
        .iter()
        .map(|s| s.weight)
        .chain(
            m.posters
                .iter()
                .map(|p| if p.spike { 0.0 } else { p.weight }),
        )
        .collect();
    let spike_scene = m.posters.iter().find(|p| p.spike).map(|p| p.scene);
    for k in 0..days {
        let d = first_day + TimeDelta::days(i64::from(k));
        let growth = 0.55 + 0.75 * f64::from(k) / f64::from((days - 1).max(1));
        let spike_factor = match spike {
            Some((a, _)) if d >= a && (d - a).num_days() < SPIKE.len() as i64 => {
                SPIKE[(d - a).num_days() as usize]
            }
            _ => 1.0,
        };
        let lambda = m.follows_per_day * growth * weekday_factor(d) * spike_factor;
        for _ in 0..g.poisson(lambda) {
            let from_spike = spike_factor > 1.0 && g.chance((spike_factor - 1.0) / spike_factor);
            let scene: Option<&'static str> = if from_spike {
                spike_scene
            } else if g.chance(m.qr_share) {
                let i = g.weighted(&qr_w);
                Some(if i < m.stores.len() {
                    m.stores[i].scene
                } else {
                    m.posters[i - m.stores.len()].scene
                })
            } else {
                None
            };
            let store_scene = m.stores.iter().position(|s| Some(s.scene) == scene);
            let hours = if store_scene.is_some() {
                &m.visit_hours
            } else {
                &PHONE_HOURS
            };
            let at = g.time_on(d, hours);
            if at >= g.end {
                continue;
            }
            let home_store = match store_scene {
                Some(i) => i,
                None => g.weighted(&store_w),
            };
            let level = match g.rng.gen::<f64>() {
                x if x < if from_spike { 0.65 } else { 0.5 } => Level::Lurker,
                x if x < 0.86 => Level::Casual,
                _ => Level::Regular,
            };
            let fan = h.fans.len();
            let at = g.unique(fan, at, 0);
            h.fans.push(Fan {
                openid: g.openid(),
                followed_at: at,
                home_store,
                level,
                left_at: None,
                last_at: at,
            });
            h.pushes.push(Push {
                at,
                fan,
                act: Act::Follow { scene },
            });
            life(&mut g, &mut h, fan, from_spike);
        }
    }
    manual_issues(&mut g, &mut h);
    h.pushes.sort_by_key(|p| p.at);
    h.visits.sort_by_key(|v| v.at);
    h.manual.sort_by_key(|v| v.at);
    for p in &h.pushes {
        let f = &mut h.fans[p.fan];
        f.last_at = f.last_at.max(p.at);
    }
    h
}

/// What one follower does between following and unfollowing (or now), from an RNG of
/// their own (so a history made a minute later differs only at its end).
fn life(g: &mut Gen<'_>, h: &mut History, fan: usize, from_spike: bool) {
    let own =
        StdRng::seed_from_u64(SEED ^ (g.index << 40) ^ (fan as u64).wrapping_mul(0x9E37_79B9));
    let shared = std::mem::replace(&mut g.rng, own);
    lived(g, h, fan, from_spike);
    g.rng = shared;
}

fn lived(g: &mut Gen<'_>, h: &mut History, fan: usize, from_spike: bool) {
    let m = g.m;
    let (at, level, home) = {
        let f = &h.fans[fan];
        (f.followed_at, f.level, f.home_store)
    };
    let leaves = g.chance(if from_spike { 0.22 } else { 0.1 });
    let left_at = leaves
        .then(|| {
            at + TimeDelta::minutes(10) + TimeDelta::seconds((g.exponential(6.0) * 86_400.0) as i64)
        })
        .filter(|l| *l < g.end);
    let until = left_at.unwrap_or(g.end);
    let weeks = (until - at).num_seconds() as f64 / (7.0 * 86_400.0);
    // A week's texts, check-ins, menu taps and visits.
    let (texts, checkins, clicks, visits) = match level {
        Level::Lurker => (0.1, 0.0, 0.08, 0.03),
        Level::Casual => (0.4, 0.25, 0.3, 0.2),
        Level::Regular => (0.9, 1.2, 0.6, 0.6),
    };
    let mut pushes: Vec<(NaiveDateTime, Act)> = Vec::new();
    // When a keyword gave them a coupon, they may come to use it.
    let mut coupon_at: Option<NaiveDateTime> = None;
    // Many write a keyword right after following (the welcome told them to).
    if g.chance(if from_spike { 0.6 } else { 0.3 }) {
        let t = at + TimeDelta::seconds(g.rng.gen_range(40..1200));
        if t < until {
            if let Some((k, coupon)) = g.keyword(t) {
                pushes.push((t, Act::Text(k)));
                if coupon {
                    coupon_at = coupon_at.or(Some(t));
                }
            }
        }
    }
    for _ in 0..g.poisson(texts * weeks) {
        let Some(t) = g.between(at, until, &PHONE_HOURS) else {
            break;
        };
        let text = match g.keyword(t) {
            Some((k, coupon)) if g.chance(0.72) => {
                if coupon {
                    coupon_at = Some(coupon_at.map_or(t, |c| c.min(t)));
                }
                k
            }
            _ => m.chatter[g.rng.gen_range(0..m.chatter.len())].to_string(),
        };
        pushes.push((t, Act::Text(text)));
    }
    if !m.checkin_word.is_empty() {
        for _ in 0..g.poisson(checkins * weeks) {
            let Some(t) = g.between(at, until, &PHONE_HOURS) else {
                break;
            };
            pushes.push((t, Act::Text(m.checkin_word.to_string())));
        }
    }
    let click_w: Vec<f64> = m.clicks.iter().map(|c| c.weight).collect();
    for _ in 0..g.poisson(clicks * weeks) {
        let Some(t) = g.between(at, until, &PHONE_HOURS) else {
            break;
        };
        let key = m.clicks[g.weighted(&click_w)].key;
        pushes.push((t, Act::Click(key)));
    }
    let store_w: Vec<f64> = m.stores.iter().map(|s| s.weight).collect();
    let mut visit = |g: &mut Gen<'_>, h: &mut History, t: NaiveDateTime, keen: bool| {
        let store = if g.chance(0.75) {
            home
        } else {
            g.weighted(&store_w)
        };
        let (lo, hi) = m.basket_fen;
        // Most baskets near the low end: a coffee, a loaf; some big orders.
        let x: f64 = g.rng.gen::<f64>().powf(1.8);
        let basket = (lo as f64 + x * (hi - lo) as f64) as i64 / 100 * 100;
        h.visits.push(Visit {
            at: t,
            fan,
            store,
            basket_fen: basket,
            keen,
            wechat_pay: g.chance(0.65),
        });
        // A quarter scan the store's code at the table first.
        if g.chance(0.25) {
            let s = t - TimeDelta::seconds(g.rng.gen_range(60..480));
            if s > at {
                pushes.push((s, Act::Scan(m.stores[store].scene)));
            }
        }
    };
    // Who was given a coupon often comes to use it: on following (the welcome's, the
    // spike poster's) or when a keyword gave one.
    let mut keen = Vec::new();
    match (from_spike, m.welcome_campaign) {
        (true, _) => keen.push((at, 0.6, 6.0)),
        (false, Some(_)) => keen.push((at, 0.45, 10.0)),
        _ => {}
    }
    if let Some(t) = coupon_at {
        keen.push((t, 0.5, 12.0));
    }
    for (from, p, days) in keen {
        if g.chance(p) {
            let last = (from + TimeDelta::seconds((days * 86_400.0) as i64)).min(until);
            if let Some(t) = g.between(from, last, &m.visit_hours) {
                visit(g, h, t, true);
            }
        }
    }
    for _ in 0..g.poisson(visits * weeks) {
        let Some(t) = g.between(at, until, &m.visit_hours) else {
            break;
        };
        visit(g, h, t, false);
    }
    for (t, act) in pushes {
        let kind = match act {
            Act::Text(_) => 1,
            Act::Click(_) => 2,
            _ => 3,
        };
        let t = g.unique(fan, t.max(at + TimeDelta::seconds(30)), kind);
        if t < until {
            h.pushes.push(Push { at: t, fan, act });
        }
    }
    if let Some(l) = left_at {
        let l = g.unique(fan, l, 4);
        h.pushes.push(Push {
            at: l,
            fan,
            act: Act::Unfollow,
        });
        h.fans[fan].left_at = Some(l);
    }
}

/// The goodwill campaign's coupons, given by the manager to a follower now and then.
fn manual_issues(g: &mut Gen<'_>, h: &mut History) {
    let Some(campaign) = g.m.campaigns.iter().position(|c| c.manual) else {
        return;
    };
    let Some(first) = h.fans.first().map(|f| f.followed_at) else {
        return;
    };
    let mut t = first + TimeDelta::days(2);
    while t < g.end {
        let d = local(g.tz, t).date();
        let at = g.time_on(d, &g.m.visit_hours.clone());
        let candidates: Vec<usize> = (0..h.fans.len())
            .filter(|&i| {
                let f = &h.fans[i];
                f.followed_at < at && f.left_at.is_none_or(|l| l > at) && f.level != Level::Lurker
            })
            .collect();
        if at < g.end && !candidates.is_empty() {
            let fan = candidates[g.rng.gen_range(0..candidates.len())];
            h.manual.push(Manual { at, fan, campaign });
        }
        t += TimeDelta::hours(g.rng.gen_range(48..144));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        NaiveDateTime::parse_from_str("2026-12-01 06:30:00", "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_same_day_makes_the_same_history() {
        let m = &crate::demo::world::merchants()[0];
        let tz = chrono_tz::Asia::Shanghai;
        let (a, b) = (make(m, 0, 30, now(), tz), make(m, 0, 30, now(), tz));
        assert_eq!(a.fans.len(), b.fans.len());
        assert_eq!(a.pushes.len(), b.pushes.len());
        assert_eq!(a.fans[10].openid, b.fans[10].openid);
        assert!(a.fans.len() > 300, "{} followers", a.fans.len());
    }

    #[test]
    fn a_history_is_in_order_and_in_the_past() {
        let tz = chrono_tz::Asia::Shanghai;
        for (i, m) in crate::demo::world::merchants().iter().enumerate() {
            let h = make(m, i, 21, now(), tz);
            assert!(h.pushes.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(h.pushes.iter().all(|p| p.at < now()));
            // Each follower's follow comes first and an unfollow last.
            for (f, fan) in h.fans.iter().enumerate() {
                let mine: Vec<&Push> = h.pushes.iter().filter(|p| p.fan == f).collect();
                assert!(matches!(mine[0].act, Act::Follow { .. }));
                assert_eq!(mine[0].at, fan.followed_at);
                if let Some(l) = fan.left_at {
                    assert!(matches!(mine.last().unwrap().act, Act::Unfollow));
                    assert!(mine.iter().all(|p| p.at <= l));
                }
            }
            assert!(h
                .visits
                .iter()
                .all(|v| v.at < now() && v.store < m.stores.len()));
        }
    }

    #[test]
    fn weekends_are_busier_than_weekdays() {
        let m = &crate::demo::world::merchants()[0];
        let tz = chrono_tz::Asia::Shanghai;
        let h = make(m, 0, 90, now(), tz);
        let (mut weekend, mut weekday) = (0.0, 0.0);
        for f in &h.fans {
            match local(tz, f.followed_at).weekday() {
                Weekday::Sat | Weekday::Sun => weekend += 1.0,
                _ => weekday += 1.0,
            }
        }
        assert!(weekend / 2.0 > weekday / 5.0, "{weekend} vs {weekday}");
    }
}
