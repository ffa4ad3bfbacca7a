//! Interop with the WeChat Pay libraries merchants use: `tests/interop/wechat_pay.py`
//! makes v2, refund and v3 notifications with wechatpy, wechatpayv3 and `cryptography`
//! (PyPI, pinned in `tests/requirements.txt`), good ones and tampered ones, each with the
//! verdict expected; this test checks every verdict. It fails, never skips, when
//! python3 or the packages are missing.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::v2::{self, Notification, RefundNotification};
use super::v3::{self, ApiV3Key, Envelope, Headers, PlatformKeys};
use super::PayError;

/// The variant name of an error, as the fixtures write it.
fn kind(e: &PayError) -> &'static str {
    match e {
        PayError::Malformed(_) => "Malformed",
        PayError::MissingField(_) => "MissingField",
        PayError::InvalidField { .. } => "InvalidField",
        PayError::BadSignature => "BadSignature",
        PayError::UnknownSerial(_) => "UnknownSerial",
        PayError::Expired { .. } => "Expired",
        PayError::Probe => "Probe",
        PayError::Decrypt => "Decrypt",
        PayError::WrongAlgorithm(_) => "WrongAlgorithm",
        PayError::InvalidKey(_) => "InvalidKey",
        PayError::Transport(_) => "Transport",
        PayError::UnverifiedAnswer { .. } => "UnverifiedAnswer",
        PayError::Api { .. } => "Api",
        PayError::TooLarge { .. } => "TooLarge",
        PayError::BillHashMismatch { .. } => "BillHashMismatch",
        PayError::Sink(_) => "Sink",
    }
}

fn verdict<T>(r: &Result<T, PayError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => kind(e),
    }
}

fn fixtures() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(root.join("tests/interop/wechat_pay.py"))
        .arg(dir.path())
        .output()
        .expect("python3 with wechatpy and wechatpayv3 (tests/requirements.txt) is required");
    assert!(
        out.status.success(),
        "tests/interop/wechat_pay.py failed (pip install -r tests/requirements.txt):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("fixtures.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn cases(section: &Value) -> &Vec<Value> {
    section["cases"].as_array().unwrap()
}

/// Checks that a section has good and bad cases, so a broken generator cannot pass
/// vacuously.
fn assert_mixed(name: &str, cases: &[Value]) {
    let good = cases.iter().filter(|c| c["expect"] == "ok").count();
    assert!(
        good >= 2 && cases.len() - good >= 4,
        "{name}: {good} good of {}",
        cases.len()
    );
}

#[test]
fn python_libraries_notifications_get_the_expected_verdicts() {
    let fx = fixtures();
    let mut failures = Vec::new();
    check_v2(&fx["v2"], &mut failures);
    check_refunds(&fx["refund"], &mut failures);
    check_v3(&fx["v3"], &mut failures);
    assert!(
        failures.is_empty(),
        "fixtures from {}:\n{}",
        fx["generated_by"],
        failures.join("\n")
    );
}

fn check_v2(section: &Value, failures: &mut Vec<String>) {
    let key = s(&section["key"]);
    assert_mixed("v2", cases(section));
    for case in cases(section) {
        let name = s(&case["name"]);
        let result = Notification::parse(s(&case["body"]).as_bytes())
            .and_then(|n| v2::verify(&n, key).map(|()| n));
        let got = verdict(&result);
        if got != s(&case["expect"]) {
            failures.push(format!(
                "v2 {name}: expected {}, got {result:?}",
                case["expect"]
            ));
            continue;
        }
        let Ok(n) = result else { continue };
        let want = &case["want"];
        let checks: [(&str, Value); 9] = [
            (
                "out_trade_no",
                n.out_trade_no().map(str::to_owned).ok().into(),
            ),
            (
                "transaction_id",
                n.transaction_id().map(str::to_owned).ok().into(),
            ),
            ("openid", n.openid().map(str::to_owned).ok().into()),
            ("total_fee", n.total_fee().ok().into()),
            ("cash_fee", n.cash_fee().ok().into()),
            ("coupon_fee", n.coupon_fee().ok().flatten().into()),
            (
                "time_end_utc",
                n.time_end_utc().ok().map(|t| t.to_string()).into(),
            ),
            ("attach", n.attach().map(str::to_owned).into()),
            ("fields", n.fields().len().into()),
        ];
        for (field, got) in checks {
            if want[field] != got {
                failures.push(format!("v2 {name}: {field} {got} != {}", want[field]));
            }
        }
    }
}

fn check_refunds(section: &Value, failures: &mut Vec<String>) {
    let key = s(&section["key"]);
    assert_mixed("refund", cases(section));
    for case in cases(section) {
        let name = s(&case["name"]);
        let result =
            RefundNotification::parse(s(&case["body"]).as_bytes()).and_then(|n| n.decrypt(key));
        let got = verdict(&result);
        if got != s(&case["expect"]) {
            failures.push(format!(
                "refund {name}: expected {}, got {result:?}",
                case["expect"]
            ));
            continue;
        }
        let Ok(info) = result else { continue };
        let want = case["want"].as_object().unwrap();
        let got: serde_json::Map<String, Value> = info
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        if &got != want {
            failures.push(format!("refund {name}: fields {got:?} != {want:?}"));
        }
        let typed = (
            Value::from(info.refund_fee.to_string()),
            Value::from(info.total_fee.to_string()),
            Value::from(info.out_refund_no.as_str()),
            Value::from(info.refund_status.as_str()),
        );
        let expected = (
            want["refund_fee"].clone(),
            want["total_fee"].clone(),
            want["out_refund_no"].clone(),
            want["refund_status"].clone(),
        );
        if typed != expected {
            failures.push(format!("refund {name}: typed {typed:?} != {expected:?}"));
        }
    }
}

fn check_v3(section: &Value, failures: &mut Vec<String>) {
    let apiv3_key = ApiV3Key::new(s(&section["apiv3_key"])).unwrap();
    let now = section["now"].as_i64().unwrap();
    let mut keys = PlatformKeys::new();
    keys.add_public_key_pem(s(&section["public_key_id"]), s(&section["public_key_pem"]))
        .unwrap();
    let serial = keys
        .add_certificate_pem(s(&section["certificate_pem"]))
        .unwrap();
    assert_eq!(serial, s(&section["certificate_serial"]));
    assert_mixed("v3", cases(section));

    for case in cases(section) {
        let name = s(&case["name"]);
        let h = &case["headers"];
        let headers = Headers {
            timestamp: s(&h["timestamp"]),
            nonce: s(&h["nonce"]),
            signature: s(&h["signature"]),
            serial: s(&h["serial"]),
        };
        let body = s(&case["body"]).as_bytes();
        let kind = case["kind"].as_str();
        let result = v3::verify(&headers, body, &keys, now)
            .and_then(|()| Envelope::parse(body))
            .and_then(|e| {
                let plain = match kind {
                    Some(_) => Some(e.decrypt(&apiv3_key)?),
                    None => None,
                };
                let typed = match kind {
                    Some("transaction") => {
                        serde_json::to_value(e.transaction(&apiv3_key)?).unwrap()
                    }
                    Some("refund") => serde_json::to_value(e.refund(&apiv3_key)?).unwrap(),
                    _ => Value::Null,
                };
                Ok((plain, typed))
            });
        let got = verdict(&result);
        if got != s(&case["expect"]) {
            failures.push(format!(
                "v3 {name}: expected {}, got {result:?}",
                case["expect"]
            ));
            continue;
        }
        let Ok((plain, typed)) = result else { continue };
        if plain.as_deref() != Some(s(&case["plaintext"]).as_bytes()) {
            failures.push(format!("v3 {name}: plaintext differs"));
        }
        // Every field the generator wrote comes back through the typed struct.
        let want = &case["want"];
        if !contains(&typed, want) {
            failures.push(format!("v3 {name}: typed {typed} does not carry {want}"));
        }
    }
}

/// Whether `got` has every key of `want` with the same value, recursively.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(gv, wv)| contains(gv, wv))
        }
        _ => got == want,
    }
}
