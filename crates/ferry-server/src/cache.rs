//! A bounded, invalidatable cache of values loaded from the store, with hit
//! and miss counters: the building block of every node-local cache
//! (sessions, group members, send checks, contacts, presence peers).
//!
//! Capacity and eviction come from `quick_cache` (S3-FIFO: a small probation
//! queue in front of the main one, so one-off keys do not flush the hot
//! set), chosen over moka for its per-entry overhead: these caches hold an
//! entry or three per connected user, and memory per connection is a
//! budget (moka's ~300-400 bytes of bookkeeping per entry were a third of
//! it). What neither gives is protection against a load that raced with an
//! invalidation: a reader fetches the old row, a writer commits a change and
//! invalidates, then the reader caches the old row for good. Each key hashes
//! to one of [`STRIPES`] generation counters; an invalidation bumps the
//! key's stripe *before* removing the entry, and a load re-checks its stripe
//! *after* inserting and removes its own entry if the stripe moved. Either
//! the loader sees the bump, or the invalidator's removal comes after the
//! insert: a stale value never survives an invalidation that followed its
//! read. (A stripe shared by other keys only costs them a spurious miss.)
//!
//! In cluster mode invalidations arrive over the bus, which may lose one
//! (the engine restarting): there each cache also has a time to live
//! ([`LoadingCache::with_ttl`]), so a missed invalidation is stale for at
//! most that long.

use std::{
    future::Future,
    hash::{BuildHasher, Hash},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use ferry_core::ApiError;

/// Generation counters per cache; a power of two.
const STRIPES: usize = 1024;

/// Hits and misses of one cache, for `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

/// Weighs an entry by its value (1 for caches counted in entries).
pub struct Weigh<V>(fn(&V) -> u32);

impl<V> Clone for Weigh<V> {
    fn clone(&self) -> Self {
        Self(self.0)
    }
}

impl<K, V> quick_cache::Weighter<K, Stamped<V>> for Weigh<V> {
    fn weight(&self, _key: &K, entry: &Stamped<V>) -> u64 {
        u64::from((self.0)(&entry.value).max(1))
    }
}

/// A cached value and when it was loaded (ms since the cache was made).
pub struct Stamped<V> {
    value: Arc<V>,
    at_ms: u64,
}

impl<V> Clone for Stamped<V> {
    fn clone(&self) -> Self {
        Self { value: Arc::clone(&self.value), at_ms: self.at_ms }
    }
}

/// Entries a cache's tables are first sized for; they grow as it fills.
const INITIAL_ENTRIES: usize = 1024;

/// One cache: `K → Arc<V>`, at most `capacity` weight units.
pub struct LoadingCache<K, V> {
    name: &'static str,
    entries: quick_cache::sync::Cache<K, Stamped<V>, Weigh<V>>,
    /// How long an entry may be served (ms); `u64::MAX`: until evicted or
    /// invalidated.
    ttl_ms: u64,
    /// The clock `Stamped::at_ms` counts from (tokio's, so tests can pause it).
    born: tokio::time::Instant,
    stripes: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
    stats: CacheStats,
}

impl<K, V> LoadingCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A cache holding at most `capacity` entries.
    pub fn new(name: &'static str, capacity: u64) -> Self {
        Self::weighted(name, capacity, |_| 1)
    }

    /// A cache whose capacity counts `weigh(value)` units per entry (e.g. a
    /// member list weighs its length), so a few huge values cannot hold the
    /// memory of many small ones.
    pub fn weighted(name: &'static str, capacity: u64, weigh: fn(&V) -> u32) -> Self {
        let estimate = INITIAL_ENTRIES.min(usize::try_from(capacity).unwrap_or(usize::MAX)).max(1);
        Self {
            name,
            entries: quick_cache::sync::Cache::with_weighter(estimate, capacity.max(1), Weigh(weigh)),
            ttl_ms: u64::MAX,
            born: tokio::time::Instant::now(),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            hasher: Default::default(),
            stats: CacheStats::default(),
        }
    }

    /// Serves each entry for at most `ttl` after it was loaded (cluster
    /// mode: bounds how long a missed invalidation leaves it stale).
    pub fn with_ttl(mut self, ttl: Option<std::time::Duration>) -> Self {
        self.ttl_ms = ttl.map_or(u64::MAX, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        self
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn stripe(&self, key: &K) -> &AtomicU64 {
        &self.stripes[self.hasher.hash_one(key) as usize & (STRIPES - 1)]
    }

    /// The cached value, if any (counts a hit or a miss).
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut hit = self.entries.get(key);
        if hit.as_ref().is_some_and(|e| self.now_ms().saturating_sub(e.at_ms) >= self.ttl_ms) {
            // Expired. (Should a fresh load have replaced it meanwhile, that
            // one goes too: a spurious miss, never a stale hit.)
            self.entries.remove(key);
            hit = None;
        }
        let hit = hit.map(|e| e.value);
        let counter = if hit.is_some() { &self.stats.hits } else { &self.stats.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Whether `key` is cached (not counted as a lookup).
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// A ticket to take before reading the value from the store; hand it to
    /// [`LoadingCache::insert`] so an invalidation in between wins.
    pub fn ticket(&self, key: &K) -> u64 {
        self.stripe(key).load(Ordering::SeqCst)
    }

    /// Caches `value` read after `ticket` was taken, unless `key` was
    /// invalidated since. Returns whether the value stayed cached.
    pub fn insert(&self, key: K, value: Arc<V>, ticket: u64) -> bool {
        let stripe = self.stripe(&key);
        if stripe.load(Ordering::SeqCst) != ticket {
            return false;
        }
        self.entries.insert(key.clone(), Stamped { value, at_ms: self.now_ms() });
        if stripe.load(Ordering::SeqCst) != ticket {
            self.entries.remove(&key);
            return false;
        }
        true
    }

    /// Tickets of every key at once, for a bulk read (see
    /// [`LoadingCache::insert_since`]).
    pub fn tickets(&self) -> Tickets {
        Tickets(self.stripes.iter().map(|s| s.load(Ordering::SeqCst)).collect())
    }

    /// [`LoadingCache::insert`] for a value read after `tickets` were taken.
    pub fn insert_since(&self, key: K, value: Arc<V>, tickets: &Tickets) -> bool {
        let ticket = tickets.0[self.hasher.hash_one(&key) as usize & (STRIPES - 1)];
        self.insert(key, value, ticket)
    }

    /// Entries (weight units) held now, and the most it holds.
    pub fn fill(&self) -> (u64, u64) {
        (self.entries.weight(), self.entries.capacity())
    }

    /// The cached value, or `load()`'s, cached unless invalidated meanwhile.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Arc<V>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, ApiError>>,
    {
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let ticket = self.ticket(&key);
        let value = Arc::new(load().await?);
        self.insert(key, Arc::clone(&value), ticket);
        Ok(value)
    }

    /// Forgets `key` after a change; a load that started before this call
    /// will not cache its (stale) result.
    pub fn invalidate(&self, key: &K) {
        self.stripe(key).fetch_add(1, Ordering::SeqCst);
        self.entries.remove(key);
    }

    /// Whether `key`'s stripe moved since `ticket` (the value read with that
    /// ticket may be stale).
    pub fn changed_since(&self, key: &K, ticket: u64) -> bool {
        self.stripe(key).load(Ordering::SeqCst) != ticket
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for s in self.stripes.iter() {
            s.fetch_add(1, Ordering::SeqCst);
        }
        self.entries.clear();
    }

    /// Name, entries, hits and misses, for `/metrics`.
    pub fn report(&self) -> CacheReport {
        CacheReport {
            name: self.name,
            entries: self.entries.len() as u64,
            hits: self.stats.hits.load(Ordering::Relaxed),
            misses: self.stats.misses.load(Ordering::Relaxed),
        }
    }
}

/// Every stripe's ticket, taken before a bulk read.
pub struct Tickets(Box<[u64]>);

/// A snapshot of one cache's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheReport {
    pub name: &'static str,
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loads_once_then_hits() {
        let cache: LoadingCache<i64, String> = LoadingCache::new("t", 10);
        let v = cache.get_or_load(1, || async { Ok("a".to_owned()) }).await.unwrap();
        assert_eq!(*v, "a");
        let again = cache.get_or_load(1, || async { panic!("must hit") }).await.unwrap();
        assert!(Arc::ptr_eq(&v, &again));
        let r = cache.report();
        assert_eq!((r.hits, r.misses, r.entries), (1, 1, 1));
    }

    #[tokio::test]
    async fn an_invalidation_during_a_load_wins() {
        let cache: LoadingCache<i64, &'static str> = LoadingCache::new("t", 10);
        let loaded = cache
            .get_or_load(7, || async {
                // The change commits and invalidates while the old row is in flight.
                cache.invalidate(&7);
                Ok("stale")
            })
            .await
            .unwrap();
        assert_eq!(*loaded, "stale", "the caller still gets what it read");
        assert!(cache.get(&7).is_none(), "but it is not cached");
        let fresh = cache.get_or_load(7, || async { Ok("fresh") }).await.unwrap();
        assert_eq!(*fresh, "fresh");
    }

    #[test]
    fn an_invalidation_between_ticket_and_insert_wins() {
        let cache: LoadingCache<i64, u8> = LoadingCache::new("t", 10);
        let ticket = cache.ticket(&3);
        cache.invalidate(&3);
        assert!(!cache.insert(3, Arc::new(1), ticket));
        assert!(cache.changed_since(&3, ticket));
        assert!(cache.get(&3).is_none());
        let ticket = cache.ticket(&3);
        assert!(cache.insert(3, Arc::new(2), ticket));
        assert_eq!(cache.get(&3).as_deref(), Some(&2));
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_ttl_an_entry_is_reloaded_after_it() {
        let cache: LoadingCache<i64, &'static str> =
            LoadingCache::new("t", 10).with_ttl(Some(std::time::Duration::from_secs(5)));
        cache.get_or_load(1, || async { Ok("old") }).await.unwrap();
        tokio::time::advance(std::time::Duration::from_millis(4900)).await;
        assert_eq!(cache.get(&1).as_deref(), Some(&"old"), "served within the ttl");
        // The change's invalidation never came: the ttl bounds the staleness.
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        assert!(cache.get(&1).is_none());
        let fresh = cache.get_or_load(1, || async { Ok("new") }).await.unwrap();
        assert_eq!(*fresh, "new");
        let forever: LoadingCache<i64, u8> = LoadingCache::new("t", 10);
        let t = forever.ticket(&1);
        forever.insert(1, Arc::new(1), t);
        tokio::time::advance(std::time::Duration::from_secs(86_400)).await;
        assert!(forever.get(&1).is_some(), "no ttl: kept until evicted or invalidated");
    }

    #[test]
    fn capacity_bounds_the_entries() {
        let cache: LoadingCache<u64, Vec<u64>> = LoadingCache::weighted("t", 100, |v| v.len() as u32);
        for k in 0..1000 {
            let t = cache.ticket(&k);
            cache.insert(k, Arc::new(vec![0; 10]), t);
        }
        let r = cache.report();
        assert!(r.entries <= 10, "weighted capacity holds at most 10 lists of 10, got {}", r.entries);
    }

    #[test]
    fn clear_forgets_and_fences_loads() {
        let cache: LoadingCache<u64, u8> = LoadingCache::new("t", 10);
        let t = cache.ticket(&1);
        cache.insert(1, Arc::new(1), t);
        let t2 = cache.ticket(&2);
        cache.clear();
        assert!(cache.get(&1).is_none());
        assert!(!cache.insert(2, Arc::new(2), t2));
    }
}
