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
