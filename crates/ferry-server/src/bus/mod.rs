//! The delivery seam: how services reach sessions and node-local caches.
//!
//! Services never touch the [`Hub`](crate::hub::Hub) (this node's sockets)
//! directly; they hold an `Arc<dyn Bus>` and ask it to deliver a frame to
//! users, to kick sessions, to count a user's live devices, or to drop a
//! cache entry that a change made stale. On a single node [`LocalBus`]
//! answers all of it from the hub and the caches in this process; a cluster
//! backend (Redis or NATS) implements the same trait by also publishing to
//! the other nodes: [`RedisBus`] (`redis.rs`, with `mirror.rs` holding this
//! node's copy of who is connected where, and `wire.rs` what nodes say to
//! each other). Typing, receipts, call signaling and the like are ordinary
//! deliveries through it. Nothing outside this module talks to the engine.
//!
//! Every method returns at once: deliveries land in bounded per-session
//! queues (a full queue kicks that session as a slow consumer), and what is
//! bound for other nodes in the cluster bus's bounded publish queue (full:
//! dropped and counted), so a caller never waits on a receiver or on the
//! network. A push that is lost on the way is recovered by the client,
//! which pulls what it misses (a seq gap, or a reconnect): the message
//! model never relies on a push arriving.

pub mod calls;
mod local;
mod mirror;
mod redis;
mod wire;

use std::sync::Arc;

use ferry_core::{DeviceId, UserId};

pub use local::LocalBus;
pub use mirror::NodeName;
pub use redis::{BusTasks, RedisBus};

use crate::hub::{Outbound, SessionHandle};

/// A connection somewhere in the cluster: its hub id on the node holding
/// it (`node`: `None` for this node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAt {
    pub node: Option<NodeName>,
    pub id: u64,
}

impl SessionAt {
    /// A connection of this node.
    pub fn local(id: u64) -> Self {
        Self { node: None, id }
    }

    /// Its id, if it is a connection of this node.
    pub fn here(&self) -> Option<u64> {
        self.node.is_none().then_some(self.id)
    }
}

/// Which sessions of a user a kick closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sessions {
    /// Every session of the user (ban, account disabled).
    All,
    /// Sessions authenticated with this token (logout, replaced login).
    Token(Vec<u8>),
}

/// A node-local cache entry that a committed change made stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// An account's profile or status (the user cache).
    User(UserId),
    /// A revoked session token (the session cache).
    Session(Vec<u8>),
    /// A group's settings (the send-check facts).
    Group(i64),
    /// One user's membership of a group (role, mute, joined, left).
    Member { group: i64, user: UserId },
    /// A group's member list (fan-out).
    MemberList(i64),
    /// A user's blocklist.
    Blocks(UserId),
    /// A user's friends, and with them whom their presence reaches.
    Friends(UserId),
    /// Whom a user's presence reaches (a first direct message adds a peer).
    Peers(UserId),
}

/// Delivery, kicks, presence counts and cache invalidation, for one node or
/// a cluster.
pub trait Bus: Send + Sync {
    /// Adds a live session on this node; returns the user's device count
    /// after it (1 = the user just came online).
    fn attach(&self, session: Arc<SessionHandle>) -> u32;
    /// Removes a session; returns the user's device count after it (0 = the
    /// user just went offline).
    fn detach(&self, user: UserId, session_id: u64) -> u32;
    /// Pushes `frame` to every live session of each of `users`.
    fn deliver(&self, users: &[UserId], frame: &Arc<Outbound>);
    /// Pushes `frame` to the live sessions of `user` logged in on one of
    /// `devices`, except connection `except` (call signaling: a call is
    /// between devices, and the connection that caused a signal has its
    /// answer).
    fn deliver_to_devices(&self, user: UserId, devices: &[DeviceId], except: Option<&SessionAt>, frame: &Arc<Outbound>);
    /// The distinct devices `user` has live sessions on.
    fn online_devices(&self, user: UserId) -> Vec<DeviceId>;
    /// Whether `user` has a live session on `device`.
    fn device_online(&self, user: UserId, device: &DeviceId) -> bool;
    /// Closes `user`'s sessions matching `which`, telling them `reason`.
    fn kick(&self, user: UserId, which: Sessions, reason: &'static str);
    /// Live sessions (devices) of `user`.
    fn devices(&self, user: UserId) -> u32;
    /// Drops a stale cache entry wherever it is cached.
    fn invalidate(&self, what: Invalidation);
    /// Calls across nodes (`None` on a single node, where every call is in
    /// this node's registry).
    fn calls(&self) -> Option<&dyn calls::CallRoute> {
        None
    }
    /// The cluster bus's counters (`None` on a single node).
    fn report(&self) -> Option<BusReport> {
        None
    }
}

/// A snapshot of the cluster bus's counters, for `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusReport {
    /// Frames published to one other node (a fan-out: one per node).
    pub published: u64,
    /// Messages published to every node (kicks, invalidations, presence).
    pub broadcast: u64,
    /// Frames received for this node's sessions.
    pub received: u64,
    /// Messages received from every node's broadcasts (not our own).
    pub received_broadcast: u64,
    /// Dropped because the publish queue was full.
    pub dropped: u64,
    /// Lost because the engine failed or was unreachable.
    pub publish_failures: u64,
    /// Connections to the engine re-established after a loss.
    pub reconnects: u64,
    /// Other nodes known now.
    pub nodes: u64,
    /// Whether the subscription is up now.
    pub connected: bool,
    /// Another live node uses this node's `node_id` (the name it goes by):
    /// message and call ids could clash.
    pub node_id_clash: Option<String>,
}
