//! Calls over HTTP: the ICE servers a WebRTC client needs before it places
//! or answers a call. Signaling itself runs over the long connection.

use axum::{
    extract::State,
    http::{HeaderMap, header},
};
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
        base64(HMAC-SHA1(calls.turn_secret, username))) valid for `ttl` seconds. The configured URLs, or with \
        the embedded relay on and a list left empty, the relay's: `stun:<host>:<port>`, \
        `turn:<host>:<port>?transport=udp` and `?transport=tcp`, where host is `calls.turn.public_host` or \
        else the host this request was sent to. Empty when there is neither.",
        body = api::IceServers))
)]
pub async fn ice_servers(State(app): State<AppRef>, Auth(auth): Auth, headers: HeaderMap) -> Json<api::IceServers> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(host_without_port);
    Json(app.ice.for_user(auth.user.id, now_ms() / 1000, host))
}

/// The host of a `Host` header (`name`, `name:port`, `[v6]:port`), when it
/// is one a URL can carry; `[v6]` keeps its brackets.
fn host_without_port(value: &str) -> Option<&str> {
    let host = match value.strip_prefix('[') {
        Some(v6) => &value[..v6.find(']')? + 2],
        None => value.split(':').next().unwrap_or_default(),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let ok = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']').is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => !host.is_empty() && host.chars().all(plain),
    };
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn the_host_header_loses_its_port_and_nothing_else() {
        assert_eq!(host_without_port("chat.example"), Some("chat.example"));
        assert_eq!(host_without_port("chat.example:8443"), Some("chat.example"));
        assert_eq!(host_without_port("127.0.0.1:8080"), Some("127.0.0.1"));
        assert_eq!(host_without_port("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_without_port("[::1]"), Some("[::1]"));
        for bad in ["", ":80", "[::1", "[nope]:80", "a b", "a/b:80", "x@y"] {
            assert_eq!(host_without_port(bad), None, "{bad:?}");
        }
    }
}
