//! Bad input, byte by byte: every malformed, oversized, out-of-order or
//! forbidden thing a client can send over TCP, WebSocket and HTTP gets a clear
//! error with a stable code, the server keeps serving everyone else, and no
//! acknowledged message is lost along the way.
//!
//! The TCP cases write raw bytes on a `TcpStream` (a 4-byte big-endian length
//! and a protobuf `Frame`) rather than going through the SDK, so that what
//! reaches the server is exactly what the test says.

use std::time::Duration;

use bytes::BufMut as _;
use ferry_client::{Event, v1};
use ferry_proto::{Body, Frame, PROTOCOL_VERSION, decode_frame, encode_frame, encode_frame_prefixed, frame_from_json};
use ferry_testkit::{TestServer, TestUser, next_message, text_of};
use futures_util::{SinkExt as _, StreamExt as _};
use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message as WsMessage};

/// Upper bound on any single wait; a healthy server answers in milliseconds.
const WAIT: Duration = Duration::from_secs(10);

// --- raw TCP ----------------------------------------------------------------

/// A TCP connection driven byte by byte.
struct Wire {
    stream: TcpStream,
}

impl Wire {
    async fn connect(server: &TestServer) -> Self {
        let stream = TcpStream::connect(server.tcp_addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream }
    }

    /// Connects and authenticates as `user` (frame id 1).
    async fn authed(server: &TestServer, user: &TestUser) -> Self {
        let mut wire = Self::connect(server).await;
        wire.send(&auth_frame(1, &user.token, PROTOCOL_VERSION)).await;
        let frame = wire.recv().await.expect("auth answer");
        assert_eq!(frame.id, 1);
        match frame.body {
            Some(Body::AuthOk(ok)) => assert_eq!(ok.user_id, user.id),
            other => panic!("expected auth_ok, got {other:?}"),
        }
        wire
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("tcp write");
    }

    async fn send(&mut self, frame: &Frame) {
        self.write(&encode_frame_prefixed(frame)).await;
    }

    /// Sends `payload` behind a correct length prefix.
    async fn send_payload(&mut self, payload: &[u8]) {
        let mut buf = Vec::with_capacity(4 + payload.len());
        buf.put_u32(u32::try_from(payload.len()).expect("payload fits a prefix"));
        buf.extend_from_slice(payload);
        self.write(&buf).await;
    }

    /// The next frame, or `None` once the server closed the connection.
    /// Panics if nothing arrives within [`WAIT`].
    async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.read_frame()).await.expect("no frame and no close within the wait")
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        let len = match self.stream.read_u32().await {
            Ok(len) => len as usize,
            Err(e) if is_closed(&e) => return None,
            Err(e) => panic!("tcp read: {e}"),
        };
        let mut payload = vec![0; len];
        match self.stream.read_exact(&mut payload).await {
            Ok(_) => Some(decode_frame(&payload).expect("the server sent an undecodable frame")),
            Err(e) if is_closed(&e) => panic!("the server closed in the middle of a frame"),
            Err(e) => panic!("tcp read: {e}"),
        }
    }

    /// The next frame that is not a push of a message or presence.
    async fn next_answer(&mut self) -> Frame {
        loop {
            let frame = self.recv().await.expect("connection closed while waiting for an answer");
            if frame.id == 0 && matches!(frame.body, Some(Body::Message(_) | Body::Presence(_))) {
                continue;
            }
            return frame;
        }
    }

    /// Expects the next answer to be an error frame with `id` and returns it.
    async fn expect_error(&mut self, id: u64) -> v1::Error {
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "error should answer request {id}: {frame:?}");
        match frame.body {
            Some(Body::Error(e)) => e,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    /// Expects the server to close the connection with nothing more to say.
    async fn expect_closed(&mut self) {
        if let Some(frame) = self.recv().await {
            panic!("expected the server to close the connection, got {frame:?}");
        }
    }

    /// Pings with `id` and expects the matching pong: the connection is usable.
    async fn assert_usable(&mut self, id: u64) {
        self.send(&Frame { id, body: Some(Body::Ping(v1::Ping { client_time: 42 })) }).await;
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "{frame:?}");
        match frame.body {
            Some(Body::Pong(p)) => assert_eq!(p.client_time, 42),
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// Sends a text to `to` and waits for the ack.
    async fn send_text(&mut self, id: u64, client_msg_id: &str, to: i64, text: &str) -> v1::SendAck {
        self.send(&send_frame(id, client_msg_id, to, text)).await;
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "{frame:?}");
        match frame.body {
            Some(Body::SendAck(ack)) => ack,
            other => panic!("expected send_ack, got {other:?}"),
        }
    }

    /// Pulls every message of `conversation_id`.
    async fn pull_all(&mut self, id: u64, conversation_id: &str) -> Vec<v1::Message> {
        let pull = v1::PullMessages { conversation_id: conversation_id.into(), after_seq: 0, limit: 1000 };
        self.send(&Frame { id, body: Some(Body::Pull(pull)) }).await;
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "{frame:?}");
        match frame.body {
            Some(Body::Messages(batch)) => {
                assert!(!batch.has_more);
                batch.messages
            }
            other => panic!("expected messages, got {other:?}"),
        }
    }
}

/// EOF or a reset: either way the peer closed.
fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
}

fn auth_frame(id: u64, token: &str, protocol_version: u32) -> Frame {
    Frame { id, body: Some(Body::Auth(v1::Auth { token: token.into(), protocol_version })) }
}

fn send_frame(id: u64, client_msg_id: &str, to: i64, text: &str) -> Frame {
    Frame {
        id,
        body: Some(Body::Send(v1::SendMessage {
            client_msg_id: client_msg_id.into(),
            to: Some(v1::send_message::To::UserId(to)),
            content: Some(ferry_client::text_content(text)),
        })),
    }
}

/// A length-delimited protobuf field.
fn field(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut out);
    encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A varint protobuf field.
fn varint_field(number: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(number, WireType::Varint, &mut out);
    encode_varint(value, &mut out);
    out
}

/// `Frame{id, send{client_msg_id, user_id: to, content{text{text: raw}}}}`
/// encoded by hand, so `raw` need not be UTF-8.
fn send_payload_with_raw_text(id: u64, client_msg_id: &str, to: i64, raw: &[u8]) -> Vec<u8> {
    let text = field(1, raw); // Text.text
    let content = field(1, &text); // MessageContent.text
    let mut send = field(1, client_msg_id.as_bytes()); // SendMessage.client_msg_id
    send.extend(varint_field(2, to as u64)); // SendMessage.user_id
    send.extend(field(4, &content)); // SendMessage.content
    let mut frame = varint_field(1, id); // Frame.id
    frame.extend(field(20, &send)); // Frame.send
    frame
}

fn direct_conversation(a: i64, b: i64) -> String {
    format!("d_{}_{}", a.min(b), a.max(b))
}

/// The server still answers `/healthz`.
async fn assert_healthy(server: &TestServer) {
    tokio::time::timeout(WAIT, server.http().healthz()).await.expect("healthz hung").expect("healthz failed");
}

/// A fresh pair of users exchange a message end to end: the server still
/// serves real traffic.
async fn assert_serving(server: &TestServer, a: &str, b: &str) {
    let (sender, receiver) = (server.user(a).await, server.user(b).await);
    let (rc, mut events) = receiver.connect_tcp().await;
    let (sc, _sevents) = sender.connect_tcp().await;
    let ack = tokio::time::timeout(WAIT, sc.send_text(ferry_client::Target::User(receiver.id), "still here"))
        .await
        .expect("send hung")
        .expect("send failed");
    let m = next_message(&mut events, WAIT).await;
    assert_eq!((m.seq, text_of(&m), m.sender_id), (ack.seq, "still here", sender.id));
    sc.close().await;
    rc.close().await;
}

// --- TCP, framing -----------------------------------------------------------

#[tokio::test]
async fn garbage_payload_after_auth_is_malformed_frame_and_not_fatal() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut wire = Wire::authed(&server, &alice).await;

    // A correct length prefix around bytes that are no protobuf Frame
    // (0xff... is an invalid wire type).
    wire.send_payload(&[0xff, 0xff, 0xff, 0xff]).await;
    let e = wire.expect_error(0).await;
    assert_eq!(e.code, "malformed_frame");
    assert!(!e.fatal, "a bad payload leaves the stream in sync: {e:?}");
    assert!(!e.message.is_empty());

    wire.assert_usable(7).await;
}

#[tokio::test]
async fn truncated_frame_then_close_leaves_the_server_serving() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;

    // After auth: the prefix promises 100 bytes, 10 arrive, then the peer goes.
    let mut wire = Wire::authed(&server, &alice).await;
    let mut bytes = Vec::new();
    bytes.put_u32(100);
    bytes.extend_from_slice(&[0x08; 10]);
    wire.write(&bytes).await;
    drop(wire);

    // Before auth, the same.
    let mut early = Wire::connect(&server).await;
    early.write(&bytes).await;
    drop(early);

    // Half a length prefix, then gone.
    let mut tiny = Wire::connect(&server).await;
    tiny.write(&[0, 0]).await;
    drop(tiny);

    assert_healthy(&server).await;
    assert_serving(&server, "bob", "carol").await;
    // Alice herself can come back.
    let mut again = Wire::authed(&server, &alice).await;
    again.assert_usable(2).await;
}

#[tokio::test]
async fn frame_over_the_size_limit_is_fatal_payload_too_large() {
    let server = TestServer::start_with(|c| {
        c.limits.max_frame_bytes = 4096;
        c.limits.max_text_bytes = 1024;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;

    // A frame of exactly the limit still passes framing (and is refused for
    // its text instead): the limit is inclusive, not off by one.
    let mut wire = Wire::authed(&server, &alice).await;
    let base = send_frame(2, "at-limit", bob.id, "").encoded_len();
    let mut text = "x".repeat(4096 - base);
    while send_frame(2, "at-limit", bob.id, &text).encoded_len() > 4096 {
        text.pop();
    }
    let at_limit = send_frame(2, "at-limit", bob.id, &text);
    assert_eq!(at_limit.encoded_len(), 4096, "test setup: frame must be exactly at the limit");
    wire.send(&at_limit).await;
    let e = wire.expect_error(2).await;
    assert_eq!((e.code.as_str(), e.fatal), ("text_too_long", false), "{e:?}");

    // One byte more is refused as a frame, fatally.
    let over = send_frame(2, "at-limit", bob.id, &format!("{text}x"));
    assert_eq!(over.encoded_len(), 4097);
    wire.send(&over).await;
    let e = wire.expect_error(0).await;
    assert_eq!(e.code, "payload_too_large");
    assert!(e.fatal, "{e:?}");
    wire.expect_closed().await;

    // A length prefix alone announcing a huge frame is refused before any
    // of it is read.
    let mut wire = Wire::authed(&server, &alice).await;
    wire.write(&u32::MAX.to_be_bytes()).await;
    let e = wire.expect_error(0).await;
    assert_eq!((e.code.as_str(), e.fatal), ("payload_too_large", true), "{e:?}");
    wire.expect_closed().await;

    assert_healthy(&server).await;
}

#[tokio::test]
async fn unknown_frame_kind_is_answered_with_its_id_and_not_fatal() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut wire = Wire::authed(&server, &alice).await;

    // Frame{id: 42, <field 1000: varint 1>}: from a newer protocol version.
    let mut payload = varint_field(1, 42);
    payload.extend(varint_field(1000, 1));
    wire.send_payload(&payload).await;
    let e = wire.expect_error(42).await;
    assert_eq!(e.code, "unknown_kind");
    assert!(!e.fatal, "{e:?}");

    // An id and nothing else is no request either.
    wire.send_payload(&varint_field(1, 43)).await;
    let e = wire.expect_error(43).await;
    assert_eq!((e.code.as_str(), e.fatal), ("unknown_kind", false), "{e:?}");

    wire.assert_usable(44).await;
}

#[tokio::test]
async fn send_with_invalid_utf8_text_is_malformed_and_stores_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut wire = Wire::authed(&server, &alice).await;

    // Sanity: the hand encoding is right when the text is valid UTF-8.
    let valid = send_payload_with_raw_text(9, "c-valid", bob.id, b"hi");
    assert_eq!(decode_frame(&valid).expect("hand-encoded frame decodes"), send_frame(9, "c-valid", bob.id, "hi"));

    wire.send_payload(&send_payload_with_raw_text(2, "c-bad", bob.id, &[b'o', b'k', 0xff, 0xfe])).await;
    let e = wire.next_answer().await;
    assert_eq!(e.id, 2, "the error echoes the id of the frame it refuses");
    let Some(Body::Error(e)) = e.body else { panic!("expected an error, got {e:?}") };
    assert_eq!(e.code, "malformed_frame");
    assert!(!e.fatal, "{e:?}");

    // Nothing was stored: the next message is seq 1 of the conversation.
    let ack = wire.send_text(3, "c-good", bob.id, "after the bad one").await;
    assert_eq!(ack.seq, 1);
    let messages = wire.pull_all(4, &ack.conversation_id).await;
    assert_eq!(messages.iter().map(|m| m.client_msg_id.as_str()).collect::<Vec<_>>(), ["c-good"]);
}

// --- TCP, handshake ---------------------------------------------------------

#[tokio::test]
async fn request_before_auth_is_fatal_auth_required() {
    let server = TestServer::start().await;
    let mut wire = Wire::connect(&server).await;
    wire.send(&Frame { id: 5, body: Some(Body::Ping(v1::Ping { client_time: 1 })) }).await;
    let e = wire.expect_error(5).await;
    assert_eq!(e.code, "auth_required");
    assert!(e.fatal, "{e:?}");
    wire.expect_closed().await;

    // Garbage as the first frame is refused as well, and also fatally.
    let mut wire = Wire::connect(&server).await;
    wire.send_payload(&[0xff, 0xff, 0xff]).await;
    let e = wire.expect_error(0).await;
    assert_eq!((e.code.as_str(), e.fatal), ("malformed_frame", true), "{e:?}");
    wire.expect_closed().await;

    assert_healthy(&server).await;
}

#[tokio::test]
async fn wrong_token_is_fatal_unauthenticated() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    for (i, token) in ["not-a-token", "", &"x".repeat(10_000), &format!("{}x", alice.token)].into_iter().enumerate() {
        let id = i as u64 + 1;
        let mut wire = Wire::connect(&server).await;
        wire.send(&auth_frame(id, token, PROTOCOL_VERSION)).await;
        let e = wire.expect_error(id).await;
        assert_eq!(e.code, "unauthenticated", "token {token:.20?}");
        assert!(e.fatal, "{e:?}");
        wire.expect_closed().await;
    }
}

#[tokio::test]
async fn unsupported_protocol_version_is_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut wire = Wire::connect(&server).await;
    wire.send(&auth_frame(1, &alice.token, 99)).await;
    let e = wire.expect_error(1).await;
    assert_eq!(e.code, "unsupported_version");
    assert!(e.fatal, "{e:?}");
    wire.expect_closed().await;

    // Version 0 ("unspecified") is accepted today.
    let mut wire = Wire::connect(&server).await;
    wire.send(&auth_frame(1, &alice.token, 0)).await;
    let frame = wire.recv().await.expect("answer");
    assert!(matches!(frame.body, Some(Body::AuthOk(_))), "{frame:?}");
}

#[tokio::test]
async fn second_auth_is_bad_request_and_not_fatal() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut wire = Wire::authed(&server, &alice).await;
    wire.send(&auth_frame(2, &alice.token, PROTOCOL_VERSION)).await;
    let e = wire.expect_error(2).await;
    assert_eq!((e.code.as_str(), e.fatal), ("bad_request", false), "{e:?}");
    wire.assert_usable(3).await;
}

// --- TCP, requests ------------------------------------------------------------

#[tokio::test]
async fn send_to_a_nonexistent_user_is_not_found_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut wire = Wire::authed(&server, &alice).await;

    wire.send(&send_frame(2, "c-nobody", 987_654_321, "hello?")).await;
    let e = wire.expect_error(2).await;
    assert_eq!((e.code.as_str(), e.fatal), ("not_found", false), "{e:?}");

    let ack = wire.send_text(3, "c-bob", bob.id, "hello bob").await;
    assert_eq!(ack.seq, 1);
    // The failed send did not claim its client_msg_id: it can be used now.
    let ack = wire.send_text(4, "c-nobody", bob.id, "reused id").await;
    assert_eq!((ack.seq, ack.duplicate), (2, false));
}

#[tokio::test]
async fn text_over_the_limit_is_text_too_long() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let limit = server.config.limits.max_text_bytes as usize;
    let mut wire = Wire::authed(&server, &alice).await;

    wire.send(&send_frame(2, "c-long", bob.id, &"é".repeat(limit / 2 + 1))).await;
    let e = wire.expect_error(2).await;
    assert_eq!((e.code.as_str(), e.fatal), ("text_too_long", false), "{e:?}");

    // Exactly the limit (in bytes) is fine, and nothing was truncated.
    let text = "y".repeat(limit);
    let ack = wire.send_text(3, "c-max", bob.id, &text).await;
    assert_eq!(ack.seq, 1);
    let messages = wire.pull_all(4, &ack.conversation_id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(text_of(&messages[0]).len(), limit);
}

#[tokio::test]
async fn bad_send_fields_are_invalid_argument() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut wire = Wire::authed(&server, &alice).await;

    let cases: Vec<(&str, Frame)> = vec![
        ("empty client_msg_id", send_frame(2, "", bob.id, "hi")),
        ("client_msg_id over 64 bytes", send_frame(3, &"c".repeat(65), bob.id, "hi")),
        ("blank text", send_frame(4, "c-blank", bob.id, "   ")),
        (
            "no target",
            Frame {
                id: 5,
                body: Some(Body::Send(v1::SendMessage {
                    client_msg_id: "c-none".into(),
                    to: None,
                    content: Some(ferry_client::text_content("hi")),
                })),
            },
        ),
        (
            "no content",
            Frame {
                id: 6,
                body: Some(Body::Send(v1::SendMessage {
                    client_msg_id: "c-empty".into(),
                    to: Some(v1::send_message::To::UserId(bob.id)),
                    content: None,
                })),
            },
        ),
    ];
    for (what, frame) in cases {
        let id = frame.id;
        wire.send(&frame).await;
        let e = wire.expect_error(id).await;
        assert_eq!((e.code.as_str(), e.fatal), ("invalid_argument", false), "{what}: {e:?}");
    }
    wire.assert_usable(7).await;
}

#[tokio::test]
async fn server_only_frame_kinds_from_the_client_are_unknown_kind() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mut wire = Wire::authed(&server, &alice).await;

    let bodies = [
        Body::SendAck(v1::SendAck { client_msg_id: "c".into(), seq: 1, ..Default::default() }),
        Body::AuthOk(v1::AuthOk::default()),
        Body::Pong(v1::Pong::default()),
        Body::Kicked(v1::Kicked { reason: "logout".into() }),
        Body::Message(v1::Message::default()),
        Body::Error(v1::Error { code: "internal".into(), fatal: true, ..Default::default() }),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let id = 10 + i as u64;
        wire.send(&Frame { id, body: Some(body) }).await;
        let e = wire.expect_error(id).await;
        assert_eq!((e.code.as_str(), e.fatal), ("unknown_kind", false), "frame {id}: {e:?}");
    }
    wire.assert_usable(99).await;
}

// --- WebSocket ------------------------------------------------------------------

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a WebSocket read produced.
#[derive(Debug)]
enum WsIn {
    Binary(Frame),
    Text(Frame),
    Closed,
}

async fn ws_connect(server: &TestServer) -> Ws {
    tokio_tungstenite::connect_async(server.ws_url()).await.expect("ws connect").0
}

/// The next data message (control frames skipped), or `Closed`.
async fn ws_recv(ws: &mut Ws) -> WsIn {
    let read = async {
        loop {
            return match ws.next().await {
                None | Some(Ok(WsMessage::Close(_))) => WsIn::Closed,
                Some(Err(e)) => {
                    use tokio_tungstenite::tungstenite::Error as E;
                    match e {
                        E::ConnectionClosed | E::AlreadyClosed | E::Protocol(_) => WsIn::Closed,
                        E::Io(io) if is_closed(&io) => WsIn::Closed,
                        other => panic!("ws read: {other}"),
                    }
                }
                Some(Ok(WsMessage::Binary(b))) => WsIn::Binary(decode_frame(&b).expect("undecodable binary frame")),
                Some(Ok(WsMessage::Text(t))) => {
                    WsIn::Text(frame_from_json(t.as_str()).unwrap_or_else(|e| panic!("bad JSON frame {t}: {e}")))
                }
                Some(Ok(_)) => continue,
            };
        }
    };
    tokio::time::timeout(WAIT, read).await.expect("no ws message and no close within the wait")
}

/// The next data message, which must be a text (JSON) frame.
async fn ws_recv_json(ws: &mut Ws) -> Frame {
    match ws_recv(ws).await {
        WsIn::Text(f) => f,
        other => panic!("expected a JSON text frame, got {other:?}"),
    }
}

fn error_of(frame: &Frame) -> &v1::Error {
    match &frame.body {
        Some(Body::Error(e)) => e,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[tokio::test]
async fn ws_invalid_json_is_malformed_frame_in_json() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;

    // After a JSON auth: a JSON error, and the session goes on.
    let mut ws = ws_connect(&server).await;
    let auth = ferry_proto::frame_to_json(&auth_frame(1, &alice.token, PROTOCOL_VERSION));
    ws.send(WsMessage::text(auth)).await.expect("send auth");
    let ok = ws_recv_json(&mut ws).await;
    assert!(matches!(ok.body, Some(Body::AuthOk(_))), "{ok:?}");

    ws.send(WsMessage::text("{not json")).await.expect("send");
    let frame = ws_recv_json(&mut ws).await;
    let e = error_of(&frame);
    assert_eq!((e.code.as_str(), e.fatal), ("malformed_frame", false), "{e:?}");

    // Valid JSON that is not a Frame is malformed too.
    ws.send(WsMessage::text(r#"{"id":"3","ping":{"clientTime":"not a number"}}"#)).await.expect("send");
    let frame = ws_recv_json(&mut ws).await;
    assert_eq!((frame.id, error_of(&frame).code.as_str()), (3, "malformed_frame"));

    // A JSON frame of an unknown kind keeps its id.
    ws.send(WsMessage::text(r#"{"id":"4"}"#)).await.expect("send");
    let frame = ws_recv_json(&mut ws).await;
    assert_eq!((frame.id, error_of(&frame).code.as_str()), (4, "unknown_kind"));

    ws.send(WsMessage::text(r#"{"id":"5","ping":{"clientTime":"7"}}"#)).await.expect("send");
    let frame = ws_recv_json(&mut ws).await;
    assert_eq!(frame.id, 5);
    assert!(matches!(frame.body, Some(Body::Pong(v1::Pong { client_time: 7, .. }))), "{frame:?}");

    // As the first frame: still a JSON error, but fatal, then closed.
    let mut ws = ws_connect(&server).await;
    ws.send(WsMessage::text("[1, 2")).await.expect("send");
    let frame = ws_recv_json(&mut ws).await;
    let e = error_of(&frame);
    assert_eq!((e.code.as_str(), e.fatal), ("malformed_frame", true), "{e:?}");
    assert!(matches!(ws_recv(&mut ws).await, WsIn::Closed));
}

#[tokio::test]
async fn ws_binary_message_over_the_limit_is_payload_too_large_and_closed() {
    let server = TestServer::start_with(|c| {
        c.limits.max_frame_bytes = 4096;
        c.limits.max_text_bytes = 1024;
    })
    .await;
    let alice = server.user("alice").await;
    let mut ws = ws_connect(&server).await;
    ws.send(WsMessage::binary(encode_frame(&auth_frame(1, &alice.token, PROTOCOL_VERSION)))).await.expect("auth");
    assert!(matches!(ws_recv(&mut ws).await, WsIn::Binary(Frame { body: Some(Body::AuthOk(_)), .. })));

    ws.send(WsMessage::binary(vec![0x08; 4097])).await.expect("send");
    match ws_recv(&mut ws).await {
        WsIn::Binary(frame) => {
            let e = error_of(&frame);
            assert_eq!((e.code.as_str(), e.fatal), ("payload_too_large", true), "{e:?}");
        }
        other => panic!("expected a payload_too_large error frame, got {other:?}"),
    }
    assert!(matches!(ws_recv(&mut ws).await, WsIn::Closed));
    assert_healthy(&server).await;
}

#[tokio::test]
async fn ws_json_mode_auth_and_send_answer_in_json_text() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (_bob_client, mut bob_events) = bob.connect_tcp().await;

    let mut ws = ws_connect(&server).await;
    let auth = format!(r#"{{"id":"1","auth":{{"token":"{}","protocolVersion":1}}}}"#, alice.token);
    ws.send(WsMessage::text(auth)).await.expect("auth");
    let ok = ws_recv_json(&mut ws).await;
    match ok.body {
        Some(Body::AuthOk(ok)) => assert_eq!(ok.user_id, alice.id),
        other => panic!("expected auth_ok, got {other:?}"),
    }

    // Hand-written proto3 JSON: int64 as a string, camelCase names.
    let send = format!(
        r#"{{"id":"2","send":{{"clientMsgId":"json-1","userId":"{}","content":{{"text":{{"text":"hé from json"}}}}}}}}"#,
        bob.id
    );
    ws.send(WsMessage::text(send)).await.expect("send");
    let ack = loop {
        let frame = ws_recv_json(&mut ws).await;
        match frame.body {
            Some(Body::SendAck(ack)) if frame.id == 2 => break ack,
            Some(Body::Message(_)) if frame.id == 0 => continue,
            other => panic!("expected send_ack, got {other:?}"),
        }
    };
    assert_eq!((ack.client_msg_id.as_str(), ack.seq), ("json-1", 1));

    let m = next_message(&mut bob_events, WAIT).await;
    assert_eq!((text_of(&m), m.sender_id, m.seq), ("hé from json", alice.id, 1));

    // An error in JSON mode is JSON too, and carries the request id.
    ws.send(WsMessage::text(r#"{"id":"3","send":{"clientMsgId":"","userId":"1","content":{"text":{"text":"x"}}}}"#))
        .await
        .expect("send");
    let frame = loop {
        let frame = ws_recv_json(&mut ws).await;
        if frame.id == 3 {
            break frame;
        }
    };
    assert_eq!(error_of(&frame).code, "invalid_argument");
}

// --- HTTP ---------------------------------------------------------------------

/// Status and parsed JSON body of a response (panics if the body is not JSON).
async fn status_and_json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("HTTP {status}: body is not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

#[tokio::test]
async fn http_body_over_the_limit_is_413_payload_too_large() {
    let server = TestServer::start_with(|c| c.limits.max_http_body_bytes = 2048).await;
    let alice = server.user("alice").await;
    let http = reqwest::Client::new();

    // Valid JSON, only too big.
    let body =
        serde_json::json!({"username": "bigbody", "password": "long enough pw", "display_name": "x".repeat(4096)});
    let resp = http.post(format!("{}/api/v1/auth/register", server.http_url())).json(&body).send().await.expect("post");
    let (status, json) = status_and_json(resp).await;
    assert_eq!(status, 413, "{json}");
    assert_eq!(json["error"]["code"], "payload_too_large", "{json}");

    // The same on an authenticated route.
    let body = serde_json::json!({"client_msg_id": "c1", "to_user_id": alice.id, "text": "y".repeat(4096)});
    let resp = http
        .post(format!("{}/api/v1/messages", server.http_url()))
        .bearer_auth(&alice.token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let (status, json) = status_and_json(resp).await;
    assert_eq!((status, &json["error"]["code"]), (413, &serde_json::json!("payload_too_large")), "{json}");

    assert_healthy(&server).await;
}

#[tokio::test]
async fn http_invalid_json_is_400_bad_request() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let http = reqwest::Client::new();

    for (path, body) in [
        ("/api/v1/auth/register", "{not json"),
        ("/api/v1/auth/login", r#"{"username": "alice"}"#),
        ("/api/v1/auth/login", r#"{"username": 5, "password": "x"}"#),
    ] {
        let resp = http
            .post(format!("{}{path}", server.http_url()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        let (status, json) = status_and_json(resp).await;
        assert_eq!((status, &json["error"]["code"]), (400, &serde_json::json!("bad_request")), "{path} {body}: {json}");
        assert!(json["error"]["message"].is_string(), "{json}");
    }

    let resp = http
        .post(format!("{}/api/v1/messages", server.http_url()))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body("[")
        .send()
        .await
        .expect("post");
    let (status, json) = status_and_json(resp).await;
    assert_eq!((status, &json["error"]["code"]), (400, &serde_json::json!("bad_request")), "{json}");
}

#[tokio::test]
async fn http_unknown_route_is_404_json() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for path in ["/api/v1/nope", "/nope", "/api/v2/me", "/api/v1/users/1/extra"] {
        let resp = http.get(format!("{}{path}", server.http_url())).send().await.expect("get");
        let (status, json) = status_and_json(resp).await;
        assert_eq!((status, &json["error"]["code"]), (404, &serde_json::json!("not_found")), "{path}: {json}");
    }
}

#[tokio::test]
async fn http_wrong_method_is_405_with_a_json_error() {
    // docs/HTTP_API.md: every error is a non-2xx status with the JSON error
    // body, whose code is one of the stable codes.
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let resp = http.get(format!("{}/api/v1/auth/login", server.http_url())).send().await.expect("get");
    let (status, json) = status_and_json(resp).await;
    assert_eq!(status, 405, "{json}");
    let code = json["error"]["code"].as_str().unwrap_or_default();
    assert!(ferry_core::ErrorCode::parse(code).is_some(), "no stable error code in {json}");
}

// --- everything at once ---------------------------------------------------------

/// One bad thing, sent on alice's authenticated connection right behind a
/// valid message; returns the id its error answers and the expected code.
async fn misbehave(wire: &mut Wire, round: u64, id: u64, bob: i64) -> (u64, &'static str) {
    match round % 7 {
        0 => {
            wire.send_payload(&[0xff, 0x00, 0xff]).await;
            (0, "malformed_frame")
        }
        1 => {
            let mut p = varint_field(1, id);
            p.extend(varint_field(1000, 1));
            wire.send_payload(&p).await;
            (id, "unknown_kind")
        }
        2 => {
            wire.send(&send_frame(id, "", bob, "no id")).await;
            (id, "invalid_argument")
        }
        3 => {
            wire.send(&send_frame(id, &format!("too-long-{round}"), bob, &"z".repeat(16 * 1024 + 1))).await;
            (id, "text_too_long")
        }
        4 => {
            wire.send(&send_frame(id, &format!("nobody-{round}"), 424_242_424, "hello?")).await;
            (id, "not_found")
        }
        5 => {
            wire.send(&Frame { id, body: Some(Body::SendAck(v1::SendAck::default())) }).await;
            (id, "unknown_kind")
        }
        _ => {
            // The frame does not decode, but its id (written first) is read.
            wire.send_payload(&send_payload_with_raw_text(id, &format!("utf8-{round}"), bob, &[0xc3, 0x28])).await;
            (id, "malformed_frame")
        }
    }
}

/// Another connection doing something fatal or abandoned, in parallel.
async fn vandalise(server: &TestServer, round: u64, token: &str) {
    match round % 5 {
        0 => {
            let mut w = Wire::connect(server).await;
            w.send(&auth_frame(1, "forged", PROTOCOL_VERSION)).await;
            assert_eq!(w.expect_error(1).await.code, "unauthenticated");
            w.expect_closed().await;
        }
        1 => {
            let mut w = Wire::connect(server).await;
            w.send(&auth_frame(1, token, PROTOCOL_VERSION)).await;
            assert!(w.recv().await.is_some_and(|f| matches!(f.body, Some(Body::AuthOk(_)))));
            w.write(&(u32::MAX / 2).to_be_bytes()).await;
            assert_eq!(w.expect_error(0).await.code, "payload_too_large");
            w.expect_closed().await;
        }
        2 => {
            let mut w = Wire::connect(server).await;
            w.write(&[0, 0, 1, 0, 1, 2, 3]).await;
            drop(w);
        }
        3 => {
            let mut ws = ws_connect(server).await;
            ws.send(WsMessage::text("}{")).await.expect("ws send");
            assert_eq!(error_of(&ws_recv_json(&mut ws).await).code, "malformed_frame");
        }
        _ => {
            let resp = reqwest::Client::new()
                .post(format!("{}/api/v1/auth/login", server.http_url()))
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await
                .expect("post");
            assert_eq!(resp.status().as_u16(), 400);
        }
    }
}

#[tokio::test]
async fn bad_input_interleaved_with_real_traffic_loses_no_acked_message() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (bob_client, mut bob_events) = bob.connect_ws().await;
    let mut wire = Wire::authed(&server, &alice).await;

    const ROUNDS: u64 = 28;
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let send_id = 100 + 2 * round;
        let bad_id = send_id + 1;
        // Pipelined: the valid send and the bad frame go out back to back.
        wire.send(&send_frame(send_id, &format!("good-{round}"), bob.id, &format!("message {round}"))).await;
        let (error_id, code) = misbehave(&mut wire, round, bad_id, bob.id).await;
        vandalise(&server, round, &alice.token).await;

        let (mut ack, mut error) = (None, None);
        while ack.is_none() || error.is_none() {
            let frame = wire.next_answer().await;
            match frame.body {
                Some(Body::SendAck(a)) if frame.id == send_id => ack = Some(a),
                Some(Body::Error(e)) if frame.id == error_id && error.is_none() => error = Some(e),
                other => panic!("round {round}: unexpected frame {} {other:?}", frame.id),
            }
        }
        let (ack, error) = (ack.expect("ack"), error.expect("error"));
        assert_eq!((error.code.as_str(), error.fatal), (code, false), "round {round}: {error:?}");
        assert!(!ack.duplicate);
        acked.push(ack);
    }
    wire.assert_usable(1).await;

    // Every ack names the next seq: nothing bad slipped into the stream.
    let conversation = direct_conversation(alice.id, bob.id);
    let seqs: Vec<u64> = acked.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (1..=ROUNDS).collect::<Vec<_>>());
    assert!(acked.iter().all(|a| a.conversation_id == conversation));

    // Everything acked is stored, once, in order, with its text.
    let stored = wire.pull_all(2, &conversation).await;
    let got: Vec<(u64, String, String)> =
        stored.iter().map(|m| (m.seq, m.client_msg_id.clone(), text_of(m).to_owned())).collect();
    let want: Vec<(u64, String, String)> =
        (0..ROUNDS).map(|r| (r + 1, format!("good-{r}"), format!("message {r}"))).collect();
    assert_eq!(got, want);

    // Bob got every one of them live, in order.
    for r in 0..ROUNDS {
        let m = next_message(&mut bob_events, WAIT).await;
        assert_eq!((m.seq, text_of(&m)), (r + 1, format!("message {r}").as_str()));
    }
    // And nothing else: the sync finds nothing missing.
    assert!(bob_client.sync().await.expect("sync").is_empty());
    assert!(!matches!(bob_events.try_recv(), Ok(Event::Message(_))));

    // The HTTP view agrees.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/conversations/{conversation}/messages?after_seq=0&limit=1000", server.http_url()))
        .bearer_auth(&bob.token)
        .send()
        .await
        .expect("get");
    let (status, json) = status_and_json(resp).await;
    assert_eq!(status, 200, "{json}");
    let messages = json["messages"].as_array().expect("messages array");
    assert_eq!(messages.len() as u64, ROUNDS);
    assert_eq!(messages.last().expect("last")["text"], format!("message {}", ROUNDS - 1));

    assert_healthy(&server).await;
}
