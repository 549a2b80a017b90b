//! The cluster [`Bus`] over one Redis server: pub/sub between nodes and a
//! session registry with a time to live.
//!
//! **Channels.** Each node subscribes to its own channel
//! `ferry:bus:node:<id>` and to `ferry:bus:all`. A delivery is published
//! once per other node that holds a recipient, carrying the frame's bytes
//! once and the recipients on that node (a group fan-out: one publish per
//! node, never one per member, never to a node without recipients).
//! Kicks, cache invalidations and presence go to `all`: they are rare and
//! small, and a kick sent everywhere also reaches a session whose node has
//! not been heard of yet.
//!
//! **Presence.** Every node keeps a [`Mirror`] of the others' sessions
//! (user → node → device of each session), so `online_devices`,
//! `device_online`, `devices` and delivery routing answer from memory.
//! A node tells the others what changed — the full list of a user's
//! sessions on it, for each user whose sessions changed, batched — in
//! `Presence` messages, and keeps the same in the registry hash
//! `ferry:bus:sessions:<id>` (field per user, plus `_v`, its version),
//! written with the same version in the same transaction (MULTI) as the
//! publish. Versions are consecutive per node, so a receiver that sees a
//! gap (a lost message, its own reconnect, a node it did not know) reloads
//! that node's hash, which is exactly the state at the version it holds.
//! A node also refreshes its hash's TTL (`cluster.presence_ttl_ms`) and
//! says `Alive` every third of it — one command per node, whatever its
//! number of users — and the others forget a node they have not heard
//! from within the TTL, as the engine forgets its hash: a node that died
//! without saying so is gone everywhere within the TTL.
//!
//! **Failure.** Nothing here blocks a service call: deliveries for other
//! nodes go through a bounded queue to one publisher task (queue full →
//! dropped and counted). When the engine is unreachable both tasks
//! reconnect with backoff while the node keeps serving its own sessions;
//! what could not be published is counted, and once back the node
//! re-registers all its sessions (a `reset` presence) and reloads everyone
//! else's. A push lost meanwhile is recovered by the client's sync.

mod calls;

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use dashmap::DashMap;
use ferry_core::{DeviceId, UserId};
use futures_util::StreamExt as _;
use prost::Message as _;
use redis::{AsyncCommands as _, aio::MultiplexedConnection};
use smallvec::SmallVec;
use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use self::calls::CallState;
use super::{
    Bus, BusReport, Invalidation, SessionAt, Sessions,
    calls::{CallRoute, PresenceNews},
    mirror::{Mirror, NodeName},
    wire::{self, Body, Envelope},
};
use crate::{
    config::ClusterConfig,
    hub::{Hub, Outbound, SessionHandle},
    service::caches::Caches,
};

/// The channel every node subscribes to.
const ALL: &str = "ferry:bus:all";
/// The index of nodes that registered (a hint; each node's hash is the truth).
const NODES: &str = "ferry:bus:nodes";
/// The registry field holding a node's version.
const VERSION_FIELD: &str = "_v";
/// The registry field holding a node's `node_id`.
const NODE_ID_FIELD: &str = "_id";
/// Users per presence message and registry transaction.
const PRESENCE_CHUNK: usize = 1000;
/// Queued items the publisher sends in one pipeline.
const PUBLISH_BATCH: usize = 256;
/// Reconnect backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

fn node_channel(node: &str) -> String {
    format!("ferry:bus:node:{node}")
}

fn sessions_key(node: &str) -> String {
    format!("ferry:bus:sessions:{node}")
}

/// What the publisher sends.
enum Outgoing {
    /// A frame for `users`' sessions on `node`.
    Deliver { node: NodeName, users: Vec<UserId>, frame: Arc<Outbound> },
    /// A frame for `user`'s sessions on `devices` on `node`, but not
    /// connection `except` there.
    Devices { node: NodeName, user: UserId, devices: Vec<String>, except: Option<u64>, frame: Arc<Outbound> },
    /// A message for one node (call requests and answers).
    Targeted { node: NodeName, body: Body },
    /// A call ended: its claims go.
    Release { call: ferry_core::call::CallId, users: [UserId; 2] },
    /// To every node.
    Broadcast(Body),
    /// Sessions changed here ([`Dirty`] says whose). Queued in line with
    /// the deliveries, so that a frame a service sends after a session
    /// attached goes out after the news of that session: the publisher
    /// registers a batch's presence before its frames.
    Presence,
}

#[derive(Default)]
struct Stats {
    published: AtomicU64,
    broadcast: AtomicU64,
    received: AtomicU64,
    received_broadcast: AtomicU64,
    dropped: AtomicU64,
    publish_failures: AtomicU64,
    reconnects: AtomicU64,
    connected: AtomicBool,
}

/// Users whose sessions on this node changed since the last presence
/// message (at most one entry per user with a session here, so bounded by
/// the node's connections), and the publisher's wake-up.
#[derive(Default)]
struct Dirty {
    users: Mutex<HashSet<UserId>>,
    wake: Notify,
    /// Everything must be registered again (the engine lost it, or a
    /// presence write failed).
    all: AtomicBool,
}

impl Dirty {
    /// Notes that `user`'s sessions here changed; true if it was not noted
    /// yet (then a [`Outgoing::Presence`] is due).
    fn mark(&self, user: UserId) -> bool {
        self.users.lock().unwrap_or_else(PoisonError::into_inner).insert(user)
    }

    fn pending(&self) -> bool {
        self.all.load(Ordering::SeqCst) || !self.users.lock().unwrap_or_else(PoisonError::into_inner).is_empty()
    }

    fn take(&self) -> Vec<UserId> {
        std::mem::take(&mut *self.users.lock().unwrap_or_else(PoisonError::into_inner)).into_iter().collect()
    }

    fn reregister(&self) {
        self.all.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// What the bus and its two tasks share.
struct Shared {
    node: NodeName,
    /// The top-level `node_id`, said in every message.
    node_id: u16,
    /// Other nodes by `node_id`, as their messages say.
    ids: DashMap<u16, NodeName>,
    /// Another live node said it has our `node_id`.
    clash: Mutex<Option<NodeName>>,
    calls: CallState,
    hub: Arc<Hub>,
    caches: Arc<Caches>,
    mirror: Mirror,
    dirty: Dirty,
    stats: Stats,
    ttl: Duration,
}

/// The cluster bus over Redis.
pub struct RedisBus {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Outgoing>,
}

/// The bus's background tasks; [`BusTasks::stop`] deregisters the node.
pub struct BusTasks {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl BusTasks {
    /// Stops the tasks where they are, saying nothing to anyone, as a
    /// crashed node would (tests: the others must forget it by the TTL).
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }

    /// Publishes what is queued, removes this node from the registry (the
    /// others forget its sessions at once) and stops.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl RedisBus {
    /// Starts the bus (it connects in the background: a node starts, and
    /// serves its own sessions, while the engine is unreachable).
    pub fn start(
        hub: Arc<Hub>,
        caches: Arc<Caches>,
        node_id: u16,
        config: &ClusterConfig,
    ) -> Result<(Arc<Self>, BusTasks), String> {
        let client = redis::Client::open(config.bus_url.as_str()).map_err(|e| format!("cluster.bus_url: {e}"))?;
        let node: NodeName = if config.node_name.is_empty() {
            format!("{:016x}", rand::random::<u64>()).into()
        } else {
            config.node_name.as_str().into()
        };
        let shared = Arc::new(Shared {
            node,
            node_id,
            ids: DashMap::new(),
            clash: Mutex::new(None),
            calls: CallState::new(client.clone()),
            hub,
            caches,
            mirror: Mirror::default(),
            dirty: Dirty::default(),
            stats: Stats::default(),
            ttl: Duration::from_millis(config.presence_ttl_ms),
        });
        let (queue, rx) = mpsc::channel(config.publish_queue);
        let stop = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(publisher(Arc::clone(&shared), client.clone(), rx, stop.clone())),
            tokio::spawn(receiver(Arc::clone(&shared), client, stop.clone())),
        ];
        tracing::info!(node = %shared.node, url = %redact(&config.bus_url), "cluster bus: redis");
        Ok((Arc::new(Self { shared, queue }), BusTasks { stop, tasks }))
    }

    /// This node's name on the bus.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    fn enqueue(&self, item: Outgoing) {
        if self.queue.try_send(item).is_err() {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues the news that `user`'s sessions here changed. (Should the
    /// queue be full, the user stays marked and the next batch or
    /// heartbeat registers it.)
    fn changed(&self, user: UserId) {
        if self.shared.dirty.mark(user) {
            let _ = self.queue.try_send(Outgoing::Presence);
        }
    }
}

impl Bus for RedisBus {
    fn attach(&self, session: Arc<SessionHandle>) -> u32 {
        let user = session.user_id;
        let local = self.shared.hub.register(session);
        self.changed(user);
        count(local + self.shared.mirror.session_count(user))
    }

    fn detach(&self, user: UserId, session_id: u64) -> u32 {
        let local = self.shared.hub.unregister(user, session_id);
        self.changed(user);
        count(local + self.shared.mirror.session_count(user))
    }

    fn deliver(&self, users: &[UserId], frame: &Arc<Outbound>) {
        let mut per_node: SmallVec<[(NodeName, Vec<UserId>); 4]> = SmallVec::new();
        for &user in users {
            self.shared.hub.deliver(user, frame);
            for node in self.shared.mirror.nodes_of(user) {
                match per_node.iter_mut().find(|(n, _)| *n == node) {
                    Some((_, list)) => list.push(user),
                    None => per_node.push((node, vec![user])),
                }
            }
        }
        for (node, users) in per_node {
            self.enqueue(Outgoing::Deliver { node, users, frame: Arc::clone(frame) });
        }
    }

    fn deliver_to_devices(
        &self,
        user: UserId,
        devices: &[DeviceId],
        except: Option<&SessionAt>,
        frame: &Arc<Outbound>,
    ) {
        self.shared.hub.deliver_to_devices(user, devices, except.and_then(SessionAt::here), frame);
        for (node, devices) in self.shared.mirror.nodes_with_devices(user, devices) {
            let except = except.filter(|e| e.node.as_ref() == Some(&node)).map(|e| e.id);
            self.enqueue(Outgoing::Devices { node, user, devices, except, frame: Arc::clone(frame) });
        }
    }

    fn online_devices(&self, user: UserId) -> Vec<DeviceId> {
        let mut devices = self.shared.hub.online_devices(user);
        self.shared.mirror.add_devices(user, &mut devices);
        devices
    }

    fn device_online(&self, user: UserId, device: &DeviceId) -> bool {
        self.shared.hub.device_online(user, device) || self.shared.mirror.device_online(user, device)
    }

    fn kick(&self, user: UserId, which: Sessions, reason: &'static str) {
        kick_local(&self.shared.hub, user, &which, reason);
        let token_hash = match which {
            Sessions::All => None,
            Sessions::Token(hash) => Some(hash),
        };
        self.enqueue(Outgoing::Broadcast(Body::Kick(wire::Kick { user, token_hash, reason: reason.to_owned() })));
    }

    fn devices(&self, user: UserId) -> u32 {
        count(self.shared.hub.device_count(user) + self.shared.mirror.session_count(user))
    }

    fn invalidate(&self, what: Invalidation) {
        self.shared.caches.apply(&what);
        self.enqueue(Outgoing::Broadcast(Body::Invalidate(wire::Invalidate::from(&what))));
    }

    fn calls(&self) -> Option<&dyn CallRoute> {
        Some(self)
    }

    fn report(&self) -> Option<BusReport> {
        let s = &self.shared.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Some(BusReport {
            published: get(&s.published),
            broadcast: get(&s.broadcast),
            received: get(&s.received),
            received_broadcast: get(&s.received_broadcast),
            dropped: get(&s.dropped),
            publish_failures: get(&s.publish_failures),
            reconnects: get(&s.reconnects),
            nodes: self.shared.mirror.known().len() as u64,
            connected: s.connected.load(Ordering::Relaxed),
            node_id_clash: self
                .shared
                .clash
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_deref()
                .map(str::to_owned),
        })
    }
}

fn kick_local(hub: &Hub, user: UserId, which: &Sessions, reason: &'static str) {
    match which {
        Sessions::All => hub.kick_where(user, reason, |_| true),
        Sessions::Token(hash) => hub.kick_where(user, reason, |s| s.session.token_hash == *hash),
    };
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The URL without its password, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &url[..scheme + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

/// One engine connection's reconnect state: an exponential backoff, and
/// whether it was lost (then the next success is a reconnect).
struct Link {
    delay: Duration,
    lost: bool,
}

impl Link {
    fn new() -> Self {
        Self { delay: BACKOFF_MIN, lost: false }
    }

    /// Connected: counts a reconnect, and has everything registered again
    /// (the engine may have restarted and forgotten us).
    fn up(&mut self, sh: &Shared) {
        self.delay = BACKOFF_MIN;
        if std::mem::take(&mut self.lost) {
            sh.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        sh.dirty.reregister();
    }

    /// The connection failed: logs it and waits the next delay; true if
    /// stopped meanwhile.
    async fn retry(&mut self, what: &str, e: impl std::fmt::Display + Send, stop: &CancellationToken) -> bool {
        tracing::warn!(error = %e, "cluster bus: redis unreachable or failed ({what}); reconnecting");
        self.lost = true;
        let delay = self.delay;
        self.delay = (delay * 2).min(BACKOFF_MAX);
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            () = stop.cancelled() => true,
        }
    }
}

/// A connection for commands. Its timeouts are the redis crate's
/// defaults made longer: a whole node's registry (a large HGETALL) must
/// not time out, a hung engine must not hold the publisher for long.
async fn command_connection(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(10)));
    client.get_multiplexed_async_connection_with_config(&config).await
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The publisher: sends queued deliveries, presence and heartbeats, and
/// keeps this node's registry entry.
async fn publisher(sh: Arc<Shared>, client: redis::Client, mut rx: mpsc::Receiver<Outgoing>, stop: CancellationToken) {
    // Consecutive per node; starting from the clock keeps a restarted node
    // with a fixed id ahead of what the others hold for it.
    let mut version = unix_micros();
    let mut conn: Option<MultiplexedConnection> = None;
    let mut link = Link::new();
    let mut heartbeat = tokio::time::interval(sh.ttl / 3);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        let Some(c) = conn.as_mut() else {
            match command_connection(&client).await {
                Ok(c) => {
                    conn = Some(c);
                    link.up(&sh);
                }
                Err(e) => {
                    if link.retry("publisher", e, &stop).await {
                        return;
                    }
                }
            }
            continue;
        };
        let result = tokio::select! {
            () = stop.cancelled() => {
                // What services queued before the stop still goes out.
                while let Ok(item) = rx.try_recv() {
                    batch.push(item);
                }
                let _ = publish(&sh, c, &mut batch).await;
                version += 1;
                if let Err(e) = deregister(&sh, c, version).await {
                    tracing::warn!(error = %e, "cluster bus: could not deregister");
                }
                return;
            }
            () = sh.dirty.wake.notified() => register(&sh, c, &mut version).await,
            n = rx.recv_many(&mut batch, PUBLISH_BATCH) => {
                if n == 0 {
                    return;
                }
                // Presence first: see `Outgoing::Presence`.
                match register(&sh, c, &mut version).await {
                    Ok(()) => publish(&sh, c, &mut batch).await,
                    Err(e) => {
                        sh.stats.publish_failures.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        batch.clear();
                        Err(e)
                    }
                }
            }
            _ = heartbeat.tick() => match register(&sh, c, &mut version).await {
                Ok(()) => alive(&sh, c, version).await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            conn = None;
            if link.retry("publisher", e, &stop).await {
                return;
            }
        }
    }
}

/// Publishes `batch` (emptied) in one pipeline.
async fn publish(sh: &Shared, c: &mut MultiplexedConnection, batch: &mut Vec<Outgoing>) -> redis::RedisResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    let (mut targeted, mut broadcast, mut releases) = (0, 0, 0);
    for item in batch.iter() {
        let (channel, body) = match item {
            Outgoing::Presence => continue,
            Outgoing::Deliver { node, users, frame } => {
                targeted += 1;
                (node_channel(node), Body::Deliver(wire::Deliver { users: users.clone(), frame: frame_bytes(frame) }))
            }
            Outgoing::Devices { node, user, devices, except, frame } => {
                targeted += 1;
                let body = wire::Devices {
                    user: *user,
                    devices: devices.clone(),
                    frame: frame_bytes(frame),
                    except_session: *except,
                };
                (node_channel(node), Body::Devices(body))
            }
            Outgoing::Targeted { node, body } => {
                targeted += 1;
                (node_channel(node), body.clone())
            }
            Outgoing::Release { call, users } => {
                pipe.cmd("EVAL")
                    .arg(calls::RELEASE)
                    .arg(2)
                    .arg(calls::claim_key(users[0]))
                    .arg(calls::claim_key(users[1]))
                    .arg(call.to_string())
                    .ignore();
                releases += 1;
                continue;
            }
            Outgoing::Broadcast(body) => {
                broadcast += 1;
                (ALL.to_owned(), body.clone())
            }
        };
        pipe.publish(channel, envelope(sh, body).encode_to_vec()).ignore();
    }
    let n = targeted + broadcast;
    batch.clear();
    if n + releases == 0 {
        return Ok(());
    }
    match pipe.query_async::<()>(c).await {
        Ok(()) => {
            sh.stats.published.fetch_add(targeted, Ordering::Relaxed);
            sh.stats.broadcast.fetch_add(broadcast, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            sh.stats.publish_failures.fetch_add(n, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// The frame's protobuf bytes: encoded once (cached in the `Outbound`,
/// shared with this node's sessions and every other node's publish).
fn frame_bytes(frame: &Outbound) -> Bytes {
    frame.protobuf().clone()
}

/// Writes and announces the sessions of the users marked dirty (or, after a
/// loss, of every user here, replacing what the engine held of us).
async fn register(sh: &Shared, c: &mut MultiplexedConnection, version: &mut u64) -> redis::RedisResult<()> {
    if !sh.dirty.pending() {
        return Ok(());
    }
    let everything = sh.dirty.all.swap(false, Ordering::SeqCst);
    // Taken before reading the hub: a change after this is marked again.
    let mut users = sh.dirty.take();
    if everything {
        users = sh.hub.users();
    }
    if users.is_empty() && !everything {
        return Ok(());
    }
    let key = sessions_key(&sh.node);
    // No sessions at all after a loss: still one (empty) registration, so
    // the others learn our version.
    let chunks: Vec<&[UserId]> = if users.is_empty() { vec![&[]] } else { users.chunks(PRESENCE_CHUNK).collect() };
    for (i, chunk) in chunks.into_iter().enumerate() {
        *version += 1;
        let reset = everything && i == 0;
        let entries: Vec<wire::UserDevices> =
            chunk.iter().map(|&user| wire::UserDevices { user, devices: sh.hub.session_devices(user) }).collect();
        let mut pipe = redis::pipe();
        pipe.atomic();
        if reset {
            pipe.del(&key).ignore();
        }
        let mut hset = redis::cmd("HSET");
        hset.arg(&key).arg(VERSION_FIELD).arg(*version).arg(NODE_ID_FIELD).arg(sh.node_id);
        let mut gone = Vec::new();
        for e in &entries {
            if e.devices.is_empty() {
                gone.push(e.user);
            } else {
                hset.arg(e.user).arg(e.devices.join("\n"));
            }
        }
        pipe.add_command(hset).ignore();
        if !gone.is_empty() {
            pipe.hdel(&key, gone).ignore();
        }
        pipe.pexpire(&key, ttl_ms(sh)).ignore();
        pipe.zadd(NODES, sh.node.as_ref(), now_ms()).ignore();
        let presence = wire::Presence { version: *version, reset, users: entries, leaving: false };
        pipe.publish(ALL, envelope(sh, Body::Presence(presence)).encode_to_vec()).ignore();
        pipe.query_async::<()>(c).await?;
        sh.stats.broadcast.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Refreshes this node's registry TTL and says it is alive.
async fn alive(sh: &Shared, c: &mut MultiplexedConnection, version: u64) -> redis::RedisResult<()> {
    let key = sessions_key(&sh.node);
    let envelope = envelope(sh, Body::Alive(wire::Alive { version }));
    let mut pipe = redis::pipe();
    // The claims of the calls this node holds, written again: they outlive
    // an engine restart, and expire within the TTL should this node die.
    for (claim, call) in sh.calls.held() {
        pipe.cmd("SET").arg(claim).arg(call).arg("PX").arg(ttl_ms(sh)).ignore();
    }
    let (refreshed,): (bool,) = pipe
        .pexpire(&key, ttl_ms(sh))
        .zadd(NODES, sh.node.as_ref(), now_ms())
        .ignore()
        // The index forgets nodes silent for ten TTLs (their hashes are long gone).
        .zrembyscore(NODES, "-inf", now_ms().saturating_sub(10 * ttl_ms(sh).unsigned_abs()))
        .ignore()
        .publish(ALL, envelope.encode_to_vec())
        .ignore()
        .query_async(c)
        .await?;
    sh.stats.broadcast.fetch_add(1, Ordering::Relaxed);
    if !refreshed {
        // The engine lost our entry (restarted without us noticing, or
        // flushed): write it again.
        sh.dirty.reregister();
    }
    Ok(())
}

/// Removes this node from the registry and tells the others to forget it.
async fn deregister(sh: &Shared, c: &mut MultiplexedConnection, version: u64) -> redis::RedisResult<()> {
    let presence = wire::Presence { version, reset: true, users: Vec::new(), leaving: true };
    let envelope = envelope(sh, Body::Presence(presence));
    redis::pipe()
        .del(sessions_key(&sh.node))
        .ignore()
        .zrem(NODES, sh.node.as_ref())
        .ignore()
        .publish(ALL, envelope.encode_to_vec())
        .ignore()
        .query_async::<()>(c)
        .await
}

/// A message from this node.
fn envelope(sh: &Shared, body: Body) -> Envelope {
    Envelope { from: sh.node.to_string(), body: Some(body), node_id: u32::from(sh.node_id) }
}

fn ttl_ms(sh: &Shared) -> i64 {
    i64::try_from(sh.ttl.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> u64 {
    unix_micros() / 1000
}

/// The receiver: applies what other nodes publish, and keeps the mirror.
async fn receiver(sh: Arc<Shared>, client: redis::Client, stop: CancellationToken) {
    let mut link = Link::new();
    loop {
        let connected = tokio::select! {
            r = subscribe(&sh, &client) => r,
            () = stop.cancelled() => return,
        };
        let (mut pubsub, mut cmd) = match connected {
            Ok(c) => c,
            Err(e) => {
                if link.retry("subscriber", e, &stop).await {
                    return;
                }
                continue;
            }
        };
        link.up(&sh);
        sh.stats.connected.store(true, Ordering::Relaxed);
        let mut messages = pubsub.on_message();
        let mut reap = tokio::time::interval(sh.ttl / 3);
        let lost: Box<dyn std::fmt::Display + Send> = loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(m) => {
                        if let Err(e) = receive(&sh, &mut cmd, m.get_payload_bytes()).await {
                            break Box::new(e);
                        }
                    }
                    None => break Box::new("the subscription closed"),
                },
                _ = reap.tick() => {
                    let dead = sh.mirror.reap(sh.ttl);
                    for node in &dead {
                        tracing::info!(node = %node, "cluster bus: node silent for the presence TTL, forgotten");
                        forget_node_id(&sh, node);
                    }
                    if !dead.is_empty() {
                        sh.calls.presence_changed(PresenceNews::Everyone);
                    }
                    sh.calls.reap();
                }
                () = stop.cancelled() => return,
            }
        };
        sh.stats.connected.store(false, Ordering::Relaxed);
        drop(messages);
        if link.retry("subscriber", lost, &stop).await {
            return;
        }
    }
}

/// Subscribes, then loads every other node's sessions (after subscribing:
/// what changes meanwhile arrives as messages with later versions).
async fn subscribe(
    sh: &Shared,
    client: &redis::Client,
) -> redis::RedisResult<(redis::aio::PubSub, MultiplexedConnection)> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&[node_channel(&sh.node), ALL.to_owned()]).await?;
    let mut cmd = command_connection(client).await?;
    let listed: Vec<String> = cmd.zrange(NODES, 0, -1).await?;
    for node in sh.mirror.known() {
        if !listed.iter().any(|l| **l == *node) {
            sh.mirror.forget(&node);
        }
    }
    for node in listed.into_iter().filter(|n| **n != *sh.node) {
        reload(sh, &mut cmd, &node.into()).await?;
    }
    sh.calls.presence_changed(PresenceNews::Everyone);
    Ok((pubsub, cmd))
}

/// Keeps the map from `node_id` to node name, and notices a clash: another
/// node saying it has ours (one of the two was misconfigured).
fn note_node_id(sh: &Shared, from: &NodeName, node_id: u32) {
    let Ok(id) = u16::try_from(node_id) else { return };
    if id == sh.node_id {
        let mut clash = sh.clash.lock().unwrap_or_else(PoisonError::into_inner);
        if clash.as_ref() != Some(from) {
            tracing::error!(
                node = %from, node_id = id,
                "cluster bus: another node has this node's node_id; message and call ids can clash. \
                 Give every node its own node_id. Not ready until it is gone."
            );
            *clash = Some(NodeName::clone(from));
        }
        return;
    }
    if sh.ids.get(&id).is_none_or(|n| *n != *from) {
        sh.ids.insert(id, NodeName::clone(from));
    }
}

/// `node` is gone: so is its `node_id`, and a clash with it.
fn forget_node_id(sh: &Shared, node: &NodeName) {
    sh.ids.retain(|_, n| n != node);
    let mut clash = sh.clash.lock().unwrap_or_else(PoisonError::into_inner);
    if clash.as_ref() == Some(node) {
        tracing::info!(node = %node, "cluster bus: the node sharing this node's node_id is gone");
        *clash = None;
    }
}

/// Replaces what the mirror holds of `node` with its registry hash (none:
/// the node is gone).
async fn reload(sh: &Shared, cmd: &mut MultiplexedConnection, node: &NodeName) -> redis::RedisResult<()> {
    let fields: Vec<(String, String)> = cmd.hgetall(sessions_key(node)).await?;
    sh.mirror.forget(node);
    let Some(version) = fields.iter().find(|(f, _)| f == VERSION_FIELD).and_then(|(_, v)| v.parse().ok()) else {
        return Ok(());
    };
    if let Some(id) = fields.iter().find(|(f, _)| f == NODE_ID_FIELD).and_then(|(_, v)| v.parse().ok()) {
        note_node_id(sh, node, id);
    }
    let users = fields.into_iter().filter_map(|(field, devices)| {
        let user: UserId = field.parse().ok()?;
        Some((user, devices.split('\n').map(str::to_owned).collect()))
    });
    sh.mirror.apply(node, version, users);
    Ok(())
}

/// Applies one message.
async fn receive(sh: &Shared, cmd: &mut MultiplexedConnection, payload: &[u8]) -> redis::RedisResult<()> {
    let Ok(Envelope { from, body: Some(body), node_id }) = Envelope::decode(payload) else {
        tracing::warn!("cluster bus: a message that does not decode, ignored");
        return Ok(());
    };
    if *from == *sh.node {
        return Ok(());
    }
    let from: NodeName = from.into();
    sh.mirror.touch(&from);
    if !matches!(body, Body::Presence(wire::Presence { leaving: true, .. })) {
        note_node_id(sh, &from, node_id);
    }
    let stats = &sh.stats;
    match body {
        Body::Deliver(d) => {
            stats.received.fetch_add(1, Ordering::Relaxed);
            if let Some(frame) = Outbound::from_protobuf(d.frame) {
                for user in d.users {
                    sh.hub.deliver(user, &frame);
                }
            }
        }
        Body::Devices(d) => {
            stats.received.fetch_add(1, Ordering::Relaxed);
            if let Some(frame) = Outbound::from_protobuf(d.frame) {
                let devices: Vec<DeviceId> = d.devices.into_iter().map(DeviceId::from).collect();
                sh.hub.deliver_to_devices(d.user, &devices, d.except_session, &frame);
            }
        }
        Body::Kick(k) => {
            stats.received_broadcast.fetch_add(1, Ordering::Relaxed);
            let which = k.token_hash.map_or(Sessions::All, Sessions::Token);
            kick_local(&sh.hub, k.user, &which, wire::kick_reason(&k.reason));
        }
        Body::Invalidate(i) => {
            stats.received_broadcast.fetch_add(1, Ordering::Relaxed);
            if let Some(what) = i.to_invalidation() {
                sh.caches.apply(&what);
            }
        }
        Body::Presence(p) => {
            stats.received_broadcast.fetch_add(1, Ordering::Relaxed);
            let known = sh.mirror.version(&from);
            let news = if p.leaving {
                sh.mirror.forget(&from);
                forget_node_id(sh, &from);
                PresenceNews::Everyone
            } else if p.reset {
                sh.mirror.forget(&from);
                sh.mirror.apply(&from, p.version, p.users.into_iter().map(|u| (u.user, u.devices)));
                PresenceNews::Everyone
            } else if known.is_some_and(|v| p.version <= v) {
                // Already in the snapshot this node loaded.
                return Ok(());
            } else if known.is_some_and(|v| p.version == v + 1) {
                let users = p.users.iter().map(|u| u.user).collect();
                sh.mirror.apply(&from, p.version, p.users.into_iter().map(|u| (u.user, u.devices)));
                PresenceNews::Users(users)
            } else {
                // A node not seen before, or a gap: take its registry.
                reload(sh, cmd, &from).await?;
                PresenceNews::Everyone
            };
            sh.calls.presence_changed(news);
        }
        Body::Alive(a) => {
            stats.received_broadcast.fetch_add(1, Ordering::Relaxed);
            if sh.mirror.version(&from) != Some(a.version) {
                reload(sh, cmd, &from).await?;
                sh.calls.presence_changed(PresenceNews::Everyone);
            }
        }
        Body::CallRequest(r) => {
            stats.received.fetch_add(1, Ordering::Relaxed);
            if let Err((id, e)) = sh.calls.request(NodeName::clone(&from), r) {
                let body = Body::CallReply(calls::reply_of(id, Err(e)));
                let mut c = cmd.clone();
                redis::cmd("PUBLISH")
                    .arg(node_channel(&from))
                    .arg(envelope(sh, body).encode_to_vec())
                    .query_async::<()>(&mut c)
                    .await?;
            }
        }
        Body::CallReply(r) => {
            stats.received.fetch_add(1, Ordering::Relaxed);
            sh.calls.reply(r);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_the_log() {
        assert_eq!(redact("redis://user:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }

    #[tokio::test(start_paused = true)]
    async fn reconnects_back_off_up_to_a_cap_and_stop_when_told() {
        let mut link = Link::new();
        let stop = CancellationToken::new();
        let mut delays = Vec::new();
        for _ in 0..8 {
            let started = tokio::time::Instant::now();
            assert!(!link.retry("test", "down", &stop).await);
            delays.push(started.elapsed());
        }
        assert_eq!(delays[0], BACKOFF_MIN);
        assert_eq!(delays[1], BACKOFF_MIN * 2);
        assert_eq!(*delays.last().expect("eight"), BACKOFF_MAX);
        assert!(link.lost);
        stop.cancel();
        assert!(link.retry("test", "down", &stop).await, "a stopped bus does not wait");
    }
}
