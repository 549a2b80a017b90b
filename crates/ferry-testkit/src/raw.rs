//! Driving the SDK's [`RawConnection`] frame by frame: reading past the
//! pushes that arrive unasked, sending a request and taking its answer, and
//! asserting what the server sent — or that it sent nothing.
//!
//! Every read waits at most [`WAIT`] and panics after it.

use ferry_client::{RawConnection, v1};
use ferry_proto::{Body, Frame};

use crate::{
    WAIT,
    frames::{is_message_or_presence_push, send_body},
};

/// The next frame that is not a presence push; panics when the server
/// closes the connection.
pub async fn next_frame(conn: &mut RawConnection) -> Frame {
    next_frame_but(conn, is_presence_push).await.expect("server closed the connection")
}

/// The next frame that is not a push of a message or presence; `None` once
/// the server closed the connection.
pub async fn next_non_push(conn: &mut RawConnection) -> Option<Frame> {
    next_frame_but(conn, is_message_or_presence_push).await
}

/// Sends `body` and returns the body of the frame answering it, skipping
/// pushes (a sender's own devices, for one, get a push of every message they
/// send); panics on an answer to another request or an error push.
pub async fn exchange(conn: &mut RawConnection, body: Body) -> Body {
    let id = conn.send_body(body).await.expect("send frame");
    loop {
        let frame = next_frame(conn).await;
        if frame.id == id {
            return frame.body.expect("answer has a body");
        }
        assert_eq!(frame.id, 0, "answer to an unknown request: {frame:?}");
        if let Some(Body::Error(e)) = &frame.body {
            panic!("error push while waiting for request {id}: {e:?}");
        }
    }
}

/// Sends a direct message and expects an ack.
pub async fn send_acked(conn: &mut RawConnection, client_msg_id: &str, to: i64, text: &str) -> v1::SendAck {
    match exchange(conn, send_body(client_msg_id, to, text)).await {
        Body::SendAck(ack) => {
            assert_eq!(ack.client_msg_id, client_msg_id);
            ack
        }
        other => panic!("expected a send_ack, got {other:?}"),
    }
}

/// Sends a direct message and returns the error code it is refused with
/// (panics if it is accepted, or if the refusal ends the connection).
pub async fn send_refused(conn: &mut RawConnection, client_msg_id: &str, to: i64, text: &str) -> String {
    match exchange(conn, send_body(client_msg_id, to, text)).await {
        Body::Error(e) => {
            assert!(!e.fatal, "a refused send must not end the connection: {e:?}");
            e.code
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// The next frame must be a message push; returns the message.
pub async fn expect_message(conn: &mut RawConnection) -> v1::Message {
    match next_frame(conn).await {
        Frame { id: 0, body: Some(Body::Message(m)) } => m,
        other => panic!("expected a message push, got {other:?}"),
    }
}

/// The next frame must be the push `changed{domain:"contacts"}`; returns
/// its version.
pub async fn expect_contacts_changed(conn: &mut RawConnection) -> u64 {
    match next_frame(conn).await {
        Frame { id: 0, body: Some(Body::Changed(c)) } => {
            assert_eq!(c.domain, "contacts", "{c:?}");
            assert_eq!(c.group_id, 0, "{c:?}");
            c.version
        }
        other => panic!("expected a contacts `changed` push, got {other:?}"),
    }
}

/// Expects `kicked{reason}` (past message and presence pushes) and then the
/// server closing the connection.
pub async fn expect_kicked(conn: &mut RawConnection, reason: &str) {
    match next_non_push(conn).await {
        Some(Frame { id: 0, body: Some(Body::Kicked(k)) }) => assert_eq!(k.reason, reason),
        other => panic!("expected kicked({reason}), got {other:?}"),
    }
    assert_eq!(next_non_push(conn).await, None, "the server should close after the kick");
}

/// Expects a fatal error frame with `code` (past message and presence
/// pushes) and then the server closing the connection.
pub async fn expect_fatal(conn: &mut RawConnection, code: &str) {
    match next_non_push(conn).await {
        Some(Frame { body: Some(Body::Error(e)), .. }) => {
            assert_eq!(e.code, code, "{e:?}");
            assert!(e.fatal, "{e:?}");
        }
        other => panic!("expected a fatal {code} error, got {other:?}"),
    }
    assert_eq!(next_non_push(conn).await, None, "the server should close after a fatal error");
}

/// The connection answers a ping (pushes before the pong are skipped).
pub async fn assert_usable(conn: &mut RawConnection) {
    let body = tokio::time::timeout(WAIT, conn.request(Body::Ping(v1::Ping { client_time: 5 })))
        .await
        .expect("ping hung")
        .expect("ping failed");
    assert!(matches!(body, Body::Pong(v1::Pong { client_time: 5, .. })), "{body:?}");
}

/// Nothing (but presence) is queued for `conn`: a ping sent now is answered
/// by the very next frame. Pushes are queued before the request that caused
/// them is answered, and the session drains its queue before reading
/// requests, so anything pushed earlier would arrive before the pong.
pub async fn assert_quiet(conn: &mut RawConnection) {
    let id = conn.send_body(Body::Ping(v1::Ping { client_time: 77 })).await.expect("send ping");
    match next_frame(conn).await {
        Frame { id: got, body: Some(Body::Pong(p)) } if got == id => assert_eq!(p.client_time, 77),
        other => panic!("expected only the pong, got {other:?}"),
    }
}

/// The next frame `skip` does not pass over; `None` once the server closed.
async fn next_frame_but(conn: &mut RawConnection, skip: fn(&Frame) -> bool) -> Option<Frame> {
    loop {
        let frame =
            conn.recv_timeout(WAIT).await.unwrap_or_else(|e| panic!("no frame and no close within {WAIT:?}: {e}"))?;
        if !skip(&frame) {
            return Some(frame);
        }
    }
}

fn is_presence_push(frame: &Frame) -> bool {
    frame.id == 0 && matches!(frame.body, Some(Body::Presence(_)))
}
