//! Group work: concurrent requests' statements joined into one statement per batch.
//!
//! PostgreSQL spends most of a short statement on what every statement costs (the protocol
//! messages, the executor's start and end, the backend's wake-up, and for a write the
//! commit's WAL flush), not on its rows. A [`Batcher`] queues jobs of one kind; its task
//! takes a connection permit, then every job queued by then (up to a maximum), and hands
//! them to a settle function that runs them as one statement (or one transaction) and
//! answers each job. While every permitted connection is busy new jobs queue, so batches
//! grow with the load and a lone request waits for no one.
//!
//! Used for nonces (`nonces.rs`), message lookups (`lookups.rs`) and sends (`sends.rs`).

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};

/// The handle requests queue their jobs on; the task ends when the last handle is dropped.
pub(crate) struct Batcher<J> {
    jobs: mpsc::UnboundedSender<J>,
}

impl<J: Send + 'static> Batcher<J> {
    /// Starts the task: at most `connections` batches run at once, each of at most `max`
    /// jobs, each settled by `settle`.
    pub(crate) fn spawn<F, Fut>(connections: usize, max: usize, settle: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(connections.max(1), max.max(1), rx, settle));
        Batcher { jobs }
    }

    /// Queues `job`; gives it back when the task is gone (its runtime has shut down), for
    /// the caller to run it alone.
    pub(crate) fn submit(&self, job: J) -> Result<(), J> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

async fn run<J, F, Fut>(
    connections: usize,
    max: usize,
    mut rx: mpsc::UnboundedReceiver<J>,
    settle: F,
) where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(connections));
    loop {
        // The permit first: while every connection is busy, jobs queue into the next batch.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let work = settle(batch);
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
    }
}
