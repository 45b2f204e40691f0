//! `switchboard-bench`: seeds a dataset, runs `switchboard serve` on it and the bare baseline
//! server beside it, drives both with wrk from precomputed, correctly authenticated request
//! lists, and reports throughput, latency, server CPU per request and the ratios.
//!
//! Run it through `scripts/bench`, which builds the binaries and installs wrk first.
//! What is measured and why is in `docs/performance.md`.
//!
//! - [`mod@dataset`]: provisioning, the JSON Lines history and `switchboard import`;
//! - [`requests`]: per-dialect signed requests, as wrk replays them;
//! - [`load`]: server processes, wrk, `/proc` readings, the pre-flight check;
//! - [`report`]: the tables.

mod dataset;
mod events;
mod inproc;
mod load;
mod receiver;
mod report;
mod requests;

use anyhow::{ensure, Context};

// The same allocator as the `switchboard` binary, so that `--inproc` measures what the
// server does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;
use load::{Measurement, Server, Wrk};
use report::{DatasetResult, Report};
use requests::{Builder, Creds, Workload};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(name = "switchboard-bench", about = "Seed, serve, load and measure")]
struct Args {
    /// Small and quick (10k messages, 2 s per measurement): keeps the harness working in CI.
    /// Asserts that every request succeeds, nothing about speed.
    #[arg(long)]
    smoke: bool,
    /// Messages in the largest dataset. Datasets of 10k and 1M (when smaller) are measured
    /// too; the dialect targets are read at min(this, 1M).
    #[arg(long)]
    messages: Option<u64>,
    /// Seconds of load per measurement.
    #[arg(long)]
    duration: Option<u64>,
    #[arg(long, default_value_t = 64)]
    connections: u32,
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// PostgreSQL: `auto` (the server at 127.0.0.1:5432 if it answers, else a throwaway
    /// durable cluster), `off`, or an admin URL (a user allowed to CREATE DATABASE).
    #[arg(long, default_value = "auto")]
    postgres: String,
    /// `off` skips the SQLite datasets (to measure PostgreSQL alone); `on` by default.
    #[arg(long, default_value = "on")]
    sqlite: String,
    /// Messages in the PostgreSQL dataset (default: the SQLite primary size, at most 1M).
    /// Its bulk import runs at a few thousand messages/s, so a smaller one saves minutes.
    #[arg(long)]
    postgres_messages: Option<u64>,
    /// Working directory (datasets, request lists, logs, results).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Where the switchboard and switchboard-bench-baseline binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Keep the datasets afterwards.
    #[arg(long)]
    keep: bool,
    /// Messages per import transaction (`switchboard import --batch`); its default if unset.
    #[arg(long)]
    import_batch: Option<usize>,
    /// Instead of the benchmark: send this many requests per dialect straight to the
    /// router, in this process (no socket, no wrk), over a SQLite dataset of --messages
    /// (default 10k), and print µs per request. For profilers (callgrind, perf).
    #[arg(long, value_name = "REQUESTS")]
    inproc: Option<usize>,
    /// With --inproc: only this dialect (wps, feishu or yunxin).
    #[arg(long)]
    only: Option<String>,
    /// The SQLite server's `[sqlite] mmap_mib` (0, its default: off).
    #[arg(long, default_value_t = 0, value_name = "MIB")]
    sqlite_mmap_mib: u64,
    /// Events in the backlog whose delivery the events benchmark times (500 in a smoke run).
    #[arg(long, default_value_t = 100_000, value_name = "EVENTS")]
    event_backlog: u64,
}

const PG_LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Everything one dataset needs.
struct Ctx {
    args: Args,
    work: PathBuf,
    bin: PathBuf,
    wrk: Wrk,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.inproc {
        return inproc_main(args, n).await;
    }
    let largest = args
        .messages
        .unwrap_or(if args.smoke { 10_000 } else { 1_000_000 });
    ensure!(largest >= 1_000, "--messages must be at least 1000");
    let seconds = args.duration.unwrap_or(if args.smoke { 2 } else { 10 });
    let primary = largest.min(1_000_000);
    let mut sizes = vec![largest];
    for s in [10_000, 1_000_000] {
        if s < largest && !args.smoke {
            sizes.push(s);
        }
    }
    sizes.sort_unstable();

    std::fs::create_dir_all(&args.work)?;
    let work = std::fs::canonicalize(&args.work)?;
    let bin = std::fs::canonicalize(&args.bin_dir)
        .with_context(|| format!("binary directory {}", args.bin_dir.display()))?;
    let lua = work.join("replay.lua");
    std::fs::write(&lua, include_str!("../replay.lua"))?;
    let wrk = Wrk {
        bin: args.wrk.clone(),
        lua,
        threads: args.threads,
        connections: args.connections,
        seconds,
    };
    let mut report = Report::start(
        &args_line(),
        seconds,
        args.connections,
        args.threads,
        primary,
    );
    report.sqlite_mmap_mib = args.sqlite_mmap_mib;
    report.smoke = args.smoke;
    let ctx = Ctx {
        args,
        work,
        bin,
        wrk,
    };

    ensure!(
        matches!(ctx.args.sqlite.as_str(), "on" | "off"),
        "--sqlite is on or off"
    );
    for &size in sizes.iter().filter(|_| ctx.args.sqlite == "on") {
        let r = dataset(&ctx, StoreKind::Sqlite, size, size == primary, None).await?;
        report.datasets.push(r);
    }

    let pg = ctx.args.postgres.clone();
    if pg != "off" {
        let (url, _cluster) = postgres_admin(&pg).await?;
        std::env::set_var(switchboard_store_postgres::testing::URL_ENV, &url);
        let db = switchboard_store_postgres::testing::fresh_database().await;
        let size = ctx.args.postgres_messages.unwrap_or(primary).max(1_000);
        let r = dataset(&ctx, StoreKind::Postgres, size, true, Some(db.url())).await?;
        report.datasets.push(r);
        report.postgres = Some(describe_pg(&url).await);
        drop(db);
    }

    report.finish();
    let md = report.markdown();
    println!("\n{md}");
    let out = ctx.work.join("results.md");
    std::fs::write(&out, &md)?;
    std::fs::write(
        ctx.work.join("results.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!("results: {}", out.display());
    Ok(())
}

fn args_line() -> String {
    let a: Vec<String> = std::env::args().skip(1).collect();
    format!("scripts/bench {}", a.join(" "))
        .trim_end()
        .to_string()
}

/// The admin URL to use, and the throwaway cluster behind it when one had to be started.
async fn postgres_admin(
    mode: &str,
) -> anyhow::Result<(String, Option<switchboard_store_postgres::testing::Cluster>)> {
    if mode != "auto" {
        return Ok((mode.to_string(), None));
    }
    if tokio_postgres::connect(PG_LOCAL, tokio_postgres::NoTls)
        .await
        .is_ok()
    {
        return Ok((PG_LOCAL.to_string(), None));
    }
    eprintln!("bench: no PostgreSQL at 127.0.0.1:5432; starting a throwaway durable cluster");
    let cluster =
        tokio::task::spawn_blocking(|| switchboard_store_postgres::testing::Cluster::start(true))
            .await?;
    Ok((cluster.url.clone(), Some(cluster)))
}

async fn describe_pg(url: &str) -> String {
    let q = async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        let mut parts = Vec::new();
        for s in [
            "server_version",
            "fsync",
            "synchronous_commit",
            "shared_buffers",
        ] {
            let row = client.query_one(&format!("SHOW {s}"), &[]).await?;
            parts.push(format!("{s}={}", row.get::<_, String>(0)));
        }
        Ok::<_, tokio_postgres::Error>(parts.join(", "))
    };
    q.await.unwrap_or_else(|e| format!("unknown ({e})"))
}

async fn pg_size(url: &str) -> anyhow::Result<u64> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Transactions the dataset's database has ended so far (`pg_stat_database`).
async fn pg_xacts(url: &str) -> anyhow::Result<i64> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// A backend publishes its counts at most once a second, and the last second's when it
/// has been idle for ten (PGSTAT_IDLE_INTERVAL).
const PG_STATS_SETTLE: std::time::Duration = std::time::Duration::from_secs(11);

/// Runs `wrk` against `server`, and on PostgreSQL (outside a smoke run) also counts the
/// database transactions per request.
async fn measure(
    ctx: &Ctx,
    server: &Server,
    prefix: &Path,
    unique: bool,
    pg_url: Option<&str>,
) -> anyhow::Result<load::Measurement> {
    let url = pg_url.filter(|_| !ctx.args.smoke);
    let before = match url {
        Some(u) => Some(pg_xacts(u).await?),
        None => None,
    };
    let pg_cpu = pg_url.map(|_| load::postgres_cpu_secs());
    let mut m = ctx.wrk.run(server, prefix, unique)?;
    if let Some(before) = pg_cpu {
        m.pg_cpu_us = Some((load::postgres_cpu_secs() - before) * 1e6 / m.requests as f64);
    }
    if let (Some(u), Some(before)) = (url, before) {
        tokio::time::sleep(PG_STATS_SETTLE).await;
        // The counter's own reading transactions and the checks before the load are a
        // few hundred against the tens of thousands counted.
        let after = pg_xacts(u).await?;
        m.pg_xacts_per_req = Some((after - before) as f64 / m.requests as f64);
    }
    Ok(m)
}

/// The PostgreSQL counterpart of `dataset::warm_sqlite`: reads every table and index of the
/// dataset's database into the OS page cache with `pg_prewarm`. Best effort: `None` when
/// the extension is not available to this user.
async fn warm_pg(url: &str) -> anyhow::Result<Option<u64>> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    if client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .await
        .is_err()
    {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT coalesce(sum(pg_prewarm(oid::regclass, 'read')), 0)::bigint * current_setting('block_size')::bigint
             FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'i')",
            &[],
        )
        .await?;
    Ok(Some(row.get::<_, i64>(0) as u64))
}

fn write_config(dir: &Path, database: Option<&str>, mmap_mib: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join("switchboard.toml");
    let db = database.unwrap_or("");
    // Rate limits are off: they exist to protect a server from one app, and the load here
    // is one app on purpose. Everything else is the default.
    let toml = format!(
        r#"data_dir = "{}"
database = "{db}"
admin_token = "bench-admin-token-not-secret"

[wps]
rate_limit_per_sec = 0

[lark]
rate_limit_per_second = 0
rate_limit_per_minute = 0

[yunxin]
rate_limit_per_second = 0

[sqlite]
mmap_mib = {mmap_mib}
"#,
        dir.display()
    );
    std::fs::write(&path, toml)?;
    Ok(path)
}

/// A seeded dataset, not served yet.
struct Seeded {
    dir: PathBuf,
    config: PathBuf,
    cfg: switchboard_server::config::Config,
    world: dataset::World,
    imported: dataset::Imported,
}

/// Provisions the world through the use cases and imports `size` messages.
async fn seed(
    ctx: &Ctx,
    store: StoreKind,
    size: u64,
    pg_url: Option<&str>,
) -> anyhow::Result<Seeded> {
    let dir = ctx.work.join(format!("{}-{size}", store.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let config = write_config(&dir, pg_url, ctx.args.sqlite_mmap_mib)?;
    eprintln!(
        "bench: {} dataset of {size} messages in {}",
        store.name(),
        dir.display()
    );

    let cfg = switchboard_server::config::Config::load(
        Some(&config),
        &switchboard_server::config::Overrides::default(),
    )?;
    let mut world = {
        let st = switchboard_server::open_store(&cfg).await?;
        let core = switchboard_server::core(st);
        dataset::provision(&core).await?
    };
    let jsonl = dataset::jsonl_path(&ctx.work, size);
    let t = Instant::now();
    dataset::write_jsonl(&mut world, size, &jsonl, 0x5eed ^ size)?;
    eprintln!(
        "bench: wrote {} ({:.1} MB) in {:.1} s; importing",
        jsonl.display(),
        std::fs::metadata(&jsonl)?.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let imported = dataset::import(
        &ctx.bin,
        &config,
        world.tenant,
        &jsonl,
        ctx.args.smoke,
        ctx.args.import_batch,
    )?;
    if !ctx.args.keep {
        std::fs::remove_file(&jsonl)?;
    }
    ensure!(
        imported.messages == size && world.total() == size,
        "imported {} of {size} messages",
        imported.messages
    );
    eprintln!(
        "bench: imported {} messages in {:.2} s ({:.0} messages/s)",
        imported.messages, imported.seconds, imported.rate
    );
    Ok(Seeded {
        dir,
        config,
        cfg,
        world,
        imported,
    })
}

/// Seeds one dataset, serves it, measures every workload on it.
async fn dataset(
    ctx: &Ctx,
    store: StoreKind,
    size: u64,
    primary: bool,
    pg_url: Option<&str>,
) -> anyhow::Result<DatasetResult> {
    let Seeded {
        dir,
        config,
        cfg,
        world,
        imported,
    } = seed(ctx, store, size, pg_url).await?;
    let server = Server::switchboard(&ctx.bin, &config, &dir).await?;
    let creds = tokens(&server, &world).await?;
    let host = server.addr.to_string();
    let mut builder = Builder::new(&world, &creds, size);
    let mut result = DatasetResult::new(store.name(), size, imported);

    let secs = ctx.wrk.seconds;
    let threads = ctx.wrk.threads;
    // Enough distinct requests that no dialect's list is replayed within a run (100k/s for
    // a second longer than asked, since wrk overshoots short runs: above anything a dialect
    // reaches on this machine): Yunxin nonces are single-use, and a replayed list would
    // read the same few ids again, from a warm cache, instead of ids random across the
    // dataset. Only the baseline, which looks nothing up, cycles a short list.
    let unique = ((secs as usize + 1) * 100_000).div_ceil(threads as usize) + 5_000;
    let cycled = 50_000usize;

    // The bare server's request list (the WPS get path), replayed right before each dialect:
    // each ratio compares two runs a few seconds apart, so a neighbour's load that comes
    // and goes on a shared machine weighs on both sides alike.
    let base_prefix = ctx.work.join("req-baseline");
    requests::write_files(
        &mut builder,
        Workload::Baseline,
        &host,
        threads,
        cycled,
        &base_prefix,
    )?;
    for w in [Workload::Wps, Workload::Feishu, Workload::Yunxin] {
        let base = Server::baseline(&ctx.bin)?;
        let checks: Vec<_> = (0..10).map(|_| builder.next(Workload::Baseline)).collect();
        load::check(&base, &checks, false).await?;
        let m = ctx.wrk.run(&base, &base_prefix, false)?;
        progress(Workload::Baseline, size, &m);
        result.baselines.push((w, m));
        base.stop()?;

        let checks: Vec<_> = (0..50).map(|_| builder.next(w)).collect();
        let body = load::check(&server, &checks, w == Workload::Yunxin).await?;
        let prefix = ctx.work.join(format!("req-{}", w.name()));
        requests::write_files(&mut builder, w, &host, threads, unique, &prefix)?;
        let t = Instant::now();
        let warmed = match pg_url {
            None => Some(dataset::warm_sqlite(&dir)?),
            Some(url) => warm_pg(url).await?,
        };
        match warmed {
            Some(bytes) => eprintln!(
                "bench: read {:.0} MB of database to warm the page cache in {:.1} s",
                bytes as f64 / 1e6,
                t.elapsed().as_secs_f64()
            ),
            None => eprintln!("bench: pg_prewarm is not available; the page cache is not warmed"),
        }
        let m = measure(ctx, &server, &prefix, true, pg_url).await?;
        // Yunxin answers errors with HTTP 200, so wrk cannot count them: a run of errors
        // would show as responses much shorter than the message bodies checked above.
        ensure!(
            m.bytes_per_response >= body * 0.9,
            "{}: {:.0} bytes per response under load, but message bodies average {body:.0}: errors?",
            w.name(),
            m.bytes_per_response
        );
        progress(w, size, &m);
        result.gets.push((w, m));
    }
    let (rss, peak, file) = load::rss(server.pid())?;
    result.rss = rss;
    result.rss_peak = peak;
    result.rss_file = file;

    let mut acked = 0;
    let mut live = None;
    if primary {
        for w in [Workload::Send, Workload::SendKeyed] {
            let checks: Vec<_> = (0..5).map(|_| builder.next(w)).collect();
            load::check(&server, &checks, false).await?;
            let prefix = ctx.work.join(format!("req-{}", w.name()));
            requests::write_files(&mut builder, w, &host, threads, unique, &prefix)?;
            let m = measure(ctx, &server, &prefix, false, pg_url).await?;
            progress(w, size, &m);
            acked += m.requests + checks.len() as u64;
            match w {
                Workload::Send => result.send = Some(m),
                _ => result.send_keyed = Some(m),
            }
        }
        let l = events::live(ctx, &server, &cfg, &world, &mut builder, &dir).await?;
        acked += l.acked;
        live = Some(l);
    }
    server.stop()?;

    result.db_bytes = match pg_url {
        Some(url) => pg_size(url).await?,
        None => dataset::sqlite_size(&dir),
    };
    if primary {
        // Every acknowledged send must be in the store (the server has stopped).
        let st = switchboard_server::open_store(&cfg).await?;
        let core = switchboard_server::core(st);
        let mut stored = 0i64;
        for c in &world.chats {
            stored += core.chat(world.tenant, *c).await?.last_position;
        }
        let sent = stored - size as i64;
        ensure!(
            sent >= acked as i64,
            "{acked} sends were acknowledged but only {sent} are stored"
        );
        result.send_stored = sent as u64;
    }
    if let Some(l) = live {
        result.events = Some(l.drain(ctx, &config, &dir, &world).await?);
    }
    if !ctx.args.keep {
        std::fs::remove_dir_all(&dir)?;
    }
    for f in std::fs::read_dir(&ctx.work)? {
        let p = f?.path();
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("req-"))
        {
            std::fs::remove_file(p)?;
        }
    }
    Ok(result)
}

fn progress(w: Workload, size: u64, m: &Measurement) {
    eprintln!(
        "bench: {:<9} {size:>9} msgs  {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  p99.9 {:>6.2} ms  {:>6.1} µs CPU/req",
        w.name(),
        m.rps,
        m.p50_ms,
        m.p99_ms,
        m.p999_ms,
        m.cpu_us
    );
    if let Some(pg) = m.pg_cpu_us {
        eprintln!("bench:           PostgreSQL's processes: {pg:.1} µs CPU/req");
    }
}

async fn inproc_main(args: Args, n: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.work)?;
    let work = std::fs::canonicalize(&args.work)?;
    let bin = std::fs::canonicalize(&args.bin_dir)?;
    let size = args.messages.unwrap_or(10_000);
    let wrk = Wrk {
        bin: args.wrk.clone(),
        lua: PathBuf::new(),
        threads: 1,
        connections: 1,
        seconds: 1,
    };
    let ctx = Ctx {
        args,
        work,
        bin,
        wrk,
    };
    let s = seed(&ctx, StoreKind::Sqlite, size, None).await?;
    switchboard_server::init_tracing(&s.cfg.log);
    let store = switchboard_server::open_store(&s.cfg).await?;
    let core = switchboard_server::core(store);
    let now = core.clock().now_secs();
    let app = switchboard_server::build_app(
        core,
        switchboard_core::model::Secret::new(s.cfg.admin_token.clone()),
        &s.cfg,
    );
    let creds = inproc::creds(&s.world, now);
    let mut builder = Builder::new(&s.world, &creds, size);
    for (w, us) in inproc::run(app, &mut builder, n, ctx.args.only.as_deref()).await? {
        println!(
            "inproc {:<8} {us:8.2} µs/request ({n} requests, {size} messages)",
            w.name()
        );
    }
    if !ctx.args.keep {
        std::fs::remove_dir_all(&s.dir)?;
    }
    Ok(())
}

/// Fetches a WPS access token and a Feishu tenant token the way clients do.
async fn tokens(server: &Server, world: &dataset::World) -> anyhow::Result<Creds> {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let app = &world.app;
    let wps: serde_json::Value = client
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.app_id.as_str()),
            ("client_secret", app.app_secret.expose()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let lark: serde_json::Value = client
        .post(format!(
            "{base}/open-apis/auth/v3/tenant_access_token/internal"
        ))
        .json(&serde_json::json!({ "app_id": app.app_id, "app_secret": app.app_secret.expose() }))
        .send()
        .await?
        .json()
        .await?;
    Ok(Creds {
        wps_token: wps["access_token"]
            .as_str()
            .with_context(|| format!("no WPS token: {wps}"))?
            .to_string(),
        lark_token: lark["tenant_access_token"]
            .as_str()
            .with_context(|| format!("no Feishu token: {lark}"))?
            .to_string(),
    })
}
