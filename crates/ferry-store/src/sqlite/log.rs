//! The message log: how new messages reach the disk cheaply.
//!
//! The clustered `messages` table (keyed by conversation and seq) is what
//! sync reads want, but writing each message straight into it dirties one
//! B-tree page per conversation per commit — plus one per random
//! `(sender, client_msg_id)` dedup key and one per `conversations` counter —
//! so with a thousand active conversations every 100-byte message cost tens
//! of kilobytes of WAL and checkpoint writes.
//!
//! Instead, a commit appends its messages to a *log table* in arrival order
//! (rowid = arrival): consecutive rows, a few pages per batch, no secondary
//! index. What the indexes would answer — each conversation's latest seqs,
//! deduplication of `(sender, client_msg_id)`, server id uniqueness — is
//! answered from memory ([`Hot`]) for logged messages and from the
//! `messages` table for the rest. There are two log tables, `a` and `b`:
//! appends go to the *current* one; when it holds `hot_log_rows` rows it is
//! sealed, appends switch to the other, and the sealed one is *merged* into
//! `messages` a chunk at a time, conversation by conversation in key order,
//! so each conversation's page is written once per merge with all its new
//! messages, not once per message. A fully merged table is emptied in one
//! statement and becomes the next current table.
//!
//! Invariants: per conversation, `messages` holds exactly seqs
//! `1..=conversations.max_seq` and the log holds the seqs after it (a merged
//! row may linger in its sealed table until the table is emptied; readers
//! take the union and drop duplicates by seq). The older table is always
//! merged first. All of it lives in the one SQLite file and changes only
//! inside the writer's transactions, so a crash leaves a consistent state,
//! and [`Hot::load`] rebuilds the memory side from the log tables at start.
//!
//! The merge runs on the writer thread between appends (see
//! [`MessageLog::merge_step`]), in chunks bounded by [`MERGE_CHUNK`] rows so
//! no commit waits long behind it.

use std::{
    collections::{HashMap, VecDeque},
    hash::BuildHasher,
    sync::{Arc, RwLock},
};

use ferry_core::{ConversationId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use super::{backend_err, conversation_col};
use crate::{Result, StoredMessage};

/// Rows moved from a sealed log table into `messages` per merge
/// transaction (a chunk always finishes the conversation it started).
pub(super) const MERGE_CHUNK: usize = 4096;

/// Columns of a log row read by [`log_row`], in order.
pub(super) const LOG_COLUMNS: &str =
    "id, conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body, flags";

/// Bits of a message row's `flags` column.
pub(super) mod flags {
    /// An event about an earlier message: never unread, not the last
    /// activity.
    pub const EVENT: u8 = 1;
    /// Recalled: no longer unread or a mention.
    pub const RECALLED: u8 = 2;
    /// Whether a message with these flags counts as unread.
    pub fn counts(flags: u8) -> bool {
        flags == 0
    }
}

/// One of the two log tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(super) enum Table {
    #[default]
    A,
    B,
}

impl Table {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::A => "message_log_a",
            Self::B => "message_log_b",
        }
    }

    fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }

    fn meta_value(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
        }
    }
}

/// Where a logged message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loc {
    pub table: Table,
    pub rowid: i64,
}

/// What memory keeps per logged message: enough to answer seq, unread and
/// last-activity questions without reading the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub seq: u64,
    pub loc: Loc,
    pub sender: UserId,
    pub time: i64,
    /// The row's [`flags`].
    pub flags: u8,
}

/// The memory side of the log: every logged (not yet merged) message.
///
/// Every message passes its maps, so they hash with foldhash rather than
/// SipHash (~1% of the server's CPU when sending): their keys are made by
/// the server (ids, and client ids only through the keyed `cmid_hash`),
/// so a client cannot choose colliding keys.
#[derive(Debug, Default)]
pub(super) struct Hot {
    /// Per conversation, its logged messages in seq order.
    convs: foldhash::HashMap<ConversationId, VecDeque<Entry>>,
    /// `(sender, hash of client_msg_id)` → where the message is. A second
    /// message with the same key (a hash collision) goes to `collisions`.
    dedup: foldhash::HashMap<(UserId, u64), Loc>,
    collisions: Vec<((UserId, u64), Loc)>,
    /// Server ids of logged messages (uniqueness is checked here and, for
    /// ids not above `max_merged_server_id`, in `messages`).
    server_ids: foldhash::HashSet<u64>,
    max_merged_server_id: u64,
    /// Rows per table.
    rows: [usize; 2],
    /// The table appends go to.
    current: Table,
    /// The table being merged, if any.
    sealed: Option<Table>,
    /// Conversations (in `messages` key order) and their entries still to
    /// merge from the sealed table.
    plan: VecDeque<ConversationId>,
}

/// The in-memory index, shared by the writer (which changes it after each
/// commit) and readers (which read it before their database snapshot).
#[derive(Debug, Default)]
pub(super) struct Shared {
    hot: RwLock<Hot>,
    hasher: std::collections::hash_map::RandomState,
}

/// A hash of a client message id, keyed per process.
fn cmid_hash(shared: &Shared, client_msg_id: &str) -> u64 {
    shared.hasher.hash_one(client_msg_id)
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Hot> {
        // A panic while holding the lock leaves the index as the last
        // completed update wrote it; readers may go on.
        self.hot.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Hot> {
        self.hot.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logged messages of `conversation` with seq > `after`, at most `limit`.
    pub(super) fn entries_after(&self, conversation: ConversationId, after: u64, limit: usize) -> Vec<Entry> {
        let hot = self.read();
        let Some(entries) = hot.convs.get(&conversation) else { return Vec::new() };
        let start = entries.partition_point(|e| e.seq <= after);
        entries.iter().skip(start).take(limit).copied().collect()
    }

    /// The logged message `seq` of `conversation`, if it is logged.
    pub(super) fn entry(&self, conversation: ConversationId, seq: u64) -> Option<Entry> {
        let hot = self.read();
        let entries = hot.convs.get(&conversation)?;
        let i = entries.partition_point(|e| e.seq < seq);
        entries.get(i).filter(|e| e.seq == seq).copied()
    }

    /// The newest logged entry of each of `conversations` that is not an
    /// event, where one is logged.
    pub(super) fn last_non_events(&self, conversations: &[ConversationId]) -> HashMap<ConversationId, Entry> {
        let hot = self.read();
        conversations
            .iter()
            .filter_map(|c| {
                let e = hot.convs.get(c)?.iter().rev().find(|e| e.flags & flags::EVENT == 0)?;
                Some((*c, *e))
            })
            .collect()
    }

    /// The highest logged seq of `conversation`, if it has logged messages.
    pub(super) fn max_seq(&self, conversation: ConversationId) -> Option<u64> {
        self.read().convs.get(&conversation).and_then(|e| e.back()).map(|e| e.seq)
    }

    /// Logged entries of several conversations (for the conversation list).
    pub(super) fn entries_of(&self, conversations: &[ConversationId]) -> HashMap<ConversationId, Vec<Entry>> {
        let hot = self.read();
        conversations.iter().filter_map(|c| hot.convs.get(c).map(|e| (*c, e.iter().copied().collect()))).collect()
    }

    /// The logged message `(sender, client_msg_id)`, if any.
    pub(super) fn find(&self, conn: &Connection, sender: UserId, client_msg_id: &str) -> Result<Option<StoredMessage>> {
        let key = (sender, cmid_hash(self, client_msg_id));

        let candidates: Vec<Loc> = {
            let hot = self.read();
            hot.dedup
                .get(&key)
                .into_iter()
                .chain(hot.collisions.iter().filter(|(k, _)| *k == key).map(|(_, l)| l))
                .copied()
                .collect()
        };
        for loc in candidates {
            if let Some(m) = read_logged(conn, loc)?
                && m.sender == sender
                && m.client_msg_id == client_msg_id
            {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    /// Rows currently in the log tables (for tests and metrics).
    pub(super) fn logged_rows(&self) -> usize {
        let hot = self.read();
        hot.rows[0] + hot.rows[1]
    }
}

/// A message appended by the current batch, for the memory update after
/// its commit.
pub(super) struct Logged {
    pub conversation: ConversationId,
    pub entry: Entry,
    pub client_msg_id_hash: u64,
    pub server_msg_id: u64,
}

/// The writer's handle on the log.
pub(super) struct MessageLog {
    pub shared: Arc<Shared>,
    /// Rows a log table takes before it is sealed.
    capacity: usize,
    /// How the merge reads a body for the search index (`None`: nothing
    /// is indexed).
    search: Option<crate::SearchExtractor>,
    /// Merged messages the search backfill has yet to index: server ids in
    /// `(done_to, upto]` (see `search::backfill_step`). The merge and edits
    /// leave those to it, so every message is indexed exactly once.
    backfill: BackfillWindow,
}

/// The `search_backfill` row, kept in memory by the writer.
#[derive(Debug, Default)]
pub(super) struct BackfillWindow {
    pub done_to: std::sync::atomic::AtomicI64,
    pub upto: std::sync::atomic::AtomicI64,
}

impl MessageLog {
    /// Rebuilds memory from the log tables (at open, on the writer
    /// connection, after migrations).
    pub(super) fn load(conn: &Connection, capacity: usize, search: Option<crate::SearchExtractor>) -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let current: String = conn
            .query_row("SELECT current FROM message_log_meta WHERE id = 1", [], |r| r.get(0))
            .map_err(backend_err)?;
        let current = if current == "b" { Table::B } else { Table::A };
        let max_merged: Option<i64> =
            conn.query_row("SELECT MAX(server_msg_id) FROM messages", [], |r| r.get(0)).map_err(backend_err)?;
        {
            let mut hot = shared.write();
            hot.current = current;
            hot.max_merged_server_id = max_merged.unwrap_or(0) as u64;
            // Rows a merge already copied into `messages` linger in their
            // table until it is emptied; they are merged, not logged.
            let mut merged: HashMap<ConversationId, u64> = HashMap::new();
            let mut merged_max = |conversation: ConversationId| -> Result<u64> {
                if let Some(max) = merged.get(&conversation) {
                    return Ok(*max);
                }
                let max = super::messages::merged_max_seq(conn, conversation)?.unwrap_or(0);
                merged.insert(conversation, max);
                Ok(max)
            };
            // The older (sealed) table first, so entries stay in seq order.
            for table in [current.other(), current] {
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT id, conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, flags
                           FROM {} ORDER BY id",
                        table.name()
                    ))
                    .map_err(backend_err)?;
                let mut rows = stmt.query([]).map_err(backend_err)?;
                while let Some(row) = rows.next().map_err(backend_err)? {
                    let conversation = conversation_col(row, 1).map_err(backend_err)?;
                    let seq = row.get::<_, i64>(2).map_err(backend_err)? as u64;
                    if seq <= merged_max(conversation)? {
                        hot.rows[table.index()] += 1;
                        continue;
                    }
                    let cmid: String = row.get(5).map_err(backend_err)?;
                    let logged = Logged {
                        conversation,
                        entry: Entry {
                            seq,
                            loc: Loc { table, rowid: row.get(0).map_err(backend_err)? },
                            sender: row.get(4).map_err(backend_err)?,
                            time: row.get(6).map_err(backend_err)?,
                            flags: row.get(7).map_err(backend_err)?,
                        },
                        client_msg_id_hash: cmid_hash(&shared, &cmid),
                        server_msg_id: row.get::<_, i64>(3).map_err(backend_err)? as u64,
                    };
                    hot.add(logged);
                }
            }
            if hot.rows[current.other().index()] > 0 {
                hot.seal(current.other());
            }
        }
        let backfill = BackfillWindow::default();
        if let Some((done_to, upto)) = conn
            .query_row("SELECT done_to, upto FROM search_backfill WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(backend_err)?
        {
            backfill.done_to.store(done_to, std::sync::atomic::Ordering::Relaxed);
            backfill.upto.store(upto, std::sync::atomic::Ordering::Relaxed);
        }
        let log = Self { shared, capacity: capacity.max(1), search, backfill };
        log.seal_if_full(conn);
        Ok(log)
    }

    /// What search finds `body` by (`None` when search is off).
    pub(super) fn search_doc(&self, body: &[u8]) -> Option<crate::SearchDoc> {
        self.search.as_ref().and_then(|f| f(body))
    }

    /// What search finds merged message `server_msg_id` with `body` and
    /// `flags` by *in the index* (`None`: it is not there, or the backfill
    /// has yet to put it there).
    pub(super) fn indexed_doc(&self, server_msg_id: i64, body: &[u8], flags: u8) -> Option<crate::SearchDoc> {
        use std::sync::atomic::Ordering::Relaxed;
        let pending =
            server_msg_id > self.backfill.done_to.load(Relaxed) && server_msg_id <= self.backfill.upto.load(Relaxed);
        if flags != 0 || pending { None } else { self.search_doc(body) }
    }

    /// The backfill window, moved by `search::backfill_step`.
    pub(super) fn backfill(&self) -> &BackfillWindow {
        &self.backfill
    }

    /// Hash of a client message id as the dedup map keys it.
    pub(super) fn cmid_hash(&self, client_msg_id: &str) -> u64 {
        cmid_hash(&self.shared, client_msg_id)
    }

    /// The table appends go to now.
    pub(super) fn current(&self) -> Table {
        self.shared.read().current
    }

    /// The logged message `(sender, client_msg_id)`, if any (read inside the
    /// writer's transaction).
    pub(super) fn find_duplicate(
        &self,
        conn: &Connection,
        sender: UserId,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>> {
        self.shared.find(conn, sender, client_msg_id)
    }

    /// Whether `server_msg_id` is taken by a logged or merged message.
    pub(super) fn server_id_taken(&self, tx: &Transaction<'_>, server_msg_id: u64) -> Result<bool> {
        let (logged, check_merged) = {
            let hot = self.shared.read();
            (hot.server_ids.contains(&server_msg_id), server_msg_id <= hot.max_merged_server_id)
        };
        if logged {
            return Ok(true);
        }
        if !check_merged {
            return Ok(false);
        }
        tx.prepare_cached("SELECT 1 FROM messages WHERE server_msg_id = ?1")
            .and_then(|mut s| s.exists([server_msg_id as i64]))
            .map_err(backend_err)
    }

    /// After an append batch committed: index what it logged, record the
    /// new flags of logged messages it changed, and seal the current table
    /// if it is full (and the previous one is merged). Never fails: the
    /// batch is durable already; a seal that cannot be recorded is logged
    /// and tried again after the next batch.
    pub(super) fn committed(&self, conn: &Connection, logged: Vec<Logged>, flagged: Vec<(ConversationId, u64, u8)>) {
        {
            let mut hot = self.shared.write();
            for l in logged {
                hot.add(l);
            }
            for (conversation, seq, flags) in flagged {
                hot.set_flags(conversation, seq, flags);
            }
        }
        self.seal_if_full(conn);
    }

    /// Seals the current table if it is full and no merge is running:
    /// appends switch to the other table and the full one is merged.
    fn seal_if_full(&self, conn: &Connection) {
        let full = {
            let hot = self.shared.read();
            (hot.rows[hot.current.index()] >= self.capacity && hot.sealed.is_none()).then_some(hot.current)
        };
        let Some(full) = full else { return };
        if let Err(e) =
            conn.execute("UPDATE message_log_meta SET current = ?1 WHERE id = 1", [full.other().meta_value()])
        {
            tracing::error!(error = %e, "sealing the message log table failed; retrying after the next batch");
            return;
        }
        let mut hot = self.shared.write();
        hot.current = full.other();
        hot.seal(full);
    }

    /// Whether a merge is in progress.
    pub(super) fn merging(&self) -> bool {
        self.shared.read().sealed.is_some()
    }

    /// Whether appends must wait for the merge: the current table is full
    /// while the previous one is still being merged.
    pub(super) fn must_merge(&self) -> bool {
        let hot = self.shared.read();
        hot.sealed.is_some() && hot.rows[hot.current.index()] >= self.capacity
    }

    /// Moves up to [`MERGE_CHUNK`] rows (whole conversations) from the sealed
    /// table into `messages` in one transaction; empties the table when
    /// everything in it is merged. Returns whether merge work remains.
    pub(super) fn merge_step(&self, conn: &mut Connection) -> Result<bool> {
        let Some(sealed) = self.shared.read().sealed else { return Ok(false) };
        // Take conversations off the plan, in key order, until the chunk is
        // full; a conversation too big for the rest of the chunk has its
        // oldest entries merged now and the rest next time (the merged part
        // is still a prefix, so the invariant holds).
        let mut chunk: Vec<(ConversationId, Vec<Entry>)> = Vec::new();
        {
            let hot = self.shared.read();
            let mut room = MERGE_CHUNK;
            for conversation in hot.plan.iter() {
                if room == 0 {
                    break;
                }
                let entries: Vec<Entry> = hot
                    .convs
                    .get(conversation)
                    .map(|e| e.iter().take_while(|e| e.loc.table == sealed).take(room).copied().collect())
                    .unwrap_or_default();
                room -= entries.len();
                chunk.push((*conversation, entries));
            }
        }
        let tx = conn.transaction().map_err(backend_err)?;
        if chunk.is_empty() {
            // Everything merged: empty the table in one statement (SQLite
            // frees its pages wholesale for an unqualified DELETE).
            tx.execute_batch(&format!("DELETE FROM {}", sealed.name())).map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            {
                let mut hot = self.shared.write();
                hot.rows[sealed.index()] = 0;
                hot.sealed = None;
            }
            // The current table may have filled up while this one merged.
            self.seal_if_full(conn);
            return Ok(self.merging());
        }
        let mut removed_keys = Vec::new();
        let mut removed_ids = Vec::new();
        let mut max_id = 0;
        let mut docs = Vec::new();
        {
            let mut read = tx
                .prepare_cached(&format!("SELECT {LOG_COLUMNS} FROM {} WHERE id = ?1", sealed.name()))
                .map_err(backend_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body, flags)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(backend_err)?;
            let mut advance = tx
                .prepare_cached(
                    "UPDATE conversations SET max_seq = MAX(max_seq, ?2), last_time = MAX(last_time, ?3),
                            changed_at = MAX(changed_at, ?4)
                      WHERE id = ?1",
                )
                .map_err(backend_err)?;
            for (conversation, entries) in &chunk {
                let Some(last) = entries.last() else { continue };
                let id = conversation.to_string();
                // Events do not move the last activity.
                let last_time = entries.iter().filter(|e| e.flags & flags::EVENT == 0).map(|e| e.time).max();
                let changed_at = entries.iter().map(|e| e.time).max().unwrap_or(0);
                for e in entries {
                    let (_, m, flags) = read.query_row([e.loc.rowid], log_row).map_err(backend_err)?;
                    insert
                        .execute(params![
                            id,
                            m.seq as i64,
                            m.server_msg_id as i64,
                            m.sender,
                            m.client_msg_id,
                            m.server_time,
                            m.body,
                            flags
                        ])
                        .map_err(backend_err)?;
                    // Indexed for search as it is merged (a recall or an
                    // edit after this changes the index, see messages.rs).
                    if let Some(doc) = self.indexed_doc(m.server_msg_id as i64, &m.body, flags) {
                        docs.push((m.server_msg_id as i64, *conversation, doc));
                    }
                    removed_keys.push(((m.sender, cmid_hash(&self.shared, &m.client_msg_id)), e.loc));
                    removed_ids.push(m.server_msg_id);
                    max_id = max_id.max(m.server_msg_id);
                }
                advance
                    .execute(params![id, last.seq as i64, last_time.unwrap_or(0), changed_at])
                    .map_err(backend_err)?;
            }
        }
        // In id order: FTS5 starts a new segment whenever ids go back, and
        // the chunk is in conversation order.
        docs.sort_unstable_by_key(|(id, ..)| *id);
        super::search::index_all(&tx, &docs)?;
        tx.commit().map_err(backend_err)?;
        let mut hot = self.shared.write();
        for (conversation, entries) in &chunk {
            let done = match hot.convs.get_mut(conversation) {
                Some(list) => {
                    list.drain(..entries.len());
                    let done = list.front().is_none_or(|e| e.loc.table != sealed);
                    if list.is_empty() {
                        hot.convs.remove(conversation);
                    }
                    done
                }
                None => true,
            };
            if done {
                hot.plan.pop_front();
            }
        }
        for (key, loc) in removed_keys {
            hot.forget_key(key, loc);
        }
        for id in removed_ids {
            hot.server_ids.remove(&id);
        }
        hot.max_merged_server_id = hot.max_merged_server_id.max(max_id);
        Ok(true)
    }
}

impl Hot {
    fn add(&mut self, l: Logged) {
        let list = self.convs.entry(l.conversation).or_default();
        // Appends come in seq order per conversation; the sealed table's
        // rows are loaded before the current one's.
        debug_assert!(list.back().is_none_or(|e| e.seq < l.entry.seq));
        list.push_back(l.entry);
        let key = (l.entry.sender, l.client_msg_id_hash);
        if let Some(existing) = self.dedup.insert(key, l.entry.loc) {
            // Two messages with one key: a hash collision (the dedup check
            // read both rows and found them different). Keep both.
            self.collisions.push((key, existing));
        }
        self.server_ids.insert(l.server_msg_id);
        self.rows[l.entry.loc.table.index()] += 1;
    }

    fn set_flags(&mut self, conversation: ConversationId, seq: u64, flags: u8) {
        if let Some(entries) = self.convs.get_mut(&conversation) {
            let i = entries.partition_point(|e| e.seq < seq);
            if let Some(e) = entries.get_mut(i).filter(|e| e.seq == seq) {
                e.flags = flags;
            }
        }
    }

    fn forget_key(&mut self, key: (UserId, u64), loc: Loc) {
        if self.dedup.get(&key) == Some(&loc) {
            self.dedup.remove(&key);
            if let Some(i) = self.collisions.iter().position(|(k, _)| *k == key) {
                let (_, other) = self.collisions.swap_remove(i);
                self.dedup.insert(key, other);
            }
        } else if let Some(i) = self.collisions.iter().position(|(k, l)| *k == key && *l == loc) {
            self.collisions.swap_remove(i);
        }
    }

    /// Starts merging `table`: plan its conversations in `messages` key order.
    fn seal(&mut self, table: Table) {
        let mut plan: Vec<(String, ConversationId)> = self
            .convs
            .iter()
            .filter(|(_, e)| e.front().is_some_and(|e| e.loc.table == table))
            .map(|(c, _)| (c.to_string(), *c))
            .collect();
        plan.sort_unstable();
        self.plan = plan.into_iter().map(|(_, c)| c).collect();
        self.sealed = Some(table);
    }
}

/// Reads one logged message.
pub(super) fn read_logged(conn: &Connection, loc: Loc) -> Result<Option<StoredMessage>> {
    conn.prepare_cached(&format!("SELECT {LOG_COLUMNS} FROM {} WHERE id = ?1", loc.table.name()))
        .and_then(|mut s| s.query_row([loc.rowid], log_row).optional())
        .map(|r| r.map(|(_, m, _)| m))
        .map_err(backend_err)
}

/// Maps a row selected with [`LOG_COLUMNS`]: its rowid, the message and
/// its flags.
pub(super) fn log_row(row: &Row<'_>) -> rusqlite::Result<(i64, StoredMessage, u8)> {
    Ok((
        row.get(0)?,
        StoredMessage {
            conversation: conversation_col(row, 1)?,
            seq: row.get::<_, i64>(2)? as u64,
            server_msg_id: row.get::<_, i64>(3)? as u64,
            sender: row.get(4)?,
            client_msg_id: row.get(5)?,
            server_time: row.get(6)?,
            body: row.get(7)?,
        },
        row.get(8)?,
    ))
}
