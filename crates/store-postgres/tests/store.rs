//! The shared conformance suite against a real PostgreSQL (each test on its own new
//! database), plus what only a store shared by several processes must prove: one gapless
//! timeline and one replay cache across nodes, safe concurrent migrations, and failing fast.

use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::error::Conflict;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use switchboard_core::testing::{new_text, text, TestStore};
use switchboard_store_postgres::testing::{self, TestDatabase};
use switchboard_store_postgres::{migrate, PostgresOptions, PostgresStore};

async fn postgres() -> TestStore {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    TestStore {
        store: Arc::new(store),
        guard: Box::new(db),
    }
}

switchboard_core::store_conformance!(postgres);

/// Two stores with their own pools on one database: two server processes, as far as the
/// database can tell. Connected concurrently, so their migrations race too.
async fn two_nodes(db: &TestDatabase) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let opts = PostgresOptions {
        pool_size: 4,
        ..PostgresOptions::new(db.url())
    };
    let (a, b) = tokio::join!(
        PostgresStore::connect(opts.clone()),
        PostgresStore::connect(opts)
    );
    (Arc::new(a.unwrap()), Arc::new(b.unwrap()))
}

async fn group(store: &dyn Store) -> (TenantId, ChatId, UserId) {
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
    (t.id, c.id, u.id)
}

fn everything(chat: ChatId) -> MessageRange {
    MessageRange {
        chat,
        after_position: 0,
        before_position: None,
        since_ms: None,
        until_ms: None,
        limit: 100_000,
        descending: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_gapless_timeline() {
    let db = testing::fresh_database().await;
    let (a, b) = two_nodes(&db).await;
    let (tenant, chat, user) = group(&*a).await;
    const SENDERS: usize = 8;
    const EACH: i64 = 60;
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let node = if s % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..EACH {
                // Clocks that disagree between nodes must not break created_at monotony.
                let at = 1_000_000 + i * 10 - (s as i64) * 25;
                let m = node
                    .append_message(new_text(
                        tenant,
                        chat,
                        Actor::User(user),
                        &format!("{s}-{i}"),
                        at,
                    ))
                    .await
                    .unwrap();
                assert!(m.created);
                got.push(m.message.position().unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let got = t.await.unwrap();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "each sender sees its own messages in order"
        );
        all.extend(got);
    }
    all.sort_unstable();
    let n = SENDERS as i64 * EACH;
    assert_eq!(
        all,
        (1..=n).collect::<Vec<_>>(),
        "positions are exactly 1..={n}"
    );
    for node in [&a, &b] {
        assert_eq!(node.get_chat(chat).await.unwrap().unwrap().last_position, n);
        let listed = node.list_messages(everything(chat)).await.unwrap();
        assert_eq!(listed.len() as i64, n);
        assert!(listed
            .iter()
            .enumerate()
            .all(|(i, m)| m.position() == Some(i as i64 + 1)));
        assert!(
            listed
                .windows(2)
                .all(|w| w[0].created_at <= w[1].created_at),
            "created_at is monotone along positions"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_remembered_on_one_node_is_a_replay_on_the_other() {
    let db = testing::fresh_database().await;
    let (a, b) = two_nodes(&db).await;
    assert!(a.remember_nonce("app1", "n1", 1_000, 0).await.unwrap());
    assert!(
        !b.remember_nonce("app1", "n1", 1_000, 500).await.unwrap(),
        "replay through the other node"
    );
    assert!(
        !a.remember_nonce("app1", "n1", 1_000, 999).await.unwrap(),
        "replay through the same node"
    );
    assert!(
        b.remember_nonce("app2", "n1", 1_000, 500).await.unwrap(),
        "scoped per app"
    );
    assert!(
        b.remember_nonce("app1", "n1", 5_000, 1_000).await.unwrap(),
        "expired: may be reused"
    );
    assert!(
        !a.remember_nonce("app1", "n1", 5_000, 1_001).await.unwrap(),
        "and is then live again"
    );

    // Many nodes racing on one nonce: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            node.remember_nonce("app3", "race", 10_000, 1)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += t.await.unwrap() as usize;
    }
    assert_eq!(winners, 1);
}

/// Concurrent nonces are recorded in shared statements (`nonces.rs`): duplicates within
/// one batch, batches sharing nonces on two nodes, and expiry all answer as one statement
/// per nonce would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_nonces_are_fresh_exactly_once() {
    let db = testing::fresh_database().await;
    let (a, b) = two_nodes(&db).await;
    // 256 calls on 32 distinct nonces (in two scopes, so the same nonce text twice is two
    // keys), each key 8 times across the two nodes, all at once, in three rounds: fresh
    // once; all live (replays); expired (fresh once again, and renewed).
    let round = |expires_at: i64, now: i64| {
        let (a, b) = (a.clone(), b.clone());
        async move {
            let tasks: Vec<_> = (0..256)
                .map(|i| {
                    let node = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let (scope, nonce) = (format!("app{}", i % 2), format!("n{}", (i / 2) % 16));
                    tokio::spawn(async move {
                        let fresh = node
                            .remember_nonce(&scope, &nonce, expires_at, now)
                            .await
                            .unwrap();
                        ((scope, nonce), fresh)
                    })
                })
                .collect();
            let mut wins = std::collections::BTreeMap::<(String, String), usize>::new();
            for t in tasks {
                let (key, fresh) = t.await.unwrap();
                *wins.entry(key).or_default() += fresh as usize;
            }
            wins
        }
    };
    let first = round(1_000, 10).await;
    assert_eq!(first.len(), 32);
    assert!(first.values().all(|&w| w == 1), "{first:?}");
    let live = round(2_000, 999).await;
    assert!(live.values().all(|&w| w == 0), "{live:?}");
    let expired = round(5_000, 1_000).await;
    assert!(expired.values().all(|&w| w == 1), "{expired:?}");
    assert!(!a.remember_nonce("app0", "n0", 9_000, 4_999).await.unwrap());
    assert!(!b.remember_nonce("app1", "n15", 9_000, 4_999).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_nonce_sessions_skip_the_commit_flush() {
    let db = testing::fresh_database().await;
    // The database's own default is `on` (test servers may run with it off).
    let (admin, conn) = tokio_postgres::connect(testing::admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET synchronous_commit = on",
            db.name()
        ))
        .await
        .unwrap();
    drop(admin);
    let _ = task.await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    assert_eq!(
        store.commit_modes().await.unwrap(),
        ("on".to_string(), "off".to_string())
    );
    // A nonce committed without the flush is at once a replay for another node.
    assert!(store.remember_nonce("app1", "n1", 1_000, 0).await.unwrap());
    let other = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    assert!(!other.remember_nonce("app1", "n1", 1_000, 1).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_nonces_are_purged() {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    for i in 0..5 {
        assert!(store
            .remember_nonce("app", &format!("old{i}"), 10, 0)
            .await
            .unwrap());
    }
    assert!(store.remember_nonce("app", "live", 1_000, 0).await.unwrap());
    assert_eq!(store.purge_expired_nonces(100).await.unwrap(), 5);
    assert_eq!(store.purge_expired_nonces(100).await.unwrap(), 0);
    assert!(
        !store
            .remember_nonce("app", "live", 1_000, 100)
            .await
            .unwrap(),
        "live nonces survive a purge"
    );
    // The opportunistic purge runs every few hundred calls without disturbing answers.
    for i in 0..600 {
        assert!(store
            .remember_nonce("bulk", &format!("n{i}"), 150, 100)
            .await
            .unwrap());
    }
    assert!(!store
        .remember_nonce("app", "live", 1_000, 200)
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_sends_racing_across_nodes_append_once() {
    let db = testing::fresh_database().await;
    let (a, b) = two_nodes(&db).await;
    let (tenant, chat, user) = group(&*a).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut m = new_text(tenant, chat, Actor::User(user), "once", 1_000 + i);
            m.client_msg_id = Some("same-key".into());
            node.append_message(m).await.unwrap()
        }));
    }
    let mut created = 0;
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        created += r.created as usize;
        ids.push(r.message.id);
    }
    assert_eq!(created, 1, "exactly one send appends");
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "every racer gets the one message"
    );
    assert_eq!(b.get_chat(chat).await.unwrap().unwrap().last_position, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_once() {
    let db = testing::fresh_database().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url().to_string();
        tasks.push(tokio::spawn(async move { migrate(&url).await.unwrap() }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results.sort();
    // One migrator applied every migration, in order; the three others found nothing to do.
    assert!(results[..3].iter().all(Vec::is_empty), "{results:?}");
    let applied = &results[3];
    assert_eq!(applied.first(), Some(&1), "{applied:?}");
    assert!(
        applied.windows(2).all(|w| w[0] < w[1]),
        "in order: {applied:?}"
    );
    assert!(applied.len() >= 4, "{applied:?}");
    assert!(migrate(db.url()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_round_trip_exactly() {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    let (tenant, chat, user) = group(&store).await;
    let mut new = new_text(
        tenant,
        chat,
        Actor::User(user),
        "nul \u{0} and emoji \u{1F600}",
        5,
    );
    new.content.data = serde_json::json!({ "text": "a\u{0}b", "n": 1.5, "big": u64::MAX, "neg": -3, "nested": [{ "k": null }] }).into();
    new.extra.sub_type = Some(7);
    // The bulk path (multi-row inserts from arrays) keeps the same document exactly.
    let bulk = store.append_batch(vec![new.clone()]).await.unwrap();
    assert_eq!(
        store.get_message(bulk[0].id).await.unwrap().as_ref(),
        Some(&bulk[0])
    );
    assert_eq!(bulk[0].content, new.content);
    new.client_msg_id = Some("cid".into());
    let m = store.append_message(new).await.unwrap().message;
    assert_eq!(store.get_message(m.id).await.unwrap().as_ref(), Some(&m));
    let edited = store
        .update_message(
            m.id,
            MessageUpdate::Edit {
                kind: MessageType::Text,
                content: text("\u{0}"),
                mentions: vec![],
                by: Actor::User(user),
                at: 9,
                max_edits: None,
                min_interval_ms: None,
                extra: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(store.get_message(m.id).await.unwrap(), Some(edited));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_absent_not_errors() {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    let far = MessageId::timeline(ChatId(MAX_CHAT_ID), MAX_POSITION).unwrap();
    assert_eq!(store.get_message(far).await.unwrap(), None);
    assert!(store.list_children(far).await.unwrap().is_empty());
    assert_eq!(store.get_chat(ChatId(MAX_CHAT_ID)).await.unwrap(), None);
    let e = store.dissolve_chat(ChatId(12345), 1, None).await;
    assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
    store.ping().await.unwrap();
}

/// PostgreSQL's `text` refuses NUL (SQLSTATE 22021): a lookup or write of text holding one
/// is the caller's malformed input, reported as `StoreError::Invalid`, never as an internal
/// error. (The APIs refuse such text before the store sees it; this is the defence behind.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_holding_nul_is_invalid_input_not_an_internal_error() {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    let (tenant, chat, user) = group(&store).await;
    let invalid = |r: &Result<_, StoreError>, what: &str| {
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{what}: {r:?}");
    };
    let r = store.find_user(tenant, UserKey::UserId("1\0")).await;
    invalid(&r.map(|_| ()), "find_user by user_id");
    let r = store.find_user(tenant, UserKey::AccountId("a\0")).await;
    invalid(&r.map(|_| ()), "find_user by account_id");
    let r = store.find_app("cli_\0").await;
    invalid(&r.map(|_| ()), "find_app");
    let r = store
        .create_user(NewUser {
            tenant,
            user_id: "x\0".into(),
            account_id: "x".into(),
            name: "X".into(),
            created_at: 1,
        })
        .await;
    invalid(&r.map(|_| ()), "create_user");
    let mut new = new_text(tenant, chat, Actor::User(user), "hi", 2);
    new.client_msg_id = Some("key\0".into());
    let r = store.append_message(new).await;
    invalid(&r.map(|_| ()), "append_message with a NUL idempotency key");
    // Nothing was written, and the store still works.
    assert!(store
        .list_messages(everything(chat))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .find_user(tenant, UserKey::UserId("u"))
        .await
        .unwrap()
        .is_some());
}

// ---------------------------------------------------------------------------------------
// Failing fast

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_unavailable_at_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let r = PostgresStore::connect(PostgresOptions::new(format!(
        "postgres://postgres@127.0.0.1:{port}/x"
    )))
    .await;
    assert!(
        matches!(r, Err(StoreError::Unavailable(_))),
        "{:?}",
        r.err()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = migrate(&format!("postgres://postgres@127.0.0.1:{port}/x")).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_cannot_hang_the_caller() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let opts = PostgresOptions {
        connect_timeout: Duration::from_millis(500),
        ..PostgresOptions::new(format!("postgres://postgres@127.0.0.1:{port}/x"))
    };
    let started = Instant::now();
    let r = PostgresStore::connect(opts).await;
    assert!(
        matches!(r, Err(StoreError::Unavailable(_))),
        "{:?}",
        r.err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_and_a_stuck_lock_fail_fast_and_leave_no_gap() {
    let db = testing::fresh_database().await;
    let opts = PostgresOptions {
        pool_size: 1,
        acquire_timeout: Duration::from_millis(300),
        statement_timeout: Some(Duration::from_secs(1)),
        ..PostgresOptions::new(db.url())
    };
    let store = Arc::new(PostgresStore::connect(opts).await.unwrap());
    let (tenant, chat, user) = group(&*store).await;
    let first = store
        .append_message(new_text(tenant, chat, Actor::User(user), "first", 1))
        .await
        .unwrap()
        .message;

    // Another session holds the chat's row lock, as a stuck writer on another node would.
    let (mut blocker, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let tx = blocker.transaction().await.unwrap();
    tx.execute("SELECT 1 FROM chats WHERE id = $1 FOR UPDATE", &[&chat.0])
        .await
        .unwrap();

    let started = Instant::now();
    // A send (on the batched statements' connections) and an edit (on the main pool's
    // only one) both wait for the lock; a second send queues behind the first.
    let send = |text: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_message(new_text(tenant, chat, Actor::User(user), text, 1))
                .await
        })
    };
    let (stuck, queued) = (send("x"), send("x2"));
    let edit = {
        let store = store.clone();
        tokio::spawn(async move {
            let update = MessageUpdate::Edit {
                kind: MessageType::Text,
                content: text("edited"),
                mentions: vec![],
                by: Actor::User(user),
                at: 2,
                max_edits: None,
                min_interval_ms: None,
                extra: None,
            };
            store.update_message(first.id, update).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The main pool's only connection is taken by the stuck edit.
    let e = store.ping().await;
    assert!(matches!(e, Err(StoreError::Unavailable(_))), "{e:?}");
    for (what, e) in [
        ("send", stuck.await.unwrap().map(|_| ())),
        ("queued send", queued.await.unwrap().map(|_| ())),
        ("edit", edit.await.unwrap().map(|_| ())),
    ] {
        assert!(
            matches!(e, Err(StoreError::Unavailable(_))),
            "{what}: {e:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    tx.rollback().await.unwrap();
    let m = store
        .append_message(new_text(tenant, chat, Actor::User(user), "y", 2))
        .await
        .unwrap();
    assert_eq!(
        m.message.position(),
        Some(2),
        "the timed-out appends left no gap"
    );
    let e = store.dissolve_chat(chat, 3, None).await.unwrap();
    assert_eq!(e.last_position, 2);
    let e = store
        .append_message(new_text(tenant, chat, Actor::User(user), "z", 4))
        .await;
    assert!(
        matches!(e, Err(StoreError::Conflict(Conflict::ChatDissolved))),
        "{e:?}"
    );
}

#[test]
fn database_urls_are_rewritten_per_test() {
    assert_eq!(
        testing::with_dbname("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        testing::with_dbname("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        testing::with_dbname("postgresql://h:1", "x"),
        "postgresql://h:1/x"
    );
    assert_eq!(
        testing::with_dbname("postgres://h?connect_timeout=3", "x"),
        "postgres://h/x?connect_timeout=3"
    );
    assert_eq!(
        testing::with_dbname("host=/tmp user=postgres", "x"),
        "host=/tmp user=postgres dbname=x"
    );
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not within 10 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes whose caches are serving.
async fn two_live_nodes(db: &TestDatabase) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let (a, b) = two_nodes(db).await;
    wait_until("both caches serve", async || {
        a.cache_is_live() && b.cache_is_live()
    })
    .await;
    (a, b)
}

async fn app_of(store: &PostgresStore, id: AppId) -> App {
    store.get_app(id).await.unwrap().expect("the app exists")
}

async fn user_of(store: &PostgresStore, tenant: TenantId) -> User {
    let key = UserKey::AccountId("u");
    store
        .find_user(tenant, key)
        .await
        .unwrap()
        .expect("the user exists")
}

async fn new_app(store: &dyn Store, tenant: TenantId, secret: &str) -> App {
    store
        .create_app(NewApp {
            tenant,
            app_id: "cli_cached".into(),
            app_secret: Secret::new(secret),
            name: "Cached".into(),
            bot_enabled: true,
            signing_required: true,
            scopes: vec!["im".into()],
            created_at: 1,
        })
        .await
        .unwrap()
}

/// A raw statement on its own connection: a change that sends no notification, as a
/// missed one would look to the caches.
async fn raw(db: &TestDatabase, sql: &str) {
    let (client, conn) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.unwrap();
    drop(client);
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_and_user_caches_follow_changes_made_on_another_node() {
    let db = testing::fresh_database().await;
    let (a, b) = two_live_nodes(&db).await;
    let (tenant, _, user) = group(&*a).await;
    let app = new_app(&*a, tenant, "s1").await;

    // B reads the app and the user once; later reads come from its cache: a change that
    // sends no notification is not seen.
    assert_eq!(app_of(&b, app.id).await.app_secret.expose(), "s1");
    assert_eq!(user_of(&b, tenant).await.name, "U");
    raw(
        &db,
        "UPDATE apps SET name = 'unseen'; UPDATE users SET name = 'unseen'",
    )
    .await;
    assert_eq!(app_of(&b, app.id).await.name, "Cached");
    assert_eq!(
        b.find_app("cli_cached").await.unwrap().unwrap().name,
        "Cached"
    );
    assert_eq!(b.get_user(user).await.unwrap().unwrap().name, "U");

    // A rotates the secret and renames the user: B follows once the notification arrives,
    // by id and by key alike, and the node that made the change at once.
    let patch = AppPatch {
        app_secret: Some(Secret::new("s2")),
        ..AppPatch::default()
    };
    a.update_app(app.id, patch).await.unwrap();
    assert_eq!(app_of(&a, app.id).await.app_secret.expose(), "s2");
    wait_until("B sees the rotated secret", async || {
        b.find_app("cli_cached")
            .await
            .unwrap()
            .unwrap()
            .app_secret
            .expose()
            == "s2"
    })
    .await;
    assert_eq!(app_of(&b, app.id).await.app_secret.expose(), "s2");
    a.rename_user(user, "Renamed".into()).await.unwrap();
    wait_until("B sees the new name", async || {
        user_of(&b, tenant).await.name == "Renamed"
    })
    .await;
    assert_eq!(b.get_user(user).await.unwrap().unwrap().name, "Renamed");
}

/// A get's sender is not read with the message but taken from the node's cache of users
/// and apps, so it follows a change made on another node as every cached read does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looked_up_sender_comes_from_the_cache_and_follows_changes() {
    let db = testing::fresh_database().await;
    let (a, b) = two_live_nodes(&db).await;
    let (tenant, chat, user) = group(&*a).await;
    let id = a
        .append_message(new_text(tenant, chat, Actor::User(user), "hi", 5))
        .await
        .unwrap()
        .message
        .id;
    let sender = async |node: &PostgresStore| {
        node.lookup_message(id, Some(Actor::User(user)))
            .await
            .unwrap()
            .sender
    };
    // Not cached on B yet: left to the caller, whose read fills the cache.
    assert_eq!(sender(&b).await, SenderLookup::NotRead);
    b.get_user(user).await.unwrap().unwrap();
    let SenderLookup::User(u) = sender(&b).await else {
        panic!("the cached sender")
    };
    assert_eq!((u.id, u.name.as_str()), (user, "U"));
    // From the cache: a change that sends no notification is not seen ...
    raw(&db, "UPDATE users SET name = 'unseen'").await;
    assert!(matches!(sender(&b).await, SenderLookup::User(u) if u.name == "U"));
    // ... and one made through another node is, once its notification arrives.
    a.rename_user(user, "Renamed".into()).await.unwrap();
    wait_until("B's lookup shows the new name", async || {
        match sender(&b).await {
            SenderLookup::User(u) => u.name == "Renamed",
            // Evicted and not read again yet.
            SenderLookup::NotRead => b.get_user(user).await.unwrap().unwrap().name == "Renamed",
            other => panic!("{other:?}"),
        }
    })
    .await;
    // An app's message: the same, through the app cache.
    let app = new_app(&*a, tenant, "s1").await;
    a.add_members(chat, vec![(Actor::App(app.id), Role::Member)], 6, None)
        .await
        .unwrap();
    let by_app = a
        .append_message(new_text(tenant, chat, Actor::App(app.id), "beep", 7))
        .await
        .unwrap()
        .message
        .id;
    app_of(&b, app.id).await;
    let found = b.lookup_message(by_app, None).await.unwrap();
    assert!(
        matches!(&found.sender, SenderLookup::App(x) if x.id == app.id),
        "{:?}",
        found.sender
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_whose_listener_drops_starts_again_from_the_database() {
    let db = testing::fresh_database().await;
    let (a, _b) = two_nodes(&db).await;
    wait_until("the cache serves", async || a.cache_is_live()).await;
    let (tenant, _, _) = group(&*a).await;
    let app = new_app(&*a, tenant, "s1").await;
    assert_eq!(app_of(&a, app.id).await.name, "Cached");

    // A change whose notification is lost with the listener's connection: once the
    // listener is back, the cache has been emptied and reads the change.
    raw(&db, "UPDATE apps SET name = 'missed'").await;
    assert_eq!(app_of(&a, app.id).await.name, "Cached");
    raw(
        &db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .await;
    wait_until(
        "the change is read after the listener reconnects",
        async || app_of(&a, app.id).await.name == "missed",
    )
    .await;
    wait_until("the cache serves again", async || a.cache_is_live()).await;
    assert_eq!(app_of(&a, app.id).await.name, "missed");
    assert_eq!(app_of(&a, app.id).await.name, "missed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_off_every_read_goes_to_the_database() {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions {
        cache: false,
        ..PostgresOptions::new(db.url())
    })
    .await
    .unwrap();
    let (tenant, _, _) = group(&store).await;
    let app = new_app(&store, tenant, "s1").await;
    assert_eq!(app_of(&store, app.id).await.name, "Cached");
    raw(&db, "UPDATE apps SET name = 'seen'").await;
    assert_eq!(app_of(&store, app.id).await.name, "seen");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!store.cache_is_live());
}

/// Concurrent sends are written in groups (`sends.rs`): every send still gets the answer it
/// would get alone. Keys shared within a group, keys already live, keyless sends and a
/// dissolved chat mixed in one burst; positions stay gapless, each created message has
/// exactly one change, and the changes of a chat follow its positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_sends_answer_as_sends_alone_do() {
    let db = testing::fresh_database().await;
    let store = Arc::new(
        PostgresStore::connect(PostgresOptions::new(db.url()))
            .await
            .unwrap(),
    );
    let (tenant, chat, user) = group(&*store).await;
    let (_, gone, other) = group(&*store).await;
    let sender = Actor::User(user);
    let mut earlier = new_text(tenant, chat, sender, "earlier", 500);
    earlier.client_msg_id = Some("live".into());
    let earlier = store.append_message(earlier).await.unwrap().message;
    store.dissolve_chat(gone, 600, None).await.unwrap();
    // Consume the chat's creation changes and the earlier send's.
    let before = store.lease_changes("t", 1_000, 700, 800).await.unwrap();
    let seqs: Vec<i64> = before.iter().map(|c| c.seq).collect();
    store.route_changes("t", &seqs, vec![]).await.unwrap();

    let mut tasks = Vec::new();
    for i in 0..80i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (target, who) = if i % 20 == 19 {
                (gone, Actor::User(other))
            } else {
                (chat, sender)
            };
            let mut m = new_text(tenant, target, who, &format!("m{i}"), 1_000 + i);
            m.client_msg_id = match i % 4 {
                0 => None,
                1 => Some(format!("k{i}")),
                2 => Some("shared".into()),
                _ if i % 8 == 3 => Some("live".into()),
                _ => None,
            };
            (i, m.client_msg_id.clone(), store.append_message(m).await)
        }));
    }
    let mut shared = Vec::new();
    let mut created = Vec::new();
    for t in tasks {
        let (i, key, r) = t.await.unwrap();
        if i % 20 == 19 {
            assert!(
                matches!(r, Err(StoreError::Conflict(Conflict::ChatDissolved))),
                "{i}: {r:?}"
            );
            continue;
        }
        let r = r.unwrap();
        match key.as_deref() {
            Some("live") => {
                assert!(!r.created, "{i}");
                assert_eq!(r.message.id, earlier.id, "{i}");
            }
            Some("shared") => shared.push((r.created, r.message.id)),
            _ => {
                assert!(r.created, "{i}");
                assert_eq!(r.message.content.text, format!("m{i}"));
            }
        }
        if r.created {
            created.push(r.message.id);
        }
    }
    assert_eq!(shared.iter().filter(|(c, _)| *c).count(), 1, "{shared:?}");
    assert!(
        shared.iter().all(|(_, id)| *id == shared[0].1),
        "{shared:?}"
    );

    let stored = store.list_messages(everything(chat)).await.unwrap();
    let positions: Vec<i64> = stored.iter().map(|m| m.id.position().unwrap()).collect();
    let want: Vec<i64> = (1..=stored.len() as i64).collect();
    assert_eq!(positions, want, "gapless");
    assert_eq!(
        stored.len(),
        created.len() + 1,
        "the earlier message and these"
    );
    assert!(stored
        .windows(2)
        .all(|w| w[0].created_at <= w[1].created_at));
    let chat_row = store.get_chat(chat).await.unwrap().unwrap();
    assert_eq!(chat_row.last_position, stored.len() as i64);

    let changes = store.lease_changes("t", 1_000, 900, 1_000).await.unwrap();
    let of_chat: Vec<MessageId> = changes
        .iter()
        .filter(|c| c.chat == chat)
        .map(|c| match &c.body {
            switchboard_core::events::ChangeBody::MessageCreated { message } => {
                assert_eq!(Some(message), stored.iter().find(|m| m.id == message.id));
                message.id
            }
            other => panic!("unexpected change {other:?}"),
        })
        .collect();
    let mut sorted = of_chat.clone();
    sorted.sort();
    assert_eq!(of_chat, sorted, "seq follows positions");
    created.sort();
    assert_eq!(of_chat, created, "one change per created message");
    assert!(changes.iter().all(|c| c.chat != gone));
}

/// Documents of the JSON form, as migration 0009 turned them into bytes
/// (`convert_to(doc::text, 'UTF8')` of a `json` column), read as they did;
/// `upgrade_documents` rewrites exactly those and records no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_documents_read_as_before_and_upgrade_in_place() {
    let db = testing::fresh_database().await;
    let store = PostgresStore::connect(PostgresOptions::new(db.url()))
        .await
        .unwrap();
    let (tenant, chat, user) = group(&store).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let mut new = new_text(tenant, chat, Actor::User(user), &format!("m{i}"), 5);
        new.content.data = serde_json::json!({ "text": format!("m{i}"), "nul": "\u{0}" }).into();
        sent.push(store.append_message(new).await.unwrap().message);
    }
    let mut sql = String::new();
    for m in &sent[..3] {
        let json = serde_json::to_string(m).unwrap().replace('\'', "''");
        sql.push_str(&format!(
            "UPDATE messages SET doc = convert_to('{json}'::json::text, 'UTF8') WHERE id = {};",
            m.id.0
        ));
    }
    raw(&db, &sql).await;
    for m in &sent {
        assert_eq!(store.get_message(m.id).await.unwrap().as_ref(), Some(m));
    }
    let count = |sql: &'static str| {
        let url = db.url().to_string();
        async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            let n: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
            drop(client);
            let _ = task.await;
            n
        }
    };
    const JSON_ROWS: &str = "SELECT count(*) FROM messages WHERE get_byte(doc, 0) = 123";
    const CHANGES: &str = "SELECT count(*) FROM changes";
    assert_eq!(count(JSON_ROWS).await, 3);
    let changes = count(CHANGES).await;
    let first = store.upgrade_documents(None, 2).await.unwrap();
    assert_eq!((first.scanned, first.rewritten), (2, 2));
    let rest = store.upgrade_documents(first.next, 100).await.unwrap();
    assert_eq!((rest.scanned, rest.rewritten, rest.next), (3, 1, None));
    assert_eq!(count(JSON_ROWS).await, 0);
    assert_eq!(count(CHANGES).await, changes, "no change recorded");
    for m in &sent {
        assert_eq!(store.get_message(m.id).await.unwrap().as_ref(), Some(m));
    }
}
