//! CSV imports of followers. Upload → checked (every row, errors listed by line) → the
//! merchant confirms → a job applies the whole file in one transaction. A file with any
//! bad row cannot be confirmed, and a failure while applying rolls everything back, so a
//! rejected file changes nothing.

use crate::followers::Follower;
use crate::schema::{follower_imports as fi, followers};
use crate::{now, write_tx, DbConn, Result, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::follower_csv::{Checked, Row, RowError};
use patron_domain::{JobId, TenantScope};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Checked, waiting for the merchant to confirm.
pub const CHECKED: &str = "checked";
/// Some rows are bad: can only be discarded.
pub const REJECTED: &str = "rejected";
pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// How many row errors are kept with an import (the count is always exact).
pub const KEEP_ERRORS: usize = 1000;

/// An import without its file.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = fi)]
pub struct Import {
    pub id: i64,
    pub tenant_id: i64,
    pub author_name: String,
    pub file_name: String,
    pub status: String,
    pub total_rows: i64,
    pub new_rows: i64,
    pub error_rows: i64,
    /// JSON list of [`RowError`] (the first [`KEEP_ERRORS`]).
    #[serde(skip)]
    pub errors: String,
    pub job_id: Option<i64>,
    pub message: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Import {
    pub fn row_errors(&self) -> Vec<RowError> {
        serde_json::from_str(&self.errors).unwrap_or_default()
    }
    pub fn is_open(&self) -> bool {
        self.status == QUEUED || self.status == RUNNING
    }
}

/// How many rows have at least one error (a row may have several).
fn rows_with_errors(errors: &[RowError]) -> i64 {
    errors
        .iter()
        .map(|e| e.line)
        .collect::<std::collections::HashSet<_>>()
        .len() as i64
}

/// How many of these OpenIDs the tenant does not know yet.
pub fn count_new(conn: &mut DbConn, scope: &TenantScope, rows: &[Row]) -> Result<i64> {
    let mut known = 0i64;
    for chunk in rows.chunks(1000) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.openid.as_str()).collect();
        known += followers::table
            .filter(followers::tenant_id.eq(scope.tenant_id().0))
            .filter(followers::openid.eq_any(ids))
            .count()
            .get_result::<i64>(conn)?;
    }
    Ok(rows.len() as i64 - known)
}

/// Records a checked upload (with its file, kept until applied).
pub fn create(
    conn: &mut DbConn,
    scope: &TenantScope,
    author: &str,
    file_name: &str,
    body: &str,
    checked: &Checked,
) -> Result<Import> {
    let new_rows = count_new(conn, scope, &checked.rows)?;
    let status = if checked.errors.is_empty() {
        CHECKED
    } else {
        REJECTED
    };
    let keep = &checked.errors[..checked.errors.len().min(KEEP_ERRORS)];
    let t = now();
    let id: i64 = diesel::insert_into(fi::table)
        .values((
            fi::tenant_id.eq(scope.tenant_id().0),
            fi::author_name.eq(author),
            fi::file_name.eq(file_name),
            // A rejected file is never applied: do not keep it.
            fi::body.eq(if status == CHECKED { body } else { "" }),
            fi::status.eq(status),
            fi::total_rows.eq(checked.total as i64),
            fi::new_rows.eq(new_rows),
            fi::error_rows.eq(rows_with_errors(&checked.errors)),
            fi::errors.eq(serde_json::to_string(keep).unwrap_or_else(|_| "[]".into())),
            fi::created_at.eq(t),
            fi::updated_at.eq(t),
        ))
        .returning(fi::id)
        .get_result(conn)?;
    get(conn, scope, id)
}

pub fn get(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<Import> {
    Ok(fi::table
        .filter(fi::id.eq(id))
        .filter(fi::tenant_id.eq(scope.tenant_id().0))
        .select(Import::as_select())
        .first(conn)?)
}

/// The uploaded file of an import that has not been applied yet.
pub fn body(conn: &mut DbConn, scope: &TenantScope, id: i64) -> Result<String> {
    Ok(fi::table
        .filter(fi::id.eq(id))
        .filter(fi::tenant_id.eq(scope.tenant_id().0))
        .select(fi::body)
        .first(conn)?)
}

/// The tenant's latest imports, newest first.
pub fn recent(conn: &mut DbConn, scope: &TenantScope, n: i64) -> Result<Vec<Import>> {
    Ok(fi::table
        .filter(fi::tenant_id.eq(scope.tenant_id().0))
        .order(fi::id.desc())
        .limit(n)
        .select(Import::as_select())
        .load(conn)?)
}

/// Records that a checked import was queued as `job`, inside the caller's transaction;
/// `Conflict` if it is not waiting to be confirmed (rejected, or queued before).
pub fn mark_queued(conn: &mut DbConn, scope: &TenantScope, id: i64, job: JobId) -> Result<()> {
    let n = diesel::update(
        fi::table
            .filter(fi::tenant_id.eq(scope.tenant_id().0))
            .filter(fi::id.eq(id))
            .filter(fi::status.eq(CHECKED)),
    )
    .set((
        fi::status.eq(QUEUED),
        fi::job_id.eq(job.0),
        fi::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if n == 0 {
        get(conn, scope, id)?;
        return Err(StoreError::Conflict("import_not_checked"));
    }
    Ok(())
}

/// Marks an import's state; leaving the running states drops the file.
pub fn set_status(
    conn: &mut DbConn,
    scope: &TenantScope,
    id: i64,
    status: &str,
    message: Option<&str>,
    errors: Option<&[RowError]>,
) -> Result<()> {
    let finished = status == DONE || status == FAILED;
    let mut q = diesel::update(
        fi::table
            .filter(fi::id.eq(id))
            .filter(fi::tenant_id.eq(scope.tenant_id().0)),
    )
    .set((
        fi::status.eq(status),
        fi::message.eq(message),
        fi::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if finished {
        q += diesel::update(
            fi::table
                .filter(fi::tenant_id.eq(scope.tenant_id().0))
                .filter(fi::id.eq(id)),
        )
        .set(fi::body.eq(""))
        .execute(conn)?;
    }
    if let Some(errs) = errors {
        let keep = &errs[..errs.len().min(KEEP_ERRORS)];
        diesel::update(
            fi::table
                .filter(fi::tenant_id.eq(scope.tenant_id().0))
                .filter(fi::id.eq(id)),
        )
        .set((
            fi::error_rows.eq(rows_with_errors(errs)),
            fi::errors.eq(serde_json::to_string(keep).unwrap_or_else(|_| "[]".into())),
        ))
        .execute(conn)?;
    }
    if q == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = followers)]
struct Changes<'a> {
    name: Option<Option<&'a str>>,
    phone: Option<Option<&'a str>>,
    email: Option<Option<&'a str>>,
    birthday: Option<Option<chrono::NaiveDate>>,
    remark: Option<Option<&'a str>>,
}

impl Changes<'_> {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.phone.is_none()
            && self.email.is_none()
            && self.birthday.is_none()
            && self.remark.is_none()
    }
}

/// The fields of `r` that differ from the stored follower (a new one has none set).
fn changes<'a>(r: &'a Row, f: Option<&Follower>) -> Changes<'a> {
    fn differs<'a>(
        want: &'a Option<Option<String>>,
        have: Option<&Option<String>>,
    ) -> Option<Option<&'a str>> {
        let want = want.as_ref()?;
        match have {
            Some(h) if h.as_deref() == want.as_deref() => None,
            None if want.is_none() => None,
            _ => Some(want.as_deref()),
        }
    }
    Changes {
        name: differs(&r.name, f.map(|f| &f.name)),
        phone: differs(&r.phone, f.map(|f| &f.phone)),
        email: differs(&r.email, f.map(|f| &f.email)),
        birthday: match (r.birthday, f) {
            (Some(want), Some(f)) if f.birthday == want => None,
            (Some(None), None) => None,
            (want, _) => want,
        },
        remark: differs(&r.remark, f.map(|f| &f.remark)),
    }
}

/// What applying did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub created: i64,
    /// Followers that existed and changed.
    pub updated: i64,
    /// Followers that existed and already matched their row.
    pub unchanged: i64,
}

/// Applies every row in one transaction: all rows or, on any error, none. Only what differs
/// is written (three reads per 500 rows otherwise), so importing an export again writes
/// nothing.
pub fn apply(conn: &mut DbConn, scope: &TenantScope, rows: &[Row]) -> Result<Applied> {
    let tenant = scope.tenant_id().0;
    write_tx(conn, |c| {
        let mut out = Applied::default();
        let mut tag_ids: HashMap<String, i64> = HashMap::new();
        let defs = crate::attributes::list(c, scope)?;
        let t = now();
        for chunk in rows.chunks(500) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.openid.as_str()).collect();
            let existing: HashMap<String, Follower> = followers::table
                .filter(followers::tenant_id.eq(tenant))
                .filter(followers::openid.eq_any(&ids))
                .select(Follower::as_select())
                .load::<Follower>(c)?
                .into_iter()
                .map(|f| (f.openid.clone(), f))
                .collect();
            let known: Vec<i64> = existing.values().map(|f| f.id).collect();
            let tags_now = crate::tags::names_of(c, scope, &known)?;
            let attrs_now = crate::attributes::values_with(c, scope, &defs, &known)?;
            let mut seen = HashSet::new();
            for r in chunk {
                if !seen.insert(r.openid.as_str()) {
                    continue; // the check refuses repeats; never apply one twice
                }
                let f = existing.get(&r.openid);
                let id = match f {
                    Some(f) => f.id,
                    None => {
                        out.created += 1;
                        diesel::insert_into(followers::table)
                            .values((
                                followers::tenant_id.eq(tenant),
                                followers::openid.eq(&r.openid),
                                followers::subscribed.eq(false),
                                followers::subscribe_count.eq(0i64),
                                followers::created_at.eq(t),
                                followers::updated_at.eq(t),
                            ))
                            .returning(followers::id)
                            .get_result::<i64>(c)?
                    }
                };
                let mut changed = false;
                let ch = changes(r, f);
                if !ch.is_empty() {
                    diesel::update(
                        followers::table
                            .filter(followers::tenant_id.eq(scope.tenant_id().0))
                            .filter(followers::id.eq(id)),
                    )
                    .set((&ch, followers::updated_at.eq(t)))
                    .execute(c)?;
                    changed = true;
                }
                if let Some(names) = &r.tags {
                    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
                    want.sort_unstable();
                    let mut have: Vec<&str> = tags_now
                        .get(&id)
                        .map(|v| v.iter().map(String::as_str).collect())
                        .unwrap_or_default();
                    have.sort_unstable();
                    if want != have {
                        crate::tags::set_for_follower(c, scope, id, names, &mut tag_ids)?;
                        changed = true;
                    }
                }
                for (attr, v) in &r.attrs {
                    let have = attrs_now
                        .get(&id)
                        .and_then(|vs| vs.iter().find(|(a, _)| a == attr))
                        .map(|(_, v)| v);
                    if have != v.as_ref() {
                        crate::attributes::put(c, scope, id, *attr, v.as_ref())?;
                        changed = true;
                    }
                }
                match (f, changed) {
                    (None, _) => {}
                    (Some(_), true) => out.updated += 1,
                    (Some(_), false) => out.unchanged += 1,
                }
            }
        }
        Ok(out)
    })
}
