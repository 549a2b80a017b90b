//! Sending, syncing and read positions: the message model of DESIGN.md.
//!
//! Sending validates, resolves the conversation, checks membership and hands
//! the message to the [`writer`](super::writer) (which assigns the seq, makes
//! it durable and fans it out). Sync is "everything after seq N" per
//! conversation; there is no per-device delivery queue.

use std::sync::{Arc, Mutex};

use ferry_core::{ApiError, ConversationId, Limits, SnowflakeGenerator, UserId, validate};
use ferry_proto::v1::{self, message_content::Kind};
use ferry_store::{ConversationState, NewMessage, Store, StoredMessage};
use prost::Message as _;

use super::{
    now_ms,
    writer::{self, PendingAppend, WriterHandle},
};
use crate::error::store_error;

/// Content kind tags stored with each message.
pub mod kind {
    pub const TEXT: i32 = 1;
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    User(UserId),
    Conversation(String),
}

/// The messaging service.
pub struct Messaging {
    store: Arc<dyn Store>,
    writer: WriterHandle,
    limits: Limits,
    ids: Mutex<SnowflakeGenerator>,
}

impl Messaging {
    pub fn new(store: Arc<dyn Store>, writer: WriterHandle, limits: Limits, node_id: u16) -> Self {
        Self { store, writer, limits, ids: Mutex::new(SnowflakeGenerator::new(node_id)) }
    }

    /// Validates a send and enqueues it. Returns once the message is queued
    /// (so a connection's sends keep their order); the returned [`PendingAck`]
    /// resolves when it is durable.
    pub async fn admit(
        &self,
        sender: UserId,
        client_msg_id: String,
        target: Target,
        content: Option<v1::MessageContent>,
    ) -> Result<PendingAck, ApiError> {
        validate::client_msg_id(&client_msg_id, &self.limits)?;
        let content = content.ok_or_else(|| ApiError::invalid("content is required"))?;
        let kind = match &content.kind {
            Some(Kind::Text(t)) => {
                validate::text(&t.text, &self.limits)?;
                kind::TEXT
            }
            None => return Err(ApiError::invalid("content has no known kind")),
        };
        let conversation = self.resolve(sender, target).await?;
        let server_msg_id = {
            // Held only to bump a counter; never across an await.
            let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
            ids.next_id(now_ms().max(0) as u64)
        };
        let message = NewMessage {
            conversation,
            sender,
            client_msg_id,
            server_msg_id,
            server_time: now_ms(),
            kind,
            body: content.encode_to_vec(),
        };
        Ok(PendingAck(self.writer.submit(message).await?))
    }

    /// Sends and waits for the ack.
    pub async fn send(
        &self,
        sender: UserId,
        client_msg_id: String,
        target: Target,
        content: Option<v1::MessageContent>,
    ) -> Result<v1::SendAck, ApiError> {
        self.admit(sender, client_msg_id, target, content).await?.wait().await
    }

    async fn resolve(&self, sender: UserId, target: Target) -> Result<ConversationId, ApiError> {
        match target {
            Target::User(to) => {
                if to != sender && self.store.user_by_id(to).await.map_err(store_error)?.is_none() {
                    return Err(ApiError::not_found(format!("no user {to}")));
                }
                Ok(ConversationId::direct(sender, to))
            }
            Target::Conversation(id) => {
                let conversation = parse_conversation(&id)?;
                self.check_member(sender, conversation)?;
                Ok(conversation)
            }
        }
    }

    /// Membership: direct conversations by their id; groups arrive later.
    fn check_member(&self, user: UserId, conversation: ConversationId) -> Result<(), ApiError> {
        match conversation {
            ConversationId::Direct { .. } if conversation.is_direct_member(user) => Ok(()),
            ConversationId::Direct { .. } => Err(ApiError::forbidden("you are not in this conversation")),
            ConversationId::Group(_) => Err(ApiError::not_found("no such conversation")),
        }
    }

    /// Messages after `after_seq`, ascending; `has_more` if the page is full.
    pub async fn pull(
        &self,
        user: UserId,
        conversation: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<v1::MessageBatch, ApiError> {
        let conversation = parse_conversation(conversation)?;
        self.check_member(user, conversation)?;
        let limit = match limit {
            0 => 100.min(self.limits.max_pull_limit),
            n => n.min(self.limits.max_pull_limit),
        };
        let messages = self.store.messages_after(conversation, after_seq, limit).await.map_err(store_error)?;
        let last = messages.last().map_or(after_seq, |m| m.seq);
        // Only a full page can leave more behind; then ask the store.
        let has_more =
            messages.len() as u32 == limit && self.store.max_seq(conversation).await.map_err(store_error)? > last;
        Ok(v1::MessageBatch {
            conversation_id: conversation.to_string(),
            messages: messages.iter().map(to_proto_message).collect(),
            has_more,
        })
    }

    /// Every conversation of `user` with its max seq and unread count.
    pub async fn conversations(&self, user: UserId) -> Result<Vec<v1::Conversation>, ApiError> {
        let states = self.store.conversations_of(user).await.map_err(store_error)?;
        Ok(states.iter().map(|s| to_proto_conversation(user, s)).collect())
    }

    /// Raises the read position.
    pub async fn mark_read(&self, user: UserId, conversation: &str, seq: u64) -> Result<v1::MarkReadOk, ApiError> {
        let conversation = parse_conversation(conversation)?;
        self.check_member(user, conversation)?;
        let read_seq = self.store.mark_read(user, conversation, seq).await.map_err(store_error)?;
        Ok(v1::MarkReadOk { conversation_id: conversation.to_string(), read_seq })
    }
}

/// A queued message; await [`PendingAck::wait`] for its ack.
pub struct PendingAck(PendingAppend);

impl PendingAck {
    pub async fn wait(self) -> Result<v1::SendAck, ApiError> {
        let appended = writer::wait(self.0).await?;
        let m = appended.message;
        Ok(v1::SendAck {
            client_msg_id: m.client_msg_id,
            conversation_id: m.conversation.to_string(),
            seq: m.seq,
            server_msg_id: m.server_msg_id,
            server_time: m.server_time,
            duplicate: appended.duplicate,
        })
    }
}

fn parse_conversation(id: &str) -> Result<ConversationId, ApiError> {
    id.parse().map_err(|_| ApiError::invalid(format!("invalid conversation id {id:?}")))
}

/// A stored message as the protocol shows it.
pub fn to_proto_message(m: &StoredMessage) -> v1::Message {
    // Bodies are written by this server from a valid MessageContent; a body
    // that fails to decode (corruption) is shown as empty content, not hidden,
    // so the seq stream stays gap-free.
    let content = v1::MessageContent::decode(m.body.as_slice()).ok();
    v1::Message {
        conversation_id: m.conversation.to_string(),
        seq: m.seq,
        server_msg_id: m.server_msg_id,
        sender_id: m.sender,
        client_msg_id: m.client_msg_id.clone(),
        server_time: m.server_time,
        content,
    }
}

fn to_proto_conversation(user: UserId, s: &ConversationState) -> v1::Conversation {
    v1::Conversation {
        conversation_id: s.conversation.to_string(),
        kind: s.conversation.kind().to_owned(),
        peer_user_id: s.conversation.peer_of(user).unwrap_or(0),
        max_seq: s.max_seq,
        read_seq: s.read_seq,
        unread: s.unread,
        last_time: s.last_time,
    }
}
