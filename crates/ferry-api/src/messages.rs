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
