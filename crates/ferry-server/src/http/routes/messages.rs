//! Conversations and messages over HTTP: the same service and model as the
//! long connection (dedup on client_msg_id, ack after durable store), and
//! the same bodies — `v1` messages in proto3 JSON, exactly what a WebSocket
//! text session's answer frame would carry.

use axum::extract::State;
use ferry_api as api;
use ferry_core::ApiError;
use ferry_proto::v1;

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Path, Query},
    service::messaging::Target,
};

/// `GET /conversations` → `v1.ConversationList`
pub async fn conversations(
    State(app): State<AppRef>,
    Auth(authed): Auth,
) -> Result<Json<v1::ConversationList>, HttpError> {
    let conversations = app.messaging.conversations(authed.user.id).await?;
    Ok(Json(v1::ConversationList { conversations }))
}

/// `GET /conversations/{id}/messages?after_seq=&limit=` → `v1.MessageBatch`
pub async fn pull(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Query(q): Query<api::PullQuery>,
) -> Result<Json<v1::MessageBatch>, HttpError> {
    Ok(Json(app.messaging.pull(authed.user.id, &id, q.after_seq, q.limit).await?))
}

/// `POST /messages` `v1.SendMessage` → `v1.SendAck`
pub async fn send(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Json(m): Json<v1::SendMessage>,
) -> Result<Json<v1::SendAck>, HttpError> {
    let target = Target::of(m.to)?;
    Ok(Json(app.messaging.send(authed.user.id, m.client_msg_id, target, m.content).await?))
}

/// `POST /conversations/{id}/read` `v1.MarkRead` → `v1.MarkReadOk`; the path
/// names the conversation, so the body's `conversationId` may be left out.
pub async fn mark_read(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Json(m): Json<v1::MarkRead>,
) -> Result<Json<v1::MarkReadOk>, HttpError> {
    if !m.conversation_id.is_empty() && m.conversation_id != id {
        return Err(ApiError::invalid("the body names another conversation than the path").into());
    }
    Ok(Json(app.messaging.mark_read(authed.user.id, &id, m.seq).await?))
}
