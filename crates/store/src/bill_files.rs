//! Trade bills on their way to a reconciliation run: an upload, a file given to the CLI
//! or the daily fetch, kept in the database in chunks until its job has reconciled it.
//!
//! Why the database and not a file on disk: several `patron serve` processes share one
//! database and any of them may claim the job, so the bill must be where all of them
//! can read it. Chunks of [`CHUNK`] bytes keep each row small on both backends and let
//! the job read the bill as a stream. Once the run is stored the chunks are deleted;
//! the row stays (name, size, SHA-1, the run it became, or why it failed).

use crate::schema::{bill_file_chunks as ch, bill_files as bf};
use crate::{now, DbConn, Result, StoreError};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use patron_domain::TenantScope;
use serde::Serialize;

/// The size of a stored chunk (the last one of a file may be shorter).
pub const CHUNK: usize = 1 << 20;

/// A bill file's states.
pub mod state {
    /// An upload or a fetch still writing its chunks.
    pub const RECEIVING: &str = "receiving";
    /// Complete, its job queued.
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    /// Reconciled: `run_id` is the run; the chunks are gone.
    pub const DONE: &str = "done";
    /// Refused (a bill that is not one, a line that is wrong, a fetch that failed):
    /// `error` says why; the chunks are gone.
    pub const FAILED: &str = "failed";
}

/// Where a bill came from.
pub mod source {
    pub const UPLOAD: &str = "upload";
    pub const CLI: &str = "cli";
    pub const FETCH: &str = "fetch";
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = bf)]
pub struct BillFile {
    pub id: i64,
    pub tenant_id: i64,
    /// The uploaded file's name, or the day fetched.
    pub name: String,
    /// upload, cli, fetch
    pub source: String,
    /// The day asked for (a fetch); an uploaded bill says its day in its lines.
    pub bill_date: Option<NaiveDate>,
    pub size_bytes: i64,
    pub sha1: Option<String>,
    /// receiving, queued, running, done, failed
    pub state: String,
    /// The run it became.
    pub run_id: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The job reconciling it (its progress).
    pub job_id: Option<i64>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl BillFile {
    /// Still on its way (receiving, queued or running).
    pub fn is_open(&self) -> bool {
        matches!(
            self.state.as_str(),
            state::RECEIVING | state::QUEUED | state::RUNNING
        )
    }
}

/// A new file, receiving its chunks.
pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    name: &str,
    source: &str,
    bill_date: Option<NaiveDate>,
    by: &str,
) -> Result<BillFile> {
    let at = now();
    let id: i64 = diesel::insert_into(bf::table)
        .values((
            bf::tenant_id.eq(scope.tenant_id().0),
            bf::name.eq(name),
            bf::source.eq(source),
            bf::bill_date.eq(bill_date),
            bf::size_bytes.eq(0i64),
            bf::state.eq(state::RECEIVING),
            bf::created_by.eq(by),
            bf::created_at.eq(at),
            bf::updated_at.eq(at),
        ))
        .returning(bf::id)
        .get_result(conn)?;
    get(conn, scope, id)
}

/// Records the job that will fill and reconcile the file.
pub fn set_job(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    job: patron_domain::JobId,
) -> Result<()> {
    diesel::update(
        bf::table
            .filter(bf::tenant_id.eq(scope.tenant_id().0))
            .filter(bf::id.eq(id)),
    )
    .set(bf::job_id.eq(job.0))
    .execute(conn)?;
    Ok(())
}

/// One file of the tenant.
pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<BillFile> {
    Ok(bf::table
        .filter(bf::tenant_id.eq(scope.tenant_id().0))
        .filter(bf::id.eq(id))
        .select(BillFile::as_select())
        .first(conn)?)
}

/// Appends the chunk `seq` (0, 1, …) of a file still receiving. Must run inside the
/// caller's write transaction (the chunk and the size change together).
pub fn append(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    seq: i64,
    data: &[u8],
) -> Result<()> {
    let n = diesel::update(
        bf::table
            .filter(bf::tenant_id.eq(scope.tenant_id().0))
            .filter(bf::id.eq(id))
            .filter(bf::state.eq(state::RECEIVING)),
    )
    .set((
        bf::size_bytes.eq(bf::size_bytes + data.len() as i64),
        bf::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        get(conn, scope, id)?;
        return Err(StoreError::Conflict("bill_file_not_receiving"));
    }
    diesel::insert_into(ch::table)
        .values((ch::file_id.eq(id), ch::seq.eq(seq), ch::data.eq(data)))
        .execute(conn)?;
    Ok(())
}

/// The chunk `seq` of the tenant's file (`None` past the last).
pub fn chunk(conn: &mut DbConn, scope: &TenantScope, id: i64, seq: i64) -> Result<Option<Vec<u8>>> {
    Ok(ch::table
        .inner_join(bf::table)
        .filter(bf::tenant_id.eq(scope.tenant_id().0))
        .filter(ch::file_id.eq(id))
        .filter(ch::seq.eq(seq))
        .select(ch::data)
        .first(conn)
        .optional()?)
}

/// Moves a file from `from` to `to` (`Conflict` when it is not in `from`: another
/// process moved it first). Sets the SHA-1, the job, the run or the error given.
pub fn transition(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    from: &str,
    to: &str,
    change: Change<'_>,
) -> Result<()> {
    let n = diesel::update(
        bf::table
            .filter(bf::tenant_id.eq(scope.tenant_id().0))
            .filter(bf::id.eq(id))
            .filter(bf::state.eq(from)),
    )
    .set((bf::state.eq(to), bf::updated_at.eq(now())))
    .execute(conn)?;
    if n == 0 {
        get(conn, scope, id)?;
        return Err(StoreError::Conflict("bill_file_state"));
    }
    let target = bf::table.filter(bf::id.eq(id));
    if let Some(h) = change.sha1 {
        diesel::update(target).set(bf::sha1.eq(h)).execute(conn)?;
    }
    if let Some(j) = change.job_id {
        diesel::update(target)
            .set(bf::job_id.eq(j.0))
            .execute(conn)?;
    }
    if let Some(r) = change.run_id {
        diesel::update(target).set(bf::run_id.eq(r)).execute(conn)?;
    }
    if let Some(e) = change.error {
        diesel::update(target).set(bf::error.eq(e)).execute(conn)?;
    }
    if to == state::DONE || to == state::FAILED {
        drop_chunks(conn, id)?;
    }
    Ok(())
}

/// What a [`transition`] also records.
#[derive(Debug, Default, Clone, Copy)]
pub struct Change<'a> {
    pub sha1: Option<&'a str>,
    pub job_id: Option<patron_domain::JobId>,
    pub run_id: Option<i64>,
    pub error: Option<&'a str>,
}

/// Deletes a file's chunks.
fn drop_chunks(conn: &mut DbConn, id: i64) -> Result<()> {
    diesel::delete(ch::table.filter(ch::file_id.eq(id))).execute(conn)?;
    Ok(())
}

/// Starts a file still receiving over (a fetch retried after a broken download).
pub fn restart(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    let n = diesel::update(
        bf::table
            .filter(bf::tenant_id.eq(scope.tenant_id().0))
            .filter(bf::id.eq(id))
            .filter(bf::state.eq(state::RECEIVING)),
    )
    .set((bf::size_bytes.eq(0i64), bf::updated_at.eq(now())))
    .execute(conn)?;
    if n == 0 {
        get(conn, scope, id)?;
        return Err(StoreError::Conflict("bill_file_not_receiving"));
    }
    drop_chunks(conn, id)
}

/// Deletes a file that never completed (an upload cut short or refused as too large),
/// with its chunks.
pub fn discard(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    let f = get(conn, scope, id)?;
    if f.state != state::RECEIVING {
        return Err(StoreError::Conflict("bill_file_state"));
    }
    drop_chunks(conn, id)?;
    diesel::delete(bf::table.filter(bf::id.eq(id))).execute(conn)?;
    Ok(())
}

/// The tenant's files, newest first.
pub fn recent(conn: &mut DbConn, scope: &TenantScope, limit: i64) -> Result<Vec<BillFile>> {
    Ok(bf::table
        .filter(bf::tenant_id.eq(scope.tenant_id().0))
        .order(bf::id.desc())
        .limit(limit)
        .select(BillFile::as_select())
        .load(conn)?)
}

/// The progress of the files' jobs (bytes read, size), by job id.
pub fn progress_of(
    conn: &mut DbConn,
    jobs: &[i64],
) -> Result<std::collections::HashMap<i64, (i64, Option<i64>)>> {
    use crate::schema::jobs as j;
    Ok(j::table
        .filter(j::id.eq_any(jobs))
        .select((j::id, j::progress_done, j::progress_total))
        .load::<(i64, i64, Option<i64>)>(conn)?
        .into_iter()
        .map(|(id, d, t)| (id, (d, t)))
        .collect())
}

/// The tenant's fetches of `day`, oldest first.
pub fn fetches_of(conn: &mut DbConn, scope: &TenantScope, day: NaiveDate) -> Result<Vec<BillFile>> {
    Ok(bf::table
        .filter(bf::tenant_id.eq(scope.tenant_id().0))
        .filter(bf::source.eq(source::FETCH))
        .filter(bf::bill_date.eq(day))
        .order(bf::id)
        .select(BillFile::as_select())
        .load(conn)?)
}
