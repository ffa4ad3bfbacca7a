//! The ingest journal (PostgreSQL): a plain push is acknowledged once it is written to a
//! local append-only file, and applied to the database by the ingest writers behind it,
//! in batches far larger than the webhook's closed loop of callers would ever form.
//!
//! Why, and what it costs, is in ARCHITECTURE.md ("Ingest journal"). In short: a
//! PostgreSQL transaction per dozen pushes spends most of its CPU on the transaction (the
//! commit's WAL flush, executor start-up, waking the backend), not on the rows. Only
//! *plain* pushes (their only effects are the archive row and the follower's last
//! activity, and their reply is the rule's, fixed before storing) go through the journal;
//! everything else is stored before it is answered, as before.
//!
//! Two ways to flush ([`JournalSync`]): by default the caller writes its own record under a
//! lock and a thread flushes the file every [`SYNC_INTERVAL`] (an answered push survives a
//! crash of Patron, as a SQLite commit with `synchronous = NORMAL` does); or a thread
//! takes the pushes waiting as a group, writes and `fdatasync`s them, then answers them
//! (an answered push survives an OS crash too).
//!
//! Layout: `dir/NNNNNNNNNNNNNNNNNNNN.journal` segments named by the number of their first
//! record, each a run of records `[payload length: u32 LE][CRC-32 of payload: u32 LE]
//! [payload]`. A crash can leave a torn record at the end of the newest segment, and
//! reading stops there: with [`JournalSync::Group`] it was never acknowledged (an answer
//! goes out only after its group's `fdatasync`); with [`JournalSync::Interval`] only an
//! OS crash or power cut tears one (a killed process leaves its written pages to the
//! kernel), and it is among the last ~0.1 s of pushes that such a crash can lose.
//! Applying a record twice changes nothing (the archive's unique delivery key, the
//! follower upsert, last activity that never moves back), so segments are simply replayed
//! whole at start-up and deleted once applied and older than [`RECENT`].

use super::{FollowerChange, Pending, Recorded};
use crate::{Result, StoreError};
use chrono::NaiveDateTime;
use patron_domain::{AgencyId, TenantId, TenantRef, TenantScope};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{
    AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a delivery key is remembered after its push was journaled, so that WeChat's
/// retries (three deliveries within about 15 s) get the first reply without a database
/// read. Segments are kept as long, so a restart remembers them too.
const RECENT: Duration = Duration::from_secs(if cfg!(test) { 1 } else { 120 });

/// Remembered keys at most (~150 bytes each).
const RECENT_MAX: usize = 500_000;

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = if cfg!(test) {
    64 * 1024
} else {
    64 * 1024 * 1024
};

/// Pushes one group takes at most (one write, and with [`JournalSync::Group`] one
/// `fdatasync`).
const GROUP_MAX: usize = 1024;

/// How often [`JournalSync::Interval`] flushes what was written.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// When the journal flushes what it wrote to the disk (`ingest_journal_sync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalSync {
    /// Every [`SYNC_INTERVAL`], on a thread of its own; a push is answered once it is
    /// written to the journal file. It then survives a crash of Patron (the kernel holds
    /// the file's pages); an OS crash or a power cut can lose what was answered in the
    /// last ~0.1 s. The same trade-off as SQLite's `synchronous = NORMAL`.
    #[default]
    Interval,
    /// Before each group is answered: an answered push survives an OS crash or a power
    /// cut. On a virtual disk a flush costs 60–90 µs of CPU (the device's doorbell, the
    /// context switches around the wait), and the journal flushes back to back under load
    /// (docs/benchmarks.md).
    Group,
}

impl JournalSync {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalSync::Interval => "interval",
            JournalSync::Group => "group",
        }
    }
}

impl std::str::FromStr for JournalSync {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<JournalSync, String> {
        [JournalSync::Interval, JournalSync::Group]
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| format!("\"{s}\" is not a journal flush mode: use interval or group"))
    }
}

/// A journal segment's records not yet applied to the database.
#[derive(Default)]
pub(super) struct Unapplied(AtomicU64);

impl Unapplied {
    pub(super) fn applied(&self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// What the journal hands to the ingest writers: a push it has acknowledged, and the
/// segment to tell once it is applied.
pub(super) type Journaled = (Pending, Arc<Unapplied>);

/// Counts for `settle`, `/metrics` and the benchmark.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) journaled: AtomicU64,
    pub(super) applied: AtomicU64,
    /// `fdatasync`s of the journal's segments.
    pub(super) flushes: AtomicU64,
    /// Signalled when `applied` moves (for [`Progress::wait_applied`]).
    moved: (Mutex<()>, Condvar),
}

impl Progress {
    /// Counts `n` journaled pushes stored, and wakes whoever waits for them.
    pub(super) fn add_applied(&self, n: u64) {
        self.applied.fetch_add(n, Relaxed);
        let _held = self.moved.0.lock().unwrap_or_else(|p| p.into_inner());
        self.moved.1.notify_all();
    }

    /// Waits until `applied` reaches `target` or `deadline` passes; returns whether it did.
    pub(super) fn wait_applied(&self, target: u64, deadline: Instant) -> bool {
        let mut held = self.moved.0.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `add_applied` takes to signal: no wake-up is missed.
        while self.applied.load(Relaxed) < target {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            held = match self.moved.1.wait_timeout(held, left) {
                Ok((h, _)) => h,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }
}

type Caller = tokio::sync::oneshot::Sender<Result<Recorded>>;

/// The journal's handle: plain pushes go in here.
#[derive(Clone)]
pub(super) enum Journal {
    /// [`JournalSync::Group`]: the journal's thread takes the pushes waiting, writes and
    /// flushes them as one group, then answers each.
    Thread(SyncSender<(Pending, Caller)>),
    /// [`JournalSync::Interval`]: the caller writes its own push (one `write` under a
    /// lock), so no thread is woken and no answer awaited: that hand-off cost about a
    /// sixth of the webhook's rate (docs/benchmarks.md).
    Inline(Arc<Inline>),
}

/// The journal written by its callers ([`JournalSync::Interval`]).
pub(super) struct Inline {
    state: Mutex<State>,
    /// Set while the last run's records are replayed (the state is locked meanwhile).
    replaying: AtomicBool,
    progress: Arc<Progress>,
}

/// What [`Inline::write`] did with a push.
pub(super) enum Written {
    /// Journaled: answer it, and hand it to the writers.
    Fresh(Journaled),
    /// A retry of a push journaled lately: answer it with the first one's reply.
    Retry(Option<String>),
    /// The last run's records are being replayed: store this one before answering it,
    /// as without a journal (the archive's unique key turns a retry away).
    NotNow(Pending),
}

impl Journal {
    /// Opens (creating) the journal in `dir` and locks it for this process. Every record
    /// left from an earlier run is handed to `apply` in the background (the server starts
    /// at once): with [`JournalSync::Group`] new pushes wait behind the replay on the
    /// journal's thread; with [`JournalSync::Interval`] they are stored before they are
    /// answered until it is done ([`Written::NotNow`]).
    pub(super) fn open(
        dir: &Path,
        sync: JournalSync,
        apply: impl Fn(Journaled) -> bool + Send + 'static,
        progress: Arc<Progress>,
    ) -> Result<Journal> {
        let mut state = State::open(dir, sync)?;
        let replay = |state: &mut State, apply: &dyn Fn(Journaled) -> bool, progress: &Progress| {
            match state.replay(apply, progress) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    records = n,
                    "ingest journal: replayed the last run's records"
                ),
                // What could not be read stays on disk for the next start.
                Err(e) => {
                    tracing::error!(error = %e, dir = %state.dir.display(), "ingest journal: replaying failed")
                }
            }
        };
        match sync {
            JournalSync::Group => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<(Pending, Caller)>(4096);
                std::thread::Builder::new()
                    .name("ingest-journal".into())
                    .spawn(move || {
                        replay(&mut state, &apply, &progress);
                        state.run(rx, &apply, &progress)
                    })
                    .map(drop)
                    .map_err(|e| io_error(dir, "starting its thread", e))?;
                Ok(Journal::Thread(tx))
            }
            JournalSync::Interval => {
                state.start_syncer(progress.clone())?;
                let inline = Arc::new(Inline {
                    state: Mutex::new(state),
                    replaying: AtomicBool::new(true),
                    progress: progress.clone(),
                });
                let replaying = inline.clone();
                std::thread::Builder::new()
                    .name("ingest-journal-replay".into())
                    .spawn(move || {
                        let mut state = replaying.state.lock().unwrap_or_else(|p| p.into_inner());
                        replay(&mut state, &apply, &progress);
                        replaying.replaying.store(false, Release);
                    })
                    .map(drop)
                    .map_err(|e| io_error(dir, "starting its replay thread", e))?;
                Ok(Journal::Inline(inline))
            }
        }
    }
}

impl Inline {
    /// Journals a plain push: written to the journal file (flushed within
    /// [`SYNC_INTERVAL`]) unless it is a retry of one journaled lately.
    pub(super) fn write(&self, p: Pending) -> Result<Written> {
        if self.replaying.load(Acquire) {
            return Ok(Written::NotNow(p));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.write_one(p, &self.progress)
    }
}

struct Segment {
    path: PathBuf,
    /// Shared with the syncer ([`JournalSync::Interval`]).
    file: Arc<File>,
    bytes: u64,
    unapplied: Arc<Unapplied>,
}

/// What the syncer of [`JournalSync::Interval`] flushes: the segment being written, and
/// whether anything was written to it since the last flush.
#[derive(Default)]
struct ToSync {
    file: Mutex<Option<Arc<File>>>,
    written: AtomicBool,
}

/// Flushes the journal's current segment every [`SYNC_INTERVAL`] if anything was written;
/// ends once the journal's state (which holds the only strong reference to `to_sync`) is
/// dropped.
fn syncer(to_sync: std::sync::Weak<ToSync>, progress: Arc<Progress>) {
    loop {
        std::thread::sleep(SYNC_INTERVAL);
        let Some(to_sync) = to_sync.upgrade() else {
            return;
        };
        if !to_sync.written.swap(false, Relaxed) {
            continue;
        }
        let file = to_sync
            .file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(file) = file {
            match file.sync_data() {
                Ok(()) => {
                    progress.flushes.fetch_add(1, Relaxed);
                }
                // The pushes are with the writers, who store them in the database: they
                // are lost only if Patron and the OS both go down before that.
                Err(e) => tracing::error!(error = %e, "ingest journal: flushing a segment failed"),
            }
        }
    }
}

struct Closed {
    path: PathBuf,
    unapplied: Arc<Unapplied>,
    at: Instant,
}

struct State {
    dir: PathBuf,
    /// Held (locked) for the life of the thread.
    #[allow(dead_code)]
    lock: File,
    current: Option<Segment>,
    closed: Vec<Closed>,
    recent: Recent,
    next_seq: u64,
    sync: JournalSync,
    to_sync: Arc<ToSync>,
    /// [`JournalSync::Interval`]: one push's record, its buffer kept between pushes.
    buf: Vec<u8>,
    last_tidy: Option<Instant>,
}

fn io_error(dir: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Config(format!("ingest journal {}: {what}: {e}", dir.display()))
}

impl State {
    /// Creates `dir` if need be and locks it for this process.
    fn open(dir: &Path, sync: JournalSync) -> Result<State> {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "creating it", e))?;
        // Two processes on one journal would each replay and delete the other's records.
        let lock = File::create(dir.join("LOCK")).map_err(|e| io_error(dir, "LOCK", e))?;
        lock.try_lock().map_err(|_| {
            StoreError::Config(format!(
                "ingest journal {} is in use by another process (each Patron process needs \
                 a data directory of its own)",
                dir.display()
            ))
        })?;
        Ok(State {
            dir: dir.to_path_buf(),
            lock,
            current: None,
            closed: Vec::new(),
            recent: Recent::default(),
            next_seq: 0,
            sync,
            to_sync: Arc::default(),
            buf: Vec::new(),
            last_tidy: None,
        })
    }

    /// Starts the thread that flushes the journal every [`SYNC_INTERVAL`]
    /// ([`JournalSync::Interval`]); it ends when this state is dropped.
    fn start_syncer(&self, progress: Arc<Progress>) -> Result<()> {
        let to_sync = Arc::downgrade(&self.to_sync);
        std::thread::Builder::new()
            .name("ingest-journal-sync".into())
            .spawn(move || syncer(to_sync, progress))
            .map(drop)
            .map_err(|e| io_error(&self.dir, "starting its flush thread", e))
    }

    /// Hands every record of the segments found to `apply`; returns how many.
    fn replay(
        &mut self,
        apply: &dyn Fn(Journaled) -> bool,
        progress: &Progress,
    ) -> std::io::Result<u64> {
        let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                let seq = p
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".journal")?
                    .parse()
                    .ok()?;
                Some((seq, p))
            })
            .collect();
        names.sort();
        let mut count = 0;
        for (seq, path) in names {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    // Left where it is for the next start; the others are replayed.
                    tracing::error!(error = %e, segment = %path.display(), "ingest journal: a segment could not be read");
                    self.next_seq = self.next_seq.max(seq + 1);
                    continue;
                }
            };
            let unapplied = Arc::new(Unapplied::default());
            let (records, torn) = decode_all(&bytes);
            if torn {
                tracing::warn!(segment = %path.display(), records = records.len(), "ingest journal: a torn record at the end (never acknowledged) is ignored");
            }
            self.next_seq = self.next_seq.max(seq + records.len() as u64 + 1);
            unapplied.0.fetch_add(records.len() as u64, Relaxed);
            progress.journaled.fetch_add(records.len() as u64, Relaxed);
            count += records.len() as u64;
            for p in records {
                self.recent.learn(&p, Instant::now());
                if !apply((p, unapplied.clone())) {
                    return Err(std::io::Error::other("the ingest writers stopped"));
                }
            }
            self.closed.push(Closed {
                path,
                unapplied,
                at: Instant::now(),
            });
        }
        Ok(count)
    }

    /// Journals what comes in `rx` until every sender is gone ([`JournalSync::Group`]).
    fn run(
        &mut self,
        rx: Receiver<(Pending, Caller)>,
        apply: &impl Fn(Journaled) -> bool,
        progress: &Progress,
    ) {
        let mut buf = Vec::new();
        loop {
            let mut group = Vec::new();
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(first) => group.push(first),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.tidy(Instant::now());
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while group.len() < GROUP_MAX {
                match rx.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            self.recent.forget_old(now);
            // Retries of pushes journaled lately get the first reply; the rest are written.
            buf.clear();
            let mut fresh = Vec::with_capacity(group.len());
            for (p, caller) in group {
                if let Some(reply) = self.recent.get(&p) {
                    let _ = caller.send(Ok(Recorded::Duplicate { reply }));
                    continue;
                }
                self.recent.learn(&p, now);
                encode(&p, &mut buf);
                fresh.push((p, caller));
            }
            if fresh.is_empty() {
                continue;
            }
            let fresh_count = fresh.len() as u64;
            let written = self.append(&buf, fresh_count, progress);
            let unapplied = match written {
                Ok(u) => u,
                Err(e) => {
                    // Nothing of this group is acknowledged; WeChat delivers it again.
                    tracing::error!(error = %e, pushes = fresh.len(), "ingest journal: write failed");
                    for (p, caller) in fresh {
                        self.recent.unlearn(&p);
                        let _ = caller.send(Err(StoreError::Config(format!(
                            "ingest journal write failed: {e}"
                        ))));
                    }
                    self.abandon_current(fresh_count);
                    continue;
                }
            };
            progress.journaled.fetch_add(fresh.len() as u64, Relaxed);
            // The group is durable: answer it first, then hand it to the writers.
            let mut durable = Vec::with_capacity(fresh.len());
            for (p, caller) in fresh {
                let _ = caller.send(Ok(Recorded::Accepted {
                    reply: p.reply.clone(),
                }));
                durable.push(p);
            }
            for p in durable {
                // Blocks while the writers are behind by their queue's length: the
                // journal runs at most that far ahead of the database.
                if !apply((p, unapplied.clone())) {
                    return;
                }
            }
            self.close_if_full();
            self.tidy(Instant::now());
        }
    }

    /// Journals one push ([`JournalSync::Interval`], see [`Inline::write`]).
    fn write_one(&mut self, p: Pending, progress: &Progress) -> Result<Written> {
        let now = Instant::now();
        self.recent.forget_old(now);
        if let Some(reply) = self.recent.get(&p) {
            return Ok(Written::Retry(reply));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode(&p, &mut buf);
        let written = self.append(&buf, 1, progress);
        self.buf = buf;
        let unapplied = match written {
            Ok(u) => u,
            Err(e) => {
                // Not acknowledged; WeChat delivers it again.
                tracing::error!(error = %e, "ingest journal: write failed");
                self.abandon_current(1);
                return Err(StoreError::Config(format!(
                    "ingest journal write failed: {e}"
                )));
            }
        };
        self.recent.learn(&p, now);
        progress.journaled.fetch_add(1, Relaxed);
        self.close_if_full();
        if self
            .last_tidy
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_tidy = Some(now);
            self.tidy(now);
        }
        Ok(Written::Fresh((p, unapplied)))
    }

    /// Writes a group (and with [`JournalSync::Group`] flushes it); returns its segment's
    /// counter.
    fn append(
        &mut self,
        buf: &[u8],
        records: u64,
        progress: &Progress,
    ) -> std::io::Result<Arc<Unapplied>> {
        if self.current.is_none() {
            let path = self.dir.join(format!("{:020}.journal", self.next_seq));
            // A name never used before (see the write error in `run`).
            let file = std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            // The new name must survive a crash too.
            File::open(&self.dir)?.sync_all()?;
            let file = Arc::new(file);
            *self.to_sync.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(file.clone());
            self.current = Some(Segment {
                path,
                file,
                bytes: 0,
                unapplied: Arc::new(Unapplied::default()),
            });
        }
        let seg = self.current.as_mut().expect("opened above");
        (&*seg.file).write_all(buf)?;
        match self.sync {
            JournalSync::Group => {
                seg.file.sync_data()?;
                progress.flushes.fetch_add(1, Relaxed);
            }
            JournalSync::Interval => self.to_sync.written.store(true, Relaxed),
        }
        seg.bytes += buf.len() as u64;
        seg.unapplied.0.fetch_add(records, Relaxed);
        self.next_seq += records;
        Ok(seg.unapplied.clone())
    }

    /// Closes the segment being written once it has reached [`SEGMENT_BYTES`].
    fn close_if_full(&mut self) {
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.bytes >= SEGMENT_BYTES)
        {
            self.close_current();
        }
    }

    /// After a failed write of `records` records: the segment may end in part of them now,
    /// so nothing more is written to it (it is deleted once its earlier records are
    /// applied), and the next one gets a name of its own.
    fn abandon_current(&mut self, records: u64) {
        self.close_current();
        self.next_seq += records;
    }

    /// Closes the segment being written, flushed (with [`JournalSync::Interval`] what was
    /// written since the flush thread's last tick is flushed here).
    fn close_current(&mut self) {
        if let Some(seg) = self.current.take() {
            *self.to_sync.file.lock().unwrap_or_else(|p| p.into_inner()) = None;
            if self.sync == JournalSync::Interval {
                if let Err(e) = seg.file.sync_data() {
                    tracing::error!(error = %e, segment = %seg.path.display(), "ingest journal: flushing a closed segment failed");
                }
            }
            self.closed.push(Closed {
                path: seg.path,
                unapplied: seg.unapplied,
                at: Instant::now(),
            });
        }
    }

    /// Deletes closed segments whose records are all applied and no longer recent.
    fn tidy(&mut self, now: Instant) {
        self.closed.retain(|c| {
            let done = c.unapplied.0.load(Relaxed) == 0 && now.duration_since(c.at) >= RECENT;
            if done {
                if let Err(e) = std::fs::remove_file(&c.path) {
                    tracing::warn!(error = %e, segment = %c.path.display(), "ingest journal: could not delete an applied segment");
                    return true;
                }
            }
            !done
        });
    }
}

type RecentKey = (i64, String);

/// Delivery keys journaled lately, with their replies, by tenant: each remembered for at
/// least [`RECENT`] and at most twice that. Kept in two generations, so forgetting is
/// dropping the older one whole (on a thread of its own: freeing hundreds of thousands of
/// strings takes milliseconds), and each generation's table is sized once for
/// [`RECENT_MAX`] / 2 keys, so it never grows. (One table grown by doubling stalled the
/// journal, and every push waiting on it, for 100–180 ms when it passed ~460,000 keys.)
struct Recent {
    /// Keys learned since `since`.
    young: HashMap<RecentKey, Option<String>>,
    /// Keys learned in the generation before.
    old: HashMap<RecentKey, Option<String>>,
    since: Option<Instant>,
}

impl Default for Recent {
    fn default() -> Recent {
        Recent {
            young: HashMap::with_capacity(RECENT_MAX / 2),
            old: HashMap::new(),
            since: None,
        }
    }
}

impl Recent {
    fn key(p: &Pending) -> RecentKey {
        (p.scope.tenant_id().0, p.dedupe_key.clone())
    }

    fn get(&self, p: &Pending) -> Option<Option<String>> {
        let k = Self::key(p);
        self.young.get(&k).or_else(|| self.old.get(&k)).cloned()
    }

    fn learn(&mut self, p: &Pending, at: Instant) {
        if self.young.len() >= RECENT_MAX / 2 {
            self.rotate(at);
        }
        self.since.get_or_insert(at);
        self.young.insert(Self::key(p), p.reply.clone());
    }

    fn unlearn(&mut self, p: &Pending) {
        let k = Self::key(p);
        self.young.remove(&k);
        self.old.remove(&k);
    }

    /// Forgets the older generation once every key in it is older than [`RECENT`].
    fn forget_old(&mut self, now: Instant) {
        if self.since.is_some_and(|s| now.duration_since(s) >= RECENT) {
            self.rotate(now);
        }
    }

    fn rotate(&mut self, now: Instant) {
        let young = std::mem::replace(&mut self.young, HashMap::with_capacity(RECENT_MAX / 2));
        let old = std::mem::replace(&mut self.old, young);
        self.since = Some(now);
        if old.len() > 10_000 {
            // A thread that cannot start leaves the drop here.
            let _ = std::thread::Builder::new()
                .name("ingest-journal-forget".into())
                .spawn(move || drop(old));
        }
    }
}

const VERSION: u8 = 1;

/// Appends one record (header and payload) for a plain push.
fn encode(p: &Pending, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.push(VERSION);
    out.extend_from_slice(&p.scope.tenant_id().0.to_le_bytes());
    out.extend_from_slice(&p.scope.agency_id().0.to_le_bytes());
    let at = p.sent_at.and_utc();
    out.extend_from_slice(&at.timestamp().to_le_bytes());
    out.extend_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
    for s in [
        Some(&p.openid),
        Some(&p.msg_type),
        p.event.as_ref(),
        Some(&p.dedupe_key),
        p.content.as_ref(),
        Some(&p.body),
        p.reply.as_ref(),
    ] {
        match s {
            Some(s) => {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
    }
    let payload = &out[start + 8..];
    let len = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Every whole record of a segment, and whether it ended in a torn or corrupt one.
fn decode_all(mut bytes: &[u8]) -> (Vec<Pending>, bool) {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let Some(header) = bytes.get(..8) else {
            return (out, true);
        };
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(8..8 + len) else {
            return (out, true);
        };
        if crc32fast::hash(payload) != crc {
            return (out, true);
        }
        match decode(payload) {
            Some(p) => out.push(p),
            None => return (out, true),
        }
        bytes = &bytes[8 + len..];
    }
    (out, false)
}

fn decode(payload: &[u8]) -> Option<Pending> {
    let mut r = Reader(payload);
    if r.take(1)?[0] != VERSION {
        return None;
    }
    let tenant = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let agency = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let secs = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let nanos = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    let sent_at: NaiveDateTime = chrono::DateTime::from_timestamp(secs, nanos)?.naive_utc();
    let openid = r.string()??;
    let msg_type = r.string()??;
    let event = r.string()?;
    let dedupe_key = r.string()??;
    let content = r.string()?;
    let body = r.string()??;
    let reply = r.string()?;
    if !r.0.is_empty() {
        return None;
    }
    Some(Pending {
        scope: TenantScope::system(TenantRef {
            id: TenantId(tenant),
            agency_id: AgencyId(agency),
        }),
        openid,
        msg_type,
        event,
        dedupe_key,
        content,
        body,
        sent_at,
        change: FollowerChange::Interaction,
        reply,
        follow_ups: vec![],
        qr_hit: None,
        acts: vec![],
        again_reply: None,
        links: None,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    /// `None`: the payload is short; `Some(None)`: an absent value.
    fn string(&mut self) -> Option<Option<String>> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        if len == u32::MAX {
            return Some(None);
        }
        let s = std::str::from_utf8(self.take(len as usize)?).ok()?;
        Some(Some(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn push(tenant: i64, key: &str, reply: Option<&str>, body: &str) -> Pending {
        Pending {
            scope: TenantScope::system(TenantRef {
                id: TenantId(tenant),
                agency_id: AgencyId(7),
            }),
            openid: "o-first".into(),
            msg_type: "text".into(),
            event: None,
            dedupe_key: key.into(),
            content: Some("营业时间 hours".into()),
            body: body.into(),
            sent_at: chrono::DateTime::from_timestamp(1_700_000_000, 123_000_000)
                .unwrap()
                .naive_utc(),
            change: FollowerChange::Interaction,
            reply: reply.map(Into::into),
            follow_ups: vec![],
            qr_hit: None,
            acts: vec![],
            again_reply: None,
            links: None,
        }
    }

    type Fields = (i64, i64, String, String, Option<String>, String);
    type Texts = (Option<String>, String, Option<String>, NaiveDateTime);

    fn fields(p: &Pending) -> (Fields, Texts) {
        (
            (
                p.scope.tenant_id().0,
                p.scope.agency_id().0,
                p.openid.clone(),
                p.msg_type.clone(),
                p.event.clone(),
                p.dedupe_key.clone(),
            ),
            (
                p.content.clone(),
                p.body.clone(),
                p.reply.clone(),
                p.sent_at,
            ),
        )
    }

    #[test]
    fn recent_keys_are_remembered_between_one_and_two_windows_and_within_a_bound() {
        let t0 = Instant::now();
        let mut r = Recent::default();
        let first = push(1, "msg:1", Some("hi"), "a");
        r.learn(&first, t0);
        assert_eq!(r.get(&first), Some(Some("hi".into())));
        assert_eq!(
            r.get(&push(2, "msg:1", None, "a")),
            None,
            "keys are per tenant"
        );
        // Just under a window: nothing forgotten.
        r.forget_old(t0 + RECENT - Duration::from_millis(1));
        assert!(r.get(&first).is_some());
        // One window on, the key is in the older generation, still remembered.
        let later = push(1, "msg:2", None, "b");
        r.forget_old(t0 + RECENT);
        r.learn(&later, t0 + RECENT);
        assert!(r.get(&first).is_some());
        // Two windows on, the first generation is gone, the second remembered.
        r.forget_old(t0 + RECENT * 2);
        assert_eq!(r.get(&first), None);
        assert!(r.get(&later).is_some());
        r.unlearn(&later);
        assert_eq!(r.get(&later), None);
        // The bound: a full young generation moves on early, and the table never grows.
        let capacity = r.young.capacity();
        for i in 0..RECENT_MAX / 2 + 1 {
            r.learn(&push(1, &format!("k:{i}"), None, ""), t0 + RECENT * 2);
        }
        assert_eq!(r.young.len(), 1);
        assert_eq!(r.old.len(), RECENT_MAX / 2);
        assert!(r.young.capacity() >= RECENT_MAX / 2 && capacity >= RECENT_MAX / 2);
    }

    #[test]
    fn records_read_back_as_written_and_a_torn_or_corrupt_tail_is_where_reading_stops() {
        let mut event = push(2, "o-first|1700000000|CLICK", None, "<xml>click</xml>");
        event.msg_type = "event".into();
        event.event = Some("CLICK".into());
        event.content = None;
        let pushes = [
            push(1, "m-1", Some("<xml>reply</xml>"), "<xml>a</xml>"),
            event,
            push(1, "m-3", Some(""), ""),
        ];
        let mut bytes = Vec::new();
        for p in &pushes {
            encode(p, &mut bytes);
        }
        let (back, torn) = decode_all(&bytes);
        assert!(!torn);
        assert_eq!(
            back.iter().map(fields).collect::<Vec<_>>(),
            pushes.iter().map(fields).collect::<Vec<_>>()
        );

        // A crash in the middle of the last write.
        let (back, torn) = decode_all(&bytes[..bytes.len() - 1]);
        assert!(torn);
        assert_eq!(back.len(), 2);
        let (back, torn) = decode_all(&bytes[..3]);
        assert!(torn && back.is_empty());

        // A flipped bit in the second record: its checksum stops reading there.
        let mut one = Vec::new();
        encode(&pushes[0], &mut one);
        let mut bad = bytes.clone();
        bad[one.len() + 20] ^= 0x10;
        let (back, torn) = decode_all(&bad);
        assert!(torn);
        assert_eq!(
            back.iter().map(fields).collect::<Vec<_>>(),
            [fields(&pushes[0])]
        );
    }

    type Answer = tokio::sync::oneshot::Receiver<Result<Recorded>>;

    /// Runs `state` over `pushes` on this thread; returns the answers and what it applied.
    fn journal(state: &mut State, pushes: Vec<Pending>) -> (Vec<Recorded>, Vec<Journaled>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(pushes.len());
        let answers: Vec<Answer> = pushes
            .into_iter()
            .map(|p| {
                let (caller, answer) = tokio::sync::oneshot::channel();
                tx.send((p, caller)).unwrap();
                answer
            })
            .collect();
        drop(tx);
        let applied = Mutex::new(Vec::new());
        let progress = Progress::default();
        let apply = |j| {
            applied.lock().unwrap().push(j);
            true
        };
        state.run(rx, &apply, &progress);
        let applied = applied.into_inner().unwrap();
        assert_eq!(progress.journaled.load(Relaxed), applied.len() as u64);
        let answers = answers
            .into_iter()
            .map(|a| a.blocking_recv().unwrap().unwrap())
            .collect();
        (answers, applied)
    }

    fn reply_of(r: &Recorded) -> (&'static str, Option<&str>) {
        match r {
            Recorded::Accepted { reply } => ("accepted", reply.as_deref()),
            Recorded::Duplicate { reply } => ("duplicate", reply.as_deref()),
            Recorded::New { .. } => ("new", None),
        }
    }

    #[test]
    fn a_retry_gets_the_first_reply_and_a_restart_replays_what_was_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(dir.path(), JournalSync::Group).unwrap();
        let (answers, applied) = journal(
            &mut state,
            vec![
                push(1, "m-1", Some("hello"), "<xml>1</xml>"),
                push(1, "m-2", None, "<xml>2</xml>"),
                // The same key in another tenant is another push.
                push(2, "m-1", Some("other"), "<xml>1</xml>"),
                push(1, "m-1", Some("hello"), "<xml>1</xml>"),
            ],
        );
        assert_eq!(
            answers.iter().map(reply_of).collect::<Vec<_>>(),
            [
                ("accepted", Some("hello")),
                ("accepted", None),
                ("accepted", Some("other")),
                ("duplicate", Some("hello")),
            ]
        );
        assert_eq!(applied.len(), 3);
        // A second process cannot open the journal while this one has it.
        let Err(e) = State::open(dir.path(), JournalSync::Group) else {
            panic!("a second open succeeded")
        };
        assert!(e.to_string().contains("in use"), "{e}");
        drop(state);

        // Restart: everything journaled is handed to the writers again, in order (applying
        // twice changes nothing), and a retry is still answered from memory.
        let mut state = State::open(dir.path(), JournalSync::Group).unwrap();
        let replayed = Mutex::new(Vec::new());
        let progress = Progress::default();
        let n = state
            .replay(
                &|(p, _): Journaled| {
                    replayed.lock().unwrap().push(fields(&p));
                    true
                },
                &progress,
            )
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(progress.journaled.load(Relaxed), 3);
        assert_eq!(
            replayed.into_inner().unwrap(),
            applied.iter().map(|(p, _)| fields(p)).collect::<Vec<_>>()
        );
        let (answers, applied) = journal(
            &mut state,
            vec![
                push(1, "m-2", None, "<xml>2</xml>"),
                push(1, "m-4", Some("new"), "<xml>4</xml>"),
            ],
        );
        assert_eq!(
            answers.iter().map(reply_of).collect::<Vec<_>>(),
            [("duplicate", None), ("accepted", Some("new"))]
        );
        assert_eq!(applied.len(), 1);
    }

    /// Waits (at most 10 s) until `inline` has replayed the last run's records.
    fn wait_replayed(inline: &Inline) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while inline.replaying.load(Acquire) {
            assert!(Instant::now() < deadline, "the replay did not end");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn an_inline_journal_answers_at_once_flushes_within_its_interval_and_stores_before_answering_while_it_replays(
    ) {
        // Writing a push never flushes it (the flush thread does): seen on a state with no
        // flush thread, so no tick can come between.
        {
            let dir = tempfile::tempdir().unwrap();
            let mut state = State::open(dir.path(), JournalSync::Interval).unwrap();
            let progress = Progress::default();
            let written = state.write_one(push(1, "m-0", None, "<xml>0</xml>"), &progress);
            assert!(matches!(written, Ok(Written::Fresh(_))));
            assert_eq!(
                progress.flushes.load(Relaxed),
                0,
                "answered before any flush"
            );
            assert!(
                state.to_sync.written.load(Relaxed),
                "left for the flush thread"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let progress = Arc::new(Progress::default());
        let journal = Journal::open(
            dir.path(),
            JournalSync::Interval,
            |_| true,
            progress.clone(),
        )
        .unwrap();
        let Journal::Inline(inline) = &journal else {
            panic!("an interval journal is written by its callers")
        };
        wait_replayed(inline);
        let first = inline
            .write(push(1, "m-1", Some("hello"), "<xml>1</xml>"))
            .unwrap();
        let second = inline.write(push(1, "m-2", None, "<xml>2</xml>")).unwrap();
        let retry = inline
            .write(push(1, "m-1", Some("hello"), "<xml>1</xml>"))
            .unwrap();
        let Written::Fresh((p, _)) = &first else {
            panic!("a new push is journaled")
        };
        assert_eq!(p.dedupe_key, "m-1");
        assert!(matches!(second, Written::Fresh(_)));
        assert!(matches!(retry, Written::Retry(Some(ref r)) if r == "hello"));
        assert_eq!(progress.journaled.load(Relaxed), 2);
        // The flush thread flushes what was written within its interval.
        let deadline = Instant::now() + Duration::from_secs(10);
        while progress.flushes.load(Relaxed) == 0 {
            assert!(Instant::now() < deadline, "nothing flushed");
            std::thread::sleep(SYNC_INTERVAL / 4);
        }
        drop((first, second, journal));

        // Next start: until the replay is done, pushes are stored before they are answered.
        let (open_gate, gate) = std::sync::mpsc::sync_channel::<()>(0);
        let gate = Mutex::new(gate);
        let replayed = Arc::new(Mutex::new(Vec::new()));
        let journal = {
            let replayed = replayed.clone();
            let apply = move |(p, _): Journaled| {
                gate.lock().unwrap().recv().unwrap();
                replayed.lock().unwrap().push(p.dedupe_key);
                true
            };
            Journal::open(dir.path(), JournalSync::Interval, apply, Arc::default()).unwrap()
        };
        let Journal::Inline(inline) = &journal else {
            panic!("an interval journal is written by its callers")
        };
        let during = inline.write(push(1, "m-3", None, "<xml>3</xml>")).unwrap();
        assert!(matches!(during, Written::NotNow(ref p) if p.dedupe_key == "m-3"));
        open_gate.send(()).unwrap();
        open_gate.send(()).unwrap();
        wait_replayed(inline);
        assert_eq!(*replayed.lock().unwrap(), ["m-1", "m-2"]);
        // A retry of a replayed push is answered from memory.
        let retry = inline.write(push(1, "m-2", None, "<xml>2</xml>")).unwrap();
        assert!(matches!(retry, Written::Retry(None)));
    }

    #[test]
    fn a_wait_for_applied_pushes_ends_when_they_are_applied_or_at_its_deadline() {
        let progress = Arc::new(Progress::default());
        let writer = {
            let progress = progress.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    progress.add_applied(1);
                }
            })
        };
        assert!(progress.wait_applied(3, Instant::now() + Duration::from_secs(30)));
        writer.join().unwrap();
        assert!(!progress.wait_applied(4, Instant::now() + Duration::from_millis(20)));
        assert_eq!(progress.applied.load(Relaxed), 3);
    }

    fn segments(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".journal")
            })
            .count()
    }

    #[test]
    fn a_full_segment_is_deleted_once_applied_and_no_longer_recent() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::open(dir.path(), JournalSync::Group).unwrap();
        let body = "x".repeat(8 * 1024);
        let first: Vec<Pending> = (0..10)
            .map(|i| push(1, &format!("big-{i}"), None, &body))
            .collect();
        let (_, applied) = journal(&mut state, first);
        // 80 KiB is past the (test) segment size: the segment is closed.
        assert_eq!(state.closed.len(), 1);
        let (_, later) = journal(&mut state, vec![push(1, "small", None, "<xml/>")]);
        assert_eq!(segments(dir.path()), 2);

        let now = Instant::now();
        state.tidy(now + 2 * RECENT);
        assert_eq!(segments(dir.path()), 2, "records not applied yet are kept");
        for (_, seg) in &applied {
            seg.applied();
        }
        state.tidy(now);
        assert_eq!(
            segments(dir.path()),
            2,
            "applied but recent: kept for retries"
        );
        state.tidy(now + 2 * RECENT);
        assert_eq!(segments(dir.path()), 1, "the closed segment is gone");
        assert!(state.closed.is_empty());
        // The open segment stays, applied or not.
        later[0].1.applied();
        state.tidy(now + 2 * RECENT);
        assert_eq!(segments(dir.path()), 1);
    }
}
