//! Points: each tenant's program (the earning rules) and the append-only ledger per
//! follower. Amounts never change once written; a credit keeps in `remaining` what the
//! debits have not yet consumed (oldest expiry first), so at every commit
//! `sum(points) = sum(remaining)` per follower, and the balance is that sum less what has
//! expired and not yet been written off by [`expire_due`].

use crate::schema::{followers, loyalty_programs as lp, points_ledger as pl};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::loyalty::{self, Program};
use patron_domain::{validate, TenantScope};
use serde::Serialize;

/// The tenant's program (`None`: never set up, nothing is earned by rule).
pub fn program(conn: &mut DbConn, scope: &TenantScope) -> Result<Option<Program>> {
    type Row = (i64, String, i64, String, String, i64, Option<i64>);
    let row: Option<Row> = lp::table
        .filter(lp::tenant_id.eq(scope.tenant_id().0))
        .select((
            lp::subscribe_points,
            lp::checkin_keyword,
            lp::checkin_points,
            lp::checkin_reply,
            lp::checkin_again_reply,
            lp::points_per_yuan,
            lp::expiry_days,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|r| Program {
        subscribe_points: r.0,
        checkin_keyword: r.1,
        checkin_points: r.2,
        checkin_reply: r.3,
        checkin_again_reply: r.4,
        points_per_yuan: r.5,
        expiry_days: r.6,
    }))
}

/// Saves the tenant's program (checked first; nothing changes when it is refused).
pub fn save_program(conn: &mut DbConn, scope: &TenantScope, p: &Program) -> Result<()> {
    p.validate()
        .map_err(|(field, code)| StoreError::from(validate::invalid(field, code)))?;
    let tenant = scope.tenant_id().0;
    let values = (
        lp::subscribe_points.eq(p.subscribe_points),
        lp::checkin_keyword.eq(p.checkin_keyword.trim()),
        lp::checkin_points.eq(p.checkin_points),
        lp::checkin_reply.eq(&p.checkin_reply),
        lp::checkin_again_reply.eq(&p.checkin_again_reply),
        lp::points_per_yuan.eq(p.points_per_yuan),
        lp::expiry_days.eq(p.expiry_days),
        lp::updated_at.eq(now()),
    );
    write_tx(conn, |c| {
        let n = diesel::update(lp::table.filter(lp::tenant_id.eq(tenant)))
            .set(values)
            .execute(c)?;
        if n == 0 {
            diesel::insert_into(lp::table)
                .values((lp::tenant_id.eq(tenant), values))
                .execute(c)?;
        }
        // The webhook caches the program: every process drops it.
        crate::cache_epoch::bump(c)
    })
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = pl)]
pub struct Entry {
    pub id: i64,
    pub follower_id: i64,
    /// `earn`, `spend`, `expire` or `adjust`.
    pub kind: String,
    /// Signed: credits positive, debits negative.
    pub points: i64,
    #[serde(skip)]
    pub remaining: i64,
    pub expires_at: Option<NaiveDateTime>,
    /// What caused it: `subscribe`, `checkin`, `manual`, `api`, `till`, `expiry`…
    pub source: String,
    #[serde(skip)]
    pub source_key: Option<String>,
    pub reason: String,
    pub user_id: Option<i64>,
    pub user_name: String,
    pub at: NaiveDateTime,
}

/// What to post to a follower's ledger.
#[derive(Debug, Clone)]
pub struct Post<'a> {
    /// `earn`, `spend` or `adjust`.
    pub kind: Kind,
    /// Positive for earn and spend; signed for adjust.
    pub points: i64,
    pub source: &'a str,
    /// Makes the post once only (a second post with the same key changes nothing).
    pub source_key: Option<&'a str>,
    pub reason: &'a str,
    pub user: Option<(i64, &'a str)>,
    /// When earned points expire (`None`: never).
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Earn,
    Spend,
    Adjust,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "earn" => Some(Kind::Earn),
            "spend" => Some(Kind::Spend),
            "adjust" => Some(Kind::Adjust),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Kind::Earn => "earn",
            Kind::Spend => "spend",
            Kind::Adjust => "adjust",
        }
    }
}

/// What a post did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Posted {
    Done {
        entry_id: i64,
        balance: i64,
    },
    /// Its key was posted before: nothing changed.
    Duplicate {
        balance: i64,
    },
    /// A debit larger than the balance: nothing changed.
    Insufficient {
        balance: i64,
    },
}

impl Posted {
    pub fn balance(&self) -> i64 {
        match self {
            Posted::Done { balance, .. }
            | Posted::Duplicate { balance }
            | Posted::Insufficient { balance } => *balance,
        }
    }
}

/// Locks the follower's ledger for this transaction (PostgreSQL: the follower row;
/// SQLite: write transactions are serial already), checking it is the tenant's.
pub(crate) fn lock_follower(c: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<()> {
    let q = followers::table
        .filter(followers::id.eq(follower))
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .select(followers::id);
    match c {
        DbConn::Postgres(pg) => q.for_update().first::<i64>(pg)?,
        DbConn::Sqlite(lite) => q.first::<i64>(lite)?,
    };
    Ok(())
}

/// Credits with points left, oldest expiry first (never-expiring last), as `(id, remaining)`.
fn open_credits(
    c: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    at: NaiveDateTime,
) -> Result<Vec<(i64, i64)>> {
    let rows: Vec<(i64, i64, Option<NaiveDateTime>)> = pl::table
        .filter(pl::tenant_id.eq(scope.tenant_id().0))
        .filter(pl::follower_id.eq(follower))
        .filter(pl::remaining.gt(0))
        .filter(pl::expires_at.is_null().or(pl::expires_at.gt(at)))
        .select((pl::id, pl::remaining, pl::expires_at))
        .load(c)?;
    let mut rows = rows;
    rows.sort_by_key(|(id, _, exp)| (exp.is_none(), *exp, *id));
    Ok(rows.into_iter().map(|(id, r, _)| (id, r)).collect())
}

/// The follower's balance: what is left of credits not yet expired at `at`.
pub fn balance_at(
    c: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    at: NaiveDateTime,
) -> Result<i64> {
    // Summed here: SUM(bigint) is NUMERIC on PostgreSQL, and a follower's open credits
    // are few.
    Ok(open_credits(c, scope, follower, at)?
        .iter()
        .map(|(_, r)| r)
        .sum())
}

pub fn balance(c: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<i64> {
    crate::followers::get(c, scope, follower)?;
    balance_at(c, scope, follower, now())
}

/// The ledger's own sums for a follower, `(sum of points, sum of remaining)`: equal at
/// every commit (operations and tests check it).
pub fn sums(c: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<(i64, i64)> {
    let rows: Vec<(i64, i64)> = pl::table
        .filter(pl::tenant_id.eq(scope.tenant_id().0))
        .filter(pl::follower_id.eq(follower))
        .select((pl::points, pl::remaining))
        .load(c)?;
    Ok(rows
        .iter()
        .fold((0, 0), |(p, r), (pp, rr)| (p + pp, r + rr)))
}

/// Writes off the follower's credits that have expired (an `expire` entry each).
fn expire_follower(c: &mut DbConn, tenant: i64, follower: i64, at: NaiveDateTime) -> Result<usize> {
    let due: Vec<(i64, i64)> = pl::table
        .filter(pl::tenant_id.eq(tenant))
        .filter(pl::follower_id.eq(follower))
        .filter(pl::remaining.gt(0))
        .filter(pl::expires_at.le(at))
        .select((pl::id, pl::remaining))
        .load(c)?;
    for (id, remaining) in &due {
        diesel::update(pl::table.find(id))
            .set(pl::remaining.eq(0i64))
            .execute(c)?;
        diesel::insert_into(pl::table)
            .values((
                pl::tenant_id.eq(tenant),
                pl::follower_id.eq(follower),
                pl::kind.eq("expire"),
                pl::points.eq(-remaining),
                pl::remaining.eq(0i64),
                pl::source.eq("expiry"),
                pl::source_key.eq(format!("expire:{id}")),
                pl::reason.eq(""),
                pl::user_name.eq(""),
                pl::at.eq(at),
            ))
            .execute(c)?;
    }
    Ok(due.len())
}

/// Posts to a follower's ledger inside the caller's write transaction. Debits consume the
/// oldest-expiring credits first and never take the balance below zero; a key posted before
/// changes nothing.
pub fn post_in(c: &mut DbConn, scope: &TenantScope, follower: i64, p: &Post<'_>) -> Result<Posted> {
    let tenant = scope.tenant_id().0;
    let bad = |key| StoreError::from(validate::invalid("points", key));
    if p.points == 0 || p.points.abs() > loyalty::MAX_POINTS {
        return Err(bad("invalid_points"));
    }
    if p.kind != Kind::Adjust && p.points < 0 {
        return Err(bad("invalid_points"));
    }
    if p.reason.chars().count() > loyalty::MAX_REASON {
        return Err(StoreError::from(validate::invalid("reason", "too_long")));
    }
    if p.kind == Kind::Adjust && p.reason.trim().is_empty() {
        return Err(StoreError::from(validate::invalid("reason", "required")));
    }
    lock_follower(c, scope, follower)?;
    let at = now();
    expire_follower(c, tenant, follower, at)?;
    if let Some(key) = p.source_key {
        let seen: i64 = pl::table
            .filter(pl::tenant_id.eq(tenant))
            .filter(pl::follower_id.eq(follower))
            .filter(pl::source_key.eq(key))
            .count()
            .get_result(c)?;
        if seen > 0 {
            return Ok(Posted::Duplicate {
                balance: balance_at(c, scope, follower, at)?,
            });
        }
    }
    let credit = p.kind == Kind::Earn || (p.kind == Kind::Adjust && p.points > 0);
    let signed = if p.kind == Kind::Spend {
        -p.points
    } else {
        p.points
    };
    if !credit {
        let credits = open_credits(c, scope, follower, at)?;
        let Some(takes) = loyalty::consume(&credits, -signed) else {
            return Ok(Posted::Insufficient {
                balance: credits.iter().map(|(_, r)| r).sum(),
            });
        };
        for (id, take) in takes {
            diesel::update(
                pl::table
                    .filter(pl::tenant_id.eq(scope.tenant_id().0))
                    .filter(pl::id.eq(id)),
            )
            .set(pl::remaining.eq(pl::remaining - take))
            .execute(c)?;
        }
    }
    let entry_id: i64 = diesel::insert_into(pl::table)
        .values((
            pl::tenant_id.eq(tenant),
            pl::follower_id.eq(follower),
            pl::kind.eq(p.kind.as_str()),
            pl::points.eq(signed),
            pl::remaining.eq(if credit { signed } else { 0 }),
            pl::expires_at.eq(if credit { p.expires_at } else { None }),
            pl::source.eq(p.source),
            pl::source_key.eq(p.source_key),
            pl::reason.eq(p.reason.trim()),
            pl::user_id.eq(p.user.map(|u| u.0)),
            pl::user_name.eq(p.user.map(|u| u.1).unwrap_or("")),
            pl::at.eq(at),
        ))
        .returning(pl::id)
        .get_result(c)?;
    Ok(Posted::Done {
        entry_id,
        balance: balance_at(c, scope, follower, at)?,
    })
}

/// [`post_in`] in its own write transaction.
pub fn post(conn: &mut DbConn, scope: &TenantScope, follower: i64, p: &Post<'_>) -> Result<Posted> {
    write_tx(conn, |c| post_in(c, scope, follower, p))
}

/// The follower's latest entries, newest first.
pub fn entries(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    limit: i64,
) -> Result<Vec<Entry>> {
    Ok(pl::table
        .filter(pl::tenant_id.eq(scope.tenant_id().0))
        .filter(pl::follower_id.eq(follower))
        .order(pl::id.desc())
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)?)
}

/// The follower's entries posted after `after` and up to `until` (either open), newest
/// first: the points beside a page of the timeline.
pub fn entries_between(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    after: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    limit: i64,
) -> Result<Vec<Entry>> {
    let mut q = pl::table
        .filter(pl::tenant_id.eq(scope.tenant_id().0))
        .filter(pl::follower_id.eq(follower))
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(pl::at.gt(a));
    }
    if let Some(u) = until {
        q = q.filter(pl::at.le(u));
    }
    Ok(q.order(pl::id.desc())
        .limit(limit)
        .select(Entry::as_select())
        .load(conn)?)
}

/// Writes off every expired credit of every tenant, a follower per transaction, at most
/// `max_followers` of them per call (the housekeeping job calls it until it returns 0).
pub fn expire_due(conn: &mut DbConn, at: NaiveDateTime, max_followers: i64) -> Result<usize> {
    let due: Vec<(i64, i64)> = pl::table
        .filter(pl::remaining.gt(0))
        .filter(pl::expires_at.le(at))
        .select((pl::tenant_id, pl::follower_id))
        .distinct()
        .limit(max_followers)
        .load(conn)?;
    let mut n = 0;
    for (tenant, follower) in due {
        n += write_tx(conn, |c| {
            if let DbConn::Postgres(pg) = c {
                followers::table
                    .find(follower)
                    .select(followers::id)
                    .for_update()
                    .first::<i64>(pg)?;
            }
            expire_follower(c, tenant, follower, at)
        })?;
    }
    Ok(n)
}
