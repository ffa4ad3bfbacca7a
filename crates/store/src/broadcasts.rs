//! Broadcasts: the rows, the quota's slots and the chunks they are sent in.
//!
//! The quota holds under any concurrency because each used slot is a row under the
//! unique key (tenant, period, slot), and a slot number is only ever taken below the
//! policy's count: two admins, two tabs or several processes racing for the last slot
//! of a day insert the same key, and one of them inserts nothing.

use crate::schema::{broadcast_chunks as ch, broadcast_settings as bs, broadcast_slots as sl};
use crate::schema::{broadcasts as b, followers as f};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use diesel::prelude::*;
use patron_domain::broadcasts::{self as rules, status, Period, PeriodKey, QuotaPolicy};
use patron_domain::wechat_settings::AccountKind;
use patron_domain::TenantScope;
use serde::Serialize;

/// A tenant's broadcast settings as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = bs)]
struct SettingsRow {
    quota_period: Option<String>,
    quota_count: Option<i64>,
    follower_cap: Option<i64>,
    needs_approval: bool,
}

/// A tenant's broadcast settings: its quota (custom, or its account kind's preset) and
/// whether a merchant admin approves each broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub policy: QuotaPolicy,
    /// Whether the policy is the account kind's preset.
    pub preset: bool,
    pub needs_approval: bool,
}

/// The scoped tenant's settings; `kind` gives the preset.
pub fn settings(conn: &mut DbConn, scope: &TenantScope, kind: AccountKind) -> Result<Settings> {
    let row: Option<SettingsRow> = bs::table
        .find(scope.tenant_id().0)
        .select(SettingsRow::as_select())
        .load(conn)?
        .pop();
    Ok(settings_of(row, kind))
}

/// The settings of each of `tenants` (id and account kind) in one read (the agency's
/// portfolio).
pub fn settings_many(
    conn: &mut DbConn,
    tenants: &[(i64, AccountKind)],
) -> Result<std::collections::HashMap<i64, Settings>> {
    let ids: Vec<i64> = tenants.iter().map(|(id, _)| *id).collect();
    let mut rows: std::collections::HashMap<i64, SettingsRow> = bs::table
        .filter(bs::tenant_id.eq_any(&ids))
        .select((bs::tenant_id, SettingsRow::as_select()))
        .load::<(i64, SettingsRow)>(conn)?
        .into_iter()
        .collect();
    Ok(tenants
        .iter()
        .map(|(id, kind)| (*id, settings_of(rows.remove(id), *kind)))
        .collect())
}

fn settings_of(row: Option<SettingsRow>, kind: AccountKind) -> Settings {
    let preset = QuotaPolicy::preset(kind);
    match row {
        None => Settings {
            policy: preset,
            preset: true,
            needs_approval: false,
        },
        Some(r) => {
            let custom = r.quota_period.as_deref().and_then(|p| {
                let period = Period::parse(p).ok()?;
                QuotaPolicy::custom(period, r.quota_count?, r.follower_cap).ok()
            });
            Settings {
                policy: custom.unwrap_or(preset),
                preset: custom.is_none(),
                needs_approval: r.needs_approval,
            }
        }
    }
}

/// Stores the settings: `custom` `None` goes back to the account kind's preset.
pub fn put_settings(
    conn: &mut DbConn,
    scope: &TenantScope,
    custom: Option<QuotaPolicy>,
    needs_approval: bool,
) -> Result<()> {
    let t = scope.tenant_id().0;
    let values = (
        bs::quota_period.eq(custom.map(|p| p.period.as_str())),
        bs::quota_count.eq(custom.map(|p| p.count as i64)),
        bs::follower_cap.eq(custom.and_then(|p| p.follower_monthly_cap.map(i64::from))),
        bs::needs_approval.eq(needs_approval),
        bs::updated_at.eq(now()),
    );
    write_tx(conn, |conn| {
        let n = diesel::update(bs::table.find(t))
            .set(values)
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(bs::table)
                .values((bs::tenant_id.eq(t), values))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A broadcast as stored. `message` and `audience` are JSON of
/// `patron_domain::broadcasts::{Message, Audience}`.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = b)]
pub struct Broadcast {
    pub id: i64,
    pub tenant_id: i64,
    pub title: String,
    pub message: String,
    pub audience: String,
    pub status: String,
    pub scheduled_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub approved_by: Option<String>,
    pub approved_at: Option<NaiveDateTime>,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub recipients: Option<i64>,
    pub left_out: i64,
    pub total_count: i64,
    pub filter_count: i64,
    pub sent_count: i64,
    pub error_count: i64,
    pub failure: Option<String>,
    /// Followers left out because they had received the monthly most already.
    pub at_cap: i64,
    /// A recurring template's cron expression (tenant's time zone).
    pub recurrence: Option<String>,
    /// A recurring template's next occurrence not yet made a broadcast (UTC).
    pub next_at: Option<NaiveDateTime>,
    /// The recurring template an occurrence was made from.
    pub parent_id: Option<i64>,
    /// A coupon offer's coupons, issued when it was planned.
    pub coupons_issued: i64,
    /// Followers of a coupon offer's audience left without a coupon (supply, limit).
    pub no_coupon: i64,
    /// Also sent by email to the audience's followers who agreed to email.
    pub email: bool,
    /// The local month (`2026-12`) whose per-follower cap its plan counts in: each
    /// follower of its OpenID lists received one more broadcast that month.
    pub cap_month: Option<String>,
}

impl Broadcast {
    pub fn message(&self) -> Option<rules::Message> {
        serde_json::from_str(&self.message).ok()
    }
    pub fn audience(&self) -> Option<rules::Audience> {
        serde_json::from_str(&self.audience).ok()
    }
}

/// A new draft.
pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    title: &str,
    message: &rules::Message,
    audience: &rules::Audience,
    email: bool,
    by: &str,
) -> Result<Broadcast> {
    let at = now();
    let id: i64 = diesel::insert_into(b::table)
        .values((
            b::tenant_id.eq(scope.tenant_id().0),
            b::title.eq(title),
            b::message.eq(json(message)),
            b::audience.eq(json(audience)),
            b::email.eq(email),
            b::status.eq(status::DRAFT),
            b::created_by.eq(by),
            b::created_at.eq(at),
            b::updated_at.eq(at),
            b::left_out.eq(0i64),
            b::total_count.eq(0i64),
            b::filter_count.eq(0i64),
            b::sent_count.eq(0i64),
            b::error_count.eq(0i64),
        ))
        .returning(b::id)
        .get_result(conn)?;
    get(conn, scope, id)
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("broadcast values always serialize")
}

/// Rewrites a broadcast that can still be edited; it goes back to draft, so an approval
/// is asked for again. `Conflict` once it is scheduled or later.
pub fn update(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    title: &str,
    message: &rules::Message,
    audience: &rules::Audience,
    email: bool,
) -> Result<()> {
    let n = diesel::update(
        b::table
            .find(id)
            .filter(b::tenant_id.eq(scope.tenant_id().0))
            .filter(b::status.eq_any([status::DRAFT, status::AWAITING_APPROVAL, status::APPROVED])),
    )
    .set((
        b::title.eq(title),
        b::message.eq(json(message)),
        b::audience.eq(json(audience)),
        b::email.eq(email),
        b::status.eq(status::DRAFT),
        b::approved_by.eq(None::<String>),
        b::approved_at.eq(None::<NaiveDateTime>),
        b::updated_at.eq(now()),
    ))
    .execute(conn)?;
    changed_or(conn, scope, id, n)
}

/// `Ok` when a conditional update changed the row; else `NotFound` for a row that is not
/// the tenant's and `Conflict` for one in another state.
fn changed_or(conn: &mut DbConn, scope: &TenantScope, id: i64, n: usize) -> Result<()> {
    if n > 0 {
        return Ok(());
    }
    get(conn, scope, id)?;
    Err(StoreError::Conflict("broadcast_state"))
}

/// One broadcast of the scoped tenant.
pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Broadcast> {
    b::table
        .find(id)
        .filter(b::tenant_id.eq(scope.tenant_id().0))
        .select(Broadcast::as_select())
        .load(conn)?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// The tenant's broadcasts, newest first.
pub fn list(conn: &mut DbConn, scope: &TenantScope, limit: i64) -> Result<Vec<Broadcast>> {
    Ok(b::table
        .filter(b::tenant_id.eq(scope.tenant_id().0))
        .order(b::id.desc())
        .limit(limit.clamp(1, 500))
        .select(Broadcast::as_select())
        .load(conn)?)
}

/// Moves a broadcast from one of `from` to `to` (the state read is the update's
/// condition, so two clicks move it once).
pub fn transition(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    from: &[&str],
    to: &str,
) -> Result<()> {
    let n = diesel::update(
        b::table
            .find(id)
            .filter(b::tenant_id.eq(scope.tenant_id().0))
            .filter(b::status.eq_any(from)),
    )
    .set((b::status.eq(to), b::updated_at.eq(now())))
    .execute(conn)?;
    changed_or(conn, scope, id, n)
}

/// Records the approval of a broadcast awaiting it.
pub fn approve(conn: &mut DbConn, scope: &TenantScope, id: i64, by: &str) -> Result<()> {
    let at = now();
    let n = diesel::update(
        b::table
            .find(id)
            .filter(b::tenant_id.eq(scope.tenant_id().0))
            .filter(b::status.eq(status::AWAITING_APPROVAL)),
    )
    .set((
        b::status.eq(status::APPROVED),
        b::approved_by.eq(Some(by)),
        b::approved_at.eq(Some(at)),
        b::updated_at.eq(at),
    ))
    .execute(conn)?;
    changed_or(conn, scope, id, n)
}

/// A used quota slot, for the calendar.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = sl)]
pub struct Slot {
    pub id: i64,
    pub period: String,
    pub slot: i64,
    pub broadcast_id: Option<i64>,
    pub at: NaiveDateTime,
    pub note: Option<String>,
    pub created_by: String,
}

/// The slots used in periods `from..=to` (their stored text), in time order.
pub fn slots_between(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: &str,
    to: &str,
) -> Result<Vec<Slot>> {
    Ok(sl::table
        .filter(sl::tenant_id.eq(scope.tenant_id().0))
        .filter(sl::period.ge(from))
        .filter(sl::period.le(to))
        .order((sl::at, sl::id))
        .select(Slot::as_select())
        .load(conn)?)
}

/// Why a slot could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaFull {
    /// The full period.
    pub period: PeriodKey,
    /// The first later period with a free slot, and a time in it (the same local time of
    /// day when it exists), within a year.
    pub next: Option<(PeriodKey, NaiveDateTime)>,
}

/// The slot numbers used in `period`.
fn taken(conn: &mut DbConn, tenant: i64, period: &str) -> Result<Vec<u32>> {
    let used: Vec<i64> = sl::table
        .filter(sl::tenant_id.eq(tenant))
        .filter(sl::period.eq(period))
        .select(sl::slot)
        .load(conn)?;
    Ok(used.into_iter().map(|s| s as u32).collect())
}

/// Takes a free slot of the period holding `at` for `broadcast` (`None`: a send made
/// outside Patron), inside the caller's transaction. `Ok(None)` when the period is
/// full. A racing writer that took the same slot number first makes the insert do
/// nothing, and the next free number is tried.
#[allow(clippy::too_many_arguments)]
fn take_slot(
    conn: &mut DbConn,
    tenant: i64,
    policy: &QuotaPolicy,
    tz: Tz,
    at: NaiveDateTime,
    broadcast: Option<i64>,
    note: Option<&str>,
    by: &str,
) -> Result<Option<i64>> {
    let period = policy.key_at(at, tz).to_string();
    loop {
        let used = taken(conn, tenant, &period)?;
        let Some(slot) = rules::free_slot(policy, &used) else {
            return Ok(None);
        };
        let row = (
            sl::tenant_id.eq(tenant),
            sl::period.eq(&period),
            sl::slot.eq(slot as i64),
            sl::broadcast_id.eq(broadcast),
            sl::at.eq(at),
            sl::note.eq(note),
            sl::created_by.eq(by),
            sl::created_at.eq(now()),
        );
        let inserted = match conn {
            DbConn::Postgres(pg) => diesel::insert_into(sl::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(sl::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(lite)?,
        };
        if inserted == 1 {
            return Ok(Some(slot as i64));
        }
    }
}

/// Where the first free slot after a full period is, within a year.
fn next_free(
    conn: &mut DbConn,
    tenant: i64,
    policy: &QuotaPolicy,
    tz: Tz,
    at: NaiveDateTime,
) -> Result<Option<(PeriodKey, NaiveDateTime)>> {
    let first = policy.key_at(at, tz).next().to_string();
    // Every used slot from the next period on, counted per period in one read.
    let used: Vec<String> = sl::table
        .filter(sl::tenant_id.eq(tenant))
        .filter(sl::period.ge(&first))
        .select(sl::period)
        .load(conn)?;
    let horizon = match policy.period {
        Period::Day => 366,
        Period::Month => 12,
    };
    Ok(rules::next_free(policy, at, tz, horizon, |k| {
        let k = k.to_string();
        used.iter().filter(|p| **p == k).count() as u32
    }))
}

/// Schedules a broadcast for `at`: takes a quota slot of its period (unless it goes out
/// as customer-service messages, `uses_quota` false) and marks it scheduled, in one
/// transaction. The broadcast must be a draft, or approved when `needs_approval`.
/// `Ok(Err(QuotaFull))` when the period has no free slot: nothing changed.
#[allow(clippy::too_many_arguments)]
pub fn schedule(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    at: NaiveDateTime,
    settings: &Settings,
    tz: Tz,
    uses_quota: bool,
    by: &str,
) -> Result<std::result::Result<(), QuotaFull>> {
    let tenant = scope.tenant_id().0;
    let ready: &[&str] = if settings.needs_approval {
        &[status::APPROVED]
    } else {
        &[status::DRAFT, status::APPROVED]
    };
    write_tx(conn, |conn| {
        // The slot first: a full period changes nothing.
        if uses_quota
            && take_slot(conn, tenant, &settings.policy, tz, at, Some(id), None, by)?.is_none()
        {
            return Ok(Err(QuotaFull {
                period: settings.policy.key_at(at, tz),
                next: next_free(conn, tenant, &settings.policy, tz, at)?,
            }));
        }
        // A broadcast not ready (or not the tenant's) rolls the slot back with it.
        let n = diesel::update(
            b::table
                .find(id)
                .filter(b::tenant_id.eq(tenant))
                .filter(b::status.eq_any(ready)),
        )
        .set((
            b::status.eq(status::SCHEDULED),
            b::scheduled_at.eq(Some(at)),
            b::updated_at.eq(now()),
        ))
        .execute(conn)?;
        changed_or(conn, scope, id, n)?;
        Ok(Ok(()))
    })
}

/// Makes a broadcast a recurring template: `cron` (already checked) with its first
/// occurrence `next_at`. The broadcast must be ready as for [`schedule`].
pub fn set_recurring(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    cron: &str,
    next_at: NaiveDateTime,
    needs_approval: bool,
) -> Result<()> {
    let ready: &[&str] = if needs_approval {
        &[status::APPROVED]
    } else {
        &[status::DRAFT, status::APPROVED]
    };
    let n = diesel::update(
        b::table
            .find(id)
            .filter(b::tenant_id.eq(scope.tenant_id().0))
            .filter(b::status.eq_any(ready)),
    )
    .set((
        b::status.eq(status::RECURRING),
        b::recurrence.eq(Some(cron)),
        b::next_at.eq(Some(next_at)),
        b::updated_at.eq(now()),
    ))
    .execute(conn)?;
    changed_or(conn, scope, id, n)
}

/// Stops a recurring template (back to approved or draft); occurrences already made stay.
pub fn stop_recurring(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    write_tx(conn, |conn| {
        let back = if get(conn, scope, id)?.approved_at.is_some() {
            status::APPROVED
        } else {
            status::DRAFT
        };
        transition(conn, scope, id, &[status::RECURRING], back)?;
        diesel::update(b::table.find(id))
            .set((
                b::recurrence.eq(None::<String>),
                b::next_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Recurring templates whose next occurrence is before `horizon`: (id, tenant).
pub fn recurring_due(conn: &mut DbConn, horizon: NaiveDateTime) -> Result<Vec<(i64, i64)>> {
    Ok(b::table
        .filter(b::status.eq(status::RECURRING))
        .filter(b::next_at.le(horizon))
        .order(b::next_at)
        .limit(100)
        .select((b::id, b::tenant_id))
        .load(conn)?)
}

/// Makes the template's occurrence at `at` a broadcast of its own and moves the template
/// to `next` (its following occurrence), in one transaction: scheduled with a slot when
/// its period has one, else recorded as skipped. The template's `next_at` is the
/// update's condition, so two processes make an occurrence once. Answers the new
/// broadcast and whether it got a slot; `None` when another process made it.
#[allow(clippy::too_many_arguments)]
pub fn materialize(
    conn: &mut DbConn,
    scope: &TenantScope,
    template: &Broadcast,
    at: NaiveDateTime,
    next: Option<NaiveDateTime>,
    settings: &Settings,
    tz: Tz,
    uses_quota: bool,
) -> Result<Option<(i64, bool)>> {
    let tenant = scope.tenant_id().0;
    write_tx(conn, |conn| {
        let moved = diesel::update(
            b::table
                .find(template.id)
                .filter(b::status.eq(status::RECURRING))
                .filter(b::next_at.eq(Some(at))),
        )
        .set((b::next_at.eq(next), b::updated_at.eq(now())))
        .execute(conn)?;
        if moved == 0 {
            return Ok(None);
        }
        let created = now();
        let child: i64 = diesel::insert_into(b::table)
            .values((
                b::tenant_id.eq(tenant),
                b::title.eq(&template.title),
                b::message.eq(&template.message),
                b::audience.eq(&template.audience),
                b::email.eq(template.email),
                b::status.eq(status::SKIPPED),
                b::scheduled_at.eq(Some(at)),
                b::created_by.eq(&template.created_by),
                b::created_at.eq(created),
                b::updated_at.eq(created),
                b::approved_by.eq(&template.approved_by),
                b::approved_at.eq(template.approved_at),
                b::left_out.eq(0i64),
                b::total_count.eq(0i64),
                b::filter_count.eq(0i64),
                b::sent_count.eq(0i64),
                b::error_count.eq(0i64),
                b::at_cap.eq(0i64),
                b::parent_id.eq(Some(template.id)),
            ))
            .returning(b::id)
            .get_result(conn)?;
        let slot = !uses_quota
            || take_slot(
                conn,
                tenant,
                &settings.policy,
                tz,
                at,
                Some(child),
                None,
                &template.created_by,
            )?
            .is_some();
        if slot {
            diesel::update(b::table.find(child))
                .set(b::status.eq(status::SCHEDULED))
                .execute(conn)?;
        }
        Ok(Some((child, slot)))
    })
}

/// The occurrences made from a recurring template, newest first.
pub fn occurrences(
    conn: &mut DbConn,
    scope: &TenantScope,
    template: i64,
) -> Result<Vec<Broadcast>> {
    Ok(b::table
        .filter(b::tenant_id.eq(scope.tenant_id().0))
        .filter(b::parent_id.eq(Some(template)))
        .order(b::scheduled_at.desc())
        .limit(100)
        .select(Broadcast::as_select())
        .load(conn)?)
}

/// Takes a scheduled broadcast off the calendar: back to draft (approval kept) and its
/// slot freed, in one transaction. `Conflict` once it started.
pub fn unschedule(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    write_tx(conn, |conn| unschedule_in(conn, scope, id))
}

/// Discards a broadcast that has not started: a scheduled one gives its slot back
/// first. One transaction.
pub fn cancel(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    write_tx(conn, |conn| {
        if get(conn, scope, id)?.status == status::SCHEDULED {
            unschedule_in(conn, scope, id)?;
        }
        transition(
            conn,
            scope,
            id,
            &[status::DRAFT, status::AWAITING_APPROVAL, status::APPROVED],
            status::CANCELLED,
        )
    })
}

/// [`unschedule`] inside the caller's transaction (write transactions do not nest: on
/// SQLite they queue on one lock).
fn unschedule_in(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    let tenant = scope.tenant_id().0;
    {
        let was_approved = get(conn, scope, id)?.approved_at.is_some();
        let back = if was_approved {
            status::APPROVED
        } else {
            status::DRAFT
        };
        transition(conn, scope, id, &[status::SCHEDULED], back)?;
        diesel::update(b::table.find(id))
            .set(b::scheduled_at.eq(None::<NaiveDateTime>))
            .execute(conn)?;
        diesel::delete(
            sl::table
                .filter(sl::tenant_id.eq(tenant))
                .filter(sl::broadcast_id.eq(id)),
        )
        .execute(conn)?;
        Ok(())
    }
}

/// Records a broadcast sent outside Patron (from the official console) at `at`, so
/// planning counts it. `Ok(Err(QuotaFull))` when its period is already full in Patron's
/// books (the record is refused: WeChat would have refused the send too, so the date is
/// likely wrong).
pub fn record_external(
    conn: &mut DbConn,
    scope: &TenantScope,
    at: NaiveDateTime,
    note: &str,
    settings: &Settings,
    tz: Tz,
    by: &str,
) -> Result<std::result::Result<i64, QuotaFull>> {
    let tenant = scope.tenant_id().0;
    write_tx(conn, |conn| {
        match take_slot(conn, tenant, &settings.policy, tz, at, None, Some(note), by)? {
            Some(slot) => Ok(Ok(slot)),
            None => Ok(Err(QuotaFull {
                period: settings.policy.key_at(at, tz),
                next: None,
            })),
        }
    })
}

/// Removes a recorded outside send (one without a broadcast).
pub fn delete_external(conn: &mut DbConn, scope: &TenantScope, slot_id: i64) -> Result<()> {
    let n = diesel::delete(
        sl::table
            .find(slot_id)
            .filter(sl::tenant_id.eq(scope.tenant_id().0))
            .filter(sl::broadcast_id.is_null()),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Scheduled broadcasts due at `at`, of every tenant (the scheduler's tick): ids and
/// tenants, oldest due first.
pub fn due(conn: &mut DbConn, at: NaiveDateTime, limit: i64) -> Result<Vec<(i64, i64)>> {
    Ok(b::table
        .filter(b::status.eq(status::SCHEDULED))
        .filter(b::scheduled_at.le(at))
        .order(b::scheduled_at)
        .limit(limit)
        .select((b::id, b::tenant_id))
        .load(conn)?)
}

/// Marks a due broadcast as sending, once: `false` when another process got there first.
/// The caller queues its job in the same transaction.
pub fn start(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<bool> {
    let at = now();
    let n = diesel::update(
        b::table
            .find(id)
            .filter(b::tenant_id.eq(scope.tenant_id().0))
            .filter(b::status.eq(status::SCHEDULED)),
    )
    .set((
        b::status.eq(status::SENDING),
        b::started_at.eq(Some(at)),
        b::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends a sending broadcast: sent (every chunk accepted) or failed (with why, JSON).
pub fn finish(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    to: &str,
    failure: Option<&str>,
) -> Result<()> {
    let at = now();
    diesel::update(
        b::table
            .find(id)
            .filter(b::tenant_id.eq(scope.tenant_id().0))
            .filter(b::status.eq_any([status::SENDING, status::FAILED])),
    )
    .set((
        b::status.eq(to),
        b::finished_at.eq(Some(at)),
        b::failure.eq(failure),
        b::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}

/// A chunk: one call to WeChat.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = ch)]
pub struct Chunk {
    pub id: i64,
    pub seq: i64,
    pub target: String,
    pub tag_id: Option<i64>,
    pub openids: Option<String>,
    pub recipients: i64,
    pub clientmsgid: String,
    pub state: String,
    pub msg_id: Option<i64>,
    pub wx_status: Option<String>,
    pub total_count: Option<i64>,
    pub filter_count: Option<i64>,
    pub sent_count: Option<i64>,
    pub error_count: Option<i64>,
}

/// Chunk states.
pub mod chunk {
    pub const PENDING: &str = "pending";
    pub const SUBMITTED: &str = "submitted";
    pub const FINISHED: &str = "finished";
}

/// What one chunk will send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    Tag(i64),
    OpenIds(Vec<String>),
}

/// The `clientmsgid` of a chunk: unique per tenant, broadcast and chunk, so WeChat turns
/// a repeated call away (45065) instead of sending twice.
pub fn clientmsgid(tenant: i64, broadcast: i64, seq: i64) -> String {
    format!("patron-{tenant}-{broadcast}-{seq}")
}

/// A broadcast's plan as stored.
pub struct PlanRecord<'a> {
    /// The sends, each with its number of recipients.
    pub targets: &'a [(Target, i64)],
    pub recipients: i64,
    /// Followers named (an uploaded list) but not following.
    pub left_out: i64,
    /// The per-follower monthly cap as applied.
    pub cap: Option<&'a Cap>,
    /// What a coupon offer issued.
    pub offered: Option<&'a Offered>,
}

/// Stores a broadcast's plan once: its chunks, its audience size and who was left out,
/// in one transaction. A second call (a retried job) finds the chunks and changes
/// nothing, so a plan is never made twice.
pub fn plan(conn: &mut DbConn, scope: &TenantScope, id: i64, p: &PlanRecord<'_>) -> Result<bool> {
    let PlanRecord {
        targets,
        recipients,
        left_out,
        cap,
        offered,
    } = *p;
    let tenant = scope.tenant_id().0;
    write_tx(conn, |conn| {
        let existing: i64 = ch::table
            .filter(ch::broadcast_id.eq(id))
            .count()
            .get_result(conn)?;
        if existing > 0 {
            return Ok(false);
        }
        get(conn, scope, id)?;
        let at = now();
        for (seq, (target, n)) in targets.iter().enumerate() {
            let seq = seq as i64;
            let (kind, tag, openids) = match target {
                Target::All => ("all", None, None),
                Target::Tag(t) => ("tag", Some(*t), None),
                Target::OpenIds(list) => ("openids", None, Some(list.join("\n"))),
            };
            diesel::insert_into(ch::table)
                .values((
                    ch::tenant_id.eq(tenant),
                    ch::broadcast_id.eq(id),
                    ch::seq.eq(seq),
                    ch::target.eq(kind),
                    ch::tag_id.eq(tag),
                    ch::openids.eq(openids),
                    ch::recipients.eq(*n),
                    ch::clientmsgid.eq(clientmsgid(tenant, id, seq)),
                    ch::state.eq(chunk::PENDING),
                    ch::updated_at.eq(at),
                ))
                .execute(conn)?;
        }
        diesel::update(b::table.find(id))
            .set((
                b::recipients.eq(Some(recipients)),
                b::left_out.eq(left_out),
                b::at_cap.eq(cap.map_or(0, |c| c.left_out)),
                b::cap_month.eq(cap.map(|c| c.month.as_str())),
                b::coupons_issued.eq(offered.map_or(0, |o| o.issued)),
                b::no_coupon.eq(offered.map_or(0, |o| o.no_coupon)),
                b::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// The per-follower monthly cap as a plan applies it: the local month it counts in
/// (`2026-12`) and how many followers it left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    pub month: String,
    pub left_out: i64,
}

/// What planning a coupon offer issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offered {
    /// Coupons issued to the broadcast's followers (by this plan or an interrupted one).
    pub issued: i64,
    /// Followers of the audience left without one.
    pub no_coupon: i64,
}

/// The channel a coupon offer's coupons carry.
pub fn offer_channel(broadcast: i64) -> String {
    format!("broadcast:{broadcast}")
}

/// The OpenIDs of the tenant that received `cap` or more broadcasts in `month`: counted
/// from the OpenID lists of the plans that count in that month (with a cap, every
/// audience is planned as lists), chunk by chunk, so a month of million-follower
/// broadcasts is read one list of 10,000 at a time. Discarded broadcasts count for
/// nothing; a failed one counts (some of its chunks may have gone out).
pub fn at_cap(
    conn: &mut DbConn,
    scope: &TenantScope,
    month: &str,
    cap: i64,
) -> Result<std::collections::HashSet<String>> {
    let counted: Vec<i64> = b::table
        .filter(b::tenant_id.eq(scope.tenant_id().0))
        .filter(b::cap_month.eq(month))
        .filter(b::status.ne(status::CANCELLED))
        .select(b::id)
        .load(conn)?;
    let chunk_ids: Vec<i64> = ch::table
        .filter(ch::tenant_id.eq(scope.tenant_id().0))
        .filter(ch::broadcast_id.eq_any(&counted))
        .filter(ch::target.eq("openids"))
        .order(ch::id)
        .select(ch::id)
        .load(conn)?;
    let mut received: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for id in chunk_ids {
        let list: Option<String> = ch::table.find(id).select(ch::openids).first(conn)?;
        for openid in list.as_deref().unwrap_or_default().split('\n') {
            if !openid.is_empty() {
                *received.entry(openid.to_string()).or_default() += 1;
            }
        }
    }
    Ok(received
        .into_iter()
        .filter(|(_, n)| *n >= cap)
        .map(|(o, _)| o)
        .collect())
}

/// A broadcast's chunks in order.
pub fn chunks(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Vec<Chunk>> {
    Ok(ch::table
        .filter(ch::tenant_id.eq(scope.tenant_id().0))
        .filter(ch::broadcast_id.eq(id))
        .order(ch::seq)
        .select(Chunk::as_select())
        .load(conn)?)
}

/// Records that WeChat accepted a chunk (its `msg_id`).
pub fn submitted(conn: &mut DbConn, scope: &TenantScope, chunk_id: i64, msg_id: i64) -> Result<()> {
    diesel::update(
        ch::table
            .find(chunk_id)
            .filter(ch::tenant_id.eq(scope.tenant_id().0))
            .filter(ch::state.eq(chunk::PENDING)),
    )
    .set((
        ch::state.eq(chunk::SUBMITTED),
        ch::msg_id.eq(Some(msg_id)),
        ch::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(())
}

/// A chunk's reported counts: total, filtered, sent, errors.
type ChunkCounts = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// WeChat's report of a mass send (`MASSSENDJOBFINISH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub msg_id: i64,
    pub status: String,
    pub total: i64,
    pub filtered: i64,
    pub sent: i64,
    pub errors: i64,
}

/// Applies WeChat's report to the chunk it names and sums its broadcast's counts again,
/// in one transaction. `false` when no chunk of the tenant has that `msg_id` (a send
/// from the console, or a preview). Applying the same report twice changes nothing.
pub fn apply_report(conn: &mut DbConn, scope: &TenantScope, r: &Report) -> Result<bool> {
    let tenant = scope.tenant_id().0;
    write_tx(conn, |conn| {
        let found: Option<(i64, i64)> = ch::table
            .filter(ch::tenant_id.eq(tenant))
            .filter(ch::msg_id.eq(Some(r.msg_id)))
            .select((ch::id, ch::broadcast_id))
            .load(conn)?
            .pop();
        let Some((chunk_id, broadcast)) = found else {
            return Ok(false);
        };
        diesel::update(ch::table.find(chunk_id))
            .set((
                ch::state.eq(chunk::FINISHED),
                ch::wx_status.eq(Some(&r.status)),
                ch::total_count.eq(Some(r.total)),
                ch::filter_count.eq(Some(r.filtered)),
                ch::sent_count.eq(Some(r.sent)),
                ch::error_count.eq(Some(r.errors)),
                ch::updated_at.eq(now()),
            ))
            .execute(conn)?;
        // Summed in Rust: SUM(bigint) is NUMERIC on PostgreSQL.
        let counts: Vec<ChunkCounts> = ch::table
            .filter(ch::broadcast_id.eq(broadcast))
            .select((
                ch::total_count,
                ch::filter_count,
                ch::sent_count,
                ch::error_count,
            ))
            .load(conn)?;
        let sum = |f: fn(&ChunkCounts) -> Option<i64>| counts.iter().filter_map(f).sum::<i64>();
        diesel::update(b::table.find(broadcast))
            .set((
                b::total_count.eq(sum(|c| c.0)),
                b::filter_count.eq(sum(|c| c.1)),
                b::sent_count.eq(sum(|c| c.2)),
                b::error_count.eq(sum(|c| c.3)),
                b::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Followers of the tenant who wrote (or tapped) since `since`: the customer-service
/// audience. OpenIDs in id order.
pub fn recent_openids(
    conn: &mut DbConn,
    scope: &TenantScope,
    since: NaiveDateTime,
) -> Result<Vec<String>> {
    Ok(f::table
        .filter(f::tenant_id.eq(scope.tenant_id().0))
        .filter(f::subscribed.eq(true))
        .filter(f::last_interaction_at.ge(since))
        .order(f::id)
        .select(f::openid)
        .load(conn)?)
}

/// The broadcasts that started going out between `from` and `to` (UTC), in that order
/// (the dashboard's per-broadcast figures).
pub fn started_between(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Broadcast>> {
    Ok(b::table
        .filter(b::tenant_id.eq(scope.tenant_id().0))
        .filter(b::started_at.ge(from))
        .filter(b::started_at.lt(to))
        .order((b::started_at, b::id))
        .select(Broadcast::as_select())
        .load(conn)?)
}

/// Quota slots used between `from` and `to` (UTC) per tenant, for `tenants` (the
/// agency's portfolio).
pub fn slots_used(
    conn: &mut DbConn,
    tenants: &[i64],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<(i64, i64)>> {
    Ok(sl::table
        .filter(sl::tenant_id.eq_any(tenants))
        .filter(sl::at.ge(from))
        .filter(sl::at.lt(to))
        .group_by(sl::tenant_id)
        .select((sl::tenant_id, diesel::dsl::count_star()))
        .load(conn)?)
}
