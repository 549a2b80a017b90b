//! Registration, login and who-am-I.

use serde::{Deserialize, Serialize};

use crate::users::User;

/// `POST /auth/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// 3-32 characters: letters, digits, `_`, `.`, `-`; stored lower case.
    pub username: String,
    /// The password (the server's minimum length applies).
    pub password: String,
    /// Display name (default: the username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
    /// The platform the session is opened as (`web` if left out), e.g. `cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Log in again on a known device (its old token is replaced); left
    /// out, a new device id is generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// Answer to `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// Bearer token for HTTP and the long connection's `auth` frame (shown once).
    pub token: String,
    /// The device this session belongs to (pass it again to re-login on it).
    pub device_id: String,
    /// The platform the session was opened as.
    pub platform: String,
    /// The logged-in user.
    pub user: User,
}

/// Answer to `GET /me`: the token's user and session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The token's user.
    pub user: User,
    /// The token's device.
    pub device_id: String,
    /// The token's platform.
    pub platform: String,
}
