//! Files, blobs, references, uploads and server secrets:
//! [`FileStore`](crate::FileStore).

use std::sync::Arc;

use ferry_core::{ConversationId, UserId};

use super::{append, assert_not_found, group, new_group, new_message, send_n, user};
use crate::{
    Blob, CreateFile, CreateUpload, Effect, FileObject, GroupPatch, NewFile, NewMessage, ProfilePatch, Sha256, Store,
    StoreError, Upload,
};

/// A digest standing for content number `n`.
fn sha(n: u8) -> Sha256 {
    [n; 32]
}

/// A file of `owner` with content `n` of `size` bytes stored under `key`,
/// without a quota.
fn new_file(id: &str, owner: UserId, n: u8, size: u64, key: Option<&str>) -> NewFile {
    NewFile {
        id: id.to_owned(),
        owner,
        sha256: sha(n),
        size,
        mime: "image/png".to_owned(),
        name: format!("{id}.png"),
        created_at: 1000,
        width: 640,
        height: 480,
        thumbnail_of: None,
        key: key.map(str::to_owned),
        quota: u64::MAX,
    }
}

/// A thumbnail of `parent` with content `n`.
fn new_thumbnail(id: &str, owner: UserId, parent: &str, n: u8, key: &str) -> NewFile {
    NewFile { thumbnail_of: Some(parent.to_owned()), width: 64, height: 48, ..new_file(id, owner, n, 10, Some(key)) }
}

/// Creates `new`, panicking unless it is created; returns the file and the
/// redundant key.
async fn create(store: &dyn Store, new: NewFile) -> (FileObject, Option<String>) {
    let id = new.id.clone();
    match store.create_file(new).await.expect("create_file") {
        CreateFile::Created { file, redundant_key } => (file, redundant_key),
        other => panic!("creating {id}: expected Created, got {other:?}"),
    }
}

/// The live blob with content `n` of `size` bytes.
async fn live(store: &dyn Store, n: u8, size: u64) -> Option<Blob> {
    store.live_blob(sha(n), size).await.expect("live_blob")
}

/// Whether `user` may read file `id`.
async fn readable(store: &dyn Store, user: UserId, id: &str) -> bool {
    let found = store.readable_file(user, id, false).await.expect("readable_file");
    if let Some(file) = &found {
        assert_eq!(file.id, id, "readable_file answers the file asked for");
    }
    found.is_some()
}

/// A message from `sender` referencing `files`.
fn with_files(conversation: ConversationId, sender: UserId, client_msg_id: &str, files: &[&str]) -> NewMessage {
    NewMessage {
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        ..new_message(conversation, sender, client_msg_id, 500)
    }
}

/// Appends one message and returns its seq.
async fn send(store: &dyn Store, message: NewMessage) -> u64 {
    append(store, vec![message]).await.remove(0).message.seq
}

/// Recalls message `target` of `conversation`.
async fn recall(store: &dyn Store, conversation: ConversationId, sender: UserId, target: u64) {
    let event = NewMessage {
        effect: Some(Effect::Revoke { target, body: b"recalled".to_vec() }),
        ..new_message(conversation, sender, &format!("recall-{target}"), 900)
    };
    append(store, vec![event]).await;
}

/// An upload of `owner`, created at `created_at`, expiring at `expires_at`.
fn new_upload(id: &str, owner: UserId, created_at: i64, expires_at: i64) -> Upload {
    Upload {
        id: id.to_owned(),
        owner,
        size: 1000,
        offset: 0,
        name: format!("{id}.bin"),
        mime: String::new(),
        sha256: None,
        metadata: format!("filename {id}"),
        created_at,
        expires_at,
        file_id: None,
    }
}

/// A file reads back as created; its blob has one reference and counts
/// towards its owner's storage.
pub async fn files_create_and_read(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let (file, redundant) = create(&*store, new_file("f1", alice, 1, 100, Some("k1"))).await;
    assert_eq!(redundant, None, "a new blob: the key is used");
    let expected = FileObject {
        id: "f1".into(),
        owner: alice,
        sha256: sha(1),
        size: 100,
        mime: "image/png".into(),
        name: "f1.png".into(),
        created_at: 1000,
        key: "k1".into(),
        width: 640,
        height: 480,
        thumbnail: None,
        thumbnail_of: None,
    };
    assert_eq!(file, expected);
    assert_eq!(store.file("f1").await.expect("file"), Some(expected));
    assert_eq!(store.file("f2").await.expect("unknown"), None);
    let blob = live(&*store, 1, 100).await.expect("live blob");
    assert_eq!(
        (blob.sha256, blob.size, blob.key.as_str(), blob.refcount, blob.created_at),
        (sha(1), 100, "k1", 1, 1000)
    );
    assert_eq!(live(&*store, 1, 101).await, None, "a blob is its digest and its size");
    assert_eq!(store.storage_used(alice).await.expect("used"), (100, 1));
    assert_eq!(store.storage_used(alice + 1).await.expect("used"), (0, 0));
}

/// The same content uploaded twice is stored once: the second upload's key
/// is redundant, the blob counts both files, and it is swept (once, with
/// its key) only after both are deleted.
pub async fn files_same_content_shares_one_blob(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    create(&*store, new_file("a", alice, 1, 100, Some("k1"))).await;
    let (b, redundant) = create(&*store, new_file("b", bob, 1, 100, Some("k2"))).await;
    assert_eq!(redundant.as_deref(), Some("k2"), "the caller deletes the second copy");
    assert_eq!(b.key, "k1", "the file points to the stored blob");
    assert_eq!(live(&*store, 1, 100).await.expect("blob").refcount, 2);
    assert_eq!(store.storage_used(bob).await.expect("used"), (100, 1), "each owner is charged");

    let deleted = store.delete_file("a").await.expect("delete a").expect("a existed");
    assert_eq!(deleted.id, "a");
    assert_eq!(store.delete_file("a").await.expect("delete a again"), None);
    assert_eq!(store.file("a").await.expect("file"), None);
    assert!(readable(&*store, bob, "b").await, "the other file is still there");
    assert_eq!(store.file("b").await.expect("file").expect("b").key, "k1");
    assert_eq!(live(&*store, 1, 100).await.expect("blob").refcount, 1);
    assert!(store.sweep_blobs(10).await.expect("sweep").is_empty(), "a referenced blob is not swept");

    store.delete_file("b").await.expect("delete b").expect("b existed");
    assert_eq!(live(&*store, 1, 100).await, None, "no longer live");
    assert_eq!(store.storage_used(bob).await.expect("used"), (0, 0));
    let swept = store.sweep_blobs(10).await.expect("sweep");
    assert_eq!(swept.len(), 1, "{swept:?}");
    assert_eq!((swept[0].sha256, swept[0].size, swept[0].key.as_str(), swept[0].refcount), (sha(1), 100, "k1", 0));
    assert!(store.sweep_blobs(10).await.expect("sweep again").is_empty());
}

/// A blob at refcount 0 that an upload claims again before the sweep keeps
/// its bytes (and key) and survives the sweep; the sweep takes at most
/// `limit` blobs.
pub async fn files_blob_claimed_again_before_sweep_survives(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    for (n, id) in [(1, "a"), (2, "b"), (3, "c")] {
        create(&*store, new_file(id, alice, n, 100, Some(&format!("k{n}")))).await;
        store.delete_file(id).await.expect("delete").expect("existed");
    }
    let (again, redundant) = create(&*store, new_file("a2", alice, 1, 100, Some("k1-new"))).await;
    assert_eq!((again.key.as_str(), redundant.as_deref()), ("k1", Some("k1-new")));
    assert_eq!(live(&*store, 1, 100).await.expect("live again").refcount, 1);

    let first = store.sweep_blobs(1).await.expect("sweep one");
    assert_eq!(first.len(), 1, "the limit bounds a sweep");
    let second = store.sweep_blobs(10).await.expect("sweep the rest");
    let mut keys: Vec<String> = first.into_iter().chain(second).map(|b| b.key).collect();
    keys.sort();
    assert_eq!(keys, ["k2", "k3"], "the claimed blob is kept");
    assert!(store.sweep_blobs(10).await.expect("sweep").is_empty());
    assert_eq!(store.file("a2").await.expect("file").expect("a2").key, "k1");
    assert_eq!(store.sweep_blobs(0).await.expect("sweep none"), Vec::new());
}

/// An instant upload (no key) is created only from a live blob; without
/// one it writes nothing.
pub async fn files_instant_upload(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let outcome = store.create_file(new_file("i1", bob, 1, 100, None)).await.expect("create_file");
    assert_eq!(outcome, CreateFile::NoBlob);
    assert_eq!(store.file("i1").await.expect("file"), None);
    assert_eq!(store.storage_used(bob).await.expect("used"), (0, 0));

    create(&*store, new_file("a", alice, 1, 100, Some("k1"))).await;
    let (instant, redundant) = create(&*store, new_file("i1", bob, 1, 100, None)).await;
    assert_eq!((instant.key.as_str(), redundant), ("k1", None));
    assert_eq!(live(&*store, 1, 100).await.expect("blob").refcount, 2);
    assert_eq!(store.storage_used(bob).await.expect("used"), (100, 1));

    // Content nobody holds any more is not live, even before the sweep.
    store.delete_file("a").await.expect("delete").expect("a");
    store.delete_file("i1").await.expect("delete").expect("i1");
    let outcome = store.create_file(new_file("i2", bob, 1, 100, None)).await.expect("create_file");
    assert_eq!(outcome, CreateFile::NoBlob);
    assert_eq!(store.file("i2").await.expect("file"), None);
    assert_eq!(store.sweep_blobs(10).await.expect("sweep").len(), 1, "the blob was not claimed");
}

/// The quota admits a file that fills it exactly and refuses one byte
/// more, writing nothing; thumbnails do not count.
pub async fn files_quota(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let quota = |new: NewFile| NewFile { quota: 100, ..new };
    create(&*store, quota(new_file("a", alice, 1, 60, Some("k1")))).await;
    create(&*store, quota(new_file("b", alice, 2, 40, Some("k2")))).await;
    assert_eq!(store.storage_used(alice).await.expect("used"), (100, 2), "used + size == quota is allowed");

    let outcome = store.create_file(quota(new_file("c", alice, 3, 1, Some("k3")))).await.expect("create_file");
    assert_eq!(outcome, CreateFile::OverQuota { used: 100 });
    assert_eq!(store.file("c").await.expect("file"), None);
    assert_eq!(live(&*store, 3, 1).await, None, "no blob recorded");
    assert!(store.sweep_blobs(10).await.expect("sweep").is_empty(), "nor one at refcount 0");
    // Content already stored is charged all the same.
    let outcome = store.create_file(quota(new_file("c", alice, 1, 60, Some("k4")))).await.expect("create_file");
    assert_eq!(outcome, CreateFile::OverQuota { used: 100 });
    assert_eq!(live(&*store, 1, 60).await.expect("blob").refcount, 1, "no reference taken");

    let thumb = NewFile { quota: 100, ..new_thumbnail("a-thumb", alice, "a", 9, "kt") };
    create(&*store, thumb).await;
    assert_eq!(store.storage_used(alice).await.expect("used"), (100, 2), "thumbnails are not counted");
    create(&*store, quota(new_file("b1", bob, 4, 100, Some("k5")))).await;
    assert_eq!(store.storage_used(bob).await.expect("used"), (100, 1), "quotas are per owner");

    // Deleting frees the space; `u64::MAX` is no quota at all.
    store.delete_file("b").await.expect("delete").expect("b");
    create(&*store, quota(new_file("c", alice, 5, 40, Some("k6")))).await;
    create(&*store, new_file("big", alice, 6, 1_000_000, Some("k7"))).await;
    assert_eq!(store.storage_used(alice).await.expect("used"), (1_000_100, 3));
}

/// A taken id is a conflict and a thumbnail of no file is not found; both
/// write nothing.
pub async fn files_create_conflicts_and_missing_parent(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let (original, _) = create(&*store, new_file("a", alice, 1, 100, Some("k1"))).await;
    match store.create_file(new_file("a", bob, 2, 50, Some("k2"))).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken id: expected Conflict, got {other:?}"),
    }
    match store.create_file(new_file("a", bob, 1, 100, Some("k3"))).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken id, same content: expected Conflict, got {other:?}"),
    }
    assert_eq!(store.file("a").await.expect("file"), Some(original));
    assert_eq!(live(&*store, 2, 50).await, None);
    assert_eq!(live(&*store, 1, 100).await.expect("blob").refcount, 1);
    assert_eq!(store.storage_used(bob).await.expect("used"), (0, 0));

    assert_not_found(store.create_file(new_thumbnail("t", alice, "nope", 3, "k4")).await, "thumbnail of no file");
    assert_eq!(store.file("t").await.expect("file"), None);
    assert_eq!(live(&*store, 3, 10).await, None);
    assert!(store.sweep_blobs(10).await.expect("sweep").is_empty());
}

/// A thumbnail is linked to its file, deleted with it, and unlinked when
/// deleted on its own.
pub async fn files_thumbnails(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    create(&*store, new_file("p", alice, 1, 100, Some("k1"))).await;
    create(&*store, new_file("other", alice, 2, 100, Some("k2"))).await;
    let (thumb, _) = create(&*store, new_thumbnail("t", alice, "p", 3, "k3")).await;
    assert_eq!((thumb.thumbnail_of.as_deref(), thumb.thumbnail), (Some("p"), None));

    store.set_thumbnail("p", "t").await.expect("set_thumbnail");
    assert_eq!(store.file("p").await.expect("file").expect("p").thumbnail.as_deref(), Some("t"));
    assert_not_found(store.set_thumbnail("nope", "t").await, "thumbnail of no file");
    assert_not_found(store.set_thumbnail("other", "t").await, "a thumbnail of another file");
    assert_not_found(store.set_thumbnail("p", "other").await, "a file that is no thumbnail");
    assert_not_found(store.set_thumbnail("p", "nope").await, "no such thumbnail");
    assert_eq!(store.file("p").await.expect("file").expect("p").thumbnail.as_deref(), Some("t"), "unchanged");

    // A thumbnail deleted on its own leaves its file without one.
    store.delete_file("t").await.expect("delete").expect("t");
    assert_eq!(store.file("p").await.expect("file").expect("p").thumbnail, None);
    assert_eq!(live(&*store, 3, 10).await, None);

    // Deleting a file deletes its thumbnails: the linked one and one that
    // was never linked.
    create(&*store, new_thumbnail("t2", alice, "p", 4, "k4")).await;
    create(&*store, new_thumbnail("t3", alice, "p", 5, "k5")).await;
    store.set_thumbnail("p", "t2").await.expect("set_thumbnail");
    let deleted = store.delete_file("p").await.expect("delete").expect("p");
    assert_eq!(deleted.thumbnail.as_deref(), Some("t2"), "the file as it was");
    for id in ["p", "t2", "t3"] {
        assert_eq!(store.file(id).await.expect("file"), None, "{id} is gone");
    }
    for n in [1, 4, 5] {
        assert_eq!(live(&*store, n, if n == 1 { 100 } else { 10 }).await, None, "blob {n} released");
    }
    let mut swept: Vec<String> = store.sweep_blobs(10).await.expect("sweep").into_iter().map(|b| b.key).collect();
    swept.sort();
    assert_eq!(swept, ["k1", "k3", "k4", "k5"]);
    assert!(store.file("other").await.expect("file").is_some(), "other files are untouched");
}

/// The owner reads a file; the peer of a direct conversation once a
/// message references it, until that message is recalled; a stranger
/// never. Unknown ids in a message are ignored, also once a file with
/// that id exists.
pub async fn files_readable_in_direct_conversations(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let dm = ConversationId::direct(alice, bob);
    create(&*store, new_file("f", alice, 1, 100, Some("k1"))).await;
    assert!(readable(&*store, alice, "f").await, "the owner");
    assert!(!readable(&*store, bob, "f").await, "not yet shared");
    assert!(!readable(&*store, alice, "nope").await, "no such file");

    let seq = send(&*store, with_files(dm, alice, "m1", &["f", "nope", "f"])).await;
    assert_eq!(store.messages_at(dm, &[seq]).await.expect("stored").len(), 1, "unknown ids are no error");
    assert!(readable(&*store, bob, "f").await, "the peer, through the message");
    assert!(!readable(&*store, carol, "f").await, "a stranger");
    create(&*store, new_file("nope", alice, 2, 100, Some("k2"))).await;
    assert!(!readable(&*store, bob, "nope").await, "an id unknown at the append gained no reference");

    // A second message referencing it keeps it readable after the first
    // is recalled; recalling both ends the peer's access.
    let second = send(&*store, with_files(dm, bob, "m2", &["f"])).await;
    recall(&*store, dm, alice, seq).await;
    assert!(readable(&*store, bob, "f").await, "still referenced by the second message");
    recall(&*store, dm, bob, second).await;
    assert!(!readable(&*store, bob, "f").await, "recalled everywhere");
    assert!(readable(&*store, alice, "f").await, "the owner still");

    // A deleted file's references go with it: a new file under the same
    // id is not shared.
    create(&*store, new_file("x", alice, 4, 100, Some("k4"))).await;
    send(&*store, with_files(dm, alice, "m3", &["x"])).await;
    assert!(readable(&*store, bob, "x").await);
    store.delete_file("x").await.expect("delete").expect("x");
    create(&*store, new_file("x", alice, 5, 100, Some("k5"))).await;
    assert!(!readable(&*store, bob, "x").await, "the new x was never sent");

    // A note to self shares with nobody.
    let me = ConversationId::direct(carol, carol);
    create(&*store, new_file("c", carol, 3, 100, Some("k3"))).await;
    send(&*store, with_files(me, carol, "n1", &["c"])).await;
    assert!(readable(&*store, carol, "c").await);
    assert!(!readable(&*store, alice, "c").await);
}

/// In a group, a file referenced by a message is readable by the current
/// members who joined before that message, not by later ones nor by those
/// who left; a recall ends it.
pub async fn files_readable_in_groups(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let early = user(&*store, "early").await;
    let mid = user(&*store, "mid").await;
    let late = user(&*store, "late").await;
    let leaver = user(&*store, "leaver").await;
    let stranger = user(&*store, "stranger").await;
    let id = group(&*store, owner, vec![early, leaver]).await;
    let conv = ConversationId::Group(id);
    send_n(&*store, conv, owner, 2, 100).await;
    let before = store.max_seq(conv).await.expect("max_seq");
    store.add_members(id, &[mid], before, 200).await.expect("add mid");

    create(&*store, new_file("f", owner, 1, 100, Some("k1"))).await;
    let seq = send(&*store, with_files(conv, owner, "with-file", &["f"])).await;
    assert_eq!(seq, before + 1);
    store.add_members(id, &[late], seq, 300).await.expect("add late");
    assert!(store.remove_member(id, leaver).await.expect("remove"));

    for (who, name, expected) in [
        (owner, "the owner", true),
        (early, "a member since creation", true),
        (mid, "a member who joined just before the message", true),
        (late, "a member who joined after the message", false),
        (leaver, "a former member", false),
        (stranger, "a stranger", false),
    ] {
        assert_eq!(readable(&*store, who, "f").await, expected, "{name}");
    }
    // Where groups show new members their whole history, every current
    // member reads it; a former member still does not.
    let full = |who| {
        let store = Arc::clone(&store);
        async move { store.readable_file(who, "f", true).await.expect("readable_file").is_some() }
    };
    assert!(full(late).await, "full history: a member who joined after the message");
    assert!(!full(leaver).await && !full(stranger).await, "full history: not a former member nor a stranger");
    // Back in the group, but after the message: still not.
    store.add_members(id, &[leaver], seq + 5, 400).await.expect("re-add");
    assert!(!readable(&*store, leaver, "f").await, "rejoined after the message");

    recall(&*store, conv, owner, seq).await;
    assert!(!readable(&*store, early, "f").await, "the recall ends a member's access");
    assert!(readable(&*store, owner, "f").await);
}

/// A thumbnail is readable by whoever may read its file, through the file's
/// references as well as its own.
pub async fn files_thumbnail_readable_through_its_file(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    create(&*store, new_file("f", alice, 1, 100, Some("k1"))).await;
    create(&*store, new_thumbnail("t", alice, "f", 2, "k2")).await;
    store.set_thumbnail("f", "t").await.expect("set_thumbnail");
    assert!(readable(&*store, alice, "t").await);
    assert!(!readable(&*store, bob, "t").await);

    send(&*store, with_files(ConversationId::direct(alice, bob), alice, "m1", &["f"])).await;
    assert!(readable(&*store, bob, "t").await, "through the file's reference");
    assert!(!readable(&*store, carol, "t").await);

    // A thumbnail referenced on its own (a cover) is readable through that.
    create(&*store, new_file("g", alice, 3, 100, Some("k3"))).await;
    create(&*store, new_thumbnail("gt", alice, "g", 4, "k4")).await;
    send(&*store, with_files(ConversationId::direct(alice, carol), alice, "m2", &["gt"])).await;
    assert!(readable(&*store, carol, "gt").await, "through its own reference");
    assert!(!readable(&*store, carol, "g").await, "which does not open the file itself");
}

/// Sets `user`'s profile avatar.
async fn set_profile_avatar(store: &dyn Store, user: UserId, avatar: &str) {
    let patch = ProfilePatch { avatar: Some(avatar.to_owned()), ..ProfilePatch::default() };
    store.update_profile(user, patch).await.expect("update_profile");
}

/// Sets group `id`'s avatar.
async fn set_group_avatar(store: &dyn Store, id: i64, avatar: &str) {
    let patch = GroupPatch { avatar: Some(avatar.to_owned()), ..GroupPatch::default() };
    store.update_group(id, patch).await.expect("update_group");
}

/// A file that is its owner's profile avatar is readable by every user,
/// its thumbnail too, for as long as it is the avatar; another user's
/// profile naming it opens nothing; the owner's other files stay private;
/// a deleted avatar file is gone for everyone.
pub async fn files_readable_as_a_profile_avatar(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    create(&*store, new_file("face", alice, 1, 100, Some("k1"))).await;
    create(&*store, new_thumbnail("face-t", alice, "face", 2, "k2")).await;
    store.set_thumbnail("face", "face-t").await.expect("set_thumbnail");
    create(&*store, new_file("other", alice, 3, 100, Some("k3"))).await;
    assert!(!readable(&*store, bob, "face").await, "private before it is an avatar");

    set_profile_avatar(&*store, alice, "face").await;
    for (who, name) in [(alice, "the owner"), (bob, "a stranger"), (carol, "another stranger")] {
        assert!(readable(&*store, who, "face").await, "{name} reads the avatar");
        assert!(readable(&*store, who, "face-t").await, "{name} reads its thumbnail");
    }
    assert!(!readable(&*store, bob, "other").await, "a file that is no avatar stays private");
    let full = store.readable_file(bob, "face", true).await.expect("readable_file");
    assert_eq!(full.map(|f| f.id).as_deref(), Some("face"), "with full_history as well");

    // Changed away (to a URL, or to nothing): private again.
    set_profile_avatar(&*store, alice, "https://example.test/alice.png").await;
    assert!(!readable(&*store, bob, "face").await, "no longer the avatar");
    assert!(!readable(&*store, bob, "face-t").await, "nor its thumbnail");
    assert!(readable(&*store, alice, "face").await, "still the owner's");
    set_profile_avatar(&*store, alice, "face").await;
    assert!(readable(&*store, bob, "face").await, "the avatar again");
    set_profile_avatar(&*store, alice, "").await;
    assert!(!readable(&*store, bob, "face").await, "no avatar at all");

    // Someone else's profile naming the file does not publish it.
    set_profile_avatar(&*store, carol, "other").await;
    assert!(!readable(&*store, bob, "other").await, "only the owner's profile counts");
    assert!(!readable(&*store, carol, "other").await, "not even for the profile naming it");

    // A deleted avatar file dangles: nobody reads it, and a new file
    // under the same id is not an avatar of its owner's profile by that.
    set_profile_avatar(&*store, alice, "face").await;
    store.delete_file("face").await.expect("delete").expect("face");
    assert!(!readable(&*store, bob, "face").await && !readable(&*store, alice, "face").await, "deleted");
    assert!(!readable(&*store, bob, "face-t").await, "its thumbnail went with it");
    create(&*store, new_file("face", bob, 4, 100, Some("k4"))).await;
    assert!(!readable(&*store, carol, "face").await, "bob's file, named by alice's profile only");
}

/// A file that is a group's avatar is readable by every user, members or
/// not (its thumbnail too), until the group's avatar changes; a dismissed
/// group's avatar still counts.
pub async fn files_readable_as_a_group_avatar(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let member = user(&*store, "member").await;
    let outsider = user(&*store, "outsider").await;
    create(&*store, new_file("logo", owner, 1, 100, Some("k1"))).await;
    create(&*store, new_thumbnail("logo-t", owner, "logo", 2, "k2")).await;
    store.set_thumbnail("logo", "logo-t").await.expect("set_thumbnail");
    create(&*store, new_file("plain", owner, 3, 100, Some("k3"))).await;

    // Created with it.
    let spec = crate::NewGroup { avatar: "logo".into(), ..new_group("crew", owner, vec![member]) };
    let (created, _) = store.create_group(spec).await.expect("create_group");
    for (who, name) in [(member, "a member"), (outsider, "a non-member")] {
        assert!(readable(&*store, who, "logo").await, "{name} reads the group's avatar");
        assert!(readable(&*store, who, "logo-t").await, "{name} reads its thumbnail");
    }
    assert!(!readable(&*store, outsider, "plain").await, "a file that is no avatar stays private");

    // Set later on another group; changed away on the first.
    let other = group(&*store, owner, vec![]).await;
    set_group_avatar(&*store, other, "plain").await;
    assert!(readable(&*store, outsider, "plain").await, "the other group's avatar");
    set_group_avatar(&*store, created.id, "https://example.test/crew.png").await;
    assert!(!readable(&*store, outsider, "logo").await, "no longer an avatar");
    assert!(!readable(&*store, member, "logo-t").await, "nor its thumbnail, even for a member");
    assert!(readable(&*store, owner, "logo").await, "still the owner's");

    // A dismissed group keeps its avatar, and it stays readable.
    store.dismiss_group(other).await.expect("dismiss");
    assert!(readable(&*store, outsider, "plain").await, "a dismissed group's avatar");
    set_group_avatar(&*store, other, "").await;
    assert!(!readable(&*store, outsider, "plain").await, "cleared");
}

/// An upload reads back as created and records its offset and the file it
/// produced until it is deleted; a taken id is a conflict.
pub async fn uploads_lifecycle(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let upload = Upload { sha256: Some(sha(7)), mime: "video/mp4".into(), ..new_upload("u1", alice, 1000, 5000) };
    assert_eq!(store.create_upload(upload.clone(), 10).await.expect("create_upload"), CreateUpload::Created);
    assert_eq!(store.upload("u1").await.expect("upload"), Some(upload.clone()));
    assert_eq!(store.upload("u2").await.expect("unknown"), None);
    match store.create_upload(new_upload("u1", alice, 1001, 5001), 10).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken upload id: expected Conflict, got {other:?}"),
    }

    store.set_upload_offset("u1", 400).await.expect("offset");
    store.set_upload_offset("u1", 1000).await.expect("offset");
    assert_eq!(store.upload("u1").await.expect("upload").expect("u1").offset, 1000);
    assert_not_found(store.set_upload_offset("u2", 1).await, "offset of no upload");
    store.finish_upload("u1", "f1").await.expect("finish");
    let finished = store.upload("u1").await.expect("upload").expect("u1");
    assert_eq!(finished, Upload { offset: 1000, file_id: Some("f1".into()), ..upload });
    assert_not_found(store.finish_upload("u2", "f2").await, "finishing no upload");

    assert!(store.delete_upload("u1").await.expect("delete"));
    assert!(!store.delete_upload("u1").await.expect("delete again"));
    assert_eq!(store.upload("u1").await.expect("upload"), None);
    assert_not_found(store.set_upload_offset("u1", 1).await, "offset of a deleted upload");
}

/// At most `max_active` unfinished, unexpired uploads per owner.
pub async fn uploads_max_active(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    for id in ["a", "b"] {
        assert_eq!(
            store.create_upload(new_upload(id, alice, 1000, 2000), 2).await.expect("create"),
            CreateUpload::Created
        );
    }
    let refused = store.create_upload(new_upload("c", alice, 1000, 2000), 2).await.expect("create");
    assert_eq!(refused, CreateUpload::TooMany { active: 2 });
    assert_eq!(store.upload("c").await.expect("upload"), None, "nothing written");
    assert_eq!(store.create_upload(new_upload("x", bob, 1000, 2000), 2).await.expect("bob"), CreateUpload::Created);

    store.finish_upload("a", "fa").await.expect("finish");
    assert_eq!(
        store.create_upload(new_upload("c", alice, 1000, 2000), 2).await.expect("create"),
        CreateUpload::Created
    );
    let refused = store.create_upload(new_upload("d", alice, 1500, 2000), 2).await.expect("create");
    assert_eq!(refused, CreateUpload::TooMany { active: 2 }, "finished ones do not count");
    // At 2000, b and c have expired: they no longer count.
    assert_eq!(
        store.create_upload(new_upload("d", alice, 2000, 3000), 2).await.expect("create"),
        CreateUpload::Created
    );
    assert_eq!(
        store.create_upload(new_upload("e", alice, 2000, 3000), 0).await.expect("max 0"),
        CreateUpload::TooMany { active: 1 }
    );
}

/// Expired uploads, finished or not, earliest expiry first, up to `limit`.
pub async fn uploads_expired_in_order(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice").await;
    let bob = user(&*store, "bob").await;
    for (id, owner, expires_at) in [("u300", alice, 300), ("u100", bob, 100), ("u200", alice, 200), ("u500", bob, 500)]
    {
        store.create_upload(new_upload(id, owner, 50, expires_at), 10).await.expect("create");
    }
    store.finish_upload("u100", "f").await.expect("finish");
    let ids = |uploads: Vec<Upload>| uploads.into_iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(ids(store.expired_uploads(250, 10).await.expect("expired")), ["u100", "u200"]);
    assert_eq!(ids(store.expired_uploads(300, 10).await.expect("expired")), ["u100", "u200", "u300"], "inclusive");
    assert_eq!(ids(store.expired_uploads(1000, 2).await.expect("expired")), ["u100", "u200"], "the limit");
    assert!(store.expired_uploads(99, 10).await.expect("expired").is_empty());
    store.delete_upload("u100").await.expect("delete");
    assert_eq!(ids(store.expired_uploads(250, 10).await.expect("expired")), ["u200"]);
}

/// The first candidate for a secret is the secret, for good.
pub async fn server_secret_first_candidate_wins(store: Arc<dyn Store>) {
    assert_eq!(store.server_secret("signing", vec![1, 2, 3]).await.expect("secret"), [1, 2, 3]);
    assert_eq!(store.server_secret("signing", vec![9, 9]).await.expect("secret"), [1, 2, 3]);
    assert_eq!(store.server_secret("other", vec![4]).await.expect("secret"), [4]);
    let (a, b) = tokio::join!(store.server_secret("raced", vec![5]), store.server_secret("raced", vec![6]));
    assert_eq!(a.expect("first"), b.expect("second"), "concurrent callers agree");
}
