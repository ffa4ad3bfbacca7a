//! Broadcasts (issue 19): the quota held under racing schedulers, a full day offering the
//! next free slot, cancelling freeing it, sends made outside Patron counted; the scheduler
//! starting a due broadcast once however many tick; the send through the simulator
//! exactly once across a retry (clientmsgid); WeChat's MASSSENDJOBFINISH counting back.

use crate::outbound::{connect, sim};
use crate::support::*;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use patron_app::broadcasts::{self as ops, Draft, Scheduled, When};
use patron_domain::broadcasts::{status, Audience, Message};
use patron_store::broadcasts as store;
use patron_store::schema::{broadcast_slots, jobs};
use patron_store::DbPool;
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn draft(title: &str) -> Draft {
    Draft {
        title: title.into(),
        message: Message::Text {
            text: "Winter menu is here".into(),
        },
        audience: Audience::All,
        email: false,
    }
}

fn local(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

/// A local time `days` from now at `hh:mm` in Shanghai (every world tenant's zone).
fn days_ahead(days: i64, hm: &str) -> NaiveDateTime {
    let day = (chrono::Utc::now() + TimeDelta::days(days))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    local(&format!("{} {hm}", day.format("%Y-%m-%d")))
}

#[test]
fn racing_schedulers_never_exceed_the_quota_and_a_full_day_offers_the_next() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "q");
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    // A subscription account: one broadcast a day. Eight broadcasts race for tomorrow
    // 20:00 from eight connections at once (on PostgreSQL: eight sessions).
    let ids: Vec<i64> = (0..8)
        .map(|i| {
            ops::create(
                &mut app.conn(),
                &w.scope,
                &t,
                &draft(&format!("B{i}")),
                "tests",
            )
            .unwrap()
            .id
        })
        .collect();
    let pool = DbPool::connect(&app.db.url, 10).unwrap();
    let barrier = Arc::new(Barrier::new(ids.len()));
    let wanted = days_ahead(1, "20:00");
    let results: Vec<Scheduled> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|&id| {
                let (pool, barrier, scope, t) =
                    (pool.clone(), barrier.clone(), w.scope.clone(), t.clone());
                s.spawn(move || {
                    let mut c = pool.get().unwrap();
                    barrier.wait();
                    let now = patron_store::now();
                    ops::schedule(&mut c, &scope, &t, id, When::At(wanted), now, "tests").unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = results
        .iter()
        .filter(|r| matches!(r, Scheduled::At(_)))
        .count();
    assert_eq!(won, 1, "{results:?}");
    let slots: i64 = broadcast_slots::table
        .filter(broadcast_slots::broadcast_id.is_not_null())
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(slots, 1);
    // The others were told the day is full and offered the day after, same time.
    let full = results
        .iter()
        .find_map(|r| match r {
            Scheduled::Full(f) => Some(f.clone()),
            _ => None,
        })
        .unwrap();
    let (next_key, next_at) = full.next.unwrap();
    let tomorrow = wanted.date();
    assert_eq!(
        next_key.to_string(),
        (tomorrow + TimeDelta::days(1)).to_string()
    );
    let sh = chrono_tz::Asia::Shanghai;
    assert_eq!(
        patron_domain::broadcasts::utc_to_local(next_at, sh),
        wanted + TimeDelta::days(1)
    );
    // Losers changed nothing: still drafts.
    let drafts = ids
        .iter()
        .filter(|id| store::get(&mut app.conn(), &w.scope, **id).unwrap().status == status::DRAFT)
        .count();
    assert_eq!(drafts, 7);
    // Cancelling the scheduled one frees the day for another.
    let winner = ids
        .iter()
        .copied()
        .find(|id| store::get(&mut app.conn(), &w.scope, *id).unwrap().status == status::SCHEDULED)
        .unwrap();
    ops::cancel(&mut app.conn(), &w.scope, winner).unwrap();
    assert_eq!(
        store::get(&mut app.conn(), &w.scope, winner)
            .unwrap()
            .status,
        status::CANCELLED
    );
    let other = ids.iter().copied().find(|id| *id != winner).unwrap();
    let again = ops::schedule(
        &mut app.conn(),
        &w.scope,
        &t,
        other,
        When::At(wanted),
        patron_store::now(),
        "tests",
    )
    .unwrap();
    assert!(matches!(again, Scheduled::At(_)), "{again:?}");
    // A send from the official console on the day after is recorded; the day after is
    // then full too, and a third day is offered.
    let console = ops::record_external(
        &mut app.conn(),
        &w.scope,
        &t,
        wanted + TimeDelta::days(1),
        "Sent from the console",
        "tests",
    )
    .unwrap();
    assert!(console.is_ok());
    let third = ids
        .iter()
        .copied()
        .find(|id| *id != winner && *id != other)
        .unwrap();
    match ops::schedule(
        &mut app.conn(),
        &w.scope,
        &t,
        third,
        When::At(wanted),
        patron_store::now(),
        "tests",
    )
    .unwrap()
    {
        Scheduled::Full(f) => assert_eq!(
            f.next.unwrap().0.to_string(),
            (tomorrow + TimeDelta::days(2)).to_string()
        ),
        other => panic!("{other:?}"),
    }
    // A time the clocks skip, or a past one, is refused with a reason.
    let err = ops::schedule(
        &mut app.conn(),
        &w.scope,
        &t,
        third,
        When::At(days_ahead(-2, "10:00")),
        patron_store::now(),
        "tests",
    )
    .unwrap_err();
    assert!(format!("{err:?}").contains("in_the_past"), "{err:?}");
}

#[test]
fn a_custom_quota_and_approval_are_kept_per_tenant() {
    let app = TestApp::spawn();
    let a = world(&mut app.conn(), "a");
    let b = world(&mut app.conn(), "b");
    let ta = patron_store::tenants::get(&mut app.conn(), &a.scope).unwrap();
    let policy = patron_domain::broadcasts::QuotaPolicy::custom(
        patron_domain::broadcasts::Period::Day,
        3,
        None,
    )
    .unwrap();
    store::put_settings(&mut app.conn(), &a.scope, Some(policy), true).unwrap();
    let sa = ops::settings(&mut app.conn(), &a.scope, &ta).unwrap();
    assert_eq!(
        (sa.policy.count, sa.preset, sa.needs_approval),
        (3, false, true)
    );
    let tb = patron_store::tenants::get(&mut app.conn(), &b.scope).unwrap();
    let sb = ops::settings(&mut app.conn(), &b.scope, &tb).unwrap();
    assert_eq!(
        (sb.policy.count, sb.preset, sb.needs_approval),
        (1, true, false)
    );
    // With approval on, a draft cannot be scheduled; once approved it can, and the
    // approval names who and when.
    let id = ops::create(&mut app.conn(), &a.scope, &ta, &draft("Needs a yes"), "mk")
        .unwrap()
        .id;
    let at = When::At(days_ahead(2, "09:00"));
    let refused = ops::schedule(
        &mut app.conn(),
        &a.scope,
        &ta,
        id,
        at.clone(),
        patron_store::now(),
        "mk",
    );
    assert!(refused.is_err(), "{refused:?}");
    ops::submit(&mut app.conn(), &a.scope, id).unwrap();
    ops::approve(&mut app.conn(), &a.scope, id, "Boss").unwrap();
    let b1 = store::get(&mut app.conn(), &a.scope, id).unwrap();
    assert_eq!(b1.approved_by.as_deref(), Some("Boss"));
    assert!(b1.approved_at.is_some());
    let ok = ops::schedule(
        &mut app.conn(),
        &a.scope,
        &ta,
        id,
        at,
        patron_store::now(),
        "mk",
    )
    .unwrap();
    assert!(matches!(ok, Scheduled::At(_)));
    // Tenant B's scope does not see A's broadcast.
    assert!(store::get(&mut app.conn(), &b.scope, id).is_err());
    // A subscription account cannot send to a segment (WeChat allows lists only to
    // service accounts): told beside the field.
    let seg = Draft {
        audience: Audience::Segment {
            segment_id: a.segment,
        },
        ..draft("To a segment")
    };
    let err = ops::create(&mut app.conn(), &a.scope, &ta, &seg, "mk").unwrap_err();
    assert!(
        format!("{err:?}").contains("needs_service_account"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_due_broadcast_goes_out_once_and_wechats_report_counts_back() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "s");
    // The simulator pushes WeChat's report to the tenant's webhook, signed as WeChat
    // does, a moment after each accepted mass send.
    let sim = patron_simulator::Simulator::start_with(patron_simulator::SimConfig {
        appid: crate::outbound::APPID.into(),
        secret: crate::outbound::SECRET.into(),
        job_finish_delay: Duration::from_millis(200),
        ..patron_simulator::SimConfig::default()
    });
    sim.default_account().seed_followers(30);
    connect(&app, &w, &sim);
    sim.default_account()
        .set_webhook(patron_simulator::Webhook::plaintext(
            format!("{}/wx/{}", app.base, w.slug),
            crate::outbound::TOKEN,
        ));
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let id = ops::create(&mut app.conn(), &w.scope, &t, &draft("Now"), "mk")
        .unwrap()
        .id;
    let now = patron_store::now();
    let s = ops::schedule(&mut app.conn(), &w.scope, &t, id, When::Now, now, "mk").unwrap();
    assert!(matches!(s, Scheduled::At(_)));
    // Three processes' schedulers tick at once: the broadcast starts once, one job.
    let pool = DbPool::connect(&app.db.url, 4).unwrap();
    let started: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                s.spawn(move || patron_jobs::tick(&pool).unwrap())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(started, 1);
    until(Duration::from_secs(30), || {
        let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
        assert!(
            b.status == status::SENDING || b.status == status::SENT,
            "{b:?}"
        );
        (b.status == status::SENT)
            .then_some(())
            .ok_or(format!("{b:?}"))
    })
    .await;
    let sends = sim.default_account().mass_sends();
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert!(sends[0].to_all);
    let chunks = store::chunks(&mut app.conn(), &w.scope, id).unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].msg_id, Some(sends[0].msg_id as i64));
    // WeChat's report (the simulator's MASSSENDJOBFINISH push) counts back: 30 targets,
    // all following, all sent. A second delivery of the same push (WeChat retries when
    // it hears nothing in 5 s) queues nothing.
    let b = until(Duration::from_secs(30), || {
        let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
        (b.sent_count == 30)
            .then_some(b.clone())
            .ok_or_else(|| format!("{b:?} {:?}", sim.default_account().push_deliveries()))
    })
    .await;
    assert_eq!((b.total_count, b.filter_count, b.error_count), (30, 30, 0));
    // The report comes from WeChat's system account: archived, but no follower.
    {
        use patron_store::schema::{followers, messages};
        let mut c = app.conn();
        let system: i64 = followers::table
            .filter(followers::openid.eq(patron_simulator::SYSTEM_OPENID))
            .count()
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(system, 0, "the system account became a follower");
        let archived: Vec<Option<i64>> = messages::table
            .filter(messages::event.eq("MASSSENDJOBFINISH"))
            .select(messages::follower_id)
            .load(&mut *c)
            .unwrap();
        assert_eq!(archived, [None]);
    }
    // The job runs again (a worker died after WeChat accepted but before it was
    // recorded): the chunk's clientmsgid makes WeChat answer 45065, nothing new is sent.
    {
        let mut c = app.conn();
        diesel::update(patron_store::schema::broadcast_chunks::table)
            .set((
                patron_store::schema::broadcast_chunks::state.eq("pending"),
                patron_store::schema::broadcast_chunks::msg_id.eq(None::<i64>),
            ))
            .execute(&mut *c)
            .unwrap();
        diesel::update(patron_store::schema::broadcasts::table.find(id))
            .set(patron_store::schema::broadcasts::status.eq(status::SENDING))
            .execute(&mut *c)
            .unwrap();
        patron_app::jobs::enqueue(
            &mut c,
            &w.scope,
            &patron_app::jobs::Job::BroadcastSend(patron_app::jobs::BroadcastSend {
                tenant_id: w.scope.tenant_id().0,
                broadcast_id: id,
            }),
        )
        .unwrap();
    }
    // WeChat asks for a minute between retries of one clientmsgid (45066): the simulator
    // is told it has passed.
    sim.advance(Duration::from_secs(61));
    until(Duration::from_secs(60), || {
        let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
        let open: i64 = jobs::table
            .filter(jobs::state.eq_any(["queued", "running"]))
            .count()
            .get_result(&mut app.conn())
            .unwrap();
        (b.status == status::SENT && open == 0)
            .then_some(())
            .ok_or(format!("{open} jobs open, {b:?}"))
    })
    .await;
    assert_eq!(sim.default_account().mass_sends().len(), 1, "sent twice");
    let chunks = store::chunks(&mut app.conn(), &w.scope, id).unwrap();
    assert_eq!(chunks[0].msg_id, Some(sends[0].msg_id as i64));
    let delivered = sim.default_account().push_deliveries();
    assert!(delivered.iter().any(|d| d.accepted()), "{delivered:?}");
    let report = delivered
        .iter()
        .find(|d| d.accepted())
        .map(|d| d.body.clone())
        .unwrap();
    // Answered only once its transaction (which would queue the job) committed.
    crate::outbound::push(&app, &w, &report).await;
    let reports: i64 = jobs::table
        .filter(jobs::kind.eq("mass_report"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(reports, 1, "a retried push queues nothing");
}

/// The pages: a marketer composes (every problem beside its field), the agency turns
/// approval on, the marketer asks, the merchant admin approves (recorded), the marketer
/// schedules; a second broadcast on the same day is told the day is full and offered the
/// next, which it takes; the calendar shows both; taking one off frees its day.
#[tokio::test]
async fn the_pages_compose_approve_schedule_and_offer_the_next_free_day() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "p");
    let base = format!("/t/{}/broadcasts", w.slug);
    let agency = app.client();
    agency.login(&w.admin_email, PASSWORD).await;
    let r = agency
        .post(
            &format!("{base}/quota"),
            &[("mode", "preset"), ("approval", "on")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // Only the agency sets the quota.
    let mk = app.client();
    mk.login(&w.marketer_email, PASSWORD).await;
    let r = mk
        .post(
            &format!("{base}/quota"),
            &[("mode", "custom"), ("count", "9"), ("period", "day")],
        )
        .await;
    assert_eq!(r.status, 403);
    // Every problem at once, beside its field; nothing stored.
    let before = row_counts(&mut app.conn());
    let r = mk
        .post(
            &base,
            &[
                ("title", ""),
                ("kind", "text"),
                ("text", ""),
                ("audience", "segment"),
                ("segment_id", &w.segment.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"err-title\""), "{}", r.body);
    assert!(r.body.contains("id=\"err-text\""), "{}", r.body);
    assert!(r.body.contains("id=\"err-segment_id\""), "{}", r.body);
    assert!(r.body.contains("only service accounts"), "{}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before);
    // Two good ones.
    let mut ids = Vec::new();
    for title in ["Hot pot week", "Lantern night"] {
        let r = mk
            .post(
                &base,
                &[
                    ("title", title),
                    ("kind", "text"),
                    ("text", "Come by!"),
                    ("audience", "all"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let loc = r.location.unwrap();
        ids.push(loc.rsplit('/').next().unwrap().parse::<i64>().unwrap());
    }
    let day = days_ahead(3, "19:30");
    let (date, time) = (
        day.format("%Y-%m-%d").to_string(),
        day.format("%H:%M").to_string(),
    );
    let schedule = |id: i64| format!("{base}/{id}/schedule");
    // Approval is on: scheduling a draft is refused until approved.
    let r = mk
        .post(
            &schedule(ids[0]),
            &[("when", "at"), ("date", &date), ("time", &time)],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        store::get(&mut app.conn(), &w.scope, ids[0])
            .unwrap()
            .status,
        status::DRAFT
    );
    for id in &ids {
        assert_eq!(
            mk.post(&format!("{base}/{id}/submit"), &[]).await.status,
            303
        );
    }
    // A marketer cannot approve; the merchant admin can, and the page names them.
    let r = mk.post(&format!("{base}/{}/approve", ids[0]), &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let boss = app.client();
    boss.login(&w.merchant_email, PASSWORD).await;
    for id in &ids {
        assert_eq!(
            boss.post(&format!("{base}/{id}/approve"), &[]).await.status,
            303
        );
    }
    let page = mk.get(&format!("{base}/{}", ids[0])).await;
    assert!(page.body.contains("id=\"approved-by\""), "{}", page.body);
    // The first takes the day.
    let r = mk
        .post(
            &schedule(ids[0]),
            &[("when", "at"), ("date", &date), ("time", &time)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let b0 = store::get(&mut app.conn(), &w.scope, ids[0]).unwrap();
    assert_eq!(b0.status, status::SCHEDULED);
    // The second is told the day is full and offered the next day, same time.
    let r = mk
        .post(
            &schedule(ids[1]),
            &[("when", "at"), ("date", &date), ("time", &time)],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let next = (day + TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    assert!(r.body.contains("has no free broadcast left"), "{}", r.body);
    assert!(
        r.body
            .contains(&format!("The next free slot is {next} at {time}")),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"offer\""));
    let r = mk
        .post(
            &schedule(ids[1]),
            &[("when", "at"), ("date", &next), ("time", &time)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    // The calendar shows both, each on its day, and those days full.
    let cal = mk.get(&base).await;
    assert_eq!(cal.status, 200);
    let row_of = |d: &str| {
        cal.body
            .split("<tr>")
            .find(|r| r.contains(&format!("<td class=\"nowrap\">{d} ")))
            .unwrap_or_else(|| panic!("no row for {d}"))
            .to_string()
    };
    assert!(row_of(&date).contains("Hot pot week") && row_of(&date).contains("Full"));
    assert!(row_of(&next).contains("Lantern night"));
    // Taking the first off the calendar frees its day.
    assert_eq!(
        mk.post(&format!("{base}/{}/unschedule", ids[0]), &[])
            .await
            .status,
        303
    );
    let cal = mk.get(&base).await;
    let row = cal
        .body
        .split("<tr>")
        .find(|r| r.contains(&format!("<td class=\"nowrap\">{date} ")))
        .unwrap()
        .to_string();
    assert!(
        !row.contains("Hot pot week") && !row.contains("Full"),
        "{row}"
    );
    // In Chinese too.
    mk.post("/lang", &[("lang", "zh-CN"), ("back", "/account")])
        .await;
    let zh = mk.get(&base).await;
    assert!(
        zh.body.contains("群发额度") && zh.body.contains("日历"),
        "{}",
        zh.body
    );
}

/// One access_token per tenant, shared by every process and job: six clients (as six
/// processes would build them) asking at once cause one stable_token call; when WeChat
/// revokes it, the clients that meet the refusal cause one refresh between them.
#[tokio::test]
async fn every_client_of_a_tenant_shares_one_token_refreshed_once() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "tok");
    let sim = sim();
    connect(&app, &w, &sim);
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let pool = DbPool::connect(&app.db.url, 8).unwrap();
    let clients: Vec<_> = (0..6)
        .map(|_| patron_app::wechat::tenant_client(&pool, &app.state.secrets, &t).unwrap())
        .collect();
    let tokens = futures_util::future::join_all(clients.iter().map(|c| c.access_token())).await;
    let tokens: Vec<String> = tokens.into_iter().map(Result::unwrap).collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_eq!(sim.call_count("/cgi-bin/stable_token"), 1);
    let tenant = w.scope.tenant_id();
    assert_eq!(
        patron_store::wx_tokens::refreshes(&mut app.conn(), tenant).unwrap(),
        1
    );
    // The token is sealed at rest.
    let stored: Option<String> = patron_store::schema::wx_tokens::table
        .find(tenant.0)
        .select(patron_store::schema::wx_tokens::token_enc)
        .first(&mut app.conn())
        .unwrap();
    assert!(!stored.unwrap().contains(&tokens[0]));
    // WeChat revokes it (40001 on the next calls): every client retries once, and one
    // refresh serves them all.
    sim.default_account().invalidate_tokens();
    let calls = futures_util::future::join_all(clients.iter().map(|c| c.tags())).await;
    assert!(calls.iter().all(Result::is_ok), "{calls:?}");
    assert_eq!(
        patron_store::wx_tokens::refreshes(&mut app.conn(), tenant).unwrap(),
        2
    );
    let fresh = clients[0].access_token().await.unwrap();
    assert_ne!(fresh, tokens[0]);
    for c in &clients[1..] {
        assert_eq!(c.access_token().await.unwrap(), fresh);
    }
}

/// A service account's followers receive at most the monthly cap: the first broadcast
/// goes to everyone as OpenID lists (so each follower can be counted), the second
/// leaves out those at the cap and says how many.
#[tokio::test]
async fn followers_at_the_monthly_cap_are_left_out_and_counted() {
    let mut app = TestApp::spawn();
    app.start_workers();
    let w = world(&mut app.conn(), "cap");
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
        // The world's own follower is not one of WeChat's (an import): unfollowed here.
        diesel::update(patron_store::schema::followers::table.find(w.follower))
            .set(patron_store::schema::followers::subscribed.eq(false))
            .execute(&mut *c)
            .unwrap();
        // Ten broadcasts a month, each follower at most one.
        let policy = patron_domain::broadcasts::QuotaPolicy::custom(
            patron_domain::broadcasts::Period::Month,
            10,
            Some(1),
        )
        .unwrap();
        store::put_settings(&mut c, &w.scope, Some(policy), false).unwrap();
    }
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let send = |title: &'static str| {
        let (app, w, t) = (&app, &w, &t);
        async move {
            let id = ops::create(&mut app.conn(), &w.scope, t, &draft(title), "mk")
                .unwrap()
                .id;
            let s = ops::schedule(
                &mut app.conn(),
                &w.scope,
                t,
                id,
                When::Now,
                patron_store::now(),
                "mk",
            )
            .unwrap();
            assert!(matches!(s, Scheduled::At(_)), "{s:?}");
            patron_jobs::tick(&app.state.pool).unwrap();
            until(Duration::from_secs(30), || {
                let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
                if b.status == status::SENT {
                    Ok(b)
                } else {
                    Err(format!("{b:?}"))
                }
            })
            .await
        }
    };
    let first = send("First").await;
    assert_eq!((first.recipients, first.at_cap), (Some(5), 0));
    let sends = sim.default_account().mass_sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].openids.as_ref().map(Vec::len),
        Some(5),
        "sent as a list"
    );
    let second = send("Second").await;
    assert_eq!((second.recipients, second.at_cap), (Some(0), 5));
    assert_eq!(
        sim.default_account().mass_sends().len(),
        1,
        "nobody left to send to"
    );
    let page = {
        let c = app.client();
        c.login(&w.marketer_email, PASSWORD).await;
        c.get(&format!("/t/{}/broadcasts/{}", w.slug, second.id))
            .await
    };
    assert!(
        page.body
            .contains("id=\"at-cap\">5 followers already received"),
        "{}",
        page.body
    );
}

/// Crash safety: `patron serve` is killed (SIGKILL) while WeChat has accepted a
/// broadcast's second chunk but not yet answered; a second process takes the job over
/// and finishes it. Every chunk went out once (the second one's retry carries its
/// clientmsgid, which WeChat turns away as a duplicate with the original msg_id), every
/// follower got it once, and the quota was used once.
#[tokio::test]
async fn a_broadcast_killed_mid_send_completes_once_in_another_process() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "crash");
    let sim = sim();
    const N: usize = 25_000;
    let openids = sim.default_account().seed_followers(N);
    connect(&app, &w, &sim);
    {
        let mut c = app.conn();
        diesel::update(patron_store::schema::tenants::table.find(w.scope.tenant_id().0))
            .set(patron_store::schema::tenants::wx_account_kind.eq("service"))
            .execute(&mut *c)
            .unwrap();
        diesel::update(patron_store::schema::followers::table.find(w.follower))
            .set(patron_store::schema::followers::subscribed.eq(false))
            .execute(&mut *c)
            .unwrap();
        for batch in openids.chunks(1_000) {
            sync_following(&mut c, &w.scope, batch);
        }
    }
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    let id = ops::create(&mut app.conn(), &w.scope, &t, &draft("Crash"), "mk")
        .unwrap()
        .id;
    let s = ops::schedule(
        &mut app.conn(),
        &w.scope,
        &t,
        id,
        When::Now,
        patron_store::now(),
        "mk",
    )
    .unwrap();
    assert!(matches!(s, Scheduled::At(_)));
    // The first chunk is answered at once; the second is carried out but answered a
    // minute late: the process dies waiting.
    let mass = patron_simulator::paths::MASS_SEND;
    sim.inject_failure(
        Some(mass),
        1,
        patron_simulator::FailureKind::AnswerLate(Duration::ZERO),
    );
    sim.inject_failure(
        Some(mass),
        1,
        patron_simulator::FailureKind::AnswerLate(Duration::from_secs(60)),
    );
    let data_a = tempfile::tempdir().unwrap();
    std::fs::copy(
        app.data_dir().join("secret.key"),
        data_a.path().join("secret.key"),
    )
    .unwrap();
    let lease = [("PATRON_JOB_LEASE_SECS", "2")];
    let a = ServeProcess::start(data_a.path(), &app.db.url, &lease).await;
    // Until WeChat has carried out the second chunk (its answer is on the way).
    until(Duration::from_secs(60), || {
        let n = sim.default_account().mass_sends().len();
        (n >= 2)
            .then_some(())
            .ok_or(format!("{n} sends: the scheduler did not start it"))
    })
    .await;
    drop(a); // SIGKILL
    let chunks = store::chunks(&mut app.conn(), &w.scope, id).unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0].state, "submitted");
    assert_eq!(chunks[1].state, "pending", "WeChat's answer never arrived");
    // WeChat asks a minute between two tries of one clientmsgid; let it pass.
    sim.advance(Duration::from_secs(61));
    let data_b = tempfile::tempdir().unwrap();
    std::fs::copy(
        app.data_dir().join("secret.key"),
        data_b.path().join("secret.key"),
    )
    .unwrap();
    let _b = ServeProcess::start(data_b.path(), &app.db.url, &lease).await;
    until(Duration::from_secs(90), || {
        let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
        (b.status == status::SENT)
            .then_some(())
            .ok_or(format!("{b:?}"))
    })
    .await;
    let sends = sim.default_account().mass_sends();
    assert_eq!(sends.len(), 3, "each chunk sent once");
    let mut reached: Vec<String> = sends
        .iter()
        .flat_map(|s| s.openids.clone().unwrap_or_default())
        .collect();
    assert_eq!(reached.len(), N);
    reached.sort();
    reached.dedup();
    assert_eq!(reached.len(), N, "nobody received it twice");
    let chunks = store::chunks(&mut app.conn(), &w.scope, id).unwrap();
    let msg_ids: Vec<Option<i64>> = chunks.iter().map(|c| c.msg_id).collect();
    let sent_ids: Vec<Option<i64>> = sends.iter().map(|s| Some(s.msg_id as i64)).collect();
    assert_eq!(
        msg_ids, sent_ids,
        "the retried chunk recorded WeChat's original msg_id"
    );
    let slots: i64 = broadcast_slots::table
        .filter(broadcast_slots::broadcast_id.eq(id))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(slots, 1, "the quota used once");
    // Every follower counted once against the monthly cap.
    let month = store::get(&mut app.conn(), &w.scope, id)
        .unwrap()
        .cap_month
        .expect("counted in a month");
    let once = store::at_cap(&mut app.conn(), &w.scope, &month, 1).unwrap();
    assert_eq!(once.len(), N);
    assert!(store::at_cap(&mut app.conn(), &w.scope, &month, 2)
        .unwrap()
        .is_empty());
}

/// A recurring broadcast (every day at 20:00 in the tenant's zone): the scheduler makes
/// the coming week's occurrences, each with its day's slot, once however many tick; a
/// day already full (a console send) is skipped and shown so; stopping it keeps the
/// occurrences made.
#[test]
fn a_recurring_broadcast_takes_each_days_slot_a_week_ahead() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "rec");
    let t = patron_store::tenants::get(&mut app.conn(), &w.scope).unwrap();
    // Day 3 is taken by a send from the console.
    ops::record_external(
        &mut app.conn(),
        &w.scope,
        &t,
        days_ahead(3, "12:00"),
        "console",
        "mk",
    )
    .unwrap()
    .unwrap();
    let id = ops::create(&mut app.conn(), &w.scope, &t, &draft("Daily"), "mk")
        .unwrap()
        .id;
    let bad = ops::schedule(
        &mut app.conn(),
        &w.scope,
        &t,
        id,
        When::Repeat("every day".into()),
        patron_store::now(),
        "mk",
    );
    assert!(format!("{bad:?}").contains("invalid_cron"), "{bad:?}");
    let now = patron_store::now();
    let s = ops::schedule(
        &mut app.conn(),
        &w.scope,
        &t,
        id,
        When::Repeat("0 20 * * *".into()),
        now,
        "mk",
    )
    .unwrap();
    let Scheduled::Repeats(first) = s else {
        panic!("{s:?}")
    };
    let sh = chrono_tz::Asia::Shanghai;
    assert_eq!(
        patron_domain::broadcasts::utc_to_local(first, sh)
            .format("%H:%M")
            .to_string(),
        "20:00"
    );
    // Two processes tick at once: the week's occurrences are made once.
    let pool = DbPool::connect(&app.db.url, 4).unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let pool = pool.clone();
            s.spawn(move || patron_jobs::tick(&pool).unwrap());
        }
    });
    let made = store::occurrences(&mut app.conn(), &w.scope, id).unwrap();
    assert!((7..=8).contains(&made.len()), "{}", made.len());
    let skipped: Vec<_> = made
        .iter()
        .filter(|o| o.status == status::SKIPPED)
        .collect();
    assert_eq!(skipped.len(), 1, "{made:?}");
    let day3 = days_ahead(3, "20:00").date();
    assert_eq!(
        patron_domain::broadcasts::utc_to_local(skipped[0].scheduled_at.unwrap(), sh).date(),
        day3
    );
    // Every other occurrence holds its day's slot; no day has two.
    let mut days: Vec<String> = broadcast_slots::table
        .filter(broadcast_slots::tenant_id.eq(w.scope.tenant_id().0))
        .select(broadcast_slots::period)
        .load(&mut app.conn())
        .unwrap();
    let n = days.len();
    days.sort();
    days.dedup();
    assert_eq!(days.len(), n, "a day with two slots");
    assert_eq!(
        made.iter()
            .filter(|o| o.status == status::SCHEDULED)
            .count(),
        made.len() - 1
    );
    // Ticking again changes nothing until the horizon moves.
    patron_jobs::tick(&pool).unwrap();
    assert_eq!(
        store::occurrences(&mut app.conn(), &w.scope, id)
            .unwrap()
            .len(),
        made.len()
    );
    store::stop_recurring(&mut app.conn(), &w.scope, id).unwrap();
    let b = store::get(&mut app.conn(), &w.scope, id).unwrap();
    assert_eq!((b.status.as_str(), b.next_at), (status::DRAFT, None));
    assert_eq!(
        store::occurrences(&mut app.conn(), &w.scope, id)
            .unwrap()
            .len(),
        made.len()
    );
}

/// The scheduler's tasks run through one door that records them, and the agency's
/// operations page shows each one's last run, outcome and next run, and each merchant
/// account's failed work; the daily follower sync queues one sync per connected account.
#[tokio::test]
async fn the_operations_page_shows_the_schedulers_tasks_and_failed_work() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "ops");
    let sim = sim();
    connect(&app, &w, &sim);
    let pool = app.state.pool.clone();
    for task in patron_app::operations::TASKS {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || patron_jobs::run_task(&pool, &task).unwrap())
            .await
            .unwrap();
    }
    let syncs: i64 = jobs::table
        .filter(jobs::kind.eq("follower_sync"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(syncs, 1, "one sync for the one connected account");
    let admin = app.client();
    admin.login(&w.admin_email, PASSWORD).await;
    let page = admin.get("/agency/operations").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("follower syncs queued 1"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Daily follower sync"), "{}", page.body);
    assert!(page.body.contains("04:00:00 UTC"), "{}", page.body);
    // The world's failed job is counted and links to the account's failed work.
    assert!(
        page.body
            .contains(&format!("/t/{}/jobs?state=failed", w.slug)),
        "{}",
        page.body
    );
    // Not for merchant accounts' users.
    let mk = app.client();
    mk.login(&w.marketer_email, PASSWORD).await;
    assert_ne!(mk.get("/agency/operations").await.status, 200);
}

/// The API: a second broadcast on a full day is 409 naming the next free slot; a bad
/// draft is 422 with every field.
#[tokio::test]
async fn the_api_schedules_against_the_quota() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "api");
    let c = app.client();
    let mut ids = Vec::new();
    for title in ["One", "Two"] {
        let r = c
            .api(
                reqwest::Method::POST,
                "/api/v1/broadcasts",
                &w.token,
                Some(serde_json::json!({"title": title, "message": {"kind": "text", "text": "Hi"}, "audience": {"kind": "all"}})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.json()["id"].as_i64().unwrap());
    }
    let at = days_ahead(2, "20:00")
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let schedule = |id: i64| format!("/api/v1/broadcasts/{id}/schedule");
    let r = c
        .api(
            reqwest::Method::POST,
            &schedule(ids[0]),
            &w.token,
            Some(serde_json::json!({"at": at})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .api(
            reqwest::Method::POST,
            &schedule(ids[1]),
            &w.token,
            Some(serde_json::json!({"at": at})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("has no free broadcast left") && r.body.contains("next free slot"),
        "{}",
        r.body
    );
    let r = c
        .api(
            reqwest::Method::POST,
            "/api/v1/broadcasts",
            &w.token,
            Some(serde_json::json!({"title": "", "message": {"kind": "text", "text": ""}, "audience": {"kind": "segment", "segment_id": w.segment}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    for field in ["title", "text", "segment_id"] {
        assert!(
            r.body.contains(&format!("\"field\":\"{field}\"")),
            "{}",
            r.body
        );
    }
}
