//! Bad input over WebSocket: invalid JSON in text mode, messages over the
//! size limit, and hand-written proto3 JSON that must work — each error
//! answered in the mode the client speaks, with a stable code.

use ferry_client::v1;
use ferry_proto::{Body, Frame, PROTOCOL_VERSION, encode_frame};
use ferry_testkit::{
    TestServer, WAIT,
    frames::{auth_frame, error_of},
    health::assert_healthy,
    next_message, text_of,
    ws::{WsIn, ws_connect, ws_recv, ws_recv_json},
};
use futures_util::SinkExt as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;

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
    assert_eq!((text_of(&m).as_ref(), m.sender_id, m.seq), ("hé from json", alice.id, 1));

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
