//! One authenticated long connection, over TCP or WebSocket, with no
//! reconnection logic: [`Transport`] moves frames, [`RawConnection`] adds the
//! auth handshake and request ids, and [`WriteHalf`] / [`ReadHalf`] let two
//! tasks drive one connection (the load generator writes from a task of its
//! own so a blocked write never holds up reads).
//!
//! URLs pick the transport: `tcp://host:port` (4-byte big-endian length +
//! protobuf `Frame`) or `ws://host:port/ws` / `wss://…` (a binary message per
//! protobuf frame, or proto3-JSON text messages when `json` is set).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::{Body, Frame, FrameError, PROTOCOL_VERSION, TcpCodec, v1};
use futures_util::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Error as WsError, Message as WsMessage},
};
use tokio_util::codec::Framed;

use crate::error::{ClientError, Result};

/// Largest frame the client accepts from the server, before the server has
/// told us its own limit. Generous: pulls of 1000 messages are large.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// How long connecting plus the auth handshake may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw payload for tests that need to send something other than a valid
/// frame.
#[derive(Debug, Clone)]
pub enum RawPayload {
    /// Bytes: a TCP frame payload (the length prefix is added) or a WebSocket
    /// binary message.
    Binary(Bytes),
    /// A WebSocket text message (refused on TCP).
    Text(String),
}

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A frame pipe over TCP or WebSocket.
#[derive(Debug)]
pub enum Transport {
    /// Length-prefixed protobuf over TCP.
    Tcp(Framed<TcpStream, TcpCodec>),
    /// WebSocket; `json` selects proto3-JSON text messages over protobuf
    /// binary ones for what we send (both are understood on receipt).
    Ws {
        /// The socket.
        stream: Box<WsStream>,
        /// Send text (JSON) frames instead of binary ones.
        json: bool,
    },
}

/// The sending half of a [`Transport`] (see [`Transport::into_split`]).
#[derive(Debug)]
pub struct WriteHalf {
    sink: Sink,
    /// On WebSocket, send proto3-JSON text frames.
    json: bool,
}

#[derive(Debug)]
enum Sink {
    Tcp(SplitSink<Framed<TcpStream, TcpCodec>, Bytes>),
    Ws(SplitSink<WsStream, WsMessage>),
}

/// The receiving half of a [`Transport`] (see [`Transport::into_split`]).
#[derive(Debug)]
pub struct ReadHalf(Source);

#[derive(Debug)]
enum Source {
    Tcp(SplitStream<Framed<TcpStream, TcpCodec>>),
    Ws(SplitStream<WsStream>),
}

impl Transport {
    /// Connects to `url` (`tcp://`, `ws://` or `wss://`).
    pub async fn connect(url: &str, json: bool) -> Result<Self> {
        if let Some(addr) = url.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            let stream = TcpStream::connect(addr).await.map_err(ClientError::transport)?;
            // Frames are small and latency matters more than packet count.
            stream.set_nodelay(true).map_err(ClientError::transport)?;
            Ok(Self::Tcp(Framed::new(stream, TcpCodec::new(DEFAULT_MAX_FRAME_BYTES))))
        } else if url.starts_with("ws://") || url.starts_with("wss://") {
            // No Nagle delay here either (`disable_nagle`).
            let (stream, _resp) =
                tokio_tungstenite::connect_async_with_config(url, None, true).await.map_err(ClientError::transport)?;
            Ok(Self::Ws { stream: Box::new(stream), json })
        } else {
            Err(ClientError::Transport(format!("unsupported url {url:?} (expected tcp://, ws:// or wss://)")))
        }
    }

    /// Sends one frame in the transport's encoding.
    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        match self {
            Self::Tcp(framed) => framed.send(ferry_proto::encode_frame(frame)).await.map_err(ClientError::transport),
            Self::Ws { stream, json } => stream.send(ws_message(frame, *json)).await.map_err(ClientError::transport),
        }
    }

    /// Sends a raw payload (tests of malformed input).
    pub async fn send_raw(&mut self, payload: RawPayload) -> Result<()> {
        match (self, payload) {
            (Self::Tcp(framed), RawPayload::Binary(b)) => framed.send(b).await.map_err(ClientError::transport),
            (Self::Tcp(_), RawPayload::Text(_)) => Err(ClientError::Transport("text payloads need a WebSocket".into())),
            (Self::Ws { stream, .. }, RawPayload::Binary(b)) => {
                stream.send(WsMessage::binary(b)).await.map_err(ClientError::transport)
            }
            (Self::Ws { stream, .. }, RawPayload::Text(t)) => {
                stream.send(WsMessage::text(t)).await.map_err(ClientError::transport)
            }
        }
    }

    /// The next frame; `Ok(None)` when the peer closed the connection.
    /// Cancel-safe (usable in `select!`).
    pub async fn recv(&mut self) -> Result<Option<Frame>> {
        match self {
            Self::Tcp(framed) => tcp_frame(framed.next().await),
            Self::Ws { stream, .. } => loop {
                if let Some(frame) = ws_frame(stream.next().await) {
                    return frame;
                }
            },
        }
    }

    /// Closes the connection politely (WebSocket close handshake or TCP
    /// shutdown). Errors are ignored: the peer may already be gone.
    pub async fn close(&mut self) {
        match self {
            Self::Tcp(framed) => {
                let _ = SinkExt::<Bytes>::close(framed).await;
            }
            Self::Ws { stream, .. } => {
                let _ = SinkExt::close(stream).await;
            }
        }
    }

    /// Splits the connection into a sending and a receiving half, so that
    /// one task can write while another reads.
    pub fn into_split(self) -> (WriteHalf, ReadHalf) {
        match self {
            Self::Tcp(framed) => {
                let (sink, stream) = framed.split();
                (WriteHalf { sink: Sink::Tcp(sink), json: false }, ReadHalf(Source::Tcp(stream)))
            }
            Self::Ws { stream, json } => {
                let (sink, stream) = (*stream).split();
                (WriteHalf { sink: Sink::Ws(sink), json }, ReadHalf(Source::Ws(stream)))
            }
        }
    }
}

impl WriteHalf {
    /// Sends one frame in the transport's encoding.
    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        match &mut self.sink {
            Sink::Tcp(sink) => sink.send(ferry_proto::encode_frame(frame)).await.map_err(ClientError::transport),
            Sink::Ws(sink) => sink.send(ws_message(frame, self.json)).await.map_err(ClientError::transport),
        }
    }

    /// Queues a frame already encoded as protobuf
    /// ([`ferry_proto::encode_frame`]) without flushing: a TCP payload or a
    /// WebSocket binary message, whatever `json` says. The bytes are shared,
    /// not copied, so one encoding can be kept and sent again. Nothing
    /// leaves before [`flush`](Self::flush) (or the buffer filling up).
    pub async fn feed_encoded(&mut self, frame: Bytes) -> Result<()> {
        match &mut self.sink {
            Sink::Tcp(sink) => sink.feed(frame).await.map_err(ClientError::transport),
            Sink::Ws(sink) => sink.feed(WsMessage::binary(frame)).await.map_err(ClientError::transport),
        }
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<()> {
        match &mut self.sink {
            Sink::Tcp(sink) => sink.flush().await.map_err(ClientError::transport),
            Sink::Ws(sink) => sink.flush().await.map_err(ClientError::transport),
        }
    }
}

impl ReadHalf {
    /// The next frame; `Ok(None)` when the peer closed the connection.
    /// Cancel-safe (usable in `select!`).
    pub async fn recv(&mut self) -> Result<Option<Frame>> {
        match &mut self.0 {
            Source::Tcp(stream) => tcp_frame(stream.next().await),
            Source::Ws(stream) => loop {
                if let Some(frame) = ws_frame(stream.next().await) {
                    return frame;
                }
            },
        }
    }
}

/// `frame` as a WebSocket message: proto3-JSON text or protobuf binary.
fn ws_message(frame: &Frame, json: bool) -> WsMessage {
    if json {
        WsMessage::text(ferry_proto::frame_to_json(frame))
    } else {
        WsMessage::binary(ferry_proto::encode_frame(frame))
    }
}

/// What one read from a TCP connection means.
fn tcp_frame(read: Option<std::result::Result<BytesMut, FrameError>>) -> Result<Option<Frame>> {
    match read {
        None => Ok(None),
        Some(Err(e)) => Err(ClientError::transport(e)),
        Some(Ok(payload)) => decode(ferry_proto::decode_frame(&payload)),
    }
}

/// What one read from a WebSocket means; `None` for a control message, after
/// which the caller reads again.
fn ws_frame(read: Option<std::result::Result<WsMessage, WsError>>) -> Option<Result<Option<Frame>>> {
    let msg = match read {
        None => return Some(Ok(None)),
        Some(Err(e)) => return Some(Err(ClientError::transport(e))),
        Some(Ok(msg)) => msg,
    };
    Some(match msg {
        WsMessage::Binary(b) => decode(ferry_proto::decode_frame(&b)),
        WsMessage::Text(t) => decode(ferry_proto::frame_from_json(t.as_str())),
        WsMessage::Close(_) => Ok(None),
        // Control frames are answered by tungstenite itself.
        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => return None,
    })
}

/// A decoded frame, or the protocol error that leaves the stream intact.
fn decode(decoded: std::result::Result<Frame, FrameError>) -> Result<Option<Frame>> {
    decoded.map(Some).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// A single authenticated connection with no reconnection, for tests and the
/// load generator: send exactly the frames you want, read exactly what comes.
#[derive(Debug)]
pub struct RawConnection {
    transport: Transport,
    next_id: u64,
}

impl RawConnection {
    /// Opens the transport without authenticating (to test the handshake).
    pub async fn open(url: &str, json: bool) -> Result<Self> {
        Ok(Self { transport: Transport::connect(url, json).await?, next_id: 1 })
    }

    /// Opens the transport and authenticates with `token`.
    pub async fn connect(url: &str, json: bool, token: &str) -> Result<(Self, v1::AuthOk)> {
        let fut = async {
            let mut conn = Self::open(url, json).await?;
            let ok = conn.auth(token).await?;
            Ok((conn, ok))
        };
        tokio::time::timeout(DEFAULT_CONNECT_TIMEOUT, fut).await.map_err(|_| ClientError::Timeout)?
    }

    /// Sends `auth{token}` and waits for `auth_ok` (or the server's error).
    pub async fn auth(&mut self, token: &str) -> Result<v1::AuthOk> {
        let body = Body::Auth(v1::Auth { token: token.to_owned(), protocol_version: PROTOCOL_VERSION });
        match self.request(body).await? {
            Body::AuthOk(ok) => Ok(ok),
            other => Err(unexpected("auth_ok", &other)),
        }
    }

    /// A fresh non-zero request id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends a frame as is.
    pub async fn send(&mut self, frame: &Frame) -> Result<()> {
        self.transport.send(frame).await
    }

    /// Sends `body` with a fresh id and returns that id.
    pub async fn send_body(&mut self, body: Body) -> Result<u64> {
        let id = self.next_id();
        self.transport.send(&Frame { id, body: Some(body) }).await?;
        Ok(id)
    }

    /// Sends a raw payload.
    pub async fn send_raw(&mut self, payload: RawPayload) -> Result<()> {
        self.transport.send_raw(payload).await
    }

    /// The next frame (push or response); `Ok(None)` when the server closed.
    pub async fn recv(&mut self) -> Result<Option<Frame>> {
        self.transport.recv().await
    }

    /// Like [`recv`](Self::recv), failing with [`ClientError::Timeout`] after
    /// `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Frame>> {
        tokio::time::timeout(timeout, self.recv()).await.map_err(|_| ClientError::Timeout)?
    }

    /// Sends `body` and waits for the frame answering it, skipping pushes
    /// (id 0) and stale answers. An `error` answer becomes
    /// [`ClientError::Api`]. Pushes received meanwhile are dropped: use
    /// [`send_body`](Self::send_body) + [`recv`](Self::recv) to keep them.
    pub async fn request(&mut self, body: Body) -> Result<Body> {
        let id = self.send_body(body).await?;
        loop {
            let Some(frame) = self.recv().await? else {
                return Err(ClientError::Transport("connection closed by server".into()));
            };
            // A fatal error may come as a push (id 0) when the server gives
            // up on the connection rather than on this request.
            let fatal_push = frame.id == 0 && matches!(&frame.body, Some(Body::Error(e)) if e.fatal);
            if frame.id == id || fatal_push {
                return into_answer(frame);
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        self.transport.close().await;
    }

    /// The underlying transport.
    pub fn transport_mut(&mut self) -> &mut Transport {
        &mut self.transport
    }

    /// Splits the connection into halves (see [`Transport::into_split`]);
    /// request ids are then the caller's to choose.
    pub fn into_split(self) -> (WriteHalf, ReadHalf) {
        self.transport.into_split()
    }

    pub(crate) fn into_transport(self) -> (Transport, u64) {
        (self.transport, self.next_id)
    }
}

/// Turns an answer frame into its body, or its `error` into an error.
pub(crate) fn into_answer(frame: Frame) -> Result<Body> {
    match frame.body {
        Some(Body::Error(e)) => Err(e.into()),
        Some(body) => Ok(body),
        None => Err(ClientError::Protocol("answer without a body".into())),
    }
}

/// The error for an answer of the wrong kind.
pub(crate) fn unexpected(wanted: &str, got: &Body) -> ClientError {
    ClientError::Protocol(format!("expected {wanted}, got {}", body_name(got)))
}

/// The proto field name of a frame body, for logs and errors.
pub fn body_name(body: &Body) -> &'static str {
    match body {
        Body::Auth(_) => "auth",
        Body::AuthOk(_) => "auth_ok",
        Body::Error(_) => "error",
        Body::Ping(_) => "ping",
        Body::Pong(_) => "pong",
        Body::Kicked(_) => "kicked",
        Body::Send(_) => "send",
        Body::SendAck(_) => "send_ack",
        Body::Message(_) => "message",
        Body::ListConversations(_) => "list_conversations",
        Body::Conversations(_) => "conversations",
        Body::Pull(_) => "pull",
        Body::Messages(_) => "messages",
        Body::MarkRead(_) => "mark_read",
        Body::MarkReadOk(_) => "mark_read_ok",
        Body::GetPresence(_) => "get_presence",
        Body::PresenceList(_) => "presence_list",
        Body::Presence(_) => "presence",
        Body::Changed(_) => "changed",
        Body::Op(_) => "op",
        Body::OpAck(_) => "op_ack",
        Body::GetReactions(_) => "get_reactions",
        Body::Reactions(_) => "reactions",
        Body::GetPins(_) => "get_pins",
        Body::Pins(_) => "pins",
        Body::Forward(_) => "forward",
        Body::ForwardResult(_) => "forward_result",
        Body::ReadReceipt(_) => "read_receipt",
        Body::GetReadStatus(_) => "get_read_status",
        Body::ReadStatus(_) => "read_status",
        Body::Typing(_) => "typing",
        Body::Ack(_) => "ack",
        Body::Hide(_) => "hide",
        Body::HideOk(_) => "hide_ok",
        Body::UpdateConversation(_) => "update_conversation",
        Body::ConversationSettings(_) => "conversation_settings",
        Body::Search(_) => "search",
        Body::SearchResult(_) => "search_result",
        Body::Call(_) => "call",
        Body::CallAck(_) => "call_ack",
        Body::CallEvent(_) => "call_event",
    }
}
