//! Mail the pages and the API both send, in the recipient's language: the shared edge
//! between an operation of `patron_app` and the mailer.

use crate::i18n::Lang;
use crate::AppState;
use patron_app::members::{self, Invite};
use patron_app::AppError;
use patron_domain::TenantScope;
use patron_store::invitations::Invitation;

/// Sends a mail in the user's language; failures are logged and reported to the caller.
pub async fn send_mail(
    state: &AppState,
    lang: Lang,
    to: &str,
    subject_key: &str,
    body_key: &str,
    arg: &str,
) -> bool {
    let email = patron_mail::Email {
        to: to.to_string(),
        subject: lang.t(subject_key).to_string(),
        text: lang.t(body_key).replace("{}", arg).replace("\\n", "\n"),
        html: None,
        unsubscribe: None,
    };
    match state.mailer.send(email).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, to, "mail delivery failed");
            false
        }
    }
}

/// Invites someone to the scope's tenant (`patron_app::members::invite`) and mails the
/// link. Returns the invitation and whether the mail went out (it is kept either way).
pub async fn invite(
    state: &AppState,
    lang: Lang,
    scope: &TenantScope,
    email: &str,
    role: &str,
    store_ids: &[i64],
    by: Option<patron_domain::UserId>,
) -> Result<(Invitation, bool), AppError> {
    let (s2, e2, r2, ids) = (
        scope.clone(),
        email.to_string(),
        role.to_string(),
        store_ids.to_vec(),
    );
    let (inv, token) = state
        .run(move |c| {
            members::invite(
                c,
                &s2,
                &Invite {
                    email: &e2,
                    role: &r2,
                    store_ids: &ids,
                    by,
                },
            )
        })
        .await?;
    tracing::info!(invitation_id = inv.id, role = %inv.role, "invitation created");
    let link = format!("{}/invite/{token}", state.cfg.base_url);
    let sent = send_mail(
        state,
        lang,
        &inv.email,
        "mail.invite.subject",
        "mail.invite.body",
        &link,
    )
    .await;
    Ok((inv, sent))
}
