//! A TCP proxy in front of a server that cuts or stalls a connection on
//! request: for tests of clients that must carry on after a dropped
//! connection (resumable uploads and downloads), or of a client killed
//! mid-transfer.
//!
//! ```no_run
//! # async fn scenario(server: &ferry_testkit::TestServer) {
//! use ferry_testkit::proxy::{CutProxy, Direction};
//! let proxy = CutProxy::start(server.http_addr).await;
//! // The connection that carries the next 1 MiB towards the server is cut
//! // after that MiB, once; later connections pass untouched.
//! proxy.cut_after(Direction::ToServer, 1 << 20);
//! # }
//! ```

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    task::JoinHandle,
};

/// Which way the bytes counted towards a cut flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the server (request bodies).
    ToServer,
    /// From the server to the client (response bodies).
    ToClient,
}

/// What happens to the connection that reaches the armed byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Closed both ways.
    Cut,
    /// Nothing more is forwarded that way (what arrives is read and
    /// dropped) until the sending side closes.
    Stall,
}

/// A fault waiting to happen: after this many more bytes that way.
type Armed = Arc<Mutex<Option<(Direction, u64, Fault)>>>;

/// How many faults of each kind happened.
#[derive(Debug, Default)]
struct Counts {
    cuts: AtomicU64,
    stalls: AtomicU64,
}

/// The proxy; dropping it stops accepting (open connections run on).
pub struct CutProxy {
    addr: SocketAddr,
    armed: Armed,
    counts: Arc<Counts>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let armed: Armed = Arc::default();
        let counts = Arc::new(Counts::default());
        let accept = tokio::spawn({
            let (armed, counts) = (Arc::clone(&armed), Arc::clone(&counts));
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(target).await else { continue };
                    tokio::spawn(forward(client, server, Arc::clone(&armed), Arc::clone(&counts)));
                }
            }
        });
        Self { addr, armed, counts, accept }
    }

    /// `http://` and the proxy's address.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Arms one cut: the connection that carries the `bytes`-th next byte
    /// in `direction` is closed (both ways) right after it.
    pub fn cut_after(&self, direction: Direction, bytes: u64) {
        *self.armed.lock().expect("proxy lock") = Some((direction, bytes, Fault::Cut));
    }

    /// Arms one stall: the connection that carries the `bytes`-th next
    /// byte in `direction` forwards nothing more that way; it ends when the
    /// sending side closes (a killed client, say).
    pub fn stall_after(&self, direction: Direction, bytes: u64) {
        *self.armed.lock().expect("proxy lock") = Some((direction, bytes, Fault::Stall));
    }

    /// How many connections were cut so far.
    pub fn cuts(&self) -> u64 {
        self.counts.cuts.load(Ordering::SeqCst)
    }

    /// How many connections stalled so far.
    pub fn stalls(&self) -> u64 {
        self.counts.stalls.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(client: TcpStream, server: TcpStream, armed: Armed, counts: Arc<Counts>) {
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, Direction::ToServer, Arc::clone(&armed), Arc::clone(&counts));
    let down = pump(server_read, client_write, Direction::ToClient, armed, Arc::clone(&counts));
    // Either side ending (or a cut) ends the connection both ways: the
    // halves are dropped, which closes both sockets.
    let cut = tokio::select! {
        cut = up => cut,
        cut = down => cut,
    };
    if cut {
        counts.cuts.fetch_add(1, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends or the armed fault is reached;
/// `true` for a cut.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    armed: Armed,
    counts: Arc<Counts>,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let fault = {
            let mut armed = armed.lock().expect("proxy lock");
            match *armed {
                Some((d, left, fault)) if d == direction && (n as u64) >= left => {
                    *armed = None;
                    Some((left as usize, fault))
                }
                Some((d, left, fault)) if d == direction => {
                    *armed = Some((d, left - n as u64, fault));
                    None
                }
                _ => None,
            }
        };
        let Some((last, fault)) = fault else {
            if to.write_all(&buf[..n]).await.is_err() {
                return false;
            }
            continue;
        };
        let _ = to.write_all(&buf[..last]).await;
        let _ = to.flush().await;
        if fault == Fault::Cut {
            return true;
        }
        counts.stalls.fetch_add(1, Ordering::SeqCst);
        while let Ok(n) = from.read(&mut buf).await
            && n > 0
        {}
        return false;
    }
}
