//! WeChat Pay v2: the XML payment notification, its MD5 / HMAC-SHA256 signature, the
//! encrypted refund notification ([`refund`]) and the replies (fact sheet §6.1).
//!
//! * [`sign`]: every field except `sign`, empty values dropped, keys sorted by ASCII,
//!   `k=v` joined with `&`, then `&key=<APIv2 key>`; MD5 or HMAC-SHA256 (keyed with the
//!   APIv2 key) over that string, upper-case hex.
//! * [`Notification::parse`] keeps **every** field of the flat `<xml>`, known or not,
//!   because the signature covers fields WeChat may add later; typed accessors read
//!   the ones a payment needs.
//! * [`verify`] tells the algorithm by the length of `sign` (32 → MD5, 64 →
//!   HMAC-SHA256) rather than by `sign_type`: merchants configured for HMAC-SHA256
//!   report MD5-signed notifications. The comparison is constant-time.
//!
//! A valid signature proves the sender holds the APIv2 key, not that the payment
//! matches an order: the caller still compares `out_trade_no`, `total_fee` and
//! `mch_id`/`appid` with its own records, and processes duplicates idempotently.
//!
//! The XML reader is the crate's defensive one ([`crate::xml::parse_document`]): no
//! DOCTYPE or ENTITY (the classic XXE of WeChat Pay SDKs), bounded depth, UTF-8 only.

pub mod refund;

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::pay::PayError;
use crate::reply::cdata;

pub use refund::{decrypt_req_info, encrypt_req_info, RefundInfo, RefundNotification};

/// The one reply that stops WeChat's retries, byte for byte.
pub const REPLY_SUCCESS: &str =
    "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";

/// The v2 signature algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignType {
    /// MD5 of the string to sign: 32 upper-case hex characters. The default.
    Md5,
    /// HMAC-SHA256 of the string to sign, keyed with the APIv2 key: 64 characters.
    HmacSha256,
}

impl SignType {
    /// The value of the `sign_type` field: `MD5` or `HMAC-SHA256`.
    pub fn name(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }

    /// Reads a `sign_type` value (exact, as WeChat writes them).
    pub fn from_name(name: &str) -> Option<SignType> {
        match name {
            "MD5" => Some(SignType::Md5),
            "HMAC-SHA256" => Some(SignType::HmacSha256),
            _ => None,
        }
    }

    /// The algorithm whose hex output has `len` characters (32 or 64).
    pub fn from_sign_len(len: usize) -> Option<SignType> {
        match len {
            32 => Some(SignType::Md5),
            64 => Some(SignType::HmacSha256),
            _ => None,
        }
    }
}

/// Signs `fields` with the APIv2 `key` and returns the upper-case hex `sign`.
///
/// A `sign` field and empty values are left out; keys are sorted by their bytes
/// (ASCII order), so the iteration order does not matter.
pub fn sign<I, K, V>(fields: I, key: &str, sign_type: SignType) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let message = string_to_sign(fields, key);
    match sign_type {
        SignType::Md5 => hex::encode_upper(Md5::digest(message.as_bytes())),
        SignType::HmacSha256 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(message.as_bytes());
            hex::encode_upper(mac.finalize().into_bytes())
        }
    }
}

/// `k1=v1&k2=v2&…&key=<key>`. It contains the key: never log it.
fn string_to_sign<I, K, V>(fields: I, key: &str) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(K, V)> = fields
        .into_iter()
        .filter(|(k, v)| k.as_ref() != "sign" && !v.as_ref().is_empty())
        .collect();
    pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let mut out = String::new();
    for (k, v) in &pairs {
        out.push_str(k.as_ref());
        out.push('=');
        out.push_str(v.as_ref());
        out.push('&');
    }
    out.push_str("key=");
    out.push_str(key);
    out
}

/// Checks the `sign` of any signed v2 field set against the APIv2 `key`.
///
/// The algorithm is told by the length of `sign` (see the module notes); a sign of
/// another length is [`PayError::BadSignature`], a missing or empty one
/// [`PayError::MissingField`]. Hex case is ignored.
pub fn verify_fields(fields: &BTreeMap<String, String>, key: &str) -> Result<(), PayError> {
    let received = fields
        .get("sign")
        .filter(|s| !s.is_empty())
        .ok_or(PayError::MissingField("sign"))?;
    let sign_type = SignType::from_sign_len(received.len()).ok_or(PayError::BadSignature)?;
    let expected = sign(fields, key, sign_type);
    let received = received.to_ascii_uppercase();
    if bool::from(received.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(PayError::BadSignature)
    }
}

/// Checks a payment notification's signature with the APIv2 `key`
/// ([`verify_fields`] over every field received).
pub fn verify(notification: &Notification, key: &str) -> Result<(), PayError> {
    verify_fields(&notification.fields, key)
}

/// The reply that acknowledges a notification (payment or refund): [`REPLY_SUCCESS`].
pub fn reply_success() -> &'static str {
    REPLY_SUCCESS
}

/// A failure reply: WeChat retries the notification later (fact sheet §6.1).
pub fn reply_fail(msg: &str) -> String {
    format!(
        "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>{}</return_msg></xml>",
        cdata(msg)
    )
}

/// Writes `fields` as a flat `<xml>` document, every value in CDATA, in key order:
/// the shape of WeChat's notifications, for simulators and fixtures.
pub fn to_xml(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push('<');
        out.push_str(k);
        out.push('>');
        out.push_str(&cdata(v));
        out.push_str("</");
        out.push_str(k);
        out.push('>');
    }
    out.push_str("</xml>");
    out
}

/// A v2 payment notification: every field received, and typed readers.
///
/// The readers of required fields answer [`PayError::MissingField`] when the field is
/// absent or empty, so the HTTP edge can use `?`. Read them after [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    fields: BTreeMap<String, String>,
}

impl Notification {
    /// Parses the POST body: a flat `<xml>` of text or CDATA elements.
    ///
    /// Refused as [`PayError::Malformed`]: XML the crate's reader refuses, a root
    /// other than `<xml>`, a nested element, a repeated element (the signature would
    /// be ambiguous).
    pub fn parse(xml: &[u8]) -> Result<Notification, PayError> {
        Ok(Notification {
            fields: parse_flat(xml, "xml")?,
        })
    }

    /// Wraps fields that were already read (by the caller, or built for a test).
    pub fn from_fields(fields: BTreeMap<String, String>) -> Notification {
        Notification { fields }
    }

    /// Every field received, unknown ones included, `sign` too.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// The raw value of any field (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// `return_code`: `SUCCESS` when the message carries a result; `FAIL` notifications
    /// carry only `return_msg` and no signature.
    pub fn return_code(&self) -> Result<&str, PayError> {
        required(&self.fields, "return_code")
    }

    /// `return_msg`, the reason of a `FAIL`.
    pub fn return_msg(&self) -> Option<&str> {
        optional(&self.fields, "return_msg")
    }

    /// `result_code`: `SUCCESS` for a paid order, `FAIL` otherwise.
    pub fn result_code(&self) -> Result<&str, PayError> {
        required(&self.fields, "result_code")
    }

    /// Whether both `return_code` and `result_code` are `SUCCESS`.
    pub fn is_success(&self) -> bool {
        self.get("return_code") == Some("SUCCESS") && self.get("result_code") == Some("SUCCESS")
    }

    /// `err_code` of a failed payment.
    pub fn err_code(&self) -> Option<&str> {
        optional(&self.fields, "err_code")
    }

    /// `err_code_des` of a failed payment.
    pub fn err_code_des(&self) -> Option<&str> {
        optional(&self.fields, "err_code_des")
    }

    /// `sign_type` as sent, if any (informative: [`verify`] goes by the sign's length).
    pub fn sign_type(&self) -> Option<&str> {
        optional(&self.fields, "sign_type")
    }

    /// `appid`: the OA (or mini program) the payment was made in.
    pub fn appid(&self) -> Result<&str, PayError> {
        required(&self.fields, "appid")
    }

    /// `mch_id`: the merchant number.
    pub fn mch_id(&self) -> Result<&str, PayError> {
        required(&self.fields, "mch_id")
    }

    /// `openid` of the payer under `appid`.
    pub fn openid(&self) -> Result<&str, PayError> {
        required(&self.fields, "openid")
    }

    /// `out_trade_no`: our order number.
    pub fn out_trade_no(&self) -> Result<&str, PayError> {
        required(&self.fields, "out_trade_no")
    }

    /// `transaction_id`: WeChat's order number.
    pub fn transaction_id(&self) -> Result<&str, PayError> {
        required(&self.fields, "transaction_id")
    }

    /// `total_fee`: the order amount in fen.
    pub fn total_fee(&self) -> Result<i64, PayError> {
        fen(&self.fields, "total_fee")
    }

    /// `cash_fee`: what the payer paid in cash, in fen.
    pub fn cash_fee(&self) -> Result<i64, PayError> {
        fen(&self.fields, "cash_fee")
    }

    /// `coupon_fee`: the coupons' part in fen, when coupons were used.
    pub fn coupon_fee(&self) -> Result<Option<i64>, PayError> {
        optional_fen(&self.fields, "coupon_fee")
    }

    /// `settlement_total_fee`: the amount to settle in fen, when it differs.
    pub fn settlement_total_fee(&self) -> Result<Option<i64>, PayError> {
        optional_fen(&self.fields, "settlement_total_fee")
    }

    /// `fee_type`: the currency; `None` when absent, which WeChat means as `CNY`.
    pub fn fee_type(&self) -> Option<&str> {
        optional(&self.fields, "fee_type")
    }

    /// `time_end`: when the payment completed, `yyyyMMddHHmmss` in Beijing time.
    pub fn time_end(&self) -> Result<&str, PayError> {
        required(&self.fields, "time_end")
    }

    /// [`time_end`](Self::time_end) converted to UTC (Beijing is UTC+8, no DST).
    pub fn time_end_utc(&self) -> Result<NaiveDateTime, PayError> {
        let text = self.time_end()?;
        beijing_compact_to_utc(text).ok_or_else(|| PayError::invalid_field("time_end", text))
    }

    /// `attach`: the merchant's data passed through the order, if any.
    pub fn attach(&self) -> Option<&str> {
        optional(&self.fields, "attach")
    }

    /// `trade_type`: `JSAPI`, `NATIVE`, `APP`, `MWEB`, `MICROPAY`.
    pub fn trade_type(&self) -> Result<&str, PayError> {
        required(&self.fields, "trade_type")
    }

    /// `bank_type`: the payer's funding source (`CMC`, `OTHERS`, …).
    pub fn bank_type(&self) -> Result<&str, PayError> {
        required(&self.fields, "bank_type")
    }
}

/// Parses a flat document whose root is `<root_name>` into name → text.
pub(crate) fn parse_flat(
    xml: &[u8],
    root_name: &'static str,
) -> Result<BTreeMap<String, String>, PayError> {
    let root = crate::xml::parse_document(xml).map_err(|e| PayError::Malformed(e.to_string()))?;
    if root.name != root_name {
        return Err(PayError::Malformed(format!(
            "root element is <{}>, expected <{root_name}>",
            root.name
        )));
    }
    if !root.text.is_empty() {
        return Err(PayError::Malformed(format!(
            "text directly inside <{root_name}>"
        )));
    }
    let mut fields = BTreeMap::new();
    for child in root.children {
        if !child.is_leaf() {
            return Err(PayError::Malformed(format!(
                "element <{}> is nested",
                child.name
            )));
        }
        if fields.contains_key(&child.name) {
            return Err(PayError::Malformed(format!(
                "element <{}> is repeated",
                child.name
            )));
        }
        fields.insert(child.name, child.text);
    }
    Ok(fields)
}

pub(crate) fn required<'a>(
    fields: &'a BTreeMap<String, String>,
    name: &'static str,
) -> Result<&'a str, PayError> {
    optional(fields, name).ok_or(PayError::MissingField(name))
}

/// A field's value; empty counts as absent (the signature ignores empty values too).
pub(crate) fn optional<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    fields
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// An amount in fen: ASCII digits only (no sign, no decimals), at most 18 of them.
pub(crate) fn fen(fields: &BTreeMap<String, String>, name: &'static str) -> Result<i64, PayError> {
    parse_fen(name, required(fields, name)?)
}

pub(crate) fn optional_fen(
    fields: &BTreeMap<String, String>,
    name: &'static str,
) -> Result<Option<i64>, PayError> {
    optional(fields, name)
        .map(|v| parse_fen(name, v))
        .transpose()
}

fn parse_fen(name: &'static str, value: &str) -> Result<i64, PayError> {
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PayError::invalid_field(name, value));
    }
    value
        .parse()
        .map_err(|_| PayError::invalid_field(name, value))
}

/// `yyyyMMddHHmmss` in Beijing time → UTC.
pub(crate) fn beijing_compact_to_utc(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() != 14 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
    beijing_to_utc(
        i32::try_from(num(0..4)?).ok()?,
        num(4..6)?,
        num(6..8)?,
        num(8..10)?,
        num(10..12)?,
        num(12..14)?,
    )
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time → UTC (refund `success_time`).
pub(crate) fn beijing_dashed_to_utc(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let compact: String = text.chars().filter(char::is_ascii_digit).collect();
    beijing_compact_to_utc(&compact)
}

fn beijing_to_utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<NaiveDateTime> {
    let local = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s)?;
    local.checked_sub_signed(chrono::Duration::hours(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn doc_fields() -> BTreeMap<String, String> {
        map(&[
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ])
    }

    #[test]
    fn official_vector() {
        let f = doc_fields();
        assert_eq!(
            string_to_sign(&f, DOC_KEY),
            "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&\
             nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
        );
        assert_eq!(
            sign(&f, DOC_KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&f, DOC_KEY, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
        // Order of the input does not matter; `sign` and empty values are left out.
        let shuffled = [
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
            ("sign", "whatever"),
            ("body", "test"),
            ("empty", ""),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("appid", "wxd930ea5d5a258f4f"),
        ];
        assert_eq!(
            sign(shuffled, DOC_KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
    }

    #[test]
    fn wechatpy_vectors() {
        let f = [("test1", "test1"), ("test2", "test2")];
        assert_eq!(
            sign(f, DOC_KEY, SignType::Md5),
            "1E3A8D73B5A4AEE787C0F68B5DAB8520"
        );
        assert_eq!(
            sign(f, DOC_KEY, SignType::HmacSha256),
            "EDAC6D70D2FDF5A2382F8204FC96A1918017E46ACC5297F565ED1A7610ACF659"
        );
    }

    #[test]
    fn sort_is_by_bytes() {
        // Upper case sorts before lower case, `_` between them: ASCII order.
        let f = [
            ("b", "1"),
            ("B", "2"),
            ("a_b", "3"),
            ("ab", "4"),
            ("a", "5"),
        ];
        assert_eq!(string_to_sign(f, "k"), "B=2&a=5&a_b=3&ab=4&b=1&key=k");
    }

    #[test]
    fn sign_type_names_and_lengths() {
        for t in [SignType::Md5, SignType::HmacSha256] {
            assert_eq!(SignType::from_name(t.name()), Some(t));
            assert_eq!(
                SignType::from_sign_len(sign([("a", "b")], "k", t).len()),
                Some(t)
            );
        }
        assert_eq!(SignType::from_name("md5"), None);
        assert_eq!(SignType::from_sign_len(40), None);
    }

    #[test]
    fn verify_fields_by_length() {
        let mut f = doc_fields();
        f.insert("sign".into(), "9A0A8659F005D6984697E2CA0A9CF3B7".into());
        assert_eq!(verify_fields(&f, DOC_KEY), Ok(()));
        // Lower-case hex is the same signature.
        f.insert("sign".into(), "9a0a8659f005d6984697e2ca0a9cf3b7".into());
        assert_eq!(verify_fields(&f, DOC_KEY), Ok(()));
        // HMAC by length, whatever sign_type says.
        f.insert("sign_type".into(), "MD5".into());
        let hmac = sign(&f, DOC_KEY, SignType::HmacSha256);
        f.insert("sign".into(), hmac);
        assert_eq!(verify_fields(&f, DOC_KEY), Ok(()));
        assert_eq!(verify_fields(&f, "other"), Err(PayError::BadSignature));
        f.insert("sign".into(), "ABC".into());
        assert_eq!(verify_fields(&f, DOC_KEY), Err(PayError::BadSignature));
        f.insert("sign".into(), String::new());
        assert_eq!(
            verify_fields(&f, DOC_KEY),
            Err(PayError::MissingField("sign"))
        );
        f.remove("sign");
        assert_eq!(
            verify_fields(&f, DOC_KEY),
            Err(PayError::MissingField("sign"))
        );
    }

    #[test]
    fn replies() {
        assert_eq!(
            reply_success(),
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
        );
        assert_eq!(
            reply_fail("签名失败"),
            "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[签名失败]]></return_msg></xml>"
        );
        assert_eq!(
            reply_fail("a]]>b"),
            "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[a]]]]><![CDATA[>b]]></return_msg></xml>"
        );
        // Both parse back as flat documents.
        let ok = parse_flat(reply_success().as_bytes(), "xml").unwrap();
        assert_eq!(ok["return_code"], "SUCCESS");
        let fail = parse_flat(reply_fail("a]]>b").as_bytes(), "xml").unwrap();
        assert_eq!(fail["return_msg"], "a]]>b");
    }

    #[test]
    fn beijing_times() {
        let utc = beijing_compact_to_utc("20240101073015").unwrap();
        assert_eq!(utc.to_string(), "2023-12-31 23:30:15");
        assert_eq!(
            beijing_dashed_to_utc("2017-12-15 09:46:01")
                .unwrap()
                .to_string(),
            "2017-12-15 01:46:01"
        );
        for bad in [
            "",
            "2024010107301",
            "202401010730150",
            "2024130107301x",
            "20241301073015",
            "20240230073015",
            "20240101253015",
            "+2024010107301",
        ] {
            assert_eq!(beijing_compact_to_utc(bad), None, "{bad}");
        }
        for bad in [
            "2017-12-15T09:46:01",
            "2017/12/15 09:46:01",
            "2017-12-15 09:46",
        ] {
            assert_eq!(beijing_dashed_to_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts() {
        let f = map(&[
            ("a", "0"),
            ("b", "100"),
            ("c", "-1"),
            ("d", "1.00"),
            ("e", " 1"),
            ("g", ""),
        ]);
        assert_eq!(fen(&f, "a"), Ok(0));
        assert_eq!(fen(&f, "b"), Ok(100));
        for bad in ["c", "d", "e"] {
            assert!(matches!(fen(&f, bad), Err(PayError::InvalidField { .. })));
        }
        assert_eq!(fen(&f, "g"), Err(PayError::MissingField("g")));
        assert_eq!(optional_fen(&f, "g"), Ok(None));
        assert_eq!(optional_fen(&f, "zz"), Ok(None));
        assert_eq!(optional_fen(&f, "b"), Ok(Some(100)));
        let big = map(&[("x", "9999999999999999999")]);
        assert!(matches!(fen(&big, "x"), Err(PayError::InvalidField { .. })));
    }

    #[test]
    fn flat_parse_refusals() {
        for (bad, what) in [
            ("<root><a>1</a></root>", "root"),
            ("<xml><a><b>1</b></a></xml>", "nested"),
            ("<xml><a>1</a><a>2</a></xml>", "repeated"),
            ("<xml>text<a>1</a></xml>", "text"),
            ("<xml><a>1</a>", "XML"),
        ] {
            match parse_flat(bad.as_bytes(), "xml") {
                Err(PayError::Malformed(m)) => {
                    assert!(m.contains(what) || what == "XML", "{bad}: {m}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let xxe =
            "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
                   <xml><attach>&x;</attach></xml>";
        assert!(matches!(
            Notification::parse(xxe.as_bytes()),
            Err(PayError::Malformed(_))
        ));
    }

    #[test]
    fn to_xml_round_trips() {
        let f = map(&[("a", "x & <y>"), ("b", "]]>"), ("c", ""), ("d", "中文")]);
        assert_eq!(parse_flat(to_xml(&f).as_bytes(), "xml").unwrap(), f);
    }
}
