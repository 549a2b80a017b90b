//! Profiles, user search, friends, friend requests, blocks and the
//! incremental contact sync (`docs/HTTP_API.md`, "Profiles and contacts").

use ferry_api::{
    Block, BlockList, BlockResponse, ContactChanges, Friend, FriendList, FriendRequest, FriendRequestList,
    FriendRequestResponse, FriendResponse, NewFriendRequest, ProfileUpdate, RemarkUpdate, SearchQuery, SinceQuery,
    User, UserList, UserResponse,
};
use ferry_core::UserId;
use reqwest::Method;

use super::HttpApi;
use crate::error::Result;

/// Whom a friend request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef<'a> {
    /// By numeric id.
    Id(UserId),
    /// By username.
    Name(&'a str),
}

impl HttpApi {
    /// Changes the caller's profile and returns it.
    pub async fn update_profile(&self, update: &ProfileUpdate) -> Result<User> {
        let answer: UserResponse = self.call(self.req(Method::PATCH, "/me").json(update)).await?;
        Ok(answer.user)
    }

    /// Users whose username is exactly `query`, or whose id it is.
    pub async fn search_users(&self, query: &str) -> Result<Vec<User>> {
        let req = self.req(Method::GET, "/users/search").query(&SearchQuery { q: query.to_owned() });
        let answer: UserList = self.call(req).await?;
        Ok(answer.users)
    }

    /// Asks `to` to be friends. If they already asked the caller, this
    /// accepts their request instead (the answer says `accepted`).
    pub async fn send_friend_request(&self, to: UserRef<'_>, greeting: Option<&str>) -> Result<FriendRequest> {
        let mut body = NewFriendRequest { greeting: greeting.map(str::to_owned), ..Default::default() };
        match to {
            UserRef::Id(id) => body.user_id = Some(id),
            UserRef::Name(name) => body.username = Some(name.to_owned()),
        }
        let answer: FriendRequestResponse = self.call(self.req(Method::POST, "/friends/requests").json(&body)).await?;
        Ok(answer.request)
    }

    /// Friend requests the caller sent and received, newest first.
    pub async fn friend_requests(&self) -> Result<Vec<FriendRequest>> {
        let answer: FriendRequestList = self.call(self.req(Method::GET, "/friends/requests")).await?;
        Ok(answer.requests)
    }

    /// Accepts a request addressed to the caller.
    pub async fn accept_friend_request(&self, request_id: i64) -> Result<FriendRequest> {
        let path = format!("/friends/requests/{request_id}/accept");
        let answer: FriendRequestResponse = self.call(self.req(Method::POST, &path)).await?;
        Ok(answer.request)
    }

    /// Declines a request addressed to the caller.
    pub async fn decline_friend_request(&self, request_id: i64) -> Result<FriendRequest> {
        let path = format!("/friends/requests/{request_id}/decline");
        let answer: FriendRequestResponse = self.call(self.req(Method::POST, &path)).await?;
        Ok(answer.request)
    }

    /// The caller's friends.
    pub async fn friends(&self) -> Result<Vec<Friend>> {
        let answer: FriendList = self.call(self.req(Method::GET, "/friends")).await?;
        Ok(answer.friends)
    }

    /// Ends the friendship with `user`.
    pub async fn remove_friend(&self, user: UserId) -> Result<()> {
        self.call_empty(self.req(Method::DELETE, &format!("/friends/{user}"))).await
    }

    /// Sets the caller's private name for friend `user` ("" clears it).
    pub async fn set_remark(&self, user: UserId, remark: &str) -> Result<Friend> {
        let body = RemarkUpdate { remark: remark.to_owned() };
        let answer: FriendResponse =
            self.call(self.req(Method::PUT, &format!("/friends/{user}/remark")).json(&body)).await?;
        Ok(answer.friend)
    }

    /// Users the caller blocked.
    pub async fn blocks(&self) -> Result<Vec<Block>> {
        let answer: BlockList = self.call(self.req(Method::GET, "/blocks")).await?;
        Ok(answer.blocks)
    }

    /// Blocks `user`: their direct messages and friend requests are refused.
    pub async fn block(&self, user: UserId) -> Result<Block> {
        let answer: BlockResponse = self.call(self.req(Method::PUT, &format!("/blocks/{user}"))).await?;
        Ok(answer.block)
    }

    /// Lifts the block on `user`.
    pub async fn unblock(&self, user: UserId) -> Result<()> {
        self.call_empty(self.req(Method::DELETE, &format!("/blocks/{user}"))).await
    }

    /// Everything in the caller's contacts changed after version `since`
    /// (0: everything). Keep the returned version for the next call; a
    /// [`crate::Event::Changed`] with domain `contacts` says when to call.
    pub async fn contact_changes(&self, since: u64) -> Result<ContactChanges> {
        self.call(self.req(Method::GET, "/contacts/changes").query(&SinceQuery { since })).await
    }
}
