//! The WAL: a thread of its own checkpoints it after commits, and the writer restarts it
//! between two batches once it has grown past [`WAL_RESET_FRAMES`].

use crate::readers::Readers;
use crate::{open_conn, BUSY_TIMEOUT};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use switchboard_core::store::*;

/// WAL frames past which the writer restarts the WAL (8192 pages of 4 KiB: 32 MiB).
///
/// The background checkpointer copies the WAL into the database without blocking anyone,
/// but under sustained writes and reads it can never *restart* the WAL: SQLite rewinds the
/// log only when a write begins while every frame is copied and no reader uses it, and
/// there is always a newer commit or a reader on it. The WAL (and every page lookup in its
/// index) then grows without bound: a 5-second send burst left 700 MB of WAL behind. So
/// past this size the writer pauses between two batches, has readers let go, checkpoints
/// with RESTART, and the next write starts the log from its beginning.
pub const WAL_RESET_FRAMES: i64 = 8192;

/// How long a WAL restart waits for readers to leave the WAL before it gives up (to retry
/// before a later batch).
const WAL_RESTART_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The WAL file is truncated back to this size when the log restarts.
pub(crate) const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Checkpoints at most this often; each copies whatever the WAL holds by then.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the checkpoint thread; the writer pokes the returned sender after each commit.
/// The thread stops when the writer does (the sender is dropped).
pub(crate) fn spawn_checkpointer(
    path: &Path,
    wal: Arc<Wal>,
) -> Result<std::sync::mpsc::SyncSender<()>, StoreError> {
    let conn = open_conn(path, false)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // PASSIVE: copies what it can without blocking the writer or readers. Its
                // answer tells the writer how long the WAL has grown.
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    r.get::<_, i64>(1)
                }) {
                    Ok(frames) => wal
                        .frames
                        .store(frames, std::sync::atomic::Ordering::Release),
                    Err(e) => {
                        tracing::warn!(error = %e, "sqlite checkpoint failed; retried after the next commit")
                    }
                }
                std::thread::sleep(CHECKPOINT_INTERVAL);
            }
        })
        .map_err(|e| StoreError::Internal(format!("spawn checkpointer: {e}")))?;
    Ok(tx)
}

/// The WAL's length as the checkpointer last saw it, and where the writer restarts it.
pub(crate) struct Wal {
    pub(crate) frames: std::sync::atomic::AtomicI64,
    pub(crate) reset_at: i64,
}

impl Wal {
    pub(crate) fn too_long(&self) -> bool {
        self.frames.load(std::sync::atomic::Ordering::Acquire) >= self.reset_at
    }
}

/// Checkpoints the whole WAL and rewinds it, between two batches (see [`WAL_RESET_FRAMES`]).
/// Readers let go of their snapshots meanwhile; writes wait, reads do not.
pub(crate) fn restart_wal(conn: &Connection, readers: &Readers, wal: &Wal) {
    use std::sync::atomic::Ordering;
    readers.draining.store(true, Ordering::Release);
    readers.committed();
    // Readers finish within microseconds once they drain; a long history scan may not, and
    // writes should not wait the full busy timeout for it: give up early and retry later.
    let _ = conn.busy_timeout(WAL_RESTART_WAIT);
    let outcome = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    });
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    readers.draining.store(false, Ordering::Release);
    match outcome {
        Ok((0, _)) => wal.frames.store(0, Ordering::Release),
        // Busy (the checkpointer was mid-copy, or a reader outlasted the busy timeout):
        // tried again before a later batch.
        Ok((_, frames)) => wal.frames.store(frames, Ordering::Release),
        Err(e) => {
            tracing::warn!(error = %e, "sqlite WAL restart failed; retried later");
            wal.frames.store(0, Ordering::Release);
        }
    }
}
