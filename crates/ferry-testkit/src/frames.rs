//! Frames to send and answers to read: builders for the requests tests send
//! most, protobuf encoded by hand for what a valid `Frame` cannot hold
//! (invalid UTF-8, unknown fields), and accessors for what comes back.

use ferry_client::v1;
use ferry_proto::{Body, Frame};
use prost::encoding::{WireType, encode_key, encode_varint};

/// `auth{token, protocol_version}` with request id `id`.
pub fn auth_frame(id: u64, token: &str, protocol_version: u32) -> Frame {
    Frame { id, body: Some(Body::Auth(v1::Auth { token: token.into(), protocol_version })) }
}

/// A direct text message `text` to user `to`.
pub fn send_body(client_msg_id: &str, to: i64, text: &str) -> Body {
    Body::Send(v1::SendMessage {
        client_msg_id: client_msg_id.into(),
        to: Some(v1::send_message::To::UserId(to)),
        content: Some(ferry_client::text_content(text)),
    })
}

/// [`send_body`] as request `id`.
pub fn send_frame(id: u64, client_msg_id: &str, to: i64, text: &str) -> Frame {
    Frame { id, body: Some(send_body(client_msg_id, to, text)) }
}

/// Whether `frame` is a push of a message or of presence: what arrives
/// unasked on any connection and stands between a request and its answer.
pub fn is_message_or_presence_push(frame: &Frame) -> bool {
    frame.id == 0 && matches!(frame.body, Some(Body::Message(_) | Body::Presence(_)))
}

/// The error an error frame carries; panics on any other frame.
pub fn error_of(frame: &Frame) -> &v1::Error {
    match &frame.body {
        Some(Body::Error(e)) => e,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// A length-delimited protobuf field.
pub fn field(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut out);
    encode_varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A varint protobuf field.
pub fn varint_field(number: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(number, WireType::Varint, &mut out);
    encode_varint(value, &mut out);
    out
}

/// `Frame{id, send{client_msg_id, user_id: to, content{text{text: raw}}}}`
/// encoded by hand, so `raw` need not be UTF-8.
pub fn send_payload_with_raw_text(id: u64, client_msg_id: &str, to: i64, raw: &[u8]) -> Vec<u8> {
    let text = field(1, raw); // Text.text
    let content = field(1, &text); // MessageContent.text
    let mut send = field(1, client_msg_id.as_bytes()); // SendMessage.client_msg_id
    send.extend(varint_field(2, to as u64)); // SendMessage.user_id
    send.extend(field(4, &content)); // SendMessage.content
    let mut frame = varint_field(1, id); // Frame.id
    frame.extend(field(20, &send)); // Frame.send
    frame
}
