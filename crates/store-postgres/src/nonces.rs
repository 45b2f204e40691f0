//! Nonces ([`NonceStore`]; expired ones are purged now and then), and the batcher that
//! records concurrent requests' nonces together: one statement per batch instead of one
//! round trip per request.
//!
//! Every Yunxin request records its nonce, so on a busy node the nonce statement is as
//! frequent as the requests themselves. A batch (`batch.rs`: up to [`MAX_BATCH`] nonces
//! queued while the nonce pool's connections were busy) is recorded in one `INSERT …
//! SELECT FROM UNNEST … ON CONFLICT` on the nonce pool; each request learns from the
//! returned rows whether its nonce was fresh.
//!
//! Three details keep the answers exactly those of one statement per nonce:
//! - a nonce twice in one batch is sent once; its later copies are replays;
//! - a batch is sorted by key, so two batches (of this node or another) that share nonces
//!   lock them in the same order and cannot deadlock;
//! - an expired row is renewed when it expired at or before the batch's earliest `now`
//!   (the requests of one batch were queued within milliseconds of each other; the
//!   earliest is the strict choice: a nonce is never taken as expired early).

use crate::errors::{pg_err, pool_err};
use crate::sql::query_opt;
use crate::PostgresStore;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use std::sync::atomic::Ordering;
use switchboard_core::model::Millis;
use switchboard_core::store::{NonceStore, StoreError, StoreResult};
use tokio::sync::oneshot;

/// Nonces per statement at most: large enough that a full queue drains in a few round
/// trips, small enough to keep one statement's arrays to a few hundred kilobytes.
pub const MAX_BATCH: usize = 512;

struct Job {
    scope: String,
    nonce: String,
    expires_at: Millis,
    now: Millis,
    reply: oneshot::Sender<StoreResult<bool>>,
}

/// The handle requests use; the task ends when the last handle is dropped.
pub struct Batcher {
    batcher: crate::batch::Batcher<Job>,
}

impl Batcher {
    /// Starts the batcher task, which uses at most `connections` of `pool` at once.
    pub fn spawn(pool: Pool, connections: usize) -> Self {
        let batcher = crate::batch::Batcher::spawn(connections, MAX_BATCH, move |batch| {
            let pool = pool.clone();
            async move { settle(&pool, batch).await }
        });
        Batcher { batcher }
    }

    /// Whether `nonce` was fresh (recorded now), as `Store::remember_nonce` answers;
    /// `None` when the task is gone (its runtime has shut down), for the caller to record
    /// the nonce itself.
    pub async fn remember(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
        now: Millis,
    ) -> Option<StoreResult<bool>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            scope: scope.to_owned(),
            nonce: nonce.to_owned(),
            expires_at,
            now,
            reply,
        };
        self.batcher.submit(job).ok()?;
        answer.await.ok()
    }
}

/// Records one batch and answers each of its requests.
async fn settle(pool: &Pool, mut batch: Vec<Job>) {
    batch.sort_by(|a, b| (&a.scope, &a.nonce).cmp(&(&b.scope, &b.nonce)));
    let mut keys = Keys::default();
    for (i, j) in batch.iter().enumerate() {
        if i == 0 || !same_key(&batch[i - 1], j) {
            keys.scopes.push(j.scope.as_str());
            keys.nonces.push(j.nonce.as_str());
            keys.expires.push(j.expires_at);
        }
    }
    let now = batch.iter().map(|j| j.now).min().unwrap_or_default();
    let fresh = record(pool, &keys, now).await;
    let answers: Vec<StoreResult<bool>> = (0..batch.len())
        .map(|i| match &fresh {
            Err(e) => Err(e.clone()),
            // A later copy within the batch is a replay of the first.
            Ok(_) if i > 0 && same_key(&batch[i - 1], &batch[i]) => Ok(false),
            Ok(set) => Ok(set.contains(&(batch[i].scope.clone(), batch[i].nonce.clone()))),
        })
        .collect();
    for (j, answer) in batch.into_iter().zip(answers) {
        // A request that gave up no longer listens; its nonce stays recorded.
        let _ = j.reply.send(answer);
    }
}

fn same_key(a: &Job, b: &Job) -> bool {
    (&a.scope, &a.nonce) == (&b.scope, &b.nonce)
}

#[derive(Default)]
struct Keys<'a> {
    scopes: Vec<&'a str>,
    nonces: Vec<&'a str>,
    expires: Vec<Millis>,
}

/// The keys that were fresh: absent, or expired at or before `now` (and now renewed).
async fn record(
    pool: &Pool,
    keys: &Keys<'_>,
    now: Millis,
) -> StoreResult<std::collections::HashSet<(String, String)>> {
    let c = pool.get().await.map_err(pool_err)?;
    let s = c
        .prepare_cached(
            "INSERT INTO nonces(scope, nonce, expires_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
             ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 WHERE nonces.expires_at <= $4
             RETURNING scope, nonce",
        )
        .await
        .map_err(pg_err)?;
    let rows = c
        .query(&s, &[&keys.scopes, &keys.nonces, &keys.expires, &now])
        .await
        .map_err(pg_err)?;
    rows.iter()
        .map(|r| Ok((crate::rows::get(r, 0)?, crate::rows::get(r, 1)?)))
        .collect::<Result<_, StoreError>>()
}

/// A process starts a purge of expired nonces at most once per this many milliseconds:
/// rare enough to cost nothing, frequent enough to keep the table near its live size.
const NONCE_PURGE_INTERVAL_MS: Millis = 5_000;

/// Rows deleted by one statement of a purge, so that none holds many locks or runs long.
const NONCE_PURGE_BATCH: i64 = 1_000;

/// Deletes the nonces expired at or before `now`, a batch per statement; returns how many.
/// On the main pool: its sessions plan each execution for its `now`, which finds the
/// expired rows through `nonces_expiry` (a plan made once for any `now` may scan them all).
pub(crate) async fn purge_nonces(pool: &Pool, now: Millis) -> StoreResult<u64> {
    let c = pool.get().await.map_err(pool_err)?;
    // SKIP LOCKED: nodes purging at the same time split the work instead of queueing.
    let s = c
        .prepare_cached(
            "DELETE FROM nonces WHERE (scope, nonce) IN (
                 SELECT scope, nonce FROM nonces WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .await
        .map_err(pg_err)?;
    let mut total = 0;
    loop {
        let n = c
            .execute(&s, &[&now, &NONCE_PURGE_BATCH])
            .await
            .map_err(pg_err)?;
        total += n;
        if n < NONCE_PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}

#[async_trait]
impl NonceStore for PostgresStore {
    async fn remember_nonce(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        let last = self.inner.nonce_purged_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= NONCE_PURGE_INTERVAL_MS
            && self
                .inner
                .nonce_purged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let pool = self.inner.pool.clone();
            tokio::spawn(async move {
                if let Err(e) = purge_nonces(&pool, now).await {
                    tracing::debug!(error = %e, "purging expired nonces failed");
                }
            });
        }
        // Its own pool, whose sessions do not wait for the commit's WAL flush: a request
        // checks a nonce on every Yunxin call, and a flush each time would cost a disk
        // write per read. The row is visible to every node at once all the same; what a
        // crash of PostgreSQL can lose is the last few hundred milliseconds of nonces
        // (wal_writer_delay), whose requests could then be replayed once within their
        // freshness window. Concurrent requests share one statement ([`Batcher`]).
        if let Some(answer) = self
            .inner
            .nonces
            .remember(scope, nonce, expires_at, now)
            .await
        {
            return answer;
        }
        let c = self.inner.nonce_pool.get().await.map_err(pool_err)?;
        // A row comes back when the nonce was absent or had expired (and is now renewed);
        // none when a live one exists: a replay. Concurrent callers queue on the key.
        let fresh = query_opt(
            &c,
            "INSERT INTO nonces(scope, nonce, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (scope, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE nonces.expires_at <= $4
             RETURNING 1",
            &[&scope, &nonce, &expires_at, &now],
        )
        .await?;
        Ok(fresh.is_some())
    }
}
