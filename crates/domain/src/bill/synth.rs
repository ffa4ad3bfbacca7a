//! Synthetic days: a trade bill (ALL layout, BOM, CRLF, backticks, exactly as WeChat
//! writes it) and our records for the same day, with a known mix of discrepancies
//! injected, and the counts per category that [`super::Matcher`] must find. Seeded and
//! deterministic, so that tests, the benchmark and its polars and pandas scripts all see
//! the same day.
//!
//! About one case in a hundred goes to each kind of discrepancy (see [`generate`]); the
//! rest are matched payments and refunds. Our records come out in case order through a
//! callback, so a million of them need not be held.

use super::matcher::{fee_fen, Category, Counts, PayStatus, Payment, Refund};
use super::parse::{beijing_to_utc, yuan, RefundStatus};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use std::io::{self, Write};

/// The ALL layout's header.
pub const ALL_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
/// The ALL and REFUND layouts' summary header.
pub const ALL_SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// The bill's day (Beijing).
    pub day: NaiveDate,
    /// Cases to generate: about one bill line or record of ours each.
    pub cases: usize,
    pub seed: u64,
    /// The contracted rate the bill's lines carry, in millionths.
    pub fee_rate_ppm: u32,
    /// The matcher's pending window; cases are placed on both sides of its edge.
    pub window: TimeDelta,
}

impl SynthOptions {
    pub fn new(day: NaiveDate, cases: usize, seed: u64) -> SynthOptions {
        SynthOptions {
            day,
            cases,
            seed,
            fee_rate_ppm: 6_000,
            window: TimeDelta::minutes(15),
        }
    }
}

/// One record of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Payment(Payment),
    Refund(Refund),
}

/// SplitMix64: small, seeded, the same on every platform (the synthetic days here and
/// the benchmark's).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

/// A bill line being written.
struct Line<'a> {
    time: NaiveDateTime,
    txid: String,
    out_trade_no: String,
    state: &'static str,
    trade_type: &'static str,
    settled: i64,
    coupon: i64,
    refund_id: String,
    out_refund_no: String,
    refund: i64,
    refund_status: &'static str,
    fee: i64,
    rate: &'a str,
    order: i64,
    requested: i64,
}

impl Line<'_> {
    fn write(&self, w: &mut impl Write, openid: &str) -> io::Result<()> {
        let refund_type = if self.state == "REFUND" {
            "ORIGINAL"
        } else {
            ""
        };
        write!(
            w,
            "`{},`wx2421b1c4370ec43b,`1900000109,`0,`,`{},`{},`{},`{},`{},`CMB_DEBIT,`CNY,`{},`{},`{},`{},`{},`0.00,`{},`{},`会员卡充值,`,`{},`{},`{},`{},`\r\n",
            self.time.format("%Y-%m-%d %H:%M:%S"),
            self.txid,
            self.out_trade_no,
            openid,
            self.trade_type,
            self.state,
            yuan(self.settled, 2),
            yuan(self.coupon, 2),
            self.refund_id,
            self.out_refund_no,
            yuan(self.refund, 2),
            refund_type,
            self.refund_status,
            yuan(self.fee, 5),
            self.rate,
            yuan(self.order, 2),
            yuan(self.requested, 2),
        )
    }
}

/// Sums written, for the summary line.
#[derive(Default)]
struct Sums {
    count: u64,
    settled: i64,
    refund: i64,
    fee: i64,
    order: i64,
    requested: i64,
}

/// Writes the day's bill to `bill` and hands our records to `ours`; returns the counts
/// the matcher must find with [`super::MatchOptions`] of the same window and
/// `fee_rate_ppm: Some(o.fee_rate_ppm)`.
///
/// Cases, per thousand: 10 missing here; 10 missing at WeChat; 15 status mismatches
/// (unpaid here, or another transaction id); 10 amount and 10 coupon mismatches; 10 fee
/// mismatches (7 a fen off, 3 at another rate); 10 payment and 2 unknown-order lines
/// repeated at the end of the file (the first of each classified, the repeat a
/// duplicate); 10 refunds not synced; 10 pending (paid in the last window of the day), 2
/// one second before the window (missing at WeChat) and 1 exactly at its start (pending);
/// 3 in the window and in the bill (matched); refunds: 5 missing at WeChat, 5 amount and 5
/// state mismatches, 2 pending, 2 repeated; 3 revoked micropays; 75 matched refunds; 5
/// unpaid orders and 2 closed refunds that no line names (no item); the rest matched
/// payments, one in ten of them refunded since.
pub fn generate<W: Write>(
    o: &SynthOptions,
    bill: &mut W,
    mut ours: impl FnMut(Record) -> io::Result<()>,
) -> io::Result<Counts> {
    let mut rng = Rng(o.seed);
    let mut counts = Counts::default();
    let mut sums = Sums::default();
    let mut repeats: Vec<Line> = Vec::new();
    let midnight = o.day.and_hms_opt(0, 0, 0).expect("midnight");
    let ymd = o.day.format("%Y%m%d").to_string();
    let day_secs = 86_400i64;
    let window = o.window.num_seconds();
    let rate = o.fee_rate_ppm;
    let rate_text = rate_text(rate);
    let rate_text = rate_text.as_str();
    bill.write_all(b"\xEF\xBB\xBF")?;
    bill.write_all(ALL_HEADER.as_bytes())?;
    bill.write_all(b"\r\n")?;
    let emit = |l: &Line, sums: &mut Sums, bill: &mut W| -> io::Result<()> {
        sums.count += 1;
        sums.settled += l.settled;
        sums.refund += l.refund;
        sums.fee += l.fee;
        sums.order += l.order;
        sums.requested += l.requested;
        let openid = format!("oUpF8u{:022}", sums.count);
        l.write(bill, &openid)
    };
    for i in 0..o.cases {
        let r = rng.below(1000);
        let id = i as i64 + 1;
        // Times of day: the window's cases get the last `window` seconds, the rest stay
        // clear of it.
        let normal_at = midnight + TimeDelta::seconds(rng.range(0, day_secs - window - 2));
        let window_at = midnight + TimeDelta::seconds(rng.range(day_secs - window, day_secs - 1));
        let amount = rng.range(100, 200_000);
        let coupon = if rng.below(5) == 0 {
            rng.range(1, (amount / 2).min(5_000))
        } else {
            0
        };
        let settled = amount - coupon;
        let out_trade_no = format!("P{ymd}{i:010}");
        let txid = format!("4200001{ymd}{i:013}");
        let payment_line = |time: NaiveDateTime| Line {
            time,
            txid: txid.clone(),
            out_trade_no: out_trade_no.clone(),
            state: "SUCCESS",
            trade_type: "JSAPI",
            settled,
            coupon,
            refund_id: "0".into(),
            out_refund_no: "0".into(),
            refund: 0,
            refund_status: "",
            fee: fee_fen(settled, rate) * 1000,
            rate: rate_text,
            order: amount,
            requested: 0,
        };
        let payment = |time: NaiveDateTime| Payment {
            id,
            out_trade_no: out_trade_no.clone(),
            transaction_id: Some(txid.clone()),
            status: PayStatus::Paid,
            amount_fen: amount,
            coupon_fen: coupon,
            paid_at: Some(beijing_to_utc(time)),
        };
        // Refunds are of orders of earlier days.
        let refund_amount = rng.range(1, amount);
        let out_refund_no = format!("R{ymd}{i:010}");
        let refund_id = format!("50300{ymd}{i:016}");
        let refund_line = |time: NaiveDateTime, status: &'static str| Line {
            time,
            txid: txid.clone(),
            out_trade_no: out_trade_no.clone(),
            state: "REFUND",
            trade_type: "JSAPI",
            settled: 0,
            coupon: 0,
            refund_id: refund_id.clone(),
            out_refund_no: out_refund_no.clone(),
            refund: refund_amount,
            refund_status: status,
            fee: -fee_fen(refund_amount, rate) * 1000,
            rate: rate_text,
            order: 0,
            requested: refund_amount,
        };
        let refund = |time: NaiveDateTime, status: RefundStatus| Refund {
            id,
            out_trade_no: out_trade_no.clone(),
            out_refund_no: out_refund_no.clone(),
            refund_id: Some(refund_id.clone()),
            status,
            amount_fen: refund_amount,
            requested_at: beijing_to_utc(time),
        };
        match r {
            0..10 => {
                let mut l = payment_line(normal_at);
                l.out_trade_no = format!("X{ymd}{i:010}");
                emit(&l, &mut sums, bill)?;
                counts.add(Category::MissingHere);
            }
            10..20 => {
                ours(Record::Payment(payment(normal_at)))?;
                counts.add(Category::MissingAtWechat);
            }
            20..30 => {
                emit(&payment_line(normal_at), &mut sums, bill)?;
                let mut p = payment(normal_at);
                p.status = PayStatus::Unpaid;
                p.transaction_id = None;
                p.paid_at = None;
                ours(Record::Payment(p))?;
                counts.add(Category::StatusMismatch);
            }
            30..35 => {
                emit(&payment_line(normal_at), &mut sums, bill)?;
                let mut p = payment(normal_at);
                p.transaction_id = Some(format!("4200009{ymd}{i:013}"));
                ours(Record::Payment(p))?;
                counts.add(Category::StatusMismatch);
            }
            35..45 => {
                emit(&payment_line(normal_at), &mut sums, bill)?;
                let mut p = payment(normal_at);
                p.amount_fen += rng.range(1, 1_000);
                ours(Record::Payment(p))?;
                counts.add(Category::AmountMismatch);
            }
            45..55 => {
                emit(&payment_line(normal_at), &mut sums, bill)?;
                let mut p = payment(normal_at);
                p.coupon_fen += 100;
                ours(Record::Payment(p))?;
                counts.add(Category::CouponMismatch);
            }
            55..62 => {
                let mut l = payment_line(normal_at);
                l.fee += 1_000;
                emit(&l, &mut sums, bill)?;
                ours(Record::Payment(payment(normal_at)))?;
                counts.add(Category::FeeMismatch);
            }
            62..65 => {
                let mut l = payment_line(normal_at);
                l.rate = "0.38%";
                l.fee = fee_fen(settled, 3_800) * 1000;
                emit(&l, &mut sums, bill)?;
                ours(Record::Payment(payment(normal_at)))?;
                counts.add(Category::FeeMismatch);
            }
            65..75 => {
                let l = payment_line(normal_at);
                emit(&l, &mut sums, bill)?;
                repeats.push(l);
                ours(Record::Payment(payment(normal_at)))?;
                counts.add(Category::Matched);
                counts.add(Category::Duplicate);
            }
            75..77 => {
                let mut l = payment_line(normal_at);
                l.out_trade_no = format!("X{ymd}{i:010}");
                emit(&l, &mut sums, bill)?;
                repeats.push(l);
                counts.add(Category::MissingHere);
                counts.add(Category::Duplicate);
            }
            77..87 => {
                emit(&refund_line(normal_at, "SUCCESS"), &mut sums, bill)?;
                counts.add(Category::RefundNotSynced);
            }
            87..97 => {
                ours(Record::Payment(payment(window_at)))?;
                counts.add(Category::Pending);
            }
            97..99 => {
                let just_before = midnight + TimeDelta::seconds(day_secs - window - 1);
                ours(Record::Payment(payment(just_before)))?;
                counts.add(Category::MissingAtWechat);
            }
            99 => {
                let edge = midnight + TimeDelta::seconds(day_secs - window);
                ours(Record::Payment(payment(edge)))?;
                counts.add(Category::Pending);
            }
            100..103 => {
                emit(&payment_line(window_at), &mut sums, bill)?;
                ours(Record::Payment(payment(window_at)))?;
                counts.add(Category::Matched);
            }
            103..108 => {
                ours(Record::Refund(refund(normal_at, RefundStatus::Success)))?;
                counts.add(Category::MissingAtWechat);
            }
            108..113 => {
                emit(&refund_line(normal_at, "SUCCESS"), &mut sums, bill)?;
                let mut f = refund(normal_at, RefundStatus::Success);
                f.amount_fen += 100;
                ours(Record::Refund(f))?;
                counts.add(Category::AmountMismatch);
            }
            113..118 => {
                emit(&refund_line(normal_at, "SUCCESS"), &mut sums, bill)?;
                ours(Record::Refund(refund(normal_at, RefundStatus::Processing)))?;
                counts.add(Category::StatusMismatch);
            }
            118..120 => {
                ours(Record::Refund(refund(window_at, RefundStatus::Success)))?;
                counts.add(Category::Pending);
            }
            120..122 => {
                let l = refund_line(normal_at, "SUCCESS");
                emit(&l, &mut sums, bill)?;
                repeats.push(l);
                ours(Record::Refund(refund(normal_at, RefundStatus::Success)))?;
                counts.add(Category::Matched);
                counts.add(Category::Duplicate);
            }
            122..125 => {
                let mut l = payment_line(normal_at);
                l.state = "REVOKED";
                l.trade_type = "MICROPAY";
                l.fee = 0;
                emit(&l, &mut sums, bill)?;
                let mut p = payment(normal_at);
                p.status = PayStatus::Revoked;
                ours(Record::Payment(p))?;
                counts.add(Category::Matched);
            }
            125..200 => {
                // A refund still processing when the bill was made, done since.
                let status = if r.is_multiple_of(3) {
                    "PROCESSING"
                } else {
                    "SUCCESS"
                };
                emit(&refund_line(normal_at, status), &mut sums, bill)?;
                ours(Record::Refund(refund(normal_at, RefundStatus::Success)))?;
                counts.add(Category::Matched);
            }
            200..205 => {
                let mut p = payment(normal_at);
                p.status = PayStatus::Unpaid;
                p.transaction_id = None;
                p.paid_at = None;
                ours(Record::Payment(p))?;
            }
            205..207 => {
                ours(Record::Refund(refund(normal_at, RefundStatus::Closed)))?;
            }
            _ => {
                emit(&payment_line(normal_at), &mut sums, bill)?;
                let mut p = payment(normal_at);
                if r.is_multiple_of(10) {
                    p.status = PayStatus::Refunded;
                }
                ours(Record::Payment(p))?;
                counts.add(Category::Matched);
            }
        }
    }
    for l in &repeats {
        emit(l, &mut sums, bill)?;
    }
    write!(
        bill,
        "{ALL_SUMMARY_HEADER}\r\n`{},`{},`{},`0.00,`{},`{},`{}\r\n",
        sums.count,
        yuan(sums.settled, 2),
        yuan(sums.refund, 2),
        yuan(sums.fee, 5),
        yuan(sums.order, 2),
        yuan(sums.requested, 2),
    )?;
    Ok(counts)
}

/// A rate in millionths as WeChat prints it: `0.60%`, two decimals at least.
pub fn rate_text(ppm: u32) -> String {
    let mut s = yuan(i64::from(ppm), 4);
    while s.len() > s.find('.').map_or(0, |d| d + 3) && s.ends_with('0') {
        s.pop();
    }
    s.push('%');
    s
}
