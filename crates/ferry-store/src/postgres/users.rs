//! [`UserStore`] for PostgreSQL: the `users` table.

use async_trait::async_trait;
use ferry_core::UserId;
use tokio_postgres::Row;

use super::{PgStore, Try, map_rows, serializable};
use crate::columns::USER_COLUMNS;
use crate::{NewUser, ProfilePatch, Result, StoreError, User, UserStore};

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, user: NewUser) -> Result<User> {
        let user = &user;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let row = tx
                .query_one(
                    "INSERT INTO users (username, display_name, password_hash, created_at, disabled)
                     VALUES ($1, $2, $3, $4, false) RETURNING id",
                    &[&user.username, &user.display_name, &user.password_hash, &user.created_at],
                )
                .await?;
            tx.commit().await?;
            Ok(User {
                id: row.try_get(0)?,
                username: user.username.clone(),
                display_name: user.display_name.clone(),
                password_hash: user.password_hash.clone(),
                created_at: user.created_at,
                disabled: false,
                avatar: String::new(),
                bio: String::new(),
            })
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        // A pooled connection (opened anew if the pooled ones died) that
        // answers a query: what every request needs.
        self.read(|client| async move {
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.read(|client| async move {
            let stmt = client.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).await?;
            client.query_opt(&stmt, &[&id]).await?.as_ref().map(user_row).transpose()
        })
        .await
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        self.read(|client| async move {
            let stmt = client.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1")).await?;
            client.query_opt(&stmt, &[&username]).await?.as_ref().map(user_row).transpose()
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
        self.read(|client| async move {
            let stmt = client.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ANY($1)")).await?;
            map_rows(client.query(&stmt, &[&ids]).await?, user_row)
        })
        .await
    }

    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<User> {
        let patch = &patch;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            // NULL leaves a column as it is: one statement for every patch.
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE users SET display_name = COALESCE($2, display_name),
                                          avatar = COALESCE($3, avatar),
                                          bio = COALESCE($4, bio)
                          WHERE id = $1 RETURNING {USER_COLUMNS}"
                    ),
                    &[&id, &patch.display_name, &patch.avatar, &patch.bio],
                )
                .await?;
            tx.commit().await?;
            row.as_ref().map(user_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("user {id}")).into())
        })
        .await
    }
}

/// Maps a row selected with [`USER_COLUMNS`].
fn user_row(row: &Row) -> Try<User> {
    Ok(User {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        display_name: row.try_get(2)?,
        password_hash: row.try_get(3)?,
        created_at: row.try_get(4)?,
        disabled: row.try_get(5)?,
        avatar: row.try_get(6)?,
        bio: row.try_get(7)?,
    })
}
