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

/// `GET /users/{id}`
pub async fn by_id(
    State(app): State<AppRef>,
    _auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<api::UserResponse>, HttpError> {
    Ok(Json(render::user_response(&*app.accounts.user(id).await?)))
}

/// `GET /users/by-name/{username}`
pub async fn by_name(
    State(app): State<AppRef>,
    _auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<api::UserResponse>, HttpError> {
    Ok(Json(render::user_response(&app.accounts.user_by_name(&name).await?)))
}

/// `GET /users?ids=1,2,3`
pub async fn by_ids(
    State(app): State<AppRef>,
    _auth: Auth,
    Query(q): Query<api::IdsQuery>,
) -> Result<Json<api::UserList>, HttpError> {
    Ok(Json(render::user_list(&app.accounts.users(&q.parse()?).await?)))
}
