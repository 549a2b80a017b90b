//! [`ConversationStore`] for SQLite: `conversation_members` joined with
//! `conversations`, plus what the message log holds beyond
//! `conversations.max_seq` (see `log.rs`).
//!
//! Memory is read *before* the database snapshot: a logged message that a
//! merge moves in between is then counted by the snapshot (it is merged
//! there) and skipped in memory (its seq is not above the snapshot's
//! `max_seq`); a message logged after the memory read is simply not seen
//! yet. Either way a state is a consistent prefix of the conversation.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::{ConversationId, UserId};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{
    SqliteStore, backend_err, conversation_col, hidden,
    log::{Entry, flags},
};
use crate::{
    ConversationSettings, ConversationState, ConversationStore, Hidden, HiddenChanges, Result, SettingsPatch,
    StoreError,
};

/// A member's view of its conversations; `?1` is the user. Unread counts the
/// messages after the read position that someone else sent (not events, not
/// recalled: `flags = 0`): one range scan of the message primary key per
/// conversation.
const STATE_QUERY: &str = "
    SELECT c.id, c.max_seq, m.read_seq,
           (SELECT COUNT(*) FROM messages AS msg
             WHERE msg.conversation_id = c.id AND msg.seq > m.read_seq AND msg.sender_id <> ?1
               AND msg.flags = 0) AS unread,
           c.last_time, m.mention_seq > m.read_seq AS mentioned,
           CASE WHEN c.kind = 'direct' THEN
               COALESCE((SELECT MAX(p.read_seq) FROM conversation_members AS p
                          WHERE p.conversation_id = c.id AND p.user_id <> ?1), 0)
           ELSE 0 END AS peer_read_seq,
           MAX(c.changed_at, m.read_at,
               CASE WHEN c.kind = 'direct' THEN
                   COALESCE((SELECT MAX(p.read_at) FROM conversation_members AS p
                              WHERE p.conversation_id = c.id AND p.user_id <> ?1), 0)
               ELSE 0 END) AS changed_at
      FROM conversation_members AS m
      JOIN conversations AS c ON c.id = m.conversation_id
     WHERE m.user_id = ?1";

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn conversations_of(&self, user: UserId) -> Result<Vec<ConversationState>> {
        let log = Arc::clone(&self.log);
        self.read(move |conn| {
            let ids = conn
                .prepare_cached("SELECT conversation_id FROM conversation_members WHERE user_id = ?1")
                .and_then(|mut stmt| {
                    stmt.query_map([user], |row| conversation_col(row, 0))?.collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(backend_err)?;
            let logged = log.entries_of(&ids);
            let mut states = conn
                .prepare_cached(STATE_QUERY)
                .and_then(|mut stmt| stmt.query_map([user], state_row)?.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(backend_err)?;
            for state in &mut states {
                if let Some(entries) = logged.get(&state.conversation) {
                    overlay(user, state, entries);
                }
            }
            states.sort_by(|a, b| {
                b.last_time.cmp(&a.last_time).then_with(|| a.conversation.to_string().cmp(&b.conversation.to_string()))
            });
            Ok(states)
        })
        .await
    }

    async fn conversation_of(&self, user: UserId, conversation: ConversationId) -> Result<Option<ConversationState>> {
        let logged = self.log.entries_after(conversation, 0, usize::MAX);
        self.read(move |conn| {
            let state = conn
                .prepare_cached(&format!("{STATE_QUERY} AND m.conversation_id = ?2"))
                .and_then(|mut stmt| stmt.query_row(params![user, conversation.to_string()], state_row).optional())
                .map_err(backend_err)?;
            Ok(state.map(|mut state| {
                overlay(user, &mut state, &logged);
                state
            }))
        })
        .await
    }

    async fn mark_read(&self, user: UserId, conversation: ConversationId, seq: u64) -> Result<u64> {
        self.write_log(move |conn, log| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            let id = conversation.to_string();
            let current: Option<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT m.read_seq, c.max_seq
                       FROM conversation_members AS m
                       JOIN conversations AS c ON c.id = m.conversation_id
                      WHERE m.user_id = ?1 AND m.conversation_id = ?2",
                )
                .and_then(|mut stmt| stmt.query_row(params![user, id], |row| Ok((row.get(0)?, row.get(1)?))).optional())
                .map_err(backend_err)?;
            let Some((read_seq, max_seq)) = current else {
                return Err(StoreError::NotFound(format!("user {user} is not in conversation {conversation}")));
            };
            // Logged messages count too (memory is current on the writer).
            let max_seq = log.shared.max_seq(conversation).unwrap_or(0).max(max_seq as u64);
            let read_seq = read_seq as u64;
            let target = seq.min(max_seq).max(read_seq);
            if target != read_seq {
                // Stamped with this node's clock (for incremental lists).
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                tx.prepare_cached(
                    "UPDATE conversation_members SET read_seq = ?3, read_at = ?4 WHERE user_id = ?1 AND conversation_id = ?2",
                )
                .and_then(|mut stmt| stmt.execute(params![user, id, target as i64, now]))
                .map_err(backend_err)?;
            }
            tx.commit().map_err(backend_err)?;
            Ok(target)
        })
        .await
    }

    async fn direct_peers(&self, user: UserId) -> Result<Vec<UserId>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT c.id FROM conversation_members AS m
                       JOIN conversations AS c ON c.id = m.conversation_id
                      WHERE m.user_id = ?1 AND c.kind = 'direct'",
                )
                .map_err(backend_err)?;
            let ids = stmt.query_map([user], |row| conversation_col(row, 0)).map_err(backend_err)?;
            let mut peers = Vec::new();
            for id in ids {
                // A note-to-self conversation has no peer but the user.
                if let Some(peer) = id.map_err(backend_err)?.peer_of(user).filter(|&peer| peer != user) {
                    peers.push(peer);
                }
            }
            peers.sort_unstable();
            peers.dedup();
            Ok(peers)
        })
        .await
    }

    async fn hide_messages(&self, user: UserId, conversation: ConversationId, seqs: &[u64]) -> Result<u64> {
        let seqs = seqs.to_vec();
        self.write_grouped(move |conn| hidden::hide(conn, user, conversation, &seqs)).await
    }

    async fn clear_history(&self, user: UserId, conversation: ConversationId, up_to: u64) -> Result<u64> {
        self.write_grouped(move |conn| hidden::clear(conn, user, conversation, up_to)).await
    }

    async fn hidden_in(&self, user: UserId, conversation: ConversationId, from: u64, to: u64) -> Result<Hidden> {
        self.read(move |conn| hidden::hidden_in(conn, user, conversation, from, to)).await
    }

    async fn hidden_changes(&self, user: UserId, since: u64) -> Result<HiddenChanges> {
        self.read(move |conn| hidden::changes(conn, user, since)).await
    }

    async fn hidden_among(&self, user: UserId, messages: &[(ConversationId, u64)]) -> Result<Vec<bool>> {
        let messages = messages.to_vec();
        self.read(move |conn| hidden::hidden_among(conn, user, &messages)).await
    }

    async fn update_settings(
        &self,
        user: UserId,
        conversation: ConversationId,
        patch: SettingsPatch,
    ) -> Result<ConversationSettings> {
        self.write_grouped(move |conn| hidden::update_settings(conn, user, conversation, &patch)).await
    }

    async fn settings_changes(&self, user: UserId, since: u64) -> Result<(u64, Vec<ConversationSettings>)> {
        self.read(move |conn| hidden::settings_changes(conn, user, since)).await
    }

    async fn read_position(&self, user: UserId, conversation: ConversationId) -> Result<Option<u64>> {
        self.read(move |conn| {
            conn.prepare_cached("SELECT read_seq FROM conversation_members WHERE user_id = ?1 AND conversation_id = ?2")
                .and_then(|mut stmt| {
                    stmt.query_row(params![user, conversation.to_string()], |r| r.get::<_, i64>(0)).optional()
                })
                .map(|r| r.map(|v| v as u64))
                .map_err(backend_err)
        })
        .await
    }

    async fn read_positions(&self, conversation: ConversationId) -> Result<Vec<(UserId, u64)>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT user_id, read_seq FROM conversation_members WHERE conversation_id = ?1 ORDER BY user_id",
            )
            .and_then(|mut stmt| {
                stmt.query_map([conversation.to_string()], |row| Ok((row.get(0)?, row.get::<_, i64>(1)? as u64)))?
                    .collect()
            })
            .map_err(backend_err)
        })
        .await
    }
}

/// Adds the logged messages after the snapshot's `max_seq` to a state.
fn overlay(user: UserId, state: &mut ConversationState, logged: &[Entry]) {
    let merged = state.max_seq;
    for e in logged.iter().filter(|e| e.seq > merged) {
        state.max_seq = state.max_seq.max(e.seq);
        state.changed_at = state.changed_at.max(e.time);
        if e.flags & flags::EVENT == 0 {
            state.last_time = state.last_time.max(e.time);
        }
        if e.seq > state.read_seq && e.sender != user && flags::counts(e.flags) {
            state.unread += 1;
        }
    }
}

/// Maps a row of [`STATE_QUERY`].
fn state_row(row: &Row<'_>) -> rusqlite::Result<ConversationState> {
    Ok(ConversationState {
        conversation: conversation_col(row, 0)?,
        max_seq: row.get::<_, i64>(1)? as u64,
        read_seq: row.get::<_, i64>(2)? as u64,
        unread: row.get::<_, i64>(3)? as u64,
        last_time: row.get(4)?,
        mentioned: row.get(5)?,
        peer_read_seq: row.get::<_, i64>(6)? as u64,
        changed_at: row.get(7)?,
    })
}
