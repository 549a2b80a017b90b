//! A bare WebSocket driven message by message, with `tokio-tungstenite`
//! rather than the SDK: binary messages carry protobuf frames, text messages
//! proto3-JSON ones.

use ferry_proto::{Frame, decode_frame, frame_from_json};
use futures_util::StreamExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message as WsMessage};

use crate::{TestServer, WAIT, wire::is_closed};

/// A WebSocket connection to a test server.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a WebSocket read produced.
#[derive(Debug)]
pub enum WsIn {
    /// A binary message: a protobuf frame.
    Binary(Frame),
    /// A text message: a proto3-JSON frame.
    Text(Frame),
    /// The server closed the connection.
    Closed,
}

/// Opens a WebSocket to `server`, without authenticating.
pub async fn ws_connect(server: &TestServer) -> Ws {
    tokio_tungstenite::connect_async(server.ws_url()).await.expect("ws connect").0
}

/// The next data message (control frames skipped), or `Closed`; panics if
/// neither comes within [`WAIT`].
pub async fn ws_recv(ws: &mut Ws) -> WsIn {
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
pub async fn ws_recv_json(ws: &mut Ws) -> Frame {
    match ws_recv(ws).await {
        WsIn::Text(f) => f,
        other => panic!("expected a JSON text frame, got {other:?}"),
    }
}
