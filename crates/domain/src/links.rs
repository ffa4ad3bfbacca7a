//! Signed, expiring links for followers (their coupons page): no account, no session; the
//! link itself is the credential, bound to one tenant and one follower until it expires.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a link sent to a follower stays valid, in days.
pub const LINK_DAYS: i64 = 30;

/// How long an email's unsubscribe link works, in days (well past the 30 days laws ask).
pub const UNSUBSCRIBE_DAYS: i64 = 365;

/// What a token lets its holder do: a token for one purpose is refused for another (an
/// unsubscribe link in a forwarded email must not open the follower's coupons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Open the follower's own page.
    FollowerPage,
    /// Stop the follower's email.
    Unsubscribe,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::FollowerPage => "follower-link",
            Purpose::Unsubscribe => "email-unsubscribe",
        }
    }
}

fn mac(key: &[u8], purpose: Purpose, tenant: i64, follower: i64, expires: i64) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("{}|{tenant}|{follower}|{expires}", purpose.label()).as_bytes());
    URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..20])
}

/// The token of a link to `follower`'s page, valid until `expires` (Unix seconds).
pub fn sign(key: &[u8], tenant: i64, follower: i64, expires: i64) -> String {
    sign_for(Purpose::FollowerPage, key, tenant, follower, expires)
}

/// The token of a link for `purpose`, valid until `expires` (Unix seconds).
pub fn sign_for(purpose: Purpose, key: &[u8], tenant: i64, follower: i64, expires: i64) -> String {
    format!(
        "{follower}.{expires}.{}",
        mac(key, purpose, tenant, follower, expires)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token of ours for this tenant (altered, or another tenant's).
    Invalid,
    /// A genuine token past its time.
    Expired,
}

/// The follower a page token names, if it is genuine for this tenant and not expired at
/// `now`.
pub fn verify(key: &[u8], tenant: i64, token: &str, now: i64) -> Result<i64, LinkError> {
    verify_for(Purpose::FollowerPage, key, tenant, token, now)
}

/// The follower a token for `purpose` names, if it is genuine for this tenant and not
/// expired at `now`.
pub fn verify_for(
    purpose: Purpose,
    key: &[u8],
    tenant: i64,
    token: &str,
    now: i64,
) -> Result<i64, LinkError> {
    let mut parts = token.splitn(3, '.');
    let (Some(f), Some(e), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(LinkError::Invalid);
    };
    let (Ok(follower), Ok(expires)) = (f.parse::<i64>(), e.parse::<i64>()) else {
        return Err(LinkError::Invalid);
    };
    let want = mac(key, purpose, tenant, follower, expires);
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

    #[test]
    fn a_token_serves_only_its_purpose() {
        let key = [3u8; 32];
        let stop = sign_for(Purpose::Unsubscribe, &key, 7, 42, 1_000);
        assert_eq!(
            verify_for(Purpose::Unsubscribe, &key, 7, &stop, 999),
            Ok(42)
        );
        assert_eq!(verify(&key, 7, &stop, 999), Err(LinkError::Invalid));
        let page = sign(&key, 7, 42, 1_000);
        assert_eq!(
            verify_for(Purpose::Unsubscribe, &key, 7, &page, 999),
            Err(LinkError::Invalid)
        );
    }
}
