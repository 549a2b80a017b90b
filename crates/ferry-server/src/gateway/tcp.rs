//! The TCP gateway: each frame is a 4-byte big-endian length and a protobuf
//! `Frame`.

use std::{io, sync::Arc, time::Duration};

use bytes::BytesMut;
use ferry_proto::{FrameError, TcpCodec};
use futures_util::StreamExt as _;
use tokio::{
    io::AsyncWriteExt as _,
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};
use tokio_util::codec::FramedRead;

use super::{Incoming, Transport, session};
use crate::{app::AppRef, hub::Outbound};

/// Accepts TCP connections until shutdown, one task per connection.
pub async fn serve(app: AppRef, listener: TcpListener) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            () = app.shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::from_millis(5);
                x
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&app.connection_slots).try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; refusing");
            continue;
        };
        let app2 = Arc::clone(&app);
        app.connections.spawn(async move {
            let write_timeout = Duration::from_millis(app2.config.gateway.write_timeout_ms);
            let transport = TcpTransport::new(stream, app2.config.limits.max_frame_bytes as usize, write_timeout);
            session::run(app2, transport, peer, "tcp").await;
            drop(permit);
        });
    }
}

/// Initial read buffer: none; it grows as frames need (the codec reserves a
/// whole frame once its length is read).
const READ_BUFFER: usize = 0;

/// Read buffer capacity an idle connection may keep.
const KEEP_READ_BUFFER: usize = 1024;

/// Write buffer capacity a connection may keep between writes: enough for
/// a single push; a batch's buffer is released.
const KEEP_WRITE_BUFFER: usize = 256;

/// A TCP connection with a length-prefixed codec on the read side and a
/// reusable write buffer.
pub struct TcpTransport {
    reader: FramedRead<OwnedReadHalf, TcpCodec>,
    writer: OwnedWriteHalf,
    out: BytesMut,
    write_timeout: Duration,
}

impl TcpTransport {
    /// `write_timeout` bounds each write: a peer that stops reading while
    /// its socket stays open must not hold the session (and its slot) forever.
    pub fn new(stream: TcpStream, max_frame: usize, write_timeout: Duration) -> Self {
        let (r, w) = stream.into_split();
        let reader = FramedRead::with_capacity(r, TcpCodec::new(max_frame), READ_BUFFER);
        Self { reader, writer: w, out: BytesMut::new(), write_timeout }
    }
}

impl Transport for TcpTransport {
    async fn recv(&mut self) -> Incoming {
        let next = self.reader.next().await;
        // An idle connection keeps no large buffer: once a burst of big
        // frames is read, the buffer goes back to nothing (the frames just
        // read keep their bytes until handled).
        let buffer = self.reader.read_buffer_mut();
        if buffer.is_empty() && buffer.capacity() > KEEP_READ_BUFFER {
            *buffer = BytesMut::new();
        }
        match next {
            Some(Ok(payload)) => Incoming::Binary(payload.freeze()),
            Some(Err(FrameError::TooLarge { .. })) => Incoming::TooLarge,
            Some(Err(_)) | None => Incoming::Closed,
        }
    }

    async fn send(&mut self, frames: &[Arc<Outbound>], _json: bool) -> io::Result<()> {
        self.out.clear();
        for f in frames {
            let payload = f.protobuf();
            self.out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            self.out.extend_from_slice(payload);
        }
        tokio::time::timeout(self.write_timeout, self.writer.write_all(&self.out))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading"))??;
        // Idle connections keep no large buffer around: a batch's buffer is
        // released (a busy connection allocates one per write syscall).
        if self.out.capacity() > KEEP_WRITE_BUFFER {
            self.out = BytesMut::new();
        }
        Ok(())
    }

    async fn close(&mut self) {
        let _ = self.writer.shutdown().await;
    }
}
