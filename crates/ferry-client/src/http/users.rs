//! User lookups.

use ferry_api::{IdsQuery, User, UserList, UserResponse};
use ferry_core::UserId;
use reqwest::Method;

use super::{HttpApi, encode_path_segment};
use crate::error::Result;

/// The most ids `GET /users?ids=` accepts in one call; [`HttpApi::users`]
/// splits longer lists.
const MAX_IDS_PER_CALL: usize = 500;

impl HttpApi {
    /// A user by id.
    pub async fn user(&self, id: UserId) -> Result<User> {
        let answer: UserResponse = self.call(self.req(Method::GET, &format!("/users/{id}"))).await?;
        Ok(answer.user)
    }

    /// A user by username.
    pub async fn user_by_name(&self, username: &str) -> Result<User> {
        let path = format!("/users/by-name/{}", encode_path_segment(username));
        let answer: UserResponse = self.call(self.req(Method::GET, &path)).await?;
        Ok(answer.user)
    }

    /// The users among `ids` that exist (any number of ids; unknown ones are
    /// left out).
    pub async fn users(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(MAX_IDS_PER_CALL) {
            let req = self.req(Method::GET, "/users").query(&IdsQuery::new(chunk));
            let answer: UserList = self.call(req).await?;
            out.extend(answer.users);
        }
        Ok(out)
    }
}
