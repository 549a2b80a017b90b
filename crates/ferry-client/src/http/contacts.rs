//! Profiles, user search, friends, friend requests, blocks and the
//! incremental contact sync (`docs/HTTP_API.md`, "Profiles and contacts").

use ferry_core::UserId;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{HttpApi, User, UserEnvelope, UsersEnvelope, encode_path_segment};
use crate::error::Result;

/// Where a friend request or a group join request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for an answer.
    Pending,
    /// Accepted (friend request) or approved (join request).
    Accepted,
    /// Declined or rejected.
    Declined,
    /// A status this client does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

/// A friend request from one user to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    /// Request id (for accept/decline).
    pub id: i64,
    /// Who asked.
    pub from_user_id: UserId,
    /// Who was asked.
    pub to_user_id: UserId,
    /// The sender's note.
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

/// One of the caller's friends (or, in [`ContactChanges`], a removed one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendEntry {
    /// The friend.
    pub user_id: UserId,
    /// The caller's private name for them ("" if none).
    #[serde(default)]
    pub remark: String,
    /// Friends since, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Contact version of the last change to this row.
    #[serde(default)]
    pub version: u64,
    /// The friendship ended (only in change sets).
    #[serde(default)]
    pub deleted: bool,
}

/// A user the caller blocked (or, in [`ContactChanges`], unblocked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    /// The blocked user.
    pub user_id: UserId,
    /// Blocked since, Unix milliseconds.
    #[serde(default)]
    pub created_at: i64,
    /// Contact version of the last change to this row.
    #[serde(default)]
    pub version: u64,
    /// The block was lifted (only in change sets).
    #[serde(default)]
    pub deleted: bool,
}

/// Everything in the caller's contacts changed after a version
/// (`GET /contacts/changes?since=V`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactChanges {
    /// The version to pass as `since` next time.
    pub version: u64,
    /// Changed friendships; `deleted` ones ended.
    #[serde(default)]
    pub friends: Vec<FriendEntry>,
    /// Changed friend requests.
    #[serde(default)]
    pub requests: Vec<FriendRequest>,
    /// Changed blocks; `deleted` ones were lifted.
    #[serde(default)]
    pub blocks: Vec<BlockEntry>,
}

/// Fields of `PATCH /me`; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfileUpdate {
    /// New display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New avatar (a URL or file reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// New bio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
}

/// Whom a friend request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef<'a> {
    /// By numeric id.
    Id(UserId),
    /// By username.
    Name(&'a str),
}

#[derive(Deserialize)]
struct RequestEnvelope {
    request: FriendRequest,
}

#[derive(Deserialize)]
struct RequestsEnvelope {
    requests: Vec<FriendRequest>,
}

#[derive(Deserialize)]
struct FriendsEnvelope {
    friends: Vec<FriendEntry>,
}

#[derive(Deserialize)]
struct FriendEnvelope {
    friend: FriendEntry,
}

#[derive(Deserialize)]
struct BlocksEnvelope {
    blocks: Vec<BlockEntry>,
}

#[derive(Deserialize)]
struct BlockEnvelope {
    block: BlockEntry,
}

impl HttpApi {
    /// Changes the caller's profile and returns it.
    pub async fn update_profile(&self, update: &ProfileUpdate) -> Result<User> {
        let env: UserEnvelope = self.call(self.req(Method::PATCH, "/me").json(update)).await?;
        Ok(env.user)
    }

    /// Users whose username is exactly `query`, or whose id it is.
    pub async fn search_users(&self, query: &str) -> Result<Vec<User>> {
        let path = format!("/users/search?q={}", encode_path_segment(query));
        let env: UsersEnvelope = self.call(self.req(Method::GET, &path)).await?;
        Ok(env.users)
    }

    /// Asks `to` to be friends. If they already asked the caller, this
    /// accepts their request instead (the answer says `accepted`).
    pub async fn send_friend_request(&self, to: UserRef<'_>, greeting: Option<&str>) -> Result<FriendRequest> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            user_id: Option<UserId>,
            #[serde(skip_serializing_if = "Option::is_none")]
            username: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            greeting: Option<&'a str>,
        }
        let (user_id, username) = match to {
            UserRef::Id(id) => (Some(id), None),
            UserRef::Name(name) => (None, Some(name)),
        };
        let body = Body { user_id, username, greeting };
        let env: RequestEnvelope = self.call(self.req(Method::POST, "/friends/requests").json(&body)).await?;
        Ok(env.request)
    }

    /// Friend requests the caller sent and received, newest first.
    pub async fn friend_requests(&self) -> Result<Vec<FriendRequest>> {
        let env: RequestsEnvelope = self.call(self.req(Method::GET, "/friends/requests")).await?;
        Ok(env.requests)
    }

    /// Accepts a request addressed to the caller.
    pub async fn accept_friend_request(&self, request_id: i64) -> Result<FriendRequest> {
        let path = format!("/friends/requests/{request_id}/accept");
        let env: RequestEnvelope = self.call(self.req(Method::POST, &path)).await?;
        Ok(env.request)
    }

    /// Declines a request addressed to the caller.
    pub async fn decline_friend_request(&self, request_id: i64) -> Result<FriendRequest> {
        let path = format!("/friends/requests/{request_id}/decline");
        let env: RequestEnvelope = self.call(self.req(Method::POST, &path)).await?;
        Ok(env.request)
    }

    /// The caller's friends.
    pub async fn friends(&self) -> Result<Vec<FriendEntry>> {
        let env: FriendsEnvelope = self.call(self.req(Method::GET, "/friends")).await?;
        Ok(env.friends)
    }

    /// Ends the friendship with `user`.
    pub async fn remove_friend(&self, user: UserId) -> Result<()> {
        self.call_empty(self.req(Method::DELETE, &format!("/friends/{user}"))).await
    }

    /// Sets the caller's private name for friend `user` ("" clears it).
    pub async fn set_remark(&self, user: UserId, remark: &str) -> Result<FriendEntry> {
        #[derive(Serialize)]
        struct Body<'a> {
            remark: &'a str,
        }
        let req = self.req(Method::PUT, &format!("/friends/{user}/remark")).json(&Body { remark });
        let env: FriendEnvelope = self.call(req).await?;
        Ok(env.friend)
    }

    /// Users the caller blocked.
    pub async fn blocks(&self) -> Result<Vec<BlockEntry>> {
        let env: BlocksEnvelope = self.call(self.req(Method::GET, "/blocks")).await?;
        Ok(env.blocks)
    }

    /// Blocks `user`: their direct messages and friend requests are refused.
    pub async fn block(&self, user: UserId) -> Result<BlockEntry> {
        let env: BlockEnvelope = self.call(self.req(Method::PUT, &format!("/blocks/{user}"))).await?;
        Ok(env.block)
    }

    /// Lifts the block on `user`.
    pub async fn unblock(&self, user: UserId) -> Result<()> {
        self.call_empty(self.req(Method::DELETE, &format!("/blocks/{user}"))).await
    }

    /// Everything in the caller's contacts changed after version `since`
    /// (0: everything). Keep the returned version for the next call; a
    /// [`crate::Event::Changed`] with domain `contacts` says when to call.
    pub async fn contact_changes(&self, since: u64) -> Result<ContactChanges> {
        self.call(self.req(Method::GET, &format!("/contacts/changes?since={since}"))).await
    }
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
    fn profile_updates_send_only_what_changes() {
        let u = ProfileUpdate { bio: Some("hello".into()), ..Default::default() };
        assert_eq!(serde_json::to_string(&u).unwrap(), r#"{"bio":"hello"}"#);
    }
}
