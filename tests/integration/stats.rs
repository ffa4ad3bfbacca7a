//! The dashboards' daily figures (issue 21): rolled from the archive per local day,
//! equal to counts made directly from the rows, across the tenant's midnight, again
//! after a rebuild, and never another tenant's.

use crate::support::*;
use chrono::{NaiveDate, NaiveDateTime};
use patron_store::coupons::{self, Till};
use patron_store::inbox::{self, FollowerChange, Inbound};
use patron_store::stats::{self, metric, Daily};

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// One push into the archive, as the webhook stores it.
fn push(app: &TestApp, w: &World, n: usize, openid: &str, kind: &str, content: &str, utc: &str) {
    let (msg_type, event, change) = match kind {
        "subscribe" => (
            "event",
            Some("subscribe"),
            FollowerChange::Subscribe {
                qr_scene: content.strip_prefix("qrscene_").map(str::to_string),
            },
        ),
        "unsubscribe" => ("event", Some("unsubscribe"), FollowerChange::Unsubscribe),
        "CLICK" => ("event", Some("CLICK"), FollowerChange::Interaction),
        _ => ("text", None, FollowerChange::Interaction),
    };
    inbox::record(
        &mut app.conn(),
        &w.scope,
        &Inbound {
            openid,
            msg_type,
            event,
            dedupe_key: &format!("stats:{n}"),
            content: (!content.is_empty()).then_some(content),
            body: "<xml/>",
            sent_at: at(utc),
            change,
        },
        None,
    )
    .unwrap();
}

/// The stored figure, 0 when there is none.
fn figure(rows: &[Daily], d: &str, m: &str, dim: &str) -> i64 {
    rows.iter()
        .find(|r| r.day == day(d) && r.metric == m && r.dim == dim)
        .map_or(0, |r| r.value)
}

/// Follows per local day counted straight from the archive's rows (Shanghai).
fn follows_by_day(app: &TestApp, w: &World) -> std::collections::BTreeMap<NaiveDate, i64> {
    use diesel::prelude::*;
    use patron_store::schema::messages as m;
    let sent: Vec<NaiveDateTime> = m::table
        .filter(m::tenant_id.eq(w.scope.tenant_id().0))
        .filter(m::event.eq("subscribe"))
        .select(m::sent_at)
        .load(&mut *app.conn())
        .unwrap();
    let mut out = std::collections::BTreeMap::new();
    for t in sent {
        let local = t
            .and_utc()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive();
        *out.entry(local).or_insert(0) += 1;
    }
    out
}

#[test]
fn daily_figures_equal_the_archive_across_the_tenants_midnight_and_after_a_rebuild() {
    let app = TestApp::spawn();
    let (a, b) = (world(&mut app.conn(), "a"), world(&mut app.conn(), "b"));
    let pool = app.state.pool.clone();
    // Shanghai is UTC+8: 15:30 UTC is 23:30 on 1 December, 16:30 UTC is 00:30 on the 2nd.
    push(
        &app,
        &a,
        1,
        "o1",
        "subscribe",
        "qrscene_flyer",
        "2026-12-01 15:30",
    );
    push(&app, &a, 2, "o1", "text", "menu?", "2026-12-01 15:40");
    push(&app, &a, 3, "o2", "subscribe", "", "2026-12-01 16:30");
    push(&app, &a, 4, "o2", "text", "Hello ", "2026-12-01 16:40");
    push(&app, &a, 5, "o1", "text", "hello", "2026-12-01 16:45");
    push(&app, &a, 6, "o2", "CLICK", "MENU_1", "2026-12-01 16:50");
    push(&app, &a, 7, "o1", "unsubscribe", "", "2026-12-01 17:00");
    push(
        &app,
        &b,
        8,
        "ob",
        "subscribe",
        "qrscene_flyer",
        "2026-12-01 16:00",
    );

    // Rolled as `patron stats rebuild --tenant shop-a --from 2026-12-01` does, at a
    // fixed "now" (04:00 on 3 December in Shanghai).
    let now = at("2026-12-02 20:00");
    let done = patron_app::stats::rebuild(
        &pool,
        Some(&a.slug),
        Some(day("2026-12-01")),
        now,
        |_, _| {},
    )
    .unwrap();
    assert_eq!((done.tenants, done.days), (1, 3));
    let all = [
        metric::FOLLOWS,
        metric::FOLLOWS_QR,
        metric::UNFOLLOWS,
        metric::MESSAGES,
        metric::EVENTS,
        metric::MENU_CLICKS,
        metric::KEYWORD,
    ];
    let read = || {
        stats::read(
            &mut app.conn(),
            &a.scope,
            day("2026-12-01"),
            day("2026-12-03"),
            &all,
        )
        .unwrap()
    };
    let rows = read();
    // The follow at 23:30 is the 1st's, the one at 00:30 the 2nd's.
    assert_eq!(figure(&rows, "2026-12-01", metric::FOLLOWS, ""), 1);
    assert_eq!(figure(&rows, "2026-12-01", metric::FOLLOWS_QR, "flyer"), 1);
    assert_eq!(figure(&rows, "2026-12-02", metric::FOLLOWS, ""), 1);
    assert_eq!(figure(&rows, "2026-12-02", metric::FOLLOWS_QR, "flyer"), 0);
    assert_eq!(figure(&rows, "2026-12-02", metric::UNFOLLOWS, ""), 1);
    assert_eq!(figure(&rows, "2026-12-01", metric::MESSAGES, ""), 1);
    assert_eq!(figure(&rows, "2026-12-02", metric::MESSAGES, ""), 2);
    assert_eq!(
        figure(&rows, "2026-12-02", metric::KEYWORD, "hello"),
        2,
        "{rows:?}"
    );
    assert_eq!(
        figure(&rows, "2026-12-02", metric::MENU_CLICKS, "MENU_1"),
        1
    );
    assert_eq!(figure(&rows, "2026-12-02", metric::EVENTS, ""), 3);
    // Against counts made here from the rows themselves.
    for (d, n) in follows_by_day(&app, &a) {
        if d <= day("2026-12-03") {
            assert_eq!(figure(&rows, &d.to_string(), metric::FOLLOWS, ""), n, "{d}");
        }
    }
    // B's follow that night is B's alone; B was not rolled, so it has no figures yet.
    assert!(stats::read(
        &mut app.conn(),
        &b.scope,
        day("2026-12-01"),
        day("2026-12-03"),
        &all
    )
    .unwrap()
    .is_empty());

    // Rolled again by the minute task (01:30 on the 3rd: the 3rd and the 2nd), and by a
    // rebuild of every tenant: the same figures.
    assert_eq!(
        patron_app::stats::roll_recent(&pool, at("2026-12-02 17:30")).unwrap(),
        4
    );
    assert_eq!(read(), rows);
    patron_app::stats::rebuild(&pool, None, Some(day("2026-12-01")), now, |_, _| {}).unwrap();
    assert_eq!(read(), rows);
    let theirs = stats::read(
        &mut app.conn(),
        &b.scope,
        day("2026-12-01"),
        day("2026-12-03"),
        &all,
    )
    .unwrap();
    assert_eq!(
        figure(&theirs, "2026-12-02", metric::FOLLOWS_QR, "flyer"),
        1
    );
    assert_eq!(figure(&theirs, "2026-12-02", metric::MESSAGES, ""), 0);
    // An unknown tenant is refused and changes nothing.
    assert!(patron_app::stats::rebuild(&pool, Some("nobody"), None, now, |_, _| {}).is_err());
    assert_eq!(read(), rows);
}

#[test]
fn coupons_issued_and_redeemed_today_are_counted_by_campaign_store_cashier_and_hour() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let pool = app.state.pool.clone();
    let now = patron_store::now();
    // The world holds one coupon of its campaign; one more, then redeem it at the till.
    let c = coupons::issue(
        &mut app.conn(),
        &w.scope,
        w.campaign,
        Some(w.follower),
        "api",
        "t",
    )
    .unwrap()
    .unwrap();
    let till = Till {
        user_id: Some(w.cashier_id),
        user_name: "Cashier",
        store_id: w.store,
        device: "test",
    };
    let done = coupons::redeem(
        &mut app.conn(),
        &w.scope,
        &c.code,
        &till,
        Some("k1"),
        None,
        None,
    )
    .unwrap();
    assert!(matches!(done, coupons::Redeemed::Ok { .. }), "{done:?}");
    patron_app::stats::roll_recent(&pool, now).unwrap();
    let tz = chrono_tz::Asia::Shanghai;
    let local = now.and_utc().with_timezone(&tz);
    let today = local.date_naive();
    let rows = stats::read(
        &mut app.conn(),
        &w.scope,
        today,
        today,
        &[
            metric::ISSUED,
            metric::REDEEMED,
            metric::REDEEMED_STORE,
            metric::REDEEMED_CASHIER,
            metric::REDEEMED_HOUR,
            metric::FOLLOWERS,
        ],
    )
    .unwrap();
    let d = today.to_string();
    let campaign = w.campaign.to_string();
    let direct = coupons::stats(&mut app.conn(), &w.scope, w.campaign).unwrap();
    assert_eq!(figure(&rows, &d, metric::ISSUED, &campaign), direct.issued);
    assert_eq!(
        figure(&rows, &d, metric::REDEEMED, &campaign),
        direct.redeemed
    );
    assert!(direct.redeemed >= 1);
    assert_eq!(
        figure(&rows, &d, metric::REDEEMED_STORE, &w.store.to_string()),
        direct.redeemed
    );
    assert_eq!(
        figure(
            &rows,
            &d,
            metric::REDEEMED_CASHIER,
            &w.cashier_id.to_string()
        ),
        1
    );
    let hours: i64 = rows
        .iter()
        .filter(|r| r.metric == metric::REDEEMED_HOUR)
        .map(|r| r.value)
        .sum();
    assert_eq!(hours, direct.redeemed, "every redemption in one local hour");
    assert!(figure(&rows, &d, metric::FOLLOWERS, "") >= 1, "{rows:?}");
}

#[test]
fn rollers_of_the_same_tenant_day_at_once_wait_for_each_other() {
    use std::sync::{Arc, Barrier};
    // Each roller holds its own connection, as two processes (or a rebuild beside the
    // minute task) would.
    let app = TestApp::spawn_with(false, |s| s.db_pool_size = 16);
    let w = world(&mut app.conn(), "a");
    for n in 0..30 {
        push(
            &app,
            &w,
            n,
            &format!("o{}", n % 7),
            "text",
            "hello",
            "2026-11-20 04:00",
        );
    }
    let tz = chrono_tz::Asia::Shanghai;
    let window = stats::Window::new(day("2026-11-20"), tz);
    let tenant = w.scope.tenant_id().0;
    let rollers = 6;
    let barrier = Arc::new(Barrier::new(rollers));
    let handles: Vec<_> = (0..rollers)
        .map(|_| {
            let (pool, barrier) = (app.state.pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut c = pool.get().expect("a connection for each roller");
                barrier.wait();
                stats::roll_day(&mut c, tenant, &window, at("2026-12-01 00:00"))
            })
        })
        .collect();
    for h in handles {
        let rolled = h.join().unwrap();
        assert!(rolled.is_ok(), "every roller succeeds: {rolled:?}");
    }
    let rows = stats::read(
        &mut app.conn(),
        &w.scope,
        day("2026-11-20"),
        day("2026-11-20"),
        &[metric::MESSAGES, metric::KEYWORD],
    )
    .unwrap();
    assert_eq!(figure(&rows, "2026-11-20", metric::MESSAGES, ""), 30);
    assert_eq!(figure(&rows, "2026-11-20", metric::KEYWORD, "hello"), 30);
    assert_eq!(
        rows.len(),
        2,
        "one row per figure, not one per roller: {rows:?}"
    );
}
