//! `patron bench webhook`: webhook ingest under load, measured with wrk on loopback.
//!
//! It starts Patron in-process over a fresh database (SQLite in a temp dir, or a fresh
//! schema of the PostgreSQL given), creates a safe-mode tenant with a default reply,
//! pre-generates signed and encrypted pushes with distinct MsgIds (wrk's Lua cannot do
//! AES), then runs wrk against `/wx-crypto-only/{slug}` (verify + decrypt + parse +
//! encrypted reply, no database) and `/wx/{slug}` (the same plus dedupe insert, follower
//! upsert and archive) in the same run, and prints both side by side.

pub mod broadcasts;
pub mod coupons;
pub mod dashboard;
mod reconcile;
mod reconcile_db;

use crate::config::Settings;
use crate::serve;
use clap::Subcommand;
use patron_domain::replies::Trigger;
use patron_domain::{AgencyId, AgencyScope, TenantScope};
use patron_store::tenants::{self, TenantInput};
use patron_wechat::{crypto, signature, AesKey};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN: &str = "benchtoken";
const AES: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx2c2769f8efd9abc2";
const GH: &str = "gh_10f6c3c3ac5a";

const LUA: &str = r#"
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local lines, idx, step, prefix = {}, 0, 1, ""
function init(args)
  prefix, step = args[1], tonumber(args[3])
  for line in io.lines(args[2]) do lines[#lines + 1] = line end
  idx = tid
end
function request()
  idx = idx + step
  if idx > #lines then idx = ((idx - 1) % #lines) + 1 end
  local l = lines[idx]
  local tab = l:find("\t", 1, true)
  return wrk.format("POST", prefix .. l:sub(1, tab - 1), { ["Content-Type"] = "text/xml" }, l:sub(tab + 1))
end
"#;

pub struct Options {
    pub database_url: Option<String>,
    pub seconds: u64,
    pub connections: u32,
    pub threads: u32,
    pub requests: usize,
    /// Archived messages seeded first (with 100,000 followers); 0: an empty database.
    pub archive: i64,
    /// Ingest writer threads (0: the default for the backend).
    pub writers: usize,
    /// The ingest journal (PostgreSQL), as `ingest_journal` in the configuration.
    pub journal: bool,
    /// When the journal flushes, as `ingest_journal_sync`.
    pub journal_sync: patron_store::inbox::JournalSync,
    /// Crypto-only and full-ingest phases, alternating, in one run.
    pub rounds: usize,
}

#[derive(Debug)]
pub struct Figures {
    pub route: &'static str,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
}

fn ms(s: &str) -> f64 {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let v: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => f64::NAN,
    }
}

/// Reads the figures out of wrk's `--latency` report.
pub fn parse_wrk(route: &'static str, out: &str) -> Figures {
    let mut f = Figures {
        route,
        requests: 0,
        rps: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        non_2xx: 0,
    };
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            f.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            f.p50_ms = ms(v);
        } else if let Some(v) = t.strip_prefix("99%") {
            f.p99_ms = ms(v);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            f.non_2xx = v.trim().parse().unwrap_or(0);
        } else if t.contains(" requests in ") {
            f.requests = t
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    f
}

/// Writes `slug_free_count` pushes for round `round`: MsgIds and new followers of their
/// own, so that no round's pushes are retries of another's.
fn write_requests(path: &Path, slug_free_count: usize, round: usize) -> std::io::Result<()> {
    let key = AesKey::from_encoding_aes_key(AES).expect("valid key");
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let ts = chrono::Utc::now().timestamp();
    for i in 0..slug_free_count {
        // Nine pushes in ten come from 5,000 followers of the seeded archive; one in ten
        // from someone new (a follower row to create).
        let from = if i % 10 == 9 {
            format!("o_new_{round}_{i}")
        } else {
            format!("o_{}", (i % 5000) * 17 + 1)
        };
        let xml = format!(
            "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
             <CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello {i}]]></Content>\
             <MsgId>{}</MsgId></xml>",
            9_000_000_000u64 + (round * slug_free_count + i) as u64
        );
        let enc = crypto::encrypt_fresh(&key, APPID, xml.as_bytes());
        let (t, nonce) = (ts.to_string(), format!("{}", 100_000 + i));
        let sig = signature::url_signature(TOKEN, &t, &nonce);
        let msig = signature::msg_signature(TOKEN, &t, &nonce, &enc);
        writeln!(
            w,
            "?signature={sig}&timestamp={t}&nonce={nonce}&openid=o_bench&encrypt_type=aes&msg_signature={msig}\t\
             <xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>"
        )?;
    }
    w.flush()
}

pub(crate) fn run_wrk(
    o: &Options,
    base: &str,
    prefix: &str,
    script: &Path,
    data: &Path,
) -> std::io::Result<String> {
    let out = Command::new("wrk")
        .args([
            "-t",
            &o.threads.to_string(),
            "-c",
            &o.connections.to_string(),
        ])
        .args(["-d", &format!("{}s", o.seconds), "--latency", "-s"])
        .arg(script)
        .arg(base)
        .arg("--")
        .arg(prefix)
        .arg(data)
        .arg(o.threads.to_string())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "wrk failed (is it installed? apt-get install wrk): {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `f` with a scratch directory and a fresh database: SQLite in the directory, or a
/// new schema of the PostgreSQL given (dropped afterwards, whatever `f` returned).
/// The benchmark's tenant, "Bench" (slug `bench` unless `input` names another), in an
/// agency of its own, checked as the form checks it.
pub(crate) fn bench_tenant(
    c: &mut patron_store::DbConn,
    input: TenantInput,
    secrets: &patron_store::SecretBox,
) -> Result<tenants::Tenant, BenchError> {
    let agency = tenants::create_agency(c, "Bench")?;
    let valid = tenants::validate(&TenantInput {
        name: "Bench".into(),
        slug: if input.slug.is_empty() {
            "bench".into()
        } else {
            input.slug.clone()
        },
        ..input
    })
    .map_err(|e| BenchError::Usage(format!("{e:?}")))?;
    Ok(tenants::create(
        c,
        &AgencyScope::system(AgencyId(agency.id)),
        &valid,
        secrets,
    )?)
}

pub(crate) fn with_scratch_database(
    tag: &str,
    database_url: Option<&str>,
    f: impl FnOnce(&Path, &str) -> Result<String, BenchError>,
) -> Result<String, BenchError> {
    scratch_database(tag, database_url, false, f)
}

/// [`with_scratch_database`], or with `keep` the directory and the schema left for a
/// rerun or a profile (their names are printed on stderr).
pub(crate) fn scratch_database(
    tag: &str,
    database_url: Option<&str>,
    keep: bool,
    f: impl FnOnce(&Path, &str) -> Result<String, BenchError>,
) -> Result<String, BenchError> {
    let dir: PathBuf = std::env::temp_dir().join(format!("patron-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (url, schema) = match database_url {
        Some(u) if u.starts_with("postgres") => {
            let schema = format!("patron_{tag}_{}", std::process::id()).replace('-', "_");
            let pool = patron_store::DbPool::connect(u, 1)?;
            diesel_free_exec(&pool, &format!("CREATE SCHEMA {schema}"))?;
            let sep = if u.contains('?') { '&' } else { '?' };
            (
                format!("{u}{sep}options=-csearch_path%3D{schema}"),
                Some((u.to_string(), schema)),
            )
        }
        Some(u) => (u.to_string(), None),
        None => (format!("sqlite://{}", dir.join("bench.db").display()), None),
    };
    let result = f(&dir, &url);
    if keep {
        eprintln!(
            "kept: directory {}, database {}",
            dir.display(),
            patron_store::conn::redact(&url)
        );
        return result;
    }
    if let Some((base, schema)) = schema {
        if let Ok(pool) = patron_store::DbPool::connect(&base, 1) {
            let _ = diesel_free_exec(&pool, &format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Webhook ingest in safe mode beside the crypto-only baseline, with wrk on loopback.
    /// Uses a temporary SQLite database, or a fresh schema of --database-url postgres://….
    Webhook {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: u32,
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Distinct pushes to prepare (more than the run sends, or retries are measured).
        #[arg(long, default_value_t = 400_000)]
        requests: usize,
        /// Archived messages to seed first, with 100,000 followers (0: start empty).
        #[arg(long, default_value_t = 1_000_000)]
        archive: i64,
        /// Ingest writer threads (0: the backend's default).
        #[arg(long, default_value_t = 0)]
        writers: usize,
        /// Store every push before answering it (`ingest_journal = false`), to compare.
        #[arg(long)]
        no_journal: bool,
        /// When the ingest journal flushes (`ingest_journal_sync`): every 100 ms, or
        /// before answering each group.
        #[arg(long, default_value = "interval")]
        journal_sync: patron_store::inbox::JournalSync,
        /// Rounds of a crypto-only phase then a full-ingest phase, in one run: the
        /// median ratio holds better than one pair on a noisy machine.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Coupons: bulk issue to every follower, QR images per second, API redemptions
    /// under wrk.
    Coupons {
        #[arg(long, default_value_t = 1_000_000)]
        followers: i64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: u32,
        #[arg(long, default_value_t = 2)]
        threads: u32,
    },
    /// The dashboard and the portfolio under wrk over a large tenant in an agency of many,
    /// and what the daily figures' rollups cost.
    Dashboard {
        #[arg(long, default_value_t = 1_000_000)]
        followers: i64,
        #[arg(long, default_value_t = 10_000_000)]
        messages: i64,
        #[arg(long, default_value_t = 200)]
        tenants: i64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 4)]
        connections: u32,
        #[arg(long, default_value_t = 2)]
        threads: u32,
    },
    /// Planning a broadcast to every follower of a service account.
    Broadcasts {
        #[arg(long, default_value_t = 1_000_000)]
        followers: i64,
    },
    /// Followers list and search over one tenant with many followers and messages.
    Followers {
        #[arg(long, default_value_t = 1_000_000)]
        followers: i64,
        #[arg(long, default_value_t = 10_000_000)]
        messages: i64,
        #[arg(long, default_value_t = 40)]
        rounds: usize,
    },
    /// WeChat Pay trade-bill reconciliation on files: a generated day's bill and our
    /// records matched in-process, beside benches/reconcile/{polars,pandas}_match.py on
    /// the same files in the same run (needs python3 with benches/reconcile/requirements.txt).
    ReconcileFiles {
        /// Cases to generate: about one bill line and one record of ours each.
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The bill's day (Beijing).
        #[arg(long, default_value = "2026-03-14")]
        day: chrono::NaiveDate,
        #[arg(long, default_value = "python3")]
        python: String,
        /// The scripts' directory [default: benches/reconcile of the source tree].
        #[arg(long)]
        scripts: Option<PathBuf>,
        /// Seconds each contender may take.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
        /// Keep the generated files.
        #[arg(long)]
        keep: bool,
        /// Internal: run only the Rust contender on this bill (the benchmark re-executes
        /// itself so that the peak memory it reads is the matcher's own).
        #[arg(long, hide = true, requires = "worker_orders")]
        worker_bill: Option<PathBuf>,
        #[arg(long, hide = true)]
        worker_orders: Option<PathBuf>,
    },
    /// WeChat Pay trade-bill reconciliation end to end with the database: a day's
    /// payments and refunds seeded (SQLite, or a fresh schema of --database-url
    /// postgres://…), its bill written with discrepancies injected, then the import timed
    /// in its own process (parse, load the day's records, match, write the run and its
    /// exceptions) and its result checked against what was injected.
    ReconcileDb {
        /// Cases to generate: about one bill line and one record of ours each.
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
        /// Cases in a thousand turned into a discrepancy (ten kinds in turn).
        #[arg(long, default_value_t = 10)]
        exceptions_per_mille: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The bill's day (Beijing).
        #[arg(long, default_value = "2026-03-14")]
        day: chrono::NaiveDate,
        /// Seconds the import may take.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Keep the database (and the bill) for a rerun or a profile; the rerun is
        /// `patron --database-url URL bench reconcile-db --worker-bill DIR/bill.csv` (it
        /// stores another run of the day).
        #[arg(long)]
        keep: bool,
        /// Internal: run only the import of this bill (the benchmark re-executes itself
        /// so that the peak memory it reads is the import's own).
        #[arg(long, hide = true)]
        worker_bill: Option<PathBuf>,
    },
}

/// Runs a `patron bench …` command with the loaded settings (`--database-url` picks the
/// backend).
pub fn command(cmd: BenchCmd, s: &Settings) -> Result<String, BenchError> {
    match cmd {
        BenchCmd::Webhook {
            seconds,
            connections,
            threads,
            requests,
            archive,
            writers,
            no_journal,
            journal_sync,
            rounds,
        } => {
            let database_url = (!s.database_url.is_empty()).then(|| s.database_url.clone());
            webhook(&Options {
                database_url,
                seconds,
                connections,
                threads,
                requests,
                archive,
                writers,
                journal: !no_journal,
                journal_sync,
                rounds,
            })
        }
        BenchCmd::Coupons {
            followers,
            seconds,
            connections,
            threads,
        } => {
            let database_url = (!s.database_url.is_empty()).then(|| s.database_url.clone());
            coupons::coupons(&coupons::CouponOptions {
                database_url,
                followers,
                seconds,
                connections,
                threads,
            })
        }
        BenchCmd::Dashboard {
            followers,
            messages,
            tenants,
            seconds,
            connections,
            threads,
        } => {
            let database_url = (!s.database_url.is_empty()).then(|| s.database_url.clone());
            dashboard::dashboard(&dashboard::DashboardOptions {
                database_url,
                followers,
                messages,
                tenants,
                seconds,
                connections,
                threads,
            })
        }
        BenchCmd::Broadcasts { followers } => {
            let database_url = (!s.database_url.is_empty()).then(|| s.database_url.clone());
            broadcasts::broadcasts(&broadcasts::BroadcastOptions {
                database_url,
                followers,
            })
        }
        BenchCmd::Followers {
            followers,
            messages,
            rounds,
        } => {
            let database_url = (!s.database_url.is_empty()).then(|| s.database_url.clone());
            self::followers(&FollowerOptions {
                database_url,
                followers,
                messages,
                rounds,
            })
        }
        BenchCmd::ReconcileFiles {
            lines,
            seed,
            day,
            python,
            scripts,
            timeout,
            keep,
            worker_bill,
            worker_orders,
        } => match (worker_bill, worker_orders) {
            (Some(bill), Some(orders)) => reconcile::worker(&bill, &orders, day),
            _ => reconcile::reconcile_files(&reconcile::ReconcileOptions {
                lines,
                seed,
                day,
                python,
                scripts,
                timeout,
                keep,
            }),
        },
        BenchCmd::ReconcileDb {
            lines,
            exceptions_per_mille,
            seed,
            day,
            timeout,
            keep,
            worker_bill,
        } => match worker_bill {
            Some(bill) => reconcile_db::worker(&s.database_url, &bill, day),
            None => reconcile_db::reconcile_db(&reconcile_db::ReconcileDbOptions {
                database_url: (!s.database_url.is_empty()).then(|| s.database_url.clone()),
                lines,
                exceptions_per_mille,
                seed,
                day,
                timeout,
                keep,
            }),
        },
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Start(#[from] serve::StartError),
    #[error("{0}")]
    Store(#[from] patron_store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Usage(String),
}

impl From<patron_store::DieselError> for BenchError {
    fn from(e: patron_store::DieselError) -> Self {
        BenchError::Store(e.into())
    }
}

pub fn webhook(o: &Options) -> Result<String, BenchError> {
    with_scratch_database("bench-webhook", o.database_url.as_deref(), |dir, url| {
        run(o, dir, url)
    })
}

fn diesel_free_exec(
    pool: &patron_store::DbPool,
    sql: &str,
) -> Result<(), patron_store::StoreError> {
    patron_store::exec_sql(&mut *pool.get()?, sql)
}

fn run(o: &Options, dir: &Path, url: &str) -> Result<String, BenchError> {
    let mut s = Settings::for_test(&dir.join("data"), url);
    s.ingest_writers = o.writers;
    s.ingest_journal = o.journal;
    s.ingest_journal_sync = o.journal_sync;
    s.workers = 0;
    s.db_pool_size = 16;
    s.log_level = "warn".into();
    let listener = serve::listen(&s)?;
    let base = format!("http://{}", listener.local_addr()?);
    let prepared = serve::prepare(&s, &base)?;
    let backend = format!("{:?}", prepared.state.pool.backend()).to_lowercase();
    {
        let mut c = prepared.state.pool.get()?;
        let t = bench_tenant(
            &mut c,
            TenantInput {
                wx_appid: APPID.into(),
                wx_original_id: GH.into(),
                wx_token: TOKEN.into(),
                wx_aes_key: AES.into(),
                ..Default::default()
            },
            &prepared.state.secrets,
        )?;
        patron_store::reply_rules::create(
            &mut c,
            &TenantScope::system(t.tenant_ref()),
            &Trigger::Default,
            "Thanks, we got it.",
            0,
        )?;
        // BENCH_DROP_INDEX=name: the comparison without one of the archive's indexes
        // (docs/benchmarks.md measures each index the webhook pays for this way).
        if let Ok(index) = std::env::var("BENCH_DROP_INDEX") {
            if !index
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                return Err(BenchError::Usage(format!("not an index name: {index}")));
            }
            patron_store::exec_sql(&mut c, &format!("DROP INDEX {index}"))?;
        }
        // An archive with history, as a tenant in use has (and as the planner's
        // statistics then describe): 100,000 followers, `archive` messages.
        if o.archive > 0 {
            for sql in seed_sql(prepared.state.pool.backend(), t.id, 100_000, o.archive) {
                patron_store::exec_sql(&mut c, &sql)?;
            }
            // The seed's write-ahead log (over a gigabyte) would otherwise set off
            // checkpoints in the middle of the measured runs, whose flushes stall every
            // commit and journal write behind them.
            if prepared.state.pool.backend() == patron_store::Backend::Postgres {
                patron_store::exec_sql(&mut c, "CHECKPOINT")?;
            }
        }
    }
    // One file of distinct pushes per round's full-ingest phase; the crypto-only phases
    // store nothing and reuse the first.
    let rounds = o.rounds.max(1);
    let mut data = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let path = dir.join(format!("requests-{r}.txt"));
        write_requests(&path, o.requests, r)?;
        data.push(path);
    }
    let script = dir.join("push.lua");
    std::fs::write(&script, LUA)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let state = prepared.state.clone();
    let server_settings = s.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = serve::http_server_with(
                &server_settings,
                state,
                listener,
                patron_web::webhook::bench_routes,
            )
            .expect("server starts");
            tx.send(server.handle()).expect("handle");
            let _ = server.await;
        })
    });
    let handle = rx
        .recv()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let local_db =
        backend == "postgres" && cpu::is_loopback(o.database_url.as_deref().unwrap_or(""));
    let before = prepared.state.ingest.stats();
    let mut phases: Vec<Phase> = Vec::with_capacity(rounds);
    let mut measured = Ok(());
    for file in &data {
        let cpu0 = cpu::Sample::take(local_db);
        let crypto_out = run_wrk(o, &base, "/wx-crypto-only/bench", &script, &data[0]);
        let cpu1 = cpu::Sample::take(local_db);
        let full_out = run_wrk(o, &base, "/wx/bench", &script, file);
        // With the ingest journal the last pushes reach the database just after the
        // load: the phase includes that drain (its time is printed, its CPU counted), so
        // none of it runs into the next crypto-only phase.
        let load_end = std::time::Instant::now();
        let settled = prepared
            .state
            .ingest
            .settle(std::time::Duration::from_secs(120));
        let drain = load_end.elapsed();
        let cpu2 = cpu::Sample::take(local_db);
        match (crypto_out, full_out) {
            (Ok(c), Ok(f)) => phases.push(Phase {
                crypto: parse_wrk("crypto only", &c),
                full: parse_wrk("full ingest", &f),
                crypto_cpu: cpu1.since(&cpu0),
                full_cpu: cpu2.since(&cpu1),
                settled,
                drain,
            }),
            (Err(e), _) | (_, Err(e)) => {
                measured = Err(e);
                break;
            }
        }
    }
    let after = prepared.state.ingest.stats();
    let stored = patron_store::inbox::count_messages(&mut *prepared.state.pool.get()?)?;
    std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true)))
        .join()
        .ok();
    let _ = thread.join();
    measured?;
    let mut writers = if o.writers > 0 {
        format!(", {} ingest writers", o.writers)
    } else {
        String::new()
    };
    if backend == "postgres" {
        if prepared.state.ingest.journaled() {
            writers.push_str(&format!(
                ", ingest journal (ingest_journal_sync = \"{}\")",
                o.journal_sync.as_str()
            ));
        } else {
            writers.push_str(", no ingest journal");
        }
    }
    let mut out = format!(
        "webhook ingest, safe mode, {backend}{writers}: wrk -t{} -c{} -d{}s on loopback, {rounds} round(s) of crypto-only then full ingest, {} distinct pushes prepared a round, {} messages archived before\n\n\
         | round | route | requests | req/s | p50 ms | p99 ms | non-2xx | full / crypto-only |\n|---|---|---|---|---|---|---|---|\n",
        o.threads, o.connections, o.seconds, o.requests, o.archive
    );
    for (r, ph) in phases.iter().enumerate() {
        for (f, ratio) in [
            (&ph.crypto, String::new()),
            (&ph.full, format!("{:.2}", ph.ratio())),
        ] {
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {ratio} |\n",
                r + 1,
                f.route,
                f.requests,
                f.rps,
                f.p50_ms,
                f.p99_ms,
                f.non_2xx
            ));
        }
    }
    let note = match (backend.as_str(), local_db) {
        ("sqlite", _) => "; SQLite works inside Patron, in its ingest writers",
        (_, false) => "; the database is on another machine and is not measured",
        _ => "",
    };
    let total = |f: fn(&Phase) -> &Figures| phases.iter().map(|p| f(p).requests).sum::<u64>();
    let (crypto_requests, full_requests) = (total(|p| &p.crypto), total(|p| &p.full));
    out.push_str(&cpu::table(
        &[
            (
                "crypto only",
                crypto_requests,
                cpu::Spent::sum(phases.iter().map(|p| &p.crypto_cpu)),
            ),
            (
                "full ingest",
                full_requests,
                cpu::Spent::sum(phases.iter().map(|p| &p.full_cpu)),
            ),
        ],
        note,
    ));
    let (batches, pushes, busy) = (
        after.batches - before.batches,
        after.pushes - before.pushes,
        after.busy_seconds - before.busy_seconds,
    );
    out.push_str(&format!(
        "\ningest writers: {batches} batches ({} failed as a whole), {:.1} pushes a batch, {:.1} µs of writer time a push\n",
        after.failed - before.failed,
        pushes as f64 / batches.max(1) as f64,
        busy * 1e6 / pushes.max(1) as f64
    ));
    if prepared.state.ingest.journaled() {
        let slowest = phases.iter().map(|p| p.drain).max().unwrap_or_default();
        out.push_str(&format!(
            "\ningest journal: plain pushes acknowledged once journaled; {} at most {:.0} ms after each load ended; {} flushes ({:.1} pushes a flush)\n",
            if phases.iter().all(|p| p.settled) {
                "all of them were in the database"
            } else {
                "NOT all of them were in the database"
            },
            slowest.as_secs_f64() * 1e3,
            after.journal_flushes - before.journal_flushes,
            (after.journaled - before.journaled) as f64
                / (after.journal_flushes - before.journal_flushes).max(1) as f64
        ));
    }
    let mut ratios: Vec<f64> = phases.iter().map(Phase::ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let p99 = phases.iter().map(|p| p.full.p99_ms).fold(0.0, f64::max);
    out.push_str(&format!(
        "\nfull / crypto-only throughput: {:.2} (median of {rounds}; all phases together {:.2}); full-ingest p99 at most {p99:.2} ms; archive rows stored: {stored}{}\n",
        median(&ratios),
        full_requests as f64 / crypto_requests.max(1) as f64,
        if phases.iter().any(|p| p.full.requests as usize > o.requests) {
            " (more requests than prepared pushes: the rest were retries answered from the archive)"
        } else {
            ""
        }
    ));
    Ok(out)
}

/// One round: a crypto-only phase, then a full-ingest phase, with what each cost.
struct Phase {
    crypto: Figures,
    full: Figures,
    crypto_cpu: cpu::Spent,
    full_cpu: cpu::Spent,
    settled: bool,
    drain: std::time::Duration,
}

impl Phase {
    fn ratio(&self) -> f64 {
        self.full.rps / self.crypto.rps.max(f64::MIN_POSITIVE)
    }
}

/// The median of sorted values (0 for none).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// CPU time per request, by process: steadier than requests per second on a shared
/// machine, and it says which side a change made cheaper. Read from `/proc` (Linux).
mod cpu {
    use std::collections::HashMap;

    /// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on every Linux
    /// architecture Patron runs on).
    const TICKS: f64 = 100.0;

    /// CPU seconds spent in one phase, by process.
    pub struct Spent {
        /// The share of the machine's CPU time left idle.
        pub(super) idle_share: f64,
        pub(super) patron: f64,
        pub(super) writers: f64,
        pub(super) wrk: f64,
        /// Every local PostgreSQL process, when measured.
        pub(super) db: Option<f64>,
    }

    impl Spent {
        /// Several phases as one: CPU seconds add up, idle shares are averaged.
        pub fn sum<'a>(phases: impl Iterator<Item = &'a Spent>) -> Spent {
            let mut total = Spent {
                idle_share: 0.0,
                patron: 0.0,
                writers: 0.0,
                wrk: 0.0,
                db: None,
            };
            let mut n = 0;
            for p in phases {
                n += 1;
                total.idle_share += p.idle_share;
                total.patron += p.patron;
                total.writers += p.writers;
                total.wrk += p.wrk;
                total.db = match (total.db, p.db) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                };
            }
            total.idle_share /= f64::from(n.max(1));
            total
        }
    }

    pub struct Sample {
        /// This process (HTTP, crypto, ingest writers) and its waited-for children (wrk).
        own: u64,
        /// Of `own`, the ingest writer threads.
        writers: u64,
        children: u64,
        /// Every local `postgres` process by pid, when the database is on this machine.
        postgres: Option<HashMap<u32, u64>>,
        /// The machine's (busy, idle) ticks over all CPUs, from `/proc/stat`.
        machine: (u64, u64),
    }

    /// (busy, idle) ticks of all CPUs since boot; idle includes waiting for I/O.
    fn machine() -> (u64, u64) {
        let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let Some(cpu) = text.lines().find(|l| l.starts_with("cpu ")) else {
            return (0, 0);
        };
        // The label ("cpu") is not a number and drops out.
        let f: Vec<u64> = cpu
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
        let busy = f.iter().take(8).sum::<u64>() - idle;
        (busy, idle)
    }

    /// Whether the database URL names this machine (its processes can be measured):
    /// loopback, or a Unix socket directory.
    pub fn is_loopback(url: &str) -> bool {
        let rest = url.split("://").nth(1).unwrap_or("");
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or("");
        host.is_empty()
            || host.starts_with("%2F")
            || ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .any(|h| host.starts_with(h))
    }

    /// utime + stime and cutime + cstime of one `/proc/<pid>/stat`, and its command.
    fn stat(path: &str) -> Option<(String, u64, u64)> {
        let text = std::fs::read_to_string(path).ok()?;
        let (head, rest) = text.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_string();
        // Fields after the command: state is field 3; utime 14, stime 15, cutime 16, cstime 17.
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| {
            f.get(i - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Some((comm, n(14) + n(15), n(16) + n(17)))
    }

    impl Sample {
        pub fn take(postgres: bool) -> Sample {
            let (_, own, children) = stat("/proc/self/stat").unwrap_or_default();
            let writers = std::fs::read_dir("/proc/self/task")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|t| stat(&format!("{}/stat", t.path().display())))
                .filter(|(comm, _, _)| comm.starts_with("ingest-writer"))
                .map(|(_, t, _)| t)
                .sum();
            let postgres = postgres.then(|| {
                let mut m = HashMap::new();
                for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Some(pid) = e.file_name().to_str().and_then(|p| p.parse().ok()) else {
                        continue;
                    };
                    if let Some((comm, t, _)) = stat(&format!("/proc/{pid}/stat")) {
                        if comm == "postgres" {
                            m.insert(pid, t);
                        }
                    }
                }
                m
            });
            Sample {
                own,
                writers,
                children,
                postgres,
                machine: machine(),
            }
        }

        /// CPU seconds since `earlier`. A database process that started in between
        /// counts from zero; one that ended is not counted.
        pub fn since(&self, earlier: &Sample) -> Spent {
            let secs = |t: u64| t as f64 / TICKS;
            let db = self.postgres.as_ref().map(|now| {
                let before = earlier.postgres.as_ref();
                now.iter()
                    .map(|(pid, t)| {
                        t - before
                            .and_then(|b| b.get(pid))
                            .copied()
                            .unwrap_or(0)
                            .min(*t)
                    })
                    .map(secs)
                    .sum()
            });
            let (busy, idle) = (
                self.machine.0 - earlier.machine.0,
                self.machine.1 - earlier.machine.1,
            );
            Spent {
                idle_share: idle as f64 / (busy + idle).max(1) as f64,
                patron: secs(self.own - earlier.own),
                writers: secs(self.writers - earlier.writers),
                wrk: secs(self.children - earlier.children),
                db,
            }
        }
    }

    /// A table of CPU microseconds per request for each phase.
    pub fn table(rows: &[(&str, u64, Spent)], note: &str) -> String {
        let db_measured = rows.iter().any(|r| r.2.db.is_some());
        let mut out = format!(
            "\nCPU per request (µs, from /proc){note}\n\n| route | patron | of which ingest writers | wrk | {}total | machine idle |\n|---|---|---|---|{}---|---|\n",
            if db_measured { "postgres | " } else { "" },
            if db_measured { "---|" } else { "" },
        );
        for (route, requests, spent) in rows {
            let per = |s: f64| s * 1e6 / (*requests).max(1) as f64;
            let db_cell = spent
                .db
                .map(|d| format!("{:.1} | ", per(d)))
                .unwrap_or_default();
            out.push_str(&format!(
                "| {route} | {:.1} | {:.1} | {:.1} | {db_cell}{:.1} | {:.0}% |\n",
                per(spent.patron),
                per(spent.writers),
                per(spent.wrk),
                per(spent.patron + spent.wrk + spent.db.unwrap_or(0.0)),
                spent.idle_share * 100.0
            ));
        }
        out
    }
}

/// One timed case of the followers benchmark.
type Case = Box<dyn FnMut(&mut patron_store::DbConn) -> Result<(), patron_store::StoreError>>;

/// `patron bench followers`: followers list and search over one tenant with `followers`
/// followers and `messages` archived messages, timed in-process (store query only).
pub struct FollowerOptions {
    pub database_url: Option<String>,
    pub followers: i64,
    pub messages: i64,
    pub rounds: usize,
}

pub(crate) fn seed_sql(
    backend: patron_store::Backend,
    tenant: i64,
    followers: i64,
    messages: i64,
) -> Vec<String> {
    use patron_store::Backend::*;
    // Rows are generated inside the database: one statement each, no round trips.
    let series = |n: i64| {
        match backend {
        Sqlite => format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"),
        Postgres => format!("SELECT i FROM generate_series(1, {n}) AS s(i)"),
    }
    };
    let now = match backend {
        Sqlite => "datetime('now')".to_string(),
        Postgres => "now()::timestamp".to_string(),
    };
    let minus = |secs: &str| match backend {
        Sqlite => format!("datetime('now', '-' || ({secs}) || ' seconds')"),
        Postgres => format!("(now() - (({secs}) || ' seconds')::interval)::timestamp"),
    };
    let concat = |a: &str, b: &str| format!("{a} || {b}");
    vec![
        format!(
            "INSERT INTO followers (tenant_id, openid, subscribed, subscribed_at, subscribe_count, subscribe_scene, qr_scene, \
             last_interaction_at, name, phone, created_at, updated_at) \
             SELECT {tenant}, {openid}, (i % 10) <> 0, {sub_at}, 1, 'ADD_SCENE_QR_CODE', {scene}, {last}, {name}, {phone}, {now}, {now} FROM ({series}) AS t",
            openid = concat("'o_'", "i"),
            sub_at = minus("i * 7"),
            scene = concat("'store'", "(i % 50)"),
            last = minus("(i * 13) % 7776000"),
            name = format!("CASE WHEN i % 3 = 0 THEN {} ELSE NULL END", concat("'Name '", "i")),
            phone = format!("CASE WHEN i % 4 = 0 THEN {} ELSE NULL END", concat("'138'", "i")),
            series = series(followers),
        ),
        format!(
            "INSERT INTO messages (tenant_id, follower_id, direction, msg_type, dedupe_key, content, body, reply, sent_at, received_at) \
             SELECT {tenant}, (SELECT min(id) FROM followers) + (i % {followers}), 'in', 'text', {key}, {content}, '<xml/>', NULL, {at}, {at} FROM ({series}) AS t",
            key = concat("'msg:'", "i"),
            content = concat("'message '", "i"),
            at = minus(&format!("{messages} - i")),
            series = series(messages),
        ),
        match backend {
            Sqlite => "ANALYZE".to_string(),
            // VACUUM sets the visibility map that index-only scans need, as autovacuum
            // does after a bulk load in a running system (and cannot share a statement).
            Postgres => "VACUUM ANALYZE followers".to_string(),
        },
        "ANALYZE messages".to_string(),
    ]
}

pub fn followers(o: &FollowerOptions) -> Result<String, BenchError> {
    use patron_store::followers::{self as f, Filter};
    with_scratch_database("bench-followers", o.database_url.as_deref(), |dir, url| {
        let mut s = Settings::for_test(&dir.join("data"), url);
        s.db_pool_size = 2;
        let (pool, _) = serve::open_database(&s)?;
        let backend = pool.backend();
        let mut c = pool.get()?;
        let t = bench_tenant(&mut c, TenantInput::default(), &serve::secrets(&s)?)?;
        let scope = TenantScope::system(t.tenant_ref());
        let started = std::time::Instant::now();
        for sql in seed_sql(backend, t.id, o.followers, o.messages) {
            patron_store::exec_sql(&mut c, &sql)?;
        }
        let seeded = started.elapsed();
        let (all, _) = f::count(&mut c, &scope)?;
        let mid = f::list(&mut c, &scope, &Filter::default())?.0[0].id - o.followers / 2;
        let busiest = f::list(&mut c, &scope, &Filter::default())?.0[0].id;
        let cases: Vec<(&str, Filter)> = vec![
            ("first page", Filter::default()),
            (
                "page deep in the list (keyset)",
                Filter {
                    before: Some(mid),
                    ..Default::default()
                },
            ),
            (
                "subscribed only",
                Filter {
                    subscribed: "yes".into(),
                    ..Default::default()
                },
            ),
            (
                "unsubscribed only",
                Filter {
                    subscribed: "no".into(),
                    ..Default::default()
                },
            ),
            (
                "QR scene",
                Filter {
                    qr_scene: "store7".into(),
                    ..Default::default()
                },
            ),
            (
                "active in 7 days",
                Filter {
                    active_days: Some(7),
                    ..Default::default()
                },
            ),
            (
                "active in 30 days",
                Filter {
                    active_days: Some(30),
                    ..Default::default()
                },
            ),
            (
                "active in 90 days",
                Filter {
                    active_days: Some(90),
                    ..Default::default()
                },
            ),
            (
                "active in 30 days, deep in the list (keyset)",
                Filter {
                    active_days: Some(30),
                    before: Some(mid),
                    ..Default::default()
                },
            ),
            (
                "active in 30 days and unsubscribed",
                Filter {
                    active_days: Some(30),
                    subscribed: "no".into(),
                    ..Default::default()
                },
            ),
            (
                "search: common name prefix",
                Filter {
                    q: "Name 1".into(),
                    ..Default::default()
                },
            ),
            (
                "search: exact openid",
                Filter {
                    q: format!("o_{}", o.followers / 3),
                    ..Default::default()
                },
            ),
            (
                "search: rare phone",
                Filter {
                    q: format!("138{}", o.followers - 4),
                    ..Default::default()
                },
            ),
        ];
        let mut out = format!(
            "followers list and search, {backend:?}: {all} followers, {} messages in one tenant (seeded in {:.1}s); \
             {} rounds per case, store query time\n\n| case | p50 ms | p95 ms | max ms |\n|---|---|---|---|\n",
            o.messages,
            seeded.as_secs_f64(),
            o.rounds
        );
        let mut time = |name: &str, mut f: Case| -> Result<(), BenchError> {
            let mut ms: Vec<f64> = Vec::with_capacity(o.rounds);
            for _ in 0..o.rounds {
                let t0 = std::time::Instant::now();
                f(&mut c)?;
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            ms.sort_by(|a, b| a.total_cmp(b));
            let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
            out.push_str(&format!(
                "| {name} | {:.2} | {:.2} | {:.2} |\n",
                pct(0.5),
                pct(0.95),
                ms[ms.len() - 1]
            ));
            Ok(())
        };
        for (name, filter) in cases {
            let sc = scope.clone();
            time(name, Box::new(move |c| f::list(c, &sc, &filter).map(drop)))?;
        }
        let sc = scope.clone();
        time(
            "counts (all, following)",
            Box::new(move |c| f::count(c, &sc).map(drop)),
        )?;
        let sc = scope.clone();
        time(
            "timeline of one follower",
            Box::new(move |c| f::timeline(c, &sc, busiest, None).map(drop)),
        )?;
        let sc = scope.clone();
        time(
            "dashboard: counts, active and new in 7 days",
            Box::new(move |c| {
                let today = chrono::Utc::now().date_naive();
                f::glance(c, &sc, today, patron_web::ui::followers::MATCH_CAP).map(drop)
            }),
        )?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrk_reports_are_parsed() {
        let out = "Running 10s test @ http://127.0.0.1:1\n  2 threads and 64 connections\n  Latency Distribution\n     50%    1.50ms\n     75%    2.00ms\n     90%    3.00ms\n     99%   12.34ms\n  48000 requests in 10.00s, 20.00MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:   4800.12\n";
        let f = super::parse_wrk("x", out);
        assert_eq!(f.requests, 48000);
        assert!((f.rps - 4800.12).abs() < 1e-6);
        assert!((f.p99_ms - 12.34).abs() < 1e-9);
        assert!((f.p50_ms - 1.5).abs() < 1e-9);
        assert_eq!(f.non_2xx, 3);
        assert!((super::ms("850.00us") - 0.85).abs() < 1e-9);
    }

    #[test]
    fn only_a_database_on_this_machine_is_measured() {
        use super::cpu::is_loopback;
        assert!(is_loopback(
            "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
        ));
        assert!(is_loopback("postgres://u:p@localhost/db"));
        assert!(is_loopback(
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/test"
        ));
        assert!(is_loopback("postgres:///test"));
        assert!(!is_loopback("postgres://postgres@db.internal:5432/test"));
        assert!(!is_loopback(
            "postgres://postgres@10.0.0.5/test?host=127.0.0.1"
        ));
    }

    #[test]
    fn cpu_samples_count_this_process() {
        let before = super::cpu::Sample::take(false);
        // Work long enough for several clock ticks (10 ms each) to land in this process.
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(200);
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let spent = super::cpu::Sample::take(false).since(&before);
        assert!(spent.patron > 0.0, "200 ms of work took no CPU time");
        assert!(spent.db.is_none());
        let table = super::cpu::table(&[("r", 100, spent)], "");
        assert!(table.contains("| r | "), "{table}");
    }

    #[test]
    fn rounds_are_summed_and_their_ratios_reduced_to_a_median() {
        assert_eq!(super::median(&[]), 0.0);
        assert_eq!(super::median(&[0.4, 0.5, 0.9]), 0.5);
        assert_eq!(super::median(&[0.4, 0.5, 0.6, 0.9]), 0.55);
        let phase = |patron: f64, db: Option<f64>, idle_share: f64| super::cpu::Spent {
            idle_share,
            patron,
            writers: patron / 2.0,
            wrk: 1.0,
            db,
        };
        let both = [phase(2.0, Some(1.0), 0.1), phase(4.0, Some(3.0), 0.3)];
        let sum = super::cpu::Spent::sum(both.iter());
        assert_eq!((sum.patron, sum.writers, sum.wrk), (6.0, 3.0, 2.0));
        assert_eq!(sum.db, Some(4.0));
        assert!((sum.idle_share - 0.2).abs() < 1e-12);
        let local = [phase(1.0, None, 0.0), phase(1.0, None, 0.0)];
        assert_eq!(super::cpu::Spent::sum(local.iter()).db, None);
    }
}
