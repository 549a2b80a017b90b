//! The local side of transfers: hashing files and reading chunks on the
//! blocking pool (one task per transfer step, so the async threads never
//! hash), streaming a file or a chunk as a request body that counts what
//! it handed over, and hex.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::{io::AsyncReadExt, sync::watch};
use tokio_util::sync::CancellationToken;

use super::{
    TransferEvent,
    retry::{Events, cancellable},
};
use crate::error::{ClientError, Result};

/// Bytes read at a time when hashing.
const HASH_BUFFER: usize = 1024 * 1024;

/// Bytes handed to the HTTP client at a time: the granularity of upload
/// progress.
const BODY_PIECE: usize = 64 * 1024;

/// Hashes the first `len` bytes of `path` into `hasher` (which may already
/// hold earlier bytes), reporting [`TransferEvent::Hashing`]. Fails if the
/// file is shorter.
pub(crate) async fn hash_prefix(
    path: &Path,
    len: u64,
    mut hasher: Sha256,
    cancel: &CancellationToken,
    events: &mut Events<'_>,
) -> Result<Sha256> {
    events(TransferEvent::Hashing { done: 0, total: len });
    let (done_tx, mut done_rx) = watch::channel(0u64);
    let stop = Arc::new(AtomicBool::new(false));
    let task = {
        let (path, stop) = (path.to_path_buf(), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || -> Result<Sha256> {
            let mut file = File::open(&path).map_err(|e| ClientError::io("opening", &path, e))?;
            let mut buf = vec![0u8; HASH_BUFFER];
            let mut done = 0u64;
            while done < len {
                if stop.load(Ordering::Relaxed) {
                    return Err(ClientError::Cancelled);
                }
                let want = usize::try_from(len - done).unwrap_or(usize::MAX).min(buf.len());
                let n = file.read(&mut buf[..want]).map_err(|e| ClientError::io("reading", &path, e))?;
                if n == 0 {
                    return Err(ClientError::Io(format!("{} is shorter than {len} bytes", path.display())));
                }
                hasher.update(&buf[..n]);
                done += n as u64;
                done_tx.send_replace(done);
            }
            Ok(hasher)
        })
    };
    // Stops the reader whichever way this function is left.
    let _stop_on_exit = StopOnDrop(Arc::clone(&stop));
    tokio::pin!(task);
    loop {
        let step = cancellable(cancel, async {
            tokio::select! {
                joined = &mut task => Some(joined),
                Ok(()) = done_rx.changed() => None,
            }
        })
        .await?;
        match step {
            Some(joined) => {
                let hasher = joined.map_err(|e| ClientError::Io(format!("hashing {}: {e}", path.display())))??;
                events(TransferEvent::Hashing { done: len, total: len });
                return Ok(hasher);
            }
            None => {
                let done = *done_rx.borrow_and_update();
                if done < len {
                    events(TransferEvent::Hashing { done, total: len });
                }
            }
        }
    }
}

/// Sets the flag when dropped: tells a blocking reader to stop.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads bytes `offset .. offset + len` of `path` and their SHA-256 (one
/// chunk of a resumable upload, so it is held in memory).
pub(crate) async fn read_chunk(path: &Path, offset: u64, len: u64) -> Result<(Bytes, [u8; 32])> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let path = owned;
        let len = usize::try_from(len).map_err(|_| ClientError::Io("chunk too large for this platform".into()))?;
        let mut buf = BytesMut::zeroed(len);
        read_exact_at(&path, offset, &mut buf)?;
        let digest: [u8; 32] = Sha256::digest(&buf).into();
        Ok((buf.freeze(), digest))
    })
    .await
    .map_err(|e| ClientError::Io(format!("reading {}: {e}", path.display())))?
}

/// The instant-upload proof: SHA-256 of `nonce` followed by bytes
/// `offset .. offset + length` of `path`, as hex.
pub(crate) async fn range_proof(path: &Path, nonce: &[u8], offset: u64, length: u64) -> Result<String> {
    let (owned, nonce) = (path.to_path_buf(), nonce.to_vec());
    tokio::task::spawn_blocking(move || {
        let path = owned;
        let mut hasher = Sha256::new();
        hasher.update(&nonce);
        let mut file = open_at(&path, offset)?;
        let mut buf = vec![0u8; HASH_BUFFER];
        let mut left = length;
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            file.read_exact(&mut buf[..want]).map_err(|e| ClientError::io("reading", &path, e))?;
            hasher.update(&buf[..want]);
            left -= want as u64;
        }
        Ok(hex(&hasher.finalize()))
    })
    .await
    .map_err(|e| ClientError::Io(format!("reading {}: {e}", path.display())))?
}

fn open_at(path: &Path, offset: u64) -> Result<File> {
    let mut file = File::open(path).map_err(|e| ClientError::io("opening", path, e))?;
    file.seek(SeekFrom::Start(offset)).map_err(|e| ClientError::io("seeking in", path, e))?;
    Ok(file)
}

fn read_exact_at(path: &Path, offset: u64, buf: &mut [u8]) -> Result<()> {
    open_at(path, offset)?.read_exact(buf).map_err(|e| ClientError::io("reading", path, e))
}

/// `bytes` as a request body handed over in pieces, counting the bytes
/// handed over so far in `sent`.
pub(crate) fn chunk_body(bytes: Bytes, sent: watch::Sender<u64>) -> reqwest::Body {
    let pieces = futures_util::stream::unfold((bytes, 0usize, sent), |(bytes, at, sent)| async move {
        if at >= bytes.len() {
            return None;
        }
        let end = (at + BODY_PIECE).min(bytes.len());
        let piece = bytes.slice(at..end);
        sent.send_replace(end as u64);
        Some((Ok::<_, std::io::Error>(piece), (bytes, end, sent)))
    });
    reqwest::Body::wrap_stream(pieces)
}

/// The first `len` bytes of the file at `path` as a request body, streamed
/// from disk, counting the bytes handed over in `sent`.
pub(crate) async fn file_body(path: &Path, len: u64, sent: watch::Sender<u64>) -> Result<reqwest::Body> {
    let file = tokio::fs::File::open(path).await.map_err(|e| ClientError::io("opening", path, e))?;
    let state = (file.take(len), 0u64, sent);
    let pieces = futures_util::stream::unfold(state, |(mut file, done, sent)| async move {
        let mut buf = BytesMut::with_capacity(BODY_PIECE);
        match file.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                let done = done + n as u64;
                sent.send_replace(done);
                Some((Ok(buf.freeze()), (file, done, sent)))
            }
            Err(e) => Some((Err(e), (file, done, sent))),
        }
    });
    Ok(reqwest::Body::wrap_stream(pieces))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Hex (either case) to bytes.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f.flush().unwrap();
        f
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(unhex("00AB7f"), Some(vec![0x00, 0xab, 0x7f]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[tokio::test]
    async fn hashing_reports_progress_and_matches_a_one_shot_digest() {
        let content: Vec<u8> = (0..3 * HASH_BUFFER + 17).map(|i| (i % 251) as u8).collect();
        let f = file_with(&content);
        let mut seen = Vec::new();
        let mut events = |e: TransferEvent<'_>| {
            if let TransferEvent::Hashing { done, total } = e {
                seen.push((done, total));
            }
        };
        let cancel = CancellationToken::new();
        let len = content.len() as u64;
        let digest = hash_prefix(f.path(), len, Sha256::new(), &cancel, &mut events).await.unwrap().finalize();
        assert_eq!(digest, Sha256::digest(&content));
        assert_eq!(seen.first(), Some(&(0, len)));
        assert_eq!(seen.last(), Some(&(len, len)));
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");

        // A prefix continues a hasher that holds earlier bytes.
        let mut start = Sha256::new();
        start.update(b"before");
        let digest = hash_prefix(f.path(), 10, start, &cancel, &mut |_| {}).await.unwrap().finalize();
        assert_eq!(digest, Sha256::digest([&b"before"[..], &content[..10]].concat()));

        let short = hash_prefix(f.path(), len + 1, Sha256::new(), &cancel, &mut |_| {}).await;
        assert!(matches!(short, Err(ClientError::Io(_))), "{short:?}");
        cancel.cancel();
        let cancelled = hash_prefix(f.path(), len, Sha256::new(), &cancel, &mut |_| {}).await;
        assert!(matches!(cancelled, Err(ClientError::Cancelled)), "{cancelled:?}");
    }

    #[tokio::test]
    async fn chunks_and_proofs_read_the_right_bytes() {
        let content: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let f = file_with(&content);
        let (bytes, digest) = read_chunk(f.path(), 1000, 2500).await.unwrap();
        assert_eq!(&bytes[..], &content[1000..3500]);
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&content[1000..3500])));
        assert!(read_chunk(f.path(), 9000, 2000).await.is_err(), "past the end");

        let nonce = [9u8; 16];
        let proof = range_proof(f.path(), &nonce, 4096, 300).await.unwrap();
        assert_eq!(proof, hex(&Sha256::digest([&nonce[..], &content[4096..4396]].concat())));
    }
}
