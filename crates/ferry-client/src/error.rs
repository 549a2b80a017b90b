//! The SDK's error type.

use ferry_core::{ApiError, ErrorCode};

/// Everything an SDK call can fail with.
///
/// `Api` errors are answers from the server (the same codes on HTTP and on
/// the long connection) and are final for the request that caused them.
/// `Transport`, `Timeout` and `Closed` describe the pipe, not the request.
/// `Io`, `Cancelled` and `Corrupt` come from file transfers (the local disk,
/// the caller's cancellation, content that is not what the server described).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request with a stable error code.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// Connecting, reading or writing failed (the connection is probably gone).
    #[error("transport: {0}")]
    Transport(String),
    /// No answer within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// The client was closed (by `close()`, a kick or a fatal error) and will
    /// not reconnect.
    #[error("client closed")]
    Closed,
    /// The server sent something the protocol does not allow here.
    #[error("protocol: {0}")]
    Protocol(String),
    /// Reading or writing a local file failed.
    #[error("{0}")]
    Io(String),
    /// The caller cancelled the transfer. A resumable upload stays on the
    /// server and can be resumed; a download keeps its `.part` file.
    #[error("cancelled")]
    Cancelled,
    /// Transferred content does not match its SHA-256 (or size): the local
    /// file changed during an upload, or a download arrived damaged.
    #[error("content mismatch: {0}")]
    Corrupt(String),
}

/// Shorthand for SDK results.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

impl ClientError {
    /// The server's error code, if this is an API error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether retrying the same request later (possibly after reconnecting)
    /// can succeed: transport failures and timeouts are, answers are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transport(_) | Self::Timeout)
    }

    /// An [`ClientError::Io`] naming what was being done to which file.
    pub(crate) fn io(what: &str, path: &std::path::Path, e: std::io::Error) -> Self {
        Self::Io(format!("{what} {}: {e}", path.display()))
    }

    /// A transport error carrying `e` and its causes (reqwest and
    /// tungstenite keep the useful part, e.g. "connection refused", in the
    /// source chain).
    pub(crate) fn transport(e: impl std::error::Error) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        Self::Transport(text)
    }
}

/// Builds an [`ApiError`] from a wire code and message; unknown codes (from a
/// newer server) become `internal` with the original code kept in the message.
pub(crate) fn api_error(code: &str, message: &str, retry_after_ms: Option<u64>) -> ApiError {
    let (code, message) = match ErrorCode::parse(code) {
        Some(c) => (c, message.to_owned()),
        None => (ErrorCode::Internal, format!("{code}: {message}")),
    };
    ApiError { code, message, retry_after_ms }
}

impl From<ferry_proto::v1::Error> for ClientError {
    fn from(e: ferry_proto::v1::Error) -> Self {
        let retry = (e.retry_after_ms > 0).then_some(u64::from(e.retry_after_ms));
        Self::Api(api_error(&e.code, &e.message, retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_fall_back_to_internal() {
        let e = api_error("brand_new", "huh", None);
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(e.message.contains("brand_new"));
        let e = api_error("text_too_long", "too long", None);
        assert_eq!(e.code, ErrorCode::TextTooLong);
        assert_eq!(e.message, "too long");
    }

    #[test]
    fn error_frames_keep_retry_after() {
        let frame = ferry_proto::v1::Error {
            code: "rate_limited".into(),
            message: "slow down".into(),
            fatal: false,
            retry_after_ms: 250,
        };
        let err = ClientError::from(frame);
        assert_eq!(err.code(), Some(ErrorCode::RateLimited));
        let ClientError::Api(api) = err else { panic!("not an api error") };
        assert_eq!(api.retry_after_ms, Some(250));
    }
}
