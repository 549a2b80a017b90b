//! The gateway owns long connections: TCP ([`tcp`]) and WebSocket ([`ws`])
//! transports feed one transport-agnostic [`session`] loop. No business logic
//! lives here: sessions decode frames and call the services.

pub mod frames;
pub mod session;
pub mod tcp;
pub mod ws;

#[cfg(test)]
mod tests;

use std::{future::Future, io, sync::Arc};

use bytes::Bytes;

use crate::hub::Outbound;

/// What a transport read produced.
#[derive(Debug)]
pub enum Incoming {
    /// A protobuf frame's bytes (TCP payload or WebSocket binary message).
    Binary(Bytes),
    /// A proto3-JSON frame (WebSocket text message).
    Text(String),
    /// The peer announced a frame over the size limit; the stream cannot be
    /// trusted past this point.
    TooLarge,
    /// The peer closed the connection, or it failed.
    Closed,
}

/// A long-connection transport. `recv` must be cancel-safe (it is raced
/// against the outbound queue and shutdown in the session's `select!`).
pub trait Transport: Send {
    fn recv(&mut self) -> impl Future<Output = Incoming> + Send;
    /// Writes the frames and flushes once. `json` selects the text encoding
    /// where the transport has one.
    fn send(&mut self, frames: &[Arc<Outbound>], json: bool) -> impl Future<Output = io::Result<()>> + Send;
    /// Closes the connection politely (best effort).
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}
