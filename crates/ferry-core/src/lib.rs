//! Ferry's domain vocabulary, shared by the server, the store and the clients:
//! ids ([`ids`]), the error codes both transports speak ([`error`]), input
//! validation and limits ([`validate`]). Nothing here does I/O.

pub mod content;
pub mod error;
pub mod group;
pub mod ids;
pub mod search;
pub mod validate;

pub use error::{ApiError, ErrorCode};
pub use group::{JoinPolicy, Role};
pub use ids::{ConversationId, SnowflakeGenerator, UserId};
pub use validate::Limits;
