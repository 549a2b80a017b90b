//! The file service: uploads (one request, resumable, or instant), access,
//! signed URLs, downloads, thumbnails, and the sweeper. No HTTP here: the
//! routes in `http/routes/files.rs` and `uploads.rs` call [`Files`].
//!
//! - `blobs.rs`: where content lives (a local directory or S3), published
//!   atomically under keys never reused.
//! - `staging.rs`: content on its way in, on local disk, hashed as it
//!   streams, with a durable offset resumable after a crash.
//! - `images.rs`: image sizes (decompression bombs refused before
//!   decoding) and thumbnails.
//! - `uploads.rs`: resumable uploads (what tus's requests do).
//! - `signing.rs`: signed URLs and instant-upload challenges (HMAC).
//!
//! Every upload ends in [`Files::publish`]: verify the digest, sniff the
//! type, check limits, then record the file, storing the bytes only if no
//! live blob has the same content already.

pub mod blobs;
pub mod images;
pub mod signing;
pub mod staging;
pub mod uploads;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use ferry_core::{ApiError, ErrorCode, UserId};
use ferry_store::{CreateFile, FileObject, NewFile, Sha256, Store};
use futures_util::{Stream, StreamExt};
use sha2::Digest;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{
    blobs::{BlobError, Blobs, ByteStream},
    images::Probe,
    signing::Signer,
    staging::{Staged, Staging},
};
use crate::{config::FilesConfig, error::store_error, service::now_ms};

/// Thumbnails waiting to be made; beyond this, new ones are made on their
/// first request instead.
const THUMBNAIL_QUEUE: usize = 256;

/// How much of stored content an instant upload reads to learn its type
/// and, for an image, its size (headers sit at the start): what an upload
/// probes, so both record the same.
const PROBE_BYTES: u64 = images::PROBE_HEAD;

/// Files remembered as undecodable before the set starts over.
const UNDECODABLE_REMEMBERED: usize = 10_000;

/// Staged scratch files (one-request uploads, thumbnails in the making)
/// untouched for this long are leftovers of a crash: nothing resumes them.
const SCRATCH_AGE: Duration = Duration::from_secs(600);

/// A request body that sends nothing for this long is given up on (a
/// client gone without closing its connection).
pub const BODY_IDLE: Duration = Duration::from_secs(60);

/// One-request uploads in progress per user, bounded like resumable ones
/// (`files.max_concurrent_uploads`): each holds buffers, descriptors and
/// staged bytes while it lasts.
#[derive(Default)]
struct UserSlots(Arc<Mutex<HashMap<UserId, u32>>>);

/// A place taken in [`UserSlots`], given back when dropped.
struct UserSlot(Arc<Mutex<HashMap<UserId, u32>>>, UserId);

impl UserSlots {
    fn enter(&self, user: UserId, max: u32) -> Result<UserSlot, ApiError> {
        let mut counts = self.0.lock().expect("upload slots poisoned");
        let n = counts.entry(user).or_default();
        if *n >= max {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("{n} uploads of yours are in progress; wait for one to finish"),
            ));
        }
        *n += 1;
        Ok(UserSlot(Arc::clone(&self.0), user))
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut counts = self.0.lock().expect("upload slots poisoned");
        if let Some(n) = counts.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.1);
            }
        }
    }
}

/// What the server found the content of a new file to be.
struct Content {
    sha256: Sha256,
    size: u64,
    mime: String,
    width: u32,
    height: u32,
}

/// What an upload says about itself.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub name: String,
    /// "" = none.
    pub mime: String,
    /// Checked against the content when given.
    pub sha256: Option<Sha256>,
}

/// The file service of a node.
pub struct Files {
    store: Arc<dyn Store>,
    blobs: Blobs,
    staging: Staging,
    config: FilesConfig,
    signer: Signer,
    thumbnails: mpsc::Sender<String>,
    /// Images being decoded for thumbnails at once: at most one per core.
    decoders: tokio::sync::Semaphore,
    /// Files whose image failed to decode (no thumbnail; not tried again).
    undecodable: Mutex<std::collections::HashSet<String>>,
    /// Files whose thumbnail is being made (single flight).
    making: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    uploads: uploads::Active,
    simple_uploads: UserSlots,
    /// Groups show new members their whole history (files included).
    full_history: bool,
    /// One node of several: an upload staged elsewhere is another node's,
    /// not lost.
    clustered: bool,
}

impl Files {
    /// Opens the blob store and the staging directory, loads (or creates)
    /// the signing key, and starts the thumbnail worker and the sweeper,
    /// which stop with `shutdown`.
    pub async fn start(
        store: Arc<dyn Store>,
        config: &crate::config::Config,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, String> {
        let blobs = Blobs::open(config).map_err(|e| format!("opening the blob store: {e}"))?;
        let staging = Staging::new(config.uploads_dir())
            .map_err(|e| format!("creating {}: {e}", config.uploads_dir().display()))?;
        let mut candidate = vec![0u8; 32];
        rand::Fill::fill(&mut candidate[..], &mut rand::rng());
        let key = store.server_secret("file_urls", candidate).await.map_err(|e| e.to_string())?;
        let (thumbnails, queue) = mpsc::channel(THUMBNAIL_QUEUE);
        let files = Arc::new(Self {
            store,
            blobs,
            staging,
            config: config.files.clone(),
            signer: Signer::new(key),
            thumbnails,
            making: Mutex::new(HashMap::new()),
            undecodable: Mutex::new(std::collections::HashSet::new()),
            decoders: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            ),
            uploads: uploads::Active::default(),
            simple_uploads: UserSlots::default(),
            full_history: config.groups.history_for_new_members == crate::config::HistoryVisibility::Full,
            clustered: config.cluster.bus != crate::config::BusKind::Local,
        });
        tokio::spawn(Arc::clone(&files).thumbnail_worker(queue, shutdown.clone()));
        tokio::spawn(Arc::clone(&files).sweeper(shutdown));
        Ok(files)
    }

    /// The configuration this service runs with.
    pub fn config(&self) -> &FilesConfig {
        &self.config
    }

    /// Which blob backend stores content ("local" or "s3").
    pub fn backend(&self) -> &'static str {
        self.blobs.kind()
    }

    /// Uploads a whole file in one request: the body is staged and hashed
    /// as it streams, at most `max_simple_upload_bytes`.
    pub async fn upload<S, E>(
        &self,
        user: UserId,
        declared: Declared,
        length: Option<u64>,
        mut body: S,
    ) -> Result<FileObject, ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        check_declared(&declared)?;
        let limit = self.config.max_simple_upload_bytes.min(self.config.max_file_bytes);
        if let Some(len) = length {
            if len > limit {
                return Err(too_large(limit, "use a resumable upload (/api/v1/uploads) for bigger files"));
            }
            self.check_quota(user, len).await?;
        }
        let _slot = self.simple_uploads.enter(user, self.config.max_concurrent_uploads)?;
        let staging_id = format!("s-{}", random_id());
        // Whatever ends this request (an error, the client gone, a
        // cancelled handler), the staged bytes go with it.
        let _cleanup = staging::Cleanup::new(self.staging.path(&staging_id));
        let mut staged = self.staging.create(&staging_id).await.map_err(io_err)?;
        loop {
            let chunk = match tokio::time::timeout(BODY_IDLE, body.next()).await {
                Ok(Some(Ok(c))) => c,
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    staged.abandon().await;
                    return Err(ApiError::bad_request(format!("reading the upload failed: {e}")));
                }
                Err(_) => {
                    staged.abandon().await;
                    return Err(ApiError::bad_request("the upload sent nothing for a minute"));
                }
            };
            if staged.len() + chunk.len() as u64 > limit {
                staged.abandon().await;
                return Err(too_large(limit, "use a resumable upload (/api/v1/uploads) for bigger files"));
            }
            staged = staged.write(&chunk).await.map_err(io_err)?;
        }
        if staged.is_empty() {
            staged.abandon().await;
            return Err(ApiError::invalid("the file is empty"));
        }
        if length.is_some_and(|len| len != staged.len()) {
            staged.abandon().await;
            return Err(ApiError::bad_request("the body is shorter than its Content-Length"));
        }
        self.publish(user, staged, &declared).await
    }

    /// Turns complete staged content into a file: checks the digest, the
    /// type and (for images) the pixel count, then records the file and
    /// stores the bytes unless the same content is stored already. The
    /// staged file stays either way: the caller removes it (a one-request
    /// upload at once; a resumable one once it is marked finished, or
    /// discarded when refused — and kept when publishing failed for a
    /// reason of the server's own, [`failed_here`], to be finished later).
    pub async fn publish(&self, user: UserId, staged: Staged, declared: &Declared) -> Result<FileObject, ApiError> {
        let (sha256, size, head, path) = staged.finish().await.map_err(io_err)?;
        self.publish_staged(user, sha256, size, &head, &path, declared).await
    }

    async fn publish_staged(
        &self,
        user: UserId,
        sha256: Sha256,
        size: u64,
        head: &[u8],
        path: &Path,
        declared: &Declared,
    ) -> Result<FileObject, ApiError> {
        if declared.sha256.is_some_and(|expected| expected != sha256) {
            return Err(ApiError::new(
                ErrorCode::ChecksumMismatch,
                format!("the content's SHA-256 is {}, not the one announced", blobs::hex(&sha256)),
            ));
        }
        let mime = sniff(head, &declared.mime);
        self.check_type(&mime)?;
        self.check_declared_type(&declared.mime)?;
        let (width, height) = if images::decodable(&mime) {
            let (p, max) = (path.to_path_buf(), self.config.max_image_pixels);
            match tokio::task::spawn_blocking(move || images::probe(&p, max)).await.map_err(join_err)? {
                Probe::TooLarge { width, height } => return Err(image_too_large(width, height, max)),
                Probe::Image { width, height } => (width, height),
                Probe::NotImage => (0, 0),
            }
        } else {
            (0, 0)
        };
        let content = Content { sha256, size, mime, width, height };
        self.record(user, content, declared.name.clone(), Some(path)).await
    }

    /// Records a new file of `user`'s with `content` (stored from `path`
    /// unless live content has it; `None`: only claim live content), and
    /// queues an image's thumbnail.
    async fn record(
        &self,
        user: UserId,
        content: Content,
        name: String,
        path: Option<&Path>,
    ) -> Result<FileObject, ApiError> {
        let Content { sha256, size, mime, width, height } = content;
        let new = NewFile {
            id: random_id(),
            owner: user,
            sha256,
            size,
            mime,
            name,
            created_at: now_ms(),
            width,
            height,
            thumbnail_of: None,
            key: None,
            quota: self.quota(),
        };
        let file = self.create(new, path).await?;
        if file.width > 0 && self.thumbnails.try_send(file.id.clone()).is_err() {
            tracing::debug!(file = %file.id, "thumbnail queue full; made on first request");
        }
        Ok(file)
    }

    /// Records `new`, claiming stored content if there is some, else
    /// storing `path`'s bytes under a new key (`path: None`: only claim).
    async fn create(&self, mut new: NewFile, path: Option<&Path>) -> Result<FileObject, ApiError> {
        match self.store.create_file(new.clone()).await.map_err(store_error)? {
            CreateFile::Created { file, .. } => return Ok(file),
            CreateFile::OverQuota { used } => return Err(over_quota(used, new.size, new.quota)),
            CreateFile::NoBlob => {}
        }
        let Some(path) = path else {
            return Err(ApiError::not_found("no stored content with this digest and size"));
        };
        let key = Blobs::new_key(&new.sha256);
        self.blobs.publish(path, &key).await.map_err(blob_err)?;
        new.key = Some(key.clone());
        match self.store.create_file(new.clone()).await {
            Ok(CreateFile::Created { file, redundant_key }) => {
                if let Some(k) = redundant_key {
                    // The same content was stored meanwhile: ours is not needed.
                    self.delete_blob(&k).await;
                }
                Ok(file)
            }
            Ok(CreateFile::OverQuota { used }) => {
                self.delete_blob(&key).await;
                Err(over_quota(used, new.size, new.quota))
            }
            Ok(CreateFile::NoBlob) => unreachable!("a key was given"),
            Err(e) => {
                self.delete_blob(&key).await;
                Err(store_error(e))
            }
        }
    }

    async fn delete_blob(&self, key: &str) {
        if let Err(e) = self.blobs.delete(key).await {
            tracing::warn!(key, error = %e, "deleting unneeded content failed; the sweep of orphans will");
        }
    }

    fn quota(&self) -> u64 {
        match self.config.quota_bytes_per_user {
            0 => u64::MAX,
            q => q,
        }
    }

    /// Refuses `size` more bytes when they would exceed `user`'s quota
    /// (checked again, atomically, when the file is recorded).
    pub async fn check_quota(&self, user: UserId, size: u64) -> Result<(), ApiError> {
        let quota = self.quota();
        if quota == u64::MAX {
            return Ok(());
        }
        let (used, _) = self.store.storage_used(user).await.map_err(store_error)?;
        if used.saturating_add(size) > quota {
            return Err(over_quota(used, size, quota));
        }
        Ok(())
    }

    /// What `user` stores: (bytes, files, quota; 0 = none).
    pub async fn usage(&self, user: UserId) -> Result<(u64, u64, u64), ApiError> {
        let (bytes, files) = self.store.storage_used(user).await.map_err(store_error)?;
        Ok((bytes, files, self.config.quota_bytes_per_user))
    }

    /// Refuses a type the configuration does not accept.
    pub fn check_type(&self, mime: &str) -> Result<(), ApiError> {
        if !type_accepted(&self.config, mime) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("files of type {mime} are not accepted"),
            ));
        }
        Ok(())
    }

    /// Refuses a declared type on the block list, whatever the content
    /// sniffs as (a client saying "executable" is taken at its word).
    fn check_declared_type(&self, declared: &str) -> Result<(), ApiError> {
        let essence = declared.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence.is_empty() {
            return Ok(());
        }
        let blocked_only = FilesConfig { allowed_mime: Vec::new(), ..self.config.clone() };
        if !type_accepted(&blocked_only, &essence) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("files declared as {essence} are not accepted"),
            ));
        }
        Ok(())
    }

    /// File `id` if `user` may read it, else `not_found` (whether or not it
    /// exists).
    pub async fn readable(&self, user: UserId, id: &str) -> Result<FileObject, ApiError> {
        if ferry_core::content::file_id("id", id).is_err() {
            return Err(ApiError::not_found("no such file"));
        }
        self.store
            .readable_file(user, id, self.full_history)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found("no such file"))
    }

    /// Streams bytes `range` of `file`.
    pub async fn read(&self, file: &FileObject, range: std::ops::Range<u64>) -> Result<ByteStream, ApiError> {
        self.blobs.read(&file.key, range).await.map_err(blob_err)
    }

    /// The thumbnail of `file` (readable by whoever reads `file`), made now
    /// if it does not exist yet; `not_found` for files without one.
    pub async fn thumbnail(&self, file: &FileObject) -> Result<FileObject, ApiError> {
        self.make_thumbnail(file).await?.ok_or_else(|| ApiError::not_found("this file has no thumbnail"))
    }

    async fn make_thumbnail(&self, file: &FileObject) -> Result<Option<FileObject>, ApiError> {
        if let Some(t) = &file.thumbnail {
            return self.store.file(t).await.map_err(store_error);
        }
        if file.width == 0 || !images::decodable(&file.mime) || file.thumbnail_of.is_some() {
            return Ok(None);
        }
        // Decoders hold much of a file in memory (JPEG's all of it). A real
        // image is smaller than its raw pixels; one that is not carries
        // something else (gigabytes after a small image) and gets no
        // thumbnail. Nor does one that failed to decode before.
        let raw = u64::from(file.width) * u64::from(file.height) * 8;
        if file.size > raw + (1 << 20) || self.undecodable.lock().expect("poisoned").contains(&file.id) {
            return Ok(None);
        }
        let lock = {
            let mut making = self.making.lock().expect("thumbnail lock poisoned");
            Arc::clone(making.entry(file.id.clone()).or_default())
        };
        // The entry goes when this request ends, even if it is cancelled.
        struct Done<'a>(&'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>, &'a str);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.lock().expect("thumbnail lock poisoned").remove(self.1);
            }
        }
        let _done = Done(&self.making, &file.id);
        let _guard = lock.lock().await;
        self.make_thumbnail_once(&file.id).await
    }

    async fn make_thumbnail_once(&self, id: &str) -> Result<Option<FileObject>, ApiError> {
        // Made meanwhile by another request, or the file is gone?
        let Some(file) = self.store.file(id).await.map_err(store_error)? else { return Ok(None) };
        if let Some(t) = &file.thumbnail {
            return self.store.file(t).await.map_err(store_error);
        }
        // Decoding is CPU- and memory-heavy: a bounded number at once, and
        // a copy of an S3 blob is made only once it is this one's turn.
        let permit = self.decoders.acquire().await.map_err(|_| ApiError::internal())?;
        let mut _copy = None;
        let source = match self.blobs.local_path(&file.key) {
            Some(path) => path,
            None => {
                let source = self.staging.path(&format!("t-{}", random_id()));
                _copy = Some(staging::Cleanup::new(source.clone()));
                let mut body = self.blobs.read(&file.key, 0..file.size).await.map_err(blob_err)?;
                let mut out = tokio::fs::File::create(&source).await.map_err(io_err)?;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(blob_err)?;
                    tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await.map_err(io_err)?;
                }
                source
            }
        };
        let (edge, max) = (self.config.thumbnail_edge, self.config.max_image_pixels);
        let made =
            tokio::task::spawn_blocking(move || images::thumbnail(&source, edge, max)).await.map_err(join_err)?;
        drop(permit);
        drop(_copy);
        let thumb = match made {
            Ok(t) => t,
            Err(e) => {
                tracing::info!(file = %file.id, error = %e, "no thumbnail: the image does not decode");
                let mut undecodable = self.undecodable.lock().expect("poisoned");
                if undecodable.len() >= UNDECODABLE_REMEMBERED {
                    undecodable.clear();
                }
                undecodable.insert(file.id.clone());
                return Ok(None);
            }
        };
        let staging_id = format!("t-{}", random_id());
        let _staged_cleanup = staging::Cleanup::new(self.staging.path(&staging_id));
        let staged =
            self.staging.create(&staging_id).await.map_err(io_err)?.write(&thumb.bytes).await.map_err(io_err)?;
        let (sha256, size, _, path) = staged.finish().await.map_err(io_err)?;
        let stem = file.name.rsplit_once('.').map_or(file.name.as_str(), |(stem, _)| stem);
        let ext = if thumb.mime == "image/png" { "png" } else { "jpg" };
        let new = NewFile {
            id: random_id(),
            owner: file.owner,
            sha256,
            size,
            mime: thumb.mime.to_string(),
            name: truncate_chars(&format!("{stem}.thumb.{ext}"), ferry_core::content::MAX_FILE_NAME_CHARS),
            created_at: now_ms(),
            width: thumb.width,
            height: thumb.height,
            thumbnail_of: Some(file.id.clone()),
            key: None,
            quota: u64::MAX,
        };
        let created = self.create(new, Some(&path)).await;
        let _ = tokio::fs::remove_file(&path).await;
        let created = created?;
        self.store.set_thumbnail(&file.id, &created.id).await.map_err(store_error)?;
        Ok(Some(created))
    }

    async fn thumbnail_worker(self: Arc<Self>, mut queue: mpsc::Receiver<String>, shutdown: CancellationToken) {
        loop {
            let id = tokio::select! {
                _ = shutdown.cancelled() => return,
                id = queue.recv() => match id { Some(id) => id, None => return },
            };
            let file = match self.store.file(&id).await {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(file = %id, error = %e, "reading a file for its thumbnail failed");
                    continue;
                }
            };
            if let Err(e) = self.make_thumbnail(&file).await {
                tracing::warn!(file = %id, error = %e.message, "making a thumbnail failed");
            }
        }
    }

    /// Deletes `id`, which must be `user`'s own; the content goes once no
    /// other file object uses it.
    pub async fn delete(&self, user: UserId, id: &str) -> Result<(), ApiError> {
        let file = self.store.file(id).await.map_err(store_error)?;
        if file.as_ref().is_none_or(|f| f.owner != user || f.thumbnail_of.is_some()) {
            return Err(ApiError::not_found("no such file of yours"));
        }
        self.store.delete_file(id).await.map_err(store_error)?;
        Ok(())
    }

    /// A download URL of `id` for `user`, signed, and when it expires (ms).
    pub fn signed_url(&self, user: UserId, id: &str, thumbnail: bool) -> (String, i64) {
        self.signer.url(user, id, thumbnail, self.config.url_ttl_secs, now_ms())
    }

    /// Checks a signed URL's parameters; the user it was issued to.
    pub fn verify_url(&self, id: &str, user: UserId, expires: i64, signature: &str) -> Result<UserId, ApiError> {
        self.signer.verify(id, user, expires, signature, now_ms())
    }

    /// Instant upload, step 1: if live content has this digest and size,
    /// a challenge on a random range of it.
    pub async fn instant_challenge(
        &self,
        user: UserId,
        sha256: Sha256,
        size: u64,
    ) -> Result<signing::Challenge, ApiError> {
        // The quota first: a refusal tells nothing about what is stored.
        self.check_quota(user, size).await?;
        self.store
            .live_blob(sha256, size)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found("no stored content with this digest and size; upload it"))?;
        Ok(self.signer.challenge(user, sha256, size, now_ms()))
    }

    /// Instant upload, step 2: checks the proof against the stored bytes
    /// and records a new file of `user`'s with that content.
    pub async fn instant_prove(
        &self,
        user: UserId,
        token: &str,
        proof: &str,
        declared: Declared,
    ) -> Result<FileObject, ApiError> {
        check_declared(&declared)?;
        let c = self.signer.open_challenge(user, token, now_ms())?;
        let blob = self
            .store
            .live_blob(c.sha256, c.size)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found("the content is no longer stored; upload it"))?;
        let range = self.blobs.read_range(&blob.key, c.offset..c.offset + c.length).await.map_err(blob_err)?;
        let mut hasher = sha2::Sha256::new();
        hasher.update(c.nonce);
        hasher.update(&range);
        let expected = blobs::hex(&hasher.finalize());
        if !signing::same(expected.as_bytes(), proof.to_ascii_lowercase().as_bytes()) {
            return Err(ApiError::forbidden("the proof does not match the content"));
        }
        // The type and an image's size come from the stored copy's head.
        let head = self.blobs.read_range(&blob.key, 0..c.size.min(PROBE_BYTES)).await.map_err(blob_err)?;
        let mime = sniff(&head[..head.len().min(staging::SNIFF_BYTES)], &declared.mime);
        self.check_type(&mime)?;
        let (width, height) = match images::decodable(&mime) {
            true => match images::probe_bytes(&head, self.config.max_image_pixels) {
                Probe::TooLarge { width, height } => {
                    return Err(image_too_large(width, height, self.config.max_image_pixels));
                }
                Probe::Image { width, height } => (width, height),
                Probe::NotImage => (0, 0),
            },
            false => (0, 0),
        };
        let content = Content { sha256: c.sha256, size: c.size, mime, width, height };
        self.record(user, content, declared.name, None).await
    }

    /// Every `sweep_interval_secs`: discards expired uploads, deletes
    /// content no file uses any more, and closes idle staged files.
    async fn sweeper(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(self.config.sweep_interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %e.message, "sweeping files failed");
            }
        }
    }

    /// One sweep (also called by tests).
    pub async fn sweep(&self) -> Result<(), ApiError> {
        loop {
            let expired = self.store.expired_uploads(now_ms(), 100).await.map_err(store_error)?;
            for u in &expired {
                self.uploads.forget(&u.id);
                self.staging.remove(&u.id).await;
                self.store.delete_upload(&u.id).await.map_err(store_error)?;
            }
            if expired.len() < 100 {
                break;
            }
        }
        loop {
            let gone = self.store.sweep_blobs(100).await.map_err(store_error)?;
            for b in &gone {
                self.delete_blob(&b.key).await;
            }
            if gone.len() < 100 {
                break;
            }
        }
        self.uploads.close_idle(Duration::from_secs(600));
        self.staging.remove_stale(Duration::from_secs(self.config.upload_expiry_secs), SCRATCH_AGE).await;
        Ok(())
    }
}

/// The type to record: what the content's first bytes say, unless they say
/// nothing; the declared type when it names the same format (a browser's
/// `audio/webm` voice note sniffs as `video/webm`); text when it reads as
/// text; else `application/octet-stream`.
pub fn sniff(head: &[u8], declared: &str) -> String {
    let declared = declared.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let valid = !declared.is_empty() && ferry_core::content::mime("mime", &declared).is_ok();
    if let Some(kind) = infer::get(head) {
        let sniffed = kind.mime_type();
        return if valid && same_format(&declared, sniffed) { declared } else { sniffed.to_string() };
    }
    let text = !head.contains(&0) && (std::str::from_utf8(head).is_ok() || utf8_cut(head));
    match (text, valid) {
        (true, true) if declared.starts_with("text/") || TEXT_TYPES.contains(&declared.as_str()) => declared,
        (true, _) => "text/plain".into(),
        _ => "application/octet-stream".into(),
    }
}

/// Whether the configuration accepts files of type `mime`: not blocked,
/// and allowed (if there is an allow list). A pattern `type/*` matches
/// `mime`'s type; an exact one `mime` or another name of its format
/// ([`ALIASES`]).
fn type_accepted(config: &FilesConfig, mime: &str) -> bool {
    let alone = [mime];
    let names = ALIASES.iter().find(|names| names.contains(&mime)).map_or(&alone[..], |names| *names);
    let matches = |pattern: &String| match pattern.strip_suffix("/*") {
        Some(t) => mime.split('/').next() == Some(t),
        None => names.contains(&pattern.as_str()),
    };
    !config.blocked_mime.iter().any(matches)
        && (config.allowed_mime.is_empty() || config.allowed_mime.iter().any(matches))
}

/// Names of one format: the one `infer` sniffs first, then the ones
/// browsers, servers and administrators use for it. Without them,
/// `blocked_mime = ["application/x-msdownload"]` would let through every
/// Windows executable, which sniffs as
/// `application/vnd.microsoft.portable-executable`.
const ALIASES: &[&[&str]] = &[
    &[
        "application/vnd.microsoft.portable-executable",
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-ms-dos-executable",
        "application/exe",
    ],
    &["application/x-executable", "application/x-elf", "application/x-sharedlib"],
    &["application/x-mach-binary", "application/x-mach-o-executable"],
    &["text/x-shellscript", "application/x-sh", "application/x-shellscript"],
    &["application/gzip", "application/x-gzip"],
    &["application/zip", "application/x-zip-compressed"],
    &["application/vnd.rar", "application/x-rar-compressed", "application/x-rar"],
    &["audio/x-wav", "audio/wav", "audio/wave"],
    &["audio/x-flac", "audio/flac"],
    &["image/vnd.microsoft.icon", "image/x-icon"],
];

/// Whether a declared type names the format `infer` sniffed: the same
/// type, another name of it ([`ALIASES`]), or the audio or video kind of a
/// container that holds either (a browser's `audio/webm` voice note sniffs
/// as `video/webm`). Nothing else: a declared type never moves content
/// into another top-level type (`video/zip` stays `application/zip`).
fn same_format(declared: &str, sniffed: &str) -> bool {
    const AV_CONTAINERS: &[&str] = &["webm", "mp4", "ogg", "x-matroska", "3gpp", "quicktime", "mpeg"];
    fn av(m: &str) -> Option<&str> {
        match m.split_once('/') {
            Some(("audio" | "video", sub)) => AV_CONTAINERS.contains(&sub).then_some(sub),
            _ => None,
        }
    }
    declared == sniffed
        || ALIASES.iter().any(|names| names.contains(&declared) && names.contains(&sniffed))
        || av(declared).is_some_and(|d| av(sniffed) == Some(d))
}

/// Declared types taken for content that reads as text.
const TEXT_TYPES: &[&str] = &["application/json", "application/xml", "application/javascript", "image/svg+xml"];

/// Valid UTF-8 but for a character cut at the end of the sniffed head.
fn utf8_cut(head: &[u8]) -> bool {
    std::str::from_utf8(head).err().is_some_and(|e| e.error_len().is_none() && head.len() - e.valid_up_to() < 4)
}

fn check_declared(d: &Declared) -> Result<(), ApiError> {
    ferry_core::content::file_name("name", &d.name)?;
    if !d.mime.is_empty() {
        let essence = d.mime.split(';').next().unwrap_or_default().trim();
        ferry_core::content::mime("mime", essence)?;
    }
    Ok(())
}

/// A new random id (22 characters of `[A-Za-z0-9_-]`, 128 bits).
pub fn random_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Whether an upload failed because of the server (storage unavailable,
/// I/O), not because of what was uploaded: its bytes are worth keeping.
fn failed_here(e: &ApiError) -> bool {
    matches!(e.code, ErrorCode::Unavailable | ErrorCode::Internal)
}

fn too_large(limit: u64, hint: &str) -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, format!("the file is larger than {limit} bytes; {hint}"))
}

fn over_quota(used: u64, size: u64, quota: u64) -> ApiError {
    ApiError::new(
        ErrorCode::QuotaExceeded,
        format!("storing {size} more bytes would exceed your quota ({used} of {quota} bytes used)"),
    )
}

fn image_too_large(width: u32, height: u32, max: u64) -> ApiError {
    ApiError::new(
        ErrorCode::ImageTooLarge,
        format!("the image is {width}x{height} pixels; at most {max} pixels are accepted"),
    )
}

fn io_err(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "file staging I/O failed");
    ApiError::internal()
}

fn join_err(e: tokio::task::JoinError) -> ApiError {
    tracing::error!(error = %e, "a blocking file task failed");
    ApiError::internal()
}

fn blob_err(e: BlobError) -> ApiError {
    match e {
        BlobError::NotFound(key) => {
            tracing::error!(key, "a recorded blob is missing from the blob store");
            ApiError::new(ErrorCode::Unavailable, "the file's content is unavailable")
        }
        BlobError::Backend(detail) => {
            tracing::error!(error = %detail, "the blob store failed");
            ApiError::new(ErrorCode::Unavailable, "file storage is unavailable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_trusts_content_over_declarations() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png, "application/pdf"), "image/png");
        assert_eq!(sniff(png, ""), "image/png");
        let webm =
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm";
        assert_eq!(sniff(webm, "audio/webm;codecs=opus"), "audio/webm", "same format, declared kind");
        assert_eq!(sniff(webm, "image/webm"), "video/webm", "not an audio/video kind: the sniffed type");
        let zip = b"PK\x03\x04\x14\0\0\0\x08\0";
        assert_eq!(sniff(zip, "video/zip"), "application/zip", "no move into another top-level type");
        assert_eq!(sniff(zip, "application/x-zip-compressed"), "application/x-zip-compressed", "an alias");
        assert_eq!(sniff("纯文本 plain".as_bytes(), "text/markdown"), "text/markdown");
        assert_eq!(sniff(b"{\"a\":1}", "application/json"), "application/json");
        assert_eq!(sniff(b"<html><body>", "image/png"), "text/html", "recognised markup is what it is");
        assert_eq!(sniff(b"just words", "application/x-msdownload"), "text/plain", "text stays text");
        assert_eq!(sniff(b"\0\x01\x02binary", "text/plain"), "application/octet-stream");
        let cut = &"日本語".as_bytes()[..7];
        assert_eq!(sniff(cut, ""), "text/plain", "a character cut at the sniff boundary");
    }

    #[test]
    fn type_rules() {
        let rules = |allowed: &[&str], blocked: &[&str]| FilesConfig {
            allowed_mime: allowed.iter().map(|s| s.to_string()).collect(),
            blocked_mime: blocked.iter().map(|s| s.to_string()).collect(),
            ..FilesConfig::default()
        };
        let check = type_accepted;
        assert!(check(&rules(&[], &[]), "application/x-msdownload"));
        assert!(!check(&rules(&[], &["application/x-msdownload"]), "application/x-msdownload"));
        assert!(check(&rules(&["image/*"], &[]), "image/png"));
        assert!(!check(&rules(&["image/*"], &[]), "video/mp4"));
        assert!(!check(&rules(&["image/*"], &["image/svg+xml"]), "image/svg+xml"));
        // Another name of the same format: what infer calls a PE executable.
        let pe = "application/vnd.microsoft.portable-executable";
        assert_eq!(infer::get(b"MZ\x90\0").map(|k| k.mime_type()), Some(pe));
        assert!(!check(&rules(&[], &["application/x-msdownload"]), pe));
        assert!(!check(&rules(&[], &[pe]), "application/x-msdownload"));
        assert!(check(&rules(&["application/x-msdownload"], &[]), pe));
        assert!(check(&rules(&[], &["application/x-msdownload"]), "application/zip"));
    }
}
