//! The store conformance suite against SQLite — with the default message
//! log, and with a log so small that every few messages seal a table and
//! merges run all the time — plus what only a file-backed store can show:
//! data and schema surviving a close and reopen, the log rebuilt at start.

use ferry_core::ConversationId;
use ferry_store::{
    ConversationStore, MessageStore, UserStore,
    conformance::new_message,
    sqlite::{SqliteOptions, SqliteStore, Synchronous},
};
use tempfile::TempDir;

/// A fresh store in its own temporary directory, removed when the returned
/// `TempDir` drops.
async fn fresh_store() -> (SqliteStore, TempDir) {
    store_with(SqliteOptions::default()).await
}

async fn store_with(options: SqliteOptions) -> (SqliteStore, TempDir) {
    let options = SqliteOptions { search: Some(ferry_store::conformance::search_extractor()), ..options };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("ferry.db"), options).await.expect("open");
    (store, dir)
}

/// Log tables of three rows: appends seal tables constantly and the writer
/// merges between (and during) every step of every check.
fn tiny_log() -> SqliteOptions {
    SqliteOptions { log_rows: 3, ..SqliteOptions::default() }
}

mod default_log {
    use super::*;
    ferry_store::store_conformance_tests!(fresh_store());
}

mod tiny_log {
    use super::*;
    ferry_store::store_conformance_tests!(store_with(tiny_log()));
}

fn user_version(path: &std::path::Path) -> u32 {
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version")
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dirs/ferry.db");
    let conv = ConversationId::Group(1);

    let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("open");
    let batch = (0..5).map(|i| new_message(conv, 1, &format!("m{i}"), i)).collect();
    let first = store.append_messages(batch).await.expect("append");
    store.close().await;

    let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("reopen");
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 5);
    let stored = store.messages_after(conv, 0, 100).await.expect("messages");
    assert_eq!(stored, first.into_iter().map(|a| a.message).collect::<Vec<_>>());
    let next = store.append_messages(vec![new_message(conv, 1, "m5", 5)]).await.expect("append");
    assert_eq!(next[0].message.seq, 6, "the seq continues after reopen");
    let retry = store.append_messages(vec![new_message(conv, 1, "m0", 9)]).await.expect("retry");
    assert!(retry[0].duplicate, "dedup survives reopen");
    assert_eq!(retry[0].message.seq, 1);
}

/// A recall of a logged (not yet merged) message is in its log row: after a
/// reopen rebuilds memory from the log tables, it is still not unread.
#[tokio::test]
async fn recalled_logged_message_stays_recalled_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let conv = ConversationId::direct(1, 2);
    let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("open");
    let batch = (0..3).map(|i| new_message(conv, 1, &format!("m{i}"), i)).collect();
    store.append_messages(batch).await.expect("append");
    let recall = ferry_store::NewMessage {
        effect: Some(ferry_store::Effect::Revoke { target: 2, body: b"recalled".to_vec() }),
        ..new_message(conv, 1, "r", 9)
    };
    store.append_messages(vec![recall]).await.expect("recall");
    assert!(store.logged_messages() >= 4, "still in the log");
    assert_eq!(store.conversation_of(2, conv).await.expect("state").expect("member").unread, 2);
    store.close().await;

    let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("reopen");
    let state = store.conversation_of(2, conv).await.expect("state").expect("member");
    assert_eq!((state.max_seq, state.unread, state.last_time), (4, 2, 2), "the event moved no activity");
    assert_eq!(store.messages_at(conv, &[2]).await.expect("at")[0].body, b"recalled");
    let again = ferry_store::NewMessage {
        effect: Some(ferry_store::Effect::Revoke { target: 2, body: Vec::new() }),
        ..new_message(conv, 1, "r2", 10)
    };
    assert!(matches!(
        store.append_entries(vec![again]).await.expect("append").remove(0),
        Err(ferry_store::StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn dropped_store_can_be_reopened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let conv = ConversationId::Group(2);
    {
        let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("open");
        store.append_messages(vec![new_message(conv, 1, "a", 1)]).await.expect("append");
        // Dropped without close(): the writer thread winds down on its own.
    }
    let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("reopen");
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 1);
    let next = store.append_messages(vec![new_message(conv, 1, "b", 2)]).await.expect("append");
    assert_eq!(next[0].message.seq, 2);
}

#[tokio::test]
async fn migrations_are_idempotent_on_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("open");
    let alice = store
        .create_user(ferry_store::NewUser {
            username: "alice".into(),
            display_name: "Alice".into(),
            password_hash: "h".into(),
            created_at: 1,
        })
        .await
        .expect("create_user");
    store.close().await;
    let version = user_version(&path);
    assert!(version >= 1);

    for _ in 0..2 {
        let store = SqliteStore::open(&path, SqliteOptions::default()).await.expect("reopen");
        assert_eq!(store.user_by_name("alice").await.expect("lookup"), Some(alice.clone()));
        store.close().await;
        assert_eq!(user_version(&path), version);
    }
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    SqliteStore::open(&path, SqliteOptions::default()).await.expect("open").close().await;
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    conn.pragma_update(None, "user_version", 9999).expect("bump version");
    drop(conn);
    assert!(SqliteStore::open(&path, SqliteOptions::default()).await.is_err());
}

#[tokio::test]
async fn both_synchronous_modes_open() {
    for synchronous in [Synchronous::Normal, Synchronous::Full] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ferry.db");
        let options = SqliteOptions { synchronous, read_connections: 2, ..SqliteOptions::default() };
        let store = SqliteStore::open(&path, options).await.expect("open");
        let conv = ConversationId::direct(1, 2);
        let appended = store.append_messages(vec![new_message(conv, 1, "x", 1)]).await.expect("append");
        assert_eq!(appended[0].message.seq, 1);
        assert_eq!(store.conversations_of(2).await.expect("conversations_of")[0].unread, 1);
        store.close().await;

        // `synchronous` is per connection (unit-tested inside the crate);
        // the journal mode is persistent and visible from here.
        let conn = rusqlite::Connection::open(&path).expect("open raw");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal_mode");
        assert_eq!(mode, "wal");
    }
}

#[tokio::test]
async fn zero_read_connections_still_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqliteOptions { read_connections: 0, ..SqliteOptions::default() };
    let store = SqliteStore::open(dir.path().join("ferry.db"), options).await.expect("open");
    assert_eq!(store.max_seq(ConversationId::Group(1)).await.expect("max_seq"), 0);
}

/// Waits until the writer has merged everything but the current log table
/// (it merges while idle).
async fn merged_down(store: &SqliteStore, at_most: usize) {
    for _ in 0..500 {
        if store.logged_messages() <= at_most {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{} messages still logged (wanted at most {at_most})", store.logged_messages());
}

#[tokio::test]
async fn the_log_is_rebuilt_at_open_and_merged_and_logged_messages_read_as_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let options = SqliteOptions { log_rows: 50, ..SqliteOptions::default() };
    let convs: Vec<ConversationId> = (0..7).map(|i| ConversationId::direct(1, 10 + i)).collect();

    let store = SqliteStore::open(&path, options.clone()).await.expect("open");
    let mut sent = 0;
    for round in 0..30 {
        let batch =
            (0..9).map(|i| new_message(convs[(round + i) % convs.len()], 1, &format!("m{sent}-{i}"), 5)).collect();
        store.append_messages(batch).await.expect("append");
        sent += 9;
    }
    // 270 messages through 50-row tables: most are merged by now or soon.
    merged_down(&store, 100).await;
    // A crash-like stop: no merge on the way out; what is logged stays logged.
    store.close().await;

    let store = SqliteStore::open(&path, options).await.expect("reopen");
    let mut total = 0;
    for conv in &convs {
        let max = store.max_seq(*conv).await.expect("max_seq");
        let all = store.messages_after(*conv, 0, 1000).await.expect("messages");
        assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=max).collect::<Vec<_>>(), "{conv}");
        // Pages that straddle merged and logged messages line up.
        let mut paged = Vec::new();
        let mut after = 0;
        loop {
            let page = store.messages_after(*conv, after, 4).await.expect("page");
            let Some(last) = page.last() else { break };
            after = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, all);
        total += max;
    }
    assert_eq!(total, 270);

    // Retries are recognised whether their original is logged or merged:
    // the first and the last messages sent.
    for (cmid, conv) in [("m0-0", convs[0]), ("m261-8", convs[(29 + 8) % convs.len()])] {
        let again = store.append_messages(vec![new_message(conv, 1, cmid, 99)]).await.expect("retry").remove(0);
        assert!(again.duplicate, "{cmid}");
        assert_eq!(again.message.client_msg_id, cmid);
        assert_eq!(again.message.server_time, 5, "the original is returned");
    }
    // Seqs continue where they were.
    let before = store.max_seq(convs[3]).await.expect("max_seq");
    let next = store.append_messages(vec![new_message(convs[3], 10 + 3, "after-reopen", 7)]).await.expect("append");
    assert_eq!(next[0].message.seq, before + 1);
    let state = store.conversation_of(1, convs[3]).await.expect("state").expect("member");
    assert_eq!(state.max_seq, before + 1);
    assert_eq!(state.unread, 1, "only the peer's message is unread for user 1");
    merged_down(&store, 50).await;
    store.close().await;
}

/// Search reads merged (indexed) and logged messages as one, before and
/// after a reopen; a recall or edit of a merged message changes the index.
#[tokio::test]
async fn search_spans_the_index_and_the_log_across_reopen() {
    use ferry_store::{Effect, MessageSearch, NewMessage};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let search = Some(ferry_store::conformance::search_extractor());
    let options = SqliteOptions { log_rows: 20, search, ..SqliteOptions::default() };
    let conv = ConversationId::direct(1, 2);
    let store = SqliteStore::open(&path, options.clone()).await.expect("open");
    for round in 0..10 {
        let batch = (0..10)
            .map(|i| NewMessage {
                body: format!("第{round}轮 消息 item{i}").into_bytes(),
                ..new_message(conv, 1, &format!("m{round}-{i}"), round * 10 + i)
            })
            .collect();
        store.append_messages(batch).await.expect("append");
    }
    merged_down(&store, 40).await;
    let search = |q: &str| MessageSearch {
        limit: 100,
        ..MessageSearch::new(2, ferry_core::search::Query::parse(q).expect("query"))
    };
    let count = |page: ferry_store::SearchPage| page.messages.len();
    assert_eq!(count(store.search_messages(search("消息")).await.expect("search")), 100, "merged and logged");
    // Message 1 is merged by now: recall it, edit message 2.
    let recall = NewMessage {
        effect: Some(Effect::Revoke { target: 1, body: b"recalled".to_vec() }),
        ..new_message(conv, 1, "rv", 200)
    };
    let edit = NewMessage {
        effect: Some(Effect::Edit { target: 2, body: "改过了".as_bytes().to_vec() }),
        ..new_message(conv, 1, "ed", 201)
    };
    store.append_messages(vec![recall, edit]).await.expect("events");
    assert_eq!(count(store.search_messages(search("消息")).await.expect("search")), 98);
    assert_eq!(count(store.search_messages(search("改过")).await.expect("search")), 1);
    store.close().await;

    let store = SqliteStore::open(&path, options).await.expect("reopen");
    assert_eq!(count(store.search_messages(search("消息")).await.expect("search")), 98);
    assert_eq!(count(store.search_messages(search("item9 第9轮")).await.expect("search")), 1, "a logged one");
    assert_eq!(count(store.search_messages(search("item0 第0轮")).await.expect("search")), 0, "recalled");
    // Push everything searchable out of the current table into the index.
    let fillers = (0..40).map(|i| new_message(conv, 2, &format!("f{i}"), 300 + i)).collect();
    store.append_messages(fillers).await.expect("fillers");
    merged_down(&store, 20).await;
    assert_eq!(count(store.search_messages(search("item")).await.expect("search")), 98, "all merged");
    store.close().await;

    // The index drives the query, newest first, one lookup per candidate.
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    fts_integrity(&conn);
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT m.seq FROM message_search AS f CROSS JOIN messages AS m
              ON m.server_msg_id = f.rowid WHERE message_search MATCH 'x' AND f.rowid < 5 ORDER BY f.rowid DESC",
        )
        .expect("plan")
        .query_map([], |r| r.get::<_, String>(3))
        .expect("plan rows")
        .collect::<Result<_, _>>()
        .expect("plan rows");
    assert!(plan[0].contains("VIRTUAL TABLE"), "{plan:?}");
    assert!(plan[1].contains("USING INDEX"), "{plan:?}");
    assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "no sort: {plan:?}");
}

/// FTS5's own check of the search index (every removal used the tokens the
/// row was added with).
fn fts_integrity(conn: &rusqlite::Connection) {
    conn.execute("INSERT INTO message_search (message_search, rank) VALUES ('integrity-check', 0)", [])
        .expect("search index integrity");
}

/// Search turned off and on again: nothing is indexed while off, and once
/// on the backfill indexes every message exactly once, edits and recalls
/// after it keep the index consistent.
#[tokio::test]
async fn search_turned_off_and_on_again_indexes_everything_once() {
    use ferry_store::{Effect, MessageSearch, NewMessage};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let conv = ConversationId::direct(1, 2);
    let on = SqliteOptions {
        log_rows: 10,
        search: Some(ferry_store::conformance::search_extractor()),
        ..SqliteOptions::default()
    };
    let off = SqliteOptions { search: None, ..on.clone() };
    let search = |q: &str| MessageSearch {
        limit: 100,
        ..MessageSearch::new(2, ferry_core::search::Query::parse(q).expect("query"))
    };
    let batch = |from: i64, word: &str| -> Vec<NewMessage> {
        (from..from + 25)
            .map(|i| NewMessage {
                body: format!("{word} number{i}").into_bytes(),
                ..new_message(conv, 1, &format!("m{i}"), i)
            })
            .collect()
    };
    // Indexed while on, then off (the index is dropped), then on again.
    let store = SqliteStore::open(&path, on.clone()).await.expect("open");
    store.append_messages(batch(0, "早期")).await.expect("append");
    merged_down(&store, 10).await;
    store.close().await;
    let store = SqliteStore::open(&path, off).await.expect("open without search");
    store.append_messages(batch(100, "关闭期间")).await.expect("append");
    merged_down(&store, 10).await;
    assert!(store.search_messages(search("早期")).await.expect("search").messages.is_empty(), "off finds nothing");
    store.close().await;

    let store = SqliteStore::open(&path, on).await.expect("reopen with search");
    store.append_messages(batch(200, "重新打开")).await.expect("append");
    while store.backfill_search(7).await.expect("backfill") {}
    let count = |page: ferry_store::SearchPage| page.messages.len();
    for word in ["早期", "关闭期间", "重新打开"] {
        assert_eq!(count(store.search_messages(search(word)).await.expect("search")), 25, "{word}");
    }
    // Seq 1 and 2 are merged: edit one and recall the other.
    let edit = NewMessage {
        effect: Some(Effect::Edit { target: 1, body: "改过了 Café number0".as_bytes().to_vec() }),
        ..new_message(conv, 1, "ed", 500)
    };
    let recall = NewMessage {
        effect: Some(Effect::Revoke { target: 2, body: b"recalled".to_vec() }),
        ..new_message(conv, 1, "rv", 501)
    };
    store.append_messages(vec![edit, recall]).await.expect("events");
    assert_eq!(count(store.search_messages(search("早期")).await.expect("search")), 23);
    assert_eq!(count(store.search_messages(search("改过")).await.expect("search")), 1);
    assert_eq!(count(store.search_messages(search("number")).await.expect("search")), 74);
    store.close().await;
    // The index itself (not only what verification lets through): every
    // message once, the edited and the recalled one's old words gone.
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    fts_integrity(&conn);
    let indexed = |q: &str| -> i64 {
        conn.query_row("SELECT count(*) FROM message_search WHERE message_search MATCH ?1", [q], |r| r.get(0))
            .expect("match")
    };
    assert_eq!(indexed("\"早期\""), 23);
    assert_eq!(indexed("\"改过\""), 1);
    assert_eq!(indexed("\"cafe\""), 1, "words indexed without their accents");
    assert_eq!(indexed("\"number\"*"), 74);
}
