//! The core promise, over real sockets: no message lost, duplicated or
//! reordered — offline receivers, retries, several devices, dropped
//! connections and server restarts.

use std::{collections::HashMap, time::Duration};

use ferry_client::{Client, Event, EventReceiver, Target, text_content, v1};
use ferry_testkit::{TestServer, WAIT, frames::send_body, ids::direct_conversation, next_message, text_of};

/// Asserts `messages` are exactly seqs `from..=to` in order with texts `m{seq}`.
fn assert_contiguous(messages: &[v1::Message], from: u64, to: u64) {
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    let expected: Vec<u64> = (from..=to).collect();
    assert_eq!(seqs, expected, "seqs must be contiguous, in order, once each");
    for m in messages {
        assert_eq!(text_of(m), format!("m{}", m.seq));
    }
}

/// Collects `n` message events (skipping others), failing on timeout.
async fn collect(events: &mut EventReceiver, n: usize) -> Vec<v1::Message> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(next_message(events, WAIT).await);
    }
    out
}

/// No further message event arrives within a short window.
async fn assert_no_more_messages(events: &mut EventReceiver) {
    let extra = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            match events.recv().await {
                Some(Event::Message(m)) => return Some(m),
                Some(_) => continue,
                None => return None,
            }
        }
    })
    .await;
    if let Ok(Some(m)) = extra {
        panic!("unexpected extra message seq {} {:?}", m.seq, text_of(&m));
    }
}

#[tokio::test]
async fn offline_receiver_syncs_every_message_once_in_order() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, _a_events) = alice.connect_tcp().await;
    let n = 120;
    for i in 1..=n {
        let ack = a.send_text(Target::User(bob.id), format!("m{i}")).await.unwrap();
        assert_eq!(ack.seq, i, "seq is dense from 1");
        assert!(!ack.duplicate);
    }

    let (b, mut b_events) = bob.connect_ws().await;
    let synced = b.sync().await.unwrap();
    assert_contiguous(&synced, 1, n);
    assert!(synced.iter().all(|m| m.sender_id == alice.id));
    assert_eq!(synced[0].conversation_id, direct_conversation(alice.id, bob.id));
    // A second sync finds nothing new, and nothing is delivered twice as events.
    assert!(b.sync().await.unwrap().is_empty());
    assert_no_more_messages(&mut b_events).await;

    // Unread counts what bob has not read.
    let convs = b.list_conversations().await.unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!((convs[0].max_seq, convs[0].unread, convs[0].peer_user_id), (n, n, alice.id));
    b.mark_read(&convs[0].conversation_id, 100).await.unwrap();
    assert_eq!(b.list_conversations().await.unwrap()[0].unread, n - 100);
}

#[tokio::test]
async fn retrying_a_client_msg_id_returns_the_original_ack() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // Send, then drop the connection before reading the ack.
    {
        let (mut raw, _) = alice.raw_tcp().await;
        raw.send_body(send_body("retry-1", bob.id, "m1")).await.unwrap();
        raw.close().await;
    }

    // The retry on a new connection gets an ack; again, the same ack.
    let (a, _events) = alice.connect_tcp().await;
    let first = a.send_with_id("retry-1".into(), Target::User(bob.id), text_content("m1")).await.unwrap();
    let second = a.send_with_id("retry-1".into(), Target::User(bob.id), text_content("m1")).await.unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(
        (second.seq, second.server_msg_id, second.server_time),
        (first.seq, first.server_msg_id, first.server_time)
    );
    assert!(second.duplicate);

    // Over HTTP too, and the conversation holds one message.
    let via_http = alice.http.send_text("retry-1", &Target::User(bob.id), "m1").await.unwrap();
    assert_eq!(via_http.seq, 1);
    assert!(via_http.duplicate);
    let conv = direct_conversation(alice.id, bob.id);
    let page = bob.http.messages(&conv, 0, 100).await.unwrap();
    assert_eq!(page.messages.len(), 1);

    // A new id is a new message.
    let next = a.send_text(Target::User(bob.id), "m2").await.unwrap();
    assert_eq!(next.seq, 2);
}

#[tokio::test]
async fn every_device_gets_the_push_and_an_offline_device_catches_up() {
    let server = TestServer::start().await;
    server.http().register("alice", ferry_testkit::PASSWORD, None).await.unwrap();
    server.http().register("bob", ferry_testkit::PASSWORD, None).await.unwrap();
    let alice_phone = server.login_on("alice", "ios").await;
    let alice_laptop = server.login_on("alice", "cli").await;
    let bob_phone = server.login_on("bob", "ios").await;
    let bob_web = server.login_on("bob", "web").await;

    let (a, _a_ev) = alice_phone.connect_tcp().await;
    let (_al, mut laptop_ev) = alice_laptop.connect_ws().await;
    let (_bp, mut phone_ev) = bob_phone.connect_tcp().await;
    let (bw, mut web_ev) = bob_web.connect_ws_json().await;

    for i in 1..=3 {
        a.send_text(Target::User(bob_phone.id), format!("m{i}")).await.unwrap();
    }
    assert_contiguous(&collect(&mut phone_ev, 3).await, 1, 3);
    assert_contiguous(&collect(&mut web_ev, 3).await, 1, 3);
    // The sender's other device sees its own messages too.
    assert_contiguous(&collect(&mut laptop_ev, 3).await, 1, 3);

    // Bob's web device goes offline and misses two messages.
    let known = bw.known_seqs();
    bw.close().await;
    drop(web_ev);
    for i in 4..=5 {
        a.send_text(Target::User(bob_phone.id), format!("m{i}")).await.unwrap();
    }
    assert_contiguous(&collect(&mut phone_ev, 2).await, 4, 5);

    let mut config = bob_web.client_config(bob_web.ws_url());
    config.known_seqs = known;
    let (bw2, mut web_ev2) = Client::connect(config).await.unwrap();
    let caught_up = bw2.sync().await.unwrap();
    assert_contiguous(&caught_up, 4, 5);
    assert_no_more_messages(&mut web_ev2).await;
}

#[tokio::test]
async fn a_push_after_a_gap_makes_the_client_pull_what_it_missed() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = direct_conversation(alice.id, bob.id);

    // Bob's device was last connected after seq 2 and missed 3..=10.
    let (a, _ae) = alice.connect_tcp().await;
    for i in 1..=10 {
        a.send_text(Target::User(bob.id), format!("m{i}")).await.unwrap();
    }
    let mut config = bob.client_config(bob.tcp_url());
    config.known_seqs = HashMap::from([(conv.clone(), 2)]);
    let (_b, mut events) = Client::connect(config).await.unwrap();

    // Without any explicit sync, the next push (seq 11) reveals the gap; the
    // client fills it and delivers 3..=11 in order.
    a.send_text(Target::User(bob.id), "m11").await.unwrap();
    assert_contiguous(&collect(&mut events, 9).await, 3, 11);
    assert_no_more_messages(&mut events).await;
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_loses_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // Bob reads a few pushes on a raw connection, then the connection dies.
    let (mut raw, _) = bob.raw_tcp().await;
    let (a, _ae) = alice.connect_tcp().await;
    for i in 1..=5 {
        a.send_text(Target::User(bob.id), format!("m{i}")).await.unwrap();
    }
    let mut last_seen = 0;
    while last_seen < 3 {
        let frame = raw.recv_timeout(WAIT).await.unwrap().expect("push");
        if let Some(v1::frame::Body::Message(m)) = frame.body {
            assert_eq!(m.seq, last_seen + 1);
            last_seen = m.seq;
        }
    }
    drop(raw);
    for i in 6..=40 {
        a.send_text(Target::User(bob.id), format!("m{i}")).await.unwrap();
    }

    // On reconnect the client holds seq 3 and recovers 4..=40 exactly once.
    let conv = direct_conversation(alice.id, bob.id);
    let mut config = bob.client_config(bob.tcp_url());
    config.known_seqs = HashMap::from([(conv, last_seen)]);
    let (b, mut events) = Client::connect(config).await.unwrap();
    let recovered = b.sync().await.unwrap();
    assert_contiguous(&recovered, 4, 40);
    assert_no_more_messages(&mut events).await;
}

#[tokio::test]
async fn clients_ride_through_a_server_restart_without_loss() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, _ae) = alice.connect_tcp().await;
    let (_b, mut b_events) = bob.connect_ws().await;

    for i in 1..=30 {
        a.send_text(Target::User(bob.id), format!("m{i}")).await.unwrap();
    }
    let mut got = collect(&mut b_events, 30).await;

    // Graceful restart: both clients are disconnected and reconnect by themselves.
    let server = server.restart().await;
    for i in 31..=60 {
        // Sends retry across the reconnect until acked.
        let ack =
            tokio::time::timeout(WAIT, a.send_text(Target::User(bob.id), format!("m{i}"))).await.unwrap().unwrap();
        assert_eq!(ack.seq, i);
    }
    got.extend(collect(&mut b_events, 30).await);
    assert_contiguous(&got, 1, 60);
    assert_no_more_messages(&mut b_events).await;
    drop(server);
}

#[tokio::test]
async fn acknowledged_messages_survive_a_restart() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let conv = direct_conversation(alice.id, bob.id);

    // Pipeline many sends at once so they share group commits.
    let (a, _ae) = alice.connect_tcp().await;
    let sends =
        (1..=200).map(|i| {
            let a = a.clone();
            async move {
                a.send_with_id(format!("c{i}"), Target::User(bob.id), text_content(format!("m{i}"))).await.unwrap()
            }
        });
    let acks = futures_util::future::join_all(sends).await;
    let mut seqs: Vec<u64> = acks.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    a.close().await;

    let server = server.restart().await;
    let all = server.login("bob").await.http.messages(&conv, 0, 1000).await.unwrap();
    assert_eq!(all.messages.len(), 200);

    // Dedup survives the restart, and is per sender.
    let bob2 = server.login("bob").await;
    // Dedup is per sender: bob's "c1" is a new message, not alice's c1.
    let bobs = bob2.http.send_text("c1", &Target::User(alice.id), "from bob").await.unwrap();
    assert!(!bobs.duplicate);
    assert_eq!(bobs.seq, 201);
    // Alice's retry after the restart still gets her original ack.
    let (a2, _e) = server.login("alice").await.connect_tcp().await;
    let again = a2.send_with_id("c7".into(), Target::User(bob.id), text_content("m7")).await.unwrap();
    assert_eq!((again.seq, again.duplicate), (acks[6].seq, true));
}

/// The messaging endpoints answer with exactly what a WebSocket text session
/// gets: the same proto3-JSON objects, byte for byte as JSON values.
#[tokio::test]
async fn http_messaging_speaks_the_text_frames_json() {
    use ferry_testkit::{http::Api, ws::ws_connect};
    use futures_util::{SinkExt as _, StreamExt as _};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    /// The next text frame with `id` (pushes, id 0, are skipped), as JSON.
    async fn answer(ws: &mut ferry_testkit::ws::Ws, id: &str) -> Value {
        let read = async {
            loop {
                let Some(Ok(WsMessage::Text(t))) = ws.next().await else { panic!("the socket ended") };
                let frame: Value = serde_json::from_str(t.as_str()).expect("a JSON frame");
                if frame["id"] == id || (id == "0" && frame.get("id").is_none()) {
                    return frame;
                }
            }
        };
        tokio::time::timeout(WAIT, read).await.expect("no answer within the wait")
    }

    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let conv = direct_conversation(alice.id, bob.id);
    let mut ws = ws_connect(&server).await;
    let auth = json!({"id": "1", "auth": {"token": bob.token, "protocolVersion": 1}});
    ws.send(WsMessage::text(auth.to_string())).await.expect("auth");
    assert!(answer(&mut ws, "1").await.get("authOk").is_some());

    // Sent over HTTP as a proto3-JSON SendMessage, acked as a SendAck, pushed as a Message.
    let (status, ack) = api.send_text(&alice, &bob, "http-1", "hello").await;
    assert_eq!(status, 200, "{ack}");
    let push = answer(&mut ws, "0").await["message"].clone();
    assert_eq!((ack["clientMsgId"].as_str(), ack["seq"].as_str()), (Some("http-1"), Some("1")), "{ack}");
    assert_eq!(ack["serverMsgId"], push["serverMsgId"], "{ack} {push}");
    assert_eq!(push["content"], json!({"text": {"text": "hello"}}));

    // Each read is the body of the answer frame to the same request.
    let mut ask = async |id: &str, request: Value, answer_key: &str| -> Value {
        let mut frame = json!({ "id": id });
        frame.as_object_mut().expect("object").extend(request.as_object().expect("object").clone());
        ws.send(WsMessage::text(frame.to_string())).await.expect("request");
        answer(&mut ws, id).await[answer_key].clone()
    };
    let over_ws = ask("2", json!({"pull": {"conversationId": conv}}), "messages").await;
    let over_http = api.get(&format!("/conversations/{conv}/messages"), &bob).await;
    assert_eq!(over_http, over_ws);
    assert_eq!(over_http["messages"][0], push, "a message over HTTP is the object a push carries");

    // The same list; only the cursor (a time) may differ by a millisecond.
    let mut over_ws = ask("3", json!({"listConversations": {}}), "conversations").await;
    let mut over_http = api.get("/conversations", &bob).await;
    for list in [&mut over_ws, &mut over_http] {
        let cursor = list.as_object_mut().expect("object").remove("cursor");
        assert!(cursor.is_some_and(|c| c.as_str().is_some_and(|c| !c.is_empty())), "a list has a cursor");
    }
    assert_eq!(over_http, over_ws);

    let over_ws = ask("4", json!({"getPresence": {"userIds": [alice.id.to_string()]}}), "presenceList").await;
    assert_eq!(api.get(&format!("/presence?ids={}", alice.id), &bob).await, over_ws);

    let over_ws = ask("5", json!({"markRead": {"conversationId": conv, "seq": "1"}}), "markReadOk").await;
    let (status, over_http) =
        api.call(reqwest::Method::POST, &format!("/conversations/{conv}/read"), &bob, Some(json!({"seq": 1}))).await;
    assert_eq!((status, &over_http), (200, &over_ws));
    assert_eq!(over_http, json!({"conversationId": conv, "readSeq": "1"}));
}
