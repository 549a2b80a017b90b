//! Read receipts and typing over real sockets: a direct chat's sender
//! learns how far the peer read (pushed, coalesced, and in the conversation
//! list after a reconnect), the reader's other devices follow, a group
//! message's sender asks who read it, and typing reaches the peer without
//! being stored, rate-limited, refused where it makes no sense.

use std::time::Duration;

use ferry_client::{Event, EventReceiver, Target, api::NewGroup, text_content};
use ferry_core::ErrorCode;
use ferry_testkit::{TestServer, TestUser, WAIT, ids::direct_conversation, sdk::api_code};

/// The next event `pick` takes, passing over the others.
async fn next_of<T>(events: &mut EventReceiver, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let wait = async {
        loop {
            let event = events.recv().await.expect("the event stream ended");
            if let Some(t) = pick(event) {
                return t;
            }
        }
    };
    tokio::time::timeout(WAIT, wait).await.expect("the event came in time")
}

/// Everything `pick` takes from the events arriving within `window`.
async fn collect<T>(events: &mut EventReceiver, window: Duration, mut pick: impl FnMut(Event) -> Option<T>) -> Vec<T> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        out.extend(pick(event));
    }
    out
}

fn receipt(e: Event) -> Option<ferry_client::v1::ReadReceipt> {
    match e {
        Event::ReadReceipt(r) => Some(r),
        _ => None,
    }
}

fn typing(e: Event) -> Option<ferry_client::v1::Typing> {
    match e {
        Event::Typing(t) => Some(t),
        _ => None,
    }
}

#[tokio::test]
async fn direct_receipts_reach_the_sender_coalesced_and_the_readers_other_devices() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b1, _) = bob.connect_tcp().await;
    let (_b2, mut b2_events) = bob.connect_ws().await;
    for i in 0..3 {
        a.send_text(Target::User(bob.id), format!("m{i}")).await.expect("sent");
    }

    b1.mark_read(&conv, 1).await.expect("read 1");
    let first = next_of(&mut a_events, receipt).await;
    assert_eq!((first.conversation_id.as_str(), first.user_id, first.read_seq), (conv.as_str(), bob.id, 1));
    let mirrored = next_of(&mut b2_events, receipt).await;
    assert_eq!((mirrored.user_id, mirrored.read_seq), (bob.id, 1), "bob's other device follows");

    // A burst of read marks inside the window: one trailing receipt with
    // the latest position, not one per mark.
    for seq in [2, 2, 3, 3, 3] {
        b1.mark_read(&conv, seq).await.expect("read");
    }
    let burst = collect(&mut a_events, Duration::from_millis(2500), receipt).await;
    assert!(!burst.is_empty() && burst.len() <= 2, "coalesced: {burst:?}");
    assert_eq!(burst.last().map(|r| r.read_seq), Some(3));

    // After a reconnect the list carries the peer's position.
    let listed = a.list_conversations().await.expect("list");
    assert_eq!((listed[0].peer_read_seq, listed[0].read_seq), (3, 0), "{listed:?}");
    let bobs = b1.list_conversations().await.expect("list");
    assert_eq!((bobs[0].read_seq, bobs[0].peer_read_seq, bobs[0].unread), (3, 0, 0), "{bobs:?}");
    // HTTP: read status of a direct message names the peer.
    let status = alice.http.read_status(&conv, 3).await.expect("status");
    assert_eq!((status.read_user_ids.as_slice(), status.unread_count), (&[bob.id][..], 0));
}

async fn group_with(owner: &TestUser, members: &[&TestUser]) -> (i64, String) {
    let new = NewGroup { name: "crew".into(), members: members.iter().map(|m| m.id).collect(), ..NewGroup::default() };
    let g = owner.http.create_group(&new).await.expect("group");
    (g.id, g.conversation_id)
}

#[tokio::test]
async fn a_group_messages_sender_sees_who_read_it() {
    let server = TestServer::start_with(|c| c.messages.receipt_max_members = 5).await;
    let names = ["owner", "mem1", "mem2", "mem3", "late", "big"];
    let mut users = Vec::new();
    for n in names {
        users.push(server.user(n).await);
    }
    let (owner, m1, m2, m3, late, big) = (&users[0], &users[1], &users[2], &users[3], &users[4], &users[5]);
    let (gid, g) = group_with(owner, &[m1, m2, m3]).await;
    let (o, _) = owner.connect_tcp().await;
    let sent = o
        .send_with_id("q1".into(), Target::Conversation(g.clone()), text_content("who read this?"))
        .await
        .expect("sent");
    let (c1, _) = m1.connect_tcp().await;
    c1.mark_read(&g, sent.seq).await.expect("m1 reads");
    // Someone who joins later could not see it: not counted.
    owner.http.invite(gid, &[late.id]).await.expect("invite");

    let status = o.read_status(&g, sent.seq).await.expect("status");
    assert_eq!(status.read_user_ids, vec![m1.id]);
    let mut unread = status.unread_user_ids.clone();
    unread.sort();
    assert_eq!(unread, vec![m2.id, m3.id]);
    assert_eq!((status.read_count, status.unread_count), (1, 2));
    // Only the sender asks; others' messages and non-members are refused.
    assert_eq!(api_code(&c1.read_status(&g, sent.seq).await.expect_err("refused")), ErrorCode::Forbidden);
    let (bc, _) = big.connect_tcp().await;
    assert_eq!(api_code(&bc.read_status(&g, sent.seq).await.expect_err("refused")), ErrorCode::NotFound);
    // A group above receipt_max_members keeps no read status.
    let (_, g2) = group_with(owner, &[m1, m2, m3, big, late]).await;
    let sent2 = o.send_with_id("q2".into(), Target::Conversation(g2.clone()), text_content("hi")).await.expect("sent");
    assert_eq!(api_code(&o.read_status(&g2, sent2.seq).await.expect_err("refused")), ErrorCode::LimitExceeded);
}

#[tokio::test]
async fn typing_reaches_the_peer_rate_limited_and_is_refused_in_groups_and_when_blocked() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, mut a_events) = alice.connect_tcp().await;
    let (_b, mut b_events) = bob.connect_tcp().await;

    a.typing(&conv, true).await.expect("typing");
    let t = next_of(&mut b_events, typing).await;
    assert_eq!((t.conversation_id.as_str(), t.user_id, t.typing), (conv.as_str(), alice.id, true));
    // Repeats within a second are answered but not passed on; a stop is.
    for _ in 0..5 {
        a.typing(&conv, true).await.expect("typing again");
    }
    a.typing(&conv, false).await.expect("stopped");
    let seen = collect(&mut b_events, Duration::from_millis(500), typing).await;
    assert_eq!(seen.iter().map(|t| t.typing).collect::<Vec<_>>(), vec![false], "{seen:?}");
    // Over HTTP too, once the second has passed (a stop does not reopen
    // the gate: alternating stop and start cannot beat the limit).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    alice.http.typing(&conv, true).await.expect("http typing");
    assert!(next_of(&mut b_events, typing).await.typing);
    // Typing is not a message: nothing stored, nothing for alice herself.
    assert!(bob.http.messages(&conv, 0, 10).await.expect("pull").messages.is_empty());
    assert!(collect(&mut a_events, Duration::from_millis(200), typing).await.is_empty());

    // Groups: refused. Someone who blocked you: refused. Others' chats: refused.
    let (_, g) = group_with(&alice, &[&bob]).await;
    assert_eq!(api_code(&a.typing(&g, true).await.expect_err("group")), ErrorCode::InvalidArgument);
    bob.http.block(alice.id).await.expect("block");
    assert_eq!(api_code(&a.typing(&conv, true).await.expect_err("blocked")), ErrorCode::Blocked);
    let (c, _) = carol.connect_tcp().await;
    assert_eq!(api_code(&c.typing(&conv, true).await.expect_err("not hers")), ErrorCode::Forbidden);
}

#[tokio::test]
async fn conversation_settings_sync_to_my_devices_and_order_the_list() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) =
        (server.user("alice").await, server.user("bob").await, server.user("carol").await, server.user("dave").await);
    let (a, _) = alice.connect_tcp().await;
    let (_a2, mut a2_events) = alice.connect_ws_json().await;
    for (peer, text) in [(&bob, "to bob"), (&carol, "to carol"), (&dave, "to dave")] {
        a.send_text(Target::User(peer.id), text).await.expect("sent");
        // Activity is ordered by server_time (ms); equal times fall back to
        // the conversation id, so keep the three sends in distinct ms.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let conv = |u: &TestUser| direct_conversation(alice.id, u.id);
    let order =
        |list: &[ferry_client::v1::Conversation]| list.iter().map(|c| c.conversation_id.clone()).collect::<Vec<_>>();
    // Newest activity first by default.
    assert_eq!(order(&a.list_conversations().await.expect("list")), vec![conv(&dave), conv(&carol), conv(&bob)]);

    let set = |c: String| ferry_client::v1::ConversationSettings { conversation_id: c, ..Default::default() };
    let pinned = alice
        .http
        .update_conversation(&ferry_client::v1::ConversationSettings { pinned: Some(true), ..set(conv(&bob)) })
        .await
        .expect("pin bob's chat");
    assert_eq!((pinned.pinned, pinned.muted, pinned.version), (Some(true), Some(false), 1));
    assert!(pinned.pinned_at > 0);
    let changed = next_of(&mut a2_events, |e| match e {
        Event::Changed(c) if c.domain == "conversations" => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(changed.version, 1, "the other device is told");
    let muted = ferry_client::v1::ConversationSettings {
        muted: Some(true),
        draft: Some("half-written 草稿".into()),
        ..set(conv(&carol))
    };
    a.update_conversation(muted).await.expect("mute carol's chat with a draft");
    let archive = ferry_client::v1::ConversationSettings { archived: Some(true), ..set(conv(&dave)) };
    a.update_conversation(archive).await.expect("archive dave's chat");

    let list = a.list_conversations().await.expect("list");
    assert_eq!(order(&list), vec![conv(&bob), conv(&dave), conv(&carol)], "pinned first");
    let carol_row = list.iter().find(|c| c.conversation_id == conv(&carol)).expect("carol");
    assert!(carol_row.muted && !carol_row.pinned && carol_row.draft == "half-written 草稿");
    assert!(list.iter().find(|c| c.conversation_id == conv(&dave)).expect("dave").archived);
    // A new message brings an archived conversation back.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (d, _) = dave.connect_tcp().await;
    d.send_text(Target::User(alice.id), "back again").await.expect("sent");
    let list = a.list_conversations().await.expect("list");
    assert!(!list.iter().find(|c| c.conversation_id == conv(&dave)).expect("dave").archived);

    // Incremental changes, and refusals.
    let all = alice.http.conversation_settings_changes(0).await.expect("changes");
    assert_eq!((all.version, all.settings.len()), (3, 3));
    assert_eq!(alice.http.conversation_settings_changes(2).await.expect("after 2").settings.len(), 1);
    let nothing = set(conv(&bob));
    assert_eq!(api_code(&a.update_conversation(nothing).await.expect_err("empty")), ErrorCode::InvalidArgument);
    let huge = ferry_client::v1::ConversationSettings { draft: Some("x".repeat(20_000)), ..set(conv(&bob)) };
    assert_eq!(api_code(&a.update_conversation(huge).await.expect_err("too long")), ErrorCode::TextTooLong);
    let (b, _) = bob.connect_tcp().await;
    let theirs =
        ferry_client::v1::ConversationSettings { muted: Some(true), ..set(direct_conversation(carol.id, dave.id)) };
    assert_eq!(api_code(&b.update_conversation(theirs).await.expect_err("not his")), ErrorCode::Forbidden);
}
