//! The session hub: the node-local map user → live sessions (every device).
//!
//! Delivering is looking up sessions and handing each an already-encoded
//! frame ([`Outbound`], shared by `Arc`, encoded at most once per wire format).
//! Each session has a bounded queue ([`Outbox`]); a session whose queue is
//! full is a slow consumer and is kicked — it resyncs on reconnect — so a
//! sender never waits on a slow receiver.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use dashmap::DashMap;
use ferry_core::{DeviceId, UserId};
use ferry_proto::{decode_frame, encode_frame, frame_to_json, v1};
use ferry_store::Session;
use smallvec::SmallVec;
use tokio::sync::Notify;

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

    /// A frame another node encoded (the cluster bus): decoded once here,
    /// and its protobuf form is the bytes received, never encoded again.
    pub fn from_protobuf(bytes: Bytes) -> Option<Arc<Self>> {
        let frame = decode_frame(&bytes).ok()?;
        Some(Arc::new(Self { frame, protobuf: OnceLock::from(bytes), json: OnceLock::new() }))
    }
}

/// Asks a session to close, with a reason sent to the client as `Kicked`.
/// (A `Notify` rather than a cancellation token: one allocation less per
/// connection, and the session loop is its only waiter.)
#[derive(Debug, Default)]
pub struct Kick {
    reason: OnceLock<&'static str>,
    notify: Notify,
}

impl Kick {
    /// Requests the close; the first reason wins.
    pub fn kick(&self, reason: &'static str) {
        let _ = self.reason.set(reason);
        self.notify.notify_one();
    }

    /// Resolves when a kick was requested.
    pub async fn requested(&self) -> &'static str {
        loop {
            if let Some(reason) = self.reason.get() {
                return reason;
            }
            self.notify.notified().await;
        }
    }
}

/// A session's bounded queue of frames to write.
///
/// Lighter than a channel for what an idle connection keeps: nothing is
/// allocated until a frame is queued, and the buffer is given back once a
/// burst has drained.
#[derive(Debug)]
pub struct Outbox {
    frames: Mutex<VecDeque<Arc<Outbound>>>,
    ready: Notify,
    capacity: usize,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds `capacity` frames: a slow consumer.
    Full,
}

/// Capacity an outbox keeps after draining; a larger buffer (a burst) is
/// released.
const KEEP_CAPACITY: usize = 16;

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self { frames: Mutex::new(VecDeque::new()), ready: Notify::new(), capacity }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Outbound>>> {
        // Push and drain leave the queue valid even if a holder panicked.
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a frame; never waits.
    pub fn push(&self, frame: &Arc<Outbound>) -> Result<(), Refused> {
        {
            let mut frames = self.lock();
            if frames.len() >= self.capacity {
                return Err(Refused::Full);
            }
            frames.push_back(Arc::clone(frame));
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Moves up to `max` queued frames, oldest first, into `out`.
    pub fn take(&self, out: &mut Vec<Arc<Outbound>>, max: usize) -> usize {
        let mut frames = self.lock();
        let n = frames.len().min(max);
        out.extend(frames.drain(..n));
        if frames.is_empty() && frames.capacity() > KEEP_CAPACITY {
            *frames = VecDeque::new();
        }
        n
    }

    /// Resolves once a frame is queued (immediately if one is).
    pub async fn ready(&self) {
        loop {
            if !self.lock().is_empty() {
                return;
            }
            self.ready.notified().await;
        }
    }
}

/// The hub's handle on one live session.
#[derive(Debug)]
pub struct SessionHandle {
    pub id: u64,
    pub user_id: UserId,
    /// The device session (token hash, device, platform), shared with the
    /// authentication that opened it.
    pub session: Arc<Session>,
    pub outbox: Outbox,
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
    /// Most users have one live session: kept inline, no allocation.
    sessions: DashMap<UserId, SmallVec<[Arc<SessionHandle>; 1]>>,
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
            match session.outbox.push(frame) {
                Ok(()) => delivered += 1,
                Err(Refused::Full) => {
                    self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    session.kick.kick("slow_consumer");
                }
            }
        }
        self.stats.delivered.fetch_add(delivered as u64, Ordering::Relaxed);
        delivered
    }

    /// Pushes `frame` to the sessions of `user` logged in on one of
    /// `devices`, except session `except` (the connection whose request
    /// caused the push). Never waits, like [`deliver`](Self::deliver).
    pub fn deliver_to_devices(&self, user: UserId, devices: &[DeviceId], except: Option<u64>, frame: &Arc<Outbound>) {
        let Some(list) = self.sessions.get(&user) else { return };
        let mut delivered = 0;
        for session in list.iter() {
            if Some(session.id) == except || !devices.iter().any(|d| d.as_str() == session.session.device_id) {
                continue;
            }
            match session.outbox.push(frame) {
                Ok(()) => delivered += 1,
                Err(Refused::Full) => {
                    self.stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    session.kick.kick("slow_consumer");
                }
            }
        }
        self.stats.delivered.fetch_add(delivered, Ordering::Relaxed);
    }

    /// The distinct devices `user` has live sessions on.
    pub fn online_devices(&self, user: UserId) -> Vec<DeviceId> {
        let Some(list) = self.sessions.get(&user) else { return Vec::new() };
        let mut devices: Vec<DeviceId> = Vec::with_capacity(list.len());
        for s in list.iter() {
            if !devices.iter().any(|d| d.as_str() == s.session.device_id) {
                devices.push(DeviceId::from(s.session.device_id.as_str()));
            }
        }
        devices
    }

    /// Whether `user` has a live session on `device`.
    pub fn device_online(&self, user: UserId, device: &DeviceId) -> bool {
        self.sessions.get(&user).is_some_and(|list| list.iter().any(|s| s.session.device_id == device.as_str()))
    }

    /// The device id of each live session of `user` (a device twice = two
    /// sessions on it).
    pub fn session_devices(&self, user: UserId) -> Vec<String> {
        self.sessions
            .get(&user)
            .map(|list| list.iter().map(|s| s.session.device_id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every user with a live session on this node.
    pub fn users(&self) -> Vec<UserId> {
        self.sessions.iter().map(|entry| *entry.key()).collect()
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

    fn handle(hub: &Hub, user: UserId, queue: usize) -> Arc<SessionHandle> {
        Arc::new(SessionHandle {
            id: hub.next_session_id(),
            user_id: user,
            session: Arc::new(Session {
                token_hash: vec![1],
                user_id: user,
                device_id: "d".into(),
                platform: "cli".into(),
                created_at: 0,
            }),
            outbox: Outbox::new(queue),
            kick: Kick::default(),
        })
    }

    fn next(session: &SessionHandle) -> Option<Arc<Outbound>> {
        let mut out = Vec::new();
        session.outbox.take(&mut out, 1);
        out.pop()
    }

    fn ping() -> Arc<Outbound> {
        Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Ping(v1::Ping { client_time: 1 })) })
    }

    #[tokio::test]
    async fn delivers_the_same_bytes_to_every_device() {
        let hub = Hub::new();
        let (a, b) = (handle(&hub, 1, 4), handle(&hub, 1, 4));
        assert_eq!(hub.register(a.clone()), 1);
        assert_eq!(hub.register(b.clone()), 2);
        let f = ping();
        assert_eq!(hub.deliver(1, &f), 2);
        a.outbox.ready().await;
        let (x, y) = (next(&a).unwrap(), next(&b).unwrap());
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(x.protobuf().as_ptr(), y.protobuf().as_ptr(), "encoded once");
        assert_eq!(hub.unregister(1, a.id), 1);
        assert_eq!(hub.device_count(1), 1);
    }

    #[tokio::test]
    async fn a_full_queue_kicks_the_slow_consumer_only() {
        let hub = Hub::new();
        let slow = handle(&hub, 1, 1);
        let fast = handle(&hub, 1, 8);
        hub.register(slow.clone());
        hub.register(fast.clone());
        hub.deliver(1, &ping());
        hub.deliver(1, &ping());
        assert_eq!(slow.kick.requested().await, "slow_consumer");
        assert!(next(&fast).is_some() && next(&fast).is_some());
        assert_eq!(hub.stats.slow_consumers.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn an_outbox_wakes_its_reader_and_gives_back_a_burst_buffer() {
        let outbox = Arc::new(Outbox::new(1000));
        let reader = {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move {
                outbox.ready().await;
                let mut out = Vec::new();
                outbox.take(&mut out, 10)
            })
        };
        tokio::task::yield_now().await;
        for _ in 0..3 {
            outbox.push(&ping()).unwrap();
        }
        assert_eq!(reader.await.unwrap(), 3);
        for _ in 0..500 {
            outbox.push(&ping()).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(outbox.take(&mut out, 1000), 500);
        assert_eq!(outbox.lock().capacity(), 0, "the burst's buffer is released");
    }
}
