//! `patron demo`: an agency with three merchant accounts and 90 days of history, a
//! sign-in, and the server running with the WeChat simulator standing in for WeChat.
//!
//! The history (`history`, from a seeded RNG over `world`'s merchants) is written
//! through the paths real traffic takes: the accounts as the pages set them up (`setup`:
//! QR codes and the menu through WeChat's API, which is the simulator), WeChat's pushes
//! through the webhook's ingest writers (`ingest`), the tills' redemptions, WeChat Pay's
//! notifications and the staff's points through `patron_app` (`till`). Those paths stamp
//! rows with the time they run, so each row is then moved back to when it happened; the
//! daily figures are rolled from the result by `patron_app::stats::rebuild`, as
//! `patron stats rebuild` does.
//!
//! The demo has a database of its own (`patron-demo.db` in the data directory unless
//! `--database-url` names one). A second run finds the demo there and serves it again
//! (with a new password); `--reset` starts the default file over. It never writes into a
//! database that holds anything else.

mod history;
mod ingest;
mod live;
mod setup;
mod till;
mod world;

use crate::cli::CliError;
use crate::config::Settings;
use crate::serve;
use chrono::{NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use diesel::prelude::*;
use patron_domain::TenantScope;
use patron_store::tenants::Tenant;
use patron_store::{users, write_tx, DbPool};
use std::path::PathBuf;
use std::time::Instant;

pub(crate) type R<T> = Result<T, CliError>;

/// An error of the demo's own making, for the operator.
pub(crate) fn fail(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("demo: {what}: {e}"))
}

/// `patron demo`'s flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// Days of history.
    pub days: u32,
    /// Seed (or find) the demo, print how to sign in, and exit.
    pub no_serve: bool,
    /// Delete the default demo database first.
    pub reset: bool,
}

/// The app setting that marks a database as the demo's (written last, so a seed that
/// did not finish is not taken for one).
const MARKER: &str = "demo";

/// A coupon a follower holds (for the tills to redeem).
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub id: i64,
    pub code: String,
    pub fan: usize,
    /// Its campaign's index in the merchant's.
    pub campaign: usize,
    pub issued_at: NaiveDateTime,
    pub valid_to: NaiveDateTime,
    pub used: bool,
}

/// A merchant account being seeded: what setup made, its history, and what the history
/// made of it so far.
pub(crate) struct Shop {
    pub m: world::Merchant,
    pub scope: TenantScope,
    pub tenant: Tenant,
    pub tz: Tz,
    pub stores: Vec<i64>,
    /// Each store's cashier (user id, name).
    pub cashiers: Vec<(i64, String)>,
    pub manager: (i64, String),
    /// Campaign ids, in the merchant's order.
    pub campaigns: Vec<i64>,
    pub spike_campaign: Option<usize>,
    pub history: history::History,
    /// When the account was set up (before its history).
    pub setup_at: NaiveDateTime,
    /// When the spike's campaign, rule and poster were made.
    pub spike_setup_at: Option<NaiveDateTime>,
    /// Follower id of each fan.
    pub followers: Vec<i64>,
    pub coupons: Vec<Held>,
    /// Points each fan earned from pushes, with when.
    pub earnings: Vec<Vec<(NaiveDateTime, i64)>>,
}

/// What a database holds.
enum Found {
    Demo(String),
    Empty,
    Other,
}

fn inspect(pool: &DbPool) -> R<Found> {
    let mut c = pool.get()?;
    if let Some(m) = patron_store::settings::get(&mut c, MARKER)? {
        return Ok(Found::Demo(m));
    }
    let empty = users::count(&mut c)? == 0 && patron_store::tenants::count_all(&mut c)? == 0;
    Ok(if empty { Found::Empty } else { Found::Other })
}

fn remove_files(db: &std::path::Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(PathBuf::from(p)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// A strong password for the demo's accounts (as `patron user create` makes them).
fn password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Every account the demo made.
fn demo_emails() -> Vec<&'static str> {
    let mut out = vec![world::ADMIN_EMAIL];
    for m in world::merchants() {
        out.push(m.manager.0);
        out.extend(m.stores.iter().map(|s| s.cashier_email));
    }
    out
}

pub fn run(o: Options, given: &Settings) -> R<String> {
    let mut s = given.clone();
    let own_file = s.database_url.is_empty();
    let file = s.data_dir.join("patron-demo.db");
    if own_file {
        s.database_url = format!("sqlite://{}", file.display());
    }
    // The simulator is on loopback and plain http; the journal's directory may be
    // another process's (a `patron serve` beside the demo).
    s.allow_loopback_api_base = true;
    s.ingest_journal = false;
    serve::ensure_data_dir(&s)?;
    if o.reset {
        if !own_file {
            return Err(CliError::Usage(
                "--reset deletes the demo's own database file only; drop the database given \
                 with --database-url yourself"
                    .into(),
            ));
        }
        remove_files(&file)?;
    }
    let (mut pool, _) = serve::open_database(&s)?;
    let mut found = inspect(&pool)?;
    if matches!(found, Found::Other) {
        if !own_file {
            return Err(CliError::Usage(format!(
                "{} holds data that is not a finished Patron demo; `patron demo` fills only an \
                 empty database (or serves one it filled before)",
                patron_store::conn::redact(&s.effective_database_url())
            )));
        }
        eprintln!("An earlier demo did not finish seeding; starting over.");
        drop(pool);
        remove_files(&file)?;
        pool = serve::open_database(&s)?.0;
        found = Found::Empty;
    }
    let listener = match o.no_serve {
        true => None,
        false => Some(serve::listen(&s)?),
    };
    let base_url = match (&listener, s.base_url.is_empty()) {
        (Some(l), true) => format!("http://{}", l.local_addr()?),
        _ => s.effective_base_url(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let sim = patron_simulator::Simulator::start();
    let secrets = serve::secrets(&s)?;
    let pw = password();
    let hash = patron_web::password::hash(&pw);
    let mut out = String::new();
    let seeded = match found {
        Found::Demo(marker) => {
            set_passwords(&pool, &hash)?;
            format!("the demo seeded earlier ({marker}); `patron demo --reset` seeds it afresh")
        }
        _ => {
            let started = Instant::now();
            let days = o.days.clamp(1, 365);
            let summary = seed(&pool, &s, &sim, &rt, &base_url, &hash, days)?;
            let took = started.elapsed().as_secs_f64();
            let note = format!(
                "{days} days seeded on {}",
                patron_store::now().format("%Y-%m-%d %H:%M UTC")
            );
            patron_store::settings::set(&mut *pool.get()?, MARKER, &note)?;
            out.push_str(&summary);
            format!("seeded just now: {days} days of history in {took:.1} s")
        }
    };
    let db = patron_store::conn::redact(&s.effective_database_url());
    let login = format!("{base_url}{}", patron_web::paths::Site.login());
    let till = patron_web::paths::tenant("dawn-coffee").cashier();
    let mut head = format!(
        "Patron demo\n  database  {db} ({seeded})\n  accounts  {}\n",
        world::AGENCY
    );
    head.push_str(&out);
    head.push_str(&format!(
        "\nSign in at {login}\n  email     {}\n  password  {pw}\n  (every demo account has this password; a new one is made each run)\n  a cashier: {} opens the till at {base_url}{till}\n",
        world::ADMIN_EMAIL,
        world::merchants()[0].stores[0].cashier_email,
    ));
    let Some(listener) = listener else {
        return Ok(head.trim_end().to_string());
    };
    let accounts = live::connect(&pool, &secrets, &sim, &rt, &base_url)?;
    drop(rt);
    head.push_str(&format!(
        "\nRunning:\n  Patron    {base_url}\n  WeChat    the simulator at {} (the accounts' API base; it pushes to {base_url}/wx/<slug>)\n",
        sim.base_url()
    ));
    for a in &accounts {
        head.push_str(&format!(
            "            {} {}: {} followers, QR scenes {}\n",
            a.slug,
            a.appid,
            a.followers,
            a.tickets.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    head.push_str(&format!("\n{}\nCtrl-C stops the demo.\n", live::HELP));
    println!("{head}");
    drop(pool);
    let shell = std::thread::Builder::new()
        .name("demo-shell".into())
        .spawn(move || live::shell(accounts))?;
    drop(shell);
    serve_demo(&s, listener, &base_url)?;
    drop(sim);
    Ok(String::new())
}

/// Sets the demo accounts' password (a later run prints a new one).
fn set_passwords(pool: &DbPool, hash: &str) -> R<()> {
    let mut c = pool.get()?;
    for email in demo_emails() {
        if let Some(u) = users::by_email(&mut c, email)? {
            users::set_password(&mut c, u.id(), hash)?;
        }
    }
    Ok(())
}

/// Seeds the demo; answers a line per merchant account.
fn seed(
    pool: &DbPool,
    s: &Settings,
    sim: &patron_simulator::Simulator,
    rt: &tokio::runtime::Runtime,
    base_url: &str,
    hash: &str,
    days: u32,
) -> R<String> {
    let secrets = serve::secrets(s)?;
    let now = patron_store::now();
    let t = Instant::now();
    let mut shops = setup::accounts(&setup::Setup {
        pool,
        secrets: &secrets,
        rt,
        sim,
        password_hash: hash,
        now,
        days,
    })?;
    tracing::info!(secs = t.elapsed().as_secs_f64(), "demo accounts set up");
    let t = Instant::now();
    let pushes = ingest::store(pool, &secrets, base_url, rt, &mut shops)?;
    tracing::info!(
        pushes,
        secs = t.elapsed().as_secs_f64(),
        "demo pushes stored"
    );
    let t = Instant::now();
    let tills = till::run(
        pool,
        &s.effective_database_url(),
        &secrets,
        rt,
        &mut shops,
        now,
    )?;
    tracing::info!(secs = t.elapsed().as_secs_f64(), "demo tills done");
    for shop in &shops {
        backdate_setup(pool, shop)?;
    }
    let t = Instant::now();
    patron_app::stats::rebuild(pool, None, None, patron_store::now(), |_, _| {})?;
    tracing::info!(secs = t.elapsed().as_secs_f64(), "demo figures rolled");
    let mut out = String::new();
    for (shop, done) in shops.iter().zip(tills) {
        let h = &shop.history;
        out.push_str(&format!(
            "            {} ({}): {} followers, {} pushes, {} stores, {} coupons redeemed, {} payments\n",
            shop.m.name,
            shop.m.slug,
            h.fans.len(),
            h.pushes.len(),
            shop.stores.len(),
            done.redeemed,
            done.payments,
        ));
    }
    Ok(out)
}

/// Moves what setup made back to before the history: the account, its stores, staff,
/// program, campaigns, rules, QR codes, tags, menu and pay settings.
fn backdate_setup(pool: &DbPool, shop: &Shop) -> R<()> {
    use patron_store::schema::{
        campaigns as cp, loyalty_programs as lp, memberships as ms, menus as mn,
        pay_settings as ps, qr_codes as qr, reply_rules as rr, stores as st, tags as tg,
        tenants as tn, users as us,
    };
    let tenant = shop.scope.tenant_id().0;
    let at = shop.setup_at;
    let mut c = pool.get()?;
    write_tx(&mut c, |c| -> R<()> {
        diesel::update(tn::table.find(tenant))
            .set((tn::created_at.eq(at), tn::updated_at.eq(at)))
            .execute(c)?;
        diesel::update(st::table.filter(st::tenant_id.eq(tenant)))
            .set(st::created_at.eq(at))
            .execute(c)?;
        diesel::update(tg::table.filter(tg::tenant_id.eq(tenant)))
            .set(tg::created_at.eq(at))
            .execute(c)?;
        diesel::update(lp::table.filter(lp::tenant_id.eq(tenant)))
            .set(lp::updated_at.eq(at))
            .execute(c)?;
        diesel::update(ps::table.filter(ps::tenant_id.eq(tenant)))
            .set(ps::updated_at.eq(at))
            .execute(c)?;
        diesel::update(mn::table.filter(mn::tenant_id.eq(tenant)))
            .set((mn::updated_at.eq(at), mn::published_at.eq(Some(at))))
            .execute(c)?;
        diesel::update(cp::table.filter(cp::tenant_id.eq(tenant)))
            .set((cp::created_at.eq(at), cp::updated_at.eq(at)))
            .execute(c)?;
        diesel::update(rr::table.filter(rr::tenant_id.eq(tenant)))
            .set((rr::created_at.eq(at), rr::updated_at.eq(at)))
            .execute(c)?;
        diesel::update(qr::table.filter(qr::tenant_id.eq(tenant)))
            .set(qr::created_at.eq(at))
            .execute(c)?;
        let members: Vec<i64> = ms::table
            .filter(ms::tenant_id.eq(tenant))
            .select(ms::user_id)
            .load(c)?;
        diesel::update(ms::table.filter(ms::tenant_id.eq(tenant)))
            .set(ms::created_at.eq(at))
            .execute(c)?;
        diesel::update(us::table.filter(us::id.eq_any(&members)))
            .set(us::created_at.eq(at))
            .execute(c)?;
        // The agency and its admin came first.
        let first = at - TimeDelta::days(2);
        diesel::update(patron_store::schema::agencies::table.find(shop.scope.agency_id().0))
            .set(patron_store::schema::agencies::created_at.eq(first))
            .execute(c)?;
        diesel::update(
            ms::table
                .filter(ms::agency_id.eq(shop.scope.agency_id().0))
                .filter(ms::tenant_id.is_null()),
        )
        .set(ms::created_at.eq(first))
        .execute(c)?;
        diesel::update(us::table.filter(us::email.eq(world::ADMIN_EMAIL)))
            .set(us::created_at.eq(first))
            .execute(c)?;
        // The spike's campaign, rule and poster were made just before it, and the
        // campaign ended with it.
        if let (Some(made), Some(k), Some((_, last))) =
            (shop.spike_setup_at, shop.spike_campaign, shop.history.spike)
        {
            let ended = history::utc(shop.tz, last.and_hms_opt(22, 0, 0).unwrap_or_default());
            let ended = ended.min(patron_store::now());
            diesel::update(cp::table.find(shop.campaigns[k]))
                .set((cp::created_at.eq(made), cp::updated_at.eq(ended.max(made))))
                .execute(c)?;
            diesel::update(
                rr::table
                    .filter(rr::tenant_id.eq(tenant))
                    .filter(rr::campaign_id.eq(shop.campaigns[k])),
            )
            .set((rr::created_at.eq(made), rr::updated_at.eq(made)))
            .execute(c)?;
            diesel::update(
                qr::table
                    .filter(qr::tenant_id.eq(tenant))
                    .filter(qr::campaign_id.eq(shop.campaigns[k])),
            )
            .set(qr::created_at.eq(made))
            .execute(c)?;
        }
        Ok(())
    })
}

/// `patron serve` over the demo's database, with the job workers and the scheduler.
fn serve_demo(s: &Settings, listener: std::net::TcpListener, base_url: &str) -> R<()> {
    let prepared = serve::prepare(s, base_url)?;
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
        server.await?;
        Ok::<_, CliError>(())
    })
}
