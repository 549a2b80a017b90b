//! Groups: create, info, settings, members, moderation, join requests.

use axum::{extract::State, http::StatusCode};
use ferry_core::{ApiError, JoinPolicy, Role};
use ferry_store::{Group, GroupPatch, JoinRequest, Member};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Path, Query},
};

pub fn group_json(g: &Group) -> Value {
    json!({
        "id": g.id, "conversation_id": format!("g_{}", g.id), "name": g.name, "avatar": g.avatar,
        "notice": g.notice, "intro": g.intro, "owner_id": g.owner, "join_policy": g.join_policy.as_str(),
        "invite_needs_approval": g.invite_needs_approval, "mute_all": g.mute_all, "dismissed": g.dismissed,
        "created_at": g.created_at, "member_count": g.member_count, "member_version": g.member_version,
    })
}

fn member_json(m: &Member) -> Value {
    json!({
        "user_id": m.user_id, "role": m.role.as_str(), "nickname": m.nickname, "muted_until": m.muted_until,
        "joined_at": m.joined_at, "join_seq": m.join_seq, "version": m.version, "left": m.left,
    })
}

fn request_json(r: &JoinRequest) -> Value {
    json!({
        "id": r.id, "group_id": r.group_id, "user_id": r.user_id, "inviter_id": r.inviter, "message": r.message,
        "status": r.status.as_str(), "created_at": r.created_at, "updated_at": r.updated_at,
    })
}

#[derive(Deserialize, Default)]
pub struct GroupBody {
    name: Option<String>,
    avatar: Option<String>,
    notice: Option<String>,
    intro: Option<String>,
    join_policy: Option<JoinPolicy>,
    invite_needs_approval: Option<bool>,
    mute_all: Option<bool>,
    #[serde(default)]
    members: Vec<i64>,
}

impl GroupBody {
    fn input(&self) -> GroupPatch {
        GroupPatch {
            name: self.name.clone(),
            avatar: self.avatar.clone(),
            notice: self.notice.clone(),
            intro: self.intro.clone(),
            join_policy: self.join_policy,
            invite_needs_approval: self.invite_needs_approval,
            mute_all: self.mute_all,
        }
    }
}

/// `POST /groups`
pub async fn create(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Json(b): Json<GroupBody>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    if b.mute_all.is_some() {
        return Err(ApiError::invalid("mute_all is set after creation").into());
    }
    let g = app.groups.create(&app.messaging, a.user.id, b.input(), b.members.clone()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "group": group_json(&g) }))))
}

/// `GET /groups`
pub async fn list(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<Value>, HttpError> {
    let groups: Vec<Value> = app.groups.list(a.user.id).await?.iter().map(group_json).collect();
    Ok(Json(json!({ "groups": groups })))
}

/// `GET /groups/{id}`
pub async fn info(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<Json<Value>, HttpError> {
    Ok(Json(json!({ "group": group_json(&app.groups.info(a.user.id, id).await?) })))
}

/// `PATCH /groups/{id}`
pub async fn update(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<GroupBody>,
) -> Result<Json<Value>, HttpError> {
    if !b.members.is_empty() {
        return Err(ApiError::invalid("members are changed with the members endpoints").into());
    }
    let g = app.groups.update(&app.messaging, a.user.id, id, b.input()).await?;
    Ok(Json(json!({ "group": group_json(&g) })))
}

#[derive(Deserialize)]
pub struct InviteBody {
    user_ids: Vec<i64>,
}

/// `POST /groups/{id}/members` — invite.
pub async fn invite(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<InviteBody>,
) -> Result<Json<Value>, HttpError> {
    let r = app.groups.invite(&app.messaging, a.user.id, id, b.user_ids).await?;
    Ok(Json(json!({ "added": r.added, "pending": r.pending.iter().map(request_json).collect::<Vec<_>>() })))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

/// `GET /groups/{id}/members?after=&limit=`
pub async fn members(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, HttpError> {
    let page = app.groups.members(a.user.id, id, q.after, q.limit).await?;
    let next = if page.len() as u32 == q.limit.clamp(1, 1000) { page.last().map(|m| m.user_id) } else { None };
    Ok(Json(json!({ "members": page.iter().map(member_json).collect::<Vec<_>>(), "next_after": next })))
}

#[derive(Deserialize)]
pub struct SinceQuery {
    #[serde(default)]
    since: u64,
}

/// `GET /groups/{id}/members/changes?since=V`
pub async fn member_changes(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Query(q): Query<SinceQuery>,
) -> Result<Json<Value>, HttpError> {
    let c = app.groups.member_changes(a.user.id, id, q.since).await?;
    Ok(Json(json!({ "version": c.version, "members": c.members.iter().map(member_json).collect::<Vec<_>>() })))
}

/// `DELETE /groups/{id}/members/{user_id}` — remove (yourself: leave).
pub async fn kick(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<StatusCode, HttpError> {
    if user == a.user.id {
        app.groups.leave(&app.messaging, a.user.id, id).await?;
    } else {
        app.groups.kick(&app.messaging, a.user.id, id, user).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /groups/{id}/leave`
pub async fn leave(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.groups.leave(&app.messaging, a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /groups/{id}/dismiss`
pub async fn dismiss(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<Json<Value>, HttpError> {
    let g = app.groups.dismiss(&app.messaging, a.user.id, id).await?;
    Ok(Json(json!({ "group": group_json(&g) })))
}

#[derive(Deserialize)]
pub struct UserBody {
    user_id: i64,
}

/// `POST /groups/{id}/transfer`
pub async fn transfer(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<UserBody>,
) -> Result<Json<Value>, HttpError> {
    let g = app.groups.transfer(&app.messaging, a.user.id, id, b.user_id).await?;
    Ok(Json(json!({ "group": group_json(&g) })))
}

#[derive(Deserialize)]
pub struct RoleBody {
    role: Role,
}

/// `PUT /groups/{id}/members/{user_id}/role`
pub async fn set_role(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
    Json(b): Json<RoleBody>,
) -> Result<Json<Value>, HttpError> {
    let m = app.groups.set_role(&app.messaging, a.user.id, id, user, b.role).await?;
    Ok(Json(json!({ "member": member_json(&m) })))
}

#[derive(Deserialize)]
pub struct MuteBody {
    minutes: u32,
}

/// `PUT /groups/{id}/members/{user_id}/mute` (`minutes: 0` unmutes)
pub async fn mute(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
    Json(b): Json<MuteBody>,
) -> Result<Json<Value>, HttpError> {
    let m = app.groups.mute(&app.messaging, a.user.id, id, user, b.minutes).await?;
    Ok(Json(json!({ "member": member_json(&m) })))
}

/// `DELETE /groups/{id}/members/{user_id}/mute`
pub async fn unmute(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<Json<Value>, HttpError> {
    let m = app.groups.mute(&app.messaging, a.user.id, id, user, 0).await?;
    Ok(Json(json!({ "member": member_json(&m) })))
}

#[derive(Deserialize)]
pub struct NicknameBody {
    nickname: String,
}

/// `PUT /groups/{id}/nickname` — your own group nickname.
pub async fn nickname(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<NicknameBody>,
) -> Result<Json<Value>, HttpError> {
    let m = app.groups.set_nickname(a.user.id, id, &b.nickname).await?;
    Ok(Json(json!({ "member": member_json(&m) })))
}

#[derive(Deserialize, Default)]
pub struct JoinBody {
    #[serde(default)]
    message: String,
}

/// `POST /groups/{id}/join` — 200 `{joined:true}` or 202 with the request.
pub async fn join(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(body): Json<JoinBody>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let message = body.message;
    match app.groups.join(&app.messaging, a.user.id, id, &message).await? {
        None => Ok((StatusCode::OK, Json(json!({ "joined": true })))),
        Some(r) => Ok((StatusCode::ACCEPTED, Json(json!({ "joined": false, "request": request_json(&r) })))),
    }
}

/// `GET /groups/{id}/requests`
pub async fn requests(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<Json<Value>, HttpError> {
    let list: Vec<Value> = app.groups.requests(a.user.id, id).await?.iter().map(request_json).collect();
    Ok(Json(json!({ "requests": list })))
}

/// `POST /groups/requests/{request_id}/approve`
pub async fn approve(State(app): State<AppRef>, Auth(a): Auth, Path(rid): Path<i64>) -> Result<Json<Value>, HttpError> {
    let r = app.groups.resolve_request(&app.messaging, a.user.id, rid, true).await?;
    Ok(Json(json!({ "request": request_json(&r) })))
}

/// `POST /groups/requests/{request_id}/reject`
pub async fn reject(State(app): State<AppRef>, Auth(a): Auth, Path(rid): Path<i64>) -> Result<Json<Value>, HttpError> {
    let r = app.groups.resolve_request(&app.messaging, a.user.id, rid, false).await?;
    Ok(Json(json!({ "request": request_json(&r) })))
}
