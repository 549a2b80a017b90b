//! Groups: create, info, settings, members, moderation, join requests.

use axum::{extract::State, http::StatusCode};
use ferry_api as api;
use ferry_store::GroupPatch;

use crate::{
    app::AppRef,
    error::HttpError,
    http::{
        extract::{Auth, Json, Path, Query},
        render,
    },
};

/// `POST /groups`
pub async fn create(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<api::NewGroup>,
) -> Result<(StatusCode, Json<api::GroupResponse>), HttpError> {
    let settings = GroupPatch {
        name: Some(b.name),
        avatar: b.avatar,
        notice: b.notice,
        intro: b.intro,
        join_policy: b.join_policy,
        invite_needs_approval: b.invite_needs_approval,
        mute_all: None,
    };
    let g = app.groups.create(&app.messaging, a.user.id, settings, b.members).await?;
    Ok((StatusCode::CREATED, Json(render::group_response(&g))))
}

/// `GET /groups`
pub async fn list(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::GroupList>, HttpError> {
    Ok(Json(render::group_list(&app.groups.list(a.user.id).await?)))
}

/// `GET /groups/{id}`
pub async fn info(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    Ok(Json(render::group_response(&app.groups.info(a.user.id, id).await?)))
}

/// `PATCH /groups/{id}`
pub async fn update(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::GroupUpdate>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    let patch = GroupPatch {
        name: b.name,
        avatar: b.avatar,
        notice: b.notice,
        intro: b.intro,
        join_policy: b.join_policy,
        invite_needs_approval: b.invite_needs_approval,
        mute_all: b.mute_all,
    };
    Ok(Json(render::group_response(&app.groups.update(&app.messaging, a.user.id, id, patch).await?)))
}

/// `POST /groups/{id}/members` — invite.
pub async fn invite(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::Invite>,
) -> Result<Json<api::Invited>, HttpError> {
    Ok(Json(render::invited(&app.groups.invite(&app.messaging, a.user.id, id, b.user_ids).await?)))
}

/// `GET /groups/{id}/members?after=&limit=`
pub async fn members(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Query(q): Query<api::PageQuery>,
) -> Result<Json<api::MemberPage>, HttpError> {
    Ok(Json(render::member_page(&app.groups.members(a.user.id, id, q.after, q.limit).await?)))
}

/// `GET /groups/{id}/members/changes?since=V`
pub async fn member_changes(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Query(q): Query<api::SinceQuery>,
) -> Result<Json<api::MemberChanges>, HttpError> {
    Ok(Json(render::member_changes(&app.groups.member_changes(a.user.id, id, q.since).await?)))
}

/// `DELETE /groups/{id}/members/{user_id}` — remove (yourself: leave).
pub async fn kick(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<StatusCode, HttpError> {
    app.groups.remove_member(&app.messaging, a.user.id, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /groups/{id}/leave`
pub async fn leave(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.groups.leave(&app.messaging, a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /groups/{id}/dismiss`
pub async fn dismiss(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    Ok(Json(render::group_response(&app.groups.dismiss(&app.messaging, a.user.id, id).await?)))
}

/// `POST /groups/{id}/transfer`
pub async fn transfer(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::TransferRequest>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    Ok(Json(render::group_response(&app.groups.transfer(&app.messaging, a.user.id, id, b.user_id).await?)))
}

/// `PUT /groups/{id}/members/{user_id}/role`
pub async fn set_role(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
    Json(b): Json<api::RoleUpdate>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.set_role(&app.messaging, a.user.id, id, user, b.role).await?)))
}

/// `PUT /groups/{id}/members/{user_id}/mute` (`minutes: 0` unmutes)
pub async fn mute(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
    Json(b): Json<api::MuteRequest>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.mute(&app.messaging, a.user.id, id, user, b.minutes).await?)))
}

/// `DELETE /groups/{id}/members/{user_id}/mute`
pub async fn unmute(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.mute(&app.messaging, a.user.id, id, user, 0).await?)))
}

/// `PUT /groups/{id}/nickname` — your own group nickname.
pub async fn nickname(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::NicknameUpdate>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.set_nickname(a.user.id, id, &b.nickname).await?)))
}

/// `POST /groups/{id}/join` — 200 `{joined:true}` or 202 with the request.
pub async fn join(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::JoinGroup>,
) -> Result<(StatusCode, Json<api::JoinAnswer>), HttpError> {
    let request = app.groups.join(&app.messaging, a.user.id, id, b.message.as_deref().unwrap_or_default()).await?;
    let status = if request.is_some() { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, Json(render::join_answer(request.as_ref()))))
}

/// `GET /groups/{id}/requests`
pub async fn requests(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::JoinRequestList>, HttpError> {
    Ok(Json(render::join_request_list(&app.groups.requests(a.user.id, id).await?)))
}

/// `POST /groups/requests/{request_id}/approve`
pub async fn approve(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(rid): Path<i64>,
) -> Result<Json<api::JoinRequestResponse>, HttpError> {
    Ok(Json(render::join_request_response(&app.groups.resolve_request(&app.messaging, a.user.id, rid, true).await?)))
}

/// `POST /groups/requests/{request_id}/reject`
pub async fn reject(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(rid): Path<i64>,
) -> Result<Json<api::JoinRequestResponse>, HttpError> {
    Ok(Json(render::join_request_response(&app.groups.resolve_request(&app.messaging, a.user.id, rid, false).await?)))
}
