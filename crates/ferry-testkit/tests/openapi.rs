//! The OpenAPI document against a running server: it is served without a
//! token, and every operation it lists is a route the server answers — not
//! the router's fallback (404 "no such route", 405 `method_not_allowed`).
//! (The other direction, every route documented, holds by construction:
//! the server registers `/api/v1` routes only together with their entry.)

use ferry_testkit::{TestServer, http::Api};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let api = Api::new(&server);

    let doc = api.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert!(doc.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc.body["openapi"]);

    let mut operations = Vec::new();
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"].into_iter().filter(|m| item.get(m).is_some()) {
            operations.push((Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"), path.clone()));
        }
    }
    assert!(operations.len() >= 45, "only {} operations documented", operations.len());
    // Logging out revokes the token the other requests use: last.
    operations.sort_by_key(|(method, path)| (path == "/api/v1/auth/logout", path.clone(), method.to_string()));

    for (method, path) in operations {
        // Placeholder ids: whatever the handler makes of them, it must be the handler that answers.
        let concrete = path.replace("{username}", "alice");
        let concrete =
            concrete.split('/').map(|seg| if seg.starts_with('{') { "1" } else { seg }).collect::<Vec<_>>().join("/");
        let relative = concrete.strip_prefix("/api/v1").expect("under /api/v1");
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let answer = api.request(method.clone(), relative, Some(&alice.token), body.as_ref()).await;
        let what = format!("{method} {concrete} (documented as {path}): {} {}", answer.status, answer.body);
        let fallback_404 = answer.status == 404 && answer.body["error"]["message"] == "no such route";
        let fallback_405 = answer.status == 405 || answer.body["error"]["code"] == "method_not_allowed";
        assert!(!fallback_404 && !fallback_405, "answered by the router's fallback: {what}");
        assert_ne!(answer.status, 401, "the token is valid, so the handler ran: {what}");
    }
}
