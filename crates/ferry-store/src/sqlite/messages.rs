//! [`MessageStore`] for SQLite over the message log (see `log.rs`): appends
//! go to the current log table, reads take the union of `messages` and the
//! logged rows memory knows of.
//!
//! Seq assignment: the writer thread runs one append at a time; within a
//! batch each conversation's counter starts from memory (its newest logged
//! seq) or, for a conversation with nothing logged, from
//! `conversations.max_seq`, and advances in memory per message. Memory
//! learns the batch only after its commit, so a failed transaction leaves
//! nothing to repair.
//!
//! A message naming files (`NewMessage::files`) records a `file_refs` row
//! per existing file in the append's transaction; a recall deletes its
//! target's rows in the same transaction. Messages without files execute
//! no statement for them.
//!
//! Only direct conversations get their members from the append path (when
//! their first message creates the conversation); a group's conversation
//! members are written by the group store.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry as MapEntry},
    sync::Arc,
};

use async_trait::async_trait;
use ferry_core::{ConversationId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    SqliteStore, backend_err, conversation_col, cursor,
    log::{self, Entry, Loc, Logged, MessageLog, flags},
};
use crate::columns::MESSAGE_COLUMNS;
use crate::{
    Appended, Effect, Hidden, MessageSearch, MessageStore, NewMessage, Pin, Reaction, ReactionCount, Result,
    SearchPage, StoreError, StoredMessage,
};

/// Records that message (`?2`, `?3`) references file `?1`, if there is
/// such a file (see [`NewMessage::files`]); naming one twice is one
/// reference.
const REFERENCE_FILE: &str = "INSERT INTO file_refs (file_id, conversation_id, seq)
     SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM files WHERE id = ?1)
     ON CONFLICT DO NOTHING";

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_entries(&self, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write_log(move |conn, log| append_batch(conn, log, batch)).await
    }

    async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>> {
        // Seqs are stored as i64; nothing lies beyond i64::MAX.
        let Ok(after) = i64::try_from(after_seq) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Memory first, then one read transaction: a row memory lists is, in
        // that snapshot, still logged or already merged (see log.rs).
        let logged = self.log.entries_after(conversation, after_seq, limit as usize);
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let mut merged = tx
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
                ))
                .map_err(backend_err)?
                .query_map(params![conversation.to_string(), after, i64::from(limit)], message_row)
                .map_err(backend_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend_err)?;
            for e in &logged {
                if let Some(m) = log::read_logged(&tx, e.loc)? {
                    merged.push(m);
                }
            }
            merged.sort_by_key(|m| m.seq);
            merged.dedup_by_key(|m| m.seq);
            merged.truncate(limit as usize);
            Ok(merged)
        })
        .await
    }

    async fn max_seq(&self, conversation: ConversationId) -> Result<u64> {
        if let Some(seq) = self.log.max_seq(conversation) {
            return Ok(seq);
        }
        self.read(move |conn| merged_max_seq(conn, conversation).map(|m| m.unwrap_or(0))).await
    }

    async fn message_by_client_id(&self, sender: UserId, client_msg_id: &str) -> Result<Option<StoredMessage>> {
        let log = Arc::clone(&self.log);
        let client_msg_id = client_msg_id.to_owned();
        self.read(move |conn| {
            // Memory, then the snapshot (opened by the logged row's read).
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            if let Some(m) = log.find(&tx, sender, &client_msg_id)? {
                return Ok(Some(m));
            }
            tx.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = ?1 AND client_msg_id = ?2"
            ))
            .and_then(|mut stmt| stmt.query_row(params![sender, client_msg_id], message_row).optional())
            .map_err(backend_err)
        })
        .await
    }

    async fn messages_at(&self, conversation: ConversationId, seqs: &[u64]) -> Result<Vec<StoredMessage>> {
        let mut seqs = seqs.to_vec();
        seqs.sort_unstable();
        seqs.dedup();
        // Memory first (as in `messages_after`): a logged row read in the
        // snapshot is still there or merged; the merged ones are read below.
        let logged: Vec<(u64, Loc)> =
            seqs.iter().filter_map(|&seq| self.log.entry(conversation, seq).map(|e| (seq, e.loc))).collect();
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let mut found = Vec::with_capacity(seqs.len());
            // A row merged since memory was read may linger in its sealed
            // table, and a later recall or edit changed only the merged
            // copy: take logged rows only above the snapshot's merged seqs.
            let merged_max = merged_max_seq(&tx, conversation)?.unwrap_or(0);
            for (seq, loc) in &logged {
                if *seq > merged_max
                    && let Some(m) = log::read_logged(&tx, *loc)?
                {
                    found.push(m);
                }
            }
            let mut merged = tx
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq = ?2"
                ))
                .map_err(backend_err)?;
            let id = conversation.to_string();
            for &seq in &seqs {
                if found.iter().any(|m| m.seq == seq) {
                    continue;
                }
                if let Some(m) =
                    merged.query_row(params![id, cursor(seq)], message_row).optional().map_err(backend_err)?
                {
                    found.push(m);
                }
            }
            found.sort_by_key(|m| m.seq);
            found.dedup_by_key(|m| m.seq);
            Ok(found)
        })
        .await
    }

    async fn page_extras(
        &self,
        user: UserId,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<(Vec<ReactionCount>, Hidden)> {
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let counts = reaction_counts(&tx, conversation, from, to, user)?;
            let hidden = super::hidden::hidden_in(&tx, user, conversation, from, to)?;
            Ok((counts, hidden))
        })
        .await
    }

    async fn reaction_counts(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
        user: UserId,
    ) -> Result<Vec<ReactionCount>> {
        self.read(move |conn| reaction_counts(conn, conversation, from, to, user)).await
    }

    async fn reactions_of(&self, conversation: ConversationId, seq: u64, limit: u32) -> Result<Vec<Reaction>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT emoji, user_id, created_at FROM reactions WHERE conversation_id = ?1 AND seq = ?2
                  ORDER BY created_at, user_id, emoji LIMIT ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![conversation.to_string(), cursor(seq), i64::from(limit)], |row| {
                    Ok(Reaction { emoji: row.get(0)?, user: row.get(1)?, created_at: row.get(2)? })
                })?
                .collect()
            })
            .map_err(backend_err)
        })
        .await
    }

    async fn last_messages(&self, conversations: &[ConversationId]) -> Result<Vec<StoredMessage>> {
        let conversations = conversations.to_vec();
        // Memory first, as everywhere: a logged entry read in the snapshot
        // is still there or merged (then `messages` has it too).
        let logged = self.log.last_non_events(&conversations);
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let mut merged = tx
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND flags & 1 = 0
                      ORDER BY seq DESC LIMIT 1"
                ))
                .map_err(backend_err)?;
            let mut found = Vec::with_capacity(conversations.len());
            for c in &conversations {
                // As in `messages_at`: a logged row at or below the
                // snapshot's merged seqs may be stale; `messages` has it.
                let from_log = match logged.get(c) {
                    Some(e) if e.seq > merged_max_seq(&tx, *c)?.unwrap_or(0) => log::read_logged(&tx, e.loc)?,
                    _ => None,
                };
                match from_log {
                    Some(m) => found.push(m),
                    None => {
                        found.extend(merged.query_row([c.to_string()], message_row).optional().map_err(backend_err)?)
                    }
                }
            }
            Ok(found)
        })
        .await
    }

    async fn search_messages(&self, search: MessageSearch) -> Result<SearchPage> {
        super::search::search(self, search).await
    }

    async fn backfill_search(&self, limit: u32) -> Result<bool> {
        self.write_log(move |conn, log| super::search::backfill_step(conn, log, limit)).await
    }

    async fn pins(&self, conversation: ConversationId) -> Result<Vec<Pin>> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT seq, pinned_by, pinned_at FROM pins WHERE conversation_id = ?1 ORDER BY pinned_at DESC, seq DESC",
            )
            .and_then(|mut stmt| {
                stmt.query_map([conversation.to_string()], |row| {
                    Ok(Pin { seq: row.get::<_, i64>(0)? as u64, pinned_by: row.get(1)?, pinned_at: row.get(2)? })
                })?
                .collect()
            })
            .map_err(backend_err)
        })
        .await
    }
}

/// `conversations.max_seq` (the highest merged seq), `None` if the
/// conversation has no row.
pub(super) fn merged_max_seq(conn: &Connection, conversation: ConversationId) -> Result<Option<u64>> {
    conn.prepare_cached("SELECT max_seq FROM conversations WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([conversation.to_string()], |row| row.get::<_, i64>(0)).optional())
        .map(|m| m.map(|seq| seq as u64))
        .map_err(backend_err)
}

/// Reaction counts per (message, emoji) of `from..=to`; see
/// [`MessageStore::reaction_counts`].
fn reaction_counts(
    conn: &Connection,
    conversation: ConversationId,
    from: u64,
    to: u64,
    user: UserId,
) -> Result<Vec<ReactionCount>> {
    conn.prepare_cached(
        "SELECT seq, emoji, COUNT(*), MAX(user_id = ?4), MIN(created_at) AS first FROM reactions
          WHERE conversation_id = ?1 AND seq BETWEEN ?2 AND ?3
          GROUP BY seq, emoji ORDER BY seq, first, emoji",
    )
    .and_then(|mut stmt| {
        stmt.query_map(params![conversation.to_string(), cursor(from), cursor(to), user], |row| {
            Ok(ReactionCount {
                seq: row.get::<_, i64>(0)? as u64,
                emoji: row.get(1)?,
                count: row.get::<_, i64>(2)? as u64,
                me: row.get(3)?,
            })
        })?
        .collect()
    })
    .map_err(backend_err)
}

/// A conversation's counter while a batch is built.
struct Cursor {
    id: String,
    max_seq: u64,
}

/// Where a message row is, for an event changing it.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// In a log table (logged earlier or by this batch).
    Logged(Loc),
    /// In `messages`.
    Merged,
}

/// The messages a batch's events changed, with their new flags.
type Touched = HashMap<(ConversationId, u64), (Place, u8)>;

/// One entry of [`Touched`].
type Change = ((ConversationId, u64), (Place, u8));

/// Appends `batch` to the current log table in one IMMEDIATE transaction;
/// see [`MessageStore::append_entries`] for the contract.
fn append_batch(conn: &mut Connection, log: &MessageLog, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>> {
    let table = log.current();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
    let mut appended: Vec<Result<Appended>> = Vec::with_capacity(batch.len());
    let mut logged = Vec::with_capacity(batch.len());
    let mut touched: Touched = HashMap::new();
    {
        let mut find_merged = tx
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = ?1 AND client_msg_id = ?2"
            ))
            .map_err(backend_err)?;
        let mut create = tx
            .prepare_cached("INSERT INTO conversations (id, kind, max_seq, last_time) VALUES (?1, ?2, 0, ?3)")
            .map_err(backend_err)?;
        let mut insert = tx
            .prepare_cached(&format!(
                "INSERT INTO {} (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body, flags)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                table.name()
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
        let mut record_mention = tx
            .prepare_cached(
                "INSERT INTO message_mentions (conversation_id, seq, user_id, sender_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )
            .map_err(backend_err)?;
        // Prepared on first use: a batch without files pays nothing for them.
        let mut reference: Option<rusqlite::CachedStatement<'_>> = None;
        let mut cursors: HashMap<ConversationId, Cursor> = HashMap::new();
        // (sender, client id hash) → this batch's messages with that key.
        let mut in_batch: HashMap<(UserId, u64), Vec<usize>> = HashMap::new();
        let mut server_ids: HashSet<u64> = HashSet::with_capacity(batch.len());

        for msg in batch {
            let key = (msg.sender, log.cmid_hash(&msg.client_msg_id));
            let earlier = in_batch.get(&key).and_then(|found| {
                found
                    .iter()
                    .filter_map(|&i| appended[i].as_ref().ok())
                    .find(|a| a.message.client_msg_id == msg.client_msg_id)
            });
            if let Some(first) = earlier {
                appended.push(Ok(Appended { message: first.message.clone(), duplicate: true }));
                continue;
            }
            let original = match log.find_duplicate(&tx, msg.sender, &msg.client_msg_id)? {
                Some(m) => Some(m),
                None => find_merged
                    .query_row(params![msg.sender, msg.client_msg_id], message_row)
                    .optional()
                    .map_err(backend_err)?,
            };
            if let Some(message) = original {
                appended.push(Ok(Appended { message, duplicate: true }));
                continue;
            }
            if !server_ids.insert(msg.server_msg_id) || log.server_id_taken(&tx, msg.server_msg_id)? {
                return Err(StoreError::Conflict(format!("server_msg_id {} is taken", msg.server_msg_id)));
            }
            if let Some(effect) = &msg.effect {
                // In a savepoint: a refusal undoes whatever the effect wrote.
                tx.execute_batch("SAVEPOINT effect").map_err(backend_err)?;
                match apply_effect(&tx, log, &logged, &touched, &msg, effect) {
                    Ok(changed) => {
                        tx.execute_batch("RELEASE effect").map_err(backend_err)?;
                        touched.extend(changed);
                    }
                    Err(refused @ (StoreError::NotFound(_) | StoreError::Conflict(_))) => {
                        tx.execute_batch("ROLLBACK TO effect; RELEASE effect").map_err(backend_err)?;
                        appended.push(Err(refused));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }

            let cursor = match cursors.entry(msg.conversation) {
                MapEntry::Occupied(e) => e.into_mut(),
                MapEntry::Vacant(v) => {
                    let id = msg.conversation.to_string();
                    let max_seq = match log.shared.max_seq(msg.conversation) {
                        Some(seq) => seq,
                        None => match merged_max_seq(&tx, msg.conversation)? {
                            Some(seq) => seq,
                            None => {
                                // The conversation's first message creates it
                                // (and, for a direct chat, its two members).
                                create
                                    .execute(params![id, msg.conversation.kind(), msg.server_time])
                                    .map_err(backend_err)?;
                                if let ConversationId::Direct { low, high } = msg.conversation {
                                    // `low == high` is a note-to-self; the second insert is a no-op.
                                    for user in [low, high] {
                                        join.execute(params![user, id, msg.server_time]).map_err(backend_err)?;
                                    }
                                }
                                0
                            }
                        },
                    };
                    v.insert(Cursor { id, max_seq })
                }
            };
            cursor.max_seq += 1;
            let seq = cursor.max_seq;
            let row_flags = if msg.effect.is_some() { flags::EVENT } else { 0 };
            insert
                .execute(params![
                    cursor.id,
                    seq as i64,
                    msg.server_msg_id as i64,
                    msg.sender,
                    msg.client_msg_id,
                    msg.server_time,
                    msg.body,
                    row_flags,
                ])
                .map_err(backend_err)?;
            let rowid = tx.last_insert_rowid();
            let loc = Loc { table, rowid };
            if !msg.files.is_empty() {
                let reference = match &mut reference {
                    Some(stmt) => stmt,
                    None => reference.insert(tx.prepare_cached(REFERENCE_FILE).map_err(backend_err)?),
                };
                for file in &msg.files {
                    reference.execute(params![file, cursor.id, seq as i64]).map_err(backend_err)?;
                }
            }
            if msg.effect.is_none() {
                if msg.mention_all {
                    mention_all.execute(params![cursor.id, seq as i64, msg.sender]).map_err(backend_err)?;
                    record_mention.execute(params![cursor.id, seq as i64, 0, msg.sender]).map_err(backend_err)?;
                } else {
                    for &user in msg.mentions.iter().filter(|u| **u != msg.sender) {
                        mention.execute(params![cursor.id, user, seq as i64, msg.sender]).map_err(backend_err)?;
                        record_mention
                            .execute(params![cursor.id, seq as i64, user, msg.sender])
                            .map_err(backend_err)?;
                    }
                }
            }

            logged.push(Logged {
                conversation: msg.conversation,
                entry: Entry { seq, loc, sender: msg.sender, time: msg.server_time, flags: row_flags },
                client_msg_id_hash: key.1,
                server_msg_id: msg.server_msg_id,
            });
            in_batch.entry(key).or_default().push(appended.len());
            appended.push(Ok(Appended {
                message: StoredMessage {
                    conversation: msg.conversation,
                    seq,
                    server_msg_id: msg.server_msg_id,
                    sender: msg.sender,
                    client_msg_id: msg.client_msg_id,
                    server_time: msg.server_time,
                    body: msg.body,
                },
                duplicate: false,
            }));
        }
    }
    // Only now is the batch durable (per the `synchronous` setting); the
    // caller replies after this returns.
    tx.commit().map_err(backend_err)?;
    // Logged messages whose flags an event changed (memory counts unread
    // from them); this batch's own rows are indexed with their final flags.
    let mut flagged = Vec::new();
    for ((conversation, seq), (place, row_flags)) in touched {
        if let Place::Logged(_) = place {
            match logged.iter_mut().find(|l| l.conversation == conversation && l.entry.seq == seq) {
                Some(l) => l.entry.flags = row_flags,
                None => flagged.push((conversation, seq, row_flags)),
            }
        }
    }
    log.committed(conn, logged, flagged);
    Ok(appended)
}

/// Applies an event's effect to its target inside the append transaction
/// (in a savepoint the caller rolls back on a refusal), or refuses it
/// (`NotFound`, `Conflict`). Returns the target's new place and flags when
/// they changed.
fn apply_effect(
    tx: &Connection,
    log: &MessageLog,
    logged: &[Logged],
    touched: &Touched,
    event: &NewMessage,
    effect: &Effect,
) -> Result<Option<Change>> {
    let conversation = event.conversation;
    let target = effect.target();
    let id = conversation.to_string();
    let Some((place, row_flags)) = locate(tx, log, logged, touched, conversation, target)? else {
        return Err(StoreError::NotFound(format!("no message {target} in {conversation}")));
    };
    if row_flags & flags::EVENT != 0 {
        return Err(StoreError::NotFound(format!("message {target} in {conversation} is an event")));
    }
    let recalled = row_flags & flags::RECALLED != 0;
    if recalled {
        return Err(StoreError::Conflict(format!("message {target} in {conversation} is recalled")));
    }
    let key = params![id, cursor(target)];
    let mut changed = None;
    match effect {
        Effect::Revoke { body, .. } => {
            let row_flags = row_flags | flags::RECALLED;
            rewrite(tx, log, place, conversation, target, body, row_flags)?;
            changed = Some(((conversation, target), (place, row_flags)));
            tx.prepare_cached("DELETE FROM reactions WHERE conversation_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(key))
                .map_err(backend_err)?;
            tx.prepare_cached("DELETE FROM pins WHERE conversation_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(key))
                .map_err(backend_err)?;
            // Whoever could read a file only through this message no
            // longer can.
            tx.prepare_cached("DELETE FROM file_refs WHERE conversation_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(key))
                .map_err(backend_err)?;
            // A recalled mention no longer marks anyone mentioned; whom it
            // marked falls back to their newest other unread mention.
            tx.prepare_cached("DELETE FROM message_mentions WHERE conversation_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(key))
                .map_err(backend_err)?;
            tx.prepare_cached(
                "UPDATE conversation_members AS cm SET mention_seq = COALESCE((
                        SELECT MAX(mm.seq) FROM message_mentions AS mm
                         WHERE mm.conversation_id = cm.conversation_id AND mm.seq > cm.read_seq
                           AND (mm.user_id = cm.user_id OR (mm.user_id = 0 AND mm.sender_id <> cm.user_id))), 0)
                  WHERE conversation_id = ?1 AND mention_seq = ?2",
            )
            .and_then(|mut s| s.execute(key))
            .map_err(backend_err)?;
        }
        Effect::Edit { body, .. } => rewrite(tx, log, place, conversation, target, body, row_flags)?,
        Effect::React { emoji, add: true, .. } => {
            let added = tx
                .prepare_cached(
                    "INSERT INTO reactions (conversation_id, seq, emoji, user_id, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![id, cursor(target), emoji, event.sender, event.server_time]))
                .map_err(backend_err)?;
            if added == 0 {
                return Err(StoreError::Conflict(format!("already reacted with {emoji}")));
            }
        }
        Effect::React { emoji, add: false, .. } => {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM reactions WHERE conversation_id = ?1 AND seq = ?2 AND emoji = ?3 AND user_id = ?4",
                )
                .and_then(|mut s| s.execute(params![id, cursor(target), emoji, event.sender]))
                .map_err(backend_err)?;
            if removed == 0 {
                return Err(StoreError::Conflict(format!("no {emoji} reaction of yours to remove")));
            }
        }
        Effect::Pin { pin: true, max, .. } => {
            let pins: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM pins WHERE conversation_id = ?1")
                .and_then(|mut s| s.query_row([&id], |r| r.get(0)))
                .map_err(backend_err)?;
            if pins >= i64::from(*max) {
                return Err(StoreError::Conflict(format!("at most {max} pinned messages per conversation")));
            }
            let added = tx
                .prepare_cached(
                    "INSERT INTO pins (conversation_id, seq, pinned_by, pinned_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![id, cursor(target), event.sender, event.server_time]))
                .map_err(backend_err)?;
            if added == 0 {
                return Err(StoreError::Conflict(format!("message {target} is pinned already")));
            }
        }
        Effect::Pin { pin: false, .. } => {
            let removed = tx
                .prepare_cached("DELETE FROM pins WHERE conversation_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(key))
                .map_err(backend_err)?;
            if removed == 0 {
                return Err(StoreError::Conflict(format!("message {target} is not pinned")));
            }
        }
    }
    Ok(changed)
}

/// Where message `seq` of `conversation` is and its flags, `None` if it
/// does not exist: what this batch changed or appended (memory learns it
/// only after the commit), then memory, then `messages`.
fn locate(
    tx: &Connection,
    log: &MessageLog,
    logged: &[Logged],
    touched: &Touched,
    conversation: ConversationId,
    seq: u64,
) -> Result<Option<(Place, u8)>> {
    if let Some(found) = touched.get(&(conversation, seq)) {
        return Ok(Some(*found));
    }
    if let Some(l) = logged.iter().rev().find(|l| l.conversation == conversation && l.entry.seq == seq) {
        return Ok(Some((Place::Logged(l.entry.loc), l.entry.flags)));
    }
    if let Some(e) = log.shared.entry(conversation, seq) {
        return Ok(Some((Place::Logged(e.loc), e.flags)));
    }
    tx.prepare_cached("SELECT flags FROM messages WHERE conversation_id = ?1 AND seq = ?2")
        .and_then(|mut s| s.query_row(params![conversation.to_string(), cursor(seq)], |r| r.get(0)).optional())
        .map(|f| f.map(|f| (Place::Merged, f)))
        .map_err(backend_err)
}

/// Replaces a message row's body and flags where it is; a merged message
/// is re-indexed for search in the same transaction (found by its new body,
/// or by nothing once recalled). A logged one is indexed from its final
/// body when it is merged.
fn rewrite(
    tx: &Connection,
    log: &MessageLog,
    place: Place,
    conversation: ConversationId,
    seq: u64,
    body: &[u8],
    row_flags: u8,
) -> Result<()> {
    match place {
        Place::Logged(loc) => tx
            .prepare_cached(&format!("UPDATE {} SET body = ?2, flags = ?3 WHERE id = ?1", loc.table.name()))
            .and_then(|mut s| s.execute(params![loc.rowid, body, row_flags]))
            .map(|_| ())
            .map_err(backend_err),
        Place::Merged => {
            let key = params![conversation.to_string(), cursor(seq)];
            let (server_msg_id, old_body, old_flags): (i64, Vec<u8>, u8) = tx
                .prepare_cached(
                    "SELECT server_msg_id, body, flags FROM messages WHERE conversation_id = ?1 AND seq = ?2",
                )
                .and_then(|mut s| s.query_row(key, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
                .map_err(backend_err)?;
            tx.prepare_cached("UPDATE messages SET body = ?3, flags = ?4 WHERE conversation_id = ?1 AND seq = ?2")
                .and_then(|mut s| s.execute(params![conversation.to_string(), cursor(seq), body, row_flags]))
                .map_err(backend_err)?;
            if let Some(old) = log.indexed_doc(server_msg_id, &old_body, old_flags) {
                super::search::unindex(tx, server_msg_id, conversation, &old)?;
            }
            if let Some(new) = log.indexed_doc(server_msg_id, body, row_flags) {
                super::search::index(tx, server_msg_id, conversation, &new)?;
            }
            Ok(())
        }
    }
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
        body: row.get(6)?,
    })
}
