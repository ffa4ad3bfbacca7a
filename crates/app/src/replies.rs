//! Auto-reply rules as the replies page and the API change them: each change and the
//! cache epoch's bump (so that every process's webhook drops its cached rules) are one
//! transaction.

use crate::AppError;
use patron_domain::replies::{Content, Trigger, Window};
use patron_domain::validate::invalid;
use patron_domain::TenantScope;
use patron_store::reply_rules::{self, ReplyRule};
use patron_store::{cache_epoch, write_tx, DbConn, StoreError};

/// A rule to add.
pub struct NewRule<'a> {
    pub trigger: &'a Trigger,
    /// The first is the passive reply, the others go as customer-service messages.
    pub messages: &'a [Content],
    pub priority: i64,
    pub window: Option<&'a Window>,
    /// A campaign whose coupon the rule issues when it answers.
    pub campaign: Option<i64>,
}

/// Adds a rule; another tenant's campaign reads as unknown and nothing is created.
pub fn create_rule(
    c: &mut DbConn,
    scope: &TenantScope,
    r: &NewRule<'_>,
) -> Result<ReplyRule, AppError> {
    Ok(write_tx(c, |c| {
        let rule = reply_rules::create_full(c, scope, r.trigger, r.messages, r.priority, r.window)?;
        if r.campaign.is_some() {
            reply_rules::set_campaign(c, scope, rule.id, r.campaign).map_err(|e| match e {
                StoreError::NotFound => invalid("campaign_id", "unknown").into(),
                other => other,
            })?;
        }
        cache_epoch::bump(c)?;
        Ok::<_, StoreError>(rule)
    })?)
}

/// Deletes a rule.
pub fn delete_rule(c: &mut DbConn, scope: &TenantScope, id: i64) -> Result<(), AppError> {
    Ok(write_tx(c, |c| {
        reply_rules::delete(c, scope, id)?;
        cache_epoch::bump(c)
    })?)
}

/// Replaces a rule (its trigger, messages, priority, window and campaign), records who
/// changed which fields, and moves the cache epoch: one transaction.
pub fn update_rule(
    c: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    r: &NewRule<'_>,
    by: &str,
) -> Result<ReplyRule, AppError> {
    Ok(write_tx(c, |c| {
        let before = reply_rules::get(c, scope, id)?;
        let after =
            reply_rules::update_full(c, scope, id, r.trigger, r.messages, r.priority, r.window)?;
        reply_rules::set_campaign(c, scope, id, r.campaign).map_err(|e| match e {
            StoreError::NotFound => invalid("campaign_id", "unknown").into(),
            other => other,
        })?;
        let mut changed = Vec::new();
        for (field, differs) in [
            (
                "trigger",
                (&before.trigger_kind, &before.trigger_value)
                    != (&after.trigger_kind, &after.trigger_value),
            ),
            (
                "reply",
                (&before.reply_kind, &before.reply_body) != (&after.reply_kind, &after.reply_body),
            ),
            ("active_window", before.active_window != after.active_window),
            ("priority", before.priority != after.priority),
            ("campaign", before.campaign_id != r.campaign),
        ] {
            if differs {
                changed.push(field);
            }
        }
        if !changed.is_empty() {
            patron_store::changes::record(
                c,
                scope,
                patron_store::changes::REPLY_RULE,
                id,
                by,
                &changed,
                patron_store::now(),
            )?;
            cache_epoch::bump(c)?;
        }
        reply_rules::get(c, scope, id)
    })?)
}
