//! User lookups.

use axum::extract::State;
use ferry_api as api;

use crate::{
    app::AppRef,
    error::HttpError,
    http::{
        extract::{Auth, Json, Path, Query},
        render,
    },
};

/// A user by id.
#[utoipa::path(
    get, path = "/users/{id}", operation_id = "user", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user.", body = api::UserResponse),
        (status = 404, description = "`not_found`.", body = api::ErrorBody),
    )
)]
pub async fn by_id(
    State(app): State<AppRef>,
    _auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::UserResponse>, HttpError> {
    Ok(Json(render::user_response(&*app.accounts.user(id).await?)))
}

/// A user by username.
#[utoipa::path(
    get, path = "/users/by-name/{username}", operation_id = "user_by_name", tag = "users",
    params(("username" = String, Path, description = "Username (any case)")),
    responses(
        (status = 200, description = "The user.", body = api::UserResponse),
        (status = 404, description = "`not_found`.", body = api::ErrorBody),
    )
)]
pub async fn by_name(
    State(app): State<AppRef>,
    _auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<api::UserResponse>, HttpError> {
    Ok(Json(render::user_response(&app.accounts.user_by_name(&name).await?)))
}

/// Users by id, up to 500 at once.
#[utoipa::path(
    get, path = "/users", operation_id = "users", tag = "users",
    params(api::IdsQuery),
    responses(
        (status = 200, description = "The users that exist, unknown ids left out.", body = api::UserList),
        (status = 400, description = "`invalid_argument`: not a list of ids, or more than 500.", body = api::ErrorBody),
    )
)]
pub async fn by_ids(
    State(app): State<AppRef>,
    _auth: Auth,
    Query(q): Query<api::IdsQuery>,
) -> Result<Json<api::UserList>, HttpError> {
    Ok(Json(render::user_list(&app.accounts.users(&q.parse()?).await?)))
}
