//! The embedded STUN/TURN relay for calls, on webrtc-rs's `turn` crate: it
//! answers STUN binding requests and serves TURN allocations (RFC 5766, UDP
//! relaying) on `calls.turn.listen`, over UDP and, when `calls.turn.tcp`,
//! over TCP (`tcp.rs` frames the stream into the datagrams the crate reads).
//!
//! Credentials are the TURN REST ones `service/ice.rs` hands out: the auth
//! handler asks [`IceServers::turn_password`] for the password of a
//! username (refusing expired and malformed ones) and gives the crate the
//! long-term key MD5(username:realm:password). Quotas (allocations per user
//! and in all) and the per-allocation bandwidth limit live in
//! `allocations.rs`, in the relay sockets this module hands the crate.

mod allocations;
mod tcp;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::net::{TcpListener, UdpSocket};
use turn::{
    auth::{AuthHandler, generate_auth_key},
    server::{
        Server,
        config::{ConnConfig, ServerConfig},
    },
};
use webrtc_util::Conn;

use crate::{config::TurnConfig, service::ice::IceServers};

pub use allocations::Allocations;

/// The relay's counters, read by `GET /metrics`.
#[derive(Debug, Default)]
pub struct TurnStats {
    /// Bytes relayed between clients and peers, both directions.
    pub relayed_bytes: AtomicU64,
    /// Bytes dropped by the bandwidth limit.
    pub dropped_bytes: AtomicU64,
    /// Requests answered 400: a wrong, expired or malformed credential (the
    /// crate answers a failed check so), or a malformed request.
    pub auth_failures: AtomicU64,
    /// Allocations refused by the per-user quota or the relay's cap.
    pub allocations_refused: AtomicU64,
}

/// The relay's sockets, bound before [`crate::run`] (port 0 allowed: UDP
/// and TCP then share the port the kernel picked for UDP).
pub struct TurnSockets {
    pub udp: UdpSocket,
    pub tcp: Option<TcpListener>,
}

impl TurnSockets {
    /// Binds `addr` on UDP and, with `tcp`, on TCP at the same port.
    pub async fn bind(addr: SocketAddr, tcp: bool) -> std::io::Result<Self> {
        // With port 0 the UDP port the kernel picks may be taken on TCP:
        // pick again a few times.
        let tries = if addr.port() == 0 && tcp { 10 } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            let udp = UdpSocket::bind(addr).await?;
            if !tcp {
                return Ok(Self { udp, tcp: None });
            }
            match crate::listen(udp.local_addr()?) {
                Ok(listener) => return Ok(Self { udp, tcp: Some(listener) }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("binding TURN over TCP")))
    }

    /// The bound address (UDP; TCP has the same port).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// A running relay.
pub struct Relay {
    server: Server,
    tcp: Option<tcp::TcpMux>,
}

impl Relay {
    /// Starts serving on `sockets` with `config`'s limits, checking
    /// credentials with `ice`.
    pub async fn start(
        config: &TurnConfig,
        ice: Arc<IceServers>,
        allocations: Arc<Allocations>,
        stats: Arc<TurnStats>,
        sockets: TurnSockets,
    ) -> Result<Self, String> {
        let udp_addr = sockets.local_addr().map_err(|e| e.to_string())?;
        let relay_ip = relay_ip(config);
        let mut doors: Vec<Arc<dyn Conn + Send + Sync>> = vec![Arc::new(sockets.udp)];
        let tcp = match sockets.tcp {
            Some(listener) => {
                let mux = tcp::TcpMux::start(listener).map_err(|e| format!("TURN over TCP: {e}"))?;
                doors.push(mux.conn());
                Some(mux)
            }
            None => None,
        };
        let conn_configs = doors
            .into_iter()
            .map(|conn| {
                // One generator per listener: the crate handles a listener's
                // requests one at a time, so the user of the Allocate being
                // handled is the one its door last saw (see `allocations.rs`).
                let (door, relays) = allocations::door(
                    conn,
                    allocations::RelayPorts {
                        bind_ip: udp_addr.ip(),
                        relay_ip,
                        min: config.relay_port_min,
                        max: config.relay_port_max,
                        bandwidth: config.bandwidth_bytes_per_sec,
                    },
                    Arc::clone(&allocations),
                    Arc::clone(&stats),
                );
                ConnConfig { conn: door, relay_addr_generator: Box::new(relays) }
            })
            .collect();
        let server = Server::new(ServerConfig {
            conn_configs,
            realm: config.realm.clone(),
            auth_handler: Arc::new(RestAuth { ice, realm: config.realm.clone() }),
            channel_bind_timeout: std::time::Duration::ZERO,
            alloc_close_notify: None,
        })
        .await
        .map_err(|e| format!("starting the TURN relay: {e}"))?;
        tracing::info!(
            udp = %udp_addr,
            tcp = %tcp.as_ref().map_or_else(|| "off".to_string(), |t| t.local_addr().to_string()),
            relay_ip = %relay_ip,
            relay_ports = %format!("{}-{}", config.relay_port_min, config.relay_port_max),
            "TURN relay listening"
        );
        Ok(Self { server, tcp })
    }

    /// Stops listening and closes every allocation.
    pub async fn stop(self) {
        if let Some(tcp) = self.tcp {
            tcp.stop().await;
        }
        match tokio::time::timeout(crate::SHUTDOWN_GRACE, self.server.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "closing the TURN relay"),
            Err(_) => tracing::warn!("the TURN relay did not close within the grace period"),
        }
    }
}

/// The address allocations are advertised at: `relay_ip`, else a specific
/// listen address, else the first non-loopback IPv4 address of this host.
fn relay_ip(config: &TurnConfig) -> IpAddr {
    if let Some(ip) = config.relay_ip {
        return ip;
    }
    if !config.listen.ip().is_unspecified() {
        return config.listen.ip();
    }
    let found = webrtc_util::ifaces::ifaces().ok().and_then(|list| {
        list.into_iter().filter_map(|i| i.addr).map(|a| a.ip()).find(|ip| ip.is_ipv4() && !ip.is_loopback())
    });
    found.unwrap_or_else(|| {
        tracing::warn!("no non-loopback IPv4 address found for TURN relaying; set calls.turn.relay_ip");
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    })
}

/// The TURN REST credential check.
struct RestAuth {
    ice: Arc<IceServers>,
    realm: String,
}

impl AuthHandler for RestAuth {
    fn auth_handle(&self, username: &str, realm: &str, src_addr: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        if realm != self.realm {
            tracing::debug!(%src_addr, realm, "TURN request for another realm");
            return Err(turn::Error::Other("unknown realm".into()));
        }
        let now = crate::service::now_ms() / 1000;
        match self.ice.turn_password(username, now) {
            Ok((_, password)) => Ok(generate_auth_key(username, realm, &password)),
            Err(why) => {
                tracing::debug!(%src_addr, username, %why, "TURN credential refused");
                Err(turn::Error::Other(why.to_string()))
            }
        }
    }
}

impl TurnStats {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}
