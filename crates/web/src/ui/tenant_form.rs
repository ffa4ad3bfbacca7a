//! The merchant account form, shared by "new merchant account" (agency) and a tenant's
//! settings: its page struct, what it posts, and the strong Token it offers.

use crate::render::Page;
use askama::Template;
use patron_domain::wechat_settings::{AccountKind, MessageMode};
use patron_store::tenants::{self, TenantInput};
use serde::Deserialize;

/// The tenant form, shared by "new tenant" and tenant settings.
#[derive(Template)]
#[template(path = "tenant_form.html")]
pub struct TenantFormPage {
    pub page: Page,
    pub action: String,
    pub is_new: bool,
    pub input: TenantInput,
    pub secrets: Option<tenants::SecretPresence>,
    pub webhook_url: Option<String>,
    pub errors: Vec<String>,
    /// The stored Token is shorter than WeChat's best (warn, and offer `suggested_token`).
    pub weak_token: bool,
    /// A fresh strong Token the form offers.
    pub suggested_token: String,
    /// Whether this user may change the OA API base (agency admins only).
    pub may_change_api_base: bool,
}

pub fn suggested_token() -> String {
    patron_domain::wechat_settings::generate_token(&mut rand::rngs::OsRng)
}

impl TenantFormPage {
    pub fn modes(&self) -> Vec<(&'static str, String)> {
        MessageMode::ALL
            .iter()
            .map(|m| {
                (
                    m.as_str(),
                    self.page.t(&format!("mode.{}", m.as_str())).to_string(),
                )
            })
            .collect()
    }
    pub fn kinds(&self) -> Vec<(&'static str, String)> {
        AccountKind::ALL
            .iter()
            .map(|k| {
                (
                    k.as_str(),
                    self.page.t(&format!("kind.{}", k.as_str())).to_string(),
                )
            })
            .collect()
    }
    pub fn mode_is(&self, m: &str) -> bool {
        self.input.wx_message_mode == m || (self.input.wx_message_mode.is_empty() && m == "safe")
    }
    pub fn kind_is(&self, k: &str) -> bool {
        self.input.wx_account_kind == k
            || (self.input.wx_account_kind.is_empty() && k == "subscription")
    }
    pub fn has(&self, which: &str) -> bool {
        self.secrets.is_some_and(|s| match which {
            "token" => s.token,
            "aes_key" => s.aes_key,
            "app_secret" => s.app_secret,
            _ => false,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TenantForm {
    pub csrf: String,
    #[serde(flatten)]
    pub input: TenantInput,
}
