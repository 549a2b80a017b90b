//! Uploads: instant when the server has the content, else one request,
//! else tus in chunks with retries; and resuming a tus upload from a
//! persisted [`UploadState`].

use std::{future::Future, path::Path, time::Duration};

use ferry_api::{FileInfo, InstantProof};
use ferry_core::ErrorCode;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{
    MAX_CHUNK_SIZE, TransferEvent, UploadMethod, UploadOptions, UploadState, Uploaded,
    local::{chunk_body, file_body, hash_prefix, hex, range_proof, read_chunk, unhex},
    mime_from_extension,
    retry::{Backoff, Events, Meter, cancellable, pause, retrying, transient},
};
use crate::{
    HttpApi,
    error::{ClientError, Result},
    http::uploads::{Payload, TusMetadata, TusStatus},
};

/// The least time any upload request is given.
const REQUEST_TIMEOUT_BASE: Duration = Duration::from_secs(30);

/// The slowest rate an upload request is given time for, bytes per second.
const SLOWEST_RATE: u64 = 32 * 1024;

impl HttpApi {
    /// Uploads the file at `path` (see [the module](crate::transfer)):
    /// instant upload if the server has the content, else one request if it
    /// is small enough, else a resumable upload, reported as
    /// [`TransferEvent::Resumable`] so the caller can persist it.
    pub async fn upload(
        &self,
        path: impl AsRef<Path>,
        opts: &UploadOptions,
        mut events: impl FnMut(TransferEvent<'_>) + Send,
    ) -> Result<Uploaded> {
        self.upload_file(path.as_ref(), opts, &mut Meter::new(0), &mut events).await
    }

    /// Continues the resumable upload `state` from where the server stands.
    /// The file is trusted to be the one hashed when the upload began (the
    /// server refuses content of another digest at the end); if its size
    /// changed, or the server no longer knows the upload (it expired, or was
    /// cancelled), the file is uploaded afresh, as by [`HttpApi::upload`].
    pub async fn resume_upload(
        &self,
        state: &UploadState,
        opts: &UploadOptions,
        mut events: impl FnMut(TransferEvent<'_>) + Send,
    ) -> Result<Uploaded> {
        let events: &mut Events<'_> = &mut events;
        let mut meter = Meter::new(state.size);
        if local_size(&state.path).await? != state.size {
            // What the server holds is of other content; it expires anyway.
            if let Err(e) = self.tus_terminate(&state.upload_url).await {
                tracing::debug!(error = %e, "cancelling a stale upload failed");
            }
            return self.upload_file(&state.path, opts, &mut Meter::new(0), events).await;
        }
        let status = match retrying(&opts.retry, &opts.cancel, events, || self.tus_head(&state.upload_url)).await {
            Ok(status) => status,
            Err(e) if e.code() == Some(ErrorCode::NotFound) => {
                return self.upload_file(&state.path, opts, &mut meter, events).await;
            }
            Err(e) => return Err(e),
        };
        let resumed_from = status.offset;
        let file = self.send_chunks(state, status, opts, &mut meter, events).await?;
        Ok(Uploaded { file, method: UploadMethod::Resumable { resumed_from } })
    }

    /// Cancels the resumable upload `state`; the server deletes what it holds.
    pub async fn abort_upload(&self, state: &UploadState) -> Result<()> {
        self.tus_terminate(&state.upload_url).await
    }

    async fn upload_file(
        &self,
        path: &Path,
        opts: &UploadOptions,
        meter: &mut Meter,
        events: &mut Events<'_>,
    ) -> Result<Uploaded> {
        let size = local_size(path).await?;
        meter.set_total(size);
        let name = match &opts.name {
            Some(name) => name.clone(),
            None => path.file_name().map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned()),
        };
        let mime = opts.mime.clone().or_else(|| mime_from_extension(path).map(str::to_owned)).unwrap_or_default();
        let sha256 = hex(&hash_prefix(path, size, Sha256::new(), &opts.cancel, events).await?.finalize());
        meter.report(0, events);

        if opts.instant
            && size > 0
            && let Some(file) = self.try_instant(path, &sha256, size, &name, &mime, opts, events).await?
        {
            check_digest(&file, &sha256)?;
            meter.report(size, events);
            return Ok(Uploaded { file, method: UploadMethod::Instant });
        }
        if size <= opts.one_request_max {
            let (sent, mut progress) = watch::channel(0);
            let body = file_body(path, size, sent).await?;
            let payload = Payload { body, len: size, timeout: request_timeout(size) };
            let upload = self.upload_one_request(&name, &mime, payload);
            match drive(upload, &mut progress, 0, meter, &opts.cancel, events).await {
                Ok(file) => {
                    check_digest(&file, &sha256)?;
                    meter.report(size, events);
                    return Ok(Uploaded { file, method: UploadMethod::OneRequest });
                }
                // The server takes less in one request than the caller
                // thought: the resumable way has no such limit. A server
                // refuses that from Content-Length and closes the
                // connection without reading the body, so the refusal often
                // arrives as a broken pipe instead; and a connection that
                // really broke is better retried resumably too.
                Err(e) if e.code() == Some(ErrorCode::PayloadTooLarge) || e.is_retryable() => {
                    tracing::debug!(size, error = %e, "one request failed; uploading resumably");
                }
                Err(e) => return Err(e),
            }
        }
        let metadata = TusMetadata { name: &name, mime: &mime, sha256: &sha256 };
        // A retried creation whose first answer was lost leaves an unused
        // upload on the server, which expires.
        let upload_url = retrying(&opts.retry, &opts.cancel, events, || self.tus_create(size, metadata)).await?;
        let state = UploadState { upload_url, path: path.to_path_buf(), size, sha256 };
        events(TransferEvent::Resumable(&state));
        let start = TusStatus { offset: 0, file_id: None };
        let file = self.send_chunks(&state, start, opts, meter, events).await?;
        Ok(Uploaded { file, method: UploadMethod::Resumable { resumed_from: 0 } })
    }

    /// Instant upload: `None` if the server does not have the content (or
    /// lost it, or the proof came too late), so the bytes must be sent.
    #[allow(clippy::too_many_arguments)]
    async fn try_instant(
        &self,
        path: &Path,
        sha256: &str,
        size: u64,
        name: &str,
        mime: &str,
        opts: &UploadOptions,
        events: &mut Events<'_>,
    ) -> Result<Option<FileInfo>> {
        let challenge = retrying(&opts.retry, &opts.cancel, events, || self.instant_challenge(sha256, size)).await?;
        let Some(challenge) = challenge else { return Ok(None) };
        let nonce = unhex(&challenge.nonce)
            .ok_or_else(|| ClientError::Protocol("an instant-upload nonce that is not hex".into()))?;
        if challenge.offset.checked_add(challenge.length).is_none_or(|end| end > size) {
            return Err(ClientError::Protocol(format!(
                "an instant-upload challenge past the end of {size} bytes ({} + {})",
                challenge.offset, challenge.length
            )));
        }
        let proof = cancellable(&opts.cancel, range_proof(path, &nonce, challenge.offset, challenge.length)).await??;
        let proof = InstantProof { token: challenge.token, proof, name: name.to_owned(), mime: mime.to_owned() };
        match retrying(&opts.retry, &opts.cancel, events, || self.instant_proof(&proof)).await {
            Ok(file) => Ok(Some(file)),
            Err(e) if matches!(e.code(), Some(ErrorCode::NotFound | ErrorCode::Expired)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends the rest of a resumable upload from `status`, chunk by chunk,
    /// and returns the published file.
    async fn send_chunks(
        &self,
        state: &UploadState,
        mut status: TusStatus,
        opts: &UploadOptions,
        meter: &mut Meter,
        events: &mut Events<'_>,
    ) -> Result<FileInfo> {
        let chunk = opts.chunk_size.clamp(1, MAX_CHUNK_SIZE);
        let mut backoff = Backoff::new(&opts.retry);
        loop {
            meter.report(status.offset, events);
            if let Some(id) = status.file_id.take() {
                let file = retrying(&opts.retry, &opts.cancel, events, || self.file_info(&id)).await?;
                check_digest(&file, &state.sha256)?;
                meter.report(state.size, events);
                return Ok(file);
            }
            if status.offset >= state.size {
                return Err(ClientError::Protocol("the server holds the whole upload but published no file".into()));
            }
            let len = chunk.min(state.size - status.offset);
            let (bytes, digest) = read_chunk(&state.path, status.offset, len).await?;
            let (sent, mut progress) = watch::channel(0);
            let payload = Payload { body: chunk_body(bytes, sent), len, timeout: request_timeout(len) };
            let patch = self.tus_patch(&state.upload_url, status.offset, &digest, payload);
            match drive(patch, &mut progress, status.offset, meter, &opts.cancel, events).await {
                Ok(next) => {
                    backoff.reset();
                    status = next;
                }
                Err(e) if transient(&e) => {
                    status = self.recover(&state.upload_url, e, &mut backoff, opts, events).await?
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// After a failed PATCH: backs off and asks the server where the upload
    /// stands, until it answers or the policy gives up.
    async fn recover(
        &self,
        url: &str,
        mut error: ClientError,
        backoff: &mut Backoff,
        opts: &UploadOptions,
        events: &mut Events<'_>,
    ) -> Result<TusStatus> {
        loop {
            let Some(next) = backoff.next() else { return Err(error) };
            pause(&opts.cancel, events, next, &error).await?;
            match cancellable(&opts.cancel, self.tus_head(url)).await? {
                Ok(status) => return Ok(status),
                Err(e) if transient(&e) => error = e,
                // Content refused whole (its digest) is discarded: the
                // refusal says why the upload is gone.
                Err(e)
                    if e.code() == Some(ErrorCode::NotFound) && error.code() == Some(ErrorCode::ChecksumMismatch) =>
                {
                    return Err(error);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs a request whose body counts the bytes handed over in `progress`,
/// reporting `base + progress` until it answers or `cancel` fires.
async fn drive<T>(
    request: impl Future<Output = Result<T>>,
    progress: &mut watch::Receiver<u64>,
    base: u64,
    meter: &mut Meter,
    cancel: &CancellationToken,
    events: &mut Events<'_>,
) -> Result<T> {
    tokio::pin!(request);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(ClientError::Cancelled),
            answer = &mut request => return answer,
            Ok(()) = progress.changed() => {
                let sent = *progress.borrow_and_update();
                meter.report(base + sent, events);
            }
        }
    }
}

/// The size of the regular file at `path`.
async fn local_size(path: &Path) -> Result<u64> {
    let meta = tokio::fs::metadata(path).await.map_err(|e| ClientError::io("reading", path, e))?;
    if !meta.is_file() {
        return Err(ClientError::Io(format!("{} is not a regular file", path.display())));
    }
    Ok(meta.len())
}

/// The server stored what was hashed: otherwise the file changed while
/// it was being read.
fn check_digest(file: &FileInfo, sha256: &str) -> Result<()> {
    if file.sha256 == sha256 {
        return Ok(());
    }
    Err(ClientError::Corrupt(format!(
        "the server stored content with SHA-256 {}, not {sha256}: did the file change while it was uploaded?",
        file.sha256
    )))
}

/// How long a request sending `len` bytes may take.
fn request_timeout(len: u64) -> Duration {
    REQUEST_TIMEOUT_BASE + Duration::from_secs(len / SLOWEST_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_requests_get_more_time() {
        assert_eq!(request_timeout(0), REQUEST_TIMEOUT_BASE);
        assert_eq!(request_timeout(8 * 1024 * 1024), REQUEST_TIMEOUT_BASE + Duration::from_secs(256));
    }
}
