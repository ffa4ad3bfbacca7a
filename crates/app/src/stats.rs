//! The daily figures' upkeep (issue 21): the minute task rolls every tenant's current
//! local day (and, for two hours after its midnight, the day before, for late pushes),
//! and `patron stats rebuild` rolls a range of days again. Both call
//! `patron_store::stats::roll_day`, so live and rebuilt figures are the same function's.

use chrono::{NaiveDate, NaiveDateTime, Timelike};
use chrono_tz::Tz;
use patron_store::stats::{self, Window};
use patron_store::{DbPool, Result};

/// The local days the minute task rolls for a zone at `now`: today, and yesterday until
/// 02:00.
pub fn recent_days(now: NaiveDateTime, tz: Tz) -> Vec<NaiveDate> {
    let local = now.and_utc().with_timezone(&tz);
    let today = local.date_naive();
    let mut days = vec![today];
    if local.hour() < 2 {
        days.extend(today.pred_opt());
    }
    days
}

/// Rolls every tenant's recent days (the minute task). Answers how many tenant-days.
pub fn roll_recent(pool: &DbPool, now: NaiveDateTime) -> Result<usize> {
    let mut c = pool.get()?;
    let mut n = 0;
    for (tenant, _, tz) in stats::tenants(&mut c)? {
        let tz = patron_domain::validate::stored_time_zone(&tz);
        for day in recent_days(now, tz) {
            stats::roll_day(&mut c, tenant, &Window::new(day, tz), now)?;
            n += 1;
        }
    }
    Ok(n)
}

/// How many local days back the daily cohort refresh reaches (12 weeks).
pub const COHORT_DAYS: u64 = 84;

/// Refreshes every tenant's cohorts of the last [`COHORT_DAYS`] local days: of each day's
/// new followers, how many still follow (the daily task). Answers the tenant-days that had
/// new followers.
pub fn refresh_cohorts(pool: &DbPool, now: NaiveDateTime) -> Result<usize> {
    let mut c = pool.get()?;
    let mut n = 0;
    for (tenant, _, tz) in stats::tenants(&mut c)? {
        let tz = patron_domain::validate::stored_time_zone(&tz);
        let today = now.and_utc().with_timezone(&tz).date_naive();
        let days: Vec<Window> = (1..=COHORT_DAYS)
            .filter_map(|k| today.checked_sub_days(chrono::Days::new(k)))
            .map(|d| Window::new(d, tz))
            .collect();
        n += stats::refresh_cohorts(&mut c, tenant, &days)?;
    }
    Ok(n)
}

/// What `rebuild` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub tenants: usize,
    pub days: usize,
}

/// Rolls again every day from `from` (default: the tenant's first day) to today, for one
/// tenant (`slug`) or all; `progress` hears (slug, day) before each day.
pub fn rebuild(
    pool: &DbPool,
    slug: Option<&str>,
    from: Option<NaiveDate>,
    now: NaiveDateTime,
    mut progress: impl FnMut(&str, NaiveDate),
) -> Result<Rebuilt> {
    let mut c = pool.get()?;
    let all = stats::tenants(&mut c)?;
    let chosen: Vec<_> = all
        .into_iter()
        .filter(|(_, s, _)| slug.is_none_or(|want| want == s))
        .collect();
    if chosen.is_empty() {
        return Err(patron_store::StoreError::NotFound);
    }
    let mut out = Rebuilt::default();
    for (tenant, slug, tz) in chosen {
        let tz = patron_domain::validate::stored_time_zone(&tz);
        let today = now.and_utc().with_timezone(&tz).date_naive();
        let mut day = match from {
            Some(d) => d,
            None => stats::first_day(&mut c, tenant, tz)?,
        };
        while day <= today {
            progress(&slug, day);
            stats::roll_day(&mut c, tenant, &Window::new(day, tz), now)?;
            out.days += 1;
            day = match day.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        out.tenants += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yesterday_is_rolled_again_for_two_hours_after_local_midnight() {
        let sh = chrono_tz::Asia::Shanghai;
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // 17:30 UTC is 01:30 the next day in Shanghai.
        assert_eq!(
            recent_days(at("2026-12-01 17:30"), sh),
            vec![d("2026-12-02"), d("2026-12-01")]
        );
        // 18:30 UTC is 02:30: today only.
        assert_eq!(
            recent_days(at("2026-12-01 18:30"), sh),
            vec![d("2026-12-02")]
        );
        assert_eq!(
            recent_days(at("2026-12-01 18:30"), chrono_tz::UTC),
            vec![d("2026-12-01")]
        );
    }
}
