//! Ferry client SDK, used by the `ferry` CLI, the integration tests and the
//! load generator.
//!
//! - [`HttpApi`]: the HTTP API (accounts, users, conversations, messages,
//!   presence), typed after `docs/HTTP_API.md`.
//! - [`Client`]: the long connection (TCP or WebSocket) that reconnects by
//!   itself, sends reliably (retrying one client_msg_id until acked) and
//!   delivers every message once, in seq order per conversation, as
//!   [`Event`]s — syncing what it missed after gaps and reconnects.
//! - [`RawConnection`]: one connection with no automation, for tests and load
//!   generation that need exact control over frames.
//! - [`SeqTracker`]: the pure ordering logic behind the client.

#![warn(missing_docs)]

pub mod client;
pub mod conn;
pub mod error;
pub mod http;
pub mod order;

pub use client::{Client, ClientConfig, Event, EventReceiver, Target, new_client_msg_id, text_content};
pub use conn::{RawConnection, RawPayload, Transport};
pub use error::{ClientError, Result};
pub use http::{HttpApi, LoginResponse, User};
pub use order::{PushAction, SeqTracker};

/// Re-exported so callers need not depend on ferry-proto for message types.
pub use ferry_proto::v1;
