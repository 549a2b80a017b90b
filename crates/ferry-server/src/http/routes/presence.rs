//! Presence queries, answered as the long connection's `v1.PresenceList`.

use axum::extract::State;
use ferry_api as api;
use ferry_proto::v1;

use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, Json, Query},
};

/// Who is online, as the `presenceList` answer frame.
#[utoipa::path(
    get, path = "/presence", operation_id = "presence", tag = "presence",
    params(api::IdsQuery),
    responses(
        (status = 200, description = "`v1.PresenceList` (proto3 JSON): the presence of those of `ids` who are \
            your friends or direct-chat peers (or yourself); without `ids`, of all of them.",
            body = ref("#/components/schemas/v1.PresenceList")),
        (status = 400, description = "`invalid_argument`: not a list of ids, or more than 500.", body = api::ErrorBody),
    )
)]
pub async fn query(
    State(app): State<AppRef>,
    Auth(authed): Auth,
    Query(q): Query<api::IdsQuery>,
) -> Result<Json<v1::PresenceList>, HttpError> {
    let users = app.presence.query(authed.user.id, &q.parse()?).await?;
    Ok(Json(v1::PresenceList { users }))
}
