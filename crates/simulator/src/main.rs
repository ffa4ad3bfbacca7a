//! `patron-simulator [ADDR] [--followers N] [--appid ID --secret SECRET]
//! [--original-id GH_ID] [--webhook URL --token TOKEN [--aes-key KEY]
//! [--mode plaintext|compatible|safe]] [--job-finish-delay SECS]
//! [--mch-id ID --merchant-public-key FILE [--bills-dir DIR]]`: serves the WeChat
//! OA API simulator on ADDR (default `127.0.0.1:8089`) until killed, for running
//! Patron locally against a fake `api.weixin.qq.com` (and `api.mch.weixin.qq.com`).
//!
//! With `--mch-id` and the merchant's API certificate public key it is a WeChat Pay
//! merchant too: it prints the platform key id and public key to configure Patron
//! with, and serves the trade bills in `--bills-dir` (files `YYYY-MM-DD.csv`, each
//! published as that day's `ALL` bill at start).
//!
//! With a webhook (also from the environment: `PATRON_SIM_WEBHOOK`,
//! `PATRON_SIM_TOKEN`, `PATRON_SIM_AES_KEY`, `PATRON_SIM_MODE`; flags win) the
//! default account pushes to it: `MASSSENDJOBFINISH` after each mass send, and what
//! is typed on standard input (`help` lists the commands).

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use patron_simulator::{PushMode, SimConfig, Simulator, Webhook};

const USAGE: &str = "usage: patron-simulator [ADDR] [--followers N] [--appid ID --secret SECRET] \
[--original-id GH_ID] [--webhook URL --token TOKEN [--aes-key KEY] [--mode plaintext|compatible|safe]] \
[--job-finish-delay SECS] [--mch-id ID --merchant-public-key FILE [--bills-dir DIR]]";

const COMMANDS: &str = "commands (one per line):
  subscribe OPENID          OPENID follows (new or again); pushes `subscribe`
  scan OPENID TICKET        OPENID scans a QR code; pushes `SCAN` or `subscribe`
  unsubscribe OPENID        OPENID unfollows; pushes `unsubscribe`
  text OPENID CONTENT…      the follower OPENID writes; pushes a text message
  followers [N]             the first N (10) openids of the follower list
  pushes                    every push delivery attempt so far
  help                      this list";

#[derive(Default)]
struct PayArgs {
    mchid: Option<String>,
    public_key: Option<String>,
    bills_dir: Option<String>,
}

#[derive(Default)]
struct HookArgs {
    url: Option<String>,
    token: Option<String>,
    aes_key: Option<String>,
    mode: Option<String>,
}

fn main() -> ExitCode {
    let mut config = SimConfig::default();
    let mut addr = "127.0.0.1:8089".to_owned();
    let mut followers = 0usize;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut hook = HookArgs {
        url: env("PATRON_SIM_WEBHOOK"),
        token: env("PATRON_SIM_TOKEN"),
        aes_key: env("PATRON_SIM_AES_KEY"),
        mode: env("PATRON_SIM_MODE"),
    };
    let mut pay = PayArgs::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match arg.as_str() {
            "--followers" => value("--followers").and_then(|v| {
                v.parse()
                    .map(|n| followers = n)
                    .map_err(|e| format!("--followers: {e}"))
            }),
            "--appid" => value("--appid").map(|v| config.appid = v),
            "--secret" => value("--secret").map(|v| config.secret = v),
            "--original-id" => value("--original-id").map(|v| config.original_id = v),
            "--webhook" => value("--webhook").map(|v| hook.url = Some(v)),
            "--token" => value("--token").map(|v| hook.token = Some(v)),
            "--aes-key" => value("--aes-key").map(|v| hook.aes_key = Some(v)),
            "--mode" => value("--mode").map(|v| hook.mode = Some(v)),
            "--mch-id" => value("--mch-id").map(|v| pay.mchid = Some(v)),
            "--merchant-public-key" => {
                value("--merchant-public-key").map(|v| pay.public_key = Some(v))
            }
            "--bills-dir" => value("--bills-dir").map(|v| pay.bills_dir = Some(v)),
            "--job-finish-delay" => value("--job-finish-delay").and_then(|v| {
                v.parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .map(|d| config.job_finish_delay = d)
                    .ok_or_else(|| format!("--job-finish-delay: not seconds: {v}"))
            }),
            "-h" | "--help" => {
                println!("{USAGE}\n\n{COMMANDS}");
                return ExitCode::SUCCESS;
            }
            other if !other.starts_with('-') => {
                addr = other.to_owned();
                Ok(())
            }
            other => Err(format!("unknown option {other}")),
        };
        if let Err(message) = parsed {
            eprintln!("patron-simulator: {message}");
            return ExitCode::from(2);
        }
    }
    let webhook = match webhook(hook) {
        Ok(webhook) => webhook,
        Err(message) => {
            eprintln!("patron-simulator: {message}");
            return ExitCode::from(2);
        }
    };
    let merchant = match merchant(pay) {
        Ok(merchant) => merchant,
        Err(message) => {
            eprintln!("patron-simulator: {message}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::bind(addr.as_str(), config) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("patron-simulator: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seeded = sim.seed_followers(followers);
    println!("WeChat simulator at {}", sim.base_url());
    println!("appid  {}", sim.appid());
    println!("secret {}", sim.secret());
    println!("original id {}", sim.original_id());
    println!("followers {}", sim.follower_count());
    // The first few, to preview to or to write as (`text OPENID …`).
    for openid in seeded.iter().take(3) {
        println!("follower {openid}");
    }
    if let Some(merchant) = merchant {
        if let Err(message) = serve_merchant(&sim, merchant) {
            eprintln!("patron-simulator: {message}");
            return ExitCode::from(2);
        }
    }
    if let Some(webhook) = webhook {
        println!("pushing to {} ({:?} mode)", webhook.url, webhook.mode);
        sim.set_webhook(webhook);
        println!("type `help` for the commands that push");
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Err(message) = command(&sim, &line) {
            println!("{message}");
        }
    }
    // Standard input closed (or was never open): serve on.
    loop {
        std::thread::park();
    }
}

/// The webhook the flags and environment describe, if any.
fn webhook(hook: HookArgs) -> Result<Option<Webhook>, String> {
    let Some(url) = hook.url else {
        return Ok(None);
    };
    if !url.starts_with("http://") {
        return Err(format!("--webhook must be an http:// URL, not {url}"));
    }
    let token = hook.token.ok_or("--webhook needs --token")?;
    let mode = match hook.mode.as_deref() {
        None if hook.aes_key.is_some() => PushMode::Safe,
        None | Some("plaintext") => PushMode::Plaintext,
        Some("compatible") => PushMode::Compatible,
        Some("safe") => PushMode::Safe,
        Some(other) => {
            return Err(format!(
                "--mode: plaintext, compatible or safe, not {other}"
            ))
        }
    };
    let aes_key = hook.aes_key.unwrap_or_default();
    if mode != PushMode::Plaintext && patron_simulator::crypto::aes_key(&aes_key).is_none() {
        return Err("--aes-key must be a 43-character EncodingAESKey ([A-Za-z0-9])".into());
    }
    Ok(Some(Webhook {
        url,
        token,
        encoding_aes_key: aes_key,
        mode,
    }))
}

/// The WeChat Pay merchant the flags describe, read from its files: its mchid, its
/// public key PEM and its bills.
struct Merchant {
    mchid: String,
    key_file: String,
    pem: String,
    bills: Vec<(String, Vec<u8>)>,
}

/// Reads the merchant's files (before the server starts, so a typo stops it first).
fn merchant(pay: PayArgs) -> Result<Option<Merchant>, String> {
    let Some(mchid) = pay.mchid else {
        if pay.public_key.is_some() || pay.bills_dir.is_some() {
            return Err("--merchant-public-key and --bills-dir need --mch-id".into());
        }
        return Ok(None);
    };
    let key_file = pay
        .public_key
        .ok_or("--mch-id needs --merchant-public-key")?;
    let pem = std::fs::read_to_string(&key_file).map_err(|e| format!("{key_file}: {e}"))?;
    let bills = match pay.bills_dir {
        Some(dir) => bills(Path::new(&dir))?,
        None => Vec::new(),
    };
    Ok(Some(Merchant {
        mchid,
        key_file,
        pem,
        bills,
    }))
}

/// Registers the merchant and publishes its bills; prints the platform key to
/// configure Patron with.
fn serve_merchant(sim: &Simulator, merchant: Merchant) -> Result<(), String> {
    let Merchant {
        mchid,
        key_file,
        pem,
        bills,
    } = merchant;
    sim.add_merchant(&mchid, &pem)
        .map_err(|e| format!("--merchant-public-key {key_file}: {e}"))?;
    println!("WeChat Pay merchant {mchid}");
    for (date, bytes) in bills {
        println!("bill {date} ALL ({} bytes)", bytes.len());
        sim.publish_bill(&mchid, &date, "ALL", bytes);
    }
    println!("pay platform key id {}", sim.pay_platform_key_id());
    print!("{}", sim.pay_platform_public_key_pem());
    Ok(())
}

/// The bills in `dir`: each `YYYY-MM-DD.csv`, by date; other files are left alone.
fn bills(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let shown = dir.display();
    let mut bills = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("--bills-dir {shown}: {e}"))? {
        let path = entry
            .map_err(|e| format!("--bills-dir {shown}: {e}"))?
            .path();
        let date = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".csv"))
            .filter(|d| patron_simulator::pay::is_bill_date(d));
        if let (Some(date), true) = (date, path.is_file()) {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            bills.push((date.to_owned(), bytes));
        }
    }
    bills.sort();
    Ok(bills)
}

/// Runs one standard-input command.
fn command(sim: &Simulator, line: &str) -> Result<(), String> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(());
    };
    let openid = words.next();
    let need = |o: Option<&str>| {
        o.map(str::to_owned)
            .ok_or(format!("{verb} needs an openid"))
    };
    let pushed = |id: Option<u64>| match id {
        Some(id) => println!("push #{id} queued"),
        None => println!("done (no webhook: nothing pushed)"),
    };
    match verb {
        "subscribe" => pushed(sim.push_subscribe(&need(openid)?)),
        "scan" => {
            let openid = need(openid)?;
            let ticket = words.next().ok_or("scan needs a ticket")?;
            if sim.qrcode(ticket).is_none() {
                return Err(format!("no QR code has the ticket {ticket}"));
            }
            pushed(sim.push_scan(&openid, ticket));
        }
        "unsubscribe" => {
            let openid = need(openid)?;
            if sim.follower(&openid).is_none() {
                return Err(format!("{openid} is unknown"));
            }
            pushed(sim.push_unsubscribe(&openid));
        }
        "text" => {
            let openid = need(openid)?;
            if !sim.follower(&openid).is_some_and(|f| f.subscribed) {
                return Err(format!("{openid} does not follow"));
            }
            let content = words.collect::<Vec<_>>().join(" ");
            if content.is_empty() {
                return Err("text needs some content".into());
            }
            pushed(sim.push_text(&openid, &content));
        }
        "followers" => {
            let n: usize = openid
                .map_or(Ok(10), str::parse)
                .map_err(|e| format!("followers: {e}"))?;
            let openids = sim.follower_openids();
            println!("{} followers", openids.len());
            for openid in openids.iter().take(n) {
                println!("  {openid}");
            }
        }
        "pushes" => {
            for d in sim.push_deliveries() {
                let answer = match (&d.status, &d.error) {
                    (Some(status), None) => format!("HTTP {status}"),
                    (_, Some(error)) => error.clone(),
                    (None, None) => "no answer".into(),
                };
                println!("#{} attempt {} {}: {answer}", d.push_id, d.attempt, d.kind);
            }
        }
        "help" => println!("{COMMANDS}"),
        other => return Err(format!("unknown command {other}; try `help`")),
    }
    Ok(())
}
