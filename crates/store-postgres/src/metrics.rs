//! What the PostgreSQL store tells `/metrics`, through the `metrics` facade (nothing is
//! recorded when the server runs without a recorder): the connection pool's use and how
//! long a query waits for a connection.

use metrics::{describe_gauge, describe_histogram, Unit};

pub const POOL_SIZE: &str = "switchboard_postgres_pool_connections";
pub const POOL_IDLE: &str = "switchboard_postgres_pool_idle";
pub const POOL_WAITING: &str = "switchboard_postgres_pool_waiting";
pub const ACQUIRE_SECONDS: &str = "switchboard_postgres_acquire_seconds";

/// Registers the help texts (the server calls it once, with its recorder installed).
pub fn describe() {
    describe_gauge!(POOL_SIZE, "Connections the main pool holds open");
    describe_gauge!(POOL_IDLE, "Of those, connections not in use");
    describe_gauge!(POOL_WAITING, "Queries waiting for a connection");
    describe_histogram!(
        ACQUIRE_SECONDS,
        Unit::Seconds,
        "How long a query waited for a connection of the main pool"
    );
}

/// The pool's handles, registered once when the store connects.
pub(crate) struct PoolMetrics {
    size: metrics::Gauge,
    idle: metrics::Gauge,
    waiting: metrics::Gauge,
    acquire: metrics::Histogram,
}

impl PoolMetrics {
    pub fn new() -> PoolMetrics {
        PoolMetrics {
            size: metrics::gauge!(POOL_SIZE),
            idle: metrics::gauge!(POOL_IDLE),
            waiting: metrics::gauge!(POOL_WAITING),
            acquire: metrics::histogram!(ACQUIRE_SECONDS),
        }
    }

    /// After each acquisition: the wait.
    pub fn acquired(&self, waited: std::time::Duration) {
        self.acquire.record(waited.as_secs_f64());
    }

    /// The pool as it is now: set by `ping`, which the server's `/metrics` calls before
    /// it renders, so the gauges are current when scraped and cost the queries nothing.
    pub fn sample(&self, status: deadpool_postgres::Status) {
        self.size.set(status.size as f64);
        self.idle.set(status.available as f64);
        self.waiting.set(status.waiting as f64);
    }
}
