//! A cluster as operators run it, in one process: two real nodes on one
//! PostgreSQL database (the store) and one Redis server (the bus). Direct
//! and group messages cross nodes exactly once and in order; a user with
//! devices on both nodes gets every message on both; with the bus engine
//! down, sends are still acknowledged and stored, readiness says the bus is
//! gone, and once it is back the clients on the other node catch up by gap
//! detection — nothing lost, nothing twice, order kept.

use std::time::Duration;

use ferry_client::{EventReceiver, Target, api::NewGroup};
use ferry_testkit::{
    TestServer, TestUser, WAIT, http::Api, ids::direct_conversation, next_message, postgres, redis::RedisServer,
    text_of,
};

/// Waits until `asker` (on some node) sees `user` online: that node has
/// heard of the sessions `user` has so far.
async fn wait_online(asker: &TestUser, user: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !asker.http.presence(&[user]).await.expect("presence").iter().any(|p| p.online) {
        assert!(tokio::time::Instant::now() < deadline, "user {user} never showed online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /readyz`: the status code.
async fn readyz(server: &TestServer) -> u16 {
    reqwest::get(format!("{}/readyz", server.http_url())).await.expect("readyz").status().as_u16()
}

/// The next `n` messages of `conversation` from seq `from` on pushed to
/// `events` (others are skipped), as (seq, text): a duplicate or a gap
/// shows in the list.
async fn messages_of(events: &mut EventReceiver, conversation: &str, from: u64, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let m = next_message(events, WAIT).await;
        if m.conversation_id == conversation && m.seq >= from {
            got.push((m.seq, text_of(&m).into_owned()));
        }
    }
    got
}

fn expected(seqs: std::ops::RangeInclusive<u64>, prefix: &str) -> Vec<(u64, String)> {
    seqs.map(|s| (s, format!("{prefix}{s}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_and_redis_carry_messages_across_exactly_once_in_order() {
    let db = postgres::database().await;
    let mut redis = RedisServer::start().await;
    let a = TestServer::start_with(postgres::cluster_node(&db, &redis, 0)).await;
    let b = TestServer::start_with(postgres::cluster_node(&db, &redis, 1)).await;
    assert_eq!((readyz(&a).await, readyz(&b).await), (200, 200));

    // Accounts live in the shared store: made on one node, used on the other.
    let alice = a.user("alice").await;
    let bob_on_a = a.user("bob").await;
    let bob_on_b = b.login("bob").await;
    let carol = b.user("carol").await;
    let api = Api::new(&a);
    api.befriend(&alice, &bob_on_a).await;
    api.befriend(&alice, &carol).await;

    // Alice on a; bob on b and on a; carol on b. Each node learns of the
    // other's sessions over the bus before traffic starts.
    let (alice_client, mut alice_events) = alice.connect_tcp().await;
    wait_online(&carol, alice.id).await;
    let (bob_b, mut bob_b_events) = bob_on_b.connect_ws().await;
    wait_online(&alice, bob_on_a.id).await;
    let (_bob_a, mut bob_a_events) = bob_on_a.connect_tcp().await;
    let (_carol_client, mut carol_events) = carol.connect_tcp().await;
    wait_online(&alice, carol.id).await;

    // Direct, a → b: both of bob's devices get every message, in order, once.
    let dm = direct_conversation(alice.id, bob_on_a.id);
    for i in 1..=40 {
        let ack = alice_client.send_text(Target::User(bob_on_a.id), format!("a{i}")).await.expect("send on a");
        assert_eq!(ack.seq, i);
    }
    assert_eq!(messages_of(&mut bob_b_events, &dm, 1, 40).await, expected(1..=40, "a"));
    assert_eq!(messages_of(&mut bob_a_events, &dm, 1, 40).await, expected(1..=40, "a"));

    // Direct, b → a: the seqs continue, alice gets them in order.
    for i in 41..=60 {
        let ack = bob_b.send_text(Target::User(alice.id), format!("a{i}")).await.expect("send on b");
        assert_eq!(ack.seq, i);
    }
    assert_eq!(messages_of(&mut alice_events, &dm, 41, 20).await, expected(41..=60, "a"));
    // Bob's other device, on the sender's node, gets them too.
    assert_eq!(messages_of(&mut bob_a_events, &dm, 41, 20).await, expected(41..=60, "a"));

    // A group spanning both nodes: one fan-out per node, every member once.
    let group = alice
        .http
        .create_group(&NewGroup { name: "crew".into(), members: vec![bob_on_a.id, carol.id], ..NewGroup::default() })
        .await
        .expect("group");
    let g = group.conversation_id.clone();
    let mut sent = Vec::new();
    for i in 1..=30 {
        let ack = alice_client.send_text(Target::Conversation(g.clone()), format!("g{i}")).await.expect("group send");
        sent.push(ack.seq);
    }
    let first = sent[0];
    assert_eq!(sent, (first..first + 30).collect::<Vec<_>>(), "dense seqs");
    let want: Vec<_> = (0..30).map(|k| (first + k, format!("g{}", k + 1))).collect();
    for events in [&mut carol_events, &mut bob_b_events, &mut bob_a_events] {
        assert_eq!(messages_of(events, &g, first, 30).await, want);
    }

    // The bus engine dies: sends still commit (the store is PostgreSQL), b
    // says it is not ready, and its clients miss the pushes meanwhile.
    redis.kill();
    let deadline = tokio::time::Instant::now() + WAIT;
    while readyz(&b).await != 503 {
        assert!(tokio::time::Instant::now() < deadline, "b never reported the bus gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 61..=70 {
        let ack = alice_client.send_text(Target::User(bob_on_a.id), format!("a{i}")).await.expect("send, bus down");
        assert_eq!(ack.seq, i);
    }
    // Back: both nodes reconnect and register again; the next push reaches
    // b, whose client sees the gap and pulls what it missed — in order, once.
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while readyz(&a).await != 200 || readyz(&b).await != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the nodes never became ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_online(&alice, bob_on_a.id).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut i = 71;
    let mut got: Vec<(u64, String)> = Vec::new();
    // Sends until b's client has everything up to the last one: the first
    // sends after the restart may still precede a's news of bob's session on b.
    while got.last().is_none_or(|(seq, _)| *seq < i - 1) {
        assert!(tokio::time::Instant::now() < deadline, "bob on b never caught up: {got:?}");
        let ack = alice_client.send_text(Target::User(bob_on_a.id), format!("a{i}")).await.expect("send");
        assert_eq!(ack.seq, i);
        i += 1;
        while let Ok(m) = tokio::time::timeout(Duration::from_millis(300), next_message(&mut bob_b_events, WAIT)).await
        {
            if m.conversation_id == dm {
                got.push((m.seq, text_of(&m).into_owned()));
            }
        }
    }
    assert_eq!(got, expected(61..=i - 1, "a"), "caught up in order, nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_reaching_another_node_is_refused_there_and_finishes_where_it_started() {
    use ferry_testkit::files::{FileApi, sha256_hex, tus_checksum, upload_offset};
    let db = postgres::database().await;
    let redis = RedisServer::start().await;
    let a = TestServer::start_with(postgres::cluster_node(&db, &redis, 0)).await;
    let b = TestServer::start_with(postgres::cluster_node(&db, &redis, 1)).await;
    let alice = a.user("alice").await;
    let (on_a, on_b) = (FileApi::new(&a), FileApi::new(&b));
    let bytes = ferry_testkit::files::content(300_000, 7);
    let sha = sha256_hex(&bytes);
    let location = on_a.tus_create_ok(&alice, bytes.len() as u64, &[("filename", "x.bin"), ("sha256", &sha)]).await;
    let (first, rest) = bytes.split_at(100_000);
    let resp = on_a.tus_patch(&alice, &location, 0, first.to_vec(), Some(tus_checksum(first))).await;
    assert_eq!((resp.status().as_u16(), upload_offset(&resp)), (204, 100_000));

    // Node b has the record (same database) but not the staged bytes: a
    // clear 404, and the upload is left alone for node a.
    let resp = on_b.tus_patch(&alice, &location, 100_000, rest.to_vec(), Some(tus_checksum(rest))).await;
    assert_eq!(resp.status(), 404);
    let body = resp.text().await.expect("body");
    assert!(body.contains("not_found") && body.contains("this server node"), "{body}");
    let resp = on_a.tus_head(&alice, &location).await;
    assert_eq!((resp.status().as_u16(), upload_offset(&resp)), (200, 100_000));
    let resp = on_a.tus_patch(&alice, &location, 100_000, rest.to_vec(), Some(tus_checksum(rest))).await;
    assert_eq!((resp.status().as_u16(), upload_offset(&resp)), (204, 300_000));
    let id = ferry_testkit::files::header(&resp, "ferry-file-id").expect("the last PATCH names the file");
    assert_eq!(on_a.download(&alice, &id).await, bytes);
}
