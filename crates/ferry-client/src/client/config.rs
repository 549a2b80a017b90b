//! What the owner of a [`Client`](super::Client) sets and reads: where
//! messages go, the settings, and the events.

use std::{collections::HashMap, time::Duration};

use ferry_core::UserId;
use ferry_proto::v1;
use tokio::sync::mpsc;

use super::CallEvent;
use crate::error::ClientError;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A direct message to this user (the conversation is created on first
    /// send).
    User(UserId),
    /// An existing conversation, by wire id (`d_1_2`, `g_5`; see
    /// `ferry_core::ConversationId`'s `Display`).
    Conversation(String),
}

impl Target {
    /// The conversation of group `group_id` (`g_<id>`).
    pub fn group(group_id: i64) -> Self {
        Self::Conversation(crate::http::groups::group_conversation_id(group_id))
    }
}

/// Settings of a [`Client`](super::Client). Build with
/// [`ClientConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `tcp://host:port`, `ws://host:port/ws` or `wss://host/ws`.
    pub url: String,
    /// More addresses of the same service, in the same forms: the other
    /// nodes of a cluster, where a load balancer does not hide them. The
    /// first connect tries `url`, then these in turn; a reconnect starts
    /// with the address that served last (the next one when that server
    /// ended the session with `unavailable`: shutting down, idle timeout)
    /// and moves on to the next after each failed attempt, doubling its
    /// delay only after a whole round failed. Empty: `url` only.
    pub fallback_urls: Vec<String>,
    /// Session token from HTTP login.
    pub token: String,
    /// On WebSocket, send proto3-JSON text frames instead of protobuf binary.
    pub json: bool,
    /// How long a request waits for its answer.
    pub request_timeout: Duration,
    /// Last seq already held per conversation (e.g. from a saved profile);
    /// only later messages are delivered.
    pub known_seqs: HashMap<String, u64>,
    /// Capacity of the event channel.
    pub event_capacity: usize,
    /// First reconnect delay (doubles per failed attempt, with jitter).
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Page size of sync pulls (the server caps it at 1000).
    pub pull_page: u32,
}

impl ClientConfig {
    /// Defaults: no fallback addresses, binary frames, 10 s request timeout,
    /// reconnect 100 ms → 5 s, 1024 buffered events, pages of 500 messages,
    /// nothing known.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            fallback_urls: Vec::new(),
            token: token.into(),
            json: false,
            request_timeout: Duration::from_secs(10),
            known_seqs: HashMap::new(),
            event_capacity: 1024,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            pull_page: 500,
        }
    }

    /// `url` followed by the `fallback_urls`: every address, in the order
    /// they are tried.
    pub(super) fn urls(&self) -> Vec<String> {
        std::iter::once(&self.url).chain(&self.fallback_urls).cloned().collect()
    }
}

/// What the client tells its owner, in order.
// Messages are nearly every event: boxing them would cost an allocation per
// message to save bytes on the rare presence and change events.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Event {
    /// A message, exactly once and in seq order within its conversation
    /// (including the user's own messages, from this or other devices).
    Message(v1::Message),
    /// A peer went online or offline. Best effort: dropped if the event
    /// queue overflows.
    Presence(v1::PresenceEvent),
    /// Something synced incrementally over HTTP changed (contacts, a group's
    /// members, info or join requests): fetch its changes. Best effort like
    /// presence, and not replayed after a reconnect, so on
    /// [`Event::Reconnected`] fetch every domain's changes once.
    Changed(v1::Changed),
    /// A read position moved: the other member of a direct chat read up to
    /// `read_seq`, or this user read on another device. Best effort like
    /// presence; on [`Event::Reconnected`] the conversation list carries
    /// the current positions (`peer_read_seq`, `read_seq`).
    ReadReceipt(v1::ReadReceipt),
    /// The other member of a direct chat is typing (or stopped). Show it
    /// for 6 seconds unless repeated. Best effort.
    Typing(v1::Typing),
    /// Something happened in one of your calls ([`CallSignal`](super::CallSignal); what a
    /// reconnect does to a call is on [`CallEvent`]). Best effort like
    /// presence; the call-log message is the reliable record.
    Call(CallEvent),
    /// The connection dropped; the client is reconnecting.
    Disconnected,
    /// The client reconnected and synced: the messages missed while away were
    /// emitted just before this.
    Reconnected,
    /// The server ended the session on purpose ("replaced", "logout",
    /// "banned"...). The client will not reconnect; this is the last event.
    /// ("slow_consumer" and "shutdown" kicks are transient: the client
    /// reconnects and resyncs instead.)
    Kicked {
        /// The server's reason.
        reason: String,
    },
    /// The client stopped: `None` after
    /// [`Client::close`](super::Client::close), else the fatal error (e.g.
    /// the token was refused on reconnect). The last event.
    Closed {
        /// Why, if not on request.
        error: Option<ClientError>,
    },
}

/// The stream of [`Event`]s. It ends (returns `None`) after `Kicked` or
/// `Closed`. Keep reading it: a full channel holds up delivery and `sync()`.
pub type EventReceiver = mpsc::Receiver<Event>;

/// A fresh client_msg_id: 128 random bits as 32 hex digits.
pub fn new_client_msg_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_msg_ids_are_32_hex_digits_and_unique() {
        let a = new_client_msg_id();
        let b = new_client_msg_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
