//! What nodes say to each other on the cluster bus: one protobuf
//! [`Envelope`] per engine message, declared here with prost's derives
//! (it is node-to-node, never seen by clients, so it stays out of
//! `proto/ferry.proto`).
//!
//! A frame travels as the bytes the sending node already encoded for its
//! own sessions ([`Outbound::protobuf`](crate::hub::Outbound::protobuf)): a
//! fan-out is encoded once, whatever the number of nodes, and the receiving
//! node hands the same bytes to its sessions without encoding again.

use bytes::Bytes;
use ferry_core::UserId;

use super::Invalidation;

/// One bus message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    /// The sending node's id.
    #[prost(string, tag = "1")]
    pub from: String,
    #[prost(oneof = "Body", tags = "2, 3, 4, 5, 6, 7, 8, 9")]
    pub body: Option<Body>,
    /// The sending node's top-level `node_id` (the owner part of the call
    /// ids it mints, and part of every message id it mints).
    #[prost(uint32, tag = "20")]
    pub node_id: u32,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Body {
    /// A frame for every session of `users` on the receiving node.
    #[prost(message, tag = "2")]
    Deliver(Deliver),
    /// A frame for the sessions of one user on some devices.
    #[prost(message, tag = "3")]
    Devices(Devices),
    /// Close sessions (to every node).
    #[prost(message, tag = "4")]
    Kick(Kick),
    /// Drop a cache entry (to every node).
    #[prost(message, tag = "5")]
    Invalidate(Invalidate),
    /// The sender's sessions of some users changed (to every node).
    #[prost(message, tag = "6")]
    Presence(Presence),
    /// The sender is alive at `version` (to every node, every third of the
    /// presence TTL).
    #[prost(message, tag = "7")]
    Alive(Alive),
    /// A client's request for a call the receiving node owns.
    #[prost(message, tag = "8")]
    CallRequest(CallRequest),
    /// The owner's answer to a `CallRequest`.
    #[prost(message, tag = "9")]
    CallReply(CallReply),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Deliver {
    #[prost(int64, repeated, tag = "1")]
    pub users: Vec<UserId>,
    /// An encoded `v1::Frame`.
    #[prost(bytes = "bytes", tag = "2")]
    pub frame: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Devices {
    #[prost(int64, tag = "1")]
    pub user: UserId,
    #[prost(string, repeated, tag = "2")]
    pub devices: Vec<String>,
    #[prost(bytes = "bytes", tag = "3")]
    pub frame: Bytes,
    /// A connection on the receiving node that must not get the frame (it
    /// caused it, and gets the answer instead).
    #[prost(uint64, optional, tag = "4")]
    pub except_session: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Kick {
    #[prost(int64, tag = "1")]
    pub user: UserId,
    /// Only sessions with this token hash; every session when absent.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub token_hash: Option<Vec<u8>>,
    #[prost(string, tag = "3")]
    pub reason: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Invalidate {
    #[prost(enumeration = "CacheKind", tag = "1")]
    pub kind: i32,
    /// The user or group id the entry is keyed by.
    #[prost(int64, tag = "2")]
    pub id: i64,
    /// The member, for [`CacheKind::Member`].
    #[prost(int64, tag = "3")]
    pub user: UserId,
    /// The token hash, for [`CacheKind::Session`].
    #[prost(bytes = "vec", tag = "4")]
    pub token_hash: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum CacheKind {
    User = 0,
    Session = 1,
    Group = 2,
    Member = 3,
    MemberList = 4,
    Blocks = 5,
    Friends = 6,
    Peers = 7,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Presence {
    /// The sender's registry version after this change (see `redis.rs`).
    #[prost(uint64, tag = "1")]
    pub version: u64,
    /// The sender forgot everything it said before (it re-registered after
    /// losing the engine): drop its entries before applying these.
    #[prost(bool, tag = "2")]
    pub reset: bool,
    #[prost(message, repeated, tag = "3")]
    pub users: Vec<UserDevices>,
    /// The sender is shutting down: forget it now rather than after the TTL.
    #[prost(bool, tag = "4")]
    pub leaving: bool,
}

/// Every live session of one user on the sending node, as the device id of
/// each (a device twice = two sessions); none = the user left the node.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserDevices {
    #[prost(int64, tag = "1")]
    pub user: UserId,
    #[prost(string, repeated, tag = "2")]
    pub devices: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CallRequest {
    /// The request's id on the sending node (its answer carries it back).
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub user: UserId,
    #[prost(string, tag = "3")]
    pub device: String,
    /// The client's connection on the sending node.
    #[prost(uint64, tag = "4")]
    pub session: u64,
    /// The client's `v1::CallRequest`, encoded.
    #[prost(bytes = "bytes", tag = "5")]
    pub request: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CallReply {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The `v1::CallAck`, encoded (when the request succeeded).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub ack: Option<Bytes>,
    /// The error code's wire name (when it failed).
    #[prost(string, tag = "3")]
    pub error_code: String,
    #[prost(string, tag = "4")]
    pub error_message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Alive {
    #[prost(uint64, tag = "1")]
    pub version: u64,
}

impl From<&Invalidation> for Invalidate {
    fn from(what: &Invalidation) -> Self {
        let (kind, id, user, token_hash) = match what {
            Invalidation::User(u) => (CacheKind::User, *u, 0, Vec::new()),
            Invalidation::Session(hash) => (CacheKind::Session, 0, 0, hash.clone()),
            Invalidation::Group(g) => (CacheKind::Group, *g, 0, Vec::new()),
            Invalidation::Member { group, user } => (CacheKind::Member, *group, *user, Vec::new()),
            Invalidation::MemberList(g) => (CacheKind::MemberList, *g, 0, Vec::new()),
            Invalidation::Blocks(u) => (CacheKind::Blocks, *u, 0, Vec::new()),
            Invalidation::Friends(u) => (CacheKind::Friends, *u, 0, Vec::new()),
            Invalidation::Peers(u) => (CacheKind::Peers, *u, 0, Vec::new()),
        };
        Self { kind: kind as i32, id, user, token_hash }
    }
}

impl Invalidate {
    /// The invalidation this names (`None` for a kind this node does not know).
    pub fn to_invalidation(&self) -> Option<Invalidation> {
        Some(match CacheKind::try_from(self.kind).ok()? {
            CacheKind::User => Invalidation::User(self.id),
            CacheKind::Session => Invalidation::Session(self.token_hash.clone()),
            CacheKind::Group => Invalidation::Group(self.id),
            CacheKind::Member => Invalidation::Member { group: self.id, user: self.user },
            CacheKind::MemberList => Invalidation::MemberList(self.id),
            CacheKind::Blocks => Invalidation::Blocks(self.id),
            CacheKind::Friends => Invalidation::Friends(self.id),
            CacheKind::Peers => Invalidation::Peers(self.id),
        })
    }
}

/// The `&'static str` a kick reason from the wire maps to (the hub keeps
/// reasons static); an unknown one becomes `"kicked"`.
pub fn kick_reason(reason: &str) -> &'static str {
    const KNOWN: &[&str] = &["logout", "replaced", "banned", "disabled", "slow_consumer", "shutdown"];
    KNOWN.iter().find(|k| **k == reason).copied().unwrap_or("kicked")
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn every_invalidation_round_trips() {
        for what in [
            Invalidation::User(7),
            Invalidation::Session(vec![1; 32]),
            Invalidation::Group(3),
            Invalidation::Member { group: 3, user: 9 },
            Invalidation::MemberList(4),
            Invalidation::Blocks(5),
            Invalidation::Friends(6),
            Invalidation::Peers(8),
        ] {
            let env = Envelope { from: "n".into(), body: Some(Body::Invalidate(Invalidate::from(&what))), node_id: 3 };
            let back = Envelope::decode(env.encode_to_vec().as_slice()).expect("decodes");
            let Some(Body::Invalidate(i)) = back.body else { panic!("not an invalidation: {back:?}") };
            assert_eq!(i.to_invalidation(), Some(what));
        }
    }

    #[test]
    fn a_frame_travels_as_the_same_bytes() {
        let frame = Bytes::from_static(b"\x08\x01encoded frame");
        let env = Envelope {
            from: "a".into(),
            body: Some(Body::Deliver(Deliver { users: vec![1, 2, 3], frame: frame.clone() })),
            node_id: 1,
        };
        let back = Envelope::decode(Bytes::from(env.encode_to_vec())).expect("decodes");
        assert_eq!(back, env);
        assert_eq!(kick_reason("logout"), "logout");
        assert_eq!(kick_reason("anything else"), "kicked");
    }
}
