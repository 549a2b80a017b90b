//! Profiles, user search, friends, friend requests, blocks, contact sync.

use axum::{extract::State, http::StatusCode};
use ferry_core::ApiError;
use ferry_store::{Block, ContactChanges, Friend, FriendRequest, ProfilePatch};
use serde::Deserialize;
use serde_json::{Value, json};

use super::UserView;
use crate::{
    app::AppRef,
    error::{HttpError, store_error},
    http::extract::{Auth, Json, Path, Query},
};

pub fn request_json(r: &FriendRequest) -> Value {
    json!({
        "id": r.id, "from_user_id": r.from, "to_user_id": r.to, "greeting": r.greeting,
        "status": r.status.as_str(), "created_at": r.created_at, "updated_at": r.updated_at,
    })
}

fn friend_json(f: &Friend) -> Value {
    json!({ "user_id": f.friend, "remark": f.remark, "created_at": f.created_at, "version": f.version, "deleted": f.deleted })
}

fn block_json(b: &Block) -> Value {
    json!({ "user_id": b.blocked, "created_at": b.created_at, "version": b.version, "deleted": b.deleted })
}

#[derive(Deserialize)]
pub struct ProfileBody {
    display_name: Option<String>,
    avatar: Option<String>,
    bio: Option<String>,
}

/// `PATCH /me`
pub async fn update_profile(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<ProfileBody>,
) -> Result<Json<Value>, HttpError> {
    let patch = ProfilePatch { display_name: b.display_name, avatar: b.avatar, bio: b.bio };
    let user = app.contacts.update_profile(a.user.id, patch).await?;
    Ok(Json(json!({ "user": UserView::from(&user) })))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
}

/// `GET /users/search?q=` — exact username or id.
pub async fn search(
    State(app): State<AppRef>,
    _a: Auth,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>, HttpError> {
    let users = app.contacts.search(&q.q).await?;
    let views: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(json!({ "users": views })))
}

#[derive(Deserialize)]
pub struct RequestBody {
    user_id: Option<i64>,
    username: Option<String>,
    #[serde(default)]
    greeting: String,
}

/// `POST /friends/requests`
pub async fn send_request(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<RequestBody>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let to = match (b.user_id, b.username) {
        (Some(id), None) => id,
        (None, Some(name)) => {
            let name =
                ferry_core::validate::username(&name).map_err(|_| ApiError::not_found(format!("no user {name}")))?;
            app.store
                .user_by_name(&name)
                .await
                .map_err(store_error)?
                .ok_or_else(|| ApiError::not_found(format!("no user {name}")))?
                .id
        }
        _ => return Err(ApiError::invalid("give exactly one of user_id and username").into()),
    };
    let r = app.contacts.request(a.user.id, to, &b.greeting).await?;
    Ok((StatusCode::CREATED, Json(json!({ "request": request_json(&r) }))))
}

/// `GET /friends/requests`
pub async fn requests(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<Value>, HttpError> {
    let list: Vec<Value> = app.contacts.requests(a.user.id).await?.iter().map(request_json).collect();
    Ok(Json(json!({ "requests": list })))
}

/// `POST /friends/requests/{id}/accept`
pub async fn accept(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<Json<Value>, HttpError> {
    let r = app.contacts.respond(a.user.id, id, true).await?;
    Ok(Json(json!({ "request": request_json(&r) })))
}

/// `POST /friends/requests/{id}/decline`
pub async fn decline(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<Json<Value>, HttpError> {
    let r = app.contacts.respond(a.user.id, id, false).await?;
    Ok(Json(json!({ "request": request_json(&r) })))
}

/// `GET /friends`
pub async fn friends(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<Value>, HttpError> {
    let list: Vec<Value> = app.contacts.friends(a.user.id).await?.iter().map(friend_json).collect();
    Ok(Json(json!({ "friends": list })))
}

/// `DELETE /friends/{user_id}`
pub async fn remove(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.contacts.remove(a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct RemarkBody {
    remark: String,
}

/// `PUT /friends/{user_id}/remark`
pub async fn remark(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<RemarkBody>,
) -> Result<Json<Value>, HttpError> {
    let f = app.contacts.set_remark(a.user.id, id, &b.remark).await?;
    Ok(Json(json!({ "friend": friend_json(&f) })))
}

/// `GET /blocks`
pub async fn blocks(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<Value>, HttpError> {
    let list: Vec<Value> = app.contacts.blocks(a.user.id).await?.iter().map(block_json).collect();
    Ok(Json(json!({ "blocks": list })))
}

/// `PUT /blocks/{user_id}`
pub async fn block(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<Json<Value>, HttpError> {
    let b = app.contacts.block(a.user.id, id).await?;
    Ok(Json(json!({ "block": block_json(&b) })))
}

/// `DELETE /blocks/{user_id}`
pub async fn unblock(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.contacts.unblock(a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct SinceQuery {
    #[serde(default)]
    since: u64,
}

/// `GET /contacts/changes?since=V`
pub async fn changes(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Query(q): Query<SinceQuery>,
) -> Result<Json<Value>, HttpError> {
    let ContactChanges { version, friends, requests, blocks } = app.contacts.changes(a.user.id, q.since).await?;
    Ok(Json(json!({
        "version": version,
        "friends": friends.iter().map(friend_json).collect::<Vec<_>>(),
        "requests": requests.iter().map(request_json).collect::<Vec<_>>(),
        "blocks": blocks.iter().map(block_json).collect::<Vec<_>>(),
    })))
}
