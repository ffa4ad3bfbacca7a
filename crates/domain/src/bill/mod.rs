//! WeChat Pay trade bills (交易账单) and the daily reconciliation against our own records:
//! a streaming parser ([`parse`]), the matcher that sorts every item of a day into one
//! category ([`matcher`]), a generator of synthetic days with known discrepancies for
//! tests and the benchmark ([`synth`]) and the CSV file of our side of a day that the
//! benchmark's contenders read ([`ours_csv`]). Pure: no database, no HTTP; the parser reads any
//! [`std::io::Read`] and the generator writes any [`std::io::Write`].
//!
//! The format (protocol notes §6.3): a detail header, detail lines, a summary header that
//! starts with `总交易单数` and one summary line; comma-separated, every detail and summary
//! value prefixed with one backtick, headers not; a UTF-8 BOM and CRLF line ends in real
//! downloads. Columns are found by their header names, never by position, so the ALL (27
//! columns), SUCCESS (20) and REFUND (29) layouts of today and the legacy layout of some
//! pre-2018 merchants (`子商户号`, `总金额`, `代金券或立减优惠金额`, or `企业红包金额`) go through
//! one code path, and a column WeChat adds later is read past.
//!
//! Decisions, and why:
//! - **Money is integers.** Amounts are yuan with two decimals and become fen (`i64`);
//!   the fee (`手续费`) has five decimals and becomes thousandths of a fen
//!   (`fee_millifen`), so `0.04000` is 4,000 and nothing is rounded. A value with more
//!   decimals than that is an error, not a rounding: no float ever holds money.
//! - **Times are Beijing wall time** as printed (`yyyy-MM-dd HH:mm:ss`); our records are
//!   UTC. [`parse::beijing_to_utc`] is the one conversion (China has no daylight saving).
//! - **Anything unexpected refuses the file** with its line number: a line whose column
//!   count differs from its header's, a value without its backtick, an amount, time, state
//!   or rate that does not parse, a refund line without a refund number, a line after the
//!   summary, a file that ends before its summary. How WeChat would escape a comma inside
//!   a product name is undocumented; the format has no quoting, so such a line fails on its
//!   column count rather than being read wrongly.
//! - **The empty day.** For a day without trades WeChat answers the download with an
//!   error instead of a file: API v2 `<xml><return_code>FAIL</return_code><return_msg>No
//!   Bill Exist</return_msg><error_code>20002</error_code></xml>`, API v3 HTTP 400
//!   `{"code":"NO_STATEMENT_EXIST","message":"请求的账单文件不存在"}`. Both are read as a
//!   bill with no lines ([`parse::BillReader::no_bill`]); a file with both headers, no
//!   detail line and a zero summary is the same day. "Not generated yet" (v2 `Bill
//!   Creating`, v3 `STATEMENT_CREATING`) is [`parse::BillError::NotReady`]: fetch again
//!   later, never treat it as an empty day.
//! - **The summary is checked**, by header name (the SUCCESS summary has 4 columns in
//!   today's documentation and 7 in real 2019 files), against the sums of the detail
//!   lines. A disagreement is reported, not thrown: [`parse::Summary::disagreements`] and
//!   [`parse::Summary::check`] (which makes it the distinct
//!   [`parse::BillError::SummaryMismatch`]); the caller decides whether to refuse the run.

pub mod matcher;
pub mod ours_csv;
pub mod parse;
pub mod synth;

#[cfg(test)]
mod tests;

pub use matcher::{
    Category, Counts, Item, ItemKind, MatchError, MatchOptions, Matcher, PayStatus, Payment,
    Refund, Report,
};
pub use parse::{
    BillError, BillKind, BillLine, BillReader, Layout, RefundStatus, Summary, Totals, TradeState,
};
