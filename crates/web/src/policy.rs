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
