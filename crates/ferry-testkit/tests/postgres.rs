//! A node on the PostgreSQL store, over real sockets: messages sent and
//! pushed, a second node on the same database serving the same history,
//! and the history, seqs and retries surviving a restart; an SDK client
//! given both nodes' addresses moving to the second when the first stops.

use ferry_client::{Client, Event, Target, text_content};
use ferry_testkit::{TestServer, WAIT, ids::direct_conversation, next_message, postgres, text_of};

#[tokio::test]
async fn a_node_on_postgres_keeps_its_history_across_nodes_and_restarts() {
    let db = postgres::database().await;
    let server = TestServer::start_with(|c| postgres::use_database(c, &db)).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, _a_events) = alice.connect_tcp().await;
    let (_b, mut b_events) = bob.connect_ws().await;

    let mut acks = Vec::new();
    for i in 1..=20 {
        let ack = a.send_with_id(format!("c{i}"), Target::User(bob.id), text_content(format!("m{i}"))).await;
        let ack = ack.expect("send");
        assert_eq!((ack.seq, ack.duplicate), (i, false), "seq is dense from 1");
        acks.push(ack);
    }
    for i in 1..=20 {
        let pushed = next_message(&mut b_events, WAIT).await;
        assert_eq!((pushed.seq, text_of(&pushed).into_owned()), (i, format!("m{i}")), "pushed in order");
    }

    // A second node on the same database sees the same accounts, sessions
    // and history: bob reads it there.
    let other = TestServer::start_with(|c| {
        postgres::use_database(c, &db);
        c.node_id = 1;
    })
    .await;
    let bob_there = other.login("bob").await;
    let conv = direct_conversation(alice.id, bob.id);
    let page = bob_there.http.messages(&conv, 0, 100).await.expect("messages on the other node");
    let texts: Vec<String> = page.messages.iter().map(|m| text_of(m).into_owned()).collect();
    assert_eq!(texts, (1..=20).map(|i| format!("m{i}")).collect::<Vec<_>>());
    drop(other);

    // Restart: the history, the seq counter and retries all survive.
    let server = server.restart().await;
    let (b2, _b2_events) = bob.connect_tcp().await;
    let synced = b2.sync().await.expect("sync after the restart");
    assert_eq!(synced.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    let next = tokio::time::timeout(WAIT, a.send_text(Target::User(bob.id), "m21")).await.expect("in time");
    assert_eq!(next.expect("send after the restart").seq, 21, "the seq continues");
    let retry = a.send_with_id("c5".into(), Target::User(bob.id), text_content("m5")).await.expect("retry");
    assert!(retry.duplicate, "a retry after the restart is a duplicate");
    assert_eq!((retry.seq, retry.server_msg_id), (acks[4].seq, acks[4].server_msg_id));
    let list = bob.http.messages(&conv, 0, 100).await.expect("messages");
    assert_eq!(list.messages.len(), 21, "nothing stored twice");
    drop(server);
}

/// `ClientConfig::fallback_urls`: the first connect skips an address that
/// refuses, and when the serving node stops the client reconnects to the
/// next one (the nodes share the database, not a bus: what it missed comes
/// by the sync after the reconnect, what follows is pushed by its new node).
#[tokio::test]
async fn a_client_given_several_addresses_fails_over_to_the_next_node() {
    let db = postgres::database().await;
    let a = TestServer::start_with(|c| postgres::use_database(c, &db)).await;
    let b = TestServer::start_with(|c| {
        postgres::use_database(c, &db);
        c.node_id = 1;
    })
    .await;
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("tcp://{}", listener.local_addr().expect("addr"))
    };
    let mut config = alice.client_config(&refused);
    config.fallback_urls = vec![a.tcp_url(), b.tcp_url()];
    let (client, mut events) = Client::connect(config).await.expect("connects to the second address");

    let conv = direct_conversation(alice.id, bob.id);
    for i in 1..=10 {
        bob.http.send_text(&format!("c{i}"), &Target::User(alice.id), &format!("m{i}")).await.expect("send on b");
    }
    // Node a stops; the client moves on to b, syncs, and is served there.
    a.stop().await;
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, events.recv()).await.expect("an event in time").expect("events go on") {
            Event::Message(m) => got.push((m.conversation_id.clone(), m.seq, text_of(&m).into_owned())),
            Event::Reconnected => break,
            Event::Disconnected => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // b alone holds the session now: only its pushes can bring these.
    for i in 11..=20 {
        bob.http.send_text(&format!("c{i}"), &Target::User(alice.id), &format!("m{i}")).await.expect("send on b");
    }
    while got.len() < 20 {
        let m = next_message(&mut events, WAIT).await;
        got.push((m.conversation_id.clone(), m.seq, text_of(&m).into_owned()));
    }
    let want: Vec<_> = (1..=20).map(|i| (conv.clone(), i, format!("m{i}"))).collect();
    assert_eq!(got, want, "each once, in order");
    let ack = tokio::time::timeout(WAIT, client.send_text(Target::User(bob.id), "back")).await.expect("in time");
    assert_eq!(ack.expect("send on b").seq, 21);
}
