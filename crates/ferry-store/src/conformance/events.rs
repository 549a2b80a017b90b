//! Events about earlier messages ([`Effect`]): recall, edit, reactions and
//! pins, applied in the same transaction as the event's append.

use std::sync::Arc;

use ferry_core::{ConversationId, UserId};

use super::{append, group, mentioning, new_message, send_n, user};
use crate::{Appended, Effect, NewMessage, Result, Store, StoreError};

/// An event by `sender` with `effect`, appended after everything else.
fn event(conversation: ConversationId, sender: UserId, client_msg_id: &str, time: i64, effect: Effect) -> NewMessage {
    NewMessage { effect: Some(effect), ..new_message(conversation, sender, client_msg_id, time) }
}

async fn apply(store: &dyn Store, event: NewMessage) -> Result<Appended> {
    store.append_entries(vec![event]).await.expect("append_entries").remove(0)
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T>, conflict: bool, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) if conflict => {}
        Err(StoreError::NotFound(_)) if !conflict => {}
        other => panic!("{what}: expected {}, got {other:?}", if conflict { "Conflict" } else { "NotFound" }),
    }
}

async fn body_at(store: &dyn Store, conversation: ConversationId, seq: u64) -> Vec<u8> {
    let found = store.messages_at(conversation, &[seq]).await.expect("messages_at");
    assert_eq!(found.len(), 1, "message {seq} exists");
    found[0].body.clone()
}

/// A recall replaces the body, takes a seq of its own, and the recalled
/// message and the event are neither unread nor the last activity; a
/// second recall, and any change of a recalled message, is refused.
pub async fn events_recall(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, bob, 3, 100).await;
    let before = store.conversation_of(alice, conv).await.expect("state").expect("member");
    assert_eq!(before.unread, 3);

    let recall = Effect::Revoke { target: 2, body: b"recalled".to_vec() };
    let ev = apply(&*store, event(conv, bob, "r1", 900, recall.clone())).await.expect("recall");
    assert_eq!(ev.message.seq, 4, "the event takes the next seq");
    assert_eq!(body_at(&*store, conv, 2).await, b"recalled");
    let stored = store.messages_after(conv, 0, 10).await.expect("messages");
    assert_eq!(stored.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(stored[1].body, b"recalled", "pull returns the replacement");
    let after = store.conversation_of(alice, conv).await.expect("state").expect("member");
    assert_eq!((after.max_seq, after.unread, after.last_time), (4, 2, before.last_time));
    let listed = store.conversations_of(alice).await.expect("list");
    assert_eq!((listed[0].unread, listed[0].last_time), (2, before.last_time));

    assert_refused(apply(&*store, event(conv, bob, "r2", 901, recall)).await, true, "second recall");
    let edit = Effect::Edit { target: 2, body: b"resurrected".to_vec() };
    assert_refused(apply(&*store, event(conv, bob, "e1", 902, edit)).await, true, "edit of a recalled message");
    let react = Effect::React { target: 2, emoji: "👍".into(), add: true };
    assert_refused(apply(&*store, event(conv, alice, "x1", 903, react)).await, true, "reaction to a recalled message");
    let missing = Effect::Revoke { target: 99, body: Vec::new() };
    assert_refused(apply(&*store, event(conv, bob, "r3", 904, missing)).await, false, "recall of no message");
    let of_event = Effect::Edit { target: 4, body: Vec::new() };
    assert_refused(apply(&*store, event(conv, bob, "e2", 905, of_event)).await, false, "edit of an event");
    assert_eq!(store.max_seq(conv).await.expect("max"), 4, "refused events take no seq");
    assert_eq!(body_at(&*store, conv, 2).await, b"recalled");
}

/// An edit replaces the body everywhere it is read; the original stays
/// findable by its client id (for retries).
pub async fn events_edit(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let conv = ConversationId::Group(3);
    append(&*store, vec![new_message(conv, alice, "orig", 10)]).await;
    let edit = Effect::Edit { target: 1, body: b"v2".to_vec() };
    apply(&*store, event(conv, alice, "e1", 20, edit)).await.expect("edit");
    let edit = Effect::Edit { target: 1, body: b"v3".to_vec() };
    apply(&*store, event(conv, alice, "e2", 30, edit)).await.expect("second edit");
    assert_eq!(body_at(&*store, conv, 1).await, b"v3");
    assert_eq!(store.messages_after(conv, 0, 1).await.expect("pull")[0].body, b"v3");
    let original = store.message_by_client_id(alice, "orig").await.expect("lookup").expect("found");
    assert_eq!((original.seq, original.body.as_slice()), (1, b"v3".as_slice()));
    assert_eq!(store.max_seq(conv).await.expect("max"), 3);
}

/// Recalling a message that mentions someone clears their `mentioned`.
pub async fn events_recall_clears_mentions(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![carol]).await;
    let conv = ConversationId::Group(id);
    let base = store.max_seq(conv).await.expect("max");
    append(&*store, vec![mentioning(conv, owner, "hey", vec![carol], false)]).await;
    assert!(store.conversation_of(carol, conv).await.expect("state").expect("member").mentioned);
    let recall = Effect::Revoke { target: base + 1, body: b"recalled".to_vec() };
    apply(&*store, event(conv, owner, "r", 600, recall)).await.expect("recall");
    let state = store.conversation_of(carol, conv).await.expect("state").expect("member");
    assert!(!state.mentioned, "a recalled mention no longer marks carol");
}

/// Reactions: one per (user, emoji), counted per message with "me".
pub async fn events_reactions(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, alice, 2, 100).await;
    // Times follow the order of the calls: counts list emoji by first use.
    let clock = std::sync::atomic::AtomicI64::new(200);
    let react = |who, cmid: &str, target, emoji: &str, add| {
        let time = clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        event(conv, who, cmid, time, Effect::React { target, emoji: emoji.into(), add })
    };
    apply(&*store, react(alice, "a1", 1, "👍", true)).await.expect("alice 👍");
    apply(&*store, react(bob, "b1", 1, "👍", true)).await.expect("bob 👍");
    apply(&*store, react(bob, "b2", 1, "🎉", true)).await.expect("bob 🎉");
    apply(&*store, react(bob, "b3", 2, "❤️", true)).await.expect("bob ❤️");
    assert_refused(apply(&*store, react(bob, "b4", 1, "👍", true)).await, true, "the same reaction twice");

    let counts = store.reaction_counts(conv, 1, 2, alice).await.expect("counts");
    let seen: Vec<(u64, &str, u64, bool)> = counts.iter().map(|c| (c.seq, c.emoji.as_str(), c.count, c.me)).collect();
    assert_eq!(seen, vec![(1, "👍", 2, true), (1, "🎉", 1, false), (2, "❤️", 1, false)]);
    assert_eq!(store.reaction_counts(conv, 2, 2, bob).await.expect("counts").len(), 1, "the range bounds the seqs");
    let who = store.reactions_of(conv, 1, 10).await.expect("reactions_of");
    assert_eq!(who.iter().map(|r| (r.user, r.emoji.as_str())).collect::<Vec<_>>().len(), 3);
    assert!(who.iter().any(|r| r.user == alice && r.emoji == "👍"));
    assert_eq!(store.reactions_of(conv, 1, 1).await.expect("limit").len(), 1);

    apply(&*store, react(alice, "a2", 1, "👍", false)).await.expect("alice takes 👍 back");
    assert_refused(apply(&*store, react(alice, "a3", 1, "👍", false)).await, true, "removing twice");
    let counts = store.reaction_counts(conv, 1, 1, alice).await.expect("counts");
    assert_eq!(
        counts.iter().map(|c| (c.emoji.as_str(), c.count, c.me)).collect::<Vec<_>>(),
        vec![("👍", 1, false), ("🎉", 1, false)]
    );
    // Recalling a message takes its reactions with it.
    let recall = Effect::Revoke { target: 1, body: Vec::new() };
    apply(&*store, event(conv, alice, "r", 300, recall)).await.expect("recall");
    assert!(store.reaction_counts(conv, 1, 1, alice).await.expect("counts").is_empty());
    // Reactions are events: none of them is unread for bob.
    assert_eq!(store.conversation_of(bob, conv).await.expect("state").expect("member").unread, 1);
}

/// Pins: at most `max`, once each, listed newest first; a recall unpins.
pub async fn events_pins(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let conv = ConversationId::Group(5);
    send_n(&*store, conv, alice, 4, 100).await;
    let pin = |cmid: &str, target, time, pin| event(conv, alice, cmid, time, Effect::Pin { target, pin, max: 2 });
    apply(&*store, pin("p1", 1, 200, true)).await.expect("pin 1");
    assert_refused(apply(&*store, pin("p1b", 1, 201, true)).await, true, "pinning twice");
    apply(&*store, pin("p2", 3, 202, true)).await.expect("pin 3");
    assert_refused(apply(&*store, pin("p3", 4, 203, true)).await, true, "a third pin over max 2");
    let pins = store.pins(conv).await.expect("pins");
    assert_eq!(
        pins.iter().map(|p| (p.seq, p.pinned_by, p.pinned_at)).collect::<Vec<_>>(),
        vec![(3, alice, 202), (1, alice, 200)]
    );
    apply(&*store, pin("u1", 1, 204, false)).await.expect("unpin 1");
    assert_refused(apply(&*store, pin("u1b", 1, 205, false)).await, true, "unpinning what is not pinned");
    apply(&*store, event(conv, alice, "r", 206, Effect::Revoke { target: 3, body: Vec::new() })).await.expect("recall");
    assert!(store.pins(conv).await.expect("pins").is_empty(), "the recall unpinned message 3");
}

/// An event may change a message of its own batch, a refused event leaves
/// the rest of the batch alone and takes no seq, and two recalls of one
/// message in one batch are one recall.
pub async fn events_within_one_batch(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, alice, 1, 100).await;
    let recall = |cmid: &str, target| event(conv, alice, cmid, 300, Effect::Revoke { target, body: b"gone".to_vec() });
    let entries = store
        .append_entries(vec![
            new_message(conv, alice, "m2", 200),
            recall("r2", 2),
            recall("r2-again", 2),
            event(conv, alice, "bad", 300, Effect::Edit { target: 77, body: Vec::new() }),
            new_message(conv, alice, "m3", 200),
        ])
        .await
        .expect("batch");
    assert_eq!(entries.len(), 5);
    let mut entries = entries;
    let bad_edit = entries.remove(3);
    let second = entries.remove(2);
    assert_eq!(entries[0].as_ref().expect("m2").message.seq, 2);
    assert_eq!(entries[1].as_ref().expect("recall").message.seq, 3);
    assert_refused(second, true, "the second recall in the batch");
    assert_refused(bad_edit, false, "an edit of no message");
    assert_eq!(entries[2].as_ref().expect("m3").message.seq, 4, "refused events take no seq");
    assert_eq!(body_at(&*store, conv, 2).await, b"gone");
    let bob_state = store.conversation_of(bob, conv).await.expect("state").expect("member");
    assert_eq!(bob_state.unread, 2, "m1 and m3; m2 is recalled and the event is not unread");
    // `append_messages` fails on a refused event, after the rest is stored.
    assert!(store.append_messages(vec![recall("r2-late", 2)]).await.is_err());
}

/// `last_messages`: the newest message that is not an event, logged or
/// merged, as it is now.
pub async fn events_last_messages_skip_events(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let (dm, g, empty) = (ConversationId::direct(alice, bob), ConversationId::Group(8), ConversationId::Group(9));
    send_n(&*store, dm, alice, 3, 100).await;
    send_n(&*store, g, bob, 2, 100).await;
    let react = Effect::React { target: 3, emoji: "👍".into(), add: true };
    apply(&*store, event(dm, bob, "x", 200, react)).await.expect("react");
    apply(&*store, event(g, bob, "r", 201, Effect::Revoke { target: 2, body: b"gone".to_vec() }))
        .await
        .expect("recall");
    let mut last = store.last_messages(&[dm, g, empty]).await.expect("last");
    last.sort_by_key(|m| m.conversation.to_string());
    let seen: Vec<(ConversationId, u64, &[u8])> =
        last.iter().map(|m| (m.conversation, m.seq, m.body.as_slice())).collect();
    assert_eq!(seen.len(), 2, "nothing for a conversation without messages");
    assert!(seen.iter().any(|s| s.0 == dm && s.1 == 3), "the reaction after message 3 is skipped: {seen:?}");
    assert!(seen.contains(&(g, 2, b"gone".as_slice())), "the recalled message as it is now: {seen:?}");
}
