//! Domain services: plain async Rust over the [`ferry_store::Store`] traits.
//! They know nothing of sockets or HTTP; the gateway and the HTTP routes call
//! them and map their [`ferry_core::ApiError`]s to the wire.

pub mod accounts;
pub mod messaging;
pub mod presence;
pub mod writer;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
