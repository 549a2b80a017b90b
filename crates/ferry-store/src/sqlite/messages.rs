//! [`MessageStore`] for SQLite: the `messages` log and the seq counter in
//! `conversations.max_seq`.
//!
//! Seq assignment keeps no state between batches: the writer thread runs one
//! append at a time, and within a batch each conversation's counter is read
//! once, advanced in memory per message and written back once, all in the
//! same transaction as the inserts. If the transaction fails, the counter
//! rolls back with it, so there is no cache to repair.
//!
//! Only direct conversations get their members from the append path; a
//! group's conversation members are written by the group store.

use std::collections::{HashMap, HashSet, hash_map::Entry};

use async_trait::async_trait;
use ferry_core::ConversationId;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, backend_err, conversation_col};
use crate::{Appended, MessageStore, NewMessage, Result, StoredMessage};

/// Columns read by [`message_row`], in order.
const MESSAGE_COLUMNS: &str = "conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, kind, body";

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_messages(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |conn| append_batch(conn, batch)).await
    }

    async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        // Seqs are stored as i64; nothing lies beyond i64::MAX.
        let Ok(after_seq) = i64::try_from(after_seq) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
                ))
                .map_err(backend_err)?;
            let rows = stmt
                .query_map(params![conversation.to_string(), after_seq, i64::from(limit)], message_row)
                .map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn max_seq(&self, conversation: ConversationId) -> Result<u64> {
        self.read(move |conn| {
            let max: Option<i64> = conn
                .prepare_cached("SELECT max_seq FROM conversations WHERE id = ?1")
                .and_then(|mut stmt| stmt.query_row([conversation.to_string()], |row| row.get(0)).optional())
                .map_err(backend_err)?;
            Ok(max.map_or(0, |seq| seq as u64))
        })
        .await
    }
}

/// Appends `batch` in one IMMEDIATE transaction; see
/// [`MessageStore::append_messages`] for the contract. Seqs are assigned in
/// memory: each conversation's counter is read once per batch and written
/// back once, so the common case costs one `INSERT` per message.
/// Deduplication rides on the unique (sender, client_msg_id) index: an insert
/// that hits it writes nothing, and the original is read back.
fn append_batch(conn: &mut Connection, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
    let mut appended = Vec::with_capacity(batch.len());
    {
        let mut find = tx
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = ?1 AND client_msg_id = ?2"
            ))
            .map_err(backend_err)?;
        let mut current = tx.prepare_cached("SELECT max_seq FROM conversations WHERE id = ?1").map_err(backend_err)?;
        let mut create = tx
            .prepare_cached("INSERT INTO conversations (id, kind, max_seq, last_time) VALUES (?1, ?2, 0, ?3)")
            .map_err(backend_err)?;
        let mut advance = tx
            .prepare_cached("UPDATE conversations SET max_seq = ?2, last_time = ?3 WHERE id = ?1")
            .map_err(backend_err)?;
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (sender_id, client_msg_id) DO NOTHING"
            ))
            .map_err(backend_err)?;
        let mut join = tx
            .prepare_cached(
                "INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at)
                 VALUES (?1, ?2, 0, ?3) ON CONFLICT DO NOTHING",
            )
            .map_err(backend_err)?;
        // Mentions only mark members that exist: a mention of an outsider
        // is a no-op, as is the sender mentioning themselves.
        let mut mention = tx
            .prepare_cached(
                "UPDATE conversation_members SET mention_seq = ?3
                  WHERE conversation_id = ?1 AND user_id = ?2 AND user_id <> ?4",
            )
            .map_err(backend_err)?;
        let mut mention_all = tx
            .prepare_cached(
                "UPDATE conversation_members SET mention_seq = ?2 WHERE conversation_id = ?1 AND user_id <> ?3",
            )
            .map_err(backend_err)?;
        // Per conversation touched by this batch: (id, max seq, last time, changed).
        let mut seqs: HashMap<ConversationId, (String, i64, i64, bool)> = HashMap::new();
        // Direct conversations whose members this batch already ensured.
        let mut joined: HashSet<ConversationId> = HashSet::new();

        for msg in batch {
            let entry = match seqs.entry(msg.conversation) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => {
                    let id = msg.conversation.to_string();
                    let max: Option<i64> =
                        current.query_row(params![id], |row| row.get(0)).optional().map_err(backend_err)?;
                    let max = match max {
                        Some(m) => m,
                        None => {
                            create
                                .execute(params![id, msg.conversation.kind(), msg.server_time])
                                .map_err(backend_err)?;
                            0
                        }
                    };
                    v.insert((id, max, 0, false))
                }
            };
            let seq = entry.1 + 1;
            let inserted = insert
                .execute(params![
                    entry.0,
                    seq,
                    msg.server_msg_id as i64,
                    msg.sender,
                    msg.client_msg_id,
                    msg.server_time,
                    msg.kind,
                    msg.body,
                ])
                .map_err(backend_err)?;
            if inserted == 0 {
                let original =
                    find.query_row(params![msg.sender, msg.client_msg_id], message_row).map_err(backend_err)?;
                appended.push(Appended { message: original, duplicate: true });
                continue;
            }
            *entry = (std::mem::take(&mut entry.0), seq, msg.server_time, true);
            let conversation = &entry.0;
            if let ConversationId::Direct { low, high } = msg.conversation
                && joined.insert(msg.conversation)
            {
                // `low == high` is a note-to-self; the second insert is a no-op.
                for user in [low, high] {
                    join.execute(params![user, conversation, msg.server_time]).map_err(backend_err)?;
                }
            }

            if msg.mention_all {
                mention_all.execute(params![conversation, seq, msg.sender]).map_err(backend_err)?;
            } else {
                for &user in &msg.mentions {
                    mention.execute(params![conversation, user, seq, msg.sender]).map_err(backend_err)?;
                }
            }

            appended.push(Appended {
                message: StoredMessage {
                    conversation: msg.conversation,
                    seq: seq as u64,
                    server_msg_id: msg.server_msg_id,
                    sender: msg.sender,
                    client_msg_id: msg.client_msg_id,
                    server_time: msg.server_time,
                    kind: msg.kind,
                    body: msg.body,
                },
                duplicate: false,
            });
        }
        for (id, max_seq, last_time, changed) in seqs.values() {
            if *changed {
                advance.execute(params![id, max_seq, last_time]).map_err(backend_err)?;
            }
        }
    }
    // Only now is the batch durable (per the `synchronous` setting); the
    // caller replies after this returns.
    tx.commit().map_err(backend_err)?;
    Ok(appended)
}

/// Maps a row selected with [`MESSAGE_COLUMNS`].
fn message_row(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        conversation: conversation_col(row, 0)?,
        seq: row.get::<_, i64>(1)? as u64,
        server_msg_id: row.get::<_, i64>(2)? as u64,
        sender: row.get(3)?,
        client_msg_id: row.get(4)?,
        server_time: row.get(5)?,
        kind: row.get(6)?,
        body: row.get(7)?,
    })
}
