//! What a frame means for the figures: acks and deliveries become latency
//! samples, seqs go into the per-conversation sets the correctness check
//! reads (gaps, duplicates, reorders), and at the end the client's figures
//! join the process report.

use ferry_proto::{Body, Frame, v1};

use super::ClientTask;
use crate::{
    engine::{lock, now_us},
    stats::SeqRange,
};

/// Latency samples buffered per connection before taking the shared lock.
const FLUSH_EVERY: usize = 256;

impl ClientTask<'_> {
    /// Whether `now` is within the send window (t0 .. t0 + duration): what
    /// throughput counts, so a long drain after the window (a server behind
    /// by seconds) does not inflate the rate.
    fn in_window(&self, now: u64) -> bool {
        now <= self.shared.t0_us.load(std::sync::atomic::Ordering::Relaxed) + self.shared.spec.duration_ms * 1000
    }

    pub(super) fn handle(&mut self, frame: Frame) {
        match frame.body {
            Some(Body::SendAck(a)) => {
                let Some(p) = self.pending.remove(&frame.id) else { return };
                self.r.acked += 1;
                let now = now_us();
                if self.in_window(now) {
                    self.r.acked_in_window += 1;
                }
                if a.duplicate {
                    self.r.duplicate_acks += 1;
                }
                self.ack_buf.push(now.saturating_sub(p.due_us));
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
            Some(Body::MarkReadOk(_)) => {
                if let Some(due) = self.pending_reads.remove(&frame.id) {
                    self.r.mark_reads += 1;
                    self.r.mark_read.record_us(now_us().saturating_sub(due));
                }
            }
            Some(Body::Error(e)) => {
                *self.r.errors.entry(e.code.clone()).or_default() += 1;
                self.pending_reads.remove(&frame.id);
                if self.pending.remove(&frame.id).is_some() {
                    self.r.refused += 1;
                    if self.sending_done && self.pending.is_empty() {
                        self.set_not_busy();
                    }
                }
            }
            Some(Body::Kicked(k)) => {
                self.r.kicks += 1;
                *self.r.errors.entry(format!("kicked:{}", k.reason)).or_default() += 1;
            }
            _ => {}
        }
    }

    fn on_push(&mut self, m: v1::Message) {
        let own = m.sender_id == self.spec.user_id;
        if !own {
            self.r.deliveries += 1;
            if self.in_window(now_us()) {
                self.r.delivered_in_window += 1;
            }
            if let Some(due) = due_of(&m, &self.shared.spec.run_id) {
                let lat = now_us().saturating_sub(due);
                self.deliver_buf.push((lat, m.conversation_id.starts_with("g_")));
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
    pub(super) fn flush_samples(&mut self) {
        if !self.ack_buf.is_empty() || !self.deliver_buf.is_empty() {
            let mut r = lock(&self.shared.report);
            for v in self.ack_buf.drain(..) {
                r.ack.record_us(v);
            }
            for (v, group) in self.deliver_buf.drain(..) {
                r.deliver.record_us(v);
                if group {
                    r.deliver_group.record_us(v);
                } else {
                    r.deliver_direct.record_us(v);
                }
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
    pub(super) fn finish(mut self) {
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
