//! The column lists both backends select, in the order their row mappers
//! (`user_row`, `message_row`, … in `sqlite/` and `postgres/`) read them:
//! the two schemas name their columns alike, so a list is written once.

/// `users`, read by `user_row`.
pub(crate) const USER_COLUMNS: &str = "id, username, display_name, password_hash, created_at, disabled, avatar, bio";
/// `sessions`, read by `session_row`.
pub(crate) const SESSION_COLUMNS: &str = "token_hash, user_id, device_id, platform, created_at";
/// `messages`, read by `message_row`.
pub(crate) const MESSAGE_COLUMNS: &str =
    "conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body";
/// `conversation_settings`, read by `settings_row`.
pub(crate) const SETTINGS_COLUMNS: &str = "conversation_id, pinned_at, muted, archived_at, draft, version";
/// `friend_requests`, read by `request_row`.
pub(crate) const REQUEST_COLUMNS: &str = "id, from_id, to_id, greeting, status, created_at, updated_at";
/// `friends`, read by `friend_row`.
pub(crate) const FRIEND_COLUMNS: &str = "owner_id, friend_id, remark, created_at, version, deleted";
/// `blocks`, read by `block_row`.
pub(crate) const BLOCK_COLUMNS: &str = "owner_id, blocked_id, created_at, version, deleted";
/// `groups`, read by `group_row`.
pub(crate) const GROUP_COLUMNS: &str = "id, name, avatar, notice, intro, owner_id, join_policy, \
                                        invite_needs_approval, mute_all, dismissed, created_at, member_count, \
                                        member_version";
/// `group_members`, read by `member_row`.
pub(crate) const MEMBER_COLUMNS: &str =
    "group_id, user_id, role, nickname, muted_until, joined_at, join_seq, version, has_left";
/// `group_join_requests`, read by `join_request_row`.
pub(crate) const JOIN_REQUEST_COLUMNS: &str =
    "id, group_id, user_id, inviter_id, message, status, created_at, updated_at";
/// `files`, read by `file_row`.
pub(crate) const FILE_COLUMNS: &str =
    "id, owner_id, sha256, size, mime, name, created_at, blob_key, width, height, thumbnail, thumbnail_of";
/// `blobs`, read by `blob_row`.
pub(crate) const BLOB_COLUMNS: &str = "sha256, size, key, refcount, created_at";
/// `uploads`, read by `upload_row`.
pub(crate) const UPLOAD_COLUMNS: &str =
    "id, owner_id, size, byte_offset, name, mime, sha256, metadata, created_at, expires_at, file_id";
