//! Groups: info and settings, members, moderation and join requests. Group
//! messages go through the messaging endpoints with the group's
//! conversation id (`g_<id>`).

use ferry_core::{ConversationId, JoinPolicy, Role};
use serde::{Deserialize, Serialize};

use crate::contacts::RequestStatus;

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// Numeric id.
    pub id: i64,
    /// Its conversation, `g_<id>`.
    pub conversation_id: String,
    /// Name.
    pub name: String,
    /// Avatar: an `http(s)://` URL, or a file id (readable by every
    /// signed-in user); "" if none.
    #[serde(default)]
    pub avatar: String,
    /// Pinned announcement ("" if none).
    #[serde(default)]
    pub notice: String,
    /// Introduction ("" if none).
    #[serde(default)]
    pub intro: String,
    /// The owner.
    pub owner_id: i64,
    /// How non-members get in.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::JoinPolicy))]
    pub join_policy: JoinPolicy,
    /// Invitations by plain members wait for an owner's or admin's approval.
    #[serde(default)]
    pub invite_needs_approval: bool,
    /// Only the owner and admins may speak.
    #[serde(default)]
    pub mute_all: bool,
    /// The group was dismissed (its history stays readable).
    #[serde(default)]
    pub dismissed: bool,
    /// Created at, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Current members.
    #[serde(default)]
    pub member_count: u32,
    /// Version of the member list (see `GET /groups/{id}/members/changes`).
    #[serde(default)]
    pub member_version: u64,
}

/// `{"group": Group}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupResponse {
    /// The group.
    pub group: Group,
}

/// `{"groups": [Group]}`: the caller's groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupList {
    /// The groups, by id.
    pub groups: Vec<Group>,
}

/// One member of a group (in a change set, possibly a former one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// The user.
    pub user_id: i64,
    /// Owner, admin or member.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Role))]
    pub role: Role,
    /// Their nickname in this group ("" if none).
    #[serde(default)]
    pub nickname: String,
    /// Muted until (Unix ms); muted while now < this, 0 = not muted.
    #[serde(default)]
    pub muted_until: i64,
    /// Joined at, Unix milliseconds.
    #[serde(default)]
    pub joined_at: i64,
    /// The group's seq when they joined (history before it may be hidden).
    #[serde(default)]
    pub join_seq: u64,
    /// Member-list version of the last change to this row.
    #[serde(default)]
    pub version: u64,
    /// No longer a member (only in change sets).
    #[serde(default)]
    pub left: bool,
}

impl Member {
    /// Whether the member is muted at `now_ms` (Unix milliseconds).
    pub fn is_muted_at(&self, now_ms: i64) -> bool {
        now_ms < self.muted_until
    }
}

/// `{"member": Member}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberResponse {
    /// The member.
    pub member: Member,
}

/// One page of a group's members, in user id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberPage {
    /// The members.
    pub members: Vec<Member>,
    /// Pass as `after` for the next page; `null` on the last one.
    #[serde(default)]
    pub next_after: Option<i64>,
}

/// The member rows changed after a version; removed members have `left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberChanges {
    /// The group's member version now: pass it as `since` next time.
    pub version: u64,
    /// Changed rows, by user id.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// A request to join a group: asked by the user, or an invitation by a plain
/// member that needs an owner's or admin's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinRequest {
    /// Request id (for approve/reject).
    pub id: i64,
    /// The group.
    pub group_id: i64,
    /// Who would join.
    pub user_id: i64,
    /// Who invited them, for invitations; `null` when they asked themselves.
    #[serde(default)]
    pub inviter_id: Option<i64>,
    /// The asker's note.
    #[serde(default)]
    pub message: String,
    /// Where it stands (`accepted` = approved, `declined` = rejected).
    pub status: RequestStatus,
    /// Asked at, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Last status change, Unix milliseconds.
    #[serde(default)]
    pub updated_at: i64,
}

/// `{"request": JoinRequest}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinRequestResponse {
    /// The request.
    pub request: JoinRequest,
}

/// `{"requests": [JoinRequest]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinRequestList {
    /// The requests.
    pub requests: Vec<JoinRequest>,
}

/// `POST /groups`: a new group owned by the caller. Unknown fields are
/// refused (`mute_all` is set after creation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Name (1-64 characters).
    pub name: String,
    /// First members besides the caller.
    #[serde(default)]
    pub members: Vec<i64>,
    /// Avatar (at most 1024 characters): an `http(s)://` URL, or the id of
    /// an image file you uploaded, which every signed-in user may then read
    /// while it is the group's avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Pinned announcement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Introduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
    /// How non-members get in (default `approval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::JoinPolicy>))]
    pub join_policy: Option<JoinPolicy>,
    /// Whether invitations by plain members need approval (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_needs_approval: Option<bool>,
}

/// `PATCH /groups/{id}`: the settings to change; those left out stay.
/// Unknown fields are refused (members change through the member endpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New avatar: "" for none, an `http(s)://` URL, or the id of an image
    /// file you uploaded (setting the current value again is no change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// New announcement (posted as a `notice_posted` system message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// New introduction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
    /// New join policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::JoinPolicy>))]
    pub join_policy: Option<JoinPolicy>,
    /// Whether invitations by plain members need approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_needs_approval: Option<bool>,
    /// Mute (or unmute) everyone but the owner and admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_all: Option<bool>,
}

/// `POST /groups/{id}/members`: users to invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    /// The users.
    pub user_ids: Vec<i64>,
}

/// Answer to an invitation: who is in now, and who waits for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invited {
    /// Added at once.
    #[serde(default)]
    pub added: Vec<i64>,
    /// Waiting for an owner's or admin's approval.
    #[serde(default)]
    pub pending: Vec<JoinRequest>,
}

/// `?after=&limit=`: a page of members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct PageQuery {
    /// Members with user id greater than this (0 for the first page).
    #[serde(default)]
    pub after: i64,
    /// Page size, clamped to 1-1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// `PUT /groups/{id}/members/{user_id}/role` (owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleUpdate {
    /// `admin` or `member` (ownership moves with `transfer`).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Role))]
    pub role: Role,
}

/// `PUT /groups/{id}/members/{user_id}/mute` (owner and admins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MuteRequest {
    /// For how long; 0 unmutes.
    pub minutes: u32,
}

/// `PUT /groups/{id}/nickname`: the caller's own nickname in the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NicknameUpdate {
    /// The nickname ("" clears it; at most 64 characters).
    pub nickname: String,
}

/// `POST /groups/{id}/transfer` (owner): the new owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransferRequest {
    /// A current member; the old owner becomes an admin.
    pub user_id: i64,
}

/// `POST /groups/{id}/join`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinGroup {
    /// A note for the owner and admins (groups that want approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Answer to `POST /groups/{id}/join`: `{"joined": true}` (200, free groups)
/// or `{"joined": false, "request": JoinRequest}` (202, approval needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinAnswer {
    /// Whether the caller is a member now.
    pub joined: bool,
    /// The request awaiting approval, when not joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<JoinRequest>,
}

/// The conversation id of group `group_id`: `g_<id>`.
pub fn group_conversation_id(group_id: i64) -> String {
    ConversationId::Group(group_id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: &str = r#"{"id":5,"conversation_id":"g_5","name":"team","avatar":"","notice":"hi","intro":"",
        "owner_id":1,"join_policy":"approval","invite_needs_approval":false,"mute_all":false,"dismissed":false,
        "created_at":1,"member_count":3,"member_version":4}"#;

    #[test]
    fn documented_bodies_deserialize() {
        let g: Group = serde_json::from_str(GROUP).unwrap();
        assert_eq!((g.id, g.conversation_id.as_str(), g.join_policy), (5, "g_5", JoinPolicy::Approval));
        let m: Member = serde_json::from_str(
            r#"{"user_id":2,"role":"admin","nickname":"bee","muted_until":100,"joined_at":1,"join_seq":3,"version":4,"left":false}"#,
        )
        .unwrap();
        assert_eq!(m.role, Role::Admin);
        assert!(m.is_muted_at(99) && !m.is_muted_at(100));
        let page: MemberPage = serde_json::from_str(r#"{"members":[],"next_after":null}"#).unwrap();
        assert_eq!(page.next_after, None);
        let inv: Invited = serde_json::from_str(
            r#"{"added":[2],"pending":[{"id":9,"group_id":5,"user_id":3,"inviter_id":2,"message":"","status":"pending","created_at":1,"updated_at":1}]}"#,
        )
        .unwrap();
        assert_eq!(inv.added, [2]);
        assert_eq!(inv.pending[0].inviter_id, Some(2));
        let asked: JoinAnswer = serde_json::from_str(
            r#"{"joined":false,"request":{"id":9,"group_id":5,"user_id":3,"inviter_id":null,"message":"pls","status":"pending","created_at":1,"updated_at":1}}"#,
        )
        .unwrap();
        assert_eq!(asked.request.map(|r| (r.id, r.inviter_id)), Some((9, None)));
    }

    #[test]
    fn requests_send_only_what_is_set_and_refuse_strangers() {
        let new = NewGroup { name: "team".into(), join_policy: Some(JoinPolicy::Free), ..Default::default() };
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            serde_json::json!({"name":"team","members":[],"join_policy":"free"})
        );
        let update = GroupUpdate { mute_all: Some(true), ..Default::default() };
        assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"mute_all":true}"#);
        assert!(serde_json::from_str::<NewGroup>(r#"{"name":"x","mute_all":true}"#).is_err());
        assert!(serde_json::from_str::<GroupUpdate>(r#"{"members":[2]}"#).is_err());
        assert_eq!(serde_json::from_str::<PageQuery>("{}").unwrap(), PageQuery { after: 0, limit: None });
        assert_eq!(group_conversation_id(5), "g_5");
    }
}
