//! The open-loop send schedule: when each message (or `mixed` operation) is
//! due, what it carries, and queueing what is due to the writer.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_proto::{Body, Frame, v1};
use tokio::sync::mpsc;

use super::{ClientTask, MARK_IDS, PendingSend};
use crate::engine::{Op, SendTo, min_nonzero, now_us};

/// What operation `k` comes to.
enum Next {
    /// A `send` frame (its id is `k + 1`).
    Send(Bytes),
    /// A `mark_read` frame.
    MarkRead(u64, Bytes),
    Reconnect,
    /// Nothing to act on (counted).
    Skip,
}

impl ClientTask<'_> {
    /// Fixes the send schedule once t0 is known (first connection only).
    pub(super) fn start_schedule(&mut self) {
        let rate = match (&self.spec.send, &self.spec.ops) {
            (Some(send), _) => send.rate,
            (None, Some(ops)) => ops.rate,
            (None, None) => return,
        };
        if self.first_due_us != 0 {
            return;
        }
        let t0 = self.shared.t0_us.load(Ordering::SeqCst);
        self.send_end_us = t0 + self.shared.spec.duration_ms * 1000;
        if rate > 0.0 {
            self.interval_us = 1e6 / rate;
            // Spread senders over one interval so they do not fire together.
            let phase = (f64::from(self.spec.idx) * 0.618_034).fract() * self.interval_us;
            self.first_due_us = t0 + phase as u64;
        } else {
            self.first_due_us = t0;
        }
    }

    /// The due time of the next message, or `None` when sending is over.
    fn next_due(&self) -> Option<u64> {
        if self.sending_done {
            return None;
        }
        if let Some(ops) = &self.spec.ops {
            let due = self.first_due_us + (self.next_msg as f64 * 1e6 / ops.rate.max(1e-9)) as u64;
            return (due < self.send_end_us).then_some(due);
        }
        let send = self.spec.send.as_ref()?;
        if send.max_msgs > 0 && self.next_msg >= send.max_msgs {
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

    /// Queues every message or operation that is due now (as far as the
    /// writer takes). Returns the due time of a reconnect operation, which
    /// the caller carries out.
    pub(super) fn send_due(&mut self, wtx: &mpsc::Sender<Bytes>) -> Option<u64> {
        let now = now_us();
        let mut reconnect = None;
        loop {
            let Some(due) = self.next_due() else {
                self.sending_done = true;
                break;
            };
            if due > now {
                break;
            }
            let k = self.next_msg;
            match self.next_op(k, due) {
                Next::Send(bytes) => {
                    // The writer is behind: the message stays due (its
                    // latency keeps counting from `due`) and goes out on the
                    // next turn.
                    if wtx.try_send(bytes.clone()).is_err() {
                        break;
                    }
                    self.pending.insert(k + 1, PendingSend { due_us: due, bytes });
                    self.r.first_due_us = min_nonzero(self.r.first_due_us, due);
                    self.r.last_due_us = self.r.last_due_us.max(due);
                    self.r.sent += 1;
                }
                Next::MarkRead(id, bytes) => {
                    if wtx.try_send(bytes).is_err() {
                        break;
                    }
                    self.pending_reads.insert(id, due);
                }
                Next::Skip => self.r.ops_skipped += 1,
                Next::Reconnect => reconnect = Some(due),
            }
            self.next_msg += 1;
            if reconnect.is_some() {
                break;
            }
        }
        if self.sending_done && self.pending.is_empty() {
            self.set_not_busy();
        }
        reconnect
    }

    /// Builds operation `k`: a send of the plain schedule, or what the
    /// `mixed` draw says.
    fn next_op(&self, k: u64, due: u64) -> Next {
        if let Some(send) = &self.spec.send {
            let to = &send.to[(k % send.to.len().max(1) as u64) as usize];
            return Next::Send(self.send_frame(to, send.size, k, due));
        }
        let Some(ops) = &self.spec.ops else { return Next::Skip };
        let (op, h) = ops.op(self.spec.idx, k);
        let pick = |n: usize| (h % n as u64) as usize;
        match op {
            Op::Direct if !ops.peers.is_empty() => {
                let to = SendTo::User(ops.peers[pick(ops.peers.len())]);
                Next::Send(self.send_frame(&to, ops.size, k, due))
            }
            Op::Group if !ops.groups.is_empty() => {
                let to = SendTo::Conversation(ops.groups[pick(ops.groups.len())].clone());
                Next::Send(self.send_frame(&to, ops.size, k, due))
            }
            Op::MarkRead => {
                // A conversation this client has received in, up to the
                // highest seq it holds.
                let mut read: Vec<(&String, u64)> =
                    self.tracks.iter().filter(|(_, t)| t.set.max() > 0).map(|(c, t)| (c, t.set.max())).collect();
                if read.is_empty() {
                    return Next::Skip;
                }
                read.sort_unstable();
                let (conv, seq) = read[pick(read.len())];
                let id = MARK_IDS + k;
                let mark = v1::MarkRead { conversation_id: conv.clone(), seq };
                Next::MarkRead(id, ferry_proto::encode_frame(&Frame { id, body: Some(Body::MarkRead(mark)) }))
            }
            Op::Reconnect => Next::Reconnect,
            Op::Direct | Op::Group => Next::Skip,
        }
    }

    fn send_frame(&self, to: &SendTo, size: usize, k: u64, due: u64) -> Bytes {
        let frame = Frame { id: k + 1, body: Some(Body::Send(self.make_send(to, size, k, due))) };
        ferry_proto::encode_frame(&frame)
    }

    fn make_send(&self, to: &SendTo, size: usize, k: u64, due: u64) -> v1::SendMessage {
        // "<due µs> <padding>": the receiver reads the due time back.
        let mut text = format!("{due} ");
        while text.len() < size {
            text.push('x');
        }
        let to = match to {
            SendTo::User(u) => v1::send_message::To::UserId(*u),
            SendTo::Conversation(c) => v1::send_message::To::ConversationId(c.clone()),
        };
        v1::SendMessage {
            client_msg_id: format!("{}-{}-{k}", self.shared.spec.run_id, self.spec.idx),
            to: Some(to),
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Text(v1::Text { text, ..Default::default() })),
                ..Default::default()
            }),
        }
    }

    /// When the loop must wake to send, if it must.
    pub(super) fn send_wake(&self) -> Option<u64> {
        match self.next_due() {
            Some(u64::MAX) | None => None,
            Some(due) => Some(due.max(now_us() + 200)),
        }
    }
}
