//! What a worker measured ([`WorkerReport`]), merged per connection and
//! then across processes by the parent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::min_nonzero;
use crate::stats::{Hist, RecvSummary, SeqRange};

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
    /// When every client of the process was in or had given up (Unix µs).
    pub settled_us: u64,
    /// HTTP password login latency (`connect --login`).
    pub login: Hist,
    pub logins: u64,
    pub login_failed: u64,
    pub first_login_us: u64,
    pub last_login_us: u64,
    /// Due → ack latency (the due time is the latency origin).
    pub ack: Hist,
    /// Due → push received, for messages sent by others.
    pub deliver: Hist,
    /// `deliver` split by kind of conversation (`mixed`).
    pub deliver_direct: Hist,
    pub deliver_group: Hist,
    /// Due → mark_read_ok, and reconnect due → resynced (`mixed`).
    pub mark_read: Hist,
    pub reconnect: Hist,
    pub mark_reads: u64,
    /// `mixed` operations that had nothing to act on (no group, nothing
    /// received yet to mark read).
    pub ops_skipped: u64,
    /// `kicked` frames received (any reason).
    pub kicks: u64,
    pub sent: u64,
    pub acked: u64,
    /// Acks and deliveries that arrived within the send window.
    #[serde(default)]
    pub acked_in_window: u64,
    #[serde(default)]
    pub delivered_in_window: u64,
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
        self.settled_us = self.settled_us.max(other.settled_us);
        self.login.merge(&other.login);
        self.logins += other.logins;
        self.login_failed += other.login_failed;
        self.first_login_us = min_nonzero(self.first_login_us, other.first_login_us);
        self.last_login_us = self.last_login_us.max(other.last_login_us);
        self.deliver_direct.merge(&other.deliver_direct);
        self.deliver_group.merge(&other.deliver_group);
        self.mark_read.merge(&other.mark_read);
        self.reconnect.merge(&other.reconnect);
        self.mark_reads += other.mark_reads;
        self.ops_skipped += other.ops_skipped;
        self.kicks += other.kicks;
        self.ack.merge(&other.ack);
        self.deliver.merge(&other.deliver);
        self.sent += other.sent;
        self.acked += other.acked;
        self.acked_in_window += other.acked_in_window;
        self.delivered_in_window += other.delivered_in_window;
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
