//! Node-local caches that keep per-message checks and fan-out off the store:
//! each group's member ids (fan-out), each user's blocklist and friend set
//! (direct-message checks), and which user ids exist.
//!
//! Every change calls `invalidate` after it is committed. A generation
//! counter per key keeps a load that raced with an invalidation from caching
//! the stale value.

use std::{collections::HashSet, future::Future, hash::Hash, sync::Arc};

use dashmap::{DashMap, DashSet};
use ferry_core::{ApiError, UserId};
use ferry_store::Store;

use crate::error::store_error;

/// A cache of values loaded from the store, invalidated explicitly.
pub struct LoadingCache<K, V> {
    values: DashMap<K, Arc<V>>,
    generations: DashMap<K, u64>,
}

impl<K: Hash + Eq + Copy, V> Default for LoadingCache<K, V> {
    fn default() -> Self {
        Self { values: DashMap::new(), generations: DashMap::new() }
    }
}

impl<K: Hash + Eq + Copy, V> LoadingCache<K, V> {
    fn generation(&self, key: K) -> u64 {
        self.generations.get(&key).map_or(0, |g| *g)
    }

    /// The cached value, or `load()`'s (cached unless invalidated meanwhile).
    pub async fn get<F, Fut>(&self, key: K, load: F) -> Result<Arc<V>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ApiError>>,
    {
        if let Some(v) = self.values.get(&key) {
            return Ok(Arc::clone(&v));
        }
        let before = self.generation(key);
        let value = Arc::new(load().await?);
        if self.generation(key) == before {
            self.values.insert(key, Arc::clone(&value));
        }
        Ok(value)
    }

    /// Forgets `key` after a change.
    pub fn invalidate(&self, key: K) {
        *self.generations.entry(key).or_insert(0) += 1;
        self.values.remove(&key);
    }
}

/// Group member ids, for fan-out.
pub struct MemberCache {
    store: Arc<dyn Store>,
    cache: LoadingCache<i64, Vec<UserId>>,
}

impl MemberCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, cache: LoadingCache::default() }
    }

    /// The current member ids of `group`.
    pub async fn members(&self, group: i64) -> Result<Arc<Vec<UserId>>, ApiError> {
        self.cache.get(group, || async { self.store.member_ids(group).await.map_err(store_error) }).await
    }

    /// Forgets the cached list after a membership change.
    pub fn invalidate(&self, group: i64) {
        self.cache.invalidate(group);
    }
}

/// What direct-message checks need per message: does the recipient exist,
/// has it blocked the sender, are they friends.
pub struct ContactCache {
    store: Arc<dyn Store>,
    /// Users known to exist (accounts are never deleted, only disabled).
    known: DashSet<UserId>,
    blocks: LoadingCache<UserId, HashSet<UserId>>,
    friends: LoadingCache<UserId, HashSet<UserId>>,
}

impl ContactCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, known: DashSet::new(), blocks: LoadingCache::default(), friends: LoadingCache::default() }
    }

    pub async fn user_exists(&self, user: UserId) -> Result<bool, ApiError> {
        if self.known.contains(&user) {
            return Ok(true);
        }
        let exists = self.store.user_by_id(user).await.map_err(store_error)?.is_some();
        if exists {
            self.known.insert(user);
        }
        Ok(exists)
    }

    /// Whether `owner` has blocked `target`.
    pub async fn is_blocked(&self, owner: UserId, target: UserId) -> Result<bool, ApiError> {
        let set = self
            .blocks
            .get(owner, || async {
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
            .get(a, || async {
                let friends = self.store.friends_of(a).await.map_err(store_error)?;
                Ok(friends.into_iter().map(|f| f.friend).collect())
            })
            .await?;
        Ok(set.contains(&b))
    }

    /// After `owner` blocked or unblocked someone.
    pub fn blocks_changed(&self, owner: UserId) {
        self.blocks.invalidate(owner);
    }

    /// After a friendship between `a` and `b` began or ended.
    pub fn friends_changed(&self, a: UserId, b: UserId) {
        self.friends.invalidate(a);
        self.friends.invalidate(b);
    }
}
