//! Files over raw HTTP (docs/HTTP_API.md, "Files"): one-request uploads,
//! downloads, tus 1.0 requests step by step, and test content — so tests
//! see statuses and headers exactly as sent.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use reqwest::{Method, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    TestServer, TestUser, WAIT,
    http::{Answer, answer},
};

/// `len` bytes of reproducible noise (xorshift64*), distinct per `seed`:
/// content no sniffer recognises and no two tests share by accident.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// tus `Upload-Metadata`: `key base64(value)` pairs.
pub fn tus_metadata(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k} {}", STANDARD.encode(v))).collect::<Vec<_>>().join(",")
}

/// tus `Upload-Checksum` of `bytes`: `sha256 <base64 digest>`.
pub fn tus_checksum(bytes: &[u8]) -> String {
    format!("sha256 {}", STANDARD.encode(Sha256::digest(bytes)))
}

/// A response header as text (panics if it is not ASCII).
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap_or_else(|_| panic!("{name} is not ASCII")).to_string())
}

/// `Upload-Offset` of a tus answer (panics without one).
pub fn upload_offset(resp: &Response) -> u64 {
    header(resp, "upload-offset")
        .unwrap_or_else(|| panic!("no Upload-Offset in {} {:?}", resp.status(), resp.headers()))
        .parse()
        .expect("Upload-Offset is a number")
}

/// File and upload calls against one server.
#[derive(Clone)]
pub struct FileApi {
    client: reqwest::Client,
    /// `http://127.0.0.1:<port>`
    base: String,
}

impl FileApi {
    /// Calls to `server` over a fresh connection pool: two `FileApi`s stand
    /// for two processes.
    pub fn new(server: &TestServer) -> Self {
        Self::at(server.http_url())
    }

    /// Calls to the server at `base` (`http://host:port`).
    pub fn at(base: String) -> Self {
        Self { client: reqwest::Client::new(), base }
    }

    /// An absolute URL: `path` is under `/api/v1` unless it starts with
    /// `/api/` already (a `Location` or a signed URL).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") { format!("{}{path}", self.base) } else { format!("{}/api/v1{path}", self.base) }
    }

    /// A request to `path` with `token` as bearer (if any) and `headers`.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }

    /// Sends `req`; panics if there is no answer within a few [`WAIT`]s.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        let req = req.build().expect("request");
        let what = format!("{} {}", req.method(), req.url());
        tokio::time::timeout(3 * WAIT, self.client.execute(req))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within {:?}", 3 * WAIT))
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// `POST /files?name=` with `bytes` as the raw body of type `mime`.
    pub async fn upload(&self, user: &TestUser, name: &str, mime: &str, bytes: Vec<u8>) -> Answer {
        let path =
            format!("/files?name={}", percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC));
        let req = self.request(Method::POST, &path, Some(&user.token), &[("content-type", mime)]).body(bytes);
        answer(self.send(req).await).await
    }

    /// [`Self::upload`], asserting `201`; the `FileInfo`.
    pub async fn upload_ok(&self, user: &TestUser, name: &str, mime: &str, bytes: Vec<u8>) -> Value {
        let a = self.upload(user, name, mime, bytes).await;
        assert_eq!(a.status, 201, "uploading {name}: {}", a.body);
        a.body["file"].clone()
    }

    /// `GET path` (or HEAD, ...) with `token` and `headers`.
    pub async fn get(&self, token: Option<&str>, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(self.request(Method::GET, path, token, headers)).await
    }

    /// The whole content of file `id` as `user` sees it (asserts 200).
    pub async fn download(&self, user: &TestUser, id: &str) -> Vec<u8> {
        let resp = self.get(Some(&user.token), &format!("/files/{id}"), &[]).await;
        assert_eq!(resp.status(), 200, "downloading {id}");
        resp.bytes().await.expect("body").to_vec()
    }

    /// `GET /files/{id}/info` as `user`: status and body.
    pub async fn info(&self, user: &TestUser, id: &str) -> Answer {
        answer(self.get(Some(&user.token), &format!("/files/{id}/info"), &[]).await).await
    }

    /// tus creation: `POST /uploads` of `size` bytes with `metadata`, and
    /// `first` bytes in the body if given (creation-with-upload).
    pub async fn tus_create(
        &self,
        user: &TestUser,
        size: u64,
        metadata: &[(&str, &str)],
        first: Option<Vec<u8>>,
    ) -> Response {
        let (size, metadata) = (size.to_string(), tus_metadata(metadata));
        let mut headers = vec![("tus-resumable", "1.0.0"), ("upload-length", size.as_str())];
        if !metadata.is_empty() {
            headers.push(("upload-metadata", metadata.as_str()));
        }
        let mut req = self.request(Method::POST, "/uploads", Some(&user.token), &headers);
        if let Some(first) = first {
            req = req.header("content-type", "application/offset+octet-stream").body(first);
        }
        self.send(req).await
    }

    /// [`Self::tus_create`], asserting `201`; the upload's `Location` path.
    pub async fn tus_create_ok(&self, user: &TestUser, size: u64, metadata: &[(&str, &str)]) -> String {
        let resp = self.tus_create(user, size, metadata, None).await;
        assert_eq!(resp.status(), 201, "creating an upload: {:?}", resp.text().await);
        let location = header(&resp, "location").expect("Location");
        assert!(location.starts_with("/api/v1/uploads/"), "{location}");
        location
    }

    /// tus `HEAD location` as `user`.
    pub async fn tus_head(&self, user: &TestUser, location: &str) -> Response {
        self.send(self.request(Method::HEAD, location, Some(&user.token), &[("tus-resumable", "1.0.0")])).await
    }

    /// tus `PATCH location` at `offset` with `body`, and an
    /// `Upload-Checksum` if given.
    pub async fn tus_patch(
        &self,
        user: &TestUser,
        location: &str,
        offset: u64,
        body: Vec<u8>,
        checksum: Option<String>,
    ) -> Response {
        let offset = offset.to_string();
        let mut headers = vec![
            ("tus-resumable", "1.0.0"),
            ("upload-offset", offset.as_str()),
            ("content-type", "application/offset+octet-stream"),
        ];
        if let Some(c) = &checksum {
            headers.push(("upload-checksum", c.as_str()));
        }
        self.send(self.request(Method::PATCH, location, Some(&user.token), &headers).body(body)).await
    }

    /// tus termination: `DELETE location` as `user`.
    pub async fn tus_delete(&self, user: &TestUser, location: &str) -> Response {
        self.send(self.request(Method::DELETE, location, Some(&user.token), &[("tus-resumable", "1.0.0")])).await
    }

    /// A whole tus upload of `bytes` named `name` in `chunk`-sized PATCHes
    /// (each with its checksum); the new file's id.
    pub async fn tus_upload(&self, user: &TestUser, name: &str, bytes: &[u8], chunk: usize) -> String {
        let sha = sha256_hex(bytes);
        let location = self.tus_create_ok(user, bytes.len() as u64, &[("filename", name), ("sha256", &sha)]).await;
        let mut offset = 0;
        for piece in bytes.chunks(chunk) {
            let resp = self.tus_patch(user, &location, offset, piece.to_vec(), Some(tus_checksum(piece))).await;
            assert_eq!(resp.status(), 204, "PATCH at {offset}: {:?}", resp.text().await);
            offset = upload_offset(&resp);
            if offset == bytes.len() as u64 {
                return header(&resp, "ferry-file-id").expect("the last PATCH names the file");
            }
        }
        panic!("the upload of {name} never completed (offset {offset} of {})", bytes.len());
    }
}
