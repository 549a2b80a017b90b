//! The HTTP JSON API under `/api/v1` (see docs/HTTP_API.md), `/healthz`,
//! `/readyz`, `/metrics`, the WebSocket upgrade at `/ws`, and the browser client
//! ([`web`]) for every other GET.
//!
//! Every `/api/v1` route is registered through [`api_routes`], an
//! `OpenApiRouter` fed by `routes!`: a handler's `#[utoipa::path]` is both
//! its route and its entry in the OpenAPI document ([`openapi()`], served at
//! `/api/v1/openapi.json`), so the two cannot drift apart.

pub mod extract;
mod metrics;
pub mod openapi;
pub mod render;
pub mod routes;
mod web;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    routing::get,
};
use ferry_core::{ApiError, ErrorCode};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{app::AppRef, error::HttpError, gateway::ws};

/// Builds the router.
pub fn router(app: AppRef) -> Router {
    let body_limit = app.config.limits.max_http_body_bytes as usize;
    let (api, _) = api_routes().split_for_parts();
    let mut router = Router::new()
        .nest("/api/v1", api.method_not_allowed_fallback(method_not_allowed))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/ws", get(ws::upgrade));
    if app.config.metrics {
        router = router.route("/metrics", get(metrics::serve));
    }
    router = if app.config.web.enabled { router.fallback(web::serve) } else { router.fallback(not_found) };
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // A 5xx answer is logged where it is decided (an internal error with
        // its detail, a store outage as a warning); the trace layer logging
        // each again at ERROR would fill the log with every load balancer's
        // /readyz probe while a node drains or its store is down.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .with_state(app)
}

/// The OpenAPI document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let doc = OpenApiRouter::with_openapi(openapi::base()).nest("/api/v1", api_routes()).into_openapi();
    openapi::finish(doc)
}

/// The `/api/v1` routes, each with its OpenAPI operation; one `routes!` per path.
fn api_routes() -> OpenApiRouter<AppRef> {
    use routes::{auth, calls, contacts, groups, messages, presence, users};
    OpenApiRouter::default()
        .routes(routes!(openapi::serve))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me, contacts::update_profile))
        .routes(routes!(users::by_ids))
        .routes(routes!(contacts::search))
        .routes(routes!(users::by_name))
        .routes(routes!(users::by_id))
        .routes(routes!(messages::conversations))
        .routes(routes!(messages::pull))
        .routes(routes!(messages::mark_read))
        .routes(routes!(messages::send))
        .routes(routes!(messages::forward))
        .routes(routes!(messages::revoke))
        .routes(routes!(messages::edit))
        .routes(routes!(messages::react, messages::reactions))
        .routes(routes!(messages::pin))
        .routes(routes!(messages::pins))
        .routes(routes!(messages::read_status))
        .routes(routes!(messages::typing))
        .routes(routes!(messages::hide))
        .routes(routes!(messages::hidden_changes))
        .routes(routes!(messages::update_settings))
        .routes(routes!(messages::settings_changes))
        .routes(routes!(messages::search))
        .routes(routes!(presence::query))
        .routes(routes!(contacts::friends))
        .routes(routes!(contacts::requests, contacts::send_request))
        .routes(routes!(contacts::accept))
        .routes(routes!(contacts::decline))
        .routes(routes!(contacts::remove))
        .routes(routes!(contacts::remark))
        .routes(routes!(contacts::blocks))
        .routes(routes!(contacts::block, contacts::unblock))
        .routes(routes!(contacts::changes))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::approve))
        .routes(routes!(groups::reject))
        .routes(routes!(groups::info, groups::update))
        .routes(routes!(groups::members, groups::invite))
        .routes(routes!(groups::member_changes))
        .routes(routes!(groups::kick))
        .routes(routes!(groups::set_role))
        .routes(routes!(groups::mute, groups::unmute))
        .routes(routes!(groups::leave))
        .routes(routes!(groups::dismiss))
        .routes(routes!(groups::transfer))
        .routes(routes!(groups::nickname))
        .routes(routes!(groups::join))
        .routes(routes!(groups::requests))
        .routes(routes!(calls::ice_servers))
        .merge(file_routes())
}

/// The file routes. Those that stream file content in have their own size
/// limits (files.*) and are exempt from `limits.max_http_body_bytes`; the
/// JSON ones are not (a JSON body is read whole into memory).
fn file_routes() -> OpenApiRouter<AppRef> {
    use routes::{files, uploads};
    let content = OpenApiRouter::default()
        .routes(routes!(files::upload))
        .routes(routes!(uploads::options, uploads::create))
        .routes(routes!(uploads::head, uploads::patch, uploads::terminate))
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::default()
        .routes(routes!(files::urls))
        .routes(routes!(files::instant))
        .routes(routes!(files::instant_proof))
        .routes(routes!(files::storage))
        .routes(routes!(files::info))
        .routes(routes!(files::download, files::delete))
        .routes(routes!(files::thumbnail))
        .merge(content)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Whether to send this node new clients: 200 `{"status":"ready"}`, or 503
/// with the error body (`unavailable`) saying why (draining, the store).
async fn readyz(State(app): State<AppRef>) -> Result<axum::Json<serde_json::Value>, HttpError> {
    match app.health.check().await {
        Ok(()) => Ok(axum::Json(serde_json::json!({ "status": "ready" }))),
        Err(why) => Err(HttpError(ApiError::new(ErrorCode::Unavailable, why.to_string()))),
    }
}

async fn not_found() -> HttpError {
    HttpError(ApiError::not_found("no such route"))
}

async fn method_not_allowed() -> HttpError {
    HttpError(ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method"))
}
