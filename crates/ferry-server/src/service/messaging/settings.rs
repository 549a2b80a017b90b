//! A user's own settings of their conversations: pinned, muted, archived,
//! draft. Versioned per user (with hidden messages), pushed to the user's
//! devices as `changed{domain: "conversations"}`, and folded into the
//! conversation list (pinned first; archived until the next message).

use ferry_core::{ApiError, ErrorCode, UserId};
use ferry_proto::v1;
use ferry_store::{ConversationSettings, ConversationState, SettingsPatch};

use super::{Messaging, parse_conversation};
use crate::{error::store_error, service::now_ms};

impl Messaging {
    /// Changes the fields of `s` that are set.
    pub async fn update_settings(
        &self,
        user: UserId,
        s: v1::ConversationSettings,
    ) -> Result<v1::ConversationSettings, ApiError> {
        let conversation = parse_conversation(&s.conversation_id)?;
        self.check_member(user, conversation).await?;
        self.peer_exists(user, conversation).await?;
        if s.pinned.is_none() && s.muted.is_none() && s.archived.is_none() && s.draft.is_none() {
            return Err(ApiError::invalid("set at least one of pinned, muted, archived, draft"));
        }
        if let Some(draft) = &s.draft
            && draft.len() > self.limits.max_text_bytes as usize
        {
            let max = self.limits.max_text_bytes;
            return Err(ApiError::new(ErrorCode::TextTooLong, format!("a draft is at most {max} bytes")));
        }
        let patch =
            SettingsPatch { pinned: s.pinned, muted: s.muted, archived: s.archived, draft: s.draft, now: now_ms() };
        let saved = self.store.update_settings(user, conversation, patch).await.map_err(store_error)?;
        self.notifier.settings(user, saved.version);
        Ok(to_proto(&saved))
    }

    /// `user`'s settings changed after version `since`.
    pub async fn settings_changes(
        &self,
        user: UserId,
        since: u64,
    ) -> Result<v1::ConversationSettingsChanges, ApiError> {
        let (version, rows) = self.store.settings_changes(user, since).await.map_err(store_error)?;
        Ok(v1::ConversationSettingsChanges { version, settings: rows.iter().map(to_proto).collect() })
    }
}

fn to_proto(s: &ConversationSettings) -> v1::ConversationSettings {
    v1::ConversationSettings {
        conversation_id: s.conversation.to_string(),
        pinned: Some(s.pinned_at > 0),
        muted: Some(s.muted),
        archived: Some(s.archived_at > 0),
        draft: Some(s.draft.clone()),
        version: s.version,
        pinned_at: s.pinned_at,
        archived_at: s.archived_at,
    }
}

/// Folds settings into listed conversations and orders them: pinned first
/// (most recently pinned first), then by last activity. An archived
/// conversation with a message after its archiving is listed as not
/// archived.
pub(super) fn apply(states: &[ConversationState], settings: &[ConversationSettings], listed: &mut [v1::Conversation]) {
    let settings: std::collections::HashMap<_, _> = settings.iter().map(|s| (s.conversation, s)).collect();
    let mut pinned_at = vec![0i64; listed.len()];
    for (i, (state, c)) in states.iter().zip(listed.iter_mut()).enumerate() {
        let Some(s) = settings.get(&state.conversation) else { continue };
        c.pinned = s.pinned_at > 0;
        c.muted = s.muted;
        c.archived = s.archived_at > 0 && state.last_time <= s.archived_at;
        c.draft = s.draft.clone();
        pinned_at[i] = s.pinned_at;
    }
    if pinned_at.iter().all(|&p| p == 0) {
        return;
    }
    // `listed` is newest activity first; a stable sort keeps that within
    // the pinned and the unpinned.
    let mut order: Vec<usize> = (0..listed.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pinned_at[i]));
    let sorted: Vec<v1::Conversation> = order.iter().map(|&i| listed[i].clone()).collect();
    listed.clone_from_slice(&sorted);
}
