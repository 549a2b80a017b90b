//! Calls across the nodes of a cluster (PostgreSQL store, Redis bus, real
//! sockets). A call lives on the node that placed it; here the other party
//! answers, trickles candidates and hangs up from another node, is busy for
//! calls placed on any node, rings when a device comes online on another
//! node, is seen leaving and coming back there, and a stopping node ends its
//! calls everywhere and frees their users.

use std::time::Duration;

use ferry_client::{CallMedia, CallPlaced, CallSignal, Client, EventReceiver, v1, v1::message_content::Kind};
use ferry_core::{ErrorCode, call::CallError};
use ferry_testkit::{
    TestServer, TestUser, WAIT,
    http::Api,
    postgres,
    redis::RedisServer,
    sdk::{api_code, first_event, next_call_event},
};

/// Waits until `asker` (on some node) sees `user` with `devices` sessions.
async fn wait_devices(asker: &TestUser, user: i64, devices: u32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !asker.http.presence(&[user]).await.expect("presence").iter().any(|p| p.devices == devices) {
        assert!(tokio::time::Instant::now() < deadline, "user {user} never showed {devices} devices");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next call event, which must be of `call`.
async fn signal(events: &mut EventReceiver, call: &str) -> CallSignal {
    let e = next_call_event(events).await;
    assert_eq!(e.call_id, call, "{:?}", e.signal);
    e.signal
}

fn ringing(placed: CallPlaced) -> String {
    match placed {
        CallPlaced::Ringing { call_id } => call_id,
        other => panic!("expected the call to ring, got {other:?}"),
    }
}

fn ended_busy(placed: CallPlaced) {
    match placed {
        CallPlaced::Ended { ended, .. } => assert_eq!(ended.outcome, "busy", "{ended:?}"),
        other => panic!("expected busy, got {other:?}"),
    }
}

/// The call-log message of `call` among `events` (call events and the logs
/// of other calls passed over).
async fn call_log(events: &mut EventReceiver, call: &str) -> v1::CallLog {
    first_event(events, WAIT, "a call log", |event| match event {
        ferry_client::Event::Message(m) => match m.content.and_then(|c| c.kind) {
            Some(Kind::CallLog(log)) => (log.call_id == call).then_some(log),
            other => panic!("expected a call log, got {other:?}"),
        },
        _ => None,
    })
    .await
}

/// Two nodes, `a` (node_id 0) and `b` (node_id 1), on one database and one
/// Redis.
async fn two_nodes(db: &postgres::TestDatabase, redis: &RedisServer) -> (TestServer, TestServer) {
    (
        TestServer::start_with(postgres::cluster_node(db, redis, 0)).await,
        TestServer::start_with(postgres::cluster_node(db, redis, 1)).await,
    )
}

async fn connect(user: &TestUser) -> (Client, EventReceiver) {
    user.connect_tcp().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_placed_on_one_node_is_answered_signaled_and_ended_from_another() {
    let db = postgres::database().await;
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&db, &redis).await;
    let alice = a.user("alice").await;
    let bob_laptop = a.user("bob").await;
    let bob_phone = b.login_on("bob", "phone").await;
    let carol = b.user("carol").await;
    let api = Api::new(&a);
    api.befriend(&alice, &bob_laptop).await;
    api.befriend(&carol, &bob_laptop).await;
    api.befriend(&carol, &alice).await;

    let (alice_c, mut alice_ev) = connect(&alice).await;
    let (phone_c, mut phone_ev) = connect(&bob_phone).await;
    let (laptop_c, mut laptop_ev) = connect(&bob_laptop).await;
    let (carol_c, _carol_ev) = connect(&carol).await;
    // Node a sees bob's phone on b, node b sees alice on a.
    wait_devices(&alice, bob_laptop.id, 2).await;
    wait_devices(&carol, alice.id, 1).await;

    // Placed on a: both of bob's devices ring, the one on b too.
    let call = ringing(alice_c.invite(bob_laptop.id, CallMedia::Video, "offer").await.expect("invite"));
    assert_eq!(call[..4].to_owned(), "0000", "minted by node_id 0: {call}");
    assert!(matches!(signal(&mut phone_ev, &call).await, CallSignal::Incoming(_)));
    assert!(matches!(signal(&mut laptop_ev, &call).await, CallSignal::Incoming(_)));
    // Steps from b are forwarded to a, and answered.
    phone_c.ringing(&call).await.expect("ringing from b");
    assert_eq!(signal(&mut alice_ev, &call).await, CallSignal::Ringing);

    // Busy across nodes: carol's call placed on b finds bob (and alice) in
    // a's call; bob cannot place a call from b meanwhile.
    ended_busy(carol_c.invite(bob_laptop.id, CallMedia::Audio, "o").await.expect("invite bob"));
    ended_busy(carol_c.invite(alice.id, CallMedia::Audio, "o").await.expect("invite alice"));
    let e = phone_c.invite(carol.id, CallMedia::Audio, "o").await.expect_err("bob is in a call");
    assert_eq!(api_code(&e), CallError::AlreadyInCall.code());

    phone_c.accept(&call, "answer").await.expect("accept from b");
    assert_eq!(signal(&mut alice_ev, &call).await, CallSignal::Accepted { sdp_answer: "answer".into() });
    assert_eq!(signal(&mut laptop_ev, &call).await, CallSignal::AnsweredElsewhere);
    // The laptop, on the owner's node, may not take over.
    let e = laptop_c.accept(&call, "late answer").await.expect_err("answered elsewhere");
    assert_eq!(api_code(&e), ErrorCode::Conflict);

    // Candidates both ways, in order.
    for i in 0..5 {
        phone_c.ice(&call, &format!("phone-{i}")).await.expect("ice from b");
        alice_c.ice(&call, &format!("alice-{i}")).await.expect("ice on a");
    }
    for i in 0..5 {
        assert_eq!(signal(&mut alice_ev, &call).await, CallSignal::Ice { candidate: format!("phone-{i}") });
        assert_eq!(signal(&mut phone_ev, &call).await, CallSignal::Ice { candidate: format!("alice-{i}") });
    }

    // Hung up from b: the answer carries the end, alice hears it, and one
    // call log reaches each of them.
    let ended = phone_c.hangup(&call).await.expect("hang up from b").expect("the ack says it ended");
    assert_eq!(ended.outcome, "completed");
    assert!(matches!(signal(&mut alice_ev, &call).await, CallSignal::Ended(e) if e.outcome == "completed"));
    for events in [&mut alice_ev, &mut phone_ev] {
        let log = call_log(events, &call).await;
        assert_eq!((log.outcome.as_str(), log.caller_id), ("completed", alice.id));
    }
    // A step for the ended call from b is told it ended, by its owner.
    let e = phone_c.ice(&call, "late").await.expect_err("ended");
    assert_eq!(api_code(&e), ErrorCode::Conflict);

    // Both free again on every node: carol's call from b rings bob.
    let again = ringing(carol_c.invite(bob_laptop.id, CallMedia::Audio, "o").await.expect("invite"));
    assert_eq!(again[..4].to_owned(), "0001", "minted by node_id 1: {again}");
    assert!(matches!(signal(&mut phone_ev, &again).await, CallSignal::Incoming(_)));
    carol_c.cancel(&again).await.expect("cancel");

    // A call id naming a node that is not in the cluster: not found.
    let stranger = format!("03ff{}", &call[4..]);
    let e = phone_c.ice(&stranger, "c").await.expect_err("no such node");
    assert_eq!(api_code(&e), ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_owner_follows_devices_coming_and_going_on_other_nodes() {
    let db = postgres::database().await;
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&db, &redis).await;
    let alice = a.user("alice").await;
    let bob_laptop = a.user("bob").await;
    let bob_phone = b.login_on("bob", "phone").await;
    Api::new(&a).befriend(&alice, &bob_laptop).await;
    let (alice_c, mut alice_ev) = connect(&alice).await;
    let (_laptop_c, mut laptop_ev) = connect(&bob_laptop).await;

    // Only the laptop is online when the call is placed on a.
    let call = ringing(alice_c.invite(bob_laptop.id, CallMedia::Audio, "offer").await.expect("invite"));
    alice_c.ice(&call, "early-candidate").await.expect("ice");
    assert!(matches!(signal(&mut laptop_ev, &call).await, CallSignal::Incoming(_)));
    // The phone comes online on b: it rings, with the candidates so far.
    let (phone_c, mut phone_ev) = connect(&bob_phone).await;
    assert!(matches!(signal(&mut phone_ev, &call).await, CallSignal::Incoming(_)));
    assert_eq!(signal(&mut phone_ev, &call).await, CallSignal::Ice { candidate: "early-candidate".into() });
    phone_c.accept(&call, "answer").await.expect("accept from b");
    assert_eq!(signal(&mut alice_ev, &call).await, CallSignal::Accepted { sdp_answer: "answer".into() });

    // The phone's connection drops: the owner sees it go, alice is told.
    phone_c.close().await;
    drop(phone_ev);
    assert_eq!(signal(&mut alice_ev, &call).await, CallSignal::PeerDisconnected);
    // Back on b: resumed, alice told.
    let (_phone_c, mut phone_ev) = connect(&bob_phone).await;
    assert!(matches!(signal(&mut phone_ev, &call).await, CallSignal::Resumed { .. }));
    assert_eq!(signal(&mut alice_ev, &call).await, CallSignal::PeerReconnected);
    alice_c.hangup(&call).await.expect("hang up");
    assert!(matches!(signal(&mut phone_ev, &call).await, CallSignal::Ended(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_node_ends_its_calls_everywhere_and_frees_their_users() {
    let db = postgres::database().await;
    let redis = RedisServer::start().await;
    let (a, b) = two_nodes(&db, &redis).await;
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let carol = b.user("carol").await;
    let api = Api::new(&a);
    api.befriend(&alice, &bob).await;
    api.befriend(&carol, &bob).await;
    let (alice_c, _alice_ev) = connect(&alice).await;
    let (bob_c, mut bob_ev) = connect(&bob).await;
    let (carol_c, _carol_ev) = connect(&carol).await;
    wait_devices(&alice, bob.id, 1).await;

    let call = ringing(alice_c.invite(bob.id, CallMedia::Audio, "offer").await.expect("invite"));
    assert!(matches!(signal(&mut bob_ev, &call).await, CallSignal::Incoming(_)));
    bob_c.accept(&call, "answer").await.expect("accept from b");
    ended_busy(carol_c.invite(bob.id, CallMedia::Audio, "o").await.expect("invite while busy"));

    // Node a stops: its call ends for bob on b, and bob is free at once
    // (not after the claim's TTL of 30 s).
    a.stop().await;
    // (Alice's connection closes first: bob may hear she dropped.)
    let mut next = signal(&mut bob_ev, &call).await;
    if next == CallSignal::PeerDisconnected {
        next = signal(&mut bob_ev, &call).await;
    }
    assert!(matches!(next, CallSignal::Ended(_)), "{next:?}");
    let again = ringing(carol_c.invite(bob.id, CallMedia::Audio, "o").await.expect("invite after"));
    assert!(matches!(signal(&mut bob_ev, &again).await, CallSignal::Incoming(_)));
    // Steps for the stopped node's call: it is gone.
    let e = bob_c.hangup(&call).await.expect_err("its node is gone");
    assert_eq!(api_code(&e), ErrorCode::NotFound);
}
