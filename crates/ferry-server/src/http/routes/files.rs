//! Files: one-request uploads (raw body or multipart), downloads with HTTP
//! ranges and conditional requests, thumbnails, signed URLs, instant upload
//! and storage usage. Resumable uploads (tus) are in `uploads.rs`.

use axum::{
    body::Body,
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use ferry_api as api;
use ferry_core::{ApiError, ErrorCode, UserId};
use ferry_store::FileObject;
use futures_util::TryStreamExt;
use serde::Deserialize;

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Path, Query},
    media::{Declared, blobs::hex},
};

/// Most ids one `POST /files/urls` takes.
const MAX_URL_IDS: usize = 200;

/// The file object as `user` sees it, with fresh signed URLs.
pub fn file_info(app: &AppRef, user: UserId, f: &FileObject) -> api::FileInfo {
    let (url, url_expires_at) = app.files.signed_url(user, &f.id, false);
    let thumbnail_url = (f.thumbnail.is_some() || f.width > 0 && crate::media::images::decodable(&f.mime))
        .then(|| app.files.signed_url(user, &f.id, true).0);
    api::FileInfo {
        id: f.id.clone(),
        name: f.name.clone(),
        size: f.size,
        mime: f.mime.clone(),
        sha256: hex(&f.sha256),
        width: f.width,
        height: f.height,
        created_at: f.created_at,
        owner: f.owner,
        thumbnail_id: f.thumbnail.clone(),
        url,
        thumbnail_url,
        url_expires_at,
    }
}

/// Uploads a file in one request.
#[utoipa::path(
    post, path = "/files", operation_id = "upload_file", tag = "files",
    params(api::UploadQuery),
    request_body(content = Vec<u8>, description = "The file: a raw body (its Content-Type is the declared type, `?name=` its name) or `multipart/form-data` with a `file` part (its filename and type).", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored (or the same content was already: stored once).", body = api::FileResponse),
        (status = 400, description = "`invalid_argument`: an empty file, a bad name; `bad_request`: no file part, a body shorter than its Content-Length.", body = api::ErrorBody),
        (status = 413, description = "`payload_too_large`: over `files.max_simple_upload_bytes` (use `/uploads`); `quota_exceeded`.", body = api::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the content's type is not accepted.", body = api::ErrorBody),
        (status = 422, description = "`image_too_large`: more pixels than `files.max_image_pixels`.", body = api::ErrorBody),
    )
)]
pub async fn upload(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Query(q): Query<api::UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<api::FileResponse>), HttpError> {
    let user = auth.user.id;
    let content_type = header_str(request.headers(), header::CONTENT_TYPE).to_string();
    let file = if content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        let mut form = axum::extract::Multipart::from_request(request, &app)
            .await
            .map_err(|e| ApiError::bad_request(format!("not a multipart body: {}", e.body_text())))?;
        loop {
            let field = form
                .next_field()
                .await
                .map_err(|e| ApiError::bad_request(format!("reading the multipart body failed: {}", e.body_text())))?
                .ok_or_else(|| ApiError::bad_request("no `file` part in the multipart body"))?;
            if field.name() != Some("file") && field.file_name().is_none() {
                continue;
            }
            let declared = Declared {
                name: q.name.clone().or_else(|| field.file_name().map(str::to_string)).unwrap_or_else(|| "file".into()),
                mime: field.content_type().unwrap_or_default().to_string(),
                sha256: None,
            };
            break app.files.upload(user, declared, None, field).await?;
        }
    } else {
        let length = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        let declared = Declared { name: q.name.unwrap_or_else(|| "file".into()), mime: content_type, sha256: None };
        let body = request.into_body().into_data_stream();
        app.files.upload(user, declared, length, body).await?
    };
    Ok((StatusCode::CREATED, Json(api::FileResponse { file: file_info(&app, user, &file) })))
}

/// A file's record, with fresh signed URLs.
#[utoipa::path(
    get, path = "/files/{id}/info", operation_id = "file_info", tag = "files",
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 200, description = "The file.", body = api::FileResponse),
        (status = 404, description = "`not_found`: no such file, or not one you can read.", body = api::ErrorBody),
    )
)]
pub async fn info(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Result<Json<api::FileResponse>, HttpError> {
    let file = app.files.readable(auth.user.id, &id).await?;
    Ok(Json(api::FileResponse { file: file_info(&app, auth.user.id, &file) }))
}

/// Fresh signed URLs for several files.
#[utoipa::path(
    post, path = "/files/urls", operation_id = "file_urls", tag = "files",
    request_body = api::UrlsRequest,
    responses(
        (status = 200, description = "The files among `ids` you can read; others are left out.", body = api::FileList),
        (status = 400, description = "`invalid_argument`: more than 200 ids.", body = api::ErrorBody),
    )
)]
pub async fn urls(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Json(req): Json<api::UrlsRequest>,
) -> Result<Json<api::FileList>, HttpError> {
    if req.ids.len() > MAX_URL_IDS {
        return Err(ApiError::invalid(format!("ids: at most {MAX_URL_IDS}")).into());
    }
    let mut files = Vec::with_capacity(req.ids.len());
    for id in &req.ids {
        match app.files.readable(auth.user.id, id).await {
            Ok(f) => files.push(file_info(&app, auth.user.id, &f)),
            Err(e) if e.code == ErrorCode::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(api::FileList { files }))
}

/// Deletes one of your files.
#[utoipa::path(
    delete, path = "/files/{id}", operation_id = "delete_file", tag = "files",
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 204, description = "Deleted; messages that referenced it show it as unavailable, and an avatar \
            naming it is left dangling (reading it is `not_found`)."),
        (status = 404, description = "`not_found`: no such file of yours.", body = api::ErrorBody),
    )
)]
pub async fn delete(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    app.files.delete(auth.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who reads a file: the bearer of a token, or of a signed URL.
pub struct Reader(pub UserId);

/// The query of a signed URL.
#[derive(Debug, Deserialize)]
struct Signed {
    u: Option<UserId>,
    e: Option<i64>,
    s: Option<String>,
}

impl FromRequestParts<AppRef> for Reader {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &AppRef) -> Result<Self, Self::Rejection> {
        let signed = axum::extract::Query::<Signed>::from_request_parts(parts, app).await.map(|q| q.0);
        if let Ok(Signed { u: Some(u), e: Some(e), s: Some(s) }) = signed {
            let Path(id) = Path::<String>::from_request_parts(parts, app).await?;
            return Ok(Self(app.files.verify_url(&id, u, e, &s)?));
        }
        let Auth(auth) = Auth::from_request_parts(parts, app).await?;
        Ok(Self(auth.user.id))
    }
}

/// Downloads a file.
#[utoipa::path(
    get, path = "/files/{id}", operation_id = "download_file", tag = "files",
    params(
        ("id" = String, Path, description = "File id"),
        ("u" = Option<i64>, Query, description = "Signed URL: the user it was issued to"),
        ("e" = Option<i64>, Query, description = "Signed URL: expiry, Unix seconds"),
        ("s" = Option<String>, Query, description = "Signed URL: signature"),
    ),
    responses(
        (status = 200, description = "The content (also for HEAD). ETag is the SHA-256; Range (one range), If-Range, If-None-Match, If-Modified-Since, If-Match and If-Unmodified-Since are honoured.", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range, with Content-Range."),
        (status = 304, description = "Not modified (If-None-Match / If-Modified-Since)."),
        (status = 403, description = "`expired`: the signed URL expired.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such file, not one you can read, or a bad signature.", body = api::ErrorBody),
        (status = 412, description = "`precondition_failed`: If-Match / If-Unmodified-Since.", body = api::ErrorBody),
        (status = 416, description = "`range_not_satisfiable`, with `Content-Range: bytes */size`.", body = api::ErrorBody),
    )
)]
pub async fn download(
    State(app): State<AppRef>,
    Reader(user): Reader,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let file = app.files.readable(user, &id).await?;
    serve(&app, &file, &headers).await
}

/// Downloads a file's thumbnail (made now if it is not ready yet).
#[utoipa::path(
    get, path = "/files/{id}/thumbnail", operation_id = "download_thumbnail", tag = "files",
    params(
        ("id" = String, Path, description = "The id of the file (not of its thumbnail)"),
        ("u" = Option<i64>, Query, description = "Signed URL: the user it was issued to"),
        ("e" = Option<i64>, Query, description = "Signed URL: expiry, Unix seconds"),
        ("s" = Option<String>, Query, description = "Signed URL: signature"),
    ),
    responses(
        (status = 200, description = "The thumbnail (JPEG, or PNG for images with transparency), served like a download.", content_type = "image/jpeg"),
        (status = 404, description = "`not_found`: no such file, not one you can read, or not an image with a thumbnail.", body = api::ErrorBody),
    )
)]
pub async fn thumbnail(
    State(app): State<AppRef>,
    Reader(user): Reader,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let file = app.files.readable(user, &id).await?;
    let thumb = app.files.thumbnail(&file).await?;
    serve(&app, &thumb, &headers).await
}

/// Instant upload, step 1.
#[utoipa::path(
    post, path = "/files/instant", operation_id = "instant_upload", tag = "files",
    request_body = api::InstantRequest,
    responses(
        (status = 200, description = "The server stores such content: prove you have it (`POST /files/instant/proof`).", body = api::InstantChallengeResponse),
        (status = 404, description = "`not_found`: no such content stored; upload it.", body = api::ErrorBody),
        (status = 413, description = "`quota_exceeded`.", body = api::ErrorBody),
    )
)]
pub async fn instant(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Json(req): Json<api::InstantRequest>,
) -> Result<Json<api::InstantChallengeResponse>, HttpError> {
    let sha256 = parse_sha256(&req.sha256).ok_or_else(|| ApiError::invalid("sha256: must be 64 hex digits"))?;
    let c = app.files.instant_challenge(auth.user.id, sha256, req.size).await?;
    Ok(Json(api::InstantChallengeResponse {
        challenge: api::InstantChallenge {
            token: c.token,
            nonce: hex(&c.nonce),
            offset: c.offset,
            length: c.length,
            expires_at: c.expires_at,
        },
    }))
}

/// Instant upload, step 2.
#[utoipa::path(
    post, path = "/files/instant/proof", operation_id = "instant_upload_proof", tag = "files",
    request_body = api::InstantProof,
    responses(
        (status = 201, description = "A new file of yours with the stored content.", body = api::FileResponse),
        (status = 400, description = "`invalid_argument`: not a challenge of this server for you; a bad name.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: the proof is wrong; `expired`: the challenge expired.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: the content is no longer stored.", body = api::ErrorBody),
    )
)]
pub async fn instant_proof(
    State(app): State<AppRef>,
    Auth(auth): Auth,
    Json(req): Json<api::InstantProof>,
) -> Result<(StatusCode, Json<api::FileResponse>), HttpError> {
    let declared = Declared { name: req.name, mime: req.mime, sha256: None };
    let file = app.files.instant_prove(auth.user.id, &req.token, &req.proof, declared).await?;
    Ok((StatusCode::CREATED, Json(api::FileResponse { file: file_info(&app, auth.user.id, &file) })))
}

/// What you store.
#[utoipa::path(
    get, path = "/me/storage", operation_id = "storage_usage", tag = "files",
    responses((status = 200, description = "Bytes and files you store, and your quota.", body = api::StorageUsage))
)]
pub async fn storage(State(app): State<AppRef>, Auth(auth): Auth) -> Result<Json<api::StorageUsage>, HttpError> {
    let (used_bytes, files, quota_bytes) = app.files.usage(auth.user.id).await?;
    Ok(Json(api::StorageUsage { used_bytes, files, quota_bytes }))
}

/// 64 hex digits.
pub fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Types shown in the browser rather than saved: media only (never HTML,
/// SVG or anything else that could run script on this origin).
fn inline(mime: &str) -> bool {
    (mime.starts_with("image/") && mime != "image/svg+xml") || mime.starts_with("audio/") || mime.starts_with("video/")
}

/// `Content-Disposition` with the UTF-8 name (RFC 6266, RFC 5987) and an
/// ASCII fallback for old clients.
pub fn content_disposition(mime: &str, name: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
    const ATTR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let kind = if inline(mime) { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR))
}

/// What a conditional request asks for.
enum Preconditions {
    /// Serve normally (applying Range).
    Serve,
    NotModified,
    Failed,
}

/// Whether the `If-Match` / `If-None-Match` value `list` names `etag`
/// (`weak_ok`: a `W/` tag matches too, the weak comparison).
pub(crate) fn etag_matches(list: &str, etag: &str, weak_ok: bool) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag || (weak_ok && t.strip_prefix("W/").is_some_and(|t| t == etag)))
}

fn http_date(headers: &HeaderMap, name: header::HeaderName) -> Option<std::time::SystemTime> {
    httpdate::parse_http_date(header_str(headers, name)).ok()
}

/// RFC 9110 §13.2.2's order: If-Match, If-Unmodified-Since,
/// If-None-Match, If-Modified-Since.
fn preconditions(headers: &HeaderMap, etag: &str, modified: std::time::SystemTime) -> Preconditions {
    if let Some(v) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        if !etag_matches(v, etag, false) {
            return Preconditions::Failed;
        }
    } else if let Some(t) = http_date(headers, header::IF_UNMODIFIED_SINCE)
        && modified > t
    {
        return Preconditions::Failed;
    }
    if let Some(v) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        if etag_matches(v, etag, true) {
            return Preconditions::NotModified;
        }
    } else if let Some(t) = http_date(headers, header::IF_MODIFIED_SINCE)
        && modified <= t
    {
        return Preconditions::NotModified;
    }
    Preconditions::Serve
}

/// The byte range to send: `None` for the whole file. A Range with
/// several ranges, a malformed one, or one whose If-Range does not hold is
/// ignored (RFC 9110 allows it); an unsatisfiable one is an error.
fn requested_range(
    headers: &HeaderMap,
    size: u64,
    etag: &str,
    modified: &str,
) -> Result<Option<std::ops::RangeInclusive<u64>>, ApiError> {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    if let Some(cond) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        // A strong ETag or the exact Last-Modified date.
        if cond != etag && cond != modified {
            return Ok(None);
        }
    }
    let parsed = match http_range_header::parse_range_header(range) {
        Ok(p) => p,
        Err(_) => return Ok(None),
    };
    match parsed.validate(size) {
        Ok(ranges) if ranges.len() == 1 => Ok(ranges.into_iter().next()),
        Ok(_) => Ok(None),
        Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable) => Err(ApiError::new(
            ErrorCode::RangeNotSatisfiable,
            format!("the range {range:?} lies outside the file's {size} bytes"),
        )),
        Err(_) => Ok(None),
    }
}

/// Streams `file` with the headers of an immutable, access-controlled
/// download, honouring conditional requests and a single Range.
async fn serve(app: &AppRef, file: &FileObject, headers: &HeaderMap) -> Result<Response, HttpError> {
    let etag = format!("\"{}\"", hex(&file.sha256));
    let modified_time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(file.created_at.max(0) as u64);
    // HTTP dates have whole seconds.
    let modified_time = httpdate::parse_http_date(&httpdate::fmt_http_date(modified_time)).unwrap_or(modified_time);
    let modified = httpdate::fmt_http_date(modified_time);
    let mut out = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    set(header::ETAG, &etag);
    set(header::LAST_MODIFIED, &modified);
    set(header::CACHE_CONTROL, "private, max-age=31536000, immutable");
    set(header::ACCEPT_RANGES, "bytes");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox");
    match preconditions(headers, &etag, modified_time) {
        Preconditions::Serve => {}
        Preconditions::NotModified => return Ok((StatusCode::NOT_MODIFIED, out).into_response()),
        Preconditions::Failed => {
            let e =
                ApiError::new(ErrorCode::PreconditionFailed, "the file does not match If-Match / If-Unmodified-Since");
            return Ok((out, HttpError(e)).into_response());
        }
    }
    let range = match requested_range(headers, file.size, &etag, &modified) {
        Ok(r) => r,
        Err(e) => {
            // No Content-Type here: the body is the JSON error's.
            set(header::CONTENT_RANGE, &format!("bytes */{}", file.size));
            return Ok((out, HttpError(e)).into_response());
        }
    };
    set(header::CONTENT_TYPE, &file.mime);
    set(header::CONTENT_DISPOSITION, &content_disposition(&file.mime, &file.name));
    let (status, start, end) = match range {
        Some(r) => {
            set(header::CONTENT_RANGE, &format!("bytes {}-{}/{}", r.start(), r.end(), file.size));
            (StatusCode::PARTIAL_CONTENT, *r.start(), r.end() + 1)
        }
        None => (StatusCode::OK, 0, file.size),
    };
    set(header::CONTENT_LENGTH, &(end - start).to_string());
    let stream = app.files.read(file, start..end).await?;
    let body = Body::from_stream(stream.map_err(std::io::Error::other));
    Ok((status, out, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_keeps_utf8_names() {
        assert_eq!(
            content_disposition("application/pdf", "报告 2026.pdf"),
            "attachment; filename=\"__ 2026.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%202026.pdf"
        );
        assert_eq!(
            content_disposition("image/png", "a\"b.png"),
            "inline; filename=\"a_b.png\"; filename*=UTF-8''a%22b.png"
        );
        assert!(content_disposition("image/svg+xml", "x.svg").starts_with("attachment"));
        assert!(content_disposition("text/html", "x.html").starts_with("attachment"));
    }

    #[test]
    fn sha256_hex_parses_strictly() {
        let hex64 = "00ff".repeat(16);
        assert_eq!(parse_sha256(&hex64).unwrap()[..2], [0x00, 0xff]);
        assert!(parse_sha256(&hex64[..62]).is_none());
        assert!(parse_sha256(&format!("{}zz", &hex64[..62])).is_none());
        assert!(parse_sha256(&format!("{}é", &hex64[..62])).is_none(), "not a char boundary");
    }
}
