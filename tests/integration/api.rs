//! The JSON API: tokens made in the UI, stable error codes, OpenAPI.

use crate::support::*;
use reqwest::Method;

#[tokio::test]
async fn tokens_are_created_in_the_ui_shown_once_and_revocable() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let r = c
        .post(&format!("/t/{}/tokens", w.slug), &[("name", "POS")])
        .await;
    assert_eq!(r.status, 200);
    let token = extract(
        &r.body,
        "<code id=\"new-token\" class=\"secret\">",
        "</code>",
    )
    .expect("the new token is shown");
    assert!(token.starts_with("pat_"));
    let list = c.get(&format!("/t/{}/tokens", w.slug)).await;
    assert!(!list.body.contains(&token), "the token is shown only once");
    // Stored hashed.
    {
        use diesel::prelude::*;
        use patron_store::schema::api_tokens::dsl as t;
        let hashes: Vec<String> = t::api_tokens
            .select(t::token_hash)
            .load(&mut *app.conn())
            .unwrap();
        assert!(hashes.iter().all(|h| h != &token && h.len() == 64));
    }
    let api = app.client();
    let me = api.api(Method::GET, "/api/v1/tenant", &token, None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["slug"], w.slug.as_str());
    assert!(me.body.contains("secrets_set"));

    let id = {
        use diesel::prelude::*;
        use patron_store::schema::api_tokens::dsl as t;
        t::api_tokens
            .filter(t::name.eq("POS"))
            .select(t::id)
            .first::<i64>(&mut *app.conn())
            .unwrap()
    };
    let r = c
        .post(&format!("/t/{}/tokens/{id}/revoke", w.slug), &[])
        .await;
    assert_eq!(r.status, 303);
    let after = api.api(Method::GET, "/api/v1/tenant", &token, None).await;
    assert_eq!(after.status, 401);
    assert_eq!(after.json()["error"]["code"], "unauthorized");
    assert_eq!(after.headers.get("www-authenticate").unwrap(), "Bearer");

    // Revoked by another process (straight in the database) while this one has it
    // cached: refused within the cache epoch's poll, not the cache's lifetime.
    let (other, token2) =
        patron_store::api_tokens::create(&mut app.conn(), &w.scope, "Other", None).unwrap();
    let me = api.api(Method::GET, "/api/v1/tenant", &token2, None).await;
    assert_eq!(me.status, 200, "{}", me.body);
    patron_store::api_tokens::revoke(
        &mut app.conn(),
        &w.scope,
        patron_domain::ApiTokenId(other.id),
    )
    .unwrap();
    until_async(std::time::Duration::from_secs(5), async || {
        let r = api.api(Method::GET, "/api/v1/tenant", &token2, None).await;
        (r.status == 401)
            .then_some(())
            .ok_or(format!("still {}", r.status))
    })
    .await;
}

#[tokio::test]
async fn api_covers_tenant_stores_and_users_with_stable_errors() {
    let app = TestApp::with_mail();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let t = w.token.as_str();
    // No or bad credentials.
    let r = c.get("/api/v1/stores").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert_eq!(
        c.api(Method::GET, "/api/v1/stores", "pat_nope", None)
            .await
            .status,
        401
    );

    let created = c
        .api(
            Method::POST,
            "/api/v1/stores",
            t,
            Some(serde_json::json!({"name": "Airport", "address": "T2"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();
    let dup = c
        .api(
            Method::POST,
            "/api/v1/stores",
            t,
            Some(serde_json::json!({"name": "Airport"})),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json()["error"]["code"], "conflict");
    let invalid = c
        .api(
            Method::POST,
            "/api/v1/stores",
            t,
            Some(serde_json::json!({"name": ""})),
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.json()["error"]["details"][0]["field"], "name");
    let malformed = c
        .http
        .post(format!("{}/api/v1/stores", app.base))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let put = c
        .api(
            Method::PUT,
            &format!("/api/v1/stores/{id}"),
            t,
            Some(serde_json::json!({"name": "Airport T2", "address": "Gate 5"})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.json()["name"], "Airport T2");
    let list = c.api(Method::GET, "/api/v1/stores", t, None).await;
    assert_eq!(list.json()["stores"].as_array().unwrap().len(), 2);
    assert_eq!(
        c.api(Method::GET, "/api/v1/stores/999999", t, None)
            .await
            .status,
        404
    );

    let users = c.api(Method::GET, "/api/v1/users", t, None).await;
    assert_eq!(users.json()["users"].as_array().unwrap().len(), 3);
    let one = c
        .api(
            Method::GET,
            &format!("/api/v1/users/{}", w.cashier_id),
            t,
            None,
        )
        .await;
    assert_eq!(one.json()["role"], "cashier");
    assert_eq!(one.json()["store_ids"][0], w.store);

    let before = row_counts(&mut app.conn());
    let bad = c
        .api(
            Method::POST,
            "/api/v1/invitations",
            t,
            Some(serde_json::json!({"email": "nope", "role": "cashier"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    let bad = bad.json();
    let codes: Vec<&str> = bad["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["invalid_email", "cashier_needs_store"]);
    assert_eq!(row_counts(&mut app.conn()), before);
    let inv = c
        .api(Method::POST, "/api/v1/invitations", t, Some(serde_json::json!({"email": "new.cashier@example.test", "role": "cashier", "store_ids": [id]})))
        .await;
    assert_eq!(inv.status, 201, "{}", inv.body);
    assert_eq!(inv.json()["mail_sent"], true);
    let mail = app.mail().wait_for("new.cashier@example.test", 0);
    assert!(link_in(&mail, "/invite/").starts_with(&app.base));

    let tenant = c
        .api(Method::PUT, "/api/v1/tenant", t, Some(serde_json::json!({"name": "Renamed", "slug": w.slug, "time_zone": "Europe/Berlin"})))
        .await;
    assert_eq!(tenant.status, 200, "{}", tenant.body);
    assert_eq!(tenant.json()["time_zone"], "Europe/Berlin");
    let bad_tz = c
        .api(
            Method::PUT,
            "/api/v1/tenant",
            t,
            Some(serde_json::json!({"name": "X", "slug": w.slug, "time_zone": "Nowhere"})),
        )
        .await;
    assert_eq!(bad_tz.status, 422);
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = TestApp::spawn();
    let r = app.client().get("/api/v1/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/stores/{store_id}"]["put"].is_object());
}

/// The API answers in its own JSON shape even when a request cannot be read at all (a
/// path or query the extractor refuses, a method the path does not take), and a filter
/// the clock cannot compute is an invalid field, not a crash (found by schemathesis).
#[tokio::test]
async fn unreadable_requests_get_the_documented_json_errors() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let call = |m: reqwest::Method, p: &str| {
        let (c, t, p) = (&c, w.token.clone(), p.to_string());
        async move { c.api(m, &p, &t, None).await }
    };
    let r = call(
        reqwest::Method::DELETE,
        "/api/v1/attributes/9223372036854775808",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = call(reqwest::Method::DELETE, "/api/v1/tags/sync").await;
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
    assert_eq!(r.headers["allow"], "POST");
    let r = call(reqwest::Method::PATCH, "/api/v1/stores").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = call(reqwest::Method::GET, "/api/v1/no-such-thing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = call(
        reqwest::Method::GET,
        "/api/v1/followers?active_days=42137133323",
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["details"][0]["field"], "active_days");
    let r = call(reqwest::Method::GET, "/api/v1/followers?subscribed=maybe").await;
    assert_eq!(r.status, 422);
    let r = call(reqwest::Method::GET, "/api/v1/followers?before=x").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_request");
    // Pages keep their error pages.
    let r = c.get("/t/shop-a/followers/not-a-number").await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("<html"));
}
