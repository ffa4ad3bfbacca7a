//! Guessing coupon codes: failed lookups (a forged QR, a typo, an unknown code) on every
//! path that takes a code (the till's lookup, redeem and void, the coupon lookup page, the
//! API's validate, redeem and void) are counted per cashier or API token and per client
//! address, in the sign-in throttle table so every process sees the same counts. Past the
//! limit every code-taking request of that cashier, token or address is refused until the
//! window has passed.

use patron_domain::authz::Actor;
use patron_domain::TenantScope;
use patron_store::{throttle, DbConn, StoreError};

/// Failed code lookups allowed per cashier/token and per address in [`WINDOW`].
pub const MAX_FAILURES: i64 = 10;
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The throttle keys of whoever acts through `scope`, from `ip`.
pub fn keys(scope: &TenantScope, ip: &str) -> [String; 2] {
    let who = match scope.actor() {
        Actor::User(u) => format!("user:{}", u.0),
        Actor::ApiToken(t) => format!("token:{}", t.0),
        Actor::System => "system".to_string(),
    };
    [format!("till:{who}"), format!("till:ip:{ip}")]
}

/// Is any of `keys` past the limit?
pub fn locked(c: &mut DbConn, keys: &[String; 2]) -> Result<bool, StoreError> {
    let since = patron_store::now() - WINDOW;
    for k in keys {
        if throttle::failures_since(c, k, since)?.0 >= MAX_FAILURES {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts one failed lookup against every key.
pub fn failed(c: &mut DbConn, keys: &[String; 2]) -> Result<(), StoreError> {
    for k in keys {
        throttle::record_failure(c, k)?;
    }
    Ok(())
}

/// How a code-taking operation behind the throttle ended.
#[derive(Debug)]
pub enum Gated<T> {
    /// This cashier, token or address is past the limit: nothing was looked up.
    Locked,
    /// What was scanned names no code (counted as a failure).
    Refused(patron_domain::coupons::ScanRefusal),
    /// The operation ran; an unknown code is its `NotFound`, counted as a failure.
    Done(T),
}

/// Runs `op` on the code in `scanned`, behind the throttle, as one unit of work: the
/// lock is checked first, a scan that names no code and an unknown code (`op`'s
/// `AppError::NotFound`, passed on) count as failures.
pub fn with_code<T>(
    c: &mut DbConn,
    scope: &TenantScope,
    mac_key: &[u8; 32],
    ip: &str,
    scanned: &str,
    op: impl FnMut(&mut DbConn, &str) -> Result<T, crate::AppError>,
) -> Result<Gated<T>, crate::AppError> {
    let keys = keys(scope, ip);
    if locked(c, &keys)? {
        tracing::warn!(
            ip,
            tenant_id = scope.tenant_id().0,
            "code lookups throttled"
        );
        return Ok(Gated::Locked);
    }
    code_past_gate(c, scope, mac_key, &keys, scanned, op)
}

/// [`with_code`] after its lock check, for a caller that checked [`locked`] itself
/// (the till's lookup, which first tries the scan as a member card): failures still count.
pub fn code_past_gate<T>(
    c: &mut DbConn,
    scope: &TenantScope,
    mac_key: &[u8; 32],
    keys: &[String; 2],
    scanned: &str,
    mut op: impl FnMut(&mut DbConn, &str) -> Result<T, crate::AppError>,
) -> Result<Gated<T>, crate::AppError> {
    let lookup = match crate::coupons::scan_lookup(mac_key, scope, scanned) {
        Ok(l) => l,
        Err(r) => {
            failed(c, keys)?;
            return Ok(Gated::Refused(r));
        }
    };
    // A code of ours not found may be an imported code that only looks like one: try it
    // as typed before calling it unknown (or a typo).
    let found = match (op(c, &lookup.code), &lookup.as_typed) {
        (Err(crate::AppError::NotFound), Some(typed)) => op(c, typed),
        (other, _) => other,
    };
    match found {
        Err(crate::AppError::NotFound) => {
            failed(c, keys)?;
            if lookup.typo {
                Ok(Gated::Refused(
                    patron_domain::coupons::ScanRefusal::BadCheckCharacter,
                ))
            } else {
                Err(crate::AppError::NotFound)
            }
        }
        other => other.map(Gated::Done),
    }
}
