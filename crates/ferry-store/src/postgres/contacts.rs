//! [`ContactStore`] for PostgreSQL: `friend_requests`, `friends`, `blocks`
//! and the per-user counters in `contact_versions`.
//!
//! Each write runs SERIALIZABLE (two users asking each other at once end up
//! friends, as on SQLite's single writer), bumps the counter of every user
//! whose view it changes once, and stamps every row it changes for that
//! user with the new value; a request carries one stamp per side.
//! [`ContactStore::contact_changes`] reads the counter and the rows in one
//! snapshot, so the version it returns covers exactly the rows it returns.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use ferry_core::UserId;
use tokio_postgres::Row;

use super::{PgStore, Try, cursor, map_rows, serializable, snapshot, text_enum_col, u64_col};
use crate::columns::{BLOCK_COLUMNS, FRIEND_COLUMNS, REQUEST_COLUMNS};
use crate::{Block, ContactChanges, ContactStore, Friend, FriendRequest, RequestStatus, Result, StoreError};

#[async_trait]
impl ContactStore for PgStore {
    async fn upsert_friend_request(&self, from: UserId, to: UserId, greeting: &str, now: i64) -> Result<FriendRequest> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if live_friend(&tx, from, to).await? {
                return Err(StoreError::Conflict(format!("users {from} and {to} are already friends")).into());
            }
            // They already asked us: asking back accepts.
            if let Some(theirs) = pending_request(&tx, to, from).await? {
                let accepted = resolve_request(&tx, theirs.id, true, now).await?;
                tx.commit().await?;
                return Ok(accepted);
            }
            let (from_version, to_version) = bump_pair(&tx, from, to).await?;
            let row = match pending_request(&tx, from, to).await? {
                Some(request) => {
                    tx.query_one(
                        &format!(
                            "UPDATE friend_requests
                                SET greeting = $2, updated_at = $3, from_version = $4, to_version = $5
                              WHERE id = $1 RETURNING {REQUEST_COLUMNS}"
                        ),
                        &[&request.id, &greeting, &now, &from_version, &to_version],
                    )
                    .await?
                }
                None => {
                    tx.query_one(
                        &format!(
                            "INSERT INTO friend_requests
                                 (from_id, to_id, greeting, status, created_at, updated_at, from_version, to_version)
                             VALUES ($1, $2, $3, 'pending', $4, $4, $5, $6) RETURNING {REQUEST_COLUMNS}"
                        ),
                        &[&from, &to, &greeting, &now, &from_version, &to_version],
                    )
                    .await?
                }
            };
            let request = request_row(&row)?;
            tx.commit().await?;
            Ok(request)
        })
        .await
    }

    async fn friend_request(&self, id: i64) -> Result<Option<FriendRequest>> {
        self.read(|client| async move { request_by_id(&client, id).await }).await
    }

    async fn pending_friend_request(&self, from: UserId, to: UserId) -> Result<Option<FriendRequest>> {
        self.read(|client| async move { pending_request(&client, from, to).await }).await
    }

    async fn resolve_friend_request(&self, id: i64, accept: bool, now: i64) -> Result<FriendRequest> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let resolved = resolve_request(&tx, id, accept, now).await?;
            tx.commit().await?;
            Ok(resolved)
        })
        .await
    }

    async fn friend_requests_of(&self, user: UserId) -> Result<Vec<FriendRequest>> {
        self.read(|client| async move {
            let rows = client
                .query(
                    &format!(
                        "SELECT {REQUEST_COLUMNS} FROM friend_requests WHERE from_id = $1 OR to_id = $1
                          ORDER BY updated_at DESC, id DESC"
                    ),
                    &[&user],
                )
                .await?;
            map_rows(rows, request_row)
        })
        .await
    }

    async fn friends_of(&self, user: UserId) -> Result<Vec<Friend>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {FRIEND_COLUMNS} FROM friends WHERE owner_id = $1 AND NOT deleted ORDER BY friend_id"
                ))
                .await?;
            map_rows(client.query(&stmt, &[&user]).await?, friend_row)
        })
        .await
    }

    async fn is_friend(&self, owner: UserId, other: UserId) -> Result<bool> {
        self.read(|client| async move { live_friend(&client, owner, other).await }).await
    }

    async fn delete_friend(&self, a: UserId, b: UserId, now: i64) -> Result<bool> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let mut deleted = false;
            // A note-to-self friendship has one row; do not visit it twice.
            let sides: &[(UserId, UserId)] = if a == b { &[(a, b)] } else { &[(a, b), (b, a)] };
            for &(owner, friend) in sides {
                if live_friend(&tx, owner, friend).await? {
                    let version = bump(&tx, owner).await?;
                    tx.execute(
                        "UPDATE friends SET deleted = true, version = $3, updated_at = $4
                          WHERE owner_id = $1 AND friend_id = $2",
                        &[&owner, &friend, &version, &now],
                    )
                    .await?;
                    deleted = true;
                }
            }
            tx.commit().await?;
            Ok(deleted)
        })
        .await
    }

    async fn set_remark(&self, owner: UserId, friend: UserId, remark: &str) -> Result<Friend> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if !live_friend(&tx, owner, friend).await? {
                return Err(StoreError::NotFound(format!("user {friend} is not a friend of {owner}")).into());
            }
            let version = bump(&tx, owner).await?;
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE friends SET remark = $3, version = $4
                          WHERE owner_id = $1 AND friend_id = $2 RETURNING {FRIEND_COLUMNS}"
                    ),
                    &[&owner, &friend, &remark, &version],
                )
                .await?;
            let friend = friend_row(&row)?;
            tx.commit().await?;
            Ok(friend)
        })
        .await
    }

    async fn block(&self, owner: UserId, target: UserId, now: i64) -> Result<Block> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if let Some(existing) = block_of(&tx, owner, target).await?.filter(|b| !b.deleted) {
                // Already blocked: nothing changes, so no version bump.
                return Ok(existing);
            }
            let version = bump(&tx, owner).await?;
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO blocks (owner_id, blocked_id, created_at, updated_at, version, deleted)
                         VALUES ($1, $2, $3, $3, $4, false)
                         ON CONFLICT (owner_id, blocked_id) DO UPDATE
                         SET created_at = excluded.created_at, updated_at = excluded.updated_at,
                             version = excluded.version, deleted = false
                         RETURNING {BLOCK_COLUMNS}"
                    ),
                    &[&owner, &target, &now, &version],
                )
                .await?;
            let block = block_row(&row)?;
            tx.commit().await?;
            Ok(block)
        })
        .await
    }

    async fn unblock(&self, owner: UserId, target: UserId, now: i64) -> Result<bool> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if block_of(&tx, owner, target).await?.is_none_or(|b| b.deleted) {
                return Ok(false);
            }
            let version = bump(&tx, owner).await?;
            tx.execute(
                "UPDATE blocks SET deleted = true, version = $3, updated_at = $4 WHERE owner_id = $1 AND blocked_id = $2",
                &[&owner, &target, &version, &now],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool> {
        self.read(|client| async move { Ok(block_of(&client, owner, target).await?.is_some_and(|b| !b.deleted)) }).await
    }

    async fn blocks_of(&self, owner: UserId) -> Result<Vec<Block>> {
        self.read(|client| async move {
            let rows = client
                .query(
                    &format!(
                        "SELECT {BLOCK_COLUMNS} FROM blocks WHERE owner_id = $1 AND NOT deleted ORDER BY blocked_id"
                    ),
                    &[&owner],
                )
                .await?;
            map_rows(rows, block_row)
        })
        .await
    }

    async fn contact_changes(&self, user: UserId, since: u64) -> Result<ContactChanges> {
        let since = cursor(since);
        self.read(|mut client| async move {
            // One snapshot: the version and the rows agree.
            let tx = snapshot(&mut client).await?;
            let version = tx
                .query_opt("SELECT version FROM contact_versions WHERE user_id = $1", &[&user])
                .await?
                .map(|r| u64_col(&r, 0))
                .transpose()?
                .unwrap_or(0);
            let friends = tx
                .query(
                    &format!(
                        "SELECT {FRIEND_COLUMNS} FROM friends WHERE owner_id = $1 AND version > $2
                          ORDER BY version, friend_id"
                    ),
                    &[&user, &since],
                )
                .await?;
            let requests = tx
                .query(
                    &format!(
                        "SELECT {REQUEST_COLUMNS} FROM friend_requests
                          WHERE (from_id = $1 AND from_version > $2) OR (to_id = $1 AND to_version > $2)
                          ORDER BY id"
                    ),
                    &[&user, &since],
                )
                .await?;
            let blocks = tx
                .query(
                    &format!(
                        "SELECT {BLOCK_COLUMNS} FROM blocks WHERE owner_id = $1 AND version > $2
                          ORDER BY version, blocked_id"
                    ),
                    &[&user, &since],
                )
                .await?;
            Ok(ContactChanges {
                version,
                friends: map_rows(friends, friend_row)?,
                requests: map_rows(requests, request_row)?,
                blocks: map_rows(blocks, block_row)?,
            })
        })
        .await
    }
}

/// Accepts or declines a pending request inside `tx` (see
/// [`ContactStore::resolve_friend_request`]).
async fn resolve_request(tx: &impl GenericClient, id: i64, accept: bool, now: i64) -> Try<FriendRequest> {
    let request = request_by_id(tx, id)
        .await?
        .filter(|r| r.status == RequestStatus::Pending)
        .ok_or_else(|| StoreError::NotFound(format!("pending friend request {id}")))?;
    let (from, to) = (request.from, request.to);
    let (from_version, to_version) = bump_pair(tx, from, to).await?;
    let status = if accept { RequestStatus::Accepted } else { RequestStatus::Declined };
    let resolve = tx
        .prepare_cached(&format!(
            "UPDATE friend_requests SET status = $2, updated_at = $3, from_version = $4, to_version = $5
              WHERE id = $1 RETURNING {REQUEST_COLUMNS}"
        ))
        .await?;
    let resolved =
        request_row(&tx.query_one(&resolve, &[&id, &status.as_str(), &now, &from_version, &to_version]).await?)?;
    if accept {
        // Accepting settles the question in both directions.
        if let Some(reverse) = pending_request(tx, to, from).await? {
            let accepted = RequestStatus::Accepted.as_str();
            tx.query_one(&resolve, &[&reverse.id, &accepted, &now, &to_version, &from_version]).await?;
        }
        // Revives a tombstone with a fresh remark; a live row (there
        // should be none) is left as it is.
        let befriend = tx
            .prepare_cached(
                "INSERT INTO friends (owner_id, friend_id, remark, created_at, updated_at, version, deleted)
                 VALUES ($1, $2, '', $3, $3, $4, false)
                 ON CONFLICT (owner_id, friend_id) DO UPDATE
                 SET remark = '', created_at = excluded.created_at, updated_at = excluded.updated_at,
                     version = excluded.version, deleted = false
                 WHERE friends.deleted",
            )
            .await?;
        tx.execute(&befriend, &[&from, &to, &now, &from_version]).await?;
        tx.execute(&befriend, &[&to, &from, &now, &to_version]).await?;
    }
    Ok(resolved)
}

/// Increments `user`'s contacts version and returns the new value.
async fn bump(tx: &impl GenericClient, user: UserId) -> Try<i64> {
    super::bump_version(tx, "contact_versions", user).await
}

/// Bumps both users' versions once (once in all for a request to oneself).
async fn bump_pair(tx: &impl GenericClient, a: UserId, b: UserId) -> Try<(i64, i64)> {
    let va = bump(tx, a).await?;
    let vb = if a == b { va } else { bump(tx, b).await? };
    Ok((va, vb))
}

/// Whether `owner` has a live friend row for `friend`.
async fn live_friend(tx: &impl GenericClient, owner: UserId, friend: UserId) -> Try<bool> {
    let stmt =
        tx.prepare_cached("SELECT 1 FROM friends WHERE owner_id = $1 AND friend_id = $2 AND NOT deleted").await?;
    Ok(tx.query_opt(&stmt, &[&owner, &friend]).await?.is_some())
}

async fn request_by_id(tx: &impl GenericClient, id: i64) -> Try<Option<FriendRequest>> {
    let row = tx.query_opt(&format!("SELECT {REQUEST_COLUMNS} FROM friend_requests WHERE id = $1"), &[&id]).await?;
    row.as_ref().map(request_row).transpose()
}

async fn pending_request(tx: &impl GenericClient, from: UserId, to: UserId) -> Try<Option<FriendRequest>> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {REQUEST_COLUMNS} FROM friend_requests WHERE from_id = $1 AND to_id = $2 AND status = 'pending'"
            ),
            &[&from, &to],
        )
        .await?;
    row.as_ref().map(request_row).transpose()
}

/// The block row (live or tombstone) of `owner` for `target`.
async fn block_of(tx: &impl GenericClient, owner: UserId, target: UserId) -> Try<Option<Block>> {
    let stmt = tx
        .prepare_cached(&format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE owner_id = $1 AND blocked_id = $2"))
        .await?;
    tx.query_opt(&stmt, &[&owner, &target]).await?.as_ref().map(block_row).transpose()
}

/// Maps a row selected with [`REQUEST_COLUMNS`].
fn request_row(row: &Row) -> Try<FriendRequest> {
    Ok(FriendRequest {
        id: row.try_get(0)?,
        from: row.try_get(1)?,
        to: row.try_get(2)?,
        greeting: row.try_get(3)?,
        status: text_enum_col(row, 4, RequestStatus::parse)?,
        created_at: row.try_get(5)?,
        updated_at: row.try_get(6)?,
    })
}

/// Maps a row selected with [`FRIEND_COLUMNS`].
fn friend_row(row: &Row) -> Try<Friend> {
    Ok(Friend {
        owner: row.try_get(0)?,
        friend: row.try_get(1)?,
        remark: row.try_get(2)?,
        created_at: row.try_get(3)?,
        version: u64_col(row, 4)?,
        deleted: row.try_get(5)?,
    })
}

/// Maps a row selected with [`BLOCK_COLUMNS`].
fn block_row(row: &Row) -> Try<Block> {
    Ok(Block {
        owner: row.try_get(0)?,
        blocked: row.try_get(1)?,
        created_at: row.try_get(2)?,
        version: u64_col(row, 3)?,
        deleted: row.try_get(4)?,
    })
}
