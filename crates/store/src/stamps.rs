//! Stamp cards: N stamps (at the till, by hand, through the API, or with each daily
//! check-in) turn into a coupon of the card's reward campaign. `stamp_progress` holds what
//! a follower has on a card now; `stamp_events` is the trail of every stamp and reward.

use crate::schema::{stamp_cards as sc, stamp_events as se, stamp_progress as sp};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = sc)]
pub struct Card {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub stamps_required: i64,
    pub reward_campaign_id: i64,
    pub stamp_on_checkin: bool,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct CardInput {
    pub name: String,
    pub stamps_required: i64,
    pub reward_campaign_id: i64,
    #[serde(default)]
    pub stamp_on_checkin: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// The most stamps a card may ask for.
pub const MAX_STAMPS: i64 = 100;

fn check(conn: &mut DbConn, scope: &TenantScope, i: &CardInput) -> Result<String> {
    let name = validate::name("name", &i.name)?;
    if !(1..=MAX_STAMPS).contains(&i.stamps_required) {
        return Err(validate::invalid("stamps_required", "out_of_range").into());
    }
    // The reward must be one of this tenant's campaigns, and one that can still issue.
    let reward = crate::coupons::get(conn, scope, i.reward_campaign_id).map_err(|e| match e {
        StoreError::NotFound => validate::invalid("reward_campaign_id", "unknown").into(),
        other => other,
    })?;
    if reward.status == "ended" {
        return Err(validate::invalid("reward_campaign_id", "campaign_ended").into());
    }
    Ok(name)
}

pub fn create(conn: &mut DbConn, scope: &TenantScope, i: &CardInput) -> Result<Card> {
    let name = check(conn, scope, i)?;
    let t = now();
    let id: i64 = diesel::insert_into(sc::table)
        .values((
            sc::tenant_id.eq(scope.tenant_id().0),
            sc::name.eq(name),
            sc::stamps_required.eq(i.stamps_required),
            sc::reward_campaign_id.eq(i.reward_campaign_id),
            sc::stamp_on_checkin.eq(i.stamp_on_checkin),
            sc::active.eq(i.active),
            sc::created_at.eq(t),
            sc::updated_at.eq(t),
        ))
        .returning(sc::id)
        .get_result(conn)?;
    get(conn, scope, id)
}

pub fn update(conn: &mut DbConn, scope: &TenantScope, id: i64, i: &CardInput) -> Result<Card> {
    get(conn, scope, id)?;
    let name = check(conn, scope, i)?;
    diesel::update(
        sc::table
            .filter(sc::id.eq(id))
            .filter(sc::tenant_id.eq(scope.tenant_id().0)),
    )
    .set((
        sc::name.eq(name),
        sc::stamps_required.eq(i.stamps_required),
        sc::reward_campaign_id.eq(i.reward_campaign_id),
        sc::stamp_on_checkin.eq(i.stamp_on_checkin),
        sc::active.eq(i.active),
        sc::updated_at.eq(now()),
    ))
    .execute(conn)?;
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Card> {
    Ok(sc::table
        .filter(sc::id.eq(id))
        .filter(sc::tenant_id.eq(scope.tenant_id().0))
        .select(Card::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Card>> {
    Ok(sc::table
        .filter(sc::tenant_id.eq(scope.tenant_id().0))
        .order(sc::id)
        .select(Card::as_select())
        .load(conn)?)
}

/// Who gave a stamp, and where.
#[derive(Debug, Clone, Copy, Default)]
pub struct By<'a> {
    pub user: Option<(i64, &'a str)>,
    pub store: Option<i64>,
}

/// What a stamp did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Stamped {
    /// Stamped: the stamps now on the card, and the reward coupon if it filled up.
    Added {
        stamps: i64,
        required: i64,
        reward: Option<Box<crate::coupons::Coupon>>,
        /// The card filled up but its campaign could not issue (paused, sold out…): the
        /// stamps stay and the next stamp tries again.
        reward_refused: Option<crate::coupons::NotIssued>,
    },
    /// Its key was used before: nothing changed.
    Duplicate { stamps: i64 },
    /// The card is switched off.
    Inactive,
}

/// Adds one stamp inside the caller's write transaction; a full card issues its reward
/// (channel `stamps:<card>`) and starts again with what is left over.
pub fn stamp_in(
    c: &mut DbConn,
    scope: &TenantScope,
    card_id: i64,
    follower: i64,
    source: &str,
    source_key: Option<&str>,
    by: By<'_>,
) -> Result<Stamped> {
    let card = get(c, scope, card_id)?;
    // The follower's row lock (PostgreSQL; SQLite's writers are serial) makes the key check
    // and the stamp one step: racing stamps with one key see each other.
    crate::loyalty::lock_follower(c, scope, follower)?;
    if !card.active {
        return Ok(Stamped::Inactive);
    }
    let tenant = scope.tenant_id().0;
    if let Some(key) = source_key {
        let seen: i64 = se::table
            .filter(se::tenant_id.eq(tenant))
            .filter(se::card_id.eq(card_id))
            .filter(se::follower_id.eq(follower))
            .filter(se::source_key.eq(key))
            .count()
            .get_result(c)?;
        if seen > 0 {
            return Ok(Stamped::Duplicate {
                stamps: stamps_of(c, card_id, follower)?,
            });
        }
    }
    let at = now();
    let event = |stamps: i64, source: &str, key: Option<&str>, coupon: Option<i64>| {
        (
            se::tenant_id.eq(tenant),
            se::card_id.eq(card_id),
            se::follower_id.eq(follower),
            se::stamps.eq(stamps),
            se::source.eq(source.to_string()),
            se::source_key.eq(key.map(str::to_string)),
            se::coupon_id.eq(coupon),
            se::user_id.eq(by.user.map(|u| u.0)),
            se::user_name.eq(by.user.map(|u| u.1).unwrap_or("").to_string()),
            se::store_id.eq(by.store),
            se::at.eq(at),
        )
    };
    diesel::insert_into(se::table)
        .values(event(1, source, source_key, None))
        .execute(c)?;
    // Raise the progress row (created at zero first), a single statement either way.
    match c {
        DbConn::Postgres(pg) => diesel::insert_into(sp::table)
            .values((
                sp::card_id.eq(card_id),
                sp::follower_id.eq(follower),
                sp::stamps.eq(0i64),
            ))
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::insert_into(sp::table)
            .values((
                sp::card_id.eq(card_id),
                sp::follower_id.eq(follower),
                sp::stamps.eq(0i64),
            ))
            .on_conflict_do_nothing()
            .execute(lite)?,
    };
    let row = sp::table
        .filter(sp::card_id.eq(card_id))
        .filter(sp::follower_id.eq(follower));
    diesel::update(row)
        .set(sp::stamps.eq(sp::stamps + 1))
        .execute(c)?;
    let mut stamps = stamps_of(c, card_id, follower)?;
    let (mut reward, mut refused) = (None, None);
    if stamps >= card.stamps_required {
        let channel = format!("stamps:{card_id}");
        let issuer = by.user.map(|u| u.1).unwrap_or("stamp card");
        match crate::coupons::issue_in(
            c,
            scope,
            card.reward_campaign_id,
            Some(follower),
            &channel,
            issuer,
        )? {
            Ok(coupon) => {
                diesel::update(row)
                    .set(sp::stamps.eq(sp::stamps - card.stamps_required))
                    .execute(c)?;
                diesel::insert_into(se::table)
                    .values(event(
                        -card.stamps_required,
                        "reward",
                        None,
                        Some(coupon.id),
                    ))
                    .execute(c)?;
                stamps -= card.stamps_required;
                reward = Some(Box::new(coupon));
            }
            Err(why) => refused = Some(why),
        }
    }
    Ok(Stamped::Added {
        stamps,
        required: card.stamps_required,
        reward,
        reward_refused: refused,
    })
}

/// [`stamp_in`] in its own write transaction.
pub fn stamp(
    conn: &mut DbConn,
    scope: &TenantScope,
    card_id: i64,
    follower: i64,
    source: &str,
    source_key: Option<&str>,
    by: By<'_>,
) -> Result<Stamped> {
    write_tx(conn, |c| {
        stamp_in(c, scope, card_id, follower, source, source_key, by)
    })
}

fn stamps_of(c: &mut DbConn, card: i64, follower: i64) -> Result<i64> {
    Ok(sp::table
        .filter(sp::card_id.eq(card))
        .filter(sp::follower_id.eq(follower))
        .select(sp::stamps)
        .first::<i64>(c)
        .optional()?
        .unwrap_or(0))
}

/// Every card of the tenant with the follower's stamps on it.
pub fn progress(conn: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<Vec<(Card, i64)>> {
    let cards = list(conn, scope)?;
    let ids: Vec<i64> = cards.iter().map(|c| c.id).collect();
    let held: std::collections::HashMap<i64, i64> = sp::table
        .filter(sp::follower_id.eq(follower))
        .filter(sp::card_id.eq_any(&ids))
        .select((sp::card_id, sp::stamps))
        .load(conn)?
        .into_iter()
        .collect();
    Ok(cards
        .into_iter()
        .map(|card| {
            let n = held.get(&card.id).copied().unwrap_or(0);
            (card, n)
        })
        .filter(|(card, n)| card.active || *n > 0)
        .collect())
}

/// Cards that stamp with each daily check-in.
pub fn checkin_cards(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<i64>> {
    Ok(sc::table
        .filter(sc::tenant_id.eq(scope.tenant_id().0))
        .filter(sc::active.eq(true))
        .filter(sc::stamp_on_checkin.eq(true))
        .select(sc::id)
        .load(conn)?)
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = se)]
pub struct Event {
    pub id: i64,
    pub card_id: i64,
    pub follower_id: i64,
    pub stamps: i64,
    pub source: String,
    pub coupon_id: Option<i64>,
    pub user_name: String,
    pub store_id: Option<i64>,
    pub at: NaiveDateTime,
}

/// The follower's latest stamps and rewards, newest first.
pub fn events_of(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    limit: i64,
) -> Result<Vec<Event>> {
    Ok(se::table
        .filter(se::tenant_id.eq(scope.tenant_id().0))
        .filter(se::follower_id.eq(follower))
        .order(se::id.desc())
        .limit(limit)
        .select(Event::as_select())
        .load(conn)?)
}
