//! How messages and server addresses are rendered: pure functions, so they
//! can be tested without a server.
//!
//! Everything a message carries came from the server and is untrusted, so
//! every line about a message goes through [`sanitize`] as a whole (the
//! decorations added here hold no control characters). The one exception is
//! a search snippet in a terminal: its parts are sanitized one by one, so
//! the ANSI bold marking the matches is the only escape it can hold. Renderers name users
//! through a `name` function; resolve [`named_ids`] before calling them.
//! A message line is one terminal line, except a chat record's: its items
//! follow it, indented, each sanitized on its own.

use anyhow::{Result, bail};
use ferry_client::{
    chat_record_of,
    content::{content_text, kind_of, text_of},
    media_file_of,
    v1::{self, message_content::Kind},
};
use ferry_core::UserId;
use ferry_proto::preview::call_log_text;
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
/// message it quotes, who recalled it, and the senders of chat record items
/// that carry no name of their own.
pub fn named_ids(m: &v1::Message) -> Vec<UserId> {
    let mut ids = vec![m.sender_id];
    if let Some(quote) = m.content.as_ref().and_then(|c| c.quote.as_ref()) {
        ids.push(quote.sender_id);
    }
    if let Some(Kind::Revoked(r)) = kind(m) {
        ids.push(r.by);
    }
    if let Some(r) = chat_record_of(m) {
        unnamed_senders(r, &mut ids);
    }
    ids
}

fn unnamed_senders(r: &v1::ChatRecord, ids: &mut Vec<UserId>) {
    for item in &r.items {
        if item.sender_name.is_empty() {
            ids.push(item.sender_id);
        }
        if let Some(Kind::ChatRecord(inner)) = item.content.as_ref().and_then(|c| c.kind.as_ref()) {
            unnamed_senders(inner, ids);
        }
    }
}

/// One line of `ferry sync`: `[d_1_2 #3] alice: hello`, or for a group or
/// message event `[g_5 #4] * alice muted carol for 10 minutes`. A chat
/// record's items follow on lines of their own, indented.
pub fn plain_line(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    let head = format!("[{} #{}]", m.conversation_id, m.seq);
    let line = sanitize(&match said(m, name) {
        Said::Says(body) => format!("{head} {}: {body}", name(m.sender_id)),
        Said::Note(note) => format!("{head} * {note}"),
    });
    with_record(line, m, name)
}

/// A direct message as `ferry chat` shows it: `[from alice #3] hi`, or
/// `[to bob #3] hi` for the user's own message sent from another device to
/// `other`; events as `[from alice #5] * alice reacted 👍 to #3`.
pub fn chat_line(m: &v1::Message, mine: bool, other: &str, name: &impl Fn(UserId) -> String) -> String {
    let dir = if mine { "to" } else { "from" };
    let head = format!("[{dir} {other} #{}]", m.seq);
    let line = sanitize(&match said(m, name) {
        Said::Says(body) => format!("{head} {body}"),
        Said::Note(note) => format!("{head} * {note}"),
    });
    with_record(line, m, name)
}

/// A group message as `ferry chat` shows it: `[g_5 #4 alice] hi`, or for an
/// event `[g_5 #4] * alice muted carol for 10 minutes`.
pub fn group_chat_line(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    let line = sanitize(&match said(m, name) {
        Said::Says(body) => format!("[{} #{} {}] {body}", m.conversation_id, m.seq, name(m.sender_id)),
        Said::Note(note) => format!("[{} #{}] * {note}", m.conversation_id, m.seq),
    });
    with_record(line, m, name)
}

/// `line`, followed by the items of the chat record `m` holds, if any.
fn with_record(line: String, m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    match chat_record_of(m) {
        Some(r) => {
            let mut lines = vec![line];
            record_lines(r, 1, name, &mut lines);
            lines.join("\n")
        }
        None => line,
    }
}

/// A chat record's items, one line each at `depth` (two spaces a level):
/// `  alice: hi`; a record inside it shows its title, then its own items one
/// level further in. Each line is sanitized on its own.
fn record_lines(r: &v1::ChatRecord, depth: usize, name: &impl Fn(UserId) -> String, out: &mut Vec<String>) {
    let indent = "  ".repeat(depth);
    for item in &r.items {
        let who = if item.sender_name.is_empty() { name(item.sender_id) } else { item.sender_name.clone() };
        let text = item.content.as_ref().map(content_text).unwrap_or_default();
        out.push(sanitize(&format!("{indent}{who}: {text}")));
        if let Some(Kind::ChatRecord(inner)) = item.content.as_ref().and_then(|c| c.kind.as_ref()) {
            record_lines(inner, depth + 1, name, out);
        }
    }
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
        Some(Kind::CallLog(l)) => Said::Note(call_note(l, name)),
        _ => Said::Says(body(m, name)),
    }
}

/// A call log told as a sentence, in the words of its preview:
/// `📞 alice called: Missed video call`, `📞 bob called: Voice call 1:23`.
fn call_note(l: &v1::CallLog, name: &impl Fn(UserId) -> String) -> String {
    format!("📞 {} called: {}", name(l.caller_id), call_log_text(l))
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

/// A message's own words: whether it is a forwarded copy, the quote it
/// answers, its text, whether it was edited, its reactions.
fn body(m: &v1::Message, name: &impl Fn(UserId) -> String) -> String {
    let mut out = String::new();
    if m.content.as_ref().is_some_and(|c| c.forwarded) {
        out.push_str("(forwarded) ");
    }
    if let Some(q) = m.content.as_ref().and_then(|c| c.quote.as_ref()) {
        let quoted = if q.revoked { "[recalled]".to_owned() } else { format!("\"{}\"", q.preview) };
        out.push_str(&format!("↪ re #{} {}: {quoted} | ", q.seq, name(q.sender_id)));
    }
    match media_line(m) {
        Some(media) => out.push_str(&media),
        None => out.push_str(&text_of(m)),
    }
    if m.content.as_ref().is_some_and(|c| c.edited_at != 0) {
        out.push_str(" (edited)");
    }
    if !m.reactions.is_empty() {
        let counts: Vec<String> = m.reactions.iter().map(|r| format!("{} {}", r.emoji, r.count)).collect();
        out.push_str(&format!(" [{}]", counts.join(" ")));
    }
    out
}

/// A media message as `sync` and `chat` show it: its preview, the file's
/// name and size, and the command that downloads it:
/// `[Voice 0:07] note.ogg (4.0 KiB) · ferry download f_x1`.
pub fn media_line(m: &v1::Message) -> Option<String> {
    let file = media_file_of(m)?;
    let tag = match kind(m) {
        // The file's preview already names it.
        Some(Kind::File(_)) => "[File]".to_owned(),
        _ => text_of(m).into_owned(),
    };
    let size = human_size(u64::try_from(file.size).unwrap_or(0));
    Some(format!("{tag} {} ({size}) · ferry download {}", file.name, file.file_id))
}

/// Bytes for people: `512 B`, `1.5 KiB`, `3.0 MiB`, `2.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn kind(m: &v1::Message) -> Option<&Kind> {
    m.content.as_ref().and_then(|c| c.kind.as_ref())
}

/// One JSON object (one line) of `ferry sync --json`. `kind` comes from
/// [`kind_of`]; system messages also carry the event as `system`, texts
/// their mentions, replies a `quote`, edited messages `edited_at`, recalled
/// ones `revoked`, message events an `event`, forwarded copies `forwarded`,
/// merged forwards a `chat_record` (`title`, `items`), call logs a
/// `call_log` (`call_id`, `media`, `outcome`, `caller_id`, `duration_ms`),
/// media messages their
/// `file` (`id`, `name`, `size`, `mime`, `sha256`) and `width`/`height`/
/// `duration_ms` where the kind has them, and pulled messages with
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
        Some(Kind::ChatRecord(r)) => v["chat_record"] = record_json(r),
        Some(Kind::CallLog(l)) => {
            v["call_log"] = json!({
                "call_id": l.call_id,
                "media": l.media,
                "outcome": l.outcome,
                "caller_id": l.caller_id,
                "duration_ms": l.duration_ms,
            });
        }
        Some(Kind::Image(i)) => (v["width"], v["height"]) = (json!(i.width), json!(i.height)),
        Some(Kind::Voice(voice)) => v["duration_ms"] = json!(voice.duration_ms),
        Some(Kind::Video(video)) => {
            v["duration_ms"] = json!(video.duration_ms);
            (v["width"], v["height"]) = (json!(video.width), json!(video.height));
        }
        _ => {}
    }
    if let Some(f) = media_file_of(m) {
        v["file"] = json!({"id": f.file_id, "name": f.name, "size": f.size, "mime": f.mime, "sha256": f.sha256});
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
        if content.forwarded {
            v["forwarded"] = json!(true);
        }
    }
    if !m.reactions.is_empty() {
        let reactions: Vec<Value> =
            m.reactions.iter().map(|r| json!({"emoji": r.emoji, "count": r.count, "me": r.me})).collect();
        v["reactions"] = json!(reactions);
    }
    v
}

/// A chat record as JSON: `title`, and `items` with `sender_id`,
/// `sender_name`, `server_time`, `kind` and `text`; an item that is itself a
/// record carries it as `chat_record`.
fn record_json(r: &v1::ChatRecord) -> Value {
    let items: Vec<Value> = r
        .items
        .iter()
        .map(|item| {
            let content = item.content.as_ref();
            let mut v = json!({
                "sender_id": item.sender_id,
                "sender_name": item.sender_name,
                "server_time": item.server_time,
                "kind": content.and_then(|c| c.kind.as_ref()).map_or("unknown", ferry_proto::preview::kind_name),
                "text": content.map(content_text).unwrap_or_default(),
            });
            if let Some(Kind::ChatRecord(inner)) = content.and_then(|c| c.kind.as_ref()) {
                v["chat_record"] = record_json(inner);
            }
            v
        })
        .collect();
    json!({"title": r.title, "items": items})
}

/// One line of `ferry forward`, for one target (`label`, as the user named
/// it): `forwarded 2 messages to bob (d_1_3 #4, #5)`, `forwarded 2 messages
/// to bob as a chat record (d_1_3 #6)`, or the refusal
/// `bob: blocked: this user does not accept your messages` (with what was
/// stored before it, if anything was). `messages` is how many were
/// forwarded.
pub fn forward_line(label: &str, outcome: &v1::ForwardOutcome, messages: usize, merged: bool) -> String {
    let stored = match outcome.acks.split_first() {
        Some((first, rest)) => {
            let seqs: Vec<String> = std::iter::once(first).chain(rest).map(|a| format!("#{}", a.seq)).collect();
            format!("{} {}", first.conversation_id, seqs.join(", "))
        }
        None => String::new(),
    };
    sanitize(&match &outcome.error {
        Some(e) if stored.is_empty() => format!("{label}: {}: {}", e.code, e.message),
        Some(e) => format!("{label}: {}: {} (stored before that: {stored})", e.code, e.message),
        None => {
            let what = if messages == 1 { "1 message".to_owned() } else { format!("{messages} messages") };
            let how = if merged { " as a chat record" } else { "" };
            format!("forwarded {what} to {label}{how} ({stored})")
        }
    })
}

/// One line of `ferry conversations`: the conversation's `title` (the
/// peer's username, or the group's name) and id, the unread count, markers
/// (📌 pinned, 🔕 muted, @ mentioned, `archived`), the draft, the newest
/// message and when it came:
/// `bob (d_1_2): 2 unread 📌 @ draft "see you" · bob: lunch? · 2023-11-14 22:13 UTC`.
pub fn conversation_line(c: &v1::Conversation, title: &str, name: &impl Fn(UserId) -> String) -> String {
    let mut line = format!("{title} ({}): {} unread", c.conversation_id, c.unread);
    for (on, marker) in [(c.pinned, "📌"), (c.muted, "🔕"), (c.mentioned, "@"), (c.archived, "archived")] {
        if on {
            line.push(' ');
            line.push_str(marker);
        }
    }
    if !c.draft.is_empty() {
        line.push_str(&format!(" draft \"{}\"", c.draft));
    }
    if !c.preview.is_empty() {
        line.push_str(&format!(" · {}: {}", name(c.last_sender_id), c.preview));
    }
    if c.last_time > 0 {
        line.push_str(&format!(" · {}", utc_minute(c.last_time)));
    }
    sanitize(&line)
}

/// One JSON object (one line) of `ferry conversations --json`: every field
/// of the conversation, plus the `peer`'s username in a direct one.
pub fn conversation_json(c: &v1::Conversation, peer: Option<&str>) -> String {
    json!({
        "conversation_id": c.conversation_id,
        "kind": c.kind,
        "peer_user_id": c.peer_user_id,
        "peer": peer,
        "max_seq": c.max_seq,
        "read_seq": c.read_seq,
        "unread": c.unread,
        "last_time": c.last_time,
        "mentioned": c.mentioned,
        "peer_read_seq": c.peer_read_seq,
        "pinned": c.pinned,
        "muted": c.muted,
        "archived": c.archived,
        "draft": c.draft,
        "name": c.name,
        "avatar": c.avatar,
        "last_seq": c.last_seq,
        "last_sender_id": c.last_sender_id,
        "last_kind": c.last_kind,
        "preview": c.preview,
    })
    .to_string()
}

/// `ferry read-status`: `g_5 #4: read by 1 (bob), unread by 2 (carol, dave)`.
pub fn read_status_line(s: &v1::ReadStatus, name: &impl Fn(UserId) -> String) -> String {
    let who = |count: u32, ids: &[UserId]| {
        let names: Vec<String> = ids.iter().map(|&id| name(id)).collect();
        if names.is_empty() { count.to_string() } else { format!("{count} ({})", names.join(", ")) }
    };
    sanitize(&format!(
        "{} #{}: read by {}, unread by {}",
        s.conversation_id,
        s.seq,
        who(s.read_count, &s.read_user_ids),
        who(s.unread_count, &s.unread_user_ids)
    ))
}

/// `ferry read-status --json`: the status's fields, plus the usernames as
/// `read` and `unread`.
pub fn read_status_json(s: &v1::ReadStatus, name: &impl Fn(UserId) -> String) -> String {
    let names = |ids: &[UserId]| ids.iter().map(|&id| name(id)).collect::<Vec<_>>();
    json!({
        "conversation_id": s.conversation_id,
        "seq": s.seq,
        "read_count": s.read_count,
        "unread_count": s.unread_count,
        "read_user_ids": s.read_user_ids,
        "unread_user_ids": s.unread_user_ids,
        "read": names(&s.read_user_ids),
        "unread": names(&s.unread_user_ids),
    })
    .to_string()
}

/// How `ferry search` marks the matched parts of a snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Highlight {
    /// ANSI bold, for a terminal.
    Bold,
    /// `[数据库]`, where escapes would be noise (a pipe, a file, `NO_COLOR`).
    Brackets,
}

impl Highlight {
    fn mark(self, text: &str) -> String {
        match self {
            Self::Bold => format!("\x1b[1m{text}\x1b[0m"),
            Self::Brackets => format!("[{text}]"),
        }
    }
}

/// A search hit's snippet on one line, the matched parts marked:
/// `我们明天讨论[数据库]迁移`. Each part is sanitized on its own, before
/// marking.
pub fn snippet(parts: &[v1::SnippetPart], highlight: Highlight) -> String {
    parts.iter().map(|p| if p.hit { highlight.mark(&sanitize(&p.text)) } else { sanitize(&p.text) }).collect()
}

/// One hit of `ferry search`: when it was sent, the conversation (its
/// `title`, the peer's username or the group's name, if known; then its id
/// and the seq, as `revoke` and `forward` take them), the sender, and the
/// snippet: `2023-11-14 22:13 UTC · bob (d_1_2 #3) · alice: 我们明天讨论[数据库]迁移`.
/// A hit without a snippet (a picture has no text to match) shows the
/// message's preview, `[Image]`.
pub fn search_hit_line(
    hit: &v1::SearchHit,
    title: Option<&str>,
    name: &impl Fn(UserId) -> String,
    highlight: Highlight,
) -> String {
    let Some(m) = &hit.message else { return "(message not available)".to_owned() };
    let place = match title {
        Some(title) => format!("{title} ({} #{})", m.conversation_id, m.seq),
        None => format!("{} #{}", m.conversation_id, m.seq),
    };
    let head = sanitize(&format!("{} · {place} · {}: ", utc_minute(m.server_time), name(m.sender_id)));
    let body = if hit.snippet.is_empty() { sanitize(&text_of(m)) } else { snippet(&hit.snippet, highlight) };
    head + &body
}

/// A friend that `ferry search` found by name: the username, the display
/// name if it says more, your remark, the conversation:
/// `bob · Bob Builder · remark "boss" · d_1_2`.
pub fn contact_hit_line(c: &v1::ContactHit) -> String {
    let mut parts = vec![c.username.clone()];
    if !c.display_name.is_empty() && c.display_name != c.username {
        parts.push(c.display_name.clone());
    }
    if !c.remark.is_empty() {
        parts.push(format!("remark \"{}\"", c.remark));
    }
    parts.push(c.conversation_id.clone());
    sanitize(&parts.join(" · "))
}

/// A group that `ferry search` found by name: `crew · 3 members · g_5`.
pub fn group_hit_line(g: &v1::GroupHit) -> String {
    let members = if g.member_count == 1 { "1 member".to_owned() } else { format!("{} members", g.member_count) };
    sanitize(&format!("{} · {members} · {}", g.name, g.conversation_id))
}

/// Unix milliseconds as `2023-11-14 22:13 UTC` (the proleptic Gregorian
/// calendar; no time-zone database is needed for UTC).
pub fn utc_minute(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
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
    fn call_logs_read_as_what_happened() {
        let log = |media: &str, outcome: &str, duration_ms| {
            let l = v1::CallLog {
                call_id: "c1".into(),
                media: media.into(),
                outcome: outcome.into(),
                caller_id: 1,
                duration_ms,
            };
            with_kind(1, 5, Kind::CallLog(l))
        };
        assert_eq!(plain_line(&log("video", "missed", 0), &name), "[d_1_2 #5] * 📞 alice called: Missed video call");
        let m = log("audio", "completed", 83_000);
        assert_eq!(plain_line(&m, &name), "[d_1_2 #5] * 📞 alice called: Voice call 1:23");
        assert_eq!(chat_line(&m, false, "alice", &name), "[from alice #5] * 📞 alice called: Voice call 1:23");
        let line = |media, outcome| plain_line(&log(media, outcome, 0), &name);
        assert_eq!(line("video", "declined"), "[d_1_2 #5] * 📞 alice called: Declined video call");
        assert_eq!(line("audio", "cancelled"), "[d_1_2 #5] * 📞 alice called: Cancelled voice call");
        assert_eq!(line("audio", "busy"), "[d_1_2 #5] * 📞 alice called: Voice call: busy");
        let v = json(&json_line(&m, &name));
        assert_eq!((v["kind"].as_str(), v["text"].as_str()), (Some("call_log"), Some("[Voice call 1:23]")));
        let expected =
            json!({"call_id": "c1", "media": "audio", "outcome": "completed", "caller_id": 1, "duration_ms": 83_000});
        assert_eq!(v["call_log"], expected);
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

    fn record(title: &str, items: Vec<(UserId, &str, v1::MessageContent)>) -> v1::ChatRecord {
        let items = items
            .into_iter()
            .map(|(sender_id, sender_name, content)| v1::RecordItem {
                sender_id,
                sender_name: sender_name.into(),
                server_time: 1_700_000_000_000,
                content: Some(content),
            })
            .collect();
        v1::ChatRecord { title: title.into(), items }
    }

    #[test]
    fn forwarded_copies_are_marked() {
        let mut m = msg("look at this");
        if let Some(c) = m.content.as_mut() {
            c.forwarded = true;
        }
        assert_eq!(plain_line(&m, &name), "[d_1_2 #3] alice: (forwarded) look at this");
        assert_eq!(chat_line(&m, false, "alice", &name), "[from alice #3] (forwarded) look at this");
        m.conversation_id = "g_5".into();
        assert_eq!(group_chat_line(&m, &name), "[g_5 #3 alice] (forwarded) look at this");
        let v = json(&json_line(&m, &name));
        assert_eq!((v["forwarded"].as_bool(), v["text"].as_str()), (Some(true), Some("look at this")));
        assert!(json(&json_line(&msg("x"), &name)).get("forwarded").is_none());
    }

    #[test]
    fn chat_records_show_their_items_indented() {
        let inner = record("Chat history of carol", vec![(3, "carol", ferry_client::text_content("deep"))]);
        let outer = record(
            "Chat history of alice, bob",
            vec![
                (1, "alice", ferry_client::text_content("hi")),
                // No name recorded: the reader's name for the sender.
                (2, "", ferry_client::text_content("hey\x1b[2J")),
                (3, "carol", v1::MessageContent { kind: Some(Kind::ChatRecord(inner)), ..Default::default() }),
            ],
        );
        let m = with_kind(1, 6, Kind::ChatRecord(outer));
        assert_eq!(
            plain_line(&m, &name),
            "[d_1_2 #6] alice: [Chat history] Chat history of alice, bob\n  alice: hi\n  bob: hey\\u{1b}[2J\n  \
             carol: [Chat history] Chat history of carol\n    carol: deep"
        );
        let chat = chat_line(&m, false, "alice", &name);
        assert_eq!(
            chat.lines().collect::<Vec<_>>()[..2],
            ["[from alice #6] [Chat history] Chat history of alice, bob", "  alice: hi"]
        );
        let mut g = m.clone();
        g.conversation_id = "g_5".into();
        assert!(
            group_chat_line(&g, &name)
                .starts_with("[g_5 #6 alice] [Chat history] Chat history of alice, bob\n  alice: hi\n")
        );
        // The item without a name is looked up.
        assert_eq!(named_ids(&m), [1, 2]);

        let v = json(&json_line(&m, &name));
        assert_eq!(v["kind"], "chat_record");
        let r = &v["chat_record"];
        assert_eq!(r["title"], "Chat history of alice, bob");
        assert_eq!(
            r["items"][0],
            json!({"sender_id": 1, "sender_name": "alice", "server_time": 1_700_000_000_000_i64, "kind": "text", "text": "hi"})
        );
        assert_eq!(r["items"][1]["text"], "hey\x1b[2J");
        assert_eq!(r["items"][2]["kind"], "chat_record");
        assert_eq!(r["items"][2]["chat_record"]["title"], "Chat history of carol");
        assert_eq!(r["items"][2]["chat_record"]["items"][0]["text"], "deep");
    }

    #[test]
    fn forward_outcomes_are_one_line_per_target() {
        let ack = |seq| v1::SendAck { conversation_id: "d_1_3".into(), seq, ..Default::default() };
        let ok = v1::ForwardOutcome { conversation_id: "d_1_3".into(), acks: vec![ack(4), ack(5)], error: None };
        assert_eq!(forward_line("carol", &ok, 2, false), "forwarded 2 messages to carol (d_1_3 #4, #5)");
        let merged = v1::ForwardOutcome { acks: vec![ack(6)], ..ok.clone() };
        assert_eq!(
            forward_line("carol", &merged, 2, true),
            "forwarded 2 messages to carol as a chat record (d_1_3 #6)"
        );
        let one = v1::ForwardOutcome { acks: vec![ack(7)], ..ok.clone() };
        assert_eq!(forward_line("g_5", &one, 1, false), "forwarded 1 message to g_5 (d_1_3 #7)");
        let error = v1::Error {
            code: "blocked".into(),
            message: "this user does not accept your messages\n".into(),
            ..Default::default()
        };
        let refused = v1::ForwardOutcome { conversation_id: String::new(), acks: vec![], error: Some(error.clone()) };
        assert_eq!(forward_line("bob", &refused, 2, false), "bob: blocked: this user does not accept your messages\\n");
        let partly = v1::ForwardOutcome { acks: vec![ack(4)], error: Some(error), ..ok };
        assert_eq!(
            forward_line("bob", &partly, 2, false),
            "bob: blocked: this user does not accept your messages\\n (stored before that: d_1_3 #4)"
        );
    }

    #[test]
    fn conversations_show_unread_markers_draft_and_time() {
        let c = v1::Conversation {
            conversation_id: "d_1_2".into(),
            kind: "direct".into(),
            peer_user_id: 2,
            max_seq: 9,
            read_seq: 7,
            unread: 2,
            last_time: 1_700_000_000_000,
            mentioned: true,
            peer_read_seq: 9,
            pinned: true,
            muted: true,
            archived: false,
            draft: "see\nyou".into(),
            name: "Bob B.".into(),
            avatar: "https://example.com/b.png".into(),
            last_seq: 8,
            last_sender_id: 2,
            last_kind: "text".into(),
            preview: "lunch?".into(),
        };
        assert_eq!(
            conversation_line(&c, "bob", &name),
            "bob (d_1_2): 2 unread 📌 🔕 @ draft \"see\\nyou\" · bob: lunch? · 2023-11-14 22:13 UTC"
        );
        // Nothing to mark, a hidden last message (no preview), no time.
        let quiet = v1::Conversation {
            unread: 0,
            mentioned: false,
            pinned: false,
            muted: false,
            archived: true,
            draft: String::new(),
            last_kind: "hidden".into(),
            preview: String::new(),
            last_time: 0,
            ..c.clone()
        };
        assert_eq!(conversation_line(&quiet, "bob", &name), "bob (d_1_2): 0 unread archived");
        let group = v1::Conversation { conversation_id: "g_5".into(), preview: "\x1b[2J".into(), ..quiet };
        assert_eq!(conversation_line(&group, "crew", &name), "crew (g_5): 0 unread archived · bob: \\u{1b}[2J");

        let v = json(&conversation_json(&c, Some("bob")));
        assert_eq!(
            v,
            json!({
                "conversation_id": "d_1_2", "kind": "direct", "peer_user_id": 2, "peer": "bob", "max_seq": 9,
                "read_seq": 7, "unread": 2, "last_time": 1_700_000_000_000_i64, "mentioned": true,
                "peer_read_seq": 9, "pinned": true, "muted": true, "archived": false, "draft": "see\nyou",
                "name": "Bob B.", "avatar": "https://example.com/b.png", "last_seq": 8, "last_sender_id": 2,
                "last_kind": "text", "preview": "lunch?",
            })
        );
        assert_eq!(json(&conversation_json(&group, None))["peer"], Value::Null);
    }

    #[test]
    fn read_status_names_readers() {
        let s = v1::ReadStatus {
            conversation_id: "g_5".into(),
            seq: 4,
            read_count: 1,
            unread_count: 2,
            read_user_ids: vec![2],
            unread_user_ids: vec![3, 9],
        };
        assert_eq!(read_status_line(&s, &name), "g_5 #4: read by 1 (bob), unread by 2 (carol, #9)");
        let nobody = v1::ReadStatus { read_count: 0, read_user_ids: vec![], ..s.clone() };
        assert_eq!(read_status_line(&nobody, &name), "g_5 #4: read by 0, unread by 2 (carol, #9)");
        let v = json(&read_status_json(&s, &name));
        assert_eq!(
            v,
            json!({
                "conversation_id": "g_5", "seq": 4, "read_count": 1, "unread_count": 2,
                "read_user_ids": [2], "unread_user_ids": [3, 9], "read": ["bob"], "unread": ["carol", "#9"],
            })
        );
    }

    fn parts(parts: &[(&str, bool)]) -> Vec<v1::SnippetPart> {
        parts.iter().map(|&(text, hit)| v1::SnippetPart { text: text.into(), hit }).collect()
    }

    #[test]
    fn snippets_mark_what_matched() {
        let found = parts(&[("…我们明天讨论", false), ("数据库", true), ("迁移和", false), ("数据库", true)]);
        assert_eq!(snippet(&found, Highlight::Brackets), "…我们明天讨论[数据库]迁移和[数据库]");
        assert_eq!(snippet(&found, Highlight::Bold), "…我们明天讨论\x1b[1m数据库\x1b[0m迁移和\x1b[1m数据库\x1b[0m");
        assert_eq!(
            snippet(&parts(&[("Database", true), (" backup", false)]), Highlight::Brackets),
            "[Database] backup"
        );
        // Nothing matched (a filter without a query): the text as it is.
        assert_eq!(snippet(&parts(&[("report.pdf", false)]), Highlight::Bold), "report.pdf");
        assert_eq!(snippet(&[], Highlight::Bold), "");
        // The server's text cannot act on the terminal, matched or not: the
        // only escapes left are the marks.
        let hostile = parts(&[("\x1b[2J", false), ("x\x1b]0;owned\x07", true)]);
        assert_eq!(snippet(&hostile, Highlight::Brackets), "\\u{1b}[2J[x\\u{1b}]0;owned\\u{7}]");
        let bold = snippet(&hostile, Highlight::Bold);
        assert_eq!(bold, "\\u{1b}[2J\x1b[1mx\\u{1b}]0;owned\\u{7}\x1b[0m");
        assert_eq!(bold.matches('\x1b').count(), 2);
    }

    #[test]
    fn search_hits_say_when_where_who_and_what() {
        let hit = v1::SearchHit {
            message: Some(msg("我们明天讨论数据库迁移")),
            snippet: parts(&[("我们明天讨论", false), ("数据库", true), ("迁移", false)]),
        };
        assert_eq!(
            search_hit_line(&hit, Some("bob"), &name, Highlight::Brackets),
            "2023-11-14 22:13 UTC · bob (d_1_2 #3) · alice: 我们明天讨论[数据库]迁移"
        );
        assert_eq!(
            search_hit_line(&hit, None, &name, Highlight::Bold),
            "2023-11-14 22:13 UTC · d_1_2 #3 · alice: 我们明天讨论\x1b[1m数据库\x1b[0m迁移"
        );
        // A group's name is the server's text too.
        let mut in_group = hit.clone();
        if let Some(m) = in_group.message.as_mut() {
            (m.conversation_id, m.sender_id) = ("g_5".into(), 2);
        }
        assert_eq!(
            search_hit_line(&in_group, Some("crew\n"), &name, Highlight::Brackets),
            "2023-11-14 22:13 UTC · crew\\n (g_5 #3) · bob: 我们明天讨论[数据库]迁移"
        );
        // No snippet (nothing to match in a picture): its preview.
        let image =
            v1::SearchHit { message: Some(with_kind(1, 4, Kind::Image(v1::Image::default()))), snippet: Vec::new() };
        assert!(search_hit_line(&image, Some("bob"), &name, Highlight::Bold).ends_with("(d_1_2 #4) · alice: [Image]"));
        let gone = v1::SearchHit { message: None, snippet: Vec::new() };
        assert_eq!(search_hit_line(&gone, None, &name, Highlight::Bold), "(message not available)");
    }

    #[test]
    fn friends_and_groups_found_by_name_are_one_line_each() {
        let c = v1::ContactHit {
            user_id: 2,
            username: "bob".into(),
            display_name: "Bob Builder".into(),
            remark: "boss".into(),
            avatar: String::new(),
            conversation_id: "d_1_2".into(),
        };
        assert_eq!(contact_hit_line(&c), "bob · Bob Builder · remark \"boss\" · d_1_2");
        let plain = v1::ContactHit { display_name: "bob".into(), remark: String::new(), ..c };
        assert_eq!(contact_hit_line(&plain), "bob · d_1_2");
        let g = v1::GroupHit {
            group_id: 5,
            name: "数据库小组".into(),
            avatar: String::new(),
            member_count: 3,
            conversation_id: "g_5".into(),
        };
        assert_eq!(group_hit_line(&g), "数据库小组 · 3 members · g_5");
        assert_eq!(group_hit_line(&v1::GroupHit { member_count: 1, ..g }), "数据库小组 · 1 member · g_5");
    }

    fn file(name: &str, size: i64) -> Option<v1::FileRef> {
        Some(v1::FileRef {
            file_id: "f_x1".into(),
            size,
            mime: "audio/ogg".into(),
            name: name.into(),
            sha256: "ab".repeat(32),
        })
    }

    #[test]
    fn media_messages_show_name_size_and_the_download_command() {
        let voice = with_kind(
            1,
            5,
            Kind::Voice(v1::Voice { file: file("note.ogg", 4096), duration_ms: 7_400, ..Default::default() }),
        );
        assert_eq!(
            plain_line(&voice, &name),
            "[d_1_2 #5] alice: [Voice 0:07] note.ogg (4.0 KiB) · ferry download f_x1"
        );
        assert_eq!(
            chat_line(&voice, false, "alice", &name),
            "[from alice #5] [Voice 0:07] note.ogg (4.0 KiB) · ferry download f_x1"
        );
        let doc = with_kind(2, 6, Kind::File(v1::File { file: file("报告\n.pdf", 3 * 1024 * 1024 + 99) }));
        assert_eq!(plain_line(&doc, &name), "[d_1_2 #6] bob: [File] 报告\\n.pdf (3.0 MiB) · ferry download f_x1");
        let image = v1::Image { file: file("cat.png", 12), width: 64, height: 48, thumbnail: None };
        let image = with_kind(1, 7, Kind::Image(image));
        assert_eq!(plain_line(&image, &name), "[d_1_2 #7] alice: [Image] cat.png (12 B) · ferry download f_x1");

        let v = json(&json_line(&image, &name));
        assert_eq!((v["kind"].as_str(), v["text"].as_str()), (Some("image"), Some("[Image]")));
        assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(64), Some(48)));
        assert_eq!(
            v["file"],
            json!({"id": "f_x1", "name": "cat.png", "size": 12, "mime": "audio/ogg", "sha256": "ab".repeat(32)})
        );
        let v = json(&json_line(&voice, &name));
        assert_eq!((v["duration_ms"].as_u64(), v["file"]["size"].as_u64()), (Some(7_400), Some(4096)));
        assert!(json(&json_line(&msg("hi"), &name)).get("file").is_none());
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        assert_eq!(human_size(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn times_are_utc_minutes() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_700_000_000_000), "2023-11-14 22:13 UTC");
        // A leap day, and the last minute of a year.
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minute(1_735_689_599_999), "2024-12-31 23:59 UTC");
    }
}
