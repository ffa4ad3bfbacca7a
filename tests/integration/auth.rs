//! Sign-in, sessions, CSRF, throttling, roles, first run.

use crate::support::*;

#[tokio::test]
async fn first_run_setup_creates_the_agency_admin_once() {
    let app = TestApp::spawn();
    let link = app
        .setup_link
        .clone()
        .expect("an empty installation prints a setup link");
    let path = link.strip_prefix(&app.base).unwrap();
    let c = app.client();
    assert_eq!(c.get("/setup?token=wrong").await.status, 404);
    assert_eq!(c.get(path).await.status, 200);
    let token = path.split("token=").nth(1).unwrap();

    // Bad input: a form message, nothing stored.
    let r = c
        .post(
            "/setup",
            &[
                ("token", token),
                ("agency_name", "Acme"),
                ("name", "Ada"),
                ("email", "ada@example.test"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.body.contains("at least 10 characters"), "{}", r.body);
    assert_eq!(patron_store::users::count(&mut app.conn()).unwrap(), 0);

    let r = c
        .post(
            "/setup",
            &[
                ("token", token),
                ("agency_name", "Acme"),
                ("name", "Ada"),
                ("email", "ada@example.test"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/agency/tenants"));
    // Signed in straight away.
    assert_eq!(c.get("/agency/tenants").await.status, 200);
    // The link is spent, for everyone.
    assert_eq!(app.client().get(path).await.status, 404);
    let again = app
        .client()
        .post(
            "/setup",
            &[
                ("token", token),
                ("agency_name", "Evil"),
                ("name", "Eve"),
                ("email", "eve@example.test"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(patron_store::users::count(&mut app.conn()).unwrap(), 1);
}

#[tokio::test]
async fn login_logout_and_revoked_sessions() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    // Not signed in: sent to the login page with a way back.
    let r = c.get("/agency/tenants").await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.location.as_deref(),
        Some("/login?next=%2Fagency%2Ftenants")
    );

    let bad = c
        .post(
            "/login",
            &[("email", &w.admin_email), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("Email or password is wrong"));

    let r = c
        .post(
            "/login",
            &[
                ("email", &w.admin_email.to_uppercase()),
                ("password", PASSWORD),
                ("next", "/agency/users"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/agency/users"));
    let cookie = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("patron_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session_value = cookie.split(';').next().unwrap().to_string();
    assert_eq!(c.get("/agency/tenants").await.status, 200);

    // An open redirect is refused.
    let evil = app.client();
    let r = evil
        .post(
            "/login",
            &[
                ("email", &w.admin_email),
                ("password", PASSWORD),
                ("next", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/"));

    let out = c.post("/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(c.get("/agency/tenants").await.status, 303);
    // The old cookie value is dead on the server, not just forgotten by the browser.
    let replay = app.client();
    let r = replay
        .get_with("/agency/tenants", &[("cookie", &session_value)])
        .await;
    assert_eq!(r.status, 303, "a logged-out session must not work again");
}

#[tokio::test]
async fn password_change_signs_out_other_sessions() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let phone = app.client();
    phone.login(&w.merchant_email, PASSWORD).await;
    let desk = app.client();
    desk.login(&w.merchant_email, PASSWORD).await;
    let wrong = desk
        .post(
            "/account/password",
            &[
                ("current_password", "nope nope nope"),
                ("password", "a new passphrase 1"),
                ("password_confirm", "a new passphrase 1"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("current password is wrong"));
    let r = desk
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("password", "a new passphrase 1"),
                ("password_confirm", "a new passphrase 1"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let slug_path = format!("/t/{}", w.slug);
    assert_eq!(
        desk.get(&slug_path).await.status,
        200,
        "the session that changed it stays"
    );
    assert_eq!(
        phone.get(&slug_path).await.status,
        303,
        "other sessions are signed out"
    );
    let again = app.client();
    assert_eq!(
        again
            .post(
                "/login",
                &[("email", &w.merchant_email), ("password", PASSWORD)]
            )
            .await
            .status,
        401
    );
    again.login(&w.merchant_email, "a new passphrase 1").await;
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.admin_email, PASSWORD).await;
    let before = row_counts(&mut app.conn());
    // Every state-changing browser route, from the route table, so new routes are covered.
    let mut checked = 0;
    for r in patron_web::routes::ROUTES.iter().filter(|r| {
        r.method == "post"
            && matches!(
                r.access,
                patron_web::routes::Access::Public | patron_web::routes::Access::Session
            )
    }) {
        let path = fill_route(r.path, &w).replace("{token}", "some-token");
        let missing = c.post_raw(&path, &[("name", "x")]).await;
        assert_eq!(
            missing.status, 403,
            "POST {path} without a CSRF token: {}",
            missing.body
        );
        let forged = c
            .post_raw(&path, &[("csrf", "forged"), ("name", "x")])
            .await;
        assert_eq!(forged.status, 403, "POST {path} with a forged CSRF token");
        checked += 1;
    }
    assert!(checked >= 15, "the sweep found only {checked} routes");
    assert_eq!(
        row_counts(&mut app.conn()),
        before,
        "a refused form changed data"
    );
    // Still signed in: the refused logout did nothing.
    assert_eq!(c.get("/agency/tenants").await.status, 200);

    // A token from another browser's cookie does not work either.
    let other = app.client();
    let foreign = other.csrf().await;
    let r = c
        .post_raw(
            "/agency/tenants",
            &[("csrf", &foreign), ("name", "Stolen"), ("slug", "stolen")],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_then_the_address() {
    let app = TestApp::spawn_with(false, |s| {
        s.login_max_per_account = 3;
        s.login_max_per_ip = 5;
    });
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    for _ in 0..3 {
        assert_eq!(
            c.post(
                "/login",
                &[("email", &w.admin_email), ("password", "not it at all")]
            )
            .await
            .status,
            401
        );
    }
    // Locked: even the right password is refused, with a clear message.
    let r = c
        .post(
            "/login",
            &[("email", &w.admin_email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(
        r.body.contains("Too many failed sign-in attempts"),
        "{}",
        r.body
    );
    assert!(r.body.contains("minutes"));
    // Another account from the same address still works until the address limit.
    c.login(&w.merchant_email, PASSWORD).await;
    let d = app.client();
    for who in ["x1", "x2"] {
        let email = format!("{who}@example.test");
        assert_eq!(
            d.post(
                "/login",
                &[("email", &email), ("password", "nope nope nope")]
            )
            .await
            .status,
            401
        );
    }
    // 5 failures from 127.0.0.1 now: every account is refused from this address.
    let r = d
        .post(
            "/login",
            &[("email", &w.marketer_email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 429);
    // In Chinese too.
    let zh = app.client();
    let page = zh
        .get_with("/login", &[("accept-language", "zh-CN,zh;q=0.9")])
        .await;
    assert!(page.body.contains("登录"));
}

#[tokio::test]
async fn roles_decide_what_each_user_reaches() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let t = format!("/t/{}", w.slug);
    let cases: &[(&str, &str, u16)] = &[
        // A cashier's dashboard is the till.
        (&w.cashier_email, "", 303),
        (&w.cashier_email, "/cashier", 200),
        (&w.cashier_email, "/stores", 200),
        (&w.cashier_email, "/users", 403),
        (&w.cashier_email, "/tokens", 403),
        (&w.cashier_email, "/settings", 403),
        (&w.marketer_email, "", 200),
        (&w.marketer_email, "/users", 403),
        (&w.marketer_email, "/tokens", 403),
        (&w.merchant_email, "/users", 200),
        (&w.merchant_email, "/tokens", 200),
        (&w.merchant_email, "/settings", 200),
        (&w.admin_email, "/settings", 200),
    ];
    for (email, suffix, want) in cases {
        let c = app.client();
        c.login(email, PASSWORD).await;
        let r = c.get(&format!("{t}{suffix}")).await;
        assert_eq!(r.status, *want, "{email} GET {t}{suffix}");
    }
    // Agency pages are for agency admins only.
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    assert_eq!(c.get("/agency/tenants").await.status, 404);
    // A cashier cannot change anything in the tenant, even with a valid form.
    let c = app.client();
    c.login(&w.cashier_email, PASSWORD).await;
    let before = row_counts(&mut app.conn());
    assert_eq!(
        c.post(
            &format!("{t}/stores"),
            &[("name", "Sneaky"), ("address", "")]
        )
        .await
        .status,
        403
    );
    assert_eq!(
        c.post(
            &format!("{t}/invitations"),
            &[("email", "x@example.test"), ("role", "merchant_admin")]
        )
        .await
        .status,
        403
    );
    assert_eq!(row_counts(&mut app.conn()), before);
    // A merchant admin cannot mint agency admins.
    let c = app.client();
    c.login(&w.merchant_email, PASSWORD).await;
    let r = c
        .post(
            &format!("{t}/invitations"),
            &[("email", "boss@example.test"), ("role", "agency_admin")],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(row_counts(&mut app.conn()), before);
}

#[tokio::test]
async fn tenant_forms_report_every_problem_and_store_nothing() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.admin_email, PASSWORD).await;
    let before = row_counts(&mut app.conn());
    let r = c
        .post(
            "/agency/tenants",
            &[
                ("name", ""),
                ("slug", "Bad Slug"),
                ("time_zone", "Mars/Base"),
                ("wx_appid", "wx1"),
                ("wx_aes_key", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    for needle in [
        "required",
        "lowercase letters",
        "unknown time zone",
        "16 hex digits",
        "43 letters",
    ] {
        assert!(
            r.body.contains(needle),
            "missing {needle:?} in the form errors"
        );
    }
    let dup = c
        .post("/agency/tenants", &[("name", "Copy"), ("slug", &w.slug)])
        .await;
    assert_eq!(dup.status, 422);
    assert!(dup.body.contains("already used"));
    assert_eq!(row_counts(&mut app.conn()), before);

    // A valid tenant with WeChat settings: secrets are stored encrypted and never shown.
    let r = c
        .post(
            "/agency/tenants",
            &[
                ("name", "Tea House"),
                ("slug", "tea-house"),
                ("time_zone", ""),
                ("wx_appid", "wx2c2769f8efd9abc2"),
                ("wx_original_id", "gh_10f6c3c3ac5a"),
                ("wx_token", "spamtest"),
                ("wx_aes_key", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
                ("wx_app_secret", "0123456789abcdef0123456789abcdef"),
                ("wx_message_mode", "safe"),
                ("wx_account_kind", "service"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/t/tea-house"));
    let scope = patron_store::tenants::system_scope_by_slug(&mut app.conn(), "tea-house").unwrap();
    let t = patron_store::tenants::get(&mut app.conn(), &scope).unwrap();
    assert_eq!(t.time_zone, "Asia/Shanghai");
    let enc = t.wx_app_secret_enc.clone().unwrap();
    assert!(!enc.contains("0123456789abcdef"), "stored in the clear");
    let secrets = t.wechat_secrets(&app.state.secrets).unwrap();
    assert_eq!(secrets.token.as_deref(), Some("spamtest"));
    let page = c.get("/t/tea-house/settings").await;
    assert!(
        !page.body.contains("0123456789abcdef0123456789abcdef") && !page.body.contains("spamtest")
    );

    // Rotating the EncodingAESKey keeps the previous one.
    let new_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let r = c
        .post(
            "/t/tea-house/settings",
            &[
                ("name", "Tea House"),
                ("slug", "tea-house"),
                ("time_zone", "Asia/Shanghai"),
                ("wx_appid", "wx2c2769f8efd9abc2"),
                ("wx_aes_key", new_key),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let t = patron_store::tenants::get(&mut app.conn(), &scope).unwrap();
    let s = t.wechat_secrets(&app.state.secrets).unwrap();
    assert_eq!(s.aes_key.as_deref(), Some(new_key));
    assert_eq!(
        s.prev_aes_key.as_deref(),
        Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    );
    assert_eq!(
        s.app_secret.as_deref(),
        Some("0123456789abcdef0123456789abcdef"),
        "blank secret fields keep the stored value"
    );
}

#[tokio::test]
async fn pages_carry_security_headers_and_errors_leak_nothing() {
    let app = TestApp::spawn();
    let c = app.client();
    let r = c.get("/login").await;
    let h = |k: &str| {
        r.headers
            .get(k)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("referrer-policy"), "same-origin");
    assert_eq!(h("x-request-id").len(), 16);
    let nf = c.get("/no/such/page").await;
    assert_eq!(nf.status, 404);
    // In the visitor's language (English without a preference; see the next test).
    assert!(nf.body.contains("does not exist") && !nf.body.contains("页面不存在"));
    // An oversized form is refused before any handler runs.
    let big = "x".repeat(100 * 1024);
    let r = c
        .post("/login", &[("email", &big), ("password", "x")])
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(c.get("/healthz").await.body, "ok");
    assert_eq!(c.get("/readyz").await.status, 200);
    // Static files are embedded and cacheable.
    let css = c.get("/static/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css
        .headers
        .get("cache-control")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("immutable"));
}

#[tokio::test]
async fn the_language_follows_the_user_then_the_browser() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    let zh = c.get_with("/login", &[("accept-language", "zh-CN")]).await;
    assert!(zh.body.contains("<html lang=\"zh-CN\">") && zh.body.contains("登录"));
    let en = c.get_with("/login", &[("accept-language", "en-US")]).await;
    assert!(en.body.contains("Sign in"));
    c.login(&w.merchant_email, PASSWORD).await;
    let r = c
        .post("/lang", &[("lang", "zh-CN"), ("back", "/account")])
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/account"));
    // The account's setting beats the browser's header.
    let page = c
        .get_with(&format!("/t/{}", w.slug), &[("accept-language", "en-US")])
        .await;
    assert!(page.body.contains("退出登录"), "{}", page.body);
}

#[tokio::test]
async fn agency_admins_rename_their_agency_and_no_one_else_can() {
    let app = TestApp::spawn();
    let w = world(&mut app.conn(), "a");
    let c = app.client();
    c.login(&w.admin_email, PASSWORD).await;
    assert_eq!(
        c.post("/agency/settings", &[("agency_name", " ")])
            .await
            .status,
        422
    );
    let r = c
        .post("/agency/settings", &[("agency_name", "Acme Digital")])
        .await;
    assert_eq!(r.status, 303);
    let agency = w.scope.agency_id();
    assert_eq!(
        patron_store::tenants::agency(&mut app.conn(), agency)
            .unwrap()
            .name,
        "Acme Digital"
    );
    let m = app.client();
    m.login(&w.merchant_email, PASSWORD).await;
    assert_eq!(
        m.post("/agency/settings", &[("agency_name", "Hijacked")])
            .await
            .status,
        404
    );
    assert_eq!(
        patron_store::tenants::agency(&mut app.conn(), agency)
            .unwrap()
            .name,
        "Acme Digital"
    );
}

/// Error pages speak the visitor's language from the catalogues and carry the request id
/// the log line has, so a user can quote it.
#[tokio::test]
async fn error_pages_carry_the_request_id_in_the_visitors_language() {
    let app = TestApp::spawn();
    let c = app.client();
    let r = c
        .get_with("/no/such/page", &[("Accept-Language", "zh-CN,zh;q=0.9")])
        .await;
    assert_eq!(r.status, 404);
    let id = r.headers["x-request-id"].to_str().unwrap().to_string();
    assert!(
        r.body
            .contains(&format!("<code id=\"request-id\">{id}</code>")),
        "{}",
        r.body
    );
    assert!(r.body.contains("页面不存在。"), "{}", r.body);
    assert!(r.body.contains("<html lang=\"zh-CN\">"));
    let r = c
        .get_with("/no/such/page", &[("Accept-Language", "en")])
        .await;
    assert!(r.body.contains("This page does not exist."), "{}", r.body);
    assert!(!r.body.contains("页面不存在"));
}
