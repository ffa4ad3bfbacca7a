//! What most jobs start with: the tenant's scope and an OA API client with its AppSecret.

use crate::worker::JobCtx;
use patron_domain::{TenantId, TenantScope};
use patron_store::{tenants, SecretBox};
use patron_wechat::api::Client;

/// The job's tenant (checked against the payload's) and a client for its OA.
pub fn client(
    ctx: &JobCtx,
    secrets: &SecretBox,
    tenant_id: i64,
) -> Result<(TenantScope, Client), crate::JobError> {
    if ctx.job.tenant_id.is_some_and(|t| t != tenant_id) {
        return Err(crate::JobError::WrongTenant);
    }
    let tenant_id = TenantId(tenant_id);
    let mut c = ctx.pool.get()?;
    let tref = tenants::find_ref_by_id(&mut c, tenant_id)?
        .ok_or_else(|| format!("tenant {tenant_id} not found"))?;
    let scope = TenantScope::system(tref);
    let tenant = tenants::get(&mut c, &scope)?;
    let client = patron_app::wechat::tenant_client(&ctx.pool, secrets, &tenant)?;
    Ok((scope, client))
}

/// A current-thread runtime for the client's async calls (workers are plain threads).
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}
