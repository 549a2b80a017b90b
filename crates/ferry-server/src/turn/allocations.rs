//! What the relay bounds, in the seams the `turn` crate offers: the
//! listener `Conn` it reads requests from (a [`Door`]) and the
//! `RelayAddressGenerator` it asks for each allocation's relay socket
//! ([`RelayPorts`], handing out [`RelayConn`]s).
//!
//! The generator is not told whose allocation it serves. The crate handles
//! one listener's datagrams one at a time (read, handle, read the next:
//! `Server::read_loop` in turn 0.17), authenticating an Allocate before it
//! asks for the relay socket; so the door notes the user named by the
//! Allocate request it just read, and its generator charges that user. The
//! username was checked by then (the crate asks for a socket only for an
//! authenticated request), so nobody is charged for a forged one.
//!
//! A [`RelayConn`] holds its quota slot until the crate closes or drops it
//! (allocation deleted, expired, or the relay stopped), and drops what goes
//! beyond the bandwidth limit in either direction.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Instant,
};

use async_trait::async_trait;
use ferry_core::UserId;
use tokio::net::UdpSocket;
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

use super::TurnStats;

/// STUN message type of an Allocate request (RFC 5766 §13).
const ALLOCATE_REQUEST: u16 = 0x0003;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_ERROR_CODE: u16 = 0x0009;
const MAGIC_COOKIE: u32 = 0x2112_A442;
const STUN_HEADER: usize = 20;

/// The allocation quotas: live allocations per user and in all.
pub struct Allocations {
    max_per_user: u32,
    max_total: u32,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    per_user: HashMap<UserId, u32>,
    total: u32,
}

/// One live allocation's place in the quotas, given back when dropped.
struct Slot {
    allocations: Arc<Allocations>,
    user: UserId,
}

impl Allocations {
    pub fn new(max_per_user: u32, max_total: u32) -> Self {
        Self { max_per_user, max_total, state: Mutex::new(Counts::default()) }
    }

    /// Live allocations, for the metrics.
    pub fn live(&self) -> u32 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent under any panic (each update is one
        // statement), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for `user`, unless it or the relay is at its quota.
    fn claim(self: &Arc<Self>, user: UserId) -> Option<Slot> {
        let mut counts = self.lock();
        let mine = counts.per_user.get(&user).copied().unwrap_or(0);
        if mine >= self.max_per_user || counts.total >= self.max_total {
            return None;
        }
        counts.per_user.insert(user, mine + 1);
        counts.total += 1;
        Some(Slot { allocations: Arc::clone(self), user })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.allocations.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_user.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

/// Where relay sockets are bound and what they may carry.
pub struct RelayPorts {
    /// The address relay sockets bind (the listener's).
    pub bind_ip: IpAddr,
    /// The address allocations are advertised at.
    pub relay_ip: IpAddr,
    pub min: u16,
    pub max: u16,
    /// Per allocation, both directions; 0 = unlimited.
    pub bandwidth: u64,
}

/// The user of the Allocate request a door is handling, shared with its
/// generator.
type Allocating = Arc<Mutex<Option<UserId>>>;

/// Wraps a listener `conn` for the crate: the door it reads requests
/// through, and the relay generator charging the users those name.
pub fn door(
    conn: Arc<dyn Conn + Send + Sync>,
    ports: RelayPorts,
    allocations: Arc<Allocations>,
    stats: Arc<TurnStats>,
) -> (Arc<dyn Conn + Send + Sync>, Generator) {
    let allocating = Allocating::default();
    let door = Door { inner: conn, allocating: Arc::clone(&allocating), stats: Arc::clone(&stats) };
    (Arc::new(door), Generator { ports, allocations, allocating, stats })
}

/// A listener as the crate sees it: notes Allocate requests' users on the
/// way in, counts refusals on the way out.
struct Door {
    inner: Arc<dyn Conn + Send + Sync>,
    allocating: Allocating,
    stats: Arc<TurnStats>,
}

#[async_trait]
impl Conn for Door {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        self.inner.recv(buf).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let (n, from) = self.inner.recv_from(buf).await?;
        let user = allocate_username(&buf[..n]).and_then(|name| name.split_once(':')?.1.parse().ok());
        *self.allocating.lock().unwrap_or_else(|p| p.into_inner()) = user;
        Ok((n, from))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.inner.send(buf).await
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if error_code(buf) == Some(400) {
            TurnStats::add(&self.stats.auth_failures, 1);
        }
        self.inner.send_to(buf, target).await
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// The relay sockets of one door's allocations.
pub struct Generator {
    ports: RelayPorts,
    allocations: Arc<Allocations>,
    allocating: Allocating,
    stats: Arc<TurnStats>,
}

#[async_trait]
impl RelayAddressGenerator for Generator {
    fn validate(&self) -> Result<(), turn::Error> {
        if self.ports.min == 0 || self.ports.max < self.ports.min {
            return Err(turn::Error::ErrMaxPortLessThanMinPort);
        }
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        let user = *self.allocating.lock().unwrap_or_else(|p| p.into_inner());
        let Some(user) = user else {
            return Err(turn::Error::Other("no user for this allocation".into()));
        };
        if use_ipv4 != self.ports.bind_ip.is_ipv4() {
            return Err(turn::Error::Other("address family not served".into()));
        }
        let Some(slot) = self.allocations.claim(user) else {
            TurnStats::add(&self.stats.allocations_refused, 1);
            tracing::debug!(user_id = user, "TURN allocation refused: quota reached");
            return Err(turn::Error::Other("allocation quota reached".into()));
        };
        let socket = self.bind(requested_port).await?;
        let mut relay_addr = socket.local_addr()?;
        relay_addr.set_ip(self.ports.relay_ip);
        let bucket = (self.ports.bandwidth > 0).then(|| Mutex::new(Bucket::new(self.ports.bandwidth)));
        let conn = RelayConn { socket, slot: Mutex::new(Some(slot)), bucket, stats: Arc::clone(&self.stats) };
        Ok((Arc::new(conn), relay_addr))
    }
}

impl Generator {
    /// A UDP socket on `requested` (an EVEN-PORT reservation) or a free
    /// port of the range, tried from a random one on.
    async fn bind(&self, requested: u16) -> Result<UdpSocket, turn::Error> {
        if requested != 0 {
            return Ok(UdpSocket::bind((self.ports.bind_ip, requested)).await?);
        }
        let span = u32::from(self.ports.max - self.ports.min) + 1;
        let start = rand::random::<u32>() % span;
        for i in 0..span.min(64) {
            let port = self.ports.min as u32 + (start + i) % span;
            // `port` lies within min..=max, both u16.
            if let Ok(socket) = UdpSocket::bind((self.ports.bind_ip, port as u16)).await {
                return Ok(socket);
            }
        }
        Err(turn::Error::ErrMaxRetriesExceeded)
    }
}

/// An allocation's relay socket.
struct RelayConn {
    socket: UdpSocket,
    /// Taken (given back) when the crate closes the allocation.
    slot: Mutex<Option<Slot>>,
    bucket: Option<Mutex<Bucket>>,
    stats: Arc<TurnStats>,
}

impl RelayConn {
    /// Whether `n` more bytes fit the bandwidth limit now (counted if so).
    fn admit(&self, n: usize) -> bool {
        let ok = match &self.bucket {
            Some(bucket) => bucket.lock().unwrap_or_else(|p| p.into_inner()).take(n as f64),
            None => true,
        };
        TurnStats::add(if ok { &self.stats.relayed_bytes } else { &self.stats.dropped_bytes }, n);
        ok
    }
}

#[async_trait]
impl Conn for RelayConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        loop {
            let n = self.socket.recv(buf).await?;
            if self.admit(n) {
                return Ok(n);
            }
        }
    }

    /// From a peer, for the client: what is over the limit is dropped.
    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            if self.admit(n) {
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        if !self.admit(buf.len()) {
            return Ok(buf.len());
        }
        Ok(self.socket.send(buf).await?)
    }

    /// From the client, to a peer: dropped (as a congested link would)
    /// when over the limit.
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !self.admit(buf.len()) {
            return Ok(buf.len());
        }
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.socket.peer_addr().ok()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        drop(self.slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// A token bucket holding up to one second of `rate` bytes.
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        Self { rate: rate as f64, tokens: rate as f64, at: Instant::now() }
    }

    fn take(&mut self, n: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens < n {
            return false;
        }
        self.tokens -= n;
        true
    }
}

/// The attributes of a STUN message of `kind`, when `buf` is one.
fn attributes(buf: &[u8], kind: impl Fn(u16) -> bool) -> Option<impl Iterator<Item = (u16, &[u8])>> {
    let word = |at: usize| u16::from_be_bytes([buf[at], buf[at + 1]]);
    if buf.len() < STUN_HEADER || !kind(word(0)) || u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) != MAGIC_COOKIE
    {
        return None;
    }
    let end = (STUN_HEADER + word(2) as usize).min(buf.len());
    let mut at = STUN_HEADER;
    Some(std::iter::from_fn(move || {
        if at + 4 > end {
            return None;
        }
        let (kind, len) = (word(at), word(at + 2) as usize);
        let value = buf.get(at + 4..at + 4 + len)?;
        at += 4 + len.div_ceil(4) * 4;
        Some((kind, value))
    }))
}

/// The USERNAME of an Allocate request.
fn allocate_username(buf: &[u8]) -> Option<&str> {
    let (_, value) = attributes(buf, |t| t == ALLOCATE_REQUEST)?.find(|(kind, _)| *kind == ATTR_USERNAME)?;
    std::str::from_utf8(value).ok()
}

/// The ERROR-CODE of an error response (class 0b11: bits 0x0110 set).
fn error_code(buf: &[u8]) -> Option<u16> {
    let (_, value) = attributes(buf, |t| t & 0x0110 == 0x0110)?.find(|(kind, _)| *kind == ATTR_ERROR_CODE)?;
    let (class, number) = (*value.get(2)? & 0x07, *value.get(3)?);
    Some(u16::from(class) * 100 + u16::from(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN message of `kind` with `attrs`, each padded to 4 bytes.
    fn message(kind: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        let mut m = kind.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn finds_the_username_of_allocate_requests_only() {
        let software = (0x8022, b"x".as_slice());
        let allocate = message(ALLOCATE_REQUEST, &[software, (ATTR_USERNAME, b"1700000000:42")]);
        assert_eq!(allocate_username(&allocate), Some("1700000000:42"));
        let refresh = message(0x0004, &[(ATTR_USERNAME, b"1700000000:42")]);
        assert_eq!(allocate_username(&refresh), None);
        assert_eq!(allocate_username(&allocate[..19]), None, "short");
        let mut no_cookie = allocate.clone();
        no_cookie[4] = 0;
        assert_eq!(allocate_username(&no_cookie), None);
        // A length running past the datagram ends the walk instead of panicking.
        let mut truncated = allocate.clone();
        truncated.truncate(allocate.len() - 4);
        assert_eq!(allocate_username(&truncated), None);
    }

    #[test]
    fn reads_error_codes_of_error_responses() {
        let code = |class: u8, number: u8| [0, 0, class, number];
        assert_eq!(error_code(&message(0x0113, &[(ATTR_ERROR_CODE, &code(4, 0))])), Some(400));
        assert_eq!(error_code(&message(0x0113, &[(ATTR_ERROR_CODE, &code(5, 8))])), Some(508));
        assert_eq!(error_code(&message(0x0103, &[(ATTR_ERROR_CODE, &code(4, 0))])), None, "a success response");
    }

    #[test]
    fn quotas_count_per_user_and_in_all_and_slots_give_back() {
        let a = Arc::new(Allocations::new(2, 3));
        let (first, second) = (a.claim(1).expect("1st"), a.claim(1).expect("2nd"));
        assert!(a.claim(1).is_none(), "user 1 is at its quota");
        let other = a.claim(2).expect("another user");
        assert!(a.claim(3).is_none(), "the relay is at its cap");
        assert_eq!(a.live(), 3);
        drop(first);
        assert!(a.claim(3).is_some(), "a freed slot is claimable");
        drop((second, other));
        assert_eq!(a.live(), 0);
    }

    #[test]
    fn the_bucket_holds_a_second_of_traffic() {
        let mut b = Bucket::new(1000);
        assert!(b.take(600.0));
        assert!(b.take(400.0));
        assert!(!b.take(100.0), "a second's worth is spent");
        b.at -= std::time::Duration::from_millis(500);
        assert!(b.take(400.0), "half a second refills half");
        b.at -= std::time::Duration::from_secs(10);
        assert!(!b.take(1001.0), "never more than a second's worth");
    }
}
