//! `patron bench reconcile-db`: a day's trade bill reconciled end to end with the
//! database, as `patron reconcile import` does it (`patron_app::reconcile::import`: the
//! bill streamed through the parser, the day's payments and refunds and the pending items
//! of the day before loaded from the database into the matcher, the run and its
//! exceptions written in one transaction).
//!
//! It seeds one tenant (SQLite in a scratch directory, or a fresh schema of the
//! PostgreSQL given; not timed) with the day's payments and refunds, the original
//! payments of the refunds (earlier days), and a run of the day before whose pending
//! items this day's run takes over; and it writes the matching bill (ALL layout, BOM,
//! CRLF, backticks) with about `exceptions_per_mille` in a thousand cases turned into a
//! discrepancy, ten kinds in turn. Then it runs the import in a child process (this binary
//! again, `--worker-bill`, hidden) so that the peak memory it reads is the import's own,
//! not the seeding's, and checks what was stored against what was injected: the run's
//! counts, its exceptions by category, the carried items. Any difference fails the
//! benchmark.

use super::broadcasts::{status_mib, Sampler};
use super::reconcile::{contend, counts_json, Run};
use super::{scratch_database, BenchError};
use crate::config::Settings;
use crate::serve;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use patron_app::reconcile as app;
use patron_domain::bill::matcher::fee_fen;
use patron_domain::bill::parse::{beijing_to_utc, yuan};
use patron_domain::bill::synth::{Rng, ALL_HEADER, ALL_SUMMARY_HEADER};
use patron_domain::bill::{Category, Counts};
use patron_domain::TenantScope;
use patron_store::tenants::{self, TenantInput};
use patron_store::{Backend, DbConn};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The targets of issue 20 for a 1,000,000-line day.
const TARGET_SECONDS: f64 = 5.0;
const TARGET_MIB: f64 = 500.0;
/// The tenant's slug (the worker finds the tenant by it).
const SLUG: &str = "bench";
/// Rows a multi-row insert of the seeding carries.
const ROWS_A_STATEMENT: usize = 1_000;
/// The contracted fee rate the bill's lines carry (0.60%).
const RATE_PPM: u32 = 6_000;
const RATE_TEXT: &str = "0.60%";

pub struct ReconcileDbOptions {
    pub database_url: Option<String>,
    pub lines: usize,
    pub exceptions_per_mille: u32,
    pub seed: u64,
    pub day: NaiveDate,
    /// Seconds the import may take.
    pub timeout: u64,
    /// Leave the database and the bill.
    pub keep: bool,
}

fn ts(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Rows gathered into multi-row `INSERT`s of [`ROWS_A_STATEMENT`], executed as they fill.
struct Inserts {
    head: String,
    sql: String,
    rows: usize,
    total: u64,
}

impl Inserts {
    fn new(head: &str) -> Inserts {
        Inserts {
            head: head.to_string(),
            sql: String::with_capacity(ROWS_A_STATEMENT * 300),
            rows: 0,
            total: 0,
        }
    }

    /// Adds a row (its SQL values, without the parentheses).
    fn row(&mut self, c: &mut DbConn, values: std::fmt::Arguments<'_>) -> Result<(), BenchError> {
        if self.rows == 0 {
            self.sql.clear();
            self.sql.push_str(&self.head);
            self.sql.push_str(" VALUES (");
        } else {
            self.sql.push_str(", (");
        }
        std::fmt::Write::write_fmt(&mut self.sql, values).map_err(std::io::Error::other)?;
        self.sql.push(')');
        self.rows += 1;
        self.total += 1;
        if self.rows == ROWS_A_STATEMENT {
            self.flush(c)?;
        }
        Ok(())
    }

    fn flush(&mut self, c: &mut DbConn) -> Result<(), BenchError> {
        if self.rows > 0 {
            patron_store::exec_sql(c, &self.sql)?;
            self.rows = 0;
        }
        Ok(())
    }
}

/// A payment row to seed.
struct PaymentRow<'a> {
    id: i64,
    out_trade_no: &'a str,
    transaction_id: &'a str,
    total: i64,
    discount: i64,
    refunded: i64,
    state: &'a str,
    paid_at: NaiveDateTime,
}

/// A bill line being written (the ALL layout, as `synth` writes it).
struct Line<'a> {
    time: NaiveDateTime,
    txid: &'a str,
    out_trade_no: &'a str,
    refund: bool,
    settled: i64,
    coupon: i64,
    refund_id: &'a str,
    out_refund_no: &'a str,
    refund_fen: i64,
    fee: i64,
    order: i64,
}

#[derive(Default)]
struct Sums {
    count: u64,
    settled: i64,
    refund: i64,
    fee: i64,
    order: i64,
}

/// What was seeded and written, and what the run must find.
struct Day {
    expected: Counts,
    /// Pending items of the day before, taken over by this day's run.
    carried: u64,
    /// The run of the day before that holds them.
    prior_run: i64,
    bill_lines: u64,
    payments: u64,
    refunds: u64,
    bill_mib: f64,
}

/// The ten kinds of discrepancy, injected in turn.
const KINDS: u64 = 10;

struct Seeder<'a> {
    c: &'a mut DbConn,
    tenant: i64,
    payments: Inserts,
    refunds: Inserts,
    next_payment: i64,
    next_refund: i64,
}

impl Seeder<'_> {
    fn payment(&mut self, p: &PaymentRow<'_>) -> Result<(), BenchError> {
        let at = ts(p.paid_at);
        let tenant = self.tenant;
        let openid = format!("oUpF8u{:022}", p.id);
        self.payments.row(
            self.c,
            format_args!(
                "{}, {tenant}, '{}', '{}', '{openid}', {}, {}, {}, {}, '{}', 'JSAPI', 'CMB_DEBIT', '{at}', 'v3', '{at}', '{at}'",
                p.id,
                p.out_trade_no,
                p.transaction_id,
                p.total,
                p.total - p.discount,
                p.discount,
                p.refunded,
                p.state,
            ),
        )
    }

    /// A payment of an earlier day and its refund recorded at `at` (UTC).
    fn refund(
        &mut self,
        parent: &PaymentRow<'_>,
        out_refund_no: &str,
        refund_id: &str,
        amount: i64,
        at: NaiveDateTime,
    ) -> Result<(), BenchError> {
        self.payment(parent)?;
        let at = ts(at);
        let tenant = self.tenant;
        let id = self.next_refund;
        self.next_refund += 1;
        if self.refunds.rows + 1 == ROWS_A_STATEMENT {
            // The refunds' payments first (foreign keys).
            self.payments.flush(self.c)?;
        }
        self.refunds.row(
            self.c,
            format_args!(
                "{id}, {tenant}, {}, '{out_refund_no}', '{refund_id}', {amount}, 'SUCCESS', '{at}', 'v3', '{at}', '{at}'",
                parent.id
            ),
        )
    }

    fn next_id(&mut self) -> i64 {
        self.next_payment += 1;
        self.next_payment
    }
}

impl<'a> Line<'a> {
    /// A `SUCCESS` line of an order of `order` fen, `coupon` of them paid by coupons.
    fn payment(
        time: NaiveDateTime,
        out_trade_no: &'a str,
        txid: &'a str,
        order: i64,
        coupon: i64,
        fee: i64,
    ) -> Line<'a> {
        Line {
            time,
            txid,
            out_trade_no,
            refund: false,
            settled: order - coupon,
            coupon,
            refund_id: "0",
            out_refund_no: "0",
            refund_fen: 0,
            fee,
            order,
        }
    }

    fn write(&self, w: &mut impl Write, sums: &mut Sums) -> std::io::Result<()> {
        sums.count += 1;
        sums.settled += self.settled;
        sums.refund += self.refund_fen;
        sums.fee += self.fee;
        sums.order += self.order;
        let (state, refund_type, refund_status, requested) = if self.refund {
            ("REFUND", "ORIGINAL", "SUCCESS", self.refund_fen)
        } else {
            ("SUCCESS", "", "", 0)
        };
        write!(
            w,
            "`{},`wx2421b1c4370ec43b,`1900000109,`0,`,`{},`{},`oUpF8u{:022},`JSAPI,`{state},`CMB_DEBIT,`CNY,`{},`{},`{},`{},`{},`0.00,`{refund_type},`{refund_status},`会员卡充值,`,`{},`{RATE_TEXT},`{},`{},`\r\n",
            self.time.format("%Y-%m-%d %H:%M:%S"),
            self.txid,
            self.out_trade_no,
            sums.count,
            yuan(self.settled, 2),
            yuan(self.coupon, 2),
            self.refund_id,
            self.out_refund_no,
            yuan(self.refund_fen, 2),
            yuan(self.fee, 5),
            yuan(self.order, 2),
            yuan(requested, 2),
        )
    }
}

/// Seeds the day and writes its bill to `bill_path`.
fn seed(
    c: &mut DbConn,
    tenant: i64,
    o: &ReconcileDbOptions,
    bill_path: &Path,
) -> Result<Day, BenchError> {
    let mut rng = Rng(o.seed);
    let mut expected = Counts::default();
    let mut sums = Sums::default();
    let day = o.day;
    let ymd = day.format("%Y%m%d").to_string();
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight");
    let window = app::MIDNIGHT_WINDOW.num_seconds();
    let span = 86_400 - window - 2;
    let n = o.lines.max(1) as i64;
    let k = u64::from(o.exceptions_per_mille.min(1000));
    let mut bill = BufWriter::with_capacity(1 << 20, std::fs::File::create(bill_path)?);
    bill.write_all(b"\xEF\xBB\xBF")?;
    bill.write_all(ALL_HEADER.as_bytes())?;
    bill.write_all(b"\r\n")?;
    let mut repeats: Vec<(String, String, NaiveDateTime, i64, i64)> = Vec::new();
    patron_store::exec_sql(c, "BEGIN")?;
    let mut s = Seeder {
        c,
        tenant,
        payments: Inserts::new(
            "INSERT INTO payments (id, tenant_id, out_trade_no, transaction_id, openid, total_fen, payer_fen, \
             discount_fen, refunded_fen, state, trade_type, bank_type, paid_at, source, created_at, updated_at)",
        ),
        refunds: Inserts::new(
            "INSERT INTO refunds (id, tenant_id, payment_id, out_refund_no, refund_id, amount_fen, status, \
             succeeded_at, source, created_at, updated_at)",
        ),
        next_payment: 0,
        next_refund: 1,
    };
    let mut injected = 0u64;
    for i in 0..n {
        // The day's trades in time order (ids follow time, as they do when payments are
        // recorded as they come); the pending ones in the last minutes of the day.
        let normal_at = midnight + TimeDelta::seconds(i * span / n);
        let window_at = midnight + TimeDelta::seconds(rng.range(86_400 - window, 86_399));
        let amount = rng.range(100, 200_000);
        let coupon = if rng.below(5) == 0 {
            rng.range(1, (amount / 2).min(5_000))
        } else {
            0
        };
        let settled = amount - coupon;
        let order_no = format!("P{ymd}{i:010}");
        let txid = format!("4200001{ymd}{i:013}");
        let pay_line = |out_trade_no, txid, fee| {
            Line::payment(normal_at, out_trade_no, txid, amount, coupon, fee)
        };
        let fee = fee_fen(settled, RATE_PPM) * 1000;
        let mut row = PaymentRow {
            id: 0,
            out_trade_no: &order_no,
            transaction_id: &txid,
            total: amount,
            discount: coupon,
            refunded: 0,
            state: "paid",
            paid_at: beijing_to_utc(normal_at),
        };
        // A refund of an order of an earlier day, recorded today.
        let refund_amount = rng.range(1, amount);
        let parent_no = format!("Q{ymd}{i:010}");
        let parent_tx = format!("4200003{ymd}{i:013}");
        let out_refund_no = format!("R{ymd}{i:010}");
        let refund_id = format!("50300{ymd}{i:016}");
        let refund_line = Line {
            time: normal_at,
            txid: &parent_tx,
            out_trade_no: &parent_no,
            refund: true,
            settled: 0,
            coupon: 0,
            refund_id: &refund_id,
            out_refund_no: &out_refund_no,
            refund_fen: refund_amount,
            fee: -fee_fen(refund_amount, RATE_PPM) * 1000,
            order: 0,
        };
        let parent = |id: i64| PaymentRow {
            id,
            out_trade_no: &parent_no,
            transaction_id: &parent_tx,
            total: amount,
            discount: 0,
            refunded: refund_amount,
            state: "partly_refunded",
            paid_at: beijing_to_utc(normal_at) - TimeDelta::days(1 + i % 30),
        };
        if rng.below(1000) < k {
            let kind = injected % KINDS;
            injected += 1;
            match kind {
                0 => {
                    let x = format!("X{ymd}{i:010}");
                    pay_line(&x, &txid, fee).write(&mut bill, &mut sums)?;
                    expected.add(Category::MissingHere);
                }
                1 => {
                    row.id = s.next_id();
                    s.payment(&row)?;
                    expected.add(Category::MissingAtWechat);
                }
                2 => {
                    // Another transaction id here than at WeChat.
                    let other = format!("4200009{ymd}{i:013}");
                    row.id = s.next_id();
                    row.transaction_id = &other;
                    s.payment(&row)?;
                    pay_line(&order_no, &txid, fee).write(&mut bill, &mut sums)?;
                    expected.add(Category::StatusMismatch);
                }
                3 => {
                    row.id = s.next_id();
                    row.total += rng.range(1, 1_000);
                    s.payment(&row)?;
                    pay_line(&order_no, &txid, fee).write(&mut bill, &mut sums)?;
                    expected.add(Category::AmountMismatch);
                }
                4 => {
                    row.id = s.next_id();
                    // The order amounts agree; the coupons do not.
                    row.discount += 100;
                    s.payment(&row)?;
                    pay_line(&order_no, &txid, fee).write(&mut bill, &mut sums)?;
                    expected.add(Category::CouponMismatch);
                }
                5 => {
                    row.id = s.next_id();
                    s.payment(&row)?;
                    pay_line(&order_no, &txid, fee + 1_000).write(&mut bill, &mut sums)?;
                    expected.add(Category::FeeMismatch);
                }
                6 => {
                    row.id = s.next_id();
                    s.payment(&row)?;
                    pay_line(&order_no, &txid, fee).write(&mut bill, &mut sums)?;
                    repeats.push((order_no.clone(), txid.clone(), normal_at, amount, coupon));
                    expected.add(Category::Matched);
                    expected.add(Category::Duplicate);
                }
                7 => {
                    refund_line.write(&mut bill, &mut sums)?;
                    expected.add(Category::RefundNotSynced);
                }
                8 => {
                    row.id = s.next_id();
                    row.paid_at = beijing_to_utc(window_at);
                    s.payment(&row)?;
                    expected.add(Category::Pending);
                }
                _ => {
                    // A refund asked here for more than WeChat's line says.
                    let id = s.next_id();
                    s.refund(
                        &parent(id),
                        &out_refund_no,
                        &refund_id,
                        refund_amount + 100,
                        beijing_to_utc(normal_at),
                    )?;
                    refund_line.write(&mut bill, &mut sums)?;
                    expected.add(Category::AmountMismatch);
                }
            }
        } else if rng.below(1000) < 75 {
            let id = s.next_id();
            s.refund(
                &parent(id),
                &out_refund_no,
                &refund_id,
                refund_amount,
                beijing_to_utc(normal_at),
            )?;
            refund_line.write(&mut bill, &mut sums)?;
            expected.add(Category::Matched);
        } else {
            row.id = s.next_id();
            if i % 20 == 0 {
                row.state = "refunded";
                row.refunded = amount;
            }
            s.payment(&row)?;
            pay_line(&order_no, &txid, fee).write(&mut bill, &mut sums)?;
            expected.add(Category::Matched);
        }
    }
    // The day before's run left items pending (paid in its last minutes): half of them
    // are in this bill (WeChat's time just after midnight), the others are missing at
    // WeChat now (a carried item is not pending twice).
    let carried = (n as u64).div_ceil(10_000);
    let before = day.pred_opt().expect("a day before");
    patron_store::exec_sql(
        s.c,
        &format!(
            "INSERT INTO reconcile_runs (tenant_id, bill_date, bill_kind, source, bill_lines, counts, summary_ok, \
             created_by, created_at, totals) VALUES ({tenant}, '{before}', 'ALL', 'cli', 0, '{{}}', TRUE, 'bench', \
             '{}', NULL)",
            ts(beijing_to_utc(midnight))
        ),
    )?;
    let mut exceptions = Inserts::new(
        "INSERT INTO reconcile_exceptions (tenant_id, run_id, bill_date, category, kind, out_trade_no, \
         state, created_at)",
    );
    for j in 0..carried as i64 {
        let order_no = format!("C{ymd}{j:06}");
        let txid = format!("4200002{ymd}{j:013}");
        let at = midnight - TimeDelta::seconds(1 + j % (window - 1));
        let amount = 1_000 + j;
        let id = s.next_id();
        s.payment(&PaymentRow {
            id,
            out_trade_no: &order_no,
            transaction_id: &txid,
            total: amount,
            discount: 0,
            refunded: 0,
            state: "paid",
            paid_at: beijing_to_utc(at),
        })?;
        exceptions.row(
            s.c,
            format_args!(
                "{tenant}, (SELECT max(id) FROM reconcile_runs WHERE tenant_id = {tenant}), '{before}', \
                 'pending', 'payment', '{order_no}', 'open', '{}'",
                ts(beijing_to_utc(midnight))
            ),
        )?;
        if j % 2 == 0 {
            let fee = fee_fen(amount, RATE_PPM) * 1000;
            let at = midnight + TimeDelta::seconds(j % 60);
            Line::payment(at, &order_no, &txid, amount, 0, fee).write(&mut bill, &mut sums)?;
            expected.add(Category::Matched);
        } else {
            expected.add(Category::MissingAtWechat);
        }
    }
    for (order_no, txid, at, amount, coupon) in &repeats {
        let fee = fee_fen(amount - coupon, RATE_PPM) * 1000;
        Line::payment(*at, order_no, txid, *amount, *coupon, fee).write(&mut bill, &mut sums)?;
    }
    write!(
        bill,
        "{ALL_SUMMARY_HEADER}\r\n`{},`{},`{},`0.00,`{},`{},`{}\r\n",
        sums.count,
        yuan(sums.settled, 2),
        yuan(sums.refund, 2),
        yuan(sums.fee, 5),
        yuan(sums.order, 2),
        yuan(sums.refund, 2),
    )?;
    bill.flush()?;
    drop(bill);
    s.payments.flush(s.c)?;
    s.refunds.flush(s.c)?;
    exceptions.flush(s.c)?;
    let (payments, refunds) = (s.payments.total, s.refunds.total);
    patron_store::exec_sql(s.c, "COMMIT")?;
    let scope = scope_of(c)?;
    let prior_run = patron_store::reconcile::runs(c, &scope, 1)?
        .first()
        .map(|r| r.id)
        .ok_or_else(|| BenchError::Usage("the day before's run was not stored".into()))?;
    Ok(Day {
        expected,
        carried,
        prior_run,
        bill_lines: sums.count,
        payments,
        refunds,
        bill_mib: std::fs::metadata(bill_path)?.len() as f64 / 1_048_576.0,
    })
}

fn scope_of(c: &mut DbConn) -> Result<TenantScope, BenchError> {
    Ok(tenants::system_scope_by_slug(c, SLUG)?)
}

/// The import, in its own process: prints one flat JSON line.
pub fn worker(database_url: &str, bill: &Path, day: NaiveDate) -> Result<String, BenchError> {
    let pool = patron_store::DbPool::connect(database_url, 1)?;
    let mut c = pool.get()?;
    let scope = scope_of(&mut c)?;
    let file = std::fs::File::open(bill)?;
    // The peak from here on (Linux: writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let anon_before = status_mib("RssAnon:");
    let sampler = Sampler::start();
    let started = Instant::now();
    // `app::reconcile::import`, in its two steps so that each is timed.
    let m = app::match_bill(
        &mut c,
        &scope,
        std::io::BufReader::with_capacity(1 << 16, file),
        Some(day),
    )
    .map_err(|e| BenchError::Usage(format!("{}: {e}", bill.display())))?;
    let matched = started.elapsed();
    let run = patron_store::write_tx(&mut c, |c| {
        app::store_matched(c, &scope, &m, "cli", "patron bench reconcile-db")
    })?;
    let total = started.elapsed();
    let (anon_peak, file_peak) = sampler.finish();
    let counts: Counts = serde_json::from_str(&run.counts)
        .map_err(|e| BenchError::Usage(format!("the run's counts: {e}")))?;
    Ok(format!(
        "{{\"tool\": \"patron\", \"version\": \"{}\", {}, \"summary_ok\": {}, \"run\": {}, \"lines\": {}, \
         \"exceptions\": {}, \"carried\": {}, \"elapsed_s\": {:.3}, \"ours_s\": {:.3}, \"bill_s\": {:.3}, \
         \"write_s\": {:.3}, \"peak_rss_kib\": {}, \"anon_before_mib\": {anon_before:.1}, \
         \"anon_peak_mib\": {anon_peak:.1}, \"file_peak_mib\": {file_peak:.1}}}",
        env!("CARGO_PKG_VERSION"),
        counts_json(&counts),
        run.summary_ok,
        run.id,
        run.bill_lines,
        m.exceptions.len(),
        m.carried.len(),
        total.as_secs_f64(),
        m.took.ours.as_secs_f64(),
        m.took.bill.as_secs_f64(),
        (total - matched).as_secs_f64(),
        status_mib("VmHWM:") * 1024.0,
    ))
}

/// What the run stored, against what was injected; the differences, if any.
fn verify(c: &mut DbConn, day: &Day, run_id: i64) -> Result<Vec<String>, BenchError> {
    let scope = scope_of(c)?;
    let mut wrong = Vec::new();
    let run = patron_store::reconcile::run(c, &scope, run_id)?;
    let counts: Counts = serde_json::from_str(&run.counts)
        .map_err(|e| BenchError::Usage(format!("the run's counts: {e}")))?;
    if counts != day.expected {
        wrong.push(format!(
            "the run counted {{{}}}, injected {{{}}}",
            counts_json(&counts),
            counts_json(&day.expected)
        ));
    }
    if run.bill_lines as u64 != day.bill_lines {
        wrong.push(format!(
            "the run read {} lines, the bill has {}",
            run.bill_lines, day.bill_lines
        ));
    }
    if !run.summary_ok {
        wrong.push("the bill's summary disagrees with its lines".into());
    }
    let stored = patron_store::reconcile::exceptions(c, &scope, Some(run_id), i64::MAX)?;
    let mut by_category = Counts::default();
    for e in &stored {
        match Category::ALL.iter().find(|k| k.as_str() == e.category) {
            Some(&k) if e.state == patron_store::reconcile::state::OPEN => by_category.add(k),
            _ => wrong.push(format!(
                "exception {} is {} / {}",
                e.id, e.category, e.state
            )),
        }
    }
    let mut want = day.expected;
    want.matched = 0;
    if by_category != want {
        wrong.push(format!(
            "the run stored exceptions {{{}}}, injected {{{}}}",
            counts_json(&by_category),
            counts_json(&want)
        ));
    }
    let prior = patron_store::reconcile::exceptions(c, &scope, Some(day.prior_run), i64::MAX)?;
    let carried = prior
        .iter()
        .filter(|e| e.state == patron_store::reconcile::state::CARRIED)
        .count() as u64;
    if carried != day.carried || prior.len() as u64 != day.carried {
        wrong.push(format!(
            "{carried} of the day before's {} pending items were marked carried, expected {}",
            prior.len(),
            day.carried
        ));
    }
    Ok(wrong)
}

pub fn reconcile_db(o: &ReconcileDbOptions) -> Result<String, BenchError> {
    scratch_database(
        "bench-reconcile-db",
        o.database_url.as_deref(),
        o.keep,
        |dir, url| {
            let mut s = Settings::for_test(&dir.join("data"), url);
            s.db_pool_size = 1;
            let (pool, _) = serve::open_database(&s)?;
            let backend = pool.backend();
            let mut c = pool.get()?;
            let t = super::bench_tenant(
                &mut c,
                TenantInput {
                    slug: SLUG.into(),
                    ..Default::default()
                },
                &serve::secrets(&s)?,
            )?;
            let bill_path = dir.join("bill.csv");
            let seeding = Instant::now();
            let day = seed(&mut c, t.id, o, &bill_path)?;
            // Statistics, as a database in use has them, and the seed's write-ahead log out
            // of the way (SQLite: folded into the database file; PostgreSQL: a checkpoint).
            match backend {
            Backend::Sqlite => {
                patron_store::exec_sql(&mut c, "ANALYZE")?;
                patron_store::exec_sql(&mut c, "PRAGMA wal_checkpoint(TRUNCATE)")?;
            }
            Backend::Postgres => {
                for sql in [
                    "SELECT setval(pg_get_serial_sequence('payments', 'id'), (SELECT max(id) FROM payments))",
                    "SELECT setval(pg_get_serial_sequence('refunds', 'id'), (SELECT max(id) FROM refunds))",
                    "VACUUM ANALYZE payments",
                    "VACUUM ANALYZE refunds",
                    "VACUUM ANALYZE reconcile_exceptions",
                    "CHECKPOINT",
                ] {
                    patron_store::exec_sql(&mut c, sql)?;
                }
            }
        }
            let seeded = seeding.elapsed().as_secs_f64();
            drop(c);

            let exe = std::env::current_exe()?;
            let mut cmd = Command::new(&exe);
            cmd.arg("--database-url")
                .arg(url)
                .arg("--data-dir")
                .arg(dir.join("data"))
                .args(["bench", "reconcile-db", "--day", &o.day.to_string()])
                .arg("--worker-bill")
                .arg(&bill_path)
                .env("RUST_LOG", "warn");
            let child: Run = contend("import", &mut cmd, dir, o.timeout);
            if let Some(f) = &child.failure {
                return Err(BenchError::Usage(format!("the import failed: {f}")));
            }
            let num = |k: &str| child.number(k).unwrap_or(f64::NAN);
            let run_id = num("run") as i64;
            let mut c = pool.get()?;
            let wrong = verify(&mut c, &day, run_id)?;
            let backend_name = format!("{backend:?}").to_lowercase();
            let secs = num("elapsed_s");
            let (anon, file, hwm) = (
                num("anon_peak_mib"),
                num("file_peak_mib"),
                num("peak_rss_kib") / 1024.0,
            );
            let mut out = format!(
            "reconcile end to end on {backend_name}: {} cases, {} per mille discrepancies (ten kinds in turn), seed {}, day {} (Beijing)\n\
             seeded in {seeded:.1} s: {} payments (the day's, the refunds' originals of the 30 days before, {} pending from the day before), {} refunds; \
             bill of {} detail lines ({:.0} MiB: ALL layout, BOM, CRLF, backticks)\n\
             the import in its own process (`app::reconcile::match_bill` then `store_matched` in one write transaction, as `patron reconcile import`):\n\n\
             | backend | lines | exceptions stored | total s | load ours s | parse + match s | write s | lines/s | peak private (RssAnon) MiB | peak file-backed (RssFile) MiB | VmHWM MiB | process wall s |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|\n\
             | {backend_name} | {} | {} | {secs:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {anon:.0} | {file:.0} | {hwm:.0} | {:.2} |\n\n",
            o.lines,
            o.exceptions_per_mille,
            o.seed,
            o.day,
            day.payments,
            day.carried,
            day.refunds,
            day.bill_lines,
            day.bill_mib,
            day.bill_lines,
            num("exceptions"),
            num("ours_s"),
            num("bill_s"),
            num("write_s"),
            day.bill_lines as f64 / secs,
            child.wall_s,
        );
            out.push_str(&format!(
            "private memory before the import: {:.0} MiB (the connection, the binary)\ninjected: {{{}}}; carried from the day before: {}\n",
            num("anon_before_mib"),
            counts_json(&day.expected),
            day.carried
        ));
            if backend == Backend::Postgres {
                out.push_str("(PostgreSQL's own processes are not in the memory figures)\n");
            }
            out.push_str(&format!(
            "targets (1,000,000 lines): under {TARGET_SECONDS} s: {} ({secs:.2} s); under {TARGET_MIB} MB peak memory: private {} ({anon:.0} MiB), private and file-backed {} ({hwm:.0} MiB)\n",
            if secs < TARGET_SECONDS { "met" } else { "NOT met" },
            if anon * 1.048_576 < TARGET_MIB { "met" } else { "NOT met" },
            if hwm * 1.048_576 < TARGET_MIB { "met" } else { "NOT met" },
        ));
            if wrong.is_empty() {
                out.push_str("stored as injected: the run's counts, its exceptions by category, the carried items\n");
                Ok(out)
            } else {
                Err(BenchError::Usage(format!(
                    "{out}\nthe stored run differs from what was injected:\n{}",
                    wrong.join("\n")
                )))
            }
        },
    )
}
