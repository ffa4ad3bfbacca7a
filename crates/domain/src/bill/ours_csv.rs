//! Our side of a day as one CSV file: payments and refunds, one per row, the shape of
//! [`Payment`] and [`Refund`]. The benchmark writes the synthetic day's records this way
//! and its Rust, polars and pandas contenders all read the same file.
//!
//! Columns ([`HEADER`]): `kind` (`payment` or `refund`), `id`, `out_trade_no`,
//! `transaction_id` (payments; empty when unknown), `status` ([`PayStatus::as_str`] or
//! [`RefundStatus::as_str`]), `amount_fen`, `coupon_fen` (payments), `at_utc` (paid or
//! asked, `yyyy-MM-dd HH:mm:ss` UTC; empty for an unpaid payment), `out_refund_no` and
//! `refund_id` (refunds; the id empty when unknown). The reader lends each row's fields
//! (no allocation per row) and names the line of a bad one.

use super::matcher::{PayStatus, Payment, Refund};
use super::parse::{parse_time, RefundStatus};
use super::synth::Record;
use std::io::{self, Read, Write};

pub const HEADER: &str =
    "kind,id,out_trade_no,transaction_id,status,amount_fen,coupon_fen,at_utc,out_refund_no,refund_id";

/// One row, fields borrowed from the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row<'a> {
    Payment(Payment<&'a str>),
    Refund(Refund<&'a str>),
}

/// A row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct RowError {
    pub line: u64,
    pub what: String,
}

pub fn write_header(w: &mut impl Write) -> io::Result<()> {
    w.write_all(HEADER.as_bytes())?;
    w.write_all(b"\n")
}

/// Writes one record. Keys are written as they are: this file's keys never hold a comma,
/// a quote or a line break (WeChat's `out_trade_no` is letters, digits and `_-|*`).
pub fn write_record(w: &mut impl Write, r: &Record) -> io::Result<()> {
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    match r {
        Record::Payment(p) => writeln!(
            w,
            "payment,{},{},{},{},{},{},{},,",
            p.id,
            p.out_trade_no,
            p.transaction_id.as_deref().unwrap_or(""),
            p.status.as_str(),
            p.amount_fen,
            p.coupon_fen,
            p.paid_at.map(at).unwrap_or_default(),
        ),
        Record::Refund(f) => writeln!(
            w,
            "refund,{},{},,{},{},0,{},{},{}",
            f.id,
            f.out_trade_no,
            f.status.as_str(),
            f.amount_fen,
            at(f.requested_at),
            f.out_refund_no,
            f.refund_id.as_deref().unwrap_or(""),
        ),
    }
}

/// Reads every row into `each`; stops at the first bad row.
pub fn read(r: impl Read, mut each: impl FnMut(Row<'_>)) -> Result<u64, RowError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 16)
        .from_reader(r);
    let bad = |line: u64, what: &str| RowError {
        line,
        what: what.to_string(),
    };
    let header = rdr.headers().map_err(|e| bad(1, &e.to_string()))?;
    if header.iter().collect::<Vec<_>>().join(",") != HEADER {
        return Err(bad(1, "the header is not the one expected"));
    }
    let mut rec = csv::StringRecord::new();
    let mut rows = 0;
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => return Ok(rows),
            Err(e) => return Err(bad(rows + 2, &e.to_string())),
        }
        let line = rec.position().map_or(rows + 2, |p| p.line());
        let int = |i: usize, what: &str| rec[i].parse::<i64>().map_err(|_| bad(line, what));
        let opt = |i: usize| Some(&rec[i]).filter(|s| !s.is_empty());
        let at = |i: usize| match &rec[i] {
            "" => Ok(None),
            s => parse_time(s)
                .map(Some)
                .ok_or_else(|| bad(line, "bad at_utc")),
        };
        let row = match &rec[0] {
            "payment" => Row::Payment(Payment {
                id: int(1, "bad id")?,
                out_trade_no: &rec[2],
                transaction_id: opt(3),
                status: PayStatus::parse(&rec[4]).ok_or_else(|| bad(line, "bad status"))?,
                amount_fen: int(5, "bad amount_fen")?,
                coupon_fen: int(6, "bad coupon_fen")?,
                paid_at: at(7)?,
            }),
            "refund" => Row::Refund(Refund {
                id: int(1, "bad id")?,
                out_trade_no: &rec[2],
                out_refund_no: &rec[8],
                refund_id: opt(9),
                status: RefundStatus::parse(&rec[4]).ok_or_else(|| bad(line, "bad status"))?,
                amount_fen: int(5, "bad amount_fen")?,
                requested_at: at(7)?.ok_or_else(|| bad(line, "a refund without at_utc"))?,
            }),
            _ => return Err(bad(line, "kind is neither payment nor refund")),
        };
        each(row);
        rows += 1;
    }
}
