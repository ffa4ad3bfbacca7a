//! Which tenant a request acts in, and as whom; and changing a tenant's settings.

use crate::AppError;
use patron_domain::validate::{invalid, Invalid};
use patron_domain::wechat_settings::is_loopback_url;
use patron_domain::{authz, Permission, Principal, TenantScope};
use patron_store::tenants::{self, Tenant, TenantInput, ValidTenant};
use patron_store::{DbConn, SecretBox};

/// Resolves `slug` for `principal` (the one authorization decision): the scope and the
/// tenant, `NotFound` for strangers (a tenant of someone else does not exist for them),
/// `Forbidden` for members whose role does not allow `perm`.
pub fn authorize(
    c: &mut DbConn,
    principal: &Principal,
    slug: &str,
    perm: Permission,
) -> Result<(TenantScope, Tenant), AppError> {
    let r = tenants::find_ref_by_slug(c, slug)?.ok_or(AppError::NotFound)?;
    let scope = authz::authorize(principal, r, perm)?;
    let t = tenants::get(c, &scope)?;
    Ok((scope, t))
}

/// May a request set the tenant's OA API base to what `valid` asks for? Unchanged or
/// blank is always fine. A change needs the agency admin (the jobs send the tenant's
/// AppSecret there), and plain-http loopback bases need `allow_loopback` (the
/// `allow_loopback_api_base` setting, for the simulator). `scope` is `None` when the
/// tenant is being created (by an agency admin).
pub fn check_api_base(
    allow_loopback: bool,
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
        return Err(invalid("wx_api_base", API_BASE_AGENCY_ONLY));
    }
    let allowed = new.starts_with("https://") || (allow_loopback && is_loopback_url(new));
    if !allowed {
        return Err(invalid("wx_api_base", "api_base_https_only"));
    }
    Ok(())
}

/// The refusal code of a non-agency member changing the API base (the API answers it 403).
pub const API_BASE_AGENCY_ONLY: &str = "api_base_agency_only";

/// Replaces the tenant's settings as typed (blank secrets keep theirs): every field
/// checked at once, then the API-base policy, then the update (which moves the cache
/// epoch in its transaction). A slug taken by another tenant is `Conflict("slug_taken")`.
pub fn update_settings(
    c: &mut DbConn,
    scope: &TenantScope,
    input: &TenantInput,
    secrets: &SecretBox,
    allow_loopback: bool,
) -> Result<Tenant, AppError> {
    let valid = tenants::validate(input).map_err(AppError::Invalid)?;
    let current = tenants::get(c, scope)?;
    check_api_base(
        allow_loopback,
        Some(scope),
        Some(&current.wx_api_base),
        &valid,
    )
    .map_err(|e| AppError::Invalid(vec![e]))?;
    Ok(tenants::update(c, scope, &valid, secrets)?)
}
