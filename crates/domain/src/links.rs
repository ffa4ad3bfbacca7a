//! Signed, expiring links for followers (their coupons page): no account, no session; the
//! link itself is the credential, bound to one tenant and one follower until it expires.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a link sent to a follower stays valid, in days.
pub const LINK_DAYS: i64 = 30;

fn mac(key: &[u8], tenant: i64, follower: i64, expires: i64) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("follower-link|{tenant}|{follower}|{expires}").as_bytes());
    URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..20])
}

/// The token of a link to `follower`'s page, valid until `expires` (Unix seconds).
pub fn sign(key: &[u8], tenant: i64, follower: i64, expires: i64) -> String {
    format!(
        "{follower}.{expires}.{}",
        mac(key, tenant, follower, expires)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token of ours for this tenant (altered, or another tenant's).
    Invalid,
    /// A genuine token past its time.
    Expired,
}

/// The follower a token names, if it is genuine for this tenant and not expired at `now`.
pub fn verify(key: &[u8], tenant: i64, token: &str, now: i64) -> Result<i64, LinkError> {
    let mut parts = token.splitn(3, '.');
    let (Some(f), Some(e), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LinkError::Invalid);
    };
    let (Ok(follower), Ok(expires)) = (f.parse::<i64>(), e.parse::<i64>()) else {
        return Err(LinkError::Invalid);
    };
    let want = mac(key, tenant, follower, expires);
    if !bool::from(want.as_bytes().ct_eq(tag.as_bytes())) {
        return Err(LinkError::Invalid);
    }
    if now >= expires {
        return Err(LinkError::Expired);
    }
    Ok(follower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_bound_to_tenant_follower_and_time() {
        let key = [3u8; 32];
        let t = sign(&key, 7, 42, 1_000);
        assert_eq!(verify(&key, 7, &t, 999), Ok(42));
        assert_eq!(verify(&key, 7, &t, 1_000), Err(LinkError::Expired));
        assert_eq!(
            verify(&key, 8, &t, 999),
            Err(LinkError::Invalid),
            "another tenant"
        );
        assert_eq!(verify(&[4u8; 32], 7, &t, 999), Err(LinkError::Invalid));
        let other = t.replacen("42.", "43.", 1);
        assert_eq!(verify(&key, 7, &other, 999), Err(LinkError::Invalid));
        let later = t.replacen(".1000.", ".9999.", 1);
        assert_eq!(
            verify(&key, 7, &later, 999),
            Err(LinkError::Invalid),
            "expiry is signed"
        );
        assert_eq!(verify(&key, 7, "garbage", 0), Err(LinkError::Invalid));
    }
}
