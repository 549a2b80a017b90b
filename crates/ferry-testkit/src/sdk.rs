//! Waiting on the SDK client: the next event of one kind, and the error code
//! of a request that failed.

use std::time::Duration;

use ferry_client::{CallEvent, ClientError, Event, EventReceiver, v1};
use ferry_core::ErrorCode;

use crate::WAIT;

/// Waits for the next [`Event::Message`], skipping other events; panics
/// after `timeout`.
pub async fn next_message(events: &mut EventReceiver, timeout: Duration) -> v1::Message {
    first_event(events, timeout, "a message", |event| match event {
        Event::Message(m) => Some(m),
        _ => None,
    })
    .await
}

/// Waits for the next [`Event::Kicked`] and returns its reason, skipping
/// message and presence events; panics on any other event or after [`WAIT`].
pub async fn next_kicked(events: &mut EventReceiver) -> String {
    first_event(events, WAIT, "a kick", |event| match event {
        Event::Kicked { reason } => Some(reason),
        Event::Presence(_) | Event::Message(_) | Event::ReadReceipt(_) | Event::Typing(_) => None,
        other => panic!("expected Event::Kicked, got {other:?}"),
    })
    .await
}

/// Waits for the next [`Event::Presence`], skipping message events; panics
/// on any other event or after [`WAIT`].
pub async fn next_presence(events: &mut EventReceiver) -> v1::PresenceEvent {
    first_event(events, WAIT, "a presence event", |event| match event {
        Event::Presence(p) => Some(p),
        Event::Message(_) => None,
        other => panic!("expected a presence event, got {other:?}"),
    })
    .await
}

/// Waits for the next [`Event::Call`], skipping messages, presence and
/// other best-effort pushes; panics on a connection event (disconnected,
/// kicked, closed) or after [`WAIT`].
pub async fn next_call_event(events: &mut EventReceiver) -> CallEvent {
    first_event(events, WAIT, "a call event", |event| match event {
        Event::Call(call) => Some(call),
        Event::Message(_) | Event::Presence(_) | Event::Changed(_) | Event::ReadReceipt(_) | Event::Typing(_) => None,
        other => panic!("expected a call event, got {other:?}"),
    })
    .await
}

/// The API error code of a failed SDK call; panics if it failed otherwise
/// (transport, timeout, protocol).
pub fn api_code(e: &ClientError) -> ErrorCode {
    e.code().unwrap_or_else(|| panic!("not an API error: {e}"))
}

/// The first event `pick` takes, passing over those it returns `None` for
/// (`pick` panics on anything it did not expect); panics when the stream
/// ends or after `timeout`.
pub async fn first_event<T>(
    events: &mut EventReceiver,
    timeout: Duration,
    what: &str,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            let event = events.recv().await.unwrap_or_else(|| panic!("event stream ended while waiting for {what}"));
            if let Some(found) = pick(event) {
                return found;
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.unwrap_or_else(|_| panic!("no {what} within {timeout:?}"))
}
