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

/// Your conversations, as the `conversations` answer frame.
#[utoipa::path(
    get, path = "/conversations", operation_id = "conversations", tag = "messages",
    responses((status = 200, description = "`v1.ConversationList` (proto3 JSON), as the `conversations` frame.",
        body = ref("#/components/schemas/v1.ConversationList")))
)]
pub async fn conversations(
    State(app): State<AppRef>,
    Auth(authed): Auth,
) -> Result<Json<v1::ConversationList>, HttpError> {
    let conversations = app.messaging.conversations(authed.user.id).await?;
    Ok(Json(v1::ConversationList { conversations }))
}

/// Messages after a seq, as the `messages` answer frame.
#[utoipa::path(
    get, path = "/conversations/{id}/messages", operation_id = "messages", tag = "messages",
    params(("id" = String, Path, description = "Conversation id: `d_<low>_<high>` or `g_<group id>`"), api::PullQuery),
    responses(
        (status = 200, description = "`v1.MessageBatch` (proto3 JSON), as the `messages` frame.",
            body = ref("#/components/schemas/v1.MessageBatch")),
        (status = 400, description = "`invalid_argument`: not a conversation id.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: a direct conversation of others.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a group you are not a member of.", body = api::ErrorBody),
    )
)]
pub async fn pull(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Query(q): Query<api::PullQuery>,
) -> Result<Json<v1::MessageBatch>, HttpError> {
    Ok(Json(app.messaging.pull(authed.user.id, &id, q.after_seq, q.limit).await?))
}

/// Sends a message; answers once it is stored, as the `sendAck` frame.
#[utoipa::path(
    post, path = "/messages", operation_id = "send", tag = "messages",
    request_body(content = ref("#/components/schemas/v1.SendMessage"), content_type = "application/json",
        description = "`v1.SendMessage` (proto3 JSON): `clientMsgId`, `userId` or `conversationId`, `content`."),
    responses(
        (status = 200, description = "`v1.SendAck` (proto3 JSON), once the message is stored; a retry with the \
            same `clientMsgId` gets the original ack with `duplicate: true`.",
            body = ref("#/components/schemas/v1.SendAck")),
        (status = 400, description = "`invalid_argument` (no target, bad client_msg_id, empty or unknown content), \
            `text_too_long`.", body = api::ErrorBody),
        (status = 403, description = "`blocked`, `not_friends`, `forbidden` (another's direct conversation, \
            @all by a plain member), `group_dismissed`, `group_muted`, `member_muted`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such user, or a group you are not a member of.", body = api::ErrorBody),
    )
)]
pub async fn send(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Json(m): Json<v1::SendMessage>,
) -> Result<Json<v1::SendAck>, HttpError> {
    let target = Target::of(m.to)?;
    Ok(Json(app.messaging.send(authed.user.id, m.client_msg_id, target, m.content).await?))
}

/// Raises your read position, as the `markReadOk` answer frame. The path
/// names the conversation, so the body's `conversationId` may be left out.
#[utoipa::path(
    post, path = "/conversations/{id}/read", operation_id = "mark_read", tag = "messages",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = ref("#/components/schemas/v1.MarkRead"), content_type = "application/json",
        description = "`v1.MarkRead` (proto3 JSON): `{\"seq\": N}`; `conversationId` may be left out."),
    responses(
        (status = 200, description = "`v1.MarkReadOk` (proto3 JSON): the read position now (it never goes back).",
            body = ref("#/components/schemas/v1.MarkReadOk")),
        (status = 400, description = "`invalid_argument`: not a conversation id, or the body names another one.",
            body = api::ErrorBody),
        (status = 403, description = "`forbidden`: a direct conversation of others.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a group you are not a member of.", body = api::ErrorBody),
    )
)]
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
