//! Throttling failed webhook verifications, per client address and per tenant.
//!
//! Anyone can send `GET /wx/{slug}` or a push with a guessed signature; each failure is
//! counted against the address it came from and the tenant it named, inside a sliding
//! window. Past either limit the webhook answers 429 without checking anything, and keeps
//! counting, so a guesser who goes on stays locked out.
//!
//! WeChat's own servers must never be locked out by somebody else's noise: a (tenant,
//! address) pair that delivered a correctly signed request in the last day is *known*,
//! and a known pair is neither refused nor counted (a tenant that changes its Token in
//! Patron before WeChat's console fails a few pushes from WeChat's addresses, and then
//! works again at once). A stranger cannot become known without the Token.
//!
//! The counts live in this process's memory, not the database (unlike sign-in failures):
//! a flood of forged pushes must not turn into a flood of writes. Behind several
//! processes the limits hold per process. Memory is bounded: past [`MAX_KEYS`] keys the
//! oldest window's counts are dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept in each table before the table is cleared (a bound, not a target).
pub const MAX_KEYS: usize = 100_000;
/// How long a correctly signed (tenant, address) pair stays known.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_ip: u32,
    pub per_tenant: u32,
    pub window: Duration,
}

#[derive(Default)]
struct Tables {
    /// Failure times by key (`ip:…` / `tenant:…`), oldest first, within the window.
    failures: HashMap<String, Vec<Instant>>,
    /// Addresses that delivered a good signature, by tenant, and when (nested so that the
    /// hot path looks a pair up without allocating).
    known: HashMap<String, HashMap<String, Instant>>,
    /// Pairs in `known`.
    known_len: usize,
}

/// What the webhook should do before it checks a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// A known sender: check as usual, count nothing.
    Known,
    /// Check as usual; failures are counted.
    Check,
    /// Over a limit: answer 429 without checking (the attempt was counted).
    Locked,
}

pub struct Guard {
    limits: Limits,
    t: Mutex<Tables>,
}

impl Guard {
    pub fn new(limits: Limits) -> Guard {
        Guard {
            limits,
            t: Mutex::new(Tables::default()),
        }
    }

    /// Called before verifying a request for `tenant` from `ip`.
    pub fn gate(&self, tenant: &str, ip: &str) -> Gate {
        self.gate_at(tenant, ip, Instant::now())
    }

    /// Records a failed verification; true when the sender is now over a limit (answer 429).
    pub fn failed(&self, tenant: &str, ip: &str) -> bool {
        self.failed_at(tenant, ip, Instant::now())
    }

    /// Records a correct signature: the pair is known from now on.
    pub fn passed(&self, tenant: &str, ip: &str) {
        let now = Instant::now();
        let mut t = self.t.lock().expect("guard lock");
        if t.known_len >= MAX_KEYS {
            t.known.clear();
            t.known_len = 0;
        }
        let fresh = t
            .known
            .entry(tenant.to_string())
            .or_default()
            .insert(ip.to_string(), now)
            .is_none();
        if fresh {
            t.known_len += 1;
        }
    }

    fn gate_at(&self, tenant: &str, ip: &str, now: Instant) -> Gate {
        let mut t = self.t.lock().expect("guard lock");
        if t.known
            .get(tenant)
            .and_then(|ips| ips.get(ip))
            .is_some_and(|at| now.duration_since(*at) < KNOWN_FOR)
        {
            return Gate::Known;
        }
        if self.over(&mut t, tenant, ip, now) {
            self.count(&mut t, tenant, ip, now);
            Gate::Locked
        } else {
            Gate::Check
        }
    }

    fn failed_at(&self, tenant: &str, ip: &str, now: Instant) -> bool {
        let mut t = self.t.lock().expect("guard lock");
        self.count(&mut t, tenant, ip, now);
        self.over(&mut t, tenant, ip, now)
    }

    fn count(&self, t: &mut Tables, tenant: &str, ip: &str, now: Instant) {
        if t.failures.len() >= MAX_KEYS {
            let w = self.limits.window;
            t.failures
                .retain(|_, v| v.last().is_some_and(|at| now.duration_since(*at) < w));
            if t.failures.len() >= MAX_KEYS {
                t.failures.clear();
            }
        }
        for key in [format!("ip:{ip}"), format!("tenant:{tenant}")] {
            let v = t.failures.entry(key).or_default();
            v.push(now);
            // A locked guesser keeps counting; only the window's worth is needed to
            // decide, so the list stays bounded by the limit plus what one window adds.
            let cap = 4 * self.limits.per_ip.max(self.limits.per_tenant) as usize;
            if v.len() > cap {
                v.drain(..v.len() - cap);
            }
        }
    }

    fn over(&self, t: &mut Tables, tenant: &str, ip: &str, now: Instant) -> bool {
        let w = self.limits.window;
        let mut recent = |key: String| -> u32 {
            match t.failures.get_mut(&key) {
                None => 0,
                Some(v) => {
                    v.retain(|at| now.duration_since(*at) < w);
                    v.len() as u32
                }
            }
        };
        recent(format!("ip:{ip}")) >= self.limits.per_ip
            || recent(format!("tenant:{tenant}")) >= self.limits.per_tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(Limits {
            per_ip: 3,
            per_tenant: 5,
            window: Duration::from_secs(600),
        })
    }

    #[test]
    fn an_address_is_locked_after_its_limit_and_stays_locked_while_it_keeps_trying() {
        let g = guard();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(g.gate_at("shop", "1.1.1.1", t0), Gate::Check, "try {i}");
            let over = g.failed_at("shop", "1.1.1.1", t0);
            assert_eq!(over, i == 2);
        }
        assert_eq!(g.gate_at("shop", "1.1.1.1", t0), Gate::Locked);
        // Another address for the same tenant is still checked (tenant limit not reached).
        assert_eq!(g.gate_at("shop", "2.2.2.2", t0), Gate::Check);
        // Attempts refused while locked still count: going on near the end of the
        // window keeps the lock on past it.
        let late = t0 + Duration::from_secs(590);
        for _ in 0..3 {
            assert_eq!(g.gate_at("shop", "1.1.1.1", late), Gate::Locked);
        }
        assert_eq!(
            g.gate_at("shop", "1.1.1.1", t0 + Duration::from_secs(700)),
            Gate::Locked,
            "the attempts at 590 s still count"
        );
        assert_eq!(
            g.gate_at("shop", "1.1.1.1", t0 + Duration::from_secs(1400)),
            Gate::Check,
            "quiet for a window: unlocked"
        );
    }

    #[test]
    fn a_tenant_is_locked_against_many_addresses() {
        let g = guard();
        let t0 = Instant::now();
        for i in 0..5 {
            g.failed_at("shop", &format!("10.0.0.{i}"), t0);
        }
        assert_eq!(g.gate_at("shop", "10.0.0.99", t0), Gate::Locked);
        assert_eq!(g.gate_at("other", "10.0.0.99", t0), Gate::Check);
    }

    #[test]
    fn a_known_sender_is_never_locked_nor_counted() {
        let g = guard();
        g.passed("shop", "101.226.0.1");
        for _ in 0..10 {
            assert_eq!(g.gate("shop", "101.226.0.1"), Gate::Known);
        }
        // Known for that tenant only.
        for _ in 0..3 {
            g.failed("other", "101.226.0.1");
        }
        assert_eq!(g.gate("other", "101.226.0.1"), Gate::Locked);
        assert_eq!(g.gate("shop", "101.226.0.1"), Gate::Known);
    }
}
