//! Background work: the durable job queue's workers ([`worker`]) and job kinds
//! ([`follower_sync`]), and scheduled housekeeping of sessions and sign-in failure records
//! (tokio-cron-scheduler).

pub mod broadcast_send;
pub mod coupon_bulk;
pub mod cs_send;
pub mod error;
pub mod follower_import;
pub mod follower_info;
pub mod follower_sync;
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

/// Starts the scheduler; keep the returned value alive for as long as jobs should run.
pub async fn start(pool: DbPool) -> Result<JobScheduler, JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    let ticking = pool.clone();
    sched
        .add(Job::new_async("0 */10 * * * *", move |_id, _l| {
            let pool = pool.clone();
            Box::pin(async move {
                match tokio::task::spawn_blocking(move || housekeeping(&pool)).await {
                    Ok(Ok((s, f, p))) => {
                        tracing::info!(sessions = s, failures = f, points = p, "housekeeping done")
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "housekeeping failed"),
                    Err(e) => tracing::error!(error = %e, "housekeeping task panicked"),
                }
            })
        })?)
        .await?;
    sched
        .add(Job::new_async("*/10 * * * * *", move |_id, _l| {
            let pool = ticking.clone();
            Box::pin(async move {
                match tokio::task::spawn_blocking(move || tick(&pool)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(started = n, "broadcasts started"),
                    Ok(Err(e)) => tracing::error!(error = %e, "broadcast tick failed"),
                    Err(e) => tracing::error!(error = %e, "broadcast tick panicked"),
                }
            })
        })?)
        .await?;
    sched.start().await?;
    Ok(sched)
}
