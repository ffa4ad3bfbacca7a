//! Followers CSV import: the 100,000-row round trip, per-row errors and rejected files,
//! custom attributes, filters, segments and tagging a whole filter result.

use crate::support::*;
use diesel::prelude::*;
use patron_store::schema::{follower_attributes, follower_tags, followers};
use patron_store::{imports, DbConn};
use std::time::{Duration, Instant};

/// Adds `n` followers to the tenant inside the database (one statement each), with names,
/// formula-looking phones, emails, remarks with commas and quotes, birthdays, a tag on
/// every other one and attribute values on every third.
fn seed(c: &mut DbConn, w: &World, n: i64) {
    let tenant = w.scope.tenant_id().0;
    let (series, now, date) = match c {
        DbConn::Sqlite(_) => (
            format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"),
            "datetime('now')",
            "'1990-01-02'",
        ),
        DbConn::Postgres(_) => (
            format!("SELECT i FROM generate_series(1, {n}) AS s(i)"),
            "now()::timestamp",
            "DATE '1990-01-02'",
        ),
    };
    let gold = patron_store::tags::create(c, &w.scope, "Gold").unwrap();
    let vip = patron_store::attributes::create(c, &w.scope, "vip", "VIP", "bool").unwrap();
    patron_store::exec_sql(c, &format!(
        "INSERT INTO followers (tenant_id, openid, subscribed, subscribe_count, name, phone, email, birthday, remark, created_at, updated_at) \
         SELECT {tenant}, 'o_' || i, (i % 10) <> 0, 1, \
           CASE WHEN i % 3 = 0 THEN '客人 ' || i ELSE NULL END, \
           CASE WHEN i % 4 = 0 THEN '+86 138' || i ELSE NULL END, \
           CASE WHEN i % 5 = 0 THEN 'u' || i || '@example.com' ELSE NULL END, \
           CASE WHEN i % 11 = 0 THEN {date} ELSE NULL END, \
           CASE WHEN i % 7 = 0 THEN 'likes \"tea\", not coffee' ELSE NULL END, \
           {now}, {now} FROM ({series}) AS t")).unwrap();
    patron_store::exec_sql(c, &format!(
        "INSERT INTO follower_tags (tenant_id, tag_id, follower_id, created_at) \
         SELECT {tenant}, {gold}, id, {now} FROM followers WHERE tenant_id = {tenant} AND id % 2 = 0 AND openid LIKE 'o\\_%' ESCAPE '\\'",
        gold = gold.id)).unwrap();
    patron_store::exec_sql(c, &format!(
        "INSERT INTO follower_attributes (tenant_id, follower_id, attribute_id, text_value, num_value) \
         SELECT {tenant}, id, {level}, NULL, (id % 10) + 0.5 FROM followers WHERE tenant_id = {tenant} AND id % 3 = 0 AND openid LIKE 'o\\_%' ESCAPE '\\'; \
         INSERT INTO follower_attributes (tenant_id, follower_id, attribute_id, text_value, num_value) \
         SELECT {tenant}, id, {vip}, 'true', NULL FROM followers WHERE tenant_id = {tenant} AND id % 6 = 1",
        level = w.attribute, vip = vip.id)).unwrap();
}

fn wait_import(app: &TestApp, w: &World, id: i64) -> imports::Import {
    let start = Instant::now();
    loop {
        let imp = imports::get(&mut app.conn(), &w.scope, id).unwrap();
        if !imp.is_open() {
            return imp;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "import stuck: {imp:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Uploads, confirms and waits; returns the finished import.
async fn import(app: &TestApp, c: &Client, w: &World, csv: &[u8]) -> imports::Import {
    let r = c
        .upload(&format!("/t/{}/followers/import", w.slug), "f.csv", csv)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let show = r.location.unwrap();
    let id: i64 = show.rsplit('/').next().unwrap().parse().unwrap();
    let page = c.get(&show).await;
    assert!(page.body.contains("confirm-import"), "{}", page.body);
    let r = c.post(&format!("{show}/confirm"), &[]).await;
    assert_eq!(r.status, 303);
    let imp = wait_import(app, w, id);
    assert_eq!(imp.status, imports::DONE, "{imp:?}");
    imp
}

async fn export(c: &Client, w: &World) -> String {
    let r = c.get(&format!("/t/{}/followers.csv", w.slug)).await;
    assert_eq!(r.status, 200);
    r.body
}

#[tokio::test]
async fn a_hundred_thousand_followers_round_trip_through_export_and_import() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "a");
    seed(&mut app.conn(), &w, 100_000);
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;

    let first = export(&c, &w).await;
    assert_eq!(
        first.lines().count(),
        100_002,
        "header + 100,000 + the world's follower"
    );
    assert!(
        first.contains(",'+86 1384,"),
        "formula-looking cells defused"
    );
    let imp = import(&app, &c, &w, first.as_bytes()).await;
    assert_eq!(imp.total_rows, 100_001);
    assert_eq!(imp.new_rows, 0);
    assert_eq!(
        imp.message.as_deref(),
        Some("created=0 updated=0 unchanged=100001"),
        "an export imported again changes nothing"
    );
    let second = export(&c, &w).await;
    assert!(first == second, "the round trip is exact");

    // Edit the file: a changed name, a cleared phone, new tags, an attribute, a new
    // follower; then import it and find exactly those changes.
    let mut rd = csv::Reader::from_reader(first.trim_start_matches('\u{feff}').as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let mut wr = csv::Writer::from_writer(Vec::new());
    wr.write_record(&head).unwrap();
    for rec in rd.records() {
        let mut r: Vec<String> = rec.unwrap().iter().map(String::from).collect();
        if r[col("openid")] == "o_12" {
            r[col("name")] = "Han Meimei".into();
            r[col("phone")] = String::new();
            r[col("tags")] = "Gold;Tea".into();
            r[col("attr.level")] = "7".into();
        }
        wr.write_record(&r).unwrap();
    }
    let mut extra = vec![String::new(); head.len()];
    extra[col("openid")] = "o_new".into();
    extra[col("name")] = "New One".into();
    wr.write_record(&extra).unwrap();
    let edited = wr.into_inner().unwrap();
    let imp = import(&app, &c, &w, &edited).await;
    assert_eq!(imp.new_rows, 1);
    assert_eq!(
        imp.message.as_deref(),
        Some("created=1 updated=1 unchanged=100000")
    );
    let mut conn = app.conn();
    let (name, phone): (Option<String>, Option<String>) = followers::table
        .filter(followers::openid.eq("o_12"))
        .select((followers::name, followers::phone))
        .first(&mut conn)
        .unwrap();
    assert_eq!((name.as_deref(), phone), (Some("Han Meimei"), None));
    let f12: i64 = followers::table
        .filter(followers::openid.eq("o_12"))
        .select(followers::id)
        .first(&mut conn)
        .unwrap();
    let mut tags = patron_store::tags::names_of(&mut conn, &w.scope, &[f12]).unwrap();
    assert_eq!(tags.remove(&f12).unwrap(), vec!["Gold", "Tea"]);
    let level: Option<f64> = follower_attributes::table
        .filter(follower_attributes::follower_id.eq(f12))
        .filter(follower_attributes::attribute_id.eq(w.attribute))
        .select(follower_attributes::num_value)
        .first(&mut conn)
        .unwrap();
    assert_eq!(level, Some(7.0));
    let new_one: (bool, Option<String>) = followers::table
        .filter(followers::openid.eq("o_new"))
        .select((followers::subscribed, followers::name))
        .first(&mut conn)
        .unwrap();
    assert_eq!(new_one, (false, Some("New One".to_string())));
    // The counts kept by triggers agree with a scan after bulk inserts and imports.
    assert_eq!(
        patron_store::followers::count(&mut conn, &w.scope).unwrap(),
        patron_store::followers::count_by_scan(&mut conn, &w.scope).unwrap()
    );
    assert_eq!(
        patron_store::followers::count(&mut conn, &w.scope).unwrap(),
        (100_002, 90_001)
    );
}

#[tokio::test]
async fn a_file_with_bad_rows_is_listed_by_line_and_changes_nothing() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let before = row_counts(&mut app.conn());
    let csv = "openid,name,email,birthday,attr.level,tags\n\
               o_ok,Good,good@example.com,1990-01-01,3,VIP\n\
               o_bad,Bad,not-an-email,1990-13-40,lots,\n\
               o_ok,Again,,,,\n";
    let r = c
        .upload(
            &format!("/t/{}/followers/import", w.slug),
            "bad.csv",
            csv.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 303);
    let show = r.location.unwrap();
    let page = c.get(&show).await;
    assert!(
        !page.body.contains("confirm-import"),
        "a rejected file cannot be confirmed"
    );
    for (line, column) in [
        (3, "email"),
        (3, "birthday"),
        (3, "attr.level"),
        (4, "openid"),
    ] {
        assert!(
            page.body
                .contains(&format!("<td>{line}</td><td><code>{column}</code></td>")),
            "line {line} {column} listed: {}",
            page.body
        );
    }
    assert!(page.body.contains("not a valid email address"));
    // Rows with errors are counted as rows (line 3 has three errors), and a day that
    // does not exist is called that, not a format mistake.
    assert!(
        page.body.contains("Rows: 3 · New followers: 1"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Rows with errors: 2"), "{}", page.body);
    assert!(page.body.contains("is not a date"), "{}", page.body);
    let r = c.post(&format!("{show}/confirm"), &[]).await;
    assert_eq!(r.status, 303);
    let after = row_counts(&mut app.conn());
    // Only the import record itself was added; not one follower, tag or value.
    let diff: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.0, a.1, b.1))
        .collect();
    assert_eq!(diff, vec![("follower_imports", 1, 2)]);

    // Files refused as a whole: a message, a 422, and no import recorded at all.
    for (file, message) in [
        ("name\nx\n", "no openid column"),
        ("openid,shoe_size\no1,4\n", "shoe_size"),
        ("", "no rows"),
    ] {
        let r = c
            .upload(
                &format!("/t/{}/followers/import", w.slug),
                "x.csv",
                file.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 422, "{file:?}");
        assert!(r.body.contains(message), "{message}: {}", r.body);
    }
    let bin = c
        .upload(
            &format!("/t/{}/followers/import", w.slug),
            "x.csv",
            &[0xff, 0xfe, 0x00, 0x41],
        )
        .await;
    assert_eq!(bin.status, 422);
    assert!(bin.body.contains("UTF-8"));
    assert_eq!(row_counts(&mut app.conn()), after);

    // A cashier cannot import.
    let cashier = app.client();
    cashier.login(&w.cashier_email, PASSWORD).await;
    let r = cashier
        .upload(
            &format!("/t/{}/followers/import", w.slug),
            "x.csv",
            b"openid\no1\n",
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(row_counts(&mut app.conn()), after);
}

#[tokio::test]
async fn attributes_filter_segments_and_bulk_tagging_of_a_whole_result() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let base = format!("/t/{}/followers", w.slug);
    // Define an attribute; bad keys and kinds are refused.
    let r = c
        .post(
            &format!("/t/{}/attributes", w.slug),
            &[("key", "visits"), ("label", "Visits"), ("kind", "number")],
        )
        .await;
    assert_eq!(r.status, 303);
    for (key, kind) in [
        ("Visits!", "number"),
        ("spend", "money"),
        ("visits", "text"),
    ] {
        let before = row_counts(&mut app.conn());
        c.post(
            &format!("/t/{}/attributes", w.slug),
            &[("key", key), ("label", "X"), ("kind", kind)],
        )
        .await;
        assert_eq!(row_counts(&mut app.conn()), before, "{key} {kind} refused");
    }
    let visits = patron_store::attributes::list(&mut app.conn(), &w.scope)
        .unwrap()
        .into_iter()
        .find(|a| a.key == "visits")
        .unwrap();
    // Values on a follower: a number that is not one is refused, nothing stored.
    let page = format!("{base}/{}", w.follower);
    let r = c
        .post(
            &format!("{page}/attributes"),
            &[("attr.visits", "many"), ("attr.level", "3")],
        )
        .await;
    assert_eq!(r.status, 303);
    let shown = c.get(&page).await;
    assert!(shown.body.contains("does not fit"), "{}", shown.body);
    assert!(
        shown.body.contains("name=\"attr.level\" value=\"2\""),
        "unchanged"
    );
    c.post(&format!("{page}/attributes"), &[("attr.visits", "5")])
        .await;
    assert!(c
        .get(&page)
        .await
        .body
        .contains("name=\"attr.visits\" value=\"5\""));
    // Filters on the attribute.
    let q = |op: &str, v: &str| format!("{base}?attr={}&attr_op={op}&attr_value={v}", visits.id);
    let me = format!("/followers/{}\"", w.follower);
    assert!(c.get(&q("gt", "3")).await.body.contains(&me));
    assert!(!c.get(&q("lt", "3")).await.body.contains(&me));
    assert!(c.get(&q("eq", "5")).await.body.contains(&me));
    assert!(!c.get(&q("unset", "")).await.body.contains(&me));
    assert_eq!(c.get(&q("gt", "abc")).await.status, 400);

    // Thirty more followers; save "gt 3 or unset" style segments and tag a whole result.
    let mut conn = app.conn();
    let defs = [visits.def()];
    for i in 0..30 {
        patron_store::imports::apply(
            &mut conn,
            &w.scope,
            &patron_domain::follower_csv::check(
                format!("openid,name,attr.visits\nbulk_{i},Bulk {i},{i}\n").as_bytes(),
                &defs,
                10,
            )
            .unwrap()
            .rows,
        )
        .unwrap();
    }
    drop(conn);
    let filter = format!("q=Bulk&attr={}&attr_op=gt&attr_value=9.5", visits.id);
    let list = c.get(&format!("{base}?{filter}")).await;
    assert!(list.body.contains("20 followers match"), "{}", list.body);
    let r = c
        .post(
            &format!("/t/{}/segments", w.slug),
            &[("name", "Regulars"), ("filter", &filter)],
        )
        .await;
    assert_eq!(r.status, 303);
    let seg = c.get(r.location.as_deref().unwrap()).await;
    assert_eq!(seg.status, 303);
    let opened = c.get(seg.location.as_deref().unwrap()).await;
    assert!(opened.body.contains("20 followers match"));
    // The segment re-evaluates: one more regular shows up without saving it again.
    let mut conn = app.conn();
    let f0: i64 = followers::table
        .filter(followers::openid.eq("bulk_0"))
        .select(followers::id)
        .first(&mut conn)
        .unwrap();
    patron_store::attributes::set_from_text(
        &mut conn,
        &w.scope,
        f0,
        &[("visits".into(), "99".into())],
    )
    .unwrap();
    drop(conn);
    let again = c.get(seg.location.as_deref().unwrap()).await;
    assert!(again.body.contains("21 followers match"), "{}", again.body);
    // Tag all 21, though the page shows fewer.
    let r = c
        .post(
            &format!("{base}/tags"),
            &[
                ("tag_id", &w.tag.to_string()),
                ("action", "add"),
                ("scope", "all"),
                ("filter", &filter),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let tagged: i64 = follower_tags::table
        .filter(follower_tags::tag_id.eq(w.tag))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(tagged, 21 + 1, "the 21 matches and the world's follower");
    // Created-date filters.
    let today = chrono::Utc::now().date_naive();
    let from = c.get(&format!("{base}?q=Bulk&created_from={today}")).await;
    assert!(from.body.contains("30 followers match"));
    let to = c
        .get(&format!(
            "{base}?q=Bulk&created_to={}",
            today.pred_opt().unwrap()
        ))
        .await;
    assert!(to.body.contains("0 followers match"));
}

#[tokio::test]
async fn the_api_covers_attributes_segments_imports_and_whole_result_tagging() {
    use reqwest::Method;
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let api = |m: Method, p: &str, b: Option<serde_json::Value>| {
        let (c, t, p) = (&c, w.token.clone(), format!("/api/v1{p}"));
        async move { c.api(m, &p, &t, b).await }
    };
    let r = api(
        Method::POST,
        "/attributes",
        Some(serde_json::json!({"key": "spend", "label": "Spend", "kind": "number"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let values = format!("/followers/{}/attributes", w.follower);
    let r = api(
        Method::PUT,
        &values,
        Some(serde_json::json!({"values": {"spend": "12.5"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["attributes"]["spend"], "12.5");
    assert_eq!(r.json()["attributes"]["level"], "2");
    let bad = api(
        Method::PUT,
        &values,
        Some(serde_json::json!({"values": {"spend": "lots", "level": "9"}})),
    )
    .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["error"]["details"][0]["code"], "invalid_number");
    let now = api(Method::GET, &values, None).await;
    assert_eq!(now.json()["attributes"]["level"], "2", "all or nothing");
    let spend = patron_store::attributes::list(&mut app.conn(), &w.scope)
        .unwrap()
        .into_iter()
        .find(|a| a.key == "spend")
        .unwrap();
    let r = api(
        Method::POST,
        "/segments",
        Some(serde_json::json!({"name": "Spenders", "filter": {"attr": spend.id, "attr_op": "gt", "attr_value": "10"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let seg = r.json()["id"].as_i64().unwrap();
    let members = api(Method::GET, &format!("/segments/{seg}/followers"), None).await;
    assert_eq!(members.json()["count"], 1);
    assert_eq!(members.json()["followers"][0]["id"], w.follower);

    // Imports: a rejected file lists its rows and cannot be confirmed.
    let post_csv = |csv: &'static str| {
        let (c, t) = (&c, w.token.clone());
        async move {
            c.http
                .post(format!("{}/api/v1/follower-imports", c.base))
                .bearer_auth(t)
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .unwrap()
        }
    };
    let r = post_csv("openid,attr.spend\nx1,abc\nx2,3\n").await;
    assert_eq!(r.status(), 201);
    let rejected: serde_json::Value = r.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["errors"][0]["line"], 2);
    assert_eq!(rejected["errors"][0]["code"], "invalid_number");
    let id = rejected["id"].as_i64().unwrap();
    let r = api(
        Method::POST,
        &format!("/follower-imports/{id}/confirm"),
        None,
    )
    .await;
    assert_eq!(r.status, 409);
    let r = post_csv("name\nx\n").await;
    assert_eq!(r.status(), 422);
    // A good one is applied by the job.
    let r =
        post_csv("openid,name,attr.spend,tags\nx1,Api One,30,Imported\nx2,Api Two,1,Imported\n")
            .await;
    let checked: serde_json::Value = r.json().await.unwrap();
    assert_eq!(checked["status"], "checked");
    assert_eq!(checked["new_rows"], 2);
    let id = checked["id"].as_i64().unwrap();
    let r = api(
        Method::POST,
        &format!("/follower-imports/{id}/confirm"),
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    let done = wait_import(&app, &w, id);
    assert_eq!(done.status, imports::DONE);
    let shown = api(Method::GET, &format!("/follower-imports/{id}"), None).await;
    assert_eq!(shown.json()["progress"]["done"], 2);
    let members = api(Method::GET, &format!("/segments/{seg}/followers"), None).await;
    assert_eq!(members.json()["count"], 2, "the segment re-evaluates");
    // Tag every follower a filter matches.
    let r = api(
        Method::POST,
        &format!("/tags/{}/followers", w.tag),
        Some(serde_json::json!({"action": "add", "filter": {"q": "Api"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changed"], 2);
}

/// An imported follower's status is "not known yet" (WeChat has not told us whether they
/// follow) until a push or a sync says; the import's result is told in words.
#[tokio::test]
async fn imported_followers_are_unknown_until_wechat_says_and_the_result_is_in_words() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let imp = import(&app, &c, &w, b"openid,name\no_imported,Imported One\n").await;
    let page = c
        .get(&format!("/t/{}/followers/imports/{}", w.slug, imp.id))
        .await;
    let outcome = extract(&page.body, "id=\"import-outcome\">", "</p>").unwrap();
    assert_eq!(outcome, "Done: 1 new, 0 updated, 0 unchanged.");
    assert!(!page.body.contains("created="), "{}", page.body);
    let list = |q: &str| {
        let (c, path) = (&c, format!("/t/{}/followers?subscribed={q}", w.slug));
        async move { c.get(&path).await.body }
    };
    let unknown = list("unknown").await;
    assert!(unknown.contains("Imported One"), "{unknown}");
    assert!(unknown.contains("Not known yet"), "{unknown}");
    assert!(!list("no").await.contains("Imported One"));
    assert!(!list("yes").await.contains("Imported One"));
    // The world's follower wrote in: it follows, whatever the import said.
    assert!(!unknown.contains("o_follower_a"), "{unknown}");
    let r = c
        .api(
            reqwest::Method::GET,
            "/api/v1/followers?subscribed=unknown",
            &w.token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["followers"].as_array().unwrap().len(), 1);
}

/// The dashboard counts follows that happened in the week, not followers imported in it,
/// and its Users figure counts the agency admin who works on the tenant.
#[tokio::test]
async fn the_dashboard_counts_new_follows_not_imports_and_every_user() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.marketer_email, PASSWORD).await;
    let glance = |app: &TestApp| {
        patron_store::followers::glance(
            &mut app.conn(),
            &w.scope,
            chrono::Utc::now().date_naive(),
            10_000,
        )
        .unwrap()
    };
    let before = glance(&app).new_7_days.count;
    import(
        &app,
        &c,
        &w,
        b"openid,name\no_old_1,Old One\no_old_2,Old Two\n",
    )
    .await;
    assert_eq!(
        glance(&app).new_7_days.count,
        before,
        "imports are not new follows"
    );
    // A follow pushed now counts.
    patron_store::inbox::record(
        &mut app.conn(),
        &w.scope,
        &patron_store::inbox::Inbound {
            openid: "o_fresh",
            msg_type: "event",
            event: Some("subscribe"),
            dedupe_key: "ev:fresh",
            content: None,
            body: "<xml/>",
            sent_at: patron_store::now(),
            change: patron_store::inbox::FollowerChange::Subscribe { qr_scene: None },
        },
        None,
    )
    .unwrap();
    assert_eq!(glance(&app).new_7_days.count, before + 1);
    // Users: the tenant's four members and the agency admin.
    let a = app.client();
    a.login(&w.admin_email, PASSWORD).await;
    let page = a.get(&format!("/t/{}", w.slug)).await;
    let n = patron_store::users::tenant_members(&mut app.conn(), &w.scope)
        .unwrap()
        .len();
    let shown = extract(&page.body, "Users</div><div class=\"stat\">", "<").unwrap();
    assert_eq!(shown, (n + 1).to_string(), "members and the agency admin");
}
