//! Connections: one enum over the two backends, an r2d2 pool that picks the backend from
//! the URL scheme, and the SQLite settings that keep concurrent requests from failing.

use crate::StoreError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

/// One connection to either backend. Portable queries run through it directly; where the
/// backends differ, match on the variant with both arms side by side.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Postgres(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A parsed `DATABASE_URL`. A mistyped URL is refused instead of silently creating an
/// empty SQLite file somewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::Config(
                    "DATABASE_URL: sqlite URL has no file path (use sqlite://path/to/patron.db)"
                        .into(),
                ));
            }
            Ok(DbUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbUrl::Postgres(url.to_string()))
        } else {
            Err(StoreError::Config(format!(
                "DATABASE_URL: unsupported scheme in {:?}; use sqlite://FILE or postgres://USER@HOST/DB",
                redact(url)
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbUrl::Sqlite(_) => Backend::Sqlite,
            DbUrl::Postgres(_) => Backend::Postgres,
        }
    }

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        match self {
            DbUrl::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the writer; busy_timeout makes writers queue
                // instead of failing with "database is locked". The timeout comes first:
                // switching to WAL takes a lock, and a connection opened while another one
                // writes would otherwise fail at once. Pages are read through a memory map
                // (up to SQLite's 2 GiB limit; address space, not memory) rather than a
                // read() system call each: a 256 MiB map left a 1M-message archive's
                // pages beyond it to pread (measured slower in the webhook benchmark). (A larger page cache
                // was measured slower: a connection drops its whole cache whenever another
                // one has written, and the ingest writer takes whichever is free.) Statement
                // journals and temporary tables stay in memory rather than in temp files.
                // A log grown long (a bulk load) is cut back to 128 MiB when it restarts.
                c.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA mmap_size = 2147418112; PRAGMA temp_store = MEMORY; \
                     PRAGMA journal_size_limit = 134217728;",
                )
                .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
                Ok(DbConn::Sqlite(c))
            }
            DbUrl::Postgres(url) => Ok(DbConn::Postgres(PgConnection::establish(url)?)),
        }
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub struct Manager {
    url: DbUrl,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        self.url.connect()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// A pool of connections to one database.
/// A connection out of a [`DbPool`] (back to it when dropped).
pub type PooledConn = r2d2::PooledConnection<Manager>;

#[derive(Clone)]
pub struct DbPool {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
}

impl DbPool {
    /// Connects (failing fast with the real error if the database is unreachable).
    pub fn connect(url: &str, max_size: u32) -> Result<Self, StoreError> {
        let parsed = DbUrl::parse(url)?;
        let backend = parsed.backend();
        if let DbUrl::Sqlite(path) = &parsed {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!(
                        "DATABASE_URL: cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        // Try once by hand: r2d2 would retry and then report only "timed out".
        parsed.connect().map_err(|e| {
            StoreError::Config(format!(
                "DATABASE_URL: cannot connect to {}: {e}",
                redact(url)
            ))
        })?;
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .connection_timeout(Duration::from_secs(10))
            .build(Manager { url: parsed })?;
        Ok(DbPool { pool, backend })
    }

    pub fn get(&self) -> Result<PooledConn, StoreError> {
        Ok(self.pool.get()?)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` as a savepoint inside the caller's transaction: an error undoes what `f`
/// wrote, and only that; the transaction goes on.
pub fn savepoint<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(f)
}

/// Runs `f` in a transaction that takes the write lock up front.
///
/// On SQLite a deferred transaction that reads and then writes can fail with SQLITE_BUSY
/// without waiting on the busy timeout; `BEGIN IMMEDIATE` queues behind other writers
/// instead. On PostgreSQL this is an ordinary transaction.
pub fn write_tx<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if let DbConn::Sqlite(c) = conn {
        // SQLite has one writer at a time. Queueing writers of this process on a mutex,
        // rather than letting them sleep in SQLite's busy handler (1, 2, 5 … 100 ms naps),
        // keeps the write rate up and the latency tail short. Other processes on the same
        // file still wait through busy_timeout. (A process normally serves one database;
        // test processes with many databases only serialize their writes a little.)
        let _writer = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
        let out = f(conn);
        let DbConn::Sqlite(c) = conn else {
            unreachable!("the connection does not change backend")
        };
        match out {
            Ok(v) => match AnsiTransactionManager::commit_transaction(c) {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                    Err(e.into())
                }
            },
            Err(e) => {
                AnsiTransactionManager::rollback_transaction(c)?;
                Err(e)
            }
        }
    } else {
        conn.transaction(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_and_refuse_typos() {
        assert_eq!(
            DbUrl::parse("sqlite://data/p.db").unwrap(),
            DbUrl::Sqlite("data/p.db".into())
        );
        assert_eq!(
            DbUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert!(DbUrl::parse("postgress://u@h/db").is_err());
        assert!(DbUrl::parse("data/p.db").is_err());
        assert!(DbUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn sqlite_pool_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let pool = DbPool::connect(&url, 2).unwrap();
        let mut c = pool.get().unwrap();
        #[derive(QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        let m: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut *c)
            .unwrap();
        assert_eq!(m.journal_mode, "wal");
    }
}
