//! From store rows to the API's types (`ferry_api`): one function per type,
//! and the only place the HTTP API's REST shapes are built. Messaging
//! answers need no rendering: they are `ferry_proto::v1` messages already.

use ferry_api as api;
use ferry_core::ConversationId;
use ferry_store::{Block, ContactChanges, Friend, FriendRequest, Group, JoinRequest, Member, RequestStatus, User};

use crate::service::{
    accounts::{Authed, LoginOutcome},
    groups::{InviteResult, MemberPage},
};

/// The public view of a user (never the password hash).
pub fn user(u: &User) -> api::User {
    api::User {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        avatar: u.avatar.clone(),
        bio: u.bio.clone(),
        created_at: u.created_at,
    }
}

/// `{"user": User}`.
pub fn user_response(u: &User) -> api::UserResponse {
    api::UserResponse { user: user(u) }
}

/// `{"users": [User]}`.
pub fn user_list(us: &[User]) -> api::UserList {
    api::UserList { users: us.iter().map(user).collect() }
}

pub fn login(out: &LoginOutcome) -> api::LoginResponse {
    api::LoginResponse {
        token: out.token.clone(),
        device_id: out.session.device_id.clone(),
        platform: out.session.platform.clone(),
        user: user(&out.user),
    }
}

pub fn me(a: &Authed) -> api::Me {
    api::Me { user: user(&a.user), device_id: a.session.device_id.clone(), platform: a.session.platform.clone() }
}

pub fn request_status(s: RequestStatus) -> api::RequestStatus {
    match s {
        RequestStatus::Pending => api::RequestStatus::Pending,
        RequestStatus::Accepted => api::RequestStatus::Accepted,
        RequestStatus::Declined => api::RequestStatus::Declined,
    }
}

pub fn friend_request(r: &FriendRequest) -> api::FriendRequest {
    api::FriendRequest {
        id: r.id,
        from_user_id: r.from,
        to_user_id: r.to,
        greeting: r.greeting.clone(),
        status: request_status(r.status),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// `{"request": FriendRequest}`.
pub fn friend_request_response(r: &FriendRequest) -> api::FriendRequestResponse {
    api::FriendRequestResponse { request: friend_request(r) }
}

/// `{"requests": [FriendRequest]}`.
pub fn friend_request_list(rs: &[FriendRequest]) -> api::FriendRequestList {
    api::FriendRequestList { requests: rs.iter().map(friend_request).collect() }
}

pub fn friend(f: &Friend) -> api::Friend {
    api::Friend {
        user_id: f.friend,
        remark: f.remark.clone(),
        created_at: f.created_at,
        version: f.version,
        deleted: f.deleted,
    }
}

/// `{"friend": Friend}`.
pub fn friend_response(f: &Friend) -> api::FriendResponse {
    api::FriendResponse { friend: friend(f) }
}

/// `{"friends": [Friend]}`.
pub fn friend_list(fs: &[Friend]) -> api::FriendList {
    api::FriendList { friends: fs.iter().map(friend).collect() }
}

pub fn block(b: &Block) -> api::Block {
    api::Block { user_id: b.blocked, created_at: b.created_at, version: b.version, deleted: b.deleted }
}

/// `{"block": Block}`.
pub fn block_response(b: &Block) -> api::BlockResponse {
    api::BlockResponse { block: block(b) }
}

/// `{"blocks": [Block]}`.
pub fn block_list(bs: &[Block]) -> api::BlockList {
    api::BlockList { blocks: bs.iter().map(block).collect() }
}

pub fn contact_changes(c: &ContactChanges) -> api::ContactChanges {
    api::ContactChanges {
        version: c.version,
        friends: c.friends.iter().map(friend).collect(),
        requests: c.requests.iter().map(friend_request).collect(),
        blocks: c.blocks.iter().map(block).collect(),
    }
}

pub fn group(g: &Group) -> api::Group {
    api::Group {
        id: g.id,
        conversation_id: ConversationId::Group(g.id).to_string(),
        name: g.name.clone(),
        avatar: g.avatar.clone(),
        notice: g.notice.clone(),
        intro: g.intro.clone(),
        owner_id: g.owner,
        join_policy: g.join_policy,
        invite_needs_approval: g.invite_needs_approval,
        mute_all: g.mute_all,
        dismissed: g.dismissed,
        created_at: g.created_at,
        member_count: g.member_count,
        member_version: g.member_version,
    }
}

/// `{"group": Group}`.
pub fn group_response(g: &Group) -> api::GroupResponse {
    api::GroupResponse { group: group(g) }
}

/// `{"groups": [Group]}`.
pub fn group_list(gs: &[Group]) -> api::GroupList {
    api::GroupList { groups: gs.iter().map(group).collect() }
}

pub fn member(m: &Member) -> api::Member {
    api::Member {
        user_id: m.user_id,
        role: m.role,
        nickname: m.nickname.clone(),
        muted_until: m.muted_until,
        joined_at: m.joined_at,
        join_seq: m.join_seq,
        version: m.version,
        left: m.left,
    }
}

/// `{"member": Member}`.
pub fn member_response(m: &Member) -> api::MemberResponse {
    api::MemberResponse { member: member(m) }
}

pub fn member_page(p: &MemberPage) -> api::MemberPage {
    api::MemberPage { members: p.members.iter().map(member).collect(), next_after: p.next_after }
}

pub fn member_changes(c: &ferry_store::MemberChanges) -> api::MemberChanges {
    api::MemberChanges { version: c.version, members: c.members.iter().map(member).collect() }
}

pub fn join_request(r: &JoinRequest) -> api::JoinRequest {
    api::JoinRequest {
        id: r.id,
        group_id: r.group_id,
        user_id: r.user_id,
        inviter_id: r.inviter,
        message: r.message.clone(),
        status: request_status(r.status),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// `{"request": JoinRequest}`.
pub fn join_request_response(r: &JoinRequest) -> api::JoinRequestResponse {
    api::JoinRequestResponse { request: join_request(r) }
}

/// `{"requests": [JoinRequest]}`.
pub fn join_request_list(rs: &[JoinRequest]) -> api::JoinRequestList {
    api::JoinRequestList { requests: rs.iter().map(join_request).collect() }
}

/// `{"joined": true}`, or `{"joined": false, "request": …}` while `request` waits.
pub fn join_answer(request: Option<&JoinRequest>) -> api::JoinAnswer {
    api::JoinAnswer { joined: request.is_none(), request: request.map(join_request) }
}

pub fn invited(r: &InviteResult) -> api::Invited {
    api::Invited { added: r.added.clone(), pending: r.pending.iter().map(join_request).collect() }
}
