//! Groups: creation, settings, members, moderation and join requests
//! (`docs/HTTP_API.md`, "Groups"). Group messages go through the ordinary
//! message endpoints with the group's conversation id (`g_<id>`).

// Kept here too, where the long-connection client looks for it.
pub use ferry_api::group_conversation_id;
use ferry_api::{
    Group, GroupList, GroupResponse, GroupUpdate, Invite, Invited, JoinAnswer, JoinGroup, JoinRequest, JoinRequestList,
    JoinRequestResponse, Member, MemberChanges, MemberPage, MemberResponse, MuteRequest, NewGroup, NicknameUpdate,
    PageQuery, RoleUpdate, SinceQuery, TransferRequest,
};
use ferry_core::{Role, UserId};
use reqwest::Method;

use super::HttpApi;
use crate::error::{ClientError, Result};

/// What asking to join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The caller is a member now (free groups).
    Joined,
    /// The caller's request awaits approval.
    Requested(JoinRequest),
}

impl HttpApi {
    /// Creates a group owned by the caller with `new.members` (besides the
    /// caller) in it.
    pub async fn create_group(&self, new: &NewGroup) -> Result<Group> {
        let answer: GroupResponse = self.call(self.req(Method::POST, "/groups").json(new)).await?;
        Ok(answer.group)
    }

    /// The caller's groups.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        let answer: GroupList = self.call(self.req(Method::GET, "/groups")).await?;
        Ok(answer.groups)
    }

    /// One group (members; others too unless it is invite-only).
    pub async fn group(&self, id: i64) -> Result<Group> {
        let answer: GroupResponse = self.call(self.req(Method::GET, &format!("/groups/{id}"))).await?;
        Ok(answer.group)
    }

    /// Changes a group's settings (owner and admins).
    pub async fn update_group(&self, id: i64, update: &GroupUpdate) -> Result<Group> {
        let answer: GroupResponse = self.call(self.req(Method::PATCH, &format!("/groups/{id}")).json(update)).await?;
        Ok(answer.group)
    }

    /// Invites `user_ids`: some are added at once, others (invited by a plain
    /// member of a group that wants approval) wait as join requests.
    pub async fn invite(&self, id: i64, user_ids: &[UserId]) -> Result<Invited> {
        let body = Invite { user_ids: user_ids.to_vec() };
        self.call(self.req(Method::POST, &format!("/groups/{id}/members")).json(&body)).await
    }

    /// One page of members with user id > `after` (0 for the first page), at
    /// most `limit` (the server clamps it to 1..=1000).
    pub async fn members(&self, id: i64, after: UserId, limit: u32) -> Result<MemberPage> {
        let query = PageQuery { after, limit: Some(limit) };
        self.call(self.req(Method::GET, &format!("/groups/{id}/members")).query(&query)).await
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
        self.call(self.req(Method::GET, &format!("/groups/{id}/members/changes")).query(&SinceQuery { since })).await
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
        let answer: GroupResponse = self.call(self.req(Method::POST, &format!("/groups/{id}/dismiss"))).await?;
        Ok(answer.group)
    }

    /// Makes `user` the owner; the caller becomes an admin (owner only).
    pub async fn transfer_group(&self, id: i64, user: UserId) -> Result<Group> {
        let req = self.req(Method::POST, &format!("/groups/{id}/transfer")).json(&TransferRequest { user_id: user });
        let answer: GroupResponse = self.call(req).await?;
        Ok(answer.group)
    }

    /// Makes `user` an admin or a plain member (owner only).
    pub async fn set_member_role(&self, id: i64, user: UserId, role: Role) -> Result<Member> {
        let req = self.req(Method::PUT, &format!("/groups/{id}/members/{user}/role")).json(&RoleUpdate { role });
        let answer: MemberResponse = self.call(req).await?;
        Ok(answer.member)
    }

    /// Mutes `user` for `minutes` (owner and admins).
    pub async fn mute_member(&self, id: i64, user: UserId, minutes: u32) -> Result<Member> {
        let req = self.req(Method::PUT, &format!("/groups/{id}/members/{user}/mute")).json(&MuteRequest { minutes });
        let answer: MemberResponse = self.call(req).await?;
        Ok(answer.member)
    }

    /// Lifts `user`'s mute.
    pub async fn unmute_member(&self, id: i64, user: UserId) -> Result<Member> {
        let answer: MemberResponse =
            self.call(self.req(Method::DELETE, &format!("/groups/{id}/members/{user}/mute"))).await?;
        Ok(answer.member)
    }

    /// Sets the caller's nickname in the group ("" clears it).
    pub async fn set_group_nickname(&self, id: i64, nickname: &str) -> Result<Member> {
        let body = NicknameUpdate { nickname: nickname.to_owned() };
        let answer: MemberResponse =
            self.call(self.req(Method::PUT, &format!("/groups/{id}/nickname")).json(&body)).await?;
        Ok(answer.member)
    }

    /// Joins a free group, or asks to join one that wants approval.
    pub async fn join_group(&self, id: i64, message: Option<&str>) -> Result<JoinOutcome> {
        let body = JoinGroup { message: message.map(str::to_owned) };
        let answer: JoinAnswer = self.call(self.req(Method::POST, &format!("/groups/{id}/join")).json(&body)).await?;
        join_outcome(answer)
    }

    /// Join requests of the group (owner and admins).
    pub async fn group_requests(&self, id: i64) -> Result<Vec<JoinRequest>> {
        let answer: JoinRequestList = self.call(self.req(Method::GET, &format!("/groups/{id}/requests"))).await?;
        Ok(answer.requests)
    }

    /// Approves a join request: its user becomes a member.
    pub async fn approve_join_request(&self, request_id: i64) -> Result<JoinRequest> {
        let path = format!("/groups/requests/{request_id}/approve");
        let answer: JoinRequestResponse = self.call(self.req(Method::POST, &path)).await?;
        Ok(answer.request)
    }

    /// Rejects a join request.
    pub async fn reject_join_request(&self, request_id: i64) -> Result<JoinRequest> {
        let path = format!("/groups/requests/{request_id}/reject");
        let answer: JoinRequestResponse = self.call(self.req(Method::POST, &path)).await?;
        Ok(answer.request)
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
}
