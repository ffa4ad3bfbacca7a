//! Broadcast channels (issue 19). Coupon offers: each recipient is issued a coupon of
//! their own when the broadcast is planned, only holders are sent the offer, the reply
//! keyword answers with the follower's own link, a retried plan issues nothing twice, and
//! followers who wrote recently get their link directly by customer-service message.
//! Email: only followers with recorded consent, once however often the job runs, with a
//! signed unsubscribe link that a mail client can follow in one click.

use crate::outbound::{connect, push, sim};
use crate::support::*;
use diesel::prelude::*;
use patron_app::broadcasts::{self as ops, Draft, Scheduled, When};
use patron_domain::broadcasts::{status, Audience, Message};
use patron_domain::coupons::{Benefit, Validity};
use patron_store::broadcasts as store;
use patron_store::coupons::{self, CampaignInput};
use std::time::Duration;

fn campaign(app: &TestApp, w: &World, supply: Option<i64>) -> i64 {
    let id = coupons::create(
        &mut app.conn(),
        &w.scope,
        &CampaignInput {
            name: "Winter gift".into(),
            benefit: Benefit::AmountOff { fen: 500 },
            min_spend_fen: 0,
            validity: Validity::Relative { days: 7 },
            total_supply: supply,
            per_follower_limit: Some(1),
            stores: None,
            terms: String::new(),
            code_prefix: "GIFT".into(),
            accepts_short_codes: false,
        },
    )
    .unwrap()
    .id;
    coupons::set_status(&mut app.conn(), &w.scope, id, "active").unwrap();
    id
}

fn offer(campaign_id: i64) -> Message {
    Message::Offer {
        campaign_id,
        text: "Winter is here: reply GIFT for 5 yuan off".into(),
        keyword: "GIFT".into(),
        reply: "Your coupon: {link}".into(),
    }
}

/// A text message as WeChat pushes it, sent now.
fn text_now(openid: &str, msg_id: u64, text: &str) -> String {
    let at = chrono::Utc::now().timestamp();
    format!("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>")
}

/// Schedules a broadcast now, ticks the scheduler and waits until it was sent.
async fn send_now(app: &TestApp, w: &World, d: &Draft) -> store::Broadcast {
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let id = ops::create(&mut app.conn(), &w.scope, &t, d, "mk")
        .unwrap()
        .id;
    let now = patron_store::now();
    let s = ops::schedule(&mut app.conn(), &w.scope, &t, id, When::Now, now, "mk").unwrap();
    assert!(matches!(s, Scheduled::At(_)), "{s:?}");
    patron_jobs::tick(&app.state.pool).unwrap();
    until(Duration::from_secs(30), || {
        let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
        assert_ne!(b.status, status::FAILED, "{b:?}");
        (b.status == status::SENT)
            .then_some(b.clone())
            .ok_or(format!("{b:?}"))
    })
    .await
}

#[tokio::test]
async fn a_coupon_offer_issues_each_recipient_a_coupon_and_answers_its_keyword_with_their_link() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "offer");
    let sim = sim();
    let openids = sim.default_account().seed_followers(5);
    connect(&app, &w, &sim);
    {
        let mut c = app.conn();
        diesel::update(patron_store::schema::tenants::table.find(w.scope.tenant_id().0))
            .set(patron_store::schema::tenants::wx_account_kind.eq("service"))
            .execute(&mut *c)
            .unwrap();
        sync_following(&mut c, &w.scope, &openids);
    }
    // Three coupons for five followers.
    let camp = campaign(&app, &w, Some(3));
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();

    // Composing: every problem at once, by field.
    let bad = Draft {
        title: "Gift".into(),
        message: Message::Offer {
            campaign_id: camp + 1000,
            text: "Come and see us {link}".into(),
            keyword: "GIFT".into(),
            reply: "Here you go".into(),
        },
        audience: Audience::All,
        email: false,
    };
    let err = ops::create(&mut app.conn(), &w.scope, &t, &bad, "mk").unwrap_err();
    let err = format!("{err:?}");
    for code in ["no_link_in_mass_text", "link_required", "unknown_campaign"] {
        assert!(err.contains(code), "{code} missing in {err}");
    }

    let b = send_now(
        &app,
        &w,
        &Draft {
            title: "Gift".into(),
            message: offer(camp),
            audience: Audience::OpenIds {
                openids: openids.clone(),
            },
            email: false,
        },
    )
    .await;
    assert_eq!(
        (b.coupons_issued, b.no_coupon, b.recipients),
        (3, 2, Some(3)),
        "{b:?}"
    );
    let holders =
        coupons::holders(&mut app.conn(), &w.scope, camp, &store::offer_channel(b.id)).unwrap();
    assert_eq!(holders.len(), 3);
    // Only the holders were sent the offer, as the same text for everyone.
    let sends = sim.default_account().mass_sends();
    assert_eq!(sends.len(), 1, "{sends:?}");
    let sent: std::collections::HashSet<String> =
        sends[0].openids.clone().unwrap().into_iter().collect();
    assert_eq!(sent, holders);
    assert_eq!(sends[0].msgtype, "text");

    // Planning again (a retried job after its plan was lost) issues nothing twice.
    {
        let mut c = app.conn();
        diesel::delete(
            patron_store::schema::broadcast_chunks::table
                .filter(patron_store::schema::broadcast_chunks::broadcast_id.eq(b.id)),
        )
        .execute(&mut *c)
        .unwrap();
        let again = store::get(&mut c, &w.scope, b.id).unwrap();
        let plan = ops::plan_once(&mut c, &w.scope, &t, &again, patron_store::now())
            .unwrap()
            .expect("planned again");
        assert_eq!(plan.recipients, 3);
        let issued: i64 = patron_store::schema::coupons::table
            .filter(patron_store::schema::coupons::campaign_id.eq(camp))
            .count()
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(issued, 3, "a second plan issued more");
    }

    // A holder replies with the keyword (any case): the rule the offer added answers
    // with their own page, which shows their coupon.
    let holder = holders.iter().next().unwrap().clone();
    let reply = push(&app, &w, &text_now(&holder, 9_100_001, "gift")).await;
    let link = reply
        .split(&app.base)
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .map(|path| path.trim().to_string())
        .unwrap_or_else(|| panic!("no link in {reply}"));
    assert!(link.starts_with(&format!("/m/{}/", w.slug)), "{link}");
    let code: String = patron_store::schema::coupons::table
        .inner_join(
            patron_store::schema::followers::table.on(patron_store::schema::followers::id
                .nullable()
                .eq(patron_store::schema::coupons::follower_id)),
        )
        .filter(patron_store::schema::followers::openid.eq(&holder))
        .filter(patron_store::schema::coupons::campaign_id.eq(camp))
        .select(patron_store::schema::coupons::code)
        .first(&mut *app.conn())
        .unwrap();
    let page = app.client().get(&link).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&code), "{code} not on {}", page.body);

    // The broadcast's page reports the coupons and who got none.
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let shown = c.get(&format!("/t/{}/broadcasts/{}", w.slug, b.id)).await;
    assert!(
        shown.body.contains("id=\"stat-coupons\">3<"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("id=\"no-coupon\">2 followers"));
}

#[tokio::test]
async fn followers_who_wrote_recently_get_their_offer_link_directly() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "recent");
    let sim = sim();
    let openids = sim.default_account().seed_followers(2);
    connect(&app, &w, &sim);
    // The world's own follower wrote three days ago: outside the window.
    diesel::update(patron_store::schema::followers::table.find(w.follower))
        .set(
            patron_store::schema::followers::last_interaction_at
                .eq(Some(patron_store::now() - chrono::TimeDelta::days(3))),
        )
        .execute(&mut *app.conn())
        .unwrap();
    // One follower wrote just now (WeChat opens the 48-hour window).
    sim.default_account()
        .record_interaction(&openids[0], patron_simulator::Interaction::Message);
    push(&app, &w, &text_now(&openids[0], 9_200_001, "hello")).await;
    let camp = campaign(&app, &w, None);
    let b = send_now(
        &app,
        &w,
        &Draft {
            title: "Thanks for writing".into(),
            message: offer(camp),
            audience: Audience::Recent,
            email: false,
        },
    )
    .await;
    assert_eq!((b.coupons_issued, b.recipients), (1, Some(1)), "{b:?}");
    assert!(
        sim.default_account().mass_sends().is_empty(),
        "no mass send"
    );
    let sent = until(Duration::from_secs(30), || {
        let m = sim.default_account().sent_messages();
        (!m.is_empty())
            .then_some(m.clone())
            .ok_or_else(|| "nothing sent yet".to_string())
    })
    .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].touser, openids[0]);
    let text = sent[0].body["text"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.starts_with("Winter is here"), "{text}");
    assert!(
        text.contains(&format!("{}/m/{}/", app.base, w.slug)),
        "no personal link in {text}"
    );
}

#[tokio::test]
async fn broadcast_email_goes_once_to_followers_with_consent_and_unsubscribes_in_one_click() {
    let mut app = TestApp::spawn_with(true, |s| s.mail_per_minute = 6_000);
    app.start_workers();
    let w = world(&mut app.conn(), "mail");
    let other = world(&mut app.conn(), "other");
    let sim = sim();
    connect(&app, &w, &sim);
    // Three followers: one with an address and consent (recorded on the profile form),
    // one with an address only, one with neither.
    let (with_consent, address_only, neither) = {
        let mut c = app.conn();
        use patron_store::schema::followers as f;
        diesel::update(f::table.find(w.follower))
            .set(f::subscribed.eq(true))
            .execute(&mut *c)
            .unwrap();
        sync_following(&mut c, &w.scope, &["o_mail_b".into(), "o_mail_c".into()]);
        // Room for several broadcasts a day.
        let policy = patron_domain::broadcasts::QuotaPolicy::custom(
            patron_domain::broadcasts::Period::Day,
            5,
            None,
        )
        .unwrap();
        store::put_settings(&mut c, &w.scope, Some(policy), false).unwrap();
        let mut id = |o: &str| patron_store::followers::id_of_openid(&mut c, &w.scope, o).unwrap();
        (w.follower, id("o_mail_b"), id("o_mail_c"))
    };
    let marketer = app.client();
    marketer.login(&w.marketer_email, PASSWORD).await;
    for (id, email, consent) in [
        (with_consent, "ann@example.test", true),
        (address_only, "bob@example.test", false),
    ] {
        let mut form = vec![("email", email)];
        if consent {
            form.push(("email_consent", "on"));
        }
        let r = marketer
            .post(&format!("/t/{}/followers/{id}", w.slug), &form)
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let ann = patron_store::followers::get(&mut app.conn(), &w.scope, with_consent).unwrap();
    let consented_at = ann.email_consent_at.expect("consent recorded");
    assert_eq!(ann.email_consent_source.as_deref(), Some("profile"));
    let _ = neither;

    // Image messages have no text to email: told beside the field.
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let image = Draft {
        title: "Picture".into(),
        message: Message::Image {
            media_id: "MEDIA_1".into(),
        },
        audience: Audience::All,
        email: true,
    };
    let err = ops::create(&mut app.conn(), &w.scope, &t, &image, "mk").unwrap_err();
    assert!(format!("{err:?}").contains("email_needs_text"), "{err:?}");

    let b = send_now(
        &app,
        &w,
        &Draft {
            title: "Winter menu".into(),
            message: Message::Text {
                text: "Hot chocolate is back".into(),
            },
            audience: Audience::All,
            email: true,
        },
    )
    .await;
    let mail = app.mail().wait_for("ann@example.test", 0);
    assert!(mail.contains("Subject: Winter menu"), "{mail}");
    assert!(mail.contains("Hot chocolate is back"), "{mail}");
    assert!(
        mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{mail}"
    );
    let link = link_in(&mail, "/unsubscribe/");
    assert!(
        mail.contains(&format!("List-Unsubscribe: <{link}>")),
        "{mail}"
    );
    let counts = patron_store::broadcast_emails::counts(&mut app.conn(), &w.scope, b.id).unwrap();
    assert_eq!(
        (counts.planned, counts.sent),
        (1, 1),
        "only the follower with consent"
    );
    assert_eq!(app.mail().count_for("bob@example.test"), 0);
    let page = marketer
        .get(&format!("/t/{}/broadcasts/{}", w.slug, b.id))
        .await;
    assert!(page.body.contains("Email: 1 of 1 sent."), "{}", page.body);

    // The job runs again (a worker died before recording the broadcast sent): nobody
    // is emailed twice.
    {
        let mut c = app.conn();
        diesel::update(patron_store::schema::broadcasts::table.find(b.id))
            .set(patron_store::schema::broadcasts::status.eq(status::SENDING))
            .execute(&mut *c)
            .unwrap();
        patron_app::jobs::enqueue(
            &mut c,
            &w.scope,
            &patron_app::jobs::Job::BroadcastSend(patron_app::jobs::BroadcastSend {
                tenant_id: w.scope.tenant_id().0,
                broadcast_id: b.id,
            }),
        )
        .unwrap();
    }
    until(Duration::from_secs(30), || {
        let b = store::get(&mut app.conn(), &w.scope, b.id).unwrap();
        (b.status == status::SENT)
            .then_some(())
            .ok_or(format!("{b:?}"))
    })
    .await;
    assert_eq!(app.mail().count_for("ann@example.test"), 1, "emailed twice");

    // The link: altered, another tenant's, or a page link instead → 404, nothing changes.
    let path = link.strip_prefix(&app.base).unwrap().to_string();
    let visitor = app.client();
    let token = path.rsplit('/').next().unwrap().to_string();
    let page_token = patron_domain::links::sign(
        app.state.secrets.mac_key(),
        w.scope.tenant_id().0,
        with_consent,
        chrono::Utc::now().timestamp() + 3_600,
    );
    for bad in [
        path.replace(&token, &format!("{token}x")),
        path.replace(&format!("/e/{}/", w.slug), &format!("/e/{}/", other.slug)),
        path.replace(&token, &page_token),
    ] {
        assert_eq!(visitor.get(&bad).await.status, 404, "{bad}");
        assert_eq!(visitor.post_raw(&bad, &[]).await.status, 404, "{bad}");
    }
    // Opening the link asks first (mail scanners open links): nothing changes yet.
    let ask = visitor.get(&path).await;
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("id=\"unsubscribe\""), "{}", ask.body);
    let still = patron_store::followers::get(&mut app.conn(), &w.scope, with_consent).unwrap();
    assert_eq!(still.email_consent_at, Some(consented_at));
    // A mail client's one-click POST (no cookie, no CSRF token) unsubscribes.
    let r = reqwest::Client::new()
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"unsubscribed\""));
    let after = patron_store::followers::get(&mut app.conn(), &w.scope, with_consent).unwrap();
    assert_eq!(after.email_consent_at, None);
    assert!(after.email_unsubscribed_at.is_some());
    // The next broadcast emails nobody.
    let next = send_now(
        &app,
        &w,
        &Draft {
            title: "Spring".into(),
            message: Message::Text {
                text: "Strawberries".into(),
            },
            audience: Audience::All,
            email: true,
        },
    )
    .await;
    let counts =
        patron_store::broadcast_emails::counts(&mut app.conn(), &w.scope, next.id).unwrap();
    assert_eq!(counts.planned, 0);
    // The profile says so.
    let profile = marketer
        .get(&format!("/t/{}/followers/{with_consent}", w.slug))
        .await;
    assert!(profile.body.contains("Unsubscribed"), "{}", profile.body);
}
