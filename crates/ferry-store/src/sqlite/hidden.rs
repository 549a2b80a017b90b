//! Per-user state of conversations, synced across the user's devices by
//! the version counter in `user_state_versions` (as contacts are by
//! `contact_versions`): hidden messages ("delete for me"), cleared
//! histories, and conversation settings (pinned, muted, archived, draft).

use ferry_core::{ConversationId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{backend_err, conversation_col, cursor};
use crate::columns::SETTINGS_COLUMNS;
use crate::{ConversationSettings, Hidden, HiddenChanges, Result, SettingsPatch};

/// Bumps and returns `user`'s state version.
fn bump(conn: &Connection, user: UserId) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO user_state_versions (user_id, version) VALUES (?1, 1)
         ON CONFLICT (user_id) DO UPDATE SET version = user_state_versions.version + 1
         RETURNING version",
    )
    .and_then(|mut s| s.query_row([user], |r| r.get(0)))
    .map_err(backend_err)
}

pub(super) fn hide(conn: &Connection, user: UserId, conversation: ConversationId, seqs: &[u64]) -> Result<u64> {
    let version = bump(conn, user)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO hidden_messages (user_id, conversation_id, seq, version) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )
        .map_err(backend_err)?;
    let id = conversation.to_string();
    for &seq in seqs {
        insert.execute(params![user, id, cursor(seq), version]).map_err(backend_err)?;
    }
    Ok(version as u64)
}

pub(super) fn clear(conn: &Connection, user: UserId, conversation: ConversationId, up_to: u64) -> Result<u64> {
    let version = bump(conn, user)?;
    conn.prepare_cached(
        "INSERT INTO cleared_history (user_id, conversation_id, up_to_seq, version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, conversation_id) DO UPDATE
            SET up_to_seq = MAX(cleared_history.up_to_seq, excluded.up_to_seq), version = excluded.version",
    )
    .and_then(|mut s| s.execute(params![user, conversation.to_string(), cursor(up_to), version]))
    .map_err(backend_err)?;
    Ok(version as u64)
}

pub(super) fn hidden_in(
    conn: &Connection,
    user: UserId,
    conversation: ConversationId,
    from: u64,
    to: u64,
) -> Result<Hidden> {
    let id = conversation.to_string();
    let cleared_up_to: Option<i64> = conn
        .prepare_cached("SELECT up_to_seq FROM cleared_history WHERE user_id = ?1 AND conversation_id = ?2")
        .and_then(|mut s| s.query_row(params![user, id], |r| r.get(0)).optional())
        .map_err(backend_err)?;
    let seqs = conn
        .prepare_cached(
            "SELECT seq FROM hidden_messages WHERE user_id = ?1 AND conversation_id = ?2 AND seq BETWEEN ?3 AND ?4
              ORDER BY seq",
        )
        .and_then(|mut s| {
            s.query_map(params![user, id, cursor(from), cursor(to)], |r| r.get::<_, i64>(0).map(|v| v as u64))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend_err)?;
    Ok(Hidden { cleared_up_to: cleared_up_to.unwrap_or(0) as u64, seqs })
}

pub(super) fn changes(conn: &Connection, user: UserId, since: u64) -> Result<HiddenChanges> {
    let tx = conn.unchecked_transaction().map_err(backend_err)?;
    let version: Option<i64> = tx
        .prepare_cached("SELECT version FROM user_state_versions WHERE user_id = ?1")
        .and_then(|mut s| s.query_row([user], |r| r.get(0)).optional())
        .map_err(backend_err)?;
    let pairs = |sql: &str| -> Result<Vec<(ConversationId, u64)>> {
        tx.prepare_cached(sql)
            .and_then(|mut s| {
                s.query_map(params![user, cursor(since)], |r| {
                    Ok((conversation_col(r, 0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(backend_err)
    };
    let hidden = pairs(
        "SELECT conversation_id, seq FROM hidden_messages WHERE user_id = ?1 AND version > ?2
          ORDER BY version, conversation_id, seq",
    )?;
    let cleared = pairs(
        "SELECT conversation_id, up_to_seq FROM cleared_history WHERE user_id = ?1 AND version > ?2
          ORDER BY version, conversation_id",
    )?;
    Ok(HiddenChanges { version: version.unwrap_or(0) as u64, hidden, cleared })
}

pub(super) fn update_settings(
    conn: &Connection,
    user: UserId,
    conversation: ConversationId,
    patch: &SettingsPatch,
) -> Result<ConversationSettings> {
    let version = bump(conn, user)?;
    let stamp = |on: Option<bool>| on.map(|on| if on { patch.now.max(1) } else { 0 });
    conn.prepare_cached(&format!(
        "INSERT INTO conversation_settings (user_id, conversation_id, pinned_at, muted, archived_at, draft, version)
         VALUES (?1, ?2, COALESCE(?3, 0), COALESCE(?4, 0), COALESCE(?5, 0), COALESCE(?6, ''), ?7)
         ON CONFLICT (user_id, conversation_id) DO UPDATE SET
             pinned_at   = COALESCE(?3, pinned_at),
             muted       = COALESCE(?4, muted),
             archived_at = COALESCE(?5, archived_at),
             draft       = COALESCE(?6, draft),
             version     = ?7
         RETURNING {SETTINGS_COLUMNS}"
    ))
    .and_then(|mut s| {
        s.query_row(
            params![
                user,
                conversation.to_string(),
                stamp(patch.pinned),
                patch.muted,
                stamp(patch.archived),
                patch.draft,
                version
            ],
            settings_row,
        )
    })
    .map_err(backend_err)
}

pub(super) fn settings_changes(
    conn: &Connection,
    user: UserId,
    since: u64,
) -> Result<(u64, Vec<ConversationSettings>)> {
    let tx = conn.unchecked_transaction().map_err(backend_err)?;
    let version: Option<i64> = tx
        .prepare_cached("SELECT version FROM user_state_versions WHERE user_id = ?1")
        .and_then(|mut s| s.query_row([user], |r| r.get(0)).optional())
        .map_err(backend_err)?;
    let rows = tx
        .prepare_cached(&format!(
            "SELECT {SETTINGS_COLUMNS} FROM conversation_settings WHERE user_id = ?1 AND version > ?2 ORDER BY version"
        ))
        .and_then(|mut s| {
            s.query_map(params![user, cursor(since)], settings_row)?.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(backend_err)?;
    Ok((version.unwrap_or(0) as u64, rows))
}

fn settings_row(row: &Row<'_>) -> rusqlite::Result<ConversationSettings> {
    Ok(ConversationSettings {
        conversation: conversation_col(row, 0)?,
        pinned_at: row.get(1)?,
        muted: row.get(2)?,
        archived_at: row.get(3)?,
        draft: row.get(4)?,
        version: row.get::<_, i64>(5)? as u64,
    })
}

pub(super) fn hidden_among(conn: &Connection, user: UserId, messages: &[(ConversationId, u64)]) -> Result<Vec<bool>> {
    let tx = conn.unchecked_transaction().map_err(backend_err)?;
    let mut hidden = tx
        .prepare_cached("SELECT 1 FROM hidden_messages WHERE user_id = ?1 AND conversation_id = ?2 AND seq = ?3")
        .map_err(backend_err)?;
    let mut cleared = tx
        .prepare_cached("SELECT 1 FROM cleared_history WHERE user_id = ?1 AND conversation_id = ?2 AND up_to_seq >= ?3")
        .map_err(backend_err)?;
    let mut out = Vec::with_capacity(messages.len());
    for (conversation, seq) in messages {
        let key = params![user, conversation.to_string(), cursor(*seq)];
        out.push(hidden.exists(key).map_err(backend_err)? || cleared.exists(key).map_err(backend_err)?);
    }
    Ok(out)
}
