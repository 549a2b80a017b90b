//! Races between a connection's handshake and the traffic around it: no
//! message may fall between "registered for pushes" and "listed and pulled",
//! and a logout must win against requests that read the session at the same
//! moment.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use ferry_client::{RawConnection, Target, v1};
use ferry_proto::Body;
use ferry_testkit::{TestServer, TestUser, WAIT, http::Api};
use tokio::sync::watch;

/// How a device that was away catches up, as docs/PROTOCOL.md describes it:
/// authenticate, list conversations, pull everything after the seq it holds
/// (0 here: a new device), and keep every pushed message; duplicates between
/// pulls and pushes are dropped by seq. Returns once the device holds every
/// seq up to the final one the sender announces.
async fn catch_up_device(user: TestUser, conversation: String, last: watch::Receiver<u64>) -> BTreeSet<u64> {
    let (mut conn, _) = RawConnection::connect(user.tcp_url(), false, &user.token).await.expect("connect");
    let mut held = BTreeSet::new();
    let listed = request(&mut conn, Body::ListConversations(v1::ListConversations::default()), &mut held).await;
    let Body::Conversations(list) = listed else { panic!("expected conversations, got {listed:?}") };
    let known = list.conversations.iter().find(|c| c.conversation_id == conversation).map_or(0, |c| c.max_seq);
    let mut after = 0;
    while after < known {
        let pull = v1::PullMessages { conversation_id: conversation.clone(), after_seq: after, limit: 50 };
        let Body::Messages(batch) = request(&mut conn, Body::Pull(pull), &mut held).await else {
            panic!("expected messages")
        };
        for m in &batch.messages {
            held.insert(m.seq);
        }
        after = batch.messages.last().map_or(known, |m| m.seq);
        if !batch.has_more {
            break;
        }
    }
    // Everything after the listing must come as pushes.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let final_seq = *last.borrow();
        if final_seq > 0 && (1..=final_seq).all(|s| held.contains(&s)) {
            return held;
        }
        match tokio::time::timeout_at(deadline, conn.recv()).await {
            Ok(Ok(Some(frame))) => keep_push(&frame, &mut held),
            Ok(other) => panic!("connection ended: {other:?}"),
            Err(_) => {
                let missing: Vec<u64> = (1..=final_seq).filter(|s| !held.contains(s)).collect();
                panic!("device never received seqs {missing:?} (listed max_seq {known})");
            }
        }
    }
}

/// Sends a request and returns its answer, keeping pushes that arrive first.
async fn request(conn: &mut RawConnection, body: Body, held: &mut BTreeSet<u64>) -> Body {
    let id = conn.send_body(body).await.expect("send");
    loop {
        let frame = tokio::time::timeout(WAIT, conn.recv()).await.expect("answer in time").expect("recv");
        let frame = frame.expect("connection open");
        if frame.id == id {
            return frame.body.expect("answer body");
        }
        keep_push(&frame, held);
    }
}

fn keep_push(frame: &v1::Frame, held: &mut BTreeSet<u64>) {
    if let Some(Body::Message(m)) = &frame.body {
        held.insert(m.seq);
    }
}

#[tokio::test]
async fn devices_connecting_while_messages_flow_miss_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (sender, _events) = alice.connect_tcp().await;
    let first = sender.send_text(Target::User(bob.id), "hello").await.expect("first send");
    let conversation = first.conversation_id.clone();
    let (announce, last) = watch::channel(0u64);

    // Bob's devices log in and connect one after another while alice sends.
    const DEVICES: usize = 24;
    let mut devices = Vec::new();
    for _ in 0..DEVICES {
        devices.push(server.login("bob").await);
    }
    let sending = tokio::spawn(async move {
        let mut seq = first.seq;
        for i in 0..400 {
            seq = sender.send_text(Target::User(bob.id), format!("m{i}")).await.expect("send").seq;
            if i % 8 == 0 {
                tokio::task::yield_now().await;
            }
        }
        seq
    });
    let mut catching_up = Vec::new();
    for device in devices {
        catching_up.push(tokio::spawn(catch_up_device(device, conversation.clone(), last.clone())));
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let final_seq = sending.await.expect("sender");
    announce.send(final_seq).expect("devices listen");
    for (i, device) in catching_up.into_iter().enumerate() {
        let held = device.await.unwrap_or_else(|e| panic!("device {i}: {e}"));
        assert_eq!(held.len() as u64, final_seq, "device {i} holds exactly the conversation");
    }
}

#[tokio::test]
async fn a_logout_wins_against_requests_reading_the_session_at_the_same_time() {
    // A session cache far smaller than the tokens in use: most requests miss
    // and load the session from the store, so loads are in flight while the
    // logout commits.
    let server = TestServer::start_with(|c| c.caches.sessions = 2).await;
    server.user("alice").await;
    let api = Arc::new(Api::new(&server));
    let others: Vec<TestUser> = futures_util::future::join_all((0..4).map(|_| server.login("alice"))).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut churn = Vec::new();
    for other in others {
        let (api, stop) = (Arc::clone(&api), Arc::clone(&stop));
        churn.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert_eq!(api.me(&other.token).await.status, 200);
            }
        }));
    }
    for round in 0..30 {
        let device = server.login("alice").await;
        let token: Arc<str> = device.token.clone().into();
        // A handful of authenticated requests in flight around the logout.
        let mut readers = Vec::new();
        for _ in 0..8 {
            let (api, token) = (Arc::clone(&api), Arc::clone(&token));
            readers.push(tokio::spawn(async move {
                for _ in 0..10 {
                    let status = api.me(&token).await.status;
                    assert!(status == 200 || status == 401, "unexpected status {status}");
                }
            }));
        }
        tokio::task::yield_now().await;
        device.http.logout().await.expect("logout");
        for r in readers {
            r.await.expect("reader");
        }
        // Once the logout has answered and the racing reads are done, the
        // token is dead everywhere: HTTP, and the long connection.
        let after = api.me(&token).await;
        assert_eq!((after.status, after.code()), (401, "unauthenticated"), "round {round}");
        let refused = RawConnection::connect(device.tcp_url(), false, &token).await;
        assert!(refused.is_err(), "round {round}: a revoked token opened a connection");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in churn {
        c.await.expect("churn");
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_by_the_write_timeout() {
    let server = TestServer::start_with(|c| {
        c.gateway.write_timeout_ms = 300;
        c.gateway.outbound_queue = 100_000;
        c.limits.frames_per_second = 100_000;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (sender, _events) = alice.connect_tcp().await;
    sender.send_text(Target::User(bob.id), "hi").await.expect("first message makes them peers");
    // Bob authenticates and then never reads again.
    let (stuck, _) = RawConnection::connect(bob.tcp_url(), false, &bob.token).await.expect("bob connects");
    let online = |list: Vec<v1::PresenceEvent>| list.iter().any(|p| p.user_id == bob.id && p.online);
    assert!(online(sender.get_presence(&[bob.id]).await.expect("presence")));

    // Far more than the socket buffers hold.
    let big = "x".repeat(15 * 1024);
    for _ in 0..600 {
        sender.send_text(Target::User(bob.id), big.clone()).await.expect("send");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while online(sender.get_presence(&[bob.id]).await.expect("presence")) {
        assert!(tokio::time::Instant::now() < deadline, "a session writing to a client that does not read never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stuck);
}
