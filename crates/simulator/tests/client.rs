//! The OA API client (`patron_wechat::api`) against the simulator: each tests the
//! other. The only test binary of this crate.

use std::time::Duration;

use patron_simulator::{paths, Follower, Interaction, Quota, SimConfig, Simulator};
use patron_wechat::api::{
    codes, ActionButton, Client, CustomMessage, Error, MassFilter, MassMessage, MassStatus, Menu,
    MenuButton, NewsArticle, QrCodeRequest, RetryPolicy, Scene, TokenEndpoint,
};
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
