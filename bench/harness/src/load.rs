//! Processes under test, the load generator (wrk) and what is read from `/proc`.

use crate::requests::Req;
use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process on 127.0.0.1, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub name: &'static str,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the baseline, which prints `listening on ADDR`.
    pub fn baseline(bin: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(bin.join("switchboard-bench-baseline"))
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting switchboard-bench-baseline")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected baseline output {line:?}"))?
            .parse()?;
        Ok(Server {
            child,
            addr,
            name: "baseline",
        })
    }

    /// Starts `switchboard serve --config CONFIG --listen ADDR` and waits for `/readyz`.
    pub async fn switchboard(bin: &Path, config: &Path, work: &Path) -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let log = std::fs::File::create(work.join("server.log"))?;
        let child = Command::new(bin.join("switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(addr.to_string())
            .current_dir(work)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting switchboard serve")?;
        let mut s = Server {
            child,
            addr,
            name: "switchboard",
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = s.child.try_wait()? {
                bail!(
                    "switchboard serve exited ({status}); see {}",
                    work.join("server.log").display()
                );
            }
            if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await {
                if r.status().is_success() {
                    return Ok(s);
                }
            }
            ensure!(
                Instant::now() < deadline,
                "switchboard serve did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate();
        Ok(())
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A free port on 127.0.0.1 (bound, read, released).
fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// CPU time (user + system, every thread, live or exited) of a process, in seconds.
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')').context("malformed /proc stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f[11].parse()?;
    let stime: f64 = f[12].parse()?;
    Ok((utime + stime) / clock_ticks())
}

/// CPU time of every process named `postgres` on this machine (the postmaster and its
/// backends, which live as long as the server's pooled connections), in seconds.
pub fn postgres_cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .filter_map(|pid| cpu_secs(pid).ok())
        .sum()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Bytes a process has had fetched from storage (`read_bytes` in `/proc/<pid>/io`; reads
/// served by the page cache do not count). 0 where the kernel does not say.
pub fn storage_read_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("read_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Resident set size, its peak, and the part of it that maps files (the binary itself, and
/// the database when `[sqlite] mmap_mib` maps it), in bytes.
pub fn rss(pid: u32) -> anyhow::Result<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok((field("VmRSS:"), field("VmHWM:"), field("RssFile:")))
}

/// What replay.lua's `done()` prints.
#[derive(Debug, Clone, Deserialize)]
struct WrkOut {
    requests: u64,
    duration_us: u64,
    bytes: u64,
    errors_connect: u64,
    errors_read: u64,
    errors_write: u64,
    errors_status: u64,
    errors_timeout: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    wrapped: u64,
}

/// One measured run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Server CPU (user + system) per request, microseconds.
    pub cpu_us: f64,
    /// Server CPU over the run, in cores (CPU seconds per wall second).
    pub cores: f64,
    pub bytes_per_response: f64,
    /// What the server read from storage (not the page cache) per request, in KiB: a
    /// cold-cache read shows here.
    #[serde(default)]
    pub disk_kib_per_req: f64,
    /// PostgreSQL transactions committed or rolled back in the dataset's database per
    /// request: each statement outside an explicit transaction is one, so for a get it
    /// counts the round trips the server made. Not measured on SQLite or in a smoke run.
    #[serde(default)]
    pub pg_xacts_per_req: Option<f64>,
    /// CPU (user + system) of every `postgres` process on this machine per request,
    /// microseconds: the database's share of the two cores. Measured on PostgreSQL only.
    #[serde(default)]
    pub pg_cpu_us: Option<f64>,
}

#[derive(Clone)]
pub struct Wrk {
    pub bin: PathBuf,
    pub lua: PathBuf,
    pub threads: u32,
    pub connections: u32,
    pub seconds: u64,
}

impl Wrk {
    /// Drives `server` with the request files under `prefix` and measures it.
    /// `unique`: the requests must not repeat (Yunxin nonces), so a wrap-around is an error.
    pub fn run(&self, server: &Server, prefix: &Path, unique: bool) -> anyhow::Result<Measurement> {
        let before = cpu_secs(server.pid())?;
        let read_before = storage_read_bytes(server.pid());
        let out = Command::new(&self.bin)
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.lua)
            .arg(format!("http://{}", server.addr))
            .arg("--")
            .arg(prefix)
            .stdin(Stdio::null())
            .output()
            .context("running wrk")?;
        let after = cpu_secs(server.pid())?;
        let read_after = storage_read_bytes(server.pid());
        let stdout = String::from_utf8_lossy(&out.stdout);
        ensure!(
            out.status.success(),
            "wrk failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("BENCH "))
            .with_context(|| format!("no result line in wrk output: {stdout}"))?;
        let w: WrkOut = serde_json::from_str(line)?;
        let errors = w.errors_connect + w.errors_read + w.errors_write + w.errors_timeout;
        ensure!(w.requests > 0, "wrk completed no request:\n{stdout}");
        ensure!(
            w.errors_status == 0 && errors == 0,
            "{} answered {} error statuses and had {errors} socket errors under load:\n{stdout}",
            server.name,
            w.errors_status
        );
        ensure!(
            !unique || w.wrapped == 0,
            "the request list ran out and was replayed ({} wraps): make it longer",
            w.wrapped
        );
        let seconds = w.duration_us as f64 / 1e6;
        let cpu = after - before;
        Ok(Measurement {
            requests: w.requests,
            seconds,
            rps: w.requests as f64 / seconds,
            p50_ms: w.p50_us as f64 / 1e3,
            p99_ms: w.p99_us as f64 / 1e3,
            p999_ms: w.p999_us as f64 / 1e3,
            cpu_us: cpu * 1e6 / w.requests as f64,
            cores: cpu / seconds,
            bytes_per_response: w.bytes as f64 / w.requests as f64,
            disk_kib_per_req: read_after.saturating_sub(read_before) as f64
                / 1024.0
                / w.requests as f64,
            pg_xacts_per_req: None,
            pg_cpu_us: None,
        })
    }
}

/// Sends `reqs` one by one with a real HTTP client and checks each is a success carrying
/// its expected id: the requests the load replays are built the same way. Returns the mean
/// body size.
pub async fn check(server: &Server, reqs: &[Req], yunxin_style: bool) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let mut total = 0usize;
    for r in reqs {
        let mut rb = client.request(
            r.method.parse().expect("valid method"),
            format!("http://{}{}", server.addr, r.path),
        );
        for (k, v) in &r.headers {
            rb = rb.header(k, v);
        }
        if r.method != "GET" {
            rb = rb.body(r.body.clone());
        }
        let resp = rb.send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        ensure!(
            status.is_success(),
            "{} {} answered {status}: {body}",
            r.method,
            r.path
        );
        let v: serde_json::Value = serde_json::from_str(&body)
            .with_context(|| format!("{} answered non-JSON: {body}", r.path))?;
        let code = v.get("code").and_then(|c| c.as_i64());
        let ok = match (server.name, yunxin_style) {
            ("baseline", _) => true,
            (_, true) => code == Some(200),
            (_, false) => code == Some(0),
        };
        ensure!(ok, "{} {} failed: {body}", r.method, r.path);
        ensure!(
            server.name == "baseline" || body.contains(&r.expect),
            "{} answered without {}: {body}",
            r.path,
            r.expect
        );
        total += body.len();
    }
    Ok(total as f64 / reqs.len().max(1) as f64)
}
