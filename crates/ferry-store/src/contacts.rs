//! Contacts: friend requests, friends (with a private remark), blocks — and
//! their versioned change log for incremental sync.
//!
//! Versioning: each user has one contacts version counter. Every change that
//! touches a user's view (a friend row, a request they sent or received, a
//! block they own) increments that user's counter and stamps the changed row
//! with the new value; deletions leave a tombstone (`deleted: true`). A client
//! holding version V asks [`ContactStore::contact_changes`] for everything
//! after V and gets exactly what changed, tombstones included.

use async_trait::async_trait;
use ferry_core::UserId;

use crate::Result;

/// State of a friend or join request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Pending,
    Accepted,
    Declined,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "declined" => Some(Self::Declined),
            _ => None,
        }
    }
}

/// A friend request from one user to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequest {
    pub id: i64,
    pub from: UserId,
    pub to: UserId,
    pub greeting: String,
    pub status: RequestStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One side of a friendship, as `owner` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friend {
    pub owner: UserId,
    pub friend: UserId,
    /// The owner's private alias for the friend ("" = none).
    pub remark: String,
    pub created_at: i64,
    /// The owner's contacts version when this row last changed.
    pub version: u64,
    /// Tombstone: the friendship was deleted.
    pub deleted: bool,
}

/// `owner` has blocked `blocked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub owner: UserId,
    pub blocked: UserId,
    pub created_at: i64,
    pub version: u64,
    /// Tombstone: unblocked.
    pub deleted: bool,
}

/// What changed in a user's contacts after some version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactChanges {
    /// The user's current contacts version (ask for changes after it next time).
    pub version: u64,
    /// Friend rows of the user changed after `since` (tombstones included).
    pub friends: Vec<Friend>,
    /// Requests sent or received by the user changed after `since`.
    pub requests: Vec<FriendRequest>,
    /// Blocks owned by the user changed after `since` (tombstones included).
    pub blocks: Vec<Block>,
}

/// Contacts storage. All methods that change something bump the contacts
/// version of every user whose view changed.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Creates a pending request `from → to`, or, if one is already pending,
    /// updates its greeting and `updated_at`. If `to` has a pending request
    /// to `from`, that one is accepted instead (they become friends) and
    /// returned — atomically, so users asking each other at once end up
    /// friends. `Conflict` if they are already friends. (Both users'
    /// versions change.)
    async fn upsert_friend_request(&self, from: UserId, to: UserId, greeting: &str, now: i64) -> Result<FriendRequest>;
    async fn friend_request(&self, id: i64) -> Result<Option<FriendRequest>>;
    /// The pending request `from → to`, if any.
    async fn pending_friend_request(&self, from: UserId, to: UserId) -> Result<Option<FriendRequest>>;
    /// Accepts or declines a pending request (`NotFound` if it is not
    /// pending). Accepting creates the friendship in both directions (reviving
    /// tombstones, remark reset to "") and also resolves a pending request in
    /// the opposite direction as accepted.
    async fn resolve_friend_request(&self, id: i64, accept: bool, now: i64) -> Result<FriendRequest>;
    /// Requests sent or received by `user`, newest first.
    async fn friend_requests_of(&self, user: UserId) -> Result<Vec<FriendRequest>>;
    /// Current friends of `user` (no tombstones), by friend id.
    async fn friends_of(&self, user: UserId) -> Result<Vec<Friend>>;
    /// Whether `owner` and `other` are friends.
    async fn is_friend(&self, owner: UserId, other: UserId) -> Result<bool>;
    /// Ends the friendship in both directions (tombstones); false if there was none.
    async fn delete_friend(&self, a: UserId, b: UserId, now: i64) -> Result<bool>;
    /// Sets `owner`'s remark for `friend`; `NotFound` if they are not friends.
    async fn set_remark(&self, owner: UserId, friend: UserId, remark: &str) -> Result<Friend>;
    /// `owner` blocks `target` (idempotent).
    async fn block(&self, owner: UserId, target: UserId, now: i64) -> Result<Block>;
    /// Lifts a block; false if there was none.
    async fn unblock(&self, owner: UserId, target: UserId, now: i64) -> Result<bool>;
    /// Whether `owner` has blocked `target`.
    async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool>;
    /// Current blocks of `owner` (no tombstones).
    async fn blocks_of(&self, owner: UserId) -> Result<Vec<Block>>;
    /// Everything in `user`'s contacts changed after version `since`.
    async fn contact_changes(&self, user: UserId, since: u64) -> Result<ContactChanges>;
}
