//! Unit tests of the session loop with paused time: the auth deadline, the
//! idle deadline and heartbeats, kicks, pipelined answers. The node behind
//! it is real (SQLite in a temporary directory); only the socket is replaced
//! by an in-memory transport, so nothing but the runtime's clock decides
//! when a deadline passes.

use std::{sync::Arc, time::Duration};

use ferry_core::UserId;
use ferry_proto::v1::{self, frame::Body};
use tokio::sync::mpsc;

use super::{Incoming, Transport, session};
use crate::{app::AppRef, bus::Sessions, hub::Outbound, testing::TestNode};

/// A transport whose peer is the test: frames in over one channel, out over
/// another.
struct Pipe {
    incoming: mpsc::Receiver<Incoming>,
    outgoing: mpsc::UnboundedSender<v1::Frame>,
}

impl Transport for Pipe {
    async fn recv(&mut self) -> Incoming {
        self.incoming.recv().await.unwrap_or(Incoming::Closed)
    }

    async fn send(&mut self, frames: &[Arc<Outbound>], _json: bool) -> std::io::Result<()> {
        for f in frames {
            self.outgoing.send(f.frame().clone()).map_err(|_| std::io::ErrorKind::BrokenPipe)?;
        }
        Ok(())
    }

    async fn close(&mut self) {}
}

/// The test's end of a session.
struct Peer {
    to_server: mpsc::Sender<Incoming>,
    from_server: mpsc::UnboundedReceiver<v1::Frame>,
    session: tokio::task::JoinHandle<()>,
}

impl Peer {
    async fn send(&self, id: u64, body: Body) {
        let bytes = ferry_proto::encode_frame(&v1::Frame { id, body: Some(body) });
        self.to_server.send(Incoming::Binary(bytes)).await.expect("session reads");
    }

    async fn recv(&mut self) -> Option<v1::Frame> {
        self.from_server.recv().await
    }

    /// Nothing has been sent to the test (yet).
    fn quiet(&mut self) -> bool {
        self.from_server.try_recv().is_err()
    }

    async fn closed(self) {
        self.session.await.expect("session task");
    }
}

const HEARTBEAT: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(45);
const AUTH: Duration = Duration::from_secs(10);

struct Node {
    node: TestNode,
    user: UserId,
    token: String,
}

/// A node with one user logged in, its caches warm (so the loop under test
/// never waits on a store read while the clock is paused).
async fn node() -> Node {
    let node = TestNode::start(|c| {
        c.gateway.heartbeat_interval_ms = HEARTBEAT.as_millis() as u64;
        c.gateway.idle_timeout_ms = IDLE.as_millis() as u64;
        c.gateway.auth_timeout_ms = AUTH.as_millis() as u64;
    })
    .await;
    let alice = node.user("alice").await;
    node.app.accounts.authenticate(&alice.token).await.expect("warm the session cache");
    node.app.caches.peers(alice.id).await.expect("warm the presence peers");
    Node { user: alice.id, token: alice.token, node }
}

fn connect(app: &AppRef) -> Peer {
    let (to_server, incoming) = mpsc::channel(16);
    let (outgoing, from_server) = mpsc::unbounded_channel();
    let session =
        tokio::spawn(session::run(Arc::clone(app), Pipe { incoming, outgoing }, ([127, 0, 0, 1], 9).into(), "test"));
    Peer { to_server, from_server, session }
}

async fn authed(node: &Node) -> Peer {
    let mut peer = connect(&node.node.app);
    peer.send(1, Body::Auth(v1::Auth { token: node.token.clone(), protocol_version: 1 })).await;
    let ok = peer.recv().await.expect("auth answer");
    assert!(matches!(ok.body, Some(Body::AuthOk(_))), "{ok:?}");
    assert_eq!(ok.id, 1);
    peer
}

fn error(frame: &v1::Frame) -> &v1::Error {
    match &frame.body {
        Some(Body::Error(e)) => e,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_connection_is_refused_at_the_auth_deadline() {
    let node = node().await;
    tokio::time::pause();
    let mut peer = connect(&node.node.app);
    tokio::time::advance(AUTH - Duration::from_millis(1)).await;
    assert!(peer.quiet(), "nothing before the deadline");
    tokio::time::advance(Duration::from_millis(2)).await;
    let frame = peer.recv().await.expect("deadline error");
    let e = error(&frame);
    assert_eq!((e.code.as_str(), e.fatal), ("unauthenticated", true));
    peer.closed().await;
}

#[tokio::test]
async fn frames_keep_a_session_alive_and_silence_ends_it() {
    let node = node().await;
    let mut peer = authed(&node).await;
    tokio::time::pause();
    // A ping just before the deadline moves it.
    tokio::time::advance(IDLE - Duration::from_millis(1)).await;
    assert!(peer.quiet());
    peer.send(2, Body::Ping(v1::Ping { client_time: 5 })).await;
    let pong = peer.recv().await.expect("pong");
    assert!(matches!(pong.body, Some(Body::Pong(v1::Pong { client_time: 5, .. }))), "{pong:?}");
    tokio::time::advance(IDLE - Duration::from_millis(1)).await;
    assert!(peer.quiet(), "still open one deadline after the ping");
    tokio::time::advance(Duration::from_millis(2)).await;
    let frame = peer.recv().await.expect("idle error");
    let e = error(&frame);
    assert_eq!((e.code.as_str(), e.fatal), ("unavailable", true));
    peer.closed().await;
    assert_eq!(node.node.app.hub.device_count(node.user), 0, "unregistered");
}

#[tokio::test]
async fn a_session_is_registered_before_auth_ok_and_a_kick_ends_it() {
    let node = node().await;
    let mut peer = authed(&node).await;
    // auth_ok arrived: the session already receives pushes.
    assert_eq!(node.node.app.hub.device_count(node.user), 1);
    let push = Outbound::new(v1::Frame { id: 0, body: Some(Body::Ping(v1::Ping { client_time: 9 })) });
    node.node.app.bus.deliver(&[node.user], &push);
    assert_eq!(peer.recv().await.expect("push").body, push.frame().body);

    node.node.app.bus.kick(node.user, Sessions::All, "banned");
    let kicked = peer.recv().await.expect("kicked");
    assert_eq!(kicked.body, Some(Body::Kicked(v1::Kicked { reason: "banned".into() })));
    peer.closed().await;
}

#[tokio::test]
async fn requests_are_answered_by_id_and_bad_ones_do_not_end_the_session() {
    let node = node().await;
    let mut peer = authed(&node).await;
    peer.send(7, Body::ListConversations(v1::ListConversations::default())).await;
    peer.send(8, Body::Ping(v1::Ping { client_time: 1 })).await;
    peer.send(9, Body::SendAck(v1::SendAck::default())).await;
    peer.send(10, Body::Auth(v1::Auth::default())).await;
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 4 {
        let f = peer.recv().await.expect("answer");
        answers.insert(f.id, f.body.expect("body"));
    }
    assert!(matches!(answers[&7], Body::Conversations(_)));
    assert!(matches!(answers[&8], Body::Pong(_)));
    assert!(matches!(&answers[&9], Body::Error(e) if e.code == "unknown_kind" && !e.fatal));
    assert!(matches!(&answers[&10], Body::Error(e) if e.code == "bad_request" && !e.fatal));
    peer.to_server.send(Incoming::Binary(vec![0xff, 0xff].into())).await.expect("send garbage");
    let e = peer.recv().await.expect("malformed");
    assert_eq!(error(&e).code, "malformed_frame");
    peer.send(11, Body::Ping(v1::Ping { client_time: 2 })).await;
    assert_eq!(peer.recv().await.expect("pong").id, 11);
}

/// Every message's send is one future (`frames::dispatch`'s box), moved at
/// each level it passes. Rare steps with large futures (a send's files,
/// contact card or quote, a refusal; other requests' handlers) are boxed
/// where they are taken, so that every message does not pay to copy them:
/// before, ~19 KB were moved per message (7 KB boxed per frame), ~3% of
/// the server's CPU in the direct-send benchmark. This keeps a new step
/// from growing the send path unnoticed.
#[tokio::test]
async fn a_send_is_a_small_future() {
    let node = node().await;
    let authed = node.node.app.accounts.authenticate(&node.token).await.expect("session");
    let ctx = super::frames::Ctx { app: &node.node.app, authed: &authed, session: 0 };
    let send = super::frames::dispatch(&ctx, 1, Body::Send(v1::SendMessage::default()));
    let size = size_of_val(&*send);
    assert!(size <= 2048, "a send's future is {size} bytes");
}
