//! Per-user state of conversations, synced across the user's devices by
//! the version counter in `user_state_versions`: hidden messages ("delete
//! for me"), cleared histories, and conversation settings. Each function
//! runs inside the caller's transaction.

use deadpool_postgres::GenericClient;
use ferry_core::{ConversationId, UserId};
use tokio_postgres::Row;

use super::{Try, conversation_col, cursor, map_rows, u64_col};
use crate::columns::SETTINGS_COLUMNS;
use crate::{ConversationSettings, Hidden, HiddenChanges, SettingsPatch};

/// Bumps and returns `user`'s state version.
async fn bump(tx: &impl GenericClient, user: UserId) -> Try<i64> {
    super::bump_version(tx, "user_state_versions", user).await
}

pub(super) async fn hide(
    tx: &impl GenericClient,
    user: UserId,
    conversation: ConversationId,
    seqs: &[i64],
) -> Try<u64> {
    let version = bump(tx, user).await?;
    tx.execute(
        "INSERT INTO hidden_messages (user_id, conversation_id, seq, version)
         SELECT $1, $2, seq, $4 FROM unnest($3::bigint[]) AS seq
         ON CONFLICT DO NOTHING",
        &[&user, &conversation.to_string(), &seqs, &version],
    )
    .await?;
    Ok(version as u64)
}

pub(super) async fn clear(tx: &impl GenericClient, user: UserId, conversation: ConversationId, up_to: u64) -> Try<u64> {
    let version = bump(tx, user).await?;
    tx.execute(
        "INSERT INTO cleared_history (user_id, conversation_id, up_to_seq, version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, conversation_id) DO UPDATE
            SET up_to_seq = GREATEST(cleared_history.up_to_seq, excluded.up_to_seq), version = excluded.version",
        &[&user, &conversation.to_string(), &cursor(up_to), &version],
    )
    .await?;
    Ok(version as u64)
}

pub(super) async fn hidden_in(
    tx: &impl GenericClient,
    user: UserId,
    conversation: ConversationId,
    from: u64,
    to: u64,
) -> Try<Hidden> {
    let id = conversation.to_string();
    let cleared = tx
        .query_opt("SELECT up_to_seq FROM cleared_history WHERE user_id = $1 AND conversation_id = $2", &[&user, &id])
        .await?;
    let seqs = tx
        .query(
            "SELECT seq FROM hidden_messages WHERE user_id = $1 AND conversation_id = $2 AND seq BETWEEN $3 AND $4
              ORDER BY seq",
            &[&user, &id, &cursor(from), &cursor(to)],
        )
        .await?;
    Ok(Hidden {
        cleared_up_to: cleared.map(|r| u64_col(&r, 0)).transpose()?.unwrap_or(0),
        seqs: map_rows(seqs, |r| u64_col(r, 0))?,
    })
}

/// `user`'s state version (0 before the first change).
async fn version(tx: &impl GenericClient, user: UserId) -> Try<u64> {
    let row = tx.query_opt("SELECT version FROM user_state_versions WHERE user_id = $1", &[&user]).await?;
    Ok(row.map(|r| u64_col(&r, 0)).transpose()?.unwrap_or(0))
}

pub(super) async fn changes(tx: &impl GenericClient, user: UserId, since: u64) -> Try<HiddenChanges> {
    let version = version(tx, user).await?;
    let pair = |r: &Row| Ok((conversation_col(r, 0)?, u64_col(r, 1)?));
    let hidden = tx
        .query(
            "SELECT conversation_id, seq FROM hidden_messages WHERE user_id = $1 AND version > $2
              ORDER BY version, conversation_id, seq",
            &[&user, &cursor(since)],
        )
        .await?;
    let cleared = tx
        .query(
            "SELECT conversation_id, up_to_seq FROM cleared_history WHERE user_id = $1 AND version > $2
              ORDER BY version, conversation_id",
            &[&user, &cursor(since)],
        )
        .await?;
    Ok(HiddenChanges { version, hidden: map_rows(hidden, pair)?, cleared: map_rows(cleared, pair)? })
}

pub(super) async fn update_settings(
    tx: &impl GenericClient,
    user: UserId,
    conversation: ConversationId,
    patch: &SettingsPatch,
) -> Try<ConversationSettings> {
    let version = bump(tx, user).await?;
    let stamp = |on: Option<bool>| on.map(|on| if on { patch.now.max(1) } else { 0 });
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO conversation_settings
                     (user_id, conversation_id, pinned_at, muted, archived_at, draft, version)
                 VALUES ($1, $2, COALESCE($3::bigint, 0), COALESCE($4::boolean, false), COALESCE($5::bigint, 0),
                         COALESCE($6::text, ''), $7)
                 ON CONFLICT (user_id, conversation_id) DO UPDATE SET
                     pinned_at   = COALESCE($3, conversation_settings.pinned_at),
                     muted       = COALESCE($4, conversation_settings.muted),
                     archived_at = COALESCE($5, conversation_settings.archived_at),
                     draft       = COALESCE($6, conversation_settings.draft),
                     version     = $7
                 RETURNING {SETTINGS_COLUMNS}"
            ),
            &[
                &user,
                &conversation.to_string(),
                &stamp(patch.pinned),
                &patch.muted,
                &stamp(patch.archived),
                &patch.draft,
                &version,
            ],
        )
        .await?;
    settings_row(&row)
}

pub(super) async fn settings_changes(
    tx: &impl GenericClient,
    user: UserId,
    since: u64,
) -> Try<(u64, Vec<ConversationSettings>)> {
    let version = version(tx, user).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {SETTINGS_COLUMNS} FROM conversation_settings WHERE user_id = $1 AND version > $2
                  ORDER BY version"
            ),
            &[&user, &cursor(since)],
        )
        .await?;
    Ok((version, map_rows(rows, settings_row)?))
}

fn settings_row(row: &Row) -> Try<ConversationSettings> {
    Ok(ConversationSettings {
        conversation: conversation_col(row, 0)?,
        pinned_at: row.try_get(1)?,
        muted: row.try_get(2)?,
        archived_at: row.try_get(3)?,
        draft: row.try_get(4)?,
        version: u64_col(row, 5)?,
    })
}

/// Which of `messages` `user` hid or cleared, in input order (one query).
pub(super) async fn hidden_among(
    client: &tokio_postgres::Client,
    user: UserId,
    messages: &[(ConversationId, u64)],
) -> Try<Vec<bool>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = messages.iter().map(|(c, _)| c.to_string()).collect();
    let seqs: Vec<i64> = messages.iter().map(|(_, s)| cursor(*s)).collect();
    let rows = client
        .query(
            "SELECT EXISTS (SELECT 1 FROM hidden_messages AS h
                             WHERE h.user_id = $1 AND h.conversation_id = q.c AND h.seq = q.s)
                 OR EXISTS (SELECT 1 FROM cleared_history AS ch
                             WHERE ch.user_id = $1 AND ch.conversation_id = q.c AND ch.up_to_seq >= q.s)
               FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS q (c, s, n)
              ORDER BY q.n",
            &[&user, &ids, &seqs],
        )
        .await?;
    map_rows(rows, |r| Ok(r.try_get(0)?))
}
