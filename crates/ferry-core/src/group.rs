//! Group roles, settings and the permission rules, as pure functions so every
//! rule is unit-tested here and enforced the same way by every caller.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};

/// A member's role. Ordered: `Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

/// How people who are not invited get in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JoinPolicy {
    /// Anyone may join directly.
    Free,
    /// Anyone may ask; an owner or admin approves.
    #[default]
    Approval,
    /// Only by invitation.
    InviteOnly,
}

string_enum!(Role { Member => "member", Admin => "admin", Owner => "owner" });
string_enum!(JoinPolicy { Free => "free", Approval => "approval", InviteOnly => "invite_only" });

/// What the permission rules need to know about a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFacts {
    pub dismissed: bool,
    pub mute_all: bool,
    pub join_policy: JoinPolicy,
    /// Invitations by plain members need an admin's approval.
    pub invite_needs_approval: bool,
}

/// What the rules need to know about the acting member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberFacts {
    pub role: Role,
    /// Unix ms; muted while `now < muted_until`.
    pub muted_until: i64,
}

fn denied(code: ErrorCode, msg: &str) -> ApiError {
    ApiError::new(code, msg)
}

fn not_dismissed(g: &GroupFacts) -> Result<(), ApiError> {
    if g.dismissed { Err(denied(ErrorCode::GroupDismissed, "the group has been dismissed")) } else { Ok(()) }
}

fn at_least_admin(actor: Role, what: &str) -> Result<(), ApiError> {
    if actor >= Role::Admin {
        Ok(())
    } else {
        Err(denied(ErrorCode::Forbidden, &format!("only the owner or an admin may {what}")))
    }
}

/// May this member post a message now? (`mention_all`: the message @all.)
pub fn can_send(g: &GroupFacts, m: &MemberFacts, now: i64, mention_all: bool) -> Result<(), ApiError> {
    not_dismissed(g)?;
    if m.role == Role::Member {
        if g.mute_all {
            return Err(denied(ErrorCode::GroupMuted, "the group is muted: only the owner and admins may speak"));
        }
        if now < m.muted_until {
            return Err(denied(ErrorCode::MemberMuted, "you are muted in this group"));
        }
        if mention_all {
            return Err(denied(ErrorCode::Forbidden, "only the owner or an admin may mention everyone"));
        }
    }
    Ok(())
}

/// What an invitation by `actor` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteOutcome {
    /// The invitees become members now.
    Join,
    /// A join request waits for an owner's or admin's approval.
    NeedsApproval,
}

/// May `actor` invite people, and does it need approval?
pub fn invite(g: &GroupFacts, actor: Role) -> Result<InviteOutcome, ApiError> {
    not_dismissed(g)?;
    if actor >= Role::Admin {
        return Ok(InviteOutcome::Join);
    }
    match (g.join_policy, g.invite_needs_approval) {
        (_, true) => Ok(InviteOutcome::NeedsApproval),
        (JoinPolicy::InviteOnly, false) => {
            Err(denied(ErrorCode::Forbidden, "only the owner or an admin may invite to this group"))
        }
        _ => Ok(InviteOutcome::Join),
    }
}

/// What a request to join by a non-member does.
pub fn join(g: &GroupFacts) -> Result<InviteOutcome, ApiError> {
    // Invite-only groups are invisible to outsiders (their info answers
    // `not_found` too), dismissed or not: asking to join must not tell them
    // apart from a group that does not exist.
    let outcome = match g.join_policy {
        JoinPolicy::InviteOnly => return Err(denied(ErrorCode::NotFound, "no such group")),
        JoinPolicy::Free => InviteOutcome::Join,
        JoinPolicy::Approval => InviteOutcome::NeedsApproval,
    };
    not_dismissed(g)?;
    Ok(outcome)
}

/// May `actor` remove, mute or unmute `target`? Owners act on anyone but
/// themselves; admins on plain members only.
pub fn moderate(g: &GroupFacts, actor: Role, target: Role, what: &str) -> Result<(), ApiError> {
    not_dismissed(g)?;
    at_least_admin(actor, what)?;
    if target >= actor {
        return Err(denied(ErrorCode::Forbidden, &format!("you may not {what} a member whose role is {target}")));
    }
    Ok(())
}

/// May `actor` edit the group's info, post the announcement, mute everyone
/// or approve join requests?
pub fn manage(g: &GroupFacts, actor: Role, what: &str) -> Result<(), ApiError> {
    not_dismissed(g)?;
    at_least_admin(actor, what)
}

/// Owner-only actions: transfer ownership, dismiss, appoint/remove admins,
/// change the join policy.
pub fn owner_only(g: &GroupFacts, actor: Role, what: &str) -> Result<(), ApiError> {
    not_dismissed(g)?;
    if actor == Role::Owner { Ok(()) } else { Err(denied(ErrorCode::Forbidden, &format!("only the owner may {what}"))) }
}

/// May this member leave? The owner must transfer ownership (or dismiss) first.
pub fn leave(g: &GroupFacts, actor: Role) -> Result<(), ApiError> {
    not_dismissed(g)?;
    if actor == Role::Owner {
        return Err(denied(
            ErrorCode::Forbidden,
            "the owner must transfer ownership or dismiss the group before leaving",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn group(policy: JoinPolicy) -> GroupFacts {
        GroupFacts { dismissed: false, mute_all: false, join_policy: policy, invite_needs_approval: false }
    }

    fn code<T: std::fmt::Debug>(r: Result<T, ApiError>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Member < Admin && Admin < Owner);
        for r in [Member, Admin, Owner] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("king".parse::<Role>().is_err());
        assert_eq!("invite_only".parse::<JoinPolicy>().unwrap(), JoinPolicy::InviteOnly);
    }

    #[test]
    fn sending() {
        let g = group(JoinPolicy::Approval);
        let member = MemberFacts { role: Member, muted_until: 0 };
        assert!(can_send(&g, &member, 10, false).is_ok());
        assert_eq!(code(can_send(&g, &member, 10, true)), ErrorCode::Forbidden);
        assert!(can_send(&g, &MemberFacts { role: Admin, muted_until: 0 }, 10, true).is_ok());
        let muted = MemberFacts { role: Member, muted_until: 20 };
        assert_eq!(code(can_send(&g, &muted, 10, false)), ErrorCode::MemberMuted);
        assert!(can_send(&g, &muted, 20, false).is_ok(), "the mute ends at muted_until");
        let all_muted = GroupFacts { mute_all: true, ..g };
        assert_eq!(code(can_send(&all_muted, &member, 10, false)), ErrorCode::GroupMuted);
        assert!(can_send(&all_muted, &MemberFacts { role: Admin, muted_until: 0 }, 10, false).is_ok());
        let gone = GroupFacts { dismissed: true, ..g };
        assert_eq!(
            code(can_send(&gone, &MemberFacts { role: Owner, muted_until: 0 }, 10, false)),
            ErrorCode::GroupDismissed
        );
    }

    #[test]
    fn inviting_and_joining() {
        assert_eq!(invite(&group(JoinPolicy::InviteOnly), Admin).unwrap(), InviteOutcome::Join);
        assert_eq!(code(invite(&group(JoinPolicy::InviteOnly), Member)), ErrorCode::Forbidden);
        assert_eq!(invite(&group(JoinPolicy::Approval), Member).unwrap(), InviteOutcome::Join);
        let approval = GroupFacts { invite_needs_approval: true, ..group(JoinPolicy::Free) };
        assert_eq!(invite(&approval, Member).unwrap(), InviteOutcome::NeedsApproval);
        assert_eq!(invite(&approval, Owner).unwrap(), InviteOutcome::Join);
        assert_eq!(join(&group(JoinPolicy::Free)).unwrap(), InviteOutcome::Join);
        assert_eq!(join(&group(JoinPolicy::Approval)).unwrap(), InviteOutcome::NeedsApproval);
        assert_eq!(code(join(&group(JoinPolicy::InviteOnly))), ErrorCode::NotFound);
        let dismissed = GroupFacts { dismissed: true, ..group(JoinPolicy::InviteOnly) };
        assert_eq!(code(join(&dismissed)), ErrorCode::NotFound, "dismissed invite-only groups stay invisible");
    }

    #[test]
    fn moderation_goes_down_the_ranks_only() {
        let g = group(JoinPolicy::Approval);
        assert!(moderate(&g, Owner, Admin, "remove").is_ok());
        assert!(moderate(&g, Owner, Member, "remove").is_ok());
        assert!(moderate(&g, Admin, Member, "mute").is_ok());
        assert_eq!(code(moderate(&g, Admin, Admin, "mute")), ErrorCode::Forbidden);
        assert_eq!(code(moderate(&g, Admin, Owner, "remove")), ErrorCode::Forbidden);
        assert_eq!(code(moderate(&g, Member, Member, "remove")), ErrorCode::Forbidden);
        assert_eq!(code(moderate(&g, Owner, Owner, "remove")), ErrorCode::Forbidden);
        assert!(manage(&g, Admin, "edit").is_ok());
        assert_eq!(code(manage(&g, Member, "edit")), ErrorCode::Forbidden);
        assert!(owner_only(&g, Owner, "dismiss").is_ok());
        assert_eq!(code(owner_only(&g, Admin, "dismiss")), ErrorCode::Forbidden);
        assert!(leave(&g, Admin).is_ok());
        assert_eq!(code(leave(&g, Owner)), ErrorCode::Forbidden);
    }
}
