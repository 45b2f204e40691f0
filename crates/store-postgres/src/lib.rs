//! The scale-out store: one PostgreSQL database shared by any number of server processes.
//!
//! - **Positions** are taken by `UPDATE chats SET last_position = last_position + 1 ...
//!   RETURNING` inside the transaction that inserts the message (for a send without an
//!   idempotency key, in the same statement as the insert). The row lock it takes
//!   serialises the writers of one chat across every process, and a rollback undoes the
//!   increment with the insert, so positions never skip. `created_at` is raised to the
//!   chat's `last_created_at` in the same statement, so it never decreases along positions.
//! - **Durability** is PostgreSQL's: an `Ok` is returned after `COMMIT` succeeds.
//! - **Sharding**: every statement on `chats`, `chat_members` and `messages` names the chat
//!   (a message's chat is derived from its id), so a deployment that distributes those
//!   tables by chat id (Citus) routes each statement to one shard.
//! - **Nonces** live in a table, because every node must see every other node's nonces.
//!   Expired rows are ignored by lookups and deleted now and then. They are written on a
//!   pool of their own whose sessions run with `synchronous_commit=off`: a nonce is seen by
//!   every node as soon as it commits, and no request waits for a disk flush to check one.
//!   Concurrent requests' nonces are recorded in one statement per batch (`nonces.rs`).
//! - **Apps and users** are cached per node, kept coherent across nodes by
//!   `LISTEN`/`NOTIFY` (see `cache.rs`); nothing else is cached.
//! - **Failures** are fast: a connection that cannot be opened within `connect_timeout`, or
//!   a pool with no free connection within `acquire_timeout`, is reported as
//!   [`StoreError::Unavailable`], as are lost connections, server shutdowns and statements
//!   cancelled by `statement_timeout`.

mod cache;
mod nonces;
mod rows;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, Transaction,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::error::{Conflict, Entity};
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use tokio_postgres::NoTls;

/// The columns [`rows::chat_and_member`] reads: a chat `c` and a membership `m` joined onto it.
/// A macro, not a `const`, so that statements can `concat!` it.
macro_rules! chat_and_member_cols {
    () => {
        "c.id, c.tenant_id, c.kind, c.name, c.owner_kind, c.owner_id, c.created_at, c.dissolved_at, c.last_position,
         m.chat_id, m.member_kind, m.member_id, m.role, m.joined_at"
    };
}

/// Takes the next position of chat `$1` (created no earlier than `$2`, at most `$5`) and
/// yields `c(last_position, last_created_at)`; and the document assembled around it (see
/// [`doc_around_position`], pieces `$3` and `$4`) for the message id `$id`. Shared by the
/// one-statement appends, with and without an idempotency key.
macro_rules! take_position_cte {
    () => {
        "c AS (
            UPDATE chats SET last_position = last_position + 1, last_created_at = GREATEST(last_created_at, $2::bigint)
            WHERE id = $1::bigint AND dissolved_at IS NULL AND last_position < $5::bigint
            RETURNING last_position, last_created_at)"
    };
}
macro_rules! doc_around_id {
    ($id:literal) => {
        concat!(
            "('{\"id\":' || ",
            $id,
            " || $3::text || c.last_created_at
                || ',\"updated_at\":' || c.last_created_at || $4::text)::json"
        )
    };
}

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/0001_init.sql"))];

/// Key of the transaction-scoped advisory lock that serialises migrators (ASCII "SWBDMIGR").
/// Advisory locks are per database, so unrelated databases on one server do not contend.
const MIGRATION_LOCK: i64 = 0x5357_4244_4D49_4752;

/// Used by [`migrate`] when the URL sets no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A purge of expired nonces is started once per this many `remember_nonce` calls of one
/// process: rare enough to cost nothing, frequent enough to keep the table near its live size.
const NONCE_PURGE_EVERY: u64 = 256;
/// Rows deleted by one purge, so that it never holds many locks or runs long.
const NONCE_PURGE_BATCH: i64 = 1_000;

/// How to reach the database and how many connections this process may hold.
///
/// Sizing `pool_size`: every call holds one connection while it runs; an append holds it
/// (and its chat's row lock) for one transaction of a few round trips plus the commit
/// flush. Appends to one chat are serialised by that lock whatever the pool size; calls on
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
    nonce_calls: AtomicU64,
    cache: Arc<cache::Cache>,
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

// ---------------------------------------------------------------------------------------
// Errors

/// SQLSTATEs after which the same request may succeed if retried: the server or the link
/// failed, the server is overloaded or shutting down, or the transaction lost a race.
fn transient_state(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources: too many connections, disk full
        || code.starts_with("57P") // admin/crash shutdown, cannot connect now
        || code.starts_with("40") // serialization failure, deadlock detected: rolled back
        || code.starts_with("58") // I/O error on the server
        || code == "57014" // query_canceled: statement_timeout
        || code == "55P03" // lock_not_available: lock_timeout
        || code == "25006" // read_only_sql_transaction: connected to a standby after failover
}

fn describe(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// SQLSTATEs of a value the database cannot hold: `character_not_in_repertoire` (22021: a
/// NUL byte in text, which PostgreSQL's `text` refuses) and `untranslatable_character`
/// (22P05: e.g. `\u0000` extracted from a `json` value as text). The request's input is at
/// fault, not the store: the APIs refuse such text before it gets here, and this maps
/// whatever slips past them to a parameter error rather than an internal one.
fn invalid_input_state(code: &str) -> bool {
    code == "22021" || code == "22P05"
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let msg = format!("{} ({})", db.message(), db.code().code());
        if invalid_input_state(db.code().code()) {
            tracing::debug!(error = %msg, "postgres refused a value");
            return StoreError::Invalid(
                "holds a character that cannot be stored (such as NUL)".into(),
            );
        }
        return if transient_state(db.code().code()) {
            StoreError::Unavailable(msg)
        } else {
            StoreError::Internal(msg)
        };
    }
    let io = std::error::Error::source(&e).is_some_and(|c| c.is::<std::io::Error>());
    // tokio-postgres exposes no error kind; its timeout is recognisable only by message.
    if e.is_closed() || io || e.to_string().starts_with("timeout") {
        StoreError::Unavailable(describe(&e))
    } else {
        StoreError::Internal(describe(&e))
    }
}

/// Any failure to open a connection means the store cannot be reached from here, whether
/// the cause is the network, the server or its credentials.
fn connect_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            StoreError::Unavailable(format!("connect: {} ({})", db.message(), db.code().code()))
        }
        None => StoreError::Unavailable(format!("connect: {}", describe(&e))),
    }
}

fn pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(t) => {
            StoreError::Unavailable(format!("no database connection available ({t:?} timeout)"))
        }
        PoolError::Backend(e) => connect_err(e),
        PoolError::Closed => StoreError::Unavailable("connection pool closed".into()),
        PoolError::PostCreateHook(e) => StoreError::Unavailable(format!("connection setup: {e}")),
        PoolError::NoRuntimeSpecified => {
            StoreError::Internal("connection pool has no runtime".into())
        }
    }
}

/// The constraint a unique violation tripped over, if `e` is one.
fn unique_violation(e: &tokio_postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    if *db.code() == SqlState::UNIQUE_VIOLATION {
        Some(db.constraint().unwrap_or(""))
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------
// Connections and migrations

fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    url.parse::<tokio_postgres::Config>()
        .map_err(|e| StoreError::Internal(format!("invalid database url: {}", describe(&e))))
}

/// Applies pending migrations to the database at `url`; returns the versions applied now.
///
/// Safe to run from several nodes at once: migrators queue on an advisory lock and apply
/// everything in one transaction, so each version is applied exactly once, all or nothing.
pub async fn migrate(url: &str) -> Result<Vec<i64>, StoreError> {
    let mut config = parse_url(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    migrate_with(&config).await
}

/// Opens one connection outside any pool. `connect_timeout` in tokio-postgres bounds only
/// the TCP connect; the whole handshake is bounded here, so a server that accepts and then
/// stays silent cannot hang the caller.
async fn connect_one(
    config: &tokio_postgres::Config,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
    let (client, conn) = connect_bounded(config).await?;
    let task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection ended with an error");
        }
    });
    Ok((client, task))
}

/// Opens one connection, the whole handshake bounded by the connect timeout; the caller
/// drives the connection.
async fn connect_bounded(
    config: &tokio_postgres::Config,
) -> Result<
    (
        tokio_postgres::Client,
        tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    ),
    StoreError,
> {
    let limit = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    tokio::time::timeout(limit, config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Unavailable(format!("connect: no answer within {limit:?}")))?
        .map_err(connect_err)
}

async fn migrate_with(config: &tokio_postgres::Config) -> Result<Vec<i64>, StoreError> {
    let (mut client, task) = connect_one(config).await?;
    let applied = async {
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await
            .map_err(pg_err)?;
        let done: Vec<i64> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .map_err(pg_err)?
            .iter()
            .map(|r| rows::get(r, 0))
            .collect::<StoreResult<_>>()?;
        let mut applied = Vec::new();
        for (version, sql) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            tx.batch_execute(sql).await.map_err(pg_err)?;
            tx.execute(
                "INSERT INTO schema_migrations(version, applied_at) VALUES ($1, extract(epoch FROM now())::bigint)",
                &[version],
            )
            .await
            .map_err(pg_err)?;
            applied.push(*version);
        }
        tx.commit().await.map_err(pg_err)?;
        Ok::<_, StoreError>(applied)
    }
    .await;
    drop(client);
    let _ = task.await;
    applied
}

/// Connections for nonces beside a pool of `pool_size`: a nonce write is one short
/// statement that waits for no flush, so a quarter of the main pool keeps up with it.
pub fn nonce_pool_size(pool_size: usize) -> usize {
    pool_size.div_ceil(4).max(1)
}

fn build_pool(
    config: tokio_postgres::Config,
    opts: &PostgresOptions,
    size: usize,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .wait_timeout(Some(opts.acquire_timeout))
        .create_timeout(Some(opts.connect_timeout))
        .recycle_timeout(Some(opts.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Internal(format!("connection pool: {e}")))
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
            let ms = t.as_millis().max(1);
            let ours =
                format!("-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}");
            let options = match config.get_options() {
                Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
                _ => ours,
            };
            config.options(options);
        }
        // Nonce writes skip the wait for their commit's WAL flush (see `remember_nonce`):
        // their connections run with synchronous_commit off, and nothing else uses them.
        let mut nonce_config = config.clone();
        let nonce_options = match nonce_config.get_options() {
            Some(theirs) if !theirs.trim().is_empty() => {
                format!("{theirs} -c synchronous_commit=off")
            }
            _ => "-c synchronous_commit=off".to_string(),
        };
        nonce_config.options(nonce_options);
        let cache = Arc::new(cache::Cache::default());
        let listener = opts
            .cache
            .then(|| tokio::spawn(cache::listen(config.clone(), cache.clone())));
        let pool = build_pool(config, &opts, opts.pool_size)?;
        let nonce_pool = build_pool(nonce_config, &opts, nonce_pool_size(opts.pool_size))?;
        let nonces = nonces::Batcher::spawn(nonce_pool.clone(), nonce_pool_size(opts.pool_size));
        let store = PostgresStore {
            inner: Arc::new(Inner {
                pool,
                nonce_pool,
                nonces,
                nonce_calls: AtomicU64::new(0),
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
        self.inner.pool.get().await.map_err(pool_err)
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

    /// Deletes up to a batch of nonces that expired at or before `now`; returns how many.
    /// Runs by itself now and then; exposed for maintenance jobs and tests.
    pub async fn purge_expired_nonces(&self, now: Millis) -> StoreResult<u64> {
        purge_nonces(&self.inner.nonce_pool, now).await
    }
}

async fn purge_nonces(pool: &Pool, now: Millis) -> StoreResult<u64> {
    let c = pool.get().await.map_err(pool_err)?;
    // SKIP LOCKED: nodes purging at the same time split the work instead of queueing.
    let s = c
        .prepare_cached(
            "DELETE FROM nonces WHERE (scope, nonce) IN (
                 SELECT scope, nonce FROM nonces WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .await
        .map_err(pg_err)?;
    c.execute(&s, &[&now, &NONCE_PURGE_BATCH])
        .await
        .map_err(pg_err)
}

// ---------------------------------------------------------------------------------------
// Statements shared by several operations

fn p2p_key(tenant: TenantId, a: Actor, b: Actor) -> String {
    let mut parts = [
        format!("{}:{}", a.kind(), a.raw_id()),
        format!("{}:{}", b.kind(), b.raw_id()),
    ];
    parts.sort();
    format!("{}:{}|{}", tenant.0, parts[0], parts[1])
}

/// A cached read: `hit` when the cache had it, else `load` from the database, stored with
/// `fill` under a ticket taken before the load ran (so an invalidation meanwhile wins).
async fn read_through<T>(
    cache: &cache::Cache,
    hit: Option<T>,
    load: impl std::future::Future<Output = StoreResult<Option<T>>>,
    fill: impl FnOnce(cache::Ticket, &T),
) -> StoreResult<Option<T>> {
    if hit.is_some() {
        return Ok(hit);
    }
    let ticket = cache.ticket();
    let found = load.await?;
    if let (Some(t), Some(v)) = (ticket, &found) {
        fill(t, v);
    }
    Ok(found)
}

async fn query_opt<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Option<tokio_postgres::Row>> {
    let s = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query_opt(&s, params).await.map_err(pg_err)
}

async fn query<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let s = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query(&s, params).await.map_err(pg_err)
}

async fn execute<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<u64> {
    let s = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.execute(&s, params).await.map_err(pg_err)
}

const SELECT_MESSAGE: &str = "SELECT doc FROM messages WHERE chat_id = $1 AND id = $2";
const SELECT_MESSAGE_FOR_UPDATE: &str =
    "SELECT doc FROM messages WHERE chat_id = $1 AND id = $2 FOR UPDATE";

async fn load_message<C: GenericClient + Sync>(
    c: &C,
    id: MessageId,
    for_update: bool,
) -> StoreResult<Option<Message>> {
    let sql = if for_update {
        SELECT_MESSAGE_FOR_UPDATE
    } else {
        SELECT_MESSAGE
    };
    query_opt(c, sql, &[&id.chat().0, &id.0])
        .await?
        .map(|r| rows::message(&r))
        .transpose()
}

async fn insert_message(tx: &Transaction<'_>, m: &Message) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO messages(chat_id, id, created_at, upper_id, doc) VALUES ($1, $2, $3, $4, $5)",
        &[
            &m.chat.0,
            &m.id.0,
            &m.created_at,
            &m.upper.map(|u| u.0),
            &Json(m),
        ],
    )
    .await?;
    Ok(())
}

/// Takes the next timeline position of `chat`; returns (position, created_at). The row
/// lock taken here is held until the caller's transaction ends.
async fn next_position(
    tx: &Transaction<'_>,
    chat: ChatId,
    created_floor: Millis,
) -> StoreResult<(i64, Millis)> {
    let row = query_opt(
        tx,
        "UPDATE chats SET last_position = last_position + 1, last_created_at = GREATEST(last_created_at, $2)
         WHERE id = $1 AND dissolved_at IS NULL RETURNING last_position, last_created_at",
        &[&chat.0, &created_floor],
    )
    .await?;
    match row {
        Some(r) => Ok((rows::get(&r, 0)?, rows::get(&r, 1)?)),
        None => Err(no_position(tx, chat).await?),
    }
}

/// Why `chat` gave no position: it does not exist, it is dissolved, or (when neither) it
/// has used its last one.
async fn no_position<C: GenericClient + Sync>(c: &C, chat: ChatId) -> StoreResult<StoreError> {
    let row = query_opt(
        c,
        "SELECT dissolved_at IS NOT NULL FROM chats WHERE id = $1",
        &[&chat.0],
    )
    .await?;
    Ok(match row {
        None => StoreError::NotFound(Entity::Chat),
        Some(r) if rows::get::<bool>(&r, 0)? => StoreError::Conflict(Conflict::ChatDissolved),
        Some(_) => StoreError::Internal(format!("chat {chat} is full")),
    })
}

/// Appends a timeline message without an idempotency key in one statement, outside any
/// explicit transaction: the position update and the insert commit together or not at
/// all (a failed insert rolls the increment back), in one round trip instead of four
/// (`BEGIN`, update, insert, `COMMIT`). The document is assembled in SQL around the two
/// values the update decides (see [`doc_around_position`]).
async fn append_one<C: GenericClient + Sync>(c: &C, new: &NewMessage) -> StoreResult<Message> {
    const SQL: &str = concat!(
        "WITH ",
        take_position_cte!(),
        " INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
        SELECT $1, ($1 << 32) | c.last_position, c.last_created_at, NULL, ",
        doc_around_id!("(($1 << 32) | c.last_position)"),
        " FROM c RETURNING id, created_at"
    );
    let draft = new.to_message(MessageId(0), 0, None);
    let (middle, tail) = doc_around_position(&draft)?;
    let row = query_opt(
        c,
        SQL,
        &[&new.chat.0, &new.created_at, &middle, &tail, &MAX_POSITION],
    )
    .await?;
    let Some(r) = row else {
        return Err(no_position(c, new.chat).await?);
    };
    let (id, created_at): (i64, Millis) = (rows::get(&r, 0)?, rows::get(&r, 1)?);
    Ok(new.to_message(MessageId(id), created_at, None))
}

/// Appends a timeline message that carries an idempotency key, when the key is free or has
/// expired, in one statement: the position update, the key's row (pointing at the new
/// message) and the insert. Runs inside `tx`, which the caller commits: three round trips
/// (`BEGIN`, this, `COMMIT`) where claiming the key first took six.
///
/// `None` when the statement appended nothing: the key is live (a racing send holding it
/// made this statement wait until it committed), or the chat gave no position. The
/// position update then still holds its increment, so the caller must roll `tx` back and
/// settle the send with [`append_timeline`], which tells those cases apart.
///
/// Locks are taken chat row first, key row second, as every send of this kind does; the
/// fallback takes the key first, but it only goes on to the chat row when the key's message
/// is missing or expired, not for a racing send it has to wait for.
async fn append_keyed(
    tx: &Transaction<'_>,
    new: &NewMessage,
    cid: &str,
) -> StoreResult<Option<Message>> {
    const SQL: &str = concat!(
        "WITH ",
        take_position_cte!(),
        ", k AS (
            INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at)
            SELECT $6::text, $7::bigint, $8::text, ($1 << 32) | c.last_position, $2 FROM c
            ON CONFLICT (sender_kind, sender_id, client_msg_id) DO UPDATE
                SET message_id = EXCLUDED.message_id, created_at = EXCLUDED.created_at
                WHERE EXCLUDED.created_at - idempotency.created_at > $9::bigint
            RETURNING message_id)
        INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
        SELECT $1, k.message_id, c.last_created_at, NULL, ",
        doc_around_id!("k.message_id"),
        " FROM c, k RETURNING id, created_at"
    );
    let draft = new.to_message(MessageId(0), 0, None);
    let (middle, tail) = doc_around_position(&draft)?;
    let row = query_opt(
        tx,
        SQL,
        &[
            &new.chat.0,
            &new.created_at,
            &middle,
            &tail,
            &MAX_POSITION,
            &new.sender.kind(),
            &new.sender.raw_id(),
            &cid,
            &new.idempotency_window_ms,
        ],
    )
    .await?;
    let Some(r) = row else { return Ok(None) };
    let (id, created_at): (i64, Millis) = (rows::get(&r, 0)?, rows::get(&r, 1)?);
    Ok(Some(new.to_message(MessageId(id), created_at, None)))
}

/// A new message's document without the values its append decides, as the two pieces
/// around them: the document is `{"id":ID` + `middle` + `CREATED` + `,"updated_at":CREATED` +
/// `tail`. `draft` carries zeros in their place.
///
/// The id is the document's first field. The times are found from the end: every field
/// serialised after them has a fixed type (no object of a sender's choosing, which could
/// hold the same keys), and inside strings every quote is escaped.
fn doc_around_position(draft: &Message) -> StoreResult<(String, String)> {
    const TIMES: &str = ",\"created_at\":0,\"updated_at\":0";
    let doc = serde_json::to_string(draft).map_err(|e| StoreError::Internal(e.to_string()))?;
    let rest = doc.strip_prefix("{\"id\":0").ok_or_else(|| {
        StoreError::Internal("message document does not start with its id".into())
    })?;
    let at = rest
        .rfind(TIMES)
        .ok_or_else(|| StoreError::Internal("message document has no times".into()))?;
    Ok((
        format!("{},\"created_at\":", &rest[..at]),
        rest[at + TIMES.len()..].to_string(),
    ))
}

/// Appends one timeline message inside `tx`, honouring the idempotency key.
///
/// Two racing sends with the same key must not both append. The key's row is therefore
/// claimed first: a placeholder insert that blocks on a concurrent claimant's uncommitted
/// row, or, when the row exists, a `FOR UPDATE` read. Either way the loser proceeds only
/// after the winner commits, and then sees the winner's message.
async fn append_timeline(tx: &Transaction<'_>, new: &NewMessage) -> StoreResult<Appended> {
    let (kind, sender) = (new.sender.kind(), new.sender.raw_id());
    if let Some(cid) = &new.client_msg_id {
        let claimed = execute(
            tx,
            "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at)
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
            &[&kind, &sender, cid, &new.created_at],
        )
        .await?
            == 1;
        if !claimed {
            let prior = query_opt(
                tx,
                "SELECT message_id, created_at FROM idempotency
                 WHERE sender_kind = $1 AND sender_id = $2 AND client_msg_id = $3 FOR UPDATE",
                &[&kind, &sender, cid],
            )
            .await?;
            if let Some(r) = prior {
                let (mid, at): (i64, Millis) = (rows::get(&r, 0)?, rows::get(&r, 1)?);
                if new.created_at.saturating_sub(at) <= new.idempotency_window_ms {
                    if let Some(mid) = MessageId::from_raw(mid) {
                        if let Some(m) = load_message(tx, mid, false).await? {
                            return Ok(Appended {
                                message: m,
                                created: false,
                            });
                        }
                    }
                }
            }
        }
    }
    let (pos, created_at) = next_position(tx, new.chat, new.created_at).await?;
    let id = MessageId::timeline(new.chat, pos)
        .ok_or_else(|| StoreError::Internal(format!("chat {} is full", new.chat)))?;
    let m = new.to_message(id, created_at, None);
    insert_message(tx, &m).await?;
    if let Some(cid) = &new.client_msg_id {
        execute(
            tx,
            "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sender_kind, sender_id, client_msg_id)
             DO UPDATE SET message_id = EXCLUDED.message_id, created_at = EXCLUDED.created_at",
            &[&kind, &sender, cid, &id.0, &new.created_at],
        )
        .await?;
    }
    Ok(Appended {
        message: m,
        created: true,
    })
}

/// Rows per multi-row insert of a bulk append: large enough that round trips stop
/// mattering, small enough to keep each statement's parameters to a few megabytes.
const BULK_INSERT_ROWS: usize = 2_000;

/// A batch without idempotency keys, in a few statements instead of two per message: one
/// reserves every chat's positions at once, multi-row inserts write the messages, one
/// raises the chats' last times. Positions and times are those that appending the messages
/// one by one, in batch order, would give.
async fn append_batch_reserved(
    tx: &Transaction<'_>,
    mut batch: Vec<NewMessage>,
) -> StoreResult<Vec<Message>> {
    let mut counts: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for m in &batch {
        *counts.entry(m.chat.0).or_default() += 1;
    }
    let (chats, ns): (Vec<i64>, Vec<i64>) = counts.iter().map(|(c, n)| (*c, *n)).unzip();
    // Rows are locked in chat id order: two bulk appends over the same chats wait for each
    // other instead of deadlocking.
    let reserved = query(
        tx,
        "WITH locked AS (
             SELECT id FROM chats WHERE id = ANY($1) AND dissolved_at IS NULL ORDER BY id FOR UPDATE
         )
         UPDATE chats SET last_position = chats.last_position + c.n
         FROM UNNEST($1::bigint[], $2::bigint[]) AS c(id, n), locked
         WHERE chats.id = c.id AND locked.id = c.id
         RETURNING chats.id, chats.last_position - c.n, chats.last_created_at",
        &[&chats, &ns],
    )
    .await?;
    // chat -> (last position taken, last created_at)
    let mut cursor: std::collections::HashMap<ChatId, (i64, Millis)> =
        std::collections::HashMap::with_capacity(reserved.len());
    for r in &reserved {
        cursor.insert(
            ChatId(rows::get(r, 0)?),
            (rows::get(r, 1)?, rows::get(r, 2)?),
        );
    }
    if let Some(missing) = chats.iter().find(|c| !cursor.contains_key(&ChatId(**c))) {
        // The same answer a single append would give; the transaction is dropped.
        next_position(tx, ChatId(*missing), 0).await?;
        return Err(StoreError::Internal("chat counter vanished".into()));
    }
    let out = place_batch(&mut batch, &mut cursor)?;
    for part in out.chunks(BULK_INSERT_ROWS) {
        let chat_ids: Vec<i64> = part.iter().map(|m| m.chat.0).collect();
        let ids: Vec<i64> = part.iter().map(|m| m.id.0).collect();
        let times: Vec<Millis> = part.iter().map(|m| m.created_at).collect();
        let docs: Vec<Json<&Message>> = part.iter().map(Json).collect();
        execute(
            tx,
            "INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
             SELECT m.chat_id, m.id, m.created_at, NULL, m.doc
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::json[]) AS m(chat_id, id, created_at, doc)",
            &[&chat_ids, &ids, &times, &docs],
        )
        .await?;
    }
    let (chats, lasts): (Vec<i64>, Vec<Millis>) =
        cursor.iter().map(|(c, (_, t))| (c.0, *t)).unzip();
    execute(
        tx,
        "UPDATE chats SET last_created_at = GREATEST(chats.last_created_at, c.t)
         FROM UNNEST($1::bigint[], $2::bigint[]) AS c(id, t) WHERE chats.id = c.id",
        &[&chats, &lasts],
    )
    .await?;
    Ok(out)
}

async fn list_children_in<C: GenericClient + Sync>(
    c: &C,
    container: MessageId,
) -> StoreResult<Vec<Message>> {
    query(
        c,
        "SELECT doc FROM messages WHERE chat_id = $1 AND upper_id = $2 ORDER BY id",
        &[&container.chat().0, &container.0],
    )
    .await?
    .iter()
    .map(rows::message)
    .collect()
}

/// Inserts members in one statement (first occurrence of a duplicated actor wins, as with
/// one insert per member); returns those newly added, in input order.
async fn insert_members<C: GenericClient + Sync>(
    c: &C,
    chat: ChatId,
    members: &[(Actor, Role)],
    at: Millis,
) -> StoreResult<Vec<Member>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = members.iter().map(|(a, _)| a.kind()).collect();
    let ids: Vec<i64> = members.iter().map(|(a, _)| a.raw_id()).collect();
    let roles: Vec<&str> = members.iter().map(|(_, r)| r.as_str()).collect();
    let inserted = query(
        c,
        "INSERT INTO chat_members(chat_id, member_kind, member_id, role, joined_at)
         SELECT $1, m.kind, m.id, m.role, $5
         FROM UNNEST($2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS m(kind, id, role, ord)
         ORDER BY m.ord
         ON CONFLICT DO NOTHING
         RETURNING member_kind, member_id, role",
        &[&chat.0, &kinds, &ids, &roles, &at],
    )
    .await?;
    let mut fresh = Vec::with_capacity(inserted.len());
    for r in &inserted {
        let (kind, id, role): (&str, i64, &str) =
            (rows::get(r, 0)?, rows::get(r, 1)?, rows::get(r, 2)?);
        let (Some(actor), Some(role)) = (Actor::from_parts(kind, id), Role::parse(role)) else {
            return Err(StoreError::Internal("corrupt row: chat_members".into()));
        };
        fresh.push((actor, role));
    }
    let mut added = Vec::with_capacity(fresh.len());
    for (a, _) in members {
        if let Some(i) = fresh.iter().position(|(x, _)| x == a) {
            let (actor, role) = fresh.swap_remove(i);
            added.push(Member {
                chat,
                actor,
                role,
                joined_at: at,
            });
        }
    }
    Ok(added)
}

// ---------------------------------------------------------------------------------------

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        let c = self.client().await?;
        query_opt(&c, "SELECT 1", &[]).await?;
        Ok(())
    }

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant> {
        let c = self.client().await?;
        let r = query_opt(
            &c,
            "INSERT INTO tenants(name, created_at) VALUES ($1, $2) RETURNING id",
            &[&new.name, &new.created_at],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("insert returned no row".into()))?;
        Ok(Tenant {
            id: TenantId(rows::get(&r, 0)?),
            name: new.name,
            created_at: new.created_at,
        })
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let c = self.client().await?;
        query_opt(
            &c,
            "SELECT id, name, created_at FROM tenants WHERE id = $1",
            &[&id.0],
        )
        .await?
        .map(|r| rows::tenant(&r))
        .transpose()
    }

    async fn list_tenants(&self, page: Page) -> StoreResult<Vec<Tenant>> {
        let c = self.client().await?;
        query(
            &c,
            "SELECT id, name, created_at FROM tenants WHERE id > $1 ORDER BY id LIMIT $2",
            &[&page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::tenant)
        .collect()
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        let c = self.client().await?;
        let s = c
            .prepare_cached("INSERT INTO users(tenant_id, user_id, account_id, name, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .await
            .map_err(pg_err)?;
        let r = match c
            .query_one(
                &s,
                &[
                    &new.tenant.0,
                    &new.user_id,
                    &new.account_id,
                    &new.name,
                    &new.created_at,
                ],
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(match unique_violation(&e) {
                    Some("users_user_id_key") => StoreError::Duplicate("user_id"),
                    Some("users_account_id_key") => StoreError::Duplicate("account_id"),
                    _ => pg_err(e),
                })
            }
        };
        Ok(User {
            id: UserId(rows::get(&r, 0)?),
            tenant: new.tenant,
            user_id: new.user_id,
            account_id: new.account_id,
            name: new.name,
            created_at: new.created_at,
        })
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let cache = &self.inner.cache;
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!("SELECT {} FROM users WHERE id = $1", rows::USER_COLS),
                &[&id.0],
            )
            .await?
            .map(|r| rows::user(&r))
            .transpose()
        };
        read_through(cache, cache.user(id), load, |t, u| cache.put_user(t, u)).await
    }

    async fn find_user(&self, tenant: TenantId, key: UserKey<'_>) -> StoreResult<Option<User>> {
        let cache = &self.inner.cache;
        let (col, val) = match key {
            UserKey::UserId(v) => ("user_id", v),
            UserKey::AccountId(v) => ("account_id", v),
        };
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!(
                    "SELECT {} FROM users WHERE tenant_id = $1 AND {col} = $2",
                    rows::USER_COLS
                ),
                &[&tenant.0, &val],
            )
            .await?
            .map(|r| rows::user(&r))
            .transpose()
        };
        let hit = cache.user_by_key(tenant, key);
        read_through(cache, hit, load, |t, u| cache.put_user(t, u)).await
    }

    async fn rename_user(&self, id: UserId, name: String) -> StoreResult<User> {
        let c = self.client().await?;
        let updated = query_opt(
            &c,
            &format!(
                "UPDATE users SET name = $2 WHERE id = $1
                 RETURNING {}, pg_notify('{}', 'user:' || id)",
                rows::USER_COLS,
                cache::CHANNEL
            ),
            &[&id.0, &name],
        )
        .await;
        // Evicted whatever the outcome: an error may still have committed.
        self.inner.cache.invalidate_user(id);
        updated?
            .map(|r| rows::user(&r))
            .transpose()?
            .ok_or(StoreError::NotFound(Entity::User))
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<User>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {} FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::USER_COLS
            ),
            &[&tenant.0, &page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn create_app(&self, new: NewApp) -> StoreResult<App> {
        let c = self.client().await?;
        let s = c
            .prepare_cached(
                "INSERT INTO apps(tenant_id, app_id, app_secret, name, bot_enabled, signing_required, scopes, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .await
            .map_err(pg_err)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &new.tenant.0,
            &new.app_id,
            &new.app_secret.expose(),
            &new.name,
            &new.bot_enabled,
            &new.signing_required,
            &Json(&new.scopes),
            &new.created_at,
        ];
        let r = match c.query_one(&s, &params).await {
            Ok(r) => r,
            Err(e) if unique_violation(&e) == Some("apps_app_id_key") => {
                return Err(StoreError::Duplicate("app_id"))
            }
            Err(e) => return Err(pg_err(e)),
        };
        Ok(App {
            id: AppId(rows::get(&r, 0)?),
            tenant: new.tenant,
            app_id: new.app_id,
            app_secret: new.app_secret,
            name: new.name,
            bot_enabled: new.bot_enabled,
            signing_required: new.signing_required,
            scopes: new.scopes,
            created_at: new.created_at,
        })
    }

    async fn get_app(&self, id: AppId) -> StoreResult<Option<App>> {
        let cache = &self.inner.cache;
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!("SELECT {} FROM apps WHERE id = $1", rows::APP_COLS),
                &[&id.0],
            )
            .await?
            .map(|r| rows::app(&r))
            .transpose()
        };
        read_through(cache, cache.app(id), load, |t, a| cache.put_app(t, a)).await
    }

    async fn find_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        let cache = &self.inner.cache;
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!("SELECT {} FROM apps WHERE app_id = $1", rows::APP_COLS),
                &[&app_id],
            )
            .await?
            .map(|r| rows::app(&r))
            .transpose()
        };
        let hit = cache.app_by_public_id(app_id);
        read_through(cache, hit, load, |t, a| cache.put_app(t, a)).await
    }

    async fn list_apps(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<App>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {} FROM apps WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::APP_COLS
            ),
            &[&tenant.0, &page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::app)
        .collect()
    }

    async fn update_app(&self, id: AppId, patch: AppPatch) -> StoreResult<App> {
        let c = self.client().await?;
        // One statement: the patch applies atomically against whatever is current.
        let scopes = patch.scopes.as_ref().map(Json);
        let secret = patch.app_secret.as_ref().map(|s| s.expose());
        // The notification is sent when this statement commits, to every node's cache.
        let updated = query_opt(
            &c,
            &format!(
                "UPDATE apps SET name = COALESCE($2, name), app_secret = COALESCE($3, app_secret),
                     bot_enabled = COALESCE($4, bot_enabled), signing_required = COALESCE($5, signing_required),
                     scopes = COALESCE($6, scopes)
                 WHERE id = $1 RETURNING {}, pg_notify('{}', 'app:' || id)",
                rows::APP_COLS,
                cache::CHANNEL
            ),
            &[&id.0, &patch.name, &secret, &patch.bot_enabled, &patch.signing_required, &scopes],
        )
        .await;
        // Evicted whatever the outcome: an error may still have committed.
        self.inner.cache.invalidate_app(id);
        updated?
            .map(|r| rows::app(&r))
            .transpose()?
            .ok_or(StoreError::NotFound(Entity::App))
    }

    async fn create_chat(&self, new: NewChat) -> StoreResult<Chat> {
        let key = match (new.kind, new.members.as_slice()) {
            (ChatKind::P2p, [(a, _), (b, _)]) => Some(p2p_key(new.tenant, *a, *b)),
            _ => None,
        };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let s = tx
            .prepare_cached(
                "INSERT INTO chats(tenant_id, kind, name, owner_kind, owner_id, created_at, p2p_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .await
            .map_err(pg_err)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &new.tenant.0,
            &new.kind.as_str(),
            &new.name,
            &new.owner.kind(),
            &new.owner.raw_id(),
            &new.created_at,
            &key,
        ];
        let r = match tx.query_one(&s, &params).await {
            Ok(r) => r,
            Err(e) if unique_violation(&e) == Some("chats_p2p_key") => {
                return Err(StoreError::Duplicate("p2p"))
            }
            Err(e) if e.code() == Some(&SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED) => {
                return Err(StoreError::Internal("chat id space exhausted".into()))
            }
            Err(e) => return Err(pg_err(e)),
        };
        let id = ChatId(rows::get(&r, 0)?);
        if !(1..=MAX_CHAT_ID).contains(&id.0) {
            return Err(StoreError::Internal("chat id space exhausted".into()));
        }
        insert_members(&tx, id, &new.members, new.created_at).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(Chat {
            id,
            tenant: new.tenant,
            kind: new.kind,
            name: new.name,
            owner: new.owner,
            created_at: new.created_at,
            dissolved_at: None,
            last_position: 0,
        })
    }

    async fn get_chat(&self, id: ChatId) -> StoreResult<Option<Chat>> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {} FROM chats WHERE id = $1", rows::CHAT_COLS),
            &[&id.0],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()
    }

    async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> StoreResult<Option<Chat>> {
        let key = p2p_key(tenant, a, b);
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {} FROM chats WHERE p2p_key = $1", rows::CHAT_COLS),
            &[&key],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()
    }

    async fn list_chats(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<Chat>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {} FROM chats WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::CHAT_COLS
            ),
            &[&tenant.0, &page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::chat)
        .collect()
    }

    async fn dissolve_chat(&self, id: ChatId, at: Millis) -> StoreResult<Chat> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("UPDATE chats SET dissolved_at = COALESCE(dissolved_at, $2) WHERE id = $1 RETURNING {}", rows::CHAT_COLS),
            &[&id.0, &at],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()?
        .ok_or(StoreError::NotFound(Entity::Chat))
    }

    async fn add_members(
        &self,
        chat: ChatId,
        members: Vec<(Actor, Role)>,
        at: Millis,
    ) -> StoreResult<Vec<Member>> {
        let c = self.client().await?;
        insert_members(&c, chat, &members, at).await
    }

    async fn remove_members(&self, chat: ChatId, members: Vec<Actor>) -> StoreResult<Vec<Actor>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: Vec<&str> = members.iter().map(|a| a.kind()).collect();
        let ids: Vec<i64> = members.iter().map(|a| a.raw_id()).collect();
        let c = self.client().await?;
        let gone = query(
            &c,
            "DELETE FROM chat_members WHERE chat_id = $1
               AND (member_kind, member_id) IN (SELECT * FROM UNNEST($2::text[], $3::bigint[]))
             RETURNING member_kind, member_id",
            &[&chat.0, &kinds, &ids],
        )
        .await?;
        let mut gone = gone
            .iter()
            .map(|r| {
                Ok((
                    rows::get::<&str>(r, 0)?.to_string(),
                    rows::get::<i64>(r, 1)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut removed = Vec::with_capacity(gone.len());
        for a in members {
            if let Some(i) = gone
                .iter()
                .position(|(k, id)| k == a.kind() && *id == a.raw_id())
            {
                gone.swap_remove(i);
                removed.push(a);
            }
        }
        Ok(removed)
    }

    async fn set_member_role(&self, chat: ChatId, actor: Actor, role: Role) -> StoreResult<Member> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("UPDATE chat_members SET role = $4 WHERE chat_id = $1 AND member_kind = $2 AND member_id = $3 RETURNING {}", rows::MEMBER_COLS),
            &[&chat.0, &actor.kind(), &actor.raw_id(), &role.as_str()],
        )
        .await?
        .map(|r| rows::member(&r))
        .transpose()?
        .ok_or(StoreError::NotFound(Entity::Member))
    }

    async fn get_member(&self, chat: ChatId, actor: Actor) -> StoreResult<Option<Member>> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {} FROM chat_members WHERE chat_id = $1 AND member_kind = $2 AND member_id = $3", rows::MEMBER_COLS),
            &[&chat.0, &actor.kind(), &actor.raw_id()],
        )
        .await?
        .map(|r| rows::member(&r))
        .transpose()
    }

    async fn list_members(&self, chat: ChatId) -> StoreResult<Vec<Member>> {
        let c = self.client().await?;
        query(
            &c,
            &format!("SELECT {} FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, member_kind, member_id", rows::MEMBER_COLS),
            &[&chat.0],
        )
        .await?
        .iter()
        .map(rows::member)
        .collect()
    }

    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        let mut c = self.client().await?;
        let Some(cid) = &new.client_msg_id else {
            return Ok(Appended {
                message: append_one(&c, &new).await?,
                created: true,
            });
        };
        let tx = c.transaction().await.map_err(pg_err)?;
        if let Some(message) = append_keyed(&tx, &new, cid).await? {
            tx.commit().await.map_err(pg_err)?;
            return Ok(Appended {
                message,
                created: true,
            });
        }
        // A live key or no position: undo the increment and let the general path tell which.
        tx.rollback().await.map_err(pg_err)?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let appended = append_timeline(&tx, &new).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(appended)
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> StoreResult<Vec<Message>> {
        // One transaction: all or nothing. A batch without idempotency keys locks its chats
        // in id order; one with keys locks them in batch order, so two of those touching
        // the same chats in different orders may deadlock, which PostgreSQL breaks by
        // failing one of them (reported as unavailable: retry).
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let out = if batch.iter().any(|m| m.client_msg_id.is_some()) {
            // Idempotency keys claim their rows one message at a time.
            let mut out = Vec::with_capacity(batch.len());
            for m in &batch {
                out.push(append_timeline(&tx, m).await?.message);
            }
            out
        } else {
            append_batch_reserved(&tx, batch).await?
        };
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn append_merge_forward(
        &self,
        container: NewMessage,
        children: Vec<NewMessage>,
    ) -> StoreResult<(Message, Vec<Message>)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let appended = append_timeline(&tx, &container).await?;
        if !appended.created {
            let kids = list_children_in(&tx, appended.message.id).await?;
            tx.commit().await.map_err(pg_err)?;
            return Ok((appended.message, kids));
        }
        let chat = container.chat;
        let first: i64 = match query_opt(
            &tx,
            "UPDATE chats SET last_child = last_child + $2 WHERE id = $1 RETURNING last_child - $2",
            &[&chat.0, &(children.len() as i64)],
        )
        .await?
        {
            Some(r) => rows::get(&r, 0)?,
            None => return Err(StoreError::NotFound(Entity::Chat)),
        };
        let mut kids = Vec::with_capacity(children.len());
        for (i, child) in children.iter().enumerate() {
            let id = MessageId::child(chat, first + 1 + i as i64)
                .ok_or_else(|| StoreError::Internal("child id space exhausted".into()))?;
            let m = child.to_message(id, child.created_at, Some(appended.message.id));
            insert_message(&tx, &m).await?;
            kids.push(m);
        }
        tx.commit().await.map_err(pg_err)?;
        Ok((appended.message, kids))
    }

    async fn get_message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        let c = self.client().await?;
        load_message(&c, id, false).await
    }

    async fn chat_and_member(
        &self,
        chat: ChatId,
        actor: Actor,
    ) -> StoreResult<(Option<Chat>, Option<Member>)> {
        // One round trip instead of two: the membership outer-joined onto the chat's row.
        const SQL: &str = concat!(
            "SELECT ",
            chat_and_member_cols!(),
            " FROM chats c
             LEFT JOIN chat_members m ON m.chat_id = c.id AND m.member_kind = $2 AND m.member_id = $3
             WHERE c.id = $1"
        );
        let c = self.client().await?;
        match query_opt(&c, SQL, &[&chat.0, &actor.kind(), &actor.raw_id()]).await? {
            Some(row) => rows::chat_and_member(&row),
            None => Ok((None, None)),
        }
    }

    async fn chats_and_members(
        &self,
        pairs: &[(ChatId, Actor)],
    ) -> StoreResult<Vec<(Option<Chat>, Option<Member>)>> {
        // One round trip for all pairs, in the order given (`ord`).
        const SQL: &str = concat!(
            "SELECT ",
            chat_and_member_cols!(),
            " FROM UNNEST($1::bigint[], $2::text[], $3::bigint[]) WITH ORDINALITY AS p(chat_id, kind, member_id, ord)
             LEFT JOIN chats c ON c.id = p.chat_id
             LEFT JOIN chat_members m ON m.chat_id = c.id AND m.member_kind = p.kind AND m.member_id = p.member_id
             ORDER BY p.ord"
        );
        let chats: Vec<i64> = pairs.iter().map(|(c, _)| c.0).collect();
        let kinds: Vec<&str> = pairs.iter().map(|(_, a)| a.kind()).collect();
        let ids: Vec<i64> = pairs.iter().map(|(_, a)| a.raw_id()).collect();
        let c = self.client().await?;
        let found = query(&c, SQL, &[&chats, &kinds, &ids]).await?;
        if found.len() != pairs.len() {
            return Err(StoreError::Internal(format!(
                "{} pairs asked, {} answered",
                pairs.len(),
                found.len()
            )));
        }
        found.iter().map(rows::chat_and_member).collect()
    }

    async fn lookup_message(
        &self,
        id: MessageId,
        reader: Option<Actor>,
    ) -> StoreResult<MessageLookup> {
        // One round trip instead of three: the chat, the reader's membership and the
        // message, outer-joined onto the chat's row. Without a reader no member matches
        // (`member_kind` is never empty). The sender comes from this node's cache of users
        // and apps: joining it here meant PostgreSQL parsing the stored document (a `json`
        // value, kept as text) twice per get to find it, about 4 µs of the database's CPU
        // for a 700-byte document on the machine of docs/performance.md.
        const SQL: &str = concat!(
            "SELECT ",
            chat_and_member_cols!(),
            ", msg.doc
             FROM chats c
             LEFT JOIN chat_members m ON m.chat_id = c.id AND m.member_kind = $2 AND m.member_id = $3
             LEFT JOIN messages msg ON msg.chat_id = c.id AND msg.id = $4
             WHERE c.id = $1"
        );
        let (kind, raw) = reader.map_or(("", 0), |a| (a.kind(), a.raw_id()));
        let c = self.client().await?;
        let Some(row) = query_opt(&c, SQL, &[&id.chat().0, &kind, &raw, &id.0]).await? else {
            return Ok(MessageLookup::default());
        };
        let (chat, member) = rows::chat_and_member(&row)?;
        let message = rows::message_at(&row, 14)?;
        // A miss leaves the sender to the caller, whose read fills the cache.
        let cache = &self.inner.cache;
        let sender = match message.as_ref().map(|m| m.sender) {
            Some(Actor::User(u)) => cache.user(u).map(SenderLookup::User),
            Some(Actor::App(a)) => cache.app(a).map(SenderLookup::App),
            None => None,
        };
        Ok(MessageLookup {
            chat,
            member,
            message,
            sender: sender.unwrap_or_default(),
        })
    }

    async fn list_messages(&self, range: MessageRange) -> StoreResult<Vec<Message>> {
        // Timeline ids of a chat lie strictly between base and base + 2^31; child copies
        // (flag bit 31 set) lie above, so an id range selects positions only.
        let base = range.chat.0 << 32;
        let lo = base + range.after_position.clamp(0, MAX_POSITION);
        let hi = base
            + range
                .before_position
                .unwrap_or(MAX_POSITION + 1)
                .clamp(1, MAX_POSITION + 1);
        let sql = if range.descending {
            "SELECT doc FROM messages WHERE chat_id = $1 AND id > $2 AND id < $3 AND created_at >= $4 AND created_at <= $5
             ORDER BY id DESC LIMIT $6"
        } else {
            "SELECT doc FROM messages WHERE chat_id = $1 AND id > $2 AND id < $3 AND created_at >= $4 AND created_at <= $5
             ORDER BY id ASC LIMIT $6"
        };
        let c = self.client().await?;
        query(
            &c,
            sql,
            &[
                &range.chat.0,
                &lo,
                &hi,
                &range.since_ms.unwrap_or(i64::MIN),
                &range.until_ms.unwrap_or(i64::MAX),
                &i64::from(range.limit),
            ],
        )
        .await?
        .iter()
        .map(rows::message)
        .collect()
    }

    async fn list_children(&self, container: MessageId) -> StoreResult<Vec<Message>> {
        let c = self.client().await?;
        list_children_in(&c, container).await
    }

    async fn update_message(&self, id: MessageId, update: MessageUpdate) -> StoreResult<Message> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // FOR UPDATE: racing edits queue here, so each sees the other's count.
        let mut m = load_message(&tx, id, true)
            .await?
            .ok_or(StoreError::NotFound(Entity::Message))?;
        update.apply(&mut m)?;
        execute(
            &tx,
            "UPDATE messages SET doc = $3 WHERE chat_id = $1 AND id = $2",
            &[&id.chat().0, &id.0, &Json(&m)],
        )
        .await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(m)
    }

    async fn remember_nonce(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        if self.inner.nonce_calls.fetch_add(1, Ordering::Relaxed) % NONCE_PURGE_EVERY
            == NONCE_PURGE_EVERY - 1
        {
            let pool = self.inner.nonce_pool.clone();
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
        // freshness window. Concurrent requests share one statement (`nonces.rs`).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces, joined the way the append statement joins them, are the document the
    /// message serialises to, whatever its content holds.
    #[test]
    fn documents_assembled_around_the_position_are_the_plain_documents() {
        let tricky = [
            // The same keys as the document's times, in an object of the sender's choosing.
            serde_json::json!({ "created_at": 0, "updated_at": 0 }),
            serde_json::json!({ "text": ",\"created_at\":0,\"updated_at\":0", "id": 0 }),
            serde_json::json!({ "title": "日本語 \u{1F600}", "paragraphs": [[{ "tag": "text", "text": "\"}" }]] }),
        ];
        for (n, data) in tricky.into_iter().enumerate() {
            let mut m = Message {
                id: MessageId(0),
                tenant: TenantId(3),
                chat: ChatId(7),
                sender: Actor::User(UserId(9)),
                kind: MessageType::Card,
                content: Content {
                    text: ",\"created_at\":0,\"updated_at\":0".into(),
                    data: data.clone(),
                    original: Some(OriginalContent {
                        format: "wps".into(),
                        value: data,
                    }),
                },
                mentions: vec![],
                created_at: 0,
                updated_at: 0,
                edit: None,
                removal: None,
                parent: (n > 0).then_some(MessageId(7 << 32 | 1)),
                root: None,
                thread: None,
                upper: None,
                copied_from: None,
                client_msg_id: None,
                extra: MessageExtra {
                    sub_type: Some(2),
                    extension: (n == 1).then(|| ",\"created_at\":0,\"updated_at\":0".into()),
                    client_type: None,
                },
            };
            let (middle, tail) = doc_around_position(&m).unwrap();
            let (id, at) = (7i64 << 32 | 12, 1_700_000_000_123i64);
            let joined = format!("{{\"id\":{id}{middle}{at},\"updated_at\":{at}{tail}");
            m.id = MessageId(id);
            m.created_at = at;
            m.updated_at = at;
            assert_eq!(joined, serde_json::to_string(&m).unwrap(), "case {n}");
        }
    }
}
