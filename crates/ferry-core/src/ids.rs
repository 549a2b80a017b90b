//! Identifiers: users, devices, conversations and server message ids.

use std::{fmt, str::FromStr};

/// A user's numeric id, assigned by the store at registration.
pub type UserId = i64;

/// A device a user is logged in on: the `device_id` of its session (the
/// server checks its form at login). It outlives connections — a device
/// that reconnects keeps its id, which is what lets a call survive a
/// dropped connection — and several connections may share one (browser tabs
/// share a session).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DeviceId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for DeviceId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

/// A conversation: a direct chat between two users, or (later) a group.
///
/// The wire form is a short string: `d_<low>_<high>` for a direct chat
/// (lower user id first, so both sides name it the same) and `g_<id>` for a
/// group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConversationId {
    Direct { low: UserId, high: UserId },
    Group(i64),
}

impl ConversationId {
    /// The direct conversation between `a` and `b` (order does not matter).
    /// Talking to yourself is allowed (a "note to self" conversation).
    pub fn direct(a: UserId, b: UserId) -> Self {
        Self::Direct { low: a.min(b), high: a.max(b) }
    }

    /// Whether `user` takes part in this direct conversation. Groups need a
    /// membership lookup and answer `false` here.
    pub fn is_direct_member(&self, user: UserId) -> bool {
        matches!(self, Self::Direct { low, high } if *low == user || *high == user)
    }

    /// For a direct conversation, the participant who is not `me`.
    pub fn peer_of(&self, me: UserId) -> Option<UserId> {
        match *self {
            Self::Direct { low, high } if low == me => Some(high),
            Self::Direct { low, high } if high == me => Some(low),
            _ => None,
        }
    }

    /// "direct" or "group".
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Direct { .. } => "direct",
            Self::Group(_) => "group",
        }
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Direct { low, high } => write!(f, "d_{low}_{high}"),
            Self::Group(id) => write!(f, "g_{id}"),
        }
    }
}

/// The string is not a conversation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid conversation id {0:?}")]
pub struct InvalidConversationId(pub String);

impl FromStr for ConversationId {
    type Err = InvalidConversationId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidConversationId(s.to_owned());
        if let Some(rest) = s.strip_prefix("d_") {
            let (a, b) = rest.split_once('_').ok_or_else(bad)?;
            let (low, high): (i64, i64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if low > high || low <= 0 {
                return Err(bad());
            }
            Ok(Self::Direct { low, high })
        } else if let Some(rest) = s.strip_prefix("g_") {
            let id: i64 = rest.parse().map_err(|_| bad())?;
            if id <= 0 {
                return Err(bad());
            }
            Ok(Self::Group(id))
        } else {
            Err(bad())
        }
    }
}

/// Generates unique, roughly time-ordered 64-bit ids (Twitter snowflake
/// layout: 41 bits of milliseconds since 2024-01-01, 10 bits of node id,
/// 12 bits of sequence). The caller passes the clock so this stays pure.
#[derive(Debug)]
pub struct SnowflakeGenerator {
    node: u64,
    last_ms: u64,
    seq: u64,
}

/// 2024-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: u64 = 1_704_067_200_000;

impl SnowflakeGenerator {
    /// `node` must be below 1024 and unique among the nodes of a cluster.
    pub fn new(node: u16) -> Self {
        Self { node: u64::from(node) & 0x3ff, last_ms: 0, seq: 0 }
    }

    /// The smallest id a generator can give at Unix time `unix_ms` (ids
    /// given before it are smaller, unless a clock went backwards).
    pub fn first_id_at(unix_ms: u64) -> u64 {
        unix_ms.saturating_sub(EPOCH_MS) << 22
    }

    /// The next id given the current Unix time in milliseconds. If 4096 ids
    /// are asked for in one millisecond, or the clock goes backwards, the
    /// generator borrows from the next millisecond rather than repeat.
    pub fn next_id(&mut self, now_unix_ms: u64) -> u64 {
        let now = now_unix_ms.saturating_sub(EPOCH_MS);
        if now > self.last_ms {
            self.last_ms = now;
            self.seq = 0;
        } else {
            self.seq += 1;
            if self.seq > 0xfff {
                self.last_ms += 1;
                self.seq = 0;
            }
        }
        (self.last_ms << 22) | (self.node << 12) | self.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_ids_are_symmetric_and_round_trip() {
        let c = ConversationId::direct(9, 3);
        assert_eq!(c, ConversationId::direct(3, 9));
        assert_eq!(c.to_string(), "d_3_9");
        assert_eq!("d_3_9".parse::<ConversationId>().unwrap(), c);
        assert_eq!(c.peer_of(3), Some(9));
        assert_eq!(c.peer_of(9), Some(3));
        assert_eq!(c.peer_of(4), None);
        assert!(c.is_direct_member(3) && !c.is_direct_member(4));
        assert_eq!("g_12".parse::<ConversationId>().unwrap(), ConversationId::Group(12));
    }

    #[test]
    fn bad_conversation_ids_are_refused() {
        for s in ["", "d_", "d_1", "d_2_1", "d_0_1", "x_1", "g_", "g_-1", "d_a_b", "g_1_2"] {
            assert!(s.parse::<ConversationId>().is_err(), "{s}");
        }
    }

    #[test]
    fn snowflakes_are_unique_and_increasing_even_when_the_clock_stalls() {
        let mut g = SnowflakeGenerator::new(5);
        let mut last = 0;
        for i in 0..10_000u64 {
            // The clock advances once every 5000 calls and once jumps back.
            let now = EPOCH_MS + 1_000 + i / 5_000 - u64::from(i == 7_000);
            let id = g.next_id(now);
            assert!(id > last);
            last = id;
        }
    }
}
