//! `/api/v1/tenant`: the token's own tenant.

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_app::AppError;
use patron_domain::Permission;
use patron_store::tenants::{self, SecretPresence, Tenant, TenantInput};
use serde::Serialize;

/// A tenant as the API shows it (secrets only as set or not).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantJson {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub time_zone: String,
    pub wechat: WechatJson,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WechatJson {
    pub appid: Option<String>,
    pub original_id: Option<String>,
    /// `plain`, `compatible` or `safe`.
    pub message_mode: String,
    /// `subscription`, `verified_subscription` or `service`.
    pub account_kind: String,
    pub api_base: String,
    /// Which secrets are set; their values are never returned.
    pub secrets_set: SecretPresence,
}

pub fn json(t: Tenant) -> TenantJson {
    TenantJson {
        id: t.id,
        wechat: WechatJson {
            secrets_set: t.has_secret(),
            appid: t.wx_appid,
            original_id: t.wx_original_id,
            message_mode: t.wx_message_mode,
            account_kind: t.wx_account_kind,
            api_base: t.wx_api_base,
        },
        name: t.name,
        slug: t.slug,
        time_zone: t.time_zone,
        created_at: format!("{}Z", t.created_at.format("%Y-%m-%dT%H:%M:%S")),
        updated_at: format!("{}Z", t.updated_at.format("%Y-%m-%dT%H:%M:%S")),
    }
}

/// The token's tenant.
#[utoipa::path(get, path = "/tenant", operation_id = "getTenant", tag = "tenant",
    responses((status = 200, description = "The tenant", body = TenantJson)))]
pub async fn show(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::View)?.clone();
    let t = auth.state.db(move |c| tenants::get(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(json(t)))
}

/// Replaces the tenant's settings. Omitted secrets keep their stored values; a new AES
/// key moves the current one to "previous" for rotation.
#[utoipa::path(put, path = "/tenant", operation_id = "putTenant", tag = "tenant",
    request_body = TenantInput,
    responses(
        (status = 200, description = "The updated tenant", body = TenantJson),
        (status = 403, description = "Only the agency admin may change the WeChat API base (`forbidden`)", body = ErrorBody),
        (status = 409, description = "Slug already taken (`conflict`)", body = ErrorBody),
    ))]
pub async fn update(auth: ApiAuth, body: web::Json<TenantInput>) -> ApiResult {
    let scope = auth.require(Permission::ManageSettings)?.clone();
    let (sb, loopback) = (
        auth.state.secrets.clone(),
        auth.state.cfg.allow_loopback_api_base,
    );
    let input = body.into_inner();
    let t = auth
        .state
        .run(move |c| patron_app::tenants::update_settings(c, &scope, &input, &sb, loopback))
        .await
        .map_err(|e| match e {
            AppError::Invalid(errs)
                if errs
                    .iter()
                    .any(|i| i.code == patron_app::tenants::API_BASE_AGENCY_ONLY) =>
            {
                ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "only the agency admin may change the WeChat API base",
                )
            }
            other => other.into(),
        })?;
    auth.state.forget_cached(None);
    Ok(HttpResponse::Ok().json(json(t)))
}
