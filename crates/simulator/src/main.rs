//! `patron-simulator [ADDR] [--followers N] [--appid ID --secret SECRET]`: serves the
//! WeChat OA API simulator on ADDR (default `127.0.0.1:8089`) until killed, for
//! running Patron locally against a fake `api.weixin.qq.com`.

use std::process::ExitCode;

use patron_simulator::{SimConfig, Simulator};

fn main() -> ExitCode {
    let mut config = SimConfig::default();
    let mut addr = "127.0.0.1:8089".to_owned();
    let mut followers = 0usize;
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
            "-h" | "--help" => {
                println!(
                    "usage: patron-simulator [ADDR] [--followers N] [--appid ID --secret SECRET]"
                );
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
    let sim = match Simulator::bind(addr.as_str(), config) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("patron-simulator: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    sim.seed_followers(followers);
    println!("WeChat simulator at {}", sim.base_url());
    println!("appid  {}", sim.appid());
    println!("secret {}", sim.secret());
    println!("followers {}", sim.follower_count());
    loop {
        std::thread::park();
    }
}
