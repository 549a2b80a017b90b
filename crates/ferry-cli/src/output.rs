//! How messages and server addresses are rendered: pure functions, so they
//! can be tested without a server.

use anyhow::{Result, bail};
use ferry_client::{
    content::{kind_of, system_of, text_of},
    v1,
};
use serde_json::json;

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

/// One line of `ferry sync`: `[d_1_2] alice: hello`, or for a group event
/// `[g_5] * alice muted carol for 10 minutes`.
pub fn plain_line(m: &v1::Message, sender: &str) -> String {
    if system_of(m).is_some() {
        return format!("[{}] * {}", m.conversation_id, sanitize(&text_of(m)));
    }
    format!("[{}] {}: {}", m.conversation_id, sender, sanitize(&text_of(m)))
}

/// One JSON object (one line) of `ferry sync --json`. `kind` is `text` or
/// `system`; system messages also carry the event as `system`, texts their
/// mentions.
pub fn json_line(m: &v1::Message, sender: &str) -> String {
    let mut v = json!({
        "conversation": m.conversation_id,
        "seq": m.seq,
        "kind": kind_of(m),
        "sender": sender,
        "sender_id": m.sender_id,
        "text": text_of(m),
        "client_msg_id": m.client_msg_id,
        "server_msg_id": m.server_msg_id,
        "sent_at": m.server_time,
    });
    match m.content.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(v1::message_content::Kind::System(s)) => {
            v["system"] = json!({
                "event": s.event,
                "actor_id": s.actor_id,
                "target_ids": s.target_ids,
                "until": s.until,
                "detail": s.detail,
            });
        }
        Some(v1::message_content::Kind::Text(t)) if !t.mention_user_ids.is_empty() || t.mention_all => {
            v["mention_user_ids"] = json!(t.mention_user_ids);
            v["mention_all"] = json!(t.mention_all);
        }
        _ => {}
    }
    v.to_string()
}

/// A direct message as `ferry chat` shows it: `[from alice] hi`, or
/// `[to bob] hi` for the user's own message sent from another device to
/// `peer`.
pub fn chat_line(m: &v1::Message, mine: bool, other: &str) -> String {
    let dir = if mine { "to" } else { "from" };
    format!("[{dir} {other}] {}", sanitize(&text_of(m)))
}

/// A group message as `ferry chat` shows it: `[g_5 alice] hi`, or for an
/// event `[g_5] * alice muted carol for 10 minutes`.
pub fn group_chat_line(m: &v1::Message, sender: &str) -> String {
    if system_of(m).is_some() {
        return format!("[{}] * {}", m.conversation_id, sanitize(&text_of(m)));
    }
    format!("[{} {sender}] {}", m.conversation_id, sanitize(&text_of(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> v1::Message {
        v1::Message {
            conversation_id: "d_1_2".into(),
            seq: 3,
            server_msg_id: 99,
            sender_id: 1,
            client_msg_id: "c1".into(),
            server_time: 1_700_000_000_000,
            content: Some(ferry_client::text_content(text)),
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
        v1::Message {
            conversation_id: "g_5".into(),
            seq: 4,
            sender_id: 1,
            content: Some(v1::MessageContent { kind: Some(v1::message_content::Kind::System(event)) }),
            ..Default::default()
        }
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
        assert_eq!(plain_line(&msg("hello"), "alice"), "[d_1_2] alice: hello");
        assert_eq!(chat_line(&msg("hi"), false, "alice"), "[from alice] hi");
        assert_eq!(chat_line(&msg("hi"), true, "bob"), "[to bob] hi");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(plain_line(&msg("a\nb\x1b[2J"), "x"), "[d_1_2] x: a\\nb\\u{1b}[2J");
        assert_eq!(sanitize("héllo 你好"), "héllo 你好");
    }

    #[test]
    fn json_lines_carry_every_field() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&msg("a\nb"), "alice")).unwrap();
        assert_eq!(v["conversation"], "d_1_2");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["sender"], "alice");
        assert_eq!(v["sender_id"], 1);
        assert_eq!(v["text"], "a\nb");
        assert_eq!(v["client_msg_id"], "c1");
        assert_eq!(v["server_msg_id"], 99);
        assert_eq!(v["sent_at"], 1_700_000_000_000_i64);
        assert_eq!(v["kind"], "text");
        assert!(v.get("system").is_none());
    }

    #[test]
    fn group_messages_and_events() {
        let mut m = msg("hi @bob");
        m.conversation_id = "g_5".into();
        assert_eq!(group_chat_line(&m, "alice"), "[g_5 alice] hi @bob");
        assert_eq!(plain_line(&m, "alice"), "[g_5] alice: hi @bob");
        let s = system("alice muted carol for 10 minutes");
        assert_eq!(group_chat_line(&s, "alice"), "[g_5] * alice muted carol for 10 minutes");
        assert_eq!(plain_line(&s, "alice"), "[g_5] * alice muted carol for 10 minutes");

        let v: serde_json::Value = serde_json::from_str(&json_line(&s, "alice")).unwrap();
        assert_eq!((v["conversation"].as_str(), v["kind"].as_str()), (Some("g_5"), Some("system")));
        assert_eq!(v["text"], "alice muted carol for 10 minutes");
        assert_eq!(v["system"]["event"], "member_muted");
        assert_eq!(v["system"]["target_ids"], serde_json::json!([3]));

        let mentions = ferry_client::Mentions { user_ids: vec![2], all: true };
        m.content = Some(ferry_client::text_with_mentions("hi @bob @all", mentions));
        let v: serde_json::Value = serde_json::from_str(&json_line(&m, "alice")).unwrap();
        assert_eq!((v["kind"].as_str(), v["mention_all"].as_bool()), (Some("text"), Some(true)));
        assert_eq!(v["mention_user_ids"], serde_json::json!([2]));
    }
}
