//! Trade bills on their way to a run (`patron_store::bill_files`): an upload received in
//! chunks, the job that reconciles a stored bill with progress, and the daily fetch's
//! plan (which tenants, which day).
//!
//! Every way in ends in [`reconcile_file`]: the page's upload, `patron reconcile import`
//! (which reads its file directly through [`crate::reconcile::import`]) and the fetch
//! all store the bill first, then queue one `reconcile_bill` job.

use crate::reconcile::{self, ImportError};
use crate::AppError;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use patron_domain::TenantScope;
use patron_store::bill_files::{self as files, source, state, BillFile, Change, CHUNK};
use patron_store::reconcile::Run;
use patron_store::{write_tx, DbConn, DbPool, StoreError};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};

/// The largest bill the page accepts (a 1,000,000-line day is about 300 MB).
pub const MAX_UPLOAD: u64 = 1 << 30;

/// Starts receiving an upload.
pub fn start_upload(
    c: &mut DbConn,
    scope: &TenantScope,
    name: &str,
    by: &str,
) -> Result<BillFile, AppError> {
    Ok(files::create(c, scope, name, source::UPLOAD, None, by)?)
}

/// Appends the next chunk of a file being received.
pub fn append(
    c: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    seq: i64,
    data: &[u8],
) -> Result<(), AppError> {
    Ok(write_tx(c, |c| files::append(c, scope, id, seq, data))?)
}

/// The file is complete: its job is queued, in the same transaction.
pub fn finish(
    c: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    sha1: &str,
) -> Result<BillFile, AppError> {
    Ok(write_tx(c, |c| queue(c, scope, id, sha1))?)
}

fn queue(c: &mut DbConn, scope: &TenantScope, id: i64, sha1: &str) -> Result<BillFile, StoreError> {
    let job = crate::jobs::enqueue(
        c,
        scope,
        &crate::jobs::Job::ReconcileBill(crate::jobs::ReconcileBill {
            tenant_id: scope.tenant_id().0,
            file_id: id,
        }),
    )?;
    files::transition(
        c,
        scope,
        id,
        state::RECEIVING,
        state::QUEUED,
        Change {
            sha1: Some(sha1),
            job_id: Some(job),
            ..Change::default()
        },
    )?;
    files::get(c, scope, id)
}

/// Drops an upload that did not complete.
pub fn discard(c: &mut DbConn, scope: &TenantScope, id: i64) -> Result<(), AppError> {
    Ok(write_tx(c, |c| files::discard(c, scope, id))?)
}

/// An upload on its way in: cuts what arrives into chunks and hashes it.
pub struct Receiving {
    hash: Sha1,
    buf: Vec<u8>,
    /// The next chunk's number.
    pub seq: i64,
    /// Bytes received so far.
    pub size: u64,
}

impl Default for Receiving {
    fn default() -> Self {
        Receiving {
            hash: Sha1::new(),
            buf: Vec::with_capacity(CHUNK),
            seq: 0,
            size: 0,
        }
    }
}

impl Receiving {
    /// Takes what arrived; answers the chunks now complete, numbered, to append.
    pub fn push(&mut self, data: &[u8]) -> Vec<(i64, Vec<u8>)> {
        self.hash.update(data);
        self.size += data.len() as u64;
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= CHUNK {
            let rest = self.buf.split_off(CHUNK);
            out.push((self.seq, std::mem::replace(&mut self.buf, rest)));
            self.seq += 1;
        }
        out
    }

    /// The end: the last chunk (if any bytes are left) and the file's SHA-1.
    pub fn finish(mut self) -> (Option<(i64, Vec<u8>)>, String) {
        let last = (!self.buf.is_empty()).then(|| (self.seq, std::mem::take(&mut self.buf)));
        (last, hex::encode(self.hash.finalize()))
    }
}

/// Writes a file's chunks as they come (the fetch's download), hashing them; nothing is
/// queued until [`ChunkWriter::finish`].
pub struct ChunkWriter {
    pool: DbPool,
    scope: TenantScope,
    id: i64,
    seq: i64,
    buf: Vec<u8>,
    hash: Sha1,
    bytes: u64,
}

impl ChunkWriter {
    pub fn new(pool: DbPool, scope: TenantScope, id: i64) -> ChunkWriter {
        ChunkWriter {
            pool,
            scope,
            id,
            seq: 0,
            buf: Vec::with_capacity(CHUNK),
            hash: Sha1::new(),
            bytes: 0,
        }
    }

    fn store(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut c = self.pool.get().map_err(std::io::Error::other)?;
        write_tx(&mut c, |c| {
            files::append(c, &self.scope, self.id, self.seq, &self.buf)
        })
        .map_err(std::io::Error::other)?;
        self.seq += 1;
        self.buf.clear();
        Ok(())
    }

    /// Stores what is left; answers the SHA-1 of everything written (the file stays
    /// receiving: its caller moves it on).
    pub fn finish(mut self) -> std::io::Result<String> {
        self.store()?;
        Ok(hex::encode(self.hash.finalize_reset()))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.hash.update(&data[..n]);
        self.bytes += n as u64;
        if self.buf.len() == CHUNK {
            self.store()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads a stored file chunk by chunk (each chunk one query on a connection of its own,
/// so the import's connection stays free for its own reads), reporting the bytes read.
struct ChunkReader<'a> {
    pool: DbPool,
    scope: TenantScope,
    id: i64,
    seq: i64,
    chunk: Vec<u8>,
    pos: usize,
    read: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.chunk.len() {
            let mut c = self.pool.get().map_err(std::io::Error::other)?;
            match files::chunk(&mut c, &self.scope, self.id, self.seq)
                .map_err(std::io::Error::other)?
            {
                Some(data) => {
                    drop(c);
                    (self.progress)(self.read);
                    self.chunk = data;
                    self.pos = 0;
                    self.seq += 1;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        self.read += n as u64;
        Ok(n)
    }
}

/// What reconciling a stored file came to.
#[derive(Debug)]
pub enum Reconciled {
    /// The run it became (now, or by an earlier attempt of the same job).
    Run(Run),
    /// The bill was refused; the file says why (the error names the line).
    Refused(String),
}

/// Reconciles a stored file: matched as a stream, stored as a run and the file marked
/// done with it in one transaction (so a job retried after a crash never stores the
/// run twice). `progress(bytes read, size)` is called as the bill is read. A bill that
/// is not one, or a wrong line, marks the file failed and is not an error of the job.
pub fn reconcile_file(
    pool: &DbPool,
    scope: &TenantScope,
    id: i64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Reconciled, AppError> {
    let mut c = pool.get()?;
    let f = files::get(&mut c, scope, id)?;
    match f.state.as_str() {
        state::DONE => {
            let run = f
                .run_id
                .map(|r| patron_store::reconcile::run(&mut c, scope, r))
                .transpose()?
                .ok_or(StoreError::Conflict("bill_file_without_run"))?;
            return Ok(Reconciled::Run(run));
        }
        state::FAILED => return Ok(Reconciled::Refused(f.error.unwrap_or_default())),
        state::QUEUED => files::transition(
            &mut c,
            scope,
            id,
            state::QUEUED,
            state::RUNNING,
            Change::default(),
        )?,
        // A job taken over after a crash starts the file again.
        _ => {}
    }
    let size = f.size_bytes.max(0) as u64;
    let mut report = |read: u64| progress(read, size);
    let reader = ChunkReader {
        pool: pool.clone(),
        scope: scope.clone(),
        id,
        seq: 0,
        chunk: Vec::new(),
        pos: 0,
        read: 0,
        progress: &mut report,
    };
    let reader = std::io::BufReader::with_capacity(1 << 16, reader);
    let matched = reconcile::match_bill(&mut c, scope, reader, f.bill_date);
    let refuse = |c: &mut DbConn, why: String| -> Result<Reconciled, AppError> {
        write_tx(c, |c| {
            files::transition(
                c,
                scope,
                id,
                state::RUNNING,
                state::FAILED,
                Change {
                    error: Some(&why),
                    ..Change::default()
                },
            )
        })?;
        Ok(Reconciled::Refused(why))
    };
    let m = match matched {
        Ok(m) => m,
        Err(ImportError::App(e)) => return Err(e),
        Err(e @ (ImportError::Bill(_) | ImportError::NeedsDate | ImportError::OurRecords(_))) => {
            tracing::info!(file = id, error = %e, "bill refused");
            return refuse(&mut c, e.to_string());
        }
    };
    // A bill fetched for a day is that day's bill.
    if let Some(asked) = f.bill_date {
        if m.day != asked {
            return refuse(
                &mut c,
                format!("the bill is of {}, not of {asked} as asked", m.day),
            );
        }
    }
    progress(size, size);
    let run = write_tx(&mut c, |c| {
        let run = reconcile::store_matched(c, scope, &m, &f.source, &f.created_by)?;
        files::transition(
            c,
            scope,
            id,
            state::RUNNING,
            state::DONE,
            Change {
                run_id: Some(run.id),
                ..Change::default()
            },
        )?;
        Ok::<_, StoreError>(run)
    })?;
    Ok(Reconciled::Run(run))
}

/// The daily fetch: the bill of the Beijing day before, asked for once the tenant's
/// clock and Beijing's have both passed 10:00 (WeChat generates bills from 09:00 the next
/// day, Beijing time). `None` before then.
pub fn fetch_day(now: NaiveDateTime, tz: chrono_tz::Tz) -> Option<NaiveDate> {
    let beijing = now + TimeDelta::hours(8);
    let local = now.and_utc().with_timezone(&tz).naive_local();
    let ten = chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("10:00");
    (beijing.time() >= ten && local.time() >= ten).then(|| beijing.date() - TimeDelta::days(1))
}

/// How many attempts a day's fetch gets (one an hour from 10:00).
pub const FETCH_ATTEMPTS: usize = 6;

/// Queues today's fetch for the tenant unless the day's bill is done, on its way, or
/// has failed [`FETCH_ATTEMPTS`] times; answers the file queued. Attempts are an hour
/// apart (the scheduler's tick runs more often).
pub fn queue_fetch(
    c: &mut DbConn,
    scope: &TenantScope,
    day: NaiveDate,
    now: NaiveDateTime,
) -> Result<Option<BillFile>, StoreError> {
    write_tx(c, |c| {
        let earlier = files::fetches_of(c, scope, day)?;
        if earlier
            .iter()
            .any(|f| f.state == state::DONE || f.is_open())
        {
            return Ok(None);
        }
        if earlier.len() >= FETCH_ATTEMPTS {
            return Ok(None);
        }
        if let Some(last) = earlier.last() {
            if now - last.updated_at < TimeDelta::hours(1) {
                return Ok(None);
            }
        }
        let f = files::create(
            c,
            scope,
            &format!("{day} (fetched)"),
            source::FETCH,
            Some(day),
            "daily fetch",
        )?;
        let job = crate::jobs::enqueue(
            c,
            scope,
            &crate::jobs::Job::ReconcileBill(crate::jobs::ReconcileBill {
                tenant_id: scope.tenant_id().0,
                file_id: f.id,
            }),
        )?;
        files::set_job(c, scope, f.id, job)?;
        Ok(Some(files::get(c, scope, f.id)?))
    })
}

/// A fetch that failed (the network, WeChat's answer, a hash that does not match):
/// recorded on the file so the page shows it and the next attempt waits an hour.
pub fn fetch_failed(
    c: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    why: &str,
) -> Result<(), AppError> {
    Ok(write_tx(c, |c| {
        files::transition(
            c,
            scope,
            id,
            state::RECEIVING,
            state::FAILED,
            Change {
                error: Some(why),
                ..Change::default()
            },
        )
    })?)
}

/// The tenants whose daily fetch can run: WeChat Pay set up with the merchant
/// certificate's key.
pub fn fetch_tenants(c: &mut DbConn) -> Result<Vec<patron_domain::TenantId>, StoreError> {
    patron_store::payments::tenants_with_merchant_key(c)
}
