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

/// A text the webhook answered (its reply stored with it).
fn push_answered(app: &TestApp, w: &World, n: usize, openid: &str, text: &str, utc: &str) {
    inbox::record(
        &mut app.conn(),
        &w.scope,
        &Inbound {
            openid,
            msg_type: "text",
            event: None,
            dedupe_key: &format!("answered:{n}"),
            content: Some(text),
            body: "<xml/>",
            sent_at: at(utc),
            change: FollowerChange::Interaction,
        },
        Some("<xml>reply</xml>"),
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

/// The CSV of one of the dashboard's tables, as rows of cells (header first).
async fn table(c: &Client, slug: &str, name: &str, query: &str) -> Vec<Vec<String>> {
    let r = c
        .get(&format!("/t/{slug}/dashboard/{name}.csv?{query}"))
        .await;
    assert_eq!(r.status, 200, "{name}.csv: {}", r.body);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(r.body.as_bytes())
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Column `col` of a table summed.
fn column(rows: &[Vec<String>], col: usize) -> i64 {
    rows.iter().map(|r| r[col].parse::<i64>().unwrap()).sum()
}

/// Inbound rows of a tenant in the Shanghai days `from..=to`, counted straight from the
/// archive: (subscribes, unsubscribes, texts).
fn archive_counts(app: &TestApp, w: &World, from: NaiveDate, to: NaiveDate) -> (i64, i64, i64) {
    use diesel::prelude::*;
    use patron_store::schema::messages as m;
    let tz = chrono_tz::Asia::Shanghai;
    let (a, b) = (
        patron_domain::broadcasts::day_start_utc(from, tz),
        patron_domain::broadcasts::day_start_utc(to.succ_opt().unwrap(), tz),
    );
    let rows: Vec<(String, Option<String>)> = m::table
        .filter(m::tenant_id.eq(w.scope.tenant_id().0))
        .filter(m::direction.eq("in"))
        .filter(m::sent_at.ge(a))
        .filter(m::sent_at.lt(b))
        .select((m::msg_type, m::event))
        .load(&mut *app.conn())
        .unwrap();
    let event = |name: &str| rows.iter().filter(|r| r.1.as_deref() == Some(name)).count() as i64;
    let texts = rows.iter().filter(|r| r.0 == "text").count() as i64;
    (event("subscribe"), event("unsubscribe"), texts)
}

#[tokio::test]
async fn the_dashboard_and_the_portfolio_show_the_figures_counted_from_the_rows() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let other = world(&mut app.conn(), "b");
    let now = patron_store::now();
    let tz = chrono_tz::Asia::Shanghai;
    let today = now.and_utc().with_timezone(&tz).date_naive();
    let scene = patron_store::qr_codes::get(&mut app.conn(), &w.scope, w.qr)
        .unwrap()
        .scene;
    let qr_label = patron_store::qr_codes::get(&mut app.conn(), &w.scope, w.qr)
        .unwrap()
        .label;
    let ago = |h: i64| {
        (now - chrono::TimeDelta::hours(h))
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let mut n = 0;
    let mut add = |w: &World, openid: &str, kind: &str, content: &str, hours: i64| {
        n += 1;
        push(&app, w, n, openid, kind, content, &ago(hours));
    };
    // This period: 4 follows (2 by the QR code), 1 unfollow, 3 texts; before it (40
    // days ago), 1 follow by the QR code.
    add(&w, "f1", "subscribe", &format!("qrscene_{scene}"), 1);
    add(&w, "f2", "subscribe", &format!("qrscene_{scene}"), 30);
    add(&w, "f3", "subscribe", "", 50);
    add(&w, "f4", "subscribe", "", 24 * 10);
    add(&w, "f4", "unsubscribe", "", 24 * 9);
    for (i, h) in [2, 3, 24 * 5].into_iter().enumerate() {
        add(&w, &format!("f{}", i + 1), "text", "Menu", h);
    }
    add(&w, "f9", "subscribe", &format!("qrscene_{scene}"), 24 * 40);
    // Tenant B: five follows and texts of its own.
    for i in 0..5 {
        add(&other, &format!("b{i}"), "subscribe", "", 3);
        add(&other, &format!("b{i}"), "text", "hello", 2);
    }
    // Answered texts: two by a keyword rule, one by the world's default rule.
    patron_store::reply_rules::create(
        &mut app.conn(),
        &w.scope,
        &patron_domain::replies::Trigger::KeywordExact("hours".into()),
        "We open at 8.",
        0,
    )
    .unwrap();
    push_answered(&app, &w, 1, "f1", "Hours", &ago(4));
    push_answered(&app, &w, 2, "f2", "hours", &ago(24 * 3));
    push_answered(&app, &w, 3, "f3", "anything else", &ago(5));
    patron_app::stats::rebuild(&app.state.pool, None, None, now, |_, _| {}).unwrap();

    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let home = c.get(&format!("/t/{}", w.slug)).await;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("id=\"section-audience\""),
        "{}",
        home.body
    );
    assert!(home.body.contains("<svg"), "the charts are drawn");

    let period = patron_domain::period::Period::last(28, today);
    let (follows, unfollows, texts) = archive_counts(&app, &w, period.from, period.to);
    assert_eq!((follows, unfollows), (4, 1), "the pushes above");
    assert!(texts >= 3, "the three texts above and the world's own");
    for step in ["day", "week", "month"] {
        let q = format!("from={}&to={}&step={step}", period.from, period.to);
        let audience = table(&c, &w.slug, "audience", &q).await;
        assert_eq!(column(&audience[1..], 1), follows, "follows by {step}");
        assert_eq!(column(&audience[1..], 2), unfollows, "unfollows by {step}");
        assert_eq!(
            column(&audience[1..], 3),
            follows - unfollows,
            "net by {step}"
        );
        let engagement = table(&c, &w.slug, "engagement", &q).await;
        assert_eq!(column(&engagement[1..], 1), texts, "messages by {step}");
    }
    // By day: one row a day, each day's follows as counted from the rows.
    let q = format!("from={}&to={}", period.from, period.to);
    let audience = table(&c, &w.slug, "audience", &q).await;
    assert_eq!(audience.len(), 1 + 28);
    for row in &audience[1..] {
        let d = NaiveDate::parse_from_str(&row[0], "%Y-%m-%d").unwrap();
        assert_eq!(
            row[1].parse::<i64>().unwrap(),
            archive_counts(&app, &w, d, d).0,
            "{d}"
        );
    }
    // Followers at the end of each day: today's is the number following now, and each
    // day before it that less the next day's net.
    let following: i64 = {
        use diesel::prelude::*;
        use patron_store::schema::followers as f;
        f::table
            .filter(f::tenant_id.eq(w.scope.tenant_id().0))
            .filter(f::subscribed.eq(true))
            .count()
            .get_result(&mut *app.conn())
            .unwrap()
    };
    let cumulative: Vec<i64> = audience[1..]
        .iter()
        .map(|r| r[4].parse().unwrap())
        .collect();
    assert_eq!(*cumulative.last().unwrap(), following);
    for i in 1..cumulative.len() {
        let net: i64 = audience[1 + i][3].parse().unwrap();
        assert_eq!(cumulative[i] - cumulative[i - 1], net, "day {i}");
    }
    // Retention: four new followers in the period (f1 to f4), three still following (f4
    // left). Where they found the account: a QR code for the two who scanned one, the
    // follow event's "other" for the rest.
    let retention = table(&c, &w.slug, "retention", &q).await;
    assert_eq!(
        (column(&retention[1..], 1), column(&retention[1..], 2)),
        (4, 3)
    );
    let scenes = table(&c, &w.slug, "scenes", &q).await;
    let scene = |name: &str| scenes.iter().find(|r| r[0] == name).map(|r| r[1].clone());
    assert_eq!(scene("QR code").as_deref(), Some("2"), "{scenes:?}");
    assert_eq!(scene("Other").as_deref(), Some("2"), "{scenes:?}");
    // f2 leaves now: the daily cohort refresh counts it out of its day's cohort.
    add(&w, "f2", "unsubscribe", "", 0);
    patron_app::stats::refresh_cohorts(&app.state.pool, patron_store::now()).unwrap();
    let retention = table(&c, &w.slug, "retention", &q).await;
    assert_eq!(
        (column(&retention[1..], 1), column(&retention[1..], 2)),
        (4, 2)
    );
    // Follows by QR code: two now, one in the period before.
    let qr = table(&c, &w.slug, "qr", &q).await;
    let row = qr
        .iter()
        .find(|r| r[0] == qr_label)
        .expect("the QR code's row");
    assert_eq!((row[1].as_str(), row[2].as_str()), ("2", "1"), "{qr:?}");
    // Reply rules by the pushes they answered.
    let rules = table(&c, &w.slug, "rules", &q).await;
    let hits = |name: &str| rules.iter().find(|r| r[0] == name).map(|r| r[1].clone());
    assert_eq!(
        hits("Keyword is exactly “hours”").as_deref(),
        Some("2"),
        "{rules:?}"
    );
    assert_eq!(hits("Default answer").as_deref(), Some("1"), "{rules:?}");
    // The keyword, lower-cased.
    let keywords = table(&c, &w.slug, "keywords", &q).await;
    assert_eq!(keywords[1][..2], ["menu".to_string(), "3".to_string()]);
    // Coupons: what coupons::stats counts for the campaign (its coupons were issued
    // today by the world).
    let direct = patron_store::coupons::stats(&mut app.conn(), &w.scope, w.campaign).unwrap();
    let campaigns = table(&c, &w.slug, "campaigns", &q).await;
    assert_eq!(column(&campaigns[1..], 1), direct.issued);
    assert_eq!(column(&campaigns[1..], 3), direct.redeemed);

    // Bad input: a clear answer, the default period shown, nothing else.
    let bad = c
        .get(&format!("/t/{}?from=2026-12-06&to=2026-12-01", w.slug))
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("the first day comes after the last"),
        "{}",
        bad.body
    );
    let bad = c
        .get(&format!(
            "/t/{}/dashboard/audience.csv?from=2020-01-01&to=2026-01-01",
            w.slug
        ))
        .await;
    assert_eq!(bad.status, 400);
    let unknown = c.get(&format!("/t/{}/dashboard/nothing.csv", w.slug)).await;
    assert_eq!(unknown.status, 404);
    // A cashier may not download the figures.
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    let r = cashier
        .get(&format!("/t/{}/dashboard/audience.csv", w.slug))
        .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.status);

    // The agency's portfolio: this agency's tenant only, its figures as counted.
    let admin = app.client();
    admin.login(&w.admin_email, PASSWORD).await;
    let p = admin.get("/agency/tenants").await;
    assert_eq!(p.status, 200);
    let attr = |name: &str| -> i64 {
        extract(&p.body, &format!("data-tenant=\"{}\"", w.slug), ">")
            .and_then(|tag| extract(&tag, &format!("data-{name}=\""), "\""))
            .unwrap_or_else(|| panic!("no {name} for {}: {}", w.slug, p.body))
            .parse()
            .unwrap()
    };
    assert_eq!(attr("messages"), texts);
    assert_eq!(attr("growth"), follows - unfollows);
    assert_eq!(attr("redeemed"), direct.redeemed);
    assert!(
        !p.body.contains(&format!("data-tenant=\"{}\"", other.slug)),
        "another agency's tenant"
    );
    // Sorted by messages, most first, then the other way round.
    let sorted = admin.get("/agency/tenants?sort=messages&dir=asc").await;
    assert_eq!(sorted.status, 200);
    assert!(sorted.body.contains("aria-sort=\"ascending\""));
    let bad = admin.get("/agency/tenants?from=x&to=y").await;
    assert_eq!(bad.status, 400);
}
