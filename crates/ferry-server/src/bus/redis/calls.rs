//! [`CallRoute`] over Redis (see `bus/calls.rs` for the design).
//!
//! Claims are one key per user, `ferry:call:user:<id>`, holding the call id
//! with the presence TTL: taken for both users at once by a script (all or
//! nothing), written again by the owner on every heartbeat while the call
//! lives (so they survive an engine restart and expire with a dead owner),
//! and deleted when it ends — only while they still name that call.
//! Requests and answers travel on the nodes' own channels, through the
//! publisher queue in line with everything else this node publishes.

use std::{
    collections::HashMap,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use dashmap::DashMap;
use ferry_core::{
    ApiError, ErrorCode, UserId,
    call::{CallId, Endpoint},
};
use ferry_proto::v1;
use futures_util::future::BoxFuture;
use prost::Message as _;
use redis::aio::MultiplexedConnection;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{Outgoing, RedisBus, command_connection, ttl_ms};
use crate::bus::{
    NodeName,
    calls::{Answer, CallFeed, CallRoute, Claim, PresenceNews, RemoteRequest},
    wire::{self, Body},
};

/// Requests from other nodes waiting for the call service.
const REQUEST_QUEUE: usize = 4096;
/// Presence news waiting for the call service.
const PRESENCE_QUEUE: usize = 1024;
/// A forwarded request whose answer has not come by then is forgotten (the
/// caller stopped waiting long before).
const PENDING_TTL: Duration = Duration::from_secs(60);

/// Takes both claims or neither: 0 taken, 1 the caller is busy, 2 the callee.
const CLAIM: &str = r"
local c = redis.call('GET', KEYS[1])
if c and c ~= ARGV[1] then return 1 end
local e = redis.call('GET', KEYS[2])
if e and e ~= ARGV[1] then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 0
";

/// Deletes the claims that still name the call.
pub(super) const RELEASE: &str = r"
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end
end
return 0
";

pub(super) fn claim_key(user: UserId) -> String {
    format!("ferry:call:user:{user}")
}

/// The call side of the cluster bus's shared state.
pub(super) struct CallState {
    client: redis::Client,
    /// For claims (the publisher's connection is busy with its batches).
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// The claims this node holds: call → its two users.
    claims: Mutex<HashMap<CallId, [UserId; 2]>>,
    /// Forwarded requests waiting for their answer.
    pending: DashMap<u64, (Instant, oneshot::Sender<Answer>)>,
    next_request: AtomicU64,
    requests: mpsc::Sender<RemoteRequest>,
    presence: mpsc::Sender<PresenceNews>,
    feed: Mutex<Option<CallFeed>>,
}

impl CallState {
    pub(super) fn new(client: redis::Client) -> Self {
        let (requests, requests_rx) = mpsc::channel(REQUEST_QUEUE);
        let (presence, presence_rx) = mpsc::channel(PRESENCE_QUEUE);
        Self {
            client,
            conn: tokio::sync::Mutex::new(None),
            claims: Mutex::default(),
            pending: DashMap::new(),
            next_request: AtomicU64::new(1),
            requests,
            presence,
            feed: Mutex::new(Some(CallFeed { requests: requests_rx, presence: presence_rx })),
        }
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, [UserId; 2]>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The claims to write again (heartbeat): (key, call id) pairs.
    pub(super) fn held(&self) -> Vec<(String, String)> {
        self.claims()
            .iter()
            .flat_map(|(call, users)| users.iter().map(move |&u| (claim_key(u), call.to_string())))
            .collect()
    }

    /// Someone's sessions elsewhere changed. (A full queue drops the news:
    /// a later change, or the next node event, brings the calls in line.)
    pub(super) fn presence_changed(&self, news: PresenceNews) {
        if self.presence.try_send(news).is_err() {
            let _ = self.presence.try_send(PresenceNews::Everyone);
        }
    }

    /// A request from `from` for a call here.
    pub(super) fn request(&self, from: NodeName, r: wire::CallRequest) -> Result<(), (u64, ApiError)> {
        let request = v1::CallRequest::decode(r.request)
            .map_err(|_| (r.id, ApiError::new(ErrorCode::Internal, "a forwarded call request did not decode")))?;
        let remote =
            RemoteRequest { from, id: r.id, endpoint: Endpoint::new(r.user, r.device), session: r.session, request };
        self.requests.try_send(remote).map_err(|_| (r.id, ApiError::new(ErrorCode::Unavailable, "calls overloaded")))
    }

    /// The answer to a request this node forwarded.
    pub(super) fn reply(&self, r: wire::CallReply) {
        let Some((_, (_, waiting))) = self.pending.remove(&r.id) else { return };
        let answer = match r.ack {
            Some(ack) => v1::CallAck::decode(ack)
                .map_err(|_| ApiError::new(ErrorCode::Internal, "a forwarded call answer did not decode")),
            None => Err(ApiError::new(ErrorCode::parse(&r.error_code).unwrap_or(ErrorCode::Internal), r.error_message)),
        };
        let _ = waiting.send(answer);
    }

    /// Forgets forwarded requests nobody waits for any more.
    pub(super) fn reap(&self) {
        let now = Instant::now();
        self.pending.retain(|_, (since, waiting)| !waiting.is_closed() && now.duration_since(*since) < PENDING_TTL);
    }

    async fn connection(&self) -> Result<MultiplexedConnection, ApiError> {
        let mut conn = self.conn.lock().await;
        if let Some(c) = conn.as_ref() {
            return Ok(c.clone());
        }
        let c = command_connection(&self.client).await.map_err(unreachable)?;
        *conn = Some(c.clone());
        Ok(c)
    }

    async fn forget_connection(&self) {
        *self.conn.lock().await = None;
    }
}

fn unreachable(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "cluster bus: call claim failed");
    ApiError::new(ErrorCode::Unavailable, "calls need the cluster bus, which is unreachable; try again")
}

/// The wire form of an answer.
pub(super) fn reply_of(id: u64, answer: Answer) -> wire::CallReply {
    match answer {
        Ok(ack) => wire::CallReply {
            id,
            ack: Some(ack.encode_to_vec().into()),
            error_code: String::new(),
            error_message: String::new(),
        },
        Err(e) => wire::CallReply { id, ack: None, error_code: e.code.as_str().into(), error_message: e.message },
    }
}

impl CallRoute for RedisBus {
    fn node_id(&self) -> u16 {
        self.shared.node_id
    }

    fn claim(&self, call: CallId, caller: UserId, callee: UserId) -> BoxFuture<'static, Result<Claim, ApiError>> {
        let sh = std::sync::Arc::clone(&self.shared);
        Box::pin(async move {
            let mut c = sh.calls.connection().await?;
            let found: redis::RedisResult<i64> = redis::cmd("EVAL")
                .arg(CLAIM)
                .arg(2)
                .arg(claim_key(caller))
                .arg(claim_key(callee))
                .arg(call.to_string())
                .arg(ttl_ms(&sh))
                .query_async(&mut c)
                .await;
            match found {
                Ok(0) => {
                    sh.calls.claims().insert(call, [caller, callee]);
                    Ok(Claim::Taken)
                }
                Ok(1) => Ok(Claim::CallerBusy),
                Ok(_) => Ok(Claim::CalleeBusy),
                Err(e) => {
                    sh.calls.forget_connection().await;
                    Err(unreachable(e))
                }
            }
        })
    }

    fn release(&self, call: CallId) {
        let Some(users) = self.shared.calls.claims().remove(&call) else { return };
        // In line with what this node publishes, and flushed by a stopping
        // node before it leaves. (Should it be lost, the claims are no
        // longer written again and expire with the TTL.)
        self.enqueue(Outgoing::Release { call, users });
    }

    fn forward(
        &self,
        owner: u16,
        endpoint: &Endpoint,
        session: u64,
        request: v1::CallRequest,
    ) -> Result<oneshot::Receiver<Answer>, ApiError> {
        let Some(node) = self.shared.ids.get(&owner).map(|n| NodeName::clone(&n)) else {
            return Err(ApiError::not_found("no such call (the node holding it is gone)"));
        };
        let calls = &self.shared.calls;
        let id = calls.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        calls.pending.insert(id, (Instant::now(), tx));
        let body = Body::CallRequest(wire::CallRequest {
            id,
            user: endpoint.user,
            device: endpoint.device.as_str().to_owned(),
            session,
            request: request.encode_to_vec().into(),
        });
        self.enqueue(Outgoing::Targeted { node, body });
        Ok(rx)
    }

    fn answer(&self, to: &NodeName, id: u64, answer: Answer) {
        self.enqueue(Outgoing::Targeted { node: NodeName::clone(to), body: Body::CallReply(reply_of(id, answer)) });
    }

    fn take_feed(&self) -> Option<CallFeed> {
        self.shared.calls.feed.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}
