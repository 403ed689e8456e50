//! Records read from the cluster, reused for a fixed time: the user of an access key, a
//! bucket's record. A change made through this gateway calls [`TtlCache::forget`]; a read
//! that started before the latest `forget` is not cached (it may predate the change), so
//! this gateway never serves its own change stale. Another gateway's change is seen within
//! the time to live. Bounded: past `max` entries it starts over.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// A string-keyed cache with a time to live.
#[derive(Debug)]
pub struct TtlCache<V> {
    ttl: Duration,
    max: usize,
    inner: Mutex<Inner<V>>,
}

#[derive(Debug)]
struct Inner<V> {
    entries: HashMap<String, (Instant, V)>,
    /// Bumped by every `forget`.
    generation: u64,
}

/// Where a read stood when it began (see [`TtlCache::begin_read`]).
#[derive(Debug, Clone, Copy)]
pub struct ReadTicket(u64);

impl<V: Clone> TtlCache<V> {
    /// Entries live `ttl`; at most `max` are kept.
    pub fn new(ttl: Duration, max: usize) -> TtlCache<V> {
        TtlCache {
            ttl,
            max,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// The value of `key` if it was stored less than the time to live before `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        let inner = self.lock();
        let (at, value) = inner.entries.get(key)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| value.clone())
    }

    /// Call before reading a value from the cluster, to [`store`](Self::store) it after.
    pub fn begin_read(&self) -> ReadTicket {
        ReadTicket(self.lock().generation)
    }

    /// Keeps `value` for `key` as of `now`, unless something was forgotten since `ticket`.
    pub fn store(&self, key: &str, value: V, ticket: ReadTicket, now: Instant) {
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.entries.len() >= self.max {
            inner.entries.clear();
        }
        inner.entries.insert(key.to_owned(), (now, value));
    }

    /// Drops `key`, and keeps reads already under way from caching what they found.
    pub fn forget(&self, key: &str) {
        let mut inner = self.lock();
        inner.entries.remove(key);
        inner.generation += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        self.inner.lock().expect("cache lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_the_ttl() {
        let cache = TtlCache::new(Duration::from_secs(2), 10);
        let t0 = Instant::now();
        let ticket = cache.begin_read();
        cache.store("a", 1, ticket, t0);
        assert_eq!(cache.get("a", t0 + Duration::from_millis(1999)), Some(1));
        assert_eq!(cache.get("a", t0 + Duration::from_secs(2)), None);
        assert_eq!(cache.get("b", t0), None);
    }

    #[test]
    fn a_read_that_began_before_a_forget_is_not_kept() {
        let cache = TtlCache::new(Duration::from_secs(2), 10);
        let t0 = Instant::now();
        let stale_read = cache.begin_read();
        cache.forget("a");
        cache.store("a", "old", stale_read, t0);
        assert_eq!(cache.get("a", t0), None, "the read may predate the change");
        let fresh = cache.begin_read();
        cache.store("a", "new", fresh, t0);
        assert_eq!(cache.get("a", t0), Some("new"));
        cache.forget("a");
        assert_eq!(cache.get("a", t0), None);
    }

    #[test]
    fn the_cache_starts_over_past_its_bound() {
        let cache = TtlCache::new(Duration::from_secs(2), 2);
        let t0 = Instant::now();
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            let ticket = cache.begin_read();
            cache.store(k, i, ticket, t0);
        }
        assert_eq!(cache.get("a", t0), None);
        assert_eq!(cache.get("c", t0), Some(2));
    }
}
