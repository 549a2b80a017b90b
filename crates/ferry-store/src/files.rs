//! Files: the file objects users upload, the content-addressed blobs they
//! point to, the messages that reference them (who may read a file), and
//! resumable uploads in progress.
//!
//! Content is stored once. A *blob* is identified by `(sha256, size)` and
//! lives in the blob store (outside this crate) under a `key` unique to the
//! upload that first stored it; file objects count references to it. A blob
//! whose count drops to 0 stays claimable until [`FileStore::sweep_blobs`]
//! deletes its row (and hands the key back so the caller deletes the
//! bytes). Keys are never reused, so a sweep racing a new upload of the same
//! content cannot delete bytes a new row points to: the new upload brings
//! its own key.
//!
//! Order of operations for an upload: the caller writes the bytes under a
//! fresh key and verifies them, *then* calls [`FileStore::create_file`],
//! which claims the live blob of the same content if there is one (and
//! answers that the new key is redundant: the caller deletes it) or records
//! the new key. A crash between the two leaves bytes no row points to,
//! never a row pointing to missing bytes.
//!
//! A message names the files it references in
//! [`NewMessage::files`](crate::NewMessage::files); the store records the
//! references in the append's transaction and forgets them when the message
//! is recalled. They decide who may read a file
//! ([`FileStore::readable_file`]), along with avatars: a file that is its
//! owner's profile avatar or a group's avatar is readable by every user.

use async_trait::async_trait;
use ferry_core::UserId;

use crate::Result;

/// SHA-256 digest of a blob's content.
pub type Sha256 = [u8; 32];

/// Stored content: one row per distinct `(sha256, size)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub sha256: Sha256,
    pub size: u64,
    /// Where the bytes are in the blob store.
    pub key: String,
    /// File objects pointing to it (0: waiting for the sweeper).
    pub refcount: u64,
    pub created_at: i64,
}

/// A file as users see it: a name, a type, an owner, and the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileObject {
    /// 1-64 of `[A-Za-z0-9_-]` (`ferry_core::content::file_id`).
    pub id: String,
    /// The uploader.
    pub owner: UserId,
    pub sha256: Sha256,
    pub size: u64,
    /// Sniffed from the content where possible.
    pub mime: String,
    /// The name given at upload (UTF-8, no path).
    pub name: String,
    pub created_at: i64,
    /// The blob's key in the blob store.
    pub key: String,
    /// Images: pixel size (0 when not an image or unknown).
    pub width: u32,
    pub height: u32,
    /// The id of this file's thumbnail, once one exists.
    pub thumbnail: Option<String>,
    /// For a thumbnail: the file it belongs to (readable by whoever can
    /// read that one).
    pub thumbnail_of: Option<String>,
}

/// What [`FileStore::create_file`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub id: String,
    pub owner: UserId,
    pub sha256: Sha256,
    pub size: u64,
    pub mime: String,
    pub name: String,
    pub created_at: i64,
    pub width: u32,
    pub height: u32,
    pub thumbnail_of: Option<String>,
    /// The key the caller stored the bytes under, used when no blob has
    /// this content (a blob at refcount 0 not yet swept is claimed like a
    /// live one: its bytes are still there). `None`: create the file only
    /// from a live blob (instant upload), else answer
    /// [`CreateFile::NoBlob`].
    pub key: Option<String>,
    /// The owner's storage quota in bytes: the file is refused
    /// ([`CreateFile::OverQuota`]) if the sizes of the owner's files would
    /// exceed it. Thumbnails do not count. `u64::MAX`: no quota.
    pub quota: u64,
}

/// The outcome of [`FileStore::create_file`].
// One per upload, matched at once and never stored in bulk: boxing the
// file would cost an allocation and buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateFile {
    Created {
        file: FileObject,
        /// The caller's key when a live blob already had the content: the
        /// caller deletes those bytes (nothing points to them).
        redundant_key: Option<String>,
    },
    /// Nothing written: the owner already uses `used` bytes.
    OverQuota { used: u64 },
    /// Nothing written: `key` was `None` and no live blob has the content.
    NoBlob,
}

/// A resumable (tus) upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// 1-64 of `[A-Za-z0-9_-]`.
    pub id: String,
    pub owner: UserId,
    /// The announced total size.
    pub size: u64,
    /// Bytes received and made durable so far.
    pub offset: u64,
    pub name: String,
    /// The declared type ("" = none).
    pub mime: String,
    /// The announced digest, checked when the last byte arrives.
    pub sha256: Option<Sha256>,
    /// The raw `Upload-Metadata` header, answered back on HEAD.
    pub metadata: String,
    pub created_at: i64,
    /// After this the sweeper discards it.
    pub expires_at: i64,
    /// Set once the upload completed and its file object exists.
    pub file_id: Option<String>,
}

/// The outcome of [`FileStore::create_upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateUpload {
    Created,
    /// Nothing written: the owner has `active` unfinished, unexpired uploads
    /// already.
    TooMany {
        active: u32,
    },
}

/// Files, blobs, references and uploads.
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Creates a file object, claiming the blob with the same content
    /// (refcount + 1) or recording `new.key` as a new blob, in one
    /// transaction with the quota check. `Conflict` if the id exists (or,
    /// against the contract, a new blob's key is taken); `NotFound` if
    /// `thumbnail_of` names no file. Either refusal writes nothing.
    async fn create_file(&self, new: NewFile) -> Result<CreateFile>;
    /// The file with this id.
    async fn file(&self, id: &str) -> Result<Option<FileObject>>;
    /// The live blob (refcount > 0) with this content, if any: what an
    /// instant upload is checked against.
    async fn live_blob(&self, sha256: Sha256, size: u64) -> Result<Option<Blob>>;
    /// Records `thumbnail` (a file whose `thumbnail_of` is `id`) as the
    /// thumbnail of `id`. `NotFound` if `id` does not exist or `thumbnail`
    /// is not a thumbnail of it (deleting `id` deletes its thumbnail, so
    /// no other file may be linked).
    async fn set_thumbnail(&self, id: &str, thumbnail: &str) -> Result<()>;
    /// Deletes a file object and its thumbnails (every file whose
    /// `thumbnail_of` is `id`, linked or not) with their message
    /// references; their blobs lose a reference each. A thumbnail deleted
    /// on its own is unlinked from its file. Returns the deleted file as it
    /// was, `None` if there was none.
    async fn delete_file(&self, id: &str) -> Result<Option<FileObject>>;
    /// Bytes and number of files `owner` stores (thumbnails not counted).
    async fn storage_used(&self, owner: UserId) -> Result<(u64, u64)>;
    /// Whether `user` may read file `id`: the owner; every user while the
    /// file is an avatar — the `avatar` of its owner's profile
    /// ([`User::avatar`](crate::User::avatar); another user's profile
    /// naming it opens nothing) or of any group
    /// ([`Group::avatar`](crate::Group::avatar)), as it is at the time of
    /// the call (an avatar changed away leaves the file private again); a
    /// user who can see a message referencing it
    /// ([`NewMessage::files`](crate::NewMessage::files)) — either member of
    /// a direct conversation, or a current member of a group who joined
    /// before that message (any current member with `full_history`, when
    /// groups show new members their whole history); or, for a thumbnail,
    /// whoever may read the file it belongs to. Returns the file if so,
    /// `None` otherwise (also when it does not exist: an avatar naming a
    /// deleted file opens nothing). Whether a file may become an avatar is
    /// the caller's rule; the store takes avatars as they are written.
    async fn readable_file(&self, user: UserId, id: &str, full_history: bool) -> Result<Option<FileObject>>;
    /// Deletes up to `limit` blob rows with refcount 0 and returns them, so
    /// the caller deletes their bytes. A blob claimed again before the
    /// sweep is kept.
    async fn sweep_blobs(&self, limit: u32) -> Result<Vec<Blob>>;

    /// Starts an upload unless `owner` has `max_active` unfinished uploads
    /// unexpired at `upload.created_at`. `Conflict` if the id exists.
    async fn create_upload(&self, upload: Upload, max_active: u32) -> Result<CreateUpload>;
    /// The upload with this id (finished and expired ones too, until deleted).
    async fn upload(&self, id: &str) -> Result<Option<Upload>>;
    /// Records a new durable offset. `NotFound` if the upload is gone.
    async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<()>;
    /// Marks the upload finished with the file it produced. `NotFound` if
    /// the upload is gone.
    async fn finish_upload(&self, id: &str, file_id: &str) -> Result<()>;
    /// Deletes an upload record; returns whether it existed.
    async fn delete_upload(&self, id: &str) -> Result<bool>;
    /// Up to `limit` uploads with `expires_at <= now` (finished or not),
    /// earliest expiry first (the sweeper deletes their parts, then the
    /// records).
    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<Upload>>;

    /// The server's secret named `name`, created from `candidate` if it does
    /// not exist yet (every node of a cluster ends up with the same one).
    async fn server_secret(&self, name: &str, candidate: Vec<u8>) -> Result<Vec<u8>>;
}
