//! WeChat Pay merchants and their trade bills (fact sheet §6.3): `GET
//! /v3/bill/tradebill` and the `download_url` it hands out, with APIv3's request
//! signatures checked and its answers signed ([`crate::pay`]).

use std::collections::{HashMap, HashSet};

use rsa::pkcs1v15::VerifyingKey;
use serde_json::json;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::{Outcome, Request, State};
use crate::pay::{self, is_bill_date, Authorization, BILL_TYPES, DOWNLOAD_TTL_SECS, MAX_SKEW_SECS};
use crate::types::paths;

/// The merchants, their bills and the download tokens handed out.
#[derive(Default)]
pub(crate) struct PayState {
    /// mchid → the public key its request signatures are checked with.
    merchants: HashMap<String, VerifyingKey<Sha256>>,
    /// (mchid, date, bill type) → the file.
    bills: HashMap<(String, String, String), Vec<u8>>,
    /// (mchid, date) whose bills are "being written" until one is published.
    creating: HashSet<(String, String)>,
    /// token → what it downloads.
    downloads: HashMap<String, Download>,
    /// The next bill answer announces a wrong hash.
    corrupt_next_hash: bool,
}

struct Download {
    mchid: String,
    bytes: Vec<u8>,
    expires_at: i64,
}

/// A WeChat Pay answer: status, content type, extra headers (the signature) and body.
pub(crate) struct PayAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// A refusal: the HTTP status, WeChat Pay's `code` and a `message`.
struct Refusal(u16, &'static str, String);

fn param_error(message: impl Into<String>) -> Refusal {
    Refusal(400, "PARAM_ERROR", message.into())
}

fn sign_error(message: &str) -> Refusal {
    Refusal(401, "SIGN_ERROR", format!("签名错误: {message}"))
}

fn error_json(refusal: &Refusal) -> Vec<u8> {
    json!({ "code": refusal.1, "message": refusal.2 })
        .to_string()
        .into_bytes()
}

impl State {
    /// Registers (or re-keys) a merchant.
    pub(crate) fn add_merchant(&mut self, mchid: &str, key: VerifyingKey<Sha256>) {
        self.pay.merchants.insert(mchid.to_owned(), key);
    }

    pub(crate) fn has_merchant(&self, mchid: &str) -> bool {
        self.pay.merchants.contains_key(mchid)
    }

    /// Publishes a bill; a day "being written" is written.
    pub(crate) fn publish_bill(
        &mut self,
        mchid: &str,
        date: &str,
        bill_type: &str,
        bytes: Vec<u8>,
    ) {
        let pay = &mut self.pay;
        pay.creating.remove(&(mchid.to_owned(), date.to_owned()));
        pay.bills.insert(
            (mchid.to_owned(), date.to_owned(), bill_type.to_owned()),
            bytes,
        );
    }

    pub(crate) fn set_bill_creating(&mut self, mchid: &str, date: &str) {
        self.pay
            .creating
            .insert((mchid.to_owned(), date.to_owned()));
    }

    pub(crate) fn corrupt_next_bill_hash(&mut self) {
        self.pay.corrupt_next_hash = true;
    }

    /// The answer to a WeChat Pay path, or `None` for any other path.
    pub(super) fn pay_route(&mut self, req: &Request<'_>) -> Option<Outcome> {
        let download = match req.path {
            paths::TRADEBILL => false,
            paths::BILL_DOWNLOAD => true,
            _ => return None,
        };
        if req.post {
            return Some(Outcome::Status(405, "method not allowed"));
        }
        let now = self.now();
        let answer = if download {
            self.bill_download(req, now)
        } else {
            self.tradebill(req, now)
        };
        Some(Outcome::Pay(answer))
    }

    /// `GET /v3/bill/tradebill`: every answer JSON and signed, errors included.
    fn tradebill(&mut self, req: &Request<'_>, now: i64) -> PayAnswer {
        let (status, body) = match self.bill_answer(req, now) {
            Ok(body) => (200, body),
            Err(refusal) => (refusal.0, error_json(&refusal)),
        };
        PayAnswer {
            status,
            content_type: "application/json",
            headers: pay::sign_answer(now, &body),
            body,
        }
    }

    fn bill_answer(&mut self, req: &Request<'_>, now: i64) -> Result<Vec<u8>, Refusal> {
        let mchid = self.check_signature(req, now)?;
        let q = |k: &str| req.query.get(k).map(String::as_str);
        let date = q("bill_date").unwrap_or_default();
        if !is_bill_date(date) {
            return Err(param_error(format!(
                "bill_date must be a day written YYYY-MM-DD, not {date:?}"
            )));
        }
        let bill_type = q("bill_type").unwrap_or("ALL");
        if !BILL_TYPES.contains(&bill_type) {
            return Err(param_error(format!(
                "bill_type must be ALL, SUCCESS or REFUND, not {bill_type:?}"
            )));
        }
        if q("tar_type").is_some() {
            return Err(param_error("tar_type is not simulated: ask without it"));
        }
        let pay = &mut self.pay;
        if pay.creating.contains(&(mchid.clone(), date.to_owned())) {
            return Err(Refusal(400, "STATEMENT_CREATING", "账单生成中".into()));
        }
        let key = (mchid.clone(), date.to_owned(), bill_type.to_owned());
        let Some(bytes) = pay.bills.get(&key) else {
            return Err(Refusal(400, "NO_STATEMENT_EXIST", "账单文件不存在".into()));
        };
        let mut hash = pay::hex(&Sha1::digest(bytes));
        if std::mem::take(&mut pay.corrupt_next_hash) {
            let mut other = Sha1::new();
            other.update(bytes);
            other.update(b"corrupted");
            hash = pay::hex(&other.finalize());
        }
        pay.downloads.retain(|_, d| d.expires_at > now);
        let token = pay::random_hex();
        pay.downloads.insert(
            token.clone(),
            Download {
                mchid,
                bytes: bytes.clone(),
                expires_at: now + DOWNLOAD_TTL_SECS,
            },
        );
        let url = format!("{}{}?token={token}", req.origin, paths::BILL_DOWNLOAD);
        Ok(
            json!({ "hash_type": "SHA1", "hash_value": hash, "download_url": url })
                .to_string()
                .into_bytes(),
        )
    }

    /// `GET /v3/billdownload/file?token=…`: the file, or an error; nothing signed.
    fn bill_download(&mut self, req: &Request<'_>, now: i64) -> PayAnswer {
        let found = self.check_signature(req, now).and_then(|mchid| {
            let token = req.query.get("token").map(String::as_str).unwrap_or("");
            match self.pay.downloads.get(token) {
                Some(d) if d.mchid == mchid && d.expires_at > now => Ok(d.bytes.clone()),
                _ => Err(param_error("the download token is unknown or expired")),
            }
        });
        match found {
            Ok(body) => PayAnswer {
                status: 200,
                content_type: "application/octet-stream",
                headers: Vec::new(),
                body,
            },
            Err(refusal) => PayAnswer {
                status: refusal.0,
                content_type: "application/json",
                headers: Vec::new(),
                body: error_json(&refusal),
            },
        }
    }

    /// The merchant whose valid signature the request carries; 401 `SIGN_ERROR`
    /// otherwise (no or malformed header, unknown mchid, timestamp more than
    /// [`MAX_SKEW_SECS`] off, a signature that does not verify). The certificate
    /// serial is required but not compared.
    fn check_signature(&self, req: &Request<'_>, now: i64) -> Result<String, Refusal> {
        let auth: Authorization = req
            .authorization
            .and_then(pay::parse_authorization)
            .ok_or_else(|| sign_error("Authorization missing or not WECHATPAY2-SHA256-RSA2048"))?;
        let key = self
            .pay
            .merchants
            .get(&auth.mchid)
            .ok_or_else(|| sign_error("unknown mchid"))?;
        let timestamp: i64 = auth
            .timestamp
            .parse()
            .map_err(|_| sign_error("timestamp is not a number"))?;
        if now.saturating_sub(timestamp).abs() > MAX_SKEW_SECS {
            return Err(sign_error("timestamp more than 5 minutes off"));
        }
        if !pay::request_verifies(key, "GET", req.path_and_query, &auth, b"") {
            return Err(sign_error("the signature does not verify"));
        }
        Ok(auth.mchid)
    }
}
