//! Reconciliation (issue 20): a day's trade bill, in WeChat's exact format (BOM, CRLF,
//! backticks), imported through `patron reconcile import`, matched against the payments
//! recorded here: each category found, an item near midnight pending until the next
//! day's bill matches it, a malformed bill refused with its line and nothing stored.

use crate::support::*;
use diesel::prelude::*;
use patron_store::payments::Paid;
use patron_store::reconcile as store;

const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// A payment line: Beijing time, order, transaction, yuan (fee at 0.60%).
fn line(at: &str, order: &str, yuan: &str, fee: &str) -> String {
    format!(
        "`{at},`wx2421b1c4370ec43b,`1900000109,`0,`,`{order}T,`{order},`oUser,`JSAPI,`SUCCESS,`CMC,`CNY,`{yuan},`0.00,`0,`0,`0.00,`0.00,`,`,`Tea,`,`{fee},`0.60%,`{yuan},`0.00,`"
    )
}

/// A whole bill as WeChat writes it; `summary` lists the count, settled total and fees.
fn bill(lines: &[String], count: usize, settled: &str, fees: &str) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    out.push_str(HEADER);
    out.push_str("\r\n");
    for l in lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str(SUMMARY);
    out.push_str("\r\n");
    out.push_str(&format!(
        "`{count},`{settled},`0.00,`0.00,`{fees},`{settled},`0.00\r\n"
    ));
    out.into_bytes()
}

/// A one-line bill of 2026-11-30 whose order nobody recorded (a payment missing here).
pub fn sample_bill() -> Vec<u8> {
    bill(
        &[line("2026-11-30 09:30:00", "SAMPLE-1", "12.00", "0.07200")],
        1,
        "12.00",
        "0.07200",
    )
}

/// Records a payment as a notification would (Beijing time).
fn paid(app: &TestApp, w: &World, order: &str, fen: i64, beijing: &str) {
    let at = chrono::NaiveDateTime::parse_from_str(beijing, "%Y-%m-%d %H:%M:%S").unwrap()
        - chrono::TimeDelta::hours(8);
    let tx = format!("{order}T");
    let r = patron_app::payments::paid(
        &mut app.conn(),
        &w.scope,
        &format!("test:{order}"),
        "v2",
        "{}",
        &Paid {
            out_trade_no: order,
            transaction_id: &tx,
            openid: None,
            total_fen: fen,
            payer_fen: fen,
            discount_fen: 0,
            trade_type: Some("JSAPI"),
            bank_type: Some("CMC"),
            attach: None,
            paid_at: at,
            source: "v2",
        },
    )
    .unwrap();
    assert!(matches!(r, patron_app::payments::Applied::New(_)), "{r:?}");
}

fn import(app: &TestApp, w: &World, file: &[u8]) -> (bool, String) {
    let path = app.data_dir().join(format!("bill-{}.csv", rand_suffix()));
    std::fs::write(&path, file).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_patron"))
        .arg("--data-dir")
        .arg(app.data_dir())
        .args(["--database-url", &app.db.url])
        .args(["reconcile", "import", "--tenant", &w.slug, "--json"])
        .arg(&path)
        .env("PATRON_LOG_LEVEL", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_days_bill_is_classified_and_midnight_waits_for_the_next_day() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "recon");
    // Ours on 2026-12-01 (Beijing): A matches, B has another amount at WeChat, C never
    // reached WeChat, D was paid at 23:55 (its line is in the next day's bill).
    paid(&app, &w, "A", 10_000, "2026-12-01 10:00:00");
    paid(&app, &w, "B", 4_000, "2026-12-01 11:00:00");
    paid(&app, &w, "C", 2_000, "2026-12-01 12:00:00");
    paid(&app, &w, "D", 3_000, "2026-12-01 23:55:00");
    // WeChat's: A, B (50.00), E (unknown here), and A again (a duplicate line).
    let day1 = bill(
        &[
            line("2026-12-01 10:00:00", "A", "100.00", "0.60000"),
            line("2026-12-01 11:00:00", "B", "50.00", "0.30000"),
            line("2026-12-01 13:00:00", "E", "10.00", "0.06000"),
            line("2026-12-01 10:00:00", "A", "100.00", "0.60000"),
        ],
        4,
        "260.00",
        "1.56000",
    );

    // A malformed bill: refused, naming the line, nothing stored.
    let broken = String::from_utf8(day1.clone())
        .unwrap()
        .replace("`50.00,`0.00", "`fifty,`0.00");
    let (ok, out) = import(&app, &w, broken.as_bytes());
    assert!(!ok, "{out}");
    assert!(out.contains("line 3"), "{out}");
    let runs: i64 = patron_store::schema::reconcile_runs::table
        .filter(
            patron_store::schema::reconcile_runs::bill_date
                .eq(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
        )
        .count()
        .get_result(&mut *app.conn())
        .unwrap();
    assert_eq!(runs, 0);

    let (ok, out) = import(&app, &w, &day1);
    assert!(ok, "{out}");
    let run: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(run["bill_date"], "2026-12-01");
    assert_eq!(run["lines"], 4);
    assert_eq!(run["summary_ok"], true, "{out}");
    let counts = &run["counts"];
    for (category, n) in [
        ("matched", 1),
        ("amount_mismatch", 1),
        ("missing_at_wechat", 1),
        ("missing_here", 1),
        ("duplicate", 1),
        ("pending", 1),
        ("status_mismatch", 0),
    ] {
        assert_eq!(counts[category], n, "{category}: {out}");
    }
    // (The test world holds an exception of its own, dated 2026-01-01.)
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let open = store::exceptions(&mut app.conn(), &w.scope, None, 100).unwrap();
    let of = |cat: &str| {
        open.iter()
            .filter(|e| e.category == cat && e.bill_date == day)
            .map(|e| e.out_trade_no.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(of("amount_mismatch"), ["B"]);
    assert_eq!(of("missing_at_wechat"), ["C"]);
    assert_eq!(of("missing_here"), ["E"]);
    assert_eq!(of("pending"), ["D"]);

    // The next day's bill has D (WeChat's time: just after midnight): matched, and the
    // pending exception is taken over.
    let day2 = bill(
        &[line("2026-12-02 00:00:30", "D", "30.00", "0.18000")],
        1,
        "30.00",
        "0.18000",
    );
    let (ok, out) = import(&app, &w, &day2);
    assert!(ok, "{out}");
    let run: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(run["counts"]["matched"], 1, "{out}");
    assert_eq!(run["counts"]["missing_at_wechat"], 0, "{out}");
    let open = store::exceptions(&mut app.conn(), &w.scope, None, 100).unwrap();
    assert!(
        !open.iter().any(|e| e.out_trade_no == "D"),
        "D is no longer open: {open:?}"
    );
    // Another tenant sees none of it.
    let other = world(&mut app.conn(), "recon2");
    assert!(store::exceptions(&mut app.conn(), &other.scope, None, 100)
        .unwrap()
        .iter()
        .all(|e| e.bill_date != day));

    // The inbox: B resolved with a reason (recorded with who), E accepted from the
    // bill (the payment added), the export lists them.
    let admin = app.client();
    admin.login(&w.merchant_email, PASSWORD).await;
    let page = admin.get(&format!("/t/{}/reconciliation", w.slug)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Amount differs"), "{}", page.body);
    let open = store::exceptions(&mut app.conn(), &w.scope, None, 100).unwrap();
    let id_of = |order: &str| open.iter().find(|e| e.out_trade_no == order).unwrap().id;
    let url = |id: i64| format!("/t/{}/reconciliation/exceptions/{id}", w.slug);
    let r = admin
        .post(&url(id_of("B")), &[("how", "adjust"), ("reason", "")])
        .await;
    assert_eq!(r.status, 422, "a reason is required");
    let r = admin
        .post(&url(id_of("B")), &[("how", "accept"), ("reason", "x")])
        .await;
    assert_eq!(
        r.status, 422,
        "only a payment missing here is accepted from the bill"
    );
    let r = admin
        .post(
            &url(id_of("B")),
            &[("how", "adjust"), ("reason", "Till typo, corrected")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = admin
        .post(
            &url(id_of("E")),
            &[("how", "accept"), ("reason", "Paid at the counter")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let e = patron_store::payments::by_order(&mut app.conn(), &w.scope, "E")
        .unwrap()
        .expect("E added from the bill");
    assert_eq!((e.total_fen, e.source.as_str()), (1_000, "bill"));
    let closed = store::exception(&mut app.conn(), &w.scope, id_of("B")).unwrap();
    assert_eq!(
        (closed.state.as_str(), closed.resolved_by.is_some()),
        ("adjusted", true)
    );
    let csv = admin
        .get(&format!("/t/{}/reconciliation/exceptions.csv", w.slug))
        .await;
    assert!(
        csv.body.contains("Till typo, corrected") && csv.body.contains("accepted"),
        "{}",
        csv.body
    );
    // A malformed bill uploaded in the page: its job refuses it with its line, and no
    // run is stored.
    let r = admin
        .upload(
            &format!("/t/{}/reconciliation", w.slug),
            "bill.csv",
            broken.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let runs_before = store::runs(&mut app.conn(), &w.scope, 100).unwrap().len();
    let f = patron_store::bill_files::recent(&mut app.conn(), &w.scope, 1).unwrap()[0].clone();
    let out =
        patron_app::bills::reconcile_file(&app.state.pool, &w.scope, f.id, &mut |_, _| {}).unwrap();
    assert!(
        matches!(&out, patron_app::bills::Reconciled::Refused(why) if why.contains("line 3")),
        "{out:?}"
    );
    assert_eq!(
        store::runs(&mut app.conn(), &w.scope, 100).unwrap().len(),
        runs_before
    );
    let page = admin.get(&format!("/t/{}/reconciliation", w.slug)).await;
    assert!(page.body.contains("line 3"), "{}", page.body);
    // The marketer may not reconcile.
    let m = app.client();
    m.login(&w.marketer_email, PASSWORD).await;
    assert_eq!(
        m.get(&format!("/t/{}/reconciliation", w.slug)).await.status,
        403
    );
}

/// A bill of `n` orders nobody recorded here plus order `A` (100.00), 2026-12-01.
fn big_bill(n: usize) -> Vec<u8> {
    let mut lines = vec![line("2026-12-01 10:00:00", "A", "100.00", "0.60000")];
    lines.extend((0..n).map(|i| {
        line(
            "2026-12-01 12:00:00",
            &format!("X{i:06}"),
            "1.00",
            "0.00600",
        )
    }));
    let settled = format!("{}.00", 100 + n);
    let fees = format!("{:.5}", 0.6 + 0.006 * n as f64);
    bill(&lines, n + 1, &settled, &fees)
}

#[tokio::test]
async fn an_uploaded_bill_is_reconciled_by_its_job_and_the_admins_get_the_summary() {
    let mut app = TestApp::with_mail();
    let w = world(&mut app.conn(), "recup");
    paid(&app, &w, "A", 10_000, "2026-12-01 10:00:00");
    let admin = app.client();
    admin.login(&w.merchant_email, PASSWORD).await;
    let page = format!("/t/{}/reconciliation", w.slug);
    // Nothing to reconcile: an empty file is refused, nothing kept.
    let before = row_counts(&mut app.conn());
    let r = admin.upload(&page, "empty.csv", b"").await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("The file is empty"), "{}", r.body);
    assert_eq!(row_counts(&mut app.conn()), before);

    // A bill of several chunks (over 1 MiB) arrives, and is stored as it arrives.
    let file = big_bill(6_000);
    assert!(file.len() > patron_store::bill_files::CHUNK);
    let r = admin.upload(&page, "2026-12-01.csv", &file).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let f = patron_store::bill_files::recent(&mut app.conn(), &w.scope, 1).unwrap()[0].clone();
    assert_eq!(
        (f.state.as_str(), f.size_bytes),
        ("queued", file.len() as i64)
    );
    assert_eq!(f.sha1.as_deref().map(str::len), Some(40));
    let shown = admin.get(&page).await;
    assert!(
        shown.body.contains("<progress"),
        "a bill on its way shows its progress"
    );
    assert!(shown.body.contains("http-equiv=\"refresh\""));

    // Its job reconciles it: the run, the file done with its chunks gone, progress full.
    app.start_workers();
    let done = until(std::time::Duration::from_secs(60), || {
        let f = patron_store::bill_files::get(&mut app.conn(), &w.scope, f.id).unwrap();
        (f.state == "done")
            .then_some(f.clone())
            .ok_or(format!("{f:?}"))
    })
    .await;
    let run = store::run(&mut app.conn(), &w.scope, done.run_id.unwrap()).unwrap();
    assert_eq!((run.bill_lines, run.source.as_str()), (6_001, "upload"));
    let counts: serde_json::Value = serde_json::from_str(&run.counts).unwrap();
    assert_eq!(
        (counts["matched"].as_i64(), counts["missing_here"].as_i64()),
        (Some(1), Some(6_000))
    );
    let totals: serde_json::Value = serde_json::from_str(run.totals.as_deref().unwrap()).unwrap();
    assert_eq!(totals["bill"]["settled_fen"], 610_000, "{totals}");
    assert_eq!(totals["ours"]["paid_fen"], 10_000, "{totals}");
    let chunks: i64 = {
        use patron_store::schema::bill_file_chunks as ch;
        ch::table
            .filter(ch::file_id.eq(f.id))
            .count()
            .get_result(&mut *app.conn())
            .unwrap()
    };
    assert_eq!(chunks, 0, "the chunks are deleted once the run is stored");
    let job = patron_store::jobs::get(
        &mut app.conn(),
        &w.scope,
        patron_domain::JobId(done.job_id.unwrap()),
    )
    .unwrap();
    assert_eq!(job.progress_total, Some(file.len() as i64));
    assert_eq!(job.progress_done, file.len() as i64);
    let shown = admin.get(&page).await;
    assert!(shown.body.contains("Reconciled"), "{}", shown.body);
    assert!(
        !shown.body.contains("http-equiv=\"refresh\""),
        "nothing on its way"
    );
    assert!(
        shown.body.contains("¥6100.00") || shown.body.contains("¥6,100.00"),
        "the bill's total"
    );

    // The merchant's administrator is mailed the day's summary with the page's link.
    let mail = app.mail().wait_for(&w.merchant_email, 0);
    assert!(mail.contains("reconciliation of 2026-12-01"), "{mail}");
    assert!(mail.contains("6000 exceptions to resolve"), "{mail}");
    assert!(
        mail.contains("Paid at WeChat, missing here: 6000"),
        "{mail}"
    );
    assert!(
        mail.contains(&format!("/t/{}/reconciliation", w.slug)),
        "{mail}"
    );
}

const MCH: &str = "1900000109";

/// A tenant whose WeChat Pay account fetches its bills from `sim`: the merchant
/// certificate's key (the simulator checks the requests' signatures with its public
/// half) and the simulator's platform key (Patron checks the answers with it).
fn fetching_world(app: &TestApp, sim: &patron_simulator::Simulator, tag: &str) -> World {
    let w = world(&mut app.conn(), tag);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wechat/src/pay/testdata");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    sim.add_merchant(MCH, &read("other_public.pem")).unwrap();
    patron_app::payments::save_settings(
        &mut app.conn(),
        &w.scope,
        &app.state.secrets,
        &patron_store::payments::PayInput {
            mch_id: MCH.into(),
            platform_keys: Some(vec![patron_store::payments::PlatformKey {
                id: sim.pay_platform_key_id().into(),
                pem: sim.pay_platform_public_key_pem().into(),
            }]),
            merchant_serial: Some("5157F09EFDC096DE15EBE81A47057A72".into()),
            merchant_key: Some(read("other_private.pem")),
            ..Default::default()
        },
    )
    .unwrap();
    w
}

fn utc(s: &str) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

async fn fetched(app: &TestApp, w: &World, day: &str) -> patron_store::bill_files::BillFile {
    let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    until(std::time::Duration::from_secs(60), || {
        let files = patron_store::bill_files::fetches_of(&mut app.conn(), &w.scope, day).unwrap();
        match files.last() {
            Some(f) if !f.is_open() => Ok(f.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test]
async fn the_daily_fetch_takes_yesterdays_bill_from_the_bill_api() {
    let sim = crate::outbound::sim();
    let mut app = TestApp::spawn_with(true, |s| s.pay_api_base = sim.base_url());
    let w = fetching_world(&app, &sim, "fetch");
    let other = world(&mut app.conn(), "nofetch");
    paid(&app, &w, "A", 10_000, "2026-12-01 10:00:00");
    let day1 = bill(
        &[line("2026-12-01 10:00:00", "A", "100.00", "0.60000")],
        1,
        "100.00",
        "0.60000",
    );
    sim.publish_bill(MCH, "2026-12-01", "ALL", day1.clone());
    let pool = app.state.pool.clone();
    let queue = move |at: &str| {
        patron_app::operations::queue_bill_fetches(&mut pool.get().unwrap(), utc(at)).unwrap()
    };
    // Not before 10:00 in Beijing (02:00 UTC); then once, and not again while on its way.
    assert_eq!(queue("2026-12-02 01:59:00"), 0);
    assert_eq!(queue("2026-12-02 03:00:00"), 1, "one tenant can fetch");
    assert_eq!(queue("2026-12-02 03:10:00"), 0, "already on its way");
    app.start_workers();
    let f = fetched(&app, &w, "2026-12-01").await;
    assert_eq!(f.state, "done", "{f:?}");
    assert_eq!(f.size_bytes, day1.len() as i64);
    let run = store::run(&mut app.conn(), &w.scope, f.run_id.unwrap()).unwrap();
    assert_eq!((run.source.as_str(), run.bill_lines), ("fetch", 1));
    assert!(run.counts.contains("\"matched\":1"), "{}", run.counts);
    assert_eq!(queue("2026-12-02 05:00:00"), 0, "the day is done");
    let mail = app.mail().wait_for(&w.merchant_email, 0);
    assert!(mail.contains("everything matched"), "{mail}");
    // The other tenant has no merchant certificate: nothing fetched for it.
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    assert!(
        patron_store::bill_files::fetches_of(&mut app.conn(), &other.scope, day)
            .unwrap()
            .is_empty()
    );

    // A day without trades at WeChat (no bill): reconciled as an empty day, so what was
    // recorded here that day is flagged.
    paid(&app, &w, "B", 2_000, "2026-12-02 12:00:00");
    assert_eq!(queue("2026-12-03 03:00:00"), 1);
    let f = fetched(&app, &w, "2026-12-02").await;
    assert_eq!(f.state, "done", "{f:?}");
    let run = store::run(&mut app.conn(), &w.scope, f.run_id.unwrap()).unwrap();
    assert_eq!(run.bill_lines, 0);
    assert!(
        run.counts.contains("\"missing_at_wechat\":1"),
        "{}",
        run.counts
    );

    // Not written yet: the attempt fails, the next waits an hour, then succeeds.
    sim.set_bill_creating(MCH, "2026-12-03");
    assert_eq!(queue("2026-12-04 03:00:00"), 1);
    let f = fetched(&app, &w, "2026-12-03").await;
    assert_eq!(f.state, "failed");
    assert!(f.error.as_deref().unwrap().contains("not ready"), "{f:?}");
    let day3 = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let soon = patron_store::now() + chrono::TimeDelta::minutes(30);
    let later = patron_store::now() + chrono::TimeDelta::minutes(61);
    assert!(
        patron_app::bills::queue_fetch(&mut app.conn(), &w.scope, day3, soon)
            .unwrap()
            .is_none()
    );
    sim.publish_bill(MCH, "2026-12-03", "ALL", bill(&[], 0, "0.00", "0.00000"));
    assert!(
        patron_app::bills::queue_fetch(&mut app.conn(), &w.scope, day3, later)
            .unwrap()
            .is_some()
    );
    let f = fetched(&app, &w, "2026-12-03").await;
    assert_eq!(f.state, "done", "{f:?}");

    // A file whose hash is not the announced one is refused, and no run is stored.
    sim.publish_bill(MCH, "2026-12-04", "ALL", day1.clone());
    sim.corrupt_next_bill_hash();
    let runs = store::runs(&mut app.conn(), &w.scope, 100).unwrap().len();
    assert_eq!(queue("2026-12-05 03:00:00"), 1);
    let f = fetched(&app, &w, "2026-12-04").await;
    assert_eq!(f.state, "failed");
    assert!(f.error.as_deref().unwrap().contains("hash"), "{f:?}");
    assert_eq!(
        store::runs(&mut app.conn(), &w.scope, 100).unwrap().len(),
        runs
    );
    // The page shows why.
    let admin = app.client();
    admin.login(&w.merchant_email, PASSWORD).await;
    let page = admin.get(&format!("/t/{}/reconciliation", w.slug)).await;
    assert!(
        page.body.contains("not ready") && page.body.contains("hash"),
        "{}",
        page.body
    );
}
