//! The durable job queue (the crates.io worker is the model).
//!
//! A job is a row: `queued` until a worker claims it, `running` while a worker holds its
//! lease (`locked_until`), then `done`, or back to `queued` with an exponential backoff
//! after a failure, or `failed` once `max_attempts` are spent. A worker that dies leaves
//! its job `running` with a lease that runs out; the next claim takes it again.
//!
//! Claiming is exactly-once per lease on both backends: PostgreSQL locks the chosen row
//! with `FOR UPDATE SKIP LOCKED` (claimers skip each other's rows instead of queueing),
//! SQLite runs the select and the conditional update inside `write_tx` (`BEGIN
//! IMMEDIATE`: one claimer at a time).

use crate::schema::jobs;
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use patron_domain::{JobId, TenantId, TenantScope};
use serde::Serialize;
use std::time::Duration;

/// The kinds of job, named here so the layers that queue them and the workers that run them
/// agree.
pub mod kinds {
    /// Payload `{"tenant_id": N}`: page WeChat's follower list and user info into `followers`.
    pub const FOLLOWER_SYNC: &str = "follower_sync";
    /// Payload `{"tenant_id": N, "import_id": M}`: apply a checked followers CSV.
    pub const FOLLOWER_IMPORT: &str = "follower_import";
    /// Payload `{"tenant_id", "openid", "messages": [Content…]}`: customer-service messages.
    pub const CS_SEND: &str = "cs_send";
    /// Payload `{"tenant_id", "openid"}`: fetch one follower's info after a follow.
    pub const FOLLOWER_INFO: &str = "follower_info";
    /// Payload `{"tenant_id"}`: sync local tags and their followers with WeChat's tags.
    pub const TAG_SYNC: &str = "tag_sync";
    /// Payload `{"tenant_id", "campaign_id", "segment_id" | "tag_id"}`: issue to many.
    pub const COUPON_BULK: &str = "coupon_bulk";
    /// Payload `{"tenant_id", "broadcast_id"}`: plan a due broadcast and send its chunks.
    pub const BROADCAST_SEND: &str = "broadcast_send";
    /// Payload `{"tenant_id", "msg_id", …counts}`: WeChat's report of a mass send.
    pub const MASS_REPORT: &str = "mass_report";
    /// Payload `{"tenant_id", "file_id"}`: fetch (if it is the daily fetch's) and
    /// reconcile a trade bill.
    pub const RECONCILE_BILL: &str = "reconcile_bill";
    /// Every kind (the pages name each one).
    pub const ALL: [&str; 9] = [
        FOLLOWER_SYNC,
        FOLLOWER_IMPORT,
        CS_SEND,
        FOLLOWER_INFO,
        TAG_SYNC,
        COUPON_BULK,
        BROADCAST_SEND,
        MASS_REPORT,
        RECONCILE_BILL,
    ];
}

/// The tenant's job of `kind` that is queued or running, if there is one.
pub fn open_of_kind(conn: &mut DbConn, scope: &TenantScope, kind: &str) -> Result<Option<JobId>> {
    Ok(jobs::table
        .filter(jobs::tenant_id.eq(scope.tenant_id().0))
        .filter(jobs::kind.eq(kind))
        .filter(jobs::state.eq_any([QUEUED, RUNNING]))
        .order(jobs::id.desc())
        .select(jobs::id)
        .load::<i64>(conn)?
        .into_iter()
        .next()
        .map(JobId))
}

/// The newest job of `kind` for the tenant.
pub fn latest(conn: &mut DbConn, scope: &TenantScope, kind: &str) -> Result<Option<Job>> {
    Ok(list_for_tenant(conn, scope, 20)?
        .into_iter()
        .find(|j| j.kind == kind))
}

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// The longest pause between two attempts.
pub const MAX_BACKOFF: TimeDelta = TimeDelta::hours(1);

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    pub state: String,
    /// Attempts started so far (a claim counts one).
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not before this time (the backoff after a failure).
    pub run_at: NaiveDateTime,
    /// The lease of the worker running it.
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// What the job did, as JSON its page reads (set by the handler before it ends).
    pub result: Option<String>,
    /// Why the last attempt failed, as JSON the pages read (`patron_app::jobs::JobFailure`);
    /// `None` when it did not fail or failed in a way only the log explains.
    pub failure: Option<String>,
}

impl Job {
    pub fn id(&self) -> JobId {
        JobId(self.id)
    }
    pub fn tenant_id(&self) -> Option<TenantId> {
        self.tenant_id.map(TenantId)
    }
}

/// Adds a job, due now. `tenant` is `None` for system-wide work.
pub fn enqueue(
    conn: &mut DbConn,
    tenant: Option<&TenantScope>,
    kind: &str,
    payload_json: &str,
    max_attempts: i64,
) -> Result<JobId> {
    let at = now();
    let id: i64 = diesel::insert_into(jobs::table)
        .values((
            jobs::tenant_id.eq(tenant.map(|s| s.tenant_id().0)),
            jobs::kind.eq(kind),
            jobs::payload.eq(payload_json),
            jobs::state.eq(QUEUED),
            jobs::attempts.eq(0i64),
            jobs::max_attempts.eq(max_attempts.max(1)),
            jobs::run_at.eq(at),
            jobs::progress_done.eq(0i64),
            jobs::created_at.eq(at),
            jobs::updated_at.eq(at),
        ))
        .returning(jobs::id)
        .get_result(conn)?;
    Ok(JobId(id))
}

fn lease_delta(lease: Duration) -> TimeDelta {
    TimeDelta::from_std(lease).unwrap_or(TimeDelta::hours(24))
}

/// Takes the oldest due job (queued and due, or running with an expired lease), marks it
/// running with `locked_until = now + lease` and one more attempt, and returns it as
/// stored after the claim. `None` when nothing is due.
pub fn claim(conn: &mut DbConn, lease: Duration) -> Result<Option<Job>> {
    let at = now();
    let until = at + lease_delta(lease);
    // The same due-condition for both backends, as a boxed-free closure over the DSL.
    macro_rules! due {
        () => {
            jobs::state
                .eq(QUEUED)
                .and(jobs::run_at.le(at))
                .or(jobs::state.eq(RUNNING).and(jobs::locked_until.le(at)))
        };
    }
    match conn {
        DbConn::Postgres(c) => c.transaction(|c| {
            let id: Option<i64> = jobs::table
                .filter(due!())
                .order((jobs::run_at.asc(), jobs::id.asc()))
                .select(jobs::id)
                .limit(1)
                .for_update()
                .skip_locked()
                .first(c)
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            let job = diesel::update(jobs::table.find(id))
                .set((
                    jobs::state.eq(RUNNING),
                    jobs::locked_until.eq(Some(until)),
                    jobs::attempts.eq(jobs::attempts + 1),
                    jobs::updated_at.eq(at),
                ))
                .returning(Job::as_returning())
                .get_result(c)?;
            Ok(Some(job))
        }),
        DbConn::Sqlite(_) => write_tx(conn, |conn| {
            let id: Option<i64> = jobs::table
                .filter(due!())
                .order((jobs::run_at.asc(), jobs::id.asc()))
                .select(jobs::id)
                .first(conn)
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            let n = diesel::update(jobs::table.find(id).filter(due!()))
                .set((
                    jobs::state.eq(RUNNING),
                    jobs::locked_until.eq(Some(until)),
                    jobs::attempts.eq(jobs::attempts + 1),
                    jobs::updated_at.eq(at),
                ))
                .execute(conn)?;
            if n != 1 {
                return Ok(None);
            }
            Ok(Some(by_id(conn, id)?))
        }),
    }
}

fn by_id(conn: &mut DbConn, id: i64) -> Result<Job> {
    Ok(jobs::table.find(id).select(Job::as_select()).first(conn)?)
}

/// Records what the job did (JSON), for the page that shows it.
pub fn set_result(conn: &mut DbConn, id: JobId, result: &str) -> Result<()> {
    diesel::update(jobs::table.find(id.0))
        .set(jobs::result.eq(Some(result)))
        .execute(conn)?;
    Ok(())
}

/// Records progress of a running job (`total` when known).
pub fn progress(conn: &mut DbConn, id: JobId, done: i64, total: Option<i64>) -> Result<()> {
    diesel::update(jobs::table.find(id.0).filter(jobs::state.eq(RUNNING)))
        .set((
            jobs::progress_done.eq(done),
            jobs::progress_total.eq(total),
            jobs::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Extends the lease of a running job (long jobs call this as they make progress, so no
/// other worker takes them over).
pub fn extend_lease(conn: &mut DbConn, id: JobId, lease: Duration) -> Result<()> {
    let at = now();
    diesel::update(jobs::table.find(id.0).filter(jobs::state.eq(RUNNING)))
        .set((
            jobs::locked_until.eq(Some(at + lease_delta(lease))),
            jobs::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a running job done. `NotFound` if it is not running (any more).
pub fn complete(conn: &mut DbConn, id: JobId) -> Result<()> {
    let n = diesel::update(jobs::table.find(id.0).filter(jobs::state.eq(RUNNING)))
        .set((
            jobs::state.eq(DONE),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::last_error.eq(None::<String>),
            jobs::failure.eq(None::<String>),
            jobs::updated_at.eq(now()),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The pause after the `attempts`-th failed attempt: 2^attempts seconds, at most
/// [`MAX_BACKOFF`].
pub fn backoff(attempts: i64) -> TimeDelta {
    let exp = attempts.clamp(0, 20) as u32;
    TimeDelta::seconds(1i64 << exp).min(MAX_BACKOFF)
}

/// Records a failed attempt of a running job: back to `queued` after [`backoff`], or
/// `failed` once its attempts are spent. Returns the state it is left in.
pub fn fail(conn: &mut DbConn, id: JobId, error: &str) -> Result<&'static str> {
    fail_as(conn, id, error, None, false)
}

/// [`fail`] with why in a form the pages read (`failure`, JSON), or with `permanent`
/// straight to `failed` whatever attempts are left: for a failure no retry can mend (a
/// payload that does not read, a tenant not set up for it).
pub fn fail_as(
    conn: &mut DbConn,
    id: JobId,
    error: &str,
    failure: Option<&str>,
    permanent: bool,
) -> Result<&'static str> {
    // Keep the message bounded: it is shown in the UI and logs.
    let error: String = error.chars().take(2000).collect();
    write_tx(conn, |conn| {
        let (attempts, max_attempts): (i64, i64) = jobs::table
            .find(id.0)
            .filter(jobs::state.eq(RUNNING))
            .select((jobs::attempts, jobs::max_attempts))
            .first(conn)?;
        let at = now();
        let state = if permanent || attempts >= max_attempts {
            FAILED
        } else {
            QUEUED
        };
        let run_at = if state == QUEUED {
            at + backoff(attempts)
        } else {
            at
        };
        diesel::update(jobs::table.find(id.0).filter(jobs::state.eq(RUNNING)))
            .set((
                jobs::state.eq(state),
                jobs::run_at.eq(run_at),
                jobs::locked_until.eq(None::<NaiveDateTime>),
                jobs::last_error.eq(Some(&error)),
                jobs::failure.eq(failure),
                jobs::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(state)
    })
}

/// Runs a failed job of the scoped tenant again: queued, due now, with its attempts
/// counted afresh and its last failure cleared. `NotFound` unless it is the tenant's and
/// failed (a job queued or running is not started twice).
pub fn retry(conn: &mut DbConn, scope: &TenantScope, id: JobId) -> Result<()> {
    let at = now();
    let n = diesel::update(
        jobs::table
            .find(id.0)
            .filter(jobs::tenant_id.eq(scope.tenant_id().0))
            .filter(jobs::state.eq(FAILED)),
    )
    .set((
        jobs::state.eq(QUEUED),
        jobs::attempts.eq(0i64),
        jobs::run_at.eq(at),
        jobs::last_error.eq(None::<String>),
        jobs::failure.eq(None::<String>),
        jobs::updated_at.eq(at),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// One job of the scoped tenant (UI and API).
pub fn get(conn: &mut DbConn, scope: &TenantScope, id: JobId) -> Result<Job> {
    Ok(jobs::table
        .find(id.0)
        .filter(jobs::tenant_id.eq(scope.tenant_id().0))
        .select(Job::as_select())
        .first(conn)?)
}

/// Any job, tenant-owned or not: for workers and operators only.
pub fn get_system(conn: &mut DbConn, id: JobId) -> Result<Job> {
    by_id(conn, id.0)
}

/// The tenant's most recent jobs, newest first.
pub fn list_for_tenant(conn: &mut DbConn, scope: &TenantScope, limit: i64) -> Result<Vec<Job>> {
    Ok(jobs::table
        .filter(jobs::tenant_id.eq(scope.tenant_id().0))
        .order(jobs::id.desc())
        .limit(limit.clamp(1, 1000))
        .select(Job::as_select())
        .load(conn)?)
}

/// How many jobs of each of `tenants` are queued, running and failed: (tenant, state,
/// count), for the operations page.
pub fn open_counts(conn: &mut DbConn, tenants: &[i64]) -> Result<Vec<(i64, String, i64)>> {
    let rows: Vec<(Option<i64>, String, i64)> = jobs::table
        .filter(jobs::tenant_id.eq_any(tenants))
        .filter(jobs::state.eq_any([QUEUED, RUNNING, FAILED]))
        .group_by((jobs::tenant_id, jobs::state))
        .select((jobs::tenant_id, jobs::state, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, s, n)| t.map(|t| (t, s, n)))
        .collect())
}

/// The tenant's most recent jobs in `state` (any state when `None`), newest first: the
/// jobs page.
pub fn recent(
    conn: &mut DbConn,
    scope: &TenantScope,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<Job>> {
    let mut q = jobs::table
        .filter(jobs::tenant_id.eq(scope.tenant_id().0))
        .into_boxed();
    if let Some(state) = state {
        q = q.filter(jobs::state.eq(state));
    }
    Ok(q.order(jobs::id.desc())
        .limit(limit.clamp(1, 1000))
        .select(Job::as_select())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), TimeDelta::seconds(2));
        assert_eq!(backoff(2), TimeDelta::seconds(4));
        assert_eq!(backoff(5), TimeDelta::seconds(32));
        assert_eq!(backoff(30), MAX_BACKOFF);
        assert_eq!(backoff(-1), TimeDelta::seconds(1));
    }
}
