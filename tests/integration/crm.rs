//! The followers CRM pages and API, and auto-reply rules editing.

use crate::support::*;
use patron_store::inbox::{self, FollowerChange, Inbound, Recorded};
use reqwest::Method;

fn follow(
    app: &TestApp,
    w: &World,
    openid: &str,
    key: &str,
    change: FollowerChange,
    text: Option<&str>,
) -> i64 {
    let r = inbox::record(
        &mut app.conn(),
        &w.scope,
        &Inbound {
            openid,
            msg_type: if text.is_some() { "text" } else { "event" },
            event: if text.is_some() {
                None
            } else {
                Some("subscribe")
            },
            dedupe_key: key,
            content: text,
            body: "<xml/>",
            sent_at: patron_store::now(),
            change,
        },
        Some(
            "<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[Hi back]]></Content></xml>",
        ),
    )
    .unwrap();
    match r {
        Recorded::New {
            follower_id: Some(id),
            ..
        } => id,
        Recorded::New { .. } => panic!("no follower"),
        Recorded::Duplicate { .. } => panic!("duplicate"),
        Recorded::Accepted { .. } => panic!("only the ingest journal answers Accepted"),
    }
}

#[tokio::test]
async fn followers_are_listed_filtered_paged_and_edited() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    for i in 0..60 {
        let scene = (i % 2 == 0).then(|| "store7".to_string());
        follow(
            &app,
            &w,
            &format!("o_{i:03}"),
            &format!("evt:{i}"),
            FollowerChange::Subscribe { qr_scene: scene },
            None,
        );
    }
    let fid = follow(
        &app,
        &w,
        "o_007",
        "msg:777",
        FollowerChange::Interaction,
        Some("coffee please"),
    );
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let base = format!("/t/{}/followers", w.slug);
    let page1 = c.get(&base).await;
    assert_eq!(page1.status, 200);
    assert!(
        page1.body.contains("61 followers in the archive"),
        "{}",
        page1.body
    );
    let next = extract(&page1.body, "id=\"older\" href=\"", "\"").expect("a next-page link");
    let page2 = c.get(&next.replace("&amp;", "&")).await;
    assert_eq!(page2.status, 200);
    assert!(
        page2.body.contains("o_000") && !page2.body.contains("o_059"),
        "keyset page 2"
    );
    let scene = c.get(&format!("{base}?qr_scene=store7")).await;
    assert!(scene.body.contains("o_058") && !scene.body.contains("o_059"));
    let exact = c.get(&format!("{base}?q=o_007")).await;
    assert!(exact.body.contains("o_007") && !exact.body.contains("o_008"));

    // The follower page: the timeline shows the message and our reply.
    let one = c.get(&format!("{base}/{fid}")).await;
    assert_eq!(one.status, 200);
    assert!(one.body.contains("coffee please") && one.body.contains("Hi back"));
    let bad = c
        .post(
            &format!("{base}/{fid}"),
            &[("name", "Li Lei"), ("birthday", "31/12/1990")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("YYYY-MM-DD"));
    let ok = c
        .post(
            &format!("{base}/{fid}"),
            &[
                ("name", "Li Lei"),
                ("phone", "13800000000"),
                ("birthday", "1990-12-31"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303);
    let found = c.get(&format!("{base}?q=Li")).await;
    assert!(found.body.contains("Li Lei"));
    // Search terms are not patterns.
    let wild = c.get(&format!("{base}?q=%25")).await;
    assert!(wild.body.contains("No followers match"));

    // Cashiers do not see the CRM.
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    assert_eq!(cashier.get(&base).await.status, 403);

    // The same through the API.
    let api = app.client();
    let list = api
        .api(
            Method::GET,
            "/api/v1/followers?subscribed=yes&qr_scene=store7",
            &w.token,
            None,
        )
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["followers"].as_array().unwrap().len(), 30);
    let msgs = api
        .api(
            Method::GET,
            &format!("/api/v1/followers/{fid}/messages"),
            &w.token,
            None,
        )
        .await;
    assert_eq!(msgs.json()["messages"][0]["content"], "coffee please");
    let put = api
        .api(
            Method::PUT,
            &format!("/api/v1/followers/{fid}"),
            &w.token,
            Some(serde_json::json!({"name": "Li", "email": "nope"})),
        )
        .await;
    assert_eq!(put.status, 422);
    assert_eq!(put.json()["error"]["details"][0]["field"], "email");
}

#[tokio::test]
async fn reply_rules_are_edited_and_previewed_in_the_ui_and_the_api() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let base = format!("/t/{}/replies", w.slug);
    let empty = c
        .post(
            &base,
            &[
                ("trigger_kind", "keyword_exact"),
                ("trigger_value", ""),
                ("reply_body", "x"),
            ],
        )
        .await;
    assert_eq!(empty.status, 422);
    let r = c
        .post(
            &base,
            &[
                ("trigger_kind", "keyword_exact"),
                ("trigger_value", "hours"),
                ("reply_body", "9 to 9"),
                ("priority", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let preview = c.get(&format!("{base}?sample=HOURS")).await;
    assert!(preview.body.contains("9 to 9"), "{}", preview.body);
    let preview = c.get(&format!("{base}?sample=anything")).await;
    assert!(preview.body.contains("Default reply a"));
    // Through the API as well; deleting works and a foreign id is 404.
    let api = app.client();
    let created = api
        .api(Method::POST, "/api/v1/reply-rules", &w.token, Some(serde_json::json!({"trigger_kind": "click", "trigger_value": "K1", "reply_text": "clicked"})))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().unwrap();
    let bad = api
        .api(
            Method::POST,
            "/api/v1/reply-rules",
            &w.token,
            Some(serde_json::json!({"trigger_kind": "regex", "reply_text": "x"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        api.api(
            Method::DELETE,
            &format!("/api/v1/reply-rules/{id}"),
            &w.token,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.api(
            Method::DELETE,
            &format!("/api/v1/reply-rules/{id}"),
            &w.token,
            None
        )
        .await
        .status,
        404
    );
    let list = api
        .api(Method::GET, "/api/v1/reply-rules", &w.token, None)
        .await;
    assert_eq!(list.json()["rules"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn followers_export_as_csv_in_batches() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    for i in 0..4500 {
        follow(
            &app,
            &w,
            &format!("o_{i:05}"),
            &format!("evt:{i}"),
            FollowerChange::Subscribe { qr_scene: None },
            None,
        );
    }
    let fid = follow(
        &app,
        &w,
        "o_00001",
        "msg:1",
        FollowerChange::Interaction,
        Some("hi"),
    );
    patron_store::followers::update_profile(
        &mut app.conn(),
        &w.scope,
        fid,
        &patron_store::followers::Profile {
            name: "=CMD()".into(),
            remark: "李雷, \"VIP\"".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let r = c.get(&format!("/t/{}/followers.csv", w.slug)).await;
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .contains(".csv"));
    let body = r.body.trim_start_matches('\u{feff}');
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        patron_domain::follower_csv::export_header(&[patron_store::attributes::get(
            &mut app.conn(),
            &w.scope,
            w.attribute
        )
        .unwrap()
        .def()])
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    // 4,500 followers plus the fixture's own, across three batches of 2,000.
    assert_eq!(rows.len(), 4501);
    let mut openids: Vec<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    openids.sort();
    openids.dedup();
    assert_eq!(openids.len(), 4501, "no row twice, none missing");
    let li = rows.iter().find(|r| r.get(0) == Some("o_00001")).unwrap();
    assert_eq!(li.get(9), Some("'=CMD()"), "formula injection defused");
    assert_eq!(li.get(13), Some("李雷, \"VIP\""));
    // Filters apply; other tenants never appear; cashiers cannot export.
    let only = c
        .get(&format!("/t/{}/followers.csv?q=o_00001", w.slug))
        .await;
    assert_eq!(only.body.lines().count(), 2);
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    assert_eq!(
        cashier
            .get(&format!("/t/{}/followers.csv", w.slug))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn followers_are_tagged_in_bulk_filtered_by_tag_and_untagged() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            follow(
                &app,
                &w,
                &format!("o_t{i}"),
                &format!("evt:t{i}"),
                FollowerChange::Subscribe { qr_scene: None },
                None,
            )
        })
        .collect();
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let base = format!("/t/{}/followers", w.slug);
    assert_eq!(
        c.post(&format!("/t/{}/tags", w.slug), &[("name", "Coffee lovers")])
            .await
            .status,
        303
    );
    let dup = c
        .post(&format!("/t/{}/tags", w.slug), &[("name", "Coffee lovers")])
        .await;
    assert_eq!(dup.status, 303);
    let long = c
        .post(
            &format!("/t/{}/tags", w.slug),
            &[("name", "一二三四五六七八九十一")],
        )
        .await;
    assert_eq!(long.status, 303);
    let tags = patron_store::tags::list(&mut app.conn(), &w.scope).unwrap();
    assert_eq!(
        tags.len(),
        2,
        "the duplicate and the 33-byte name were refused: {tags:?}"
    );
    let coffee = tags
        .iter()
        .find(|(t, _)| t.name == "Coffee lovers")
        .unwrap()
        .0
        .id;
    // Bulk: three of the five, plus a follower of another tenant that must be ignored.
    let b = world(&mut app.conn(), "b");
    let (a0, a1, a2, foreign) = (
        ids[0].to_string(),
        ids[1].to_string(),
        ids[2].to_string(),
        b.follower.to_string(),
    );
    let coffee_s = coffee.to_string();
    let r = c
        .post(
            &format!("{base}/tags"),
            &[
                ("tag_id", &coffee_s),
                ("action", "add"),
                ("follower_ids", &a0),
                ("follower_ids", &a1),
                ("follower_ids", &a2),
                ("follower_ids", &foreign),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let tagged = c.get(&format!("{base}?tag={coffee}")).await;
    assert!(
        tagged.body.contains("o_t0")
            && tagged.body.contains("o_t2")
            && !tagged.body.contains("o_t3")
    );
    assert!(tagged.body.contains("Coffee lovers (3)"));
    assert!(
        patron_store::tags::of_follower(&mut app.conn(), &b.scope, b.follower)
            .unwrap()
            .iter()
            .all(|t| t.id != coffee)
    );
    // One off again from the follower page form.
    c.post(
        &format!("{base}/tags"),
        &[
            ("tag_id", &coffee_s),
            ("action", "remove"),
            ("follower_ids", &a1),
            ("back", &format!("{base}/{}", ids[1])),
        ],
    )
    .await;
    let page = c.get(&format!("{base}/{}", ids[1])).await;
    assert!(page.body.contains("No tags."), "{}", page.body);
    // The API: list with counts, apply, a foreign tag is 404.
    let api = app.client();
    let list = api.api(Method::GET, "/api/v1/tags", &w.token, None).await;
    let n = list.json()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == coffee)
        .unwrap()["followers"]
        .as_i64()
        .unwrap();
    assert_eq!(n, 2);
    let r = api
        .api(
            Method::POST,
            &format!("/api/v1/tags/{coffee}/followers"),
            &w.token,
            Some(serde_json::json!({"follower_ids": ids, "action": "add"})),
        )
        .await;
    assert_eq!(r.json()["changed"], 3);
    let r = api
        .api(
            Method::POST,
            &format!("/api/v1/tags/{}/followers", b.tag),
            &w.token,
            Some(serde_json::json!({"follower_ids": ids, "action": "add"})),
        )
        .await;
    assert_eq!(r.status, 404);
    let bad = api
        .api(
            Method::POST,
            &format!("/api/v1/tags/{coffee}/followers"),
            &w.token,
            Some(serde_json::json!({"follower_ids": [], "action": "toggle"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        api.api(
            Method::DELETE,
            &format!("/api/v1/tags/{coffee}"),
            &w.token,
            None
        )
        .await
        .status,
        204
    );
    assert!(c
        .get(&format!("{base}?tag={coffee}"))
        .await
        .body
        .contains("No followers match"));
}

#[tokio::test]
async fn notes_are_kept_on_the_follower_with_their_author() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let page = format!("/t/{}/followers/{}", w.slug, w.follower);
    assert_eq!(
        c.post(&format!("{page}/notes"), &[("body", "  ")])
            .await
            .status,
        303
    );
    assert_eq!(
        c.post(
            &format!("{page}/notes"),
            &[("body", "Prefers oat milk.\nBirthday in May.")]
        )
        .await
        .status,
        303
    );
    let shown = c.get(&page).await;
    assert!(
        shown.body.contains("Prefers oat milk.") && shown.body.contains("marketer a"),
        "{}",
        shown.body
    );
    assert_eq!(
        patron_store::followers::notes(&mut app.conn(), &w.scope, w.follower)
            .unwrap()
            .len(),
        1,
        "the blank note was refused"
    );
    let api = app.client();
    let r = api
        .api(
            Method::POST,
            &format!("/api/v1/followers/{}/notes", w.follower),
            &w.token,
            Some(serde_json::json!({"body": "Called about a refund."})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["author_name"], "API");
    let list = api
        .api(
            Method::GET,
            &format!("/api/v1/followers/{}/notes", w.follower),
            &w.token,
            None,
        )
        .await;
    assert_eq!(list.json()["notes"][0]["body"], "Called about a refund.");
    let long = "x".repeat(2001);
    let r = api
        .api(
            Method::POST,
            &format!("/api/v1/followers/{}/notes", w.follower),
            &w.token,
            Some(serde_json::json!({"body": long})),
        )
        .await;
    assert_eq!(r.status, 422);
}

/// The number of followers following now, as the dashboard shows it.
fn following_now(body: &str) -> i64 {
    let card = extract(body, "id=\"audience-now\"", "class=\"hint\"")
        .unwrap_or_else(|| panic!("no followers card: {body}"));
    extract(&card, "?subscribed=yes\">", "<")
        .unwrap_or_else(|| panic!("no count in {card}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_dashboard_counts_a_tenants_followers_for_those_who_work_on_them() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let other = world(&mut app.conn(), "b");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let home = format!("/t/{}", w.slug);
    let before = c.get(&home).await;
    assert_eq!(before.status, 200);
    let following = following_now(&before.body);
    let glance = |token: &str| {
        let (app, token) = (&app, token.to_string());
        async move {
            app.client()
                .api(Method::GET, "/api/v1/followers/summary", &token, None)
                .await
                .json()
        }
    };
    let before_api = glance(&w.token).await;
    let (active, new) = (
        before_api["active_7_days"]["count"].as_i64().unwrap(),
        before_api["new_7_days"]["count"].as_i64().unwrap(),
    );
    let subscribe = |w: &World, tag: &str, n: usize| {
        for i in 0..n {
            let change = FollowerChange::Subscribe { qr_scene: None };
            let (openid, key) = (format!("o_{tag}{i}"), format!("evt:{tag}{i}"));
            follow(&app, w, &openid, &key, change, None);
        }
    };
    subscribe(&w, "dash", 3);
    follow(
        &app,
        &w,
        "o_chat",
        "msg:d1",
        FollowerChange::Interaction,
        Some("hi"),
    );
    // Another tenant's followers count there, not here.
    subscribe(&other, "b", 2);
    let after = c.get(&home).await;
    assert_eq!(after.status, 200);
    assert_eq!(following_now(&after.body), following + 4);
    assert!(after
        .body
        .contains(&format!("{home}/followers?active_days=7")));
    // The tiles lead to the followers they count.
    let listed = c.get(&format!("{home}/followers?active_days=7")).await;
    assert_eq!(listed.status, 200);
    assert!(listed.body.contains("o_chat"), "{}", listed.body);

    // The week's counts through the API, for this tenant only. New follows: the three
    // subscribe events. The follower first seen writing in follows, but WeChat did not
    // say since when, so it is not counted as new.
    let g = glance(&w.token).await;
    assert_eq!(g["following"], following + 4);
    assert_eq!(g["new_7_days"]["count"], new + 3);
    let active_now = g["active_7_days"]["count"].as_i64().unwrap();
    assert!(
        (active + 1..=active + 4).contains(&active_now),
        "active {active} -> {active_now}"
    );
    assert_eq!(g["active_7_days"]["more"], false);
    let theirs = app
        .client()
        .api(Method::GET, "/api/v1/followers/summary", &other.token, None)
        .await
        .json();
    // Both worlds started alike; tenant b got 2 new followers, not a's 4.
    assert_eq!(theirs["following"], following + 2);
    assert_eq!(theirs["new_7_days"]["count"], new + 2);
    // A cashier's home is the till, without the followers.
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    let cashier_home = cashier.get(&home).await;
    assert_eq!(cashier_home.status, 303);
    let till = cashier.get(cashier_home.location.as_deref().unwrap()).await;
    assert_eq!(till.status, 200);
    assert!(!till.body.contains("Following now"), "{}", till.body);
}

#[tokio::test]
async fn last_active_pages_are_right_whatever_days_the_followers_were_active_on() {
    use patron_store::followers::{self, Filter, ACTIVE_DAYS_MERGED};
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let other = world(&mut app.conn(), "b");
    let tenant = w.scope.tenant_id().0;
    let now = patron_store::now();
    let mut c = app.conn();
    patron_store::exec_sql(
        &mut c,
        &format!("UPDATE followers SET last_interaction_at = NULL WHERE tenant_id = {tenant}"),
    )
    .unwrap();
    // Activity spread over ten days and interleaved among the ids (so every day holds
    // old and new ids), none for some, one a minute inside and one outside the week's
    // first moment, one in the future (a clock ahead of ours), one long ago.
    let minute = chrono::TimeDelta::minutes(1);
    let week = chrono::TimeDelta::days(7);
    let when = |i: i64| -> Option<chrono::NaiveDateTime> {
        match i {
            1 => Some(now - week + minute * 5),
            2 => Some(now - week - minute * 5),
            3 => Some(now + chrono::TimeDelta::days(2)),
            4 => Some(now - chrono::TimeDelta::days(ACTIVE_DAYS_MERGED + 100)),
            _ if i % 13 == 0 => None,
            // Half a minute off whole minutes: never on a day's boundary.
            _ => Some(now - chrono::TimeDelta::seconds((i * 37) % (10 * 24 * 60) * 60 + 30)),
        }
    };
    let n = 400;
    let rows: Vec<String> = (1..=n)
        .map(|i| {
            let at = when(i).map_or("NULL".into(), |t| {
                format!("'{}'", t.format("%Y-%m-%d %H:%M:%S"))
            });
            // Every third one unfollowed (WeChat told us when).
            let n_ = now.format("%Y-%m-%d %H:%M:%S");
            let (subscribed, gone) = if i % 3 == 0 {
                ("FALSE", format!("'{n_}'"))
            } else {
                ("TRUE", "NULL".into())
            };
            format!("({tenant}, 'o_d{i}', {subscribed}, 1, {at}, {gone}, '{n_}', '{n_}')")
        })
        .collect();
    patron_store::exec_sql(
        &mut c,
        &format!(
            "INSERT INTO followers (tenant_id, openid, subscribed, subscribe_count, \
             last_interaction_at, unsubscribed_at, created_at, updated_at) VALUES {}",
            rows.join(", ")
        ),
    )
    .unwrap();
    // Another tenant's active followers, newer ids than all of a's.
    patron_store::exec_sql(
        &mut c,
        &format!(
            "UPDATE followers SET last_interaction_at = '{}' WHERE tenant_id = {}",
            now.format("%Y-%m-%d %H:%M:%S"),
            other.scope.tenant_id().0
        ),
    )
    .unwrap();
    let id_of: std::collections::HashMap<String, i64> =
        followers::list_page(&mut c, &w.scope, &Filter::default(), 10_000)
            .unwrap()
            .0
            .into_iter()
            .map(|f| (f.openid, f.id))
            .collect();
    let mut check = |filter: Filter, keep: &dyn Fn(i64) -> bool| {
        let mut want: Vec<i64> = (1..=n)
            .filter(|i| keep(*i))
            .map(|i| id_of[&format!("o_d{i}")])
            .collect();
        want.sort_unstable_by(|a, b| b.cmp(a));
        let mut got = Vec::new();
        let mut page = filter.clone();
        loop {
            let (rows, more) = followers::list(&mut c, &w.scope, &page).unwrap();
            assert!(rows.iter().all(|f| f.tenant_id == tenant));
            got.extend(rows.iter().map(|f| f.id));
            if !more {
                break;
            }
            page.before = rows.last().map(|f| f.id);
        }
        assert_eq!(got, want, "{filter:?}");
        let (count, _) =
            followers::count_matching_capped(&mut c, &w.scope, &filter, 10_000).unwrap();
        assert_eq!(count, want.len() as i64, "{filter:?}");
    };
    let since = |days: i64| now - chrono::TimeDelta::days(days);
    let active = |i: i64, days: i64| when(i).is_some_and(|t| t >= since(days));
    check(
        Filter {
            active_days: Some(7),
            ..Default::default()
        },
        &|i| active(i, 7),
    );
    check(
        Filter {
            active_days: Some(1),
            ..Default::default()
        },
        &|i| active(i, 1),
    );
    check(
        Filter {
            active_days: Some(7),
            subscribed: "no".into(),
            ..Default::default()
        },
        &|i| active(i, 7) && i % 3 == 0,
    );
    // A span of activity longer than the days a page merges: the ids are walked instead.
    check(
        Filter {
            active_days: Some(10 * ACTIVE_DAYS_MERGED),
            ..Default::default()
        },
        &|i| when(i).is_some(),
    );
    assert!(active(1, 7) && !active(2, 7) && active(3, 7));
}
