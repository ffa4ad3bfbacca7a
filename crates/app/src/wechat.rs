//! A tenant's OA API client, built in one place for pages, the API and jobs.

use patron_domain::TenantId;
use patron_store::tenants::Tenant;
use patron_store::{wx_tokens, DbPool, SecretBox, StoreError};
use patron_wechat::api::{Client, SharedToken, StoreFuture, TokenStore};
use std::sync::Arc;

/// Why a tenant has no client.
#[derive(Debug, thiserror::Error)]
pub enum NoClient {
    #[error("the tenant has no AppID or AppSecret configured")]
    NotConfigured,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("OA API client: {0}")]
    Client(String),
}

/// An OA API client for the tenant, with its decrypted AppSecret, pointed at its API base,
/// sharing the tenant's access_token through the database with every other process and
/// job ([`DbTokens`]).
pub fn tenant_client(
    pool: &DbPool,
    secrets: &SecretBox,
    tenant: &Tenant,
) -> Result<Client, NoClient> {
    let appid = tenant.wx_appid.clone().ok_or(NoClient::NotConfigured)?;
    let secret = tenant
        .wechat_secrets(secrets)?
        .app_secret
        .ok_or(NoClient::NotConfigured)?;
    let store = DbTokens {
        pool: pool.clone(),
        secrets: secrets.clone(),
        tenant: TenantId(tenant.id),
    };
    Client::builder(tenant.wx_api_base.clone(), appid, secret)
        .token_store(Arc::new(store))
        .build()
        .map_err(|e| NoClient::Client(e.to_string()))
}

/// The tenant's access_token in the database (`patron_store::wx_tokens`), shared by every
/// `patron` process and job: one refreshes under a lease while the others wait for it.
pub struct DbTokens {
    pool: DbPool,
    secrets: SecretBox,
    tenant: TenantId,
}

impl DbTokens {
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut patron_store::DbConn, &SecretBox, TenantId) -> Result<T, StoreError>
            + Send
            + 'static,
    ) -> StoreFuture<'static, T> {
        let (pool, secrets, tenant) = (self.pool.clone(), self.secrets.clone(), self.tenant);
        Box::pin(async move {
            crate::blocking(&pool, move |c| f(c, &secrets, tenant))
                .await
                .map_err(|e| e.to_string())
        })
    }
}

impl TokenStore for DbTokens {
    fn load(&self) -> StoreFuture<'_, Option<SharedToken>> {
        self.run(|c, s, t| {
            Ok(wx_tokens::load(c, s, t)?.map(|(token, exp)| SharedToken {
                token,
                expires_at: exp.and_utc().timestamp(),
            }))
        })
    }
    fn try_lease(&self, lease: std::time::Duration) -> StoreFuture<'_, bool> {
        let lease = chrono::TimeDelta::from_std(lease).unwrap_or(chrono::TimeDelta::seconds(30));
        self.run(move |c, _, t| wx_tokens::try_lease(c, t, lease))
    }
    fn save(&self, token: SharedToken) -> StoreFuture<'_, ()> {
        self.run(move |c, s, t| {
            let exp = chrono::DateTime::from_timestamp(token.expires_at, 0)
                .map(|d| d.naive_utc())
                .unwrap_or_else(patron_store::now);
            wx_tokens::save(c, s, t, &token.token, exp)
        })
    }
    fn release(&self) -> StoreFuture<'_, ()> {
        self.run(|c, _, t| wx_tokens::release(c, t))
    }
    fn forget(&self, rejected: String) -> StoreFuture<'_, ()> {
        self.run(move |c, s, t| wx_tokens::forget(c, s, t, &rejected))
    }
}

/// [`tenant_client`], or `None` when the tenant has no AppID or AppSecret.
pub fn tenant_client_if_set(
    pool: &DbPool,
    secrets: &SecretBox,
    tenant: &Tenant,
) -> Result<Option<Client>, NoClient> {
    match tenant_client(pool, secrets, tenant) {
        Ok(c) => Ok(Some(c)),
        Err(NoClient::NotConfigured) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a new parametric QR code needs.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NewCode {
    pub scene: String,
    pub label: String,
    pub permanent: bool,
    /// Days a temporary code lives (1–30).
    pub days: u32,
    pub tag_id: Option<i64>,
}

/// Why a code was not made.
#[derive(Debug)]
pub enum NotCreated {
    Invalid(patron_domain::validate::Invalid),
    /// WeChat could not be reached, or refused (the client's error, for the caller's words).
    WeChat(patron_wechat::api::Error),
    Failed(String),
}

impl From<StoreError> for NotCreated {
    fn from(e: StoreError) -> Self {
        use patron_domain::validate::invalid;
        match e {
            StoreError::Invalid(i) => NotCreated::Invalid(i),
            StoreError::Conflict(_) => NotCreated::Invalid(invalid("scene", "scene_taken")),
            other => NotCreated::Failed(other.to_string()),
        }
    }
}

/// Checks the request, asks WeChat for the code, records it (the page and the API).
pub async fn create_qr_code(
    pool: &patron_store::DbPool,
    secrets: &SecretBox,
    scope: &patron_domain::TenantScope,
    tenant: &Tenant,
    n: NewCode,
) -> Result<patron_store::qr_codes::QrCode, NotCreated> {
    use patron_domain::validate::invalid;
    use patron_store::qr_codes;
    use patron_wechat::api::qrcode::{QrCodeRequest, Scene, MAX_EXPIRE_SECONDS};
    if !n.permanent && !(1..=MAX_EXPIRE_SECONDS / 86_400).contains(&n.days) {
        return Err(NotCreated::Invalid(invalid("days", "invalid_days")));
    }
    let client = match tenant_client_if_set(pool, secrets, tenant) {
        Ok(Some(c)) => c,
        Ok(None) => return Err(NotCreated::Invalid(invalid("scene", "api_not_configured"))),
        Err(e) => return Err(NotCreated::Failed(e.to_string())),
    };
    let (s2, scene_in, permanent) = (scope.clone(), n.scene.clone(), n.permanent);
    let scene = crate::blocking(pool, move |c| {
        qr_codes::check_new(c, &s2, &scene_in, permanent)
    })
    .await?;
    let request = if permanent {
        QrCodeRequest::permanent(Scene::Str(scene.clone()))
    } else {
        QrCodeRequest::temporary(Scene::Str(scene.clone()), n.days * 86_400)
    };
    let made = client.create_qrcode(&request).await.map_err(|e| {
        tracing::warn!(tenant = %tenant.slug, error = %e, "qrcode/create failed");
        NotCreated::WeChat(e)
    })?;
    let expires_at = (!permanent).then(|| {
        patron_store::now()
            + chrono::TimeDelta::seconds(made.expire_seconds.unwrap_or(n.days * 86_400) as i64)
    });
    let s2 = scope.clone();
    let code = crate::blocking(pool, move |c| {
        qr_codes::insert(
            c,
            &s2,
            &qr_codes::Created {
                scene: &scene,
                label: &n.label,
                permanent,
                ticket: &made.ticket,
                url: &made.url,
                expires_at,
                tag_id: n.tag_id,
            },
        )
    })
    .await?;
    tracing::info!(tenant = %tenant.slug, scene = %code.scene, permanent, "QR code created");
    Ok(code)
}

/// What saving the custom menu did.
#[derive(Debug)]
pub enum MenuSaved {
    /// Saved, not sent (not asked to publish).
    Saved,
    /// Saved and live in WeChat.
    Published,
    /// Saved; not sent, because the tenant has no AppID or AppSecret.
    NotConfigured,
    /// Saved; WeChat could not be reached or refused it (also recorded with the menu).
    Refused(patron_wechat::api::Error),
}

/// Saves the tenant's custom menu (already checked against WeChat's limits) and, with
/// `publish`, sends it to WeChat and records the outcome beside it (the page and the API).
pub async fn save_menu(
    pool: &patron_store::DbPool,
    secrets: &SecretBox,
    scope: &patron_domain::TenantScope,
    tenant: &Tenant,
    menu: &patron_wechat::api::menu::Menu,
    publish: bool,
) -> Result<MenuSaved, crate::AppError> {
    use patron_store::menus;
    let json = serde_json::to_string(menu).unwrap_or_default();
    let s2 = scope.clone();
    crate::blocking(pool, move |c| menus::save(c, &s2, &json)).await?;
    if !publish {
        return Ok(MenuSaved::Saved);
    }
    let client = match tenant_client_if_set(pool, secrets, tenant) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(MenuSaved::NotConfigured),
        Err(e) => return Err(crate::AppError::Internal(StoreError::Config(e.to_string()))),
    };
    let result = client.create_menu(menu).await;
    if let Err(e) = &result {
        tracing::warn!(tenant = %tenant.slug, error = %e, "menu publish failed");
    }
    let outcome = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
    let saved = match result {
        Ok(_) => MenuSaved::Published,
        Err(e) => MenuSaved::Refused(e),
    };
    let s2 = scope.clone();
    crate::blocking(pool, move |c| menus::published(c, &s2, outcome)).await?;
    Ok(saved)
}
