//! The friend-request lifecycle end to end: asking, answering, asking back,
//! remarks, removal, and two users asking each other at the same moment.
//!
//! HTTP is driven with `reqwest` directly, so these tests depend only on the
//! documented wire format (docs/HTTP_API.md).

use ferry_testkit::{
    TestServer,
    http::{Api, error_code, id_of, rows},
};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn friend_request_lifecycle() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // Alice asks with a greeting: pending, visible to both.
    let r = api.friend_request(&alice, &bob, "hello bob").await;
    assert_eq!(r["status"], "pending", "{r}");
    assert_eq!(r["from_user_id"].as_i64(), Some(alice.id));
    assert_eq!(r["to_user_id"].as_i64(), Some(bob.id));
    assert_eq!(r["greeting"], "hello bob");
    let first_id = id_of(&r);
    for user in [&alice, &bob] {
        let list = api.friend_requests(user).await;
        assert_eq!(list.len(), 1, "{}: {list:?}", user.username);
        assert_eq!(id_of(&list[0]), first_id);
        assert_eq!(list[0]["status"], "pending");
        assert_eq!(list[0]["greeting"], "hello bob");
    }

    // Asking again refreshes the greeting of the same pending request.
    let again = api.friend_request(&alice, &bob, "it's me again").await;
    assert_eq!(id_of(&again), first_id, "a repeated request reuses the pending one: {again}");
    assert_eq!(again["status"], "pending");
    let list = api.friend_requests(&bob).await;
    assert_eq!(list.len(), 1, "still one request: {list:?}");
    assert_eq!(list[0]["greeting"], "it's me again");

    // Only the addressee may answer.
    let (status, body) = api.call(Method::POST, &format!("/friends/requests/{first_id}/accept"), &alice, None).await;
    assert_eq!(status, 404, "alice accepting her own request: {body}");
    assert_eq!(error_code(&body), "not_found");
    let (status, body) = api.call(Method::POST, &format!("/friends/requests/{first_id}/decline"), &alice, None).await;
    assert_eq!(status, 404, "alice declining her own request: {body}");
    assert!(api.friend_ids(&alice).await.is_empty());

    // Bob declines: not friends.
    let declined = api.respond(&bob, first_id, false).await;
    assert_eq!(declined["status"], "declined", "{declined}");
    assert!(api.friend_ids(&alice).await.is_empty());
    assert!(api.friend_ids(&bob).await.is_empty());
    let list = api.friend_requests(&alice).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "declined");
    // A handled request cannot be accepted after the fact.
    let (status, body) = api.call(Method::POST, &format!("/friends/requests/{first_id}/accept"), &bob, None).await;
    assert!(!(200..300).contains(&status), "accepting a declined request must fail: {status} {body}");
    assert!(api.friend_ids(&bob).await.is_empty());

    // Alice asks again; bob accepts: friends on both sides.
    let second = api.friend_request(&alice, &bob, "third time lucky").await;
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
        assert_eq!(error_code(&body), "conflict");
    }

    // Self and unknown users.
    let (status, body) = api.call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": alice.id}))).await;
    assert_eq!(status, 400, "request to self: {body}");
    assert_eq!(error_code(&body), "invalid_argument");
    let (status, body) =
        api.call(Method::POST, "/friends/requests", &alice, Some(json!({"user_id": 987_654_321}))).await;
    assert_eq!(status, 404, "request to an unknown id: {body}");
    assert_eq!(error_code(&body), "not_found");
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

    let back = api.friend_request(&dave, &carol, "hi carol").await;
    assert_eq!(back["status"], "accepted", "asking back accepts: {back}");
    assert_eq!(api.friend_ids(&carol).await, vec![dave.id]);
    assert_eq!(api.friend_ids(&dave).await, vec![carol.id]);
    // Nothing is left pending in either direction.
    for user in [&carol, &dave] {
        let list = api.friend_requests(user).await;
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
    assert_eq!(error_code(&body), "not_found");

    // Remove: gone from both lists; removing again is 404.
    let (status, body) = api.call(Method::DELETE, &format!("/friends/{}", bob.id), &alice, None).await;
    assert_eq!(status, 204, "{body}");
    assert!(api.friend_ids(&alice).await.is_empty());
    assert!(api.friend_ids(&bob).await.is_empty());
    for user in [&alice, &bob] {
        let peer = if user.id == alice.id { bob.id } else { alice.id };
        let (status, body) = api.call(Method::DELETE, &format!("/friends/{peer}"), user, None).await;
        assert_eq!(status, 404, "{} removing again: {body}", user.username);
        assert_eq!(error_code(&body), "not_found");
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
            let pending: Vec<Value> =
                api.friend_requests(a).await.into_iter().filter(|r| r["status"] == "pending").collect();
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
