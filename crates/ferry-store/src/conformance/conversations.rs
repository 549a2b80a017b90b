//! Per-user conversation state: [`ConversationStore`](crate::ConversationStore)
//! (unread counts, read positions, mentions, direct peers).

use std::sync::Arc;

use ferry_core::{ConversationId, UserId};

use super::{append, group, mentioning, new_message, send_n, user, users};
use crate::{Effect, NewMessage, Store, StoreError};

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

/// Recalling a mention leaves a member mentioned by an older unread one
/// (or by an unread @all), and unmentioned once none is left.
pub async fn recalled_mention_keeps_older_unread_mentions(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![bob, carol]).await;
    let conv = ConversationId::Group(id);
    let recall = |cid: &str, sender: UserId, target: u64| NewMessage {
        effect: Some(Effect::Revoke { target, body: b"recalled".to_vec() }),
        ..new_message(conv, sender, cid, 900)
    };
    append(
        &*store,
        vec![
            mentioning(conv, owner, "all", Vec::new(), true),       // 1: @all
            mentioning(conv, carol, "m2", vec![bob], false),        // 2
            mentioning(conv, carol, "m3", vec![bob, owner], false), // 3
        ],
    )
    .await;
    append(&*store, vec![recall("r3", carol, 3)]).await;
    assert!(mentioned(&*store, bob, conv).await, "seq 2 still mentions bob");
    assert!(!mentioned(&*store, owner, conv).await, "the owner's only mention was recalled; their own @all is not one");
    append(&*store, vec![recall("r2", carol, 2)]).await;
    assert!(mentioned(&*store, bob, conv).await, "the @all at seq 1 still mentions bob");
    assert!(mentioned(&*store, carol, conv).await, "and carol");
    store.mark_read(carol, conv, 1).await.expect("carol reads the @all");
    append(&*store, vec![recall("r1", owner, 1)]).await;
    assert!(!mentioned(&*store, bob, conv).await, "no mention left");
    assert!(!mentioned(&*store, carol, conv).await);
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

/// Whether `user`'s state of `conversation` shows a mention.
async fn mentioned(store: &dyn Store, user: UserId, conversation: ConversationId) -> bool {
    store.conversation_of(user, conversation).await.expect("conversation_of").expect("a member").mentioned
}

/// Read receipts: a direct conversation shows the other member's read
/// position; `read_positions` lists every member's.
pub async fn peer_read_positions(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, alice, 4, 10).await;
    store.mark_read(bob, conv, 3).await.expect("bob reads to 3");
    let state = store.conversation_of(alice, conv).await.expect("state").expect("member");
    assert_eq!((state.read_seq, state.peer_read_seq), (0, 3));
    let listed = store.conversations_of(alice).await.expect("list");
    assert_eq!(listed[0].peer_read_seq, 3);
    assert_eq!(store.conversation_of(bob, conv).await.expect("state").expect("member").peer_read_seq, 0);
    assert_eq!(store.read_position(bob, conv).await.expect("one"), Some(3));
    assert_eq!(store.read_position(alice, conv).await.expect("one"), Some(0));
    assert_eq!(store.read_position(alice, ConversationId::Group(77)).await.expect("none"), None);
    let mut want = vec![(alice, 0), (bob, 3)];
    want.sort();
    assert_eq!(store.read_positions(conv).await.expect("positions"), want);

    let owner = user(&*store, "owner").await;
    let id = group(&*store, owner, vec![alice, bob]).await;
    let g = ConversationId::Group(id);
    send_n(&*store, g, owner, 2, 20).await;
    let max = store.max_seq(g).await.expect("max");
    store.mark_read(alice, g, max).await.expect("alice reads the group");
    assert_eq!(store.conversation_of(owner, g).await.expect("state").expect("member").peer_read_seq, 0, "groups: none");
    let positions = store.read_positions(g).await.expect("group positions");
    assert_eq!(positions.len(), 3);
    assert!(positions.contains(&(alice, max)) && positions.contains(&(bob, 0)));
    assert!(store.read_positions(ConversationId::Group(999)).await.expect("none").is_empty());
}

/// Delete for me: hidden seqs and cleared histories per user, with
/// versioned changes.
pub async fn hidden_messages_per_user(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    send_n(&*store, conv, alice, 6, 10).await;
    assert_eq!(store.hidden_changes(alice, 0).await.expect("none").version, 0);
    let v1 = store.hide_messages(alice, conv, &[2, 4]).await.expect("hide");
    let v2 = store.hide_messages(alice, conv, &[4, 5]).await.expect("hide again");
    assert!(v2 > v1);
    let h = store.hidden_in(alice, conv, 1, 6).await.expect("hidden");
    assert_eq!((h.cleared_up_to, h.seqs.as_slice()), (0, [2, 4, 5].as_slice()));
    assert_eq!(store.hidden_in(alice, conv, 3, 4).await.expect("range").seqs, vec![4]);
    assert!(store.hidden_in(bob, conv, 1, 6).await.expect("bob").seqs.is_empty(), "per user");

    let v3 = store.clear_history(alice, conv, 3).await.expect("clear");
    store.clear_history(alice, conv, 1).await.expect("a lower clear is no lower");
    let h = store.hidden_in(alice, conv, 1, 6).await.expect("hidden");
    assert_eq!(h.cleared_up_to, 3);
    assert!(h.hides(1) && h.hides(3) && h.hides(5) && !h.hides(6));

    let all = store.hidden_changes(alice, 0).await.expect("changes");
    assert_eq!(all.version, v3 + 1);
    assert_eq!(all.hidden, vec![(conv, 2), (conv, 4), (conv, 5)], "4 keeps its first version");
    assert_eq!(all.cleared, vec![(conv, 3)]);
    let among = store.hidden_among(alice, &[(conv, 2), (conv, 3), (conv, 6), (conv, 5)]).await.expect("among");
    assert_eq!(among, vec![true, true, false, true], "2 hidden, 3 cleared, 6 neither, 5 hidden");
    assert_eq!(store.hidden_among(bob, &[(conv, 2)]).await.expect("bob"), vec![false]);
    let later = store.hidden_changes(alice, v1).await.expect("changes after v1");
    assert_eq!(later.hidden, vec![(conv, 5)]);
    assert!(store.hidden_changes(alice, all.version).await.expect("nothing new").cleared.is_empty());
}

/// Conversation settings: patches change only what they set, pins and
/// archives are stamped, and changes come by version (shared with hidden
/// messages).
pub async fn conversation_settings_patch_and_changes(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let conv = ConversationId::direct(alice, bob);
    let g = ConversationId::Group(3);
    let patch = |pinned, muted, archived, draft: Option<&str>, now| crate::SettingsPatch {
        pinned,
        muted,
        archived,
        draft: draft.map(str::to_owned),
        now,
    };
    let s = store.update_settings(alice, conv, patch(Some(true), None, None, None, 100)).await.expect("pin");
    assert_eq!((s.pinned_at, s.muted, s.archived_at, s.draft.as_str(), s.version), (100, false, 0, "", 1));
    let s = store.update_settings(alice, conv, patch(None, Some(true), None, Some("草稿"), 200)).await.expect("mute");
    assert_eq!((s.pinned_at, s.muted, s.draft.as_str(), s.version), (100, true, "草稿", 2), "the pin stays");
    store.update_settings(alice, g, patch(None, None, Some(true), None, 300)).await.expect("archive");
    let s = store.update_settings(alice, conv, patch(Some(false), None, None, Some(""), 400)).await.expect("unpin");
    assert_eq!((s.pinned_at, s.muted, s.draft.as_str()), (0, true, ""));
    store.hide_messages(alice, conv, &[1]).await.expect("hide shares the version");

    let (version, all) = store.settings_changes(alice, 0).await.expect("all");
    assert_eq!(version, 5);
    assert_eq!(all.iter().map(|s| (s.conversation, s.version)).collect::<Vec<_>>(), vec![(g, 3), (conv, 4)]);
    assert_eq!(all[0].archived_at, 300);
    let (_, later) = store.settings_changes(alice, 3).await.expect("after 3");
    assert_eq!(later.len(), 1);
    let (none_version, none) = store.settings_changes(bob, 0).await.expect("bob");
    assert_eq!((none_version, none.len()), (0, 0), "per user");
}

/// `changed_at`: the newest message or event (events move it, unlike
/// `last_time`), your read position and, in a direct chat, the peer's.
pub async fn conversation_changed_at(store: Arc<dyn Store>) {
    let u = users(&*store, "ch", 3).await;
    let (alice, bob, carol) = (u[0], u[1], u[2]);
    let dm = ConversationId::direct(alice, bob);
    let other = ConversationId::direct(alice, carol);
    send_n(&*store, dm, bob, 2, 100).await;
    send_n(&*store, other, carol, 1, 150).await;
    let of = |states: Vec<crate::ConversationState>, c: ConversationId| {
        states.into_iter().find(|s| s.conversation == c).expect("listed")
    };
    let state = of(store.conversations_of(alice).await.expect("list"), dm);
    assert_eq!((state.last_time, state.changed_at), (100, 100));

    // An event moves changed_at but not last_time.
    let react = crate::NewMessage {
        effect: Some(crate::Effect::React { target: 1, emoji: "👍".into(), add: true }),
        ..super::new_message(dm, alice, "react", 400)
    };
    append(&*store, vec![react]).await;
    let state = of(store.conversations_of(bob).await.expect("list"), dm);
    assert_eq!((state.last_time, state.changed_at), (100, 400));
    assert_eq!(of(store.conversations_of(alice).await.expect("list"), other).changed_at, 150, "untouched");

    // Reading stamps the reader's and (direct) the peer's view with the
    // store's clock: later than any time used above.
    store.mark_read(alice, dm, 2).await.expect("read");
    for user in [alice, bob] {
        let state = of(store.conversations_of(user).await.expect("list"), dm);
        assert!(state.changed_at > 1_600_000_000_000, "{user}: {state:?}");
    }
    assert_eq!(of(store.conversations_of(alice).await.expect("list"), other).changed_at, 150);
    let one = store.conversation_of(bob, dm).await.expect("one").expect("member");
    assert!(one.changed_at > 1_600_000_000_000);
}
