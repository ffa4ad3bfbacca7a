//! WeChat Pay notifications (issue 20), through HTTP as WeChat sends them: v2 payments
//! (MD5 and HMAC-SHA256), v2 refunds (the encrypted req_info), v3 payments and refunds
//! (RSA-signed, GCM-encrypted). Each is applied once however often WeChat retries, with
//! the points per yuan earned once and taken back once; every forged, tampered, stale,
//! probing or foreign notification is refused with nothing stored; the till's expected
//! order makes a notification with another amount a refusal.

use crate::support::*;
use diesel::prelude::*;
use patron_domain::loyalty::Program;
use patron_store::payments::{self as store, PayInput, PlatformKey};
use patron_store::schema::{pay_notifications, payments, points_ledger, refunds};
use patron_wechat::pay::{v2, v3};
use std::collections::BTreeMap;

const MCH: &str = "1900000109";
const V2_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
const V3_KEY: &str = "0123456789abcdefABCDEF0123456789";
const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const PLATFORM_PUBLIC: &str =
    include_str!("../../crates/wechat/src/pay/testdata/platform_public.pem");
const PLATFORM_PRIVATE: &str =
    include_str!("../../crates/wechat/src/pay/testdata/platform_private.pem");
const OTHER_PRIVATE: &str = include_str!("../../crates/wechat/src/pay/testdata/other_private.pem");

/// A tenant with pay settings and a program of 2 points per yuan.
fn pay_world(app: &TestApp, tag: &str) -> World {
    let w = world(&mut app.conn(), tag);
    let mut c = app.conn();
    patron_app::payments::save_settings(
        &mut c,
        &w.scope,
        &app.state.secrets,
        &PayInput {
            mch_id: MCH.into(),
            apiv2_key: Some(V2_KEY.into()),
            apiv3_key: Some(V3_KEY.into()),
            platform_keys: Some(vec![PlatformKey {
                id: KEY_ID.into(),
                pem: PLATFORM_PUBLIC.into(),
            }]),
            ..PayInput::default()
        },
    )
    .unwrap();
    patron_store::loyalty::save_program(
        &mut c,
        &w.scope,
        &Program {
            subscribe_points: 0,
            checkin_keyword: String::new(),
            checkin_points: 0,
            checkin_reply: String::new(),
            checkin_again_reply: String::new(),
            points_per_yuan: 2,
            expiry_days: None,
        },
    )
    .unwrap();
    w
}

fn v2_fields(w: &World, order: &str, total: i64) -> BTreeMap<String, String> {
    [
        ("return_code", "SUCCESS".to_string()),
        ("result_code", "SUCCESS".into()),
        ("appid", "wx2421b1c4370ec43b".into()),
        ("mch_id", MCH.into()),
        ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c".into()),
        ("openid", format!("o_follower_{}", tag_of(w))),
        ("out_trade_no", order.into()),
        ("transaction_id", format!("42000{order}")),
        ("total_fee", total.to_string()),
        ("cash_fee", total.to_string()),
        ("fee_type", "CNY".into()),
        ("bank_type", "CMC".into()),
        ("trade_type", "JSAPI".into()),
        ("time_end", "20261206131540".into()),
        ("is_subscribe", "Y".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The tag the world was made with (its follower's OpenID is `o_follower_<tag>`).
fn tag_of(w: &World) -> String {
    w.tenant_name.trim_start_matches("Shop ").to_string()
}

fn signed_v2(mut fields: BTreeMap<String, String>, sign: v2::SignType) -> String {
    let s = v2::sign(&fields, V2_KEY, sign);
    fields.insert("sign".into(), s);
    v2::to_xml(&fields)
}

async fn post(app: &TestApp, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut rb = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .body(body.to_string());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn counts(app: &TestApp) -> (i64, i64, i64, i64) {
    let mut c = app.conn();
    (
        payments::table.count().get_result(&mut *c).unwrap(),
        refunds::table.count().get_result(&mut *c).unwrap(),
        pay_notifications::table
            .count()
            .get_result(&mut *c)
            .unwrap(),
        points_ledger::table.count().get_result(&mut *c).unwrap(),
    )
}

fn balance(app: &TestApp, w: &World) -> i64 {
    patron_store::loyalty::balance(&mut app.conn(), &w.scope, w.follower).unwrap()
}

#[tokio::test]
async fn v2_payments_and_refunds_apply_once_and_forgeries_change_nothing() {
    let app = TestApp::spawn();
    let w = pay_world(&app, "payv2");
    let _other = pay_world(&app, "payv2b");
    let path = format!("/pay/{}/v2", w.slug);
    let start = counts(&app);

    // Refused, each with nothing stored: a wrong key, a changed amount, no sign, another
    // merchant, malformed XML, an unknown tenant.
    let mut forged = v2_fields(&w, "A1", 2_350);
    forged.insert(
        "sign".into(),
        v2::sign(
            &forged,
            "00000000000000000000000000000000",
            v2::SignType::Md5,
        ),
    );
    let tampered = signed_v2(v2_fields(&w, "A1", 2_350), v2::SignType::Md5).replace(
        "<total_fee><![CDATA[2350]]></total_fee>",
        "<total_fee><![CDATA[1]]></total_fee>",
    );
    assert!(tampered.contains("[1]]"), "{tampered}");
    let mut foreign = v2_fields(&w, "A1", 2_350);
    foreign.insert("mch_id".into(), "1900000999".into());
    for (body, status, what) in [
        (v2::to_xml(&forged), 401, "wrong key"),
        (tampered, 401, "changed amount"),
        (v2::to_xml(&v2_fields(&w, "A1", 2_350)), 400, "no sign"),
        (
            signed_v2(foreign, v2::SignType::Md5),
            400,
            "another merchant",
        ),
        ("<xml><return_code>".to_string(), 400, "malformed"),
    ] {
        let (got, reply) = post(&app, &path, &body, &[]).await;
        assert_eq!(got, status, "{what}: {reply}");
        assert!(
            reply.contains("<return_code><![CDATA[FAIL]]></return_code>"),
            "{what}: {reply}"
        );
    }
    let (got, _) = post(&app, "/pay/nobody/v2", "<xml/>", &[]).await;
    assert_eq!(got, 404);
    assert_eq!(
        counts(&app),
        start,
        "a refused notification stored something"
    );

    // A genuine one, MD5-signed, delivered three times (WeChat retries): applied once.
    let genuine = signed_v2(v2_fields(&w, "A1", 2_350), v2::SignType::Md5);
    for _ in 0..3 {
        let (got, reply) = post(&app, &path, &genuine, &[]).await;
        assert_eq!(got, 200, "{reply}");
        assert_eq!(reply, v2::reply_success());
    }
    let p = store::by_order(&mut app.conn(), &w.scope, "A1")
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            p.state.as_str(),
            p.total_fen,
            p.follower_id,
            p.source.as_str()
        ),
        ("paid", 2_350, Some(w.follower), "v2")
    );
    assert_eq!(
        balance(&app, &w),
        46,
        "2 points per whole yuan of 23.50, once"
    );
    // HMAC-SHA256 signed works too.
    let hmac = signed_v2(v2_fields(&w, "A2", 1_000), v2::SignType::HmacSha256);
    assert_eq!(post(&app, &path, &hmac, &[]).await.0, 200);
    assert_eq!(balance(&app, &w), 66);

    // A refund of 11.75 of A1 (half): the req_info is its credential.
    let refund_xml = |status: &str, key: &str| {
        let inner = format!(
            "<root><out_refund_no><![CDATA[R1]]></out_refund_no><out_trade_no><![CDATA[A1]]></out_trade_no>\
             <refund_account><![CDATA[REFUND_SOURCE_RECHARGE_FUNDS]]></refund_account><refund_fee><![CDATA[1175]]></refund_fee>\
             <refund_id><![CDATA[50000R1]]></refund_id><refund_recv_accout><![CDATA[支付用户零钱]]></refund_recv_accout>\
             <refund_request_source><![CDATA[API]]></refund_request_source><refund_status><![CDATA[{status}]]></refund_status>\
             <settlement_refund_fee><![CDATA[1175]]></settlement_refund_fee><settlement_total_fee><![CDATA[2350]]></settlement_total_fee>\
             <success_time><![CDATA[2026-12-06 14:00:00]]></success_time><total_fee><![CDATA[2350]]></total_fee>\
             <transaction_id><![CDATA[42000A1]]></transaction_id></root>"
        );
        let req_info = v2::encrypt_req_info(inner.as_bytes(), key);
        format!(
            "<xml><return_code>SUCCESS</return_code><appid><![CDATA[wx2421b1c4370ec43b]]></appid>\
             <mch_id><![CDATA[{MCH}]]></mch_id><nonce_str><![CDATA[TeqClE3i0mvn3DrK]]></nonce_str>\
             <req_info><![CDATA[{req_info}]]></req_info></xml>"
        )
    };
    let refund_path = format!("/pay/{}/v2/refund", w.slug);
    let before = counts(&app);
    let (got, _) = post(
        &app,
        &refund_path,
        &refund_xml("SUCCESS", "ffffffffffffffffffffffffffffffff"),
        &[],
    )
    .await;
    assert_eq!(got, 401, "a req_info under another key is a forgery");
    assert_eq!(counts(&app), before);
    for _ in 0..2 {
        let (got, reply) = post(&app, &refund_path, &refund_xml("SUCCESS", V2_KEY), &[]).await;
        assert_eq!(got, 200, "{reply}");
    }
    let p = store::by_order(&mut app.conn(), &w.scope, "A1")
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.state.as_str(), p.refunded_fen),
        ("partly_refunded", 1_175)
    );
    assert_eq!(
        balance(&app, &w),
        66 - 23,
        "half of the 46 points, taken back once"
    );
}

#[tokio::test]
async fn the_tills_order_is_checked_against_the_notified_amount() {
    let app = TestApp::spawn();
    let w = pay_world(&app, "paytill");
    store::expect(&mut app.conn(), &w.scope, "T1", 5_000, None, None).unwrap();
    let path = format!("/pay/{}/v2", w.slug);
    let wrong = signed_v2(v2_fields(&w, "T1", 1), v2::SignType::Md5);
    let before = counts(&app);
    let (got, reply) = post(&app, &path, &wrong, &[]).await;
    assert_eq!(got, 409, "{reply}");
    assert_eq!(
        counts(&app),
        before,
        "nothing of a refused notification is kept"
    );
    let right = signed_v2(v2_fields(&w, "T1", 5_000), v2::SignType::Md5);
    assert_eq!(post(&app, &path, &right, &[]).await.0, 200);
    let p = store::by_order(&mut app.conn(), &w.scope, "T1")
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.state.as_str(), p.transaction_id.as_deref()),
        ("paid", Some("42000T1"))
    );

    // A coupon (10.00 off) redeemed at the till with its order: the order is expected
    // at the amount less the discount, linked to the coupon.
    let c = app.client();
    let r = c
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/coupons/{}/redeem", w.coupon_code),
            &w.token,
            Some(serde_json::json!({"store_id": w.store, "order_ref": "T2", "amount_fen": 5_000})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let expected = store::by_order(&mut app.conn(), &w.scope, "T2")
        .unwrap()
        .expect("the till's order is expected");
    assert_eq!(
        (expected.state.as_str(), expected.total_fen),
        ("expected", 4_000)
    );
    assert!(expected.coupon_id.is_some());
    let undiscounted = signed_v2(v2_fields(&w, "T2", 5_000), v2::SignType::Md5);
    assert_eq!(post(&app, &path, &undiscounted, &[]).await.0, 409);
    let paid = signed_v2(v2_fields(&w, "T2", 4_000), v2::SignType::Md5);
    assert_eq!(post(&app, &path, &paid, &[]).await.0, 200);
    let p = store::by_order(&mut app.conn(), &w.scope, "T2")
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.state.as_str(), p.coupon_id),
        ("paid", expected.coupon_id)
    );
}

/// A v3 notification signed by `private` at `ts`, as WeChat sends it.
fn v3_request(
    private: &str,
    ts: i64,
    id: &str,
    event_type: &str,
    original_type: &str,
    plain: &serde_json::Value,
) -> (String, Vec<(String, String)>) {
    let key = v3::ApiV3Key::new(V3_KEY).unwrap();
    let resource = v3::testing::resource(
        plain.to_string().as_bytes(),
        &key,
        "fdasflkja484",
        original_type,
    )
    .unwrap();
    let body = serde_json::json!({
        "id": id,
        "create_time": "2026-12-06T13:29:35+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": resource,
    })
    .to_string();
    let ts = ts.to_string();
    let private = v3::testing::private_key_from_pem(private).unwrap();
    let signature = v3::testing::sign_for_test(&private, &ts, "n0nce", body.as_bytes());
    let headers = vec![
        (v3::HEADER_TIMESTAMP.to_string(), ts),
        (v3::HEADER_NONCE.to_string(), "n0nce".to_string()),
        (v3::HEADER_SIGNATURE.to_string(), signature),
        (v3::HEADER_SERIAL.to_string(), KEY_ID.to_string()),
        (
            v3::HEADER_SIGNATURE_TYPE.to_string(),
            v3::SIGNATURE_TYPE.to_string(),
        ),
    ];
    (body, headers)
}

#[tokio::test]
async fn v3_notifications_are_verified_decrypted_and_applied_once() {
    let app = TestApp::spawn();
    let w = pay_world(&app, "payv3");
    let path = format!("/pay/{}/v3", w.slug);
    let now = chrono::Utc::now().timestamp();
    let transaction = serde_json::json!({
        "mchid": MCH, "appid": "wxd678efh567hg6787", "out_trade_no": "B1",
        "transaction_id": "4200000001B1", "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "bank_type": "CMC", "attach": "",
        "success_time": "2026-12-06T13:29:35+08:00",
        "payer": {"openid": format!("o_follower_{}", tag_of(&w))},
        "amount": {"total": 1_000, "payer_total": 900, "currency": "CNY", "payer_currency": "CNY"},
    });
    let send = |req: &(String, Vec<(String, String)>)| {
        let (body, headers) = req.clone();
        let path = path.clone();
        let app = &app;
        async move {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            post(app, &path, &body, &h).await
        }
    };
    let start = counts(&app);
    // Refused: signed by another key, too old, a signature probe, a byte changed.
    let other = v3_request(
        OTHER_PRIVATE,
        now,
        "EV-1",
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
    );
    let stale = v3_request(
        PLATFORM_PRIVATE,
        now - 301,
        "EV-1",
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
    );
    let mut probe = v3_request(
        PLATFORM_PRIVATE,
        now,
        "EV-1",
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
    );
    for (k, v) in probe.1.iter_mut() {
        if k == v3::HEADER_SIGNATURE {
            *v = format!("{}{}", v3::PROBE_PREFIX, &v[..20]);
        }
    }
    let mut altered = v3_request(
        PLATFORM_PRIVATE,
        now,
        "EV-1",
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
    );
    altered.0 = altered.0.replace("支付成功", "支付成功 ");
    for (req, what) in [
        (&other, "another key"),
        (&stale, "301 s old"),
        (&probe, "probe"),
        (&altered, "altered"),
    ] {
        let (got, reply) = send(req).await;
        assert_eq!(got, 401, "{what}: {reply}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&reply).unwrap()["code"],
            "FAIL",
            "{what}"
        );
    }
    assert_eq!(counts(&app), start);

    let good = v3_request(
        PLATFORM_PRIVATE,
        now,
        "EV-1",
        "TRANSACTION.SUCCESS",
        "transaction",
        &transaction,
    );
    for _ in 0..2 {
        let (got, reply) = send(&good).await;
        assert_eq!(got, 204, "{reply}");
    }
    let p = store::by_order(&mut app.conn(), &w.scope, "B1")
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.total_fen, p.payer_fen, p.discount_fen, p.source.as_str()),
        (1_000, 900, 100, "v3")
    );
    assert_eq!(balance(&app, &w), 20);

    // A full refund: the points come back out, once.
    let refund = serde_json::json!({
        "mchid": MCH, "out_trade_no": "B1", "transaction_id": "4200000001B1",
        "out_refund_no": "RB1", "refund_id": "50000RB1", "refund_status": "SUCCESS",
        "success_time": "2026-12-06T15:00:00+08:00", "user_received_account": "支付用户零钱",
        "amount": {"total": 1_000, "refund": 1_000, "payer_total": 900, "payer_refund": 900},
    });
    let refunded = v3_request(
        PLATFORM_PRIVATE,
        now,
        "EV-2",
        "REFUND.SUCCESS",
        "refund",
        &refund,
    );
    for _ in 0..2 {
        assert_eq!(send(&refunded).await.0, 204);
    }
    let p = store::by_order(&mut app.conn(), &w.scope, "B1")
        .unwrap()
        .unwrap();
    assert_eq!((p.state.as_str(), p.refunded_fen), ("refunded", 1_000));
    assert_eq!(balance(&app, &w), 0);
    assert_eq!(
        store::refunds_of(&mut app.conn(), &w.scope, p.id)
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_pages_show_payments_and_keep_the_keys_write_only() {
    let app = TestApp::spawn();
    let w = pay_world(&app, "paypages");
    let genuine = signed_v2(v2_fields(&w, "P1", 2_350), v2::SignType::Md5);
    assert_eq!(
        post(&app, &format!("/pay/{}/v2", w.slug), &genuine, &[])
            .await
            .0,
        200
    );
    let p = store::by_order(&mut app.conn(), &w.scope, "P1")
        .unwrap()
        .unwrap();

    let marketer = app.client();
    marketer.login(&w.marketer_email, PASSWORD).await;
    let list = marketer.get(&format!("/t/{}/payments", w.slug)).await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("P1") && list.body.contains("¥23.50"),
        "{}",
        list.body
    );
    let one = marketer
        .get(&format!("/t/{}/payments/{}", w.slug, p.id))
        .await;
    assert!(
        one.body.contains("id=\"payment-amount\">¥23.50<"),
        "{}",
        one.body
    );
    assert!(one.body.contains("42000P1"));
    // The follower's page lists their payments.
    let follower = marketer
        .get(&format!("/t/{}/followers/{}", w.slug, w.follower))
        .await;
    let section = follower
        .body
        .split("id=\"follower-payments\"")
        .nth(1)
        .unwrap();
    assert!(
        section.contains("P1") && section.contains("¥23.50"),
        "{section}"
    );
    // Settings are the merchant admin's.
    let refused = marketer.get(&format!("/t/{}/settings/pay", w.slug)).await;
    assert_eq!(refused.status, 403);

    let admin = app.client();
    admin.login(&w.merchant_email, PASSWORD).await;
    let form = admin.get(&format!("/t/{}/settings/pay", w.slug)).await;
    assert_eq!(form.status, 200);
    assert!(
        !form.body.contains(V2_KEY) && !form.body.contains(V3_KEY),
        "a key is shown"
    );
    assert!(form.body.contains(KEY_ID), "the platform key's id is shown");
    assert!(form
        .body
        .contains(&format!("{}/pay/{}/v3", app.base, w.slug)));
    // Every problem beside its field; nothing changes.
    let bad = admin
        .post(
            &format!("/t/{}/settings/pay", w.slug),
            &[
                ("mch_id", "12ab"),
                ("apiv2_key", "short"),
                ("public_key", "not a pem"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    for id in ["err-mch_id", "err-apiv2_key", "err-public_key"] {
        assert!(bad.body.contains(id), "{id} missing");
    }
    // Saving with the keys left empty keeps them.
    let ok = admin
        .post(&format!("/t/{}/settings/pay", w.slug), &[("mch_id", MCH)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let kept = store::settings(&mut app.conn(), &w.scope, &app.state.secrets)
        .unwrap()
        .unwrap();
    assert_eq!(kept.apiv2_key.as_deref(), Some(V2_KEY));
    assert_eq!(kept.apiv3_key.as_deref(), Some(V3_KEY));
    assert_eq!(kept.platform_keys.len(), 1);
    // At rest the keys are sealed.
    let raw: Option<String> = patron_store::schema::pay_settings::table
        .select(patron_store::schema::pay_settings::apiv2_key_enc)
        .filter(patron_store::schema::pay_settings::tenant_id.eq(w.scope.tenant_id().0))
        .first(&mut *app.conn())
        .unwrap();
    assert!(!raw.unwrap().contains(V2_KEY));
}
