//! The command line. Each subcommand loads the configuration the same way `serve` does.

use crate::config::{Overrides, Settings};
use crate::serve;
use clap::{Args, Parser, Subcommand};
use patron_domain::validate;
use patron_domain::{AgencyId, AgencyScope, Role, StoreId};
use patron_store::tenants::{self, TenantInput};
use patron_store::{api_tokens, sessions, users, write_tx, StoreError};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "patron",
    version,
    about = "Patron: a self-hosted CRM and loyalty platform for WeChat Official Accounts.",
    long_about = "Patron: a self-hosted CRM and loyalty platform for WeChat Official Accounts.\n\n\
        Start with `patron serve`: it creates ./data (SQLite database and secret key), applies\n\
        migrations and, on the first run, prints a one-time link to create the first account.\n\n\
        Configuration comes from config/default.toml, then PATRON_* environment variables\n\
        (e.g. PATRON_BIND, PATRON_DATA_DIR) and DATABASE_URL, then these flags."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Configuration file [default: config/default.toml if it exists].
    #[arg(long, global = true, env = "PATRON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// Directory for the SQLite database and the secret key file.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://FILE or postgres://USER@HOST/DB (default: SQLite in the data directory).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web server (creates and migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage merchant accounts (tenants).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Reconcile WeChat Pay trade bills.
    #[command(subcommand)]
    Reconcile(ReconcileCmd),
    /// The dashboards' daily figures.
    #[command(subcommand)]
    Stats(StatsCmd),
    /// Load and check the configuration and database connection, then print a summary.
    CheckConfig,
    /// Try Patron: an agency with three merchant accounts and 90 days of history (in a
    /// database of its own, data_dir/patron-demo.db unless --database-url names an empty
    /// one), a sign-in, and the server with a WeChat simulator standing in for WeChat. A
    /// second run serves the same demo again.
    Demo {
        /// Days of history to seed.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Seed (or find) the demo, print how to sign in, and exit without serving.
        #[arg(long)]
        no_serve: bool,
        /// Delete the demo's own database (data_dir/patron-demo.db) and seed it afresh.
        #[arg(long)]
        reset: bool,
    },
    /// Benchmarks (need wrk on the PATH; they start their own server over a fresh database).
    /// Only in builds with the `bench` feature.
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    Bench(crate::bench::BenchCmd),
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user with a role. The password is read from stdin with --password-stdin,
    /// otherwise a strong one is generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// agency_admin, merchant_admin, marketer or cashier.
        #[arg(long, default_value = "agency_admin")]
        role: String,
        /// For agency_admin: the agency id (see `patron tenant list`) ...
        #[arg(long)]
        agency: Option<i64>,
        /// ... or the name of a new agency to create.
        #[arg(long)]
        agency_name: Option<String>,
        /// For tenant roles: the tenant's slug.
        #[arg(long)]
        tenant: Option<String>,
        /// For cashiers: store ids (repeat the flag).
        #[arg(long = "store")]
        stores: Vec<i64>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (stdin with --password-stdin, else generated and printed) and
    /// sign the user out everywhere.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

// Parsed once per run; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum TenantCmd {
    /// Create a merchant account in an agency.
    Create {
        /// Agency id.
        #[arg(long)]
        agency: i64,
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: String,
        /// IANA time zone.
        #[arg(long, default_value = "Asia/Shanghai")]
        time_zone: String,
        #[arg(long, default_value = "")]
        wx_appid: String,
        #[arg(long, default_value = "")]
        wx_original_id: String,
        #[arg(long, default_value = "")]
        wx_token: String,
        #[arg(long, default_value = "")]
        wx_aes_key: String,
        #[arg(long, default_value = "")]
        wx_app_secret: String,
        /// plain, compatible or safe.
        #[arg(long, default_value = "safe")]
        wx_message_mode: String,
        /// subscription, verified_subscription or service.
        #[arg(long, default_value = "subscription")]
        wx_account_kind: String,
        #[arg(long, default_value = "")]
        wx_api_base: String,
    },
    /// List agencies and their tenants.
    List,
    /// Set a tenant's WeChat Pay merchant account (what its notifications are checked
    /// against). Keys are write-only; a key given as `-` is read from stdin (one line
    /// each, in the order --apiv2-key, --apiv3-key), so it stays out of the shell history.
    Pay {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        mch_id: String,
        /// The APIv2 key (32 characters) for v2 notifications; omitted: kept.
        #[arg(long)]
        apiv2_key: Option<String>,
        /// The APIv3 key (32 bytes) for v3 notifications; omitted: kept.
        #[arg(long)]
        apiv3_key: Option<String>,
        /// The WeChat Pay public key (PEM) that signs v3 notifications…
        #[arg(long, requires = "public_key_id")]
        public_key_file: Option<std::path::PathBuf>,
        /// …and its id (PUB_KEY_ID_…).
        #[arg(long, requires = "public_key_file")]
        public_key_id: Option<String>,
        /// Or a platform certificate (PEM); its serial is its id.
        #[arg(long, conflicts_with = "public_key_file")]
        certificate_file: Option<std::path::PathBuf>,
        /// The merchant API certificate's serial number (the daily bill fetch signs
        /// with its key); omitted: kept.
        #[arg(long, requires = "merchant_key_file")]
        merchant_serial: Option<String>,
        /// The merchant API certificate's private key (apiclient_key.pem); omitted: kept.
        #[arg(long, requires = "merchant_serial")]
        merchant_key_file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReconcileCmd {
    /// Match a day's trade bill (as downloaded from WeChat Pay) against the payments and
    /// refunds recorded for the tenant, store the run and its exceptions, and print the
    /// count of each category.
    Import {
        #[arg(long)]
        tenant: String,
        /// The bill file.
        file: PathBuf,
        /// The bill's day (Beijing), for a bill without lines; otherwise read from it.
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        /// Print the run as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum StatsCmd {
    /// Compute the daily figures again from the archive (after a restore, an import of
    /// history, or a change of time zone). The server rolls the current day by itself.
    Rebuild {
        /// Only this tenant (its slug); default: every tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The first day to roll (YYYY-MM-DD, the tenant's local day); default: the
        /// tenant's first day.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create an API token for a tenant and print it (shown only this once).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
}

/// An error for the operator: one line, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] serve::StartError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[cfg(feature = "bench")]
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
}

impl From<patron_store::DieselError> for CliError {
    fn from(e: patron_store::DieselError) -> Self {
        CliError::Store(e.into())
    }
}

impl Cli {
    pub fn settings(&self) -> Result<Settings, CliError> {
        let o = Overrides {
            bind: self.global.bind.clone(),
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
        };
        Ok(Settings::load(self.global.config.as_deref(), &o)?)
    }
}

fn read_or_generate_password(from_stdin: bool) -> Result<(String, bool), CliError> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        let pw = s.trim_end_matches(['\r', '\n']).to_string();
        validate::password(&pw).map_err(|e| CliError::Usage(format!("password: {}", e.code)))?;
        Ok((pw, false))
    } else {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut rng = rand::rngs::OsRng;
        let pw: String = (0..20)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        Ok((pw, true))
    }
}

fn hash(pw: &str) -> String {
    patron_web::password::hash(pw)
}

pub fn user_create(s: &Settings, cmd: UserCmd) -> Result<String, CliError> {
    let UserCmd::Create {
        email,
        name,
        role,
        agency,
        agency_name,
        tenant,
        stores,
        password_stdin,
    } = cmd
    else {
        unreachable!("called with user create")
    };
    let email = validate::email(&email)
        .map_err(|_| CliError::Usage(format!("--email: {email:?} is not a valid address")))?;
    let name = validate::name("name", &name)
        .map_err(|e| CliError::Usage(format!("--name: {}", e.code)))?;
    let role = Role::parse(&role).ok_or_else(|| {
        CliError::Usage(format!(
            "--role: unknown role {role:?}; use agency_admin, merchant_admin, marketer or cashier"
        ))
    })?;
    let (pw, generated) = read_or_generate_password(password_stdin)?;
    let pw_hash = hash(&pw);
    let (pool, _) = serve::open_database(s)?;
    let mut c = pool.get()?;
    let user = write_tx(&mut c, |c| -> Result<_, CliError> {
        let u = users::create(c, &email, &name, &pw_hash, None)?;
        if role == Role::AgencyAdmin {
            let agency = match (agency, &agency_name) {
                (Some(id), None) => tenants::agency(c, AgencyId(id))?.id,
                (None, Some(n)) => tenants::create_agency(c, n)?.id,
                _ => {
                    return Err(CliError::Usage(
                        "agency_admin needs exactly one of --agency ID or --agency-name NAME"
                            .into(),
                    ))
                }
            };
            users::add_membership(c, u.id(), AgencyId(agency), None, role, &[])?;
        } else {
            let slug = tenant
                .as_deref()
                .ok_or_else(|| CliError::Usage(format!("{role} needs --tenant SLUG")))?;
            let scope = tenants::system_scope_by_slug(c, slug)
                .map_err(|_| CliError::Usage(format!("--tenant: no tenant {slug:?}")))?;
            let stores: Vec<StoreId> = stores.iter().copied().map(StoreId).collect();
            if role == Role::Cashier && stores.is_empty() {
                return Err(CliError::Usage(
                    "cashier needs at least one --store ID".into(),
                ));
            }
            patron_store::stores::check_all_in_tenant(c, &scope, &stores)
                .map_err(|_| CliError::Usage("--store: not a store of this tenant".into()))?;
            users::add_membership(
                c,
                u.id(),
                scope.agency_id(),
                Some(scope.tenant_id()),
                role,
                &stores,
            )?;
        }
        Ok(u)
    })
    .map_err(|e| match e {
        CliError::Store(StoreError::Conflict(_)) => {
            CliError::Usage(format!("--email: {email} already has an account"))
        }
        other => other,
    })?;
    Ok(if generated {
        format!(
            "created user {} ({}) as {role}\npassword (shown once): {pw}",
            user.id, user.email
        )
    } else {
        format!("created user {} ({}) as {role}", user.id, user.email)
    })
}

pub fn run_blocking(command: Command, s: &Settings) -> Result<String, CliError> {
    match command {
        Command::Serve => unreachable!("serve runs in main"),
        Command::Migrate => {
            let (_, applied) = serve::open_database(s)?;
            Ok(if applied.is_empty() {
                "database is up to date".into()
            } else {
                format!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                )
            })
        }
        Command::User(cmd @ UserCmd::Create { .. }) => user_create(s, cmd),
        Command::User(UserCmd::ResetPassword {
            email,
            password_stdin,
        }) => {
            let (pw, generated) = read_or_generate_password(password_stdin)?;
            let h = hash(&pw);
            let (pool, _) = serve::open_database(s)?;
            let mut c = pool.get()?;
            let email = email.trim().to_lowercase();
            write_tx(&mut c, |c| -> Result<_, CliError> {
                let u = users::by_email(c, &email)?
                    .ok_or_else(|| CliError::Usage(format!("--email: no user {email}")))?;
                users::set_password(c, u.id(), &h)?;
                sessions::revoke_all_for_user(c, u.id(), None)?;
                patron_store::throttle::clear(c, &format!("acct:{email}"))?;
                Ok(())
            })?;
            Ok(if generated {
                format!("password of {email} reset; all sessions signed out\nnew password (shown once): {pw}")
            } else {
                format!("password of {email} reset; all sessions signed out")
            })
        }
        Command::Stats(StatsCmd::Rebuild { tenant, from }) => {
            let (pool, _) = serve::open_database(s)?;
            let mut last = String::new();
            let done = patron_app::stats::rebuild(
                &pool,
                tenant.as_deref(),
                from,
                patron_store::now(),
                |slug, day| {
                    // One line per tenant and month, so a long history shows it moves.
                    let mark = format!("{slug} {}", day.format("%Y-%m"));
                    if mark != last {
                        eprintln!("rolling {mark}");
                        last = mark;
                    }
                },
            )
            .map_err(|e| match e {
                patron_store::StoreError::NotFound => CliError::Usage(format!(
                    "--tenant: no tenant {}",
                    tenant.as_deref().unwrap_or("")
                )),
                other => other.into(),
            })?;
            Ok(format!(
                "rolled {} day(s) of {} tenant(s)",
                done.days, done.tenants
            ))
        }
        Command::Reconcile(ReconcileCmd::Import {
            tenant,
            file,
            date,
            json,
        }) => {
            let f = std::fs::File::open(&file)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            let (pool, _) = serve::open_database(s)?;
            let mut c = pool.get()?;
            let tref = tenants::find_ref_by_slug(&mut c, &tenant)?
                .ok_or_else(|| CliError::Usage(format!("--tenant: no tenant {tenant}")))?;
            let scope = patron_domain::TenantScope::system(tref);
            let run = patron_app::reconcile::import(
                &mut c,
                &scope,
                std::io::BufReader::with_capacity(1 << 16, f),
                date,
                "cli",
                "patron reconcile import",
            )
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            if json {
                return Ok(format!(
                    "{{\"run\":{},\"bill_date\":\"{}\",\"bill_kind\":\"{}\",\"lines\":{},\"summary_ok\":{},\"counts\":{}}}",
                    run.id, run.bill_date, run.bill_kind, run.bill_lines, run.summary_ok, run.counts
                ));
            }
            let counts: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&run.counts).unwrap_or_default();
            let mut out = format!(
                "reconciled {tenant} {} ({} bill, {} lines, summary {}), run {}\n",
                run.bill_date,
                run.bill_kind,
                run.bill_lines,
                if run.summary_ok {
                    "agrees"
                } else {
                    "DISAGREES with the lines"
                },
                run.id
            );
            for (k, v) in counts {
                out.push_str(&format!("  {:<18} {v}\n", k.replace('_', " ")));
            }
            Ok(out.trim_end().to_string())
        }
        Command::Tenant(TenantCmd::Pay {
            slug,
            mch_id,
            apiv2_key,
            apiv3_key,
            public_key_file,
            public_key_id,
            certificate_file,
            merchant_serial,
            merchant_key_file,
        }) => {
            let mut stdin = std::io::stdin().lines();
            let mut key = |v: Option<String>, flag: &str| -> Result<Option<String>, CliError> {
                match v.as_deref() {
                    Some("-") => match stdin.next() {
                        Some(line) => Ok(Some(line?.trim().to_string())),
                        None => Err(CliError::Usage(format!("{flag}: nothing on stdin"))),
                    },
                    _ => Ok(v),
                }
            };
            let apiv2_key = key(apiv2_key, "--apiv2-key")?;
            let apiv3_key = key(apiv3_key, "--apiv3-key")?;
            let read = |p: &std::path::Path, flag: &str| {
                std::fs::read_to_string(p)
                    .map_err(|e| CliError::Usage(format!("{flag}: {}: {e}", p.display())))
            };
            let platform_keys = match (public_key_file, public_key_id, certificate_file) {
                (Some(f), Some(id), _) => Some(vec![patron_store::payments::PlatformKey {
                    id,
                    pem: read(&f, "--public-key-file")?,
                }]),
                (_, _, Some(f)) => {
                    let pem = read(&f, "--certificate-file")?;
                    let mut keys = patron_wechat::pay::v3::PlatformKeys::new();
                    let id = keys
                        .add_certificate_pem(&pem)
                        .map_err(|e| CliError::Usage(format!("--certificate-file: {e}")))?;
                    Some(vec![patron_store::payments::PlatformKey { id, pem }])
                }
                _ => None,
            };
            let input = patron_store::payments::PayInput {
                mch_id,
                apiv2_key,
                apiv3_key,
                platform_keys,
                merchant_serial,
                merchant_key: merchant_key_file
                    .map(|f| read(&f, "--merchant-key-file"))
                    .transpose()?,
            };
            let problems = patron_app::payments::check_settings(&input);
            if !problems.is_empty() {
                let list: Vec<String> = problems
                    .iter()
                    .map(|e| {
                        // The page's field is the key itself; here it comes from a file.
                        let flag = match e.field {
                            "public_key" => "public-key-file".to_string(),
                            "merchant_key" => "merchant-key-file".to_string(),
                            other => other.replace('_', "-"),
                        };
                        format!("--{flag}: {}", e.code)
                    })
                    .collect();
                return Err(CliError::Usage(list.join("; ")));
            }
            let sb = serve::secrets(s)?;
            let (pool, _) = serve::open_database(s)?;
            let mut c = pool.get()?;
            let tref = tenants::find_ref_by_slug(&mut c, &slug)?
                .ok_or_else(|| CliError::Usage(format!("--slug: no tenant {slug}")))?;
            let scope = patron_domain::TenantScope::system(tref);
            let saved = patron_store::payments::put_settings(&mut c, &scope, &sb, &input)?;
            let v = saved.view();
            Ok(format!(
                "WeChat Pay set for {slug}: merchant {}, APIv2 key {}, APIv3 key {}, platform keys [{}], merchant certificate {}; \
                 notifications go to {} (v2), {} (v2 refunds) and {} (v3)",
                v.mch_id,
                if v.apiv2_key_set { "set" } else { "not set" },
                if v.apiv3_key_set { "set" } else { "not set" },
                v.platform_key_ids.join(", "),
                v.merchant_serial.as_deref().unwrap_or("not set"),
                patron_app::links::PAY_V2.replace("{tenant}", &slug),
                patron_app::links::PAY_V2_REFUND.replace("{tenant}", &slug),
                patron_app::links::PAY_V3.replace("{tenant}", &slug),
            ))
        }
        Command::Tenant(TenantCmd::Create {
            agency,
            name,
            slug,
            time_zone,
            wx_appid,
            wx_original_id,
            wx_token,
            wx_aes_key,
            wx_app_secret,
            wx_message_mode,
            wx_account_kind,
            wx_api_base,
        }) => {
            let input = TenantInput {
                name,
                slug: slug.clone(),
                time_zone,
                wx_appid,
                wx_original_id,
                wx_token,
                wx_aes_key,
                wx_app_secret,
                wx_message_mode,
                wx_account_kind,
                wx_api_base,
            };
            let valid = tenants::validate(&input).map_err(|errs| {
                let list: Vec<String> = errs
                    .iter()
                    .map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.code))
                    .collect();
                CliError::Usage(list.join("; "))
            })?;
            let sb = serve::secrets(s)?;
            let (pool, _) = serve::open_database(s)?;
            let mut c = pool.get()?;
            tenants::agency(&mut c, AgencyId(agency))
                .map_err(|_| CliError::Usage(format!("--agency: no agency {agency}")))?;
            let t = tenants::create(&mut c, &AgencyScope::system(AgencyId(agency)), &valid, &sb)
                .map_err(|e| match e {
                    StoreError::Conflict(_) => CliError::Usage(format!("--slug: {slug} is taken")),
                    other => other.into(),
                })?;
            Ok(format!(
                "created tenant {} ({}); webhook path {}",
                t.id,
                t.slug,
                patron_app::links::webhook_path(&t.slug)
            ))
        }
        Command::Tenant(TenantCmd::List) => {
            let (pool, _) = serve::open_database(s)?;
            let mut c = pool.get()?;
            let mut out = String::new();
            let ids = patron_store::tenants::agency_ids(&mut c)?;
            for id in ids {
                let a = tenants::agency(&mut c, AgencyId(id))?;
                out.push_str(&format!("agency {}: {}\n", a.id, a.name));
                for t in tenants::list_for_agency(&mut c, &AgencyScope::system(AgencyId(id)))? {
                    out.push_str(&format!("  tenant {}: {} ({})\n", t.id, t.slug, t.name));
                }
            }
            Ok(out.trim_end().to_string())
        }
        Command::Token(TokenCmd::Create { tenant, name }) => {
            let (pool, _) = serve::open_database(s)?;
            let mut c = pool.get()?;
            let scope = tenants::system_scope_by_slug(&mut c, &tenant)
                .map_err(|_| CliError::Usage(format!("--tenant: no tenant {tenant:?}")))?;
            let (t, plain) = api_tokens::create(&mut c, &scope, &name, None)?;
            eprintln!(
                "created API token {} for {tenant}; it is shown only this once:",
                t.id
            );
            Ok(plain)
        }
        Command::Demo {
            days,
            no_serve,
            reset,
        } => crate::demo::run(
            crate::demo::Options {
                days,
                no_serve,
                reset,
            },
            s,
        ),
        #[cfg(feature = "bench")]
        Command::Bench(cmd) => Ok(crate::bench::command(cmd, s)?),
        Command::CheckConfig => {
            let (pool, _) = serve::open_database(s)?;
            serve::secrets(s)?;
            patron_mail::Mailer::new(s.mail()).map_err(serve::StartError::from)?;
            let backend = format!("{:?}", pool.backend()).to_lowercase();
            Ok(format!(
                "configuration OK\n  bind: {}\n  base_url: {}\n  data_dir: {}\n  database: {} ({})\n  mail: {:?}",
                s.bind,
                s.effective_base_url(),
                s.data_dir.display(),
                patron_store::conn::redact(&s.effective_database_url()),
                backend,
                s.mail_transport,
            ))
        }
    }
}
