//! ferry-bench: the load generator of Ferry (issue 4).
//!
//! Workloads ([`workload::Workload`]) run against a server started
//! separately, over raw long connections (ferry-client's connection layer:
//! TCP with the length-prefixed codec, or WebSocket binary), with open-loop
//! sending, HDR histograms and a correctness check in every run. The binary is a thin wrapper over
//! [`workload::run`]; the integration tests call it directly.
//!
//! - [`setup`]: accounts and groups over HTTP, cached in a state file.
//! - [`engine`]: the connections of one process and what they measure.
//! - [`runner`]: one process or many (`--procs`), started together, merged.
//! - [`stats`]: histograms, seq sets and the correctness check.
//! - [`procmon`]: server CPU and RSS from /proc.

pub mod engine;
pub mod procmon;
pub mod runner;
pub mod setup;
pub mod stats;
pub mod workload;

pub use workload::{ListVia, Outcome, Target, TransportKind, Workload, run};
