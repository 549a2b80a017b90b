//! Extractors: the bearer-token session, and JSON/query/path extractors whose
//! rejections become the API's JSON errors instead of axum's plain text.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{
        ConnectInfo, FromRef, FromRequest, FromRequestParts,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
};
use ferry_core::{ApiError, ErrorCode};

use crate::{app::AppRef, error::HttpError, service::accounts::Authed};

/// `Json<T>` with API-shaped errors (400 bad_request, 413 payload_too_large).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(HttpError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for HttpError {
    fn from(r: JsonRejection) -> Self {
        let code = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::PayloadTooLarge
        } else {
            ErrorCode::BadRequest
        };
        HttpError(ApiError::new(code, r.body_text()))
    }
}

/// `Query<T>` with API-shaped errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for HttpError {
    fn from(r: QueryRejection) -> Self {
        HttpError(ApiError::bad_request(r.body_text()))
    }
}

/// `Path<T>` with API-shaped errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(HttpError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for HttpError {
    fn from(r: PathRejection) -> Self {
        HttpError(ApiError::bad_request(r.body_text()))
    }
}

/// The caller's IP, for rate limits.
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(Self(ip))
    }
}

/// The authenticated session behind `Authorization: Bearer <token>`.
pub struct Auth(pub Authed);

impl<S> FromRequestParts<S> for Auth
where
    AppRef: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppRef::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(Self(app.accounts.authenticate(token).await?))
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme name is
/// case-insensitive (RFC 7235 §2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER  abc ", " Bearer abc"] {
            assert_eq!(bearer_token(v), Some("abc"), "{v:?}");
        }
        for v in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", ""] {
            assert_eq!(bearer_token(v), None, "{v:?}");
        }
    }
}
