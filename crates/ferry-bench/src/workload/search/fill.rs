//! Stores the corpus through the server's normal send path: every
//! participant (the shared users and the searcher) on a long connection of
//! its own, and one dispatcher that hands message *i* to its sender's
//! connection in index order with a bounded number of sends in flight over
//! all of them. So the messages are stored in about index order, every
//! conversation's messages spread over the whole fill, like chat over time.
//!
//! Each message's `client_msg_id` is `s<M>-<i>`: a connection the server
//! closes (a slow-consumer kick: every participant is online and gets the
//! pushes of its conversations) is opened again and resends what was not
//! acknowledged, and a fill that is run again (after a failure) resends
//! everything; the server answers what it already has with the original
//! ack, so the stored corpus stays exact.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use ferry_client::conn::{RawConnection, ReadHalf, WriteHalf};
use ferry_proto::{Body, Frame, v1};
use futures_util::{StreamExt as _, stream};
use tokio::sync::{Semaphore, mpsc};

use super::corpus::{Content, Corpus};
use crate::setup::BenchUser;

/// Sends in flight over all connections.
const WINDOW: usize = 8192;
/// Frames queued per connection for its writer.
const CONN_QUEUE: usize = 1024;
/// Pings on connections that have nothing to send (the server closes a
/// connection silent for ~45 s).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// The fill fails when no ack arrived for this long.
const STALL: Duration = Duration::from_secs(120);
/// Ping request ids (sends use the message index + 1).
const PING_IDS: u64 = 1 << 62;
/// Attempts to open a closed connection again.
const RECONNECT_ATTEMPTS: u32 = 8;
/// Refusal reasons quoted in the failure.
const SHOWN_ERRORS: usize = 5;

/// What the connections of every participant count.
struct Progress {
    window: Semaphore,
    acked: AtomicU64,
    refused: AtomicU64,
    reconnects: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Server ids of the planted messages, by plant.
    plants: Mutex<Vec<u64>>,
    /// Message index → plant.
    plant_of: HashMap<u64, usize>,
    /// A connection gave up reconnecting.
    failed: AtomicU64,
}

/// Sends not answered yet on one participant's connection, by request id.
type Unacked = Arc<Mutex<BTreeMap<u64, Bytes>>>;

/// Who a participant's message goes to.
pub(super) enum To {
    User(i64),
    Conversation(String),
}

/// What the fill did.
pub(super) struct Filled {
    /// Server ids of the planted messages, in plant order.
    pub plants: Vec<u64>,
    /// Connections the server closed (a slow-consumer kick, say) and the
    /// fill opened again, resending what was not acknowledged.
    pub reconnects: u64,
}

/// Sends every message of `corpus` (participant `p` is `people[p]`;
/// `groups[g]` is the conversation id of group `g`; a file message of `p`
/// points to the stored file `attachments[p]`, under the corpus's name).
pub(super) async fn fill(
    url: &str,
    connect_concurrency: usize,
    corpus: &Corpus,
    people: &[BenchUser],
    groups: &[String],
    attachments: &[String],
) -> anyhow::Result<Filled> {
    let progress = Arc::new(Progress {
        window: Semaphore::new(WINDOW),
        acked: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        plants: Mutex::new(vec![0; corpus.plants.len()]),
        plant_of: corpus.plants.iter().enumerate().map(|(p, plant)| (plant.index, p)).collect(),
        failed: AtomicU64::new(0),
    });
    let opened: Vec<anyhow::Result<RawConnection>> = stream::iter(people)
        .map(|u| async move {
            let (conn, _) = RawConnection::connect(url, false, &u.token)
                .await
                .with_context(|| format!("connect {}", u.username))?;
            Ok(conn)
        })
        .buffered(connect_concurrency.max(1))
        .collect()
        .await;
    let mut senders = Vec::with_capacity(people.len());
    let mut tasks = Vec::with_capacity(people.len());
    for (conn, u) in opened.into_iter().zip(people) {
        let (queue, queued) = mpsc::channel(CONN_QUEUE);
        let link = Link { url: url.to_owned(), token: u.token.clone(), progress: Arc::clone(&progress) };
        tasks.push(tokio::spawn(link.run(conn?, queued)));
        senders.push(queue);
    }
    let result = dispatch(corpus, people, groups, attachments, &senders, &progress).await;
    drop(senders);
    for t in tasks {
        t.abort();
    }
    result?;
    let plants = std::mem::take(&mut *lock(&progress.plants));
    Ok(Filled { plants, reconnects: progress.reconnects.load(Ordering::SeqCst) })
}

/// Hands every message to its sender's connection, then waits for the
/// acks.
async fn dispatch(
    corpus: &Corpus,
    people: &[BenchUser],
    groups: &[String],
    attachments: &[String],
    senders: &[mpsc::Sender<(u64, Bytes)>],
    progress: &Progress,
) -> anyhow::Result<()> {
    let m = corpus.m;
    let run = format!("s{m}");
    let report_every = (m / 10).max(1);
    let started = Instant::now();
    for i in 0..m {
        let msg = corpus.message(i);
        let conv = &corpus.convs[msg.conv];
        let to = match conv.group {
            Some(g) => To::Conversation(groups.get(g).context("a group of the corpus was not created")?.clone()),
            None => {
                let other = conv.members.iter().copied().find(|&p| p != msg.sender).context("a direct peer")?;
                To::User(people[other].id)
            }
        };
        let content = match msg.content {
            Content::File { name, size, mime, sha256, .. } => {
                let file_id = attachments.get(msg.sender).context("an attachment per sender")?.clone();
                Content::File { name, size, mime, file_id, sha256 }
            }
            text => text,
        };
        let frame = send_frame(&run, i, to, content);
        tokio::time::timeout(STALL, progress.window.acquire())
            .await
            .context("setup: no ack for too long")?
            .context("window closed")?
            .forget();
        senders[msg.sender].send((i + 1, frame)).await.context("setup: a connection stopped")?;
        if (i + 1) % report_every == 0 {
            eprintln!(
                "search setup: {} of {m} messages sent, {} acked, {} reconnects ({:.0} s)",
                i + 1,
                progress.acked.load(Ordering::Relaxed),
                progress.reconnects.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
        if progress.failed.load(Ordering::Relaxed) > 0 {
            bail!("setup: a connection could not be opened again ({:?})", lock(&progress.errors));
        }
    }
    let mut last = (0, Instant::now());
    loop {
        let done = progress.acked.load(Ordering::SeqCst) + progress.refused.load(Ordering::SeqCst);
        if done >= m {
            break;
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > STALL || progress.failed.load(Ordering::Relaxed) > 0 {
            bail!("setup: {done} of {m} messages answered, then nothing ({:?})", lock(&progress.errors));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = progress.refused.load(Ordering::SeqCst);
    if refused > 0 {
        let errors: Vec<String> =
            lock(&progress.errors).iter().take(SHOWN_ERRORS).map(|(e, n)| format!("{e} ×{n}")).collect();
        bail!("setup: the server refused {refused} of {m} messages: {}", errors.join("; "));
    }
    Ok(())
}

/// The `send` frame of message `i` (request id `i + 1`).
fn send_frame(run: &str, i: u64, to: To, content: Content) -> Bytes {
    let kind = match content {
        Content::Text(text) => v1::message_content::Kind::Text(v1::Text { text, ..Default::default() }),
        Content::File { name, size, mime, file_id, sha256 } => v1::message_content::Kind::File(v1::File {
            file: Some(v1::FileRef { file_id, size, mime: mime.to_owned(), name, sha256 }),
        }),
    };
    let to = match to {
        To::User(u) => v1::send_message::To::UserId(u),
        To::Conversation(c) => v1::send_message::To::ConversationId(c),
    };
    let send = v1::SendMessage {
        client_msg_id: format!("{run}-{i}"),
        to: Some(to),
        content: Some(v1::MessageContent { kind: Some(kind), ..Default::default() }),
    };
    ferry_proto::encode_frame(&Frame { id: i + 1, body: Some(Body::Send(send)) })
}

/// One participant's connection, opened again (with what was not
/// acknowledged sent again) when the server closes it.
struct Link {
    url: String,
    token: String,
    progress: Arc<Progress>,
}

impl Link {
    /// Writes queued sends until the queue closes, pinging when idle; a
    /// reader task counts the answers. Runs until aborted.
    async fn run(self, mut conn: RawConnection, mut queued: mpsc::Receiver<(u64, Bytes)>) {
        let unacked: Unacked = Arc::default();
        loop {
            let (tx, rx) = conn.into_split();
            let (closed_tx, closed) = tokio::sync::oneshot::channel();
            let reader = read_loop(rx, Arc::clone(&self.progress), Arc::clone(&unacked));
            tokio::spawn(async move {
                reader.await;
                let _ = closed_tx.send(());
            });
            self.write_loop(tx, &mut queued, &unacked, closed).await;
            match self.reopen().await {
                Some(c) => conn = c,
                None => {
                    self.progress.failed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }

    /// Resends what is not acknowledged, then writes queued sends (batched
    /// into one flush) and heartbeats, until the reader ends.
    async fn write_loop(
        &self,
        mut tx: WriteHalf,
        queued: &mut mpsc::Receiver<(u64, Bytes)>,
        unacked: &Unacked,
        mut closed: tokio::sync::oneshot::Receiver<()>,
    ) {
        let resend: Vec<Bytes> = lock(unacked).values().cloned().collect();
        for f in resend {
            if tx.feed_encoded(f).await.is_err() {
                return;
            }
        }
        if tx.flush().await.is_err() {
            return;
        }
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        let mut ping = PING_IDS;
        let mut open = true;
        loop {
            let first = tokio::select! {
                _ = &mut closed => return,
                f = queued.recv(), if open => match f {
                    Some((id, f)) => {
                        lock(unacked).insert(id, f.clone());
                        f
                    }
                    None => {
                        // Everything is handed over; keep the connection
                        // (and its heartbeat) for the answers.
                        open = false;
                        continue;
                    }
                },
                _ = beat.tick() => {
                    ping += 1;
                    ferry_proto::encode_frame(&Frame { id: ping, body: Some(Body::Ping(v1::Ping { client_time: 0 })) })
                }
            };
            if tx.feed_encoded(first).await.is_err() {
                return;
            }
            while let Ok((id, f)) = queued.try_recv() {
                lock(unacked).insert(id, f.clone());
                if tx.feed_encoded(f).await.is_err() {
                    return;
                }
            }
            if tx.flush().await.is_err() {
                return;
            }
        }
    }

    /// Opens the connection again (a few attempts with back-off).
    async fn reopen(&self) -> Option<RawConnection> {
        for attempt in 0..RECONNECT_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
            match RawConnection::connect(&self.url, false, &self.token).await {
                Ok((c, _)) => {
                    self.progress.reconnects.fetch_add(1, Ordering::SeqCst);
                    return Some(c);
                }
                Err(e) => *lock(&self.progress.errors).entry(format!("reconnect: {e}")).or_default() += 1,
            }
        }
        None
    }
}

/// Counts acks and refusals of the sends in `unacked` (pushes of messages
/// are read and dropped) until the connection ends.
async fn read_loop(mut rx: ReadHalf, progress: Arc<Progress>, unacked: Unacked) {
    loop {
        let frame = match rx.recv().await {
            Ok(Some(f)) => f,
            Ok(None) => return count(&progress, "closed by the server"),
            Err(e) => return count(&progress, &format!("read: {e}")),
        };
        match frame.body {
            Some(Body::SendAck(a)) if lock(&unacked).remove(&frame.id).is_some() => {
                if let Some(&p) = progress.plant_of.get(&(frame.id - 1)) {
                    lock(&progress.plants)[p] = a.server_msg_id;
                }
                progress.acked.fetch_add(1, Ordering::SeqCst);
                progress.window.add_permits(1);
            }
            Some(Body::Error(e)) if frame.id != 0 && lock(&unacked).remove(&frame.id).is_some() => {
                count(&progress, &format!("{}: {}", e.code, e.message));
                progress.refused.fetch_add(1, Ordering::SeqCst);
                progress.window.add_permits(1);
            }
            Some(Body::Kicked(k)) => count(&progress, &format!("kicked: {}", k.reason)),
            _ => {}
        }
    }
}

fn count(progress: &Progress, what: &str) {
    *lock(&progress.errors).entry(what.to_owned()).or_default() += 1;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a reader panicked; what it counted stays valid.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
