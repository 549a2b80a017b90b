//! Building and reading message content: texts (with group mentions),
//! media messages pointing to uploaded files, the `SendMessage` that
//! carries them, and the server's system events.

use std::borrow::Cow;

use ferry_api::FileInfo;
use ferry_core::UserId;
use ferry_proto::v1;

use crate::Target;

/// Who a group text mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Members mentioned by name (`@bob`).
    pub user_ids: Vec<UserId>,
    /// `@all` (owner and admins only).
    pub all: bool,
}

impl Mentions {
    /// No mentions.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether nobody is mentioned.
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty() && !self.all
    }
}

/// The `@name` tokens of a text, before they are resolved to user ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MentionNames {
    /// Distinct lower-cased usernames, in order of first appearance.
    pub names: Vec<String>,
    /// The text says `@all`.
    pub all: bool,
}

/// Finds the `@name` tokens of `text`: an `@` at the start or after a
/// character that cannot be part of a username (so `bob@example.com` is not
/// one), followed by username characters (letters, digits, `_`, `.`, `-`).
/// Trailing `.` and `-` are taken as punctuation ("thanks @bob."). `@all`
/// mentions everyone. Names are lower-cased, as usernames are.
pub fn mention_names(text: &str) -> MentionNames {
    let is_name_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut out = MentionNames::default();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if c == '@' && !prev.is_some_and(is_name_char) {
            let rest = &text[i + 1..];
            let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches(['.', '-']).to_lowercase();
            if name == "all" {
                out.all = true;
            } else if !name.is_empty() && !out.names.contains(&name) {
                out.names.push(name);
            }
        }
        prev = Some(c);
    }
    out
}

/// Message content holding `text`.
pub fn text_content(text: impl Into<String>) -> v1::MessageContent {
    text_with_mentions(text, Mentions::none())
}

/// Message content holding `text` that mentions `mentions` (only meaningful
/// in groups; direct conversations ignore mentions).
pub fn text_with_mentions(text: impl Into<String>, mentions: Mentions) -> v1::MessageContent {
    let text = v1::Text { text: text.into(), mention_user_ids: mentions.user_ids, mention_all: mentions.all };
    v1::MessageContent { kind: Some(v1::message_content::Kind::Text(text)), ..Default::default() }
}

/// The reference a media message carries to an uploaded file.
pub fn file_ref(f: &FileInfo) -> v1::FileRef {
    v1::FileRef {
        file_id: f.id.clone(),
        size: i64::try_from(f.size).unwrap_or(i64::MAX),
        mime: f.mime.clone(),
        name: f.name.clone(),
        sha256: f.sha256.clone(),
    }
}

/// An image message showing `f` at its size; `None` when the server found
/// no image it could measure in it (width or height 0): send that as a
/// [`file_content`]. Clients show the image's thumbnail through
/// `GET /files/{id}/thumbnail` (or `FileInfo::thumbnail_url`), so none is
/// attached here.
pub fn image_content(f: &FileInfo) -> Option<v1::MessageContent> {
    if f.width == 0 || f.height == 0 {
        return None;
    }
    let image = v1::Image { file: Some(file_ref(f)), width: f.width, height: f.height, thumbnail: None };
    Some(media(v1::message_content::Kind::Image(image)))
}

/// A file (document) message.
pub fn file_content(f: &FileInfo) -> v1::MessageContent {
    media(v1::message_content::Kind::File(v1::File { file: Some(file_ref(f)) }))
}

/// A voice note lasting `duration_ms` (the server takes 1 ms to 24 h).
pub fn voice_content(f: &FileInfo, duration_ms: u32) -> v1::MessageContent {
    let voice = v1::Voice { file: Some(file_ref(f)), duration_ms, waveform: Default::default() };
    media(v1::message_content::Kind::Voice(voice))
}

/// A video lasting `duration_ms`, `width` × `height` pixels. The server
/// does not decode videos, so the sender says what they are (it requires
/// all three).
pub fn video_content(f: &FileInfo, duration_ms: u32, width: u32, height: u32) -> v1::MessageContent {
    let video = v1::Video { file: Some(file_ref(f)), duration_ms, width, height, cover: None };
    media(v1::message_content::Kind::Video(video))
}

fn media(kind: v1::message_content::Kind) -> v1::MessageContent {
    v1::MessageContent { kind: Some(kind), ..Default::default() }
}

/// The file a media message (image, file, voice note, video) carries.
pub fn media_file_of(m: &v1::Message) -> Option<&v1::FileRef> {
    use v1::message_content::Kind;
    match m.content.as_ref().and_then(|c| c.kind.as_ref())? {
        Kind::Image(i) => i.file.as_ref(),
        Kind::File(f) => f.file.as_ref(),
        Kind::Voice(v) => v.file.as_ref(),
        Kind::Video(v) => v.file.as_ref(),
        _ => None,
    }
}

/// `content` as a reply to message `seq` of the same conversation (the
/// server fills in the quote's preview).
pub fn replying_to(mut content: v1::MessageContent, seq: u64) -> v1::MessageContent {
    content.quote = Some(v1::Quote { seq, ..Default::default() });
    content
}

/// An operation on message `seq` of `conversation_id`.
pub fn message_op(conversation_id: impl Into<String>, seq: u64, op: v1::message_op::Op) -> v1::MessageOp {
    v1::MessageOp { conversation_id: conversation_id.into(), seq, op: Some(op), client_msg_id: String::new() }
}

/// Recall.
pub fn revoke_op() -> v1::message_op::Op {
    v1::message_op::Op::Revoke(v1::message_op::Revoke {})
}

/// Edit into `text`.
pub fn edit_op(text: impl Into<String>) -> v1::message_op::Op {
    v1::message_op::Op::Edit(v1::message_op::Edit { content: Some(text_content(text)) })
}

/// Add (or with `remove`, take back) reaction `emoji`.
pub fn react_op(emoji: impl Into<String>, remove: bool) -> v1::message_op::Op {
    v1::message_op::Op::React(v1::message_op::React { emoji: emoji.into(), remove })
}

/// Pin (or with `unpin`, unpin).
pub fn pin_op(unpin: bool) -> v1::message_op::Op {
    v1::message_op::Op::Pin(v1::message_op::Pin { unpin })
}

/// A forward of `seqs` of `conversation_id` to `targets`, as copies or
/// (`merged`) one chat record.
pub fn forward(
    client_msg_id: impl Into<String>,
    conversation_id: impl Into<String>,
    seqs: Vec<u64>,
    targets: Vec<Target>,
    merged: bool,
) -> v1::Forward {
    let targets = targets
        .into_iter()
        .map(|t| v1::ForwardTarget {
            to: Some(match t {
                Target::User(id) => v1::forward_target::To::UserId(id),
                Target::Conversation(c) => v1::forward_target::To::ConversationId(c),
            }),
        })
        .collect();
    v1::Forward { client_msg_id: client_msg_id.into(), conversation_id: conversation_id.into(), seqs, targets, merged }
}

/// The chat record a message holds (a merged forward), if it is one.
pub fn chat_record_of(m: &v1::Message) -> Option<&v1::ChatRecord> {
    match m.content.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(v1::message_content::Kind::ChatRecord(r)) => Some(r),
        _ => None,
    }
}

/// The event a message is (a recall, edit, reaction or pin of an earlier
/// message), if it is one.
pub fn event_of(m: &v1::Message) -> Option<&v1::MessageEvent> {
    match m.content.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(v1::message_content::Kind::Event(e)) => Some(e),
        _ => None,
    }
}

/// Who recalled a message and when, if it is recalled.
pub fn revoked_of(m: &v1::Message) -> Option<&v1::Revoked> {
    match m.content.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(v1::message_content::Kind::Revoked(r)) => Some(r),
        _ => None,
    }
}

/// The `SendMessage` of `content` to `target` (for HTTP's `POST /messages`,
/// or a `send` frame).
pub fn send_message(client_msg_id: impl Into<String>, target: Target, content: v1::MessageContent) -> v1::SendMessage {
    let to = match target {
        Target::User(id) => v1::send_message::To::UserId(id),
        Target::Conversation(c) => v1::send_message::To::ConversationId(c),
    };
    v1::SendMessage { client_msg_id: client_msg_id.into(), to: Some(to), content: Some(content) }
}

/// The text of a message: the body of a text, the human-readable line of a
/// system event, the preview line of a rich kind (`"[Image]"`, `"[Voice 0:07]"`,
/// see [`ferry_proto::preview`]), "" for content this client cannot read.
pub fn text_of(m: &v1::Message) -> Cow<'_, str> {
    m.content.as_ref().map_or(Cow::Borrowed(""), content_text)
}

/// [`text_of`] for content outside a message (an edit event's new
/// content, a chat record's item).
pub fn content_text(c: &v1::MessageContent) -> Cow<'_, str> {
    match &c.kind {
        Some(v1::message_content::Kind::Text(t)) => Cow::Borrowed(&t.text),
        Some(v1::message_content::Kind::System(s)) => Cow::Borrowed(&s.text),
        Some(kind) => Cow::Owned(ferry_proto::preview::kind_preview(kind).unwrap_or_default()),
        None => Cow::Borrowed(""),
    }
}

/// The system event a message carries, if it is one.
pub fn system_of(m: &v1::Message) -> Option<&v1::System> {
    match m.content.as_ref().and_then(|c| c.kind.as_ref()) {
        Some(v1::message_content::Kind::System(s)) => Some(s),
        _ => None,
    }
}

/// Which kind of content a message holds: the proto field name (`"text"`,
/// `"system"`, `"image"`, `"file"`, `"voice"`, `"video"`, `"location"`,
/// `"contact_card"`, `"link"`, `"custom"`, `"call_log"`, `"revoked"`,
/// `"event"`), or `"unknown"`.
pub fn kind_of(m: &v1::Message) -> &'static str {
    m.content.as_ref().and_then(|c| c.kind.as_ref()).map_or("unknown", ferry_proto::preview::kind_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_built_and_read_back() {
        let mentions = Mentions { user_ids: vec![2, 3], all: false };
        let m = v1::Message { content: Some(text_with_mentions("hi @b @c", mentions)), ..Default::default() };
        assert_eq!((text_of(&m).as_ref(), kind_of(&m)), ("hi @b @c", "text"));
        let Some(v1::message_content::Kind::Text(t)) = m.content.as_ref().and_then(|c| c.kind.as_ref()) else {
            panic!("not a text")
        };
        assert_eq!(t.mention_user_ids, [2, 3]);
        assert!(system_of(&m).is_none());
        let voice = v1::Voice { duration_ms: 7_000, ..Default::default() };
        let m = v1::Message {
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::Voice(voice)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!((text_of(&m).as_ref(), kind_of(&m)), ("[Voice 0:07]", "voice"));

        let system =
            v1::System { event: "member_muted".into(), text: "alice muted carol".into(), ..Default::default() };
        let m = v1::Message {
            content: Some(v1::MessageContent {
                kind: Some(v1::message_content::Kind::System(system)),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!((text_of(&m).as_ref(), kind_of(&m)), ("alice muted carol", "system"));
        assert_eq!(system_of(&m).map(|s| s.event.as_str()), Some("member_muted"));
        assert_eq!(kind_of(&v1::Message::default()), "unknown");
        assert!(Mentions::none().is_empty() && !Mentions { user_ids: vec![], all: true }.is_empty());
    }

    fn info(mime: &str, width: u32, height: u32) -> FileInfo {
        FileInfo {
            id: "f_1".into(),
            name: "猫.png".into(),
            size: 1234,
            mime: mime.into(),
            sha256: "ab".repeat(32),
            width,
            height,
            created_at: 1,
            owner: 7,
            thumbnail_id: None,
            url: "/api/v1/files/f_1?u=7".into(),
            thumbnail_url: None,
            url_expires_at: 2,
        }
    }

    #[test]
    fn media_content_carries_the_file() {
        use v1::message_content::Kind;
        let image = info("image/png", 640, 480);
        let want = v1::FileRef {
            file_id: "f_1".into(),
            size: 1234,
            mime: "image/png".into(),
            name: "猫.png".into(),
            sha256: "ab".repeat(32),
        };
        assert_eq!(file_ref(&image), want);
        let Some(Kind::Image(i)) = image_content(&image).and_then(|c| c.kind) else { panic!("not an image") };
        assert_eq!((i.width, i.height, i.file.as_ref()), (640, 480, Some(&want)));
        assert_eq!(image_content(&info("application/pdf", 0, 0)), None);

        let m = |c: v1::MessageContent| v1::Message { content: Some(c), ..Default::default() };
        let pdf = info("application/pdf", 0, 0);
        assert_eq!(kind_of(&m(file_content(&pdf))), "file");
        assert_eq!(media_file_of(&m(file_content(&pdf))).map(|f| f.file_id.as_str()), Some("f_1"));
        let Some(Kind::Voice(v)) = voice_content(&pdf, 7_400).kind else { panic!("not a voice note") };
        assert_eq!(v.duration_ms, 7_400);
        let Some(Kind::Video(v)) = video_content(&pdf, 62_000, 1920, 1080).kind else { panic!("not a video") };
        assert_eq!((v.duration_ms, v.width, v.height), (62_000, 1920, 1080));
        assert_eq!(media_file_of(&m(text_content("hi"))), None);
    }

    #[test]
    fn mention_tokens_are_found() {
        let names = |t: &str| mention_names(t).names;
        assert_eq!(names("@bob hi @Carol, and @bob again"), ["bob", "carol"]);
        assert_eq!(names("thanks @dave. see @e.v-e!"), ["dave", "e.v-e"]);
        assert_eq!(names("mail bob@example.com or @ alone"), Vec::<String>::new());
        assert_eq!(names("(@x_y)"), ["x_y"]);
        assert!(mention_names("hey @all!").all);
        assert!(!mention_names("hey @alla").all);
        assert_eq!(mention_names("@all @bob"), MentionNames { names: vec!["bob".into()], all: true });
        assert_eq!(names("héllo @ünï"), ["ünï"]);
    }
}
