//! The session hub: the node-local map user → live sessions (every device).
//!
//! Delivering is looking up sessions and handing each an already-encoded
//! frame ([`Outbound`], shared by `Arc`, encoded at most once per wire format).
//! Each session has a bounded queue; a session whose queue is full is a slow
//! consumer and is kicked — it resyncs on reconnect — so a sender never waits
//! on a slow receiver.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use dashmap::DashMap;
use ferry_core::UserId;
use ferry_proto::{encode_frame, frame_to_json, v1};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A frame ready to go out on any transport, encoded lazily once per format.
#[derive(Debug)]
pub struct Outbound {
    frame: v1::Frame,
    protobuf: OnceLock<Bytes>,
    json: OnceLock<Utf8Bytes>,
}

impl Outbound {
    pub fn new(frame: v1::Frame) -> Arc<Self> {
        Arc::new(Self { frame, protobuf: OnceLock::new(), json: OnceLock::new() })
    }

    /// The protobuf encoding (TCP payload, WebSocket binary message).
    pub fn protobuf(&self) -> &Bytes {
        self.protobuf.get_or_init(|| encode_frame(&self.frame))
    }

    /// The proto3-JSON encoding (WebSocket text message).
    pub fn json(&self) -> &Utf8Bytes {
        self.json.get_or_init(|| Utf8Bytes::from(frame_to_json(&self.frame)))
    }

    pub fn frame(&self) -> &v1::Frame {
        &self.frame
    }
}

/// Asks a session to close, with a reason sent to the client as `Kicked`.
#[derive(Debug, Default)]
pub struct Kick {
    token: CancellationToken,
    reason: OnceLock<&'static str>,
}

impl Kick {
    /// Requests the close; the first reason wins.
    pub fn kick(&self, reason: &'static str) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Resolves when a kick was requested.
    pub async fn requested(&self) -> &'static str {
        self.token.cancelled().await;
        self.reason.get().copied().unwrap_or("kicked")
    }
}

/// The hub's handle on one live session.
#[derive(Debug)]
pub struct SessionHandle {
    pub id: u64,
    pub user_id: UserId,
    pub device_id: String,
    pub platform: String,
    pub token_hash: Vec<u8>,
    pub tx: mpsc::Sender<Arc<Outbound>>,
    pub kick: Kick,
}

/// Counters for the admin view and the benchmarks.
#[derive(Debug, Default)]
pub struct HubStats {
    pub delivered: AtomicU64,
    pub slow_consumers: AtomicU64,
}

/// The user → sessions map.
#[derive(Debug, Default)]
pub struct Hub {
    sessions: DashMap<UserId, Vec<Arc<SessionHandle>>>,
    next_id: AtomicU64,
    pub stats: HubStats,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh session id.
    pub fn next_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a session; returns the user's device count after it.
    pub fn register(&self, handle: Arc<SessionHandle>) -> usize {
        let mut entry = self.sessions.entry(handle.user_id).or_default();
        entry.push(handle);
        entry.len()
    }

    /// Removes a session; returns the user's device count after it.
    pub fn unregister(&self, user: UserId, session_id: u64) -> usize {
        let remaining = match self.sessions.get_mut(&user) {
            Some(mut list) => {
                list.retain(|s| s.id != session_id);
                list.len()
            }
            None => return 0,
        };
        if remaining == 0 {
            self.sessions.remove_if(&user, |_, list| list.is_empty());
        }
        remaining
    }

    /// Pushes `frame` to every session of `user`. Never waits: a full queue
    /// kicks that session as a slow consumer.
    pub fn deliver(&self, user: UserId, frame: &Arc<Outbound>) -> usize {
        let Some(list) = self.sessions.get(&user) else { return 0 };
        let mut delivered = 0;
        for session in list.iter() {
            match session.tx.try_send(Arc::clone(frame)) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    session.kick.kick("slow_consumer");
                }
                // The session is shutting down; it will unregister itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        self.stats.delivered.fetch_add(delivered as u64, Ordering::Relaxed);
        delivered
    }

    /// Number of live sessions (devices) of `user`.
    pub fn device_count(&self, user: UserId) -> usize {
        self.sessions.get(&user).map_or(0, |l| l.len())
    }

    /// Kicks the sessions of `user` matching `pred`; returns how many.
    pub fn kick_where(&self, user: UserId, reason: &'static str, pred: impl Fn(&SessionHandle) -> bool) -> usize {
        let Some(list) = self.sessions.get(&user) else { return 0 };
        let mut n = 0;
        for s in list.iter().filter(|s| pred(s)) {
            s.kick.kick(reason);
            n += 1;
        }
        n
    }

    /// Kicks every session on the node (shutdown).
    pub fn kick_all(&self, reason: &'static str) {
        for list in self.sessions.iter() {
            for s in list.iter() {
                s.kick.kick(reason);
            }
        }
    }

    /// Total live sessions on this node.
    pub fn session_count(&self) -> usize {
        self.sessions.iter().map(|l| l.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(hub: &Hub, user: UserId, queue: usize) -> (Arc<SessionHandle>, mpsc::Receiver<Arc<Outbound>>) {
        let (tx, rx) = mpsc::channel(queue);
        let h = Arc::new(SessionHandle {
            id: hub.next_session_id(),
            user_id: user,
            device_id: "d".into(),
            platform: "cli".into(),
            token_hash: vec![1],
            tx,
            kick: Kick::default(),
        });
        (h, rx)
    }

    fn ping() -> Arc<Outbound> {
        Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Ping(v1::Ping { client_time: 1 })) })
    }

    #[tokio::test]
    async fn delivers_the_same_bytes_to_every_device() {
        let hub = Hub::new();
        let (a, mut ra) = handle(&hub, 1, 4);
        let (b, mut rb) = handle(&hub, 1, 4);
        assert_eq!(hub.register(a.clone()), 1);
        assert_eq!(hub.register(b), 2);
        let f = ping();
        assert_eq!(hub.deliver(1, &f), 2);
        let (x, y) = (ra.recv().await.unwrap(), rb.recv().await.unwrap());
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(x.protobuf().as_ptr(), y.protobuf().as_ptr(), "encoded once");
        assert_eq!(hub.unregister(1, a.id), 1);
        assert_eq!(hub.device_count(1), 1);
    }

    #[tokio::test]
    async fn a_full_queue_kicks_the_slow_consumer_only() {
        let hub = Hub::new();
        let (slow, _keep) = handle(&hub, 1, 1);
        let (fast, mut rf) = handle(&hub, 1, 8);
        hub.register(slow.clone());
        hub.register(fast);
        hub.deliver(1, &ping());
        hub.deliver(1, &ping());
        assert_eq!(slow.kick.requested().await, "slow_consumer");
        assert!(rf.recv().await.is_some() && rf.recv().await.is_some());
        assert_eq!(hub.stats.slow_consumers.load(Ordering::Relaxed), 1);
    }
}
