//! `switchboard`: the one binary. `serve` runs the server, `demo` runs it on a seeded
//! embedded store, `migrate` applies schema migrations, `admin` calls the admin API,
//! `sign` computes vendor request signatures for use with curl.

mod admin;
mod demo;
mod import;

use anyhow::Context;

// Every request allocates and frees short-lived buffers on two worker threads; mimalloc's
// thread-local free lists make that markedly cheaper than glibc's malloc (measured in
// docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use switchboard_server::config::{Config, Overrides};

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
    /// Address to listen on (overrides `listen`).
    #[arg(long)]
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
    Serve(ServerArgs),
    /// Run the server on an embedded store seeded with a demo tenant, and print how to call it.
    Demo {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Apply database migrations and exit.
    Migrate(ServerArgs),
    /// Bulk-import message history from a JSON Lines file straight into the database.
    Import {
        #[command(flatten)]
        server: ServerArgs,
        /// Canonical id of the tenant the messages belong to.
        #[arg(long)]
        tenant: i64,
        /// JSON Lines file, one message per line (see docs/admin-api.md, "Bulk import").
        file: PathBuf,
        /// Messages per transaction (at most 100,000). Larger batches import faster (each
        /// commit rewrites the last page of every chat it touches) and hold more in memory:
        /// about 400 MB at the default.
        #[arg(long, default_value_t = 50_000)]
        batch: usize,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Call the admin API of a running server.
    Admin(admin::AdminArgs),
    /// Compute a vendor's request signature headers, for curl.
    Sign {
        #[command(subcommand)]
        dialect: SignCommand,
    },
}

#[derive(Subcommand)]
enum SignCommand {
    /// WPS KSO-1: prints X-Kso-Date and X-Kso-Authorization.
    Wps {
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
        #[arg(long)]
        app_id: String,
        #[arg(long, env = "SWITCHBOARD_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// RFC 1123 date; default now.
        #[arg(long)]
        date: Option<String>,
    },
    /// Yunxin: prints AppKey, Nonce, CurTime and CheckSum.
    Yunxin {
        #[arg(long)]
        app_key: String,
        #[arg(long, env = "SWITCHBOARD_APP_SECRET", hide_env_values = true)]
        app_secret: String,
        /// Default: random.
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
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_unpark(switchboard_server::coalesce::worker_unparked)
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args.load()?, None).await,
            Command::Demo { server } => demo::run(server.load_demo()?).await,
            Command::Migrate(args) => {
                let cfg = args.load()?;
                let applied = switchboard_server::migrate(&cfg).await?;
                if applied.is_empty() {
                    println!("database is up to date");
                } else {
                    println!("applied migrations: {applied:?}");
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
                let args = import::ImportArgs {
                    tenant,
                    file,
                    batch,
                    quiet,
                };
                let done = import::run(server.load()?, args).await?;
                println!(
                    "imported {} messages in {:.2} s ({:.0} messages/s)",
                    done.messages,
                    done.seconds,
                    done.messages as f64 / done.seconds.max(1e-9)
                );
                Ok(())
            }
            Command::Admin(args) => admin::run(args).await,
            Command::Sign { dialect } => sign(dialect),
        }
    })
}

impl ServerArgs {
    /// The demo defaults to its own data directory, so it never touches a real one.
    fn load_demo(&self) -> anyhow::Result<Config> {
        let mut args = self.clone();
        if args.data_dir.is_none() && args.database.is_none() {
            args.data_dir = Some(PathBuf::from("./demo-data"));
        }
        args.load()
    }
}

/// Called once the server listens, with its address and the admin token.
pub type Banner = Box<dyn FnOnce(SocketAddr, &str) + Send>;

/// Runs the server until Ctrl-C or SIGTERM. `banner` is printed once listening.
pub async fn serve(cfg: Config, banner: Option<Banner>) -> anyhow::Result<()> {
    switchboard_server::init_tracing(&cfg.log);
    let store = switchboard_server::open_store(&cfg).await?;
    let (token, generated) = switchboard_server::admin_token(&cfg)?;
    let core = switchboard_server::core(store);
    let app = switchboard_server::build_app(core, token.clone(), &cfg);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "switchboard listening");
    if generated {
        // Printed once, on the terminal only: it is a credential, so it never goes to the log.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "Generated admin token (stored in {}):\n  {}",
            cfg.data_dir.join("admin-token").display(),
            token.expose()
        );
    }
    if let Some(b) = banner {
        b(addr, token.expose());
    }
    switchboard_server::serve(listener, app, &cfg.http, shutdown_signal()).await?;
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
    // One curl argument per line, ready to paste: curl $(switchboard sign … | tr '\n' ' ') …
    for (k, v) in headers {
        println!("-H '{k}: {v}'");
    }
    Ok(())
}
