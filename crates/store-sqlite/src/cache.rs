//! Read-through caches of small reference data (apps, users, chats, memberships).
//!
//! Sound because this store is the only writer of its database (one process, one writer
//! thread): every write that changes a cached row invalidates it after committing. A
//! generation counter closes the race where a reader loads a row just before a write
//! commits and would otherwise put the old row back after the invalidation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Entries kept before the map is cleared (a crude bound; reference data is small).
const MAX_ENTRIES: usize = 1 << 20;

pub struct Cached<K, V> {
    map: RwLock<HashMap<K, V>>,
    generation: AtomicU64,
}

impl<K: Eq + Hash, V: Clone> Cached<K, V> {
    pub fn new() -> Self {
        Cached {
            map: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, k: &K) -> Option<V> {
        self.map.read().expect("cache poisoned").get(k).cloned()
    }

    /// The generation to pass to [`Cached::fill`]; read it before loading from the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a value loaded from the database, unless an invalidation happened since
    /// `generation` was read.
    pub fn fill(&self, k: K, v: V, generation: u64) {
        let mut map = self.map.write().expect("cache poisoned");
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(k, v);
    }

    /// Drops `k` after a committed write changed it.
    pub fn invalidate(&self, k: &K) {
        let mut map = self.map.write().expect("cache poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(k);
    }

    /// Updates a cached value in place (for monotone fields such as a chat's last position).
    pub fn update(&self, k: &K, f: impl FnOnce(&mut V)) {
        if let Some(v) = self.map.write().expect("cache poisoned").get_mut(k) {
            f(v);
        }
    }
}

/// Nonces seen recently (replay protection), per scope, each with the time it may be
/// forgotten. Expired entries are swept when the set has doubled since the last sweep, so
/// a burst of unique nonces costs amortised O(1) per request instead of a full scan each.
pub struct Nonces {
    scopes: HashMap<String, HashMap<Box<str>, i64>>,
    len: usize,
    sweep_at: usize,
    sweep_min: usize,
}

/// The set is never swept below this size.
const NONCE_SWEEP_MIN: usize = 100_000;

impl Default for Nonces {
    fn default() -> Self {
        Nonces::with_sweep_min(NONCE_SWEEP_MIN)
    }
}

/// [`Nonces`] split into independently locked shards by a hash of (scope, nonce): a sweep
/// or a table resize, which takes milliseconds at a few hundred thousand entries, stalls
/// only the requests that land on its shard, and each is a sixteenth of the size.
pub struct ShardedNonces {
    shards: Box<[std::sync::Mutex<Nonces>]>,
    hasher: std::hash::RandomState,
}

const NONCE_SHARDS: usize = 16;

impl Default for ShardedNonces {
    fn default() -> Self {
        ShardedNonces {
            shards: (0..NONCE_SHARDS)
                .map(|_| {
                    std::sync::Mutex::new(Nonces::with_sweep_min(NONCE_SWEEP_MIN / NONCE_SHARDS))
                })
                .collect(),
            hasher: std::hash::RandomState::new(),
        }
    }
}

impl ShardedNonces {
    /// As [`Nonces::remember`].
    pub fn remember(&self, scope: &str, nonce: &str, expires_at: i64, now: i64) -> bool {
        use std::hash::BuildHasher;
        let shard = self.hasher.hash_one((scope, nonce)) as usize % self.shards.len();
        self.shards[shard]
            .lock()
            .expect("nonce shard poisoned")
            .remember(scope, nonce, expires_at, now)
    }
}

impl Nonces {
    fn with_sweep_min(sweep_min: usize) -> Self {
        Nonces {
            scopes: HashMap::new(),
            len: 0,
            sweep_at: sweep_min,
            sweep_min,
        }
    }

    /// Records `nonce` in `scope` until `expires_at`; false when it is already recorded
    /// and not yet expired at `now` (a replay).
    pub fn remember(&mut self, scope: &str, nonce: &str, expires_at: i64, now: i64) -> bool {
        if self.len >= self.sweep_at {
            self.sweep(now);
        }
        let set = match self.scopes.get_mut(scope) {
            Some(s) => s,
            None => self.scopes.entry(scope.to_string()).or_default(),
        };
        match set.get_mut(nonce) {
            Some(exp) if *exp > now => false,
            Some(exp) => {
                *exp = expires_at;
                true
            }
            None => {
                set.insert(nonce.into(), expires_at);
                self.len += 1;
                true
            }
        }
    }

    fn sweep(&mut self, now: i64) {
        for set in self.scopes.values_mut() {
            set.retain(|_, exp| *exp > now);
        }
        self.scopes.retain(|_, set| !set.is_empty());
        self.len = self.scopes.values().map(HashMap::len).sum();
        self.sweep_at = (self.len * 2).max(self.sweep_min);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_nonces_refuse_replays_in_every_shard() {
        let n = ShardedNonces::default();
        for i in 0..1_000 {
            assert!(n.remember("a", &i.to_string(), 100, 0));
        }
        for i in 0..1_000 {
            assert!(!n.remember("a", &i.to_string(), 100, 50), "replay of {i}");
            assert!(
                n.remember("b", &i.to_string(), 100, 50),
                "scopes are separate"
            );
        }
        assert!(n.remember("a", "7", 200, 100), "expired: accepted again");
    }

    #[test]
    fn nonces_refuse_replays_until_they_expire() {
        let mut n = Nonces::default();
        assert!(n.remember("a", "x", 100, 0));
        assert!(!n.remember("a", "x", 100, 50), "a replay within the window");
        assert!(n.remember("b", "x", 100, 50), "scopes are separate");
        assert!(n.remember("a", "x", 200, 100), "expired: accepted again");
        assert!(!n.remember("a", "x", 200, 150));
    }

    #[test]
    fn nonce_sweeps_are_amortised_and_keep_live_entries() {
        let mut n = Nonces::default();
        for i in 0..NONCE_SWEEP_MIN + 10 {
            assert!(n.remember("s", &i.to_string(), 1_000, 0));
        }
        // Nothing has expired: the sweep keeps everything and moves the next one out.
        assert_eq!(n.len(), NONCE_SWEEP_MIN + 10);
        assert!(!n.remember("s", "5", 1_000, 10));
        for i in 0..NONCE_SWEEP_MIN {
            n.remember("t", &i.to_string(), 3_000, 2_000);
        }
        // The next sweep (at twice the size) drops the expired scope "s".
        assert!(n.len() <= 2 * (NONCE_SWEEP_MIN + 10));
        assert!(
            n.remember("s", "5", 3_000, 2_000),
            "expired nonces are forgotten"
        );
    }

    #[test]
    fn stale_fill_after_invalidation_is_dropped() {
        let c: Cached<u32, &str> = Cached::new();
        let g = c.generation();
        // A write commits and invalidates while a reader holds the old row...
        c.invalidate(&1);
        // ...so the reader's late fill must not resurrect it.
        c.fill(1, "old", g);
        assert_eq!(c.get(&1), None);
        let g = c.generation();
        c.fill(1, "new", g);
        assert_eq!(c.get(&1), Some("new"));
        c.update(&1, |v| *v = "newer");
        assert_eq!(c.get(&1), Some("newer"));
    }
}
