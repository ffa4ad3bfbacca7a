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

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Payload {
    pub tenant_id: i64,
    pub openid: String,
    pub messages: Vec<Content>,
}

pub fn handler(secrets: SecretBox) -> Handler {
    Box::new(move |ctx: &mut JobCtx| run(ctx, &secrets))
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

fn run(ctx: &mut JobCtx, secrets: &SecretBox) -> Result<(), String> {
    let p: Payload =
        serde_json::from_str(&ctx.job.payload).map_err(|e| format!("bad payload: {e}"))?;
    let (scope, client) = crate::tenant::client(ctx, secrets, p.tenant_id)?;
    let rt = crate::tenant::runtime()?;
    let total = p.messages.len() as i64;
    for (i, m) in p.messages.iter().enumerate() {
        let key = format!("out:{}:{i}", ctx.job.id);
        {
            let mut c = ctx.pool.get().map_err(|e| e.to_string())?;
            if inbox::earlier_reply(&mut c, &scope, &key)
                .map_err(|e| e.to_string())?
                .is_some()
            {
                continue; // sent by an earlier attempt
            }
        }
        rt.block_on(client.send_custom(&p.openid, &custom(m)))
            .map_err(|e| format!("message/custom/send: {e}"))?;
        let mut c = ctx.pool.get().map_err(|e| e.to_string())?;
        let body = serde_json::to_string(m).unwrap_or_default();
        inbox::record_outbound(
            &mut c,
            &scope,
            &p.openid,
            m.kind(),
            &summary(m),
            &body,
            &key,
        )
        .map_err(|e| e.to_string())?;
        drop(c);
        ctx.progress(i as i64 + 1, Some(total))?;
    }
    Ok(())
}
