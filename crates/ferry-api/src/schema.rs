//! Schemas for the ferry-core enums the API carries (`openapi` feature):
//! they serialize as snake_case strings, described here by their values.

use serde::Serialize;

/// A member's role: `owner`, `admin` or `member`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The one owner.
    Owner,
    /// May moderate and edit the group.
    Admin,
    /// A plain member.
    Member,
}

/// How non-members get into a group.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JoinPolicy {
    /// Anyone may join.
    Free,
    /// Anyone may ask; the owner or an admin approves.
    Approval,
    /// Members invite; nobody may ask.
    InviteOnly,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(v: impl Serialize) -> String {
        serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()
    }

    #[test]
    fn the_schemas_name_what_ferry_core_sends() {
        use ferry_core::{JoinPolicy as P, Role as R};
        let roles = [(Role::Owner, R::Owner), (Role::Admin, R::Admin), (Role::Member, R::Member)];
        for (schema, core) in roles {
            assert_eq!(name(schema), core.as_str());
        }
        let policies =
            [(JoinPolicy::Free, P::Free), (JoinPolicy::Approval, P::Approval), (JoinPolicy::InviteOnly, P::InviteOnly)];
        for (schema, core) in policies {
            assert_eq!(name(schema), core.as_str());
        }
    }
}
