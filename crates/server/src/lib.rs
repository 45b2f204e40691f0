//! Switchboard's HTTP server.
//!
//! - [`config`]: the layered configuration;
//! - [`admin`]: the admin API;
//! - [`build_app`]: the router nesting every dialect and the admin API over one [`Core`]
//!   ([`build`] also hands back the [`events::Events`] whose loops deliver events);
//! - [`files`]: the download path of a stored file's Yunxin `url`;
//! - [`events`]: event delivery (the outbox's router and deliverer, the webhook client);
//! - [`serve`] (`accept.rs`): runs a router on a listener until shutdown: the connection
//!   cap, the idle and header deadlines (`deadline.rs`), title-cased header names, a
//!   graceful drain;
//! - `timeout.rs`: the request timeout, answered in the envelope of the API called;
//! - [`metrics`]: Prometheus metrics at `/metrics`, and the access log;
//! - [`backup`], [`restore`]: the SQLite store's online copy and its return.

mod accept;
pub mod admin;
pub mod coalesce;
pub mod config;
mod deadline;
pub mod dialect_ids;
pub mod events;
pub mod files;
pub mod metrics;
mod paths;
mod timeout;

pub use accept::serve;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use config::{Backend, Config};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::model::Secret;
use switchboard_core::{Clock, Core, CoreConfig, Store, SystemClock};
use switchboard_store_sqlite::{SqliteOptions, SqliteStore};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// Shared state of the server's own routes (the dialects carry their own).
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub admin_token: Secret,
    pub events: events::Events,
}

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Opens the store the configuration selects, applying migrations.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    // Before the store starts its threads and pools, which register their metrics once.
    if cfg.metrics.enabled {
        metrics::install();
    }
    match cfg.backend()? {
        Backend::Sqlite(path) => {
            let opts = SqliteOptions {
                path: path.clone(),
                readers: cfg.sqlite.readers,
                wal_reset_frames: switchboard_store_sqlite::WAL_RESET_FRAMES,
                mmap_bytes: cfg.sqlite.mmap_mib.saturating_mul(1 << 20),
            };
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(opts))
                .await?
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            Ok(Arc::new(store))
        }
        Backend::Postgres(url) => {
            let store =
                switchboard_store_postgres::PostgresStore::connect(postgres_options(cfg, url))
                    .await
                    .context("connecting to PostgreSQL")?;
            Ok(Arc::new(store))
        }
    }
}

fn postgres_options(cfg: &Config, url: String) -> switchboard_store_postgres::PostgresOptions {
    let p = &cfg.postgres;
    let mut o = switchboard_store_postgres::PostgresOptions::new(url);
    o.pool_size = p.pool_size;
    o.connect_timeout = Duration::from_secs(p.connect_timeout_secs);
    o.acquire_timeout = Duration::from_secs(p.acquire_timeout_secs);
    o.statement_timeout =
        (p.statement_timeout_secs > 0).then(|| Duration::from_secs(p.statement_timeout_secs));
    o.cache = p.cache;
    o
}

/// Applies migrations only.
pub async fn migrate(cfg: &Config) -> anyhow::Result<Vec<i64>> {
    match cfg.backend()? {
        Backend::Sqlite(path) => {
            Ok(
                tokio::task::spawn_blocking(move || switchboard_store_sqlite::migrate(&path))
                    .await??,
            )
        }
        Backend::Postgres(url) => Ok(switchboard_store_postgres::migrate(&url)
            .await
            .context("migrating PostgreSQL")?),
    }
}

/// Copies the SQLite store to `to` while a server may be serving it (a consistent snapshot;
/// `to` must not exist). Returns the copy's size in bytes.
pub async fn backup(cfg: &Config, to: &Path) -> anyhow::Result<u64> {
    let db = match cfg.backend()? {
        Backend::Sqlite(db) => db,
        Backend::Postgres(_) => anyhow::bail!(
            "backup copies the SQLite store; back PostgreSQL up with pg_dump (docs/operations.md)"
        ),
    };
    let to = to.to_path_buf();
    let from = db.clone();
    tokio::task::spawn_blocking(move || switchboard_store_sqlite::backup::backup(&from, &to))
        .await?
        .with_context(|| format!("backing up {}", db.display()))
}

/// Puts the backup `from` in place as the SQLite store the configuration names, which must
/// not exist yet; applies newer migrations. Returns the migrations applied.
pub async fn restore(cfg: &Config, from: &Path) -> anyhow::Result<Vec<i64>> {
    let db = match cfg.backend()? {
        Backend::Sqlite(db) => db,
        Backend::Postgres(_) => anyhow::bail!(
            "restore puts back a SQLite store; restore PostgreSQL with pg_restore (docs/operations.md)"
        ),
    };
    let from = from.to_path_buf();
    let to = db.clone();
    tokio::task::spawn_blocking(move || switchboard_store_sqlite::backup::restore(&from, &to))
        .await?
        .with_context(|| format!("restoring into {}", db.display()))
}

/// The admin token: from the configuration, else from `data_dir/admin-token`, else a new
/// one written there (mode 0600). Returns the token and whether it was just generated.
pub fn admin_token(cfg: &Config) -> anyhow::Result<(Secret, bool)> {
    if !cfg.admin_token.is_empty() {
        return Ok((Secret::new(cfg.admin_token.clone()), false));
    }
    let path = cfg.data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        anyhow::ensure!(
            t.len() >= 16,
            "{} holds an invalid admin token; delete it to generate a new one",
            path.display()
        );
        return Ok((Secret::new(t), false));
    }
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let token = format!("sb_admin_{}", hex::encode(rand::random::<[u8; 24]>()));
    write_private(&path, &token)?;
    Ok((Secret::new(token), true))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Builds the core over `store` with the system clock.
pub fn core(store: Arc<dyn Store>) -> Core {
    core_with_clock(store, Arc::new(SystemClock))
}

pub fn core_with_clock(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Core {
    Core::new(store, clock, core_config())
}

/// The core as the configuration `cfg` sets it up (its `[files]` limits).
pub fn core_for(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cfg: &Config) -> Core {
    let config = CoreConfig {
        files: cfg.files.limits(),
        ..core_config()
    };
    Core::new(store, clock, config)
}

/// The domain's settings: its defaults, the scopes a new app is granted (the scopes the
/// APIs check: WPS, then Hi/Feishu) and the form of app ids (Feishu's, which every API
/// accepts).
pub fn core_config() -> CoreConfig {
    let scopes = switchboard_dialect_wps::auth::DEFAULT_SCOPES
        .iter()
        .chain(switchboard_dialect_lark::auth::DEFAULT_SCOPES);
    CoreConfig {
        default_scopes: scopes.map(|s| s.to_string()).collect(),
        app_id_prefix: switchboard_dialect_lark::ids::APP_ID_PREFIX.into(),
        ..CoreConfig::default()
    }
}

/// The dialects that render events, by name ("feishu", "hi", "wps", "yunxin"); Feishu's long
/// connections go through `lark_conns`, the registry the Lark router serves.
pub fn event_dialects(
    core: &Core,
    cfg: &Config,
    lark_conns: switchboard_dialect_lark::events::ws::LarkConnections,
) -> Vec<Arc<dyn switchboard_core::events::route::EventDialect>> {
    let mut v: Vec<Arc<dyn switchboard_core::events::route::EventDialect>> =
        switchboard_dialect_lark::events::LarkEvents::both(core.clone(), &cfg.lark, lark_conns)
            .into();
    v.push(Arc::new(switchboard_dialect_wps::events::WpsEvents::new(
        core.clone(),
        &cfg.wps,
    )));
    v.push(Arc::new(
        switchboard_dialect_yunxin::events::YunxinEvents::new(core.clone(), &cfg.yunxin),
    ));
    v
}

/// The whole HTTP surface: health probes, the admin API and every dialect. Event delivery
/// does not run: see [`build`].
pub fn build_app(core: Core, admin_token: Secret, cfg: &Config) -> Router {
    build(core, admin_token, cfg).0
}

/// `/metrics` alone, for `metrics.listen` (a listener of its own); `None` when metrics are
/// off or served on the main listener.
pub fn metrics_app(
    core: Core,
    admin_token: Secret,
    events: events::Events,
    cfg: &Config,
) -> Option<Router> {
    if !cfg.metrics.enabled || cfg.metrics.listen.is_empty() || metrics::install().is_none() {
        return None;
    }
    let state = AppState {
        core,
        admin_token,
        events,
    };
    Some(
        Router::new()
            .route("/metrics", get(metrics::scrape))
            .with_state(state),
    )
}

/// The router and the event delivery it shares state with; `Events::start` runs the
/// deliverer's loops.
pub fn build(core: Core, admin_token: Secret, cfg: &Config) -> (Router, events::Events) {
    // One registry of Feishu long connections: the router's WebSocket handler fills it,
    // the deliverer pushes through it.
    let lark_conns = switchboard_dialect_lark::events::ws::LarkConnections::new(&cfg.lark);
    let events = events::Events::new(
        core.clone(),
        cfg.events.clone(),
        event_dialects(&core, cfg, lark_conns.clone()),
    );
    // WPS user credentials (`wps_sid`) are keyed from the admin token: see user_token.rs.
    let sid_key =
        switchboard_dialect_wps::user_token::SidKey::from_admin_token(admin_token.expose());
    let state = AppState {
        core: core.clone(),
        admin_token,
        events: events.clone(),
    };
    let request_id = HeaderName::from_static(REQUEST_ID);
    let metrics_on = cfg.metrics.enabled && metrics::install().is_some();
    let mut own = Router::new();
    if metrics_on && cfg.metrics.listen.is_empty() {
        own = own.route("/metrics", get(metrics::scrape));
    }
    let console_token = state.admin_token.expose().to_string();
    let routes = own
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        // Liveness: the process answers. Readiness (`/readyz`) also needs the store.
        .route("/livez", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .with_state(state.clone())
        .merge(admin::router(state))
        .merge(switchboard_dialect_wps::router(
            core.clone(),
            cfg.wps.clone(),
            sid_key,
        ))
        .merge(switchboard_dialect_lark::router(
            core.clone(),
            cfg.lark.clone(),
            lark_conns,
        ))
        .merge(files::router(core.clone(), cfg.yunxin.clone()))
        .merge(switchboard_dialect_yunxin::router(
            core.clone(),
            cfg.yunxin.clone(),
        ));
    // The console calls the routes above in process (it has no other way to the data).
    let routes = if cfg.console.enabled {
        let console = switchboard_console::Console::new(routes.clone(), core, console_token)
            .ending_with(events.streams_closing());
        routes.merge(switchboard_console::router(console))
    } else {
        routes
    };
    // Metrics and the access log cost nothing when both are off: neither layer is there.
    let observe = metrics_on || cfg.log.access;
    let routes = if observe {
        // Tells the outer layer which route matched (runs only when one did).
        routes.route_layer(tower::util::MapRequestLayer::new(
            metrics::note_route::<axum::body::Body>,
        ))
    } else {
        routes
    };
    let routes = routes.fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "code": "not_found", "message": "no such endpoint" })),
        )
    });
    // The shared layers wrap the router once, outermost first. (`Router::layer` would wrap
    // every route separately, and each request would then clone one boxed service per
    // layer.)
    let layers = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
        .layer(
            TraceLayer::new_for_http()
                // A span per request at debug level: with its three formatted fields it cost
                // about a tenth of a cached get's CPU time at the default level (measured
                // in docs/performance.md). Server errors are logged at any level below.
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: query strings may carry ids but never credentials;
                    // headers (tokens, signatures) are not logged at all.
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(log_server_errors)
                // Failures are the 5xx answers logged above.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .option_layer(observe.then(|| metrics::Observe::new(metrics_on, cfg.log.access)))
        .layer(timeout::RequestTimeoutLayer(Duration::from_secs(
            cfg.http.request_timeout_secs,
        )))
        // Body size is enforced by the extractors, so each dialect answers oversize bodies
        // in its own envelope.
        .layer(DefaultBodyLimit::max(cfg.http.body_limit_bytes));
    (
        Router::new().fallback_service(layers.service(routes)),
        events,
    )
}

/// Logs every 5xx answer with its request id (the response carries it), whatever the log
/// level; other answers are logged only at debug level, inside the request's span.
fn log_server_errors<B>(res: &axum::http::Response<B>, latency: Duration, _: &tracing::Span) {
    let status = res.status();
    if status.is_server_error() {
        let id = res
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::error!(status = status.as_u16(), latency_ms = latency.as_millis() as u64, request_id = %id, "request answered with a server error");
    } else {
        tracing::debug!(
            status = status.as_u16(),
            latency_ms = latency.as_millis() as u64,
            "answered"
        );
    }
}

/// Request ids: random UUIDs (version 4), like tower-http's `MakeRequestUuid`, but drawn
/// from the thread-local CSPRNG instead of a `getrandom` system call per request.
#[derive(Clone, Copy, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut b: [u8; 16] = rand::random();
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 36];
        let mut i = 0;
        for (n, byte) in b.iter().enumerate() {
            if matches!(n, 4 | 6 | 8 | 10) {
                out[i] = b'-';
                i += 1;
            }
            out[i] = HEX[(byte >> 4) as usize];
            out[i + 1] = HEX[(byte & 0xf) as usize];
            i += 2;
        }
        axum::http::HeaderValue::from_bytes(&out)
            .ok()
            .map(RequestId::new)
    }
}

/// Ready: the store answers (its migrations were applied when it opened: a server whose
/// store failed to migrate never starts) and event delivery runs as configured.
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if !s.events.healthy() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "event delivery is not running" })),
        );
    }
    match s.core.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "the store does not answer" })),
            )
        }
    }
}

/// Installs the global tracing subscriber (text or JSON). `RUST_LOG` overrides the level.
pub fn init_tracing(cfg: &config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    // Colours only on a terminal: a log file gets plain text (and formatting the request
    // span's fields without escape codes is cheaper on every request).
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_logged_with_their_request_id_at_the_default_level() {
        #[derive(Clone, Default)]
        struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let answer = |status: StatusCode, id: &str| {
                axum::http::Response::builder()
                    .status(status)
                    .header(REQUEST_ID, id)
                    .body(())
                    .unwrap()
            };
            let span = tracing::Span::none();
            log_server_errors(
                &answer(StatusCode::OK, "ok-id"),
                Duration::from_millis(1),
                &span,
            );
            log_server_errors(
                &answer(StatusCode::NOT_FOUND, "missing-id"),
                Duration::from_millis(1),
                &span,
            );
            log_server_errors(
                &answer(StatusCode::SERVICE_UNAVAILABLE, "down-id"),
                Duration::from_millis(7),
                &span,
            );
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("ERROR"), "{out}");
        assert!(
            out.contains("status=503") && out.contains("request_id=down-id"),
            "{out}"
        );
        assert!(
            !out.contains("ok-id") && !out.contains("missing-id"),
            "{out}"
        );
    }

    #[test]
    fn request_ids_are_distinct_v4_uuids() {
        let req = Request::new(());
        let mut make = RandomRequestId;
        let a = make.make_request_id(&req).unwrap();
        let b = make.make_request_id(&req).unwrap();
        let a = a.header_value().to_str().unwrap().to_string();
        assert_ne!(a, b.header_value().to_str().unwrap());
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "version 4: {a}");
        assert!("89ab".contains(&groups[3][..1]), "RFC 4122 variant: {a}");
        assert!(a
            .bytes()
            .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
    }
}
