//! The single message-writer path with group commit.
//!
//! Senders enqueue onto a bounded channel (back-pressure when full). One task
//! takes everything waiting — up to `max_batch` — and appends it in one store
//! transaction, so under load many messages share one commit. After the
//! commit it answers every sender, then fans the new messages out through the
//! hub in seq order: one task pushing means every session sees a
//! conversation's messages in order.

use std::sync::Arc;

use ferry_core::{ApiError, ConversationId, ErrorCode};
use ferry_proto::v1;
use ferry_store::{Appended, NewMessage, Store, StoredMessage};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    error::store_error,
    hub::{Hub, Outbound},
    service::{members::MemberCache, messaging::to_proto_message},
};

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<Result<Appended, ApiError>>,
}

/// Enqueues messages for the writer.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

/// Resolves to the store's answer for one enqueued message.
pub type PendingAppend = oneshot::Receiver<Result<Appended, ApiError>>;

impl WriterHandle {
    /// Enqueues `message`, waiting for room if the writer is behind. The
    /// returned receiver resolves once the message's batch is durable.
    pub async fn submit(&self, message: NewMessage) -> Result<PendingAppend, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { message, reply }).await.map_err(|_| shutting_down())?;
        Ok(rx)
    }
}

fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "server is shutting down")
}

/// Awaits a [`PendingAppend`].
pub async fn wait(pending: PendingAppend) -> Result<Appended, ApiError> {
    pending.await.unwrap_or_else(|_| Err(shutting_down()))
}

/// Starts the writer task. It runs until `stop` is cancelled, then refuses new
/// messages, commits everything already queued, and returns.
pub fn spawn(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    members: Arc<MemberCache>,
    max_batch: usize,
    queue: usize,
    stop: CancellationToken,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue);
    let task = tokio::spawn(run(store, hub, members, rx, max_batch, stop));
    (WriterHandle { tx }, task)
}

async fn run(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    members: Arc<MemberCache>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    stop: CancellationToken,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut jobs, max_batch) => n,
            () = stop.cancelled() => {
                // Refuse new work; what is already queued is still committed.
                rx.close();
                rx.recv_many(&mut jobs, max_batch).await
            }
        };
        if n == 0 {
            break;
        }
        commit(&*store, &hub, &members, &mut jobs).await;
    }
    tracing::debug!("message writer stopped");
}

async fn commit(store: &dyn Store, hub: &Hub, members: &MemberCache, jobs: &mut Vec<Job>) {
    let (batch, replies): (Vec<NewMessage>, Vec<_>) = jobs.drain(..).map(|j| (j.message, j.reply)).unzip();
    match store.append_messages(batch).await {
        Ok(results) => {
            let mut fresh = Vec::with_capacity(results.len());
            for (reply, appended) in replies.into_iter().zip(results) {
                if !appended.duplicate {
                    fresh.push(appended.message.clone());
                }
                let _ = reply.send(Ok(appended));
            }
            for message in &fresh {
                fan_out(hub, members, message).await;
            }
        }
        Err(e) => {
            let err = store_error(e);
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

/// Pushes a stored message to every session of every participant — including
/// the sender's own devices, so each of them sees a gap-free seq stream. The
/// frame is encoded once and shared.
async fn fan_out(hub: &Hub, members: &MemberCache, message: &StoredMessage) {
    let frame = Outbound::new(v1::Frame { id: 0, body: Some(v1::frame::Body::Message(to_proto_message(message))) });
    match message.conversation {
        ConversationId::Direct { low, high } => {
            hub.deliver(low, &frame);
            if high != low {
                hub.deliver(high, &frame);
            }
        }
        ConversationId::Group(id) => match members.members(id).await {
            Ok(ids) => {
                for user in ids.iter() {
                    hub.deliver(*user, &frame);
                }
            }
            // Not delivered live; members catch up by sync.
            Err(e) => tracing::warn!(group = id, code = %e.code, "fan-out skipped"),
        },
    }
}
