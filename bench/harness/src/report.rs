//! The results: the machine, the commit, the command, and the tables of
//! `docs/performance.md`, with every target beside its measured figure.

use crate::dataset::Imported;
use crate::load::Measurement;
use crate::requests::Workload;
use serde::Serialize;
use std::fmt::Write;
use std::process::Command;

#[derive(Serialize)]
pub struct DatasetResult {
    pub store: &'static str,
    pub messages: u64,
    pub import_seconds: f64,
    pub import_rate: f64,
    /// The baseline run right before each dialect's, by that dialect.
    #[serde(serialize_with = "ser_gets")]
    pub baselines: Vec<(Workload, Measurement)>,
    #[serde(serialize_with = "ser_gets")]
    pub gets: Vec<(Workload, Measurement)>,
    pub send: Option<Measurement>,
    /// Sends that each carry their own idempotency key.
    pub send_keyed: Option<Measurement>,
    pub send_stored: u64,
    pub rss: u64,
    pub rss_peak: u64,
    /// The file-backed part of `rss`.
    pub rss_file: u64,
    pub db_bytes: u64,
    /// Event delivery to one webhook subscriber (`events.rs`), on primary datasets.
    pub events: Option<crate::events::EventsResult>,
}

fn ser_gets<S: serde::Serializer>(v: &[(Workload, Measurement)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (w, x) in v {
        m.serialize_entry(w.name(), x)?;
    }
    m.end()
}

impl DatasetResult {
    pub fn new(store: &'static str, messages: u64, imported: Imported) -> Self {
        DatasetResult {
            store,
            messages,
            import_seconds: imported.seconds,
            import_rate: imported.rate,
            baselines: Vec::new(),
            gets: Vec::new(),
            send: None,
            send_keyed: None,
            send_stored: 0,
            rss: 0,
            rss_peak: 0,
            rss_file: 0,
            db_bytes: 0,
            events: None,
        }
    }

    fn get(&self, w: Workload) -> Option<&Measurement> {
        self.gets.iter().find(|(x, _)| *x == w).map(|(_, m)| m)
    }

    /// The baseline run paired with dialect `w`.
    fn baseline(&self, w: Workload) -> Option<&Measurement> {
        self.baselines.iter().find(|(x, _)| *x == w).map(|(_, m)| m)
    }
}

#[derive(Serialize)]
pub struct Report {
    pub date: String,
    pub machine: String,
    pub commit: String,
    pub command: String,
    pub wrk: String,
    pub load_before: String,
    pub load_after: String,
    pub seconds: u64,
    pub connections: u32,
    pub threads: u32,
    pub primary: u64,
    pub datasets: Vec<DatasetResult>,
    pub postgres: Option<String>,
    /// The SQLite server's `[sqlite] mmap_mib`.
    pub sqlite_mmap_mib: u64,
    /// A smoke run (`--smoke`): it proves the harness works, and its figures (a debug
    /// build, a small dataset, short measurements) are not held against the targets.
    pub smoke: bool,
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

impl Report {
    pub fn start(
        command: &str,
        seconds: u64,
        connections: u32,
        threads: u32,
        primary: u64,
    ) -> Self {
        let cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
        let machine = format!(
            "{} × {}, {} MB RAM, {}",
            sh("nproc"),
            cpu.trim(),
            sh("awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo"),
            sh("uname -sr")
        );
        let dirty = if sh("git status --porcelain --untracked-files=no").is_empty() {
            ""
        } else {
            " (with uncommitted changes)"
        };
        Report {
            date: sh("date -u '+%Y-%m-%d %H:%M UTC'"),
            machine,
            commit: format!("{}{dirty}", sh("git rev-parse --short HEAD")),
            command: command.to_string(),
            wrk: sh("wrk -v 2>&1 | head -1"),
            load_before: loadavg(),
            load_after: String::new(),
            seconds,
            connections,
            threads,
            primary,
            datasets: Vec::new(),
            postgres: None,
            sqlite_mmap_mib: 0,
            smoke: false,
        }
    }

    pub fn finish(&mut self) {
        self.load_after = loadavg();
    }

    /// The dataset the targets are read on: SQLite's primary size; PostgreSQL's one dataset
    /// (which `--postgres-messages` may make smaller).
    fn primary(&self, store: &str) -> Option<&DatasetResult> {
        self.datasets
            .iter()
            .find(|d| d.store == store && (store != "sqlite" || d.messages == self.primary))
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "### Run\n");
        let _ = writeln!(o, "- date: {}", self.date);
        let _ = writeln!(o, "- machine: {}", self.machine);
        let _ = writeln!(o, "- commit: {}", self.commit);
        let _ = writeln!(o, "- command: `{}`", self.command);
        let _ = writeln!(
            o,
            "- load: {} wrk, {} threads, {} connections, {} s per measurement, on the same machine",
            self.wrk, self.threads, self.connections, self.seconds
        );
        let _ = writeln!(
            o,
            "- load average (1/5/15 min) before: {}, after: {}",
            self.load_before, self.load_after
        );
        let _ = writeln!(
            o,
            "- SQLite: `[sqlite] mmap_mib = {}`{}",
            self.sqlite_mmap_mib,
            if self.sqlite_mmap_mib == 0 {
                " (the default: pages read with system calls)"
            } else {
                " (readers map the database file)"
            }
        );
        if let Some(pg) = &self.postgres {
            let _ = writeln!(o, "- PostgreSQL: {pg}");
        }

        let _ = writeln!(o, "\n### Bulk import (`switchboard import`, JSON Lines)\n");
        let _ = writeln!(o, "| store | messages | seconds | messages/s |");
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for d in &self.datasets {
            let _ = writeln!(
                o,
                "| {} | {} | {:.2} | {:.0} |",
                d.store, d.messages, d.import_seconds, d.import_rate
            );
        }

        for d in &self.datasets {
            let _ = writeln!(
                o,
                "\n### {} messages, {}\n",
                d.messages,
                if d.store == "sqlite" {
                    "SQLite"
                } else {
                    "PostgreSQL"
                }
            );
            let pg = d.store != "sqlite";
            let _ = writeln!(
                o,
                "| workload | req/s | × baseline | p50 ms | p99 ms | p99.9 ms | server CPU µs/req | × baseline | server cores busy | disk KiB/req |{}",
                if pg { " PG transactions/req | PG CPU µs/req |" } else { "" }
            );
            let _ = writeln!(
                o,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}",
                if pg { "---:|---:|" } else { "" }
            );
            let row = |o: &mut String, label: &str, m: &Measurement, b: Option<&Measurement>| {
                let (rr, cr) = match b {
                    Some(b) => (
                        format!("{:.2}", m.rps / b.rps),
                        format!("{:.2}", m.cpu_us / b.cpu_us),
                    ),
                    None => (String::new(), String::new()),
                };
                let xacts = match (pg, m.pg_xacts_per_req, m.pg_cpu_us) {
                    (false, ..) => String::new(),
                    (true, x, c) => format!(
                        " {} | {} |",
                        x.map(|x| format!("{x:.2}")).unwrap_or_default(),
                        c.map(|c| format!("{c:.1}")).unwrap_or_default()
                    ),
                };
                let _ = writeln!(
                    o,
                    "| {label} | {:.0} | {rr} | {:.2} | {:.2} | {:.2} | {:.1} | {cr} | {:.2} | {:.2} |{xacts}",
                    m.rps, m.p50_ms, m.p99_ms, m.p999_ms, m.cpu_us, m.cores, m.disk_kib_per_req
                );
            };
            for (w, m) in &d.gets {
                let b = d.baseline(*w);
                if let Some(b) = b {
                    row(&mut o, Workload::Baseline.label(), b, None);
                }
                row(&mut o, w.label(), m, b);
            }
            if let Some(m) = &d.send {
                row(&mut o, Workload::Send.label(), m, None);
            }
            if let Some(m) = &d.send_keyed {
                row(&mut o, Workload::SendKeyed.label(), m, None);
            }
            if d.send.is_some() {
                let _ = writeln!(
                    o,
                    "\nSends acknowledged during the run were all found in the store afterwards ({} stored).",
                    d.send_stored
                );
            }
            if let Some(e) = &d.events {
                crate::events::markdown(&mut o, e);
            }
        }

        let _ = writeln!(o, "\n### Scale\n");
        let _ = writeln!(
            o,
            "| store | messages | WPS req/s | WPS p99 ms | Feishu req/s | Feishu p99 ms | Yunxin req/s | Yunxin p99 ms | RSS MB | DB MB | RSS MB per M msgs | DB MB per M msgs |"
        );
        let _ = writeln!(
            o,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for d in &self.datasets {
            let mut row = format!("| {} | {} |", d.store, d.messages);
            for w in [Workload::Wps, Workload::Feishu, Workload::Yunxin] {
                match d.get(w) {
                    Some(m) => {
                        let _ = write!(row, " {:.0} | {:.2} |", m.rps, m.p99_ms);
                    }
                    None => row.push_str(" | |"),
                }
            }
            let per_m = d.messages as f64 / 1e6;
            let _ = write!(
                row,
                " {:.1} | {:.1} | {:.1} | {:.1} |",
                mb(d.rss),
                mb(d.db_bytes),
                mb(d.rss) / per_m,
                mb(d.db_bytes) / per_m
            );
            let _ = writeln!(o, "{row}");
        }

        let _ = writeln!(o, "\n### Targets\n");
        if self.smoke {
            let _ = writeln!(
                o,
                "Smoke run: figures are not judged. It checks that every request of every \
                 workload succeeds, on a debug build, {} messages and {} s per measurement; \
                 `scripts/bench` without `--smoke` measures the targets.",
                self.primary, self.seconds
            );
            return o;
        }
        let _ = writeln!(o, "| target | measured | reference | ratio | met |");
        let _ = writeln!(o, "|---|---:|---:|---:|:---:|");
        let mut t =
            |name: String, measured: String, reference: String, ratio: String, ok: Option<bool>| {
                let met = match ok {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "n/a",
                };
                let _ = writeln!(o, "| {name} | {measured} | {reference} | {ratio} | {met} |");
            };
        // The targets of the second performance round: SQLite against the bare baseline,
        // PostgreSQL against SQLite in the same run.
        let sqlite = self.primary("sqlite");
        if let Some(d) = sqlite {
            for w in [Workload::Wps, Workload::Feishu, Workload::Yunxin] {
                let (Some(m), Some(b)) = (d.get(w), d.baseline(w)) else {
                    continue;
                };
                let n = w.name();
                t(
                    format!("SQLite {n}: CPU/request ≤ 2.5× baseline"),
                    format!("{:.1} µs", m.cpu_us),
                    format!("{:.1} µs", b.cpu_us),
                    format!("{:.2}×", m.cpu_us / b.cpu_us),
                    Some(m.cpu_us <= 2.5 * b.cpu_us),
                );
                t(
                    format!("SQLite {n}: requests/s ≥ 0.55× baseline"),
                    format!("{:.0}/s", m.rps),
                    format!("{:.0}/s", b.rps),
                    format!("{:.2}×", m.rps / b.rps),
                    Some(m.rps >= 0.55 * b.rps),
                );
                t(
                    format!("SQLite {n}: p99 ≤ 4 ms"),
                    format!("{:.2} ms", m.p99_ms),
                    "4 ms".into(),
                    format!("{:.2}×", m.p99_ms / 4.0),
                    Some(m.p99_ms <= 4.0),
                );
            }
        }
        if let Some(d) = self.primary("postgres") {
            for w in [Workload::Wps, Workload::Feishu, Workload::Yunxin] {
                let Some(m) = d.get(w) else {
                    continue;
                };
                let n = w.name();
                match sqlite.and_then(|s| s.get(w)) {
                    Some(l) => t(
                        format!("PostgreSQL {n}: requests/s ≥ 0.6× SQLite's"),
                        format!("{:.0}/s", m.rps),
                        format!("{:.0}/s", l.rps),
                        format!("{:.2}×", m.rps / l.rps),
                        Some(m.rps >= 0.6 * l.rps),
                    ),
                    None => t(
                        format!("PostgreSQL {n}: requests/s ≥ 0.6× SQLite's"),
                        format!("{:.0}/s", m.rps),
                        "SQLite not in this run".into(),
                        String::new(),
                        None,
                    ),
                }
                t(
                    format!("PostgreSQL {n}: p99 ≤ 10 ms"),
                    format!("{:.2} ms", m.p99_ms),
                    "10 ms".into(),
                    format!("{:.2}×", m.p99_ms / 10.0),
                    Some(m.p99_ms <= 10.0),
                );
            }
        }
        let big = self
            .datasets
            .iter()
            .filter(|d| d.store == "sqlite")
            .max_by_key(|d| d.messages);
        let one_m = self
            .datasets
            .iter()
            .find(|d| d.store == "sqlite" && d.messages == 1_000_000);
        match (big, one_m) {
            (Some(big), Some(one)) if big.messages >= 10_000_000 => {
                for w in [Workload::Wps, Workload::Feishu, Workload::Yunxin] {
                    let (Some(a), Some(b)) = (big.get(w), one.get(w)) else {
                        continue;
                    };
                    t(
                        format!(
                            "SQLite {}: req/s at {}M ≥ 0.9× at 1M",
                            w.name(),
                            big.messages / 1_000_000
                        ),
                        format!("{:.0}/s", a.rps),
                        format!("{:.0}/s", b.rps),
                        format!("{:.2}×", a.rps / b.rps),
                        Some(a.rps >= 0.9 * b.rps),
                    );
                }
            }
            _ => t(
                "SQLite: req/s at 10M ≥ 0.9× at 1M".into(),
                "not in this run (use --messages 10000000)".into(),
                String::new(),
                String::new(),
                None,
            ),
        }
        for (store, floor) in [("sqlite", 25_000.0), ("postgres", 15_000.0)] {
            if let Some(s) = self.primary(store).and_then(|d| d.send.as_ref()) {
                t(
                    format!("{store} send: ≥ {}k messages/s, durable", floor / 1000.0),
                    format!("{:.0}/s", s.rps),
                    format!("{floor:.0}/s"),
                    format!("{:.2}×", s.rps / floor),
                    Some(s.rps >= floor),
                );
            }
        }
        for store in ["sqlite", "postgres"] {
            if let Some(e) = self.primary(store).and_then(|d| d.events.as_ref()) {
                for (name, measured, reference, ratio, ok) in crate::events::targets(store, e) {
                    t(name, measured, reference, ratio, Some(ok));
                }
            }
        }
        if let Some(big) = big {
            t(
                format!("RSS < 150 MB serving {} messages (SQLite)", big.messages),
                format!(
                    "{:.1} MB (peak {:.1}; {:.1} MB of it file-backed)",
                    mb(big.rss),
                    mb(big.rss_peak),
                    mb(big.rss_file)
                ),
                "150 MB".into(),
                format!("{:.2}×", mb(big.rss) / 150.0),
                (big.messages >= 10_000_000).then_some(mb(big.rss) < 150.0),
            );
        }
        for d in self.datasets.iter().filter(|d| d.store == "sqlite") {
            if d.messages == self.primary {
                t(
                    format!(
                        "bulk import ≥ 100k messages/s into SQLite ({} messages)",
                        d.messages
                    ),
                    format!("{:.0}/s", d.import_rate),
                    "100000/s".into(),
                    format!("{:.2}×", d.import_rate / 100_000.0),
                    Some(d.import_rate >= 100_000.0),
                );
            }
        }
        o
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(rps: f64, cpu_us: f64) -> Measurement {
        serde_json::from_value(serde_json::json!({
            "requests": 1000, "seconds": 2.0, "rps": rps, "p50_ms": 1.0, "p99_ms": 9.0,
            "p999_ms": 12.0, "cpu_us": cpu_us, "cores": 0.5, "bytes_per_response": 300.0
        }))
        .unwrap()
    }

    /// A run whose figures miss every target they are compared with.
    fn slow_run(smoke: bool) -> Report {
        let imported = Imported {
            messages: 10_000,
            seconds: 1.0,
            rate: 10_000.0,
        };
        let mut d = DatasetResult::new("sqlite", 10_000, imported);
        d.baselines
            .push((Workload::Wps, measurement(20_000.0, 50.0)));
        d.gets.push((Workload::Wps, measurement(500.0, 400.0)));
        Report {
            date: String::new(),
            machine: String::new(),
            commit: String::new(),
            command: "switchboard-bench --smoke".into(),
            wrk: String::new(),
            load_before: String::new(),
            load_after: String::new(),
            seconds: 2,
            connections: 64,
            threads: 2,
            primary: 10_000,
            datasets: vec![d],
            postgres: None,
            sqlite_mmap_mib: 0,
            smoke,
        }
    }

    #[test]
    fn a_smoke_run_judges_no_target() {
        let md = slow_run(true).markdown();
        assert!(md.contains("Smoke run: figures are not judged"), "{md}");
        assert!(!md.contains("| met |") && !md.contains("**no**"), "{md}");
        // The figures themselves are still shown.
        assert!(md.contains("| GET WPS v7"), "{md}");

        let md = slow_run(false).markdown();
        assert!(md.contains("| met |") && md.contains("**no**"), "{md}");
        assert!(!md.contains("Smoke run"), "{md}");
    }
}
