//! Call signaling over real sockets (docs/PROTOCOL.md, "Calls"): invite,
//! ringing on every device of the callee, the first accept winning, ICE and
//! renegotiation relayed between the two devices in the call, every way a
//! call ends and the call-log message it leaves, the refusals, the
//! reconnect grace period and a restart mid-call; and peer-to-peer file
//! sessions (media "file"), signaled the same way but busying nobody,
//! capped per user and leaving no call log.
//!
//! The long connection is driven with [`RawConnection`] (one callee device
//! speaks proto3 JSON over WebSocket), so these tests depend only on the
//! documented wire format.

use std::{collections::VecDeque, time::Duration};

use ferry_client::{RawConnection, v1};
use ferry_proto::{
    Body, Frame,
    v1::{call_event::Event, call_request::Op, message_content::Kind},
};
use ferry_server::config::DirectMessages;
use ferry_testkit::{TestServer, TestUser, WAIT, http::Api, ids::direct_conversation};
use reqwest::Method;

/// One device's connection: answers are matched by id, while the pushes
/// that arrive meanwhile are kept for the test to read in order.
struct Dev {
    conn: RawConnection,
    events: VecDeque<(String, Event)>,
    messages: VecDeque<v1::Message>,
}

impl Dev {
    async fn tcp(user: &TestUser) -> Self {
        Self::from(user.raw_tcp().await.0)
    }

    /// A WebSocket connection speaking proto3 JSON (text frames).
    async fn ws_json(user: &TestUser) -> Self {
        Self::from(RawConnection::connect(user.ws_url(), true, &user.token).await.expect("ws json").0)
    }

    fn from(conn: RawConnection) -> Self {
        Self { conn, events: VecDeque::new(), messages: VecDeque::new() }
    }

    /// Reads one frame: keeps a call event or message aside, skips other
    /// pushes (`None` for all three), returns anything else.
    async fn pump(&mut self) -> Option<Frame> {
        let frame = self.conn.recv_timeout(WAIT).await.expect("no frame within the wait").expect("server closed");
        match frame {
            Frame { id: 0, body: Some(Body::CallEvent(e)) } => {
                self.events.push_back((e.call_id, e.event.expect("call_event without an event")))
            }
            Frame { id: 0, body: Some(Body::Message(m)) } => self.messages.push_back(m),
            // Presence, `changed` and the like are not what these tests read.
            Frame { id: 0, body: Some(ref b) } if !matches!(b, Body::Error(_)) => {}
            other => return Some(other),
        }
        None
    }

    /// The next frame that is not a push.
    async fn read(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.pump().await {
                return frame;
            }
        }
    }

    /// Sends `body` and returns its answer (an error answer as `Err`).
    async fn request(&mut self, body: Body) -> Result<Body, v1::Error> {
        let id = self.conn.send_body(body).await.expect("send");
        let frame = self.read().await;
        assert_eq!(frame.id, id, "{frame:?}");
        match frame.body.expect("answer without a body") {
            Body::Error(e) => {
                assert!(!e.fatal, "{e:?}");
                Err(e)
            }
            body => Ok(body),
        }
    }

    async fn call(&mut self, call_id: &str, op: Op) -> Result<v1::CallAck, v1::Error> {
        let request = v1::CallRequest { call_id: call_id.into(), op: Some(op) };
        match self.request(Body::Call(request)).await? {
            Body::CallAck(ack) => Ok(ack),
            other => panic!("expected call_ack, got {other:?}"),
        }
    }

    /// Places a video call to `callee`; returns the call id.
    async fn invite(&mut self, callee: &TestUser) -> Result<v1::CallAck, v1::Error> {
        self.call("", invite(callee.id)).await
    }

    /// The call's code when refused.
    async fn refused(&mut self, call_id: &str, op: Op) -> String {
        match self.call(call_id, op).await {
            Err(e) => e.code,
            Ok(ack) => panic!("expected a refusal, got {ack:?}"),
        }
    }

    /// The next call event (of `call_id`).
    async fn event(&mut self, call_id: &str) -> Event {
        loop {
            if let Some((id, event)) = self.events.pop_front() {
                assert_eq!(id, call_id, "{event:?}");
                return event;
            }
            if let Some(frame) = self.pump().await {
                panic!("expected a call event, got {frame:?}");
            }
        }
    }

    async fn ended(&mut self, call_id: &str) -> v1::CallEnded {
        match self.event(call_id).await {
            Event::Ended(e) => e,
            other => panic!("expected ended, got {other:?}"),
        }
    }

    /// The next message push: a call log.
    async fn call_log(&mut self) -> (v1::Message, v1::CallLog) {
        while self.messages.is_empty() {
            if let Some(frame) = self.pump().await {
                panic!("expected a message push, got {frame:?}");
            }
        }
        let m = self.messages.pop_front().expect("checked");
        match m.content.as_ref().and_then(|c| c.kind.clone()) {
            Some(Kind::CallLog(log)) => (m, log),
            other => panic!("expected a call log, got {other:?}"),
        }
    }

    /// Nothing more was pushed for calls: a ping is answered with nothing
    /// but messages or presence before it.
    async fn quiet(&mut self) {
        let pong = self.request(Body::Ping(v1::Ping { client_time: 1 })).await.expect("ping");
        assert!(matches!(pong, Body::Pong(_)), "{pong:?}");
        assert!(self.events.is_empty(), "unexpected call events: {:?}", self.events);
    }

    async fn pull(&mut self, conversation_id: &str) -> Vec<v1::Message> {
        let pull = v1::PullMessages { conversation_id: conversation_id.into(), after_seq: 0, limit: 100 };
        match self.request(Body::Pull(pull)).await.expect("pull") {
            Body::Messages(batch) => batch.messages,
            other => panic!("expected messages, got {other:?}"),
        }
    }

    async fn unread(&mut self, conversation_id: &str) -> u64 {
        match self.request(Body::ListConversations(v1::ListConversations::default())).await.expect("list") {
            Body::Conversations(list) => list
                .conversations
                .iter()
                .find(|c| c.conversation_id == conversation_id)
                .map(|c| c.unread)
                .expect("the conversation is listed"),
            other => panic!("expected conversations, got {other:?}"),
        }
    }
}

fn invite(callee: i64) -> Op {
    Op::Invite(v1::CallInvite {
        callee_id: callee,
        media: "video".into(),
        sdp_offer: "offer-sdp".into(),
        ..Default::default()
    })
}

fn file_invite(callee: i64) -> Op {
    Op::Invite(v1::CallInvite {
        callee_id: callee,
        media: "file".into(),
        sdp_offer: "data-offer".into(),
        ..Default::default()
    })
}

/// The `incoming` a callee device gets for a direct call.
fn incoming(caller: &TestUser, callee: &TestUser, media: &str, offer: &str) -> Event {
    Event::Incoming(v1::CallIncoming {
        caller_id: caller.id,
        media: media.into(),
        sdp_offer: offer.into(),
        room_kind: "direct".into(),
        participants: vec![caller.id, callee.id],
    })
}

fn ice(candidate: &str) -> Op {
    Op::Ice(v1::CallIce { candidate: candidate.into() })
}

fn accept(answer: &str) -> Op {
    Op::Accept(v1::CallAccept { sdp_answer: answer.into() })
}

fn empty() -> v1::Empty {
    v1::Empty {}
}

fn ended(outcome: &str, reason: &str) -> impl Fn(&v1::CallEnded) -> bool {
    let (outcome, reason) = (outcome.to_owned(), reason.to_owned());
    move |e| e.outcome == outcome && e.reason == reason
}

/// Places a call from `caller` to `callee`'s device, which accepts; returns
/// the call id.
async fn active_call(caller: &mut Dev, callee: &mut Dev, callee_user: &TestUser) -> String {
    let call = caller.invite(callee_user).await.expect("invite").call_id;
    assert!(matches!(callee.event(&call).await, Event::Incoming(_)));
    callee.call(&call, accept("answer-sdp")).await.expect("accept");
    assert_eq!(caller.event(&call).await, Event::Accepted(v1::CallAccept { sdp_answer: "answer-sdp".into() }));
    call
}

async fn quick_server(ring_secs: u32, grace_secs: u32) -> TestServer {
    TestServer::start_with(|c| {
        c.calls.ring_timeout_secs = ring_secs;
        c.calls.reconnect_grace_secs = grace_secs;
    })
    .await
}

#[tokio::test]
async fn the_first_device_to_accept_wins_and_a_hangup_leaves_a_call_log() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let bob_laptop = server.login("bob").await;
    let mut a = Dev::tcp(&alice).await;
    let mut phone = Dev::tcp(&bob).await;
    let mut laptop = Dev::ws_json(&bob_laptop).await;

    let ack = a.invite(&bob).await.expect("invite");
    let call = ack.call_id;
    assert_eq!(call.len(), 32, "{call}");
    assert_eq!(ack.ended, None);
    for dev in [&mut phone, &mut laptop] {
        assert_eq!(dev.event(&call).await, incoming(&alice, &bob, "video", "offer-sdp"));
        dev.call(&call, Op::Ringing(empty())).await.expect("ringing");
    }
    assert_eq!(a.event(&call).await, Event::Ringing(empty()), "the caller hears ringing once");
    a.call(&call, ice("a1")).await.expect("ice while ringing");
    for dev in [&mut phone, &mut laptop] {
        assert_eq!(dev.event(&call).await, Event::Ice(v1::CallIce { candidate: "a1".into() }));
    }

    // The laptop answers first; the phone stops ringing and is out of the call.
    laptop.call(&call, accept("answer-sdp")).await.expect("accept");
    assert_eq!(a.event(&call).await, Event::Accepted(v1::CallAccept { sdp_answer: "answer-sdp".into() }));
    assert_eq!(phone.event(&call).await, Event::AnsweredElsewhere(empty()));
    assert_eq!(phone.refused(&call, accept("late")).await, "conflict");
    assert_eq!(phone.refused(&call, ice("p1")).await, "conflict");
    laptop.quiet().await;

    // ICE and renegotiation flow between the two devices in the call only.
    laptop.call(&call, ice("b1")).await.expect("ice");
    assert_eq!(a.event(&call).await, Event::Ice(v1::CallIce { candidate: "b1".into() }));
    a.call(&call, ice("a2")).await.expect("ice");
    assert_eq!(laptop.event(&call).await, Event::Ice(v1::CallIce { candidate: "a2".into() }));
    let offer = v1::CallSdp { kind: "offer".into(), sdp: "video-offer".into() };
    a.call(&call, Op::Renegotiate(offer.clone())).await.expect("renegotiate");
    assert_eq!(laptop.event(&call).await, Event::Sdp(offer));
    phone.quiet().await;

    tokio::time::sleep(Duration::from_millis(50)).await;
    let news = a.call(&call, Op::Hangup(empty())).await.expect("hangup").ended.expect("the ack tells the end");
    assert!(ended("completed", "hung_up")(&news), "{news:?}");
    assert!(news.duration_ms >= 50, "{news:?}");
    assert_eq!(laptop.ended(&call).await, news);
    phone.quiet().await;

    // One call log, pushed to every device of both users.
    let conversation = direct_conversation(alice.id, bob.id);
    let expected = v1::CallLog {
        call_id: call.clone(),
        media: "video".into(),
        outcome: "completed".into(),
        caller_id: alice.id,
        duration_ms: news.duration_ms,
    };
    for dev in [&mut a, &mut phone, &mut laptop] {
        let (m, log) = dev.call_log().await;
        assert_eq!((m.conversation_id.as_str(), m.sender_id), (conversation.as_str(), alice.id));
        assert_eq!(log, expected);
    }
    assert_eq!(a.refused(&call, Op::Hangup(empty())).await, "conflict", "the call has ended");

    // A device that was offline finds it by the ordinary pull.
    let tablet = server.login("bob").await;
    let mut tablet = Dev::tcp(&tablet).await;
    let history = tablet.pull(&conversation).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(matches!(&history[0].content.as_ref().unwrap().kind, Some(Kind::CallLog(l)) if *l == expected));
    tablet.quiet().await;
}

#[tokio::test]
async fn declined_and_cancelled_calls_end_for_both_and_are_logged() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::ws_json(&bob).await;

    // Declined.
    let call = a.invite(&bob).await.expect("invite").call_id;
    assert!(matches!(b.event(&call).await, Event::Incoming(_)));
    let reject = Op::Reject(v1::CallReject { reason: "declined".into() });
    let news = b.call(&call, reject).await.expect("reject").ended.expect("news");
    assert!(ended("declined", "declined")(&news), "{news:?}");
    assert_eq!(a.ended(&call).await, news);
    assert_eq!(a.call_log().await.1.outcome, "declined");
    assert_eq!(b.call_log().await.1.outcome, "declined");

    // Cancelled; accepting it afterwards is a conflict.
    let call = a.invite(&bob).await.expect("invite").call_id;
    assert!(matches!(b.event(&call).await, Event::Incoming(_)));
    let news = a.call(&call, Op::Cancel(empty())).await.expect("cancel").ended.expect("news");
    assert!(ended("cancelled", "cancelled")(&news), "{news:?}");
    assert_eq!(b.ended(&call).await, news);
    assert_eq!(b.refused(&call, accept("too late")).await, "conflict");
    let (_, log) = b.call_log().await;
    assert_eq!((log.outcome.as_str(), log.duration_ms), ("cancelled", 0));
    a.call_log().await;
    a.quiet().await;
}

#[tokio::test]
async fn a_user_in_a_call_is_busy_for_everyone_else() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let mut c = Dev::tcp(&carol).await;
    let call = active_call(&mut a, &mut b, &bob).await;

    // Carol calls bob, then alice: both are in a call.
    for callee in [&bob, &alice] {
        let ack = c.invite(callee).await.expect("a busy callee is an answer, not an error");
        assert!(ended("busy", "busy")(ack.ended.as_ref().expect("ended at once")), "{ack:?}");
        assert_ne!(ack.call_id, call);
        let (m, log) = c.call_log().await;
        assert_eq!(m.conversation_id, direct_conversation(carol.id, callee.id));
        assert_eq!((log.outcome.as_str(), log.caller_id), ("busy", carol.id));
    }
    // Nothing rang on bob's device; the busy call logs are in their chats.
    assert_eq!(b.call_log().await.1.outcome, "busy");
    assert_eq!(a.call_log().await.1.outcome, "busy");
    b.quiet().await;
    a.quiet().await;
    // Alice cannot place a second call while in one.
    assert_eq!(a.refused("", invite(carol.id)).await, "conflict");

    // Once the call ends, bob is callable again.
    b.call(&call, Op::Hangup(empty())).await.expect("hangup");
    assert!(ended("completed", "hung_up")(&a.ended(&call).await));
    let again = c.invite(&bob).await.expect("invite");
    assert_eq!(again.ended, None);
    b.call_log().await;
    assert!(matches!(b.event(&again.call_id).await, Event::Incoming(_)));
}

#[tokio::test]
async fn an_unanswered_call_is_missed_and_unread_for_the_callee() {
    let server = quick_server(1, 20).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut a = Dev::tcp(&alice).await;

    // Bob has no device online: missed at once.
    let ack = a.invite(&bob).await.expect("invite");
    assert!(ended("missed", "unavailable")(ack.ended.as_ref().expect("ended at once")), "{ack:?}");
    assert_eq!(a.call_log().await.1.outcome, "missed");

    // Bob is online and does not answer: missed after the ring timeout.
    let mut b = Dev::tcp(&bob).await;
    let call = a.invite(&bob).await.expect("invite").call_id;
    assert!(matches!(b.event(&call).await, Event::Incoming(_)));
    let news = a.ended(&call).await;
    assert!(ended("missed", "no_answer")(&news), "{news:?}");
    assert_eq!(b.ended(&call).await, news);
    assert_eq!(b.call_log().await.1.outcome, "missed");
    let conversation = direct_conversation(alice.id, bob.id);
    assert_eq!(b.unread(&conversation).await, 2, "both missed calls are unread for bob");
    a.call_log().await;
    assert_eq!(a.unread(&conversation).await, 0, "the caller wrote them");
}

#[tokio::test]
async fn refusals_blocked_not_friends_not_found_and_bad_requests() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let mut c = Dev::tcp(&carol).await;

    // Signaling for a call you are not in, or that does not exist.
    let call = active_call(&mut a, &mut b, &bob).await;
    for op in [Op::Hangup(empty()), ice("x"), accept("x")] {
        assert_eq!(c.refused(&call, op).await, "not_found");
    }
    assert_eq!(c.refused(&"0".repeat(32), Op::Hangup(empty())).await, "not_found");
    assert_eq!(c.refused("not-an-id", Op::Hangup(empty())).await, "invalid_argument");
    assert_eq!(a.refused(&call, accept("x")).await, "forbidden", "the caller cannot accept");
    b.call(&call, Op::Hangup(empty())).await.expect("hangup");

    // Bad invites.
    let bad = |f: fn(&mut v1::CallInvite)| {
        let mut i = v1::CallInvite { callee_id: carol.id, media: "video".into(), ..Default::default() };
        f(&mut i);
        Op::Invite(i)
    };
    assert_eq!(a.refused("", bad(|i| i.media = "hologram".into())).await, "invalid_argument");
    assert_eq!(a.refused("", bad(|i| i.room_kind = "room".into())).await, "invalid_argument");
    assert_eq!(a.refused("", bad(|i| i.participants = vec![99, 98])).await, "invalid_argument");
    assert_eq!(a.refused("", invite(alice.id)).await, "invalid_argument", "calling yourself");
    assert_eq!(a.refused("", invite(424_242)).await, "not_found");
    assert_eq!(a.refused(&"1".repeat(32), invite(carol.id)).await, "invalid_argument");
    let no_op = v1::CallRequest { call_id: call.clone(), op: None };
    assert_eq!(a.request(Body::Call(no_op)).await.unwrap_err().code, "invalid_argument");

    // Carol blocks alice: alice cannot call her (the check of direct messages).
    let (status, body) = api.call(Method::PUT, &format!("/blocks/{}", alice.id), &carol, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.refused("", invite(carol.id)).await, "blocked");
    assert_eq!(a.refused("", file_invite(carol.id)).await, "blocked", "a file session too");
    c.quiet().await;
    drop(server);

    // Under friends_only, strangers cannot call each other.
    let server = TestServer::start_with(|c| c.social.direct_messages = DirectMessages::FriendsOnly).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut a = Dev::tcp(&alice).await;
    let _b = Dev::tcp(&bob).await;
    assert_eq!(a.refused("", invite(bob.id)).await, "not_friends");
    assert_eq!(a.refused("", file_invite(bob.id)).await, "not_friends");
    Api::new(&server).befriend(&alice, &bob).await;
    a.invite(&bob).await.expect("friends may call");
}

#[tokio::test]
async fn a_caller_gone_past_the_grace_period_ends_the_call() {
    let server = quick_server(45, 1).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let call = active_call(&mut a, &mut b, &bob).await;

    a.conn.close().await;
    assert_eq!(b.event(&call).await, Event::PeerDisconnected(empty()));
    let news = b.ended(&call).await;
    assert!(ended("completed", "connection_lost")(&news), "{news:?}");
    let (_, log) = b.call_log().await;
    assert_eq!((log.outcome.as_str(), log.duration_ms), ("completed", news.duration_ms));
}

#[tokio::test]
async fn a_caller_back_within_the_grace_period_keeps_the_call() {
    let server = quick_server(45, 20).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let call = active_call(&mut a, &mut b, &bob).await;

    a.conn.close().await;
    assert_eq!(b.event(&call).await, Event::PeerDisconnected(empty()));
    let mut a = Dev::tcp(&alice).await;
    assert_eq!(a.event(&call).await, Event::Resumed(v1::CallResumed { sdp_answer: "answer-sdp".into() }));
    assert_eq!(b.event(&call).await, Event::PeerReconnected(empty()));

    // A second connection of the same device changes nothing; closing it
    // neither (the device is still online).
    let extra = Dev::tcp(&alice).await;
    extra.conn.close().await;
    a.call(&call, ice("after")).await.expect("the call goes on");
    assert_eq!(b.event(&call).await, Event::Ice(v1::CallIce { candidate: "after".into() }));
    b.quiet().await;
    a.call(&call, Op::Hangup(empty())).await.expect("hangup");
    assert!(ended("completed", "hung_up")(&b.ended(&call).await));
}

#[tokio::test]
async fn a_restart_mid_call_ends_it_with_a_log_and_frees_both_users() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let call = active_call(&mut a, &mut b, &bob).await;

    let server = server.restart().await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let history = b.pull(&direct_conversation(alice.id, bob.id)).await;
    let logs: Vec<_> = history
        .iter()
        .filter_map(|m| match &m.content.as_ref()?.kind {
            Some(Kind::CallLog(l)) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), 1, "{history:?}");
    assert_eq!((logs[0].call_id.as_str(), logs[0].outcome.as_str()), (call.as_str(), "completed"));

    // Nobody is stuck in the old call.
    assert_eq!(a.refused(&call, Op::Hangup(empty())).await, "not_found");
    let again = a.invite(&bob).await.expect("invite after the restart");
    assert_eq!(again.ended, None);
    assert!(matches!(b.event(&again.call_id).await, Event::Incoming(_)));
    drop(server);
}

#[tokio::test]
async fn a_file_session_is_signaled_like_a_call_but_busies_nobody_and_leaves_no_log() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let bob_laptop = server.login("bob").await;
    let carol = server.user("carol").await;
    let mut a = Dev::tcp(&alice).await;
    let mut phone = Dev::tcp(&bob).await;
    let mut laptop = Dev::ws_json(&bob_laptop).await;
    let mut c = Dev::tcp(&carol).await;
    // Alice and bob are in a video call, answered on bob's phone.
    let call = active_call(&mut a, &mut phone, &bob).await;
    assert!(matches!(laptop.event(&call).await, Event::Incoming(_)));
    assert_eq!(laptop.event(&call).await, Event::AnsweredElsewhere(empty()));

    // Carol sends bob a file while he is in the call: his devices ring for it.
    let ack = c.call("", file_invite(bob.id)).await.expect("bob is not busy for a file");
    assert_eq!(ack.ended, None);
    let session = ack.call_id;
    for dev in [&mut phone, &mut laptop] {
        assert_eq!(dev.event(&session).await, incoming(&carol, &bob, "file", "data-offer"));
    }
    c.call(&session, ice("c1")).await.expect("ice while ringing");
    for dev in [&mut phone, &mut laptop] {
        assert_eq!(dev.event(&session).await, Event::Ice(v1::CallIce { candidate: "c1".into() }));
    }
    // The laptop accepts first; the phone is out of the session (and still in its call).
    laptop.call(&session, accept("data-answer")).await.expect("accept");
    assert_eq!(c.event(&session).await, Event::Accepted(v1::CallAccept { sdp_answer: "data-answer".into() }));
    assert_eq!(phone.event(&session).await, Event::AnsweredElsewhere(empty()));
    laptop.call(&session, ice("l1")).await.expect("ice");
    assert_eq!(c.event(&session).await, Event::Ice(v1::CallIce { candidate: "l1".into() }));
    c.call(&session, ice("c2")).await.expect("ice");
    assert_eq!(laptop.event(&session).await, Event::Ice(v1::CallIce { candidate: "c2".into() }));
    let news = c.call(&session, Op::Hangup(empty())).await.expect("hangup").ended.expect("news");
    assert!(ended("completed", "hung_up")(&news), "{news:?}");
    assert_eq!(laptop.ended(&session).await, news);

    // Alice, in her call, sends carol a file; carol declines it.
    let session = a.call("", file_invite(carol.id)).await.expect("a file during a call").call_id;
    assert!(matches!(c.event(&session).await, Event::Incoming(i) if i.media == "file"));
    let reject = Op::Reject(v1::CallReject { reason: "declined".into() });
    assert!(ended("declined", "declined")(&c.call(&session, reject).await.expect("reject").ended.expect("news")));
    assert!(ended("declined", "declined")(&a.ended(&session).await));

    // The call was never disturbed; no file session left a message anywhere.
    for dev in [&mut a, &mut phone, &mut laptop, &mut c] {
        dev.quiet().await;
        assert!(dev.messages.is_empty(), "{:?}", dev.messages);
    }
    assert!(c.pull(&direct_conversation(carol.id, bob.id)).await.is_empty());
    assert!(c.pull(&direct_conversation(carol.id, alice.id)).await.is_empty());
    // Hanging up the call leaves its log: the first message of the chat.
    phone.call(&call, Op::Hangup(empty())).await.expect("hangup");
    assert!(ended("completed", "hung_up")(&a.ended(&call).await));
    let (_, log) = a.call_log().await;
    assert_eq!((log.call_id.as_str(), log.media.as_str()), (call.as_str(), "video"));
    assert_eq!(a.pull(&direct_conversation(alice.id, bob.id)).await.len(), 1);
}

#[tokio::test]
async fn file_sessions_are_capped_per_user() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let mut a = Dev::tcp(&alice).await;
    let mut b = Dev::tcp(&bob).await;
    let mut c = Dev::tcp(&carol).await;

    let mut sessions = Vec::new();
    for _ in 0..4 {
        let session = a.call("", file_invite(bob.id)).await.expect("within the cap").call_id;
        assert!(matches!(b.event(&session).await, Event::Incoming(_)));
        sessions.push(session);
    }
    // A fifth, from the sender's side or to the receiver's, is refused.
    assert_eq!(a.refused("", file_invite(carol.id)).await, "limit_exceeded");
    assert_eq!(c.refused("", file_invite(bob.id)).await, "limit_exceeded");
    let refused = match a.call("", file_invite(carol.id)).await {
        Err(e) => e.message,
        Ok(ack) => panic!("{ack:?}"),
    };
    assert!(refused.contains("at most 4"), "{refused}");
    // Calls are not counted.
    let call = c.invite(&alice).await.expect("a call is not a file session").call_id;
    assert!(matches!(a.event(&call).await, Event::Incoming(_)));
    c.call(&call, Op::Cancel(empty())).await.expect("cancel");
    assert!(ended("cancelled", "cancelled")(&a.ended(&call).await));
    c.call_log().await;
    a.call_log().await;
    b.quiet().await;

    // One ends: there is room again.
    a.call(&sessions[0], Op::Cancel(empty())).await.expect("cancel");
    assert!(ended("cancelled", "cancelled")(&b.ended(&sessions[0]).await));
    let session = c.call("", file_invite(bob.id)).await.expect("room again").call_id;
    assert!(matches!(b.event(&session).await, Event::Incoming(i) if i.caller_id == carol.id));
}
