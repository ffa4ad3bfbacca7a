//! Coupon campaigns, coupons, issuance under supply and per-follower limits, and
//! exactly-once redemption with the till's idempotency keys and an audit trail.

use crate::schema::{campaigns as cp, coupon_events as ev, coupon_holdings as h, coupons as c};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::coupons::{self as rules, Benefit, CouponStatus, Validity};
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = cp)]
pub struct Campaign {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    /// JSON of [`Benefit`].
    pub benefit: String,
    pub min_spend_fen: i64,
    /// JSON of [`Validity`].
    pub validity: String,
    pub total_supply: Option<i64>,
    pub per_follower_limit: Option<i64>,
    /// JSON array of store ids; `None`: every store.
    pub store_ids: Option<String>,
    pub status: String,
    pub terms: String,
    pub code_prefix: String,
    pub issued_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Coupons brought in with their own codes (CSV import).
    pub imported_codes: i64,
    /// Imports may bring codes of 4–7 characters (else at least 8: shorter ones can be
    /// guessed at the till).
    pub accepts_short_codes: bool,
}

impl Campaign {
    pub fn benefit(&self) -> Option<Benefit> {
        serde_json::from_str(&self.benefit).ok()
    }
    pub fn validity(&self) -> Option<Validity> {
        serde_json::from_str(&self.validity).ok()
    }
    pub fn stores(&self) -> Option<Vec<i64>> {
        self.store_ids
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

pub const STATUSES: [&str; 4] = ["draft", "active", "paused", "ended"];

/// A campaign as entered.
#[derive(Debug, Clone)]
pub struct CampaignInput {
    pub name: String,
    pub benefit: Benefit,
    pub min_spend_fen: i64,
    pub validity: Validity,
    pub total_supply: Option<i64>,
    pub per_follower_limit: Option<i64>,
    pub stores: Option<Vec<i64>>,
    pub terms: String,
    pub code_prefix: String,
    pub accepts_short_codes: bool,
}

/// Every rule a campaign as entered breaks, all at once (the stores' tenancy aside,
/// which needs the database): for forms that show each problem beside its field.
pub fn problems(i: &CampaignInput) -> Vec<validate::Invalid> {
    let mut out = Vec::new();
    if let Err(e) = validate::name("name", &i.name) {
        out.push(e);
    }
    if let Err(code) = i.benefit.validate() {
        out.push(validate::invalid("benefit", code));
    }
    if i.min_spend_fen < 0 {
        out.push(validate::invalid("min_spend", "invalid_amount"));
    }
    match &i.validity {
        Validity::Absolute { from, to } if from >= to => {
            out.push(validate::invalid("valid_to", "before_start"))
        }
        Validity::Relative { days } if !(1..=3650).contains(days) => {
            out.push(validate::invalid("valid_days", "invalid_days"))
        }
        _ => {}
    }
    if i.total_supply.is_some_and(|n| n < 1) {
        out.push(validate::invalid("total_supply", "invalid_limit"));
    }
    if i.per_follower_limit.is_some_and(|n| n < 1) {
        out.push(validate::invalid("per_follower_limit", "invalid_limit"));
    }
    if !i.code_prefix.is_empty() && !rules::valid_prefix(&i.code_prefix) {
        out.push(validate::invalid("code_prefix", "invalid_prefix"));
    }
    if i.terms.chars().count() > 2000 {
        out.push(validate::invalid("terms", "too_long"));
    }
    out
}

fn check(conn: &mut DbConn, scope: &TenantScope, i: &CampaignInput) -> Result<String> {
    if let Some(first) = problems(i).into_iter().next() {
        return Err(first.into());
    }
    let name = validate::name("name", &i.name)?;
    if let Some(stores) = &i.stores {
        let ids: Vec<patron_domain::StoreId> =
            stores.iter().map(|s| patron_domain::StoreId(*s)).collect();
        crate::stores::check_all_in_tenant(conn, scope, &ids)?;
    }
    Ok(name)
}

pub fn create(conn: &mut DbConn, scope: &TenantScope, i: &CampaignInput) -> Result<Campaign> {
    let name = check(conn, scope, i)?;
    let t = now();
    let id: i64 = diesel::insert_into(cp::table)
        .values((
            cp::tenant_id.eq(scope.tenant_id().0),
            cp::name.eq(&name),
            cp::benefit.eq(serde_json::to_string(&i.benefit).unwrap_or_default()),
            cp::min_spend_fen.eq(i.min_spend_fen),
            cp::validity.eq(serde_json::to_string(&i.validity).unwrap_or_default()),
            cp::total_supply.eq(i.total_supply),
            cp::per_follower_limit.eq(i.per_follower_limit),
            cp::accepts_short_codes.eq(i.accepts_short_codes),
            cp::store_ids.eq(i
                .stores
                .as_ref()
                .map(|s| serde_json::to_string(s).unwrap_or_default())),
            cp::status.eq("draft"),
            cp::terms.eq(i.terms.trim()),
            cp::code_prefix.eq(&i.code_prefix),
            cp::issued_count.eq(0i64),
            cp::created_at.eq(t),
            cp::updated_at.eq(t),
        ))
        .returning(cp::id)
        .get_result(conn)?;
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Campaign> {
    Ok(cp::table
        .filter(cp::id.eq(id))
        .filter(cp::tenant_id.eq(scope.tenant_id().0))
        .select(Campaign::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Campaign>> {
    Ok(cp::table
        .filter(cp::tenant_id.eq(scope.tenant_id().0))
        .order(cp::id.desc())
        .select(Campaign::as_select())
        .load(conn)?)
}

pub use crate::changes::Change;

/// Changes a campaign as entered and records who changed which fields. A draft may change
/// anything; once started, what it gives and its code prefix stay (issued coupons carry
/// them), and its supply cannot go below what it issued. Nothing changed: nothing recorded.
pub fn update(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    i: &CampaignInput,
    by: &str,
) -> Result<Campaign> {
    write_tx(conn, |c| {
        let cur = get(c, scope, id)?;
        let name = check(c, scope, i)?;
        let benefit = serde_json::to_string(&i.benefit).unwrap_or_default();
        let validity = serde_json::to_string(&i.validity).unwrap_or_default();
        let stores = i
            .stores
            .as_ref()
            .map(|s| serde_json::to_string(s).unwrap_or_default());
        let draft = cur.status == "draft";
        if !draft && benefit != cur.benefit {
            return Err(validate::invalid("benefit", "locked_after_start").into());
        }
        if !draft && i.code_prefix != cur.code_prefix {
            return Err(validate::invalid("code_prefix", "locked_after_start").into());
        }
        if i.total_supply.is_some_and(|n| n < cur.issued_count) {
            return Err(validate::invalid("total_supply", "below_issued").into());
        }
        let mut changed = Vec::new();
        for (field, differs) in [
            ("name", name != cur.name),
            ("benefit", benefit != cur.benefit),
            ("min_spend", i.min_spend_fen != cur.min_spend_fen),
            ("validity", validity != cur.validity),
            ("total_supply", i.total_supply != cur.total_supply),
            (
                "per_follower_limit",
                i.per_follower_limit != cur.per_follower_limit,
            ),
            ("stores", stores != cur.store_ids),
            ("terms", i.terms.trim() != cur.terms),
            ("code_prefix", i.code_prefix != cur.code_prefix),
            (
                "accepts_short_codes",
                i.accepts_short_codes != cur.accepts_short_codes,
            ),
        ] {
            if differs {
                changed.push(field);
            }
        }
        if changed.is_empty() {
            return Ok(cur);
        }
        let at = now();
        diesel::update(
            cp::table
                .filter(cp::id.eq(id))
                .filter(cp::tenant_id.eq(scope.tenant_id().0)),
        )
        .set((
            cp::name.eq(&name),
            cp::benefit.eq(&benefit),
            cp::min_spend_fen.eq(i.min_spend_fen),
            cp::validity.eq(&validity),
            cp::total_supply.eq(i.total_supply),
            cp::per_follower_limit.eq(i.per_follower_limit),
            cp::store_ids.eq(&stores),
            cp::terms.eq(i.terms.trim()),
            cp::code_prefix.eq(&i.code_prefix),
            cp::accepts_short_codes.eq(i.accepts_short_codes),
            cp::updated_at.eq(at),
        ))
        .execute(c)?;
        crate::changes::record(c, scope, crate::changes::CAMPAIGN, id, by, &changed, at)?;
        get(c, scope, id)
    })
}

/// A campaign's recorded changes, newest first.
pub fn changes(conn: &mut DbConn, scope: &TenantScope, id: i64, n: i64) -> Result<Vec<Change>> {
    crate::changes::of(conn, scope, crate::changes::CAMPAIGN, id, n)
}

pub fn set_status(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    status: &str,
) -> Result<Campaign> {
    if !STATUSES.contains(&status) {
        return Err(validate::invalid("status", "invalid_choice").into());
    }
    let current = get(conn, scope, id)?;
    if current.status == status {
        return Ok(current);
    }
    let allowed = patron_domain::coupons::next_campaign_statuses(&current.status);
    if !allowed.contains(&status) {
        return Err(StoreError::Conflict("status_not_allowed"));
    }
    // Only from the status read: two changes racing cannot both apply.
    let n = diesel::update(
        cp::table
            .filter(cp::id.eq(id))
            .filter(cp::tenant_id.eq(scope.tenant_id().0))
            .filter(cp::status.eq(&current.status)),
    )
    .set((cp::status.eq(status), cp::updated_at.eq(now())))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::Conflict("status_changed_meanwhile"));
    }
    get(conn, scope, id)
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = c)]
pub struct Coupon {
    pub id: i64,
    pub tenant_id: i64,
    pub campaign_id: i64,
    pub code: String,
    pub follower_id: Option<i64>,
    #[diesel(deserialize_as = String)]
    pub status: CouponStatus,
    pub valid_from: NaiveDateTime,
    pub valid_to: NaiveDateTime,
    pub channel: String,
    pub issued_by: String,
    pub issued_at: NaiveDateTime,
    pub redeemed_at: Option<NaiveDateTime>,
    pub redeemed_store_id: Option<i64>,
    pub redeemed_by: Option<i64>,
    pub redeemed_by_name: Option<String>,
    pub order_ref: Option<String>,
    pub amount_fen: Option<i64>,
    pub discount_fen: Option<i64>,
}

/// Why a coupon was not issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotIssued {
    /// The campaign is not active.
    NotActive,
    /// Its total supply is used up.
    SupplyExhausted,
    /// This follower holds as many as the campaign allows.
    FollowerLimit,
}

/// Counts one more coupon of the campaign held by the follower, only while below `limit`
/// (false: the follower already holds `limit`). The holding row is created at zero first;
/// the raise is a conditional update, row-locked and re-checked by PostgreSQL and
/// serialised by SQLite, so concurrent issuers never pass the limit.
fn raise_holding(conn: &mut DbConn, campaign: i64, follower: i64, limit: i64) -> Result<bool> {
    let zero = (
        h::campaign_id.eq(campaign),
        h::follower_id.eq(follower),
        h::held.eq(0i64),
    );
    match conn {
        DbConn::Postgres(pg) => diesel::insert_into(h::table)
            .values(zero)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConn::Sqlite(lite) => diesel::insert_into(h::table)
            .values(zero)
            .on_conflict_do_nothing()
            .execute(lite)?,
    };
    let raised = diesel::update(
        h::table
            .filter(h::campaign_id.eq(campaign))
            .filter(h::follower_id.eq(follower))
            .filter(h::held.lt(limit)),
    )
    .set(h::held.eq(h::held + 1))
    .execute(conn)?;
    Ok(raised == 1)
}

/// Issues one coupon of the campaign (to a follower, or unassigned), recording who, when
/// and through which channel. The supply and per-follower limits are conditional updates
/// inside the transaction, so they hold however many issue at once.
pub fn issue(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign_id: i64,
    follower_id: Option<i64>,
    channel: &str,
    issued_by: &str,
) -> Result<std::result::Result<Coupon, NotIssued>> {
    write_tx(conn, |conn| {
        issue_in(conn, scope, campaign_id, follower_id, channel, issued_by)
    })
}

/// [`issue`] inside the caller's write transaction (a reply rule, a stamp card's reward).
/// A refusal changes nothing, so the caller's transaction goes on.
pub fn issue_in(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign_id: i64,
    follower_id: Option<i64>,
    channel: &str,
    issued_by: &str,
) -> Result<std::result::Result<Coupon, NotIssued>> {
    let tenant = scope.tenant_id().0;
    let camp = get(conn, scope, campaign_id)?;
    if camp.status != "active" {
        return Ok(Err(NotIssued::NotActive));
    }
    if let Some(f) = follower_id {
        crate::followers::get(conn, scope, f)?;
    }
    // The supply, then the follower's limit (the order bulk issuance takes its locks in):
    // each a conditional update, so neither is passed however many issue at once.
    let took = diesel::update(
        cp::table
            .filter(cp::id.eq(campaign_id))
            .filter(cp::tenant_id.eq(tenant))
            .filter(
                cp::total_supply
                    .is_null()
                    .or(cp::issued_count.nullable().lt(cp::total_supply)),
            ),
    )
    .set(cp::issued_count.eq(cp::issued_count + 1))
    .execute(conn)?;
    if took == 0 {
        return Ok(Err(NotIssued::SupplyExhausted));
    }
    if let (Some(f), Some(limit)) = (follower_id, camp.per_follower_limit) {
        if !raise_holding(conn, campaign_id, f, limit)? {
            // Give the supply back: nothing was issued.
            diesel::update(
                cp::table
                    .filter(cp::tenant_id.eq(scope.tenant_id().0))
                    .filter(cp::id.eq(campaign_id)),
            )
            .set(cp::issued_count.eq(cp::issued_count - 1))
            .execute(conn)?;
            return Ok(Err(NotIssued::FollowerLimit));
        }
    }
    let at = now();
    let (from, to) = camp
        .validity()
        .ok_or(StoreError::Config("campaign validity unreadable".into()))?
        .window(at);
    let code = rules::generate(&mut rand::rngs::OsRng, &camp.code_prefix);
    let id: i64 = diesel::insert_into(c::table)
        .values((
            c::tenant_id.eq(tenant),
            c::campaign_id.eq(campaign_id),
            c::code.eq(&code),
            c::follower_id.eq(follower_id),
            c::status.eq(CouponStatus::Issued.as_str()),
            c::valid_from.eq(from),
            c::valid_to.eq(to),
            c::channel.eq(channel),
            c::issued_by.eq(issued_by),
            c::issued_at.eq(at),
        ))
        .returning(c::id)
        .get_result(conn)?;
    Ok(Ok(c::table
        .find(id)
        .select(Coupon::as_select())
        .first(conn)?))
}

/// What one batch of a bulk issue did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BulkBatch {
    pub issued: i64,
    /// Followers skipped: they already hold as many as the campaign allows.
    pub skipped: i64,
    /// Followers who would have had one but the supply ran out.
    pub unserved: i64,
    /// Followers an earlier attempt of the same run served (a retried job): issued, by it.
    pub served_before: i64,
    /// The supply ran out in this batch.
    pub exhausted: bool,
}

#[derive(Insertable)]
#[diesel(table_name = c, treat_none_as_default_value = false)]
struct NewCoupon<'a> {
    tenant_id: i64,
    campaign_id: i64,
    code: String,
    follower_id: Option<i64>,
    status: &'a str,
    valid_from: NaiveDateTime,
    valid_to: NaiveDateTime,
    channel: &'a str,
    issued_by: &'a str,
    issued_at: NaiveDateTime,
}

/// Issues one coupon to each of `followers` in one transaction: the supply is reserved for
/// the whole batch with one conditional update (or what is left of it), the per-follower
/// limit is checked per follower, and the coupons go in with one COPY (PostgreSQL) or one
/// INSERT … SELECT over a JSON array (SQLite). `channel`
/// names the bulk run; with `resume` (a retried job) followers it already served are
/// skipped.
pub fn issue_batch(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign_id: i64,
    followers: &[i64],
    channel: &str,
    issued_by: &str,
    resume: bool,
) -> Result<BulkBatch> {
    let tenant = scope.tenant_id().0;
    write_tx(conn, |conn| {
        let camp = get(conn, scope, campaign_id)?;
        if camp.status != "active" {
            return Err(StoreError::Conflict("campaign_not_active"));
        }
        let mut out = BulkBatch::default();
        let served: std::collections::HashSet<i64> = if resume {
            c::table
                .filter(c::tenant_id.eq(tenant))
                .filter(c::campaign_id.eq(campaign_id))
                .filter(c::channel.eq(channel))
                .filter(c::follower_id.eq_any(followers))
                .select(c::follower_id.assume_not_null())
                .load::<i64>(conn)?
                .into_iter()
                .collect()
        } else {
            Default::default()
        };
        let mut todo: Vec<i64> = followers
            .iter()
            .copied()
            .filter(|f| !served.contains(f))
            .collect();
        out.served_before = (followers.len() - todo.len()) as i64;
        if let Some(limit) = camp.per_follower_limit {
            let mut ok = Vec::with_capacity(todo.len());
            for f in todo {
                if raise_holding(conn, campaign_id, f, limit)? {
                    ok.push(f);
                } else {
                    out.skipped += 1;
                }
            }
            todo = ok;
        }
        // Reserve the supply for the batch, or whatever is left of it.
        let mut k = todo.len() as i64;
        if let Some(total) = camp.total_supply {
            let left = (total - camp.issued_count).max(0);
            if left < k {
                out.exhausted = true;
                k = left;
            }
        }
        if k > 0 {
            let took = diesel::update(
                cp::table
                    .filter(cp::tenant_id.eq(scope.tenant_id().0))
                    .filter(cp::id.eq(campaign_id))
                    .filter(
                        cp::total_supply
                            .is_null()
                            .or((cp::issued_count + k).nullable().le(cp::total_supply)),
                    ),
            )
            .set(cp::issued_count.eq(cp::issued_count + k))
            .execute(conn)?;
            if took == 0 {
                // Someone issued meanwhile: the caller retries the batch.
                return Err(StoreError::Conflict("supply_moved"));
            }
        }
        if camp.per_follower_limit.is_some() {
            // Followers left without a coupon by the supply give their holding back.
            for f in &todo[k as usize..] {
                diesel::update(
                    h::table
                        .filter(h::campaign_id.eq(campaign_id))
                        .filter(h::follower_id.eq(f)),
                )
                .set(h::held.eq(h::held - 1))
                .execute(conn)?;
            }
        }
        let at = now();
        let (from, to) = camp
            .validity()
            .ok_or(StoreError::Config("campaign validity unreadable".into()))?
            .window(at);
        // A CSPRNG (ChaCha) seeded from the OS once per batch: one system call instead of
        // thirteen per code.
        let mut rng = {
            use rand::SeedableRng;
            rand::rngs::StdRng::from_rng(rand::rngs::OsRng)
                .map_err(|e| StoreError::Config(format!("random: {e}")))?
        };
        // Each batch goes in in code order: the codes' unique index is random-order, and
        // sorted inserts walk its leaves once instead of jumping between them (SQLite:
        // 14-17 s for a million without, 11-12 s with; docs/benchmarks.md, "Issuance and
        // routing at their targets").
        let mut codes: Vec<(String, i64)> = todo[..k as usize]
            .iter()
            .map(|f| (rules::generate(&mut rng, &camp.code_prefix), *f))
            .collect();
        codes.sort_unstable();
        match conn {
            // COPY in binary: no statement of 30,000 parameters to parse and plan per
            // 3,000 rows.
            DbConn::Postgres(pg) => {
                let rows: Vec<NewCoupon<'_>> = codes
                    .into_iter()
                    .map(|(code, f)| NewCoupon {
                        tenant_id: tenant,
                        campaign_id,
                        code,
                        follower_id: Some(f),
                        status: CouponStatus::Issued.as_str(),
                        valid_from: from,
                        valid_to: to,
                        channel,
                        issued_by,
                        issued_at: at,
                    })
                    .collect();
                diesel::copy_from(c::table)
                    .from_insertable(&rows)
                    .execute(pg)?;
            }
            // One statement a batch, SQLite's counterpart of COPY: the codes and followers
            // as one JSON array read by json_each, the columns every row shares bound once
            // (no 30,000 parameters to bind and three timestamps to format per row).
            DbConn::Sqlite(lite) => {
                use diesel::sql_types::{BigInt, Text, Timestamp};
                let json = serde_json::to_string(&codes)
                    .map_err(|e| StoreError::Config(format!("coupon batch: {e}")))?;
                diesel::sql_query(
                    "INSERT INTO coupons (tenant_id, campaign_id, code, follower_id, status, \
                     valid_from, valid_to, channel, issued_by, issued_at) \
                     SELECT ?, ?, j.value ->> 0, j.value ->> 1, ?, ?, ?, ?, ?, ? \
                     FROM json_each(?) j",
                )
                .bind::<BigInt, _>(tenant)
                .bind::<BigInt, _>(campaign_id)
                .bind::<Text, _>(CouponStatus::Issued.as_str())
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .bind::<Text, _>(channel)
                .bind::<Text, _>(issued_by)
                .bind::<Timestamp, _>(at)
                .bind::<Text, _>(json)
                .execute(lite)?;
            }
        }
        out.issued = k;
        out.unserved = todo.len() as i64 - k;
        Ok(out)
    })
}

/// The OpenIDs of the followers holding a coupon of the campaign issued through
/// `channel` (a coupon offer's broadcast sends only to them).
pub fn holders(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign: i64,
    channel: &str,
) -> Result<std::collections::HashSet<String>> {
    use crate::schema::followers as f;
    Ok(c::table
        .inner_join(f::table.on(f::id.nullable().eq(c::follower_id)))
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::campaign_id.eq(campaign))
        .filter(c::channel.eq(channel))
        .select(f::openid)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// The ids of the followers holding a coupon of the campaign issued through `channel`.
pub fn holder_ids(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign: i64,
    channel: &str,
) -> Result<Vec<i64>> {
    Ok(c::table
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::campaign_id.eq(campaign))
        .filter(c::channel.eq(channel))
        .filter(c::follower_id.is_not_null())
        .select(c::follower_id.assume_not_null())
        .load(conn)?)
}

/// A coupon's code by id, if it is the tenant's.
pub fn code_of(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Option<String>> {
    Ok(c::table
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::id.eq(id))
        .select(c::code)
        .first(conn)
        .optional()?)
}

/// Up to `limit` codes of a campaign, oldest first (exports, benchmarks).
pub fn codes(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign: i64,
    limit: i64,
) -> Result<Vec<String>> {
    Ok(c::table
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::campaign_id.eq(campaign))
        .order(c::id.asc())
        .limit(limit)
        .select(c::code)
        .load(conn)?)
}

pub fn by_code(conn: &mut DbConn, scope: &TenantScope, code: &str) -> Result<Coupon> {
    Ok(c::table
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::code.eq(code))
        .select(Coupon::as_select())
        .first(conn)?)
}

pub fn of_follower(conn: &mut DbConn, scope: &TenantScope, follower: i64) -> Result<Vec<Coupon>> {
    Ok(c::table
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::follower_id.eq(follower))
        .order(c::id.desc())
        .limit(200)
        .select(Coupon::as_select())
        .load(conn)?)
}

mod redeem;
pub use redeem::*;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = ev)]
pub struct Event {
    pub id: i64,
    pub coupon_id: i64,
    pub action: String,
    pub user_id: Option<i64>,
    pub user_name: String,
    pub store_id: Option<i64>,
    pub device: String,
    pub reason: Option<String>,
    pub at: NaiveDateTime,
}

/// A cashier's latest `limit` redemptions and voids since `since`, newest first, and how
/// many there were in all.
pub fn events_by(
    conn: &mut DbConn,
    scope: &TenantScope,
    user_id: i64,
    since: NaiveDateTime,
    limit: i64,
) -> Result<(Vec<(Event, Coupon)>, i64)> {
    let mine = ev::table
        .filter(ev::tenant_id.eq(scope.tenant_id().0))
        .filter(ev::user_id.eq(user_id))
        .filter(ev::at.ge(since));
    // Newest first along the (tenant, user, at, id) index: the latest without sorting
    // the day.
    let latest = mine
        .inner_join(c::table.on(c::id.eq(ev::coupon_id)))
        .order((ev::at.desc(), ev::id.desc()))
        .limit(limit)
        .select((Event::as_select(), Coupon::as_select()))
        .load(conn)?;
    let all = if (latest.len() as i64) < limit {
        latest.len() as i64
    } else {
        mine.count().get_result(conn)?
    };
    Ok((latest, all))
}

/// A campaign's coupons by status, and its redemptions by store and by cashier.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub issued: i64,
    pub redeemed: i64,
    pub expired: i64,
    pub by_store: Vec<(Option<i64>, i64)>,
    pub by_cashier: Vec<(Option<String>, i64)>,
}

pub fn stats(conn: &mut DbConn, scope: &TenantScope, campaign: i64) -> Result<Stats> {
    let base = || {
        c::table
            .filter(c::tenant_id.eq(scope.tenant_id().0))
            .filter(c::campaign_id.eq(campaign))
    };
    let t = now();
    let issued: i64 = base().count().get_result(conn)?;
    let redeemed: i64 = base()
        .filter(c::status.eq(CouponStatus::Redeemed.as_str()))
        .count()
        .get_result(conn)?;
    let expired: i64 = base()
        .filter(c::status.eq(CouponStatus::Issued.as_str()))
        .filter(c::valid_to.le(t))
        .count()
        .get_result(conn)?;
    let by_store = base()
        .filter(c::status.eq(CouponStatus::Redeemed.as_str()))
        .group_by(c::redeemed_store_id)
        .select((c::redeemed_store_id, diesel::dsl::count_star()))
        .load(conn)?;
    let by_cashier = base()
        .filter(c::status.eq(CouponStatus::Redeemed.as_str()))
        .group_by(c::redeemed_by_name)
        .select((c::redeemed_by_name, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(Stats {
        issued,
        redeemed,
        expired,
        by_store,
        by_cashier,
    })
}

/// Imports existing codes into a campaign in one transaction: every code is new to the
/// tenant and every OpenID one of its followers, or nothing is stored and the rows that
/// failed come back. Imported coupons count towards the campaign's supply (the file is
/// refused when it would pass it) but not towards per-follower limits; they carry the
/// channel `import`.
pub fn import_codes(
    conn: &mut DbConn,
    scope: &TenantScope,
    campaign_id: i64,
    rows: &[patron_domain::coupon_csv::Row],
    issued_by: &str,
) -> Result<std::result::Result<usize, Vec<patron_domain::follower_csv::RowError>>> {
    use crate::schema::followers as fl;
    use patron_domain::follower_csv::RowError;
    use std::collections::HashMap;
    let tenant = scope.tenant_id().0;
    write_tx(conn, |conn| {
        let camp = get(conn, scope, campaign_id)?;
        let mut errors = Vec::new();
        if camp.status == "ended" {
            errors.push(RowError {
                line: 0,
                column: String::new(),
                code: "campaign_ended".into(),
            });
            return Ok(Err(errors));
        }
        if let Some(supply) = camp.total_supply {
            if camp.issued_count + rows.len() as i64 > supply {
                errors.push(RowError {
                    line: 0,
                    column: String::new(),
                    code: "supply_exceeded".into(),
                });
                return Ok(Err(errors));
            }
        }
        let mut taken = std::collections::HashSet::new();
        let mut followers: HashMap<String, i64> = HashMap::new();
        for chunk in rows.chunks(500) {
            let codes: Vec<&str> = chunk.iter().map(|r| r.code.as_str()).collect();
            taken.extend(
                c::table
                    .filter(c::tenant_id.eq(tenant))
                    .filter(c::code.eq_any(&codes))
                    .select(c::code)
                    .load::<String>(conn)?,
            );
            let openids: Vec<&str> = chunk.iter().filter_map(|r| r.openid.as_deref()).collect();
            if !openids.is_empty() {
                followers.extend(
                    fl::table
                        .filter(fl::tenant_id.eq(tenant))
                        .filter(fl::openid.eq_any(&openids))
                        .select((fl::openid, fl::id))
                        .load::<(String, i64)>(conn)?,
                );
            }
        }
        for r in rows {
            let err = |column: &str, code: &str| RowError {
                line: r.line,
                column: column.into(),
                code: code.into(),
            };
            if taken.contains(&r.code) {
                errors.push(err("code", "code_taken"));
            } else if r
                .openid
                .as_ref()
                .is_some_and(|o| !followers.contains_key(o))
            {
                errors.push(err("openid", "unknown_openid"));
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let at = now();
        let (from, to) = camp
            .validity()
            .ok_or(StoreError::Config("campaign validity unreadable".into()))?
            .window(at);
        for chunk in rows.chunks(1000) {
            let new: Vec<NewCoupon<'_>> = chunk
                .iter()
                .map(|r| NewCoupon {
                    tenant_id: tenant,
                    campaign_id,
                    code: r.code.clone(),
                    follower_id: r.openid.as_ref().map(|o| followers[o]),
                    status: CouponStatus::Issued.as_str(),
                    valid_from: from,
                    valid_to: to,
                    channel: "import",
                    issued_by,
                    issued_at: at,
                })
                .collect();
            match conn {
                DbConn::Postgres(pg) => diesel::insert_into(c::table).values(&new).execute(pg)?,
                DbConn::Sqlite(lite) => diesel::insert_into(c::table).values(&new).execute(lite)?,
            };
        }
        let n = rows.len() as i64;
        diesel::update(
            cp::table
                .filter(cp::tenant_id.eq(scope.tenant_id().0))
                .filter(cp::id.eq(campaign_id)),
        )
        .set((
            cp::issued_count.eq(cp::issued_count + n),
            cp::imported_codes.eq(cp::imported_codes + n),
            cp::updated_at.eq(at),
        ))
        .execute(conn)?;
        Ok(Ok(rows.len()))
    })
}

/// A coupon's audit trail (redemptions, voids), oldest first.
pub fn events_of(conn: &mut DbConn, scope: &TenantScope, coupon: i64) -> Result<Vec<Event>> {
    Ok(ev::table
        .filter(ev::tenant_id.eq(scope.tenant_id().0))
        .filter(ev::coupon_id.eq(coupon))
        .order(ev::id)
        .select(Event::as_select())
        .load(conn)?)
}

/// Notes that the follower opened their page: each coupon of theirs never opened before
/// is opened now (the dashboard's issued → opened → redeemed). Answers how
/// many. A write only the first time: later views find nothing to update.
pub fn mark_opened(
    conn: &mut DbConn,
    scope: &TenantScope,
    follower: i64,
    at: NaiveDateTime,
) -> Result<usize> {
    let unopened = c::table
        .filter(c::tenant_id.eq(scope.tenant_id().0))
        .filter(c::follower_id.eq(follower))
        .filter(c::opened_at.is_null());
    let any: bool = diesel::select(diesel::dsl::exists(unopened)).get_result(conn)?;
    if !any {
        return Ok(0);
    }
    Ok(diesel::update(unopened)
        .set(c::opened_at.eq(at))
        .execute(conn)?)
}
