//! Bad frames over TCP, byte by byte: malformed, truncated, oversized,
//! unknown or out-of-order frames, a bad handshake and bad requests each get
//! an error frame with a stable code — fatal only where the stream cannot go
//! on — and the server keeps serving everyone else.
//!
//! The frames are written on a bare `TcpStream` ([`Wire`]) rather than
//! through the SDK, so that what reaches the server is exactly what the
//! test says.

use bytes::BufMut as _;
use ferry_client::v1;
use ferry_proto::{Body, Frame, PROTOCOL_VERSION, decode_frame};
use ferry_testkit::{
    TestServer,
    frames::{auth_frame, send_frame, send_payload_with_raw_text, varint_field},
    health::{assert_healthy, assert_serving},
    text_of,
    wire::Wire,
};
use prost::Message as _;

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
        Body::SearchResult(v1::SearchResult::default()),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let id = 10 + i as u64;
        wire.send(&Frame { id, body: Some(body) }).await;
        let e = wire.expect_error(id).await;
        assert_eq!((e.code.as_str(), e.fatal), ("unknown_kind", false), "frame {id}: {e:?}");
    }
    wire.assert_usable(99).await;
}
