//! Start-up: data directory, secret key, database pool, migrations, first-run link, mailer,
//! and the HTTP server with its limits and graceful shutdown.

use crate::config::Settings;
use actix_web::{middleware, web, App, HttpServer};
use patron_store::{DbPool, SecretBox};
use std::net::TcpListener;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] patron_store::StoreError),
    #[error("mail: {0}")]
    Mail(#[from] patron_mail::MailError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Everything a running server needs, ready before it listens.
pub struct Prepared {
    pub state: web::Data<patron_web::AppState>,
    /// The one-time setup link, while nobody can log in yet.
    pub setup_link: Option<String>,
    pub applied_migrations: Vec<String>,
}

pub fn secrets(s: &Settings) -> Result<SecretBox, StartError> {
    Ok(if s.secret_key.is_empty() {
        SecretBox::from_key_file(&s.data_dir.join("secret.key"))?
    } else {
        SecretBox::from_base64(&s.secret_key)?
    })
}

pub fn ensure_data_dir(s: &Settings) -> Result<(), StartError> {
    std::fs::create_dir_all(&s.data_dir).map_err(|source| StartError::DataDir {
        path: s.data_dir.display().to_string(),
        source,
    })
}

/// Opens the database and applies pending migrations.
pub fn open_database(s: &Settings) -> Result<(DbPool, Vec<String>), StartError> {
    ensure_data_dir(s)?;
    let pool = DbPool::connect(&s.effective_database_url(), s.db_pool_size)?;
    let applied = patron_store::migrate::run(&mut *pool.get()?)?;
    Ok((pool, applied))
}

pub fn prepare(s: &Settings, base_url: &str) -> Result<Prepared, StartError> {
    let (pool, applied_migrations) = open_database(s)?;
    let secrets = secrets(s)?;
    let setup_link = patron_web::ui::setup::first_run_link(&mut *pool.get()?, base_url)?;
    let mailer = patron_mail::Mailer::new(s.mail())?;
    let mut web_cfg = s.web();
    web_cfg.base_url = base_url.trim_end_matches('/').to_string();
    // The redemption writers' connections are their own (see patron_app::redeemer).
    let writers = match s.redeem_writers {
        0 => patron_app::redeemer::Redeemer::default_writers(pool.backend()),
        n => n,
    };
    let redeemer = if s.redeem_direct {
        patron_app::redeemer::Redeemer::direct(pool.clone(), *secrets.mac_key())
    } else {
        patron_app::redeemer::Redeemer::start(
            DbPool::connect(&s.effective_database_url(), writers as u32)?,
            writers,
            *secrets.mac_key(),
        )
    };
    let state = web::Data::new(patron_web::AppState {
        redeemer,
        pool: pool.clone(),
        secrets,
        mailer,
        webhook_guard: patron_web::webhook::Guard::new(web_cfg.webhook_limits()),
        cfg: web_cfg,
        endpoints: Default::default(),
        tokens: Default::default(),
        metrics: Default::default(),
        ingest: patron_store::inbox::Batcher::start(
            pool.clone(),
            // 0: the backend's default (Batcher::default_writers).
            s.ingest_writers,
            s.ingest_journal
                .then(|| s.data_dir.join("ingest-journal"))
                .as_deref()
                .map(|dir| (dir, s.ingest_journal_sync)),
        )?,
    });
    // Every process drops its webhook cache when another changes what it holds.
    patron_web::webhook::watch_cache_epoch(&state).map_err(StartError::from)?;
    Ok(Prepared {
        state,
        setup_link,
        applied_migrations,
    })
}

pub fn listen(s: &Settings) -> Result<TcpListener, StartError> {
    TcpListener::bind(&s.bind).map_err(|source| StartError::Bind {
        addr: s.bind.clone(),
        source,
    })
}

/// The HTTP server on `listener`. Actix stops gracefully on SIGINT/SIGTERM: it stops
/// accepting, lets in-flight requests finish (up to `shutdown_timeout_secs`), then exits.
pub fn http_server(
    s: &Settings,
    state: web::Data<patron_web::AppState>,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    http_server_with(s, state, listener, |_| {})
}

/// [`http_server`] with `extra` routes beside the application's (the benchmark's baseline).
pub fn http_server_with(
    s: &Settings,
    state: web::Data<patron_web::AppState>,
    listener: TcpListener,
    extra: fn(&mut web::ServiceConfig),
) -> std::io::Result<actix_web::dev::Server> {
    let security = web::Data::new(patron_web::middleware::SecurityConfig {
        secure_cookies: state.cfg.secure_cookies,
    });
    let mut server = HttpServer::new(move || {
        let state = state.clone();
        App::new()
            .app_data(security.clone())
            .wrap(middleware::from_fn(patron_web::middleware::request_context))
            .configure(extra)
            .configure(move |cfg| patron_web::configure(cfg, state))
    })
    .client_request_timeout(Duration::from_secs(s.request_timeout_secs))
    .client_disconnect_timeout(Duration::from_secs(5))
    .keep_alive(Duration::from_secs(30))
    .shutdown_timeout(s.shutdown_timeout_secs)
    .listen(listener)?;
    if s.workers > 0 {
        server = server.workers(s.workers);
    }
    Ok(server.run())
}

/// Starts the job workers (follower sync, …) over the server's pool. Keep the handle for as
/// long as jobs should run; dropping it stops them.
pub fn start_workers(
    state: &patron_web::AppState,
    n: usize,
    lease: std::time::Duration,
) -> patron_jobs::WorkerHandle {
    let mut handlers = patron_jobs::Handlers::new();
    handlers.insert(
        patron_jobs::follower_sync::KIND,
        patron_jobs::follower_sync::handler(state.secrets.clone()),
    );
    handlers.insert(
        patron_jobs::follower_import::KIND,
        patron_jobs::follower_import::handler(),
    );
    handlers.insert(
        patron_jobs::cs_send::KIND,
        patron_jobs::cs_send::handler(state.secrets.clone(), state.cfg.base_url.clone()),
    );
    handlers.insert(
        patron_jobs::follower_info::KIND,
        patron_jobs::follower_info::handler(state.secrets.clone()),
    );
    handlers.insert(
        patron_jobs::coupon_bulk::KIND,
        patron_jobs::coupon_bulk::handler(),
    );
    handlers.insert(
        patron_jobs::tag_sync::KIND,
        patron_jobs::tag_sync::handler(state.secrets.clone()),
    );
    handlers.insert(
        patron_jobs::broadcast_send::KIND,
        patron_jobs::broadcast_send::handler(
            state.secrets.clone(),
            patron_jobs::broadcast_email::EmailChannel {
                mailer: state.mailer.clone(),
                base_url: state.cfg.base_url.clone(),
            },
        ),
    );
    handlers.insert(
        patron_jobs::reconcile_bill::KIND,
        patron_jobs::reconcile_bill::handler(patron_jobs::reconcile_bill::BillChannel {
            secrets: state.secrets.clone(),
            pay_api_base: state.cfg.pay_api_base.clone(),
            mailer: state.mailer.clone(),
            base_url: state.cfg.base_url.clone(),
        }),
    );
    handlers.insert(
        patron_jobs::broadcast_send::report::KIND,
        patron_jobs::broadcast_send::report::handler(),
    );
    patron_jobs::spawn_workers_with(
        state.pool.clone(),
        handlers,
        patron_jobs::WorkerOptions {
            threads: n,
            lease,
            ..patron_jobs::WorkerOptions::default()
        },
    )
}
