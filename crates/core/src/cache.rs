//! A read-through cache map with the invalidation rule both stores use.
//!
//! A store fills it with rows it has just read and invalidates a row after a committed
//! write changes it. A generation counter closes the race where a reader loads a row just
//! before a write commits and would otherwise put the old row back after the
//! invalidation: [`Cached::fill`] refuses a value read before the latest invalidation.
//!
//! Hits and misses are counted (`switchboard_cache_hits_total` and
//! `switchboard_cache_misses_total`, labelled by the cache's name) through the `metrics`
//! facade: nothing when no recorder is installed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

pub const CACHE_HITS: &str = "switchboard_cache_hits_total";
pub const CACHE_MISSES: &str = "switchboard_cache_misses_total";

/// Entries kept before the map is cleared (a crude bound; reference data is small).
const MAX_ENTRIES: usize = 1 << 20;

/// Keyed per process like std's SipHash (some keys come from requests: app ids, p2p keys),
/// at a fraction of its cost on the short keys these maps hold.
type Map<K, V> = HashMap<K, V, ahash::RandomState>;

pub struct Cached<K, V> {
    map: RwLock<Map<K, V>>,
    generation: AtomicU64,
    name: &'static str,
    /// Registered at first use, when the server has installed its recorder.
    counters: OnceLock<(metrics::Counter, metrics::Counter)>,
}

impl<K: Eq + Hash, V: Clone> Cached<K, V> {
    /// An empty cache; `name` labels its hit and miss counters.
    pub fn new(name: &'static str) -> Self {
        Cached {
            map: RwLock::new(Map::default()),
            generation: AtomicU64::new(0),
            name,
            counters: OnceLock::new(),
        }
    }

    fn counters(&self) -> &(metrics::Counter, metrics::Counter) {
        self.counters.get_or_init(|| {
            (
                metrics::counter!(CACHE_HITS, "cache" => self.name),
                metrics::counter!(CACHE_MISSES, "cache" => self.name),
            )
        })
    }

    pub fn get<Q>(&self, k: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let v = self.map.read().expect("cache poisoned").get(k).cloned();
        let (hits, misses) = self.counters();
        if v.is_some() { hits } else { misses }.increment(1);
        v
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

    /// Drops everything, and refuses fills read before now.
    pub fn clear(&self) {
        let mut map = self.map.write().expect("cache poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// Updates a cached value in place (for monotone fields such as a chat's last position).
    pub fn update(&self, k: &K, f: impl FnOnce(&mut V)) {
        if let Some(v) = self.map.write().expect("cache poisoned").get_mut(k) {
            f(v);
        }
    }
}
