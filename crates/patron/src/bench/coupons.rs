//! `patron bench coupons`: issuing a campaign to a million followers (the bulk job's code
//! path, in-process), QR images rendered per second, and redemptions through the JSON API
//! under wrk at 64 connections, each request a different coupon.

use super::{parse_wrk, run_wrk, seed_sql, with_scratch_database, Options};
use crate::config::Settings;
use crate::serve;
use patron_domain::coupons::{qr_payload, Benefit, Validity};
use patron_domain::TenantScope;
use patron_store::coupons::{self, CampaignInput};
use patron_store::followers::Filter;
use patron_store::tenants::TenantInput;
use std::io::Write;

pub struct CouponOptions {
    pub database_url: Option<String>,
    pub followers: i64,
    pub seconds: u64,
    pub connections: u32,
    pub threads: u32,
}

/// The wrk script: each thread takes every `step`-th line of the data file (`path<TAB>body`)
/// and POSTs it with `headers` (a Lua table expression over the first script argument).
fn lua(headers: &str) -> String {
    format!(
        r#"
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local lines, idx, step, arg1 = {{}}, 0, 1, ""
function init(args)
  arg1, step = args[1], tonumber(args[3])
  for line in io.lines(args[2]) do lines[#lines + 1] = line end
  idx = tid
end
function request()
  idx = idx + step
  if idx > #lines then idx = ((idx - 1) % #lines) + 1 end
  local l = lines[idx]
  local tab = l:find("\t", 1, true)
  return wrk.format("POST", l:sub(1, tab - 1), {headers}, l:sub(tab + 1))
end
"#
    )
}

pub fn coupons(o: &CouponOptions) -> Result<String, super::BenchError> {
    with_scratch_database("bench-coupons", o.database_url.as_deref(), |dir, url| {
        let mut s = Settings::for_test(&dir.join("data"), url);
        s.workers = 0;
        s.db_pool_size = 16;
        // The redemption writers as configured for a server (PATRON_REDEEM_WRITERS; 0,
        // the default: the backend's own, patron_app::redeemer).
        s.redeem_writers = std::env::var("PATRON_REDEEM_WRITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // BENCH_REDEEM=direct: no writers, a transaction per redemption (the comparison).
        s.redeem_direct = std::env::var("BENCH_REDEEM").is_ok_and(|v| v == "direct");
        s.log_level = "warn".into();
        let listener = serve::listen(&s)?;
        let base = format!("http://{}", listener.local_addr()?);
        let prepared = serve::prepare(&s, &base)?;
        let pool = prepared.state.pool.clone();
        let backend = format!("{:?}", pool.backend()).to_lowercase();
        let mut c = pool.get()?;
        let t = super::bench_tenant(&mut c, TenantInput::default(), &prepared.state.secrets)?;
        let scope = TenantScope::system(t.tenant_ref());
        let store = patron_store::stores::create(&mut c, &scope, "Bench store", "1 Road")?;
        let (_, token) = patron_store::api_tokens::create(&mut c, &scope, "bench", None)?;
        let seed = seed_sql(pool.backend(), t.id, o.followers, 1);
        patron_store::exec_sql(&mut c, &seed[0])?;
        patron_store::exec_sql(&mut c, "ANALYZE")?;
        let camp = coupons::create(
            &mut c,
            &scope,
            &CampaignInput {
                name: "Bench".into(),
                benefit: Benefit::AmountOff { fen: 500 },
                min_spend_fen: 0,
                validity: Validity::Relative { days: 30 },
                total_supply: None,
                per_follower_limit: None,
                stores: None,
                terms: String::new(),
                code_prefix: String::new(),
                accepts_short_codes: false,
            },
        )?;
        coupons::set_status(&mut c, &scope, camp.id, "active")?;
        drop(c);

        // 1. Issue to every follower, as the bulk job does.
        let t0 = std::time::Instant::now();
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
        .map_err(|e| super::BenchError::Usage(e.to_string()))?
        .issued;
        let issue_secs = t0.elapsed().as_secs_f64();
        // The redemptions are measured on a settled system, not during the bulk load's
        // aftermath: statistics as autovacuum would have them within a minute, and on
        // PostgreSQL the load's vacuum and checkpoint done (else they share the two cores
        // with the redemptions; docs/benchmarks.md, "Redemptions").
        let settle: &[&str] = match pool.backend() {
            patron_store::Backend::Sqlite => &["ANALYZE"],
            patron_store::Backend::Postgres => &["VACUUM ANALYZE", "CHECKPOINT"],
        };
        for sql in settle {
            patron_store::exec_sql(&mut *pool.get()?, sql)?;
        }

        // 2. QR images.
        // Every request redeems a coupon of its own: the API's run takes codes from the
        // front of the list, the till's from the back (each of them at well under 40,000/s
        // for 10 s). A run that reached the other's codes would be refused, not redeemed,
        // and show as non-2xx answers (the till's as a page saying so, hence the check
        // after the runs).
        let codes = coupons::codes(&mut *pool.get()?, &scope, camp.id, 500_000)?;
        let api_codes = codes.len() * 4 / 5;
        let key = patron_web::ui::cashier::qr_key(&prepared.state, &scope);
        let n = 2_000.min(codes.len());
        let t0 = std::time::Instant::now();
        for code in &codes[..n] {
            let _ = patron_web::qr_image::svg(&qr_payload(&key, code), 8);
        }
        let svg_rate = n as f64 / t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        for code in &codes[..n] {
            let _ = patron_web::qr_image::png(&qr_payload(&key, code), 8);
        }
        let png_rate = n as f64 / t0.elapsed().as_secs_f64();

        // 3. Redemptions through the API, each request a different coupon.
        let data = dir.join("redeem.txt");
        {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&data)?);
            for (i, code) in codes[..api_codes].iter().enumerate() {
                writeln!(
                    w,
                    "/api/v1/coupons/{code}/redeem\t{{\"store_id\":{},\"idempotency_key\":\"bench-{i}\",\"amount_fen\":3000}}",
                    store.id
                )?;
            }
        }
        let script = dir.join("redeem.lua");
        std::fs::write(
            &script,
            lua(
                r#"{ ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. arg1 }"#,
            ),
        )?;

        // 4. The till's form, signed in as a cashier of the store, on codes the API's run
        // left alone (the back of the list).
        let cashier = {
            let mut c = pool.get()?;
            let u = patron_store::users::create(
                &mut c,
                "cashier@bench.test",
                "Bench cashier",
                "!",
                None,
            )?;
            patron_store::users::add_membership(
                &mut c,
                u.id(),
                patron_domain::AgencyId(t.agency_id),
                Some(t.id()),
                patron_domain::Role::Cashier,
                &[patron_domain::StoreId(store.id)],
            )?;
            let (session, _) = patron_store::sessions::create(
                &mut c,
                u.id(),
                chrono::TimeDelta::hours(1),
                "127.0.0.1",
                "wrk",
            )?;
            let cookie = patron_web::csrf::new_cookie_value();
            let csrf =
                patron_web::csrf::token_for(prepared.state.secrets.mac_key(), &cookie, &session);
            (
                format!(
                    "{}={session}; {}={cookie}",
                    patron_web::ctx::SESSION_COOKIE,
                    patron_web::csrf::COOKIE
                ),
                csrf,
            )
        };
        let till_data = dir.join("till.txt");
        {
            let path = patron_web::paths::tenant(&t.slug).cashier_redeem();
            let mut w = std::io::BufWriter::new(std::fs::File::create(&till_data)?);
            for (i, code) in codes.iter().enumerate().skip(api_codes) {
                writeln!(
                    w,
                    "{path}\tcsrf={}&store_id={}&scan={code}&key=till-{i}&amount=30",
                    cashier.1, store.id
                )?;
            }
        }
        let till_script = dir.join("till.lua");
        std::fs::write(
            &till_script,
            lua(r#"{ ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = arg1 }"#),
        )?;

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
        let wrk = Options {
            database_url: None,
            seconds: o.seconds,
            connections: o.connections,
            threads: o.threads,
            requests: codes.len(),
            archive: 0,
            writers: 0,
            journal: true,
            journal_sync: Default::default(),
            rounds: 1,
        };
        let out = run_wrk(&wrk, &base, &token, &script, &data);
        // Statistics as a running system has them before the till's turn (the events
        // table grew from empty; autovacuum would analyze it within a minute).
        patron_store::exec_sql(&mut *pool.get()?, "ANALYZE")?;
        let till_out = run_wrk(&wrk, &base, &cashier.0, &till_script, &till_data);
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(true)))
            .join()
            .ok();
        let _ = thread.join();
        let redeem = parse_wrk("redeem", &out?);
        let till = parse_wrk("till", &till_out?);
        if redeem.requests as usize > api_codes || till.requests as usize > codes.len() - api_codes
        {
            return Err(super::BenchError::Usage(format!(
                "the runs outgrew their codes ({} and {} requests for {api_codes} and {}): \
                 run with more --followers or fewer --seconds",
                redeem.requests,
                till.requests,
                codes.len() - api_codes
            )));
        }
        let redeemed = coupons::stats(&mut *pool.get()?, &scope, camp.id)?.redeemed;
        let path = if s.redeem_direct {
            "a transaction each".to_string()
        } else {
            let n = match s.redeem_writers {
                0 => patron_app::redeemer::Redeemer::default_writers(pool.backend()),
                n => n,
            };
            format!("group commit, {n} writer(s)")
        };
        let batch = patron_jobs::coupon_bulk::BATCH;
        Ok(format!(
            "coupons, {backend}: {} followers\n\n\
             | what | figure |\n|---|---|\n\
             | issue one coupon to every follower (bulk path, batches of {batch}) | {issued} in {issue_secs:.1} s ({:.0}/s) |\n\
             | QR images, SVG | {svg_rate:.0}/s |\n\
             | QR images, PNG | {png_rate:.0}/s |\n\
             | redeem through the API, wrk -t{} -c{} -d{}s, a different coupon each | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {} |\n\
             | redeem at the till (its form, a cashier's session), same load | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {} |\n\
             \nredemption path: {path}; redeemed coupons afterwards: {redeemed} (requests answered: {} + {})\n",
            o.followers,
            issued as f64 / issue_secs,
            o.threads,
            o.connections,
            o.seconds,
            redeem.rps,
            redeem.p50_ms,
            redeem.p99_ms,
            redeem.non_2xx,
            till.rps,
            till.p50_ms,
            till.p99_ms,
            till.non_2xx,
            redeem.requests,
            till.requests,
        ))
    })
}
