//! One typed configuration, layered: defaults, then the TOML file, then `SWITCHBOARD_*`
//! environment variables (nested keys joined by `__`, e.g. `SWITCHBOARD_WPS__SIGNATURE_SKEW_SECS`),
//! then command-line flags. `config/example.toml` documents every option.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on: `IP:PORT`, or `localhost:PORT` for 127.0.0.1.
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: SocketAddr,
    /// Where the embedded database and the generated admin token live.
    pub data_dir: PathBuf,
    /// Database URL. Empty: SQLite in `data_dir`. `sqlite:///path/file.db` or `postgres://…`.
    pub database: String,
    /// Bearer token of the admin API. Empty: generated at first start into `data_dir`.
    pub admin_token: String,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub console: ConsoleConfig,
    pub http: HttpConfig,
    pub sqlite: SqliteConfig,
    pub postgres: PostgresConfig,
    pub files: FilesConfig,
    pub events: crate::events::EventsConfig,
    pub wps: switchboard_dialect_wps::Config,
    pub lark: switchboard_dialect_lark::Config,
    pub yunxin: switchboard_dialect_yunxin::Config,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter, e.g. `info` or `switchboard=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// One line per request (target `switchboard::access`): request id, dialect, route
    /// template, method, status, latency and the calling app. Off by default: it costs
    /// each request a formatted line.
    pub access: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Count and time requests, and serve them in the Prometheus text format.
    pub enabled: bool,
    /// Where `/metrics` is served: empty for the main listener, or `IP:PORT` for a
    /// listener of its own (which then serves nothing else).
    pub listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the web console at `/console` (signed in with the admin token).
    pub enabled: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: String::new(),
        }
    }
}

impl MetricsConfig {
    /// The separate listener's address, if one is configured.
    pub fn own_listener(&self) -> anyhow::Result<Option<SocketAddr>> {
        if self.listen.is_empty() {
            return Ok(None);
        }
        let addr = self.listen.replacen("localhost:", "127.0.0.1:", 1);
        addr.parse().map(Some).map_err(|_| {
            anyhow::anyhow!(
                "metrics.listen must be IP:PORT or empty, not {:?}",
                self.listen
            )
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// A request taking longer than this is answered 408, in its API's error envelope.
    pub request_timeout_secs: u64,
    /// A connection that sends no byte of a request for this long after it opened, or after
    /// its previous answer, is closed (the keep-alive idle timeout).
    pub idle_timeout_secs: u64,
    /// A request whose headers are not complete this long after its first byte is dropped
    /// with its connection (clients that trickle headers to hold connections open).
    pub header_read_timeout_secs: u64,
    /// Connections open at once; more wait to be accepted until one closes. Lowered at
    /// start to fit the process's open-files limit.
    pub max_connections: usize,
    /// On SIGTERM or Ctrl-C: how long requests in progress may take to finish before the
    /// server exits anyway.
    pub shutdown_grace_secs: u64,
    /// A busy worker thread writes the answers it computed in one turn together, so that a
    /// client on the same machine (a proxy, a load generator) is woken once for several of
    /// them. More requests/s and less CPU per request under load; an answer may wait for
    /// the others of its turn (well under a millisecond).
    pub coalesce_writes: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// Read connections kept open.
    pub readers: usize,
    /// MiB of the database file each read connection maps into memory (0: off). Reads of
    /// pages outside the connection's page cache then skip a system call and a copy each
    /// (fewer µs per get on a database larger than that cache), but every page read counts
    /// in the process's resident size, and a disk error on a mapped page stops the process
    /// (SIGBUS) where an unmapped read would fail one request: hence off by default.
    pub mmap_mib: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connections this node keeps at most. The pools of all nodes together must fit in the
    /// server's max_connections (less a reserve): e.g. 100 and 4 nodes allow about 20 each.
    pub pool_size: usize,
    /// Limit on opening one connection, in seconds.
    pub connect_timeout_secs: u64,
    /// Limit on waiting for a free pooled connection, in seconds; past it the request fails
    /// as "service unavailable" instead of hanging.
    pub acquire_timeout_secs: u64,
    /// Server-side limit on one statement, in seconds (0: the server's own setting).
    pub statement_timeout_secs: u64,
    /// Cache apps and users in this node, kept coherent with the other nodes by
    /// LISTEN/NOTIFY on one extra connection. Turn off behind a pooler that does not keep
    /// sessions (PgBouncer in transaction mode).
    pub cache: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            pool_size: 16,
            connect_timeout_secs: 5,
            acquire_timeout_secs: 5,
            statement_timeout_secs: 30,
            cache: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            database: String::new(),
            admin_token: String::new(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            console: ConsoleConfig::default(),
            http: HttpConfig::default(),
            sqlite: SqliteConfig::default(),
            postgres: PostgresConfig::default(),
            files: FilesConfig::default(),
            events: Default::default(),
            wps: Default::default(),
            lark: Default::default(),
            yunxin: Default::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
            access: false,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            idle_timeout_secs: 75,
            header_read_timeout_secs: 10,
            max_connections: 10_000,
            shutdown_grace_secs: 30,
            coalesce_writes: true,
        }
    }
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            readers: 4,
            mmap_mib: 0,
        }
    }
}

/// Top-level keys of [`Config`], for picking `SWITCHBOARD_*` variables that configure it.
const CONFIG_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database",
    "admin_token",
    "log",
    "metrics",
    "http",
    "sqlite",
    "postgres",
    "files",
    "events",
    "wps",
    "lark",
    "yunxin",
];

/// Flags given on the command line; they override every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Config {
    /// Loads the layered configuration. A missing explicit file is an error; a missing
    /// default file (`switchboard.toml` in the working directory) is not.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(p) => {
                anyhow::ensure!(p.exists(), "config file {} does not exist", p.display());
                fig = fig.merge(Toml::file(p));
            }
            None => fig = fig.merge(Toml::file("switchboard.toml")),
        }
        // Only variables naming a config key: SWITCHBOARD_URL, SWITCHBOARD_APP_SECRET (used
        // by the command-line clients) and the test variables are not configuration.
        fig = fig.merge(
            Env::prefixed("SWITCHBOARD_")
                .filter(|k| {
                    let top = k
                        .as_str()
                        .split("__")
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    CONFIG_KEYS.contains(&top.as_str())
                })
                .split("__"),
        );
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", describe(e)))?;
        if let Some(l) = overrides.listen {
            cfg.listen = l;
        }
        if let Some(d) = &overrides.database {
            cfg.database = d.clone();
        }
        if let Some(d) = &overrides.data_dir {
            cfg.data_dir = d.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format must be \"text\" or \"json\", not {:?}",
            self.log.format
        );
        self.metrics.own_listener()?;
        self.files.validate()?;
        anyhow::ensure!(
            self.http.body_limit_bytes >= 1024,
            "http.body_limit_bytes must be at least 1024"
        );
        anyhow::ensure!(
            self.http.request_timeout_secs >= 1,
            "http.request_timeout_secs must be at least 1"
        );
        for (value, key) in [
            (self.http.idle_timeout_secs, "http.idle_timeout_secs"),
            (
                self.http.header_read_timeout_secs,
                "http.header_read_timeout_secs",
            ),
            (self.http.max_connections as u64, "http.max_connections"),
        ] {
            anyhow::ensure!(value >= 1, "{key} must be at least 1");
        }
        anyhow::ensure!(
            self.sqlite.readers >= 1,
            "sqlite.readers must be at least 1"
        );
        if !self.admin_token.is_empty() {
            anyhow::ensure!(
                self.admin_token.len() >= 16,
                "admin_token must be at least 16 characters (or empty to generate one)"
            );
        }
        self.events
            .validate()
            .map_err(|e| anyhow::anyhow!("events: {e}"))?;
        self.yunxin
            .validate()
            .map_err(|e| anyhow::anyhow!("yunxin: {e}"))?;
        self.backend()?;
        Ok(())
    }

    pub fn backend(&self) -> anyhow::Result<Backend> {
        let db = self.database.trim();
        if db.is_empty() {
            return Ok(Backend::Sqlite(
                self.data_dir.join(switchboard_store_sqlite::DB_FILE),
            ));
        }
        if let Some(path) = db.strip_prefix("sqlite://") {
            anyhow::ensure!(!path.is_empty(), "database: sqlite:// needs a file path, e.g. sqlite:///var/lib/switchboard/db.sqlite");
            return Ok(Backend::Sqlite(PathBuf::from(path)));
        }
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Ok(Backend::Postgres(db.to_string()));
        }
        anyhow::bail!("database must start with sqlite:// or postgres:// (or be empty for SQLite in data_dir)")
    }
}

/// Parses a listen address: `IP:PORT` (`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`), or
/// `localhost:PORT` for 127.0.0.1. Host names are not resolved: a server binds addresses.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    s.parse().map_err(|_| {
        format!(
            "{s:?} is not an address to listen on: use IP:PORT, e.g. 127.0.0.1:8080 \
             (this machine only), 0.0.0.0:8080 (every interface) or localhost:8080"
        )
    })
}

fn deserialize_listen<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    parse_listen(&s).map_err(serde::de::Error::custom)
}

/// Figment's errors name keys by its internal profile (`default.listen`); these name them
/// as the user wrote them: the TOML key, or the environment variable.
fn describe(err: figment::Error) -> String {
    err.into_iter()
        .map(|e| {
            let key = match (&e.metadata, &e.profile) {
                (Some(md), Some(profile)) if md.name.contains("environment") => {
                    md.interpolate(profile, &e.path)
                }
                _ => e.path.join("."),
            };
            let from = match &e.metadata {
                Some(md) => match &md.source {
                    Some(src) => format!(" (in {} {src})", md.name),
                    None => format!(" (in {})", md.name),
                },
                None => String::new(),
            };
            if key.is_empty() {
                format!("{}{from}", e.kind)
            } else {
                format!("{key}: {}{from}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Uploaded files and images (the `[files]` section; docs/files.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest image an upload may carry, in bytes.
    pub max_image_bytes: usize,
    /// Largest file an upload may carry, in bytes.
    pub max_file_bytes: usize,
}

impl Default for FilesConfig {
    fn default() -> Self {
        let d = switchboard_core::files::FileLimits::default();
        FilesConfig {
            max_image_bytes: d.max_image_bytes,
            max_file_bytes: d.max_file_bytes,
        }
    }
}

impl FilesConfig {
    /// The limits the domain checks uploads against.
    pub fn limits(&self) -> switchboard_core::files::FileLimits {
        switchboard_core::files::FileLimits {
            max_image_bytes: self.max_image_bytes,
            max_file_bytes: self.max_file_bytes,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        // A request body holds the whole upload: keep the limits where memory copes.
        const MAX: usize = 1 << 30;
        for (v, key) in [
            (self.max_image_bytes, "files.max_image_bytes"),
            (self.max_file_bytes, "files.max_file_bytes"),
        ] {
            anyhow::ensure!(
                (1..=MAX).contains(&v),
                "{key} must be between 1 and {MAX} (1 GiB)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\n[log]\nformat = \"json\"\n[sqlite]\nreaders = 2\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(cfg.listen.port(), 9999);
        assert_eq!(cfg.log.format, "json");
        assert_eq!(cfg.sqlite.readers, 2);
        let over = Overrides {
            listen: Some("127.0.0.1:1".parse().unwrap()),
            database: Some("postgres://x@y/z".into()),
            data_dir: None,
        };
        let cfg = Config::load(Some(&file), &over).unwrap();
        assert_eq!(cfg.listen.port(), 1);
        assert_eq!(
            cfg.backend().unwrap(),
            Backend::Postgres("postgres://x@y/z".into())
        );

        std::fs::write(&file, "bogus_key = 1\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bogus_key"), "{err}");
        std::fs::write(&file, "[log]\nformat = \"xml\"\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
        assert!(Config::load(
            Some(&dir.path().join("missing.toml")),
            &Overrides::default()
        )
        .is_err());
        let bad = Overrides {
            database: Some("mysql://x".into()),
            ..Overrides::default()
        };
        std::fs::write(&file, "").unwrap();
        assert!(Config::load(Some(&file), &bad).is_err());
    }

    #[test]
    fn errors_name_keys_as_written_and_listen_takes_localhost() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"nowhere:80\"\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("default."), "{err}");
        assert!(err.contains("listen: ") && err.contains("IP:PORT"), "{err}");
        assert!(err.contains("c.toml"), "names the file: {err}");
        std::fs::write(&file, "[http]\nrequest_timeout_secs = \"soon\"\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.request_timeout_secs: "), "{err}");

        std::fs::write(&file, "listen = \"localhost:9091\"\n").unwrap();
        let cfg = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:9091".parse().unwrap());
        assert_eq!(parse_listen("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert!(parse_listen("localhost").unwrap_err().contains("IP:PORT"));
    }

    #[test]
    fn unrelated_switchboard_variables_are_not_configuration() {
        // Variables of the command-line clients and of the test harness share the prefix;
        // they must not make the server refuse to start. (Config variables being read is
        // covered by the multi-node test, which configures its processes through them.)
        std::env::set_var("SWITCHBOARD_URL", "http://127.0.0.1:1");
        std::env::set_var("SWITCHBOARD_TEST_DATABASE_URL", "postgres://x@y/z");
        let loaded = Config::load(None, &Overrides::default());
        std::env::remove_var("SWITCHBOARD_URL");
        std::env::remove_var("SWITCHBOARD_TEST_DATABASE_URL");
        assert!(loaded.is_ok(), "{:?}", loaded.err());
    }

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/example.toml");
        let cfg = Config::load(Some(&example), &Overrides::default()).unwrap();
        let defaults = Config::default();
        assert_eq!(
            serde_json::to_value(&cfg).unwrap(),
            serde_json::to_value(&defaults).unwrap(),
            "example.toml documents the defaults"
        );
    }
}
