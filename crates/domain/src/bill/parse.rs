//! The streaming trade-bill parser: [`BillReader`] reads the header, then hands out one
//! detail line at a time ([`BillReader::next_line`], borrowing its fields from one reused
//! record, so a million lines cost no allocation each; [`BillReader::lines`] is the owning
//! iterator for callers that keep lines), and [`BillReader::finish`] returns the summary
//! with the detail lines' own sums beside it.
//!
//! The csv crate does the splitting (no quoting: the format has none), with a flexible
//! column count so that the reader itself can say which line has the wrong number of
//! columns and how many it expected. Records end at `\n` only, and the `\r` of a CRLF is
//! taken off the last field here: the csv crate's own CRLF handling consumes the `\n` at
//! the start of the next record, which puts every line number after the first one short.
//! Blank lines are skipped.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;

/// The first cell of the summary header.
pub const SUMMARY_FIRST: &str = "总交易单数";

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// The longest error answer read (WeChat's are a few hundred bytes).
const MAX_ANSWER: u64 = 64 * 1024;

/// The bill type asked for (`bill_type`), recognised from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BillKind {
    /// Payments and refunds.
    All,
    /// Payments only (no refund columns).
    Success,
    /// Refunds only (with 退款申请时间 and 退款成功时间).
    Refund,
}

impl BillKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BillKind::All => "ALL",
            BillKind::Success => "SUCCESS",
            BillKind::Refund => "REFUND",
        }
    }
    /// Whether payments of ours are expected in a bill of this kind.
    pub fn has_payments(self) -> bool {
        self != BillKind::Refund
    }
    /// Whether refunds of ours are expected in a bill of this kind.
    pub fn has_refunds(self) -> bool {
        self != BillKind::Success
    }
}

/// What the header says about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: BillKind,
    /// The pre-2018 columns (`总金额` instead of `应结订单金额`/`订单金额`).
    pub legacy: bool,
    /// The header's column names, in order.
    pub columns: Vec<String>,
}

/// `交易状态`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeState {
    /// A payment.
    Success,
    /// A refund (the line's time is the refund's request time).
    Refund,
    /// A cancelled micropay.
    Revoked,
}

impl TradeState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::Revoked => "REVOKED",
        }
    }
    fn parse(s: &str) -> Option<TradeState> {
        match s {
            "SUCCESS" => Some(TradeState::Success),
            "REFUND" => Some(TradeState::Refund),
            "REVOKED" => Some(TradeState::Revoked),
            _ => None,
        }
    }
}

/// A refund's state: the bill's `退款状态` (frozen when the bill was made) and ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundStatus {
    /// `PROCESSING`.
    Processing,
    /// `SUCCESS`.
    Success,
    /// `REFUNDCLOSE` (v2) or `CLOSED` (v3).
    Closed,
    /// `CHANGE` (v2) or `ABNORMAL` (v3): the money could not reach the payer's account.
    Abnormal,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Processing => "processing",
            RefundStatus::Success => "success",
            RefundStatus::Closed => "closed",
            RefundStatus::Abnormal => "abnormal",
        }
    }
    /// WeChat's spellings (bill, v2 and v3), and ours ([`RefundStatus::as_str`]).
    pub fn parse(s: &str) -> Option<RefundStatus> {
        match s {
            "PROCESSING" | "processing" => Some(RefundStatus::Processing),
            "SUCCESS" | "success" => Some(RefundStatus::Success),
            "REFUNDCLOSE" | "CLOSED" | "closed" => Some(RefundStatus::Closed),
            "CHANGE" | "ABNORMAL" | "abnormal" => Some(RefundStatus::Abnormal),
            _ => None,
        }
    }
}

/// One detail line. `S` is `&str` for the lines [`BillReader::next_line`] lends (fields
/// borrowed from the reader's record, backticks stripped) and `String` for owned ones.
///
/// A column the layout does not have reads as `""` or `0` (a SUCCESS bill's refund
/// columns), except the two that only today's layouts have, which are `None` there:
/// [`BillLine::order_fen`] and [`BillLine::requested_refund_fen`]; their accessors
/// [`BillLine::order_amount_fen`] and [`BillLine::refund_requested_fen`] fall back to the
/// legacy equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine<S = String> {
    /// The line number in the file (1 is the header).
    pub line: u64,
    /// `交易时间`, Beijing time: when the payment succeeded, or when the refund was asked.
    pub trade_time: NaiveDateTime,
    pub appid: S,
    pub mch_id: S,
    /// `特约商户号` (`子商户号` in the legacy layout); `0` for an ordinary merchant.
    pub sub_mch_id: S,
    pub device_info: S,
    /// `微信订单号`.
    pub transaction_id: S,
    /// `商户订单号`.
    pub out_trade_no: S,
    pub openid: S,
    pub trade_type: S,
    pub state: TradeState,
    pub bank_type: S,
    pub currency: S,
    /// `应结订单金额` (legacy `总金额`): what the merchant is settled; `0.00` on refund lines.
    pub settled_fen: i64,
    /// `代金券金额` (legacy `代金券或立减优惠金额` or `企业红包金额`).
    pub coupon_fen: i64,
    /// `退款申请时间` (REFUND layout only).
    pub refund_requested_at: Option<NaiveDateTime>,
    /// `退款成功时间` (REFUND layout only; empty while processing).
    pub refund_succeeded_at: Option<NaiveDateTime>,
    /// `微信退款单号` (`0` on payment lines).
    pub refund_id: S,
    /// `商户退款单号` (`0` on payment lines).
    pub out_refund_no: S,
    /// `退款金额`: the refund as settled.
    pub refund_fen: i64,
    /// `充值券退款金额` (legacy `代金券或立减优惠退款金额`).
    pub recharge_refund_fen: i64,
    pub refund_type: S,
    /// `退款状态` (`None` on payment lines).
    pub refund_status: Option<RefundStatus>,
    pub product: S,
    pub attach: S,
    /// `手续费` in thousandths of a fen (five decimals of a yuan); negative on refunds.
    pub fee_millifen: i64,
    /// `费率` in millionths: `0.60%` is 6,000.
    pub rate_ppm: Option<u32>,
    /// `订单金额`: the order's amount before coupons (`None` in the legacy layout).
    pub order_fen: Option<i64>,
    /// `申请退款金额`: the refund as asked (`None` where the layout has no such column).
    pub requested_refund_fen: Option<i64>,
    pub rate_note: S,
}

impl<S: AsRef<str>> BillLine<S> {
    /// The order's amount before coupons: `订单金额`, or the legacy `总金额`.
    pub fn order_amount_fen(&self) -> i64 {
        self.order_fen.unwrap_or(self.settled_fen)
    }
    /// The refund as asked: `申请退款金额`, or `退款金额` where there is no such column.
    pub fn refund_requested_fen(&self) -> i64 {
        self.requested_refund_fen.unwrap_or(self.refund_fen)
    }
    pub fn is_refund(&self) -> bool {
        self.state == TradeState::Refund
    }
    /// [`BillLine::trade_time`] in UTC.
    pub fn trade_time_utc(&self) -> NaiveDateTime {
        beijing_to_utc(self.trade_time)
    }
    /// An owned copy.
    pub fn to_owned_line(&self) -> BillLine<String> {
        self.map(|s| s.as_ref().to_string())
    }
}

impl<S> BillLine<S> {
    /// The same line with every text field passed through `f`, in the order of the
    /// struct's fields (to keep lines elsewhere, e.g. in one buffer for a batch of them).
    pub fn map<T>(&self, mut f: impl FnMut(&S) -> T) -> BillLine<T> {
        BillLine {
            line: self.line,
            trade_time: self.trade_time,
            appid: f(&self.appid),
            mch_id: f(&self.mch_id),
            sub_mch_id: f(&self.sub_mch_id),
            device_info: f(&self.device_info),
            transaction_id: f(&self.transaction_id),
            out_trade_no: f(&self.out_trade_no),
            openid: f(&self.openid),
            trade_type: f(&self.trade_type),
            state: self.state,
            bank_type: f(&self.bank_type),
            currency: f(&self.currency),
            settled_fen: self.settled_fen,
            coupon_fen: self.coupon_fen,
            refund_requested_at: self.refund_requested_at,
            refund_succeeded_at: self.refund_succeeded_at,
            refund_id: f(&self.refund_id),
            out_refund_no: f(&self.out_refund_no),
            refund_fen: self.refund_fen,
            recharge_refund_fen: self.recharge_refund_fen,
            refund_type: f(&self.refund_type),
            refund_status: self.refund_status,
            product: f(&self.product),
            attach: f(&self.attach),
            fee_millifen: self.fee_millifen,
            rate_ppm: self.rate_ppm,
            order_fen: self.order_fen,
            requested_refund_fen: self.requested_refund_fen,
            rate_note: f(&self.rate_note),
        }
    }
}

/// Sums over the detail lines (or, in [`Declared`], what the summary line says).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub count: u64,
    pub settled_fen: i64,
    pub coupon_fen: i64,
    pub refund_fen: i64,
    pub recharge_refund_fen: i64,
    pub fee_millifen: i64,
    pub order_fen: i64,
    pub requested_refund_fen: i64,
}

impl Totals {
    /// Adds one line (saturating: only an absurd file reaches the limits, and then its
    /// summary disagrees).
    fn add<S>(&mut self, l: &BillLine<S>) {
        self.count += 1;
        self.settled_fen = self.settled_fen.saturating_add(l.settled_fen);
        self.coupon_fen = self.coupon_fen.saturating_add(l.coupon_fen);
        self.refund_fen = self.refund_fen.saturating_add(l.refund_fen);
        self.recharge_refund_fen = self
            .recharge_refund_fen
            .saturating_add(l.recharge_refund_fen);
        self.fee_millifen = self.fee_millifen.saturating_add(l.fee_millifen);
        self.order_fen = self.order_fen.saturating_add(l.order_fen.unwrap_or(0));
        self.requested_refund_fen = self
            .requested_refund_fen
            .saturating_add(l.requested_refund_fen.unwrap_or(0));
    }
}

/// The summary line, read by header name: `None` for a total the file's summary has no
/// column for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    /// `总交易单数`: detail lines, payments and refunds alike.
    pub count: u64,
    /// `应结订单总金额` (legacy `总交易额`).
    pub settled_fen: Option<i64>,
    /// `退款总金额` (legacy `总退款金额`).
    pub refund_fen: Option<i64>,
    /// `充值券退款总金额` (legacy `总代金券或立减优惠退款金额`, `总企业红包退款金额`).
    pub recharge_refund_fen: Option<i64>,
    /// `手续费总金额`, thousandths of a fen.
    pub fee_millifen: Option<i64>,
    /// `订单总金额`.
    pub order_fen: Option<i64>,
    /// `申请退款总金额`.
    pub requested_refund_fen: Option<i64>,
}

/// One total on which the summary and the detail lines disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// The summary's column (today's name).
    pub column: &'static str,
    pub declared: i64,
    pub computed: i64,
}

/// The end of a bill: what its summary declares and what its detail lines add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The summary line's number (`None` for the no-bill answer).
    pub line: Option<u64>,
    /// WeChat answered that there is no bill for the day (no trades).
    pub no_bill: bool,
    pub declared: Declared,
    pub computed: Totals,
}

impl Summary {
    fn empty_day() -> Summary {
        Summary {
            line: None,
            no_bill: true,
            declared: Declared::default(),
            computed: Totals::default(),
        }
    }

    /// Every total the summary declares that the detail lines do not add up to.
    pub fn disagreements(&self) -> Vec<Disagreement> {
        let d = &self.declared;
        let c = &self.computed;
        let count = i64::try_from(c.count).unwrap_or(i64::MAX);
        let declared_count = i64::try_from(d.count).unwrap_or(i64::MAX);
        [
            ("总交易单数", Some(declared_count), count),
            ("应结订单总金额", d.settled_fen, c.settled_fen),
            ("退款总金额", d.refund_fen, c.refund_fen),
            (
                "充值券退款总金额",
                d.recharge_refund_fen,
                c.recharge_refund_fen,
            ),
            ("手续费总金额", d.fee_millifen, c.fee_millifen),
            ("订单总金额", d.order_fen, c.order_fen),
            (
                "申请退款总金额",
                d.requested_refund_fen,
                c.requested_refund_fen,
            ),
        ]
        .into_iter()
        .filter_map(|(column, declared, computed)| match declared {
            Some(declared) if declared != computed => Some(Disagreement {
                column,
                declared,
                computed,
            }),
            _ => None,
        })
        .collect()
    }

    /// [`BillError::SummaryMismatch`] if the summary and the lines disagree.
    pub fn check(&self) -> Result<(), BillError> {
        let d = self.disagreements();
        if d.is_empty() {
            Ok(())
        } else {
            Err(BillError::SummaryMismatch(Disagreements(d)))
        }
    }
}

/// The disagreements of a [`BillError::SummaryMismatch`], shown in yuan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreements(pub Vec<Disagreement>);

impl fmt::Display for Disagreements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let show = |v: i64| match d.column {
                "总交易单数" => v.to_string(),
                "手续费总金额" => yuan(v, 5),
                _ => yuan(v, 2),
            };
            write!(
                f,
                "{} declares {}, the lines add up to {}",
                d.column,
                show(d.declared),
                show(d.computed)
            )?;
        }
        Ok(())
    }
}

/// `v` units of 10^-scale yuan, printed as the bill prints it.
pub fn yuan(v: i64, scale: u32) -> String {
    let unit = 10i64.pow(scale);
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let unit = unit as u64;
    format!(
        "{sign}{}.{:0width$}",
        a / unit,
        a % unit,
        width = scale as usize
    )
}

/// Why a bill cannot be read. Line numbers count the file's physical lines from 1 (the
/// detail header).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("the file is empty")]
    Empty,
    #[error("the bill is not generated yet ({0}); fetch it again later")]
    NotReady(String),
    #[error("WeChat refused the download: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("could not read the bill: {0}")]
    Io(String),
    #[error("line {line}: not valid CSV text: {message}")]
    Csv { line: u64, message: String },
    #[error("line {line}: not a trade bill header: it has no {column} column")]
    MissingColumn { line: u64, column: &'static str },
    #[error("line {line}: the header names {column} twice")]
    DuplicateColumn { line: u64, column: String },
    #[error("line {line}: {found} columns where the header has {expected}")]
    ColumnCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, {column}: the value does not start with a backtick")]
    NoBacktick { line: u64, column: String },
    #[error("line {line}, {column}: {value:?} is not an amount in yuan")]
    BadAmount {
        line: u64,
        column: String,
        value: String,
    },
    #[error("line {line}, {column}: {value:?} is not a time (yyyy-MM-dd HH:mm:ss)")]
    BadTime {
        line: u64,
        column: String,
        value: String,
    },
    #[error("line {line}, {column}: unknown value {value:?}")]
    BadValue {
        line: u64,
        column: String,
        value: String,
    },
    #[error("line {line}: {what}")]
    BadLine { line: u64, what: &'static str },
    #[error("the file ends after line {line} without its summary")]
    NoSummary { line: u64 },
    #[error("the summary disagrees with the detail lines: {0}")]
    SummaryMismatch(Disagreements),
}

impl BillError {
    /// A stable code the web layer translates.
    pub fn code(&self) -> &'static str {
        match self {
            BillError::Empty => "bill_empty",
            BillError::NotReady(_) => "bill_not_ready",
            BillError::Refused { .. } => "bill_refused",
            BillError::Io(_) => "bill_io",
            BillError::Csv { .. } => "bill_bad_csv",
            BillError::MissingColumn { .. } => "bill_missing_column",
            BillError::DuplicateColumn { .. } => "bill_duplicate_column",
            BillError::ColumnCount { .. } => "bill_column_count",
            BillError::NoBacktick { .. } => "bill_no_backtick",
            BillError::BadAmount { .. } => "bill_bad_amount",
            BillError::BadTime { .. } => "bill_bad_time",
            BillError::BadValue { .. } => "bill_bad_value",
            BillError::BadLine { .. } => "bill_bad_line",
            BillError::NoSummary { .. } => "bill_no_summary",
            BillError::SummaryMismatch(_) => "bill_summary_mismatch",
        }
    }

    /// The line the error is about, if it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            BillError::Csv { line, .. }
            | BillError::MissingColumn { line, .. }
            | BillError::DuplicateColumn { line, .. }
            | BillError::ColumnCount { line, .. }
            | BillError::NoBacktick { line, .. }
            | BillError::BadAmount { line, .. }
            | BillError::BadTime { line, .. }
            | BillError::BadValue { line, .. }
            | BillError::BadLine { line, .. }
            | BillError::NoSummary { line } => Some(*line),
            _ => None,
        }
    }
}

impl From<std::io::Error> for BillError {
    fn from(e: std::io::Error) -> Self {
        BillError::Io(e.to_string())
    }
}

/// A detail column, whatever its name in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    TradeTime,
    AppId,
    MchId,
    SubMchId,
    Device,
    TransactionId,
    OutTradeNo,
    OpenId,
    TradeType,
    State,
    Bank,
    Currency,
    Settled,
    LegacyTotal,
    Coupon,
    RefundRequestedAt,
    RefundSucceededAt,
    RefundId,
    OutRefundNo,
    RefundAmount,
    RechargeRefund,
    RefundType,
    RefundStatus,
    Product,
    Attach,
    Fee,
    Rate,
    OrderAmount,
    RequestedRefund,
    RateNote,
}

const COLS: usize = Col::RateNote as usize + 1;

impl Col {
    fn of(name: &str) -> Option<Col> {
        Some(match name {
            "交易时间" => Col::TradeTime,
            "公众账号ID" => Col::AppId,
            "商户号" => Col::MchId,
            "特约商户号" | "子商户号" => Col::SubMchId,
            "设备号" => Col::Device,
            "微信订单号" => Col::TransactionId,
            "商户订单号" => Col::OutTradeNo,
            "用户标识" => Col::OpenId,
            "交易类型" => Col::TradeType,
            "交易状态" => Col::State,
            "付款银行" => Col::Bank,
            "货币种类" => Col::Currency,
            "应结订单金额" => Col::Settled,
            "总金额" => Col::LegacyTotal,
            "代金券金额" | "代金券或立减优惠金额" | "企业红包金额" => {
                Col::Coupon
            }
            "退款申请时间" => Col::RefundRequestedAt,
            "退款成功时间" => Col::RefundSucceededAt,
            "微信退款单号" => Col::RefundId,
            "商户退款单号" => Col::OutRefundNo,
            "退款金额" => Col::RefundAmount,
            "充值券退款金额" | "代金券或立减优惠退款金额" | "企业红包退款金额" => {
                Col::RechargeRefund
            }
            "退款类型" => Col::RefundType,
            "退款状态" => Col::RefundStatus,
            "商品名称" => Col::Product,
            "商户数据包" => Col::Attach,
            "手续费" => Col::Fee,
            "费率" => Col::Rate,
            "订单金额" => Col::OrderAmount,
            "申请退款金额" => Col::RequestedRefund,
            "费率备注" => Col::RateNote,
            _ => return None,
        })
    }
}

/// Which record field holds each column.
#[derive(Debug, Clone)]
struct Columns {
    at: [Option<usize>; COLS],
    names: Vec<String>,
}

impl Columns {
    fn from_header(rec: &csv::StringRecord, line: u64) -> Result<(Columns, Layout), BillError> {
        let names: Vec<String> = rec.iter().map(|h| h.trim().to_string()).collect();
        let mut at = [None; COLS];
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(BillError::DuplicateColumn {
                    line,
                    column: name.clone(),
                });
            }
            if let Some(c) = Col::of(name) {
                if at[c as usize].is_some() {
                    return Err(BillError::DuplicateColumn {
                        line,
                        column: name.clone(),
                    });
                }
                at[c as usize] = Some(i);
            }
        }
        let has = |c: Col| at[c as usize].is_some();
        let required = [
            (Col::TradeTime, "交易时间"),
            (Col::TransactionId, "微信订单号"),
            (Col::OutTradeNo, "商户订单号"),
            (Col::State, "交易状态"),
            (Col::Coupon, "代金券金额"),
            (Col::Fee, "手续费"),
        ];
        for (c, column) in required {
            if !has(c) {
                return Err(BillError::MissingColumn { line, column });
            }
        }
        let legacy = match (has(Col::Settled), has(Col::LegacyTotal)) {
            (true, false) => false,
            (false, true) => true,
            (false, false) => {
                return Err(BillError::MissingColumn {
                    line,
                    column: "应结订单金额",
                })
            }
            (true, true) => {
                return Err(BillError::DuplicateColumn {
                    line,
                    column: "总金额".into(),
                })
            }
        };
        let kind = if has(Col::RefundRequestedAt) {
            BillKind::Refund
        } else if has(Col::OutRefundNo) {
            BillKind::All
        } else {
            BillKind::Success
        };
        if kind != BillKind::Success {
            for (c, column) in [
                (Col::RefundId, "微信退款单号"),
                (Col::OutRefundNo, "商户退款单号"),
                (Col::RefundAmount, "退款金额"),
                (Col::RefundStatus, "退款状态"),
            ] {
                if !has(c) {
                    return Err(BillError::MissingColumn { line, column });
                }
            }
        }
        let layout = Layout {
            kind,
            legacy,
            columns: names.clone(),
        };
        Ok((Columns { at, names }, layout))
    }

    fn name(&self, c: Col) -> String {
        self.at[c as usize]
            .map(|i| self.names[i].clone())
            .unwrap_or_default()
    }
}

/// The record's fields, checked for their backticks and parsed.
///
/// The record is checked as UTF-8 in one pass over all its values, then each value is a
/// slice of that text (cut at a character boundary, or the line is refused).
fn parse_line<'r>(
    rec: &'r csv::ByteRecord,
    line: u64,
    cols: &Columns,
    kind: BillKind,
    days: &mut DayCache,
) -> Result<BillLine<&'r str>, BillError> {
    if rec.len() != cols.names.len() {
        return Err(BillError::ColumnCount {
            line,
            expected: cols.names.len(),
            found: rec.len(),
        });
    }
    let whole = std::str::from_utf8(rec.as_slice()).map_err(|_| not_utf8(line))?;
    let last = rec.len() - 1;
    let raw = |i: usize| -> &'r str {
        let v = rec.range(i).and_then(|r| whole.get(r)).unwrap_or("");
        if i == last {
            v.strip_suffix('\r').unwrap_or(v)
        } else {
            v
        }
    };
    for i in 0..rec.len() {
        if rec.range(i).and_then(|r| whole.get(r)).is_none() {
            return Err(not_utf8(line));
        }
        if !raw(i).starts_with('`') {
            return Err(BillError::NoBacktick {
                line,
                column: cols.names[i].clone(),
            });
        }
    }
    let text = |c: Col| -> &'r str {
        match cols.at[c as usize] {
            Some(i) => &raw(i)[1..],
            None => "",
        }
    };
    let amount = |c: Col, scale: u32| -> Result<Option<i64>, BillError> {
        match cols.at[c as usize] {
            None => Ok(None),
            Some(i) => {
                let v = &raw(i)[1..];
                decimal(v, scale)
                    .map(Some)
                    .ok_or_else(|| BillError::BadAmount {
                        line,
                        column: cols.names[i].clone(),
                        value: v.to_string(),
                    })
            }
        }
    };
    let money = |c: Col| amount(c, 2);
    let time = |c: Col| -> Result<Option<NaiveDateTime>, BillError> {
        let v = text(c);
        if v.is_empty() {
            return Ok(None);
        }
        parse_time(v).map(Some).ok_or_else(|| BillError::BadTime {
            line,
            column: cols.name(c),
            value: v.to_string(),
        })
    };
    let bad_value = |c: Col| BillError::BadValue {
        line,
        column: cols.name(c),
        value: text(c).to_string(),
    };

    let trade_time = days
        .parse(text(Col::TradeTime))
        .ok_or_else(|| BillError::BadTime {
            line,
            column: cols.name(Col::TradeTime),
            value: text(Col::TradeTime).to_string(),
        })?;
    let state = TradeState::parse(text(Col::State)).ok_or_else(|| bad_value(Col::State))?;
    let out_trade_no = text(Col::OutTradeNo);
    if out_trade_no.is_empty() {
        return Err(BillError::BadLine {
            line,
            what: "a line without 商户订单号",
        });
    }
    let out_refund_no = text(Col::OutRefundNo);
    if state == TradeState::Refund {
        if kind == BillKind::Success {
            return Err(BillError::BadLine {
                line,
                what: "a refund line in a bill without refund columns",
            });
        }
        if out_refund_no.is_empty() || out_refund_no == "0" {
            return Err(BillError::BadLine {
                line,
                what: "a refund line without 商户退款单号",
            });
        }
    }
    let refund_status = match text(Col::RefundStatus) {
        "" => None,
        s => Some(RefundStatus::parse(s).ok_or_else(|| bad_value(Col::RefundStatus))?),
    };
    let rate_ppm = match text(Col::Rate) {
        "" => None,
        s => Some(
            s.strip_suffix('%')
                .and_then(|p| decimal(p, 4))
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| bad_value(Col::Rate))?,
        ),
    };
    let settled_fen = match money(Col::Settled)? {
        Some(v) => v,
        None => money(Col::LegacyTotal)?.unwrap_or(0),
    };
    Ok(BillLine {
        line,
        trade_time,
        appid: text(Col::AppId),
        mch_id: text(Col::MchId),
        sub_mch_id: text(Col::SubMchId),
        device_info: text(Col::Device),
        transaction_id: text(Col::TransactionId),
        out_trade_no,
        openid: text(Col::OpenId),
        trade_type: text(Col::TradeType),
        state,
        bank_type: text(Col::Bank),
        currency: text(Col::Currency),
        settled_fen,
        coupon_fen: money(Col::Coupon)?.unwrap_or(0),
        refund_requested_at: time(Col::RefundRequestedAt)?,
        refund_succeeded_at: time(Col::RefundSucceededAt)?,
        refund_id: text(Col::RefundId),
        out_refund_no,
        refund_fen: money(Col::RefundAmount)?.unwrap_or(0),
        recharge_refund_fen: money(Col::RechargeRefund)?.unwrap_or(0),
        refund_type: text(Col::RefundType),
        refund_status,
        product: text(Col::Product),
        attach: text(Col::Attach),
        fee_millifen: amount(Col::Fee, 5)?.unwrap_or(0),
        rate_ppm,
        order_fen: money(Col::OrderAmount)?,
        requested_refund_fen: money(Col::RequestedRefund)?,
        rate_note: text(Col::RateNote),
    })
}

fn not_utf8(line: u64) -> BillError {
    BillError::Csv {
        line,
        message: "not UTF-8 text".into(),
    }
}

/// A decimal with at most `scale` (≤ 5) decimals (an optional `-`, 1 to 13 digits, an
/// optional `.` followed by 1 to `scale` digits) as an integer number of 10^-scale
/// units; `None` for anything else, including a value with more decimals (it could not be
/// held exactly).
pub fn decimal(s: &str, scale: u32) -> Option<i64> {
    const POW10: [i64; 6] = [1, 10, 100, 1_000, 10_000, 100_000];
    let b = s.as_bytes();
    let (negative, b) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let mut v: i64 = 0;
    let mut i = 0;
    while i < b.len() {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + i64::from(d);
        i += 1;
        if i > 13 {
            return None;
        }
    }
    if i == 0 {
        return None;
    }
    let mut decimals = 0;
    if i < b.len() {
        if b[i] != b'.' {
            return None;
        }
        for &c in &b[i + 1..] {
            let d = c.wrapping_sub(b'0');
            if d > 9 || decimals == scale as usize {
                return None;
            }
            v = v * 10 + i64::from(d);
            decimals += 1;
        }
        if decimals == 0 {
            return None;
        }
    }
    let v = v * POW10.get(scale as usize - decimals)?;
    Some(if negative { -v } else { v })
}

/// The date of the last time parsed: a bill's lines are all of one or two days, and
/// `NaiveDate` checks its calendar on every construction.
#[derive(Debug, Default)]
struct DayCache {
    last: Option<([u8; 10], NaiveDate)>,
}

impl DayCache {
    fn parse(&mut self, s: &str) -> Option<NaiveDateTime> {
        let b = s.as_bytes();
        if b.len() != 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let date = match self.last {
            Some((bytes, date)) if bytes == b[..10] => date,
            _ => {
                let date = parse_time(&format!("{} 00:00:00", &s[..10]))?.date();
                self.last = Some((b[..10].try_into().ok()?, date));
                date
            }
        };
        let n = |at: usize| -> Option<u32> {
            let (h, l) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
            (h <= 9 && l <= 9).then(|| u32::from(h * 10 + l))
        };
        date.and_hms_opt(n(11)?, n(14)?, n(17)?)
    }
}

/// `yyyy-MM-dd HH:mm:ss`, the bill's time format (no zone; Beijing time in a bill).
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let n = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(n(0, 4)? as i32, n(5, 7)?, n(8, 10)?)?.and_hms_opt(
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
    )
}

/// Beijing wall time to UTC (UTC+8 all year).
pub fn beijing_to_utc(t: NaiveDateTime) -> NaiveDateTime {
    t - TimeDelta::hours(8)
}

/// UTC to Beijing wall time.
pub fn utc_to_beijing(t: NaiveDateTime) -> NaiveDateTime {
    t + TimeDelta::hours(8)
}

/// The reader's input: the bytes read to recognise the file, then the rest.
type Source<R> = std::io::Chain<std::io::Cursor<Vec<u8>>, R>;

/// Reads one trade bill. See the [module documentation](self).
pub struct BillReader<R: Read> {
    rdr: Option<csv::Reader<Source<R>>>,
    cols: Option<Columns>,
    layout: Option<Layout>,
    rec: csv::ByteRecord,
    days: DayCache,
    totals: Totals,
    summary: Option<Summary>,
    failed: Option<BillError>,
    last_line: u64,
}

impl<R: Read> fmt::Debug for BillReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BillReader")
            .field("layout", &self.layout)
            .field("last_line", &self.last_line)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BillReader<R> {
    /// Opens a bill: recognises WeChat's no-bill and not-ready answers, skips a BOM and
    /// reads the detail header.
    pub fn new(mut r: R) -> Result<BillReader<R>, BillError> {
        let mut head = Vec::with_capacity(64);
        (&mut r).take(64).read_to_end(&mut head)?;
        let ended = head.len() < 64;
        if head.starts_with(BOM) {
            head.drain(..BOM.len());
        }
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            None if ended => return Err(BillError::Empty),
            Some(b'<') | Some(b'{') => {
                (&mut r).take(MAX_ANSWER).read_to_end(&mut head)?;
                answer(&head)?;
                return Ok(BillReader::empty_day());
            }
            _ => {}
        }
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .quoting(false)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(1 << 16)
            .from_reader(std::io::Cursor::new(head).chain(r));
        let mut rec = csv::ByteRecord::new();
        if !read_record(&mut rdr, &mut rec, 1)? {
            return Err(BillError::Empty);
        }
        let line = line_of(&rec);
        let (cols, layout) = Columns::from_header(&text_record(&rec, line)?, line)?;
        Ok(BillReader {
            rdr: Some(rdr),
            cols: Some(cols),
            layout: Some(layout),
            rec,
            days: DayCache::default(),
            totals: Totals::default(),
            summary: None,
            failed: None,
            last_line: line,
        })
    }

    fn empty_day() -> BillReader<R> {
        BillReader {
            rdr: None,
            cols: None,
            layout: None,
            rec: csv::ByteRecord::new(),
            days: DayCache::default(),
            totals: Totals::default(),
            summary: Some(Summary::empty_day()),
            failed: None,
            last_line: 0,
        }
    }

    /// WeChat answered that there is no bill for the day: it has no lines, and its
    /// [`BillReader::finish`] a zero summary with [`Summary::no_bill`].
    pub fn no_bill(&self) -> bool {
        self.layout.is_none()
    }

    /// The file's layout (`None` for the no-bill answer).
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// The bill's kind (`None` for the no-bill answer, which does not say which kind was
    /// asked for: the caller knows).
    pub fn kind(&self) -> Option<BillKind> {
        self.layout.as_ref().map(|l| l.kind)
    }

    /// The next detail line, borrowed from the reader until the next call; `None` after
    /// the last one (the summary has then been read) or after an error (which
    /// [`BillReader::finish`] returns again).
    pub fn next_line(&mut self) -> Option<Result<BillLine<&str>, BillError>> {
        if self.summary.is_some() || self.failed.is_some() {
            return None;
        }
        let rdr = self.rdr.as_mut()?;
        let cols = self.cols.as_ref()?;
        let kind = self.layout.as_ref()?.kind;
        let fail = |failed: &mut Option<BillError>, e: BillError| {
            *failed = Some(e.clone());
            Some(Err(e))
        };
        match read_record(rdr, &mut self.rec, self.last_line + 1) {
            Err(e) => return fail(&mut self.failed, e),
            Ok(false) => {
                let e = BillError::NoSummary {
                    line: self.last_line,
                };
                return fail(&mut self.failed, e);
            }
            Ok(true) => {}
        }
        let line = line_of(&self.rec);
        self.last_line = line;
        if self.rec.get(0).map(<[u8]>::trim_ascii) == Some(SUMMARY_FIRST.as_bytes()) {
            return match read_summary(rdr, &mut self.rec, line, self.totals) {
                Ok(s) => {
                    self.summary = Some(s);
                    None
                }
                Err(e) => fail(&mut self.failed, e),
            };
        }
        match parse_line(&self.rec, line, cols, kind, &mut self.days) {
            Ok(l) => {
                self.totals.add(&l);
                Some(Ok(l))
            }
            Err(e) => fail(&mut self.failed, e),
        }
    }

    /// The detail lines as owned values, one at a time.
    pub fn lines(&mut self) -> Lines<'_, R> {
        Lines { reader: self }
    }

    /// Reads whatever lines are left and returns the summary beside the lines' own sums
    /// (checking them against each other is [`Summary::check`]), or the error that
    /// stopped the reading.
    pub fn finish(mut self) -> Result<Summary, BillError> {
        while let Some(l) = self.next_line() {
            l?;
        }
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.summary.ok_or(BillError::NoSummary {
            line: self.last_line,
        })
    }
}

/// The owning iterator over a bill's detail lines ([`BillReader::lines`]).
pub struct Lines<'a, R: Read> {
    reader: &'a mut BillReader<R>,
}

impl<R: Read> Iterator for Lines<'_, R> {
    type Item = Result<BillLine<String>, BillError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.reader
            .next_line()
            .map(|r| r.map(|l| l.to_owned_line()))
    }
}

/// The next record that is not a blank line; `false` at the end.
fn read_record<S: Read>(
    rdr: &mut csv::Reader<S>,
    rec: &mut csv::ByteRecord,
    next_line: u64,
) -> Result<bool, BillError> {
    loop {
        if !rdr
            .read_byte_record(rec)
            .map_err(|e| csv_error(e, next_line))?
        {
            return Ok(false);
        }
        if rec.len() > 1 || rec.get(0).is_some_and(|f| !f.trim_ascii().is_empty()) {
            return Ok(true);
        }
    }
}

fn line_of(rec: &csv::ByteRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

/// A header or summary record as text.
fn text_record(rec: &csv::ByteRecord, line: u64) -> Result<csv::StringRecord, BillError> {
    csv::StringRecord::from_byte_record(rec.clone()).map_err(|_| not_utf8(line))
}

fn csv_error(e: csv::Error, line: u64) -> BillError {
    let line = e.position().map_or(line, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => BillError::Io(io.to_string()),
        _ => BillError::Csv {
            line,
            message: e.to_string(),
        },
    }
}

/// The summary header is in `rec`; reads the summary line and checks that nothing follows.
fn read_summary<S: Read>(
    rdr: &mut csv::Reader<S>,
    rec: &mut csv::ByteRecord,
    header_line: u64,
    computed: Totals,
) -> Result<Summary, BillError> {
    let names: Vec<String> = text_record(rec, header_line)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(BillError::DuplicateColumn {
                line: header_line,
                column: name.clone(),
            });
        }
    }
    if !read_record(rdr, rec, header_line + 1)? {
        return Err(BillError::NoSummary { line: header_line });
    }
    let line = line_of(rec);
    if rec.len() != names.len() {
        return Err(BillError::ColumnCount {
            line,
            expected: names.len(),
            found: rec.len(),
        });
    }
    let values = text_record(rec, line)?;
    let mut declared = Declared::default();
    for (name, v) in names.iter().zip(values.iter()) {
        let v = v.strip_suffix('\r').unwrap_or(v);
        let v = v.strip_prefix('`').ok_or_else(|| BillError::NoBacktick {
            line,
            column: name.clone(),
        })?;
        let bad = || BillError::BadAmount {
            line,
            column: name.clone(),
            value: v.to_string(),
        };
        let money = || decimal(v, 2).ok_or_else(bad);
        match name.as_str() {
            SUMMARY_FIRST => {
                declared.count = v
                    .parse::<u64>()
                    .ok()
                    .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(bad)?
            }
            "应结订单总金额" | "总交易额" => declared.settled_fen = Some(money()?),
            "退款总金额" | "总退款金额" => declared.refund_fen = Some(money()?),
            "充值券退款总金额" | "总代金券或立减优惠退款金额" | "总企业红包退款金额" => {
                declared.recharge_refund_fen = Some(money()?)
            }
            "手续费总金额" | "总手续费金额" => {
                declared.fee_millifen = Some(decimal(v, 5).ok_or_else(bad)?)
            }
            "订单总金额" => declared.order_fen = Some(money()?),
            "申请退款总金额" => declared.requested_refund_fen = Some(money()?),
            _ => {}
        }
    }
    if read_record(rdr, rec, line + 1)? {
        return Err(BillError::BadLine {
            line: line_of(rec),
            what: "a line after the summary",
        });
    }
    Ok(Summary {
        line: Some(line),
        no_bill: false,
        declared,
        computed,
    })
}

/// WeChat's answer instead of a file: `Ok` for "no bill for that day", an error for the
/// rest.
fn answer(body: &[u8]) -> Result<(), BillError> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let (code, message) = if text.starts_with('<') {
        let code = xml_field(text, "error_code")
            .or_else(|| xml_field(text, "return_code"))
            .unwrap_or_default();
        (code, xml_field(text, "return_msg").unwrap_or_default())
    } else {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| BillError::Csv {
            line: 1,
            message: "neither a bill nor an answer from WeChat".into(),
        })?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        (field("code"), field("message"))
    };
    if code == "20002"
        || code == "NO_STATEMENT_EXIST"
        || message.eq_ignore_ascii_case("No Bill Exist")
    {
        return Ok(());
    }
    if code == "STATEMENT_CREATING" || message.eq_ignore_ascii_case("Bill Creating") {
        return Err(BillError::NotReady(
            format!("{code} {message}").trim().into(),
        ));
    }
    Err(BillError::Refused { code, message })
}

/// The text of `<tag>…</tag>`, CDATA unwrapped.
fn xml_field(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let v = xml[start..end].trim();
    let v = v
        .strip_prefix("<![CDATA[")
        .and_then(|v| v.strip_suffix("]]>"))
        .unwrap_or(v);
    Some(v.to_string())
}
