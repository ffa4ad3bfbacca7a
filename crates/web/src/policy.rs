//! Edge policies that the pages and the JSON API both apply to a request before it reaches
//! the store: who may point a tenant at another WeChat API, and where.

use crate::WebConfig;
use patron_domain::validate::{invalid, Invalid};
use patron_domain::wechat_settings::is_loopback_url;
use patron_domain::TenantScope;
use patron_store::tenants::ValidTenant;

/// May this request set the tenant's OA API base to what `valid` asks for? Unchanged or
/// blank is always fine. A change needs the agency admin (the jobs send the tenant's
/// AppSecret there), and plain-http loopback bases need `allow_loopback_api_base`.
/// `scope` is `None` when the tenant is being created (by an agency admin).
pub fn check_api_base(
    cfg: &WebConfig,
    scope: Option<&TenantScope>,
    current: Option<&str>,
    valid: &ValidTenant,
) -> Result<(), Invalid> {
    let Some(new) = valid.api_base() else {
        return Ok(());
    };
    if current == Some(new) {
        return Ok(());
    }
    if scope.is_some_and(|s| !s.may_change_api_base()) {
        tracing::warn!(
            tenant_id = scope.map(|s| s.tenant_id().0),
            "refused: only the agency admin may change the WeChat API base"
        );
        return Err(invalid("wx_api_base", "api_base_agency_only"));
    }
    let allowed =
        new.starts_with("https://") || (cfg.allow_loopback_api_base && is_loopback_url(new));
    if !allowed {
        return Err(invalid("wx_api_base", "api_base_https_only"));
    }
    Ok(())
}

/// Guessing coupon codes: failed lookups (a forged QR, a typo, an unknown code) on every
/// path that takes a code (the till's lookup, redeem and void pages, the API's validate,
/// redeem and void) are counted per cashier or API token and per client address, in the
/// sign-in throttle table so every process sees the same counts. Past the limit every
/// code-taking request of that cashier, token or address is refused until the window
/// has passed.
pub mod till {
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
}
