//! The API's contract: every answer a test gets from `/api/v1` is checked against the
//! OpenAPI document the server serves (its status must be documented for the operation,
//! and its body must match that answer's schema), so each API test is also a contract
//! test. `every_route_answers_as_documented` makes sure each route is exercised.

use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

struct Contract {
    doc: Value,
    /// Compiled validators by (operation path, method, status).
    validators: Mutex<HashMap<(String, String, String), std::sync::Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static C: OnceLock<Contract> = OnceLock::new();
    C.get_or_init(|| Contract {
        doc: patron_web::api::openapi::build(),
        validators: Mutex::new(HashMap::new()),
    })
}

/// The document's path template that `path` (under `/api/v1`, without the query) is an
/// instance of, as the router picks it: literal segments win over parameters
/// (`/followers/summary` over `/followers/{follower_id}`, whatever the method).
fn template(doc: &Value, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut best: Option<(usize, String)> = None;
    for t in doc["paths"].as_object()?.keys() {
        let tsegs: Vec<&str> = t.trim_matches('/').split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literal = 0;
        let fits = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if fits && best.as_ref().is_none_or(|(n, _)| literal > *n) {
            best = Some((literal, t.clone()));
        }
    }
    best.map(|(_, t)| t)
}

/// Panics unless the answer is one the document describes for this request. Requests to
/// paths or methods the document does not have (405 probes, say) are not checked.
pub fn check(method: &str, url_path: &str, status: u16, body: &str) {
    let c = contract();
    let method = method.to_ascii_lowercase();
    let Some(path) = url_path.split('?').next().unwrap().strip_prefix("/api/v1") else {
        return;
    };
    let Some(t) = template(&c.doc, path).filter(|t| c.doc["paths"][t][&method].is_object()) else {
        return;
    };
    let status_s = status.to_string();
    let answer = &c.doc["paths"][&t][&method]["responses"][&status_s];
    assert!(
        answer.is_object(),
        "{method} {url_path} answered {status}, which the OpenAPI document does not list for {method} {t}: {body}"
    );
    let Some(schema) = answer["content"]["application/json"]["schema"].as_object() else {
        assert!(
            body.is_empty(),
            "{method} {url_path} answered {status} with a body the document does not describe: {body}"
        );
        return;
    };
    let key = (t.clone(), method.clone(), status_s);
    let validator = {
        let mut cache = c.validators.lock().unwrap();
        cache
            .entry(key)
            .or_insert_with(|| {
                // The answer's schema with the document's components beside it, so its
                // `#/components/schemas/…` references resolve.
                let root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": c.doc["components"],
                    "allOf": [Value::Object(schema.clone())],
                });
                std::sync::Arc::new(
                    jsonschema::validator_for(&root)
                        .unwrap_or_else(|e| panic!("the schema of {method} {t} {status}: {e}")),
                )
            })
            .clone()
    };
    let value: Value = serde_json::from_str(body).unwrap_or_else(|e| {
        panic!("{method} {url_path} answered {status} with a body that is not JSON ({e}): {body}")
    });
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {url_path} answered {status} with a body that does not match the document's schema for {method} {t}:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
}

/// Calls every API route once with what a client would send, each answered with a 2xx
/// that `check` (inside `Client::api`) matched against its schema; the deletes come last.
#[tokio::test]
async fn every_route_answers_as_documented() {
    use crate::support::*;
    use reqwest::Method as M;
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let sim = crate::outbound::sim();
    crate::outbound::connect(&app, &w, &sim);
    let c = app.client();
    let doc = &contract().doc;
    let seen = std::cell::RefCell::new(BTreeSet::new());
    let call = async |m: M, p: &str, body: Option<Value>| -> Value {
        let r = c
            .api(m.clone(), &format!("/api/v1{p}"), &w.token, body)
            .await;
        assert!(
            (200..300).contains(&r.status),
            "{m} {p} answered {}: {}",
            r.status,
            r.body
        );
        let t = template(doc, p.split('?').next().unwrap()).unwrap();
        seen.borrow_mut()
            .insert((m.as_str().to_ascii_lowercase(), t));
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    };
    let (f, code) = (w.follower, urlencoding::encode(&w.coupon_code).into_owned());

    call(M::GET, "/tenant", None).await;
    let tenant = call(M::GET, "/tenant", None).await;
    call(M::GET, "/stores", None).await;
    let store = call(
        M::POST,
        "/stores",
        Some(json!({"name": "Second", "address": "2 Road"})),
    )
    .await;
    let sid = store["id"].as_i64().unwrap();
    call(M::GET, &format!("/stores/{sid}"), None).await;
    call(
        M::PUT,
        &format!("/stores/{sid}"),
        Some(json!({"name": "Second store"})),
    )
    .await;
    let users = call(M::GET, "/users", None).await;
    let uid = users["users"][0]["id"].as_i64().unwrap();
    call(M::GET, &format!("/users/{uid}"), None).await;
    call(
        M::POST,
        "/invitations",
        Some(json!({"email": "new@example.test", "role": "marketer"})),
    )
    .await;

    call(
        M::GET,
        "/followers?subscribed=yes&q=o_&active_days=30",
        None,
    )
    .await;
    call(M::GET, "/followers/summary", None).await;
    call(M::GET, &format!("/followers/{f}"), None).await;
    call(
        M::PUT,
        &format!("/followers/{f}"),
        Some(json!({"name": "Ann", "birthday": "1990-02-03"})),
    )
    .await;
    call(M::GET, &format!("/followers/{f}/messages"), None).await;
    call(
        M::POST,
        &format!("/followers/{f}/notes"),
        Some(json!({"body": "Likes tea"})),
    )
    .await;
    call(M::GET, &format!("/followers/{f}/notes"), None).await;
    call(
        M::POST,
        &format!("/followers/{f}/messages"),
        Some(json!({"messages": [{"type": "text", "text": "Hi"}]})),
    )
    .await;

    call(M::GET, "/reply-rules", None).await;
    let rule = call(
        M::POST,
        "/reply-rules",
        Some(json!({
            "trigger_kind": "keyword_exact", "trigger_value": "hours", "reply_text": "9 to 5",
            "window": {"days": 127, "start": 0, "end": 1440}
        })),
    )
    .await;
    call(M::GET, "/tags", None).await;
    let tag = call(M::POST, "/tags", Some(json!({"name": "Tea"}))).await;
    let tid = tag["id"].as_i64().unwrap();
    call(
        M::POST,
        &format!("/tags/{tid}/followers"),
        Some(json!({"action": "add", "follower_ids": [f]})),
    )
    .await;
    call(
        M::POST,
        &format!("/tags/{tid}/followers"),
        Some(json!({"action": "remove", "filter": {"subscribed": "yes"}})),
    )
    .await;
    call(M::POST, "/tags/sync", None).await;

    call(M::GET, "/attributes", None).await;
    let attr = call(
        M::POST,
        "/attributes",
        Some(json!({"key": "shoe", "label": "Shoe size", "kind": "number"})),
    )
    .await;
    call(
        M::PUT,
        &format!("/followers/{f}/attributes"),
        Some(json!({"values": {"shoe": "42"}})),
    )
    .await;
    call(M::GET, &format!("/followers/{f}/attributes"), None).await;
    call(M::GET, "/segments", None).await;
    let seg = call(M::POST, "/segments", Some(json!({"name": "Big feet", "filter": {"attr": attr["id"], "attr_op": "gt", "attr_value": "40"}}))).await;
    call(M::GET, &format!("/segments/{}/followers", seg["id"]), None).await;

    let csv = format!("openid,name\n{},Imported\nnew_one,New\n", "o_follower_a");
    let imp = {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/follower-imports", app.base))
            .bearer_auth(&w.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
        check("POST", "/api/v1/follower-imports", status, &body);
        assert_eq!(status, 201, "{body}");
        seen.borrow_mut()
            .insert(("post".into(), "/follower-imports".into()));
        serde_json::from_str::<Value>(&body).unwrap()
    };
    call(M::GET, &format!("/follower-imports/{}", imp["id"]), None).await;
    call(
        M::POST,
        &format!("/follower-imports/{}/confirm", imp["id"]),
        None,
    )
    .await;

    call(M::GET, "/qr-codes", None).await;
    let qr = call(
        M::POST,
        "/qr-codes",
        Some(json!({"scene": "table-1", "label": "Table 1", "permanent": true})),
    )
    .await;
    call(M::GET, &format!("/qr-codes/{}", qr["id"]), None).await;
    call(
        M::PUT,
        &format!("/qr-codes/{}", qr["id"]),
        Some(json!({"tag_id": tid})),
    )
    .await;
    call(M::GET, "/menu", None).await;
    call(M::PUT, "/menu", Some(json!({"publish": true, "menu": {"button": [
        {"type": "click", "name": "Hours", "key": "HOURS"},
        {"name": "More", "sub_button": [{"type": "view", "name": "Site", "url": "https://example.com/"}]}
    ]}}))).await;
    call(M::GET, "/menu", None).await;

    call(M::GET, "/loyalty/program", None).await;
    call(
        M::PUT,
        "/loyalty/program",
        Some(json!({
            "subscribe_points": 10, "checkin_keyword": "checkin", "checkin_points": 1,
            "checkin_reply": "Checked in", "checkin_again_reply": "Already", "points_per_yuan": 1,
            "expiry_days": 365
        })),
    )
    .await;
    call(
        M::POST,
        &format!("/followers/{f}/points"),
        Some(json!({"kind": "earn", "points": 50, "idempotency_key": "k1"})),
    )
    .await;
    call(M::GET, &format!("/followers/{f}/points"), None).await;
    call(M::GET, "/stamp-cards", None).await;
    call(
        M::POST,
        "/stamp-cards",
        Some(json!({"name": "Tea card", "stamps_required": 3, "reward_campaign_id": w.campaign})),
    )
    .await;
    call(
        M::POST,
        &format!("/followers/{f}/stamps"),
        Some(json!({"card_id": w.card})),
    )
    .await;

    call(M::GET, "/campaigns", None).await;
    let camp = call(
        M::POST,
        "/campaigns",
        Some(json!({
            "name": "Five off", "benefit": {"kind": "amount_off", "fen": 500},
            "validity": {"kind": "relative", "days": 7}, "status": "active"
        })),
    )
    .await;
    call(M::GET, &format!("/campaigns/{}", camp["id"]), None).await;
    call(
        M::POST,
        &format!("/campaigns/{}/coupons", camp["id"]),
        Some(json!({"follower_id": f})),
    )
    .await;
    call(
        M::POST,
        &format!("/campaigns/{}/bulk", camp["id"]),
        Some(json!({"tag_id": w.tag})),
    )
    .await;
    call(
        M::GET,
        &format!("/coupons/{code}?store_id={}", w.store),
        None,
    )
    .await;
    call(
        M::POST,
        &format!("/coupons/{code}/redeem"),
        Some(json!({"store_id": w.store, "idempotency_key": "r1"})),
    )
    .await;
    call(
        M::POST,
        &format!("/coupons/{code}/void"),
        Some(json!({"store_id": w.store, "reason": "Wrong coupon"})),
    )
    .await;

    // Broadcasts: draft, schedule now (today's slot), the calendar, one discarded.
    call(M::GET, "/broadcasts", None).await;
    let bc = call(
        M::POST,
        "/broadcasts",
        Some(json!({"title": "Soup week", "message": {"kind": "text", "text": "Hot soup"}, "audience": {"kind": "all"}})),
    )
    .await;
    call(M::GET, &format!("/broadcasts/{}", bc["id"]), None).await;
    let scheduled = call(
        M::POST,
        &format!("/broadcasts/{}/schedule", bc["id"]),
        Some(json!({})),
    )
    .await;
    assert_eq!(scheduled["status"], "scheduled");
    let slots = call(M::GET, "/broadcast-slots", None).await;
    assert!(slots["slots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["broadcast_id"] == bc["id"]));
    call(
        M::POST,
        &format!("/broadcasts/{}/cancel", w.broadcast),
        None,
    )
    .await;

    // WeChat Pay: the settings (keys write-only), a payment the till expects.
    let before = call(M::GET, "/pay-settings", None).await;
    assert!(before["settings"].is_null());
    let saved = call(
        M::PUT,
        "/pay-settings",
        Some(json!({"mch_id": "1900000109", "apiv2_key": "192006250b4c09247ec02edce69f6a2d"})),
    )
    .await;
    assert_eq!(saved["settings"]["apiv2_key_set"], true);
    assert!(
        !saved.to_string().contains("192006250b4c"),
        "a key was shown"
    );
    let expected =
        patron_store::payments::expect(&mut app.conn(), &w.scope, "ORDER-1", 1_200, None, None)
            .unwrap();
    let list = call(M::GET, "/payments", None).await;
    assert_eq!(list["payments"][0]["out_trade_no"], "ORDER-1");
    call(M::GET, &format!("/payments/{}", expected.id), None).await;

    // Reconciliation: a trade bill sent as CSV (a raw body, so not through `call`),
    // reconciled here as its job would, then the run, the exceptions and a resolution.
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/reconciliation/bills?name=day.csv",
            app.base
        ))
        .bearer_auth(&w.token)
        .header("content-type", "text/csv")
        .body(crate::reconcile::sample_bill())
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    check("POST", "/api/v1/reconciliation/bills", status, &body);
    assert_eq!(status, 202, "{body}");
    seen.borrow_mut()
        .insert(("post".into(), "/reconciliation/bills".into()));
    let bill: Value = serde_json::from_str(&body).unwrap();
    let bill_id = bill["bill"]["id"].as_i64().unwrap();
    patron_app::bills::reconcile_file(&app.state.pool, &w.scope, bill_id, &mut |_, _| {}).unwrap();
    let done = call(M::GET, &format!("/reconciliation/bills/{bill_id}"), None).await;
    assert_eq!(done["bill"]["state"], "done", "{done}");
    let runs = call(M::GET, "/reconciliation/runs?limit=5", None).await;
    let run_id = runs["runs"][0]["id"].as_i64().unwrap();
    assert_eq!(Some(run_id), done["bill"]["run_id"].as_i64());
    let run = call(M::GET, &format!("/reconciliation/runs/{run_id}"), None).await;
    let missing = run["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["category"] == "missing_here")
        .expect("the sample bill's order is unknown here")["id"]
        .as_i64()
        .unwrap();
    let open = call(M::GET, "/reconciliation/exceptions", None).await;
    assert!(open["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == missing));
    let resolved = call(
        M::POST,
        &format!("/reconciliation/exceptions/{missing}/resolve"),
        Some(json!({"how": "write_off", "reason": "A test order"})),
    )
    .await;
    assert_eq!(resolved["state"], "written_off");

    // Last: a replacement without the WeChat fields disconnects the simulator.
    call(
        M::PUT,
        "/tenant",
        Some(json!({"name": "Renamed", "slug": tenant["slug"]})),
    )
    .await;
    call(M::DELETE, &format!("/reply-rules/{}", rule["id"]), None).await;
    call(M::DELETE, &format!("/segments/{}", seg["id"]), None).await;
    call(M::DELETE, &format!("/attributes/{}", attr["id"]), None).await;
    call(M::DELETE, &format!("/tags/{tid}"), None).await;

    let missing: Vec<String> = patron_web::routes::ROUTES
        .iter()
        .filter(|r| r.access == patron_web::routes::Access::Token)
        .map(|r| {
            (
                r.method.to_string(),
                r.path.strip_prefix("/api/v1").unwrap().to_string(),
            )
        })
        .filter(|k| !seen.borrow().contains(k))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes this test does not exercise: {missing:?}"
    );
    app.settle();
}

#[test]
#[should_panic(expected = "does not match the document's schema")]
fn a_body_of_the_wrong_shape_fails_the_check() {
    check(
        "GET",
        "/api/v1/stores/7",
        200,
        r#"{"id": "seven", "name": 3}"#,
    );
}

#[test]
#[should_panic(expected = "does not list")]
fn an_undocumented_status_fails_the_check() {
    check("DELETE", "/api/v1/tags/7", 201, "{}");
}

#[test]
fn literal_segments_win_over_parameters() {
    let doc = &contract().doc;
    assert_eq!(
        template(doc, "/followers/summary").unwrap(),
        "/followers/summary"
    );
    assert_eq!(
        template(doc, "/followers/12").unwrap(),
        "/followers/{follower_id}"
    );
    assert_eq!(template(doc, "/tags/sync").unwrap(), "/tags/sync");
    assert!(template(doc, "/nowhere").is_none());
}
