//! Conversations, messages and read positions. These endpoints speak the
//! long connection's proto3 JSON: the bodies are the `v1` messages a
//! WebSocket text session would exchange, so a message read over HTTP is the
//! same object as a `message` push.

use ferry_api::PullQuery;
use ferry_proto::v1;
use reqwest::Method;

use super::{HttpApi, encode_path_segment};
use crate::{
    Target,
    content::{send_message, text_content},
    error::Result,
};

impl HttpApi {
    /// The caller's conversations.
    pub async fn conversations(&self) -> Result<Vec<v1::Conversation>> {
        let answer: v1::ConversationList = self.call(self.req(Method::GET, "/conversations")).await?;
        Ok(answer.conversations)
    }

    /// The conversation list with its cursor; with `since` (an earlier
    /// answer's `cursor`) only what changed after it.
    pub async fn conversations_since(&self, since: &str) -> Result<v1::ConversationList> {
        let query = ferry_api::ListQuery { since: since.to_owned() };
        self.call(self.req(Method::GET, "/conversations").query(&query)).await
    }

    /// Messages of `conversation_id` with seq > `after_seq`, at most `limit`
    /// (0: the server's default; the server caps it).
    pub async fn messages(&self, conversation_id: &str, after_seq: u64, limit: u32) -> Result<v1::MessageBatch> {
        let path = format!("/conversations/{}/messages", encode_path_segment(conversation_id));
        self.call(self.req(Method::GET, &path).query(&PullQuery { after_seq, limit })).await
    }

    /// Sends a message. Retrying with the same `client_msg_id` returns the
    /// original ack.
    pub async fn send(&self, message: &v1::SendMessage) -> Result<v1::SendAck> {
        self.call(self.req(Method::POST, "/messages").json(message)).await
    }

    /// Sends a text message (for mentions, build the content with
    /// [`crate::text_with_mentions`] and use [`HttpApi::send`]).
    pub async fn send_text(&self, client_msg_id: &str, target: &Target, text: &str) -> Result<v1::SendAck> {
        self.send(&send_message(client_msg_id, target.clone(), text_content(text))).await
    }

    /// Applies an operation on a sent message (see [`crate::message_op`])
    /// through its REST route; with a `client_msg_id`, a retry gets the
    /// original answer.
    pub async fn op(&self, op: &v1::MessageOp) -> Result<v1::OpAck> {
        use v1::message_op::Op;
        let base = format!("/conversations/{}/messages/{}", encode_path_segment(&op.conversation_id), op.seq);
        let req = match &op.op {
            Some(Op::Revoke(_)) => self.req(Method::POST, &format!("{base}/revoke")),
            Some(Op::Edit(edit)) => self.req(Method::POST, &format!("{base}/edit")).json(edit),
            Some(Op::React(react)) => self.req(Method::POST, &format!("{base}/reactions")).json(react),
            Some(Op::Pin(pin)) => self.req(Method::POST, &format!("{base}/pin")).json(pin),
            None => return Err(crate::ClientError::Protocol("an op needs revoke, edit, react or pin".into())),
        };
        let req = match op.client_msg_id.as_str() {
            "" => req,
            id => req.query(&ferry_api::OpQuery { client_msg_id: id.to_owned() }),
        };
        self.call(req).await
    }

    /// Forwards messages (see the proto's `Forward`).
    pub async fn forward(&self, forward: &v1::Forward) -> Result<v1::ForwardResult> {
        self.call(self.req(Method::POST, "/messages/forward").json(forward)).await
    }

    /// Who has read message `seq` you sent.
    pub async fn read_status(&self, conversation_id: &str, seq: u64) -> Result<v1::ReadStatus> {
        let path = format!("/conversations/{}/messages/{seq}/read-status", encode_path_segment(conversation_id));
        self.call(self.req(Method::GET, &path)).await
    }

    /// Tells the other member of a direct chat you are typing or stopped.
    pub async fn typing(&self, conversation_id: &str, typing: bool) -> Result<()> {
        let path = format!("/conversations/{}/typing", encode_path_segment(conversation_id));
        let body = v1::Typing { conversation_id: conversation_id.to_owned(), typing, user_id: 0 };
        let _: v1::Ack = self.call(self.req(Method::POST, &path).json(&body)).await?;
        Ok(())
    }

    /// Changes your own settings of a conversation (the fields set in `s`).
    pub async fn update_conversation(&self, s: &v1::ConversationSettings) -> Result<v1::ConversationSettings> {
        let path = format!("/conversations/{}/settings", encode_path_segment(&s.conversation_id));
        self.call(self.req(Method::PATCH, &path).json(s)).await
    }

    /// Your conversation settings changed after version `since`.
    pub async fn conversation_settings_changes(&self, since: u64) -> Result<v1::ConversationSettingsChanges> {
        let query = ferry_api::SinceQuery { since };
        self.call(self.req(Method::GET, "/conversations/settings/changes").query(&query)).await
    }

    /// Deletes messages for yourself, or clears your history (see the
    /// proto's `HideMessages`).
    pub async fn hide(&self, hide: &v1::HideMessages) -> Result<v1::HideOk> {
        let path = format!("/conversations/{}/hide", encode_path_segment(&hide.conversation_id));
        self.call(self.req(Method::POST, &path).json(hide)).await
    }

    /// What you deleted for yourself or cleared after version `since`.
    pub async fn hidden_changes(&self, since: u64) -> Result<v1::HiddenChanges> {
        self.call(self.req(Method::GET, "/messages/hidden/changes").query(&ferry_api::SinceQuery { since })).await
    }

    /// One page of a full-text search (the fields of the proto's `Search`;
    /// pass `next_cursor` back as `cursor` for more).
    pub async fn search(&self, search: &v1::Search) -> Result<v1::SearchResult> {
        let query = ferry_api::MessageSearchQuery {
            q: search.query.clone(),
            conversation_id: search.conversation_id.clone(),
            sender_id: search.sender_id,
            kinds: search.kinds.join(","),
            since: search.since,
            until: search.until,
            cursor: search.cursor.clone(),
            limit: search.limit,
        };
        self.call(self.req(Method::GET, "/search").query(&query)).await
    }

    /// Who reacted to message `seq`, oldest first.
    pub async fn reactions(&self, conversation_id: &str, seq: u64, limit: u32) -> Result<v1::ReactionList> {
        let path = format!("/conversations/{}/messages/{seq}/reactions", encode_path_segment(conversation_id));
        self.call(self.req(Method::GET, &path).query(&PullQuery { after_seq: 0, limit })).await
    }

    /// The pinned messages of a conversation, most recently pinned first.
    pub async fn pins(&self, conversation_id: &str) -> Result<Vec<v1::PinnedMessage>> {
        let path = format!("/conversations/{}/pins", encode_path_segment(conversation_id));
        let list: v1::PinList = self.call(self.req(Method::GET, &path)).await?;
        Ok(list.pins)
    }

    /// Moves the caller's read position in `conversation_id` to `seq`.
    pub async fn mark_read(&self, conversation_id: &str, seq: u64) -> Result<v1::MarkReadOk> {
        let path = format!("/conversations/{}/read", encode_path_segment(conversation_id));
        let body = v1::MarkRead { conversation_id: conversation_id.to_owned(), seq };
        self.call(self.req(Method::POST, &path).json(&body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mentions, text_with_mentions};

    #[test]
    fn sends_are_proto3_json() {
        let mentions = Mentions { user_ids: vec![2], all: true };
        let m = send_message("c1", Target::Conversation("g_5".into()), text_with_mentions("hi", mentions));
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"clientMsgId": "c1", "conversationId": "g_5",
                "content": {"text": {"text": "hi", "mentionUserIds": ["2"], "mentionAll": true}}})
        );
        let m = send_message("c2", Target::User(7), text_content("yo"));
        assert_eq!(serde_json::to_value(&m).unwrap()["userId"], "7");
    }

    #[test]
    fn answers_are_read_as_proto3_json() {
        let ack: v1::SendAck = serde_json::from_str(
            r#"{"clientMsgId":"c","conversationId":"d_1_2","seq":"3","serverMsgId":"9","serverTime":"1","duplicate":true}"#,
        )
        .unwrap();
        assert_eq!((ack.seq, ack.server_msg_id, ack.duplicate), (3, 9, true));
        let batch: v1::MessageBatch = serde_json::from_str(
            r#"{"conversationId":"g_5","messages":[{"conversationId":"g_5","seq":"2","serverMsgId":"6","senderId":"1",
                "clientMsgId":"s","serverTime":"1","content":{"system":{"event":"member_muted","actorId":"1",
                "targetIds":["3"],"text":"alice muted carol","until":"99"}}}]}"#,
        )
        .unwrap();
        assert!(!batch.has_more);
        let system = crate::content::system_of(&batch.messages[0]).expect("a system message");
        assert_eq!((system.event.as_str(), system.until, system.target_ids.as_slice()), ("member_muted", 99, &[3][..]));
    }
}
