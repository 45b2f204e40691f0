//! The shared conformance suite, plus what only an embedded file store must prove:
//! acknowledged writes survive a restart.

use std::sync::Arc;
use switchboard_core::model::*;
use switchboard_core::store::*;
use switchboard_core::testing::{new_text, TestStore};
use switchboard_store_sqlite::{SqliteOptions, SqliteStore};

async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    TestStore {
        store: Arc::new(store),
        guard: Box::new(dir),
    }
}

switchboard_core::store_conformance!(sqlite);

/// The same suite with readers mapping the database file: 64 KiB of it, so that the suite's
/// databases outgrow the mapping and reads take pages both from the map and with system
/// calls, the way a database larger than `[sqlite] mmap_mib` is read.
mod mapped {
    use super::*;

    async fn sqlite_mapped() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = SqliteOptions::in_dir(dir.path());
        opts.mmap_bytes = 64 << 10;
        TestStore {
            store: Arc::new(SqliteStore::open(opts).unwrap()),
            guard: Box::new(dir),
        }
    }

    switchboard_core::store_conformance!(sqlite_mapped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, chat, acked) = {
        let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
        let t = store
            .create_tenant(NewTenant {
                name: "T".into(),
                created_at: 1,
            })
            .await
            .unwrap();
        let u = store
            .create_user(NewUser {
                tenant: t.id,
                user_id: "u".into(),
                account_id: "u".into(),
                name: "U".into(),
                created_at: 1,
            })
            .await
            .unwrap();
        let c = store
            .create_chat(NewChat {
                tenant: t.id,
                kind: ChatKind::Group,
                name: "G".into(),
                owner: Actor::User(u.id),
                members: vec![(Actor::User(u.id), Role::Owner)],
                created_at: 1,
            })
            .await
            .unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for s in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..50 {
                    let m = store
                        .append_message(new_text(
                            t.id,
                            c.id,
                            Actor::User(u.id),
                            &format!("{s}-{i}"),
                            10,
                        ))
                        .await
                        .unwrap();
                    acked.push(m.message);
                }
                acked
            }));
        }
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        (t.id, c.id, acked)
        // The store is dropped here: the writer thread stops and the connections close.
    };
    let reopened = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    for m in &acked {
        assert_eq!(
            reopened.get_message(m.id).await.unwrap().as_ref(),
            Some(m),
            "acknowledged message lost"
        );
    }
    assert_eq!(
        reopened.get_tenant(tenant).await.unwrap().map(|t| t.name),
        Some("T".to_string())
    );
    let chat_row = reopened.get_chat(chat).await.unwrap().unwrap();
    assert_eq!(chat_row.last_position, 400);
    let next = reopened
        .append_message(new_text(tenant, chat, acked[0].sender, "after restart", 10))
        .await
        .unwrap();
    assert_eq!(
        next.message.position(),
        Some(401),
        "the counter continues without a gap"
    );
}

#[test]
fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let applied = switchboard_store_sqlite::migrate(&path).unwrap();
    assert_eq!(applied.first(), Some(&1), "{applied:?}");
    assert!(
        applied.windows(2).all(|w| w[0] < w[1]),
        "in order: {applied:?}"
    );
    assert!(applied.len() >= 5, "{applied:?}");
    assert!(switchboard_store_sqlite::migrate(&path).unwrap().is_empty());
}

/// Readers keep their snapshot between reads until the writer commits: every read must
/// still see every write acknowledged before it, and an idle reader must not pin the WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_acknowledged_writes_and_idle_readers_release_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions::in_dir(dir.path());
    let path = opts.path.clone();
    let store = Arc::new(SqliteStore::open(opts).unwrap());
    let t = store
        .create_tenant(NewTenant {
            name: "T".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let u = store
        .create_user(NewUser {
            tenant: t.id,
            user_id: "u".into(),
            account_id: "u".into(),
            name: "U".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let c = store
        .create_chat(NewChat {
            tenant: t.id,
            kind: ChatKind::Group,
            name: "G".into(),
            owner: Actor::User(u.id),
            members: vec![(Actor::User(u.id), Role::Owner)],
            created_at: 1,
        })
        .await
        .unwrap();
    let sender = Actor::User(u.id);
    let first = store
        .append_message(new_text(t.id, c.id, sender, "one", 10))
        .await
        .unwrap()
        .message;
    assert_eq!(
        store.get_message(first.id).await.unwrap().as_ref(),
        Some(&first)
    );

    // An edit and a recall are visible to the very next read on any reader.
    let edited = store
        .update_message(
            first.id,
            MessageUpdate::Edit {
                kind: MessageType::Text,
                content: switchboard_core::testing::text("two"),
                mentions: vec![],
                by: sender,
                at: 20,
                max_edits: None,
                min_interval_ms: None,
                extra: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_message(first.id).await.unwrap().as_ref(),
        Some(&edited)
    );
    store
        .update_message(
            first.id,
            MessageUpdate::Remove(Removal {
                kind: RemovalKind::Recalled,
                by: sender,
                at: 30,
            }),
        )
        .await
        .unwrap();
    assert!(store
        .get_message(first.id)
        .await
        .unwrap()
        .unwrap()
        .removal
        .is_some());

    // Concurrent readers and writers: whatever a writer was told, any later read sees.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let m = store
                    .append_message(new_text(t.id, c.id, sender, &format!("{w}-{i}"), 40))
                    .await
                    .unwrap()
                    .message;
                let read = store.get_message(m.id).await.unwrap();
                assert_eq!(
                    read.as_ref(),
                    Some(&m),
                    "an acknowledged append is not visible"
                );
                let later = store.get_chat(c.id).await.unwrap().unwrap();
                assert!(later.last_position >= m.position().unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // The readers are idle now, and must not hold a snapshot: a full checkpoint that
    // truncates the WAL succeeds only when no reader is using it.
    store.get_message(first.id).await.unwrap();
    store
        .append_message(new_text(t.id, c.id, sender, "last", 50))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (busy, log, done): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((busy, log, done), (0, 0, 0), "a reader still pins the WAL");
}

/// Sustained writes to many chats with readers busy all along: the WAL must restart and
/// stay bounded. A control run with restarts turned off shows the same load grows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_reads_and_writes() {
    async fn run(reset_frames: i64) -> (u64, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = SqliteOptions::in_dir(dir.path());
        opts.wal_reset_frames = reset_frames;
        let wal = dir
            .path()
            .join(format!("{}-wal", switchboard_store_sqlite::DB_FILE));
        let store = Arc::new(SqliteStore::open(opts).unwrap());
        let f = switchboard_core::testing::fixture(store.clone()).await;
        let (t, u) = (f.tenant, f.alice);
        let sender = Actor::User(u.id);
        let chats = group_chats(&store, t.id, sender, 300).await;
        let first = store
            .append_message(new_text(t.id, chats[0], sender, "first", 2))
            .await
            .unwrap()
            .message;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for _ in 0..2 {
            let (store, done) = (store.clone(), done.clone());
            readers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    assert!(store.get_message(first.id).await.unwrap().is_some());
                    n += 1;
                    if n.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
        let mut largest = 0u64;
        let mut writers = Vec::new();
        for w in 0..8usize {
            let (store, chats) = (store.clone(), chats.clone());
            writers.push(tokio::spawn(async move {
                for i in 0..600usize {
                    let chat = chats[(w * 7919 + i * 104_729) % chats.len()];
                    let text = format!("message {w}-{i} {}", "x".repeat(200));
                    store
                        .append_message(new_text(t.id, chat, sender, &text, 3))
                        .await
                        .unwrap();
                }
            }));
        }
        while writers.iter().any(|w| !w.is_finished()) {
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.unwrap();
        }
        let last = std::fs::metadata(&wal).map_or(0, |m| m.len());
        (largest.max(last), last)
    }
    const MB: u64 = 1 << 20;
    let (bounded_peak, _) = run(256).await;
    let (control_peak, _) = run(i64::MAX).await;
    eprintln!("wal peak: {bounded_peak} bytes with restarts, {control_peak} without");
    assert!(
        bounded_peak <= 24 * MB,
        "with restarts the WAL reached {bounded_peak} bytes"
    );
    assert!(
        control_peak >= 2 * bounded_peak,
        "the load did not grow the WAL without restarts ({control_peak} vs {bounded_peak} bytes): the test proves nothing"
    );
}

/// Readers that map the whole file while the writer appends, the checkpointer copies the
/// WAL into the file (growing it past what each reader mapped first) and the WAL restarts:
/// every acknowledged message reads back whole, during the load and after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_readers_see_every_acknowledged_message_through_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let mut opts = SqliteOptions::in_dir(dir.path());
        opts.mmap_bytes = 1 << 30;
        // Restart the WAL often, so that pages move into the file under the readers' maps.
        opts.wal_reset_frames = 64;
        Arc::new(SqliteStore::open(opts).unwrap())
    };
    let store = open();
    let f = switchboard_core::testing::fixture(store.clone()).await;
    let sender = Actor::User(f.alice.id);
    let chats = group_chats(&store, f.tenant.id, sender, 40).await;
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(
        switchboard_core::MessageId,
        String,
    )>::new()));
    let mut writers = Vec::new();
    for w in 0..4usize {
        let (store, chats, acked, tenant) =
            (store.clone(), chats.clone(), acked.clone(), f.tenant.id);
        writers.push(tokio::spawn(async move {
            for i in 0..400usize {
                let text = format!("m{w}-{i} {}", "y".repeat(300 + i % 200));
                let chat = chats[(w * 31 + i * 7) % chats.len()];
                let m = store
                    .append_message(new_text(tenant, chat, sender, &text, 2))
                    .await
                    .unwrap()
                    .message;
                acked.lock().unwrap().push((m.id, text));
            }
        }));
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, acked, done) = (store.clone(), acked.clone(), done.clone());
        tokio::spawn(async move {
            let mut checked = 0u64;
            let mut n = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let pick = {
                    let a = acked.lock().unwrap();
                    (!a.is_empty()).then(|| a[(n as usize * 7919) % a.len()].clone())
                };
                if let Some((id, text)) = pick {
                    let m = store.get_message(id).await.unwrap().expect("acknowledged");
                    assert_eq!(m.content.text, text, "message {id:?}");
                    checked += 1;
                }
                if n.is_multiple_of(32) {
                    tokio::task::yield_now().await;
                }
            }
            checked
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let checked = reader.await.unwrap();
    assert!(
        checked > 1_000,
        "the reader checked only {checked} messages during the load"
    );
    let all = acked.lock().unwrap().clone();
    assert_eq!(all.len(), 1_600);
    for (id, text) in &all {
        assert_eq!(
            &store.get_message(*id).await.unwrap().unwrap().content.text,
            text
        );
    }
    drop(f);
    drop(store);
    let store = open();
    for (id, text) in &all {
        let m = store
            .get_message(*id)
            .await
            .unwrap()
            .expect("survives a restart");
        assert_eq!(&m.content.text, text);
    }
}

/// `n` group chats owned by `owner`.
async fn group_chats(
    store: &SqliteStore,
    tenant: switchboard_core::TenantId,
    owner: Actor,
    n: usize,
) -> Vec<switchboard_core::ChatId> {
    let mut chats = Vec::with_capacity(n);
    for i in 0..n {
        let c = store
            .create_chat(NewChat {
                tenant,
                kind: ChatKind::Group,
                name: format!("G{i}"),
                owner,
                members: vec![(owner, Role::Owner)],
                created_at: 1,
            })
            .await
            .unwrap();
        chats.push(c.id);
    }
    chats
}

/// Documents written before the stored form (JSON text) read as they did, and
/// `upgrade_documents` rewrites exactly those, in the current form, changing nothing a
/// reader sees and recording no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_documents_read_as_before_and_upgrade_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    let f = switchboard_core::testing::fixture(Arc::new(store.clone())).await;
    let alice = Actor::User(f.alice.id);
    let mut sent = Vec::new();
    for i in 0..5 {
        let mut new = new_text(f.tenant.id, f.group.id, alice, &format!("m{i}"), 5);
        new.content.original = Some(OriginalContent {
            format: "lark".into(),
            value: serde_json::json!({ "text": format!("m{i}"), "z": [1, 2.5] }).into(),
        });
        sent.push(store.append_message(new).await.unwrap().message);
    }
    drop(f);
    drop(store);
    // Three rows as the JSON form wrote them.
    let conn =
        rusqlite::Connection::open(dir.path().join(switchboard_store_sqlite::DB_FILE)).unwrap();
    for m in &sent[..3] {
        conn.execute(
            "UPDATE messages SET doc = ?2 WHERE id = ?1",
            rusqlite::params![m.id.0, serde_json::to_string(m).unwrap()],
        )
        .unwrap();
    }
    let changes: i64 = conn
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    let kinds = |conn: &rusqlite::Connection| -> Vec<String> {
        let mut s = conn
            .prepare("SELECT typeof(doc) FROM messages ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(kinds(&conn), ["text", "text", "text", "blob", "blob"]);
    drop(conn);
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    for m in &sent {
        assert_eq!(store.get_message(m.id).await.unwrap().as_ref(), Some(m));
    }
    let step = store.upgrade_documents(None, 100).await.unwrap();
    assert_eq!((step.scanned, step.rewritten, step.next), (5, 3, None));
    for m in &sent {
        assert_eq!(store.get_message(m.id).await.unwrap().as_ref(), Some(m));
    }
    drop(store);
    let conn =
        rusqlite::Connection::open(dir.path().join(switchboard_store_sqlite::DB_FILE)).unwrap();
    assert_eq!(kinds(&conn), ["blob"; 5]);
    let after: i64 = conn
        .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, changes, "no change recorded");
}
