//! TURN over TCP (RFC 5766 §2.1): the `turn` crate reads and writes
//! datagrams on one `Conn`, so [`TcpMux`] is one `Conn` over every TCP
//! client. Each connection's stream is cut into the messages it carries —
//! STUN messages (20-byte header with the length) and ChannelData (4-byte
//! header, padded to 4 bytes on a stream) — which arrive from the client's
//! address; what the crate sends to that address is written to that
//! connection. Relaying to peers stays UDP.
//!
//! An allocation made over TCP outlives its connection until its lifetime
//! ends (the crate deletes allocations only by lifetime, refresh, or all of
//! a username's at once), holding its quota slot until then.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf},
    sync::{Semaphore, mpsc},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use webrtc_util::Conn;

/// TCP clients served at once.
const MAX_CONNECTIONS: usize = 4096;
/// A connection that sends nothing this long is closed (a client refreshes
/// its allocation well within the default 10-minute lifetime).
const IDLE: Duration = Duration::from_secs(15 * 60);
/// Messages queued to one client; beyond it they are dropped, as UDP would.
const OUT_QUEUE: usize = 256;
/// Messages read from all clients, not yet taken by the crate.
const IN_QUEUE: usize = 1024;
/// How long a write may take before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TCP listener's clients, as one datagram `Conn`.
pub struct TcpMux {
    conn: Arc<MuxConn>,
    local: SocketAddr,
    stop: CancellationToken,
    tasks: TaskTracker,
}

struct MuxConn {
    local: SocketAddr,
    incoming: tokio::sync::Mutex<mpsc::Receiver<(Vec<u8>, SocketAddr)>>,
    clients: std::sync::Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
    stop: CancellationToken,
}

impl TcpMux {
    /// Accepts on `listener` until stopped.
    pub fn start(listener: TcpListener) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(IN_QUEUE);
        let stop = CancellationToken::new();
        let conn = Arc::new(MuxConn {
            local,
            incoming: tokio::sync::Mutex::new(rx),
            clients: std::sync::Mutex::new(HashMap::new()),
            stop: stop.clone(),
        });
        let tasks = TaskTracker::new();
        tasks.spawn(accept(listener, Arc::clone(&conn), tx, tasks.clone()));
        Ok(Self { conn, local, stop, tasks })
    }

    /// The `Conn` the crate serves.
    pub fn conn(&self) -> Arc<dyn Conn + Send + Sync> {
        Arc::clone(&self.conn) as Arc<dyn Conn + Send + Sync>
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Closes the listener and every connection.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await.is_err() {
            tracing::warn!("TURN TCP connections still open after the grace period");
        }
    }
}

async fn accept(
    listener: TcpListener,
    mux: Arc<MuxConn>,
    incoming: mpsc::Sender<(Vec<u8>, SocketAddr)>,
    tasks: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = mux.stop.cancelled() => return,
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = mux.stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "TURN TCP accept failed");
                    // Back off (e.g. out of file descriptors) rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (mux, incoming) = (Arc::clone(&mux), incoming.clone());
        tasks.spawn(async move {
            serve(stream, peer, &mux, incoming).await;
            mux.clients().remove(&peer);
            drop(permit);
        });
    }
}

/// One client: its messages in, the crate's answers out.
async fn serve(stream: TcpStream, peer: SocketAddr, mux: &MuxConn, incoming: mpsc::Sender<(Vec<u8>, SocketAddr)>) {
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    mux.clients().insert(peer, out_tx);
    let writer = async {
        while let Some(message) = out_rx.recv().await {
            match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&message)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    };
    let reader = async {
        loop {
            let message = match tokio::time::timeout(IDLE, read_message(&mut read)).await {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) | Err(_) => return,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TURN TCP client dropped");
                    return;
                }
            };
            if incoming.send((message, peer)).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = mux.stop.cancelled() => {}
        () = writer => {}
        () = reader => {}
    }
}

/// The next STUN or ChannelData message of a stream (ChannelData without
/// its stream padding); `None` at a clean end.
async fn read_message(read: &mut OwnedReadHalf) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    match read.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u16::from_be_bytes([head[2], head[3]]) as usize;
    let (total, keep) = match head[0] >> 6 {
        0b00 => (20 + len, 20 + len),
        0b01 => (4 + len.div_ceil(4) * 4, 4 + len),
        _ => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "neither STUN nor ChannelData")),
    };
    let mut message = vec![0u8; total];
    message[..4].copy_from_slice(&head);
    read.read_exact(&mut message[4..]).await?;
    message.truncate(keep);
    Ok(Some(message))
}

impl MuxConn {
    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>> {
        // Inserts and removes only: a poisoned map is still whole.
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Conn for MuxConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other("a TURN TCP listener does not connect".into()))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let mut incoming = self.incoming.lock().await;
        let next = tokio::select! {
            () = self.stop.cancelled() => None,
            next = incoming.recv() => next,
        };
        let (message, from) = next.ok_or(webrtc_util::Error::ErrClosedListener)?;
        // The crate reads into an MTU-sized buffer, as from a UDP socket.
        let n = message.len().min(buf.len());
        buf[..n].copy_from_slice(&message[..n]);
        Ok((n, from))
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("a TURN TCP listener sends to an address".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let Some(client) = self.clients().get(&target).cloned() else {
            // The connection is gone; like a datagram to nobody.
            return Ok(buf.len());
        };
        let mut message = buf.to_vec();
        if buf.first().is_some_and(|b| b >> 6 == 0b01) {
            message.resize(buf.len().div_ceil(4) * 4, 0);
        }
        // A client too slow to take its answers loses some, as over UDP.
        let _ = client.try_send(message);
        Ok(buf.len())
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Nothing: the crate closes the listener conn of an allocation when
    /// the allocation ends (harmless on a UDP socket); the listener and its
    /// clients stop with [`TcpMux::stop`].
    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
