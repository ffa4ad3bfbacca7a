//! A tenant's auto-reply rules.

use crate::schema::reply_rules as rr;
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::replies::{self, Content, Rule, Trigger, Window};
use patron_domain::TenantScope;
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = rr)]
pub struct ReplyRule {
    pub id: i64,
    pub tenant_id: i64,
    pub trigger_kind: String,
    pub trigger_value: String,
    pub reply_kind: String,
    pub reply_body: String,
    pub priority: i64,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// JSON of a [`Window`]; `None`: always active.
    pub active_window: Option<String>,
    /// A campaign whose coupon the rule issues to the follower when it answers.
    pub campaign_id: Option<i64>,
}

impl ReplyRule {
    /// What the rule sends (`None` if the stored body cannot be read).
    pub fn messages(&self) -> Option<Vec<Content>> {
        replies::decode(&self.reply_kind, &self.reply_body)
    }
    pub fn window(&self) -> Option<Window> {
        self.active_window
            .as_deref()
            .and_then(|w| serde_json::from_str(w).ok())
    }
}

/// A text reply may be at most this long (WeChat cuts passive text at 2048 bytes).
pub const MAX_TEXT_BYTES: usize = replies::MAX_TEXT_BYTES;

/// A rule that answers with one text message, always active.
pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    trigger: &Trigger,
    text: &str,
    priority: i64,
) -> Result<ReplyRule> {
    let msg = [Content::Text {
        text: text.to_string(),
    }];
    create_full(conn, scope, trigger, &msg, priority, None)
}

/// A rule with any messages (text, image, news; several: the first passive, the others
/// as customer-service messages) and an optional active window.
pub fn create_full(
    conn: &mut DbConn,
    scope: &TenantScope,
    trigger: &Trigger,
    messages: &[Content],
    priority: i64,
    window: Option<&Window>,
) -> Result<ReplyRule> {
    let (kind, body) = replies::encode(messages)?;
    let window = window.map(|w| serde_json::to_string(w).unwrap_or_default());
    let t = now();
    let id: i64 = diesel::insert_into(rr::table)
        .values((
            rr::tenant_id.eq(scope.tenant_id().0),
            rr::trigger_kind.eq(trigger.kind()),
            rr::trigger_value.eq(trigger.value()),
            rr::reply_kind.eq(kind),
            rr::reply_body.eq(&body),
            rr::active_window.eq(window),
            rr::priority.eq(priority),
            rr::enabled.eq(true),
            rr::created_at.eq(t),
            rr::updated_at.eq(t),
        ))
        .returning(rr::id)
        .get_result(conn)?;
    Ok(rr::table
        .find(id)
        .select(ReplyRule::as_select())
        .first(conn)?)
}

/// One rule of the scope's tenant.
pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<ReplyRule> {
    rr::table
        .filter(rr::id.eq(id))
        .filter(rr::tenant_id.eq(scope.tenant_id().0))
        .select(ReplyRule::as_select())
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// Replaces a rule's trigger, messages, priority and active window (inside the caller's
/// transaction, which records the change and moves the cache epoch).
pub fn update_full(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    trigger: &Trigger,
    messages: &[Content],
    priority: i64,
    window: Option<&Window>,
) -> Result<ReplyRule> {
    let (kind, body) = replies::encode(messages)?;
    let window = window.map(|w| serde_json::to_string(w).unwrap_or_default());
    let n = diesel::update(
        rr::table
            .filter(rr::id.eq(id))
            .filter(rr::tenant_id.eq(scope.tenant_id().0)),
    )
    .set((
        rr::trigger_kind.eq(trigger.kind()),
        rr::trigger_value.eq(trigger.value()),
        rr::reply_kind.eq(kind),
        rr::reply_body.eq(&body),
        rr::active_window.eq(window),
        rr::priority.eq(priority),
        rr::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    get(conn, scope, id)
}

pub fn list(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<ReplyRule>> {
    Ok(rr::table
        .filter(rr::tenant_id.eq(scope.tenant_id().0))
        .order((rr::priority.desc(), rr::id.asc()))
        .select(ReplyRule::as_select())
        .load(conn)?)
}

pub fn delete(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<()> {
    let n = diesel::delete(
        rr::table
            .filter(rr::id.eq(id))
            .filter(rr::tenant_id.eq(scope.tenant_id().0)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Sets (or clears) the campaign whose coupon the rule issues when it answers.
pub fn set_campaign(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    campaign: Option<i64>,
) -> Result<()> {
    if let Some(c) = campaign {
        crate::coupons::get(conn, scope, c)?;
    }
    let n = diesel::update(
        rr::table
            .filter(rr::id.eq(id))
            .filter(rr::tenant_id.eq(scope.tenant_id().0)),
    )
    .set(rr::campaign_id.eq(campaign))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// What a rule does when it answers: its messages, and a coupon to issue.
#[derive(Debug, Clone)]
pub struct Action {
    pub messages: Vec<Content>,
    pub campaign_id: Option<i64>,
}

/// The enabled rules in the form the domain chooses from; the reply is what they do.
pub fn active(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Rule<Action>>> {
    Ok(list(conn, scope)?
        .into_iter()
        .filter(|r| r.enabled)
        .filter_map(|r| {
            Some(Rule {
                id: r.id,
                trigger: Trigger::from_parts(&r.trigger_kind, &r.trigger_value)?,
                priority: r.priority,
                window: r.window(),
                reply: Action {
                    messages: r.messages()?,
                    campaign_id: r.campaign_id,
                },
            })
        })
        .collect())
}
