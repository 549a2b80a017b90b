//! [`SessionStore`] for PostgreSQL: the `sessions` table.

use async_trait::async_trait;
use ferry_core::UserId;
use tokio_postgres::Row;

use super::{PgStore, Try, map_rows, serializable};
use crate::columns::SESSION_COLUMNS;
use crate::{Result, Session, SessionStore};

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(&self, session: Session) -> Result<()> {
        let s = &session;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, device_id, platform, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&s.token_hash, &s.user_id, &s.device_id, &s.platform, &s.created_at],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>> {
        self.read(|client| async move {
            let stmt =
                client.prepare_cached(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1")).await?;
            client.query_opt(&stmt, &[&token_hash]).await?.as_ref().map(session_row).transpose()
        })
        .await
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at, token_hash"
                ))
                .await?;
            map_rows(client.query(&stmt, &[&user]).await?, session_row)
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let deleted = tx.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash]).await?;
            tx.commit().await?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn delete_device_sessions(&self, user: UserId, device_id: &str) -> Result<Vec<Session>> {
        let sql = format!("DELETE FROM sessions WHERE user_id = $1 AND device_id = $2 RETURNING {SESSION_COLUMNS}");
        self.delete_returning(&sql, user, device_id).await
    }

    async fn delete_platform_sessions(&self, user: UserId, platform: &str) -> Result<Vec<Session>> {
        let sql = format!("DELETE FROM sessions WHERE user_id = $1 AND platform = $2 RETURNING {SESSION_COLUMNS}");
        self.delete_returning(&sql, user, platform).await
    }

    async fn sessions_after(&self, after: &[u8], limit: usize) -> Result<Vec<Session>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash > $1 ORDER BY token_hash LIMIT $2"
                ))
                .await?;
            map_rows(client.query(&stmt, &[&after, &limit]).await?, session_row)
        })
        .await
    }
}

impl PgStore {
    /// Runs a `DELETE ... RETURNING` of sessions of `user` matching `key`.
    async fn delete_returning(&self, sql: &str, user: UserId, key: &str) -> Result<Vec<Session>> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let rows = tx.query(sql, &[&user, &key]).await?;
            tx.commit().await?;
            map_rows(rows, session_row)
        })
        .await
    }
}

/// Maps a row selected with [`SESSION_COLUMNS`].
fn session_row(row: &Row) -> Try<Session> {
    Ok(Session {
        token_hash: row.try_get(0)?,
        user_id: row.try_get(1)?,
        device_id: row.try_get(2)?,
        platform: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}
