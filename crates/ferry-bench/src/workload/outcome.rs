//! [`Outcome`]: what a run measured, printed as the summary or `--json`.

use std::{collections::BTreeMap, fmt};

use serde::Serialize;

use super::{Target, TransportKind};
use crate::{
    engine::WorkerReport,
    procmon,
    stats::{self, Correctness, LatencySummary},
};

/// Everything a run measured, for the summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub workload: String,
    pub params: serde_json::Value,
    pub transport: TransportKind,
    pub procs: usize,
    /// Nodes the long connections were dealt over (1 without --nodes).
    pub nodes: usize,
    /// Named figures (units in the names).
    pub figures: BTreeMap<String, f64>,
    pub latency: BTreeMap<String, LatencySummary>,
    /// Server CPU/RSS over the measured window, if --server-pid was given.
    pub server: Option<procmon::Window>,
    pub correctness: Correctness,
    pub errors: BTreeMap<String, u64>,
    /// Things worth knowing about how a figure was (or was not) measured.
    pub notes: Vec<String>,
    /// Why the run failed, beyond the correctness check.
    pub failures: Vec<String>,
    pub passed: bool,
}

impl Outcome {
    pub(super) fn new(workload: &str, params: serde_json::Value, t: &Target) -> Self {
        Self {
            workload: workload.into(),
            params,
            transport: t.transport,
            procs: t.procs,
            nodes: t.nodes.len().max(1),
            figures: BTreeMap::new(),
            latency: BTreeMap::new(),
            server: None,
            correctness: Correctness::default(),
            errors: BTreeMap::new(),
            notes: Vec::new(),
            failures: Vec::new(),
            passed: false,
        }
    }

    pub(super) fn fig(&mut self, name: &str, v: f64) {
        self.figures.insert(name.into(), v);
    }

    pub(super) fn lat(&mut self, name: &str, h: &stats::Hist) {
        if h.count() > 0 {
            self.latency.insert(name.into(), h.summary());
        }
    }

    pub(super) fn note(&mut self, s: String) {
        self.notes.push(s);
    }

    /// Marks the run FAILED for `why`.
    pub(super) fn fail(&mut self, why: String) {
        self.failures.push(why);
    }

    pub(super) fn finish(mut self, r: &WorkerReport, mut c: Correctness) -> Self {
        c.connection_failed(r.connect_failed, "could not connect");
        c.connection_failed(r.unexpected_closes, "lost their connection");
        self.errors = r.errors.clone();
        self.passed = !c.failed() && self.failures.is_empty();
        self.correctness = c;
        self
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ferry-bench {} {} ({:?}, {} proc", self.workload, self.params, self.transport, self.procs)?;
        match self.nodes {
            1 => writeln!(f, ")")?,
            n => writeln!(f, ", {n} nodes)")?,
        }
        for (k, v) in &self.figures {
            // Small ratios (fsyncs per message) keep their digits.
            let prec = if v.abs() < 10.0 && *v != 0.0 { 4 } else { 2 };
            writeln!(f, "  {k:<32} {v:>14.prec$}")?;
        }
        for (k, v) in &self.latency {
            writeln!(f, "  {k:<26} {v}")?;
        }
        if let Some(s) = &self.server {
            writeln!(
                f,
                "  server: cpu {:.1}% of a core, rss {} → {} KiB (peak {} KiB, hwm {} KiB)",
                s.cpu_pct, s.rss_start_kib, s.rss_end_kib, s.rss_peak_kib, s.hwm_kib
            )?;
        }
        if !self.errors.is_empty() {
            writeln!(f, "  errors: {:?}", self.errors)?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        let c = &self.correctness;
        writeln!(
            f,
            "  correctness: {} streams in {} conversations; lost {}, duplicated {}, non-contiguous {}, unacked {}, \
             reordered pushes {}, connection failures {}",
            c.streams_checked,
            c.conversations,
            c.lost,
            c.duplicated,
            c.non_contiguous,
            c.unacked,
            c.reordered,
            c.connection_failures
        )?;
        for v in &c.violations {
            writeln!(f, "    ! {v}")?;
        }
        for v in &self.failures {
            writeln!(f, "  ! {v}")?;
        }
        write!(f, "{}", if self.passed { "PASSED" } else { "FAILED" })
    }
}
