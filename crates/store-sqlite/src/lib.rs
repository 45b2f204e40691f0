//! The embedded store: one SQLite file in WAL mode.
//!
//! - **Writes** go to one writer thread that owns the only write connection. It drains
//!   whatever writes are queued (up to [`MAX_BATCH`]), runs each inside its own savepoint of
//!   one transaction, commits once, and only then answers each caller. With
//!   `synchronous=FULL` the commit is fsynced, so an `Ok` means durable; the fsync is shared
//!   by the whole batch (group commit). A failed write rolls back to its savepoint and leaves
//!   no trace, so positions never skip. A bulk append (import) runs as a transaction of its
//!   own instead, with no savepoint to journal every page it touches, and has its contents
//!   serialised before it reaches the writer.
//! - **Checkpoints** (copying the WAL into the database file) run on a thread of their own
//!   after commits, at most every [`CHECKPOINT_INTERVAL`], not inside the writer's commits.
//! - **Reads** use a small pool of read-only connections (point reads inline, scans on the
//!   blocking thread pool); WAL lets them run beside the writer. A reader keeps its read
//!   transaction (its snapshot) open between reads until the writer commits again: the
//!   writer counts its commits and ends idle readers' transactions after each, and a reader
//!   whose snapshot predates the latest commit starts a new one before reading. So a read
//!   always sees every write acknowledged before it began, and a read-mostly load skips
//!   SQLite's per-statement transaction start and end (WAL-index locks, file size checks).
//!   This holds because this process is the database's only writer (see also `cache`).
//! - **Nonces** for replay protection live in memory (this store serves one process), and
//!   every accepted one is journalled to disk before its request goes on, so that a restart
//!   does not reopen the replay window ([`nonce_log`]).
//!
//! The files, one job each:
//! - `lib.rs` (here): the options, the [`SqliteStore`] handle and its opening, connections
//!   and migrations;
//! - `tenants.rs`, `chats.rs`, `messages.rs`, `nonces.rs`, `events.rs`: one file per area
//!   of the store port, each implementing its trait ([`TenantStore`], [`ChatStore`],
//!   [`MessageStore`], [`NonceStore`], [`EventStore`]: subscriptions, routing the outbox,
//!   delivery leases and the delivery log);
//! - `timeline.rs`: the SQL of appends and timeline reads, run inside a write or a read;
//! - `changes.rs`: recording a write's change (the outbox's entry) inside that write, so
//!   that a failed write leaves none and a committed one always has its own;
//! - `writer.rs`: the write queue and the writer thread's group commit;
//! - `wal.rs`: the checkpoint thread and the writer's WAL restarts;
//! - `readers.rs`: the pool of read connections and their snapshots;
//! - `cache.rs`: the cached rows and the nonce set; [`nonce_log`]: the nonce journal;
//!   `rows.rs`: row decoding;
//! - `files.rs`: stored files ([`FileStore`]), their bytes in chunks written by short jobs.

pub mod backup;
mod cache;
mod changes;
mod chats;
mod events;
mod files;
mod messages;
pub mod metrics;
pub mod nonce_log;
mod nonces;
mod reactions;
mod readers;
mod rows;
mod tenants;
mod timeline;
mod wal;
mod writer;

use nonces::open_nonces;
use readers::Readers;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio::sync::mpsc;
use wal::{spawn_checkpointer, Wal, WAL_SIZE_LIMIT};
use writer::{writer_loop, BoxedJob};

pub use wal::{CHECKPOINT_INTERVAL, WAL_RESET_FRAMES};
pub use writer::MAX_BATCH;

/// How long any connection waits for a lock before answering busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_drop_messages_time.sql")),
    (3, include_str!("../migrations/0003_events.sql")),
    (4, include_str!("../migrations/0004_delivery_heads.sql")),
    (5, include_str!("../migrations/0005_chat_details.sql")),
    (6, include_str!("../migrations/0006_files.sql")),
    (7, include_str!("../migrations/0007_reactions.sql")),
    (8, include_str!("../migrations/0008_attempt_wire.sql")),
];

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "switchboard.db";

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// Read connections kept open.
    pub readers: usize,
    /// WAL frames (pages) past which the writer checkpoints and restarts the WAL itself
    /// (see [`WAL_RESET_FRAMES`]).
    pub wal_reset_frames: i64,
    /// Bytes of the database file each read connection maps into memory (`PRAGMA
    /// mmap_size`); 0 reads every page with a system call. Mapped, a read that misses the
    /// connection's page cache costs no system call and no copy, but every page read stays
    /// counted in the process's resident size (it is the OS page cache, shared with the
    /// file, so the machine's memory use is the same either way). docs/performance.md
    /// measures both.
    pub mmap_bytes: u64,
}

impl SqliteOptions {
    pub fn in_dir(dir: &Path) -> Self {
        SqliteOptions {
            path: dir.join(DB_FILE),
            readers: 4,
            wal_reset_frames: WAL_RESET_FRAMES,
            mmap_bytes: 0,
        }
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: Arc<Readers>,
    max_readers: usize,
    writer: mpsc::Sender<BoxedJob>,
    nonces: cache::ShardedNonces,
    nonce_log: nonce_log::NonceLog,
    apps: cache::Cached<AppId, App>,
    app_ids: cache::Cached<String, AppId>,
    users: cache::Cached<UserId, User>,
    /// (tenant, user_id or account_id) -> user: both ids are immutable and users are
    /// never deleted, so this map needs no invalidation.
    user_keys: cache::Cached<(TenantId, UserKeyOwned), UserId>,
    /// p2p key -> chat: a pair's p2p chat is created once and chats are never deleted, so
    /// this map needs no invalidation either (the chat itself comes from `chats`).
    p2p_chats: cache::Cached<String, ChatId>,
    chats: cache::Cached<ChatId, Chat>,
    members: cache::Cached<(ChatId, Actor), Member>,
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | DiskFull | CannotOpen | SystemIoFailure) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// Page cache per read connection, in KiB. A point read descends root -> interior -> leaf;
/// at 10M messages the interior level alone is about 3,200 pages (13 MiB), touched once
/// every few thousand reads each, while every read brings in a new leaf. With 16 MiB the
/// leaves pushed the interior pages out of the LRU and reads at 10M took a second
/// `pread`; 32 MiB keeps them. Private memory: a get load keeps one reader per worker
/// thread busy, so this is most of the server's resident size.
const READER_CACHE_KIB: u32 = 32 * 1024;

/// The writer's page cache, in KiB: the interior pages plus the tail leaf of each chat
/// being written to.
const WRITER_CACHE_KIB: u32 = 16 * 1024;

fn open_conn(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    open_conn_mapped(path, read_only, 0)
}

/// Opens a connection that maps up to `mmap_bytes` of the database file (readers only: the
/// writer and the checkpointer write through the WAL either way).
/// Why the OS would refuse to open `path` (SQLite's own message does not say): probed
/// without creating anything.
fn os_reason(path: &Path, read_only: bool) -> String {
    if path.exists() {
        return match std::fs::OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
        {
            Err(e) => format!(" ({e})"),
            Ok(_) => String::new(),
        };
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.exists() => format!(" (directory {} does not exist)", dir.display()),
        Some(dir) if !dir.is_dir() => format!(" ({} is not a directory)", dir.display()),
        _ => String::new(),
    }
}

fn open_conn_mapped(
    path: &Path,
    read_only: bool,
    mmap_bytes: u64,
) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        StoreError::Unavailable(format!(
            "open {}: {e}{}",
            path.display(),
            os_reason(path, read_only)
        ))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err)?;
    // synchronous=FULL: the WAL is fsynced at every commit, so an acknowledged write
    // survives power loss, not only a process crash. temp_store=MEMORY keeps each write's
    // savepoint journal in memory: it only serves a rollback inside the open transaction.
    let cache_kib = if read_only {
        READER_CACHE_KIB
    } else {
        WRITER_CACHE_KIB
    };
    conn.execute_batch(&format!("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-{cache_kib}; PRAGMA temp_store=MEMORY;"))
        .map_err(sql_err)?;
    if mmap_bytes > 0 {
        // SQLite caps this at its compile-time SQLITE_MAX_MMAP_SIZE and answers with the
        // value it applied; a smaller one is still a valid setting, not an error.
        conn.execute_batch(&format!("PRAGMA mmap_size={mmap_bytes};"))
            .map_err(sql_err)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies pending migrations; returns the versions applied now.
pub fn migrate(path: &Path) -> Result<Vec<i64>, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", dir.display())))?;
    }
    let mut conn = open_conn(path, false)?;
    migrate_conn(&mut conn)
}

fn migrate_conn(conn: &mut Connection) -> Result<Vec<i64>, StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        .map_err(sql_err)?;
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let done: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .map_err(sql_err)?;
        if !done {
            tx.execute_batch(sql).map_err(sql_err)?;
            tx.execute("INSERT INTO schema_migrations(version, applied_at) VALUES (?1, strftime('%s','now'))", [version]).map_err(sql_err)?;
            applied.push(*version);
        }
        tx.commit().map_err(sql_err)?;
    }
    Ok(applied)
}

impl SqliteStore {
    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    pub fn open(opts: SqliteOptions) -> Result<Self, StoreError> {
        migrate(&opts.path)?;
        let conn = open_conn(&opts.path, false)?;
        // Checkpoints (copying the WAL into the database file) run on a thread of their own,
        // beside the writer rather than inside its commits.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WAL_SIZE_LIMIT}"
        ))
        .map_err(sql_err)?;
        // One process has the file at a time (the server locks it), so every event lease
        // found now was held by a process that is gone: release them, rather than leave its
        // deliveries waiting out a lease nobody will renew.
        conn.execute_batch(
            "UPDATE changes SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL;
             UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL;",
        )
        .map_err(sql_err)?;
        // Likewise, no upload is in progress: chunks without their file's row are a
        // stopped upload's (`files.rs`).
        files::sweep_orphan_chunks(&conn)?;
        let wal = Arc::new(Wal {
            frames: std::sync::atomic::AtomicI64::new(0),
            reset_at: opts.wal_reset_frames.max(1),
        });
        let (nonce_log, nonces) = open_nonces(&opts.path)?;
        let checkpoints = spawn_checkpointer(&opts.path, wal.clone())?;
        let (tx, rx) = mpsc::channel::<BoxedJob>(MAX_BATCH * 8);
        let readers = Arc::new(Readers::new(opts.mmap_bytes));
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let readers = readers.clone();
                move || writer_loop(conn, rx, &readers, &checkpoints, &wal)
            })
            .map_err(|e| StoreError::Internal(format!("spawn writer: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: opts.path,
                readers,
                max_readers: opts.readers.max(1),
                writer: tx,
                nonces,
                nonce_log,
                apps: cache::Cached::new("apps"),
                app_ids: cache::Cached::new("app_ids"),
                users: cache::Cached::new("users"),
                user_keys: cache::Cached::new("user_keys"),
                p2p_chats: cache::Cached::new("p2p_chats"),
                chats: cache::Cached::new("chats"),
                members: cache::Cached::new("members"),
            }),
        })
    }

    /// The nonce journal's directory (beside the database file).
    pub fn nonce_dir(&self) -> PathBuf {
        nonce_log::dir_of(&self.inner.path)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_cannot_be_opened_is_reported_with_the_os_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere/switchboard.db");
        let err = open_conn_mapped(&missing, false, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(!missing.parent().unwrap().exists(), "nothing was created");
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let err = open_conn_mapped(&file.join("db"), false, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }

    /// Readers map what `mmap_bytes` asks for, beyond SQLite's default 2 GiB cap (raised in
    /// `.cargo/config.toml` so that a larger database can be mapped whole); the writer never
    /// maps.
    #[test]
    fn readers_map_the_requested_size_and_the_writer_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        migrate(&path).unwrap();
        let mmap =
            |c: &Connection| -> i64 { c.query_row("PRAGMA mmap_size", [], |r| r.get(0)).unwrap() };
        for want in [0u64, 64 << 10, 3 << 30, 1 << 40] {
            let c = open_conn_mapped(&path, true, want).unwrap();
            assert_eq!(mmap(&c), want as i64, "reader with mmap_bytes = {want}");
        }
        assert_eq!(mmap(&open_conn(&path, false).unwrap()), 0, "writer");
    }
}
