//! Changing sent messages: recall, edit, reactions and pins.
//!
//! Each operation is checked here (the message is visible to the actor,
//! the actor may do it, the window is open) and then travels the message
//! path as an *event* message carrying a [`ferry_store::Effect`]: the writer
//! commits the event and its effect in one transaction (where the store
//! re-checks what a concurrent operation could have changed, such as a
//! recall racing an edit) and the fan-out pushes the event to every member,
//! so devices that were offline converge by the same sync as for messages.

use ferry_core::{
    ApiError, ConversationId, ErrorCode, Role, UserId, content as limits,
    group::{self, GroupFacts, MemberFacts},
    validate,
};
use ferry_proto::v1::{self, message_content::Kind, message_op::Op};
use ferry_store::{Effect, NewMessage, StoredMessage};

use super::{Messaging, not_a_member, parse_conversation};
use crate::{
    error::store_error,
    service::{
        content::{self, Admitted},
        now_ms,
        writer::PendingAck,
    },
};

/// Most reactors one `get_reactions` returns.
pub const MAX_REACTORS: u32 = 500;

/// The actor's standing in a conversation, for permissions.
enum Standing {
    /// A direct conversation with `peer` (the actor themselves for a note
    /// to self).
    Direct { peer: UserId },
    /// A group member.
    Group { me: MemberFacts, facts: GroupFacts },
}

impl Standing {
    fn is_group_admin(&self) -> bool {
        matches!(self, Self::Group { me, .. } if me.role >= Role::Admin)
    }
}

impl Messaging {
    /// Applies a recall, edit, reaction or pin; answers once its event is
    /// stored.
    pub async fn op(&self, user: UserId, op: v1::MessageOp) -> Result<v1::OpAck, ApiError> {
        self.admit_op(user, op).await?.wait().await.map(op_ack)
    }

    /// Checks an operation and queues its event for the writer. Returns once
    /// it is queued (so a connection's sends and operations keep their
    /// order); the [`PendingAck`] resolves when it is durable (map it with
    /// [`op_ack`]).
    pub async fn admit_op(&self, user: UserId, op: v1::MessageOp) -> Result<PendingAck, ApiError> {
        let conversation = parse_conversation(&op.conversation_id)?;
        // A retry of an operation that was applied gets its original ack,
        // before any check that the change itself now fails.
        let client_msg_id = if op.client_msg_id.is_empty() {
            None
        } else {
            validate::client_msg_id(&op.client_msg_id, &self.limits)?;
            let id = format!("op {}", op.client_msg_id);
            if let Some(done) = self.store.message_by_client_id(user, &id).await.map_err(store_error)? {
                return Ok(PendingAck::ready(content::ack(&ferry_store::Appended { message: done, duplicate: true })));
            }
            Some(id)
        };
        let action = op.op.ok_or_else(|| ApiError::invalid("op needs one of revoke, edit, react, pin"))?;
        let (target, current) = self.visible_message(user, conversation, op.seq).await?;
        if matches!(current.kind, Some(Kind::System(_) | Kind::CallLog(_))) {
            return Err(ApiError::invalid("system messages and call logs cannot be changed"));
        }
        if matches!(current.kind, Some(Kind::Revoked(_))) {
            return Err(ApiError::new(ErrorCode::Conflict, format!("message {} is recalled", op.seq)));
        }
        let standing = self.standing(user, conversation).await?;
        let now = now_ms();
        let seq = target.seq;
        let (effect, event) = match action {
            Op::Revoke(_) => {
                if target.sender == user {
                    let window = self.messages.revoke_window_secs;
                    if !standing.is_group_admin() && now - target.server_time > secs_ms(window) {
                        return Err(expired("recall", window));
                    }
                } else if !standing.is_group_admin() {
                    return Err(ApiError::forbidden(
                        "only the sender, or a group owner or admin, may recall a message",
                    ));
                }
                if let Standing::Group { facts, .. } = &standing {
                    not_dismissed(facts)?;
                }
                let effect = Effect::Revoke { target: seq, body: content::revoked_body(user, now) };
                (effect, v1::MessageEvent { event: "revoked".into(), target_seq: seq, ..Default::default() })
            }
            Op::Edit(edit) => {
                if target.sender != user {
                    return Err(ApiError::forbidden("only the sender may edit a message"));
                }
                if !matches!(current.kind, Some(Kind::Text(_))) {
                    return Err(ApiError::invalid("only text messages can be edited"));
                }
                let window = self.messages.edit_window_secs;
                if now - target.server_time > secs_ms(window) {
                    return Err(expired("edit", window));
                }
                self.may_speak(user, &standing, now).await?;
                let mut new = edit.content.ok_or_else(|| ApiError::invalid("edit.content is required"))?;
                // The reply stays the reply it was; only the text changes.
                new.quote = None;
                let Admitted { mut content, .. } = content::admit(Some(new), &self.limits)?;
                let (Some(Kind::Text(new_text)), Some(Kind::Text(old_text))) = (&mut content.kind, &current.kind)
                else {
                    return Err(ApiError::invalid("edit.content must be text"));
                };
                // Only the text changes: the mentions (who was notified), the
                // quote and the forwarded mark stay what they were.
                new_text.mention_user_ids = old_text.mention_user_ids.clone();
                new_text.mention_all = old_text.mention_all;
                content.quote = current.quote;
                content.forwarded = current.forwarded;
                content.edited_at = now;
                let body = prost::Message::encode_to_vec(&content);
                // The event names the edit but does not carry the new text:
                // it reaches members who may not see the message (they
                // joined after it) and outlives a later recall. Devices
                // pull the message itself.
                let event = v1::MessageEvent { event: "edited".into(), target_seq: seq, ..Default::default() };
                (Effect::Edit { target: seq, body }, event)
            }
            Op::React(react) => {
                limits::emoji(&react.emoji)?;
                // A reaction reaches every member like a message: whoever
                // may not speak (muted) may not react either.
                self.may_speak(user, &standing, now).await?;
                let name = if react.remove { "reaction_removed" } else { "reaction_added" };
                let event = v1::MessageEvent {
                    event: name.into(),
                    target_seq: seq,
                    emoji: react.emoji.clone(),
                    ..Default::default()
                };
                (Effect::React { target: seq, emoji: react.emoji, add: !react.remove }, event)
            }
            Op::Pin(pin) => {
                if let Standing::Group { me, facts } = &standing {
                    group::manage(facts, me.role, "pin messages")?;
                }
                self.may_interact(user, &standing).await?;
                let max = self.messages.max_pins;
                let pins =
                    if pin.unpin { Vec::new() } else { self.store.pins(conversation).await.map_err(store_error)? };
                // Pinned already is a conflict before it is one too many (the
                // store checks both again, atomically).
                if !pins.iter().any(|p| p.seq == seq) && pins.len() >= max as usize {
                    return Err(ApiError::new(
                        ErrorCode::LimitExceeded,
                        format!("at most {max} pinned messages per conversation; unpin one first"),
                    ));
                }
                let name = if pin.unpin { "unpinned" } else { "pinned" };
                let event = v1::MessageEvent { event: name.into(), target_seq: seq, ..Default::default() };
                (Effect::Pin { target: seq, pin: !pin.unpin, max }, event)
            }
        };
        let Admitted { content, body, .. } = content::event(event);
        let server_msg_id = self.next_server_msg_id();
        let message = NewMessage {
            conversation,
            sender: user,
            // A space: no client id has one, so events never collide with
            // sends (nor server-chosen ids with client-chosen ones).
            client_msg_id: client_msg_id.unwrap_or_else(|| format!("op  {server_msg_id}")),
            server_msg_id,
            server_time: now,
            body,
            mentions: Vec::new(),
            mention_all: false,
            effect: Some(effect),
            files: Vec::new(),
        };
        self.writer.submit(message, content).await
    }

    /// Who reacted to a message the user can see.
    pub async fn reactions(
        &self,
        user: UserId,
        conversation: &str,
        seq: u64,
        limit: u32,
    ) -> Result<v1::ReactionList, ApiError> {
        let conversation = parse_conversation(conversation)?;
        self.visible_message(user, conversation, seq).await?;
        let limit = if limit == 0 { MAX_REACTORS } else { limit.min(MAX_REACTORS) };
        let reactions = self.store.reactions_of(conversation, seq, limit).await.map_err(store_error)?;
        Ok(v1::ReactionList {
            conversation_id: conversation.to_string(),
            seq,
            reactions: reactions
                .into_iter()
                .map(|r| v1::Reaction { emoji: r.emoji, user_id: r.user, time: r.created_at })
                .collect(),
        })
    }

    /// The pinned messages of a conversation, as far as the user can see them.
    pub async fn pins(&self, user: UserId, conversation: &str) -> Result<v1::PinList, ApiError> {
        let conversation = parse_conversation(conversation)?;
        let visible_after = self.check_member(user, conversation).await?;
        let pins = self.store.pins(conversation).await.map_err(store_error)?;
        let seqs: Vec<u64> = pins.iter().map(|p| p.seq).filter(|&s| s > visible_after).collect();
        let stored = self.store.messages_at(conversation, &seqs).await.map_err(store_error)?;
        // Shown as a pull shows them (in seq order): current quotes,
        // reactions, and what this user deleted for themselves.
        let mut messages: Vec<v1::Message> = stored.iter().map(content::to_wire).collect();
        self.present(user, conversation, &mut messages).await?;
        let mut listed = Vec::with_capacity(seqs.len());
        for pin in pins {
            if let Some(m) = messages.iter().find(|m| m.seq == pin.seq) {
                listed.push(v1::PinnedMessage {
                    message: Some(m.clone()),
                    pinned_by: pin.pinned_by,
                    pinned_at: pin.pinned_at,
                });
            }
        }
        Ok(v1::PinList { conversation_id: conversation.to_string(), pins: listed })
    }

    /// Message `seq` if `user` can see it and it is not an event; anything
    /// else is `not_found`, so messages are not probed.
    pub(super) async fn visible_message(
        &self,
        user: UserId,
        conversation: ConversationId,
        seq: u64,
    ) -> Result<(StoredMessage, v1::MessageContent), ApiError> {
        let missing = || ApiError::not_found(format!("no message {seq} in {conversation}"));
        // Someone else's direct conversation is `not_found` too: whether a
        // message exists is not told to outsiders.
        let visible_after = match self.check_member(user, conversation).await {
            Err(e) if e.code == ErrorCode::Forbidden => return Err(missing()),
            other => other?,
        };
        if seq <= visible_after {
            return Err(missing());
        }
        let found =
            self.store.messages_at(conversation, &[seq]).await.map_err(store_error)?.pop().ok_or_else(missing)?;
        let current = content::decode(&found);
        if content::is_event(&current) {
            return Err(missing());
        }
        Ok((found, current))
    }

    async fn standing(&self, user: UserId, conversation: ConversationId) -> Result<Standing, ApiError> {
        match conversation {
            ConversationId::Direct { .. } => {
                let peer = conversation
                    .peer_of(user)
                    .ok_or_else(|| ApiError::forbidden("you are not in this conversation"))?;
                Ok(Standing::Direct { peer })
            }
            ConversationId::Group(id) => {
                let member = self.group_member(user, id).await?;
                let facts = *self.caches.group(id).await?.ok_or_else(|| not_a_member(id))?;
                Ok(Standing::Group { me: MemberFacts { role: member.role, muted_until: member.muted_until }, facts })
            }
        }
    }

    /// Reactions and pins: a group that still exists; in a direct chat, a
    /// peer who has not blocked the actor.
    async fn may_interact(&self, user: UserId, standing: &Standing) -> Result<(), ApiError> {
        match standing {
            Standing::Group { facts, .. } => not_dismissed(facts),
            Standing::Direct { peer } if *peer != user => {
                if self.caches.is_blocked(*peer, user).await? {
                    return Err(ApiError::new(ErrorCode::Blocked, "this user does not accept your messages"));
                }
                Ok(())
            }
            Standing::Direct { .. } => Ok(()),
        }
    }

    /// Edits: whatever sending a message needs now (a muted member cannot
    /// edit either).
    async fn may_speak(&self, user: UserId, standing: &Standing, now: i64) -> Result<(), ApiError> {
        match standing {
            Standing::Group { me, facts } => group::can_send(facts, me, now, false),
            Standing::Direct { peer } if *peer != user => self.check_direct_allowed(user, *peer).await,
            Standing::Direct { .. } => Ok(()),
        }
    }
}

/// The answer to an operation, from its event's ack.
pub fn op_ack(ack: v1::SendAck) -> v1::OpAck {
    v1::OpAck {
        conversation_id: ack.conversation_id,
        seq: ack.seq,
        server_msg_id: ack.server_msg_id,
        server_time: ack.server_time,
    }
}

fn not_dismissed(facts: &GroupFacts) -> Result<(), ApiError> {
    if facts.dismissed {
        return Err(ApiError::new(ErrorCode::GroupDismissed, "the group is dismissed"));
    }
    Ok(())
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn expired(what: &str, window_secs: u64) -> ApiError {
    ApiError::new(ErrorCode::Expired, format!("the {what} window ({window_secs} s after sending) has passed"))
}
