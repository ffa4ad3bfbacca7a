//! The WeChat Official Account push protocol, as plain functions over bytes and
//! strings.
//!
//! This crate knows how WeChat talks to a merchant's server: the SHA-1 signatures
//! of URL verification and of every push ([`signature`]), the WXBizMsgCrypt
//! AES-256-CBC scheme of compatible and safe mode with its 32-byte PKCS#7 padding
//! and key rotation ([`crypto`]), the push envelope and the typed messages and
//! events with their dedupe keys ([`xml`]), and passive replies, plain or encrypted
//! ([`reply`]).
//!
//! The push side has **no database and no HTTP** in it: the web layer hands it
//! query values and the body, decides the status codes, bounds the body size, and
//! stores dedupe keys; these modules only compute. Their single error type is
//! [`Error`].
//!
//! The other direction, Patron calling WeChat, is [`api`]: an async client of the
//! OA APIs (access_token cache, followers, tags, customer-service and mass
//! messages, menu, QR codes) over reqwest with rustls, with its own error type
//! [`api::Error`]. It still knows no database: callers persist what it returns.
//!
//! WeChat Pay's notifications are [`pay`]: the v2 XML payment notification and its
//! MD5 / HMAC-SHA256 signature, the v2 refund notification's AES-256-ECB `req_info`,
//! and the v3 JSON notification (SHA256withRSA over the byte-exact body, AES-256-GCM
//! resource), each refusal one [`pay::PayError`].
//!
//! A safe-mode push, end to end:
//!
//! ```
//! use patron_wechat::{crypto, reply, signature, xml, AesKey};
//!
//! let key = AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")?;
//! let (token, appid) = ("spamtest", "wx2c2769f8efd9abc2");
//!
//! // What WeChat would send (built here with the same crate).
//! let inner = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\
//!     <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\
//!     <CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType>\
//!     <Content><![CDATA[hi]]></Content><MsgId>6054768590064713728</MsgId></xml>";
//! let encrypt = crypto::encrypt_fresh(&key, appid, inner.as_bytes());
//! let (timestamp, nonce) = ("1409735669", "1320562132");
//! let msg_signature = signature::msg_signature(token, timestamp, nonce, &encrypt);
//! let body = format!("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\
//!     <Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
//!
//! // What the server does.
//! let envelope = xml::parse_envelope(&body)?;
//! let encrypt = envelope.encrypt.as_deref().expect("safe mode");
//! assert!(signature::verify_msg_signature(&msg_signature, token, timestamp, nonce, encrypt));
//! let (plain, _key_used) = crypto::decrypt_with_rotation(&key, None, appid, encrypt)?;
//! let inbound = xml::parse_message(&plain)?;
//! assert_eq!(inbound.dedupe_key(), "msg:6054768590064713728");
//!
//! let answer = reply::Reply::Text { content: "hello".into() }.answer(&inbound, 1409735670);
//! let response = reply::encrypted_reply(&key, token, appid, &answer, 1409735670, nonce);
//! assert!(response.starts_with("<xml><Encrypt><![CDATA["));
//! # Ok::<(), patron_wechat::Error>(())
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod crypto;
mod error;
pub mod pay;
pub mod reply;
pub mod signature;
pub mod xml;

pub use crypto::{AesKey, KeyUsed};
pub use error::Error;

#[cfg(test)]
mod tests;
