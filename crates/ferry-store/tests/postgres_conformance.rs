//! The store conformance suite against a real PostgreSQL server (started
//! by `ferry_pgtest`, a fresh database per test), plus what only
//! PostgreSQL can show: several stores — nodes — appending to the same
//! conversations at once, migrations run by nodes starting together, a
//! database newer than this build, and the server going away mid-use.

#![cfg(feature = "postgres")]

use std::{collections::HashMap, sync::Arc};

use ferry_core::ConversationId;
use ferry_pgtest::{PgServer, TestDatabase};
use ferry_store::{
    ConversationStore, MessageStore, StoreError, UserStore,
    conformance::new_message,
    postgres::{PgOptions, PgStore, SCHEMA_VERSION},
};

/// A store on a fresh database; the database lives as long as the guard.
async fn fresh_store() -> (PgStore, TestDatabase) {
    let db = PgServer::shared().database().await;
    let store = PgStore::connect(&db.url, options()).await.expect("connect");
    (store, db)
}

/// Options as the suite needs them: search reads bodies as it writes them.
fn options() -> PgOptions {
    PgOptions { search: Some(ferry_store::conformance::search_extractor()), ..PgOptions::default() }
}

mod conformance {
    use super::*;
    ferry_store::store_conformance_tests!(fresh_store());
}

/// Runs `sql` on `url` (outside any store).
async fn psql(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Stores on one database: the nodes of a cluster.
async fn nodes(db: &TestDatabase, n: usize) -> Vec<Arc<PgStore>> {
    let mut stores = Vec::with_capacity(n);
    for _ in 0..n {
        stores.push(Arc::new(PgStore::connect(&db.url, options()).await.expect("connect")));
    }
    stores
}

/// Four nodes × six tasks append batches to the same three conversations
/// at once, and retry some of their messages through another node — to the
/// same conversation, and (a misbehaving client) to another one at the
/// same moment. Every conversation ends with seqs exactly 1..=N, every
/// ack is what is stored under its client id, and each client id is
/// stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_append_to_shared_conversations_gap_free() {
    let db = PgServer::shared().database().await;
    let stores = nodes(&db, 4).await;
    let mut users = Vec::new();
    for i in 0..4 {
        let user = ferry_store::NewUser {
            username: format!("u{i}"),
            display_name: format!("U{i}"),
            password_hash: "h".into(),
            created_at: 1,
        };
        users.push(stores[0].create_user(user).await.expect("user").id);
    }
    let convs = [ConversationId::direct(users[0], users[1]), ConversationId::Group(1), ConversationId::Group(2)];
    let mut tasks = Vec::new();
    for t in 0..24usize {
        let stores = stores.clone();
        let sender = users[t % users.len()];
        tasks.push(tokio::spawn(async move {
            let node = &stores[t % stores.len()];
            let other = &stores[(t + 1) % stores.len()];
            let mut acks = Vec::new();
            let mut i = 0;
            while i < 30 {
                // Batches of 1-4 messages spread over the conversations.
                let size = t % 4 + 1;
                let batch: Vec<_> = (i..i + size)
                    .map(|j| new_message(convs[(t + j) % convs.len()], sender, &format!("t{t}-{j}"), j as i64))
                    .collect();
                i += size;
                let retry = batch[0].clone();
                if i % 3 == 0 {
                    // The same message through two nodes at once.
                    let (a, b) = tokio::join!(node.append_messages(batch), other.append_messages(vec![retry]));
                    let (a, b) = (a.expect("append"), b.expect("retry"));
                    assert_eq!(a[0].message, b[0].message, "both nodes ack the one stored message");
                    assert!(a[0].duplicate != b[0].duplicate, "exactly one of them stored it");
                    acks.extend(a);
                    acks.extend(b);
                } else if i % 3 == 1 {
                    // The same client id to another conversation at once:
                    // one of the two is stored, the other is its duplicate.
                    let mut elsewhere = retry;
                    elsewhere.conversation = convs[(t + 1) % convs.len()];
                    elsewhere.server_msg_id += 1 << 32;
                    let (a, b) = tokio::join!(node.append_messages(batch), other.append_messages(vec![elsewhere]));
                    let (a, b) = (a.expect("append"), b.expect("retry elsewhere"));
                    assert_eq!(a[0].message, b[0].message, "one message under one client id");
                    assert!(a[0].duplicate != b[0].duplicate);
                    acks.extend(a);
                    acks.extend(b);
                } else {
                    acks.extend(node.append_messages(batch).await.expect("append"));
                    // A later retry through another node.
                    let again =
                        other.append_messages(vec![new_message(convs[0], sender, &format!("t{t}-{}", i - size), 0)]);
                    let again = again.await.expect("late retry");
                    assert!(again[0].duplicate, "a late retry is a duplicate");
                    acks.extend(again);
                }
            }
            (acks, i)
        }));
    }
    let (mut acks, mut sent) = (Vec::new(), 0);
    for task in tasks {
        let (task_acks, task_sent) = task.await.expect("task");
        acks.extend(task_acks);
        sent += task_sent;
    }

    let mut stored: HashMap<(i64, String), ferry_store::StoredMessage> = HashMap::new();
    let mut total = 0;
    for conv in convs {
        let messages = stores[3].messages_after(conv, 0, u32::MAX).await.expect("messages");
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=messages.len() as u64).collect::<Vec<_>>(), "{conv}: dense from 1");
        assert_eq!(stores[2].max_seq(conv).await.expect("max_seq"), messages.len() as u64);
        total += messages.len();
        for m in messages {
            let key = (m.sender, m.client_msg_id.clone());
            assert!(stored.insert(key, m).is_none(), "each client id is stored once");
        }
    }
    assert_eq!(total, sent, "every message stored exactly once");
    for ack in &acks {
        let key = (ack.message.sender, ack.message.client_msg_id.clone());
        assert_eq!(stored.get(&key), Some(&ack.message), "the ack is what is stored");
    }
}

/// A fresh database is migrated to this build's version; connecting again
/// finds its data and migrates nothing.
#[tokio::test]
async fn migrations_fresh_and_reopen() {
    let db = PgServer::shared().database().await;
    let store = PgStore::connect(&db.url, options()).await.expect("connect");
    let conv = ConversationId::Group(1);
    store.append_messages(vec![new_message(conv, 1, "m1", 1)]).await.expect("append");
    store.close();
    drop(store);
    let version: i32 = psql(&db.url, "SELECT version FROM ferry_schema").await[0].get(0);
    assert_eq!(version, SCHEMA_VERSION);

    let store = PgStore::connect(&db.url, options()).await.expect("reconnect");
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 1, "the data is still there");
    let next = store.append_messages(vec![new_message(conv, 1, "m2", 2)]).await.expect("append");
    assert_eq!(next[0].message.seq, 2);
    let rows = psql(&db.url, "SELECT count(*) FROM ferry_schema").await;
    assert_eq!(rows[0].get::<_, i64>(0), 1);
}

/// A database written by a newer Ferry is refused with a clear error, and
/// left as it is.
#[tokio::test]
async fn migrations_refuse_a_newer_schema() {
    let db = PgServer::shared().database().await;
    drop(PgStore::connect(&db.url, options()).await.expect("connect"));
    psql(&db.url, &format!("UPDATE ferry_schema SET version = {}", SCHEMA_VERSION + 1)).await;
    match PgStore::connect(&db.url, options()).await {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("newer than this build"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let version: i32 = psql(&db.url, "SELECT version FROM ferry_schema").await[0].get(0);
    assert_eq!(version, SCHEMA_VERSION + 1, "untouched");
}

/// Nodes starting together on an empty database: one migrates, the others
/// wait for it and find the schema current; all of them work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_concurrent_connects() {
    let db = PgServer::shared().database().await;
    let connects: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { PgStore::connect(&url, options()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for connect in connects {
        stores.push(connect.await.expect("task").expect("every node connects"));
    }
    let version: i32 = psql(&db.url, "SELECT version FROM ferry_schema").await[0].get(0);
    assert_eq!(version, SCHEMA_VERSION);
    for (i, store) in stores.iter().enumerate() {
        let appended = store.append_messages(vec![new_message(ConversationId::Group(1), 1, &format!("n{i}"), 1)]);
        assert_eq!(appended.await.expect("append")[0].message.seq, i as u64 + 1);
    }
}

/// PostgreSQL stopped mid-use: writes and reads fail with `Unavailable` (an
/// append is never acknowledged), and everything works again once it is
/// back, without reconnecting the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_outage_fails_calls_and_recovers() {
    let mut server = PgServer::dedicated();
    let db = server.database().await;
    let store = PgStore::connect(&db.url, PgOptions { max_connections: 4, ..options() }).await.expect("connect");
    let conv = ConversationId::Group(1);
    store.append_messages(vec![new_message(conv, 1, "before", 1)]).await.expect("append");

    tokio::task::block_in_place(|| server.stop());
    assert!(store.ping().await.is_err(), "the readiness ping fails");
    let during = store.append_messages(vec![new_message(conv, 1, "during", 2)]).await;
    assert!(matches!(during, Err(StoreError::Unavailable(_))), "no ack while the database is down: {during:?}");
    assert!(matches!(store.max_seq(conv).await, Err(StoreError::Unavailable(_))), "reads fail too");
    assert!(store.conversations_of(1).await.is_err());

    tokio::task::block_in_place(|| server.restart());
    store.ping().await.expect("the ping answers again");
    assert_eq!(store.max_seq(conv).await.expect("max_seq after the restart"), 1, "nothing was half-written");
    let after = store.append_messages(vec![new_message(conv, 1, "during", 3)]).await.expect("the retry");
    assert_eq!((after[0].message.seq, after[0].duplicate), (2, false));
}

/// Messages stored while search was off are found once the backfill has
/// indexed them; those stored with search on are found at once.
#[tokio::test]
async fn search_backfill_indexes_what_was_stored_without_search() {
    use ferry_core::search::Query;
    let db = PgServer::shared().database().await;
    let off = PgStore::connect(&db.url, PgOptions::default()).await.expect("connect without search");
    let dm = ConversationId::direct(1, 2);
    let batch = (0..5).map(|i| ferry_store::NewMessage {
        body: format!("旧消息 old {i}").into_bytes(),
        ..new_message(dm, 1, &format!("o{i}"), i)
    });
    off.append_messages(batch.collect()).await.expect("append");
    assert!(!off.backfill_search(10).await.expect("backfill"), "nothing to do without search");
    drop(off);

    let on = PgStore::connect(&db.url, options()).await.expect("connect with search");
    let new = ferry_store::NewMessage { body: "旧消息 new".as_bytes().to_vec(), ..new_message(dm, 2, "n1", 9) };
    on.append_messages(vec![new]).await.expect("append");
    let search = || ferry_store::MessageSearch {
        limit: 100,
        ..ferry_store::MessageSearch::new(2, Query::parse("旧消息").expect("query"))
    };
    let found = on.search_messages(search()).await.expect("search");
    assert_eq!(found.messages.len(), 1, "only the message stored with search on");
    let mut steps = 0;
    while on.backfill_search(2).await.expect("backfill") {
        steps += 1;
        assert!(steps < 10, "the backfill ends");
    }
    assert_eq!(on.search_messages(search()).await.expect("search").messages.len(), 6);
    assert!(!on.backfill_search(2).await.expect("done"), "nothing left");
}

/// A malformed URL and an unreachable server are errors that say so.
#[tokio::test]
async fn connect_errors_are_clear() {
    match PgStore::connect("postgres://u@h:notaport/db", PgOptions::default()).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("PostgreSQL URL"), "{message}"),
        other => panic!("expected a URL error, got {other:?}"),
    }
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/ferry");
    match PgStore::connect(&url, PgOptions::default()).await {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("PostgreSQL"), "{message}"),
        other => panic!("expected a connection error, got {other:?}"),
    }
}

/// PostgreSQL stopped while appends stream in: each append is either
/// acknowledged or fails, appends go through again after the restart, and
/// every acknowledged message is stored as acknowledged, seqs still dense.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_stream_never_loses_an_ack() {
    let mut server = PgServer::dedicated();
    let db = server.database().await;
    let store =
        Arc::new(PgStore::connect(&db.url, PgOptions { max_connections: 4, ..options() }).await.expect("connect"));
    let conv = ConversationId::Group(1);
    let stop = Arc::new(tokio::sync::Notify::new());
    let restarted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (store, stop, restarted) = (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&restarted));
        tokio::spawn(async move {
            let (mut acked, mut failed, mut after_restart) = (Vec::new(), 0, 0);
            let mut i = 0;
            // Until 20 batches went through after the restart.
            while after_restart < 20 {
                i += 1;
                assert!(i < 20_000, "appends work again after the restart");
                if i == 100 {
                    stop.notify_one();
                }
                let batch = (0..5).map(|j| new_message(conv, 1, &format!("s{i}-{j}"), i)).collect();
                let back = restarted.load(std::sync::atomic::Ordering::SeqCst);
                match store.append_messages(batch).await {
                    Ok(appended) => {
                        acked.extend(appended.into_iter().map(|a| a.message));
                        after_restart += usize::from(back);
                    }
                    Err(_) => failed += 1,
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            (acked, failed)
        })
    };
    stop.notified().await;
    tokio::task::block_in_place(|| server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| server.restart());
    restarted.store(true, std::sync::atomic::Ordering::SeqCst);
    let (acked, failed) = sender.await.expect("sender");
    assert!(failed > 0, "some appends met the outage");
    assert!(acked.len() >= 99 * 5 + 20 * 5, "appends before and after the outage went through");

    let stored = store.messages_after(conv, 0, u32::MAX).await.expect("messages after the restart");
    let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=stored.len() as u64).collect::<Vec<_>>(), "dense");
    let by_id: HashMap<&str, &ferry_store::StoredMessage> =
        stored.iter().map(|m| (m.client_msg_id.as_str(), m)).collect();
    for message in &acked {
        assert_eq!(by_id.get(message.client_msg_id.as_str()), Some(&message), "an ack is a stored message");
    }
}
