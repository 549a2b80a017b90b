//! [`GroupStore`] for PostgreSQL: `groups`, `group_members`,
//! `group_join_requests`, and the group's rows in `conversations` and
//! `conversation_members`.
//!
//! As on SQLite, group membership and conversation membership change
//! together, in one (SERIALIZABLE) transaction; every member-row change
//! takes the next value of `groups.member_version`, and
//! `groups.member_count` is kept alongside. Bulk additions (a
//! 10,000-member creation) are one `unnest` statement per table.

use std::collections::HashSet;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use ferry_core::{ConversationId, JoinPolicy, Role, UserId};
use tokio_postgres::{Row, types::ToSql};

use super::{PgStore, Try, cursor, map_rows, serializable, snapshot, text_enum_col, u64_col};
use crate::{
    Group, GroupPatch, GroupStore, JoinRequest, Member, MemberChanges, MemberIds, NewGroup, RequestStatus, Result,
    StoreError,
};
use crate::{
    columns::{GROUP_COLUMNS, JOIN_REQUEST_COLUMNS, MEMBER_COLUMNS},
    groups::{no_group, not_member, prefixed},
};

#[async_trait]
impl GroupStore for PgStore {
    async fn create_group(&self, group: NewGroup) -> Result<(Group, Vec<Member>)> {
        let group = &group;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO groups (name, avatar, notice, intro, owner_id, join_policy, invite_needs_approval,
                                         mute_all, dismissed, created_at, member_count, member_version)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, false, false, $8, 0, 0) RETURNING id",
                    &[
                        &group.name,
                        &group.avatar,
                        &group.notice,
                        &group.intro,
                        &group.owner,
                        &group.join_policy.as_str(),
                        &group.invite_needs_approval,
                        &group.now,
                    ],
                )
                .await?
                .try_get(0)?;
            // max_seq 0 and no activity yet. A row may exist already if
            // messages were appended to this id before (not by the server).
            tx.execute(
                "INSERT INTO conversations (id, kind, max_seq, last_time) VALUES ($1, 'group', 0, 0)
                 ON CONFLICT (id) DO NOTHING",
                &[&ConversationId::Group(id).to_string()],
            )
            .await?;
            let mut seen = HashSet::with_capacity(group.members.len() + 1);
            seen.insert(group.owner);
            let owner = std::iter::once((group.owner, Role::Owner));
            let others = group.members.iter().filter(|&&user| seen.insert(user)).map(|&user| (user, Role::Member));
            let members = add_rows(&tx, id, owner.chain(others).collect(), 0, group.now).await?;
            let group =
                group_by_id(&tx, id).await?.ok_or_else(|| StoreError::Backend(format!("group {id} vanished")))?;
            tx.commit().await?;
            Ok((group, members))
        })
        .await
    }

    async fn group(&self, id: i64) -> Result<Option<Group>> {
        self.read(|client| async move { group_by_id(&client, id).await }).await
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<Group>> {
        self.read(|client| async move {
            let columns = prefixed(GROUP_COLUMNS, "g.");
            let rows = client
                .query(
                    &format!(
                        "SELECT {columns} FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                          WHERE m.user_id = $1 AND NOT m.has_left ORDER BY g.id"
                    ),
                    &[&user],
                )
                .await?;
            map_rows(rows, group_row)
        })
        .await
    }

    async fn count_groups_of(&self, user: UserId) -> Result<u32> {
        self.read(|client| async move {
            let count: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                      WHERE m.user_id = $1 AND NOT m.has_left AND NOT g.dismissed",
                    &[&user],
                )
                .await?
                .try_get(0)?;
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn update_group(&self, id: i64, patch: GroupPatch) -> Result<Group> {
        let patch = &patch;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            // NULL leaves a column as it is: one statement for every patch.
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE groups SET name = COALESCE($2, name), avatar = COALESCE($3, avatar),
                                           notice = COALESCE($4, notice), intro = COALESCE($5, intro),
                                           join_policy = COALESCE($6, join_policy),
                                           invite_needs_approval = COALESCE($7, invite_needs_approval),
                                           mute_all = COALESCE($8, mute_all)
                          WHERE id = $1 RETURNING {GROUP_COLUMNS}"
                    ),
                    &[
                        &id,
                        &patch.name,
                        &patch.avatar,
                        &patch.notice,
                        &patch.intro,
                        &patch.join_policy.map(JoinPolicy::as_str),
                        &patch.invite_needs_approval,
                        &patch.mute_all,
                    ],
                )
                .await?;
            let group = row.as_ref().map(group_row).transpose()?.ok_or_else(|| no_group(id))?;
            tx.commit().await?;
            Ok(group)
        })
        .await
    }

    async fn transfer_ownership(&self, id: i64, new_owner: UserId) -> Result<Group> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let group = group_by_id(&tx, id).await?.ok_or_else(|| no_group(id))?;
            if current_member(&tx, id, new_owner).await?.is_none() {
                return Err(not_member(id, new_owner).into());
            }
            if group.owner == new_owner {
                return Ok(group);
            }
            if current_member(&tx, id, group.owner).await?.is_some() {
                update_member(&tx, id, group.owner, "role = $3", &Role::Admin.as_str()).await?;
            }
            update_member(&tx, id, new_owner, "role = $3", &Role::Owner.as_str()).await?;
            tx.execute("UPDATE groups SET owner_id = $2 WHERE id = $1", &[&id, &new_owner]).await?;
            let group = group_by_id(&tx, id).await?.ok_or_else(|| no_group(id))?;
            tx.commit().await?;
            Ok(group)
        })
        .await
    }

    async fn dismiss_group(&self, id: i64) -> Result<Group> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let row = tx
                .query_opt(
                    &format!("UPDATE groups SET dismissed = true WHERE id = $1 RETURNING {GROUP_COLUMNS}"),
                    &[&id],
                )
                .await?;
            let group = row.as_ref().map(group_row).transpose()?.ok_or_else(|| no_group(id))?;
            tx.commit().await?;
            Ok(group)
        })
        .await
    }

    async fn add_members(&self, id: i64, users: &[UserId], join_seq: u64, now: i64) -> Result<Vec<Member>> {
        let mut seen = HashSet::with_capacity(users.len());
        let candidates: Vec<(UserId, Role)> =
            users.iter().filter(|&&user| seen.insert(user)).map(|&user| (user, Role::Member)).collect();
        let candidates = &candidates;
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if group_by_id(&tx, id).await?.is_none() {
                return Err(no_group(id).into());
            }
            let added = add_rows(&tx, id, candidates.clone(), join_seq, now).await?;
            tx.commit().await?;
            Ok(added)
        })
        .await
    }

    async fn remove_member(&self, id: i64, user: UserId) -> Result<bool> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if current_member(&tx, id, user).await?.is_none() {
                return Ok(false);
            }
            let version = next_version(&tx, id).await?;
            tx.execute(
                "UPDATE group_members SET has_left = true, version = $3 WHERE group_id = $1 AND user_id = $2",
                &[&id, &user, &version],
            )
            .await?;
            tx.execute("UPDATE groups SET member_count = member_count - 1 WHERE id = $1", &[&id]).await?;
            tx.execute(
                "DELETE FROM conversation_members WHERE user_id = $1 AND conversation_id = $2",
                &[&user, &ConversationId::Group(id).to_string()],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn set_role(&self, id: i64, user: UserId, role: Role) -> Result<Member> {
        self.change_member(id, user, "role = $3", &role.as_str()).await
    }

    async fn set_muted_until(&self, id: i64, user: UserId, until: i64) -> Result<Member> {
        self.change_member(id, user, "muted_until = $3", &until).await
    }

    async fn set_nickname(&self, id: i64, user: UserId, nickname: &str) -> Result<Member> {
        self.change_member(id, user, "nickname = $3", &nickname).await
    }

    async fn member(&self, id: i64, user: UserId) -> Result<Option<Member>> {
        self.read(|client| async move { current_member(&client, id, user).await }).await
    }

    async fn members(&self, id: i64, after_user: UserId, limit: u32) -> Result<Vec<Member>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|client| async move {
            // A range scan of the primary key (group_id, user_id).
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {MEMBER_COLUMNS} FROM group_members
                      WHERE group_id = $1 AND user_id > $2 AND NOT has_left ORDER BY user_id LIMIT $3"
                ))
                .await?;
            map_rows(client.query(&stmt, &[&id, &after_user, &i64::from(limit)]).await?, member_row)
        })
        .await
    }

    async fn member_ids(&self, id: i64) -> Result<MemberIds> {
        self.read(|client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT user_id, join_seq FROM group_members WHERE group_id = $1 AND NOT has_left ORDER BY user_id",
                )
                .await?;
            let mut out = MemberIds::default();
            for row in client.query(&stmt, &[&id]).await? {
                out.ids.push(row.try_get(0)?);
                out.join_seqs.push(u64_col(&row, 1)?);
            }
            Ok(out)
        })
        .await
    }

    async fn member_changes(&self, id: i64, since: u64) -> Result<MemberChanges> {
        self.read(|mut client| async move {
            // One snapshot: the version and the rows agree.
            let tx = snapshot(&mut client).await?;
            let version = tx
                .query_opt("SELECT member_version FROM groups WHERE id = $1", &[&id])
                .await?
                .map(|r| u64_col(&r, 0))
                .transpose()?
                .unwrap_or(0);
            let rows = tx
                .query(
                    &format!(
                        "SELECT {MEMBER_COLUMNS} FROM group_members WHERE group_id = $1 AND version > $2
                          ORDER BY user_id"
                    ),
                    &[&id, &cursor(since)],
                )
                .await?;
            Ok(MemberChanges { version, members: map_rows(rows, member_row)? })
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
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if group_by_id(&tx, id).await?.is_none() {
                return Err(no_group(id).into());
            }
            let pending = tx
                .query_opt(
                    "SELECT id FROM group_join_requests WHERE group_id = $1 AND user_id = $2 AND status = 'pending'",
                    &[&id, &user],
                )
                .await?;
            let row = match pending {
                Some(pending) => {
                    let request_id: i64 = pending.try_get(0)?;
                    tx.query_one(
                        &format!(
                            "UPDATE group_join_requests SET inviter_id = $2, message = $3, updated_at = $4
                              WHERE id = $1 RETURNING {JOIN_REQUEST_COLUMNS}"
                        ),
                        &[&request_id, &inviter, &message, &now],
                    )
                    .await?
                }
                None => {
                    tx.query_one(
                        &format!(
                            "INSERT INTO group_join_requests
                                 (group_id, user_id, inviter_id, message, status, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, 'pending', $5, $5) RETURNING {JOIN_REQUEST_COLUMNS}"
                        ),
                        &[&id, &user, &inviter, &message, &now],
                    )
                    .await?
                }
            };
            let request = join_request_row(&row)?;
            tx.commit().await?;
            Ok(request)
        })
        .await
    }

    async fn join_request(&self, request_id: i64) -> Result<Option<JoinRequest>> {
        self.read(|client| async move {
            let row = client
                .query_opt(
                    &format!("SELECT {JOIN_REQUEST_COLUMNS} FROM group_join_requests WHERE id = $1"),
                    &[&request_id],
                )
                .await?;
            row.as_ref().map(join_request_row).transpose()
        })
        .await
    }

    async fn pending_join_requests(&self, id: i64) -> Result<Vec<JoinRequest>> {
        self.read(|client| async move {
            let rows = client
                .query(
                    &format!(
                        "SELECT {JOIN_REQUEST_COLUMNS} FROM group_join_requests
                          WHERE group_id = $1 AND status = 'pending' ORDER BY created_at, id"
                    ),
                    &[&id],
                )
                .await?;
            map_rows(rows, join_request_row)
        })
        .await
    }

    async fn resolve_join_request(&self, request_id: i64, accept: bool, now: i64) -> Result<JoinRequest> {
        let status = if accept { RequestStatus::Accepted } else { RequestStatus::Declined };
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE group_join_requests SET status = $2, updated_at = $3
                          WHERE id = $1 AND status = 'pending' RETURNING {JOIN_REQUEST_COLUMNS}"
                    ),
                    &[&request_id, &status.as_str(), &now],
                )
                .await?;
            let request = row
                .as_ref()
                .map(join_request_row)
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("pending join request {request_id}")))?;
            tx.commit().await?;
            Ok(request)
        })
        .await
    }
}

impl PgStore {
    /// Sets one column of a current member (see [`update_member`]) in its
    /// own transaction; `NotFound` for non-members, without a version bump.
    async fn change_member(&self, id: i64, user: UserId, set: &str, value: &(dyn ToSql + Sync)) -> Result<Member> {
        self.write(|mut client| async move {
            let tx = serializable(&mut client).await?;
            if current_member(&tx, id, user).await?.is_none() {
                return Err(not_member(id, user).into());
            }
            let member = update_member(&tx, id, user, set, value).await?;
            tx.commit().await?;
            Ok(member)
        })
        .await
    }
}

/// Makes `users` (distinct) current members of group `id` with the given
/// roles: new rows, or revived tombstones (nickname and mute cleared), each
/// with the next member version in input order, plus their conversation
/// rows with `read_seq = join_seq`. Current members are skipped untouched.
/// Returns the rows written, in input order.
async fn add_rows(
    tx: &impl GenericClient,
    id: i64,
    users: Vec<(UserId, Role)>,
    join_seq: u64,
    now: i64,
) -> Try<Vec<Member>> {
    let version: i64 = tx.query_one("SELECT member_version FROM groups WHERE id = $1", &[&id]).await?.try_get(0)?;
    let ids: Vec<i64> = users.iter().map(|(u, _)| *u).collect();
    let current: HashSet<i64> = tx
        .query(
            "SELECT user_id FROM group_members WHERE group_id = $1 AND user_id = ANY($2) AND NOT has_left",
            &[&id, &ids],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let added: Vec<Member> = users
        .into_iter()
        .filter(|(user, _)| !current.contains(user))
        .enumerate()
        .map(|(i, (user_id, role))| Member {
            group_id: id,
            user_id,
            role,
            nickname: String::new(),
            muted_until: 0,
            joined_at: now,
            join_seq,
            version: (version + 1 + i as i64) as u64,
            left: false,
        })
        .collect();
    let users: Vec<i64> = added.iter().map(|m| m.user_id).collect();
    let roles: Vec<&str> = added.iter().map(|m| m.role.as_str()).collect();
    let versions: Vec<i64> = added.iter().map(|m| m.version as i64).collect();
    let join_seq = cursor(join_seq);
    tx.execute(
        "INSERT INTO group_members
             (group_id, user_id, role, nickname, muted_until, joined_at, join_seq, version, has_left)
         SELECT $1, u, r, '', 0, $4, $5, v, false FROM unnest($2::bigint[], $3::text[], $6::bigint[]) AS q (u, r, v)
         ON CONFLICT (group_id, user_id) DO UPDATE
         SET role = excluded.role, nickname = '', muted_until = 0, joined_at = excluded.joined_at,
             join_seq = excluded.join_seq, version = excluded.version, has_left = false",
        &[&id, &users, &roles, &now, &join_seq, &versions],
    )
    .await?;
    // A leftover row (there should be none) is reset to the join position.
    tx.execute(
        "INSERT INTO conversation_members (user_id, conversation_id, read_seq, joined_at, mention_seq)
         SELECT u, $2, $3, $4, 0 FROM unnest($1::bigint[]) AS u
         ON CONFLICT (user_id, conversation_id) DO UPDATE
         SET read_seq = excluded.read_seq, joined_at = excluded.joined_at, mention_seq = 0",
        &[&users, &ConversationId::Group(id).to_string(), &join_seq, &now],
    )
    .await?;
    tx.execute(
        "UPDATE groups SET member_version = $2, member_count = member_count + $3 WHERE id = $1",
        &[&id, &(version + added.len() as i64), &(added.len() as i64)],
    )
    .await?;
    Ok(added)
}

/// Bumps the group's member version and returns the new value.
async fn next_version(tx: &impl GenericClient, id: i64) -> Try<i64> {
    let row = tx
        .query_opt(
            "UPDATE groups SET member_version = member_version + 1 WHERE id = $1 RETURNING member_version",
            &[&id],
        )
        .await?;
    Ok(row.ok_or_else(|| no_group(id))?.try_get(0)?)
}

/// Sets one column of a current member (`set`, e.g. `"role = $3"`, binds
/// `value` as `$3`) with the next member version; returns the new row.
async fn update_member(
    tx: &impl GenericClient,
    id: i64,
    user: UserId,
    set: &str,
    value: &(dyn ToSql + Sync),
) -> Try<Member> {
    let version = next_version(tx, id).await?;
    let row = tx
        .query_opt(
            &format!(
                "UPDATE group_members SET {set}, version = $4
                  WHERE group_id = $1 AND user_id = $2 AND NOT has_left RETURNING {MEMBER_COLUMNS}"
            ),
            &[&id, &user, value, &version],
        )
        .await?;
    row.as_ref().map(member_row).transpose()?.ok_or_else(|| not_member(id, user).into())
}

async fn group_by_id(tx: &impl GenericClient, id: i64) -> Try<Option<Group>> {
    let stmt = tx.prepare_cached(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1")).await?;
    tx.query_opt(&stmt, &[&id]).await?.as_ref().map(group_row).transpose()
}

/// The member row of `user` if they are a current member.
async fn current_member(tx: &impl GenericClient, id: i64, user: UserId) -> Try<Option<Member>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM group_members WHERE group_id = $1 AND user_id = $2 AND NOT has_left"
        ))
        .await?;
    tx.query_opt(&stmt, &[&id, &user]).await?.as_ref().map(member_row).transpose()
}

/// Maps a row selected with [`GROUP_COLUMNS`].
fn group_row(row: &Row) -> Try<Group> {
    Ok(Group {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        avatar: row.try_get(2)?,
        notice: row.try_get(3)?,
        intro: row.try_get(4)?,
        owner: row.try_get(5)?,
        join_policy: text_enum_col(row, 6, |s| s.parse().ok())?,
        invite_needs_approval: row.try_get(7)?,
        mute_all: row.try_get(8)?,
        dismissed: row.try_get(9)?,
        created_at: row.try_get(10)?,
        member_count: row.try_get::<_, i64>(11)?.clamp(0, i64::from(u32::MAX)) as u32,
        member_version: u64_col(row, 12)?,
    })
}

/// Maps a row selected with [`MEMBER_COLUMNS`].
fn member_row(row: &Row) -> Try<Member> {
    Ok(Member {
        group_id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        role: text_enum_col(row, 2, |s| s.parse().ok())?,
        nickname: row.try_get(3)?,
        muted_until: row.try_get(4)?,
        joined_at: row.try_get(5)?,
        join_seq: u64_col(row, 6)?,
        version: u64_col(row, 7)?,
        left: row.try_get(8)?,
    })
}

/// Maps a row selected with [`JOIN_REQUEST_COLUMNS`].
fn join_request_row(row: &Row) -> Try<JoinRequest> {
    Ok(JoinRequest {
        id: row.try_get(0)?,
        group_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        inviter: row.try_get(3)?,
        message: row.try_get(4)?,
        status: text_enum_col(row, 5, RequestStatus::parse)?,
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}
