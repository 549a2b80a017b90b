//! The fan-out stage: pushes committed messages to every participant's
//! sessions, off the commit path.
//!
//! The writer hands over each committed batch in seq order; one task takes
//! the batches in order and delivers each message through the bus, so every
//! session sees a conversation's messages in seq order. Resolving a group's
//! members may read the store (on a cache miss): that stalls later
//! deliveries, never the next commit. The queue between the two stages is
//! bounded; a writer more than [`QUEUE`] batches ahead waits for it.

use std::sync::Arc;

use ferry_core::ConversationId;
use ferry_proto::v1;
use tokio::sync::mpsc;

use super::caches::Caches;
use crate::{
    bus::{Bus, Invalidation},
    hub::Outbound,
};

/// Committed batches the fan-out may fall behind by.
const QUEUE: usize = 256;

/// A message that is durable and new, ready to push.
#[derive(Debug, Clone)]
pub struct Committed {
    pub conversation: ConversationId,
    pub message: v1::Message,
}

/// Feeds the fan-out stage; dropping every handle stops it once drained.
#[derive(Clone)]
pub struct FanoutHandle {
    tx: mpsc::Sender<Vec<Committed>>,
    /// For what must hold before an ack goes out (none in unit tests).
    bus: Option<Arc<dyn Bus>>,
}

impl FanoutHandle {
    /// Called by the writer for each new message before its ack goes out,
    /// so that a sender acting on the ack at once sees its effects: a first
    /// direct message makes the two users presence peers. Unconditionally:
    /// a peer list being loaded right now (read before this commit) must not
    /// be cached.
    pub fn before_ack(&self, conversation: ConversationId, seq: u64) {
        if let (Some(bus), ConversationId::Direct { low, high }) = (&self.bus, conversation)
            && seq == 1
            && low != high
        {
            bus.invalidate(Invalidation::Peers(low));
            bus.invalidate(Invalidation::Peers(high));
        }
    }

    /// Queues a committed batch (in seq order), waiting if the stage is
    /// [`QUEUE`] batches behind.
    pub async fn push(&self, batch: Vec<Committed>) {
        if self.tx.send(batch).await.is_err() {
            tracing::warn!("fan-out stage is gone; members catch up by sync");
        }
    }
}

/// The bounded queue between the writer and the fan-out stage.
pub fn channel() -> (FanoutHandle, mpsc::Receiver<Vec<Committed>>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (FanoutHandle { tx, bus: None }, rx)
}

/// Starts the fan-out task.
pub fn spawn(bus: Arc<dyn Bus>, caches: Arc<Caches>) -> (FanoutHandle, tokio::task::JoinHandle<()>) {
    let (mut handle, rx) = channel();
    handle.bus = Some(Arc::clone(&bus));
    (handle, tokio::spawn(run(bus, caches, rx)))
}

async fn run(bus: Arc<dyn Bus>, caches: Arc<Caches>, mut rx: mpsc::Receiver<Vec<Committed>>) {
    while let Some(batch) = rx.recv().await {
        for committed in batch {
            deliver(&*bus, &caches, committed).await;
        }
    }
    tracing::debug!("fan-out stopped");
}

/// Pushes one message to every session of every participant — including the
/// sender's own devices (the sending connection too: every session then sees
/// a gap-free seq stream). The frame is encoded once and shared.
async fn deliver(bus: &dyn Bus, caches: &Caches, committed: Committed) {
    let seq = committed.message.seq;
    let frame = Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Message(committed.message)) });
    match committed.conversation {
        ConversationId::Direct { low, high } => {
            // (A first message's peer invalidation ran before its ack:
            // `FanoutHandle::before_ack`.)
            let both = [low, high];
            bus.deliver(if low == high { &both[..1] } else { &both }, &frame);
        }
        ConversationId::Group(id) => match caches.member_ids(id).await {
            Ok(members) => bus.deliver(&members.receivers(seq), &frame),
            // Not delivered live; members catch up by sync.
            Err(e) => tracing::warn!(group = id, code = %e.code, "fan-out skipped"),
        },
    }
}
