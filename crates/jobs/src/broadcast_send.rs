//! `broadcast_send`: plans a due broadcast (its audience resolved into chunks, stored once)
//! and sends each chunk that is not sent yet.
//!
//! Payload: `{"tenant_id", "broadcast_id"}`. Crash-safe and exactly once: the plan is
//! stored in one transaction and never made twice; each mass send carries its chunk's
//! `clientmsgid`, so a chunk sent before a crash but not recorded answers 45065 with its
//! `msg_id` when tried again, and nothing goes out twice. Customer-service chunks (the
//! followers who wrote recently) become one `cs_send` job per follower, queued with the
//! chunk's state change in one transaction.

use crate::worker::{Handler, JobCtx};
use crate::JobError;
use patron_app::broadcasts as ops;
use patron_app::jobs::{self, Job};
use patron_domain::broadcasts::{status, Message};
use patron_domain::replies::Content;
use patron_domain::TenantScope;
use patron_store::broadcasts::{self as store, chunk, Chunk};
use patron_store::{write_tx, DbConn, SecretBox, StoreError};
use patron_wechat::api::{Client, MassFilter};

pub const KIND: &str = patron_store::jobs::kinds::BROADCAST_SEND;

/// The job's payload: the contract with the scheduler that queues it.
pub type Payload = jobs::BroadcastSend;

/// `email` sends the broadcasts that also go by email.
pub fn handler(secrets: SecretBox, email: crate::broadcast_email::EmailChannel) -> Handler {
    Box::new(move |ctx: &mut JobCtx| {
        let p: Payload = jobs::payload(&ctx.job.payload)?;
        let result = run(ctx, &secrets, &email, &p);
        if let Err(e) = &result {
            // Out of attempts, or nothing a retry changes: the broadcast failed, and its
            // page says why.
            if e.is_permanent() || ctx.job.attempts >= ctx.job.max_attempts {
                mark_failed(ctx, &p, e);
            }
        }
        result
    })
}

fn mark_failed(ctx: &JobCtx, p: &Payload, e: &JobError) {
    let failure = e.failure().map(|f| f.to_json());
    let done = (|| -> Result<(), JobError> {
        let mut c = ctx.pool.get()?;
        let scope = scope_of(&mut c, p.tenant_id)?;
        store::finish(
            &mut c,
            &scope,
            p.broadcast_id,
            status::FAILED,
            failure.as_deref(),
        )?;
        Ok(())
    })();
    if let Err(err) = done {
        tracing::error!(broadcast = p.broadcast_id, error = %err, "could not mark the broadcast failed");
    }
}

fn scope_of(c: &mut DbConn, tenant_id: i64) -> Result<TenantScope, JobError> {
    let tref = patron_store::tenants::find_ref_by_id(c, patron_domain::TenantId(tenant_id))?
        .ok_or_else(|| JobError::from(format!("tenant {tenant_id} not found")))?;
    Ok(TenantScope::system(tref))
}

fn run(
    ctx: &mut JobCtx,
    secrets: &SecretBox,
    email: &crate::broadcast_email::EmailChannel,
    p: &Payload,
) -> Result<(), JobError> {
    let (scope, client) = crate::tenant::client(ctx, secrets, p.tenant_id)?;
    let mut c = ctx.pool.get()?;
    let b = store::get(&mut c, &scope, p.broadcast_id)?;
    if b.status != status::SENDING {
        tracing::info!(broadcast = b.id, status = %b.status, "broadcast not sending; nothing to do");
        return Ok(());
    }
    let audience = b
        .audience()
        .ok_or_else(|| JobError::from("the broadcast's audience does not read"))?;
    let message = b
        .message()
        .ok_or_else(|| JobError::from("the broadcast's message does not read"))?;
    // 1. The plan, once.
    let tenant = patron_store::tenants::get(&mut c, &scope)?;
    if let Some(plan) = ops::plan_once(&mut c, &scope, &tenant, &b, patron_store::now())? {
        tracing::info!(
            broadcast = b.id,
            recipients = plan.recipients,
            chunks = plan.targets.len(),
            "broadcast planned"
        );
    }
    let chunks = store::chunks(&mut c, &scope, b.id)?;
    drop(c);
    let total = chunks.len() as i64;
    let rt = crate::tenant::runtime()?;
    let cs = !audience.uses_quota();
    for (i, ch) in chunks.iter().enumerate() {
        if ch.state == chunk::PENDING {
            if cs {
                queue_cs(ctx, &scope, b.id, ch, &message)?;
            } else {
                send_mass(ctx, &rt, &client, &scope, ch, &message)?;
            }
        }
        ctx.progress(i as i64 + 1, Some(total))?;
    }
    if b.email {
        let n = crate::broadcast_email::send_all(ctx, secrets, email, &scope, &b, &message)?;
        tracing::info!(broadcast = b.id, emails = n, "broadcast emails sent");
    }
    let mut c = ctx.pool.get()?;
    store::finish(&mut c, &scope, b.id, status::SENT, None)?;
    tracing::info!(broadcast = b.id, chunks = total, "broadcast sent");
    Ok(())
}

fn send_mass(
    ctx: &JobCtx,
    rt: &tokio::runtime::Runtime,
    client: &Client,
    scope: &TenantScope,
    ch: &Chunk,
    m: &Message,
) -> Result<(), JobError> {
    let msg = ops::mass_message(m);
    let id = Some(ch.clientmsgid.as_str());
    let (call, sent) = match ch.target.as_str() {
        "all" => (
            "message/mass/sendall",
            rt.block_on(client.mass_send_all(MassFilter::All, &msg, id)),
        ),
        "tag" => {
            let tag = ch.tag_id.unwrap_or_default() as u32;
            (
                "message/mass/sendall",
                rt.block_on(client.mass_send_all(MassFilter::Tag(tag), &msg, id)),
            )
        }
        _ => {
            let list: Vec<&str> = ch
                .openids
                .as_deref()
                .unwrap_or_default()
                .split('\n')
                .filter(|s| !s.is_empty())
                .collect();
            (
                "message/mass/send",
                rt.block_on(client.mass_send(&list, &msg, id)),
            )
        }
    };
    let sent = sent.map_err(|e| JobError::wechat(call, e))?;
    if sent.duplicate {
        tracing::info!(
            chunk = ch.id,
            msg_id = sent.msg_id,
            "chunk was sent before; recorded now"
        );
    }
    let mut c = ctx.pool.get()?;
    store::submitted(&mut c, scope, ch.id, sent.msg_id as i64)?;
    Ok(())
}

/// Followers who wrote recently get the message as a customer-service message each: one
/// `cs_send` job per follower, queued with the chunk marked done, in one transaction.
fn queue_cs(
    ctx: &JobCtx,
    scope: &TenantScope,
    broadcast: i64,
    ch: &Chunk,
    m: &Message,
) -> Result<(), JobError> {
    let content = match m {
        // An offer's text with the follower's own link (cs_send fills it in).
        Message::Text { .. } | Message::Offer { .. } => Content::Text {
            text: m.direct_text().unwrap_or_default(),
        },
        Message::Image { media_id } => Content::Image {
            media_id: media_id.clone(),
        },
        Message::News { .. } => {
            return Err(JobError::Failed(
                "article drafts cannot go as customer-service messages".into(),
            ))
        }
    };
    let tenant_id = scope.tenant_id().0;
    let mut c = ctx.pool.get()?;
    write_tx(&mut c, |c| {
        for openid in ch.openids.as_deref().unwrap_or_default().split('\n') {
            if openid.is_empty() {
                continue;
            }
            jobs::enqueue(
                c,
                scope,
                &Job::CsSend(jobs::CsSend {
                    tenant_id,
                    openid: openid.to_string(),
                    messages: vec![content.clone()],
                }),
            )?;
        }
        store::submitted(c, scope, ch.id, 0)?;
        Ok::<_, StoreError>(())
    })?;
    tracing::info!(
        broadcast,
        recipients = ch.recipients,
        "customer-service messages queued"
    );
    Ok(())
}

/// `mass_report`: applies WeChat's `MASSSENDJOBFINISH` to its broadcast.
pub mod report {
    use super::*;

    pub const KIND: &str = patron_store::jobs::kinds::MASS_REPORT;

    pub fn handler() -> Handler {
        Box::new(|ctx: &mut JobCtx| {
            let p: jobs::MassReport = jobs::payload(&ctx.job.payload)?;
            if ctx.job.tenant_id != Some(p.tenant_id) {
                return Err(JobError::WrongTenant);
            }
            let mut c = ctx.pool.get()?;
            let scope = scope_of(&mut c, p.tenant_id)?;
            let found = store::apply_report(
                &mut c,
                &scope,
                &store::Report {
                    msg_id: p.msg_id,
                    status: p.status.clone(),
                    total: p.total,
                    filtered: p.filtered,
                    sent: p.sent,
                    errors: p.errors,
                },
            )?;
            if !found {
                // A send from the official console, or one Patron no longer knows.
                tracing::info!(
                    msg_id = p.msg_id,
                    "mass send report for no broadcast of Patron's"
                );
            }
            Ok(())
        })
    }
}
