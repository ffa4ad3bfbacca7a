//! Embedded migrations, one directory per backend, applied on start and by `patron migrate`.

use crate::{DbConn, StoreError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Applies pending migrations; returns the names of those applied.
pub fn run(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.into_iter().map(|v| v.to_string()).collect())
}

/// Reverts every migration (used by the test that each `down.sql` really reverts).
pub fn revert_all(conn: &mut DbConn) -> Result<(), StoreError> {
    match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE).map(drop),
        DbConn::Postgres(c) => c.revert_all_migrations(POSTGRES).map(drop),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))
}
