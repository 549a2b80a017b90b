//! Everything at once: bad frames pipelined right behind valid messages on
//! one connection, while other connections vandalise the server in parallel
//! over TCP, WebSocket and HTTP. No acknowledged message is lost, duplicated
//! or reordered along the way.

use ferry_client::{Event, v1};
use ferry_proto::{Body, Frame, PROTOCOL_VERSION};
use ferry_testkit::{
    TestServer, WAIT,
    frames::{auth_frame, error_of, send_frame, send_payload_with_raw_text, varint_field},
    health::assert_healthy,
    http::{Answer, answer, proto},
    ids::direct_conversation,
    next_message, text_of,
    wire::Wire,
    ws::{ws_connect, ws_recv_json},
};
use futures_util::SinkExt as _;
use tokio_tungstenite::tungstenite::Message as WsMessage;

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
        stored.iter().map(|m| (m.seq, m.client_msg_id.clone(), text_of(m).into_owned())).collect();
    let want: Vec<(u64, String, String)> =
        (0..ROUNDS).map(|r| (r + 1, format!("good-{r}"), format!("message {r}"))).collect();
    assert_eq!(got, want);

    // Bob got every one of them live, in order.
    for r in 0..ROUNDS {
        let m = next_message(&mut bob_events, WAIT).await;
        assert_eq!((m.seq, text_of(&m).as_ref()), (r + 1, format!("message {r}").as_str()));
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
    let Answer { status, body: json, .. } = answer(resp).await;
    assert_eq!(status, 200, "{json}");
    let messages = proto::<v1::MessageBatch>(&json).messages;
    assert_eq!(messages.len() as u64, ROUNDS);
    assert_eq!(text_of(messages.last().expect("last")), format!("message {}", ROUNDS - 1));

    assert_healthy(&server).await;
}
