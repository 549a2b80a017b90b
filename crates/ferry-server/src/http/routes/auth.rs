//! Registration, login, logout, and who am I.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use serde::Deserialize;

use super::UserView;
use crate::{
    app::AppRef,
    error::HttpError,
    http::extract::{Auth, ClientIp, Json},
};

#[derive(Deserialize)]
pub struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
}

pub async fn register(
    State(app): State<AppRef>,
    ClientIp(ip): ClientIp,
    Json(b): Json<RegisterBody>,
) -> Result<impl IntoResponse, HttpError> {
    let user = app.accounts.register(&b.username, &b.password, b.display_name.as_deref(), ip).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "user": UserView::from(&user) }))))
}

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
    platform: Option<String>,
    device_id: Option<String>,
}

pub async fn login(
    State(app): State<AppRef>,
    ClientIp(ip): ClientIp,
    Json(b): Json<LoginBody>,
) -> Result<impl IntoResponse, HttpError> {
    let platform = b.platform.as_deref().unwrap_or("web");
    let out = app.accounts.login(&b.username, &b.password, platform, b.device_id.as_deref(), ip).await?;
    Ok(Json(serde_json::json!({
        "token": out.token,
        "device_id": out.session.device_id,
        "platform": out.session.platform,
        "user": UserView::from(&out.user),
    })))
}

pub async fn logout(State(app): State<AppRef>, Auth(authed): Auth) -> Result<StatusCode, HttpError> {
    app.accounts.logout(&authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(Auth(authed): Auth) -> impl IntoResponse {
    Json(serde_json::json!({
        "user": UserView::from(&*authed.user),
        "device_id": authed.session.device_id,
        "platform": authed.session.platform,
    }))
}
