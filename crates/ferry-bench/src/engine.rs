//! The load engine of one process: many raw connections, each a task with
//! one `select!` loop over its socket, its send schedule, its heartbeat and
//! the end of the run, and a writer task of its own so a blocked socket write
//! never stops reads. The sockets are `ferry-client`'s connection layer
//! ([`ferry_client::conn`]: TCP with the length-prefixed codec, or WebSocket
//! binary), split into halves.
//!
//! Sends are open-loop: message `k` of a sender is *due* at
//! `t0 + offset + k / rate`, and that due time is the latency origin, so a
//! slow server cannot hide latency by slowing the sender (no coordinated
//! omission). Sends are pipelined (acks are not awaited). The due time also
//! travels in the message text, so the receiver measures send→deliver even in
//! another process (same machine, same clock).
//!
//! [`run_worker`] runs a [`WorkerSpec`] to a [`WorkerReport`]; the parent
//! merges reports of all processes.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use ferry_client::conn::{RawConnection, ReadHalf, WriteHalf};
use ferry_proto::{Body, Frame, v1};
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{Semaphore, mpsc, oneshot},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use crate::stats::{Hist, RecvSummary, SeqRange, SeqSet};

/// Frames queued for a connection's writer task.
const WRITE_QUEUE: usize = 4096;
/// Messages per pull request (the server caps it at `limits.max_pull_limit`).
const PULL_LIMIT: u32 = 1000;
/// Time allowed for connect + auth.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for one pull answer.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);
/// Latency samples buffered per connection before taking the shared lock.
const FLUSH_EVERY: usize = 256;
/// Request ids: sends use the message index + 1; pings and pulls live in
/// separate ranges so no answer is mistaken for another.
const PING_IDS: u64 = 1 << 62;
const PULL_IDS: u64 = 1 << 61;
/// Reconnect back-off bounds (storm).
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(1000);

/// Microseconds since the Unix epoch: the clock every process shares.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Everything one process needs to run its share of a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    /// Unique per run; prefixes client_msg_ids.
    pub run_id: String,
    /// The long connection: `tcp://host:port` or `ws://host:port/ws` (the
    /// URL picks the transport).
    pub url: String,
    /// Senders send from t0 for this long; idle clients stay this long.
    pub duration_ms: u64,
    /// After the duration: the run ends once nothing arrived for this long
    /// and every sender has its acks (or the hard deadline passes).
    pub quiet_ms: u64,
    /// Hard limit on the drain after the duration.
    pub drain_max_ms: u64,
    /// Connects (with auth) in flight at once in this process.
    pub connect_concurrency: usize,
    /// Connect only after the go signal (connect and sync measure it);
    /// otherwise connect first and report ready.
    pub connect_after_go: bool,
    /// Reconnect (with resync and resend) when the server closes (storm).
    pub reconnect: bool,
    /// Keep per-message "delivered to the last member" latencies (fanout).
    pub track_last: bool,
    /// End as soon as every client is done, even before the duration
    /// (filling a backlog of a fixed size).
    pub end_when_done: bool,
    pub clients: Vec<ClientSpec>,
}

/// One connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    /// Index in the run (for reports).
    pub idx: u32,
    pub user_id: i64,
    pub token: String,
    pub send: Option<SendSpec>,
    /// Conversations whose seqs this client checks.
    pub expect: Vec<Expect>,
}

/// What a sending client sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendSpec {
    pub to: SendTo,
    /// Messages per second from this client (open loop); 0 = closed loop
    /// with `window` sends in flight (maximum throughput).
    pub rate: f64,
    pub window: u32,
    /// Text size in bytes.
    pub size: usize,
    /// Stop after this many messages (0 = until the duration ends).
    pub max_msgs: u64,
}

/// Where sends go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SendTo {
    User(i64),
    Conversation(String),
}

/// A conversation a client tracks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expect {
    pub conv: String,
    /// Pull everything after this seq right after connecting (sync); `None`:
    /// only what arrives from now on.
    pub after_seq: Option<u64>,
}

/// What one process measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    /// Connect → auth_ok latency.
    pub connect: Hist,
    pub connected: u64,
    pub connect_failed: u64,
    /// First connect attempt and last auth_ok (Unix µs), for logins/s.
    pub first_connect_us: u64,
    pub last_ready_us: u64,
    /// Due → ack latency (the due time is the latency origin).
    pub ack: Hist,
    /// Due → push received, for messages sent by others.
    pub deliver: Hist,
    pub sent: u64,
    pub acked: u64,
    pub unacked: u64,
    pub refused: u64,
    pub duplicate_acks: u64,
    pub deliveries: u64,
    /// Messages received by pulls.
    pub pulled: u64,
    /// t0 (or connect start) → caught up, per client with an initial sync.
    pub catchup: Hist,
    pub last_caught_up_us: u64,
    /// Unix µs at which each client was back and resynced after its last
    /// reconnect (storm).
    pub resynced_at_us: Vec<u64>,
    pub reconnects: u64,
    /// Connections the server closed when the workload did not expect it.
    pub unexpected_closes: u64,
    /// Error frames and failures by code.
    pub errors: BTreeMap<String, u64>,
    pub acked_ranges: BTreeMap<String, SeqRange>,
    pub received: Vec<RecvSummary>,
    /// (conversation, seq) → (receivers, worst latency µs) (fanout).
    pub last_member: Vec<(String, u64, u32, u64)>,
    /// Last send's due time (Unix µs): the end of the send window.
    pub last_due_us: u64,
    pub first_due_us: u64,
}

impl WorkerReport {
    /// Adds `other` into `self` (another connection or another process).
    pub fn merge(&mut self, other: WorkerReport) {
        self.connect.merge(&other.connect);
        self.connected += other.connected;
        self.connect_failed += other.connect_failed;
        self.first_connect_us = min_nonzero(self.first_connect_us, other.first_connect_us);
        self.last_ready_us = self.last_ready_us.max(other.last_ready_us);
        self.ack.merge(&other.ack);
        self.deliver.merge(&other.deliver);
        self.sent += other.sent;
        self.acked += other.acked;
        self.unacked += other.unacked;
        self.refused += other.refused;
        self.duplicate_acks += other.duplicate_acks;
        self.deliveries += other.deliveries;
        self.pulled += other.pulled;
        self.catchup.merge(&other.catchup);
        self.last_caught_up_us = self.last_caught_up_us.max(other.last_caught_up_us);
        self.resynced_at_us.extend(other.resynced_at_us);
        self.reconnects += other.reconnects;
        self.unexpected_closes += other.unexpected_closes;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        crate::stats::merge_ranges(&mut self.acked_ranges, &other.acked_ranges);
        self.received.extend(other.received);
        self.last_member.extend(other.last_member);
        self.last_due_us = self.last_due_us.max(other.last_due_us);
        self.first_due_us = min_nonzero(self.first_due_us, other.first_due_us);
    }
}

fn min_nonzero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// State shared by the connections of one process.
struct Shared {
    spec: WorkerSpec,
    t0_us: AtomicU64,
    /// Last time any frame with a message arrived (Unix µs).
    last_rx_us: AtomicU64,
    /// Clients still doing their job (sending, or the initial sync).
    busy: AtomicUsize,
    /// Clients connected (or given up) before the go signal.
    settled: AtomicUsize,
    settled_notify: tokio::sync::Notify,
    go: tokio::sync::watch::Receiver<u64>,
    finish: CancellationToken,
    connect_slots: Semaphore,
    report: Mutex<WorkerReport>,
    last_member: Mutex<HashMap<(String, u64), (u32, u64)>>,
}

/// Runs `spec`: connects (now or after go), sends `ready`, waits for `go`
/// (carrying t0 in Unix µs), runs the workload and returns the report.
pub async fn run_worker(
    spec: WorkerSpec,
    ready: oneshot::Sender<()>,
    go: oneshot::Receiver<u64>,
) -> anyhow::Result<WorkerReport> {
    let n = spec.clients.len();
    let (go_tx, go_rx) = tokio::sync::watch::channel(0u64);
    let shared = Arc::new(Shared {
        connect_slots: Semaphore::new(spec.connect_concurrency.max(1)),
        spec,
        t0_us: AtomicU64::new(0),
        last_rx_us: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
        settled: AtomicUsize::new(0),
        settled_notify: tokio::sync::Notify::new(),
        go: go_rx,
        finish: CancellationToken::new(),
        report: Mutex::new(WorkerReport::default()),
        last_member: Mutex::new(HashMap::new()),
    });
    let busy = shared.spec.clients.iter().filter(|c| c.send.is_some() || has_initial_sync(c)).count();
    shared.busy.store(busy, Ordering::SeqCst);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move { ClientTask::new(&shared, i).run().await });
    }
    // Ready once every client connected (or failed) — or at once when
    // connecting is part of what is measured.
    if !shared.spec.connect_after_go {
        while shared.settled.load(Ordering::SeqCst) < n {
            let notified = shared.settled_notify.notified();
            if shared.settled.load(Ordering::SeqCst) >= n {
                break;
            }
            notified.await;
        }
    }
    let _ = ready.send(());
    let t0 = go.await.context("go signal")?;
    shared.t0_us.store(t0, Ordering::SeqCst);
    let _ = go_tx.send(t0);
    tokio::spawn(watch_end(Arc::clone(&shared)));
    while let Some(r) = tasks.join_next().await {
        r.context("client task panicked")?;
    }
    let mut report = std::mem::take(&mut *lock(&shared.report));
    let last = std::mem::take(&mut *lock(&shared.last_member));
    report.last_member = last.into_iter().map(|((c, s), (n, us))| (c, s, n, us)).collect();
    Ok(report)
}

fn has_initial_sync(c: &ClientSpec) -> bool {
    c.expect.iter().any(|e| e.after_seq.is_some())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock means a client task panicked; the join reports that.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ends the run: after the duration, once every client is done and nothing
/// arrived for `quiet_ms`, or at the hard deadline.
async fn watch_end(shared: Arc<Shared>) {
    let s = &shared.spec;
    let t0 = shared.t0_us.load(Ordering::SeqCst);
    let end = t0 + s.duration_ms * 1000;
    let hard = end + s.drain_max_ms * 1000;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = now_us();
        let quiet = now.saturating_sub(shared.last_rx_us.load(Ordering::Relaxed)) >= s.quiet_ms * 1000;
        let done = shared.busy.load(Ordering::SeqCst) == 0 && quiet;
        if (done && (now >= end || s.end_when_done)) || now >= hard {
            shared.finish.cancel();
            return;
        }
    }
}

/// Per conversation a client tracks.
struct Track {
    set: SeqSet,
    /// Seqs up to here were held before the run (or pulled).
    baseline: u64,
    /// Pushes at or below this seq may legitimately repeat a pull of the
    /// current connection.
    pulled_upto: u64,
    initial_sync: bool,
}

struct PendingSend {
    due_us: u64,
    bytes: Bytes,
}

/// How the loop over a live connection ended.
enum Ended {
    Finished,
    Closed,
}

/// One client's life: connect, (sync), run, reconnect if asked.
struct ClientTask<'a> {
    shared: &'a Shared,
    spec: &'a ClientSpec,
    tracks: HashMap<String, Track>,
    pending: BTreeMap<u64, PendingSend>,
    /// Index of the next message to generate.
    next_msg: u64,
    /// When message 0 is due, and the spacing (µs), open loop.
    first_due_us: u64,
    interval_us: f64,
    send_end_us: u64,
    sending_done: bool,
    busy: bool,
    ack_buf: Vec<u64>,
    deliver_buf: Vec<u64>,
    last_buf: Vec<(String, u64, u64)>,
    r: WorkerReport,
    ping_id: u64,
    pull_id: u64,
}

impl<'a> ClientTask<'a> {
    fn new(shared: &'a Shared, i: usize) -> Self {
        let spec = &shared.spec.clients[i];
        let tracks = spec
            .expect
            .iter()
            .map(|e| {
                let t = Track {
                    set: SeqSet::default(),
                    baseline: e.after_seq.unwrap_or(0),
                    pulled_upto: 0,
                    initial_sync: e.after_seq.is_some(),
                };
                (e.conv.clone(), t)
            })
            .collect();
        let busy = spec.send.is_some() || has_initial_sync(spec);
        Self {
            shared,
            spec,
            tracks,
            pending: BTreeMap::new(),
            next_msg: 0,
            first_due_us: 0,
            interval_us: 0.0,
            send_end_us: 0,
            sending_done: spec.send.is_none(),
            busy,
            ack_buf: Vec::new(),
            deliver_buf: Vec::new(),
            last_buf: Vec::new(),
            r: WorkerReport::default(),
            ping_id: PING_IDS,
            pull_id: PULL_IDS,
        }
    }

    async fn run(mut self) {
        let s = &self.shared.spec;
        let mut go = self.shared.go.clone();
        if s.connect_after_go {
            let t0 = go.wait_for(|t| *t != 0).await.map_or(0, |t| *t);
            sleep_until_us(Some(t0)).await;
        }
        let mut epoch = 0u32;
        let mut backoff = BACKOFF_MIN;
        let mut link = None;
        loop {
            if self.shared.finish.is_cancelled() {
                break;
            }
            // The wait for a local connect slot is not the server's latency.
            let slot = self.shared.connect_slots.acquire().await;
            let started = now_us();
            let attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&s.url, &self.spec.token)).await;
            drop(slot);
            match attempt {
                Ok(Ok((tx, rx, ok))) => {
                    let ready = now_us();
                    if epoch == 0 {
                        self.r.connect.record_us(ready - started);
                        self.r.connected += 1;
                        self.r.first_connect_us = min_nonzero(self.r.first_connect_us, started);
                        self.r.last_ready_us = ready;
                    }
                    link = Some((tx, rx, ok));
                }
                Ok(Err(e)) => self.fail(epoch, &format!("connect: {}", short(&e))),
                Err(_) => self.fail(epoch, "connect: timeout"),
            }
            let Some((mut tx, mut rx, ok)) = link.take() else {
                if epoch == 0 && !s.reconnect {
                    self.settle();
                    self.set_not_busy();
                    break;
                }
                // Retry with back-off (storm: the server is restarting).
                tokio::select! {
                    _ = tokio::time::sleep(jitter(backoff)) => {}
                    _ = self.shared.finish.cancelled() => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            };
            backoff = BACKOFF_MIN;
            let hb = Duration::from_millis(u64::from(ok.heartbeat_interval_ms.max(1000)));
            // Learn where each tracked conversation stands (first connect)
            // or catch up on what was missed (reconnect).
            let synced = if epoch == 0 {
                self.first_sync(&mut tx, &mut rx, started).await
            } else {
                self.resync(&mut tx, &mut rx).await
            };
            if let Err(e) = synced {
                self.error(&format!("sync: {}", short(&e)));
                if !s.reconnect {
                    self.r.unexpected_closes += 1;
                    self.settle_once(epoch);
                    self.set_not_busy();
                    break;
                }
                epoch += 1;
                self.r.reconnects += 1;
                continue;
            }
            if epoch > 0 {
                self.r.resynced_at_us.push(now_us());
            }
            self.settle_once(epoch);
            let _ = go.wait_for(|t| *t != 0).await;
            self.start_schedule();
            match self.serve(tx, rx, hb).await {
                Ended::Finished => break,
                Ended::Closed => {
                    if !s.reconnect {
                        self.r.unexpected_closes += 1;
                        self.set_not_busy();
                        // Wait for the end so the run's figures stay aligned.
                        self.shared.finish.cancelled().await;
                        break;
                    }
                    epoch += 1;
                    self.r.reconnects += 1;
                }
            }
        }
        self.finish();
    }

    fn fail(&mut self, epoch: u32, what: &str) {
        if epoch == 0 && !self.shared.spec.reconnect {
            self.r.connect_failed += 1;
        }
        self.error(what);
    }

    fn error(&mut self, what: &str) {
        *self.r.errors.entry(what.to_owned()).or_default() += 1;
    }

    fn settle(&self) {
        self.shared.settled.fetch_add(1, Ordering::SeqCst);
        self.shared.settled_notify.notify_waiters();
    }

    fn settle_once(&self, epoch: u32) {
        if epoch == 0 {
            self.settle();
        }
    }

    fn set_not_busy(&mut self) {
        if std::mem::take(&mut self.busy) {
            self.shared.busy.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// First connection: pull from `after_seq` where asked (sync), and in a
    /// reconnecting run learn each conversation's current seq as baseline.
    async fn first_sync(&mut self, tx: &mut WriteHalf, rx: &mut ReadHalf, started: u64) -> anyhow::Result<()> {
        if self.shared.spec.reconnect {
            let id = self.next_pull_id();
            tx.send(&Frame { id, body: Some(Body::ListConversations(v1::ListConversations {})) }).await?;
            if let Body::Conversations(list) = self.await_answer(rx, id).await? {
                for c in list.conversations {
                    if let Some(t) = self.tracks.get_mut(&c.conversation_id)
                        && !t.initial_sync
                    {
                        t.baseline = c.max_seq;
                    }
                }
            }
        }
        let convs: Vec<(String, u64)> =
            self.tracks.iter().filter(|(_, t)| t.initial_sync).map(|(c, t)| (c.clone(), t.baseline)).collect();
        if convs.is_empty() {
            return Ok(());
        }
        for (conv, after) in convs {
            self.pull_all(tx, rx, &conv, after).await?;
        }
        let now = now_us();
        let t0 = self.shared.t0_us.load(Ordering::SeqCst);
        // From t0 (everyone reconnects at once) when known.
        self.r.catchup.record_us(now.saturating_sub(if t0 == 0 { started } else { t0 }));
        self.r.last_caught_up_us = self.r.last_caught_up_us.max(now);
        if self.spec.send.is_none() {
            self.set_not_busy();
        }
        Ok(())
    }

    /// After a reconnect: pull every tracked conversation from the last seq
    /// held without a gap.
    async fn resync(&mut self, tx: &mut WriteHalf, rx: &mut ReadHalf) -> anyhow::Result<()> {
        let convs: Vec<(String, u64)> =
            self.tracks.iter().map(|(c, t)| (c.clone(), t.set.contiguous_from(t.baseline))).collect();
        for (conv, after) in convs {
            self.pull_all(tx, rx, &conv, after).await?;
        }
        // Resend what was never acknowledged, with the same client_msg_id:
        // the server answers with the original ack if it stored it.
        for p in self.pending.values() {
            tx.feed_encoded(p.bytes.clone()).await?;
        }
        tx.flush().await?;
        Ok(())
    }

    async fn pull_all(
        &mut self,
        tx: &mut WriteHalf,
        rx: &mut ReadHalf,
        conv: &str,
        mut after: u64,
    ) -> anyhow::Result<()> {
        loop {
            let id = self.next_pull_id();
            let pull = v1::PullMessages { conversation_id: conv.to_owned(), after_seq: after, limit: PULL_LIMIT };
            tx.send(&Frame { id, body: Some(Body::Pull(pull)) }).await?;
            let Body::Messages(batch) = self.await_answer(rx, id).await? else { bail!("pull: unexpected answer") };
            self.shared.last_rx_us.store(now_us(), Ordering::Relaxed);
            let n = batch.messages.len() as u64;
            self.r.pulled += n;
            if let Some(t) = self.tracks.get_mut(conv) {
                for m in &batch.messages {
                    t.set.insert(m.seq);
                    t.pulled_upto = t.pulled_upto.max(m.seq);
                }
            }
            match batch.messages.last() {
                Some(last) if batch.has_more => after = last.seq,
                _ => return Ok(()),
            }
        }
    }

    /// Reads until the answer to request `id`, handling pushes meanwhile.
    async fn await_answer(&mut self, rx: &mut ReadHalf, id: u64) -> anyhow::Result<Body> {
        loop {
            let frame = tokio::time::timeout(PULL_TIMEOUT, rx.recv()).await.context("answer timeout")??;
            let Some(frame) = frame else { bail!("closed by server") };
            if frame.id == id {
                return match frame.body {
                    Some(Body::Error(e)) => bail!("{}: {}", e.code, e.message),
                    Some(b) => Ok(b),
                    None => bail!("empty answer"),
                };
            }
            self.handle(frame);
        }
    }

    fn next_pull_id(&mut self) -> u64 {
        self.pull_id += 1;
        self.pull_id
    }

    /// Fixes the send schedule once t0 is known (first connection only).
    fn start_schedule(&mut self) {
        let Some(send) = &self.spec.send else { return };
        if self.first_due_us != 0 {
            return;
        }
        let t0 = self.shared.t0_us.load(Ordering::SeqCst);
        self.send_end_us = t0 + self.shared.spec.duration_ms * 1000;
        if send.rate > 0.0 {
            self.interval_us = 1e6 / send.rate;
            // Spread senders over one interval so they do not fire together.
            let phase = (f64::from(self.spec.idx) * 0.618_034).fract() * self.interval_us;
            self.first_due_us = t0 + phase as u64;
        } else {
            self.first_due_us = t0;
        }
    }

    /// The due time of the next message, or `None` when sending is over.
    fn next_due(&self) -> Option<u64> {
        let send = self.spec.send.as_ref()?;
        if self.sending_done || (send.max_msgs > 0 && self.next_msg >= send.max_msgs) {
            return None;
        }
        let due = if send.rate > 0.0 {
            self.first_due_us + (self.next_msg as f64 * self.interval_us) as u64
        } else {
            // Closed loop: the next send is due when the window has room.
            if self.pending.len() >= send.window.max(1) as usize {
                return Some(u64::MAX);
            }
            now_us()
        };
        (due < self.send_end_us).then_some(due)
    }

    /// Queues every message that is due now (as far as the writer takes).
    fn send_due(&mut self, wtx: &mpsc::Sender<Bytes>) {
        let Some(send) = self.spec.send.clone() else { return };
        let now = now_us();
        loop {
            let Some(due) = self.next_due() else {
                self.sending_done = true;
                break;
            };
            if due > now {
                break;
            }
            let k = self.next_msg;
            let id = k + 1;
            let frame = Frame { id, body: Some(Body::Send(self.make_send(&send, k, due))) };
            let bytes = ferry_proto::encode_frame(&frame);
            match wtx.try_send(bytes.clone()) {
                Ok(()) => {}
                // The writer is behind: the message stays due (its latency
                // keeps counting from `due`) and goes out on the next turn.
                Err(_) => break,
            }
            self.pending.insert(id, PendingSend { due_us: due, bytes });
            self.r.first_due_us = min_nonzero(self.r.first_due_us, due);
            self.r.last_due_us = self.r.last_due_us.max(due);
            self.r.sent += 1;
            self.next_msg += 1;
        }
        if self.sending_done && self.pending.is_empty() {
            self.set_not_busy();
        }
    }

    fn make_send(&self, send: &SendSpec, k: u64, due: u64) -> v1::SendMessage {
        // "<due µs> <padding>": the receiver reads the due time back.
        let mut text = format!("{due} ");
        while text.len() < send.size {
            text.push('x');
        }
        let to = match &send.to {
            SendTo::User(u) => v1::send_message::To::UserId(*u),
            SendTo::Conversation(c) => v1::send_message::To::ConversationId(c.clone()),
        };
        v1::SendMessage {
            client_msg_id: format!("{}-{}-{k}", self.shared.spec.run_id, self.spec.idx),
            to: Some(to),
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Text(v1::Text { text, ..Default::default() })),
            }),
        }
    }

    /// The live connection: one loop over reads, the schedule, heartbeats
    /// and the end of the run; writes go through the writer task.
    async fn serve(&mut self, tx: WriteHalf, mut rx: ReadHalf, hb: Duration) -> Ended {
        let (wtx, wrx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = tokio::spawn(write_loop(tx, wrx));
        let mut heartbeat = tokio::time::interval_at(Instant::now() + hb, hb);
        let finish = self.shared.finish.clone();
        self.send_due(&wtx);
        let ended = loop {
            let wake = self.send_wake();
            tokio::select! {
                biased;
                _ = finish.cancelled() => break Ended::Finished,
                frame = rx.recv() => match frame {
                    Ok(Some(f)) => {
                        self.handle(f);
                        self.shared.last_rx_us.store(now_us(), Ordering::Relaxed);
                        self.send_due(&wtx);
                    }
                    Ok(None) => break Ended::Closed,
                    Err(e) => {
                        self.error(&format!("read: {}", short(&e)));
                        break Ended::Closed;
                    }
                },
                _ = heartbeat.tick() => {
                    self.ping_id += 1;
                    let ping = Frame { id: self.ping_id, body: Some(Body::Ping(v1::Ping { client_time: 0 })) };
                    let _ = wtx.try_send(ferry_proto::encode_frame(&ping));
                }
                _ = sleep_until_us(wake), if wake.is_some() => self.send_due(&wtx),
            }
        };
        drop(wtx);
        writer.abort();
        self.flush_samples();
        ended
    }

    /// When the loop must wake to send, if it must.
    fn send_wake(&self) -> Option<u64> {
        match self.next_due() {
            Some(u64::MAX) | None => None,
            Some(due) => Some(due.max(now_us() + 200)),
        }
    }

    fn handle(&mut self, frame: Frame) {
        match frame.body {
            Some(Body::SendAck(a)) => {
                let Some(p) = self.pending.remove(&frame.id) else { return };
                self.r.acked += 1;
                if a.duplicate {
                    self.r.duplicate_acks += 1;
                }
                self.ack_buf.push(now_us().saturating_sub(p.due_us));
                self.r
                    .acked_ranges
                    .entry(a.conversation_id.clone())
                    .and_modify(|r| r.merge(&SeqRange::one(a.seq)))
                    .or_insert(SeqRange::one(a.seq));
                if let Some(t) = self.tracks.get_mut(&a.conversation_id) {
                    t.set.insert(a.seq);
                }
                if self.sending_done && self.pending.is_empty() {
                    self.set_not_busy();
                }
                self.maybe_flush();
            }
            Some(Body::Message(m)) => self.on_push(m),
            Some(Body::Error(e)) => {
                *self.r.errors.entry(e.code.clone()).or_default() += 1;
                if self.pending.remove(&frame.id).is_some() {
                    self.r.refused += 1;
                    if self.sending_done && self.pending.is_empty() {
                        self.set_not_busy();
                    }
                }
            }
            Some(Body::Kicked(k)) => *self.r.errors.entry(format!("kicked:{}", k.reason)).or_default() += 1,
            _ => {}
        }
    }

    fn on_push(&mut self, m: v1::Message) {
        let own = m.sender_id == self.spec.user_id;
        if !own {
            self.r.deliveries += 1;
            if let Some(due) = due_of(&m, &self.shared.spec.run_id) {
                let lat = now_us().saturating_sub(due);
                self.deliver_buf.push(lat);
                if self.shared.spec.track_last {
                    self.last_buf.push((m.conversation_id.clone(), m.seq, lat));
                }
            }
        }
        if let Some(t) = self.tracks.get_mut(&m.conversation_id) {
            let fresh = t.set.insert(m.seq);
            if !fresh && !own && m.seq > t.pulled_upto {
                t.set.dups += 1;
            }
            // Own messages also enter by their ack, which races the push.
            if fresh && !own && m.seq < t.set.max() {
                t.set.reorders += 1;
            }
        }
        self.maybe_flush();
    }

    fn maybe_flush(&mut self) {
        if self.ack_buf.len() + self.deliver_buf.len() >= FLUSH_EVERY || self.last_buf.len() >= FLUSH_EVERY {
            self.flush_samples();
        }
    }

    /// Moves buffered latencies into the process's histograms.
    fn flush_samples(&mut self) {
        if !self.ack_buf.is_empty() || !self.deliver_buf.is_empty() {
            let mut r = lock(&self.shared.report);
            for v in self.ack_buf.drain(..) {
                r.ack.record_us(v);
            }
            for v in self.deliver_buf.drain(..) {
                r.deliver.record_us(v);
            }
        }
        if !self.last_buf.is_empty() {
            let mut map = lock(&self.shared.last_member);
            for (conv, seq, lat) in self.last_buf.drain(..) {
                let e = map.entry((conv, seq)).or_insert((0, 0));
                e.0 += 1;
                e.1 = e.1.max(lat);
            }
        }
    }

    /// Folds this client's figures into the process report.
    fn finish(mut self) {
        self.flush_samples();
        self.set_not_busy();
        self.r.unacked += self.pending.len() as u64;
        for (conv, t) in &self.tracks {
            self.r.received.push(t.set.summary(self.spec.idx, conv));
        }
        let r = std::mem::take(&mut self.r);
        lock(&self.shared.report).merge(r);
    }
}

/// The due time a bench message carries, if it is one of this run's.
fn due_of(m: &v1::Message, run_id: &str) -> Option<u64> {
    if !m.client_msg_id.starts_with(run_id) {
        return None;
    }
    let Some(v1::message_content::Kind::Text(t)) = m.content.as_ref()?.kind.as_ref() else { return None };
    t.text.split(' ').next()?.parse().ok()
}

async fn sleep_until_us(at: Option<u64>) {
    let Some(at) = at else { return std::future::pending().await };
    let now = now_us();
    if at > now {
        tokio::time::sleep(Duration::from_micros(at - now)).await;
    }
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.5 + rand::random::<f64>())
}

fn short(e: &impl std::fmt::Display) -> String {
    let s = format!("{e:#}");
    s.chars().take(80).collect()
}

/// Opens a connection and authenticates.
async fn connect(url: &str, token: &str) -> anyhow::Result<(WriteHalf, ReadHalf, v1::AuthOk)> {
    let mut conn = RawConnection::open(url, false).await?;
    let ok = conn.auth(token).await?;
    let (tx, rx) = conn.into_split();
    Ok((tx, rx, ok))
}

/// Writes queued frames, batching whatever is queued into one flush.
async fn write_loop(mut tx: WriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(b) = rx.recv().await {
        if tx.feed_encoded(b).await.is_err() {
            return;
        }
        while let Ok(b) = rx.try_recv() {
            if tx.feed_encoded(b).await.is_err() {
                return;
            }
        }
        if tx.flush().await.is_err() {
            return;
        }
    }
}
