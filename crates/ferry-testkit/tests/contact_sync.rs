//! Contact changes reach every device: versioned `changed{domain:"contacts"}`
//! pushes on the long connection, and incremental sync from any version,
//! deletions included.
//!
//! HTTP is driven with `reqwest` directly and the long connection with
//! [`RawConnection`](ferry_client::RawConnection), so these tests depend only
//! on the documented wire formats (docs/HTTP_API.md, proto/ferry.proto).

use ferry_testkit::{
    TestServer, TestUser,
    http::{Api, id_of, rows, version_of},
    raw::{assert_quiet, expect_contacts_changed},
};
use reqwest::Method;
use serde_json::{Value, json};

/// The rows of a changes answer, checked to lie in `(since, version]`.
struct Changes {
    version: u64,
    friends: Vec<Value>,
    requests: Vec<Value>,
    blocks: Vec<Value>,
}

async fn changes_since(api: &Api, user: &TestUser, since: u64) -> Changes {
    let body = api.contact_changes(user, since).await;
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
    let request = api.friend_request(&bob, &alice, "hi alice").await;
    let request_id = id_of(&request);
    let v1 = expect_contacts_changed(&mut d1).await;
    assert_eq!(expect_contacts_changed(&mut d2).await, v1, "every device gets the same version");
    assert!(v1 > 0 && v1 > v0, "v1={v1} v0={v0}");
    assert!(expect_contacts_changed(&mut b_conn).await > 0, "the sender's contacts changed too");

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
    let v2 = expect_contacts_changed(&mut d1).await;
    let (status, _) =
        api.call(Method::PUT, &format!("/friends/{}/remark", bob.id), &alice, Some(json!({"remark": "B."}))).await;
    assert_eq!(status, 200);
    let v3 = expect_contacts_changed(&mut d1).await;
    let (status, _) = api.call(Method::PUT, &format!("/blocks/{}", carol.id), &alice, None).await;
    assert_eq!(status, 200);
    let v4 = expect_contacts_changed(&mut d1).await;
    assert!(v1 < v2 && v2 < v3 && v3 < v4, "versions strictly increase: {v1} {v2} {v3} {v4}");
    // Bob is told about the acceptance but not about alice's private remark or block.
    let bv = expect_contacts_changed(&mut b_conn).await;
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
    let v5 = expect_contacts_changed(&mut d1).await;
    assert_eq!(expect_contacts_changed(&mut d2).await, v5);
    let (status, _) = api.call(Method::DELETE, &format!("/blocks/{}", carol.id), &alice, None).await;
    assert_eq!(status, 204);
    let v6 = expect_contacts_changed(&mut d1).await;
    assert_eq!(expect_contacts_changed(&mut d2).await, v6);
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
    let bv2 = expect_contacts_changed(&mut b_conn).await;
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
