//! Contacts end to end over real sockets: profiles and user search, the
//! friend-request lifecycle, friends and remarks, the blocklist and what it
//! refuses, the friends-only direct-message policy, and the versioned
//! `changed{domain:"contacts"}` pushes with incremental sync.
//!
//! HTTP is driven with `reqwest` directly and the long connection with
//! [`RawConnection`], so these tests depend only on the documented wire
//! formats (docs/HTTP_API.md, proto/ferry.proto).

use std::time::Duration;

use ferry_client::{RawConnection, v1};
use ferry_core::ConversationId;
use ferry_proto::{Body, Frame};
use ferry_server::config::DirectMessages;
use ferry_testkit::{TestServer, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

/// Upper bound on any single wait; a healthy server answers in milliseconds.
const WAIT: Duration = Duration::from_secs(10);

// --- HTTP helpers -------------------------------------------------------------

/// One HTTP call: `(status, JSON body)`; an empty body (204) is `Value::Null`.
async fn call(method: Method, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method.clone(), url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = tokio::time::timeout(WAIT, req.send())
        .await
        .unwrap_or_else(|_| panic!("{method} {url}: no answer within {WAIT:?}"))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("response body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {url}: body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

/// Shorthand for calls to `/api/v1` on one server as one user.
struct Api {
    base: String,
}

impl Api {
    fn new(server: &TestServer) -> Self {
        Self { base: format!("{}/api/v1", server.http_url()) }
    }

    async fn call(&self, method: Method, path: &str, user: &TestUser, body: Option<Value>) -> (u16, Value) {
        call(method, &format!("{}{path}", self.base), &user.token, body).await
    }

    async fn get(&self, path: &str, user: &TestUser) -> Value {
        let (status, body) = self.call(Method::GET, path, user, None).await;
        assert_eq!(status, 200, "GET {path} as {}: {body}", user.username);
        body
    }

    /// Sends a friend request from `from` to `to`; asserts 201 and returns the request.
    async fn request(&self, from: &TestUser, to: &TestUser, greeting: &str) -> Value {
        let (status, body) = self
            .call(Method::POST, "/friends/requests", from, Some(json!({"user_id": to.id, "greeting": greeting})))
            .await;
        assert_eq!(status, 201, "friend request {} -> {}: {body}", from.username, to.username);
        body["request"].clone()
    }

    /// Accepts (or declines) request `id` as `user`; asserts 200.
    async fn respond(&self, user: &TestUser, id: i64, accept: bool) -> Value {
        let verb = if accept { "accept" } else { "decline" };
        let (status, body) = self.call(Method::POST, &format!("/friends/requests/{id}/{verb}"), user, None).await;
        assert_eq!(status, 200, "{verb} {id} as {}: {body}", user.username);
        body["request"].clone()
    }

    /// Makes `a` and `b` friends (a asks, b accepts).
    async fn befriend(&self, a: &TestUser, b: &TestUser) {
        let r = self.request(a, b, "hi").await;
        self.respond(b, id_of(&r), true).await;
    }

    /// The user ids in `user`'s friend list.
    async fn friend_ids(&self, user: &TestUser) -> Vec<i64> {
        let body = self.get("/friends", user).await;
        rows(&body, "friends").iter().map(|f| f["user_id"].as_i64().expect("user_id")).collect()
    }

    /// The user ids in `user`'s blocklist.
    async fn block_ids(&self, user: &TestUser) -> Vec<i64> {
        let body = self.get("/blocks", user).await;
        rows(&body, "blocks").iter().map(|b| b["user_id"].as_i64().expect("user_id")).collect()
    }

    /// `user`'s friend requests (sent and received).
    async fn requests(&self, user: &TestUser) -> Vec<Value> {
        rows(&self.get("/friends/requests", user).await, "requests")
    }

    async fn changes(&self, user: &TestUser, since: u64) -> Value {
        self.get(&format!("/contacts/changes?since={since}"), user).await
    }

    /// A direct text message over HTTP: `(status, body)`.
    async fn send_text(&self, from: &TestUser, to: &TestUser, client_msg_id: &str, text: &str) -> (u16, Value) {
        self.call(
            Method::POST,
            "/messages",
            from,
            Some(json!({"client_msg_id": client_msg_id, "to_user_id": to.id, "text": text})),
        )
        .await
    }

    /// Every message in the direct conversation of `a` and `b`, read as `a`.
    async fn direct_messages(&self, a: &TestUser, b: &TestUser) -> Vec<Value> {
        let conv = ConversationId::direct(a.id, b.id).to_string();
        let body = self.get(&format!("/conversations/{conv}/messages?after_seq=0&limit=100"), a).await;
        rows(&body, "messages")
    }

    /// `user`'s direct conversations with `peer` (by GET /conversations).
    async fn conversations_with(&self, user: &TestUser, peer: &TestUser) -> Vec<Value> {
        let body = self.get("/conversations", user).await;
        rows(&body, "conversations").into_iter().filter(|c| c["peer_user_id"].as_i64() == Some(peer.id)).collect()
    }
}

/// The array `key` of a JSON object (panics if it is missing).
fn rows(body: &Value, key: &str) -> Vec<Value> {
    body[key].as_array().unwrap_or_else(|| panic!("no array {key:?} in {body}")).clone()
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

fn version_of(v: &Value) -> u64 {
    v["version"].as_u64().unwrap_or_else(|| panic!("no version in {v}"))
}

/// The error code of an error body.
fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

// --- long-connection helpers --------------------------------------------------

fn text(s: &str) -> v1::MessageContent {
    v1::MessageContent {
        kind: Some(v1::message_content::Kind::Text(v1::Text { text: s.into(), ..Default::default() })),
    }
}

fn send_body(to: i64, client_msg_id: &str, s: &str) -> Body {
    Body::Send(v1::SendMessage {
        client_msg_id: client_msg_id.into(),
        to: Some(v1::send_message::To::UserId(to)),
        content: Some(text(s)),
    })
}

/// The next frame that is not a presence push; panics on timeout or close.
async fn next_frame(conn: &mut RawConnection) -> Frame {
    loop {
        let frame = conn
            .recv_timeout(WAIT)
            .await
            .unwrap_or_else(|e| panic!("no frame within {WAIT:?}: {e}"))
            .expect("server closed the connection");
        if frame.id == 0 && matches!(frame.body, Some(Body::Presence(_))) {
            continue;
        }
        return frame;
    }
}

/// Sends `body` and returns the frame answering it, skipping pushes (a
/// sender's own devices, for one, get a push of every message they send).
async fn answer(conn: &mut RawConnection, body: Body) -> Body {
    let id = conn.send_body(body).await.expect("send frame");
    loop {
        let frame = next_frame(conn).await;
        if frame.id == id {
            return frame.body.expect("answer has a body");
        }
        assert_eq!(frame.id, 0, "answer to an unknown request: {frame:?}");
        if let Some(Body::Error(e)) = &frame.body {
            panic!("error push while waiting for request {id}: {e:?}");
        }
    }
}

/// Sends a direct message on the long connection and returns the error code
/// it is refused with (panics if it is accepted).
async fn send_refused(conn: &mut RawConnection, to: i64, client_msg_id: &str, s: &str) -> String {
    match answer(conn, send_body(to, client_msg_id, s)).await {
        Body::Error(e) => {
            assert!(!e.fatal, "a refused send must not end the connection: {e:?}");
            e.code
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// Sends a direct message on the long connection and expects an ack.
async fn send_acked(conn: &mut RawConnection, to: i64, client_msg_id: &str, s: &str) -> v1::SendAck {
    match answer(conn, send_body(to, client_msg_id, s)).await {
        Body::SendAck(ack) => {
            assert_eq!(ack.client_msg_id, client_msg_id);
            ack
        }
        other => panic!("expected a send_ack, got {other:?}"),
    }
}

/// The next push must be `changed{domain:"contacts"}`; returns its version.
async fn expect_changed(conn: &mut RawConnection) -> u64 {
    let frame = next_frame(conn).await;
    match frame {
        Frame { id: 0, body: Some(Body::Changed(c)) } => {
            assert_eq!(c.domain, "contacts", "{c:?}");
            assert_eq!(c.group_id, 0, "{c:?}");
            c.version
        }
        other => panic!("expected a contacts `changed` push, got {other:?}"),
    }
}

/// The next push must be a message; returns it.
async fn expect_message(conn: &mut RawConnection) -> v1::Message {
    match next_frame(conn).await {
        Frame { id: 0, body: Some(Body::Message(m)) } => m,
        other => panic!("expected a message push, got {other:?}"),
    }
}

/// Nothing (but presence) is queued for `conn`: a ping sent now is answered
/// by the very next frame. Pushes are queued before the request that caused
/// them is answered, and the session drains its queue before reading
/// requests, so anything pushed earlier would arrive before the pong.
async fn assert_quiet(conn: &mut RawConnection) {
    let id = conn.send_body(Body::Ping(v1::Ping { client_time: 77 })).await.expect("send ping");
    match next_frame(conn).await {
        Frame { id: got, body: Some(Body::Pong(p)) } if got == id => assert_eq!(p.client_time, 77),
        other => panic!("expected only the pong, got {other:?}"),
    }
}

// --- 1. profiles and search ---------------------------------------------------

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

    // Others see the profile.
    let seen = api.get(&format!("/users/{}", alice.id), &bob).await;
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["display_name"], "Alice Liddell");
    assert_eq!(seen["avatar"], "https://img.example/a.png");
    assert_eq!(seen["bio"], "down the hole");

    // A partial patch leaves the other fields alone.
    let (status, body) = api.call(Method::PATCH, "/me", &alice, Some(json!({"bio": "back again"}))).await;
    assert_eq!(status, 200, "{body}");
    let seen = api.get(&format!("/users/{}", alice.id), &bob).await;
    assert_eq!(seen["display_name"], "Alice Liddell");
    assert_eq!(seen["avatar"], "https://img.example/a.png");
    assert_eq!(seen["bio"], "back again");

    // An empty (or blank) display name is refused and changes nothing.
    for empty in ["", "   "] {
        let (status, body) = api.call(Method::PATCH, "/me", &alice, Some(json!({"display_name": empty}))).await;
        assert_eq!(status, 400, "display_name {empty:?}: {body}");
        assert_eq!(code(&body), "invalid_argument");
    }
    let seen = api.get(&format!("/users/{}", alice.id), &bob).await;
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

// --- 2. friend requests and friends -------------------------------------------

#[tokio::test]
async fn friend_request_lifecycle() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // Alice asks with a greeting: pending, visible to both.
    let r = api.request(&alice, &bob, "hello bob").await;
    assert_eq!(r["status"], "pending", "{r}");
    assert_eq!(r["from_user_id"].as_i64(), Some(alice.id));
    assert_eq!(r["to_user_id"].as_i64(), Some(bob.id));
    assert_eq!(r["greeting"], "hello bob");
    let first_id = id_of(&r);
    for user in [&alice, &bob] {
        let list = api.requests(user).await;
        assert_eq!(list.len(), 1, "{}: {list:?}", user.username);
        assert_eq!(id_of(&list[0]), first_id);
        assert_eq!(list[0]["status"], "pending");
        assert_eq!(list[0]["greeting"], "hello bob");
    }

    // Asking again refreshes the greeting of the same pending request.
    let again = api.request(&alice, &bob, "it's me again").await;
    assert_eq!(id_of(&again), first_id, "a repeated request reuses the pending one: {again}");
    assert_eq!(again["status"], "pending");
    let list = api.requests(&bob).await;
    assert_eq!(list.len(), 1, "still one request: {list:?}");
    assert_eq!(list[0]["greeting"], "it's me again");

    // Only the addressee may answer.
    let (status, body) = api.call(Method::POST, &format!("/friends/requests/{first_id}/accept"), &alice, None).await;
    assert_eq!(status, 404, "alice accepting her own request: {body}");
    assert_eq!(code(&body), "not_found");
    let (status, body) = api.call(Method::POST, &format!("/friends/requests/{first_id}/decline"), &alice, None).await;
    assert_eq!(status, 404, "alice declining her own request: {body}");
    assert!(api.friend_ids(&alice).await.is_empty());

    // Bob declines: not friends.
    let declined = api.respond(&bob, first_id, false).await;
    assert_eq!(declined["status"], "declined", "{declined}");
    assert!(api.friend_ids(&alice).await.is_empty());
    assert!(api.friend_ids(&bob).await.is_empty());
    let list = api.requests(&alice).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "declined");
    // A handled request cannot be accepted after the fact.
    let (status, body) = api.call(Method::POST, &format!("/friends/requests/{first_id}/accept"), &bob, None).await;
    assert!(!(200..300).contains(&status), "accepting a declined request must fail: {status} {body}");
    assert!(api.friend_ids(&bob).await.is_empty());

    // Alice asks again; bob accepts: friends on both sides.
    let second = api.request(&alice, &bob, "third time lucky").await;
    assert_eq!(second["status"], "pending");
    assert_ne!(id_of(&second), first_id, "a declined request is not reopened");
    let accepted = api.respond(&bob, id_of(&second), true).await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    assert_eq!(api.friend_ids(&alice).await, vec![bob.id]);
    assert_eq!(api.friend_ids(&bob).await, vec![alice.id]);

    // Asking an existing friend: conflict, either direction.
    for (from, to) in [(&alice, &bob), (&bob, &alice)] {
        let (status, body) =
            api.call(Method::POST, "/friends/requests", from, Some(json!({"user_id": to.id, "greeting": "?"}))).await;
        assert_eq!(status, 409, "{} -> {}: {body}", from.username, to.username);
        assert_eq!(code(&body), "conflict");
    }

    // Self and unknown users.
    let (status, body) = api.call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": alice.id}))).await;
    assert_eq!(status, 400, "request to self: {body}");
    assert_eq!(code(&body), "invalid_argument");
    let (status, body) =
        api.call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": 987_654_321}))).await;
    assert_eq!(status, 404, "request to an unknown id: {body}");
    assert_eq!(code(&body), "not_found");
    let (status, body) =
        api.call(Method::POST, "/friends/requests", &alice, Some(json!({"username": "nosuchuser"}))).await;
    assert_eq!(status, 404, "request to an unknown username: {body}");
}

#[tokio::test]
async fn mutual_requests_make_friends_at_once() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;

    // By username this time.
    let (status, body) = api
        .call(Method::POST, "/friends/requests", &carol, Some(json!({"username": "dave", "greeting": "hi dave"})))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["request"]["status"], "pending");
    assert_eq!(body["request"]["to_user_id"].as_i64(), Some(dave.id));
    assert!(api.friend_ids(&carol).await.is_empty());

    let back = api.request(&dave, &carol, "hi carol").await;
    assert_eq!(back["status"], "accepted", "asking back accepts: {back}");
    assert_eq!(api.friend_ids(&carol).await, vec![dave.id]);
    assert_eq!(api.friend_ids(&dave).await, vec![carol.id]);
    // Nothing is left pending in either direction.
    for user in [&carol, &dave] {
        let list = api.requests(user).await;
        assert!(list.iter().all(|r| r["status"] != "pending"), "{}: {list:?}", user.username);
    }
}

#[tokio::test]
async fn remarks_are_private_and_removal_ends_both_sides() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    api.befriend(&alice, &bob).await;

    let (status, body) =
        api.call(Method::PUT, &format!("/friends/{}/remark", bob.id), &alice, Some(json!({"remark": "Bobby"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["friend"]["user_id"].as_i64(), Some(bob.id));
    assert_eq!(body["friend"]["remark"], "Bobby");

    let mine = rows(&api.get("/friends", &alice).await, "friends");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["remark"], "Bobby");
    assert_eq!(mine[0]["deleted"], false);
    let theirs = rows(&api.get("/friends", &bob).await, "friends");
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["user_id"].as_i64(), Some(alice.id));
    assert_eq!(theirs[0]["remark"], "", "a remark is visible to its owner only");

    // Remark for a non-friend.
    let (status, body) =
        api.call(Method::PUT, &format!("/friends/{}/remark", carol.id), &alice, Some(json!({"remark": "C"}))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(code(&body), "not_found");

    // Remove: gone from both lists; removing again is 404.
    let (status, body) = api.call(Method::DELETE, &format!("/friends/{}", bob.id), &alice, None).await;
    assert_eq!(status, 204, "{body}");
    assert!(api.friend_ids(&alice).await.is_empty());
    assert!(api.friend_ids(&bob).await.is_empty());
    for user in [&alice, &bob] {
        let peer = if user.id == alice.id { bob.id } else { alice.id };
        let (status, body) = api.call(Method::DELETE, &format!("/friends/{peer}"), user, None).await;
        assert_eq!(status, 404, "{} removing again: {body}", user.username);
        assert_eq!(code(&body), "not_found");
    }
    // The remark went with the friendship.
    let (status, _) =
        api.call(Method::PUT, &format!("/friends/{}/remark", bob.id), &alice, Some(json!({"remark": "x"}))).await;
    assert_eq!(status, 404);

    // They can become friends again; the old remark does not come back.
    api.befriend(&bob, &alice).await;
    let mine = rows(&api.get("/friends", &alice).await, "friends");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["user_id"].as_i64(), Some(bob.id));
    assert_eq!(mine[0]["remark"], "");
}

// --- 3. blocklist -------------------------------------------------------------

#[tokio::test]
async fn blocked_user_cannot_message_or_request() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut a_conn, _) = alice.raw_tcp().await;
    let (mut b_conn, _) = bob.raw_tcp().await;

    // Bob blocks alice.
    let (status, body) = api.call(Method::PUT, &format!("/blocks/{}", alice.id), &bob, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["block"]["user_id"].as_i64(), Some(alice.id));
    assert_eq!(body["block"]["deleted"], false);
    expect_changed(&mut b_conn).await;
    assert_eq!(api.block_ids(&bob).await, vec![alice.id]);
    assert!(api.block_ids(&alice).await.is_empty(), "a block belongs to the blocker");

    // Alice's direct messages are refused, over HTTP and the long connection.
    let (status, body) = api.send_text(&alice, &bob, "blocked-http", "let me in").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "blocked");
    assert_eq!(send_refused(&mut a_conn, bob.id, "blocked-tcp", "let me in").await, "blocked");
    // Her friend request too.
    let (status, body) =
        api.call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": bob.id, "greeting": "pls"}))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "blocked");
    assert!(api.requests(&bob).await.is_empty(), "a refused request is not stored");

    // Nothing was stored or delivered.
    assert!(api.conversations_with(&bob, &alice).await.iter().all(|c| c["max_seq"] == 0), "bob has no message");
    assert!(api.direct_messages(&alice, &bob).await.is_empty());
    assert_quiet(&mut b_conn).await;
    assert_quiet(&mut a_conn).await;

    // One-way: bob can still message alice.
    let (status, body) = api.send_text(&bob, &alice, "from-bob-1", "you can't answer").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], 1);
    let m = expect_message(&mut a_conn).await;
    assert_eq!((m.sender_id, m.seq), (bob.id, 1));
    // ...and alice still cannot answer in that conversation, even by its id.
    let conv = ConversationId::direct(alice.id, bob.id).to_string();
    let (status, body) = api
        .call(
            Method::POST,
            "/messages",
            &alice,
            Some(json!({"client_msg_id": "blocked-conv", "conversation_id": conv, "text": "?"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "blocked");
    let bob_seen: Vec<i64> =
        api.direct_messages(&bob, &alice).await.iter().map(|m| m["sender_id"].as_i64().unwrap()).collect();
    assert_eq!(bob_seen, vec![bob.id], "only bob's own message is stored");
    let m = expect_message(&mut b_conn).await; // bob's own device sees his message
    assert_eq!(m.sender_id, bob.id);
    assert_quiet(&mut b_conn).await;

    // Unblock: messages flow again.
    let (status, body) = api.call(Method::DELETE, &format!("/blocks/{}", alice.id), &bob, None).await;
    assert_eq!(status, 204, "{body}");
    expect_changed(&mut b_conn).await;
    assert!(api.block_ids(&bob).await.is_empty());
    let (status, body) = api.send_text(&alice, &bob, "after-unblock-http", "hi again").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], 2);
    let m = expect_message(&mut b_conn).await;
    assert_eq!((m.sender_id, m.seq), (alice.id, 2));
    let ack = send_acked(&mut a_conn, bob.id, "after-unblock-tcp", "and again").await;
    assert_eq!(ack.seq, 3);
    let m = expect_message(&mut b_conn).await;
    assert_eq!((m.sender_id, m.seq), (alice.id, 3));
    let (status, _) = api
        .call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": bob.id, "greeting": "friends?"})))
        .await;
    assert_eq!(status, 201, "requests are accepted again after unblocking");

    // Unblocking again, blocking oneself or a stranger to the server.
    let (status, body) = api.call(Method::DELETE, &format!("/blocks/{}", alice.id), &bob, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(code(&body), "not_found");
    let (status, body) = api.call(Method::PUT, &format!("/blocks/{}", bob.id), &bob, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "invalid_argument");
    let (status, body) = api.call(Method::PUT, "/blocks/987654321", &bob, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(code(&body), "not_found");
}

#[tokio::test]
async fn blocking_does_not_end_a_friendship_but_silences_it() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    api.befriend(&alice, &bob).await;
    let (status, _) = api.call(Method::PUT, &format!("/blocks/{}", alice.id), &bob, None).await;
    assert_eq!(status, 200);
    // Blocking twice is harmless and still one row.
    let (status, _) = api.call(Method::PUT, &format!("/blocks/{}", alice.id), &bob, None).await;
    assert_eq!(status, 200);
    assert_eq!(api.block_ids(&bob).await, vec![alice.id]);

    let (status, body) = api.send_text(&alice, &bob, "friend-but-blocked", "hi").await;
    assert_eq!(status, 403, "a block wins over a friendship: {body}");
    assert_eq!(code(&body), "blocked");
    let (status, body) = api.send_text(&bob, &alice, "blocker-speaks", "hi").await;
    assert_eq!(status, 200, "{body}");
}

// --- 4. direct-message policy -------------------------------------------------

#[tokio::test]
async fn strangers_may_message_by_default() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut a_conn, _) = alice.raw_tcp().await;

    let (status, body) = api.send_text(&alice, &bob, "stranger-http", "hello stranger").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], 1);
    let ack = send_acked(&mut a_conn, bob.id, "stranger-tcp", "me again").await;
    assert_eq!(ack.seq, 2);
    assert_eq!(api.direct_messages(&bob, &alice).await.len(), 2);
}

#[tokio::test]
async fn friends_only_policy_refuses_strangers() {
    let server = TestServer::start_with(|c| c.social.direct_messages = DirectMessages::FriendsOnly).await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut a_conn, _) = alice.raw_tcp().await;
    let (mut b_conn, _) = bob.raw_tcp().await;

    // Strangers: refused both ways, on both transports; nothing stored or pushed.
    let (status, body) = api.send_text(&alice, &bob, "s-http", "hello?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "not_friends");
    let (status, body) = api.send_text(&bob, &alice, "s-http-back", "hello?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "not_friends");
    assert_eq!(send_refused(&mut a_conn, bob.id, "s-tcp", "hello?").await, "not_friends");
    assert!(api.direct_messages(&bob, &alice).await.is_empty());
    assert_quiet(&mut b_conn).await;

    // A pending request is not enough.
    let r = api.request(&alice, &bob, "let's talk").await;
    let (status, body) = api.send_text(&alice, &bob, "pending-http", "now?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "not_friends");

    // Friends: allowed.
    api.respond(&bob, id_of(&r), true).await;
    let (status, body) = api.send_text(&alice, &bob, "f-http", "yay").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], 1);
    let ack = send_acked(&mut a_conn, bob.id, "f-tcp", "yay again").await;
    assert_eq!(ack.seq, 2);
    let ack = send_acked(&mut b_conn, alice.id, "f-tcp-back", "hello friend").await;
    assert_eq!(ack.seq, 3);

    // Friendship ended: refused again, whoever ended it.
    let (status, _) = api.call(Method::DELETE, &format!("/friends/{}", alice.id), &bob, None).await;
    assert_eq!(status, 204);
    let (status, body) = api.send_text(&alice, &bob, "after-http", "hello?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "not_friends");
    assert_eq!(send_refused(&mut a_conn, bob.id, "after-tcp", "hello?").await, "not_friends");
    assert_eq!(send_refused(&mut b_conn, alice.id, "after-tcp-back", "hello?").await, "not_friends");
    // Exactly the three messages sent while they were friends are stored.
    let seqs: Vec<u64> = api.direct_messages(&alice, &bob).await.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

// --- 5. changed pushes and incremental sync -----------------------------------

/// The rows of a changes answer, checked to lie in `(since, version]`.
struct Changes {
    version: u64,
    friends: Vec<Value>,
    requests: Vec<Value>,
    blocks: Vec<Value>,
}

async fn changes_since(api: &Api, user: &TestUser, since: u64) -> Changes {
    let body = api.changes(user, since).await;
    let c = Changes {
        version: version_of(&body),
        friends: rows(&body, "friends"),
        requests: rows(&body, "requests"),
        blocks: rows(&body, "blocks"),
    };
    assert!(c.version >= since, "version {} went below since={since}: {body}", c.version);
    for row in c.friends.iter().chain(&c.blocks) {
        let v = version_of(row);
        assert!(v > since && v <= c.version, "row version {v} outside ({since}, {}]: {body}", c.version);
    }
    c
}

#[tokio::test]
async fn contact_changes_are_pushed_to_every_device_and_synced_incrementally() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let alice2 = server.login("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (mut d1, _) = alice.raw_tcp().await;
    let (mut d2, _) = alice2.raw_tcp().await;
    let (mut b_conn, _) = bob.raw_tcp().await;

    // Nothing yet.
    let c = changes_since(&api, &alice, 0).await;
    assert!(c.friends.is_empty() && c.requests.is_empty() && c.blocks.is_empty());
    let v0 = c.version;

    // Bob asks alice: both her devices are told, with the same version.
    let request = api.request(&bob, &alice, "hi alice").await;
    let request_id = id_of(&request);
    let v1 = expect_changed(&mut d1).await;
    assert_eq!(expect_changed(&mut d2).await, v1, "every device gets the same version");
    assert!(v1 > 0 && v1 > v0, "v1={v1} v0={v0}");
    assert!(expect_changed(&mut b_conn).await > 0, "the sender's contacts changed too");

    let c = changes_since(&api, &alice, 0).await;
    assert_eq!(c.version, v1, "the pushed version is the one sync returns");
    assert_eq!(c.requests.len(), 1, "{:?}", c.requests);
    assert_eq!(id_of(&c.requests[0]), request_id);
    assert_eq!(c.requests[0]["status"], "pending");
    assert_eq!(c.requests[0]["greeting"], "hi alice");
    assert!(c.friends.is_empty() && c.blocks.is_empty());
    let c = changes_since(&api, &alice, v1).await;
    assert_eq!(c.version, v1);
    assert!(c.friends.is_empty() && c.requests.is_empty() && c.blocks.is_empty(), "nothing new after v1");

    // Device 2 goes offline, holding v1.
    d2.close().await;
    let d2_last = v1;

    // Alice accepts, sets a remark, blocks carol; device 1 sees each change.
    let accepted = api.respond(&alice, request_id, true).await;
    assert_eq!(accepted["status"], "accepted");
    let v2 = expect_changed(&mut d1).await;
    let (status, _) =
        api.call(Method::PUT, &format!("/friends/{}/remark", bob.id), &alice, Some(json!({"remark": "B."}))).await;
    assert_eq!(status, 200);
    let v3 = expect_changed(&mut d1).await;
    let (status, _) = api.call(Method::PUT, &format!("/blocks/{}", carol.id), &alice, None).await;
    assert_eq!(status, 200);
    let v4 = expect_changed(&mut d1).await;
    assert!(v1 < v2 && v2 < v3 && v3 < v4, "versions strictly increase: {v1} {v2} {v3} {v4}");
    // Bob is told about the acceptance but not about alice's private remark or block.
    let bv = expect_changed(&mut b_conn).await;
    assert_quiet(&mut b_conn).await;
    assert_eq!(changes_since(&api, &bob, 0).await.version, bv);

    // Device 2 comes back and catches up from where it was: exactly the changed rows.
    let c = changes_since(&api, &alice2, d2_last).await;
    assert_eq!(c.version, v4);
    assert_eq!(c.friends.len(), 1, "{:?}", c.friends);
    assert_eq!(c.friends[0]["user_id"].as_i64(), Some(bob.id));
    assert_eq!(c.friends[0]["remark"], "B.");
    assert_eq!(c.friends[0]["deleted"], false);
    assert_eq!(version_of(&c.friends[0]), v3, "the friend row carries its latest change");
    assert_eq!(c.requests.len(), 1, "{:?}", c.requests);
    assert_eq!(id_of(&c.requests[0]), request_id);
    assert_eq!(c.requests[0]["status"], "accepted");
    assert_eq!(c.blocks.len(), 1, "{:?}", c.blocks);
    assert_eq!(c.blocks[0]["user_id"].as_i64(), Some(carol.id));
    assert_eq!(c.blocks[0]["deleted"], false);
    assert_eq!(version_of(&c.blocks[0]), v4);
    // Finer-grained catch-up returns only what changed after that point.
    let c = changes_since(&api, &alice2, v3).await;
    assert!(c.friends.is_empty() && c.requests.is_empty(), "only the block changed after v3");
    assert_eq!(c.blocks.len(), 1);

    // Deletions arrive as rows with deleted=true; both devices are told.
    let (mut d2, _) = alice2.raw_tcp().await;
    let (status, _) = api.call(Method::DELETE, &format!("/friends/{}", bob.id), &alice, None).await;
    assert_eq!(status, 204);
    let v5 = expect_changed(&mut d1).await;
    assert_eq!(expect_changed(&mut d2).await, v5);
    let (status, _) = api.call(Method::DELETE, &format!("/blocks/{}", carol.id), &alice, None).await;
    assert_eq!(status, 204);
    let v6 = expect_changed(&mut d1).await;
    assert_eq!(expect_changed(&mut d2).await, v6);
    assert!(v4 < v5 && v5 < v6, "versions strictly increase: {v4} {v5} {v6}");

    let c = changes_since(&api, &alice2, v4).await;
    assert_eq!(c.version, v6);
    assert_eq!(c.friends.len(), 1, "{:?}", c.friends);
    assert_eq!(c.friends[0]["user_id"].as_i64(), Some(bob.id));
    assert_eq!(c.friends[0]["deleted"], true);
    assert_eq!(version_of(&c.friends[0]), v5);
    assert_eq!(c.blocks.len(), 1, "{:?}", c.blocks);
    assert_eq!(c.blocks[0]["user_id"].as_i64(), Some(carol.id));
    assert_eq!(c.blocks[0]["deleted"], true);
    assert_eq!(version_of(&c.blocks[0]), v6);
    assert!(c.requests.is_empty(), "{:?}", c.requests);
    // The live lists no longer show them.
    assert!(api.friend_ids(&alice).await.is_empty());
    assert!(api.block_ids(&alice).await.is_empty());

    // Bob's side of the removal is a tombstone in his sync too.
    let bv2 = expect_changed(&mut b_conn).await;
    assert!(bv2 > bv);
    let c = changes_since(&api, &bob, bv).await;
    assert_eq!(c.version, bv2);
    assert_eq!(c.friends.len(), 1, "{:?}", c.friends);
    assert_eq!(c.friends[0]["user_id"].as_i64(), Some(alice.id));
    assert_eq!(c.friends[0]["deleted"], true);
    assert!(c.blocks.is_empty(), "alice's blocks are not bob's business: {:?}", c.blocks);
    assert_quiet(&mut b_conn).await;

    // Nothing else is queued on alice's devices.
    assert_quiet(&mut d1).await;
    assert_quiet(&mut d2).await;
}

// --- limits and authentication ------------------------------------------------

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
        assert_eq!(code(&body), "invalid_argument");
    }
    let seen = api.get(&format!("/users/{}", alice.id), &bob).await;
    assert_eq!(seen["bio"], "", "a refused patch changes nothing");

    // Over-long greeting: refused and nothing stored.
    let (status, body) = api
        .call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": bob.id, "greeting": "g".repeat(257)})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "invalid_argument");
    assert!(api.requests(&bob).await.is_empty());

    // Over-long remark.
    api.befriend(&alice, &bob).await;
    let (status, body) = api
        .call(Method::PUT, &format!("/friends/{}/remark", bob.id), &alice, Some(json!({"remark": "r".repeat(65)})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "invalid_argument");
    assert_eq!(rows(&api.get("/friends", &alice).await, "friends")[0]["remark"], "");

    // No token, or a wrong one: 401 everywhere.
    let base = format!("{}/api/v1", server.http_url());
    for (method, path) in [
        (Method::GET, "/friends".to_owned()),
        (Method::GET, "/friends/requests".to_owned()),
        (Method::GET, "/blocks".to_owned()),
        (Method::GET, "/contacts/changes?since=0".to_owned()),
        (Method::GET, "/users/search?q=alice".to_owned()),
        (Method::PUT, format!("/blocks/{}", bob.id)),
        (Method::DELETE, format!("/friends/{}", bob.id)),
    ] {
        let (status, body) = call(method.clone(), &format!("{base}{path}"), "not-a-token", None).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    // ...and nothing changed.
    assert_eq!(api.friend_ids(&alice).await, vec![bob.id]);
    assert!(api.block_ids(&alice).await.is_empty());
}

/// Two users asking each other at the same moment still end up friends with
/// nothing left pending: whichever request is handled second must see the
/// first and accept it. Raced many times (ending the friendship in between)
/// because the window is narrow.
#[tokio::test]
async fn simultaneous_mutual_requests_make_friends() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let mut pairs = Vec::new();
    for i in 0..4 {
        pairs.push((server.user(&format!("left{i}")).await, server.user(&format!("right{i}")).await));
    }
    for round in 0..25 {
        let asks = pairs.iter().map(|(a, b)| async {
            let path = "/friends/requests";
            let (ra, rb) = tokio::join!(
                api.call(Method::POST, path, a, Some(json!({"user_id": b.id}))),
                api.call(Method::POST, path, b, Some(json!({"user_id": a.id}))),
            );
            // Either may come second; each is a 201 (a new request or the acceptance).
            assert_eq!(ra.0, 201, "{}", ra.1);
            assert_eq!(rb.0, 201, "{}", rb.1);
        });
        futures_util::future::join_all(asks).await;
        for (a, b) in &pairs {
            let pending: Vec<Value> = api.requests(a).await.into_iter().filter(|r| r["status"] == "pending").collect();
            assert!(
                pending.is_empty(),
                "round {round}: {} and {} asked each other at once and are left with pending requests {pending:?}",
                a.username,
                b.username
            );
            assert_eq!(api.friend_ids(a).await, vec![b.id], "round {round}: {} and {}", a.username, b.username);
            assert_eq!(api.friend_ids(b).await, vec![a.id], "round {round}: {} and {}", b.username, a.username);
            let (status, body) = api.call(Method::DELETE, &format!("/friends/{}", b.id), a, None).await;
            assert_eq!(status, 204, "{body}");
        }
    }
}
