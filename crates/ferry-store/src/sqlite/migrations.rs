//! Schema migrations for the SQLite backend.
//!
//! The schema version lives in SQLite's `user_version` header field. Each
//! entry of [`MIGRATIONS`] moves the schema one version up; [`migrate`]
//! applies the missing ones at open, all in one transaction, so a crash
//! mid-migration leaves the previous version intact. Steps are append-only:
//! never edit a released step, add a new one.
//!
//! The SQL sticks to what PostgreSQL also understands where it costs nothing
//! (`ON CONFLICT`, `RETURNING`, plain types); `WITHOUT ROWID` and
//! `AUTOINCREMENT` are the SQLite-only parts.

use rusqlite::{Connection, TransactionBehavior};

use super::backend_err;
use crate::{Result, StoreError};

/// Migration steps; step `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, conversations, members, messages.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        username      TEXT    NOT NULL UNIQUE,
        display_name  TEXT    NOT NULL,
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE sessions (
        token_hash BLOB    NOT NULL PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users (id),
        device_id  TEXT    NOT NULL,
        platform   TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);

    -- One row per conversation that has messages; `max_seq` is the seq
    -- counter, bumped in the same transaction as the message insert.
    CREATE TABLE conversations (
        id        TEXT    NOT NULL PRIMARY KEY,
        kind      TEXT    NOT NULL,
        max_seq   INTEGER NOT NULL,
        last_time INTEGER NOT NULL
    );

    -- No foreign key to users: membership of a direct conversation is
    -- implied by its id and written by the append path.
    CREATE TABLE conversation_members (
        user_id         INTEGER NOT NULL,
        conversation_id TEXT    NOT NULL REFERENCES conversations (id),
        read_seq        INTEGER NOT NULL DEFAULT 0,
        joined_at       INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
    ) WITHOUT ROWID;

    -- Clustered on (conversation, seq): sync reads are one range scan.
    CREATE TABLE messages (
        conversation_id TEXT    NOT NULL REFERENCES conversations (id),
        seq             INTEGER NOT NULL,
        server_msg_id   INTEGER NOT NULL UNIQUE,
        sender_id       INTEGER NOT NULL,
        client_msg_id   TEXT    NOT NULL,
        server_time     INTEGER NOT NULL,
        kind            INTEGER NOT NULL,
        body            BLOB    NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    ) WITHOUT ROWID;
    -- Deduplication of client retries.
    CREATE UNIQUE INDEX messages_sender_client ON messages (sender_id, client_msg_id);
    "#,
];

/// The schema version this build writes.
pub(super) const LATEST: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`LATEST`]; a no-op when it is already there.
/// Fails if the file was written by a newer Ferry (unknown version).
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
    let current: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(backend_err)?;
    if current > LATEST {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build supports ({LATEST})"
        )));
    }
    for (version, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tracing::info!(from = version, to = version + 1, "migrating SQLite schema");
        tx.execute_batch(step).map_err(backend_err)?;
    }
    if current < LATEST {
        tx.pragma_update(None, "user_version", LATEST).map_err(backend_err)?;
    }
    tx.commit().map_err(backend_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version")
    }

    #[test]
    fn migrate_is_idempotent() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("first");
        assert_eq!(version(&conn), LATEST);
        migrate(&mut conn).expect("second");
        assert_eq!(version(&conn), LATEST);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", LATEST + 1).expect("set");
        assert!(matches!(migrate(&mut conn), Err(StoreError::Backend(_))));
    }
}
