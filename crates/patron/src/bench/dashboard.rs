//! `patron bench dashboard` (issue 21): the merchant's dashboard and the agency's
//! portfolio under wrk, over a tenant with a million followers, ten million archived
//! messages and a million coupons in an agency of 200 tenants; and what the rollups cost:
//! one busy day, the tenant's whole history rebuilt, and the minute task over every
//! tenant.

use super::{bench_tenant, parse_wrk, with_scratch_database, BenchError};
use crate::config::Settings;
use crate::serve;
use patron_domain::{AgencyId, AgencyScope, Role, TenantScope};
use patron_store::followers::Filter;
use patron_store::tenants::{self, TenantInput};
use patron_store::Backend;
use std::io::{Read, Write};
use std::process::Command;
use std::time::Instant;

pub struct DashboardOptions {
    pub database_url: Option<String>,
    pub followers: i64,
    pub messages: i64,
    pub tenants: i64,
    pub seconds: u64,
    pub connections: u32,
    pub threads: u32,
}

/// GETs one path with a cookie and prints the 95th percentile, which `--latency` leaves
/// out.
const LUA: &str = r#"
local path, cookie = "/", ""
function init(args)
  path, cookie = args[1], args[2]
end
function request()
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end
function done(summary, latency, requests)
  io.write(string.format("p95_us %d\n", latency:percentile(95)))
end
"#;

/// The archive: `n` pushes over the last 90 days, oldest first, from the seeded
/// followers; one in ten an event (follows through 50 QR codes, unfollows, menu clicks),
/// the texts drawn from 200 phrases.
fn archive_sql(backend: Backend, tenant: i64, followers: i64, n: i64) -> String {
    let series = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        ),
        // BIGINT: (n - i) * 7,776,000 outgrows an INTEGER.
        Backend::Postgres => format!("SELECT i FROM generate_series(1::bigint, {n}) AS s(i)"),
    };
    // 90 days = 7,776,000 s, spread evenly.
    let at = match backend {
        Backend::Sqlite => {
            format!("datetime('now', '-' || (({n} - i) * 7776000 / {n}) || ' seconds')")
        }
        Backend::Postgres => {
            format!("(now() - ((({n} - i) * 7776000 / {n}) || ' seconds')::interval)::timestamp")
        }
    };
    format!(
        "INSERT INTO messages (tenant_id, follower_id, direction, msg_type, event, dedupe_key, content, body, reply, sent_at, received_at) \
         SELECT {tenant}, (SELECT min(id) FROM followers) + (i % {followers}), 'in', \
           CASE WHEN i % 10 = 0 THEN 'event' ELSE 'text' END, \
           CASE WHEN i % 10 <> 0 THEN NULL WHEN i % 30 = 0 THEN 'subscribe' WHEN i % 70 = 0 THEN 'unsubscribe' ELSE 'CLICK' END, \
           'msg:' || i, \
           CASE WHEN i % 10 <> 0 THEN 'phrase ' || (i % 200) WHEN i % 30 = 0 THEN 'qrscene_store' || (i % 50) WHEN i % 70 = 0 THEN NULL ELSE 'MENU_' || (i % 8) END, \
           '<xml/>', CASE WHEN i % 3 = 0 THEN '<xml>reply</xml>' ELSE NULL END, {at}, {at} \
         FROM ({series}) AS t"
    )
}

/// 90 days of figures for every tenant but the big one (the portfolio reads them as it
/// reads any tenant's), and a last push for each.
fn portfolio_sql(backend: Backend, big: i64) -> Vec<String> {
    let (days, day) = match backend {
        Backend::Sqlite => (
            "WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < 89) SELECT i FROM d",
            "date('now', '-' || d.i || ' days')",
        ),
        Backend::Postgres => (
            "SELECT i FROM generate_series(0, 89) AS d(i)",
            "(current_date - d.i)",
        ),
    };
    let now = match backend {
        Backend::Sqlite => "datetime('now', '-' || (t.id % 40) || ' hours')",
        Backend::Postgres => "(now() - ((t.id % 40) || ' hours')::interval)::timestamp",
    };
    vec![
        format!(
            "INSERT INTO stats_daily (tenant_id, day, metric, dim, value) \
             SELECT t.id, {day}, m.metric, '', (t.id * 7 + d.i * 13) % m.scale + 1 \
             FROM tenants t CROSS JOIN ({days}) AS d CROSS JOIN \
             (SELECT 'follows' AS metric, 60 AS scale UNION ALL SELECT 'unfollows', 20 UNION ALL \
              SELECT 'messages', 900 UNION ALL SELECT 'redeemed', 80 UNION ALL \
              SELECT 'payments_fen', 500000 UNION ALL SELECT 'followers', 50000) AS m \
             WHERE t.id <> {big}"
        ),
        // Each day in one row, as store::stats::replace_day writes it.
        format!(
            "INSERT INTO stats_summary (tenant_id, day, follows, unfollows, messages, redeemed, payments_fen, followers) \
             SELECT tenant_id, day, \
               CAST(SUM(CASE WHEN metric = 'follows' THEN value ELSE 0 END) AS BIGINT), \
               CAST(SUM(CASE WHEN metric = 'unfollows' THEN value ELSE 0 END) AS BIGINT), \
               CAST(SUM(CASE WHEN metric = 'messages' THEN value ELSE 0 END) AS BIGINT), \
               CAST(SUM(CASE WHEN metric = 'redeemed' THEN value ELSE 0 END) AS BIGINT), \
               CAST(SUM(CASE WHEN metric = 'payments_fen' THEN value ELSE 0 END) AS BIGINT), \
               MAX(CASE WHEN metric = 'followers' THEN value END) \
             FROM stats_daily WHERE tenant_id <> {big} GROUP BY tenant_id, day"
        ),
        format!(
            "INSERT INTO stats_rolled (tenant_id, day, rolled_at, last_push_at) \
             SELECT t.id, {}, {now}, {now} FROM tenants t WHERE t.id <> {big}",
            match backend {
                Backend::Sqlite => "date('now')",
                Backend::Postgres => "current_date",
            }
        ),
    ]
}

/// One plain HTTP/1.1 GET on loopback: the status line and the body's length, to check
/// that the page under load is the page.
fn get(base: &str, path: &str, cookie: &str) -> std::io::Result<(String, String)> {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.lines().next().unwrap_or_default().to_string();
    Ok((status, out))
}

/// wrk on one path: (figures, p95 in ms).
fn load(
    o: &DashboardOptions,
    base: &str,
    path: &str,
    cookie: &str,
    script: &std::path::Path,
) -> Result<(super::Figures, f64), BenchError> {
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
        .arg(path)
        .arg(cookie)
        .output()?;
    if !out.status.success() {
        return Err(BenchError::Usage(format!(
            "wrk failed (is it installed? apt-get install wrk): {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let p95 = text
        .lines()
        .find_map(|l| l.strip_prefix("p95_us "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |us| us / 1000.0);
    Ok((parse_wrk("page", &text), p95))
}

pub fn dashboard(o: &DashboardOptions) -> Result<String, BenchError> {
    with_scratch_database("bench-dashboard", o.database_url.as_deref(), |dir, url| {
        let mut s = Settings::for_test(&dir.join("data"), url);
        s.workers = 0;
        s.db_pool_size = 16;
        s.log_level = "warn".into();
        let listener = serve::listen(&s)?;
        let base = format!("http://{}", listener.local_addr()?);
        let prepared = serve::prepare(&s, &base)?;
        let pool = prepared.state.pool.clone();
        let backend = pool.backend();
        let mut c = pool.get()?;

        // The big tenant: followers, the archive, a coupon for every follower.
        let t0 = Instant::now();
        let t = bench_tenant(&mut c, TenantInput::default(), &prepared.state.secrets)?;
        let scope = TenantScope::system(t.tenant_ref());
        let agency = AgencyScope::system(AgencyId(t.agency_id));
        let seed = super::seed_sql(backend, t.id, o.followers, 1);
        patron_store::exec_sql(&mut c, &seed[0])?;
        patron_store::exec_sql(&mut c, "DELETE FROM messages")?;
        patron_store::exec_sql(&mut c, &archive_sql(backend, t.id, o.followers, o.messages))?;
        let camp = patron_store::coupons::create(
            &mut c,
            &scope,
            &patron_store::coupons::CampaignInput {
                name: "Bench".into(),
                benefit: patron_domain::coupons::Benefit::AmountOff { fen: 500 },
                min_spend_fen: 0,
                validity: patron_domain::coupons::Validity::Relative { days: 30 },
                total_supply: None,
                per_follower_limit: None,
                stores: None,
                terms: String::new(),
                code_prefix: String::new(),
                accepts_short_codes: false,
            },
        )?;
        patron_store::coupons::set_status(&mut c, &scope, camp.id, "active")?;
        drop(c);
        let issued = patron_jobs::coupon_bulk::issue_to(
            &pool,
            &scope,
            &Filter::default(),
            &patron_jobs::coupon_bulk::Run {
                campaign: camp.id,
                channel: "bench",
                by: "bench",
                resume: false,
            },
            |_, _| Ok(()),
        )
        .map_err(|e| BenchError::Usage(e.to_string()))?
        .issued;

        // The other tenants of the agency, with 90 days of figures each.
        let mut c = pool.get()?;
        for i in 1..o.tenants {
            let valid = tenants::validate(&TenantInput {
                name: format!("Merchant {i:03}"),
                slug: format!("m{i:03}"),
                ..Default::default()
            })
            .map_err(|e| BenchError::Usage(format!("{e:?}")))?;
            tenants::create(&mut c, &agency, &valid, &prepared.state.secrets)?;
        }
        for sql in portfolio_sql(backend, t.id) {
            patron_store::exec_sql(&mut c, &sql)?;
        }
        let settle: &[&str] = match backend {
            Backend::Sqlite => &["ANALYZE"],
            Backend::Postgres => &["VACUUM ANALYZE", "CHECKPOINT"],
        };
        for sql in settle {
            patron_store::exec_sql(&mut c, sql)?;
        }
        let seeded = t0.elapsed().as_secs_f64();

        // The rollups: the big tenant's history, then its busiest day (today: the
        // coupons and the readings) three times, then the minute task over all tenants.
        let now = patron_store::now();
        let t0 = Instant::now();
        let rebuilt = patron_app::stats::rebuild(&pool, Some(&t.slug), None, now, |_, _| {})?;
        let rebuild_secs = t0.elapsed().as_secs_f64();
        let tz = patron_domain::validate::stored_time_zone(&t.time_zone);
        let today = patron_app::dashboard::today(now, tz);
        let mut day_secs = Vec::new();
        for _ in 0..3 {
            let t0 = Instant::now();
            patron_store::stats::roll_day(
                &mut c,
                t.id,
                &patron_store::stats::Window::new(today, tz),
                patron_store::now(),
            )?;
            day_secs.push(t0.elapsed().as_secs_f64());
        }
        let yesterday = today.pred_opt().unwrap_or(today);
        let t0 = Instant::now();
        patron_store::stats::roll_day(
            &mut c,
            t.id,
            &patron_store::stats::Window::new(yesterday, tz),
            now,
        )?;
        let yesterday_secs = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let rolled = patron_app::stats::roll_recent(&pool, patron_store::now())?;
        let minute_secs = t0.elapsed().as_secs_f64();
        let messages_today: i64 = patron_store::stats::read(
            &mut c,
            &scope,
            yesterday,
            yesterday,
            &[patron_store::stats::metric::MESSAGES],
        )?
        .iter()
        .map(|d| d.value)
        .sum();

        // The two reads alone, in-process (what the pages spend in the database and in
        // assembling the figures, before any HTML).
        let period = patron_domain::period::Period::last(28, today);
        let agency_today = patron_app::dashboard::today(
            patron_store::now(),
            patron_domain::validate::stored_time_zone(patron_domain::validate::DEFAULT_TIME_ZONE),
        );
        let mut read_ms = |f: &mut dyn FnMut(
            &mut patron_store::DbConn,
        ) -> patron_store::Result<()>|
         -> Result<f64, BenchError> {
            f(&mut c)?;
            let t0 = Instant::now();
            for _ in 0..10 {
                f(&mut c)?;
            }
            Ok(t0.elapsed().as_secs_f64() * 100.0)
        };
        let dash_read = read_ms(&mut |c| {
            patron_app::dashboard::load(c, &scope, tz, period, patron_domain::period::Step::Day)
                .map(|_| ())
        })?;
        let port_read = read_ms(&mut |c| {
            patron_app::portfolio::load(
                c,
                &agency,
                patron_domain::period::Period::last(28, agency_today),
                patron_store::now(),
            )
            .map(|_| ())
        })?;

        // An agency admin's session.
        let u = patron_store::users::create(&mut c, "admin@bench.test", "Bench admin", "!", None)?;
        patron_store::users::add_membership(
            &mut c,
            u.id(),
            AgencyId(t.agency_id),
            None,
            Role::AgencyAdmin,
            &[],
        )?;
        let (session, _) = patron_store::sessions::create(
            &mut c,
            u.id(),
            chrono::TimeDelta::hours(1),
            "127.0.0.1",
            "wrk",
        )?;
        drop(c);
        let cookie = format!("{}={session}", patron_web::ctx::SESSION_COOKIE);
        let script = dir.join("get.lua");
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
        let dash_path = patron_web::paths::tenant(&t.slug).home();
        let portfolio_path = patron_web::paths::AGENCY_TENANTS.to_string();
        // The pages are the pages: the dashboard's sections, every tenant's row.
        let (status, body) = get(&base, &dash_path, &cookie)?;
        let (pstatus, pbody) = get(&base, &portfolio_path, &cookie)?;
        let rows = pbody.matches("data-tenant=").count() as i64;
        let checked = status.contains(" 200 ")
            && body.contains("id=\"section-audience\"")
            && pstatus.contains(" 200 ")
            && rows == o.tenants;
        let dash = load(o, &base, &dash_path, &cookie, &script);
        let portfolio = load(o, &base, &portfolio_path, &cookie, &script);
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true)))
            .join()
            .ok();
        let _ = thread.join();
        if !checked {
            return Err(BenchError::Usage(format!(
                "the pages were not what they should be: dashboard {status}, portfolio {pstatus} with {rows} rows of {}",
                o.tenants
            )));
        }
        let (dash, dash_p95) = dash?;
        let (port, port_p95) = portfolio?;
        let name = format!("{backend:?}").to_lowercase();
        let days: Vec<String> = day_secs.iter().map(|s| format!("{s:.2}")).collect();
        Ok(format!(
            "dashboard, {name}: {} followers, {} archived messages over 90 days, {issued} coupons \
             issued today, {} tenants in the agency (seeded in {seeded:.0} s)\n\n\
             | what | figure |\n|---|---|\n\
             | dashboard `/t/{}` (28 days), wrk -t{} -c{} -d{}s | {:.0} req/s, p50 {:.1} ms, p95 {dash_p95:.1} ms, p99 {:.1} ms, non-2xx {} |\n\
             | portfolio `/agency/tenants` ({} tenants, 28 days), same load | {:.0} req/s, p50 {:.1} ms, p95 {port_p95:.1} ms, p99 {:.1} ms, non-2xx {} |\n\
             | roll today (1M coupons issued, the readings over 1M followers), three times | {} s |\n\
             | roll yesterday ({messages_today} messages) | {yesterday_secs:.2} s |\n\
             | rebuild the tenant's history ({} days) | {rebuild_secs:.1} s ({:.2} s a day) |\n\
             | the minute task ({rolled} tenant-days over {} tenants) | {minute_secs:.2} s |\n\
             | the dashboard's read alone, in-process (mean of 10) | {dash_read:.1} ms |\n\
             | the portfolio's read alone, in-process (mean of 10) | {port_read:.1} ms |\n",
            o.followers,
            o.messages,
            o.tenants,
            t.slug,
            o.threads,
            o.connections,
            o.seconds,
            dash.rps,
            dash.p50_ms,
            dash.p99_ms,
            dash.non_2xx,
            o.tenants,
            port.rps,
            port.p50_ms,
            port.p99_ms,
            port.non_2xx,
            days.join(", "),
            rebuilt.days,
            rebuild_secs / rebuilt.days.max(1) as f64,
            o.tenants,
        ))
    })
}
