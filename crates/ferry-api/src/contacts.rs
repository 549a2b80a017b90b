//! Profiles, user search, friend requests, friends with remarks, the
//! blocklist, and the versioned incremental sync of all of them.

use serde::{Deserialize, Serialize};

/// `PATCH /me`: the fields to change; those left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileUpdate {
    /// New display name (1-64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New avatar (at most 1024 characters): "" for none, an `http(s)://`
    /// URL, or the id of an image file you uploaded (`POST /files`), which
    /// every signed-in user may then read while it is your avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// New bio (at most 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
}

/// `?q=`: exact username or numeric id (`GET /users/search`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct SearchQuery {
    /// A username (exact) or a user id.
    pub q: String,
}

/// `?since=V`: changes after contacts or member-list version `V` (0: all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct SinceQuery {
    /// The version the caller holds (0 for everything).
    #[serde(default)]
    pub since: u64,
}

/// Where a friend request or a group join request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for an answer.
    Pending,
    /// Accepted (friend request) or approved (join request).
    Accepted,
    /// Declined or rejected.
    Declined,
    /// A status this side does not know (from a newer server); never sent
    /// (and so left out of the schema).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// `POST /friends/requests`: whom to ask (exactly one of `user_id` and
/// `username`), with a note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewFriendRequest {
    /// The user to ask, by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The user to ask, by username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A note for them (at most 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
}

/// A friend request from one user to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequest {
    /// Request id (for accept/decline).
    pub id: i64,
    /// Who asked.
    pub from_user_id: i64,
    /// Who was asked.
    pub to_user_id: i64,
    /// The asker's note.
    #[serde(default)]
    pub greeting: String,
    /// Where it stands.
    pub status: RequestStatus,
    /// Sent at, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Last status change, Unix milliseconds.
    #[serde(default)]
    pub updated_at: i64,
}

/// `{"request": FriendRequest}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequestResponse {
    /// The request.
    pub request: FriendRequest,
}

/// `{"requests": [FriendRequest]}`: sent and received, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendRequestList {
    /// The requests.
    pub requests: Vec<FriendRequest>,
}

/// One of the caller's friends (in a change set, possibly a removed one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Friend {
    /// The friend.
    pub user_id: i64,
    /// The caller's private name for them ("" if none).
    #[serde(default)]
    pub remark: String,
    /// Friends since, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Contacts version of the last change to this row.
    #[serde(default)]
    pub version: u64,
    /// The friendship ended (only in change sets).
    #[serde(default)]
    pub deleted: bool,
}

/// `{"friend": Friend}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendResponse {
    /// The friend.
    pub friend: Friend,
}

/// `{"friends": [Friend]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FriendList {
    /// The caller's friends.
    pub friends: Vec<Friend>,
}

/// `PUT /friends/{user_id}/remark`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemarkUpdate {
    /// The private name ("" clears it; at most 64 characters).
    pub remark: String,
}

/// A user the caller blocked (in a change set, possibly an unblocked one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Block {
    /// The blocked user.
    pub user_id: i64,
    /// Blocked since, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Contacts version of the last change to this row.
    #[serde(default)]
    pub version: u64,
    /// The block was lifted (only in change sets).
    #[serde(default)]
    pub deleted: bool,
}

/// `{"block": Block}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockResponse {
    /// The block.
    pub block: Block,
}

/// `{"blocks": [Block]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockList {
    /// The users the caller blocked.
    pub blocks: Vec<Block>,
}

/// Everything in the caller's contacts changed after a version
/// (`GET /contacts/changes?since=V`); deletions are rows with `deleted`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactChanges {
    /// The caller's contacts version now: pass it as `since` next time.
    pub version: u64,
    /// Changed friendships; `deleted` ones ended.
    #[serde(default)]
    pub friends: Vec<Friend>,
    /// Changed friend requests, sent or received.
    #[serde(default)]
    pub requests: Vec<FriendRequest>,
    /// Changed blocks; `deleted` ones were lifted.
    #[serde(default)]
    pub blocks: Vec<Block>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_bodies_deserialize() {
        let r: FriendRequest = serde_json::from_str(
            r#"{"id":7,"from_user_id":1,"to_user_id":2,"greeting":"hi","status":"pending","created_at":1,"updated_at":2}"#,
        )
        .unwrap();
        assert_eq!((r.id, r.status), (7, RequestStatus::Pending));
        let r: FriendRequest =
            serde_json::from_str(r#"{"id":7,"from_user_id":1,"to_user_id":2,"status":"withdrawn"}"#).unwrap();
        assert_eq!(r.status, RequestStatus::Unknown);

        let c: ContactChanges = serde_json::from_str(
            r#"{"version":9,
                "friends":[{"user_id":2,"remark":"B","created_at":1,"version":8,"deleted":false}],
                "requests":[],
                "blocks":[{"user_id":3,"created_at":1,"version":9,"deleted":true}]}"#,
        )
        .unwrap();
        assert_eq!(c.version, 9);
        assert_eq!(c.friends[0].remark, "B");
        assert!(c.blocks[0].deleted);
    }

    #[test]
    fn updates_send_only_what_changes() {
        let u = ProfileUpdate { bio: Some("hello".into()), ..Default::default() };
        assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"bio":"hello"}"#);
        let r = NewFriendRequest { username: Some("bob".into()), ..Default::default() };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"username":"bob"}"#);
    }
}
