//! Reconciliation runs and their exceptions: what matching a day's trade bill against
//! the payments and refunds recorded here found (`patron_domain::bill`), and how each
//! exception was resolved.

use crate::schema::{
    payments as p, reconcile_exceptions as ex, reconcile_runs as rr, refunds as r,
};
use crate::{now, DbConn, Result};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use patron_domain::TenantScope;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = rr)]
pub struct Run {
    pub id: i64,
    pub tenant_id: i64,
    pub bill_date: NaiveDate,
    /// ALL, SUCCESS or REFUND
    pub bill_kind: String,
    /// upload, cli, fetch
    pub source: String,
    pub bill_lines: i64,
    /// JSON: the count of each category.
    pub counts: String,
    pub summary_ok: bool,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    /// JSON: the bill's lines summed (`bill`), its summary (`declared`), ours for the
    /// day (`ours`), the fees (`fees`) and the summary's `disagreements`.
    pub totals: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = ex)]
pub struct Exception {
    pub id: i64,
    pub tenant_id: i64,
    pub run_id: i64,
    pub bill_date: NaiveDate,
    pub category: String,
    /// payment or refund
    pub kind: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    /// JSON: what the bill says.
    pub bill_side: Option<String>,
    /// JSON: what is recorded here.
    pub our_side: Option<String>,
    /// open, accepted, adjusted, written_off, carried
    pub state: String,
    pub reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Exception states.
pub mod state {
    pub const OPEN: &str = "open";
    /// WeChat's record was taken (the missing payment added here).
    pub const ACCEPTED: &str = "accepted";
    pub const ADJUSTED: &str = "adjusted";
    pub const WRITTEN_OFF: &str = "written_off";
    /// A pending item that the next day's run took over.
    pub const CARRIED: &str = "carried";
}

/// A new exception of a run.
pub struct NewException<'a> {
    pub category: &'a str,
    pub kind: &'a str,
    pub out_trade_no: &'a str,
    pub out_refund_no: Option<&'a str>,
    pub bill_side: Option<String>,
    pub our_side: Option<String>,
}

/// What a run records.
pub struct NewRun<'a> {
    pub bill_date: NaiveDate,
    pub bill_kind: &'a str,
    pub source: &'a str,
    pub bill_lines: i64,
    pub counts: String,
    pub summary_ok: bool,
    pub created_by: &'a str,
    pub totals: String,
}

/// Stores a run with its exceptions; the pending items of the day before that it took
/// over (`carried`) are marked so. Must run inside the caller's write transaction.
pub fn store_run(
    conn: &mut DbConn,
    scope: &TenantScope,
    run: &NewRun<'_>,
    exceptions: &[NewException<'_>],
    carried: &[i64],
) -> Result<Run> {
    let tenant = scope.tenant_id().0;
    let at = now();
    let id: i64 = diesel::insert_into(rr::table)
        .values((
            rr::tenant_id.eq(tenant),
            rr::bill_date.eq(run.bill_date),
            rr::bill_kind.eq(run.bill_kind),
            rr::source.eq(run.source),
            rr::bill_lines.eq(run.bill_lines),
            rr::counts.eq(&run.counts),
            rr::summary_ok.eq(run.summary_ok),
            rr::created_by.eq(run.created_by),
            rr::created_at.eq(at),
            rr::totals.eq(Some(&run.totals)),
        ))
        .returning(rr::id)
        .get_result(conn)?;
    match conn {
        // One statement of fixed text (prepared once) per 10,000 exceptions: a multi-row
        // VALUES list of 1,000 rows is a new statement of 11,000 parameters to parse and
        // plan each time (a day with 100,000 exceptions spent 2 s writing them so).
        DbConn::Postgres(pg) => {
            for part in exceptions.chunks(10_000) {
                unnest::InsertExceptions {
                    tenant,
                    run: id,
                    bill_date: run.bill_date,
                    state: state::OPEN,
                    at,
                    category: part.iter().map(|e| e.category).collect(),
                    kind: part.iter().map(|e| e.kind).collect(),
                    out_trade_no: part.iter().map(|e| e.out_trade_no).collect(),
                    out_refund_no: part.iter().map(|e| e.out_refund_no).collect(),
                    bill_side: part.iter().map(|e| e.bill_side.as_deref()).collect(),
                    our_side: part.iter().map(|e| e.our_side.as_deref()).collect(),
                }
                .execute(pg)?;
            }
        }
        DbConn::Sqlite(lite) => {
            for part in exceptions.chunks(1_000) {
                let rows: Vec<_> = part
                    .iter()
                    .map(|e| {
                        (
                            ex::tenant_id.eq(tenant),
                            ex::run_id.eq(id),
                            ex::bill_date.eq(run.bill_date),
                            ex::category.eq(e.category),
                            ex::kind.eq(e.kind),
                            ex::out_trade_no.eq(e.out_trade_no),
                            ex::out_refund_no.eq(e.out_refund_no),
                            ex::bill_side.eq(e.bill_side.as_deref()),
                            ex::our_side.eq(e.our_side.as_deref()),
                            ex::state.eq(state::OPEN),
                            ex::created_at.eq(at),
                        )
                    })
                    .collect();
                diesel::insert_into(ex::table).values(&rows).execute(lite)?;
            }
        }
    }
    for part in carried.chunks(1_000) {
        diesel::update(
            ex::table
                .filter(ex::tenant_id.eq(tenant))
                .filter(ex::id.eq_any(part)),
        )
        .set((ex::state.eq(state::CARRIED), ex::resolved_at.eq(Some(at))))
        .execute(conn)?;
    }
    Ok(rr::table.find(id).select(Run::as_select()).first(conn)?)
}

/// A run's exceptions for PostgreSQL, as arrays that `unnest` turns back into rows: the
/// statement's text is the same whatever the number of rows.
mod unnest {
    use chrono::{NaiveDate, NaiveDateTime};
    use diesel::pg::Pg;
    use diesel::query_builder::{AstPass, QueryFragment, QueryId};
    use diesel::sql_types::{Array, BigInt, Date, Nullable, Text, Timestamp};
    use diesel::QueryResult;

    pub struct InsertExceptions<'a> {
        pub tenant: i64,
        pub run: i64,
        pub bill_date: NaiveDate,
        pub state: &'a str,
        pub at: NaiveDateTime,
        pub category: Vec<&'a str>,
        pub kind: Vec<&'a str>,
        pub out_trade_no: Vec<&'a str>,
        pub out_refund_no: Vec<Option<&'a str>>,
        pub bill_side: Vec<Option<&'a str>>,
        pub our_side: Vec<Option<&'a str>>,
    }

    impl QueryId for InsertExceptions<'_> {
        type QueryId = InsertExceptions<'static>;
        const HAS_STATIC_QUERY_ID: bool = true;
    }

    impl diesel::RunQueryDsl<diesel::PgConnection> for InsertExceptions<'_> {}

    impl QueryFragment<Pg> for InsertExceptions<'_> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
            out.push_sql(
                "INSERT INTO reconcile_exceptions (tenant_id, run_id, bill_date, category, kind, \
                 out_trade_no, out_refund_no, bill_side, our_side, state, created_at) SELECT ",
            );
            out.push_bind_param::<BigInt, _>(&self.tenant)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&self.run)?;
            out.push_sql(", ");
            out.push_bind_param::<Date, _>(&self.bill_date)?;
            out.push_sql(
                ", u.category, u.kind, u.out_trade_no, u.out_refund_no, u.bill_side, u.our_side, ",
            );
            out.push_bind_param::<Text, _>(&self.state)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&self.at)?;
            out.push_sql(" FROM unnest(");
            out.push_bind_param::<Array<Text>, _>(&self.category)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&self.kind)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&self.out_trade_no)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.out_refund_no)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.bill_side)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.our_side)?;
            out.push_sql(
                ") AS u(category, kind, out_trade_no, out_refund_no, bill_side, our_side)",
            );
            Ok(())
        }
    }
}

/// The open pending items of days before `day` (they wait for the next day's bill).
pub fn pending_before(
    conn: &mut DbConn,
    scope: &TenantScope,
    day: NaiveDate,
) -> Result<Vec<Exception>> {
    Ok(ex::table
        .filter(ex::tenant_id.eq(scope.tenant_id().0))
        .filter(ex::category.eq("pending"))
        .filter(ex::state.eq(state::OPEN))
        .filter(ex::bill_date.lt(day))
        .select(Exception::as_select())
        .load(conn)?)
}

/// What matching needs of a payment (the matcher's `Payment`, before its state is read).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DayPayment {
    pub id: i64,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    /// expected, paid, partly_refunded, refunded
    pub state: String,
    pub total_fen: i64,
    pub discount_fen: i64,
    pub paid_at: Option<NaiveDateTime>,
}

/// What matching needs of a refund, with its payment's order reference.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DayRefund {
    pub id: i64,
    pub out_refund_no: String,
    pub refund_id: Option<String>,
    pub status: String,
    pub amount_fen: i64,
    pub created_at: NaiveDateTime,
    /// The payment's `out_trade_no`.
    pub out_trade_no: String,
}

/// Runs a query row by row, handing each row to `f` as it arrives, so that a day of a
/// million payments is never held as a whole (on PostgreSQL in libpq's single-row mode:
/// by default libpq holds the whole result before the first row is read).
macro_rules! each_row {
    ($conn:expr, $query:expr, $row:ty, $f:expr) => {{
        let mut f = $f;
        match $conn {
            DbConn::Postgres(pg) => {
                let rows = $query
                    .load_iter::<$row, diesel::pg::PgRowByRowLoadingMode>(pg)
                    .map_err(crate::StoreError::from)?;
                for row in rows {
                    f(row.map_err(crate::StoreError::from)?)?;
                }
            }
            DbConn::Sqlite(lite) => {
                let rows = $query
                    .load_iter::<$row, diesel::connection::DefaultLoadingMode>(lite)
                    .map_err(crate::StoreError::from)?;
                for row in rows {
                    f(row.map_err(crate::StoreError::from)?)?;
                }
            }
        }
        Ok(())
    }};
}

fn day_payment_columns() -> (
    p::id,
    p::out_trade_no,
    p::transaction_id,
    p::state,
    p::total_fen,
    p::discount_fen,
    p::paid_at,
) {
    (
        p::id,
        p::out_trade_no,
        p::transaction_id,
        p::state,
        p::total_fen,
        p::discount_fen,
        p::paid_at,
    )
}

/// How many payments were paid in `[from, to)` (UTC).
pub fn count_payments_between(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<u64> {
    let n: i64 = p::table
        .filter(p::tenant_id.eq(scope.tenant_id().0))
        .filter(p::paid_at.ge(from))
        .filter(p::paid_at.lt(to))
        .count()
        .get_result(conn)?;
    Ok(n.max(0) as u64)
}

/// Hands each payment paid in `[from, to)` (UTC) to `f`, in id order, as the rows come:
/// only the columns the matcher takes, none held beyond `f`.
pub fn each_payment_between<E: From<crate::StoreError>>(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
    f: impl FnMut(DayPayment) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let query = p::table
        .filter(p::tenant_id.eq(scope.tenant_id().0))
        .filter(p::paid_at.ge(from))
        .filter(p::paid_at.lt(to))
        .order(p::id)
        .select(day_payment_columns());
    each_row!(conn, query, DayPayment, f)
}

/// Payments by order reference (the pending ones carried over).
pub fn payments_by_orders(
    conn: &mut DbConn,
    scope: &TenantScope,
    orders: &[String],
) -> Result<Vec<DayPayment>> {
    let mut out = Vec::new();
    for part in orders.chunks(1_000) {
        out.extend(
            p::table
                .filter(p::tenant_id.eq(scope.tenant_id().0))
                .filter(p::out_trade_no.eq_any(part))
                .select(day_payment_columns())
                .load::<DayPayment>(conn)?,
        );
    }
    Ok(out)
}

/// How many refunds were recorded in `[from, to)` (UTC).
pub fn count_refunds_between(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<u64> {
    let n: i64 = r::table
        .filter(r::tenant_id.eq(scope.tenant_id().0))
        .filter(r::created_at.ge(from))
        .filter(r::created_at.lt(to))
        .count()
        .get_result(conn)?;
    Ok(n.max(0) as u64)
}

/// Hands each refund recorded in `[from, to)` (UTC), with its payment's order reference,
/// to `f`, in id order, as the rows come.
pub fn each_refund_between<E: From<crate::StoreError>>(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
    f: impl FnMut(DayRefund) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let query = r::table
        .inner_join(p::table)
        .filter(r::tenant_id.eq(scope.tenant_id().0))
        .filter(r::created_at.ge(from))
        .filter(r::created_at.lt(to))
        .order(r::id)
        .select((
            r::id,
            r::out_refund_no,
            r::refund_id,
            r::status,
            r::amount_fen,
            r::created_at,
            p::out_trade_no,
        ));
    each_row!(conn, query, DayRefund, f)
}

/// One run of the tenant.
pub fn run(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Run> {
    Ok(rr::table
        .filter(rr::tenant_id.eq(scope.tenant_id().0))
        .filter(rr::id.eq(id))
        .select(Run::as_select())
        .first(conn)?)
}

/// The tenant's runs, newest first.
pub fn runs(conn: &mut DbConn, scope: &TenantScope, limit: i64) -> Result<Vec<Run>> {
    Ok(rr::table
        .filter(rr::tenant_id.eq(scope.tenant_id().0))
        .order(rr::id.desc())
        .limit(limit)
        .select(Run::as_select())
        .load(conn)?)
}

/// A run's exceptions (or the tenant's open ones, with `run` `None`), oldest first.
pub fn exceptions(
    conn: &mut DbConn,
    scope: &TenantScope,
    run: Option<i64>,
    limit: i64,
) -> Result<Vec<Exception>> {
    let mut q = ex::table
        .filter(ex::tenant_id.eq(scope.tenant_id().0))
        .into_boxed();
    q = match run {
        Some(id) => q.filter(ex::run_id.eq(id)),
        None => q.filter(ex::state.eq(state::OPEN)),
    };
    Ok(q.order(ex::id)
        .limit(limit)
        .select(Exception::as_select())
        .load(conn)?)
}

/// One exception of the tenant.
pub fn exception(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Exception> {
    Ok(ex::table
        .filter(ex::tenant_id.eq(scope.tenant_id().0))
        .filter(ex::id.eq(id))
        .select(Exception::as_select())
        .first(conn)?)
}

/// Closes an open exception (`Conflict` when it is not open any more), recording how,
/// why, by whom and when. Must run inside the caller's write transaction.
pub fn close(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    new_state: &str,
    reason: &str,
    by: &str,
) -> Result<Exception> {
    let at = now();
    let n = diesel::update(
        ex::table
            .filter(ex::tenant_id.eq(scope.tenant_id().0))
            .filter(ex::id.eq(id))
            .filter(ex::state.eq(state::OPEN)),
    )
    .set((
        ex::state.eq(new_state),
        ex::reason.eq(Some(reason)),
        ex::resolved_by.eq(Some(by)),
        ex::resolved_at.eq(Some(at)),
    ))
    .execute(conn)?;
    if n == 0 {
        exception(conn, scope, id)?;
        return Err(crate::StoreError::Conflict("exception_not_open"));
    }
    crate::changes::record(conn, scope, "reconcile_exception", id, by, &[new_state], at)?;
    exception(conn, scope, id)
}

/// Every exception of the tenant, oldest first (the CSV export).
pub fn all_exceptions(conn: &mut DbConn, scope: &TenantScope) -> Result<Vec<Exception>> {
    Ok(ex::table
        .filter(ex::tenant_id.eq(scope.tenant_id().0))
        .order(ex::id)
        .select(Exception::as_select())
        .load(conn)?)
}

/// A bill day's reconciliation at a glance (the dashboard's money section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStatus {
    pub bill_date: NaiveDate,
    pub runs: i64,
    /// The latest run's bill agreed with its own summary.
    pub summary_ok: bool,
    /// Exceptions of the day still open.
    pub open: i64,
}

/// The reconciliation of each bill day from `from` to `to` that has a run, in day order.
pub fn day_statuses(
    conn: &mut DbConn,
    scope: &TenantScope,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<DayStatus>> {
    let tenant = scope.tenant_id().0;
    let runs: Vec<(NaiveDate, bool)> = rr::table
        .filter(rr::tenant_id.eq(tenant))
        .filter(rr::bill_date.ge(from))
        .filter(rr::bill_date.le(to))
        .order((rr::bill_date, rr::id))
        .select((rr::bill_date, rr::summary_ok))
        .load(conn)?;
    let open: Vec<(NaiveDate, i64)> = ex::table
        .filter(ex::tenant_id.eq(tenant))
        .filter(ex::state.eq(state::OPEN))
        .filter(ex::bill_date.ge(from))
        .filter(ex::bill_date.le(to))
        .group_by(ex::bill_date)
        .select((ex::bill_date, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out: Vec<DayStatus> = Vec::new();
    for (day, ok) in runs {
        match out.last_mut() {
            Some(last) if last.bill_date == day => {
                last.runs += 1;
                last.summary_ok = ok;
            }
            _ => out.push(DayStatus {
                bill_date: day,
                runs: 1,
                summary_ok: ok,
                open: 0,
            }),
        }
    }
    for (day, n) in open {
        if let Some(d) = out.iter_mut().find(|d| d.bill_date == day) {
            d.open = n;
        }
    }
    Ok(out)
}

/// Open exceptions per tenant, for `tenants` (the agency's portfolio).
pub fn open_counts(conn: &mut DbConn, tenants: &[i64]) -> Result<Vec<(i64, i64)>> {
    Ok(ex::table
        .filter(ex::tenant_id.eq_any(tenants))
        .filter(ex::state.eq(state::OPEN))
        .group_by(ex::tenant_id)
        .select((ex::tenant_id, diesel::dsl::count_star()))
        .load(conn)?)
}
