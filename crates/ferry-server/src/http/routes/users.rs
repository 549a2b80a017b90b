//! User lookups.

use axum::extract::State;
use ferry_core::{ApiError, validate};
use serde::Deserialize;

use super::{UserView, parse_ids};
use crate::{
    app::AppRef,
    error::{HttpError, store_error},
    http::extract::{Auth, Json, Path, Query},
};

pub async fn by_id(State(app): State<AppRef>, _auth: Auth, Path(id): Path<i64>) -> Result<Json<UserView>, HttpError> {
    Ok(Json(UserView::from(&*app.accounts.user(id).await?)))
}

pub async fn by_name(
    State(app): State<AppRef>,
    _auth: Auth,
    Path(name): Path<String>,
) -> Result<Json<UserView>, HttpError> {
    let not_found = || ApiError::not_found(format!("no user {name}"));
    let username = validate::username(&name).map_err(|_| not_found())?;
    let user = app.store.user_by_name(&username).await.map_err(store_error)?.ok_or_else(not_found)?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Deserialize)]
pub struct IdsQuery {
    ids: Option<String>,
}

pub async fn by_ids(
    State(app): State<AppRef>,
    _auth: Auth,
    Query(q): Query<IdsQuery>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let ids = parse_ids(q.ids.as_deref(), 500)?;
    let users = app.store.users_by_ids(&ids).await.map_err(store_error)?;
    let views: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Json(serde_json::json!({ "users": views })))
}
