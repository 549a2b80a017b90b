//! Ferry's storage layer.
//!
//! One trait per aggregate ([`UserStore`], [`SessionStore`],
//! [`ConversationStore`], [`MessageStore`], [`ContactStore`], [`GroupStore`],
//! [`FileStore`])
//! combined into [`Store`]; callers hold an `Arc<dyn Store>` and never see
//! SQL. [`sqlite::SqliteStore`] is the embedded default; `postgres::PgStore`
//! (feature `postgres`, on by default) serves a cluster of nodes sharing
//! one PostgreSQL database. Both pass the same conformance suite
//! (`conformance`, compiled only with the feature of that name).
//!
//! All times are Unix milliseconds (`i64`). Message bodies are opaque bytes
//! (the server stores the encoded protobuf `MessageContent`).

mod columns;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod contacts;
pub mod files;
pub mod groups;
#[cfg(feature = "postgres")]
pub mod migrate;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use ferry_core::{ConversationId, UserId};

pub use contacts::{Block, ContactChanges, ContactStore, Friend, FriendRequest, RequestStatus};
pub use files::{Blob, CreateFile, CreateUpload, FileObject, FileStore, NewFile, Sha256, Upload};
pub use groups::{Group, GroupPatch, GroupStore, JoinRequest, Member, MemberChanges, MemberIds, NewGroup};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. the username exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing to update does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend failed (I/O, corruption, a bug). Logged by the caller.
    #[error("storage backend: {0}")]
    Backend(String),
    /// The backend cannot be reached right now (a database server down,
    /// restarting or out of reach; no connection within the timeout): the
    /// same call may succeed later. A write that failed this way after it
    /// was sent may still have been committed (its answer lost with the
    /// connection), so only idempotent writes — a send with its
    /// client_msg_id — are safe to repeat. Logged by the caller.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-case, unique.
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
    /// A disabled (banned) account cannot log in or authenticate.
    pub disabled: bool,
    /// Avatar: a URL or a file id; "" = none. This user's own file named
    /// here is readable by everyone ([`FileStore::readable_file`]).
    pub avatar: String,
    /// Signature / bio; "" = none.
    pub bio: String,
}

/// A partial profile update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    pub avatar: Option<String>,
    pub bio: Option<String>,
}

/// What registration writes.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: i64,
}

/// A login on one device. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the bearer token.
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub device_id: String,
    pub platform: String,
    pub created_at: i64,
}

/// A message to append. `server_msg_id` and `server_time` are chosen by the
/// caller; `seq` is assigned by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub conversation: ConversationId,
    pub sender: UserId,
    pub client_msg_id: String,
    /// Unique across the store; a batch reusing one fails as a whole.
    pub server_msg_id: u64,
    pub server_time: i64,
    /// The encoded content (opaque to the store).
    pub body: Vec<u8>,
    /// Members mentioned (@user): their conversation state records the
    /// mention until they read past this message's seq.
    pub mentions: Vec<UserId>,
    /// @all: every member of the conversation is mentioned.
    pub mention_all: bool,
    /// Makes this message an *event* about an earlier message of the same
    /// conversation (a recall, an edit, a reaction, a pin), applied in the
    /// same transaction as the append. Events take a seq like any message
    /// (so every device converges by sync) but are not unread and do not
    /// move the conversation's last activity.
    pub effect: Option<Effect>,
    /// Ids of the files the message references (media, thumbnails,
    /// covers): their readers include whoever can see this message (see
    /// [`FileStore::readable_file`]). Ids of no file are ignored.
    pub files: Vec<String>,
}

/// What search finds a message by, read from its body by the backend's
/// [`SearchExtractor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDoc {
    /// The content kind ("text", "image", "file", …), matched by a kind
    /// filter; letters, digits and `_` only.
    pub kind: String,
    /// The searchable text (tokenised by [`ferry_core::search`]; "" for
    /// content found only by kind).
    pub text: String,
}

/// What search finds a stored body by: the server's reading of its own
/// encoding (`None`: never found, e.g. events, system messages, recalls).
/// A backend is given one when it opens and reads every body it indexes
/// or verifies with it, so no text is stored twice.
pub type SearchExtractor = std::sync::Arc<dyn Fn(&[u8]) -> Option<SearchDoc> + Send + Sync>;

/// A message search for one user: what they can see now (direct
/// conversations they are in, groups they are a member of from their
/// visible history start), minus recalled messages and what they hid.
#[derive(Debug, Clone)]
pub struct MessageSearch {
    pub user: UserId,
    /// Every term must match; empty matches everything (then at least one
    /// filter is required by the server).
    pub query: ferry_core::search::Query,
    pub conversation: Option<ConversationId>,
    pub sender: Option<UserId>,
    /// Any of these kinds (empty: any kind).
    pub kinds: Vec<String>,
    /// `server_time` bounds (inclusive).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only messages with a smaller `server_msg_id` (the paging cursor).
    pub before: Option<u64>,
    pub limit: u32,
    /// Group members see the whole history, not only what came after they
    /// joined (the server's history visibility setting).
    pub full_history: bool,
}

impl MessageSearch {
    /// `user` searching for `query` without filters: the first page of 20,
    /// visible history from each group join on.
    pub fn new(user: UserId, query: ferry_core::search::Query) -> Self {
        Self {
            user,
            query,
            conversation: None,
            sender: None,
            kinds: Vec::new(),
            since: None,
            until: None,
            before: None,
            limit: 20,
            full_history: false,
        }
    }
}

/// A page of search results, newest first (by `server_msg_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    pub messages: Vec<StoredMessage>,
    /// Where the next page starts (`before`), `None` when nothing is left.
    /// A page may hold fewer than `limit` messages and still have a next
    /// one: a backend bounds the work of one page.
    pub next: Option<u64>,
}

/// What an event message does to its target, the message with seq `target`
/// in the same conversation. Refused — nothing of the event is written —
/// with `NotFound` when the target does not exist or is itself an event,
/// and with `Conflict` when the target is recalled (except by `Revoke`) or
/// the effect would change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Recall: the target's body becomes `body` (the recalled marker); it
    /// stops counting as unread and as a mention, and its pin and
    /// reactions go, and so do its file references (see
    /// [`FileStore::readable_file`]). `Conflict` if it is recalled already.
    Revoke { target: u64, body: Vec<u8> },
    /// Edit: the target's body becomes `body` (and search finds it by
    /// that).
    Edit { target: u64, body: Vec<u8> },
    /// Adds (or removes) the event sender's reaction `emoji`.
    React { target: u64, emoji: String, add: bool },
    /// Pins (or unpins) the target; pinning beyond `max` pins in the
    /// conversation is `Conflict`.
    Pin { target: u64, pin: bool, max: u32 },
}

impl Effect {
    /// The seq of the message this effect changes.
    pub fn target(&self) -> u64 {
        match self {
            Self::Revoke { target, .. }
            | Self::Edit { target, .. }
            | Self::React { target, .. }
            | Self::Pin { target, .. } => *target,
        }
    }
}

/// Reactions with one emoji on one message, as one user sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionCount {
    pub seq: u64,
    pub emoji: String,
    pub count: u64,
    /// The asking user is among them.
    pub me: bool,
}

/// One user's reaction on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub user: UserId,
    pub created_at: i64,
}

/// A pinned message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub seq: u64,
    pub pinned_by: UserId,
    pub pinned_at: i64,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub conversation: ConversationId,
    pub seq: u64,
    pub server_msg_id: u64,
    pub sender: UserId,
    pub client_msg_id: String,
    pub server_time: i64,
    pub body: Vec<u8>,
}

/// The result of appending one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored message: the new one, or for a duplicate the original.
    pub message: StoredMessage,
    /// True when (sender, client_msg_id) was already stored; nothing was
    /// written and `message` is the original (same seq, ids and time).
    pub duplicate: bool,
}

/// One user's view of one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub conversation: ConversationId,
    /// Highest seq in the conversation.
    pub max_seq: u64,
    /// Highest seq this user marked read.
    pub read_seq: u64,
    /// Messages with seq > read_seq not sent by this user.
    pub unread: u64,
    /// The user was mentioned in a message after read_seq.
    pub mentioned: bool,
    /// server_time of the newest message (0 if none).
    pub last_time: i64,
    /// Direct conversations: the other member's read position (0 in
    /// groups and notes to self).
    pub peer_read_seq: u64,
    /// When anything this user's list shows of it last changed (Unix ms):
    /// the newest message or event, this user's read position, and in a
    /// direct conversation the peer's. Read positions are stamped with the
    /// store node's clock, messages with their `server_time`.
    pub changed_at: i64,
}

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; `Conflict` if the username is taken.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// `username` is already lower-case.
    async fn user_by_name(&self, username: &str) -> Result<Option<User>>;
    /// The users that exist among `ids`, in no particular order.
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>>;
    /// Applies a profile patch; `NotFound` if there is no such user.
    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<User>;
    /// Answers when the store can serve reads (a trivial query on the
    /// connections requests use): the readiness check (`/readyz`).
    async fn ping(&self) -> Result<()>;
}

/// Device sessions (bearer tokens).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session; `Conflict` if the token hash exists.
    async fn create_session(&self, session: Session) -> Result<()>;
    async fn session_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<Session>>;
    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>>;
    /// Deletes one session; returns whether it existed.
    async fn delete_session(&self, token_hash: &[u8]) -> Result<bool>;
    /// Deletes every session of `user` on `device_id`; returns them.
    async fn delete_device_sessions(&self, user: UserId, device_id: &str) -> Result<Vec<Session>>;
    /// Deletes every session of `user` on `platform`; returns them.
    async fn delete_platform_sessions(&self, user: UserId, platform: &str) -> Result<Vec<Session>>;
    /// Up to `limit` sessions whose token hash sorts after `after`, in
    /// token-hash order (start with an empty `after`): for warming caches.
    async fn sessions_after(&self, after: &[u8], limit: usize) -> Result<Vec<Session>>;
}

/// Per-user conversation state.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Every conversation `user` takes part in, with its state, newest
    /// activity first.
    async fn conversations_of(&self, user: UserId) -> Result<Vec<ConversationState>>;
    /// One conversation's state for `user`, `None` if the user is not in it.
    async fn conversation_of(&self, user: UserId, conversation: ConversationId) -> Result<Option<ConversationState>>;
    /// Raises `user`'s read position to `seq` (never lowers it; clamps to the
    /// conversation's max seq). Returns the resulting read position.
    /// `NotFound` if the user is not in the conversation.
    async fn mark_read(&self, user: UserId, conversation: ConversationId, seq: u64) -> Result<u64>;
    /// Users who share a direct conversation with `user`.
    async fn direct_peers(&self, user: UserId) -> Result<Vec<UserId>>;
    /// `user`'s read position in `conversation`, `None` if not a member.
    async fn read_position(&self, user: UserId, conversation: ConversationId) -> Result<Option<u64>>;
    /// Every member of a conversation with their read position, in user
    /// id order.
    async fn read_positions(&self, conversation: ConversationId) -> Result<Vec<(UserId, u64)>>;
    /// Hides messages `seqs` of `conversation` for `user` only ("delete for
    /// me"); hiding one twice is a no-op. Returns the user's new state
    /// version.
    async fn hide_messages(&self, user: UserId, conversation: ConversationId, seqs: &[u64]) -> Result<u64>;
    /// Hides everything up to `up_to` for `user` ("clear history"); never
    /// lowers an earlier clear. Returns the user's new state version.
    async fn clear_history(&self, user: UserId, conversation: ConversationId, up_to: u64) -> Result<u64>;
    /// What `user` hid in `conversation` among seqs `from..=to`.
    async fn hidden_in(&self, user: UserId, conversation: ConversationId, from: u64, to: u64) -> Result<Hidden>;
    /// Everything `user` hid or cleared after version `since`.
    async fn hidden_changes(&self, user: UserId, since: u64) -> Result<HiddenChanges>;
    /// Which of the (conversation, seq) pairs `user` hid or cleared (for
    /// the conversation list's last messages), in input order.
    async fn hidden_among(&self, user: UserId, messages: &[(ConversationId, u64)]) -> Result<Vec<bool>>;
    /// Applies a settings patch to `user`'s view of `conversation`, bumping
    /// the user's state version (shared with hidden messages); returns the
    /// settings now.
    async fn update_settings(
        &self,
        user: UserId,
        conversation: ConversationId,
        patch: SettingsPatch,
    ) -> Result<ConversationSettings>;
    /// `user`'s settings changed after version `since` (every conversation
    /// with settings for 0), and the current version.
    async fn settings_changes(&self, user: UserId, since: u64) -> Result<(u64, Vec<ConversationSettings>)>;
}

/// One user's own settings of one conversation (defaults when never set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSettings {
    pub conversation: ConversationId,
    /// When it was pinned (Unix ms; 0 = not pinned). Pinned conversations
    /// come first, most recently pinned first.
    pub pinned_at: i64,
    /// Do not disturb: no notifications; still counted as unread.
    pub muted: bool,
    /// When it was archived (0 = not). A message after it brings the
    /// conversation back.
    pub archived_at: i64,
    /// Unsent text ("" = none).
    pub draft: String,
    /// The user's state version when this row last changed.
    pub version: u64,
}

/// A settings change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsPatch {
    pub pinned: Option<bool>,
    pub muted: Option<bool>,
    pub archived: Option<bool>,
    pub draft: Option<String>,
    /// The time pins and archives are stamped with.
    pub now: i64,
}

/// What one user hid of a range of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hidden {
    /// Everything up to this seq is cleared (0: nothing).
    pub cleared_up_to: u64,
    /// Single hidden messages in the range, ascending.
    pub seqs: Vec<u64>,
}

impl Hidden {
    /// Whether message `seq` is hidden.
    pub fn hides(&self, seq: u64) -> bool {
        seq <= self.cleared_up_to || self.seqs.binary_search(&seq).is_ok()
    }
}

/// A user's hidden messages and cleared histories changed after a version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HiddenChanges {
    /// The user's current state version.
    pub version: u64,
    /// (conversation, seq) hidden after `since`.
    pub hidden: Vec<(ConversationId, u64)>,
    /// (conversation, cleared up to) changed after `since`.
    pub cleared: Vec<(ConversationId, u64)>,
}

/// The message log.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Appends a batch in one transaction (group commit), in order. Each
    /// message gets the next seq of its conversation (dense, from 1). A
    /// message whose (sender, client_msg_id) is already stored, earlier or in
    /// the same batch, is not written again: its entry is the original with
    /// `duplicate: true`. For a direct conversation both participants become
    /// members of it. Returns one entry per input, in input order, only after
    /// the batch is durable. An event whose [`Effect`] is refused is the
    /// only entry that can fail on its own: its entry is the refusal and
    /// nothing of it is written; the rest of the batch is.
    async fn append_entries(&self, batch: Vec<NewMessage>) -> Result<Vec<Result<Appended>>>;
    /// [`append_entries`](Self::append_entries) for a batch without events
    /// (a refused event fails the call, after the rest is written).
    async fn append_messages(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        self.append_entries(batch).await?.into_iter().collect()
    }
    /// Messages with seq > `after_seq`, ascending, at most `limit`.
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>>;
    /// Highest seq of the conversation, 0 if it has no messages.
    async fn max_seq(&self, conversation: ConversationId) -> Result<u64>;
    /// The message `sender` stored under `client_msg_id`, if any: what a
    /// retry is answered with when it can no longer be admitted.
    async fn message_by_client_id(&self, sender: UserId, client_msg_id: &str) -> Result<Option<StoredMessage>>;
    /// The messages of `conversation` with the given seqs that exist, in
    /// ascending seq order (recalled and edited ones as they are now).
    async fn messages_at(&self, conversation: ConversationId, seqs: &[u64]) -> Result<Vec<StoredMessage>>;
    /// Reaction counts per (message, emoji) for the messages with seq in
    /// `from..=to`, ordered by seq then first reaction; `me` is whether
    /// `user` is among the reactors.
    async fn reaction_counts(
        &self,
        conversation: ConversationId,
        from: u64,
        to: u64,
        user: UserId,
    ) -> Result<Vec<ReactionCount>>;
    /// What a page of messages `from..=to` shows `user` beyond the stored
    /// rows: reaction counts and what the user hid. One read where the
    /// backend can ([`reaction_counts`](Self::reaction_counts) and
    /// [`ConversationStore::hidden_in`] otherwise).
    async fn page_extras(
        &self,
        user: UserId,
        conversation: ConversationId,
        from: u64,
        to: u64,
    ) -> Result<(Vec<ReactionCount>, Hidden)>;
    /// Who reacted to one message, oldest first, at most `limit`.
    async fn reactions_of(&self, conversation: ConversationId, seq: u64, limit: u32) -> Result<Vec<Reaction>>;
    /// The pinned messages of a conversation, most recently pinned first.
    async fn pins(&self, conversation: ConversationId) -> Result<Vec<Pin>>;
    /// The newest message that is not an event of each of `conversations`
    /// that has one (for the conversation list's previews), in no
    /// particular order.
    async fn last_messages(&self, conversations: &[ConversationId]) -> Result<Vec<StoredMessage>>;
    /// Full-text search over what one user can see; see [`MessageSearch`].
    async fn search_messages(&self, search: MessageSearch) -> Result<SearchPage>;
    /// Indexes up to about `limit` messages that were stored before the
    /// backend's search index existed (or before it was rebuilt), in one
    /// short write; returns whether more remain. A backend whose every
    /// message was indexed as it was stored returns `false` at once.
    async fn backfill_search(&self, limit: u32) -> Result<bool>;
}

/// Everything the server needs from storage.
pub trait Store:
    UserStore + SessionStore + ConversationStore + MessageStore + ContactStore + GroupStore + FileStore
{
}
impl<T: UserStore + SessionStore + ConversationStore + MessageStore + ContactStore + GroupStore + FileStore> Store
    for T
{
}
