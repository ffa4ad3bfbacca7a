//! CSRF protection for every state-changing form.
//!
//! Each browser holds a random `patron_csrf` cookie (HttpOnly, SameSite=Lax). Forms carry
//! `HMAC(server key, cookie)`; a cross-site page can neither read the cookie nor compute the
//! MAC. Tying the token to this cookie (rather than to the session) also protects the login
//! and setup forms, and the cookie is replaced at login so a planted one cannot be reused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "patron_csrf";
pub const FIELD: &str = "csrf";

pub fn token_for(mac_key: &[u8; 32], cookie_value: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(mac_key).expect("HMAC takes any key length");
    m.update(b"csrf|");
    m.update(cookie_value.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

pub fn check(mac_key: &[u8; 32], cookie_value: &str, submitted: &str) -> bool {
    let expected = token_for(mac_key, cookie_value);
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
    fn token_matches_only_its_cookie_and_key() {
        let k = [1u8; 32];
        let t = token_for(&k, "abc");
        assert!(check(&k, "abc", &t));
        assert!(!check(&k, "abd", &t));
        assert!(!check(&[2u8; 32], "abc", &t));
        assert!(!check(&k, "abc", ""));
        assert!(!check(&k, "", &token_for(&k, "")));
    }
}
