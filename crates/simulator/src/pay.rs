//! WeChat Pay APIv3 signatures as the simulator applies them (fact sheet §6.2, §6.3):
//! the simulator's own code, written apart from `patron_wechat::pay` so the two check
//! each other.
//!
//! * A merchant's request carries `Authorization: WECHATPAY2-SHA256-RSA2048
//!   mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`; the signature
//!   is Base64 SHA256withRSA (PKCS#1 v1.5) over
//!   `"{METHOD}\n{path?query}\n{timestamp}\n{nonce}\n{body}\n"`, checked with the
//!   public key the merchant registered.
//! * Answers are signed with the platform key: `Wechatpay-Timestamp`, `-Nonce`,
//!   `-Signature` over `"{timestamp}\n{nonce}\n{body}\n"`, and `-Serial` naming the key
//!   ([`PLATFORM_KEY_ID`], WeChat Pay's public-key mode).

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The id the simulator's platform key goes by in `Wechatpay-Serial` (a WeChat Pay
/// public key's id has this shape: `PUB_KEY_ID_` and digits).
pub const PLATFORM_KEY_ID: &str = "PUB_KEY_ID_SIM0000000000000000000000000001";
/// The public half of the platform key (SPKI PEM), to configure the merchant's side.
pub const PLATFORM_PUBLIC_KEY_PEM: &str = include_str!("testdata/platform_public.pem");
const PLATFORM_PRIVATE_KEY_PEM: &str = include_str!("testdata/platform_private.pem");
/// The one signature scheme of APIv3.
pub const SIGNATURE_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// The `bill_type`s of `GET /v3/bill/tradebill`.
pub const BILL_TYPES: [&str; 3] = ["ALL", "SUCCESS", "REFUND"];
/// How far a request's timestamp may be from the simulated clock: 5 minutes.
pub const MAX_SKEW_SECS: i64 = 300;
/// How long a `download_url` stays valid: 5 minutes (fact sheet §6.3).
pub const DOWNLOAD_TTL_SECS: i64 = 300;
/// The smallest merchant key accepted, in bits (the scheme is RSA 2048).
pub const MIN_KEY_BITS: usize = 2048;

/// The platform signing key, read once per process (reading is cheap; the lock is
/// for the many simulators a test binary starts).
fn platform_key() -> &'static SigningKey<Sha256> {
    static KEY: OnceLock<SigningKey<Sha256>> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaPrivateKey::from_pkcs8_pem(PLATFORM_PRIVATE_KEY_PEM)
            .expect("the shipped platform key is a PKCS#8 RSA key");
        SigningKey::new(key)
    })
}

/// Whether `s` is a bill date WeChat Pay takes: `YYYY-MM-DD`, a real day.
pub fn is_bill_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let number = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year > 0 && (1..=days).contains(&day)
}

/// A merchant's public key from PEM (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`),
/// at least [`MIN_KEY_BITS`].
pub(crate) fn merchant_key(pem: &str) -> Result<VerifyingKey<Sha256>, String> {
    let pem = pem.trim();
    let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| format!("not an RSA public key: {e}"))?
    } else {
        RsaPublicKey::from_public_key_pem(pem)
            .map_err(|e| format!("not a PUBLIC KEY (SPKI) or RSA PUBLIC KEY PEM: {e}"))?
    };
    let bits = key.size() * 8;
    if bits < MIN_KEY_BITS {
        return Err(format!(
            "an RSA key of {bits} bits, at least {MIN_KEY_BITS} needed"
        ));
    }
    Ok(VerifyingKey::new(key))
}

/// The fields of a merchant's `Authorization` header.
pub(crate) struct Authorization {
    pub mchid: String,
    pub nonce: String,
    pub signature: String,
    pub timestamp: String,
    pub serial: String,
}

/// Reads `WECHATPAY2-SHA256-RSA2048 k="v",k="v",…`; `None` for another scheme, a
/// field without quotes, or one of the five fields missing or empty. Unknown fields
/// are ignored, as are spaces after commas.
pub(crate) fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix(SIGNATURE_SCHEME)?.strip_prefix(' ')?;
    let mut auth = Authorization {
        mchid: String::new(),
        nonce: String::new(),
        signature: String::new(),
        timestamp: String::new(),
        serial: String::new(),
    };
    for field in rest.split(',') {
        let (name, quoted) = field.trim_start().split_once('=')?;
        let v = quoted.strip_prefix('"')?.strip_suffix('"')?.to_owned();
        match name {
            "mchid" => auth.mchid = v,
            "nonce_str" => auth.nonce = v,
            "signature" => auth.signature = v,
            "timestamp" => auth.timestamp = v,
            "serial_no" => auth.serial = v,
            _ => {}
        }
    }
    [
        &auth.mchid,
        &auth.nonce,
        &auth.signature,
        &auth.timestamp,
        &auth.serial,
    ]
    .iter()
    .all(|v| !v.is_empty())
    .then_some(auth)
}

/// Whether the request's signature verifies with `key` over the canonical message
/// (a GET: empty body).
pub(crate) fn request_verifies(
    key: &VerifyingKey<Sha256>,
    method: &str,
    path_and_query: &str,
    auth: &Authorization,
    body: &[u8],
) -> bool {
    let Ok(raw) = STANDARD.decode(&auth.signature) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(raw.as_slice()) else {
        return false;
    };
    let mut message = Vec::new();
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        auth.timestamp.as_bytes(),
        auth.nonce.as_bytes(),
        body,
    ] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    key.verify(&message, &signature).is_ok()
}

/// 32 random upper-case hex digits: answer nonces, download tokens.
pub(crate) fn random_hex() -> String {
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| char::from(b"0123456789ABCDEF"[rng.gen_range(0..16)]))
        .collect()
}

/// The four `Wechatpay-*` headers of an answer with `body`, signed at `timestamp`.
pub(crate) fn sign_answer(timestamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let timestamp = timestamp.to_string();
    let nonce = random_hex();
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for part in [timestamp.as_bytes(), nonce.as_bytes(), body] {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    let signature = STANDARD.encode(platform_key().sign(&message).to_bytes());
    vec![
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Serial", PLATFORM_KEY_ID.to_owned()),
    ]
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
