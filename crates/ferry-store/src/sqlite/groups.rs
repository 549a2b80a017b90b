//! [`GroupStore`] for SQLite: `groups`, `group_members`,
//! `group_join_requests`, and the group's rows in `conversations` and
//! `conversation_members`.
//!
//! Group membership and conversation membership change together, in the
//! same transaction: a current member has a `conversation_members` row
//! (read position starting at its join seq), a former one does not. Every
//! member-row change takes the next value of `groups.member_version`;
//! `groups.member_count` is maintained alongside so listing groups needs no
//! count over members. Bulk writes (a 10,000-member creation, a large
//! invitation) are a loop over cached statements inside one transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use ferry_core::{ConversationId, JoinPolicy, Role, UserId};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{SqliteStore, backend_err, cursor, text_enum_col};
use crate::{
    Group, GroupPatch, GroupStore, JoinRequest, Member, MemberChanges, MemberIds, NewGroup, RequestStatus, Result,
    StoreError,
};
use crate::{
    columns::{GROUP_COLUMNS, JOIN_REQUEST_COLUMNS, MEMBER_COLUMNS},
    groups::{no_group, not_member, prefixed},
};

#[async_trait]
impl GroupStore for SqliteStore {
    async fn create_group(&self, group: NewGroup) -> Result<(Group, Vec<Member>)> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO groups (name, avatar, notice, intro, owner_id, join_policy, invite_needs_approval,
                                         mute_all, dismissed, created_at, member_count, member_version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, ?8, 0, 0) RETURNING id",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            group.name,
                            group.avatar,
                            group.notice,
                            group.intro,
                            group.owner,
                            group.join_policy.as_str(),
                            group.invite_needs_approval,
                            group.now,
                        ],
                        |row| row.get(0),
                    )
                })
                .map_err(backend_err)?;
            // max_seq 0 and no activity yet. A row may exist already if
            // messages were appended to this id before (not by the server).
            tx.prepare_cached(
                "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES (?1, 'group', 0, 0)
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut stmt| stmt.execute([ConversationId::Group(id).to_string()]))
            .map_err(backend_err)?;

            let mut seen = HashSet::with_capacity(group.members.len() + 1);
            seen.insert(group.owner);
            let owner = std::iter::once((group.owner, Role::Owner));
            let others = group.members.iter().filter(|&&user| seen.insert(user)).map(|&user| (user, Role::Member));
            let members = add_rows(&tx, id, owner.chain(others), 0, group.now)?;
            let group = group_by_id(&tx, id)?.ok_or_else(|| StoreError::Backend(format!("group {id} vanished")))?;
            tx.commit().map_err(backend_err)?;
            Ok((group, members))
        })
        .await
    }

    async fn group(&self, id: i64) -> Result<Option<Group>> {
        self.read(move |conn| group_by_id(conn, id)).await
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<Group>> {
        self.read(move |conn| {
            let columns = prefixed(GROUP_COLUMNS, "g.");
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {columns} FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                      WHERE m.user_id = ?1 AND m.has_left = 0 ORDER BY g.id"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map([user], group_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn count_groups_of(&self, user: UserId) -> Result<u32> {
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                      WHERE m.user_id = ?1 AND m.has_left = 0 AND g.dismissed = 0",
                )
                .and_then(|mut stmt| stmt.query_row([user], |row| row.get(0)))
                .map_err(backend_err)?;
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn update_group(&self, id: i64, patch: GroupPatch) -> Result<Group> {
        self.write(move |conn| {
            // NULL leaves a column as it is: one statement for every patch.
            conn.prepare_cached(&format!(
                "UPDATE groups SET name = COALESCE(?2, name), avatar = COALESCE(?3, avatar),
                                   notice = COALESCE(?4, notice), intro = COALESCE(?5, intro),
                                   join_policy = COALESCE(?6, join_policy),
                                   invite_needs_approval = COALESCE(?7, invite_needs_approval),
                                   mute_all = COALESCE(?8, mute_all)
                  WHERE id = ?1 RETURNING {GROUP_COLUMNS}"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        id,
                        patch.name,
                        patch.avatar,
                        patch.notice,
                        patch.intro,
                        patch.join_policy.map(JoinPolicy::as_str),
                        patch.invite_needs_approval,
                        patch.mute_all,
                    ],
                    group_row,
                )
                .optional()
            })
            .map_err(backend_err)?
            .ok_or_else(|| no_group(id))
        })
        .await
    }

    async fn transfer_ownership(&self, id: i64, new_owner: UserId) -> Result<Group> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            let group = group_by_id(&tx, id)?.ok_or_else(|| no_group(id))?;
            if current_member(&tx, id, new_owner)?.is_none() {
                return Err(not_member(id, new_owner));
            }
            if group.owner == new_owner {
                return Ok(group);
            }
            if current_member(&tx, id, group.owner)?.is_some() {
                update_member(&tx, id, group.owner, "role = ?3", Role::Admin.as_str())?;
            }
            update_member(&tx, id, new_owner, "role = ?3", Role::Owner.as_str())?;
            tx.prepare_cached("UPDATE groups SET owner_id = ?2 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute(params![id, new_owner]))
                .map_err(backend_err)?;
            let group = group_by_id(&tx, id)?.ok_or_else(|| no_group(id))?;
            tx.commit().map_err(backend_err)?;
            Ok(group)
        })
        .await
    }

    async fn dismiss_group(&self, id: i64) -> Result<Group> {
        self.write(move |conn| {
            conn.prepare_cached(&format!("UPDATE groups SET dismissed = 1 WHERE id = ?1 RETURNING {GROUP_COLUMNS}"))
                .and_then(|mut stmt| stmt.query_row([id], group_row).optional())
                .map_err(backend_err)?
                .ok_or_else(|| no_group(id))
        })
        .await
    }

    async fn add_members(&self, id: i64, users: &[UserId], join_seq: u64, now: i64) -> Result<Vec<Member>> {
        let users = users.to_vec();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if group_by_id(&tx, id)?.is_none() {
                return Err(no_group(id));
            }
            let mut seen = HashSet::with_capacity(users.len());
            let candidates = users.into_iter().filter(|&user| seen.insert(user)).map(|user| (user, Role::Member));
            let added = add_rows(&tx, id, candidates, join_seq, now)?;
            tx.commit().map_err(backend_err)?;
            Ok(added)
        })
        .await
    }

    async fn remove_member(&self, id: i64, user: UserId) -> Result<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if current_member(&tx, id, user)?.is_none() {
                return Ok(false);
            }
            let version = next_version(&tx, id)?;
            tx.prepare_cached(
                "UPDATE group_members SET has_left = 1, version = ?3 WHERE group_id = ?1 AND user_id = ?2",
            )
            .and_then(|mut stmt| stmt.execute(params![id, user, version]))
            .map_err(backend_err)?;
            tx.prepare_cached("UPDATE groups SET member_count = member_count - 1 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([id]))
                .map_err(backend_err)?;
            tx.prepare_cached("DELETE FROM conversation_members WHERE user_id = ?1 AND conversation_id = ?2")
                .and_then(|mut stmt| stmt.execute(params![user, ConversationId::Group(id).to_string()]))
                .map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            Ok(true)
        })
        .await
    }

    async fn set_role(&self, id: i64, user: UserId, role: Role) -> Result<Member> {
        self.write(move |conn| change_member(conn, id, user, "role = ?3", role.as_str())).await
    }

    async fn set_muted_until(&self, id: i64, user: UserId, until: i64) -> Result<Member> {
        self.write(move |conn| change_member(conn, id, user, "muted_until = ?3", until)).await
    }

    async fn set_nickname(&self, id: i64, user: UserId, nickname: &str) -> Result<Member> {
        let nickname = nickname.to_owned();
        self.write(move |conn| change_member(conn, id, user, "nickname = ?3", nickname)).await
    }

    async fn member(&self, id: i64, user: UserId) -> Result<Option<Member>> {
        self.read(move |conn| current_member(conn, id, user)).await
    }

    async fn members(&self, id: i64, after_user: UserId, limit: u32) -> Result<Vec<Member>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            // A range scan of the primary key (group_id, user_id).
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM group_members
                      WHERE group_id = ?1 AND user_id > ?2 AND has_left = 0 ORDER BY user_id LIMIT ?3"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map(params![id, after_user, i64::from(limit)], member_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn member_ids(&self, id: i64) -> Result<MemberIds> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT user_id, join_seq FROM group_members WHERE group_id = ?1 AND has_left = 0
                      ORDER BY user_id",
                )
                .map_err(backend_err)?;
            let mut rows = stmt.query([id]).map_err(backend_err)?;
            let mut out = MemberIds::default();
            while let Some(row) = rows.next().map_err(backend_err)? {
                out.ids.push(row.get(0).map_err(backend_err)?);
                out.join_seqs.push(row.get::<_, i64>(1).map_err(backend_err)? as u64);
            }
            Ok(out)
        })
        .await
    }

    async fn member_changes(&self, id: i64, since: u64) -> Result<MemberChanges> {
        let since = cursor(since);
        self.read(move |conn| {
            // One snapshot: the version and the rows agree.
            let tx = conn.unchecked_transaction().map_err(backend_err)?;
            let version: i64 = tx
                .prepare_cached("SELECT member_version FROM groups WHERE id = ?1")
                .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
                .map_err(backend_err)?
                .unwrap_or(0);
            let members = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {MEMBER_COLUMNS} FROM group_members
                          WHERE group_id = ?1 AND version > ?2 ORDER BY user_id"
                    ))
                    .map_err(backend_err)?;
                let rows = stmt.query_map(params![id, since], member_row).map_err(backend_err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)?
            };
            tx.finish().map_err(backend_err)?;
            Ok(MemberChanges { version: version as u64, members })
        })
        .await
    }

    async fn upsert_join_request(
        &self,
        id: i64,
        user: UserId,
        inviter: Option<UserId>,
        message: &str,
        now: i64,
    ) -> Result<JoinRequest> {
        let message = message.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
            if group_by_id(&tx, id)?.is_none() {
                return Err(no_group(id));
            }
            let pending: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM group_join_requests WHERE group_id = ?1 AND user_id = ?2 AND status = 'pending'",
                )
                .and_then(|mut stmt| stmt.query_row(params![id, user], |row| row.get(0)).optional())
                .map_err(backend_err)?;
            let request = match pending {
                Some(request_id) => tx
                    .prepare_cached(&format!(
                        "UPDATE group_join_requests SET inviter_id = ?2, message = ?3, updated_at = ?4
                          WHERE id = ?1 RETURNING {JOIN_REQUEST_COLUMNS}"
                    ))
                    .and_then(|mut stmt| stmt.query_row(params![request_id, inviter, message, now], join_request_row)),
                None => tx
                    .prepare_cached(&format!(
                        "INSERT INTO group_join_requests
                             (group_id, user_id, inviter_id, message, status, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) RETURNING {JOIN_REQUEST_COLUMNS}"
                    ))
                    .and_then(|mut stmt| stmt.query_row(params![id, user, inviter, message, now], join_request_row)),
            }
            .map_err(backend_err)?;
            tx.commit().map_err(backend_err)?;
            Ok(request)
        })
        .await
    }

    async fn join_request(&self, request_id: i64) -> Result<Option<JoinRequest>> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {JOIN_REQUEST_COLUMNS} FROM group_join_requests WHERE id = ?1"))
                .and_then(|mut stmt| stmt.query_row([request_id], join_request_row).optional())
                .map_err(backend_err)
        })
        .await
    }

    async fn pending_join_requests(&self, id: i64) -> Result<Vec<JoinRequest>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {JOIN_REQUEST_COLUMNS} FROM group_join_requests
                      WHERE group_id = ?1 AND status = 'pending' ORDER BY created_at, id"
                ))
                .map_err(backend_err)?;
            let rows = stmt.query_map([id], join_request_row).map_err(backend_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend_err)
        })
        .await
    }

    async fn resolve_join_request(&self, request_id: i64, accept: bool, now: i64) -> Result<JoinRequest> {
        let status = if accept { RequestStatus::Accepted } else { RequestStatus::Declined };
        self.write(move |conn| {
            conn.prepare_cached(&format!(
                "UPDATE group_join_requests SET status = ?2, updated_at = ?3
                  WHERE id = ?1 AND status = 'pending' RETURNING {JOIN_REQUEST_COLUMNS}"
            ))
            .and_then(|mut stmt| stmt.query_row(params![request_id, status.as_str(), now], join_request_row).optional())
            .map_err(backend_err)?
            .ok_or_else(|| StoreError::NotFound(format!("pending join request {request_id}")))
        })
        .await
    }
}

/// Makes `users` (distinct) current members of group `id` with the given
/// roles: new rows, or revived tombstones (nickname and mute cleared), each
/// with the next member version, plus their conversation rows with
/// `read_seq = join_seq`. Current members are skipped untouched. Returns the
/// rows written, in input order.
fn add_rows(
    tx: &Transaction<'_>,
    id: i64,
    users: impl IntoIterator<Item = (UserId, Role)>,
    join_seq: u64,
    now: i64,
) -> Result<Vec<Member>> {
    let join_seq_col = cursor(join_seq);
    let conversation = ConversationId::Group(id).to_string();
    let mut version: i64 = tx
        .prepare_cached("SELECT member_version FROM groups WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)))
        .map_err(backend_err)?;
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO group_members
                 (group_id, user_id, role, nickname, muted_until, joined_at, join_seq, version, has_left)
             VALUES (?1, ?2, ?3, '', 0, ?4, ?5, ?6, 0)
             ON CONFLICT (group_id, user_id) DO UPDATE
             SET role = excluded.role, nickname = '', muted_until = 0, joined_at = excluded.joined_at,
                 join_seq = excluded.join_seq, version = excluded.version, has_left = 0
             WHERE group_members.has_left = 1",
        )
        .map_err(backend_err)?;
    // A leftover row (there should be none) is reset to the join position.
    let mut join = tx
        .prepare_cached(
            "INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at, mention_seq)
             VALUES (?1, ?2, ?3, ?4, 0)
             ON CONFLICT (user_id, conversation_id) DO UPDATE
             SET read_seq = excluded.read_seq, joined_at = excluded.joined_at, mention_seq = 0",
        )
        .map_err(backend_err)?;
    let mut added = Vec::new();
    for (user, role) in users {
        // No row changed: a current member, skipped; the version is not used.
        if upsert.execute(params![id, user, role.as_str(), now, join_seq_col, version + 1]).map_err(backend_err)? == 0 {
            continue;
        }
        version += 1;
        join.execute(params![user, conversation, join_seq_col, now]).map_err(backend_err)?;
        added.push(Member {
            group_id: id,
            user_id: user,
            role,
            nickname: String::new(),
            muted_until: 0,
            joined_at: now,
            join_seq,
            version: version as u64,
            left: false,
        });
    }
    tx.prepare_cached("UPDATE groups SET member_version = ?2, member_count = member_count + ?3 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![id, version, added.len() as i64]))
        .map_err(backend_err)?;
    Ok(added)
}

/// Bumps the group's member version and returns the new value.
fn next_version(conn: &Connection, id: i64) -> Result<i64> {
    conn.prepare_cached("UPDATE groups SET member_version = member_version + 1 WHERE id = ?1 RETURNING member_version")
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
        .map_err(backend_err)?
        .ok_or_else(|| no_group(id))
}

/// Sets one column of a current member (`set`, e.g. `"role = ?3"`, binds
/// `value` as `?3`) with the next member version; returns the new row.
fn update_member(conn: &Connection, id: i64, user: UserId, set: &str, value: impl rusqlite::ToSql) -> Result<Member> {
    let version = next_version(conn, id)?;
    conn.prepare_cached(&format!(
        "UPDATE group_members SET {set}, version = ?4
          WHERE group_id = ?1 AND user_id = ?2 AND has_left = 0 RETURNING {MEMBER_COLUMNS}"
    ))
    .and_then(|mut stmt| stmt.query_row(params![id, user, value, version], member_row).optional())
    .map_err(backend_err)?
    .ok_or_else(|| not_member(id, user))
}

/// [`update_member`] in its own transaction, `NotFound` for non-members.
fn change_member(
    conn: &mut Connection,
    id: i64,
    user: UserId,
    set: &str,
    value: impl rusqlite::ToSql,
) -> Result<Member> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend_err)?;
    // Checked first so a non-member does not bump the version (the update
    // would roll back anyway; this keeps the error free of side effects).
    if current_member(&tx, id, user)?.is_none() {
        return Err(not_member(id, user));
    }
    let member = update_member(&tx, id, user, set, value)?;
    tx.commit().map_err(backend_err)?;
    Ok(member)
}

fn group_by_id(conn: &Connection, id: i64) -> Result<Option<Group>> {
    conn.prepare_cached(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], group_row).optional())
        .map_err(backend_err)
}

/// The member row of `user` if they are a current member.
fn current_member(conn: &Connection, id: i64, user: UserId) -> Result<Option<Member>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM group_members WHERE group_id = ?1 AND user_id = ?2 AND has_left = 0"
    ))
    .and_then(|mut stmt| stmt.query_row(params![id, user], member_row).optional())
    .map_err(backend_err)
}

/// Maps a row selected with [`GROUP_COLUMNS`].
fn group_row(row: &Row<'_>) -> rusqlite::Result<Group> {
    Ok(Group {
        id: row.get(0)?,
        name: row.get(1)?,
        avatar: row.get(2)?,
        notice: row.get(3)?,
        intro: row.get(4)?,
        owner: row.get(5)?,
        join_policy: text_enum_col(row, 6, |s| s.parse().ok())?,
        invite_needs_approval: row.get(7)?,
        mute_all: row.get(8)?,
        dismissed: row.get(9)?,
        created_at: row.get(10)?,
        member_count: row.get::<_, i64>(11)?.clamp(0, i64::from(u32::MAX)) as u32,
        member_version: row.get::<_, i64>(12)? as u64,
    })
}

/// Maps a row selected with [`MEMBER_COLUMNS`].
fn member_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        group_id: row.get(0)?,
        user_id: row.get(1)?,
        role: text_enum_col(row, 2, |s| s.parse().ok())?,
        nickname: row.get(3)?,
        muted_until: row.get(4)?,
        joined_at: row.get(5)?,
        join_seq: row.get::<_, i64>(6)? as u64,
        version: row.get::<_, i64>(7)? as u64,
        left: row.get(8)?,
    })
}

/// Maps a row selected with [`JOIN_REQUEST_COLUMNS`].
fn join_request_row(row: &Row<'_>) -> rusqlite::Result<JoinRequest> {
    Ok(JoinRequest {
        id: row.get(0)?,
        group_id: row.get(1)?,
        user_id: row.get(2)?,
        inviter: row.get(3)?,
        message: row.get(4)?,
        status: text_enum_col(row, 5, RequestStatus::parse)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}
