//! The one place where errors become what clients see: an HTTP JSON body or a
//! protocol `Error` frame, with the same stable codes on both.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use ferry_api::ErrorBody;
use ferry_core::{ApiError, ErrorCode};
use ferry_proto::v1;
use ferry_store::StoreError;

/// Logs a storage failure once and turns it into what the client may see.
pub fn store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound(what) => ApiError::not_found(what),
        StoreError::Conflict(what) => ApiError::new(ErrorCode::Conflict, what),
        StoreError::Backend(detail) => {
            tracing::error!(%detail, "storage failure");
            ApiError::internal()
        }
        // The store is down or out of reach (PostgreSQL restarting): a
        // retry later may work, unlike after `internal`.
        StoreError::Unavailable(detail) => {
            tracing::warn!(%detail, "storage unavailable");
            ApiError::new(ErrorCode::Unavailable, "storage unavailable; retry shortly")
        }
    }
}

/// The HTTP form: status from the code, body `{"error":{...}}` ([`ErrorBody`]).
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        Self(store_error(e))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(ErrorBody::of(&e))).into_response();
        if let Some(ms) = e.retry_after_ms {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The protocol form.
pub fn error_frame(id: u64, e: &ApiError, fatal: bool) -> v1::Frame {
    v1::Frame { id, body: Some(v1::frame::Body::Error(proto_error(e, fatal))) }
}

/// The protocol's `Error` message (also carried inside answers that report
/// failures per item).
pub fn proto_error(e: &ApiError, fatal: bool) -> v1::Error {
    v1::Error {
        code: e.code.as_str().to_owned(),
        message: e.message.clone(),
        fatal,
        retry_after_ms: e.retry_after_ms.map(|ms| ms.min(u64::from(u32::MAX)) as u32).unwrap_or(0),
    }
}
