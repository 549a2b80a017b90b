//! Calls over HTTP: the ICE servers a WebRTC client needs before it places
//! or answers a call. Signaling itself runs over the long connection.

use axum::extract::State;
use ferry_api as api;

use crate::{
    app::AppRef,
    http::extract::{Auth, Json},
    service::now_ms,
};

/// STUN and TURN servers for your calls, with short-lived TURN credentials.
#[utoipa::path(
    get, path = "/calls/ice-servers", operation_id = "ice_servers", tag = "calls",
    responses((status = 200, description = "`RTCIceServer` dictionaries as the browser takes them \
        (`new RTCPeerConnection({iceServers: body.ice_servers})`): STUN URLs without credentials, TURN URLs \
        with a TURN REST API credential (username `<expiry unix seconds>:<user id>`, credential \
        base64(HMAC-SHA1(calls.turn_secret, username))) valid for `ttl` seconds. Empty when none are configured.",
        body = api::IceServers))
)]
pub async fn ice_servers(State(app): State<AppRef>, Auth(auth): Auth) -> Json<api::IceServers> {
    Json(app.ice.for_user(auth.user.id, now_ms() / 1000))
}
