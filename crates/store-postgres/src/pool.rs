//! Connections, pools and migrations.

use crate::errors::{connect_err, describe, pg_err};
use crate::{rows, PostgresOptions};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use switchboard_core::store::*;
use tokio_postgres::NoTls;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_events.sql")),
    (3, include_str!("../migrations/0003_delivery_heads.sql")),
    (4, include_str!("../migrations/0004_chat_details.sql")),
    (5, include_str!("../migrations/0005_files.sql")),
    (6, include_str!("../migrations/0006_reactions.sql")),
    (7, include_str!("../migrations/0007_attempt_wire.sql")),
    (8, include_str!("../migrations/0008_router_lease.sql")),
    (9, include_str!("../migrations/0009_stored_form.sql")),
];

/// Key of the transaction-scoped advisory lock that serialises migrators (ASCII "SWBDMIGR").
/// Advisory locks are per database, so unrelated databases on one server do not contend.
const MIGRATION_LOCK: i64 = 0x5357_4244_4D49_4752;

/// Used by [`migrate`] when the URL sets no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn parse_url(url: &str) -> Result<tokio_postgres::Config, StoreError> {
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
pub(crate) async fn connect_bounded(
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

pub(crate) async fn migrate_with(config: &tokio_postgres::Config) -> Result<Vec<i64>, StoreError> {
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

/// Connections for the batched statements of gets and sends (`lookups.rs`, `sends.rs`)
/// beside a pool of `pool_size`: each batcher uses half of them.
pub fn batch_pool_size(pool_size: usize) -> usize {
    pool_size.div_ceil(2).max(2)
}

/// `config` with `-c name=value` added to its session options.
pub(crate) fn with_setting(
    config: &tokio_postgres::Config,
    name: &str,
    value: &str,
) -> tokio_postgres::Config {
    let mut c = config.clone();
    let ours = format!("-c {name}={value}");
    let options = match c.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    };
    c.options(options);
    c
}

pub(crate) fn build_pool(
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
