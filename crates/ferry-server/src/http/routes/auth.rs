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

/// Creates an account (does not log in).
#[utoipa::path(
    post, path = "/auth/register", operation_id = "register", tag = "accounts", security(()),
    request_body = api::RegisterRequest,
    responses(
        (status = 201, description = "Registered (not logged in).", body = api::UserResponse),
        (status = 400, description = "`invalid_argument` (bad username or display name), `weak_password`.", body = api::ErrorBody),
        (status = 409, description = "`username_taken`.", body = api::ErrorBody),
        (status = 429, description = "`rate_limited` (per client IP); `Retry-After` header.", body = api::ErrorBody),
    )
)]
pub async fn register(
    State(app): State<AppRef>,
    ClientIp(ip): ClientIp,
    Json(b): Json<api::RegisterRequest>,
) -> Result<(StatusCode, Json<api::UserResponse>), HttpError> {
    let user = app.accounts.register(&b.username, &b.password, b.display_name.as_deref(), ip).await?;
    Ok((StatusCode::CREATED, Json(render::user_response(&user))))
}

/// Logs in on a new or known device: a bearer token.
#[utoipa::path(
    post, path = "/auth/login", operation_id = "login", tag = "accounts", security(()),
    request_body = api::LoginRequest,
    responses(
        (status = 200, description = "A new session on a new (or the given) device.", body = api::LoginResponse),
        (status = 400, description = "`invalid_argument` (bad platform or device id).", body = api::ErrorBody),
        (status = 401, description = "`invalid_credentials`.", body = api::ErrorBody),
        (status = 403, description = "`forbidden`: the account is disabled.", body = api::ErrorBody),
        (status = 429, description = "`rate_limited` (per username and per client IP).", body = api::ErrorBody),
    )
)]
pub async fn login(
    State(app): State<AppRef>,
    ClientIp(ip): ClientIp,
    Json(b): Json<api::LoginRequest>,
) -> Result<Json<api::LoginResponse>, HttpError> {
    let platform = b.platform.as_deref().unwrap_or("web");
    let out = app.accounts.login(&b.username, &b.password, platform, b.device_id.as_deref(), ip).await?;
    Ok(Json(render::login(&out)))
}

/// Revokes the token and closes its connections.
#[utoipa::path(
    post, path = "/auth/logout", operation_id = "logout", tag = "accounts",
    responses((status = 204, description = "The token is revoked; its connections are kicked (`logout`)."))
)]
pub async fn logout(State(app): State<AppRef>, Auth(authed): Auth) -> Result<StatusCode, HttpError> {
    app.accounts.logout(&authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
#[utoipa::path(
    get, path = "/me", operation_id = "me", tag = "accounts",
    responses((status = 200, description = "The token's user and session.", body = api::Me))
)]
pub async fn me(Auth(authed): Auth) -> Json<api::Me> {
    Json(render::me(&authed))
}
