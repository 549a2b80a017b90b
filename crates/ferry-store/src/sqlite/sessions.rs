//! [`SessionStore`] for SQLite: the `sessions` table.

use async_trait::async_trait;
use ferry_core::UserId;
use rusqlite::{Connection, OptionalExtension, Params, Row, params};

use super::{SqliteStore, backend_err};
use crate::columns::SESSION_COLUMNS;
use crate::{Result, Session, SessionStore};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: Session) -> Result<()> {
        self.write_grouped(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, device_id, platform, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    session.token_hash,
                    session.user_id,
                    session.device_id,
                    session.platform,
                    session.created_at
                ])
            })
            .map_err(backend_err)?;
            Ok(())
        })
        .await
    }

    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        let token_hash = token_hash.to_vec();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1"))
                .and_then(|mut stmt| stmt.query_row([token_hash], session_row).optional())
                .map_err(backend_err)
        })
        .await
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>> {
        self.read(move |conn| {
            query_sessions(
                conn,
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ?1 ORDER BY created_at, token_hash"),
                [user],
            )
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool> {
        let token_hash = token_hash.to_vec();
        self.write_grouped(move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")
                .and_then(|mut stmt| stmt.execute([token_hash]))
                .map_err(backend_err)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn delete_device_sessions(&self, user: UserId, device_id: &str) -> Result<Vec<Session>> {
        let device_id = device_id.to_owned();
        self.write_grouped(move |conn| {
            query_sessions(
                conn,
                &format!("DELETE FROM sessions WHERE user_id = ?1 AND device_id = ?2 RETURNING {SESSION_COLUMNS}"),
                params![user, device_id],
            )
        })
        .await
    }

    async fn sessions_after(&self, after: &[u8], limit: usize) -> Result<Vec<Session>> {
        let after = after.to_vec();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            query_sessions(
                conn,
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash > ?1 ORDER BY token_hash LIMIT ?2"),
                params![after, limit],
            )
        })
        .await
    }

    async fn delete_platform_sessions(&self, user: UserId, platform: &str) -> Result<Vec<Session>> {
        let platform = platform.to_owned();
        self.write_grouped(move |conn| {
            query_sessions(
                conn,
                &format!("DELETE FROM sessions WHERE user_id = ?1 AND platform = ?2 RETURNING {SESSION_COLUMNS}"),
                params![user, platform],
            )
        })
        .await
    }
}

/// Runs `sql` (a SELECT, or a DELETE ... RETURNING, which must be stepped to
/// the end to delete every row) and collects the sessions it yields.
fn query_sessions(conn: &Connection, sql: &str, params: impl Params) -> Result<Vec<Session>> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend_err)?;
    let rows = stmt.query_map(params, session_row).map_err(backend_err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
}

/// Maps a row selected with [`SESSION_COLUMNS`].
fn session_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        device_id: row.get(2)?,
        platform: row.get(3)?,
        created_at: row.get(4)?,
    })
}
