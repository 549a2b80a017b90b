//! [`FileStore`] for SQLite: `blobs`, `files`, `file_refs`, `uploads` and
//! `server_secrets`.
//!
//! Every write is a small grouped job (see `Writer::run_grouped`): it runs
//! under a savepoint of a transaction shared with the writes queued beside
//! it, so a file's blob claim, quota check and insert are one atomic step,
//! serialised with every other write, while a stream of upload offsets
//! costs one commit per group rather than one each. `file_refs` rows are
//! written by the message append (`messages.rs`): on append for a message
//! naming files, and removed on its recall. An avatar is public: a file
//! named by its owner's profile or by a group (`users.avatar`,
//! `groups.avatar`) is readable by every user.

use async_trait::async_trait;
use ferry_core::{ConversationId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, backend_err, conversation_col};
use crate::columns::{BLOB_COLUMNS, FILE_COLUMNS, UPLOAD_COLUMNS};
use crate::{Blob, CreateFile, CreateUpload, FileObject, FileStore, NewFile, Result, Sha256, StoreError, Upload};

#[async_trait]
impl FileStore for SqliteStore {
    async fn create_file(&self, new: NewFile) -> Result<CreateFile> {
        self.write_grouped(move |conn| create_file(conn, new)).await
    }

    async fn file(&self, id: &str) -> Result<Option<FileObject>> {
        let id = id.to_owned();
        self.read(move |conn| file_by_id(conn, &id)).await
    }

    async fn live_blob(&self, sha256: Sha256, size: u64) -> Result<Option<Blob>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {BLOB_COLUMNS} FROM blobs WHERE sha256 = ?1 AND size = ?2 AND refcount > 0"
            ))
            .and_then(|mut stmt| stmt.query_row(params![sha256, size], blob_row).optional())
            .map_err(backend_err)
        })
        .await
    }

    async fn set_thumbnail(&self, id: &str, thumbnail: &str) -> Result<()> {
        let (id, thumbnail) = (id.to_owned(), thumbnail.to_owned());
        self.write_grouped(move |conn| {
            // Only a thumbnail made of this file: `delete_file` deletes it
            // along with the file, so linking any other file would let one
            // user's deletion take another's file.
            let updated = conn
                .prepare_cached(
                    "UPDATE files SET thumbnail = ?2
                      WHERE id = ?1 AND EXISTS (SELECT 1 FROM files WHERE id = ?2 AND thumbnail_of = ?1)",
                )
                .and_then(|mut stmt| stmt.execute(params![id, thumbnail]))
                .map_err(backend_err)?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("file {id} or its thumbnail {thumbnail}")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_file(&self, id: &str) -> Result<Option<FileObject>> {
        let id = id.to_owned();
        self.write_grouped(move |conn| delete_file(conn, &id)).await
    }

    async fn storage_used(&self, owner: UserId) -> Result<(u64, u64)> {
        self.read(move |conn| storage_used(conn, owner)).await
    }

    async fn readable_file(&self, user: UserId, id: &str, full_history: bool) -> Result<Option<FileObject>> {
        let id = id.to_owned();
        self.read(move |conn| {
            // One snapshot: the file, its references and the memberships
            // they are checked against agree.
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let Some(file) = file_by_id(&tx, &id)? else { return Ok(None) };
            let readable = may_read(&tx, user, &file, full_history)?
                || match &file.thumbnail_of {
                    // One level only: the parent's own parent (if any)
                    // opens nothing, which bounds the work.
                    Some(parent) => match file_by_id(&tx, parent)? {
                        Some(parent) => may_read(&tx, user, &parent, full_history)?,
                        None => false,
                    },
                    None => false,
                };
            tx.finish().map_err(backend_err)?;
            Ok(readable.then_some(file))
        })
        .await
    }

    async fn sweep_blobs(&self, limit: u32) -> Result<Vec<Blob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.write_grouped(move |conn| {
            // One statement on the writer thread: a blob claimed again
            // before it ran has refcount 1 and is not selected.
            let mut stmt = conn
                .prepare_cached(&format!(
                    "DELETE FROM blobs WHERE (sha256, size) IN (
                         SELECT sha256, size FROM blobs WHERE refcount = 0 ORDER BY created_at LIMIT ?1)
                     RETURNING {BLOB_COLUMNS}"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map([limit], blob_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn create_upload(&self, upload: Upload, max_active: u32) -> Result<CreateUpload> {
        self.write_grouped(move |conn| {
            // "Unexpired" as of the new upload's creation.
            let active: u32 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM uploads
                      WHERE owner_id = ?1 AND expires_at > ?2 AND file_id IS NULL",
                )
                .and_then(|mut stmt| stmt.query_row(params![upload.owner, upload.created_at], |row| row.get(0)))
                .map_err(backend_err)?;
            if active >= max_active {
                return Ok(CreateUpload::TooMany { active });
            }
            conn.prepare_cached(&format!(
                "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    upload.id,
                    upload.owner,
                    upload.size,
                    upload.offset,
                    upload.name,
                    upload.mime,
                    upload.sha256,
                    upload.metadata,
                    upload.created_at,
                    upload.expires_at,
                    upload.file_id,
                ])
            })
            .map_err(backend_err)?;
            Ok(CreateUpload::Created)
        })
        .await
    }

    async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        let id = id.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"))
                .and_then(|mut stmt| stmt.query_row([id], upload_row).optional())
                .map_err(backend_err)
        })
        .await
    }

    async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<()> {
        let id = id.to_owned();
        self.write_grouped(move |conn| update_upload(conn, "byte_offset = ?2", &id, offset)).await
    }

    async fn finish_upload(&self, id: &str, file_id: &str) -> Result<()> {
        let (id, file_id) = (id.to_owned(), file_id.to_owned());
        self.write_grouped(move |conn| update_upload(conn, "file_id = ?2", &id, file_id)).await
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.write_grouped(move |conn| {
            conn.prepare_cached("DELETE FROM uploads WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([id]))
                .map(|deleted| deleted > 0)
                .map_err(backend_err)
        })
        .await
    }

    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<Upload>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map(params![now, limit], upload_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn server_secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
        let name = name.to_owned();
        self.write_grouped(move |conn| {
            conn.prepare_cached(
                "INSERT INTO server_secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            )
            .and_then(|mut stmt| stmt.execute(params![name, candidate]))
            .map_err(backend_err)?;
            conn.prepare_cached("SELECT value FROM server_secrets WHERE name = ?1")
                .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)))
                .map_err(backend_err)
        })
        .await
    }
}

/// [`FileStore::create_file`], inside the caller's savepoint: checks first,
/// so a refusal has written nothing, then the blob claim and the insert.
fn create_file(conn: &Connection, new: NewFile) -> Result<CreateFile> {
    if file_by_id(conn, &new.id)?.is_some() {
        return Err(StoreError::Conflict(format!("file {} exists", new.id)));
    }
    if let Some(parent) = &new.thumbnail_of
        && file_by_id(conn, parent)?.is_none()
    {
        return Err(StoreError::NotFound(format!("file {parent} (thumbnail_of)")));
    }
    // Thumbnails do not count, and `u64::MAX` is no quota: no sum needed.
    if new.thumbnail_of.is_none() && new.quota != u64::MAX {
        let (used, _) = storage_used(conn, new.owner)?;
        if used.checked_add(new.size).is_none_or(|total| total > new.quota) {
            return Ok(CreateFile::OverQuota { used });
        }
    }
    // A row at refcount 0 still has its bytes (the sweep deletes the row
    // first), so an upload bringing its own key may claim it. An instant
    // upload, which brings no bytes, needs a live one (`live_blob`).
    let min_refcount = if new.key.is_some() { 0 } else { 1 };
    let claimed: Option<String> = conn
        .prepare_cached(
            "UPDATE blobs SET refcount = refcount + 1 WHERE sha256 = ?1 AND size = ?2 AND refcount >= ?3
             RETURNING key",
        )
        .and_then(|mut stmt| stmt.query_row(params![new.sha256, new.size, min_refcount], |row| row.get(0)).optional())
        .map_err(backend_err)?;
    let (key, redundant_key) = match (claimed, new.key) {
        // The caller's bytes are redundant, unless (against the contract)
        // it handed back the blob's own key: those bytes must stay.
        (Some(key), caller) => {
            let redundant = caller.filter(|k| *k != key);
            (key, redundant)
        }
        (None, Some(key)) => {
            conn.prepare_cached(
                "INSERT INTO blobs (sha256, size, key, refcount, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
            )
            .and_then(|mut stmt| stmt.execute(params![new.sha256, new.size, key, new.created_at]))
            .map_err(backend_err)?;
            (key, None)
        }
        (None, None) => return Ok(CreateFile::NoBlob),
    };
    let file = conn
        .prepare_cached(&format!(
            "INSERT INTO files ({FILE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11)
             RETURNING {FILE_COLUMNS}"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    new.id,
                    new.owner,
                    new.sha256,
                    new.size,
                    new.mime,
                    new.name,
                    new.created_at,
                    key,
                    new.width,
                    new.height,
                    new.thumbnail_of,
                ],
                file_row,
            )
        })
        .map_err(backend_err)?;
    Ok(CreateFile::Created { file, redundant_key })
}

/// [`FileStore::delete_file`]: the file, every thumbnail made of it (the
/// current one, and any replaced or never linked), their references, and a
/// reference on each of their blobs.
fn delete_file(conn: &Connection, id: &str) -> Result<Option<FileObject>> {
    let Some(file) = conn
        .prepare_cached(&format!("DELETE FROM files WHERE id = ?1 RETURNING {FILE_COLUMNS}"))
        .and_then(|mut stmt| stmt.query_row([id], file_row).optional())
        .map_err(backend_err)?
    else {
        return Ok(None);
    };
    let thumbnails: Vec<(String, Sha256, u64)> = conn
        .prepare_cached("DELETE FROM files WHERE thumbnail_of = ?1 RETURNING id, sha256, size")
        .and_then(|mut stmt| stmt.query_map([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?.collect())
        .map_err(backend_err)?;
    let mut unref = conn.prepare_cached("DELETE FROM file_refs WHERE file_id = ?1").map_err(backend_err)?;
    let mut release = conn
        .prepare_cached("UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = ?1 AND size = ?2 AND refcount > 0")
        .map_err(backend_err)?;
    let deleted = std::iter::once((file.id.as_str(), &file.sha256, file.size))
        .chain(thumbnails.iter().map(|(id, sha256, size)| (id.as_str(), sha256, *size)));
    for (id, sha256, size) in deleted {
        unref.execute([id]).map_err(backend_err)?;
        if release.execute(params![sha256, size]).map_err(backend_err)? == 0 {
            // Refcounts are kept in the same transactions as the files, so
            // this is a bug or damage; the file goes anyway.
            tracing::warn!(file = id, size, "deleted file had no referenced blob");
        }
    }
    // A thumbnail deleted on its own is unlinked from its file.
    if let Some(parent) = &file.thumbnail_of {
        conn.prepare_cached("UPDATE files SET thumbnail = NULL WHERE id = ?1 AND thumbnail = ?2")
            .and_then(|mut stmt| stmt.execute(params![parent, file.id]))
            .map_err(backend_err)?;
    }
    Ok(Some(file))
}

fn file_by_id(conn: &Connection, id: &str) -> Result<Option<FileObject>> {
    conn.prepare_cached(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], file_row).optional())
        .map_err(backend_err)
}

/// Bytes and number of `owner`'s files, thumbnails not counted (a range
/// of `files_owner`, read from the index alone).
fn storage_used(conn: &Connection, owner: UserId) -> Result<(u64, u64)> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM files WHERE owner_id = ?1 AND thumbnail_of IS NULL",
    )
    .and_then(|mut stmt| stmt.query_row([owner], |row| Ok((row.get(0)?, row.get(1)?))))
    .map_err(backend_err)
}

/// Whether `user` owns `file`, it is an avatar ([`is_avatar`]), or `user`
/// can see a message referencing it: either side of a direct
/// conversation, or a current member of a group who joined before the
/// message (it sees the seqs after its `join_seq`), or any current member
/// with `full_history`.
fn may_read(conn: &Connection, user: UserId, file: &FileObject, full_history: bool) -> Result<bool> {
    if file.owner == user || is_avatar(conn, file)? {
        return Ok(true);
    }
    let mut refs =
        conn.prepare_cached("SELECT conversation_id, seq FROM file_refs WHERE file_id = ?1").map_err(backend_err)?;
    let mut rows = refs.query([&file.id]).map_err(backend_err)?;
    let mut member = conn
        .prepare_cached(
            "SELECT 1 FROM group_members WHERE group_id = ?1 AND user_id = ?2 AND has_left = 0 AND join_seq < ?3",
        )
        .map_err(backend_err)?;
    while let Some(row) = rows.next().map_err(backend_err)? {
        let conversation = conversation_col(row, 0).map_err(backend_err)?;
        let seq: i64 = row.get(1).map_err(backend_err)?;
        let sees = match conversation {
            ConversationId::Direct { .. } => conversation.is_direct_member(user),
            ConversationId::Group(group) => {
                let seq = if full_history { i64::MAX } else { seq };
                member.exists(params![group, user, seq]).map_err(backend_err)?
            }
        };
        if sees {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Looks up whether a file is an avatar; binds the file's id as `?1` and
/// its owner as `?2`. The owner's profile is one row by primary key; the
/// groups are found through the partial index `groups_avatar`, which SQLite
/// uses only where the query repeats its condition (`avatar <> ''`,
/// implied by `?1`, a file id).
const IS_AVATAR: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?2 AND avatar = ?1)
                            OR EXISTS (SELECT 1 FROM groups WHERE avatar = ?1 AND avatar <> '')";

/// Whether `file` is the avatar of its owner's profile or of a group, and
/// so readable by every user. Only its owner's profile counts: the server
/// lets nobody else name it (`ferry_core::validate::avatar_file`), and a
/// profile that does anyway publishes nothing. A group's avatar counts
/// whoever set it, as that check was made when it was set.
fn is_avatar(conn: &Connection, file: &FileObject) -> Result<bool> {
    conn.prepare_cached(IS_AVATAR)
        .and_then(|mut stmt| stmt.query_row(params![file.id, file.owner], |row| row.get(0)))
        .map_err(backend_err)
}

/// Sets one column of an upload (`set`, e.g. `"byte_offset = ?2"`, binds
/// `value` as `?2`); `NotFound` if the upload is gone.
fn update_upload(conn: &Connection, set: &str, id: &str, value: impl rusqlite::ToSql) -> Result<()> {
    let updated = conn
        .prepare_cached(&format!("UPDATE uploads SET {set} WHERE id = ?1"))
        .and_then(|mut stmt| stmt.execute(params![id, value]))
        .map_err(backend_err)?;
    if updated == 0 {
        return Err(StoreError::NotFound(format!("upload {id}")));
    }
    Ok(())
}

/// Maps a row selected with [`FILE_COLUMNS`].
fn file_row(row: &Row<'_>) -> rusqlite::Result<FileObject> {
    Ok(FileObject {
        id: row.get(0)?,
        owner: row.get(1)?,
        sha256: row.get(2)?,
        size: row.get(3)?,
        mime: row.get(4)?,
        name: row.get(5)?,
        created_at: row.get(6)?,
        key: row.get(7)?,
        width: row.get(8)?,
        height: row.get(9)?,
        thumbnail: row.get(10)?,
        thumbnail_of: row.get(11)?,
    })
}

/// Maps a row selected with [`BLOB_COLUMNS`].
fn blob_row(row: &Row<'_>) -> rusqlite::Result<Blob> {
    Ok(Blob {
        sha256: row.get(0)?,
        size: row.get(1)?,
        key: row.get(2)?,
        refcount: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// Maps a row selected with [`UPLOAD_COLUMNS`].
fn upload_row(row: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: row.get(0)?,
        owner: row.get(1)?,
        size: row.get(2)?,
        offset: row.get(3)?,
        name: row.get(4)?,
        mime: row.get(5)?,
        sha256: row.get(6)?,
        metadata: row.get(7)?,
        created_at: row.get(8)?,
        expires_at: row.get(9)?,
        file_id: row.get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The avatar lookup reads one user by primary key and the groups by
    /// their partial index, never a table scan.
    #[test]
    fn avatar_lookup_uses_the_indexes() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::migrations::migrate(&mut conn).expect("migrate");
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {IS_AVATAR}")).expect("explain");
        let plan: Vec<String> = stmt
            .query_map(params!["f", 1], |row| row.get(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let plan = plan.join("\n");
        assert!(plan.contains("users USING INTEGER PRIMARY KEY"), "{plan}");
        assert!(plan.contains("groups USING COVERING INDEX groups_avatar"), "{plan}");
        assert!(!plan.contains("SCAN users") && !plan.contains("SCAN groups"), "{plan}");
    }
}
