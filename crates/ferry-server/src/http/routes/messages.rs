//! Conversations and messages over HTTP: the same service and model as the
//! long connection (dedup on client_msg_id, ack after durable store).

use axum::extract::State;
use ferry_core::ApiError;
use ferry_proto::v1::{self, message_content::Kind};
use serde::{Deserialize, Serialize};

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Path, Query},
    service::messaging::Target,
};

#[derive(Serialize)]
pub struct ConversationView {
    conversation_id: String,
    kind: String,
    peer_user_id: i64,
    max_seq: u64,
    read_seq: u64,
    unread: u64,
    last_time: i64,
    mentioned: bool,
}

#[derive(Serialize)]
pub struct MessageView {
    conversation_id: String,
    seq: u64,
    /// A string: 64-bit ids do not fit a JavaScript number.
    server_msg_id: String,
    sender_id: i64,
    client_msg_id: String,
    server_time: i64,
    /// "text" or "system".
    kind: &'static str,
    /// The text; for system events their human-readable line.
    text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mention_user_ids: Vec<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    mention_all: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<serde_json::Value>,
}

impl From<v1::Message> for MessageView {
    fn from(m: v1::Message) -> Self {
        let (kind, text, mention_user_ids, mention_all, system) = match m.content.and_then(|c| c.kind) {
            Some(Kind::Text(t)) => ("text", t.text, t.mention_user_ids, t.mention_all, None),
            Some(Kind::System(s)) => {
                let detail = serde_json::json!({
                    "event": s.event, "actor_id": s.actor_id, "target_ids": s.target_ids,
                    "until": s.until, "detail": s.detail,
                });
                ("system", s.text, Vec::new(), false, Some(detail))
            }
            None => ("unknown", String::new(), Vec::new(), false, None),
        };
        Self {
            conversation_id: m.conversation_id,
            seq: m.seq,
            server_msg_id: m.server_msg_id.to_string(),
            sender_id: m.sender_id,
            client_msg_id: m.client_msg_id,
            server_time: m.server_time,
            kind,
            text,
            mention_user_ids,
            mention_all,
            system,
        }
    }
}

pub async fn conversations(
    State(app): State<AppRef>,
    Auth(authed): Auth,
) -> Result<Json<serde_json::Value>, HttpError> {
    let list: Vec<ConversationView> = app
        .messaging
        .conversations(authed.user.id)
        .await?
        .into_iter()
        .map(|c| ConversationView {
            conversation_id: c.conversation_id,
            kind: c.kind,
            peer_user_id: c.peer_user_id,
            max_seq: c.max_seq,
            read_seq: c.read_seq,
            unread: c.unread,
            last_time: c.last_time,
            mentioned: c.mentioned,
        })
        .collect();
    Ok(Json(serde_json::json!({ "conversations": list })))
}

#[derive(Deserialize)]
pub struct PullQuery {
    #[serde(default)]
    after_seq: u64,
    #[serde(default)]
    limit: u32,
}

pub async fn pull(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Query(q): Query<PullQuery>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let batch = app.messaging.pull(authed.user.id, &id, q.after_seq, q.limit).await?;
    let messages: Vec<MessageView> = batch.messages.into_iter().map(MessageView::from).collect();
    Ok(Json(serde_json::json!({
        "conversation_id": batch.conversation_id,
        "messages": messages,
        "has_more": batch.has_more,
    })))
}

#[derive(Deserialize)]
pub struct SendBody {
    client_msg_id: String,
    to_user_id: Option<i64>,
    conversation_id: Option<String>,
    text: String,
    #[serde(default)]
    mention_user_ids: Vec<i64>,
    #[serde(default)]
    mention_all: bool,
}

pub async fn send(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Json(b): Json<SendBody>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let target = match (b.to_user_id, b.conversation_id) {
        (Some(u), None) => Target::User(u),
        (None, Some(c)) => Target::Conversation(c),
        _ => return Err(ApiError::invalid("give exactly one of to_user_id and conversation_id").into()),
    };
    let text = v1::Text { text: b.text, mention_user_ids: b.mention_user_ids, mention_all: b.mention_all };
    let content = v1::MessageContent { kind: Some(Kind::Text(text)) };
    let ack = app.messaging.send(authed.user.id, b.client_msg_id, target, Some(content)).await?;
    Ok(Json(serde_json::json!({
        "client_msg_id": ack.client_msg_id,
        "conversation_id": ack.conversation_id,
        "seq": ack.seq,
        "server_msg_id": ack.server_msg_id.to_string(),
        "server_time": ack.server_time,
        "duplicate": ack.duplicate,
    })))
}

#[derive(Deserialize)]
pub struct ReadBody {
    seq: u64,
}

pub async fn mark_read(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Json(b): Json<ReadBody>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let ok = app.messaging.mark_read(authed.user.id, &id, b.seq).await?;
    Ok(Json(serde_json::json!({ "conversation_id": ok.conversation_id, "read_seq": ok.read_seq })))
}
