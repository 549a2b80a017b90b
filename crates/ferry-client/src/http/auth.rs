//! Registration, login, logout and who-am-I.

use ferry_api::{LoginRequest, LoginResponse, Me, RegisterRequest, User, UserResponse};
use reqwest::Method;

use super::HttpApi;
use crate::error::Result;

impl HttpApi {
    /// Creates an account. Does not log in.
    pub async fn register(&self, username: &str, password: &str, display_name: Option<&str>) -> Result<User> {
        let body = RegisterRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            display_name: display_name.map(str::to_owned),
        };
        let answer: UserResponse = self.call(self.req(Method::POST, "/auth/register").json(&body)).await?;
        Ok(answer.user)
    }

    /// Logs in as `platform` (e.g. `cli`), on `device_id` if given (a re-login
    /// on a known device replaces its old token) or on a new device.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        platform: &str,
        device_id: Option<&str>,
    ) -> Result<LoginResponse> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            platform: Some(platform.to_owned()),
            device_id: device_id.map(str::to_owned),
        };
        self.call(self.req(Method::POST, "/auth/login").json(&body)).await
    }

    /// Revokes the current token (its live connections are kicked).
    pub async fn logout(&self) -> Result<()> {
        self.call_empty(self.req(Method::POST, "/auth/logout")).await
    }

    /// Who the token belongs to.
    pub async fn me(&self) -> Result<Me> {
        self.call(self.req(Method::GET, "/me")).await
    }
}
