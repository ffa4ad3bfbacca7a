//! The one error type of [`crate::pay`].
//!
//! Each variant names one reason to refuse a notification, so the HTTP edge can log
//! it precisely (a signature probe is routine, a bad signature is not) and count it.
//! The trade-bill client ([`crate::pay::v3::bill`]) adds the ways a call to WeChat Pay
//! fails, apart enough that a job knows whether to try again later (transport, an
//! error answer) or to alert someone (an answer that does not verify, a file whose
//! hash does not match). None of them carries key material or a whole body.

/// Everything that can go wrong while reading a WeChat Pay notification or fetching
/// a bill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    /// The body (XML, JSON, Base64, a decrypted plaintext's syntax) cannot be read.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A field, element or header needed to go on is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field holds a value of the wrong shape (not a number, not a date, …).
    #[error("field {field} has an invalid value {value:?}")]
    InvalidField {
        /// The field name.
        field: &'static str,
        /// The offending text, cut to 64 characters.
        value: String,
    },
    /// The signature does not match the data (wrong key, tampered data, or a sign of
    /// neither MD5's nor HMAC-SHA256's length).
    #[error("signature mismatch")]
    BadSignature,
    /// A v3 notification names a platform key serial (`Wechatpay-Serial`) we do not
    /// hold: refresh the platform keys or reject.
    #[error("unknown platform key serial {0:?}")]
    UnknownSerial(String),
    /// A v3 `Wechatpay-Timestamp` is more than [`crate::pay::v3::MAX_SKEW_SECS`] away
    /// from now (a replay, or a badly wrong clock here).
    #[error("timestamp is {skew_secs} s away from now")]
    Expired {
        /// `now - timestamp`: positive when the notification is from the past.
        skew_secs: i64,
    },
    /// A v3 signature probe (`Wechatpay-Signature` starting with `WECHATPAY/SIGNTEST/`):
    /// WeChat checks that merchants refuse invalid signatures. Refuse it; not an attack.
    #[error("WeChat Pay signature probe")]
    Probe,
    /// Decryption failed: wrong key, tampered ciphertext / nonce / associated data
    /// (GCM tag mismatch), or bad padding (v2 refund `req_info`).
    #[error("decryption failed")]
    Decrypt,
    /// A v3 resource names an algorithm other than `AEAD_AES_256_GCM`, or a bill
    /// answer a `hash_type` other than `SHA1`.
    #[error("unsupported algorithm {0:?}")]
    WrongAlgorithm(String),
    /// A key handed to this module is unusable (PEM not readable, an RSA key under
    /// 2048 bits, an APIv3 key that is not 32 bytes).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A call to WeChat Pay did not complete: no connection, a timeout, a body cut
    /// off. Nothing was learnt; try again later. The text names the step and never
    /// the URL (a download URL carries a token).
    #[error("WeChat Pay unreachable: {0}")]
    Transport(String),
    /// An answer of WeChat Pay's API without a valid platform signature: unsigned,
    /// signed by a key we do not hold, out of date, or not matching its body. What it
    /// says is not believed (a forged "no bill" would hide a day's trades); `claimed`
    /// is its `code` only so a log can show what it pretended.
    #[error("WeChat Pay answer (HTTP {status}{}) not verified: {why}",
        claimed.as_deref().map(|c| format!(", claims {c}")).unwrap_or_default())]
    UnverifiedAnswer {
        /// The HTTP status answered.
        status: u16,
        /// The answer's `code`, if it was JSON with one (cut to 64 characters).
        claimed: Option<String>,
        /// Why [`crate::pay::v3::verify`] refused it.
        why: Box<PayError>,
    },
    /// WeChat Pay answered an error (verified where its answers are signed): the
    /// HTTP status and its `code` and `message` (`SIGN_ERROR` with 401 when our
    /// request signature is refused, `PARAM_ERROR`, `FREQUENCY_LIMITED` with 429,
    /// `SYSTEM_ERROR` with 500…). `code` is empty when the body carried none.
    #[error("WeChat Pay refused (HTTP {status}) {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// WeChat Pay's error code, e.g. `SIGN_ERROR`.
        code: String,
        /// WeChat Pay's explanation, cut to 200 characters.
        message: String,
    },
    /// An answer that should be a small JSON document is larger than this many bytes.
    #[error("answer larger than {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// A downloaded bill's SHA1 is not the `hash_value` its answer announced: the
    /// file was cut off or altered. Discard what was written.
    #[error("bill hash mismatch: announced {expected}, got {actual} over {bytes} bytes")]
    BillHashMismatch {
        /// The announced hash, lower-case hex.
        expected: String,
        /// The hash of what arrived, lower-case hex.
        actual: String,
        /// How many bytes arrived.
        bytes: u64,
    },
    /// The bill could not be written where the caller asked (disk full…).
    #[error("writing the bill failed: {0}")]
    Sink(String),
}

impl PayError {
    pub(crate) fn invalid_field(field: &'static str, value: &str) -> Self {
        PayError::InvalidField {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}
