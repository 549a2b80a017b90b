//! Staged uploads: content on its way in, written to a file on local disk
//! (`<data_dir>/uploads/<id>.part`) and hashed as it streams, until it is
//! complete and verified and the blob store takes it (`blobs.rs`).
//!
//! What counts as received is the *durable offset* the store records for
//! the upload, written only after the file is synced up to it. After a
//! crash the file may hold more than that (written, never recorded) or the
//! tail may be garbage: [`Staging::resume`] cuts it back to the recorded
//! offset and re-hashes what stays, so a resumed upload hashes exactly the
//! bytes it keeps.
//!
//! Writes are buffered ([`BUFFER`]) and handed to the blocking pool with
//! the hasher, so neither disk writes nor hashing run on the async
//! workers, and an upload holds at most two buffers in memory (one
//! filling while the other is written).

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

/// Bytes gathered before one write to disk (an upload holds two buffers:
/// one filling, one being written).
const BUFFER: usize = 256 * 1024;

/// How much of the beginning of the content is kept for type sniffing.
pub const SNIFF_BYTES: usize = 8192;

/// Removes a staged file when dropped: what a one-request upload or a
/// thumbnail leaves behind when it fails or its request is cancelled
/// (nothing resumes those).
#[derive(Debug)]
pub struct Cleanup(PathBuf);

impl Cleanup {
    pub fn new(path: PathBuf) -> Self {
        Self(path)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "removing a staged file failed");
        }
    }
}

/// The directory of staged uploads.
#[derive(Debug, Clone)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Uses (and creates) `dir`.
    pub fn new(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The staged file of upload `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    /// Starts staging upload `id` from its first byte.
    pub async fn create(&self, id: &str) -> std::io::Result<Staged> {
        let path = self.path(id);
        blocking(move || {
            let file = File::options().create(true).write(true).truncate(true).read(true).open(&path)?;
            Ok(Staged::new(file, path))
        })
        .await
    }

    /// Reopens upload `id` at its durable `offset`: whatever lies after it
    /// is cut off, and the first `offset` bytes are hashed again. Fails with
    /// `UnexpectedEof` if the file is shorter than `offset` (it was lost).
    pub async fn resume(&self, id: &str, offset: u64) -> std::io::Result<Staged> {
        let path = self.path(id);
        blocking(move || {
            let mut file = File::options().write(true).read(true).open(&path)?;
            if file.metadata()?.nlink() > 1 {
                // Published already (the local blob store hard-links it),
                // then not marked finished (a crash in between): the bytes
                // are a stored blob's too. Resume on a copy of the prefix.
                file = relink(&path, &mut file, offset)?;
            }
            if file.metadata()?.len() < offset {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the staged file is shorter than its durable offset",
                ));
            }
            file.set_len(offset)?;
            let mut staged = Staged::new(file.try_clone()?, path);
            let mut buf = vec![0u8; 1 << 20];
            file.seek(SeekFrom::Start(0))?;
            // Exactly `offset` bytes, whatever a late write might add.
            let mut left = offset;
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                file.read_exact(&mut buf[..want])?;
                staged.absorb(&buf[..want]);
                left -= want as u64;
            }
            // The clone shares the position: writes go on at `offset`.
            Ok(staged)
        })
        .await
    }

    /// Removes staged files not written to for `age` (resumable uploads)
    /// or `scratch_age` (one-request uploads and thumbnails in the making,
    /// `s-`/`t-`, which nothing resumes): leftovers of uploads whose
    /// records are gone, or of a crash mid-request.
    pub async fn remove_stale(&self, age: std::time::Duration, scratch_age: std::time::Duration) {
        let dir = self.dir.clone();
        let removed = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
            let mut removed = 0;
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let scratch = name.to_str().is_some_and(|n| n.starts_with("s-") || n.starts_with("t-"));
                let limit = if scratch { scratch_age } else { age };
                let old = entry.metadata()?.modified()?.elapsed().is_ok_and(|e| e > limit);
                if old && entry.path().extension().is_some_and(|e| e == "part") {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await;
        match removed {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(files = n, "removed stale staged uploads"),
            Ok(Err(e)) => tracing::warn!(error = %e, "sweeping staged uploads failed"),
            Err(e) => tracing::warn!(error = %e, "sweeping staged uploads failed"),
        }
    }

    /// Removes upload `id`'s staged file, if any.
    pub async fn remove(&self, id: &str) {
        let path = self.path(id);
        if let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "removing a staged upload failed");
        }
    }
}

/// The file and the hash of what was written to it: owned by whichever
/// side works on it (a write on the blocking pool, or the upload).
#[derive(Debug)]
struct Disk {
    file: File,
    hasher: Sha256,
}

type Writing = tokio::task::JoinHandle<std::io::Result<(Disk, Vec<u8>)>>;

/// An upload being staged: its file, the hash of everything written, and
/// the first bytes. Double-buffered: one buffer fills while the other is
/// written and hashed on the blocking pool.
#[derive(Debug)]
pub struct Staged {
    /// `None` while a write holds it.
    disk: Option<Disk>,
    writing: Option<Writing>,
    path: PathBuf,
    /// Bytes received (written or buffered).
    len: u64,
    head: Vec<u8>,
    buffer: Vec<u8>,
    /// The other buffer, back from its write.
    spare: Vec<u8>,
}

impl Staged {
    fn new(file: File, path: PathBuf) -> Self {
        Self {
            disk: Some(Disk { file, hasher: Sha256::new() }),
            writing: None,
            path,
            len: 0,
            head: Vec::new(),
            buffer: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Hashes bytes already in the file (before any write is in flight).
    fn absorb(&mut self, bytes: &[u8]) {
        if self.head.len() < SNIFF_BYTES {
            let take = bytes.len().min(SNIFF_BYTES - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.disk.as_mut().expect("no write in flight").hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes received so far (written or buffered).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was received yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first bytes of the content (up to [`SNIFF_BYTES`]).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The staged file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`, handing the buffer to a write whenever it is full.
    pub async fn write(mut self, mut bytes: &[u8]) -> std::io::Result<Self> {
        if self.head.len() < SNIFF_BYTES {
            let take = bytes.len().min(SNIFF_BYTES - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        while !bytes.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer.reserve_exact(BUFFER);
            }
            let take = bytes.len().min(BUFFER - self.buffer.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            self.len += take as u64;
            bytes = &bytes[take..];
            if self.buffer.len() == BUFFER {
                self.flush().await?;
            }
        }
        Ok(self)
    }

    /// Lets go of an upload whose last bytes are not to be kept: waits for
    /// the write in flight, so it cannot land after a later resume cut the
    /// file back.
    pub async fn abandon(mut self) {
        if let Err(e) = self.settle().await {
            tracing::warn!(path = %self.path.display(), error = %e, "a staged write failed");
        }
    }

    /// Waits for the write in flight, if any.
    async fn settle(&mut self) -> std::io::Result<()> {
        if let Some(w) = self.writing.take() {
            let (disk, spare) = w.await.map_err(std::io::Error::other)??;
            self.disk = Some(disk);
            self.spare = spare;
        }
        Ok(())
    }

    /// Starts writing and hashing the buffer on the blocking pool (after
    /// the previous write finished: writes stay in order).
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let mut disk = self.disk.take().expect("settled");
        let full = std::mem::replace(&mut self.buffer, std::mem::take(&mut self.spare));
        self.writing = Some(tokio::task::spawn_blocking(move || {
            disk.file.write_all(&full)?;
            disk.hasher.update(&full);
            let mut full = full;
            full.clear();
            Ok((disk, full))
        }));
        Ok(())
    }

    /// Makes everything received durable; returns the durable length, to
    /// be recorded as the upload's offset.
    pub async fn sync(mut self) -> std::io::Result<(Self, u64)> {
        self.flush().await?;
        self.settle().await?;
        let disk = self.disk.take().expect("settled");
        let disk = blocking(move || {
            disk.file.sync_data()?;
            Ok(disk)
        })
        .await?;
        self.disk = Some(disk);
        // An upload between appends holds no buffers.
        self.buffer = Vec::new();
        self.spare = Vec::new();
        let len = self.len;
        Ok((self, len))
    }

    /// Syncs and returns the SHA-256 of the whole content and its length.
    pub async fn finish(self) -> std::io::Result<([u8; 32], u64, Vec<u8>, PathBuf)> {
        let (mut this, len) = self.sync().await?;
        let disk = this.disk.take().expect("settled");
        Ok((disk.hasher.finalize().into(), len, this.head, this.path))
    }
}

/// Replaces the staged file at `path` with a file of its own holding the
/// first `offset` bytes of `shared` (atomically, by rename), so writing to
/// it never touches the blob it is also linked as.
fn relink(path: &Path, shared: &mut File, offset: u64) -> std::io::Result<File> {
    let tmp = path.with_extension("relink");
    let mut copy = File::options().create(true).write(true).read(true).truncate(true).open(&tmp)?;
    shared.seek(SeekFrom::Start(0))?;
    let copied = std::io::copy(&mut shared.take(offset), &mut copy)?;
    if copied < offset {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the staged file is short"));
    }
    copy.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(copy)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    #[tokio::test]
    async fn a_resumed_upload_hashes_exactly_what_it_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::new(dir.path().join("uploads")).unwrap();
        let content: Vec<u8> = (0..3 * BUFFER + 17).map(|i| (i % 251) as u8).collect();
        let staged = staging.create("u1").await.unwrap();
        let staged = staged.write(&content[..BUFFER + 5]).await.unwrap();
        let (staged, durable) = staged.sync().await.unwrap();
        assert_eq!(durable, BUFFER as u64 + 5);
        // Written after the last sync, as a crash would leave it.
        let staged = staged.write(&[0xAA; 1000]).await.unwrap();
        let (_, _) = staged.sync().await.unwrap();

        let staged = staging.resume("u1", durable).await.unwrap();
        assert_eq!(staged.len(), durable);
        assert_eq!(staged.head(), &content[..SNIFF_BYTES]);
        let staged = staged.write(&content[BUFFER + 5..]).await.unwrap();
        let (digest, len, head, path) = staged.finish().await.unwrap();
        assert_eq!((digest, len), (sha(&content), content.len() as u64));
        assert_eq!(head, &content[..SNIFF_BYTES]);
        assert_eq!(std::fs::read(path).unwrap(), content);
    }

    #[tokio::test]
    async fn resuming_a_published_upload_never_writes_into_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::new(dir.path().join("uploads")).unwrap();
        let content = vec![7u8; 3000];
        let staged = staging.create("u3").await.unwrap().write(&content).await.unwrap();
        let (_, _, _, path) = staged.finish().await.unwrap();
        // Published (hard-linked), then a crash before the upload was marked
        // finished: the client resumes from an earlier durable offset.
        let blob = dir.path().join("blob");
        std::fs::hard_link(&path, &blob).unwrap();
        let resumed = staging.resume("u3", 1000).await.unwrap();
        let resumed = resumed.write(&[9u8; 2000]).await.unwrap();
        let (digest, len, _, _) = resumed.finish().await.unwrap();
        assert_eq!(std::fs::read(&blob).unwrap(), content, "the stored blob is untouched");
        let mut expected = vec![7u8; 1000];
        expected.extend_from_slice(&[9u8; 2000]);
        assert_eq!((digest, len), (sha(&expected), 3000));
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }

    #[tokio::test]
    async fn a_lost_staged_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::new(dir.path().to_path_buf()).unwrap();
        let staged = staging.create("u2").await.unwrap().write(b"short").await.unwrap();
        staged.sync().await.unwrap();
        let err = staging.resume("u2", 100).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        staging.remove("u2").await;
        assert_eq!(staging.resume("u2", 0).await.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
