//! [`MessageStore`] for PostgreSQL: `messages` keyed by (conversation, seq),
//! the seq counters in `conversations`, and the rows events change
//! (`reactions`, `pins`, `message_mentions`, `file_refs`).
//!
//! The write path: one transaction per batch (the server's writer hands a
//! whole group commit at once), in READ COMMITTED. It first locks the
//! `conversations` rows of the batch's conversations in id order (`SELECT
//! ... FOR UPDATE`): appenders of one conversation on every node take turns
//! there, so seqs are dense and ordered, and the fixed order keeps batches
//! spanning several conversations from deadlocking each other (one that
//! creates a conversation mid-batch can still meet a deadlock, which is
//! retried). Only then does it look for earlier copies of the batch's
//! `(sender, client_msg_id)` keys: an append of the same key by another
//! node, to the same conversation, has committed by then. Rows are written
//! in as few statements as the events allow (messages by `unnest`, the
//! counters in one `UPDATE`); an event is applied after what precedes it
//! in the batch is written, so it can target a message of the same batch.
//! A duplicate key that still slips in (the same client id sent to another
//! conversation at the same moment) makes the insert skip the row; the
//! transaction is then rolled back and run again, and finds the original.
//!
//! Per message on disk: the heap row and three B-tree entries (primary
//! key, `server_msg_id`, the dedup key) plus its search terms in the GIN
//! index (batched by GIN's pending list). Bodies are `bytea`, as stored.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use ferry_core::{ConversationId, UserId};
use tokio_postgres::{IsolationLevel, Row};

use super::{PgStore, Try, begin, conversation_col, cursor, hidden, map_rows, snapshot, u64_col};
use crate::columns::MESSAGE_COLUMNS;
use crate::{
    Appended, Effect, Hidden, MessageSearch, MessageStore, NewMessage, Pin, Reaction, ReactionCount, Result,
    SearchPage, StoreError, StoredMessage,
};

/// Bits of a message row's `flags` column.
pub(super) mod flags {
    /// An event about an earlier message: never unread, not the last
    /// activity.
    pub const EVENT: i16 = 1;
    /// Recalled: no longer unread or a mention.
    pub const RECALLED: i16 = 2;
}

#[async_trait]
impl MessageStore for PgStore {
    async fn append_entries(&self, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let batch = &batch;
        self.write(|mut client| async move {
            let tx = begin(&mut client, IsolationLevel::ReadCommitted).await?;
            let appended = append_batch(&tx, self.search.as_ref(), batch).await?;
            // Only now is the batch durable; the caller replies after this.
            tx.commit().await?;
            Ok(appended)
        })
        .await
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
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2
                      ORDER BY seq LIMIT $3"
                ))
                .await?;
            let rows = client.query(&stmt, &[&conversation.to_string(), &after, &i64::from(limit)]).await?;
            map_rows(rows, message_row)
        })
        .await
    }

    async fn max_seq(&self, conversation: ConversationId) -> Result<u64> {
        self.read(|client| async move {
            let stmt = client.prepare_cached("SELECT max_seq FROM conversations WHERE id = $1").await?;
            let row = client.query_opt(&stmt, &[&conversation.to_string()]).await?;
            Ok(row.map(|r| u64_col(&r, 0)).transpose()?.unwrap_or(0))
        })
        .await
    }

    async fn message_by_client_id(&self, sender: UserId, client_msg_id: &str) -> Result<Option<StoredMessage>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender_id = $1 AND client_msg_id = $2"
                ))
                .await?;
            client.query_opt(&stmt, &[&sender, &client_msg_id]).await?.as_ref().map(message_row).transpose()
        })
        .await
    }

    async fn messages_at(&self, conversation: ConversationId, seqs: &[u64]) -> Result<Vec<StoredMessage>> {
        let seqs: Vec<i64> = seqs.iter().filter_map(|&s| i64::try_from(s).ok()).collect();
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq = ANY($2)
                      ORDER BY seq"
                ))
                .await?;
            map_rows(client.query(&stmt, &[&conversation.to_string(), &seqs]).await?, message_row)
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
        self.read(|client| async move { reaction_counts(&client, conversation, from, to, user).await }).await
    }

    async fn page_extras(
        &self,
        user: UserId,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<(Vec<ReactionCount>, Hidden)> {
        self.read(|mut client| async move {
            let tx = snapshot(&mut client).await?;
            let counts = reaction_counts(&tx, conversation, from, to, user).await?;
            let hidden = hidden::hidden_in(&tx, user, conversation, from, to).await?;
            Ok((counts, hidden))
        })
        .await
    }

    async fn reactions_of(&self, conversation: ConversationId, seq: u64, limit: u32) -> Result<Vec<Reaction>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT emoji, user_id, created_at FROM reactions WHERE conversation_id = $1 AND seq = $2
                      ORDER BY created_at, user_id, emoji LIMIT $3",
                )
                .await?;
            let rows = client.query(&stmt, &[&conversation.to_string(), &cursor(seq), &i64::from(limit)]).await?;
            map_rows(rows, |r| Ok(Reaction { emoji: r.try_get(0)?, user: r.try_get(1)?, created_at: r.try_get(2)? }))
        })
        .await
    }

    async fn pins(&self, conversation: ConversationId) -> Result<Vec<Pin>> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT seq, pinned_by, pinned_at FROM pins WHERE conversation_id = $1
                      ORDER BY pinned_at DESC, seq DESC",
                )
                .await?;
            let rows = client.query(&stmt, &[&conversation.to_string()]).await?;
            map_rows(rows, |r| Ok(Pin { seq: u64_col(r, 0)?, pinned_by: r.try_get(1)?, pinned_at: r.try_get(2)? }))
        })
        .await
    }

    async fn last_messages(&self, conversations: &[ConversationId]) -> Result<Vec<StoredMessage>> {
        let ids: Vec<String> = conversations.iter().map(ToString::to_string).collect();
        self.read(|client| async move {
            // Per conversation, a backward walk of its primary key to the
            // newest row that is not an event.
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT m.* FROM unnest($1::text[]) AS c (id) CROSS JOIN LATERAL (
                         SELECT {MESSAGE_COLUMNS} FROM messages
                          WHERE conversation_id = c.id AND flags & 1 = 0 ORDER BY seq DESC LIMIT 1) AS m"
                ))
                .await?;
            map_rows(client.query(&stmt, &[&ids]).await?, message_row)
        })
        .await
    }

    async fn search_messages(&self, search: MessageSearch) -> Result<SearchPage> {
        super::search::search(self, search).await
    }

    async fn backfill_search(&self, limit: u32) -> Result<bool> {
        super::search::backfill_step(self, limit).await
    }
}

/// Reaction counts per (message, emoji) of `from..=to`; see
/// [`MessageStore::reaction_counts`].
async fn reaction_counts(
    tx: &impl GenericClient,
    conversation: ConversationId,
    from: u64,
    to: u64,
    user: UserId,
) -> Try<Vec<ReactionCount>> {
    let stmt = tx
        .prepare_cached(
            "SELECT seq, emoji, COUNT(*), bool_or(user_id = $4), MIN(created_at) AS first FROM reactions
              WHERE conversation_id = $1 AND seq BETWEEN $2 AND $3
              GROUP BY seq, emoji ORDER BY seq, first, emoji",
        )
        .await?;
    let rows = tx.query(&stmt, &[&conversation.to_string(), &cursor(from), &cursor(to), &user]).await?;
    map_rows(rows, |r| {
        Ok(ReactionCount { seq: u64_col(r, 0)?, emoji: r.try_get(1)?, count: u64_col(r, 2)?, me: r.try_get(3)? })
    })
}

/// A conversation's counter and activity while a batch is built.
struct Counter {
    max_seq: i64,
    /// Whether this batch took a seq of it (the row is then updated).
    used: bool,
    /// Newest `server_time` of a non-event / of any message of the batch.
    last_time: i64,
    changed_at: i64,
}

/// Rows of the batch not written yet: written together before an event
/// (which may target them) and at the end.
#[derive(Default)]
struct Pending {
    conversation: Vec<String>,
    seq: Vec<i64>,
    server_msg_id: Vec<i64>,
    sender: Vec<i64>,
    server_time: Vec<i64>,
    flags: Vec<i16>,
    client_msg_id: Vec<String>,
    body: Vec<Vec<u8>>,
    /// Search terms separated by spaces (see search.rs); `None`: not found.
    search: Vec<Option<String>>,
    /// (conversation, seq, user, sender); user 0 is @all.
    mentions: Vec<(String, i64, UserId, UserId)>,
    /// (file, conversation, seq)
    files: (Vec<String>, Vec<String>, Vec<i64>),
}

impl Pending {
    fn push(&mut self, id: &str, seq: i64, msg: &NewMessage, row_flags: i16, search: Option<String>) {
        self.conversation.push(id.to_owned());
        self.seq.push(seq);
        self.server_msg_id.push(msg.server_msg_id as i64);
        self.sender.push(msg.sender);
        self.server_time.push(msg.server_time);
        self.flags.push(row_flags);
        self.client_msg_id.push(msg.client_msg_id.clone());
        self.body.push(msg.body.clone());
        self.search.push(search);
        for file in &msg.files {
            self.files.0.push(file.clone());
            self.files.1.push(id.to_owned());
            self.files.2.push(seq);
        }
        // Mentions only mark members that exist: a mention of an outsider
        // is a no-op, as is the sender mentioning themselves.
        if msg.effect.is_none() {
            if msg.mention_all {
                self.mentions.push((id.to_owned(), seq, 0, msg.sender));
            } else {
                let mut seen = HashSet::new();
                for &user in msg.mentions.iter().filter(|u| **u != msg.sender && seen.insert(**u)) {
                    self.mentions.push((id.to_owned(), seq, user, msg.sender));
                }
            }
        }
    }

    /// Writes everything pending, in batch order.
    async fn flush(&mut self, tx: &impl GenericClient) -> Try<()> {
        let pending = std::mem::take(self);
        if pending.seq.is_empty() {
            return Ok(());
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO messages
                     (conversation_id, seq, server_msg_id, sender_id, server_time, flags, client_msg_id, body, search)
                 SELECT c, s, i, u, t, f, k, b, array_to_tsvector(string_to_array(x, ' '))
                   FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::int2[],
                               $7::text[], $8::bytea[], $9::text[]) AS q (c, s, i, u, t, f, k, b, x)
                 ON CONFLICT (sender_id, client_msg_id) DO NOTHING",
            )
            .await?;
        let inserted = tx
            .execute(
                &insert,
                &[
                    &pending.conversation,
                    &pending.seq,
                    &pending.server_msg_id,
                    &pending.sender,
                    &pending.server_time,
                    &pending.flags,
                    &pending.client_msg_id,
                    &pending.body,
                    &pending.search,
                ],
            )
            .await?;
        if inserted != pending.seq.len() as u64 {
            // Another transaction stored one of these keys after this one
            // looked: run again, and it is found as the original.
            return Err(super::Failure::Race("a client message id was stored concurrently".into()));
        }
        if !pending.mentions.is_empty() {
            let one = tx
                .prepare_cached(
                    "UPDATE conversation_members SET mention_seq = $3
                      WHERE conversation_id = $1 AND user_id = $2 AND user_id <> $4",
                )
                .await?;
            let all = tx
                .prepare_cached(
                    "UPDATE conversation_members SET mention_seq = $2 WHERE conversation_id = $1 AND user_id <> $3",
                )
                .await?;
            let record = tx
                .prepare_cached(
                    "INSERT INTO message_mentions (conversation_id, seq, user_id, sender_id) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            for (id, seq, user, sender) in &pending.mentions {
                if *user == 0 {
                    tx.execute(&all, &[id, seq, sender]).await?;
                } else {
                    tx.execute(&one, &[id, user, seq, sender]).await?;
                }
                tx.execute(&record, &[id, seq, user, sender]).await?;
            }
        }
        if !pending.files.0.is_empty() {
            // Only files that exist; naming one twice is one reference.
            tx.execute(
                "INSERT INTO file_refs (file_id, conversation_id, seq)
                 SELECT f, c, s FROM unnest($1::text[], $2::text[], $3::bigint[]) AS q (f, c, s)
                  WHERE EXISTS (SELECT 1 FROM files WHERE id = q.f)
                 ON CONFLICT DO NOTHING",
                &[&pending.files.0, &pending.files.1, &pending.files.2],
            )
            .await?;
        }
        Ok(())
    }
}

/// Appends `batch` inside `tx`; see [`MessageStore::append_entries`].
async fn append_batch(
    tx: &impl GenericClient,
    search: Option<&crate::SearchExtractor>,
    batch: &[NewMessage],
) -> Try<Vec<Result<Appended>>> {
    // Lock the counters that exist, in id order.
    let mut ids: Vec<String> = batch.iter().map(|m| m.conversation.to_string()).collect();
    ids.sort_unstable();
    ids.dedup();
    let lock =
        tx.prepare_cached("SELECT id, max_seq FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE").await?;
    let mut counters: HashMap<String, Counter> = HashMap::with_capacity(ids.len());
    for row in tx.query(&lock, &[&ids]).await? {
        let counter = Counter { max_seq: row.try_get(1)?, used: false, last_time: 0, changed_at: 0 };
        counters.insert(row.try_get(0)?, counter);
    }

    // Earlier copies of the batch's keys (after the locks: see above).
    let senders: Vec<i64> = batch.iter().map(|m| m.sender).collect();
    let client_ids: Vec<&str> = batch.iter().map(|m| m.client_msg_id.as_str()).collect();
    let find = tx
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
              WHERE (sender_id, client_msg_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))"
        ))
        .await?;
    let mut stored: HashMap<(UserId, String), StoredMessage> = HashMap::new();
    for row in tx.query(&find, &[&senders, &client_ids]).await? {
        let m = message_row(&row)?;
        stored.insert((m.sender, m.client_msg_id.clone()), m);
    }

    let mut appended: Vec<Result<Appended>> = Vec::with_capacity(batch.len());
    let mut in_batch: HashMap<(UserId, &str), usize> = HashMap::new();
    let mut server_ids: HashSet<u64> = HashSet::with_capacity(batch.len());
    let mut pending = Pending::default();
    for msg in batch {
        if let Some(&first) = in_batch.get(&(msg.sender, msg.client_msg_id.as_str()))
            && let Some(Ok(first)) = appended.get(first)
        {
            appended.push(Ok(Appended { message: first.message.clone(), duplicate: true }));
            continue;
        }
        if let Some(original) = stored.get(&(msg.sender, msg.client_msg_id.clone())) {
            appended.push(Ok(Appended { message: original.clone(), duplicate: true }));
            continue;
        }
        if !server_ids.insert(msg.server_msg_id) {
            return Err(StoreError::Conflict(format!("server_msg_id {} is taken", msg.server_msg_id)).into());
        }
        let id = msg.conversation.to_string();
        if let Some(effect) = &msg.effect {
            // The target may be a message of this batch.
            pending.flush(tx).await?;
            match apply_effect(tx, search, msg, &id, effect).await {
                Ok(()) => {}
                Err(super::Failure::Store(refused @ (StoreError::NotFound(_) | StoreError::Conflict(_)))) => {
                    appended.push(Err(refused));
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        if !counters.contains_key(&id) {
            let max_seq = create_conversation(tx, msg, &id).await?;
            counters.insert(id.clone(), Counter { max_seq, used: false, last_time: 0, changed_at: 0 });
        }
        let Some(counter) = counters.get_mut(&id) else { unreachable!("inserted above") };
        counter.max_seq += 1;
        counter.used = true;
        counter.changed_at = counter.changed_at.max(msg.server_time);
        let row_flags = if msg.effect.is_some() {
            flags::EVENT
        } else {
            // Events do not move the last activity.
            counter.last_time = counter.last_time.max(msg.server_time);
            0
        };
        let seq = counter.max_seq;
        let terms = search
            .filter(|_| row_flags == 0)
            .and_then(|extract| extract(&msg.body))
            .map(|doc| super::search::terms(&doc));
        pending.push(&id, seq, msg, row_flags, terms);
        in_batch.insert((msg.sender, msg.client_msg_id.as_str()), appended.len());
        appended.push(Ok(Appended {
            message: StoredMessage {
                conversation: msg.conversation,
                seq: seq as u64,
                server_msg_id: msg.server_msg_id,
                sender: msg.sender,
                client_msg_id: msg.client_msg_id.clone(),
                server_time: msg.server_time,
                body: msg.body.clone(),
            },
            duplicate: false,
        }));
    }
    pending.flush(tx).await?;

    let (mut cs, mut seqs, mut lasts, mut changes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, counter) in counters.into_iter().filter(|(_, c)| c.used) {
        cs.push(id);
        seqs.push(counter.max_seq);
        lasts.push(counter.last_time);
        changes.push(counter.changed_at);
    }
    if !cs.is_empty() {
        let advance = tx
            .prepare_cached(
                "UPDATE conversations AS c SET max_seq = v.m, last_time = GREATEST(c.last_time, v.l),
                        changed_at = GREATEST(c.changed_at, v.ch)
                   FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v (id, m, l, ch)
                  WHERE c.id = v.id",
            )
            .await?;
        tx.execute(&advance, &[&cs, &seqs, &lasts, &changes]).await?;
    }
    Ok(appended)
}

/// Creates the conversation of `msg` (and for a direct chat its two
/// members) unless another transaction just did, locks its row and
/// returns its counter.
async fn create_conversation(tx: &impl GenericClient, msg: &NewMessage, id: &str) -> Try<i64> {
    let create = tx
        .prepare_cached(
            "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ($1, $2, 0, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .await?;
    let created = tx.execute(&create, &[&id, &msg.conversation.kind(), &msg.server_time]).await?;
    if created > 0
        && let ConversationId::Direct { low, high } = msg.conversation
    {
        // `low == high` is a note-to-self; the second insert is a no-op.
        let join = tx
            .prepare_cached(
                "INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at)
                 VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING",
            )
            .await?;
        for user in [low, high] {
            tx.execute(&join, &[&user, &id, &msg.server_time]).await?;
        }
    }
    let lock = tx.prepare_cached("SELECT max_seq FROM conversations WHERE id = $1 FOR UPDATE").await?;
    Ok(tx.query_one(&lock, &[&id]).await?.try_get(0)?)
}

/// Applies an event's effect to its target inside the append transaction,
/// or refuses it (`NotFound`, `Conflict`) before writing anything.
async fn apply_effect(
    tx: &impl GenericClient,
    search: Option<&crate::SearchExtractor>,
    event: &NewMessage,
    id: &str,
    effect: &Effect,
) -> Try<()> {
    let conversation = event.conversation;
    let target = effect.target();
    let seq = cursor(target);
    let locate = tx.prepare_cached("SELECT flags FROM messages WHERE conversation_id = $1 AND seq = $2").await?;
    let Some(row) = tx.query_opt(&locate, &[&id, &seq]).await? else {
        return Err(StoreError::NotFound(format!("no message {target} in {conversation}")).into());
    };
    let row_flags: i16 = row.try_get(0)?;
    if row_flags & flags::EVENT != 0 {
        return Err(StoreError::NotFound(format!("message {target} in {conversation} is an event")).into());
    }
    if row_flags & flags::RECALLED != 0 {
        return Err(StoreError::Conflict(format!("message {target} in {conversation} is recalled")).into());
    }
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &seq];
    match effect {
        Effect::Revoke { body, .. } => {
            tx.execute(
                "UPDATE messages SET body = $3, flags = flags | 2, search = NULL
                  WHERE conversation_id = $1 AND seq = $2",
                &[&id, &seq, body],
            )
            .await?;
            for table in ["reactions", "pins", "file_refs", "message_mentions"] {
                // Reactions, the pin, file references (whoever could read
                // a file only through it no longer can), and mentions go.
                let sql = format!("DELETE FROM {table} WHERE conversation_id = $1 AND seq = $2");
                tx.execute(&tx.prepare_cached(&sql).await?, &key).await?;
            }
            // Whom the recalled mention marked falls back to their newest
            // other unread mention.
            tx.execute(
                "UPDATE conversation_members AS cm SET mention_seq = COALESCE((
                        SELECT MAX(mm.seq) FROM message_mentions AS mm
                         WHERE mm.conversation_id = cm.conversation_id AND mm.seq > cm.read_seq
                           AND (mm.user_id = cm.user_id OR (mm.user_id = 0 AND mm.sender_id <> cm.user_id))), 0)
                  WHERE conversation_id = $1 AND mention_seq = $2",
                &key,
            )
            .await?;
        }
        Effect::Edit { body, .. } => {
            // Search finds it by its new text.
            let terms = search.and_then(|extract| extract(body)).map(|doc| super::search::terms(&doc));
            tx.execute(
                "UPDATE messages SET body = $3, search = array_to_tsvector(string_to_array($4, ' '))
                  WHERE conversation_id = $1 AND seq = $2",
                &[&id, &seq, body, &terms],
            )
            .await?;
        }
        Effect::React { emoji, add: true, .. } => {
            let added = tx
                .execute(
                    "INSERT INTO reactions (conversation_id, seq, emoji, user_id, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[&id, &seq, emoji, &event.sender, &event.server_time],
                )
                .await?;
            if added == 0 {
                return Err(StoreError::Conflict(format!("already reacted with {emoji}")).into());
            }
        }
        Effect::React { emoji, add: false, .. } => {
            let removed = tx
                .execute(
                    "DELETE FROM reactions WHERE conversation_id = $1 AND seq = $2 AND emoji = $3 AND user_id = $4",
                    &[&id, &seq, emoji, &event.sender],
                )
                .await?;
            if removed == 0 {
                return Err(StoreError::Conflict(format!("no {emoji} reaction of yours to remove")).into());
            }
        }
        Effect::Pin { pin: true, max, .. } => {
            let pins: i64 =
                tx.query_one("SELECT COUNT(*) FROM pins WHERE conversation_id = $1", &[&id]).await?.try_get(0)?;
            if pins >= i64::from(*max) {
                return Err(StoreError::Conflict(format!("at most {max} pinned messages per conversation")).into());
            }
            let added = tx
                .execute(
                    "INSERT INTO pins (conversation_id, seq, pinned_by, pinned_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&id, &seq, &event.sender, &event.server_time],
                )
                .await?;
            if added == 0 {
                return Err(StoreError::Conflict(format!("message {target} is pinned already")).into());
            }
        }
        Effect::Pin { pin: false, .. } => {
            let removed = tx.execute("DELETE FROM pins WHERE conversation_id = $1 AND seq = $2", &key).await?;
            if removed == 0 {
                return Err(StoreError::Conflict(format!("message {target} is not pinned")).into());
            }
        }
    }
    Ok(())
}

/// Maps a row selected with [`MESSAGE_COLUMNS`].
pub(super) fn message_row(row: &Row) -> Try<StoredMessage> {
    Ok(StoredMessage {
        conversation: conversation_col(row, 0)?,
        seq: u64_col(row, 1)?,
        server_msg_id: row.try_get::<_, i64>(2)? as u64,
        sender: row.try_get(3)?,
        client_msg_id: row.try_get(4)?,
        server_time: row.try_get(5)?,
        body: row.try_get(6)?,
    })
}
