//! Daily figures per tenant (issue 21): one local day's metrics computed from the
//! archive and stored in `stats_daily`, replacing that day's rows in one transaction.
//! The minute task and `patron stats rebuild` both go through [`roll_day`], so a figure
//! rolled live and one rebuilt later cannot differ.

use crate::schema::{
    coupon_events as ev, coupons as c, follower_counts as fc, followers as f, messages as m,
    payments as p, points_ledger as pl, refunds as r, stamp_events as se, stats_daily as sd,
    stats_rolled as sr, stats_summary as ss, tenants as t,
};
use crate::{write_tx, DbConn, Result};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;
use diesel::prelude::*;
use patron_domain::TenantScope;
use std::collections::BTreeMap;

/// The metrics a day holds. `dim` is "" unless a metric says otherwise.
pub mod metric {
    /// Follows (a first follow and every re-follow).
    pub const FOLLOWS: &str = "follows";
    /// Follows through a parametric QR code; dim: its scene.
    pub const FOLLOWS_QR: &str = "follows_qr";
    pub const UNFOLLOWS: &str = "unfollows";
    /// Follows by WeChat's subscribe scene (search, a QR code, a shared card…) as the
    /// follower's profile says it; dim: the scene, "" when not known yet.
    pub const FOLLOWS_SCENE: &str = "follows_scene";
    /// The day's cohort: distinct followers who followed that day, and of them those
    /// still following (as of the day's last roll or the daily cohort refresh).
    pub const ACQUIRED: &str = "acquired";
    pub const STILL_FOLLOWING: &str = "still_following";
    /// Messages followers wrote (text, image, voice, link…), not events.
    pub const MESSAGES: &str = "messages";
    /// Of those, answered at once by a reply rule.
    pub const ANSWERED: &str = "answered";
    /// Events (menu clicks, scans, location…), follows and unfollows included.
    pub const EVENTS: &str = "events";
    /// Pushes a reply rule answered; dim: the rule's id. Each answered push is matched
    /// again, when its day is rolled, against the rules as they are then, at the push's
    /// local time (the archive keeps the reply sent, not the rule that chose it).
    pub const RULE_HITS: &str = "rule_hits";
    /// Menu clicks; dim: the button's key.
    pub const MENU_CLICKS: &str = "menu_clicks";
    /// Scans of a parametric QR code by followers; dim: its scene.
    pub const SCANS: &str = "scans";
    /// The day's most written texts (up to [`super::TOP_KEYWORDS`]); dim: the text,
    /// trimmed and lower-cased.
    pub const KEYWORD: &str = "keyword";
    /// Coupons issued; dim: the campaign id.
    pub const ISSUED: &str = "issued";
    /// Coupons first opened on the follower's page; dim: the campaign id.
    pub const OPENED: &str = "opened";
    /// Coupons redeemed; dim: the campaign id.
    pub const REDEEMED: &str = "redeemed";
    /// Redemptions by store id, by cashier (user id, "" for the API) and by local hour
    /// ("00".."23").
    pub const REDEEMED_STORE: &str = "redeemed_store";
    pub const REDEEMED_CASHIER: &str = "redeemed_cashier";
    pub const REDEEMED_HOUR: &str = "redeemed_hour";
    /// Redemptions by the coupon's channel (`broadcast:7` for a broadcast's offer, `qr`,
    /// `api`…): which broadcast or QR code drove them.
    pub const REDEEMED_CHANNEL: &str = "redeemed_channel";
    /// Redemptions voided; dim: the campaign id.
    pub const VOIDED: &str = "voided";
    /// Points by ledger kind; dim: the kind (earn, spend, expire, adjust…), value: the
    /// sum of the entries' points.
    pub const POINTS: &str = "points";
    /// Stamps given (net of any taken back) and stamp cards completed; dim: the card id.
    pub const STAMPS: &str = "stamps";
    pub const CARDS_COMPLETED: &str = "cards_completed";
    /// Payments made that day: count and amount (fen); refunds that succeeded that day.
    pub const PAYMENTS: &str = "payments";
    pub const PAYMENTS_FEN: &str = "payments_fen";
    pub const REFUNDS_FEN: &str = "refunds_fen";
    /// Revenue of payments that carried a redeemed coupon (fen).
    pub const ATTRIBUTED_FEN: &str = "attributed_fen";
    /// Readings when the day was last rolled (the current day's change through it):
    /// followers now, and followers who wrote within 48 hours (reachable by a
    /// customer-service message).
    pub const FOLLOWERS: &str = "followers";
    pub const REACHABLE: &str = "reachable";
}

/// How many of a day's most written texts are kept.
pub const TOP_KEYWORDS: usize = 20;

/// One figure of a day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Figure {
    pub metric: String,
    pub dim: String,
    pub value: i64,
}

/// A tenant's local day as the UTC instants it runs between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub day: NaiveDate,
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub tz: Tz,
}

impl Window {
    pub fn new(day: NaiveDate, tz: Tz) -> Self {
        use patron_domain::broadcasts::day_start_utc;
        let next = day.succ_opt().unwrap_or(day);
        Window {
            day,
            from: day_start_utc(day, tz),
            to: day_start_utc(next, tz),
            tz,
        }
    }
}

/// Counts per (metric, dim), summed as they are added.
#[derive(Default)]
struct Tally(BTreeMap<(&'static str, String), i64>);

impl Tally {
    fn add(&mut self, metric: &'static str, dim: impl Into<String>, n: i64) {
        *self.0.entry((metric, dim.into())).or_default() += n;
    }

    fn figures(self) -> Vec<Figure> {
        self.0
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|((metric, dim), value)| Figure {
                metric: metric.to_string(),
                dim,
                value,
            })
            .collect()
    }
}

/// `SUM(column)` as a BIGINT, 0 over no rows (PostgreSQL sums BIGINTs as NUMERIC).
/// `column` is always one of this module's literals.
fn sum_bigint(column: &'static str) -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql(&format!("COALESCE(CAST(SUM({column}) AS BIGINT), 0)"))
}

/// A text as a keyword: trimmed, lower-cased, at most 40 characters.
pub fn keyword(text: &str) -> String {
    text.trim().to_lowercase().chars().take(40).collect()
}

/// The figures of one local day of a tenant, read from the archive. `now` decides the
/// readings ([`metric::FOLLOWERS`], [`metric::REACHABLE`]), taken only for the day that
/// holds it.
pub fn compute(
    conn: &mut DbConn,
    tenant: i64,
    w: &Window,
    now: NaiveDateTime,
) -> Result<Vec<Figure>> {
    let mut tally = Tally::default();
    // The inbound archive, grouped in the database: texts by their content (for the
    // keywords), events by name and key.
    let inbound = || {
        m::table
            .filter(m::tenant_id.eq(tenant))
            .filter(m::sent_at.ge(w.from))
            .filter(m::sent_at.lt(w.to))
            .filter(m::direction.eq("in"))
            .filter(m::follower_id.is_not_null())
    };
    let rows: Vec<(String, Option<String>, Option<String>, i64)> = inbound()
        .group_by((m::msg_type, m::event, m::content))
        .select((m::msg_type, m::event, m::content, diesel::dsl::count_star()))
        .load(conn)?;
    let answered: i64 = inbound()
        .filter(m::msg_type.ne("event"))
        .filter(m::reply.is_not_null())
        .count()
        .get_result(conn)?;
    tally.add(metric::ANSWERED, "", answered);
    let mut keywords: BTreeMap<String, i64> = BTreeMap::new();
    for (msg_type, event, content, n) in rows {
        if msg_type != "event" {
            tally.add(metric::MESSAGES, "", n);
            if msg_type == "text" {
                if let Some(text) = content.as_deref().map(keyword).filter(|k| !k.is_empty()) {
                    *keywords.entry(text).or_default() += n;
                }
            }
            continue;
        }
        tally.add(metric::EVENTS, "", n);
        let key = content.unwrap_or_default();
        match event.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("subscribe") => {
                tally.add(metric::FOLLOWS, "", n);
                if let Some(scene) = key.strip_prefix("qrscene_") {
                    tally.add(metric::FOLLOWS_QR, scene, n);
                }
            }
            Some("unsubscribe") => tally.add(metric::UNFOLLOWS, "", n),
            Some("click") => tally.add(metric::MENU_CLICKS, key, n),
            Some("scan") => tally.add(metric::SCANS, key, n),
            _ => {}
        }
    }
    rule_hits(conn, tenant, w, &mut tally)?;
    let mut top: Vec<(String, i64)> = keywords.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (text, n) in top.into_iter().take(TOP_KEYWORDS) {
        tally.add(metric::KEYWORD, text, n);
    }

    // The day's new followers: by subscribe scene, and still following.
    if let Some(f) = cohort(conn, tenant, w)? {
        tally.add(metric::ACQUIRED, "", f.acquired);
        tally.add(metric::STILL_FOLLOWING, "", f.still);
        for (scene, n) in f.scenes {
            tally.add(metric::FOLLOWS_SCENE, scene, n);
        }
    }

    // Coupons issued, by campaign.
    let issued: Vec<(i64, i64)> = c::table
        .filter(c::tenant_id.eq(tenant))
        .filter(c::issued_at.ge(w.from))
        .filter(c::issued_at.lt(w.to))
        .group_by(c::campaign_id)
        .select((c::campaign_id, diesel::dsl::count_star()))
        .load(conn)?;
    for (campaign, n) in issued {
        tally.add(metric::ISSUED, campaign.to_string(), n);
    }

    // Coupons first opened by their follower, by campaign.
    let opened: Vec<(i64, i64)> = c::table
        .filter(c::tenant_id.eq(tenant))
        .filter(c::opened_at.ge(w.from))
        .filter(c::opened_at.lt(w.to))
        .group_by(c::campaign_id)
        .select((c::campaign_id, diesel::dsl::count_star()))
        .load(conn)?;
    for (campaign, n) in opened {
        tally.add(metric::OPENED, campaign.to_string(), n);
    }

    // Redemptions and voids: by campaign, store, cashier and local hour.
    // (action, campaign, channel, store, cashier, when)
    type CouponEvent = (String, i64, String, Option<i64>, Option<i64>, NaiveDateTime);
    let events: Vec<CouponEvent> = ev::table
        .inner_join(c::table.on(c::id.eq(ev::coupon_id)))
        .filter(ev::tenant_id.eq(tenant))
        .filter(ev::at.ge(w.from))
        .filter(ev::at.lt(w.to))
        .select((
            ev::action,
            c::campaign_id,
            c::channel,
            ev::store_id,
            ev::user_id,
            ev::at,
        ))
        .load(conn)?;
    for (action, campaign, channel, store, user, at) in events {
        match action.as_str() {
            "redeem" => {
                tally.add(metric::REDEEMED, campaign.to_string(), 1);
                tally.add(metric::REDEEMED_CHANNEL, channel, 1);
                tally.add(
                    metric::REDEEMED_STORE,
                    store.map(|s| s.to_string()).unwrap_or_default(),
                    1,
                );
                tally.add(
                    metric::REDEEMED_CASHIER,
                    user.map(|u| u.to_string()).unwrap_or_default(),
                    1,
                );
                let hour = at.and_utc().with_timezone(&w.tz).hour();
                tally.add(metric::REDEEMED_HOUR, format!("{hour:02}"), 1);
            }
            "void" => tally.add(metric::VOIDED, campaign.to_string(), 1),
            _ => {}
        }
    }

    // Points by kind.
    let points: Vec<(String, i64)> = pl::table
        .filter(pl::tenant_id.eq(tenant))
        .filter(pl::at.ge(w.from))
        .filter(pl::at.lt(w.to))
        .group_by(pl::kind)
        .select((pl::kind, sum_bigint("points")))
        .load(conn)?;
    for (kind, sum) in points {
        tally.add(metric::POINTS, kind, sum);
    }

    // Stamps by card: given, and cards completed (the event that issued the reward).
    let stamps: Vec<(i64, i64, Option<i64>)> = se::table
        .filter(se::tenant_id.eq(tenant))
        .filter(se::at.ge(w.from))
        .filter(se::at.lt(w.to))
        .select((se::card_id, se::stamps, se::coupon_id))
        .load(conn)?;
    for (card, n, reward) in stamps {
        tally.add(metric::STAMPS, card.to_string(), n);
        if reward.is_some() {
            tally.add(metric::CARDS_COMPLETED, card.to_string(), 1);
        }
    }

    // Money: payments made that day (and those that carried a coupon), refunds that
    // succeeded that day.
    let paid: Vec<(i64, Option<i64>)> = p::table
        .filter(p::tenant_id.eq(tenant))
        .filter(p::paid_at.ge(w.from))
        .filter(p::paid_at.lt(w.to))
        .select((p::total_fen, p::coupon_id))
        .load(conn)?;
    for (fen, coupon) in paid {
        tally.add(metric::PAYMENTS, "", 1);
        tally.add(metric::PAYMENTS_FEN, "", fen);
        if coupon.is_some() {
            tally.add(metric::ATTRIBUTED_FEN, "", fen);
        }
    }
    let refunded: i64 = r::table
        .filter(r::tenant_id.eq(tenant))
        .filter(r::succeeded_at.ge(w.from))
        .filter(r::succeeded_at.lt(w.to))
        .select(sum_bigint("amount_fen"))
        .first(conn)?;
    tally.add(metric::REFUNDS_FEN, "", refunded);

    // Readings, for the day that holds `now`.
    if (w.from..w.to).contains(&now) {
        let following: i64 = fc::table
            .filter(fc::tenant_id.eq(tenant))
            .select(sum_bigint("subscribed"))
            .first(conn)?;
        tally.add(metric::FOLLOWERS, "", following);
        let reachable: i64 = f::table
            .filter(f::tenant_id.eq(tenant))
            .filter(f::subscribed.eq(true))
            .filter(f::last_interaction_at.ge(now - chrono::TimeDelta::hours(48)))
            .count()
            .get_result(conn)?;
        tally.add(metric::REACHABLE, "", reachable);
    }
    Ok(tally.figures())
}

/// Counts the day's answered pushes by the reply rule that answers them ([`metric::RULE_HITS`]):
/// the webhook's own choice (`domain::replies::choose`, after the check-in word) over the
/// tenant's enabled rules, at each push's local time.
fn rule_hits(conn: &mut DbConn, tenant: i64, w: &Window, tally: &mut Tally) -> Result<()> {
    use patron_domain::replies::{choose, Incoming};
    let agency: i64 = t::table.find(tenant).select(t::agency_id).first(conn)?;
    let scope = TenantScope::system(patron_domain::TenantRef {
        id: patron_domain::TenantId(tenant),
        agency_id: patron_domain::AgencyId(agency),
    });
    let rules = crate::reply_rules::active(conn, &scope)?;
    if rules.is_empty() {
        return Ok(());
    }
    let program = crate::loyalty::program(conn, &scope)?;
    let answered: Vec<(String, Option<String>, Option<String>, NaiveDateTime)> = m::table
        .filter(m::tenant_id.eq(tenant))
        .filter(m::sent_at.ge(w.from))
        .filter(m::sent_at.lt(w.to))
        .filter(m::direction.eq("in"))
        .filter(m::reply.is_not_null())
        .select((m::msg_type, m::event, m::content, m::sent_at))
        .load(conn)?;
    for (msg_type, event, content, at) in answered {
        let content = content.unwrap_or_default();
        let event = event.map(|e| e.to_ascii_lowercase());
        let incoming = match (msg_type.as_str(), event.as_deref()) {
            ("text", _) => Incoming::Text(&content),
            ("event", Some("subscribe")) => Incoming::Subscribe {
                qr_scene: content.strip_prefix("qrscene_"),
            },
            ("event", Some("scan")) => Incoming::Scan(&content),
            ("event", Some("click")) => Incoming::Click(&content),
            ("event", _) => Incoming::Silent,
            _ => Incoming::OtherMessage,
        };
        // The check-in word answers before any rule.
        if let (Some(p), Incoming::Text(t)) = (&program, &incoming) {
            if p.is_checkin(t) {
                continue;
            }
        }
        let local = at.and_utc().with_timezone(&w.tz).naive_local();
        if let Some(rule) = choose(&rules, &incoming, local) {
            tally.add(metric::RULE_HITS, rule.id.to_string(), 1);
        }
    }
    Ok(())
}

/// A day's cohort of new followers.
struct Cohort {
    acquired: i64,
    still: i64,
    scenes: BTreeMap<String, i64>,
}

/// The followers who followed in `w` (each once), read through the follows' own index.
fn cohort(conn: &mut DbConn, tenant: i64, w: &Window) -> Result<Option<Cohort>> {
    let rows: Vec<(i64, bool, Option<String>)> = m::table
        .inner_join(f::table.on(m::follower_id.eq(f::id.nullable())))
        .filter(m::tenant_id.eq(tenant))
        .filter(m::event.eq("subscribe"))
        .filter(m::sent_at.ge(w.from))
        .filter(m::sent_at.lt(w.to))
        .select((f::id, f::subscribed, f::subscribe_scene))
        .distinct()
        .load(conn)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut c = Cohort {
        acquired: rows.len() as i64,
        still: 0,
        scenes: BTreeMap::new(),
    };
    for (_, subscribed, scene) in rows {
        c.still += i64::from(subscribed);
        *c.scenes.entry(scene.unwrap_or_default()).or_default() += 1;
    }
    Ok(Some(c))
}

/// Refreshes the cohort figures (acquired, still following) of each of `days`, leaving
/// the days' other figures as they are: the daily task keeps the last 12 weeks' retention
/// current. Answers how many days had a cohort.
pub fn refresh_cohorts(conn: &mut DbConn, tenant: i64, days: &[Window]) -> Result<usize> {
    let mut n = 0;
    for w in days {
        let c = cohort(conn, tenant, w)?;
        write_tx(conn, |conn| {
            diesel::delete(
                sd::table
                    .filter(sd::tenant_id.eq(tenant))
                    .filter(sd::day.eq(w.day))
                    .filter(sd::metric.eq_any([metric::ACQUIRED, metric::STILL_FOLLOWING])),
            )
            .execute(conn)?;
            if let Some(c) = &c {
                let rows = [
                    (metric::ACQUIRED, c.acquired),
                    (metric::STILL_FOLLOWING, c.still),
                ];
                for (m, value) in rows.into_iter().filter(|(_, v)| *v != 0) {
                    diesel::insert_into(sd::table)
                        .values((
                            sd::tenant_id.eq(tenant),
                            sd::day.eq(w.day),
                            sd::metric.eq(m),
                            sd::dim.eq(""),
                            sd::value.eq(value),
                        ))
                        .execute(conn)?;
                }
            }
            Ok::<_, crate::StoreError>(())
        })?;
        n += usize::from(c.is_some());
    }
    Ok(n)
}

#[derive(Insertable)]
#[diesel(table_name = sd, treat_none_as_default_value = false)]
struct NewDaily<'a> {
    tenant_id: i64,
    day: NaiveDate,
    metric: &'a str,
    dim: &'a str,
    value: i64,
}

/// Replaces the tenant's figures of `day` with `figures`, in one transaction, and notes
/// when, with the tenant's last push when it was read (a day rolled earlier keeps its
/// readings: they are what they were then).
pub fn replace_day(
    conn: &mut DbConn,
    tenant: i64,
    day: NaiveDate,
    figures: &[Figure],
    rolled_at: NaiveDateTime,
    last_push_at: Option<NaiveDateTime>,
) -> Result<()> {
    write_tx(conn, |conn| {
        // The roll is noted first: on PostgreSQL the upsert takes the tenant's row lock,
        // so two processes rolling the same tenant at once wait for each other instead
        // of both deleting and then colliding on the day's keys (SQLite's writer is one
        // at a time already).
        let note = diesel::insert_into(sr::table)
            .values((
                sr::tenant_id.eq(tenant),
                sr::day.eq(day),
                sr::rolled_at.eq(rolled_at),
                sr::last_push_at.eq(last_push_at),
            ))
            .on_conflict(sr::tenant_id)
            .do_update();
        let (day_set, at_set) = (sr::day.eq(day), sr::rolled_at.eq(rolled_at));
        match (&mut *conn, last_push_at) {
            (DbConn::Postgres(pg), Some(at)) => note
                .set((day_set, at_set, sr::last_push_at.eq(at)))
                .execute(pg)?,
            (DbConn::Postgres(pg), None) => note.set((day_set, at_set)).execute(pg)?,
            (DbConn::Sqlite(lite), Some(at)) => note
                .set((day_set, at_set, sr::last_push_at.eq(at)))
                .execute(lite)?,
            (DbConn::Sqlite(lite), None) => note.set((day_set, at_set)).execute(lite)?,
        };
        let kept: Vec<Figure> = if figures
            .iter()
            .any(|f| f.metric == metric::FOLLOWERS || f.metric == metric::REACHABLE)
        {
            Vec::new()
        } else {
            // A day rolled again after it ended keeps the readings taken while it ran.
            sd::table
                .filter(sd::tenant_id.eq(tenant))
                .filter(sd::day.eq(day))
                .filter(sd::metric.eq_any([metric::FOLLOWERS, metric::REACHABLE]))
                .select((sd::metric, sd::dim, sd::value))
                .load::<(String, String, i64)>(conn)?
                .into_iter()
                .map(|(metric, dim, value)| Figure { metric, dim, value })
                .collect()
        };
        diesel::delete(
            sd::table
                .filter(sd::tenant_id.eq(tenant))
                .filter(sd::day.eq(day)),
        )
        .execute(conn)?;
        let rows: Vec<NewDaily<'_>> = figures
            .iter()
            .chain(&kept)
            .map(|f| NewDaily {
                tenant_id: tenant,
                day,
                metric: &f.metric,
                dim: &f.dim,
                value: f.value,
            })
            .collect();
        for chunk in rows.chunks(1_000) {
            let insert = diesel::insert_into(sd::table).values(chunk);
            match conn {
                DbConn::Postgres(pg) => insert.execute(pg)?,
                DbConn::Sqlite(lite) => insert.execute(lite)?,
            };
        }
        // The day in one row, for the portfolio.
        let sum = |m: &str| -> i64 {
            figures
                .iter()
                .chain(&kept)
                .filter(|f| f.metric == m)
                .map(|f| f.value)
                .sum()
        };
        let followers = figures
            .iter()
            .chain(&kept)
            .find(|f| f.metric == metric::FOLLOWERS)
            .map(|f| f.value);
        diesel::delete(ss::table.find((tenant, day))).execute(conn)?;
        diesel::insert_into(ss::table)
            .values((
                ss::tenant_id.eq(tenant),
                ss::day.eq(day),
                ss::follows.eq(sum(metric::FOLLOWS)),
                ss::unfollows.eq(sum(metric::UNFOLLOWS)),
                ss::messages.eq(sum(metric::MESSAGES)),
                ss::redeemed.eq(sum(metric::REDEEMED)),
                ss::payments_fen.eq(sum(metric::PAYMENTS_FEN)),
                ss::followers.eq(followers),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Computes and stores one day of a tenant ([`compute`] then [`replace_day`]).
pub fn roll_day(conn: &mut DbConn, tenant: i64, w: &Window, now: NaiveDateTime) -> Result<usize> {
    let figures = compute(conn, tenant, w, now)?;
    // The last push, read with the current day (an index seek on the followers).
    let last_push = if (w.from..w.to).contains(&now) {
        f::table
            .filter(f::tenant_id.eq(tenant))
            .select(diesel::dsl::max(f::last_interaction_at))
            .first::<Option<NaiveDateTime>>(conn)?
    } else {
        None
    };
    replace_day(conn, tenant, w.day, &figures, now, last_push)?;
    Ok(figures.len())
}

/// Every tenant with its time zone (the minute task rolls each one's current day).
pub fn tenants(conn: &mut DbConn) -> Result<Vec<(i64, String, String)>> {
    Ok(t::table
        .order(t::id.asc())
        .select((t::id, t::slug, t::time_zone))
        .load(conn)?)
}

/// The first day a tenant has data for, in its zone: its creation or its earliest
/// archived push (history imported from before it was created), whichever is first.
pub fn first_day(conn: &mut DbConn, tenant: i64, tz: Tz) -> Result<NaiveDate> {
    let created: NaiveDateTime = t::table.find(tenant).select(t::created_at).first(conn)?;
    let first_message: Option<NaiveDateTime> = m::table
        .filter(m::tenant_id.eq(tenant))
        .select(diesel::dsl::min(m::sent_at))
        .first(conn)?;
    let at = first_message.map_or(created, |m| m.min(created));
    Ok(at.and_utc().with_timezone(&tz).date_naive())
}

/// One stored figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daily {
    pub day: NaiveDate,
    pub metric: String,
    pub dim: String,
    pub value: i64,
}

/// The tenant's figures of `metrics` from `from` to `to` (both included), by day.
pub fn read(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDate,
    to: NaiveDate,
    metrics: &[&str],
) -> Result<Vec<Daily>> {
    Ok(sd::table
        .filter(sd::tenant_id.eq(scope.tenant_id().0))
        .filter(sd::day.ge(from))
        .filter(sd::day.le(to))
        .filter(sd::metric.eq_any(metrics))
        .order((sd::day.asc(), sd::metric.asc(), sd::dim.asc()))
        .select((sd::day, sd::metric, sd::dim, sd::value))
        .load::<(NaiveDate, String, String, i64)>(conn)?
        .into_iter()
        .map(|(day, metric, dim, value)| Daily {
            day,
            metric,
            dim,
            value,
        })
        .collect())
}

/// When the tenant's figures were last rolled, if ever.
pub fn rolled_at(conn: &mut DbConn, scope: &TenantScope) -> Result<Option<NaiveDateTime>> {
    Ok(sr::table
        .find(scope.tenant_id().0)
        .select(sr::rolled_at)
        .first(conn)
        .optional()?)
}

/// The latest reading of `metric` (followers, reachable).
pub fn latest_reading(
    conn: &mut DbConn,
    scope: &TenantScope,
    metric: &str,
) -> Result<Option<(NaiveDate, i64)>> {
    Ok(sd::table
        .filter(sd::tenant_id.eq(scope.tenant_id().0))
        .filter(sd::metric.eq(metric))
        .filter(sd::dim.eq(""))
        .order(sd::day.desc())
        .select((sd::day, sd::value))
        .first(conn)
        .optional()?)
}

/// The sum over every day of `metric` for each of `dims` (a broadcast's redemptions to
/// date, say), as (dim, sum).
pub fn sum_by_dim(
    conn: &mut DbConn,
    scope: &TenantScope,
    metric: &str,
    dims: &[String],
) -> Result<Vec<(String, i64)>> {
    if dims.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sd::table
        .filter(sd::tenant_id.eq(scope.tenant_id().0))
        .filter(sd::metric.eq(metric))
        .filter(sd::dim.eq_any(dims))
        .group_by(sd::dim)
        .select((sd::dim, sum_bigint("value")))
        .load(conn)?)
}

/// A tenant's day in one row (`stats_summary`, written with the day's figures).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Summary {
    pub tenant_id: i64,
    pub day: NaiveDate,
    pub follows: i64,
    pub unfollows: i64,
    pub messages: i64,
    pub redeemed: i64,
    pub payments_fen: i64,
    pub followers: Option<i64>,
}

/// The days `from..=to` of each of `tenants` (an agency's portfolio), a row per tenant
/// and day.
pub fn summaries(
    conn: &mut DbConn,
    tenants: &[i64],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Summary>> {
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    Ok(ss::table
        .filter(ss::tenant_id.eq_any(tenants))
        .filter(ss::day.ge(from))
        .filter(ss::day.le(to))
        .select((
            ss::tenant_id,
            ss::day,
            ss::follows,
            ss::unfollows,
            ss::messages,
            ss::redeemed,
            ss::payments_fen,
            ss::followers,
        ))
        .load(conn)?)
}

/// When each of `tenants` was last rolled, and its last push then.
pub fn tenants_rolled(
    conn: &mut DbConn,
    tenants: &[i64],
) -> Result<Vec<(i64, NaiveDateTime, Option<NaiveDateTime>)>> {
    Ok(sr::table
        .filter(sr::tenant_id.eq_any(tenants))
        .select((sr::tenant_id, sr::rolled_at, sr::last_push_at))
        .load(conn)?)
}
