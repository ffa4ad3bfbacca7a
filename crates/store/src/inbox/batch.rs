//! The ingest writers: group commit for the webhook. Pushes wait in a channel; a writer
//! takes everything waiting, stores it in one transaction and answers each push.

use super::journal::{Journal, JournalSync, Progress, Unapplied, Written};
use super::statements::{
    insert_followers, insert_messages, known_followers, known_keys, Known, NewFollower, NewMessage,
};
use super::LAST_ACTIVE_STEP;
use super::{
    after_new, finish, out_reply, record_pending, touch_follower, FollowerChange, Pending, Recorded,
};
use crate::schema::followers;
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// What a [`Batcher`]'s writers have done since it started (for `/metrics` and the
/// benchmark).
#[derive(Default)]
pub struct IngestStats {
    batches: AtomicU64,
    failed: AtomicU64,
    pushes: AtomicU64,
    busy_ns: AtomicU64,
}

/// A reading of [`IngestStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IngestReading {
    /// Transactions attempted.
    pub batches: u64,
    /// Batches that failed as a whole, their pushes then stored one by one.
    pub failed: u64,
    /// Pushes handed to the writers, retries included.
    pub pushes: u64,
    /// Time spent storing them, one by one after a failed batch included.
    pub busy_seconds: f64,
    /// Pushes acknowledged from the ingest journal (replayed ones included).
    pub journaled: u64,
    /// Of those, stored in the database so far.
    pub journal_applied: u64,
    /// The journal's `fdatasync`s.
    pub journal_flushes: u64,
}

impl IngestStats {
    fn record(&self, pushes: usize, failed: bool, took: std::time::Duration) {
        self.batches.fetch_add(1, Relaxed);
        self.failed.fetch_add(u64::from(failed), Relaxed);
        self.pushes.fetch_add(pushes as u64, Relaxed);
        self.busy_ns.fetch_add(took.as_nanos() as u64, Relaxed);
    }

    pub fn read(&self) -> IngestReading {
        IngestReading {
            batches: self.batches.load(Relaxed),
            failed: self.failed.load(Relaxed),
            pushes: self.pushes.load(Relaxed),
            busy_seconds: self.busy_ns.load(Relaxed) as f64 / 1e9,
            journaled: 0,
            journal_applied: 0,
            journal_flushes: 0,
        }
    }
}

/// The writer answers each push through a oneshot channel: a blocking caller waits on it,
/// the webhook awaits it without holding a thread.
type Reply = tokio::sync::oneshot::Sender<Result<Recorded>>;

/// Whom a writer tells when a push is stored.
enum Answer {
    /// The caller, waiting for its push's commit.
    Caller(Reply),
    /// Nobody waits (the journal acknowledged the push): its segment counts it applied.
    /// With the attempts at storing it that failed so far.
    Journaled(Arc<Unapplied>, u32),
}

/// A push waiting for a writer.
type Item = (Pending, Answer);

/// A push handed over: answered already, or to be answered once stored.
enum Handed {
    Done(Recorded),
    Wait(tokio::sync::oneshot::Receiver<Result<Recorded>>),
}

/// Group commit for the webhook: pushes are handed to a few writer threads, each of which
/// stores everything waiting (up to [`Batcher::MAX_BATCH`]) in one transaction and then
/// answers every caller. Nothing is acknowledged before its transaction committed. If a
/// batch fails as a whole (a unique violation from another process on PostgreSQL aborts
/// the transaction), its pushes are stored one by one (`record_pending`).
#[derive(Clone)]
pub struct Batcher {
    tx: std::sync::mpsc::SyncSender<Item>,
    stats: Arc<IngestStats>,
    /// PostgreSQL with an ingest journal: plain pushes are acknowledged once journaled.
    journal: Option<Journal>,
    progress: Arc<Progress>,
}

impl Batcher {
    pub const MAX_BATCH: usize = 1024;

    /// Writer threads when the configuration says 0. SQLite allows one writer at a time.
    /// On PostgreSQL two let one batch be read and written while the other commits; more
    /// only split the pushes into smaller batches (docs/benchmarks.md).
    pub fn default_writers(backend: crate::Backend) -> usize {
        match backend {
            crate::Backend::Sqlite => 1,
            crate::Backend::Postgres => 2,
        }
    }

    /// Starts `writers` writer threads over `pool` (0: [`Batcher::default_writers`]),
    /// with an ingest journal in `journal`'s directory, flushed as it says, on PostgreSQL
    /// (see `inbox::journal`; SQLite's own write-ahead log already does what it does, so
    /// there it is not used).
    pub fn start(
        pool: crate::DbPool,
        writers: usize,
        journal: Option<(&Path, JournalSync)>,
    ) -> Result<Batcher> {
        let writers = match writers {
            0 => Self::default_writers(pool.backend()),
            n => n,
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Item>(4096);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // On SQLite the writers leave checkpointing (copying the write-ahead log back into
        // the database file, with its two fsyncs) to a thread of its own, poked after
        // each commit, so that it runs beside the next batch instead of inside a commit.
        let (poke, poked) = std::sync::mpsc::sync_channel::<()>(1);
        let stats = Arc::new(IngestStats::default());
        let progress = Arc::new(Progress::default());
        let checkpoints = pool.backend() == crate::Backend::Sqlite;
        let log = Checkpoints {
            poke,
            restart: Arc::new(AtomicBool::new(false)),
        };
        if checkpoints {
            let (pool, restart) = (pool.clone(), log.restart.clone());
            std::thread::Builder::new()
                .name("sqlite-checkpointer".into())
                .spawn(move || checkpointer(pool, poked, &restart))
                .expect("spawn the checkpointer thread");
        }
        for i in 0..writers {
            let (rx, pool) = (rx.clone(), pool.clone());
            let poke = checkpoints.then(|| log.clone());
            let (stats, progress) = (stats.clone(), progress.clone());
            std::thread::Builder::new()
                .name(format!("ingest-writer-{i}"))
                .spawn(move || writer(pool, rx, poke, stats, progress))
                .expect("spawn an ingest writer thread");
        }
        let journal = match journal {
            Some((dir, sync)) if !checkpoints => {
                let to_writers = tx.clone();
                Some(Journal::open(
                    dir,
                    sync,
                    move |(p, seg)| to_writers.send((p, Answer::Journaled(seg, 0))).is_ok(),
                    progress.clone(),
                )?)
            }
            _ => None,
        };
        Ok(Batcher {
            tx,
            stats,
            journal,
            progress,
        })
    }

    /// What the writers have done so far.
    pub fn stats(&self) -> IngestReading {
        IngestReading {
            journaled: self.progress.journaled.load(Relaxed),
            journal_applied: self.progress.applied.load(Relaxed),
            journal_flushes: self.progress.flushes.load(Relaxed),
            ..self.stats.read()
        }
    }

    /// Stores one push (blocking until its batch committed). Not for async code: use
    /// [`Batcher::record_async`] there.
    pub fn record(&self, p: Pending) -> Result<Recorded> {
        match self.hand_over(p)? {
            Handed::Done(r) => Ok(r),
            Handed::Wait(wait) => wait
                .blocking_recv()
                .map_err(|_| StoreError::Config("the ingest writer stopped".into()))?,
        }
    }

    /// Stores one push, awaiting its batch's commit without occupying a thread. Handing
    /// the push over blocks only when 4,096 pushes are already waiting (overload).
    pub async fn record_async(&self, p: Pending) -> Result<Recorded> {
        match self.hand_over(p)? {
            Handed::Done(r) => Ok(r),
            Handed::Wait(wait) => wait
                .await
                .map_err(|_| StoreError::Config("the ingest writer stopped".into()))?,
        }
    }

    /// Gives a push to the journal (a plain one, when there is a journal) or the writers.
    fn hand_over(&self, p: Pending) -> Result<Handed> {
        let p = match &self.journal {
            Some(Journal::Thread(j)) if p.is_plain() => {
                let (done, wait) = tokio::sync::oneshot::channel();
                j.send((p, done))
                    .map_err(|_| StoreError::Config("the ingest journal stopped".into()))?;
                return Ok(Handed::Wait(wait));
            }
            Some(Journal::Inline(j)) if p.is_plain() => match j.write(p)? {
                Written::Fresh((p, seg)) => {
                    let reply = p.reply.clone();
                    self.to_writers(p, Answer::Journaled(seg, 0))?;
                    return Ok(Handed::Done(Recorded::Accepted { reply }));
                }
                Written::Retry(reply) => return Ok(Handed::Done(Recorded::Duplicate { reply })),
                Written::NotNow(p) => p,
            },
            _ => p,
        };
        let (done, wait) = tokio::sync::oneshot::channel();
        self.to_writers(p, Answer::Caller(done))?;
        Ok(Handed::Wait(wait))
    }

    fn to_writers(&self, p: Pending, answer: Answer) -> Result<()> {
        self.tx
            .send((p, answer))
            .map_err(|_| StoreError::Config("the ingest writer stopped".into()))
    }

    /// Whether plain pushes are acknowledged from the ingest journal.
    pub fn journaled(&self) -> bool {
        self.journal.is_some()
    }

    /// Waits until every push journaled so far is in the database (at most `limit`);
    /// returns whether it is. Without a journal everything acknowledged already is.
    pub fn settle(&self, limit: std::time::Duration) -> bool {
        let target = self.progress.journaled.load(Relaxed);
        self.progress
            .wait_applied(target, std::time::Instant::now() + limit)
    }
}

/// Rest between checkpoints. Frames written to the same page meanwhile (the ends of the
/// archive and its indexes) are copied back once; 10 ms was measured slower than 250 ms,
/// and 1 s no faster, with a longer log for readers to search. (Unit tests run the same
/// cycle at a smaller scale.)
const CHECKPOINT_PAUSE: std::time::Duration =
    std::time::Duration::from_millis(if cfg!(test) { 20 } else { 250 });

/// A log longer than this many frames (4 KiB pages, ~68 MB) is made to start again.
const RESTART_FRAMES: i64 = if cfg!(test) { 1_024 } else { 16_384 };

/// Frames the writer may have left to copy back when it restarts the log.
const RESTART_TAIL: i64 = 256;

/// The writers' side of checkpointing (SQLite): they poke the checkpointer after each
/// commit, and finish a checkpoint themselves when it asks for the log to restart.
#[derive(Clone)]
struct Checkpoints {
    poke: std::sync::mpsc::SyncSender<()>,
    restart: Arc<AtomicBool>,
}

/// Checkpoints the SQLite write-ahead log after writers committed (at most every
/// [`CHECKPOINT_PAUSE`]), without blocking them (PASSIVE). Ends with the writers.
///
/// A log only starts again from the beginning of its file when a writer finds every
/// frame copied back, and under steady load a passive checkpoint always leaves the
/// frames committed while it ran. The log then grows without end (2 GB in a 10 s
/// benchmark) and every frame extends the file, which the kernel allocates and zeroes
/// (a fifth of the writer's time in a profile). So once the log is longer than
/// [`RESTART_FRAMES`], this asks the writer to copy back the last frames itself between
/// two batches: its next commit then writes from the start of the file again, over pages
/// the kernel already holds. (A RESTART checkpoint from here did the same but stalled the
/// writer in SQLite's busy handler for the whole checkpoint: p99 149 ms.)
fn checkpointer(pool: crate::DbPool, poked: std::sync::mpsc::Receiver<()>, restart: &AtomicBool) {
    // Opened on the first checkpoint; without it (an in-memory database) the writer
    // syncs more itself.
    let mut file: Option<Option<DbFile>> = None;
    while poked.recv().is_ok() {
        let done = pool.get().and_then(|mut c| {
            let f = file.get_or_insert_with(|| {
                DbFile::open(&mut c)
                    .inspect_err(|e| tracing::warn!(error = %e, "no database file to sync"))
                    .ok()
            });
            checkpoint_until_restart(&mut c, f.as_ref(), restart)
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, "write-ahead log checkpoint failed");
        }
        std::thread::sleep(CHECKPOINT_PAUSE);
    }
}

/// One checkpoint, and for a long log more in a row (each copies what was committed
/// while the one before ran, so fewer frames each time) until what is left is short,
/// flushing the pages copied to disk before each (SQLite syncs the database file only
/// when a checkpoint reaches the end of the log, which under load only the writer's
/// does). The writer's own checkpoint, which it waits for, then syncs a few hundred
/// frames and pages: 3–6 ms, where it took 30–50 ms with the flush left to it.
fn checkpoint_until_restart(
    c: &mut DbConn,
    file: Option<&DbFile>,
    restart: &AtomicBool,
) -> Result<()> {
    let sync = || -> Result<()> {
        match file {
            Some(f) => {
                f.0.sync_data()
                    .map_err(|e| StoreError::Config(format!("syncing the database file: {e}")))
            }
            None => Ok(()),
        }
    };
    let mut frames = checkpoint(c)?;
    if frames <= RESTART_FRAMES {
        return Ok(());
    }
    for _ in 0..4 {
        sync()?;
        let before = frames;
        frames = checkpoint(c)?;
        if frames - before < RESTART_TAIL {
            break;
        }
    }
    sync()?;
    restart.store(true, Relaxed);
    Ok(())
}

/// The SQLite database file, opened once to flush its pages to disk ahead of the writer.
/// Never closed: closing any descriptor of a file drops every POSIX lock the process
/// holds on it, SQLite's own included.
struct DbFile(std::mem::ManuallyDrop<std::fs::File>);

impl DbFile {
    fn open(c: &mut DbConn) -> Result<DbFile> {
        #[derive(QueryableByName)]
        struct Attached {
            #[diesel(sql_type = diesel::sql_types::Text)]
            name: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            file: String,
        }
        let list: Vec<Attached> = diesel::sql_query("PRAGMA database_list").load(c)?;
        let main = list
            .into_iter()
            .find(|a| a.name == "main")
            .ok_or(StoreError::NotFound)?;
        let f = std::fs::File::open(&main.file)
            .map_err(|e| StoreError::Config(format!("opening {}: {e}", main.file)))?;
        Ok(DbFile(std::mem::ManuallyDrop::new(f)))
    }
}

/// Runs a PASSIVE checkpoint; returns the frames in the log before it.
fn checkpoint(c: &mut DbConn) -> Result<i64> {
    #[derive(QueryableByName)]
    struct Outcome {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        log: i64,
    }
    let o: Outcome = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
    Ok(o.log)
}

fn writer(
    pool: crate::DbPool,
    rx: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<Item>>>,
    log: Option<Checkpoints>,
    stats: Arc<IngestStats>,
    progress: Arc<Progress>,
) {
    let mut held = None;
    let mut seen = Seen::default();
    // Journaled pushes the last batch could not store (they are acknowledged already, so
    // they are tried again).
    let mut again: Vec<Item> = Vec::new();
    loop {
        let mut batch = Vec::new();
        if !again.is_empty() {
            let tries = again.iter().filter_map(|(_, a)| match a {
                Answer::Journaled(_, n) => Some(*n),
                Answer::Caller(_) => None,
            });
            std::thread::sleep(retry_pause(tries.min().unwrap_or(0)));
            batch.append(&mut again);
        }
        // One writer at a time collects a batch; the others wait their turn. A writer
        // with pushes to try again takes the queue only if it is free: another writer may
        // hold it for as long as no push arrives.
        let queue = if batch.is_empty() {
            Some(rx.lock().unwrap_or_else(|p| p.into_inner()))
        } else {
            match rx.try_lock() {
                Ok(q) => Some(q),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        };
        if let Some(rx) = queue {
            if batch.is_empty() {
                match rx.recv() {
                    Ok(first) => batch.push(first),
                    Err(_) => return,
                }
            }
            while batch.len() < Batcher::MAX_BATCH {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            // Nobody waits for journaled pushes: a few milliseconds more make a batch
            // that costs the database far less a push. The writer sleeps in steps rather
            // than being woken by every push; a push someone waits for ends it.
            let until = std::time::Instant::now() + JOURNAL_LINGER;
            while batch.len() < Batcher::MAX_BATCH
                && batch
                    .iter()
                    .all(|(_, a)| matches!(a, Answer::Journaled(..)))
                && std::time::Instant::now() < until
            {
                std::thread::sleep(JOURNAL_LINGER / 5);
                while batch.len() < Batcher::MAX_BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
            }
        }
        // The writer keeps its connection between batches: a SQLite connection whose
        // snapshot another one has moved must drop its page cache, and its own writes
        // never make it do so. A batch that failed gives the connection back.
        let c = match held.take() {
            Some(c) => Ok(c),
            None => pool.get().and_then(|mut c| {
                if log.is_some() {
                    crate::exec_sql(&mut c, "PRAGMA wal_autocheckpoint = 0")?;
                }
                Ok(c)
            }),
        };
        let results = match c {
            Ok(mut c) => {
                let started = std::time::Instant::now();
                let (results, healthy) = store_batch(&mut c, &batch, &mut seen);
                stats.record(batch.len(), !healthy, started.elapsed());
                if healthy {
                    held = Some(c);
                } else if log.is_some() {
                    // Back to the pool as other connections are: checkpointing on commit.
                    let _ = crate::exec_sql(&mut c, "PRAGMA wal_autocheckpoint = 1000");
                }
                results
            }
            Err(e) => {
                let msg = e.to_string();
                batch
                    .iter()
                    .map(|_| Err(StoreError::Config(msg.clone())))
                    .collect()
            }
        };
        let mut applied = 0;
        for ((p, answer), r) in batch.into_iter().zip(results) {
            match (answer, r) {
                (Answer::Caller(done), r) => {
                    let _ = done.send(r);
                }
                (Answer::Journaled(seg, _), Ok(_)) => {
                    seg.applied();
                    applied += 1;
                }
                (Answer::Journaled(seg, tries), Err(e)) => {
                    let n = tries + 1;
                    if n < JOURNAL_ATTEMPTS {
                        tracing::warn!(error = %e, attempt = n, key = %p.dedupe_key, "ingest journal: a push could not be applied yet; trying again");
                        again.push((p, Answer::Journaled(seg, n)));
                    } else {
                        // Still in its segment, which is kept: the next start replays it.
                        tracing::error!(error = %e, key = %p.dedupe_key, "ingest journal: a push could not be applied; it stays in the journal until the next start");
                    }
                }
            }
        }
        if applied > 0 {
            progress.add_applied(applied);
        }
        if let Some(log) = &log {
            if log.restart.swap(false, Relaxed) {
                if let Some(c) = held.as_mut() {
                    if let Err(e) = checkpoint(c) {
                        tracing::warn!(error = %e, "write-ahead log checkpoint failed");
                    }
                }
            }
            let _ = log.poke.try_send(());
        }
    }
}

/// How long a writer holding only journaled pushes waits for more to fill its batch.
const JOURNAL_LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Attempts at applying a journaled push before it is left for the next start (about
/// two minutes with [`retry_pause`]).
const JOURNAL_ATTEMPTS: u32 = 30;

/// The pause before attempt `n + 1` of journaled pushes that failed: 100 ms, doubling to
/// 5 s (a database that is down or restarting).
fn retry_pause(n: u32) -> std::time::Duration {
    std::time::Duration::from_millis(100u64.saturating_mul(1 << n.min(6)).min(5_000))
}

/// Stores a batch; the flag says whether it went through as a whole.
fn store_batch(
    conn: &mut r2d2::PooledConnection<crate::conn::Manager>,
    batch: &[Item],
    seen: &mut Seen,
) -> (Vec<Result<Recorded>>, bool) {
    let pending: Vec<&Pending> = batch.iter().map(|(p, _)| p).collect();
    let together = write_tx(conn, |c| store_set(c, &pending, seen));
    match together {
        Ok((all, learned)) => {
            seen.learn(learned);
            (all.into_iter().map(Ok).collect(), true)
        }
        Err(e) => {
            seen.forget();
            tracing::warn!(error = %e, pushes = batch.len(), "ingest batch failed as a whole; storing its pushes one by one");
            let one_by_one = batch.iter().map(|(p, _)| record_pending(conn, p)).collect();
            (one_by_one, false)
        }
    }
}

/// Stores a batch with a handful of statements per tenant whatever its size (on SQLite,
/// a cached statement per row; see `inbox::statements`). Must run inside a write transaction;
/// any error fails the whole batch (the caller then stores the pushes one by one).
fn store_set(
    c: &mut DbConn,
    batch: &[&Pending],
    seen: &Seen,
) -> Result<(Vec<Recorded>, Vec<Learned>)> {
    use std::collections::{BTreeMap, HashMap};
    let mut out: Vec<Option<Recorded>> = vec![None; batch.len()];
    let mut learned: Vec<Learned> = Vec::new();
    // (a second delivery in this batch, its first)
    let mut repeats: Vec<(usize, usize)> = Vec::new();
    let mut by_tenant: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, p) in batch.iter().enumerate() {
        by_tenant.entry(p.scope.tenant_id().0).or_default().push(i);
    }
    let t = now();
    for (tenant, idx) in by_tenant {
        // 1. Retries. A second delivery inside this batch is answered once its first has
        // its reply. A push with work beyond storing itself (points, coupons, jobs, a
        // follow, a QR scan, a reply naming the balance or a link) is checked against the
        // archive first, so that a retry does none of it again. A plain push is simply
        // inserted: the unique delivery key turns a retry away, and only then is the
        // earlier reply read.
        let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
        let (mut plain, mut checked) = (Vec::new(), Vec::new());
        for &i in &idx {
            let p = batch[i];
            if let Some(&j) = first_in_batch.get(p.dedupe_key.as_str()) {
                repeats.push((i, j));
                continue;
            }
            first_in_batch.insert(&p.dedupe_key, i);
            if p.is_plain() {
                plain.push(i);
            } else {
                checked.push(i);
            }
        }
        let mut fresh: Vec<usize> = plain;
        if !checked.is_empty() {
            let keys: Vec<&str> = checked
                .iter()
                .map(|&i| batch[i].dedupe_key.as_str())
                .collect();
            let known = known_keys(c, tenant, &keys)?;
            for i in checked {
                match known.get(&batch[i].dedupe_key) {
                    Some(reply) => {
                        out[i] = Some(Recorded::Duplicate {
                            reply: reply.clone(),
                        })
                    }
                    None => fresh.push(i),
                }
            }
        }
        if fresh.is_empty() {
            continue;
        }
        // 2. Followers: find, create the missing ones (with their activity, so a new
        // follower is written once).
        // WeChat's own pushes (job reports) have no follower.
        let from_followers: Vec<usize> = fresh
            .iter()
            .copied()
            .filter(|&i| batch[i].change != FollowerChange::System)
            .collect();
        let openids: Vec<&str> = from_followers
            .iter()
            .map(|&i| batch[i].openid.as_str())
            .collect();
        let mut ids: HashMap<String, Known> = HashMap::new();
        let mut unseen: Vec<&str> = Vec::new();
        for &openid in &openids {
            match seen.get(tenant, openid) {
                Some(known) => {
                    ids.insert(openid.to_string(), known);
                }
                None if !unseen.contains(&openid) => unseen.push(openid),
                None => {}
            }
        }
        if !unseen.is_empty() {
            ids.extend(known_followers(c, tenant, &unseen)?);
        }
        let mut missing: Vec<NewFollower<'_>> = Vec::new();
        for &i in &from_followers {
            let p = batch[i];
            if ids.contains_key(&p.openid) {
                continue;
            }
            let active = (p.change == FollowerChange::Interaction).then_some(p.sent_at);
            match missing.iter_mut().find(|m| m.openid == p.openid) {
                Some(m) => m.last_interaction_at = m.last_interaction_at.max(active),
                None => missing.push(NewFollower {
                    tenant_id: tenant,
                    openid: &p.openid,
                    subscribed: p.change != FollowerChange::Unsubscribe,
                    subscribe_count: 0,
                    last_interaction_at: active,
                    created_at: t,
                    updated_at: t,
                }),
            }
        }
        if !missing.is_empty() {
            // Another writer may be creating the same follower right now: on PostgreSQL
            // the unique key then waits for its commit and skips the row, instead of
            // failing this whole batch (which would fall back to one push at a time).
            // Skipped rows are looked up afterwards.
            let created = insert_followers(c, &missing)?;
            for (openid, id) in created {
                let last = missing
                    .iter()
                    .find(|m| m.openid == openid)
                    .and_then(|m| m.last_interaction_at);
                ids.insert(openid, (id, last));
            }
            let skipped: Vec<&str> = missing
                .iter()
                .map(|m| m.openid)
                .filter(|o| !ids.contains_key(*o))
                .collect();
            if !skipped.is_empty() {
                ids.extend(known_followers(c, tenant, &skipped)?);
            }
        }
        // 3. Follower changes. Last activity is kept to the minute: a follower chatting
        // away rewrites their row (and on PostgreSQL every index of it) once a minute, not
        // once a message; the archive keeps every message's exact time. Interactions that
        // are due are grouped by time: one update per second.
        let mut due: HashMap<i64, NaiveDateTime> = HashMap::new();
        for &i in &from_followers {
            let p = batch[i];
            let (id, last) = ids[&p.openid];
            match &p.change {
                FollowerChange::Interaction => {
                    if last.is_none_or(|l| l < p.sent_at - LAST_ACTIVE_STEP) {
                        let at = due.entry(id).or_insert(p.sent_at);
                        *at = (*at).max(p.sent_at);
                    }
                }
                other => {
                    touch_follower(c, &p.scope, &p.openid, other, p.sent_at)?;
                }
            }
        }
        let mut touched: BTreeMap<NaiveDateTime, Vec<i64>> = BTreeMap::new();
        for (&id, &at) in &due {
            touched.entry(at).or_default().push(id);
        }
        for (at, list) in touched {
            // The guard again in SQL: another writer may have moved it meanwhile, and
            // last activity never moves backwards.
            diesel::update(
                followers::table.filter(followers::id.eq_any(&list)).filter(
                    followers::last_interaction_at
                        .is_null()
                        .or(followers::last_interaction_at.lt(at - LAST_ACTIVE_STEP)),
                ),
            )
            .set((
                followers::last_interaction_at.eq(Some(at)),
                followers::updated_at.eq(t),
            ))
            .execute(c)?;
        }
        // What the writer now knows of these followers, kept once this batch committed.
        for &i in &from_followers {
            let p = batch[i];
            let (id, last) = ids[&p.openid];
            let known = match &p.change {
                FollowerChange::Interaction => Some((id, due.get(&id).copied().or(last))),
                _ => None,
            };
            learned.push(((tenant, p.openid.clone()), known));
        }
        // 4. Loyalty work and the final replies, then the archive rows in one statement.
        let mut replies: HashMap<usize, Option<String>> = HashMap::new();
        for &i in &fresh {
            let p = batch[i];
            let reply = match ids.get(&p.openid) {
                Some(&(id, _)) if p.change != FollowerChange::System => finish(c, p, id)?,
                _ => None,
            };
            replies.insert(i, reply);
        }
        let follower_of =
            |p: &Pending| (p.change != FollowerChange::System).then(|| ids[&p.openid].0);
        let rows: Vec<NewMessage<'_>> = fresh
            .iter()
            .map(|&i| {
                let p = batch[i];
                NewMessage {
                    tenant_id: tenant,
                    follower_id: follower_of(p),
                    direction: "in",
                    msg_type: &p.msg_type,
                    event: p.event.as_deref(),
                    dedupe_key: Some(&p.dedupe_key),
                    content: p.content.as_deref(),
                    body: &p.body,
                    reply: replies[&i].as_deref(),
                    sent_at: p.sent_at,
                    received_at: t,
                }
            })
            .collect();
        let stored = insert_messages(c, &rows)?;
        // Plain pushes the archive turned away are retries: answer with the reply then.
        let turned_away: Vec<&str> = fresh
            .iter()
            .map(|&i| batch[i].dedupe_key.as_str())
            .filter(|k| !stored.contains_key(*k))
            .collect();
        let earlier = if turned_away.is_empty() {
            HashMap::new()
        } else {
            known_keys(c, tenant, &turned_away)?
        };
        for &i in &fresh {
            let p = batch[i];
            let Some(&message_id) = stored.get(&p.dedupe_key) else {
                if !p.is_plain() {
                    // Stored by another process since the check: its work was done here
                    // too, so the batch must not commit.
                    return Err(StoreError::Conflict("delivery"));
                }
                out[i] = Some(Recorded::Duplicate {
                    reply: earlier.get(&p.dedupe_key).cloned().flatten(),
                });
                continue;
            };
            after_new(c, p)?;
            out[i] = Some(Recorded::New {
                message_id,
                follower_id: follower_of(p),
                reply: replies[&i].clone(),
            });
        }
    }
    // Second deliveries inside the batch get the answer of their first, whatever it was.
    for (i, j) in repeats {
        out[i] = Some(Recorded::Duplicate {
            reply: out_reply(&out[j]),
        });
    }
    let out = out
        .into_iter()
        .map(|r| r.expect("every push got an outcome"))
        .collect();
    Ok((out, learned))
}

/// What a batch taught the writer about a follower: their id and last activity, or
/// `None` to forget them (a follow or unfollow changed more than the writer keeps).
type Learned = ((i64, String), Option<Known>);

/// The followers the ingest writer has met lately, by (tenant, openid): their id and last
/// activity as it last knew them. This spares the follower lookup for most pushes. Ids
/// never change and followers are never deleted; last activity only moves forward, so a
/// value older than the truth makes the writer attempt an update that the SQL guard then
/// skips. Entries are learned only from committed batches, and a failed batch forgets
/// everything.
#[derive(Default)]
struct Seen {
    followers: std::collections::HashMap<(i64, String), Known>,
}

impl Seen {
    /// About 100 bytes an entry.
    const MAX: usize = 200_000;

    fn get(&self, tenant: i64, openid: &str) -> Option<Known> {
        // Keyed by an owned String: the lookup builds one (cheaper than a miss's query).
        self.followers.get(&(tenant, openid.to_string())).copied()
    }

    fn learn(&mut self, learned: Vec<Learned>) {
        if self.followers.len() + learned.len() > Self::MAX {
            self.followers.clear();
        }
        for (key, known) in learned {
            match known {
                Some(k) => self.followers.insert(key, k),
                None => self.followers.remove(&key),
            };
        }
    }

    fn forget(&mut self) {
        self.followers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patron_domain::{AgencyId, TenantId, TenantRef, TenantScope};

    /// Steady load through the writer: the log must keep starting again from the
    /// beginning of its file instead of growing with every frame written.
    #[test]
    fn the_write_ahead_log_restarts_under_steady_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let pool = crate::DbPool::connect(&format!("sqlite://{}", path.display()), 8).unwrap();
        let scope = {
            let mut c = pool.get().unwrap();
            crate::migrate::run(&mut c).unwrap();
            let agency = crate::tenants::create_agency(&mut c, "A").unwrap();
            crate::exec_sql(
                &mut c,
                &format!(
                    "INSERT INTO tenants (agency_id, name, slug, time_zone, wx_message_mode, \
                     wx_account_kind, wx_api_base, created_at, updated_at) VALUES ({}, 'T', 't', \
                     'UTC', 'safe', 'service', 'http://127.0.0.1:1', '2026-01-01', '2026-01-01')",
                    agency.id
                ),
            )
            .unwrap();
            let id: i64 = crate::schema::tenants::table
                .select(crate::schema::tenants::id)
                .first(&mut *c)
                .unwrap();
            TenantScope::system(TenantRef {
                id: TenantId(id),
                agency_id: AgencyId(agency.id),
            })
        };
        let ingest = Batcher::start(pool.clone(), 0, None).unwrap();
        // 24 KB bodies: about six frames a push, so 7,200 pushes write ~43,000 frames,
        // forty times RESTART_FRAMES (as the tests build it), from eight threads. How far
        // the log grows between two restarts depends on how fast the machine checkpoints
        // (up to ~10,000 frames on a slow one), so the run is several times longer.
        const PER_THREAD: usize = 900;
        let body = "x".repeat(24_000);
        std::thread::scope(|s| {
            for t in 0..8 {
                let (ingest, scope, body) = (ingest.clone(), scope.clone(), body.clone());
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        let r = ingest.record(Pending {
                            scope: scope.clone(),
                            openid: format!("o_{}", i % 50),
                            msg_type: "text".into(),
                            event: None,
                            dedupe_key: format!("msg:{t}:{i}"),
                            content: None,
                            body: body.clone(),
                            sent_at: crate::now(),
                            change: FollowerChange::Interaction,
                            reply: None,
                            follow_ups: vec![],
                            qr_hit: None,
                            acts: vec![],
                            again_reply: None,
                            links: None,
                        });
                        assert!(matches!(r, Ok(Recorded::New { .. })), "{r:?}");
                    }
                });
            }
        });
        assert_eq!(
            crate::inbox::count_messages(&mut pool.get().unwrap()).unwrap(),
            8 * PER_THREAD as i64
        );
        // The log's header counts its restarts (the checkpoint sequence number, bytes
        // 12..16, big-endian); a log that never restarted holds every frame.
        let wal = std::fs::read(dir.path().join("t.db-wal")).unwrap();
        let restarts = u32::from_be_bytes(wal[12..16].try_into().unwrap());
        assert!(restarts >= 5, "the log restarted {restarts} times");
        // Never longer than the size a restart cuts it back to (journal_size_limit, 128
        // MiB) and the frames of the batches written since: how soon a restart comes
        // depends on how busy the machine is (CI runs other test binaries beside this
        // one), but a log that never restarted would hold all ~43,000 frames (177 MB).
        assert!(
            wal.len() < 134_217_728 + 8 * 6 * 4_120 * 64,
            "the log grew to {} bytes",
            wal.len()
        );
    }
}
