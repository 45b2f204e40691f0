//! The per-app request limiter every dialect uses.
//!
//! One algorithm, GCRA (the generic cell rate algorithm): a token bucket kept as one number
//! per limit, the "theoretical arrival time" (TAT) at which the bucket would be full again.
//! A [`Quota`] is `count` requests per `period_ms`, of which at most `burst` at once (by
//! default `burst == count`). A limiter holds one or more quotas and admits a request only
//! if every quota does; a refused request counts against none of them. So:
//!
//! - a token bucket (`rate` per second, `burst`) is one quota,
//!   `Quota::per_second(rate).with_burst(burst)`;
//! - "at most N per second and M per minute" is two quotas, `Quota::per_second(N)` and
//!   `Quota::per_minute(M)`: N (or M) at once, refilled evenly over the second (minute),
//!   so that any long stretch admits at most the documented rate.
//!
//! Time is injected (`now_ms`, from the core's clock), so tests drive it by hand. The
//! arithmetic is exact: each quota keeps its TAT in units of `1 / count` ms, so "3 per
//! second" admits exactly 3 per second, not 3 per 999 ms.
//!
//! The state is in memory: each node counts on its own, so N nodes admit up to N times the
//! configured rate.
//!
//! Cost: the keys are spread over [`SHARDS`] shards, each a `Mutex` around a small map,
//! held only for one map lookup and a few additions; threads serving different apps rarely
//! meet on a lock. Memory: a key whose buckets have all refilled is indistinguishable from a
//! key never seen, so each shard drops such entries when it is next used after at least
//! [`SWEEP_EVERY_MS`]; what stays is bounded by the apps active in the last seconds
//! (the last minute for a per-minute quota).

use crate::ids::AppId;
use crate::model::Millis;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// How many quotas one limiter may combine.
pub const MAX_QUOTAS: usize = 4;

/// Independent locks per limiter (a power of two).
pub const SHARDS: usize = 64;
const _: () = assert!(SHARDS.is_power_of_two() && SHARDS > 1);

/// A shard drops the entries of idle keys at most this often.
pub const SWEEP_EVERY_MS: Millis = 1_000;

/// `count` requests per `period_ms`, at most `burst` of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    count: u32,
    period_ms: u32,
    burst: u32,
}

impl Quota {
    /// `count` requests per `period_ms` (at least 1 ms), at most `count` at once. A `count`
    /// of 0 means no limit: the limiter leaves the quota out.
    pub const fn new(count: u32, period_ms: u32) -> Quota {
        Quota {
            count,
            period_ms: if period_ms == 0 { 1 } else { period_ms },
            burst: count,
        }
    }

    pub const fn per_second(count: u32) -> Quota {
        Quota::new(count, 1_000)
    }

    pub const fn per_minute(count: u32) -> Quota {
        Quota::new(count, 60_000)
    }

    /// At most `burst` requests at once (at least 1), refilled at the quota's rate.
    pub const fn with_burst(self, burst: u32) -> Quota {
        Quota {
            burst: if burst == 0 { 1 } else { burst },
            ..self
        }
    }

    /// Requests per period: what a refusal reports as the limit.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// The time between two requests, in this quota's units (`1 / count` ms).
    fn interval(&self) -> i128 {
        self.period_ms as i128
    }

    /// How far ahead of `now` the TAT may be for a request to be admitted.
    fn tolerance(&self) -> i128 {
        (self.burst as i128 - 1) * self.interval()
    }

    fn scale(&self, ms: Millis) -> i128 {
        ms as i128 * self.count as i128
    }

    /// Whole milliseconds, rounded up, from this quota's units.
    fn ms_up(&self, t: i128) -> Millis {
        let c = self.count as i128;
        let ms = t.div_euclid(c) + i128::from(t.rem_euclid(c) != 0);
        ms.clamp(Millis::MIN as i128, Millis::MAX as i128) as Millis
    }
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The `count` of the quota that refused (of several, the one that frees up last).
    pub limit: u32,
    /// Milliseconds until the key would be admitted again (at least 1).
    pub retry_after_ms: Millis,
}

impl Refused {
    /// [`Refused::retry_after_ms`] in whole seconds, rounded up (at least 1).
    pub fn retry_after_secs(&self) -> u32 {
        let secs = (self.retry_after_ms.max(1) + 999) / 1_000;
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

/// The state of one key: each quota's TAT, and when all of them will have passed.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tat: [i128; MAX_QUOTAS],
    idle_at: Millis,
}

const FRESH: Entry = Entry {
    tat: [i128::MIN; MAX_QUOTAS],
    idle_at: Millis::MIN,
};

struct ShardState<K> {
    map: HashMap<K, Entry, ahash::RandomState>,
    swept_at: Millis,
}

/// Aligned so that two shards' locks never share a cache line.
#[repr(align(128))]
struct Shard<K>(Mutex<ShardState<K>>);

/// Per-key rate limiting over one or more [`Quota`]s; see the module documentation.
pub struct RateLimiter<K = AppId> {
    quotas: Vec<Quota>,
    shards: Box<[Shard<K>]>,
    hasher: ahash::RandomState,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter admitting what every quota admits. Quotas with a `count` of 0 are left out;
    /// with none left, everything is admitted.
    ///
    /// # Panics
    ///
    /// With more than [`MAX_QUOTAS`] quotas.
    pub fn new(quotas: impl IntoIterator<Item = Quota>) -> Self {
        let quotas: Vec<Quota> = quotas.into_iter().filter(|q| q.count > 0).collect();
        assert!(
            quotas.len() <= MAX_QUOTAS,
            "at most {MAX_QUOTAS} quotas per limiter"
        );
        let shards = (0..SHARDS)
            .map(|_| {
                Shard(Mutex::new(ShardState {
                    map: HashMap::default(),
                    swept_at: Millis::MIN,
                }))
            })
            .collect();
        RateLimiter {
            quotas,
            shards,
            hasher: ahash::RandomState::new(),
        }
    }

    /// Whether no quota is left (everything is admitted).
    pub fn is_unlimited(&self) -> bool {
        self.quotas.is_empty()
    }

    /// Counts one request of `key` at `now_ms`, or refuses it without counting it.
    pub fn check(&self, key: K, now_ms: Millis) -> Result<(), Refused> {
        if self.quotas.is_empty() {
            return Ok(());
        }
        let mut shard = self.shard(&key);
        if now_ms.abs_diff(shard.swept_at) >= SWEEP_EVERY_MS as u64 {
            shard.map.retain(|_, e| e.idle_at > now_ms);
            shard.swept_at = now_ms;
        }
        let entry = shard.map.entry(key).or_insert(FRESH);
        let mut next = FRESH;
        let mut refused: Option<Refused> = None;
        for (i, q) in self.quotas.iter().enumerate() {
            let now = q.scale(now_ms);
            let tat = entry.tat[i].max(now);
            let early = tat - now - q.tolerance();
            if early > 0 {
                let wait = q.ms_up(early);
                if refused.is_none_or(|r| wait > r.retry_after_ms) {
                    refused = Some(Refused {
                        limit: q.count,
                        retry_after_ms: wait,
                    });
                }
            } else {
                next.tat[i] = tat + q.interval();
                next.idle_at = next.idle_at.max(q.ms_up(next.tat[i]));
            }
        }
        match refused {
            // A refusal changes nothing (a new key is never refused: `burst` is at least 1).
            Some(r) => Err(r),
            None => {
                *entry = next;
                Ok(())
            }
        }
    }

    /// How many keys the limiter holds state for (idle ones until their shard is swept).
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, ShardState<K>> {
        // The top bits pick the shard; the map hashes with its own keys, so keys that share
        // a shard still spread over its buckets.
        let h = self.hasher.hash_one(key);
        lock(&self.shards[(h >> (64 - SHARDS.trailing_zeros())) as usize])
    }
}

/// A panic while the lock was held cannot leave an entry half-written (it is replaced
/// whole), so a poisoned lock is used as is.
fn lock<K>(s: &Shard<K>) -> MutexGuard<'_, ShardState<K>> {
    s.0.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    /// On a minute boundary, as a fixed window would see it.
    const T: Millis = 1_800_000_000_000;

    fn admitted(l: &RateLimiter<u64>, key: u64, now: Millis, n: u32) -> u32 {
        (0..n).filter(|_| l.check(key, now).is_ok()).count() as u32
    }

    #[test]
    fn burst_then_refill() {
        // A token bucket of 2 per second holding 3.
        let l = RateLimiter::new([Quota::per_second(2).with_burst(3)]);
        assert_eq!(admitted(&l, 1, T, 10), 3, "the burst, at once");
        assert_eq!(
            l.check(1, T),
            Err(Refused {
                limit: 2,
                retry_after_ms: 500
            })
        );
        assert_eq!(admitted(&l, 1, T + 499, 5), 0, "not a token yet");
        assert_eq!(
            admitted(&l, 1, T + 500, 5),
            1,
            "half a second buys one at 2/s"
        );
        assert_eq!(admitted(&l, 1, T + 1_500, 5), 2);
        assert_eq!(
            admitted(&l, 1, T + 60_000, 10),
            3,
            "never more than the burst"
        );
    }

    #[test]
    fn burst_smaller_than_the_rate_spaces_requests() {
        let l = RateLimiter::new([Quota::per_second(50).with_burst(1)]);
        assert!(l.check(1, T).is_ok());
        assert_eq!(l.check(1, T + 19).unwrap_err().retry_after_ms, 1);
        assert!(l.check(1, T + 20).is_ok());
    }

    #[test]
    fn a_quota_admits_count_per_period_exactly() {
        // 3 per second: 1000/3 ms apart is not a whole number, and no rounding may let a
        // fourth request in during the second or hold the next second's back.
        let l = RateLimiter::new([Quota::per_second(3)]);
        for s in 0..100 {
            let start = T + s * 1_000;
            assert_eq!(admitted(&l, 1, start, 10), 3, "second {s}");
            assert_eq!(admitted(&l, 1, start + 333, 10), 0, "second {s}");
        }
        // Steady traffic: one every 333 ms is slightly too fast, one every 334 ms is not.
        let l = RateLimiter::new([Quota::per_second(3).with_burst(1)]);
        assert!(l.check(1, T).is_ok());
        assert!(l.check(1, T + 333).is_err());
        assert!(l.check(1, T + 334).is_ok());
        // Over a long stretch the rate holds: 3 per second plus the burst.
        let l = RateLimiter::new([Quota::per_second(3)]);
        let n: u32 = (0..10_000).map(|ms| admitted(&l, 7, T + ms, 1)).sum();
        assert_eq!(
            n,
            3 + 29,
            "10 s: the burst, then one every 333⅓ ms from T + ⅓ s"
        );
    }

    #[test]
    fn two_quotas_both_apply_and_the_slower_is_reported() {
        // Two quotas at once: per second and per minute.
        let l = RateLimiter::new([Quota::per_second(3), Quota::per_minute(5)]);
        assert_eq!(admitted(&l, 1, T, 3), 3);
        let r = l.check(1, T).unwrap_err();
        assert_eq!(
            (r.limit, r.retry_after_secs()),
            (3, 1),
            "the second's limit"
        );
        assert_eq!(admitted(&l, 1, T + 1_000, 2), 2);
        let r = l.check(1, T + 1_000).unwrap_err();
        assert_eq!(r.limit, 5, "the minute's budget is spent");
        // 5 per minute: one back every 12 s; the fifth was taken at T + 1 s.
        assert_eq!(r.retry_after_ms, 12_000 - 1_000);
        assert_eq!(r.retry_after_secs(), 11);
        assert_eq!(admitted(&l, 1, T + 11_999, 1), 0);
        assert_eq!(admitted(&l, 1, T + 12_000, 2), 1);
        // Refused requests are not counted: hammering changes nothing.
        assert_eq!(admitted(&l, 1, T + 12_000, 1000), 0);
        assert_eq!(
            admitted(&l, 1, T + 60_000, 10),
            3,
            "a minute later: a second's worth"
        );
        assert_eq!(
            admitted(&l, 1, T + 61_000, 10),
            1,
            "the minute's refill since"
        );
        // When both refuse, the one that frees up last is reported.
        let l = RateLimiter::new([Quota::new(1, 1_000), Quota::new(2, 60_000).with_burst(1)]);
        assert!(l.check(1, T).is_ok());
        let r = l.check(1, T).unwrap_err();
        assert_eq!((r.limit, r.retry_after_ms), (2, 30_000));
    }

    #[test]
    fn keys_are_independent() {
        let l = RateLimiter::new([Quota::per_second(2)]);
        assert_eq!(admitted(&l, 1, T, 5), 2);
        for k in 2..1_000 {
            assert_eq!(admitted(&l, k, T, 5), 2, "key {k}");
        }
        assert!(l.check(1, T).is_err());
        let apps = RateLimiter::<AppId>::new([Quota::per_second(1)]);
        assert!(apps.check(AppId(1), T).is_ok());
        assert!(apps.check(AppId(2), T).is_ok());
        assert!(apps.check(AppId(1), T).is_err());
    }

    #[test]
    fn no_quota_admits_everything_and_keeps_nothing() {
        let l = RateLimiter::new([Quota::per_second(0), Quota::per_minute(0)]);
        assert!(l.is_unlimited());
        assert_eq!(admitted(&l, 1, T, 10_000), 10_000);
        assert_eq!(l.tracked(), 0);
        // A zero burst means one.
        let l = RateLimiter::new([Quota::per_second(5).with_burst(0)]);
        assert_eq!(admitted(&l, 1, T, 5), 1);
    }

    #[test]
    fn idle_keys_are_pruned_and_come_back_fresh() {
        let l = RateLimiter::new([Quota::per_second(2)]);
        for k in 0..10_000 {
            assert!(l.check(k, T).is_ok());
        }
        assert_eq!(l.tracked(), 10_000);
        // Half a second on, every bucket is still refilling: nothing may go.
        for k in 0..10_000 {
            assert!(l.check(k, T + 500).is_ok());
        }
        assert_eq!(l.tracked(), 10_000);
        // Key 0 keeps busy; the others' buckets are full again at T + 1 s. Each shard
        // sweeps the first time it is used a second after its last sweep.
        for ms in (2_000..=3_000).step_by(100) {
            admitted(&l, 0, T + ms, 2);
        }
        for k in 0..20_000 {
            let _ = l.check(k + 100_000, T + 3_000);
        }
        assert_eq!(
            l.tracked(),
            20_001,
            "only the busy key and the new ones are left"
        );
        // A pruned key starts with a full bucket, as it would have had anyway.
        assert_eq!(admitted(&l, 5, T + 3_000, 5), 2);
        // Time going backwards does not stop sweeps for long.
        let l = RateLimiter::new([Quota::per_second(1)]);
        assert!(l.check(1, T).is_ok());
        for k in 0..1_000 {
            let _ = l.check(k + 10, T - 10_000);
        }
        assert!(l.tracked() <= 1_001);
        for k in 0..1_000 {
            let _ = l.check(k + 10, T + 5_000);
        }
        assert_eq!(l.tracked(), 1_000, "key 1 idle since T + 1 s, swept");
    }

    #[test]
    fn concurrent_callers_never_exceed_the_budget() {
        // Many threads on few keys at a frozen instant: each key admits exactly its burst,
        // whatever the interleaving.
        const THREADS: usize = 8;
        const KEYS: u64 = 16;
        const CALLS: u64 = 20_000;
        let l = Arc::new(RateLimiter::new([
            Quota::per_second(100),
            Quota::per_minute(1_000),
        ]));
        let per_key: Arc<Vec<AtomicU32>> = Arc::new((0..KEYS).map(|_| AtomicU32::new(0)).collect());
        let started = Instant::now();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (l, per_key) = (l.clone(), per_key.clone());
                std::thread::spawn(move || {
                    for i in 0..CALLS {
                        let k = (i + t as u64) % KEYS;
                        if l.check(k, T).is_ok() {
                            per_key[k as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let elapsed = started.elapsed();
        for (k, n) in per_key.iter().enumerate() {
            assert_eq!(n.load(Ordering::Relaxed), 100, "key {k}");
        }
        let calls = THREADS as u64 * CALLS;
        eprintln!(
            "{calls} checks on {THREADS} threads in {elapsed:?} ({:?} each)",
            elapsed / calls as u32
        );

        // With time moving: the first minute admits at most the burst plus the refill, and
        // nothing is lost or counted twice between threads.
        let l = Arc::new(RateLimiter::new([Quota::per_second(10)]));
        let total = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (l, total) = (l.clone(), total.clone());
                std::thread::spawn(move || {
                    for ms in 0..10_000 {
                        if l.check(1, T + ms).is_ok() {
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        if t == 0 && ms % 1_000 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Threads run at different paces, so one may be seconds behind another: the
        // total depends on the interleaving but never exceeds the budget of the span.
        let n = total.load(Ordering::Relaxed);
        assert!((10..=10 + 100).contains(&n), "{n}");
    }
}
