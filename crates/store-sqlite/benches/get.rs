//! Time of one `get` through the SQLite store, against a baseline measured in the same run.
//!
//! `cargo bench -p switchboard-store-sqlite --bench get [-- MESSAGES]` (default 100000).
//! Prints, per operation:
//! - baseline: the same point read on one synchronous rusqlite connection (no pool, no task hop);
//! - `Store::get_message` through the async port (reader pool + blocking-pool hop + JSON decode);
//! - `Core::get` (the use case: chat lookup, membership check, message, sender resolution).

use rand::Rng;
use std::sync::Arc;
use std::time::Instant;
use switchboard_core::model::*;
use switchboard_core::service::{Access, CreateChat, CreateUser};
use switchboard_core::store::{MessageStore, NewMessage};
use switchboard_core::{Core, CoreConfig, MessageId, SystemClock};
use switchboard_store_sqlite::{SqliteOptions, SqliteStore};

const CHATS: i64 = 100;

fn main() {
    let messages: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(messages));
}

async fn run(messages: i64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions::in_dir(dir.path());
    let path = opts.path.clone();
    let store = Arc::new(SqliteStore::open(opts).unwrap());
    let core = Core::new(store.clone(), Arc::new(SystemClock), CoreConfig::default());
    let t = core.create_tenant("Bench").await.unwrap();
    let u = core
        .create_user(
            t.id,
            CreateUser {
                name: "U".into(),
                user_id: Some("u".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();
    let app = core.create_app(t.id, "Bot").await.unwrap();
    let mut chats = Vec::new();
    for i in 0..CHATS {
        let c = CreateChat {
            kind: ChatKind::Group,
            name: Some(format!("c{i}")),
            owner: Actor::User(u.id),
            members: vec![Actor::App(app.id)],
        };
        chats.push(core.create_chat(t.id, c).await.unwrap().id);
    }

    let per_chat = messages / CHATS;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, chat) in chats.iter().copied().enumerate() {
        let store = store.clone();
        let (tenant, sender) = (t.id, Actor::User(u.id));
        tasks.push(tokio::spawn(async move {
            for n in 0..per_chat {
                let text =
                    format!("message {n} in chat {i}: the quick brown fox jumps over the lazy dog");
                let new = NewMessage {
                    tenant,
                    chat,
                    sender,
                    kind: MessageType::Text,
                    content: Content {
                        text: text.clone(),
                        data: serde_json::json!({ "text": text }).into(),
                        original: None,
                    },
                    mentions: vec![],
                    created_at: 1_700_000_000_000 + n,
                    parent: None,
                    root: None,
                    thread: None,
                    copied_from: None,
                    client_msg_id: None,
                    idempotency_window_ms: 0,
                    extra: MessageExtra::default(),
                };
                store.append_message(new).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seeded = per_chat * CHATS;
    let secs = started.elapsed().as_secs_f64();
    println!("seeded {seeded} messages over {CHATS} chats in {secs:.2} s ({:.0} durable appends/s, 100 concurrent writers)", seeded as f64 / secs);

    let mut rng = rand::thread_rng();
    let ids: Vec<MessageId> = (0..20_000)
        .map(|_| {
            MessageId::timeline(
                chats[rng.gen_range(0..chats.len())],
                rng.gen_range(1..=per_chat),
            )
            .unwrap()
        })
        .collect();

    // Baseline: the raw point read on one connection.
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare_cached("SELECT doc FROM messages WHERE id = ?1")
        .unwrap();
    for id in ids.iter().take(2_000) {
        let _: Vec<u8> = stmt.query_row([id.0], |r| r.get(0)).unwrap();
    }
    let t0 = Instant::now();
    for id in &ids {
        let doc: Vec<u8> = stmt.query_row([id.0], |r| r.get(0)).unwrap();
        std::hint::black_box(doc);
    }
    let base = t0.elapsed().as_secs_f64() * 1e6 / ids.len() as f64;

    let t0 = Instant::now();
    for id in &ids {
        let m = store.get_message(*id).await.unwrap().unwrap();
        std::hint::black_box(m);
    }
    let port = t0.elapsed().as_secs_f64() * 1e6 / ids.len() as f64;

    let access = Access::Member(Actor::App(app.id));
    let t0 = Instant::now();
    for id in &ids {
        let v = core.get(t.id, access, Some(id.chat()), *id).await.unwrap();
        std::hint::black_box(v);
    }
    let usecase = t0.elapsed().as_secs_f64() * 1e6 / ids.len() as f64;

    println!(
        "get one message, {} random ids over {seeded} stored, sequential:",
        ids.len()
    );
    println!("  baseline (one rusqlite connection, raw row)   {base:8.2} µs/op");
    println!(
        "  Store::get_message (async port, decoded)       {port:8.2} µs/op  ({:.1}x baseline)",
        port / base
    );
    println!(
        "  Core::get (chat + membership + message + sender){usecase:7.2} µs/op  ({:.1}x baseline)",
        usecase / base
    );
}
