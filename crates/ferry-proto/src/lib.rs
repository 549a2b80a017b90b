//! Ferry wire protocol.
//!
//! `proto/ferry.proto` is the source of truth; this crate holds the generated
//! types ([`v1`]) and the frame codecs, with no I/O of its own:
//! - TCP: each frame is a 4-byte big-endian length followed by a protobuf
//!   [`v1::Frame`] ([`TcpCodec`], usable with `tokio_util::codec::Framed`);
//! - WebSocket binary messages carry one protobuf `Frame` ([`decode_frame`]);
//! - WebSocket text messages carry the same `Frame` as proto3 JSON
//!   ([`frame_to_json`], [`frame_from_json`]).

pub mod codec;
pub mod preview;

/// Generated protocol types, package `ferry.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ferry.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/ferry.v1.serde.rs"));
}

pub use codec::{
    FrameError, LEN_PREFIX, TcpCodec, decode_frame, encode_frame, encode_frame_prefixed, frame_from_json,
    frame_to_json, peek_frame_id, peek_json_frame_id,
};
pub use v1::{Frame, frame::Body};

/// The compiled `proto/ferry.proto`: an encoded
/// `google.protobuf.FileDescriptorSet` (with source info), for tools that
/// describe the messages, e.g. the server's OpenAPI document.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ferry_descriptor.bin"));

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;
