//! Registration, login, logout, and who am I.

use axum::{extract::State, http::StatusCode};
use ferry_api as api;

use crate::{
    app::AppRef,
    error::HttpError,
    http::{
        extract::{Auth, ClientIp, Json},
        render,
    },
};

/// `POST /auth/register`
pub async fn register(
    State(app): State<AppRef>,
    ClientIp(ip): ClientIp,
    Json(b): Json<api::RegisterRequest>,
) -> Result<(StatusCode, Json<api::UserResponse>), HttpError> {
    let user = app.accounts.register(&b.username, &b.password, b.display_name.as_deref(), ip).await?;
    Ok((StatusCode::CREATED, Json(render::user_response(&user))))
}

/// `POST /auth/login`
pub async fn login(
    State(app): State<AppRef>,
    ClientIp(ip): ClientIp,
    Json(b): Json<api::LoginRequest>,
) -> Result<Json<api::LoginResponse>, HttpError> {
    let platform = b.platform.as_deref().unwrap_or("web");
    let out = app.accounts.login(&b.username, &b.password, platform, b.device_id.as_deref(), ip).await?;
    Ok(Json(render::login(&out)))
}

/// `POST /auth/logout`
pub async fn logout(State(app): State<AppRef>, Auth(authed): Auth) -> Result<StatusCode, HttpError> {
    app.accounts.logout(&authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me`
pub async fn me(Auth(authed): Auth) -> Json<api::Me> {
    Json(render::me(&authed))
}
