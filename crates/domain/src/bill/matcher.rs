//! Matching one day's bill against our records of that day: every bill line and every
//! record of ours ends in exactly one [`Category`].
//!
//! Our side is two kinds of record, shaped like the rows Patron stores from WeChat Pay's
//! notifications and refund answers: [`Payment`] (one per order, keyed by
//! `out_trade_no`) and [`Refund`] (one per refund, keyed by `out_refund_no`, which may
//! refund an order of an earlier day). The bill's payment lines (`SUCCESS`, `REVOKED`) are
//! matched to payments, its refund lines (`REFUND`) to refunds.
//!
//! The rules, in the order they are applied (the benchmark's polars and pandas scripts,
//! `benches/reconcile/`, implement the same list):
//! 1. A bill line whose key (`out_trade_no` for a payment line, `out_refund_no` for a
//!    refund line) appeared on an earlier line of the same kind is a **duplicate**; the
//!    first line with that key is classified by the rules below.
//! 2. A payment line with no payment of ours is **missing here** (paid at WeChat, unknown
//!    to us); a refund line with no refund of ours is **refund not synced**.
//! 3. **Status mismatch**: a `SUCCESS` line whose payment we do not hold as paid (or
//!    refunded since), a `REVOKED` line whose payment is not revoked, a transaction id (or
//!    refund id) of ours that differs from the bill's (both keys must agree: the match is
//!    on `out_trade_no` *and* the transaction id), a refund whose order differs, or a
//!    refund state that disagrees: the bill's state is frozen when the bill is made, so
//!    the bill's `PROCESSING` agrees with any state of ours, anything else must be equal.
//! 4. **Amount mismatch**: the bill's `订单金额` (legacy `总金额`) against our amount, or for
//!    a refund its `申请退款金额` against the refund we asked for.
//! 5. **Coupon mismatch** (payments): `代金券金额` against our recorded discount.
//! 6. **Fee mismatch** (`SUCCESS` lines): the fee must be `round(应结订单金额 × rate)` to
//!    the fen, half away from zero (WeChat charges whole fen: a real fee reads `0.04000`),
//!    where the rate is the merchant's contracted one ([`MatchOptions::fee_rate_ppm`]),
//!    in which case the line's `费率` must also equal it, or else the line's own `费率`.
//!    WeChat's notifications carry no fee, so Patron has no per-order fee to compare;
//!    what it knows is the rate the merchant signed. Refund lines' fees (negative: the fee
//!    given back) are summed but not checked line by line: how WeChat rounds the fee it
//!    returns on a partial refund is not documented.
//! 7. Otherwise the pair is **matched**.
//! 8. What is left of ours at the end: a paid payment (or a refund that is not closed)
//!    that no line matched is **missing at WeChat**, unless it is dated within
//!    [`MatchOptions::window`] before the end of the day (Beijing time) and was not
//!    carried over from the day before: then it is **pending**. WeChat can put a payment
//!    made in the last seconds of a day in the next day's bill; a pending record is given
//!    to the next day's matcher with `carried = true` ([`Matcher::add_payment`]), where it
//!    is matched or, if that bill lacks it too, flagged. A payment of ours that is not
//!    paid and that no line names is nobody's concern. A SUCCESS bill expects no refunds
//!    of ours and a REFUND bill no payments.
//!
//! Our records' times must be WeChat's own (`time_end`/`success_time` for a payment, the
//! refund's `create_time` where WeChat gives one), converted to UTC: the bill's times are
//! WeChat's, so both sides then cut the day at the same instant.
//!
//! Speed and memory: our records are indexed once (keys copied into one arena, a
//! `hashbrown` table of `u32` indices, no allocation per record); the bill is streamed line
//! by line (no allocation per line); only exceptions become [`Item`]s with owned strings
//! (matched pairs are counted, and kept only with [`MatchOptions::keep_matched`]). The
//! output is deterministic: bill items in line order, then ours in the order given.

use super::parse::{
    beijing_to_utc, utc_to_beijing, BillKind, BillLine, Disagreement, RefundStatus, Summary,
    TradeState,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta};
use hashbrown::{DefaultHashBuilder, HashSet, HashTable};
use serde::{Deserialize, Serialize};
use std::hash::BuildHasher;

/// Our state of a payment (an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayStatus {
    /// Created, not (yet) known to be paid.
    Unpaid,
    Paid,
    /// Paid, then refunded in full.
    Refunded,
    /// Closed without payment.
    Closed,
    /// A micropay cancelled.
    Revoked,
}

impl PayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayStatus::Unpaid => "unpaid",
            PayStatus::Paid => "paid",
            PayStatus::Refunded => "refunded",
            PayStatus::Closed => "closed",
            PayStatus::Revoked => "revoked",
        }
    }
    pub fn parse(s: &str) -> Option<PayStatus> {
        Some(match s {
            "unpaid" => PayStatus::Unpaid,
            "paid" => PayStatus::Paid,
            "refunded" => PayStatus::Refunded,
            "closed" => PayStatus::Closed,
            "revoked" => PayStatus::Revoked,
            _ => return None,
        })
    }
    /// Money reached the merchant (a refund afterwards does not undo that payment).
    pub fn paid(self) -> bool {
        matches!(self, PayStatus::Paid | PayStatus::Refunded)
    }
}

/// One payment of ours. `S` is `String` for records loaded from the database and `&str`
/// for records read straight from a file's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment<S = String> {
    /// Our row id, handed back in the [`Item`]s.
    pub id: i64,
    pub out_trade_no: S,
    /// WeChat's transaction id, once a notification or a query told us.
    pub transaction_id: Option<S>,
    pub status: PayStatus,
    /// The order's amount before coupons (`total_fee`, v3 `amount.total`), in fen.
    pub amount_fen: i64,
    /// The coupons' part of it (`coupon_fee`), in fen.
    pub coupon_fen: i64,
    /// When WeChat says it was paid (`time_end`, v3 `success_time`), in UTC.
    pub paid_at: Option<NaiveDateTime>,
}

impl<S> Payment<S> {
    /// The same payment with its text passed through `f`.
    pub fn map<T>(&self, mut f: impl FnMut(&S) -> T) -> Payment<T> {
        Payment {
            id: self.id,
            out_trade_no: f(&self.out_trade_no),
            transaction_id: self.transaction_id.as_ref().map(&mut f),
            status: self.status,
            amount_fen: self.amount_fen,
            coupon_fen: self.coupon_fen,
            paid_at: self.paid_at,
        }
    }
}

/// One refund of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund<S = String> {
    pub id: i64,
    /// The order refunded.
    pub out_trade_no: S,
    pub out_refund_no: S,
    /// WeChat's refund id, once known.
    pub refund_id: Option<S>,
    pub status: RefundStatus,
    /// The refund asked for (`refund_fee`, v3 `amount.refund`), in fen.
    pub amount_fen: i64,
    /// When the refund was asked (WeChat's `create_time` where known), in UTC.
    pub requested_at: NaiveDateTime,
}

impl<S> Refund<S> {
    /// The same refund with its text passed through `f`.
    pub fn map<T>(&self, mut f: impl FnMut(&S) -> T) -> Refund<T> {
        Refund {
            id: self.id,
            out_trade_no: f(&self.out_trade_no),
            out_refund_no: f(&self.out_refund_no),
            refund_id: self.refund_id.as_ref().map(&mut f),
            status: self.status,
            amount_fen: self.amount_fen,
            requested_at: self.requested_at,
        }
    }
}

/// Where an item ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Matched,
    /// Paid at WeChat, unknown here.
    MissingHere,
    /// Paid (or refunded) here, not in WeChat's bill.
    MissingAtWechat,
    StatusMismatch,
    AmountMismatch,
    CouponMismatch,
    FeeMismatch,
    /// The same `out_trade_no` (or `out_refund_no`) on a second line of the bill.
    Duplicate,
    /// A refund in the bill that we have no record of.
    RefundNotSynced,
    /// Ours, near midnight, not in this bill: waiting for the next day's.
    Pending,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::Matched,
        Category::MissingHere,
        Category::MissingAtWechat,
        Category::StatusMismatch,
        Category::AmountMismatch,
        Category::CouponMismatch,
        Category::FeeMismatch,
        Category::Duplicate,
        Category::RefundNotSynced,
        Category::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Matched => "matched",
            Category::MissingHere => "missing_here",
            Category::MissingAtWechat => "missing_at_wechat",
            Category::StatusMismatch => "status_mismatch",
            Category::AmountMismatch => "amount_mismatch",
            Category::CouponMismatch => "coupon_mismatch",
            Category::FeeMismatch => "fee_mismatch",
            Category::Duplicate => "duplicate",
            Category::RefundNotSynced => "refund_not_synced",
            Category::Pending => "pending",
        }
    }

    /// Something someone has to look at (neither matched nor waiting).
    pub fn is_exception(self) -> bool {
        !matches!(self, Category::Matched | Category::Pending)
    }
}

/// How many items ended in each category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub matched: u64,
    pub missing_here: u64,
    pub missing_at_wechat: u64,
    pub status_mismatch: u64,
    pub amount_mismatch: u64,
    pub coupon_mismatch: u64,
    pub fee_mismatch: u64,
    pub duplicate: u64,
    pub refund_not_synced: u64,
    pub pending: u64,
}

impl Counts {
    fn slot(&mut self, c: Category) -> &mut u64 {
        match c {
            Category::Matched => &mut self.matched,
            Category::MissingHere => &mut self.missing_here,
            Category::MissingAtWechat => &mut self.missing_at_wechat,
            Category::StatusMismatch => &mut self.status_mismatch,
            Category::AmountMismatch => &mut self.amount_mismatch,
            Category::CouponMismatch => &mut self.coupon_mismatch,
            Category::FeeMismatch => &mut self.fee_mismatch,
            Category::Duplicate => &mut self.duplicate,
            Category::RefundNotSynced => &mut self.refund_not_synced,
            Category::Pending => &mut self.pending,
        }
    }
    pub fn add(&mut self, c: Category) {
        *self.slot(c) += 1;
    }
    pub fn get(&self, c: Category) -> u64 {
        let mut copy = *self;
        *copy.slot(c)
    }
    /// Every item.
    pub fn total(&self) -> u64 {
        Category::ALL.iter().map(|&c| self.get(c)).sum()
    }
    /// Items that are exceptions ([`Category::is_exception`]).
    pub fn exceptions(&self) -> u64 {
        Category::ALL
            .iter()
            .filter(|c| c.is_exception())
            .map(|&c| self.get(c))
            .sum()
    }
}

/// Whether an item is about a payment or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    Payment,
    Refund,
}

/// The bill's side of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillSide {
    pub line: u64,
    /// Beijing time, as printed.
    pub trade_time: NaiveDateTime,
    pub transaction_id: String,
    pub refund_id: String,
    pub state: TradeState,
    pub refund_status: Option<RefundStatus>,
    pub order_fen: i64,
    pub settled_fen: i64,
    pub coupon_fen: i64,
    pub refund_fen: i64,
    pub requested_refund_fen: i64,
    pub fee_millifen: i64,
    pub rate_ppm: Option<u32>,
}

/// Our side of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OurSide {
    /// [`Payment::id`] or [`Refund::id`].
    pub id: i64,
    /// The transaction id (payments) or refund id (refunds) we hold.
    pub wechat_id: Option<String>,
    /// [`PayStatus::as_str`] or [`RefundStatus::as_str`].
    pub status: &'static str,
    pub amount_fen: i64,
    /// Payments only.
    pub coupon_fen: i64,
    /// Paid (payments) or asked (refunds), UTC.
    pub at: Option<NaiveDateTime>,
    /// Carried over from the day before.
    pub carried: bool,
}

/// One classified item: a bill line, one of our records, or the pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub category: Category,
    pub kind: ItemKind,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub bill: Option<BillSide>,
    pub ours: Option<OurSide>,
    /// The fee the rule expected, for a fee mismatch, in thousandths of a fen.
    pub expected_fee_millifen: Option<i64>,
}

/// What we hold for the day (records carried over from the day before not included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OurTotals {
    pub payments: u64,
    pub paid_fen: i64,
    pub coupon_fen: i64,
    pub refunds: u64,
    pub refund_fen: i64,
}

/// The fees of the day's `SUCCESS` lines that had a rate: charged and as the rule expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FeeTotals {
    pub lines: u64,
    pub charged_millifen: i64,
    pub expected_millifen: i64,
}

/// The day's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub day: NaiveDate,
    pub kind: BillKind,
    pub counts: Counts,
    /// Every item but the matched ones (unless [`MatchOptions::keep_matched`]): bill
    /// lines in file order, then ours in the order given.
    pub items: Vec<Item>,
    /// The bill's summary, if the caller passed it to [`Matcher::finish`].
    pub summary: Option<Summary>,
    /// Where the summary and the lines disagree (empty when they agree).
    pub disagreements: Vec<Disagreement>,
    pub ours: OurTotals,
    pub fees: FeeTotals,
}

/// Settings of a day's matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchOptions {
    /// How long before the day's end (Beijing time) a record of ours missing from the
    /// bill waits for the next day's bill instead of being flagged.
    pub window: TimeDelta,
    /// The merchant's contracted fee rate in millionths (0.60% is 6,000); `None`: each
    /// line's own `费率`.
    pub fee_rate_ppm: Option<u32>,
    /// Keep an [`Item`] for every matched pair too.
    pub keep_matched: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            window: TimeDelta::minutes(15),
            fee_rate_ppm: None,
            keep_matched: false,
        }
    }
}

/// Why a record of ours cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("out_trade_no {0} is given twice")]
    DuplicatePayment(String),
    #[error("out_refund_no {0} is given twice")]
    DuplicateRefund(String),
    #[error("more records than the matcher can index")]
    TooMany,
}

/// The fee WeChat charges on `settled_fen` at `rate_ppm`, in whole fen: rounded half away
/// from zero.
pub fn fee_fen(settled_fen: i64, rate_ppm: u32) -> i64 {
    let p = i128::from(settled_fen) * i128::from(rate_ppm);
    let q = (p.abs() + 500_000) / 1_000_000;
    (if p < 0 { -q } else { q }) as i64
}

/// A string in the arena.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

const NO_TIME: i64 = i64::MIN;

#[derive(Debug)]
struct OurPayment {
    id: i64,
    key: Span,
    txid: Option<Span>,
    amount: i64,
    coupon: i64,
    at: i64,
    status: PayStatus,
    carried: bool,
    seen: bool,
}

#[derive(Debug)]
struct OurRefund {
    id: i64,
    key: Span,
    out_trade_no: Span,
    refund_id: Option<Span>,
    amount: i64,
    at: i64,
    status: RefundStatus,
    carried: bool,
    seen: bool,
}

/// One day's matching: add our records, feed the bill's lines, finish.
///
/// ```
/// use patron_domain::bill::{BillKind, BillReader, MatchOptions, Matcher, Report};
///
/// fn reconcile(
///     file: impl std::io::Read,
///     day: chrono::NaiveDate,
/// ) -> Result<Report, Box<dyn std::error::Error>> {
///     let mut bill = BillReader::new(file)?;
///     let kind = bill.kind().unwrap_or(BillKind::All);
///     let mut m = Matcher::new(day, kind, MatchOptions::default());
///     // m.add_payment(&payment, false)?; … for each of the day's records, and
///     // m.add_payment(&payment, true)?; for those pending the day before.
///     while let Some(line) = bill.next_line() {
///         m.feed(&line?);
///     }
///     Ok(m.finish(Some(&bill.finish()?)))
/// }
/// ```
#[derive(Debug)]
pub struct Matcher {
    day: NaiveDate,
    kind: BillKind,
    opts: MatchOptions,
    hasher: DefaultHashBuilder,
    arena: Vec<u8>,
    payments: Vec<OurPayment>,
    payment_index: HashTable<u32>,
    refunds: Vec<OurRefund>,
    refund_index: HashTable<u32>,
    unknown_payments: HashSet<Box<str>>,
    unknown_refunds: HashSet<Box<str>>,
    counts: Counts,
    items: Vec<Item>,
    ours: OurTotals,
    fees: FeeTotals,
}

fn text(arena: &[u8], s: Span) -> &[u8] {
    &arena[s.start as usize..(s.start + s.len) as usize]
}

fn owned(arena: &[u8], s: Span) -> String {
    String::from_utf8_lossy(text(arena, s)).into_owned()
}

fn secs(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

fn from_secs(s: i64) -> Option<NaiveDateTime> {
    (s != NO_TIME)
        .then(|| DateTime::from_timestamp(s, 0).map(|d| d.naive_utc()))
        .flatten()
}

impl Matcher {
    pub fn new(day: NaiveDate, kind: BillKind, opts: MatchOptions) -> Matcher {
        Matcher::with_capacity(day, kind, opts, 0, 0)
    }

    /// With room for this many payments and refunds (and 32 bytes of keys each).
    pub fn with_capacity(
        day: NaiveDate,
        kind: BillKind,
        opts: MatchOptions,
        payments: usize,
        refunds: usize,
    ) -> Matcher {
        Matcher {
            day,
            kind,
            opts,
            hasher: DefaultHashBuilder::default(),
            arena: Vec::with_capacity((payments + refunds) * 48),
            payments: Vec::with_capacity(payments),
            payment_index: HashTable::with_capacity(payments),
            refunds: Vec::with_capacity(refunds),
            refund_index: HashTable::with_capacity(refunds),
            unknown_payments: HashSet::new(),
            unknown_refunds: HashSet::new(),
            counts: Counts::default(),
            items: Vec::new(),
            ours: OurTotals::default(),
            fees: FeeTotals::default(),
        }
    }

    fn push(&mut self, s: &str) -> Result<Span, MatchError> {
        let start = u32::try_from(self.arena.len()).map_err(|_| MatchError::TooMany)?;
        let len = u32::try_from(s.len()).map_err(|_| MatchError::TooMany)?;
        start.checked_add(len).ok_or(MatchError::TooMany)?;
        self.arena.extend_from_slice(s.as_bytes());
        Ok(Span { start, len })
    }

    /// Adds a payment of ours. `carried`: it was [`Category::Pending`] in the day
    /// before's report, so this day's bill is its last chance.
    pub fn add_payment<S: AsRef<str>>(
        &mut self,
        p: &Payment<S>,
        carried: bool,
    ) -> Result<(), MatchError> {
        let key = p.out_trade_no.as_ref();
        let hash = self.hasher.hash_one(key);
        let (arena, list) = (&self.arena, &self.payments);
        if self
            .payment_index
            .find(hash, |&i| {
                text(arena, list[i as usize].key) == key.as_bytes()
            })
            .is_some()
        {
            return Err(MatchError::DuplicatePayment(key.to_string()));
        }
        let index = u32::try_from(self.payments.len()).map_err(|_| MatchError::TooMany)?;
        let key = self.push(key)?;
        let txid = match &p.transaction_id {
            Some(t) => Some(self.push(t.as_ref())?),
            None => None,
        };
        self.payments.push(OurPayment {
            id: p.id,
            key,
            txid,
            amount: p.amount_fen,
            coupon: p.coupon_fen,
            at: p.paid_at.map_or(NO_TIME, secs),
            status: p.status,
            carried,
            seen: false,
        });
        if !carried && p.status.paid() {
            self.ours.payments += 1;
            self.ours.paid_fen += p.amount_fen;
            self.ours.coupon_fen += p.coupon_fen;
        }
        let (arena, list, hasher) = (&self.arena, &self.payments, &self.hasher);
        self.payment_index.insert_unique(hash, index, |&i| {
            hasher.hash_one(std::str::from_utf8(text(arena, list[i as usize].key)).unwrap_or(""))
        });
        Ok(())
    }

    /// Adds a refund of ours (`carried` as for [`Matcher::add_payment`]).
    pub fn add_refund<S: AsRef<str>>(
        &mut self,
        r: &Refund<S>,
        carried: bool,
    ) -> Result<(), MatchError> {
        let key = r.out_refund_no.as_ref();
        let hash = self.hasher.hash_one(key);
        let (arena, list) = (&self.arena, &self.refunds);
        if self
            .refund_index
            .find(hash, |&i| {
                text(arena, list[i as usize].key) == key.as_bytes()
            })
            .is_some()
        {
            return Err(MatchError::DuplicateRefund(key.to_string()));
        }
        let index = u32::try_from(self.refunds.len()).map_err(|_| MatchError::TooMany)?;
        let key = self.push(key)?;
        let out_trade_no = self.push(r.out_trade_no.as_ref())?;
        let refund_id = match &r.refund_id {
            Some(t) => Some(self.push(t.as_ref())?),
            None => None,
        };
        self.refunds.push(OurRefund {
            id: r.id,
            key,
            out_trade_no,
            refund_id,
            amount: r.amount_fen,
            at: secs(r.requested_at),
            status: r.status,
            carried,
            seen: false,
        });
        if !carried && r.status != RefundStatus::Closed {
            self.ours.refunds += 1;
            self.ours.refund_fen += r.amount_fen;
        }
        let (arena, list, hasher) = (&self.arena, &self.refunds, &self.hasher);
        self.refund_index.insert_unique(hash, index, |&i| {
            hasher.hash_one(std::str::from_utf8(text(arena, list[i as usize].key)).unwrap_or(""))
        });
        Ok(())
    }

    /// Classifies one bill line (in file order: the first line of a key is the one
    /// matched, a later one is a duplicate).
    pub fn feed<S: AsRef<str>>(&mut self, l: &BillLine<S>) {
        if l.state == TradeState::Refund {
            self.feed_refund(l);
        } else {
            self.feed_payment(l);
        }
    }

    fn feed_payment<S: AsRef<str>>(&mut self, l: &BillLine<S>) {
        let key = l.out_trade_no.as_ref();
        let fee = if l.state == TradeState::Success {
            self.expected_fee(l)
        } else {
            None
        };
        if let Some((_, expected)) = fee {
            self.fees.lines += 1;
            self.fees.charged_millifen += l.fee_millifen;
            self.fees.expected_millifen += expected;
        }
        let hash = self.hasher.hash_one(key);
        let (arena, list) = (&self.arena, &self.payments);
        let found = self
            .payment_index
            .find(hash, |&i| {
                text(arena, list[i as usize].key) == key.as_bytes()
            })
            .copied();
        let Some(i) = found else {
            let category = if self.unknown_payments.insert(key.into()) {
                Category::MissingHere
            } else {
                Category::Duplicate
            };
            self.emit_line(category, ItemKind::Payment, l, None, None);
            return;
        };
        let o = &mut self.payments[i as usize];
        let category = if o.seen {
            Category::Duplicate
        } else {
            o.seen = true;
            let txid_agrees = o
                .txid
                .is_none_or(|t| text(&self.arena, t) == l.transaction_id.as_ref().as_bytes());
            let status_agrees = match l.state {
                TradeState::Revoked => o.status == PayStatus::Revoked,
                _ => o.status.paid(),
            };
            if !status_agrees || !txid_agrees {
                Category::StatusMismatch
            } else if l.order_amount_fen() != o.amount {
                Category::AmountMismatch
            } else if l.coupon_fen != o.coupon {
                Category::CouponMismatch
            } else if fee.is_some_and(|(ok, _)| !ok) {
                Category::FeeMismatch
            } else {
                Category::Matched
            }
        };
        let expected = fee
            .filter(|_| category == Category::FeeMismatch)
            .map(|(_, e)| e);
        let ours = Some(Ours::Payment(i as usize));
        self.emit_line(category, ItemKind::Payment, l, ours, expected);
    }

    /// `(the line's fee is right, the fee expected)`, or `None` without a rate.
    fn expected_fee<S>(&self, l: &BillLine<S>) -> Option<(bool, i64)> {
        let rate = self.opts.fee_rate_ppm.or(l.rate_ppm)?;
        let expected = fee_fen(l.settled_fen, rate) * 1000;
        let rate_agrees = self.opts.fee_rate_ppm.is_none_or(|c| l.rate_ppm == Some(c));
        Some((rate_agrees && l.fee_millifen == expected, expected))
    }

    fn feed_refund<S: AsRef<str>>(&mut self, l: &BillLine<S>) {
        let key = l.out_refund_no.as_ref();
        let hash = self.hasher.hash_one(key);
        let (arena, list) = (&self.arena, &self.refunds);
        let found = self
            .refund_index
            .find(hash, |&i| {
                text(arena, list[i as usize].key) == key.as_bytes()
            })
            .copied();
        let Some(i) = found else {
            let category = if self.unknown_refunds.insert(key.into()) {
                Category::RefundNotSynced
            } else {
                Category::Duplicate
            };
            self.emit_line(category, ItemKind::Refund, l, None, None);
            return;
        };
        let o = &mut self.refunds[i as usize];
        let category = if o.seen {
            Category::Duplicate
        } else {
            o.seen = true;
            let arena = &self.arena;
            let ids_agree = o
                .refund_id
                .is_none_or(|t| text(arena, t) == l.refund_id.as_ref().as_bytes())
                && text(arena, o.out_trade_no) == l.out_trade_no.as_ref().as_bytes();
            let state_agrees = l
                .refund_status
                .is_none_or(|b| b == o.status || b == RefundStatus::Processing);
            if !ids_agree || !state_agrees {
                Category::StatusMismatch
            } else if l.refund_requested_fen() != o.amount {
                Category::AmountMismatch
            } else {
                Category::Matched
            }
        };
        self.emit_line(
            category,
            ItemKind::Refund,
            l,
            Some(Ours::Refund(i as usize)),
            None,
        );
    }

    fn emit_line<S: AsRef<str>>(
        &mut self,
        category: Category,
        kind: ItemKind,
        l: &BillLine<S>,
        ours: Option<Ours>,
        expected_fee_millifen: Option<i64>,
    ) {
        self.counts.add(category);
        if category == Category::Matched && !self.opts.keep_matched {
            return;
        }
        let item = Item {
            category,
            kind,
            out_trade_no: l.out_trade_no.as_ref().to_string(),
            out_refund_no: (kind == ItemKind::Refund).then(|| l.out_refund_no.as_ref().to_string()),
            bill: Some(BillSide {
                line: l.line,
                trade_time: l.trade_time,
                transaction_id: l.transaction_id.as_ref().to_string(),
                refund_id: l.refund_id.as_ref().to_string(),
                state: l.state,
                refund_status: l.refund_status,
                order_fen: l.order_amount_fen(),
                settled_fen: l.settled_fen,
                coupon_fen: l.coupon_fen,
                refund_fen: l.refund_fen,
                requested_refund_fen: l.refund_requested_fen(),
                fee_millifen: l.fee_millifen,
                rate_ppm: l.rate_ppm,
            }),
            ours: ours.map(|o| self.our_side(o)),
            expected_fee_millifen,
        };
        self.items.push(item);
    }

    fn our_side(&self, o: Ours) -> OurSide {
        let arena = &self.arena;
        match o {
            Ours::Payment(i) => {
                let p = &self.payments[i];
                OurSide {
                    id: p.id,
                    wechat_id: p.txid.map(|t| owned(arena, t)),
                    status: p.status.as_str(),
                    amount_fen: p.amount,
                    coupon_fen: p.coupon,
                    at: from_secs(p.at),
                    carried: p.carried,
                }
            }
            Ours::Refund(i) => {
                let r = &self.refunds[i];
                OurSide {
                    id: r.id,
                    wechat_id: r.refund_id.map(|t| owned(arena, t)),
                    status: r.status.as_str(),
                    amount_fen: r.amount,
                    coupon_fen: 0,
                    at: from_secs(r.at),
                    carried: r.carried,
                }
            }
        }
    }

    /// The instant from which a record of ours missing from the bill is pending.
    fn pending_from(&self) -> i64 {
        let end = self
            .day
            .succ_opt()
            .unwrap_or(self.day)
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default();
        secs(beijing_to_utc(end) - self.opts.window)
    }

    /// Classifies what is left of ours and returns the day's report. Pass the bill's
    /// summary to have it (and its disagreements with the lines) in the report.
    pub fn finish(mut self, summary: Option<&Summary>) -> Report {
        let from = self.pending_from();
        let leftover = |seen: bool, carried: bool, at: i64| {
            if seen {
                None
            } else if !carried && at != NO_TIME && at >= from {
                Some(Category::Pending)
            } else {
                Some(Category::MissingAtWechat)
            }
        };
        if self.kind.has_payments() {
            for i in 0..self.payments.len() {
                let p = &self.payments[i];
                if !p.status.paid() {
                    continue;
                }
                if let Some(c) = leftover(p.seen, p.carried, p.at) {
                    let item = Item {
                        category: c,
                        kind: ItemKind::Payment,
                        out_trade_no: owned(&self.arena, p.key),
                        out_refund_no: None,
                        bill: None,
                        ours: Some(self.our_side(Ours::Payment(i))),
                        expected_fee_millifen: None,
                    };
                    self.counts.add(c);
                    self.items.push(item);
                }
            }
        }
        if self.kind.has_refunds() {
            for i in 0..self.refunds.len() {
                let r = &self.refunds[i];
                if r.status == RefundStatus::Closed {
                    continue;
                }
                if let Some(c) = leftover(r.seen, r.carried, r.at) {
                    let item = Item {
                        category: c,
                        kind: ItemKind::Refund,
                        out_trade_no: owned(&self.arena, r.out_trade_no),
                        out_refund_no: Some(owned(&self.arena, r.key)),
                        bill: None,
                        ours: Some(self.our_side(Ours::Refund(i))),
                        expected_fee_millifen: None,
                    };
                    self.counts.add(c);
                    self.items.push(item);
                }
            }
        }
        Report {
            day: self.day,
            kind: self.kind,
            counts: self.counts,
            items: self.items,
            summary: summary.cloned(),
            disagreements: summary.map(Summary::disagreements).unwrap_or_default(),
            ours: self.ours,
            fees: self.fees,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Ours {
    Payment(usize),
    Refund(usize),
}

/// The Beijing calendar day a UTC instant falls on.
pub fn beijing_day(utc: NaiveDateTime) -> NaiveDate {
    utc_to_beijing(utc).date()
}
