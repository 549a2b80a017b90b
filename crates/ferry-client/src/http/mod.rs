//! The HTTP API (`/api/v1`, JSON), as documented in `docs/HTTP_API.md`.
//!
//! [`HttpApi`] is a thin typed wrapper over reqwest: one method per endpoint,
//! and every non-2xx answer turned into [`ClientError::Api`] with the
//! server's stable error code. The bodies are not mirrored here: REST
//! resources are `ferry_api`'s types (the server renders the same ones),
//! messaging bodies are the long connection's `v1` messages in proto3 JSON.
//! One module per feature, as the server's routes are split.

pub mod auth;
pub mod calls;
pub mod contacts;
pub mod files;
pub mod groups;
pub mod messages;
pub mod presence;
pub mod uploads;
pub mod users;

use std::time::Duration;

use ferry_api::ErrorDetail;
use ferry_core::{ApiError, ErrorCode};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, de::DeserializeOwned};

use crate::error::{ClientError, Result, api_error};

/// Timeout of a whole HTTP request, connection included.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Timeout of connecting, for file transfers (which have no overall
/// timeout: each request bounds itself by its size, see `transfer`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Typed client for the HTTP API, optionally carrying a bearer token.
///
/// Cheap to clone (reqwest shares its connection pool).
#[derive(Debug, Clone)]
pub struct HttpApi {
    http: reqwest::Client,
    /// For file transfers: no overall timeout, since a download of a large
    /// file legitimately takes long (each transfer watches for stalls).
    transfer: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// The documented error body, read leniently: `retry_after_ms` is accepted
/// inside `error` (as documented) or beside it.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

impl HttpApi {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`),
    /// without a token.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        let http = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().map_err(ClientError::transport)?;
        let transfer =
            reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build().map_err(ClientError::transport)?;
        let base = base_url.into().trim_end_matches('/').to_owned();
        Ok(Self { http, transfer, base, token: None })
    }

    /// The same client, authenticating with `token`.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Replaces (or removes) the bearer token.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The current bearer token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /healthz`: succeeds when the node is ready.
    pub async fn healthz(&self) -> Result<()> {
        let resp = self.http.get(format!("{}/healthz", self.base)).send().await;
        check(resp.map_err(ClientError::transport)?).await.map(drop)
    }

    /// A request to `/api/v1{path}`, with the bearer token if there is one.
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// A file-transfer request to the absolute `url` (which must be on this
    /// server: the bearer token goes with it).
    pub(crate) fn transfer_req(&self, method: Method, url: &str) -> RequestBuilder {
        let builder = self.transfer.request(method, url);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends `req` and reads the JSON answer as `T`.
    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        json_body(check(req.send().await.map_err(ClientError::transport)?).await?).await
    }

    /// Sends `req`, expecting no body (204).
    async fn call_empty(&self, req: RequestBuilder) -> Result<()> {
        check(req.send().await.map_err(ClientError::transport)?).await.map(drop)
    }
}

/// Reads a JSON answer as `T`.
async fn json_body<T: DeserializeOwned>(resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(ClientError::transport)?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("unexpected response body: {e}")))
}

/// Passes 2xx responses through and turns the rest into [`ClientError::Api`].
pub(crate) async fn check(resp: Response) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_header = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| secs.saturating_mul(1000));
    let body = resp.bytes().await.unwrap_or_default();
    Err(ClientError::Api(parse_error_body(status, &body, retry_header)))
}

/// Parses the documented error body; a body that is not one (a proxy's HTML
/// page, say) becomes a code derived from the status.
fn parse_error_body(status: StatusCode, body: &[u8], retry_header: Option<u64>) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let retry = b.error.retry_after_ms.or(b.retry_after_ms).or(retry_header);
            api_error(&b.error.code, &b.error.message, retry)
        }
        Err(_) => {
            let code = match status.as_u16() {
                400 => ErrorCode::BadRequest,
                401 => ErrorCode::Unauthenticated,
                403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                413 => ErrorCode::PayloadTooLarge,
                429 => ErrorCode::RateLimited,
                503 => ErrorCode::Unavailable,
                _ => ErrorCode::Internal,
            };
            let text = String::from_utf8_lossy(body);
            let message = format!("HTTP {status}: {}", text.chars().take(200).collect::<String>());
            ApiError { code, message, retry_after_ms: retry_header }
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_parsed() {
        let body = br#"{"error":{"code":"username_taken","message":"username alice is taken"}}"#;
        let e = parse_error_body(StatusCode::CONFLICT, body, None);
        assert_eq!(e.code, ErrorCode::UsernameTaken);
        assert_eq!(e.message, "username alice is taken");
        assert_eq!(e.retry_after_ms, None);

        let body = br#"{"error":{"code":"rate_limited","message":"slow"},"retry_after_ms":1500}"#;
        let e = parse_error_body(StatusCode::TOO_MANY_REQUESTS, body, Some(2000));
        assert_eq!((e.code, e.retry_after_ms), (ErrorCode::RateLimited, Some(1500)));

        let body = br#"{"error":{"code":"rate_limited","message":"slow","retry_after_ms":700}}"#;
        let e = parse_error_body(StatusCode::TOO_MANY_REQUESTS, body, None);
        assert_eq!(e.retry_after_ms, Some(700));
    }

    #[test]
    fn non_json_errors_fall_back_to_the_status() {
        let e = parse_error_body(StatusCode::NOT_FOUND, b"<html>nope</html>", None);
        assert_eq!(e.code, ErrorCode::NotFound);
        let e = parse_error_body(StatusCode::BAD_GATEWAY, b"", Some(3000));
        assert_eq!((e.code, e.retry_after_ms), (ErrorCode::Internal, Some(3000)));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode_path_segment("alice.b-c_d"), "alice.b-c_d");
        assert_eq!(encode_path_segment("a/b c?"), "a%2Fb%20c%3F");
    }
}
