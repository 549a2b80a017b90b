//! The WebSocket gateway at `/ws`: binary messages carry protobuf frames,
//! text messages the same frames as proto3 JSON. A session answers in the
//! encoding its `auth` frame used.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{
        ConnectInfo, State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    response::{IntoResponse, Response},
};
use ferry_core::{ApiError, ErrorCode};
use futures_util::SinkExt as _;
use tokio_tungstenite::tungstenite;

use super::{Incoming, Transport, session};
use crate::{app::AppRef, error::HttpError, hub::Outbound};

/// `GET /ws`: upgrades to a WebSocket session.
pub async fn upgrade(
    State(app): State<AppRef>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = Arc::clone(&app.connection_slots).try_acquire_owned() else {
        return HttpError(ApiError::new(ErrorCode::Unavailable, "connection limit reached")).into_response();
    };
    if app.shutdown.is_cancelled() {
        return HttpError(ApiError::new(ErrorCode::Unavailable, "server is shutting down")).into_response();
    }
    let max = app.config.limits.max_frame_bytes as usize;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| {
        let app2 = Arc::clone(&app);
        let tracker = app.connections.clone();
        async move {
            tracker
                .spawn(async move {
                    let write_timeout = Duration::from_millis(app2.config.gateway.write_timeout_ms);
                    session::run(app2, WsTransport { socket, write_timeout }, peer, "ws").await;
                    drop(permit);
                })
                .await
                .ok();
        }
    })
}

pub struct WsTransport {
    socket: WebSocket,
    /// Bounds each write (see `TcpTransport::new`).
    write_timeout: Duration,
}

impl Transport for WsTransport {
    async fn recv(&mut self) -> Incoming {
        loop {
            return match self.socket.recv().await {
                Some(Ok(Message::Binary(b))) => Incoming::Binary(b),
                Some(Ok(Message::Text(t))) => Incoming::Text(t.as_str().to_owned()),
                // Control frames are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None => Incoming::Closed,
                Some(Err(e)) => {
                    let too_large = e
                        .into_inner()
                        .downcast_ref::<tungstenite::Error>()
                        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
                    if too_large { Incoming::TooLarge } else { Incoming::Closed }
                }
            };
        }
    }

    async fn send(&mut self, frames: &[Arc<Outbound>], json: bool) -> io::Result<()> {
        let write = async {
            for f in frames {
                let msg = if json { Message::Text(f.json().clone()) } else { Message::Binary(f.protobuf().clone()) };
                self.socket.feed(msg).await.map_err(io::Error::other)?;
            }
            self.socket.flush().await.map_err(io::Error::other)
        };
        tokio::time::timeout(self.write_timeout, write)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))?
    }

    async fn close(&mut self) {
        // Sending Close flushes what is buffered first: a peer that stopped
        // reading must not hold the task (and its connection slot) forever.
        let close = self.socket.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() })));
        let _ = tokio::time::timeout(self.write_timeout, close).await;
    }
}
