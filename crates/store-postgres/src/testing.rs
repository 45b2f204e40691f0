//! A PostgreSQL server for tests, and a brand-new empty database per test.
//!
//! The server is the one named by [`URL_ENV`] (an admin URL: its user must be allowed to
//! `CREATE DATABASE`) or, when that is unset, a throwaway cluster started once per test
//! process: `initdb` into a temporary directory, `pg_ctl start` on a free port of
//! 127.0.0.1 with its socket in that directory. A small watchdog process stops the cluster
//! and removes the directory once the test process is gone, however it ended.
//!
//! As root, `initdb` refuses to run, so the cluster is created and run as the `postgres`
//! OS user (`runuser -u postgres --`), which owns the temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Names an existing server to use instead of a throwaway cluster, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const URL_ENV: &str = "SWITCHBOARD_TEST_DATABASE_URL";

/// An empty database created for one test. Dropping it drops the database (best effort;
/// sessions still connected are terminated).
pub struct TestDatabase {
    url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime that cannot block on a future, so the cleanup gets
        // its own thread and runtime.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let (client, task) = admin_connect(&admin).await.ok()?;
                let forced = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                if forced.is_err() {
                    // Servers before 13 know no FORCE.
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                        .await;
                }
                drop(client);
                let _ = task.await;
                Some(())
            })
        });
        let _ = cleanup.join();
    }
}

/// Creates a new empty database and returns a guard that drops it.
pub async fn fresh_database() -> TestDatabase {
    let admin = admin_url().to_string();
    let name = format!("sb_test_{:016x}", rand::random::<u64>());
    let (client, task) = admin_connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e:?}"));
    drop(client);
    let _ = task.await;
    TestDatabase {
        url: with_dbname(&admin, &name),
        name,
        admin_url: admin,
    }
}

/// Creates a new empty database and returns its URL. The database is not dropped
/// afterwards (a throwaway cluster disappears with its process anyway); prefer
/// [`fresh_database`] against a long-lived server.
pub async fn fresh_database_url() -> String {
    let db = fresh_database().await;
    let url = db.url.clone();
    std::mem::forget(db);
    url
}

/// A store on a fresh database, migrated, with the default options. Keep the
/// [`TestDatabase`] alive as long as the store is used.
pub async fn fresh_store() -> (crate::PostgresStore, TestDatabase) {
    let db = fresh_database().await;
    let store = crate::PostgresStore::connect(crate::PostgresOptions::new(db.url()))
        .await
        .unwrap_or_else(|e| panic!("connect to the test database: {e}"));
    (store, db)
}

/// Admin URL of the test server, starting the throwaway cluster on first use.
pub fn admin_url() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var(URL_ENV) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => Cluster::start(false).url,
    })
}

async fn admin_connect(
    url: &str,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), String> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e| format!("invalid {URL_ENV}: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(15),
        config.connect(tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| format!("{e:?}"))?;
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((client, task))
}

/// `url` with its database replaced by `name`, for both URL and key=value forms.
pub fn with_dbname(url: &str, name: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let (head, query) = match url.find('?') {
            Some(q) => (&url[..q], &url[q..]),
            None => (url, ""),
        };
        let authority_end = head[scheme_end + 3..]
            .find('/')
            .map_or(head.len(), |i| scheme_end + 3 + i);
        format!("{}/{}{}", &head[..authority_end], name, query)
    } else {
        // Later keys override earlier ones.
        format!("{url} dbname={name}")
    }
}

// ---------------------------------------------------------------------------------------
// The throwaway cluster

fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                return Some(dir);
            }
        }
    }
    // Debian installs the server binaries off PATH, one directory per major version.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((major, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` run as the cluster's owner: ourselves, or `postgres` when we are root.
fn as_owner(root: bool, program: &Path) -> Command {
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    // The test's working directory may be closed to the `postgres` user.
    cmd.current_dir("/");
    cmd
}

fn run(what: &str, cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> u16 {
    let l =
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    l.local_addr().expect("local address").port()
}

/// A PostgreSQL cluster of this test process: stopped and removed when the process exits.
pub struct Cluster {
    /// Admin URL (`postgres` database, `postgres` user, trust auth).
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    root: bool,
    server_opts: String,
}

impl Cluster {
    /// Starts a new cluster on a free port. `durable`: fsync and synchronous commit on, as
    /// in production, for tests that crash the server and count what survived; otherwise
    /// they are off, for speed.
    pub fn start(durable: bool) -> Cluster {
        let Some(bin) = find_bin_dir() else {
            panic!(
                "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: \
                 install PostgreSQL (Debian package `postgresql`) or set {URL_ENV} to an admin URL \
                 such as postgres://postgres@127.0.0.1:5432/postgres"
            )
        };
        let root = is_root();
        if root
            && Command::new("id")
                .arg("postgres")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        {
            panic!("running as root, and there is no `postgres` OS user to run the test cluster as: install PostgreSQL (Debian package `postgresql`) or set {URL_ENV}");
        }

        let dir = std::env::temp_dir().join(format!(
            "switchboard-pg-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .expect("restrict the cluster directory");
        }
        if root {
            run(
                "chown",
                Command::new("chown").arg("postgres:postgres").arg(&dir),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let data = dir.join("data");
        let log = dir.join("server.log");

        // The watchdog is started before the server so that no path leaves a server running.
        spawn_watchdog(root, &bin.join("pg_ctl"), &data, &dir);

        run(
            "initdb",
            as_owner(root, &bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));

        let speed = if durable {
            ""
        } else {
            // The data lives as long as this process; speed matters more than crash safety.
            " -F -c full_page_writes=off -c synchronous_commit=off"
        };
        let mut last_err = String::new();
        // A port found free can be taken before the server binds it; try a few.
        for _ in 0..5 {
            let port = free_port();
            let server_opts = format!(
                "-p {port} -h 127.0.0.1 -k {}{speed} -c max_connections=300",
                dir.display()
            );
            let cluster = Cluster {
                url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                bin: bin.clone(),
                data: data.clone(),
                log: log.clone(),
                root,
                server_opts,
            };
            match cluster.try_start() {
                Ok(()) => return cluster,
                Err(e) => {
                    last_err = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default())
                }
            }
        }
        panic!(
            "could not start the throwaway PostgreSQL cluster in {}:\n{last_err}",
            dir.display()
        );
    }

    fn try_start(&self) -> Result<(), String> {
        run(
            "pg_ctl start",
            as_owner(self.root, &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .args(["-w", "-t", "60", "-o", &self.server_opts, "start"]),
        )
    }

    /// Starts the server again (same port and data) after [`Cluster::crash`].
    pub fn restart(&self) {
        self.try_start().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops the server the way a crash would (`pg_ctl stop -m immediate`): no shutdown
    /// checkpoint, connections cut, recovery from the WAL at the next start.
    pub fn crash(&self) {
        run(
            "pg_ctl stop",
            as_owner(self.root, &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "-t", "60", "stop"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A detached shell loop that waits for this process to exit, then stops the cluster and
/// deletes its directory. Its own process group keeps it alive through a Ctrl-C or a
/// group kill aimed at the test run, which is exactly when it has work to do.
// Never waited for: it outlives this process by design, and is reaped by whoever inherits it.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(root: bool, pg_ctl: &Path, data: &Path, dir: &Path) {
    use std::os::unix::process::CommandExt;
    const SCRIPT: &str = r#"parent=$1; pg_ctl=$2; data=$3; dir=$4; shift 4
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
if [ -f "$data/postmaster.pid" ]; then "$@" "$pg_ctl" -D "$data" -m immediate -w -t 30 stop; fi
rm -rf "$dir""#;
    let mut cmd = Command::new("sh");
    cmd.args(["-c", SCRIPT, "sb-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(pg_ctl)
        .arg(data)
        .arg(dir);
    if root {
        cmd.args(["runuser", "-u", "postgres", "--"]);
    }
    cmd.current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("start the cluster watchdog: {e}"));
}
