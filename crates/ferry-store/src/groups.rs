//! Groups: info and settings, members with roles, join requests, and the
//! versioned member change log for incremental member sync.
//!
//! A group's conversation is `ConversationId::Group(id)`; creating a group
//! creates its conversation row (max_seq 0). Membership of the conversation
//! (`conversations_of`, read positions) follows group membership: adding a
//! member inserts its conversation-member row with `read_seq = join_seq`,
//! removing one deletes it.
//!
//! Versioning: each group has a member version counter; every member change
//! (add, remove, role, mute, nickname) increments it and stamps the row;
//! removed members stay as tombstones (`left: true`).

use async_trait::async_trait;
use ferry_core::{JoinPolicy, Role, UserId};

use crate::{Result, StoreError, contacts::RequestStatus};

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    /// A URL or a file id; "" = none. A file named here is readable by
    /// everyone ([`FileStore::readable_file`](crate::FileStore::readable_file)).
    pub avatar: String,
    /// The announcement.
    pub notice: String,
    /// The introduction.
    pub intro: String,
    pub owner: UserId,
    pub join_policy: JoinPolicy,
    /// Invitations by plain members wait for an owner's or admin's approval.
    pub invite_needs_approval: bool,
    /// Only the owner and admins may speak.
    pub mute_all: bool,
    pub dismissed: bool,
    pub created_at: i64,
    /// Current members.
    pub member_count: u32,
    /// The member version counter.
    pub member_version: u64,
}

/// What group creation writes.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub avatar: String,
    pub notice: String,
    pub intro: String,
    pub owner: UserId,
    /// Initial members besides the owner (duplicates and the owner ignored).
    pub members: Vec<UserId>,
    pub join_policy: JoinPolicy,
    pub invite_needs_approval: bool,
    pub now: i64,
}

/// A partial update of a group's info and settings.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub notice: Option<String>,
    pub intro: Option<String>,
    pub join_policy: Option<JoinPolicy>,
    pub invite_needs_approval: Option<bool>,
    pub mute_all: Option<bool>,
}

/// A member of a group (or, with `left`, a former member: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub group_id: i64,
    pub user_id: UserId,
    pub role: Role,
    /// Group nickname ("" = none).
    pub nickname: String,
    /// Unix ms; muted while now < muted_until (0 = not muted).
    pub muted_until: i64,
    pub joined_at: i64,
    /// The group seq when the member joined: history visible after it.
    pub join_seq: u64,
    /// The group's member version when this row last changed.
    pub version: u64,
    pub left: bool,
}

/// A group's current members for fan-out: user ids in ascending order and,
/// at the same index, the seq each joined after (it sees the seqs beyond).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberIds {
    pub ids: Vec<UserId>,
    pub join_seqs: Vec<u64>,
}

impl MemberIds {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The members message `seq` is pushed to: those who joined before it.
    /// The fan-out runs after the commit, so a member added meanwhile is
    /// already listed; it must not be pushed what came before its join.
    pub fn receivers(&self, seq: u64) -> std::borrow::Cow<'_, [UserId]> {
        if self.join_seqs.iter().all(|&j| j < seq) {
            return std::borrow::Cow::Borrowed(&self.ids);
        }
        let ids = self.ids.iter().zip(&self.join_seqs).filter(|(_, j)| **j < seq).map(|(u, _)| *u);
        std::borrow::Cow::Owned(ids.collect())
    }
}

/// Member changes after some version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberChanges {
    /// The group's current member version.
    pub version: u64,
    /// Rows changed after `since`, tombstones included, by user id.
    pub members: Vec<Member>,
}

/// A request to join (or an invitation waiting for approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub id: i64,
    pub group_id: i64,
    pub user_id: UserId,
    /// Who invited the user, for invitations needing approval.
    pub inviter: Option<UserId>,
    pub message: String,
    pub status: RequestStatus,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Group storage.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates the group and its conversation; the owner gets `Role::Owner`,
    /// the members `Role::Member`, all with join_seq 0. Returns the group and
    /// its members (owner first).
    async fn create_group(&self, group: NewGroup) -> Result<(Group, Vec<Member>)>;
    async fn group(&self, id: i64) -> Result<Option<Group>>;
    /// Groups `user` is a current member of (dismissed ones included), by id.
    async fn groups_of(&self, user: UserId) -> Result<Vec<Group>>;
    /// How many non-dismissed groups `user` is a current member of.
    async fn count_groups_of(&self, user: UserId) -> Result<u32>;
    /// Applies a patch; `NotFound` if there is no such group.
    async fn update_group(&self, id: i64, patch: GroupPatch) -> Result<Group>;
    /// Makes `new_owner` (a current member) the owner; the old owner becomes
    /// an admin. `NotFound` if `new_owner` is not a member.
    async fn transfer_ownership(&self, id: i64, new_owner: UserId) -> Result<Group>;
    /// Marks the group dismissed (members and history are kept, read-only).
    async fn dismiss_group(&self, id: i64) -> Result<Group>;
    /// Adds users as `Role::Member` (re-adding former members), skipping
    /// current members. Returns the rows actually added.
    async fn add_members(&self, id: i64, users: &[UserId], join_seq: u64, now: i64) -> Result<Vec<Member>>;
    /// Removes a current member (tombstone); false if not a member.
    async fn remove_member(&self, id: i64, user: UserId) -> Result<bool>;
    /// `NotFound` if `user` is not a current member.
    async fn set_role(&self, id: i64, user: UserId, role: Role) -> Result<Member>;
    async fn set_muted_until(&self, id: i64, user: UserId, until: i64) -> Result<Member>;
    async fn set_nickname(&self, id: i64, user: UserId, nickname: &str) -> Result<Member>;
    /// A current member (not a tombstone).
    async fn member(&self, id: i64, user: UserId) -> Result<Option<Member>>;
    /// Current members with user id > `after_user`, by user id, at most `limit`.
    async fn members(&self, id: i64, after_user: UserId, limit: u32) -> Result<Vec<Member>>;
    /// All current members with their join seqs (for fan-out).
    async fn member_ids(&self, id: i64) -> Result<MemberIds>;
    /// Member rows changed after version `since`.
    async fn member_changes(&self, id: i64, since: u64) -> Result<MemberChanges>;
    /// Creates a pending join request for (group, user) or refreshes the
    /// pending one (message, inviter, updated_at).
    async fn upsert_join_request(
        &self,
        id: i64,
        user: UserId,
        inviter: Option<UserId>,
        message: &str,
        now: i64,
    ) -> Result<JoinRequest>;
    async fn join_request(&self, request_id: i64) -> Result<Option<JoinRequest>>;
    /// Pending requests of a group, oldest first.
    async fn pending_join_requests(&self, id: i64) -> Result<Vec<JoinRequest>>;
    /// Sets a pending request's status (`NotFound` if not pending). Adding the
    /// member is the caller's separate step.
    async fn resolve_join_request(&self, request_id: i64, accept: bool, now: i64) -> Result<JoinRequest>;
}

/// `columns` (comma-separated) each qualified with `prefix` (for a join).
pub(crate) fn prefixed(columns: &str, prefix: &str) -> String {
    columns.split(',').map(|c| format!("{prefix}{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// The error for a group that does not exist.
pub(crate) fn no_group(id: i64) -> StoreError {
    StoreError::NotFound(format!("group {id}"))
}

/// The error for a user who is not a current member.
pub(crate) fn not_member(id: i64, user: UserId) -> StoreError {
    StoreError::NotFound(format!("user {user} is not a member of group {id}"))
}
