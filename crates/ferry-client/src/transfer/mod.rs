//! File transfers over the HTTP API, streaming from and to disk (a file is
//! never held in memory; an upload holds one chunk at a time).
//!
//! - [`HttpApi::upload`](crate::HttpApi::upload): hashes the file (SHA-256), tries instant upload
//!   first (the server already has the content: prove it by hashing the range
//!   it names, send no bytes), else one `POST /files` when the file is at most
//!   [`UploadOptions::one_request_max`] (falling back to the next way when
//!   the server says `payload_too_large` or the connection fails), else a
//!   tus resumable upload in chunks, each with
//!   its `Upload-Checksum`. A dropped connection or a refused chunk is
//!   retried after a back-off: `HEAD` for the server's offset, then on from
//!   there, at most [`RetryPolicy::max_attempts`] times in a row.
//! - [`HttpApi::resume_upload`](crate::HttpApi::resume_upload): continues a resumable upload from an
//!   [`UploadState`] the caller persisted (reported as
//!   [`TransferEvent::Resumable`]), in this process or a later one.
//! - [`HttpApi::download`](crate::HttpApi::download): writes `<dest>.part`, resumes an existing part
//!   with `Range` and `If-Range`, checks the SHA-256 of the whole and renames
//!   it into place.
//!
//! Progress, retries and the resumable state reach the caller through one
//! callback taking [`TransferEvent`]s; a [`CancellationToken`] in the options
//! stops a transfer at once, leaving it resumable.

mod download;
mod local;
mod retry;
mod upload;

use std::{path::PathBuf, time::Duration};

use ferry_api::FileInfo;
use serde::{Deserialize, Serialize};
pub use tokio_util::sync::CancellationToken;

use crate::error::ClientError;

/// [`UploadOptions::one_request_max`] unless set: the server's default
/// `files.max_simple_upload_bytes`.
pub const DEFAULT_ONE_REQUEST_MAX: u64 = 8 * 1024 * 1024;

/// [`UploadOptions::chunk_size`] unless set.
pub const DEFAULT_CHUNK_SIZE: u64 = 8 * 1024 * 1024;

/// The largest chunk an upload sends in one request (and holds in memory).
pub const MAX_CHUNK_SIZE: u64 = 64 * 1024 * 1024;

/// Something that happened during a transfer, for the caller's callback.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransferEvent<'a> {
    /// Reading the local file to hash it: before an upload, and before a
    /// download continues an existing `.part`. `done` grows to `total`.
    Hashing {
        /// Bytes hashed so far.
        done: u64,
        /// Bytes to hash.
        total: u64,
    },
    /// Bytes transferred. `done` never goes backwards (bytes sent again
    /// after a retry are not counted twice) and is `total` at the end of a
    /// transfer that succeeded; a resumed transfer starts where it was.
    Progress {
        /// Bytes the server has (uploads) or the local file has (downloads).
        done: u64,
        /// The file's size.
        total: u64,
    },
    /// A resumable upload now exists on the server. Persist this to resume
    /// it after a crash or from another process ([`HttpApi::resume_upload`](crate::HttpApi::resume_upload));
    /// forget it once the upload returns.
    Resumable(&'a UploadState),
    /// A request failed in a way worth retrying (a dropped connection, a
    /// server restarting); the transfer waits `delay`, then asks the server
    /// where it stands and goes on.
    Retrying {
        /// 1 for the first retry after a success.
        attempt: u32,
        /// The back-off before the retry.
        delay: Duration,
        /// What failed.
        error: &'a ClientError,
    },
}

/// How often and how patiently a transfer retries after failures that may
/// pass: transport errors, timeouts, `unavailable`, 5xx answers, a conflict
/// over the upload's offset, a chunk refused by its checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries in a row without progress before the transfer fails with the
    /// last error; every request that succeeds starts the count again.
    pub max_attempts: u32,
    /// The first back-off; each further one doubles, up to `max_delay`.
    pub initial_delay: Duration,
    /// The longest back-off.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, initial_delay: Duration::from_millis(250), max_delay: Duration::from_secs(8) }
    }
}

/// How [`HttpApi::upload`](crate::HttpApi::upload) uploads.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// The file's name as recipients see it [default: the path's file name].
    pub name: Option<String>,
    /// The declared type [default: guessed from the extension by
    /// [`mime_from_extension`], else left to the server, which sniffs the
    /// content anyway].
    pub mime: Option<String>,
    /// Files up to this size go in one request; larger ones (and any the
    /// server finds too large for one) use a resumable upload.
    pub one_request_max: u64,
    /// Bytes per resumable-upload request, at most [`MAX_CHUNK_SIZE`].
    pub chunk_size: u64,
    /// Try instant upload first.
    pub instant: bool,
    /// Retries after failures that may pass.
    pub retry: RetryPolicy,
    /// Cancels the upload; a resumable one stays resumable.
    pub cancel: CancellationToken,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            name: None,
            mime: None,
            one_request_max: DEFAULT_ONE_REQUEST_MAX,
            chunk_size: DEFAULT_CHUNK_SIZE,
            instant: true,
            retry: RetryPolicy::default(),
            cancel: CancellationToken::new(),
        }
    }
}

/// How [`HttpApi::download`](crate::HttpApi::download) downloads.
#[derive(Debug, Clone, Default)]
pub struct DownloadOptions {
    /// Retries after failures that may pass.
    pub retry: RetryPolicy,
    /// Cancels the download; its `.part` file stays for a later resume.
    pub cancel: CancellationToken,
}

/// A resumable upload in progress: what a caller persists to resume it
/// after a restart ([`HttpApi::resume_upload`](crate::HttpApi::resume_upload)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// The upload's tus URL on the server.
    pub upload_url: String,
    /// The local file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lower-case hex digits (so a resume need not read
    /// the file again; the server refuses content that does not match).
    pub sha256: String,
}

/// How the content reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadMethod {
    /// The server already had it: no bytes were sent.
    Instant,
    /// One `POST /files`.
    OneRequest,
    /// A tus resumable upload, resumed from byte `resumed_from` (0 for one
    /// that started in this call).
    Resumable {
        /// Where this call started.
        resumed_from: u64,
    },
}

/// An uploaded file.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// The new file (its id is what messages reference).
    pub file: FileInfo,
    /// How its content was sent.
    pub method: UploadMethod,
}

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The file's record.
    pub file: FileInfo,
    /// Where it was written.
    pub path: PathBuf,
    /// Bytes of an earlier `.part` this download kept (0 if it started
    /// afresh).
    pub resumed_from: u64,
}

/// A declared type for well-known extensions (case-insensitive), for the
/// kinds of files chats carry; `None` for the rest (the server sniffs).
pub fn mime_from_extension(path: &std::path::Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "aac" => "audio/aac",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "txt" => "text/plain",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn types_come_from_extensions() {
        assert_eq!(mime_from_extension(Path::new("/a/cat.JPG")), Some("image/jpeg"));
        assert_eq!(mime_from_extension(Path::new("note.opus")), Some("audio/ogg"));
        assert_eq!(mime_from_extension(Path::new("报告.pdf")), Some("application/pdf"));
        assert_eq!(mime_from_extension(Path::new("Makefile")), None);
        assert_eq!(mime_from_extension(Path::new("x.unknown")), None);
    }

    #[test]
    fn upload_states_persist_as_json() {
        let state = UploadState {
            upload_url: "http://h/api/v1/uploads/u1".into(),
            path: "/tmp/a b.bin".into(),
            size: 7,
            sha256: "ab".repeat(32),
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<UploadState>(&json).unwrap(), state);
    }
}
