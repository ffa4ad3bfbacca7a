//! The daily trade bill (交易账单) through WeChat Pay APIv3 (fact sheet §6.3).
//!
//! Patron reconciles its payments against the bill WeChat Pay writes for each merchant
//! and day. APIv3 is used rather than v2's `downloadbill` because its answer carries the
//! SHA1 of the file, so a download cut off or altered on the way is noticed, and because
//! its answers are signed by the platform key the notifications already verify with.
//!
//! Fetching one day is two requests:
//!
//! 1. `GET /v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=ALL`, signed with the
//!    merchant's API certificate key ([`MerchantSigner::authorization`]). The answer is
//!    signed by WeChat (the same `Wechatpay-*` headers and message as a notification,
//!    [`super::verify`]) and says where the file is (`download_url`, valid 5 minutes)
//!    and its hash, or that there is no bill (a day without trades), or that it is not
//!    written yet (before about 10:00 Beijing time the next day).
//! 2. `GET` the `download_url`, signed too. This answer is **not** signed (WeChat's
//!    docs say so; the hash from step 1 stands in for it), so the file is streamed into
//!    the caller's sink while its SHA1 is computed and compared at the end.
//!
//! [`TradeBillClient::fetch`] does both. Every answer of step 1 is verified before it
//! is read, error answers included: a forged "no statement" would hide a day's trades.
//! What to do with the file (parse it, store it) is the caller's; on an error the sink
//! holds an unusable part of it, so write to a temporary file and keep it only on
//! [`Fetched::Bill`].
//!
//! Only uncompressed files are asked for (no `tar_type`), and only `hash_type` `SHA1`
//! is accepted, the one WeChat documents.
//!
//! The clock is the caller's (`now_unix`): it stamps the request signatures and bounds
//! the age of WeChat's, as [`super::verify`] does for notifications.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::NaiveDate;
use rand::RngCore;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, USER_AGENT};
use reqwest::{redirect, Response, Url};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Deserialize;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::{
    verify, Headers, PlatformKeys, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE, HEADER_TIMESTAMP,
    MIN_KEY_BITS, SIGNATURE_TYPE,
};
use crate::pay::PayError;

/// WeChat Pay's production API base URL.
pub const PRODUCTION_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// The path of the trade-bill request.
pub const TRADEBILL_PATH: &str = "/v3/bill/tradebill";
/// The bill types APIv3 knows: every trade, payments only, refunds only.
pub const BILL_TYPES: [&str; 3] = ["ALL", "SUCCESS", "REFUND"];
/// The only `hash_type` accepted.
pub const HASH_TYPE: &str = "SHA1";
/// The error code of a day without a bill (no trades that day).
pub const CODE_NO_STATEMENT: &str = "NO_STATEMENT_EXIST";
/// The error code of a bill WeChat has not finished writing.
pub const CODE_CREATING: &str = "STATEMENT_CREATING";
/// Connecting gives up after this long (either request).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole trade-bill request (a small JSON answer) gives up after this long.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// The whole download gives up after this long: a busy merchant's ALL bill runs to
/// hundreds of megabytes, and a slow link should still get it in one go.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The largest JSON answer read (WeChat's are a few hundred bytes); anything larger
/// is refused ([`PayError::TooLarge`]) rather than buffered.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The `User-Agent` of every request (WeChat Pay asks for one).
pub const USER_AGENT_VALUE: &str = concat!("patron-wechat/", env!("CARGO_PKG_VERSION"));

/// Signs requests for one merchant: its merchant id (`mchid`), the serial number of
/// its API certificate (`serial_no`, telling WeChat which public key to check with) and
/// that certificate's private key (`apiclient_key.pem`).
///
/// The key signs requests only; it never leaves this value, and `Debug` hides it.
#[derive(Clone)]
pub struct MerchantSigner {
    mchid: String,
    serial: String,
    key: SigningKey<Sha256>,
}

impl fmt::Debug for MerchantSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantSigner")
            .field("mchid", &self.mchid)
            .field("serial", &self.serial)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl MerchantSigner {
    /// A signer from the private key in PEM: `-----BEGIN PRIVATE KEY-----` (PKCS#8, what
    /// the merchant platform's certificate tool writes) or `-----BEGIN RSA PRIVATE
    /// KEY-----` (PKCS#1, what older OpenSSL commands write).
    ///
    /// Refused ([`PayError::InvalidKey`]): a PEM that is neither, or an RSA key under
    /// [`MIN_KEY_BITS`] (WeChat's scheme is RSA 2048). Refused
    /// ([`PayError::InvalidField`]): an empty `mchid` or `serial`, or one with other
    /// than ASCII letters and digits (both go between quotes in a header).
    pub fn from_pem(mchid: &str, serial: &str, pem: &str) -> Result<MerchantSigner, PayError> {
        let pem = pem.trim();
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| PayError::InvalidKey(format!("private key PEM: {e}")))?;
        MerchantSigner::new(mchid, serial, key)
    }

    /// A signer from a key already read; the same checks as [`MerchantSigner::from_pem`].
    pub fn new(mchid: &str, serial: &str, key: RsaPrivateKey) -> Result<MerchantSigner, PayError> {
        let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !token(mchid) {
            return Err(PayError::invalid_field("mchid", mchid));
        }
        if !token(serial) {
            return Err(PayError::invalid_field("serial_no", serial));
        }
        let bits = key.size() * 8;
        if bits < MIN_KEY_BITS {
            return Err(PayError::InvalidKey(format!(
                "RSA key of {bits} bits, at least {MIN_KEY_BITS} needed"
            )));
        }
        Ok(MerchantSigner {
            mchid: mchid.to_owned(),
            serial: serial.to_owned(),
            key: SigningKey::new(key),
        })
    }

    /// The merchant id.
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The API certificate's serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The `Authorization` header value of a request:
    /// `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`,
    /// the signature being Base64 SHA256withRSA (PKCS#1 v1.5) over [`request_message`].
    ///
    /// `path_and_query` is the URL as sent from the path on (`/v3/bill/tradebill?bill_date=…`),
    /// byte for byte: WeChat checks the signature over what it received. `body` is empty
    /// for a GET.
    pub fn authorization(
        &self,
        method: &str,
        path_and_query: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> String {
        let message = request_message(method, path_and_query, timestamp, nonce, body);
        // Blinded (a fresh random per signature): the private-key operation then does
        // not time the key itself (RUSTSEC-2023-0071). PKCS#1 v1.5 signatures do not
        // depend on the randomness; the same message always signs the same.
        let signature = self.key.sign_with_rng(&mut rand::thread_rng(), &message);
        format!(
            r#"{SIGNATURE_TYPE} mchid="{}",nonce_str="{nonce}",signature="{}",timestamp="{timestamp}",serial_no="{}""#,
            self.mchid,
            STANDARD.encode(signature.to_bytes()),
            self.serial,
        )
    }
}

/// The message a merchant signs for a request:
/// `"{METHOD}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n"`, each part ending in LF
/// (the body too, even when empty).
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let timestamp = timestamp.to_string();
    let mut m = Vec::with_capacity(
        method.len() + path_and_query.len() + timestamp.len() + nonce.len() + body.len() + 5,
    );
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        timestamp.as_bytes(),
        nonce.as_bytes(),
        body,
    ] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// A fresh request nonce: 32 upper-case hex digits (16 random bytes), the shape of
/// WeChat's examples.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode_upper(bytes)
}

/// What [`TradeBillClient::fetch`] found for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The bill, written whole to the sink and its hash checked.
    Bill {
        /// How many bytes were written.
        bytes: u64,
        /// Its SHA1, lower-case hex (as announced, checked).
        sha1: String,
    },
    /// There is no bill for the day (`NO_STATEMENT_EXIST`): no trades that day. Nothing
    /// was written.
    NoBill,
    /// The bill is not written yet (`STATEMENT_CREATING`): ask again later (WeChat writes
    /// it from 09:00 Beijing time the next day). Nothing was written.
    NotReady,
}

/// The 200 answer of the trade-bill request.
#[derive(Deserialize)]
struct BillAnswer {
    hash_type: String,
    hash_value: String,
    download_url: String,
}

/// The body of a WeChat Pay v3 error answer.
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A small async client of the trade-bill download, for any merchant (the signer and
/// the platform keys come with each call). Cheap to clone: the connection pool is
/// shared.
#[derive(Debug, Clone)]
pub struct TradeBillClient {
    http: reqwest::Client,
    base: Url,
}

impl TradeBillClient {
    /// A client of the API at `base_url`: [`PRODUCTION_BASE_URL`] in production, a
    /// simulator's address in tests. `http` and `https` only
    /// ([`PayError::InvalidField`] `base_url` otherwise).
    ///
    /// Redirects are not followed: WeChat Pay does not redirect, and a redirect would
    /// carry a signature made for another URL.
    pub fn new(base_url: &str) -> Result<TradeBillClient, PayError> {
        let mut base = Url::parse(base_url.trim_end_matches('/'))
            .map_err(|_| PayError::invalid_field("base_url", base_url))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.cannot_be_a_base()
            || base.host().is_none()
        {
            return Err(PayError::invalid_field("base_url", base_url));
        }
        base.set_query(None);
        base.set_fragment(None);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|e| PayError::Transport(format!("HTTP client: {}", e.without_url())))?;
        Ok(TradeBillClient { http, base })
    }

    /// The trade-bill URL for a day: the base URL's path (if any) followed by
    /// [`TRADEBILL_PATH`], with `bill_date` and `bill_type`.
    fn tradebill_url(&self, date: NaiveDate, bill_type: &str) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}{TRADEBILL_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("bill_date", &date.format("%Y-%m-%d").to_string())
            .append_pair("bill_type", bill_type);
        url
    }

    /// Fetches the `bill_type` bill of `date` (a day in Beijing time) for the signer's
    /// merchant and streams it into `sink`.
    ///
    /// `platform` holds the WeChat Pay platform keys the answer must be signed with;
    /// `now_unix` is the current Unix time (signs the requests, bounds the answer's
    /// signature age to [`super::MAX_SKEW_SECS`]).
    ///
    /// Refused before anything is sent: a `bill_type` not in [`BILL_TYPES`]
    /// ([`PayError::InvalidField`]). Then, besides [`Fetched::NoBill`] and
    /// [`Fetched::NotReady`]: [`PayError::Transport`] (try again later),
    /// [`PayError::UnverifiedAnswer`], [`PayError::Api`] (`SIGN_ERROR`: the merchant's
    /// key or serial is wrong), [`PayError::TooLarge`], [`PayError::Malformed`] (an
    /// answer that is not the JSON documented), [`PayError::WrongAlgorithm`] (a hash
    /// other than SHA1), [`PayError::InvalidField`] (`hash_value` not 40 hex digits, a
    /// `download_url` not http(s), or plain http when the API is https),
    /// [`PayError::Sink`], [`PayError::BillHashMismatch`]. After an error the sink may
    /// hold part of a file.
    pub async fn fetch(
        &self,
        signer: &MerchantSigner,
        platform: &PlatformKeys,
        date: NaiveDate,
        bill_type: &str,
        now_unix: i64,
        sink: &mut (dyn Write + Send),
    ) -> Result<Fetched, PayError> {
        if !BILL_TYPES.contains(&bill_type) {
            return Err(PayError::invalid_field("bill_type", bill_type));
        }
        let url = self.tradebill_url(date, bill_type);
        let mut response = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, sign_get(signer, &url, now_unix))
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .timeout(ANSWER_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("trade bill request", e))?;
        let status = response.status().as_u16();
        let body = read_bounded(&mut response, "trade bill request").await?;
        verify_answer(status, response.headers(), &body, platform, now_unix)?;

        if !response.status().is_success() {
            let error = error_answer(status, &body);
            if (400..500).contains(&status) {
                if let PayError::Api { code, .. } = &error {
                    match code.as_str() {
                        CODE_NO_STATEMENT => return Ok(Fetched::NoBill),
                        CODE_CREATING => return Ok(Fetched::NotReady),
                        _ => {}
                    }
                }
            }
            return Err(error);
        }

        let answer: BillAnswer = serde_json::from_slice(&body)
            .map_err(|e| PayError::Malformed(format!("trade bill answer: {e}")))?;
        if !answer.hash_type.eq_ignore_ascii_case(HASH_TYPE) {
            return Err(PayError::WrongAlgorithm(
                answer.hash_type.chars().take(64).collect(),
            ));
        }
        let expected = answer.hash_value.to_ascii_lowercase();
        if expected.len() != 40 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PayError::invalid_field("hash_value", &answer.hash_value));
        }
        let download = self.download_url(&answer.download_url)?;
        let (bytes, actual) = self.download(signer, &download, now_unix, sink).await?;
        if actual != expected {
            return Err(PayError::BillHashMismatch {
                expected,
                actual,
                bytes,
            });
        }
        Ok(Fetched::Bill {
            bytes,
            sha1: actual,
        })
    }

    /// The `download_url` of an answer, checked: absolute `http(s)`, and `https` when
    /// the API is (a signed request is not sent in clear because an answer said so).
    /// Its host is not pinned to the API's: the answer is signed by WeChat, and WeChat
    /// decides where its files are.
    fn download_url(&self, raw: &str) -> Result<Url, PayError> {
        let bad = || PayError::invalid_field("download_url", raw);
        let url = Url::parse(raw).map_err(|_| bad())?;
        let allowed = match self.base.scheme() {
            "https" => url.scheme() == "https",
            _ => matches!(url.scheme(), "http" | "https"),
        };
        if !allowed || url.host().is_none() {
            return Err(bad());
        }
        Ok(url)
    }

    /// Downloads `url` into `sink`: how many bytes, and their SHA1 in lower-case hex.
    async fn download(
        &self,
        signer: &MerchantSigner,
        url: &Url,
        now_unix: i64,
        sink: &mut (dyn Write + Send),
    ) -> Result<(u64, String), PayError> {
        let mut response = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, sign_get(signer, url, now_unix))
            .header(ACCEPT, "*/*")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport("bill download", e))?;
        if !response.status().is_success() {
            // Not signed: WeChat signs no download answer, errors included.
            let status = response.status().as_u16();
            let body = read_bounded(&mut response, "bill download").await?;
            return Err(error_answer(status, &body));
        }
        let mut hasher = Sha1::new();
        let mut bytes = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport("bill download", e))?
        {
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            sink.write_all(&chunk)
                .map_err(|e| PayError::Sink(e.to_string()))?;
        }
        sink.flush().map_err(|e| PayError::Sink(e.to_string()))?;
        Ok((bytes, hex::encode(hasher.finalize())))
    }
}

/// The `Authorization` of a GET of `url` (no body), with a fresh nonce.
fn sign_get(signer: &MerchantSigner, url: &Url, now_unix: i64) -> String {
    signer.authorization("GET", &path_and_query(url), now_unix, &new_nonce(), b"")
}

/// The URL from the path on, as reqwest sends it.
fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// A transport failure at `step`, without the URL (a download URL carries a token).
fn transport(step: &str, e: reqwest::Error) -> PayError {
    PayError::Transport(format!("{step}: {}", e.without_url()))
}

/// The whole body, at most [`MAX_ANSWER_BYTES`].
async fn read_bounded(response: &mut Response, step: &str) -> Result<Vec<u8>, PayError> {
    let too_large = PayError::TooLarge {
        limit: MAX_ANSWER_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(step, e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks the platform signature of an answer ([`super::verify`]); a refusal carries
/// the status and the `code` the answer claimed.
fn verify_answer(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    platform: &PlatformKeys,
    now_unix: i64,
) -> Result<(), PayError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let signed = Headers {
        timestamp: header(HEADER_TIMESTAMP),
        nonce: header(HEADER_NONCE),
        signature: header(HEADER_SIGNATURE),
        serial: header(HEADER_SERIAL),
    };
    verify(&signed, body, platform, now_unix).map_err(|why| PayError::UnverifiedAnswer {
        status,
        claimed: serde_json::from_slice::<ErrorAnswer>(body)
            .ok()
            .map(|e| e.code.chars().take(64).collect::<String>())
            .filter(|c| !c.is_empty()),
        why: Box::new(why),
    })
}

/// A non-2xx answer as [`PayError::Api`]; `code` empty when the body is not WeChat
/// Pay's error JSON (the message then starts the body).
fn error_answer(status: u16, body: &[u8]) -> PayError {
    let (code, message) = match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(e) => (e.code, e.message),
        Err(_) => (String::new(), String::from_utf8_lossy(body).into_owned()),
    };
    PayError::Api {
        status,
        code: code.chars().take(64).collect(),
        message: message.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use rsa::RsaPublicKey;

    const PRIVATE: &str = include_str!("../testdata/platform_private.pem");
    const PUBLIC: &str = include_str!("../testdata/platform_public.pem");
    const OTHER_PUBLIC: &str = include_str!("../testdata/other_public.pem");
    const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
    /// A 1024-bit key (openssl genpkey, test only): too small.
    const SMALL: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAMDBEY5G120CBET2
UEU9s3Hvw91ivNBMrtv2/vhUrfd11bZ+CVrfUUDDLkTJSxReqm21dBYnI2EHzXdd
Y0mJ6vQ53bfHfx6OgT2wEThnc4JGM8/wXIkGaADvXuspqpgp1WlvhKUOCHzmrVSk
CGVhlatWU+3aWV8w/Cr2hkSsM/G3AgMBAAECgYAf+SanWhrr6xS4N79y7NwyPxpX
Q8ScLMwokp0SpkFBNhugLOHyX+7DdlzbbiR1GYrdrea2sgFNXBT6AtSwYx9E31lc
YbNClrQrQ+Oedjf3ULNqRS4hv7HCIGdU7q8ffR3RxNJxH25KA6/uphZcFDlKCoQt
v25pL+sC5NClWKptUQJBAP8cO1kNPatizkvPVTaCcSpQf4mXNIJmh8c1wRXt9L8F
snhDhLehRIsZpuKRMu134huIbz16QY2v6pyruL8q1+kCQQDBbSnwLyJUlUmABjTQ
wgbxk7IplNIzPqJLAJryUdcN51xJmZPG9QttT3klpHRCTUEfJLEKRqVLmNw/rZyL
ShifAkEAjYoTX2gaRCGQxbzl0VV0Bf8dk7AhwQuz35HybAFXHjjB+Tm0w9Ek32w/
DEt1Dw3JlG8REPHotvzYVU5tNRtHKQJACfqMwFReLAjrmsw3K1HnM81P0q9XzMb9
bmsgk0G/m3sFGtLuecQoi8Ie2N9MFCOSKX4mGAae/nBrZGmbeuAetwJAQKhkh/sc
nYJlIM5NVvpPaUR6lJVclRGMbsm3Xid0bQAMPZYelwGwa8TEHhIl/43d6kJwFanm
FL261uYAPKRQGA==
-----END PRIVATE KEY-----";

    #[test]
    fn the_signed_message_is_byte_exact() {
        assert_eq!(
            request_message(
                "GET",
                "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL",
                1_554_208_460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                b"",
            ),
            b"GET\n/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL\n1554208460\n\
              593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
        );
        assert_eq!(
            request_message("POST", "/v3/x", 1, "n", br#"{"a":1}"#),
            b"POST\n/v3/x\n1\nn\n{\"a\":1}\n"
        );
    }

    /// The fields of an `Authorization` value, in order.
    fn fields(value: &str) -> Vec<(String, String)> {
        let rest = value
            .strip_prefix("WECHATPAY2-SHA256-RSA2048 ")
            .expect("scheme first");
        rest.split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let v = v.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn authorization_verifies_with_the_public_key() {
        let signer = MerchantSigner::from_pem("1900009191", SERIAL, PRIVATE).unwrap();
        let path = "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL";
        let nonce = "593BEC0C930BF1AFEB40B4A08C8FB242";
        let value = signer.authorization("GET", path, 1_554_208_460, nonce, b"");
        let f = fields(&value);
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["mchid", "nonce_str", "signature", "timestamp", "serial_no"]
        );
        assert_eq!(f[0].1, "1900009191");
        assert_eq!(f[1].1, nonce);
        assert_eq!(f[3].1, "1554208460");
        assert_eq!(f[4].1, SERIAL);

        let raw = STANDARD.decode(&f[2].1).unwrap();
        assert_eq!(raw.len(), 256);
        let signature = Signature::try_from(raw.as_slice()).unwrap();
        let message = request_message("GET", path, 1_554_208_460, nonce, b"");
        let public = RsaPublicKey::from_public_key_pem(PUBLIC).unwrap();
        VerifyingKey::<Sha256>::new(public)
            .verify(&message, &signature)
            .expect("verifies with the matching public key");
        let other = RsaPublicKey::from_public_key_pem(OTHER_PUBLIC).unwrap();
        assert!(VerifyingKey::<Sha256>::new(other)
            .verify(&message, &signature)
            .is_err());
        // Another path does not verify.
        let moved = request_message("GET", "/v3/bill/tradebill", 1_554_208_460, nonce, b"");
        assert!(
            VerifyingKey::<Sha256>::new(RsaPublicKey::from_public_key_pem(PUBLIC).unwrap())
                .verify(&moved, &signature)
                .is_err()
        );
        // Deterministic despite the blinding.
        assert_eq!(
            value,
            signer.authorization("GET", path, 1_554_208_460, nonce, b"")
        );
    }

    #[test]
    fn pkcs1_keys_are_read_and_small_or_bad_input_refused() {
        let key = RsaPrivateKey::from_pkcs8_pem(PRIVATE).unwrap();
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let a = MerchantSigner::from_pem("1900009191", SERIAL, &pkcs1).unwrap();
        let b = MerchantSigner::from_pem("1900009191", SERIAL, PRIVATE).unwrap();
        assert_eq!(
            a.authorization("GET", "/x", 1, "n", b""),
            b.authorization("GET", "/x", 1, "n", b"")
        );

        assert!(matches!(
            MerchantSigner::from_pem("1900009191", SERIAL, PUBLIC),
            Err(PayError::InvalidKey(_))
        ));
        for (mchid, serial) in [("", SERIAL), ("19\"00", SERIAL), ("1900009191", "")] {
            assert!(matches!(
                MerchantSigner::from_pem(mchid, serial, PRIVATE),
                Err(PayError::InvalidField { .. })
            ));
        }
        assert!(matches!(
            MerchantSigner::from_pem("1900009191", SERIAL, SMALL),
            Err(PayError::InvalidKey(_))
        ));
        assert!(!format!("{b:?}").contains("BigUint"));
    }

    #[test]
    fn urls() {
        let client = TradeBillClient::new("https://api.mch.weixin.qq.com/").unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        let url = client.tradebill_url(date, "ALL");
        assert_eq!(
            url.as_str(),
            "https://api.mch.weixin.qq.com/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL"
        );
        assert_eq!(
            path_and_query(&url),
            "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL"
        );
        let prefixed = TradeBillClient::new("http://127.0.0.1:9/wxpay").unwrap();
        assert_eq!(
            path_and_query(&prefixed.tradebill_url(date, "REFUND")),
            "/wxpay/v3/bill/tradebill?bill_date=2024-05-01&bill_type=REFUND"
        );
        for bad in ["ftp://x", "not a url", "mailto:a@b"] {
            assert!(TradeBillClient::new(bad).is_err(), "{bad}");
        }
        // An https API never sends a signed request in clear.
        assert!(client
            .download_url("http://api.mch.weixin.qq.com/v3/billdownload/file?token=a")
            .is_err());
        assert!(client
            .download_url("/v3/billdownload/file?token=a")
            .is_err());
        let ok = client
            .download_url("https://api.mch.weixin.qq.com/v3/billdownload/file?token=a")
            .unwrap();
        assert_eq!(path_and_query(&ok), "/v3/billdownload/file?token=a");
        assert!(prefixed.download_url("https://x/y").is_ok());
    }

    #[test]
    fn fetch_can_run_on_any_worker_thread() {
        fn send<T: Send>(_: &T) {}
        let client = TradeBillClient::new("http://127.0.0.1:9").unwrap();
        let signer = MerchantSigner::from_pem("1900009191", SERIAL, PRIVATE).unwrap();
        let keys = PlatformKeys::new();
        let mut sink = Vec::new();
        let date = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        send(&client.fetch(&signer, &keys, date, "ALL", 0, &mut sink));
    }

    #[test]
    fn error_answers() {
        assert_eq!(
            error_answer(401, br#"{"code":"SIGN_ERROR","message":"bad"}"#),
            PayError::Api {
                status: 401,
                code: "SIGN_ERROR".into(),
                message: "bad".into()
            }
        );
        assert_eq!(
            error_answer(502, b"Bad Gateway"),
            PayError::Api {
                status: 502,
                code: String::new(),
                message: "Bad Gateway".into()
            }
        );
    }
}
