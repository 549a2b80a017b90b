//! `ferry-server migrate-store` as an operator runs it: what it prints and
//! its exit status — 0 copied and verified, 2 refused (flags, a source that
//! is missing or not a Ferry store, a target that holds data) — with the
//! real binary, a store made by the real SQLite backend and a real
//! PostgreSQL server. What the copy holds is tested in ferry-store
//! (`tests/migrate.rs`) and end to end in ferry-testkit
//! (`tests/migrate_store.rs`).

use std::process::{Command, Output};

use ferry_pgtest::PgServer;
use ferry_store::{
    NewUser, UserStore,
    sqlite::{SqliteOptions, SqliteStore},
};

fn migrate_store(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .arg("migrate-store")
        .args(args)
        .env_remove("FERRY_CONFIG")
        .env("FERRY_LOG", "warn")
        .output()
        .expect("run ferry-server")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_once_and_refuses_with_exit_status_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path().join("ferry.db"), SqliteOptions::default()).await.expect("open");
    let user = NewUser {
        username: "alice".into(),
        display_name: "Alice".into(),
        password_hash: "$argon2id$fake".into(),
        created_at: 1,
    };
    store.create_user(user).await.expect("user");
    store.close().await;
    let db = PgServer::shared().database().await;
    let from = format!("sqlite:{}", dir.path().display());
    let to = db.url.clone();

    // Flags without their scheme are refused before anything is opened.
    let bare = migrate_store(&["--from", &dir.path().display().to_string(), "--to", &to]);
    assert_eq!(bare.status.code(), Some(2), "{}", text(&bare.stderr));
    assert!(text(&bare.stderr).contains("expected sqlite:PATH"), "{}", text(&bare.stderr));
    let no_pg = migrate_store(&["--from", &from, "--to", "mysql://x"]);
    assert_eq!(no_pg.status.code(), Some(2));

    // A source that is not there, or not a Ferry store.
    let missing = migrate_store(&["--from", "sqlite:/nonexistent/ferry.db", "--to", &to]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/ferry.db"), "{}", text(&missing.stderr));
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a database").expect("write");
    let not_ferry = migrate_store(&["--from", &format!("sqlite:{}", notes.display()), "--to", &to]);
    assert_eq!(not_ferry.status.code(), Some(2));
    assert!(text(&not_ferry.stderr).contains("not a Ferry store"), "{}", text(&not_ferry.stderr));

    // The copy: a summary on stdout, exit status 0.
    let copied = migrate_store(&["--from", &from, "--to", &to]);
    assert_eq!(copied.status.code(), Some(0), "{}", text(&copied.stderr));
    let summary = text(&copied.stdout);
    assert!(summary.contains("migrated") && summary.contains("verified"), "{summary}");
    let users = summary.lines().find(|l| l.trim_start().starts_with("users ")).expect("a users line");
    assert!(users.trim_end().ends_with(" 1"), "{users}");
    assert!(!summary.contains(&to), "the URL (and any password in it) is not printed: {summary}");

    // Again into the same database: refused, nothing changed.
    let again = migrate_store(&["--from", &from, "--to", &format!("postgres:{to}")]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("not empty"), "{}", text(&again.stderr));
}
