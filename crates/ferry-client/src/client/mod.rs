//! The high-level client: one long connection that reconnects by itself,
//! reliable sends, and an ordered, exactly-once stream of messages.
//!
//! Two background tasks sit behind a [`Client`]:
//! - the **driver** owns the socket. It writes requests, routes answers to
//!   their waiting callers by frame id, pings on the heartbeat interval,
//!   notices a dead connection and reconnects with backoff. It never waits on
//!   anyone: pushes go to the processor with `try_send`, and when that queue
//!   is full the push is dropped and a resync requested instead, so a slow
//!   consumer costs a pull, never a stalled socket or a lost message;
//! - the **processor** owns delivery order. It checks every pushed message
//!   against the last delivered seq of its conversation, fills gaps by
//!   pulling, runs the sync after a reconnect, and emits [`Event`]s into the
//!   bounded channel the caller reads. It is the only task that advances the
//!   seqs, so each message is delivered once. Group system messages (member
//!   joined, muted...) are ordinary messages with seqs and take the same path.
//!
//! The parts: `config` (the public settings and events), `handle` (the
//! [`Client`] its owner holds), `calls` (call signaling on it), `driver` and
//! `processor` (the two tasks).
//! This module holds what they share: the messages between them and small
//! helpers.

mod calls;
mod config;
mod driver;
mod handle;
mod processor;

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use ferry_proto::{Body, Frame, v1};
use rand::Rng;
use tokio::sync::{Notify, mpsc, oneshot};

pub use calls::{CallEvent, CallPlaced, CallSignal};
pub use config::{ClientConfig, Event, EventReceiver, Target, new_client_msg_id};
pub use handle::Client;

use crate::{
    conn::unexpected,
    error::{ClientError, Result},
    order::SeqTracker,
};

/// A request to the driver.
// Requests are nearly every command (a frame is a message's size since rich
// content kinds); boxing them would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Command {
    Request { frame: Frame, reply: oneshot::Sender<Result<Body>> },
    Close { done: oneshot::Sender<()> },
}

/// The connection's state, published by the driver.
#[derive(Debug, Clone)]
enum ConnState {
    /// Authenticated; `generation` counts connections (0 = the first).
    Connected {
        generation: u64,
        auth: v1::AuthOk,
    },
    Reconnecting,
    Kicked(String),
    Closed(Option<ClientError>),
}

/// A pushed frame on its way from the driver to the processor.
// Messages are nearly every push; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Push {
    Message(v1::Message),
    /// A best-effort push (presence, changed, receipts, typing, calls): emitted as
    /// it is, in arrival order.
    Signal(Event),
}

/// "Pull everything again": set by the driver when it had to drop pushes.
#[derive(Debug, Default)]
struct ResyncFlag {
    set: AtomicBool,
    notify: Notify,
}

impl ResyncFlag {
    fn raise(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn take(&self) -> bool {
        self.set.swap(false, Ordering::AcqRel)
    }
}

/// Sends a request through the driver and waits for its answer.
async fn request_on(cmd: &mpsc::Sender<Command>, ids: &AtomicU64, timeout: Duration, body: Body) -> Result<Body> {
    let id = ids.fetch_add(1, Ordering::Relaxed);
    let (reply, answer) = oneshot::channel();
    let exchange = async {
        let frame = Frame { id, body: Some(body) };
        cmd.send(Command::Request { frame, reply }).await.map_err(|_| ClientError::Closed)?;
        // The driver answers every request it accepted; a dropped sender
        // means it stopped for good.
        answer.await.map_err(|_| ClientError::Closed)?
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| ClientError::Timeout)?
}

async fn pull_on(
    cmd: &mpsc::Sender<Command>,
    ids: &AtomicU64,
    timeout: Duration,
    conversation_id: &str,
    after_seq: u64,
    limit: u32,
) -> Result<v1::MessageBatch> {
    let body = Body::Pull(v1::PullMessages { conversation_id: conversation_id.to_owned(), after_seq, limit });
    match request_on(cmd, ids, timeout, body).await? {
        Body::Messages(batch) => Ok(batch),
        other => Err(unexpected("messages", &other)),
    }
}

/// Locks the tracker. A panic while holding it cannot leave it inconsistent
/// (every method is a single map operation), so poisoning is ignored.
fn lock(seqs: &Mutex<SeqTracker>) -> std::sync::MutexGuard<'_, SeqTracker> {
    seqs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ping interval the server asked for (15 s if it did not say).
fn heartbeat_of(auth: &v1::AuthOk) -> Duration {
    match auth.heartbeat_interval_ms {
        0 => Duration::from_secs(15),
        ms => Duration::from_millis(u64::from(ms)),
    }
}

/// `delay` scaled by a random factor in [0.5, 1.0), so that clients dropped
/// together do not come back together.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::rng().random_range(0.5..1.0))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_full_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000));
            assert!(d >= Duration::from_millis(500) && d < Duration::from_millis(1000));
        }
    }

    #[test]
    fn heartbeat_defaults_when_unset() {
        let mut auth = v1::AuthOk::default();
        assert_eq!(heartbeat_of(&auth), Duration::from_secs(15));
        auth.heartbeat_interval_ms = 3000;
        assert_eq!(heartbeat_of(&auth), Duration::from_secs(3));
    }
}
