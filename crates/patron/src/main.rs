use clap::Parser;
use patron::cli::{run_blocking, Cli, Command};
use patron::config::Settings;
use patron::serve;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the webhook allocates a push on an HTTP worker and
/// the ingest writer frees it, and glibc takes a lock on the allocating thread's arena for
/// each such free (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(s: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&s.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if s.log_format == "json" {
        b.json().flatten_event(true).init();
    } else {
        b.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("patron: {e}");
            return ExitCode::from(2);
        }
    };
    // A benchmark logs warnings only (unless RUST_LOG says otherwise): an access-log line
    // per request would be measured along with the request.
    let mut log_settings = settings.clone();
    #[cfg(feature = "bench")]
    if matches!(cli.command, Command::Bench(_)) {
        log_settings.log_level = "warn".into();
    }
    // The demo's terminal is for its commands (follow, say…) and their replies: warnings
    // only there too, unless RUST_LOG or the configuration's log level says otherwise.
    if matches!(cli.command, Command::Demo { .. }) && log_settings.log_level == "info" {
        log_settings.log_level = "warn".into();
    }
    init_logging(&log_settings);
    let result = match cli.command {
        Command::Serve => serve_forever(&settings),
        other => run_blocking(other, &settings).map(|out| {
            if !out.is_empty() {
                println!("{out}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patron: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_forever(s: &Settings) -> Result<(), patron::cli::CliError> {
    let listener = serve::listen(s)?;
    let addr = listener.local_addr()?;
    let base_url = if s.base_url.is_empty() {
        format!("http://{addr}")
    } else {
        s.effective_base_url()
    };
    let prepared = serve::prepare(s, &base_url)?;
    for m in &prepared.applied_migrations {
        tracing::info!(migration = %m, "applied migration");
    }
    let pool = prepared.state.pool.clone();
    let _workers = serve::start_workers(
        &prepared.state,
        2,
        std::time::Duration::from_secs(s.job_lease_secs.max(1)),
    );
    actix_web::rt::System::new().block_on(async move {
        let _jobs = match patron_jobs::start(pool).await {
            Ok(j) => Some(j),
            Err(e) => {
                tracing::error!(error = %e, "scheduler did not start");
                None
            }
        };
        let server = serve::http_server(s, prepared.state, listener)?;
        tracing::info!(%addr, %base_url, "Patron is listening");
        println!("Patron is listening on {base_url}");
        if let Some(link) = &prepared.setup_link {
            println!();
            println!("First run: no account exists yet. Open this one-time link to create the agency and its administrator:");
            println!();
            println!("    {link}");
            println!();
        }
        server.await?;
        tracing::info!("stopped");
        Ok(())
    })
}
