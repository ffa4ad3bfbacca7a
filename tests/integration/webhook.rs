//! The WeChat webhook against an independent client (wechatpy from PyPI) in all three
//! message modes: every message and event type, retries, rejections, the archive.

use crate::support::*;
use diesel::prelude::*;
use patron_domain::replies::Trigger;
use patron_domain::TenantScope;
use patron_store::schema::{followers, messages};
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "spamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx2c2769f8efd9abc2";
const ORIGINAL_ID: &str = "gh_10f6c3c3ac5a";

/// A tenant in plaintext mode, for the tests that push plaintext.
fn wechat_tenant(app: &TestApp, slug: &str) -> TenantScope {
    wechat_tenant_in(app, slug, "plain")
}

/// A tenant connected to WeChat in message mode `mode` (plain, compatible or safe).
fn wechat_tenant_in(app: &TestApp, slug: &str, mode: &str) -> TenantScope {
    let mut c = app.conn();
    let agency = patron_store::tenants::create_agency(&mut c, "WeChat agency").unwrap();
    let valid = patron_store::tenants::validate(&patron_store::tenants::TenantInput {
        name: "Tea House".into(),
        slug: slug.into(),
        wx_message_mode: mode.into(),
        wx_appid: APPID.into(),
        wx_original_id: ORIGINAL_ID.into(),
        wx_token: TOKEN.into(),
        wx_aes_key: AES_KEY.into(),
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
    let scope = TenantScope::system(t.tenant_ref());
    for (trigger, text) in [
        (Trigger::Subscribe(None), "Welcome!"),
        (
            Trigger::Subscribe(Some("store7".into())),
            "Welcome to store 7!",
        ),
        (Trigger::KeywordExact("hours".into()), "We open 9:00-21:00."),
        (Trigger::Click("MENU_HOURS".into()), "9:00-21:00 every day."),
        (Trigger::Default, "Thanks, we got your message."),
    ] {
        patron_store::reply_rules::create(&mut c, &scope, &trigger, text, 0).unwrap();
    }
    scope
}

fn run_client(app: &TestApp, slug: &str, mode: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("python3")
        .arg(root.join("tests/interop/wechat_client.py"))
        .args([
            "--base",
            &app.base,
            "--slug",
            slug,
            "--token",
            TOKEN,
            "--aes-key",
            AES_KEY,
        ])
        .args([
            "--appid",
            APPID,
            "--original-id",
            ORIGINAL_ID,
            "--mode",
            mode,
        ])
        .output()
        .expect("python3 with wechatpy (tests/requirements.txt) is required");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wechatpy client ({mode}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// Each mode against a tenant configured for it; the client also checks the refusals:
/// a push in the other mode (403; compatible takes plaintext too), a replayed timestamp.
#[test]
fn wechatpy_talks_to_the_webhook_in_every_mode_and_each_push_is_stored_once() {
    let app = TestApp::spawn();
    for mode in ["plain", "compatible", "safe"] {
        let slug = format!("tea-{mode}");
        let scope = wechat_tenant_in(&app, &slug, mode);
        let report = run_client(&app, &slug, mode);
        let user = report["user"].as_str().unwrap().to_string();
        let sent = report["sent"]["messages"].as_i64().unwrap()
            + report["sent"]["events"].as_i64().unwrap();
        let mut c = app.conn();
        let fid: i64 = followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::openid.eq(&user))
            .select(followers::id)
            .first(&mut *c)
            .unwrap();
        let stored: i64 = messages::table
            .filter(messages::follower_id.eq(fid))
            .count()
            .get_result(&mut *c)
            .unwrap();
        // Every distinct push once: triple deliveries and refused pushes add nothing.
        assert_eq!(stored, sent, "{mode}: archive rows");
        // Job reports are archived without a follower (their sender is WeChat itself).
        let system: i64 = messages::table
            .filter(messages::tenant_id.eq(scope.tenant_id().0))
            .filter(messages::follower_id.is_null())
            .count()
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(system, report["sent"]["system"].as_i64().unwrap(), "{mode}");
        let (subscribed, count, scene, qr): (bool, i64, Option<String>, Option<String>) =
            followers::table
                .find(fid)
                .select((
                    followers::subscribed,
                    followers::subscribe_count,
                    followers::subscribe_scene,
                    followers::qr_scene,
                ))
                .first(&mut *c)
                .unwrap();
        assert!(subscribed, "{mode}: re-subscribed after the unsubscribe");
        let mut conn = app.conn();
        assert_eq!(
            patron_store::followers::count(&mut conn, &scope).unwrap(),
            patron_store::followers::count_by_scan(&mut conn, &scope).unwrap(),
            "{mode}: counts kept by the triggers agree"
        );
        assert_eq!(count, 2, "{mode}: two follows");
        // First touch: the first follow was a plain one, so no QR attribution.
        assert_eq!(
            (scene.as_deref(), qr),
            (Some("ADD_SCENE_OTHERS"), None),
            "{mode}"
        );
        // The passive reply is archived with the message it answered.
        let (content, reply): (Option<String>, Option<String>) = messages::table
            .filter(messages::follower_id.eq(fid))
            .filter(messages::msg_type.eq("text"))
            .order(messages::id.asc())
            .select((messages::content, messages::reply))
            .first(&mut *c)
            .unwrap();
        assert_eq!(content.as_deref(), Some("hours"));
        assert!(reply.unwrap().contains("We open 9:00-21:00."));
        // Unknown types and elements are kept verbatim.
        let body: String = messages::table
            .filter(messages::follower_id.eq(fid))
            .filter(messages::msg_type.eq("miniprogrampage"))
            .select(messages::body)
            .first(&mut *c)
            .unwrap();
        assert!(body.contains("<NewField>kept</NewField>"));
    }
    // On PostgreSQL the plain pushes (messages, clicks) were answered from the ingest
    // journal, and every one of them reached the database; SQLite has no journal.
    let w = app.state.ingest.stats();
    if app.state.pool.backend() == patron_store::Backend::Postgres {
        assert!(w.journaled > 0, "plain pushes go through the journal");
        assert_eq!(w.journal_applied, w.journaled);
    } else {
        assert_eq!((w.journaled, w.journal_applied), (0, 0));
    }
    let m = &app.state.metrics;
    use patron_web::webhook::Rejection;
    assert_eq!(
        m.rejected(Rejection::BadSignature),
        3 + 3,
        "one bad push and one bad URL check per mode"
    );
    assert_eq!(m.rejected(Rejection::TooLarge), 3);
    assert_eq!(m.rejected(Rejection::UnknownTenant), 3);
    assert_eq!(m.rejected(Rejection::AppIdMismatch), 2);
    assert_eq!(
        m.rejected(Rejection::WrongMode),
        2,
        "plaintext to the safe tenant, encrypted to the plain one"
    );
    assert_eq!(
        m.rejected(Rejection::StaleTimestamp),
        3,
        "one replayed push per mode"
    );
    // The client made good requests first, so its address is known: no failure of its
    // was counted towards a lock.
    assert_eq!(m.rejected(Rejection::Throttled), 0);
    assert_eq!(
        m.duplicates.load(std::sync::atomic::Ordering::Relaxed),
        3 * 4,
        "two retries each of two pushes per mode"
    );
    let text = m.render();
    assert!(text.contains("reason=\"bad_signature\"} 6"), "{text}");
}

#[tokio::test]
async fn the_metrics_endpoint_and_unknown_tenants() {
    let app = TestApp::spawn();
    let c = app.client();
    let r = c
        .get("/wx/nobody?signature=x&timestamp=1&nonce=2&echostr=3")
        .await;
    assert_eq!(r.status, 404);
    let m = c.get("/metrics").await;
    assert!(m
        .body
        .contains("patron_webhook_pushes_total{outcome=\"rejected\",reason=\"unknown_tenant\"} 1"));
    // A refused push never reaches the ingest writers.
    assert!(
        m.body.contains("\npatron_ingest_pushes_total 0\n"),
        "{}",
        m.body
    );
    assert!(m.body.contains("\npatron_ingest_failed_batches_total 0\n"));
    assert!(m.body.contains("\npatron_ingest_journaled_total 0\n"));
}

#[test]
fn a_tenant_without_wechat_settings_is_not_an_endpoint() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let r = app
            .client()
            .get(&format!(
                "/wx/{}?signature=x&timestamp=1&nonce=2&echostr=3",
                w.slug
            ))
            .await;
        assert_eq!(r.status, 404);
    });
    assert_eq!(
        app.state
            .metrics
            .rejected(patron_web::webhook::Rejection::NotConfigured),
        1
    );
}

/// A plaintext push signed as WeChat signs it, from Rust; returns the answer's body.
async fn plain_push(app: &TestApp, slug: &str, msg_id: u64, text: &str) -> String {
    push_answer(app, slug, msg_id, text).await.1
}

/// The same push; returns the answer's status and body.
async fn push_answer(app: &TestApp, slug: &str, msg_id: u64, text: &str) -> (u16, String) {
    let (ts, nonce) = (&wx_timestamp(), "486452656");
    let sig = patron_wechat::signature::url_signature(TOKEN, ts, nonce);
    let body = format!(
        "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[o_rust]]></FromUserName>\
         <CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    );
    let r = app
        .client()
        .http
        .post(format!(
            "{}/wx/{slug}?signature={sig}&timestamp={ts}&nonce={nonce}",
            app.base
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_rule_added_in_the_ui_answers_the_next_push() {
    let app = TestApp::spawn();
    let scope = wechat_tenant(&app, "noodles");
    add_member(
        &app,
        &scope,
        "m@noodles.test",
        patron_domain::Role::Marketer,
    );
    let first = plain_push(&app, "noodles", 1, "ping").await;
    assert!(first.contains("Thanks, we got your message."), "{first}");
    let ui = app.client();
    ui.login("m@noodles.test", PASSWORD).await;
    let r = ui
        .post(
            "/t/noodles/replies",
            &[
                ("trigger_kind", "keyword_exact"),
                ("trigger_value", "ping"),
                ("reply_body", "pong"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let second = plain_push(&app, "noodles", 2, "ping").await;
    assert!(
        second.contains("<Content><![CDATA[pong]]></Content>"),
        "the cached rules were refreshed: {second}"
    );
    // A retry of the first push still gets the first answer.
    let again = plain_push(&app, "noodles", 1, "ping").await;
    assert_eq!(again, first);
}

#[tokio::test]
async fn concurrent_deliveries_are_stored_once_each_with_one_answer() {
    let app = TestApp::spawn();
    let scope = wechat_tenant(&app, "rush");
    // 40 retries of one message and 40 distinct messages, all at once.
    let mut tasks = Vec::new();
    for i in 0..80u64 {
        let msg_id = if i % 2 == 0 { 5_000 } else { 6_000 + i };
        let app_base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let (ts, nonce) = (&wx_timestamp(), "486452656");
            let sig = patron_wechat::signature::url_signature(TOKEN, ts, nonce);
            let text = if msg_id == 5_000 { "hours".to_string() } else { format!("m{msg_id}") };
            let body = format!(
                "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><FromUserName><![CDATA[o_{}]]></FromUserName>\
                 <CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>",
                i % 7
            );
            reqwest::Client::new()
                .post(format!("{app_base}/wx/rush?signature={sig}&timestamp={ts}&nonce={nonce}"))
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let retried: Vec<&String> = answers.iter().step_by(2).collect();
    assert!(retried.iter().all(|a| a.contains("We open 9:00-21:00.")));
    assert!(
        retried.windows(2).all(|w| w[0] == w[1]),
        "every retry got the very same reply"
    );
    let mut c = app.conn();
    let stored: i64 = messages::table
        .filter(messages::tenant_id.eq(scope.tenant_id().0))
        .count()
        .get_result(&mut *c)
        .unwrap();
    assert_eq!(stored, 41);
    let people: i64 = followers::table
        .filter(followers::tenant_id.eq(scope.tenant_id().0))
        .count()
        .get_result(&mut *c)
        .unwrap();
    assert_eq!(people, 7);
}

/// The messages stored for one tenant, by delivery key (read without waiting for the
/// ingest journal to drain).
fn stored_keys(app: &TestApp, scope: &TenantScope) -> Vec<String> {
    messages::table
        .filter(messages::tenant_id.eq(scope.tenant_id().0))
        .select(messages::dedupe_key.assume_not_null())
        .order(messages::dedupe_key.asc())
        .load(&mut app.state.pool.get().unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_the_database_refuses_is_stored_once_it_accepts_again() {
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn();
    let scope = wechat_tenant(&app, "refusing");
    let mut c = app.state.pool.get().unwrap();
    let postgres = app.state.pool.backend() == patron_store::Backend::Postgres;
    // The archive refuses every row until the trigger is dropped (the test's own schema
    // or database). On PostgreSQL a sequence, which no rollback undoes, counts refusals.
    c.batch_execute(if postgres {
        "CREATE SEQUENCE refusals;
         CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM nextval('refusals'); RAISE EXCEPTION 'refused for the test'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse();"
    } else {
        "CREATE TRIGGER refuse BEFORE INSERT ON messages
         BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;"
    })
    .unwrap();

    let first = push_answer(&app, "refusing", 1, "hours").await;
    if postgres {
        // Answered from the journal, and tried again while the database refuses it.
        assert_eq!(first.0, 200);
        assert!(first.1.contains("We open 9:00-21:00."), "{}", first.1);
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let refused: Count = diesel::sql_query(
                "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM refusals",
            )
            .get_result(&mut *c)
            .unwrap();
            if refused.n >= 3 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the writers did not try again: {} refusals",
                refused.n
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(stored_keys(&app, &scope).is_empty());
        assert!(!app.state.ingest.settle(std::time::Duration::from_millis(1)));
    } else {
        // Stored before answered: refused, not acknowledged, so WeChat will deliver again.
        assert_eq!(first.0, 500, "{}", first.1);
        assert!(stored_keys(&app, &scope).is_empty());
    }

    if postgres {
        c.batch_execute("DROP TRIGGER refuse ON messages").unwrap();
    } else {
        c.batch_execute("DROP TRIGGER refuse").unwrap();
        // WeChat's retry of the push nobody acknowledged.
        let again = push_answer(&app, "refusing", 1, "hours").await;
        assert_eq!(again.0, 200);
        assert!(again.1.contains("We open 9:00-21:00."), "{}", again.1);
    }
    app.settle();
    assert_eq!(stored_keys(&app, &scope), vec!["msg:1".to_string()]);
    // A retry now is a duplicate with the same answer, and adds nothing.
    let retry = push_answer(&app, "refusing", 1, "hours").await;
    assert_eq!(retry.0, 200);
    assert!(retry.1.contains("We open 9:00-21:00."), "{}", retry.1);
    app.settle();
    assert_eq!(stored_keys(&app, &scope), vec!["msg:1".to_string()]);
    let m = app.client().get("/metrics").await.body;
    let journaled = if postgres { 1 } else { 0 };
    assert!(
        m.contains(&format!("\npatron_ingest_journaled_total {journaled}\n")),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "\npatron_ingest_journal_applied_total {journaled}\n"
        )),
        "{m}"
    );
}

/// Two processes over one database: a rule added through one process's API answers at
/// once in the other, which had the tenant's rules cached (the cache epoch; without it,
/// only after the 30-second cache lifetime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_added_through_one_process_answers_in_another_at_once() {
    let app = TestApp::spawn();
    let scope = wechat_tenant_in(&app, "twin", "plain");
    let (_, token) =
        patron_store::api_tokens::create(&mut app.conn(), &scope, "tests", None).unwrap();
    // The second process: its own data directory with the first one's secret key.
    let other_data = tempfile::tempdir().unwrap();
    std::fs::copy(
        app.data_dir().join("secret.key"),
        other_data.path().join("secret.key"),
    )
    .unwrap();
    let other = ServeProcess::start(other_data.path(), &app.db.url, &[]).await;
    let ask = |n: u64| {
        format!(
            "<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName>\
             <FromUserName><![CDATA[o_twin]]></FromUserName>\
             <CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[hours]]></Content><MsgId>{n}</MsgId></xml>"
        )
    };
    let (status, reply) = other.push_plain("twin", TOKEN, &ask(8_800_001)).await;
    assert_eq!(status, 200);
    assert!(reply.contains("We open 9:00-21:00."), "{reply}");

    let r = app
        .client()
        .api(
            reqwest::Method::POST,
            "/api/v1/reply-rules",
            &token,
            Some(
                serde_json::json!({"trigger_kind": "keyword_exact", "trigger_value": "hours",
                "reply_text": "Open around the clock now.", "priority": 10}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The other process polls the epoch every 200 ms: well inside this deadline, far
    // inside its cache's 30-second lifetime.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut n = 8_800_002;
    loop {
        let (_, reply) = other.push_plain("twin", TOKEN, &ask(n)).await;
        if reply.contains("Open around the clock now.") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other process still answers from its cache: {reply}"
        );
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Every write of something the webhook caches moves the cache epoch itself, in the same
/// transaction, through whichever door it came (page, API, store): no caller can forget
/// to tell the other processes, and a change cannot commit without telling them.
#[tokio::test]
async fn every_change_of_cached_settings_moves_the_cache_epoch() {
    use reqwest::Method as M;
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let epoch = || patron_store::cache_epoch::read(&mut app.conn()).unwrap();
    let c = app.client();
    let api = |m: M, p: &str, b: Option<serde_json::Value>| {
        let (c, t, p) = (&c, w.token.clone(), format!("/api/v1{p}"));
        async move { c.api(m, &p, &t, b).await }
    };
    let mut last = epoch();
    let mut moved = |what: &str| {
        let now = epoch();
        assert!(now > last, "{what} did not move the cache epoch");
        last = now;
    };
    let r = api(M::POST, "/reply-rules", Some(serde_json::json!({"trigger_kind": "keyword_exact", "trigger_value": "hi", "reply_text": "Hello"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    moved("adding a rule");
    api(M::DELETE, &format!("/reply-rules/{}", r.json()["id"]), None).await;
    moved("deleting a rule");
    let r = api(
        M::PUT,
        "/loyalty/program",
        Some(serde_json::json!({
            "subscribe_points": 5, "checkin_keyword": "", "checkin_points": 0, "checkin_reply": "",
            "checkin_again_reply": "", "points_per_yuan": 0, "expiry_days": null
        })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    moved("saving the points program");
    let r = api(
        M::PUT,
        "/tenant",
        Some(serde_json::json!({"name": "Renamed", "slug": format!("shop-a")})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    moved("changing the tenant's settings");
    let refused = api(M::DELETE, "/reply-rules/999999", None).await;
    assert_eq!(refused.status, 404);
    assert_eq!(epoch(), last, "a refused change moves nothing");
}
