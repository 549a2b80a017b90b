//! Sending, syncing and read positions: the message model of DESIGN.md.
//!
//! Sending validates, resolves the conversation, checks membership and hands
//! the message to the [`writer`](super::writer) (which assigns the seq, makes
//! it durable and fans it out). Sync is "everything after seq N" per
//! conversation; there is no per-device delivery queue.

use std::sync::{Arc, Mutex};

use ferry_core::{
    ApiError, ConversationId, ErrorCode, Limits, SnowflakeGenerator, UserId,
    group::{self, GroupFacts, MemberFacts},
    validate,
};
use ferry_proto::v1::{self, message_content::Kind};
use ferry_store::{ConversationState, Group, Member, NewMessage, Store, StoredMessage};
use prost::Message as _;

use super::{
    members::ContactCache,
    now_ms,
    writer::{self, PendingAppend, WriterHandle},
};
use crate::{
    config::{DirectMessages, GroupsConfig, HistoryVisibility, SocialConfig},
    error::store_error,
};

/// Content kind tags stored with each message.
pub mod kind {
    pub const TEXT: i32 = 1;
    pub const SYSTEM: i32 = 2;
}

/// Most members one message may mention.
const MAX_MENTIONS: usize = 100;

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    User(UserId),
    Conversation(String),
}

/// The messaging service.
pub struct Messaging {
    store: Arc<dyn Store>,
    contacts: Arc<ContactCache>,
    writer: WriterHandle,
    limits: Limits,
    social: SocialConfig,
    groups: GroupsConfig,
    ids: Mutex<SnowflakeGenerator>,
}

/// The group facts the permission rules take.
pub fn group_facts(g: &Group) -> GroupFacts {
    GroupFacts {
        dismissed: g.dismissed,
        mute_all: g.mute_all,
        join_policy: g.join_policy,
        invite_needs_approval: g.invite_needs_approval,
    }
}

impl Messaging {
    pub fn new(
        store: Arc<dyn Store>,
        contacts: Arc<ContactCache>,
        writer: WriterHandle,
        limits: Limits,
        social: SocialConfig,
        groups: GroupsConfig,
        node_id: u16,
    ) -> Self {
        Self { store, contacts, writer, limits, social, groups, ids: Mutex::new(SnowflakeGenerator::new(node_id)) }
    }

    fn next_server_msg_id(&self) -> u64 {
        // Held only to bump a counter; never across an await.
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.next_id(now_ms().max(0) as u64)
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
        let (kind, mentions, mention_all) = match &content.kind {
            Some(Kind::Text(t)) => {
                validate::text(&t.text, &self.limits)?;
                if t.mention_user_ids.len() > MAX_MENTIONS {
                    return Err(ApiError::invalid(format!("at most {MAX_MENTIONS} mentions per message")));
                }
                (kind::TEXT, t.mention_user_ids.clone(), t.mention_all)
            }
            Some(Kind::System(_)) => return Err(ApiError::invalid("system messages are written by the server")),
            None => return Err(ApiError::invalid("content has no known kind")),
        };
        let conversation = self.resolve_for_send(sender, target, mention_all).await?;
        let group = matches!(conversation, ConversationId::Group(_));
        let message = NewMessage {
            conversation,
            sender,
            client_msg_id,
            server_msg_id: self.next_server_msg_id(),
            server_time: now_ms(),
            kind,
            body: content.encode_to_vec(),
            // Mentions mean something in groups only.
            mentions: if group { mentions } else { Vec::new() },
            mention_all: group && mention_all,
        };
        Ok(PendingAck(self.writer.submit(message).await?))
    }

    /// Appends a server-written system event to a group's seq stream (no
    /// permission checks: the caller already made them).
    pub async fn append_system(
        &self,
        group_id: i64,
        actor: UserId,
        event: v1::System,
    ) -> Result<v1::SendAck, ApiError> {
        let server_msg_id = self.next_server_msg_id();
        let content = v1::MessageContent { kind: Some(Kind::System(event)) };
        let message = NewMessage {
            conversation: ConversationId::Group(group_id),
            sender: actor,
            client_msg_id: format!("sys-{server_msg_id}"),
            server_msg_id,
            server_time: now_ms(),
            kind: kind::SYSTEM,
            body: content.encode_to_vec(),
            mentions: Vec::new(),
            mention_all: false,
        };
        PendingAck(self.writer.submit(message).await?).wait().await
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

    async fn resolve_for_send(
        &self,
        sender: UserId,
        target: Target,
        mention_all: bool,
    ) -> Result<ConversationId, ApiError> {
        let conversation = match target {
            Target::User(to) => ConversationId::direct(sender, to),
            Target::Conversation(id) => parse_conversation(&id)?,
        };
        match conversation {
            ConversationId::Direct { .. } => {
                let to = conversation
                    .peer_of(sender)
                    .ok_or_else(|| ApiError::forbidden("you are not in this conversation"))?;
                if to != sender {
                    self.check_direct_allowed(sender, to).await?;
                }
            }
            ConversationId::Group(id) => {
                let (group, member) = self.group_member(sender, id).await?;
                let facts = MemberFacts { role: member.role, muted_until: member.muted_until };
                group::can_send(&group_facts(&group), &facts, now_ms(), mention_all)?;
            }
        }
        Ok(conversation)
    }

    /// Direct messages: the recipient exists, has not blocked the sender, and
    /// under the friends-only policy is a friend.
    async fn check_direct_allowed(&self, sender: UserId, to: UserId) -> Result<(), ApiError> {
        if !self.contacts.user_exists(to).await? {
            return Err(ApiError::not_found(format!("no user {to}")));
        }
        if self.contacts.is_blocked(to, sender).await? {
            return Err(ApiError::new(ErrorCode::Blocked, "this user does not accept your messages"));
        }
        if self.social.direct_messages == DirectMessages::FriendsOnly && !self.contacts.are_friends(sender, to).await? {
            return Err(ApiError::new(ErrorCode::NotFriends, "on this server only friends may message each other"));
        }
        Ok(())
    }

    /// The group and `user`'s membership; `not_found` for non-members so
    /// groups are not probed by id.
    pub async fn group_member(&self, user: UserId, group_id: i64) -> Result<(Group, Member), ApiError> {
        let not_found = || ApiError::not_found(format!("no group {group_id} you are a member of"));
        let member = self.store.member(group_id, user).await.map_err(store_error)?.ok_or_else(not_found)?;
        let group = self.store.group(group_id).await.map_err(store_error)?.ok_or_else(not_found)?;
        Ok((group, member))
    }

    /// Membership check for reads; returns the first seq the user may see
    /// minus one (history visibility for group members who joined later).
    async fn check_member(&self, user: UserId, conversation: ConversationId) -> Result<u64, ApiError> {
        match conversation {
            ConversationId::Direct { .. } if conversation.is_direct_member(user) => Ok(0),
            ConversationId::Direct { .. } => Err(ApiError::forbidden("you are not in this conversation")),
            ConversationId::Group(id) => {
                let (_, member) = self.group_member(user, id).await?;
                Ok(match self.groups.history_for_new_members {
                    HistoryVisibility::FromJoin => member.join_seq,
                    HistoryVisibility::Full => 0,
                })
            }
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
        let visible_after = self.check_member(user, conversation).await?;
        let after_seq = after_seq.max(visible_after);
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
        self.check_member(user, conversation).await?;
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
        mentioned: s.mentioned,
    }
}
