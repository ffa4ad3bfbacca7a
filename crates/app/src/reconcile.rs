//! Reconciling a day: a trade bill (uploaded, given to the CLI, or fetched) matched
//! against the payments and refunds recorded here (`patron_domain::bill`), stored as a
//! run with one exception per item that is not a match, in one transaction.
//!
//! The day is the bill's (Beijing): our payments paid within it and the refunds recorded
//! within it, plus the items of earlier days still pending (near midnight, they wait for
//! the next day's bill). The bill is read as a stream; our side of the day is held in the
//! matcher's index.

use crate::AppError;
use chrono::{NaiveDate, TimeDelta};
use patron_domain::bill::{
    BillError, BillKind, BillReader, Category, ItemKind, MatchOptions, Matcher, PayStatus, Payment,
    Refund, RefundStatus,
};
use patron_domain::validate::invalid;
use patron_domain::TenantScope;
use patron_store::reconcile::{self as store, NewException, NewRun, Run};
use patron_store::{payments::state, write_tx, DbConn, StoreError};
use std::collections::HashSet;
use std::io::Read;

/// How long before midnight (Beijing) an unmatched item of ours waits for the next
/// day's bill.
pub const MIDNIGHT_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// Why a bill was not reconciled.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not a trade bill, or a line of it is wrong (the error names the line).
    #[error("{0}")]
    Bill(#[from] BillError),
    /// A bill with no line does not say its day.
    #[error("the bill has no line: give its day")]
    NeedsDate,
    /// Our own records clash (two payments under one order reference): the bill cannot
    /// be matched until they are put right.
    #[error("our records clash: {0}")]
    OurRecords(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::App(e.into())
    }
}

fn kind_str(k: BillKind) -> &'static str {
    match k {
        BillKind::All => "ALL",
        BillKind::Success => "SUCCESS",
        BillKind::Refund => "REFUND",
    }
}

fn pay_status(s: &str) -> PayStatus {
    match s {
        state::PAID | state::PARTLY_REFUNDED => PayStatus::Paid,
        state::REFUNDED => PayStatus::Refunded,
        _ => PayStatus::Unpaid,
    }
}

fn our_payment(p: &store::DayPayment) -> Payment<&str> {
    Payment {
        id: p.id,
        out_trade_no: &p.out_trade_no,
        transaction_id: p.transaction_id.as_deref(),
        status: pay_status(&p.state),
        amount_fen: p.total_fen,
        coupon_fen: p.discount_fen,
        paid_at: p.paid_at,
    }
}

/// A bill matched against our side of its day, ready to be stored as a run.
#[derive(Debug, Clone)]
pub struct Matched {
    pub day: NaiveDate,
    pub kind: BillKind,
    pub lines: i64,
    /// JSON: the count of each category.
    pub counts: String,
    /// The bill's summary agrees with its lines.
    pub summary_ok: bool,
    /// JSON: the bill's totals, ours, the fees, the disagreements (`Run::totals`).
    pub totals: String,
    pub exceptions: Vec<MatchedException>,
    /// The pending exceptions of earlier days this run takes over.
    pub carried: Vec<i64>,
    /// How long matching took, by phase (for logs and the benchmark).
    pub took: MatchTimes,
}

/// Where [`match_bill`]'s time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchTimes {
    /// Loading our side of the day from the database into the matcher.
    pub ours: std::time::Duration,
    /// Reading the bill and matching its lines, then the report's exceptions (the rest).
    pub bill: std::time::Duration,
}

/// An item that is not a match, as it will be stored.
#[derive(Debug, Clone)]
pub struct MatchedException {
    pub category: &'static str,
    pub kind: &'static str,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub bill_side: Option<String>,
    pub our_side: Option<String>,
}

/// Reconciles one bill: `day` is needed only for a bill without lines (an empty day).
/// The run is stored in one transaction.
pub fn import(
    c: &mut DbConn,
    scope: &TenantScope,
    bill: impl Read,
    day: Option<NaiveDate>,
    source: &str,
    by: &str,
) -> Result<Run, ImportError> {
    let m = match_bill(c, scope, bill, day)?;
    Ok(write_tx(c, |c| store_matched(c, scope, &m, source, by))?)
}

/// Reads the bill as a stream and matches it against the payments and refunds of its
/// day here; stores nothing.
pub fn match_bill(
    c: &mut DbConn,
    scope: &TenantScope,
    bill: impl Read,
    day: Option<NaiveDate>,
) -> Result<Matched, ImportError> {
    let started = std::time::Instant::now();
    let mut reader = BillReader::new(bill)?;
    let kind = reader.kind().unwrap_or(BillKind::All);
    // The first line says the day (its time is Beijing wall time).
    let first = match reader.next_line() {
        Some(line) => Some(line?.map(|s| s.to_string())),
        None => None,
    };
    let day = match (&first, day) {
        (Some(l), _) => l.trade_time.date(),
        (None, Some(d)) => d,
        (None, None) => return Err(ImportError::NeedsDate),
    };
    // Our side: the day in UTC (Beijing is UTC+8, without daylight saving).
    let start = day.and_hms_opt(0, 0, 0).expect("midnight") - TimeDelta::hours(8);
    let end = start + TimeDelta::days(1);
    let loading = std::time::Instant::now();
    let pending = store::pending_before(c, scope, day)?;
    let carried_orders: Vec<String> = pending
        .iter()
        .filter(|e| e.kind == "payment")
        .map(|e| e.out_trade_no.clone())
        .collect();
    let carried_payments = store::payments_by_orders(c, scope, &carried_orders)?;
    // The day's records go straight from the rows into the matcher's index (a day can
    // hold a million): counted first, so that the index is sized once.
    let payments = store::count_payments_between(c, scope, start, end)? as usize;
    let refunds = store::count_refunds_between(c, scope, start, end)? as usize;
    let mut m = Matcher::with_capacity(
        day,
        kind,
        MatchOptions {
            window: MIDNIGHT_WINDOW,
            fee_rate_ppm: None,
            keep_matched: false,
        },
        payments + carried_payments.len(),
        refunds,
    );
    let bad = |e: patron_domain::bill::MatchError| {
        tracing::warn!(error = %e, "reconciliation refused our records");
        ImportError::OurRecords(e.to_string())
    };
    // A carried payment that is among the day's own is added once, as the day's.
    let mut carried_today: HashSet<i64> = HashSet::new();
    let carried_ids: HashSet<i64> = carried_payments.iter().map(|p| p.id).collect();
    store::each_payment_between(c, scope, start, end, |p| {
        if carried_ids.contains(&p.id) {
            carried_today.insert(p.id);
        }
        m.add_payment(&our_payment(&p), false).map_err(bad)
    })?;
    for p in &carried_payments {
        if !carried_today.contains(&p.id) {
            m.add_payment(&our_payment(p), true).map_err(bad)?;
        }
    }
    drop(carried_payments);
    store::each_refund_between(c, scope, start, end, |r| {
        m.add_refund(
            &Refund {
                id: r.id,
                out_trade_no: r.out_trade_no.as_str(),
                out_refund_no: r.out_refund_no.as_str(),
                refund_id: r.refund_id.as_deref(),
                status: RefundStatus::parse(&r.status).unwrap_or(RefundStatus::Processing),
                amount_fen: r.amount_fen,
                requested_at: r.created_at,
            },
            false,
        )
        .map_err(bad)
    })?;
    let ours_took = loading.elapsed();
    let mut lines = 0i64;
    if let Some(l) = &first {
        m.feed(l);
        lines += 1;
    }
    while let Some(line) = reader.next_line() {
        m.feed(&line?);
        lines += 1;
    }
    let summary = reader.finish()?;
    let report = m.finish(Some(&summary));
    let exceptions = report
        .items
        .into_iter()
        .filter(|i| i.category != Category::Matched)
        .map(|i| MatchedException {
            category: i.category.as_str(),
            kind: match i.kind {
                ItemKind::Payment => "payment",
                ItemKind::Refund => "refund",
            },
            bill_side: i
                .bill
                .as_ref()
                .map(|b| serde_json::to_string(b).unwrap_or_default()),
            our_side: i
                .ours
                .as_ref()
                .map(|o| serde_json::to_string(o).unwrap_or_default()),
            out_trade_no: i.out_trade_no,
            out_refund_no: i.out_refund_no,
        })
        .collect();
    Ok(Matched {
        day,
        kind,
        lines,
        counts: serde_json::to_string(&report.counts).unwrap_or_default(),
        summary_ok: report.disagreements.is_empty(),
        totals: serde_json::json!({
            "bill": report.summary.as_ref().map(|s| &s.computed),
            "declared": report.summary.as_ref().map(|s| &s.declared),
            "ours": report.ours,
            "fees": report.fees,
            "disagreements": report.disagreements,
        })
        .to_string(),
        exceptions,
        // The pending items of earlier days are this run's now: matched or flagged anew.
        carried: pending.iter().map(|e| e.id).collect(),
        took: MatchTimes {
            ours: ours_took,
            bill: started.elapsed().saturating_sub(ours_took),
        },
    })
}

/// Stores a matched bill as a run with its exceptions. Must run inside the caller's
/// write transaction (with whatever else must commit with the run).
pub fn store_matched(
    c: &mut DbConn,
    scope: &TenantScope,
    m: &Matched,
    source: &str,
    by: &str,
) -> Result<Run, StoreError> {
    let exceptions: Vec<NewException<'_>> = m
        .exceptions
        .iter()
        .map(|e| NewException {
            category: e.category,
            kind: e.kind,
            out_trade_no: &e.out_trade_no,
            out_refund_no: e.out_refund_no.as_deref(),
            bill_side: e.bill_side.clone(),
            our_side: e.our_side.clone(),
        })
        .collect();
    let run = NewRun {
        bill_date: m.day,
        bill_kind: kind_str(m.kind),
        source,
        bill_lines: m.lines,
        counts: m.counts.clone(),
        summary_ok: m.summary_ok,
        created_by: by,
        totals: m.totals.clone(),
    };
    store::store_run(c, scope, &run, &exceptions, &m.carried)
}

/// How an exception is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Take WeChat's record: a payment missing here is added from the bill's line.
    Accept,
    /// Corrected elsewhere (in the till, with the customer); the reason says how.
    Adjust,
    /// Nothing will be done (a test order, a cent of rounding); the reason says why.
    WriteOff,
}

impl Resolution {
    pub fn parse(s: &str) -> Option<Resolution> {
        match s {
            "accept" => Some(Resolution::Accept),
            "adjust" => Some(Resolution::Adjust),
            "write_off" => Some(Resolution::WriteOff),
            _ => None,
        }
    }
}

/// Resolves an open exception with a reason, recorded with who and when (and in the
/// change log); accepting a payment missing here adds it from the bill's line, in the
/// same transaction.
pub fn resolve(
    c: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    how: Resolution,
    reason: &str,
    by: &str,
) -> Result<store::Exception, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::Invalid(vec![invalid("reason", "required")]));
    }
    if reason.chars().count() > 500 {
        return Err(AppError::Invalid(vec![invalid("reason", "too_long")]));
    }
    Ok(write_tx(c, |c| {
        let e = store::exception(c, scope, id)?;
        let new_state = match how {
            Resolution::Accept => {
                if e.category != "missing_here" || e.kind != "payment" {
                    return Err(StoreError::Invalid(invalid(
                        "resolution",
                        "accept_only_missing",
                    )));
                }
                let bill: serde_json::Value = e
                    .bill_side
                    .as_deref()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .ok_or(StoreError::Conflict("bill_side_unreadable"))?;
                let at = bill["trade_time"]
                    .as_str()
                    .and_then(|t| {
                        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok()
                    })
                    .map(|t| t - TimeDelta::hours(8))
                    .ok_or(StoreError::Conflict("bill_side_unreadable"))?;
                let fen = |k: &str| bill[k].as_i64().unwrap_or(0);
                let tx = bill["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let paid = patron_store::payments::Paid {
                    out_trade_no: &e.out_trade_no,
                    transaction_id: &tx,
                    openid: None,
                    total_fen: fen("order_fen"),
                    payer_fen: fen("settled_fen"),
                    discount_fen: fen("coupon_fen"),
                    trade_type: None,
                    bank_type: None,
                    attach: None,
                    paid_at: at,
                    source: "bill",
                };
                if patron_store::payments::apply_paid(c, scope, &paid)?.is_err() {
                    return Err(StoreError::Conflict("payment_differs"));
                }
                patron_store::reconcile::state::ACCEPTED
            }
            Resolution::Adjust => patron_store::reconcile::state::ADJUSTED,
            Resolution::WriteOff => patron_store::reconcile::state::WRITTEN_OFF,
        };
        store::close(c, scope, id, new_state, reason, by)
    })?)
}
