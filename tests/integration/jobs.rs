//! The durable job queue on each backend: exactly-once claims under a race, retries with
//! backoff, lease expiry, and follower sync against the WeChat simulator.

use crate::support::*;
use diesel::prelude::*;
use patron_domain::{AgencyScope, JobId, TenantScope};
use patron_jobs::{follower_sync, run_one, spawn_workers, Handlers};
use patron_simulator::{Follower, SimConfig, Simulator};
use patron_store::jobs::{self, Job};
use patron_store::schema::{followers, jobs as jobs_t};
use patron_store::tenants::{self, TenantInput};
use patron_store::{DbConn, DbPool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_secs(60);

fn job(c: &mut DbConn, id: JobId) -> Job {
    jobs::get_system(c, id).unwrap()
}

/// Moves a queued job's `run_at` into the past: its backoff has "elapsed".
fn make_due(c: &mut DbConn, id: JobId) {
    diesel::update(jobs_t::table.find(id.0))
        .set(jobs_t::run_at.eq(patron_store::now() - chrono::TimeDelta::seconds(1)))
        .execute(c)
        .unwrap();
}

#[test]
fn racing_workers_claim_each_job_exactly_once() {
    let app = TestApp::spawn();
    // A pool of its own, big enough for every thread to hold a connection at once.
    let pool = DbPool::connect(&app.db.url, 12).unwrap();
    let mut c = pool.get().unwrap();
    // The table matches schema.rs on this backend.
    jobs_t::table
        .select(jobs_t::all_columns)
        .limit(1)
        .execute(&mut *c)
        .unwrap();
    const N: usize = 60;
    let mut all: Vec<i64> = (0..N)
        .map(|i| {
            jobs::enqueue(&mut c, None, "noop", &format!("{{\"i\":{i}}}"), 3)
                .unwrap()
                .0
        })
        .collect();
    drop(c);
    const THREADS: usize = 10;
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = pool.get().unwrap();
                barrier.wait();
                let mut mine = Vec::new();
                while let Some(j) = jobs::claim(&mut c, LEASE).unwrap() {
                    assert_eq!((j.state.as_str(), j.attempts), (jobs::RUNNING, 1));
                    mine.push(j.id);
                }
                mine
            })
        })
        .collect();
    let mut claimed: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    claimed.sort_unstable();
    all.sort_unstable();
    assert_eq!(claimed, all, "every job claimed exactly once");
    let mut c = pool.get().unwrap();
    assert!(jobs::claim(&mut c, LEASE).unwrap().is_none());
    for id in &all {
        jobs::complete(&mut c, JobId(*id)).unwrap();
    }
    // Done jobs are never claimed again, and completing twice is refused.
    assert!(jobs::claim(&mut c, LEASE).unwrap().is_none());
    assert!(jobs::complete(&mut c, JobId(all[0])).is_err());
}

#[test]
fn a_failing_job_is_retried_with_backoff_then_failed() {
    let mut app = TestApp::spawn();
    // This test fails jobs on purpose.
    app.failed_jobs_expected = true;
    let pool = app.state.pool.clone();
    let mut c = app.conn();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handlers = Handlers::new().register("flaky", move |ctx| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        assert_eq!(ctx.job.attempts, n as i64);
        Err(format!("boom {n}").into())
    });
    let id = jobs::enqueue(&mut c, None, "flaky", "{}", 3).unwrap();

    for attempt in 1..=2i64 {
        let before = patron_store::now();
        assert!(run_one(&pool, &handlers, LEASE).unwrap());
        let after = patron_store::now();
        let j = job(&mut c, id);
        assert_eq!(j.state, jobs::QUEUED);
        assert_eq!(j.attempts, attempt);
        assert_eq!(
            j.last_error.as_deref(),
            Some(format!("boom {attempt}").as_str())
        );
        assert!(j.locked_until.is_none());
        // 2^attempts seconds after the failure, which happened between `before` and
        // `after` (however long a loaded machine took to run it).
        let expected = chrono::TimeDelta::seconds(1 << attempt);
        assert!(
            j.run_at >= before + expected && j.run_at <= after + expected,
            "attempt {attempt}: retry at {}, expected {expected} after a failure between {before} and {after}",
            j.run_at
        );
        // Not due yet: nothing runs.
        assert!(!run_one(&pool, &handlers, LEASE).unwrap());
        make_due(&mut c, id);
    }
    assert!(run_one(&pool, &handlers, LEASE).unwrap());
    let j = job(&mut c, id);
    assert_eq!(j.state, jobs::FAILED);
    assert_eq!(j.attempts, 3);
    assert_eq!(j.last_error.as_deref(), Some("boom 3"));
    make_due(&mut c, id);
    assert!(
        !run_one(&pool, &handlers, LEASE).unwrap(),
        "failed is final"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // A kind without a handler, and a handler that panics, are failed attempts too.
    let unknown = jobs::enqueue(&mut c, None, "nobody", "{}", 1).unwrap();
    assert!(run_one(&pool, &handlers, LEASE).unwrap());
    let j = job(&mut c, unknown);
    assert_eq!(j.state, jobs::FAILED);
    assert!(j.last_error.unwrap().contains("no handler"));
    // A failure no retry can mend fails the job at once, attempts left or not.
    let unmendable = Handlers::new().register("unmendable", |_| {
        Err(patron_jobs::JobError::NotConfigured("no AppSecret".into()))
    });
    let u = jobs::enqueue(&mut c, None, "unmendable", "{}", 5).unwrap();
    assert!(run_one(&pool, &unmendable, LEASE).unwrap());
    let j = job(&mut c, u);
    assert_eq!((j.state.as_str(), j.attempts), (jobs::FAILED, 1));
    assert!(j.last_error.unwrap().contains("no AppSecret"));
    let unknown5 = jobs::enqueue(&mut c, None, "nobody", "{}", 5).unwrap();
    assert!(run_one(&pool, &unmendable, LEASE).unwrap());
    assert_eq!(
        job(&mut c, unknown5).state,
        jobs::FAILED,
        "no handler: at once"
    );
    let panics = Handlers::new().register("panics", |_| panic!("oops"));
    let p = jobs::enqueue(&mut c, None, "panics", "{}", 1).unwrap();
    assert!(run_one(&pool, &panics, LEASE).unwrap());
    let j = job(&mut c, p);
    assert_eq!(j.state, jobs::FAILED);
    assert!(j.last_error.unwrap().contains("oops"));
}

#[test]
fn an_expired_lease_is_reclaimed() {
    let app = TestApp::spawn();
    let mut c = app.conn();
    let id = jobs::enqueue(&mut c, None, "slow", "{}", 5).unwrap();
    let first = jobs::claim(&mut c, LEASE).unwrap().unwrap();
    assert_eq!((first.id(), first.attempts), (id, 1));
    // Held: nobody else gets it while the lease lasts.
    assert!(jobs::claim(&mut c, LEASE).unwrap().is_none());
    // The worker died and its lease ran out (moved into the past rather than waited for).
    diesel::update(jobs_t::table.find(id.0))
        .set(jobs_t::locked_until.eq(Some(patron_store::now() - chrono::TimeDelta::seconds(1))))
        .execute(&mut *c)
        .unwrap();
    // The next claim takes it over.
    let second = jobs::claim(&mut c, LEASE).unwrap().unwrap();
    assert_eq!((second.id(), second.attempts), (id, 2));
    assert_eq!(second.state, jobs::RUNNING);
    assert!(second.locked_until.unwrap() > patron_store::now() + chrono::TimeDelta::seconds(50));
    assert!(jobs::claim(&mut c, LEASE).unwrap().is_none());
    // Extending the lease keeps it; completing ends it.
    jobs::extend_lease(&mut c, id, LEASE).unwrap();
    jobs::complete(&mut c, id).unwrap();
    assert_eq!(job(&mut c, id).state, jobs::DONE);
    assert!(jobs::claim(&mut c, LEASE).unwrap().is_none());
}

const APPID: &str = "wx0123456789abcdef";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn tenant(c: &mut DbConn, sb: &patron_store::SecretBox, tag: &str, api: &str) -> TenantScope {
    let agency = tenants::create_agency(c, &format!("Agency {tag}")).unwrap();
    let valid = tenants::validate(&TenantInput {
        name: format!("Shop {tag}"),
        slug: format!("shop-{tag}"),
        wx_appid: APPID.into(),
        wx_app_secret: SECRET.into(),
        wx_api_base: api.into(),
        ..Default::default()
    })
    .unwrap();
    let t = tenants::create(
        c,
        &AgencyScope::system(patron_domain::AgencyId(agency.id)),
        &valid,
        sb,
    )
    .unwrap();
    TenantScope::system(t.tenant_ref())
}

/// Waits for the job to be done; returns it and the errors of the failed attempts seen
/// meanwhile (completing a job clears its `last_error`).
fn wait_done(c: &mut DbConn, scope: &TenantScope, id: JobId) -> (Job, Vec<String>) {
    let start = Instant::now();
    let mut errors = Vec::new();
    loop {
        let j = jobs::get(c, scope, id).unwrap();
        if let Some(e) = &j.last_error {
            if errors.last() != Some(e) {
                errors.push(e.clone());
            }
        }
        match j.state.as_str() {
            jobs::DONE => return (j, errors),
            jobs::FAILED => panic!("job failed: {:?}", j.last_error),
            _ if start.elapsed() > Duration::from_secs(180) => panic!("job not done: {j:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn snapshot(c: &mut DbConn, scope: &TenantScope) -> Vec<(i64, chrono::NaiveDateTime)> {
    followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .order(followers::id)
        .select((followers::id, followers::updated_at))
        .load(c)
        .unwrap()
}

#[test]
fn follower_sync_pages_the_simulator_and_is_idempotent() {
    let app = TestApp::spawn();
    let sim = Simulator::start_with(SimConfig {
        appid: APPID.into(),
        secret: SECRET.into(),
        page_size: 10_000,
        ..SimConfig::default()
    });
    let seeded = sim.seed_followers(24_999);
    let mut special = Follower::new("oSpecialFollowerThroughAQrCod");
    special.unionid = Some("uSpecial".into());
    special.subscribe_time = 1_700_000_000;
    special.subscribe_scene = "ADD_SCENE_QR_CODE".into();
    special.qr_scene_str = "shop-7".into();
    special.remark = "vip".into();
    let special_openid = sim.add_follower(special);

    let sb = app.state.secrets.clone();
    let mut c = app.conn();
    let scope = tenant(&mut c, &sb, "sync", &sim.base_url());
    let other = tenant(&mut c, &sb, "other", &sim.base_url());
    let id = follower_sync::enqueue(&mut c, &scope).unwrap();
    // Tenant-scoped: another tenant does not see the job.
    assert!(jobs::get(&mut c, &other, id).is_err());
    assert!(jobs::list_for_tenant(&mut c, &other, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        jobs::list_for_tenant(&mut c, &scope, 10).unwrap()[0].id(),
        id
    );

    // Passing failures (two 502s, then a 503 on a batchget) are read again in place: the
    // sync is still done in one attempt, not started over.
    sim.fail_next_http(2, 502);
    sim.inject_failure(
        Some("/cgi-bin/user/info/batchget"),
        1,
        patron_simulator::FailureKind::HttpStatus(503),
    );
    let mut handlers = Handlers::new();
    handlers.insert(follower_sync::KIND, follower_sync::handler(sb.clone()));
    let workers = spawn_workers(app.state.pool.clone(), handlers, 2);
    let (j, errors) = wait_done(&mut c, &scope, id);
    assert_eq!(j.progress_done, 25_000);
    assert_eq!(j.progress_total, Some(25_000));
    assert_eq!(j.attempts, 1, "failed attempts: {errors:?}");

    assert_eq!(
        patron_store::followers::count(&mut c, &scope).unwrap(),
        (25_000, 25_000)
    );
    assert_eq!(
        patron_store::followers::count(&mut c, &other).unwrap(),
        (0, 0)
    );
    let stored = |c: &mut DbConn, openid: &str| {
        let (rows, _) = patron_store::followers::list(
            c,
            &scope,
            &patron_store::followers::Filter {
                q: openid.into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(rows.len(), 1, "{openid} stored once");
        rows.into_iter().next().unwrap()
    };
    for openid in [&seeded[0], &seeded[12_345], &seeded[24_998]] {
        let want = sim.follower(openid).unwrap();
        let got = stored(&mut c, openid);
        assert_eq!(got.unionid, want.unionid);
        assert!(got.subscribed);
        assert_eq!(got.subscribe_count, 1);
        assert_eq!(
            got.subscribed_at,
            chrono::DateTime::from_timestamp(want.subscribe_time, 0).map(|t| t.naive_utc())
        );
        assert_eq!(got.subscribe_scene.as_deref(), Some("ADD_SCENE_SEARCH"));
        assert_eq!(got.qr_scene, None);
    }
    let got = stored(&mut c, &special_openid);
    assert_eq!(got.unionid.as_deref(), Some("uSpecial"));
    assert_eq!(got.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
    assert_eq!(got.qr_scene.as_deref(), Some("shop-7"));
    assert_eq!(got.remark.as_deref(), Some("vip"));
    assert_eq!(
        got.subscribed_at,
        chrono::DateTime::from_timestamp(1_700_000_000, 0).map(|t| t.naive_utc())
    );

    // A second sync reads everything again and writes nothing.
    let before = snapshot(&mut c, &scope);
    let again = follower_sync::enqueue(&mut c, &scope).unwrap();
    workers.notify();
    let (j, _) = wait_done(&mut c, &scope, again);
    assert_eq!((j.progress_done, j.progress_total), (25_000, Some(25_000)));
    assert_eq!(
        snapshot(&mut c, &scope),
        before,
        "the second sync changed rows"
    );
    workers.stop();

    // What the store does on its own with changes: new data is merged, first-touch kept.
    let mut changed = patron_jobs::follower_sync::to_store(&patron_wechat::api::UserInfo {
        subscribe: 1,
        openid: special_openid.clone(),
        unionid: Some("uSpecial".into()),
        subscribe_time: Some(1_800_000_000),
        subscribe_scene: Some("ADD_SCENE_SEARCH".into()),
        remark: "other".into(),
        ..Default::default()
    });
    let counts =
        patron_store::sync::upsert_from_wechat(&mut c, &scope, &[changed.clone()]).unwrap();
    assert_eq!((counts.inserted, counts.updated), (0, 1));
    let got = stored(&mut c, &special_openid);
    assert_eq!(got.subscribe_scene.as_deref(), Some("ADD_SCENE_QR_CODE"));
    assert_eq!(got.remark.as_deref(), Some("vip"));
    assert_eq!(got.subscribed_at, changed.subscribed_at);
    changed.subscribed = false;
    patron_store::sync::upsert_from_wechat(&mut c, &scope, &[changed]).unwrap();
    let got = stored(&mut c, &special_openid);
    assert!(!got.subscribed && got.unsubscribed_at.is_some());
}

#[tokio::test]
async fn a_marketer_syncs_followers_from_the_page_and_sees_progress() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let sim = Simulator::start_with(SimConfig {
        appid: APPID.into(),
        secret: SECRET.into(),
        page_size: 1_000,
        ..SimConfig::default()
    });
    sim.seed_followers(2_500);
    let w = world(&mut app.conn(), "ui");
    let scope = tenant(&mut app.conn(), &app.state.secrets, "wx", &sim.base_url());
    add_member(&app, &scope, "mk@wx.test", patron_domain::Role::Marketer);
    let c = app.client();
    c.login("mk@wx.test", PASSWORD).await;
    let r = c.post("/t/shop-wx/followers/sync", &[]).await;
    assert_eq!(r.status, 303);
    // Twice in a row queues one job.
    c.post("/t/shop-wx/followers/sync", &[]).await;
    let queued: i64 = jobs_t::table
        .filter(jobs_t::tenant_id.eq(scope.tenant_id().0))
        .count()
        .get_result(&mut *app.conn())
        .unwrap();
    assert_eq!(queued, 1);
    let start = Instant::now();
    loop {
        let page = c.get("/t/shop-wx/followers").await;
        if page.body.contains("2500 / 2500") && page.body.contains("Done") {
            assert!(page.body.contains("2500 followers in the archive"));
            assert!(
                !page.body.contains("http-equiv=\"refresh\""),
                "no refresh once done"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "sync did not finish: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A sync WeChat refuses says why in words the merchant can act on, and links to the
    // job, which can be run again once the whitelist is fixed.
    app.failed_jobs_expected = true;
    sim.fail_next_on("/cgi-bin/user/get", 1, 40164);
    c.post("/t/shop-wx/followers/sync", &[]).await;
    let page = until_async(Duration::from_secs(30), async || {
        let page = c.get("/t/shop-wx/followers").await;
        if page.body.contains("Failed") {
            Ok(page)
        } else {
            Err(page.body)
        }
    })
    .await;
    assert!(
        page.body.contains("IP whitelist") && page.body.contains("40164"),
        "{}",
        page.body
    );
    assert!(page.body.contains("/t/shop-wx/jobs#job-"), "{}", page.body);
    // A tenant without WeChat settings is told what to set first, and nothing is queued.
    let m = app.client();
    m.login(&w.marketer_email, PASSWORD).await;
    m.post(&format!("/t/{}/followers/sync", w.slug), &[]).await;
    let page = m.get(&format!("/t/{}/followers", w.slug)).await;
    assert!(page.body.contains("AppID and AppSecret"), "{}", page.body);
}
