//! Real nodes on the Redis bus (`cluster.bus = "redis"`, a real
//! `redis-server`), over real sockets. One node serves messaging, presence
//! and calls end to end through the cluster bus's wiring. Two nodes share
//! one SQLite database the way cluster nodes share a store — enough for
//! accounts, sessions, profiles and contacts, not for messaging (each node
//! indexes the message log in memory): cross-node messaging waits for the
//! PostgreSQL store. What two nodes can show here: a logout on one node
//! kicks the session on the other, presence and call signaling cross
//! nodes, and a cache invalidation lost with the engine heals by the
//! cluster cache TTL.

use std::time::Duration;

use ferry_client::{CallMedia, CallPlaced, CallSignal, ProfileUpdate, Target, v1};
use ferry_testkit::{
    TestServer, WAIT, next_message,
    redis::RedisServer,
    sdk::{next_call_event, next_kicked, next_presence},
};

/// The metrics text of `server`.
async fn metrics(server: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", server.http_url())).await.expect("GET /metrics").text().await.expect("body")
}

/// The value of a metric without labels.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn a_node_on_the_redis_bus_serves_messaging_presence_and_calls() {
    let redis = RedisServer::start().await;
    let server = TestServer::start_with(|c| redis.configure(c)).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_ws_json().await;

    a.send_text(Target::User(bob.id), "over the bus").await.expect("send");
    let m = next_message(&mut b_events, WAIT).await;
    assert_eq!(ferry_testkit::text_of(&m), "over the bus");
    let own = next_message(&mut a_events, WAIT).await;
    assert_eq!(own.seq, m.seq);

    // Peers now: bob leaving and coming back is pushed to alice.
    b.close().await;
    assert_eq!(next_presence(&mut a_events).await, v1::PresenceEvent { user_id: bob.id, online: false, devices: 0 });
    let (b, mut b_events) = bob.connect_tcp().await;
    assert_eq!(next_presence(&mut a_events).await, v1::PresenceEvent { user_id: bob.id, online: true, devices: 1 });
    assert_eq!(
        a.get_presence(&[bob.id]).await.expect("presence"),
        [v1::PresenceEvent { user_id: bob.id, online: true, devices: 1 }]
    );

    // A call rings bob's device and is answered.
    let CallPlaced::Ringing { call_id } = a.invite(bob.id, CallMedia::Audio, "offer").await.expect("invite") else {
        panic!("the call did not ring")
    };
    let incoming = next_call_event(&mut b_events).await;
    assert!(matches!(incoming.signal, CallSignal::Incoming(_)), "{incoming:?}");
    b.accept(&call_id, "answer").await.expect("accept");
    let accepted = next_call_event(&mut a_events).await;
    assert_eq!(accepted.signal, CallSignal::Accepted { sdp_answer: "answer".into() });

    let text = metrics(&server).await;
    assert_eq!(metric(&text, "ferry_bus_connected"), 1.0);
    assert!(metric(&text, "ferry_bus_broadcast_total") >= 1.0, "presence was registered");
    assert_eq!(metric(&text, "ferry_bus_dropped_total"), 0.0);
}

#[tokio::test]
async fn across_two_nodes_logout_kicks_presence_and_calls_cross_and_a_lost_invalidation_heals() {
    let mut redis = RedisServer::start().await;
    let a = TestServer::start_with(|c| {
        redis.configure(c);
        c.cluster.cache_ttl_ms = 1000;
    })
    .await;
    let b = a.start_sharing(|_| {}).await;
    let alice = a.user("alice").await;
    b.http().register("bob", ferry_testkit::PASSWORD, None).await.expect("register on b");
    let bob = b.login("bob").await;
    ferry_testkit::http::Api::new(&a).befriend(&alice, &bob).await;

    // Alice on node a, bob on node b: presence crosses. (Node b must have
    // heard of alice's session before bob's comes, or its push to her has
    // nowhere to go: the bus's propagation window, see ARCHITECTURE.md.)
    let (alice_client, mut alice_events) = alice.connect_tcp().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !bob.http.presence(&[alice.id]).await.expect("presence on b").iter().any(|p| p.online) {
        assert!(tokio::time::Instant::now() < deadline, "b never counted alice's session on a");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (bob_client, mut bob_events) = bob.connect_tcp().await;
    assert_eq!(
        next_presence(&mut alice_events).await,
        v1::PresenceEvent { user_id: bob.id, online: true, devices: 1 },
        "b's presence push reached alice on a"
    );
    assert_eq!(
        alice_client.get_presence(&[bob.id]).await.expect("presence on a"),
        [v1::PresenceEvent { user_id: bob.id, online: true, devices: 1 }],
        "a counts bob's session on b"
    );

    // A call placed on node a rings bob's device on node b, and its end
    // reaches it too.
    let CallPlaced::Ringing { call_id } = alice_client.invite(bob.id, CallMedia::Audio, "offer").await.expect("invite")
    else {
        panic!("the call did not ring: a does not see bob's device on b")
    };
    let incoming = next_call_event(&mut bob_events).await;
    assert!(matches!(incoming.signal, CallSignal::Incoming(_)), "{incoming:?}");
    alice_client.hangup(&call_id).await.expect("hang up");
    let ended = next_call_event(&mut bob_events).await;
    assert!(matches!(ended.signal, CallSignal::Ended(_)), "{ended:?}");

    // Bob's token logged out through node a: his session on b is kicked.
    a.http().with_token(bob.token.clone()).logout().await.expect("logout on a");
    assert_eq!(next_kicked(&mut bob_events).await, "logout");
    drop(bob_client);

    // Node b caches alice's profile; the engine dies; alice renames herself
    // on a. The invalidation cannot reach b, whose entry expires by the
    // cluster cache TTL all the same.
    let carol = b.user("carol").await;
    assert_eq!(carol.http.user(alice.id).await.expect("profile").display_name, "alice");
    redis.kill();
    let update = ProfileUpdate { display_name: Some("Alice B.".into()), ..ProfileUpdate::default() };
    alice.http.update_profile(&update).await.expect("rename on a");
    let deadline = tokio::time::Instant::now() + WAIT;
    while carol.http.user(alice.id).await.expect("profile").display_name != "Alice B." {
        assert!(tokio::time::Instant::now() < deadline, "b never reloaded alice's profile");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&metrics(&b).await, "ferry_bus_connected"), 0.0, "b heard nothing meanwhile");
}

#[tokio::test]
async fn two_nodes_with_one_node_id_are_not_ready_while_both_live() {
    let redis = RedisServer::start().await;
    let a = TestServer::start_with(|c| redis.configure(c)).await;
    let node_id = a.config.node_id;
    let b = a.start_sharing(|c| c.node_id = node_id).await;
    let readyz = |server: &TestServer| {
        let url = format!("{}/readyz", server.http_url());
        async move {
            let r = reqwest::get(url).await.expect("GET /readyz");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    for node in [&a, &b] {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // (Until its bus has connected a node is not ready for that
            // reason instead: wait for the clash to be the one.)
            let (status, body) = readyz(node).await;
            if status == 503 && body.contains("node_id") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the clash was never reported: {status} {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The other one leaves: ready again.
    b.stop().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while readyz(&a).await.0 != 200 {
        assert!(tokio::time::Instant::now() < deadline, "still not ready after the other node left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
