//! WeChat Pay v3: the signed JSON notification, its encrypted `resource`, and the
//! replies (fact sheet §6.2).
//!
//! Handling one notification:
//!
//! 1. [`verify`] the four `Wechatpay-*` headers against the **raw** body: the signed
//!    message is `"{timestamp}\n{nonce}\n{body}\n"`, SHA256withRSA (PKCS#1 v1.5) with
//!    the platform key named by `Wechatpay-Serial` ([`PlatformKeys`]). Re-serialised
//!    JSON does not verify; hand over the bytes as received.
//! 2. [`Envelope::parse`] the body and [`decrypt_resource`] (AES-256-GCM with the
//!    APIv3 key, [`ApiV3Key`]); [`Envelope::transaction`] / [`Envelope::refund`] do both
//!    and read the typed plaintext.
//! 3. Answer [`REPLY_SUCCESS_STATUS`] with no body, or a 4XX/5XX with [`reply_fail`].
//!
//! [`verify`] refuses, each with its own [`PayError`] so the edge can log why: a
//! signature probe ([`PayError::Probe`]; WeChat sends these on purpose to check that
//! merchants verify), a timestamp more than [`MAX_SKEW_SECS`] away
//! ([`PayError::Expired`]), a serial we hold no key for ([`PayError::UnknownSerial`]:
//! refresh the platform keys), and a signature that does not match
//! ([`PayError::BadSignature`]).
//!
//! Signing and encrypting (what WeChat does) are in the `testing` module, behind the
//! `pay-testing` feature.
//!
//! [`bill`] fetches the daily trade bill: requests signed with the merchant's key
//! ([`bill::MerchantSigner`]), answers verified with [`verify`] as notifications are.

pub mod bill;
mod notification;
#[cfg(any(test, feature = "pay-testing"))]
pub mod testing;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

use crate::pay::PayError;

pub use notification::{
    decrypt_resource, ApiV3Key, Envelope, Payer, PromotionDetail, Refund, RefundAmount, Resource,
    Transaction, TransactionAmount, ALGORITHM, NONCE_LEN, TAG_LEN,
};
pub use rsa::{RsaPrivateKey, RsaPublicKey};

/// Header carrying the signing time, Unix seconds.
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
/// Header carrying the signing nonce.
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
/// Header carrying the Base64 signature.
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
/// Header naming the platform key: a certificate serial (hex) or `PUB_KEY_ID_…`.
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
/// Header naming the signature scheme, [`SIGNATURE_TYPE`].
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// The only signature scheme WeChat Pay v3 notifications use.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a timestamp may be from now, either way: 5 minutes, as WeChat's own SDKs.
pub const MAX_SKEW_SECS: i64 = 300;
/// What the signature of a WeChat signature probe starts with.
pub const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";
/// The status that acknowledges a notification (200 also does); no body.
pub const REPLY_SUCCESS_STATUS: u16 = 204;
/// The body of a failure reply (with a 4XX or 5XX status), as WeChat's docs show it.
pub const REPLY_FAIL_BODY: &str = r#"{"code":"FAIL","message":"失败"}"#;
/// The smallest platform key accepted, in bits.
pub const MIN_KEY_BITS: usize = 2048;

/// The `Wechatpay-*` headers of a notification, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    /// `Wechatpay-Timestamp`: Unix seconds, decimal.
    pub timestamp: &'a str,
    /// `Wechatpay-Nonce`.
    pub nonce: &'a str,
    /// `Wechatpay-Signature`: Base64.
    pub signature: &'a str,
    /// `Wechatpay-Serial`: which platform key signed.
    pub serial: &'a str,
}

/// The platform public keys a merchant trusts, each under the serial (or public-key
/// id) WeChat names it by in `Wechatpay-Serial`.
///
/// Ids are compared ignoring ASCII case, and hex serials as numbers (leading zeros
/// ignored), as WeChat's SDKs compare certificate serials. Certificate validity periods
/// are not checked here: drop a key when WeChat retires it.
#[derive(Debug, Clone, Default)]
pub struct PlatformKeys {
    keys: Vec<(String, VerifyingKey<Sha256>)>,
}

impl PlatformKeys {
    /// No keys.
    pub fn new() -> PlatformKeys {
        PlatformKeys::default()
    }

    /// Adds (or replaces) the key named `id`: a WeChat Pay public key's id
    /// (`PUB_KEY_ID_…`) or a certificate serial.
    ///
    /// Refused ([`PayError::InvalidKey`]): an empty id, a key under [`MIN_KEY_BITS`].
    pub fn add_public_key(&mut self, id: &str, key: RsaPublicKey) -> Result<(), PayError> {
        if id.is_empty() {
            return Err(PayError::InvalidKey("empty key id".into()));
        }
        let bits = key.size() * 8;
        if bits < MIN_KEY_BITS {
            return Err(PayError::InvalidKey(format!(
                "RSA key of {bits} bits, at least {MIN_KEY_BITS} needed"
            )));
        }
        let verifying = VerifyingKey::<Sha256>::new(key);
        match self.keys.iter_mut().find(|(known, _)| same_id(known, id)) {
            Some(slot) => slot.1 = verifying,
            None => self.keys.push((id.to_string(), verifying)),
        }
        Ok(())
    }

    /// Adds a public key from PEM: `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo,
    /// what the merchant platform hands out) or `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1).
    pub fn add_public_key_pem(&mut self, id: &str, pem: &str) -> Result<(), PayError> {
        let pem = pem.trim();
        let key = RsaPublicKey::from_public_key_pem(pem)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
            .map_err(|e| PayError::InvalidKey(format!("public key PEM: {e}")))?;
        self.add_public_key(id, key)
    }

    /// Adds the RSA key of an X.509 platform certificate (`-----BEGIN CERTIFICATE-----`)
    /// under its serial number, and returns that serial: upper-case hex without leading
    /// zeros, as WeChat writes it in `Wechatpay-Serial`.
    pub fn add_certificate_pem(&mut self, pem: &str) -> Result<String, PayError> {
        let cert = Certificate::from_pem(pem.trim().as_bytes())
            .map_err(|e| PayError::InvalidKey(format!("certificate PEM: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let serial = serial_hex(tbs.serial_number.as_bytes());
        let spki = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| PayError::InvalidKey(format!("certificate key: {e}")))?;
        let key = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| PayError::InvalidKey(format!("certificate key is not RSA: {e}")))?;
        self.add_public_key(&serial, key)?;
        Ok(serial)
    }

    /// Removes the key named `id`; whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.keys.len();
        self.keys.retain(|(known, _)| !same_id(known, id));
        self.keys.len() != before
    }

    /// The key named `id`.
    pub fn get(&self, id: &str) -> Option<&RsaPublicKey> {
        self.verifying_key(id).map(AsRef::as_ref)
    }

    /// The ids held, in the order they were added.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn verifying_key(&self, id: &str) -> Option<&VerifyingKey<Sha256>> {
        self.keys
            .iter()
            .find(|(known, _)| same_id(known, id))
            .map(|(_, key)| key)
    }
}

/// Whether two key ids name the same key: hex serials as numbers, anything else
/// (`PUB_KEY_ID_…`) ignoring ASCII case.
fn same_id(a: &str, b: &str) -> bool {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit());
    if is_hex(a) && is_hex(b) {
        a.trim_start_matches('0')
            .eq_ignore_ascii_case(b.trim_start_matches('0'))
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

/// A DER integer's bytes as WeChat's serial: upper hex, leading zeros dropped (Java's
/// `BigInteger.toString(16)`), `0` for zero.
fn serial_hex(bytes: &[u8]) -> String {
    let hex = hex::encode_upper(bytes);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The signed message: `"{timestamp}\n{nonce}\n{body}\n"`, the body byte for byte.
pub fn message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// Verifies a notification's signature over the raw `body`, `now` being the current
/// Unix time in seconds.
///
/// Checks, in order: every header present ([`PayError::MissingField`] with the header
/// name); a probe signature ([`PayError::Probe`]); the timestamp a decimal number
/// ([`PayError::InvalidField`]) within [`MAX_SKEW_SECS`] of `now`
/// ([`PayError::Expired`]); a key for the serial ([`PayError::UnknownSerial`]); the
/// signature Base64 and valid ([`PayError::BadSignature`]).
pub fn verify(
    headers: &Headers<'_>,
    body: &[u8],
    keys: &PlatformKeys,
    now: i64,
) -> Result<(), PayError> {
    for (value, name) in [
        (headers.timestamp, HEADER_TIMESTAMP),
        (headers.nonce, HEADER_NONCE),
        (headers.signature, HEADER_SIGNATURE),
        (headers.serial, HEADER_SERIAL),
    ] {
        if value.is_empty() {
            return Err(PayError::MissingField(name));
        }
    }

    if headers.signature.starts_with(PROBE_PREFIX) {
        return Err(PayError::Probe);
    }

    let ts = headers.timestamp;
    if ts.len() > 18 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PayError::invalid_field(HEADER_TIMESTAMP, ts));
    }
    let ts: i64 = ts
        .parse()
        .map_err(|_| PayError::invalid_field(HEADER_TIMESTAMP, ts))?;
    let skew_secs = now.saturating_sub(ts);
    if skew_secs.abs() > MAX_SKEW_SECS {
        return Err(PayError::Expired { skew_secs });
    }

    let key = keys
        .verifying_key(headers.serial)
        .ok_or_else(|| PayError::UnknownSerial(headers.serial.chars().take(64).collect()))?;

    let raw = STANDARD
        .decode(headers.signature.trim())
        .map_err(|_| PayError::BadSignature)?;
    let signature = Signature::try_from(raw.as_slice()).map_err(|_| PayError::BadSignature)?;
    key.verify(&message(headers.timestamp, headers.nonce, body), &signature)
        .map_err(|_| PayError::BadSignature)
}

/// A failure reply body with `message` (JSON-escaped); send it with a 4XX or 5XX.
pub fn reply_fail(message: &str) -> String {
    serde_json::json!({ "code": "FAIL", "message": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_format() {
        assert_eq!(serial_hex(&[0x00, 0x0A, 0xBC]), "ABC");
        assert_eq!(serial_hex(&[0x51, 0x57]), "5157");
        assert_eq!(serial_hex(&[0x00]), "0");
        assert_eq!(serial_hex(&[]), "0");
    }

    #[test]
    fn ids_compare_as_wechat_serials() {
        assert!(same_id("5157F09E", "5157f09e"));
        assert!(same_id("0ABC", "abc"));
        assert!(same_id("0", "000"));
        assert!(!same_id("ABC", "ABD"));
        assert!(same_id("PUB_KEY_ID_0114", "pub_key_id_0114"));
        assert!(!same_id("PUB_KEY_ID_0114", "PUB_KEY_ID_114"));
        assert!(!same_id("", "0"));
    }
}
