//! Message content: the one place that knows the kinds of
//! `MessageContent`. Per-kind validation, what the store keeps and how it
//! comes back, preview text, and the send ack all live here (the rich kinds'
//! rules and previews in `kinds`), so a new kind is one arm in the proto
//! plus one arm in each `match` of this module or `kinds`.
//!
//! Content is decoded once, when a send is admitted, and travels decoded to
//! the fan-out ([`Admitted`] → [`Committed`]); the store keeps the protobuf
//! encoding of `MessageContent`, decoded again only when read back by sync.

pub mod files;
mod kinds;

use ferry_core::{ApiError, ConversationId, Limits, UserId, validate};
use ferry_proto::v1::{self, message_content::Kind};
use ferry_store::{Appended, SearchDoc, StoredMessage};
use prost::Message as _;

/// Most members one message may mention.
pub const MAX_MENTIONS: usize = 100;

/// Characters of a quoted message's preview.
pub const QUOTE_PREVIEW_CHARS: usize = 100;

/// A validated send: the content, its stored encoding, and what the store
/// must know about it (mentions mark the mentioned members' conversations).
#[derive(Debug, Clone)]
pub struct Admitted {
    pub content: v1::MessageContent,
    pub body: Vec<u8>,
    pub mentions: Vec<UserId>,
    pub mention_all: bool,
    /// A user the content names who must exist (a contact card).
    pub names_user: Option<UserId>,
    /// The seq of the message this one quotes (a reply), to be resolved
    /// into a [`v1::Quote`] with [`Admitted::with_quote`].
    pub quote_seq: Option<u64>,
    /// The files the content references ([`files::file_ids`]).
    pub files: Vec<String>,
}

/// What a user may send: validates `content` against the limits.
pub fn admit(content: Option<v1::MessageContent>, limits: &Limits) -> Result<Admitted, ApiError> {
    let content = content.ok_or_else(|| ApiError::invalid("content is required"))?;
    if content.edited_at != 0 || content.forwarded {
        return Err(ApiError::invalid("edited_at and forwarded are set by the server"));
    }
    let quote_seq = match &content.quote {
        Some(q) if q.seq == 0 => return Err(ApiError::invalid("quote.seq must name a message")),
        Some(q) => Some(q.seq),
        None => None,
    };
    let (mentions, mention_all, names_user) = match &content.kind {
        Some(Kind::Text(t)) => {
            validate::text(&t.text, limits)?;
            if t.mention_user_ids.len() > MAX_MENTIONS {
                return Err(ApiError::invalid(format!("at most {MAX_MENTIONS} mentions per message")));
            }
            (t.mention_user_ids.clone(), t.mention_all, None)
        }
        Some(Kind::System(_)) => return Err(ApiError::invalid("system messages are written by the server")),
        Some(kind) => {
            let needs = kinds::check(kind)?.unwrap_or_default();
            (Vec::new(), false, needs.user)
        }
        None => return Err(ApiError::invalid("content has no known kind")),
    };
    let files = files::file_ids(&content);
    Ok(Admitted { body: content.encode_to_vec(), content, mentions, mention_all, names_user, quote_seq, files })
}

impl Admitted {
    /// Fits the send to its conversation: mentions mean something in groups
    /// only (the content keeps them as the sender wrote it).
    pub fn into(self, conversation: ConversationId) -> Self {
        match conversation {
            ConversationId::Group(_) => self,
            ConversationId::Direct { .. } => Self { mentions: Vec::new(), mention_all: false, ..self },
        }
    }

    /// Sets the resolved quote of a reply (and the stored encoding).
    pub fn with_quote(mut self, quote: v1::Quote) -> Self {
        self.content.quote = Some(quote);
        self.body = self.content.encode_to_vec();
        self
    }
}

/// What a reply shows of the message it quotes, as that message is now.
pub fn quote_of(quoted: &StoredMessage) -> v1::Quote {
    let content = v1::MessageContent::decode(quoted.body.as_slice()).unwrap_or_default();
    let revoked = matches!(content.kind, Some(Kind::Revoked(_)));
    v1::Quote {
        seq: quoted.seq,
        sender_id: quoted.sender,
        kind: content.kind.as_ref().map_or("unknown", ferry_proto::preview::kind_name).to_owned(),
        preview: if revoked { String::new() } else { preview_chars(&content, QUOTE_PREVIEW_CHARS) },
        revoked,
    }
}

/// Whether stored content is an event or what a recall left: neither can
/// be quoted, recalled, edited, reacted to or pinned.
pub fn is_event(content: &v1::MessageContent) -> bool {
    matches!(content.kind, Some(Kind::Event(_)))
}

/// Decodes a stored body (see [`to_wire`] on corrupt bodies).
pub fn decode(m: &StoredMessage) -> v1::MessageContent {
    v1::MessageContent::decode(m.body.as_slice()).unwrap_or_default()
}

/// The body a recalled message keeps.
pub fn revoked_body(by: UserId, at: i64) -> Vec<u8> {
    v1::MessageContent { kind: Some(Kind::Revoked(v1::Revoked { by, at })), ..Default::default() }.encode_to_vec()
}

/// The event message about an earlier message.
pub fn event(event: v1::MessageEvent) -> Admitted {
    server_written(v1::MessageContent { kind: Some(Kind::Event(Box::new(event))), ..Default::default() })
}

/// A server-written group event.
pub fn system(event: v1::System) -> Admitted {
    server_written(v1::MessageContent { kind: Some(Kind::System(event)), ..Default::default() })
}

/// Content the server wrote (or copied, forwarding): nothing to resolve,
/// nobody mentioned.
pub fn server_written(content: v1::MessageContent) -> Admitted {
    Admitted {
        files: files::file_ids(&content),
        body: content.encode_to_vec(),
        content,
        mentions: Vec::new(),
        mention_all: false,
        names_user: None,
        quote_seq: None,
    }
}

/// What search finds stored content by: its kind and its words (text, file
/// names, titles, addresses, a chat record's title and texts). `None` for
/// what is never searched: system messages, events and recalls.
pub fn search_doc(content: &v1::MessageContent) -> Option<SearchDoc> {
    let kind = content.kind.as_ref()?;
    let name = |f: &Option<v1::FileRef>| f.as_ref().map(|f| f.name.clone()).unwrap_or_default();
    let text = match kind {
        Kind::System(_) | Kind::Event(_) | Kind::Revoked(_) => return None,
        Kind::Text(t) => t.text.clone(),
        Kind::Image(i) => name(&i.file),
        Kind::File(f) => name(&f.file),
        Kind::Voice(v) => name(&v.file),
        Kind::Video(v) => name(&v.file),
        Kind::Location(l) => format!("{}\n{}", l.title, l.address),
        Kind::Link(l) => format!("{}\n{}\n{}", l.title, l.description, l.url),
        Kind::Custom(c) => c.fallback_text.clone(),
        Kind::ChatRecord(r) => {
            let mut text = r.title.clone();
            for item in &r.items {
                if let Some(Kind::Text(t)) = item.content.as_ref().and_then(|c| c.kind.as_ref()) {
                    text.push('\n');
                    text.push_str(&t.text);
                }
            }
            text
        }
        Kind::ContactCard(_) | Kind::CallLog(_) => String::new(),
    };
    Some(SearchDoc { kind: ferry_proto::preview::kind_name(kind).to_owned(), text })
}

/// How the store reads a stored body for search: [`search_doc`] of the
/// decoded content.
pub fn search_extractor() -> ferry_store::SearchExtractor {
    std::sync::Arc::new(|body: &[u8]| search_doc(&v1::MessageContent::decode(body).ok()?))
}

/// Indexes messages stored before search existed, a short write at a time
/// in the background (the store knows what is left; usually nothing).
pub async fn backfill_search(store: std::sync::Arc<dyn ferry_store::Store>) {
    /// Messages per step, and the pause between steps that leaves the
    /// writer to the traffic.
    const STEP: u32 = 2_000;
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
    let started = std::time::Instant::now();
    let mut steps = 0u64;
    loop {
        match store.backfill_search(STEP).await {
            Ok(true) => steps += 1,
            Ok(false) => break,
            Err(e) => {
                tracing::warn!(error = %e, "indexing older messages for search failed; retrying in 5 s");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        }
        if steps.is_multiple_of(100) {
            tracing::info!(steps, "indexing older messages for search");
        }
        tokio::time::sleep(PAUSE).await;
    }
    if steps > 0 {
        tracing::info!(steps, secs = started.elapsed().as_secs(), "older messages indexed for search");
    }
}

/// The text search highlights in found content (what [`search_doc`]
/// indexed, on one line).
pub fn search_text(content: &v1::MessageContent) -> String {
    search_doc(content).map(|d| d.text.replace('\n', " ")).unwrap_or_default()
}

/// A short human-readable line for lists and notifications.
pub fn preview(content: &v1::MessageContent) -> String {
    preview_chars(content, 80)
}

/// The first line of a content's preview, cut at `max` characters.
pub fn preview_chars(content: &v1::MessageContent, max: usize) -> String {
    let rich;
    let text = match &content.kind {
        Some(Kind::Text(t)) => t.text.as_str(),
        Some(Kind::System(s)) => s.text.as_str(),
        Some(kind) => {
            rich = ferry_proto::preview::kind_preview(kind).unwrap_or_default();
            rich.as_str()
        }
        None => "[unsupported message]",
    };
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.len() < text.len() => format!("{line}…"),
        None => line.to_owned(),
    }
}

/// A message as the protocol shows it, with content already decoded.
pub fn to_wire_with(m: StoredMessage, content: v1::MessageContent) -> v1::Message {
    v1::Message {
        conversation_id: m.conversation.to_string(),
        seq: m.seq,
        server_msg_id: m.server_msg_id,
        sender_id: m.sender,
        client_msg_id: m.client_msg_id,
        server_time: m.server_time,
        content: Some(content),
        reactions: Vec::new(),
        hidden: false,
    }
}

/// A stored message as the protocol shows it (sync: decodes the body).
pub fn to_wire(m: &StoredMessage) -> v1::Message {
    // Bodies are written by this server from a valid MessageContent; a body
    // that fails to decode (corruption) is shown as empty content, not
    // hidden, so the seq stream stays gap-free.
    let content = v1::MessageContent::decode(m.body.as_slice()).ok();
    v1::Message {
        conversation_id: m.conversation.to_string(),
        seq: m.seq,
        server_msg_id: m.server_msg_id,
        sender_id: m.sender,
        client_msg_id: m.client_msg_id.clone(),
        server_time: m.server_time,
        content,
        reactions: Vec::new(),
        hidden: false,
    }
}

/// The ack of an appended message (the same for a retry, with `duplicate`).
pub fn ack(a: &Appended) -> v1::SendAck {
    let m = &a.message;
    v1::SendAck {
        client_msg_id: m.client_msg_id.clone(),
        conversation_id: m.conversation.to_string(),
        seq: m.seq,
        server_msg_id: m.server_msg_id,
        server_time: m.server_time,
        duplicate: a.duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str, mentions: Vec<UserId>, all: bool) -> Option<v1::MessageContent> {
        Some(v1::MessageContent {
            kind: Some(Kind::Text(v1::Text { text: t.into(), mention_user_ids: mentions, mention_all: all })),
            ..Default::default()
        })
    }

    #[test]
    fn texts_are_validated_and_keep_mentions_in_groups_only() {
        let limits = Limits { max_text_bytes: 10, ..Limits::default() };
        let a = admit(text("hi @b", vec![2], true), &limits).unwrap().into(ConversationId::Group(1));
        assert_eq!((a.mentions.as_slice(), a.mention_all), ([2].as_slice(), true));
        assert_eq!(v1::MessageContent::decode(a.body.as_slice()).unwrap(), a.content);
        let d = admit(text("hi @b", vec![2], true), &limits).unwrap().into(ConversationId::direct(1, 2));
        assert!(d.mentions.is_empty() && !d.mention_all);
        let long = "x".repeat(11);
        assert_eq!(admit(text(&long, vec![], false), &limits).unwrap_err().code.as_str(), "text_too_long");
        assert!(admit(text("ok", (0..101).collect(), false), &limits).is_err());
        assert!(admit(None, &limits).is_err());
        assert!(admit(Some(v1::MessageContent { kind: None, ..Default::default() }), &limits).is_err());
        let system = Some(v1::MessageContent { kind: Some(Kind::System(v1::System::default())), ..Default::default() });
        assert!(admit(system, &limits).is_err(), "clients cannot write system events");
    }

    #[test]
    fn stored_messages_come_back_as_sent() {
        let admitted =
            system(v1::System { event: "member_joined".into(), text: "bob joined".into(), ..Default::default() });
        let stored = StoredMessage {
            conversation: ferry_core::ConversationId::Group(4),
            seq: 9,
            server_msg_id: 77,
            sender: 1,
            client_msg_id: "c".into(),
            server_time: 5,
            body: admitted.body.clone(),
        };
        let wire = to_wire(&stored);
        assert_eq!(wire, to_wire_with(stored.clone(), admitted.content.clone()));
        assert_eq!(wire.conversation_id, "g_4");
        let ack = ack(&Appended { message: stored, duplicate: true });
        assert_eq!((ack.seq, ack.server_msg_id, ack.duplicate), (9, 77, true));
        assert_eq!(preview(&admitted.content), "bob joined");
    }

    #[test]
    fn previews_are_one_short_line() {
        let long = "é".repeat(100);
        let p = preview(&text(&long, vec![], false).unwrap());
        assert_eq!(p.chars().count(), 81);
        assert!(p.ends_with('…'));
        assert_eq!(preview(&text("first\nsecond", vec![], false).unwrap()), "first…");
        assert_eq!(preview(&v1::MessageContent::default()), "[unsupported message]");
    }
}
