//! Per-app request limiter: fixed one-second and one-minute windows, Feishu's documented
//! 50/s and 1000/min. It lives in memory on each node, so N nodes behind a balancer allow up
//! to N times the limit; time comes from the core clock, so tests need no sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use switchboard_core::ids::AppId;
use switchboard_core::model::Millis;

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    second: i64,
    in_second: u32,
    minute: i64,
    in_minute: u32,
}

/// Which limit was hit, for the `x-ogw-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub limit: u32,
    /// Seconds until the window resets (at least 1).
    pub reset_secs: u32,
}

pub struct Limiter {
    per_second: u32,
    per_minute: u32,
    apps: Mutex<HashMap<AppId, Window>>,
}

impl Limiter {
    /// A limit of 0 disables that window.
    pub fn new(per_second: u32, per_minute: u32) -> Self {
        Limiter {
            per_second,
            per_minute,
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request; refused requests are not counted.
    pub fn check(&self, app: AppId, now_ms: Millis) -> Result<(), Over> {
        let (second, minute) = (now_ms.div_euclid(1000), now_ms.div_euclid(60_000));
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        let w = apps.entry(app).or_default();
        if w.second != second {
            w.second = second;
            w.in_second = 0;
        }
        if w.minute != minute {
            w.minute = minute;
            w.in_minute = 0;
        }
        if self.per_minute > 0 && w.in_minute >= self.per_minute {
            let reset = (minute + 1) * 60_000 - now_ms;
            return Err(Over {
                limit: self.per_minute,
                reset_secs: secs_up(reset),
            });
        }
        if self.per_second > 0 && w.in_second >= self.per_second {
            let reset = (second + 1) * 1000 - now_ms;
            return Err(Over {
                limit: self.per_second,
                reset_secs: secs_up(reset),
            });
        }
        w.in_second += 1;
        w.in_minute += 1;
        Ok(())
    }
}

fn secs_up(ms: i64) -> u32 {
    ((ms + 999) / 1000).clamp(1, 60) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let l = Limiter::new(2, 3);
        let a = AppId(1);
        let t = 1_000_000_020_000; // on a minute boundary
        assert!(l.check(a, t).is_ok());
        assert!(l.check(a, t + 10).is_ok());
        assert_eq!(
            l.check(a, t + 20),
            Err(Over {
                limit: 2,
                reset_secs: 1
            })
        );
        assert!(l.check(AppId(2), t).is_ok(), "per app");
        assert!(l.check(a, t + 1000).is_ok(), "next second");
        assert_eq!(
            l.check(a, t + 1500).unwrap_err().limit,
            3,
            "minute budget spent"
        );
        assert!(l.check(a, t + 60_000).is_ok(), "next minute");
        let off = Limiter::new(0, 0);
        for i in 0..100 {
            assert!(off.check(a, t + i).is_ok());
        }
    }
}
