//! `patron bench broadcasts`: planning a broadcast to every follower of a service account
//! (the audience resolved, cut into chunks of 10,000 OpenIDs, each follower's monthly
//! count kept), the code path of the `broadcast_send` job, in-process; time and the
//! process's peak resident memory while doing it.

use super::{seed_sql, with_scratch_database};
use crate::config::Settings;
use crate::serve;
use patron_app::broadcasts as ops;
use patron_domain::broadcasts::{Audience, Message};
use patron_domain::{AgencyId, AgencyScope, TenantScope};
use patron_store::broadcasts as store;
use patron_store::tenants::{self, TenantInput};

pub struct BroadcastOptions {
    pub database_url: Option<String>,
    pub followers: i64,
}

/// A field of /proc/self/status in MiB (VmRSS, VmHWM).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

pub fn broadcasts(o: &BroadcastOptions) -> Result<String, super::BenchError> {
    with_scratch_database("bench-broadcasts", o.database_url.as_deref(), |dir, url| {
        let mut s = Settings::for_test(&dir.join("data"), url);
        s.log_level = "warn".into();
        let prepared = serve::prepare(&s, "http://127.0.0.1:0")?;
        let pool = prepared.state.pool.clone();
        let backend = format!("{:?}", pool.backend()).to_lowercase();
        let mut c = pool.get()?;
        let agency = tenants::create_agency(&mut c, "Bench")?;
        let valid = tenants::validate(&TenantInput {
            name: "Bench".into(),
            slug: "bench".into(),
            wx_account_kind: "service".into(),
            ..Default::default()
        })
        .map_err(|e| super::BenchError::Usage(format!("{e:?}")))?;
        let t = tenants::create(
            &mut c,
            &AgencyScope::system(AgencyId(agency.id)),
            &valid,
            &prepared.state.secrets,
        )?;
        let scope = TenantScope::system(t.tenant_ref());
        let seed = seed_sql(pool.backend(), t.id, o.followers, 1);
        patron_store::exec_sql(&mut c, &seed[0])?;
        patron_store::exec_sql(&mut c, &seed[2])?;
        let t = tenants::get(&mut c, &scope)?;
        let b = store::create(
            &mut c,
            &scope,
            "Bench",
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
        let t0 = std::time::Instant::now();
        let plan = ops::plan_once(&mut c, &scope, &t, &b, patron_store::now())?
            .ok_or_else(|| super::BenchError::Usage("planned twice".into()))?;
        let secs = t0.elapsed().as_secs_f64();
        let peak = status_mib("VmHWM:");
        let chunks = store::chunks(&mut c, &scope, b.id)?.len();
        Ok(format!(
            "broadcasts on {backend}: planned a broadcast to {} of {} followers (service account, \
             monthly cap kept, {chunks} chunks) in {secs:.2} s; resident memory \
             {rss_before:.0} MiB before, peak {peak:.0} MiB while planning\n",
            plan.recipients, o.followers
        ))
    })
}
