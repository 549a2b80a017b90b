//! A bare TCP connection driven byte by byte: a 4-byte big-endian length and
//! a protobuf `Frame`, written on a `TcpStream` rather than through the SDK,
//! so that what reaches the server is exactly what the test says.

use ferry_client::v1;
use ferry_proto::{Body, Frame, PROTOCOL_VERSION, decode_frame, encode_frame_prefixed};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{
    TestServer, TestUser, WAIT,
    frames::{auth_frame, is_message_or_presence_push, send_frame},
};

/// A TCP connection driven byte by byte.
pub struct Wire {
    stream: TcpStream,
}

impl Wire {
    /// Connects to `server`'s TCP listener, without authenticating.
    pub async fn connect(server: &TestServer) -> Self {
        let stream = TcpStream::connect(server.tcp_addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream }
    }

    /// Connects and authenticates as `user` (frame id 1).
    pub async fn authed(server: &TestServer, user: &TestUser) -> Self {
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

    /// Writes `bytes` as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("tcp write");
    }

    /// Writes `frame` behind its length prefix.
    pub async fn send(&mut self, frame: &Frame) {
        self.write(&encode_frame_prefixed(frame)).await;
    }

    /// Sends `payload` behind a correct length prefix.
    pub async fn send_payload(&mut self, payload: &[u8]) {
        let len = u32::try_from(payload.len()).expect("payload fits a prefix");
        let mut buf = Vec::with_capacity(4 + payload.len());
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(payload);
        self.write(&buf).await;
    }

    /// The next frame, or `None` once the server closed the connection.
    /// Panics if nothing arrives within [`WAIT`].
    pub async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(WAIT, self.read_frame()).await.expect("no frame and no close within the wait")
    }

    /// The next frame that is not a push of a message or presence.
    pub async fn next_answer(&mut self) -> Frame {
        loop {
            let frame = self.recv().await.expect("connection closed while waiting for an answer");
            if !is_message_or_presence_push(&frame) {
                return frame;
            }
        }
    }

    /// Expects the next answer to be an error frame with `id` and returns it.
    pub async fn expect_error(&mut self, id: u64) -> v1::Error {
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "error should answer request {id}: {frame:?}");
        match frame.body {
            Some(Body::Error(e)) => e,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    /// Expects the server to close the connection with nothing more to say.
    pub async fn expect_closed(&mut self) {
        if let Some(frame) = self.recv().await {
            panic!("expected the server to close the connection, got {frame:?}");
        }
    }

    /// Pings with `id` and expects the matching pong: the connection is usable.
    pub async fn assert_usable(&mut self, id: u64) {
        self.send(&Frame { id, body: Some(Body::Ping(v1::Ping { client_time: 42 })) }).await;
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "{frame:?}");
        match frame.body {
            Some(Body::Pong(p)) => assert_eq!(p.client_time, 42),
            other => panic!("expected pong, got {other:?}"),
        }
    }

    /// Sends a text to `to` as request `id` and waits for the ack.
    pub async fn send_text(&mut self, id: u64, client_msg_id: &str, to: i64, text: &str) -> v1::SendAck {
        self.send(&send_frame(id, client_msg_id, to, text)).await;
        let frame = self.next_answer().await;
        assert_eq!(frame.id, id, "{frame:?}");
        match frame.body {
            Some(Body::SendAck(ack)) => ack,
            other => panic!("expected send_ack, got {other:?}"),
        }
    }

    /// Pulls every message of `conversation_id` as request `id`.
    pub async fn pull_all(&mut self, id: u64, conversation_id: &str) -> Vec<v1::Message> {
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
}

/// EOF or a reset: either way the peer closed.
pub(crate) fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
}
