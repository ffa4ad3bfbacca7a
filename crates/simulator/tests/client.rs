//! The OA API client (`patron_wechat::api`) against the simulator: each tests the
//! other. The only test binary of this crate.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use patron_simulator::{
    paths, Follower, Interaction, MassOutcome, PushMode, Quota, SimConfig, Simulator, Webhook,
    SYSTEM_OPENID,
};
use patron_wechat::api::{
    codes, ActionButton, Client, CustomMessage, Error, MassFilter, MassMessage, MassStatus, Menu,
    MenuButton, NewsArticle, QrCodeRequest, RetryPolicy, Scene, TokenEndpoint,
};
use patron_wechat::xml::{self, Event, Inbound, MassSendJobFinish, Message};
use patron_wechat::{signature, AesKey};
use serde_json::{json, Value};

const FAST_RETRY: RetryPolicy = RetryPolicy {
    busy_retries: 2,
    busy_backoff: Duration::from_millis(1),
};

fn new_client(sim: &Simulator) -> Client {
    Client::builder(sim.base_url(), sim.appid(), sim.secret())
        .retry_policy(FAST_RETRY)
        .build()
        .unwrap()
}

fn errcode<T: std::fmt::Debug>(result: Result<T, Error>) -> i64 {
    let err = result.expect_err("expected a WeChat error");
    err.errcode()
        .unwrap_or_else(|| panic!("not a WeChat error: {err}"))
}

fn is_invalid<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::Invalid(_)))
}

/// Errcodes the simulator answered on `path`, in order.
fn answers(sim: &Simulator, path: &str) -> Vec<i64> {
    sim.calls()
        .into_iter()
        .filter(|c| c.path == path)
        .filter_map(|c| c.errcode)
        .collect()
}

#[tokio::test]
async fn token_is_cached_and_refreshed_once_on_40001_and_42001() {
    let sim = Simulator::start();
    sim.seed_followers(3);
    let client = new_client(&sim);

    // Fetched once, then cached; concurrent first callers share one fetch.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let client = client.clone();
        tasks.spawn(async move { client.followers(None).await.map(|p| p.count) });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap().unwrap(), 3);
    }
    client
        .user_info_batch(&sim.seed_followers(1))
        .await
        .unwrap();
    assert_eq!(sim.call_count(paths::STABLE_TOKEN), 1);
    let first = client.access_token().await.unwrap();
    assert_eq!(sim.access_token().as_deref(), Some(first.as_str()));

    // Expired on the server (the client's clock still trusts it): 42001, refresh, retry.
    sim.expire_tokens();
    assert_eq!(client.followers(None).await.unwrap().count, 4);
    assert_eq!(answers(&sim, paths::USER_GET)[8..], [42001, 0]);
    assert_eq!(sim.call_count(paths::STABLE_TOKEN), 2);
    let second = client.access_token().await.unwrap();
    assert_ne!(first, second);

    // Revoked: 40001, refresh, retry.
    sim.invalidate_tokens();
    client.tags().await.unwrap();
    assert_eq!(answers(&sim, paths::TAGS_GET), [40001, 0]);
    assert_eq!(sim.call_count(paths::STABLE_TOKEN), 3);

    // Refused although stable_token still hands it out: a forced refresh follows.
    let before = client.access_token().await.unwrap();
    sim.fail_next_on(paths::TAGS_GET, 1, codes::INVALID_CREDENTIAL);
    client.tags().await.unwrap();
    assert_eq!(
        sim.call_count(paths::STABLE_TOKEN),
        5,
        "a normal fetch, then force_refresh"
    );
    let after = client.access_token().await.unwrap();
    assert_ne!(before, after);
    assert_eq!(sim.access_token().as_deref(), Some(after.as_str()));

    // force_refresh is allowed once per 30 s: within them the refresh's 45011 is
    // what comes back.
    sim.fail_next_on(paths::TAGS_GET, 1, codes::INVALID_CREDENTIAL);
    assert_eq!(errcode(client.tags().await), codes::API_MINUTE_QUOTA);
    sim.advance(Duration::from_secs(31));

    // Only once: a token error after the refresh comes back to the caller.
    sim.fail_next_on(paths::TAGS_GET, 2, codes::ACCESS_TOKEN_EXPIRED);
    let err = client.tags().await.unwrap_err();
    assert!(err.api().unwrap().is_token_error(), "{err}");

    // The simulated clock passing the 2-hour lifetime has the same effect.
    sim.advance(Duration::from_secs(7_200));
    client.tags().await.unwrap();
    assert_eq!(answers(&sim, paths::TAGS_GET).last(), Some(&0));
}

#[tokio::test]
async fn legacy_token_endpoint_and_bad_credentials() {
    let sim = Simulator::start();
    let legacy = |secret: &str| {
        Client::builder(sim.base_url(), sim.appid(), secret)
            .token_endpoint(TokenEndpoint::Legacy)
            .retry_policy(FAST_RETRY)
            .build()
            .unwrap()
    };
    let a = legacy(&sim.secret());
    a.tags().await.unwrap();
    assert_eq!(sim.call_count(paths::TOKEN), 1);
    assert_eq!(sim.call_count(paths::STABLE_TOKEN), 0);

    // A second process fetching supersedes the first one's token, which lingers
    // 5 minutes and then answers 40001; the first client recovers by itself.
    let b = legacy(&sim.secret());
    b.tags().await.unwrap();
    a.tags().await.unwrap();
    sim.advance(Duration::from_secs(301));
    a.tags().await.unwrap();
    assert!(answers(&sim, paths::TAGS_GET).contains(&40001));
    assert_eq!(sim.call_count(paths::TOKEN), 3);

    let wrong = legacy("not-the-secret");
    let err = wrong.tags().await.unwrap_err();
    assert_eq!(err.errcode(), Some(codes::INVALID_APPSECRET));
    assert!(err.api().unwrap().is_account_problem());
    let stranger = Client::new(sim.base_url(), "wxunknown", "x").unwrap();
    assert_eq!(errcode(stranger.tags().await), codes::INVALID_APPID);
}

#[tokio::test]
async fn follower_paging_over_25000() {
    let sim = Simulator::start();
    let seeded = sim.seed_followers(25_000);
    let client = new_client(&sim);

    let mut pages = client.follower_pages();
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        assert_eq!(page.total, 25_000);
        assert_eq!(page.count as usize, page.openids.len());
        assert_eq!(page.next_openid, *page.openids.last().unwrap());
        sizes.push(page.openids.len());
        all.extend(page.openids);
    }
    assert_eq!(sizes, [10_000, 10_000, 5_000]);
    assert_eq!(all, seeded);
    // Three full pages and the empty one that ends the walk.
    assert_eq!(sim.call_count(paths::USER_GET), 4);
    assert!(pages.next_page().await.unwrap().is_none());

    // Resuming from a stored point; unfollowed users leave the list.
    assert!(sim.set_subscribed(&seeded[24_999], false));
    let mut resumed = client.follower_pages_from(&seeded[19_999]);
    let page = resumed.next_page().await.unwrap().unwrap();
    assert_eq!(page.openids.len(), 4_999);
    assert_eq!(page.total, 24_999);
    assert!(resumed.next_page().await.unwrap().is_none());
    assert_eq!(client.all_followers().await.unwrap().len(), 24_999);

    let unknown = client.followers(Some("oNotAFollowerOfThisAccount00")).await;
    assert_eq!(errcode(unknown), codes::INVALID_OPENID);
}

#[tokio::test]
async fn user_info_and_batchget_limits() {
    let sim = Simulator::start();
    let openids = sim.seed_followers(101);
    let mut gone = Follower::new("oGoneGoneGoneGoneGoneGoneGone");
    gone.subscribed = false;
    gone.unionid = Some("uGone".into());
    sim.add_follower(gone);
    let client = new_client(&sim);

    let info = client.user_info(&openids[0]).await.unwrap();
    assert!(info.is_subscribed());
    assert_eq!(info.unionid, sim.follower(&openids[0]).unwrap().unionid);
    assert_eq!(info.language.as_deref(), Some("zh_CN"));
    let gone = client
        .user_info("oGoneGoneGoneGoneGoneGoneGone")
        .await
        .unwrap();
    assert!(!gone.is_subscribed());
    assert_eq!(gone.unionid.as_deref(), Some("uGone"));
    assert_eq!(gone.subscribe_time, None);
    assert_eq!(
        errcode(client.user_info("oUnknown").await),
        codes::INVALID_OPENID
    );

    let hundred = client.user_info_batch(&openids[..100]).await.unwrap();
    assert_eq!(hundred.len(), 100);
    assert!(hundred
        .iter()
        .zip(&openids)
        .all(|(info, openid)| &info.openid == openid && info.is_subscribed()));

    // 101 is refused before any request goes out.
    let calls = sim.call_count(paths::USER_INFO_BATCHGET);
    assert!(is_invalid(client.user_info_batch(&openids).await));
    assert!(is_invalid(client.user_info_batch::<&str>(&[]).await));
    assert_eq!(sim.call_count(paths::USER_INFO_BATCHGET), calls);
}

#[tokio::test]
async fn tag_lifecycle_and_limits() {
    let sim = Simulator::start();
    let openids = sim.seed_followers(60);
    let client = new_client(&sim);

    let tags = client.tags().await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!((tags[0].id, tags[0].name.as_str()), (2, "星标组"));

    let vip = client.create_tag("VIP").await.unwrap();
    assert_eq!((vip.id, vip.name.as_str()), (100, "VIP"));
    assert_eq!(
        errcode(client.create_tag("VIP").await),
        codes::INVALID_TAG_NAME
    );
    assert_eq!(
        errcode(client.create_tag("星标组").await),
        codes::INVALID_TAG_NAME
    );
    assert!(is_invalid(client.create_tag(&"广".repeat(11)).await));
    let gd = client.create_tag(&"广".repeat(10)).await.unwrap();

    client.update_tag(vip.id, "VIP 会员").await.unwrap();
    assert_eq!(
        errcode(client.update_tag(2, "x").await),
        codes::RESERVED_TAG
    );
    assert_eq!(
        errcode(client.update_tag(vip.id, &gd.name).await),
        codes::INVALID_TAG_NAME
    );
    assert_eq!(
        errcode(client.update_tag(999, "x").await),
        codes::INVALID_TAG_ID
    );

    client.batch_tag(vip.id, &openids[..50]).await.unwrap();
    assert!(is_invalid(client.batch_tag(vip.id, &openids[..51]).await));
    client.batch_tag(vip.id, &openids[50..]).await.unwrap();
    client.batch_untag(vip.id, &openids[55..]).await.unwrap();
    assert_eq!(
        errcode(client.batch_tag(999, &openids[..1]).await),
        codes::INVALID_TAG_ID
    );
    assert_eq!(
        errcode(client.batch_tag(vip.id, &["oNobody"]).await),
        codes::INVALID_OPENID
    );
    let listed = client.tags().await.unwrap();
    let vip_now = listed.iter().find(|t| t.id == vip.id).unwrap();
    assert_eq!((vip_now.name.as_str(), vip_now.count), ("VIP 会员", 55));
    assert_eq!(client.user_tag_ids(&openids[0]).await.unwrap(), [vip.id]);
    let members = client.tag_followers(vip.id, None).await.unwrap();
    assert_eq!(members.openids, openids[..55]);
    let rest = client
        .tag_followers(vip.id, Some(&members.next_openid))
        .await
        .unwrap();
    assert_eq!(rest.count, 0);

    assert_eq!(errcode(client.delete_tag(2).await), codes::RESERVED_TAG);
    client.delete_tag(vip.id).await.unwrap();
    assert!(client.user_tag_ids(&openids[0]).await.unwrap().is_empty());
    assert_eq!(sim.tags().len(), 2);

    // A follower carries at most 20 tags; the whole batch is refused.
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(client.create_tag(&format!("t{i}")).await.unwrap().id);
    }
    for &id in &ids {
        client.batch_tag(id, &openids[..1]).await.unwrap();
    }
    let extra = client.create_tag("one too many").await.unwrap();
    assert_eq!(
        errcode(client.batch_tag(extra.id, &openids[..2]).await),
        codes::USER_HAS_TOO_MANY_TAGS
    );
    assert!(sim.follower(&openids[1]).unwrap().tags.is_empty());
    assert_eq!(sim.follower(&openids[0]).unwrap().tags.len(), 20);
    // Tagging again with a tag already carried is fine.
    client.batch_tag(ids[0], &openids[..2]).await.unwrap();
}

#[tokio::test]
async fn tag_count_cap_and_other_accounts() {
    let sim = Simulator::start_with(SimConfig {
        max_tags: 3,
        ..SimConfig::default()
    });
    let client = new_client(&sim);
    for name in ["a", "b", "c"] {
        client.create_tag(name).await.unwrap();
    }
    assert_eq!(errcode(client.create_tag("d").await), codes::TOO_MANY_TAGS);

    // A second account on the same server: separate followers, tokens and tags.
    let other = sim.add_account("wxsim0000000000002", "second-secret");
    let theirs = other.seed_followers(2);
    let ours = sim.seed_followers(2);
    assert_ne!(theirs, ours);
    let other_client = Client::new(sim.base_url(), other.appid(), other.secret()).unwrap();
    assert_eq!(other_client.all_followers().await.unwrap(), theirs);
    assert_eq!(other_client.tags().await.unwrap().len(), 1);
    let tag = client.tags().await.unwrap()[1].id;
    assert_eq!(
        errcode(client.batch_tag(tag, &theirs).await),
        codes::OPENID_NOT_OF_APPID
    );
    assert_eq!(sim.account(other.appid()).unwrap().follower_count(), 2);
}

#[tokio::test]
async fn custom_messages_only_inside_the_window() {
    let sim = Simulator::start();
    let openids = sim.seed_followers(3);
    let client = new_client(&sim);
    let hello = CustomMessage::text("您好");

    assert_eq!(
        errcode(client.send_custom(&openids[0], &hello).await),
        codes::RESPONSE_OUT_OF_TIME
    );

    // A message from the user: 5 within 48 h.
    sim.record_interaction(&openids[0], Interaction::Message);
    for _ in 0..5 {
        client.send_custom(&openids[0], &hello).await.unwrap();
    }
    assert_eq!(
        errcode(client.send_custom(&openids[0], &hello).await),
        codes::RESPONSE_COUNT_EXCEEDED
    );
    sim.advance(Duration::from_secs(48 * 3600 + 1));
    assert_eq!(
        errcode(client.send_custom(&openids[0], &hello).await),
        codes::RESPONSE_OUT_OF_TIME
    );

    // A menu click: 3 within a minute.
    sim.record_interaction(&openids[1], Interaction::Event);
    let news = CustomMessage::News {
        article: NewsArticle {
            title: "新品".into(),
            description: "本周上新".into(),
            url: "https://example.com/new".into(),
            picurl: "https://example.com/new.png".into(),
        },
    };
    client.send_custom(&openids[1], &news).await.unwrap();
    client.send_custom(&openids[1], &hello).await.unwrap();
    sim.advance(Duration::from_secs(61));
    assert_eq!(
        errcode(client.send_custom(&openids[1], &hello).await),
        codes::RESPONSE_OUT_OF_TIME
    );

    // A payment: unlimited within 48 h; unfollowing closes it.
    sim.record_interaction(&openids[2], Interaction::Payment);
    for _ in 0..12 {
        client.send_custom(&openids[2], &hello).await.unwrap();
    }
    sim.set_subscribed(&openids[2], false);
    assert_eq!(
        errcode(client.send_custom(&openids[2], &hello).await),
        codes::RESPONSE_OUT_OF_TIME
    );
    assert_eq!(
        errcode(client.send_custom("oNobody", &hello).await),
        codes::INVALID_OPENID
    );

    let sent = sim.sent_messages();
    assert_eq!(sent.len(), 5 + 2 + 12);
    assert_eq!(sent[0].body["text"]["content"], "您好");
    assert_eq!(sent[5].msgtype, "news");
    assert_eq!(sent[5].body["news"]["articles"][0]["title"], "新品");
}

#[tokio::test]
async fn qr_codes_both_kinds_and_the_permanent_cap() {
    let sim = Simulator::start_with(SimConfig {
        permanent_qr_limit: 3,
        ..SimConfig::default()
    });
    let client = new_client(&sim);

    let temp = client
        .create_qrcode(&QrCodeRequest::temporary(Scene::Id(123), 604_800))
        .await
        .unwrap();
    assert_eq!(temp.expire_seconds, Some(604_800));
    assert!(temp.url.starts_with("http://weixin.qq.com/q/"));
    let temp_str = client
        .create_qrcode(&QrCodeRequest::temporary(
            Scene::Str("coupon:42".into()),
            2_592_000,
        ))
        .await
        .unwrap();
    assert_ne!(temp.ticket, temp_str.ticket);
    let record = sim.qrcode(&temp_str.ticket).unwrap();
    assert_eq!(
        record.scene,
        patron_simulator::QrScene::Str("coupon:42".into())
    );
    assert!(!record.permanent && record.expires_at.is_some());

    let mut permanent = Vec::new();
    for scene in [
        Scene::Id(1),
        Scene::Id(100_000),
        Scene::Str("store:7".into()),
    ] {
        let code = client
            .create_qrcode(&QrCodeRequest::permanent(scene))
            .await
            .unwrap();
        assert_eq!(code.expire_seconds, None);
        permanent.push(code);
    }
    assert_eq!(
        errcode(
            client
                .create_qrcode(&QrCodeRequest::permanent(Scene::Id(2)))
                .await
        ),
        codes::TICKET_LIMIT
    );
    // The same scene again is the same code, and does not count.
    let again = client
        .create_qrcode(&QrCodeRequest::permanent(Scene::Id(1)))
        .await
        .unwrap();
    assert_eq!(again.ticket, permanent[0].ticket);
    // Temporary codes are not capped.
    client
        .create_qrcode(&QrCodeRequest::temporary(Scene::Id(9), 60))
        .await
        .unwrap();
    assert_eq!(sim.qrcodes().len(), 6);

    // Out of range: refused client-side.
    let calls = sim.call_count(paths::QRCODE_CREATE);
    for bad in [
        QrCodeRequest::permanent(Scene::Id(100_001)),
        QrCodeRequest::temporary(Scene::Id(1), 2_592_001),
        QrCodeRequest::temporary(Scene::Str("x".repeat(65)), 60),
    ] {
        assert!(is_invalid(client.create_qrcode(&bad).await), "{bad:?}");
    }
    assert_eq!(sim.call_count(paths::QRCODE_CREATE), calls);
}

#[tokio::test]
async fn mass_send_deduplicates_by_clientmsgid() {
    let sim = Simulator::start();
    let openids = sim.seed_followers(10);
    let client = new_client(&sim);
    let tag = client.create_tag("campaign").await.unwrap();
    client.batch_tag(tag.id, &openids[..4]).await.unwrap();

    let message = MassMessage::text("周末五折");
    let first = client
        .mass_send_all(MassFilter::Tag(tag.id), &message, Some("campaign-17"))
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.msg_data_id, None);

    // Repeated at once: 45066, retryable.
    let err = client
        .mass_send_all(MassFilter::Tag(tag.id), &message, Some("campaign-17"))
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some(codes::CLIENTMSGID_RETRY_TOO_FAST));
    assert!(err.is_retryable());
    // A minute later: 45065 with the first send's msg_id, reported as a duplicate.
    sim.advance(Duration::from_secs(61));
    let again = client
        .mass_send_all(MassFilter::Tag(tag.id), &message, Some("campaign-17"))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.msg_id, first.msg_id);

    let article = MassMessage::MpNews {
        media_id: "DRAFT_MEDIA_ID".into(),
        send_ignore_reprint: true,
    };
    let to_all = client
        .mass_send_all(MassFilter::All, &article, Some("campaign-18"))
        .await
        .unwrap();
    assert_ne!(to_all.msg_id, first.msg_id);
    assert!(to_all.msg_data_id.is_some());

    let sends = sim.mass_sends();
    assert_eq!(sends.len(), 2);
    assert_eq!((sends[0].recipients, sends[0].tag_id), (4, Some(tag.id)));
    assert_eq!((sends[1].recipients, sends[1].to_all), (10, true));
    assert_eq!(sends[1].body["send_ignore_reprint"], 1);

    assert_eq!(
        client.mass_status(first.msg_id).await.unwrap(),
        MassStatus::SendSuccess
    );
    assert!(sim.set_mass_status(to_all.msg_id, "SENDING"));
    assert_eq!(
        client.mass_status(to_all.msg_id).await.unwrap(),
        MassStatus::Sending
    );
    assert_eq!(
        errcode(client.mass_status(1).await),
        patron_simulator::codes::INVALID_MSG_ID
    );
    assert_eq!(
        errcode(
            client
                .mass_send_all(MassFilter::Tag(999), &message, None)
                .await
        ),
        codes::INVALID_TAG_ID
    );
    assert!(is_invalid(
        client
            .mass_send_all(MassFilter::All, &message, Some(&"x".repeat(65)))
            .await
    ));
}

#[tokio::test]
async fn busy_is_retried_and_other_failures_surface() {
    let sim = Simulator::start();
    sim.seed_followers(2);
    let client = new_client(&sim);
    client.tags().await.unwrap();

    sim.fail_next(2, codes::SYSTEM_BUSY);
    assert_eq!(client.followers(None).await.unwrap().count, 2);
    assert_eq!(answers(&sim, paths::USER_GET), [-1, -1, 0]);

    sim.fail_next(3, codes::SYSTEM_BUSY);
    let err = client.followers(None).await.unwrap_err();
    assert!(err.api().unwrap().is_busy() && err.is_retryable(), "{err}");

    let no_retry = Client::builder(sim.base_url(), sim.appid(), sim.secret())
        .retry_policy(RetryPolicy {
            busy_retries: 0,
            busy_backoff: Duration::ZERO,
        })
        .build()
        .unwrap();
    sim.fail_next(1, codes::SYSTEM_BUSY);
    assert_eq!(errcode(no_retry.tags().await), codes::SYSTEM_BUSY);

    // Busy while fetching the token is retried too.
    sim.fail_next_on(paths::STABLE_TOKEN, 1, codes::SYSTEM_BUSY);
    let fresh = new_client(&sim);
    fresh.tags().await.unwrap();

    sim.fail_next_http(1, 502);
    let err = client.tags().await.unwrap_err();
    assert!(
        matches!(err, Error::Status { status: 502, .. }) && err.is_retryable(),
        "{err}"
    );

    // Quotas: 45009 until the next (Beijing) day, 45011 until the next minute. The
    // clock stands still at 10:00:00 Beijing time so no boundary falls in between.
    sim.freeze_clock_at(1_767_232_800);
    sim.set_quota(
        paths::USER_GET,
        Quota::daily(sim.quota_used_today(paths::USER_GET) + 1),
    );
    client.followers(None).await.unwrap();
    let err = client.followers(None).await.unwrap_err();
    assert!(
        err.api().unwrap().is_quota() && !err.is_retryable(),
        "{err}"
    );
    sim.advance(Duration::from_secs(86_400));
    client.followers(None).await.unwrap();
    sim.set_quota(
        paths::TAGS_GET,
        Quota {
            daily: None,
            per_minute: Some(1),
        },
    );
    client.tags().await.unwrap();
    assert_eq!(errcode(client.tags().await), codes::API_MINUTE_QUOTA);
    sim.advance(Duration::from_secs(60));
    client.tags().await.unwrap();
}

#[tokio::test]
async fn menu_create_get_delete() {
    let sim = Simulator::start();
    let client = new_client(&sim);
    assert_eq!(client.menu().await.unwrap(), None);

    let menu = Menu {
        button: vec![
            MenuButton::Action(ActionButton::click("今日优惠", "TODAY")),
            MenuButton::SubMenu {
                name: "会员".into(),
                sub_button: vec![
                    ActionButton::view("会员中心", "https://patron.example/m"),
                    ActionButton::miniprogram(
                        "小程序",
                        "https://patron.example",
                        "wx286b93c14bbf93aa",
                        "pages/index",
                    ),
                    ActionButton::click("积分", "POINTS"),
                    ActionButton::click("券包", "COUPONS"),
                    ActionButton::click("客服", "SERVICE"),
                ],
            },
            MenuButton::Action(ActionButton::view("门店", "https://patron.example/s")),
        ],
    };
    client.create_menu(&menu).await.unwrap();
    assert_eq!(client.menu().await.unwrap(), Some(menu.clone()));
    assert_eq!(
        sim.menu().unwrap()["button"][1]["sub_button"][4]["key"],
        "SERVICE"
    );

    let mut four = menu.clone();
    four.button
        .push(MenuButton::Action(ActionButton::click("x", "X")));
    assert!(is_invalid(client.create_menu(&four).await));
    let mut six = menu.clone();
    if let MenuButton::SubMenu { sub_button, .. } = &mut six.button[1] {
        sub_button.push(ActionButton::click("x", "X"));
    }
    assert!(is_invalid(client.create_menu(&six).await));

    client.delete_menu().await.unwrap();
    assert_eq!(client.menu().await.unwrap(), None);
    assert_eq!(sim.menu(), None);
}

/// The simulator's answers to requests the client never makes.
#[tokio::test]
async fn raw_protocol_errors() {
    let sim = Simulator::start();
    sim.seed_followers(101);
    let client = new_client(&sim);
    let token = client.access_token().await.unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let get = |path: String| {
        let http = http.clone();
        async move {
            let response = http.get(path).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let post = |path: String, body: &'static str| {
        let http = http.clone();
        async move {
            let response = http.post(path).body(body).send().await.unwrap();
            serde_json::from_str::<Value>(&response.text().await.unwrap()).unwrap()
        }
    };

    let (_, missing) = get(format!("{base}/cgi-bin/tags/get")).await;
    assert_eq!(missing["errcode"], 41001);
    assert!(missing["errmsg"].as_str().unwrap().contains("rid:"));
    let (_, malformed) = get(format!("{base}/cgi-bin/tags/get?access_token=a%20b")).await;
    assert_eq!(malformed["errcode"], 40014);
    let (_, unknown) = get(format!("{base}/cgi-bin/tags/get?access_token=SIM99_x")).await;
    assert_eq!(unknown["errcode"], 40001);
    let (_, get_on_post) = get(format!("{base}/cgi-bin/tags/create?access_token={token}")).await;
    assert_eq!(get_on_post["errcode"], 43002);
    let (status, _) = get(format!("{base}/cgi-bin/nope?access_token={token}")).await;
    assert_eq!(status, 404);

    let url = |path: &str| format!("{base}{path}?access_token={token}");
    assert_eq!(post(url(paths::TAGS_CREATE), "").await["errcode"], 44002);
    assert_eq!(
        post(url(paths::TAGS_CREATE), "{oops").await["errcode"],
        47001
    );
    assert_eq!(
        post(
            url(paths::TAGS_CREATE),
            r#"{"tag":{"name":"1234567890123456789012345678901"}}"#
        )
        .await["errcode"],
        45158
    );
    assert_eq!(
        post(url(paths::MENU_CREATE), r#"{"button":[]}"#).await["errcode"],
        40016
    );
    assert_eq!(
        post(
            url(paths::MENU_CREATE),
            r#"{"button":[{"name":"m","sub_button":[{"type":"click","name":"a","key":"k","sub_button":[{"type":"click","name":"b","key":"k"}]}]}]}"#
        )
        .await["errcode"],
        40022
    );
    assert_eq!(
        post(
            url(paths::MENU_CREATE),
            r#"{"button":[{"type":"teleport","name":"t"}]}"#
        )
        .await["errcode"],
        40017
    );
    assert_eq!(
        post(
            url(paths::QRCODE_CREATE),
            r#"{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":100001}}}"#
        )
        .await["errcode"],
        40053
    );
    // No expire_seconds: WeChat's default of 60 s.
    assert_eq!(
        post(
            url(paths::QRCODE_CREATE),
            r#"{"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":5}}}"#
        )
        .await["expire_seconds"],
        60
    );
    assert_eq!(
        post(
            url(paths::CUSTOM_SEND),
            r#"{"touser":"x","msgtype":"hologram","hologram":{}}"#
        )
        .await["errcode"],
        40008
    );

    let list: Vec<Value> = client
        .all_followers()
        .await
        .unwrap()
        .into_iter()
        .map(|openid| json!({ "openid": openid, "lang": "zh_CN" }))
        .collect();
    let body = json!({ "user_list": list }).to_string();
    let response = http
        .post(url(paths::USER_INFO_BATCHGET))
        .body(body)
        .send()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(answer["errcode"], 40032, "batchget of 101");
}

/// A POST of the simulator's raw JSON protocol, for what the client cannot say.
async fn raw_post(sim: &Simulator, client: &Client, path: &str, body: Value) -> Value {
    let token = client.access_token().await.unwrap();
    let url = format!("{}{path}?access_token={token}", sim.base_url());
    let response = reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn mass_send_by_openid_list_shares_ids_dedupe_and_quota() {
    let sim = Simulator::start();
    let openids = sim.seed_followers(5);
    let mut gone = Follower::new("oGoneGoneGoneGoneGoneGoneGone");
    gone.subscribed = false;
    sim.add_follower(gone);
    let client = new_client(&sim);
    let list: Vec<&str> = vec![
        &openids[0],
        &openids[1],
        "oGoneGoneGoneGoneGoneGoneGone",
        &openids[2],
        &openids[0],
    ];
    let message = MassMessage::text("会员日");

    let first = client
        .mass_send(&list, &message, Some("list-1"))
        .await
        .unwrap();
    assert!(!first.duplicate);
    let send = &sim.mass_sends()[0];
    // Repeats ignored, the former follower filtered out.
    assert_eq!(send.openids.as_deref(), Some(&openids[..3]));
    assert_eq!(
        (send.recipients, send.to_all, send.tag_id),
        (3, false, None)
    );
    assert_eq!(
        (
            send.job.total_count,
            send.job.filter_count,
            send.job.sent_count
        ),
        (4, 3, 3)
    );
    assert_eq!(send.clientmsgid.as_deref(), Some("list-1"));
    assert_eq!(send.body["text"]["content"], "会员日");

    // The clientmsgid is the account's, whichever endpoint repeats it.
    assert_eq!(
        errcode(client.mass_send(&list, &message, Some("list-1")).await),
        codes::CLIENTMSGID_RETRY_TOO_FAST
    );
    sim.advance(Duration::from_secs(61));
    let again = client
        .mass_send_all(MassFilter::All, &message, Some("list-1"))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.msg_id, first.msg_id);
    // One numbering for both endpoints.
    let to_all = client
        .mass_send_all(MassFilter::All, &message, None)
        .await
        .unwrap();
    let by_list = client.mass_send(&list, &message, None).await.unwrap();
    assert_eq!(
        (to_all.msg_id, by_list.msg_id),
        (first.msg_id + 1, first.msg_id + 2)
    );
    assert_eq!(
        client.mass_status(by_list.msg_id).await.unwrap(),
        MassStatus::SendSuccess
    );
    assert_eq!(sim.mass_sends().len(), 3);

    // Sizes, unknown openids and bad messages.
    assert_eq!(
        errcode(
            client
                .mass_send(&[&openids[0], "oNobody"], &message, None)
                .await
        ),
        codes::INVALID_OPENID
    );
    let one = raw_post(
        &sim,
        &client,
        paths::MASS_SEND,
        json!({"touser": [&openids[0]], "msgtype": "text", "text": {"content": "x"}}),
    )
    .await;
    assert_eq!(one["errcode"], 40130, "{one}");
    let many: Vec<&str> = vec![&openids[0]; 10_001];
    let too_many = raw_post(
        &sim,
        &client,
        paths::MASS_SEND,
        json!({"touser": many, "msgtype": "text", "text": {"content": "x"}}),
    )
    .await;
    assert_eq!(too_many["errcode"], 40130);
    let bad_type = raw_post(
        &sim,
        &client,
        paths::MASS_SEND,
        json!({"touser": [&openids[0], &openids[1]], "msgtype": "hologram"}),
    )
    .await;
    assert_eq!(bad_type["errcode"], 40008);
    let no_media = raw_post(
        &sim,
        &client,
        paths::MASS_SEND,
        json!({"touser": [&openids[0], &openids[1]], "msgtype": "image", "image": {}}),
    )
    .await;
    assert_eq!(no_media["errcode"], 40007);
    let long_id = raw_post(
        &sim,
        &client,
        paths::MASS_SEND,
        json!({"touser": [&openids[0], &openids[1]], "msgtype": "text",
               "text": {"content": "x"}, "clientmsgid": "x".repeat(65)}),
    )
    .await;
    assert_eq!(long_id["errcode"], 45067);
    assert_eq!(sim.mass_sends().len(), 3);

    // Both endpoints count against one quota: the sendall path's.
    assert_eq!(
        sim.quota_used_today(paths::MASS_SEND),
        sim.quota_used_today(paths::MASS_SENDALL)
    );
    let used = sim.quota_used_today(paths::MASS_SENDALL);
    assert_eq!(used, 11);
    sim.set_quota(paths::MASS_SENDALL, Quota::daily(used + 1));
    client.mass_send(&list, &message, None).await.unwrap();
    assert_eq!(
        errcode(client.mass_send_all(MassFilter::All, &message, None).await),
        codes::API_DAILY_QUOTA
    );
    assert_eq!(
        errcode(client.mass_send(&list, &message, None).await),
        codes::API_DAILY_QUOTA
    );
}

#[tokio::test]
async fn mass_preview_to_one_follower() {
    let sim = Simulator::start();
    let openids = sim.seed_followers(2);
    sim.set_subscribed(&openids[1], false);
    let client = new_client(&sim);
    let image = MassMessage::Image {
        media_id: "IMG_MEDIA".into(),
    };

    let msg_id = client.mass_preview(&openids[0], &image).await.unwrap();
    let previews = sim.previews();
    assert_eq!(previews.len(), 1);
    assert_eq!(msg_id, Some(previews[0].msg_id));
    assert_eq!(
        (previews[0].openid.as_str(), previews[0].msgtype.as_str()),
        (openids[0].as_str(), "image")
    );
    assert_eq!(previews[0].body["image"]["media_id"], "IMG_MEDIA");
    assert!(sim.mass_sends().is_empty(), "a preview is no mass send");

    assert_eq!(
        errcode(client.mass_preview(&openids[1], &image).await),
        codes::REQUIRE_SUBSCRIBE
    );
    assert_eq!(
        errcode(client.mass_preview("oNobody", &image).await),
        codes::INVALID_OPENID
    );

    // By WeChat ID.
    sim.set_wxname(&openids[0], "patron_fan");
    let answer = raw_post(
        &sim,
        &client,
        paths::MASS_PREVIEW,
        json!({"towxname": "patron_fan", "msgtype": "text", "text": {"content": "预览"}}),
    )
    .await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(answer["errmsg"], "preview success");
    assert_eq!(answer["msg_id"], msg_id.unwrap() + 1);
    let last = sim.previews().pop().unwrap();
    assert_eq!(last.towxname.as_deref(), Some("patron_fan"));
    assert_eq!(last.openid, openids[0]);
    let unknown = raw_post(
        &sim,
        &client,
        paths::MASS_PREVIEW,
        json!({"towxname": "nobody", "msgtype": "text", "text": {"content": "x"}}),
    )
    .await;
    assert_eq!(unknown["errcode"], 40132);
}

/// One request as the test's receiver read it.
struct Received {
    /// Path and query.
    target: String,
    body: String,
}

/// A tiny HTTP server on its own thread: answers each request with the next of
/// `answers` (the last one once they run out) and reports what it read.
fn receiver(answers: Vec<(u16, &'static str)>) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/wx/demo", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let header_end = loop {
                let read = stream.read(&mut chunk).unwrap_or(0);
                if read == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..read]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(header_end) = header_end else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
            let length: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < header_end + length {
                let read = stream.read(&mut chunk).unwrap_or(0);
                if read == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..read]);
            }
            let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let body = String::from_utf8_lossy(&buf[header_end..]).into_owned();
            let (status, text) = answers[n.min(answers.len() - 1)];
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = tx.send(Received { target, body });
        }
    });
    (url, rx)
}

/// The query parameters of a request target.
fn query(target: &str) -> std::collections::HashMap<String, String> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn push_config() -> SimConfig {
    SimConfig {
        job_finish_delay: Duration::from_millis(20),
        push_retry_pause: Duration::from_millis(10),
        push_timeout: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

const TOKEN: &str = "pushtoken";
/// The docs' own key: its last character carries non-zero spare bits.
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const WAIT: Duration = Duration::from_secs(10);

/// Verifies and opens a safe-mode push with patron_wechat, as Patron's server does.
fn open_safe(sim: &Simulator, push: &Received) -> Inbound {
    let q = query(&push.target);
    assert_eq!(q["encrypt_type"], "aes");
    assert!(signature::verify_url_signature(
        &q["signature"],
        TOKEN,
        &q["timestamp"],
        &q["nonce"]
    ));
    let envelope = xml::parse_envelope(&push.body).unwrap();
    assert_eq!(
        envelope.to_user_name.as_deref(),
        Some(sim.original_id().as_str())
    );
    assert_eq!(
        envelope.fields.len(),
        2,
        "safe mode: ToUserName and Encrypt only"
    );
    let encrypt = envelope.encrypt.as_deref().unwrap();
    assert!(signature::verify_msg_signature(
        &q["msg_signature"],
        TOKEN,
        &q["timestamp"],
        &q["nonce"],
        encrypt
    ));
    let key = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
    let plain = patron_wechat::crypto::decrypt(&key, sim.appid(), encrypt).unwrap();
    xml::parse_message(plain).unwrap()
}

fn job_finish(inbound: &Inbound) -> &MassSendJobFinish {
    match &inbound.message {
        Message::Event(Event::MassSendJobFinish(job)) => job,
        other => panic!("not MASSSENDJOBFINISH: {other:?}"),
    }
}

#[tokio::test]
async fn mass_sends_push_job_finish_in_safe_mode() {
    let sim = Simulator::start_with(push_config());
    sim.freeze_clock_at(1_767_232_800);
    let openids = sim.seed_followers(6);
    let client = new_client(&sim);
    let (url, rx) = receiver(vec![(200, "success")]);
    sim.set_webhook(Webhook::safe(&url, TOKEN, AES_KEY));

    // By openid list: total 3, one of them no longer following.
    sim.set_subscribed(&openids[2], false);
    let list = [openids[0].as_str(), &openids[1], &openids[2]];
    let sent = client
        .mass_send(&list, &MassMessage::text("周末五折"), Some("job-1"))
        .await
        .unwrap();
    let deliveries = sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].accepted());
    assert_eq!(deliveries[0].response.as_deref(), Some("success"));
    assert_eq!(deliveries[0].kind, "MASSSENDJOBFINISH");
    let push = rx.recv_timeout(WAIT).unwrap();
    assert!(push.target.starts_with("/wx/demo?"));
    let inbound = open_safe(&sim, &push);
    assert_eq!(inbound.header.to_user, sim.original_id());
    assert_eq!(inbound.header.from_user, SYSTEM_OPENID);
    assert_eq!(inbound.header.create_time, 1_767_232_800);
    let job = job_finish(&inbound);
    assert_eq!(job.msg_id, sent.msg_id);
    assert_eq!(job.status, "send success");
    assert_eq!(
        (
            job.total_count,
            job.filter_count,
            job.sent_count,
            job.error_count
        ),
        (Some(3), Some(2), Some(2), Some(0))
    );
    assert_eq!(deliveries[0].plaintext.as_bytes(), {
        let key = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
        let encrypt = xml::parse_envelope(&push.body).unwrap().encrypt.unwrap();
        patron_wechat::crypto::decrypt(&key, sim.appid(), &encrypt).unwrap()
    });

    // Sendall of an article, with errors arranged: the counts and the article's URL.
    sim.set_next_mass_outcome(MassOutcome {
        error_count: 2,
        status: None,
    });
    let article = MassMessage::MpNews {
        media_id: "DRAFT".into(),
        send_ignore_reprint: false,
    };
    let all = client
        .mass_send_all(MassFilter::All, &article, Some("job-2"))
        .await
        .unwrap();
    let inbound = open_safe(&sim, &rx.recv_timeout(WAIT).unwrap());
    let job = job_finish(&inbound);
    assert_eq!(job.msg_id, all.msg_id);
    assert_eq!(
        (
            job.total_count,
            job.filter_count,
            job.sent_count,
            job.error_count
        ),
        (Some(5), Some(5), Some(3), Some(2))
    );
    assert_eq!(job.copyright_check.as_ref().unwrap().check_state, Some(1));
    let urls = job.article_urls.as_ref().unwrap();
    assert_eq!(urls.items.len(), 1);
    assert!(urls.items[0]
        .article_url
        .starts_with("https://mp.weixin.qq.com/s?"));
    assert_eq!(sim.mass_sends()[1].job.error_count, 2);

    // A failed job: its status, and mass/get agrees.
    sim.set_next_mass_outcome(MassOutcome {
        error_count: 0,
        status: Some("err(30003)".into()),
    });
    let failed = client
        .mass_send_all(MassFilter::All, &MassMessage::text("x"), None)
        .await
        .unwrap();
    let job_event = open_safe(&sim, &rx.recv_timeout(WAIT).unwrap());
    assert_eq!(job_finish(&job_event).status, "err(30003)");
    assert_eq!(
        client.mass_status(failed.msg_id).await.unwrap(),
        MassStatus::SendFail
    );

    // A duplicate (45065) sends nothing and pushes nothing.
    sim.advance(Duration::from_secs(61));
    let again = client
        .mass_send(&list, &MassMessage::text("周末五折"), Some("job-1"))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert!(sim.wait_for_pushes(WAIT).await);
    assert_eq!(sim.push_deliveries().len(), 3);
    assert!(rx.try_recv().is_err());

    // Without a webhook, nothing is pushed either.
    sim.clear_webhook();
    client
        .mass_send_all(MassFilter::All, &MassMessage::text("y"), None)
        .await
        .unwrap();
    assert_eq!(sim.pending_pushes(), 0);
}

#[tokio::test]
async fn user_actions_push_plaintext_and_retry_failures() {
    let sim = Simulator::start_with(push_config());
    let openids = sim.seed_followers(1);
    let client = new_client(&sim);
    // Two failures, then taken.
    let (url, rx) = receiver(vec![(500, "oops"), (503, ""), (200, "success")]);
    sim.set_webhook(Webhook::plaintext(&url, TOKEN));
    assert_eq!(sim.webhook().unwrap().mode, PushMode::Plaintext);

    let newcomer = "oNewcomerNewcomerNewcomer0001";
    let push_id = sim.push_subscribe(newcomer).unwrap();
    let deliveries = sim.wait_for_deliveries(3, WAIT).await;
    let statuses: Vec<_> = deliveries.iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(statuses, [(1, Some(500)), (2, Some(503)), (3, Some(200))]);
    assert!(deliveries.iter().all(|d| d.push_id == push_id));
    assert_eq!(deliveries[0].response.as_deref(), Some("oops"));
    assert!(!deliveries[1].accepted() && deliveries[2].accepted());
    // The same push each time: same signature, same body.
    let pushes: Vec<Received> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert!(pushes.iter().all(|p| p.target == pushes[0].target));
    assert!(pushes.iter().all(|p| p.body == pushes[0].body));
    let q = query(&pushes[0].target);
    assert!(!q.contains_key("encrypt_type"));
    assert_eq!(q["openid"], newcomer);
    assert!(signature::verify_url_signature(
        &q["signature"],
        TOKEN,
        &q["timestamp"],
        &q["nonce"]
    ));
    let inbound = xml::parse_message(&pushes[0].body).unwrap();
    assert_eq!(inbound.header.from_user, newcomer);
    assert_eq!(inbound.header.to_user, sim.original_id());
    assert!(matches!(
        inbound.message,
        Message::Event(Event::Subscribe {
            event_key: None,
            ..
        })
    ));
    // The follow is in the simulator's state: a follower with an event window.
    assert!(sim.follower(newcomer).unwrap().subscribed);
    assert_eq!(sim.follower_count(), 2);
    client
        .send_custom(newcomer, &CustomMessage::text("欢迎"))
        .await
        .unwrap();

    // A message: parsed as text, with a message window for replies.
    sim.push_text(&openids[0], "营业时间？").unwrap();
    let text = xml::parse_message(rx.recv_timeout(WAIT).unwrap().body).unwrap();
    match &text.message {
        Message::Text(t) => assert_eq!(t.content, "营业时间？"),
        other => panic!("not text: {other:?}"),
    }
    for _ in 0..5 {
        client
            .send_custom(&openids[0], &CustomMessage::text("9 点到 21 点"))
            .await
            .unwrap();
    }

    // A scan of a parametric code by someone new: a follow through the code.
    let code = client
        .create_qrcode(&QrCodeRequest::permanent(Scene::Str("store:7".into())))
        .await
        .unwrap();
    let scanner = "oScannerScannerScannerScann01";
    sim.push_scan(scanner, &code.ticket).unwrap();
    let scan = xml::parse_message(rx.recv_timeout(WAIT).unwrap().body).unwrap();
    match &scan.message {
        Message::Event(e @ Event::Subscribe { ticket, .. }) => {
            assert_eq!(e.qr_scene(), Some("store:7"));
            assert_eq!(ticket.as_deref(), Some(code.ticket.as_str()));
        }
        other => panic!("not a follow through the code: {other:?}"),
    }
    assert_eq!(sim.follower(scanner).unwrap().qr_scene_str, "store:7");
    // Again, now a follower: SCAN.
    sim.push_scan(scanner, &code.ticket).unwrap();
    let scan = xml::parse_message(rx.recv_timeout(WAIT).unwrap().body).unwrap();
    assert!(
        matches!(&scan.message, Message::Event(Event::Scan { event_key, .. }) if event_key == "store:7")
    );

    // An unfollow: out of the list, windows closed.
    sim.push_unsubscribe(newcomer).unwrap();
    let gone = xml::parse_message(rx.recv_timeout(WAIT).unwrap().body).unwrap();
    assert!(matches!(gone.message, Message::Event(Event::Unsubscribe)));
    assert!(!sim.follower(newcomer).unwrap().subscribed);
    assert_eq!(
        errcode(
            client
                .send_custom(newcomer, &CustomMessage::text("?"))
                .await
        ),
        codes::RESPONSE_OUT_OF_TIME
    );
    assert!(sim.wait_for_pushes(WAIT).await);
    let kinds: Vec<String> = sim
        .push_deliveries()
        .into_iter()
        .skip(3)
        .map(|d| d.kind)
        .collect();
    assert_eq!(kinds, ["text", "subscribe", "SCAN", "unsubscribe"]);
}

#[tokio::test]
async fn pushes_give_up_after_three_attempts() {
    let sim = Simulator::start_with(push_config());
    let openids = sim.seed_followers(1);
    let (url, rx) = receiver(vec![(500, "down")]);
    sim.set_webhook(Webhook::plaintext(&url, TOKEN));
    sim.push_text(&openids[0], "hi").unwrap();
    assert!(sim.wait_for_pushes(WAIT).await);
    let deliveries = sim.push_deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.status == Some(500)));
    assert_eq!(rx.try_iter().count(), 3);

    // Nobody listening: no answer at all, recorded as such.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/wx", closed.local_addr().unwrap());
    drop(closed);
    sim.set_webhook(Webhook::plaintext(dead, TOKEN));
    sim.push_subscribe("oSomeoneSomeoneSomeoneSome01").unwrap();
    assert!(sim.wait_for_pushes(WAIT).await);
    let failed: Vec<_> = sim.push_deliveries().into_iter().skip(3).collect();
    assert_eq!(failed.len(), 3);
    assert!(failed
        .iter()
        .all(|d| d.status.is_none() && d.error.is_some() && !d.accepted()));
}

#[tokio::test]
async fn compatible_mode_carries_both_forms() {
    let sim = Simulator::start_with(push_config());
    let openids = sim.seed_followers(1);
    let (url, rx) = receiver(vec![(200, "")]);
    sim.set_webhook(Webhook::compatible(
        format!("{url}?tenant=7"),
        TOKEN,
        AES_KEY,
    ));
    sim.push_text(&openids[0], "a ]]> b").unwrap();
    let push = rx.recv_timeout(WAIT).unwrap();
    let q = query(&push.target);
    assert_eq!(q["tenant"], "7");
    assert_eq!(q["encrypt_type"], "aes");
    let envelope = xml::parse_envelope(&push.body).unwrap();
    let encrypt = envelope.encrypt.as_deref().unwrap();
    assert!(signature::verify_msg_signature(
        &q["msg_signature"],
        TOKEN,
        &q["timestamp"],
        &q["nonce"],
        encrypt
    ));
    let key = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
    let inner =
        xml::parse_message(patron_wechat::crypto::decrypt(&key, sim.appid(), encrypt).unwrap())
            .unwrap();
    let outer = envelope.plaintext_message().unwrap();
    assert_eq!(inner.message, outer.message);
    assert!(matches!(&inner.message, Message::Text(t) if t.content == "a ]]> b"));
}

/// The simulator's own WXBizMsgCrypt against the fact sheet's vectors (§2.5), and
/// against patron_wechat's in both directions.
#[test]
fn simulator_crypto_reproduces_the_vectors() {
    use patron_simulator::crypto;

    let docs_key = crypto::aes_key(AES_KEY).unwrap();
    let hex: String = docs_key.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
    );
    assert!(crypto::aes_key("too-short").is_none());

    // V1: decrypt the official sample and check its msg_signature.
    let v1 = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
    assert_eq!(
        crypto::signature(&["spamtest", "1409735669", "1320562132", v1]),
        "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    );
    let msg = crypto::decrypt(&docs_key, "wx2c2769f8efd9abc2", v1).unwrap();
    assert_eq!(msg.len(), 280);
    assert!(String::from_utf8(msg).unwrap().contains("abcdteT"));
    assert!(crypto::decrypt(&docs_key, "wxsomeoneelse", v1).is_none());

    // V2 and V3 replies: encrypt byte-exactly with the given random bytes.
    let zero = crypto::aes_key(&"A".repeat(43)).unwrap();
    assert_eq!(zero, [0u8; 32]);
    let v2 = crypto::encrypt(
        &zero,
        "wxba5fad812f8e6fb9",
        br#"{"demo_resp":"good luck"}"#,
        *b"707722b803182950",
    );
    assert_eq!(
        v2,
        "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
    );
    assert_eq!(
        crypto::signature(&["AAAAA", "1713424427", "415670741", &v2]),
        "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
    );
    let v3 = crypto::encrypt(
        &zero,
        "wx134c8103faa5a59e",
        b"<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
        *b"999951349e8ee746",
    );
    assert_eq!(
        v3,
        "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
    );
    assert_eq!(
        crypto::signature(&["AAAAA", "1713424427", "415670741", &v3]),
        "03e0812039325c2712ef5f0f980fd14c70d6e307"
    );
    // V4: the plain push signature.
    assert_eq!(
        crypto::signature(&["AAAAA", "1714037059", "486452656"]),
        "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    );

    // Each side opens what the other sealed, at every padding length.
    let theirs = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
    for n in 0..70 {
        let msg = "x".repeat(n);
        let sealed = crypto::encrypt_fresh(&docs_key, "wxsim", msg.as_bytes());
        assert_eq!(
            patron_wechat::crypto::decrypt(&theirs, "wxsim", &sealed).unwrap(),
            msg.as_bytes()
        );
        let sealed = patron_wechat::crypto::encrypt_fresh(&theirs, "wxsim", msg.as_bytes());
        assert_eq!(
            crypto::decrypt(&docs_key, "wxsim", &sealed).unwrap(),
            msg.as_bytes()
        );
    }
}

// --- WeChat Pay: trade bills ---------------------------------------------------------
//
// `patron_wechat::pay::v3::bill` against the simulator: the client signs with the
// merchant's key and checks the platform's signatures and the file's hash, the
// simulator checks the merchant's signatures and signs with its platform key.

mod bills {
    use super::*;
    use chrono::NaiveDate;
    use patron_simulator::pay::PLATFORM_KEY_ID;
    use patron_wechat::pay::v3::bill::{new_nonce, Fetched, MerchantSigner, TradeBillClient};
    use patron_wechat::pay::v3::{self, PlatformKeys};
    use patron_wechat::pay::PayError;
    use sha1::{Digest, Sha1};

    const MCHID: &str = "1900000109";
    const SERIAL: &str = "3775B6A45ACD588826D15E583A95F5DD00000001";
    /// The merchant's API certificate key pair: patron-wechat's second test key.
    const MERCHANT_PRIVATE: &str = include_str!("../../wechat/src/pay/testdata/other_private.pem");
    const MERCHANT_PUBLIC: &str = include_str!("../../wechat/src/pay/testdata/other_public.pem");
    /// A key the simulator does not hold for the merchant (patron-wechat's "platform"
    /// test key, which the simulator happens to sign its answers with).
    const STRANGER_PRIVATE: &str =
        include_str!("../../wechat/src/pay/testdata/platform_private.pem");
    const DATE: &str = "2024-05-01";

    /// A bill as WeChat writes it: BOM, CRLF, backticks before every value.
    fn bill() -> Vec<u8> {
        let mut b = "\u{feff}交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n".to_owned();
        b.push_str("`2024-05-01 08:35:41,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200002024050112345678,`P20240501-0001,`oUpF8uMEb4qRXf22hE3X68TekukE,`JSAPI,`SUCCESS,`CMB_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,`咖啡,`,`0.04000,`0.60%,`6.00,`0.00,`\r\n");
        b.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
        b.push_str("`1,`6.00,`0.00,`0.00,`0.04000,`6.00,`0.00\r\n");
        b.into_bytes()
    }

    fn sha1_hex(bytes: &[u8]) -> String {
        Sha1::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn day(date: &str) -> NaiveDate {
        NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap()
    }

    /// A simulator with the merchant, and Patron's side: the client, the merchant's
    /// signer and the platform key as the simulator announces it.
    fn setup() -> (Simulator, TradeBillClient, MerchantSigner, PlatformKeys) {
        let sim = Simulator::start();
        sim.add_merchant(MCHID, MERCHANT_PUBLIC).unwrap();
        let client = TradeBillClient::new(&sim.base_url()).unwrap();
        let signer = MerchantSigner::from_pem(MCHID, SERIAL, MERCHANT_PRIVATE).unwrap();
        let mut platform = PlatformKeys::new();
        platform
            .add_public_key_pem(sim.pay_platform_key_id(), sim.pay_platform_public_key_pem())
            .unwrap();
        (sim, client, signer, platform)
    }

    async fn fetch(
        sim: &Simulator,
        client: &TradeBillClient,
        signer: &MerchantSigner,
        platform: &PlatformKeys,
        date: &str,
        bill_type: &str,
    ) -> (Result<Fetched, PayError>, Vec<u8>) {
        let mut sink = Vec::new();
        let fetched = client
            .fetch(signer, platform, day(date), bill_type, sim.now(), &mut sink)
            .await;
        (fetched, sink)
    }

    /// (path, status) of every WeChat Pay call, in order.
    fn pay_calls(sim: &Simulator) -> Vec<(String, u16)> {
        sim.calls()
            .into_iter()
            .filter(|c| c.path.starts_with("/v3/"))
            .map(|c| (c.path, c.status))
            .collect()
    }

    #[tokio::test]
    async fn a_published_bill_is_fetched_byte_exact_with_its_hash_checked() {
        let (sim, client, signer, platform) = setup();
        sim.publish_bill(MCHID, DATE, "ALL", bill());

        let (fetched, sink) = fetch(&sim, &client, &signer, &platform, DATE, "ALL").await;
        let sha1 = sha1_hex(&bill());
        assert_eq!(
            fetched.unwrap(),
            Fetched::Bill {
                bytes: bill().len() as u64,
                sha1
            }
        );
        assert_eq!(sink, bill());
        assert_eq!(
            pay_calls(&sim),
            [
                (paths::TRADEBILL.to_owned(), 200),
                (paths::BILL_DOWNLOAD.to_owned(), 200)
            ]
        );

        // Bill types are published apart; an empty bill is a bill.
        let (fetched, _) = fetch(&sim, &client, &signer, &platform, DATE, "REFUND").await;
        assert_eq!(fetched.unwrap(), Fetched::NoBill);
        sim.publish_bill(MCHID, DATE, "REFUND", Vec::new());
        let (fetched, sink) = fetch(&sim, &client, &signer, &platform, DATE, "REFUND").await;
        assert!(matches!(fetched.unwrap(), Fetched::Bill { bytes: 0, .. }));
        assert!(sink.is_empty());
    }

    #[tokio::test]
    async fn days_without_a_bill_and_bills_being_written() {
        let (sim, client, signer, platform) = setup();
        let (fetched, sink) = fetch(&sim, &client, &signer, &platform, DATE, "ALL").await;
        assert_eq!(fetched.unwrap(), Fetched::NoBill);
        assert!(sink.is_empty());

        sim.set_bill_creating(MCHID, DATE);
        let (fetched, sink) = fetch(&sim, &client, &signer, &platform, DATE, "ALL").await;
        assert_eq!(fetched.unwrap(), Fetched::NotReady);
        assert!(sink.is_empty());

        sim.publish_bill(MCHID, DATE, "ALL", bill());
        let (fetched, sink) = fetch(&sim, &client, &signer, &platform, DATE, "ALL").await;
        assert!(matches!(fetched.unwrap(), Fetched::Bill { .. }));
        assert_eq!(sink, bill());
        assert_eq!(
            pay_calls(&sim)
                .iter()
                .map(|(_, status)| *status)
                .collect::<Vec<_>>(),
            [400, 400, 200, 200]
        );
    }

    #[tokio::test]
    async fn a_corrupted_hash_is_refused_once() {
        let (sim, client, signer, platform) = setup();
        sim.publish_bill(MCHID, DATE, "ALL", bill());
        sim.corrupt_next_bill_hash();
        let (fetched, _) = fetch(&sim, &client, &signer, &platform, DATE, "ALL").await;
        match fetched {
            Err(PayError::BillHashMismatch {
                expected,
                actual,
                bytes,
            }) => {
                assert_eq!(actual, sha1_hex(&bill()));
                assert_ne!(expected, actual);
                assert_eq!(bytes, bill().len() as u64);
            }
            other => panic!("expected a hash mismatch, got {other:?}"),
        }
        let (fetched, sink) = fetch(&sim, &client, &signer, &platform, DATE, "ALL").await;
        assert!(matches!(fetched.unwrap(), Fetched::Bill { .. }));
        assert_eq!(sink, bill());
    }

    #[tokio::test]
    async fn a_request_signed_with_another_key_gets_401() {
        let (sim, client, _, platform) = setup();
        sim.publish_bill(MCHID, DATE, "ALL", bill());
        let wrong = MerchantSigner::from_pem(MCHID, SERIAL, STRANGER_PRIVATE).unwrap();
        let (fetched, sink) = fetch(&sim, &client, &wrong, &platform, DATE, "ALL").await;
        match fetched {
            Err(PayError::Api { status, code, .. }) => {
                assert_eq!((status, code.as_str()), (401, "SIGN_ERROR"));
            }
            other => panic!("expected SIGN_ERROR, got {other:?}"),
        }
        assert!(sink.is_empty());

        // A merchant the simulator does not know: the same.
        let unknown = MerchantSigner::from_pem("1900000999", SERIAL, MERCHANT_PRIVATE).unwrap();
        let (fetched, _) = fetch(&sim, &client, &unknown, &platform, DATE, "ALL").await;
        assert!(
            matches!(&fetched, Err(PayError::Api { status: 401, code, .. }) if code == "SIGN_ERROR"),
            "{fetched:?}"
        );
        assert_eq!(sim.call_count(paths::BILL_DOWNLOAD), 0);
    }

    #[tokio::test]
    async fn answers_signed_by_a_key_patron_does_not_know_are_refused() {
        let (sim, client, signer, _) = setup();
        sim.publish_bill(MCHID, DATE, "ALL", bill());
        let why = |fetched: Result<Fetched, PayError>| match fetched {
            Err(PayError::UnverifiedAnswer {
                status,
                claimed,
                why,
            }) => (status, claimed, *why),
            other => panic!("expected an unverified answer, got {other:?}"),
        };

        // Another key under the simulator's key id.
        let mut forged = PlatformKeys::new();
        forged
            .add_public_key_pem(
                PLATFORM_KEY_ID,
                include_str!("../../wechat/src/pay/testdata/other_public.pem"),
            )
            .unwrap();
        let (fetched, sink) = fetch(&sim, &client, &signer, &forged, DATE, "ALL").await;
        assert_eq!(why(fetched), (200, None, PayError::BadSignature));
        assert!(sink.is_empty());

        // An error answer is not believed either: a "no bill" could hide a day.
        let (fetched, _) = fetch(&sim, &client, &signer, &forged, "2024-05-02", "ALL").await;
        assert_eq!(
            why(fetched),
            (
                400,
                Some("NO_STATEMENT_EXIST".to_owned()),
                PayError::BadSignature
            )
        );

        // The right key under another id: the answer names a key Patron lacks.
        let mut renamed = PlatformKeys::new();
        renamed
            .add_public_key_pem(
                "PUB_KEY_ID_0000000000000000000000000002",
                sim.pay_platform_public_key_pem(),
            )
            .unwrap();
        let (fetched, _) = fetch(&sim, &client, &signer, &renamed, DATE, "ALL").await;
        assert_eq!(
            why(fetched),
            (
                200,
                None,
                PayError::UnknownSerial(PLATFORM_KEY_ID.to_owned())
            )
        );
        assert_eq!(sim.call_count(paths::BILL_DOWNLOAD), 0);
    }

    /// A GET of `path_and_query` signed by `signer` at `timestamp`.
    async fn signed_get(
        sim: &Simulator,
        signer: &MerchantSigner,
        path_and_query: &str,
        timestamp: i64,
    ) -> reqwest::Response {
        let auth = signer.authorization("GET", path_and_query, timestamp, &new_nonce(), b"");
        reqwest::Client::new()
            .get(format!("{}{path_and_query}", sim.base_url()))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap()
    }

    /// Status, WeChat Pay code and whether the platform signature verifies.
    async fn answer(sim: &Simulator, response: reqwest::Response) -> (u16, String, bool) {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (ts, nonce, signature, serial) = (
            header(v3::HEADER_TIMESTAMP),
            header(v3::HEADER_NONCE),
            header(v3::HEADER_SIGNATURE),
            header(v3::HEADER_SERIAL),
        );
        let body = response.bytes().await.unwrap();
        let mut platform = PlatformKeys::new();
        platform
            .add_public_key_pem(sim.pay_platform_key_id(), sim.pay_platform_public_key_pem())
            .unwrap();
        let headers = v3::Headers {
            timestamp: &ts,
            nonce: &nonce,
            signature: &signature,
            serial: &serial,
        };
        let signed = v3::verify(&headers, &body, &platform, sim.now()).is_ok();
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (status, code, signed)
    }

    #[tokio::test]
    async fn the_simulator_checks_parameters_signatures_and_download_tokens() {
        let (sim, _, signer, _) = setup();
        sim.publish_bill(MCHID, DATE, "ALL", bill());
        let now = sim.now();
        let (s, g) = (&sim, &signer);
        let get = move |pq: &'static str, ts: i64| signed_get(s, g, pq, ts);

        for (pq, code) in [
            (
                "/v3/bill/tradebill?bill_date=2024-5-1&bill_type=ALL",
                "PARAM_ERROR",
            ),
            (
                "/v3/bill/tradebill?bill_date=2023-02-29&bill_type=ALL",
                "PARAM_ERROR",
            ),
            ("/v3/bill/tradebill?bill_type=ALL", "PARAM_ERROR"),
            (
                "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=RECHARGE_REFUND",
                "PARAM_ERROR",
            ),
            (
                "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL&tar_type=GZIP",
                "PARAM_ERROR",
            ),
        ] {
            assert_eq!(
                answer(&sim, get(pq, now).await).await,
                (400, code.into(), true),
                "{pq}"
            );
        }
        // bill_type defaults to ALL.
        let pq = "/v3/bill/tradebill?bill_date=2024-05-01";
        assert_eq!(
            answer(&sim, get(pq, now).await).await,
            (200, String::new(), true)
        );

        // Signatures: stale, for another URL, absent. Refusals are signed too.
        let pq = "/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL";
        let stale = answer(&sim, get(pq, now - 301).await).await;
        assert_eq!(stale, (401, "SIGN_ERROR".into(), true));
        let auth = signer.authorization("GET", "/v3/bill/tradebill", now, &new_nonce(), b"");
        let other_url = reqwest::Client::new()
            .get(format!("{}{pq}", sim.base_url()))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer(&sim, other_url).await,
            (401, "SIGN_ERROR".into(), true)
        );
        let unsigned = reqwest::get(format!("{}{pq}", sim.base_url()))
            .await
            .unwrap();
        assert_eq!(
            answer(&sim, unsigned).await,
            (401, "SIGN_ERROR".into(), true)
        );

        // The download: signed by the merchant, answered unsigned, for 5 minutes.
        let body = get(pq, now).await.bytes().await.unwrap();
        let url: Value = serde_json::from_slice(&body).unwrap();
        let url = url["download_url"].as_str().unwrap().to_owned();
        let download = url.strip_prefix(&sim.base_url()).unwrap().to_owned();
        assert!(
            download.starts_with("/v3/billdownload/file?token="),
            "{download}"
        );
        let response = signed_get(&sim, &signer, &download, now).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get(v3::HEADER_SIGNATURE).is_none());
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
        assert_eq!(response.bytes().await.unwrap(), bill());

        // Another merchant's signature does not fetch it; nor an unsigned request.
        let other = MerchantSigner::from_pem("1900000110", SERIAL, STRANGER_PRIVATE).unwrap();
        sim.add_merchant(
            "1900000110",
            include_str!("../../wechat/src/pay/testdata/platform_public.pem"),
        )
        .unwrap();
        let response = signed_get(&sim, &other, &download, now).await;
        assert_eq!(
            answer(&sim, response).await,
            (400, "PARAM_ERROR".into(), false)
        );
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(
            answer(&sim, response).await,
            (401, "SIGN_ERROR".into(), false)
        );

        sim.advance(Duration::from_secs(301));
        let later = sim.now();
        let response = signed_get(&sim, &signer, &download, later).await;
        assert_eq!(
            answer(&sim, response).await,
            (400, "PARAM_ERROR".into(), false)
        );

        // Keys: refused when unreadable or small.
        assert!(sim.add_merchant("1900000111", "not a key").is_err());
        assert!(sim.add_merchant("19\"1", MERCHANT_PUBLIC).is_err());
    }
}
