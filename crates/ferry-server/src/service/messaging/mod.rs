//! Sending, syncing and read positions: the message model of DESIGN.md.
//!
//! Sending validates the content ([`content`]), resolves the conversation,
//! checks membership from the node-local caches and hands the message to the
//! [`writer`](super::writer) (which assigns the seq, makes it durable and
//! passes it to the fan-out). Sync is "everything after seq N" per
//! conversation; there is no per-device delivery queue.

mod forward;
mod hidden;
mod ops;
mod receipts;
mod search;
mod settings;

pub use forward::{
    MAX_FORWARD_ID_BYTES, MAX_MESSAGES as MAX_FORWARD_MESSAGES, MAX_RECORD_DEPTH, MAX_TARGETS as MAX_FORWARD_TARGETS,
};
pub use ops::{MAX_REACTORS, op_ack};
pub use search::{KINDS as SEARCH_KINDS, MAX_LIMIT as MAX_SEARCH_LIMIT};

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, Mutex},
};

use ferry_core::{
    ApiError, ConversationId, ErrorCode, Limits, SnowflakeGenerator, UserId,
    group::{self, MemberFacts},
    validate,
};
use ferry_proto::v1;
use ferry_store::{Appended, ConversationState, Member, NewMessage, Store, StoreError};
use prost::Message as _;

use super::{
    caches::Caches,
    content::{self, Admitted},
    notify::Notifier,
    now_ms,
    writer::{PendingAck, WriterHandle},
};
use crate::{
    config::{Config, DirectMessages, GroupsConfig, HistoryVisibility, MessagesConfig, SocialConfig},
    error::store_error,
};

/// Where an incremental conversation list starts: a time (list entries
/// changed at or after it) and the user's own state version (settings and
/// hidden messages changed after it). Written `<time>.<version>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListCursor {
    time: i64,
    version: u64,
}

impl ListCursor {
    fn parse(s: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid("since is not a cursor this server gave");
        let (time, version) = s.split_once('.').ok_or_else(bad)?;
        Ok(Self { time: time.parse().map_err(|_| bad())?, version: version.parse().map_err(|_| bad())? })
    }
}

impl std::fmt::Display for ListCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.time, self.version)
    }
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    User(UserId),
    Conversation(String),
}

impl Target {
    /// The target a `SendMessage` names in its `to` oneof.
    pub fn of(to: Option<v1::send_message::To>) -> Result<Self, ApiError> {
        match to {
            Some(v1::send_message::To::UserId(u)) => Ok(Self::User(u)),
            Some(v1::send_message::To::ConversationId(c)) => Ok(Self::Conversation(c)),
            None => Err(ApiError::invalid("send needs a user_id or conversation_id")),
        }
    }
}

/// The messaging service.
pub struct Messaging {
    store: Arc<dyn Store>,
    caches: Arc<Caches>,
    writer: WriterHandle,
    limits: Limits,
    social: SocialConfig,
    groups: GroupsConfig,
    messages: MessagesConfig,
    notifier: Arc<Notifier>,
    ids: Mutex<SnowflakeGenerator>,
}

impl Messaging {
    /// Counters of the message writer (for `/metrics`).
    pub fn writer_stats(&self) -> &super::writer::WriterStats {
        self.writer.stats()
    }

    /// The service over `store`, sending through `writer`, with the
    /// limits and policies of `config`.
    pub fn new(
        store: Arc<dyn Store>,
        caches: Arc<Caches>,
        writer: WriterHandle,
        notifier: Arc<Notifier>,
        config: &Config,
    ) -> Self {
        Self {
            store,
            caches,
            writer,
            limits: config.limits.clone(),
            social: config.social.clone(),
            groups: config.groups.clone(),
            messages: config.messages.clone(),
            notifier,
            ids: Mutex::new(SnowflakeGenerator::new(config.node_id)),
        }
    }

    fn next_server_msg_id(&self) -> u64 {
        // Held only to bump a counter; never across an await.
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.next_id(now_ms().max(0) as u64)
    }

    /// Validates a send and enqueues it. Returns once the message is queued
    /// (so a connection's sends keep their order); the returned
    /// [`PendingAck`] resolves when it is durable.
    ///
    /// This future is built for every message and copied at each level of
    /// the send path (the session's frame, the request, this), so it is kept
    /// small: the steps only some messages take — files, a contact card, a
    /// quote, a refusal — are boxed and taken only by them, and queueing
    /// holds nothing (see `WriterHandle::submit`). A test in
    /// `gateway::tests` bounds the whole.
    pub async fn admit(
        &self,
        sender: UserId,
        client_msg_id: String,
        target: Target,
        mut content: Option<v1::MessageContent>,
    ) -> Result<PendingAck, ApiError> {
        validate::client_msg_id(&client_msg_id, &self.limits)?;
        let refused = 'checks: {
            if let Some(c) = content.as_mut()
                && !content::files::sent_refs(c).is_empty()
                && let Err(e) = Box::pin(self.resolve_files(sender, c)).await
            {
                break 'checks e;
            }
            let admitted = match content::admit(content, &self.limits) {
                Ok(admitted) => admitted,
                Err(e) => break 'checks e,
            };
            if let Some(user) = admitted.names_user
                && let Err(e) = Box::pin(self.named_user_exists(user)).await
            {
                break 'checks e;
            }
            let conversation = match self.resolve_for_send(sender, target, admitted.mention_all).await {
                Ok(conversation) => conversation,
                Err(e) => break 'checks e,
            };
            let admitted = admitted.into(conversation);
            let admitted = match admitted.quote_seq {
                None => admitted,
                Some(seq) => match Box::pin(self.resolve_quote(sender, conversation, seq, admitted)).await {
                    Ok(admitted) => admitted,
                    Err(e) => break 'checks e,
                },
            };
            return self.enqueue(conversation, sender, client_msg_id, admitted).await;
        };
        Box::pin(self.answer_retry(sender, &client_msg_id, refused)).await
    }

    /// A send that can no longer be admitted (its sender was blocked or
    /// muted since, the group was dismissed...) may be the retry of a message
    /// stored before: that retry is answered with the original ack, as every
    /// retry is. Only refused sends pay for the lookup.
    async fn answer_retry(
        &self,
        sender: UserId,
        client_msg_id: &str,
        refused: ApiError,
    ) -> Result<PendingAck, ApiError> {
        match self.store.message_by_client_id(sender, client_msg_id).await {
            Ok(Some(original)) => Ok(PendingAck::ready(content::ack(&Appended { message: original, duplicate: true }))),
            Ok(None) => Err(refused),
            Err(e) => {
                tracing::warn!(error = %e, "looking up a refused send's client_msg_id failed");
                Err(refused)
            }
        }
    }

    /// Queues a checked message for the writer (see `WriterHandle::submit`:
    /// queued when called if there is room).
    fn enqueue(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: String,
        admitted: Admitted,
    ) -> impl Future<Output = Result<PendingAck, ApiError>> + Send + '_ {
        let Admitted { content, body, mentions, mention_all, files, .. } = admitted;
        let message = NewMessage {
            conversation,
            sender,
            client_msg_id,
            server_msg_id: self.next_server_msg_id(),
            server_time: now_ms(),
            body,
            mentions,
            mention_all,
            effect: None,
            files,
        };
        self.writer.submit(message, content)
    }

    /// Appends a server-written system event to a group's seq stream (no
    /// permission checks: the caller already made them).
    pub async fn append_system(
        &self,
        group_id: i64,
        actor: UserId,
        event: v1::System,
    ) -> Result<v1::SendAck, ApiError> {
        // A space: no client can send this id (client ids are printable
        // ASCII without spaces), so system events never collide with sends.
        let client_msg_id = format!("sys {}", self.next_server_msg_id());
        self.enqueue(ConversationId::Group(group_id), actor, client_msg_id, content::system(event)).await?.wait().await
    }

    /// Appends the call-log message of a finished call to the direct
    /// conversation of its two users, under the caller's id, and waits for
    /// it to be durable. Its `client_msg_id` is `call <call id>` (a space, as
    /// for system messages): a second write of the same call is the
    /// original's duplicate, never a second message.
    /// Enqueues it without waiting for the commit: the writer batches the
    /// logs of calls that end together into one commit.
    pub async fn enqueue_call_log(
        &self,
        conversation: ConversationId,
        caller: UserId,
        log: v1::CallLog,
    ) -> Result<PendingAck, ApiError> {
        let client_msg_id = format!("call {}", log.call_id);
        let content = v1::MessageContent { kind: Some(v1::message_content::Kind::CallLog(log)), ..Default::default() };
        self.enqueue(conversation, caller, client_msg_id, content::server_written(content)).await
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

    /// A reply's quote must name a message of the conversation the sender
    /// can see (not an event); the stored quote is that message's preview.
    async fn resolve_quote(
        &self,
        sender: UserId,
        conversation: ConversationId,
        seq: u64,
        admitted: Admitted,
    ) -> Result<Admitted, ApiError> {
        let visible_after = self.check_member(sender, conversation).await?;
        let quoted = match seq > visible_after {
            true => self.store.messages_at(conversation, &[seq]).await.map_err(store_error)?.pop(),
            false => None,
        };
        match quoted {
            Some(q) if !content::is_event(&content::decode(&q)) => Ok(admitted.with_quote(content::quote_of(&q))),
            _ => Err(ApiError::invalid(format!("quote.seq {seq} is not a message of this conversation you can see"))),
        }
    }

    /// A direct conversation's other user must exist (per-user state is
    /// not kept for conversations with nobody).
    async fn peer_exists(&self, user: UserId, conversation: ConversationId) -> Result<(), ApiError> {
        match conversation.peer_of(user) {
            Some(peer) if peer != user && self.caches.user(peer).await?.is_none() => {
                Err(ApiError::not_found(format!("no user {peer}")))
            }
            _ => Ok(()),
        }
    }

    /// A contact card must name an existing user.
    /// Fills the file references of a sent message in from the stored
    /// files (see `content::files`); each must be a file the sender may
    /// read (their own, or one they saw in a message).
    async fn resolve_files(&self, sender: UserId, content: &mut v1::MessageContent) -> Result<(), ApiError> {
        let mut image = None;
        for (field, r) in content::files::sent_refs(content) {
            if r.file_id.is_empty() {
                continue; // Refused by the shape checks.
            }
            let file = self
                .store
                .readable_file(sender, &r.file_id, self.groups.history_for_new_members == HistoryVisibility::Full)
                .await
                .map_err(store_error)?
                .ok_or_else(|| ApiError::not_found(format!("{field}: no file {} you can use", r.file_id)))?;
            content::files::fill(r, &file);
            if field == "image.file" {
                image = Some(file);
            }
        }
        if let Some(file) = image {
            let thumbnail = match &file.thumbnail {
                Some(t) => self.store.file(t).await.map_err(store_error)?,
                None => None,
            };
            content::files::fill_image(content, &file, thumbnail.as_ref());
        }
        Ok(())
    }

    async fn named_user_exists(&self, id: UserId) -> Result<(), ApiError> {
        match self.caches.user(id).await? {
            None => Err(ApiError::invalid(format!("contact_card.user_id {id} names no user"))),
            Some(_) => Ok(()),
        }
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
                let member = self.group_member(sender, id).await?;
                let facts = self.caches.group(id).await?.ok_or_else(|| not_a_member(id))?;
                let me = MemberFacts { role: member.role, muted_until: member.muted_until };
                group::can_send(&facts, &me, now_ms(), mention_all)?;
            }
        }
        Ok(conversation)
    }

    /// Direct messages: the recipient exists, has not blocked the sender, and
    /// under the friends-only policy is a friend.
    /// Whether `sender` may reach `to` directly: the user exists, has not
    /// blocked the sender, and the DM policy lets the two talk. The one
    /// check for direct messages, typing and calls.
    pub async fn check_direct_allowed(&self, sender: UserId, to: UserId) -> Result<(), ApiError> {
        if self.caches.user(to).await?.is_none() {
            return Err(ApiError::not_found(format!("no user {to}")));
        }
        if self.caches.is_blocked(to, sender).await? {
            return Err(ApiError::new(ErrorCode::Blocked, "this user does not accept your messages"));
        }
        if self.social.direct_messages == DirectMessages::FriendsOnly && !self.caches.are_friends(sender, to).await? {
            return Err(ApiError::new(ErrorCode::NotFriends, "on this server only friends may message each other"));
        }
        Ok(())
    }

    /// `user`'s membership of group `group_id`; `not_found` for non-members
    /// so groups are not probed by id.
    async fn group_member(&self, user: UserId, group_id: i64) -> Result<Member, ApiError> {
        self.caches.membership(group_id, user).await?.as_ref().clone().ok_or_else(|| not_a_member(group_id))
    }

    /// Membership check for reads; returns the first seq the user may see
    /// minus one (history visibility for group members who joined later).
    async fn check_member(&self, user: UserId, conversation: ConversationId) -> Result<u64, ApiError> {
        match conversation {
            ConversationId::Direct { .. } if conversation.is_direct_member(user) => Ok(0),
            ConversationId::Direct { .. } => Err(ApiError::forbidden("you are not in this conversation")),
            ConversationId::Group(id) => {
                let member = self.group_member(user, id).await?;
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
        let stored = self.store.messages_after(conversation, after_seq, limit).await.map_err(store_error)?;
        // A page also stops short of the frame limit (a client may refuse a
        // larger frame); at least one message always goes out.
        let budget = self.limits.max_frame_bytes as usize / 2;
        let (mut messages, mut bytes) = (Vec::with_capacity(stored.len()), 0);
        for m in &stored {
            let wire = content::to_wire(m);
            bytes += wire.encoded_len() + 8;
            if bytes > budget && !messages.is_empty() {
                break;
            }
            messages.push(wire);
        }
        let cut = messages.len() < stored.len();
        let last = messages.last().map_or(after_seq, |m| m.seq);
        self.present(user, conversation, &mut messages).await?;
        // Only a full page can leave more behind; then ask the store.
        let has_more = cut
            || (stored.len() as u32 == limit && self.store.max_seq(conversation).await.map_err(store_error)? > last);
        Ok(v1::MessageBatch { conversation_id: conversation.to_string(), messages, has_more })
    }

    /// What a page of messages (in seq order) shows `user` beyond the
    /// stored rows: quotes as the quoted messages are now (recalled,
    /// edited), reaction counts, and what the user deleted for themselves
    /// (`hidden` envelopes). One store read, plus one for quotes if any.
    async fn present(
        &self,
        user: UserId,
        conversation: ConversationId,
        messages: &mut [v1::Message],
    ) -> Result<(), ApiError> {
        let (Some(first), Some(last)) = (messages.first().map(|m| m.seq), messages.last().map(|m| m.seq)) else {
            return Ok(());
        };
        self.refresh_quotes(conversation, messages).await?;
        let (counts, hidden) = self.store.page_extras(user, conversation, first, last).await.map_err(store_error)?;
        let mut at = 0;
        for c in counts {
            // Both are in seq order.
            while at < messages.len() && messages[at].seq < c.seq {
                at += 1;
            }
            if let Some(m) = messages.get_mut(at).filter(|m| m.seq == c.seq) {
                m.reactions.push(v1::ReactionCount { emoji: c.emoji, count: c.count, me: c.me });
            }
        }
        for m in messages.iter_mut().filter(|m| hidden.hides(m.seq)) {
            m.hidden = true;
            m.content = None;
            m.reactions.clear();
        }
        Ok(())
    }

    /// Shows the quotes of `messages` (of one conversation) as the quoted
    /// messages are now (recalled, edited): one read, if any quotes.
    async fn refresh_quotes(&self, conversation: ConversationId, messages: &mut [v1::Message]) -> Result<(), ApiError> {
        let quoted: Vec<u64> =
            messages.iter().filter_map(|m| m.content.as_ref()?.quote.as_ref().map(|q| q.seq)).collect();
        if quoted.is_empty() {
            return Ok(());
        }
        let now = self.store.messages_at(conversation, &quoted).await.map_err(store_error)?;
        for m in messages.iter_mut() {
            if let Some(quote) = m.content.as_mut().and_then(|c| c.quote.as_mut())
                && let Some(q) = now.iter().find(|q| q.seq == quote.seq)
            {
                *quote = content::quote_of(q);
            }
        }
        Ok(())
    }

    /// Every conversation of `user` with its max seq and unread count.
    pub async fn conversations(&self, user: UserId) -> Result<Vec<v1::Conversation>, ApiError> {
        Ok(self.conversation_list(user, "").await?.conversations)
    }

    /// The conversation list: all of it, or with `since` (an earlier
    /// answer's cursor) only the entries that may have changed after it.
    pub async fn conversation_list(&self, user: UserId, since: &str) -> Result<v1::ConversationList, ApiError> {
        let since = match since {
            "" => None,
            cursor => Some(ListCursor::parse(cursor)?),
        };
        let now = now_ms();
        let states = self.store.conversations_of(user).await.map_err(store_error)?;
        let (version, settings) = self.store.settings_changes(user, 0).await.map_err(store_error)?;
        let cursor = ListCursor {
            time: now.saturating_sub(self.messages.list_cursor_overlap_secs.saturating_mul(1000) as i64),
            version,
        }
        .to_string();
        let Some(since) = since else {
            let mut listed: Vec<v1::Conversation> = states.iter().map(|s| to_proto_conversation(user, s)).collect();
            self.describe(user, &states, &mut listed).await?;
            settings::apply(&states, &settings, &mut listed);
            return Ok(v1::ConversationList {
                conversations: listed,
                cursor,
                incremental: false,
                conversation_ids: vec![],
            });
        };
        // Changed: activity or read positions after the cursor's time, or
        // the user's own state (settings, hidden) after its version.
        let mut touched: HashSet<ConversationId> =
            settings.iter().filter(|s| s.version > since.version).map(|s| s.conversation).collect();
        if version > since.version {
            let hidden = self.store.hidden_changes(user, since.version).await.map_err(store_error)?;
            touched.extend(hidden.hidden.iter().map(|(c, _)| *c));
            touched.extend(hidden.cleared.iter().map(|(c, _)| *c));
        }
        let conversation_ids = states.iter().map(|s| s.conversation.to_string()).collect();
        let changed: Vec<ConversationState> =
            states.into_iter().filter(|s| s.changed_at >= since.time || touched.contains(&s.conversation)).collect();
        let mut listed: Vec<v1::Conversation> = changed.iter().map(|s| to_proto_conversation(user, s)).collect();
        self.describe(user, &changed, &mut listed).await?;
        settings::apply(&changed, &settings, &mut listed);
        Ok(v1::ConversationList { conversations: listed, cursor, incremental: true, conversation_ids })
    }

    /// Fills in what a list shows of each conversation: the peer's or the
    /// group's name and avatar, and the newest message's preview (as it is
    /// now: recalled, edited, or hidden by this user). A few queries for the
    /// whole list, not a few per conversation.
    async fn describe(
        &self,
        user: UserId,
        states: &[ConversationState],
        listed: &mut [v1::Conversation],
    ) -> Result<(), ApiError> {
        let ids: Vec<ConversationId> = states.iter().map(|s| s.conversation).collect();
        let peers: Vec<UserId> = ids.iter().filter_map(|c| c.peer_of(user)).collect();
        let people = self.store.users_by_ids(&peers).await.map_err(store_error)?;
        let groups = if ids.iter().any(|c| matches!(c, ConversationId::Group(_))) {
            self.store.groups_of(user).await.map_err(store_error)?
        } else {
            Vec::new()
        };
        let last = self.store.last_messages(&ids).await.map_err(store_error)?;
        // Only the listed messages are looked up, not everything the user
        // ever hid.
        let pairs: Vec<(ConversationId, u64)> = last.iter().map(|m| (m.conversation, m.seq)).collect();
        let hidden_flags = self.store.hidden_among(user, &pairs).await.map_err(store_error)?;
        let hidden_seqs: HashSet<(ConversationId, u64)> =
            pairs.into_iter().zip(hidden_flags).filter_map(|(p, hidden)| hidden.then_some(p)).collect();
        // Keyed once: thousands of conversations must not mean a search of
        // every list per conversation.
        let people: HashMap<UserId, &ferry_store::User> = people.iter().map(|p| (p.id, p)).collect();
        let groups: HashMap<i64, &ferry_store::Group> = groups.iter().map(|g| (g.id, g)).collect();
        let last: HashMap<ConversationId, &ferry_store::StoredMessage> =
            last.iter().map(|m| (m.conversation, m)).collect();
        for (state, c) in states.iter().zip(listed.iter_mut()) {
            match state.conversation {
                ConversationId::Direct { .. } => {
                    if let Some(p) = state.conversation.peer_of(user).and_then(|peer| people.get(&peer)) {
                        c.name = if p.display_name.is_empty() { p.username.clone() } else { p.display_name.clone() };
                        c.avatar = p.avatar.clone();
                    }
                }
                ConversationId::Group(id) => {
                    if let Some(g) = groups.get(&id) {
                        c.name = g.name.clone();
                        c.avatar = g.avatar.clone();
                    }
                }
            }
            let Some(m) = last.get(&state.conversation) else { continue };
            c.last_seq = m.seq;
            c.last_sender_id = m.sender;
            if hidden_seqs.contains(&(m.conversation, m.seq)) {
                c.last_kind = "hidden".to_owned();
                continue;
            }
            let content = content::decode(m);
            c.last_kind = content.kind.as_ref().map_or("unknown", ferry_proto::preview::kind_name).to_owned();
            c.preview = content::preview(&content);
        }
        Ok(())
    }

    /// Raises the read position.
    pub async fn mark_read(&self, user: UserId, conversation: &str, seq: u64) -> Result<v1::MarkReadOk, ApiError> {
        let conversation = parse_conversation(conversation)?;
        self.check_member(user, conversation).await?;
        let read_seq = match self.store.mark_read(user, conversation, seq).await {
            Ok(read_seq) => read_seq,
            // A direct conversation without a message yet has no state to
            // raise: its read position is 0, as a pull of it is empty.
            Err(StoreError::NotFound(_)) if matches!(conversation, ConversationId::Direct { .. }) => 0,
            Err(e) => return Err(store_error(e)),
        };
        if read_seq > 0 {
            self.notifier.read_moved(user, conversation);
        }
        Ok(v1::MarkReadOk { conversation_id: conversation.to_string(), read_seq })
    }
}

fn not_a_member(group_id: i64) -> ApiError {
    ApiError::not_found(format!("no group {group_id} you are a member of"))
}

fn parse_conversation(id: &str) -> Result<ConversationId, ApiError> {
    id.parse().map_err(|_| ApiError::invalid(format!("invalid conversation id {id:?}")))
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
        peer_read_seq: s.peer_read_seq,
        ..Default::default()
    }
}
