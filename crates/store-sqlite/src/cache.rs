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

#[cfg(test)]
mod tests {
    use super::*;

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
