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
