//! Reads: a small pool of read-only connections, each keeping its read transaction (its
//! snapshot) open between reads until the writer commits again.

use crate::{open_conn_mapped, sql_err, SqliteStore};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;
use switchboard_core::store::*;

/// A pooled read connection and the commit count its open read transaction (if any) was
/// started at.
struct Reader {
    conn: Connection,
    snapshot: Option<u64>,
}

impl Reader {
    fn end_snapshot(&mut self) -> Result<(), StoreError> {
        if self.snapshot.take().is_some() {
            self.conn.execute_batch("COMMIT").map_err(sql_err)?;
        }
        Ok(())
    }
}

/// The read connections, and the writer's commit count they compare their snapshots with.
#[derive(Default)]
pub(crate) struct Readers {
    idle: Mutex<Vec<Reader>>,
    commits: std::sync::atomic::AtomicU64,
    /// While set, readers end their snapshot after each read (the writer is restarting
    /// the WAL and waits for every reader to leave it).
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// `SqliteOptions::mmap_bytes`, for each new read connection.
    mmap_bytes: u64,
}

impl Readers {
    /// An empty pool whose connections will map `mmap_bytes` of the database file.
    pub(crate) fn new(mmap_bytes: u64) -> Self {
        Readers {
            mmap_bytes,
            ..Readers::default()
        }
    }

    /// Runs `f` on a read connection whose snapshot includes every commit made so far.
    fn with<T>(
        &self,
        path: &Path,
        max: usize,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let pooled = self.idle.lock().expect("reader pool poisoned").pop();
        let mut r = match pooled {
            Some(r) => r,
            None => Reader {
                conn: open_conn_mapped(path, true, self.mmap_bytes)?,
                snapshot: None,
            },
        };
        // Read before the snapshot starts: a commit in between only makes it newer.
        let now = self.commits.load(std::sync::atomic::Ordering::Acquire);
        if r.snapshot != Some(now) {
            // A connection that cannot end or begin a transaction is dropped, not pooled.
            r.end_snapshot()?;
            // Deferred: the snapshot is taken by the first read below.
            r.conn.execute_batch("BEGIN").map_err(sql_err)?;
            r.snapshot = Some(now);
        }
        let out = f(&r.conn);
        // Whatever failed, the next read starts afresh.
        let release = out.is_err() || self.draining.load(std::sync::atomic::Ordering::Acquire);
        if release && r.end_snapshot().is_err() {
            return out;
        }
        let mut idle = self.idle.lock().expect("reader pool poisoned");
        if idle.len() < max {
            idle.push(r);
        }
        out
    }

    /// Called by the writer after each commit (or failed commit), before it answers: later
    /// reads start new snapshots, and idle readers let go of theirs so that the WAL can be
    /// checkpointed and reset.
    pub(crate) fn committed(&self) {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let mut idle = self.idle.lock().expect("reader pool poisoned");
        idle.retain_mut(|r| match r.end_snapshot() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite reader could not end its read transaction; dropped");
                false
            }
        });
    }
}

impl SqliteStore {
    /// A point read run on the calling thread: a primary-key lookup costs a few
    /// microseconds from the page cache, less than a hop to the blocking pool.
    pub(crate) fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.inner
            .readers
            .with(&self.inner.path, self.inner.max_readers, f)
    }

    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: std::marker::Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.readers.with(&inner.path, inner.max_readers, f))
            .await
            .map_err(|e| StoreError::Internal(format!("reader task: {e}")))?
    }
}
