//! SHA-1 signatures of the OA push protocol (fact sheet §1, §2.2).
//!
//! Both the plain `signature` (over token, timestamp, nonce) and the
//! `msg_signature` (the same plus the `Encrypt` text) are
//! `lower-hex(SHA1(concat(sort(parts))))`, the parts sorted as byte strings —
//! not numerically — and joined with no separator.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Sorts `parts` byte-wise, concatenates them and returns the lower-hex SHA-1.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted: Vec<&str> = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Checks `expected_hex` against [`sign`]`(parts)` in constant time.
///
/// Hex digits are compared case-insensitively (WeChat sends lower case); a value of
/// the wrong length is simply unequal.
pub fn verify(expected_hex: &str, parts: &[&str]) -> bool {
    let computed = sign(parts);
    let expected = expected_hex.to_ascii_lowercase();
    computed.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The `signature` query parameter: over `[token, timestamp, nonce]`. Used for the
/// server-URL verification GET (answer with `echostr` when it matches) and present
/// on every push.
pub fn url_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sign(&[token, timestamp, nonce])
}

/// Verifies the `signature` query parameter, see [`url_signature`].
pub fn verify_url_signature(signature: &str, token: &str, timestamp: &str, nonce: &str) -> bool {
    verify(signature, &[token, timestamp, nonce])
}

/// The `msg_signature` of an encrypted push or reply: over
/// `[token, timestamp, nonce, encrypt]`, where `encrypt` is the exact Base64 text.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    sign(&[token, timestamp, nonce, encrypt])
}

/// Verifies `msg_signature`, see [`msg_signature`]. Check this before decrypting:
/// it is what keeps forged ciphertexts (and padding oracles) away from the AES code.
pub fn verify_msg_signature(
    msg_signature: &str,
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> bool {
    verify(msg_signature, &[token, timestamp, nonce, encrypt])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_url_verification_vector() {
        // §1: Token AAAAA, sorted ["1514711492","1714036504","AAAAA"].
        let sig = url_signature("AAAAA", "1714036504", "1514711492");
        assert_eq!(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696");
        assert!(verify_url_signature(
            &sig,
            "AAAAA",
            "1714036504",
            "1514711492"
        ));
    }

    #[test]
    fn wechatpy_vector() {
        assert_eq!(
            url_signature("test", "1410685589", "test"),
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
        );
    }

    #[test]
    fn v4_plaintext_push_signature() {
        assert_eq!(
            url_signature("AAAAA", "1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn sorting_is_bytewise_not_numeric() {
        // "10" < "9" as byte strings; numeric order would put "9" first.
        assert_eq!(sign(&["9", "10"]), sign(&["10", "9"]));
        let mut h = Sha1::new();
        h.update(b"109");
        assert_eq!(sign(&["9", "10"]), hex::encode(h.finalize()));
    }

    #[test]
    fn verify_rejects_wrong_values() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        assert!(verify("F464B24FC39322E44B38AA78F5EDD27BD1441696", &parts));
        assert!(!verify("f464b24fc39322e44b38aa78f5edd27bd1441697", &parts));
        assert!(!verify("f464b24fc39322e44b38aa78f5edd27bd144169", &parts));
        assert!(!verify("", &parts));
        assert!(!verify_url_signature(
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "AAAAA",
            "1714036504",
            "1514711493"
        ));
    }
}
