//! Domain services: plain async Rust over the [`ferry_store::Store`] traits.
//! They know nothing of sockets or HTTP; the gateway and the HTTP routes call
//! them and map their [`ferry_core::ApiError`]s to the wire.

pub mod accounts;
pub mod contacts;
pub mod groups;
pub mod members;
pub mod messaging;
pub mod presence;
pub mod writer;

/// Refuses a free-text field longer than `max` characters.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), ferry_core::ApiError> {
    if value.chars().count() > max {
        return Err(ferry_core::ApiError::invalid(format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A `changed` push telling clients to sync `domain` incrementally.
pub fn changed_frame(domain: &str, group_id: i64, version: u64) -> std::sync::Arc<crate::hub::Outbound> {
    use ferry_proto::v1;
    crate::hub::Outbound::new(v1::Frame {
        id: 0,
        body: Some(v1::frame::Body::Changed(v1::Changed { domain: domain.to_owned(), group_id, version })),
    })
}
