//! Write amplification: what the server wrote to storage over a measured
//! window (`write_bytes` of `/proc/PID/io` at both ends) and, with
//! `--fsyncs`, how many fsync/fdatasync calls it made (`perf stat` on the
//! syscall tracepoints), per second and per acked message.
//!
//! The window runs from t0 through the drain and quiet phase and a little
//! beyond: SQLite checkpoints its WAL into the database in the background
//! about once a second, and those writes belong to the messages too.

use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};

use super::{Outcome, Target};
use crate::{
    engine::now_us,
    procmon::{self, Sample},
};

/// Waited after the run before the closing sample, so the WAL checkpoint of
/// the last messages (once a second) is counted.
const CHECKPOINT_SETTLE: Duration = Duration::from_millis(1500);
/// Time `perf` gets to attach; the probe starts at the go signal, 200 ms
/// before t0, so this keeps both windows opening before the first send.
const PERF_ATTACH: Duration = Duration::from_millis(150);
const PERF_EVENTS: &str = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync";

/// A window being measured.
pub(super) struct DiskProbe {
    pid: u32,
    start: Option<Sample>,
    perf: Result<(Child, u64), String>,
}

impl DiskProbe {
    /// Opens the window now (`None` without --server-pid). Starts `perf`
    /// first when --fsyncs asks for it.
    pub(super) async fn start(t: &Target) -> Option<Self> {
        let pid = t.server_pid?;
        let start = procmon::sample(pid);
        let perf = if t.fsyncs { start_perf(pid).await } else { Err(String::new()) };
        Some(Self { pid, start, perf })
    }

    /// Closes the window (after the checkpoint settle) and adds the figures
    /// for `acked` messages to `o`.
    pub(super) async fn finish(self, o: &mut Outcome, acked: u64) {
        tokio::time::sleep(CHECKPOINT_SETTLE).await;
        let end = procmon::sample(self.pid);
        let io = self.start.zip(end).and_then(|(a, b)| Some((a.io?.delta(&b.io?), b.t_us - a.t_us)));
        match io {
            Some((io, us)) => {
                o.fig("server_disk_window_s", us as f64 / 1e6);
                o.fig("server_disk_write_bytes", io.write_bytes as f64);
                o.fig("server_disk_read_bytes", io.read_bytes as f64);
                o.fig("server_write_syscalls", io.syscw as f64);
                if acked > 0 {
                    o.fig("server_disk_bytes_per_msg", io.write_bytes as f64 / acked as f64);
                }
            }
            None => o.note(format!("disk: /proc/{}/io was not readable; no disk figures", self.pid)),
        }
        match self.perf {
            Ok((child, started_us)) => match stop_perf(child).await {
                Ok(fsyncs) => {
                    let s = (now_us() - started_us) as f64 / 1e6;
                    o.fig("server_fsyncs", fsyncs as f64);
                    o.fig("server_fsyncs_per_s", fsyncs as f64 / s);
                    if acked > 0 {
                        o.fig("server_fsyncs_per_msg", fsyncs as f64 / acked as f64);
                    }
                }
                Err(e) => o.note(format!("fsyncs: perf stat failed ({e}); no fsync figures")),
            },
            Err(e) if !e.is_empty() => o.note(format!("fsyncs: {e}; no fsync figures")),
            Err(_) => {}
        }
    }
}

/// Starts `perf stat` on the fsync tracepoints of `pid`; the error says why
/// it could not.
async fn start_perf(pid: u32) -> Result<(Child, u64), String> {
    let mut child = Command::new("perf")
        .args(["stat", "-e", PERF_EVENTS, "-x,", "-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run perf ({e})"))?;
    tokio::time::sleep(PERF_ATTACH).await;
    if let Ok(Some(status)) = child.try_wait() {
        let out = child.wait_with_output().await.map(|o| o.stderr).unwrap_or_default();
        let why = String::from_utf8_lossy(&out).lines().next().unwrap_or_default().to_owned();
        return Err(format!("perf stat exited at once ({status}: {why})"));
    }
    Ok((child, now_us()))
}

/// Stops `perf stat` with SIGINT (it then prints its counts) and sums them.
async fn stop_perf(child: Child) -> Result<u64, String> {
    let pid = child.id().ok_or("perf already gone")?;
    let sent = Command::new("kill").args(["-INT", &pid.to_string()]).status().await;
    if !sent.is_ok_and(|s| s.success()) {
        return Err("could not send SIGINT".into());
    }
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| "no exit after SIGINT".to_owned())?
        .map_err(|e| e.to_string())?;
    parse_perf_csv(&String::from_utf8_lossy(&out.stderr))
}

/// Sums the counts of `perf stat -x,` output: `count,unit,event,...` per
/// event; `<not counted>` or `<not supported>` or a missing event is an error.
fn parse_perf_csv(text: &str) -> Result<u64, String> {
    let mut total = 0;
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let Some(event) = f.get(2) else { continue };
        if !event.starts_with("syscalls:sys_enter_f") {
            continue;
        }
        let count: u64 = f[0].trim().parse().map_err(|_| format!("{event}: {}", f[0].trim()))?;
        total += count;
        seen += 1;
    }
    if seen < 2 {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(format!("counts missing: {first}"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_csv_counts_are_summed() {
        let out = "12,,syscalls:sys_enter_fsync,2000123,100.00,,\n30,,syscalls:sys_enter_fdatasync,2000123,100.00,,\n";
        assert_eq!(parse_perf_csv(out), Ok(42));
        let bad = "<not supported>,,syscalls:sys_enter_fsync,0,100.00,,\n0,,syscalls:sys_enter_fdatasync,1,100.00,,\n";
        assert!(parse_perf_csv(bad).is_err());
        assert!(parse_perf_csv("event syntax error: 'syscalls:sys_enter_fsync'\n").is_err());
    }
}
