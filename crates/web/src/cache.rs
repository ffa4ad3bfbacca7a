//! Per-process caches of things read on every request (a tenant's webhook endpoint, an
//! API token's principal), dropped when they change: at once in the process that made
//! the change (`AppState::forget_cached`), and in every other process at its next poll
//! of the cache epoch (`webhook::watch_cache_epoch`, every 200 ms). Entries also age out
//! after [`TTL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long an entry is trusted without an invalidation.
pub const TTL: Duration = Duration::from_secs(30);

/// Entries beyond which the cache starts again empty (a bound, not an eviction policy:
/// a process serves a few hundred tenants and tokens).
const CAP: usize = 10_000;

/// A cache by string key whose loads are not stored when an invalidation came while
/// they were loading.
pub struct EpochCache<V> {
    map: RwLock<HashMap<String, (Instant, V)>>,
    /// Moves on with every invalidation: a load that began before one (and so may have
    /// read the old value) is not stored by [`EpochCache::put`].
    generation: AtomicU64,
}

impl<V> Default for EpochCache<V> {
    fn default() -> Self {
        EpochCache {
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }
}

impl<V: Clone> EpochCache<V> {
    pub fn invalidate(&self, key: &str) {
        let mut map = self.map.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        map.remove(key);
    }
    pub fn invalidate_all(&self) {
        let mut map = self.map.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::SeqCst);
        map.clear();
    }
    /// The generation to pass to [`EpochCache::put`]: read before loading.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
    pub fn get(&self, key: &str) -> Option<V> {
        let map = self.map.read().expect("cache lock");
        map.get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }
    /// Stores a load that began at `generation`, unless an invalidation came since.
    pub fn put(&self, key: &str, v: V, generation: u64) {
        let mut map = self.map.write().expect("cache lock");
        if self.generation() != generation {
            return;
        }
        if map.len() > CAP {
            map.clear();
        }
        map.insert(key.to_string(), (Instant::now(), v));
    }
}

#[cfg(test)]
mod tests {
    use super::EpochCache;

    #[test]
    fn a_load_that_began_before_an_invalidation_is_not_cached() {
        let cache = EpochCache::<Option<u8>>::default();
        let generation = cache.generation();
        cache.put("shop", None, generation);
        assert!(
            cache.get("shop").is_some(),
            "a load with no change since is kept"
        );
        // A load begins, a change invalidates, then the (possibly stale) load lands.
        let generation = cache.generation();
        cache.invalidate_all();
        cache.put("tea", None, generation);
        assert!(cache.get("tea").is_none(), "the stale load is dropped");
        let generation = cache.generation();
        cache.invalidate("other");
        cache.put("tea", None, generation);
        assert!(cache.get("tea").is_none(), "any invalidation counts");
    }
}
