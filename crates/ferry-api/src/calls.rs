//! Calls: the ICE servers a WebRTC client configures its peer connection
//! with (`GET /api/v1/calls/ice-servers`).
//!
//! The body is shaped for the browser: `ice_servers` is a list of
//! `RTCIceServer` dictionaries as they are (`urls`, `username`,
//! `credential`), so a web client passes it straight to
//! `new RTCPeerConnection({ iceServers: body.ice_servers })`.

use serde::{Deserialize, Serialize};

/// The ICE servers to use for calls, and how long their credentials last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IceServers {
    /// STUN servers first (no credentials), then TURN servers (with them);
    /// empty when the server has none configured (then only host candidates
    /// and direct paths work).
    pub ice_servers: Vec<IceServer>,
    /// Seconds the TURN credentials stay valid from now; ask again before
    /// they run out (a TURN allocation is refreshed with them).
    pub ttl: u64,
}

/// One `RTCIceServer`: URLs sharing one set of credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IceServer {
    /// `stun:`/`stuns:` or `turn:`/`turns:` URLs (RFC 7064, RFC 7065), e.g.
    /// `turn:turn.example.com:3478?transport=udp`.
    pub urls: Vec<String>,
    /// TURN only: `<expiry unix seconds>:<user id>` (the TURN REST API form
    /// that coturn's `use-auth-secret` checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN only: base64 of HMAC-SHA1(shared secret, `username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}
