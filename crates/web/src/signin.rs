//! The sign-in throttle's budgets, which sign-in, reset requests and the current-password
//! check all spend from: failures per account and per client address inside a window, in
//! the database so every process sees the same counts.

use chrono::TimeDelta;
use patron_store::throttle;

/// The sign-in throttle's keys: the account and the client address. Sign-in, the
/// current-password check and reset requests all spend from the same budgets.
pub(crate) fn throttle_keys(email: &str, ip: &str) -> [String; 2] {
    [
        format!("acct:{}", email.trim().to_lowercase()),
        format!("ip:{ip}"),
    ]
}

/// If any of `keys` is past its limit, the minutes until it lifts.
pub(crate) fn locked_for(
    c: &mut patron_store::DbConn,
    cfg: &crate::WebConfig,
    keys: &[String; 2],
) -> Result<Option<i64>, patron_store::StoreError> {
    let window = TimeDelta::minutes(cfg.login_window_minutes);
    let since = patron_store::now() - window;
    for (key, max) in keys
        .iter()
        .zip([cfg.login_max_per_account, cfg.login_max_per_ip])
    {
        let (n, oldest) = throttle::failures_since(c, key, since)?;
        if n >= max {
            let lifts = oldest.unwrap_or(since) + window - patron_store::now();
            return Ok(Some((lifts.num_seconds() + 59).max(60) / 60));
        }
    }
    Ok(None)
}
