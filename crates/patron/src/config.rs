//! Configuration: typed defaults, then a TOML file (config/default.toml unless `--config`
//! names another), then `PATRON_*` environment variables (and `DATABASE_URL`), then
//! command-line flags. Unknown keys are refused, naming the key.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use patron_mail::{SmtpTls, Transport};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG_FILE: &str = "config/default.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// Where the SQLite database and the secret key file live.
    pub data_dir: PathBuf,
    /// `sqlite://FILE` or `postgres://USER@HOST/DB`; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// Public URL of this server, used in emailed links; empty means `http://{bind}`.
    pub base_url: String,
    /// Base64 of 32 random bytes that encrypt secrets at rest; empty means use (or create)
    /// `data_dir/secret.key`.
    pub secret_key: String,
    /// Mark cookies Secure and send HSTS; turn on when users reach Patron over HTTPS.
    pub secure_cookies: bool,
    /// Take the client address from X-Forwarded-For (only behind your own proxy).
    pub trust_proxy: bool,
    /// With `trust_proxy`: the proxies (addresses or networks) whose X-Forwarded-For hops
    /// are believed; the client is the rightmost hop not in this list.
    pub trusted_proxies: Vec<String>,
    /// Let the UI and API point a tenant at a plain-http WeChat API on loopback (a local
    /// simulator). Off in production: only https bases are accepted there.
    pub allow_loopback_api_base: bool,
    /// WeChat Pay's API, where the daily trade-bill fetch asks for each merchant's bill.
    pub pay_api_base: String,
    /// Failed webhook signatures allowed per client address, and per tenant, inside the
    /// window before /wx answers 429.
    pub webhook_max_failures_per_ip: u32,
    pub webhook_max_failures_per_tenant: u32,
    pub webhook_failure_window_minutes: u32,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `patron_web=debug,info` (RUST_LOG wins if set).
    pub log_level: String,
    pub db_pool_size: u32,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Seconds a job worker holds a job without news before another process may take it
    /// over (a crashed process's jobs resume after this; long jobs renew it as they go).
    pub job_lease_secs: u64,
    /// Seconds a client has to send its request head.
    pub request_timeout_secs: u64,
    /// Seconds to finish in-flight requests on shutdown.
    pub shutdown_timeout_secs: u64,
    pub session_ttl_hours: i64,
    pub login_max_per_account: i64,
    pub login_max_per_ip: i64,
    pub login_window_minutes: i64,
    /// `log` (print mails to the log) or `smtp`.
    pub mail_transport: Transport,
    pub mail_from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub smtp_tls: SmtpTls,
    pub smtp_username: String,
    pub smtp_password: String,
    /// The most broadcast emails sent a minute (the mail provider's sending limit).
    pub mail_per_minute: u32,
    /// Threads that store WeChat pushes (group commit); 0: the backend's default (one on
    /// SQLite, two on PostgreSQL).
    pub ingest_writers: usize,
    /// Threads that redeem coupons (group commit, each with a connection of its own); 0:
    /// the backend's default (one on SQLite, two on PostgreSQL).
    pub redeem_writers: usize,
    /// No redemption writers: each redemption in a transaction of its own (the benchmark's
    /// comparison; not read from the configuration).
    #[serde(skip)]
    pub redeem_direct: bool,
    /// PostgreSQL: acknowledge plain pushes (messages and clicks that only need storing)
    /// once they are durable in `data_dir/ingest-journal`, and store them in the database
    /// right behind (ARCHITECTURE.md, "Ingest journal"). Needs a data directory of its own
    /// per process, on a disk that survives restarts. Not used on SQLite.
    pub ingest_journal: bool,
    /// When the ingest journal flushes to disk: `interval` (every 100 ms; an answered
    /// push survives a crash of Patron, an OS crash or power cut can lose the last
    /// ~0.1 s, as with SQLite) or `group` (before answering: survives both).
    pub ingest_journal_sync: patron_store::inbox::JournalSync,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            base_url: String::new(),
            secret_key: String::new(),
            secure_cookies: false,
            trust_proxy: false,
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1/128".into()],
            allow_loopback_api_base: false,
            pay_api_base: "https://api.mch.weixin.qq.com".into(),
            webhook_max_failures_per_ip: 20,
            webhook_max_failures_per_tenant: 100,
            webhook_failure_window_minutes: 10,
            log_format: "text".into(),
            log_level: "info".into(),
            db_pool_size: 10,
            workers: 0,
            job_lease_secs: 300,
            request_timeout_secs: 10,
            shutdown_timeout_secs: 30,
            session_ttl_hours: 12,
            login_max_per_account: 5,
            login_max_per_ip: 20,
            login_window_minutes: 15,
            mail_transport: Transport::Log,
            mail_from: "Patron <patron@localhost>".into(),
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_tls: SmtpTls::Starttls,
            smtp_username: String::new(),
            smtp_password: String::new(),
            mail_per_minute: 60,
            ingest_writers: 0,
            redeem_writers: 0,
            redeem_direct: false,
            ingest_journal: true,
            ingest_journal_sync: Default::default(),
        }
    }
}

/// Flags that override the file and environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Environment variables with the PATRON_ prefix that belong to tooling, not to Patron.
fn tooling_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    // PATRON_SIM_* configure patron-simulator, PATRON_SIMULATOR_BIN and PATRON_BIN tell the
    // tests where the binaries are: set in the same shell, they are not Patron's settings.
    key.starts_with("test_")
        || key.starts_with("browser_")
        || key.starts_with("sim_")
        || key == "bin"
        || key == "simulator_bin"
        || key == "config"
}

impl Settings {
    /// Loads the configuration. `file` is the `--config` flag; without it the default file
    /// is read if present.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(p) => {
                if !p.exists() {
                    return Err(ConfigError::File {
                        path: p.display().to_string(),
                        message: "no such file".into(),
                    });
                }
                fig = fig.merge(Toml::file(p));
            }
            None => {
                if Path::new(DEFAULT_CONFIG_FILE).exists() {
                    fig = fig.merge(Toml::file(DEFAULT_CONFIG_FILE));
                }
            }
        }
        fig = fig
            .merge(Env::prefixed("PATRON_").filter(|k| !tooling_variable(k.as_str())))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database_url".into()),
            );
        let mut s: Settings = fig.extract().map_err(|e| {
            let e = e
                .into_iter()
                .next()
                .map(|e| e.to_string())
                .unwrap_or_default();
            ConfigError::Invalid(e)
        })?;
        if let Some(b) = &overrides.bind {
            s.bind = b.clone();
        }
        if let Some(d) = &overrides.data_dir {
            s.data_dir = d.clone();
        }
        if let Some(u) = &overrides.database_url {
            s.database_url = u.clone();
        }
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("{key}: {why}")));
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "bind (PATRON_BIND)",
                "expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080",
            );
        }
        if !self.database_url.is_empty() {
            if let Err(e) = patron_store::DbUrl::parse(&self.database_url) {
                return Err(ConfigError::Invalid(e.to_string()));
            }
        }
        if !(self.base_url.is_empty()
            || self.base_url.starts_with("http://")
            || self.base_url.starts_with("https://"))
        {
            return bad(
                "base_url (PATRON_BASE_URL)",
                "must start with http:// or https://",
            );
        }
        if let Err(bad_net) = self.trusted_proxy_nets() {
            return bad(
                "trusted_proxies (PATRON_TRUSTED_PROXIES)",
                &format!("{bad_net:?} is not an address or network such as 10.0.0.0/8"),
            );
        }
        if self.webhook_max_failures_per_ip == 0
            || self.webhook_max_failures_per_tenant == 0
            || self.webhook_failure_window_minutes == 0
        {
            return bad(
                "webhook_max_failures_* / webhook_failure_window_minutes",
                "must be positive",
            );
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return bad("log_format (PATRON_LOG_FORMAT)", "must be text or json");
        }
        if self.db_pool_size == 0 {
            return bad("db_pool_size (PATRON_DB_POOL_SIZE)", "must be at least 1");
        }
        if self.session_ttl_hours < 1
            || self.login_max_per_account < 1
            || self.login_max_per_ip < 1
            || self.login_window_minutes < 1
        {
            return bad("session_ttl_hours / login_*", "must be positive");
        }
        if self.mail_per_minute == 0 {
            return bad(
                "mail_per_minute (PATRON_MAIL_PER_MINUTE)",
                "must be at least 1",
            );
        }
        if self.mail_transport == Transport::Smtp && self.smtp_host.is_empty() {
            return bad(
                "smtp_host (PATRON_SMTP_HOST)",
                "required when mail_transport = \"smtp\"",
            );
        }
        if !patron_mail::valid_mailbox(&self.mail_from) {
            return bad(
                "mail_from (PATRON_MAIL_FROM)",
                "not a valid address, e.g. Patron <patron@example.com>",
            );
        }
        Ok(())
    }

    /// The database URL in force: the configured one or SQLite inside the data directory.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("patron.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn effective_base_url(&self) -> String {
        if self.base_url.is_empty() {
            format!("http://{}", self.bind)
        } else {
            self.base_url.trim_end_matches('/').to_string()
        }
    }

    /// `trusted_proxies` parsed; a plain address is a network of one. Err: the bad entry.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| s.to_string())
            })
            .collect()
    }

    pub fn web(&self) -> patron_web::WebConfig {
        patron_web::WebConfig {
            base_url: self.effective_base_url(),
            secure_cookies: self.secure_cookies,
            trust_proxy: self.trust_proxy,
            trusted_proxies: self.trusted_proxy_nets().unwrap_or_default(),
            allow_loopback_api_base: self.allow_loopback_api_base,
            pay_api_base: self.pay_api_base.trim_end_matches('/').to_string(),
            webhook_max_failures_per_ip: self.webhook_max_failures_per_ip,
            webhook_max_failures_per_tenant: self.webhook_max_failures_per_tenant,
            webhook_failure_window_minutes: self.webhook_failure_window_minutes,
            session_ttl_hours: self.session_ttl_hours,
            login_max_per_account: self.login_max_per_account,
            login_max_per_ip: self.login_max_per_ip,
            login_window_minutes: self.login_window_minutes,
        }
    }

    pub fn mail(&self) -> patron_mail::MailConfig {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        patron_mail::MailConfig {
            transport: self.mail_transport,
            from: self.mail_from.clone(),
            smtp_host: self.smtp_host.clone(),
            smtp_port: self.smtp_port,
            smtp_tls: self.smtp_tls,
            smtp_username: opt(&self.smtp_username),
            smtp_password: opt(&self.smtp_password),
            per_minute: self.mail_per_minute,
        }
    }

    /// Settings for a test server: loopback, everything under `data_dir`.
    pub fn for_test(data_dir: &Path, database_url: &str) -> Settings {
        Settings {
            bind: "127.0.0.1:0".into(),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.to_string(),
            db_pool_size: 4,
            workers: 2,
            // Tests point tenants at the simulator on loopback.
            allow_loopback_api_base: true,
            ..Settings::default()
        }
    }
}
