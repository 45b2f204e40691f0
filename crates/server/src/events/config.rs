//! `[events]`: how deliveries are attempted and kept.

use serde::{Deserialize, Serialize};
use switchboard_core::events::schedule::Schedule;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Deliver events at all (the router and deliverer run on every node that has it on).
    pub enabled: bool,
    /// Waits between attempts after a failure, each counted from the previous attempt:
    /// N intervals make 1 + N attempts, then the delivery is marked failed. Durations take
    /// `ms`, `s`, `m` or `h`. Feishu's schedule by default.
    pub retry_schedule: String,
    /// An attempt that has no answer within this many milliseconds has failed (Feishu and
    /// WPS: 3 s).
    pub timeout_ms: u64,
    /// The same for Yunxin's message copies, whose vendor waits 5 s.
    pub yunxin_timeout_ms: u64,
    /// How long a receiver has to echo the URL-verification challenge when a webhook
    /// subscription is saved, in milliseconds (Feishu's console allows 1 s; more here so
    /// that a receiver on a busy machine is not refused for being slow once).
    pub challenge_timeout_ms: u64,
    /// Attempts one app may have in progress at once on this node. A slow or dead
    /// receiver holds only its own app's slots.
    pub per_app_concurrency: usize,
    /// Deliveries taken in hand per lease.
    pub batch: usize,
    /// How long a node holds a leased change or delivery before another node may take it
    /// over (a node that died mid-attempt), in milliseconds.
    pub lease_ms: u64,
    /// How often to look for work that no local write announced (another node's writes,
    /// retries coming due), in milliseconds.
    pub poll_ms: u64,
    /// How long delivered and failed deliveries and their attempts are kept, in hours.
    pub retention_hours: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            enabled: true,
            retry_schedule: "15s,5m,1h,6h".into(),
            timeout_ms: 3_000,
            yunxin_timeout_ms: 5_000,
            challenge_timeout_ms: 3_000,
            per_app_concurrency: 8,
            batch: 256,
            lease_ms: 60_000,
            poll_ms: 100,
            retention_hours: 7 * 24,
        }
    }
}

impl EventsConfig {
    /// An attempt's deadline on `dialect`'s wire.
    pub fn timeout_for(&self, dialect: &str) -> std::time::Duration {
        std::time::Duration::from_millis(match dialect {
            "yunxin" => self.yunxin_timeout_ms,
            _ => self.timeout_ms,
        })
    }

    pub fn schedule(&self) -> Result<Schedule, String> {
        Schedule::parse(&self.retry_schedule).map_err(|e| format!("retry_schedule: {e}"))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.schedule()?;
        for (v, key) in [
            (self.timeout_ms, "timeout_ms"),
            (self.yunxin_timeout_ms, "yunxin_timeout_ms"),
            (self.challenge_timeout_ms, "challenge_timeout_ms"),
            (self.per_app_concurrency as u64, "per_app_concurrency"),
            (self.batch as u64, "batch"),
            (self.poll_ms, "poll_ms"),
        ] {
            if v == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        if self.lease_ms < self.timeout_ms.max(self.yunxin_timeout_ms) * 2 {
            return Err("lease_ms must be at least twice timeout_ms and yunxin_timeout_ms".into());
        }
        Ok(())
    }
}
