//! The security fixes: webhook throttling and replay window, client addresses behind a
//! proxy, what an API token may grant, who may move a tenant's WeChat API base, the till's
//! guessing throttle on every path, cashier stores, short imported codes, mail sent after
//! the answer, the password-change throttle, CSRF tokens bound to the session, uploads,
//! and the tenant filter in store writes.

use crate::support::*;
use patron_domain::{AgencyId, AgencyScope};
use patron_store::tenants::{self, TenantInput};
use patron_web::webhook::Rejection;
use reqwest::Method;
use std::time::Duration;

// ---- local helpers -----------------------------------------------------------------------

const WX_TOKEN: &str = "guardedtoken0123";
const WX_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const WX_APPID: &str = "wx2c2769f8efd9abc2";
const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A tenant with a WeChat Token (message mode: the default, safe).
fn wechat_tenant(app: &TestApp, slug: &str) {
    let mut c = app.conn();
    let agency = tenants::create_agency(&mut c, "Guarded agency").unwrap();
    let valid = tenants::validate(&TenantInput {
        name: "Guarded shop".into(),
        slug: slug.into(),
        wx_appid: WX_APPID.into(),
        wx_token: WX_TOKEN.into(),
        wx_aes_key: WX_AES_KEY.into(),
        ..Default::default()
    })
    .unwrap();
    tenants::create(
        &mut c,
        &AgencyScope::system(AgencyId(agency.id)),
        &valid,
        &app.state.secrets,
    )
    .unwrap();
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `GET /wx/{slug}` (server-URL verification); returns status and body.
async fn wx_get(app: &TestApp, slug: &str, good_signature: bool, ts: i64) -> (u16, String) {
    let ts = ts.to_string();
    let nonce = "n";
    let sig = if good_signature {
        patron_wechat::signature::url_signature(WX_TOKEN, &ts, nonce)
    } else {
        "0".repeat(40)
    };
    let r = app
        .client()
        .get(&format!(
            "/wx/{slug}?signature={sig}&timestamp={ts}&nonce={nonce}&echostr=x"
        ))
        .await;
    (r.status, r.body)
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A form POST with the client's CSRF token and extra headers.
async fn post_with_headers(
    c: &Client,
    path: &str,
    headers: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> u16 {
    let token = c.csrf().await;
    let mut all: Vec<(&str, &str)> = vec![("csrf", &token)];
    all.extend_from_slice(fields);
    let mut rb = c
        .http
        .post(format!("{}{path}", c.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&all));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap().status().as_u16()
}

/// Posts owned form fields with the client's CSRF token.
async fn post_owned(c: &Client, path: &str, f: Vec<(&'static str, String)>) -> Resp {
    let fields: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post(path, &fields).await
}

/// The tenant's current settings as a form would carry them (no secrets).
fn tenant_fields(app: &TestApp, w: &World) -> (String, String, String) {
    let t = tenants::get(&mut app.conn(), &w.scope).unwrap();
    (t.name, t.slug, t.time_zone)
}

fn api_base_of(app: &TestApp, w: &World) -> String {
    tenants::get(&mut app.conn(), &w.scope).unwrap().wx_api_base
}

fn coupon_status(app: &TestApp, w: &World, code: &str) -> String {
    patron_store::coupons::by_code(&mut app.conn(), &w.scope, code)
        .unwrap()
        .status
        .to_string()
}

fn unknown_code() -> String {
    patron_domain::coupons::generate(&mut rand::rngs::OsRng, "")
}

fn count_of(counts: &[(&'static str, i64)], name: &str) -> i64 {
    counts.iter().find(|(n, _)| *n == name).unwrap().1
}

/// A campaign of the world's tenant, active.
fn campaign(app: &TestApp, w: &World, name: &str, accepts_short_codes: bool) -> i64 {
    let mut c = app.conn();
    let camp = patron_store::coupons::create(
        &mut c,
        &w.scope,
        &patron_store::coupons::CampaignInput {
            name: name.into(),
            benefit: patron_domain::coupons::Benefit::AmountOff { fen: 500 },
            min_spend_fen: 0,
            validity: patron_domain::coupons::Validity::Relative { days: 7 },
            total_supply: None,
            per_follower_limit: None,
            stores: None,
            terms: String::new(),
            code_prefix: String::new(),
            accepts_short_codes,
        },
    )
    .unwrap();
    patron_store::coupons::set_status(&mut c, &w.scope, camp.id, "active").unwrap();
    camp.id
}

/// The cookies a client's jar sends to the server, by name.
fn jar_cookie(jar: &reqwest::cookie::Jar, base: &str, name: &str) -> String {
    use reqwest::cookie::CookieStore;
    let url: reqwest::Url = base.parse().unwrap();
    let header = jar.cookies(&url).expect("cookies in the jar");
    header
        .to_str()
        .unwrap()
        .split(';')
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {header:?}"))
        .to_string()
}

/// A [`Client`] whose cookie jar the test can read.
fn client_with_jar(app: &TestApp) -> (Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let c = Client {
        http: reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: app.base.clone(),
    };
    (c, jar)
}

// ---- 1. webhook throttle -----------------------------------------------------------------

#[tokio::test]
async fn webhook_guessers_are_throttled_even_once_they_sign_correctly() {
    let app = TestApp::spawn_with(false, |s| {
        s.webhook_max_failures_per_ip = 3;
        s.webhook_max_failures_per_tenant = 100;
    });
    wechat_tenant(&app, "guarded");
    let now = unix_now();
    for i in 0..2 {
        let (status, body) = wx_get(&app, "guarded", false, now).await;
        assert_eq!(status, 401, "wrong signature #{i}: {body}");
    }
    // The failure that reaches the limit answers 429 already.
    let (status, body) = wx_get(&app, "guarded", false, now).await;
    assert_eq!(status, 429, "{body}");
    for _ in 0..2 {
        let (status, body) = wx_get(&app, "guarded", false, now).await;
        assert_eq!(status, 429, "{body}");
    }
    // Locked: even a correct signature is not checked.
    let (status, body) = wx_get(&app, "guarded", true, unix_now()).await;
    assert_eq!(
        status, 429,
        "a correct signature from a locked address: {body}"
    );
    assert!(app.state.metrics.rejected(Rejection::Throttled) > 0);
    assert_eq!(app.state.metrics.rejected(Rejection::BadSignature), 2);
}

#[tokio::test]
async fn a_sender_that_signed_correctly_is_known_and_never_throttled() {
    let app = TestApp::spawn_with(false, |s| {
        s.webhook_max_failures_per_ip = 3;
        s.webhook_max_failures_per_tenant = 100;
    });
    wechat_tenant(&app, "guarded");
    let (status, body) = wx_get(&app, "guarded", true, unix_now()).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "x"),
        "URL verification echoes"
    );
    for i in 0..10 {
        let (status, body) = wx_get(&app, "guarded", false, unix_now()).await;
        assert_eq!(
            status, 401,
            "wrong signature #{i} from a known sender: {body}"
        );
    }
    assert_eq!(app.state.metrics.rejected(Rejection::Throttled), 0);
    assert_eq!(app.state.metrics.rejected(Rejection::BadSignature), 10);
    let (status, _) = wx_get(&app, "guarded", true, unix_now()).await;
    assert_eq!(status, 200);
}

// ---- 2. replay window --------------------------------------------------------------------

#[tokio::test]
async fn a_correct_signature_over_an_old_timestamp_is_refused() {
    let app = TestApp::spawn();
    wechat_tenant(&app, "guarded");
    let (status, body) = wx_get(&app, "guarded", true, unix_now() - 600).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body, "stale_timestamp");
    assert_eq!(app.state.metrics.rejected(Rejection::StaleTimestamp), 1);
    // The same signature scheme over a fresh timestamp passes.
    let (status, body) = wx_get(&app, "guarded", true, unix_now()).await;
    assert_eq!((status, body.as_str()), (200, "x"));
}

// ---- 3. client address behind a proxy ------------------------------------------------------

#[tokio::test]
async fn a_spoofed_left_hop_does_not_dodge_the_per_address_sign_in_throttle() {
    let app = TestApp::spawn_with(false, |s| {
        s.trust_proxy = true;
        s.login_max_per_ip = 3;
        s.login_max_per_account = 100;
    });
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let wrong = [
        ("email", w.admin_email.as_str()),
        ("password", "not it at all"),
    ];
    for i in 0..3 {
        let xff = format!("198.51.100.{}, 203.0.113.5", 10 + i);
        let status = post_with_headers(&c, "/login", &[("X-Forwarded-For", &xff)], &wrong).await;
        assert_eq!(status, 401, "failed sign-in #{i}");
    }
    let status = post_with_headers(
        &c,
        "/login",
        &[("X-Forwarded-For", "192.0.2.77, 203.0.113.5")],
        &wrong,
    )
    .await;
    assert_eq!(status, 429, "the real client 203.0.113.5 is locked");
    let status = post_with_headers(
        &c,
        "/login",
        &[("X-Forwarded-For", "192.0.2.78, 203.0.113.5")],
        &[("email", &w.admin_email), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, 429, "even with the right password");
    // Another real client behind the same proxy is not locked.
    let status =
        post_with_headers(&c, "/login", &[("X-Forwarded-For", "203.0.113.6")], &wrong).await;
    assert_eq!(status, 401);
}

// ---- 4. API tokens and roles ---------------------------------------------------------------

#[tokio::test]
async fn an_api_token_cannot_invite_a_merchant_admin() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let before = row_counts(&mut app.conn());
    let r = c
        .api(
            Method::POST,
            "/api/v1/invitations",
            &w.token,
            Some(serde_json::json!({"email": "x@example.test", "role": "merchant_admin"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "invalid", "{}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before, "no invitation added");
    let r = c
        .api(
            Method::POST,
            "/api/v1/invitations",
            &w.token,
            Some(serde_json::json!({"email": "x@example.test", "role": "marketer"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["role"], "marketer");
    assert_eq!(
        count_of(&row_counts(&mut app.conn()), "invitations"),
        count_of(&before, "invitations") + 1
    );
}

// ---- 5. WeChat API base --------------------------------------------------------------------

#[tokio::test]
async fn only_the_agency_admin_moves_the_wechat_api_base_and_only_to_https() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let (name, slug, tz) = tenant_fields(&app, &w);
    let original = api_base_of(&app, &w);
    let settings = format!("/t/{}/settings", w.slug);
    let form = |base: &'static str| {
        vec![
            ("name", name.clone()),
            ("slug", slug.clone()),
            ("time_zone", tz.clone()),
            ("wx_api_base", base.to_string()),
        ]
    };

    // (a) The merchant admin may not.
    let merchant = app.client();
    merchant.login(&w.merchant_email, PASSWORD).await;
    let r = post_owned(&merchant, &settings, form("https://evil.example")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(api_base_of(&app, &w), original);
    // The same form without the base saves (the refusal was about the base).
    let r = post_owned(&merchant, &settings, form("")).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // (b) Nor may an API token.
    let api = app.client();
    let r = api
        .api(
            Method::PUT,
            "/api/v1/tenant",
            &w.token,
            Some(serde_json::json!({
                "name": name, "slug": slug, "time_zone": tz,
                "wx_api_base": "https://evil.example",
            })),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(api_base_of(&app, &w), original);
    let r = api
        .api(
            Method::PUT,
            "/api/v1/tenant",
            &w.token,
            Some(serde_json::json!({"name": name, "slug": slug, "time_zone": tz})),
        )
        .await;
    assert_eq!(r.status, 200, "the token may save the rest: {}", r.body);

    // (c) The agency admin: https, or loopback only where allowed.
    let admin = app.client();
    admin.login(&w.admin_email, PASSWORD).await;
    let r = post_owned(&admin, &settings, form("http://10.0.0.1")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(api_base_of(&app, &w), original);

    // (e) A new base clears the stored AppSecret unless the request supplies one.
    {
        let mut c = app.conn();
        let valid = tenants::validate(&TenantInput {
            name: name.clone(),
            slug: slug.clone(),
            time_zone: tz.clone(),
            wx_app_secret: APP_SECRET.into(),
            ..Default::default()
        })
        .unwrap();
        tenants::update(&mut c, &w.scope, &valid, &app.state.secrets).unwrap();
        assert!(
            tenants::get(&mut c, &w.scope)
                .unwrap()
                .has_secret()
                .app_secret
        );
    }
    let r = post_owned(&admin, &settings, form("https://other.example")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let t = tenants::get(&mut app.conn(), &w.scope).unwrap();
    assert_eq!(t.wx_api_base, "https://other.example");
    assert!(
        !t.has_secret().app_secret,
        "the AppSecret given for the old base was cleared"
    );
    let mut with_secret = form("https://third.example");
    with_secret.push(("wx_app_secret", APP_SECRET.to_string()));
    let r = post_owned(&admin, &settings, with_secret).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let t = tenants::get(&mut app.conn(), &w.scope).unwrap();
    assert_eq!(t.wx_api_base, "https://third.example");
    assert!(
        t.has_secret().app_secret,
        "supplied with the new base: kept"
    );
}

#[tokio::test]
async fn a_plain_http_loopback_api_base_needs_the_setting() {
    let app = TestApp::spawn_with(false, |s| s.allow_loopback_api_base = false);
    let w = world(&mut app.conn(), "a");
    let (name, slug, tz) = tenant_fields(&app, &w);
    let original = api_base_of(&app, &w);
    let admin = app.client();
    admin.login(&w.admin_email, PASSWORD).await;
    let r = admin
        .post(
            &format!("/t/{}/settings", w.slug),
            &[
                ("name", &name),
                ("slug", &slug),
                ("time_zone", &tz),
                ("wx_api_base", "http://127.0.0.1:9"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(api_base_of(&app, &w), original);
}

// ---- 6. till throttle ----------------------------------------------------------------------

#[tokio::test]
async fn ten_unknown_codes_lock_the_tills_redeem() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.cashier_email, PASSWORD).await;
    let path = format!("/t/{}/cashier/redeem", w.slug);
    let store = w.store.to_string();
    for i in 0..10 {
        let code = unknown_code();
        let r = c
            .post(&path, &[("store_id", &store), ("scan", &code)])
            .await;
        assert_eq!(r.status, 422, "unknown code #{i}");
        assert!(r.body.contains("No coupon with this code."), "{}", r.body);
    }
    let before = row_counts(&mut app.conn());
    let r = c
        .post(&path, &[("store_id", &store), ("scan", &w.coupon_code)])
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("Too many failed lookups. Wait ten minutes."),
        "{}",
        r.body
    );
    assert_eq!(coupon_status(&app, &w, &w.coupon_code), "issued");
    assert_eq!(row_counts(&mut app.conn()), before);
}

#[tokio::test]
async fn ten_unknown_codes_lock_the_apis_validate() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    for i in 0..10 {
        let r = c
            .api(
                Method::GET,
                &format!("/api/v1/coupons/{}", unknown_code()),
                &w.token,
                None,
            )
            .await;
        assert_eq!(r.status, 404, "unknown code #{i}: {}", r.body);
    }
    let r = c
        .api(
            Method::GET,
            &format!("/api/v1/coupons/{}", w.coupon_code),
            &w.token,
            None,
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "too_many_attempts");
    // Redeeming is locked too.
    let before = row_counts(&mut app.conn());
    let r = c
        .api(
            Method::POST,
            &format!("/api/v1/coupons/{}/redeem", w.coupon_code),
            &w.token,
            Some(serde_json::json!({"store_id": w.store})),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(coupon_status(&app, &w, &w.coupon_code), "issued");
    assert_eq!(row_counts(&mut app.conn()), before);
}

// ---- 7. cashier stores ---------------------------------------------------------------------

#[tokio::test]
async fn a_cashier_works_only_at_their_stores_and_voids_only_there() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let store2 = patron_store::stores::create(&mut app.conn(), &w.scope, "Second store", "2 Road")
        .unwrap()
        .id;
    let other = patron_store::coupons::issue(
        &mut app.conn(),
        &w.scope,
        w.campaign,
        Some(w.follower),
        "manual",
        "tests",
    )
    .unwrap()
    .unwrap()
    .code;
    let api = app.client();
    let r = api
        .api(
            Method::POST,
            &format!("/api/v1/coupons/{}/redeem", w.coupon_code),
            &w.token,
            Some(serde_json::json!({"store_id": store2})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(coupon_status(&app, &w, &w.coupon_code), "redeemed");

    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    let before = row_counts(&mut app.conn());
    // Voiding what was redeemed at a store the cashier does not work at.
    let r = cashier
        .post(
            &format!("/t/{}/cashier/void", w.slug),
            &[
                ("store_id", &w.store.to_string()),
                ("code", &w.coupon_code),
                ("reason", "mistake"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(coupon_status(&app, &w, &w.coupon_code), "redeemed");
    // Redeeming at a store that is not theirs.
    let r = cashier
        .post(
            &format!("/t/{}/cashier/redeem", w.slug),
            &[("store_id", &store2.to_string()), ("scan", &other)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Choose a store first."), "{}", r.body);
    assert_eq!(coupon_status(&app, &w, &other), "issued");
    assert_eq!(row_counts(&mut app.conn()), before);

    // The API voiding "at" another tenant's store.
    let r = api
        .api(
            Method::POST,
            &format!("/api/v1/coupons/{}/void", w.coupon_code),
            &w.token,
            Some(serde_json::json!({"store_id": b.store, "reason": "mistake"})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(coupon_status(&app, &w, &w.coupon_code), "redeemed");
    assert_eq!(row_counts(&mut app.conn()), before);
}

// ---- 8. short imported codes ---------------------------------------------------------------

#[tokio::test]
async fn short_imported_codes_need_a_campaign_that_accepts_them() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let strict = campaign(&app, &w, "Strict", false);
    let lenient = campaign(&app, &w, "Lenient", true);
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let file = b"code\nABCD12\n";
    let before = row_counts(&mut app.conn());
    let r = c
        .upload(
            &format!("/t/{}/campaigns/{strict}/import", w.slug),
            "codes.csv",
            file,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before, "no coupon added");
    let r = c
        .upload(
            &format!("/t/{}/campaigns/{lenient}/import", w.slug),
            "codes.csv",
            file,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        count_of(&row_counts(&mut app.conn()), "coupons"),
        count_of(&before, "coupons") + 1
    );
    let imported = patron_store::coupons::by_code(&mut app.conn(), &w.scope, "ABCD12").unwrap();
    assert_eq!(imported.campaign_id, lenient);
}

// ---- 9. forgotten passwords ----------------------------------------------------------------

#[tokio::test]
async fn forgot_password_answers_without_waiting_for_a_silent_mail_server() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Accepts and never writes: an SMTP client waits for a greeting that never comes.
        let mut held = Vec::new();
        for s in silent.incoming() {
            held.push(s);
        }
    });
    let app = TestApp::spawn_with(false, |s| {
        s.mail_transport = patron_mail::Transport::Smtp;
        s.smtp_host = "127.0.0.1".into();
        s.smtp_port = port;
        s.smtp_tls = patron_mail::SmtpTls::None;
        s.mail_from = "Patron <patron@example.test>".into();
    });
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        c.post("/password/forgot", &[("email", &w.admin_email)]),
    )
    .await
    .expect("the answer did not wait for the mail");
    assert_eq!(r.status, 303, "{}", r.body);
}

#[tokio::test]
async fn reset_requests_spend_the_sign_in_budget_of_the_address() {
    let app = TestApp::spawn_with(false, |s| s.login_max_per_ip = 3);
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    for who in [&w.admin_email, &w.merchant_email, &w.marketer_email] {
        let r = c.post("/password/forgot", &[("email", who)]).await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let r = c
        .post(
            "/login",
            &[("email", &w.cashier_email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
}

// ---- 10. password-change throttle ----------------------------------------------------------

#[tokio::test]
async fn guessing_the_current_password_locks_the_password_change() {
    let app = TestApp::spawn_with(false, |s| s.login_max_per_account = 3);
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let hash_of = |app: &TestApp| {
        patron_store::users::by_email(&mut app.conn(), &w.merchant_email)
            .unwrap()
            .unwrap()
            .password_hash
    };
    let before = hash_of(&app);
    let new_pw = "a brand new passphrase 42";
    for i in 0..3 {
        let r = c
            .post(
                "/account/password",
                &[
                    ("current_password", "a wrong guess at it"),
                    ("password", new_pw),
                    ("password_confirm", new_pw),
                ],
            )
            .await;
        assert_eq!(r.status, 422, "wrong current password #{i}: {}", r.body);
    }
    let r = c
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", new_pw),
                ("password_confirm", new_pw),
            ],
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(hash_of(&app), before, "the password is unchanged");
}

// ---- 11. CSRF bound to the session ---------------------------------------------------------

#[tokio::test]
async fn a_csrf_pair_from_another_browser_is_refused_for_a_signed_in_user() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let (a, a_jar) = client_with_jar(&app);
    a.login(&w.merchant_email, PASSWORD).await;
    let a_token = a.csrf().await;
    let a_session = jar_cookie(&a_jar, &app.base, "patron_session");
    let a_csrf = jar_cookie(&a_jar, &app.base, "patron_csrf");

    // The attacker's pair, made without a session.
    let (b, b_jar) = client_with_jar(&app);
    let b_anon_token = b.csrf().await;
    let b_anon_csrf = jar_cookie(&b_jar, &app.base, "patron_csrf");
    // And made under the attacker's own session.
    let (b2, b2_jar) = client_with_jar(&app);
    b2.login(&w.marketer_email, PASSWORD).await;
    let b_signed_token = b2.csrf().await;
    let b_signed_csrf = jar_cookie(&b2_jar, &app.base, "patron_csrf");

    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let revoke = |csrf_cookie: String, token: String| {
        let (raw, base, session) = (raw.clone(), app.base.clone(), a_session.clone());
        async move {
            raw.post(format!("{base}/account/sessions/revoke"))
                .header(
                    "cookie",
                    format!("patron_session={session}; patron_csrf={csrf_cookie}"),
                )
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&[("csrf", &token)]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let before = row_counts(&mut app.conn());
    assert_eq!(
        revoke(b_anon_csrf, b_anon_token).await,
        403,
        "anonymous pair"
    );
    assert_eq!(
        revoke(b_signed_csrf, b_signed_token).await,
        403,
        "another user's pair"
    );
    assert_eq!(row_counts(&mut app.conn()), before);
    assert_eq!(revoke(a_csrf, a_token).await, 303, "the victim's own pair");
}

// ---- 12. uploads ---------------------------------------------------------------------------

#[tokio::test]
async fn the_api_takes_a_followers_file_over_a_mebibyte() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let mut csv = String::from("openid,name\n");
    let mut i = 0u64;
    while csv.len() < 2 * 1024 * 1024 {
        csv.push_str(&format!("o_bulk_import_{i:012},Person {i}\n"));
        i += 1;
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/follower-imports", app.base))
        .bearer_auth(&w.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total_rows"], i);
}

#[tokio::test]
async fn an_upload_must_carry_a_valid_csrf_token_first() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let path = format!("{}/t/{}/followers/import", app.base, w.slug);
    let boundary = "----patron-security-boundary-x8Yq";
    let part = |name: &str, file: bool, value: &str| {
        let disposition = if file {
            format!("form-data; name=\"{name}\"; filename=\"f.csv\"\r\nContent-Type: text/csv")
        } else {
            format!("form-data; name=\"{name}\"")
        };
        format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
    };
    let send = |body: String| {
        let (http, path) = (c.http.clone(), path.clone());
        async move {
            http.post(path)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let csv = "openid,name\no_upload_1,One\n";
    let before = row_counts(&mut app.conn());
    let token = c.csrf().await;
    let file_first = format!(
        "{}{}--{boundary}--\r\n",
        part("file", true, csv),
        part("csrf", false, &token)
    );
    assert_eq!(send(file_first).await, 403, "the file before the token");
    let wrong_first = format!(
        "{}{}--{boundary}--\r\n",
        part("csrf", false, "not-the-token"),
        part("file", true, csv)
    );
    assert_eq!(send(wrong_first).await, 403, "a wrong token first");
    assert_eq!(row_counts(&mut app.conn()), before, "no import recorded");
    // The same file with the right token first is taken.
    let right = format!(
        "{}{}--{boundary}--\r\n",
        part("csrf", false, &token),
        part("file", true, csv)
    );
    assert_eq!(send(right).await, 303);
    assert_eq!(
        count_of(&row_counts(&mut app.conn()), "follower_imports"),
        count_of(&before, "follower_imports") + 1
    );
}

// ---- 13. tenant filter in store writes -----------------------------------------------------

#[test]
fn store_writes_through_one_tenant_never_touch_anothers_rows() {
    use diesel::prelude::*;
    use patron_store::schema::{follower_attributes, follower_tags};
    let app = TestApp::spawn();
    let a = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let mut c = app.conn();
    let counts = |c: &mut patron_store::DbConn| -> (i64, i64) {
        let attrs = follower_attributes::table
            .filter(follower_attributes::follower_id.eq(b.follower))
            .count()
            .get_result(c)
            .unwrap();
        let tags = follower_tags::table
            .filter(follower_tags::follower_id.eq(b.follower))
            .count()
            .get_result(c)
            .unwrap();
        (attrs, tags)
    };
    let before = counts(&mut c);
    assert_eq!(before, (1, 1), "b's follower has a value and a tag");
    // Refusing (an error) would do as well as ignoring: what matters is b's rows.
    let _ = patron_store::attributes::put(&mut c, &a.scope, b.follower, b.attribute, None);
    assert_eq!(counts(&mut c).0, 1, "b's attribute value survived");
    let _ = patron_store::tags::set_for_follower(
        &mut c,
        &a.scope,
        b.follower,
        &[],
        &mut std::collections::HashMap::new(),
    );
    assert_eq!(counts(&mut c), before, "b's tag survived");
}
