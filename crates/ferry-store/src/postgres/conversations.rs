//! [`ConversationStore`] for PostgreSQL: `conversation_members` joined with
//! `conversations`; the per-user state (hidden messages, cleared histories,
//! settings) is in `hidden.rs`.

use async_trait::async_trait;
use ferry_core::{ConversationId, UserId};
use tokio_postgres::Row;

use super::{PgStore, Try, conversation_col, cursor, hidden, map_rows, serializable, snapshot, u64_col};
use crate::{
    ConversationSettings, ConversationState, ConversationStore, Hidden, HiddenChanges, Result, SettingsPatch,
    StoreError,
};

/// A member's view of its conversations; `$1` is the user. Unread counts the
/// messages after the read position that someone else sent (not events, not
/// recalled: `flags = 0`): one range scan of the message primary key per
/// conversation.
const STATE_QUERY: &str = "
    SELECT c.id, c.max_seq, m.read_seq,
           (SELECT COUNT(*) FROM messages AS msg
             WHERE msg.conversation_id = c.id AND msg.seq > m.read_seq AND msg.sender_id <> $1
               AND msg.flags = 0) AS unread,
           c.last_time, m.mention_seq > m.read_seq AS mentioned,
           CASE WHEN c.kind = 'direct' THEN
               COALESCE((SELECT MAX(p.read_seq) FROM conversation_members AS p
                          WHERE p.conversation_id = c.id AND p.user_id <> $1), 0)
           ELSE 0 END AS peer_read_seq,
           GREATEST(c.changed_at, m.read_at,
               CASE WHEN c.kind = 'direct' THEN
                   COALESCE((SELECT MAX(p.read_at) FROM conversation_members AS p
                              WHERE p.conversation_id = c.id AND p.user_id <> $1), 0)
               ELSE 0 END) AS changed_at
      FROM conversation_members AS m
      JOIN conversations AS c ON c.id = m.conversation_id
     WHERE m.user_id = $1";

#[async_trait]
impl ConversationStore for PgStore {
    async fn conversations_of(&self, user: UserId) -> Result<Vec<ConversationState>> {
        self.read(|client| async move {
            let stmt = client.prepare_cached(STATE_QUERY).await?;
            let mut states = map_rows(client.query(&stmt, &[&user]).await?, state_row)?;
            states.sort_by(|a, b| {
                b.last_time.cmp(&a.last_time).then_with(|| a.conversation.to_string().cmp(&b.conversation.to_string()))
            });
            Ok(states)
        })
        .await
    }

    async fn conversation_of(&self, user: UserId, conversation: ConversationId) -> Result<Option<ConversationState>> {
        self.read(|client| async move {
            let stmt = client.prepare_cached(&format!("{STATE_QUERY} AND m.conversation_id = $2")).await?;
            client.query_opt(&stmt, &[&user, &conversation.to_string()]).await?.as_ref().map(state_row).transpose()
        })
        .await
    }

    async fn mark_read(&self, user: UserId, conversation: ConversationId, seq: u64) -> Result<u64> {
        let id = conversation.to_string();
        let id = &id;
        self.write(|mut client| async move {
            // One statement raises the position (never lowers it, clamped to
            // the max seq), so READ COMMITTED is enough.
            let tx = super::begin(&mut client, tokio_postgres::IsolationLevel::ReadCommitted).await?;
            // Stamped with this node's clock (for incremental lists).
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let raised = tx
                .query_opt(
                    "UPDATE conversation_members AS m SET read_seq = LEAST($3, c.max_seq), read_at = $4
                       FROM conversations AS c
                      WHERE c.id = m.conversation_id AND m.user_id = $1 AND m.conversation_id = $2
                        AND LEAST($3, c.max_seq) > m.read_seq
                  RETURNING m.read_seq",
                    &[&user, id, &cursor(seq), &now],
                )
                .await?;
            let read_seq = match raised {
                Some(row) => u64_col(&row, 0)?,
                None => match tx
                    .query_opt(
                        "SELECT read_seq FROM conversation_members WHERE user_id = $1 AND conversation_id = $2",
                        &[&user, id],
                    )
                    .await?
                {
                    Some(row) => u64_col(&row, 0)?,
                    None => {
                        return Err(
                            StoreError::NotFound(format!("user {user} is not in conversation {conversation}")).into()
                        );
                    }
                },
            };
            tx.commit().await?;
            Ok(read_seq)
        })
        .await
    }

    async fn direct_peers(&self, user: UserId) -> Result<Vec<UserId>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT c.id FROM conversation_members AS m
                       JOIN conversations AS c ON c.id = m.conversation_id
                      WHERE m.user_id = $1 AND c.kind = 'direct'",
                )
                .await?;
            let mut peers = Vec::new();
            for row in client.query(&stmt, &[&user]).await? {
                // A note-to-self conversation has no peer but the user.
                if let Some(peer) = conversation_col(&row, 0)?.peer_of(user).filter(|&peer| peer != user) {
                    peers.push(peer);
                }
            }
            peers.sort_unstable();
            peers.dedup();
            Ok(peers)
        })
        .await
    }

    async fn read_position(&self, user: UserId, conversation: ConversationId) -> Result<Option<u64>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached("SELECT read_seq FROM conversation_members WHERE user_id = $1 AND conversation_id = $2")
                .await?;
            client.query_opt(&stmt, &[&user, &conversation.to_string()]).await?.map(|r| u64_col(&r, 0)).transpose()
        })
        .await
    }

    async fn read_positions(&self, conversation: ConversationId) -> Result<Vec<(UserId, u64)>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT user_id, read_seq FROM conversation_members WHERE conversation_id = $1 ORDER BY user_id",
                )
                .await?;
            map_rows(client.query(&stmt, &[&conversation.to_string()]).await?, |r| Ok((r.try_get(0)?, u64_col(r, 1)?)))
        })
        .await
    }

    async fn hide_messages(&self, user: UserId, conversation: ConversationId, seqs: &[u64]) -> Result<u64> {
        let seqs: Vec<i64> = seqs.iter().map(|&s| cursor(s)).collect();
        let seqs = &seqs;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let version = hidden::hide(&tx, user, conversation, seqs).await?;
            tx.commit().await?;
            Ok(version)
        })
        .await
    }

    async fn clear_history(&self, user: UserId, conversation: ConversationId, up_to: u64) -> Result<u64> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let version = hidden::clear(&tx, user, conversation, up_to).await?;
            tx.commit().await?;
            Ok(version)
        })
        .await
    }

    async fn hidden_in(&self, user: UserId, conversation: ConversationId, from: u64, to: u64) -> Result<Hidden> {
        self.read(|mut client| async move {
            let tx = snapshot(&mut client).await?;
            hidden::hidden_in(&tx, user, conversation, from, to).await
        })
        .await
    }

    async fn hidden_changes(&self, user: UserId, since: u64) -> Result<HiddenChanges> {
        self.read(|mut client| async move {
            let tx = snapshot(&mut client).await?;
            hidden::changes(&tx, user, since).await
        })
        .await
    }

    async fn hidden_among(&self, user: UserId, messages: &[(ConversationId, u64)]) -> Result<Vec<bool>> {
        self.read(|client| async move { hidden::hidden_among(&client, user, messages).await }).await
    }

    async fn update_settings(
        &self,
        user: UserId,
        conversation: ConversationId,
        patch: SettingsPatch,
    ) -> Result<ConversationSettings> {
        let patch = &patch;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let settings = hidden::update_settings(&tx, user, conversation, patch).await?;
            tx.commit().await?;
            Ok(settings)
        })
        .await
    }

    async fn settings_changes(&self, user: UserId, since: u64) -> Result<(u64, Vec<ConversationSettings>)> {
        self.read(|mut client| async move {
            let tx = snapshot(&mut client).await?;
            hidden::settings_changes(&tx, user, since).await
        })
        .await
    }
}

/// Maps a row of [`STATE_QUERY`].
fn state_row(row: &Row) -> Try<ConversationState> {
    Ok(ConversationState {
        conversation: conversation_col(row, 0)?,
        max_seq: u64_col(row, 1)?,
        read_seq: u64_col(row, 2)?,
        unread: u64_col(row, 3)?,
        last_time: row.try_get(4)?,
        mentioned: row.try_get(5)?,
        peer_read_seq: u64_col(row, 6)?,
        changed_at: row.try_get(7)?,
    })
}
