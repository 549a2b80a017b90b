//! Downloads: into `<dest>.part`, continued with `Range` and `If-Range`
//! after a dropped connection or a restart, checked against the file's
//! SHA-256, then renamed into place.
//!
//! A sidecar `<dest>.part.json` names the file a part belongs to, so a part
//! of another file is never continued. A part without one (a crash before
//! it was written, or a part made by hand) is continued but not trusted:
//! if the whole then fails the digest check, it is downloaded once more
//! from the start.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use ferry_api::FileInfo;
use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::{
    DownloadOptions, Downloaded, TransferEvent,
    local::{hash_prefix, hex},
    retry::{Backoff, Events, Meter, cancellable, pause, retrying, transient},
};
use crate::{
    HttpApi,
    error::{ClientError, Result},
    http::{check, encode_path_segment},
};

/// A download that receives nothing for this long is retried.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes gathered before a write to disk.
const WRITE_BUFFER: usize = 1024 * 1024;

/// What the sidecar says a part belongs to.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PartOf {
    file_id: String,
    /// The ETag the part's bytes came with (the quoted SHA-256).
    etag: String,
}

impl HttpApi {
    /// Downloads file `file_id` to `dest` (see [the module](crate::transfer)),
    /// continuing `<dest>.part` if an earlier download left one. An existing
    /// `dest` is replaced.
    pub async fn download(
        &self,
        file_id: &str,
        dest: impl AsRef<Path>,
        opts: &DownloadOptions,
        mut events: impl FnMut(TransferEvent<'_>) + Send,
    ) -> Result<Downloaded> {
        let events: &mut Events<'_> = &mut events;
        let dest = dest.as_ref();
        let file = retrying(&opts.retry, &opts.cancel, events, || self.file_info(file_id)).await?;
        let (part, sidecar) = (with_suffix(dest, ".part"), with_suffix(dest, ".part.json"));
        let this = PartOf { file_id: file.id.clone(), etag: format!("\"{}\"", file.sha256) };
        let mut trusted = match read_sidecar(&sidecar).await {
            Some(of) if of == this => true,
            Some(_) => {
                remove_if_present(&part).await?;
                true
            }
            None => false,
        };
        write_sidecar(&sidecar, &this).await?;
        loop {
            let (resumed_from, digest) = self.fetch(&file, &this.etag, &part, opts, events).await?;
            if hex(&digest) == file.sha256 {
                tokio::fs::rename(&part, dest).await.map_err(|e| ClientError::io("renaming into", dest, e))?;
                remove_if_present(&sidecar).await?;
                return Ok(Downloaded { file, path: dest.to_path_buf(), resumed_from });
            }
            remove_if_present(&part).await?;
            if resumed_from > 0 && !trusted {
                tracing::debug!(resumed_from, "a part of unknown origin did not belong to this file; starting over");
                trusted = true;
                continue;
            }
            remove_if_present(&sidecar).await?;
            return Err(ClientError::Corrupt(format!(
                "{} downloaded with SHA-256 {}, not {}",
                file.id,
                hex(&digest),
                file.sha256
            )));
        }
    }

    /// Brings `part` to the file's size, continuing what it holds; returns
    /// where it started and the SHA-256 of the whole part.
    async fn fetch(
        &self,
        file: &FileInfo,
        etag: &str,
        part: &Path,
        opts: &DownloadOptions,
        events: &mut Events<'_>,
    ) -> Result<(u64, [u8; 32])> {
        let out = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(part)
            .await
            .map_err(|e| ClientError::io("opening", part, e))?;
        let mut have = out.metadata().await.map_err(|e| ClientError::io("reading", part, e))?.len();
        if have > file.size {
            have = 0;
        }
        out.set_len(have).await.map_err(|e| ClientError::io("truncating", part, e))?;
        let hasher = match have {
            0 => Sha256::new(),
            _ => hash_prefix(part, have, Sha256::new(), &opts.cancel, events).await?,
        };
        let mut sink = Sink { out: BufWriter::with_capacity(WRITE_BUFFER, out), hasher, have, path: part };
        sink.out.seek(std::io::SeekFrom::Start(have)).await.map_err(|e| ClientError::io("seeking in", part, e))?;
        let resumed_from = have;
        let result = self.fill(file, etag, &mut sink, opts, events).await;
        // What arrived stays on disk for a later resume, whatever happened.
        let flushed = sink.out.flush().await.map_err(|e| ClientError::io("writing", part, e));
        let resumed_from = result?.map_or(resumed_from, |()| 0);
        flushed?;
        sink.out.get_ref().sync_all().await.map_err(|e| ClientError::io("writing", part, e))?;
        Ok((resumed_from, sink.hasher.finalize().into()))
    }

    /// Requests and writes what `sink` lacks until it holds the whole file,
    /// retrying after stalls and dropped connections. `Some(())` if the
    /// server sent the whole file again (the part started over).
    async fn fill(
        &self,
        file: &FileInfo,
        etag: &str,
        sink: &mut Sink<'_>,
        opts: &DownloadOptions,
        events: &mut Events<'_>,
    ) -> Result<Option<()>> {
        let url = format!("{}/api/v1/files/{}", self.base_url(), encode_path_segment(&file.id));
        let mut meter = Meter::new(file.size);
        let mut backoff = Backoff::new(&opts.retry);
        let mut restarted = None;
        while sink.have < file.size {
            meter.report(sink.have, events);
            let mut req = self.transfer_req(Method::GET, &url);
            if sink.have > 0 {
                req = req.header(header::RANGE, format!("bytes={}-", sink.have)).header(header::IF_RANGE, etag);
            }
            let answer = cancellable(
                &opts.cancel,
                tokio::time::timeout(STALL_TIMEOUT, async {
                    check(req.send().await.map_err(ClientError::transport)?).await
                }),
            )
            .await?;
            let mut resp = match answer.unwrap_or(Err(ClientError::Timeout)) {
                Ok(resp) => resp,
                Err(e) if transient(&e) => {
                    let Some(next) = backoff.next() else { return Err(e) };
                    pause(&opts.cancel, events, next, &e).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match resp.status() {
                StatusCode::PARTIAL_CONTENT => {
                    let range = resp.headers().get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok());
                    if !range.is_some_and(|r| r.starts_with(&format!("bytes {}-", sink.have))) {
                        return Err(ClientError::Protocol(format!("asked for bytes {}-, got {range:?}", sink.have)));
                    }
                }
                StatusCode::OK => {
                    if sink.have > 0 {
                        sink.restart().await?;
                        restarted = Some(());
                    }
                }
                other => return Err(ClientError::Protocol(format!("a download answered {other}"))),
            }
            loop {
                let next = cancellable(&opts.cancel, tokio::time::timeout(STALL_TIMEOUT, resp.chunk())).await?;
                let error = match next {
                    Ok(Ok(Some(bytes))) => {
                        if sink.have + bytes.len() as u64 > file.size {
                            return Err(ClientError::Protocol(format!("more than the file's {} bytes", file.size)));
                        }
                        sink.write(&bytes).await?;
                        meter.report(sink.have, events);
                        backoff.reset();
                        continue;
                    }
                    Ok(Ok(None)) if sink.have == file.size => break,
                    Ok(Ok(None)) => ClientError::Transport(format!("the download ended at byte {}", sink.have)),
                    Ok(Err(e)) => ClientError::transport(e),
                    Err(_) => ClientError::Timeout,
                };
                let Some(next) = backoff.next() else { return Err(error) };
                pause(&opts.cancel, events, next, &error).await?;
                break;
            }
        }
        meter.report(sink.have, events);
        Ok(restarted)
    }
}

/// The part being written, and the digest of what it holds.
struct Sink<'p> {
    out: BufWriter<tokio::fs::File>,
    hasher: Sha256,
    have: u64,
    path: &'p Path,
}

impl Sink<'_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).await.map_err(|e| ClientError::io("writing", self.path, e))?;
        self.hasher.update(bytes);
        self.have += bytes.len() as u64;
        Ok(())
    }

    /// Empties the part: the server is sending the whole file.
    async fn restart(&mut self) -> Result<()> {
        let io = |e| ClientError::io("truncating", self.path, e);
        self.out.flush().await.map_err(io)?;
        self.out.get_ref().set_len(0).await.map_err(io)?;
        self.out.seek(std::io::SeekFrom::Start(0)).await.map_err(io)?;
        self.hasher = Sha256::new();
        self.have = 0;
        Ok(())
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

async fn read_sidecar(path: &Path) -> Option<PartOf> {
    let bytes = tokio::fs::read(path).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn write_sidecar(path: &Path, of: &PartOf) -> Result<()> {
    let json = serde_json::to_vec(of).map_err(|e| ClientError::Io(e.to_string()))?;
    tokio::fs::write(path, json).await.map_err(|e| ClientError::io("writing", path, e))
}

async fn remove_if_present(path: &Path) -> Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClientError::io("removing", path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_sit_beside_the_destination() {
        assert_eq!(with_suffix(Path::new("/d/报告.pdf"), ".part"), PathBuf::from("/d/报告.pdf.part"));
        assert_eq!(with_suffix(Path::new("x"), ".part.json"), PathBuf::from("x.part.json"));
    }

    #[tokio::test]
    async fn sidecars_round_trip_and_tolerate_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.part.json");
        assert_eq!(read_sidecar(&path).await, None);
        let of = PartOf { file_id: "f_1".into(), etag: "\"ab\"".into() };
        write_sidecar(&path, &of).await.unwrap();
        assert_eq!(read_sidecar(&path).await, Some(of));
        tokio::fs::write(&path, b"{not json").await.unwrap();
        assert_eq!(read_sidecar(&path).await, None);
        remove_if_present(&path).await.unwrap();
        remove_if_present(&path).await.unwrap();
    }
}
