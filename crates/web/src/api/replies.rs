//! `/api/v1/reply-rules`: auto-reply rules.

use super::{ApiAuth, ApiError, ApiResult};
use actix_web::{web, HttpResponse};
use patron_domain::replies::{Content, Trigger, Window};
use patron_domain::{validate, Permission};
use patron_store::reply_rules;
use serde::Deserialize;

pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let rules = auth.state.db(move |c| reply_rules::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rules": rules })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RuleBody {
    /// keyword_exact, keyword_contains, keyword_regex, subscribe, click or default.
    pub trigger_kind: String,
    pub trigger_value: String,
    /// One text message (shorthand for `messages: [{"type":"text","text":…}]`).
    pub reply_text: Option<String>,
    /// What the rule sends: the first as the passive reply, the others as
    /// customer-service messages.
    pub messages: Option<Vec<Content>>,
    pub window: Option<Window>,
    pub priority: i64,
}

pub async fn create(auth: ApiAuth, body: web::Json<RuleBody>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let b = body.into_inner();
    let trigger = Trigger::parse(&b.trigger_kind, &b.trigger_value)
        .map_err(|i| ApiError::invalid(vec![i]))?;
    let messages = match (b.messages, b.reply_text) {
        (Some(m), _) => m,
        (None, Some(text)) => vec![Content::Text { text }],
        (None, None) => {
            return Err(ApiError::invalid(vec![validate::invalid(
                "messages", "required",
            )]))
        }
    };
    let slug_scope = scope.clone();
    let (window, priority) = (b.window, b.priority);
    let rule = auth
        .state
        .db(move |c| {
            reply_rules::create_full(c, &scope, &trigger, &messages, priority, window.as_ref())
        })
        .await?;
    invalidate(&auth, &slug_scope).await?;
    Ok(HttpResponse::Created().json(rule))
}

pub async fn delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    let s2 = scope.clone();
    auth.state
        .db(move |c| reply_rules::delete(c, &s2, id))
        .await?;
    invalidate(&auth, &scope).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The webhook caches rules per tenant; drop this tenant's entry, here and in every other
/// process.
async fn invalidate(
    auth: &ApiAuth,
    scope: &patron_domain::TenantScope,
) -> Result<(), patron_store::StoreError> {
    let s = scope.clone();
    let t = auth
        .state
        .db(move |c| patron_store::tenants::get(c, &s))
        .await?;
    auth.state.tenant_changed(Some(&t.slug)).await
}
