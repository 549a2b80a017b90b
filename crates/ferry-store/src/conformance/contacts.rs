//! Friends, friend requests and blocks: [`ContactStore`](crate::ContactStore).

use std::sync::Arc;

use ferry_core::UserId;

use super::{assert_not_found, user};
use crate::{RequestStatus, Store, StoreError};

/// Create, refresh, decline, then a new request accepted: friends on both
/// sides, and a request between friends is a Conflict.
pub async fn friend_request_lifecycle(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;

    let first = store.upsert_friend_request(alice, bob, "hello", 10).await.expect("request");
    assert_eq!(
        (first.from, first.to, first.greeting.as_str(), first.status),
        (alice, bob, "hello", RequestStatus::Pending)
    );
    assert_eq!((first.created_at, first.updated_at), (10, 10));
    let refreshed = store.upsert_friend_request(alice, bob, "hello again", 20).await.expect("refresh");
    assert_eq!(refreshed.id, first.id, "a pending request is refreshed, not duplicated");
    assert_eq!((refreshed.greeting.as_str(), refreshed.created_at, refreshed.updated_at), ("hello again", 10, 20));
    assert_eq!(store.friend_request(first.id).await.expect("by id"), Some(refreshed.clone()));
    assert_eq!(store.pending_friend_request(alice, bob).await.expect("pending"), Some(refreshed.clone()));
    assert_eq!(store.pending_friend_request(bob, alice).await.expect("other direction"), None);
    assert_eq!(store.friend_requests_of(bob).await.expect("of bob"), vec![refreshed.clone()]);
    assert_eq!(store.friend_requests_of(alice).await.expect("of alice"), vec![refreshed.clone()]);

    let declined = store.resolve_friend_request(first.id, false, 30).await.expect("decline");
    assert_eq!((declined.status, declined.updated_at), (RequestStatus::Declined, 30));
    assert_not_found(store.resolve_friend_request(first.id, true, 31).await, "resolving a declined request");
    assert_not_found(store.resolve_friend_request(first.id + 1000, true, 31).await, "unknown request");
    assert!(!store.is_friend(alice, bob).await.expect("is_friend"));
    assert_eq!(store.pending_friend_request(alice, bob).await.expect("pending"), None);

    let second = store.upsert_friend_request(alice, bob, "please", 40).await.expect("ask again");
    assert_ne!(second.id, first.id, "a new request after a declined one");
    let requests = store.friend_requests_of(alice).await.expect("of alice");
    assert_eq!(requests.iter().map(|r| r.id).collect::<Vec<_>>(), [second.id, first.id], "newest first");

    let accepted = store.resolve_friend_request(second.id, true, 50).await.expect("accept");
    assert_eq!(accepted.status, RequestStatus::Accepted);
    assert!(store.is_friend(alice, bob).await.expect("alice → bob"));
    assert!(store.is_friend(bob, alice).await.expect("bob → alice"));
    let of_alice = store.friends_of(alice).await.expect("friends_of");
    assert_eq!(of_alice.len(), 1);
    assert_eq!(
        (of_alice[0].owner, of_alice[0].friend, of_alice[0].remark.as_str(), of_alice[0].created_at),
        (alice, bob, "", 50)
    );
    assert!(!of_alice[0].deleted);
    assert_eq!(store.friends_of(bob).await.expect("friends_of")[0].friend, alice);

    for (from, to) in [(alice, bob), (bob, alice)] {
        match store.upsert_friend_request(from, to, "again?", 60).await {
            Err(StoreError::Conflict(_)) => {}
            other => panic!("request between friends: expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(store.pending_friend_request(alice, bob).await.expect("pending"), None);
}

/// Asking back accepts: a request `b → a` while `a → b` is pending accepts
/// `a → b` (atomically) instead of leaving two pending requests.
pub async fn friend_request_accept_resolves_reverse(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let ab = store.upsert_friend_request(alice, bob, "hi bob", 1).await.expect("a → b");
    let ca = store.upsert_friend_request(carol, alice, "hi", 3).await.expect("c → a");
    let before = store.contact_changes(bob, 0).await.expect("changes").version;

    let answer = store.upsert_friend_request(bob, alice, "hi alice", 10).await.expect("b → a");
    assert_eq!((answer.id, answer.status, answer.updated_at), (ab.id, RequestStatus::Accepted, 10));
    assert_eq!(store.pending_friend_request(alice, bob).await.expect("pending"), None);
    assert_eq!(store.pending_friend_request(bob, alice).await.expect("pending"), None);
    assert!(store.is_friend(alice, bob).await.expect("a") && store.is_friend(bob, alice).await.expect("b"));
    assert!(store.contact_changes(bob, 0).await.expect("changes").version > before);
    assert_not_found(store.resolve_friend_request(ab.id, true, 11).await, "no longer pending");
    assert_eq!(
        store.friend_request(ca.id).await.expect("by id").expect("exists").status,
        RequestStatus::Pending,
        "other requests are untouched"
    );
    assert_eq!(store.friends_of(alice).await.expect("friends").len(), 1);
    assert_eq!(store.friends_of(bob).await.expect("friends").len(), 1);
}

/// Deleting a friendship tombstones both rows with rising versions;
/// befriending again revives them with an empty remark.
pub async fn friends_delete_leaves_tombstones(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let req = store.upsert_friend_request(alice, bob, "", 1).await.expect("request");
    store.resolve_friend_request(req.id, true, 2).await.expect("accept");
    store.set_remark(alice, bob, "Bobby").await.expect("remark");
    let before_a = store.contact_changes(alice, 0).await.expect("changes").version;
    let before_b = store.contact_changes(bob, 0).await.expect("changes").version;

    assert!(store.delete_friend(bob, alice, 3).await.expect("delete"));
    assert!(!store.is_friend(alice, bob).await.expect("a") && !store.is_friend(bob, alice).await.expect("b"));
    assert!(store.friends_of(alice).await.expect("friends").is_empty());
    for (me, other, before) in [(alice, bob, before_a), (bob, alice, before_b)] {
        let changes = store.contact_changes(me, before).await.expect("changes");
        assert!(changes.version > before, "the version rises");
        assert_eq!(changes.friends.len(), 1, "exactly the tombstone");
        let tomb = &changes.friends[0];
        assert_eq!((tomb.owner, tomb.friend, tomb.deleted), (me, other, true));
        assert!(tomb.version > before && tomb.version <= changes.version);
    }
    assert!(!store.delete_friend(alice, bob, 4).await.expect("delete again"));
    assert!(!store.delete_friend(alice, carol, 4).await.expect("never friends"));
    assert_not_found(store.set_remark(alice, bob, "x").await, "remark after delete");

    let again = store.upsert_friend_request(bob, alice, "", 5).await.expect("request again");
    store.resolve_friend_request(again.id, true, 6).await.expect("accept again");
    let revived = store.friends_of(alice).await.expect("friends");
    assert_eq!(revived.len(), 1);
    assert_eq!(
        (revived[0].friend, revived[0].remark.as_str(), revived[0].deleted, revived[0].created_at),
        (bob, "", false, 6)
    );
    let all = store.contact_changes(alice, 0).await.expect("all");
    assert_eq!(all.friends.len(), 1, "one row per pair, revived in place");
    assert!(!all.friends[0].deleted);
}

/// A remark is private to its owner and shows in the owner's changes only.
pub async fn friends_remark(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let req = store.upsert_friend_request(alice, bob, "", 1).await.expect("request");
    store.resolve_friend_request(req.id, true, 2).await.expect("accept");
    let va = store.contact_changes(alice, 0).await.expect("changes").version;
    let vb = store.contact_changes(bob, 0).await.expect("changes").version;

    let row = store.set_remark(alice, bob, "Bob from work").await.expect("set_remark");
    assert_eq!((row.owner, row.friend, row.remark.as_str()), (alice, bob, "Bob from work"));
    assert!(row.version > va);
    assert_eq!(store.friends_of(alice).await.expect("friends")[0].remark, "Bob from work");
    assert_eq!(store.friends_of(bob).await.expect("friends")[0].remark, "", "the other side is untouched");
    let changes = store.contact_changes(alice, va).await.expect("changes");
    assert_eq!(changes.friends, vec![row]);
    assert_eq!(store.contact_changes(bob, vb).await.expect("changes").version, vb, "bob's view did not change");
    assert_not_found(store.set_remark(alice, carol, "x").await, "remark for a stranger");
}

/// Block is idempotent; unblock leaves a tombstone; both show in changes.
pub async fn blocks_lifecycle(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    assert!(!store.is_blocked(alice, bob).await.expect("is_blocked"));

    let block = store.block(alice, bob, 10).await.expect("block");
    assert_eq!((block.owner, block.blocked, block.created_at, block.deleted), (alice, bob, 10, false));
    assert!(store.is_blocked(alice, bob).await.expect("is_blocked"));
    assert!(!store.is_blocked(bob, alice).await.expect("one-way"));
    let version = store.contact_changes(alice, 0).await.expect("changes").version;
    assert_eq!(store.block(alice, bob, 20).await.expect("again"), block, "blocking twice changes nothing");
    assert_eq!(store.contact_changes(alice, 0).await.expect("changes").version, version);
    store.block(alice, carol, 30).await.expect("block carol");
    let blocks = store.blocks_of(alice).await.expect("blocks_of");
    let mut blocked: Vec<UserId> = blocks.iter().map(|b| b.blocked).collect();
    blocked.sort_unstable();
    let mut expected = vec![bob, carol];
    expected.sort_unstable();
    assert_eq!(blocked, expected);
    assert!(store.blocks_of(bob).await.expect("none").is_empty());

    let before = store.contact_changes(alice, 0).await.expect("changes").version;
    assert!(store.unblock(alice, bob, 40).await.expect("unblock"));
    assert!(!store.unblock(alice, bob, 41).await.expect("unblock again"));
    assert!(!store.unblock(bob, alice, 41).await.expect("never blocked"));
    assert!(!store.is_blocked(alice, bob).await.expect("is_blocked"));
    assert_eq!(store.blocks_of(alice).await.expect("blocks_of").iter().map(|b| b.blocked).collect::<Vec<_>>(), [carol]);
    let changes = store.contact_changes(alice, before).await.expect("changes");
    assert_eq!(changes.blocks.len(), 1);
    assert_eq!((changes.blocks[0].blocked, changes.blocks[0].deleted), (bob, true));
    assert!(changes.blocks[0].version > before);

    let again = store.block(alice, bob, 50).await.expect("block again");
    assert!(!again.deleted && again.version > changes.version);
    assert!(store.is_blocked(alice, bob).await.expect("is_blocked"));
}

/// `contact_changes` returns exactly the rows changed after `since`, for
/// this user only, and the version only rises.
pub async fn contact_changes_after_since(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let dave = user(&*store, "dave").await;
    let empty = store.contact_changes(alice, 0).await.expect("empty");
    assert_eq!(empty, crate::ContactChanges::default(), "version 0, nothing");

    let to_bob = store.upsert_friend_request(alice, bob, "", 1).await.expect("a → b");
    let v1 = store.contact_changes(alice, 0).await.expect("changes");
    assert!(v1.version > 0);
    assert_eq!(v1.requests, vec![to_bob.clone()], "a sent request is in the sender's view");
    assert_eq!(store.contact_changes(bob, 0).await.expect("bob").requests, vec![to_bob.clone()], "and the receiver's");
    assert!(store.contact_changes(alice, v1.version).await.expect("nothing new").requests.is_empty());

    let from_carol = store.upsert_friend_request(carol, alice, "", 2).await.expect("c → a");
    store.block(alice, dave, 3).await.expect("block");
    store.upsert_friend_request(bob, carol, "", 4).await.expect("unrelated to alice");
    let v2 = store.contact_changes(alice, v1.version).await.expect("changes");
    assert!(v2.version > v1.version);
    assert_eq!(v2.requests, vec![from_carol.clone()], "only what changed after v1, only alice's");
    assert_eq!(v2.blocks.len(), 1);
    assert!(v2.friends.is_empty());

    store.resolve_friend_request(from_carol.id, true, 5).await.expect("accept");
    let v3 = store.contact_changes(alice, v2.version).await.expect("changes");
    assert!(v3.version > v2.version);
    assert_eq!(v3.requests.len(), 1);
    assert_eq!((v3.requests[0].id, v3.requests[0].status), (from_carol.id, RequestStatus::Accepted));
    assert_eq!(v3.friends.len(), 1);
    assert_eq!(v3.friends[0].friend, carol);
    assert!(v3.blocks.is_empty());
    let all = store.contact_changes(alice, 0).await.expect("all");
    assert_eq!((all.version, all.requests.len(), all.friends.len(), all.blocks.len()), (v3.version, 2, 1, 1));
    for version in all.friends.iter().map(|f| f.version).chain(all.blocks.iter().map(|b| b.version)) {
        assert!(version > 0 && version <= all.version, "rows are stamped within the counter");
    }
    assert_eq!(store.contact_changes(alice, u64::MAX).await.expect("far future").version, v3.version);
}
