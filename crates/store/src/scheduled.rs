//! The scheduler's periodic tasks as they last ran, whichever process ran them.

use crate::schema::scheduled_tasks as t;
use crate::{now, DbConn, Result};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

/// A task's last run.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = t)]
pub struct TaskRun {
    pub name: String,
    pub last_started_at: Option<NaiveDateTime>,
    pub last_finished_at: Option<NaiveDateTime>,
    pub last_outcome: Option<String>,
    pub runs: i64,
}

/// Records that `name` started now.
pub fn started(conn: &mut DbConn, name: &str) -> Result<()> {
    let at = now();
    let n = diesel::update(t::table.find(name))
        .set(t::last_started_at.eq(Some(at)))
        .execute(conn)?;
    if n == 0 {
        let row = (
            t::name.eq(name),
            t::last_started_at.eq(Some(at)),
            t::runs.eq(0i64),
        );
        match conn {
            DbConn::Postgres(pg) => diesel::insert_into(t::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConn::Sqlite(lite) => diesel::insert_into(t::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(lite)?,
        };
    }
    Ok(())
}

/// Records how `name`'s run ended (`ok` or the error, for operators).
pub fn finished(conn: &mut DbConn, name: &str, outcome: &str) -> Result<()> {
    let outcome: String = outcome.chars().take(500).collect();
    diesel::update(t::table.find(name))
        .set((
            t::last_finished_at.eq(Some(now())),
            t::last_outcome.eq(Some(outcome)),
            t::runs.eq(t::runs + 1),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every task's last run.
pub fn all(conn: &mut DbConn) -> Result<Vec<TaskRun>> {
    Ok(t::table
        .order(t::name)
        .select(TaskRun::as_select())
        .load(conn)?)
}
