//! Background work: the durable job queue's workers ([`worker`]) and handlers (one module
//! per job kind), and the scheduler (tokio-cron-scheduler) running
//! `patron_app::operations::TASKS`: housekeeping, broadcasts, the daily follower sync,
//! the daily trade-bill fetch.

pub mod broadcast_email;
pub mod broadcast_send;
pub mod coupon_bulk;
pub mod cs_send;
pub mod error;
pub mod follower_import;
pub mod follower_info;
pub mod follower_sync;
pub mod reconcile_bill;
pub mod tag_sync;
pub mod tenant;
pub mod worker;

pub use error::JobError;
pub use worker::{
    run_one, spawn_workers, spawn_workers_with, Handler, Handlers, JobCtx, WorkerHandle,
    WorkerOptions,
};

use patron_store::{sessions, throttle, DbPool};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// Deletes expired sessions and sign-in failures older than a day, and writes off expired
/// points. Safe to run from several processes at once: the deletes are idempotent and
/// each follower's points expire under that follower's lock.
pub fn housekeeping(pool: &DbPool) -> Result<(usize, usize, usize), patron_store::StoreError> {
    let mut c = pool.get()?;
    let s = sessions::purge(&mut c)?;
    let f = throttle::purge_before(&mut c, patron_store::now() - chrono::TimeDelta::days(1))?;
    let mut expired = 0;
    loop {
        let n = patron_store::loyalty::expire_due(&mut c, patron_store::now(), 500)?;
        if n == 0 {
            break;
        }
        expired += n;
    }
    Ok((s, f, expired))
}

/// The broadcast scheduler's tick: makes recurring broadcasts' occurrences of the coming
/// week, then starts every due broadcast (marked sending and its job queued in one
/// transaction, so several processes ticking at once start it once). Returns how many
/// broadcasts it made and started.
pub fn tick(pool: &DbPool) -> Result<usize, patron_store::StoreError> {
    let mut c = pool.get()?;
    let now = patron_store::now();
    let made = patron_app::broadcasts::make_occurrences(&mut c, now)?;
    Ok(made + patron_app::broadcasts::start_due(&mut c, now)?)
}

/// Runs one of the scheduler's tasks now (`patron_app::operations::TASKS`), recording
/// its start and outcome for the operations page. Answers a line for the log.
pub fn run_task(
    pool: &DbPool,
    task: &patron_app::operations::Task,
) -> Result<String, patron_store::StoreError> {
    use patron_app::operations as ops;
    let mut c = pool.get()?;
    let record = task.recorded;
    if record {
        patron_store::scheduled::started(&mut c, task.name)?;
    }
    drop(c);
    let outcome = match task.name {
        n if n == ops::HOUSEKEEPING.name => housekeeping(pool)
            .map(|(s, f, p)| format!("sessions {s}, sign-in records {f}, points written off {p}")),
        n if n == ops::BROADCASTS.name => {
            tick(pool).map(|n| format!("broadcasts made or started {n}"))
        }
        n if n == ops::FOLLOWER_SYNC.name => {
            let mut c = pool.get()?;
            ops::queue_daily_syncs(&mut c).map(|n| format!("follower syncs queued {n}"))
        }
        n if n == ops::BILL_FETCH.name => {
            let mut c = pool.get()?;
            ops::queue_bill_fetches(&mut c, patron_store::now())
                .map(|n| format!("bill fetches queued {n}"))
        }
        n if n == ops::STATS.name => patron_app::stats::roll_recent(pool, patron_store::now())
            .map(|n| format!("tenant-days rolled {n}")),
        n if n == ops::COHORTS.name => {
            patron_app::stats::refresh_cohorts(pool, patron_store::now())
                .map(|n| format!("cohorts refreshed {n}"))
        }
        other => Ok(format!("no such task {other}")),
    };
    let mut c = pool.get()?;
    match &outcome {
        Ok(line) if record => {
            patron_store::scheduled::finished(&mut c, task.name, &format!("ok: {line}"))?
        }
        Err(e) => patron_store::scheduled::finished(&mut c, task.name, &e.to_string())?,
        Ok(_) => {}
    }
    outcome
}

/// Starts the scheduler with every task of `patron_app::operations::TASKS`; keep the
/// returned value alive for as long as they should run.
pub async fn start(pool: DbPool) -> Result<JobScheduler, JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    for task in patron_app::operations::TASKS {
        let pool = pool.clone();
        sched
            .add(Job::new_async(task.cron, move |_id, _l| {
                let pool = pool.clone();
                Box::pin(async move {
                    match tokio::task::spawn_blocking(move || run_task(&pool, &task)).await {
                        Ok(Ok(line)) => tracing::debug!(task = task.name, "{line}"),
                        Ok(Err(e)) => {
                            tracing::error!(task = task.name, error = %e, "scheduled task failed")
                        }
                        Err(e) => {
                            tracing::error!(task = task.name, error = %e, "scheduled task panicked")
                        }
                    }
                })
            })?)
            .await?;
    }
    sched.start().await?;
    Ok(sched)
}
