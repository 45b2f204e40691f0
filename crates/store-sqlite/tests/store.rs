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
    assert_eq!(switchboard_store_sqlite::migrate(&path).unwrap(), vec![1]);
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
