//! The retry schedule: how long after a failed attempt the next one is made.

use crate::events::Next;
use crate::model::Millis;

/// `N` intervals mean `1 + N` attempts, each interval counted from the end of the previous
/// attempt. Parsed from `"15s,5m,1h,6h"` (units `ms`, `s`, `m`, `h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    intervals_ms: Vec<i64>,
}

impl Schedule {
    pub fn new(intervals_ms: Vec<i64>) -> Self {
        Schedule { intervals_ms }
    }

    /// Feishu's documented schedule: retries after 15 s, 5 min, 1 h and 6 h.
    pub fn feishu() -> Self {
        Schedule::new(vec![15_000, 300_000, 3_600_000, 21_600_000])
    }

    pub fn intervals_ms(&self) -> &[i64] {
        &self.intervals_ms
    }

    /// Parses a comma-separated list of durations; an empty string is no retry at all.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(parse_duration_ms(part)?);
        }
        Ok(Schedule::new(out))
    }

    /// What follows attempt number `made` (1-based) that ended at `now`.
    pub fn after(&self, made: u32, ok: bool, now: Millis) -> Next {
        if ok {
            return Next::Delivered;
        }
        match self.intervals_ms.get(made.saturating_sub(1) as usize) {
            Some(wait) => Next::RetryAt(now.saturating_add(*wait)),
            None => Next::Failed,
        }
    }
}

/// `"250ms"`, `"15s"`, `"5m"`, `"6h"` to milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => return Err(format!("`{s}` needs a unit: ms, s, m or h")),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 15s or 5m"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`{s}`: the unit must be ms, s, m or h")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_the_rest() {
        let s = Schedule::parse("15s,5m,1h,6h").unwrap();
        assert_eq!(s, Schedule::feishu());
        assert_eq!(
            Schedule::parse("50ms, 2s").unwrap().intervals_ms(),
            &[50, 2_000]
        );
        assert_eq!(Schedule::parse("").unwrap().intervals_ms(), &[] as &[i64]);
        for bad in ["15", "5x", "s", "-1s", "1.5s", "99999999999999999h"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn n_intervals_make_n_plus_one_attempts() {
        let s = Schedule::parse("15s,5m").unwrap();
        assert_eq!(s.after(1, false, 1_000), Next::RetryAt(16_000));
        assert_eq!(s.after(2, false, 16_000), Next::RetryAt(316_000));
        assert_eq!(s.after(3, false, 316_000), Next::Failed);
        assert_eq!(s.after(3, true, 316_000), Next::Delivered);
        assert_eq!(Schedule::new(vec![]).after(1, false, 0), Next::Failed);
    }
}
