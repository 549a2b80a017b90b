//! Profiles, user search, friends, friend requests, blocks, contact sync.

use axum::{extract::State, http::StatusCode};
use ferry_api as api;
use ferry_core::ApiError;
use ferry_store::ProfilePatch;

use crate::{
    app::AppRef,
    error::HttpError,
    http::{
        extract::{Auth, Json, Path, Query},
        render,
    },
    service::contacts::Addressee,
};

/// Changes your profile.
#[utoipa::path(
    patch, path = "/me", operation_id = "update_profile", tag = "contacts",
    request_body = api::ProfileUpdate,
    responses(
        (status = 200, description = "Your profile after the change.", body = api::UserResponse),
        (status = 400, description = "`invalid_argument`: empty display name, a field too long, an avatar that is \
            neither a URL nor the id of an image file you uploaded.", body = api::ErrorBody),
    )
)]
pub async fn update_profile(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<api::ProfileUpdate>,
) -> Result<Json<api::UserResponse>, HttpError> {
    let patch = ProfilePatch { display_name: b.display_name, avatar: b.avatar, bio: b.bio };
    Ok(Json(render::user_response(&app.contacts.update_profile(a.user.id, patch).await?)))
}

/// Finds a user by exact username or id.
#[utoipa::path(
    get, path = "/users/search", operation_id = "search_users", tag = "users",
    params(api::SearchQuery),
    responses(
        (status = 200, description = "The user with that exact username or id (none: an empty list).", body = api::UserList),
    )
)]
pub async fn search(
    State(app): State<AppRef>,
    _a: Auth,
    Query(q): Query<api::SearchQuery>,
) -> Result<Json<api::UserList>, HttpError> {
    Ok(Json(render::user_list(&app.contacts.search(&q.q).await?)))
}

/// Asks someone to be friends (accepts their request if they asked first).
#[utoipa::path(
    post, path = "/friends/requests", operation_id = "send_friend_request", tag = "contacts",
    request_body = api::NewFriendRequest,
    responses(
        (status = 201, description = "The request; `accepted` when they had already asked you.", body = api::FriendRequestResponse),
        (status = 400, description = "`invalid_argument`: not exactly one of `user_id` and `username`, yourself, a greeting too long.", body = api::ErrorBody),
        (status = 403, description = "`blocked`: they blocked you.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such user.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: already friends.", body = api::ErrorBody),
    )
)]
pub async fn send_request(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<api::NewFriendRequest>,
) -> Result<(StatusCode, Json<api::FriendRequestResponse>), HttpError> {
    let to = match (b.user_id, b.username) {
        (Some(id), None) => Addressee::Id(id),
        (None, Some(name)) => Addressee::Username(name),
        _ => return Err(ApiError::invalid("give exactly one of user_id and username").into()),
    };
    let r = app.contacts.request_to(a.user.id, to, b.greeting.as_deref().unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(render::friend_request_response(&r))))
}

/// Friend requests you sent and received.
#[utoipa::path(
    get, path = "/friends/requests", operation_id = "friend_requests", tag = "contacts",
    responses(
        (status = 200, description = "Requests you sent and received, newest first.", body = api::FriendRequestList),
    )
)]
pub async fn requests(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::FriendRequestList>, HttpError> {
    Ok(Json(render::friend_request_list(&app.contacts.requests(a.user.id).await?)))
}

/// Accepts a friend request addressed to you.
#[utoipa::path(
    post, path = "/friends/requests/{id}/accept", operation_id = "accept_friend_request", tag = "contacts",
    params(("id" = i64, Path, description = "Friend request id")),
    responses(
        (status = 200, description = "The accepted request: you are friends.", body = api::FriendRequestResponse),
        (status = 404, description = "`not_found`: no such request addressed to you.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: already answered.", body = api::ErrorBody),
    )
)]
pub async fn accept(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::FriendRequestResponse>, HttpError> {
    Ok(Json(render::friend_request_response(&app.contacts.respond(a.user.id, id, true).await?)))
}

/// Declines a friend request addressed to you.
#[utoipa::path(
    post, path = "/friends/requests/{id}/decline", operation_id = "decline_friend_request", tag = "contacts",
    params(("id" = i64, Path, description = "Friend request id")),
    responses(
        (status = 200, description = "The declined request.", body = api::FriendRequestResponse),
        (status = 404, description = "`not_found`: no such request addressed to you.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: already answered.", body = api::ErrorBody),
    )
)]
pub async fn decline(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::FriendRequestResponse>, HttpError> {
    Ok(Json(render::friend_request_response(&app.contacts.respond(a.user.id, id, false).await?)))
}

/// Your friends.
#[utoipa::path(
    get, path = "/friends", operation_id = "friends", tag = "contacts",
    responses(
        (status = 200, description = "Your friends.", body = api::FriendList),
    )
)]
pub async fn friends(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::FriendList>, HttpError> {
    Ok(Json(render::friend_list(&app.contacts.friends(a.user.id).await?)))
}

/// Ends a friendship.
#[utoipa::path(
    delete, path = "/friends/{user_id}", operation_id = "remove_friend", tag = "contacts",
    params(("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "No longer friends (on both sides)."),
        (status = 404, description = "`not_found`: not your friend.", body = api::ErrorBody),
    )
)]
pub async fn remove(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.contacts.remove(a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets your private name for a friend.
#[utoipa::path(
    put, path = "/friends/{user_id}/remark", operation_id = "set_remark", tag = "contacts",
    params(("user_id" = i64, Path, description = "User id")),
    request_body = api::RemarkUpdate,
    responses(
        (status = 200, description = "The friend with the new remark.", body = api::FriendResponse),
        (status = 400, description = "`invalid_argument`: remark too long.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: not your friend.", body = api::ErrorBody),
    )
)]
pub async fn remark(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::RemarkUpdate>,
) -> Result<Json<api::FriendResponse>, HttpError> {
    Ok(Json(render::friend_response(&app.contacts.set_remark(a.user.id, id, &b.remark).await?)))
}

/// The users you blocked.
#[utoipa::path(
    get, path = "/blocks", operation_id = "blocks", tag = "contacts",
    responses(
        (status = 200, description = "The users you blocked.", body = api::BlockList),
    )
)]
pub async fn blocks(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::BlockList>, HttpError> {
    Ok(Json(render::block_list(&app.contacts.blocks(a.user.id).await?)))
}

/// Blocks a user: their direct messages and friend requests are refused.
#[utoipa::path(
    put, path = "/blocks/{user_id}", operation_id = "block", tag = "contacts",
    params(("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The block (blocking twice is harmless).", body = api::BlockResponse),
        (status = 400, description = "`invalid_argument`: yourself.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such user.", body = api::ErrorBody),
    )
)]
pub async fn block(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::BlockResponse>, HttpError> {
    Ok(Json(render::block_response(&app.contacts.block(a.user.id, id).await?)))
}

/// Lifts a block.
#[utoipa::path(
    delete, path = "/blocks/{user_id}", operation_id = "unblock", tag = "contacts",
    params(("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "The block is lifted."),
        (status = 404, description = "`not_found`: not blocked.", body = api::ErrorBody),
    )
)]
pub async fn unblock(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.contacts.unblock(a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything in your contacts changed after a version.
#[utoipa::path(
    get, path = "/contacts/changes", operation_id = "contact_changes", tag = "contacts",
    params(api::SinceQuery),
    responses(
        (status = 200, description = "Everything in your contacts changed after `since`; keep `version`.", body = api::ContactChanges),
    )
)]
pub async fn changes(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Query(q): Query<api::SinceQuery>,
) -> Result<Json<api::ContactChanges>, HttpError> {
    Ok(Json(render::contact_changes(&app.contacts.changes(a.user.id, q.since).await?)))
}
