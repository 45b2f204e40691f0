//! `switchboard`: the one binary. `serve` runs the server, `demo` runs it on a seeded
//! embedded store, `migrate` applies schema migrations, `admin` calls the admin API,
//! `sign` computes vendor request signatures for use with curl.

mod admin;
mod admin_events;
mod admin_user;
mod chat;
mod dbfile;
mod demo;
mod dialog;
mod import;
mod world;

// Every request allocates and frees short-lived buffers on two worker threads; mimalloc's
// thread-local free lists make that markedly cheaper than glibc's malloc (measured in
// docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use switchboard_server::config::{Config, Overrides};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Self-hosted IM server speaking the WPS 365 v7, BOSS Hi, Feishu/Lark v1 and NetEase Yunxin v2 message APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Configuration file (TOML). Default: ./switchboard.toml if present.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`): IP:PORT, or localhost:PORT.
    #[arg(long, value_parser = switchboard_server::config::parse_listen)]
    listen: Option<SocketAddr>,
    /// Database URL (overrides `database`): sqlite:///path or postgres://...
    #[arg(long)]
    database: Option<String>,
    /// Data directory (overrides `data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ServerArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let over = Overrides {
            listen: self.listen,
            database: self.database.clone(),
            data_dir: self.data_dir.clone(),
        };
        Config::load(self.config.as_deref(), &over)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        world: world::WorldArgs,
    },
    /// Run the server on an embedded store seeded with a demo tenant, and print how to call it
    /// (data in ./demo-data unless --data-dir or --database says otherwise).
    Demo {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        world: world::WorldArgs,
    },
    /// Apply database migrations and exit.
    Migrate(ServerArgs),
    /// Bulk-import message history from a JSON Lines file straight into an existing
    /// database (with SQLite, while no server uses it).
    Import {
        #[command(flatten)]
        server: ServerArgs,
        /// Canonical id of the tenant the messages belong to.
        #[arg(long)]
        tenant: i64,
        /// JSON Lines file, one message per line (see docs/admin-api.md, "Bulk import").
        file: PathBuf,
        /// Messages per transaction, 1 to 100,000. Larger batches import faster (each
        /// commit rewrites the last page of every chat it touches) and hold more in memory:
        /// about 400 MB at the default.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=import::MAX_BATCH as i64))]
        batch: u32,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Rewrite the message documents an older version stored (JSON) in the current stored
    /// form, in steps; safe to stop and run again. Old documents read as they are without
    /// it: this saves their decoding on every read. With SQLite, no server may be using the
    /// database; PostgreSQL servers keep serving.
    UpgradeDocuments {
        #[command(flatten)]
        server: ServerArgs,
        /// Rows looked at per step (one transaction each).
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
    },
    /// Copy the SQLite store to a file while the server keeps serving: a consistent
    /// snapshot of every write committed when the copy began.
    Backup {
        #[command(flatten)]
        server: ServerArgs,
        /// The file to write; it must not exist.
        #[arg(long)]
        to: PathBuf,
    },
    /// Put a backup in place as the SQLite store of a fresh data directory (no server may
    /// be using it), then apply newer migrations.
    Restore {
        #[command(flatten)]
        server: ServerArgs,
        /// The backup file (from `switchboard backup`).
        #[arg(long)]
        from: PathBuf,
    },
    /// Call the admin API of a running server.
    Admin(admin::AdminArgs),
    /// Talk in a chat as a user or app, wait for answers, read the timeline (docs/ci.md).
    Chat(chat::ChatArgs),
    /// Play scripted dialogs against a running server (docs/ci.md).
    Dialog(dialog::DialogArgs),
    /// Compute a vendor's request signature headers, for curl.
    Sign {
        #[command(subcommand)]
        dialect: SignCommand,
    },
}

#[derive(Subcommand)]
enum SignCommand {
    /// WPS KSO-1: prints Content-Type, X-Kso-Date and X-Kso-Authorization as curl -H arguments.
    Wps {
        /// HTTP method of the request.
        #[arg(long, default_value = "GET")]
        method: String,
        /// Request URI: path plus query, exactly as sent (e.g. /v7/chats/1/messages/abc).
        #[arg(long)]
        uri: String,
        /// Content-Type header as sent (empty when none).
        #[arg(long, default_value = "application/json")]
        content_type: String,
        /// Request body exactly as sent.
        #[arg(long, default_value = "")]
        body: String,
        /// The app's app_id (WPS APPID).
        #[arg(long)]
        app_id: String,
        /// The app's app_secret (WPS APPKEY).
        #[arg(long, env = "SWITCHBOARD_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// RFC 1123 date; default now.
        #[arg(long)]
        date: Option<String>,
    },
    /// Yunxin: prints AppKey, Nonce, CurTime and CheckSum as curl -H arguments.
    Yunxin {
        /// The app's app_id (Yunxin AppKey).
        #[arg(long)]
        app_key: String,
        /// The app's app_secret (Yunxin AppSecret).
        #[arg(long, env = "SWITCHBOARD_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// Nonce; default random.
        #[arg(long)]
        nonce: Option<String>,
        /// Unix seconds; default now.
        #[arg(long)]
        cur_time: Option<i64>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`switchboard … | head`): nothing more to say, to anyone.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes one line to stdout, reporting a failed write rather than panicking as `println!`
/// does; every command prints through it. A reader that went away is [`StdoutClosed`].
pub fn outln(line: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => anyhow::Error::new(StdoutClosed),
            _ => anyhow::Error::new(e).context("writing to stdout"),
        })
}

/// Stdout's reader has gone (`switchboard … | head -1`): the command ends quietly, with
/// success, as a pipeline expects. Only writes to stdout raise it, so a broken connection
/// to a server is still an error.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_unpark(switchboard_server::coalesce::worker_unparked)
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve { server, world } => {
                let mut cfg = server.load()?;
                // Declared first, dropped last: the temporary directory outlives the server.
                let _tmp =
                    world.install(&mut cfg, server.listen.is_some(), server.chose_store())?;
                let (listener, lock) = start(&cfg).await?;
                serve(cfg, listener, None).await?;
                drop(lock);
                Ok(())
            }
            Command::Demo { server, world } => {
                let mut cfg = server.load_demo()?;
                let _tmp =
                    world.install(&mut cfg, server.listen.is_some(), server.chose_store())?;
                let (listener, lock) = start(&cfg).await?;
                demo::run(cfg, listener).await?;
                drop(lock);
                Ok(())
            }
            Command::Migrate(args) => {
                let cfg = args.load()?;
                dbfile::check_for_migrate(&cfg)?;
                let applied = switchboard_server::migrate(&cfg).await?;
                if applied.is_empty() {
                    outln("database is up to date")?;
                } else {
                    outln(format_args!("applied migrations: {applied:?}"))?;
                }
                Ok(())
            }
            Command::Import {
                server,
                tenant,
                file,
                batch,
                quiet,
            } => {
                let cfg = server.load()?;
                let lock = dbfile::lock_for_offline(&cfg, "importing")?;
                let args = import::ImportArgs {
                    tenant,
                    file,
                    batch: batch as usize,
                    quiet,
                };
                let done = import::run(cfg, args).await?;
                drop(lock);
                outln(format_args!(
                    "imported {} messages in {:.2} s ({:.0} messages/s)",
                    done.messages,
                    done.seconds,
                    done.messages as f64 / done.seconds.max(1e-9)
                ))?;
                Ok(())
            }
            Command::UpgradeDocuments { server, batch } => {
                let cfg = server.load()?;
                let lock = dbfile::lock_for_offline(&cfg, "upgrading documents")?;
                let store = switchboard_server::open_store(&cfg).await?;
                let (mut after, mut scanned, mut rewritten) = (None, 0u64, 0u64);
                loop {
                    let step = store.upgrade_documents(after, batch).await?;
                    scanned += step.scanned;
                    rewritten += step.rewritten;
                    match step.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                drop(store);
                drop(lock);
                outln(format_args!(
                    "looked at {scanned} messages, rewrote {rewritten} in the current form"
                ))
            }
            Command::Backup { server, to } => {
                let cfg = server.load()?;
                let bytes = switchboard_server::backup(&cfg, &to).await?;
                outln(format_args!(
                    "backed up to {} ({bytes} bytes)",
                    to.display()
                ))
            }
            Command::Restore { server, from } => {
                let cfg = server.load()?;
                // The lock keeps a server from opening the store while it is put in place.
                let lock = dbfile::lock_for_server(&cfg)?;
                let applied = switchboard_server::restore(&cfg, &from).await?;
                drop(lock);
                outln(format_args!(
                    "restored {} into {} ({} newer migrations applied)",
                    from.display(),
                    cfg.data_dir.display(),
                    applied.len()
                ))
            }
            Command::Admin(args) => admin::run(args).await,
            Command::Chat(args) => chat::run(args).await,
            Command::Dialog(args) => dialog::run(args).await,
            Command::Sign { dialect } => sign(dialect),
        }
    })
}

impl ServerArgs {
    /// Whether --data-dir or --database was given.
    fn chose_store(&self) -> bool {
        self.data_dir.is_some() || self.database.is_some()
    }

    /// The demo defaults to its own data directory, so it never touches a real one.
    fn load_demo(&self) -> anyhow::Result<Config> {
        let mut args = self.clone();
        if args.data_dir.is_none() && args.database.is_none() {
            args.data_dir = Some(PathBuf::from("./demo-data"));
        }
        args.load()
    }
}

/// What `serve` and `demo` do before anything else: take the address (a busy port fails
/// here, before a data directory, a database or an admin token exists), then the
/// database's lock. Only then is anything created.
async fn start(cfg: &Config) -> anyhow::Result<(TcpListener, Option<dbfile::DbLock>)> {
    switchboard_server::init_tracing(&cfg.log);
    let listener = bind(cfg.listen).await?;
    let lock = dbfile::lock_for_server(cfg)?;
    Ok((listener, lock))
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the address is already in use (is another server \
             running?); choose another with --listen, e.g. --listen {}",
            SocketAddr::new(addr.ip(), addr.port().checked_add(1).unwrap_or(8081))
        ),
        _ => anyhow::Error::new(e).context(format!("cannot listen on {addr}")),
    })
}

/// Called once the server listens, with its address and the admin token.
pub type Banner = Box<dyn FnOnce(SocketAddr, &str) + Send>;

/// Opens the store on an address already bound and runs the server until Ctrl-C or
/// SIGTERM. `banner` is printed once listening.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    banner: Option<Banner>,
) -> anyhow::Result<()> {
    let store = switchboard_server::open_store(&cfg).await?;
    let (token, generated) = switchboard_server::admin_token(&cfg)?;
    let clock = std::sync::Arc::new(switchboard_core::SystemClock);
    let core = switchboard_server::core_for(store, clock, &cfg);
    world::on_start(&core, &cfg).await?;
    let banner = world::banner(banner);
    let (app, events) = switchboard_server::build(core.clone(), token.clone(), &cfg);
    // `/metrics` on a listener of its own, when configured; it stops with the process.
    if let Some(addr) = cfg.metrics.own_listener()? {
        let metrics_listener = bind(addr).await?;
        let metrics_addr = metrics_listener.local_addr()?;
        if let Some(m) = switchboard_server::metrics_app(core, token.clone(), events.clone(), &cfg)
        {
            tracing::info!(addr = %metrics_addr, "metrics listening");
            let http = cfg.http.clone();
            tokio::spawn(async move {
                let forever = std::future::pending::<()>();
                if let Err(e) = switchboard_server::serve(metrics_listener, m, &http, forever).await
                {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
    }
    let (stop_events, events_stopped) = tokio::sync::watch::channel(false);
    let deliverer = events.start(events_stopped);
    let addr = listener.local_addr()?;
    if generated {
        // Printed once, on the terminal only: it is a credential, so it never goes to the log.
        let _ = writeln!(
            std::io::stderr(),
            "Generated admin token (stored in {}):\n  {}",
            cfg.data_dir.join("admin-token").display(),
            token.expose()
        );
    }
    tracing::info!(%addr, "switchboard listening");
    if let Some(b) = banner {
        b(addr, token.expose());
    }
    let closing = events.clone();
    let shutdown = async move {
        shutdown_signal().await;
        closing.close_streams();
    };
    switchboard_server::serve(listener, app, &cfg.http, shutdown).await?;
    // Attempts in progress are abandoned: their leases lapse and the next start (or
    // another node) makes them again, with the same event ids.
    let _ = stop_events.send(true);
    let _ = deliverer.await;
    tracing::info!("switchboard stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn sign(cmd: SignCommand) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let headers = match cmd {
        SignCommand::Wps {
            method,
            uri,
            content_type,
            body,
            app_id,
            app_secret,
            date,
        } => {
            let date = date.unwrap_or_else(|| switchboard_dialect_wps::kso_date(now));
            let mut h = switchboard_dialect_wps::sign_headers(
                &method.to_ascii_uppercase(),
                &uri,
                &content_type,
                body.as_bytes(),
                &app_id,
                &app_secret,
                &date,
            );
            if !content_type.is_empty() {
                h.insert(0, ("Content-Type".into(), content_type));
            }
            h
        }
        SignCommand::Yunxin {
            app_key,
            app_secret,
            nonce,
            cur_time,
        } => {
            let nonce = nonce.unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
            switchboard_dialect_yunxin::sign_headers(
                &app_key,
                &app_secret,
                &nonce,
                cur_time.unwrap_or(now),
            )
        }
    };
    // One curl argument per line, ready for `eval curl $(switchboard sign …) …`.
    for (k, v) in headers {
        outln(format_args!("-H '{k}: {v}'"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_argument_has_a_help_line() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "switchboard", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:#?}");
    }
}
