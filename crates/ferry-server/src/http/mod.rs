//! The HTTP JSON API under `/api/v1` (see docs/HTTP_API.md), `/healthz`, and
//! the WebSocket upgrade at `/ws`.

pub mod extract;
pub mod routes;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{get, post},
};
use ferry_core::ApiError;
use tower_http::trace::TraceLayer;

use crate::{app::AppRef, error::HttpError, gateway::ws};

/// Builds the router.
pub fn router(app: AppRef) -> Router {
    let body_limit = app.config.limits.max_http_body_bytes as usize;
    let api = Router::new()
        .route("/auth/register", post(routes::auth::register))
        .route("/auth/login", post(routes::auth::login))
        .route("/auth/logout", post(routes::auth::logout))
        .route("/me", get(routes::auth::me))
        .route("/users", get(routes::users::by_ids))
        .route("/users/by-name/{username}", get(routes::users::by_name))
        .route("/users/{id}", get(routes::users::by_id))
        .route("/conversations", get(routes::messages::conversations))
        .route("/conversations/{id}/messages", get(routes::messages::pull))
        .route("/conversations/{id}/read", post(routes::messages::mark_read))
        .route("/messages", post(routes::messages::send))
        .route("/presence", get(routes::presence::query));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/ws", get(ws::upgrade))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> HttpError {
    HttpError(ApiError::not_found("no such route"))
}
