//! Presence queries, answered as the long connection's `v1.PresenceList`.

use axum::extract::State;
use ferry_api as api;
use ferry_proto::v1;

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Query},
};

/// `GET /presence?ids=` → `v1.PresenceList`
pub async fn query(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<api::IdsQuery>,
) -> Result<Json<v1::PresenceList>, HttpError> {
    let users = app.presence.query(authed.user.id, &q.parse()?).await?;
    Ok(Json(v1::PresenceList { users }))
}
