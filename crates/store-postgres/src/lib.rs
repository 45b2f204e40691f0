//! The scale-out store: one PostgreSQL database shared by any number of server processes.
//!
//! - **Positions** are taken by `UPDATE chats SET last_position = last_position + n ...
//!   RETURNING` inside the transaction that inserts the messages. The row lock it takes
//!   serialises the writers of one chat across every process, and a rollback undoes the
//!   increment with the insert, so positions never skip. `created_at` is raised to the
//!   chat's `last_created_at` in the same statement, so it never decreases along positions.
//! - **Durability** is PostgreSQL's: an `Ok` is returned after `COMMIT` succeeds.
//!   Concurrent sends share one transaction and so one commit flush (`sends.rs`).
//! - **Reads** of a get (chat, membership and message) are one statement, shared by the
//!   gets that run concurrently (`lookups.rs`).
//! - **Sharding**: every statement on `chats`, `chat_members` and `messages` names the chat
//!   (a message's chat is derived from its id), so a deployment that distributes those
//!   tables by chat id (Citus) routes each statement to one shard.
//! - **Nonces** live in a table, because every node must see every other node's nonces.
//!   Expired rows are ignored by lookups and deleted now and then. They are written on a
//!   pool of their own whose sessions run with `synchronous_commit=off`: a nonce is seen by
//!   every node as soon as it commits, and no request waits for a disk flush to check one.
//!   Concurrent requests' nonces are recorded in one statement per batch (`nonces.rs`).
//! - **Changes** (the event outbox) are recorded by each write that changes a timeline or a
//!   membership, in its own transaction, after it has locked the chat's row, so their `seq` follows the order of
//!   the chat's writes. Routing is one node's at a time (a lease row), and leasing
//!   deliveries is serialised across nodes by an advisory lock (`events.rs`).
//! - **Apps and users** are cached per node, kept coherent across nodes by
//!   `LISTEN`/`NOTIFY` (see `cache.rs`); nothing else is cached.
//! - **Failures** are fast: a connection that cannot be opened within `connect_timeout`, or
//!   a pool with no free connection within `acquire_timeout`, is reported as
//!   [`StoreError::Unavailable`], as are lost connections, server shutdowns and statements
//!   cancelled by `statement_timeout`.
//!
//! The files, one job each:
//! - `lib.rs` (here): the options, the [`PostgresStore`] handle and its connecting;
//! - `tenants.rs`, `chats.rs`, `messages.rs`, `nonces.rs`, `events.rs`: one file per area of
//!   the store port, each implementing its trait ([`TenantStore`], [`ChatStore`],
//!   [`MessageStore`], [`NonceStore`], [`EventStore`]; `nonces.rs` also batches concurrent
//!   requests' nonces; `events.rs` also records the changes of the other areas' writes);
//! - `files.rs`: stored files ([`FileStore`]), metadata and bytes in one row;
//! - `append.rs`: the two append paths (a group of messages, for concurrent sends and bulk
//!   imports; the general path for one message, which claims its key first), each recording
//!   its messages' changes but for imports;
//! - `batch.rs`: concurrent requests' statements joined into one per batch, used by
//!   `nonces.rs`, `lookups.rs` (a get's reads) and `sends.rs` (group commit);
//! - `sql.rs`: the SQL fragments statements share, and the prepared-statement helpers;
//! - `pool.rs`: connections, pools and migrations; `errors.rs`: PostgreSQL's errors as
//!   [`StoreError`]s;
//! - `cache.rs`: this node's apps and users, kept coherent by `LISTEN`/`NOTIFY`; `rows.rs`:
//!   row decoding; `testing.rs` (feature `testing`): a throwaway database per test.

#[macro_use]
mod sql;
mod append;
mod batch;
mod cache;
mod chats;
mod errors;
mod events;
mod files;
mod lookups;
mod messages;
pub mod metrics;
mod nonces;
mod pool;
mod reactions;
mod rows;
mod sends;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;

use deadpool_postgres::Pool;
use errors::{pg_err, pool_err};
use nonces::purge_nonces;
use pool::{build_pool, migrate_with, parse_url, with_setting};
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::model::*;
use switchboard_core::store::*;

pub use pool::{batch_pool_size, migrate, nonce_pool_size, DEFAULT_CONNECT_TIMEOUT};

/// How to reach the database and how many connections this process may hold.
///
/// Sizing `pool_size`: every call holds one connection while it runs; a group of sends
/// holds one (and its chats' row locks) for one transaction of a few round trips plus the
/// commit flush. Gets and sends take at most 4 connections each for their batches, so the
/// rest serve the other calls. Appends to one chat are serialised by that lock whatever the pool size; calls on
/// different chats run in parallel up to `pool_size`. Past about twice the server's CPU
/// cores, more connections only queue inside the server. The pools of all nodes together
/// must fit in the server's `max_connections`, less a reserve for administration and for
/// the one extra connection each node opens briefly to migrate: e.g. `max_connections =
/// 100` and 4 nodes allow `pool_size` up to about 20. The default is 16.
#[derive(Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/dbname?...` or `host=... dbname=...`.
    pub url: String,
    /// Connections this process keeps at most (opened lazily).
    pub pool_size: usize,
    /// Limit on opening one connection (TCP connect, startup and authentication).
    pub connect_timeout: Duration,
    /// Limit on waiting for a free pooled connection; past it a call fails as unavailable.
    pub acquire_timeout: Duration,
    /// Server-side limit on one statement and on idling inside a transaction, so that a
    /// stuck writer cannot hold a chat's row lock indefinitely. `None` keeps the server's.
    pub statement_timeout: Option<Duration>,
    /// Cache apps and users in this process, invalidated through `LISTEN`/`NOTIFY` (one
    /// more connection per process). Turn off behind a pooler that does not keep sessions
    /// (PgBouncer in transaction mode would not deliver notifications).
    pub cache: bool,
}

impl PostgresOptions {
    pub fn new(url: impl Into<String>) -> Self {
        PostgresOptions {
            url: url.into(),
            pool_size: 16,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
            cache: true,
        }
    }
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PostgresOptions")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("cache", &self.cache)
            .finish()
    }
}

#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Connections with `synchronous_commit=off`, for nonces only.
    nonce_pool: Pool,
    /// Records the nonces of concurrent requests together, on `nonce_pool`.
    nonces: nonces::Batcher,
    /// Reads the lookups of concurrent gets together (`lookups.rs`), on a pool of their own
    /// shared with `sends`, whose sessions plan each statement once.
    lookups: lookups::Lookups,
    /// Writes concurrent sends in one transaction (`sends.rs`).
    sends: sends::Sends,
    /// When this process last started a purge of expired nonces.
    nonce_purged_at: AtomicI64,
    cache: Arc<cache::Cache>,
    metrics: metrics::PoolMetrics,
    /// The task that keeps the cache's `LISTEN` connection; it ends with the store.
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(l) = &self.listener {
            l.abort();
        }
    }
}

impl PostgresStore {
    /// Applies pending migrations, then opens a pool (connections are opened on demand).
    pub async fn connect(opts: PostgresOptions) -> Result<Self, StoreError> {
        let mut config = parse_url(&opts.url)?;
        config.connect_timeout(opts.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("switchboard");
        }
        migrate_with(&config).await?;

        // A dead peer is noticed by TCP within ~30 s rather than the kernel's two hours.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        if let Some(t) = opts.statement_timeout {
            let ms = t.as_millis().max(1).to_string();
            config = with_setting(&config, "statement_timeout", &ms);
            config = with_setting(&config, "idle_in_transaction_session_timeout", &ms);
        }
        // The batched statements (nonces, gets, sends) read arrays of a batch's values. A
        // custom plan for each execution (what PostgreSQL keeps choosing for them, since
        // it knows each array's length) costs 0.1–0.8 ms of planning per statement, more
        // than running it; their generic plans are the same index lookups (each statement
        // is written so: `LATERAL … LIMIT 1`, `= ANY`, `ON CONFLICT`). So their sessions
        // plan once. The main pool keeps PostgreSQL's default choice for everything else.
        let batch_config = with_setting(&config, "plan_cache_mode", "force_generic_plan");
        // Nonce writes skip the wait for their commit's WAL flush (see `remember_nonce`):
        // their connections run with synchronous_commit off, and nothing else uses them.
        let nonce_config = with_setting(&batch_config, "synchronous_commit", "off");
        let cache = Arc::new(cache::Cache::default());
        let listener = opts
            .cache
            .then(|| tokio::spawn(cache::listen(config.clone(), cache.clone())));
        let pool = build_pool(config, &opts, opts.pool_size)?;
        let nonce_pool = build_pool(nonce_config, &opts, nonce_pool_size(opts.pool_size))?;
        let nonces = nonces::Batcher::spawn(nonce_pool.clone(), nonce_pool_size(opts.pool_size));
        let batch_pool = build_pool(batch_config, &opts, batch_pool_size(opts.pool_size))?;
        let per_batcher = batch_pool_size(opts.pool_size) / 2;
        let lookups = lookups::Lookups::spawn(batch_pool.clone(), per_batcher);
        let sends = sends::Sends::spawn(batch_pool, per_batcher);
        let store = PostgresStore {
            inner: Arc::new(Inner {
                metrics: metrics::PoolMetrics::new(),
                pool,
                nonce_pool,
                nonces,
                lookups,
                sends,
                nonce_purged_at: AtomicI64::new(0),
                cache,
                listener,
            }),
        };
        store.warn_if_not_durable().await?;
        Ok(store)
    }

    /// The contract says an `Ok` means durable; a server that does not flush at commit
    /// cannot keep that promise, so say so loudly (it is not an error: test servers do it).
    async fn warn_if_not_durable(&self) -> StoreResult<()> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT current_setting('fsync'), current_setting('synchronous_commit')",
                &[],
            )
            .await
            .map_err(pg_err)?;
        let (fsync, sync_commit): (String, String) = (rows::get(&row, 0)?, rows::get(&row, 1)?);
        if fsync == "off" || sync_commit == "off" {
            tracing::warn!(%fsync, synchronous_commit = %sync_commit, "PostgreSQL is not flushing commits: acknowledged writes may be lost in a crash");
        }
        Ok(())
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        let start = std::time::Instant::now();
        let c = self.inner.pool.get().await.map_err(pool_err)?;
        self.inner.metrics.acquired(start.elapsed());
        Ok(c)
    }

    /// Sets the pool gauges of `/metrics` from the pool as it is now.
    pub(crate) fn sample_pool(&self) {
        self.inner.metrics.sample(self.inner.pool.status());
    }

    /// Whether this process's app and user cache is serving (its listener is connected).
    pub fn cache_is_live(&self) -> bool {
        self.inner.cache.is_live()
    }

    /// `synchronous_commit` as a session of the main pool and one of the nonce pool see it.
    pub async fn commit_modes(&self) -> StoreResult<(String, String)> {
        const SQL: &str = "SELECT current_setting('synchronous_commit')";
        let main = self.client().await?;
        let nonce = self.inner.nonce_pool.get().await.map_err(pool_err)?;
        let a = main.query_one(SQL, &[]).await.map_err(pg_err)?;
        let b = nonce.query_one(SQL, &[]).await.map_err(pg_err)?;
        Ok((rows::get(&a, 0)?, rows::get(&b, 0)?))
    }

    /// Deletes the nonces that expired at or before `now`; returns how many.
    /// Runs by itself now and then; exposed for maintenance jobs and tests.
    pub async fn purge_expired_nonces(&self, now: Millis) -> StoreResult<u64> {
        purge_nonces(&self.inner.pool, now).await
    }
}
