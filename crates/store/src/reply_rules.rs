//! A tenant's auto-reply rules.

use crate::schema::reply_rules as rr;
use crate::{now, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::replies::{Rule, Trigger};
use patron_domain::{validate, TenantScope};
use serde::Serialize;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
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
}

/// A text reply may be at most this long (WeChat cuts passive text at 2048 bytes).
pub const MAX_TEXT_BYTES: usize = 2048;

pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    trigger: &Trigger,
    text: &str,
    priority: i64,
) -> Result<ReplyRule> {
    let text = text.trim();
    if text.is_empty() {
        return Err(validate::invalid("reply_body", "required").into());
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(validate::invalid("reply_body", "too_long").into());
    }
    let t = now();
    let id: i64 = diesel::insert_into(rr::table)
        .values((
            rr::tenant_id.eq(scope.tenant_id().0),
            rr::trigger_kind.eq(trigger.kind()),
            rr::trigger_value.eq(trigger.value()),
            rr::reply_kind.eq("text"),
            rr::reply_body.eq(text),
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

/// The enabled rules in the form the domain chooses from; the reply is the text.
pub fn active(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Rule<String>>> {
    Ok(list(conn, scope)?
        .into_iter()
        .filter(|r| r.enabled)
        .filter_map(|r| {
            Some(Rule {
                id: r.id,
                trigger: Trigger::from_parts(&r.trigger_kind, &r.trigger_value)?,
                priority: r.priority,
                reply: r.reply_body,
            })
        })
        .collect())
}
