//! [`FileStore`] for PostgreSQL: `blobs`, `files`, `file_refs`, `uploads`
//! and `server_secrets`.
//!
//! Every write is one SERIALIZABLE transaction, so a file's blob claim,
//! quota check and insert are one atomic step against every other node's
//! writes, as they are on SQLite's single writer. `file_refs` rows are
//! written by the message append (`messages.rs`) and dropped by a recall.
//! An avatar is public: a file named by its owner's profile or by a group
//! (`users.avatar`, `groups.avatar`) is readable by every user.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use ferry_core::{ConversationId, UserId};
use tokio_postgres::Row;

use super::{PgStore, Try, conversation_col, map_rows, serializable, snapshot, u64_col};
use crate::columns::{BLOB_COLUMNS, FILE_COLUMNS, UPLOAD_COLUMNS};
use crate::{Blob, CreateFile, CreateUpload, FileObject, FileStore, NewFile, Result, Sha256, StoreError, Upload};

/// A size or offset as stored (sizes beyond `i64::MAX` do not exist).
fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[async_trait]
impl FileStore for PgStore {
    async fn create_file(&self, new: NewFile) -> Result<CreateFile> {
        let new = &new;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let created = create_file(&tx, new).await?;
            if matches!(created, CreateFile::Created { .. }) {
                tx.commit().await?;
            }
            Ok(created)
        })
        .await
    }

    async fn file(&self, id: &str) -> Result<Option<FileObject>> {
        self.read(|client| async move { file_by_id(&client, id).await }).await
    }

    async fn live_blob(&self, sha256: Sha256, size_: u64) -> Result<Option<Blob>> {
        self.read(|client| async move {
            let row = client
                .query_opt(
                    &format!("SELECT {BLOB_COLUMNS} FROM blobs WHERE sha256 = $1 AND size = $2 AND refcount > 0"),
                    &[&sha256.as_slice(), &size(size_)],
                )
                .await?;
            row.as_ref().map(blob_row).transpose()
        })
        .await
    }

    async fn set_thumbnail(&self, id: &str, thumbnail: &str) -> Result<()> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            // Only a thumbnail made of this file: `delete_file` deletes it
            // along with the file, so linking any other file would let one
            // user's deletion take another's file.
            let updated = tx
                .execute(
                    "UPDATE files SET thumbnail = $2
                      WHERE id = $1 AND EXISTS (SELECT 1 FROM files WHERE id = $2 AND thumbnail_of = $1)",
                    &[&id, &thumbnail],
                )
                .await?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("file {id} or its thumbnail {thumbnail}")).into());
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn delete_file(&self, id: &str) -> Result<Option<FileObject>> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let deleted = delete_file(&tx, id).await?;
            tx.commit().await?;
            Ok(deleted)
        })
        .await
    }

    async fn storage_used(&self, owner: UserId) -> Result<(u64, u64)> {
        self.read(|client| async move { storage_used(&client, owner).await }).await
    }

    async fn readable_file(&self, user: UserId, id: &str, full_history: bool) -> Result<Option<FileObject>> {
        self.read(|mut client| async move {
            // One snapshot: the file, its references and the memberships
            // they are checked against agree.
            let tx = snapshot(&mut client).await?;
            let Some(file) = file_by_id(&tx, id).await? else { return Ok(None) };
            let readable = may_read(&tx, user, &file, full_history).await?
                || match &file.thumbnail_of {
                    // One level only: the parent's own parent (if any)
                    // opens nothing, which bounds the work.
                    Some(parent) => match file_by_id(&tx, parent).await? {
                        Some(parent) => may_read(&tx, user, &parent, full_history).await?,
                        None => false,
                    },
                    None => false,
                };
            Ok(readable.then_some(file))
        })
        .await
    }

    async fn sweep_blobs(&self, limit: u32) -> Result<Vec<Blob>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            // A blob claimed again before this ran has refcount 1 and is
            // not selected (and a claim racing it makes one of the two
            // transactions retry).
            let rows = tx
                .query(
                    &format!(
                        "DELETE FROM blobs WHERE (sha256, size) IN (
                             SELECT sha256, size FROM blobs WHERE refcount = 0 ORDER BY created_at LIMIT $1)
                         RETURNING {BLOB_COLUMNS}"
                    ),
                    &[&i64::from(limit)],
                )
                .await?;
            let swept = map_rows(rows, blob_row)?;
            tx.commit().await?;
            Ok(swept)
        })
        .await
    }

    async fn create_upload(&self, upload: Upload, max_active: u32) -> Result<CreateUpload> {
        let u = &upload;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            // "Unexpired" as of the new upload's creation.
            let active: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM uploads WHERE owner_id = $1 AND expires_at > $2 AND file_id IS NULL",
                    &[&u.owner, &u.created_at],
                )
                .await?
                .try_get(0)?;
            let active = u32::try_from(active).unwrap_or(u32::MAX);
            if active >= max_active {
                return Ok(CreateUpload::TooMany { active });
            }
            tx.execute(
                &format!(
                    "INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    &u.id,
                    &u.owner,
                    &size(u.size),
                    &size(u.offset),
                    &u.name,
                    &u.mime,
                    &u.sha256.as_ref().map(|d| d.as_slice()),
                    &u.metadata,
                    &u.created_at,
                    &u.expires_at,
                    &u.file_id,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(CreateUpload::Created)
        })
        .await
    }

    async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        self.read(|client| async move {
            let row = client.query_opt(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"), &[&id]).await?;
            row.as_ref().map(upload_row).transpose()
        })
        .await
    }

    async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<()> {
        self.update_upload("UPDATE uploads SET byte_offset = $2 WHERE id = $1", id, &size(offset)).await
    }

    async fn finish_upload(&self, id: &str, file_id: &str) -> Result<()> {
        self.update_upload("UPDATE uploads SET file_id = $2 WHERE id = $1", id, &file_id).await
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let deleted = tx.execute("DELETE FROM uploads WHERE id = $1", &[&id]).await?;
            tx.commit().await?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<Upload>> {
        self.read(|client| async move {
            let rows = client
                .query(
                    &format!(
                        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2"
                    ),
                    &[&now, &i64::from(limit)],
                )
                .await?;
            map_rows(rows, upload_row)
        })
        .await
    }

    async fn server_secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>> {
        let candidate = &candidate;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            tx.execute(
                "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, candidate],
            )
            .await?;
            let value: Vec<u8> =
                tx.query_one("SELECT value FROM server_secrets WHERE name = $1", &[&name]).await?.try_get(0)?;
            tx.commit().await?;
            Ok(value)
        })
        .await
    }
}

impl PgStore {
    /// Runs an `UPDATE uploads ... WHERE id = $1` binding `value` as `$2`;
    /// `NotFound` if the upload is gone.
    async fn update_upload(
        &self,
        sql: &str,
        id: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<()> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if tx.execute(sql, &[&id, value]).await? == 0 {
                return Err(StoreError::NotFound(format!("upload {id}")).into());
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// [`FileStore::create_file`] inside `tx`: checks first, so a refusal has
/// written nothing, then the blob claim and the insert.
async fn create_file(tx: &impl GenericClient, new: &NewFile) -> Try<CreateFile> {
    if file_by_id(tx, &new.id).await?.is_some() {
        return Err(StoreError::Conflict(format!("file {} exists", new.id)).into());
    }
    if let Some(parent) = &new.thumbnail_of
        && file_by_id(tx, parent).await?.is_none()
    {
        return Err(StoreError::NotFound(format!("file {parent} (thumbnail_of)")).into());
    }
    // Thumbnails do not count, and `u64::MAX` is no quota: no sum needed.
    if new.thumbnail_of.is_none() && new.quota != u64::MAX {
        let (used, _) = storage_used(tx, new.owner).await?;
        if used.checked_add(new.size).is_none_or(|total| total > new.quota) {
            return Ok(CreateFile::OverQuota { used });
        }
    }
    // A row at refcount 0 still has its bytes (the sweep deletes the row
    // first), so an upload bringing its own key may claim it. An instant
    // upload, which brings no bytes, needs a live one (`live_blob`).
    let min_refcount: i64 = if new.key.is_some() { 0 } else { 1 };
    let digest = new.sha256.as_slice();
    let claimed: Option<String> = tx
        .query_opt(
            "UPDATE blobs SET refcount = refcount + 1 WHERE sha256 = $1 AND size = $2 AND refcount >= $3
             RETURNING key",
            &[&digest, &size(new.size), &min_refcount],
        )
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let (key, redundant_key) = match (claimed, &new.key) {
        // The caller's bytes are redundant, unless (against the contract)
        // it handed back the blob's own key: those bytes must stay.
        (Some(key), caller) => {
            let redundant = caller.clone().filter(|k| *k != key);
            (key, redundant)
        }
        (None, Some(key)) => {
            tx.execute(
                "INSERT INTO blobs (sha256, size, key, refcount, created_at) VALUES ($1, $2, $3, 1, $4)",
                &[&digest, &size(new.size), key, &new.created_at],
            )
            .await?;
            (key.clone(), None)
        }
        (None, None) => return Ok(CreateFile::NoBlob),
    };
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO files ({FILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)
                 RETURNING {FILE_COLUMNS}"
            ),
            &[
                &new.id,
                &new.owner,
                &digest,
                &size(new.size),
                &new.mime,
                &new.name,
                &new.created_at,
                &key,
                &i64::from(new.width),
                &i64::from(new.height),
                &new.thumbnail_of,
            ],
        )
        .await?;
    Ok(CreateFile::Created { file: file_row(&row)?, redundant_key })
}

/// [`FileStore::delete_file`]: the file, every thumbnail made of it, their
/// references, and a reference on each of their blobs.
async fn delete_file(tx: &impl GenericClient, id: &str) -> Try<Option<FileObject>> {
    let Some(row) = tx.query_opt(&format!("DELETE FROM files WHERE id = $1 RETURNING {FILE_COLUMNS}"), &[&id]).await?
    else {
        return Ok(None);
    };
    let file = file_row(&row)?;
    let thumbnails = tx.query("DELETE FROM files WHERE thumbnail_of = $1 RETURNING id, sha256, size", &[&id]).await?;
    let mut deleted: Vec<(String, Vec<u8>, i64)> = vec![(file.id.clone(), file.sha256.to_vec(), size(file.size))];
    for t in &thumbnails {
        deleted.push((t.try_get(0)?, t.try_get(1)?, t.try_get(2)?));
    }
    for (id, sha256, size) in &deleted {
        tx.execute("DELETE FROM file_refs WHERE file_id = $1", &[id]).await?;
        let released = tx
            .execute(
                "UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = $1 AND size = $2 AND refcount > 0",
                &[sha256, size],
            )
            .await?;
        if released == 0 {
            // Refcounts are kept in the same transactions as the files, so
            // this is a bug or damage; the file goes anyway.
            tracing::warn!(file = id, size, "deleted file had no referenced blob");
        }
    }
    // A thumbnail deleted on its own is unlinked from its file.
    if let Some(parent) = &file.thumbnail_of {
        tx.execute("UPDATE files SET thumbnail = NULL WHERE id = $1 AND thumbnail = $2", &[parent, &file.id]).await?;
    }
    Ok(Some(file))
}

async fn file_by_id(tx: &impl GenericClient, id: &str) -> Try<Option<FileObject>> {
    let stmt = tx.prepare_cached(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1")).await?;
    tx.query_opt(&stmt, &[&id]).await?.as_ref().map(file_row).transpose()
}

/// Bytes and number of `owner`'s files, thumbnails not counted.
async fn storage_used(tx: &impl GenericClient, owner: UserId) -> Try<(u64, u64)> {
    let row = tx
        .query_one(
            "SELECT COALESCE(SUM(size), 0)::bigint, COUNT(*) FROM files WHERE owner_id = $1 AND thumbnail_of IS NULL",
            &[&owner],
        )
        .await?;
    Ok((u64_col(&row, 0)?, u64_col(&row, 1)?))
}

/// Whether `user` owns `file`, it is an avatar, or `user` can see a
/// message referencing it: either side of a direct conversation, or a
/// current member of a group who joined before the message (any current
/// member with `full_history`).
async fn may_read(tx: &impl GenericClient, user: UserId, file: &FileObject, full_history: bool) -> Try<bool> {
    if file.owner == user || is_avatar(tx, file).await? {
        return Ok(true);
    }
    let refs = tx.query("SELECT conversation_id, seq FROM file_refs WHERE file_id = $1", &[&file.id]).await?;
    for row in &refs {
        let conversation = conversation_col(row, 0)?;
        let seq: i64 = row.try_get(1)?;
        let sees = match conversation {
            ConversationId::Direct { .. } => conversation.is_direct_member(user),
            ConversationId::Group(group) => {
                let seq = if full_history { i64::MAX } else { seq };
                tx.query_opt(
                    "SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2 AND NOT has_left AND join_seq < $3",
                    &[&group, &user, &seq],
                )
                .await?
                .is_some()
            }
        };
        if sees {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `file` is the avatar of its owner's profile or of a group (see
/// the SQLite backend's `is_avatar` for why only the owner's profile).
/// The groups are found through the partial index `groups_avatar`.
async fn is_avatar(tx: &impl GenericClient, file: &FileObject) -> Try<bool> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = $2 AND avatar = $1)
                 OR EXISTS (SELECT 1 FROM groups WHERE avatar = $1 AND avatar <> '')",
            &[&file.id, &file.owner],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// A stored SHA-256 digest.
fn digest(row: &Row, idx: usize) -> Try<Sha256> {
    let bytes: &[u8] = row.try_get(idx)?;
    bytes.try_into().map_err(|_| StoreError::Backend(format!("stored digest of {} bytes", bytes.len())).into())
}

/// Maps a row selected with [`FILE_COLUMNS`].
fn file_row(row: &Row) -> Try<FileObject> {
    Ok(FileObject {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        sha256: digest(row, 2)?,
        size: u64_col(row, 3)?,
        mime: row.try_get(4)?,
        name: row.try_get(5)?,
        created_at: row.try_get(6)?,
        key: row.try_get(7)?,
        width: row.try_get::<_, i64>(8)?.clamp(0, i64::from(u32::MAX)) as u32,
        height: row.try_get::<_, i64>(9)?.clamp(0, i64::from(u32::MAX)) as u32,
        thumbnail: row.try_get(10)?,
        thumbnail_of: row.try_get(11)?,
    })
}

/// Maps a row selected with [`BLOB_COLUMNS`].
fn blob_row(row: &Row) -> Try<Blob> {
    Ok(Blob {
        sha256: digest(row, 0)?,
        size: u64_col(row, 1)?,
        key: row.try_get(2)?,
        refcount: u64_col(row, 3)?,
        created_at: row.try_get(4)?,
    })
}

/// Maps a row selected with [`UPLOAD_COLUMNS`].
fn upload_row(row: &Row) -> Try<Upload> {
    let sha256 = match row.try_get::<_, Option<&[u8]>>(6)? {
        Some(_) => Some(digest(row, 6)?),
        None => None,
    };
    Ok(Upload {
        id: row.try_get(0)?,
        owner: row.try_get(1)?,
        size: u64_col(row, 2)?,
        offset: u64_col(row, 3)?,
        name: row.try_get(4)?,
        mime: row.try_get(5)?,
        sha256,
        metadata: row.try_get(7)?,
        created_at: row.try_get(8)?,
        expires_at: row.try_get(9)?,
        file_id: row.try_get(10)?,
    })
}
