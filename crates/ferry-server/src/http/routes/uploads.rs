//! Resumable uploads over tus 1.0 (<https://tus.io/protocols/resumable-upload>):
//! core, creation, creation-with-upload, termination, checksum (sha256)
//! and expiration, so stock tus clients work unchanged. Authenticated with
//! the usual bearer token; an upload belongs to its user, so any device or
//! process of that user can resume it.
//!
//! `Upload-Metadata` keys understood: `filename` or `name` (the file's
//! name), `filetype`, `type` or `mime` (its declared type), `sha256` (64 hex
//! digits, checked when the last byte arrives). When the last byte is in,
//! the answer carries `Ferry-File-Id` (also on HEAD afterwards); the file
//! is then at `GET /files/{id}/info`.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use ferry_api as api;
use ferry_core::{ApiError, ErrorCode};
use ferry_store::Upload;

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Path},
    media::{Declared, uploads::ChunkChecksum},
};

const TUS_VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
const FILE_ID: HeaderName = HeaderName::from_static("ferry-file-id");

fn h(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// A response with `Tus-Resumable` (every tus answer has it).
fn tus(status: StatusCode, mut headers: HeaderMap) -> Response {
    headers.insert(h("tus-resumable"), HeaderValue::from_static(TUS_VERSION));
    (status, headers).into_response()
}

/// An error the tus way: the JSON error body plus `Tus-Resumable`.
fn tus_error(e: impl Into<HttpError>) -> Response {
    let mut r = e.into().into_response();
    r.headers_mut().insert(h("tus-resumable"), HeaderValue::from_static(TUS_VERSION));
    r
}

/// Every request but OPTIONS must speak our version: the refusal if not.
fn wrong_version(headers: &HeaderMap) -> Option<Response> {
    if headers.get("tus-resumable").and_then(|v| v.to_str().ok()) == Some(TUS_VERSION) {
        return None;
    }
    let mut r = tus_error(ApiError::new(ErrorCode::PreconditionFailed, format!("Tus-Resumable must be {TUS_VERSION}")));
    r.headers_mut().insert(h("tus-version"), HeaderValue::from_static(TUS_VERSION));
    Some(r)
}

fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be a non-negative integer"))),
    }
}

/// `key base64,key base64,key` → pairs (values decoded, lossy UTF-8).
fn parse_metadata(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = STANDARD
            .decode(value.trim())
            .map_err(|_| ApiError::bad_request(format!("Upload-Metadata: the value of {key:?} is not base64")))?;
        out.push((key.to_string(), String::from_utf8_lossy(&value).into_owned()));
    }
    Ok(out)
}

fn declared(metadata: &[(String, String)]) -> Result<Declared, ApiError> {
    let get = |keys: &[&str]| metadata.iter().find(|(k, _)| keys.contains(&k.as_str())).map(|(_, v)| v.clone());
    let sha256 = match get(&["sha256"]) {
        Some(hex) => Some(
            super::files::parse_sha256(&hex.to_ascii_lowercase())
                .ok_or_else(|| ApiError::invalid("Upload-Metadata sha256: must be 64 hex digits"))?,
        ),
        None => None,
    };
    Ok(Declared {
        name: get(&["filename", "name"]).unwrap_or_else(|| "file".into()),
        mime: get(&["filetype", "type", "mime"]).unwrap_or_default(),
        sha256,
    })
}

fn upload_headers(u: &Upload) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set(h("upload-offset"), u.offset.to_string());
    set(h("upload-length"), u.size.to_string());
    let expires = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u.expires_at.max(0) as u64);
    set(h("upload-expires"), httpdate::fmt_http_date(expires));
    if let Some(id) = &u.file_id {
        set(FILE_ID, id.clone());
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers
}

/// What the server supports.
#[utoipa::path(
    options, path = "/uploads", operation_id = "tus_options", tag = "uploads",
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm."))
)]
pub async fn options(State(app): State<AppRef>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(h("tus-version"), HeaderValue::from_static(TUS_VERSION));
    headers.insert(h("tus-extension"), HeaderValue::from_static(EXTENSIONS));
    headers.insert(h("tus-checksum-algorithm"), HeaderValue::from_static("sha256"));
    if let Ok(v) = HeaderValue::from_str(&app.files.config().max_file_bytes.to_string()) {
        headers.insert(h("tus-max-size"), v);
    }
    tus(StatusCode::NO_CONTENT, headers)
}

/// Creates an upload (and takes its first bytes if the body has some).
#[utoipa::path(
    post, path = "/uploads", operation_id = "tus_create", tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The file's size"),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename`, `filetype`, `sha256` (base64 values)"),
    ),
    request_body(content = Vec<u8>, description = "Optional first bytes (creation-with-upload), `Content-Type: application/offset+octet-stream`.", content_type = "application/offset+octet-stream"),
    responses(
        (status = 201, description = "Location: the upload's URL; Upload-Offset; Upload-Expires; Ferry-File-Id if the body completed it."),
        (status = 400, description = "`bad_request`: no Upload-Length (deferred lengths are not supported), bad metadata.", body = api::ErrorBody),
        (status = 412, description = "`precondition_failed`: not tus 1.0.0.", body = api::ErrorBody),
        (status = 413, description = "`payload_too_large`: over Tus-Max-Size; `quota_exceeded`.", body = api::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the declared type is not accepted.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: too many unfinished uploads.", body = api::ErrorBody),
    )
)]
pub async fn create(State(app): State<AppRef>, Auth(auth): Auth, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if let Some(r) = wrong_version(headers) {
        return r;
    }
    let created = async {
        let size = number(headers, "upload-length")?
            .ok_or_else(|| ApiError::bad_request("Upload-Length is required (deferred lengths are not supported)"))?;
        let raw = headers.get("upload-metadata").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let declared = declared(&parse_metadata(&raw)?)?;
        app.files.create_upload(auth.user.id, size, &declared, raw).await
    }
    .await;
    let upload = match created {
        Ok(u) => u,
        Err(e) => return tus_error(e),
    };
    let has_body = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) == Some(OFFSET_OCTET_STREAM)
        && number(headers, "content-length").ok().flatten() != Some(0);
    let upload = if has_body {
        let body = body.into_data_stream();
        match app.files.append(auth.user.id, &upload.id, 0, None, body).await {
            Ok((u, _)) => u,
            // The upload exists with what arrived of a body cut short
            // (resumable as usual); one refused whole is gone.
            Err(e) => match app.files.upload_state(auth.user.id, &upload.id).await {
                Ok(u) => u,
                Err(_) => return tus_error(e),
            },
        }
    } else {
        upload
    };
    let mut headers = upload_headers(&upload);
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/uploads/{}", upload.id)) {
        headers.insert(header::LOCATION, v);
    }
    tus(StatusCode::CREATED, headers)
}

/// Where an upload stands.
#[utoipa::path(
    head, path = "/uploads/{id}", operation_id = "tus_head", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires; Ferry-File-Id once complete."),
        (status = 404, description = "No such upload of yours (or it expired)."),
    )
)]
pub async fn head(State(app): State<AppRef>, Auth(auth): Auth, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = wrong_version(&headers) {
        return r;
    }
    match app.files.upload_state(auth.user.id, &id).await {
        Ok(u) => {
            let mut out = upload_headers(&u);
            if let Ok(v) = HeaderValue::from_str(&u.metadata)
                && !u.metadata.is_empty()
            {
                out.insert(h("upload-metadata"), v);
            }
            tus(StatusCode::OK, out)
        }
        Err(e) => tus_error(e),
    }
}

/// Appends bytes at the upload's offset.
#[utoipa::path(
    patch, path = "/uploads/{id}", operation_id = "tus_patch", tag = "uploads",
    params(
        ("id" = String, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes go: the upload's current offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64 digest>` of this request's body"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Upload-Offset: the new offset; Ferry-File-Id when that was the last byte."),
        (status = 400, description = "`checksum_mismatch` is 460; `bad_request`: a bad header, or the body was cut short (what arrived is kept).", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such upload of yours, or it expired.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: Upload-Offset is not the upload's offset (ask with HEAD).", body = api::ErrorBody),
        (status = 413, description = "`payload_too_large`: past Upload-Length; `quota_exceeded`.", body = api::ErrorBody),
        (status = 415, description = "Not `application/offset+octet-stream`; `unsupported_media_type`: the content's type is not accepted (the upload is discarded).", body = api::ErrorBody),
        (status = 460, description = "`checksum_mismatch`: Upload-Checksum, or the file's announced sha256 (then the upload is discarded).", body = api::ErrorBody),
    )
)]
pub async fn patch(State(app): State<AppRef>, Auth(auth): Auth, Path(id): Path<String>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if let Some(r) = wrong_version(headers) {
        return r;
    }
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some(OFFSET_OCTET_STREAM) {
        return tus_error(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("a PATCH body must be {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset = match number(headers, "upload-offset") {
        Ok(Some(o)) => o,
        Ok(None) => return tus_error(ApiError::bad_request("Upload-Offset is required")),
        Err(e) => return tus_error(e),
    };
    let checksum = match headers.get("upload-checksum").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => match v.split_once(' ') {
            Some(("sha256", digest)) => match STANDARD.decode(digest.trim()).ok().and_then(|d| d.try_into().ok()) {
                Some(d) => Some(ChunkChecksum(d)),
                None => return tus_error(ApiError::bad_request("Upload-Checksum: not a base64 SHA-256 digest")),
            },
            _ => return tus_error(ApiError::bad_request("Upload-Checksum: only sha256 is supported")),
        },
    };
    let body = body.into_data_stream();
    match app.files.append(auth.user.id, &id, offset, checksum, body).await {
        Ok((u, _)) => tus(StatusCode::NO_CONTENT, upload_headers(&u)),
        Err(e) => tus_error(e),
    }
}

/// Cancels an upload.
#[utoipa::path(
    delete, path = "/uploads/{id}", operation_id = "tus_delete", tag = "uploads",
    params(("id" = String, Path, description = "Upload id"), ("Tus-Resumable" = String, Header, description = "1.0.0")),
    responses(
        (status = 204, description = "Cancelled; its bytes are gone."),
        (status = 404, description = "`not_found`: no such upload of yours.", body = api::ErrorBody),
    )
)]
pub async fn terminate(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = wrong_version(&headers) {
        return r;
    }
    match app.files.terminate(auth.user.id, &id).await {
        Ok(()) => tus(StatusCode::NO_CONTENT, HeaderMap::new()),
        Err(e) => tus_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_parses_the_tus_way() {
        let raw = format!(
            "filename {},filetype {},sha256 {},is_confidential",
            STANDARD.encode("报告.pdf"),
            STANDARD.encode("application/pdf"),
            STANDARD.encode("ab".repeat(32))
        );
        let pairs = parse_metadata(&raw).unwrap();
        assert_eq!(pairs[3], ("is_confidential".to_string(), String::new()));
        let d = declared(&pairs).unwrap();
        assert_eq!((d.name.as_str(), d.mime.as_str()), ("报告.pdf", "application/pdf"));
        assert_eq!(d.sha256, Some([0xab; 32]));
        assert!(parse_metadata("filename !!!").is_err());
        assert!(declared(&[("sha256".into(), "xyz".into())]).is_err());
    }
}
