//! Workers of the durable job queue: plain threads (diesel is blocking) that claim a job,
//! run the handler registered for its kind, and record the outcome.

use crate::JobError;
use patron_store::jobs::{self, Job};
use patron_store::DbPool;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Runs one job. `Err` is a failed attempt: the job is retried with backoff until its
/// attempts are spent, or failed at once when the error says no retry can mend it
/// ([`JobError::is_permanent`]). A panic counts as a failed attempt too.
pub type Handler = Box<dyn Fn(&mut JobCtx) -> Result<(), JobError> + Send + Sync>;

/// The handlers by job kind.
#[derive(Default)]
pub struct Handlers(HashMap<String, Handler>);

impl Handlers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the handler of `kind`.
    pub fn register(
        mut self,
        kind: &str,
        handler: impl Fn(&mut JobCtx) -> Result<(), JobError> + Send + Sync + 'static,
    ) -> Self {
        self.0.insert(kind.to_string(), Box::new(handler));
        self
    }

    pub fn insert(&mut self, kind: &str, handler: Handler) {
        self.0.insert(kind.to_string(), handler);
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// What a handler gets: the pool, the claimed job, and a way to report progress.
pub struct JobCtx {
    pub pool: DbPool,
    pub job: Job,
    lease: Duration,
}

impl JobCtx {
    /// Records what the job did (JSON), for the page that shows it.
    pub fn result(&mut self, result: &str) -> Result<(), JobError> {
        let mut c = self.pool.get()?;
        jobs::set_result(&mut c, self.job.id(), result)?;
        self.job.result = Some(result.to_string());
        Ok(())
    }

    /// Records progress and extends the lease, so a long job is not taken over by
    /// another worker while it is still making progress.
    pub fn progress(&mut self, done: i64, total: Option<i64>) -> Result<(), JobError> {
        let mut c = self.pool.get()?;
        jobs::progress(&mut c, self.job.id(), done, total)?;
        jobs::extend_lease(&mut c, self.job.id(), self.lease)?;
        self.job.progress_done = done;
        self.job.progress_total = total;
        Ok(())
    }
}

/// How workers run.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub threads: usize,
    /// How long a claim holds a job before another worker may take it over
    /// ([`JobCtx::progress`] extends it).
    pub lease: Duration,
    /// The pause when no job is due (cut short by [`WorkerHandle::notify`] and stop).
    pub idle: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            threads: 2,
            lease: Duration::from_secs(300),
            idle: Duration::from_millis(200),
        }
    }
}

struct Signal {
    /// (stop requested, wake-up counter)
    state: Mutex<(bool, u64)>,
    cv: Condvar,
}

/// The running workers. Dropping it (or [`WorkerHandle::stop`]) lets each worker finish
/// its current job, then joins the threads.
pub struct WorkerHandle {
    signal: Arc<Signal>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Wakes idle workers (after enqueueing, so a job does not wait for the idle pause).
    pub fn notify(&self) {
        let mut s = self.signal.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = s.1.wrapping_add(1);
        self.signal.cv.notify_all();
    }

    /// Stops the workers and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut s = self.signal.state.lock().unwrap_or_else(|p| p.into_inner());
            s.0 = true;
            self.signal.cv.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts `n` worker threads with the default lease and idle pause.
pub fn spawn_workers(pool: DbPool, handlers: Handlers, n: usize) -> WorkerHandle {
    spawn_workers_with(
        pool,
        handlers,
        WorkerOptions {
            threads: n,
            ..WorkerOptions::default()
        },
    )
}

pub fn spawn_workers_with(pool: DbPool, handlers: Handlers, opts: WorkerOptions) -> WorkerHandle {
    let signal = Arc::new(Signal {
        state: Mutex::new((false, 0)),
        cv: Condvar::new(),
    });
    let handlers = Arc::new(handlers);
    let threads = (0..opts.threads.max(1))
        .map(|i| {
            let (pool, handlers, signal, opts) =
                (pool.clone(), handlers.clone(), signal.clone(), opts.clone());
            std::thread::Builder::new()
                .name(format!("patron-worker-{i}"))
                .spawn(move || worker_loop(&pool, &handlers, &signal, &opts))
                .expect("spawn a worker thread")
        })
        .collect();
    WorkerHandle { signal, threads }
}

fn worker_loop(pool: &DbPool, handlers: &Handlers, signal: &Signal, opts: &WorkerOptions) {
    loop {
        let seen = {
            let s = signal.state.lock().unwrap_or_else(|p| p.into_inner());
            if s.0 {
                return;
            }
            s.1
        };
        match run_one(pool, handlers, opts.lease) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "job queue: claim failed"),
        }
        // Idle: wait for the pause, a notify or stop.
        let s = signal.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 || s.1 != seen {
            continue;
        }
        let _ = signal
            .cv
            .wait_timeout_while(s, opts.idle, |s| !s.0 && s.1 == seen);
    }
}

/// Claims and runs one job; `Ok(false)` when none was due.
pub fn run_one(
    pool: &DbPool,
    handlers: &Handlers,
    lease: Duration,
) -> Result<bool, patron_store::StoreError> {
    let job = {
        let mut c = pool.get()?;
        match jobs::claim(&mut c, lease)? {
            Some(j) => j,
            None => return Ok(false),
        }
    };
    let id = job.id();
    let kind = job.kind.clone();
    let outcome = match handlers.0.get(&kind) {
        None => Err(JobError::NoHandler(kind.clone())),
        Some(h) => {
            let mut ctx = JobCtx {
                pool: pool.clone(),
                job,
                lease,
            };
            match std::panic::catch_unwind(AssertUnwindSafe(|| h(&mut ctx))) {
                Ok(r) => r,
                Err(p) => Err(JobError::Failed(format!(
                    "handler panicked: {}",
                    p.downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default()
                ))),
            }
        }
    };
    let mut c = pool.get()?;
    match outcome {
        Ok(()) => {
            if let Err(e) = jobs::complete(&mut c, id) {
                // The lease ran out and another worker took the job over.
                tracing::warn!(job = %id, kind, error = %e, "job finished after losing its lease");
            } else {
                tracing::info!(job = %id, kind, "job done");
            }
        }
        Err(err) => match jobs::fail_as(
            &mut c,
            id,
            &err.to_string(),
            err.failure().map(|f| f.to_json()).as_deref(),
            err.is_permanent(),
        ) {
            Ok(state) => {
                let permanent = err.is_permanent();
                tracing::warn!(job = %id, kind, error = %err, state, permanent, "job attempt failed")
            }
            Err(e) => {
                tracing::warn!(job = %id, kind, error = %e, "could not record a failed attempt")
            }
        },
    }
    Ok(true)
}
