//! Whole-notification tests of [`crate::pay`]: v2 payments as WeChat writes them,
//! tampering, and v3 signatures and resources with the fixed test keys in `testdata/`
//! (RSA key generation is too slow in debug builds to do per test).

use std::collections::BTreeMap;

use super::v2::{self, Notification, SignType};
use super::v3::{self, testing, ApiV3Key, Envelope, Headers, PlatformKeys};
use super::PayError;

const V2_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// A payment notification shaped like WeChat's doc example: numbers bare, strings in
/// CDATA, newlines between elements, coupon fields, an element this crate has never
/// heard of, and a Chinese `attach`. `{sign}` is filled in by [`signed_v2`].
const V2_TEMPLATE: &str = "<xml>
  <appid><![CDATA[wx2421b1c4370ec43b]]></appid>
  <attach><![CDATA[支付测试 & more]]></attach>
  <bank_type><![CDATA[CFT]]></bank_type>
  <cash_fee>80</cash_fee>
  <coupon_count>1</coupon_count>
  <coupon_fee>20</coupon_fee>
  <coupon_fee_0>20</coupon_fee_0>
  <coupon_id_0><![CDATA[10000]]></coupon_id_0>
  <coupon_type_0><![CDATA[CASH]]></coupon_type_0>
  <fee_type><![CDATA[CNY]]></fee_type>
  <is_subscribe><![CDATA[Y]]></is_subscribe>
  <mch_id><![CDATA[10000100]]></mch_id>
  <nonce_str><![CDATA[5d2b6c2a8db53831f7eda20af46e531c]]></nonce_str>
  <openid><![CDATA[oUpF8uMEb4qRXf22hE3X68TekukE]]></openid>
  <out_trade_no><![CDATA[1409811653]]></out_trade_no>
  <result_code><![CDATA[SUCCESS]]></result_code>
  <return_code><![CDATA[SUCCESS]]></return_code>
  <sign><![CDATA[{sign}]]></sign>
  <time_end><![CDATA[20140903131540]]></time_end>
  <total_fee>100</total_fee>
  <trade_type><![CDATA[JSAPI]]></trade_type>
  <transaction_id><![CDATA[1004400740201409030005092168]]></transaction_id>
  <future_field><![CDATA[WeChat added this later]]></future_field>
  <device_info><![CDATA[]]></device_info>
</xml>";

/// The template's fields, without `sign`, read independently of the parser.
fn v2_fields() -> BTreeMap<String, String> {
    [
        ("appid", "wx2421b1c4370ec43b"),
        ("attach", "支付测试 & more"),
        ("bank_type", "CFT"),
        ("cash_fee", "80"),
        ("coupon_count", "1"),
        ("coupon_fee", "20"),
        ("coupon_fee_0", "20"),
        ("coupon_id_0", "10000"),
        ("coupon_type_0", "CASH"),
        ("fee_type", "CNY"),
        ("is_subscribe", "Y"),
        ("mch_id", "10000100"),
        ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"),
        ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
        ("out_trade_no", "1409811653"),
        ("result_code", "SUCCESS"),
        ("return_code", "SUCCESS"),
        ("time_end", "20140903131540"),
        ("total_fee", "100"),
        ("trade_type", "JSAPI"),
        ("transaction_id", "1004400740201409030005092168"),
        ("future_field", "WeChat added this later"),
        ("device_info", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn signed_v2(sign_type: SignType) -> String {
    let sign = v2::sign(&v2_fields(), V2_KEY, sign_type);
    V2_TEMPLATE.replace("{sign}", &sign)
}

#[test]
fn v2_notification_round_trip() {
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let body = signed_v2(sign_type);
        let n = Notification::parse(body.as_bytes()).unwrap();
        assert_eq!(v2::verify(&n, V2_KEY), Ok(()), "{sign_type:?}");
        assert!(n.is_success());
        assert_eq!(n.return_code(), Ok("SUCCESS"));
        assert_eq!(n.result_code(), Ok("SUCCESS"));
        assert_eq!(n.appid(), Ok("wx2421b1c4370ec43b"));
        assert_eq!(n.mch_id(), Ok("10000100"));
        assert_eq!(n.openid(), Ok("oUpF8uMEb4qRXf22hE3X68TekukE"));
        assert_eq!(n.out_trade_no(), Ok("1409811653"));
        assert_eq!(n.transaction_id(), Ok("1004400740201409030005092168"));
        assert_eq!(n.total_fee(), Ok(100));
        assert_eq!(n.cash_fee(), Ok(80));
        assert_eq!(n.coupon_fee(), Ok(Some(20)));
        assert_eq!(n.settlement_total_fee(), Ok(None));
        assert_eq!(n.fee_type(), Some("CNY"));
        assert_eq!(n.time_end(), Ok("20140903131540"));
        assert_eq!(n.time_end_utc().unwrap().to_string(), "2014-09-03 05:15:40");
        assert_eq!(n.attach(), Some("支付测试 & more"));
        assert_eq!(n.trade_type(), Ok("JSAPI"));
        assert_eq!(n.bank_type(), Ok("CFT"));
        assert_eq!(n.sign_type(), None);
        assert_eq!(n.err_code(), None);
        // Every field is kept, the unknown and the empty ones too.
        assert_eq!(n.get("future_field"), Some("WeChat added this later"));
        assert_eq!(n.get("device_info"), Some(""));
        assert_eq!(n.fields().len(), v2_fields().len() + 1);
        // The wrong key fails.
        assert_eq!(
            v2::verify(&n, "192006250b4c09247ec02edce69f6a2e"),
            Err(PayError::BadSignature)
        );
    }
}

#[test]
fn v2_unknown_fields_are_signed() {
    // Signed without the unknown field: the notification carrying it must fail, so
    // a verifier that dropped unknown fields would be caught here.
    let mut fields = v2_fields();
    fields.remove("future_field");
    let sign = v2::sign(&fields, V2_KEY, SignType::Md5);
    let body = V2_TEMPLATE.replace("{sign}", &sign);
    let n = Notification::parse(body.as_bytes()).unwrap();
    assert_eq!(v2::verify(&n, V2_KEY), Err(PayError::BadSignature));
    let without = body.replace(
        "<future_field><![CDATA[WeChat added this later]]></future_field>",
        "",
    );
    let n = Notification::parse(without.as_bytes()).unwrap();
    assert_eq!(v2::verify(&n, V2_KEY), Ok(()));
}

#[test]
fn v2_tampering_fails() {
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let body = signed_v2(sign_type);
        let check = |tampered: &str| {
            let n = Notification::parse(tampered.as_bytes()).unwrap();
            v2::verify(&n, V2_KEY)
        };
        assert_eq!(check(&body), Ok(()));
        // Changed amount.
        assert_eq!(
            check(&body.replace("<total_fee>100<", "<total_fee>1<")),
            Err(PayError::BadSignature)
        );
        assert_eq!(
            check(&body.replace("<cash_fee>80<", "<cash_fee>81<")),
            Err(PayError::BadSignature)
        );
        // Changed order, openid, key name case.
        assert_eq!(
            check(&body.replace("1409811653", "1409811654")),
            Err(PayError::BadSignature)
        );
        assert_eq!(
            check(
                &body
                    .replace("<openid>", "<OpenId>")
                    .replace("</openid>", "</OpenId>")
            ),
            Err(PayError::BadSignature)
        );
        // Changed sign (last hex digit).
        let sign = v2::sign(&v2_fields(), V2_KEY, sign_type);
        let mut other = sign.clone();
        let last = other.pop().unwrap();
        other.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            check(&body.replace(&sign, &other)),
            Err(PayError::BadSignature)
        );
        // A truncated sign (neither MD5's nor HMAC-SHA256's length).
        assert_eq!(
            check(&body.replace(&sign, &sign[..30])),
            Err(PayError::BadSignature)
        );
        // Sign removed, or empty.
        let no_sign = body.replace(&format!("<sign><![CDATA[{sign}]]></sign>"), "");
        assert_eq!(check(&no_sign), Err(PayError::MissingField("sign")));
        assert_eq!(
            check(&body.replace(&sign, "")),
            Err(PayError::MissingField("sign"))
        );
        // An empty value is outside the signature: adding or emptying one of the
        // empty fields changes nothing, but giving it a value does.
        assert_eq!(
            check(&body.replace("</xml>", "<extra></extra></xml>")),
            Ok(())
        );
        assert_eq!(
            check(&body.replace(
                "<device_info><![CDATA[]]></device_info>",
                "<device_info>WEB</device_info>"
            )),
            Err(PayError::BadSignature)
        );
        // Emptying a signed value removes it from the string to sign: it fails.
        assert_eq!(
            check(&body.replace("<![CDATA[CFT]]>", "<![CDATA[]]>")),
            Err(PayError::BadSignature)
        );
        // A sign_type saying the other algorithm does not matter (the length decides).
        let other_type = if sign_type == SignType::Md5 {
            "HMAC-SHA256"
        } else {
            "MD5"
        };
        let mut fields = v2_fields();
        fields.insert("sign_type".into(), other_type.into());
        let sign = v2::sign(&fields, V2_KEY, sign_type);
        fields.insert("sign".into(), sign);
        let n = Notification::from_fields(fields);
        assert_eq!(v2::verify(&n, V2_KEY), Ok(()));
        assert_eq!(n.sign_type(), Some(other_type));
    }
}

#[test]
fn v2_fail_notification_and_missing_fields() {
    let n = Notification::parse(
        b"<xml><return_code><![CDATA[FAIL]]></return_code>\
          <return_msg><![CDATA[\xe7\xad\xbe\xe5\x90\x8d\xe5\xa4\xb1\xe8\xb4\xa5]]></return_msg></xml>",
    )
    .unwrap();
    assert!(!n.is_success());
    assert_eq!(n.return_code(), Ok("FAIL"));
    assert_eq!(n.return_msg(), Some("签名失败"));
    assert_eq!(v2::verify(&n, V2_KEY), Err(PayError::MissingField("sign")));
    assert_eq!(n.result_code(), Err(PayError::MissingField("result_code")));
    assert_eq!(n.total_fee(), Err(PayError::MissingField("total_fee")));
    assert_eq!(n.coupon_fee(), Ok(None));

    let mut fields = v2_fields();
    fields.insert("result_code".into(), "FAIL".into());
    fields.insert("err_code".into(), "SYSTEMERROR".into());
    fields.insert("total_fee".into(), "1.00".into());
    fields.insert("time_end".into(), "2014-09-03".into());
    let n = Notification::from_fields(fields);
    assert!(!n.is_success());
    assert_eq!(n.err_code(), Some("SYSTEMERROR"));
    assert!(matches!(
        n.total_fee(),
        Err(PayError::InvalidField {
            field: "total_fee",
            ..
        })
    ));
    assert!(matches!(
        n.time_end_utc(),
        Err(PayError::InvalidField {
            field: "time_end",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------
// v3

const PLATFORM_PRIVATE: &str = include_str!("testdata/platform_private.pem");
const PLATFORM_PUBLIC: &str = include_str!("testdata/platform_public.pem");
const PLATFORM_CERT: &str = include_str!("testdata/platform_cert.pem");
const OTHER_PRIVATE: &str = include_str!("testdata/other_private.pem");
const OTHER_PUBLIC: &str = include_str!("testdata/other_public.pem");
const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const APIV3_KEY: &str = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
const TS: &str = "1700000000";
const NOW: i64 = 1_700_000_000;
const NONCE: &str = "fdasflkja484w";

/// The doc's example transaction (payment notification plaintext).
const TRANSACTION: &str = r#"{"mchid":"1230000109","appid":"wxd678efh567hg6787","out_trade_no":"1217752501201407033233368018","transaction_id":"1217752501201407033233368018","trade_type":"JSAPI","trade_state":"SUCCESS","trade_state_desc":"支付成功","bank_type":"CMC","attach":"自定义数据","success_time":"2018-06-08T10:34:56+08:00","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"amount":{"total":100,"payer_total":99,"currency":"CNY","payer_currency":"CNY"},"promotion_detail":[{"coupon_id":"109519","name":"单品惠-6","scope":"SINGLE","type":"CASH","stock_id":"931386","amount":1,"wechatpay_contribute":0,"merchant_contribute":1,"other_contribute":0,"currency":"CNY","goods_detail":[{"goods_id":"M1006","quantity":1,"unit_price":100,"discount_amount":1}]}],"scene_info":{"device_id":"013467007045764"}}"#;

/// The doc's example refund plaintext.
const REFUND: &str = r#"{"mchid":"1900000100","transaction_id":"1008450740201411110005820873","out_trade_no":"20150806125346","refund_id":"50200207182018070300011301001","out_refund_no":"7752501201407033233368018","refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00","user_received_account":"招商银行信用卡0403","amount":{"total":999,"refund":999,"payer_total":999,"payer_refund":999}}"#;

fn platform_keys() -> PlatformKeys {
    let mut keys = PlatformKeys::new();
    keys.add_public_key_pem(PUB_KEY_ID, PLATFORM_PUBLIC)
        .unwrap();
    assert_eq!(
        keys.add_certificate_pem(PLATFORM_CERT).unwrap(),
        CERT_SERIAL
    );
    keys
}

fn apiv3_key() -> ApiV3Key {
    ApiV3Key::new(APIV3_KEY).unwrap()
}

/// A notification body for `plaintext`, compact JSON as WeChat sends it.
fn v3_body(plaintext: &str, original_type: &str, event_type: &str) -> String {
    let resource = testing::resource(
        plaintext.as_bytes(),
        &apiv3_key(),
        "fdasfwer3e2c",
        original_type,
    )
    .unwrap();
    let envelope = Envelope {
        id: "EV-2018022511223320873".into(),
        create_time: "2015-05-20T13:29:35+08:00".into(),
        resource_type: "encrypt-resource".into(),
        event_type: event_type.into(),
        summary: "支付成功".into(),
        resource,
    };
    serde_json::to_string(&envelope).unwrap()
}

fn headers<'a>(signature: &'a str, serial: &'a str) -> Headers<'a> {
    testing::headers(TS, NONCE, signature, serial)
}

#[test]
fn v3_sign_and_verify() {
    let keys = platform_keys();
    let private = testing::private_key_from_pem(PLATFORM_PRIVATE).unwrap();
    let body = v3_body(TRANSACTION, "transaction", "TRANSACTION.SUCCESS");
    let signature = testing::sign_for_test(&private, TS, NONCE, body.as_bytes());
    assert_eq!(signature.len(), 344); // Base64 of 256 bytes

    // Under the public key id and under the certificate serial (same key), any case.
    for serial in [PUB_KEY_ID, CERT_SERIAL, &CERT_SERIAL.to_lowercase()] {
        assert_eq!(
            v3::verify(&headers(&signature, serial), body.as_bytes(), &keys, NOW),
            Ok(()),
            "{serial}"
        );
    }
    let verify = |h: Headers<'_>, body: &[u8], now: i64| v3::verify(&h, body, &keys, now);
    let h = headers(&signature, PUB_KEY_ID);

    // The body altered by one byte, at the start, the middle and the end.
    for i in [0, body.len() / 2, body.len() - 1] {
        let mut altered = body.clone().into_bytes();
        altered[i] ^= 0x01;
        assert_eq!(verify(h, &altered, NOW), Err(PayError::BadSignature), "{i}");
    }
    // A trailing newline, or the JSON re-serialised (other whitespace, same data).
    let mut with_lf = body.clone().into_bytes();
    with_lf.push(b'\n');
    assert_eq!(verify(h, &with_lf, NOW), Err(PayError::BadSignature));
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&pretty).unwrap(),
        value
    );
    assert_eq!(
        verify(h, pretty.as_bytes(), NOW),
        Err(PayError::BadSignature)
    );
    let spaced = body.replacen("\"id\":", "\"id\": ", 1);
    assert_eq!(
        verify(h, spaced.as_bytes(), NOW),
        Err(PayError::BadSignature)
    );

    // The timestamp and nonce are signed too.
    let ts2 = (NOW + 1).to_string();
    let mut h2 = h;
    h2.timestamp = &ts2;
    assert_eq!(
        verify(h2, body.as_bytes(), NOW),
        Err(PayError::BadSignature)
    );
    let mut h2 = h;
    h2.nonce = "fdasflkja484x";
    assert_eq!(
        verify(h2, body.as_bytes(), NOW),
        Err(PayError::BadSignature)
    );

    // Unknown serial.
    assert_eq!(
        verify(
            headers(&signature, "5157F09EFDC096DE15EBE81A47057A7232F1B8E2"),
            body.as_bytes(),
            NOW
        ),
        Err(PayError::UnknownSerial(
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E2".into()
        ))
    );

    // The timestamp 300 s away either way passes, 301 s does not.
    assert_eq!(verify(h, body.as_bytes(), NOW + 300), Ok(()));
    assert_eq!(verify(h, body.as_bytes(), NOW - 300), Ok(()));
    assert_eq!(
        verify(h, body.as_bytes(), NOW + 301),
        Err(PayError::Expired { skew_secs: 301 })
    );
    assert_eq!(
        verify(h, body.as_bytes(), NOW - 301),
        Err(PayError::Expired { skew_secs: -301 })
    );

    // Signed by another key.
    let other = testing::private_key_from_pem(OTHER_PRIVATE).unwrap();
    let forged = testing::sign_for_test(&other, TS, NONCE, body.as_bytes());
    assert_eq!(
        verify(headers(&forged, PUB_KEY_ID), body.as_bytes(), NOW),
        Err(PayError::BadSignature)
    );
    let mut other_keys = PlatformKeys::new();
    other_keys
        .add_public_key_pem(PUB_KEY_ID, OTHER_PUBLIC)
        .unwrap();
    assert_eq!(
        v3::verify(
            &headers(&forged, PUB_KEY_ID),
            body.as_bytes(),
            &other_keys,
            NOW
        ),
        Ok(())
    );

    // Signatures that are not Base64, truncated, or empty-ish.
    let truncated = &signature[..signature.len() - 4];
    for bad in ["not base64!", truncated, "AAAA"] {
        assert_eq!(
            verify(headers(bad, PUB_KEY_ID), body.as_bytes(), NOW),
            Err(PayError::BadSignature),
            "{bad}"
        );
    }
}

#[test]
fn v3_probe_and_header_checks() {
    let keys = platform_keys();
    let body = br#"{"id":"probe"}"#;
    let probe = "WECHATPAY/SIGNTEST/gvTbJ5GfjDkOX7Z6b3nZL7vZ7nb+lmGgJ0+fZ3GkTq8=";
    // A probe is refused as such, whatever the serial and time.
    assert_eq!(
        v3::verify(&headers(probe, PUB_KEY_ID), body, &keys, NOW),
        Err(PayError::Probe)
    );
    assert_eq!(
        v3::verify(&headers(probe, "unknown"), body, &keys, NOW + 10_000),
        Err(PayError::Probe)
    );

    let sig = "c2ln";
    for (h, missing) in [
        (
            testing::headers("", NONCE, sig, PUB_KEY_ID),
            v3::HEADER_TIMESTAMP,
        ),
        (testing::headers(TS, "", sig, PUB_KEY_ID), v3::HEADER_NONCE),
        (
            testing::headers(TS, NONCE, "", PUB_KEY_ID),
            v3::HEADER_SIGNATURE,
        ),
        (testing::headers(TS, NONCE, sig, ""), v3::HEADER_SERIAL),
    ] {
        assert_eq!(
            v3::verify(&h, body, &keys, NOW),
            Err(PayError::MissingField(missing))
        );
    }
    for bad_ts in [
        "17e8",
        "-1700000000",
        " 1700000000",
        "1700000000.0",
        "99999999999999999999",
    ] {
        assert!(
            matches!(
                v3::verify(
                    &testing::headers(bad_ts, NONCE, sig, PUB_KEY_ID),
                    body,
                    &keys,
                    NOW
                ),
                Err(PayError::InvalidField {
                    field: "Wechatpay-Timestamp",
                    ..
                })
            ),
            "{bad_ts}"
        );
    }
    // Time is checked before the serial: an old notification with an unknown serial
    // says Expired.
    assert_eq!(
        v3::verify(&testing::headers("1", NONCE, sig, "nope"), body, &keys, NOW),
        Err(PayError::Expired { skew_secs: NOW - 1 })
    );
    // No keys at all.
    assert_eq!(
        v3::verify(&headers(sig, PUB_KEY_ID), body, &PlatformKeys::new(), NOW),
        Err(PayError::UnknownSerial(PUB_KEY_ID.into()))
    );
}

#[test]
fn v3_platform_keys() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::LineEnding;

    let mut keys = platform_keys();
    assert_eq!(keys.len(), 2);
    assert!(!keys.is_empty());
    assert_eq!(keys.ids().collect::<Vec<_>>(), [PUB_KEY_ID, CERT_SERIAL]);
    assert_eq!(keys.get(PUB_KEY_ID), keys.get(&CERT_SERIAL.to_lowercase()));

    // Re-adding an id replaces its key.
    keys.add_public_key_pem(PUB_KEY_ID, OTHER_PUBLIC).unwrap();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys.get(PUB_KEY_ID), keys.get(CERT_SERIAL));
    assert!(keys.remove(&PUB_KEY_ID.to_lowercase()));
    assert!(!keys.remove(PUB_KEY_ID));
    assert_eq!(keys.len(), 1);

    // PKCS#1 "RSA PUBLIC KEY" PEM is accepted too.
    let spki = keys.get(CERT_SERIAL).unwrap().clone();
    let pkcs1 = spki.to_pkcs1_pem(LineEnding::LF).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    keys.add_public_key_pem("pkcs1", &pkcs1).unwrap();
    assert_eq!(keys.get("pkcs1"), Some(&spki));

    // Refusals.
    for bad in [
        "",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        PLATFORM_CERT,
    ] {
        assert!(matches!(
            keys.add_public_key_pem("x", bad),
            Err(PayError::InvalidKey(_))
        ));
    }
    assert!(matches!(
        keys.add_certificate_pem(PLATFORM_PUBLIC),
        Err(PayError::InvalidKey(_))
    ));
    assert!(matches!(
        keys.add_public_key_pem("", PLATFORM_PUBLIC),
        Err(PayError::InvalidKey(_))
    ));
    let small = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&[0xC5; 128]),
        rsa::BigUint::from(65_537u32),
    )
    .unwrap();
    assert!(matches!(
        keys.add_public_key("small", small),
        Err(PayError::InvalidKey(m)) if m.contains("1024")
    ));
    assert_eq!(super::v3::MIN_KEY_BITS, 2048);
}

#[test]
fn v3_decrypt_transaction_and_refund() {
    let key = apiv3_key();
    let body = v3_body(TRANSACTION, "transaction", "TRANSACTION.SUCCESS");
    let envelope = Envelope::parse(body.as_bytes()).unwrap();
    assert_eq!(envelope.event_type, "TRANSACTION.SUCCESS");
    assert_eq!(envelope.resource.algorithm, "AEAD_AES_256_GCM");
    assert_eq!(envelope.decrypt(&key).unwrap(), TRANSACTION.as_bytes());
    let t = envelope.transaction(&key).unwrap();
    assert_eq!(t.mchid, "1230000109");
    assert_eq!(t.appid, "wxd678efh567hg6787");
    assert_eq!(t.out_trade_no, "1217752501201407033233368018");
    assert_eq!(t.trade_state, "SUCCESS");
    assert_eq!(t.attach, "自定义数据");
    assert_eq!(t.success_time.as_deref(), Some("2018-06-08T10:34:56+08:00"));
    assert_eq!(t.payer.openid, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    assert_eq!(
        (
            t.amount.total,
            t.amount.payer_total,
            t.amount.currency.as_str()
        ),
        (100, 99, "CNY")
    );
    assert_eq!(t.promotion_detail.len(), 1);
    assert_eq!(t.promotion_detail[0].kind, "CASH");
    assert_eq!(t.promotion_detail[0].merchant_contribute, 1);
    // The wrong typed reader is refused before decrypting.
    assert!(matches!(envelope.refund(&key), Err(PayError::Malformed(_))));

    let body = v3_body(REFUND, "refund", "REFUND.SUCCESS");
    let r = Envelope::parse(body.as_bytes())
        .unwrap()
        .refund(&key)
        .unwrap();
    assert_eq!(r.refund_status, "SUCCESS");
    assert_eq!(r.out_refund_no, "7752501201407033233368018");
    assert_eq!(r.user_received_account, "招商银行信用卡0403");
    assert_eq!(
        (
            r.amount.total,
            r.amount.refund,
            r.amount.payer_total,
            r.amount.payer_refund
        ),
        (999, 999, 999, 999)
    );

    // A minimal body: no summary, no associated_data (empty AAD).
    let ciphertext =
        testing::encrypt_resource(REFUND.as_bytes(), &key, "0123456789ab", "").unwrap();
    let minimal = format!(
        r#"{{"id":"x","create_time":"2024-01-01T00:00:00+08:00","resource_type":"encrypt-resource","event_type":"REFUND.CLOSED","resource":{{"algorithm":"AEAD_AES_256_GCM","ciphertext":"{ciphertext}","nonce":"0123456789ab"}},"unknown":1}}"#
    );
    let e = Envelope::parse(minimal.as_bytes()).unwrap();
    assert_eq!(e.summary, "");
    assert_eq!(e.resource.associated_data, "");
    assert_eq!(e.refund(&key).unwrap(), r);
}

#[test]
fn v3_gcm_tampering_fails() {
    let key = apiv3_key();
    let resource =
        testing::resource(TRANSACTION.as_bytes(), &key, "fdasfwer3e2c", "transaction").unwrap();
    assert!(v3::decrypt_resource(&resource, &key).is_ok());
    let sealed = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &resource.ciphertext,
    )
    .unwrap();
    assert_eq!(sealed.len(), TRANSACTION.len() + 16);
    let encode = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);

    // Every byte of the ciphertext and of the tag is covered.
    for i in [
        0,
        1,
        TRANSACTION.len() / 2,
        TRANSACTION.len() - 1,
        TRANSACTION.len(),
        sealed.len() - 1,
    ] {
        let mut bad = sealed.clone();
        bad[i] ^= 0x80;
        let mut r = resource.clone();
        r.ciphertext = encode(&bad);
        assert_eq!(
            v3::decrypt_resource(&r, &key),
            Err(PayError::Decrypt),
            "{i}"
        );
    }
    // Truncated: tag only, then less than a tag.
    let mut r = resource.clone();
    r.ciphertext = encode(&sealed[TRANSACTION.len()..]);
    assert_eq!(v3::decrypt_resource(&r, &key), Err(PayError::Decrypt));
    r.ciphertext = encode(&sealed[..15]);
    assert_eq!(v3::decrypt_resource(&r, &key), Err(PayError::Decrypt));
    r.ciphertext = "%%%".into();
    assert!(matches!(
        v3::decrypt_resource(&r, &key),
        Err(PayError::Malformed(_))
    ));
    // Associated data changed or dropped.
    for aad in ["refund", "", "transaction "] {
        let mut r = resource.clone();
        r.associated_data = aad.into();
        assert_eq!(
            v3::decrypt_resource(&r, &key),
            Err(PayError::Decrypt),
            "{aad:?}"
        );
    }
    // Nonce changed, or of the wrong length.
    let mut r = resource.clone();
    r.nonce = "fdasfwer3e2d".into();
    assert_eq!(v3::decrypt_resource(&r, &key), Err(PayError::Decrypt));
    r.nonce = "fdasfwer3e2".into();
    assert!(matches!(
        v3::decrypt_resource(&r, &key),
        Err(PayError::InvalidField {
            field: "resource.nonce",
            ..
        })
    ));
    // Wrong key.
    let wrong = ApiV3Key::new("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gc").unwrap();
    assert_eq!(
        v3::decrypt_resource(&resource, &wrong),
        Err(PayError::Decrypt)
    );
    // Another algorithm.
    let mut r = resource.clone();
    r.algorithm = "AEAD_AES_128_GCM".into();
    assert_eq!(
        v3::decrypt_resource(&r, &key),
        Err(PayError::WrongAlgorithm("AEAD_AES_128_GCM".into()))
    );
}

#[test]
fn v3_keys_bodies_and_replies() {
    assert!(matches!(
        ApiV3Key::new("short"),
        Err(PayError::InvalidKey(_))
    ));
    // 32 bytes, not 32 characters.
    assert!(ApiV3Key::new("é234567890123456789012345678901").is_ok());
    assert!(matches!(
        ApiV3Key::new("é2345678901234567890123456789012"),
        Err(PayError::InvalidKey(_))
    ));
    assert_eq!(format!("{:?}", apiv3_key()), "ApiV3Key(<redacted>)");
    assert_eq!(apiv3_key().as_bytes(), APIV3_KEY.as_bytes());
    assert_eq!(ApiV3Key::from_bytes([7; 32]).as_bytes(), &[7; 32]);

    for bad in [&b""[..], b"{}", b"[1]", b"{\"id\":1}", b"<xml/>"] {
        assert!(matches!(Envelope::parse(bad), Err(PayError::Malformed(_))));
    }
    assert!(matches!(
        testing::encrypt_resource(b"x", &apiv3_key(), "short", ""),
        Err(PayError::InvalidField { .. })
    ));

    assert_eq!(v3::REPLY_SUCCESS_STATUS, 204);
    assert_eq!(v3::REPLY_FAIL_BODY, r#"{"code":"FAIL","message":"失败"}"#);
    assert_eq!(v3::reply_fail("失败"), v3::REPLY_FAIL_BODY);
    assert_eq!(
        v3::reply_fail("bad \"sig\""),
        r#"{"code":"FAIL","message":"bad \"sig\""}"#
    );
    assert_eq!(v3::message("1", "n", b"{}"), b"1\nn\n{}\n".to_vec());
}
