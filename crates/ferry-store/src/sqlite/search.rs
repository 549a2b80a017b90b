//! [`MessageStore::search_messages`](crate::MessageStore::search_messages)
//! for SQLite.
//!
//! Merged messages are indexed in `message_search`, an FTS5 table without
//! content whose rowid is the `server_msg_id`. Its one column holds the
//! tokens of [`ferry_core::search::index_tokens`] after *filter tokens* —
//! the conversation, and the kind unless it is text — each behind a
//! private-use character the text tokens never contain, so a conversation
//! or media-kind filter is answered by the index too. The `ascii`
//! tokenizer splits at ASCII non-alphanumerics only, so it sees exactly
//! the tokens written here. The index keeps no positions and no column
//! sizes (`detail=none`, `columnsize=0`): it finds *candidates* (rows with
//! every token), and each candidate's body, read with the store's
//! [`SearchExtractor`], is checked with [`Query::matches`](ferry_core::search::Query::matches) (words in order,
//! kind, sender) — which also keeps results right if the index lags.
//!
//! No text is stored twice: a message enters the index when the merge
//! moves it from the log into `messages`, read from its body then (in id
//! order per merge chunk, so FTS5 writes one segment per chunk); a recall
//! removes it and an edit replaces it in the same transaction as the
//! change (FTS5's `delete` with the line it was added with, rebuilt from
//! the old body). Logged messages are not indexed yet: a search reads the
//! logged messages of the user's conversations (memory knows them) and
//! matches their bodies the same way.
//!
//! Messages merged before the index existed (or while search was off) are
//! indexed by [`backfill_step`]; until then the merge and edits leave
//! their window of ids alone, so each message is indexed exactly once.
//!
//! A page is the newest `limit` hits of both. The index side examines at
//! most [`SCAN_LIMIT`] candidates per page; a page cut short there still
//! has a `next` cursor, so a rare hit among many invisible candidates costs
//! pages, not an unbounded request.

use std::collections::HashMap;

use ferry_core::{ConversationId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteStore, backend_err, conversation_col, cursor, log, messages::merged_max_seq};
use crate::{MessageSearch, Result, SearchDoc, SearchExtractor, SearchPage, StoredMessage};

/// Index candidates one page examines at most.
pub(super) const SCAN_LIMIT: usize = 10_000;

/// Up to this many visible conversations are named in the index query
/// itself (an OR of their tokens), which spares examining the hits of
/// everybody else's conversations.
const NAMED_CONVERSATIONS: usize = 32;

/// Marks a filter token (a private-use character: never in text tokens).
const FILTER: char = '\u{E000}';

/// The kind most messages have, which gets no filter token.
const TEXT: &str = "text";

fn kind_token(kind: &str) -> String {
    format!("{FILTER}k{}", kind.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
}

fn conversation_token(conversation: ConversationId) -> String {
    // "d_1_2" → "dx1x2": `_` would split the token.
    format!("{FILTER}c{}", conversation.to_string().replace('_', "x"))
}

/// Writes what it is given with `_` turned into `x`.
struct NoUnderscore<'a>(&'a mut String);

impl std::fmt::Write for NoUnderscore<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend(s.chars().map(|c| if c == '_' { 'x' } else { c }));
        Ok(())
    }
}

/// The line a message is indexed by: its conversation's filter token, a
/// kind token (none for text: most messages are text, and a filter asking
/// for text is checked on each candidate instead), then the text's tokens.
/// Deterministic, as removing a row needs the very tokens it was added
/// with.
fn line(conversation: ConversationId, doc: &SearchDoc) -> String {
    let mut out = String::with_capacity(24 + doc.text.len() * 2);
    push_line(&mut out, conversation, doc);
    out
}

/// [`line`], appended to `out`: the merge builds every message's line in
/// one buffer.
fn push_line(out: &mut String, conversation: ConversationId, doc: &SearchDoc) {
    use std::fmt::Write as _;
    out.push(FILTER);
    out.push('c');
    // "d_1_2" → "dx1x2", as `conversation_token` (`_` would split it).
    let _ = write!(NoUnderscore(out), "{conversation}");
    if doc.kind != TEXT {
        out.push(' ');
        out.push(FILTER);
        out.push('k');
        out.extend(doc.kind.chars().filter(char::is_ascii_alphanumeric));
    }
    ferry_core::search::push_index_tokens(&doc.text, out);
}

/// Adds a merged message to the index (callers add in ascending id order
/// within a transaction: FTS5 writes a segment whenever ids go back).
pub(super) fn index(
    conn: &Connection,
    server_msg_id: i64,
    conversation: ConversationId,
    doc: &SearchDoc,
) -> Result<()> {
    write_line(conn, "INSERT INTO message_search (rowid, doc) VALUES (?1, ?2)", server_msg_id, conversation, doc)
}

/// Adds a chunk of merged messages to the index, in the order given (which
/// must be ascending ids, as for [`index`]), with one statement and one
/// line buffer for all of them.
pub(super) fn index_all(conn: &Connection, docs: &[(i64, ConversationId, SearchDoc)]) -> Result<()> {
    let mut insert =
        conn.prepare_cached("INSERT INTO message_search (rowid, doc) VALUES (?1, ?2)").map_err(backend_err)?;
    let mut line = String::new();
    for (id, conversation, doc) in docs {
        line.clear();
        push_line(&mut line, *conversation, doc);
        insert.execute(params![id, line.as_str()]).map_err(backend_err)?;
    }
    Ok(())
}

/// Removes an indexed message, given the document it was indexed with (the
/// index keeps no content, so FTS5's `delete` needs the same tokens).
pub(super) fn unindex(
    conn: &Connection,
    server_msg_id: i64,
    conversation: ConversationId,
    doc: &SearchDoc,
) -> Result<()> {
    let sql = "INSERT INTO message_search (message_search, rowid, doc) VALUES ('delete', ?1, ?2)";
    write_line(conn, sql, server_msg_id, conversation, doc)
}

/// Runs `sql` with a message's server id and indexed line.
fn write_line(conn: &Connection, sql: &str, id: i64, conversation: ConversationId, doc: &SearchDoc) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params![id, line(conversation, doc)]))
        .map(|_| ())
        .map_err(backend_err)
}

/// What a user may see of one conversation.
#[derive(Debug, Clone, Copy)]
struct Visible {
    /// Seqs at or below this are not visible (history visibility, or what
    /// the user cleared).
    after: u64,
}

/// The conversations `user` can search now and from where.
fn visible(conn: &Connection, s: &MessageSearch) -> Result<HashMap<ConversationId, Visible>> {
    let mut out: HashMap<ConversationId, Visible> = HashMap::new();
    {
        let mut stmt = conn
            .prepare_cached("SELECT conversation_id FROM conversation_members WHERE user_id = ?1")
            .map_err(backend_err)?;
        let mut rows = stmt.query([s.user]).map_err(backend_err)?;
        while let Some(row) = rows.next().map_err(backend_err)? {
            let c = conversation_col(row, 0).map_err(backend_err)?;
            if s.conversation.is_none_or(|only| only == c) {
                out.insert(c, Visible { after: 0 });
            }
        }
    }
    if !s.full_history {
        let mut stmt = conn
            .prepare_cached("SELECT group_id, join_seq FROM group_members WHERE user_id = ?1 AND has_left = 0")
            .map_err(backend_err)?;
        let mut rows = stmt.query([s.user]).map_err(backend_err)?;
        while let Some(row) = rows.next().map_err(backend_err)? {
            let group: i64 = row.get(0).map_err(backend_err)?;
            let join_seq: i64 = row.get(1).map_err(backend_err)?;
            if let Some(v) = out.get_mut(&ConversationId::Group(group)) {
                v.after = v.after.max(join_seq as u64);
            }
        }
    }
    let mut stmt = conn
        .prepare_cached("SELECT conversation_id, up_to_seq FROM cleared_history WHERE user_id = ?1")
        .map_err(backend_err)?;
    let mut rows = stmt.query([s.user]).map_err(backend_err)?;
    while let Some(row) = rows.next().map_err(backend_err)? {
        let c = conversation_col(row, 0).map_err(backend_err)?;
        let up_to: i64 = row.get(1).map_err(backend_err)?;
        if let Some(v) = out.get_mut(&c) {
            v.after = v.after.max(up_to as u64);
        }
    }
    Ok(out)
}

/// The FTS5 expression of a search over `conversations` (`None`: it can
/// match nothing, or there is neither a term nor a filter to ask the index).
fn expression(s: &MessageSearch, conversations: &HashMap<ConversationId, Visible>) -> Option<String> {
    let quoted = |t: String| format!("\"{t}\"");
    let mut parts: Vec<String> = Vec::new();
    parts.extend(s.query.fts5());
    // Text has no token (see `index`): a filter that admits text is
    // checked on each candidate instead.
    if !s.kinds.is_empty() && !s.kinds.iter().any(|k| k == TEXT) {
        let kinds: Vec<String> = s.kinds.iter().map(|k| quoted(kind_token(k))).collect();
        parts.push(format!("({})", kinds.join(" OR ")));
    }
    if conversations.is_empty() {
        return None;
    }
    if conversations.len() <= NAMED_CONVERSATIONS {
        let mut named: Vec<String> = conversations.keys().map(|c| quoted(conversation_token(*c))).collect();
        named.sort_unstable();
        parts.push(format!("({})", named.join(" OR ")));
    } else if parts.is_empty() {
        return None;
    }
    Some(parts.join(" AND "))
}

/// Whether `user` hid message `seq` of `conversation` (delete for me).
fn hidden(conn: &Connection, user: UserId, conversation: ConversationId, seq: u64) -> Result<bool> {
    conn.prepare_cached("SELECT 1 FROM hidden_messages WHERE user_id = ?1 AND conversation_id = ?2 AND seq = ?3")
        .and_then(|mut st| st.exists(params![user, conversation.to_string(), cursor(seq)]))
        .map_err(backend_err)
}

fn in_time(s: &MessageSearch, time: i64) -> bool {
    s.since.is_none_or(|t| time >= t) && s.until.is_none_or(|t| time <= t)
}

/// Whether a message with `body` is one the search asks for: searchable,
/// of a wanted kind, and its text matching the query.
fn found_by(s: &MessageSearch, doc_of: &SearchExtractor, body: &[u8]) -> bool {
    doc_of(body).is_some_and(|doc| (s.kinds.is_empty() || s.kinds.contains(&doc.kind)) && s.query.matches(&doc.text))
}

pub(super) async fn search(store: &SqliteStore, s: MessageSearch) -> Result<SearchPage> {
    if s.limit == 0 {
        return Ok(SearchPage::default());
    }
    // What the user can see, then memory, then one snapshot: a logged row
    // memory lists is, in that snapshot, still logged or already merged
    // (and then indexed), as in every read of messages.rs.
    let Some(doc_of) = store.search.clone() else { return Ok(SearchPage::default()) };
    let s = std::sync::Arc::new(s);
    let conversations = {
        let s = std::sync::Arc::clone(&s);
        store.read(move |conn| visible(conn, &s)).await?
    };
    let ids: Vec<ConversationId> = conversations.keys().copied().collect();
    let logged = store.log.entries_of(&ids);
    store
        .read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let mut hits = logged_hits(&tx, &s, &conversations, logged, &doc_of)?;
            let (indexed, scanned_to) = indexed_hits(&tx, &s, &conversations, &doc_of)?;
            hits.extend(indexed);
            hits.sort_by_key(|m| std::cmp::Reverse(m.server_msg_id));
            hits.dedup_by_key(|m| m.server_msg_id);
            // The index was examined down to `scanned_to` only: hits below
            // it may still lie among the unexamined candidates.
            if let Some(floor) = scanned_to {
                hits.retain(|m| m.server_msg_id >= floor);
            }
            let limit = s.limit as usize;
            let next = if hits.len() >= limit {
                hits.truncate(limit);
                hits.last().map(|m| m.server_msg_id)
            } else {
                scanned_to
            };
            Ok(SearchPage { messages: hits, next })
        })
        .await
}

/// Matching logged messages (not indexed yet), in any order.
fn logged_hits(
    tx: &Connection,
    s: &MessageSearch,
    conversations: &HashMap<ConversationId, Visible>,
    logged: HashMap<ConversationId, Vec<log::Entry>>,
    doc_of: &SearchExtractor,
) -> Result<Vec<StoredMessage>> {
    let whole = |table: log::Table| {
        tx.prepare_cached(&format!("SELECT {} FROM {} WHERE id = ?1", log::LOG_COLUMNS, table.name()))
            .map_err(backend_err)
    };
    let (mut whole_a, mut whole_b) = (whole(log::Table::A)?, whole(log::Table::B)?);
    let mut hits = Vec::new();
    for (conversation, entries) in logged {
        let Some(visible) = conversations.get(&conversation) else { continue };
        // A logged row at or below the snapshot's merged seqs is merged and
        // indexed (and may have changed since): the index answers for it.
        let merged = merged_max_seq(tx, conversation)?.unwrap_or(0);
        for e in entries {
            if e.seq <= visible.after.max(merged)
                || e.flags != 0
                || s.sender.is_some_and(|sender| sender != e.sender)
                || !in_time(s, e.time)
            {
                continue;
            }
            let whole = if e.loc.table == log::Table::A { &mut whole_a } else { &mut whole_b };
            let Some((_, m, _)) = whole.query_row([e.loc.rowid], log::log_row).optional().map_err(backend_err)? else {
                continue;
            };
            if s.before.is_some_and(|b| m.server_msg_id >= b)
                || !found_by(s, doc_of, &m.body)
                || hidden(tx, s.user, conversation, e.seq)?
            {
                continue;
            }
            hits.push(m);
        }
    }
    Ok(hits)
}

/// Matching indexed messages, newest first, and the lowest rowid examined
/// when the scan stopped at [`SCAN_LIMIT`] before the index ran out.
fn indexed_hits(
    tx: &Connection,
    s: &MessageSearch,
    conversations: &HashMap<ConversationId, Visible>,
    doc_of: &SearchExtractor,
) -> Result<(Vec<StoredMessage>, Option<u64>)> {
    if conversations.is_empty() {
        return Ok((Vec::new(), None));
    }
    let before = s.before.map_or(i64::MAX, cursor);
    // The index drives (newest first); each candidate is one lookup by
    // the unique server_msg_id. Only a search by a filter the index has no
    // token for (text messages of many conversations) walks the newest
    // messages instead.
    let expr = expression(s, conversations);
    let sql = if expr.is_some() {
        "SELECT m.conversation_id, m.seq, m.server_msg_id, m.sender_id, m.client_msg_id, m.server_time, m.body, m.flags
           FROM message_search AS f CROSS JOIN messages AS m ON m.server_msg_id = f.rowid
          WHERE message_search MATCH ?2 AND f.rowid < ?1
          ORDER BY f.rowid DESC"
    } else {
        "SELECT conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body, flags
           FROM messages WHERE server_msg_id < ?1 ORDER BY server_msg_id DESC"
    };
    let mut stmt = tx.prepare_cached(sql).map_err(backend_err)?;
    let mut rows = match &expr {
        Some(expr) => stmt.query(params![before, expr]),
        None => stmt.query([before]),
    }
    .map_err(backend_err)?;
    let (mut hits, mut scanned) = (Vec::new(), 0usize);
    while let Some(row) = rows.next().map_err(backend_err)? {
        let m = StoredMessage {
            conversation: conversation_col(row, 0).map_err(backend_err)?,
            seq: row.get::<_, i64>(1).map_err(backend_err)? as u64,
            server_msg_id: row.get::<_, i64>(2).map_err(backend_err)? as u64,
            sender: row.get(3).map_err(backend_err)?,
            client_msg_id: row.get(4).map_err(backend_err)?,
            server_time: row.get(5).map_err(backend_err)?,
            body: row.get(6).map_err(backend_err)?,
        };
        let flags: u8 = row.get(7).map_err(backend_err)?;
        scanned += 1;
        let visible = conversations.get(&m.conversation).is_some_and(|v| m.seq > v.after);
        let id = m.server_msg_id;
        // The index finds candidates by their tokens alone (no positions):
        // the words themselves, in order, are checked on the body as it is.
        if visible
            && flags == 0
            && in_time(s, m.server_time)
            && s.sender.is_none_or(|sender| sender == m.sender)
            && found_by(s, doc_of, &m.body)
            && !hidden(tx, s.user, m.conversation, m.seq)?
        {
            hits.push(m);
            if hits.len() >= s.limit as usize {
                return Ok((hits, None));
            }
        }
        if scanned >= SCAN_LIMIT {
            return Ok((hits, Some(id)));
        }
    }
    Ok((hits, None))
}

/// At open: with search off, the index is emptied and every merged message
/// marked for the backfill (the index would only go stale), so turning
/// search back on later indexes everything once.
pub(super) fn prepare(conn: &Connection, enabled: bool) -> Result<()> {
    if enabled {
        return Ok(());
    }
    let marked: bool = conn
        .query_row("SELECT done_to = 0 AND upto = ?1 FROM search_backfill WHERE id = 1", [i64::MAX], |r| r.get(0))
        .optional()
        .map_err(backend_err)?
        .unwrap_or(true);
    if !marked {
        conn.execute_batch(&format!(
            "BEGIN;
             INSERT INTO message_search (message_search) VALUES ('delete-all');
             UPDATE search_backfill SET done_to = 0, upto = {};
             COMMIT;",
            i64::MAX
        ))
        .map_err(backend_err)?;
    }
    Ok(())
}

/// One step of indexing what was merged before search existed or before
/// the index was last rebuilt (the schema step doing so recorded the
/// highest server id then as `upto`), in one transaction on the writer:
/// merged messages in server id order, `limit` at a time (logged ones are
/// indexed when they are merged). The writer reads each body as it is
/// now, so an edit or recall in between is never undone. Returns whether
/// more remain.
pub(super) fn backfill_step(conn: &mut Connection, log: &log::MessageLog, limit: u32) -> Result<bool> {
    let state: Option<(i64, i64)> = conn
        .query_row("SELECT upto, done_to FROM search_backfill WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(backend_err)?;
    let Some((upto, done_to)) = state else { return Ok(false) };
    if done_to >= upto {
        return Ok(false);
    }
    let tx = conn.transaction().map_err(backend_err)?;
    let rows: Vec<(i64, ConversationId, Vec<u8>, u8)> = tx
        .prepare_cached(
            "SELECT server_msg_id, conversation_id, body, flags FROM messages
              WHERE server_msg_id > ?1 AND server_msg_id <= ?2 ORDER BY server_msg_id LIMIT ?3",
        )
        .and_then(|mut st| {
            st.query_map(params![done_to, upto, i64::from(limit.max(1))], |r| {
                Ok((r.get(0)?, conversation_col(r, 1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
        .map_err(backend_err)?;
    // Nothing in the window is indexed yet (the merge and edits leave it
    // to this step), and each row is indexed as it is now.
    for (id, conversation, body, flags) in &rows {
        if let Some(doc) = log.search_doc(body).filter(|_| *flags == 0) {
            index(&tx, *id, *conversation, &doc)?;
        }
    }
    let reached = match rows.last() {
        Some((id, ..)) if rows.len() as u32 >= limit.max(1) => *id,
        _ => upto,
    };
    tx.execute("UPDATE search_backfill SET done_to = ?1 WHERE id = 1", [reached]).map_err(backend_err)?;
    tx.commit().map_err(backend_err)?;
    log.backfill().done_to.store(reached, std::sync::atomic::Ordering::Relaxed);
    Ok(reached < upto)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ferry_core::search::Query;

    use super::*;
    use crate::{MessageStore, sqlite::SqliteOptions};

    /// The line's tokens are the filter tokens a query builds and the
    /// text's tokens, whatever the kind.
    #[test]
    fn a_line_is_its_filter_tokens_and_the_text_tokens() {
        let conversation = ConversationId::direct(1, 2);
        let text = SearchDoc { kind: "text".into(), text: "Hello 数据库".into() };
        assert_eq!(
            line(conversation, &text),
            format!("{} {}", conversation_token(conversation), ferry_core::search::index_tokens("Hello 数据库"))
        );
        let file = SearchDoc { kind: "file".into(), text: "report.pdf".into() };
        assert_eq!(
            line(conversation, &file),
            format!("{} {} report pdf", conversation_token(conversation), kind_token("file"))
        );
        let group = SearchDoc { kind: "image".into(), text: String::new() };
        assert_eq!(
            line(ConversationId::Group(7), &group),
            format!("{} {}", conversation_token(ConversationId::Group(7)), kind_token("image"))
        );
    }

    fn search(user: UserId, q: &str) -> MessageSearch {
        MessageSearch { limit: 100, ..MessageSearch::new(user, Query::parse(q).expect("query")) }
    }

    /// A database from before search (schema 6) with merged and logged
    /// messages: after the upgrade the merge indexes the logged ones and the
    /// backfill the merged ones, and a recall made before the backfill is
    /// not undone by it.
    #[tokio::test]
    async fn messages_stored_before_search_are_indexed_by_the_backfill() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ferry.db");
        {
            let conn = Connection::open(&path).expect("open");
            for step in &super::super::migrations::MIGRATIONS[..6] {
                conn.execute_batch(step).expect("steps 1-6");
            }
            conn.pragma_update(None, "user_version", 6).expect("version");
            conn.execute_batch(
                "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ('d_1_2', 'direct', 2, 20);
                 INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at)
                      VALUES (1, 'd_1_2', 0, 1), (2, 'd_1_2', 0, 1);
                 INSERT INTO messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body)
                      VALUES ('d_1_2', 1, 101, 1, 'c1', 10, CAST('旧消息 merged one' AS BLOB)),
                             ('d_1_2', 2, 102, 2, 'c2', 20, CAST('旧消息 merged two' AS BLOB));
                 INSERT INTO message_log_a (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body)
                      VALUES ('d_1_2', 3, 103, 1, 'c3', 30, CAST('旧消息 logged three' AS BLOB)),
                             ('d_1_2', 4, 104, 2, 'c4', 40, CAST('旧消息 logged four' AS BLOB));",
            )
            .expect("old rows");
        }
        let doc_of: SearchExtractor = Arc::new(|body: &[u8]| {
            let text = std::str::from_utf8(body).ok()?;
            Some(SearchDoc { kind: "text".into(), text: text.to_owned() })
        });
        let options = SqliteOptions { search: Some(doc_of), ..SqliteOptions::default() };
        let store = SqliteStore::open(&path, options).await.expect("open and migrate");
        let bodies = |page: SearchPage| -> Vec<String> {
            page.messages.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect()
        };
        // Logged messages are matched as they are; merged ones wait.
        let found = bodies(store.search_messages(search(1, "旧消息")).await.expect("search"));
        assert_eq!(found, ["旧消息 logged four", "旧消息 logged three"]);
        // A recall before the backfill: its body is no longer text.
        let recall = crate::NewMessage {
            conversation: ConversationId::direct(1, 2),
            sender: 1,
            client_msg_id: "rv".into(),
            server_msg_id: 900,
            server_time: 50,
            body: Vec::new(),
            mentions: Vec::new(),
            mention_all: false,
            effect: Some(crate::Effect::Revoke { target: 1, body: b"\x00recalled".to_vec() }),
            files: Vec::new(),
        };
        store.append_messages(vec![recall]).await.expect("recall");

        let mut steps = 0;
        while store.backfill_search(1).await.expect("backfill") {
            steps += 1;
            assert!(steps < 10, "the backfill ends");
        }
        let found = bodies(store.search_messages(search(2, "旧消息")).await.expect("search"));
        assert_eq!(found, ["旧消息 logged four", "旧消息 logged three", "旧消息 merged two"]);
        assert!(!store.backfill_search(100).await.expect("done"), "nothing left");
    }
}
