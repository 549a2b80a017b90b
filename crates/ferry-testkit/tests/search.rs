//! Full-text search over real sockets: Chinese found by substring and
//! English by prefix over the long connection (TCP and WebSocket) and HTTP,
//! recalled and edited-away text gone at once, filters and paging, group
//! history visibility, what a user deleted for themselves, friends and
//! groups by name, a restart, and every refusal with its code while the
//! server keeps serving.

use ferry_client::{
    Client, Target,
    api::NewGroup,
    content::{edit_op, message_op, revoke_op, text_content},
    v1::{self, message_content::Kind},
};
use ferry_core::ErrorCode;
use ferry_testkit::{
    TestServer, TestUser,
    http::{Api, error_code},
    ids::direct_conversation,
    sdk::api_code,
};
use reqwest::Method;

fn search(query: &str) -> v1::Search {
    v1::Search { query: query.into(), ..Default::default() }
}

/// The found texts, newest first.
fn texts(result: &v1::SearchResult) -> Vec<String> {
    result
        .hits
        .iter()
        .map(|h| ferry_client::content::text_of(h.message.as_ref().expect("a hit has its message")).into_owned())
        .collect()
}

/// The highlighted parts of every hit's snippet.
fn highlighted(result: &v1::SearchResult) -> Vec<Vec<String>> {
    result.hits.iter().map(|h| h.snippet.iter().filter(|p| p.hit).map(|p| p.text.clone()).collect()).collect()
}

async fn found(c: &Client, query: &str) -> Vec<String> {
    texts(&c.search(search(query)).await.expect("search"))
}

async fn send(c: &Client, to: Target, content: v1::MessageContent) -> v1::SendAck {
    c.send_with_id(ferry_client::new_client_msg_id(), to, content).await.expect("sent")
}

/// A file message for a file `sender` uploads now.
async fn file_named(server: &TestServer, sender: &TestUser, name: &str) -> v1::MessageContent {
    let uploaded = Api::new(server).upload(sender, name, "application/pdf", b"%PDF-1.4 report".to_vec()).await;
    let file = v1::FileRef { file_id: uploaded.id, ..Default::default() };
    v1::MessageContent { kind: Some(Kind::File(v1::File { file: Some(file) })), ..Default::default() }
}

#[tokio::test]
async fn chinese_by_substring_english_by_prefix_and_recalls_and_edits_take_effect_at_once() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let conv = direct_conversation(alice.id, bob.id);
    let (a, _a_events) = alice.connect_tcp().await;
    let (b, _b_events) = bob.connect_ws().await;
    let plan = send(&a, Target::User(bob.id), text_content("我们明天讨论数据库迁移")).await;
    send(&a, Target::User(bob.id), text_content("Database backup finished at 3am")).await;
    let lunch = send(&a, Target::User(bob.id), text_content("午饭吃什么？")).await;
    send(&b, Target::User(alice.id), text_content("数据库索引太慢了")).await;

    // Over WebSocket, newest first, with the match highlighted.
    let result = b.search(search("数据库")).await.expect("search");
    assert_eq!(texts(&result), ["数据库索引太慢了", "我们明天讨论数据库迁移"]);
    assert_eq!(highlighted(&result), [["数据库"], ["数据库"]]);
    assert_eq!(result.hits[1].message.as_ref().map(|m| m.seq), Some(plan.seq));
    assert!(result.next_cursor.is_empty(), "one page holds everything");
    // Two characters and one character are found too.
    assert_eq!(found(&b, "迁移").await, ["我们明天讨论数据库迁移"]);
    assert_eq!(found(&a, "饭").await, ["午饭吃什么？"]);
    // Over HTTP: English by word prefix, case-insensitively.
    let over_http = alice.http.search(&search("datab 3AM")).await.expect("search");
    assert_eq!(texts(&over_http), ["Database backup finished at 3am"]);
    assert_eq!(highlighted(&over_http), [["Datab", "3am"]]);
    assert!(found(&a, "base").await.is_empty(), "words match by prefix, not inside");
    // Accents do not matter; the highlight covers the word as written.
    send(&b, Target::User(alice.id), text_content("Réunion à Zürich, café après")).await;
    let accents = alice.http.search(&search("reunion CAFE")).await.expect("search");
    assert_eq!(texts(&accents), ["Réunion à Zürich, café après"]);
    assert_eq!(highlighted(&accents), [["Réunion", "café"]]);
    assert_eq!(found(&a, "zür").await, ["Réunion à Zürich, café après"]);
    // Someone outside the conversation finds nothing.
    let (c, _) = carol.connect_tcp().await;
    assert!(found(&c, "数据库").await.is_empty());

    // A recall and an edit: the old text is gone for both sides at once.
    a.op(message_op(&conv, plan.seq, revoke_op())).await.expect("recall");
    a.op(message_op(&conv, lunch.seq, edit_op("晚饭吃火锅"))).await.expect("edit");
    assert!(found(&b, "迁移").await.is_empty(), "a recalled message is not found");
    assert_eq!(found(&b, "数据库").await, ["数据库索引太慢了"]);
    assert!(found(&a, "午饭").await.is_empty(), "the edited-away text is not found");
    assert_eq!(found(&b, "火锅").await, ["晚饭吃火锅"]);

    // Everything holds after a restart (the log is rebuilt from disk).
    let server = server.restart().await;
    let bob = server.login("bob").await;
    let (b, _) = bob.connect_tcp().await;
    assert_eq!(found(&b, "数据库").await, ["数据库索引太慢了"]);
    assert!(found(&b, "迁移").await.is_empty());
    assert_eq!(found(&b, "火锅").await, ["晚饭吃火锅"]);
}

#[tokio::test]
async fn filters_files_by_name_and_pages() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let (a, _) = alice.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let (c, _) = carol.connect_tcp().await;
    for i in 0..12 {
        send(&a, Target::User(bob.id), text_content(format!("weekly report {i}"))).await;
    }
    for i in 0..13 {
        send(&c, Target::User(bob.id), text_content(format!("report from carol {i}"))).await;
    }
    send(&a, Target::User(bob.id), file_named(&server, &alice, "季度报告 Q3.pdf").await).await;

    // Files by name, by kind alone, and kinds excluding them.
    let files = v1::Search { kinds: vec!["file".into()], ..search("报告") };
    let result = b.search(files).await.expect("search");
    assert_eq!(result.hits.len(), 1);
    assert_eq!(highlighted(&result), [["报告"]]);
    assert_eq!(b.search(v1::Search { kinds: vec!["file".into()], ..search("") }).await.expect("search").hits.len(), 1);
    assert!(
        b.search(v1::Search { kinds: vec!["text".into()], ..search("报告") }).await.expect("search").hits.is_empty()
    );
    // Sender and conversation filters.
    let from_carol = v1::Search { sender_id: carol.id, ..search("report") };
    assert_eq!(b.search(from_carol).await.expect("search").hits.len(), 13);
    let with_alice = v1::Search { conversation_id: direct_conversation(alice.id, bob.id), ..search("report") };
    assert_eq!(b.search(with_alice).await.expect("search").hits.len(), 12);

    // Pages of 10 over HTTP: 25 hits, each once, newest first.
    let mut seen = Vec::new();
    let mut page = v1::Search { limit: 10, ..search("report") };
    loop {
        let result = bob.http.search(&page).await.expect("search");
        assert!(result.hits.len() <= 10);
        seen.extend(result.hits.iter().map(|h| h.message.as_ref().expect("message").server_msg_id));
        if result.next_cursor.is_empty() {
            break;
        }
        page.cursor = result.next_cursor;
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");

    // A time window.
    let all = b.search(search("weekly")).await.expect("search");
    let times: Vec<i64> = all.hits.iter().map(|h| h.message.as_ref().expect("message").server_time).collect();
    let (newest, oldest) = (times[0], times[times.len() - 1]);
    let window = v1::Search { since: oldest, until: newest, ..search("weekly") };
    assert_eq!(b.search(window).await.expect("search").hits.len(), 12);
    let before = v1::Search { until: oldest - 1, ..search("weekly") };
    assert!(b.search(before).await.expect("search").hits.is_empty());
}

#[tokio::test]
async fn groups_from_the_join_on_hidden_messages_and_names() {
    let server = TestServer::start().await;
    let (owner, bob, carol) = (server.user("owner").await, server.user("bob").await, server.user("carol").await);
    let group = owner
        .http
        .create_group(&NewGroup { name: "数据库兴趣小组".into(), members: vec![bob.id], ..NewGroup::default() })
        .await
        .expect("group");
    let (o, _) = owner.connect_tcp().await;
    let (b, _) = bob.connect_tcp().await;
    let to_group = || Target::Conversation(group.conversation_id.clone());
    send(&o, to_group(), text_content("会议纪要 第一次")).await;
    let second = send(&o, to_group(), text_content("会议纪要 第二次")).await;
    owner.http.invite(group.id, &[carol.id]).await.expect("invite carol");
    send(&o, to_group(), text_content("会议纪要 第三次")).await;

    let (c, _) = carol.connect_tcp().await;
    assert_eq!(found(&c, "会议").await, ["会议纪要 第三次"], "a later member searches from the join on");
    assert_eq!(found(&b, "会议").await.len(), 3);

    // Delete for me hides from that user only.
    let hide = v1::HideMessages {
        conversation_id: group.conversation_id.clone(),
        seqs: vec![second.seq],
        ..Default::default()
    };
    b.hide(hide).await.expect("hide");
    assert_eq!(found(&b, "会议").await, ["会议纪要 第三次", "会议纪要 第一次"]);
    assert_eq!(found(&o, "会议").await.len(), 3);

    // Friends by name, remark or username, and groups by name.
    Api::new(&server).befriend(&bob, &owner).await;
    bob.http.set_remark(owner.id, "老板").await.expect("remark");
    let result = b.search(search("老板")).await.expect("search");
    assert_eq!(result.contacts.iter().map(|h| h.user_id).collect::<Vec<_>>(), [owner.id]);
    assert_eq!(result.contacts[0].conversation_id, direct_conversation(bob.id, owner.id));
    assert_eq!(b.search(search("own")).await.expect("search").contacts.len(), 1, "by username prefix");
    let by_name = b.search(search("兴趣")).await.expect("search");
    assert_eq!(by_name.groups.iter().map(|g| g.group_id).collect::<Vec<_>>(), [group.id]);
    assert_eq!(by_name.groups[0].member_count, 3);
    // A filtered search lists messages only.
    let filtered = v1::Search { conversation_id: group.conversation_id.clone(), ..search("数据库") };
    let result = b.search(filtered).await.expect("search");
    assert!(result.contacts.is_empty() && result.groups.is_empty());

    // A former member finds nothing of the group any more.
    owner.http.remove_member(group.id, bob.id).await.expect("kick bob");
    assert!(found(&b, "会议").await.is_empty());
}

#[tokio::test]
async fn bad_searches_are_refused_with_their_code_and_the_server_keeps_serving() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let (a, _) = alice.connect_tcp().await;
    send(&a, Target::User(bob.id), text_content("still here")).await;
    let others = direct_conversation(bob.id, carol.id);
    let refusals = [
        (search(""), ErrorCode::InvalidArgument),
        (search("!!! ..."), ErrorCode::InvalidArgument),
        (search(&"字".repeat(201)), ErrorCode::InvalidArgument),
        (search("a b c d e f g h i"), ErrorCode::InvalidArgument),
        (v1::Search { kinds: vec!["pdf".into()], ..search("x") }, ErrorCode::InvalidArgument),
        (v1::Search { cursor: "abc".into(), ..search("x") }, ErrorCode::InvalidArgument),
        (v1::Search { since: 10, until: 5, ..search("x") }, ErrorCode::InvalidArgument),
        (v1::Search { conversation_id: "nope".into(), ..search("x") }, ErrorCode::InvalidArgument),
        (v1::Search { conversation_id: others.clone(), ..search("x") }, ErrorCode::Forbidden),
        (v1::Search { conversation_id: "g_424242".into(), ..search("x") }, ErrorCode::NotFound),
    ];
    for (bad, code) in &refusals {
        assert_eq!(api_code(&a.search(bad.clone()).await.expect_err("refused")), *code, "{bad:?}");
    }
    // The same over HTTP, with a JSON error body.
    let api = Api::new(&server);
    let q = |s: &str| format!("/search{s}");
    for (path, status, code) in [
        (q(""), 400, "invalid_argument"),
        (q("?q=x&kinds=text,pdf"), 400, "invalid_argument"),
        (q("?q=x&cursor=-1"), 400, "invalid_argument"),
        (q(&format!("?q=x&conversation_id={others}")), 403, "forbidden"),
        (q("?q=x&limit=abc"), 400, "bad_request"),
    ] {
        let (got, body) = api.call(Method::GET, &path, &alice, None).await;
        assert_eq!((got, error_code(&body)), (status, code), "{path}: {body}");
    }
    // The connection and the server are fine.
    assert_eq!(found(&a, "still").await, ["still here"]);
    let (got, body) = api.call(Method::GET, &q("?q=still&limit=500"), &alice, None).await;
    assert_eq!(got, 200, "{body}");
}

#[tokio::test]
async fn with_search_turned_off_nothing_is_indexed_and_search_is_unavailable() {
    let server = TestServer::start_with(|c| c.messages.search = false).await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let (a, _) = alice.connect_tcp().await;
    send(&a, Target::User(bob.id), text_content("不会被索引")).await;
    assert_eq!(api_code(&a.search(search("索引")).await.expect_err("off")), ErrorCode::Unavailable);
    let (status, body) = Api::new(&server).call(Method::GET, "/search?q=x", &alice, None).await;
    assert_eq!((status, error_code(&body)), (503, "unavailable"));
    // Everything else works as before.
    assert_eq!(
        alice.http.messages(&direct_conversation(alice.id, bob.id), 0, 10).await.expect("pull").messages.len(),
        1
    );
}
