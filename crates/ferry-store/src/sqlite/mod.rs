//! The embedded SQLite backend, Ferry's default store.
//!
//! [`SqliteStore`] keeps one database file in WAL mode. All writes go
//! through a single writer thread (see `pool.rs`), which serialises them and
//! makes seq assignment race-free; reads run on a small pool of read-only
//! connections. The trait implementations live next to their aggregate:
//! `users.rs`, `sessions.rs`, `conversations.rs`, `messages.rs`, `contacts.rs`,
//! `groups.rs`, `files.rs`; the schema in `migrations.rs`.

mod checkpoint;
mod contacts;
mod conversations;
mod files;
mod groups;
mod hidden;
mod log;
mod messages;
mod migrations;
mod pool;
mod search;
mod sessions;
mod users;

use std::{path::Path, sync::Arc, time::Duration};

use ferry_core::ConversationId;
use rusqlite::{Connection, ErrorCode, OpenFlags, ffi, types::Type};

use crate::{Result, StoreError};
use checkpoint::Checkpointer;
use log::MessageLog;
use pool::{Readers, Writer};

/// The schema version this build reads and writes (`user_version`).
pub const SCHEMA_VERSION: u32 = migrations::LATEST;

/// How long a connection waits for a lock held by another connection (e.g.
/// a checkpoint, or a second process) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; comfortably above the number of
/// distinct hot queries.
const STATEMENT_CACHE: usize = 128;

/// Bytes the WAL file is truncated back to when it is reset.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// When a commit counts as durable (SQLite's `synchronous` pragma).
///
/// The store acknowledges a write only after COMMIT returns, so this setting
/// decides what an acknowledged message survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `synchronous = NORMAL`. In WAL mode a commit is written to the WAL but
    /// not synced; the WAL is synced at checkpoints. An acknowledged write
    /// survives a crash of the Ferry process, but the most recent
    /// transactions may be lost (never corrupted) on power loss or an OS
    /// crash. Noticeably faster on slow disks.
    Normal,
    /// `synchronous = FULL`. Every commit syncs the WAL before returning, so
    /// an acknowledged write survives power loss and OS crashes as well.
    #[default]
    Full,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

/// How to open a [`SqliteStore`].
#[derive(Clone)]
pub struct SqliteOptions {
    /// Durability of commits; defaults to [`Synchronous::Full`].
    pub synchronous: Synchronous,
    /// Read-only connections serving concurrent reads; defaults to 4. Zero is
    /// treated as one.
    pub read_connections: usize,
    /// Rows a message log table takes before it is sealed and merged into
    /// the `messages` table (see `log.rs`): larger means fewer page writes
    /// per message and more memory (about 80 bytes per logged message, two
    /// tables at most). Defaults to 131,072.
    pub log_rows: usize,
    /// How often a background connection checkpoints the WAL into the
    /// database file (off the commit path). Defaults to one second.
    pub checkpoint_interval: Duration,
    /// Page cache of the writer connection in KiB (each reader gets a
    /// quarter). SQLite's own default, 2 MiB, is smaller than the pages a
    /// commit touches once thousands of conversations are active: every
    /// miss is a `pread` and a copy on the writer thread. Filled only as
    /// pages are read. Defaults to 65,536 (64 MiB).
    pub cache_kib: u32,
    /// How search reads a stored body: messages are indexed (as they are
    /// merged) and search candidates verified with it. `None` (the
    /// default) indexes nothing and finds nothing.
    pub search: Option<crate::SearchExtractor>,
}

impl std::fmt::Debug for SqliteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteOptions")
            .field("synchronous", &self.synchronous)
            .field("read_connections", &self.read_connections)
            .field("log_rows", &self.log_rows)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("cache_kib", &self.cache_kib)
            .field("search", &self.search.is_some())
            .finish()
    }
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            read_connections: 4,
            log_rows: 131_072,
            checkpoint_interval: Duration::from_secs(1),
            cache_kib: 65_536,
            search: None,
        }
    }
}

/// The SQLite implementation of [`Store`](crate::Store).
///
/// Dropping the store stops the writer thread once it has finished the
/// writes already queued; [`SqliteStore::close`] additionally waits for that,
/// so the file can be reopened right after.
pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    log: Arc<log::Shared>,
    checkpointer: Checkpointer,
    search: Option<crate::SearchExtractor>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database
    /// at `path` and brings its schema up to date.
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let path = path.as_ref().to_owned();
        let search = options.search.clone();
        let (writer, readers, log, checkpointer) = tokio::task::spawn_blocking(move || {
            let (writer, readers) = open_connections(&path, &options)?;
            search::prepare(&writer, options.search.is_some())?;
            let log = MessageLog::load(&writer, options.log_rows, options.search.clone())?;
            let checkpointer = Checkpointer::spawn(&path, options.checkpoint_interval)?;
            Ok::<_, StoreError>((writer, readers, log, checkpointer))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("opening SQLite: {e}")))??;
        let shared = Arc::clone(&log.shared);
        Ok(SqliteStore {
            writer: Writer::spawn(writer, log)?,
            readers: Readers::new(readers),
            log: shared,
            checkpointer,
            search,
        })
    }

    /// Finishes queued writes, stops the writer thread and the checkpointer
    /// and closes every connection.
    pub async fn close(self) {
        let Self { writer, readers, log: _, checkpointer, search: _ } = self;
        drop(readers);
        writer.shutdown().await;
        checkpointer.shutdown().await;
    }

    /// Messages appended and not yet merged into the `messages` table.
    pub fn logged_messages(&self) -> usize {
        self.log.logged_rows()
    }

    /// Runs `f` on the writer connection (see `Writer::run`).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.writer.run(move |conn, _| f(conn)).await
    }

    /// Runs `f` on the writer connection in a transaction shared with other
    /// small writes queued at the same time (see `Writer::run_grouped`).
    async fn write_grouped<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.run_grouped(f).await
    }

    /// Runs `f` on the writer connection with the message log.
    async fn write_log<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &MessageLog) -> Result<T> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// Runs `f` on a read-only connection (see `Readers::run`).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers.run(f).await
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Opens and configures the writer (running migrations on it) and then the
/// readers, which need the WAL set up by the writer.
fn open_connections(path: &Path, options: &SqliteOptions) -> Result<(Connection, Vec<Connection>)> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
    }

    let mut writer = Connection::open(path).map_err(backend_err)?;
    writer.busy_timeout(BUSY_TIMEOUT).map_err(backend_err)?;
    let mode: String =
        writer.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(backend_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("SQLite refused WAL mode (journal_mode = {mode})")));
    }
    writer.pragma_update(None, "synchronous", options.synchronous.pragma_value()).map_err(backend_err)?;
    writer.pragma_update(None, "foreign_keys", true).map_err(backend_err)?;
    // Checkpoints run on their own connection (see `checkpoint.rs`), never
    // inside a commit.
    writer.pragma_update(None, "wal_autocheckpoint", 0).map_err(backend_err)?;
    // A WAL that grew under a burst is cut back once it is reset.
    writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT).map_err(backend_err)?;
    writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // A negative cache_size is in KiB.
    writer.pragma_update(None, "cache_size", -i64::from(options.cache_kib.max(1))).map_err(backend_err)?;
    migrations::migrate(&mut writer)?;

    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let readers = (0..options.read_connections.max(1))
        .map(|_| {
            let conn = Connection::open_with_flags(path, flags).map_err(backend_err)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(backend_err)?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            conn.pragma_update(None, "cache_size", -i64::from((options.cache_kib / 4).max(1))).map_err(backend_err)?;
            Ok(conn)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((writer, readers))
}

/// Maps a SQLite error: unique and primary-key violations are
/// [`StoreError::Conflict`], everything else [`StoreError::Backend`].
fn backend_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == ErrorCode::ConstraintViolation
                && matches!(err.extended_code, ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) =>
        {
            StoreError::Conflict(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Reads a conversation id stored as TEXT in column `idx`.
fn conversation_col(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<ConversationId> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Reads a TEXT column naming an enum value, failing the row if `parse`
/// does not know the text.
fn text_enum_col<T>(row: &rusqlite::Row<'_>, idx: usize, parse: impl FnOnce(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, format!("unknown value {text:?}").into())
    })
}

/// A `u64` cursor (a version or seq) as the `i64` SQLite stores; anything
/// beyond `i64::MAX` is past every stored value.
fn cursor(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.pragma_query_value(None, name, |row| row.get(0)).expect("pragma")
    }

    #[test]
    fn writer_gets_the_configured_pragmas() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (synchronous, expected) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let options = SqliteOptions { synchronous, read_connections: 3, ..SqliteOptions::default() };
            let (writer, readers) = open_connections(&dir.path().join("x.db"), &options).expect("open");
            assert_eq!(pragma(&writer, "synchronous"), expected);
            assert_eq!(pragma(&writer, "foreign_keys"), 1);
            assert_eq!(pragma(&writer, "cache_size"), -65_536);
            assert_eq!(pragma(&writer, "busy_timeout"), BUSY_TIMEOUT.as_millis() as i64);
            assert_eq!(readers.len(), 3);
            assert!(readers.iter().all(|r| r.is_readonly(rusqlite::MAIN_DB).expect("is_readonly")));
        }
    }

    #[test]
    fn unique_violations_are_conflicts() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE, c TEXT NOT NULL)").expect("create");
        conn.execute("INSERT INTO t VALUES (1, 'x', 'c')", []).expect("insert");
        let dup_pk = conn.execute("INSERT INTO t VALUES (1, 'y', 'c')", []).expect_err("dup pk");
        assert!(matches!(backend_err(dup_pk), StoreError::Conflict(_)));
        let dup_unique = conn.execute("INSERT INTO t VALUES (2, 'x', 'c')", []).expect_err("dup unique");
        assert!(matches!(backend_err(dup_unique), StoreError::Conflict(_)));
        let not_null = conn.execute("INSERT INTO t VALUES (3, 'z', NULL)", []).expect_err("not null");
        assert!(matches!(backend_err(not_null), StoreError::Backend(_)));
    }
}
