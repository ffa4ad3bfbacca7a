//! Points and stamps: the append-only ledger (oldest expiry first, once-only keys, the
//! `sum(points) = sum(remaining)` invariant, expiry), races on both backends, stamp cards
//! that turn into coupons, and the webhook earning points, issuing coupons and filling
//! `{points}`, `{balance}` and `{link}` in its replies.

use crate::support::*;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use patron_domain::coupons::{Benefit, Validity};
use patron_domain::loyalty::Program;
use patron_domain::replies::Trigger;
use patron_domain::TenantScope;
use patron_store::coupons::{self, CampaignInput, NotIssued};
use patron_store::loyalty::{self, Kind, Post, Posted};
use patron_store::stamps::{self, By, CardInput, Stamped};
use patron_store::{DbConn, StoreError};
use std::sync::{Arc, Barrier};

fn post_of(kind: Kind, points: i64, key: Option<&str>, reason: &str) -> Post<'static> {
    // Leaked: a handful of short strings per test run, so posts can be built in one line.
    let key: Option<&'static str> = key.map(|k| &*Box::leak(k.to_string().into_boxed_str()));
    let reason: &'static str = Box::leak(reason.to_string().into_boxed_str());
    Post {
        kind,
        points,
        source: "manual",
        source_key: key,
        reason,
        user: None,
        expires_at: None,
    }
}

fn earn(points: i64, expires_at: Option<NaiveDateTime>) -> Post<'static> {
    Post {
        expires_at,
        ..post_of(Kind::Earn, points, None, "")
    }
}

/// The ledger's invariant; returns the (equal) sum.
fn sums_equal(c: &mut DbConn, scope: &TenantScope, follower: i64, step: &str) -> i64 {
    let (p, r) = loyalty::sums(c, scope, follower).unwrap();
    assert_eq!(p, r, "sum(points) = sum(remaining) after {step}");
    p
}

fn done(p: Posted) -> (i64, i64) {
    match p {
        Posted::Done { entry_id, balance } => (entry_id, balance),
        other => panic!("expected Done, got {other:?}"),
    }
}

fn entry(c: &mut DbConn, scope: &TenantScope, follower: i64, id: i64) -> loyalty::Entry {
    loyalty::entries(c, scope, follower, 1000)
        .unwrap()
        .into_iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("entry {id} is listed"))
}

fn invalid(r: Result<Posted, StoreError>) -> (&'static str, &'static str) {
    match r {
        Err(StoreError::Invalid(i)) => (i.field, i.code),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn campaign(c: &mut DbConn, scope: &TenantScope, name: &str) -> i64 {
    let camp = coupons::create(
        c,
        scope,
        &CampaignInput {
            name: name.into(),
            benefit: Benefit::Gift {
                item: "Coffee".into(),
            },
            min_spend_fen: 0,
            validity: Validity::Relative { days: 30 },
            total_supply: None,
            per_follower_limit: None,
            stores: None,
            terms: String::new(),
            code_prefix: String::new(),
            accepts_short_codes: false,
        },
    )
    .unwrap();
    coupons::set_status(c, scope, camp.id, "active").unwrap();
    camp.id
}

#[test]
fn the_ledger_earns_spends_adjusts_and_expires_oldest_first() {
    let app = TestApp::spawn();
    let a = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let (s, f) = (&a.scope, a.follower);
    let mut c = app.conn();
    let c = &mut *c;
    let t0 = patron_store::now();
    assert_eq!(loyalty::balance(c, s, f).unwrap(), 0);
    assert_eq!(loyalty::sums(c, s, f).unwrap(), (0, 0));

    // Three credits: the middle one expires first, the last never.
    let (late, bal) =
        done(loyalty::post(c, s, f, &earn(30, Some(t0 + Duration::days(10)))).unwrap());
    assert_eq!(bal, 30);
    sums_equal(c, s, f, "earn 30");
    let (soon, bal) =
        done(loyalty::post(c, s, f, &earn(20, Some(t0 + Duration::days(2)))).unwrap());
    assert_eq!(bal, 50);
    sums_equal(c, s, f, "earn 20");
    let (never, bal) = done(loyalty::post(c, s, f, &earn(50, None)).unwrap());
    assert_eq!(bal, 100);
    assert_eq!(sums_equal(c, s, f, "earn 50"), 100);

    // A spend takes the soonest-expiring credit first, then the next.
    let (spend, bal) = done(loyalty::post(c, s, f, &post_of(Kind::Spend, 25, None, "")).unwrap());
    assert_eq!(bal, 75);
    assert_eq!(sums_equal(c, s, f, "spend 25"), 75);
    assert_eq!(
        entry(c, s, f, soon).remaining,
        0,
        "the soonest credit is used up first"
    );
    assert_eq!(entry(c, s, f, late).remaining, 25, "then the later one");
    assert_eq!(
        entry(c, s, f, never).remaining,
        50,
        "the never-expiring one last"
    );
    let e = entry(c, s, f, spend);
    assert_eq!((e.kind.as_str(), e.points, e.remaining), ("spend", -25, 0));
    assert_eq!(e.expires_at, None);

    // More than the balance: refused, and no row anywhere changes.
    let before = row_counts(c);
    let n_before = loyalty::entries(c, s, f, 1000).unwrap().len();
    assert_eq!(
        loyalty::post(c, s, f, &post_of(Kind::Spend, 76, None, "")).unwrap(),
        Posted::Insufficient { balance: 75 }
    );
    assert_eq!(
        loyalty::post(c, s, f, &post_of(Kind::Adjust, -76, None, "too much")).unwrap(),
        Posted::Insufficient { balance: 75 }
    );
    assert_eq!(loyalty::entries(c, s, f, 1000).unwrap().len(), n_before);
    assert_eq!(row_counts(c), before);
    assert_eq!(
        entry(c, s, f, late).remaining,
        25,
        "an Insufficient debit consumed nothing"
    );
    sums_equal(c, s, f, "refused debits");

    // Adjustments go both ways and need a reason; zero and negative amounts are refused.
    assert_eq!(
        invalid(loyalty::post(c, s, f, &post_of(Kind::Adjust, 15, None, ""))),
        ("reason", "required")
    );
    assert_eq!(
        invalid(loyalty::post(
            c,
            s,
            f,
            &post_of(Kind::Adjust, -5, None, "   ")
        )),
        ("reason", "required")
    );
    assert_eq!(
        invalid(loyalty::post(c, s, f, &post_of(Kind::Earn, 0, None, ""))).1,
        "invalid_points"
    );
    assert_eq!(
        invalid(loyalty::post(c, s, f, &post_of(Kind::Spend, -5, None, ""))).1,
        "invalid_points"
    );
    assert_eq!(
        invalid(loyalty::post(
            c,
            s,
            f,
            &post_of(Kind::Adjust, 1, None, &"x".repeat(201))
        )),
        ("reason", "too_long")
    );
    assert_eq!(
        invalid(loyalty::post(
            c,
            s,
            f,
            &post_of(Kind::Earn, 1_000_001, None, "")
        ))
        .1,
        "invalid_points"
    );
    assert_eq!(loyalty::entries(c, s, f, 1000).unwrap().len(), n_before);
    let (plus, bal) =
        done(loyalty::post(c, s, f, &post_of(Kind::Adjust, 15, None, "goodwill")).unwrap());
    assert_eq!(bal, 90);
    let e = entry(c, s, f, plus);
    assert_eq!((e.kind.as_str(), e.points, e.remaining), ("adjust", 15, 15));
    assert_eq!(e.reason, "goodwill");
    let (minus, bal) =
        done(loyalty::post(c, s, f, &post_of(Kind::Adjust, -5, None, " correction ")).unwrap());
    assert_eq!(bal, 85);
    let e = entry(c, s, f, minus);
    assert_eq!((e.kind.as_str(), e.points, e.remaining), ("adjust", -5, 0));
    assert_eq!(e.reason, "correction", "the reason is stored trimmed");
    assert_eq!(
        entry(c, s, f, late).remaining,
        20,
        "a negative adjust consumes like a spend"
    );
    assert_eq!(sums_equal(c, s, f, "adjustments"), 85);

    // A key posts once: a second post with it changes nothing, whatever its amount.
    let (_, bal) =
        done(loyalty::post(c, s, f, &post_of(Kind::Earn, 7, Some("order-1"), "")).unwrap());
    assert_eq!(bal, 92);
    let n = loyalty::entries(c, s, f, 1000).unwrap().len();
    assert_eq!(
        loyalty::post(c, s, f, &post_of(Kind::Earn, 100, Some("order-1"), "")).unwrap(),
        Posted::Duplicate { balance: 92 }
    );
    let (_, bal) =
        done(loyalty::post(c, s, f, &post_of(Kind::Spend, 2, Some("redeem-1"), "")).unwrap());
    assert_eq!(bal, 90);
    assert_eq!(
        loyalty::post(c, s, f, &post_of(Kind::Spend, 2, Some("redeem-1"), "")).unwrap(),
        Posted::Duplicate { balance: 90 }
    );
    assert_eq!(loyalty::entries(c, s, f, 1000).unwrap().len(), n + 1);
    assert_eq!(sums_equal(c, s, f, "duplicates"), 90);
    assert_eq!(entry(c, s, f, late).remaining, 18);

    // The balance leaves out credits past their expiry, written off or not.
    assert_eq!(
        loyalty::balance_at(c, s, f, t0 + Duration::days(5)).unwrap(),
        90
    );
    assert_eq!(
        loyalty::balance_at(c, s, f, t0 + Duration::days(11)).unwrap(),
        72,
        "the 18 left of the 10-day credit are gone by day 11"
    );
    // Nothing with points left is due at day 5 (the 2-day credit was spent).
    assert_eq!(
        loyalty::expire_due(c, t0 + Duration::days(5), 100).unwrap(),
        0
    );
    assert_eq!(loyalty::entries(c, s, f, 1000).unwrap().len(), n + 1);
    assert_eq!(
        loyalty::expire_due(c, t0 + Duration::days(11), 100).unwrap(),
        1
    );
    let newest = &loyalty::entries(c, s, f, 1).unwrap()[0];
    assert_eq!(
        (newest.kind.as_str(), newest.points, newest.source.as_str()),
        ("expire", -18, "expiry")
    );
    assert_eq!(entry(c, s, f, late).remaining, 0);
    assert_eq!(sums_equal(c, s, f, "expire_due"), 72);
    assert_eq!(loyalty::balance(c, s, f).unwrap(), 72);
    assert_eq!(
        loyalty::expire_due(c, t0 + Duration::days(11), 100).unwrap(),
        0,
        "written off once"
    );

    // A credit already past its expiry never counts, and housekeeping writes it off.
    let (past, bal) =
        done(loyalty::post(c, s, f, &earn(5, Some(t0 - Duration::minutes(1)))).unwrap());
    assert_eq!(bal, 72, "an expired credit is not in the balance");
    assert_eq!(loyalty::balance(c, s, f).unwrap(), 72);
    assert_eq!(sums_equal(c, s, f, "an expired earn"), 77);
    let (_, _, expired) = patron_jobs::housekeeping(&app.state.pool).unwrap();
    assert_eq!(expired, 1, "housekeeping wrote off the expired credit");
    assert_eq!(entry(c, s, f, past).remaining, 0);
    assert_eq!(sums_equal(c, s, f, "housekeeping"), 72);
    assert_eq!(loyalty::balance(c, s, f).unwrap(), 72);
    // A post writes off what has expired before it looks at the balance.
    let (past2, _) =
        done(loyalty::post(c, s, f, &earn(4, Some(t0 - Duration::minutes(1)))).unwrap());
    assert_eq!(
        loyalty::post(c, s, f, &post_of(Kind::Spend, 73, None, "")).unwrap(),
        Posted::Insufficient { balance: 72 },
        "expired points cannot be spent"
    );
    assert_eq!(entry(c, s, f, past2).remaining, 0);
    assert_eq!(sums_equal(c, s, f, "a refused spend after expiry"), 72);
    let written_off: Vec<i64> = loyalty::entries(c, s, f, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "expire")
        .map(|e| e.points)
        .collect();
    assert_eq!(written_off, vec![-4, -5, -18]);

    // Tenant B's follower does not exist through tenant A's scope.
    let theirs = loyalty::post(c, &b.scope, b.follower, &earn(3, None)).unwrap();
    assert_eq!(done(theirs).1, 3);
    let before = row_counts(c);
    assert_store_error_is_not_found(loyalty::balance(c, s, b.follower));
    assert_store_error_is_not_found(loyalty::post(c, s, b.follower, &earn(10, None)));
    assert_store_error_is_not_found(loyalty::post(
        c,
        s,
        b.follower,
        &post_of(Kind::Spend, 1, None, ""),
    ));
    assert!(loyalty::entries(c, s, b.follower, 100).unwrap().is_empty());
    assert_eq!(loyalty::sums(c, s, b.follower).unwrap(), (0, 0));
    assert_eq!(row_counts(c), before);
    assert_eq!(loyalty::balance(c, &b.scope, b.follower).unwrap(), 3);
    assert_eq!(loyalty::balance(c, s, f).unwrap(), 72);
}

/// Runs `n` threads that start together, each with its own connection of the app's pool.
fn race<T: Send + 'static>(
    app: &TestApp,
    n: usize,
    f: impl Fn(usize, &mut DbConn) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (pool, barrier, f) = (app.state.pool.clone(), barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut c = pool.get().unwrap();
                f(i, &mut c)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_spends_never_overdraw_and_a_key_awards_once() {
    // A pool large enough for most of the crowd to hold a connection at once.
    let app = TestApp::spawn_with(false, |s| s.db_pool_size = 16);
    let w = world(&mut app.conn(), "a");
    let (s, f) = (w.scope.clone(), w.follower);
    {
        let mut c = app.conn();
        let soon = patron_store::now() + Duration::days(3);
        done(loyalty::post(&mut c, &s, f, &earn(60, Some(soon))).unwrap());
        done(loyalty::post(&mut c, &s, f, &earn(40, None)).unwrap());
    }
    let scope = s.clone();
    let results = race(&app, 20, move |i, c| {
        let key = format!("till-{i}");
        loyalty::post(
            c,
            &scope,
            f,
            &Post {
                kind: Kind::Spend,
                points: 10,
                source: "till",
                source_key: Some(&key),
                reason: "",
                user: None,
                expires_at: None,
            },
        )
        .unwrap()
    });
    let mut after: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Posted::Done { balance, .. } => Some(*balance),
            _ => None,
        })
        .collect();
    after.sort();
    assert_eq!(
        after,
        (0..10).map(|k| k * 10).collect::<Vec<_>>(),
        "ten spends, each seeing the one before: {results:?}"
    );
    assert!(
        results
            .iter()
            .filter(|r| !matches!(r, Posted::Done { .. }))
            .all(|r| r == &Posted::Insufficient { balance: 0 }),
        "the other ten are refused on an empty balance: {results:?}"
    );
    let mut c = app.conn();
    assert_eq!(loyalty::balance(&mut c, &s, f).unwrap(), 0);
    assert_eq!(loyalty::sums(&mut c, &s, f).unwrap(), (0, 0));
    let entries = loyalty::entries(&mut c, &s, f, 1000).unwrap();
    assert_eq!(entries.len(), 12, "two credits and ten spends");
    assert!(entries.iter().all(|e| e.remaining == 0));
    drop(c);

    // Twenty awards with one key at once: one is posted.
    let scope = s.clone();
    let results = race(&app, 20, move |_, c| {
        loyalty::post(
            c,
            &scope,
            f,
            &Post {
                kind: Kind::Earn,
                points: 5,
                source: "api",
                source_key: Some("bonus-1"),
                reason: "",
                user: None,
                expires_at: None,
            },
        )
        .unwrap()
    });
    let wins = results
        .iter()
        .filter(|r| matches!(r, Posted::Done { balance: 5, .. }))
        .count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| !matches!(r, Posted::Done { .. }))
            .all(|r| r == &Posted::Duplicate { balance: 5 }),
        "{results:?}"
    );
    let mut c = app.conn();
    assert_eq!(loyalty::balance(&mut c, &s, f).unwrap(), 5);
    assert_eq!(loyalty::sums(&mut c, &s, f).unwrap(), (5, 5));
    assert_eq!(loyalty::entries(&mut c, &s, f, 1000).unwrap().len(), 13);
}

fn stamp(c: &mut DbConn, s: &TenantScope, card: i64, f: i64, key: Option<&str>) -> Stamped {
    stamps::stamp(c, s, card, f, "manual", key, By::default()).unwrap()
}

fn added(st: Stamped) -> (i64, Option<coupons::Coupon>, Option<NotIssued>) {
    match st {
        Stamped::Added {
            stamps,
            reward,
            reward_refused,
            ..
        } => (stamps, reward.map(|c| *c), reward_refused),
        other => panic!("expected Added, got {other:?}"),
    }
}

/// The follower's stamps on `card` as `progress` lists them (`None`: not listed).
fn on_card(c: &mut DbConn, s: &TenantScope, f: i64, card: i64) -> Option<i64> {
    stamps::progress(c, s, f)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k.id == card)
        .map(|(_, n)| n)
}

fn stamp_coupons(c: &mut DbConn, s: &TenantScope, f: i64, card: i64) -> Vec<coupons::Coupon> {
    coupons::of_follower(c, s, f)
        .unwrap()
        .into_iter()
        .filter(|cp| cp.channel == format!("stamps:{card}"))
        .collect()
}

#[test]
fn a_full_stamp_card_issues_its_reward_and_a_paused_campaign_keeps_the_stamps() {
    let app = TestApp::spawn();
    let a = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let (s, f) = (&a.scope, a.follower);
    let mut c = app.conn();
    let c = &mut *c;
    let reward = campaign(c, s, "Free coffee");
    let input = CardInput {
        name: "Coffee card".into(),
        stamps_required: 3,
        reward_campaign_id: reward,
        stamp_on_checkin: false,
        active: true,
    };
    let card = stamps::create(c, s, &input).unwrap().id;
    // A reward must be one of the tenant's own campaigns.
    let foreign = stamps::create(
        c,
        s,
        &CardInput {
            reward_campaign_id: b.campaign,
            ..input.clone()
        },
    );
    match foreign {
        Err(StoreError::Invalid(i)) => {
            assert_eq!((i.field, i.code), ("reward_campaign_id", "unknown"))
        }
        other => panic!("tenant B's campaign as a reward: {other:?}"),
    }

    let (n, r, refused) = added(stamp(c, s, card, f, None));
    assert_eq!((n, r.is_none(), refused), (1, true, None));
    let (n, r, _) = added(stamp(c, s, card, f, Some("visit-2")));
    assert_eq!((n, r.is_none()), (2, true));
    assert!(
        matches!(
            stamp(c, s, card, f, Some("visit-2")),
            Stamped::Duplicate { stamps: 2 }
        ),
        "a key stamps once"
    );
    assert!(stamp_coupons(c, s, f, card).is_empty());

    // The third stamp fills the card: a coupon of the reward campaign, and back to zero.
    let (n, r, refused) = added(stamp(c, s, card, f, None));
    let coupon = r.expect("the full card issued its reward");
    assert_eq!((n, refused), (0, None));
    assert_eq!(coupon.channel, format!("stamps:{card}"));
    assert_eq!(coupon.campaign_id, reward);
    assert_eq!(coupon.follower_id, Some(f));
    assert_eq!(coupon.status, "issued");
    assert_eq!(on_card(c, s, f, card), Some(0), "the card is back to zero");
    let events = stamps::events_of(c, s, f, 10).unwrap();
    assert_eq!(events[0].source, "reward");
    assert_eq!(events[0].stamps, -3);
    assert_eq!(events[0].coupon_id, Some(coupon.id));
    assert_eq!(events.len(), 4, "three stamps and a reward");
    assert_eq!(stamp_coupons(c, s, f, card).len(), 1);

    // Paused: the card fills, nothing is issued, the stamps stay.
    coupons::set_status(c, s, reward, "paused").unwrap();
    added(stamp(c, s, card, f, None));
    added(stamp(c, s, card, f, None));
    let (n, r, refused) = added(stamp(c, s, card, f, None));
    assert_eq!(
        (n, r.is_none(), refused),
        (3, true, Some(NotIssued::NotActive))
    );
    assert_eq!(on_card(c, s, f, card).unwrap(), 3);
    assert_eq!(stamp_coupons(c, s, f, card).len(), 1);
    assert_eq!(coupons::get(c, s, reward).unwrap().issued_count, 1);

    // Active again: the next stamp rewards, keeping what is over.
    coupons::set_status(c, s, reward, "active").unwrap();
    let (n, r, refused) = added(stamp(c, s, card, f, None));
    assert_eq!((n, refused), (1, None));
    let second = r.expect("the next stamp after reactivation rewards");
    assert_ne!(second.id, coupon.id);
    assert_eq!(on_card(c, s, f, card).unwrap(), 1);
    assert_eq!(stamp_coupons(c, s, f, card).len(), 2);

    // A switched-off card takes no stamps.
    stamps::update(
        c,
        s,
        card,
        &CardInput {
            active: false,
            ..input.clone()
        },
    )
    .unwrap();
    assert!(matches!(stamp(c, s, card, f, None), Stamped::Inactive));
    assert_eq!(on_card(c, s, f, card).unwrap(), 1);

    // Tenant B's follower, and A's card through B's scope, are not found; a rule or a QR
    // code cannot be given another tenant's campaign.
    let before = row_counts(c);
    assert_store_error_is_not_found(patron_store::reply_rules::set_campaign(
        c,
        s,
        a.rule,
        Some(b.campaign),
    ));
    assert_store_error_is_not_found(patron_store::reply_rules::set_campaign(
        c,
        s,
        b.rule,
        Some(a.campaign),
    ));
    assert_store_error_is_not_found(patron_store::qr_codes::set_campaign(
        c,
        s,
        a.qr,
        Some(b.campaign),
    ));
    assert_store_error_is_not_found(patron_store::qr_codes::set_campaign(
        c,
        s,
        b.qr,
        Some(a.campaign),
    ));
    assert_store_error_is_not_found(stamps::stamp(
        c,
        s,
        card,
        b.follower,
        "manual",
        None,
        By::default(),
    ));
    assert_store_error_is_not_found(stamps::stamp(
        c,
        &b.scope,
        card,
        b.follower,
        "manual",
        None,
        By::default(),
    ));
    assert_store_error_is_not_found(stamps::stamp(
        c,
        s,
        b.card,
        f,
        "manual",
        None,
        By::default(),
    ));
    assert_store_error_is_not_found(stamps::get(c, s, b.card));
    assert_eq!(row_counts(c), before);
}

// ---- The webhook ----------------------------------------------------------------------

const TOKEN: &str = "loyaltytoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx2c2769f8efd9abc2";
const ORIGINAL_ID: &str = "gh_10f6c3c3ac5a";
const SLUG: &str = "lucky-cat";
const OPENID: &str = "o_loyal_follower";

fn wechat_tenant(app: &TestApp) -> TenantScope {
    let mut c = app.conn();
    let agency = patron_store::tenants::create_agency(&mut c, "Loyalty agency").unwrap();
    let valid = patron_store::tenants::validate(&patron_store::tenants::TenantInput {
        name: "Lucky Cat".into(),
        slug: SLUG.into(),
        wx_appid: APPID.into(),
        wx_original_id: ORIGINAL_ID.into(),
        wx_token: TOKEN.into(),
        wx_aes_key: AES_KEY.into(),
        // UTC+14 all year: the local day differs from the UTC day 14 hours out of 24.
        time_zone: "Pacific/Kiritimati".into(),
        // The tests push plaintext.
        wx_message_mode: "plain".into(),
        ..Default::default()
    })
    .unwrap();
    let t = patron_store::tenants::create(
        &mut c,
        &patron_domain::AgencyScope::system(patron_domain::AgencyId(agency.id)),
        &valid,
        &app.state.secrets,
    )
    .unwrap();
    TenantScope::system(t.tenant_ref())
}

/// Posts a plaintext push signed as WeChat signs it; returns the response body.
async fn push_to(base: &str, inner: &str, create_time: i64) -> String {
    push_from(base, OPENID, inner, create_time).await
}

/// [`push_to`] from any follower.
async fn push_from(base: &str, openid: &str, inner: &str, create_time: i64) -> String {
    let (ts, nonce) = (&wx_timestamp(), "486452656");
    let sig = patron_wechat::signature::url_signature(TOKEN, ts, nonce);
    let body = format!(
        "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>\
         <FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime>{inner}</xml>"
    );
    let r = reqwest::Client::new()
        .post(format!(
            "{base}/wx/{SLUG}?signature={sig}&timestamp={ts}&nonce={nonce}"
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}

/// Sends text pushes (openid, MsgId, CreateTime) all at once, so that the ingest writer
/// takes several in one batch; returns (MsgId, reply text) in the order given.
async fn texts_at_once(
    base: &str,
    pushes: &[(String, u64, i64)],
    text: &str,
) -> Vec<(u64, String)> {
    let tasks: Vec<_> = pushes
        .iter()
        .map(|(openid, msg_id, at)| {
            let (base, openid, xml) = (base.to_string(), openid.clone(), text_xml(*msg_id, text));
            let (msg_id, at) = (*msg_id, *at);
            tokio::spawn(
                async move { (msg_id, content(&push_from(&base, &openid, &xml, at).await)) },
            )
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

async fn push(app: &TestApp, inner: &str, create_time: i64) -> String {
    push_to(&app.base, inner, create_time).await
}

fn text_xml(msg_id: u64, content: &str) -> String {
    format!(
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
    )
}

async fn text(app: &TestApp, msg_id: u64, content: &str) -> String {
    push(app, &text_xml(msg_id, content), 1714037059 + msg_id as i64).await
}

async fn event(app: &TestApp, event: &str, key: Option<&str>, create_time: i64) -> String {
    let key = key
        .map(|k| format!("<EventKey><![CDATA[{k}]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"))
        .unwrap_or_default();
    push(
        app,
        &format!("<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{key}"),
        create_time,
    )
    .await
}

/// Today in the tenant's time zone (Kiritimati, UTC+14, no daylight saving).
fn local_day() -> chrono::NaiveDate {
    (chrono::Utc::now() + Duration::hours(14)).date_naive()
}

/// The text of a passive text reply.
fn content(xml: &str) -> String {
    extract(xml, "<Content><![CDATA[", "]]></Content>")
        .unwrap_or_else(|| panic!("a text reply: {xml}"))
}

#[tokio::test]
async fn the_webhook_awards_points_stamps_and_coupons_and_fills_the_reply() {
    let app = TestApp::spawn();
    let s = wechat_tenant(&app);
    // Everything is set up before the first push (the endpoint caches rules and program).
    let (rule, card, reward, qr_campaign) = {
        let mut c = app.conn();
        let c = &mut *c;
        loyalty::save_program(
            c,
            &s,
            &Program {
                subscribe_points: 50,
                checkin_keyword: "签到".into(),
                checkin_points: 10,
                checkin_reply: "+{points} → {balance}".into(),
                checkin_again_reply: "Already checked in today, balance {balance}".into(),
                points_per_yuan: 0,
                expiry_days: Some(365),
            },
        )
        .unwrap();
        assert_eq!(loyalty::program(c, &s).unwrap().unwrap().checkin_points, 10);
        patron_store::reply_rules::create(
            c,
            &s,
            &Trigger::Subscribe(None),
            "Welcome +{points}, balance {balance}",
            0,
        )
        .unwrap();
        patron_store::reply_rules::create(c, &s, &Trigger::Default, "Thanks!", 0).unwrap();
        let gift = campaign(c, &s, "Welcome gift");
        let rule = patron_store::reply_rules::create(
            c,
            &s,
            &Trigger::KeywordExact("gift".into()),
            "Your gift: {link}",
            0,
        )
        .unwrap();
        patron_store::reply_rules::set_campaign(c, &s, rule.id, Some(gift)).unwrap();
        let reward = campaign(c, &s, "Check-in reward");
        let card = stamps::create(
            c,
            &s,
            &CardInput {
                name: "Check-in card".into(),
                stamps_required: 2,
                reward_campaign_id: reward,
                stamp_on_checkin: true,
                active: true,
            },
        )
        .unwrap();
        let qr_campaign = campaign(c, &s, "Table card");
        let qr = patron_store::qr_codes::insert(
            c,
            &s,
            &patron_store::qr_codes::Created {
                scene: "table-9",
                label: "Table 9",
                permanent: true,
                ticket: "TICKET",
                url: "http://weixin.qq.com/q/table-9",
                expires_at: None,
                tag_id: None,
            },
        )
        .unwrap();
        let qr = patron_store::qr_codes::set_campaign(c, &s, qr.id, Some(qr_campaign)).unwrap();
        assert_eq!(qr.campaign_id, Some(qr_campaign));
        (rule.id, card.id, reward, qr_campaign)
    };

    // The check-in word: points, the filled reply, a stamp.
    let day_before = local_day();
    let first = text(&app, 1, "签到").await;
    let day_after = local_day();
    assert_eq!(content(&first), "+10 → 10", "{first}");
    let follower: i64 = patron_store::schema::followers::table
        .filter(patron_store::schema::followers::tenant_id.eq(s.tenant_id().0))
        .filter(patron_store::schema::followers::openid.eq(OPENID))
        .select(patron_store::schema::followers::id)
        .first(&mut *app.conn())
        .unwrap();
    let ledger = |app: &TestApp| loyalty::entries(&mut app.conn(), &s, follower, 100).unwrap();
    let e = ledger(&app);
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].kind.as_str(), e[0].points, e[0].source.as_str()),
        ("earn", 10, "checkin")
    );
    let key = e[0].source_key.clone().unwrap();
    assert!(
        key == format!("checkin:{day_before}") || key == format!("checkin:{day_after}"),
        "once per day of the tenant's time zone: {key}, {day_before}"
    );
    let expires = e[0].expires_at.expect("the program's points expire");
    let days = (expires - e[0].at).num_days();
    assert!(
        (364..=365).contains(&days),
        "a year of validity: {days} days"
    );
    let stamps_now = |app: &TestApp| {
        stamps::progress(&mut app.conn(), &s, follower)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k.id == card)
            .map(|(_, n)| n)
            .unwrap_or(0)
    };
    assert_eq!(stamps_now(&app), 1, "a check-in stamps the check-in card");

    // WeChat's retry of the same message: the very same reply, nothing posted again.
    let retry = text(&app, 1, "签到").await;
    assert_eq!(retry, first);
    assert_eq!(ledger(&app).len(), 1);
    assert_eq!(stamps_now(&app), 1);

    // Another check-in the same day: the other reply, no points, no stamp.
    let again = text(&app, 2, "签到").await;
    assert_eq!(
        content(&again),
        "Already checked in today, balance 10",
        "{again}"
    );
    assert_eq!(ledger(&app).len(), 1);
    assert_eq!(stamps_now(&app), 1);
    assert_eq!(loyalty::balance(&mut app.conn(), &s, follower).unwrap(), 10);
    assert!(coupons::of_follower(&mut app.conn(), &s, follower)
        .unwrap()
        .iter()
        .all(|cp| cp.campaign_id != reward));

    // The first follow earns its points, once ever.
    let welcome = event(&app, "subscribe", None, 1714040000).await;
    assert_eq!(content(&welcome), "Welcome +50, balance 60", "{welcome}");
    let welcome2 = event(&app, "subscribe", None, 1714040100).await;
    assert_eq!(content(&welcome2), "Welcome +0, balance 60", "{welcome2}");
    let e = ledger(&app);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!((e[0].points, e[0].source.as_str()), (50, "subscribe"));
    assert_eq!(loyalty::balance(&mut app.conn(), &s, follower).unwrap(), 60);

    // A rule with a campaign issues its coupon; `{link}` opens the follower's page.
    let gift = text(&app, 3, "gift").await;
    let said = content(&gift);
    let prefix = format!("Your gift: {}/m/{SLUG}/", app.base);
    assert!(said.starts_with(&prefix), "{said}");
    let mine: Vec<coupons::Coupon> = coupons::of_follower(&mut app.conn(), &s, follower)
        .unwrap()
        .into_iter()
        .filter(|cp| cp.channel == format!("rule:{rule}"))
        .collect();
    assert_eq!(mine.len(), 1, "one coupon through the rule");
    let link = said.strip_prefix("Your gift: ").unwrap();
    let path = link.strip_prefix(&app.base).unwrap();
    let page = app.client().get(path).await;
    assert_eq!(page.status, 200, "{link}: {}", page.body);
    assert!(
        page.body.contains(&format!("id=\"coupon-{}\"", mine[0].id)),
        "the page shows the rule's coupon"
    );
    // A retry of the rule's push issues nothing more.
    assert_eq!(text(&app, 3, "gift").await, gift);
    assert_eq!(
        coupons::of_follower(&mut app.conn(), &s, follower)
            .unwrap()
            .iter()
            .filter(|cp| cp.channel == format!("rule:{rule}"))
            .count(),
        1
    );
    // A forged link opens nothing.
    let forged = path.replacen(&format!("/{follower}."), &format!("/{}.", follower + 1), 1);
    assert_ne!(forged, path);
    assert_eq!(app.client().get(&forged).await.status, 404);

    // A scan of a QR code with a campaign issues its coupon.
    event(&app, "SCAN", Some("table-9"), 1714040200).await;
    let scanned: Vec<coupons::Coupon> = coupons::of_follower(&mut app.conn(), &s, follower)
        .unwrap()
        .into_iter()
        .filter(|cp| cp.campaign_id == qr_campaign)
        .collect();
    assert_eq!(scanned.len(), 1);
    assert_eq!(scanned[0].channel, "qr:table-9");

    let (p, r) = loyalty::sums(&mut app.conn(), &s, follower).unwrap();
    assert_eq!((p, r), (60, 60));
}

#[tokio::test]
async fn concurrent_check_ins_earn_once_and_each_retry_gets_its_first_answer() {
    let app = TestApp::spawn();
    let s = wechat_tenant(&app);
    loyalty::save_program(
        &mut app.conn(),
        &s,
        &Program {
            subscribe_points: 0,
            checkin_keyword: "Check In".into(),
            checkin_points: 10,
            checkin_reply: "+{points} → {balance}".into(),
            checkin_again_reply: "Already, balance {balance}".into(),
            points_per_yuan: 0,
            expiry_days: None,
        },
    )
    .unwrap();
    // Twenty check-ins at once (ten messages, each delivered twice), so that the ingest
    // writer takes several in one batch.
    let checkins: Vec<(String, u64, i64)> = (0..20u64)
        .map(|i| {
            (
                OPENID.to_string(),
                100 + i / 2,
                1714037059 + (100 + i / 2) as i64,
            )
        })
        .collect();
    let answers = texts_at_once(&app.base, &checkins, " check in ").await;
    let earned: Vec<&(u64, String)> = answers.iter().filter(|(_, a)| a == "+10 → 10").collect();
    assert_eq!(
        earned.len(),
        2,
        "one message earns, and both its deliveries say so: {answers:?}"
    );
    assert_eq!(earned[0].0, earned[1].0);
    assert!(
        answers
            .iter()
            .filter(|(id, _)| *id != earned[0].0)
            .all(|(_, a)| a == "Already, balance 10"),
        "{answers:?}"
    );
    let follower: i64 = patron_store::schema::followers::table
        .filter(patron_store::schema::followers::tenant_id.eq(s.tenant_id().0))
        .filter(patron_store::schema::followers::openid.eq(OPENID))
        .select(patron_store::schema::followers::id)
        .first(&mut *app.conn())
        .unwrap();
    let mut c = app.conn();
    assert_eq!(
        loyalty::entries(&mut c, &s, follower, 100).unwrap().len(),
        1
    );
    assert_eq!(loyalty::sums(&mut c, &s, follower).unwrap(), (10, 10));
    let stored: i64 = patron_store::schema::messages::table
        .filter(patron_store::schema::messages::tenant_id.eq(s.tenant_id().0))
        .count()
        .get_result(&mut *c)
        .unwrap();
    assert_eq!(stored, 10, "each message archived once");
    drop(c);

    // The same twenty deliveries again, all retries of stored check-ins (each twice in
    // the same batch): every one answered as it was the first time, nothing earned.
    let again = texts_at_once(&app.base, &checkins, " check in ").await;
    for ((msg_id, answer), (_, first)) in again.iter().zip(&answers) {
        assert_eq!(answer, first, "message {msg_id} answered as the first time");
    }
    assert_eq!(
        loyalty::sums(&mut app.conn(), &s, follower).unwrap(),
        (10, 10)
    );
}

#[tokio::test]
async fn plain_pushes_are_stored_once_and_every_delivery_gets_the_same_reply() {
    // Plain pushes (no points, no coupons, no placeholders) are inserted without a lookup
    // first: the delivery key turns retries away. Thirty messages from ten followers, new
    // to the tenant, each delivered twice at once, then twice more in a second round.
    let app = TestApp::spawn();
    let s = wechat_tenant(&app);
    patron_store::reply_rules::create(&mut app.conn(), &s, &Trigger::Default, "Noted.", 0).unwrap();
    let before = app.state.ingest.stats();
    let pushes: Vec<(String, u64, i64)> = (0..60u64)
        .map(|i| (format!("o_plain_{}", (i / 2) % 10), 500 + i / 2, 1714037059))
        .collect();
    for round in 0..2 {
        for (msg_id, answer) in texts_at_once(&app.base, &pushes, "hi").await {
            assert_eq!(answer, "Noted.", "message {msg_id}, round {round}");
        }
    }
    use patron_store::schema::{followers, messages};
    let mut c = app.conn();
    let stored: Vec<(String, Option<i64>)> = messages::table
        .filter(messages::tenant_id.eq(s.tenant_id().0))
        .select((
            messages::dedupe_key.assume_not_null(),
            messages::follower_id,
        ))
        .load(&mut *c)
        .unwrap();
    assert_eq!(stored.len(), 30, "each message archived once");
    let mut keys: Vec<&String> = stored.iter().map(|(k, _)| k).collect();
    keys.dedup();
    assert_eq!(keys.len(), 30);
    let people: Vec<(i64, String, Option<NaiveDateTime>)> = followers::table
        .filter(followers::tenant_id.eq(s.tenant_id().0))
        .select((
            followers::id,
            followers::openid,
            followers::last_interaction_at,
        ))
        .load(&mut *c)
        .unwrap();
    assert_eq!(people.len(), 10, "one follower each: {people:?}");
    assert!(
        people.iter().all(|(_, _, last)| last.is_some()),
        "{people:?}"
    );
    for (id, _, _) in &people {
        let theirs = stored.iter().filter(|(_, f)| *f == Some(*id)).count();
        assert_eq!(theirs, 3, "follower {id} sent three messages");
    }
    assert_eq!(
        patron_store::followers::count(&mut c, &s).unwrap(),
        patron_store::followers::count_by_scan(&mut c, &s).unwrap()
    );
    assert_eq!(
        patron_store::followers::count(&mut c, &s).unwrap(),
        (10, 10)
    );
    // All of it in batches: none failed over to storing its pushes one by one.
    let after = app.state.ingest.stats();
    if app.state.ingest.journaled() {
        // PostgreSQL: the journal answered the 90 retries from memory, and handed each
        // message to the writers once.
        assert_eq!(after.journaled - before.journaled, 30);
        assert_eq!(after.pushes - before.pushes, 30);
    } else {
        assert_eq!(after.journaled, 0);
        assert_eq!(after.pushes - before.pushes, 120);
    }
    assert_eq!(after.failed, before.failed, "{after:?}");
}

#[test]
fn concurrent_stamps_fill_the_card_exactly() {
    let app = TestApp::spawn_with(false, |s| s.db_pool_size = 16);
    let w = world(&mut app.conn(), "a");
    let (s, f) = (w.scope.clone(), w.follower);
    let (card, reward) = {
        let mut c = app.conn();
        let reward = campaign(&mut c, &s, "Free coffee");
        let card = stamps::create(
            &mut c,
            &s,
            &CardInput {
                name: "Coffee card".into(),
                stamps_required: 3,
                reward_campaign_id: reward,
                stamp_on_checkin: false,
                active: true,
            },
        )
        .unwrap();
        (card.id, reward)
    };
    // Twenty stamps at once on a card of three: six rewards, two stamps left over.
    let scope = s.clone();
    let results = race(&app, 20, move |_, c| {
        stamps::stamp(c, &scope, card, f, "till", None, By::default()).unwrap()
    });
    let rewards = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Stamped::Added {
                    reward: Some(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(rewards, 6, "{results:?}");
    let mut c = app.conn();
    assert_eq!(on_card(&mut c, &s, f, card).unwrap(), 2);
    assert_eq!(stamp_coupons(&mut c, &s, f, card).len(), 6);
    assert_eq!(coupons::get(&mut c, &s, reward).unwrap().issued_count, 6);
    let events = stamps::events_of(&mut c, &s, f, 100).unwrap();
    assert_eq!(events.len(), 26, "twenty stamps and six rewards");
    assert_eq!(events.iter().map(|e| e.stamps).sum::<i64>(), 2);
}

#[test]
fn concurrent_stamps_with_one_key_stamp_once_and_tell_the_others() {
    let app = TestApp::spawn_with(false, |s| s.db_pool_size = 16);
    let w = world(&mut app.conn(), "a");
    let (s, f) = (w.scope.clone(), w.follower);
    let card = {
        let mut c = app.conn();
        let reward = campaign(&mut c, &s, "Free coffee");
        stamps::create(
            &mut c,
            &s,
            &CardInput {
                name: "Coffee card".into(),
                stamps_required: 3,
                reward_campaign_id: reward,
                stamp_on_checkin: false,
                active: true,
            },
        )
        .unwrap()
        .id
    };
    // Ten taps with one key at once (a till retrying): one stamp, and the others are
    // answered Duplicate (as `loyalty::post` answers a key raced by its twins).
    let scope = s.clone();
    let results = race(&app, 10, move |_, c| {
        stamps::stamp(c, &scope, card, f, "till", Some("tap-1"), By::default())
    });
    let added = results
        .iter()
        .filter(|r| matches!(r, Ok(Stamped::Added { .. })))
        .count();
    assert_eq!(added, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| !matches!(r, Ok(Stamped::Added { .. })))
            .all(|r| matches!(r, Ok(Stamped::Duplicate { stamps: 1 }))),
        "the others are told it was stamped already: {results:?}"
    );
    let mut c = app.conn();
    assert_eq!(on_card(&mut c, &s, f, card).unwrap(), 1);
    assert_eq!(stamps::events_of(&mut c, &s, f, 100).unwrap().len(), 1);
}
