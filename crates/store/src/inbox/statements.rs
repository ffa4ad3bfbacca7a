//! The statements of an ingest batch, in the shape each backend runs fastest.

use crate::schema::{followers, messages};
use crate::{DbConn, Result};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel::QueryResult;

#[derive(Insertable)]
#[diesel(table_name = followers, treat_none_as_default_value = false)]
pub(super) struct NewFollower<'a> {
    pub(super) tenant_id: i64,
    pub(super) openid: &'a str,
    pub(super) subscribed: bool,
    pub(super) subscribe_count: i64,
    pub(super) last_interaction_at: Option<NaiveDateTime>,
    pub(super) created_at: NaiveDateTime,
    pub(super) updated_at: NaiveDateTime,
}

/// A follower's id and last activity.
pub(super) type Known = (i64, Option<NaiveDateTime>);

// The batch's statements come in two shapes. PostgreSQL gets one statement per step for
// the whole batch (a round trip each, and `= ANY($1)` is one prepared statement whatever
// the batch size). SQLite, in-process, gets one cached statement per row instead: a
// statement whose text changes with the batch size (an IN list, a multi-row VALUES) is
// parsed and planned again every batch, and a multi-row insert also writes every page it
// touches to a statement journal first.

/// The replies stored with those of `keys` already in a tenant's archive.
pub(super) fn known_keys(
    c: &mut DbConn,
    tenant: i64,
    keys: &[&str],
) -> Result<std::collections::HashMap<String, Option<String>>> {
    let by_key = messages::table
        .filter(messages::tenant_id.eq(tenant))
        .select((messages::dedupe_key.assume_not_null(), messages::reply));
    Ok(match c {
        DbConn::Postgres(pg) => by_key
            .filter(messages::dedupe_key.eq_any(keys))
            .load::<(String, Option<String>)>(pg)?
            .into_iter()
            .collect(),
        DbConn::Sqlite(lite) => {
            let mut known = std::collections::HashMap::new();
            for &key in keys {
                known.extend(
                    by_key
                        .filter(messages::dedupe_key.eq(key))
                        .load::<(String, Option<String>)>(lite)?,
                );
            }
            known
        }
    })
}

/// Ids and last activity of a tenant's followers among `openids`.
pub(super) fn known_followers(
    c: &mut DbConn,
    tenant: i64,
    openids: &[&str],
) -> Result<std::collections::HashMap<String, Known>> {
    let by_openid = followers::table
        .filter(followers::tenant_id.eq(tenant))
        .select((
            followers::openid,
            followers::id,
            followers::last_interaction_at,
        ));
    let rows: Vec<(String, i64, Option<NaiveDateTime>)> = match c {
        DbConn::Postgres(pg) => by_openid
            .filter(followers::openid.eq_any(openids))
            .load(pg)?,
        DbConn::Sqlite(lite) => {
            let mut rows = Vec::with_capacity(openids.len());
            for &openid in openids {
                rows.extend(by_openid.filter(followers::openid.eq(openid)).load::<(
                    String,
                    i64,
                    Option<NaiveDateTime>,
                )>(
                    lite
                )?);
            }
            rows
        }
    };
    Ok(rows
        .into_iter()
        .map(|(o, id, last)| (o, (id, last)))
        .collect())
}

/// Creates followers, skipping any that exist (another writer may be creating the same
/// follower right now: on PostgreSQL the unique key then waits for its commit and skips
/// the row, instead of failing the whole batch). Returns (openid, id) of those created.
pub(super) fn insert_followers(
    c: &mut DbConn,
    rows: &[NewFollower<'_>],
) -> Result<Vec<(String, i64)>> {
    Ok(match c {
        DbConn::Postgres(pg) => diesel::RunQueryDsl::load(unnest::InsertFollowers::new(rows), pg)?,
        DbConn::Sqlite(lite) => {
            let mut created = Vec::with_capacity(rows.len());
            for row in rows {
                let inserted = diesel::insert_into(followers::table)
                    .values(row)
                    .on_conflict((followers::tenant_id, followers::openid))
                    .do_nothing()
                    .execute(lite)?;
                if inserted == 1 {
                    created.push((row.openid.to_string(), last_insert_rowid(lite)?));
                }
            }
            created
        }
    })
}

/// The rowid of the connection's last insert. SQLite runs `RETURNING` as a trigger, and a
/// statement with a trigger writes each page it touches to a statement journal first.
fn last_insert_rowid(lite: &mut diesel::SqliteConnection) -> Result<i64> {
    Ok(diesel::RunQueryDsl::get_result(LastInsertRowid, lite)?)
}

/// `SELECT last_insert_rowid()` as a query of fixed text, so that diesel prepares it once
/// per connection: as `select(sql(…))` it was prepared again for every row stored (a
/// twelfth of the SQLite writer's time).
struct LastInsertRowid;

impl QueryId for LastInsertRowid {
    type QueryId = LastInsertRowid;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for LastInsertRowid {
    type SqlType = diesel::sql_types::BigInt;
}

impl diesel::RunQueryDsl<diesel::SqliteConnection> for LastInsertRowid {}

impl QueryFragment<Sqlite> for LastInsertRowid {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("SELECT last_insert_rowid()");
        Ok(())
    }
}

/// Appends archive rows, skipping any whose delivery key is stored already; returns the
/// id of each row stored by its delivery key.
pub(super) fn insert_messages(
    c: &mut DbConn,
    rows: &[NewMessage<'_>],
) -> Result<std::collections::HashMap<String, i64>> {
    let stored: Vec<(Option<String>, i64)> = match c {
        DbConn::Postgres(pg) => diesel::RunQueryDsl::load(unnest::InsertMessages::new(rows), pg)?,
        DbConn::Sqlite(lite) => {
            let mut stored = Vec::with_capacity(rows.len());
            for row in rows {
                let inserted = diesel::RunQueryDsl::execute(InsertMessage(row), lite)?;
                if inserted == 1 {
                    stored.push((row.dedupe_key.map(str::to_string), last_insert_rowid(lite)?));
                }
            }
            stored
        }
    };
    Ok(stored
        .into_iter()
        .filter_map(|(k, id)| Some((k?, id)))
        .collect())
}

/// One archive row for SQLite, `ON CONFLICT DO NOTHING`, as a query of fixed text that
/// diesel caches by its type: the same insert through the query builder rebuilt its SQL
/// text on every execution to look the statement up in the cache (a tenth of the writer's
/// time).
struct InsertMessage<'r, 'a>(&'r NewMessage<'a>);

impl QueryId for InsertMessage<'_, '_> {
    type QueryId = InsertMessage<'static, 'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::RunQueryDsl<diesel::SqliteConnection> for InsertMessage<'_, '_> {}

impl QueryFragment<Sqlite> for InsertMessage<'_, '_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
        let r = self.0;
        out.push_sql(
            "INSERT INTO messages (tenant_id, follower_id, direction, msg_type, event, \
             dedupe_key, content, body, reply, sent_at, received_at) VALUES (",
        );
        out.push_bind_param::<BigInt, _>(&r.tenant_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.follower_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.direction)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.msg_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.event)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.dedupe_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.content)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&r.body)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&r.reply)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&r.sent_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&r.received_at)?;
        // Only the delivery key turns a row away (as on PostgreSQL, where without a target
        // every unique index is an arbiter, probed before each row goes in).
        out.push_sql(") ON CONFLICT (tenant_id, dedupe_key) DO NOTHING");
        Ok(())
    }
}

/// The batch's inserts for PostgreSQL as statements of fixed text, whatever the batch
/// size: the rows travel as arrays and `unnest` turns them back into rows. Their text never
/// changes, so the connection prepares and plans each once (a multi-row VALUES list is a
/// new statement for every batch size, parsed and planned each time).
mod unnest {
    use super::{NewFollower, NewMessage};
    use chrono::NaiveDateTime;
    use diesel::pg::Pg;
    use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
    use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp};
    use diesel::QueryResult;

    /// New followers, `ON CONFLICT (tenant_id, openid) DO NOTHING RETURNING openid, id`.
    pub struct InsertFollowers<'a> {
        tenant: Vec<i64>,
        openid: Vec<&'a str>,
        subscribed: Vec<bool>,
        subscribe_count: Vec<i64>,
        last_interaction_at: Vec<Option<NaiveDateTime>>,
        created_at: Vec<NaiveDateTime>,
        updated_at: Vec<NaiveDateTime>,
    }

    impl<'a> InsertFollowers<'a> {
        pub fn new(rows: &[NewFollower<'a>]) -> InsertFollowers<'a> {
            InsertFollowers {
                tenant: rows.iter().map(|r| r.tenant_id).collect(),
                openid: rows.iter().map(|r| r.openid).collect(),
                subscribed: rows.iter().map(|r| r.subscribed).collect(),
                subscribe_count: rows.iter().map(|r| r.subscribe_count).collect(),
                last_interaction_at: rows.iter().map(|r| r.last_interaction_at).collect(),
                created_at: rows.iter().map(|r| r.created_at).collect(),
                updated_at: rows.iter().map(|r| r.updated_at).collect(),
            }
        }
    }

    impl QueryId for InsertFollowers<'_> {
        type QueryId = InsertFollowers<'static>;
        const HAS_STATIC_QUERY_ID: bool = true;
    }

    impl Query for InsertFollowers<'_> {
        type SqlType = (Text, BigInt);
    }

    impl diesel::RunQueryDsl<diesel::PgConnection> for InsertFollowers<'_> {}

    impl QueryFragment<Pg> for InsertFollowers<'_> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
            out.push_sql(
                "INSERT INTO followers (tenant_id, openid, subscribed, subscribe_count, \
                 last_interaction_at, created_at, updated_at) SELECT * FROM unnest(",
            );
            out.push_bind_param::<Array<BigInt>, _>(&self.tenant)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&self.openid)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Bool>, _>(&self.subscribed)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<BigInt>, _>(&self.subscribe_count)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Timestamp>>, _>(&self.last_interaction_at)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Timestamp>, _>(&self.created_at)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Timestamp>, _>(&self.updated_at)?;
            out.push_sql(") ON CONFLICT (tenant_id, openid) DO NOTHING RETURNING openid, id");
            Ok(())
        }
    }

    pub struct InsertMessages<'a> {
        tenant: Vec<i64>,
        follower: Vec<Option<i64>>,
        direction: Vec<&'a str>,
        msg_type: Vec<&'a str>,
        event: Vec<Option<&'a str>>,
        key: Vec<Option<&'a str>>,
        content: Vec<Option<&'a str>>,
        body: Vec<&'a str>,
        reply: Vec<Option<&'a str>>,
        sent_at: Vec<NaiveDateTime>,
        received_at: Vec<NaiveDateTime>,
    }

    impl<'a> InsertMessages<'a> {
        pub fn new(rows: &[NewMessage<'a>]) -> InsertMessages<'a> {
            InsertMessages {
                tenant: rows.iter().map(|r| r.tenant_id).collect(),
                follower: rows.iter().map(|r| r.follower_id).collect(),
                direction: rows.iter().map(|r| r.direction).collect(),
                msg_type: rows.iter().map(|r| r.msg_type).collect(),
                event: rows.iter().map(|r| r.event).collect(),
                key: rows.iter().map(|r| r.dedupe_key).collect(),
                content: rows.iter().map(|r| r.content).collect(),
                body: rows.iter().map(|r| r.body).collect(),
                reply: rows.iter().map(|r| r.reply).collect(),
                sent_at: rows.iter().map(|r| r.sent_at).collect(),
                received_at: rows.iter().map(|r| r.received_at).collect(),
            }
        }
    }

    impl QueryId for InsertMessages<'_> {
        type QueryId = InsertMessages<'static>;
        const HAS_STATIC_QUERY_ID: bool = true;
    }

    impl Query for InsertMessages<'_> {
        type SqlType = (Nullable<Text>, BigInt);
    }

    impl diesel::RunQueryDsl<diesel::PgConnection> for InsertMessages<'_> {}

    impl QueryFragment<Pg> for InsertMessages<'_> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
            out.push_sql(
                "INSERT INTO messages (tenant_id, follower_id, direction, msg_type, event, \
                 dedupe_key, content, body, reply, sent_at, received_at) \
                 SELECT * FROM unnest(",
            );
            out.push_bind_param::<Array<BigInt>, _>(&self.tenant)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<BigInt>>, _>(&self.follower)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&self.direction)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&self.msg_type)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.event)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.key)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.content)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Text>, _>(&self.body)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(&self.reply)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Timestamp>, _>(&self.sent_at)?;
            out.push_sql(", ");
            out.push_bind_param::<Array<Timestamp>, _>(&self.received_at)?;
            out.push_sql(
                ") ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING dedupe_key, id",
            );
            Ok(())
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
pub(super) struct NewMessage<'a> {
    pub(super) tenant_id: i64,
    pub(super) follower_id: Option<i64>,
    pub(super) direction: &'a str,
    pub(super) msg_type: &'a str,
    pub(super) event: Option<&'a str>,
    pub(super) dedupe_key: Option<&'a str>,
    pub(super) content: Option<&'a str>,
    pub(super) body: &'a str,
    pub(super) reply: Option<&'a str>,
    pub(super) sent_at: NaiveDateTime,
    pub(super) received_at: NaiveDateTime,
}
