//! The open-loop send schedule: when each message is due, what it carries,
//! and queueing what is due to the writer.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_proto::{Body, Frame, v1};
use tokio::sync::mpsc;

use super::{ClientTask, PendingSend};
use crate::engine::{SendSpec, SendTo, min_nonzero, now_us};

impl ClientTask<'_> {
    /// Fixes the send schedule once t0 is known (first connection only).
    pub(super) fn start_schedule(&mut self) {
        let Some(send) = &self.spec.send else { return };
        if self.first_due_us != 0 {
            return;
        }
        let t0 = self.shared.t0_us.load(Ordering::SeqCst);
        self.send_end_us = t0 + self.shared.spec.duration_ms * 1000;
        if send.rate > 0.0 {
            self.interval_us = 1e6 / send.rate;
            // Spread senders over one interval so they do not fire together.
            let phase = (f64::from(self.spec.idx) * 0.618_034).fract() * self.interval_us;
            self.first_due_us = t0 + phase as u64;
        } else {
            self.first_due_us = t0;
        }
    }

    /// The due time of the next message, or `None` when sending is over.
    fn next_due(&self) -> Option<u64> {
        let send = self.spec.send.as_ref()?;
        if self.sending_done || (send.max_msgs > 0 && self.next_msg >= send.max_msgs) {
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

    /// Queues every message that is due now (as far as the writer takes).
    pub(super) fn send_due(&mut self, wtx: &mpsc::Sender<Bytes>) {
        let Some(send) = self.spec.send.clone() else { return };
        let now = now_us();
        loop {
            let Some(due) = self.next_due() else {
                self.sending_done = true;
                break;
            };
            if due > now {
                break;
            }
            let k = self.next_msg;
            let id = k + 1;
            let frame = Frame { id, body: Some(Body::Send(self.make_send(&send, k, due))) };
            let bytes = ferry_proto::encode_frame(&frame);
            match wtx.try_send(bytes.clone()) {
                Ok(()) => {}
                // The writer is behind: the message stays due (its latency
                // keeps counting from `due`) and goes out on the next turn.
                Err(_) => break,
            }
            self.pending.insert(id, PendingSend { due_us: due, bytes });
            self.r.first_due_us = min_nonzero(self.r.first_due_us, due);
            self.r.last_due_us = self.r.last_due_us.max(due);
            self.r.sent += 1;
            self.next_msg += 1;
        }
        if self.sending_done && self.pending.is_empty() {
            self.set_not_busy();
        }
    }

    fn make_send(&self, send: &SendSpec, k: u64, due: u64) -> v1::SendMessage {
        // "<due µs> <padding>": the receiver reads the due time back.
        let mut text = format!("{due} ");
        while text.len() < send.size {
            text.push('x');
        }
        let to = match &send.to {
            SendTo::User(u) => v1::send_message::To::UserId(*u),
            SendTo::Conversation(c) => v1::send_message::To::ConversationId(c.clone()),
        };
        v1::SendMessage {
            client_msg_id: format!("{}-{}-{k}", self.shared.spec.run_id, self.spec.idx),
            to: Some(to),
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Text(v1::Text { text, ..Default::default() })),
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
