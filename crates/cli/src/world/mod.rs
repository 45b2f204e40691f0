//! `--world FILE` and `--ephemeral` for `serve` and `demo` (docs/ci.md): a declared set of
//! tenants, users, apps and chats created at start, and a server whose data lives in a
//! temporary directory removed on exit.
//!
//! `parse` reads and checks the file, `apply` checks it against the database and then
//! writes. Nothing is written unless every check passed.

pub mod apply;
pub mod events;
pub mod parse;

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use switchboard_core::Core;
use switchboard_server::config::Config;

#[derive(Args, Clone, Default)]
pub struct WorldArgs {
    /// A world file (TOML): tenants, users, apps with fixed credentials and chats, created
    /// at start when missing (docs/ci.md, "The world file").
    #[arg(long)]
    pub world: Option<PathBuf>,
    /// Keep everything in a temporary directory removed on exit, listen on a free port of
    /// 127.0.0.1 (unless --listen says otherwise) and print one line of JSON,
    /// {"url": …, "admin_token": …}, when ready.
    #[arg(long)]
    pub ephemeral: bool,
}

/// What `serve` does at start besides serving, set once by `main` before it runs.
struct Launch {
    world: Option<PathBuf>,
    ephemeral: bool,
}

static LAUNCH: OnceLock<Launch> = OnceLock::new();

/// Holds the temporary data directory of an ephemeral server: dropping it removes it.
pub type TempGuard = Option<tempfile::TempDir>;

impl WorldArgs {
    /// Records what `serve` is to do and, for an ephemeral server, points the configuration
    /// at a new temporary directory (an SQLite store in it, whatever the configuration
    /// file says) and at a free port unless `listen_given`. `flags_given` is whether
    /// --data-dir or --database was given, which an ephemeral server refuses.
    pub fn install(
        &self,
        cfg: &mut Config,
        listen_given: bool,
        flags_given: bool,
    ) -> anyhow::Result<TempGuard> {
        let guard = if self.ephemeral {
            anyhow::ensure!(
                !flags_given,
                "--ephemeral keeps its data in a temporary directory: drop --data-dir and --database"
            );
            let dir = tempfile::Builder::new()
                .prefix("switchboard-ephemeral-")
                .tempdir()
                .map_err(|e| anyhow::anyhow!("creating a temporary directory: {e}"))?;
            cfg.data_dir = dir.path().to_path_buf();
            cfg.database = String::new();
            if !listen_given {
                cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            }
            Some(dir)
        } else {
            None
        };
        let _ = LAUNCH.set(Launch {
            world: self.world.clone(),
            ephemeral: self.ephemeral,
        });
        Ok(guard)
    }
}

/// Applies the world file, if one was given, once the store is open and before the server
/// listens.
pub async fn on_start(core: &Core, cfg: &Config) -> anyhow::Result<()> {
    let Some(path) = LAUNCH.get().and_then(|l| l.world.as_ref()) else {
        return Ok(());
    };
    let env = |k: &str| std::env::var(k).ok();
    let conns = switchboard_dialect_lark::events::ws::LarkConnections::new(&cfg.lark);
    let dialects: Vec<events::DialectInfo> = switchboard_server::event_dialects(core, cfg, conns)
        .iter()
        .map(|d| events::DialectInfo {
            name: d.name(),
            event_types: d.event_types(),
            long_connection: d.connections().is_some(),
        })
        .collect();
    let plan = parse::read(path, core, &known_scopes(), &dialects, &env)?;
    let done = apply::apply(core, &plan).await?;
    tracing::info!(
        world = %path.display(),
        created = done.created,
        updated = done.updated,
        "world applied"
    );
    Ok(())
}

/// The banner an ephemeral server prints instead of any other: one line of JSON on
/// stdout, flushed, that a script waits for.
pub fn banner(other: Option<crate::Banner>) -> Option<crate::Banner> {
    if !LAUNCH.get().is_some_and(|l| l.ephemeral) {
        return other;
    }
    Some(Box::new(|addr: SocketAddr, token: &str| {
        // Written by hand so that `url` comes first, as documented.
        let url = serde_json::Value::from(format!("http://{addr}"));
        let token = serde_json::Value::from(token);
        let line = format!("{{\"url\": {url}, \"admin_token\": {token}}}");
        // A reader that went away must not take the server down.
        let _ = crate::outln(line);
    }))
}

/// Every scope a dialect checks, the names a world's `scopes` may use.
pub fn known_scopes() -> Vec<String> {
    use switchboard_dialect_lark::auth::Need;
    let lark_needs = [
        Need::Read,
        Need::Write,
        Need::Chat,
        Need::ChatRead,
        Need::History,
        Need::ChatInfo,
        Need::ChatUpdate,
        Need::ChatDelete,
        Need::MembersRead,
        Need::MembersWrite,
        Need::Reactions,
        Need::ReactionsRead,
        Need::Pins,
        Need::PinsRead,
        Need::ReadUsers,
        Need::Resource,
        Need::Bot,
    ];
    let mut v: Vec<String> = lark_needs
        .iter()
        .flat_map(|n| n.scopes().iter())
        .chain(switchboard_dialect_lark::auth::DEFAULT_SCOPES)
        .chain(switchboard_dialect_wps::auth::DEFAULT_SCOPES)
        .chain([
            &switchboard_dialect_lark::events::SCOPE_GROUP_MSG,
            &switchboard_dialect_wps::events::SCOPE_GROUP_MSG,
        ])
        .map(|s| s.to_string())
        .collect();
    v.push(switchboard_dialect_lark::Config::default().user_id_scope);
    v.sort();
    v.dedup();
    v
}

/// A line of the world file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Where(pub usize);

/// Every problem found in a world file, reported together, each with its line.
pub struct Problems {
    file: String,
    list: Vec<(Where, String)>,
}

impl Problems {
    pub fn new(file: String) -> Self {
        Problems {
            file,
            list: Vec::new(),
        }
    }

    pub fn add(&mut self, at: Where, msg: impl Into<String>) {
        self.list.push((at, msg.into()));
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        if self.list.is_empty() {
            return Ok(());
        }
        self.list.sort_by_key(|(w, _)| w.0);
        let lines: Vec<String> = self
            .list
            .iter()
            .map(|(w, m)| format!("{}:{}: {m}", self.file, w.0))
            .collect();
        anyhow::bail!(
            "the world file was refused, nothing was created:\n{}",
            lines.join("\n")
        )
    }
}
