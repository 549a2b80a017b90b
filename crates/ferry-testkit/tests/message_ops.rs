//! Replies, recalls, edits, reactions and pins over real sockets: each
//! change reaches the other user and the actor's second device as an event
//! in the seq stream, an offline device converges by sync, pulls show the
//! current state (recalled content gone, edits with `edited_at`, reaction
//! counts with "me", quotes of recalled messages as recalled), and every
//! refusal has its code while nothing acknowledged changes.

use ferry_client::{
    Client, EventReceiver, Target,
    api::NewGroup,
    content::{kind_of, text_of},
    edit_op, event_of, message_op, pin_op, react_op, replying_to, revoke_op, revoked_of, text_content,
    text_with_mentions, v1,
};
use ferry_core::{ErrorCode, Role};
use ferry_testkit::{
    TestServer, TestUser, WAIT,
    http::{Api, error_code},
    ids::direct_conversation,
    next_message,
    sdk::api_code,
};
use reqwest::Method;
use serde_json::json;

async fn send(c: &Client, to: Target, content: v1::MessageContent) -> v1::SendAck {
    c.send_with_id(ferry_client::new_client_msg_id(), to, content).await.expect("sent")
}

async fn history(user: &TestUser, conversation: &str) -> Vec<v1::Message> {
    user.http.messages(conversation, 0, 100).await.expect("pull").messages
}

fn at(messages: &[v1::Message], seq: u64) -> &v1::Message {
    messages.iter().find(|m| m.seq == seq).unwrap_or_else(|| panic!("no message {seq} in {messages:?}"))
}

fn quote_of(m: &v1::Message) -> &v1::Quote {
    m.content.as_ref().and_then(|c| c.quote.as_ref()).expect("a quote")
}

/// The next pushed message, which must be an event of `kind` about `target`.
async fn next_event(events: &mut EventReceiver, kind: &str, target: u64) -> v1::Message {
    let m = next_message(events, WAIT).await;
    let e = event_of(&m).unwrap_or_else(|| panic!("expected a {kind} event, got {m:?}"));
    assert_eq!((e.event.as_str(), e.target_seq), (kind, target), "{m:?}");
    m
}

/// Waits for the pushed message `seq`, passing over earlier ones.
async fn skip_to(events: &mut EventReceiver, seq: u64) -> v1::Message {
    loop {
        let m = next_message(events, WAIT).await;
        if m.seq >= seq {
            assert_eq!(m.seq, seq, "pushes come in seq order");
            return m;
        }
    }
}

async fn refused(c: &Client, op: v1::MessageOp) -> ErrorCode {
    api_code(&c.op(op).await.expect_err("refused"))
}

async fn group_of(owner: &TestUser, members: &[&TestUser]) -> String {
    let new = NewGroup { name: "crew".into(), members: members.iter().map(|m| m.id).collect(), ..NewGroup::default() };
    owner.http.create_group(&new).await.expect("group").conversation_id
}

fn group_id(conversation: &str) -> i64 {
    conversation.trim_start_matches("g_").parse().expect("group id")
}

#[tokio::test]
async fn replies_carry_a_preview_and_recalls_reach_every_device_and_quote() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b1, mut b1_events) = bob.connect_tcp().await;
    let (_b2, mut b2_events) = bob.connect_ws_json().await;

    let original = send(&a, Target::User(bob.id), text_content("我们明天讨论数据库迁移 — tomorrow")).await;
    for events in [&mut b1_events, &mut b2_events] {
        assert_eq!(next_message(events, WAIT).await.seq, original.seq);
    }
    next_message(&mut a_events, WAIT).await;

    let reply = send(&b1, Target::User(alice.id), replying_to(text_content("好的 ok"), original.seq)).await;
    for events in [&mut a_events, &mut b2_events] {
        let m = next_message(events, WAIT).await;
        assert_eq!(m.seq, reply.seq);
        let q = quote_of(&m);
        assert_eq!((q.seq, q.sender_id, q.kind.as_str(), q.revoked), (original.seq, alice.id, "text", false));
        assert_eq!(q.preview, "我们明天讨论数据库迁移 — tomorrow");
        assert_eq!(text_of(&m), "好的 ok");
    }
    next_message(&mut b1_events, WAIT).await;

    let recall = a.op(message_op(&conv, original.seq, revoke_op())).await.expect("recall");
    assert_eq!(recall.seq, reply.seq + 1, "the recall is the next seq");
    for events in [&mut b1_events, &mut b2_events, &mut a_events] {
        let m = next_event(events, "revoked", original.seq).await;
        assert_eq!((m.seq, m.sender_id, kind_of(&m)), (recall.seq, alice.id, "event"));
    }

    for reader in [&alice, &bob] {
        let page = history(reader, &conv).await;
        assert_eq!(page.len(), 3, "the recall is an event in the stream");
        let gone = at(&page, original.seq);
        assert_eq!(revoked_of(gone).map(|r| r.by), Some(alice.id), "pull shows the recall, not the text");
        assert!(!format!("{gone:?}").contains("数据库"), "the original content is gone: {gone:?}");
        let q = quote_of(at(&page, reply.seq));
        assert!(q.revoked && q.preview.is_empty(), "the reply's quote shows the recall: {q:?}");
    }
    // Replying to a recalled message quotes it as recalled.
    let late = send(&b1, Target::User(alice.id), replying_to(text_content("?"), original.seq)).await;
    let m = next_message(&mut a_events, WAIT).await;
    assert_eq!(m.seq, late.seq);
    assert!(quote_of(&m).revoked);

    // Quotes must name a message of this conversation that is not an event.
    for bad in [99, recall.seq] {
        let err = b1
            .send_once("bad-quote".into(), Target::User(alice.id), replying_to(text_content("x"), bad))
            .await
            .expect_err("refused");
        assert_eq!(api_code(&err), ErrorCode::InvalidArgument, "quote of {bad}");
    }
    // Unread: the recalled message and the recall event count for nobody;
    // bob's two replies are unread for alice.
    let state = b1.list_conversations().await.expect("list");
    assert_eq!((state[0].max_seq, state[0].unread), (late.seq, 0), "{state:?}");
    let state = a.list_conversations().await.expect("list");
    assert_eq!(state[0].unread, 2, "{state:?}");
}

#[tokio::test]
async fn recall_rules_windows_and_group_admins() {
    let server = TestServer::start_with(|c| c.messages.revoke_window_secs = 1).await;
    let (owner, admin, carol, dave) =
        (server.user("owner").await, server.user("admin").await, server.user("carol").await, server.user("dave").await);
    let g = group_of(&owner, &[&admin, &carol, &dave]).await;
    owner.http.set_member_role(group_id(&g), admin.id, Role::Admin).await.expect("appoint admin");
    let (o, _) = owner.connect_tcp().await;
    let (ad, _) = admin.connect_tcp().await;
    let (c, _) = carol.connect_tcp().await;
    let (d, mut d_events) = dave.connect_tcp().await;
    let to = || Target::Conversation(g.clone());

    let carol_msg = send(&c, to(), text_content("carol's")).await;
    assert_eq!(refused(&d, message_op(&g, carol_msg.seq, revoke_op())).await, ErrorCode::Forbidden);
    let mention = send(
        &c,
        to(),
        text_with_mentions("@dave look", ferry_client::Mentions { user_ids: vec![dave.id], all: false }),
    )
    .await;
    let dave_state = |d: &Client| {
        let d = d.clone();
        let g = g.clone();
        async move { d.list_conversations().await.expect("list").into_iter().find(|s| s.conversation_id == g).expect("in") }
    };
    assert!(dave_state(&d).await.mentioned);
    let unread_before = dave_state(&d).await.unread;

    // The window passes; carol can no longer recall, an admin still can.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(refused(&c, message_op(&g, carol_msg.seq, revoke_op())).await, ErrorCode::Expired);
    ad.op(message_op(&g, mention.seq, revoke_op())).await.expect("admin recalls carol's mention");
    let state = dave_state(&d).await;
    assert!(!state.mentioned, "a recalled mention no longer marks dave");
    assert_eq!(state.unread, unread_before - 1, "the recalled message is no longer unread, the event never is");
    assert_eq!(refused(&o, message_op(&g, mention.seq, revoke_op())).await, ErrorCode::Conflict, "twice");
    // System events cannot be recalled; the group's creation is seq 1.
    assert_eq!(refused(&o, message_op(&g, 1, revoke_op())).await, ErrorCode::InvalidArgument);
    // A fresh message of dave's: recalled by himself within the window.
    let own = send(&d, to(), text_content("oops")).await;
    let recalled = d.op(message_op(&g, own.seq, revoke_op())).await.expect("own recall within the window");
    let pushed = skip_to(&mut d_events, recalled.seq).await;
    assert!(event_of(&pushed).is_some_and(|e| e.event == "revoked" && e.target_seq == own.seq), "{pushed:?}");

    // Outsiders learn nothing: someone else's direct chat is not_found.
    let eve = server.user("eve").await;
    let (e, _) = eve.connect_tcp().await;
    let private = send(&c, Target::User(dave.id), text_content("private")).await;
    let dm = direct_conversation(carol.id, dave.id);
    assert_eq!(refused(&e, message_op(&dm, private.seq, revoke_op())).await, ErrorCode::NotFound);
    assert_eq!(refused(&e, message_op(&g, carol_msg.seq, react_op("👍", false))).await, ErrorCode::NotFound);
}

#[tokio::test]
async fn edits_replace_the_text_and_reach_offline_devices_by_sync() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, _a_events) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_tcp().await;
    let first = send(&a, Target::User(bob.id), text_content("helo")).await;
    next_message(&mut b_events, WAIT).await;

    // Bob's second device is offline from here on.
    let bob2 = server.login("bob").await;
    let (b2, _b2_events) = bob2.connect_tcp().await;
    b2.sync().await.expect("initial sync");
    b2.close().await;

    let edit = a.op(message_op(&conv, first.seq, edit_op("hello"))).await.expect("edit");
    let pushed = next_event(&mut b_events, "edited", first.seq).await;
    let e = event_of(&pushed).expect("event");
    assert!(e.content.is_none(), "the event names the edit; the text is pulled");
    let edited = b.pull(&conv, first.seq - 1, 1).await.expect("pull the message").messages;
    assert_eq!((edited[0].seq, text_of(&edited[0]).as_ref()), (first.seq, "hello"));
    assert!(edited[0].content.as_ref().expect("content").edited_at > 0);

    let page = history(&bob, &conv).await;
    let m = at(&page, first.seq);
    assert_eq!(text_of(m), "hello");
    assert!(m.content.as_ref().expect("content").edited_at >= first.server_time);

    // Refusals: someone else's message, a non-text, an event.
    assert_eq!(refused(&b, message_op(&conv, first.seq, edit_op("mine now"))).await, ErrorCode::Forbidden);
    let loc = v1::MessageContent {
        kind: Some(v1::message_content::Kind::Location(v1::Location {
            latitude: 1.0,
            longitude: 2.0,
            ..Default::default()
        })),
        ..Default::default()
    };
    let place = send(&a, Target::User(bob.id), loc).await;
    assert_eq!(refused(&a, message_op(&conv, place.seq, edit_op("x"))).await, ErrorCode::InvalidArgument);
    assert_eq!(refused(&a, message_op(&conv, edit.seq, edit_op("x"))).await, ErrorCode::NotFound);
    let too_long = "x".repeat(server.config.limits.max_text_bytes as usize + 1);
    assert_eq!(refused(&a, message_op(&conv, first.seq, edit_op(too_long))).await, ErrorCode::TextTooLong);

    // The offline device syncs: the event arrives in seq order.
    let (b2, _) = bob2.connect_tcp().await;
    let caught_up = b2.sync().await.expect("sync");
    let events: Vec<_> = caught_up.iter().filter_map(event_of).map(|e| (e.event.as_str(), e.target_seq)).collect();
    assert_eq!(events, vec![("edited", first.seq)]);
    assert_eq!(
        text_of(caught_up.iter().find(|m| m.seq == first.seq).unwrap_or(at(&history(&bob, &conv).await, first.seq))),
        "hello"
    );
}

#[tokio::test]
async fn edit_window_passes() {
    let server = TestServer::start_with(|c| c.messages.edit_window_secs = 1).await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, _) = alice.connect_tcp().await;
    let m = send(&a, Target::User(bob.id), text_content("soon old")).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(refused(&a, message_op(&conv, m.seq, edit_op("too late"))).await, ErrorCode::Expired);
    assert_eq!(text_of(at(&history(&bob, &conv).await, m.seq)), "soon old");
}

#[tokio::test]
async fn reactions_converge_and_count_per_reader() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = group_of(&alice, &[&bob, &carol]).await;
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b1, _) = bob.connect_tcp().await;
    let (_b2, mut b2_events) = bob.connect_ws().await;
    let (c, _) = carol.connect_tcp().await;
    let msg = send(&a, Target::Conversation(g.clone()), text_content("lunch?")).await;
    skip_to(&mut a_events, msg.seq).await;
    skip_to(&mut b2_events, msg.seq).await;

    b1.op(message_op(&g, msg.seq, react_op("👍", false))).await.expect("bob 👍");
    c.op(message_op(&g, msg.seq, react_op("👍", false))).await.expect("carol 👍");
    c.op(message_op(&g, msg.seq, react_op("🍜", false))).await.expect("carol 🍜");
    for events in [&mut a_events, &mut b2_events] {
        for emoji in ["👍", "👍", "🍜"] {
            let m = next_event(events, "reaction_added", msg.seq).await;
            assert_eq!(event_of(&m).expect("event").emoji, emoji);
        }
    }
    assert_eq!(refused(&b1, message_op(&g, msg.seq, react_op("👍", false))).await, ErrorCode::Conflict);
    assert_eq!(refused(&b1, message_op(&g, msg.seq, react_op("ok", false))).await, ErrorCode::InvalidArgument);
    assert_eq!(refused(&b1, message_op(&g, msg.seq, react_op("🍜", true))).await, ErrorCode::Conflict, "not bob's");

    let counts = |page: Vec<v1::Message>| {
        at(&page, msg.seq).reactions.iter().map(|r| (r.emoji.clone(), r.count, r.me)).collect::<Vec<_>>()
    };
    assert_eq!(counts(history(&bob, &g).await), vec![("👍".into(), 2, true), ("🍜".into(), 1, false)]);
    assert_eq!(counts(history(&alice, &g).await), vec![("👍".into(), 2, false), ("🍜".into(), 1, false)]);
    let who = a.reactions(&g, msg.seq, 0).await.expect("who reacted");
    let mut users: Vec<(i64, &str)> = who.reactions.iter().map(|r| (r.user_id, r.emoji.as_str())).collect();
    users.sort();
    let mut want = vec![(bob.id, "👍"), (carol.id, "👍"), (carol.id, "🍜")];
    want.sort();
    assert_eq!(users, want);

    c.op(message_op(&g, msg.seq, react_op("🍜", true))).await.expect("carol takes 🍜 back");
    assert_eq!(counts(history(&carol, &g).await), vec![("👍".into(), 2, true)]);

    // Carol leaves: she can no longer react there (not_found), HTTP too.
    carol.http.leave_group(group_id(&g)).await.expect("leave");
    assert_eq!(refused(&c, message_op(&g, msg.seq, react_op("😢", false))).await, ErrorCode::NotFound);
    let api = Api::new(&server);
    let path = format!("/conversations/{g}/messages/{}/reactions", msg.seq);
    let (status, body) = api.call(Method::POST, &path, &carol, Some(json!({"emoji": "😢"}))).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"), "{body}");
    // Over HTTP for a member: the same op, answered with an OpAck.
    let (status, body) = api.call(Method::POST, &path, &bob, Some(json!({"emoji": "🎉"}))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["seq"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()), "{body}");
}

#[tokio::test]
async fn pins_by_role_with_a_maximum_and_http_listing() {
    let server = TestServer::start_with(|c| c.messages.max_pins = 2).await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let g = group_of(&alice, &[&bob]).await;
    let (a, _) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_tcp().await;
    let mut seqs = Vec::new();
    for i in 0..3 {
        seqs.push(send(&a, Target::Conversation(g.clone()), text_content(format!("notice {i}"))).await.seq);
    }
    assert_eq!(refused(&b, message_op(&g, seqs[0], pin_op(false))).await, ErrorCode::Forbidden, "plain member");
    a.op(message_op(&g, seqs[0], pin_op(false))).await.expect("pin 0");
    a.op(message_op(&g, seqs[1], pin_op(false))).await.expect("pin 1");
    assert_eq!(refused(&a, message_op(&g, seqs[2], pin_op(false))).await, ErrorCode::LimitExceeded);
    assert_eq!(refused(&a, message_op(&g, seqs[0], pin_op(false))).await, ErrorCode::Conflict);
    let pins: Vec<u64> =
        b.pins(&g).await.expect("pins").iter().map(|p| p.message.as_ref().expect("message").seq).collect();
    assert_eq!(pins, vec![seqs[1], seqs[0]], "most recent first");
    let mut seen = Vec::new();
    while seen.iter().filter(|m| event_of(m).is_some()).count() < 2 {
        seen.push(next_message(&mut b_events, WAIT).await);
    }
    let pinned: Vec<u64> =
        seen.iter().filter_map(event_of).filter(|e| e.event == "pinned").map(|e| e.target_seq).collect();
    assert_eq!(pinned, vec![seqs[0], seqs[1]]);

    // Direct chats: anyone pins; HTTP lists them.
    let dm = direct_conversation(alice.id, bob.id);
    let m = send(&a, Target::User(bob.id), text_content("address: 1 Main St")).await;
    b.op(message_op(&dm, m.seq, pin_op(false))).await.expect("bob pins in a direct chat");
    let listed = alice.http.pins(&dm).await.expect("pins over http");
    assert_eq!((listed.len(), listed[0].pinned_by), (1, bob.id));
    a.op(message_op(&dm, m.seq, pin_op(true))).await.expect("alice unpins");
    assert!(alice.http.pins(&dm).await.expect("pins").is_empty());
}

#[tokio::test]
async fn an_offline_device_catches_up_on_every_kind_of_change() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, _) = alice.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let one = send(&a, Target::User(bob.id), text_content("one")).await;
    let two = send(&a, Target::User(bob.id), text_content("two")).await;
    // Bob's phone syncs, then goes offline.
    let phone = server.login("bob").await;
    let (p, _) = phone.connect_tcp().await;
    p.sync().await.expect("sync");
    p.close().await;

    a.op(message_op(&conv, one.seq, edit_op("one, edited"))).await.expect("edit");
    b.op(message_op(&conv, one.seq, react_op("❤️", false))).await.expect("react");
    b.op(message_op(&conv, two.seq, pin_op(false))).await.expect("pin");
    a.op(message_op(&conv, two.seq, revoke_op())).await.expect("recall");

    let (p, _) = phone.connect_tcp().await;
    let caught: Vec<(String, u64)> =
        p.sync().await.expect("sync").iter().filter_map(event_of).map(|e| (e.event.clone(), e.target_seq)).collect();
    assert_eq!(
        caught,
        vec![
            ("edited".to_owned(), one.seq),
            ("reaction_added".to_owned(), one.seq),
            ("pinned".to_owned(), two.seq),
            ("revoked".to_owned(), two.seq),
        ]
    );
    let page = p.pull(&conv, 0, 100).await.expect("pull").messages;
    let first = at(&page, one.seq);
    assert_eq!(text_of(first), "one, edited");
    assert_eq!(first.reactions.iter().map(|r| (r.emoji.as_str(), r.me)).collect::<Vec<_>>(), vec![("❤️", true)]);
    assert!(revoked_of(at(&page, two.seq)).is_some());
    assert!(p.pins(&conv).await.expect("pins").is_empty(), "the recall unpinned it");
    assert_eq!(
        p.list_conversations().await.expect("list")[0].unread,
        1,
        "one is unread; two is recalled; the four events never count"
    );
}

#[tokio::test]
async fn http_routes_answer_with_op_acks_and_json_errors() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let api = Api::new(&server);
    let (_, sent) = api
        .call(
            Method::POST,
            "/messages",
            &alice,
            Some(json!({
                "clientMsgId": "h1", "userId": bob.id.to_string(), "content": {"text": {"text": "via http"}}
            })),
        )
        .await;
    let seq: u64 = sent["seq"].as_str().expect("seq").parse().expect("number");
    let base = format!("/conversations/{conv}/messages/{seq}");
    let (status, body) = api
        .call(Method::POST, &format!("{base}/edit"), &alice, Some(json!({"content": {"text": {"text": "v2"}}})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.call(Method::POST, &format!("{base}/pin"), &bob, Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.call(Method::GET, &format!("/conversations/{conv}/pins"), &bob, None).await;
    assert_eq!((status, body["pins"][0]["message"]["seq"].as_str()), (200, Some(seq.to_string().as_str())), "{body}");
    let (status, body) = api.call(Method::POST, &format!("{base}/revoke"), &bob, None).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"), "{body}");
    let (status, body) = api.call(Method::POST, &format!("{base}/revoke"), &alice, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.call(Method::POST, &format!("{base}/revoke"), &alice, None).await;
    assert_eq!((status, error_code(&body)), (409, "conflict"), "{body}");
    let (status, body) =
        api.call(Method::POST, &format!("/conversations/{conv}/messages/999/revoke"), &alice, None).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"), "{body}");
    let (status, body) = api.call(Method::POST, &format!("{base}/edit"), &alice, Some(json!({"content": 5}))).await;
    assert_eq!(status, 400, "{body}");
    let page = history(&bob, &conv).await;
    assert!(revoked_of(at(&page, seq)).is_some());
    assert_eq!(page.iter().filter(|m| event_of(m).is_some()).count(), 3, "edit, pin, recall");
}

#[tokio::test]
async fn forward_copies_and_records_per_target_with_partial_failure() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) =
        (server.user("alice").await, server.user("bob").await, server.user("carol").await, server.user("dave").await);
    let g = group_of(&alice, &[&carol]).await;
    let (a, _) = alice.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let (_c, mut c_events) = carol.connect_tcp().await;
    let source = direct_conversation(alice.id, bob.id);
    let one = send(&b, Target::User(alice.id), text_content("第一条 first")).await;
    let two = send(&a, Target::User(bob.id), replying_to(text_content("second"), one.seq)).await;
    // Dave blocks alice: that target fails alone.
    dave.http.block(alice.id).await.expect("block");
    let targets = vec![Target::Conversation(g.clone()), Target::User(dave.id), Target::User(carol.id)];

    let copies = ferry_client::forward("fw-1", &source, vec![two.seq, one.seq], targets.clone(), false);
    let result = a.forward(copies.clone()).await.expect("forward");
    assert_eq!(result.outcomes.len(), 3);
    let group_out = &result.outcomes[0];
    assert_eq!((group_out.conversation_id.as_str(), group_out.acks.len()), (g.as_str(), 2));
    assert!(group_out.error.is_none());
    assert_eq!(result.outcomes[1].error.as_ref().map(|e| e.code.as_str()), Some("blocked"));
    assert!(result.outcomes[1].acks.is_empty());
    assert_eq!(result.outcomes[2].acks.len(), 2);

    let page = history(&carol, &g).await;
    let first = at(&page, group_out.acks[0].seq);
    let second = at(&page, group_out.acks[1].seq);
    assert_eq!((text_of(first).as_ref(), text_of(second).as_ref()), ("第一条 first", "second"), "source seq order");
    for m in [first, second] {
        let c = m.content.as_ref().expect("content");
        assert!(c.forwarded && c.quote.is_none() && c.edited_at == 0, "{c:?}");
        assert_eq!(m.sender_id, alice.id);
    }
    // Carol's device got the copies pushed.
    skip_to(&mut c_events, group_out.acks[1].seq).await;

    // A retry stores nothing twice.
    let again = a.forward(copies).await.expect("retry");
    assert!(again.outcomes[0].acks.iter().all(|ack| ack.duplicate));
    assert_eq!(again.outcomes[0].acks[0].seq, group_out.acks[0].seq);

    // Merged: one record with senders, times and contents.
    let merged = ferry_client::forward("fw-2", &source, vec![one.seq, two.seq], vec![Target::User(carol.id)], true);
    let result = a.forward(merged).await.expect("merged forward");
    let ack = &result.outcomes[0].acks[0];
    let dm = direct_conversation(alice.id, carol.id);
    let record_msg = at(&history(&carol, &dm).await, ack.seq).clone();
    let record = ferry_client::chat_record_of(&record_msg).expect("a chat record");
    let (bob_name, alice_name) = (display(&bob).await, display(&alice).await);
    assert_eq!(record.title, format!("Chat history of {bob_name}, {alice_name}"));
    assert_eq!(record.items.iter().map(|i| i.sender_id).collect::<Vec<_>>(), vec![bob.id, alice.id]);
    assert_eq!(record.items[0].server_time, one.server_time);
    assert_eq!(text_of(&record_msg), format!("[Chat history] {}", record.title));
    // Records nest: forwarding the record merged again is depth 2.
    let nested = ferry_client::forward("fw-3", &dm, vec![ack.seq], vec![Target::User(bob.id)], true);
    assert!(a.forward(nested).await.expect("nested").outcomes[0].error.is_none());

    // Refusals for the whole call.
    let code = |r: Result<v1::ForwardResult, ferry_client::ClientError>| api_code(&r.expect_err("refused"));
    let outsider = ferry_client::forward("fw-4", &source, vec![one.seq], vec![Target::User(carol.id)], false);
    let (d, _) = dave.connect_tcp().await;
    assert_eq!(code(d.forward(outsider).await), ErrorCode::NotFound, "dave cannot read alice and bob's chat");
    let too_many = ferry_client::forward("fw-5", &source, (1..=101).collect(), vec![Target::User(carol.id)], false);
    assert_eq!(code(a.forward(too_many).await), ErrorCode::InvalidArgument);
    let no_targets = ferry_client::forward("fw-6", &source, vec![one.seq], vec![], false);
    assert_eq!(code(a.forward(no_targets).await), ErrorCode::InvalidArgument);
    let missing = ferry_client::forward("fw-7", &source, vec![999], vec![Target::User(carol.id)], false);
    assert_eq!(code(a.forward(missing).await), ErrorCode::NotFound);
    a.op(message_op(&source, two.seq, revoke_op())).await.expect("recall");
    let recalled = ferry_client::forward("fw-8", &source, vec![two.seq], vec![Target::User(carol.id)], false);
    assert_eq!(code(a.forward(recalled).await), ErrorCode::InvalidArgument);
    // Clients cannot forge records or the forwarded mark.
    let forged = v1::MessageContent { forwarded: true, ..text_content("fake") };
    let err = a.send_once("forged".into(), Target::User(bob.id), forged).await.expect_err("refused");
    assert_eq!(api_code(&err), ErrorCode::InvalidArgument);
}

async fn display(user: &TestUser) -> String {
    user.http.me().await.expect("me").user.display_name
}

#[tokio::test]
async fn delete_for_me_and_clear_history_hide_only_for_me_on_all_my_devices() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, _) = alice.connect_tcp().await;
    let (_a2, mut a2_events) = alice.connect_ws().await;
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(send(&a, Target::User(bob.id), text_content(format!("m{i}"))).await.seq);
    }
    let hide = v1::HideMessages { conversation_id: conv.clone(), seqs: vec![seqs[1], seqs[3]], ..Default::default() };
    let ok = a.hide(hide).await.expect("hide");
    // Alice's other device is told to sync her hidden messages.
    let changed = loop {
        match tokio::time::timeout(WAIT, a2_events.recv()).await.expect("in time").expect("event") {
            ferry_client::Event::Changed(c) if c.domain == "hidden" => break c,
            _ => {}
        }
    };
    assert_eq!(changed.version, ok.version);
    let changes = alice.http.hidden_changes(0).await.expect("changes");
    let hidden: Vec<u64> = changes.hidden.iter().map(|h| h.seq).collect();
    assert_eq!((changes.version, hidden), (ok.version, vec![seqs[1], seqs[3]]));

    // Alice's pulls keep the seqs but not the content; bob sees everything.
    let page = history(&alice, &conv).await;
    assert_eq!(page.len(), 5, "the seq stream stays gap-free");
    for m in &page {
        let gone = m.seq == seqs[1] || m.seq == seqs[3];
        assert_eq!((m.hidden, m.content.is_none()), (gone, gone), "{m:?}");
    }
    assert!(history(&bob, &conv).await.iter().all(|m| !m.hidden && m.content.is_some()));

    // Clear history: everything so far, and it counts as read.
    let (b, _) = bob.connect_tcp().await;
    let reply = send(&b, Target::User(alice.id), text_content("still there?")).await;
    let clear = v1::HideMessages { conversation_id: conv.clone(), clear: true, ..Default::default() };
    alice.http.hide(&clear).await.expect("clear over http");
    let page = history(&alice, &conv).await;
    assert!(page.iter().all(|m| m.hidden), "{page:?}");
    let state = a.list_conversations().await.expect("list");
    assert_eq!((state[0].read_seq, state[0].unread), (reply.seq, 0));
    // Newer messages show again.
    let after = send(&b, Target::User(alice.id), text_content("hello again")).await;
    assert!(!at(&history(&alice, &conv).await, after.seq).hidden);
    assert_eq!(alice.http.hidden_changes(ok.version).await.expect("changes").cleared[0].up_to_seq, reply.seq);

    // Bad input: nothing to hide, a message beyond the end, someone else's chat.
    let code = |r: Result<v1::HideOk, ferry_client::ClientError>| api_code(&r.expect_err("refused"));
    let empty = v1::HideMessages { conversation_id: conv.clone(), ..Default::default() };
    assert_eq!(code(a.hide(empty).await), ErrorCode::InvalidArgument);
    let beyond = v1::HideMessages { conversation_id: conv.clone(), seqs: vec![999], ..Default::default() };
    assert_eq!(code(a.hide(beyond).await), ErrorCode::NotFound);
    let carol = server.user("carol").await;
    let (c, _) = carol.connect_tcp().await;
    let theirs = v1::HideMessages { conversation_id: conv.clone(), seqs: vec![1], ..Default::default() };
    assert_eq!(code(c.hide(theirs).await), ErrorCode::Forbidden);
}

#[tokio::test]
async fn the_conversation_list_names_and_previews_as_things_are_now() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = group_of(&alice, &[&bob]).await;
    let (a, _) = alice.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let dm = direct_conversation(alice.id, bob.id);
    let first = send(&b, Target::User(alice.id), text_content("第一句 hello")).await;
    let pic = v1::MessageContent {
        kind: Some(v1::message_content::Kind::Location(v1::Location {
            latitude: 31.2,
            longitude: 121.5,
            title: "人民广场".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let place = send(&a, Target::Conversation(g.clone()), pic).await;
    // An event after the last message does not become the preview.
    a.op(message_op(&g, place.seq, react_op("👍", false))).await.expect("react");
    let carol_dm = direct_conversation(alice.id, carol.id);
    let to_carol = send(&a, Target::User(carol.id), text_content("secret")).await;

    let row =
        |list: &[v1::Conversation], id: &str| list.iter().find(|c| c.conversation_id == id).expect("listed").clone();
    let list = a.list_conversations().await.expect("list");
    let d = row(&list, &dm);
    let bob_name = bob.http.me().await.expect("me").user.display_name;
    assert_eq!((d.name.as_str(), d.last_seq, d.last_sender_id), (bob_name.as_str(), first.seq, bob.id));
    assert_eq!((d.last_kind.as_str(), d.preview.as_str()), ("text", "第一句 hello"));
    let gr = row(&list, &g);
    assert_eq!((gr.name.as_str(), gr.last_seq, gr.last_kind.as_str()), ("crew", place.seq, "location"));
    assert_eq!(gr.preview, "[Location] 人民广场");

    // A recall shows as recalled; a message deleted for me shows nothing.
    b.op(message_op(&dm, first.seq, revoke_op())).await.expect("recall");
    let hide = v1::HideMessages { conversation_id: carol_dm.clone(), seqs: vec![to_carol.seq], ..Default::default() };
    a.hide(hide).await.expect("delete for me");
    let list = a.list_conversations().await.expect("list");
    let d = row(&list, &dm);
    assert_eq!((d.last_kind.as_str(), d.preview.as_str()), ("revoked", "[Recalled]"));
    let c = row(&list, &carol_dm);
    assert_eq!((c.last_kind.as_str(), c.preview.as_str()), ("hidden", ""));
    // Carol still sees it.
    let (cc, _) = carol.connect_tcp().await;
    assert_eq!(cc.list_conversations().await.expect("list")[0].preview, "secret");
}

#[tokio::test]
async fn an_op_retried_with_its_client_id_changes_nothing_twice() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, _) = alice.connect_tcp().await;
    let m = send(&a, Target::User(bob.id), text_content("soon gone")).await;
    let with_id = |op, id: &str| v1::MessageOp { client_msg_id: id.into(), ..message_op(&conv, m.seq, op) };
    let first = a.op(with_id(react_op("👍", false), "r-1")).await.expect("react");
    let again = a.op(with_id(react_op("👍", false), "r-1")).await.expect("the retry is answered, not refused");
    assert_eq!((again.seq, again.server_msg_id), (first.seq, first.server_msg_id));
    let recall = a.op(with_id(revoke_op(), "x-1")).await.expect("recall");
    let retried = a.op(with_id(revoke_op(), "x-1")).await.expect("a retried recall is answered too");
    assert_eq!(retried.seq, recall.seq);
    // Without the id, the repeat is refused: the change is made already.
    assert_eq!(refused(&a, message_op(&conv, m.seq, revoke_op())).await, ErrorCode::Conflict);
    let page = history(&bob, &conv).await;
    assert_eq!(page.iter().filter(|m| event_of(m).is_some()).count(), 2, "one reaction, one recall");
    // A bad id is refused like a send's.
    let bad = v1::MessageOp { client_msg_id: "has space".into(), ..message_op(&conv, m.seq, pin_op(false)) };
    assert_eq!(refused(&a, bad).await, ErrorCode::InvalidArgument);

    // The REST routes take the id as `?client_msg_id=`.
    let other = send(&a, Target::User(bob.id), text_content("pin me")).await;
    let pin = v1::MessageOp { client_msg_id: "p-1".into(), ..message_op(&conv, other.seq, pin_op(false)) };
    let pinned = alice.http.op(&pin).await.expect("pin over HTTP");
    let again = alice.http.op(&pin).await.expect("the HTTP retry is answered, not refused");
    assert_eq!((again.seq, again.server_msg_id), (pinned.seq, pinned.server_msg_id));
    let without = v1::MessageOp { client_msg_id: String::new(), ..pin };
    assert_eq!(api_code(&alice.http.op(&without).await.expect_err("pinned already")), ErrorCode::Conflict);
}
