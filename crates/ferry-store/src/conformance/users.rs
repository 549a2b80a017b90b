//! Accounts: [`UserStore`](crate::UserStore).

use std::sync::Arc;

use ferry_core::UserId;

use super::{assert_not_found, user};
use crate::{NewUser, ProfilePatch, Store, StoreError};

/// Users are found by id, by name and in bulk; unknown ones are absent.
/// A store that serves them answers the readiness ping.
pub async fn users_create_and_lookup(store: Arc<dyn Store>) {
    store.ping().await.expect("an open store answers the ping");
    let alice = store
        .create_user(NewUser {
            username: "alice".into(),
            display_name: "Alice".into(),
            password_hash: "$argon2id$alice".into(),
            created_at: 42,
        })
        .await
        .expect("create alice");
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.display_name, "Alice");
    assert_eq!(alice.password_hash, "$argon2id$alice");
    assert_eq!(alice.created_at, 42);
    assert!(!alice.disabled);
    assert_eq!((alice.avatar.as_str(), alice.bio.as_str()), ("", ""), "no avatar or bio yet");
    let bob = user(&*store, "bob").await;
    assert_ne!(alice.id, bob);

    assert_eq!(store.user_by_id(alice.id).await.expect("by id"), Some(alice.clone()));
    assert_eq!(store.user_by_name("alice").await.expect("by name"), Some(alice.clone()));
    assert_eq!(store.user_by_name("carol").await.expect("by name"), None);
    let missing = alice.id.max(bob) + 1000;
    assert_eq!(store.user_by_id(missing).await.expect("by id"), None);

    let mut found: Vec<UserId> =
        store.users_by_ids(&[bob, missing, alice.id]).await.expect("by ids").iter().map(|u| u.id).collect();
    found.sort_unstable();
    let mut expected = vec![alice.id, bob];
    expected.sort_unstable();
    assert_eq!(found, expected);
    assert!(store.users_by_ids(&[]).await.expect("by no ids").is_empty());
}

/// A taken username is a `Conflict` and leaves the first account intact.
pub async fn users_duplicate_username_conflicts(store: Arc<dyn Store>) {
    let first = user(&*store, "dave").await;
    let again =
        NewUser { username: "dave".into(), display_name: "Other".into(), password_hash: "x".into(), created_at: 1 };
    match store.create_user(again).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    let stored = store.user_by_name("dave").await.expect("by name").expect("dave exists");
    assert_eq!(stored.id, first);
    assert_eq!(stored.display_name, "DAVE");
}

/// A patch changes only the fields it names; an unknown user is NotFound.
pub async fn users_update_profile(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let patch =
        ProfilePatch { avatar: Some("https://a.test/me.png".into()), bio: Some("hi".into()), ..Default::default() };
    let updated = store.update_profile(alice, patch).await.expect("update_profile");
    assert_eq!(
        (updated.display_name.as_str(), updated.avatar.as_str(), updated.bio.as_str()),
        ("ALICE", "https://a.test/me.png", "hi")
    );
    assert_eq!(store.user_by_id(alice).await.expect("by id"), Some(updated.clone()), "the patch is stored");

    let renamed = store
        .update_profile(alice, ProfilePatch { display_name: Some("Alice L.".into()), ..Default::default() })
        .await
        .expect("rename");
    assert_eq!(
        (renamed.display_name.as_str(), renamed.avatar.as_str(), renamed.bio.as_str()),
        ("Alice L.", "https://a.test/me.png", "hi")
    );
    let cleared = store
        .update_profile(alice, ProfilePatch { bio: Some(String::new()), ..Default::default() })
        .await
        .expect("clear bio");
    assert_eq!(cleared.bio, "");
    assert_eq!(store.user_by_name("alice").await.expect("by name").expect("alice").bio, "");
    let untouched = store.user_by_id(bob).await.expect("bob").expect("bob exists");
    assert_eq!((untouched.display_name.as_str(), untouched.avatar.as_str()), ("BOB", ""), "other users unchanged");
    assert_not_found(store.update_profile(alice.max(bob) + 100, ProfilePatch::default()).await, "unknown user");
}
