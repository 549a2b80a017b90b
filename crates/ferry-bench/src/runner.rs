//! Runs worker specs in this process or spread over child processes
//! (`ferry-bench worker`), starts them together and merges their reports.
//!
//! Child protocol, one JSON or text line each: the parent writes the
//! [`WorkerSpec`]; the child answers `ready` once its clients are connected;
//! the parent writes `go <t0 µs>`; with `idle_after_connect` the child
//! answers `settled <µs>` once its clients are all in and the parent writes
//! `end <µs>` (the latest settle plus the duration, the same for every
//! child); the child prints its [`WorkerReport`].

use std::{future::Future, path::PathBuf, process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    process::Command,
    sync::oneshot,
};

use crate::engine::{Control, WorkerReport, WorkerSpec, now_us, run_worker};

/// Lead time between the go signal and t0, so every process starts at once.
const LEAD: Duration = Duration::from_millis(200);

/// Runs `specs` (one per process; a single spec runs in this process unless
/// `exe` is given) and `during(t0)` alongside; returns t0 and the merged report.
pub async fn execute<F, Fut>(
    specs: Vec<WorkerSpec>,
    exe: Option<PathBuf>,
    during: F,
) -> anyhow::Result<(u64, WorkerReport)>
where
    F: FnOnce(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let idle_us = specs.first().map_or(0, |s| s.duration_ms * 1000);
    if specs.len() == 1 && exe.is_none() {
        let spec = specs.into_iter().next().context("one spec")?;
        let (ctl, ready_rx, go_tx, settled_rx, end_tx) = control();
        let worker = tokio::spawn(run_worker(spec, ctl));
        ready_rx.await.context("worker failed before ready")?;
        let t0 = now_us() + LEAD.as_micros() as u64;
        let _ = go_tx.send(t0);
        let report = async {
            // Only an idle-after-connect worker settles; the others drop it.
            if let Ok(settled) = settled_rx.await {
                let _ = end_tx.send(settled + idle_us);
            }
            worker.await
        };
        let (report, during) = tokio::join!(report, during(t0));
        during?;
        return Ok((t0, report.context("worker panicked")??));
    }
    let idle_after_connect = specs.first().is_some_and(|s| s.idle_after_connect);
    let exe = match exe {
        Some(e) => e,
        None => std::env::current_exe().context("own executable")?,
    };
    let mut children = Vec::new();
    for spec in &specs {
        let mut child = Command::new(&exe)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", exe.display()))?;
        let mut stdin = child.stdin.take().context("stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let mut line = serde_json::to_string(spec)?;
        line.push('\n');
        stdin.write_all(line.as_bytes()).await?;
        children.push((child, stdin, stdout.lines()));
    }
    for (_, _, lines) in &mut children {
        match lines.next_line().await? {
            Some(l) if l.trim() == "ready" => {}
            other => bail!("worker did not get ready: {other:?}"),
        }
    }
    let t0 = now_us() + LEAD.as_micros() as u64;
    for (_, stdin, _) in &mut children {
        stdin.write_all(format!("go {t0}\n").as_bytes()).await?;
        stdin.flush().await?;
    }
    let collect = async {
        if idle_after_connect {
            let mut settled = 0;
            for (_, _, lines) in &mut children {
                let line = lines.next_line().await?.context("worker ended before settling")?;
                let at: u64 = line.strip_prefix("settled ").context("bad settled line")?.trim().parse()?;
                settled = settled.max(at);
            }
            for (_, stdin, _) in &mut children {
                stdin.write_all(format!("end {}\n", settled + idle_us).as_bytes()).await?;
                stdin.flush().await?;
            }
        }
        let mut merged = WorkerReport::default();
        for (mut child, _stdin, mut lines) in children {
            let line = lines.next_line().await?.context("worker ended without a report")?;
            let report: WorkerReport = serde_json::from_str(&line).context("worker report")?;
            merged.merge(report);
            let _ = child.wait().await;
        }
        anyhow::Ok(merged)
    };
    let (merged, during) = tokio::join!(collect, during(t0));
    during?;
    Ok((t0, merged?))
}

/// The child side: reads the spec, runs it, prints the report.
pub async fn worker_main() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let spec: WorkerSpec = serde_json::from_str(&lines.next_line().await?.context("no spec on stdin")?)?;
    let (ctl, ready_rx, go_tx, settled_rx, end_tx) = control();
    let worker = tokio::spawn(run_worker(spec, ctl));
    let mut out = tokio::io::stdout();
    if ready_rx.await.is_ok() {
        out.write_all(b"ready\n").await?;
        out.flush().await?;
        let go = lines.next_line().await?.context("no go line")?;
        let t0: u64 = go.strip_prefix("go ").context("bad go line")?.trim().parse()?;
        let _ = go_tx.send(t0);
        if let Ok(settled) = settled_rx.await {
            out.write_all(format!("settled {settled}\n").as_bytes()).await?;
            out.flush().await?;
            let end = lines.next_line().await?.context("no end line")?;
            let end: u64 = end.strip_prefix("end ").context("bad end line")?.trim().parse()?;
            let _ = end_tx.send(end);
        }
    }
    let report = worker.await.context("worker panicked")??;
    let mut line = serde_json::to_string(&report)?;
    line.push('\n');
    out.write_all(line.as_bytes()).await?;
    out.flush().await?;
    Ok(())
}

/// A worker's [`Control`] and the runner's ends of it.
fn control() -> (Control, oneshot::Receiver<()>, oneshot::Sender<u64>, oneshot::Receiver<u64>, oneshot::Sender<u64>) {
    let (ready, ready_rx) = oneshot::channel();
    let (go_tx, go) = oneshot::channel();
    let (settled, settled_rx) = oneshot::channel();
    let (end_tx, end) = oneshot::channel();
    (Control { ready, go, settled, end }, ready_rx, go_tx, settled_rx, end_tx)
}

/// Splits clients over `procs` specs round-robin (a client's checks do not
/// depend on which process holds its peers).
pub fn split(mut spec: WorkerSpec, procs: usize) -> Vec<WorkerSpec> {
    let clients = std::mem::take(&mut spec.clients);
    let procs = procs.clamp(1, clients.len().max(1));
    let mut out: Vec<WorkerSpec> = vec![spec; procs];
    for (i, c) in clients.into_iter().enumerate() {
        out[i % procs].clients.push(c);
    }
    out
}
