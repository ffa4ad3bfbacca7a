//! CSRF protection for every state-changing form.
//!
//! Each browser holds a random `patron_csrf` cookie (HttpOnly, SameSite=Lax). Forms carry
//! `HMAC(server key, csrf cookie, session cookie)`; a cross-site page can neither read the
//! cookies nor compute the MAC. The csrf cookie (the pre-session cookie) protects the login
//! and setup forms, and is replaced at login. Binding the token to the session cookie as
//! well means that a cookie/token pair planted from a sibling subdomain (which can set
//! cookies for the parent domain but cannot read ours) is worthless against a signed-in
//! user: the attacker's pair was made without the victim's session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "patron_csrf";
pub const FIELD: &str = "csrf";

/// The token for a browser holding `cookie_value` and, when signed in, the session cookie
/// `session` (empty before sign-in).
pub fn token_for(mac_key: &[u8; 32], cookie_value: &str, session: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(mac_key).expect("HMAC takes any key length");
    m.update(b"csrf|");
    m.update(cookie_value.as_bytes());
    m.update(b"|session|");
    m.update(session.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

pub fn check(mac_key: &[u8; 32], cookie_value: &str, session: &str, submitted: &str) -> bool {
    let expected = token_for(mac_key, cookie_value, session);
    !cookie_value.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

pub fn new_cookie_value() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_its_cookie_session_and_key() {
        let k = [1u8; 32];
        let t = token_for(&k, "abc", "sess");
        assert!(check(&k, "abc", "sess", &t));
        assert!(!check(&k, "abd", "sess", &t));
        assert!(!check(&k, "abc", "other-session", &t));
        assert!(!check(&k, "abc", "", &t));
        assert!(!check(&[2u8; 32], "abc", "sess", &t));
        assert!(!check(&k, "abc", "sess", ""));
        assert!(!check(&k, "", "", &token_for(&k, "", "")));
        // The fields cannot slide into each other.
        assert_ne!(token_for(&k, "ab", "c"), token_for(&k, "a", "bc"));
    }
}
