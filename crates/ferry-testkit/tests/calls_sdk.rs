//! The SDK's call surface over real sockets: [`Client::invite`] and the other
//! steps, [`Event::Call`] pushes, the call-log message through the ordinary
//! delivery and sync, a call kept across the SDK's own reconnect, and
//! [`HttpApi::ice_servers`]. The server's state machine itself is covered
//! frame by frame in `calls.rs`; these tests check what an app sees.

use ferry_client::{
    CallEvent, CallMedia, CallPlaced, CallSignal, Client, ClientConfig, Event, EventReceiver, RejectReason, SdpKind,
    v1::{self, message_content::Kind},
};
use ferry_core::ErrorCode;
use ferry_testkit::{
    TestServer, TestUser, WAIT, next_message,
    proxy::{CutProxy, Direction},
    sdk::{api_code, next_call_event},
};

/// The next call event, which must be of `call_id`; returns what happened.
async fn signal(events: &mut EventReceiver, call_id: &str) -> CallSignal {
    let CallEvent { call_id: id, signal } = next_call_event(events).await;
    assert_eq!(id, call_id, "{signal:?}");
    signal
}

/// The next message, which must be a call log.
async fn call_log(events: &mut EventReceiver) -> (v1::Message, v1::CallLog) {
    let m = next_message(events, WAIT).await;
    match m.content.as_ref().and_then(|c| c.kind.clone()) {
        Some(Kind::CallLog(log)) => (m, log),
        other => panic!("expected a call log, got {other:?}"),
    }
}

fn ringing(placed: CallPlaced) -> String {
    match placed {
        CallPlaced::Ringing { call_id } => call_id,
        other => panic!("expected the call to ring, got {other:?}"),
    }
}

fn is_ended(outcome: &str, reason: &str) -> impl Fn(&v1::CallEnded) -> bool {
    let (outcome, reason) = (outcome.to_owned(), reason.to_owned());
    move |e| e.outcome == outcome && e.reason == reason
}

/// `caller` calls `callee`, whose client rings and accepts; returns the id.
async fn answered_call(
    (caller, caller_events): (&Client, &mut EventReceiver),
    (callee, callee_events): (&Client, &mut EventReceiver),
    callee_id: i64,
) -> String {
    let call = ringing(caller.invite(callee_id, CallMedia::Video, "offer-sdp").await.expect("invite"));
    assert!(matches!(signal(callee_events, &call).await, CallSignal::Incoming(_)));
    callee.ringing(&call).await.expect("ringing");
    assert_eq!(signal(caller_events, &call).await, CallSignal::Ringing);
    callee.accept(&call, "answer-sdp").await.expect("accept");
    assert_eq!(signal(caller_events, &call).await, CallSignal::Accepted { sdp_answer: "answer-sdp".into() });
    call
}

#[tokio::test]
async fn two_clients_place_answer_and_hang_up_a_call() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_ws_json().await;

    let call = ringing(a.invite(bob.id, CallMedia::Video, "offer-sdp").await.expect("invite"));
    assert_eq!(call.len(), 32, "{call}");
    let incoming = v1::CallIncoming {
        caller_id: alice.id,
        media: "video".into(),
        sdp_offer: "offer-sdp".into(),
        room_kind: "direct".into(),
        participants: vec![alice.id, bob.id],
    };
    assert_eq!(
        next_call_event(&mut b_events).await,
        CallEvent { call_id: call.clone(), signal: CallSignal::Incoming(incoming) }
    );
    b.ringing(&call).await.expect("ringing");
    assert_eq!(signal(&mut a_events, &call).await, CallSignal::Ringing);
    a.ice(&call, "a1").await.expect("the caller trickles while it rings");
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::Ice { candidate: "a1".into() });

    b.accept(&call, "answer-sdp").await.expect("accept");
    assert_eq!(signal(&mut a_events, &call).await, CallSignal::Accepted { sdp_answer: "answer-sdp".into() });
    b.ice(&call, "b1").await.expect("ice");
    assert_eq!(signal(&mut a_events, &call).await, CallSignal::Ice { candidate: "b1".into() });
    b.renegotiate(&call, SdpKind::Offer, "screen-offer").await.expect("renegotiate");
    let offer = v1::CallSdp { kind: "offer".into(), sdp: "screen-offer".into() };
    assert_eq!(signal(&mut a_events, &call).await, CallSignal::Sdp(offer));
    a.renegotiate(&call, SdpKind::Answer, "screen-answer").await.expect("renegotiate");
    let answer = v1::CallSdp { kind: "answer".into(), sdp: "screen-answer".into() };
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::Sdp(answer));

    // The hangup's answer carries the end; the other side is pushed it.
    let ended = a.hangup(&call).await.expect("hangup").expect("a hangup ends the call");
    assert!(is_ended("completed", "hung_up")(&ended), "{ended:?}");
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::Ended(ended.clone()));

    // Both get the call log through the ordinary message delivery.
    for events in [&mut a_events, &mut b_events] {
        let (m, log) = call_log(events).await;
        assert_eq!((m.sender_id, m.conversation_id.as_str()), (alice.id, "d_1_2"));
        let expected = v1::CallLog {
            call_id: call.clone(),
            media: "video".into(),
            outcome: "completed".into(),
            caller_id: alice.id,
            duration_ms: ended.duration_ms,
        };
        assert_eq!(log, expected);
    }

    // A step on a call that ended is refused with the server's code.
    assert_eq!(api_code(&a.hangup(&call).await.expect_err("over")), ErrorCode::Conflict);
    assert_eq!(api_code(&b.ice(&call, "late").await.expect_err("over")), ErrorCode::Conflict);
}

#[tokio::test]
async fn a_declined_call_is_logged_and_found_by_a_later_sync() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_tcp().await;

    let call = ringing(a.invite(bob.id, CallMedia::Audio, "offer-sdp").await.expect("invite"));
    assert!(matches!(signal(&mut b_events, &call).await, CallSignal::Incoming(i) if i.media == "audio"));
    let ended = b.reject(&call, RejectReason::Declined).await.expect("reject").expect("a reject ends the call");
    assert!(is_ended("declined", "declined")(&ended), "{ended:?}");
    match signal(&mut a_events, &call).await {
        CallSignal::Ended(e) => assert!(is_ended("declined", "declined")(&e), "{e:?}"),
        other => panic!("expected ended, got {other:?}"),
    }
    assert_eq!(api_code(&a.cancel(&call).await.expect_err("over")), ErrorCode::Conflict);

    // A device of bob's that was not connected gets the log by syncing, and
    // counts it unread (the caller is its sender).
    let bob_laptop = server.login("bob").await;
    let (laptop, _laptop_events) = bob_laptop.connect_ws().await;
    let synced = laptop.sync().await.expect("sync");
    let logs: Vec<v1::CallLog> = synced
        .iter()
        .filter_map(|m| match m.content.as_ref()?.kind.as_ref()? {
            Kind::CallLog(log) => Some(log.clone()),
            _ => None,
        })
        .collect();
    let expected = v1::CallLog {
        call_id: call.clone(),
        media: "audio".into(),
        outcome: "declined".into(),
        caller_id: alice.id,
        duration_ms: 0,
    };
    assert_eq!(logs, vec![expected]);
    let conversations = laptop.list_conversations().await.expect("list");
    let direct = conversations.iter().find(|c| c.conversation_id == "d_1_2").expect("listed");
    assert_eq!(direct.unread, 1, "a declined call is unread for the callee");
}

#[tokio::test]
async fn a_busy_callee_is_not_disturbed_and_the_caller_is_told_at_once() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (a, mut a_events) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_tcp().await;
    let (c, mut c_events) = carol.connect_tcp().await;

    let call = answered_call((&a, &mut a_events), (&b, &mut b_events), bob.id).await;

    let placed = c.invite(bob.id, CallMedia::Audio, "offer-sdp").await.expect("invite");
    let CallPlaced::Ended { call_id: busy_call, ended } = placed else { panic!("expected busy, got {placed:?}") };
    assert!(is_ended("busy", "busy")(&ended), "{ended:?}");
    assert_ne!(busy_call, call);
    let (m, log) = call_log(&mut c_events).await;
    assert_eq!((m.sender_id, log.call_id.as_str(), log.outcome.as_str()), (carol.id, busy_call.as_str(), "busy"));

    // Placing a call while in one is refused.
    let refused = a.invite(carol.id, CallMedia::Audio, "offer-sdp").await.expect_err("in a call");
    assert_eq!(api_code(&refused), ErrorCode::Conflict);

    // Bob heard nothing of carol's call: his next call event is alice's.
    a.ice(&call, "after-busy").await.expect("ice");
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::Ice { candidate: "after-busy".into() });
    let ended = b.hangup(&call).await.expect("hangup").expect("ends");
    assert!(is_ended("completed", "hung_up")(&ended), "{ended:?}");
}

#[tokio::test]
async fn a_cancelled_call_and_refusals_map_to_api_errors() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (a, _a_events) = alice.connect_tcp().await;
    let (b, mut b_events) = bob.connect_tcp().await;

    let self_call = a.invite(alice.id, CallMedia::Audio, "offer-sdp").await.expect_err("yourself");
    assert_eq!(api_code(&self_call), ErrorCode::InvalidArgument);
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_eq!(api_code(&b.accept(unknown, "answer").await.expect_err("no such call")), ErrorCode::NotFound);

    let call = ringing(a.invite(bob.id, CallMedia::Video, "offer-sdp").await.expect("invite"));
    assert!(matches!(signal(&mut b_events, &call).await, CallSignal::Incoming(_)));
    // The other side's step: the caller cannot accept, the callee cannot cancel.
    assert_eq!(api_code(&a.accept(&call, "answer").await.expect_err("caller")), ErrorCode::Forbidden);
    assert_eq!(api_code(&b.cancel(&call).await.expect_err("callee")), ErrorCode::Forbidden);

    let ended = a.cancel(&call).await.expect("cancel").expect("a cancel ends the call");
    assert!(is_ended("cancelled", "cancelled")(&ended), "{ended:?}");
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::Ended(ended));
}

#[tokio::test]
async fn a_call_survives_the_clients_own_reconnect() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    // Alice's client goes through a proxy that can cut its connection.
    let proxy = CutProxy::start(server.tcp_addr).await;
    let url = proxy.http_url().replace("http://", "tcp://");
    let mut config: ClientConfig = alice.client_config(&url);
    config.request_timeout = WAIT;
    let (a, mut a_events) = Client::connect(config).await.expect("connect through the proxy");
    let (b, mut b_events) = bob.connect_tcp().await;
    let call = answered_call((&a, &mut a_events), (&b, &mut b_events), bob.id).await;

    proxy.cut_after(Direction::ToServer, 1);
    let _ = a.ping().await; // carries the byte that cuts the connection
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::PeerDisconnected);

    // Back on the same device: resumed, with the answer the caller may have
    // missed; the events come around the reconnect in either order.
    let (mut resumed, mut reconnected) = (None, false);
    while resumed.is_none() || !reconnected {
        let event = tokio::time::timeout(WAIT, a_events.recv()).await.expect("an event").expect("open");
        match event {
            Event::Call(CallEvent { call_id, signal }) => {
                assert_eq!(call_id, call);
                resumed = Some(signal);
            }
            Event::Reconnected => reconnected = true,
            Event::Disconnected | Event::Presence(_) | Event::Message(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(resumed, Some(CallSignal::Resumed { sdp_answer: "answer-sdp".into() }));
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::PeerReconnected);
    assert_eq!(proxy.cuts(), 1);

    // The call goes on: an ICE restart offer reaches bob.
    a.renegotiate(&call, SdpKind::Offer, "ice-restart").await.expect("renegotiate");
    let offer = v1::CallSdp { kind: "offer".into(), sdp: "ice-restart".into() };
    assert_eq!(signal(&mut b_events, &call).await, CallSignal::Sdp(offer));
    let ended = b.hangup(&call).await.expect("hangup").expect("ends");
    assert!(is_ended("completed", "hung_up")(&ended), "{ended:?}");
}

#[tokio::test]
async fn ice_servers_come_typed_over_http() {
    let server = TestServer::start_with(|c| {
        c.calls.stun_urls = vec!["stun:stun.example.com:3478".into()];
        c.calls.turn_urls = vec!["turn:turn.example.com:3478?transport=udp".into()];
        c.calls.turn_secret = "north-sea-ferry".into();
    })
    .await;
    let alice: TestUser = server.user("alice").await;

    let servers = alice.http.ice_servers().await.expect("ice servers");
    assert!(servers.ttl > 0);
    assert_eq!(servers.ice_servers.len(), 2, "{servers:?}");
    let (stun, turn) = (&servers.ice_servers[0], &servers.ice_servers[1]);
    assert_eq!(
        (stun.urls.as_slice(), &stun.username, &stun.credential),
        (&["stun:stun.example.com:3478".to_owned()][..], &None, &None)
    );
    assert_eq!(turn.urls, vec!["turn:turn.example.com:3478?transport=udp".to_owned()]);
    let username = turn.username.as_deref().expect("TURN has a username");
    assert!(username.ends_with(&format!(":{}", alice.id)), "{username}");
    assert!(turn.credential.as_deref().is_some_and(|c| !c.is_empty()));

    let anonymous = server.http().ice_servers().await.expect_err("needs a token");
    assert_eq!(api_code(&anonymous), ErrorCode::Unauthenticated);
}
