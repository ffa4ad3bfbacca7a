//! A broadcast's email channel: one row per follower who agreed to email, planned with
//! the broadcast. Each row is claimed (`pending` → `sending`) before its email is handed
//! to the mail server and marked after, so a retried or second worker never emails anyone
//! twice; a worker that dies between the claim and the mark leaves the row `sending`,
//! counted as unknown on the broadcast's page (at most once, never twice).

use crate::schema::broadcast_emails as e;
use crate::{now, DbConn, Result};
use diesel::prelude::*;
use patron_domain::TenantScope;
use serde::Serialize;

/// The states of an email row.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const SENDING: &str = "sending";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
}

/// Rows per multi-row insert (4 values each; well under SQLite's bound parameters).
const INSERT_ROWS: usize = 2_000;

/// Plans the emails of a broadcast: one row per (follower, address); rows planned before
/// (a retried plan) are kept as they are.
pub fn plan(
    conn: &mut DbConn,
    scope: &TenantScope,
    broadcast: i64,
    to: &[(i64, String)],
) -> Result<()> {
    let tenant = scope.tenant_id().0;
    let at = now();
    crate::write_tx(conn, |conn| {
        // The broadcast must be the tenant's.
        crate::broadcasts::get(conn, scope, broadcast)?;
        for part in to.chunks(INSERT_ROWS) {
            let rows: Vec<_> = part
                .iter()
                .map(|(follower, address)| {
                    (
                        e::broadcast_id.eq(broadcast),
                        e::follower_id.eq(*follower),
                        e::tenant_id.eq(tenant),
                        e::address.eq(address.as_str()),
                        e::state.eq(state::PENDING),
                        e::updated_at.eq(at),
                    )
                })
                .collect();
            match conn {
                DbConn::Postgres(pg) => diesel::insert_into(e::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .execute(pg)?,
                DbConn::Sqlite(lite) => diesel::insert_into(e::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .execute(lite)?,
            };
        }
        Ok(())
    })
}

/// Claims the next pending email of the broadcast: (follower, address), or `None` when
/// none is left. The claim is a conditional update: of two workers, one wins each row.
pub fn claim(
    conn: &mut DbConn,
    scope: &TenantScope,
    broadcast: i64,
) -> Result<Option<(i64, String)>> {
    loop {
        let next: Option<(i64, String)> = e::table
            .filter(e::tenant_id.eq(scope.tenant_id().0))
            .filter(e::broadcast_id.eq(broadcast))
            .filter(e::state.eq(state::PENDING))
            .order(e::follower_id.asc())
            .select((e::follower_id, e::address))
            .first(conn)
            .optional()?;
        let Some((follower, address)) = next else {
            return Ok(None);
        };
        let won = diesel::update(
            e::table
                .filter(e::broadcast_id.eq(broadcast))
                .filter(e::follower_id.eq(follower))
                .filter(e::state.eq(state::PENDING)),
        )
        .set((e::state.eq(state::SENDING), e::updated_at.eq(now())))
        .execute(conn)?;
        if won == 1 {
            return Ok(Some((follower, address)));
        }
    }
}

/// Records how a claimed email went: sent, or failed with the mail server's reason.
pub fn finish(
    conn: &mut DbConn,
    scope: &TenantScope,
    broadcast: i64,
    follower: i64,
    outcome: std::result::Result<(), &str>,
) -> Result<()> {
    let (st, error) = match outcome {
        Ok(()) => (state::SENT, None),
        Err(why) => (
            state::FAILED,
            Some(why.chars().take(500).collect::<String>()),
        ),
    };
    diesel::update(
        e::table
            .filter(e::tenant_id.eq(scope.tenant_id().0))
            .filter(e::broadcast_id.eq(broadcast))
            .filter(e::follower_id.eq(follower))
            .filter(e::state.eq(state::SENDING)),
    )
    .set((e::state.eq(st), e::error.eq(error), e::updated_at.eq(now())))
    .execute(conn)?;
    Ok(())
}

/// How a broadcast's emails stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub planned: i64,
    pub sent: i64,
    pub failed: i64,
    /// Claimed by a worker that did not say how it went (it died meanwhile).
    pub unknown: i64,
}

impl Counts {
    /// Still to send.
    pub fn pending(&self) -> i64 {
        self.planned - self.sent - self.failed - self.unknown
    }
}

pub fn counts(conn: &mut DbConn, scope: &TenantScope, broadcast: i64) -> Result<Counts> {
    let rows: Vec<(String, i64)> = e::table
        .filter(e::tenant_id.eq(scope.tenant_id().0))
        .filter(e::broadcast_id.eq(broadcast))
        .group_by(e::state)
        .select((e::state, diesel::dsl::count_star()))
        .load(conn)?;
    let mut c = Counts::default();
    for (st, n) in rows {
        c.planned += n;
        match st.as_str() {
            state::SENT => c.sent += n,
            state::FAILED => c.failed += n,
            state::SENDING => c.unknown += n,
            _ => {}
        }
    }
    Ok(c)
}
