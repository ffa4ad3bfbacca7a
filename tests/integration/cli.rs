//! Configuration loading and the operator commands.

use crate::support::*;
use patron::cli::{run_blocking, Command, StatsCmd, TenantCmd, TokenCmd, UserCmd};
use patron::config::{Overrides, Settings};

#[test]
fn the_shipped_config_file_matches_the_built_in_defaults() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = root.join("config/default.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let loaded: Settings = figment_load(&file);
    assert_eq!(
        loaded,
        Settings::default(),
        "config/default.toml drifted from Settings::default()"
    );
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    for key in defaults.as_object().unwrap().keys() {
        assert!(
            text.contains(&format!("\n{key} =")),
            "config/default.toml does not document {key}"
        );
    }
}

fn figment_load(file: &std::path::Path) -> Settings {
    // Environment variables of the test run must not leak into this comparison.
    let text = std::fs::read_to_string(file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("c.toml");
    std::fs::write(&copy, text).unwrap();
    Settings::load(Some(&copy), &Overrides::default()).unwrap()
}

#[test]
fn wrong_settings_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "bnid = \"127.0.0.1:1\"\n").unwrap();
    let e = Settings::load(Some(&f), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bnid"), "{e}");
    std::fs::write(&f, "bind = \"localhost\"\n").unwrap();
    let e = Settings::load(Some(&f), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("bind"), "{e}");
    let o = Overrides {
        database_url: Some("mysql://x".into()),
        ..Default::default()
    };
    let e = Settings::load(Some(&std::path::PathBuf::from("/nonexistent.toml")), &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent.toml"), "{e}");
    std::fs::write(&f, "").unwrap();
    let e = Settings::load(Some(&f), &o).unwrap_err().to_string();
    assert!(e.contains("DATABASE_URL"), "{e}");
}

#[test]
fn operator_commands_create_users_tenants_and_tokens() {
    let app = TestApp::spawn();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::for_test(dir.path(), &app.db.url);
    s.secret_key = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=".into();
    let out = run_blocking(
        Command::User(UserCmd::Create {
            email: "Root@Example.test".into(),
            name: "Root".into(),
            role: "agency_admin".into(),
            agency: None,
            agency_name: Some("Ops".into()),
            tenant: None,
            stores: vec![],
            password_stdin: false,
        }),
        &s,
    )
    .unwrap();
    let pw = out
        .lines()
        .last()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(
        out.contains("password (shown once)") && pw.len() == 20,
        "{out}"
    );
    let dup = run_blocking(
        Command::User(UserCmd::Create {
            email: "root@example.test".into(),
            name: "R".into(),
            role: "agency_admin".into(),
            agency: None,
            agency_name: Some("X".into()),
            tenant: None,
            stores: vec![],
            password_stdin: false,
        }),
        &s,
    );
    assert!(dup
        .unwrap_err()
        .to_string()
        .contains("already has an account"));
    let agencies = patron_store::tenants::agency_ids(&mut app.conn()).unwrap();
    let out = run_blocking(
        Command::Tenant(TenantCmd::Create {
            agency: agencies[0],
            name: "Noodle Bar".into(),
            slug: "noodle".into(),
            time_zone: "Asia/Shanghai".into(),
            wx_appid: "wx2c2769f8efd9abc2".into(),
            wx_original_id: String::new(),
            wx_token: "spamtest".into(),
            wx_aes_key: "short".into(),
            wx_app_secret: String::new(),
            wx_message_mode: "safe".into(),
            wx_account_kind: "subscription".into(),
            wx_api_base: String::new(),
        }),
        &s,
    );
    assert!(out.unwrap_err().to_string().contains("--wx-aes-key"));
    let ok = run_blocking(
        Command::Tenant(TenantCmd::Create {
            agency: agencies[0],
            name: "Noodle Bar".into(),
            slug: "noodle".into(),
            time_zone: "Asia/Shanghai".into(),
            wx_appid: String::new(),
            wx_original_id: String::new(),
            wx_token: String::new(),
            wx_aes_key: String::new(),
            wx_app_secret: String::new(),
            wx_message_mode: "safe".into(),
            wx_account_kind: "subscription".into(),
            wx_api_base: String::new(),
        }),
        &s,
    )
    .unwrap();
    assert!(ok.contains("/wx/noodle"));
    let token = run_blocking(
        Command::Token(TokenCmd::Create {
            tenant: "noodle".into(),
            name: "script".into(),
        }),
        &s,
    )
    .unwrap();
    assert!(token.starts_with("pat_"));
    assert!(run_blocking(
        Command::Token(TokenCmd::Create {
            tenant: "nope".into(),
            name: "x".into()
        }),
        &s
    )
    .is_err());

    // The generated password signs in, and the token works against the running server.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        app.client().login("root@example.test", &pw).await;
        let r = app
            .client()
            .api(reqwest::Method::GET, "/api/v1/tenant", &token, None)
            .await;
        assert_eq!(r.json()["slug"], "noodle");
    });
    let reset = run_blocking(
        Command::User(UserCmd::ResetPassword {
            email: "root@example.test".into(),
            password_stdin: false,
        }),
        &s,
    )
    .unwrap();
    assert!(reset.contains("new password (shown once)"));

    // The dashboards' figures rebuilt for one tenant from a day, then refused for a
    // tenant that does not exist.
    let from = patron_store::now().date() - chrono::TimeDelta::days(2);
    let rolled = run_blocking(
        Command::Stats(StatsCmd::Rebuild {
            tenant: Some("noodle".into()),
            from: Some(from),
        }),
        &s,
    )
    .unwrap();
    assert!(rolled.contains("of 1 tenant(s)"), "{rolled}");
    let e = run_blocking(
        Command::Stats(StatsCmd::Rebuild {
            tenant: Some("nope".into()),
            from: None,
        }),
        &s,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no tenant nope"), "{e}");
}

/// `patron tenant pay`: the merchant account set from the command line, keys read from
/// stdin (out of the shell history), sealed at rest, refused field by field when wrong.
#[test]
fn tenant_pay_sets_the_merchant_account_with_keys_from_stdin() {
    use std::io::Write;
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "paycli");
    let pem = app.data_dir().join("platform.pem");
    std::fs::write(
        &pem,
        include_str!("../../crates/wechat/src/pay/testdata/platform_public.pem"),
    )
    .unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_patron"))
            .arg("--data-dir")
            .arg(app.data_dir())
            .args(["--database-url", &app.db.url])
            .args(args)
            .env("PATRON_LOG_LEVEL", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let pem_arg = pem.to_string_lossy().into_owned();
    let (ok, out) = run(
        &[
            "tenant",
            "pay",
            "--slug",
            &w.slug,
            "--mch-id",
            "12ab",
            "--apiv2-key",
            "-",
        ],
        "short\n",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("--mch-id") && out.contains("--apiv2-key"),
        "{out}"
    );
    let (ok, out) = run(
        &[
            "tenant",
            "pay",
            "--slug",
            &w.slug,
            "--mch-id",
            "1900000109",
            "--apiv2-key",
            "-",
            "--apiv3-key",
            "-",
            "--public-key-file",
            &pem_arg,
            "--public-key-id",
            "PUB_KEY_ID_0114232134912410000000000000",
        ],
        "192006250b4c09247ec02edce69f6a2d\n0123456789abcdefABCDEF0123456789\n",
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("APIv2 key set") && out.contains("/pay/"),
        "{out}"
    );
    assert!(!out.contains("192006250b4c"), "a key was printed: {out}");
    let s = patron_store::payments::settings(&mut app.conn(), &w.scope, &app.state.secrets)
        .unwrap()
        .unwrap();
    assert_eq!(s.mch_id, "1900000109");
    assert_eq!(
        s.apiv3_key.as_deref(),
        Some("0123456789abcdefABCDEF0123456789")
    );
    assert_eq!(
        s.platform_keys[0].id,
        "PUB_KEY_ID_0114232134912410000000000000"
    );
}

/// `patron demo --no-serve`: three merchant accounts under one agency, each with
/// followers, messages, redemptions and payments written through the write paths, daily
/// figures that agree with the rows, the printed password signing in, and a second run
/// that finds the demo instead of seeding it again.
#[test]
fn demo_seeds_three_merchants_with_history_once() {
    use diesel::prelude::*;
    use patron_store::schema::{
        coupon_events as ev, coupons as cp, followers as f, messages as m, payments as p,
        stats_daily as sd, tenants as t, users as u,
    };
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path());
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_patron"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--database-url", &db.url])
            .args(["demo", "--no-serve", "--days", "14"])
            .env("PATRON_LOG_LEVEL", "warn")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let password = |out: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix("password"))
            .map(|p| p.trim().to_string())
            .unwrap_or_else(|| panic!("no password in {out}"))
    };
    let first = run();
    assert!(first.contains("seeded just now"), "{first}");
    let pool = patron_store::DbPool::connect(&db.url, 2).unwrap();
    let mut c = pool.get().unwrap();

    // One agency, three merchant accounts, each with a living history.
    let agencies = patron_store::tenants::agency_ids(&mut c).unwrap();
    assert_eq!(agencies.len(), 1);
    let tenants: Vec<(i64, String, String)> = t::table
        .filter(t::agency_id.eq(agencies[0]))
        .select((t::id, t::slug, t::time_zone))
        .load(&mut *c)
        .unwrap();
    assert_eq!(tenants.len(), 3, "{tenants:?}");
    let count = |c: &mut patron_store::DbConn, table: &str, tenant: i64| -> i64 {
        match table {
            "followers" => f::table
                .filter(f::tenant_id.eq(tenant))
                .count()
                .get_result(c),
            "messages" => m::table
                .filter(m::tenant_id.eq(tenant))
                .count()
                .get_result(c),
            "coupons" => cp::table
                .filter(cp::tenant_id.eq(tenant))
                .count()
                .get_result(c),
            "redeemed" => cp::table
                .filter(cp::tenant_id.eq(tenant))
                .filter(cp::status.eq("redeemed"))
                .count()
                .get_result(c),
            "payments" => p::table
                .filter(p::tenant_id.eq(tenant))
                .count()
                .get_result(c),
            other => panic!("{other}"),
        }
        .unwrap()
    };
    const TABLES: [&str; 5] = ["followers", "messages", "coupons", "redeemed", "payments"];
    let mut before = Vec::new();
    for (id, slug, _) in &tenants {
        for table in TABLES {
            let n = count(&mut c, table, *id);
            assert!(n > 0, "{slug}: no {table}");
            before.push(n);
        }
        // Nothing was left stamped with the seed's own time: the history is in the past
        // and spread over the period.
        let (oldest, newest): (Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>) =
            f::table
                .filter(f::tenant_id.eq(id))
                .select((
                    diesel::dsl::min(f::created_at),
                    diesel::dsl::max(f::created_at),
                ))
                .first(&mut *c)
                .unwrap();
        let span = newest.unwrap() - oldest.unwrap();
        assert!(
            span > chrono::TimeDelta::days(10),
            "{slug}: followers over {span}"
        );
        let received: i64 = m::table
            .filter(m::tenant_id.eq(id))
            .filter(m::received_at.ne(m::sent_at))
            .count()
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(received, 0, "{slug}: messages received at the seed's time");
    }
    // The café's coupons were redeemed at several of its stores.
    let cafe = tenants.iter().find(|t| t.1 == "dawn-coffee").unwrap().0;
    let stores: Vec<Option<i64>> = cp::table
        .filter(cp::tenant_id.eq(cafe))
        .filter(cp::status.eq("redeemed"))
        .select(cp::redeemed_store_id)
        .distinct()
        .load(&mut *c)
        .unwrap();
    assert!(stores.len() >= 2, "{stores:?}");

    // The daily figures agree with the rows: yesterday's follows and redemptions.
    for (id, slug, tz) in &tenants {
        let tz = patron_domain::validate::stored_time_zone(tz);
        let today = patron_store::now()
            .and_utc()
            .with_timezone(&tz)
            .date_naive();
        let w = patron_store::stats::Window::new(today.pred_opt().unwrap(), tz);
        let figure = |c: &mut patron_store::DbConn, metric: &str| -> i64 {
            sd::table
                .filter(sd::tenant_id.eq(id))
                .filter(sd::day.eq(w.day))
                .filter(sd::metric.eq(metric))
                .select(sd::value)
                .load::<i64>(c)
                .unwrap()
                .iter()
                .sum()
        };
        let follows: i64 = m::table
            .filter(m::tenant_id.eq(id))
            .filter(m::event.eq("subscribe"))
            .filter(m::sent_at.ge(w.from))
            .filter(m::sent_at.lt(w.to))
            .count()
            .get_result(&mut *c)
            .unwrap();
        assert!(follows > 0, "{slug}: nobody followed yesterday");
        assert_eq!(figure(&mut c, "follows"), follows, "{slug}: follows");
        let redeemed: i64 = ev::table
            .filter(ev::tenant_id.eq(id))
            .filter(ev::action.eq("redeem"))
            .filter(ev::at.ge(w.from))
            .filter(ev::at.lt(w.to))
            .count()
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(figure(&mut c, "redeemed"), redeemed, "{slug}: redemptions");
        // The kept follower counts agree with the rows.
        let scope = patron_domain::TenantScope::system(
            patron_store::tenants::find_ref_by_slug(&mut c, slug)
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            patron_store::followers::count(&mut c, &scope).unwrap(),
            patron_store::followers::count_by_scan(&mut c, &scope).unwrap(),
        );
    }
    // Every follower's points ledger balances.
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let unbalanced = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM (SELECT follower_id FROM points_ledger \
         GROUP BY follower_id HAVING SUM(points) <> SUM(remaining)) AS x",
    )
    .get_result::<N>(&mut *c)
    .unwrap()
    .n;
    assert_eq!(unbalanced, 0);
    let admin_hash = |c: &mut patron_store::DbConn| -> String {
        u::table
            .filter(u::email.eq("admin@demo.patron.example"))
            .select(u::password_hash)
            .first(c)
            .unwrap()
    };
    assert!(patron_web::password::verify(
        &admin_hash(&mut c),
        &password(&first)
    ));
    drop(c);

    // A second run serves the same demo: nothing seeded twice, a new password.
    let second = run();
    assert!(second.contains("seeded earlier"), "{second}");
    let mut c = pool.get().unwrap();
    let mut after = Vec::new();
    for (id, _, _) in &tenants {
        for table in TABLES {
            after.push(count(&mut c, table, *id));
        }
    }
    assert_eq!(before, after);
    assert_eq!(
        t::table.count().get_result::<i64>(&mut *c).unwrap(),
        3,
        "tenants"
    );
    assert!(patron_web::password::verify(
        &admin_hash(&mut c),
        &password(&second)
    ));
}
