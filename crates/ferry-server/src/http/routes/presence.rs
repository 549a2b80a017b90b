//! Presence queries.

use axum::extract::State;
use serde::Deserialize;

use super::parse_ids;
use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Query},
};

#[derive(Deserialize)]
pub struct IdsQuery {
    ids: Option<String>,
}

pub async fn query(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<IdsQuery>,
) -> Result<Json<serde_json::Value>, HttpError> {
    let ids = parse_ids(q.ids.as_deref(), 500)?;
    let users = app.presence.query(authed.user.id, &ids).await?;
    let users: Vec<serde_json::Value> = users
        .iter()
        .map(|p| serde_json::json!({ "user_id": p.user_id, "online": p.online, "devices": p.devices }))
        .collect();
    Ok(Json(serde_json::json!({ "users": users })))
}
