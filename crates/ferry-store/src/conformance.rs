//! The conformance suite every [`Store`] backend must pass.
//!
//! Each check is a public async function taking a fresh, empty store as an
//! `Arc<dyn Store>` (the way the server holds it) and panicking on failure.
//! A backend's test crate runs all of them with
//! [`store_conformance_tests!`](crate::store_conformance_tests)
//! (in the style of matrix-sdk's `statestore_integration_tests!`):
//!
//! ```ignore
//! async fn fresh_store() -> (SqliteStore, tempfile::TempDir) { /* ... */ }
//! ferry_store::store_conformance_tests!(fresh_store());
//! ```
//!
//! This module is test support: it panics freely and is not used at run
//! time.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use ferry_core::{ConversationId, UserId};

use crate::{NewMessage, NewUser, Session, Store, StoreError, StoredMessage};

/// Expands to one `#[tokio::test]` per conformance check, each running
/// against a fresh store.
///
/// The argument is an expression evaluating to a future of `(store, guard)`:
/// `store` implements [`Store`](crate::Store) and `guard` is anything that
/// must outlive it (a `TempDir`, a throw-away database's drop guard, `()`).
/// The expression is evaluated once per test. The invoking crate needs
/// `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! store_conformance_tests {
    (@tests $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (store, _guard) = $make.await;
                $crate::conformance::$check(::std::sync::Arc::new(store)).await;
            }
        )*
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            users_create_and_lookup,
            users_duplicate_username_conflicts,
            sessions_create_and_lookup,
            sessions_duplicate_token_conflicts,
            sessions_delete,
            append_empty_batch,
            append_assigns_dense_seq_per_conversation,
            append_dedups_across_batches,
            append_dedups_within_batch,
            append_same_client_id_from_two_senders,
            append_failed_batch_writes_nothing,
            append_large_batch_across_conversations,
            messages_after_pages,
            max_seq_tracks_appends,
            conversations_of_counts_unread_and_orders,
            conversation_of_one,
            mark_read_is_monotonic_and_clamped,
            direct_peers_lists_partners,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn append_concurrent_tasks_are_gap_free() {
            let (store, _guard) = $make.await;
            $crate::conformance::append_concurrent_tasks_are_gap_free(::std::sync::Arc::new(store)).await;
        }
    };
}

/// Server message ids unique within the test process.
static NEXT_SERVER_MSG_ID: AtomicU64 = AtomicU64::new(1 << 40);

/// A message from `sender` to `conversation` sent at `time`, with a fresh
/// server id and a body naming the client id.
pub fn new_message(conversation: ConversationId, sender: UserId, client_msg_id: &str, time: i64) -> NewMessage {
    NewMessage {
        conversation,
        sender,
        client_msg_id: client_msg_id.to_owned(),
        server_msg_id: NEXT_SERVER_MSG_ID.fetch_add(1, Ordering::Relaxed),
        server_time: time,
        kind: 1,
        body: format!("body of {client_msg_id}").into_bytes(),
    }
}

/// Registers `name` and returns its id.
async fn user(store: &dyn Store, name: &str) -> UserId {
    let user = NewUser {
        username: name.to_owned(),
        display_name: name.to_uppercase(),
        password_hash: format!("$argon2id$fake${name}"),
        created_at: 1_700_000_000_000,
    };
    store.create_user(user).await.expect("create_user").id
}

/// Appends and returns the assigned entries, panicking on error.
async fn append(store: &dyn Store, batch: Vec<NewMessage>) -> Vec<crate::Appended> {
    let n = batch.len();
    let appended = store.append_messages(batch).await.expect("append_messages");
    assert_eq!(appended.len(), n, "one entry per input");
    appended
}

/// Sends `n` messages from `sender` to `conversation`, one per batch.
async fn send_n(store: &dyn Store, conversation: ConversationId, sender: UserId, n: usize, time: i64) {
    for i in 0..n {
        let id = format!("{conversation}-{sender}-{time}-{i}");
        append(store, vec![new_message(conversation, sender, &id, time)]).await;
    }
}

/// Every message of `conversation`.
async fn all_messages(store: &dyn Store, conversation: ConversationId) -> Vec<StoredMessage> {
    store.messages_after(conversation, 0, u32::MAX).await.expect("messages_after")
}

fn seqs(messages: &[StoredMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
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

/// Users are found by id, by name and in bulk; unknown ones are absent.
pub async fn users_create_and_lookup(store: Arc<dyn Store>) {
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

/// An empty batch is fine and appends nothing.
pub async fn append_empty_batch(store: Arc<dyn Store>) {
    assert!(store.append_messages(Vec::new()).await.expect("empty batch").is_empty());
}

/// Two conversations, appended interleaved, each count 1, 2, 3, ... on their
/// own, and the stored messages are what was sent.
pub async fn append_assigns_dense_seq_per_conversation(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let direct = ConversationId::direct(alice, bob);
    let group = ConversationId::Group(7);

    let mut sent = Vec::new();
    for i in 0..10 {
        let to_direct = new_message(direct, if i % 2 == 0 { alice } else { bob }, &format!("d{i}"), 100 + i);
        let to_group = new_message(group, alice, &format!("g{i}"), 100 + i);
        let appended = append(&*store, vec![to_direct.clone(), to_group.clone()]).await;
        assert_eq!(appended[0].message.seq, i as u64 + 1);
        assert_eq!(appended[1].message.seq, i as u64 + 1);
        assert!(!appended[0].duplicate && !appended[1].duplicate);
        sent.push((to_direct, appended[0].message.clone()));
    }

    let stored = all_messages(&*store, direct).await;
    assert_eq!(seqs(&stored), (1..=10).collect::<Vec<_>>());
    for ((input, acked), stored) in sent.iter().zip(&stored) {
        assert_eq!(acked, stored, "the ack is what was stored");
        assert_eq!(stored.conversation, input.conversation);
        assert_eq!(stored.sender, input.sender);
        assert_eq!(stored.client_msg_id, input.client_msg_id);
        assert_eq!(stored.server_msg_id, input.server_msg_id);
        assert_eq!(stored.server_time, input.server_time);
        assert_eq!(stored.kind, input.kind);
        assert_eq!(stored.body, input.body);
    }
    assert_eq!(seqs(&all_messages(&*store, group).await), (1..=10).collect::<Vec<_>>());
}

/// A retry in a later batch returns the original ack and stores nothing.
pub async fn append_dedups_across_batches(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let first = append(&*store, vec![new_message(conv, alice, "m1", 1000)]).await.remove(0);
    append(&*store, vec![new_message(conv, alice, "m2", 1001)]).await;

    // The retry carries a new server id and time; the original wins.
    let mut retry = new_message(conv, alice, "m1", 5000);
    retry.body = b"different".to_vec();
    let again = append(&*store, vec![retry]).await.remove(0);
    assert!(again.duplicate);
    assert_eq!(again.message, first.message, "same seq, server_msg_id, server_time and body");
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 2, "a duplicate does not bump max_seq");
    assert_eq!(all_messages(&*store, conv).await.len(), 2);

    // The next new message continues the seq.
    let next = append(&*store, vec![new_message(conv, alice, "m3", 1002)]).await.remove(0);
    assert_eq!(next.message.seq, 3);
}

/// A retry within one batch returns the entry of the first occurrence.
pub async fn append_dedups_within_batch(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let batch = vec![
        new_message(conv, alice, "a", 1),
        new_message(conv, alice, "b", 2),
        new_message(conv, alice, "a", 3),
        new_message(conv, bob, "c", 4),
    ];
    let appended = append(&*store, batch).await;
    assert_eq!(appended.iter().map(|a| a.duplicate).collect::<Vec<_>>(), [false, false, true, false]);
    assert_eq!(appended[2].message, appended[0].message);
    assert_eq!(appended.iter().map(|a| a.message.seq).collect::<Vec<_>>(), [1, 2, 1, 3]);
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 3);
    assert_eq!(seqs(&all_messages(&*store, conv).await), [1, 2, 3]);
}

/// Deduplication is per sender: two senders may use the same client id.
pub async fn append_same_client_id_from_two_senders(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    append(&*store, vec![new_message(conv, alice, "same", 1)]).await;
    let from_bob = append(&*store, vec![new_message(conv, bob, "same", 2)]).await.remove(0);
    assert!(!from_bob.duplicate);
    assert_eq!(from_bob.message.seq, 2);
    assert_eq!(from_bob.message.sender, bob);
    assert_eq!(all_messages(&*store, conv).await.len(), 2);
}

/// A batch that fails part-way (here: a reused server_msg_id) stores none of
/// its messages and leaves the seq counters untouched.
pub async fn append_failed_batch_writes_nothing(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let other = ConversationId::Group(3);
    append(&*store, vec![new_message(conv, alice, "before", 1)]).await;

    let first = new_message(conv, alice, "x1", 2);
    let elsewhere = new_message(other, alice, "x2", 3);
    let mut clash = new_message(conv, bob, "x3", 4);
    clash.server_msg_id = first.server_msg_id;
    assert!(store.append_messages(vec![first, elsewhere, clash]).await.is_err());

    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 1);
    assert_eq!(store.max_seq(other).await.expect("max_seq"), 0);
    assert_eq!(seqs(&all_messages(&*store, conv).await), [1]);
    assert!(all_messages(&*store, other).await.is_empty());
    // The store still works, and the failed client ids are free to retry.
    let retry = append(&*store, vec![new_message(conv, alice, "x1", 5)]).await.remove(0);
    assert!(!retry.duplicate);
    assert_eq!(retry.message.seq, 2);
}

/// One call with 1000 messages over 10 conversations keeps each dense.
pub async fn append_large_batch_across_conversations(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let mut convs = Vec::new();
    for i in 0..5 {
        convs.push(ConversationId::direct(alice, user(&*store, &format!("peer{i}")).await));
        convs.push(ConversationId::Group(100 + i));
    }
    let batch: Vec<NewMessage> =
        (0..1000).map(|i| new_message(convs[i % convs.len()], alice, &format!("bulk-{i}"), i as i64)).collect();
    let appended = append(&*store, batch).await;

    for (i, entry) in appended.iter().enumerate() {
        assert!(!entry.duplicate);
        assert_eq!(entry.message.conversation, convs[i % convs.len()], "input order is kept");
        assert_eq!(entry.message.seq, (i / convs.len()) as u64 + 1);
    }
    for conv in convs {
        assert_eq!(store.max_seq(conv).await.expect("max_seq"), 100);
        assert_eq!(seqs(&all_messages(&*store, conv).await), (1..=100).collect::<Vec<_>>());
    }
}

/// 20 tasks × 50 messages into one conversation: seq 1..=1000, no gaps, no
/// repeats, every message stored once.
pub async fn append_concurrent_tasks_are_gap_free(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..50 {
                    let sender = if t % 2 == 0 { alice } else { bob };
                    let msg = new_message(conv, sender, &format!("t{t}-{i}"), t * 1000 + i);
                    let appended = store.append_messages(vec![msg]).await.expect("append");
                    seqs.push(appended[0].message.seq);
                }
                seqs
            })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("task");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "one task's messages keep their order");
        acked.extend(seqs);
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=1000).collect::<Vec<_>>());

    let stored = all_messages(&*store, conv).await;
    assert_eq!(seqs(&stored), (1..=1000).collect::<Vec<_>>());
    let ids: HashSet<&str> = stored.iter().map(|m| m.client_msg_id.as_str()).collect();
    assert_eq!(ids.len(), 1000);
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 1000);
}

/// `messages_after` pages through a conversation in contiguous ascending
/// slices.
pub async fn messages_after_pages(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let other = ConversationId::Group(1);
    let batch = (0..25).map(|i| new_message(conv, alice, &format!("p{i}"), i)).collect();
    append(&*store, batch).await;
    append(&*store, vec![new_message(other, alice, "elsewhere", 0)]).await;

    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = store.messages_after(conv, after, 10).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|m| m.conversation == conv));
        let expected: Vec<u64> = (after + 1..=after + page.len() as u64).collect();
        assert_eq!(seqs(&page), expected, "contiguous, ascending, right after the cursor");
        after = page.last().map_or(after, |m| m.seq);
        pages.push(page.len());
    }
    assert_eq!(pages, [10, 10, 5]);

    assert_eq!(seqs(&store.messages_after(conv, 20, 100).await.expect("tail")), [21, 22, 23, 24, 25]);
    assert!(store.messages_after(conv, 25, 10).await.expect("past end").is_empty());
    assert!(store.messages_after(conv, 0, 0).await.expect("limit 0").is_empty());
    assert!(store.messages_after(conv, u64::MAX, 10).await.expect("huge cursor").is_empty());
    assert!(store.messages_after(ConversationId::Group(99), 0, 10).await.expect("unknown").is_empty());
}

/// `max_seq` is 0 before the first message and follows appends.
pub async fn max_seq_tracks_appends(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let conv = ConversationId::Group(5);
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 0);
    send_n(&*store, conv, alice, 3, 10).await;
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 3);
    assert_eq!(store.max_seq(ConversationId::Group(6)).await.expect("max_seq"), 0);
}

/// Unread counts exclude the user's own messages and respect the read
/// position; conversations come newest activity first.
pub async fn conversations_of_counts_unread_and_orders(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let with_bob = ConversationId::direct(alice, bob);
    let with_carol = ConversationId::direct(alice, carol);
    assert!(store.conversations_of(alice).await.expect("none yet").is_empty());

    send_n(&*store, with_bob, bob, 3, 100).await;
    send_n(&*store, with_bob, alice, 1, 110).await;
    send_n(&*store, with_carol, carol, 2, 200).await;

    let states = store.conversations_of(alice).await.expect("conversations_of");
    assert_eq!(states.iter().map(|s| s.conversation).collect::<Vec<_>>(), [with_carol, with_bob]);
    let carol_state = &states[0];
    assert_eq!((carol_state.max_seq, carol_state.read_seq, carol_state.unread, carol_state.last_time), (2, 0, 2, 200));
    let bob_state = &states[1];
    assert_eq!((bob_state.max_seq, bob_state.read_seq, bob_state.unread, bob_state.last_time), (4, 0, 3, 110));

    // Bob's side of the same conversation: only Alice's message is unread.
    let of_bob = store.conversations_of(bob).await.expect("conversations_of bob");
    assert_eq!(of_bob.len(), 1);
    assert_eq!((of_bob[0].conversation, of_bob[0].unread), (with_bob, 1));

    // New activity reorders; reading lowers the count.
    send_n(&*store, with_bob, bob, 1, 300).await;
    assert_eq!(store.mark_read(alice, with_bob, 2).await.expect("mark_read"), 2);
    let states = store.conversations_of(alice).await.expect("conversations_of");
    assert_eq!(states.iter().map(|s| s.conversation).collect::<Vec<_>>(), [with_bob, with_carol]);
    assert_eq!((states[0].max_seq, states[0].read_seq, states[0].unread, states[0].last_time), (5, 2, 2, 300));
    assert!(store.conversations_of(user(&*store, "dave").await).await.expect("dave").is_empty());
}

/// `conversation_of` answers for members only.
pub async fn conversation_of_one(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, alice, 2, 50).await;

    let state = store.conversation_of(bob, conv).await.expect("conversation_of").expect("bob is a member");
    assert_eq!((state.conversation, state.max_seq, state.read_seq, state.unread, state.last_time), (conv, 2, 0, 2, 50));
    let own = store.conversation_of(alice, conv).await.expect("conversation_of").expect("alice is a member");
    assert_eq!(own.unread, 0);
    assert_eq!(store.conversation_of(carol, conv).await.expect("conversation_of"), None);
    assert_eq!(store.conversation_of(alice, ConversationId::direct(alice, carol)).await.expect("none"), None);
}

/// The read position only rises, never past max_seq, and only for members.
pub async fn mark_read_is_monotonic_and_clamped(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, bob, 5, 10).await;

    assert_eq!(store.mark_read(alice, conv, 3).await.expect("mark 3"), 3);
    assert_eq!(store.mark_read(alice, conv, 1).await.expect("mark 1"), 3, "never lowered");
    assert_eq!(store.mark_read(alice, conv, 99).await.expect("mark 99"), 5, "clamped to max_seq");
    assert_eq!(store.mark_read(alice, conv, u64::MAX).await.expect("mark max"), 5);
    let state = store.conversation_of(alice, conv).await.expect("state").expect("member");
    assert_eq!((state.read_seq, state.unread), (5, 0));
    assert_eq!(store.conversation_of(bob, conv).await.expect("state").expect("member").read_seq, 0, "per user");

    match store.mark_read(carol, conv, 1).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("non-member: expected NotFound, got {other:?}"),
    }
    match store.mark_read(alice, ConversationId::Group(42), 1).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("unknown conversation: expected NotFound, got {other:?}"),
    }
}

/// `direct_peers` lists each direct partner once, not the user, not groups.
pub async fn direct_peers_lists_partners(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let dave = user(&*store, "dave").await;
    assert!(store.direct_peers(alice).await.expect("none yet").is_empty());

    send_n(&*store, ConversationId::direct(alice, bob), alice, 2, 1).await;
    send_n(&*store, ConversationId::direct(carol, alice), carol, 1, 2).await;
    send_n(&*store, ConversationId::direct(bob, dave), bob, 1, 3).await;
    send_n(&*store, ConversationId::Group(1), alice, 1, 4).await;

    let sorted = |mut v: Vec<UserId>| {
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(store.direct_peers(alice).await.expect("alice")), sorted(vec![bob, carol]));
    assert_eq!(sorted(store.direct_peers(bob).await.expect("bob")), sorted(vec![alice, dave]));
    assert_eq!(store.direct_peers(dave).await.expect("dave"), vec![bob]);
}
