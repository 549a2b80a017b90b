//! Conversations and messages over HTTP: the same service and model as the
//! long connection (dedup on client_msg_id, ack after durable store), and
//! the same bodies — `v1` messages in proto3 JSON, exactly what a WebSocket
//! text session's answer frame would carry.

use axum::extract::State;
use ferry_api as api;
use ferry_core::ApiError;
use ferry_proto::v1::{self, message_op::Op};

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Path, Query},
    service::messaging::Target,
};

/// Your conversations, as the `conversations` answer frame: all of them,
/// or with `since` only those that changed.
#[utoipa::path(
    get, path = "/conversations", operation_id = "conversations", tag = "messages",
    params(api::ListQuery),
    responses(
        (status = 200, description = "`v1.ConversationList` (proto3 JSON), as the `conversations` frame: \
            `cursor` for the next incremental list; with `since`, `incremental`, the changed entries and \
            `conversationIds` (all of yours).", body = ref("#/components/schemas/v1.ConversationList")),
        (status = 400, description = "`invalid_argument`: `since` is not a cursor this server gave.",
            body = api::ErrorBody),
    )
)]
pub async fn conversations(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<api::ListQuery>,
) -> Result<Json<v1::ConversationList>, HttpError> {
    Ok(Json(app.messaging.conversation_list(authed.user.id, &q.since).await?))
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

/// Recalls a message; answers once the recall is stored, as the `opAck`
/// frame (the `seq` of its `revoked` event).
#[utoipa::path(
    post, path = "/conversations/{id}/messages/{seq}/revoke", operation_id = "revoke", tag = "messages",
    params(("id" = String, Path, description = "Conversation id"), ("seq" = u64, Path, description = "The message"),
        api::OpQuery),
    responses(
        (status = 200, description = "`v1.OpAck` (proto3 JSON).", body = ref("#/components/schemas/v1.OpAck")),
        (status = 400, description = "`invalid_argument`: a system message or call log.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: someone else's message and you are not a group owner or \
            admin; `expired`: the recall window has passed; `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such message you can see.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: recalled already.", body = api::ErrorBody),
    )
)]
pub async fn revoke(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path((id, seq)): Path<(String, u64)>,
    Query(q): Query<api::OpQuery>,
) -> Result<Json<v1::OpAck>, HttpError> {
    let op = v1::MessageOp {
        conversation_id: id,
        seq,
        op: Some(Op::Revoke(v1::message_op::Revoke {})),
        client_msg_id: q.client_msg_id,
    };
    Ok(Json(app.messaging.op(authed.user.id, op).await?))
}

/// Edits a text message; answers as the `opAck` frame (the seq of its
/// `edited` event).
#[utoipa::path(
    post, path = "/conversations/{id}/messages/{seq}/edit", operation_id = "edit", tag = "messages",
    params(("id" = String, Path, description = "Conversation id"), ("seq" = u64, Path, description = "The message"),
        api::OpQuery),
    request_body(content = ref("#/components/schemas/v1.MessageOp.Edit"), content_type = "application/json",
        description = "`{\"content\": {\"text\": {\"text\": \"...\"}}}`: the new content, a text."),
    responses(
        (status = 200, description = "`v1.OpAck` (proto3 JSON).", body = ref("#/components/schemas/v1.OpAck")),
        (status = 400, description = "`invalid_argument` (not a text), `text_too_long`.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: not your message; `expired`: the edit window has passed; \
            `blocked`, `member_muted`, `group_muted`, `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such message you can see.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: the message is recalled.", body = api::ErrorBody),
    )
)]
pub async fn edit(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path((id, seq)): Path<(String, u64)>,
    Query(q): Query<api::OpQuery>,
    Json(edit): Json<v1::message_op::Edit>,
) -> Result<Json<v1::OpAck>, HttpError> {
    let op = v1::MessageOp { conversation_id: id, seq, op: Some(Op::Edit(edit)), client_msg_id: q.client_msg_id };
    Ok(Json(app.messaging.op(authed.user.id, op).await?))
}

/// Adds (or with `"remove": true` takes back) your reaction.
#[utoipa::path(
    post, path = "/conversations/{id}/messages/{seq}/reactions", operation_id = "react", tag = "messages",
    params(("id" = String, Path, description = "Conversation id"), ("seq" = u64, Path, description = "The message"),
        api::OpQuery),
    request_body(content = ref("#/components/schemas/v1.MessageOp.React"), content_type = "application/json",
        description = "`{\"emoji\": \"👍\"}` or `{\"emoji\": \"👍\", \"remove\": true}`."),
    responses(
        (status = 200, description = "`v1.OpAck` (proto3 JSON).", body = ref("#/components/schemas/v1.OpAck")),
        (status = 400, description = "`invalid_argument`: not an emoji (1-32 bytes).", body = api::ErrorBody),
        (status = 403, description = "`blocked`, `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such message you can see.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: you reacted so already (or, removing, had not); \
            the message is recalled.", body = api::ErrorBody),
    )
)]
pub async fn react(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path((id, seq)): Path<(String, u64)>,
    Query(q): Query<api::OpQuery>,
    Json(react): Json<v1::message_op::React>,
) -> Result<Json<v1::OpAck>, HttpError> {
    let op = v1::MessageOp { conversation_id: id, seq, op: Some(Op::React(react)), client_msg_id: q.client_msg_id };
    Ok(Json(app.messaging.op(authed.user.id, op).await?))
}

/// Who reacted to a message, oldest first.
#[utoipa::path(
    get, path = "/conversations/{id}/messages/{seq}/reactions", operation_id = "reactions", tag = "messages",
    params(("id" = String, Path, description = "Conversation id"), ("seq" = u64, Path, description = "The message"),
        api::PullQuery),
    responses(
        (status = 200, description = "`v1.ReactionList` (proto3 JSON); `limit` (default and cap 500) bounds it.",
            body = ref("#/components/schemas/v1.ReactionList")),
        (status = 404, description = "`not_found`: no such message you can see.", body = api::ErrorBody),
    )
)]
pub async fn reactions(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path((id, seq)): Path<(String, u64)>,
    Query(q): Query<api::PullQuery>,
) -> Result<Json<v1::ReactionList>, HttpError> {
    Ok(Json(app.messaging.reactions(authed.user.id, &id, seq, q.limit).await?))
}

/// Pins (or with `"unpin": true` unpins) a message: anyone in a direct
/// conversation, owners and admins in a group.
#[utoipa::path(
    post, path = "/conversations/{id}/messages/{seq}/pin", operation_id = "pin", tag = "messages",
    params(("id" = String, Path, description = "Conversation id"), ("seq" = u64, Path, description = "The message"),
        api::OpQuery),
    request_body(content = ref("#/components/schemas/v1.MessageOp.Pin"), content_type = "application/json",
        description = "`{}` to pin, `{\"unpin\": true}` to unpin."),
    responses(
        (status = 200, description = "`v1.OpAck` (proto3 JSON).", body = ref("#/components/schemas/v1.OpAck")),
        (status = 403, description = "`forbidden`: a plain group member; `blocked`, `group_dismissed`.",
            body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such message you can see.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: pinned already (or not pinned); recalled.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: the conversation has the most pins allowed (10).",
            body = api::ErrorBody),
    )
)]
pub async fn pin(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path((id, seq)): Path<(String, u64)>,
    Query(q): Query<api::OpQuery>,
    Json(pin): Json<v1::message_op::Pin>,
) -> Result<Json<v1::OpAck>, HttpError> {
    let op = v1::MessageOp { conversation_id: id, seq, op: Some(Op::Pin(pin)), client_msg_id: q.client_msg_id };
    Ok(Json(app.messaging.op(authed.user.id, op).await?))
}

/// The pinned messages of a conversation, most recently pinned first.
#[utoipa::path(
    get, path = "/conversations/{id}/pins", operation_id = "pins", tag = "messages",
    params(("id" = String, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "`v1.PinList` (proto3 JSON).", body = ref("#/components/schemas/v1.PinList")),
        (status = 403, description = "`forbidden`: a direct conversation of others.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a group you are not a member of.", body = api::ErrorBody),
    )
)]
pub async fn pins(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
) -> Result<Json<v1::PinList>, HttpError> {
    Ok(Json(app.messaging.pins(authed.user.id, &id).await?))
}

/// Forwards messages of one conversation to up to 20 others, as copies or
/// one merged chat record; answers per target, as the `forwardResult` frame.
#[utoipa::path(
    post, path = "/messages/forward", operation_id = "forward", tag = "messages",
    request_body(content = ref("#/components/schemas/v1.Forward"), content_type = "application/json",
        description = "`v1.Forward` (proto3 JSON): `clientMsgId`, `conversationId`, `seqs`, `targets` \
            (`[{\"userId\": \"2\"}, {\"conversationId\": \"g_5\"}]`), `merged`."),
    responses(
        (status = 200, description = "`v1.ForwardResult` (proto3 JSON): per target its `conversationId` and \
            `acks`, or its `error` (a target you may not send to).", body = ref("#/components/schemas/v1.ForwardResult")),
        (status = 400, description = "`invalid_argument`: no or too many messages (100) or targets (20), a \
            message that cannot be forwarded (recalled, system, call log), records nested too deep.",
            body = api::ErrorBody),
        (status = 404, description = "`not_found`: a message you cannot read.", body = api::ErrorBody),
        (status = 413, description = "`payload_too_large`: the merged record would not fit a frame.",
            body = api::ErrorBody),
    )
)]
pub async fn forward(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Json(f): Json<v1::Forward>,
) -> Result<Json<v1::ForwardResult>, HttpError> {
    Ok(Json(app.messaging.forward(authed.user.id, f).await?))
}

/// Who has read a message you sent, as the `readStatus` frame.
#[utoipa::path(
    get, path = "/conversations/{id}/messages/{seq}/read-status", operation_id = "read_status", tag = "messages",
    params(("id" = String, Path, description = "Conversation id"), ("seq" = u64, Path, description = "Your message")),
    responses(
        (status = 200, description = "`v1.ReadStatus` (proto3 JSON): read and unread counts and members.",
            body = ref("#/components/schemas/v1.ReadStatus")),
        (status = 403, description = "`forbidden`: not your message.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such message you can see.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: a group larger than `messages.receipt_max_members`.",
            body = api::ErrorBody),
    )
)]
pub async fn read_status(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path((id, seq)): Path<(String, u64)>,
) -> Result<Json<v1::ReadStatus>, HttpError> {
    Ok(Json(app.messaging.read_status(authed.user.id, &id, seq).await?))
}

/// Tells the other member of a direct chat you are typing (or stopped).
#[utoipa::path(
    post, path = "/conversations/{id}/typing", operation_id = "typing", tag = "messages",
    params(("id" = String, Path, description = "A direct conversation id")),
    request_body(content = ref("#/components/schemas/v1.Typing"), content_type = "application/json",
        description = "`{\"typing\": true}` or `{}` (stopped)."),
    responses(
        (status = 200, description = "`v1.Ack`: `{}`.", body = ref("#/components/schemas/v1.Ack")),
        (status = 400, description = "`invalid_argument`: a group conversation.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`, `blocked`, `not_friends`.", body = api::ErrorBody),
    )
)]
pub async fn typing(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Json(t): Json<v1::Typing>,
) -> Result<Json<v1::Ack>, HttpError> {
    app.messaging.typing(authed.user.id, &id, t.typing).await?;
    Ok(Json(v1::Ack {}))
}

/// Deletes messages for yourself only, or clears your history of a
/// conversation, as the `hideOk` frame.
#[utoipa::path(
    post, path = "/conversations/{id}/hide", operation_id = "hide", tag = "messages",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = ref("#/components/schemas/v1.HideMessages"), content_type = "application/json",
        description = "`{\"seqs\": [\"3\", \"4\"]}` (1-100), or `{\"clear\": true, \"upToSeq\": \"9\"}` \
            (`upToSeq` 0 or absent: everything so far). `conversationId` may be left out."),
    responses(
        (status = 200, description = "`v1.HideOk`: your hidden-messages version.", body = ref("#/components/schemas/v1.HideOk")),
        (status = 400, description = "`invalid_argument`: no or too many seqs.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: a direct conversation of others.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a message you cannot see, or a group you are not in.",
            body = api::ErrorBody),
    )
)]
pub async fn hide(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Json(mut h): Json<v1::HideMessages>,
) -> Result<Json<v1::HideOk>, HttpError> {
    if !h.conversation_id.is_empty() && h.conversation_id != id {
        return Err(ApiError::invalid("the body names another conversation than the path").into());
    }
    h.conversation_id = id;
    Ok(Json(app.messaging.hide(authed.user.id, h).await?))
}

/// What you deleted for yourself or cleared after version `since`.
#[utoipa::path(
    get, path = "/messages/hidden/changes", operation_id = "hidden_changes", tag = "messages",
    params(api::SinceQuery),
    responses(
        (status = 200, description = "`v1.HiddenChanges` (proto3 JSON).", body = ref("#/components/schemas/v1.HiddenChanges")),
    )
)]
pub async fn hidden_changes(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<api::SinceQuery>,
) -> Result<Json<v1::HiddenChanges>, HttpError> {
    Ok(Json(app.messaging.hidden_changes(authed.user.id, q.since).await?))
}

/// Changes your own settings of a conversation (the fields you set), as the
/// `conversationSettings` frame.
#[utoipa::path(
    patch, path = "/conversations/{id}/settings", operation_id = "update_settings", tag = "messages",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = ref("#/components/schemas/v1.ConversationSettings"), content_type = "application/json",
        description = "Any of `pinned`, `muted`, `archived` (booleans) and `draft` (text); `conversationId` may be \
            left out."),
    responses(
        (status = 200, description = "`v1.ConversationSettings`: all of them now, with your state `version`.",
            body = ref("#/components/schemas/v1.ConversationSettings")),
        (status = 400, description = "`invalid_argument` (nothing to change), `text_too_long` (the draft).",
            body = api::ErrorBody),
        (status = 403, description = "`forbidden`: a direct conversation of others.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a group you are not in.", body = api::ErrorBody),
    )
)]
pub async fn update_settings(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Path(id): Path<String>,
    Json(mut s): Json<v1::ConversationSettings>,
) -> Result<Json<v1::ConversationSettings>, HttpError> {
    if !s.conversation_id.is_empty() && s.conversation_id != id {
        return Err(ApiError::invalid("the body names another conversation than the path").into());
    }
    s.conversation_id = id;
    Ok(Json(app.messaging.update_settings(authed.user.id, s).await?))
}

/// Your conversation settings changed after version `since`.
#[utoipa::path(
    get, path = "/conversations/settings/changes", operation_id = "settings_changes", tag = "messages",
    params(api::SinceQuery),
    responses(
        (status = 200, description = "`v1.ConversationSettingsChanges` (proto3 JSON).",
            body = ref("#/components/schemas/v1.ConversationSettingsChanges")),
    )
)]
pub async fn settings_changes(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<api::SinceQuery>,
) -> Result<Json<v1::ConversationSettingsChanges>, HttpError> {
    Ok(Json(app.messaging.settings_changes(authed.user.id, q.since).await?))
}

/// Full-text search over the messages you can see, as the `searchResult`
/// frame answers a `search` frame.
#[utoipa::path(
    get, path = "/search", operation_id = "search", tag = "messages",
    params(api::MessageSearchQuery),
    responses(
        (status = 200, description = "`v1.SearchResult` (proto3 JSON): hits newest first with highlighted \
            snippets, `nextCursor` while more may follow; on a first page without filters also matching \
            friends and groups.", body = ref("#/components/schemas/v1.SearchResult")),
        (status = 400, description = "`invalid_argument`: no query and no filter, a query over 200 characters \
            or 8 terms, an unknown kind, a bad cursor or time range.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: a direct conversation of others.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a group you are not a member of.", body = api::ErrorBody),
    )
)]
pub async fn search(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<api::MessageSearchQuery>,
) -> Result<Json<v1::SearchResult>, HttpError> {
    let search = v1::Search {
        query: q.q,
        conversation_id: q.conversation_id,
        sender_id: q.sender_id,
        kinds: q.kinds.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect(),
        since: q.since,
        until: q.until,
        cursor: q.cursor,
        limit: q.limit,
    };
    Ok(Json(app.messaging.search(authed.user.id, search).await?))
}
