//! The per-AppKey rate limiter (code 416 when exceeded).
//!
//! A fixed one-second window per AppKey, in memory: each node counts on its own, so a
//! cluster of N nodes admits up to N times the configured rate. Time comes from the core's
//! clock, so tests drive it by hand.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct RateLimiter {
    per_second: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// Windows idle for this long are dropped when the map grows.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    /// `per_second == 0` admits everything.
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` at `now_ms`; false when over the limit.
    pub fn admit(&self, key: &str, now_ms: i64) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let second = now_ms.div_euclid(1000);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, (s, _)| *s >= second - 1);
        }
        // Looked up before inserting: an owned key is allocated once per AppKey, not per call.
        let w = match windows.get_mut(key) {
            Some(w) => w,
            None => windows.entry(key.to_string()).or_insert((second, 0)),
        };
        if w.0 != second {
            *w = (second, 0);
        }
        if w.1 >= self.per_second {
            return false;
        }
        w.1 += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_per_key_and_second() {
        let r = RateLimiter::new(2);
        assert!(r.admit("a", 1_000));
        assert!(r.admit("a", 1_500));
        assert!(!r.admit("a", 1_999));
        assert!(r.admit("b", 1_999), "keys are independent");
        assert!(r.admit("a", 2_000), "a new second starts a new window");
        let unlimited = RateLimiter::new(0);
        assert!((0..1000).all(|_| unlimited.admit("a", 0)));
    }
}
