//! Messaging over HTTP. Conversations, messages, read positions and presence
//! speak the long connection's proto3 JSON (`ferry_proto::v1`: lowerCamelCase
//! fields, 64-bit integers as strings, default values left out): a response
//! is exactly the body of the answer frame a WebSocket text session would
//! get. Only the query parameters are defined here.

use serde::{Deserialize, Serialize};

/// `?after_seq=&limit=` of `GET /conversations/{id}/messages`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct PullQuery {
    /// Messages with a greater seq (0: from the first one you may see).
    #[serde(default)]
    pub after_seq: u64,
    /// At most this many (0: the server's default, 100; capped by the server).
    #[serde(default)]
    pub limit: u32,
}

/// `?client_msg_id=` of the recall, edit, reaction and pin routes: makes a
/// retry safe (it gets the original answer), as `MessageOp.client_msg_id`
/// does on the long connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct OpQuery {
    /// Your id for this operation (as a send's `client_msg_id`); empty: none.
    #[serde(default)]
    pub client_msg_id: String,
}

/// `?since=` of `GET /conversations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct ListQuery {
    /// The `cursor` of an earlier answer: only what changed after it
    /// (empty: the whole list).
    #[serde(default)]
    pub since: String,
}

/// `GET /search` parameters: the fields of the `search` frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct MessageSearchQuery {
    /// What to find: every term must match; Chinese, Japanese, Korean and
    /// Thai text by substring, other words by prefix.
    #[serde(default)]
    pub q: String,
    /// Only this conversation.
    #[serde(default)]
    pub conversation_id: String,
    /// Only messages from this user.
    #[serde(default)]
    pub sender_id: i64,
    /// Only these content kinds, comma-separated (`file,image`).
    #[serde(default)]
    pub kinds: String,
    /// Sent at or after (Unix ms).
    #[serde(default)]
    pub since: i64,
    /// Sent at or before (Unix ms).
    #[serde(default)]
    pub until: i64,
    /// `nextCursor` of the previous page.
    #[serde(default)]
    pub cursor: String,
    /// Hits per page (default 20, at most 100).
    #[serde(default)]
    pub limit: u32,
}
