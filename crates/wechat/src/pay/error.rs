//! The one error type of [`crate::pay`].
//!
//! Each variant names one reason to refuse a notification, so the HTTP edge can log
//! it precisely (a signature probe is routine, a bad signature is not) and count it.
//! None of them carries key material or a whole body.

/// Everything that can go wrong while reading a WeChat Pay notification.
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
    /// A v3 resource names an algorithm other than `AEAD_AES_256_GCM`.
    #[error("unsupported algorithm {0:?}")]
    WrongAlgorithm(String),
    /// A key handed to this module is unusable (PEM not readable, an RSA key under
    /// 2048 bits, an APIv3 key that is not 32 bytes).
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

impl PayError {
    pub(crate) fn invalid_field(field: &'static str, value: &str) -> Self {
        PayError::InvalidField {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}
