//! Contact and direct-message steps over raw HTTP, for tests that read like
//! scenarios: friend requests and their answers, the friend list and the
//! blocklist, the contacts changes feed, and direct texts.

use ferry_client::v1;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    TestUser,
    http::{Api, id_of, proto, rows},
    ids::direct_conversation,
};

impl Api {
    /// Sends a friend request from `from` to `to`; asserts 201 and returns the request.
    pub async fn friend_request(&self, from: &TestUser, to: &TestUser, greeting: &str) -> Value {
        let (status, body) = self
            .call(Method::POST, "/friends/requests", from, Some(json!({"user_id": to.id, "greeting": greeting})))
            .await;
        assert_eq!(status, 201, "friend request {} -> {}: {body}", from.username, to.username);
        body["request"].clone()
    }

    /// Accepts (or declines) request `id` as `user`; asserts 200 and returns the request.
    pub async fn respond(&self, user: &TestUser, id: i64, accept: bool) -> Value {
        let verb = if accept { "accept" } else { "decline" };
        let (status, body) = self.call(Method::POST, &format!("/friends/requests/{id}/{verb}"), user, None).await;
        assert_eq!(status, 200, "{verb} {id} as {}: {body}", user.username);
        body["request"].clone()
    }

    /// Makes `a` and `b` friends (a asks, b accepts).
    pub async fn befriend(&self, a: &TestUser, b: &TestUser) {
        let r = self.friend_request(a, b, "hi").await;
        self.respond(b, id_of(&r), true).await;
    }

    /// `user`'s friend requests (sent and received).
    pub async fn friend_requests(&self, user: &TestUser) -> Vec<Value> {
        rows(&self.get("/friends/requests", user).await, "requests")
    }

    /// The user ids in `user`'s friend list.
    pub async fn friend_ids(&self, user: &TestUser) -> Vec<i64> {
        let body = self.get("/friends", user).await;
        rows(&body, "friends").iter().map(|f| f["user_id"].as_i64().expect("user_id")).collect()
    }

    /// The user ids in `user`'s blocklist.
    pub async fn block_ids(&self, user: &TestUser) -> Vec<i64> {
        let body = self.get("/blocks", user).await;
        rows(&body, "blocks").iter().map(|b| b["user_id"].as_i64().expect("user_id")).collect()
    }

    /// `user`'s contact changes after version `since` (the raw answer).
    pub async fn contact_changes(&self, user: &TestUser, since: u64) -> Value {
        self.get(&format!("/contacts/changes?since={since}"), user).await
    }

    /// A direct text message over HTTP (a proto3-JSON `SendMessage`):
    /// `(status, body)`.
    pub async fn send_text(&self, from: &TestUser, to: &TestUser, client_msg_id: &str, text: &str) -> (u16, Value) {
        let body =
            json!({"clientMsgId": client_msg_id, "userId": to.id.to_string(), "content": {"text": {"text": text}}});
        self.call(Method::POST, "/messages", from, Some(body)).await
    }

    /// Every message in the direct conversation of `a` and `b`, read as `a`.
    pub async fn direct_messages(&self, a: &TestUser, b: &TestUser) -> Vec<v1::Message> {
        let conv = direct_conversation(a.id, b.id);
        let body = self.get(&format!("/conversations/{conv}/messages?after_seq=0&limit=100"), a).await;
        proto::<v1::MessageBatch>(&body).messages
    }

    /// `user`'s direct conversations with `peer` (by `GET /conversations`).
    pub async fn conversations_with(&self, user: &TestUser, peer: &TestUser) -> Vec<v1::Conversation> {
        let body = self.get("/conversations", user).await;
        proto::<v1::ConversationList>(&body).conversations.into_iter().filter(|c| c.peer_user_id == peer.id).collect()
    }
}
