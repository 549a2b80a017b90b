//! `migrate::sqlite_to_postgres` between the real backends: a SQLite store
//! whose messages lie merged, in a sealed log table and in the current one
//! arrives whole in PostgreSQL (every message, the counters, search) and
//! appends continue there; what is not a Ferry store of this version, a
//! store in use, and a target that holds data are refused, the target
//! untouched. A store left by a crash is copied with what only its WAL
//! holds, and left byte for byte as it was. An ignored test measures the
//! copy rate of a large store.

#![cfg(feature = "postgres")]

use std::{path::Path, time::Instant};

use ferry_core::{ConversationId, search::Query};
use ferry_pgtest::PgServer;
use ferry_store::{
    MessageSearch, MessageStore, NewUser, UserStore,
    conformance::{new_message, search_extractor},
    migrate::{MigrateError, MigrateOptions, sqlite_to_postgres},
    postgres::{PgOptions, PgStore},
    sqlite::{SqliteOptions, SqliteStore},
};

fn options() -> MigrateOptions {
    MigrateOptions { search: Some(search_extractor()) }
}

async fn sqlite(path: &Path, log_rows: usize) -> SqliteStore {
    let options = SqliteOptions { log_rows, search: Some(search_extractor()), ..SqliteOptions::default() };
    SqliteStore::open(path, options).await.expect("open SQLite")
}

async fn users(store: &dyn UserStore, prefix: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let user = NewUser {
            username: format!("{prefix}{i}"),
            display_name: format!("U{i}"),
            password_hash: format!("$argon2id$fake${i}"),
            created_at: 1,
        };
        ids.push(store.create_user(user).await.expect("user").id);
    }
    ids
}

/// Messages of `conversations` as the store has them, in seq order.
async fn all_messages(store: &dyn MessageStore, conversations: &[ConversationId]) -> Vec<ferry_store::StoredMessage> {
    let mut out = Vec::new();
    for c in conversations {
        out.extend(store.messages_after(*c, 0, 10_000).await.expect("pull"));
    }
    out
}

async fn search(store: &dyn MessageStore, user: i64, q: &str) -> Vec<u64> {
    let page = store.search_messages(MessageSearch::new(user, Query::parse(q).expect("query"))).await.expect("search");
    page.messages.iter().map(|m| m.server_msg_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_and_merged_messages_all_arrive_and_appends_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let store = sqlite(&path, 8).await;
    let u = users(&store, "u", 4).await;
    let conversations: Vec<ConversationId> = vec![
        ConversationId::direct(u[0], u[1]),
        ConversationId::direct(u[0], u[2]),
        ConversationId::direct(u[2], u[3]),
    ];
    for round in 0..15 {
        let batch = conversations
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut m = new_message(*c, u[i], &format!("m-{round}-{i}"), 1_000 + round);
                if round % 5 == 0 {
                    m.body = format!("我们明天讨论数据库迁移 round {round}").into_bytes();
                }
                m
            })
            .collect();
        store.append_messages(batch).await.expect("append");
    }
    let logged = store.logged_messages();
    let before = all_messages(&store, &conversations).await;
    let found_before = (search(&store, u[0], "数据库").await, search(&store, u[0], "round").await);
    store.close().await;
    assert_eq!(before.len(), 45);
    assert!(logged > 0, "some messages are still logged");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        let merged: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0)).expect("count");
        assert!(merged > 0, "some messages are merged");
    }

    let db = PgServer::shared().database().await;
    let summary = sqlite_to_postgres(&path, &db.url, options()).await.expect("migrate");
    assert_eq!(summary.rows_of("messages"), 45);
    assert_eq!(summary.rows_of("users"), 4);
    assert_eq!(summary.conversations_checked, 3);

    // Every PostgreSQL table got its rows (or is the copy's own business).
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    for row in client
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .await
        .expect("tables")
    {
        let table: String = row.get(0);
        assert!(
            summary.tables.iter().any(|(t, _)| *t == table) || ["ferry_schema", "search_backfill"].contains(&&*table),
            "PostgreSQL table {table} is not filled by the migration"
        );
    }

    let pg = PgStore::connect(&db.url, PgOptions { search: Some(search_extractor()), ..PgOptions::default() })
        .await
        .expect("connect");
    assert_eq!(all_messages(&pg, &conversations).await, before, "every message, as it was");
    assert_eq!((search(&pg, u[0], "数据库").await, search(&pg, u[0], "round").await), found_before);
    assert!(!found_before.0.is_empty());
    assert!(!pg.backfill_search(100).await.expect("backfill"), "nothing left to index");
    for c in &conversations {
        assert_eq!(pg.max_seq(*c).await.expect("max seq"), 15);
        let next = pg.append_messages(vec![new_message(*c, u[0], &format!("after-{c}"), 5_000)]).await;
        assert_eq!(next.expect("append")[0].message.seq, 16, "{c}");
    }
    // A retry of a migrated message is recognised.
    let retry = pg.append_messages(vec![new_message(conversations[0], u[0], "m-3-0", 6_000)]).await.expect("retry");
    assert_eq!(retry[0].message.seq, 4);
    let new = users(&pg, "new", 1).await;
    assert_eq!(new[0], u[3] + 1, "user ids continue after the migrated ones");
    pg.close();

    let again = sqlite_to_postgres(&path, &db.url, options()).await.expect_err("the target holds data");
    assert!(matches!(again, MigrateError::TargetNotEmpty("users")), "{again}");

    // Without search while copying: a node with search on indexes it all.
    let unindexed = PgServer::shared().database().await;
    sqlite_to_postgres(&path, &unindexed.url, MigrateOptions::default()).await.expect("migrate without search");
    let pg = PgStore::connect(&unindexed.url, PgOptions { search: Some(search_extractor()), ..PgOptions::default() })
        .await
        .expect("connect");
    assert!(search(&pg, u[0], "数据库").await.is_empty(), "not indexed yet");
    while pg.backfill_search(10).await.expect("backfill") {}
    assert_eq!((search(&pg, u[0], "数据库").await, search(&pg, u[0], "round").await), found_before);
    pg.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_left_by_a_crash_is_copied_with_what_only_its_wal_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = dir.path().join("live");
    let sqlite_options = SqliteOptions {
        log_rows: 8,
        checkpoint_interval: std::time::Duration::from_secs(3600),
        search: Some(search_extractor()),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open(live.join("ferry.db"), sqlite_options).await.expect("open");
    let u = users(&store, "u", 2).await;
    let c = ConversationId::direct(u[0], u[1]);
    for i in 0..20 {
        store.append_messages(vec![new_message(c, u[i % 2], &format!("m{i}"), i as i64)]).await.expect("append");
    }
    let before = all_messages(&store, &[c]).await;
    // What a power cut leaves: the files as they are, the store still open
    // (nothing is written while they are copied).
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).expect("mkdir");
    for file in ["ferry.db", "ferry.db-wal"] {
        std::fs::copy(live.join(file), crashed.join(file)).expect("copy");
    }
    assert!(std::fs::metadata(crashed.join("ferry.db-wal")).expect("wal").len() > 0, "the WAL holds the writes");
    store.close().await;

    let files = || ["ferry.db", "ferry.db-wal"].map(|f| std::fs::read(crashed.join(f)).expect("read"));
    let untouched = files();

    let db = PgServer::shared().database().await;
    let summary = sqlite_to_postgres(&crashed, &db.url, options()).await.expect("migrate");
    assert_eq!(summary.rows_of("messages"), 20);
    assert!(files() == untouched, "the source is only read: no checkpoint, no recovery written");
    let pg = PgStore::connect(&db.url, PgOptions { search: Some(search_extractor()), ..PgOptions::default() })
        .await
        .expect("connect");
    assert_eq!(all_messages(&pg, &[c]).await, before);
    pg.close();
}

/// Migrates `path` into a fresh database, which must stay empty.
async fn refused(path: &Path) -> String {
    let db = PgServer::shared().database().await;
    let e = sqlite_to_postgres(path, &db.url, options()).await.expect_err("refused");
    assert!(e.is_refusal(), "{e}");
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let tables: i64 = client
        .query_one("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .await
        .expect("tables")
        .get(0);
    assert_eq!(tables, 0, "nothing was written to the target");
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_ferry_store_of_this_version_or_is_in_use_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = refused(&dir.path().join("nothing.db")).await;
    assert!(missing.contains("nothing.db") && missing.contains("No such file"), "{missing}");
    let empty_dir = refused(dir.path()).await;
    assert!(empty_dir.contains("ferry.db"), "a directory means its ferry.db: {empty_dir}");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello, not a database").expect("write");
    assert!(refused(&text).await.contains("not an SQLite database"));

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).expect("open").execute_batch("CREATE TABLE t (a)").expect("create");
    assert!(refused(&other).await.contains("not a Ferry store"));

    let path = dir.path().join("ferry.db");
    sqlite(&path, 8).await.close().await;
    for (version, says) in
        [(13, "start this version's ferry-server on it once"), (99, "the ferry-server version that wrote it")]
    {
        let older = dir.path().join(format!("v{version}.db"));
        std::fs::copy(&path, &older).expect("copy");
        rusqlite::Connection::open(&older).expect("open").pragma_update(None, "user_version", version).expect("set");
        let e = refused(&older).await;
        assert!(e.contains(&format!("version {version}")) && e.contains(says), "{e}");
    }

    // A store open elsewhere (as a running server holds it).
    let store = sqlite(&path, 8).await;
    let e = refused(&path).await;
    assert!(e.contains("in use") && e.contains("stop the node"), "{e}");
    store.close().await;
    // Closed: it goes through (and the refusal wrote nothing to it).
    let db = PgServer::shared().database().await;
    sqlite_to_postgres(dir.path(), &db.url, options()).await.expect("the data directory's ferry.db");
}

/// A larger store, copied whole, and the copy rate: `FERRY_MIGRATE_MESSAGES`
/// messages (default 20,000, a few seconds in CI; BENCHMARKS.md measures one
/// million) of about 100 bytes in up to 10,000 conversations.
/// `FERRY_MIGRATE_MESSAGES=1000000 cargo test -p ferry-store --release --test migrate -- copy_rate --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_rate_of_a_large_store() {
    let total: usize = std::env::var("FERRY_MIGRATE_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ferry.db");
    let store = sqlite(&path, 131_072).await;
    let u = users(&store, "u", 200).await;
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        let batch = (0..1_000.min(total - sent))
            .map(|i| {
                let n = sent + i;
                let (a, b) = (u[n % 200], u[(n / 200 + n) % 200]);
                let c = if a == b { ConversationId::direct(a, u[(n + 1) % 200]) } else { ConversationId::direct(a, b) };
                let mut m = new_message(c, a, &format!("m{n}"), n as i64);
                m.body = format!("message {n}: the database migration plan, 我们明天讨论数据库迁移 and a little more")
                    .into_bytes();
                m
            })
            .collect();
        store.append_messages(batch).await.expect("append");
        sent += 1_000.min(total - sent);
    }
    store.close().await;
    println!("filled {total} messages in {:.1} s", started.elapsed().as_secs_f64());
    let db = PgServer::shared().database().await;
    let summary = sqlite_to_postgres(&path, &db.url, options()).await.expect("migrate");
    assert_eq!(summary.rows_of("messages"), total as u64, "every message copied");
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "migrated {} rows ({} messages) in {secs:.1} s: {:.0} messages/s",
        summary.rows(),
        summary.rows_of("messages"),
        summary.rows_of("messages") as f64 / secs
    );
}
