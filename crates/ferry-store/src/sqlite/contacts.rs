//! [`ContactStore`] for SQLite: `friend_requests`, `friends`, `blocks` and
//! the per-user counters in `contact_versions`.
//!
//! Each write bumps the counter of every user whose view it changes once,
//! in its own transaction, and stamps every row it changes for that user
//! with the new value; a request carries one stamp per side
//! (`from_version`, `to_version`). [`ContactStore::contact_changes`] reads
//! the counter and the rows in one read transaction, so the version it
//! returns covers exactly the rows it returns.

use async_trait::async_trait;
use ferry_core::UserId;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, backend_err, cursor, text_enum_col};
use crate::columns::{BLOCK_COLUMNS, FRIEND_COLUMNS, REQUEST_COLUMNS};
use crate::{Block, ContactChanges, ContactStore, Friend, FriendRequest, RequestStatus, Result, StoreError};

#[async_trait]
impl ContactStore for SqliteStore {
    async fn upsert_friend_request(&self, from: UserId, to: UserId, greeting: &str, now: i64) -> Result<FriendRequest> {
        let greeting = greeting.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if live_friend(&tx, from, to)? {
                return Err(StoreError::Conflict(format!("users {from} and {to} are already friends")));
            }
            // They already asked us: asking back accepts (atomically, so two
            // users asking each other at once still end up friends).
            if let Some(theirs) = pending_request(&tx, to, from)? {
                let accepted = resolve_request(&tx, theirs.id, true, now)?;
                tx.commit().map_err(backend_err)?;
                return Ok(accepted);
            }
            let (from_version, to_version) = bump_pair(&tx, from, to)?;
            let existing = pending_request(&tx, from, to)?;
            let request = match existing {
                Some(request) => tx
                    .prepare_cached(&format!(
                        "UPDATE friend_requests
                            SET greeting = ?2, updated_at = ?3, from_version = ?4, to_version = ?5
                          WHERE id = ?1 RETURNING {REQUEST_COLUMNS}"
                    ))
                    .and_then(|mut stmt| {
                        stmt.query_row(params![request.id, greeting, now, from_version, to_version], request_row)
                    }),
                None => tx
                    .prepare_cached(&format!(
                        "INSERT INTO friend_requests
                             (from_id, to_id, greeting, status, created_at, updated_at, from_version, to_version)
                         VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?5, ?6) RETURNING {REQUEST_COLUMNS}"
                    ))
                    .and_then(|mut stmt| {
                        stmt.query_row(params![from, to, greeting, now, from_version, to_version], request_row)
                    }),
            }
            .map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            Ok(request)
        })
        .await
    }

    async fn friend_request(&self, id: i64) -> Result<Option<FriendRequest>> {
        self.read(move |conn| request_by_id(conn, id)).await
    }

    async fn pending_friend_request(&self, from: UserId, to: UserId) -> Result<Option<FriendRequest>> {
        self.read(move |conn| pending_request(conn, from, to)).await
    }

    async fn resolve_friend_request(&self, id: i64, accept: bool, now: i64) -> Result<FriendRequest> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            let resolved = resolve_request(&tx, id, accept, now)?;
            tx.commit().map_err(backend_err)?;
            Ok(resolved)
        })
        .await
    }

    async fn friend_requests_of(&self, user: UserId) -> Result<Vec<FriendRequest>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {REQUEST_COLUMNS} FROM friend_requests
                      WHERE from_id = ?1 OR to_id = ?1
                      ORDER BY updated_at DESC, id DESC"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map([user], request_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn friends_of(&self, user: UserId) -> Result<Vec<Friend>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {FRIEND_COLUMNS} FROM friends WHERE owner_id = ?1 AND deleted = 0 ORDER BY friend_id"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map([user], friend_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn is_friend(&self, owner: UserId, other: UserId) -> Result<bool> {
        self.read(move |conn| live_friend(conn, owner, other)).await
    }

    async fn delete_friend(&self, a: UserId, b: UserId, now: i64) -> Result<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            let mut deleted = false;
            // A note-to-self friendship has one row; do not visit it twice.
            let sides: &[(UserId, UserId)] = if a == b { &[(a, b)] } else { &[(a, b), (b, a)] };
            for &(owner, friend) in sides {
                if live_friend(&tx, owner, friend)? {
                    let version = bump(&tx, owner)?;
                    tx.prepare_cached(
                        "UPDATE friends SET deleted = 1, version = ?3, updated_at = ?4
                          WHERE owner_id = ?1 AND friend_id = ?2",
                    )
                    .and_then(|mut stmt| stmt.execute(params![owner, friend, version, now]))
                    .map_err(backend_err)?;
                    deleted = true;
                }
            }
            tx.commit().map_err(backend_err)?;
            Ok(deleted)
        })
        .await
    }

    async fn set_remark(&self, owner: UserId, friend: UserId, remark: &str) -> Result<Friend> {
        let remark = remark.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if !live_friend(&tx, owner, friend)? {
                return Err(StoreError::NotFound(format!("user {friend} is not a friend of {owner}")));
            }
            let version = bump(&tx, owner)?;
            let row = tx
                .prepare_cached(&format!(
                    "UPDATE friends SET remark = ?3, version = ?4
                      WHERE owner_id = ?1 AND friend_id = ?2 RETURNING {FRIEND_COLUMNS}"
                ))
                .and_then(|mut stmt| stmt.query_row(params![owner, friend, remark, version], friend_row))
                .map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            Ok(row)
        })
        .await
    }

    async fn block(&self, owner: UserId, target: UserId, now: i64) -> Result<Block> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if let Some(existing) = block_of(&tx, owner, target)?.filter(|b| !b.deleted) {
                // Already blocked: nothing changes, so no version bump.
                return Ok(existing);
            }
            let version = bump(&tx, owner)?;
            let row = tx
                .prepare_cached(&format!(
                    "INSERT INTO blocks (owner_id, blocked_id, created_at, updated_at, version, deleted)
                     VALUES (?1, ?2, ?3, ?3, ?4, 0)
                     ON CONFLICT (owner_id, blocked_id) DO UPDATE
                     SET created_at = excluded.created_at, updated_at = excluded.updated_at,
                         version = excluded.version, deleted = 0
                     RETURNING {BLOCK_COLUMNS}"
                ))
                .and_then(|mut stmt| stmt.query_row(params![owner, target, now, version], block_row))
                .map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            Ok(row)
        })
        .await
    }

    async fn unblock(&self, owner: UserId, target: UserId, now: i64) -> Result<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if block_of(&tx, owner, target)?.is_none_or(|b| b.deleted) {
                return Ok(false);
            }
            let version = bump(&tx, owner)?;
            tx.prepare_cached(
                "UPDATE blocks SET deleted = 1, version = ?3, updated_at = ?4 WHERE owner_id = ?1 AND blocked_id = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![owner, target, version, now]))
            .map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            Ok(true)
        })
        .await
    }

    async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool> {
        self.read(move |conn| Ok(block_of(conn, owner, target)?.is_some_and(|b| !b.deleted))).await
    }

    async fn blocks_of(&self, owner: UserId) -> Result<Vec<Block>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {BLOCK_COLUMNS} FROM blocks WHERE owner_id = ?1 AND deleted = 0 ORDER BY blocked_id"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map([owner], block_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn contact_changes(&self, user: UserId, since: u64) -> Result<ContactChanges> {
        let since = cursor(since);
        self.read(move |conn| {
            // One snapshot: the version and the rows agree.
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let version: i64 = tx
                .prepare_cached("SELECT version FROM contact_versions WHERE user_id = ?1")
                .and_then(|mut stmt| stmt.query_row([user], |row| row.get(0)).optional())
                .map_err(backend_err)?
                .unwrap_or(0);
            let friends = collect(
                &tx,
                &format!(
                    "SELECT {FRIEND_COLUMNS} FROM friends WHERE owner_id = ?1 AND version > ?2 ORDER BY version, friend_id"
                ),
                params![user, since],
                friend_row,
            )?;
            let requests = collect(
                &tx,
                &format!(
                    "SELECT {REQUEST_COLUMNS} FROM friend_requests
                      WHERE (from_id = ?1 AND from_version > ?2) OR (to_id = ?1 AND to_version > ?2)
                      ORDER BY id"
                ),
                params![user, since],
                request_row,
            )?;
            let blocks = collect(
                &tx,
                &format!(
                    "SELECT {BLOCK_COLUMNS} FROM blocks WHERE owner_id = ?1 AND version > ?2 ORDER BY version, blocked_id"
                ),
                params![user, since],
                block_row,
            )?;
            tx.finish().map_err(backend_err)?;
            Ok(ContactChanges { version: version as u64, friends, requests, blocks })
        })
        .await
    }
}

/// Increments `user`'s contacts version and returns the new value.
/// Accepts or declines a pending request inside `tx` (see
/// [`ContactStore::resolve_friend_request`]).
fn resolve_request(tx: &Connection, id: i64, accept: bool, now: i64) -> Result<FriendRequest> {
    let request = request_by_id(tx, id)?
        .filter(|r| r.status == RequestStatus::Pending)
        .ok_or_else(|| StoreError::NotFound(format!("pending friend request {id}")))?;
    let (from, to) = (request.from, request.to);
    let (from_version, to_version) = bump_pair(tx, from, to)?;
    let status = if accept { RequestStatus::Accepted } else { RequestStatus::Declined };
    let mut resolve = tx
        .prepare_cached(&format!(
            "UPDATE friend_requests SET status = ?2, updated_at = ?3, from_version = ?4, to_version = ?5
              WHERE id = ?1 RETURNING {REQUEST_COLUMNS}"
        ))
        .map_err(backend_err)?;
    let resolved = resolve
        .query_row(params![id, status.as_str(), now, from_version, to_version], request_row)
        .map_err(backend_err)?;
    if accept {
        // Accepting settles the question in both directions.
        if let Some(reverse) = pending_request(tx, to, from)? {
            resolve
                .query_row(
                    params![reverse.id, RequestStatus::Accepted.as_str(), now, to_version, from_version],
                    request_row,
                )
                .map_err(backend_err)?;
        }
        // Revives a tombstone with a fresh remark; a live row (there
        // should be none) is left as it is.
        let mut befriend = tx
            .prepare_cached(
                "INSERT INTO friends (owner_id, friend_id, remark, created_at, updated_at, version, deleted)
                 VALUES (?1, ?2, '', ?3, ?3, ?4, 0)
                 ON CONFLICT (owner_id, friend_id) DO UPDATE
                 SET remark = '', created_at = excluded.created_at, updated_at = excluded.updated_at,
                     version = excluded.version, deleted = 0
                 WHERE friends.deleted = 1",
            )
            .map_err(backend_err)?;
        befriend.execute(params![from, to, now, from_version]).map_err(backend_err)?;
        befriend.execute(params![to, from, now, to_version]).map_err(backend_err)?;
    }
    drop(resolve);
    Ok(resolved)
}

fn bump(conn: &Connection, user: UserId) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO contact_versions (user_id, version) VALUES (?1, 1)
         ON CONFLICT (user_id) DO UPDATE SET version = contact_versions.version + 1
         RETURNING version",
    )
    .and_then(|mut stmt| stmt.query_row([user], |row| row.get(0)))
    .map_err(backend_err)
}

/// Bumps both users' versions once (once in all for a request to oneself).
fn bump_pair(conn: &Connection, a: UserId, b: UserId) -> Result<(i64, i64)> {
    let va = bump(conn, a)?;
    let vb = if a == b { va } else { bump(conn, b)? };
    Ok((va, vb))
}

/// Whether `owner` has a live friend row for `friend`.
fn live_friend(conn: &Connection, owner: UserId, friend: UserId) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM friends WHERE owner_id = ?1 AND friend_id = ?2 AND deleted = 0")
        .and_then(|mut stmt| stmt.exists(params![owner, friend]))
        .map_err(backend_err)
}

fn request_by_id(conn: &Connection, id: i64) -> Result<Option<FriendRequest>> {
    conn.prepare_cached(&format!("SELECT {REQUEST_COLUMNS} FROM friend_requests WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], request_row).optional())
        .map_err(backend_err)
}

fn pending_request(conn: &Connection, from: UserId, to: UserId) -> Result<Option<FriendRequest>> {
    conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM friend_requests WHERE from_id = ?1 AND to_id = ?2 AND status = 'pending'"
    ))
    .and_then(|mut stmt| stmt.query_row(params![from, to], request_row).optional())
    .map_err(backend_err)
}

/// The block row (live or tombstone) of `owner` for `target`.
fn block_of(conn: &Connection, owner: UserId, target: UserId) -> Result<Option<Block>> {
    conn.prepare_cached(&format!("SELECT {BLOCK_COLUMNS} FROM blocks WHERE owner_id = ?1 AND blocked_id = ?2"))
        .and_then(|mut stmt| stmt.query_row(params![owner, target], block_row).optional())
        .map_err(backend_err)
}

/// Runs a cached query and collects its mapped rows.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend_err)?;
    let rows = stmt.query_map(params, map).map_err(backend_err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
}

/// Maps a row selected with [`REQUEST_COLUMNS`].
fn request_row(row: &Row<'_>) -> rusqlite::Result<FriendRequest> {
    Ok(FriendRequest {
        id: row.get(0)?,
        from: row.get(1)?,
        to: row.get(2)?,
        greeting: row.get(3)?,
        status: text_enum_col(row, 4, RequestStatus::parse)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

/// Maps a row selected with [`FRIEND_COLUMNS`].
fn friend_row(row: &Row<'_>) -> rusqlite::Result<Friend> {
    Ok(Friend {
        owner: row.get(0)?,
        friend: row.get(1)?,
        remark: row.get(2)?,
        created_at: row.get(3)?,
        version: row.get::<_, i64>(4)? as u64,
        deleted: row.get(5)?,
    })
}

/// Maps a row selected with [`BLOCK_COLUMNS`].
fn block_row(row: &Row<'_>) -> rusqlite::Result<Block> {
    Ok(Block {
        owner: row.get(0)?,
        blocked: row.get(1)?,
        created_at: row.get(2)?,
        version: row.get::<_, i64>(3)? as u64,
        deleted: row.get(4)?,
    })
}
