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

/// `PATCH /me`
pub async fn update_profile(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<api::ProfileUpdate>,
) -> Result<Json<api::UserResponse>, HttpError> {
    let patch = ProfilePatch { display_name: b.display_name, avatar: b.avatar, bio: b.bio };
    Ok(Json(render::user_response(&app.contacts.update_profile(a.user.id, patch).await?)))
}

/// `GET /users/search?q=` — exact username or id.
pub async fn search(
    State(app): State<AppRef>,
    _a: Auth,
    Query(q): Query<api::SearchQuery>,
) -> Result<Json<api::UserList>, HttpError> {
    Ok(Json(render::user_list(&app.contacts.search(&q.q).await?)))
}

/// `POST /friends/requests`
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

/// `GET /friends/requests`
pub async fn requests(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::FriendRequestList>, HttpError> {
    Ok(Json(render::friend_request_list(&app.contacts.requests(a.user.id).await?)))
}

/// `POST /friends/requests/{id}/accept`
pub async fn accept(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::FriendRequestResponse>, HttpError> {
    Ok(Json(render::friend_request_response(&app.contacts.respond(a.user.id, id, true).await?)))
}

/// `POST /friends/requests/{id}/decline`
pub async fn decline(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::FriendRequestResponse>, HttpError> {
    Ok(Json(render::friend_request_response(&app.contacts.respond(a.user.id, id, false).await?)))
}

/// `GET /friends`
pub async fn friends(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::FriendList>, HttpError> {
    Ok(Json(render::friend_list(&app.contacts.friends(a.user.id).await?)))
}

/// `DELETE /friends/{user_id}`
pub async fn remove(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.contacts.remove(a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /friends/{user_id}/remark`
pub async fn remark(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::RemarkUpdate>,
) -> Result<Json<api::FriendResponse>, HttpError> {
    Ok(Json(render::friend_response(&app.contacts.set_remark(a.user.id, id, &b.remark).await?)))
}

/// `GET /blocks`
pub async fn blocks(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::BlockList>, HttpError> {
    Ok(Json(render::block_list(&app.contacts.blocks(a.user.id).await?)))
}

/// `PUT /blocks/{user_id}`
pub async fn block(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::BlockResponse>, HttpError> {
    Ok(Json(render::block_response(&app.contacts.block(a.user.id, id).await?)))
}

/// `DELETE /blocks/{user_id}`
pub async fn unblock(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.contacts.unblock(a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /contacts/changes?since=V`
pub async fn changes(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Query(q): Query<api::SinceQuery>,
) -> Result<Json<api::ContactChanges>, HttpError> {
    Ok(Json(render::contact_changes(&app.contacts.changes(a.user.id, q.since).await?)))
}
