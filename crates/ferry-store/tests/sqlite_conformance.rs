//! The store conformance suite against SQLite, plus what only a file-backed
//! store can show: data and schema surviving a close and reopen.

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
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("ferry.db"), SqliteOptions::default()).await.expect("open");
    (store, dir)
}

ferry_store::store_conformance_tests!(fresh_store());

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
        let options = SqliteOptions { synchronous, read_connections: 2 };
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
