//! [`UserStore`] for SQLite: the `users` table.

use async_trait::async_trait;
use ferry_core::UserId;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::{SqliteStore, backend_err};
use crate::columns::USER_COLUMNS;
use crate::{NewUser, ProfilePatch, Result, StoreError, User, UserStore};

/// Ids per `IN (...)` query; well below SQLite's bound-parameter limit.
const IDS_PER_QUERY: usize = 256;

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        self.write(move |conn| {
            let id: UserId = conn
                .prepare_cached(
                    "INSERT INTO users (username, display_name, password_hash, created_at, disabled)
                     VALUES (?1, ?2, ?3, ?4, 0) RETURNING id",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![user.username, user.display_name, user.password_hash, user.created_at],
                        |row| row.get(0),
                    )
                })
                .map_err(backend_err)?;
            Ok(User {
                id,
                username: user.username,
                display_name: user.display_name,
                password_hash: user.password_hash,
                created_at: user.created_at,
                disabled: false,
                avatar: String::new(),
                bio: String::new(),
            })
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(backend_err)).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                .and_then(|mut stmt| stmt.query_row([id], user_row).optional())
                .map_err(backend_err)
        })
        .await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let username = username.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"))
                .and_then(|mut stmt| stmt.query_row([username], user_row).optional())
                .map_err(backend_err)
        })
        .await
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        self.read(move |conn| {
            let mut users = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let placeholders = vec!["?"; chunk.len()].join(", ");
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id IN ({placeholders})");
                let mut stmt = conn.prepare(&sql).map_err(backend_err)?;
                let rows = stmt.query_map(params_from_iter(chunk), user_row).map_err(backend_err)?;
                for user in rows {
                    users.push(user.map_err(backend_err)?);
                }
            }
            Ok(users)
        })
        .await
    }

    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<User> {
        self.write(move |conn| {
            // NULL leaves a column as it is: one statement for every patch.
            conn.prepare_cached(&format!(
                "UPDATE users SET display_name = COALESCE(?2, display_name),
                                  avatar = COALESCE(?3, avatar),
                                  bio = COALESCE(?4, bio)
                  WHERE id = ?1 RETURNING {USER_COLUMNS}"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![id, patch.display_name, patch.avatar, patch.bio], user_row).optional()
            })
            .map_err(backend_err)?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
        })
        .await
    }
}

/// Maps a row selected with [`USER_COLUMNS`].
fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        password_hash: row.get(3)?,
        created_at: row.get(4)?,
        disabled: row.get(5)?,
        avatar: row.get(6)?,
        bio: row.get(7)?,
    })
}
