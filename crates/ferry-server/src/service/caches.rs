//! Node-local caches that keep per-message and per-connection checks off the
//! store: sessions and users (authentication), group facts, memberships and
//! member lists (group sends and fan-out), blocklists, friends and presence
//! peers (direct-message checks, presence).
//!
//! Every cache is bounded ([`CacheConfig`]) and counts hits and misses. A
//! service that commits a change calls `bus.invalidate(..)`, which lands in
//! [`Caches::apply`] on every node; see [`crate::cache`] for why a load that
//! raced with the change cannot cache the old value.

use std::{collections::HashSet, sync::Arc, time::Duration};

use ferry_core::{ApiError, UserId, group::GroupFacts};
use ferry_store::{Member, MemberIds, Session, Store, User};

use crate::{
    bus::Invalidation,
    cache::{CacheReport, LoadingCache},
    config::CacheConfig,
    error::store_error,
};

/// Every node-local cache.
pub struct Caches {
    store: Arc<dyn Store>,
    /// Token hash (SHA-256) → session (found sessions only).
    pub sessions: LoadingCache<TokenHash, Session>,
    /// User id → account (found users only: an id registered later must
    /// not be remembered as missing).
    pub users: LoadingCache<UserId, User>,
    /// Group id → the facts the permission rules take.
    groups: LoadingCache<i64, GroupFacts>,
    /// (group, user) → the membership, or `None` for outsiders.
    memberships: LoadingCache<(i64, UserId), Option<Member>>,
    /// Group id → current member ids, for fan-out (weighted by length).
    member_ids: LoadingCache<i64, MemberIds>,
    /// User → whom they blocked.
    blocks: LoadingCache<UserId, HashSet<UserId>>,
    /// User → their friends.
    friends: LoadingCache<UserId, HashSet<UserId>>,
    /// User → whom their presence reaches: friends and direct-chat peers.
    peers: LoadingCache<UserId, Vec<UserId>>,
}

impl Caches {
    pub fn new(store: Arc<dyn Store>, c: &CacheConfig) -> Self {
        Self::with_ttl(store, c, None)
    }

    /// Caches whose entries are served for at most `ttl` (cluster mode: a
    /// lost invalidation is healed by then); `None`: until evicted.
    pub fn with_ttl(store: Arc<dyn Store>, c: &CacheConfig, ttl: Option<Duration>) -> Self {
        Self {
            store,
            sessions: LoadingCache::new("sessions", c.sessions).with_ttl(ttl),
            users: LoadingCache::new("users", c.users).with_ttl(ttl),
            groups: LoadingCache::new("groups", c.groups).with_ttl(ttl),
            memberships: LoadingCache::new("memberships", c.memberships).with_ttl(ttl),
            member_ids: LoadingCache::weighted("group_member_ids", c.group_member_ids, |v: &MemberIds| {
                len_weight(v.len())
            })
            .with_ttl(ttl),
            blocks: LoadingCache::weighted("blocks", c.contact_ids, |v: &HashSet<UserId>| len_weight(v.len()))
                .with_ttl(ttl),
            friends: LoadingCache::weighted("friends", c.contact_ids, |v: &HashSet<UserId>| len_weight(v.len()))
                .with_ttl(ttl),
            peers: LoadingCache::weighted("presence_peers", c.contact_ids, |v: &Vec<UserId>| len_weight(v.len()))
                .with_ttl(ttl),
        }
    }

    /// Loads stored sessions and their users, page by page, until the
    /// session cache is full or every session is in; returns how many were
    /// cached. Safe beside live traffic: tickets are taken before each page
    /// is read, so a logout or profile change meanwhile wins.
    pub async fn warm_sessions(&self) -> Result<usize, ApiError> {
        const PAGE: usize = 1000;
        let mut after = Vec::new();
        let mut warmed = 0;
        loop {
            let (held, capacity) = self.sessions.fill();
            if held >= capacity {
                break;
            }
            let (session_tickets, user_tickets) = (self.sessions.tickets(), self.users.tickets());
            let page = self.store.sessions_after(&after, PAGE).await.map_err(store_error)?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.token_hash);
            let mut ids: Vec<UserId> = page.iter().map(|s| s.user_id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.retain(|id| !self.users.contains(id));
            for user in self.store.users_by_ids(&ids).await.map_err(store_error)? {
                self.users.insert_since(user.id, Arc::new(user), &user_tickets);
            }
            for session in page {
                if let Some(key) = token_key(&session.token_hash) {
                    warmed += usize::from(self.sessions.insert_since(key, Arc::new(session), &session_tickets));
                }
            }
        }
        Ok(warmed)
    }

    /// Drops what `what` made stale.
    pub fn apply(&self, what: &Invalidation) {
        match what {
            Invalidation::User(u) => self.users.invalidate(u),
            Invalidation::Session(hash) => {
                if let Some(key) = token_key(hash) {
                    self.sessions.invalidate(&key);
                }
            }
            Invalidation::Group(g) => self.groups.invalidate(g),
            Invalidation::Member { group, user } => self.memberships.invalidate(&(*group, *user)),
            Invalidation::MemberList(g) => self.member_ids.invalidate(g),
            Invalidation::Blocks(u) => self.blocks.invalidate(u),
            Invalidation::Friends(u) => {
                self.friends.invalidate(u);
                self.peers.invalidate(u);
            }
            Invalidation::Peers(u) => self.peers.invalidate(u),
        }
    }

    /// Counters of every cache, for `/metrics`.
    pub fn reports(&self) -> Vec<CacheReport> {
        vec![
            self.sessions.report(),
            self.users.report(),
            self.groups.report(),
            self.memberships.report(),
            self.member_ids.report(),
            self.blocks.report(),
            self.friends.report(),
            self.peers.report(),
        ]
    }

    /// The account `id`, if it exists.
    pub async fn user(&self, id: UserId) -> Result<Option<Arc<User>>, ApiError> {
        if let Some(u) = self.users.get(&id) {
            return Ok(Some(u));
        }
        let ticket = self.users.ticket(&id);
        let Some(user) = self.store.user_by_id(id).await.map_err(store_error)? else { return Ok(None) };
        let user = Arc::new(user);
        self.users.insert(id, Arc::clone(&user), ticket);
        Ok(Some(user))
    }

    /// The session behind a token hash, with the ticket it was read under
    /// (see [`Caches::session_revoked_since`]).
    pub async fn session(&self, hash: &[u8]) -> Result<Option<(Arc<Session>, u64)>, ApiError> {
        let Some(key) = token_key(hash) else { return Ok(None) };
        let ticket = self.sessions.ticket(&key);
        if let Some(s) = self.sessions.get(&key) {
            return Ok(Some((s, ticket)));
        }
        let Some(session) = self.store.session_by_token_hash(hash).await.map_err(store_error)? else {
            return Ok(None);
        };
        let session = Arc::new(session);
        self.sessions.insert(key, Arc::clone(&session), ticket);
        Ok(Some((session, ticket)))
    }

    /// Whether the session read under `ticket` may have been revoked since
    /// (then the caller checks the store again).
    pub fn session_revoked_since(&self, hash: &[u8], ticket: u64) -> bool {
        token_key(hash).is_none_or(|key| self.sessions.changed_since(&key, ticket))
    }

    /// The send-check facts of group `id`, if it exists.
    pub async fn group(&self, id: i64) -> Result<Option<Arc<GroupFacts>>, ApiError> {
        if let Some(g) = self.groups.get(&id) {
            return Ok(Some(g));
        }
        let ticket = self.groups.ticket(&id);
        let Some(group) = self.store.group(id).await.map_err(store_error)? else { return Ok(None) };
        let facts = Arc::new(super::group_facts(&group));
        self.groups.insert(id, Arc::clone(&facts), ticket);
        Ok(Some(facts))
    }

    /// `user`'s membership of group `id` (`None`: not a member).
    pub async fn membership(&self, id: i64, user: UserId) -> Result<Arc<Option<Member>>, ApiError> {
        self.memberships
            .get_or_load((id, user), || async { self.store.member(id, user).await.map_err(store_error) })
            .await
    }

    /// The current member ids of group `id`.
    pub async fn member_ids(&self, id: i64) -> Result<Arc<MemberIds>, ApiError> {
        self.member_ids.get_or_load(id, || async { self.store.member_ids(id).await.map_err(store_error) }).await
    }

    /// Whether `owner` has blocked `target`.
    pub async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool, ApiError> {
        let set = self
            .blocks
            .get_or_load(owner, || async {
                let blocks = self.store.blocks_of(owner).await.map_err(store_error)?;
                Ok(blocks.into_iter().map(|b| b.blocked).collect())
            })
            .await?;
        Ok(set.contains(&target))
    }

    /// Whether `a` and `b` are friends.
    pub async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool, ApiError> {
        let set = self
            .friends
            .get_or_load(a, || async {
                let friends = self.store.friends_of(a).await.map_err(store_error)?;
                Ok(friends.into_iter().map(|f| f.friend).collect())
            })
            .await?;
        Ok(set.contains(&b))
    }

    /// Friends and direct-chat peers of `user`, sorted, without `user`.
    pub async fn peers(&self, user: UserId) -> Result<Arc<Vec<UserId>>, ApiError> {
        self.peers
            .get_or_load(user, || async {
                let mut ids = self.store.direct_peers(user).await.map_err(store_error)?;
                ids.extend(self.store.friends_of(user).await.map_err(store_error)?.into_iter().map(|f| f.friend));
                ids.sort_unstable();
                ids.dedup();
                ids.retain(|id| *id != user);
                Ok(ids)
            })
            .await
    }
}

/// A token hash as the session cache keys it (inline, no allocation).
type TokenHash = [u8; 32];

fn token_key(hash: &[u8]) -> Option<TokenHash> {
    hash.try_into().ok()
}

/// Cache weight of a list: its length, at least 1.
fn len_weight(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::CacheConfig, service::accounts::hash_token, testing::TestNode};

    #[tokio::test]
    async fn warming_loads_stored_sessions_and_their_users() {
        let node = TestNode::start(|_| {}).await;
        let mut users = Vec::new();
        for name in ["alice", "bob", "carol"] {
            users.push(node.user(name).await);
        }
        // A second node's worth of cold caches over the same store.
        let caches = Caches::new(Arc::clone(&node.pipeline.store), &CacheConfig::default());
        assert_eq!(caches.warm_sessions().await.expect("warm"), 3);
        for u in &users {
            let (session, _) = caches.session(&hash_token(&u.token)).await.expect("lookup").expect("found");
            assert_eq!(session.user_id, u.id);
            assert!(caches.user(u.id).await.expect("user").is_some());
        }
        for report in caches.reports().iter().filter(|r| ["sessions", "users"].contains(&r.name)) {
            assert_eq!((report.misses, report.hits), (0, 3), "{report:?}");
        }
    }

    #[tokio::test]
    async fn warming_never_revives_a_revoked_session() {
        let node = TestNode::start(|_| {}).await;
        let users = [node.user("alice").await];
        // A revocation that lands while a page is read: the warm must not
        // cache the page's (stale) copy.
        let caches = Caches::new(Arc::clone(&node.pipeline.store), &CacheConfig::default());
        let tickets = caches.sessions.tickets();
        let hash = hash_token(&users[0].token);
        caches.apply(&Invalidation::Session(hash.clone()));
        let stale = node.pipeline.store.session_by_token_hash(&hash).await.expect("read").expect("stored");
        assert!(!caches.sessions.insert_since(token_key(&hash).expect("32 bytes"), Arc::new(stale), &tickets));
    }
}
