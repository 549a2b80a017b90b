//! The one error type clients see, with stable machine-readable codes.
//!
//! The server maps an [`ApiError`] to an HTTP JSON body
//! (`{"error":{"code":..,"message":..}}`) and to the protocol's `Error` frame
//! in a single place each, so a client sees the same codes on both transports.

use std::fmt;

/// Stable error codes. The string form (`as_str`) is part of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is syntactically wrong (bad JSON, missing field).
    BadRequest,
    /// A field has an invalid value (empty username, bad characters...).
    InvalidArgument,
    /// No token, or the token is unknown, expired or revoked.
    Unauthenticated,
    /// A frame other than `auth` arrived before authentication.
    AuthRequired,
    /// Authenticated but not allowed to do this.
    Forbidden,
    /// The target (user, conversation, route) does not exist.
    NotFound,
    /// The route exists but not with this HTTP method.
    MethodNotAllowed,
    /// The username is already registered.
    UsernameTaken,
    /// The password does not meet the policy.
    WeakPassword,
    /// Wrong username or password.
    InvalidCredentials,
    /// Too many requests; see `retry_after_ms`.
    RateLimited,
    /// A body or frame exceeds the size limit.
    PayloadTooLarge,
    /// A message text exceeds the text limit.
    TextTooLong,
    /// The frame could not be decoded.
    MalformedFrame,
    /// The frame decoded but its kind is unknown or not valid here.
    UnknownKind,
    /// The client speaks a protocol version the server does not.
    UnsupportedVersion,
    /// The recipient has blocked the sender.
    Blocked,
    /// Only friends may message each other on this server.
    NotFriends,
    /// The group has been dismissed.
    GroupDismissed,
    /// The group is muted: only the owner and admins may speak.
    GroupMuted,
    /// The sender is muted in this group.
    MemberMuted,
    /// A configured maximum (group size, groups per user) would be exceeded.
    LimitExceeded,
    /// The time allowed for an action has passed (recall, edit windows).
    Expired,
    /// The action conflicts with the current state (already friends, already a member...).
    Conflict,
    /// The user's storage quota would be exceeded.
    QuotaExceeded,
    /// The content's type is not accepted (blocked, not allowed, or not an
    /// image where one is needed).
    UnsupportedMediaType,
    /// The content does not match its announced size or digest.
    ChecksumMismatch,
    /// The requested byte range lies outside the content.
    RangeNotSatisfiable,
    /// An image has more pixels than the server decodes.
    ImageTooLarge,
    /// A precondition of the request (If-Match, a protocol version) failed.
    PreconditionFailed,
    /// The server is shutting down or overloaded; retry elsewhere/later.
    Unavailable,
    /// A bug or an infrastructure failure; details are in the server log.
    Internal,
}

impl ErrorCode {
    /// The stable wire name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidArgument => "invalid_argument",
            Self::Unauthenticated => "unauthenticated",
            Self::AuthRequired => "auth_required",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UsernameTaken => "username_taken",
            Self::WeakPassword => "weak_password",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited => "rate_limited",
            Self::PayloadTooLarge => "payload_too_large",
            Self::TextTooLong => "text_too_long",
            Self::MalformedFrame => "malformed_frame",
            Self::UnknownKind => "unknown_kind",
            Self::UnsupportedVersion => "unsupported_version",
            Self::Blocked => "blocked",
            Self::NotFriends => "not_friends",
            Self::GroupDismissed => "group_dismissed",
            Self::GroupMuted => "group_muted",
            Self::MemberMuted => "member_muted",
            Self::LimitExceeded => "limit_exceeded",
            Self::Expired => "expired",
            Self::Conflict => "conflict",
            Self::QuotaExceeded => "quota_exceeded",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::ImageTooLarge => "image_too_large",
            Self::PreconditionFailed => "precondition_failed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status this code maps to.
    pub fn http_status(self) -> u16 {
        match self {
            Self::BadRequest
            | Self::InvalidArgument
            | Self::WeakPassword
            | Self::TextTooLong
            | Self::MalformedFrame
            | Self::UnknownKind
            | Self::UnsupportedVersion => 400,
            Self::Unauthenticated | Self::AuthRequired | Self::InvalidCredentials => 401,
            Self::Forbidden
            | Self::Blocked
            | Self::NotFriends
            | Self::GroupDismissed
            | Self::GroupMuted
            | Self::MemberMuted
            | Self::Expired => 403,
            Self::Conflict => 409,
            Self::QuotaExceeded => 413,
            Self::UnsupportedMediaType => 415,
            // tus's checksum extension answers a mismatch with 460.
            Self::ChecksumMismatch => 460,
            Self::RangeNotSatisfiable => 416,
            Self::ImageTooLarge => 422,
            Self::PreconditionFailed => 412,
            Self::LimitExceeded => 422,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::UsernameTaken => 409,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// Parses a wire name back into a code (clients use this).
    pub fn parse(s: &str) -> Option<Self> {
        ALL_CODES.iter().copied().find(|c| c.as_str() == s)
    }
}

/// Every code, for parsing and documentation.
pub const ALL_CODES: &[ErrorCode] = &[
    ErrorCode::BadRequest,
    ErrorCode::InvalidArgument,
    ErrorCode::Unauthenticated,
    ErrorCode::AuthRequired,
    ErrorCode::Forbidden,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::UsernameTaken,
    ErrorCode::WeakPassword,
    ErrorCode::InvalidCredentials,
    ErrorCode::RateLimited,
    ErrorCode::PayloadTooLarge,
    ErrorCode::TextTooLong,
    ErrorCode::MalformedFrame,
    ErrorCode::UnknownKind,
    ErrorCode::UnsupportedVersion,
    ErrorCode::Blocked,
    ErrorCode::NotFriends,
    ErrorCode::GroupDismissed,
    ErrorCode::GroupMuted,
    ErrorCode::MemberMuted,
    ErrorCode::LimitExceeded,
    ErrorCode::Expired,
    ErrorCode::Conflict,
    ErrorCode::QuotaExceeded,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::ChecksumMismatch,
    ErrorCode::RangeNotSatisfiable,
    ErrorCode::ImageTooLarge,
    ErrorCode::PreconditionFailed,
    ErrorCode::Unavailable,
    ErrorCode::Internal,
];

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error to report to a client: a code, a human message, and for rate
/// limits how long to wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_ms: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "missing, unknown or revoked token")
    }
    /// An internal failure. The detail must already have been logged; the
    /// client sees only a generic message.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Self { code: ErrorCode::RateLimited, message: "too many requests".into(), retry_after_ms: Some(retry_after_ms) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL_CODES {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
            assert!((400..600).contains(&code.http_status()));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }
}
