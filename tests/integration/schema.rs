//! The schema on each backend: every table and column selectable through the one diesel
//! schema, and every down.sql really reverting its migration.

use crate::support::*;
use diesel::prelude::*;
use patron_store::schema::*;

#[test]
fn every_table_is_selectable_and_migrations_revert() {
    let app = TestApp::spawn();
    let mut c = app.conn();
    macro_rules! select_all {
        ($($t:ident),*) => {$(
            $t::table.select($t::all_columns).limit(1).execute(&mut *c)
                .unwrap_or_else(|e| panic!("table {} does not match schema.rs: {e}", stringify!($t)));
        )*};
    }
    select_all!(
        app_settings,
        scheduled_tasks,
        broadcast_emails,
        pay_settings,
        payments,
        refunds,
        pay_notifications,
        reconcile_runs,
        reconcile_exceptions,
        bill_files,
        bill_file_chunks,
        wx_tokens,
        broadcast_settings,
        broadcasts,
        broadcast_slots,
        broadcast_chunks,
        cache_epoch,
        agencies,
        tenants,
        stores,
        users,
        memberships,
        membership_stores,
        sessions,
        api_tokens,
        invitations,
        password_resets,
        login_failures,
        followers,
        messages,
        reply_rules,
        jobs,
        tags,
        follower_tags,
        follower_notes,
        attributes,
        follower_attributes,
        segments,
        follower_imports,
        qr_codes,
        menus,
        follower_counts,
        campaigns,
        changes,
        coupons,
        coupon_holdings,
        coupon_events,
        loyalty_programs,
        points_ledger,
        stamp_cards,
        stamp_progress,
        stamp_events,
        stats_daily,
        stats_rolled,
        stats_summary
    );
    patron_store::migrate::revert_all(&mut c).unwrap();
    assert!(
        agencies::table.count().get_result::<i64>(&mut *c).is_err(),
        "down.sql left tables behind"
    );
    let applied = patron_store::migrate::run(&mut c).unwrap();
    assert!(!applied.is_empty());
    select_all!(
        agencies,
        tenants,
        users,
        reply_rules,
        qr_codes,
        menus,
        campaigns,
        points_ledger,
        cache_epoch
    );
}

#[test]
fn concurrent_writers_do_not_fail_with_database_is_locked() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let pool = app.state.pool.clone();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let pool = pool.clone();
            let scope = w.scope.clone();
            std::thread::spawn(move || {
                for j in 0..10 {
                    let mut c = pool.get().unwrap();
                    patron_store::write_tx(&mut c, |c| {
                        let n = patron_store::stores::list(c, &scope)?.len();
                        patron_store::stores::create(c, &scope, &format!("S{i}-{j}-{n}"), "")
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        patron_store::stores::list(&mut app.conn(), &w.scope)
            .unwrap()
            .len(),
        81
    );
}

/// CI says which backend each stage must run on (`PATRON_TEST_EXPECT_BACKEND`): a PostgreSQL
/// stage whose variable got lost would otherwise pass quietly on SQLite. The backend is
/// read from a live connection of a test app, not from the environment.
#[test]
fn the_tests_run_on_the_backend_ci_asked_for() {
    let app = TestApp::spawn();
    let actual = app.state.pool.backend();
    assert_eq!(actual, backend_under_test());
    if let Ok(expected) = std::env::var("PATRON_TEST_EXPECT_BACKEND") {
        let expected = match expected.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => patron_store::Backend::Postgres,
            "sqlite" => patron_store::Backend::Sqlite,
            other => panic!("PATRON_TEST_EXPECT_BACKEND={other}: expected sqlite or postgres"),
        };
        assert_eq!(actual, expected, "this stage must run on {expected:?}");
    }
}

/// The end-of-test checks (`TestApp::check_invariants`) catch what they are for: an
/// unbalanced points ledger and a failed job.
#[test]
fn the_end_of_test_checks_catch_a_broken_ledger_and_a_failed_job() {
    use patron_store::schema::{jobs, points_ledger as pl};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let mut app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let mut c = app.conn();
    patron_store::loyalty::post(
        &mut c,
        &w.scope,
        w.follower,
        &patron_store::loyalty::Post {
            kind: patron_store::loyalty::Kind::Earn,
            points: 10,
            source: "tests",
            source_key: None,
            reason: "",
            user: None,
            expires_at: None,
        },
    )
    .unwrap();
    app.check_invariants();
    diesel::update(pl::table)
        .set(pl::remaining.eq(3i64))
        .execute(&mut *c)
        .unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| app.check_invariants()));
    assert!(caught.is_err(), "an unbalanced ledger went unnoticed");
    diesel::update(pl::table)
        .set(pl::remaining.eq(10i64))
        .execute(&mut *c)
        .unwrap();
    let id = patron_store::jobs::enqueue(&mut c, None, "x", "{}", 1).unwrap();
    diesel::update(jobs::table.find(id.0))
        .set(jobs::state.eq(patron_store::jobs::FAILED))
        .execute(&mut *c)
        .unwrap();
    drop(c);
    let caught = catch_unwind(AssertUnwindSafe(|| app.check_invariants()));
    assert!(caught.is_err(), "a failed job went unnoticed");
    app.failed_jobs_expected = true;
    app.check_invariants();
}
