//! The dataset: one tenant, 100 users, a reader, one bot app and 1,000 group chats,
//! provisioned through the use cases; then N messages of several content types written as
//! JSON Lines and loaded with `switchboard import` (the bulk-import path users migrate
//! history with).

use anyhow::{ensure, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use switchboard_core::ids::{ChatId, MessageId, TenantId};
use switchboard_core::model::{Actor, App, ChatKind};
use switchboard_core::service::{CreateChat, CreateUser};
use switchboard_core::Core;

pub const CHATS: usize = 1_000;
const USERS: usize = 100;
/// The Yunxin account whose team conversations the Yunxin requests read.
pub const READER: &str = "reader";

/// What the requests need to know about the provisioned world.
pub struct World {
    pub tenant: TenantId,
    pub app: App,
    pub chats: Vec<ChatId>,
    users: Vec<String>,
    /// Messages stored per chat (parallel to `chats`); positions are 1..=count.
    pub counts: Vec<u64>,
}

impl World {
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// A uniformly random stored message.
    pub fn random_message(&self, rng: &mut impl Rng, prefix: &[u64]) -> MessageId {
        let total = *prefix.last().expect("at least one chat");
        let k = rng.gen_range(0..total);
        let chat = prefix.partition_point(|&p| p <= k);
        let before = if chat == 0 { 0 } else { prefix[chat - 1] };
        MessageId::timeline(self.chats[chat], (k - before + 1) as i64).expect("valid id")
    }

    /// Cumulative counts, for [`World::random_message`].
    pub fn prefix(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0u64, |acc, c| {
                *acc += c;
                Some(*acc)
            })
            .collect()
    }
}

/// Creates the tenant, users, app and chats (concurrently, so the store's group commit
/// batches them).
pub async fn provision(core: &Core) -> anyhow::Result<World> {
    let tenant = core.create_tenant("Bench").await?.id;
    let mut users = Vec::with_capacity(USERS);
    let mut user_ids = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let name = format!("bu{i:03}");
        let u = core
            .create_user(
                tenant,
                CreateUser {
                    name: format!("Bench user {i}"),
                    user_id: Some(name.clone()),
                    account_id: None,
                },
            )
            .await?;
        users.push(name);
        user_ids.push(u.id);
    }
    let reader = core
        .create_user(
            tenant,
            CreateUser {
                name: "Reader".into(),
                user_id: Some(READER.into()),
                account_id: Some(READER.into()),
            },
        )
        .await?;
    let app = core.create_app(tenant, "Bench bot").await?;
    let mut tasks = Vec::with_capacity(CHATS);
    for i in 0..CHATS {
        let core = core.clone();
        let owner = Actor::User(user_ids[i % USERS]);
        let members = vec![
            Actor::App(app.id),
            Actor::User(reader.id),
            Actor::User(user_ids[(i + 1) % USERS]),
        ];
        tasks.push(tokio::spawn(async move {
            core.create_chat(
                tenant,
                CreateChat {
                    kind: ChatKind::Group,
                    name: Some(format!("Bench chat {i}")),
                    owner,
                    members,
                },
            )
            .await
        }));
    }
    let mut chats = Vec::with_capacity(CHATS);
    for t in tasks {
        chats.push(t.await??.id);
    }
    Ok(World {
        tenant,
        app,
        chats,
        users,
        counts: vec![0; CHATS],
    })
}

const WORDS: &[&str] = &[
    "deploy",
    "review",
    "build",
    "green",
    "release",
    "meeting",
    "notes",
    "today",
    "tomorrow",
    "please",
    "check",
    "the",
    "latest",
    "numbers",
    "before",
    "lunch",
    "migration",
    "done",
    "ticket",
    "closed",
    "customer",
    "asked",
    "about",
    "invoice",
    "server",
    "restarted",
    "latency",
    "looks",
    "fine",
    "again",
    "thanks",
    "everyone",
    "快速",
    "会议",
    "今天",
    "发布",
];

fn sentence(rng: &mut impl Rng, min_words: usize, max_words: usize) -> String {
    let n = rng.gen_range(min_words..=max_words);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    s
}

/// One message's `type` and canonical `content` (docs/content.md): mostly text, with rich
/// text, images, files, cards and locations mixed in.
fn content(rng: &mut impl Rng, n: u64) -> (&'static str, serde_json::Value) {
    use serde_json::json;
    let roll = rng.gen_range(0..100);
    match roll {
        0..=59 => (
            "text",
            json!({ "text": format!("#{n} {}", sentence(rng, 4, 24)) }),
        ),
        60..=69 => (
            "rich_text",
            json!({
                "title": sentence(rng, 2, 5),
                "paragraphs": [
                    [{ "tag": "text", "text": sentence(rng, 3, 12) },
                     { "tag": "a", "text": "details", "href": format!("https://example.com/t/{n}") }],
                    [{ "tag": "text", "text": sentence(rng, 3, 12), "style": ["bold"] }]
                ]
            }),
        ),
        70..=79 => (
            "image",
            json!({ "key": format!("img_{n:x}"), "width": 1280, "height": 720, "size": rng.gen_range(10_000..2_000_000) }),
        ),
        80..=87 => (
            "file",
            json!({ "key": format!("file_{n:x}"), "name": format!("report-{n}.pdf"), "size": rng.gen_range(1_000..20_000_000) }),
        ),
        88..=94 => (
            "card",
            json!({ "card": {
                "header": { "title": { "tag": "plain_text", "content": sentence(rng, 2, 4) } },
                "elements": [{ "tag": "div", "text": { "tag": "lark_md", "content": sentence(rng, 5, 15) } }]
            } }),
        ),
        _ => (
            "location",
            json!({ "title": "Office", "address": sentence(rng, 3, 6),
                    "latitude": rng.gen_range(-60.0..60.0), "longitude": rng.gen_range(-150.0..150.0) }),
        ),
    }
}

/// Writes `n` messages as JSON Lines, spread at random over the chats, sent by one of each
/// chat's members, in time order. Updates `world.counts`.
pub fn write_jsonl(world: &mut World, n: u64, path: &Path, seed: u64) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let start = 1_600_000_000_000i64;
    for i in 0..n {
        let c = rng.gen_range(0..world.chats.len());
        let sender = match rng.gen_range(0..3) {
            0 => serde_json::json!({ "type": "user", "id": world.users[c % USERS] }),
            1 => serde_json::json!({ "type": "user", "id": world.users[(c + 1) % USERS] }),
            _ => serde_json::json!({ "type": "app", "id": world.app.app_id }),
        };
        let (kind, content) = content(&mut rng, i);
        let line = serde_json::json!({
            "chat": world.chats[c].0,
            "sender": sender,
            "type": kind,
            "content": content,
            "created_at": start + i as i64 * 10,
        });
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
        world.counts[c] += 1;
    }
    // On disk before the import starts, so that the import's own writes do not share the
    // disk with the writeback of this file.
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// What `switchboard import` reported.
pub struct Imported {
    pub messages: u64,
    pub seconds: f64,
    pub rate: f64,
}

/// Runs `switchboard import` on `file` into the store `config` names.
pub fn import(
    bin: &Path,
    config: &Path,
    tenant: TenantId,
    file: &Path,
    quiet: bool,
    batch: Option<usize>,
) -> anyhow::Result<Imported> {
    // SWITCHBOARD_BENCH_IMPORT_WRAPPER (e.g. "perf record -g -o import.data") runs the
    // import under a profiler.
    let wrapper = std::env::var("SWITCHBOARD_BENCH_IMPORT_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut cmd = match words.next() {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(words).arg(bin.join("switchboard"));
            c
        }
        None => Command::new(bin.join("switchboard")),
    };
    cmd.arg("import")
        .arg("--config")
        .arg(config)
        .arg("--tenant")
        .arg(tenant.0.to_string())
        .arg(file);
    if quiet {
        cmd.arg("--quiet");
    }
    if let Some(b) = batch {
        cmd.arg("--batch").arg(b.to_string());
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running switchboard import")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "switchboard import failed: {stdout}");
    // "imported N messages in S s (R messages/s)"
    let line = stdout
        .lines()
        .find(|l| l.starts_with("imported "))
        .with_context(|| format!("unexpected import output: {stdout}"))?;
    let nums: Vec<f64> = line
        .split([' ', '('])
        .filter_map(|w| w.parse().ok())
        .collect();
    ensure!(nums.len() >= 3, "unexpected import output: {line}");
    Ok(Imported {
        messages: nums[0] as u64,
        seconds: nums[1],
        rate: nums[2],
    })
}

/// Size on disk of a SQLite database (the file and its WAL).
pub fn sqlite_size(dir: &Path) -> u64 {
    ["switchboard.db", "switchboard.db-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// Reads the SQLite files once, end to end, so that each dialect's run starts from the
/// same page cache: the machine's memory manager pages out file pages left idle for about
/// a minute, and without this the first dialect measured after the import and the
/// baseline runs would pay disk reads that the others do not. Returns the bytes read.
pub fn warm_sqlite(dir: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for f in ["switchboard.db", "switchboard.db-wal"] {
        let Ok(mut file) = std::fs::File::open(dir.join(f)) else {
            continue;
        };
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

pub fn jsonl_path(work: &Path, n: u64) -> PathBuf {
    work.join(format!("messages-{n}.jsonl"))
}
