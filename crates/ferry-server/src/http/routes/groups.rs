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

/// Creates a group owned by you.
#[utoipa::path(
    post, path = "/groups", operation_id = "create_group", tag = "groups",
    request_body = api::NewGroup,
    responses(
        (status = 201, description = "The group, owned by you.", body = api::GroupResponse),
        (status = 400, description = "`invalid_argument` (empty or long name, long notice or intro, an avatar that is \
            neither a URL nor the id of an image file you uploaded), `bad_request` (unknown field, e.g. `mute_all`).", body = api::ErrorBody),
        (status = 404, description = "`not_found`: a member who does not exist.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: group size, or someone's group count.", body = api::ErrorBody),
    )
)]
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

/// Your groups.
#[utoipa::path(
    get, path = "/groups", operation_id = "groups", tag = "groups",
    responses(
        (status = 200, description = "Your groups (dismissed ones too).", body = api::GroupList),
    )
)]
pub async fn list(State(app): State<AppRef>, Auth(a): Auth) -> Result<Json<api::GroupList>, HttpError> {
    Ok(Json(render::group_list(&app.groups.list(a.user.id).await?)))
}

/// One group.
#[utoipa::path(
    get, path = "/groups/{id}", operation_id = "group", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group: for members, and for anyone unless it is invite-only.", body = api::GroupResponse),
        (status = 404, description = "`not_found`: no such group, or an invite-only group you are not in.", body = api::ErrorBody),
    )
)]
pub async fn info(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    Ok(Json(render::group_response(&app.groups.info(a.user.id, id).await?)))
}

/// Changes a group's settings (owner and admins).
#[utoipa::path(
    patch, path = "/groups/{id}", operation_id = "update_group", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = api::GroupUpdate,
    responses(
        (status = 200, description = "The group after the change; each change is a system message.", body = api::GroupResponse),
        (status = 400, description = "`invalid_argument` (as for creation; a new avatar must be a URL or an image \
            file you uploaded), `bad_request` (unknown field, e.g. `members`).", body = api::ErrorBody),
        (status = 403, description = "`forbidden` (plain members), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
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

/// Invites users (they join now, or wait for approval).
#[utoipa::path(
    post, path = "/groups/{id}/members", operation_id = "invite", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = api::Invite,
    responses(
        (status = 200, description = "Who joined now and who waits for approval.", body = api::Invited),
        (status = 403, description = "`forbidden` (invite-only group, plain member), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or you are not a member; or an invitee who does not exist.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: group size, or someone's group count.", body = api::ErrorBody),
    )
)]
pub async fn invite(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::Invite>,
) -> Result<Json<api::Invited>, HttpError> {
    Ok(Json(render::invited(&app.groups.invite(&app.messaging, a.user.id, id, b.user_ids).await?)))
}

/// A page of a group's members.
#[utoipa::path(
    get, path = "/groups/{id}/members", operation_id = "members", tag = "groups",
    params(("id" = i64, Path, description = "Group id"), api::PageQuery),
    responses(
        (status = 200, description = "A page of members by user id; `next_after` names the next page.", body = api::MemberPage),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
pub async fn members(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Query(q): Query<api::PageQuery>,
) -> Result<Json<api::MemberPage>, HttpError> {
    Ok(Json(render::member_page(&app.groups.members(a.user.id, id, q.after, q.limit).await?)))
}

/// Member rows changed after a version.
#[utoipa::path(
    get, path = "/groups/{id}/members/changes", operation_id = "member_changes", tag = "groups",
    params(("id" = i64, Path, description = "Group id"), api::SinceQuery),
    responses(
        (status = 200, description = "Member rows changed after `since` (removed ones with `left`).", body = api::MemberChanges),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
pub async fn member_changes(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Query(q): Query<api::SinceQuery>,
) -> Result<Json<api::MemberChanges>, HttpError> {
    Ok(Json(render::member_changes(&app.groups.member_changes(a.user.id, id, q.since).await?)))
}

/// Removes a member (your own id: leaves).
#[utoipa::path(
    delete, path = "/groups/{id}/members/{user_id}", operation_id = "remove_member", tag = "groups",
    params(("id" = i64, Path, description = "Group id"), ("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed (your own id: you left)."),
        (status = 403, description = "`forbidden` (role), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, you or they are not a member.", body = api::ErrorBody),
    )
)]
pub async fn kick(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<StatusCode, HttpError> {
    app.groups.remove_member(&app.messaging, a.user.id, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leaves a group.
#[utoipa::path(
    post, path = "/groups/{id}/leave", operation_id = "leave_group", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 204, description = "You left."),
        (status = 403, description = "`forbidden`: the owner must transfer (or dismiss) first.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
pub async fn leave(State(app): State<AppRef>, Auth(a): Auth, Path(id): Path<i64>) -> Result<StatusCode, HttpError> {
    app.groups.leave(&app.messaging, a.user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Dismisses a group (owner).
#[utoipa::path(
    post, path = "/groups/{id}/dismiss", operation_id = "dismiss_group", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, description = "The dismissed group (history stays readable).", body = api::GroupResponse),
        (status = 403, description = "`forbidden` (not the owner), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
pub async fn dismiss(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    Ok(Json(render::group_response(&app.groups.dismiss(&app.messaging, a.user.id, id).await?)))
}

/// Hands the group to another member (owner).
#[utoipa::path(
    post, path = "/groups/{id}/transfer", operation_id = "transfer_group", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = api::TransferRequest,
    responses(
        (status = 200, description = "The group with its new owner; you are an admin now.", body = api::GroupResponse),
        (status = 400, description = "`invalid_argument`: you already own it.", body = api::ErrorBody),
        (status = 403, description = "`forbidden` (not the owner), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, you or they are not a member.", body = api::ErrorBody),
    )
)]
pub async fn transfer(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::TransferRequest>,
) -> Result<Json<api::GroupResponse>, HttpError> {
    Ok(Json(render::group_response(&app.groups.transfer(&app.messaging, a.user.id, id, b.user_id).await?)))
}

/// Makes a member an admin or a plain member (owner).
#[utoipa::path(
    put, path = "/groups/{id}/members/{user_id}/role", operation_id = "set_member_role", tag = "groups",
    params(("id" = i64, Path, description = "Group id"), ("user_id" = i64, Path, description = "User id")),
    request_body = api::RoleUpdate,
    responses(
        (status = 200, description = "The member with the new role.", body = api::MemberResponse),
        (status = 400, description = "`invalid_argument`: `owner` (use transfer).", body = api::ErrorBody),
        (status = 403, description = "`forbidden` (not the owner; the owner's own role), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, you or they are not a member.", body = api::ErrorBody),
    )
)]
pub async fn set_role(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
    Json(b): Json<api::RoleUpdate>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.set_role(&app.messaging, a.user.id, id, user, b.role).await?)))
}

/// Mutes a member for some minutes (owner and admins; 0 unmutes).
#[utoipa::path(
    put, path = "/groups/{id}/members/{user_id}/mute", operation_id = "mute_member", tag = "groups",
    params(("id" = i64, Path, description = "Group id"), ("user_id" = i64, Path, description = "User id")),
    request_body = api::MuteRequest,
    responses(
        (status = 200, description = "The member, muted until `muted_until` (0 minutes unmutes).", body = api::MemberResponse),
        (status = 400, description = "`invalid_argument`: longer than a year.", body = api::ErrorBody),
        (status = 403, description = "`forbidden` (role), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, you or they are not a member.", body = api::ErrorBody),
    )
)]
pub async fn mute(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
    Json(b): Json<api::MuteRequest>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.mute(&app.messaging, a.user.id, id, user, b.minutes).await?)))
}

/// Lifts a member's mute (owner and admins).
#[utoipa::path(
    delete, path = "/groups/{id}/members/{user_id}/mute", operation_id = "unmute_member", tag = "groups",
    params(("id" = i64, Path, description = "Group id"), ("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The member, no longer muted.", body = api::MemberResponse),
        (status = 403, description = "`forbidden` (role), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, you or they are not a member.", body = api::ErrorBody),
    )
)]
pub async fn unmute(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.mute(&app.messaging, a.user.id, id, user, 0).await?)))
}

/// Sets your own nickname in a group.
#[utoipa::path(
    put, path = "/groups/{id}/nickname", operation_id = "set_group_nickname", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = api::NicknameUpdate,
    responses(
        (status = 200, description = "You, with the new nickname.", body = api::MemberResponse),
        (status = 400, description = "`invalid_argument`: too long.", body = api::ErrorBody),
        (status = 403, description = "`group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
pub async fn nickname(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
    Json(b): Json<api::NicknameUpdate>,
) -> Result<Json<api::MemberResponse>, HttpError> {
    Ok(Json(render::member_response(&app.groups.set_nickname(a.user.id, id, &b.nickname).await?)))
}

/// Joins a free group, or asks to join one that wants approval.
#[utoipa::path(
    post, path = "/groups/{id}/join", operation_id = "join_group", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    request_body = api::JoinGroup,
    responses(
        (status = 200, description = "`{\"joined\": true}`: a free group, you are in.", body = api::JoinAnswer),
        (status = 202, description = "`{\"joined\": false, \"request\": …}`: waiting for approval.", body = api::JoinAnswer),
        (status = 403, description = "`group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or an invite-only one (not revealed to outsiders).", body = api::ErrorBody),
        (status = 409, description = "`conflict`: already a member.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: group size, or your group count.", body = api::ErrorBody),
    )
)]
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

/// A group's pending join requests (owner and admins).
#[utoipa::path(
    get, path = "/groups/{id}/requests", operation_id = "group_requests", tag = "groups",
    params(("id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, description = "Pending join requests (owner and admins).", body = api::JoinRequestList),
        (status = 403, description = "`forbidden` (plain members), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such group, or you are not a member.", body = api::ErrorBody),
    )
)]
pub async fn requests(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::JoinRequestList>, HttpError> {
    Ok(Json(render::join_request_list(&app.groups.requests(a.user.id, id).await?)))
}

/// Approves a join request (owner and admins).
#[utoipa::path(
    post, path = "/groups/requests/{request_id}/approve", operation_id = "approve_join_request", tag = "groups",
    params(("request_id" = i64, Path, description = "Join request id")),
    responses(
        (status = 200, description = "The approved request: its user is a member.", body = api::JoinRequestResponse),
        (status = 403, description = "`forbidden` (plain members), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not your group.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: already handled.", body = api::ErrorBody),
        (status = 422, description = "`limit_exceeded`: group size, or their group count.", body = api::ErrorBody),
    )
)]
pub async fn approve(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(rid): Path<i64>,
) -> Result<Json<api::JoinRequestResponse>, HttpError> {
    Ok(Json(render::join_request_response(&app.groups.resolve_request(&app.messaging, a.user.id, rid, true).await?)))
}

/// Rejects a join request (owner and admins).
#[utoipa::path(
    post, path = "/groups/requests/{request_id}/reject", operation_id = "reject_join_request", tag = "groups",
    params(("request_id" = i64, Path, description = "Join request id")),
    responses(
        (status = 200, description = "The rejected request.", body = api::JoinRequestResponse),
        (status = 403, description = "`forbidden` (plain members), `group_dismissed`.", body = api::ErrorBody),
        (status = 404, description = "`not_found`: no such request, or not your group.", body = api::ErrorBody),
        (status = 409, description = "`conflict`: already handled.", body = api::ErrorBody),
    )
)]
pub async fn reject(
    State(app): State<AppRef>,
    Auth(a): Auth,
    Path(rid): Path<i64>,
) -> Result<Json<api::JoinRequestResponse>, HttpError> {
    Ok(Json(render::join_request_response(&app.groups.resolve_request(&app.messaging, a.user.id, rid, false).await?)))
}
