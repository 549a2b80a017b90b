//! Full-text search: substring search in Chinese, word-prefix search in
//! English, filters, paging, and visibility (membership, history start,
//! recalls, edits, what a user hid).

use std::sync::Arc;

use ferry_core::{ConversationId, UserId, search::Query};

use super::{append, group, new_message, users};
use crate::{Effect, MessageSearch, NewMessage, Store, StoredMessage};

/// A text message whose body is `text`.
fn text(conversation: ConversationId, sender: UserId, id: &str, time: i64, text: &str) -> NewMessage {
    doc(conversation, sender, id, time, "text", text)
}

/// A message of `kind` with `text`, as [`search_extractor`](super::search_extractor)
/// reads it.
fn doc(conversation: ConversationId, sender: UserId, id: &str, time: i64, kind: &str, text: &str) -> NewMessage {
    let body = if kind == "text" { text.to_owned() } else { format!("{kind}\u{1}{text}") };
    NewMessage { body: body.into_bytes(), ..new_message(conversation, sender, id, time) }
}

fn query(user: UserId, q: &str) -> MessageSearch {
    MessageSearch::new(user, Query::parse(q).expect("query"))
}

/// The bodies found, newest first.
async fn found(store: &dyn Store, search: MessageSearch) -> Vec<String> {
    let page = store.search_messages(search).await.expect("search_messages");
    bodies(&page.messages)
}

fn bodies(messages: &[StoredMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            let body = String::from_utf8_lossy(&m.body);
            body.split_once('\u{1}').map_or(body.as_ref(), |(_, text)| text).to_owned()
        })
        .collect()
}

pub async fn search_chinese_substring_and_english_prefix(store: Arc<dyn Store>) {
    let u = users(&*store, "s", 3).await;
    let (alice, bob, carol) = (u[0], u[1], u[2]);
    let dm = ConversationId::direct(alice, bob);
    append(
        &*store,
        vec![
            text(dm, alice, "c1", 100, "我们明天讨论数据库迁移"),
            text(dm, bob, "c2", 200, "Database backup finished"),
            text(dm, alice, "c3", 300, "午饭吃什么？"),
            doc(dm, bob, "c4", 400, "file", "数据库设计.pdf"),
            text(dm, alice, "c5", 500, "Réunion à Zürich"),
        ],
    )
    .await;
    // Newest first; Chinese by substring (two characters too), English by
    // word prefix, case-insensitively.
    assert_eq!(found(&*store, query(alice, "数据库")).await, ["数据库设计.pdf", "我们明天讨论数据库迁移"]);
    assert_eq!(found(&*store, query(bob, "数据")).await, ["数据库设计.pdf", "我们明天讨论数据库迁移"]);
    assert_eq!(found(&*store, query(alice, "讨论数据库迁移")).await, ["我们明天讨论数据库迁移"]);
    assert_eq!(found(&*store, query(alice, "饭")).await, ["午饭吃什么？"]);
    assert_eq!(found(&*store, query(alice, "DATAB")).await, ["Database backup finished"]);
    assert_eq!(found(&*store, query(alice, "backup database")).await, ["Database backup finished"]);
    assert!(found(&*store, query(alice, "base")).await.is_empty(), "words match by prefix, not inside");
    assert!(found(&*store, query(alice, "数据表")).await.is_empty());
    // Accents do not matter, either way.
    assert_eq!(found(&*store, query(bob, "reunion zurich")).await, ["Réunion à Zürich"]);
    assert_eq!(found(&*store, query(bob, "RÉUNI")).await, ["Réunion à Zürich"]);
    // Someone outside the conversation finds nothing.
    assert!(found(&*store, query(carol, "数据库")).await.is_empty());
}

pub async fn search_filters_and_pages(store: Arc<dyn Store>) {
    let u = users(&*store, "f", 3).await;
    let (alice, bob, carol) = (u[0], u[1], u[2]);
    let dm = ConversationId::direct(alice, bob);
    let other = ConversationId::direct(alice, carol);
    let mut batch = Vec::new();
    for i in 0..5 {
        let sender = if i % 2 == 0 { alice } else { bob };
        batch.push(text(dm, sender, &format!("d{i}"), 1000 + 2 * i, &format!("report {i}")));
        batch.push(text(other, carol, &format!("o{i}"), 1001 + 2 * i, &format!("report o{i}")));
    }
    batch.push(doc(dm, bob, "f1", 3000, "file", "report.pdf"));
    batch.push(doc(dm, bob, "i1", 3001, "image", ""));
    append(&*store, batch).await;

    let in_dm = MessageSearch { conversation: Some(dm), ..query(alice, "report") };
    assert_eq!(found(&*store, in_dm.clone()).await.len(), 6);
    let by_bob = MessageSearch { sender: Some(bob), ..in_dm.clone() };
    assert_eq!(found(&*store, by_bob).await, ["report.pdf", "report 3", "report 1"]);
    let files = MessageSearch { kinds: vec!["file".into()], ..query(alice, "report") };
    assert_eq!(found(&*store, files).await, ["report.pdf"]);
    // A kind filter alone lists that kind (an image has no text).
    let media = MessageSearch { kinds: vec!["image".into(), "file".into()], ..query(alice, "") };
    assert_eq!(found(&*store, media).await, ["", "report.pdf"]);
    let window = MessageSearch { since: Some(1003), until: Some(1006), ..query(alice, "report") };
    assert_eq!(found(&*store, window).await, ["report 3", "report o2", "report 2", "report o1"]);

    // Pages of 4 across both conversations: 11 hits, newest first, each
    // exactly once.
    let mut all = Vec::new();
    let mut search = MessageSearch { limit: 4, ..query(alice, "report") };
    for _ in 0..10 {
        let page = store.search_messages(search.clone()).await.expect("search");
        assert!(page.messages.len() <= 4);
        all.extend(page.messages.iter().map(|m| m.server_msg_id));
        match page.next {
            Some(next) => search.before = Some(next),
            None => break,
        }
    }
    assert_eq!(all.len(), 11, "every hit once");
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first across pages");
}

pub async fn search_skips_recalled_edited_and_hidden(store: Arc<dyn Store>) {
    let u = users(&*store, "r", 2).await;
    let (alice, bob) = (u[0], u[1]);
    let dm = ConversationId::direct(alice, bob);
    append(
        &*store,
        vec![
            text(dm, alice, "a1", 100, "秘密计划 alpha"),
            text(dm, alice, "a2", 200, "旧的说法 bravo"),
            text(dm, bob, "a3", 300, "隐藏这条 charlie"),
            text(dm, bob, "a4", 400, "清除历史 delta"),
        ],
    )
    .await;
    let recall = NewMessage {
        effect: Some(Effect::Revoke { target: 1, body: b"recalled".to_vec() }),
        ..new_message(dm, alice, "rv", 500)
    };
    let edit = NewMessage {
        effect: Some(Effect::Edit { target: 2, body: "新的说法 echo Crème".as_bytes().to_vec() }),
        ..new_message(dm, alice, "ed", 600)
    };
    append(&*store, vec![recall, edit]).await;
    assert!(found(&*store, query(bob, "秘密")).await.is_empty(), "a recalled message is not found");
    assert!(found(&*store, query(bob, "alpha")).await.is_empty());
    assert!(found(&*store, query(bob, "旧的")).await.is_empty(), "the edited-away text is not found");
    assert_eq!(found(&*store, query(bob, "新的说法")).await, ["新的说法 echo Crème"]);
    assert_eq!(found(&*store, query(bob, "creme")).await, ["新的说法 echo Crème"]);

    // Delete for me hides from that user only; so does clearing history.
    store.hide_messages(alice, dm, &[3]).await.expect("hide");
    assert!(found(&*store, query(alice, "隐藏")).await.is_empty());
    assert_eq!(found(&*store, query(bob, "隐藏")).await, ["隐藏这条 charlie"]);
    store.clear_history(bob, dm, 4).await.expect("clear");
    assert!(found(&*store, query(bob, "清除")).await.is_empty());
    assert!(found(&*store, query(bob, "新的")).await.is_empty(), "cleared up to seq 4");
    assert_eq!(found(&*store, query(alice, "清除")).await, ["清除历史 delta"]);
}

pub async fn search_group_history_visibility(store: Arc<dyn Store>) {
    let u = users(&*store, "g", 3).await;
    let (owner, early, late) = (u[0], u[1], u[2]);
    let id = group(&*store, owner, vec![early]).await;
    let conv = ConversationId::Group(id);
    append(&*store, vec![text(conv, owner, "g1", 100, "会议纪要 一"), text(conv, early, "g2", 200, "会议纪要 二")])
        .await;
    let join_seq = store.max_seq(conv).await.expect("max_seq");
    store.add_members(id, &[late], join_seq, 300).await.expect("add");
    append(&*store, vec![text(conv, owner, "g3", 400, "会议纪要 三")]).await;

    assert_eq!(found(&*store, query(early, "会议")).await.len(), 3);
    assert_eq!(found(&*store, query(late, "会议")).await, ["会议纪要 三"], "from the join on");
    let full = MessageSearch { full_history: true, ..query(late, "会议") };
    assert_eq!(found(&*store, full).await.len(), 3, "full history visibility");
    store.remove_member(id, early).await.expect("remove");
    assert!(found(&*store, query(early, "会议")).await.is_empty(), "a former member finds nothing");
}

/// Many conversations (beyond those a backend may name in one index
/// query) and many hits: paging still returns each visible hit once.
pub async fn search_many_conversations(store: Arc<dyn Store>) {
    let u = users(&*store, "m", 60).await;
    let me = u[0];
    let mut batch = Vec::new();
    for (i, peer) in u[1..].iter().enumerate() {
        let dm = ConversationId::direct(me, *peer);
        batch.push(text(dm, *peer, &format!("m{i}"), 1000 + i as i64, &format!("周报 number {i}")));
        // Conversations `me` is not in, with the same words.
        if let Some(other) = u.get(i + 2) {
            let theirs = ConversationId::direct(*peer, *other);
            batch.push(text(theirs, *peer, &format!("x{i}"), 1000 + i as i64, "周报 number x"));
        }
    }
    append(&*store, batch).await;
    let mut seen = Vec::new();
    let mut search = MessageSearch { limit: 7, ..query(me, "周报 numb") };
    loop {
        let page = store.search_messages(search.clone()).await.expect("search");
        seen.extend(bodies(&page.messages));
        match page.next {
            Some(next) => search.before = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..59).rev().map(|i| format!("周报 number {i}")).collect();
    assert_eq!(seen, expected);
}
