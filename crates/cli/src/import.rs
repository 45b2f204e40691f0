//! `switchboard import`: bulk history import from JSON Lines, straight into the database.
//!
//! One message per line:
//! `{"chat": 12, "sender": {"type": "user", "id": "alice"}, "type": "text", "content": {"text": "hi"}, "created_at": 1700000000000}`
//! `chat` is the canonical chat id; `sender.id` is a canonical id, a `user_id` or an
//! `app_id`; `content` is the canonical content of `type` (docs/content.md); `created_at`
//! (ms, optional) is the original send time. Messages are appended in file order, so each
//! chat's positions follow the file. Lines are parsed and validated on one thread while
//! earlier batches are written, and each batch is one transaction.
//!
//! Batches are large (50,000 messages by default) because a commit's cost is in the pages
//! it rewrites, not in its messages: the messages table is clustered by chat, so a batch
//! spread over N chats rewrites at least the last leaf of each of them (and usually its
//! siblings). Measured on 1M messages over 1,000 chats: 10k per batch made 1.72M page
//! writes (`pwrite64`) and imported at 42k/s with 131 MB peak RSS; 50k per batch, 0.69M
//! writes, 70k/s, 384 MB; 100k per batch, 81k/s, 674 MB.
//!
//! The database must exist (the import never creates one). With SQLite, no server may be
//! using the file: a running server caches chat counters of the file it serves, so the
//! import takes the lock the server holds and refuses to start while it is held
//! (`crate::dbfile`).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::PathBuf;
use switchboard_core::content;
use switchboard_core::ids::{AppId, ChatId, TenantId, UserId};
use switchboard_core::model::{Actor, Content, MessageType, Millis};
use switchboard_core::service::{Access, Send};
use switchboard_core::store::UserKey;
use switchboard_core::Core;
use switchboard_server::config::Config;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    chat: i64,
    sender: SenderRef,
    #[serde(rename = "type")]
    kind: String,
    content: Value,
    created_at: Option<Millis>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SenderRef {
    #[serde(rename = "type")]
    kind: String,
    id: Value,
}

/// The largest `--batch`.
pub const MAX_BATCH: usize = 100_000;

pub struct ImportArgs {
    pub tenant: i64,
    pub file: PathBuf,
    pub batch: usize,
    pub quiet: bool,
}

/// Summary of an import.
pub struct Imported {
    pub messages: u64,
    pub seconds: f64,
}

pub async fn run(cfg: Config, args: ImportArgs) -> anyhow::Result<Imported> {
    let store = switchboard_server::open_store(&cfg).await?;
    let core = switchboard_server::core(store);
    let tenant = core
        .tenant(TenantId(args.tenant))
        .await
        .context("--tenant")?
        .id;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let total = file.metadata()?.len();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
            .expect("valid template"),
    );
    let batch = args.batch;
    anyhow::ensure!(
        (1..=MAX_BATCH).contains(&batch),
        "--batch must be between 1 and {MAX_BATCH}, not {batch}"
    );
    // Two stages overlap: a blocking thread parses and validates lines while this task
    // resolves the senders of the batch before and hands it to the store. Batches stay in
    // file order throughout. A third stage (resolving apart from writing) bought no speed
    // and held one more batch in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<(Vec<(u64, Parsed)>, u64)>>(1);
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::with_capacity(1 << 20, file).lines();
        let mut n = 0u64;
        loop {
            let mut chunk = Vec::with_capacity(batch);
            let mut bytes = 0u64;
            for line in lines.by_ref() {
                n += 1;
                let parsed = line
                    .map_err(anyhow::Error::from)
                    .and_then(|line| {
                        bytes += line.len() as u64 + 1;
                        if line.trim().is_empty() {
                            return Ok(None);
                        }
                        parse_line(&line).map(Some)
                    })
                    .with_context(|| format!("line {n}"));
                match parsed {
                    Ok(Some(p)) => chunk.push((n, p)),
                    Ok(None) => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                if chunk.len() == batch {
                    break;
                }
            }
            if chunk.is_empty() {
                return;
            }
            if tx.blocking_send(Ok((chunk, bytes))).is_err() {
                return;
            }
        }
    });

    let started = std::time::Instant::now();
    let mut senders = SenderMemo::default();
    let mut allowed: HashSet<(i64, Actor)> = HashSet::new();
    let mut imported = 0u64;
    while let Some(next) = rx.recv().await {
        let (chunk, bytes) = next?;
        let (first_line, last_line) = match (chunk.first(), chunk.last()) {
            (Some(f), Some(l)) => (f.0, l.0),
            _ => continue,
        };
        let mut items = Vec::with_capacity(chunk.len());
        for (n, p) in chunk {
            let sender = sender(&core, tenant, &p.sender_kind, &p.sender_id, &mut senders)
                .await
                .with_context(|| format!("line {n}: sender"))?;
            // The batch checks this again; checked here first so that a sender who is not
            // in the chat is reported with the line that names them.
            if allowed.insert((p.chat, sender)) {
                use switchboard_core::error::{Denied, Entity, Error};
                match core
                    .visible_chat(tenant, Access::Member(sender), ChatId(p.chat))
                    .await
                {
                    Ok(_) => {}
                    Err(Error::Forbidden(Denied::NotMember | Denied::NotInP2p)) => anyhow::bail!(
                        "line {n}: {:?} is not a member of chat {}",
                        p.sender_id,
                        p.chat
                    ),
                    Err(Error::NotFound(Entity::Chat)) => {
                        anyhow::bail!("line {n}: no chat {} in this tenant", p.chat)
                    }
                    Err(e) => return Err(anyhow::Error::from(e).context(format!("line {n}"))),
                }
            }
            items.push((
                Send::new(tenant, ChatId(p.chat), sender, p.kind, p.content),
                p.created_at,
            ));
        }
        let stored = core
            .import(tenant, items)
            .await
            .with_context(|| format!("importing lines {first_line} to {last_line}"))?;
        imported += stored.len() as u64;
        // Freeing a batch of message trees takes a while: not on the way to the next batch.
        tokio::task::spawn_blocking(move || drop(stored));
        bar.inc(bytes);
        bar.set_message(format!("{imported} messages"));
    }
    reader.await?;
    bar.finish_and_clear();
    Ok(Imported {
        messages: imported,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One line, parsed and its content validated (on the parsing thread).
struct Parsed {
    chat: i64,
    sender_kind: String,
    sender_id: String,
    kind: MessageType,
    content: Content,
    created_at: Option<Millis>,
}

fn parse_line(line: &str) -> anyhow::Result<Parsed> {
    let l: Line = serde_json::from_str(line).map_err(json_error)?;
    let kind = MessageType::parse(&l.kind).with_context(|| format!("unknown type {:?}", l.kind))?;
    let content = content::canonical(kind, l.content).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sender_id = match l.sender.id {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => anyhow::bail!("sender: id must be a string or a number, not {other}"),
    };
    Ok(Parsed {
        chat: l.chat,
        sender_kind: l.sender.kind,
        sender_id,
        kind,
        content,
        created_at: l.created_at,
    })
}

/// A JSON error of one line, placed by its column only: serde_json would say "at line 1
/// column N" of the one-line document, beside the file's line number the caller adds.
fn json_error(e: serde_json::Error) -> anyhow::Error {
    let text = e.to_string();
    let place = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&place) {
        Some(what) if e.column() > 0 => anyhow::anyhow!("{what} (column {})", e.column()),
        _ => anyhow::anyhow!("{text}"),
    }
}

/// Resolved senders by type and id, looked up without allocating.
#[derive(Default)]
struct SenderMemo(HashMap<String, HashMap<String, Actor>>);

async fn sender(
    core: &Core,
    tenant: TenantId,
    kind: &str,
    key: &str,
    memo: &mut SenderMemo,
) -> anyhow::Result<Actor> {
    if let Some(a) = memo.0.get(kind).and_then(|m| m.get(key)) {
        return Ok(*a);
    }
    let numeric = key.parse::<i64>().ok();
    let actor = match kind {
        "user" => {
            let by_id = match numeric {
                Some(n) => core.user(tenant, UserId(n)).await.ok(),
                None => None,
            };
            match by_id {
                Some(u) => Actor::User(u.id),
                None => Actor::User(
                    core.find_user(tenant, UserKey::UserId(key))
                        .await
                        .with_context(|| format!("no user {key:?}"))?
                        .id,
                ),
            }
        }
        "app" => match numeric {
            Some(n) => Actor::App(core.app(tenant, AppId(n)).await?.id),
            None => {
                let a = core
                    .app_by_public_id(key)
                    .await
                    .with_context(|| format!("no app {key:?}"))?;
                anyhow::ensure!(a.tenant == tenant, "no app {key:?} in this tenant");
                Actor::App(a.id)
            }
        },
        other => anyhow::bail!("type must be user or app, not {other:?}"),
    };
    memo.0
        .entry(kind.to_string())
        .or_default()
        .insert(key.to_string(), actor);
    Ok(actor)
}
