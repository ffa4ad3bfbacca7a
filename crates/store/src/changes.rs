//! Who changed what, when: the record a campaign's or a reply rule's page lists. Written
//! in the change's own transaction by the store function that makes the change.

use crate::schema::changes as ch;
use crate::{DbConn, Result};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use patron_domain::TenantScope;
use serde::Serialize;

/// The subject of a change.
pub const CAMPAIGN: &str = "campaign";
pub const REPLY_RULE: &str = "reply_rule";

/// One recorded change: who, when, which fields (comma-separated names).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = ch)]
pub struct Change {
    pub id: i64,
    pub user_name: String,
    pub fields: String,
    pub at: NaiveDateTime,
}

/// Records that `by` changed `fields` of a subject of the scope's tenant.
pub fn record(
    conn: &mut DbConn,
    scope: &TenantScope,
    subject: &str,
    subject_id: i64,
    by: &str,
    fields: &[&str],
    at: NaiveDateTime,
) -> Result<()> {
    diesel::insert_into(ch::table)
        .values((
            ch::tenant_id.eq(scope.tenant_id().0),
            ch::subject.eq(subject),
            ch::subject_id.eq(subject_id),
            ch::user_name.eq(by),
            ch::fields.eq(fields.join(",")),
            ch::at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A subject's recorded changes, newest first.
pub fn of(
    conn: &mut DbConn,
    scope: &TenantScope,
    subject: &str,
    subject_id: i64,
    n: i64,
) -> Result<Vec<Change>> {
    Ok(ch::table
        .filter(ch::tenant_id.eq(scope.tenant_id().0))
        .filter(ch::subject.eq(subject))
        .filter(ch::subject_id.eq(subject_id))
        .order(ch::id.desc())
        .limit(n)
        .select(Change::as_select())
        .load(conn)?)
}
