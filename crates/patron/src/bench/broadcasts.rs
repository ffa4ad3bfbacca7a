//! `patron bench broadcasts`: planning a broadcast to every follower of a service account
//! (the audience resolved, cut into chunks of 10,000 OpenIDs, each follower's monthly
//! count kept), the code path of the `broadcast_send` job, in-process; time and the
//! process's peak resident memory while doing it.

use super::{seed_sql, with_scratch_database};
use crate::config::Settings;
use crate::serve;
use patron_app::broadcasts as ops;
use patron_domain::broadcasts::{Audience, Message};
use patron_domain::TenantScope;
use patron_store::broadcasts as store;
use patron_store::tenants::{self, TenantInput};

pub struct BroadcastOptions {
    pub database_url: Option<String>,
    pub followers: i64,
}

/// A field of /proc/self/status in MiB (VmRSS, VmHWM, RssAnon, RssFile).
pub(super) fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The highest private (RssAnon) and file-backed (RssFile) resident memory seen while it
/// runs, sampled every 5 ms. The kernel keeps a peak of their sum only (VmHWM), and on
/// SQLite the sum is mostly the database file's memory map: pages of the OS page cache,
/// shared and reclaimable, not memory the planning holds.
pub(super) struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(f64, f64)>,
}

impl Sampler {
    pub(super) fn start() -> Sampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut anon, mut file) = (0f64, 0f64);
            loop {
                anon = anon.max(status_mib("RssAnon:"));
                file = file.max(status_mib("RssFile:"));
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return (anon, file);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        Sampler { stop, thread }
    }

    /// (peak RssAnon, peak RssFile) in MiB.
    pub(super) fn finish(self) -> (f64, f64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or((0.0, 0.0))
    }
}

pub fn broadcasts(o: &BroadcastOptions) -> Result<String, super::BenchError> {
    with_scratch_database("bench-broadcasts", o.database_url.as_deref(), |dir, url| {
        let mut s = Settings::for_test(&dir.join("data"), url);
        s.log_level = "warn".into();
        let prepared = serve::prepare(&s, "http://127.0.0.1:0")?;
        let pool = prepared.state.pool.clone();
        let backend = format!("{:?}", pool.backend()).to_lowercase();
        let mut c = pool.get()?;
        let t = super::bench_tenant(
            &mut c,
            TenantInput {
                wx_account_kind: "service".into(),
                ..Default::default()
            },
            &prepared.state.secrets,
        )?;
        let scope = TenantScope::system(t.tenant_ref());
        let seed = seed_sql(pool.backend(), t.id, o.followers, 1);
        patron_store::exec_sql(&mut c, &seed[0])?;
        patron_store::exec_sql(&mut c, &seed[2])?;
        let t = tenants::get(&mut c, &scope)?;
        let mut lines = String::new();
        // The month's first broadcast, then a second: its plan counts every follower's
        // broadcasts this month from the first one's lists (the per-follower cap).
        for (n, title) in [(1, "Bench"), (2, "Bench again")] {
            let b = store::create(
                &mut c,
                &scope,
                title,
                &Message::Text {
                    text: "Hello".into(),
                },
                &Audience::All,
                false,
                "bench",
            )?;
            // The peak from here on (Linux: writing 5 to clear_refs resets VmHWM).
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let rss_before = status_mib("VmRSS:");
            let anon_before = status_mib("RssAnon:");
            let sampler = Sampler::start();
            let t0 = std::time::Instant::now();
            let plan = ops::plan_once(&mut c, &scope, &t, &b, patron_store::now())?
                .ok_or_else(|| super::BenchError::Usage("planned twice".into()))?;
            let secs = t0.elapsed().as_secs_f64();
            let (anon_peak, file_peak) = sampler.finish();
            let peak = status_mib("VmHWM:");
            let chunks = store::chunks(&mut c, &scope, b.id)?.len();
            lines.push_str(&format!(
                "broadcasts on {backend}: planned broadcast {n} of the month to {} of {} \
                 followers (service account, monthly cap kept, {chunks} chunks) in {secs:.2} s; \
                 resident memory {rss_before:.0} MiB before, peak {peak:.0} MiB while \
                 planning; of it private (RssAnon) {anon_before:.0} MiB before, peak \
                 {anon_peak:.0} MiB, and file-backed (RssFile: the database's memory map, OS \
                 page cache) peak {file_peak:.0} MiB\n",
                plan.recipients, o.followers
            ));
        }
        Ok(lines)
    })
}
