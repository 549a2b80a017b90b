//! Ferry client SDK, used by the `ferry` CLI, the integration tests and the
//! load generator.
//!
//! - [`HttpApi`]: the HTTP API (accounts, users, conversations, messages,
//!   presence, contacts, groups): REST bodies are [`api`]'s types, shared
//!   with the server; messaging bodies are the protocol's [`v1`] messages.
//! - [`Client`]: the long connection (TCP or WebSocket) that reconnects by
//!   itself, sends reliably (retrying one client_msg_id until acked) and
//!   delivers every message once, in seq order per conversation, as
//!   [`Event`]s — syncing what it missed after gaps and reconnects. It also
//!   carries call signaling ([`Client::invite`] and the other steps,
//!   [`Event::Call`] pushes) for any WebRTC stack.
//! - [`RawConnection`]: one connection with no automation, for tests and load
//!   generation that need exact control over frames.
//! - [`SeqTracker`]: the pure ordering logic behind the client.
//! - [`transfer`]: file transfers on [`HttpApi`], uploads (instant, one
//!   request, or resumable over tus) and downloads, with resume, progress
//!   and cancellation.
//! - [`content`]: building texts (with group [`Mentions`]) and media
//!   messages from uploaded files, and reading texts and system events.

#![warn(missing_docs)]

pub mod client;
pub mod conn;
pub mod content;
pub mod error;
pub mod http;
pub mod order;
pub mod transfer;

pub use client::{
    CallEvent, CallPlaced, CallSignal, Client, ClientConfig, Event, EventReceiver, Target, new_client_msg_id,
};
pub use conn::{RawConnection, RawPayload, Transport};
pub use content::{
    MentionNames, Mentions, chat_record_of, edit_op, event_of, file_content, file_ref, forward, image_content,
    media_file_of, mention_names, message_op, pin_op, react_op, replying_to, revoke_op, revoked_of, send_message,
    text_content, text_with_mentions, video_content, voice_content,
};
pub use error::{ClientError, Result};
pub use http::{HttpApi, contacts::UserRef, groups::JoinOutcome};

/// The HTTP API's REST types, shared with the server.
pub use ferry_api as api;
pub use ferry_api::{
    Block, ContactChanges, FileInfo, Friend, FriendRequest, Group, GroupUpdate, IceServer, IceServers, Invited,
    JoinRequest, LoginResponse, Me, Member, MemberChanges, MemberPage, NewGroup, ProfileUpdate, RequestStatus,
    StorageUsage, User, group_conversation_id,
};
pub use order::{PushAction, SeqTracker};
pub use transfer::{
    CancellationToken, DownloadOptions, Downloaded, RetryPolicy, TransferEvent, UploadMethod, UploadOptions,
    UploadState, Uploaded,
};

/// The call vocabulary the steps take (media, reject reasons, SDP kinds).
pub use ferry_core::call::{CallMedia, CallOutcome, RejectReason, SdpKind};
/// Re-exported so callers need not depend on ferry-proto for message types.
pub use ferry_proto::v1;
