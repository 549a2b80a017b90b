//! The HTTP JSON API under `/api/v1` (see docs/HTTP_API.md), `/healthz`, and
//! the WebSocket upgrade at `/ws`.

pub mod extract;
pub mod render;
pub mod routes;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{delete, get, post, put},
};
use ferry_core::{ApiError, ErrorCode};
use tower_http::trace::TraceLayer;

use crate::{app::AppRef, error::HttpError, gateway::ws};

/// Builds the router.
pub fn router(app: AppRef) -> Router {
    let body_limit = app.config.limits.max_http_body_bytes as usize;
    let api = Router::new()
        .route("/auth/register", post(routes::auth::register))
        .route("/auth/login", post(routes::auth::login))
        .route("/auth/logout", post(routes::auth::logout))
        .route("/me", get(routes::auth::me).patch(routes::contacts::update_profile))
        .route("/users", get(routes::users::by_ids))
        .route("/users/search", get(routes::contacts::search))
        .route("/users/by-name/{username}", get(routes::users::by_name))
        .route("/users/{id}", get(routes::users::by_id))
        .route("/conversations", get(routes::messages::conversations))
        .route("/conversations/{id}/messages", get(routes::messages::pull))
        .route("/conversations/{id}/read", post(routes::messages::mark_read))
        .route("/messages", post(routes::messages::send))
        .route("/presence", get(routes::presence::query))
        .route("/friends", get(routes::contacts::friends))
        .route("/friends/requests", get(routes::contacts::requests).post(routes::contacts::send_request))
        .route("/friends/requests/{id}/accept", post(routes::contacts::accept))
        .route("/friends/requests/{id}/decline", post(routes::contacts::decline))
        .route("/friends/{user_id}", delete(routes::contacts::remove))
        .route("/friends/{user_id}/remark", put(routes::contacts::remark))
        .route("/blocks", get(routes::contacts::blocks))
        .route("/blocks/{user_id}", put(routes::contacts::block).delete(routes::contacts::unblock))
        .route("/contacts/changes", get(routes::contacts::changes))
        .route("/groups", get(routes::groups::list).post(routes::groups::create))
        .route("/groups/requests/{request_id}/approve", post(routes::groups::approve))
        .route("/groups/requests/{request_id}/reject", post(routes::groups::reject))
        .route("/groups/{id}", get(routes::groups::info).patch(routes::groups::update))
        .route("/groups/{id}/members", get(routes::groups::members).post(routes::groups::invite))
        .route("/groups/{id}/members/changes", get(routes::groups::member_changes))
        .route("/groups/{id}/members/{user_id}", delete(routes::groups::kick))
        .route("/groups/{id}/members/{user_id}/role", put(routes::groups::set_role))
        .route("/groups/{id}/members/{user_id}/mute", put(routes::groups::mute).delete(routes::groups::unmute))
        .route("/groups/{id}/leave", post(routes::groups::leave))
        .route("/groups/{id}/dismiss", post(routes::groups::dismiss))
        .route("/groups/{id}/transfer", post(routes::groups::transfer))
        .route("/groups/{id}/nickname", put(routes::groups::nickname))
        .route("/groups/{id}/join", post(routes::groups::join))
        .route("/groups/{id}/requests", get(routes::groups::requests))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/ws", get(ws::upgrade))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
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

async fn method_not_allowed() -> HttpError {
    HttpError(ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method"))
}
