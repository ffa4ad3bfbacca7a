//! Coupons: issuance under supply and per-follower limits, exactly-once redemption with
//! idempotency keys (races on both backends), and the till and campaign pages.

use crate::support::*;
use patron_app::redeemer::{Ask, Redeemer};
use patron_app::till::Gated;
use patron_domain::coupons::{qr_payload, Benefit, Validity};
use patron_store::coupons::{self, CampaignInput, NotIssued, Redeemed, Till};
use std::sync::{Arc, Barrier};

/// A redemption at the API's till, without key, order or amount.
fn ask(scope: &patron_domain::TenantScope, scanned: &str, store: i64, by: &str) -> Ask {
    Ask {
        scope: scope.clone(),
        ip: "192.0.2.1".into(),
        scanned: scanned.into(),
        user_id: None,
        user_name: by.into(),
        store_id: store,
        device: "test".into(),
        idempotency_key: None,
        order_ref: None,
        amount_fen: None,
    }
}

/// Runs a future to its end on a runtime of its own (threads of a race).
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn campaign(app: &TestApp, w: &World, supply: Option<i64>, per_follower: Option<i64>) -> i64 {
    let mut c = app.conn();
    let camp = coupons::create(
        &mut c,
        &w.scope,
        &CampaignInput {
            name: "Race".into(),
            benefit: Benefit::PercentOff {
                percent: 20,
                cap_fen: 1000,
            },
            min_spend_fen: 0,
            validity: Validity::Relative { days: 7 },
            total_supply: supply,
            per_follower_limit: per_follower,
            stores: None,
            terms: String::new(),
            code_prefix: "RACE".into(),
            accepts_short_codes: false,
        },
    )
    .unwrap();
    coupons::set_status(&mut c, &w.scope, camp.id, "active").unwrap();
    camp.id
}

/// A campaign as entered: `benefit` for 5 days, no minimum spend, limits, stores or prefix;
/// tests set what they are about with `..input(…)`.
fn input(name: &str, benefit: Benefit) -> CampaignInput {
    CampaignInput {
        name: name.into(),
        benefit,
        min_spend_fen: 0,
        validity: Validity::Relative { days: 5 },
        total_supply: None,
        per_follower_limit: None,
        stores: None,
        terms: String::new(),
        code_prefix: String::new(),
        accepts_short_codes: false,
    }
}

/// Runs `n` threads that start together, each with a connection of the app's pool.
fn race<T: Send + 'static>(
    app: &TestApp,
    n: usize,
    f: impl Fn(usize, &mut patron_store::DbConn) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (pool, barrier, f) = (app.state.pool.clone(), barrier.clone(), f.clone());
            std::thread::spawn(move || {
                // Connections are taken after the start: the pool is smaller than the crowd.
                barrier.wait();
                let mut c = pool.get().unwrap();
                f(i, &mut c)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn fifty_cashiers_racing_on_one_code_redeem_it_once() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let scope = w.scope.clone();
    let code = w.coupon_code.clone();
    let store = w.store;
    let results = race(&app, 50, move |i, c| {
        let name = format!("Cashier {i}");
        coupons::redeem(
            c,
            &scope,
            &code,
            &Till {
                user_id: None,
                user_name: &name,
                store_id: store,
                device: "test",
            },
            Some(&format!("tap-{i}")),
            None,
            Some(5000),
        )
        .unwrap()
    });
    let wins: Vec<&Redeemed> = results
        .iter()
        .filter(|r| matches!(r, Redeemed::Ok { .. }))
        .collect();
    assert_eq!(wins.len(), 1, "exactly one redemption: {results:?}");
    let Redeemed::Ok {
        by,
        at,
        discount_fen,
        ..
    } = wins[0]
    else {
        unreachable!()
    };
    assert_eq!(*discount_fen, 1000, "¥10 off a ¥50 order");
    for r in results.iter().filter(|r| !matches!(r, Redeemed::Ok { .. })) {
        assert_eq!(
            r,
            &Redeemed::AlreadyRedeemed {
                code: w.coupon_code.clone(),
                store_id: Some(w.store),
                by: Some(by.clone()),
                at: Some(*at),
            },
            "every other cashier is told where, by whom and when"
        );
    }
    let since = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let (events, all) = coupons::events_by(&mut app.conn(), &w.scope, 0, since, 20).unwrap();
    assert_eq!(all, 0);
    assert!(events.is_empty(), "events are per user; none for user 0");
    // One audit row.
    use diesel::prelude::*;
    let audit: i64 = patron_store::schema::coupon_events::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(audit, 1);
}

#[test]
fn a_retried_tap_gets_its_first_answer_even_when_racing_itself() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let (scope, code, store) = (w.scope.clone(), w.coupon_code.clone(), w.store);
    let results = race(&app, 10, move |_, c| {
        coupons::redeem(
            c,
            &scope,
            &code,
            &Till {
                user_id: None,
                user_name: "Till 1",
                store_id: store,
                device: "test",
            },
            Some("the-same-tap"),
            Some("ORDER-1"),
            None,
        )
        .unwrap()
    });
    assert!(matches!(results[0], Redeemed::Ok { .. }), "{results:?}");
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    // And later, once more.
    let again = coupons::redeem(
        &mut app.conn(),
        &w.scope,
        &w.coupon_code,
        &Till {
            user_id: None,
            user_name: "Till 1",
            store_id: w.store,
            device: "test",
        },
        Some("the-same-tap"),
        None,
        None,
    )
    .unwrap();
    assert_eq!(again, results[0]);
}

/// Fifty cashiers at once through the group-commit writers of two "processes" and a
/// third redeeming each alone, all on one database, and ten retries of one tap: one
/// redemption, one audit row, every retry answered as the first.
#[test]
fn racing_through_the_writers_of_two_processes_redeems_once() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let key = *app.state.secrets.mac_key();
    let started = |n: usize| {
        Redeemer::start(
            patron_store::DbPool::connect(&app.db.url, n as u32).unwrap(),
            n,
            key,
        )
    };
    // Two processes with writers, and one redeeming each in its own transaction.
    let writers = [
        started(2),
        started(1),
        Redeemer::direct(app.state.pool.clone(), key),
    ];
    let barrier = Arc::new(Barrier::new(60));
    let handles: Vec<_> = (0..60)
        .map(|i| {
            let (r, barrier) = (writers[i % 3].clone(), barrier.clone());
            let (scope, code, store) = (w.scope.clone(), w.coupon_code.clone(), w.store);
            std::thread::spawn(move || {
                // Threads 50..60 are one till's retries of the same tap.
                let key = if i < 50 {
                    format!("tap-{i}")
                } else {
                    "the-same-tap".into()
                };
                let ask = Ask {
                    idempotency_key: Some(key),
                    amount_fen: Some(5000),
                    ..ask(&scope, &code, store, &format!("Cashier {i}"))
                };
                barrier.wait();
                match block_on(r.redeem(ask)).unwrap() {
                    Gated::Done(r) => r,
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    let results: Vec<Redeemed> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let retries = &results[50..];
    assert!(retries.iter().all(|r| r == &retries[0]), "{retries:?}");
    // One winner: one of the fifty, or the tap (whose every retry then says so).
    let wins = results[..50]
        .iter()
        .filter(|r| matches!(r, Redeemed::Ok { .. }))
        .count()
        + usize::from(matches!(retries[0], Redeemed::Ok { .. }));
    assert_eq!(wins, 1, "exactly one redemption: {results:?}");
    use diesel::prelude::*;
    let audit: i64 = patron_store::schema::coupon_events::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(audit, 1, "one redemption recorded: {results:?}");
    let c = coupons::by_code(&mut app.conn(), &w.scope, &w.coupon_code).unwrap();
    assert_eq!(c.status, patron_domain::coupons::CouponStatus::Redeemed);
}

/// One batch of redemptions across two tenants answers each as it would be answered
/// alone and in turn, and writes only the winners.
#[test]
fn a_batch_answers_each_redemption_as_alone_and_in_turn() {
    let app = TestApp::spawn();
    let mut c = app.conn();
    let (a, b) = (world(&mut c, "a"), world(&mut c, "b"));
    let camp = campaign(&app, &a, None, None);
    let codes: Vec<String> = (0..6)
        .map(|_| {
            coupons::issue(&mut c, &a.scope, camp, None, "api", "t")
                .unwrap()
                .unwrap()
                .code
        })
        .collect();
    let till = |name| Till {
        user_id: None,
        user_name: name,
        store_id: a.store,
        device: "test",
    };
    // Before the batch: codes[4] redeemed under key "earlier".
    let earlier = coupons::redeem(
        &mut c,
        &a.scope,
        &codes[4],
        &till("Early"),
        Some("earlier"),
        None,
        None,
    )
    .unwrap();
    assert!(matches!(earlier, Redeemed::Ok { .. }));
    let one = |scope, code, store_id, key| coupons::Ask {
        scope,
        code,
        till: Till {
            store_id,
            ..till("Batch")
        },
        idempotency_key: key,
        order_ref: None,
        amount_fen: Some(5000),
    };
    let asks = vec![
        one(&a.scope, codes[0].as_str(), a.store, Some("k1")),
        one(&a.scope, codes[1].as_str(), a.store, None),
        // The same coupon again: told who took it a moment ago.
        one(&a.scope, codes[0].as_str(), a.store, None),
        // The same key again: the first answer, whatever the code.
        one(&a.scope, codes[2].as_str(), a.store, Some("k1")),
        // Another tenant's coupon through this tenant: not found.
        one(&a.scope, b.coupon_code.as_str(), a.store, None),
        // Another tenant's store: refused, nothing redeemed.
        one(&a.scope, codes[3].as_str(), b.store, None),
        one(&a.scope, "NOSUCHCODE", a.store, None),
        // The other tenant, in the same batch.
        one(&b.scope, b.coupon_code.as_str(), b.store, None),
        // Redeemed before the batch.
        one(&a.scope, codes[4].as_str(), a.store, None),
        // A key answered before the batch.
        one(&a.scope, codes[5].as_str(), a.store, Some("earlier")),
    ];
    let out = patron_store::write_tx(&mut c, |c| coupons::redeem_many(c, &asks)).unwrap();
    let ok = |i: usize| match &out[i] {
        Ok(r @ Redeemed::Ok { .. }) => r.clone(),
        other => panic!("ask {i}: {other:?}"),
    };
    let first = ok(0);
    let Redeemed::Ok {
        at, discount_fen, ..
    } = &first
    else {
        unreachable!()
    };
    assert_eq!(*discount_fen, 1000);
    ok(1);
    assert_eq!(
        out[2].as_ref().unwrap(),
        &Redeemed::AlreadyRedeemed {
            code: codes[0].clone(),
            store_id: Some(a.store),
            by: Some("Batch".into()),
            at: Some(*at),
        }
    );
    assert_eq!(
        out[3].as_ref().unwrap(),
        &first,
        "a repeated key is answered as first"
    );
    assert!(
        matches!(out[4], Err(patron_store::StoreError::NotFound)),
        "{:?}",
        out[4]
    );
    assert!(
        matches!(out[5], Err(patron_store::StoreError::Invalid(_))),
        "{:?}",
        out[5]
    );
    assert!(
        matches!(out[6], Err(patron_store::StoreError::NotFound)),
        "{:?}",
        out[6]
    );
    ok(7);
    assert!(
        matches!(&out[8], Ok(Redeemed::AlreadyRedeemed { by: Some(by), .. }) if by == "Early"),
        "{:?}",
        out[8]
    );
    assert_eq!(out[9].as_ref().unwrap(), &earlier);

    // Written: the three winners, each once, with its event; nothing else.
    let status = |scope, code: &str| {
        coupons::by_code(&mut app.conn(), scope, code)
            .unwrap()
            .status
    };
    use patron_domain::coupons::CouponStatus::{Issued, Redeemed as Done};
    for (code, want) in [
        (&codes[0], Done),
        (&codes[1], Done),
        (&codes[2], Issued),
        (&codes[3], Issued),
        (&codes[5], Issued),
    ] {
        assert_eq!(status(&a.scope, code), want, "{code}");
    }
    assert_eq!(status(&b.scope, &b.coupon_code), Done);
    use diesel::prelude::*;
    let events: i64 = patron_store::schema::coupon_events::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(events, 4, "the earlier redemption and the batch's three");
}

/// Unknown codes sent all at once through a writer lock the guesser after exactly the
/// allowed number, as one after another would.
#[test]
fn the_code_throttle_is_exact_within_a_batch() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let r = Redeemer::start(
        patron_store::DbPool::connect(&app.db.url, 1).unwrap(),
        1,
        *app.state.secrets.mac_key(),
    );
    let n = patron_app::till::MAX_FAILURES as usize + 5;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (r, barrier, scope, store) = (r.clone(), barrier.clone(), w.scope.clone(), w.store);
            std::thread::spawn(move || {
                let a = ask(&scope, &format!("NOPE{i:04}XX"), store, "Guesser");
                barrier.wait();
                block_on(r.redeem(a))
            })
        })
        .collect();
    let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let locked = answers
        .iter()
        .filter(|a| matches!(a, Ok(Gated::Locked)))
        .count();
    let unknown = answers
        .iter()
        .filter(|a| {
            matches!(
                a,
                Err(patron_app::AppError::NotFound) | Ok(Gated::Refused(_))
            )
        })
        .count();
    assert_eq!((unknown, locked), (n - 5, 5), "{answers:?}");
    // And the real code is refused too now: the guesser is locked out.
    let a = ask(&w.scope, &w.coupon_code, w.store, "Guesser");
    assert!(matches!(block_on(r.redeem(a)), Ok(Gated::Locked)));
    assert_eq!(
        coupons::by_code(&mut app.conn(), &w.scope, &w.coupon_code)
            .unwrap()
            .status,
        patron_domain::coupons::CouponStatus::Issued
    );
}

#[test]
fn supply_and_per_follower_limits_hold_under_concurrency() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let camp = campaign(&app, &w, Some(20), None);
    let scope = w.scope.clone();
    let results = race(&app, 40, move |_, c| {
        coupons::issue(c, &scope, camp, None, "api", "race").unwrap()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 20);
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| r.as_ref().unwrap_err() == &NotIssued::SupplyExhausted));
    let c = coupons::get(&mut app.conn(), &w.scope, camp).unwrap();
    assert_eq!(c.issued_count, 20);
    assert_eq!(
        coupons::stats(&mut app.conn(), &w.scope, camp)
            .unwrap()
            .issued,
        20
    );
    // Two per follower, ten trying at once for the same follower.
    let camp2 = campaign(&app, &w, None, Some(2));
    let (scope, follower) = (w.scope.clone(), w.follower);
    let results = race(&app, 10, move |_, c| {
        coupons::issue(c, &scope, camp2, Some(follower), "api", "race").unwrap()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        2,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| r.as_ref().unwrap_err() == &NotIssued::FollowerLimit));
    assert_eq!(
        coupons::get(&mut app.conn(), &w.scope, camp2)
            .unwrap()
            .issued_count,
        2,
        "a refused issue gives its supply back"
    );
    // A paused campaign issues nothing.
    coupons::set_status(&mut app.conn(), &w.scope, camp, "paused").unwrap();
    assert_eq!(
        coupons::issue(&mut app.conn(), &w.scope, camp, None, "api", "x")
            .unwrap()
            .unwrap_err(),
        NotIssued::NotActive
    );
}

/// The database itself holds a coupon to its tenant's campaign and follower (on
/// PostgreSQL one check per statement stands in for per-row foreign keys, on SQLite a
/// trigger beside them), so even a caller that skips the checks cannot cross tenants.
#[test]
fn the_database_refuses_a_coupon_of_another_tenants_follower_or_campaign() {
    let app = TestApp::spawn();
    let (a, b) = (world(&mut app.conn(), "a"), world(&mut app.conn(), "b"));
    let camp = campaign(&app, &a, None, None);
    let count = |app: &TestApp| {
        coupons::stats(&mut app.conn(), &a.scope, camp)
            .unwrap()
            .issued
    };
    // The bulk path trusts its caller for the followers' tenant: the database does not.
    let err = coupons::issue_batch(
        &mut app.conn(),
        &a.scope,
        camp,
        &[a.follower, b.follower],
        "bulk",
        "t",
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("tenant"), "{err}");
    assert_eq!(count(&app), 0, "the whole batch is refused");
    assert_eq!(
        coupons::get(&mut app.conn(), &a.scope, camp)
            .unwrap()
            .issued_count,
        0
    );
    let done = coupons::issue_batch(
        &mut app.conn(),
        &a.scope,
        camp,
        &[a.follower],
        "bulk",
        "t",
        false,
    )
    .unwrap();
    assert_eq!(done.issued, 1);
    assert_eq!(count(&app), 1);
    // Neither may a coupon move to another tenant's follower, or a campaign of B's.
    let code = coupons::codes(&mut app.conn(), &a.scope, camp, 1)
        .unwrap()
        .remove(0);
    for set in [
        format!("follower_id = {}", b.follower),
        format!("campaign_id = {}", b.campaign),
        format!("tenant_id = {}", b.scope.tenant_id().0),
    ] {
        let moved = patron_store::exec_sql(
            &mut app.conn(),
            &format!("UPDATE coupons SET {set} WHERE code = '{code}'"),
        );
        assert!(moved.is_err(), "{set} was allowed");
    }
    let c = coupons::by_code(&mut app.conn(), &a.scope, &code).unwrap();
    assert_eq!((c.follower_id, c.campaign_id), (Some(a.follower), camp));
    // An unknown follower is refused as well (what the foreign key did).
    assert!(coupons::issue_batch(
        &mut app.conn(),
        &a.scope,
        camp,
        &[i64::MAX],
        "bulk",
        "t",
        false
    )
    .is_err());
    assert_eq!(count(&app), 1);
}

#[tokio::test]
async fn the_till_looks_up_redeems_once_voids_and_explains_every_refusal() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.cashier_email, PASSWORD).await;
    let till = format!("/t/{}/cashier", w.slug);
    let page = c.get(&till).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&w.store_name));
    let store = w.store.to_string();
    let lookup = |scan: String| {
        let (c, till, store) = (&c, till.clone(), store.clone());
        async move {
            c.post(
                &format!("{till}/lookup"),
                &[("store_id", &store), ("scan", &scan)],
            )
            .await
        }
    };
    // Typed as read aloud: lower case with spaces.
    let typed = patron_domain::coupons::display(&w.coupon_code).to_lowercase();
    let r = lookup(typed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"redeem-form\""), "{}", r.body);
    assert!(r.body.contains("¥10.00 off"));
    let key = extract(&r.body, "name=\"key\" value=\"", "\"").unwrap();
    let before = row_counts(&mut app.conn());
    // A typo, a forged QR, an unknown code: each its own answer, nothing touched.
    let mut typo = w.coupon_code.clone().into_bytes();
    typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
    let r = lookup(String::from_utf8(typo).unwrap()).await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("typo"), "{}", r.body);
    let forged = qr_payload(&[1u8; 32], &w.coupon_code);
    let r = lookup(forged).await;
    assert!(r.body.contains("forged or altered"), "{}", r.body);
    let r = lookup("NOPE-2345".into()).await;
    assert!(r.body.contains("No coupon with this code"));
    let counts = row_counts(&mut app.conn());
    assert_eq!(counts, before);
    // The real QR payload (signed with the tenant's key) redeems once.
    let payload = qr_payload(
        &patron_web::ui::cashier::qr_key(&app.state, &w.scope),
        &w.coupon_code,
    );
    let r = lookup(payload.clone()).await;
    assert!(r.body.contains("id=\"redeem-form\""), "{}", r.body);
    let redeem = |key: String| {
        let (c, till, store, code) = (&c, till.clone(), store.clone(), w.coupon_code.clone());
        async move {
            c.post(
                &format!("{till}/redeem"),
                &[
                    ("store_id", &store),
                    ("scan", &code),
                    ("key", &key),
                    ("amount", "88.00"),
                    ("order_ref", "A-17"),
                ],
            )
            .await
        }
    };
    let r = redeem(key.clone()).await;
    assert!(r.body.contains("id=\"till-done\""), "{}", r.body);
    // The same tap again: the same answer, not "already redeemed".
    let r = redeem(key).await;
    assert!(r.body.contains("id=\"till-done\""));
    // Another tap: already redeemed at this store by this cashier.
    let r = redeem("another-tap".into()).await;
    assert!(r.body.contains("id=\"till-already\""), "{}", r.body);
    assert!(
        r.body.contains(&w.store_name) && r.body.contains("cashier a"),
        "{}",
        r.body
    );
    let r = lookup(payload.clone()).await;
    assert!(r.body.contains("id=\"till-already\""));
    // Today's list; void with a reason; the coupon is valid again.
    let page = c.get(&till).await;
    assert!(page.body.contains("id=\"till-today\"") && page.body.contains("Void"));
    let r = c
        .post(
            &format!("{till}/void"),
            &[
                ("store_id", &store),
                ("code", &w.coupon_code),
                ("reason", ""),
            ],
        )
        .await;
    assert!(r.body.contains("Give a reason"));
    let r = c
        .post(
            &format!("{till}/void"),
            &[
                ("store_id", &store),
                ("code", &w.coupon_code),
                ("reason", "wrong customer"),
            ],
        )
        .await;
    assert!(r.body.contains("id=\"till-voided\""), "{}", r.body);
    let coupon = coupons::by_code(&mut app.conn(), &w.scope, &w.coupon_code).unwrap();
    assert_eq!(coupon.status, "issued");
    // Today's list shows the redemption as voided since, with no Void left to press.
    let page = c.get(&till).await;
    let today = extract(&page.body, "id=\"till-today\"", "</table>").unwrap();
    assert!(today.contains("voided since"), "{today}");
    assert!(
        !today.contains("cashier/void"),
        "a voided redemption offers no Void: {today}"
    );
    // Throttled after ten failed lookups from this cashier.
    for _ in 0..8 {
        lookup("NOPE-2345".into()).await;
    }
    let r = lookup(payload).await;
    assert!(r.body.contains("Too many failed lookups"), "{}", r.body);
    // A marketer may not use the till.
    let m = app.client();
    m.login(&w.marketer_email, PASSWORD).await;
    assert_eq!(m.get(&till).await.status, 403);
}

#[tokio::test]
async fn refusals_at_the_till_name_their_reason() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let other =
        patron_store::stores::create(&mut app.conn(), &w.scope, "Elsewhere", "2 Road").unwrap();
    let mut conn = app.conn();
    let camp = coupons::create(
        &mut conn,
        &w.scope,
        &CampaignInput {
            name: "Other store only".into(),
            benefit: Benefit::Gift {
                item: "Cookie".into(),
            },
            min_spend_fen: 3000,
            validity: Validity::Relative { days: 1 },
            total_supply: None,
            per_follower_limit: None,
            stores: Some(vec![other.id]),
            terms: "One per visit".into(),
            code_prefix: String::new(),
            accepts_short_codes: false,
        },
    )
    .unwrap();
    coupons::set_status(&mut conn, &w.scope, camp.id, "active").unwrap();
    let gift = coupons::issue(&mut conn, &w.scope, camp.id, None, "api", "t")
        .unwrap()
        .unwrap();
    drop(conn);
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let till = format!("/t/{}/cashier", w.slug);
    let r = c
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &w.store.to_string()), ("scan", &gift.code)],
        )
        .await;
    assert!(r.body.contains("Not valid at this store"), "{}", r.body);
    let r = c
        .post(
            &format!("{till}/redeem"),
            &[
                ("store_id", &other.id.to_string()),
                ("scan", &gift.code),
                ("key", "k1"),
                ("amount", "20"),
            ],
        )
        .await;
    assert!(r.body.contains("id=\"till-refused\""), "{}", r.body);
    // A refused redemption says why, as the lookup does.
    assert!(
        r.body.contains("The minimum spend of ¥30.00 is not met"),
        "{}",
        r.body
    );
    coupons::set_status(&mut app.conn(), &w.scope, camp.id, "paused").unwrap();
    let r = c
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &other.id.to_string()), ("scan", &gift.code)],
        )
        .await;
    assert!(r.body.contains("The campaign is paused"), "{}", r.body);
    assert_eq!(
        coupons::by_code(&mut app.conn(), &w.scope, &gift.code)
            .unwrap()
            .status,
        "issued"
    );
}

#[tokio::test]
async fn a_marketer_creates_a_campaign_and_issues_a_coupon_from_a_follower_page() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let path = format!("/t/{}/campaigns", w.slug);
    let before = row_counts(&mut app.conn());
    for (fields, msg) in [
        (
            vec![
                ("name", "X"),
                ("kind", "amount_off"),
                ("amount", "abc"),
                ("validity", "relative"),
                ("days", "30"),
            ],
            "not an amount",
        ),
        (
            vec![
                ("name", "X"),
                ("kind", "percent_off"),
                ("percent", "120"),
                ("validity", "relative"),
                ("days", "30"),
            ],
            "check the amount",
        ),
        (
            vec![
                ("name", "X"),
                ("kind", "gift"),
                ("item", "Tea"),
                ("validity", "absolute"),
                ("from", "2026-12-31"),
                ("to", "2026-12-01"),
            ],
            "must not be before",
        ),
        (
            vec![
                ("name", "X"),
                ("kind", "gift"),
                ("item", "Tea"),
                ("validity", "relative"),
                ("days", "30"),
                ("prefix", "toolongprefix"),
            ],
            "up to 8 capital",
        ),
    ] {
        let r = c.post(&path, &fields).await;
        assert_eq!(r.status, 422, "{fields:?}");
        assert!(r.body.contains(msg), "{msg}: {}", r.body);
    }
    assert_eq!(row_counts(&mut app.conn()), before);
    let store = w.store.to_string();
    let r = c
        .post(
            &path,
            &[
                ("name", "Autumn tea"),
                ("kind", "amount_off"),
                ("amount", "8.5"),
                ("min_spend", "30"),
                ("validity", "relative"),
                ("days", "14"),
                ("supply", "100"),
                ("per_follower", "1"),
                ("store_ids", &store),
                ("terms", "Not with other offers"),
                ("prefix", "TEA"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let show = r.location.unwrap();
    let page = c.get(&show).await;
    assert!(
        page.body.contains("¥8.50 off") && page.body.contains("draft"),
        "{}",
        page.body
    );
    let id: i64 = show.rsplit('/').next().unwrap().parse().unwrap();
    c.post(&format!("{show}/status"), &[("status", "active")])
        .await;
    let issue = format!("/t/{}/followers/{}/coupons", w.slug, w.follower);
    let r = c.post(&issue, &[("campaign_id", &id.to_string())]).await;
    assert_eq!(r.status, 303);
    let fpage = c
        .get(&format!("/t/{}/followers/{}", w.slug, w.follower))
        .await;
    assert!(fpage.body.contains("TEA-"), "{}", fpage.body);
    // The limit of one per follower.
    c.post(&issue, &[("campaign_id", &id.to_string())]).await;
    let fpage = c
        .get(&format!("/t/{}/followers/{}", w.slug, w.follower))
        .await;
    assert!(
        fpage.body.contains("already holds as many"),
        "{}",
        fpage.body
    );
    let held = coupons::of_follower(&mut app.conn(), &w.scope, w.follower).unwrap();
    assert_eq!(held.iter().filter(|c| c.campaign_id == id).count(), 1);
    let code = held
        .iter()
        .find(|c| c.campaign_id == id)
        .unwrap()
        .code
        .clone();
    let svg = c.get(&format!("/t/{}/coupons/{code}.svg", w.slug)).await;
    assert!(svg.body.contains("<svg"));
    let page = c.get(&show).await;
    assert!(page.body.contains("1 / 100"), "{}", page.body);
}

#[tokio::test]
async fn a_follower_opens_their_coupons_by_a_signed_expiring_link() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let tenant = w.scope.tenant_id().0;
    let url = patron_web::ui::follower_page::link(&app.state, &w.slug, tenant, w.follower);
    let path = url.strip_prefix(&app.base).unwrap_or(&url).to_string();
    let anon = app.client();
    let page = anon.get(&path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.body);
    let shown = patron_domain::coupons::display(&w.coupon_code);
    assert!(page.body.contains(&shown), "{}", page.body);
    assert!(page.body.contains("¥10.00 off"));
    let qr = anon.get(&format!("{path}/{}.svg", w.coupon_code)).await;
    assert_eq!(qr.status, 200);
    assert!(qr.body.contains("<svg"));
    // Another follower's coupon (tenant B's) is not reachable through this link.
    assert_eq!(
        anon.get(&format!("{path}/{}.svg", b.coupon_code))
            .await
            .status,
        404
    );
    // Altered, moved to another tenant, or expired.
    let token = path.rsplit('/').next().unwrap().to_string();
    let altered = token.replacen(&format!("{}.", w.follower), &format!("{}.", b.follower), 1);
    assert_eq!(
        anon.get(&format!("/m/{}/{altered}", w.slug)).await.status,
        404
    );
    assert_eq!(
        anon.get(&format!("/m/{}/{token}", b.slug)).await.status,
        404
    );
    let old = patron_domain::links::sign(app.state.secrets.mac_key(), tenant, w.follower, 1_000);
    let gone = anon.get(&format!("/m/{}/{old}", w.slug)).await;
    assert_eq!(gone.status, 410);
    assert!(gone.body.contains("expired"));
}

#[tokio::test]
async fn the_api_runs_a_campaign_from_creation_to_redemption() {
    use reqwest::Method;
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let api = |m: Method, p: &str, b: Option<serde_json::Value>| {
        let (c, t, p) = (&c, w.token.clone(), format!("/api/v1{p}"));
        async move { c.api(m, &p, &t, b).await }
    };
    let r = api(
        Method::POST,
        "/campaigns",
        Some(serde_json::json!({"name": "API 20%", "benefit": {"kind": "percent_off", "percent": 20, "cap_fen": 0},
            "validity": {"kind": "relative", "days": 3}, "min_spend_fen": 1000, "total_supply": 1, "status": "active"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    let bad = api(Method::POST, "/campaigns", Some(serde_json::json!({"name": "x", "benefit": {"kind": "percent_off", "percent": 0, "cap_fen": 0}, "validity": {"kind": "relative", "days": 3}}))).await;
    assert_eq!(bad.status, 422);
    let r = api(
        Method::POST,
        &format!("/campaigns/{id}/coupons"),
        Some(serde_json::json!({"follower_id": w.follower})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let code = r.json()["code"].as_str().unwrap().to_string();
    let r = api(
        Method::POST,
        &format!("/campaigns/{id}/coupons"),
        Some(serde_json::json!({})),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["message"], "supply_exhausted");
    // Validate with the QR payload, URL-encoded; the minimum spend is checked.
    let payload = qr_payload(
        &patron_web::ui::cashier::qr_key(&app.state, &w.scope),
        &code,
    );
    let enc = urlencoding::encode(&payload).into_owned();
    let r = api(
        Method::GET,
        &format!("/coupons/{enc}?store_id={}&amount_fen=500", w.store),
        None,
    )
    .await;
    assert_eq!(r.json()["redeemable"], false);
    assert_eq!(r.json()["refusal"]["reason"], "min_spend_not_met");
    let forged = urlencoding::encode(&qr_payload(&[0u8; 32], &code)).into_owned();
    assert_eq!(
        api(Method::GET, &format!("/coupons/{forged}"), None)
            .await
            .status,
        422
    );
    let body =
        serde_json::json!({"store_id": w.store, "idempotency_key": "pos-1", "amount_fen": 5000});
    let r = api(
        Method::POST,
        &format!("/coupons/{code}/redeem"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["discount_fen"], 1000);
    let again = api(Method::POST, &format!("/coupons/{code}/redeem"), Some(body)).await;
    assert_eq!(again.body, r.body, "the same key, the same answer");
    let other = api(
        Method::POST,
        &format!("/coupons/{code}/redeem"),
        Some(serde_json::json!({"store_id": w.store})),
    )
    .await;
    assert_eq!(other.status, 409);
    assert_eq!(other.json()["outcome"], "already_redeemed");
    let v = api(
        Method::POST,
        &format!("/coupons/{code}/void"),
        Some(serde_json::json!({"store_id": w.store, "reason": "test"})),
    )
    .await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.json()["status"], "issued");
    let stats = api(Method::GET, &format!("/campaigns/{id}"), None).await;
    assert_eq!(stats.json()["stats"]["issued"], 1);
}

#[tokio::test]
async fn a_campaign_is_issued_to_a_whole_tag_by_a_job_within_its_supply() {
    use diesel::prelude::*;
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "a");
    let mut conn = app.conn();
    let csv: String = std::iter::once("openid,tags\n".to_string())
        .chain((0..3000).map(|i| format!("bulk_{i},Bulk\n")))
        .collect();
    let rows = patron_domain::follower_csv::check(csv.as_bytes(), &[], 5000)
        .unwrap()
        .rows;
    patron_store::imports::apply(&mut conn, &w.scope, &rows).unwrap();
    let tag = patron_store::tags::list(&mut conn, &w.scope)
        .unwrap()
        .into_iter()
        .find(|(t, _)| t.name == "Bulk")
        .unwrap()
        .0;
    let camp = campaign(&app, &w, Some(2500), Some(1));
    // One follower already holds the one coupon each may have: the bulk skips them.
    let holder = patron_store::followers::list_page(
        &mut conn,
        &w.scope,
        &patron_store::followers::Filter {
            q: "bulk_2999".into(),
            ..Default::default()
        },
        1,
    )
    .unwrap()
    .0[0]
        .id;
    coupons::issue(&mut conn, &w.scope, camp, Some(holder), "manual", "t")
        .unwrap()
        .unwrap();
    drop(conn);
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let page = format!("/t/{}/campaigns/{camp}", w.slug);
    let target = format!("tag:{}", tag.id);
    // First the audience and its size, nothing queued yet.
    let r = c
        .post(&format!("{page}/bulk"), &[("target", &target)])
        .await;
    assert_eq!(r.status, 303);
    let asked = c.get(r.location.as_deref().unwrap()).await;
    let confirm = extract(&asked.body, "id=\"bulk-confirm\"", "</form>").unwrap();
    assert!(confirm.contains("3000 followers of “Bulk”"), "{confirm}");
    assert!(
        !asked.body.contains("id=\"bulk-state\""),
        "nothing queued before the go"
    );
    let r = c
        .post(
            &format!("{page}/bulk"),
            &[("target", &target), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status, 303);
    let start = std::time::Instant::now();
    loop {
        let p = c.get(&page).await;
        if p.body.contains("id=\"bulk-state\"") && !p.body.contains("http-equiv=\"refresh\"") {
            // Issued, skipped and why, not served and why: nobody silently left out.
            let outcome = extract(&p.body, "id=\"bulk-outcome\"", "</ul>").unwrap();
            assert!(outcome.contains("Issued: 2499"), "{outcome}");
            assert!(
                outcome.contains("Skipped: 1 (they already hold"),
                "{outcome}"
            );
            assert!(
                outcome.contains("Not served: 500 (the supply ran out)"),
                "{outcome}"
            );
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "bulk issue stuck"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let issued: i64 = patron_store::schema::coupons::table
        .filter(patron_store::schema::coupons::campaign_id.eq(camp))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(issued, 2500, "the supply holds");
    let camp_row = coupons::get(&mut app.conn(), &w.scope, camp).unwrap();
    assert_eq!(camp_row.issued_count, 2500);
    // Holdings agree with the coupons (no holding without a coupon).
    let held: i64 = patron_store::schema::coupon_holdings::table
        .filter(patron_store::schema::coupon_holdings::campaign_id.eq(camp))
        .select(patron_store::schema::coupon_holdings::held)
        .load::<i64>(&mut app.conn())
        .unwrap()
        .iter()
        .sum();
    assert_eq!(held, 2500);
}

/// A code of ours is found however the cashier types it (any spaces, dashes and case,
/// with or without the dash after its prefix) on the till, the lookup page and the API.
#[tokio::test]
async fn a_code_is_found_however_it_is_spaced_dashed_or_cased() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let mut conn = app.conn();
    let camp = coupons::create(
        &mut conn,
        &w.scope,
        &CampaignInput {
            code_prefix: "TEA".into(),
            ..input("Tea", Benefit::AmountOff { fen: 500 })
        },
    )
    .unwrap();
    coupons::set_status(&mut conn, &w.scope, camp.id, "active").unwrap();
    let tea = coupons::issue(&mut conn, &w.scope, camp.id, None, "api", "t")
        .unwrap()
        .unwrap();
    drop(conn);
    let body = tea.code.strip_prefix("TEA-").unwrap();
    let grouped = patron_domain::coupons::display(body);
    let spellings = [
        format!("TEA{body}"),
        format!("TEA {grouped}"),
        format!("TEA-{}", grouped.replace(' ', "-")),
        format!("tea-{}", body.to_lowercase()),
    ];
    let api = app.client();
    let c = app.client();
    c.login(&w.cashier_email, PASSWORD).await;
    let m = app.client();
    m.login(&w.merchant_email, PASSWORD).await;
    for typed in &spellings {
        let r = api
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/coupons/{}", urlencoding::encode(typed)),
                &w.token,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "API, {typed:?}: {}", r.body);
        assert_eq!(r.json()["coupon"]["code"], tea.code.as_str());
        let r = c
            .post(
                &format!("/t/{}/cashier/lookup", w.slug),
                &[("store_id", &w.store.to_string()), ("scan", typed)],
            )
            .await;
        assert!(
            r.body.contains("id=\"redeem-form\""),
            "till, {typed:?}: {}",
            r.body
        );
        let r = m
            .get(&format!(
                "/t/{}/coupons?code={}",
                w.slug,
                urlencoding::encode(typed)
            ))
            .await;
        assert_eq!(r.status, 200, "lookup page, {typed:?}");
        assert!(
            r.body.contains(&patron_domain::coupons::display(&tea.code)),
            "lookup page, {typed:?}: {}",
            r.body
        );
    }
}

/// A cashier's home is the till; an admin whose account has no store is told to add
/// one, with the link, instead of "you are not assigned to a store".
#[tokio::test]
async fn a_cashier_lands_on_the_till_and_an_admin_without_stores_is_sent_to_add_one() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.cashier_email, PASSWORD).await;
    let r = c.get(&format!("/t/{}", w.slug)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/t/{}/cashier", w.slug).as_str())
    );
    // A tenant of the same agency with no store yet, opened by the agency admin.
    let agency = patron_store::tenants::get(&mut app.conn(), &w.scope)
        .unwrap()
        .agency_id;
    let valid = patron_store::tenants::validate(&patron_store::tenants::TenantInput {
        name: "Empty".into(),
        slug: "empty-a".into(),
        ..Default::default()
    })
    .unwrap();
    patron_store::tenants::create(
        &mut app.conn(),
        &patron_domain::AgencyScope::system(patron_domain::AgencyId(agency)),
        &valid,
        &app.state.secrets,
    )
    .unwrap();
    let a = app.client();
    a.login(&w.admin_email, PASSWORD).await;
    let r = a.get("/t/empty-a/cashier").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let note = extract(&r.body, "id=\"till-no-store\"", "</p>").unwrap();
    assert!(note.contains("href=\"/t/empty-a/stores\""), "{note}");
    assert!(!note.contains("not assigned"), "{note}");
}

/// A campaign offers only the moves its state allows (a draft is started or dropped, not
/// paused), the store refuses the others, and the follower's own page shows every
/// condition the till checks.
#[tokio::test]
async fn campaigns_move_only_as_their_state_allows_and_followers_see_every_condition() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let mut conn = app.conn();
    let camp = coupons::create(
        &mut conn,
        &w.scope,
        &CampaignInput {
            min_spend_fen: 5000,
            stores: Some(vec![w.store]),
            ..input("Lunch", Benefit::AmountOff { fen: 800 })
        },
    )
    .unwrap();
    drop(conn);
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let show = format!("/t/{}/campaigns/{}", w.slug, camp.id);
    let page = c.get(&show).await;
    let buttons = |html: &str| -> Vec<String> {
        html.split("name=\"status\" value=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(buttons(&page.body), ["active", "ended"]);
    // Pausing a draft is refused and changes nothing.
    let r = c
        .post(&format!("{show}/status"), &[("status", "paused")])
        .await;
    assert_eq!(r.status, 303);
    let after = c.get(r.location.as_deref().unwrap()).await;
    assert!(
        after.body.contains("cannot move to that status"),
        "{}",
        after.body
    );
    let stored = || {
        coupons::get(&mut app.conn(), &w.scope, camp.id)
            .unwrap()
            .status
    };
    assert_eq!(stored(), "draft");
    c.post(&format!("{show}/status"), &[("status", "active")])
        .await;
    assert_eq!(stored(), "active");
    assert_eq!(buttons(&c.get(&show).await.body), ["paused", "ended"]);
    c.post(&format!("{show}/status"), &[("status", "ended")])
        .await;
    assert!(buttons(&c.get(&show).await.body).is_empty());
    assert!(coupons::set_status(&mut app.conn(), &w.scope, camp.id, "active").is_err());
    assert_eq!(stored(), "ended");

    // The follower's page names the minimum spend and the store of the world's coupon
    // campaign once it has them.
    let mut conn = app.conn();
    let lunch2 = coupons::create(
        &mut conn,
        &w.scope,
        &CampaignInput {
            min_spend_fen: 5000,
            stores: Some(vec![w.store]),
            ..input("Dinner", Benefit::AmountOff { fen: 800 })
        },
    )
    .unwrap();
    coupons::set_status(&mut conn, &w.scope, lunch2.id, "active").unwrap();
    coupons::issue(
        &mut conn,
        &w.scope,
        lunch2.id,
        Some(w.follower),
        "manual",
        "t",
    )
    .unwrap()
    .unwrap();
    drop(conn);
    let url =
        patron_web::ui::follower_page::link(&app.state, &w.slug, w.scope.tenant_id().0, w.follower);
    let path = url.strip_prefix(&app.base).unwrap_or(&url).to_string();
    let page = app.client().get(&path).await;
    assert!(
        page.body.contains("For purchases of ¥50.00 or more"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("Only at: {}", w.store_name)),
        "{}",
        page.body
    );
}

/// The campaign form reports every problem at once, each beside its field (and in the
/// summary for screen readers), and creates nothing.
#[tokio::test]
async fn the_campaign_form_reports_every_problem_beside_its_field() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let before = coupons::list(&mut app.conn(), &w.scope).unwrap().len();
    let r = c
        .post(
            &format!("/t/{}/campaigns", w.slug),
            &[
                ("name", ""),
                ("kind", "amount_off"),
                ("amount", "ten"),
                ("validity", "relative"),
                ("days", "0"),
                ("supply", "-3"),
                ("prefix", "no way"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for field in ["name", "amount", "days", "supply", "prefix"] {
        assert!(
            r.body.contains(&format!("id=\"err-{field}\"")),
            "{field} has its error beside it: {}",
            r.body
        );
        assert!(r
            .body
            .contains(&format!("aria-describedby=\"err-{field}\"")));
    }
    assert!(
        !r.body.contains("id=\"err-percent\""),
        "only the fields that are wrong"
    );
    assert_eq!(
        coupons::list(&mut app.conn(), &w.scope).unwrap().len(),
        before
    );
}

/// Imported codes that merely look like Patron's (a prefix and 14 of its characters) are
/// still found as typed, whether or not their last character happens to check.
#[tokio::test]
async fn imported_codes_that_look_like_ours_are_found_as_typed() {
    use diesel::prelude::*;
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let mut rng = rand::rngs::OsRng;
    let ours = patron_domain::coupons::generate(&mut rng, "TEA");
    let body = ours.strip_prefix("TEA-").unwrap();
    // Stored as another system printed them: one whose check character matches (it reads
    // as ours, canonically "TEA-…", which is not what is stored) and one that does not.
    let checks = format!(
        "TEA-{}",
        patron_domain::coupons::display(body).replace(' ', "-")
    );
    let typo_shaped = "SHOP-ABCD-EFGH-JKMN-PQ".to_string();
    for stored in [&checks, &typo_shaped] {
        let c = coupons::issue(&mut app.conn(), &w.scope, w.campaign, None, "import", "t")
            .unwrap()
            .unwrap();
        diesel::update(
            patron_store::schema::coupons::table.filter(patron_store::schema::coupons::id.eq(c.id)),
        )
        .set(patron_store::schema::coupons::code.eq(stored))
        .execute(&mut *app.conn())
        .unwrap();
        let r = app
            .client()
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/coupons/{}", urlencoding::encode(stored)),
                &w.token,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{stored}: {}", r.body);
        assert_eq!(r.json()["coupon"]["code"], stored.as_str());
    }
}

/// A campaign is edited after it was created: everything while a draft; once started, what
/// it gives and its prefix stay and its supply cannot go below what it issued; each change
/// is recorded with who made it and listed on its page.
#[tokio::test]
async fn a_campaign_is_edited_within_what_its_state_allows_and_changes_are_recorded() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let r = c
        .post(
            &format!("/t/{}/campaigns", w.slug),
            &[
                ("name", "Spring"),
                ("kind", "amount_off"),
                ("amount", "5"),
                ("validity", "relative"),
                ("days", "10"),
                ("supply", "3"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let show = r.location.unwrap();
    let id: i64 = show.rsplit('/').next().unwrap().parse().unwrap();
    let edit = c.get(&format!("{show}/edit")).await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"Spring\"") && edit.body.contains("value=\"5.00\""));
    // A draft changes anything, its benefit too.
    let fields = |name: &'static str, amount: &'static str, supply: &'static str| {
        vec![
            ("name", name),
            ("kind", "amount_off"),
            ("amount", amount),
            ("validity", "relative"),
            ("days", "10"),
            ("supply", supply),
        ]
    };
    let r = c.post(&show, &fields("Spring sale", "8", "3")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let camp = coupons::get(&mut app.conn(), &w.scope, id).unwrap();
    assert_eq!(
        (camp.name.as_str(), camp.benefit().unwrap()),
        ("Spring sale", Benefit::AmountOff { fen: 800 })
    );
    // Started and one coupon issued: the benefit stays whatever is sent, the supply cannot
    // go below one.
    coupons::set_status(&mut app.conn(), &w.scope, id, "active").unwrap();
    coupons::issue(
        &mut app.conn(),
        &w.scope,
        id,
        Some(w.follower),
        "manual",
        "t",
    )
    .unwrap()
    .unwrap();
    let edit = c.get(&format!("{show}/edit")).await;
    assert!(edit.body.contains("id=\"locked-hint\""), "{}", edit.body);
    let r = c.post(&show, &fields("Spring sale", "50", "0")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"err-supply\""), "{}", r.body);
    let r = c.post(&show, &fields("Spring deal", "50", "5")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let camp = coupons::get(&mut app.conn(), &w.scope, id).unwrap();
    assert_eq!(
        camp.benefit().unwrap(),
        Benefit::AmountOff { fen: 800 },
        "locked once started"
    );
    assert_eq!(
        (camp.name.as_str(), camp.total_supply),
        ("Spring deal", Some(5))
    );
    // The changes, newest first, with who made them.
    let page = c.get(&show).await;
    let list = extract(&page.body, "id=\"campaign-changes\"", "</ul>").unwrap();
    assert_eq!(list.matches("<li>").count(), 2, "{list}");
    assert!(list.contains("marketer a"), "{list}");
    assert!(
        list.contains("Name") && list.contains("Total supply"),
        "{list}"
    );
    // The store refuses a started campaign's new benefit, whoever calls it.
    let mut changed = CampaignInput {
        validity: Validity::Relative { days: 10 },
        total_supply: Some(5),
        ..input("Spring deal", Benefit::AmountOff { fen: 100 })
    };
    assert!(coupons::update(&mut app.conn(), &w.scope, id, &changed, "t").is_err());
    changed.benefit = Benefit::AmountOff { fen: 800 };
    changed.total_supply = Some(0);
    assert!(coupons::update(&mut app.conn(), &w.scope, id, &changed, "t").is_err());
}

/// A busy till lists the latest of the day's redemptions and says how many there were.
#[tokio::test]
async fn a_busy_till_lists_the_latest_and_counts_the_day() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let camp = campaign(&app, &w, None, None);
    let mut conn = app.conn();
    for i in 0..25 {
        let code = coupons::issue(&mut conn, &w.scope, camp, None, "api", "t")
            .unwrap()
            .unwrap()
            .code;
        let till = Till {
            user_id: Some(w.cashier_id),
            user_name: "cashier a",
            store_id: w.store,
            device: "test",
        };
        let r = coupons::redeem(
            &mut conn,
            &w.scope,
            &code,
            &till,
            Some(&format!("t{i}")),
            None,
            None,
        );
        assert!(matches!(r, Ok(Redeemed::Ok { .. })), "{r:?}");
    }
    drop(conn);
    let c = app.client();
    c.login(&w.cashier_email, PASSWORD).await;
    let page = c.get(&format!("/t/{}/cashier", w.slug)).await;
    assert_eq!(page.status, 200);
    let count = extract(&page.body, "id=\"till-today-count\"", "</p>").unwrap();
    assert!(count.contains("25 today"), "{count}");
    let today = extract(&page.body, "id=\"till-today\"", "</table>").unwrap();
    assert_eq!(
        today.matches("<tr>").count(),
        1 + 20,
        "the header and the latest 20: {today}"
    );
}
