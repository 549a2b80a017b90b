//! The incremental conversation list over real sockets: after a full list,
//! `since` its cursor returns only the entries that changed — by a message,
//! an event, the peer's read position, the user's settings or what they
//! deleted for themselves — plus the ids of every conversation the user is
//! in, over TCP and HTTP; a bad cursor is refused.

use std::time::Duration;

use ferry_client::{
    Target,
    api::NewGroup,
    content::{message_op, revoke_op},
    v1,
};
use ferry_core::ErrorCode;
use ferry_testkit::{TestServer, ids::direct_conversation, sdk::api_code};

fn ids(list: &v1::ConversationList) -> Vec<String> {
    let mut ids: Vec<String> = list.conversations.iter().map(|c| c.conversation_id.clone()).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Lets the clock move past everything so far (entries are compared by
/// millisecond stamps).
async fn tick() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn since_a_cursor_only_changed_entries_come_back() {
    let server = TestServer::start_with(|c| c.messages.list_cursor_overlap_secs = 0).await;
    let (alice, bob, carol, dave) =
        (server.user("alice").await, server.user("bob").await, server.user("carol").await, server.user("dave").await);
    let (a, _a_events) = alice.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let (c, _) = carol.connect_tcp().await;
    for peer in [&bob, &carol, &dave] {
        a.send_text(Target::User(peer.id), format!("hi {}", peer.username)).await.expect("sent");
    }
    let group = alice
        .http
        .create_group(&NewGroup { name: "crew".into(), members: vec![bob.id], ..NewGroup::default() })
        .await
        .expect("group");
    let last_in_group =
        a.send_text(Target::Conversation(group.conversation_id.clone()), "crew hello").await.expect("sent");
    let (with_bob, with_carol, with_dave) = (
        direct_conversation(alice.id, bob.id),
        direct_conversation(alice.id, carol.id),
        direct_conversation(alice.id, dave.id),
    );
    let everything =
        sorted(vec![with_bob.clone(), with_carol.clone(), with_dave.clone(), group.conversation_id.clone()]);
    tick().await;

    let full = a.list_conversations_since("").await.expect("full list");
    assert!(!full.incremental && full.conversation_ids.is_empty());
    assert_eq!(ids(&full), everything);
    assert!(!full.cursor.is_empty());
    tick().await;

    // Nothing happened: nothing comes back but the ids.
    let quiet = a.list_conversations_since(&full.cursor).await.expect("incremental");
    assert!(quiet.incremental);
    assert!(quiet.conversations.is_empty(), "{quiet:?}");
    assert_eq!(sorted(quiet.conversation_ids.clone()), everything);

    // A message, the peer reading, a setting, a hidden message.
    let from_bob = b.send_text(Target::User(alice.id), "news").await.expect("sent");
    c.mark_read(&with_carol, 1).await.expect("carol reads");
    a.update_conversation(v1::ConversationSettings {
        conversation_id: with_dave.clone(),
        pinned: Some(true),
        ..Default::default()
    })
    .await
    .expect("pin");
    tick().await;
    let changed = a.list_conversations_since(&quiet.cursor).await.expect("incremental");
    assert_eq!(ids(&changed), sorted(vec![with_bob.clone(), with_carol.clone(), with_dave.clone()]));
    let bob_entry = changed.conversations.iter().find(|e| e.conversation_id == with_bob).expect("bob");
    assert_eq!((bob_entry.unread, bob_entry.last_seq, bob_entry.preview.as_str()), (1, from_bob.seq, "news"));
    let carol_entry = changed.conversations.iter().find(|e| e.conversation_id == with_carol).expect("carol");
    assert_eq!(carol_entry.peer_read_seq, 1);
    assert!(changed.conversations.iter().any(|e| e.conversation_id == with_dave && e.pinned));
    tick().await;

    // Deleting a message for yourself (no seq moves) and an event (a
    // recall moves no last activity) change entries too.
    let hide = v1::HideMessages {
        conversation_id: group.conversation_id.clone(),
        seqs: vec![last_in_group.seq],
        ..Default::default()
    };
    a.hide(hide).await.expect("hide");
    b.op(message_op(&with_bob, from_bob.seq, revoke_op())).await.expect("recall");
    tick().await;
    let after_http = alice.http.conversations_since(&changed.cursor).await.expect("over HTTP");
    assert!(after_http.incremental);
    assert_eq!(ids(&after_http), sorted(vec![with_bob.clone(), group.conversation_id.clone()]));
    let group_entry =
        after_http.conversations.iter().find(|e| e.conversation_id == group.conversation_id).expect("group");
    assert_eq!(group_entry.last_kind, "hidden");
    let bob_entry = after_http.conversations.iter().find(|e| e.conversation_id == with_bob).expect("bob");
    assert_eq!((bob_entry.unread, bob_entry.last_kind.as_str()), (0, "revoked"));

    // Leaving a group drops it from the ids.
    alice.http.transfer_group(group.id, bob.id).await.expect("transfer");
    alice.http.leave_group(group.id).await.expect("leave");
    let left = a.list_conversations_since(&after_http.cursor).await.expect("incremental");
    assert_eq!(sorted(left.conversation_ids), sorted(vec![with_bob, with_carol, with_dave]));

    // A cursor this server did not give is refused, the connection stays.
    for bad in ["x", "1", "1.x", "1.2.3"] {
        let e = a.list_conversations_since(bad).await.expect_err("refused");
        assert_eq!(api_code(&e), ErrorCode::InvalidArgument, "{bad}");
    }
    a.send_text(Target::User(bob.id), "still fine").await.expect("sent");
}
