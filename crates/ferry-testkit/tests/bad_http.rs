//! Bad input over HTTP: bodies over the limit, invalid JSON, unknown routes
//! and wrong methods each get a non-2xx status and the JSON error body with
//! a stable code (docs/HTTP_API.md).

use ferry_testkit::{
    TestServer,
    health::assert_healthy,
    http::{Answer, answer},
};

#[tokio::test]
async fn http_body_over_the_limit_is_413_payload_too_large() {
    let server = TestServer::start_with(|c| c.limits.max_http_body_bytes = 2048).await;
    let alice = server.user("alice").await;
    let http = reqwest::Client::new();

    // Valid JSON, only too big.
    let body =
        serde_json::json!({"username": "bigbody", "password": "long enough pw", "display_name": "x".repeat(4096)});
    let resp = http.post(format!("{}/api/v1/auth/register", server.http_url())).json(&body).send().await.expect("post");
    let Answer { status, body: json, .. } = answer(resp).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"]["code"], "payload_too_large", "{json}");

    // The same on an authenticated route.
    let body = serde_json::json!({
        "clientMsgId": "c1", "userId": alice.id.to_string(), "content": {"text": {"text": "y".repeat(4096)}},
    });
    let resp = http
        .post(format!("{}/api/v1/messages", server.http_url()))
        .bearer_auth(&alice.token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let Answer { status, body: json, .. } = answer(resp).await;
    assert_eq!((status, &json["error"]["code"]), (413, &serde_json::json!("payload_too_large")), "{json}");

    assert_healthy(&server).await;
}

#[tokio::test]
async fn http_invalid_json_is_400_bad_request() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let http = reqwest::Client::new();

    for (path, body) in [
        ("/api/v1/auth/register", "{not json"),
        ("/api/v1/auth/login", r#"{"username": "alice"}"#),
        ("/api/v1/auth/login", r#"{"username": 5, "password": "x"}"#),
    ] {
        let resp = http
            .post(format!("{}{path}", server.http_url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let Answer { status, body: json, .. } = answer(resp).await;
        assert_eq!((status, &json["error"]["code"]), (400, &serde_json::json!("bad_request")), "{path} {body}: {json}");
        assert!(json["error"]["message"].is_string(), "{json}");
    }

    let resp = http
        .post(format!("{}/api/v1/messages", server.http_url()))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body("[")
        .send()
        .await
        .expect("post");
    let Answer { status, body: json, .. } = answer(resp).await;
    assert_eq!((status, &json["error"]["code"]), (400, &serde_json::json!("bad_request")), "{json}");
}

#[tokio::test]
async fn http_unknown_route_is_404_json() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    // Other paths belong to the web client (tests/web.rs): its routes load
    // the app, and only a missing file is a 404.
    for path in ["/api/v1/nope", "/nope.json", "/api/v2/me", "/api/v1/users/1/extra"] {
        let resp = http.get(format!("{}{path}", server.http_url())).send().await.expect("get");
        let Answer { status, body: json, .. } = answer(resp).await;
        assert_eq!((status, &json["error"]["code"]), (404, &serde_json::json!("not_found")), "{path}: {json}");
    }
}

#[tokio::test]
async fn http_wrong_method_is_405_with_a_json_error() {
    // docs/HTTP_API.md: every error is a non-2xx status with the JSON error
    // body, whose code is one of the stable codes.
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/api/v1/auth/login", server.http_url())).send().await.expect("get");
    let Answer { status, body: json, .. } = answer(resp).await;
    assert_eq!(status, 405, "{json}");
    let code = json["error"]["code"].as_str().unwrap_or_default();
    assert!(ferry_core::ErrorCode::parse(code).is_some(), "no stable error code in {json}");
}
