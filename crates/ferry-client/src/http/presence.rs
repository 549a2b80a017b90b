//! Presence, as the long connection's `v1.PresenceList`.

use ferry_api::IdsQuery;
use ferry_core::UserId;
use ferry_proto::v1;
use reqwest::Method;

use super::HttpApi;
use crate::error::Result;

impl HttpApi {
    /// Presence of `ids` (at most 500); an empty slice means everyone the
    /// caller shares a conversation with or is friends with.
    pub async fn presence(&self, ids: &[UserId]) -> Result<Vec<v1::PresenceEvent>> {
        let answer: v1::PresenceList = self.call(self.req(Method::GET, "/presence").query(&IdsQuery::new(ids))).await?;
        Ok(answer.users)
    }
}
