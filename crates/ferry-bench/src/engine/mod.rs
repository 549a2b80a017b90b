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
//!
//! - `spec`: what a worker is told to do ([`WorkerSpec`]).
//! - `report`: what it measured ([`WorkerReport`]).
//! - `client`: one connection's life (connect, sync, serve, reconnect), its
//!   send schedule and what it records and checks of each frame.

mod client;
mod report;
mod spec;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

pub use report::WorkerReport;
pub use spec::{ClientSpec, Expect, Op, OpsSpec, SendSpec, SendTo, WorkerSpec, splitmix64};

use client::ClientTask;

/// Microseconds since the Unix epoch: the clock every process shares.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// State shared by the connections of one process.
struct Shared {
    spec: WorkerSpec,
    t0_us: AtomicU64,
    /// When the run ends (Unix µs; 0 until known, see
    /// `WorkerSpec::idle_after_connect`).
    end_us: AtomicU64,
    /// Last time any frame with a message arrived (Unix µs).
    last_rx_us: AtomicU64,
    /// Clients still doing their job (sending, or the initial sync).
    busy: AtomicUsize,
    /// Clients connected (or given up) before the go signal.
    settled: AtomicUsize,
    settled_notify: tokio::sync::Notify,
    go: tokio::sync::watch::Receiver<u64>,
    finish: CancellationToken,
    /// Cancelled when the connect phase's time is up (`connect_timeout_ms`).
    connect_deadline: CancellationToken,
    connect_slots: Semaphore,
    /// For password logins, if any client logs in.
    /// One per node (`WorkerSpec::http_urls`), when some client logs in.
    http: Vec<ferry_client::HttpApi>,
    report: Mutex<WorkerReport>,
    last_member: Mutex<HashMap<(String, u64), (u32, u64)>>,
}

/// How a worker and the runner talk: `ready` once connected (or at once when
/// connecting is measured), `go` with t0 (Unix µs); with
/// `idle_after_connect` also `settled` (when this worker's clients are all
/// in) and `end` (when the run ends, the same for every worker).
pub struct Control {
    pub ready: oneshot::Sender<()>,
    pub go: oneshot::Receiver<u64>,
    pub settled: oneshot::Sender<u64>,
    pub end: oneshot::Receiver<u64>,
}

/// Runs `spec`: connects (now or after go), sends `ready`, waits for `go`
/// (carrying t0 in Unix µs), runs the workload and returns the report.
pub async fn run_worker(spec: WorkerSpec, ctl: Control) -> anyhow::Result<WorkerReport> {
    let n = spec.clients.len();
    let Control { ready, go, settled: settled_tx, end } = ctl;
    let mut settled_tx = Some(settled_tx);
    if !spec.idle_after_connect {
        // Tells the runner at once that no settle time will come.
        settled_tx = None;
    }
    let (go_tx, go_rx) = tokio::sync::watch::channel(0u64);
    let http = if spec.clients.iter().any(|c| c.login.is_some()) {
        spec.http_urls.iter().map(|u| ferry_client::HttpApi::new(u.clone())).collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let shared = Arc::new(Shared {
        connect_slots: Semaphore::new(spec.connect_concurrency.max(1)),
        connect_deadline: CancellationToken::new(),
        http,
        spec,
        t0_us: AtomicU64::new(0),
        end_us: AtomicU64::new(0),
        last_rx_us: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
        settled: AtomicUsize::new(0),
        settled_notify: tokio::sync::Notify::new(),
        go: go_rx,
        finish: CancellationToken::new(),
        report: Mutex::new(WorkerReport::default()),
        last_member: Mutex::new(HashMap::new()),
    });
    let busy =
        shared.spec.clients.iter().filter(|c| c.send.is_some() || c.ops.is_some() || has_initial_sync(c)).count();
    shared.busy.store(busy, Ordering::SeqCst);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move { ClientTask::new(&shared, i).run().await });
    }
    let timeout = Duration::from_millis(shared.spec.connect_timeout_ms);
    // Ready once every client connected (or failed) — or at once when
    // connecting is part of what is measured.
    if !shared.spec.connect_after_go {
        let deadline = tokio::spawn(cancel_after(shared.connect_deadline.clone(), timeout));
        wait_settled(&shared, n).await;
        deadline.abort();
    }
    let _ = ready.send(());
    let t0 = go.await.context("go signal")?;
    shared.t0_us.store(t0, Ordering::SeqCst);
    if !shared.spec.idle_after_connect {
        shared.end_us.store(t0 + shared.spec.duration_ms * 1000, Ordering::SeqCst);
    }
    let _ = go_tx.send(t0);
    if shared.spec.connect_after_go {
        let until_t0 = Duration::from_micros(t0.saturating_sub(now_us()));
        tokio::spawn(cancel_after(shared.connect_deadline.clone(), until_t0 + timeout));
    }
    tokio::spawn(watch_end(Arc::clone(&shared)));
    if let Some(settled_tx) = settled_tx {
        wait_settled(&shared, n).await;
        let settled = now_us();
        lock(&shared.report).settled_us = settled;
        let _ = settled_tx.send(settled);
        // Without an answer (the runner is gone), idle from our own settle.
        let end = end.await.unwrap_or(settled + shared.spec.duration_ms * 1000);
        shared.end_us.store(end, Ordering::SeqCst);
    }
    while let Some(r) = tasks.join_next().await {
        r.context("client task panicked")?;
    }
    let mut report = std::mem::take(&mut *lock(&shared.report));
    if report.settled_us == 0 {
        report.settled_us = report.last_ready_us;
    }
    let last = std::mem::take(&mut *lock(&shared.last_member));
    report.last_member = last.into_iter().map(|((c, s), (n, us))| (c, s, n, us)).collect();
    Ok(report)
}

/// Waits until each of the `n` clients connected or gave up.
async fn wait_settled(shared: &Shared, n: usize) {
    while shared.settled.load(Ordering::SeqCst) < n {
        let notified = shared.settled_notify.notified();
        if shared.settled.load(Ordering::SeqCst) >= n {
            break;
        }
        notified.await;
    }
}

async fn cancel_after(token: CancellationToken, after: Duration) {
    tokio::time::sleep(after).await;
    token.cancel();
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
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Unknown while an idle-after-connect run is still connecting.
        let end = match shared.end_us.load(Ordering::SeqCst) {
            0 => continue,
            e => e,
        };
        let hard = end + s.drain_max_ms * 1000;
        let now = now_us();
        let quiet = now.saturating_sub(shared.last_rx_us.load(Ordering::Relaxed)) >= s.quiet_ms * 1000;
        let done = shared.busy.load(Ordering::SeqCst) == 0 && quiet;
        if (done && (now >= end || s.end_when_done)) || now >= hard {
            shared.finish.cancel();
            return;
        }
    }
}

fn min_nonzero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}
