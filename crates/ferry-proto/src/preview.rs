//! Preview lines of the rich message kinds, for conversation lists and
//! notifications: the one definition the server and every Rust client
//! share. Bracketed tags ("[Image]", "[Voice 0:07]") are stable English so
//! clients can map them to their own language.

use crate::v1::{self, message_content::Kind};

/// The preview line of a rich kind, `None` for text and system events.
pub fn kind_preview(kind: &Kind) -> Option<String> {
    Some(match kind {
        Kind::Image(_) => "[Image]".to_owned(),
        Kind::File(f) => tagged("[File]", f.file.as_ref().map_or("", |f| f.name.as_str())),
        Kind::Voice(v) => format!("[Voice {}]", clock(v.duration_ms)),
        Kind::Video(v) => format!("[Video {}]", clock(v.duration_ms)),
        Kind::Location(l) => tagged("[Location]", if l.title.is_empty() { &l.address } else { &l.title }),
        Kind::ContactCard(_) => "[Contact card]".to_owned(),
        Kind::Link(l) => tagged("[Link]", if l.title.is_empty() { &l.url } else { &l.title }),
        Kind::Custom(x) if !x.fallback_text.is_empty() => x.fallback_text.clone(),
        Kind::Custom(x) => format!("[{}]", x.r#type),
        Kind::CallLog(l) => call_preview(l),
        Kind::Revoked(_) => "[Recalled]".to_owned(),
        Kind::Event(e) => event_preview(e),
        Kind::ChatRecord(r) => tagged("[Chat history]", &r.title),
        Kind::Text(_) | Kind::System(_) => return None,
    })
}

/// The stable name of a kind ("text", "image", ..., the proto field name),
/// as quotes and filters use it.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Text(_) => "text",
        Kind::System(_) => "system",
        Kind::Image(_) => "image",
        Kind::File(_) => "file",
        Kind::Voice(_) => "voice",
        Kind::Video(_) => "video",
        Kind::Location(_) => "location",
        Kind::ContactCard(_) => "contact_card",
        Kind::Link(_) => "link",
        Kind::Custom(_) => "custom",
        Kind::CallLog(_) => "call_log",
        Kind::Revoked(_) => "revoked",
        Kind::Event(_) => "event",
        Kind::ChatRecord(_) => "chat_record",
    }
}

fn event_preview(e: &v1::MessageEvent) -> String {
    match e.event.as_str() {
        "revoked" => "[Recalled a message]".to_owned(),
        "edited" => "[Edited a message]".to_owned(),
        "reaction_added" => format!("[Reacted {}]", e.emoji),
        "reaction_removed" => format!("[Removed reaction {}]", e.emoji),
        "pinned" => "[Pinned a message]".to_owned(),
        "unpinned" => "[Unpinned a message]".to_owned(),
        _ => "[Event]".to_owned(),
    }
}

fn tagged(tag: &str, detail: &str) -> String {
    if detail.is_empty() { tag.to_owned() } else { format!("{tag} {detail}") }
}

/// m:ss (or h:mm:ss) of a duration.
fn clock(ms: u32) -> String {
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

fn call_preview(l: &v1::CallLog) -> String {
    format!("[{}]", call_log_text(l))
}

/// A call log in words, without the brackets of its preview: "Missed video
/// call", "Voice call 1:05", "Declined video call", "Cancelled voice call",
/// "Video call: busy".
pub fn call_log_text(l: &v1::CallLog) -> String {
    let media = if l.media == "video" { "video" } else { "voice" };
    match l.outcome.as_str() {
        "completed" => format!("{} call {}", capitalised(media), clock(l.duration_ms)),
        "missed" => format!("Missed {media} call"),
        "declined" => format!("Declined {media} call"),
        "cancelled" => format!("Cancelled {media} call"),
        "busy" => format!("{} call: busy", capitalised(media)),
        _ => format!("{} call", capitalised(media)),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> v1::FileRef {
        v1::FileRef { name: name.into(), ..Default::default() }
    }

    #[test]
    fn previews_name_the_kind() {
        let p = |k: Kind| kind_preview(&k).unwrap();
        assert_eq!(p(Kind::Image(v1::Image::default())), "[Image]");
        assert_eq!(p(Kind::File(v1::File { file: Some(file("报告.pdf")) })), "[File] 报告.pdf");
        assert_eq!(p(Kind::Voice(v1::Voice { duration_ms: 7_400, ..Default::default() })), "[Voice 0:07]");
        assert_eq!(p(Kind::Video(v1::Video { duration_ms: 3_725_000, ..Default::default() })), "[Video 1:02:05]");
        let place = v1::Location { title: "Office".into(), ..Default::default() };
        assert_eq!(p(Kind::Location(place)), "[Location] Office");
        assert_eq!(p(Kind::Link(v1::Link { url: "https://a.b".into(), ..Default::default() })), "[Link] https://a.b");
        let poll = v1::Custom { r#type: "acme.poll".into(), ..Default::default() };
        assert_eq!(p(Kind::Custom(poll)), "[acme.poll]");
        let call = v1::CallLog { media: "video".into(), outcome: "missed".into(), ..Default::default() };
        assert_eq!(p(Kind::CallLog(call)), "[Missed video call]");
        let call = v1::CallLog {
            media: "audio".into(),
            outcome: "completed".into(),
            duration_ms: 65_000,
            ..Default::default()
        };
        assert_eq!(call_log_text(&call), "Voice call 1:05");
        assert_eq!(p(Kind::CallLog(call)), "[Voice call 1:05]");
        assert_eq!(kind_preview(&Kind::Text(v1::Text::default())), None);
        assert_eq!(p(Kind::Revoked(v1::Revoked::default())), "[Recalled]");
        let reacted = v1::MessageEvent { event: "reaction_added".into(), emoji: "👍".into(), ..Default::default() };
        assert_eq!(p(Kind::Event(Box::new(reacted))), "[Reacted 👍]");
        assert_eq!(kind_name(&Kind::ContactCard(v1::ContactCard::default())), "contact_card");
    }
}
