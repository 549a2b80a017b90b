//! Per-conversation ordering: which seq each conversation has been delivered
//! up to, and what to do with an incoming message. Pure logic, no I/O.
//!
//! The invariant the SDK keeps: a message is delivered once, and within a
//! conversation in seq order. Pushes may repeat (the sender's own connection
//! and retries) or skip (a push lost while disconnected or dropped under
//! load); a skip is filled by pulling the missing range before delivering.

use std::collections::HashMap;

/// What to do with a pushed message, given what was delivered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAction {
    /// It is the next one: deliver it.
    Deliver,
    /// Already delivered (or older): drop it.
    Duplicate,
    /// Messages between the last delivered one and this one are missing:
    /// pull everything after `after` first.
    Gap {
        /// The last delivered seq.
        after: u64,
    },
}

/// The last delivered seq of every conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqTracker {
    last: HashMap<String, u64>,
}

impl SeqTracker {
    /// A tracker starting from `known` (conversation id → last seq held),
    /// e.g. from a saved profile. Conversations not listed start at 0.
    pub fn new(known: HashMap<String, u64>) -> Self {
        Self { last: known }
    }

    /// The last delivered seq of `conversation` (0 if none).
    pub fn last(&self, conversation: &str) -> u64 {
        self.last.get(conversation).copied().unwrap_or(0)
    }

    /// Every conversation's last delivered seq.
    pub fn snapshot(&self) -> HashMap<String, u64> {
        self.last.clone()
    }

    /// Classifies a pushed message with `seq` in `conversation`.
    pub fn classify(&self, conversation: &str, seq: u64) -> PushAction {
        let last = self.last(conversation);
        if seq <= last {
            PushAction::Duplicate
        } else if seq == last + 1 {
            PushAction::Deliver
        } else {
            PushAction::Gap { after: last }
        }
    }

    /// Records the delivery of `seq` if it is newer than what was delivered;
    /// returns whether it was (i.e. whether the caller should deliver it).
    ///
    /// Pulled pages are authoritative: a seq that jumps ahead within a pull
    /// (history the server no longer serves) is accepted, so a sync can
    /// never get stuck on a hole it cannot fill.
    pub fn advance(&mut self, conversation: &str, seq: u64) -> bool {
        if seq <= self.last(conversation) {
            return false;
        }
        self.last.insert(conversation.to_owned(), seq);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_classified_against_the_last_seq() {
        let mut t = SeqTracker::new(HashMap::from([("d_1_2".to_owned(), 3)]));
        assert_eq!(t.classify("d_1_2", 4), PushAction::Deliver);
        assert_eq!(t.classify("d_1_2", 3), PushAction::Duplicate);
        assert_eq!(t.classify("d_1_2", 1), PushAction::Duplicate);
        assert_eq!(t.classify("d_1_2", 7), PushAction::Gap { after: 3 });
        // Unknown conversations start at 0.
        assert_eq!(t.classify("d_1_3", 1), PushAction::Deliver);
        assert_eq!(t.classify("d_1_3", 2), PushAction::Gap { after: 0 });
        assert!(t.advance("d_1_3", 1));
        assert_eq!(t.classify("d_1_3", 2), PushAction::Deliver);
    }

    #[test]
    fn advance_delivers_each_seq_once_in_order() {
        let mut t = SeqTracker::default();
        // A pull of 1..=5 racing a duplicate push of 3 and a late push of 2.
        let arrivals = [1, 2, 3, 3, 4, 2, 5, 5];
        let delivered: Vec<u64> = arrivals.into_iter().filter(|&s| t.advance("c", s)).collect();
        assert_eq!(delivered, [1, 2, 3, 4, 5]);
        assert_eq!(t.last("c"), 5);
        assert_eq!(t.snapshot(), HashMap::from([("c".to_owned(), 5)]));
    }
}
