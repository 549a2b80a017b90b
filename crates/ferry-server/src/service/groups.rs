//! Groups: creation, info, membership, roles, moderation, join requests.
//!
//! Every membership or settings change is also a system message in the
//! group's seq stream (so every device of every member converges by sync)
//! and a `changed` push to online members (so member lists refresh). The
//! permission rules themselves live in `ferry_core::group`.
//!
//! (Just over 600 lines on purpose: one operation per method, each the same
//! three steps — load facts, check the rule, write store change + system
//! message — sharing the private helpers at the bottom; split by operation
//! they would have to export those helpers.)
//!
//! Ordering of the two writes: when someone arrives, the store change comes
//! first and the system message second (the newcomer sees it); when someone
//! goes, the system message comes first (the leaver sees why) and the store
//! change second.

use std::{collections::BTreeSet, sync::Arc};

use ferry_core::ConversationId;
use ferry_core::{
    ApiError, ErrorCode, JoinPolicy, Role, UserId,
    group::{self, InviteOutcome},
};
use ferry_proto::v1;
use ferry_store::{Group, GroupPatch, JoinRequest, Member, MemberChanges, NewGroup, RequestStatus, Store, User};

use super::{
    check_avatar, check_len, group_facts,
    messaging::Messaging,
    notify::{GroupDomain, Notifier},
    now_ms,
};
use crate::{
    bus::{Bus, Invalidation},
    config::GroupsConfig,
    error::store_error,
};

/// Longest group name, notice and introduction, in characters.
const MAX_NAME: usize = 64;
const MAX_NOTICE: usize = 4096;
const MAX_INTRO: usize = 1024;
/// Most users one invite or create call may name.
const MAX_BATCH: usize = 10_000;

/// A system event in a group's stream; `until` and `detail` default to
/// empty (set them with struct update syntax).
fn system(kind: &str, actor: UserId, targets: Vec<UserId>, text: String) -> v1::System {
    v1::System { event: kind.to_owned(), actor_id: actor, target_ids: targets, text, ..Default::default() }
}

/// The result of an invitation: who joined now, who waits for approval.
#[derive(Debug, Clone, Default)]
pub struct InviteResult {
    pub added: Vec<UserId>,
    pub pending: Vec<JoinRequest>,
}

/// One page of a group's members, in user id order.
#[derive(Debug, Clone, Default)]
pub struct MemberPage {
    pub members: Vec<Member>,
    /// The `after` of the next page; `None` on the last one.
    pub next_after: Option<UserId>,
}

/// Members per page unless asked otherwise, and the most one page holds.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub struct Groups {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    notifier: Arc<Notifier>,
    config: GroupsConfig,
}

impl Groups {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, notifier: Arc<Notifier>, config: GroupsConfig) -> Self {
        Self { store, bus, notifier, config }
    }

    /// After `users`' membership of group `id` changed (joined, left, role,
    /// mute, nickname); `list` when who is a member changed.
    fn members_changed(&self, id: i64, users: &[UserId], list: bool) {
        for &user in users {
            self.bus.invalidate(Invalidation::Member { group: id, user });
        }
        if list {
            self.bus.invalidate(Invalidation::MemberList(id));
        }
    }

    fn validate(input: &GroupPatch) -> Result<(), ApiError> {
        if let Some(name) = &input.name {
            if name.trim().is_empty() {
                return Err(ApiError::invalid("name must not be empty"));
            }
            check_len("name", name, MAX_NAME)?;
        }
        check_len("notice", input.notice.as_deref().unwrap_or(""), MAX_NOTICE)?;
        check_len("intro", input.intro.as_deref().unwrap_or(""), MAX_INTRO)?;
        // The avatar's own rules need the store: `check_avatar`, by the
        // callers, once they know who sets it and what it replaces.
        Ok(())
    }

    async fn group(&self, id: i64) -> Result<Group, ApiError> {
        self.store.group(id).await.map_err(store_error)?.ok_or_else(|| ApiError::not_found(format!("no group {id}")))
    }

    /// The group and the actor's membership (`not_found` for outsiders).
    async fn membership(&self, id: i64, user: UserId) -> Result<(Group, Member), ApiError> {
        let not_found = || ApiError::not_found(format!("no group {id} you are a member of"));
        let member = self.store.member(id, user).await.map_err(store_error)?.ok_or_else(not_found)?;
        Ok((self.group(id).await?, member))
    }

    async fn target(&self, id: i64, user: UserId) -> Result<Member, ApiError> {
        self.store
            .member(id, user)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("user {user} is not a member of group {id}")))
    }

    /// Refuses users who do not exist or are at their group limit.
    async fn check_joinable(&self, users: &[UserId]) -> Result<(), ApiError> {
        let found = self.store.users_by_ids(users).await.map_err(store_error)?;
        if found.len() != users.len() {
            let known: BTreeSet<UserId> = found.iter().map(|u| u.id).collect();
            let missing: Vec<String> = users.iter().filter(|u| !known.contains(u)).map(|u| u.to_string()).collect();
            return Err(ApiError::not_found(format!("no such users: {}", missing.join(", "))));
        }
        for user in users {
            if self.store.count_groups_of(*user).await.map_err(store_error)? >= self.config.max_groups_per_user {
                return Err(ApiError::new(
                    ErrorCode::LimitExceeded,
                    format!("user {user} is already in {} groups", self.config.max_groups_per_user),
                ));
            }
        }
        Ok(())
    }

    fn check_size(&self, group: &Group, adding: usize) -> Result<(), ApiError> {
        if group.member_count as usize + adding > self.config.max_members as usize {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("a group has at most {} members", self.config.max_members),
            ));
        }
        Ok(())
    }

    async fn names(&self, ids: &[UserId]) -> Vec<String> {
        match self.store.users_by_ids(ids).await {
            Ok(users) => {
                let by_id: std::collections::HashMap<UserId, User> = users.into_iter().map(|u| (u.id, u)).collect();
                ids.iter()
                    .map(|id| by_id.get(id).map_or_else(|| format!("user {id}"), |u| u.username.clone()))
                    .collect()
            }
            Err(_) => ids.iter().map(|id| format!("user {id}")).collect(),
        }
    }

    /// Writes a system event into the group's stream.
    async fn announce(&self, messaging: &Messaging, group: i64, event: v1::System) -> Result<(), ApiError> {
        messaging.append_system(group, event.actor_id, event).await?;
        Ok(())
    }

    /// Creates a group owned by `owner` with initial `members`. Its avatar
    /// is empty, a URL, or an image file `owner` uploaded ([`check_avatar`]).
    pub async fn create(
        &self,
        messaging: &Messaging,
        owner: UserId,
        input: GroupPatch,
        members: Vec<UserId>,
    ) -> Result<Group, ApiError> {
        Self::validate(&input)?;
        let name =
            input.name.clone().filter(|n| !n.trim().is_empty()).ok_or_else(|| ApiError::invalid("name is required"))?;
        let members: Vec<UserId> =
            members.into_iter().filter(|m| *m != owner).collect::<BTreeSet<_>>().into_iter().collect();
        if members.len() > MAX_BATCH {
            return Err(ApiError::invalid(format!("at most {MAX_BATCH} initial members")));
        }
        if members.len() + 1 > self.config.max_members as usize {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!("a group has at most {} members", self.config.max_members),
            ));
        }
        check_avatar(&*self.store, owner, input.avatar.as_deref().unwrap_or(""), "").await?;
        let mut everyone = members.clone();
        everyone.push(owner);
        self.check_joinable(&everyone).await?;
        let new = NewGroup {
            name: name.trim().to_owned(),
            avatar: input.avatar.unwrap_or_default(),
            notice: input.notice.unwrap_or_default(),
            intro: input.intro.unwrap_or_default(),
            owner,
            members: members.clone(),
            join_policy: input.join_policy.unwrap_or_default(),
            invite_needs_approval: input.invite_needs_approval.unwrap_or(false),
            now: now_ms(),
        };
        let (group, _) = self.store.create_group(new).await.map_err(store_error)?;
        self.members_changed(group.id, &everyone, true);
        self.notifier.group(group.id, GroupDomain::Members);
        let owner_name = self.names(&[owner]).await.remove(0);
        let text = format!("{owner_name} created the group \"{}\"", group.name);
        self.announce(messaging, group.id, system("group_created", owner, members, text)).await?;
        Ok(group)
    }

    /// Group info: visible to members, and (so they can ask to join) to
    /// anyone unless the group is invite-only.
    pub async fn info(&self, user: UserId, id: i64) -> Result<Group, ApiError> {
        let group = self.group(id).await?;
        let member = self.store.member(id, user).await.map_err(store_error)?;
        if member.is_none() && group.join_policy == JoinPolicy::InviteOnly {
            return Err(ApiError::not_found(format!("no group {id}")));
        }
        Ok(group)
    }

    /// Groups `user` belongs to.
    pub async fn list(&self, user: UserId) -> Result<Vec<Group>, ApiError> {
        self.store.groups_of(user).await.map_err(store_error)
    }

    /// Edits info and settings (owner or admins). A new avatar is empty, a
    /// URL, or an image file `actor` uploaded ([`check_avatar`]).
    pub async fn update(
        &self,
        messaging: &Messaging,
        actor: UserId,
        id: i64,
        input: GroupPatch,
    ) -> Result<Group, ApiError> {
        Self::validate(&input)?;
        let (group, me) = self.membership(id, actor).await?;
        group::manage(&group_facts(&group), me.role, "edit the group")?;
        if let Some(avatar) = &input.avatar {
            check_avatar(&*self.store, actor, avatar, &group.avatar).await?;
        }
        let patch = GroupPatch {
            name: input.name.map(|n| n.trim().to_owned()),
            avatar: input.avatar,
            notice: input.notice.clone(),
            intro: input.intro,
            join_policy: input.join_policy,
            invite_needs_approval: input.invite_needs_approval,
            mute_all: input.mute_all,
        };
        let mut changed = Vec::new();
        if patch.name.as_ref().is_some_and(|n| *n != group.name) {
            changed.push("name");
        }
        if patch.avatar.as_ref().is_some_and(|a| *a != group.avatar) {
            changed.push("avatar");
        }
        if patch.intro.as_ref().is_some_and(|i| *i != group.intro) {
            changed.push("intro");
        }
        if patch.join_policy.is_some_and(|p| p != group.join_policy) {
            changed.push("join_policy");
        }
        if patch.invite_needs_approval.is_some_and(|v| v != group.invite_needs_approval) {
            changed.push("invite_needs_approval");
        }
        let notice_changed = patch.notice.as_ref().is_some_and(|n| *n != group.notice);
        let mute_changed = patch.mute_all.filter(|m| *m != group.mute_all);
        let updated = self.store.update_group(id, patch).await.map_err(store_error)?;
        self.bus.invalidate(Invalidation::Group(id));
        let actor_name = self.names(&[actor]).await.remove(0);
        if !changed.is_empty() {
            let text = format!("{actor_name} changed the group's {}", changed.join(", "));
            self.announce(
                messaging,
                id,
                v1::System { detail: changed.join(","), ..system("group_updated", actor, vec![], text) },
            )
            .await?;
        }
        if notice_changed {
            let text = format!("{actor_name} posted an announcement");
            self.announce(
                messaging,
                id,
                v1::System { detail: updated.notice.clone(), ..system("notice_posted", actor, vec![], text) },
            )
            .await?;
        }
        if let Some(muted) = mute_changed {
            let (event, text) = if muted {
                ("mute_all", format!("{actor_name} muted the group: only the owner and admins may speak"))
            } else {
                ("unmute_all", format!("{actor_name} unmuted the group"))
            };
            self.announce(messaging, id, system(event, actor, vec![], text)).await?;
        }
        self.notifier.group(id, GroupDomain::Info);
        Ok(updated)
    }

    /// Invites users; depending on the group's settings they join now or
    /// wait for approval.
    pub async fn invite(
        &self,
        messaging: &Messaging,
        actor: UserId,
        id: i64,
        users: Vec<UserId>,
    ) -> Result<InviteResult, ApiError> {
        let (group, me) = self.membership(id, actor).await?;
        let outcome = group::invite(&group_facts(&group), me.role)?;
        let mut fresh = Vec::new();
        for user in users.into_iter().collect::<BTreeSet<_>>() {
            if self.store.member(id, user).await.map_err(store_error)?.is_none() {
                fresh.push(user);
            }
        }
        if fresh.is_empty() {
            return Ok(InviteResult::default());
        }
        if fresh.len() > MAX_BATCH {
            return Err(ApiError::invalid(format!("at most {MAX_BATCH} users per invitation")));
        }
        self.check_joinable(&fresh).await?;
        match outcome {
            InviteOutcome::Join => {
                self.check_size(&group, fresh.len())?;
                let added = self.add(messaging, id, actor, &fresh, "members_added").await?;
                Ok(InviteResult { added, pending: Vec::new() })
            }
            InviteOutcome::NeedsApproval => {
                let mut pending = Vec::new();
                for user in fresh {
                    let request = self
                        .store
                        .upsert_join_request(id, user, Some(actor), "", now_ms())
                        .await
                        .map_err(store_error)?;
                    pending.push(request);
                }
                self.notifier.group(id, GroupDomain::Requests);
                Ok(InviteResult { added: Vec::new(), pending })
            }
        }
    }

    async fn add(
        &self,
        messaging: &Messaging,
        id: i64,
        actor: UserId,
        users: &[UserId],
        event: &str,
    ) -> Result<Vec<UserId>, ApiError> {
        let join_seq = self.store.max_seq(ConversationId::Group(id)).await.map_err(store_error)?;
        let added = self.store.add_members(id, users, join_seq, now_ms()).await.map_err(store_error)?;
        self.members_changed(id, users, true);
        let ids: Vec<UserId> = added.iter().map(|m| m.user_id).collect();
        if !ids.is_empty() {
            let names = self.names(&ids).await.join(", ");
            let text = if event == "member_joined" {
                format!("{names} joined the group")
            } else {
                format!("{} added {names}", self.names(&[actor]).await.remove(0))
            };
            self.announce(messaging, id, system(event, actor, ids.clone(), text)).await?;
            self.notifier.group(id, GroupDomain::Members);
        }
        Ok(ids)
    }

    /// A non-member asks to join: joins now (free groups) or files a request.
    pub async fn join(
        &self,
        messaging: &Messaging,
        user: UserId,
        id: i64,
        message: &str,
    ) -> Result<Option<JoinRequest>, ApiError> {
        check_len("message", message, 256)?;
        let group = self.group(id).await?;
        if self.store.member(id, user).await.map_err(store_error)?.is_some() {
            return Err(ApiError::new(ErrorCode::Conflict, "you are already a member"));
        }
        let outcome = group::join(&group_facts(&group))?;
        self.check_joinable(&[user]).await?;
        match outcome {
            InviteOutcome::Join => {
                self.check_size(&group, 1)?;
                self.add(messaging, id, user, &[user], "member_joined").await?;
                Ok(None)
            }
            InviteOutcome::NeedsApproval => {
                let request =
                    self.store.upsert_join_request(id, user, None, message, now_ms()).await.map_err(store_error)?;
                self.notifier.group(id, GroupDomain::Requests);
                Ok(Some(request))
            }
        }
    }

    /// Pending join requests (owner and admins).
    pub async fn requests(&self, actor: UserId, id: i64) -> Result<Vec<JoinRequest>, ApiError> {
        let (group, me) = self.membership(id, actor).await?;
        group::manage(&group_facts(&group), me.role, "see join requests")?;
        self.store.pending_join_requests(id).await.map_err(store_error)
    }

    /// Approves or rejects a join request (owner and admins).
    pub async fn resolve_request(
        &self,
        messaging: &Messaging,
        actor: UserId,
        request_id: i64,
        accept: bool,
    ) -> Result<JoinRequest, ApiError> {
        let request = self
            .store
            .join_request(request_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("no join request {request_id}")))?;
        let (group, me) = self.membership(request.group_id, actor).await?;
        group::manage(&group_facts(&group), me.role, "approve join requests")?;
        if request.status != RequestStatus::Pending {
            return Err(ApiError::new(ErrorCode::Conflict, "the request was already handled"));
        }
        if accept {
            self.check_size(&group, 1)?;
            self.check_joinable(&[request.user_id]).await?;
        }
        let resolved = self.store.resolve_join_request(request_id, accept, now_ms()).await.map_err(store_error)?;
        self.notifier.group(group.id, GroupDomain::Requests);
        if accept && self.store.member(group.id, request.user_id).await.map_err(store_error)?.is_none() {
            let event = if request.inviter.is_some() { "members_added" } else { "member_joined" };
            self.add(messaging, group.id, request.inviter.unwrap_or(request.user_id), &[request.user_id], event)
                .await?;
        }
        Ok(resolved)
    }

    /// Removes `target` (owner: anyone else; admins: plain members).
    pub async fn kick(&self, messaging: &Messaging, actor: UserId, id: i64, target: UserId) -> Result<(), ApiError> {
        let (group, me) = self.membership(id, actor).await?;
        let them = self.target(id, target).await?;
        group::moderate(&group_facts(&group), me.role, them.role, "remove")?;
        let names = self.names(&[actor, target]).await;
        let text = format!("{} removed {}", names[0], names[1]);
        self.announce(messaging, id, system("member_removed", actor, vec![target], text)).await?;
        self.remove(id, target).await
    }

    /// Removes `target` from the group; removing yourself is leaving.
    pub async fn remove_member(
        &self,
        messaging: &Messaging,
        actor: UserId,
        id: i64,
        target: UserId,
    ) -> Result<(), ApiError> {
        if target == actor {
            self.leave(messaging, actor, id).await
        } else {
            self.kick(messaging, actor, id, target).await
        }
    }

    /// Leaves a group (the owner must transfer or dismiss first).
    pub async fn leave(&self, messaging: &Messaging, user: UserId, id: i64) -> Result<(), ApiError> {
        let (group, me) = self.membership(id, user).await?;
        group::leave(&group_facts(&group), me.role)?;
        let text = format!("{} left the group", self.names(&[user]).await.remove(0));
        self.announce(messaging, id, system("member_left", user, vec![user], text)).await?;
        self.remove(id, user).await
    }

    async fn remove(&self, id: i64, user: UserId) -> Result<(), ApiError> {
        self.store.remove_member(id, user).await.map_err(store_error)?;
        self.members_changed(id, &[user], true);
        self.notifier.group(id, GroupDomain::Members);
        // The removed user's devices refresh their group list too.
        self.notifier.left_group(user, id);
        Ok(())
    }

    /// Mutes `target` for `minutes` (0 = unmute).
    pub async fn mute(
        &self,
        messaging: &Messaging,
        actor: UserId,
        id: i64,
        target: UserId,
        minutes: u32,
    ) -> Result<Member, ApiError> {
        if minutes > 60 * 24 * 366 {
            return Err(ApiError::invalid("a mute lasts at most a year"));
        }
        let (group, me) = self.membership(id, actor).await?;
        let them = self.target(id, target).await?;
        let what = if minutes == 0 { "unmute" } else { "mute" };
        group::moderate(&group_facts(&group), me.role, them.role, what)?;
        let until = if minutes == 0 { 0 } else { now_ms() + i64::from(minutes) * 60_000 };
        let member = self.store.set_muted_until(id, target, until).await.map_err(store_error)?;
        self.members_changed(id, &[target], false);
        let names = self.names(&[actor, target]).await;
        let (event, text) = if minutes == 0 {
            ("member_unmuted", format!("{} unmuted {}", names[0], names[1]))
        } else {
            let span = if minutes.is_multiple_of(60) {
                format!("{} hours", minutes / 60)
            } else {
                format!("{minutes} minutes")
            };
            ("member_muted", format!("{} muted {} for {span}", names[0], names[1]))
        };
        self.announce(messaging, id, v1::System { until, ..system(event, actor, vec![target], text) }).await?;
        self.notifier.group(id, GroupDomain::Members);
        Ok(member)
    }

    /// Appoints or demotes an admin (owner only).
    pub async fn set_role(
        &self,
        messaging: &Messaging,
        actor: UserId,
        id: i64,
        target: UserId,
        role: Role,
    ) -> Result<Member, ApiError> {
        let (group, me) = self.membership(id, actor).await?;
        group::owner_only(&group_facts(&group), me.role, "appoint or remove admins")?;
        if role == Role::Owner {
            return Err(ApiError::invalid("use transfer to hand over ownership"));
        }
        let them = self.target(id, target).await?;
        if them.role == Role::Owner {
            return Err(ApiError::forbidden("the owner's role changes only by transfer"));
        }
        let member = self.store.set_role(id, target, role).await.map_err(store_error)?;
        self.members_changed(id, &[target], false);
        let names = self.names(&[actor, target]).await;
        let text =
            format!("{} made {} {}", names[0], names[1], if role == Role::Admin { "an admin" } else { "a member" });
        self.announce(
            messaging,
            id,
            v1::System { detail: role.as_str().to_owned(), ..system("role_changed", actor, vec![target], text) },
        )
        .await?;
        self.notifier.group(id, GroupDomain::Members);
        Ok(member)
    }

    /// Hands ownership to another member (owner only).
    pub async fn transfer(
        &self,
        messaging: &Messaging,
        actor: UserId,
        id: i64,
        new_owner: UserId,
    ) -> Result<Group, ApiError> {
        let (group, me) = self.membership(id, actor).await?;
        group::owner_only(&group_facts(&group), me.role, "transfer ownership")?;
        if new_owner == actor {
            return Err(ApiError::invalid("you already own this group"));
        }
        self.target(id, new_owner).await?;
        let updated = self.store.transfer_ownership(id, new_owner).await.map_err(store_error)?;
        self.members_changed(id, &[actor, new_owner], false);
        let names = self.names(&[actor, new_owner]).await;
        let text = format!("{} transferred ownership to {}", names[0], names[1]);
        self.announce(messaging, id, system("owner_transferred", actor, vec![new_owner], text)).await?;
        self.notifier.group(id, GroupDomain::Members);
        Ok(updated)
    }

    /// Dismisses the group (owner only). History stays readable; nobody may
    /// post any more.
    pub async fn dismiss(&self, messaging: &Messaging, actor: UserId, id: i64) -> Result<Group, ApiError> {
        let (group, me) = self.membership(id, actor).await?;
        group::owner_only(&group_facts(&group), me.role, "dismiss the group")?;
        let text = format!("{} dismissed the group", self.names(&[actor]).await.remove(0));
        self.announce(messaging, id, system("group_dismissed", actor, vec![], text)).await?;
        let updated = self.store.dismiss_group(id).await.map_err(store_error)?;
        self.bus.invalidate(Invalidation::Group(id));
        self.notifier.group(id, GroupDomain::Info);
        Ok(updated)
    }

    /// Sets the caller's own group nickname.
    pub async fn set_nickname(&self, user: UserId, id: i64, nickname: &str) -> Result<Member, ApiError> {
        check_len("nickname", nickname, 64)?;
        let (group, _) = self.membership(id, user).await?;
        if group.dismissed {
            return Err(ApiError::new(ErrorCode::GroupDismissed, "the group has been dismissed"));
        }
        let member = self.store.set_nickname(id, user, nickname.trim()).await.map_err(store_error)?;
        self.members_changed(id, &[user], false);
        self.notifier.group(id, GroupDomain::Members);
        Ok(member)
    }

    /// A page of members with user id > `after` (members only): `limit`
    /// (default 100) clamped to 1..=1000; a full page names the next one.
    pub async fn members(
        &self,
        user: UserId,
        id: i64,
        after: UserId,
        limit: Option<u32>,
    ) -> Result<MemberPage, ApiError> {
        self.membership(id, user).await?;
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let members = self.store.members(id, after, limit).await.map_err(store_error)?;
        let next_after = if members.len() as u32 == limit { members.last().map(|m| m.user_id) } else { None };
        Ok(MemberPage { members, next_after })
    }

    /// Member changes after `since` (members only).
    pub async fn member_changes(&self, user: UserId, id: i64, since: u64) -> Result<MemberChanges, ApiError> {
        self.membership(id, user).await?;
        self.store.member_changes(id, since).await.map_err(store_error)
    }
}
