//! Delete for me and clear history: per-user state, not events. The
//! messages stay in the conversation for everyone else; this user's pulls
//! show them as `hidden` envelopes (so the seq stream stays gap-free) and
//! their other devices learn of it through a `changed{domain: "hidden"}`
//! push and the versioned changes.

use ferry_core::{ApiError, UserId};
use ferry_proto::v1;

use super::{Messaging, parse_conversation};
use crate::error::store_error;

/// Most messages one call hides.
pub const MAX_HIDE: usize = 100;

impl Messaging {
    /// Hides messages (or clears the history) of a conversation for `user`.
    pub async fn hide(&self, user: UserId, h: v1::HideMessages) -> Result<v1::HideOk, ApiError> {
        let conversation = parse_conversation(&h.conversation_id)?;
        let visible_after = self.check_member(user, conversation).await?;
        self.peer_exists(user, conversation).await?;
        let max_seq = self.store.max_seq(conversation).await.map_err(store_error)?;
        let version = if h.clear {
            if !h.seqs.is_empty() {
                return Err(ApiError::invalid("clear takes up_to_seq, not seqs"));
            }
            let up_to = if h.up_to_seq == 0 { max_seq } else { h.up_to_seq.min(max_seq) };
            let version = self.store.clear_history(user, conversation, up_to).await.map_err(store_error)?;
            if up_to > 0 {
                self.mark_read(user, &h.conversation_id, up_to).await?;
            }
            version
        } else {
            let mut seqs = h.seqs;
            seqs.sort_unstable();
            seqs.dedup();
            if seqs.is_empty() || seqs.len() > MAX_HIDE {
                return Err(ApiError::invalid(format!("hide 1-{MAX_HIDE} messages")));
            }
            if let Some(&bad) = seqs.iter().find(|&&s| s <= visible_after || s > max_seq) {
                return Err(ApiError::not_found(format!("no message {bad} in {conversation}")));
            }
            self.store.hide_messages(user, conversation, &seqs).await.map_err(store_error)?
        };
        self.notifier.hidden(user, version);
        Ok(v1::HideOk { version })
    }

    /// What `user` hid or cleared after version `since`.
    pub async fn hidden_changes(&self, user: UserId, since: u64) -> Result<v1::HiddenChanges, ApiError> {
        let changes = self.store.hidden_changes(user, since).await.map_err(store_error)?;
        Ok(v1::HiddenChanges {
            version: changes.version,
            hidden: changes
                .hidden
                .into_iter()
                .map(|(c, seq)| v1::HiddenMessage { conversation_id: c.to_string(), seq })
                .collect(),
            cleared: changes
                .cleared
                .into_iter()
                .map(|(c, up_to_seq)| v1::ClearedHistory { conversation_id: c.to_string(), up_to_seq })
                .collect(),
        })
    }
}
