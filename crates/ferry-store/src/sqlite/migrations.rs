//! Schema migrations for the SQLite backend.
//!
//! The schema version lives in SQLite's `user_version` header field. Each
//! entry of [`MIGRATIONS`] moves the schema one version up; [`migrate`]
//! applies the missing ones at open, all in one transaction, so a crash
//! mid-migration leaves the previous version intact. Steps are append-only:
//! never edit a released step, add a new one.
//!
//! The SQL sticks to what PostgreSQL also understands where it costs nothing
//! (`ON CONFLICT`, `RETURNING`, plain types); `WITHOUT ROWID` and
//! `AUTOINCREMENT` are the SQLite-only parts.

use rusqlite::{Connection, TransactionBehavior};

use super::backend_err;
use crate::{Result, StoreError};

/// Migration steps; step `i` brings the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: users, sessions, conversations, members, messages.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        username      TEXT    NOT NULL UNIQUE,
        display_name  TEXT    NOT NULL,
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE sessions (
        token_hash BLOB    NOT NULL PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users (id),
        device_id  TEXT    NOT NULL,
        platform   TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);

    -- One row per conversation that has messages; `max_seq` is the seq
    -- counter, bumped in the same transaction as the message insert.
    CREATE TABLE conversations (
        id        TEXT    NOT NULL PRIMARY KEY,
        kind      TEXT    NOT NULL,
        max_seq   INTEGER NOT NULL,
        last_time INTEGER NOT NULL
    );

    -- No foreign key to users: membership of a direct conversation is
    -- implied by its id and written by the append path.
    CREATE TABLE conversation_members (
        user_id         INTEGER NOT NULL,
        conversation_id TEXT    NOT NULL REFERENCES conversations (id),
        read_seq        INTEGER NOT NULL DEFAULT 0,
        joined_at       INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
    ) WITHOUT ROWID;

    -- Clustered on (conversation, seq): sync reads are one range scan.
    CREATE TABLE messages (
        conversation_id TEXT    NOT NULL REFERENCES conversations (id),
        seq             INTEGER NOT NULL,
        server_msg_id   INTEGER NOT NULL UNIQUE,
        sender_id       INTEGER NOT NULL,
        client_msg_id   TEXT    NOT NULL,
        server_time     INTEGER NOT NULL,
        kind            INTEGER NOT NULL,
        body            BLOB    NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    ) WITHOUT ROWID;
    -- Deduplication of client retries.
    CREATE UNIQUE INDEX messages_sender_client ON messages (sender_id, client_msg_id);
    "#,
    // 2: profiles, mentions, contacts, groups.
    r#"
    ALTER TABLE users ADD COLUMN avatar TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN bio    TEXT NOT NULL DEFAULT '';

    -- The seq of the last message mentioning the member; "mentioned" while
    -- it lies beyond read_seq.
    ALTER TABLE conversation_members ADD COLUMN mention_seq INTEGER NOT NULL DEFAULT 0;
    -- Per-conversation member scans: @all, group membership changes.
    CREATE INDEX conversation_members_conversation ON conversation_members (conversation_id, user_id);

    -- One contacts version counter per user (absent = 0).
    CREATE TABLE contact_versions (
        user_id INTEGER NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL
    );

    -- A request is in two users' views, each with its own version stamp.
    CREATE TABLE friend_requests (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        from_id      INTEGER NOT NULL,
        to_id        INTEGER NOT NULL,
        greeting     TEXT    NOT NULL,
        status       TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        from_version INTEGER NOT NULL,
        to_version   INTEGER NOT NULL
    );
    -- At most one pending request per direction.
    CREATE UNIQUE INDEX friend_requests_pending ON friend_requests (from_id, to_id) WHERE status = 'pending';
    CREATE INDEX friend_requests_from ON friend_requests (from_id, from_version);
    CREATE INDEX friend_requests_to   ON friend_requests (to_id, to_version);

    -- One row per direction; deleted rows stay as tombstones for sync.
    CREATE TABLE friends (
        owner_id   INTEGER NOT NULL,
        friend_id  INTEGER NOT NULL,
        remark     TEXT    NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        deleted    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (owner_id, friend_id)
    ) WITHOUT ROWID;
    CREATE INDEX friends_version ON friends (owner_id, version);

    CREATE TABLE blocks (
        owner_id   INTEGER NOT NULL,
        blocked_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        deleted    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (owner_id, blocked_id)
    ) WITHOUT ROWID;
    CREATE INDEX blocks_version ON blocks (owner_id, version);

    -- `member_count` (current members) is maintained by the member writes;
    -- `member_version` is the member change counter.
    CREATE TABLE groups (
        id                    INTEGER PRIMARY KEY AUTOINCREMENT,
        name                  TEXT    NOT NULL,
        avatar                TEXT    NOT NULL,
        notice                TEXT    NOT NULL,
        intro                 TEXT    NOT NULL,
        owner_id              INTEGER NOT NULL,
        join_policy           TEXT    NOT NULL,
        invite_needs_approval INTEGER NOT NULL,
        mute_all              INTEGER NOT NULL DEFAULT 0,
        dismissed             INTEGER NOT NULL DEFAULT 0,
        created_at            INTEGER NOT NULL,
        member_count          INTEGER NOT NULL DEFAULT 0,
        member_version        INTEGER NOT NULL DEFAULT 0
    );

    -- Former members stay as tombstones (has_left = 1) for member sync.
    -- (`left` is a reserved word in PostgreSQL, hence `has_left`.)
    CREATE TABLE group_members (
        group_id    INTEGER NOT NULL REFERENCES groups (id),
        user_id     INTEGER NOT NULL,
        role        TEXT    NOT NULL,
        nickname    TEXT    NOT NULL DEFAULT '',
        muted_until INTEGER NOT NULL DEFAULT 0,
        joined_at   INTEGER NOT NULL,
        join_seq    INTEGER NOT NULL,
        version     INTEGER NOT NULL,
        has_left    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX group_members_user    ON group_members (user_id);
    CREATE INDEX group_members_version ON group_members (group_id, version);

    CREATE TABLE group_join_requests (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        group_id   INTEGER NOT NULL REFERENCES groups (id),
        user_id    INTEGER NOT NULL,
        inviter_id INTEGER,
        message    TEXT    NOT NULL,
        status     TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    -- At most one pending request per (group, user); also serves the
    -- pending list of a group.
    CREATE UNIQUE INDEX group_join_requests_pending ON group_join_requests (group_id, user_id)
        WHERE status = 'pending';
    "#,
    // 3: the message log (see log.rs). New messages are appended to one of
    // two log tables in arrival order and merged into `messages` in large
    // sorted chunks; `kind` repeated the content's oneof and goes.
    r#"
    ALTER TABLE messages DROP COLUMN kind;

    CREATE TABLE message_log_a (
        id              INTEGER PRIMARY KEY,
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        server_msg_id   INTEGER NOT NULL,
        sender_id       INTEGER NOT NULL,
        client_msg_id   TEXT    NOT NULL,
        server_time     INTEGER NOT NULL,
        body            BLOB    NOT NULL
    );
    CREATE TABLE message_log_b (
        id              INTEGER PRIMARY KEY,
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        server_msg_id   INTEGER NOT NULL,
        sender_id       INTEGER NOT NULL,
        client_msg_id   TEXT    NOT NULL,
        server_time     INTEGER NOT NULL,
        body            BLOB    NOT NULL
    );
    -- Which log table takes appends; the other one, if not empty, is older
    -- and being merged.
    CREATE TABLE message_log_meta (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        current TEXT    NOT NULL CHECK (current IN ('a', 'b'))
    );
    INSERT INTO message_log_meta (id, current) VALUES (1, 'a');
    "#,
    // 4: events about earlier messages (recall, edit, reactions, pins).
    // `flags` is a bit set: 1 = an event (never unread, not the last
    // activity), 2 = recalled. Zero costs no payload byte in a record.
    r#"
    ALTER TABLE messages      ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE message_log_a ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE message_log_b ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE reactions (
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        emoji           TEXT    NOT NULL,
        user_id         INTEGER NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, seq, emoji, user_id)
    ) WITHOUT ROWID;

    CREATE TABLE pins (
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        pinned_by       INTEGER NOT NULL,
        pinned_at       INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, seq)
    ) WITHOUT ROWID;
    "#,
    // 5: per-user state synced by version: messages hidden for one user
    // ("delete for me") and cleared histories.
    r#"
    CREATE TABLE user_state_versions (
        user_id INTEGER NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL
    );

    CREATE TABLE hidden_messages (
        user_id         INTEGER NOT NULL,
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        version         INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX hidden_messages_version ON hidden_messages (user_id, version);

    CREATE TABLE cleared_history (
        user_id         INTEGER NOT NULL,
        conversation_id TEXT    NOT NULL,
        up_to_seq       INTEGER NOT NULL,
        version         INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
    ) WITHOUT ROWID;
    CREATE INDEX cleared_history_version ON cleared_history (user_id, version);
    "#,
    // 6: per-user conversation settings (versioned with user_state_versions).
    r#"
    CREATE TABLE conversation_settings (
        user_id         INTEGER NOT NULL,
        conversation_id TEXT    NOT NULL,
        pinned_at       INTEGER NOT NULL DEFAULT 0,
        muted           INTEGER NOT NULL DEFAULT 0,
        archived_at     INTEGER NOT NULL DEFAULT 0,
        draft           TEXT    NOT NULL DEFAULT '',
        version         INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
    ) WITHOUT ROWID;
    CREATE INDEX conversation_settings_version ON conversation_settings (user_id, version);
    "#,
    // 7: full-text search (see search.rs). Logged rows keep what search
    // finds them by until the merge indexes it in `message_search`, an FTS5
    // index without content (rowid = server_msg_id) over the tokens of
    // `ferry_core::search` and filter tokens, so it stores no text twice.
    r#"
    ALTER TABLE message_log_a ADD COLUMN search_kind TEXT;
    ALTER TABLE message_log_a ADD COLUMN search_text TEXT;
    ALTER TABLE message_log_b ADD COLUMN search_kind TEXT;
    ALTER TABLE message_log_b ADD COLUMN search_text TEXT;

    CREATE VIRTUAL TABLE message_search USING fts5 (
        doc, tokenize = 'ascii', content = '', contentless_delete = 1
    );
    "#,
    // 8: what an incremental conversation list needs: when anything in a
    // conversation last happened (events included, unlike `last_time`) and
    // when each member last moved their read position.
    r#"
    ALTER TABLE conversations        ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE conversation_members ADD COLUMN read_at    INTEGER NOT NULL DEFAULT 0;
    UPDATE conversations SET changed_at = last_time;
    "#,
    // 9: messages stored before search existed are indexed in the
    // background (search.rs, `backfill_step`): those with a server id up to
    // `upto`, logged ones first, then merged ones after `done_to`.
    r#"
    CREATE TABLE search_backfill (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        upto        INTEGER NOT NULL,
        done_to     INTEGER NOT NULL,
        logged_done INTEGER NOT NULL
    );
    INSERT INTO search_backfill (id, upto, done_to, logged_done)
    SELECT 1, COALESCE(MAX(server_msg_id), 0), 0, 0 FROM (
        SELECT server_msg_id FROM messages
        UNION ALL SELECT server_msg_id FROM message_log_a
        UNION ALL SELECT server_msg_id FROM message_log_b
    );
    -- The index grows by one segment per merged chunk; merging 16 segments
    -- at a time rather than FTS5's 4 rewrites each entry fewer times.
    INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);
    "#,
    // 10: search costs the send path less. Log rows no longer carry their
    // search text (the merge reads it from the body, see log.rs), and the
    // index keeps no positions (`detail=none`: a query's words in order are
    // checked on each candidate's body instead). The old index is rebuilt
    // by the backfill; neither are column sizes kept (`columnsize=0`: a
    // row is removed with the tokens it was added with, see search.rs).
    r#"
    ALTER TABLE message_log_a DROP COLUMN search_kind;
    ALTER TABLE message_log_a DROP COLUMN search_text;
    ALTER TABLE message_log_b DROP COLUMN search_kind;
    ALTER TABLE message_log_b DROP COLUMN search_text;

    DROP TABLE message_search;
    CREATE VIRTUAL TABLE message_search USING fts5 (
        doc, tokenize = 'ascii', content = '', detail = none, columnsize = 0
    );
    INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);
    UPDATE search_backfill SET done_to = 0, logged_done = 1,
           upto = (SELECT COALESCE(MAX(server_msg_id), 0) FROM messages);
    "#,
    // 11: who each message mentions (user 0: @all, everyone but the
    // sender), so recalling a mention leaves a member mentioned by an older
    // unread one. Only messages with mentions have rows.
    r#"
    CREATE TABLE message_mentions (
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        user_id         INTEGER NOT NULL,
        sender_id       INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, seq, user_id)
    ) WITHOUT ROWID;
    "#,
    // 12: search folds accents (`cafe` finds "Café"), so words are indexed
    // by other tokens than before: the index is rebuilt by the backfill
    // (removing a row needs the tokens it was added with).
    r#"
    DROP TABLE message_search;
    CREATE VIRTUAL TABLE message_search USING fts5 (
        doc, tokenize = 'ascii', content = '', detail = none, columnsize = 0
    );
    INSERT INTO message_search (message_search, rank) VALUES ('automerge', 16);
    UPDATE search_backfill SET done_to = 0,
           upto = (SELECT COALESCE(MAX(server_msg_id), 0) FROM messages);
    "#,
    // 13: files (see files.rs): content-addressed blobs with reference
    // counts, the file objects pointing to them, the messages referencing
    // files (who may read them), resumable uploads, and server secrets.
    r#"
    -- One row per distinct content. `key` is unique to the upload that
    -- first stored the bytes and never reused, so a swept row's key can
    -- never name bytes a newer row relies on.
    CREATE TABLE blobs (
        sha256     BLOB    NOT NULL,
        size       INTEGER NOT NULL,
        key        TEXT    NOT NULL UNIQUE,
        refcount   INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (sha256, size)
    ) WITHOUT ROWID;
    -- What the sweeper deletes: only rows at refcount 0 are in it.
    CREATE INDEX blobs_unreferenced ON blobs (created_at) WHERE refcount = 0;

    -- (sha256, size) names the file's blob, which holds one reference per
    -- file; `blob_key` is that blob's key (it cannot change while the file
    -- holds a reference). `thumbnail_of` is set on thumbnails only.
    CREATE TABLE files (
        id           TEXT    NOT NULL PRIMARY KEY,
        owner_id     INTEGER NOT NULL,
        sha256       BLOB    NOT NULL,
        size         INTEGER NOT NULL,
        mime         TEXT    NOT NULL,
        name         TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        blob_key     TEXT    NOT NULL,
        width        INTEGER NOT NULL,
        height       INTEGER NOT NULL,
        thumbnail    TEXT,
        thumbnail_of TEXT
    );
    -- An owner's files; the quota sum (thumbnails not counted: those with
    -- thumbnail_of NULL) reads only this index.
    CREATE INDEX files_owner ON files (owner_id, thumbnail_of, size);
    -- Deleting a file deletes every thumbnail made of it.
    CREATE INDEX files_thumbnail_of ON files (thumbnail_of) WHERE thumbnail_of IS NOT NULL;

    -- Messages referencing files. Only messages with files have rows.
    CREATE TABLE file_refs (
        file_id         TEXT    NOT NULL,
        conversation_id TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        PRIMARY KEY (file_id, conversation_id, seq)
    ) WITHOUT ROWID;
    -- A recall drops its message's references.
    CREATE INDEX file_refs_message ON file_refs (conversation_id, seq);

    -- Resumable uploads in progress (and finished ones until deleted).
    -- (`offset` is a reserved word in PostgreSQL, hence `byte_offset`.)
    CREATE TABLE uploads (
        id          TEXT    NOT NULL PRIMARY KEY,
        owner_id    INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL,
        name        TEXT    NOT NULL,
        mime        TEXT    NOT NULL,
        sha256      BLOB,
        metadata    TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        file_id     TEXT
    );
    -- An owner's active uploads (unfinished, unexpired) are counted here.
    CREATE INDEX uploads_owner   ON uploads (owner_id, expires_at);
    CREATE INDEX uploads_expires ON uploads (expires_at);

    -- Secrets every node of a cluster must share (e.g. the key signing
    -- file URLs), created by whichever node asks first.
    CREATE TABLE server_secrets (
        name  TEXT NOT NULL PRIMARY KEY,
        value BLOB NOT NULL
    );
    "#,
    // 14: an avatar may name a file, which every user may then read (see
    // files.rs, `is_avatar`): the groups using a file as their avatar are
    // looked up by it (a profile is looked up by its owner's id, the
    // primary key). Partial: most avatars are empty, and a lookup names a
    // file id, never "".
    r#"
    CREATE INDEX groups_avatar ON groups (avatar) WHERE avatar <> '';

    -- Avatars were free strings until now. One naming a file that could
    -- not be set as an avatar today (an image its user uploaded; for a
    -- group, one uploaded by its owner or an admin) would publish that
    -- file: it is reset to none.
    UPDATE users SET avatar = ''
     WHERE avatar IN (SELECT id FROM files)
       AND NOT EXISTS (SELECT 1 FROM files f
                        WHERE f.id = users.avatar AND f.owner_id = users.id
                          AND f.mime LIKE 'image/%' AND f.width > 0 AND f.height > 0);
    UPDATE groups SET avatar = ''
     WHERE avatar IN (SELECT id FROM files)
       AND NOT EXISTS (SELECT 1 FROM files f
                         JOIN group_members m ON m.group_id = groups.id AND m.user_id = f.owner_id
                        WHERE f.id = groups.avatar AND m.has_left = 0 AND m.role IN ('owner', 'admin')
                          AND f.mime LIKE 'image/%' AND f.width > 0 AND f.height > 0);
    "#,
];

/// The schema version this build writes.
pub(super) const LATEST: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`LATEST`]; a no-op when it is already there.
/// Fails if the file was written by a newer Ferry (unknown version).
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
    let current: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(backend_err)?;
    if current > LATEST {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build supports ({LATEST})"
        )));
    }
    for (version, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tracing::info!(from = version, to = version + 1, "migrating SQLite schema");
        tx.execute_batch(step).map_err(backend_err)?;
    }
    if current < LATEST {
        tx.pragma_update(None, "user_version", LATEST).map_err(backend_err)?;
    }
    tx.commit().map_err(backend_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version")
    }

    #[test]
    fn migrate_is_idempotent() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("first");
        assert_eq!(version(&conn), LATEST);
        migrate(&mut conn).expect("second");
        assert_eq!(version(&conn), LATEST);
    }

    #[test]
    fn version_1_data_survives_step_2() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("step 1");
        conn.pragma_update(None, "user_version", 1).expect("set");
        conn.execute_batch(
            "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ('old', 'Old', 'h', 1);
             INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ('d_1_2', 'direct', 3, 9);
             INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at) VALUES (1, 'd_1_2', 2, 5);",
        )
        .expect("version 1 rows");
        migrate(&mut conn).expect("migrate");
        assert_eq!(version(&conn), LATEST);
        let (avatar, bio): (String, String) = conn
            .query_row("SELECT avatar, bio FROM users WHERE username = 'old'", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("user");
        assert_eq!((avatar.as_str(), bio.as_str()), ("", ""));
        let (read_seq, mention_seq): (i64, i64) = conn
            .query_row("SELECT read_seq, mention_seq FROM conversation_members", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("member");
        assert_eq!((read_seq, mention_seq), (2, 0));
    }

    #[test]
    fn version_2_messages_survive_step_3_without_their_kind() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.execute_batch(MIGRATIONS[0]).expect("step 1");
        conn.execute_batch(MIGRATIONS[1]).expect("step 2");
        conn.pragma_update(None, "user_version", 2).expect("set");
        conn.execute_batch(
            "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ('d_1_2', 'direct', 1, 9);
             INSERT INTO messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, kind, body)
                  VALUES ('d_1_2', 1, 77, 1, 'c1', 9, 1, x'0a02');",
        )
        .expect("version 2 rows");
        migrate(&mut conn).expect("migrate");
        let (seq, body): (i64, Vec<u8>) = conn
            .query_row("SELECT seq, body FROM messages WHERE client_msg_id = 'c1'", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("message");
        assert_eq!((seq, body.as_slice()), (1, [0x0a, 0x02].as_slice()));
        assert!(conn.prepare("SELECT kind FROM messages").is_err(), "the kind column is gone");
        let current: String =
            conn.query_row("SELECT current FROM message_log_meta", [], |r| r.get(0)).expect("log meta");
        assert_eq!(current, "a");
    }

    #[test]
    fn version_3_messages_get_no_flags_in_step_4() {
        let mut conn = Connection::open_in_memory().expect("open");
        for step in &MIGRATIONS[..3] {
            conn.execute_batch(step).expect("steps 1-3");
        }
        conn.pragma_update(None, "user_version", 3).expect("set");
        conn.execute_batch(
            "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ('d_1_2', 'direct', 1, 9);
             INSERT INTO messages (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body)
                  VALUES ('d_1_2', 1, 77, 1, 'c1', 9, x'0a02');
             INSERT INTO message_log_a (conversation_id, seq, server_msg_id, sender_id, client_msg_id, server_time, body)
                  VALUES ('d_1_2', 2, 78, 1, 'c2', 10, x'0a03');",
        )
        .expect("version 3 rows");
        migrate(&mut conn).expect("migrate");
        let merged: i64 = conn.query_row("SELECT flags FROM messages", [], |r| r.get(0)).expect("merged");
        let logged: i64 = conn.query_row("SELECT flags FROM message_log_a", [], |r| r.get(0)).expect("logged");
        assert_eq!((merged, logged), (0, 0));
        let empty: i64 = conn
            .query_row("SELECT COUNT(*) FROM reactions JOIN pins USING (conversation_id, seq)", [], |r| r.get(0))
            .expect("tables");
        assert_eq!(empty, 0);
    }

    #[test]
    fn version_7_conversations_get_their_last_time_as_changed_at_in_step_8() {
        let mut conn = Connection::open_in_memory().expect("open");
        for step in &MIGRATIONS[..7] {
            conn.execute_batch(step).expect("steps 1-7");
        }
        conn.pragma_update(None, "user_version", 7).expect("set");
        conn.execute_batch(
            "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ('d_1_2', 'direct', 1, 9);
             INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at) VALUES (1, 'd_1_2', 1, 5);",
        )
        .expect("version 7 rows");
        migrate(&mut conn).expect("migrate");
        let stamps: (i64, i64) = conn
            .query_row("SELECT c.changed_at, m.read_at FROM conversations c JOIN conversation_members m", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("stamps");
        assert_eq!(stamps, (9, 0));
    }

    #[test]
    fn version_13_avatars_naming_files_they_could_not_name_now_are_reset_in_step_14() {
        let mut conn = Connection::open_in_memory().expect("open");
        for step in &MIGRATIONS[..13] {
            conn.execute_batch(step).expect("steps 1-13");
        }
        conn.pragma_update(None, "user_version", 13).expect("set");
        // Users 1-4; files: 1's image, 1's text, 2's image. Group 1 is
        // owned by 1 with 2 an admin and 3 a plain member.
        conn.execute_batch(
            "INSERT INTO users (id, username, display_name, password_hash, created_at, avatar) VALUES
                 (1, 'own', 'O', 'h', 1, 'img1'), (2, 'other', 'O', 'h', 1, 'img1'),
                 (3, 'text', 'T', 'h', 1, 'txt1'), (4, 'url', 'U', 'h', 1, 'https://a.test/x.png');
             INSERT INTO files (id, owner_id, sha256, size, mime, name, created_at, blob_key, width, height) VALUES
                 ('img1', 1, x'00', 1, 'image/png', 'a.png', 1, 'k1', 10, 10),
                 ('txt1', 1, x'01', 1, 'text/plain', 'a.txt', 1, 'k2', 0, 0),
                 ('img2', 2, x'02', 1, 'image/jpeg', 'b.jpg', 1, 'k3', 10, 10),
                 ('img3', 3, x'03', 1, 'image/jpeg', 'c.jpg', 1, 'k4', 10, 10);
             INSERT INTO groups (id, name, avatar, notice, intro, owner_id, join_policy, invite_needs_approval, created_at)
                 VALUES (1, 'by owner', 'img1', '', '', 1, 'approval', 0, 1),
                        (2, 'by admin', 'img2', '', '', 1, 'approval', 0, 1),
                        (3, 'by member', 'img3', '', '', 1, 'approval', 0, 1),
                        (4, 'no file', 'gone', '', '', 1, 'approval', 0, 1);
             INSERT INTO group_members (group_id, user_id, role, joined_at, join_seq, version) VALUES
                 (1, 1, 'owner', 1, 0, 1), (2, 1, 'owner', 1, 0, 1), (2, 2, 'admin', 1, 0, 2),
                 (3, 1, 'owner', 1, 0, 1), (3, 3, 'member', 1, 0, 2);",
        )
        .expect("version 13 rows");
        migrate(&mut conn).expect("migrate");
        let avatars = |table: &str| -> Vec<String> {
            let mut stmt = conn.prepare(&format!("SELECT avatar FROM {table} ORDER BY id")).expect("prepare");
            stmt.query_map([], |r| r.get(0)).expect("query").collect::<rusqlite::Result<_>>().expect("rows")
        };
        assert_eq!(
            avatars("users"),
            ["img1", "", "", "https://a.test/x.png"],
            "own image kept; others' file, text reset"
        );
        assert_eq!(avatars("groups"), ["img1", "img2", "", "gone"], "an owner's or admin's image kept");
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", LATEST + 1).expect("set");
        assert!(matches!(migrate(&mut conn), Err(StoreError::Backend(_))));
    }
}
