//! Raw HTTP against a test server with `reqwest`, not the SDK, so tests see
//! statuses, headers and JSON bodies exactly as sent (docs/HTTP_API.md), and
//! readers for the JSON they get back: REST bodies are read as JSON values,
//! the messaging endpoints' proto3-JSON bodies as their `v1` messages.

use std::net::IpAddr;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{TestServer, TestUser, WAIT};

/// An HTTP answer: status, `Retry-After` header, JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The parsed body; `Value::Null` when it is empty (as for 204).
    pub body: Value,
}

/// Raw HTTP calls to one server's `/api/v1`.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Answer {
    /// The error code of an error body (panics if this is no error).
    pub fn code(&self) -> &str {
        error_code(&self.body)
    }
}

impl Api {
    /// Calls to `server`.
    pub fn new(server: &TestServer) -> Self {
        Self::with_client(server, reqwest::Client::new())
    }

    /// Calls to `server` whose connections come from `ip` (another loopback
    /// address, to stand for another client).
    pub fn from_ip(server: &TestServer, ip: IpAddr) -> Self {
        Self::with_client(server, reqwest::Client::builder().local_address(ip).build().expect("client"))
    }

    fn with_client(server: &TestServer, client: reqwest::Client) -> Self {
        Self { client, base: format!("{}/api/v1", server.http_url()) }
    }

    /// `method /api/v1{path}` with an optional bearer token and JSON body;
    /// panics if there is no answer within [`WAIT`].
    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = tokio::time::timeout(WAIT, req.send())
            .await
            .unwrap_or_else(|_| panic!("{method} {url}: no answer within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        answer(resp).await
    }

    /// `method /api/v1{path}` as `user`: `(status, JSON body)`.
    pub async fn call(&self, method: Method, path: &str, user: &TestUser, body: Option<Value>) -> (u16, Value) {
        let a = self.request(method, path, Some(&user.token), body.as_ref()).await;
        (a.status, a.body)
    }

    /// `GET /api/v1{path}` as `user`; asserts 200 and returns the body.
    pub async fn get(&self, path: &str, user: &TestUser) -> Value {
        let (status, body) = self.call(Method::GET, path, user, None).await;
        assert_eq!(status, 200, "GET {path} as {}: {body}", user.username);
        body
    }

    /// Registers `username` with `password`.
    pub async fn register(&self, username: &str, password: &str) -> Answer {
        let body = json!({"username": username, "password": password});
        self.request(Method::POST, "/auth/register", None, Some(&body)).await
    }

    /// Logs `username` in on the `cli` platform.
    pub async fn login(&self, username: &str, password: &str) -> Answer {
        let body = json!({"username": username, "password": password, "platform": "cli"});
        self.request(Method::POST, "/auth/login", None, Some(&body)).await
    }

    /// Uploads `bytes` as `user` in one request (`POST /files?name=`, the
    /// body's type `mime`); asserts 201 and returns the file object.
    pub async fn upload(&self, user: &TestUser, name: &str, mime: &str, bytes: Vec<u8>) -> ferry_client::api::FileInfo {
        let a = self.upload_answer(user, name, mime, bytes).await;
        assert_eq!(a.status, 201, "uploading {name} as {}: {}", user.username, a.body);
        serde_json::from_value(a.body["file"].clone()).expect("a FileInfo")
    }

    /// [`Api::upload`] whatever the answer.
    pub async fn upload_answer(&self, user: &TestUser, name: &str, mime: &str, bytes: Vec<u8>) -> Answer {
        let req = self
            .client
            .post(format!("{}/files", self.base))
            .query(&[("name", name)])
            .bearer_auth(&user.token)
            .header(reqwest::header::CONTENT_TYPE, mime)
            .body(bytes);
        answer(tokio::time::timeout(WAIT, req.send()).await.expect("upload answered").expect("upload sent")).await
    }

    /// `GET` of a download path (`/files/{id}`, a signed URL's path and
    /// query) with `user`'s token, if any: `(status, body bytes)`.
    pub async fn download(&self, path: &str, user: Option<&TestUser>) -> (u16, Vec<u8>) {
        let path = path.strip_prefix("/api/v1").unwrap_or(path);
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(user) = user {
            req = req.bearer_auth(&user.token);
        }
        let resp = tokio::time::timeout(WAIT, req.send()).await.expect("download answered").expect("download sent");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("download body").to_vec())
    }

    /// `GET /me` with `token`.
    pub async fn me(&self, token: &str) -> Answer {
        self.request(Method::GET, "/me", Some(token), None).await
    }
}

/// Reads `resp` whole: its status, `Retry-After`, and its body, which must be
/// JSON or empty.
pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let url = resp.url().clone();
    let retry_after =
        resp.headers().get(reqwest::header::RETRY_AFTER).map(|v| v.to_str().expect("ascii header").to_owned());
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!("HTTP {status} from {url}: body is not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes))
        })
    };
    Answer { status, retry_after, body }
}

/// The code of a JSON error body `{"error": {"code": ...}}`; panics if the
/// body is no error.
pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// The array `key` of a JSON object (panics if it is missing).
pub fn rows(body: &Value, key: &str) -> Vec<Value> {
    body[key].as_array().unwrap_or_else(|| panic!("no array {key:?} in {body}")).clone()
}

/// The `id` of a JSON object (panics if it is missing).
pub fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// The `version` of a JSON object (panics if it is missing).
pub fn version_of(v: &Value) -> u64 {
    v["version"].as_u64().unwrap_or_else(|| panic!("no version in {v}"))
}

/// A proto3-JSON body (the messaging endpoints') read as its `v1` message;
/// panics if it is not one.
pub fn proto<T: DeserializeOwned>(body: &Value) -> T {
    serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("not a {}: {e}: {body}", std::any::type_name::<T>()))
}
