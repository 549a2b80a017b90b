//! `migrate-store`: a single node's install moved to PostgreSQL as an
//! operator would. A real node on SQLite (with a tiny message log, so its
//! messages lie merged, in a sealed log table and in the current one) gets
//! users with several devices, friends, a remark, a block, a pending
//! request, a group with roles, direct and group messages of every kind
//! that changes later (replies, mentions, a file, edits, recalls,
//! reactions, pins), delete-for-me, a cleared history, read positions and
//! conversation settings. The migration refuses it while it runs; once it
//! is stopped, the copy is verified, and a node on PostgreSQL then answers
//! every question exactly as the old one did — with the old sessions and
//! passwords — and carries on from there: new messages at max seq + 1,
//! fresh ids, incremental syncs from the old versions. A second run into
//! the filled database is refused.

use std::{collections::BTreeMap, fmt::Debug};

use ferry_client::{
    HttpApi, Target,
    api::{GroupUpdate, NewGroup},
    edit_op, file_content, message_op, pin_op, react_op, replying_to, revoke_op, send_message, text_content,
    text_with_mentions, v1,
};
use ferry_core::Role;
use ferry_server::{
    Config,
    config::MigrateStoreArgs,
    migrate::{MigrateError, migrate_store},
};
use ferry_testkit::{
    PASSWORD, TestServer, TestUser,
    files::content,
    http::Api,
    ids::{direct_conversation, group_conversation},
    postgres,
};

/// Everything a user's devices can ask about, by name.
type Snapshot = BTreeMap<String, String>;

fn put(snapshot: &mut Snapshot, what: impl Into<String>, value: impl Debug) {
    snapshot.insert(what.into(), format!("{value:#?}"));
}

/// What `api` (a user's token on some node) is answered, as text.
async fn snapshot(api: &HttpApi, group: i64) -> Snapshot {
    let mut s = Snapshot::new();
    let conversations = api.conversations().await.expect("conversations");
    for c in &conversations {
        let messages = api.messages(&c.conversation_id, 0, 1000).await.expect("pull").messages;
        put(&mut s, format!("messages {}", c.conversation_id), &messages);
        put(&mut s, format!("pins {}", c.conversation_id), api.pins(&c.conversation_id).await.expect("pins"));
    }
    put(&mut s, "conversations", &conversations);
    for query in ["数据库", "database", "report", "迁移计划", "edited"] {
        let search = v1::Search { query: query.into(), ..Default::default() };
        put(&mut s, format!("search {query}"), api.search(&search).await.expect("search"));
    }
    let files = v1::Search { kinds: vec!["file".into()], ..Default::default() };
    put(&mut s, "search files", api.search(&files).await.expect("search"));
    put(&mut s, "contacts", api.contact_changes(0).await.expect("contacts"));
    put(&mut s, "friends", api.friends().await.expect("friends"));
    put(&mut s, "blocks", api.blocks().await.expect("blocks"));
    put(&mut s, "requests", api.friend_requests().await.expect("requests"));
    put(&mut s, "groups", api.groups().await.expect("groups"));
    if let Ok(members) = api.member_changes(group, 0).await {
        put(&mut s, "members", members);
    }
    put(&mut s, "hidden", api.hidden_changes(0).await.expect("hidden"));
    put(&mut s, "settings", api.conversation_settings_changes(0).await.expect("settings"));
    put(&mut s, "me", api.me().await.expect("me"));
    s
}

fn assert_same(before: &Snapshot, after: &Snapshot, who: &str) {
    assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "{who}: what there is");
    for (what, was) in before {
        assert_eq!(was, &after[what], "{who}: {what} differs after the migration");
    }
}

async fn send(user: &TestUser, id: &str, to: Target, content: v1::MessageContent) -> v1::SendAck {
    user.http.send(&send_message(id, to, content)).await.expect("sent")
}

async fn op(user: &TestUser, conversation: &str, seq: u64, what: v1::message_op::Op) -> v1::OpAck {
    user.http.op(&message_op(conversation, seq, what)).await.expect("op")
}

/// The same user's token on another node.
fn on(server: &TestServer, user: &TestUser) -> HttpApi {
    server.http().with_token(user.token.clone())
}

/// A realistic install: see the module docs. Returns the group's id.
async fn fill(server: &TestServer, alice: &TestUser, bob: &TestUser, carol: &TestUser, dave: &TestUser) -> i64 {
    let api = Api::new(server);
    api.befriend(alice, bob).await;
    api.befriend(alice, carol).await;
    bob.http.set_remark(alice.id, "Ally").await.expect("remark");
    carol.http.block(dave.id).await.expect("block");
    api.friend_request(dave, alice, "hi, it's dave").await;

    let new = NewGroup { name: "crew".into(), members: vec![bob.id, carol.id, dave.id], ..NewGroup::default() };
    let group = alice.http.create_group(&new).await.expect("group").id;
    alice.http.set_member_role(group, bob.id, Role::Admin).await.expect("admin");
    let notice = GroupUpdate { notice: Some("ship it friday".into()), ..GroupUpdate::default() };
    alice.http.update_group(group, &notice).await.expect("notice");
    dave.http.leave_group(group).await.expect("leave");
    let g = group_conversation(group);
    let ab = direct_conversation(alice.id, bob.id);
    let ac = direct_conversation(alice.id, carol.id);

    // Plenty of plain traffic, so the tiny log seals and merges.
    let mut group_seqs = Vec::new();
    for i in 0..60 {
        let (from, to) = if i % 2 == 0 { (alice, Target::User(bob.id)) } else { (bob, Target::User(alice.id)) };
        send(from, &format!("ab-{i}"), to, text_content(format!("hello number {i}"))).await;
        if i % 3 == 0 {
            let ack =
                send(carol, &format!("g-{i}"), Target::group(group), text_content(format!("group line {i}"))).await;
            group_seqs.push(ack.seq);
        }
    }
    send(alice, "zh", Target::User(bob.id), text_content("我们明天讨论数据库迁移")).await;
    send(bob, "en", Target::User(alice.id), text_content("The database migration plan is ready")).await;
    send(carol, "zh-g", Target::group(group), text_content("迁移计划: 数据库 first")).await;
    let mention = ferry_client::Mentions { user_ids: vec![bob.id], all: false };
    send(alice, "at-bob", Target::group(group), text_with_mentions("@bob see the database report", mention)).await;
    let reply = send(bob, "reply", Target::User(alice.id), replying_to(text_content("yes, database it is"), 1)).await;

    let report = api.upload(alice, "report.pdf", "application/pdf", content(40_000, 7)).await;
    send(alice, "file", Target::User(carol.id), file_content(&report)).await;
    send(carol, "thanks", Target::User(alice.id), text_content("thanks for the report")).await;

    // Changes to earlier messages.
    let edited = send(alice, "to-edit", Target::User(bob.id), text_content("first draft")).await;
    op(alice, &ab, edited.seq, edit_op("edited: database schema")).await;
    let recalled = send(alice, "to-recall", Target::User(bob.id), text_content("oops database password")).await;
    op(alice, &ab, recalled.seq, revoke_op()).await;
    op(bob, &ab, reply.seq, react_op("👍", false)).await;
    op(alice, &ab, reply.seq, react_op("👍", false)).await;
    op(bob, &g, group_seqs[0], react_op("🎉", false)).await;
    op(bob, &g, group_seqs[1], pin_op(false)).await;
    op(carol, &g, group_seqs[2], revoke_op()).await;
    op(alice, &ab, 2, pin_op(false)).await;

    // Per-user state.
    let hide = v1::HideMessages { conversation_id: ab.clone(), seqs: vec![3, 5], ..Default::default() };
    bob.http.hide(&hide).await.expect("hide");
    let clear = v1::HideMessages { conversation_id: ac.clone(), clear: true, up_to_seq: 1, ..Default::default() };
    carol.http.hide(&clear).await.expect("clear");
    bob.http.mark_read(&ab, 20).await.expect("read");
    carol.http.mark_read(&g, 4).await.expect("read");
    let settings = v1::ConversationSettings {
        conversation_id: g.clone(),
        pinned: Some(true),
        muted: Some(true),
        draft: Some("half a thought".into()),
        ..Default::default()
    };
    bob.http.update_conversation(&settings).await.expect("settings");
    let archive = v1::ConversationSettings { conversation_id: ac, archived: Some(true), ..Default::default() };
    alice.http.update_conversation(&archive).await.expect("archive");
    group
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_node_moves_to_postgres_losing_nothing_and_carries_on() {
    let source = TestServer::start_with(|c| c.storage.log_rows = 16).await;
    let alice = source.user("alice").await;
    let alice_phone = source.login_on("alice", "ios").await;
    let bob = source.user("bob").await;
    let carol = source.user("carol").await;
    let dave = source.user("dave").await;
    let group = fill(&source, &alice, &bob, &carol, &dave).await;
    let users = [&alice, &alice_phone, &bob, &carol, &dave];
    let mut before = Vec::new();
    for user in users {
        before.push(snapshot(&user.http, group).await);
    }
    // The comparison below is about something: search finds, in both
    // scripts, and the recall and the edit show.
    let alice_before = &before[0];
    assert!(alice_before["search 数据库"].contains("我们明天讨论数据库迁移"), "{}", alice_before["search 数据库"]);
    assert!(alice_before["search database"].contains("The database migration plan is ready"));
    assert!(alice_before["search files"].contains("report.pdf"));
    assert!(
        alice_before[&format!("messages {}", direct_conversation(alice.id, bob.id))]
            .contains("edited: database schema")
    );
    assert!(before[2]["hidden"].contains("seq: 5"));
    let bob_ab_before = bob
        .http
        .conversations()
        .await
        .expect("list")
        .into_iter()
        .find(|c| c.conversation_id == direct_conversation(alice.id, bob.id))
        .expect("bob's chat with alice");
    assert_eq!(bob_ab_before.read_seq, 20);

    let db = postgres::database().await;
    let args = MigrateStoreArgs { from: source.data_dir(), to: db.url.clone() };
    // A running node holds its database: refused, and nothing written.
    let running = migrate_store(&source.config, &args).await.expect_err("the node still runs");
    assert!(matches!(running, MigrateError::Source(ref m) if m.contains("in use")), "{running}");
    assert!(running.is_refusal());

    let (config, data): (Config, _) = source.stop().await;
    let summary = migrate_store(&config, &args).await.expect("migrated");
    assert_eq!(summary.rows_of("users"), 4);
    assert_eq!(summary.rows_of("sessions"), 5);
    assert!(summary.rows_of("messages") > 100, "{summary:?}");
    assert_eq!(summary.rows_of("groups"), 1);
    assert_eq!(summary.rows_of("files"), 1);
    assert!(summary.conversations_checked >= 3);
    let printed = ferry_server::migrate::report(&summary);
    assert!(printed.contains("messages") && printed.contains("verified"), "{printed}");

    // The cluster's first node: PostgreSQL, and the old blob directory
    // (what `aws s3 sync` would have copied to its bucket).
    let files_dir = data.path().join("files");
    let target = TestServer::start_with(|c| {
        postgres::use_database(c, &db);
        c.files.dir = files_dir.clone();
    })
    .await;
    for (user, was) in users.iter().zip(&before) {
        assert_same(was, &snapshot(&on(&target, user), group).await, &user.username);
    }
    // Passwords too: a new login works with the old password.
    let again = target.http().login("carol", PASSWORD, "web", None).await.expect("login with the old password");
    assert_eq!(again.user.id, carol.id);

    // The file's bytes are served from the copied blobs.
    let found = on(&target, &alice).search(&v1::Search { kinds: vec!["file".into()], ..Default::default() }).await;
    let file_id = found.expect("search").hits[0]
        .message
        .as_ref()
        .and_then(ferry_client::media_file_of)
        .expect("a file")
        .file_id
        .clone();
    let (status, bytes) = Api::new(&target).download(&format!("/files/{file_id}"), Some(&carol)).await;
    assert_eq!((status, bytes), (200, content(40_000, 7)));

    // Carrying on: the next seq of every conversation, new ids everywhere.
    let conversations = on(&target, &alice).conversations().await.expect("list");
    let mut ids = std::collections::HashSet::new();
    for old in
        on(&target, &alice).messages(&direct_conversation(alice.id, bob.id), 0, 1000).await.expect("pull").messages
    {
        ids.insert(old.server_msg_id);
    }
    for c in &conversations {
        let to = match c.kind.as_str() {
            "group" => Target::group(group),
            _ => Target::User(c.peer_user_id),
        };
        let ack = on(&target, &alice)
            .send(&send_message(format!("after-{}", c.conversation_id), to, text_content("after the move")))
            .await
            .expect("send after the migration");
        assert_eq!(ack.seq, c.max_seq + 1, "{}", c.conversation_id);
        assert!(!ack.duplicate);
        assert!(ids.insert(ack.server_msg_id), "a fresh server_msg_id");
    }
    // An old client_msg_id is still deduplicated.
    let retry = on(&target, &bob).send(&send_message("en", Target::User(alice.id), text_content("x"))).await;
    assert!(retry.expect("a retry is answered").duplicate);
    // Unread moved on by the one new message, from the old read position.
    let ab = direct_conversation(alice.id, bob.id);
    let bob_list = on(&target, &bob).conversations().await.expect("list");
    let bob_ab = bob_list.iter().find(|c| c.conversation_id == ab).expect("bob's chat with alice");
    assert_eq!((bob_ab.read_seq, bob_ab.unread), (bob_ab_before.read_seq, bob_ab_before.unread + 1));

    // New rows get ids after the old ones.
    let erin = target.user("erin").await;
    assert!(erin.id > dave.id, "user ids continue: {} after {}", erin.id, dave.id);
    let new_group = on(&target, &alice)
        .create_group(&NewGroup { name: "second".into(), members: vec![erin.id], ..NewGroup::default() })
        .await
        .expect("a new group");
    assert!(new_group.id > group);
    let request = on(&target, &erin).send_friend_request(ferry_client::UserRef::Id(carol.id), None).await;
    let request = request.expect("a new friend request");
    let old_requests = on(&target, &alice).friend_requests().await.expect("requests");
    assert!(old_requests.iter().all(|r| r.id < request.id), "request ids continue");

    // Versioned syncs continue incrementally from the old versions.
    let contacts = on(&target, &carol).contact_changes(0).await.expect("contacts");
    let later = on(&target, &carol).contact_changes(contacts.version).await.expect("contacts");
    assert!(later.friends.is_empty() && later.blocks.is_empty() && later.requests.is_empty());
    on(&target, &carol).unblock(dave.id).await.expect("unblock");
    let after_unblock = on(&target, &carol).contact_changes(contacts.version).await.expect("contacts");
    assert_eq!(after_unblock.version, contacts.version + 1);
    assert_eq!(after_unblock.blocks.len(), 1);
    let members = on(&target, &alice).member_changes(group, 0).await.expect("members");
    on(&target, &alice).invite(group, &[erin.id]).await.expect("invite");
    let added = on(&target, &alice).member_changes(group, members.version).await.expect("members");
    assert_eq!(added.members.iter().map(|m| m.user_id).collect::<Vec<_>>(), [erin.id]);
    let hidden = on(&target, &bob).hidden_changes(0).await.expect("hidden");
    let more = v1::HideMessages { conversation_id: ab.clone(), seqs: vec![7], ..Default::default() };
    let hid = on(&target, &bob).hide(&more).await.expect("hide");
    assert_eq!(hid.version, hidden.version + 1);
    let since = on(&target, &bob).hidden_changes(hidden.version).await.expect("hidden");
    assert_eq!(since.hidden.iter().map(|h| h.seq).collect::<Vec<_>>(), [7]);

    // Search still finds what it found, and what is new.
    let hits = on(&target, &bob).search(&v1::Search { query: "move".into(), ..Default::default() }).await;
    assert!(!hits.expect("search").hits.is_empty());

    // Into a database that now holds data: refused, exit status 2.
    target.stop().await;
    let refused = migrate_store(&config, &args).await.expect_err("not empty");
    assert!(matches!(refused, MigrateError::TargetNotEmpty("users")), "{refused}");
    assert!(refused.is_refusal());
}
