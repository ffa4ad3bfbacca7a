//! WeChat Pay notifications, as plain functions over bytes and strings, and the trade
//! bill download (fact sheet §6).
//!
//! * [`v2`]: the XML payment notification with its MD5 / HMAC-SHA256 `sign`, the
//!   refund notification whose `req_info` is AES-256-ECB encrypted, and the XML
//!   replies.
//! * [`v3`]: the JSON notification signed with SHA256withRSA by a platform key
//!   (`Wechatpay-*` headers), its AES-256-GCM `resource`, the typed payment and refund,
//!   and the replies.
//! * [`v3::bill`]: the daily trade bill through APIv3 (`GET /v3/bill/tradebill`, then
//!   its `download_url`): requests signed with the merchant's API certificate key,
//!   answers verified with the platform keys, the file streamed to the caller's sink
//!   and its SHA1 checked. The one part of `pay` that speaks HTTP itself (reqwest).
//!
//! Like the rest of this crate there is **no database** here, and the notifications
//! need **no HTTP**: the web layer hands over the headers and the raw body, the
//! merchant's keys and the current time; it decides the status codes, bounds the body
//! size, stores what was paid and deduplicates WeChat's retries. Every refusal is one [`PayError`] variant, precise
//! enough to log (a signature probe is routine; a bad signature is not).
//!
//! A v2 payment notification, end to end:
//!
//! ```
//! use std::collections::BTreeMap;
//! use patron_wechat::pay::v2;
//!
//! let key = "192006250b4c09247ec02edce69f6a2d";
//! // What WeChat would send (built here with the same module).
//! let mut fields: BTreeMap<String, String> = [
//!     ("return_code", "SUCCESS"), ("result_code", "SUCCESS"),
//!     ("appid", "wx2421b1c4370ec43b"), ("mch_id", "10000100"),
//!     ("nonce_str", "5d2b6c2a8db53831f7eda20af46e531c"), ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
//!     ("out_trade_no", "1409811653"), ("transaction_id", "1004400740201409030005092168"),
//!     ("total_fee", "1"), ("cash_fee", "1"), ("fee_type", "CNY"), ("bank_type", "CFT"),
//!     ("trade_type", "JSAPI"), ("time_end", "20140903131540"), ("is_subscribe", "Y"),
//! ]
//! .into_iter()
//! .map(|(k, v)| (k.to_string(), v.to_string()))
//! .collect();
//! let sign = v2::sign(&fields, key, v2::SignType::Md5);
//! fields.insert("sign".into(), sign);
//! let body = v2::to_xml(&fields);
//!
//! // What the server does.
//! let n = v2::Notification::parse(body.as_bytes())?;
//! v2::verify(&n, key)?;
//! assert!(n.is_success());
//! assert_eq!((n.out_trade_no()?, n.total_fee()?), ("1409811653", 1));
//! assert_eq!(n.time_end_utc()?.to_string(), "2014-09-03 05:15:40");
//! assert!(v2::reply_success().contains("SUCCESS"));
//! # Ok::<(), patron_wechat::pay::PayError>(())
//! ```

mod error;
pub mod v2;
pub mod v3;

pub use error::PayError;

#[cfg(test)]
mod interop;
#[cfg(test)]
mod tests;
