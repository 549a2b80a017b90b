//! The conformance suite every [`Store`] backend must pass.
//!
//! Each check is a public async function taking a fresh, empty store as an
//! `Arc<dyn Store>` (the way the server holds it) and panicking on failure,
//! one module per aggregate. A backend's test crate runs all of them with
//! [`store_conformance_tests!`](crate::store_conformance_tests)
//! (in the style of matrix-sdk's `statestore_integration_tests!`):
//!
//! ```no_run
//! use ferry_store::sqlite::{SqliteOptions, SqliteStore};
//!
//! async fn fresh_store() -> (SqliteStore, tempfile::TempDir) {
//!     let dir = tempfile::tempdir().expect("tempdir");
//!     let path = dir.path().join("ferry.db");
//!     // Search reads bodies the way the suite writes them.
//!     let search = Some(ferry_store::conformance::search_extractor());
//!     (SqliteStore::open(path, SqliteOptions { search, ..SqliteOptions::default() }).await.expect("open"), dir)
//! }
//!
//! ferry_store::store_conformance_tests!(fresh_store());
//! # fn main() {}
//! ```
//!
//! This module is test support: it panics freely and is not used at run
//! time, so it is compiled only with the `conformance` feature, which
//! ferry-store's own tests turn on through a dev-dependency on itself (a
//! backend in another crate does the same in its `[dev-dependencies]`).

pub mod contacts;
pub mod conversations;
pub mod events;
pub mod files;
pub mod groups;
pub mod messages;
pub mod search;
pub mod sessions;
pub mod users;

use std::sync::atomic::{AtomicU64, Ordering};

use ferry_core::{ConversationId, JoinPolicy, UserId};

use crate::{NewGroup, NewMessage, NewUser, Store, StoreError};

/// Expands to one `#[tokio::test]` per conformance check, each running
/// against a fresh store.
///
/// The argument is an expression evaluating to a future of `(store, guard)`:
/// `store` implements [`Store`](crate::Store) and `guard` is anything that
/// must outlive it (a `TempDir`, a throw-away database's drop guard, `()`).
/// The expression is evaluated once per test. The invoking crate needs
/// ferry-store with the `conformance` feature and `tokio` with the `macros`
/// and `rt-multi-thread` features.
#[macro_export]
macro_rules! store_conformance_tests {
    (@tests $make:expr; $($module:ident :: $check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (store, _guard) = $make.await;
                $crate::conformance::$module::$check(::std::sync::Arc::new(store)).await;
            }
        )*
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@tests $make;
            users::users_create_and_lookup,
            users::users_duplicate_username_conflicts,
            users::users_update_profile,
            sessions::sessions_create_and_lookup,
            sessions::sessions_duplicate_token_conflicts,
            sessions::sessions_concurrent_creates_fail_alone,
            sessions::sessions_paged_in_hash_order,
            sessions::sessions_delete,
            messages::append_empty_batch,
            messages::append_assigns_dense_seq_per_conversation,
            messages::append_dedups_across_batches,
            messages::append_dedups_within_batch,
            messages::append_same_client_id_from_two_senders,
            messages::append_failed_batch_writes_nothing,
            messages::append_large_batch_across_conversations,
            messages::message_by_client_id_finds_the_original,
            messages::messages_after_pages,
            messages::max_seq_tracks_appends,
            events::events_recall,
            events::events_edit,
            events::events_recall_clears_mentions,
            events::events_reactions,
            events::events_pins,
            events::events_within_one_batch,
            events::events_last_messages_skip_events,
            search::search_chinese_substring_and_english_prefix,
            search::search_filters_and_pages,
            search::search_skips_recalled_edited_and_hidden,
            search::search_group_history_visibility,
            search::search_many_conversations,
            conversations::conversations_of_counts_unread_and_orders,
            conversations::conversation_of_one,
            conversations::mark_read_is_monotonic_and_clamped,
            conversations::direct_peers_lists_partners,
            conversations::mentions_until_read,
            conversations::recalled_mention_keeps_older_unread_mentions,
            conversations::mention_all_marks_everyone_but_sender,
            conversations::mentions_in_direct_conversations,
            conversations::peer_read_positions,
            conversations::hidden_messages_per_user,
            conversations::conversation_settings_patch_and_changes,
            conversations::conversation_changed_at,
            contacts::friend_request_lifecycle,
            contacts::friend_request_accept_resolves_reverse,
            contacts::friends_delete_leaves_tombstones,
            contacts::friends_remark,
            contacts::blocks_lifecycle,
            contacts::contact_changes_after_since,
            groups::groups_create_with_members,
            groups::groups_update_patch,
            groups::groups_transfer_ownership,
            groups::groups_dismiss,
            groups::group_members_add_remove_readd,
            groups::group_member_settings,
            groups::group_members_pages_and_ids,
            groups::group_member_changes_with_tombstones,
            groups::group_join_requests,
            groups::group_messages_add_no_members,
            groups::group_of_ten_thousand,
            files::files_create_and_read,
            files::files_same_content_shares_one_blob,
            files::files_blob_claimed_again_before_sweep_survives,
            files::files_instant_upload,
            files::files_quota,
            files::files_create_conflicts_and_missing_parent,
            files::files_thumbnails,
            files::files_readable_in_direct_conversations,
            files::files_readable_in_groups,
            files::files_thumbnail_readable_through_its_file,
            files::files_readable_as_a_profile_avatar,
            files::files_readable_as_a_group_avatar,
            files::uploads_lifecycle,
            files::uploads_max_active,
            files::uploads_expired_in_order,
            files::server_secret_first_candidate_wins,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn append_concurrent_tasks_are_gap_free() {
            let (store, _guard) = $make.await;
            $crate::conformance::messages::append_concurrent_tasks_are_gap_free(::std::sync::Arc::new(store)).await;
        }
    };
}

/// Server message ids unique within the test process.
static NEXT_SERVER_MSG_ID: AtomicU64 = AtomicU64::new(1 << 40);

/// A message from `sender` to `conversation` sent at `time`, with a fresh
/// server id and a body naming the client id.
pub fn new_message(conversation: ConversationId, sender: UserId, client_msg_id: &str, time: i64) -> NewMessage {
    NewMessage {
        conversation,
        sender,
        client_msg_id: client_msg_id.to_owned(),
        server_msg_id: NEXT_SERVER_MSG_ID.fetch_add(1, Ordering::Relaxed),
        server_time: time,
        body: format!("body of {client_msg_id}").into_bytes(),
        mentions: Vec::new(),
        mention_all: false,
        effect: None,
        files: Vec::new(),
    }
}

/// How the suite's bodies are searched (a backend under test opens with
/// it): a UTF-8 body is its text, of kind `text` unless it starts with a
/// kind and `\u{1}` (see `search::doc`).
pub fn search_extractor() -> crate::SearchExtractor {
    std::sync::Arc::new(|body: &[u8]| {
        let body = std::str::from_utf8(body).ok()?;
        let (kind, text) = body.split_once('\u{1}').unwrap_or(("text", body));
        Some(crate::SearchDoc { kind: kind.to_owned(), text: text.to_owned() })
    })
}

/// Registers `name` and returns its id.
async fn user(store: &dyn Store, name: &str) -> UserId {
    let user = NewUser {
        username: name.to_owned(),
        display_name: name.to_uppercase(),
        password_hash: format!("$argon2id$fake${name}"),
        created_at: 1_700_000_000_000,
    };
    store.create_user(user).await.expect("create_user").id
}

/// Registers `n` users named `{prefix}{i}` and returns their ids.
async fn users(store: &dyn Store, prefix: &str, n: usize) -> Vec<UserId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(user(store, &format!("{prefix}{i}")).await);
    }
    ids
}

/// Appends and returns the assigned entries, panicking on error.
async fn append(store: &dyn Store, batch: Vec<NewMessage>) -> Vec<crate::Appended> {
    let n = batch.len();
    let appended = store.append_messages(batch).await.expect("append_messages");
    assert_eq!(appended.len(), n, "one entry per input");
    appended
}

/// Sends `n` messages from `sender` to `conversation`, one per batch.
async fn send_n(store: &dyn Store, conversation: ConversationId, sender: UserId, n: usize, time: i64) {
    for i in 0..n {
        let id = format!("{conversation}-{sender}-{time}-{i}");
        append(store, vec![new_message(conversation, sender, &id, time)]).await;
    }
}

/// Panics unless `result` is `Err(StoreError::NotFound(_))`.
fn assert_not_found<T: std::fmt::Debug>(result: crate::Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// A group owned by `owner` with `members`, created at time 1000.
fn new_group(name: &str, owner: UserId, members: Vec<UserId>) -> NewGroup {
    NewGroup {
        name: name.to_owned(),
        avatar: format!("https://example.test/{name}.png"),
        notice: String::new(),
        intro: format!("about {name}"),
        owner,
        members,
        join_policy: JoinPolicy::Approval,
        invite_needs_approval: false,
        now: 1000,
    }
}

/// Creates a group and returns its id.
async fn group(store: &dyn Store, owner: UserId, members: Vec<UserId>) -> i64 {
    store.create_group(new_group("g", owner, members)).await.expect("create_group").0.id
}

/// A message that mentions `mentions` (and everyone, with `all`).
fn mentioning(
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: &str,
    mentions: Vec<UserId>,
    all: bool,
) -> NewMessage {
    NewMessage { mentions, mention_all: all, ..new_message(conversation, sender, client_msg_id, 500) }
}
