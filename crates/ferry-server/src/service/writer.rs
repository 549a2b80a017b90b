//! The single message-writer path with group commit.
//!
//! Senders enqueue onto a bounded channel (back-pressure when full). One task
//! takes everything waiting — up to `max_batch` — and appends it in one store
//! transaction, so under load many messages share one commit. After the
//! commit it answers every sender and hands the new messages, in seq order,
//! to the [fan-out stage](super::fanout). The writer never reads the store
//! for anything but the append and never waits on a receiver: the next
//! commit starts as soon as the previous one is answered.

use ferry_core::{ApiError, ErrorCode};
use ferry_proto::v1;
use ferry_store::{NewMessage, Store};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    content,
    fanout::{Committed, FanoutHandle},
};
use crate::error::store_error;

struct Job {
    message: NewMessage,
    /// The decoded content, carried to the fan-out so it is not decoded again.
    content: v1::MessageContent,
    reply: oneshot::Sender<Result<v1::SendAck, ApiError>>,
}

/// Enqueues messages for the writer.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
}

/// Resolves to the ack of one enqueued message once its batch is durable.
pub struct PendingAck(oneshot::Receiver<Result<v1::SendAck, ApiError>>);

impl PendingAck {
    pub async fn wait(self) -> Result<v1::SendAck, ApiError> {
        self.0.await.unwrap_or_else(|_| Err(shutting_down()))
    }
}

impl WriterHandle {
    /// Enqueues `message` (whose body encodes `content`), waiting for room if
    /// the writer is behind.
    pub async fn submit(&self, message: NewMessage, content: v1::MessageContent) -> Result<PendingAck, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { message, content, reply }).await.map_err(|_| shutting_down())?;
        Ok(PendingAck(rx))
    }
}

fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "server is shutting down")
}

/// Starts the writer task. It runs until `stop` is cancelled, then refuses new
/// messages, commits everything already queued, and returns (dropping its
/// fan-out handle, which lets the fan-out stage drain and stop).
pub fn spawn(
    store: Arc<dyn Store>,
    fanout: FanoutHandle,
    max_batch: usize,
    queue: usize,
    stop: CancellationToken,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue);
    let task = tokio::spawn(run(store, fanout, rx, max_batch, stop));
    (WriterHandle { tx }, task)
}

async fn run(
    store: Arc<dyn Store>,
    fanout: FanoutHandle,
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
        let committed = commit(&*store, &mut jobs).await;
        if !committed.is_empty() {
            fanout.push(committed).await;
        }
    }
    tracing::debug!("message writer stopped");
}

/// Commits `jobs` as one batch, answers every sender, and returns the
/// messages that are new (not retries), in seq order per conversation.
async fn commit(store: &dyn Store, jobs: &mut Vec<Job>) -> Vec<Committed> {
    let mut batch = Vec::with_capacity(jobs.len());
    let mut rest = Vec::with_capacity(jobs.len());
    for job in jobs.drain(..) {
        batch.push(job.message);
        rest.push((job.content, job.reply));
    }
    match store.append_messages(batch).await {
        Ok(results) => {
            let mut fresh = Vec::with_capacity(results.len());
            for ((content, reply), appended) in rest.into_iter().zip(results) {
                let _ = reply.send(Ok(content::ack(&appended)));
                if !appended.duplicate {
                    let conversation = appended.message.conversation;
                    fresh.push(Committed { conversation, message: content::to_wire_with(appended.message, content) });
                }
            }
            fresh
        }
        Err(e) => {
            let err = store_error(e);
            for (_, reply) in rest {
                let _ = reply.send(Err(err.clone()));
            }
            Vec::new()
        }
    }
}
