//! Redeeming coupons exactly once, alone or many in one transaction, and voiding a
//! redemption.

use super::{by_code, Campaign, Coupon};
use crate::schema::{campaigns as cp, coupon_events as ev, coupons as c, stores as st};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::coupons::{self as rules, CouponStatus, Refusal};
use patron_domain::{validate, TenantScope};
use serde::Serialize;

/// Who redeems: the cashier, at which store, on which device.
#[derive(Debug, Clone)]
pub struct Till<'a> {
    pub user_id: Option<i64>,
    pub user_name: &'a str,
    pub store_id: i64,
    pub device: &'a str,
}

/// The answer to a redemption, stored with its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Redeemed {
    Ok {
        coupon_id: i64,
        code: String,
        discount_fen: i64,
        store_id: i64,
        by: String,
        at: NaiveDateTime,
    },
    /// Someone redeemed it first: where, who, when.
    AlreadyRedeemed {
        code: String,
        store_id: Option<i64>,
        by: Option<String>,
        at: Option<NaiveDateTime>,
    },
    Refused {
        code: String,
        refusal: Refusal,
    },
}

fn refusal(code: &str, r: &Refusal) -> Redeemed {
    Redeemed::Refused {
        code: code.to_string(),
        refusal: r.clone(),
    }
}

/// Why a redemption was not voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotVoided {
    /// The coupon is not redeemed (never was, or already voided).
    NotRedeemed,
    /// The void window after the redemption has passed.
    WindowPassed,
    /// Redeemed at a store this cashier does not work at.
    OtherStore,
}

impl NotVoided {
    /// The stable code the API answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            NotVoided::NotRedeemed => "not_redeemed",
            NotVoided::WindowPassed => "void_window_passed",
            NotVoided::OtherStore => "other_store",
        }
    }
}

fn already(c: &Coupon) -> Redeemed {
    Redeemed::AlreadyRedeemed {
        code: c.code.clone(),
        store_id: c.redeemed_store_id,
        by: c.redeemed_by_name.clone(),
        at: c.redeemed_at,
    }
}

/// The answer stored with an idempotency key, if a redemption under it was made.
pub fn replay(conn: &mut DbConn, scope: &TenantScope, key: &str) -> Result<Option<Redeemed>> {
    let stored: Option<String> = ev::table
        .filter(ev::tenant_id.eq(scope.tenant_id().0))
        .filter(ev::idempotency_key.eq(key))
        .select(ev::result)
        .first(conn)
        .optional()?;
    Ok(stored.and_then(|s| serde_json::from_str(&s).ok()))
}

/// The till's store must be one of the tenant's, and one the scope works at (a cashier's
/// own stores). Invalid `store_id` otherwise.
fn check_till_store(conn: &mut DbConn, scope: &TenantScope, store_id: i64) -> Result<()> {
    let tenant: Option<i64> = st::table
        .find(store_id)
        .select(st::tenant_id)
        .first(conn)
        .optional()?;
    till_store(tenant, scope, store_id)
}

/// One redemption asked of [`redeem_many`]: who asks (their scope), which code, where.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub scope: &'a TenantScope,
    pub code: &'a str,
    pub till: Till<'a>,
    pub idempotency_key: Option<&'a str>,
    pub order_ref: Option<&'a str>,
    pub amount_fen: Option<i64>,
}

/// Redeems a coupon exactly once, in a transaction of its own. A retried request with
/// the same idempotency key gets the first answer; of many cashiers racing on one code
/// one succeeds and every other is told where, by whom and when it was redeemed. An
/// unknown code is `NotFound` before the till's store is checked.
pub fn redeem(
    conn: &mut DbConn,
    scope: &TenantScope,
    code: &str,
    till: &Till<'_>,
    idempotency_key: Option<&str>,
    order_ref: Option<&str>,
    amount_fen: Option<i64>,
) -> Result<Redeemed> {
    let ask = &Ask {
        scope,
        code,
        till: till.clone(),
        idempotency_key,
        order_ref,
        amount_fen,
    };
    let attempt = write_tx(conn, |conn| {
        redeem_many(conn, std::slice::from_ref(ask))?
            .pop()
            .unwrap_or(Err(StoreError::NotFound))
    });
    // A same-key retry lost the race against its own first try: answer as that did.
    let lost = matches!(
        attempt,
        Ok(Redeemed::AlreadyRedeemed { .. }) | Err(StoreError::Conflict(_))
    );
    if let (true, Some(k)) = (lost, ask.idempotency_key) {
        if let Some(first) = replay(conn, ask.scope, k)? {
            return Ok(first);
        }
    }
    attempt
}

/// Redeems many codes, of any tenants, inside the caller's write transaction, with a
/// handful of statements whatever their number (a writer's batch: `patron_app::redeemer`).
/// Each ask gets the answer it would get alone, in order: a key answered before (in an
/// earlier transaction or earlier in `asks`) is answered the same; an unknown code is
/// `NotFound`, then the till's store is checked (`Invalid`); of two asks for one code
/// the first wins and the second is told so.
///
/// Each coupon's update is conditional on its status, so of racing transactions one
/// wins. A batch that lost such a race to another process is refused whole
/// (`Conflict`: later asks may have been answered from the lost one; the caller redoes
/// them one by one); alone, the loser is answered where, by whom and when.
///
/// Statements: the keys' stored answers, the coupons, their campaigns and the stores
/// (each one `IN`/`= ANY` query), then on PostgreSQL one `UPDATE … FROM unnest(…)` and
/// one `INSERT … SELECT … FROM unnest(…)` (fixed texts, prepared once); on SQLite, which
/// runs in-process, an update per coupon and one multi-row insert.
pub fn redeem_many(conn: &mut DbConn, asks: &[Ask<'_>]) -> Result<Vec<Result<Redeemed>>> {
    use std::collections::HashMap;
    let mut tenants: Vec<i64> = asks.iter().map(|a| a.scope.tenant_id().0).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let distinct = |it: &mut dyn Iterator<Item = &str>| {
        let mut v: Vec<String> = it.map(str::to_string).collect();
        v.sort_unstable();
        v.dedup();
        v
    };

    // Answers stored under the keys, by (tenant, key).
    let keys = distinct(&mut asks.iter().filter_map(|a| a.idempotency_key));
    let mut answered: HashMap<(i64, String), Redeemed> = HashMap::new();
    if !keys.is_empty() {
        let stored: Vec<(i64, Option<String>, String)> = ev::table
            .filter(ev::tenant_id.eq_any(&tenants))
            .filter(ev::idempotency_key.eq_any(&keys))
            .select((ev::tenant_id, ev::idempotency_key, ev::result))
            .load(conn)?;
        for (t, k, r) in stored {
            if let (Some(k), Ok(r)) = (k, serde_json::from_str(&r)) {
                answered.insert((t, k), r);
            }
        }
    }
    // The coupons by (tenant, code), their campaigns, the stores' tenants.
    let codes = distinct(&mut asks.iter().map(|a| a.code));
    let coupons: HashMap<(i64, String), Coupon> = c::table
        .filter(c::tenant_id.eq_any(&tenants))
        .filter(c::code.eq_any(&codes))
        .select(Coupon::as_select())
        .load(conn)?
        .into_iter()
        .map(|cp| ((cp.tenant_id, cp.code.clone()), cp))
        .collect();
    let mut camp_ids: Vec<i64> = coupons.values().map(|c| c.campaign_id).collect();
    camp_ids.sort_unstable();
    camp_ids.dedup();
    let campaigns: HashMap<i64, Campaign> = if camp_ids.is_empty() {
        HashMap::new()
    } else {
        cp::table
            .filter(cp::id.eq_any(&camp_ids))
            .select(Campaign::as_select())
            .load(conn)?
            .into_iter()
            .map(|k: Campaign| (k.id, k))
            .collect()
    };
    let mut store_ids: Vec<i64> = asks.iter().map(|a| a.till.store_id).collect();
    store_ids.sort_unstable();
    store_ids.dedup();
    let store_tenant: HashMap<i64, i64> = st::table
        .filter(st::id.eq_any(&store_ids))
        .select((st::id, st::tenant_id))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();

    // Each ask in turn.
    let at = now();
    let mut out: Vec<Option<Result<Redeemed>>> = (0..asks.len()).map(|_| None).collect();
    let mut taken: HashMap<i64, Redeemed> = HashMap::new();
    let mut wins: Vec<Win> = Vec::new();
    for (i, a) in asks.iter().enumerate() {
        let tenant = a.scope.tenant_id().0;
        let key = a.idempotency_key.map(|k| (tenant, k.to_string()));
        if let Some(r) = key.as_ref().and_then(|k| answered.get(k)) {
            out[i] = Some(Ok(r.clone()));
            continue;
        }
        let Some(coupon) = coupons.get(&(tenant, a.code.to_string())) else {
            out[i] = Some(Err(StoreError::NotFound));
            continue;
        };
        if let Err(e) = till_store(
            store_tenant.get(&a.till.store_id).copied(),
            a.scope,
            a.till.store_id,
        ) {
            out[i] = Some(Err(e));
            continue;
        }
        let Some(camp) = campaigns.get(&coupon.campaign_id) else {
            out[i] = Some(Err(StoreError::NotFound));
            continue;
        };
        // Taken earlier in this batch: told by whom, where and when.
        if let Some(Redeemed::Ok {
            code,
            store_id,
            by,
            at,
            ..
        }) = taken.get(&coupon.id)
        {
            out[i] = Some(Ok(Redeemed::AlreadyRedeemed {
                code: code.clone(),
                store_id: Some(*store_id),
                by: Some(by.clone()),
                at: Some(*at),
            }));
            continue;
        }
        let stores = camp.stores();
        let check = rules::can_redeem(
            &rules::Redeemable {
                status: coupon.status,
                campaign_status: &camp.status,
                valid_from: coupon.valid_from,
                valid_to: coupon.valid_to,
                stores: stores.as_deref(),
                min_spend_fen: camp.min_spend_fen,
            },
            a.till.store_id,
            at,
            a.amount_fen,
        );
        match check {
            Err(Refusal::AlreadyRedeemed) => {
                out[i] = Some(Ok(already(coupon)));
                continue;
            }
            Err(r) => {
                out[i] = Some(Ok(refusal(&coupon.code, &r)));
                continue;
            }
            Ok(()) => {}
        }
        let discount = camp
            .benefit()
            .map(|b| b.discount(a.amount_fen.unwrap_or(0)))
            .unwrap_or(0);
        let result = Redeemed::Ok {
            coupon_id: coupon.id,
            code: coupon.code.clone(),
            discount_fen: discount,
            store_id: a.till.store_id,
            by: a.till.user_name.to_string(),
            at,
        };
        taken.insert(coupon.id, result.clone());
        if let Some(k) = key {
            answered.insert(k, result.clone());
        }
        wins.push(Win {
            ask: i,
            coupon: coupon.id,
            tenant,
            discount,
            result: serde_json::to_string(&result).unwrap_or_default(),
        });
        out[i] = Some(Ok(result));
    }

    // The writes.
    if !wins.is_empty() {
        let won = write_wins(conn, asks, &wins, at)?;
        if won.len() < wins.len() {
            if asks.len() > 1 {
                return Err(StoreError::Conflict("redeemed_meanwhile"));
            }
            // Alone: the coupon was redeemed meanwhile; say by whom.
            let a = &asks[0];
            return Ok(vec![Ok(already(&by_code(conn, a.scope, a.code)?))]);
        }
        insert_events(conn, asks, &wins, at)?;
    }
    Ok(out
        .into_iter()
        .map(|o| o.unwrap_or(Err(StoreError::NotFound)))
        .collect())
}

/// A redemption of a batch that passed its checks, to be written.
struct Win {
    ask: usize,
    coupon: i64,
    tenant: i64,
    discount: i64,
    /// The answer as stored with the key (JSON).
    result: String,
}

/// [`check_till_store`]'s rule, given the store's tenant (`None`: no such store).
fn till_store(store_tenant: Option<i64>, scope: &TenantScope, store_id: i64) -> Result<()> {
    if store_tenant != Some(scope.tenant_id().0) {
        return Err(validate::invalid("store_id", "unknown_store").into());
    }
    if scope
        .stores()
        .is_some_and(|mine| !mine.contains(&patron_domain::StoreId(store_id)))
    {
        return Err(validate::invalid("store_id", "not_your_store").into());
    }
    Ok(())
}

/// The coupons' conditional updates: the ids of those that were still issued (and are
/// now redeemed).
fn write_wins(
    conn: &mut DbConn,
    asks: &[Ask<'_>],
    wins: &[Win],
    at: NaiveDateTime,
) -> Result<std::collections::HashSet<i64>> {
    let issued = CouponStatus::Issued.as_str();
    let redeemed = CouponStatus::Redeemed.as_str();
    match conn {
        DbConn::Postgres(pg) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
            #[derive(QueryableByName)]
            struct Id {
                #[diesel(sql_type = BigInt)]
                id: i64,
            }
            let ask = |w: &Win| &asks[w.ask];
            let ids: Vec<Id> = diesel::sql_query(
                "UPDATE coupons AS c SET status = $1, redeemed_at = $2, \
                 redeemed_store_id = u.store_id, redeemed_by = u.user_id, \
                 redeemed_by_name = u.user_name, order_ref = u.order_ref, \
                 amount_fen = u.amount_fen, discount_fen = u.discount_fen \
                 FROM unnest($3, $4, $5, $6, $7, $8, $9, $10) \
                 AS u(id, tenant_id, store_id, user_id, user_name, order_ref, amount_fen, discount_fen) \
                 WHERE c.id = u.id AND c.tenant_id = u.tenant_id AND c.status = $11 \
                 RETURNING c.id",
            )
            .bind::<Text, _>(redeemed)
            .bind::<Timestamp, _>(at)
            .bind::<Array<BigInt>, _>(wins.iter().map(|w| w.coupon).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(wins.iter().map(|w| w.tenant).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(
                wins.iter().map(|w| ask(w).till.store_id).collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<BigInt>>, _>(
                wins.iter().map(|w| ask(w).till.user_id).collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(
                wins.iter().map(|w| ask(w).till.user_name).collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<Text>>, _>(
                wins.iter().map(|w| ask(w).order_ref).collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<BigInt>>, _>(
                wins.iter().map(|w| ask(w).amount_fen).collect::<Vec<_>>(),
            )
            .bind::<Array<Nullable<BigInt>>, _>(
                wins.iter().map(|w| Some(w.discount)).collect::<Vec<_>>(),
            )
            .bind::<Text, _>(issued)
            .load(pg)?;
            Ok(ids.into_iter().map(|r| r.id).collect())
        }
        DbConn::Sqlite(lite) => {
            let mut won = std::collections::HashSet::new();
            for w in wins {
                let a = &asks[w.ask];
                let n = diesel::update(
                    c::table
                        .filter(c::tenant_id.eq(w.tenant))
                        .filter(c::id.eq(w.coupon))
                        .filter(c::status.eq(issued)),
                )
                .set((
                    c::status.eq(redeemed),
                    c::redeemed_at.eq(Some(at)),
                    c::redeemed_store_id.eq(Some(a.till.store_id)),
                    c::redeemed_by.eq(a.till.user_id),
                    c::redeemed_by_name.eq(Some(a.till.user_name)),
                    c::order_ref.eq(a.order_ref),
                    c::amount_fen.eq(a.amount_fen),
                    c::discount_fen.eq(Some(w.discount)),
                ))
                .execute(lite)?;
                if n == 1 {
                    won.insert(w.coupon);
                }
            }
            Ok(won)
        }
    }
}

/// The redemptions' events, which carry the answers stored under their keys.
fn insert_events(
    conn: &mut DbConn,
    asks: &[Ask<'_>],
    wins: &[Win],
    at: NaiveDateTime,
) -> Result<()> {
    match conn {
        DbConn::Postgres(pg) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
            let ask = |w: &Win| &asks[w.ask];
            diesel::sql_query(
                "INSERT INTO coupon_events (tenant_id, coupon_id, action, user_id, user_name, \
                 store_id, device, idempotency_key, result, at) \
                 SELECT u.tenant_id, u.coupon_id, 'redeem', u.user_id, u.user_name, u.store_id, \
                 u.device, u.idempotency_key, u.result, $1 \
                 FROM unnest($2, $3, $4, $5, $6, $7, $8, $9) \
                 AS u(tenant_id, coupon_id, user_id, user_name, store_id, device, idempotency_key, result)",
            )
            .bind::<Timestamp, _>(at)
            .bind::<Array<BigInt>, _>(wins.iter().map(|w| w.tenant).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(wins.iter().map(|w| w.coupon).collect::<Vec<_>>())
            .bind::<Array<Nullable<BigInt>>, _>(
                wins.iter().map(|w| ask(w).till.user_id).collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(
                wins.iter().map(|w| ask(w).till.user_name).collect::<Vec<_>>(),
            )
            .bind::<Array<BigInt>, _>(
                wins.iter().map(|w| ask(w).till.store_id).collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(wins.iter().map(|w| ask(w).till.device).collect::<Vec<_>>())
            .bind::<Array<Nullable<Text>>, _>(
                wins.iter().map(|w| ask(w).idempotency_key).collect::<Vec<_>>(),
            )
            .bind::<Array<Text>, _>(wins.iter().map(|w| w.result.as_str()).collect::<Vec<_>>())
            .execute(pg)?;
        }
        DbConn::Sqlite(lite) => {
            let rows: Vec<_> = wins
                .iter()
                .map(|w| {
                    let a = &asks[w.ask];
                    (
                        ev::tenant_id.eq(w.tenant),
                        ev::coupon_id.eq(w.coupon),
                        ev::action.eq("redeem"),
                        ev::user_id.eq(a.till.user_id),
                        ev::user_name.eq(a.till.user_name),
                        ev::store_id.eq(Some(a.till.store_id)),
                        ev::device.eq(a.till.device),
                        ev::idempotency_key.eq(a.idempotency_key),
                        ev::result.eq(w.result.as_str()),
                        ev::at.eq(at),
                    )
                })
                .collect();
            diesel::insert_into(ev::table).values(&rows).execute(lite)?;
        }
    }
    Ok(())
}

/// Voids a redemption within `window` of it, with a reason; the coupon can be used again.
pub fn void(
    conn: &mut DbConn,
    scope: &TenantScope,
    code: &str,
    till: &Till<'_>,
    reason: &str,
    window: chrono::TimeDelta,
) -> Result<std::result::Result<Coupon, NotVoided>> {
    let reason = reason.trim();
    write_tx(conn, |conn| {
        // An unknown code is `NotFound` before anything else is said about the request.
        let coupon = by_code(conn, scope, code)?;
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(validate::invalid("reason", "required").into());
        }
        check_till_store(conn, scope, till.store_id)?;
        if coupon.status != CouponStatus::Redeemed {
            return Ok(Err(NotVoided::NotRedeemed));
        }
        // A cashier voids only what was redeemed at a store they work at.
        if let (Some(mine), Some(at)) = (scope.stores(), coupon.redeemed_store_id) {
            if !mine.contains(&patron_domain::StoreId(at)) {
                return Ok(Err(NotVoided::OtherStore));
            }
        }
        if coupon.redeemed_at.is_some_and(|at| now() - at > window) {
            return Ok(Err(NotVoided::WindowPassed));
        }
        let n = diesel::update(
            c::table
                .filter(c::tenant_id.eq(scope.tenant_id().0))
                .filter(c::id.eq(coupon.id))
                .filter(c::status.eq(CouponStatus::Redeemed.as_str())),
        )
        .set((
            c::status.eq(CouponStatus::Issued.as_str()),
            c::redeemed_at.eq(None::<NaiveDateTime>),
            c::redeemed_store_id.eq(None::<i64>),
            c::redeemed_by.eq(None::<i64>),
            c::redeemed_by_name.eq(None::<String>),
            c::order_ref.eq(None::<String>),
            c::amount_fen.eq(None::<i64>),
            c::discount_fen.eq(None::<i64>),
        ))
        .execute(conn)?;
        if n == 0 {
            return Ok(Err(NotVoided::NotRedeemed));
        }
        diesel::insert_into(ev::table)
            .values((
                ev::tenant_id.eq(scope.tenant_id().0),
                ev::coupon_id.eq(coupon.id),
                ev::action.eq("void"),
                ev::user_id.eq(till.user_id),
                ev::user_name.eq(till.user_name),
                ev::store_id.eq(Some(till.store_id)),
                ev::device.eq(till.device),
                ev::reason.eq(Some(reason)),
                ev::result.eq("{}"),
                ev::at.eq(now()),
            ))
            .execute(conn)?;
        Ok(Ok(by_code(conn, scope, code)?))
    })
}
