//! The quota across processes (issue 19): three `patron serve` processes on one database
//! (PostgreSQL in CI's second pass, SQLite in the first), nine schedule requests for one
//! day racing through the JSON API, three per process. The day's quota is two: two are
//! scheduled, seven are told the day is full and offered the next free slot, and the day
//! holds exactly two slot rows. Then six requests race for today's two sends: the three
//! processes' schedulers and workers send each once through the simulator, sharing one
//! access token (one stable_token call).

use crate::outbound::{connect, sim};
use crate::support::*;
use diesel::prelude::*;
use patron_app::broadcasts::{self as ops, Draft};
use patron_domain::broadcasts::{Audience, Message, Period, QuotaPolicy};
use patron_store::broadcasts as store;
use patron_store::schema::broadcast_slots;

#[tokio::test]
async fn three_processes_racing_through_the_api_never_exceed_the_quota() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "race3");
    let sim = sim();
    sim.default_account().seed_followers(20);
    connect(&app, &w, &sim);
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let policy = QuotaPolicy::custom(Period::Day, 2, None).unwrap();
    store::put_settings(&mut app.conn(), &w.scope, Some(policy), false).unwrap();
    let ids: Vec<i64> = (0..15)
        .map(|i| {
            let d = Draft {
                title: format!("Racer {i}"),
                message: Message::Text {
                    text: "Hello".into(),
                },
                audience: Audience::All,
                email: false,
            };
            ops::create(&mut app.conn(), &w.scope, &t, &d, "mk")
                .unwrap()
                .id
        })
        .collect();
    let mut dirs = Vec::new();
    let mut procs = Vec::new();
    for _ in 0..3 {
        let data = tempfile::tempdir().unwrap();
        std::fs::copy(
            app.data_dir().join("secret.key"),
            data.path().join("secret.key"),
        )
        .unwrap();
        procs.push(ServeProcess::start(data.path(), &app.db.url, &[]).await);
        dirs.push(data);
    }
    // Three days ahead at 20:00 in the tenant's zone (Shanghai).
    let day = (chrono::Utc::now() + chrono::TimeDelta::days(3))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let at = format!("{}T20:00:00", day.format("%Y-%m-%d"));
    let http = reqwest::Client::new();
    let race = |ids: &[i64], body: serde_json::Value| {
        let reqs = ids.iter().enumerate().map(|(i, id)| {
            let url = format!("{}/api/v1/broadcasts/{id}/schedule", procs[i % 3].base);
            let (http, token, body) = (http.clone(), w.token.clone(), body.clone());
            async move {
                let r = http
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        });
        futures_util::future::join_all(reqs)
    };
    let answers = race(&ids[..9], serde_json::json!({ "at": at })).await;
    let won = answers.iter().filter(|(s, _)| *s == 200).count();
    let full: Vec<&String> = answers
        .iter()
        .filter(|(s, _)| *s == 409)
        .map(|(_, b)| b)
        .collect();
    assert_eq!((won, full.len()), (2, 7), "{answers:?}");
    let next = (day + chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    for body in &full {
        assert!(
            body.contains("has no free broadcast left") && body.contains(&next),
            "{body}"
        );
    }
    let slots: i64 = broadcast_slots::table
        .filter(broadcast_slots::tenant_id.eq(w.scope.tenant_id().0))
        .filter(broadcast_slots::period.eq(day.format("%Y-%m-%d").to_string()))
        .count()
        .get_result(&mut *app.conn())
        .unwrap();
    assert_eq!(slots, 2);
    let scheduled = store::list(&mut app.conn(), &w.scope, 50)
        .unwrap()
        .into_iter()
        .filter(|b| b.status == patron_domain::broadcasts::status::SCHEDULED)
        .count();
    assert_eq!(scheduled, 2);

    // Today: six race to be sent now; two are scheduled, and the processes' schedulers
    // (a tick every 10 s) and workers send each exactly once.
    let now = race(&ids[9..], serde_json::json!({})).await;
    let sent_now: Vec<i64> = now
        .iter()
        .zip(&ids[9..])
        .filter(|((s, _), _)| *s == 200)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(sent_now.len(), 2, "{now:?}");
    until_async(std::time::Duration::from_secs(60), async || {
        let mut c = app.conn();
        let done = sent_now
            .iter()
            .filter(|id| {
                store::get(&mut c, &w.scope, **id).unwrap().status
                    == patron_domain::broadcasts::status::SENT
            })
            .count();
        (done == 2).then_some(()).ok_or(format!(
            "{done} of 2 sent, {:?}",
            sim.default_account().mass_sends()
        ))
    })
    .await;
    let sends = sim.default_account().mass_sends();
    assert_eq!(sends.len(), 2, "each broadcast once: {sends:?}");
    let mut ids_sent: Vec<&str> = sends
        .iter()
        .map(|s| s.clientmsgid.as_deref().unwrap())
        .collect();
    ids_sent.sort();
    ids_sent.dedup();
    assert_eq!(ids_sent.len(), 2);
    assert_eq!(
        sim.call_count(patron_simulator::paths::STABLE_TOKEN),
        1,
        "one access token for the three processes"
    );
}
