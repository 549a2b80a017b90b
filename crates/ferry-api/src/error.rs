//! The error body every endpoint answers failures with.

use serde::{Deserialize, Serialize};

/// A non-2xx answer: `{"error": {"code", "message", "retry_after_ms"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error itself; `code` is one of `ferry_core::ErrorCode`'s stable codes,
/// the same the long connection's `Error` frames carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `rate_limited`.
    pub code: String,
    /// Human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// For `rate_limited`: milliseconds to wait before retrying (also sent
    /// as a `Retry-After` header in seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// The body for an [`ApiError`](ferry_core::ApiError).
    pub fn of(e: &ferry_core::ApiError) -> Self {
        Self {
            error: ErrorDetail {
                code: e.code.as_str().to_owned(),
                message: e.message.clone(),
                retry_after_ms: e.retry_after_ms,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ApiError;

    #[test]
    fn retry_after_is_sent_only_when_set() {
        let body = serde_json::to_string(&ErrorBody::of(&ApiError::not_found("no user 9"))).unwrap();
        assert_eq!(body, r#"{"error":{"code":"not_found","message":"no user 9"}}"#);
        let body = serde_json::to_value(ErrorBody::of(&ApiError::rate_limited(1500))).unwrap();
        assert_eq!(body["error"]["retry_after_ms"], 1500);
    }
}
