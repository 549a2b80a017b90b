//! Frame encoding and decoding for every transport.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message as _;
use tokio_util::codec::{Decoder, Encoder};

use crate::v1::Frame;

/// Size of the TCP length prefix in bytes.
pub const LEN_PREFIX: usize = 4;

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame announces (or has) more bytes than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// The bytes are not a valid protobuf `Frame`.
    #[error("malformed frame: {0}")]
    Malformed(#[from] prost::DecodeError),
    /// The text is not a valid proto3-JSON `Frame`.
    #[error("malformed JSON frame: {0}")]
    MalformedJson(#[from] serde_json::Error),
    /// The frame decoded but carries no body this version knows.
    #[error("frame has no known body")]
    UnknownKind,
    /// An I/O error from the underlying transport (only from [`TcpCodec`]).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Decodes one protobuf frame (a WebSocket binary message or a TCP payload).
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, FrameError> {
    let frame = Frame::decode(bytes)?;
    if frame.body.is_none() {
        return Err(FrameError::UnknownKind);
    }
    Ok(frame)
}

/// Encodes a frame as plain protobuf bytes.
pub fn encode_frame(frame: &Frame) -> Bytes {
    Bytes::from(frame.encode_to_vec())
}

/// Encodes a frame with its 4-byte big-endian length prefix, ready for TCP.
pub fn encode_frame_prefixed(frame: &Frame) -> Bytes {
    let len = frame.encoded_len();
    let mut buf = BytesMut::with_capacity(LEN_PREFIX + len);
    buf.put_u32(len as u32);
    // Cannot fail: the buffer was sized with `encoded_len`.
    frame.encode(&mut buf).expect("buffer sized by encoded_len");
    buf.freeze()
}

/// Renders a frame as proto3 JSON (a WebSocket text message).
pub fn frame_to_json(frame: &Frame) -> String {
    // Cannot fail: generated pbjson impls only produce valid JSON values.
    serde_json::to_string(frame).expect("pbjson serialisation is infallible")
}

/// Parses a proto3-JSON frame.
pub fn frame_from_json(text: &str) -> Result<Frame, FrameError> {
    let frame: Frame = serde_json::from_str(text)?;
    if frame.body.is_none() {
        return Err(FrameError::UnknownKind);
    }
    Ok(frame)
}

/// The `id` of a protobuf frame that does not decode as a whole, so the
/// error answering it can still echo the request id; 0 when field 1 cannot
/// be reached (the bytes before it are broken, or it is absent).
pub fn peek_frame_id(mut bytes: &[u8]) -> u64 {
    use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
    while bytes.has_remaining() {
        let Ok((tag, wire_type)) = decode_key(&mut bytes) else { return 0 };
        if tag == 1 && wire_type == WireType::Varint {
            return decode_varint(&mut bytes).unwrap_or(0);
        }
        if skip_field(wire_type, tag, &mut bytes, DecodeContext::default()).is_err() {
            return 0;
        }
    }
    0
}

/// The `id` of a JSON frame that does not decode as a `Frame` (unknown kind,
/// a wrong field type), when the text is at least a JSON object with a
/// numeric or numeric-string `id`; else 0.
pub fn peek_json_frame_id(text: &str) -> u64 {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else { return 0 };
    match value.get("id") {
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        Some(id) => id.as_u64().unwrap_or(0),
        None => 0,
    }
}

/// Length-prefixed protobuf codec for TCP connections.
///
/// Decoding yields raw payloads (not parsed frames) so the caller can tell a
/// framing error (fatal: the stream is out of sync) from a malformed payload
/// (the stream is intact; answer with an error and go on).
#[derive(Debug, Clone)]
pub struct TcpCodec {
    max_frame: usize,
}

impl TcpCodec {
    /// A codec refusing frames longer than `max_frame` payload bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { max_frame }
    }
}

impl Decoder for TcpCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if src.len() < LEN_PREFIX {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLarge { len, max: self.max_frame });
        }
        if src.len() < LEN_PREFIX + len {
            src.reserve(LEN_PREFIX + len - src.len());
            return Ok(None);
        }
        src.advance(LEN_PREFIX);
        Ok(Some(src.split_to(len)))
    }
}

/// Encodes pre-encoded protobuf payloads (shared across sessions) by writing
/// the prefix and the payload.
impl Encoder<Bytes> for TcpCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(LEN_PREFIX + item.len());
        dst.put_u32(item.len() as u32);
        dst.extend_from_slice(&item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{self, frame::Body, message_content::Kind};
    use proptest::prelude::*;

    fn send_frame(id: u64, client_msg_id: String, text: String, to: i64) -> Frame {
        Frame {
            id,
            body: Some(Body::Send(v1::SendMessage {
                client_msg_id,
                to: Some(v1::send_message::To::UserId(to)),
                content: Some(v1::MessageContent {
                    kind: Some(Kind::Text(v1::Text { text, ..Default::default() })),
                    ..Default::default()
                }),
            })),
        }
    }

    proptest! {
        #[test]
        fn tcp_round_trip(id in any::<u64>(), cid in "[a-z0-9-]{0,64}", text in ".{0,200}", to in any::<i64>()) {
            let frame = send_frame(id, cid, text, to);
            let mut buf = BytesMut::new();
            TcpCodec::new(1 << 20).encode(encode_frame(&frame), &mut buf).unwrap();
            assert_eq!(&buf[..], &encode_frame_prefixed(&frame)[..]);
            let payload = TcpCodec::new(1 << 20).decode(&mut buf).unwrap().unwrap();
            prop_assert_eq!(decode_frame(&payload).unwrap(), frame);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn json_round_trip(id in any::<u64>(), cid in "[a-z0-9-]{0,64}", text in ".{0,200}", to in any::<i64>()) {
            let frame = send_frame(id, cid, text, to);
            let json = frame_to_json(&frame);
            prop_assert_eq!(frame_from_json(&json).unwrap(), frame);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let mut codec = TcpCodec::new(256);
            while let Ok(Some(payload)) = codec.decode(&mut buf) {
                let _ = decode_frame(&payload);
            }
        }
    }

    proptest! {
        #[test]
        fn the_id_of_a_broken_frame_is_still_read(id in 1u64.., cut in 0usize..40) {
            // A valid frame whose body is then truncated or garbled: the id
            // (field 1, written first) survives.
            let mut bytes = encode_frame(&send_frame(id, "client-1".into(), "hello there".into(), 5)).to_vec();
            let id_len = encode_frame(&Frame { id, body: None }).len();
            let keep = bytes.len().saturating_sub(cut).max(id_len);
            bytes.truncate(keep);
            bytes.extend_from_slice(&[0xff, 0xff]);
            prop_assert_eq!(peek_frame_id(&bytes), id);
        }
    }

    #[test]
    fn frame_ids_are_peeked_where_readable() {
        // Field 1000 first (unknown), then the id: still found.
        let mut bytes = vec![0xC0, 0x3E, 0x01];
        bytes.extend_from_slice(&encode_frame(&Frame { id: 42, body: None }));
        assert_eq!(peek_frame_id(&bytes), 42);
        assert_eq!(peek_frame_id(&[0xff, 0xff, 0xff]), 0, "garbage before the id");
        assert_eq!(peek_frame_id(&[]), 0);
        assert_eq!(peek_json_frame_id(r#"{"id":"17","nope":{}}"#), 17);
        assert_eq!(peek_json_frame_id(r#"{"id":18,"send":{"clientMsgId":5}}"#), 18);
        assert_eq!(peek_json_frame_id("{not json"), 0);
        assert_eq!(peek_json_frame_id(r#"{"id":"x"}"#), 0);
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let frame = send_frame(7, "c1".into(), "hello".into(), 2);
        let bytes = encode_frame_prefixed(&frame);
        let mut codec = TcpCodec::new(1024);
        let mut buf = BytesMut::new();
        for (i, b) in bytes.iter().enumerate() {
            buf.put_u8(*b);
            let got = codec.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i == bytes.len() - 1);
        }
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_reading_the_body() {
        let mut buf = BytesMut::new();
        buf.put_u32(10_000);
        let err = TcpCodec::new(1024).decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 10_000, max: 1024 }));
    }

    #[test]
    fn empty_or_unknown_body_is_unknown_kind() {
        assert!(matches!(decode_frame(&[]), Err(FrameError::UnknownKind)));
        // Field 1000 (unknown to this version), varint 1.
        let unknown = [0xC0, 0x3E, 0x01];
        assert!(matches!(decode_frame(&unknown), Err(FrameError::UnknownKind)));
        assert!(matches!(frame_from_json(r#"{"id":"1"}"#), Err(FrameError::UnknownKind)));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(decode_frame(&[0xff, 0xff, 0xff]), Err(FrameError::Malformed(_))));
        assert!(matches!(frame_from_json("{not json"), Err(FrameError::MalformedJson(_))));
    }

    #[test]
    fn json_uses_proto3_names() {
        let json = frame_to_json(&send_frame(3, "abc".into(), "hi".into(), 9));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["send"]["clientMsgId"], "abc");
        assert_eq!(v["send"]["userId"], "9");
        assert_eq!(v["send"]["content"]["text"]["text"], "hi");
    }
}
