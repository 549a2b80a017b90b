//! Files: the file object uploads answer with, signed download URLs, and
//! instant upload (content the server already has, proven by the client).
//!
//! Resumable uploads speak tus 1.0 (`/api/v1/uploads`), whose requests and
//! answers are headers, not JSON; they are described in docs/HTTP_API.md.

use serde::{Deserialize, Serialize};

/// A stored file as its readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileInfo {
    /// What messages reference (`FileRef.file_id`).
    pub id: String,
    /// The name given at upload.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// The type, sniffed from the content where it is recognisable.
    pub mime: String,
    /// SHA-256 of the content, 64 lower-case hex digits.
    pub sha256: String,
    /// Images: pixels as displayed (EXIF rotation applied); 0 otherwise.
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    /// Upload time, Unix milliseconds.
    pub created_at: i64,
    /// The uploader.
    pub owner: i64,
    /// The thumbnail's file id once it was generated (images only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_id: Option<String>,
    /// A URL that downloads the file without an Authorization header
    /// (for `<img>`, `<video>`, `<a download>`), valid until `url_expires_at`.
    pub url: String,
    /// Images: the same for the thumbnail (generated on first request if
    /// it is not ready yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// When `url` and `thumbnail_url` stop working, Unix milliseconds.
    pub url_expires_at: i64,
}

/// One file: `{"file": FileInfo}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileResponse {
    pub file: FileInfo,
}

/// `POST /files?name=`: the name of a file uploaded as a raw body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct UploadQuery {
    /// The file's name (UTF-8, no path); defaults to "file".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /files/urls`: fresh signed URLs for files the caller can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UrlsRequest {
    /// File ids (at most 200).
    pub ids: Vec<String>,
}

/// The files among those asked for that the caller can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileList {
    pub files: Vec<FileInfo>,
}

/// `POST /files/instant`: "I have content with this digest and size".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstantRequest {
    /// SHA-256 of the content, 64 hex digits.
    pub sha256: String,
    pub size: u64,
}

/// The server has such content: prove you have it too by answering
/// `SHA-256(nonce bytes ‖ content[offset .. offset + length])`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstantChallenge {
    /// Opaque; sent back with the proof.
    pub token: String,
    /// 16 random bytes, 32 hex digits, hashed before the range.
    pub nonce: String,
    pub offset: u64,
    pub length: u64,
    /// The challenge is good until then, Unix milliseconds.
    pub expires_at: i64,
}

/// `{"challenge": InstantChallenge}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstantChallengeResponse {
    pub challenge: InstantChallenge,
}

/// `POST /files/instant/proof`: the answer, and the new file's name and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstantProof {
    pub token: String,
    /// SHA-256(nonce ‖ range), 64 hex digits.
    pub proof: String,
    pub name: String,
    /// The declared type ("" = the server's record of the content's type).
    #[serde(default)]
    pub mime: String,
}

/// `GET /users/me/storage`: what the caller stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageUsage {
    pub used_bytes: u64,
    pub files: u64,
    /// 0 = no quota.
    pub quota_bytes: u64,
}
