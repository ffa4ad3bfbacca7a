//! The v2 refund notification (fact sheet §6.1, last item).
//!
//! The message itself is **not signed**: `return_code, appid, mch_id, nonce_str,
//! req_info`. `req_info` is Base64 of AES-256-ECB over a `<root>` document, with the
//! key = lower-case hex of MD5(APIv2 key), used as its 32 ASCII bytes, and PKCS#7
//! padding to **16**-byte blocks (WeChat's Java sample; wechatpy's encoder pads to 32,
//! which WeChat never sends).
//!
//! ECB has no integrity: a successful decryption only shows the sender knew the key
//! (garbage fails the padding or the XML with near certainty, but not by proof). Treat
//! a refund notification as a hint, compare it with the refund we asked for, and query
//! the refund when in doubt.
//!
//! The ECB mode is the block cipher applied to each 16-byte block in turn, done here
//! over `aes::Aes256`.

use std::collections::BTreeMap;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::NaiveDateTime;
use md5::{Digest, Md5};

use super::{beijing_dashed_to_utc, fen, optional, optional_fen, parse_flat, required};
use crate::pay::PayError;

const BLOCK: usize = 16;

/// A v2 refund notification as received: `return_code`, `appid`, `mch_id`,
/// `nonce_str`, `req_info` (and any other field, kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotification {
    fields: BTreeMap<String, String>,
}

impl RefundNotification {
    /// Parses the POST body (a flat `<xml>`, same rules as
    /// [`Notification::parse`](super::Notification::parse)).
    pub fn parse(xml: &[u8]) -> Result<RefundNotification, PayError> {
        Ok(RefundNotification {
            fields: parse_flat(xml, "xml")?,
        })
    }

    /// Every field received.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// `return_code`: `SUCCESS` or `FAIL`.
    pub fn return_code(&self) -> Result<&str, PayError> {
        required(&self.fields, "return_code")
    }

    /// `return_msg`, the reason of a `FAIL`.
    pub fn return_msg(&self) -> Option<&str> {
        optional(&self.fields, "return_msg")
    }

    /// `appid`.
    pub fn appid(&self) -> Result<&str, PayError> {
        required(&self.fields, "appid")
    }

    /// `mch_id`.
    pub fn mch_id(&self) -> Result<&str, PayError> {
        required(&self.fields, "mch_id")
    }

    /// `nonce_str`.
    pub fn nonce_str(&self) -> Result<&str, PayError> {
        required(&self.fields, "nonce_str")
    }

    /// `req_info`: the encrypted refund details.
    pub fn req_info(&self) -> Result<&str, PayError> {
        required(&self.fields, "req_info")
    }

    /// Decrypts and reads `req_info` with the APIv2 key ([`decrypt_req_info`]).
    pub fn decrypt(&self, apiv2_key: &str) -> Result<RefundInfo, PayError> {
        decrypt_req_info(self.req_info()?, apiv2_key)
    }
}

/// The decrypted `<root>` of a refund notification. Amounts in fen; times as sent
/// (`yyyy-MM-dd HH:mm:ss`, Beijing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInfo {
    /// WeChat's order number.
    pub transaction_id: String,
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat's refund number.
    pub refund_id: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// The order amount.
    pub total_fee: i64,
    /// The order amount to settle, when it differs from `total_fee` (coupons).
    pub settlement_total_fee: Option<i64>,
    /// The refund asked for.
    pub refund_fee: i64,
    /// The refund settled: `refund_fee` less non-recharge coupons.
    pub settlement_refund_fee: i64,
    /// `SUCCESS`, `CHANGE` (refund failed, money to be moved by hand) or `REFUNDCLOSE`.
    pub refund_status: String,
    /// When the refund succeeded; sent only with `SUCCESS`.
    pub success_time: Option<String>,
    /// Where the money went, e.g. `招商银行信用卡0403` or `支付用户零钱` (WeChat's
    /// spelling "accout").
    pub refund_recv_accout: String,
    /// `REFUND_SOURCE_RECHARGE_FUNDS` or `REFUND_SOURCE_UNSETTLED_FUNDS`.
    pub refund_account: String,
    /// `API` or `VENDOR_PLATFORM`.
    pub refund_request_source: String,
    /// Every element of `<root>`, the ones above included.
    pub fields: BTreeMap<String, String>,
}

impl RefundInfo {
    /// Reads the fields of a decrypted `<root>`.
    pub fn from_fields(fields: BTreeMap<String, String>) -> Result<RefundInfo, PayError> {
        let s = |name: &'static str| required(&fields, name).map(str::to_owned);
        Ok(RefundInfo {
            transaction_id: s("transaction_id")?,
            out_trade_no: s("out_trade_no")?,
            refund_id: s("refund_id")?,
            out_refund_no: s("out_refund_no")?,
            total_fee: fen(&fields, "total_fee")?,
            settlement_total_fee: optional_fen(&fields, "settlement_total_fee")?,
            refund_fee: fen(&fields, "refund_fee")?,
            settlement_refund_fee: fen(&fields, "settlement_refund_fee")?,
            refund_status: s("refund_status")?,
            success_time: optional(&fields, "success_time").map(str::to_owned),
            refund_recv_accout: s("refund_recv_accout")?,
            refund_account: s("refund_account")?,
            refund_request_source: s("refund_request_source")?,
            fields,
        })
    }

    /// Whether the refund reached the payer (`refund_status` = `SUCCESS`).
    pub fn is_success(&self) -> bool {
        self.refund_status == "SUCCESS"
    }

    /// `success_time` in UTC, when present.
    pub fn success_time_utc(&self) -> Result<Option<NaiveDateTime>, PayError> {
        self.success_time
            .as_deref()
            .map(|t| {
                beijing_dashed_to_utc(t).ok_or_else(|| PayError::invalid_field("success_time", t))
            })
            .transpose()
    }
}

/// Decrypts `req_info` with the APIv2 key and reads the refund.
///
/// Errors: [`PayError::Malformed`] when `req_info` is not Base64;
/// [`PayError::Decrypt`] when the ciphertext is not whole blocks, the padding is wrong,
/// or the plaintext is not a `<root>` document (all of them: wrong key or tampering);
/// [`PayError::MissingField`] / [`PayError::InvalidField`] for a refund field.
pub fn decrypt_req_info(req_info_b64: &str, apiv2_key: &str) -> Result<RefundInfo, PayError> {
    let plain = decrypt_req_info_raw(req_info_b64, apiv2_key)?;
    let fields = parse_flat(&plain, "root").map_err(|_| PayError::Decrypt)?;
    RefundInfo::from_fields(fields)
}

/// Decrypts `req_info` and returns the plaintext XML bytes, padding removed.
pub fn decrypt_req_info_raw(req_info_b64: &str, apiv2_key: &str) -> Result<Vec<u8>, PayError> {
    let mut buf = STANDARD
        .decode(req_info_b64.trim())
        .map_err(|_| PayError::Malformed("req_info is not Base64".into()))?;
    if buf.is_empty() || buf.len() % BLOCK != 0 {
        return Err(PayError::Decrypt);
    }
    let cipher = cipher(apiv2_key);
    for block in buf.chunks_exact_mut(BLOCK) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = unpad16(&buf)?;
    buf.truncate(buf.len() - pad);
    Ok(buf)
}

/// Encrypts a `<root>` document as WeChat does (PKCS#7 to 16-byte blocks) and returns
/// the Base64 `req_info`. For simulators and fixtures.
pub fn encrypt_req_info(plain_xml: &[u8], apiv2_key: &str) -> String {
    let mut buf = plain_xml.to_vec();
    let pad = BLOCK - buf.len() % BLOCK;
    // pad is in 1..=16.
    buf.resize(buf.len() + pad, pad as u8);
    let cipher = cipher(apiv2_key);
    for block in buf.chunks_exact_mut(BLOCK) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    STANDARD.encode(buf)
}

/// AES-256 keyed with the 32 ASCII bytes of lower-hex MD5(APIv2 key).
fn cipher(apiv2_key: &str) -> Aes256 {
    let key_hex = hex::encode(Md5::digest(apiv2_key.as_bytes()));
    Aes256::new(GenericArray::from_slice(key_hex.as_bytes()))
}

/// The PKCS#7 pad length (1..=16) of a block-aligned buffer.
fn unpad16(buf: &[u8]) -> Result<usize, PayError> {
    let pad = usize::from(*buf.last().ok_or(PayError::Decrypt)?);
    if pad == 0 || pad > BLOCK || pad > buf.len() {
        return Err(PayError::Decrypt);
    }
    if buf[buf.len() - pad..]
        .iter()
        .any(|&b| usize::from(b) != pad)
    {
        return Err(PayError::Decrypt);
    }
    Ok(pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    const ROOT: &str = "<root>\
        <out_refund_no><![CDATA[R20240101001]]></out_refund_no>\
        <out_trade_no><![CDATA[T20240101001]]></out_trade_no>\
        <refund_account><![CDATA[REFUND_SOURCE_RECHARGE_FUNDS]]></refund_account>\
        <refund_fee><![CDATA[300]]></refund_fee>\
        <refund_id><![CDATA[50000408942018111907145868882]]></refund_id>\
        <refund_recv_accout><![CDATA[支付用户零钱]]></refund_recv_accout>\
        <refund_request_source><![CDATA[API]]></refund_request_source>\
        <refund_status><![CDATA[SUCCESS]]></refund_status>\
        <settlement_refund_fee><![CDATA[300]]></settlement_refund_fee>\
        <settlement_total_fee><![CDATA[1000]]></settlement_total_fee>\
        <success_time><![CDATA[2024-01-01 09:30:05]]></success_time>\
        <total_fee><![CDATA[1000]]></total_fee>\
        <transaction_id><![CDATA[4200000215201811190261405420]]></transaction_id>\
        </root>";

    #[test]
    fn key_is_md5_hex_as_ascii() {
        // The AES key is the hex text itself, not the 16 digest bytes.
        let hex_key = hex::encode(Md5::digest(KEY.as_bytes()));
        assert_eq!(hex_key.len(), 32);
        assert!(hex_key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn round_trip() {
        let req_info = encrypt_req_info(ROOT.as_bytes(), KEY);
        let raw = STANDARD.decode(&req_info).unwrap();
        // 16-byte PKCS#7: at most one block more than the plaintext.
        assert_eq!(raw.len(), (ROOT.len() / 16 + 1) * 16);
        assert_eq!(
            decrypt_req_info_raw(&req_info, KEY).unwrap(),
            ROOT.as_bytes()
        );

        let info = decrypt_req_info(&req_info, KEY).unwrap();
        assert_eq!(info.transaction_id, "4200000215201811190261405420");
        assert_eq!(info.out_trade_no, "T20240101001");
        assert_eq!(info.refund_id, "50000408942018111907145868882");
        assert_eq!(info.out_refund_no, "R20240101001");
        assert_eq!(info.total_fee, 1000);
        assert_eq!(info.settlement_total_fee, Some(1000));
        assert_eq!(info.refund_fee, 300);
        assert_eq!(info.settlement_refund_fee, 300);
        assert!(info.is_success());
        assert_eq!(info.success_time.as_deref(), Some("2024-01-01 09:30:05"));
        assert_eq!(
            info.success_time_utc().unwrap().unwrap().to_string(),
            "2024-01-01 01:30:05"
        );
        assert_eq!(info.refund_recv_accout, "支付用户零钱");
        assert_eq!(info.refund_account, "REFUND_SOURCE_RECHARGE_FUNDS");
        assert_eq!(info.refund_request_source, "API");
        assert_eq!(info.fields.len(), 13);

        let body = format!(
            "<xml><return_code>SUCCESS</return_code><appid><![CDATA[wx2421b1c4370ec43b]]></appid>\
             <mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[TeqClE3i0mvn3DrK]]></nonce_str>\
             <req_info><![CDATA[{req_info}]]></req_info></xml>"
        );
        let n = RefundNotification::parse(body.as_bytes()).unwrap();
        assert_eq!(n.return_code(), Ok("SUCCESS"));
        assert_eq!(n.appid(), Ok("wx2421b1c4370ec43b"));
        assert_eq!(n.mch_id(), Ok("10000100"));
        assert_eq!(n.nonce_str(), Ok("TeqClE3i0mvn3DrK"));
        assert_eq!(n.return_msg(), None);
        assert_eq!(n.decrypt(KEY).unwrap(), info);
        assert_eq!(n.fields().len(), 5);
    }

    #[test]
    fn every_pad_length() {
        for len in 0..40 {
            let plain = vec![b'x'; len];
            let enc = encrypt_req_info(&plain, KEY);
            assert_eq!(decrypt_req_info_raw(&enc, KEY).unwrap(), plain);
        }
    }

    #[test]
    fn wrong_key_and_tampering_fail() {
        let req_info = encrypt_req_info(ROOT.as_bytes(), KEY);
        assert_eq!(
            decrypt_req_info(&req_info, "192006250b4c09247ec02edce69f6a2e"),
            Err(PayError::Decrypt)
        );
        let mut raw = STANDARD.decode(&req_info).unwrap();
        // Flipping any bit of any block must never give back the original refund.
        let original = decrypt_req_info(&req_info, KEY).unwrap();
        for i in (0..raw.len()).step_by(7) {
            raw[i] ^= 0x04;
            if let Ok(info) = decrypt_req_info(&STANDARD.encode(&raw), KEY) {
                assert_ne!(info, original);
            }
            raw[i] ^= 0x04;
        }
        // The last block decides the padding.
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        assert_eq!(
            decrypt_req_info(&STANDARD.encode(&raw), KEY),
            Err(PayError::Decrypt)
        );
    }

    #[test]
    fn malformed_inputs() {
        assert!(matches!(
            decrypt_req_info("not base64!", KEY),
            Err(PayError::Malformed(_))
        ));
        assert_eq!(decrypt_req_info("", KEY), Err(PayError::Decrypt));
        assert_eq!(
            decrypt_req_info(&STANDARD.encode([0u8; 17]), KEY),
            Err(PayError::Decrypt)
        );
        // 32-byte padding (wechatpy's encoder) is not WeChat's and is refused.
        let mut padded = b"<root></root>".to_vec(); // 13 bytes: a 32-pad of 19
        padded.resize(32, 19);
        let c = cipher(KEY);
        for b in padded.chunks_exact_mut(16) {
            c.encrypt_block(GenericArray::from_mut_slice(b));
        }
        assert_eq!(
            decrypt_req_info_raw(&STANDARD.encode(&padded), KEY),
            Err(PayError::Decrypt)
        );
        // A plaintext that is not a <root> document.
        let not_root = encrypt_req_info(b"<xml><a>1</a></xml>", KEY);
        assert_eq!(decrypt_req_info(&not_root, KEY), Err(PayError::Decrypt));
        let missing = encrypt_req_info(b"<root><refund_id>1</refund_id></root>", KEY);
        assert_eq!(
            decrypt_req_info(&missing, KEY),
            Err(PayError::MissingField("transaction_id"))
        );
        let n = RefundNotification::parse(b"<xml><return_code>FAIL</return_code></xml>").unwrap();
        assert_eq!(n.decrypt(KEY), Err(PayError::MissingField("req_info")));
    }
}
