//! `patron bench reconcile-files`: the trade-bill matcher on files, beside polars and
//! pandas doing the same classification on the same files in the same run.
//!
//! It generates a synthetic day (`patron_domain::bill::synth`: seeded, about 1% of the
//! cases in each category of discrepancy) into a scratch directory: the bill as WeChat
//! writes it (ALL layout, BOM, CRLF, backticks) and our side as one CSV
//! (`patron_domain::bill::ours_csv`). Then it runs, one after the other, each as a child
//! process so that each peak resident memory is its own:
//! - this binary again (`--worker-bill …`, hidden), which reads our records into the
//!   matcher, streams the bill through the parser into it, and prints its counts, its time
//!   and its peak (VmHWM);
//! - `benches/reconcile/polars_match.py BILL ORDERS …` and `pandas_match.py`, which print
//!   the same fields (their peak from `getrusage`).
//!
//! Each contender's time is measured from before it opens the files to its counts (the
//! scripts' interpreter start and imports are outside it; the process wall time is shown
//! too). The counts of all three must be identical and equal to the injected truth.

use super::BenchError;
use chrono::NaiveDate;
use patron_domain::bill::{
    ours_csv, synth, BillKind, BillLine, BillReader, Counts, MatchOptions, Matcher, Payment,
    Refund, Report,
};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The pending window, in minutes, that every contender is given.
pub const WINDOW_MINUTES: i64 = 15;
/// The contracted fee rate (0.60%) that every contender is given.
pub const FEE_RATE_PPM: u32 = 6_000;

pub struct ReconcileOptions {
    pub lines: usize,
    pub seed: u64,
    pub day: NaiveDate,
    pub python: String,
    /// Where the scripts are (default: `benches/reconcile` of this source tree).
    pub scripts: Option<PathBuf>,
    /// Seconds each contender may take.
    pub timeout: u64,
    /// Keep the generated files (their directory is printed).
    pub keep: bool,
}

fn match_options() -> MatchOptions {
    MatchOptions {
        window: chrono::TimeDelta::minutes(WINDOW_MINUTES),
        fee_rate_ppm: Some(FEE_RATE_PPM),
        keep_matched: false,
    }
}

/// What one contender printed: a flat JSON object.
#[derive(Debug, Default)]
pub(super) struct Run {
    name: String,
    counts: Option<Counts>,
    summary_ok: Option<bool>,
    work_s: f64,
    peak_kib: f64,
    pub(super) wall_s: f64,
    version: String,
    pub(super) failure: Option<String>,
    /// Everything it printed (the flat JSON object's members).
    fields: Vec<(String, String)>,
}

impl Run {
    /// A number it printed.
    pub(super) fn number(&self, key: &str) -> Option<f64> {
        self.fields
            .iter()
            .find(|(n, _)| n == key)
            .and_then(|(_, v)| v.parse().ok())
    }
}

/// The scalar members of a flat JSON object (`{"a": 1, "b": "x", "c": true}`), as text.
/// Enough for what the contenders print; patron has no JSON parser outside its tests.
fn flat_json(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let body = s.trim().trim_start_matches('{').trim_end_matches('}');
    for member in body.split(',') {
        if let Some((k, v)) = member.split_once(':') {
            let k = k.trim().trim_matches('"').to_string();
            let v = v.trim().trim_matches('"').to_string();
            out.push((k, v));
        }
    }
    out
}

fn counts_of(fields: &[(String, String)]) -> Option<Counts> {
    let get = |k: &str| -> Option<u64> {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse().ok())
    };
    Some(Counts {
        matched: get("matched")?,
        missing_here: get("missing_here")?,
        missing_at_wechat: get("missing_at_wechat")?,
        status_mismatch: get("status_mismatch")?,
        amount_mismatch: get("amount_mismatch")?,
        coupon_mismatch: get("coupon_mismatch")?,
        fee_mismatch: get("fee_mismatch")?,
        duplicate: get("duplicate")?,
        refund_not_synced: get("refund_not_synced")?,
        pending: get("pending")?,
    })
}

pub(super) fn counts_json(c: &Counts) -> String {
    use patron_domain::bill::Category;
    Category::ALL
        .iter()
        .map(|&k| format!("\"{}\": {}", k.as_str(), c.get(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Lines or records whose text lives in one buffer, handed from a reading thread to the
/// matching one.
struct Batch<T> {
    text: String,
    items: Vec<T>,
}

/// A string in a [`Batch`]'s text.
type Span = (u32, u32);

/// Lines or records per batch, and batches a reading thread may be ahead by: some 10 MiB
/// of bill lines at most, parsed and waiting.
const BATCH: usize = 4_096;
const QUEUED: usize = 4;

impl<T> Batch<T> {
    fn new() -> Batch<T> {
        Batch {
            text: String::with_capacity(BATCH * 128),
            items: Vec::with_capacity(BATCH),
        }
    }
    fn str(&self, s: &Span) -> &str {
        &self.text[s.0 as usize..(s.0 + s.1) as usize]
    }
}

/// Copies `s` to the end of a batch's text.
fn keep(text: &mut String, s: &str) -> Span {
    let start = text.len() as u32;
    text.push_str(s);
    (start, s.len() as u32)
}

enum OurRow {
    Payment(Payment<Span>),
    Refund(Refund<Span>),
}

/// The Rust contender, in its own process: reads the two files, prints one JSON line.
///
/// Two threads read and parse (our records, then the bill, which starts at once but may
/// only get [`QUEUED`] batches ahead) while this one, which owns the matcher, indexes our
/// records and then matches the bill's lines as they come: polars parses on every core
/// too, and the lines parsed ahead are bounded so that memory stays the matcher's.
pub fn worker(bill: &Path, orders: &Path, day: NaiveDate) -> Result<String, BenchError> {
    let started = Instant::now();
    let fail = |what: &Path, e: String| BenchError::Usage(format!("{}: {e}", what.display()));
    let file = std::fs::File::open(bill)?;
    let mut reader = BillReader::new(BufReader::with_capacity(1 << 16, file))
        .map_err(|e| fail(bill, e.to_string()))?;
    let kind = reader.kind().unwrap_or(BillKind::All);
    // Room for the records: a row of the orders file is about 100 bytes.
    let rows_hint = (std::fs::metadata(orders)?.len() / 100) as usize;
    let mut m = Matcher::with_capacity(day, kind, match_options(), rows_hint, rows_hint / 8);
    let orders_file = std::fs::File::open(orders)?;
    let report: Report = std::thread::scope(|s| -> Result<Report, BenchError> {
        let (ours_tx, ours_rx) = std::sync::mpsc::sync_channel::<Batch<OurRow>>(QUEUED);
        let (bill_tx, bill_rx) = std::sync::mpsc::sync_channel::<Batch<BillLine<Span>>>(QUEUED);
        let ours_thread = s.spawn(move || {
            let mut batch = Batch::new();
            let mut open = true;
            ours_csv::read(BufReader::with_capacity(1 << 16, orders_file), |row| {
                let text = &mut batch.text;
                batch.items.push(match row {
                    ours_csv::Row::Payment(p) => OurRow::Payment(p.map(|s| keep(text, s))),
                    ours_csv::Row::Refund(r) => OurRow::Refund(r.map(|s| keep(text, s))),
                });
                if batch.items.len() == BATCH {
                    if open {
                        open = ours_tx
                            .send(std::mem::replace(&mut batch, Batch::new()))
                            .is_ok();
                    } else {
                        // The matcher stopped: read on to the end without keeping.
                        batch.items.clear();
                        batch.text.clear();
                    }
                }
            })
            .map_err(|e| e.to_string())?;
            let _ = ours_tx.send(batch);
            Ok::<(), String>(())
        });
        let bill_thread = s.spawn(move || {
            let mut batch = Batch::new();
            while let Some(line) = reader.next_line() {
                let line = line.map_err(|e| e.to_string())?;
                let text = &mut batch.text;
                batch.items.push(line.map(|s| keep(text, s)));
                if batch.items.len() == BATCH
                    && bill_tx
                        .send(std::mem::replace(&mut batch, Batch::new()))
                        .is_err()
                {
                    return Err("the matcher stopped".to_string());
                }
            }
            let _ = bill_tx.send(batch);
            reader.finish().map_err(|e| e.to_string())
        });
        for batch in ours_rx {
            for row in &batch.items {
                match row {
                    OurRow::Payment(p) => m.add_payment(&p.map(|s| batch.str(s)), false),
                    OurRow::Refund(r) => m.add_refund(&r.map(|s| batch.str(s)), false),
                }
                .map_err(|e| fail(orders, e.to_string()))?;
            }
        }
        ours_thread
            .join()
            .map_err(|_| fail(orders, "the reading thread panicked".into()))?
            .map_err(|e| fail(orders, e))?;
        for batch in bill_rx {
            for line in &batch.items {
                m.feed(&line.map(|s| batch.str(s)));
            }
        }
        let summary = bill_thread
            .join()
            .map_err(|_| fail(bill, "the reading thread panicked".into()))?
            .map_err(|e| fail(bill, e))?;
        Ok(m.finish(Some(&summary)))
    })?;
    let work = started.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"tool\": \"rust\", \"version\": \"{}\", {}, \"summary_ok\": {}, \"unmatched\": {}, \"elapsed_s\": {work:.3}, \"peak_rss_kib\": {}}}",
        env!("CARGO_PKG_VERSION"),
        counts_json(&report.counts),
        report.disagreements.is_empty(),
        report.items.len(),
        peak_kib()
    ))
}

/// Runs a contender with a time limit; stdout and stderr go to files in `dir`.
pub(super) fn contend(name: &str, cmd: &mut Command, dir: &Path, timeout: u64) -> Run {
    let mut run = Run {
        name: name.to_string(),
        ..Default::default()
    };
    let out_path = dir.join(format!("{name}.out"));
    let err_path = dir.join(format!("{name}.err"));
    let files =
        std::fs::File::create(&out_path).and_then(|o| Ok((o, std::fs::File::create(&err_path)?)));
    let (out, err) = match files {
        Ok(f) => f,
        Err(e) => {
            run.failure = Some(e.to_string());
            return run;
        }
    };
    let started = Instant::now();
    let mut child = match cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn() {
        Ok(c) => c,
        Err(e) => {
            run.failure = Some(format!("could not start: {e}"));
            return run;
        }
    };
    let deadline = started + Duration::from_secs(timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                run.failure = Some(e.to_string());
                return run;
            }
        }
    };
    run.wall_s = started.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    match status {
        None => run.failure = Some(format!("stopped after the {timeout} s limit")),
        Some(s) if !s.success() => {
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            run.failure = Some(format!("{s}: {}", tail.join(" / ")));
        }
        Some(_) => {
            let json = stdout
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .unwrap_or("");
            let fields = flat_json(json);
            let num = |k: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == k)
                    .and_then(|(_, v)| v.parse::<f64>().ok())
            };
            run.counts = counts_of(&fields);
            run.summary_ok = fields
                .iter()
                .find(|(n, _)| n == "summary_ok")
                .map(|(_, v)| v == "true");
            run.work_s = num("elapsed_s").unwrap_or(f64::NAN);
            run.peak_kib = num("peak_rss_kib").unwrap_or(f64::NAN);
            run.version = fields
                .iter()
                .find(|(n, _)| n == "version")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if run.counts.is_none() {
                run.failure = Some(format!("no counts in its output: {json:?}"));
            }
            run.fields = fields;
        }
    }
    run
}

fn scripts_dir(o: &ReconcileOptions) -> PathBuf {
    if let Some(d) = &o.scripts {
        return d.clone();
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/reconcile");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("benches/reconcile")
    }
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

pub fn reconcile_files(o: &ReconcileOptions) -> Result<String, BenchError> {
    let dir = std::env::temp_dir().join(format!("patron-bench-reconcile-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(o, &dir);
    if !o.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run(o: &ReconcileOptions, dir: &Path) -> Result<String, BenchError> {
    let bill_path = dir.join("bill.csv");
    let orders_path = dir.join("orders.csv");
    let generated = Instant::now();
    let mut synth_o = synth::SynthOptions::new(o.day, o.lines, o.seed);
    synth_o.window = chrono::TimeDelta::minutes(WINDOW_MINUTES);
    synth_o.fee_rate_ppm = FEE_RATE_PPM;
    let mut bill = BufWriter::with_capacity(1 << 20, std::fs::File::create(&bill_path)?);
    let mut orders = BufWriter::with_capacity(1 << 20, std::fs::File::create(&orders_path)?);
    ours_csv::write_header(&mut orders)?;
    let mut records = 0u64;
    let expected = synth::generate(&synth_o, &mut bill, |r| {
        records += 1;
        ours_csv::write_record(&mut orders, &r)
    })?;
    bill.flush()?;
    orders.flush()?;
    drop((bill, orders));
    let generated = generated.elapsed().as_secs_f64();
    let size = |p: &Path| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1_048_576.0);
    let bill_lines = expected.total() - expected.missing_at_wechat - expected.pending;

    let exe = std::env::current_exe()?;
    let scripts = scripts_dir(o);
    let day = o.day.to_string();
    let script_args = |cmd: &mut Command| {
        cmd.arg(&bill_path)
            .arg(&orders_path)
            .args(["--day", &day])
            .args(["--window-minutes", &WINDOW_MINUTES.to_string()])
            .args(["--fee-rate-ppm", &FEE_RATE_PPM.to_string()]);
    };
    let mut rust_cmd = Command::new(&exe);
    rust_cmd
        .args(["bench", "reconcile-files", "--day", &day, "--worker-bill"])
        .arg(&bill_path)
        .arg("--worker-orders")
        .arg(&orders_path)
        .env("RUST_LOG", "warn");
    let rust = contend("rust", &mut rust_cmd, dir, o.timeout);
    let mut runs = vec![rust];
    for (name, script) in [("polars", "polars_match.py"), ("pandas", "pandas_match.py")] {
        let mut cmd = Command::new(&o.python);
        cmd.arg(scripts.join(script));
        script_args(&mut cmd);
        runs.push(contend(name, &mut cmd, dir, o.timeout));
    }

    let polars = runs
        .iter()
        .find(|r| r.name == "polars" && r.failure.is_none());
    let mut out = format!(
        "reconcile files: {} cases, seed {}, day {} (Beijing): bill of {} detail lines ({:.0} MiB: ALL layout, BOM, CRLF, backticks), \
         our side {} records ({:.0} MiB CSV), generated in {generated:.1} s; pending window {WINDOW_MINUTES} min, contracted rate 0.60%\n\
         time: from opening the files to the counts (the scripts' interpreter start and imports are in the process wall time only); \
         peak: the contender's own process (VmHWM, getrusage ru_maxrss)\n\n\
         | contender | time s | process wall s | peak MiB | time vs polars | peak vs polars | summary checked | counts |\n\
         |---|---|---|---|---|---|---|---|\n",
        o.lines,
        o.seed,
        o.day,
        bill_lines,
        size(&bill_path),
        records,
        size(&orders_path),
    );
    let mut all_equal = true;
    for r in &runs {
        let label = if r.version.is_empty() {
            r.name.clone()
        } else {
            format!("{} {}", r.name, r.version)
        };
        if let Some(f) = &r.failure {
            all_equal = false;
            out.push_str(&format!("| {label} | failed: {f} | | | | | | |\n"));
            continue;
        }
        let (t_ratio, m_ratio) = match polars {
            Some(p) => (
                format!("{:.2}×", r.work_s / p.work_s),
                format!("{:.2}×", r.peak_kib / p.peak_kib),
            ),
            None => ("–".into(), "–".into()),
        };
        let same = r.counts == Some(expected);
        all_equal &= same && r.summary_ok == Some(true);
        out.push_str(&format!(
            "| {label} | {:.2} | {:.2} | {:.0} | {t_ratio} | {m_ratio} | {} | {} |\n",
            r.work_s,
            r.wall_s,
            mib(r.peak_kib),
            match r.summary_ok {
                Some(true) => "agrees",
                Some(false) => "DISAGREES",
                None => "?",
            },
            if same { "= injected" } else { "DIFFERENT" },
        ));
    }
    out.push_str(&format!(
        "\ninjected counts: {{{}}}\n",
        counts_json(&expected)
    ));
    for r in &runs {
        if let Some(c) = r.counts.filter(|c| *c != expected) {
            out.push_str(&format!("{} counted: {{{}}}\n", r.name, counts_json(&c)));
        }
    }
    let rust = runs
        .iter()
        .find(|r| r.name == "rust" && r.failure.is_none());
    if let (Some(rs), Some(p)) = (rust, polars) {
        let speed = p.work_s / rs.work_s;
        let memory = rs.peak_kib / p.peak_kib;
        out.push_str(&format!(
            "targets: at least 2× faster than polars: {} ({speed:.1}×); at most a quarter of its peak: {} ({memory:.2}×)\n",
            if speed >= 2.0 { "met" } else { "NOT met" },
            if memory <= 0.25 { "met" } else { "NOT met" },
        ));
    }
    if o.keep {
        out.push_str(&format!("files kept in {}\n", dir.display()));
    }
    if all_equal {
        Ok(out)
    } else {
        Err(BenchError::Usage(format!(
            "{out}\nthe contenders did not all classify the day as injected"
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flat_json_reads_what_the_contenders_print() {
        let f = super::flat_json(
            r#"{"tool": "polars", "version": "2.1.0", "matched": 12, "missing_here": 1, "missing_at_wechat": 2, "status_mismatch": 3, "amount_mismatch": 4, "coupon_mismatch": 5, "fee_mismatch": 6, "duplicate": 7, "refund_not_synced": 8, "pending": 9, "summary_ok": true, "elapsed_s": 1.25, "peak_rss_kib": 2048}"#,
        );
        let c = super::counts_of(&f).unwrap();
        assert_eq!((c.matched, c.duplicate, c.pending), (12, 7, 9));
        assert!(f.contains(&("version".into(), "2.1.0".into())));
        assert!(f.contains(&("summary_ok".into(), "true".into())));
        assert!(super::counts_of(&super::flat_json(r#"{"matched": 1}"#)).is_none());
    }
}
