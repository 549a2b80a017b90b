//! The message log: [`MessageStore`](crate::MessageStore) (seq assignment,
//! deduplication, group commit, paging).

use std::{collections::HashSet, sync::Arc};

use ferry_core::ConversationId;

use super::{append, new_message, send_n, user};
use crate::{NewMessage, Store, StoredMessage};

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

/// Every message of `conversation`.
async fn all_messages(store: &dyn Store, conversation: ConversationId) -> Vec<StoredMessage> {
    store.messages_after(conversation, 0, u32::MAX).await.expect("messages_after")
}

fn seqs(messages: &[StoredMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// A stored message is found by its sender and client id (what a retry that
/// can no longer be admitted is answered with); other senders' ids are not.
pub async fn message_by_client_id_finds_the_original(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(append(&*store, vec![new_message(conv, alice, &format!("c{i}"), i)]).await.remove(0).message);
    }
    for original in [&sent[0], &sent[10], &sent[19]] {
        let found = store.message_by_client_id(alice, &original.client_msg_id).await.expect("lookup");
        assert_eq!(found.as_ref(), Some(original));
    }
    assert_eq!(store.message_by_client_id(bob, "c1").await.expect("lookup"), None, "per sender");
    assert_eq!(store.message_by_client_id(alice, "never").await.expect("lookup"), None);
}
