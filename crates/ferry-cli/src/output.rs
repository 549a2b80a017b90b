//! How messages and server addresses are rendered: pure functions, so they
//! can be tested without a server.
//!
//! Everything a message carries came from the server and is untrusted, so
//! every line about a message goes through [`sanitize`] as a whole (the
//! decorations added here hold no control characters). Renderers name users
//! through a `name` function; resolve [`named_ids`] before calling them.

use anyhow::{Result, bail};
use ferry_client::{
    content::{content_text, kind_of, text_of},
    v1::{self, message_content::Kind},
};
use ferry_core::UserId;
use serde_json::{Value, json};

/// The WebSocket URL of the server whose HTTP base is `server`:
/// `http://h:p` → `ws://h:p/ws`, `https://h` → `wss://h/ws` (a path prefix is
/// kept).
pub fn ws_url(server: &str) -> Result<String> {
    let server = server.trim_end_matches('/');
    let url = if let Some(rest) = server.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else if let Some(rest) = server.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else {
        bail!("server must be an http:// or https:// URL, got {server:?}");
    };
    Ok(url)
}

/// Makes untrusted text safe for a terminal: control characters (newlines,
/// escape sequences) are shown escaped instead of acting on the terminal.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The users a message's rendering names: its sender, the sender of the
/// message it quotes, and who recalled it.
pub fn named_ids(m: &v1::Message) -> Vec<UserId> {
    let mut ids = vec![m.sender_id];
    if let Some(quote) = m.content.as_ref().and_then(|c| c.quote.as_ref()) {
        ids.push(quote.sender_id);
    }
    if let Some(Kind::Revoked(r)) = kind(m) {
        ids.push(r.by);
    }
    ids
}

/// One line of `ferry sync`: `[d_1_2 #3] alice: hello`, or for a group or
/// message event `[g_5 #4] * alice muted carol for 10 minutes`.
pub fn plain_line(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    let head = format!("[{} #{}]", m.conversation_id, m.seq);
    sanitize(&match said(m, name) {
        Said::Says(body) => format!("{head} {}: {body}", name(m.sender_id)),
        Said::Note(note) => format!("{head} * {note}"),
    })
}

/// A direct message as `ferry chat` shows it: `[from alice #3] hi`, or
/// `[to bob #3] hi` for the user's own message sent from another device to
/// `other`; events as `[from alice #5] * alice reacted 👍 to #3`.
pub fn chat_line(m: &v1::Message, mine: bool, other: &str, name: &impl Fn(UserId) -> String) -> String {
    let dir = if mine { "to" } else { "from" };
    let head = format!("[{dir} {other} #{}]", m.seq);
    sanitize(&match said(m, name) {
        Said::Says(body) => format!("{head} {body}"),
        Said::Note(note) => format!("{head} * {note}"),
    })
}

/// A group message as `ferry chat` shows it: `[g_5 #4 alice] hi`, or for an
/// event `[g_5 #4] * alice muted carol for 10 minutes`.
pub fn group_chat_line(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    sanitize(&match said(m, name) {
        Said::Says(body) => format!("[{} #{} {}] {body}", m.conversation_id, m.seq, name(m.sender_id)),
        Said::Note(note) => format!("[{} #{}] * {note}", m.conversation_id, m.seq),
    })
}

/// One pinned message of `ferry pins`: its `sync` line, then who pinned it.
pub fn pin_line(p: &v1::PinnedMessage, name: &impl Fn(UserId) -> String) -> String {
    match &p.message {
        Some(m) => format!("{} (pinned by {})", plain_line(m, name), sanitize(&name(p.pinned_by))),
        None => format!("(message not available) (pinned by {})", sanitize(&name(p.pinned_by))),
    }
}

/// What a message says after the prefix `sync` and `chat` give it.
enum Said {
    /// The sender's words, without their name:
    /// `↪ re #3 bob: "hi" | yes (edited) [👍 1]`.
    Says(String),
    /// Something that happened, in the third person, without the `* `:
    /// `alice recalled a message`.
    Note(String),
}

fn said(m: &v1::Message, name: &impl Fn(UserId) -> String) -> Said {
    match kind(m) {
        Some(Kind::System(s)) => Said::Note(s.text.clone()),
        Some(Kind::Revoked(r)) if r.by == m.sender_id || r.by == 0 => {
            Said::Note(format!("{} recalled a message", name(m.sender_id)))
        }
        Some(Kind::Revoked(r)) => Said::Note(format!("{} recalled a message from {}", name(r.by), name(m.sender_id))),
        Some(Kind::Event(e)) => Said::Note(event_note(&name(m.sender_id), e)),
        _ => Said::Says(body(m, name)),
    }
}

/// A message event told as a sentence: `bob reacted 👍 to #3`.
fn event_note(actor: &str, e: &v1::MessageEvent) -> String {
    let target = e.target_seq;
    match e.event.as_str() {
        "revoked" => format!("{actor} recalled #{target}"),
        "edited" => match &e.content {
            Some(c) => format!("{actor} edited #{target}: {}", content_text(c)),
            None => format!("{actor} edited #{target}"),
        },
        "reaction_added" => format!("{actor} reacted {} to #{target}", e.emoji),
        "reaction_removed" => format!("{actor} removed {} from #{target}", e.emoji),
        "pinned" => format!("{actor} pinned #{target}"),
        "unpinned" => format!("{actor} unpinned #{target}"),
        other => format!("{actor} changed #{target} ({other})"),
    }
}

/// A message's own words: the quote it answers, its text, whether it was
/// edited, its reactions.
fn body(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    let mut out = String::new();
    if let Some(q) = m.content.as_ref().and_then(|c| c.quote.as_ref()) {
        let quoted = if q.revoked { "[recalled]".to_owned() } else { format!("\"{}\"", q.preview) };
        out.push_str(&format!("↪ re #{} {}: {quoted} | ", q.seq, name(q.sender_id)));
    }
    out.push_str(&text_of(m));
    if m.content.as_ref().is_some_and(|c| c.edited_at != 0) {
        out.push_str(" (edited)");
    }
    if !m.reactions.is_empty() {
        let counts: Vec<String> = m.reactions.iter().map(|r| format!("{} {}", r.emoji, r.count)).collect();
        out.push_str(&format!(" [{}]", counts.join(" ")));
    }
    out
}

fn kind(m: &v1::Message) -> Option<&Kind> {
    m.content.as_ref().and_then(|c| c.kind.as_ref())
}

/// One JSON object (one line) of `ferry sync --json`. `kind` comes from
/// [`kind_of`]; system messages also carry the event as `system`, texts
/// their mentions, replies a `quote`, edited messages `edited_at`, recalled
/// ones `revoked`, message events an `event`, and pulled messages with
/// reactions `reactions`.
pub fn json_line(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    json_value(m, name).to_string()
}

/// One JSON object (one line) of `ferry pins --json`: the message as
/// [`json_line`] has it, plus `pinned_by` (id), `pinned_by_name` and
/// `pinned_at`.
pub fn pin_json(p: &v1::PinnedMessage, name: &impl Fn(UserId) -> String) -> String {
    let mut v = p.message.as_ref().map_or_else(|| json!({}), |m| json_value(m, name));
    v["pinned_by"] = json!(p.pinned_by);
    v["pinned_by_name"] = json!(name(p.pinned_by));
    v["pinned_at"] = json!(p.pinned_at);
    v.to_string()
}

fn json_value(m: &v1::Message, name: &impl Fn(UserId) -> String) -> Value {
    let mut v = json!({
        "conversation": m.conversation_id,
        "seq": m.seq,
        "kind": kind_of(m),
        "sender": name(m.sender_id),
        "sender_id": m.sender_id,
        "text": text_of(m),
        "client_msg_id": m.client_msg_id,
        "server_msg_id": m.server_msg_id,
        "sent_at": m.server_time,
    });
    match kind(m) {
        Some(Kind::System(s)) => {
            v["system"] = json!({
                "event": s.event,
                "actor_id": s.actor_id,
                "target_ids": s.target_ids,
                "until": s.until,
                "detail": s.detail,
            });
        }
        Some(Kind::Text(t)) if !t.mention_user_ids.is_empty() || t.mention_all => {
            v["mention_user_ids"] = json!(t.mention_user_ids);
            v["mention_all"] = json!(t.mention_all);
        }
        Some(Kind::Revoked(r)) => v["revoked"] = json!({"by": r.by, "at": r.at}),
        Some(Kind::Event(e)) => {
            v["event"] = json!({"event": e.event, "target_seq": e.target_seq, "emoji": e.emoji});
            if let Some(c) = &e.content {
                v["event"]["text"] = json!(content_text(c));
            }
        }
        _ => {}
    }
    if let Some(content) = &m.content {
        if let Some(q) = &content.quote {
            v["quote"] = json!({
                "seq": q.seq,
                "sender_id": q.sender_id,
                "sender": name(q.sender_id),
                "kind": q.kind,
                "preview": q.preview,
                "revoked": q.revoked,
            });
        }
        if content.edited_at != 0 {
            v["edited_at"] = json!(content.edited_at);
        }
    }
    if !m.reactions.is_empty() {
        let reactions: Vec<Value> =
            m.reactions.iter().map(|r| json!({"emoji": r.emoji, "count": r.count, "me": r.me})).collect();
        v["reactions"] = json!(reactions);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// alice is 1, bob 2, carol 3.
    fn name(id: UserId) -> String {
        match id {
            1 => "alice".into(),
            2 => "bob".into(),
            3 => "carol".into(),
            _ => format!("#{id}"),
        }
    }

    fn msg(text: &str) -> v1::Message {
        v1::Message {
            conversation_id: "d_1_2".into(),
            seq: 3,
            server_msg_id: 99,
            sender_id: 1,
            client_msg_id: "c1".into(),
            server_time: 1_700_000_000_000,
            content: Some(ferry_client::text_content(text)),
            reactions: Vec::new(),
            hidden: false,
        }
    }

    fn with_kind(sender_id: UserId, seq: u64, kind: Kind) -> v1::Message {
        v1::Message {
            conversation_id: "d_1_2".into(),
            seq,
            sender_id,
            content: Some(v1::MessageContent { kind: Some(kind), ..Default::default() }),
            ..Default::default()
        }
    }

    fn system(text: &str) -> v1::Message {
        let event = v1::System {
            event: "member_muted".into(),
            actor_id: 1,
            target_ids: vec![3],
            text: text.into(),
            until: 42,
            detail: String::new(),
        };
        v1::Message { conversation_id: "g_5".into(), ..with_kind(1, 4, Kind::System(event)) }
    }

    fn event(sender_id: UserId, event: &str, target_seq: u64, emoji: &str) -> v1::Message {
        let e = v1::MessageEvent { event: event.into(), target_seq, emoji: emoji.into(), content: None };
        with_kind(sender_id, 7, Kind::Event(Box::new(e)))
    }

    fn reply(text: &str, quote: v1::Quote) -> v1::Message {
        let mut m = msg(text);
        m.seq = 4;
        m.content = Some(ferry_client::replying_to(ferry_client::text_content(text), quote.seq));
        if let Some(c) = m.content.as_mut() {
            c.quote = Some(quote);
        }
        m
    }

    fn json(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn ws_urls_follow_the_http_scheme() {
        assert_eq!(ws_url("http://127.0.0.1:8080").unwrap(), "ws://127.0.0.1:8080/ws");
        assert_eq!(ws_url("http://127.0.0.1:8080/").unwrap(), "ws://127.0.0.1:8080/ws");
        assert_eq!(ws_url("https://chat.example.com").unwrap(), "wss://chat.example.com/ws");
        assert_eq!(ws_url("https://example.com/ferry/").unwrap(), "wss://example.com/ferry/ws");
        assert!(ws_url("ftp://x").is_err());
        assert!(ws_url("127.0.0.1:8080").is_err());
    }

    #[test]
    fn plain_and_chat_lines() {
        assert_eq!(plain_line(&msg("hello"), &name), "[d_1_2 #3] alice: hello");
        assert_eq!(chat_line(&msg("hi"), false, "alice", &name), "[from alice #3] hi");
        assert_eq!(chat_line(&msg("hi"), true, "bob", &name), "[to bob #3] hi");
        // A sender whose name is unknown is shown by id.
        let mut m = msg("hi");
        m.sender_id = 9;
        assert_eq!(plain_line(&m, &name), "[d_1_2 #3] #9: hi");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(plain_line(&msg("a\nb\x1b[2J"), &name), "[d_1_2 #3] alice: a\\nb\\u{1b}[2J");
        assert_eq!(sanitize("héllo 你好"), "héllo 你好");
        // Everything quoted, edited in, or reacted with is untrusted too.
        let quote = v1::Quote { seq: 3, sender_id: 2, kind: "text".into(), preview: "x\ry".into(), revoked: false };
        let mut m = reply("ok", quote);
        m.reactions = vec![v1::ReactionCount { emoji: "\x07".into(), count: 1, me: false }];
        assert_eq!(plain_line(&m, &name), "[d_1_2 #4] alice: ↪ re #3 bob: \"x\\ry\" | ok [\\u{7} 1]");
        let mut edit = v1::MessageEvent { event: "edited".into(), target_seq: 3, ..Default::default() };
        edit.content = Some(Box::new(ferry_client::text_content("new\x1b]0;pwned\x07")));
        let m = with_kind(1, 8, Kind::Event(Box::new(edit)));
        assert_eq!(chat_line(&m, true, "bob", &name), "[to bob #8] * alice edited #3: new\\u{1b}]0;pwned\\u{7}");
    }

    #[test]
    fn json_lines_carry_every_field() {
        let v = json(&json_line(&msg("a\nb"), &name));
        assert_eq!(v["conversation"], "d_1_2");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["sender"], "alice");
        assert_eq!(v["sender_id"], 1);
        assert_eq!(v["text"], "a\nb");
        assert_eq!(v["client_msg_id"], "c1");
        assert_eq!(v["server_msg_id"], 99);
        assert_eq!(v["sent_at"], 1_700_000_000_000_i64);
        assert_eq!(v["kind"], "text");
        for absent in ["system", "quote", "edited_at", "revoked", "event", "reactions"] {
            assert!(v.get(absent).is_none(), "{absent} in {v}");
        }
    }

    #[test]
    fn group_messages_and_events() {
        let mut m = msg("hi @bob");
        m.conversation_id = "g_5".into();
        assert_eq!(group_chat_line(&m, &name), "[g_5 #3 alice] hi @bob");
        assert_eq!(plain_line(&m, &name), "[g_5 #3] alice: hi @bob");
        let s = system("alice muted carol for 10 minutes");
        assert_eq!(group_chat_line(&s, &name), "[g_5 #4] * alice muted carol for 10 minutes");
        assert_eq!(plain_line(&s, &name), "[g_5 #4] * alice muted carol for 10 minutes");

        let v = json(&json_line(&s, &name));
        assert_eq!((v["conversation"].as_str(), v["kind"].as_str()), (Some("g_5"), Some("system")));
        assert_eq!(v["text"], "alice muted carol for 10 minutes");
        assert_eq!(v["system"]["event"], "member_muted");
        assert_eq!(v["system"]["target_ids"], json!([3]));

        let mentions = ferry_client::Mentions { user_ids: vec![2], all: true };
        m.content = Some(ferry_client::text_with_mentions("hi @bob @all", mentions));
        let v = json(&json_line(&m, &name));
        assert_eq!((v["kind"].as_str(), v["mention_all"].as_bool()), (Some("text"), Some(true)));
        assert_eq!(v["mention_user_ids"], json!([2]));
    }

    #[test]
    fn replies_show_what_they_quote() {
        let quote =
            v1::Quote { seq: 3, sender_id: 2, kind: "text".into(), preview: "original preview".into(), revoked: false };
        let m = reply("my answer", quote.clone());
        assert_eq!(plain_line(&m, &name), "[d_1_2 #4] alice: ↪ re #3 bob: \"original preview\" | my answer");
        assert_eq!(
            chat_line(&m, false, "alice", &name),
            "[from alice #4] ↪ re #3 bob: \"original preview\" | my answer"
        );
        let v = json(&json_line(&m, &name));
        assert_eq!(
            v["quote"],
            json!({"seq": 3, "sender_id": 2, "sender": "bob", "kind": "text", "preview": "original preview", "revoked": false})
        );
        assert_eq!(v["text"], "my answer");

        let gone = v1::Quote { preview: String::new(), revoked: true, ..quote };
        let m = reply("what was it?", gone);
        assert_eq!(plain_line(&m, &name), "[d_1_2 #4] alice: ↪ re #3 bob: [recalled] | what was it?");
        assert_eq!(json(&json_line(&m, &name))["quote"]["revoked"], true);
        assert_eq!(named_ids(&m), [1, 2]);
    }

    #[test]
    fn edited_messages_are_marked() {
        let mut m = msg("fixed typo");
        if let Some(c) = m.content.as_mut() {
            c.edited_at = 1_700_000_060_000;
        }
        assert_eq!(plain_line(&m, &name), "[d_1_2 #3] alice: fixed typo (edited)");
        assert_eq!(chat_line(&m, false, "alice", &name), "[from alice #3] fixed typo (edited)");
        let v = json(&json_line(&m, &name));
        assert_eq!((v["text"].as_str(), v["edited_at"].as_i64()), (Some("fixed typo"), Some(1_700_000_060_000)));
    }

    #[test]
    fn recalled_messages_say_who_recalled_them() {
        let m = with_kind(1, 3, Kind::Revoked(v1::Revoked { by: 1, at: 1_700_000_001_000 }));
        assert_eq!(plain_line(&m, &name), "[d_1_2 #3] * alice recalled a message");
        assert_eq!(chat_line(&m, false, "alice", &name), "[from alice #3] * alice recalled a message");
        let v = json(&json_line(&m, &name));
        assert_eq!((v["kind"].as_str(), v["text"].as_str()), (Some("revoked"), Some("[Recalled]")));
        assert_eq!(v["revoked"], json!({"by": 1, "at": 1_700_000_001_000_i64}));

        // A group admin recalling someone else's message.
        let mut m = with_kind(2, 6, Kind::Revoked(v1::Revoked { by: 3, at: 1 }));
        m.conversation_id = "g_5".into();
        assert_eq!(group_chat_line(&m, &name), "[g_5 #6] * carol recalled a message from bob");
        assert_eq!(named_ids(&m), [2, 3]);
    }

    #[test]
    fn message_events_are_one_line_each() {
        let line = |m: &v1::Message| plain_line(m, &name);
        assert_eq!(line(&event(2, "reaction_added", 3, "👍")), "[d_1_2 #7] * bob reacted 👍 to #3");
        assert_eq!(line(&event(2, "reaction_removed", 3, "👍")), "[d_1_2 #7] * bob removed 👍 from #3");
        assert_eq!(line(&event(1, "revoked", 3, "")), "[d_1_2 #7] * alice recalled #3");
        assert_eq!(line(&event(1, "pinned", 3, "")), "[d_1_2 #7] * alice pinned #3");
        assert_eq!(line(&event(1, "unpinned", 3, "")), "[d_1_2 #7] * alice unpinned #3");
        assert_eq!(line(&event(1, "frobbed", 3, "")), "[d_1_2 #7] * alice changed #3 (frobbed)");
        let edit = v1::MessageEvent {
            event: "edited".into(),
            target_seq: 3,
            emoji: String::new(),
            content: Some(Box::new(ferry_client::text_content("new text"))),
        };
        let m = with_kind(1, 8, Kind::Event(Box::new(edit)));
        assert_eq!(line(&m), "[d_1_2 #8] * alice edited #3: new text");
        let mut g = event(2, "reaction_added", 3, "🎉");
        g.conversation_id = "g_5".into();
        assert_eq!(group_chat_line(&g, &name), "[g_5 #7] * bob reacted 🎉 to #3");

        let v = json(&json_line(&m, &name));
        assert_eq!(v["kind"], "event");
        assert_eq!(v["event"], json!({"event": "edited", "target_seq": 3, "emoji": "", "text": "new text"}));
        let v = json(&json_line(&event(2, "reaction_added", 3, "👍"), &name));
        assert_eq!(v["event"], json!({"event": "reaction_added", "target_seq": 3, "emoji": "👍"}));
        assert_eq!(v["sender"], "bob");
    }

    #[test]
    fn reaction_counts_follow_the_text() {
        let mut m = msg("lunch?");
        m.reactions = vec![
            v1::ReactionCount { emoji: "👍".into(), count: 2, me: true },
            v1::ReactionCount { emoji: "❤️".into(), count: 1, me: false },
        ];
        assert_eq!(plain_line(&m, &name), "[d_1_2 #3] alice: lunch? [👍 2 ❤️ 1]");
        if let Some(c) = m.content.as_mut() {
            c.edited_at = 5;
        }
        assert_eq!(chat_line(&m, true, "bob", &name), "[to bob #3] lunch? (edited) [👍 2 ❤️ 1]");
        let v = json(&json_line(&m, &name));
        assert_eq!(
            v["reactions"],
            json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": "❤️", "count": 1, "me": false}])
        );
    }

    #[test]
    fn pins_show_the_message_and_who_pinned_it() {
        let p = v1::PinnedMessage { message: Some(msg("the plan")), pinned_by: 2, pinned_at: 1_700_000_002_000 };
        assert_eq!(pin_line(&p, &name), "[d_1_2 #3] alice: the plan (pinned by bob)");
        let v = json(&pin_json(&p, &name));
        assert_eq!((v["seq"].as_u64(), v["text"].as_str()), (Some(3), Some("the plan")));
        assert_eq!((v["pinned_by"].as_i64(), v["pinned_by_name"].as_str()), (Some(2), Some("bob")));
        assert_eq!(v["pinned_at"], 1_700_000_002_000_i64);
        let missing = v1::PinnedMessage { message: None, ..p };
        assert_eq!(pin_line(&missing, &name), "(message not available) (pinned by bob)");
    }
}
