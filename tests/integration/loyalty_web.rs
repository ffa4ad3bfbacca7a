//! Points, stamps and coupons over HTTP: the loyalty API (program, idempotent points,
//! stamp cards whose last stamp answers with the reward), the merchant's loyalty page and
//! the follower page's points and stamp forms, the coupon lookup, the all-or-nothing CSV
//! import of existing codes (then redeemed at the till and through the API), reply rules
//! and QR codes that issue a campaign, and the member card read at the till.

use crate::support::*;
use patron_domain::loyalty::{member_payload, Program};
use patron_store::coupons::{self, CampaignInput};
use patron_store::{loyalty, stamps};
use reqwest::Method;
use serde_json::{json, Value};

/// One of [`row_counts`] by name.
fn count(app: &TestApp, table: &str) -> i64 {
    row_counts(&mut app.conn())
        .into_iter()
        .find(|(n, _)| *n == table)
        .unwrap_or_else(|| panic!("no count named {table}"))
        .1
}

/// Follows a 303 (as a browser would, without the fragment) and returns the next page.
async fn follow(c: &Client, r: &Resp) -> Resp {
    assert_eq!(r.status, 303, "expected a redirect: {}", r.body);
    let to = r.location.as_deref().expect("a Location");
    let to = to.split('#').next().unwrap();
    c.get(to).await
}

/// The `details[0]` of an API 422, as `(field, code)`.
fn detail(r: &Resp) -> (String, String) {
    assert_eq!(r.status, 422, "{}", r.body);
    let j = r.json();
    assert_eq!(j["error"]["code"], "invalid", "{}", r.body);
    let d = &j["error"]["details"][0];
    (
        d["field"].as_str().unwrap_or_default().to_string(),
        d["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// A second campaign of the world's tenant, active.
fn campaign(app: &TestApp, w: &World, name: &str, supply: Option<i64>) -> i64 {
    let mut c = app.conn();
    let camp = coupons::create(
        &mut c,
        &w.scope,
        &CampaignInput {
            name: name.into(),
            benefit: patron_domain::coupons::Benefit::Gift {
                item: "Cake".into(),
            },
            min_spend_fen: 0,
            validity: patron_domain::coupons::Validity::Relative { days: 10 },
            total_supply: supply,
            per_follower_limit: None,
            stores: None,
            terms: String::new(),
            code_prefix: String::new(),
            accepts_short_codes: false,
        },
    )
    .unwrap();
    coupons::set_status(&mut c, &w.scope, camp.id, "active").unwrap();
    camp.id
}

fn program_json(expiry: Option<i64>) -> Value {
    json!({
        "subscribe_points": 20,
        "checkin_keyword": "Sign in",
        "checkin_points": 5,
        "checkin_reply": "+{points} = {balance}",
        "checkin_again_reply": "Again: {balance}",
        "points_per_yuan": 1,
        "expiry_days": expiry,
    })
}

// ---- The API -----------------------------------------------------------------------------

#[tokio::test]
async fn the_api_sets_the_program_and_posts_points_once_without_overdrafts() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    let t = w.token.as_str();

    let r = c.api(Method::GET, "/api/v1/loyalty/program", t, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["program"].is_null(), "never set up: {}", r.body);

    // Refused programs: each names its field, and nothing is stored.
    let before = row_counts(&mut app.conn());
    let with = |k: &str, v: Value| {
        let mut p = program_json(Some(30));
        p[k] = v;
        p
    };
    for (body, field, code) in [
        (
            with("subscribe_points", json!(-1)),
            "points",
            "invalid_points",
        ),
        (
            with("checkin_points", json!(1_000_001)),
            "points",
            "invalid_points",
        ),
        (
            with("checkin_points", json!(0)),
            "checkin_points",
            "checkin_points_required",
        ),
        (
            with("checkin_keyword", json!("x".repeat(31))),
            "checkin_keyword",
            "invalid_keyword",
        ),
        (
            with("checkin_reply", json!("x".repeat(601))),
            "checkin_reply",
            "text_too_long",
        ),
        (
            with("expiry_days", json!(0)),
            "expiry_days",
            "invalid_expiry",
        ),
        (
            with("expiry_days", json!(3651)),
            "expiry_days",
            "invalid_expiry",
        ),
    ] {
        let r = c
            .api(
                Method::PUT,
                "/api/v1/loyalty/program",
                t,
                Some(body.clone()),
            )
            .await;
        assert_eq!(detail(&r), (field.to_string(), code.to_string()), "{body}");
    }
    let mut missing = program_json(None);
    missing.as_object_mut().unwrap().remove("checkin_keyword");
    let r = c
        .api(Method::PUT, "/api/v1/loyalty/program", t, Some(missing))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "bad_request");
    assert_eq!(row_counts(&mut app.conn()), before);
    let r = c.api(Method::GET, "/api/v1/loyalty/program", t, None).await;
    assert!(r.json()["program"].is_null(), "{}", r.body);

    // Saved, then changed in place (one row per tenant).
    let r = c
        .api(
            Method::PUT,
            "/api/v1/loyalty/program",
            t,
            Some(program_json(None)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .api(
            Method::PUT,
            "/api/v1/loyalty/program",
            t,
            Some(program_json(Some(30))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["program"], program_json(Some(30)));
    let r = c.api(Method::GET, "/api/v1/loyalty/program", t, None).await;
    assert_eq!(r.json()["program"], program_json(Some(30)));
    assert_eq!(count(&app, "loyalty_programs"), 1);
    // Tenant B's program is its own.
    let r = c
        .api(Method::GET, "/api/v1/loyalty/program", &b.token, None)
        .await;
    assert!(r.json()["program"].is_null(), "{}", r.body);

    let points = format!("/api/v1/followers/{}/points", w.follower);
    let post = |body: Value| {
        let (c, points) = (&c, points.clone());
        async move { c.api(Method::POST, &points, t, Some(body)).await }
    };
    // Earned with a key: 201; the same key again: 200 and nothing more.
    let r = post(
        json!({"kind": "earn", "points": 100, "reason": "welcome", "idempotency_key": "pos-1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["result"], "done");
    assert_eq!(r.json()["balance"], 100);
    let entry_id = r.json()["entry_id"].as_i64().unwrap();
    let e = loyalty::entries(&mut app.conn(), &w.scope, w.follower, 1)
        .unwrap()
        .remove(0);
    assert_eq!(
        (e.id, e.kind.as_str(), e.points, e.source.as_str()),
        (entry_id, "earn", 100, "api")
    );
    let expires = e.expires_at.expect("the program's 30-day expiry applies");
    let days = (expires - patron_store::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "expires in {days} h");
    let ledger = count(&app, "points_ledger");
    for body in [
        json!({"kind": "earn", "points": 100, "idempotency_key": "pos-1"}),
        // The key names the post: a retry with another body changes nothing either.
        json!({"kind": "spend", "points": 40, "idempotency_key": "pos-1"}),
    ] {
        let r = post(body).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"result": "duplicate", "balance": 100}));
    }
    assert_eq!(count(&app, "points_ledger"), ledger);

    // An overdraft is 409 `insufficient` and changes nothing.
    let before = row_counts(&mut app.conn());
    let r = post(json!({"kind": "spend", "points": 101, "idempotency_key": "pos-2"})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let j = r.json();
    assert_eq!(j["error"]["code"], "insufficient");
    assert_eq!(j["error"]["details"]["balance"], 100);
    assert_eq!(row_counts(&mut app.conn()), before);
    // The refused key was not used up.
    let r = post(json!({"kind": "spend", "points": 30, "idempotency_key": "pos-2"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["balance"], 70);

    // Invalid posts: 422 naming the field, nothing stored.
    let before = row_counts(&mut app.conn());
    for (body, field, code) in [
        (
            json!({"kind": "gift", "points": 5}),
            "kind",
            "invalid_choice",
        ),
        (
            json!({"kind": "earn", "points": 0}),
            "points",
            "invalid_points",
        ),
        (
            json!({"kind": "earn", "points": -5}),
            "points",
            "invalid_points",
        ),
        (
            json!({"kind": "spend", "points": -5}),
            "points",
            "invalid_points",
        ),
        (
            json!({"kind": "earn", "points": 1_000_001}),
            "points",
            "invalid_points",
        ),
        (
            json!({"kind": "adjust", "points": -10}),
            "reason",
            "required",
        ),
        (
            json!({"kind": "adjust", "points": -10, "reason": "   "}),
            "reason",
            "required",
        ),
        (
            json!({"kind": "earn", "points": 5, "reason": "x".repeat(201)}),
            "reason",
            "too_long",
        ),
        (
            json!({"kind": "earn", "points": 5, "idempotency_key": ""}),
            "idempotency_key",
            "too_long",
        ),
        (
            json!({"kind": "earn", "points": 5, "idempotency_key": "k".repeat(101)}),
            "idempotency_key",
            "too_long",
        ),
    ] {
        let r = post(body.clone()).await;
        assert_eq!(detail(&r), (field.to_string(), code.to_string()), "{body}");
    }
    let r = post(json!({"kind": "earn"})).await;
    assert_eq!(r.status, 400, "a missing amount: {}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before);

    // A signed adjustment with a reason.
    let r = post(json!({"kind": "adjust", "points": -10, "reason": "correction"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["balance"], 60);
    assert_eq!(
        loyalty::sums(&mut app.conn(), &w.scope, w.follower).unwrap(),
        (60, 60),
        "sum(points) = sum(remaining)"
    );

    // Strangers: another tenant's follower, or this follower through B's token, is 404
    // (before the body is judged) and nothing changes.
    let before = row_counts(&mut app.conn());
    let theirs = format!("/api/v1/followers/{}/points", b.follower);
    for (path, token) in [
        (theirs.as_str(), t),
        (points.as_str(), b.token.as_str()),
        ("/api/v1/followers/987654321/points", t),
    ] {
        for body in [
            json!({"kind": "earn", "points": 5}),
            json!({"kind": "gift", "points": 5}),
        ] {
            let r = c.api(Method::POST, path, token, Some(body)).await;
            assert_eq!(r.status, 404, "{path}: {}", r.body);
            assert_eq!(r.json()["error"]["code"], "not_found");
        }
        let r = c.api(Method::GET, path, token, None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    assert_eq!(row_counts(&mut app.conn()), before);
    assert_eq!(
        loyalty::balance(&mut app.conn(), &b.scope, b.follower).unwrap(),
        0
    );

    // The balance, the ledger newest first, and the stamp cards.
    let r = c.api(Method::GET, &points, t, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["follower_id"], w.follower);
    assert_eq!(j["balance"], 60);
    let entries: Vec<(String, i64, String)> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["points"].as_i64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            ("adjust".into(), -10, "correction".into()),
            ("spend".into(), -30, String::new()),
            ("earn".into(), 100, "welcome".into()),
        ]
    );
    assert!(
        !r.body.contains("remaining") && !r.body.contains("source_key"),
        "internal columns stay inside: {}",
        r.body
    );
    assert_eq!(
        j["stamp_cards"],
        json!([{"card_id": w.card, "name": "Coffee card", "stamps": 0, "required": 5}])
    );
    let r = c
        .api(Method::GET, &format!("{points}?limit=1"), t, None)
        .await;
    let only = r.json()["entries"].as_array().unwrap().clone();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["kind"], "adjust");
}

#[tokio::test]
async fn the_api_makes_stamp_cards_and_the_last_stamp_answers_with_the_reward() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    let t = w.token.as_str();

    let r = c.api(Method::GET, "/api/v1/stamp-cards", t, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cards = r.json()["stamp_cards"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 1, "{}", r.body);
    assert_eq!(cards[0]["id"], w.card);
    assert_eq!(cards[0]["stamps_required"], 5);
    assert_eq!(cards[0]["reward_campaign_id"], w.campaign);

    // Refused cards: nothing stored.
    let before = row_counts(&mut app.conn());
    let card = |name: &str, n: i64, reward: i64| json!({"name": name, "stamps_required": n, "reward_campaign_id": reward});
    for (body, field, code) in [
        (card("  ", 3, w.campaign), "name", "required"),
        (
            card("Tea", 0, w.campaign),
            "stamps_required",
            "out_of_range",
        ),
        (
            card("Tea", 101, w.campaign),
            "stamps_required",
            "out_of_range",
        ),
        (card("Tea", 3, b.campaign), "reward_campaign_id", "unknown"),
        (card("Tea", 3, 987_654_321), "reward_campaign_id", "unknown"),
    ] {
        let r = c
            .api(Method::POST, "/api/v1/stamp-cards", t, Some(body.clone()))
            .await;
        assert_eq!(detail(&r), (field.to_string(), code.to_string()), "{body}");
    }
    let r = c
        .api(
            Method::POST,
            "/api/v1/stamp-cards",
            t,
            Some(json!({"name": "Tea", "stamps_required": 3})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before);

    let r = c
        .api(
            Method::POST,
            "/api/v1/stamp-cards",
            t,
            Some(card("Tea card", 2, w.campaign)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let tea = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["active"], true);
    assert_eq!(r.json()["stamp_on_checkin"], false);
    assert_eq!(r.json()["tenant_id"], w.scope.tenant_id().0);
    let mut off = card("Old card", 3, w.campaign);
    off["active"] = json!(false);
    let r = c
        .api(Method::POST, "/api/v1/stamp-cards", t, Some(off))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let old = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["active"], false);
    let r = c.api(Method::GET, "/api/v1/stamp-cards", t, None).await;
    assert_eq!(r.json()["stamp_cards"].as_array().unwrap().len(), 3);
    let r = c
        .api(Method::GET, "/api/v1/stamp-cards", &b.token, None)
        .await;
    let theirs = r.json()["stamp_cards"].as_array().unwrap().clone();
    assert_eq!(theirs.len(), 1, "B sees only its own card");
    assert_eq!(theirs[0]["id"], b.card);

    let path = format!("/api/v1/followers/{}/stamps", w.follower);
    let stamp = |card: i64, key: Option<&str>| {
        let (c, path) = (&c, path.clone());
        let body = json!({"card_id": card, "idempotency_key": key});
        async move { c.api(Method::POST, &path, t, Some(body)).await }
    };
    let r = stamp(tea, Some("visit-1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"result": "added", "stamps": 1, "required": 2, "reward": null, "reward_refused": null})
    );
    // The same key: nothing more.
    let events = count(&app, "stamp_events");
    let r = stamp(tea, Some("visit-1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"result": "duplicate", "stamps": 1}));
    assert_eq!(count(&app, "stamp_events"), events);
    // The key is per card: the same key on another card stamps it.
    let r = stamp(w.card, Some("visit-1")).await;
    assert_eq!(r.json()["result"], "added", "{}", r.body);
    assert_eq!(r.json()["stamps"], 1);

    // The card fills up: the answer carries the reward coupon, and the card starts again.
    let coupons_before = count(&app, "coupons");
    let r = stamp(tea, Some("visit-2")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["result"], "added");
    assert_eq!(j["stamps"], 0);
    let reward = &j["reward"];
    assert_eq!(reward["follower_id"], w.follower, "{}", r.body);
    assert_eq!(reward["campaign_id"], w.campaign);
    assert_eq!(reward["channel"], format!("stamps:{tea}"));
    assert_eq!(reward["status"], "issued");
    let code = reward["code"].as_str().unwrap();
    let stored = coupons::by_code(&mut app.conn(), &w.scope, code).unwrap();
    assert_eq!(stored.follower_id, Some(w.follower));
    assert_eq!(stored.id, reward["id"].as_i64().unwrap());
    assert_eq!(count(&app, "coupons"), coupons_before + 1);
    // Without a key every call stamps.
    for n in [1, 0] {
        let r = stamp(tea, None).await;
        assert_eq!(r.json()["stamps"], n, "{}", r.body);
    }
    assert_eq!(count(&app, "coupons"), coupons_before + 2);

    // A paused reward campaign: the card fills but the reward is refused and the stamps stay.
    coupons::set_status(&mut app.conn(), &w.scope, w.campaign, "paused").unwrap();
    stamp(tea, None).await;
    let r = stamp(tea, None).await;
    let j = r.json();
    assert_eq!(j["stamps"], 2, "{}", r.body);
    assert!(j["reward"].is_null());
    assert_eq!(j["reward_refused"], "not_active", "{}", r.body);
    assert_eq!(count(&app, "coupons"), coupons_before + 2);
    coupons::set_status(&mut app.conn(), &w.scope, w.campaign, "active").unwrap();

    // A switched-off card, another tenant's card or follower, an unknown card: no change.
    let before = row_counts(&mut app.conn());
    let r = stamp(old, Some("visit-9")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"result": "inactive"}));
    for card in [b.card, 987_654_321] {
        let r = stamp(card, None).await;
        assert_eq!(r.status, 404, "card {card}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    let theirs = format!("/api/v1/followers/{}/stamps", b.follower);
    let r = c
        .api(Method::POST, &theirs, t, Some(json!({"card_id": w.card})))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = c
        .api(
            Method::POST,
            &path,
            &b.token,
            Some(json!({"card_id": b.card})),
        )
        .await;
    assert_eq!(r.status, 404, "B's token on A's follower: {}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before);

    // The follower's cards: the two active ones with their stamps, not the switched-off one.
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/followers/{}/points", w.follower),
            t,
            None,
        )
        .await;
    let mut cards: Vec<(i64, i64, i64)> = r.json()["stamp_cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["card_id"].as_i64().unwrap(),
                c["stamps"].as_i64().unwrap(),
                c["required"].as_i64().unwrap(),
            )
        })
        .collect();
    cards.sort();
    let mut want = vec![(w.card, 1, 5), (tea, 2, 2)];
    want.sort();
    assert_eq!(cards, want, "{}", r.body);
}

// ---- The merchant's loyalty page ---------------------------------------------------------

const GOOD_PROGRAM: [(&str, &str); 7] = [
    ("subscribe_points", "20"),
    ("checkin_keyword", "Sign in"),
    ("checkin_points", "5"),
    ("checkin_reply", "+{points}, now {balance}"),
    ("checkin_again_reply", "Already: {balance}"),
    ("points_per_yuan", "2"),
    ("expiry_days", "365"),
];

fn program_form(change: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    GOOD_PROGRAM
        .iter()
        .map(|(k, v)| {
            let v = change
                .iter()
                .find(|(ck, _)| ck == k)
                .map(|(_, cv)| cv.clone())
                .unwrap_or_else(|| v.to_string());
            (*k, v)
        })
        .collect()
}

fn fields<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn the_loyalty_page_saves_the_program_and_refuses_bad_input_saving_nothing() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let path = format!("/t/{}/loyalty", w.slug);
    let page = c.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"program-form\""));
    // No program yet: the form starts from the merchant-language defaults.
    assert!(
        page.body
            .contains("name=\"checkin_keyword\" value=\"check in\""),
        "{}",
        page.body
    );
    // The stamp cards and the campaigns to reward with.
    assert!(page.body.contains("Coffee card"));
    assert!(page.body.contains(&format!(
        "<option value=\"{}\">Ten off {}</option>",
        w.campaign, w.slug
    )));

    let before = row_counts(&mut app.conn());
    for (field, value, message) in [
        (
            "subscribe_points",
            "abc".to_string(),
            "Points for following: a whole number from 0 to 1,000,000",
        ),
        (
            "checkin_points",
            "-5".to_string(),
            "Points: a whole number from 0 to 1,000,000",
        ),
        (
            "points_per_yuan",
            "1000001".to_string(),
            "Points: a whole number from 0 to 1,000,000",
        ),
        (
            "checkin_points",
            "0".to_string(),
            "Points per check-in: a check-in word needs points",
        ),
        (
            "checkin_keyword",
            "k".repeat(31),
            "Check-in word: at most 30 characters",
        ),
        (
            "checkin_reply",
            "r".repeat(601),
            "Reply to a check-in: at most 600 bytes",
        ),
        (
            "expiry_days",
            "0".to_string(),
            "Points expire after (days): from 1 to 3,650 days",
        ),
        (
            "expiry_days",
            "soon".to_string(),
            "Points expire after (days): from 1 to 3,650 days",
        ),
    ] {
        let form = program_form(&[(field, value.clone())]);
        let r = c.post(&path, &fields(&form)).await;
        assert_eq!(r.status, 422, "{field}={value}: {}", r.body);
        assert!(r.body.contains(message), "{message}: {}", r.body);
        // The form comes back as typed.
        assert!(r.body.contains(&value), "{field} echoed");
        assert!(
            r.body.contains("Already: {balance}"),
            "the other fields are kept"
        );
        assert_eq!(row_counts(&mut app.conn()), before, "{field}={value}");
        assert_eq!(
            loyalty::program(&mut app.conn(), &w.scope).unwrap(),
            None,
            "{field}={value}"
        );
    }
    // Without the CSRF token: 403, nothing saved.
    let r = c.post_raw(&path, &fields(&program_form(&[]))).await;
    assert_eq!(r.status, 403);
    assert_eq!(row_counts(&mut app.conn()), before);

    // Saved: a redirect with a flash, and the page shows what is stored.
    let r = c.post(&path, &fields(&program_form(&[]))).await;
    assert_eq!(r.location.as_deref(), Some(path.as_str()), "{}", r.body);
    let page = follow(&c, &r).await;
    assert!(page.body.contains("Saved."), "{}", page.body);
    assert!(page
        .body
        .contains("name=\"checkin_keyword\" value=\"Sign in\""));
    assert!(page.body.contains("name=\"expiry_days\" value=\"365\""));
    let want = Program {
        subscribe_points: 20,
        checkin_keyword: "Sign in".into(),
        checkin_points: 5,
        checkin_reply: "+{points}, now {balance}".into(),
        checkin_again_reply: "Already: {balance}".into(),
        points_per_yuan: 2,
        expiry_days: Some(365),
    };
    assert_eq!(
        loyalty::program(&mut app.conn(), &w.scope).unwrap(),
        Some(want.clone())
    );
    // A refusal after a save leaves the saved program as it was.
    let r = c
        .post(
            &path,
            &fields(&program_form(&[("expiry_days", "-1".into())])),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(
        loyalty::program(&mut app.conn(), &w.scope).unwrap(),
        Some(want)
    );
    // Switched off: empty word, no expiry, blank numbers read as 0; still one row.
    let r = c
        .post(
            &path,
            &fields(&program_form(&[
                ("checkin_keyword", "  ".into()),
                ("checkin_points", "".into()),
                ("subscribe_points", "".into()),
                ("expiry_days", " ".into()),
            ])),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let p = loyalty::program(&mut app.conn(), &w.scope)
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            p.checkin_keyword.as_str(),
            p.checkin_points,
            p.subscribe_points,
            p.expiry_days
        ),
        ("", 0, 0, None)
    );
    assert_eq!(count(&app, "loyalty_programs"), 1);

    // A cashier may not; a user of tenant B does not even see it.
    let before = row_counts(&mut app.conn());
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    assert_eq!(cashier.get(&path).await.status, 403);
    let r = cashier.post(&path, &fields(&program_form(&[]))).await;
    assert_eq!(r.status, 403);
    let stranger = app.client();
    stranger.login(&b.merchant_email, PASSWORD).await;
    assert_eq!(stranger.get(&path).await.status, 404);
    let r = stranger.post(&path, &fields(&program_form(&[]))).await;
    assert_eq!(r.status, 404);
    assert_eq!(row_counts(&mut app.conn()), before);
    assert_eq!(loyalty::program(&mut app.conn(), &b.scope).unwrap(), None);
}

#[tokio::test]
async fn stamp_cards_are_created_and_switched_off_on_the_loyalty_page() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let cards = format!("/t/{}/stamp-cards", w.slug);
    let campaign = w.campaign.to_string();

    let before = row_counts(&mut app.conn());
    let theirs = b.campaign.to_string();
    for (form, message) in [
        (
            vec![
                ("name", "Tea"),
                ("stamps_required", "0"),
                ("reward_campaign_id", campaign.as_str()),
            ],
            "Stamps for a reward: out of range (1 to 100)",
        ),
        (
            vec![
                ("name", "Tea"),
                ("stamps_required", "101"),
                ("reward_campaign_id", campaign.as_str()),
            ],
            "Stamps for a reward: out of range (1 to 100)",
        ),
        (
            vec![
                ("name", "Tea"),
                ("stamps_required", "ten"),
                ("reward_campaign_id", campaign.as_str()),
            ],
            "Stamps for a reward: out of range (1 to 100)",
        ),
        (
            vec![
                ("name", "Tea"),
                ("stamps_required", "3"),
                ("reward_campaign_id", theirs.as_str()),
            ],
            "Reward: not a campaign of this account: choose one from the list",
        ),
        (
            vec![
                ("name", "Tea"),
                ("stamps_required", "3"),
                ("reward_campaign_id", ""),
            ],
            "Reward: required",
        ),
        (
            vec![
                ("name", " "),
                ("stamps_required", "3"),
                ("reward_campaign_id", campaign.as_str()),
            ],
            "Name: required",
        ),
    ] {
        let r = c.post(&cards, &form).await;
        assert_eq!(r.status, 422, "{form:?}: {}", r.body);
        assert!(r.body.contains("id=\"card-errors\""), "{}", r.body);
        assert!(r.body.contains(message), "{message}: {}", r.body);
        assert_eq!(row_counts(&mut app.conn()), before, "{form:?}");
    }

    let r = c
        .post(
            &cards,
            &[
                ("name", "Tea card"),
                ("stamps_required", "3"),
                ("reward_campaign_id", &campaign),
                ("stamp_on_checkin", "on"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/t/{}/loyalty", w.slug).as_str()),
        "{}",
        r.body
    );
    let page = follow(&c, &r).await;
    assert!(page.body.contains("Saved."));
    assert!(page.body.contains("Tea card"), "{}", page.body);
    let all = stamps::list(&mut app.conn(), &w.scope).unwrap();
    assert_eq!(all.len(), 2);
    let tea = all.iter().find(|k| k.name == "Tea card").unwrap().clone();
    assert_eq!(
        (
            tea.stamps_required,
            tea.reward_campaign_id,
            tea.stamp_on_checkin,
            tea.active
        ),
        (3, w.campaign, true, true)
    );

    // Switched off (the form's checkbox is absent), keeping everything else.
    let update = format!("{cards}/{}", tea.id);
    let keep = [
        ("name", "Tea card"),
        ("stamps_required", "3"),
        ("reward_campaign_id", campaign.as_str()),
        ("stamp_on_checkin", "on"),
    ];
    let r = c.post(&update, &keep).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let off = stamps::get(&mut app.conn(), &w.scope, tea.id).unwrap();
    assert!(!off.active && off.stamp_on_checkin && off.stamps_required == 3);
    let page = c.get(&format!("/t/{}/loyalty", w.slug)).await;
    assert!(page.body.contains("Switch on"), "{}", page.body);

    // Bad updates and strangers' cards change nothing.
    let before = row_counts(&mut app.conn());
    for (form, status) in [
        (
            vec![
                ("name", "Tea card"),
                ("stamps_required", "0"),
                ("reward_campaign_id", campaign.as_str()),
                ("active", "on"),
            ],
            422,
        ),
        (
            vec![
                ("name", "Tea card"),
                ("stamps_required", "3"),
                ("reward_campaign_id", theirs.as_str()),
                ("active", "on"),
            ],
            422,
        ),
    ] {
        let r = c.post(&update, &form).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.body);
    }
    let r = c
        .post(
            &format!("{cards}/{}", b.card),
            &[
                ("name", "Mine now"),
                ("stamps_required", "1"),
                ("reward_campaign_id", &campaign),
            ],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(row_counts(&mut app.conn()), before);
    let still = stamps::get(&mut app.conn(), &w.scope, tea.id).unwrap();
    assert_eq!(
        (
            still.active,
            still.stamps_required,
            still.reward_campaign_id
        ),
        (false, 3, w.campaign)
    );
    let theirs_card = stamps::get(&mut app.conn(), &b.scope, b.card).unwrap();
    assert_eq!(
        (theirs_card.name.as_str(), theirs_card.stamps_required),
        ("Coffee card", 5)
    );

    // A stamp on the switched-off card is refused with a flash and stores nothing.
    let give = format!("/t/{}/followers/{}/stamps", w.slug, w.follower);
    let r = c.post(&give, &[("card_id", &tea.id.to_string())]).await;
    let page = follow(&c, &r).await;
    assert!(
        page.body.contains("This stamp card is switched off."),
        "{}",
        page.body
    );
    assert_eq!(row_counts(&mut app.conn()), before);
    // The follower page offers only the active card.
    assert!(page.body.contains("Coffee card"));
    assert!(!page.body.contains("Tea card"), "{}", page.body);

    // Switched on again.
    let mut on = keep.to_vec();
    on.push(("active", "on"));
    let r = c.post(&update, &on).await;
    assert_eq!(r.status, 303);
    assert!(
        stamps::get(&mut app.conn(), &w.scope, tea.id)
            .unwrap()
            .active
    );

    // A marketer manages cards too; a cashier may not.
    let m = app.client();
    m.login(&w.marketer_email, PASSWORD).await;
    let r = m.post(&update, &keep).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let before = row_counts(&mut app.conn());
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    let r = cashier.post(&update, &on).await;
    assert_eq!(r.status, 403);
    let r = cashier
        .post(
            &cards,
            &[
                ("name", "Sneaky"),
                ("stamps_required", "1"),
                ("reward_campaign_id", &campaign),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(row_counts(&mut app.conn()), before);
    assert!(
        !stamps::get(&mut app.conn(), &w.scope, tea.id)
            .unwrap()
            .active
    );
}

// ---- The follower page -------------------------------------------------------------------

#[tokio::test]
async fn points_and_stamps_are_given_on_the_follower_page_with_a_flash() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let fpage = format!("/t/{}/followers/{}", w.slug, w.follower);
    let points = format!("{fpage}/points");
    let balance = |body: &str| extract(body, "id=\"points-balance\">", "<").unwrap();

    let page = c.get(&fpage).await;
    assert_eq!(balance(&page.body), "0");
    let r = c
        .post(
            &points,
            &[("kind", "earn"), ("points", "50"), ("reason", "birthday")],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{fpage}#points").as_str())
    );
    let page = follow(&c, &r).await;
    assert!(page.body.contains("Points posted."), "{}", page.body);
    assert_eq!(balance(&page.body), "50");
    assert!(page.body.contains("birthday") && page.body.contains("merchant a"));
    let e = loyalty::entries(&mut app.conn(), &w.scope, w.follower, 1)
        .unwrap()
        .remove(0);
    assert_eq!(
        (
            e.kind.as_str(),
            e.points,
            e.source.as_str(),
            e.user_name.as_str()
        ),
        ("earn", 50, "manual", "merchant a")
    );

    // Refusals: a flash, and nothing posted.
    let before = row_counts(&mut app.conn());
    for (form, flash) in [
        (
            vec![("kind", "spend"), ("points", "80")],
            "Not enough points: nothing was deducted.",
        ),
        (
            vec![("kind", "adjust"), ("points", "-5"), ("reason", " ")],
            "Points need a whole number; an adjustment needs a reason.",
        ),
        (
            vec![("kind", "earn"), ("points", "ten")],
            "Points need a whole number; an adjustment needs a reason.",
        ),
        (
            vec![("kind", "earn"), ("points", "0")],
            "Points need a whole number; an adjustment needs a reason.",
        ),
        (
            vec![("kind", "earn"), ("points", "-3")],
            "Points need a whole number; an adjustment needs a reason.",
        ),
        (
            vec![("kind", "steal"), ("points", "5")],
            "Points need a whole number; an adjustment needs a reason.",
        ),
    ] {
        let r = c.post(&points, &form).await;
        let page = follow(&c, &r).await;
        assert!(page.body.contains(flash), "{form:?}: {}", page.body);
        assert!(page.body.contains("flash-err"), "{form:?}");
        assert_eq!(balance(&page.body), "50", "{form:?}");
        assert_eq!(row_counts(&mut app.conn()), before, "{form:?}");
    }
    // Another tenant's follower: 404, nothing posted.
    let r = c
        .post(
            &format!("/t/{}/followers/{}/points", w.slug, b.follower),
            &[("kind", "earn"), ("points", "5")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(row_counts(&mut app.conn()), before);

    let r = c
        .post(
            &points,
            &[
                ("kind", "adjust"),
                ("points", "-5"),
                ("reason", "broken cup"),
            ],
        )
        .await;
    let page = follow(&c, &r).await;
    assert_eq!(balance(&page.body), "45");
    // A marketer posts points too.
    let m = app.client();
    m.login(&w.marketer_email, PASSWORD).await;
    let r = m.post(&points, &[("kind", "earn"), ("points", "5")]).await;
    let page = follow(&m, &r).await;
    assert!(page.body.contains("Points posted."));
    assert_eq!(balance(&page.body), "50");

    // Stamps by hand: four, then the fifth fills the card and issues the reward.
    let stamps_path = format!("{fpage}/stamps");
    let card = w.card.to_string();
    for n in 1..=4 {
        let r = c.post(&stamps_path, &[("card_id", &card)]).await;
        assert_eq!(
            r.location.as_deref(),
            Some(format!("{fpage}#stamps").as_str())
        );
        let page = follow(&c, &r).await;
        // The flash says where the card stands.
        assert!(
            page.body
                .contains(&format!("Stamp added: Coffee card {n}/5.")),
            "{}",
            page.body
        );
        assert!(page.body.contains(&format!("{n} / 5")), "{}", page.body);
    }
    let ev = stamps::events_of(&mut app.conn(), &w.scope, w.follower, 1)
        .unwrap()
        .remove(0);
    assert_eq!(
        (ev.source.as_str(), ev.user_name.as_str(), ev.store_id),
        ("manual", "merchant a", None)
    );
    let held = |app: &TestApp| {
        coupons::of_follower(&mut app.conn(), &w.scope, w.follower)
            .unwrap()
            .into_iter()
            .filter(|k| k.channel == format!("stamps:{}", w.card))
            .collect::<Vec<_>>()
    };
    assert!(held(&app).is_empty());
    let r = c.post(&stamps_path, &[("card_id", &card)]).await;
    let page = follow(&c, &r).await;
    assert!(page.body.contains("0 / 5"));
    let rewards = held(&app);
    assert_eq!(rewards.len(), 1);
    // The flash names the reward coupon as printed.
    let reward_code = patron_domain::coupons::display(&rewards[0].code);
    assert!(
        page.body.contains(&format!(
            "The card is full: reward coupon {reward_code} issued."
        )),
        "{}",
        page.body
    );
    assert_eq!(
        (rewards[0].campaign_id, rewards[0].issued_by.as_str()),
        (w.campaign, "merchant a")
    );

    // A paused reward campaign: the full card keeps its stamps.
    coupons::set_status(&mut app.conn(), &w.scope, w.campaign, "paused").unwrap();
    for _ in 0..4 {
        c.post(&stamps_path, &[("card_id", &card)]).await;
    }
    let r = c.post(&stamps_path, &[("card_id", &card)]).await;
    let page = follow(&c, &r).await;
    assert!(
        page.body
            .contains("The card is full, but its reward campaign cannot issue now"),
        "{}",
        page.body
    );
    assert!(page.body.contains("5 / 5"), "{}", page.body);
    assert_eq!(held(&app).len(), 1);

    // Where it goes back to: only this tenant's own pages.
    for (back, to) in [
        (
            format!("/t/{}/cashier", w.slug),
            format!("/t/{}/cashier", w.slug),
        ),
        ("https://evil.example/x".into(), format!("{fpage}#stamps")),
        ("//evil.example/x".into(), format!("{fpage}#stamps")),
        (
            format!("/t/{}/followers/{}", b.slug, b.follower),
            format!("{fpage}#stamps"),
        ),
    ] {
        let r = c
            .post(&stamps_path, &[("card_id", &card), ("back", &back)])
            .await;
        assert_eq!(r.location.as_deref(), Some(to.as_str()), "back={back}");
    }

    // A marketer stamps by hand, but not "at the till" (a cashier's work); strangers'
    // cards and followers are 404; nothing changes.
    let before = row_counts(&mut app.conn());
    let r = m
        .post(
            &stamps_path,
            &[("card_id", &card), ("store_id", &w.store.to_string())],
        )
        .await;
    assert_eq!(r.status, 403);
    for (path, card) in [
        (stamps_path.clone(), b.card.to_string()),
        (stamps_path.clone(), "0".to_string()),
        (
            format!("/t/{}/followers/{}/stamps", w.slug, b.follower),
            w.card.to_string(),
        ),
    ] {
        let r = c.post(&path, &[("card_id", &card)]).await;
        assert_eq!(r.status, 404, "{path} card {card}");
    }
    assert_eq!(row_counts(&mut app.conn()), before);
    assert_eq!(
        stamps::progress(&mut app.conn(), &b.scope, b.follower).unwrap()[0].1,
        0
    );
}

// ---- Coupon lookup -----------------------------------------------------------------------

#[tokio::test]
async fn the_coupon_lookup_tells_typed_signed_forged_typo_and_unknown_apart() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let lookup = |code: String| {
        let (c, slug) = (&c, w.slug.clone());
        async move {
            c.get(&format!(
                "/t/{slug}/coupons?code={}",
                urlencoding::encode(&code)
            ))
            .await
        }
    };
    let empty = c.get(&format!("/t/{}/coupons", w.slug)).await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("id=\"lookup-form\""));
    assert!(!empty.body.contains("id=\"lookup-problem\""));
    let before = row_counts(&mut app.conn());

    let key = patron_web::ui::cashier::qr_key(&app.state, &w.scope);
    let shown = patron_domain::coupons::display(&w.coupon_code);
    for found in [
        // Read aloud and typed: lower case, spaces.
        format!("  {}  ", shown.to_lowercase()),
        w.coupon_code.clone(),
        patron_domain::coupons::qr_payload(&key, &w.coupon_code),
    ] {
        let r = lookup(found.clone()).await;
        assert_eq!(r.status, 200, "{found}: {}", r.body);
        assert!(r.body.contains("id=\"lookup-coupon\""), "{}", r.body);
        assert!(r.body.contains(&shown));
        assert!(r.body.contains(&format!("Ten off {}", w.slug)));
        assert!(r.body.contains("¥10.00 off"));
        // The holder, linked.
        assert!(r.body.contains(&format!(
            "<a href=\"/t/{}/followers/{}\">o_follower_a</a>",
            w.slug, w.follower
        )));
        // How it came, in words (not the raw channel).
        assert!(r.body.contains("· by hand</dd>"), "{}", r.body);
        assert!(!r.body.contains("id=\"lookup-problem\""));
    }

    let mut typo = w.coupon_code.clone().into_bytes();
    typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let theirs = patron_web::ui::cashier::qr_key(&app.state, &b.scope);
    for (scan, message) in [
        (
            patron_domain::coupons::qr_payload(&[1u8; 32], &w.coupon_code),
            "forged or altered",
        ),
        // B's genuine QR is not A's.
        (
            patron_domain::coupons::qr_payload(&theirs, &b.coupon_code),
            "forged or altered",
        ),
        // A's key over another code: altered.
        (
            patron_domain::coupons::qr_payload(&key, &w.coupon_code).replacen(
                &w.coupon_code,
                &b.coupon_code,
                1,
            ),
            "forged or altered",
        ),
        (typo, "This code has a typo"),
        ("NOPE-2345".into(), "No coupon with this code."),
        // B's code typed in A's lookup: unknown here.
        (b.coupon_code.clone(), "No coupon with this code."),
    ] {
        let r = lookup(scan.clone()).await;
        assert_eq!(r.status, 404, "{scan}: {}", r.body);
        assert!(r.body.contains("id=\"lookup-problem\""), "{}", r.body);
        assert!(r.body.contains(message), "{message}: {}", r.body);
        assert!(!r.body.contains("id=\"lookup-coupon\""));
        assert!(!r.body.contains(&b.tenant_name), "nothing of B leaks");
    }
    assert_eq!(
        row_counts(&mut app.conn()),
        before,
        "a lookup changes nothing"
    );

    // Once redeemed, the lookup shows the state and the trail.
    coupons::redeem(
        &mut app.conn(),
        &w.scope,
        &w.coupon_code,
        &coupons::Till {
            user_id: None,
            user_name: "Till 7",
            store_id: w.store,
            device: "front desk",
        },
        Some("tap-1"),
        Some("ORDER-9"),
        Some(5000),
    )
    .unwrap();
    let r = lookup(w.coupon_code.clone()).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"lookup-trail\""), "{}", r.body);
    assert!(
        r.body
            .contains("Redeemed · Till 7 · <span title=\"front desk\">front desk</span>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("ORDER-9"));
    assert_eq!(
        extract(&r.body, "id=\"lookup-status\">", "<").as_deref(),
        Some("redeemed")
    );

    // A cashier does not look coupons up here; B's user does not see A's page.
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    assert_eq!(
        cashier
            .get(&format!("/t/{}/coupons?code={}", w.slug, w.coupon_code))
            .await
            .status,
        403
    );
    let stranger = app.client();
    stranger.login(&b.merchant_email, PASSWORD).await;
    assert_eq!(
        stranger
            .get(&format!("/t/{}/coupons?code={}", w.slug, w.coupon_code))
            .await
            .status,
        404
    );
}

// ---- Importing existing codes ------------------------------------------------------------

#[tokio::test]
async fn an_imported_file_is_all_or_nothing_and_its_codes_redeem_at_the_till_and_the_api() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let camp = campaign(&app, &w, "Printed stock", Some(5));
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let path = format!("/t/{}/campaigns/{camp}/import", w.slug);
    let state = |app: &TestApp| {
        let k = coupons::get(&mut app.conn(), &w.scope, camp).unwrap();
        (k.issued_count, k.imported_codes)
    };

    let taken = w.coupon_code.to_lowercase();
    let six: String = (1..=6).map(|i| format!("BULK-{i:04}\n")).collect();
    let bad: Vec<(String, Vec<&str>)> = vec![
        (
            "code,openid\nvip-0001,o_follower_a\nVip - 0001,\n".into(),
            vec!["Line 3, code: appears earlier in the file"],
        ),
        (
            // Already in the database (another campaign of this tenant), typed in lower case.
            format!("code\nNEW-0001\n{taken}\n"),
            vec!["Line 3, code: this code already exists"],
        ),
        (
            // Unknown here: nobody, and tenant B's follower.
            "code,openid\nNEW-0001,o_nobody\nNEW-0002,o_follower_b\nNEW-0003,o_follower_a\n".into(),
            vec![
                "Line 2, openid: no follower with this OpenID",
                "Line 3, openid: no follower with this OpenID",
            ],
        ),
        (
            format!("code\n{six}"),
            vec!["The file has more codes than the campaign"],
        ),
        (
            "code\nGOOD-0001\nab\n".into(),
            vec!["Line 3, code: 4 to 64 visible characters"],
        ),
        (
            "code,extra\nGOOD-0001,x\n".into(),
            vec!["The file has columns Patron does not know"],
        ),
        ("openid\no_follower_a\n".into(), vec!["no code column"]),
        ("\n".into(), vec!["The file has no rows."]),
    ];
    let before = row_counts(&mut app.conn());
    for (file, messages) in &bad {
        let r = c.upload(&path, "codes.csv", file.as_bytes()).await;
        assert_eq!(r.status, 422, "{file}: {}", r.body);
        assert!(r.body.contains("id=\"import-errors\""), "{}", r.body);
        assert!(!r.body.contains("id=\"import-done\""));
        for m in messages {
            assert!(r.body.contains(m), "{m}: {}", r.body);
        }
        assert_eq!(row_counts(&mut app.conn()), before, "{file}");
        assert_eq!(state(&app), (0, 0), "{file}");
    }

    // A good file: a held code, a loose one, and a code tenant B also uses (codes are per
    // tenant).
    let b_code = b.coupon_code.to_lowercase();
    let file = format!("code,openid\nvip-0001, o_follower_a \nVIP 00002,\n{b_code},\n");
    let r = c.upload(&path, "codes.csv", file.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"import-done\""), "{}", r.body);
    assert!(r.body.contains("3 codes imported."), "{}", r.body);
    assert_eq!(count(&app, "coupons"), before_coupons(&before) + 3);
    assert_eq!(state(&app), (3, 3));
    let mut conn = app.conn();
    let held = coupons::by_code(&mut conn, &w.scope, "VIP-0001").unwrap();
    let loose = coupons::by_code(&mut conn, &w.scope, "VIP00002").unwrap();
    let shared = coupons::by_code(&mut conn, &w.scope, &b.coupon_code).unwrap();
    for k in [&held, &loose, &shared] {
        assert_eq!(
            (
                k.campaign_id,
                k.channel.as_str(),
                k.status.as_str(),
                k.issued_by.as_str()
            ),
            (camp, "import", "issued", "merchant a")
        );
        assert!(k.valid_to > patron_store::now() + chrono::Duration::days(9));
    }
    assert_eq!(held.follower_id, Some(w.follower));
    assert_eq!((loose.follower_id, shared.follower_id), (None, None));
    // B's coupon with the same code is still B's alone.
    let bs = coupons::by_code(&mut conn, &b.scope, &b.coupon_code).unwrap();
    assert_eq!(
        (bs.campaign_id, bs.channel.as_str()),
        (b.campaign, "manual")
    );
    drop(conn);
    let page = c.get(&format!("/t/{}/campaigns/{camp}", w.slug)).await;
    assert!(
        page.body.contains("3 codes imported so far."),
        "{}",
        page.body
    );

    // The same codes again (within the supply left): every row is taken, nothing added.
    let before = row_counts(&mut app.conn());
    let again = format!("code\n{b_code}\nvip-0001\n");
    let r = c.upload(&path, "codes.csv", again.as_bytes()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    for line in 2..=3 {
        assert!(
            r.body
                .contains(&format!("Line {line}, code: this code already exists")),
            "{}",
            r.body
        );
    }
    // Three more would pass the supply of five (three issued).
    let r = c
        .upload(
            &path,
            "more.csv",
            b"code\nMORE-0001\nMORE-0002\nMORE-0003\n",
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("more codes than the campaign"),
        "{}",
        r.body
    );
    assert_eq!(row_counts(&mut app.conn()), before);
    assert_eq!(state(&app), (3, 3));
    // Two reach it exactly.
    let r = c
        .upload(&path, "more.csv", b"code\nMORE-0001\nMORE-0002\n")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("2 codes imported."));
    assert_eq!(state(&app), (5, 5));

    // Strangers and cashiers change nothing; an ended campaign takes no more codes.
    let before = row_counts(&mut app.conn());
    let r = c
        .upload(
            &format!("/t/{}/campaigns/{}/import", w.slug, b.campaign),
            "x.csv",
            b"code\nSTRANGER-1\n",
        )
        .await;
    assert_eq!(r.status, 404);
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    let r = cashier.upload(&path, "x.csv", b"code\nCASHIER-1\n").await;
    assert_eq!(r.status, 403);
    let ended = campaign(&app, &w, "Old stock", None);
    coupons::set_status(&mut app.conn(), &w.scope, ended, "ended").unwrap();
    let r = c
        .upload(
            &format!("/t/{}/campaigns/{ended}/import", w.slug),
            "x.csv",
            b"code\nLATE-0001\n",
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("The campaign has ended."), "{}", r.body);
    let mut after = row_counts(&mut app.conn());
    // The ended campaign itself was made by this test.
    after
        .iter_mut()
        .filter(|(n, _)| *n == "campaigns")
        .for_each(|(_, v)| *v -= 1);
    assert_eq!(after, before);

    // Imported codes redeem at the till, typed as printed…
    let till = format!("/t/{}/cashier", w.slug);
    let store = w.store.to_string();
    let r = cashier
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &store), ("scan", "vip - 0001")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"redeem-form\""), "{}", r.body);
    assert!(r.body.contains("o_follower_a"), "the holder is shown");
    let form = r.body.split("id=\"redeem-form\"").nth(1).unwrap();
    let key = extract(form, "name=\"key\" value=\"", "\"").unwrap();
    let scan = extract(form, "name=\"scan\" value=\"", "\"").unwrap();
    assert_eq!(scan, "VIP-0001");
    let r = cashier
        .post(
            &format!("{till}/redeem"),
            &[("store_id", &store), ("scan", &scan), ("key", &key)],
        )
        .await;
    assert!(r.body.contains("id=\"till-done\""), "{}", r.body);
    // …and through the API, in any case; a second redemption is refused.
    let api = |code: &str, key: &str| {
        let (c, t, store) = (&c, w.token.clone(), w.store);
        let path = format!("/api/v1/coupons/{code}/redeem");
        let body = json!({"store_id": store, "idempotency_key": key});
        async move { c.api(Method::POST, &path, &t, Some(body)).await }
    };
    let r = api("vip00002", "pos-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "ok");
    assert_eq!(r.json()["code"], "VIP00002");
    let r = api("VIP00002", "pos-2").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["outcome"], "already_redeemed");
    let mut conn = app.conn();
    for code in ["VIP-0001", "VIP00002"] {
        assert_eq!(
            coupons::by_code(&mut conn, &w.scope, code).unwrap().status,
            "redeemed",
            "{code}"
        );
    }
    // B's coupon with the shared code is untouched.
    assert_eq!(
        coupons::by_code(&mut conn, &b.scope, &b.coupon_code)
            .unwrap()
            .status,
        "issued"
    );
    drop(conn);
    // The lookup shows where an imported code came from and its redemption.
    let r = c.get(&format!("/t/{}/coupons?code=vip-0001", w.slug)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("· imported</dd>"), "{}", r.body);
    assert!(r.body.contains("Redeemed · cashier a"), "{}", r.body);
}

fn before_coupons(counts: &[(&'static str, i64)]) -> i64 {
    counts.iter().find(|(n, _)| *n == "coupons").unwrap().1
}

// ---- Reply rules and QR codes that issue a campaign --------------------------------------

#[tokio::test]
async fn a_reply_rule_issues_only_a_campaign_of_its_own_tenant() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let path = format!("/t/{}/replies", w.slug);
    let page = c.get(&path).await;
    assert!(page.body.contains("id=\"rule-campaign\""), "{}", page.body);
    assert!(page.body.contains(&format!(
        "<option value=\"{}\">Ten off {}</option>",
        w.campaign, w.slug
    )));
    assert!(!page.body.contains(&format!("Ten off {}", b.slug)));

    let rule = |campaign: &str, value: &str| {
        vec![
            ("trigger_kind", "keyword_exact".to_string()),
            ("trigger_value", value.to_string()),
            ("reply_body", "Here is your coupon: {link}".to_string()),
            ("campaign_id", campaign.to_string()),
        ]
    };
    let before = row_counts(&mut app.conn());
    for campaign in [b.campaign.to_string(), "987654321".into(), "ten".into()] {
        let r = c.post(&path, &fields(&rule(&campaign, "coupon"))).await;
        assert_eq!(r.status, 422, "{campaign}: {}", r.body);
        assert!(
            r.body
                .contains("Coupon: not a campaign of this account: choose one from the list"),
            "{}",
            r.body
        );
        assert_eq!(row_counts(&mut app.conn()), before, "{campaign}");
    }
    // A refused rule keeps the chosen campaign selected.
    let r = c
        .post(&path, &fields(&rule(&w.campaign.to_string(), "")))
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains(&format!("<option value=\"{}\" selected>", w.campaign)),
        "{}",
        r.body
    );
    assert_eq!(row_counts(&mut app.conn()), before);

    let r = c
        .post(&path, &fields(&rule(&w.campaign.to_string(), "coupon")))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = c.post(&path, &fields(&rule("", "hello"))).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let rules = patron_store::reply_rules::list(&mut app.conn(), &w.scope).unwrap();
    assert_eq!(rules.len(), 3);
    let with: Vec<Option<i64>> = rules
        .iter()
        .filter(|r| r.id != w.rule)
        .map(|r| r.campaign_id)
        .collect();
    assert!(
        with.contains(&Some(w.campaign)) && with.contains(&None),
        "{with:?}"
    );
    let page = c.get(&path).await;
    assert!(
        page.body.contains(&format!("issues: Ten off {}", w.slug)),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_qr_code_takes_a_campaign_with_its_tag_and_a_foreign_one_changes_nothing() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let path = format!("/t/{}/qr/{}/tag", w.slug, w.qr);
    let qr = |app: &TestApp| {
        let q = patron_store::qr_codes::get(&mut app.conn(), &w.scope, w.qr).unwrap();
        (q.tag_id, q.campaign_id)
    };
    assert_eq!(qr(&app), (Some(w.tag), None));
    let tag = w.tag.to_string();
    let camp = w.campaign.to_string();

    let r = c
        .post(&path, &[("tag_id", &tag), ("campaign_id", &camp)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(qr(&app), (Some(w.tag), Some(w.campaign)));
    let page = follow(&c, &r).await;
    assert!(page.body.contains("Saved."));
    assert!(
        page.body
            .contains(&format!("<option value=\"{}\" selected>", w.campaign)),
        "{}",
        page.body
    );

    // Another tenant's campaign: 404, and the tag cleared in the same form is not cleared.
    let before = row_counts(&mut app.conn());
    let r = c
        .post(
            &path,
            &[("tag_id", ""), ("campaign_id", &b.campaign.to_string())],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(qr(&app), (Some(w.tag), Some(w.campaign)));
    // Another tenant's code: 404.
    let r = c
        .post(
            &format!("/t/{}/qr/{}/tag", w.slug, b.qr),
            &[("tag_id", ""), ("campaign_id", &camp)],
        )
        .await;
    assert_eq!(r.status, 404);
    let theirs = patron_store::qr_codes::get(&mut app.conn(), &b.scope, b.qr).unwrap();
    assert_eq!((theirs.tag_id, theirs.campaign_id), (Some(b.tag), None));
    assert_eq!(row_counts(&mut app.conn()), before);

    // Without the field the campaign stays; empty clears it.
    let r = c.post(&path, &[("tag_id", "")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(qr(&app), (None, Some(w.campaign)));
    let r = c
        .post(&path, &[("tag_id", &tag), ("campaign_id", "")])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(qr(&app), (Some(w.tag), None));
}

// ---- The follower's page, the member card and the till ----------------------------------

/// Gives the world's follower `points` by hand and `stamps` on the world's card.
fn earn_and_stamp(app: &TestApp, w: &World, points: i64, reason: &str, stamps: usize) {
    let mut c = app.conn();
    let post = loyalty::Post {
        kind: loyalty::Kind::Earn,
        points,
        source: "manual",
        source_key: None,
        reason,
        user: None,
        expires_at: None,
    };
    loyalty::post(&mut c, &w.scope, w.follower, &post).unwrap();
    for _ in 0..stamps {
        stamps::stamp(
            &mut c,
            &w.scope,
            w.card,
            w.follower,
            "manual",
            None,
            Default::default(),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn the_follower_page_shows_points_and_stamps_and_its_member_card_opens_the_till() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    earn_and_stamp(&app, &w, 120, "opening", 2);

    // The merchant's preview: a 303 to a fresh signed link.
    let m = app.client();
    m.login(&w.merchant_email, PASSWORD).await;
    let r = m
        .get(&format!("/t/{}/followers/{}/page", w.slug, w.follower))
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let url = r.location.unwrap();
    let prefix = format!("{}/m/{}/", app.base, w.slug);
    assert!(url.starts_with(&prefix), "{url}");
    let path = url.strip_prefix(&app.base).unwrap().to_string();
    // Strangers' followers are 404; a cashier may not preview.
    assert_eq!(
        m.get(&format!("/t/{}/followers/{}/page", w.slug, b.follower))
            .await
            .status,
        404
    );
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    assert_eq!(
        cashier
            .get(&format!("/t/{}/followers/{}/page", w.slug, w.follower))
            .await
            .status,
        403
    );

    // The follower's page, opened by anyone holding the link.
    let anon = app.client();
    let page = anon.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        extract(&page.body, "id=\"member-points\">", "<").as_deref(),
        Some("120")
    );
    assert!(page.body.contains("Coffee card"));
    assert!(page.body.contains("2 / 5"), "{}", page.body);
    assert_eq!(page.body.matches("class=\"slot on\"").count(), 2);
    assert_eq!(page.body.matches("class=\"slot\"").count(), 3);
    assert!(page.body.contains(&format!("{path}/member-card.svg")));
    assert!(page
        .body
        .contains(&patron_domain::coupons::display(&w.coupon_code)));

    // The member card: the QR of the signed payload, nothing else.
    let key = patron_web::ui::cashier::qr_key(&app.state, &w.scope);
    let payload = member_payload(&key, w.follower);
    let svg = anon.get(&format!("{path}/member-card.svg")).await;
    assert_eq!(svg.status, 200);
    assert_eq!(
        svg.headers.get("content-type").unwrap(),
        "image/svg+xml",
        "{:?}",
        svg.headers
    );
    assert_eq!(
        svg.body,
        patron_web::qr_image::svg(&payload, 8).unwrap(),
        "the card encodes member_payload"
    );
    let token = path.rsplit('/').next().unwrap();
    let altered = token.replacen(&format!("{}.", w.follower), &format!("{}.", b.follower), 1);
    assert_ne!(altered, token);
    assert_eq!(
        anon.get(&format!("/m/{}/{altered}/member-card.svg", w.slug))
            .await
            .status,
        404
    );
    assert_eq!(
        anon.get(&format!("/m/{}/{token}/member-card.svg", b.slug))
            .await
            .status,
        404
    );

    // The till reads the card: the member panel with points and the stamp card.
    let till = format!("/t/{}/cashier", w.slug);
    let store = w.store.to_string();
    let r = cashier
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &store), ("scan", &payload)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"till-member\""), "{}", r.body);
    assert!(r.body.contains("o_follower_a"));
    assert_eq!(
        extract(&r.body, "id=\"till-points\">", "<").as_deref(),
        Some("120")
    );
    assert!(r.body.contains("Coffee card</strong> 2 / 5"), "{}", r.body);
    let back = format!("/t/{}/cashier?store={}", w.slug, w.store);
    assert!(r.body.contains(&back), "{}", r.body);

    // A stamp from the panel: at the cashier's store, back to the till.
    let give = format!("/t/{}/followers/{}/stamps", w.slug, w.follower);
    let r = cashier
        .post(
            &give,
            &[
                ("card_id", &w.card.to_string()),
                ("store_id", &store),
                ("back", &back),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some(back.as_str()), "{}", r.body);
    let page = follow(&cashier, &r).await;
    assert!(
        page.body.contains("Stamp added: Coffee card "),
        "{}",
        page.body
    );
    let ev = stamps::events_of(&mut app.conn(), &w.scope, w.follower, 1)
        .unwrap()
        .remove(0);
    assert_eq!(
        (ev.source.as_str(), ev.store_id, ev.user_name.as_str()),
        ("till", Some(w.store), "cashier a")
    );
    // A store that is not the cashier's: refused, no stamp.
    let elsewhere =
        patron_store::stores::create(&mut app.conn(), &w.scope, "Elsewhere", "2 Road").unwrap();
    let before = row_counts(&mut app.conn());
    let r = cashier
        .post(
            &give,
            &[
                ("card_id", &w.card.to_string()),
                ("store_id", &elsewhere.id.to_string()),
                ("back", &back),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(row_counts(&mut app.conn()), before);
    let r = cashier
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &store), ("scan", &payload)],
        )
        .await;
    assert!(r.body.contains("Coffee card</strong> 3 / 5"), "{}", r.body);

    // A switched-off card leaves the follower's page and the till's panel.
    let mut conn = app.conn();
    let card = stamps::get(&mut conn, &w.scope, w.card).unwrap();
    stamps::update(
        &mut conn,
        &w.scope,
        w.card,
        &stamps::CardInput {
            name: card.name,
            stamps_required: card.stamps_required,
            reward_campaign_id: card.reward_campaign_id,
            stamp_on_checkin: false,
            active: false,
        },
    )
    .unwrap();
    drop(conn);
    let page = anon.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Coffee card"), "{}", page.body);
    let r = cashier
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &store), ("scan", &payload)],
        )
        .await;
    assert!(r.body.contains("id=\"till-member\""), "{}", r.body);
    assert!(!r.body.contains("Coffee card"), "{}", r.body);
    assert!(r.body.contains("No stamp cards yet."));

    // Forged cards: the forged answer, a failed lookup counted, nothing else touched.
    let since = patron_store::now() - chrono::Duration::minutes(1);
    let failures = |app: &TestApp| {
        patron_store::throttle::failures_since(
            &mut app.conn(),
            &format!("till:user:{}", w.cashier_id),
            since,
        )
        .unwrap()
        .0
    };
    assert_eq!(failures(&app), 0);
    let before = row_counts(&mut app.conn());
    let b_key = patron_web::ui::cashier::qr_key(&app.state, &b.scope);
    let forged = [
        member_payload(&[7u8; 32], w.follower),
        // B's genuine card is not a card of A.
        member_payload(&b_key, b.follower),
        // A's MAC moved to another follower.
        payload.replacen(
            &format!("PM1.{}.", w.follower),
            &format!("PM1.{}.", b.follower),
            1,
        ),
        format!("PM1.{}", w.follower),
        "PM1.x.y".to_string(),
    ];
    for (i, scan) in forged.iter().enumerate() {
        let r = cashier
            .post(
                &format!("{till}/lookup"),
                &[("store_id", &store), ("scan", scan)],
            )
            .await;
        assert_eq!(r.status, 422, "{scan}: {}", r.body);
        assert!(r.body.contains("id=\"till-problem\""), "{}", r.body);
        assert!(r.body.contains("forged or altered"), "{scan}: {}", r.body);
        assert!(!r.body.contains("id=\"till-member\""));
        assert!(!r.body.contains("o_follower_"), "no follower is named");
        assert_eq!(
            failures(&app),
            i as i64 + 1,
            "{scan} counts as a failed lookup"
        );
    }
    assert_eq!(row_counts(&mut app.conn()), before);
    // Counted like any failed lookup: ten of them and even a genuine card waits.
    for _ in forged.len()..10 {
        cashier
            .post(
                &format!("{till}/lookup"),
                &[("store_id", &store), ("scan", &forged[0])],
            )
            .await;
    }
    let r = cashier
        .post(
            &format!("{till}/lookup"),
            &[("store_id", &store), ("scan", &payload)],
        )
        .await;
    assert!(r.body.contains("Too many failed lookups"), "{}", r.body);
    assert!(!r.body.contains("id=\"till-member\""));
}

#[tokio::test]
async fn the_timeline_shows_points_coupons_and_stamps_between_the_messages() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    earn_and_stamp(&app, &w, 30, "Opening gift", 1);
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let page = c
        .get(&format!("/t/{}/followers/{}", w.slug, w.follower))
        .await;
    assert_eq!(page.status, 200);
    let timeline = page
        .body
        .split("<ol class=\"timeline\">")
        .nth(1)
        .unwrap_or("");
    assert_eq!(
        timeline.matches("class=\"msg loyalty\"").count(),
        3,
        "the points, the world's coupon and the stamp: {timeline}"
    );
    assert!(timeline.contains("+30 points") && timeline.contains("Opening gift"));
    assert!(timeline.contains("Coupon issued: "), "{timeline}");
    assert!(timeline.contains("Stamp on Coffee card"), "{timeline}");
    // Another tenant's follower shows none of it.
    let b = world(&mut app.conn(), "b");
    let theirs = c
        .get(&format!("/t/{}/followers/{}", b.slug, b.follower))
        .await;
    assert_eq!(theirs.status, 404);
}
