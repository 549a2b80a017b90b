//! One connection's life: connect and authenticate, learn or catch up on
//! its conversations, serve the live connection, and reconnect when asked.
//! The send schedule lives in `schedule`, what each frame means for the
//! figures and checks in `record`.

mod record;
mod schedule;

use std::{
    collections::{BTreeMap, HashMap},
    sync::atomic::Ordering,
    time::Duration,
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use ferry_client::conn::{RawConnection, ReadHalf, WriteHalf};
use ferry_proto::{Body, Frame, v1};
use tokio::{sync::mpsc, time::Instant};

use super::{ClientSpec, Shared, WorkerReport, has_initial_sync, min_nonzero, now_us};
use crate::stats::SeqSet;

/// Frames queued for a connection's writer task.
const WRITE_QUEUE: usize = 4096;
/// Messages per pull request (the server caps it at `limits.max_pull_limit`).
const PULL_LIMIT: u32 = 1000;
/// Time allowed for connect + auth.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for one pull answer.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);
/// Request ids: sends use the message index + 1; pings and pulls live in
/// separate ranges so no answer is mistaken for another.
const PING_IDS: u64 = 1 << 62;
const PULL_IDS: u64 = 1 << 61;
/// Read marks of `mixed` use this range plus the operation index.
const MARK_IDS: u64 = 1 << 60;
/// Reconnect back-off bounds (storm).
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(1000);

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
    /// A `mixed` reconnect operation due at this time (Unix µs).
    Reconnect(u64),
}

/// One client's life: connect, (sync), run, reconnect if asked.
pub(super) struct ClientTask<'a> {
    shared: &'a Shared,
    spec: &'a ClientSpec,
    /// The token to connect with (fresh from a password login, or cached).
    token: String,
    tracks: HashMap<String, Track>,
    pending: BTreeMap<u64, PendingSend>,
    /// Read marks awaiting `mark_read_ok`: request id → due time.
    pending_reads: HashMap<u64, u64>,
    /// Index of the next message to generate.
    next_msg: u64,
    /// When message 0 is due, and the spacing (µs), open loop.
    first_due_us: u64,
    interval_us: f64,
    send_end_us: u64,
    sending_done: bool,
    busy: bool,
    ack_buf: Vec<u64>,
    /// Latency and whether the conversation is a group.
    deliver_buf: Vec<(u64, bool)>,
    last_buf: Vec<(String, u64, u64)>,
    r: WorkerReport,
    ping_id: u64,
    pull_id: u64,
}

impl<'a> ClientTask<'a> {
    pub(super) fn new(shared: &'a Shared, i: usize) -> Self {
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
        let busy = spec.send.is_some() || spec.ops.is_some() || has_initial_sync(spec);
        Self {
            shared,
            spec,
            token: if spec.login.is_some() { String::new() } else { spec.token.clone() },
            tracks,
            pending: BTreeMap::new(),
            pending_reads: HashMap::new(),
            next_msg: 0,
            first_due_us: 0,
            interval_us: 0.0,
            send_end_us: 0,
            sending_done: spec.send.is_none() && spec.ops.is_none(),
            busy,
            ack_buf: Vec::new(),
            deliver_buf: Vec::new(),
            last_buf: Vec::new(),
            r: WorkerReport::default(),
            ping_id: PING_IDS,
            pull_id: PULL_IDS,
        }
    }

    pub(super) async fn run(mut self) {
        let s = &self.shared.spec;
        let mut go = self.shared.go.clone();
        if s.connect_after_go {
            let t0 = go.wait_for(|t| *t != 0).await.map_or(0, |t| *t);
            sleep_until_us(Some(t0)).await;
        }
        let mut epoch = 0u32;
        let mut backoff = BACKOFF_MIN;
        // The due time of an intentional reconnect (`mixed`): its latency origin.
        let mut reconnect_due = None;
        loop {
            if self.shared.finish.is_cancelled() {
                if epoch == 0 {
                    self.give_up("connect: the run ended before this client connected");
                }
                break;
            }
            // Only the first connection is bound by the connect phase's deadline.
            let deadline = self.shared.connect_deadline.clone();
            let first = epoch == 0;
            let opened = tokio::select! {
                l = self.open(epoch) => Some(l),
                _ = deadline.cancelled(), if first => None,
            };
            let Some(link) = opened else {
                self.give_up("connect: not connected within --connect-timeout");
                break;
            };
            let Some((mut tx, mut rx, ok, started)) = link else {
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
                let now = now_us();
                self.r.resynced_at_us.push(now);
                if let Some(due) = reconnect_due.take() {
                    self.r.reconnect.record_us(now.saturating_sub(due));
                }
            }
            self.settle_once(epoch);
            // Wait for the start, heartbeating: connecting every client can
            // take longer than the server's idle timeout.
            let mut beat = tokio::time::interval_at(Instant::now() + hb, hb);
            while *go.borrow_and_update() == 0 {
                tokio::select! {
                    changed = go.changed() => if changed.is_err() { break },
                    _ = beat.tick() => {
                        self.ping_id += 1;
                        let ping = Frame { id: self.ping_id, body: Some(Body::Ping(v1::Ping { client_time: 0 })) };
                        if tx.send(&ping).await.is_err() {
                            break;
                        }
                    }
                }
            }
            self.start_schedule();
            // The same heartbeat schedule goes on: restarting it here would
            // leave a client that waited less than one interval for the
            // start silent for up to two, past the server's idle timeout.
            match self.serve(tx, rx, beat).await {
                Ended::Finished => break,
                Ended::Reconnect(due) => {
                    reconnect_due = Some(due);
                    epoch += 1;
                    self.r.reconnects += 1;
                }
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

    /// One attempt: (log in over HTTP,) connect and authenticate. Returns
    /// the halves, `auth_ok` and when the attempt started (after the wait
    /// for a local slot, which is not the server's latency).
    async fn open(&mut self, epoch: u32) -> Option<(WriteHalf, ReadHalf, v1::AuthOk, u64)> {
        let shared = self.shared;
        let _slot = shared.connect_slots.acquire().await;
        let node = shared.spec.node_of(self.spec.idx);
        if let (Some(name), Some(http), true) = (&self.spec.login, shared.http.get(node), self.token.is_empty()) {
            let started = now_us();
            match http.login(name, crate::setup::PASSWORD, "bench", None).await {
                Ok(l) => {
                    let done = now_us();
                    self.r.login.record_us(done - started);
                    self.r.logins += 1;
                    self.r.first_login_us = min_nonzero(self.r.first_login_us, started);
                    self.r.last_login_us = self.r.last_login_us.max(done);
                    self.token = l.token;
                }
                Err(e) => {
                    self.r.login_failed += 1;
                    let code = e.code().map_or_else(|| short(&e), |c| c.as_str().to_owned());
                    self.fail(epoch, &format!("login: {code}"));
                    return None;
                }
            }
        }
        let started = now_us();
        let attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&shared.spec.urls[node], &self.token)).await;
        match attempt {
            Ok(Ok((tx, rx, ok))) => {
                let ready = now_us();
                if epoch == 0 {
                    self.r.connect.record_us(ready - started);
                    self.r.connected += 1;
                    self.r.first_connect_us = min_nonzero(self.r.first_connect_us, started);
                    self.r.last_ready_us = ready;
                }
                Some((tx, rx, ok, started))
            }
            Ok(Err(e)) => {
                self.fail(epoch, &format!("connect: {}", short(&e)));
                None
            }
            Err(_) => {
                self.fail(epoch, "connect: timeout");
                None
            }
        }
    }

    /// The first connection did not happen: a failed client, settled.
    fn give_up(&mut self, why: &str) {
        self.r.connect_failed += 1;
        self.error(why);
        self.settle();
        self.set_not_busy();
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
        if self.shared.spec.reconnect || self.spec.ops.is_some() {
            let id = self.next_pull_id();
            tx.send(&Frame { id, body: Some(Body::ListConversations(v1::ListConversations::default())) }).await?;
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

    /// The live connection: one loop over reads, the schedule, heartbeats
    /// and the end of the run; writes go through the writer task.
    async fn serve(&mut self, tx: WriteHalf, mut rx: ReadHalf, mut heartbeat: tokio::time::Interval) -> Ended {
        let (wtx, wrx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = tokio::spawn(write_loop(tx, wrx));
        let finish = self.shared.finish.clone();
        let mut reconnect = self.send_due(&wtx);
        let ended = loop {
            if let Some(due) = reconnect.take() {
                break Ended::Reconnect(due);
            }
            let wake = self.send_wake();
            tokio::select! {
                biased;
                _ = finish.cancelled() => break Ended::Finished,
                // Before reads: a receiver whose socket is never empty must
                // still heartbeat, or the server times it out as idle.
                _ = heartbeat.tick() => {
                    self.ping_id += 1;
                    let ping = Frame { id: self.ping_id, body: Some(Body::Ping(v1::Ping { client_time: 0 })) };
                    let _ = wtx.try_send(ferry_proto::encode_frame(&ping));
                }
                frame = rx.recv() => match frame {
                    Ok(Some(f)) => {
                        self.handle(f);
                        self.shared.last_rx_us.store(now_us(), Ordering::Relaxed);
                        reconnect = self.send_due(&wtx);
                    }
                    Ok(None) => break Ended::Closed,
                    Err(e) => {
                        self.error(&format!("read: {}", short(&e)));
                        break Ended::Closed;
                    }
                },
                _ = sleep_until_us(wake), if wake.is_some() => reconnect = self.send_due(&wtx),
            }
        };
        drop(wtx);
        writer.abort();
        // Read marks in flight are answered on the closed connection, if at all.
        self.pending_reads.clear();
        self.flush_samples();
        ended
    }
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
