//! The test harness: a real server on a loopback port over a fresh database, a cookie-keeping
//! HTTP client, fixtures made through the store, and a real SMTP server process.

use actix_web::web;
use patron::config::Settings;
use patron_domain::{AgencyId, AgencyScope, Role, StoreId, TenantScope};
use patron_store::tenants::{self, TenantInput};
use patron_store::{DbConn, StoreError};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple";

/// A fresh database for one test: SQLite in a temp dir, or a PostgreSQL schema.
pub struct TestDb {
    pub url: String,
    schema: Option<(String, String)>,
}

fn random_suffix() -> String {
    use rand::RngCore;
    let mut b = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The backend this run uses: PostgreSQL when `PATRON_TEST_DATABASE_URL` is set.
pub fn backend_under_test() -> patron_store::Backend {
    match std::env::var("PATRON_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => patron_store::Backend::Postgres,
        _ => patron_store::Backend::Sqlite,
    }
}

/// Says once, in the test output itself (written past the test harness's capture), which
/// backend the integration tests run on.
fn announce_backend() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "integration tests: database backend = {:?}",
            backend_under_test()
        );
    });
}

impl TestDb {
    pub fn new(dir: &Path) -> TestDb {
        announce_backend();
        match std::env::var("PATRON_TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                assert!(
                    base.starts_with("postgres"),
                    "PATRON_TEST_DATABASE_URL must be a postgres:// URL"
                );
                let schema = format!("patron_test_{}", random_suffix());
                let admin = patron_store::DbPool::connect(&base, 1).unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for this run and is unreachable: {e}")
                });
                diesel::connection::SimpleConnection::batch_execute(
                    &mut *admin.get().unwrap(),
                    &format!("CREATE SCHEMA {schema}"),
                )
                .unwrap();
                drop(admin);
                let sep = if base.contains('?') { '&' } else { '?' };
                TestDb {
                    url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
                    schema: Some((base, schema)),
                }
            }
            _ => TestDb {
                url: format!("sqlite://{}", dir.join("patron.db").display()),
                schema: None,
            },
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.schema {
            if let Ok(pool) = patron_store::DbPool::connect(base, 1) {
                if let Ok(mut c) = pool.get() {
                    let _ = diesel::connection::SimpleConnection::batch_execute(
                        &mut *c,
                        &format!("DROP SCHEMA {schema} CASCADE"),
                    );
                }
            }
        }
    }
}

/// A real SMTP server (aiosmtpd) on loopback that stores every message it receives.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl SmtpSink {
    pub fn start(dir: &Path) -> SmtpSink {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut child = Command::new("python3")
            .arg(root.join("tests/support/smtp_sink.py"))
            .args(["--port", "0", "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed (see tests/requirements.txt)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("SMTP_PORT=")
            .unwrap_or_else(|| panic!("SMTP sink did not start (is aiosmtpd installed?): {line:?}"))
            .parse()
            .unwrap();
        SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// How many messages to `to` arrived so far.
    pub fn count_for(&self, to: &str) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.ends_with(".eml") && name.contains(to)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits (up to 10 s) for a message to `to` and returns its decoded text.
    pub fn wait_for(&self, to: &str, nth: usize) -> String {
        for _ in 0..200 {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            files.sort();
            let mine: Vec<&PathBuf> = files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .filter(|p| p.file_name().unwrap().to_string_lossy().contains(to))
                .collect();
            if let Some(p) = mine.get(nth) {
                return decode_mail(&std::fs::read(p).unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no mail #{nth} to {to} arrived within 10 s");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headers plus the body with quoted-printable and base64 undone (enough for our mails).
fn decode_mail(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        use base64::Engine;
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap(),
        )
        .unwrap()
    } else if head.to_ascii_lowercase().contains("quoted-printable") {
        let soft = body.replace("=\n", "");
        let mut out = Vec::new();
        let b = soft.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                if let Ok(v) = u8::from_str_radix(&soft[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_string()
    };
    format!("{head}\n\n{body}")
}

/// Finds the first `http…` link in a mail that contains `needle`.
pub fn link_in(mail: &str, needle: &str) -> String {
    mail.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(needle))
        .unwrap_or_else(|| panic!("no link with {needle} in mail:\n{mail}"))
        .to_string()
}

/// A real `patron serve` process of the binary under test, on a loopback port, killed
/// (SIGKILL) when dropped: for what only another process can show (a crash, a second
/// process sharing the database).
pub struct ServeProcess {
    child: Child,
    pub base: String,
}

impl ServeProcess {
    /// Starts `patron serve` over `url` with its own `data` directory and extra
    /// environment, and waits until it is ready.
    pub async fn start(data: &Path, url: &str, env: &[(&str, &str)]) -> ServeProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patron"));
        cmd.args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .args(["--database-url", url])
        .env("PATRON_LOG_LEVEL", "warn")
        .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = ServeProcess {
            child: cmd.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ready = reqwest::get(format!("{}/readyz", server.base)).await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "patron serve did not get ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Posts a plaintext push to `/wx/{slug}` signed with `token` as WeChat signs it;
    /// returns the status and the answer.
    pub async fn push_plain(&self, slug: &str, token: &str, body: &str) -> (u16, String) {
        let (ts, nonce) = (&wx_timestamp(), "486452656");
        let sig = patron_wechat::signature::url_signature(token, ts, nonce);
        let r = reqwest::Client::new()
            .post(format!(
                "{}/wx/{slug}?signature={sig}&timestamp={ts}&nonce={nonce}",
                self.base
            ))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct TestApp {
    pub base: String,
    pub state: web::Data<patron_web::AppState>,
    pub setup_link: Option<String>,
    pub mail: Option<SmtpSink>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    pub db: TestDb,
    workers: Option<patron_jobs::WorkerHandle>,
    /// Jobs may end `failed` in this test (it tests failures); otherwise one failing
    /// jobs fails the test when the app is dropped.
    pub failed_jobs_expected: bool,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn spawn() -> TestApp {
        Self::spawn_with(false, |_| {})
    }

    pub fn with_mail() -> TestApp {
        Self::spawn_with(true, |_| {})
    }

    pub fn spawn_with(mail: bool, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(dir.path());
        let mut s = Settings::for_test(&dir.path().join("data"), &db.url);
        let sink = mail.then(|| {
            let d = dir.path().join("mail");
            std::fs::create_dir_all(&d).unwrap();
            SmtpSink::start(&d)
        });
        if let Some(sink) = &sink {
            s.mail_transport = patron_mail::Transport::Smtp;
            s.smtp_host = "127.0.0.1".into();
            s.smtp_port = sink.port;
            s.smtp_tls = patron_mail::SmtpTls::None;
            s.mail_from = "Patron <patron@example.test>".into();
        }
        tweak(&mut s);
        let listener = patron::serve::listen(&s).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let prepared = patron::serve::prepare(&s, &base).unwrap();
        let state = prepared.state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = patron::serve::http_server(&s, prepared.state, listener).unwrap();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            })
        });
        let handle = rx.recv().unwrap();
        TestApp {
            base,
            state,
            setup_link: prepared.setup_link,
            mail: sink,
            handle,
            thread: Some(thread),
            db,
            workers: None,
            failed_jobs_expected: false,
            _dir: dir,
        }
    }

    /// The app's data directory (its `secret.key`: another process over the same
    /// database needs the same key to read the tenants' secrets).
    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Starts the job workers `patron serve` runs (tests of the queue itself run their own).
    pub fn start_workers(&mut self) {
        self.workers = Some(patron::serve::start_workers(
            &self.state,
            1,
            std::time::Duration::from_secs(300),
        ));
    }

    /// A connection to the app's database, once every push acknowledged so far is in it:
    /// on PostgreSQL plain pushes are acknowledged from the ingest journal and stored a
    /// few milliseconds later.
    pub fn conn(&self) -> r2d2::PooledConnection<patron_store::conn::Manager> {
        self.settle();
        self.state.pool.get().unwrap()
    }

    /// Waits until every push acknowledged so far is in the database.
    pub fn settle(&self) {
        assert!(
            self.state.ingest.settle(std::time::Duration::from_secs(30)),
            "the ingest journal did not drain into the database"
        );
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    pub fn mail(&self) -> &SmtpSink {
        self.mail
            .as_ref()
            .expect("this TestApp was started without mail")
    }
}

impl TestApp {
    /// What must hold at the end of every test, whatever it did (crates.io's TestApp
    /// checks its own on drop): the points ledger balances per follower (its amounts and
    /// what is left of them agree), the follower counts kept by triggers match a count of
    /// the rows for every tenant, and no job failed unless the test said it would.
    pub fn check_invariants(&self) {
        use diesel::prelude::*;
        use diesel::sql_types::BigInt;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        self.settle();
        let mut c = self.state.pool.get().unwrap();
        let unbalanced = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM (SELECT follower_id FROM points_ledger \
             GROUP BY follower_id HAVING SUM(points) <> SUM(remaining)) AS x",
        )
        .get_result::<N>(&mut *c)
        .unwrap()
        .n;
        assert_eq!(
            unbalanced, 0,
            "followers whose points ledger does not balance"
        );
        let tenants: Vec<(i64, i64)> = patron_store::schema::tenants::table
            .select((
                patron_store::schema::tenants::id,
                patron_store::schema::tenants::agency_id,
            ))
            .load(&mut *c)
            .unwrap();
        for (id, agency) in tenants {
            let scope = TenantScope::system(patron_domain::TenantRef {
                id: patron_domain::TenantId(id),
                agency_id: AgencyId(agency),
            });
            assert_eq!(
                patron_store::followers::count(&mut c, &scope).unwrap(),
                patron_store::followers::count_by_scan(&mut c, &scope).unwrap(),
                "tenant {id}: kept follower counts differ from the rows"
            );
        }
        if !self.failed_jobs_expected {
            let failed: Vec<(String, Option<String>)> = patron_store::schema::jobs::table
                .filter(patron_store::schema::jobs::state.eq(patron_store::jobs::FAILED))
                .filter(
                    patron_store::schema::jobs::last_error
                        .ne(WORLD_FAILED_JOB)
                        .or(patron_store::schema::jobs::last_error.is_null()),
                )
                .select((
                    patron_store::schema::jobs::kind,
                    patron_store::schema::jobs::last_error,
                ))
                .load(&mut *c)
                .unwrap();
            assert!(failed.is_empty(), "jobs failed: {failed:?}");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Checked only for a test that passed so far (a second panic would abort).
        if !std::thread::panicking() {
            self.check_invariants();
        }
        let h = self.handle.clone();
        // Stop the server from outside its runtime.
        let _ =
            std::thread::spawn(move || actix_web::rt::System::new().block_on(h.stop(false))).join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A browser-like client: keeps cookies, does not follow redirects, knows the CSRF token.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    async fn finish(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let body = r.text().await.unwrap();
        Resp {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        Self::finish(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut rb = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        Self::finish(rb.send().await.unwrap()).await
    }

    /// The CSRF token this client's forms carry (read from a page like a browser would).
    pub async fn csrf(&self) -> String {
        let page = self.get("/password/forgot").await;
        extract(&page.body, "name=\"csrf\" value=\"", "\"").expect("a page with a csrf field")
    }

    /// Posts a form with this client's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let token = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", &token)];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token unless given).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", urlencoding::encode(k), urlencoding::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        Self::finish(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Uploads a file as a browser form does (`multipart/form-data`) with the CSRF token.
    pub async fn upload(&self, path: &str, file_name: &str, bytes: &[u8]) -> Resp {
        let token = self.csrf().await;
        let boundary = "----patron-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        Self::finish(
            self.http
                .post(format!("{}{path}", self.base))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        let r = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        assert_eq!(r.status, 303, "login of {email} failed: {}", r.body);
        r
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> Resp {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = Self::finish(rb.send().await.unwrap()).await;
        crate::contract::check(method.as_str(), path, r.status, &r.body);
        r
    }
}

/// A push timestamp as WeChat signs it: now (the webhook refuses ones more than five
/// minutes off).
/// How often a waiting test looks again.
const POLL: Duration = Duration::from_millis(25);

/// Waits on a condition, never on a fixed time: `check` is asked again until it answers
/// `Ok`, for at most `within`; past that the test fails with the last `Err` (what the
/// state was). For conditions that another thread or process brings about (a job, a
/// push from the simulator).
pub async fn until<T>(within: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => assert!(
                std::time::Instant::now() < deadline,
                "not within {within:?}: {last}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a check that awaits (a page fetched over HTTP).
pub async fn until_async<T>(
    within: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => assert!(
                std::time::Instant::now() < deadline,
                "not within {within:?}: {last}"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

pub fn wx_timestamp() -> String {
    chrono::Utc::now().timestamp().to_string()
}

pub fn extract(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_string())
}

/// One agency with a tenant, a store, users of every role, a pending invitation and an
/// API token: what the role and isolation tests work on.
/// The `last_error` of the failed job every [`World`] carries (for the jobs page's
/// isolation sweep); the invariant check knows it is meant.
pub const WORLD_FAILED_JOB: &str = "world fixture: failed on purpose";

pub struct World {
    pub scope: TenantScope,
    pub slug: String,
    pub tenant_name: String,
    pub store: i64,
    pub store_name: String,
    pub admin_email: String,
    pub merchant_email: String,
    pub marketer_email: String,
    pub cashier_email: String,
    pub cashier_id: i64,
    pub invitation: i64,
    pub token_id: i64,
    pub token: String,
    pub follower: i64,
    pub rule: i64,
    pub tag: i64,
    pub attribute: i64,
    pub segment: i64,
    /// A checked followers import, waiting to be confirmed.
    pub import: i64,
    pub qr: i64,
    pub campaign: i64,
    /// A coupon of `campaign` issued to `follower`.
    pub coupon_code: String,
    /// A stamp card rewarding with `campaign`.
    pub card: i64,
    /// A failed job (a tag sync), which its page offers to run again.
    pub job: i64,
    /// A draft broadcast.
    pub broadcast: i64,
    /// A send recorded as made from the official console (a quota slot).
    pub console_slot: i64,
    /// A payment the till expects (order `ORDER-<slug>`, 12.00 yuan).
    pub payment: i64,
    /// An open reconciliation exception (a payment missing at WeChat), and its run.
    pub exception: i64,
    pub run: i64,
    /// A trade bill whose fetch failed.
    pub bill: i64,
}

pub fn world(c: &mut DbConn, tag: &str) -> World {
    let hash = patron_web::password::hash(PASSWORD);
    let agency = tenants::create_agency(c, &format!("Agency {tag}")).unwrap();
    let agency_id = AgencyId(agency.id);
    let valid = tenants::validate(&TenantInput {
        name: format!("Shop {tag}"),
        slug: format!("shop-{tag}"),
        ..Default::default()
    })
    .unwrap();
    let sb = patron_store::SecretBox::from_key([9; 32]);
    let t = tenants::create(c, &AgencyScope::system(agency_id), &valid, &sb).unwrap();
    let scope = TenantScope::system(t.tenant_ref());
    let store = patron_store::stores::create(c, &scope, &format!("Store {tag}"), "1 Road").unwrap();
    let mk = |c: &mut DbConn, who: &str, role: Role, tenant: bool, stores: &[StoreId]| {
        let email = format!("{who}-{tag}@example.test");
        let u = patron_store::users::create(c, &email, &format!("{who} {tag}"), &hash, Some("en"))
            .unwrap();
        patron_store::users::add_membership(
            c,
            u.id(),
            agency_id,
            tenant.then(|| t.id()),
            role,
            stores,
        )
        .unwrap();
        (email, u.id)
    };
    let (admin_email, _) = mk(c, "admin", Role::AgencyAdmin, false, &[]);
    let (merchant_email, _) = mk(c, "merchant", Role::MerchantAdmin, true, &[]);
    let (marketer_email, _) = mk(c, "marketer", Role::Marketer, true, &[]);
    let (cashier_email, cashier_id) = mk(c, "cashier", Role::Cashier, true, &[StoreId(store.id)]);
    let (inv, _) = patron_store::invitations::create_for_tenant(
        c,
        &scope,
        &format!("invitee-{tag}@example.test"),
        Role::Marketer,
        &[],
        None,
    )
    .unwrap();
    let (tok, token) = patron_store::api_tokens::create(c, &scope, "tests", None).unwrap();
    let openid = format!("o_follower_{tag}");
    let greeting = format!("hello from {tag}");
    let recorded = patron_store::inbox::record(
        c,
        &scope,
        &patron_store::inbox::Inbound {
            openid: &openid,
            msg_type: "text",
            event: None,
            dedupe_key: &format!("msg:{tag}1"),
            content: Some(&greeting),
            body: "<xml/>",
            sent_at: patron_store::now(),
            change: patron_store::inbox::FollowerChange::Interaction,
        },
        None,
    )
    .unwrap();
    let patron_store::inbox::Recorded::New {
        follower_id: Some(follower_id),
        ..
    } = recorded
    else {
        panic!("new")
    };
    let rule = patron_store::reply_rules::create(
        c,
        &scope,
        &patron_domain::replies::Trigger::Default,
        &format!("Default reply {tag}"),
        0,
    )
    .unwrap();
    let tag = patron_store::tags::create(c, &scope, &format!("VIP {tag}")).unwrap();
    patron_store::tags::apply(c, &scope, tag.id, &[follower_id], true).unwrap();
    let attribute =
        patron_store::attributes::create(c, &scope, "level", "Level", "number").unwrap();
    patron_store::attributes::set_from_text(
        c,
        &scope,
        follower_id,
        &[("level".into(), "2".into())],
    )
    .unwrap();
    let segment = patron_store::segments::create(
        c,
        &scope,
        &format!("Segment {tag_name}", tag_name = tag.name),
        &patron_store::followers::Filter {
            tag: Some(tag.id),
            ..Default::default()
        },
    )
    .unwrap();
    let csv = format!("openid,name\n{openid},Imported {}\n", tag.name);
    let checked = patron_domain::follower_csv::check(csv.as_bytes(), &[], 10).unwrap();
    let import =
        patron_store::imports::create(c, &scope, "tests", "w.csv", &csv, &checked).unwrap();
    let qr = patron_store::qr_codes::insert(
        c,
        &scope,
        &patron_store::qr_codes::Created {
            scene: &format!("scene-{}", t.slug),
            label: "Table cards",
            permanent: true,
            ticket: "TICKET",
            url: &format!("http://weixin.qq.com/q/{}", t.slug),
            expires_at: None,
            tag_id: Some(tag.id),
        },
    )
    .unwrap();
    let campaign = patron_store::coupons::create(
        c,
        &scope,
        &patron_store::coupons::CampaignInput {
            name: format!("Ten off {}", t.slug),
            benefit: patron_domain::coupons::Benefit::AmountOff { fen: 1000 },
            min_spend_fen: 0,
            validity: patron_domain::coupons::Validity::Relative { days: 30 },
            total_supply: None,
            per_follower_limit: None,
            stores: None,
            terms: String::new(),
            code_prefix: String::new(),
            accepts_short_codes: false,
        },
    )
    .unwrap();
    patron_store::coupons::set_status(c, &scope, campaign.id, "active").unwrap();
    let coupon =
        patron_store::coupons::issue(c, &scope, campaign.id, Some(follower_id), "manual", "tests")
            .unwrap()
            .unwrap();
    let card = patron_store::stamps::create(
        c,
        &scope,
        &patron_store::stamps::CardInput {
            name: "Coffee card".into(),
            stamps_required: 5,
            reward_campaign_id: campaign.id,
            stamp_on_checkin: false,
            active: true,
        },
    )
    .unwrap();
    // Inserted failed in one statement: a worker must never see it queued.
    let job: i64 = {
        use diesel::prelude::*;
        use patron_store::schema::jobs;
        let at = chrono::Utc::now().naive_utc();
        diesel::insert_into(jobs::table)
            .values((
                jobs::tenant_id.eq(Some(scope.tenant_id().0)),
                jobs::kind.eq(patron_store::jobs::kinds::TAG_SYNC),
                jobs::payload.eq(format!("{{\"tenant_id\":{}}}", scope.tenant_id().0)),
                jobs::state.eq(patron_store::jobs::FAILED),
                jobs::attempts.eq(5i64),
                jobs::max_attempts.eq(5i64),
                jobs::run_at.eq(at),
                jobs::last_error.eq(WORLD_FAILED_JOB),
                jobs::progress_done.eq(0i64),
                jobs::created_at.eq(at),
                jobs::updated_at.eq(at),
            ))
            .returning(jobs::id)
            .get_result(c)
            .unwrap()
    };
    let tenant_row = patron_store::tenants::get(c, &scope).unwrap();
    let broadcast = patron_app::broadcasts::create(
        c,
        &scope,
        &tenant_row,
        &patron_app::broadcasts::Draft {
            title: format!("Winter menu {}", t.slug),
            message: patron_domain::broadcasts::Message::Text {
                text: "Hot chocolate is back".into(),
            },
            audience: patron_domain::broadcasts::Audience::All,
            email: false,
        },
        "tests",
    )
    .unwrap()
    .id;
    let settings = patron_app::broadcasts::settings(c, &scope, &tenant_row).unwrap();
    patron_store::broadcasts::record_external(
        c,
        &scope,
        chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(3),
        "console",
        &settings,
        chrono_tz::Asia::Shanghai,
        "tests",
    )
    .unwrap()
    .unwrap();
    let console_slot: i64 = {
        use diesel::prelude::*;
        use patron_store::schema::broadcast_slots as sl;
        sl::table
            .filter(sl::tenant_id.eq(scope.tenant_id().0))
            .filter(sl::broadcast_id.is_null())
            .select(sl::id)
            .first(c)
            .unwrap()
    };
    let payment = patron_store::payments::expect(
        c,
        &scope,
        &format!("ORDER-{}", t.slug),
        1_200,
        None,
        Some(follower_id),
    )
    .unwrap()
    .id;
    let (run, exception) = {
        use diesel::prelude::*;
        let run = patron_store::reconcile::store_run(
            c,
            &scope,
            &patron_store::reconcile::NewRun {
                bill_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                bill_kind: "ALL",
                source: "cli",
                bill_lines: 0,
                counts: "{}".into(),
                summary_ok: true,
                created_by: "tests",
                totals: "{}".into(),
            },
            &[patron_store::reconcile::NewException {
                category: "missing_at_wechat",
                kind: "payment",
                out_trade_no: "ORDER-X",
                out_refund_no: None,
                bill_side: None,
                our_side: None,
            }],
            &[],
        )
        .unwrap();
        let e = patron_store::schema::reconcile_exceptions::table
            .filter(patron_store::schema::reconcile_exceptions::run_id.eq(run.id))
            .select(patron_store::schema::reconcile_exceptions::id)
            .first::<i64>(c)
            .unwrap();
        (run.id, e)
    };
    // A bill received and reconciled into nothing yet (a fetch that failed).
    let bill = {
        let f = patron_store::bill_files::create(
            c,
            &scope,
            "2026-01-02 (fetched)",
            "fetch",
            None,
            "tests",
        )
        .unwrap();
        patron_store::bill_files::transition(
            c,
            &scope,
            f.id,
            "receiving",
            "failed",
            patron_store::bill_files::Change {
                error: Some("tests"),
                ..Default::default()
            },
        )
        .unwrap();
        f.id
    };
    World {
        job,
        broadcast,
        console_slot,
        payment,
        exception,
        run,
        bill,
        slug: t.slug.clone(),
        tenant_name: t.name.clone(),
        scope,
        store: store.id,
        store_name: store.name,
        admin_email,
        merchant_email,
        marketer_email,
        cashier_email,
        cashier_id,
        invitation: inv.id,
        token_id: tok.id,
        token,
        follower: follower_id,
        rule: rule.id,
        tag: tag.id,
        attribute: attribute.id,
        segment: segment.id,
        import: import.id,
        qr: qr.id,
        campaign: campaign.id,
        coupon_code: coupon.code,
        card: card.id,
    }
}

/// Counts of the rows state-changing requests could touch, to prove "changes nothing".
pub fn row_counts(c: &mut DbConn) -> Vec<(&'static str, i64)> {
    use diesel::prelude::*;
    use patron_store::schema::*;
    let n = |r: Result<i64, diesel::result::Error>| r.unwrap();
    vec![
        ("agencies", n(agencies::table.count().get_result(c))),
        ("tenants", n(tenants::table.count().get_result(c))),
        ("stores", n(stores::table.count().get_result(c))),
        ("users", n(users::table.count().get_result(c))),
        ("memberships", n(memberships::table.count().get_result(c))),
        ("invitations", n(invitations::table.count().get_result(c))),
        (
            "revoked invitations",
            n(invitations::table
                .filter(invitations::revoked_at.is_not_null())
                .count()
                .get_result(c)),
        ),
        ("api_tokens", n(api_tokens::table.count().get_result(c))),
        ("followers", n(followers::table.count().get_result(c))),
        (
            "follower_tags",
            n(follower_tags::table.count().get_result(c)),
        ),
        ("tags", n(tags::table.count().get_result(c))),
        ("attributes", n(attributes::table.count().get_result(c))),
        (
            "follower_attributes",
            n(follower_attributes::table.count().get_result(c)),
        ),
        ("segments", n(segments::table.count().get_result(c))),
        (
            "follower_imports",
            n(follower_imports::table.count().get_result(c)),
        ),
        ("jobs", n(jobs::table.count().get_result(c))),
        ("broadcasts", n(broadcasts::table.count().get_result(c))),
        (
            "broadcasts not drafts",
            n(broadcasts::table
                .filter(broadcasts::status.ne("draft"))
                .count()
                .get_result(c)),
        ),
        (
            "broadcast_slots",
            n(broadcast_slots::table.count().get_result(c)),
        ),
        (
            "broadcast_settings",
            n(broadcast_settings::table.count().get_result(c)),
        ),
        (
            "failed jobs",
            n(jobs::table
                .filter(jobs::state.eq(patron_store::jobs::FAILED))
                .count()
                .get_result(c)),
        ),
        ("qr_codes", n(qr_codes::table.count().get_result(c))),
        ("menus", n(menus::table.count().get_result(c))),
        ("reply_rules", n(reply_rules::table.count().get_result(c))),
        ("campaigns", n(campaigns::table.count().get_result(c))),
        ("coupons", n(coupons::table.count().get_result(c))),
        (
            "redeemed coupons",
            n(coupons::table
                .filter(coupons::status.eq("redeemed"))
                .count()
                .get_result(c)),
        ),
        (
            "coupon_events",
            n(coupon_events::table.count().get_result(c)),
        ),
        (
            "loyalty_programs",
            n(loyalty_programs::table.count().get_result(c)),
        ),
        (
            "points_ledger",
            n(points_ledger::table.count().get_result(c)),
        ),
        ("stamp_cards", n(stamp_cards::table.count().get_result(c))),
        (
            "stamp_progress",
            n(stamp_progress::table.count().get_result(c)),
        ),
        ("stamp_events", n(stamp_events::table.count().get_result(c))),
        (
            "revoked api_tokens",
            n(api_tokens::table
                .filter(api_tokens::revoked_at.is_not_null())
                .count()
                .get_result(c)),
        ),
        ("payments", n(payments::table.count().get_result(c))),
        (
            "reconcile_runs",
            n(reconcile_runs::table.count().get_result(c)),
        ),
        (
            "open reconcile_exceptions",
            n(reconcile_exceptions::table
                .filter(reconcile_exceptions::state.eq("open"))
                .count()
                .get_result(c)),
        ),
        ("bill_files", n(bill_files::table.count().get_result(c))),
        (
            "bill_file_chunks",
            n(bill_file_chunks::table.count().get_result(c)),
        ),
    ]
}

pub fn assert_store_error_is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::NotFound)),
        "expected NotFound, got {r:?}"
    );
}

/// Creates a user with `role` in the scoped tenant (password [`PASSWORD`]).
pub fn add_member(app: &TestApp, scope: &TenantScope, email: &str, role: Role) {
    let mut c = app.conn();
    let hash = patron_web::password::hash(PASSWORD);
    let u = patron_store::users::create(&mut c, email, email, &hash, None).unwrap();
    patron_store::users::add_membership(
        &mut c,
        u.id(),
        scope.agency_id(),
        Some(scope.tenant_id()),
        role,
        &[],
    )
    .unwrap();
}

/// A route-table path with this world's ids in its parameters (the sweeps use it).
pub fn fill_route(path: &str, w: &World) -> String {
    path.replace("{tenant}", &w.slug)
        .replace("{store_id}", &w.store.to_string())
        .replace("{user_id}", &w.cashier_id.to_string())
        .replace("{invitation_id}", &w.invitation.to_string())
        .replace("{token_id}", &w.token_id.to_string())
        .replace("{follower_id}", &w.follower.to_string())
        .replace("{rule_id}", &w.rule.to_string())
        .replace("{tag_id}", &w.tag.to_string())
        .replace("{attribute_id}", &w.attribute.to_string())
        .replace("{segment_id}", &w.segment.to_string())
        .replace("{import_id}", &w.import.to_string())
        .replace("{qr_id}", &w.qr.to_string())
        .replace("{qr_file}", &format!("{}.svg", w.qr))
        .replace("{campaign_id}", &w.campaign.to_string())
        .replace("{coupon_file}", &format!("{}.svg", w.coupon_code))
        .replace("{code}", &w.coupon_code)
        .replace("{card_id}", &w.card.to_string())
        .replace("{job_id}", &w.job.to_string())
        .replace("{broadcast_id}", &w.broadcast.to_string())
        .replace("{slot_id}", &w.console_slot.to_string())
        .replace("{payment_id}", &w.payment.to_string())
        .replace("{exception_id}", &w.exception.to_string())
        .replace("{run_id}", &w.run.to_string())
        .replace("{bill_id}", &w.bill.to_string())
        .replace("{table_file}", "audience.csv")
}

/// Records `openids` as followers WeChat reports following now (what a follower sync
/// stores).
pub fn sync_following(c: &mut DbConn, scope: &TenantScope, openids: &[String]) {
    let rows: Vec<_> = openids
        .iter()
        .map(|o| patron_store::sync::WechatFollower {
            openid: o.clone(),
            unionid: None,
            subscribed: true,
            subscribed_at: Some(patron_store::now()),
            subscribe_scene: None,
            qr_scene: None,
            remark: None,
        })
        .collect();
    patron_store::sync::upsert_from_wechat(c, scope, &rows).unwrap();
}
