//! Calls across nodes: what the call service needs from a cluster bus.
//!
//! A call lives in the registry of the node that placed it, its *owner*,
//! whose `node_id` is the top 16 bits of the call id
//! ([`CallId::minted`](ferry_core::call::CallId::minted)); one state
//! machine per call, never a replicated one. Around it the bus provides:
//! - **claims**: a cluster-wide "in a call" mark per user, taken for both
//!   users when a call is placed (atomically, in the engine), re-asserted by
//!   the owner while the call lives and released when it ends, expiring
//!   with the presence TTL if the owner dies, so a user is busy for calls
//!   placed on any node;
//! - **forwarding**: a request from a client on another node (accept, ICE,
//!   hangup…) goes to the owner, which steps the call and sends the answer
//!   back for that client's connection (its pushes go to every other
//!   connection through ordinary device deliveries);
//! - **presence news**: the owner hears which users' sessions on other
//!   nodes changed, and brings its calls in line (a callee device coming
//!   online elsewhere rings, a party's device gone everywhere is away).

use ferry_core::{
    ApiError, UserId,
    call::{CallId, Endpoint},
};
use ferry_proto::v1;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::NodeName;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Both users are now marked as in this call.
    Taken,
    /// The caller is in another call (nothing was claimed).
    CallerBusy,
    /// The callee is in another call (nothing was claimed).
    CalleeBusy,
}

/// A call request made by a client on another node, for a call this node
/// owns.
#[derive(Debug)]
pub struct RemoteRequest {
    /// The node holding the client's connection, which gets the answer.
    pub from: NodeName,
    /// The request's id on that node.
    pub id: u64,
    pub endpoint: Endpoint,
    /// The connection's id on `from`.
    pub session: u64,
    pub request: v1::CallRequest,
}

/// Whose sessions on other nodes changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceNews {
    Users(Vec<UserId>),
    /// Possibly anyone's (a node appeared, vanished, or was reloaded).
    Everyone,
}

/// What the call service receives from the bus.
pub struct CallFeed {
    pub requests: mpsc::Receiver<RemoteRequest>,
    pub presence: mpsc::Receiver<PresenceNews>,
}

/// The answer to a forwarded request.
pub type Answer = Result<v1::CallAck, ApiError>;

/// Calls across the nodes of a cluster (see the module docs).
pub trait CallRoute: Send + Sync {
    /// This node's `node_id`, the owner part of the call ids it mints.
    fn node_id(&self) -> u16;
    /// Marks `caller` and `callee` as in call `call` unless either is in
    /// another call. Fails when the engine cannot be reached.
    fn claim(&self, call: CallId, caller: UserId, callee: UserId) -> BoxFuture<'static, Result<Claim, ApiError>>;
    /// The call ended: its users are free (a call never claimed: nothing).
    fn release(&self, call: CallId);
    /// Sends a client's request to the node owning the call; the answer
    /// arrives on the receiver. `not_found` if that node is not (or no
    /// longer) part of the cluster: its calls ended with it.
    fn forward(
        &self,
        owner: u16,
        endpoint: &Endpoint,
        session: u64,
        request: v1::CallRequest,
    ) -> Result<oneshot::Receiver<Answer>, ApiError>;
    /// Sends the answer to a [`RemoteRequest`] back to its node.
    fn answer(&self, to: &NodeName, id: u64, answer: Answer);
    /// The incoming requests and presence news (once; later calls: `None`).
    fn take_feed(&self) -> Option<CallFeed>;
}
