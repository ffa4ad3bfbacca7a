//! The one error type of this crate.
//!
//! Each variant names one way a push can be refused, so the web layer can log the
//! precise cause and pick a response. The variants map onto the official
//! WXBizMsgCrypt codes where one exists (noted on each variant); a signature
//! mismatch is not an error here because [`crate::signature::verify`] answers `bool`.

/// Everything that can go wrong while reading or writing WeChat OA protocol data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]` (WXBizMsgCrypt −40004).
    #[error("EncodingAESKey must be exactly 43 characters of [A-Za-z0-9]")]
    InvalidAesKey,
    /// The `Encrypt` text is not canonical standard Base64 (WXBizMsgCrypt −40007).
    #[error("Encrypt is not valid Base64")]
    BadBase64,
    /// The ciphertext is empty or its length is not a multiple of the AES block
    /// size, 16 (WXBizMsgCrypt −40007).
    #[error("ciphertext length {0} is not a positive multiple of 16")]
    BadLength(usize),
    /// The last byte is not a PKCS#7 pad value in `1..=32`, or the pad bytes are not
    /// all equal to it (WXBizMsgCrypt −40007). In practice: wrong key or tampered data.
    #[error("PKCS#7 padding (32-byte blocks) is invalid")]
    BadPadding,
    /// The plaintext is shorter than the 20-byte random+length header, or its
    /// big-endian length field points past the end (WXBizMsgCrypt −40008).
    #[error("message length {declared} does not fit in the {available} bytes after the header")]
    BadMsgLen {
        /// The length the plaintext declares for the message.
        declared: u64,
        /// The bytes actually present after the 20-byte header.
        available: usize,
    },
    /// The appid at the end of the plaintext is not the account's (WXBizMsgCrypt −40005).
    #[error("the appid inside the ciphertext is not the expected one")]
    AppIdMismatch,
    /// The XML declares a DOCTYPE or an ENTITY; such input is refused before parsing.
    #[error("XML with a DOCTYPE or ENTITY declaration is refused")]
    DoctypeRejected,
    /// Elements are nested deeper than [`crate::xml::MAX_DEPTH`].
    #[error("XML nesting deeper than {0} levels is refused")]
    TooDeep(usize),
    /// The input is not well-formed XML (WXBizMsgCrypt −40002).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A message lacks an element it cannot be understood without.
    #[error("missing element <{0}>")]
    MissingField(&'static str),
    /// An element that must hold a number holds something else.
    #[error("element <{field}> has an invalid value {value:?}")]
    InvalidField {
        /// The element name.
        field: &'static str,
        /// The offending text, cut to 64 characters.
        value: String,
    },
}

impl Error {
    pub(crate) fn invalid_field(field: &'static str, value: &str) -> Self {
        Error::InvalidField {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}
