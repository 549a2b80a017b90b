//! Device sessions: [`SessionStore`](crate::SessionStore).

use std::sync::Arc;

use ferry_core::UserId;

use super::user;
use crate::{Session, Store, StoreError};

/// Sessions are found by token hash and listed per user.
pub async fn sessions_create_and_lookup(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let a1 = session(b"token-a1", alice, "laptop", "desktop", 10);
    let a2 = session(b"token-a2", alice, "phone", "ios", 20);
    let b1 = session(b"token-b1", bob, "phone", "android", 30);
    for s in [&a1, &a2, &b1] {
        store.create_session(s.clone()).await.expect("create_session");
    }

    assert_eq!(store.session_by_token_hash(b"token-a2").await.expect("lookup"), Some(a2.clone()));
    assert_eq!(store.session_by_token_hash(b"nope").await.expect("lookup"), None);
    let mut of_alice = store.sessions_of_user(alice).await.expect("sessions_of_user");
    of_alice.sort_by(|x, y| x.token_hash.cmp(&y.token_hash));
    assert_eq!(of_alice, vec![a1, a2]);
    assert_eq!(store.sessions_of_user(bob).await.expect("sessions_of_user"), vec![b1]);
}

/// Reusing a token hash is a `Conflict` and keeps the first session.
pub async fn sessions_duplicate_token_conflicts(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let first = session(b"same", alice, "laptop", "desktop", 1);
    store.create_session(first.clone()).await.expect("create_session");
    match store.create_session(session(b"same", bob, "phone", "ios", 2)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.session_by_token_hash(b"same").await.expect("lookup"), Some(first));
}

/// Many sessions created at once (a login burst, which a backend may commit
/// together) each succeed or fail on their own: a duplicate among them is a
/// `Conflict` for that one only, and every other one is stored.
pub async fn sessions_concurrent_creates_fail_alone(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    store.create_session(session(b"taken", alice, "laptop", "desktop", 1)).await.expect("create_session");
    let tokens: Vec<Vec<u8>> =
        (0..64).map(|i| if i == 31 { b"taken".to_vec() } else { format!("t{i}").into_bytes() }).collect();
    let creates: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let store = Arc::clone(&store);
            let s = session(t, alice, &format!("d{i}"), "ios", 2);
            tokio::spawn(async move { store.create_session(s).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in creates {
        results.push(task.await.expect("task"));
    }
    for (i, r) in results.iter().enumerate() {
        match (i, r) {
            (31, Err(StoreError::Conflict(_))) => {}
            (31, other) => panic!("the duplicate token: expected Conflict, got {other:?}"),
            (_, Ok(())) => {}
            (_, Err(e)) => panic!("session {i} failed with its neighbour: {e}"),
        }
    }
    assert_eq!(store.sessions_of_user(alice).await.expect("sessions_of_user").len(), 64, "63 new + the first");
}

/// Every session, page by page in token-hash order.
pub async fn sessions_paged_in_hash_order(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let mut all = Vec::new();
    for (i, t) in [b"k3", b"a1", b"z9", b"m5", b"b2"].iter().enumerate() {
        let s = session(*t, if i % 2 == 0 { alice } else { bob }, &format!("d{i}"), "ios", i as i64);
        store.create_session(s.clone()).await.expect("create_session");
        all.push(s);
    }
    all.sort_by(|x, y| x.token_hash.cmp(&y.token_hash));
    let mut seen = Vec::new();
    let mut after = Vec::new();
    loop {
        let page = store.sessions_after(&after, 2).await.expect("sessions_after");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = last.token_hash.clone();
        seen.extend(page);
    }
    assert_eq!(seen, all);
    assert!(store.sessions_after(b"z9", 10).await.expect("past the end").is_empty());
}

/// Deleting one session, a device's and a platform's return what went.
pub async fn sessions_delete(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let laptop1 = session(b"l1", alice, "laptop", "desktop", 1);
    let laptop2 = session(b"l2", alice, "laptop", "desktop", 2);
    let phone = session(b"p1", alice, "phone", "ios", 3);
    let web1 = session(b"w1", alice, "browser-1", "web", 4);
    let web2 = session(b"w2", alice, "browser-2", "web", 5);
    let bob_laptop = session(b"b1", bob, "laptop", "desktop", 6);
    let bob_web = session(b"b2", bob, "browser-1", "web", 7);
    for s in [&laptop1, &laptop2, &phone, &web1, &web2, &bob_laptop, &bob_web] {
        store.create_session(s.clone()).await.expect("create_session");
    }

    assert!(store.delete_session(b"p1").await.expect("delete"));
    assert!(!store.delete_session(b"p1").await.expect("delete again"));
    assert_eq!(store.session_by_token_hash(b"p1").await.expect("lookup"), None);

    let mut gone = store.delete_device_sessions(alice, "laptop").await.expect("delete device");
    gone.sort_by(|x, y| x.token_hash.cmp(&y.token_hash));
    assert_eq!(gone, vec![laptop1, laptop2]);
    assert!(store.delete_device_sessions(alice, "laptop").await.expect("again").is_empty());

    let mut gone = store.delete_platform_sessions(alice, "web").await.expect("delete platform");
    gone.sort_by(|x, y| x.token_hash.cmp(&y.token_hash));
    assert_eq!(gone, vec![web1, web2]);

    assert!(store.sessions_of_user(alice).await.expect("alice").is_empty());
    let mut left = store.sessions_of_user(bob).await.expect("bob");
    left.sort_by(|x, y| x.token_hash.cmp(&y.token_hash));
    assert_eq!(left, vec![bob_laptop, bob_web], "other users' sessions stay");
}

fn session(token: &[u8], user: UserId, device: &str, platform: &str, created_at: i64) -> Session {
    Session {
        token_hash: token.to_vec(),
        user_id: user,
        device_id: device.to_owned(),
        platform: platform.to_owned(),
        created_at,
    }
}
