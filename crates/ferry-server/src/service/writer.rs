//! The single message-writer path with group commit.
//!
//! Senders enqueue onto a bounded channel (back-pressure when full). One task
//! takes everything waiting — up to `max_batch` — and appends it in one store
//! transaction, so under load many messages share one commit. After the
//! commit it answers every sender and hands the new messages, in seq order,
//! to the [fan-out stage](super::fanout). The writer never reads the store
//! for anything but the append and never waits on a receiver: the next
//! commit starts as soon as the previous one is answered. It runs on a
//! thread of its own so that "as soon as" holds under load.

use ferry_core::{ApiError, ErrorCode};
use ferry_proto::v1;
use ferry_store::{NewMessage, Store};
use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};
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
    stats: Arc<WriterStats>,
}

/// What the writer has committed since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct WriterStats {
    /// New messages made durable (retries answered from the store excluded).
    pub messages: AtomicU64,
    /// Store commits (one fsync each under `synchronous = full`).
    pub batches: AtomicU64,
    /// Batches whose commit failed (every sender in them got an error).
    pub failed_batches: AtomicU64,
    /// Microseconds spent in store commits, and waiting for room in the
    /// fan-out stage's queue: where the writer's time goes (the rest is
    /// waiting for work).
    pub commit_us: AtomicU64,
    pub fanout_wait_us: AtomicU64,
}

/// Resolves to the ack of one enqueued message once its batch is durable.
pub struct PendingAck(oneshot::Receiver<Result<v1::SendAck, ApiError>>);

impl PendingAck {
    /// An ack that is known already (a retry answered from the store).
    pub fn ready(ack: v1::SendAck) -> Self {
        let (reply, rx) = oneshot::channel();
        let _ = reply.send(Ok(ack));
        Self(rx)
    }

    pub async fn wait(self) -> Result<v1::SendAck, ApiError> {
        self.0.await.unwrap_or_else(|_| Err(shutting_down()))
    }
}

impl WriterHandle {
    /// Counters of what was committed.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Enqueues `message` (whose body encodes `content`), waiting for room if
    /// the writer is behind. The message is queued when this is called if
    /// there is room (the common case); the future only waits for room.
    ///
    /// Not an `async fn`: its future is part of every message's send path
    /// and is copied at each level of it (see `Messaging::admit`), so it holds
    /// nothing but the ack's receiver — a channel's `send` future would hold
    /// the whole job. Waiting is boxed. The queue stays fair: while senders
    /// wait, room that frees up goes to them, not to `try_send`.
    pub fn submit(
        &self,
        message: NewMessage,
        content: v1::MessageContent,
    ) -> impl Future<Output = Result<PendingAck, ApiError>> + Send + '_ {
        let (reply, rx) = oneshot::channel();
        let wait = match self.tx.try_send(Job { message, content, reply }) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(job)) => Ok(Some(Box::pin(self.tx.send(job)))),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(shutting_down()),
        };
        async move {
            if let Some(wait) = wait? {
                wait.await.map_err(|_| shutting_down())?;
            }
            Ok(PendingAck(rx))
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "server is shutting down")
}

/// Starts the writer thread. It runs until `stop` is cancelled, then refuses new
/// messages, commits everything already queued, and returns (dropping its
/// fan-out handle, which lets the fan-out stage drain and stop).
pub fn spawn(
    store: Arc<dyn Store>,
    fanout: FanoutHandle,
    max_batch: usize,
    queue: usize,
    stop: CancellationToken,
) -> std::io::Result<(WriterHandle, tokio::task::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(queue);
    let stats = Arc::new(WriterStats::default());
    let writer_stats = Arc::clone(&stats);
    // A thread and runtime of its own: on the shared runtime, the writer
    // woke from each commit into a run queue of thousands of busy session
    // tasks and the store sat idle until it was polled again. The channels
    // it uses (senders' queue, the store's jobs, the fan-out queue) work
    // across runtimes. A std thread, not `spawn_blocking`: a blocking task
    // in flight keeps a paused test clock from auto-advancing. The returned
    // handle resolves when the thread has committed everything and stopped.
    let (done, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new().name("ferry-writer".into()).spawn(move || {
        // Cannot fail: a current-thread runtime needs no OS resources
        // beyond what the process already has.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("writer runtime");
        rt.block_on(run(store, fanout, rx, max_batch, stop, writer_stats));
        let _ = done.send(());
    })?;
    let task = tokio::spawn(async move {
        let _ = stopped.await;
    });
    Ok((WriterHandle { tx, stats }, task))
}

async fn run(
    store: Arc<dyn Store>,
    fanout: FanoutHandle,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    stop: CancellationToken,
    stats: Arc<WriterStats>,
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
        let committed = commit(&*store, &fanout, &mut jobs, &stats).await;
        if !committed.is_empty() {
            let waited = std::time::Instant::now();
            fanout.push(committed).await;
            stats.fanout_wait_us.fetch_add(waited.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }
    tracing::debug!("message writer stopped");
}

/// Commits `jobs` as one batch, answers every sender, and returns the
/// messages that are new (not retries), in seq order per conversation.
async fn commit(store: &dyn Store, fanout: &FanoutHandle, jobs: &mut Vec<Job>, stats: &WriterStats) -> Vec<Committed> {
    let mut batch = Vec::with_capacity(jobs.len());
    let mut rest = Vec::with_capacity(jobs.len());
    // Stamped here rather than at admission, so server_time never decreases
    // along a conversation's seqs.
    let now = super::now_ms();
    for mut job in jobs.drain(..) {
        job.message.server_time = now;
        batch.push(job.message);
        rest.push((job.content, job.reply));
    }
    let started = std::time::Instant::now();
    let outcome = store.append_entries(batch).await;
    stats.commit_us.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    stats.batches.fetch_add(1, Ordering::Relaxed);
    match outcome {
        Ok(results) => {
            let mut fresh = Vec::with_capacity(results.len());
            for ((content, reply), entry) in rest.into_iter().zip(results) {
                // Only an event can be refused on its own (its effect no
                // longer applies); nothing of it was written.
                let appended = match entry {
                    Ok(appended) => appended,
                    Err(refused) => {
                        let _ = reply.send(Err(store_error(refused)));
                        continue;
                    }
                };
                if !appended.duplicate {
                    fanout.before_ack(appended.message.conversation, appended.message.seq);
                }
                let _ = reply.send(Ok(content::ack(&appended)));
                if !appended.duplicate {
                    let conversation = appended.message.conversation;
                    fresh.push(Committed { conversation, message: content::to_wire_with(appended.message, content) });
                }
            }
            stats.messages.fetch_add(fresh.len() as u64, Ordering::Relaxed);
            fresh
        }
        Err(e) => {
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            let err = store_error(e);
            for (_, reply) in rest {
                let _ = reply.send(Err(err.clone()));
            }
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use ferry_core::ConversationId;
    use ferry_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};

    use super::*;
    use crate::service::fanout;

    async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let options =
            SqliteOptions { synchronous: Synchronous::Normal, read_connections: 1, ..SqliteOptions::default() };
        Arc::new(SqliteStore::open(dir.path().join("w.db"), options).await.expect("store"))
    }

    fn text(
        conversation: ConversationId,
        sender: i64,
        client_msg_id: &str,
        id: u64,
    ) -> (NewMessage, v1::MessageContent) {
        let admitted = content::admit(
            Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Text(v1::Text {
                    text: client_msg_id.into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            &ferry_core::Limits::default(),
        )
        .expect("valid");
        let message = NewMessage {
            conversation,
            sender,
            client_msg_id: client_msg_id.into(),
            server_msg_id: id,
            server_time: 1,
            body: admitted.body,
            mentions: Vec::new(),
            mention_all: false,
            effect: None,
            files: Vec::new(),
        };
        (message, admitted.content)
    }

    #[tokio::test]
    async fn acks_after_commit_and_hands_only_new_messages_to_the_fanout_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let (handle, mut committed) = fanout::channel();
        let stop = CancellationToken::new();
        let (writer, task) = spawn(store(&dir).await, handle, 64, 128, stop.clone()).expect("writer");
        let chat = ConversationId::direct(1, 2);
        let mut pending = Vec::new();
        for i in 0..10u64 {
            let (m, c) = text(chat, 1, &format!("m{i}"), 100 + i);
            pending.push(writer.submit(m, c).await.expect("queued"));
        }
        // A retry of m3 under a fresh server id: acked as the original.
        let (retry, c) = text(chat, 1, "m3", 999);
        pending.push(writer.submit(retry, c).await.expect("queued"));
        let mut acks = Vec::new();
        for p in pending {
            acks.push(p.wait().await.expect("ack"));
        }
        assert_eq!(acks[..10].iter().map(|a| a.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
        assert!(acks[..10].iter().all(|a| !a.duplicate));
        assert_eq!((acks[10].seq, acks[10].server_msg_id, acks[10].duplicate), (4, 103, true));

        let mut pushed = Vec::new();
        while pushed.len() < 10 {
            pushed.extend(committed.recv().await.expect("committed batch"));
        }
        assert_eq!(pushed.iter().map(|c| c.message.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
        assert_eq!(crate::service::content::preview(pushed[2].message.content.as_ref().expect("content")), "m2");
        stop.cancel();
        task.await.expect("writer");
        assert!(committed.recv().await.is_none(), "the retry was not pushed, and the stage is told to stop");
    }

    #[tokio::test]
    async fn stopping_commits_what_is_queued_and_refuses_the_rest() {
        let dir = tempfile::tempdir().expect("dir");
        let (handle, _committed) = fanout::channel();
        let stop = CancellationToken::new();
        let store = store(&dir).await;
        let (writer, task) = spawn(Arc::clone(&store), handle, 4, 64, stop.clone()).expect("writer");
        let chat = ConversationId::direct(1, 2);
        let mut pending = Vec::new();
        for i in 0..20u64 {
            let (m, c) = text(chat, 2, &format!("q{i}"), 1 + i);
            pending.push(writer.submit(m, c).await.expect("queued"));
        }
        stop.cancel();
        task.await.expect("writer");
        for (i, p) in pending.into_iter().enumerate() {
            assert_eq!(p.wait().await.expect("committed before stopping").seq, i as u64 + 1);
        }
        let (late, c) = text(chat, 2, "late", 500);
        let refused = writer.submit(late, c).await.err().expect("refused after stop");
        assert_eq!(refused.code, ErrorCode::Unavailable);
        assert_eq!(store.max_seq(chat).await.expect("max seq"), 20);
    }
}
