//! The upload requests: one-request uploads (`POST /files`) and the tus 1.0
//! resumable protocol at `/uploads` (create, HEAD, PATCH, terminate), one
//! request each. Choosing between them, chunking, retrying and resuming is
//! [`crate::transfer`]'s.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ferry_api::{FileInfo, FileResponse, UploadQuery};
use reqwest::{Method, Response, header};

use super::{HttpApi, check, json_body};
use crate::error::{ClientError, Result};

const TUS_VERSION: &str = "1.0.0";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Where a resumable upload stands, as HEAD and PATCH answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TusStatus {
    /// What the server holds durably: the next PATCH starts here.
    pub offset: u64,
    /// Set once the last byte arrived and the file was published.
    pub file_id: Option<String>,
}

/// What a new resumable upload announces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TusMetadata<'a> {
    pub name: &'a str,
    /// The declared type; "" = let the server sniff it.
    pub mime: &'a str,
    /// 64 lower-case hex digits; the server refuses content that differs.
    pub sha256: &'a str,
}

/// A body to send: its bytes and how long the request may take.
pub(crate) struct Payload {
    pub body: reqwest::Body,
    pub len: u64,
    pub timeout: Duration,
}

impl HttpApi {
    /// `POST /files?name=`: uploads a whole file as the raw body.
    pub(crate) async fn upload_one_request(&self, name: &str, mime: &str, payload: Payload) -> Result<FileInfo> {
        let url = format!("{}/api/v1/files", self.base_url());
        let mime = if mime.is_empty() { "application/octet-stream" } else { mime };
        let req = self
            .transfer_req(Method::POST, &url)
            .query(&UploadQuery { name: Some(name.to_owned()) })
            .header(header::CONTENT_TYPE, mime)
            .header(header::CONTENT_LENGTH, payload.len)
            .timeout(payload.timeout)
            .body(payload.body);
        let answer: FileResponse = json_body(send(req).await?).await?;
        Ok(answer.file)
    }

    /// `POST /uploads`: creates a resumable upload of `size` bytes and
    /// returns its absolute URL.
    pub(crate) async fn tus_create(&self, size: u64, meta: TusMetadata<'_>) -> Result<String> {
        let mut metadata = format!("filename {},sha256 {}", STANDARD.encode(meta.name), STANDARD.encode(meta.sha256));
        if !meta.mime.is_empty() {
            metadata.push_str(&format!(",filetype {}", STANDARD.encode(meta.mime)));
        }
        let url = format!("{}/api/v1/uploads", self.base_url());
        let req = self
            .transfer_req(Method::POST, &url)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Length", size)
            .header("Upload-Metadata", metadata)
            .header(header::CONTENT_LENGTH, 0)
            .timeout(super::HTTP_TIMEOUT);
        let resp = send(req).await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::Protocol("an upload was created without a Location".into()))?;
        // The server names the upload by its path; the base URL may carry a
        // prefix a reverse proxy strips, so the path goes after the base.
        let absolute =
            if location.starts_with('/') { format!("{}{location}", self.base_url()) } else { location.to_owned() };
        self.check_upload_url(&absolute)?;
        Ok(absolute)
    }

    /// `HEAD` of an upload: where it stands.
    pub(crate) async fn tus_head(&self, url: &str) -> Result<TusStatus> {
        self.check_upload_url(url)?;
        let req =
            self.transfer_req(Method::HEAD, url).header("Tus-Resumable", TUS_VERSION).timeout(super::HTTP_TIMEOUT);
        status_of(&send(req).await?)
    }

    /// `PATCH`: appends `payload` at `offset`, with the SHA-256 of the
    /// payload as `Upload-Checksum`.
    pub(crate) async fn tus_patch(
        &self,
        url: &str,
        offset: u64,
        checksum: &[u8; 32],
        payload: Payload,
    ) -> Result<TusStatus> {
        self.check_upload_url(url)?;
        let req = self
            .transfer_req(Method::PATCH, url)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Offset", offset)
            .header("Upload-Checksum", format!("sha256 {}", STANDARD.encode(checksum)))
            .header(header::CONTENT_TYPE, OFFSET_OCTET_STREAM)
            .header(header::CONTENT_LENGTH, payload.len)
            .timeout(payload.timeout)
            .body(payload.body);
        status_of(&send(req).await?)
    }

    /// `DELETE` of an upload: cancels it and deletes what the server holds.
    pub(crate) async fn tus_terminate(&self, url: &str) -> Result<()> {
        self.check_upload_url(url)?;
        let req =
            self.transfer_req(Method::DELETE, url).header("Tus-Resumable", TUS_VERSION).timeout(super::HTTP_TIMEOUT);
        send(req).await.map(drop)
    }

    /// An upload URL must be this server's: the bearer token is sent with
    /// it, and upload states are read back from files a caller persisted.
    fn check_upload_url(&self, url: &str) -> Result<()> {
        let prefix = format!("{}/api/v1/uploads/", self.base_url());
        match url.strip_prefix(&prefix) {
            Some(id) if !id.is_empty() && !id.contains(['/', '?', '#']) => Ok(()),
            _ => Err(ClientError::Protocol(format!("{url:?} is not an upload URL of {}", self.base_url()))),
        }
    }
}

async fn send(req: reqwest::RequestBuilder) -> Result<Response> {
    check(req.send().await.map_err(ClientError::transport)?).await
}

fn status_of(resp: &Response) -> Result<TusStatus> {
    let headers = resp.headers();
    let offset = headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ClientError::Protocol("a tus answer without Upload-Offset".into()))?;
    let file_id = headers.get("ferry-file-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok(TusStatus { offset, file_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_urls_must_be_this_servers() {
        let api = HttpApi::new("http://127.0.0.1:8080/").unwrap();
        assert!(api.check_upload_url("http://127.0.0.1:8080/api/v1/uploads/u-abc").is_ok());
        for bad in [
            "http://evil.example/api/v1/uploads/u-abc",
            "http://127.0.0.1:8080/api/v1/uploads/",
            "http://127.0.0.1:8080/api/v1/uploads/a/../../files/x",
            "http://127.0.0.1:8080/api/v1/users/me",
            "http://127.0.0.1:8080.evil.example/api/v1/uploads/u",
        ] {
            assert!(api.check_upload_url(bad).is_err(), "{bad}");
        }
    }
}
