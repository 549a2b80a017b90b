//! [`ConversationStore`] for SQLite: `conversation_members` joined with
//! `conversations`.

use async_trait::async_trait;
use ferry_core::{ConversationId, UserId};
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, backend_err, conversation_col};
use crate::{ConversationState, ConversationStore, Result, StoreError};

/// A member's view of its conversations; `?1` is the user. Unread counts the
/// messages after the read position that someone else sent: one range scan
/// of the message primary key per conversation.
const STATE_QUERY: &str = "
    SELECT c.id, c.max_seq, m.read_seq,
           (SELECT COUNT(*) FROM messages AS msg
             WHERE msg.conversation_id = c.id AND msg.seq > m.read_seq AND msg.sender_id <> ?1) AS unread,
           c.last_time, m.mention_seq > m.read_seq AS mentioned
      FROM conversation_members AS m
      JOIN conversations AS c ON c.id = m.conversation_id
     WHERE m.user_id = ?1";

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn conversations_of(&self, user: UserId) -> Result<Vec<ConversationState>> {
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached(&format!("{STATE_QUERY} ORDER BY c.last_time DESC, c.id")).map_err(backend_err)?;
            let rows = stmt.query_map([user], state_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn conversation_of(&self, user: UserId, conversation: ConversationId) -> Result<Option<ConversationState>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("{STATE_QUERY} AND m.conversation_id = ?2"))
                .and_then(|mut stmt| stmt.query_row(params![user, conversation.to_string()], state_row).optional())
                .map_err(backend_err)
        })
        .await
    }

    async fn mark_read(&self, user: UserId, conversation: ConversationId, seq: u64) -> Result<u64> {
        self.write(move |conn| {
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
            let (read_seq, max_seq) = (read_seq as u64, max_seq as u64);
            let target = seq.min(max_seq).max(read_seq);
            if target != read_seq {
                tx.prepare_cached(
                    "UPDATE conversation_members SET read_seq = ?3 WHERE user_id = ?1 AND conversation_id = ?2",
                )
                .and_then(|mut stmt| stmt.execute(params![user, id, target as i64]))
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
    })
}
