//! `/api/v1/reply-rules`: auto-reply rules.

use super::{ApiAuth, ApiError, ApiResult, ErrorBody};
use actix_web::{web, HttpResponse};
use patron_domain::replies::{Content, Trigger, Window};
use patron_domain::{validate, Permission};
use patron_store::reply_rules::{self, ReplyRule};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct RuleList {
    pub rules: Vec<ReplyRule>,
}

/// The auto-reply rules.
#[utoipa::path(get, path = "/reply-rules", operation_id = "listReplyRules", tag = "replies",
    responses((status = 200, description = "The rules", body = RuleList)))]
pub async fn list(auth: ApiAuth) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let rules = auth.state.db(move |c| reply_rules::list(c, &scope)).await?;
    Ok(HttpResponse::Ok().json(RuleList { rules }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct RuleBody {
    /// keyword_exact, keyword_contains, keyword_regex, subscribe, click or default.
    #[schema(pattern = "^(keyword_exact|keyword_contains|keyword_regex|subscribe|click|default)$")]
    pub trigger_kind: String,
    pub trigger_value: String,
    /// One text message (shorthand for `messages: [{"type":"text","text":…}]`).
    #[schema(max_length = 2048)]
    pub reply_text: Option<String>,
    /// What the rule sends: the first as the passive reply, the others as
    /// customer-service messages.
    #[schema(max_items = 5)]
    pub messages: Option<Vec<Content>>,
    pub window: Option<Window>,
    pub priority: i64,
}

/// Adds an auto-reply rule.
#[utoipa::path(post, path = "/reply-rules", operation_id = "createReplyRule", tag = "replies",
    request_body = RuleBody,
    responses((status = 201, description = "The rule", body = ReplyRule)))]
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
    let (window, priority) = (b.window, b.priority);
    let rule = auth
        .state
        .run(move |c| {
            patron_app::replies::create_rule(
                c,
                &scope,
                &patron_app::replies::NewRule {
                    trigger: &trigger,
                    messages: &messages,
                    priority,
                    window: window.as_ref(),
                    campaign: None,
                },
            )
        })
        .await?;
    auth.state.forget_cached(None);
    Ok(HttpResponse::Created().json(rule))
}

/// Deletes an auto-reply rule.
#[utoipa::path(delete, path = "/reply-rules/{rule_id}", operation_id = "deleteReplyRule", tag = "replies",
    params(("rule_id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = ErrorBody),
    ))]
pub async fn delete(auth: ApiAuth, id: web::Path<i64>) -> ApiResult {
    let scope = auth.require(Permission::Market)?.clone();
    let id = id.into_inner();
    auth.state
        .run(move |c| patron_app::replies::delete_rule(c, &scope, id))
        .await?;
    auth.state.forget_cached(None);
    Ok(HttpResponse::NoContent().finish())
}
