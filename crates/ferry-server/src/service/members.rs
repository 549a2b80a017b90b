//! A node-local cache of each group's member ids, for fan-out: delivering a
//! group message must not query the store per message.
//!
//! Every membership change calls [`MemberCache::invalidate`] after it is
//! committed. A generation counter per group keeps a load that raced with an
//! invalidation from caching the stale list.

use std::sync::Arc;

use dashmap::DashMap;
use ferry_core::{ApiError, UserId};
use ferry_store::Store;

use crate::error::store_error;

pub struct MemberCache {
    store: Arc<dyn Store>,
    lists: DashMap<i64, Arc<[UserId]>>,
    generations: DashMap<i64, u64>,
}

impl MemberCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, lists: DashMap::new(), generations: DashMap::new() }
    }

    fn generation(&self, group: i64) -> u64 {
        self.generations.get(&group).map_or(0, |g| *g)
    }

    /// The current member ids of `group`.
    pub async fn members(&self, group: i64) -> Result<Arc<[UserId]>, ApiError> {
        if let Some(list) = self.lists.get(&group) {
            return Ok(Arc::clone(&list));
        }
        let before = self.generation(group);
        let ids: Arc<[UserId]> = self.store.member_ids(group).await.map_err(store_error)?.into();
        if self.generation(group) == before {
            self.lists.insert(group, Arc::clone(&ids));
        }
        Ok(ids)
    }

    /// Forgets the cached list after a membership change.
    pub fn invalidate(&self, group: i64) {
        *self.generations.entry(group).or_insert(0) += 1;
        self.lists.remove(&group);
    }
}
