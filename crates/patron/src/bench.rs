//! `patron bench webhook`: webhook ingest under load, measured with wrk on loopback.
//!
//! It starts Patron in-process over a fresh database (SQLite in a temp dir, or a fresh
//! schema of the PostgreSQL given), creates a safe-mode tenant with a default reply,
//! pre-generates signed and encrypted pushes with distinct MsgIds (wrk's Lua cannot do
//! AES), then runs wrk against `/wx-crypto-only/{slug}` (verify + decrypt + parse +
//! encrypted reply, no database) and `/wx/{slug}` (the same plus dedupe insert, follower
//! upsert and archive) in the same run, and prints both side by side.

use crate::config::Settings;
use crate::serve;
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

fn write_requests(path: &Path, slug_free_count: usize) -> std::io::Result<()> {
    let key = AesKey::from_encoding_aes_key(AES).expect("valid key");
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let ts = chrono::Utc::now().timestamp();
    for i in 0..slug_free_count {
        let xml = format!(
            "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[o_bench_{:05}]]></FromUserName>\
             <CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello {i}]]></Content>\
             <MsgId>{}</MsgId></xml>",
            i % 5000,
            9_000_000_000u64 + i as u64
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

fn run_wrk(
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

pub fn webhook(o: &Options) -> Result<String, crate::cli::CliError> {
    let dir: PathBuf = std::env::temp_dir().join(format!("patron-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (url, schema) = match &o.database_url {
        Some(u) if u.starts_with("postgres") => {
            let schema = format!("patron_bench_{}", std::process::id());
            let pool = patron_store::DbPool::connect(u, 1)?;
            diesel_free_exec(&pool, &format!("CREATE SCHEMA {schema}"))?;
            let sep = if u.contains('?') { '&' } else { '?' };
            (
                format!("{u}{sep}options=-csearch_path%3D{schema}"),
                Some((u.clone(), schema)),
            )
        }
        Some(u) => (u.clone(), None),
        None => (format!("sqlite://{}", dir.join("bench.db").display()), None),
    };
    let result = run(o, &dir, &url);
    if let Some((base, schema)) = schema {
        if let Ok(pool) = patron_store::DbPool::connect(&base, 1) {
            let _ = diesel_free_exec(&pool, &format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn diesel_free_exec(
    pool: &patron_store::DbPool,
    sql: &str,
) -> Result<(), patron_store::StoreError> {
    patron_store::exec_sql(&mut *pool.get()?, sql)
}

fn run(o: &Options, dir: &Path, url: &str) -> Result<String, crate::cli::CliError> {
    let mut s = Settings::for_test(&dir.join("data"), url);
    s.bench_routes = true;
    s.workers = 0;
    s.db_pool_size = 16;
    s.log_level = "warn".into();
    let listener = serve::listen(&s)?;
    let base = format!("http://{}", listener.local_addr()?);
    let prepared = serve::prepare(&s, &base)?;
    let backend = format!("{:?}", prepared.state.pool.backend()).to_lowercase();
    {
        let mut c = prepared.state.pool.get()?;
        let agency = tenants::create_agency(&mut c, "Bench")?;
        let valid = tenants::validate(&TenantInput {
            name: "Bench".into(),
            slug: "bench".into(),
            wx_appid: APPID.into(),
            wx_original_id: GH.into(),
            wx_token: TOKEN.into(),
            wx_aes_key: AES.into(),
            ..Default::default()
        })
        .map_err(|e| crate::cli::CliError::Usage(format!("{e:?}")))?;
        let t = tenants::create(
            &mut c,
            &AgencyScope::system(AgencyId(agency.id)),
            &valid,
            &prepared.state.secrets,
        )?;
        patron_store::reply_rules::create(
            &mut c,
            &TenantScope::system(t.tenant_ref()),
            &Trigger::Default,
            "Thanks, we got it.",
            0,
        )?;
    }
    let data = dir.join("requests.txt");
    write_requests(&data, o.requests)?;
    let script = dir.join("push.lua");
    std::fs::write(&script, LUA)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let state = prepared.state.clone();
    let server_settings = s.clone();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server =
                serve::http_server(&server_settings, state, listener).expect("server starts");
            tx.send(server.handle()).expect("handle");
            let _ = server.await;
        })
    });
    let handle = rx
        .recv()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let crypto_out = run_wrk(o, &base, "/wx-crypto-only/bench", &script, &data);
    let full_out = run_wrk(o, &base, "/wx/bench", &script, &data);
    let stored = patron_store::inbox::count_messages(&mut *prepared.state.pool.get()?)?;
    std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true)))
        .join()
        .ok();
    let _ = thread.join();
    let crypto = parse_wrk("crypto only", &crypto_out?);
    let full = parse_wrk("full ingest", &full_out?);
    let mut out = format!(
        "webhook ingest, safe mode, {backend}: wrk -t{} -c{} -d{}s on loopback, {} distinct pushes prepared\n\n\
         | route | requests | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n",
        o.threads, o.connections, o.seconds, o.requests
    );
    for f in [&crypto, &full] {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |\n",
            f.route, f.requests, f.rps, f.p50_ms, f.p99_ms, f.non_2xx
        ));
    }
    out.push_str(&format!(
        "\nfull / crypto-only throughput: {:.2}; archive rows stored: {stored}{}\n",
        full.rps / crypto.rps,
        if full.requests as usize > o.requests {
            " (more requests than prepared pushes: the rest were retries answered from the archive)"
        } else {
            ""
        }
    ));
    Ok(out)
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
}
