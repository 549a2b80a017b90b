//! Moving a single-node install to a cluster: every row of a SQLite store
//! copied into an empty PostgreSQL database, the binary's
//! `ferry-server migrate-store` ([`sqlite_to_postgres`]).
//!
//! The source is opened with `query_only` (no statement can write) and in
//! SQLite's exclusive locking mode, whose first read needs the database
//! file's EXCLUSIVE lock: every connection of a running server holds a
//! shared lock on a WAL database, so a server still running on the file
//! makes the migration fail at once, and a server started during it
//! cannot open the file. A checkpoint at close is switched off, so the
//! file is left as it was. One read transaction gives a consistent
//! snapshot.
//!
//! The target gets its schema from [`PgStore::connect`] (the migrations a
//! node runs), then everything happens in one PostgreSQL transaction that
//! locks the tables against writers, refuses them unless they are empty,
//! copies each table in SQLite's key order in batches (multi-row inserts
//! of `unnest`ed arrays, as `PgStore` writes), fills what SQLite keeps
//! elsewhere or derives, checks the copy and only then commits: a failure
//! or a mismatch leaves the target as empty as it was, and the command can
//! simply run again. Memory stays bounded: a reader thread streams batches
//! through a channel of two.
//!
//! Mapped on the way:
//! - `messages` is SQLite's `messages` plus the rows of the message log
//!   tables not merged yet (a merged row may linger in a sealed log table:
//!   the `messages` copy wins, as for SQLite's readers), and
//!   `conversations` gets the counters and times the log holds beyond the
//!   merged ones (see `sqlite/log.rs`).
//! - Integer flags become `boolean`s; SQLite's FTS5 index (`message_search`)
//!   becomes each message's `search` terms, built from its body with the
//!   same [`SearchExtractor`] a node uses, so search finds what it found;
//!   `search_backfill` is set done (or, without an extractor, to index
//!   everything once search is on).
//! - The identity sequences of `users`, `groups`, `friend_requests` and
//!   `group_join_requests` continue after the highest id SQLite gave
//!   (`sqlite_sequence`: AUTOINCREMENT never reuses one). Seq counters and
//!   version counters are rows and are copied; message ids are snowflakes
//!   from the clock and need nothing.
//!
//! The check before commit: every table's row count equals SQLite's, and
//! per conversation the seq counter, the highest stored seq and the number
//! of messages equal SQLite's.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use rusqlite::{Connection, ErrorCode, OpenFlags, config::DbConfig};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use crate::{
    SearchExtractor, StoreError,
    postgres::{PgOptions, PgStore, db_err, search_terms},
};

/// The SQLite schema version this copy knows (`user_version`).
const SQLITE_SCHEMA: u32 = 14;

/// The most rows one insert carries.
const BATCH_ROWS: usize = 5_000;

/// The most bytes (roughly) one insert carries.
const BATCH_BYTES: usize = 8 << 20;

/// How often a long table's progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Conversations per chunk of the per-conversation check.
const CHECK_CHUNK: usize = 10_000;

/// Why a migration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source is missing, not a Ferry store, of another schema
    /// version, or in use.
    #[error("source: {0}")]
    Source(String),
    /// The target already holds data.
    #[error(
        "target: table {0} is not empty; migrate into an empty database (a new one, or one whose Ferry tables were dropped)"
    )]
    TargetNotEmpty(&'static str),
    /// The copy did not check out; nothing was committed.
    #[error("verification failed, nothing was committed: {0}")]
    Mismatch(String),
    /// A database failed during the copy; nothing was committed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl MigrateError {
    /// Whether the migration refused to start (wrong source or target)
    /// rather than failing on the way.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Source(_) | Self::TargetNotEmpty(_))
    }
}

/// How to migrate.
#[derive(Clone, Default)]
pub struct MigrateOptions {
    /// How search reads a body, as the nodes will have it
    /// ([`PgOptions::search`]); `None` leaves messages unindexed and
    /// `search_backfill` set to index them all once search is on.
    pub search: Option<SearchExtractor>,
}

impl std::fmt::Debug for MigrateOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateOptions").field("search", &self.search.is_some()).finish()
    }
}

/// What a migration copied.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The SQLite database read.
    pub source: PathBuf,
    /// Rows per PostgreSQL table, in copy order.
    pub tables: Vec<(&'static str, u64)>,
    /// Conversations whose seqs were checked.
    pub conversations_checked: u64,
    /// From opening the source to the commit.
    pub elapsed: Duration,
}

impl Summary {
    /// Rows copied in all.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    /// Rows of one table.
    pub fn rows_of(&self, table: &str) -> u64 {
        self.tables.iter().find(|(t, _)| *t == table).map_or(0, |(_, n)| *n)
    }
}

/// A column's type: how it is read from SQLite and sent to PostgreSQL.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Int,
    Small,
    Bool,
    Text,
    Bytes,
}

impl Ty {
    fn pg_array(self) -> &'static str {
        match self {
            Ty::Int => "bigint[]",
            Ty::Small => "smallint[]",
            Ty::Bool => "boolean[]",
            Ty::Text => "text[]",
            Ty::Bytes => "bytea[]",
        }
    }
}

/// One table of the copy.
struct Table {
    /// The PostgreSQL table (and, but for `messages`' log tables, the
    /// SQLite one).
    name: &'static str,
    /// Columns in the order both sides read them.
    columns: &'static [(&'static str, Ty)],
    /// SQLite's primary key order.
    key: &'static str,
    /// Selects other than `SELECT columns FROM name ORDER BY key`.
    sources: Option<fn(&str) -> Vec<String>>,
    /// Has an identity `id` column (SQLite: AUTOINCREMENT).
    identity: bool,
}

use Ty::{Bool, Bytes, Int, Small, Text};

/// Every table of SQLite schema 14 that holds data, parents before
/// children (PostgreSQL checks foreign keys as rows arrive). Not copied:
/// `message_log_a`/`_b` (folded into `messages`), `message_log_meta`,
/// `message_search` (rebuilt as `messages.search`) and `search_backfill`
/// (set after the copy).
const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Int),
            ("created_at", Int),
            ("disabled", Bool),
            ("username", Text),
            ("display_name", Text),
            ("password_hash", Text),
            ("avatar", Text),
            ("bio", Text),
        ],
        key: "id",
        sources: None,
        identity: true,
    },
    Table {
        name: "sessions",
        columns: &[
            ("token_hash", Bytes),
            ("user_id", Int),
            ("created_at", Int),
            ("device_id", Text),
            ("platform", Text),
        ],
        key: "token_hash",
        sources: None,
        identity: false,
    },
    Table {
        name: "conversations",
        columns: &[("id", Text), ("kind", Text), ("max_seq", Int), ("last_time", Int), ("changed_at", Int)],
        key: "id",
        sources: Some(conversation_sources),
        identity: false,
    },
    Table {
        name: "conversation_members",
        columns: &[
            ("user_id", Int),
            ("conversation_id", Text),
            ("read_seq", Int),
            ("joined_at", Int),
            ("mention_seq", Int),
            ("read_at", Int),
        ],
        key: "user_id, conversation_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "messages",
        columns: MESSAGE_COLUMNS,
        key: "conversation_id, seq",
        sources: Some(message_sources),
        identity: false,
    },
    Table {
        name: "message_mentions",
        columns: &[("conversation_id", Text), ("seq", Int), ("user_id", Int), ("sender_id", Int)],
        key: "conversation_id, seq, user_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "reactions",
        columns: &[("conversation_id", Text), ("seq", Int), ("emoji", Text), ("user_id", Int), ("created_at", Int)],
        key: "conversation_id, seq, emoji, user_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "pins",
        columns: &[("conversation_id", Text), ("seq", Int), ("pinned_by", Int), ("pinned_at", Int)],
        key: "conversation_id, seq",
        sources: None,
        identity: false,
    },
    Table {
        name: "user_state_versions",
        columns: &[("user_id", Int), ("version", Int)],
        key: "user_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "hidden_messages",
        columns: &[("user_id", Int), ("conversation_id", Text), ("seq", Int), ("version", Int)],
        key: "user_id, conversation_id, seq",
        sources: None,
        identity: false,
    },
    Table {
        name: "cleared_history",
        columns: &[("user_id", Int), ("conversation_id", Text), ("up_to_seq", Int), ("version", Int)],
        key: "user_id, conversation_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "conversation_settings",
        columns: &[
            ("user_id", Int),
            ("conversation_id", Text),
            ("pinned_at", Int),
            ("muted", Bool),
            ("archived_at", Int),
            ("draft", Text),
            ("version", Int),
        ],
        key: "user_id, conversation_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "contact_versions",
        columns: &[("user_id", Int), ("version", Int)],
        key: "user_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "friend_requests",
        columns: &[
            ("id", Int),
            ("from_id", Int),
            ("to_id", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("from_version", Int),
            ("to_version", Int),
            ("greeting", Text),
            ("status", Text),
        ],
        key: "id",
        sources: None,
        identity: true,
    },
    Table {
        name: "friends",
        columns: &[
            ("owner_id", Int),
            ("friend_id", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("version", Int),
            ("deleted", Bool),
            ("remark", Text),
        ],
        key: "owner_id, friend_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "blocks",
        columns: &[
            ("owner_id", Int),
            ("blocked_id", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("version", Int),
            ("deleted", Bool),
        ],
        key: "owner_id, blocked_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "groups",
        columns: &[
            ("id", Int),
            ("owner_id", Int),
            ("created_at", Int),
            ("member_count", Int),
            ("member_version", Int),
            ("invite_needs_approval", Bool),
            ("mute_all", Bool),
            ("dismissed", Bool),
            ("name", Text),
            ("avatar", Text),
            ("notice", Text),
            ("intro", Text),
            ("join_policy", Text),
        ],
        key: "id",
        sources: None,
        identity: true,
    },
    Table {
        name: "group_members",
        columns: &[
            ("group_id", Int),
            ("user_id", Int),
            ("muted_until", Int),
            ("joined_at", Int),
            ("join_seq", Int),
            ("version", Int),
            ("has_left", Bool),
            ("role", Text),
            ("nickname", Text),
        ],
        key: "group_id, user_id",
        sources: None,
        identity: false,
    },
    Table {
        name: "group_join_requests",
        columns: &[
            ("id", Int),
            ("group_id", Int),
            ("user_id", Int),
            ("inviter_id", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("message", Text),
            ("status", Text),
        ],
        key: "id",
        sources: None,
        identity: true,
    },
    Table {
        name: "blobs",
        columns: &[("sha256", Bytes), ("size", Int), ("refcount", Int), ("created_at", Int), ("key", Text)],
        key: "sha256, size",
        sources: None,
        identity: false,
    },
    Table {
        name: "files",
        columns: &[
            ("id", Text),
            ("owner_id", Int),
            ("size", Int),
            ("created_at", Int),
            ("width", Int),
            ("height", Int),
            ("sha256", Bytes),
            ("mime", Text),
            ("name", Text),
            ("blob_key", Text),
            ("thumbnail", Text),
            ("thumbnail_of", Text),
        ],
        key: "id",
        sources: None,
        identity: false,
    },
    Table {
        name: "file_refs",
        columns: &[("file_id", Text), ("conversation_id", Text), ("seq", Int)],
        key: "file_id, conversation_id, seq",
        sources: None,
        identity: false,
    },
    Table {
        name: "uploads",
        columns: &[
            ("id", Text),
            ("owner_id", Int),
            ("size", Int),
            ("byte_offset", Int),
            ("created_at", Int),
            ("expires_at", Int),
            ("name", Text),
            ("mime", Text),
            ("sha256", Bytes),
            ("metadata", Text),
            ("file_id", Text),
        ],
        key: "id",
        sources: None,
        identity: false,
    },
    Table {
        name: "server_secrets",
        columns: &[("name", Text), ("value", Bytes)],
        key: "name",
        sources: None,
        identity: false,
    },
];

/// `messages`' columns; `FLAGS` and `BODY` are where search reads them.
const MESSAGE_COLUMNS: &[(&str, Ty)] = &[
    ("conversation_id", Text),
    ("seq", Int),
    ("server_msg_id", Int),
    ("sender_id", Int),
    ("server_time", Int),
    ("flags", Small),
    ("client_msg_id", Text),
    ("body", Bytes),
];
const FLAGS: usize = 5;
const BODY: usize = 7;

/// SQLite's tables that are not copied as they are (see [`TABLES`]).
#[cfg(test)]
const NOT_COPIED: &[&str] =
    &["message_log_a", "message_log_b", "message_log_meta", "message_search", "search_backfill"];

/// `messages`: the merged rows, then the logged rows not merged yet.
fn message_sources(columns: &str) -> Vec<String> {
    let mut sources = vec![format!("SELECT {columns} FROM messages ORDER BY conversation_id, seq")];
    for log in ["message_log_a", "message_log_b"] {
        sources.push(format!(
            "SELECT {columns} FROM {log} AS l
              WHERE NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.conversation_id = l.conversation_id AND m.seq = l.seq)
              ORDER BY conversation_id, seq"
        ));
    }
    sources
}

/// The logged rows' highest seq, last activity (events do not count) and
/// last change per conversation, as the merge will fold them in.
const LOGGED_TOTALS: &str = "
    SELECT conversation_id, MAX(seq) AS max_seq,
           MAX(CASE WHEN flags & 1 = 0 THEN server_time END) AS last_time, MAX(server_time) AS changed_at
      FROM (SELECT conversation_id, seq, server_time, flags FROM message_log_a
            UNION ALL SELECT conversation_id, seq, server_time, flags FROM message_log_b)
     GROUP BY conversation_id";

/// `conversations` with the counters the message log holds beyond the
/// merged ones (see `sqlite/log.rs`).
fn conversation_sources(_: &str) -> Vec<String> {
    vec![format!(
        "SELECT c.id, c.kind, MAX(c.max_seq, COALESCE(l.max_seq, 0)), MAX(c.last_time, COALESCE(l.last_time, 0)),
                MAX(c.changed_at, COALESCE(l.changed_at, 0))
           FROM conversations AS c LEFT JOIN ({LOGGED_TOTALS}) AS l ON l.conversation_id = c.id
          ORDER BY c.id"
    )]
}

impl Table {
    fn column_list(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    fn sources(&self) -> Vec<String> {
        let columns = self.column_list();
        match self.sources {
            Some(sources) => sources(&columns),
            None => vec![format!("SELECT {columns} FROM {} ORDER BY {}", self.name, self.key)],
        }
    }

    /// The insert of one batch: the columns as arrays, and for `messages`
    /// with search on, the terms as a last text array.
    fn insert(&self, with_search: bool) -> String {
        let mut names: Vec<String> = self.columns.iter().map(|(c, _)| (*c).to_owned()).collect();
        let mut exprs: Vec<String> = (1..=names.len()).map(|i| format!("c{i}")).collect();
        let mut arrays: Vec<String> =
            self.columns.iter().enumerate().map(|(i, (_, ty))| format!("${}::{}", i + 1, ty.pg_array())).collect();
        if with_search {
            names.push("search".into());
            let i = exprs.len() + 1;
            // As the append writes them (postgres/messages.rs).
            exprs.push(format!("array_to_tsvector(string_to_array(c{i}, ' '))"));
            arrays.push(format!("${i}::text[]"));
        }
        let aliases: Vec<String> = (1..=arrays.len()).map(|i| format!("c{i}")).collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS v ({})",
            self.name,
            names.join(", "),
            exprs.join(", "),
            arrays.join(", "),
            aliases.join(", ")
        )
    }
}

/// A column of a batch.
enum Column {
    Int(Vec<Option<i64>>),
    Small(Vec<Option<i16>>),
    Bool(Vec<Option<bool>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Column {
    fn new(ty: Ty) -> Self {
        match ty {
            Ty::Int => Self::Int(Vec::new()),
            Ty::Small => Self::Small(Vec::new()),
            Ty::Bool => Self::Bool(Vec::new()),
            Ty::Text => Self::Text(Vec::new()),
            Ty::Bytes => Self::Bytes(Vec::new()),
        }
    }

    /// Appends column `i` of `row`; returns about how many bytes it holds.
    fn push(&mut self, row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<usize> {
        Ok(match self {
            Self::Int(v) => {
                v.push(row.get(i)?);
                8
            }
            Self::Small(v) => {
                let wide: Option<i64> = row.get(i)?;
                let narrow = wide.map(i16::try_from).transpose().map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
                })?;
                v.push(narrow);
                2
            }
            Self::Bool(v) => {
                v.push(row.get::<_, Option<i64>>(i)?.map(|n| n != 0));
                1
            }
            Self::Text(v) => {
                let s: Option<String> = row.get(i)?;
                let n = s.as_ref().map_or(0, String::len);
                v.push(s);
                n + 8
            }
            Self::Bytes(v) => {
                let b: Option<Vec<u8>> = row.get(i)?;
                let n = b.as_ref().map_or(0, Vec::len);
                v.push(b);
                n + 8
            }
        })
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Int(v) => v,
            Self::Small(v) => v,
            Self::Bool(v) => v,
            Self::Text(v) => v,
            Self::Bytes(v) => v,
        }
    }
}

/// Per conversation, as SQLite has it: the seq counter, the highest
/// stored seq and the number of stored messages.
#[derive(Debug, PartialEq, Eq)]
struct ConversationCheck {
    id: String,
    max_seq: i64,
    stored_max: i64,
    stored: i64,
}

/// What the reader thread sends.
enum Read {
    Batch {
        table: usize,
        columns: Vec<Column>,
        rows: usize,
    },
    /// A table is read; `count` is SQLite's own count of its rows.
    Done {
        table: usize,
        count: u64,
    },
    /// The highest id SQLite gave in a table with an identity column.
    Identity {
        table: usize,
        last: i64,
    },
    Conversations(Vec<ConversationCheck>),
}

type Sent = Result<Read, MigrateError>;

/// `--from sqlite:PATH`: the database file, or a data directory holding
/// `ferry.db`.
pub fn sqlite_path(path: &Path) -> PathBuf {
    if path.is_dir() { path.join("ferry.db") } else { path.to_owned() }
}

/// Copies the SQLite store at `source` (a file, or a data directory) into
/// the empty PostgreSQL database at `target_url`; see the module docs.
pub async fn sqlite_to_postgres(
    source: &Path,
    target_url: &str,
    options: MigrateOptions,
) -> Result<Summary, MigrateError> {
    let started = Instant::now();
    let path = sqlite_path(source);
    let conn = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || open_source(&path))
            .await
            .map_err(|e| StoreError::Backend(format!("opening the source: {e}")))??
    };

    // The schema, exactly as a node starting on it would make it.
    let pg_options = PgOptions { max_connections: 1, search: options.search.clone(), ..PgOptions::default() };
    PgStore::connect(target_url, pg_options).await?.close();

    let config: tokio_postgres::Config =
        target_url.parse().map_err(|e| StoreError::Backend(format!("PostgreSQL URL: {e}")))?;
    let (mut client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(db_err)?;
    let connection = tokio::spawn(connection);
    let result = copy(&mut client, conn, &options).await;
    drop(client);
    let _ = connection.await;
    let (tables, conversations_checked) = result?;
    Ok(Summary { source: path, tables, conversations_checked, elapsed: started.elapsed() })
}

/// Opens the source and checks that it is a Ferry store of the schema this
/// build knows, not in use (see the module docs).
fn open_source(path: &Path) -> Result<Connection, MigrateError> {
    let refuse = |why: String| MigrateError::Source(format!("{}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("not a file".into()));
    }
    let mut header = [0u8; 16];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_ok_and(|()| &header == b"SQLite format 3\0");
    if !is_sqlite {
        return Err(refuse("not an SQLite database, so not a Ferry store".into()));
    }
    let sqlite = |e: rusqlite::Error| refuse(e.to_string());
    // Read-write flags only so the exclusive lock can be taken (SQLite
    // cannot take it on a read-only file handle); `query_only` refuses
    // every write, and no checkpoint runs at close.
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(sqlite)?;
    conn.pragma_update(None, "query_only", true).map_err(sqlite)?;
    conn.busy_timeout(Duration::from_secs(1)).map_err(sqlite)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(sqlite)?;
    let tables: Vec<String> = match conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<Vec<String>>>())
    {
        Ok(tables) => tables,
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => {
            return Err(refuse(
                "in use by another process (a ferry-server running on it?): stop the node, then migrate".into(),
            ));
        }
        Err(e) => return Err(sqlite(e)),
    };
    let ferry = ["users", "conversations", "messages", "message_log_meta"];
    if !ferry.iter().all(|t| tables.iter().any(|have| have == t)) {
        return Err(refuse("an SQLite database, but not a Ferry store".into()));
    }
    let version: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(sqlite)?;
    if version != SQLITE_SCHEMA {
        let hint = if version < SQLITE_SCHEMA {
            "start this version's ferry-server on it once (that upgrades the schema), stop it, then migrate"
        } else {
            "migrate with the ferry-server version that wrote it"
        };
        return Err(refuse(format!(
            "Ferry schema version {version}, but this ferry-server migrates version {SQLITE_SCHEMA}: {hint}"
        )));
    }
    Ok(conn)
}

/// The copy in one PostgreSQL transaction; returns the rows per table and
/// the conversations checked.
async fn copy(
    client: &mut tokio_postgres::Client,
    conn: Connection,
    options: &MigrateOptions,
) -> Result<(Vec<(&'static str, u64)>, u64), MigrateError> {
    let tx = client.transaction().await.map_err(db_err)?;
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    // Nodes started on the target wait until the commit.
    tx.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", "))).await.map_err(db_err)?;
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table.name);
        if tx.query_one(&sql, &[]).await.map_err(db_err)?.get::<_, bool>(0) {
            return Err(MigrateError::TargetNotEmpty(table.name));
        }
    }

    let (send, mut receive) = mpsc::channel::<Sent>(2);
    let search = options.search.clone();
    let reader = std::thread::Builder::new()
        .name("ferry-migrate-read".into())
        .spawn(move || {
            if let Err(e) = read_source(&conn, search.as_ref(), &send) {
                let _ = send.blocking_send(Err(e));
            }
        })
        .map_err(|e| StoreError::Backend(format!("starting the reader: {e}")))?;

    let inserts: Vec<_> = {
        let mut out = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let with_search = table.name == "messages" && options.search.is_some();
            out.push(tx.prepare(&table.insert(with_search)).await.map_err(db_err)?);
        }
        out
    };
    let mut copied = vec![0u64; TABLES.len()];
    let mut problems = Vec::new();
    let mut checked = 0u64;
    let mut last_progress = Instant::now();
    let check = tx
        .prepare(
            "SELECT w.id, c.max_seq, COALESCE(m.stored_max, 0), COALESCE(m.stored, 0)
               FROM unnest($1::text[]) WITH ORDINALITY AS w (id, i)
               LEFT JOIN conversations AS c ON c.id = w.id
               LEFT JOIN LATERAL (SELECT MAX(seq) AS stored_max, COUNT(*) AS stored
                                    FROM messages WHERE conversation_id = w.id) AS m ON true
              ORDER BY w.i",
        )
        .await
        .map_err(db_err)?;
    let result: Result<(), MigrateError> = async {
        while let Some(read) = receive.recv().await {
            match read? {
                Read::Batch { table, columns, rows } => {
                    let params: Vec<&(dyn ToSql + Sync)> = columns.iter().map(Column::as_sql).collect();
                    tx.execute(&inserts[table], &params).await.map_err(db_err)?;
                    copied[table] += rows as u64;
                    if last_progress.elapsed() >= PROGRESS_EVERY {
                        last_progress = Instant::now();
                        tracing::info!(table = TABLES[table].name, rows = copied[table], "copying");
                    }
                }
                Read::Done { table, count } => {
                    let t = &TABLES[table];
                    let sql = format!("SELECT COUNT(*) FROM {}", t.name);
                    let have = tx.query_one(&sql, &[]).await.map_err(db_err)?.get::<_, i64>(0) as u64;
                    if have != count || copied[table] != count {
                        problems.push(format!(
                            "{}: SQLite has {count} rows, {} were copied, PostgreSQL has {have}",
                            t.name, copied[table]
                        ));
                    }
                    tracing::info!(table = t.name, rows = have, "copied");
                }
                Read::Identity { table, last } => {
                    let t = TABLES[table].name;
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence('{t}', 'id'), GREATEST($1, (SELECT COALESCE(MAX(id), 0) FROM {t}), 1),
                                       GREATEST($1, (SELECT COALESCE(MAX(id), 0) FROM {t})) > 0)"
                    );
                    tx.query_one(&sql, &[&last]).await.map_err(db_err)?;
                }
                Read::Conversations(chunk) => {
                    let ids: Vec<&str> = chunk.iter().map(|c| c.id.as_str()).collect();
                    let rows = tx.query(&check, &[&ids]).await.map_err(db_err)?;
                    for (want, row) in chunk.iter().zip(&rows) {
                        checked += 1;
                        let have = ConversationCheck {
                            id: row.get(0),
                            max_seq: row.get::<_, Option<i64>>(1).unwrap_or(-1),
                            stored_max: row.get(2),
                            stored: row.get(3),
                        };
                        if have != *want && problems.len() < 20 {
                            problems.push(format!("conversation: SQLite {want:?}, PostgreSQL {have:?}"));
                        }
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    // The reader ends when the channel closes or after its last send.
    drop(receive);
    let _ = reader.join();
    result?;
    if !problems.is_empty() {
        return Err(MigrateError::Mismatch(problems.join("; ")));
    }

    // Search: what was copied is indexed (or, without an extractor, all
    // of it waits for the backfill, as a node with search off leaves it).
    if options.search.is_some() {
        tx.execute(
            "UPDATE search_backfill SET upto = x.m, done_to = x.m
               FROM (SELECT COALESCE(MAX(server_msg_id), 0) AS m FROM messages) AS x WHERE id = 1",
            &[],
        )
        .await
    } else {
        // `i64::MAX`: "index everything", as `postgres/search.rs` reads it.
        tx.execute("UPDATE search_backfill SET upto = $1, done_to = 0 WHERE id = 1", &[&i64::MAX]).await
    }
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok((TABLES.iter().map(|t| t.name).zip(copied).collect(), checked))
}

/// The reader thread: every table in batches, SQLite's counts, the
/// identity high-water marks and the per-conversation seqs, in one read
/// transaction (a consistent snapshot).
fn read_source(
    conn: &Connection,
    search: Option<&SearchExtractor>,
    send: &mpsc::Sender<Sent>,
) -> Result<(), MigrateError> {
    let err = |e: rusqlite::Error| MigrateError::Store(StoreError::Backend(format!("reading SQLite: {e}")));
    let send = |read: Read| {
        send.blocking_send(Ok(read)).map_err(|_| MigrateError::Store(StoreError::Backend("the copy stopped".into())))
    };
    conn.execute_batch("BEGIN").map_err(err)?;
    for (index, table) in TABLES.iter().enumerate() {
        let with_search = table.name == "messages" && search.is_some();
        let mut count = 0u64;
        for source in table.sources() {
            let mut stmt = conn.prepare(&source).map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            let new_batch = || {
                let mut columns: Vec<Column> = table.columns.iter().map(|(_, ty)| Column::new(*ty)).collect();
                if with_search {
                    columns.push(Column::new(Ty::Text));
                }
                columns
            };
            let (mut columns, mut n, mut bytes) = (new_batch(), 0usize, 0usize);
            while let Some(row) = rows.next().map_err(err)? {
                for (i, column) in columns.iter_mut().take(table.columns.len()).enumerate() {
                    bytes += column.push(row, i).map_err(err)?;
                }
                if let (Some(extract), Some(Column::Text(terms))) = (search.filter(|_| with_search), columns.last_mut())
                {
                    let flags: i64 = row.get(FLAGS).map_err(err)?;
                    let body = row.get_ref(BODY).map_err(err)?.as_blob().map_err(|e| err(e.into()))?;
                    terms.push(if flags == 0 { extract(body).map(|doc| search_terms(&doc)) } else { None });
                }
                n += 1;
                if n >= BATCH_ROWS || bytes >= BATCH_BYTES {
                    send(Read::Batch { table: index, columns: std::mem::replace(&mut columns, new_batch()), rows: n })?;
                    (n, bytes) = (0, 0);
                }
            }
            if n > 0 {
                send(Read::Batch { table: index, columns, rows: n })?;
            }
            let counted: i64 =
                conn.query_row(&format!("SELECT COUNT(*) FROM ({source})"), [], |row| row.get(0)).map_err(err)?;
            count += counted as u64;
        }
        send(Read::Done { table: index, count })?;
        if table.identity {
            let last: i64 = conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = ?1", [table.name], |row| {
                    row.get(0)
                })
                .map_err(err)?;
            send(Read::Identity { table: index, last })?;
        }
    }
    check_conversations(conn, &send)?;
    conn.execute_batch("COMMIT").map_err(err)
}

/// Streams SQLite's per-conversation seqs in id order (see
/// [`ConversationCheck`]).
fn check_conversations(
    conn: &Connection,
    send: &impl Fn(Read) -> Result<(), MigrateError>,
) -> Result<(), MigrateError> {
    let err = |e: rusqlite::Error| MigrateError::Store(StoreError::Backend(format!("reading SQLite: {e}")));
    // The unmerged log rows, a bounded number (two log tables at most).
    let mut logged: HashMap<String, (i64, i64)> = HashMap::new();
    for log in ["message_log_a", "message_log_b"] {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT conversation_id, MAX(seq), COUNT(*) FROM {log} AS l
                  WHERE NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.conversation_id = l.conversation_id AND m.seq = l.seq)
                  GROUP BY conversation_id"
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)))
            .map_err(err)?;
        for row in rows {
            let (id, max, n) = row.map_err(err)?;
            let entry = logged.entry(id).or_default();
            *entry = (entry.0.max(max), entry.1 + n);
        }
    }
    let sql = format!(
        "SELECT c.id, MAX(c.max_seq, COALESCE(l.max_seq, 0)),
                (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = c.id),
                (SELECT COUNT(*) FROM messages WHERE conversation_id = c.id)
           FROM conversations AS c LEFT JOIN ({LOGGED_TOTALS}) AS l ON l.conversation_id = c.id
          ORDER BY c.id"
    );
    let mut stmt = conn.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut chunk = Vec::with_capacity(CHECK_CHUNK);
    while let Some(row) = rows.next().map_err(err)? {
        let id: String = row.get(0).map_err(err)?;
        let (log_max, log_n) = logged.get(&id).copied().unwrap_or_default();
        let merged_max: i64 = row.get(2).map_err(err)?;
        chunk.push(ConversationCheck {
            max_seq: row.get(1).map_err(err)?,
            stored_max: merged_max.max(log_max),
            stored: row.get::<_, i64>(3).map_err(err)? + log_n,
            id,
        });
        if chunk.len() >= CHECK_CHUNK {
            send(Read::Conversations(std::mem::take(&mut chunk)))?;
        }
    }
    if !chunk.is_empty() {
        send(Read::Conversations(chunk))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlite_table_is_copied_or_accounted_for() {
        assert_eq!(SQLITE_SCHEMA, crate::sqlite::SCHEMA_VERSION, "a new SQLite schema step: update the migration");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ferry.db");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            crate::sqlite::SqliteStore::open(&path, crate::sqlite::SqliteOptions::default())
                .await
                .expect("open")
                .close()
                .await;
        });
        let conn = open_source(&path).expect("a fresh store is a source");
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'message_search_%' AND name NOT LIKE 'sqlite_%'")
            .expect("prepare");
        let tables: Vec<String> =
            stmt.query_map([], |row| row.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows");
        for table in &tables {
            assert!(
                TABLES.iter().any(|t| t.name == table) || NOT_COPIED.contains(&table.as_str()),
                "SQLite table {table} is neither copied nor accounted for"
            );
        }
        for table in TABLES {
            let stmt = conn.prepare(&table.sources()[0]).unwrap_or_else(|e| panic!("{}: {e}", table.name));
            assert_eq!(stmt.column_count(), table.columns.len(), "{}", table.name);
        }
    }

    #[test]
    fn inserts_unnest_one_array_per_column() {
        let users = &TABLES[0];
        assert_eq!(
            users.insert(false),
            "INSERT INTO users (id, created_at, disabled, username, display_name, password_hash, avatar, bio) \
             SELECT c1, c2, c3, c4, c5, c6, c7, c8 FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::text[], \
             $5::text[], $6::text[], $7::text[], $8::text[]) AS v (c1, c2, c3, c4, c5, c6, c7, c8)"
        );
        let messages = TABLES.iter().find(|t| t.name == "messages").expect("messages");
        assert!(messages.insert(true).contains("search) SELECT"));
        assert!(messages.insert(true).contains("array_to_tsvector(string_to_array(c9, ' '))"));
    }
}
