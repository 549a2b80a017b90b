//! The blob store: where file content lives, behind one interface with two
//! backends — a local directory (the embedded default) and an
//! S3-compatible bucket — both through the `object_store` crate.
//!
//! Content arrives complete and verified in a *staged* file on local disk
//! (see `staging.rs`) and is *published* under a key no other content ever
//! had ([`Blobs::new_key`]), atomically: the local backend renames the staged
//! file into place, S3 completes a multipart upload only after the last
//! part. Nothing points to a key before it is published (the store row is
//! written after), so a reader never sees part of a file.
//!
//! Reads stream: the local backend reads the file itself in large chunks
//! (`object_store`'s local streams go 8 KiB at a time), S3 streams the
//! response body.

use std::{
    io::{Read, Seek, SeekFrom},
    ops::Range,
    path::{Path, PathBuf},
    sync::Arc,
};

use bytes::Bytes;
use futures_util::{StreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart, aws::AmazonS3Builder,
    local::LocalFileSystem, path::Path as Key, prefix::PrefixStore,
};
use tokio::io::AsyncReadExt;

use crate::config::{BlobBackend, Config};

/// Bytes read from a local file per chunk of a download.
const LOCAL_READ_CHUNK: usize = 256 * 1024;

/// Part size of an S3 multipart upload (5 MiB is S3's minimum but for the
/// last part), and how many parts are in flight at once: what a publish
/// holds in memory.
const S3_PART: usize = 8 << 20;
const S3_PARTS_IN_FLIGHT: usize = 2;

/// Failures of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no such blob {0}")]
    NotFound(String),
    #[error("blob store: {0}")]
    Backend(String),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => Self::NotFound(path),
            e => Self::Backend(e.to_string()),
        }
    }
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// A stream of a blob's bytes.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// The blob store of a node.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The local backend's directory (reads and publishes go to the file
    /// system directly).
    local: Option<PathBuf>,
}

impl Blobs {
    /// The backend `config.files` names.
    pub fn open(config: &Config) -> Result<Self, BlobError> {
        match config.files.backend {
            BlobBackend::Local => Self::local(config.files_dir()),
            BlobBackend::S3 => {
                let s3 = &config.files.s3;
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_allow_http(s3.allow_http)
                    .with_virtual_hosted_style_request(!s3.path_style);
                for (value, set) in [
                    (&s3.region, AmazonS3Builder::with_region as fn(AmazonS3Builder, String) -> AmazonS3Builder),
                    (&s3.endpoint, AmazonS3Builder::with_endpoint),
                    (&s3.access_key_id, AmazonS3Builder::with_access_key_id),
                    (&s3.secret_access_key, AmazonS3Builder::with_secret_access_key),
                ] {
                    if !value.is_empty() {
                        builder = set(builder, value.clone());
                    }
                }
                let store: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
                let store =
                    if s3.prefix.is_empty() { store } else { Arc::new(PrefixStore::new(store, s3.prefix.as_str())) };
                Ok(Self { store, local: None })
            }
        }
    }

    /// A local directory, created if missing.
    pub fn local(dir: PathBuf) -> Result<Self, BlobError> {
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        let store = LocalFileSystem::new_with_prefix(&dir)?;
        Ok(Self { store: Arc::new(store), local: Some(dir) })
    }

    /// Which backend this is, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        if self.local.is_some() { "local" } else { "s3" }
    }

    /// A key for new content with this digest: never used before, so that
    /// bytes being deleted under an old key can never be the bytes a new
    /// row points to.
    pub fn new_key(sha256: &[u8; 32]) -> String {
        let hex = hex(sha256);
        format!("blobs/{}/{}-{:016x}", &hex[..2], hex, rand::random::<u64>())
    }

    /// Stores the complete, verified file at `staged` under `key`. The
    /// staged file stays (the local backend hard-links it into place): the
    /// caller removes it once the store recorded what it became, so a crash
    /// in between leaves an upload that can still be finished.
    pub async fn publish(&self, staged: &Path, key: &str) -> Result<(), BlobError> {
        if let Some(root) = &self.local {
            let target = root.join(key);
            let staged = staged.to_path_buf();
            return tokio::task::spawn_blocking(move || publish_local(&staged, &target))
                .await
                .map_err(|e| BlobError::Backend(e.to_string()))?;
        }
        let upload = self.store.put_multipart(&Key::from(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART);
        let mut file = tokio::fs::File::open(staged).await?;
        let mut buf = vec![0u8; 1 << 20];
        let written: Result<(), BlobError> = async {
            loop {
                writer.wait_for_capacity(S3_PARTS_IN_FLIGHT).await?;
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                writer.write(&buf[..n]);
            }
        }
        .await;
        match written {
            Ok(()) => {
                writer.finish().await?;
            }
            Err(e) => {
                // Nothing was published; the parts are discarded.
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Streams bytes `range` of the blob at `key` (`range` within its size).
    pub async fn read(&self, key: &str, range: Range<u64>) -> Result<ByteStream, BlobError> {
        if let Some(root) = &self.local {
            let path = root.join(key);
            let file = tokio::task::spawn_blocking(move || -> Result<std::fs::File, BlobError> {
                let mut file = std::fs::File::open(&path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => BlobError::NotFound(path.display().to_string()),
                    _ => e.into(),
                })?;
                file.seek(SeekFrom::Start(range.start))?;
                Ok(file)
            })
            .await
            .map_err(|e| BlobError::Backend(e.to_string()))??;
            return Ok(local_stream(file, range.end - range.start));
        }
        if range.is_empty() {
            return Ok(futures_util::stream::empty().boxed());
        }
        let options = GetOptions { range: Some(GetRange::Bounded(range)), ..GetOptions::default() };
        let got = self.store.get_opts(&Key::from(key), options).await?;
        match got.payload {
            GetResultPayload::Stream(s) => Ok(s.map(|r| r.map_err(BlobError::from)).boxed()),
            GetResultPayload::File(file, _) => {
                let len = got.range.end - got.range.start;
                let mut file = file;
                file.seek(SeekFrom::Start(got.range.start))?;
                Ok(local_stream(file, len))
            }
        }
    }

    /// Where the blob at `key` is on the local file system (local backend
    /// only): readers that need a file (image decoders) use it in place.
    pub fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.local.as_ref().map(|root| root.join(key))
    }

    /// Bytes `range` of the blob at `key`, in memory (small ranges only).
    pub async fn read_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        Ok(self.store.get_range(&Key::from(key), range).await?)
    }

    /// The size of the blob at `key`.
    pub async fn size(&self, key: &str) -> Result<u64, BlobError> {
        Ok(self.store.head(&Key::from(key)).await?.size)
    }

    /// Deletes the blob at `key`; deleting a missing blob is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store.delete(&Key::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Renames `staged` to `target` durably; across file systems, copies to a
/// temporary file next to `target` first, then renames that.
fn publish_local(staged: &Path, target: &Path) -> Result<(), BlobError> {
    let dir = target.parent().ok_or_else(|| BlobError::Backend("a blob key needs a directory".into()))?;
    std::fs::create_dir_all(dir)?;
    // A second name for the synced bytes, atomically; across file systems,
    // a synced copy renamed into place.
    if std::fs::hard_link(staged, target).is_err() {
        let tmp = target.with_extension("partial");
        std::fs::copy(staged, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, target)?;
    }
    // The new directory entry must survive a crash once the row exists.
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// `len` bytes from `file`'s current position, read on the blocking pool in
/// [`LOCAL_READ_CHUNK`] pieces.
fn local_stream(file: std::fs::File, len: u64) -> ByteStream {
    futures_util::stream::try_unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        tokio::task::spawn_blocking(move || {
            let want = left.min(LOCAL_READ_CHUNK as u64) as usize;
            // Read into spare capacity: no zeroing of a buffer about to be
            // overwritten.
            let mut buf = Vec::with_capacity(want);
            (&mut file).take(want as u64).read_to_end(&mut buf)?;
            if buf.len() < want {
                return Err(BlobError::Backend("the blob is shorter than its record".into()));
            }
            Ok(Some((Bytes::from(buf), (file, left - want as u64))))
        })
        .await
        .map_err(|e| BlobError::Backend(e.to_string()))?
    })
    .boxed()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
