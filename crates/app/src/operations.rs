//! The scheduler's periodic tasks: what each does and when it runs (shared by the
//! scheduler that runs them and the operations page that shows them), and the daily
//! follower sync.

use chrono::NaiveDateTime;
use patron_domain::TenantScope;
use patron_store::{DbConn, StoreError};

/// One periodic task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// Its name (the `scheduled_tasks` row and the page's catalogue key `task.<name>`).
    pub name: &'static str,
    /// When it runs: six fields (second minute hour day month weekday), UTC, as
    /// tokio-cron-scheduler reads them.
    pub cron: &'static str,
    /// Whether each run is recorded for the operations page (not for tasks that run so
    /// often that a write per run is not worth it).
    pub recorded: bool,
}

/// Sessions, sign-in records and expired points.
pub const HOUSEKEEPING: Task = Task {
    name: "housekeeping",
    cron: "0 */10 * * * *",
    recorded: true,
};
/// Recurring broadcasts' occurrences and due broadcasts.
pub const BROADCASTS: Task = Task {
    name: "broadcasts",
    cron: "*/10 * * * * *",
    recorded: false,
};
/// Every connected tenant's followers from WeChat, once a day (04:00 UTC, noon in
/// China), queued as jobs.
pub const FOLLOWER_SYNC: Task = Task {
    name: "follower_sync",
    cron: "0 0 4 * * *",
    recorded: true,
};

/// The daily trade-bill fetch: every 10 minutes it queues, for each tenant whose clock
/// (and Beijing's) has passed 10:00, the bill of the day before unless it is done, on its
/// way, or has failed its attempts (an hour apart) (`crate::bills`).
pub const BILL_FETCH: Task = Task {
    name: "bill_fetch",
    cron: "0 */10 * * * *",
    recorded: true,
};

/// Every tenant's daily figures of the current local day, from the archive (the
/// dashboard and the portfolio read them).
pub const STATS: Task = Task {
    name: "stats",
    cron: "0 * * * * *",
    recorded: false,
};

/// Every tenant's retention figures of the last 12 weeks, once a day (19:30 UTC, 03:30 in
/// China): how many of each day's new followers still follow.
pub const COHORTS: Task = Task {
    name: "cohorts",
    cron: "0 30 19 * * *",
    recorded: true,
};

pub const TASKS: [Task; 6] = [
    HOUSEKEEPING,
    BROADCASTS,
    FOLLOWER_SYNC,
    BILL_FETCH,
    STATS,
    COHORTS,
];

/// When `task` runs next after `now` (UTC).
pub fn next_run(task: &Task, now: NaiveDateTime) -> Option<NaiveDateTime> {
    use croner::parser::{CronParser, Seconds};
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(task.cron)
        .ok()?;
    cron.find_next_occurrence(&now.and_utc(), false)
        .ok()
        .map(|t| t.naive_utc())
}

/// Queues a follower sync for every tenant with API credentials (one per tenant at a
/// time: a sync already queued or running is not queued again). Returns how many.
pub fn queue_daily_syncs(c: &mut DbConn) -> Result<usize, StoreError> {
    let mut n = 0;
    for id in patron_store::tenants::with_api_credentials(c)? {
        if let Some(tref) = patron_store::tenants::find_ref_by_id(c, id)? {
            crate::jobs::sync_followers(c, &TenantScope::system(tref))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Queues the daily fetch of every tenant that can fetch and is due (see
/// [`BILL_FETCH`]). Returns how many were queued.
pub fn queue_bill_fetches(c: &mut DbConn, now: NaiveDateTime) -> Result<usize, StoreError> {
    let mut n = 0;
    for id in crate::bills::fetch_tenants(c)? {
        let Some(tref) = patron_store::tenants::find_ref_by_id(c, id)? else {
            continue;
        };
        let scope = TenantScope::system(tref);
        let tenant = patron_store::tenants::get(c, &scope)?;
        let tz = patron_domain::validate::stored_time_zone(&tenant.time_zone);
        if let Some(day) = crate::bills::fetch_day(now, tz) {
            if crate::bills::queue_fetch(c, &scope, day, now)?.is_some() {
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_has_a_next_run() {
        let now =
            NaiveDateTime::parse_from_str("2026-12-05 23:59:55", "%Y-%m-%d %H:%M:%S").unwrap();
        let at = |t| {
            next_run(&t, now)
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        assert_eq!(at(BROADCASTS), "2026-12-06 00:00:00");
        assert_eq!(at(HOUSEKEEPING), "2026-12-06 00:00:00");
        assert_eq!(at(FOLLOWER_SYNC), "2026-12-06 04:00:00");
        assert_eq!(at(BILL_FETCH), "2026-12-06 00:00:00");
    }
}
