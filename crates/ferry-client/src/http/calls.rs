//! Calls: the ICE servers (STUN, and TURN with short-lived credentials) a
//! WebRTC stack configures its peer connection with. The signaling itself
//! runs on the long connection ([`Client::invite`](crate::Client::invite)).

use ferry_api::IceServers;
use reqwest::Method;

use super::HttpApi;
use crate::error::Result;

impl HttpApi {
    /// `GET /calls/ice-servers`: STUN servers, then TURN servers with
    /// credentials valid for `ttl` seconds (ask again before they run out).
    /// Empty when the server has none configured.
    pub async fn ice_servers(&self) -> Result<IceServers> {
        self.call(self.req(Method::GET, "/calls/ice-servers")).await
    }
}
