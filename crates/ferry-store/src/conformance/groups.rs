//! Groups, their members and join requests: [`GroupStore`](crate::GroupStore).

use std::{collections::HashSet, sync::Arc};

use ferry_core::{ConversationId, JoinPolicy, Role, UserId};

use super::{append, assert_not_found, group, mentioning, new_group, send_n, user, users};
use crate::{GroupPatch, Member, RequestStatus, Store};

/// Creation sets up roles, counts and the conversation for every member.
pub async fn groups_create_with_members(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let dave = user(&*store, "dave").await;
    let mut spec = new_group("friends", owner, vec![bob, carol, bob, owner]);
    spec.join_policy = JoinPolicy::InviteOnly;
    spec.invite_needs_approval = true;
    let (group, members) = store.create_group(spec).await.expect("create_group");

    assert_eq!(
        (group.name.as_str(), group.avatar.as_str(), group.intro.as_str()),
        ("friends", "https://example.test/friends.png", "about friends")
    );
    assert_eq!((group.owner, group.join_policy, group.invite_needs_approval), (owner, JoinPolicy::InviteOnly, true));
    assert_eq!((group.mute_all, group.dismissed, group.created_at, group.member_count), (false, false, 1000, 3));
    assert_eq!(user_ids(&members), [owner, bob, carol], "owner first, duplicates dropped");
    assert_eq!(members.iter().map(|m| m.role).collect::<Vec<_>>(), [Role::Owner, Role::Member, Role::Member]);
    assert!(members.iter().all(|m| m.join_seq == 0 && !m.left && m.joined_at == 1000 && m.group_id == group.id));
    assert_eq!(store.group(group.id).await.expect("group"), Some(group.clone()));
    assert_eq!(store.group(group.id + 1000).await.expect("unknown"), None);
    assert_eq!(store.member(group.id, bob).await.expect("member").map(|m| m.role), Some(Role::Member));
    assert_eq!(store.member(group.id, dave).await.expect("non-member"), None);

    let conv = ConversationId::Group(group.id);
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 0);
    for user in [owner, bob, carol] {
        let state = store.conversation_of(user, conv).await.expect("conversation_of").expect("a member");
        assert_eq!((state.max_seq, state.read_seq, state.unread, state.mentioned), (0, 0, 0, false));
        assert_eq!(conversation_ids(&*store, user).await, [conv]);
        assert_eq!(store.groups_of(user).await.expect("groups_of"), vec![group.clone()]);
        assert_eq!(store.count_groups_of(user).await.expect("count"), 1);
    }
    assert!(store.conversations_of(dave).await.expect("dave").is_empty());
    assert!(store.groups_of(dave).await.expect("dave").is_empty());

    let (second, _) = store.create_group(new_group("second", bob, vec![owner])).await.expect("second");
    assert!(second.id > group.id);
    let ids: Vec<i64> = store.groups_of(owner).await.expect("groups_of").iter().map(|g| g.id).collect();
    assert_eq!(ids, [group.id, second.id], "by id");
    assert_eq!(store.count_groups_of(owner).await.expect("count"), 2);
    assert!(store.direct_peers(owner).await.expect("direct_peers").is_empty(), "group members are not direct peers");
}

/// A patch changes only the fields it names.
pub async fn groups_update_patch(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let (before, _) = store.create_group(new_group("old", owner, vec![])).await.expect("create");
    let patch = GroupPatch {
        name: Some("new".into()),
        notice: Some("read me".into()),
        join_policy: Some(JoinPolicy::Free),
        mute_all: Some(true),
        ..Default::default()
    };
    let after = store.update_group(before.id, patch).await.expect("update_group");
    assert_eq!(
        (after.name.as_str(), after.notice.as_str(), after.join_policy, after.mute_all),
        ("new", "read me", JoinPolicy::Free, true)
    );
    assert_eq!(
        (after.avatar.as_str(), after.intro.as_str(), after.invite_needs_approval),
        (before.avatar.as_str(), before.intro.as_str(), false)
    );
    assert_eq!(store.group(before.id).await.expect("group"), Some(after.clone()));
    let patch = GroupPatch {
        avatar: Some(String::new()),
        intro: Some("i".into()),
        invite_needs_approval: Some(true),
        mute_all: Some(false),
        ..Default::default()
    };
    let again = store.update_group(before.id, patch).await.expect("update again");
    assert_eq!((again.name.as_str(), again.avatar.as_str(), again.intro.as_str()), ("new", "", "i"));
    assert_eq!((again.invite_needs_approval, again.mute_all, again.join_policy), (true, false, JoinPolicy::Free));
    assert_eq!(store.update_group(before.id, GroupPatch::default()).await.expect("empty patch"), again);
    assert_not_found(store.update_group(before.id + 1000, GroupPatch::default()).await, "unknown group");
}

/// The old owner becomes an admin, the new one the owner; both rows change.
pub async fn groups_transfer_ownership(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let (group, _) = store.create_group(new_group("g", owner, vec![bob])).await.expect("create");

    let moved = store.transfer_ownership(group.id, bob).await.expect("transfer");
    assert_eq!(moved.owner, bob);
    assert_eq!(store.group(group.id).await.expect("group").expect("exists").owner, bob);
    assert_eq!(store.member(group.id, bob).await.expect("bob").expect("member").role, Role::Owner);
    assert_eq!(store.member(group.id, owner).await.expect("old").expect("member").role, Role::Admin);
    let changes = store.member_changes(group.id, group.member_version).await.expect("changes");
    assert_eq!(changes.members.len(), 2, "both rows re-versioned");
    assert!(changes.version > group.member_version);
    assert_eq!(moved.member_version, changes.version);
    assert_not_found(store.transfer_ownership(group.id, carol).await, "to a non-member");
    assert_not_found(store.transfer_ownership(group.id + 1000, bob).await, "unknown group");
    assert_eq!(
        store.group(group.id).await.expect("group").expect("exists").owner,
        bob,
        "failed transfers change nothing"
    );
}

/// A dismissed group keeps its members but no longer counts.
pub async fn groups_dismiss(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let first = group(&*store, owner, vec![bob]).await;
    let second = group(&*store, owner, vec![]).await;
    assert_eq!(store.count_groups_of(owner).await.expect("count"), 2);

    let dismissed = store.dismiss_group(first).await.expect("dismiss");
    assert!(dismissed.dismissed);
    assert!(store.group(first).await.expect("group").expect("kept").dismissed);
    assert_eq!(store.count_groups_of(owner).await.expect("count"), 1);
    assert_eq!(store.count_groups_of(bob).await.expect("count"), 0);
    let ids: Vec<i64> = store.groups_of(owner).await.expect("groups_of").iter().map(|g| g.id).collect();
    assert_eq!(ids, [first, second], "dismissed groups are still listed");
    assert_eq!(store.member_ids(first).await.expect("member_ids").len(), 2, "members are kept");
    assert_not_found(store.dismiss_group(second + 1000).await, "unknown group");
}

/// Adding skips current members and revives former ones; conversation
/// membership follows, starting at the join seq.
pub async fn group_members_add_remove_readd(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![bob]).await;
    let conv = ConversationId::Group(id);
    send_n(&*store, conv, owner, 3, 100).await;

    let added = store.add_members(id, &[bob, carol, carol, owner], 3, 2000).await.expect("add");
    assert_eq!(user_ids(&added), [carol], "current members and duplicates are skipped");
    assert_eq!((added[0].role, added[0].join_seq, added[0].joined_at, added[0].left), (Role::Member, 3, 2000, false));
    assert_eq!(store.member(id, carol).await.expect("member"), Some(added[0].clone()));
    assert_eq!(store.group(id).await.expect("group").expect("exists").member_count, 3);
    let state = store.conversation_of(carol, conv).await.expect("state").expect("carol is in the conversation");
    assert_eq!((state.max_seq, state.read_seq, state.unread), (3, 3, 0), "history before joining is not unread");
    send_n(&*store, conv, owner, 1, 200).await;
    assert_eq!(store.conversation_of(carol, conv).await.expect("state").expect("member").unread, 1);
    assert!(store.add_members(id, &[carol], 4, 2001).await.expect("again").is_empty());
    assert_not_found(store.add_members(id + 1000, &[carol], 0, 1).await, "unknown group");

    store.set_nickname(id, bob, "B").await.expect("nickname");
    store.set_muted_until(id, bob, 99_999).await.expect("mute");
    store.set_role(id, bob, Role::Admin).await.expect("admin");
    assert!(store.remove_member(id, bob).await.expect("remove"));
    assert!(!store.remove_member(id, bob).await.expect("remove again"));
    assert!(!store.remove_member(id, user(&*store, "stranger").await).await.expect("never a member"));
    assert_eq!(store.member(id, bob).await.expect("member"), None);
    assert_eq!(store.group(id).await.expect("group").expect("exists").member_count, 2);
    assert!(conversation_ids(&*store, bob).await.is_empty(), "a removed member leaves the conversation");
    assert_eq!(store.conversation_of(bob, conv).await.expect("state"), None);
    assert_not_found(store.mark_read(bob, conv, 4).await, "former member");
    assert!(store.groups_of(bob).await.expect("groups_of").is_empty());
    assert_eq!(store.count_groups_of(bob).await.expect("count"), 0);

    let back = store.add_members(id, &[bob], 4, 3000).await.expect("re-add");
    assert_eq!(user_ids(&back), [bob]);
    let row = &back[0];
    assert_eq!(
        (row.role, row.nickname.as_str(), row.muted_until, row.join_seq, row.joined_at),
        (Role::Member, "", 0, 4, 3000)
    );
    assert_eq!(store.member(id, bob).await.expect("member"), Some(row.clone()));
    let state = store.conversation_of(bob, conv).await.expect("state").expect("back in");
    assert_eq!((state.read_seq, state.unread), (4, 0));
    assert_eq!(store.group(id).await.expect("group").expect("exists").member_count, 3);
    assert_eq!(store.member_ids(id).await.expect("ids").len(), 3);
}

/// Role, mute and nickname change current members only.
pub async fn group_member_settings(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![bob, carol]).await;

    let admin = store.set_role(id, bob, Role::Admin).await.expect("set_role");
    assert_eq!((admin.user_id, admin.role), (bob, Role::Admin));
    let muted = store.set_muted_until(id, bob, 5000).await.expect("mute");
    assert_eq!((muted.muted_until, muted.role), (5000, Role::Admin));
    let named = store.set_nickname(id, bob, "Bobby").await.expect("nickname");
    assert_eq!((named.nickname.as_str(), named.muted_until), ("Bobby", 5000));
    assert!(admin.version < muted.version && muted.version < named.version, "each change takes a new version");
    assert_eq!(store.member(id, bob).await.expect("member"), Some(named.clone()));
    let unmuted = store.set_muted_until(id, bob, 0).await.expect("unmute");
    assert_eq!(unmuted.muted_until, 0);
    assert_eq!(store.member(id, carol).await.expect("carol").expect("member").role, Role::Member, "others untouched");

    let stranger = user(&*store, "stranger").await;
    store.remove_member(id, carol).await.expect("remove");
    for who in [stranger, carol] {
        assert_not_found(store.set_role(id, who, Role::Admin).await, "set_role");
        assert_not_found(store.set_muted_until(id, who, 1).await, "set_muted_until");
        assert_not_found(store.set_nickname(id, who, "x").await, "set_nickname");
    }
    assert_not_found(store.set_role(id + 1000, bob, Role::Admin).await, "unknown group");
    assert_eq!(store.member(id, carol).await.expect("member"), None, "a failed change does not revive");
}

/// Keyset pages over current members by user id, and the id list.
pub async fn group_members_pages_and_ids(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let others = users(&*store, "m", 24).await;
    let id = group(&*store, owner, others.clone()).await;
    store.remove_member(id, others[5]).await.expect("remove");
    store.remove_member(id, others[17]).await.expect("remove");

    let mut expected: Vec<UserId> =
        std::iter::once(owner).chain(others.iter().copied()).filter(|u| *u != others[5] && *u != others[17]).collect();
    expected.sort_unstable();
    let ids = store.member_ids(id).await.expect("member_ids");
    assert_eq!(ids.ids, expected);
    assert!(ids.join_seqs.iter().all(|&j| j == 0), "initial members joined at 0: {ids:?}");

    // A member added at seq 7 is listed with it and receives only what
    // comes after.
    let late = users(&*store, "late", 1).await[0];
    store.add_members(id, &[late], 7, 1).await.expect("add");
    let ids = store.member_ids(id).await.expect("member_ids");
    let at = ids.ids.iter().position(|u| *u == late).expect("listed");
    assert_eq!(ids.join_seqs[at], 7);
    assert!(!ids.receivers(7).contains(&late));
    assert_eq!(ids.receivers(7).len(), expected.len());
    assert!(ids.receivers(8).contains(&late));
    assert_eq!(ids.receivers(8).len(), expected.len() + 1);
    store.remove_member(id, late).await.expect("remove");

    let mut walked = Vec::new();
    let mut after = UserId::MIN;
    loop {
        let page = store.members(id, after, 5).await.expect("members");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 5);
        assert!(page.iter().all(|m| !m.left && m.group_id == id));
        after = page.last().map_or(after, |m| m.user_id);
        walked.extend(user_ids(&page));
    }
    assert_eq!(walked, expected, "every current member once, by user id");
    assert_eq!(user_ids(&store.members(id, expected[2], 2).await.expect("page")), expected[3..5]);
    assert!(store.members(id, UserId::MIN, 0).await.expect("limit 0").is_empty());
    assert!(store.members(id + 1000, UserId::MIN, 10).await.expect("unknown").is_empty());
    assert!(store.member_ids(id + 1000).await.expect("unknown").is_empty());
}

/// Every member change takes a new version; changes include tombstones.
pub async fn group_member_changes_with_tombstones(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let [bob, carol, dave]: [UserId; 3] = users(&*store, "u", 3).await.try_into().expect("three");
    let (group, members) = store.create_group(new_group("g", owner, vec![bob, carol])).await.expect("create");
    let mut versions: Vec<u64> = members.iter().map(|m| m.version).collect();
    assert!(versions.iter().all(|&v| v > 0 && v <= group.member_version));
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 3, "one version per row");
    let all = store.member_changes(group.id, 0).await.expect("all");
    assert_eq!(all.version, group.member_version);
    assert_eq!(all.members.len(), 3);
    assert!(all.members.windows(2).all(|w| w[0].user_id < w[1].user_id), "by user id");

    let v0 = group.member_version;
    assert!(store.member_changes(group.id, v0).await.expect("none").members.is_empty());
    store.remove_member(group.id, bob).await.expect("remove");
    store.add_members(group.id, &[dave], 0, 2000).await.expect("add");
    store.set_nickname(group.id, carol, "C").await.expect("nickname");
    let changes = store.member_changes(group.id, v0).await.expect("changes");
    assert_eq!(changes.version, v0 + 3, "one increment per change");
    let mut expected = vec![bob, carol, dave];
    expected.sort_unstable();
    assert_eq!(user_ids(&changes.members), expected);
    let tomb = changes.members.iter().find(|m| m.user_id == bob).expect("bob's tombstone");
    assert!(tomb.left);
    assert!(changes.members.iter().all(|m| m.version > v0 && m.version <= changes.version));
    assert_eq!(store.group(group.id).await.expect("group").expect("exists").member_version, changes.version);

    let later = store.member_changes(group.id, v0 + 2).await.expect("later");
    assert_eq!(user_ids(&later.members), [carol], "only after since");
    assert_eq!(store.member_changes(group.id, u64::MAX).await.expect("future").members, vec![]);
    assert!(store.member_changes(group.id, 0).await.expect("all").members.iter().any(|m| m.user_id == bob && m.left));
}

/// Join requests: one pending per (group, user), refreshed in place.
pub async fn group_join_requests(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let carol = user(&*store, "carol").await;
    let id = group(&*store, owner, vec![]).await;
    let other = group(&*store, owner, vec![]).await;

    let first = store.upsert_join_request(id, bob, None, "let me in", 10).await.expect("request");
    assert_eq!((first.group_id, first.user_id, first.inviter, first.status), (id, bob, None, RequestStatus::Pending));
    assert_eq!((first.message.as_str(), first.created_at, first.updated_at), ("let me in", 10, 10));
    let refreshed = store.upsert_join_request(id, bob, Some(owner), "invited", 20).await.expect("refresh");
    assert_eq!(refreshed.id, first.id, "refreshed in place");
    assert_eq!(
        (refreshed.inviter, refreshed.message.as_str(), refreshed.created_at, refreshed.updated_at),
        (Some(owner), "invited", 10, 20)
    );
    let carols = store.upsert_join_request(id, carol, None, "", 30).await.expect("carol");
    store.upsert_join_request(other, carol, None, "", 31).await.expect("elsewhere");
    assert_eq!(store.join_request(first.id).await.expect("by id"), Some(refreshed.clone()));
    assert_eq!(store.join_request(first.id + 1000).await.expect("unknown"), None);
    assert_eq!(
        store.pending_join_requests(id).await.expect("pending"),
        vec![refreshed.clone(), carols.clone()],
        "oldest first"
    );

    let accepted = store.resolve_join_request(first.id, true, 40).await.expect("accept");
    assert_eq!((accepted.status, accepted.updated_at), (RequestStatus::Accepted, 40));
    assert_eq!(store.member(id, bob).await.expect("member"), None, "adding is the caller's step");
    let declined = store.resolve_join_request(carols.id, false, 41).await.expect("decline");
    assert_eq!(declined.status, RequestStatus::Declined);
    assert_not_found(store.resolve_join_request(first.id, false, 42).await, "already resolved");
    assert_not_found(store.resolve_join_request(first.id + 1000, true, 42).await, "unknown request");
    assert!(store.pending_join_requests(id).await.expect("pending").is_empty());
    assert_eq!(store.pending_join_requests(other).await.expect("other").len(), 1);

    let again = store.upsert_join_request(id, bob, None, "again", 50).await.expect("new request");
    assert_ne!(again.id, first.id, "a resolved request is not reused");
    assert_eq!(store.pending_join_requests(id).await.expect("pending"), vec![again]);
    assert_not_found(store.upsert_join_request(other + 1000, bob, None, "", 1).await, "unknown group");
}

/// Messages to a group write no conversation members: only the group store
/// does.
pub async fn group_messages_add_no_members(store: Arc<dyn Store>) {
    let owner = user(&*store, "owner").await;
    let bob = user(&*store, "bob").await;
    let outsider = user(&*store, "outsider").await;
    let id = group(&*store, owner, vec![bob]).await;
    let conv = ConversationId::Group(id);
    send_n(&*store, conv, outsider, 2, 100).await;
    send_n(&*store, conv, owner, 1, 200).await;
    assert_eq!(store.max_seq(conv).await.expect("max_seq"), 3);
    assert!(store.conversations_of(outsider).await.expect("outsider").is_empty());
    assert_eq!(store.conversation_of(outsider, conv).await.expect("outsider"), None);
    let state = store.conversation_of(bob, conv).await.expect("bob").expect("member");
    assert_eq!((state.max_seq, state.unread, state.last_time), (3, 3, 200));
    assert_eq!(store.member_ids(id).await.expect("ids").len(), 2);
    assert!(store.direct_peers(owner).await.expect("peers").is_empty());
}

/// A 10,000-member group is created in one call and walked exactly once in
/// pages of 1000; a large invitation is one call too.
pub async fn group_of_ten_thousand(store: Arc<dyn Store>) {
    // Members need not be registered users: the store keeps ids.
    let owner = user(&*store, "owner").await;
    let members: Vec<UserId> = (1..10_000).map(|i| owner + i).collect();
    let (group, rows) = store.create_group(new_group("big", owner, members.clone())).await.expect("create");
    assert_eq!(group.member_count, 10_000);
    assert_eq!(rows.len(), 10_000);
    let ids = store.member_ids(group.id).await.expect("member_ids");
    assert_eq!(ids.len(), 10_000);

    let mut seen = HashSet::new();
    let mut after = UserId::MIN;
    let mut pages = 0;
    loop {
        let page = store.members(group.id, after, 1000).await.expect("members");
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 1000);
        for m in &page {
            assert!(m.user_id > after);
            assert!(seen.insert(m.user_id), "each member once");
        }
        after = page.last().map_or(after, |m| m.user_id);
    }
    assert_eq!((pages, seen.len()), (10, 10_000));
    assert_eq!(seen, ids.ids.iter().copied().collect::<HashSet<_>>());

    let conv = ConversationId::Group(group.id);
    append(&*store, vec![mentioning(conv, owner, "hello all", vec![], true)]).await;
    let last = *members.last().expect("members");
    let state = store.conversation_of(last, conv).await.expect("state").expect("member");
    assert_eq!((state.unread, state.mentioned), (1, true));

    let invited: Vec<UserId> = (10_000..15_000).map(|i| owner + i).collect();
    let added = store.add_members(group.id, &invited, 1, 2000).await.expect("add 5000");
    assert_eq!(added.len(), 5_000);
    assert_eq!(store.group(group.id).await.expect("group").expect("exists").member_count, 15_000);
    assert_eq!(store.member_ids(group.id).await.expect("ids").len(), 15_000);
    let changes = store.member_changes(group.id, group.member_version).await.expect("changes");
    assert_eq!(changes.members.len(), 5_000);
}

/// The conversations `user` is in.
async fn conversation_ids(store: &dyn Store, user: UserId) -> Vec<ConversationId> {
    store.conversations_of(user).await.expect("conversations_of").iter().map(|s| s.conversation).collect()
}

fn user_ids(members: &[Member]) -> Vec<UserId> {
    members.iter().map(|m| m.user_id).collect()
}
