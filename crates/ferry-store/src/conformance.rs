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

use ferry_core::{ConversationId, JoinPolicy, Role, UserId};

use crate::{
    GroupPatch, Member, NewGroup, NewMessage, NewUser, ProfilePatch, RequestStatus, Session, Store, StoreError,
    StoredMessage,
};

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
            users_update_profile,
            friend_request_lifecycle,
            friend_request_accept_resolves_reverse,
            friends_delete_leaves_tombstones,
            friends_remark,
            blocks_lifecycle,
            contact_changes_after_since,
            groups_create_with_members,
            groups_update_patch,
            groups_transfer_ownership,
            groups_dismiss,
            group_members_add_remove_readd,
            group_member_settings,
            group_members_pages_and_ids,
            group_member_changes_with_tombstones,
            group_join_requests,
            mentions_until_read,
            mention_all_marks_everyone_but_sender,
            mentions_in_direct_conversations,
            group_messages_add_no_members,
            group_of_ten_thousand,
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
        mentions: Vec::new(),
        mention_all: false,
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

/// Panics unless `result` is `Err(StoreError::NotFound(_))`.
fn assert_not_found<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// Registers `n` users named `{prefix}{i}` and returns their ids.
async fn users(store: &dyn Store, prefix: &str, n: usize) -> Vec<UserId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(user(store, &format!("{prefix}{i}")).await);
    }
    ids
}

/// A group owned by `owner` with `members`, created at time 1000.
fn new_group(name: &str, owner: UserId, members: Vec<UserId>) -> NewGroup {
    NewGroup {
        name: name.to_owned(),
        avatar: format!("https://example.test/{name}.png"),
        notice: String::new(),
        intro: format!("about {name}"),
        owner,
        members,
        join_policy: JoinPolicy::Approval,
        invite_needs_approval: false,
        now: 1000,
    }
}

/// Creates a group and returns its id.
async fn group(store: &dyn Store, owner: UserId, members: Vec<UserId>) -> i64 {
    store.create_group(new_group("g", owner, members)).await.expect("create_group").0.id
}

/// The conversations `user` is in.
async fn conversation_ids(store: &dyn Store, user: UserId) -> Vec<ConversationId> {
    store.conversations_of(user).await.expect("conversations_of").iter().map(|s| s.conversation).collect()
}

/// A message that mentions `mentions` (and everyone, with `all`).
fn mentioning(
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: &str,
    mentions: Vec<UserId>,
    all: bool,
) -> NewMessage {
    NewMessage { mentions, mention_all: all, ..new_message(conversation, sender, client_msg_id, 500) }
}

/// Whether `user`'s state of `conversation` shows a mention.
async fn mentioned(store: &dyn Store, user: UserId, conversation: ConversationId) -> bool {
    store.conversation_of(user, conversation).await.expect("conversation_of").expect("a member").mentioned
}

fn user_ids(members: &[Member]) -> Vec<UserId> {
    members.iter().map(|m| m.user_id).collect()
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

/// Creation sets up roles, counts and the conversation for every member.
pub async fn groups_create_with_members(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let dave = user(&*store, "dave").await;
    let mut spec = new_group("friends", owner, vec![bob, carol, bob, owner]);
    spec.join_policy = JoinPolicy::InviteOnly;
    spec.invite_needs_approval = true;
    let (group, members) = store.create_group(spec).await.expect("create_group");

    assert_eq!(
        (group.name.as_str(), group.avatar.as_str(), group.intro.as_str()),
        ("friends", "https://example.test/friends.png", "about friends")
    );
    assert_eq!((group.owner, group.join_policy, group.invite_needs_approval), (owner, JoinPolicy::InviteOnly, true));
    assert_eq!((group.mute_all, group.dismissed, group.created_at, group.member_count), (false, false, 1000, 3));
    assert_eq!(user_ids(&members), [owner, bob, carol], "owner first, duplicates dropped");
    assert_eq!(members.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::Owner, Role::Member, Role::Member]);
    assert!(members.iter().all(|m| m.join_seq == 0 && !m.left && m.joined_at == 1000 && m.group_id == group.id));
    assert_eq!(store.group(group.id).await.expect("group"), Some(group.clone()));
    assert_eq!(store.group(group.id + 1000).await.expect("unknown"), None);
    assert_eq!(store.member(group.id, bob).await.expect("member").map(|m| m.role), Some(Role::Member));
    assert_eq!(store.member(group.id, dave).await.expect("non-member"), None);

    let conv = ConversationId::Group(group.id);
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 0);
    for user in [owner, bob, carol] {
        let state = store.conversation_of(user, conv).await.expect("conversation_of").expect("a member");
        assert_eq!((state.max_seq, state.read_seq, state.unread, state.mentioned), (0, 0, 0, false));
        assert_eq!(conversation_ids(&*store, user).await, [conv]);
        assert_eq!(store.groups_of(user).await.expect("groups_of"), vec![group.clone()]);
        assert_eq!(store.count_groups_of(user).await.expect("count"), 1);
    }
    assert!(store.conversations_of(dave).await.expect("dave").is_empty());
    assert!(store.groups_of(dave).await.expect("dave").is_empty());

    let (second, _) = store.create_group(new_group("second", bob, vec![owner])).await.expect("second");
    assert!(second.id > group.id);
    let ids: Vec<i64> = store.groups_of(owner).await.expect("groups_of").iter().map(|g| g.id).collect();
    assert_eq!(ids, [group.id, second.id], "by id");
    assert_eq!(store.count_groups_of(owner).await.expect("count"), 2);
    assert!(store.direct_peers(owner).await.expect("direct_peers").is_empty(), "group members are not direct peers");
}

/// A patch changes only the fields it names.
pub async fn groups_update_patch(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (before, _) = store.create_group(new_group("old", owner, vec![])).await.expect("create");
    let patch = GroupPatch {
        name: Some("new".into()),
        notice: Some("read me".into()),
        join_policy: Some(JoinPolicy::Free),
        mute_all: Some(true),
        ..Default::default()
    };
    let after = store.update_group(before.id, patch).await.expect("update_group");
    assert_eq!(
        (after.name.as_str(), after.notice.as_str(), after.join_policy, after.mute_all),
        ("new", "read me", JoinPolicy::Free, true)
    );
    assert_eq!(
        (after.avatar.as_str(), after.intro.as_str(), after.invite_needs_approval),
        (before.avatar.as_str(), before.intro.as_str(), false)
    );
    assert_eq!(store.group(before.id).await.expect("group"), Some(after.clone()));
    let patch = GroupPatch {
        avatar: Some(String::new()),
        intro: Some("i".into()),
        invite_needs_approval: Some(true),
        mute_all: Some(false),
        ..Default::default()
    };
    let again = store.update_group(before.id, patch).await.expect("update again");
    assert_eq!((again.name.as_str(), again.avatar.as_str(), again.intro.as_str()), ("new", "", "i"));
    assert_eq!((again.invite_needs_approval, again.mute_all, again.join_policy), (true, false, JoinPolicy::Free));
    assert_eq!(store.update_group(before.id, GroupPatch::default()).await.expect("empty patch"), again);
    assert_not_found(store.update_group(before.id + 1000, GroupPatch::default()).await, "unknown group");
}

/// The old owner becomes an admin, the new one the owner; both rows change.
pub async fn groups_transfer_ownership(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let (group, _) = store.create_group(new_group("g", owner, vec![bob])).await.expect("create");

    let moved = store.transfer_ownership(group.id, bob).await.expect("transfer");
    assert_eq!(moved.owner, bob);
    assert_eq!(store.group(group.id).await.expect("group").expect("exists").owner, bob);
    assert_eq!(store.member(group.id, bob).await.expect("bob").expect("member").role, Role::Owner);
    assert_eq!(store.member(group.id, owner).await.expect("old").expect("member").role, Role::Admin);
    let changes = store.member_changes(group.id, group.member_version).await.expect("changes");
    assert_eq!(changes.members.len(), 2, "both rows re-versioned");
    assert!(changes.version > group.member_version);
    assert_eq!(moved.member_version, changes.version);
    assert_not_found(store.transfer_ownership(group.id, carol).await, "to a non-member");
    assert_not_found(store.transfer_ownership(group.id + 1000, bob).await, "unknown group");
    assert_eq!(
        store.group(group.id).await.expect("group").expect("exists").owner,
        bob,
        "failed transfers change nothing"
    );
}

/// A dismissed group keeps its members but no longer counts.
pub async fn groups_dismiss(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let first = group(&*store, owner, vec![bob]).await;
    let second = group(&*store, owner, vec![]).await;
    assert_eq!(store.count_groups_of(owner).await.expect("count"), 2);

    let dismissed = store.dismiss_group(first).await.expect("dismiss");
    assert!(dismissed.dismissed);
    assert!(store.group(first).await.expect("group").expect("kept").dismissed);
    assert_eq!(store.count_groups_of(owner).await.expect("count"), 1);
    assert_eq!(store.count_groups_of(bob).await.expect("count"), 0);
    let ids: Vec<i64> = store.groups_of(owner).await.expect("groups_of").iter().map(|g| g.id).collect();
    assert_eq!(ids, [first, second], "dismissed groups are still listed");
    assert_eq!(store.member_ids(first).await.expect("member_ids").len(), 2, "members are kept");
    assert_not_found(store.dismiss_group(second + 1000).await, "unknown group");
}

/// Adding skips current members and revives former ones; conversation
/// membership follows, starting at the join seq.
pub async fn group_members_add_remove_readd(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![bob]).await;
    let conv = ConversationId::Group(id);
    send_n(&*store, conv, owner, 3, 100).await;

    let added = store.add_members(id, &[bob, carol, carol, owner], 3, 2000).await.expect("add");
    assert_eq!(user_ids(&added), [carol], "current members and duplicates are skipped");
    assert_eq!((added[0].role, added[0].join_seq, added[0].joined_at, added[0].left), (Role::Member, 3, 2000, false));
    assert_eq!(store.member(id, carol).await.expect("member"), Some(added[0].clone()));
    assert_eq!(store.group(id).await.expect("group").expect("exists").member_count, 3);
    let state = store.conversation_of(carol, conv).await.expect("state").expect("carol is in the conversation");
    assert_eq!((state.max_seq, state.read_seq, state.unread), (3, 3, 0), "history before joining is not unread");
    send_n(&*store, conv, owner, 1, 200).await;
    assert_eq!(store.conversation_of(carol, conv).await.expect("state").expect("member").unread, 1);
    assert!(store.add_members(id, &[carol], 4, 2001).await.expect("again").is_empty());
    assert_not_found(store.add_members(id + 1000, &[carol], 0, 1).await, "unknown group");

    store.set_nickname(id, bob, "B").await.expect("nickname");
    store.set_muted_until(id, bob, 99_999).await.expect("mute");
    store.set_role(id, bob, Role::Admin).await.expect("admin");
    assert!(store.remove_member(id, bob).await.expect("remove"));
    assert!(!store.remove_member(id, bob).await.expect("remove again"));
    assert!(!store.remove_member(id, user(&*store, "stranger").await).await.expect("never a member"));
    assert_eq!(store.member(id, bob).await.expect("member"), None);
    assert_eq!(store.group(id).await.expect("group").expect("exists").member_count, 2);
    assert!(conversation_ids(&*store, bob).await.is_empty(), "a removed member leaves the conversation");
    assert_eq!(store.conversation_of(bob, conv).await.expect("state"), None);
    assert_not_found(store.mark_read(bob, conv, 4).await, "former member");
    assert!(store.groups_of(bob).await.expect("groups_of").is_empty());
    assert_eq!(store.count_groups_of(bob).await.expect("count"), 0);

    let back = store.add_members(id, &[bob], 4, 3000).await.expect("re-add");
    assert_eq!(user_ids(&back), [bob]);
    let row = &back[0];
    assert_eq!(
        (row.role, row.nickname.as_str(), row.muted_until, row.join_seq, row.joined_at),
        (Role::Member, "", 0, 4, 3000)
    );
    assert_eq!(store.member(id, bob).await.expect("member"), Some(row.clone()));
    let state = store.conversation_of(bob, conv).await.expect("state").expect("back in");
    assert_eq!((state.read_seq, state.unread), (4, 0));
    assert_eq!(store.group(id).await.expect("group").expect("exists").member_count, 3);
    assert_eq!(store.member_ids(id).await.expect("ids").len(), 3);
}

/// Role, mute and nickname change current members only.
pub async fn group_member_settings(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![bob, carol]).await;

    let admin = store.set_role(id, bob, Role::Admin).await.expect("set_role");
    assert_eq!((admin.user_id, admin.role), (bob, Role::Admin));
    let muted = store.set_muted_until(id, bob, 5000).await.expect("mute");
    assert_eq!((muted.muted_until, muted.role), (5000, Role::Admin));
    let named = store.set_nickname(id, bob, "Bobby").await.expect("nickname");
    assert_eq!((named.nickname.as_str(), named.muted_until), ("Bobby", 5000));
    assert!(admin.version < muted.version && muted.version < named.version, "each change takes a new version");
    assert_eq!(store.member(id, bob).await.expect("member"), Some(named.clone()));
    let unmuted = store.set_muted_until(id, bob, 0).await.expect("unmute");
    assert_eq!(unmuted.muted_until, 0);
    assert_eq!(store.member(id, carol).await.expect("carol").expect("member").role, Role::Member, "others untouched");

    let stranger = user(&*store, "stranger").await;
    store.remove_member(id, carol).await.expect("remove");
    for who in [stranger, carol] {
        assert_not_found(store.set_role(id, who, Role::Admin).await, "set_role");
        assert_not_found(store.set_muted_until(id, who, 1).await, "set_muted_until");
        assert_not_found(store.set_nickname(id, who, "x").await, "set_nickname");
    }
    assert_not_found(store.set_role(id + 1000, bob, Role::Admin).await, "unknown group");
    assert_eq!(store.member(id, carol).await.expect("member"), None, "a failed change does not revive");
}

/// Keyset pages over current members by user id, and the id list.
pub async fn group_members_pages_and_ids(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let others = users(&*store, "m", 24).await;
    let id = group(&*store, owner, others.clone()).await;
    store.remove_member(id, others[5]).await.expect("remove");
    store.remove_member(id, others[17]).await.expect("remove");

    let mut expected: Vec<UserId> =
        std::iter::once(owner).chain(others.iter().copied()).filter(|u| *u != others[5] && *u != others[17]).collect();
    expected.sort_unstable();
    assert_eq!(store.member_ids(id).await.expect("member_ids"), expected);

    let mut walked = Vec::new();
    let mut after = UserId::MIN;
    loop {
        let page = store.members(id, after, 5).await.expect("members");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 5);
        assert!(page.iter().all(|m| !m.left && m.group_id == id));
        after = page.last().map_or(after, |m| m.user_id);
        walked.extend(user_ids(&page));
    }
    assert_eq!(walked, expected, "every current member once, by user id");
    assert_eq!(user_ids(&store.members(id, expected[2], 2).await.expect("page")), expected[3..5]);
    assert!(store.members(id, UserId::MIN, 0).await.expect("limit 0").is_empty());
    assert!(store.members(id + 1000, UserId::MIN, 10).await.expect("unknown").is_empty());
    assert!(store.member_ids(id + 1000).await.expect("unknown").is_empty());
}

/// Every member change takes a new version; changes include tombstones.
pub async fn group_member_changes_with_tombstones(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let [bob, carol, dave]: [UserId; 3] = users(&*store, "u", 3).await.try_into().expect("three");
    let (group, members) = store.create_group(new_group("g", owner, vec![bob, carol])).await.expect("create");
    let mut versions: Vec<u64> = members.iter().map(|m| m.version).collect();
    assert!(versions.iter().all(|&v| v > 0 && v <= group.member_version));
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 3, "one version per row");
    let all = store.member_changes(group.id, 0).await.expect("all");
    assert_eq!(all.version, group.member_version);
    assert_eq!(all.members.len(), 3);
    assert!(all.members.windows(2).all(|w| w[0].user_id < w[1].user_id), "by user id");

    let v0 = group.member_version;
    assert!(store.member_changes(group.id, v0).await.expect("none").members.is_empty());
    store.remove_member(group.id, bob).await.expect("remove");
    store.add_members(group.id, &[dave], 0, 2000).await.expect("add");
    store.set_nickname(group.id, carol, "C").await.expect("nickname");
    let changes = store.member_changes(group.id, v0).await.expect("changes");
    assert_eq!(changes.version, v0 + 3, "one increment per change");
    let mut expected = vec![bob, carol, dave];
    expected.sort_unstable();
    assert_eq!(user_ids(&changes.members), expected);
    let tomb = changes.members.iter().find(|m| m.user_id == bob).expect("bob's tombstone");
    assert!(tomb.left);
    assert!(changes.members.iter().all(|m| m.version > v0 && m.version <= changes.version));
    assert_eq!(store.group(group.id).await.expect("group").expect("exists").member_version, changes.version);

    let later = store.member_changes(group.id, v0 + 2).await.expect("later");
    assert_eq!(user_ids(&later.members), [carol], "only after since");
    assert_eq!(store.member_changes(group.id, u64::MAX).await.expect("future").members, vec![]);
    assert!(store.member_changes(group.id, 0).await.expect("all").members.iter().any(|m| m.user_id == bob && m.left));
}

/// Join requests: one pending per (group, user), refreshed in place.
pub async fn group_join_requests(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![]).await;
    let other = group(&*store, owner, vec![]).await;

    let first = store.upsert_join_request(id, bob, None, "let me in", 10).await.expect("request");
    assert_eq!((first.group_id, first.user_id, first.inviter, first.status), (id, bob, None, RequestStatus::Pending));
    assert_eq!((first.message.as_str(), first.created_at, first.updated_at), ("let me in", 10, 10));
    let refreshed = store.upsert_join_request(id, bob, Some(owner), "invited", 20).await.expect("refresh");
    assert_eq!(refreshed.id, first.id, "refreshed in place");
    assert_eq!(
        (refreshed.inviter, refreshed.message.as_str(), refreshed.created_at, refreshed.updated_at),
        (Some(owner), "invited", 10, 20)
    );
    let carols = store.upsert_join_request(id, carol, None, "", 30).await.expect("carol");
    store.upsert_join_request(other, carol, None, "", 31).await.expect("elsewhere");
    assert_eq!(store.join_request(first.id).await.expect("by id"), Some(refreshed.clone()));
    assert_eq!(store.join_request(first.id + 1000).await.expect("unknown"), None);
    assert_eq!(
        store.pending_join_requests(id).await.expect("pending"),
        vec![refreshed.clone(), carols.clone()],
        "oldest first"
    );

    let accepted = store.resolve_join_request(first.id, true, 40).await.expect("accept");
    assert_eq!((accepted.status, accepted.updated_at), (RequestStatus::Accepted, 40));
    assert_eq!(store.member(id, bob).await.expect("member"), None, "adding is the caller's step");
    let declined = store.resolve_join_request(carols.id, false, 41).await.expect("decline");
    assert_eq!(declined.status, RequestStatus::Declined);
    assert_not_found(store.resolve_join_request(first.id, false, 42).await, "already resolved");
    assert_not_found(store.resolve_join_request(first.id + 1000, true, 42).await, "unknown request");
    assert!(store.pending_join_requests(id).await.expect("pending").is_empty());
    assert_eq!(store.pending_join_requests(other).await.expect("other").len(), 1);

    let again = store.upsert_join_request(id, bob, None, "again", 50).await.expect("new request");
    assert_ne!(again.id, first.id, "a resolved request is not reused");
    assert_eq!(store.pending_join_requests(id).await.expect("pending"), vec![again]);
    assert_not_found(store.upsert_join_request(other + 1000, bob, None, "", 1).await, "unknown group");
}

/// A mention shows until the user reads past it; others are not mentioned.
pub async fn mentions_until_read(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let outsider = user(&*store, "outsider").await;
    let id = group(&*store, owner, vec![bob, carol]).await;
    let conv = ConversationId::Group(id);

    append(&*store, vec![mentioning(conv, owner, "m1", vec![bob, outsider], false)]).await;
    send_n(&*store, conv, carol, 2, 600).await;
    assert!(mentioned(&*store, bob, conv).await);
    assert!(!mentioned(&*store, carol, conv).await && !mentioned(&*store, owner, conv).await);
    assert_eq!(store.conversation_of(outsider, conv).await.expect("outsider"), None, "a mention adds no member");
    let listed = store.conversations_of(bob).await.expect("conversations_of");
    assert!(listed[0].mentioned, "conversations_of agrees");

    store.mark_read(bob, conv, 2).await.expect("read past the mention");
    assert!(!mentioned(&*store, bob, conv).await);
    append(&*store, vec![mentioning(conv, carol, "m2", vec![bob], false)]).await;
    assert!(mentioned(&*store, bob, conv).await, "a new mention after the read position");
    store.mark_read(bob, conv, 3).await.expect("read up to just before");
    assert!(mentioned(&*store, bob, conv).await, "the mention at seq 4 is still unread");
    store.mark_read(bob, conv, 4).await.expect("read it");
    assert!(!mentioned(&*store, bob, conv).await);
}

/// @all marks every member but the sender.
pub async fn mention_all_marks_everyone_but_sender(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let members = users(&*store, "m", 5).await;
    let id = group(&*store, owner, members.clone()).await;
    let conv = ConversationId::Group(id);
    send_n(&*store, conv, members[0], 1, 100).await;
    append(&*store, vec![mentioning(conv, owner, "all", vec![], true)]).await;
    assert!(!mentioned(&*store, owner, conv).await, "not the sender");
    for &m in &members {
        let state = store.conversation_of(m, conv).await.expect("state").expect("member");
        assert!(state.mentioned);
        assert_eq!(state.unread, if m == members[0] { 1 } else { 2 });
    }
    store.mark_read(members[1], conv, 2).await.expect("read");
    assert!(!mentioned(&*store, members[1], conv).await);
    assert!(mentioned(&*store, members[2], conv).await, "per member");
}

/// Mentions work in direct conversations too, whose members the append
/// creates.
pub async fn mentions_in_direct_conversations(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    append(&*store, vec![mentioning(conv, alice, "hey", vec![bob], false)]).await;
    assert!(mentioned(&*store, bob, conv).await, "the first message creates the members, then mentions");
    assert!(!mentioned(&*store, alice, conv).await);
    let state = store.conversation_of(bob, conv).await.expect("state").expect("member");
    assert_eq!((state.max_seq, state.unread), (1, 1));
    append(&*store, vec![mentioning(conv, bob, "all", vec![], true)]).await;
    assert!(mentioned(&*store, alice, conv).await);
    store.mark_read(bob, conv, 1).await.expect("read");
    assert!(!mentioned(&*store, bob, conv).await);
    assert_eq!(store.direct_peers(alice).await.expect("peers"), vec![bob]);
}

/// Messages to a group write no conversation members: only the group store
/// does.
pub async fn group_messages_add_no_members(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let outsider = user(&*store, "outsider").await;
    let id = group(&*store, owner, vec![bob]).await;
    let conv = ConversationId::Group(id);
    send_n(&*store, conv, outsider, 2, 100).await;
    send_n(&*store, conv, owner, 1, 200).await;
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 3);
    assert!(store.conversations_of(outsider).await.expect("outsider").is_empty());
    assert_eq!(store.conversation_of(outsider, conv).await.expect("outsider"), None);
    let state = store.conversation_of(bob, conv).await.expect("bob").expect("member");
    assert_eq!((state.max_seq, state.unread, state.last_time), (3, 3, 200));
    assert_eq!(store.member_ids(id).await.expect("ids").len(), 2);
    assert!(store.direct_peers(owner).await.expect("peers").is_empty());
}

/// A 10,000-member group is created in one call and walked exactly once in
/// pages of 1000; a large invitation is one call too.
pub async fn group_of_ten_thousand(store: Arc<dyn Store>) {
    // Members need not be registered users: the store keeps ids.
    let owner = user(&*store, "owner").await;
    let members: Vec<UserId> = (1..10_000).map(|i| owner + i).collect();
    let (group, rows) = store.create_group(new_group("big", owner, members.clone())).await.expect("create");
    assert_eq!(group.member_count, 10_000);
    assert_eq!(rows.len(), 10_000);
    let ids = store.member_ids(group.id).await.expect("member_ids");
    assert_eq!(ids.len(), 10_000);

    let mut seen = HashSet::new();
    let mut after = UserId::MIN;
    let mut pages = 0;
    loop {
        let page = store.members(group.id, after, 1000).await.expect("members");
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 1000);
        for m in &page {
            assert!(m.user_id > after);
            assert!(seen.insert(m.user_id), "each member once");
        }
        after = page.last().map_or(after, |m| m.user_id);
    }
    assert_eq!((pages, seen.len()), (10, 10_000));
    assert_eq!(seen, ids.iter().copied().collect::<HashSet<_>>());

    let conv = ConversationId::Group(group.id);
    append(&*store, vec![mentioning(conv, owner, "hello all", vec![], true)]).await;
    let last = *members.last().expect("members");
    let state = store.conversation_of(last, conv).await.expect("state").expect("member");
    assert_eq!((state.unread, state.mentioned), (1, true));

    let invited: Vec<UserId> = (10_000..15_000).map(|i| owner + i).collect();
    let added = store.add_members(group.id, &invited, 1, 2000).await.expect("add 5000");
    assert_eq!(added.len(), 5_000);
    assert_eq!(store.group(group.id).await.expect("group").expect("exists").member_count, 15_000);
    assert_eq!(store.member_ids(group.id).await.expect("ids").len(), 15_000);
    let changes = store.member_changes(group.id, group.member_version).await.expect("changes");
    assert_eq!(changes.members.len(), 5_000);
}
