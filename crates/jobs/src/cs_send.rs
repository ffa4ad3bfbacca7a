//! `cs_send`: customer-service messages to one follower (the messages after a rule's
//! passive reply, or what a merchant typed on the follower's page), each recorded in the
//! archive as an outbound row.
//!
//! Payload: `{"tenant_id": 1, "openid": "o…", "messages": [Content…]}`. A retry skips the
//! messages already recorded (`out:<job>:<n>`), so a message is sent again only if the
//! worker died between WeChat's answer and the archive insert.

use crate::worker::{Handler, JobCtx};
use patron_domain::replies::Content;
use patron_store::{inbox, SecretBox};
use patron_wechat::api::custom::{CustomMessage, NewsArticle};

pub const KIND: &str = patron_store::jobs::kinds::CS_SEND;

/// The job's payload: the contract with whoever queues it (`patron_app::jobs`).
pub type Payload = patron_app::jobs::CsSend;

/// `base_url` is where followers reach Patron: a text naming `{link}` gets a fresh signed
/// link to the follower's page (and `{balance}` their points).
pub fn handler(secrets: SecretBox, base_url: String) -> Handler {
    Box::new(move |ctx: &mut JobCtx| run(ctx, &secrets, &base_url))
}

/// The message with its placeholders filled in for this follower.
fn personal(
    ctx: &JobCtx,
    secrets: &SecretBox,
    base_url: &str,
    scope: &patron_domain::TenantScope,
    openid: &str,
    m: &Content,
) -> Result<Content, crate::JobError> {
    use patron_domain::loyalty::{fill, has_placeholders, Values};
    let Content::Text { text } = m else {
        return Ok(m.clone());
    };
    if !has_placeholders(text) {
        return Ok(m.clone());
    }
    let mut c = ctx.pool.get()?;
    let follower = patron_store::followers::id_of_openid(&mut c, scope, openid)?;
    let tenant = patron_store::tenants::get(&mut c, scope)?;
    let balance = patron_store::loyalty::balance(&mut c, scope, follower)?;
    let links = patron_app::links::FollowerPage::new(secrets.mac_key(), base_url, &tenant.slug);
    let values = Values {
        points: 0,
        balance,
        link: Some(links.link(scope.tenant_id().0, follower)),
    };
    Ok(Content::Text {
        text: fill(text, &values),
    })
}

/// The customer-service form of a rule's message (a news message carries one article).
pub fn custom(c: &Content) -> CustomMessage {
    match c {
        Content::Text { text } => CustomMessage::text(text.clone()),
        Content::Image { media_id } => CustomMessage::Image {
            media_id: media_id.clone(),
        },
        Content::News { articles } => {
            let a = articles.first().cloned().unwrap_or_default();
            CustomMessage::News {
                article: NewsArticle {
                    title: a.title,
                    description: a.description,
                    url: a.url,
                    picurl: a.pic_url,
                },
            }
        }
    }
}

/// A line for the timeline.
pub fn summary(c: &Content) -> String {
    match c {
        Content::Text { text } => text.clone(),
        Content::Image { media_id } => format!("[image {media_id}]"),
        Content::News { articles } => articles
            .first()
            .map(|a| format!("[news] {}", a.title))
            .unwrap_or_default(),
    }
}

fn run(ctx: &mut JobCtx, secrets: &SecretBox, base_url: &str) -> Result<(), crate::JobError> {
    let p: Payload = patron_app::jobs::payload(&ctx.job.payload)?;
    let (scope, client) = crate::tenant::client(ctx, secrets, p.tenant_id)?;
    let rt = crate::tenant::runtime()?;
    let total = p.messages.len() as i64;
    for (i, m) in p.messages.iter().enumerate() {
        let key = format!("out:{}:{i}", ctx.job.id);
        {
            let mut c = ctx.pool.get()?;
            if inbox::earlier_reply(&mut c, &scope, &key)?.is_some() {
                continue; // sent by an earlier attempt
            }
        }
        let m = &personal(ctx, secrets, base_url, &scope, &p.openid, m)?;
        rt.block_on(client.send_custom(&p.openid, &custom(m)))
            .map_err(|e| crate::JobError::wechat("message/custom/send", e))?;
        let mut c = ctx.pool.get()?;
        let body = serde_json::to_string(m).unwrap_or_default();
        inbox::record_outbound(
            &mut c,
            &scope,
            &p.openid,
            m.kind(),
            &summary(m),
            &body,
            &key,
        )?;
        drop(c);
        ctx.progress(i as i64 + 1, Some(total))?;
    }
    Ok(())
}
