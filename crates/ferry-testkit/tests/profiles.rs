//! Profiles and user search end to end, and the limits and authentication
//! every contact endpoint enforces.
//!
//! HTTP is driven with `reqwest` directly, so these tests depend only on the
//! documented wire format (docs/HTTP_API.md).

use ferry_testkit::{
    TestServer,
    http::{Answer, Api, error_code, rows},
};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn profile_update_shows_to_others_and_rejects_empty_display_name() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    let (status, body) = api
        .call(
            Method::PATCH,
            "/me",
            &alice,
            Some(
                json!({"display_name": "Alice Liddell", "avatar": "https://img.example/a.png", "bio": "down the hole"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let user = &body["user"];
    assert_eq!(user["id"].as_i64(), Some(alice.id));
    assert_eq!(user["display_name"], "Alice Liddell");
    assert_eq!(user["avatar"], "https://img.example/a.png");
    assert_eq!(user["bio"], "down the hole");

    // Others see the profile, wrapped as every single resource is: {"user": User}.
    let seen = &api.get(&format!("/users/{}", alice.id), &bob).await["user"];
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["display_name"], "Alice Liddell");
    assert_eq!(seen["avatar"], "https://img.example/a.png");
    assert_eq!(seen["bio"], "down the hole");

    // A partial patch leaves the other fields alone.
    let (status, body) = api.call(Method::PATCH, "/me", &alice, Some(json!({"bio": "back again"}))).await;
    assert_eq!(status, 200, "{body}");
    let seen = &api.get(&format!("/users/{}", alice.id), &bob).await["user"];
    assert_eq!(seen["display_name"], "Alice Liddell");
    assert_eq!(seen["avatar"], "https://img.example/a.png");
    assert_eq!(seen["bio"], "back again");

    // An empty (or blank) display name is refused and changes nothing.
    for empty in ["", "   "] {
        let (status, body) = api.call(Method::PATCH, "/me", &alice, Some(json!({"display_name": empty}))).await;
        assert_eq!(status, 400, "display_name {empty:?}: {body}");
        assert_eq!(error_code(&body), "invalid_argument");
    }
    let seen = &api.get(&format!("/users/{}", alice.id), &bob).await["user"];
    assert_eq!(seen["display_name"], "Alice Liddell");
}

#[tokio::test]
async fn user_search_by_exact_username_or_id() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let _alicia = server.user("alicia").await;

    let found_ids =
        |body: Value| -> Vec<i64> { rows(&body, "users").iter().map(|u| u["id"].as_i64().expect("id")).collect() };

    // Exact username, case-insensitive; no prefix matching.
    for q in ["alice", "ALICE", "Alice"] {
        let body = api.get(&format!("/users/search?q={q}"), &bob).await;
        assert_eq!(found_ids(body.clone()), vec![alice.id], "q={q}: {body}");
        assert_eq!(rows(&body, "users")[0]["username"], "alice");
    }
    // By numeric id.
    let body = api.get(&format!("/users/search?q={}", bob.id), &alice).await;
    assert_eq!(found_ids(body.clone()), vec![bob.id], "{body}");
    // Unknown: an empty list, not an error.
    for q in ["nobody", "ali", "987654321"] {
        let body = api.get(&format!("/users/search?q={q}"), &alice).await;
        assert!(found_ids(body.clone()).is_empty(), "q={q}: {body}");
    }
}

#[tokio::test]
async fn contact_fields_have_limits_and_endpoints_need_a_token() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // Over-long profile fields are refused, not truncated.
    for patch in [json!({"display_name": "d".repeat(65)}), json!({"bio": "b".repeat(257)})] {
        let (status, body) = api.call(Method::PATCH, "/me", &alice, Some(patch.clone())).await;
        assert_eq!(status, 400, "{patch}: {body}");
        assert_eq!(error_code(&body), "invalid_argument");
    }
    let seen = &api.get(&format!("/users/{}", alice.id), &bob).await["user"];
    assert_eq!(seen["bio"], "", "a refused patch changes nothing");

    // Over-long greeting: refused and nothing stored.
    let (status, body) = api
        .call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": bob.id, "greeting": "g".repeat(257)})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "invalid_argument");
    assert!(api.friend_requests(&bob).await.is_empty());

    // Over-long remark.
    api.befriend(&alice, &bob).await;
    let (status, body) = api
        .call(Method::PUT, &format!("/friends/{}/remark", bob.id), &alice, Some(json!({"remark": "r".repeat(65)})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "invalid_argument");
    assert_eq!(rows(&api.get("/friends", &alice).await, "friends")[0]["remark"], "");

    // No token, or a wrong one: 401 everywhere.
    for (method, path) in [
        (Method::GET, "/friends".to_owned()),
        (Method::GET, "/friends/requests".to_owned()),
        (Method::GET, "/blocks".to_owned()),
        (Method::GET, "/contacts/changes?since=0".to_owned()),
        (Method::GET, "/users/search?q=alice".to_owned()),
        (Method::PUT, format!("/blocks/{}", bob.id)),
        (Method::DELETE, format!("/friends/{}", bob.id)),
    ] {
        let Answer { status, body, .. } = api.request(method.clone(), &path, Some("not-a-token"), None).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    // ...and nothing changed.
    assert_eq!(api.friend_ids(&alice).await, vec![bob.id]);
    assert!(api.block_ids(&alice).await.is_empty());
}
