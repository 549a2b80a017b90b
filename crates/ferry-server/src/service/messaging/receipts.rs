//! Read receipts and typing: who has read a message, and "typing…".
//!
//! Direct conversations carry the other member's read position in the
//! conversation list, and `read_receipt` pushes (coalesced by the
//! [`Notifier`](crate::service::notify::Notifier)) when it moves. For a
//! group message its sender asks who read it. Typing is ephemeral: checked
//! like a send, passed to the peer's devices, never stored.

use ferry_core::{ApiError, ConversationId, ErrorCode, UserId};
use ferry_proto::v1;

use super::{Messaging, parse_conversation};
use crate::error::store_error;

impl Messaging {
    /// Who has read message `seq` (its sender asks).
    pub async fn read_status(&self, user: UserId, conversation: &str, seq: u64) -> Result<v1::ReadStatus, ApiError> {
        let conversation = parse_conversation(conversation)?;
        let (message, _) = self.visible_message(user, conversation, seq).await?;
        if message.sender != user {
            return Err(ApiError::forbidden("only the sender of a message sees who read it"));
        }
        let could_see: Vec<UserId> = match conversation {
            ConversationId::Direct { .. } => conversation.peer_of(user).into_iter().filter(|&p| p != user).collect(),
            ConversationId::Group(id) => {
                let members = self.caches.member_ids(id).await?;
                let max = self.messages.receipt_max_members;
                if members.len() > max as usize {
                    return Err(ApiError::new(
                        ErrorCode::LimitExceeded,
                        format!("read status is kept for groups of up to {max} members"),
                    ));
                }
                members.receivers(seq).iter().copied().filter(|&m| m != user).collect()
            }
        };
        let positions = self.store.read_positions(conversation).await.map_err(store_error)?;
        let mut status = v1::ReadStatus { conversation_id: conversation.to_string(), seq, ..Default::default() };
        for member in could_see {
            let read = positions.binary_search_by_key(&member, |(u, _)| *u).ok().is_some_and(|i| positions[i].1 >= seq);
            if read { status.read_user_ids.push(member) } else { status.unread_user_ids.push(member) }
        }
        status.read_count = status.read_user_ids.len() as u32;
        status.unread_count = status.unread_user_ids.len() as u32;
        Ok(status)
    }

    /// Passes "typing" / "stopped" to the other member of a direct chat.
    pub async fn typing(&self, user: UserId, conversation: &str, typing: bool) -> Result<(), ApiError> {
        let conversation = parse_conversation(conversation)?;
        if !matches!(conversation, ConversationId::Direct { .. }) {
            return Err(ApiError::invalid("typing is for direct conversations"));
        }
        let peer = conversation.peer_of(user).ok_or_else(|| ApiError::forbidden("you are not in this conversation"))?;
        if peer == user {
            return Ok(());
        }
        self.check_direct_allowed(user, peer).await?;
        self.notifier.typing(user, conversation, peer, typing);
        Ok(())
    }
}
