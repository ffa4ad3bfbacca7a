//! A broadcast's email channel, sent by the `broadcast_send` job after its WeChat sends:
//! each planned email claimed, sent through lettre at the configured pace and marked, so
//! nobody is emailed twice however often the job is retried. Every email carries a
//! signed unsubscribe link (also as `List-Unsubscribe`, one click in mail clients).

use crate::worker::JobCtx;
use crate::JobError;
use patron_domain::broadcasts::{email_pause, Message};
use patron_domain::TenantScope;
use patron_store::broadcast_emails as emails;
use patron_store::broadcasts::Broadcast;
use patron_store::SecretBox;

/// What sending email needs: the mailer (with its pace, the most emails a minute) and
/// where followers reach Patron (links).
#[derive(Clone)]
pub struct EmailChannel {
    pub mailer: patron_mail::Mailer,
    pub base_url: String,
}

/// Sends every pending email of the broadcast; answers how many went out now.
pub fn send_all(
    ctx: &mut JobCtx,
    secrets: &SecretBox,
    channel: &EmailChannel,
    scope: &TenantScope,
    b: &Broadcast,
    message: &Message,
) -> Result<i64, JobError> {
    let Some(text) = message.direct_text() else {
        return Ok(0);
    };
    let mut c = ctx.pool.get()?;
    let tenant = patron_store::tenants::get(&mut c, scope)?;
    let total = emails::counts(&mut c, scope, b.id)?.planned;
    drop(c);
    let links =
        patron_app::links::FollowerPage::new(secrets.mac_key(), &channel.base_url, &tenant.slug);
    let rt = crate::tenant::runtime()?;
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    loop {
        let mut c = ctx.pool.get()?;
        let Some((follower, address)) = emails::claim(&mut c, scope, b.id)? else {
            break;
        };
        drop(c);
        std::thread::sleep(email_pause(
            sent,
            started.elapsed(),
            channel.mailer.per_minute(),
        ));
        let unsubscribe = patron_app::links::unsubscribe_url(
            secrets.mac_key(),
            &channel.base_url,
            &tenant.slug,
            tenant.id,
            follower,
        );
        let body = text.replace("{link}", &links.link(tenant.id, follower));
        let email = patron_mail::Email {
            to: address.clone(),
            subject: b.title.clone(),
            text: format!(
                "{body}\n\n--\n{}\nUnsubscribe / 退订: {unsubscribe}\n",
                tenant.name
            ),
            html: None,
            unsubscribe: Some(unsubscribe),
        };
        let outcome = rt.block_on(channel.mailer.send(email));
        let mut c = ctx.pool.get()?;
        match &outcome {
            Ok(()) => emails::finish(&mut c, scope, b.id, follower, Ok(()))?,
            Err(e) => {
                tracing::warn!(broadcast = b.id, follower, error = %e, "broadcast email refused");
                emails::finish(&mut c, scope, b.id, follower, Err(&e.to_string()))?
            }
        }
        drop(c);
        sent += 1;
        let done = {
            let mut c = ctx.pool.get()?;
            emails::counts(&mut c, scope, b.id)?
        };
        ctx.progress(done.planned - done.pending(), Some(total))?;
    }
    Ok(sent as i64)
}
