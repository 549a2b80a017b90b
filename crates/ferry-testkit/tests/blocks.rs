//! Who may message whom: the blocklist and what it refuses, and the
//! friends-only direct-message policy, on HTTP and the long connection alike.
//!
//! HTTP is driven with `reqwest` directly and the long connection with
//! [`RawConnection`](ferry_client::RawConnection), so these tests depend only
//! on the documented wire formats (docs/HTTP_API.md, proto/ferry.proto).

use ferry_server::config::DirectMessages;
use ferry_testkit::{
    TestServer,
    http::{Api, error_code, id_of},
    ids::direct_conversation,
    raw::{assert_quiet, expect_contacts_changed, expect_message, send_acked, send_refused},
};
use reqwest::Method;
use serde_json::json;

// --- blocklist -------------------------------------------------------------

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
    expect_contacts_changed(&mut b_conn).await;
    assert_eq!(api.block_ids(&bob).await, vec![alice.id]);
    assert!(api.block_ids(&alice).await.is_empty(), "a block belongs to the blocker");

    // Alice's direct messages are refused, over HTTP and the long connection.
    let (status, body) = api.send_text(&alice, &bob, "blocked-http", "let me in").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "blocked");
    assert_eq!(send_refused(&mut a_conn, "blocked-tcp", bob.id, "let me in").await, "blocked");
    // Her friend request too.
    let (status, body) =
        api.call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": bob.id, "greeting": "pls"}))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "blocked");
    assert!(api.friend_requests(&bob).await.is_empty(), "a refused request is not stored");

    // Nothing was stored or delivered.
    assert!(api.conversations_with(&bob, &alice).await.iter().all(|c| c.max_seq == 0), "bob has no message");
    assert!(api.direct_messages(&alice, &bob).await.is_empty());
    assert_quiet(&mut b_conn).await;
    assert_quiet(&mut a_conn).await;

    // One-way: bob can still message alice.
    let (status, body) = api.send_text(&bob, &alice, "from-bob-1", "you can't answer").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], "1", "a proto3-JSON SendAck: {body}");
    let m = expect_message(&mut a_conn).await;
    assert_eq!((m.sender_id, m.seq), (bob.id, 1));
    // ...and alice still cannot answer in that conversation, even by its id.
    let conv = direct_conversation(alice.id, bob.id);
    let (status, body) = api
        .call(
            Method::POST,
            "/messages",
            &alice,
            Some(json!({"clientMsgId": "blocked-conv", "conversationId": conv, "content": {"text": {"text": "?"}}})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "blocked");
    let bob_seen: Vec<i64> = api.direct_messages(&bob, &alice).await.iter().map(|m| m.sender_id).collect();
    assert_eq!(bob_seen, vec![bob.id], "only bob's own message is stored");
    let m = expect_message(&mut b_conn).await; // bob's own device sees his message
    assert_eq!(m.sender_id, bob.id);
    assert_quiet(&mut b_conn).await;

    // Unblock: messages flow again.
    let (status, body) = api.call(Method::DELETE, &format!("/blocks/{}", alice.id), &bob, None).await;
    assert_eq!(status, 204, "{body}");
    expect_contacts_changed(&mut b_conn).await;
    assert!(api.block_ids(&bob).await.is_empty());
    let (status, body) = api.send_text(&alice, &bob, "after-unblock-http", "hi again").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], "2", "a proto3-JSON SendAck: {body}");
    let m = expect_message(&mut b_conn).await;
    assert_eq!((m.sender_id, m.seq), (alice.id, 2));
    let ack = send_acked(&mut a_conn, "after-unblock-tcp", bob.id, "and again").await;
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
    assert_eq!(error_code(&body), "not_found");
    let (status, body) = api.call(Method::PUT, &format!("/blocks/{}", bob.id), &bob, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "invalid_argument");
    let (status, body) = api.call(Method::PUT, "/blocks/987654321", &bob, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), "not_found");
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
    assert_eq!(error_code(&body), "blocked");
    let (status, body) = api.send_text(&bob, &alice, "blocker-speaks", "hi").await;
    assert_eq!(status, 200, "{body}");
}

// --- direct-message policy -------------------------------------------------

#[tokio::test]
async fn strangers_may_message_by_default() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (mut a_conn, _) = alice.raw_tcp().await;

    let (status, body) = api.send_text(&alice, &bob, "stranger-http", "hello stranger").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], "1", "a proto3-JSON SendAck: {body}");
    let ack = send_acked(&mut a_conn, "stranger-tcp", bob.id, "me again").await;
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
    assert_eq!(error_code(&body), "not_friends");
    let (status, body) = api.send_text(&bob, &alice, "s-http-back", "hello?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "not_friends");
    assert_eq!(send_refused(&mut a_conn, "s-tcp", bob.id, "hello?").await, "not_friends");
    assert!(api.direct_messages(&bob, &alice).await.is_empty());
    assert_quiet(&mut b_conn).await;

    // A pending request is not enough.
    let r = api.friend_request(&alice, &bob, "let's talk").await;
    let (status, body) = api.send_text(&alice, &bob, "pending-http", "now?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "not_friends");

    // Friends: allowed.
    api.respond(&bob, id_of(&r), true).await;
    let (status, body) = api.send_text(&alice, &bob, "f-http", "yay").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["seq"], "1", "a proto3-JSON SendAck: {body}");
    let ack = send_acked(&mut a_conn, "f-tcp", bob.id, "yay again").await;
    assert_eq!(ack.seq, 2);
    let ack = send_acked(&mut b_conn, "f-tcp-back", alice.id, "hello friend").await;
    assert_eq!(ack.seq, 3);

    // Friendship ended: refused again, whoever ended it.
    let (status, _) = api.call(Method::DELETE, &format!("/friends/{}", alice.id), &bob, None).await;
    assert_eq!(status, 204);
    let (status, body) = api.send_text(&alice, &bob, "after-http", "hello?").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), "not_friends");
    assert_eq!(send_refused(&mut a_conn, "after-tcp", bob.id, "hello?").await, "not_friends");
    assert_eq!(send_refused(&mut b_conn, "after-tcp-back", alice.id, "hello?").await, "not_friends");
    // Exactly the three messages sent while they were friends are stored.
    let seqs: Vec<u64> = api.direct_messages(&alice, &bob).await.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}
