//! Groups: creation, settings, members, moderation and join requests
//! (`docs/HTTP_API.md`, "Groups"). Group messages go through the ordinary
//! message endpoints with the group's conversation id (`g_<id>`).

use ferry_core::{ConversationId, JoinPolicy, Role, UserId};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::HttpApi;
use crate::{
    error::{ClientError, Result},
    http::contacts::RequestStatus,
};

/// A group as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Numeric id.
    pub id: i64,
    /// Its conversation, `g_<id>`.
    pub conversation_id: String,
    /// Name.
    pub name: String,
    /// Avatar reference ("" if none).
    #[serde(default)]
    pub avatar: String,
    /// Pinned notice ("" if none).
    #[serde(default)]
    pub notice: String,
    /// Description ("" if none).
    #[serde(default)]
    pub intro: String,
    /// The owner.
    pub owner_id: UserId,
    /// How non-members get in.
    pub join_policy: JoinPolicy,
    /// Invitations by plain members need an admin's approval.
    #[serde(default)]
    pub invite_needs_approval: bool,
    /// Only the owner and admins may speak.
    #[serde(default)]
    pub mute_all: bool,
    /// The group was dismissed (read-only history).
    #[serde(default)]
    pub dismissed: bool,
    /// Created at, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Current members.
    #[serde(default)]
    pub member_count: u32,
    /// Version of the member list (see [`HttpApi::member_changes`]).
    #[serde(default)]
    pub member_version: u64,
}

/// One member of a group (or, in a change set, a former one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Owner, admin or member.
    pub role: Role,
    /// Their nickname in this group ("" if none).
    #[serde(default)]
    pub nickname: String,
    /// Muted until (Unix ms); muted while now < this.
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

/// A request to join a group: asked by the user, or an invitation by a plain
/// member that needs an admin's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Request id (for approve/reject).
    pub id: i64,
    /// The group.
    pub group_id: i64,
    /// Who would join.
    pub user_id: UserId,
    /// Who invited them, if it is an invitation.
    #[serde(default)]
    pub inviter_id: Option<UserId>,
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

/// Settings of a new group, besides its name and first members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupOptions {
    /// Avatar reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Pinned notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
    /// How non-members get in (server default if unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_policy: Option<JoinPolicy>,
    /// Whether invitations by plain members need an admin's approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_needs_approval: Option<bool>,
}

/// Fields of `PATCH /groups/{id}`; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupUpdate {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New avatar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// New notice (posted as a `notice_posted` system message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
    /// New join policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_policy: Option<JoinPolicy>,
    /// Whether invitations by plain members need approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_needs_approval: Option<bool>,
    /// Mute (or unmute) everyone but the owner and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mute_all: Option<bool>,
}

/// Answer to an invitation: who is in now, and who awaits approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invited {
    /// Added at once.
    #[serde(default)]
    pub added: Vec<UserId>,
    /// Waiting for an owner's or admin's approval.
    #[serde(default)]
    pub pending: Vec<JoinRequest>,
}

/// One page of a group's members, in user id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPage {
    /// The members.
    pub members: Vec<Member>,
    /// Pass as `after` for the next page; `None` on the last one.
    #[serde(default)]
    pub next_after: Option<UserId>,
}

/// The member rows changed after a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanges {
    /// The version to pass as `since` next time.
    pub version: u64,
    /// Changed rows; those with `left` are gone.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// What asking to join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The caller is a member now (free groups).
    Joined,
    /// The caller's request awaits approval.
    Requested(JoinRequest),
}

#[derive(Deserialize)]
struct GroupEnvelope {
    group: Group,
}

#[derive(Deserialize)]
struct GroupsEnvelope {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct MemberEnvelope {
    member: Member,
}

#[derive(Deserialize)]
struct JoinRequestEnvelope {
    request: JoinRequest,
}

#[derive(Deserialize)]
struct JoinRequestsEnvelope {
    requests: Vec<JoinRequest>,
}

#[derive(Deserialize)]
struct JoinAnswer {
    joined: bool,
    #[serde(default)]
    request: Option<JoinRequest>,
}

#[derive(Serialize)]
struct UserBody {
    user_id: UserId,
}

/// The conversation id of group `group_id`: `g_<id>`.
pub fn group_conversation_id(group_id: i64) -> String {
    ConversationId::Group(group_id).to_string()
}

impl HttpApi {
    /// Creates a group owned by the caller with `members` (besides the
    /// caller) in it.
    pub async fn create_group(&self, name: &str, members: &[UserId], options: &GroupOptions) -> Result<Group> {
        #[derive(Serialize)]
        struct Body<'a> {
            name: &'a str,
            members: &'a [UserId],
            #[serde(flatten)]
            options: &'a GroupOptions,
        }
        let body = Body { name, members, options };
        let env: GroupEnvelope = self.call(self.req(Method::POST, "/groups").json(&body)).await?;
        Ok(env.group)
    }

    /// The caller's groups.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        let env: GroupsEnvelope = self.call(self.req(Method::GET, "/groups")).await?;
        Ok(env.groups)
    }

    /// One group (members only).
    pub async fn group(&self, id: i64) -> Result<Group> {
        let env: GroupEnvelope = self.call(self.req(Method::GET, &format!("/groups/{id}"))).await?;
        Ok(env.group)
    }

    /// Changes a group's settings (owner and admins).
    pub async fn update_group(&self, id: i64, update: &GroupUpdate) -> Result<Group> {
        let env: GroupEnvelope = self.call(self.req(Method::PATCH, &format!("/groups/{id}")).json(update)).await?;
        Ok(env.group)
    }

    /// Invites `user_ids`: some are added at once, others (invited by a plain
    /// member of a group that wants approval) wait as join requests.
    pub async fn invite(&self, id: i64, user_ids: &[UserId]) -> Result<Invited> {
        #[derive(Serialize)]
        struct Body<'a> {
            user_ids: &'a [UserId],
        }
        let req = self.req(Method::POST, &format!("/groups/{id}/members")).json(&Body { user_ids });
        self.call(req).await
    }

    /// One page of members with user id > `after` (0 for the first page), at
    /// most `limit` (the server caps it).
    pub async fn members(&self, id: i64, after: UserId, limit: u32) -> Result<MemberPage> {
        let path = format!("/groups/{id}/members?after={after}&limit={limit}");
        self.call(self.req(Method::GET, &path)).await
    }

    /// Every member, walking all pages.
    pub async fn all_members(&self, id: i64) -> Result<Vec<Member>> {
        const PAGE: u32 = 500;
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.members(id, after, PAGE).await?;
            out.extend(page.members);
            match page.next_after {
                // A cursor that does not move would loop forever.
                Some(next) if next > after => after = next,
                _ => return Ok(out),
            }
        }
    }

    /// Member rows changed after version `since` (0: everyone).
    pub async fn member_changes(&self, id: i64, since: u64) -> Result<MemberChanges> {
        self.call(self.req(Method::GET, &format!("/groups/{id}/members/changes?since={since}"))).await
    }

    /// Removes `user` from the group (owner and admins; the caller's own id
    /// leaves).
    pub async fn remove_member(&self, id: i64, user: UserId) -> Result<()> {
        self.call_empty(self.req(Method::DELETE, &format!("/groups/{id}/members/{user}"))).await
    }

    /// Leaves the group (the owner must transfer it first).
    pub async fn leave_group(&self, id: i64) -> Result<()> {
        self.call_empty(self.req(Method::POST, &format!("/groups/{id}/leave"))).await
    }

    /// Dismisses the group (owner).
    pub async fn dismiss_group(&self, id: i64) -> Result<Group> {
        let env: GroupEnvelope = self.call(self.req(Method::POST, &format!("/groups/{id}/dismiss"))).await?;
        Ok(env.group)
    }

    /// Makes `user` the owner; the caller becomes an admin (owner only).
    pub async fn transfer_group(&self, id: i64, user: UserId) -> Result<Group> {
        let req = self.req(Method::POST, &format!("/groups/{id}/transfer")).json(&UserBody { user_id: user });
        let env: GroupEnvelope = self.call(req).await?;
        Ok(env.group)
    }

    /// Makes `user` an admin or a plain member (owner only).
    pub async fn set_member_role(&self, id: i64, user: UserId, role: Role) -> Result<Member> {
        #[derive(Serialize)]
        struct Body {
            role: Role,
        }
        let req = self.req(Method::PUT, &format!("/groups/{id}/members/{user}/role")).json(&Body { role });
        let env: MemberEnvelope = self.call(req).await?;
        Ok(env.member)
    }

    /// Mutes `user` for `minutes` (owner and admins).
    pub async fn mute_member(&self, id: i64, user: UserId, minutes: u32) -> Result<Member> {
        #[derive(Serialize)]
        struct Body {
            minutes: u32,
        }
        let req = self.req(Method::PUT, &format!("/groups/{id}/members/{user}/mute")).json(&Body { minutes });
        let env: MemberEnvelope = self.call(req).await?;
        Ok(env.member)
    }

    /// Lifts `user`'s mute.
    pub async fn unmute_member(&self, id: i64, user: UserId) -> Result<Member> {
        let env: MemberEnvelope =
            self.call(self.req(Method::DELETE, &format!("/groups/{id}/members/{user}/mute"))).await?;
        Ok(env.member)
    }

    /// Sets the caller's nickname in the group ("" clears it).
    pub async fn set_group_nickname(&self, id: i64, nickname: &str) -> Result<Member> {
        #[derive(Serialize)]
        struct Body<'a> {
            nickname: &'a str,
        }
        let req = self.req(Method::PUT, &format!("/groups/{id}/nickname")).json(&Body { nickname });
        let env: MemberEnvelope = self.call(req).await?;
        Ok(env.member)
    }

    /// Joins a free group, or asks to join one that wants approval.
    pub async fn join_group(&self, id: i64, message: Option<&str>) -> Result<JoinOutcome> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<&'a str>,
        }
        let req = self.req(Method::POST, &format!("/groups/{id}/join")).json(&Body { message });
        let answer: JoinAnswer = self.call(req).await?;
        join_outcome(answer)
    }

    /// Join requests of the group (owner and admins).
    pub async fn group_requests(&self, id: i64) -> Result<Vec<JoinRequest>> {
        let env: JoinRequestsEnvelope = self.call(self.req(Method::GET, &format!("/groups/{id}/requests"))).await?;
        Ok(env.requests)
    }

    /// Approves a join request: its user becomes a member.
    pub async fn approve_join_request(&self, request_id: i64) -> Result<JoinRequest> {
        let path = format!("/groups/requests/{request_id}/approve");
        let env: JoinRequestEnvelope = self.call(self.req(Method::POST, &path)).await?;
        Ok(env.request)
    }

    /// Rejects a join request.
    pub async fn reject_join_request(&self, request_id: i64) -> Result<JoinRequest> {
        let path = format!("/groups/requests/{request_id}/reject");
        let env: JoinRequestEnvelope = self.call(self.req(Method::POST, &path)).await?;
        Ok(env.request)
    }
}

/// `{"joined":true}` or `{"joined":false,"request":…}`; anything else is a
/// protocol error rather than a silent "joined".
fn join_outcome(answer: JoinAnswer) -> Result<JoinOutcome> {
    match (answer.joined, answer.request) {
        (true, _) => Ok(JoinOutcome::Joined),
        (false, Some(request)) => Ok(JoinOutcome::Requested(request)),
        (false, None) => Err(ClientError::Protocol("join answered joined:false without a request".into())),
    }
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
    }

    #[test]
    fn join_answers_map_to_outcomes() {
        let joined: JoinAnswer = serde_json::from_str(r#"{"joined":true}"#).unwrap();
        assert_eq!(join_outcome(joined).unwrap(), JoinOutcome::Joined);
        let asked: JoinAnswer = serde_json::from_str(
            r#"{"joined":false,"request":{"id":9,"group_id":5,"user_id":3,"inviter_id":null,"message":"pls","status":"pending","created_at":1,"updated_at":1}}"#,
        )
        .unwrap();
        let Ok(JoinOutcome::Requested(r)) = join_outcome(asked) else { panic!("expected a request") };
        assert_eq!((r.id, r.message.as_str(), r.inviter_id), (9, "pls", None));
        let odd: JoinAnswer = serde_json::from_str(r#"{"joined":false}"#).unwrap();
        assert!(join_outcome(odd).is_err());
    }

    #[test]
    fn new_groups_flatten_their_options() {
        let options = GroupOptions { join_policy: Some(JoinPolicy::Free), ..Default::default() };
        let v = serde_json::to_value(&options).unwrap();
        assert_eq!(v, serde_json::json!({"join_policy":"free"}));
        assert_eq!(group_conversation_id(5), "g_5");
        let update = GroupUpdate { mute_all: Some(true), ..Default::default() };
        assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"mute_all":true}"#);
    }
}
