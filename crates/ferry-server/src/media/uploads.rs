//! Resumable uploads: what tus's requests do (the protocol itself is in
//! `http/routes/uploads.rs`).
//!
//! An upload is a store record (owner, size, announced digest, durable
//! offset, expiry) and a staged file. Appends to one upload run one at a
//! time (a lock per upload); between them the staged file stays open with
//! its running hash ([`Active`]), so a resumed upload is re-hashed from disk
//! only after a restart or when it sat idle long enough to be closed.
//! Progress is made durable (file synced, then offset recorded) at the end
//! of every append — also one cut short by a dropped connection — and every
//! [`CHECKPOINT`] bytes within a long one, so a crash loses at most that.
//!
//! The last byte's offset is never recorded: a finished upload is complete
//! by its file (`file_id`), and until the file exists the recorded offset
//! stays short of the end. Otherwise a crash, or a storage failure, between
//! the last byte and the file would leave an upload whose HEAD says
//! `Upload-Offset == Upload-Length` — which stock tus clients take for
//! done — and no file. Short of the end, the client sends the rest again
//! and publishing is retried.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use ferry_core::{ApiError, ErrorCode, UserId};
use ferry_store::{CreateUpload, FileObject, Sha256, Upload};
use futures_util::{Stream, StreamExt};
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use super::{Declared, Files, check_declared, io_err, random_id, sniff, staging::Staged};
use crate::{error::store_error, service::now_ms};

/// Bytes between durable checkpoints within one append.
const CHECKPOINT: u64 = 16 << 20;

/// The open staged files of uploads in progress.
#[derive(Default)]
pub struct Active {
    slots: Mutex<HashMap<String, Arc<Handle>>>,
}

/// One upload's lock, and how to ask whoever holds it to let go.
#[derive(Default)]
struct Handle {
    slot: tokio::sync::Mutex<Slot>,
    /// The request holding `slot`: its token, and when it last received
    /// bytes. A request stalled on a connection that died without closing
    /// (a phone changing networks) is asked to let go by the client's next
    /// request: it makes what it received durable and returns.
    holder: Mutex<Option<(CancellationToken, Instant)>>,
}

/// How long the holder of an upload may receive nothing before a new
/// request for the upload takes over.
const STALLED: Duration = Duration::from_secs(5);

impl Handle {
    /// Waits for the upload's lock, asking a stalled holder to let go;
    /// returns it with this request's token.
    async fn acquire(&self) -> (tokio::sync::MutexGuard<'_, Slot>, Holding<'_>) {
        let guard = loop {
            match tokio::time::timeout(Duration::from_secs(1), self.slot.lock()).await {
                Ok(guard) => break guard,
                Err(_) => {
                    if let Some((token, last)) = &*self.holder.lock().expect("upload holder poisoned")
                        && last.elapsed() >= STALLED
                    {
                        token.cancel();
                    }
                }
            }
        };
        let token = CancellationToken::new();
        *self.holder.lock().expect("upload holder poisoned") = Some((token.clone(), Instant::now()));
        (guard, Holding { handle: self, token })
    }
}

/// This request's hold on an upload (cleared when it ends).
struct Holding<'a> {
    handle: &'a Handle,
    token: CancellationToken,
}

impl Holding<'_> {
    /// Bytes arrived: not stalled.
    fn progress(&self) {
        if let Some((_, last)) = &mut *self.handle.holder.lock().expect("upload holder poisoned") {
            *last = Instant::now();
        }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        *self.handle.holder.lock().expect("upload holder poisoned") = None;
    }
}

#[derive(Default)]
struct Slot {
    staged: Option<Staged>,
    used: Option<Instant>,
}

impl Active {
    fn handle(&self, id: &str) -> Arc<Handle> {
        Arc::clone(self.slots.lock().expect("uploads lock poisoned").entry(id.to_string()).or_default())
    }

    /// Drops upload `id`'s open file.
    pub fn forget(&self, id: &str) {
        self.slots.lock().expect("uploads lock poisoned").remove(id);
    }

    /// Closes the staged files of uploads idle for `idle` (they are
    /// re-hashed from disk if they resume).
    pub fn close_idle(&self, idle: Duration) {
        self.slots.lock().expect("uploads lock poisoned").retain(|_, h| match h.slot.try_lock() {
            Ok(s) => s.used.is_some_and(|t| t.elapsed() < idle),
            Err(_) => true,
        });
    }
}

/// The announced checksum of one append (tus `Upload-Checksum`).
#[derive(Debug, Clone)]
pub struct ChunkChecksum(pub Sha256);

impl Files {
    /// Starts an upload of `size` bytes. Refused at once when it is too big,
    /// over the quota, of a refused declared type, or one too many.
    pub async fn create_upload(
        &self,
        user: UserId,
        size: u64,
        declared: &Declared,
        metadata: String,
    ) -> Result<Upload, ApiError> {
        check_declared(declared)?;
        if size > self.config.max_file_bytes {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the file is larger than {} bytes", self.config.max_file_bytes),
            ));
        }
        if size == 0 {
            return Err(ApiError::invalid("the file is empty"));
        }
        if !declared.mime.is_empty() {
            // Refused early by what it claims to be; the content decides
            // again once its first bytes arrive.
            self.check_type(&declared.mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())?;
        }
        self.check_quota(user, size).await?;
        let now = now_ms();
        let upload = Upload {
            id: random_id(),
            owner: user,
            size,
            offset: 0,
            name: declared.name.clone(),
            mime: declared.mime.clone(),
            sha256: declared.sha256,
            metadata,
            created_at: now,
            expires_at: now + (self.config.upload_expiry_secs as i64) * 1000,
            file_id: None,
        };
        match self.store.create_upload(upload.clone(), self.config.max_concurrent_uploads).await.map_err(store_error)? {
            CreateUpload::Created => {}
            CreateUpload::TooMany { active } => {
                return Err(ApiError::new(
                    ErrorCode::LimitExceeded,
                    format!("{active} uploads are unfinished; finish or cancel one first"),
                ));
            }
        }
        let staged = self.staging.create(&upload.id).await.map_err(io_err)?;
        let handle = self.uploads.handle(&upload.id);
        *handle.slot.lock().await = Slot { staged: Some(staged), used: Some(Instant::now()) };
        Ok(upload)
    }

    /// Upload `id` as its owner sees it; `not_found` for anyone else, and
    /// once it expired.
    pub async fn upload_state(&self, user: UserId, id: &str) -> Result<Upload, ApiError> {
        well_formed(id)?;
        let upload = self.store.upload(id).await.map_err(store_error)?;
        match upload {
            Some(mut u) if u.owner == user && (u.file_id.is_some() || u.expires_at > now_ms()) => {
                if u.file_id.is_some() {
                    // Its end is never recorded (see the module's doc).
                    u.offset = u.size;
                }
                Ok(u)
            }
            _ => Err(ApiError::not_found("no such upload")),
        }
    }

    /// Appends `body` at `offset` (which must be the upload's offset).
    /// Returns the upload as it now stands and, once the last byte arrived
    /// and checked out, the new file.
    pub async fn append<S, E>(
        &self,
        user: UserId,
        id: &str,
        offset: u64,
        checksum: Option<ChunkChecksum>,
        mut body: S,
    ) -> Result<(Upload, Option<FileObject>), ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Someone else's (or no) upload: refused before anything is kept.
        self.upload_state(user, id).await?;
        let handle = self.uploads.handle(id);
        let (mut slot, holding) = handle.acquire().await;
        let mut upload = self.upload_state(user, id).await?;
        if upload.file_id.is_some() || offset != upload.offset {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("the upload's offset is {}, not {offset}", upload.offset),
            ));
        }
        let mut staged = match slot.staged.take() {
            Some(s) if s.len() == upload.offset => s,
            _ => match self.staging.resume(id, upload.offset).await {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    // The staged bytes are not here. On a single node they
                    // are lost (a disk failure): the upload goes. In a
                    // cluster they may be on the node that took the upload,
                    // whose requests must not find it discarded: it stays
                    // for that node, or for the expiry sweep.
                    if !self.clustered {
                        self.discard(id).await;
                    }
                    return Err(ApiError::not_found(
                        "the upload's data is not on this server node; resume it where it started, or start a new upload",
                    ));
                }
                Err(e) => return Err(io_err(e)),
            },
        };
        slot.used = Some(Instant::now());
        let mut chunk_hash = checksum.as_ref().map(|_| sha2::Sha256::new());
        let mut since_checkpoint = 0u64;
        let mut sniffed = upload.offset >= super::staging::SNIFF_BYTES as u64;
        let mut cut_short = None;
        loop {
            let next = tokio::select! {
                _ = holding.token.cancelled() => Err("stalled, and another request for this upload came in".to_string()),
                next = tokio::time::timeout(super::BODY_IDLE, body.next()) => match next {
                    Ok(Some(Ok(c))) => Ok(Some(c)),
                    Ok(None) => Ok(None),
                    Ok(Some(Err(e))) => Err(e.to_string()),
                    Err(_) => Err("nothing was sent for a minute".to_string()),
                },
            };
            let chunk = match next {
                Ok(Some(c)) => {
                    holding.progress();
                    c
                }
                Ok(None) => break,
                Err(e) => {
                    cut_short = Some(e);
                    break;
                }
            };
            if staged.len() + chunk.len() as u64 > upload.size {
                // Nothing of this append is kept.
                staged.abandon().await;
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the upload is {} bytes; this append goes past its end", upload.size),
                ));
            }
            if let Some(h) = &mut chunk_hash {
                h.update(&chunk);
            }
            staged = staged.write(&chunk).await.map_err(io_err)?;
            if !sniffed && (staged.head().len() >= super::staging::SNIFF_BYTES || staged.len() == upload.size) {
                sniffed = true;
                if let Err(e) = self.check_type(&sniff(staged.head(), &upload.mime)) {
                    staged.abandon().await;
                    self.discard(id).await;
                    return Err(e);
                }
            }
            since_checkpoint += chunk.len() as u64;
            if since_checkpoint >= CHECKPOINT && chunk_hash.is_none() && staged.len() < upload.size {
                since_checkpoint = 0;
                let (s, durable) = staged.sync().await.map_err(io_err)?;
                staged = s;
                self.store.set_upload_offset(id, durable).await.map_err(store_error)?;
                upload.offset = durable;
            }
        }
        if let (Some(ChunkChecksum(expected)), Some(h)) = (&checksum, chunk_hash) {
            let got: Sha256 = h.finalize().into();
            if cut_short.is_some() || got != *expected {
                // The append is discarded: the staged file is cut back to
                // the durable offset when the upload resumes.
                staged.abandon().await;
                return Err(ApiError::new(
                    ErrorCode::ChecksumMismatch,
                    "the append does not match its Upload-Checksum",
                ));
            }
        }
        let (staged, durable) = staged.sync().await.map_err(io_err)?;
        if durable != upload.offset && durable < upload.size {
            self.store.set_upload_offset(id, durable).await.map_err(store_error)?;
            upload.offset = durable;
        }
        if let Some(e) = cut_short {
            slot.staged = Some(staged);
            return Err(ApiError::bad_request(format!("the append was cut short at offset {durable}: {e}")));
        }
        if durable < upload.size {
            slot.staged = Some(staged);
            return Ok((upload, None));
        }
        let declared = Declared { name: upload.name.clone(), mime: upload.mime.clone(), sha256: upload.sha256 };
        match self.publish(user, staged, &declared).await {
            Ok(file) => {
                self.store.finish_upload(id, &file.id).await.map_err(store_error)?;
                // Only now: until the upload is marked finished, its staged
                // bytes are what a resume would finish it from.
                self.staging.remove(id).await;
                upload.file_id = Some(file.id.clone());
                upload.offset = durable;
                drop(slot);
                self.uploads.forget(id);
                Ok((upload, Some(file)))
            }
            Err(e) if super::failed_here(&e) => {
                // Nothing was refused: the upload stays at its recorded
                // offset, its staged bytes cut back to it on resumption.
                tracing::warn!(upload = id, error = %e.message, "publishing an upload failed; it can be resumed");
                Err(e)
            }
            Err(e) => {
                // Refused content is discarded whole (a digest mismatch,
                // a refused type, an image bomb, the quota).
                drop(slot);
                self.discard(id).await;
                Err(e)
            }
        }
    }

    /// Cancels upload `id` (tus termination).
    pub async fn terminate(&self, user: UserId, id: &str) -> Result<(), ApiError> {
        self.upload_state(user, id).await?;
        let handle = self.uploads.handle(id);
        drop(handle.acquire().await);
        self.discard(id).await;
        Ok(())
    }

    async fn discard(&self, id: &str) {
        self.uploads.forget(id);
        self.staging.remove(id).await;
        if let Err(e) = self.store.delete_upload(id).await {
            tracing::warn!(upload = id, error = %e, "deleting an upload record failed; the sweeper retries");
        }
    }
}

/// Upload ids name staged files: anything but an id this server could
/// have made is no upload (and never reaches the file system).
fn well_formed(id: &str) -> Result<(), ApiError> {
    ferry_core::content::file_id("id", id).map_err(|_| ApiError::not_found("no such upload"))
}
