//! The ingest journal across a crash. On PostgreSQL a plain push is answered once it is
//! durable in the journal: a `patron serve` process killed before the push reached the
//! database stores it at its next start, once. On SQLite every push is stored before it
//! is answered.

use crate::support::*;
use diesel::prelude::*;
use patron_store::schema::messages;
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "journaltoken";
const SLUG: &str = "journal-tea";
const GH: &str = "gh_0a1b2c3d4e5f";

/// `patron serve` with the journal flushed as `sync` says.
async fn start(data: &Path, url: &str, sync: &str) -> ServeProcess {
    ServeProcess::start(data, url, &[("PATRON_INGEST_JOURNAL_SYNC", sync)]).await
}

/// Sends a plaintext text push signed as WeChat signs it; returns the answer.
async fn push(server: &ServeProcess, msg_id: u64) -> (u16, String) {
    let body = format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName>\
         <FromUserName><![CDATA[o_journal]]></FromUserName>\
         <CreateTime>1714037059</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[hello {msg_id}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    );
    server.push_plain(SLUG, TOKEN, &body).await
}

/// The tenant, made through the store with the data directory's key (as `patron serve`
/// will read it), and a connection to the same database.
fn tenant(data: &Path, url: &str) -> patron_store::DbPool {
    let mut s = patron::config::Settings::for_test(data, url);
    s.ingest_journal = false;
    let prepared = patron::serve::prepare(&s, "http://127.0.0.1").unwrap();
    let state = prepared.state;
    let mut c = state.pool.get().unwrap();
    let agency = patron_store::tenants::create_agency(&mut c, "Journal agency").unwrap();
    let valid = patron_store::tenants::validate(&patron_store::tenants::TenantInput {
        name: "Journal Tea".into(),
        slug: SLUG.into(),
        wx_appid: "wx00112233445566aa".into(),
        wx_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        wx_original_id: GH.into(),
        wx_token: TOKEN.into(),
        wx_message_mode: "plain".into(),
        ..Default::default()
    })
    .unwrap();
    patron_store::tenants::create(
        &mut c,
        &patron_domain::AgencyScope::system(patron_domain::AgencyId(agency.id)),
        &valid,
        &state.secrets,
    )
    .unwrap();
    drop(c);
    state.pool.clone()
}

fn stored(c: &mut patron_store::DbConn) -> Vec<String> {
    messages::table
        .select(messages::dedupe_key.assume_not_null())
        .order(messages::dedupe_key.asc())
        .load(c)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_answered_from_the_journal_survives_a_kill_and_is_stored_once() {
    survives_a_kill("interval").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_answered_from_a_journal_flushed_before_answering_survives_a_kill_too() {
    survives_a_kill("group").await
}

/// Answered pushes a killed process never stored are stored once by the next start, with
/// the journal flushed as `sync` says (a killed process leaves its written pages to the
/// kernel: both ways keep them).
async fn survives_a_kill(sync: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path());
    let data = dir.path().join("data");
    let pool = tenant(&data, &db.url);
    let mut c = pool.get().unwrap();
    let keys: Vec<String> = (1..=3).map(|i| format!("msg:{}", 9_000 + i)).collect();

    if pool.backend() != patron_store::Backend::Postgres {
        // SQLite: stored before answered, no journal.
        let server = start(&data, &db.url, sync).await;
        for i in 1..=3 {
            assert_eq!(push(&server, 9_000 + i).await, (200, "success".into()));
        }
        assert_eq!(stored(&mut c), keys);
        assert!(!data.join("ingest-journal").exists());
        return;
    }

    // The archive is locked against writes: nothing can reach it, yet each push is
    // answered, because the journal holds it.
    let mut lock = pool.get().unwrap();
    diesel::connection::SimpleConnection::batch_execute(
        &mut *lock,
        "BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE",
    )
    .unwrap();
    let server = start(&data, &db.url, sync).await;
    for i in 1..=3 {
        assert_eq!(push(&server, 9_000 + i).await, (200, "success".into()));
    }
    assert!(
        stored(&mut c).is_empty(),
        "nothing reached the database yet"
    );
    // The process dies before its writers could store anything: its waiting statements
    // are ended with it, and their transactions never commit.
    drop(server);
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND wait_event_type = 'Lock'",
    )
    .execute(&mut *c)
    .unwrap();
    diesel::connection::SimpleConnection::batch_execute(&mut *lock, "ROLLBACK").unwrap();
    assert!(
        stored(&mut c).is_empty(),
        "the killed process stored nothing"
    );

    // The next start replays the journal: every answered push is stored, once.
    let server = start(&data, &db.url, sync).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&mut c).len() < 3 {
        assert!(Instant::now() < deadline, "the journal was not replayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored(&mut c), keys);
    // A retry after the restart is answered as the first delivery was, and adds nothing.
    assert_eq!(push(&server, 9_001).await, (200, "success".into()));
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\npatron_webhook_pushes_total{outcome=\"duplicate\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\npatron_ingest_journaled_total 3\n"),
        "{metrics}"
    );
    assert_eq!(stored(&mut c), keys);
}
