//! Read-through caches of small reference data (apps, users, chats, memberships), and the
//! nonce set.
//!
//! The caches ([`Cached`], shared with the PostgreSQL store) are sound here because this
//! store is the only writer of its database (one process, one writer thread): every write
//! that changes a cached row invalidates it after committing.

use std::collections::HashMap;

pub use switchboard_core::cache::Cached;

/// Nonces seen recently (replay protection), each with the time it may be forgotten, keyed
/// by a 128-bit keyed digest of (scope, nonce) rather than the strings (the digest is also
/// what `crate::nonce_log` journals): 24 bytes an entry
/// instead of a heap string each, which matters at tens of thousands of signed requests a
/// second with a five-minute window. (Two different nonces share a digest with probability
/// about n²/2¹²⁹: never, in practice.) Expired entries are swept when the set has doubled
/// since the last sweep, so a burst of unique nonces costs amortised O(1) per request
/// instead of a full scan each.
pub struct Nonces {
    seen: HashMap<u128, i64, std::hash::BuildHasherDefault<DigestHasher>>,
    sweep_at: usize,
    sweep_min: usize,
}

/// Hashes a digest that is already a keyed hash by taking its high half (the shard is
/// chosen by the low half): hashing it a third time would buy nothing.
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; fold anything else rather than drop it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v >> 64) as u64;
    }
}

/// The set is never swept below this size.
const NONCE_SWEEP_MIN: usize = 100_000;

/// [`Nonces`] split into independently locked shards: a sweep or a table resize, which
/// takes milliseconds at a few hundred thousand entries, stalls only the requests that land
/// on its shard, and each is a sixteenth of the size.
pub struct ShardedNonces {
    shards: Box<[std::sync::Mutex<Nonces>]>,
    /// The digest's key: kept with the nonce journal, so digests match across restarts.
    key: [u8; 16],
}

const NONCE_SHARDS: usize = 16;

impl ShardedNonces {
    pub fn with_key(key: [u8; 16]) -> Self {
        ShardedNonces::new(key, NONCE_SHARDS, NONCE_SWEEP_MIN / NONCE_SHARDS)
    }

    fn new(key: [u8; 16], shards: usize, sweep_min: usize) -> Self {
        ShardedNonces {
            shards: (0..shards.max(1))
                .map(|_| std::sync::Mutex::new(Nonces::with_sweep_min(sweep_min)))
                .collect(),
            key,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap().seen.len())
            .sum()
    }

    /// The keyed 128-bit digest (SipHash-1-3) of `nonce` in `scope`.
    pub fn digest(&self, scope: &str, nonce: &str) -> u128 {
        use siphasher::sip128::Hasher128;
        use std::hash::Hasher;
        let mut h = siphasher::sip128::SipHasher13::new_with_key(&self.key);
        h.write(scope.as_bytes());
        // 0xFF occurs in no UTF-8 string: ("ab", "c") and ("a", "bc") differ.
        h.write_u8(0xff);
        h.write(nonce.as_bytes());
        h.finish128().as_u128()
    }

    /// Records `nonce` in `scope` until `expires_at`; false when it is already recorded
    /// and not yet expired at `now` (a replay).
    #[cfg(test)]
    pub fn remember(&self, scope: &str, nonce: &str, expires_at: i64, now: i64) -> bool {
        self.remember_digest(self.digest(scope, nonce), expires_at, now)
    }

    /// As [`Self::remember`], for a [`Self::digest`].
    pub fn remember_digest(&self, digest: u128, expires_at: i64, now: i64) -> bool {
        self.shard(digest).remember(digest, expires_at, now)
    }

    /// Restores a journalled record (at open): the later expiry wins.
    pub fn load(&self, digest: u128, expires_at: i64) {
        let mut shard = self.shard(digest);
        let e = shard.seen.entry(digest).or_insert(expires_at);
        *e = (*e).max(expires_at);
    }

    fn shard(&self, digest: u128) -> std::sync::MutexGuard<'_, Nonces> {
        self.shards[(digest as usize) % self.shards.len()]
            .lock()
            .expect("nonce shard poisoned")
    }
}

impl Nonces {
    fn with_sweep_min(sweep_min: usize) -> Self {
        Nonces {
            seen: HashMap::default(),
            sweep_at: sweep_min,
            sweep_min,
        }
    }

    /// As [`ShardedNonces::remember`], for one digest.
    fn remember(&mut self, digest: u128, expires_at: i64, now: i64) -> bool {
        if self.seen.len() >= self.sweep_at {
            self.sweep(now);
        }
        match self.seen.entry(digest) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if *e.get() > now {
                    return false;
                }
                e.insert(expires_at);
                true
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(expires_at);
                true
            }
        }
    }

    fn sweep(&mut self, now: i64) {
        self.seen.retain(|_, exp| *exp > now);
        self.sweep_at = (self.seen.len() * 2).max(self.sweep_min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_nonces_refuse_replays_in_every_shard() {
        let n = ShardedNonces::with_key([7; 16]);
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
        let n = ShardedNonces::new([7; 16], 1, NONCE_SWEEP_MIN);
        assert!(n.remember("a", "x", 100, 0));
        assert!(!n.remember("a", "x", 100, 50), "a replay within the window");
        assert!(n.remember("b", "x", 100, 50), "scopes are separate");
        assert!(n.remember("a", "x", 200, 100), "expired: accepted again");
        assert!(!n.remember("a", "x", 200, 150));
    }

    #[test]
    fn nonce_sweeps_are_amortised_and_keep_live_entries() {
        let n = ShardedNonces::new([7; 16], 1, NONCE_SWEEP_MIN);
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
        let c: Cached<u32, &str> = Cached::new("test");
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
