//! [`MessageStore::search_messages`](crate::MessageStore::search_messages)
//! for PostgreSQL, on its own full-text machinery: a `tsvector` per message
//! (`messages.search`) in a GIN index, queried with a `tsquery`.
//!
//! The terms are ferry-core's ([`ferry_core::search::push_index_tokens`]):
//! lower-cased, accent-free words, and the overlapping character pairs of
//! CJK and other unspaced runs (plus each run's last character), built in
//! Rust and stored as they are (`array_to_tsvector`: no parser, no
//! dictionary, no locale), so both backends cut text the same way and a
//! query finds the same messages. A non-text kind adds a filter term
//! behind a private-use character the text terms never contain. A query
//! becomes a `tsquery` of the same terms: a word as a prefix (`'datab':*`),
//! a run as all of its pairs (a single character as a prefix), a kind
//! filter as an OR of kind terms. The index has no positions: it finds
//! *candidates*, and each candidate's body, read with the store's
//! [`SearchExtractor`], is checked with [`Query::matches`](ferry_core::search::Query::matches)
//! (words in order, runs as substrings), as on SQLite.
//!
//! Why not pg_trgm: its trigrams are cut by the database's character
//! classes (`LC_CTYPE`). Under the C locale, common in containers,
//! `show_trgm('数据库迁移')` is empty (CJK characters are not word
//! characters: nothing would be found) and "Réunion" splits at the `é`;
//! and a one- or two-character CJK query (most of them) has no trigram, so
//! its index cannot help. The pairs above need neither, and the terms are
//! the SQLite backend's, so both find the same messages.
//!
//! A message is indexed in its append's transaction, an edit re-indexes
//! it and a recall removes it in theirs; events and system messages have
//! no terms (NULL, outside the partial index). Messages stored while
//! search was off are indexed by [`backfill_step`].
//!
//! A page is the newest `limit` hits; one page examines at most
//! [`SCAN_LIMIT`] candidates and otherwise still returns a `next` cursor,
//! so a rare hit among many invisible candidates costs pages, not an
//! unbounded request.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use ferry_core::{ConversationId, search::Term};

use super::{Client, PgStore, Try, conversation_col, cursor, messages, serializable, snapshot};
use crate::{MessageSearch, Result, SearchDoc, SearchExtractor, SearchPage, StoredMessage};

/// Index candidates one page examines at most.
const SCAN_LIMIT: usize = 10_000;

/// Candidates read per query while a page is built.
const CHUNK: i64 = 256;

/// Marks a filter term (a private-use character: never in text terms).
const FILTER: char = '\u{E000}';

/// The kind most messages have, which gets no filter term.
const TEXT: &str = "text";

/// `messages.search` is stored as `i64::MAX` for "everything is still
/// to be indexed" in `search_backfill.upto` (search was off).
const ALL: i64 = i64::MAX;

fn kind_term(kind: &str) -> String {
    format!("{FILTER}k{}", kind.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
}

/// The terms a message is indexed by, separated by single spaces: a kind
/// term (none for text), then the text's tokens.
pub(crate) fn terms(doc: &SearchDoc) -> String {
    let mut out = String::with_capacity(8 + doc.text.len() * 2);
    if doc.kind != TEXT {
        out.push_str(&kind_term(&doc.kind));
    }
    ferry_core::search::push_index_tokens(&doc.text, &mut out);
    out
}

/// A `tsquery` lexeme literal.
fn lexeme(term: &str) -> String {
    format!("'{}'", term.replace('\\', "\\\\").replace('\'', "''"))
}

/// The `tsquery` of a search (`None`: neither a term nor a kind filter the
/// index knows; the newest messages are walked instead).
fn tsquery(s: &MessageSearch) -> Option<String> {
    let mut parts: Vec<String> = s
        .query
        .terms()
        .iter()
        .map(|t| match t {
            Term::Word(w) => format!("{}:*", lexeme(w)),
            Term::Run(chars) if chars.len() == 1 => format!("{}:*", lexeme(&chars[0].to_string())),
            Term::Run(chars) => {
                let mut pairs: Vec<String> = chars.windows(2).map(|w| lexeme(&String::from_iter(w))).collect();
                pairs.sort_unstable();
                pairs.dedup();
                pairs.join(" & ")
            }
        })
        .collect();
    // Text has no term: a filter that admits text is checked on each
    // candidate instead.
    if !s.kinds.is_empty() && !s.kinds.iter().any(|k| k == TEXT) {
        let kinds: Vec<String> = s.kinds.iter().map(|k| lexeme(&kind_term(k))).collect();
        parts.push(format!("({})", kinds.join(" | ")));
    }
    (!parts.is_empty()).then(|| parts.join(" & "))
}

/// The conversations `user` can search now, each with the seq its visible
/// history starts after (history visibility, or what the user cleared).
async fn visible(tx: &impl GenericClient, s: &MessageSearch) -> Try<HashMap<ConversationId, u64>> {
    let mut out = HashMap::new();
    for row in tx.query("SELECT conversation_id FROM conversation_members WHERE user_id = $1", &[&s.user]).await? {
        let c = conversation_col(&row, 0)?;
        if s.conversation.is_none_or(|only| only == c) {
            out.insert(c, 0u64);
        }
    }
    if !s.full_history {
        let rows = tx
            .query("SELECT group_id, join_seq FROM group_members WHERE user_id = $1 AND NOT has_left", &[&s.user])
            .await?;
        for row in rows {
            if let Some(after) = out.get_mut(&ConversationId::Group(row.try_get(0)?)) {
                *after = (*after).max(super::u64_col(&row, 1)?);
            }
        }
    }
    let rows =
        tx.query("SELECT conversation_id, up_to_seq FROM cleared_history WHERE user_id = $1", &[&s.user]).await?;
    for row in rows {
        if let Some(after) = out.get_mut(&conversation_col(&row, 0)?) {
            *after = (*after).max(super::u64_col(&row, 1)?);
        }
    }
    Ok(out)
}

/// Whether a message with `body` is one the search asks for: searchable,
/// of a wanted kind, and its text matching the query.
fn found_by(s: &MessageSearch, doc_of: &SearchExtractor, body: &[u8]) -> bool {
    doc_of(body).is_some_and(|doc| (s.kinds.is_empty() || s.kinds.contains(&doc.kind)) && s.query.matches(&doc.text))
}

pub(super) async fn search(store: &PgStore, s: MessageSearch) -> Result<SearchPage> {
    if s.limit == 0 {
        return Ok(SearchPage::default());
    }
    let Some(doc_of) = store.search.clone() else { return Ok(SearchPage::default()) };
    let s = &s;
    let doc_of = &doc_of;
    store
        .read(|mut client| async move {
            let tx = snapshot(&mut client).await?;
            page(&tx, s, doc_of).await
        })
        .await
}

/// One page of hits, newest first; see the module docs.
async fn page(tx: &impl GenericClient, s: &MessageSearch, doc_of: &SearchExtractor) -> Try<SearchPage> {
    let conversations = visible(tx, s).await?;
    if conversations.is_empty() {
        return Ok(SearchPage::default());
    }
    let ids: Vec<String> = conversations.keys().map(ToString::to_string).collect();
    let query = tsquery(s);
    let filters = "server_msg_id < $1 AND conversation_id = ANY($2) AND server_time BETWEEN $3 AND $4
                   AND ($5::bigint IS NULL OR sender_id = $5)";
    let sql = match query {
        Some(_) => format!(
            "SELECT {}, flags FROM messages
              WHERE search @@ $7::text::tsquery AND search IS NOT NULL AND {filters}
              ORDER BY server_msg_id DESC LIMIT $6",
            crate::columns::MESSAGE_COLUMNS
        ),
        None => format!(
            "SELECT {}, flags FROM messages WHERE flags = 0 AND {filters} ORDER BY server_msg_id DESC LIMIT $6",
            crate::columns::MESSAGE_COLUMNS
        ),
    };
    let stmt = tx.prepare_cached(&sql).await?;
    let hidden = tx
        .prepare_cached("SELECT 1 FROM hidden_messages WHERE user_id = $1 AND conversation_id = $2 AND seq = $3")
        .await?;
    let (since, until) = (s.since.unwrap_or(i64::MIN), s.until.unwrap_or(i64::MAX));
    let mut before = s.before.map_or(i64::MAX, cursor);
    let (mut hits, mut scanned): (Vec<StoredMessage>, usize) = (Vec::new(), 0);
    loop {
        let rows = match &query {
            Some(q) => tx.query(&stmt, &[&before, &ids, &since, &until, &s.sender, &CHUNK, q]).await?,
            None => tx.query(&stmt, &[&before, &ids, &since, &until, &s.sender, &CHUNK]).await?,
        };
        let exhausted = (rows.len() as i64) < CHUNK;
        for row in &rows {
            let m = messages::message_row(row)?;
            let row_flags: i16 = row.try_get(7)?;
            scanned += 1;
            let id = m.server_msg_id;
            before = id as i64;
            // The index finds candidates by their terms alone (no
            // positions): the words themselves, in order, are checked on
            // the body as it is.
            if conversations.get(&m.conversation).is_some_and(|after| m.seq > *after)
                && row_flags == 0
                && found_by(s, doc_of, &m.body)
                && tx.query_opt(&hidden, &[&s.user, &m.conversation.to_string(), &cursor(m.seq)]).await?.is_none()
            {
                hits.push(m);
                if hits.len() >= s.limit as usize {
                    return Ok(SearchPage { messages: hits, next: Some(id) });
                }
            }
            if scanned >= SCAN_LIMIT {
                return Ok(SearchPage { messages: hits, next: Some(id) });
            }
        }
        if exhausted {
            return Ok(SearchPage { messages: hits, next: None });
        }
    }
}

/// At connect: with search off, messages are stored without terms, so
/// the backfill is told to index everything once search is back on;
/// with search on after that, everything up to the newest message now.
pub(super) async fn prepare(client: &Client, enabled: bool) -> Try<()> {
    if enabled {
        client
            .execute(
                "UPDATE search_backfill SET upto = (SELECT COALESCE(MAX(server_msg_id), 0) FROM messages)
                  WHERE id = 1 AND upto = $1",
                &[&ALL],
            )
            .await?;
    } else {
        client
            .execute(
                "UPDATE search_backfill SET done_to = 0, upto = $1 WHERE id = 1 AND NOT (done_to = 0 AND upto = $1)",
                &[&ALL],
            )
            .await?;
    }
    Ok(())
}

/// Indexes up to `limit` messages of the backfill window, in server id
/// order, each as it is now (an edit or recall in between is never
/// undone); returns whether more remain.
pub(super) async fn backfill_step(store: &PgStore, limit: u32) -> Result<bool> {
    let Some(doc_of) = store.search.clone() else { return Ok(false) };
    let doc_of = &doc_of;
    let limit = i64::from(limit.max(1));
    store
        .write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let state = tx.query_opt("SELECT upto, done_to FROM search_backfill WHERE id = 1", &[]).await?;
            let Some((upto, done_to)) = state.map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1))) else {
                return Ok(false);
            };
            if done_to >= upto {
                return Ok(false);
            }
            let rows = tx
                .query(
                    "SELECT server_msg_id, body, flags FROM messages
                      WHERE server_msg_id > $1 AND server_msg_id <= $2 ORDER BY server_msg_id LIMIT $3",
                    &[&done_to, &upto, &limit],
                )
                .await?;
            let mut ids = Vec::with_capacity(rows.len());
            let mut all_terms: Vec<Option<String>> = Vec::with_capacity(rows.len());
            for row in &rows {
                let (id, body, row_flags): (i64, &[u8], i16) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                ids.push(id);
                all_terms.push(if row_flags == 0 { doc_of(body).map(|doc| terms(&doc)) } else { None });
            }
            tx.execute(
                "UPDATE messages AS m SET search = array_to_tsvector(string_to_array(v.x, ' '))
                   FROM unnest($1::bigint[], $2::text[]) AS v (i, x) WHERE m.server_msg_id = v.i",
                &[&ids, &all_terms],
            )
            .await?;
            let reached = match ids.last() {
                Some(&id) if ids.len() as i64 >= limit => id,
                _ => upto,
            };
            tx.execute("UPDATE search_backfill SET done_to = $1 WHERE id = 1", &[&reached]).await?;
            tx.commit().await?;
            Ok(reached < upto)
        })
        .await
}

#[cfg(test)]
mod tests {
    use ferry_core::search::Query;

    use super::*;

    fn search(q: &str, kinds: &[&str]) -> MessageSearch {
        MessageSearch {
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            ..MessageSearch::new(1, Query::parse(q).expect("query"))
        }
    }

    #[test]
    fn terms_are_the_kind_and_the_text_tokens() {
        let text = SearchDoc { kind: "text".into(), text: "Hello 数据库".into() };
        assert_eq!(terms(&text), "hello 数据 据库 库");
        let file = SearchDoc { kind: "file".into(), text: "Réunion.pdf".into() };
        assert_eq!(terms(&file), format!("{FILTER}kfile reunion pdf"));
        let image = SearchDoc { kind: "image".into(), text: String::new() };
        assert_eq!(terms(&image), format!("{FILTER}kimage"));
    }

    #[test]
    fn queries_are_prefixes_pairs_and_kinds() {
        assert_eq!(tsquery(&search("DATAB 数据库 饭", &[])).as_deref(), Some("'datab':* & '据库' & '数据' & '饭':*"));
        assert_eq!(
            tsquery(&search("", &["image", "file"])).as_deref(),
            Some(&*format!("('{FILTER}kimage' | '{FILTER}kfile')"))
        );
        assert_eq!(tsquery(&search("", &["text", "file"])), None, "text has no term");
        assert_eq!(tsquery(&search("", &[])), None);
    }

    #[test]
    fn lexemes_are_quoted() {
        assert_eq!(lexeme("it's"), "'it''s'");
        assert_eq!(lexeme("a\\b"), "'a\\\\b'");
    }
}
