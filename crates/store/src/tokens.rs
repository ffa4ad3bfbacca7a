//! Bearer secrets (session cookies, API tokens, invitation and reset links): 256 random bits,
//! shown once, stored only as a SHA-256 hash. They are high-entropy, so a fast hash is right
//! here (argon2 is for passwords people choose).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new random token with an optional readable prefix, and the hash to store.
pub fn generate(prefix: &str) -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw));
    let h = hash(&token);
    (token, h)
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let (a, ha) = super::generate("pat_");
        let (b, _) = super::generate("pat_");
        assert!(a.starts_with("pat_") && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(super::hash(&a), ha);
    }
}
