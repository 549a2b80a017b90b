//! Server CPU, memory and I/O from `/proc/PID/stat` (utime + stime),
//! `/proc/PID/status` (VmRSS, VmHWM) and `/proc/PID/io` (bytes the process
//! caused to be written to and read from storage, write syscalls), sampled
//! in the background.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::engine::now_us;

/// How often the monitor samples.
const PERIOD: Duration = Duration::from_millis(200);

/// One reading.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Sample {
    pub t_us: u64,
    pub pid: u32,
    /// utime + stime in seconds.
    pub cpu_s: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Storage I/O, when `/proc/PID/io` is readable.
    pub io: Option<Io>,
}

/// Cumulative storage I/O of a process (`/proc/PID/io`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Io {
    /// Bytes the process caused to be sent to the storage layer.
    pub write_bytes: u64,
    /// Bytes the process caused to be fetched from the storage layer.
    pub read_bytes: u64,
    /// Write syscalls (write, pwrite, ...).
    pub syscw: u64,
}

impl Io {
    /// Parses the text of `/proc/PID/io`.
    pub fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| {
            text.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim_start_matches(':').trim().parse().ok())
        };
        Some(Self { write_bytes: field("write_bytes")?, read_bytes: field("read_bytes")?, syscw: field("syscw")? })
    }

    /// What happened between `self` and a later reading.
    pub fn delta(&self, later: &Io) -> Io {
        Io {
            write_bytes: later.write_bytes.saturating_sub(self.write_bytes),
            read_bytes: later.read_bytes.saturating_sub(self.read_bytes),
            syscw: later.syscw.saturating_sub(self.syscw),
        }
    }
}

/// Reads the process now; `None` if it is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "(comm)": state is the first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(Sample {
        t_us: now_us(),
        pid,
        cpu_s: ticks as f64 / clock_ticks() as f64,
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
        io: std::fs::read_to_string(format!("/proc/{pid}/io")).ok().and_then(|t| Io::parse(&t)),
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we know).
fn clock_ticks() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Background sampler of one (replaceable) server pid.
#[derive(Clone)]
pub struct Monitor {
    pid: Arc<AtomicU32>,
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: tokio_util::sync::CancellationToken,
}

impl Monitor {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Self {
        let m = Self {
            pid: Arc::new(AtomicU32::new(pid)),
            samples: Arc::new(Mutex::new(Vec::new())),
            stop: tokio_util::sync::CancellationToken::new(),
        };
        let bg = m.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PERIOD);
            loop {
                tokio::select! {
                    _ = tick.tick() => { bg.take_sample(); }
                    _ = bg.stop.cancelled() => return,
                }
            }
        });
        m
    }

    /// Follows a restarted server.
    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Ordering::SeqCst);
    }

    /// Samples now and returns the reading.
    pub fn take_sample(&self) -> Option<Sample> {
        let s = sample(self.pid.load(Ordering::SeqCst))?;
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        Some(s)
    }

    /// Stops and returns every sample.
    pub fn finish(&self) -> Vec<Sample> {
        self.stop.cancel();
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Figures over the samples taken in `from_us..=to_us`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Window {
    /// CPU used, in % of one core.
    pub cpu_pct: f64,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub rss_peak_kib: u64,
    pub hwm_kib: u64,
}

/// CPU and RSS of one pid over a time window.
pub fn window(samples: &[Sample], from_us: u64, to_us: u64) -> Option<Window> {
    let inside: Vec<&Sample> = samples.iter().filter(|s| s.t_us >= from_us && s.t_us <= to_us).collect();
    let (first, last) = (inside.first()?, inside.last()?);
    let same_pid: Vec<&&Sample> = inside.iter().filter(|s| s.pid == last.pid).collect();
    let base = same_pid.first()?;
    let dt = (last.t_us - base.t_us) as f64 / 1e6;
    let cpu_pct = if dt > 0.0 { (last.cpu_s - base.cpu_s) / dt * 100.0 } else { 0.0 };
    Some(Window {
        cpu_pct,
        rss_start_kib: first.rss_kib,
        rss_end_kib: last.rss_kib,
        rss_peak_kib: inside.iter().map(|s| s.rss_kib).max().unwrap_or(0),
        hwm_kib: inside.iter().map(|s| s.hwm_kib).max().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
        assert!(s.cpu_s >= 0.0);
        assert!(s.io.is_some(), "/proc/self/io is readable by its owner");
    }

    #[test]
    fn parses_proc_io() {
        let text = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\n\
                    cancelled_write_bytes: 0\n";
        let io = Io::parse(text).unwrap();
        assert_eq!(io, Io { write_bytes: 8192, read_bytes: 4096, syscw: 4 });
        let later = Io { write_bytes: 10_000, ..io };
        assert_eq!(io.delta(&later).write_bytes, 10_000 - 8192);
    }
}
