//! Invitation and password-reset mails, delivered to a real SMTP server on loopback.

use crate::support::*;

#[tokio::test]
async fn an_invited_cashier_accepts_by_mail_and_signs_in() {
    let app = TestApp::with_mail();
    let w = world(&mut app.conn(), "a");
    let admin = app.client();
    admin.login(&w.merchant_email, PASSWORD).await;
    let store = w.store.to_string();
    let r = admin
        .post(
            &format!("/t/{}/invitations", w.slug),
            &[
                ("email", "Till@Example.test"),
                ("role", "cashier"),
                ("store_ids", &store),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mail = app.mail().wait_for("till@example.test", 0);
    assert!(
        mail.contains("Subject: You are invited to Patron"),
        "{mail}"
    );
    assert!(mail.contains("From: Patron <patron@example.test>"));
    let link = link_in(&mail, "/invite/");
    let path = link.strip_prefix(&app.base).unwrap().to_string();

    let cashier = app.client();
    let page = cashier.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&w.tenant_name) && page.body.contains("Cashier"));
    let bad = cashier
        .post(
            &path,
            &[
                ("name", "Till"),
                ("password", PASSWORD),
                ("password_confirm", "different passphrase"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    let ok = cashier
        .post(
            &path,
            &[
                ("name", "Till"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    // Signed in as the cashier, bound to the store.
    let home = cashier.get(&format!("/t/{}", w.slug)).await;
    assert_eq!(home.status, 303, "a cashier's home is the till");
    let home = cashier.get(home.location.as_deref().unwrap()).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Till"));
    let members = patron_store::users::tenant_members(&mut app.conn(), &w.scope).unwrap();
    let till = members
        .iter()
        .find(|m| m.user.email == "till@example.test")
        .unwrap();
    assert_eq!(
        (till.role.as_str(), till.store_ids.as_slice()),
        ("cashier", &[w.store][..])
    );
    // The link is single-use.
    assert_eq!(app.client().get(&path).await.status, 404);
    let fresh = app.client();
    fresh.login("till@example.test", PASSWORD).await;
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_sessions() {
    let app = TestApp::with_mail();
    let w = world(&mut app.conn(), "a");
    let old = app.client();
    old.login(&w.marketer_email, PASSWORD).await;
    let c = app.client();
    // Unknown addresses get the same answer and no mail.
    let r = c
        .post("/password/forgot", &[("email", "nobody@example.test")])
        .await;
    assert_eq!(r.status, 303);
    let r = c
        .post("/password/forgot", &[("email", &w.marketer_email)])
        .await;
    assert_eq!(r.status, 303);
    let mail = app.mail().wait_for(&w.marketer_email, 0);
    assert!(mail.contains("Reset your Patron password"));
    let path = link_in(&mail, "/password/reset/")
        .strip_prefix(&app.base)
        .unwrap()
        .to_string();
    assert!(!std::fs::read_dir(&app.mail().dir).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("nobody")));

    assert_eq!(c.get(&path).await.status, 200);
    let r = c
        .post(
            &path,
            &[
                ("password", "brand new passphrase"),
                ("password_confirm", "brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        c.post(
            &path,
            &[
                ("password", "another passphrase!"),
                ("password_confirm", "another passphrase!")
            ]
        )
        .await
        .status,
        404
    );
    assert_eq!(
        old.get(&format!("/t/{}", w.slug)).await.status,
        303,
        "existing sessions end"
    );
    let again = app.client();
    assert_eq!(
        again
            .post(
                "/login",
                &[("email", &w.marketer_email), ("password", PASSWORD)]
            )
            .await
            .status,
        401
    );
    again.login(&w.marketer_email, "brand new passphrase").await;
}

#[tokio::test]
async fn a_failed_mail_server_is_reported_and_the_invitation_kept() {
    let app = TestApp::spawn_with(false, |s| {
        s.mail_transport = patron_mail::Transport::Smtp;
        s.smtp_host = "127.0.0.1".into();
        s.smtp_port = 9; // discard port: nothing listens
        s.smtp_tls = patron_mail::SmtpTls::None;
    });
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let r = c
        .post(
            &format!("/t/{}/invitations", w.slug),
            &[("email", "m@example.test"), ("role", "marketer")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = c.get(&format!("/t/{}/users", w.slug)).await;
    assert!(page.body.contains("could not be sent"), "{}", page.body);
    assert!(
        page.body.contains("m@example.test"),
        "the pending invitation is listed"
    );
}
