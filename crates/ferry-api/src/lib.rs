//! The HTTP API's request and response types (`/api/v1`, see
//! `docs/HTTP_API.md`), shared by the server, which renders them, and the
//! SDK, which reads them: the contract is written once.
//!
//! The rules every endpoint follows:
//! - every response body is a JSON object: a single resource is wrapped
//!   under its name (`{"user": User}`, `{"group": Group}`), a list under its
//!   plural with paging fields beside it (`{"members": [...], "next_after"}`);
//! - these REST resources (accounts, users, contacts, groups) are snake_case
//!   JSON, ids and times plain numbers;
//! - the messaging endpoints (conversations, messages, read positions,
//!   presence) speak the long connection's proto3 JSON instead: their bodies
//!   are `ferry_proto::v1` messages and are not defined here;
//! - an error is `{"error": {"code", "message", "retry_after_ms"?}}`
//!   ([`ErrorBody`]).
//!
//! User ids are written `i64` (what `ferry_core::UserId` names) so that the
//! schemas show plain integers.
//!
//! One module per feature, as the server's routes are split: [`auth`],
//! [`users`], [`contacts`], [`groups`], [`messages`], [`files`], [`calls`], [`error`]. With the
//! `openapi` feature every type derives `utoipa::ToSchema` (queries:
//! `utoipa::IntoParams`), so the server's OpenAPI document is generated from
//! the very types both sides compile against.

pub mod auth;
pub mod calls;
pub mod contacts;
pub mod error;
pub mod files;
pub mod groups;
pub mod messages;
pub mod users;

#[cfg(feature = "openapi")]
pub mod schema;

pub use auth::{LoginRequest, LoginResponse, Me, RegisterRequest};
pub use calls::{IceServer, IceServers};
pub use contacts::{
    Block, BlockList, BlockResponse, ContactChanges, Friend, FriendList, FriendRequest, FriendRequestList,
    FriendRequestResponse, FriendResponse, NewFriendRequest, ProfileUpdate, RemarkUpdate, RequestStatus, SearchQuery,
    SinceQuery,
};
pub use error::{ErrorBody, ErrorDetail};
pub use files::{
    FileInfo, FileList, FileResponse, InstantChallenge, InstantChallengeResponse, InstantProof, InstantRequest,
    StorageUsage, UploadQuery, UrlsRequest,
};
pub use groups::{
    Group, GroupList, GroupResponse, GroupUpdate, Invite, Invited, JoinAnswer, JoinGroup, JoinRequest, JoinRequestList,
    JoinRequestResponse, Member, MemberChanges, MemberPage, MemberResponse, MuteRequest, NewGroup, NicknameUpdate,
    PageQuery, RoleUpdate, TransferRequest, group_conversation_id,
};
pub use messages::{ListQuery, MessageSearchQuery, OpQuery, PullQuery};
pub use users::{IdsQuery, User, UserList, UserResponse};
