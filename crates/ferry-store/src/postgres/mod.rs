//! The PostgreSQL backend, for clusters: every node of a cluster opens a
//! [`PgStore`] on the same database.
//!
//! Plain tables with the right primary keys — messages keyed by
//! (conversation, seq), as a sync read wants them — and no memory of its
//! own: what another node wrote is seen at once. The SQLite backend's log
//! tables and merge are an SQLite write-cost device; PostgreSQL has its
//! WAL and background writer for that.
//!
//! Concurrency: the append path (`messages.rs`) runs in READ COMMITTED and
//! serialises appenders of one conversation — on any node — by locking its
//! `conversations` row, which holds the seq counter; every other write
//! runs SERIALIZABLE, so it behaves as if it were alone, like a write on
//! SQLite's single writer thread. A serialization failure or deadlock is
//! retried ([`PgStore::write`]); a call returns only after COMMIT, and any
//! failure (the server gone included) is an error, never a false success.
//!
//! The trait implementations live next to their aggregate, as in the
//! SQLite backend: `users.rs`, `sessions.rs`, `conversations.rs` (with the
//! per-user state of `hidden.rs`), `messages.rs`, `search.rs`,
//! `contacts.rs`, `groups.rs`, `files.rs`; the schema in `migrations.rs`.

mod contacts;
mod conversations;
mod files;
mod groups;
mod hidden;
mod messages;
mod migrations;
mod search;
mod sessions;
mod users;

use std::{future::Future, time::Duration};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use ferry_core::ConversationId;
use tokio_postgres::{IsolationLevel, Row, error::SqlState};

use crate::{Result, StoreError};

pub use migrations::LATEST as SCHEMA_VERSION;
pub(crate) use search::terms as search_terms;

/// Attempts of a write that keeps meeting serialization failures or
/// deadlocks (each a sign of a concurrent write, which then went through).
const MAX_ATTEMPTS: u32 = 30;

/// How to open a [`PgStore`].
#[derive(Clone)]
pub struct PgOptions {
    /// Connections in the pool; defaults to 16.
    pub max_connections: usize,
    /// How long establishing a connection may take; defaults to 5 s.
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection; defaults to 10 s.
    pub acquire_timeout: Duration,
    /// How search reads a stored body (as
    /// [`SqliteOptions::search`](crate::sqlite::SqliteOptions::search)):
    /// messages are indexed as they are stored and candidates verified
    /// with it. `None` (the default) indexes nothing and finds nothing.
    pub search: Option<crate::SearchExtractor>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
            search: None,
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("search", &self.search.is_some())
            .finish()
    }
}

/// The PostgreSQL implementation of [`Store`](crate::Store).
pub struct PgStore {
    pool: Pool,
    search: Option<crate::SearchExtractor>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish_non_exhaustive()
    }
}

/// A pooled connection.
type Client = deadpool_postgres::Object;
/// A transaction on one (with its statement cache).
type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Why a step of a PostgreSQL call failed, before it becomes a
/// [`StoreError`]: kept apart so the write loop can tell what to retry.
#[derive(Debug)]
enum Failure {
    Db(tokio_postgres::Error),
    Store(StoreError),
    /// A concurrent write got in first in a way that needs the whole
    /// transaction again (e.g. a duplicate appended by another node after
    /// this transaction looked for one).
    Race(String),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    /// No connection: the server refused or did not answer (or the pool
    /// was closed at shutdown).
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Store(StoreError::Unavailable(format!("PostgreSQL connection: {e}")))
    }
}

impl Failure {
    /// Whether running the transaction again can succeed.
    fn retryable(&self) -> bool {
        match self {
            Self::Db(e) => {
                matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
            }
            Self::Race(_) => true,
            Self::Store(_) => false,
        }
    }
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Db(e) => db_err(e),
            Failure::Store(e) => e,
            Failure::Race(what) => StoreError::Backend(format!("PostgreSQL: gave up retrying: {what}")),
        }
    }
}

/// Maps a driver error: unique violations are [`StoreError::Conflict`],
/// a lost or refused connection (the server stopping, restarting or out of
/// reach) [`StoreError::Unavailable`], everything else
/// [`StoreError::Backend`].
pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(db.message().to_owned()),
        Some(db) if connection_lost(db.code()) => {
            StoreError::Unavailable(format!("PostgreSQL: {}: {}", db.code().code(), db.message()))
        }
        Some(db) => StoreError::Backend(format!("PostgreSQL: {}: {}", db.code().code(), db.message())),
        None if e.is_closed() || io_error(&e) => StoreError::Unavailable(format!("PostgreSQL: {e}")),
        None => StoreError::Backend(format!("PostgreSQL: {e}")),
    }
}

/// SQLSTATEs of a connection the server ended or would not take: class 08
/// (connection exception) and the shutdown codes (57P01 admin shutdown,
/// 57P02 crash shutdown, 57P03 cannot connect now).
fn connection_lost(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(code)
}

/// Whether the driver failed on the socket (reset, refused, timed out).
fn io_error(e: &tokio_postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// `Result` inside the backend.
type Try<T> = std::result::Result<T, Failure>;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db`
    /// or the key-value form) and brings its schema up to date (see
    /// `migrations.rs`). Fails if the database was written by a newer
    /// Ferry, or cannot be reached.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgStore> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("PostgreSQL URL: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        // A database that vanishes without closing its connections (a
        // network partition, a power cut) is noticed in well under a
        // minute rather than TCP's default two hours.
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(20));
        }
        if config.get_application_name().is_none() {
            config.application_name("ferry");
        }
        let manager = Manager::from_connect(
            config,
            SpawnOn(tokio::runtime::Handle::current()),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.acquire_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Backend(format!("PostgreSQL pool: {e}")))?;
        let store = PgStore { pool, search: options.search };
        {
            let mut client = store.client().await?;
            migrations::migrate(&mut client).await?;
            search::prepare(&client, store.search.is_some()).await?;
        }
        Ok(store)
    }

    /// Closes every pooled connection; calls after this fail.
    pub fn close(&self) {
        self.pool.close();
    }

    /// A connection from the pool.
    async fn client(&self) -> Try<Client> {
        Ok(self.pool.get().await?)
    }

    /// Runs `attempt` — one transaction on a fresh connection, begun with
    /// [`begin`] and committed by it — until it succeeds, fails for good,
    /// or has met [`MAX_ATTEMPTS`] serialization failures, deadlocks or
    /// races.
    async fn write<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Try<T>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let client = self.client().await?;
            match attempt(client).await {
                Err(f) if f.retryable() && tries < MAX_ATTEMPTS => {
                    tracing::debug!(failure = ?f, tries, "retrying a PostgreSQL transaction");
                    // A little later each time, so colliding writers part.
                    tokio::time::sleep(Duration::from_millis(u64::from(tries.min(10)))).await;
                }
                other => return other.map_err(StoreError::from),
            }
        }
    }

    /// Runs `read` on a pooled connection.
    async fn read<T, F, Fut>(&self, read: F) -> Result<T>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Try<T>>,
    {
        let client = self.client().await?;
        read(client).await.map_err(StoreError::from)
    }
}

/// Begins a transaction at `isolation`.
async fn begin(client: &mut Client, isolation: IsolationLevel) -> Try<Tx<'_>> {
    Ok(client.build_transaction().isolation_level(isolation).start().await?)
}

/// Begins a SERIALIZABLE transaction: a write that behaves as if alone.
async fn serializable(client: &mut Client) -> Try<Tx<'_>> {
    begin(client, IsolationLevel::Serializable).await
}

/// Begins a read-only snapshot: several reads that agree with each other.
async fn snapshot(client: &mut Client) -> Try<Tx<'_>> {
    Ok(client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?)
}

/// Opens pool connections on the runtime the store was connected on: the
/// server's writer calls the store from a runtime of its own, and a
/// connection's socket and task must live where they keep being polled.
struct SpawnOn(tokio::runtime::Handle);

impl deadpool_postgres::Connect for SpawnOn {
    fn connect(&self, pg_config: &tokio_postgres::Config) -> BoxFuture<'_, ConnectResult> {
        let config = pg_config.clone();
        let handle = self.0.clone();
        Box::pin(async move {
            let inline = config.clone();
            match handle.spawn(open(config)).await {
                Ok(result) => result,
                // The store's runtime is shutting down: this one will do.
                Err(_) => open(inline).await,
            }
        })
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type ConnectResult = std::result::Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>;

/// Opens a connection and spawns its task on the current runtime.
async fn open(config: tokio_postgres::Config) -> ConnectResult {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "PostgreSQL connection lost");
        }
    });
    Ok((client, task))
}

/// Increments `user`'s counter in `table` (a per-user version table:
/// `contact_versions`, `user_state_versions`) and returns the new value.
async fn bump_version(tx: &impl GenericClient, table: &'static str, user: ferry_core::UserId) -> Try<i64> {
    let sql = format!(
        "INSERT INTO {table} (user_id, version) VALUES ($1, 1)
         ON CONFLICT (user_id) DO UPDATE SET version = {table}.version + 1
         RETURNING version"
    );
    let stmt = tx.prepare_cached(&sql).await?;
    Ok(tx.query_one(&stmt, &[&user]).await?.try_get(0)?)
}

/// A `u64` cursor (a version or seq) as the `i64` PostgreSQL stores;
/// anything beyond `i64::MAX` is past every stored value.
fn cursor(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Reads a conversation id stored as text in column `idx`.
fn conversation_col(row: &Row, idx: usize) -> Try<ConversationId> {
    let text: &str = row.try_get(idx)?;
    text.parse().map_err(|e| Failure::Store(StoreError::Backend(format!("stored conversation id {text:?}: {e}"))))
}

/// Reads a text column naming an enum value.
fn text_enum_col<T>(row: &Row, idx: usize, parse: impl FnOnce(&str) -> Option<T>) -> Try<T> {
    let text: &str = row.try_get(idx)?;
    parse(text).ok_or_else(|| Failure::Store(StoreError::Backend(format!("unknown stored value {text:?}"))))
}

/// Reads a non-negative `bigint` column as `u64`.
fn u64_col(row: &Row, idx: usize) -> Try<u64> {
    Ok(row.try_get::<_, i64>(idx)?.max(0) as u64)
}

/// Maps every row with `f`.
fn map_rows<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Try<T>) -> Try<Vec<T>> {
    rows.iter().map(f).collect()
}
