//! How messages and server addresses are rendered: pure functions, so they
//! can be tested without a server.

use anyhow::{Result, bail};
use ferry_client::v1;
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

/// The text of a message ("" for kinds this client does not know).
pub fn text_of(m: &v1::Message) -> &str {
    match m.content.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(v1::message_content::Kind::Text(t)) => &t.text,
        None => "",
    }
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

/// `[d_1_2] alice: hello` — one line of `ferry sync`.
pub fn plain_line(m: &v1::Message, sender: &str) -> String {
    format!("[{}] {}: {}", m.conversation_id, sender, sanitize(text_of(m)))
}

/// One JSON object (one line) of `ferry sync --json`.
pub fn json_line(m: &v1::Message, sender: &str) -> String {
    json!({
        "conversation": m.conversation_id,
        "seq": m.seq,
        "sender": sender,
        "sender_id": m.sender_id,
        "text": text_of(m),
        "client_msg_id": m.client_msg_id,
        "server_msg_id": m.server_msg_id,
        "sent_at": m.server_time,
    })
    .to_string()
}

/// A message as `ferry chat` shows it: `[from alice] hi`, or `[to bob] hi`
/// for the user's own message sent from another device to `peer`.
pub fn chat_line(m: &v1::Message, mine: bool, other: &str) -> String {
    let dir = if mine { "to" } else { "from" };
    format!("[{dir} {other}] {}", sanitize(text_of(m)))
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
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Text(v1::Text { text: text.into() })),
            }),
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
    }
}
