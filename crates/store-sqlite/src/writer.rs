//! Writes: one writer thread owns the only write connection, runs the queued writes of a
//! batch each in its own savepoint of one transaction, commits once (group commit) and only
//! then answers each caller. A large job (a bulk import) gets a transaction of its own.

use crate::readers::Readers;
use crate::wal::{restart_wal, Wal};
use crate::{sql_err, SqliteStore};
use rusqlite::Connection;
use switchboard_core::store::*;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed together in one transaction.
pub const MAX_BATCH: usize = 512;

/// One queued write: run inside the batch transaction, then told how the commit went.
pub(crate) trait WriteJob: std::marker::Send {
    /// Runs the write; false if it failed (its savepoint is rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's fate is known (a job that never ran gets `commit`'s error).
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
    /// A large job (a bulk import batch) that runs in a transaction of its own: it needs no
    /// savepoint, whose sub-journal would copy every page it touches.
    fn solo(&self) -> bool;
}

struct Job<T, F> {
    f: Option<F>,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
    solo: bool,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: std::marker::Send,
    F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let f = self.f.take().expect("a write job runs once");
        let r = f(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (commit, self.result) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(r)) => r,
            (Ok(()), None) => Err(StoreError::Internal("write job never ran".into())),
        };
        let _ = self.reply.send(answer);
    }

    fn solo(&self) -> bool {
        self.solo
    }
}

pub(crate) type BoxedJob = Box<dyn WriteJob>;

impl SqliteStore {
    /// Runs `f` on the writer thread inside the current batch's transaction, and answers
    /// once that transaction is durably committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: std::marker::Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send + 'static,
    {
        self.write_job(f, false).await
    }

    /// Like [`SqliteStore::write`], for a large job: it gets a transaction of its own (all or
    /// nothing, as in a savepoint) instead of a savepoint in a shared one.
    pub(crate) async fn write_solo<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: std::marker::Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send + 'static,
    {
        self.write_job(f, true).await
    }

    pub(crate) async fn write_job<T, F>(&self, f: F, solo: bool) -> StoreResult<T>
    where
        T: std::marker::Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: BoxedJob = Box::new(Job {
            f: Some(f),
            result: None,
            reply: tx,
            solo,
        });
        self.inner
            .writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("writer stopped".into()))?
    }
}

pub(crate) fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<BoxedJob>,
    readers: &Readers,
    checkpoints: &std::sync::mpsc::SyncSender<()>,
    wal: &Wal,
) {
    let mut batch: Vec<BoxedJob> = Vec::with_capacity(MAX_BATCH);
    // A solo job met while draining waits here for the batch before it to commit.
    let mut held: Option<BoxedJob> = None;
    let m = crate::metrics::WriterMetrics::new();
    loop {
        let first = match held.take() {
            Some(j) => j,
            None => match rx.blocking_recv() {
                Some(j) => j,
                None => break,
            },
        };
        if wal.too_long() {
            restart_wal(&conn, readers, wal);
        }
        if first.solo() {
            run_solo(&conn, first, readers);
            let _ = checkpoints.try_send(());
            continue;
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) if j.solo() => {
                    held = Some(j);
                    break;
                }
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        m.queue.set(rx.len() as f64);
        m.batch.record(batch.len() as f64);
        let began = std::time::Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = sql_err(e);
            tracing::error!(error = %err, "sqlite writer could not begin a transaction");
            for job in batch.drain(..) {
                job.finish(Err(err.clone()));
            }
            continue;
        }
        for job in batch.iter_mut() {
            let ok = conn.execute_batch("SAVEPOINT job").is_ok() && job.run(&conn);
            let end = if ok {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            if let Err(e) = conn.execute_batch(end) {
                tracing::error!(error = %e, "sqlite savepoint end failed");
            }
        }
        let commit = conn.execute_batch("COMMIT").map_err(sql_err);
        if let Err(e) = &commit {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = %e, "sqlite commit failed; the whole batch is answered with the error");
        }
        m.commit.record(began.elapsed().as_secs_f64());
        m.wal
            .set(wal.frames.load(std::sync::atomic::Ordering::Relaxed) as f64);
        // Before anyone hears of the commit, so that their next read sees it.
        readers.committed();
        // Full means a checkpoint is already due.
        let _ = checkpoints.try_send(());
        for job in batch.drain(..) {
            job.finish(commit.clone());
        }
    }
}

/// Runs one large job in a transaction of its own: committed if it succeeds, rolled back
/// (leaving no trace) if it fails.
fn run_solo(conn: &Connection, mut job: BoxedJob, readers: &Readers) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = sql_err(e);
        tracing::error!(error = %err, "sqlite writer could not begin a transaction");
        job.finish(Err(err));
        return;
    }
    let outcome = if job.run(conn) {
        let commit = conn.execute_batch("COMMIT").map_err(sql_err);
        if let Err(e) = &commit {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = %e, "sqlite commit failed");
        }
        commit
    } else {
        // The job's own error is its answer.
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "sqlite rollback failed");
        }
        Ok(())
    };
    readers.committed();
    job.finish(outcome);
}
