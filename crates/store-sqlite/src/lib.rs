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

mod cache;
pub mod nonce_log;
mod rows;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use switchboard_core::error::{Conflict, Entity};
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed together in one transaction.
pub const MAX_BATCH: usize = 512;

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

/// How long any connection waits for a lock before answering busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The WAL file is truncated back to this size when the log restarts.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_drop_messages_time.sql")),
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

/// One queued write: run inside the batch transaction, then told how the commit went.
trait WriteJob: std::marker::Send {
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

type BoxedJob = Box<dyn WriteJob>;

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
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("open {}: {e}", path.display())))?;
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
        let wal = Arc::new(Wal {
            frames: std::sync::atomic::AtomicI64::new(0),
            reset_at: opts.wal_reset_frames.max(1),
        });
        let (nonce_log, nonces) = open_nonces(&opts.path)?;
        let checkpoints = spawn_checkpointer(&opts.path, wal.clone())?;
        let (tx, rx) = mpsc::channel::<BoxedJob>(MAX_BATCH * 8);
        let readers = Arc::new(Readers {
            mmap_bytes: opts.mmap_bytes,
            ..Readers::default()
        });
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
                apps: cache::Cached::new(),
                app_ids: cache::Cached::new(),
                users: cache::Cached::new(),
                user_keys: cache::Cached::new(),
                p2p_chats: cache::Cached::new(),
                chats: cache::Cached::new(),
                members: cache::Cached::new(),
            }),
        })
    }

    /// The nonce journal's directory (beside the database file).
    pub fn nonce_dir(&self) -> PathBuf {
        nonce_log::dir_of(&self.inner.path)
    }

    /// Keeps a cached chat's `last_position` current after an append.
    fn bump_position(&self, m: &Message) {
        if let Some(p) = m.position() {
            self.inner
                .chats
                .update(&m.chat, |c| c.last_position = c.last_position.max(p));
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on the writer thread inside the current batch's transaction, and answers
    /// once that transaction is durably committed.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: std::marker::Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send + 'static,
    {
        self.write_job(f, false).await
    }

    /// Like [`SqliteStore::write`], for a large job: it gets a transaction of its own (all or
    /// nothing, as in a savepoint) instead of a savepoint in a shared one.
    async fn write_solo<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: std::marker::Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + std::marker::Send + 'static,
    {
        self.write_job(f, true).await
    }

    async fn write_job<T, F>(&self, f: F, solo: bool) -> StoreResult<T>
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

    /// A point read run on the calling thread: a primary-key lookup costs a few
    /// microseconds from the page cache, less than a hop to the blocking pool.
    fn read_now<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.inner
            .readers
            .with(&self.inner.path, self.inner.max_readers, f)
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
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
struct Readers {
    idle: Mutex<Vec<Reader>>,
    commits: std::sync::atomic::AtomicU64,
    /// While set, readers end their snapshot after each read (the writer is restarting
    /// the WAL and waits for every reader to leave it).
    draining: std::sync::atomic::AtomicBool,
    /// `SqliteOptions::mmap_bytes`, for each new read connection.
    mmap_bytes: u64,
}

impl Readers {
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
    fn committed(&self) {
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

/// Checkpoints at most this often; each copies whatever the WAL holds by then.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the checkpoint thread; the writer pokes the returned sender after each commit.
/// The thread stops when the writer does (the sender is dropped).
fn spawn_checkpointer(
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
struct Wal {
    frames: std::sync::atomic::AtomicI64,
    reset_at: i64,
}

impl Wal {
    fn too_long(&self) -> bool {
        self.frames.load(std::sync::atomic::Ordering::Acquire) >= self.reset_at
    }
}

/// Checkpoints the whole WAL and rewinds it, between two batches (see [`WAL_RESET_FRAMES`]).
/// Readers let go of their snapshots meanwhile; writes wait, reads do not.
fn restart_wal(conn: &Connection, readers: &Readers, wal: &Wal) {
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

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<BoxedJob>,
    readers: &Readers,
    checkpoints: &std::sync::mpsc::SyncSender<()>,
    wal: &Wal,
) {
    let mut batch: Vec<BoxedJob> = Vec::with_capacity(MAX_BATCH);
    // A solo job met while draining waits here for the batch before it to commit.
    let mut held: Option<BoxedJob> = None;
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

fn p2p_key(tenant: TenantId, a: Actor, b: Actor) -> String {
    let mut parts = [
        format!("{}:{}", a.kind(), a.raw_id()),
        format!("{}:{}", b.kind(), b.raw_id()),
    ];
    parts.sort();
    format!("{}:{}|{}", tenant.0, parts[0], parts[1])
}

fn load_message(conn: &Connection, id: MessageId) -> StoreResult<Option<Message>> {
    conn.prepare_cached("SELECT doc FROM messages WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.0], |r| r.get::<_, String>(0)).optional())
        .map_err(sql_err)?
        .map(|doc| rows::decode_message(&doc))
        .transpose()
}

fn insert_message(conn: &Connection, m: &Message) -> StoreResult<()> {
    let doc = serde_json::to_string(m).map_err(|e| StoreError::Internal(e.to_string()))?;
    insert_doc(conn, m, doc)
}

fn insert_doc(conn: &Connection, m: &Message, doc: String) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO messages(id, chat_id, created_at, upper_id, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.id.0,
            m.chat.0,
            m.created_at,
            m.upper.map(|u| u.0),
            doc
        ])
    })
    .map_err(sql_err)?;
    Ok(())
}

/// The document of `m` (`serde_json::to_string(m)`), given its content already serialised
/// as `content_json`: bulk appends serialise contents before the writer thread, which then
/// only writes the small rest. `m.content` is not read.
fn doc_with_content(m: &mut Message, content_json: &str) -> StoreResult<String> {
    let content = std::mem::take(&mut m.content);
    let rest = serde_json::to_string(m);
    m.content = content;
    let rest = rest.map_err(|e| StoreError::Internal(e.to_string()))?;
    // An empty content serialises as `{}`, and every field before it is a number or a
    // tag, so the first match is the content field.
    const EMPTY: &str = "\"content\":{}";
    let at = rest
        .find(EMPTY)
        .ok_or_else(|| StoreError::Internal("message document without content".into()))?;
    let mut doc = String::with_capacity(rest.len() + content_json.len());
    doc.push_str(&rest[..at + EMPTY.len() - 2]);
    doc.push_str(content_json);
    doc.push_str(&rest[at + EMPTY.len()..]);
    Ok(doc)
}

/// The newest timeline position of `chat` in the table (0 when it has none).
fn last_position(c: &Connection, chat: ChatId) -> StoreResult<i64> {
    let base = chat.0 << 32;
    let max: Option<i64> = c
        .prepare_cached("SELECT max(id) FROM messages WHERE id > ?1 AND id <= ?2")
        .and_then(|mut s| s.query_row(params![base, base + MAX_POSITION], |r| r.get(0)))
        .map_err(sql_err)?;
    Ok(max.map_or(0, |id| id - base))
}

/// The first position in `1..=last` whose message was created at or after `t` (`last + 1`
/// when none is): a binary search over primary-key reads, sound because a chat's
/// timestamps never decrease along its positions.
fn first_position_at_or_after(
    c: &Connection,
    chat: ChatId,
    last: i64,
    t: Millis,
) -> StoreResult<i64> {
    let base = chat.0 << 32;
    let mut s = c
        .prepare_cached("SELECT created_at FROM messages WHERE id = ?1")
        .map_err(sql_err)?;
    let (mut lo, mut hi) = (1, last + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at: Option<Millis> = s
            .query_row([base + mid], |r| r.get(0))
            .optional()
            .map_err(sql_err)?;
        // Positions are gapless; a missing row is passed over to the right.
        if at.is_some_and(|at| at >= t) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Takes the next timeline position of `chat`; returns (position, created_at).
fn next_position(
    conn: &Connection,
    chat: ChatId,
    created_floor: Millis,
) -> StoreResult<(i64, Millis)> {
    let row = conn
        .prepare_cached(
            "UPDATE chats SET last_position = last_position + 1, last_created_at = MAX(last_created_at, ?2)
             WHERE id = ?1 AND dissolved_at IS NULL RETURNING last_position, last_created_at",
        )
        .and_then(|mut s| s.query_row(params![chat.0, created_floor], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_err)?;
    match row {
        Some(r) => Ok(r),
        None => {
            let exists: bool = conn
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM chats WHERE id = ?1)",
                    [chat.0],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            Err(if exists {
                StoreError::Conflict(Conflict::ChatDissolved)
            } else {
                StoreError::NotFound(Entity::Chat)
            })
        }
    }
}

/// Appends one timeline message, honouring the idempotency key. Runs inside the writer's
/// transaction.
fn append_timeline(conn: &Connection, new: &NewMessage) -> StoreResult<Appended> {
    if let Some(cid) = &new.client_msg_id {
        let prior: Option<(i64, Millis)> = conn
            .prepare_cached("SELECT message_id, created_at FROM idempotency WHERE sender_kind = ?1 AND sender_id = ?2 AND client_msg_id = ?3")
            .and_then(|mut s| s.query_row(params![new.sender.kind(), new.sender.raw_id(), cid], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(sql_err)?;
        if let Some((mid, at)) = prior {
            if new.created_at - at <= new.idempotency_window_ms {
                if let Some(m) = load_message(conn, MessageId(mid))? {
                    return Ok(Appended {
                        message: m,
                        created: false,
                    });
                }
            }
        }
    }
    let (pos, created_at) = next_position(conn, new.chat, new.created_at)?;
    let id = MessageId::timeline(new.chat, pos)
        .ok_or_else(|| StoreError::Internal(format!("chat {} is full", new.chat)))?;
    let m = new.to_message(id, created_at, None);
    insert_message(conn, &m)?;
    if let Some(cid) = &new.client_msg_id {
        conn.prepare_cached(
            "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(sender_kind, sender_id, client_msg_id) DO UPDATE SET message_id = excluded.message_id, created_at = excluded.created_at",
        )
        .and_then(|mut s| s.execute(params![new.sender.kind(), new.sender.raw_id(), cid, id.0, new.created_at]))
        .map_err(sql_err)?;
    }
    Ok(Appended {
        message: m,
        created: true,
    })
}

/// Bulk append without idempotency keys: reserves each chat's positions with one counter
/// update per chat, then inserts. Same guarantees as one-by-one appends, a fraction of the
/// statements.
fn append_batch_reserved(
    c: &Connection,
    batch: &mut [NewMessage],
    contents: &[String],
) -> StoreResult<Vec<Message>> {
    let mut counts: HashMap<ChatId, i64> = HashMap::new();
    for m in batch.iter() {
        *counts.entry(m.chat).or_default() += 1;
    }
    // chat -> (last position taken, last created_at)
    let mut cursor: HashMap<ChatId, (i64, Millis)> = HashMap::with_capacity(counts.len());
    for (chat, n) in &counts {
        let row: Option<(i64, Millis)> = c
            .prepare_cached(
                "UPDATE chats SET last_position = last_position + ?2 WHERE id = ?1 AND dissolved_at IS NULL
                 RETURNING last_position - ?2, last_created_at",
            )
            .and_then(|mut s| s.query_row(params![chat.0, n], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(sql_err)?;
        match row {
            Some(r) => {
                cursor.insert(*chat, r);
            }
            None => {
                // Same answer as a single append would give.
                next_position(c, *chat, 0)?;
                return Err(StoreError::Internal("chat counter vanished".into()));
            }
        }
    }
    let mut out = place_batch(batch, &mut cursor)?;
    // Inserted in key order: each chat's new rows go to one place in the table, so the
    // B-tree cursor moves forward instead of jumping between chats on every row.
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_unstable_by_key(|&i| out[i].id.0);
    for i in order {
        let doc = doc_with_content(&mut out[i], &contents[i])?;
        insert_doc(c, &out[i], doc)?;
    }
    let mut s = c
        .prepare_cached("UPDATE chats SET last_created_at = MAX(last_created_at, ?2) WHERE id = ?1")
        .map_err(sql_err)?;
    for (chat, (_, created)) in &cursor {
        s.execute(params![chat.0, created]).map_err(sql_err)?;
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_err))
            .await
    }

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO tenants(name, created_at) VALUES (?1, ?2)",
                params![new.name, new.created_at],
            )
            .map_err(sql_err)?;
            Ok(Tenant {
                id: TenantId(c.last_insert_rowid()),
                name: new.name,
                created_at: new.created_at,
            })
        })
        .await
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = ?1")
                .and_then(|mut s| s.query_row([id.0], rows::tenant).optional())
                .map_err(sql_err)
        })
        .await
    }

    async fn list_tenants(&self, page: Page) -> StoreResult<Vec<Tenant>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT id, name, created_at FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![page.after, page.limit], rows::tenant)
                .map_err(sql_err)?;
            rows.collect::<Result<_, _>>().map_err(sql_err)
        })
        .await
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        self.write(move |c| {
            let r = c.execute(
                "INSERT INTO users(tenant_id, user_id, account_id, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![new.tenant.0, new.user_id, new.account_id, new.name, new.created_at],
            );
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    let taken: bool = c
                        .query_row("SELECT EXISTS(SELECT 1 FROM users WHERE tenant_id = ?1 AND user_id = ?2)", params![new.tenant.0, new.user_id], |r| r.get(0))
                        .map_err(sql_err)?;
                    return Err(StoreError::Duplicate(if taken { "user_id" } else { "account_id" }));
                }
                Err(e) => return Err(sql_err(e)),
            }
            Ok(User {
                id: UserId(c.last_insert_rowid()),
                tenant: new.tenant,
                user_id: new.user_id,
                account_id: new.account_id,
                name: new.name,
                created_at: new.created_at,
            })
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        if let Some(u) = self.inner.users.get(&id) {
            return Ok(Some(u));
        }
        let generation = self.inner.users.generation();
        let u = self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM users WHERE id = ?1",
                rows::USER_COLS
            ))
            .and_then(|mut s| s.query_row([id.0], rows::user).optional())
            .map_err(sql_err)
        })?;
        if let Some(u) = &u {
            self.inner.users.fill(id, u.clone(), generation);
        }
        Ok(u)
    }

    async fn find_user(&self, tenant: TenantId, key: UserKey<'_>) -> StoreResult<Option<User>> {
        let owned = UserKeyOwned::from(key);
        if let Some(id) = self.inner.user_keys.get(&(tenant, owned.clone())) {
            if let Some(u) = self.get_user(id).await? {
                return Ok(Some(u));
            }
        }
        let col = match key {
            UserKey::UserId(_) => "user_id",
            UserKey::AccountId(_) => "account_id",
        };
        let generation = self.inner.users.generation();
        // A unique-index point read, like get_user: inline, not worth a hop to the pool.
        let u = self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM users WHERE tenant_id = ?1 AND {col} = ?2",
                rows::USER_COLS
            ))
            .and_then(|mut s| {
                s.query_row(params![tenant.0, owned.value()], rows::user)
                    .optional()
            })
            .map_err(sql_err)
        })?;
        if let Some(u) = &u {
            let g = self.inner.user_keys.generation();
            self.inner.user_keys.fill((tenant, owned), u.id, g);
            self.inner.users.fill(u.id, u.clone(), generation);
        }
        Ok(u)
    }

    async fn rename_user(&self, id: UserId, name: String) -> StoreResult<User> {
        let r = self
            .write(move |c| {
                c.execute(
                    "UPDATE users SET name = ?2 WHERE id = ?1",
                    params![id.0, name],
                )
                .map_err(sql_err)?;
                c.prepare_cached(&format!(
                    "SELECT {} FROM users WHERE id = ?1",
                    rows::USER_COLS
                ))
                .and_then(|mut s| s.query_row([id.0], rows::user).optional())
                .map_err(sql_err)?
                .ok_or(StoreError::NotFound(Entity::User))
            })
            .await;
        self.inner.users.invalidate(&id);
        r
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<User>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM users WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                    rows::USER_COLS
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![tenant.0, page.after, page.limit], rows::user)
                .map_err(sql_err)?;
            rows.collect::<Result<_, _>>().map_err(sql_err)
        })
        .await
    }

    async fn create_app(&self, new: NewApp) -> StoreResult<App> {
        self.write(move |c| {
            let scopes = serde_json::to_string(&new.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
            let r = c.execute(
                "INSERT INTO apps(tenant_id, app_id, app_secret, name, bot_enabled, signing_required, scopes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![new.tenant.0, new.app_id, new.app_secret.expose(), new.name, new.bot_enabled, new.signing_required, scopes, new.created_at],
            );
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("app_id")),
                Err(e) => return Err(sql_err(e)),
            }
            Ok(App {
                id: AppId(c.last_insert_rowid()),
                tenant: new.tenant,
                app_id: new.app_id,
                app_secret: new.app_secret,
                name: new.name,
                bot_enabled: new.bot_enabled,
                signing_required: new.signing_required,
                scopes: new.scopes,
                created_at: new.created_at,
            })
        })
        .await
    }

    async fn get_app(&self, id: AppId) -> StoreResult<Option<App>> {
        if let Some(a) = self.inner.apps.get(&id) {
            return Ok(Some(a));
        }
        let generation = self.inner.apps.generation();
        let a = self.read_now(|c| rows::app_where(c, "id = ?1", &id.0))?;
        if let Some(a) = &a {
            self.inner.apps.fill(id, a.clone(), generation);
        }
        Ok(a)
    }

    async fn find_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        // app_id -> id never changes, so that map needs no invalidation.
        if let Some(id) = self.inner.app_ids.get(app_id) {
            return self.get_app(id).await;
        }
        let generation = self.inner.apps.generation();
        let a = self.read_now(|c| rows::app_where(c, "app_id = ?1", &app_id))?;
        if let Some(a) = &a {
            self.inner
                .app_ids
                .fill(a.app_id.clone(), a.id, self.inner.app_ids.generation());
            self.inner.apps.fill(a.id, a.clone(), generation);
        }
        Ok(a)
    }

    async fn list_apps(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<App>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM apps WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                    rows::APP_COLS
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![tenant.0, page.after, page.limit], rows::app)
                .map_err(sql_err)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(sql_err)?
                .into_iter()
                .collect()
        })
        .await
    }

    async fn update_app(&self, id: AppId, patch: AppPatch) -> StoreResult<App> {
        let r = self.write(move |c| {
            let mut app = rows::app_where(c, "id = ?1", &id.0)?.ok_or(StoreError::NotFound(Entity::App))?;
            if let Some(v) = patch.name {
                app.name = v;
            }
            if let Some(v) = patch.app_secret {
                app.app_secret = v;
            }
            if let Some(v) = patch.bot_enabled {
                app.bot_enabled = v;
            }
            if let Some(v) = patch.signing_required {
                app.signing_required = v;
            }
            if let Some(v) = patch.scopes {
                app.scopes = v;
            }
            let scopes = serde_json::to_string(&app.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
            c.execute(
                "UPDATE apps SET name = ?2, app_secret = ?3, bot_enabled = ?4, signing_required = ?5, scopes = ?6 WHERE id = ?1",
                params![id.0, app.name, app.app_secret.expose(), app.bot_enabled, app.signing_required, scopes],
            )
            .map_err(sql_err)?;
            Ok(app)
        })
        .await;
        // Invalidated whatever the outcome: a failed commit may still have been applied.
        self.inner.apps.invalidate(&id);
        r
    }

    async fn create_chat(&self, new: NewChat) -> StoreResult<Chat> {
        self.write(move |c| {
            let key = match (new.kind, new.members.as_slice()) {
                (ChatKind::P2p, [(a, _), (b, _)]) => Some(p2p_key(new.tenant, *a, *b)),
                _ => None,
            };
            let r = c.execute(
                "INSERT INTO chats(tenant_id, kind, name, owner_kind, owner_id, created_at, p2p_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![new.tenant.0, new.kind.as_str(), new.name, new.owner.kind(), new.owner.raw_id(), new.created_at, key],
            );
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("p2p")),
                Err(e) => return Err(sql_err(e)),
            }
            let id = c.last_insert_rowid();
            if id > MAX_CHAT_ID {
                return Err(StoreError::Internal("chat id space exhausted".into()));
            }
            {
                let mut s = c
                    .prepare_cached("INSERT OR IGNORE INTO chat_members(chat_id, member_kind, member_id, role, joined_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .map_err(sql_err)?;
                for (a, role) in &new.members {
                    s.execute(params![id, a.kind(), a.raw_id(), role.as_str(), new.created_at]).map_err(sql_err)?;
                }
            }
            Ok(Chat {
                id: ChatId(id),
                tenant: new.tenant,
                kind: new.kind,
                name: new.name,
                owner: new.owner,
                created_at: new.created_at,
                dissolved_at: None,
                last_position: 0,
            })
        })
        .await
    }

    async fn get_chat(&self, id: ChatId) -> StoreResult<Option<Chat>> {
        if let Some(c) = self.inner.chats.get(&id) {
            return Ok(Some(c));
        }
        let generation = self.inner.chats.generation();
        let chat = self.read_now(|c| rows::chat_where(c, "id = ?1", &id.0))?;
        if let Some(c) = &chat {
            self.inner.chats.fill(id, c.clone(), generation);
        }
        Ok(chat)
    }

    async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> StoreResult<Option<Chat>> {
        let key = p2p_key(tenant, a, b);
        if let Some(id) = self.inner.p2p_chats.get(&key) {
            return self.get_chat(id).await;
        }
        // A unique-index lookup: read inline, like the other point reads. Absence is not
        // cached (the chat may be created next).
        let generation = self.inner.p2p_chats.generation();
        let chat = self.read_now(|c| rows::chat_where(c, "p2p_key = ?1", &key))?;
        if let Some(c) = &chat {
            self.inner.p2p_chats.fill(key, c.id, generation);
        }
        Ok(chat)
    }

    async fn list_chats(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<Chat>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM chats WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                    rows::CHAT_COLS
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![tenant.0, page.after, page.limit], rows::chat)
                .map_err(sql_err)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(sql_err)?
                .into_iter()
                .collect()
        })
        .await
    }

    async fn dissolve_chat(&self, id: ChatId, at: Millis) -> StoreResult<Chat> {
        let r = self
            .write(move |c| {
                c.execute(
                    "UPDATE chats SET dissolved_at = COALESCE(dissolved_at, ?2) WHERE id = ?1",
                    params![id.0, at],
                )
                .map_err(sql_err)?;
                rows::chat_where(c, "id = ?1", &id.0)?.ok_or(StoreError::NotFound(Entity::Chat))
            })
            .await;
        self.inner.chats.invalidate(&id);
        r
    }

    async fn add_members(
        &self,
        chat: ChatId,
        members: Vec<(Actor, Role)>,
        at: Millis,
    ) -> StoreResult<Vec<Member>> {
        self.write(move |c| {
            let mut s = c
                .prepare_cached("INSERT OR IGNORE INTO chat_members(chat_id, member_kind, member_id, role, joined_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sql_err)?;
            let mut added = Vec::new();
            for (a, role) in members {
                if s.execute(params![chat.0, a.kind(), a.raw_id(), role.as_str(), at]).map_err(sql_err)? == 1 {
                    added.push(Member { chat, actor: a, role, joined_at: at });
                }
            }
            Ok(added)
        })
        .await
    }

    async fn remove_members(&self, chat: ChatId, members: Vec<Actor>) -> StoreResult<Vec<Actor>> {
        let keys: Vec<(ChatId, Actor)> = members.iter().map(|a| (chat, *a)).collect();
        let r = self.write(move |c| {
            let mut s = c
                .prepare_cached("DELETE FROM chat_members WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3")
                .map_err(sql_err)?;
            let mut removed = Vec::new();
            for a in members {
                if s.execute(params![chat.0, a.kind(), a.raw_id()]).map_err(sql_err)? == 1 {
                    removed.push(a);
                }
            }
            Ok(removed)
        })
        .await;
        for k in &keys {
            self.inner.members.invalidate(k);
        }
        r
    }

    async fn set_member_role(&self, chat: ChatId, actor: Actor, role: Role) -> StoreResult<Member> {
        let r = self
            .write(move |c| {
                c.execute(
                    "UPDATE chat_members SET role = ?4 WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3",
                    params![chat.0, actor.kind(), actor.raw_id(), role.as_str()],
                )
                .map_err(sql_err)?;
                c.prepare_cached("SELECT chat_id, member_kind, member_id, role, joined_at FROM chat_members WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3")
                    .and_then(|mut s| s.query_row(params![chat.0, actor.kind(), actor.raw_id()], rows::member).optional())
                    .map_err(sql_err)?
                    .transpose()?
                    .ok_or(StoreError::NotFound(Entity::Member))
            })
            .await;
        self.inner.members.invalidate(&(chat, actor));
        r
    }

    async fn get_member(&self, chat: ChatId, actor: Actor) -> StoreResult<Option<Member>> {
        // Only members are cached: a non-member that joins later is simply not cached yet.
        if let Some(m) = self.inner.members.get(&(chat, actor)) {
            return Ok(Some(m));
        }
        let generation = self.inner.members.generation();
        let m = self.read_now(|c| {
            c.prepare_cached("SELECT chat_id, member_kind, member_id, role, joined_at FROM chat_members WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3")
                .and_then(|mut s| s.query_row(params![chat.0, actor.kind(), actor.raw_id()], rows::member).optional())
                .map_err(sql_err)?
                .transpose()
        })?;
        if let Some(m) = &m {
            self.inner
                .members
                .fill((chat, actor), m.clone(), generation);
        }
        Ok(m)
    }

    async fn list_members(&self, chat: ChatId) -> StoreResult<Vec<Member>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached("SELECT chat_id, member_kind, member_id, role, joined_at FROM chat_members WHERE chat_id = ?1 ORDER BY joined_at, member_kind, member_id")
                .map_err(sql_err)?;
            let rows = s.query_map([chat.0], rows::member).map_err(sql_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql_err)?.into_iter().collect()
        })
        .await
    }

    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        let a = self.write(move |c| append_timeline(c, &new)).await?;
        self.bump_position(&a.message);
        Ok(a)
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> StoreResult<Vec<Message>> {
        // One write job in a transaction of its own: a failure anywhere rolls all of it
        // back, and one commit.
        if batch.iter().any(|m| m.client_msg_id.is_some()) {
            let stored = self
                .write_solo(move |c| {
                    let mut out = Vec::with_capacity(batch.len());
                    for m in &batch {
                        out.push(append_timeline(c, m)?.message);
                    }
                    Ok(out)
                })
                .await?;
            for m in &stored {
                self.bump_position(m);
            }
            return Ok(stored);
        }
        // Contents are serialised here, off the writer thread, which has the rest to do.
        let contents = batch
            .iter()
            .map(|m| serde_json::to_string(&m.content))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut batch = batch;
        let stored = self
            .write_solo(move |c| append_batch_reserved(c, &mut batch, &contents))
            .await?;
        for m in &stored {
            self.bump_position(m);
        }
        Ok(stored)
    }

    async fn append_merge_forward(
        &self,
        container: NewMessage,
        children: Vec<NewMessage>,
    ) -> StoreResult<(Message, Vec<Message>)> {
        self.write(move |c| {
            let appended = append_timeline(c, &container)?;
            if !appended.created {
                let kids = list_children_conn(c, appended.message.id)?;
                return Ok((appended.message, kids));
            }
            let chat = container.chat;
            let first: i64 = c
                .query_row(
                    "UPDATE chats SET last_child = last_child + ?2 WHERE id = ?1 RETURNING last_child - ?2",
                    params![chat.0, children.len() as i64],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            let mut kids = Vec::with_capacity(children.len());
            for (i, child) in children.iter().enumerate() {
                let id = MessageId::child(chat, first + 1 + i as i64).ok_or_else(|| StoreError::Internal("child id space exhausted".into()))?;
                let m = child.to_message(id, child.created_at, Some(appended.message.id));
                insert_message(c, &m)?;
                kids.push(m);
            }
            Ok((appended.message, kids))
        })
        .await
        .inspect(|(m, _)| self.bump_position(m))
    }

    async fn get_message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        self.read_now(|c| load_message(c, id))
    }

    async fn list_messages(&self, range: MessageRange) -> StoreResult<Vec<Message>> {
        self.read(move |c| {
            let base = range.chat.0 << 32;
            let mut after = range.after_position.clamp(0, MAX_POSITION);
            let mut before = range.before_position.unwrap_or(MAX_POSITION + 1).clamp(1, MAX_POSITION + 1);
            // Time bounds become position bounds (timestamps never decrease along a chat's
            // positions); the query below still filters on them.
            if range.since_ms.is_some() || range.until_ms.is_some() {
                let last = last_position(c, range.chat)?;
                if let Some(since) = range.since_ms {
                    after = after.max(first_position_at_or_after(c, range.chat, last, since)? - 1);
                }
                if let Some(until) = range.until_ms {
                    let past = until.checked_add(1).map_or(Ok(last + 1), |t| first_position_at_or_after(c, range.chat, last, t))?;
                    before = before.min(past);
                }
            }
            let lo = base + after;
            let hi = base + before.max(after);
            let order = if range.descending { "DESC" } else { "ASC" };
            let sql = format!(
                "SELECT doc FROM messages WHERE id > ?1 AND id < ?2 AND created_at >= ?3 AND created_at <= ?4 ORDER BY id {order} LIMIT ?5"
            );
            let mut s = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = s
                .query_map(
                    params![lo, hi, range.since_ms.unwrap_or(i64::MIN), range.until_ms.unwrap_or(i64::MAX), range.limit],
                    |r| r.get::<_, String>(0),
                )
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for doc in rows {
                out.push(rows::decode_message(&doc.map_err(sql_err)?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_children(&self, container: MessageId) -> StoreResult<Vec<Message>> {
        self.read(move |c| list_children_conn(c, container)).await
    }

    async fn update_message(&self, id: MessageId, update: MessageUpdate) -> StoreResult<Message> {
        self.write(move |c| {
            let mut m = load_message(c, id)?.ok_or(StoreError::NotFound(Entity::Message))?;
            update.apply(&mut m)?;
            let doc = serde_json::to_string(&m).map_err(|e| StoreError::Internal(e.to_string()))?;
            c.prepare_cached("UPDATE messages SET doc = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id.0, doc]))
                .map_err(sql_err)?;
            Ok(m)
        })
        .await
    }

    async fn remember_nonce(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        let inner = &self.inner;
        let digest = inner.nonces.digest(scope, nonce);
        if !inner.nonces.remember_digest(digest, expires_at, now) {
            return Ok(false);
        }
        // Journalled before the request may go on: once it is accepted, a restart still
        // knows it. Should the write fail, the request fails (the nonce stays spent).
        inner
            .nonce_log
            .append(digest, expires_at, now)
            .map_err(|e| StoreError::Unavailable(format!("nonce journal: {e}")))?;
        Ok(true)
    }
}

/// Opens the nonce journal beside the database at `db`, and the nonce set it restores.
fn open_nonces(db: &Path) -> Result<(nonce_log::NonceLog, cache::ShardedNonces), StoreError> {
    let dir = nonce_log::dir_of(db);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (log, loaded) = nonce_log::NonceLog::open(&dir, now).map_err(|e| {
        StoreError::Internal(format!("opening the nonce journal {}: {e}", dir.display()))
    })?;
    let nonces = cache::ShardedNonces::with_key(loaded.key);
    for (digest, expires_at) in loaded.live {
        nonces.load(digest, expires_at);
    }
    Ok((log, nonces))
}

fn list_children_conn(c: &Connection, container: MessageId) -> StoreResult<Vec<Message>> {
    let mut s = c
        .prepare_cached("SELECT doc FROM messages WHERE upper_id = ?1 ORDER BY id")
        .map_err(sql_err)?;
    let rows = s
        .query_map([container.0], |r| r.get::<_, String>(0))
        .map_err(sql_err)?;
    let mut out = Vec::new();
    for doc in rows {
        out.push(rows::decode_message(&doc.map_err(sql_err)?)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content: Content) -> Message {
        Message {
            id: MessageId(5 << 32 | 9),
            tenant: TenantId(1),
            chat: ChatId(5),
            sender: Actor::App(AppId(3)),
            kind: MessageType::RichText,
            content,
            mentions: vec![],
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_000,
            edit: None,
            removal: None,
            parent: None,
            root: None,
            thread: None,
            upper: None,
            copied_from: None,
            client_msg_id: None,
            extra: MessageExtra::default(),
        }
    }

    #[test]
    fn documents_built_around_a_serialised_content_are_the_plain_documents() {
        let contents = [
            Content::default(),
            Content {
                text: "a \"content\":{} b".into(),
                data: serde_json::json!({ "text": "x", "nested": { "content": {} } }),
                original: None,
            },
            Content {
                text: "日本語 <at id=\"1\">A</at>".into(),
                data: serde_json::json!({ "title": "t", "paragraphs": [[{ "tag": "text", "text": "\n\t" }]] }),
                original: Some(OriginalContent {
                    format: "wps".into(),
                    value: serde_json::json!({ "rich_text": { "elements": [] } }),
                }),
            },
        ];
        for c in contents {
            let mut m = message(c);
            m.mentions = vec![Mention {
                key: "1".into(),
                target: MentionTarget::All,
                name: String::new(),
            }];
            m.parent = Some(MessageId(5 << 32 | 2));
            m.client_msg_id = Some("c".into());
            m.extra.sub_type = Some(7);
            for m in [message(m.content.clone()), m] {
                let mut m = m;
                let plain = serde_json::to_string(&m).unwrap();
                let content = serde_json::to_string(&m.content).unwrap();
                assert_eq!(doc_with_content(&mut m, &content).unwrap(), plain);
                assert_eq!(
                    serde_json::to_string(&m).unwrap(),
                    plain,
                    "content restored"
                );
            }
        }
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
