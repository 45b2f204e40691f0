//! What the SQLite store tells `/metrics`, through the `metrics` facade (nothing is
//! recorded when the server runs without a recorder): the writer's queue, batches and
//! commits, and the write-ahead log's length. Cache hits and misses are counted by the
//! caches themselves (`switchboard_core::cache`).

use metrics::{describe_gauge, describe_histogram, Unit};

pub const QUEUE_DEPTH: &str = "switchboard_sqlite_write_queue_depth";
pub const COMMIT_SECONDS: &str = "switchboard_sqlite_commit_seconds";
pub const BATCH_SIZE: &str = "switchboard_sqlite_write_batch_size";
pub const WAL_FRAMES: &str = "switchboard_sqlite_wal_frames";

/// Registers the help texts (the server calls it once, with its recorder installed).
pub fn describe() {
    describe_gauge!(
        QUEUE_DEPTH,
        "Writes waiting for the writer thread when it last took a batch"
    );
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "One write transaction, from BEGIN to a durable COMMIT"
    );
    describe_histogram!(BATCH_SIZE, "Writes committed together in one transaction");
    describe_gauge!(
        WAL_FRAMES,
        "Frames (pages) in the write-ahead log after the last commit"
    );
}

/// The writer thread's handles, registered once when it starts.
pub(crate) struct WriterMetrics {
    pub queue: metrics::Gauge,
    pub commit: metrics::Histogram,
    pub batch: metrics::Histogram,
    pub wal: metrics::Gauge,
}

impl WriterMetrics {
    pub fn new() -> WriterMetrics {
        WriterMetrics {
            queue: metrics::gauge!(QUEUE_DEPTH),
            commit: metrics::histogram!(COMMIT_SECONDS),
            batch: metrics::histogram!(BATCH_SIZE),
            wal: metrics::gauge!(WAL_FRAMES),
        }
    }
}
