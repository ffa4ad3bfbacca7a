//! The request context every UI handler starts from: who is signed in (resolved from the
//! session cookie), the language, the CSRF token, and helpers that turn a tenant slug into
//! an authorized [`TenantScope`].

use crate::error::UiError;
use crate::i18n::Lang;
use crate::middleware::{CsrfCookie, RequestId};
use crate::render::{Flash, NavTenant, NavUser, Page, TenantLink, FLASH_COOKIE};
use crate::{csrf, AppState};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use patron_domain::{authz, AgencyScope, Permission, Principal, TenantScope};
use patron_store::sessions;
use patron_store::tenants::{self, Tenant};
use patron_store::users::{self, User};

pub const SESSION_COOKIE: &str = "patron_session";
pub const LANG_COOKIE: &str = "patron_lang";

/// A signed-in user.
pub struct Auth {
    pub user: User,
    pub session_id: i64,
    pub principal: Principal,
}

pub struct Ctx {
    pub state: web::Data<AppState>,
    pub lang: Lang,
    pub request_id: String,
    pub auth: Option<Auth>,
    pub flash: Option<Flash>,
    pub ip: String,
    pub user_agent: String,
    pub path: String,
    csrf_cookie: String,
    /// The raw session cookie (empty when none): CSRF tokens are bound to it.
    session_cookie: String,
}

/// The client address. Without `trust_proxy`, the TCP peer. With it, and when the peer
/// is one of `trusted_proxies`, the `X-Forwarded-For` hops are read from the right (each
/// proxy appends the address it saw) and the first hop that is not a trusted proxy is the
/// client: hops to its left were written by the client itself and are never believed.
pub fn client_ip(req: &HttpRequest, cfg: &crate::WebConfig) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    forwarded_client(
        peer,
        req.headers()
            .get_all("X-Forwarded-For")
            .filter_map(|v| v.to_str().ok()),
        cfg,
    )
    .to_string()
}

fn forwarded_client<'a>(
    peer: std::net::IpAddr,
    headers: impl Iterator<Item = &'a str>,
    cfg: &crate::WebConfig,
) -> std::net::IpAddr {
    let trusted = |ip: &std::net::IpAddr| cfg.trusted_proxies.iter().any(|n| n.contains(ip));
    if !cfg.trust_proxy || !trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers.flat_map(|h| h.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // A hop our own proxy would never write: believe nothing further left.
            Err(_) => return client,
        }
    }
    client
}

impl FromRequest for Ctx {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .expect("AppState is registered in configure()");
        let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string());
        let session_cookie = session.clone().unwrap_or_default();
        let csrf_cookie = req
            .extensions()
            .get::<CsrfCookie>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let cookie_lang = req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value()));
        let accept = req
            .headers()
            .get("Accept-Language")
            .and_then(|v| v.to_str().ok())
            .map(Lang::from_accept_language)
            .unwrap_or(Lang::En);
        let flash = req
            .cookie(FLASH_COOKIE)
            .and_then(|c| Flash::parse(c.value()));
        let ip = client_ip(req, &state.cfg);
        let user_agent = req
            .headers()
            .get("User-Agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let path = req.path().to_string();
        Box::pin(async move {
            let auth = match session {
                None => None,
                Some(token) => state
                    .db(move |c| {
                        let Some((s, u)) = sessions::authenticate(c, &token)? else {
                            return Ok(None);
                        };
                        let grants = users::grants(c, u.id())?;
                        Ok(Some(Auth {
                            principal: Principal::User {
                                user_id: u.id(),
                                grants,
                            },
                            user: u,
                            session_id: s.id,
                        }))
                    })
                    .await
                    .map_err(UiError::from)?,
            };
            let lang = auth
                .as_ref()
                .and_then(|a| a.user.locale.as_deref())
                .and_then(Lang::parse)
                .or(cookie_lang)
                .unwrap_or(accept);
            Ok(Ctx {
                state,
                lang,
                request_id,
                auth,
                flash,
                ip,
                user_agent,
                path,
                csrf_cookie,
                session_cookie,
            })
        })
    }
}

impl Ctx {
    pub fn csrf_token(&self) -> String {
        csrf::token_for(
            self.state.secrets.mac_key(),
            &self.csrf_cookie,
            &self.session_cookie,
        )
    }

    /// Every state-changing form handler calls this before it changes anything.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), UiError> {
        if csrf::check(
            self.state.secrets.mac_key(),
            &self.csrf_cookie,
            &self.session_cookie,
            submitted,
        ) {
            Ok(())
        } else {
            Err(UiError::Csrf)
        }
    }

    pub fn require_user(&self) -> Result<&Auth, UiError> {
        self.auth.as_ref().ok_or_else(|| UiError::LoginRequired {
            next: self.path.clone(),
        })
    }

    /// Resolves `/t/{slug}` for the signed-in user: 404 for strangers, 403 for members
    /// without `perm` (`patron_app::tenants::authorize`).
    pub async fn tenant(
        &self,
        slug: &str,
        perm: Permission,
    ) -> Result<(TenantScope, Tenant), UiError> {
        let principal = self.require_user()?.principal.clone();
        let slug = slug.to_string();
        Ok(self
            .state
            .run(move |c| patron_app::tenants::authorize(c, &principal, &slug, perm))
            .await?)
    }

    /// The agency the signed-in user administers.
    pub fn agency(&self) -> Result<AgencyScope, UiError> {
        let auth = self.require_user()?;
        let agency = *auth
            .principal
            .admin_agencies()
            .first()
            .ok_or(UiError::NotFound)?;
        Ok(authz::authorize_agency(&auth.principal, agency)?)
    }

    /// The frame for a page: navigation, tenant switcher, flash, language.
    pub async fn page(
        &self,
        active: &'static str,
        title_key: &str,
        tenant: Option<(&TenantScope, &Tenant)>,
    ) -> Result<Page, UiError> {
        let visible = match self.auth.as_ref().map(|a| a.principal.clone()) {
            None => Vec::new(),
            Some(p) => self.state.db(move |c| tenants::list_visible(c, &p)).await?,
        };
        Ok(self.page_from(active, title_key, tenant, visible))
    }

    /// [`Ctx::page`] from the visible tenants read already (`tenants::list_visible`).
    pub fn page_from(
        &self,
        active: &'static str,
        title_key: &str,
        tenant: Option<(&TenantScope, &Tenant)>,
        visible: Vec<Tenant>,
    ) -> Page {
        let (user, agency_admin, tenants) = match &self.auth {
            None => (None, false, Vec::new()),
            Some(a) => (
                Some(NavUser {
                    name: a.user.name.clone(),
                    email: a.user.email.clone(),
                }),
                !a.principal.admin_agencies().is_empty(),
                visible
                    .into_iter()
                    .map(|t| TenantLink {
                        slug: t.slug,
                        name: t.name,
                    })
                    .collect(),
            ),
        };
        Page {
            lang: self.lang,
            csrf: self.csrf_token(),
            title: self.lang.t(title_key).to_string(),
            user,
            agency_admin,
            tenants,
            tenant: tenant.map(|(scope, t)| NavTenant {
                slug: t.slug.clone(),
                name: t.name.clone(),
                can_settings: scope.may(Permission::ManageSettings),
                can_market: scope.may(Permission::Market),
                can_redeem: scope.may(Permission::Redeem),
                can_users: scope.may(Permission::ManageUsers),
                can_tokens: scope.may(Permission::ManageTokens),
            }),
            flash: self.flash.clone(),
            active,
            path: self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use std::net::IpAddr;

    fn cfg(trust: bool) -> crate::WebConfig {
        let mut c = crate::WebConfig::for_test("http://x");
        c.trust_proxy = trust;
        c.trusted_proxies.push("10.0.0.0/8".parse().unwrap());
        c
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn client(peer: &str, xff: &[&str], trust: bool) -> String {
        forwarded_client(ip(peer), xff.iter().copied(), &cfg(trust)).to_string()
    }

    #[test]
    fn the_client_is_the_rightmost_hop_that_is_not_a_trusted_proxy() {
        // The client wrote "6.6.6.6" itself; our proxy appended what it saw.
        assert_eq!(
            client("127.0.0.1", &["6.6.6.6, 203.0.113.9"], true),
            "203.0.113.9"
        );
        // Two proxies of ours, and hops split over two header lines.
        assert_eq!(
            client("127.0.0.1", &["6.6.6.6, 203.0.113.9", "10.1.2.3"], true),
            "203.0.113.9"
        );
        // Not configured to trust a proxy, or the peer is not one: the peer.
        assert_eq!(client("127.0.0.1", &["6.6.6.6"], false), "127.0.0.1");
        assert_eq!(client("198.51.100.7", &["6.6.6.6"], true), "198.51.100.7");
        // Garbage from the right: nothing further left is believed.
        assert_eq!(client("127.0.0.1", &["6.6.6.6, junk"], true), "127.0.0.1");
        // No header: the peer.
        assert_eq!(client("127.0.0.1", &[], true), "127.0.0.1");
    }
}
