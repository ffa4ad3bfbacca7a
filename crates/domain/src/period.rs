//! The dashboards' date ranges (issue 21): a period of local days, the one just before it
//! for comparison, and the day, week or month buckets a chart draws it in.

use crate::validate::{invalid, Invalid};
use chrono::{Datelike, Days, Months, NaiveDate};

/// The longest period a dashboard shows, in days (a little over a year).
pub const MAX_DAYS: i64 = 400;
/// The period shown when none is asked for: the last four weeks, today included.
pub const DEFAULT_DAYS: u64 = 28;

/// Local days `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// A period from the form's two dates: `from` not after `to`, at most [`MAX_DAYS`].
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, Invalid> {
        if from > to {
            return Err(invalid("period", "period_reversed"));
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(invalid("period", "period_too_long"));
        }
        Ok(Period { from, to })
    }

    /// The `days` days that end with `today`.
    pub fn last(days: u64, today: NaiveDate) -> Self {
        let days = days.clamp(1, MAX_DAYS as u64);
        Period {
            from: today - Days::new(days - 1),
            to: today,
        }
    }

    /// Parses the form's `YYYY-MM-DD` dates.
    pub fn parse(from: &str, to: &str) -> Result<Self, Invalid> {
        let date = |s: &str| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| invalid("period", "invalid_date"))
        };
        Period::new(date(from)?, date(to)?)
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of the same length that ends the day before this one starts.
    pub fn previous(&self) -> Period {
        let n = self.days() as u64;
        Period {
            from: self.from - Days::new(n),
            to: self.from - Days::new(1),
        }
    }

    pub fn contains(&self, d: NaiveDate) -> bool {
        (self.from..=self.to).contains(&d)
    }

    /// Every day, in order.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }
}

/// How a chart groups the days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Step {
    #[default]
    Day,
    /// Weeks start on Monday (ISO 8601, as in China).
    Week,
    Month,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Day, Step::Week, Step::Month];

    pub fn parse(s: &str) -> Option<Step> {
        match s {
            "day" => Some(Step::Day),
            "week" => Some(Step::Week),
            "month" => Some(Step::Month),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
        }
    }

    /// The first day of the bucket that holds `d`.
    pub fn start_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Step::Day => d,
            Step::Week => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
            Step::Month => d.with_day(1).unwrap_or(d),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Step::Day => start + Days::new(1),
            Step::Week => start + Days::new(7),
            Step::Month => start + Months::new(1),
        }
    }
}

/// One bucket of a period: its first and last day within the period (the first and
/// last week or month of a period may be cut short).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// The buckets that cover `p`, in order.
pub fn buckets(p: &Period, step: Step) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut start = step.start_of(p.from);
    while start <= p.to {
        let next = step.next(start);
        out.push(Bucket {
            first: start.max(p.from),
            last: (next - Days::new(1)).min(p.to),
        });
        start = next;
    }
    out
}

/// Sums a value per day into the buckets of `p` (days outside `p` are left out).
pub fn bucketed(
    p: &Period,
    step: Step,
    days: impl IntoIterator<Item = (NaiveDate, i64)>,
) -> Vec<i64> {
    let b = buckets(p, step);
    let mut out = vec![0; b.len()];
    for (day, v) in days {
        if !p.contains(day) {
            continue;
        }
        if let Some(i) = b.iter().position(|b| day <= b.last) {
            out[i] += v;
        }
    }
    out
}

/// The change from `before` to `now` in percent, rounded; none when there was nothing
/// before to compare with.
pub fn change_percent(now: i64, before: i64) -> Option<i64> {
    (before != 0).then(|| ((now - before) as f64 * 100.0 / before.abs() as f64).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_period_and_the_one_before_it() {
        let p = Period::last(28, d("2026-12-06"));
        assert_eq!(
            (p.from, p.to, p.days()),
            (d("2026-11-09"), d("2026-12-06"), 28)
        );
        let q = p.previous();
        assert_eq!((q.from, q.to), (d("2026-10-12"), d("2026-11-08")));
        assert_eq!(p.each_day().count(), 28);
    }

    #[test]
    fn bad_periods_are_refused_with_a_reason() {
        assert_eq!(
            Period::parse("2026-12-06", "2026-12-01").unwrap_err().code,
            "period_reversed"
        );
        assert_eq!(
            Period::parse("2024-01-01", "2026-01-01").unwrap_err().code,
            "period_too_long"
        );
        assert_eq!(
            Period::parse("2026-13-01", "2026-12-01").unwrap_err().code,
            "invalid_date"
        );
        assert!(Period::parse("2026-12-01", "2026-12-01").is_ok());
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first_cut_to_the_period() {
        // 2026-11-09 is a Monday; 2026-12-06 a Sunday.
        let p = Period::new(d("2026-11-11"), d("2026-12-06")).unwrap();
        let w = buckets(&p, Step::Week);
        assert_eq!(w.len(), 4);
        assert_eq!((w[0].first, w[0].last), (d("2026-11-11"), d("2026-11-15")));
        assert_eq!((w[3].first, w[3].last), (d("2026-11-30"), d("2026-12-06")));
        let m = buckets(&p, Step::Month);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].first, m[0].last), (d("2026-11-11"), d("2026-11-30")));
        assert_eq!((m[1].first, m[1].last), (d("2026-12-01"), d("2026-12-06")));
        assert_eq!(buckets(&p, Step::Day).len(), 26);
    }

    #[test]
    fn values_are_summed_into_their_buckets() {
        let p = Period::new(d("2026-11-29"), d("2026-12-02")).unwrap();
        let v = bucketed(
            &p,
            Step::Month,
            [
                (d("2026-11-28"), 100), // before the period
                (d("2026-11-29"), 1),
                (d("2026-11-30"), 2),
                (d("2026-12-02"), 4),
            ],
        );
        assert_eq!(v, vec![3, 4]);
        assert_eq!(change_percent(150, 100), Some(50));
        assert_eq!(change_percent(5, 0), None);
        assert_eq!(change_percent(0, 3), Some(-100));
    }
}
