//! Event delivery, measured on the primary dataset of each store with one webhook
//! subscriber: a second app (the *listener*) in every chat, holding Feishu's
//! `im:message.group_msg` so that it hears every group message, subscribed to
//! `im.message.receive_v1` at a [`Receiver`] in this process.
//!
//! 1. Sends: the Send workload without the subscriber, then with it, back to back; then
//!    every acknowledged send's event must reach the receiver. Then once more with one
//!    subscriber per dialect: the Feishu listener, a WPS one (in every chat, with WPS's
//!    scope for every group message) and a Yunxin message copy (which hears every chat).
//! 2. Latency: sends paced at a steady rate; for each message, its event's arrival at the
//!    receiver minus the moment its send was answered.
//! 3. Drain: with `[events] enabled = false` a backlog of sends is written, then the
//!    server restarts with events on and the receiver times the backlog's delivery.
//!
//! (1) and (2) run on the dataset's server ([`live`]); (3) restarts it ([`Live::drain`]).

use crate::dataset::World;
use crate::load::{self, Measurement, Server, Wrk};
use crate::receiver::Receiver;
use crate::requests::{self, Builder, Req, Workload};
use crate::Ctx;
use anyhow::{ensure, Context};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The figures, for report.rs.
#[derive(Debug, Clone, Serialize, Default)]
pub struct EventsResult {
    /// The Send workload right before the subscription, and right after it.
    pub send_without: Option<Measurement>,
    pub send_with: Option<Measurement>,
    /// The Send workload with a Feishu, a WPS and a Yunxin subscriber, and the events the
    /// WPS and Yunxin receivers counted by the time their deliveries stopped.
    pub send_all: Option<Measurement>,
    pub all_wps_events: u64,
    pub all_yunxin_events: u64,
    /// Sends acknowledged during the run with the subscriber (and its checks), and the
    /// messages whose event reached the receiver.
    pub acked_with: u64,
    pub delivered_with: u64,
    /// Events that reached the receiver then, duplicates included.
    pub events_with: u64,
    /// From the end of that load to the last event's arrival.
    pub catch_up_s: f64,
    /// Attempts the server logged as failed during (1) and (2), by error class.
    pub failed_attempts: Vec<(String, u64)>,
    pub latency: Option<Latency>,
    pub drain: Option<Drain>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Sends offered per second, and for how long.
    pub rate: u64,
    pub seconds: f64,
    pub answered: u64,
    pub delivered: u64,
    /// Receiver arrival minus send answered (clamped at 0), over the delivered messages.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The sends' own latency (request to answer), for comparison.
    pub send_p50_ms: f64,
    pub send_p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drain {
    /// Events waiting (sends acknowledged while events were off), and delivered.
    pub backlog: u64,
    pub delivered: u64,
    /// Events received, duplicates included.
    pub events: u64,
    /// Sends/s while the backlog was written (events off).
    pub backlog_sends_per_s: f64,
    /// First to last arrival, and delivered / that.
    pub seconds: f64,
    pub rate: f64,
    /// From the server's start to the last arrival.
    pub start_to_last_s: f64,
    /// The server's CPU time from its start (startup included) to the last arrival.
    pub cpu_s: f64,
    pub cpu_us_per_event: f64,
}

/// Sizes: a full run, or a smoke run's tiny versions.
struct Sizes {
    /// Paced sends per second and seconds.
    rate: u64,
    paced_secs: f64,
    backlog: u64,
}

fn sizes(ctx: &Ctx) -> Sizes {
    if ctx.args.smoke {
        Sizes {
            rate: 300,
            paced_secs: 1.0,
            backlog: 500,
        }
    } else {
        Sizes {
            rate: 1_000,
            paced_secs: 10.0,
            backlog: ctx.args.event_backlog,
        }
    }
}

/// The subscribed listener app and what (1) and (2) measured, waiting for (3).
pub struct Live {
    receiver: Receiver,
    result: EventsResult,
    /// Every send acknowledged here, for the store check.
    pub acked: u64,
}

/// (1) and (2), on the dataset's running server.
pub async fn live(
    ctx: &Ctx,
    server: &Server,
    cfg: &switchboard_server::config::Config,
    world: &World,
    builder: &mut Builder<'_>,
    dir: &Path,
) -> anyhow::Result<Live> {
    let receiver = Receiver::start().await?;
    let mut result = EventsResult::default();
    let mut acked = 0;
    let host = server.addr.to_string();
    // The Send workload, replayed without and with the subscriber. A short list cycled:
    // a send is not idempotent without a uuid, so a replayed one is a new message.
    let wrk = if ctx.args.smoke {
        Wrk {
            seconds: 1,
            connections: 4,
            ..ctx.wrk.clone()
        }
    } else {
        ctx.wrk.clone()
    };
    let prefix = ctx.work.join("req-events-send");
    requests::write_files(builder, Workload::Send, &host, wrk.threads, 50_000, &prefix)?;
    let checks: Vec<_> = (0..5).map(|_| builder.next(Workload::Send)).collect();
    load::check(server, &checks, false).await?;
    acked += checks.len() as u64;
    let m = wrk.run(server, &prefix, false)?;
    acked += m.requests;
    progress("without", &m);
    result.send_without = Some(m);

    let admin = Admin::new(server, cfg, world);
    admin.listener(&receiver.url).await?;
    receiver.reset();
    let checks: Vec<_> = (0..5).map(|_| builder.next(Workload::Send)).collect();
    load::check(server, &checks, false).await?;
    let m = wrk.run(server, &prefix, false)?;
    let end = Instant::now();
    progress("with", &m);
    let want = m.requests + checks.len() as u64;
    acked += want;
    result.send_with = Some(m);
    let seen = receiver.wait_for(want, Duration::from_secs(20)).await;
    result.acked_with = want;
    result.delivered_with = seen.messages;
    result.events_with = seen.events;
    result.catch_up_s = seen
        .last
        .map(|l| l.saturating_duration_since(end).as_secs_f64())
        .unwrap_or(0.0);
    eprintln!(
        "bench: events    {} of {want} acknowledged sends' events received; the last {:.2} s after the load",
        seen.messages, result.catch_up_s
    );

    // One subscriber per dialect: sends stay what they were without.
    admin.listener_wps(&receiver.url_for("wps")).await?;
    admin.subscriber_yunxin(&receiver.url_for("yunxin")).await?;
    receiver.reset();
    let checks: Vec<_> = (0..5).map(|_| builder.next(Workload::Send)).collect();
    load::check(server, &checks, false).await?;
    let m = wrk.run(server, &prefix, false)?;
    progress("all", &m);
    let want = m.requests + checks.len() as u64;
    acked += want;
    result.send_all = Some(m);
    let seen = receiver.wait_for(want, Duration::from_secs(20)).await;
    result.all_wps_events = receiver.counted("wps");
    result.all_yunxin_events = receiver.counted("yunxin");
    eprintln!(
        "bench: events    all dialects: {} feishu, {} wps, {} yunxin events for {want} sends",
        seen.messages, result.all_wps_events, result.all_yunxin_events
    );

    let s = sizes(ctx);
    let n = (s.rate as f64 * s.paced_secs) as usize;
    let reqs: Vec<Req> = (0..n).map(|_| builder.next(Workload::Send)).collect();
    receiver.reset();
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let t = Instant::now();
    let answered = paced(&client, &base, reqs, s.rate).await?;
    let seconds = t.elapsed().as_secs_f64();
    acked += answered.len() as u64;
    // Long enough for a failed attempt's first retry (15 s) to show.
    receiver
        .wait_for(answered.len() as u64, Duration::from_secs(20))
        .await;
    let mut lat = Vec::with_capacity(answered.len());
    let mut send = Vec::with_capacity(answered.len());
    for a in &answered {
        send.push(a.answered.duration_since(a.sent));
        if let Some(arrived) = receiver.arrival(&a.id) {
            lat.push(arrived.saturating_duration_since(a.answered));
        }
    }
    lat.sort_unstable();
    send.sort_unstable();
    let l = Latency {
        rate: s.rate,
        seconds,
        answered: answered.len() as u64,
        delivered: lat.len() as u64,
        p50_ms: pct(&lat, 0.50),
        p99_ms: pct(&lat, 0.99),
        max_ms: pct(&lat, 1.0),
        send_p50_ms: pct(&send, 0.50),
        send_p99_ms: pct(&send, 0.99),
    };
    eprintln!(
        "bench: events    latency at {}/s: {} of {} delivered, p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        l.rate, l.delivered, l.answered, l.p50_ms, l.p99_ms, l.max_ms
    );
    result.latency = Some(l);
    result.failed_attempts = failed_attempts(&dir.join("server.log"));
    if !result.failed_attempts.is_empty() {
        eprintln!(
            "bench: events    failed attempts (server.log): {:?}",
            result.failed_attempts
        );
    }
    Ok(Live {
        receiver,
        result,
        acked,
    })
}

impl Live {
    /// (3): the server has stopped; restarts it with events off, writes the backlog,
    /// restarts it with events on and times the drain. Leaves the server stopped.
    pub async fn drain(
        mut self,
        ctx: &Ctx,
        config: &Path,
        dir: &Path,
        world: &World,
    ) -> anyhow::Result<EventsResult> {
        let n = sizes(ctx).backlog;
        let original = std::fs::read_to_string(config)?;
        std::fs::write(config, format!("{original}\n[events]\nenabled = false\n"))?;
        let server = Server::switchboard(&ctx.bin, config, dir).await;
        std::fs::write(config, &original)?;
        let server = server?;
        let creds = crate::tokens(&server, world).await?;
        let mut builder = Builder::new(world, &creds, 0xe7e7);
        let reqs: Vec<Req> = (0..n).map(|_| builder.next(Workload::Send)).collect();
        let t = Instant::now();
        let sent = send_all(&server, reqs, 64).await?;
        let backlog_sends_per_s = sent as f64 / t.elapsed().as_secs_f64();
        eprintln!(
            "bench: events    backlog of {sent} sends written with events off ({backlog_sends_per_s:.0}/s)"
        );
        server.stop()?;

        self.receiver.reset();
        let start = Instant::now();
        let server = Server::switchboard(&ctx.bin, config, dir).await?;
        let seen = self.receiver.wait_for(sent, Duration::from_secs(30)).await;
        let cpu_s = load::cpu_secs(server.pid())?;
        server.stop()?;
        let (first, last) = (
            seen.first.context("no event of the backlog arrived")?,
            seen.last.context("no event of the backlog arrived")?,
        );
        let seconds = last.duration_since(first).as_secs_f64();
        let d = Drain {
            backlog: sent,
            delivered: seen.messages,
            events: seen.events,
            backlog_sends_per_s,
            seconds,
            rate: seen.messages.saturating_sub(1) as f64 / seconds.max(1e-9),
            start_to_last_s: last.duration_since(start).as_secs_f64(),
            cpu_s,
            cpu_us_per_event: cpu_s * 1e6 / seen.messages.max(1) as f64,
        };
        eprintln!(
            "bench: events    drain: {} of {} events in {:.2} s ({:.0} events/s), server CPU {:.1} µs/event",
            d.delivered, d.backlog, d.seconds, d.rate, d.cpu_us_per_event
        );
        self.result.drain = Some(d);
        Ok(self.result)
    }
}

/// The server's "event delivery attempt failed" log lines, counted by `error=` class.
fn failed_attempts(log: &Path) -> Vec<(String, u64)> {
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for l in text.lines().filter(|l| l.contains("attempt failed")) {
        let class = l
            .split_whitespace()
            .find_map(|w| w.strip_prefix("error="))
            .unwrap_or("?")
            .trim_matches('"')
            .to_string();
        *by.entry(class).or_default() += 1;
    }
    by.into_iter().collect()
}

fn progress(label: &str, m: &Measurement) {
    eprintln!(
        "bench: send {label:<8} a subscriber  {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  {:>6.1} µs CPU/req",
        m.rps, m.p50_ms, m.p99_ms, m.cpu_us
    );
}

/// The `q` quantile of sorted durations, in ms (0 when empty).
fn pct(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// The admin API, for the listener.
struct Admin<'a> {
    client: reqwest::Client,
    base: String,
    token: String,
    world: &'a World,
}

impl<'a> Admin<'a> {
    fn new(server: &Server, cfg: &switchboard_server::config::Config, world: &'a World) -> Self {
        Admin {
            client: reqwest::Client::new(),
            base: format!("http://{}/admin/v1/tenants/{}", server.addr, world.tenant.0),
            token: cfg.admin_token.clone(),
            world,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let r = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        ensure!(
            status.is_success(),
            "{method} {path} answered {status}: {text}"
        );
        Ok(serde_json::from_str(&text)?)
    }

    /// Creates the listener app, grants it `im:message.group_msg`, adds it to every chat
    /// and subscribes it at `url`.
    async fn listener(&self, url: &str) -> anyhow::Result<()> {
        use reqwest::Method;
        let id = self
            .member_app("Bench listener", "im:message.group_msg")
            .await?;
        self.call(
            Method::PUT,
            &format!("/apps/{id}/events/feishu"),
            json!({ "mode": "webhook", "url": url, "verification_token": "t",
                    "event_types": ["im.message.receive_v1"] }),
        )
        .await?;
        Ok(())
    }

    /// A WPS listener like [`Admin::listener`]: in every chat, hearing every message.
    async fn listener_wps(&self, url: &str) -> anyhow::Result<()> {
        use reqwest::Method;
        let id = self
            .member_app("Bench WPS listener", "kso.chat_message.group_msg.read")
            .await?;
        self.call(
            Method::PUT,
            &format!("/apps/{id}/events/wps"),
            json!({ "mode": "webhook", "url": url,
                    "event_types": ["kso.app_chat.message"] }),
        )
        .await?;
        Ok(())
    }

    /// A Yunxin message copy: an app in no chat, which hears every chat of its tenant.
    async fn subscriber_yunxin(&self, url: &str) -> anyhow::Result<()> {
        use reqwest::Method;
        let app = self
            .call(Method::POST, "/apps", json!({ "name": "Bench copy" }))
            .await?;
        let id = app["id"].as_i64().context("app id")?;
        self.call(
            Method::PUT,
            &format!("/apps/{id}/events/yunxin"),
            json!({ "mode": "webhook", "url": url, "event_types": ["1"] }),
        )
        .await?;
        Ok(())
    }

    /// Creates an app holding `scope` besides the defaults and adds it to every chat.
    async fn member_app(&self, name: &str, scope: &str) -> anyhow::Result<i64> {
        use reqwest::Method;
        let app = self
            .call(Method::POST, "/apps", json!({ "name": name }))
            .await?;
        let id = app["id"].as_i64().context("app id")?;
        let mut scopes: Vec<serde_json::Value> =
            app["scopes"].as_array().cloned().unwrap_or_default();
        scopes.push(json!(scope));
        self.call(
            Method::PUT,
            &format!("/apps/{id}"),
            json!({ "scopes": scopes }),
        )
        .await?;
        for chunk in self.world.chats.chunks(50) {
            let mut set = tokio::task::JoinSet::new();
            for c in chunk {
                let (client, token) = (self.client.clone(), self.token.clone());
                let url = format!("{}/chats/{}/members", self.base, c.0);
                set.spawn(async move {
                    let r = client
                        .post(&url)
                        .bearer_auth(token)
                        .json(&json!({ "members": [{ "type": "app", "id": id }] }))
                        .send()
                        .await?;
                    ensure!(r.status().is_success(), "{url}: {}", r.text().await?);
                    Ok(())
                });
            }
            while let Some(r) = set.join_next().await {
                r??;
            }
        }
        Ok(id)
    }
}

/// Sends one request; the id of the message it created.
async fn send(client: &reqwest::Client, base: &str, r: &Req) -> anyhow::Result<String> {
    let mut rb = client.post(format!("{base}{}", r.path));
    for (k, v) in &r.headers {
        rb = rb.header(k, v);
    }
    let resp = rb.body(r.body.clone()).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    let v: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("send answered {status}, non-JSON: {body}"))?;
    ensure!(
        status.is_success() && v["code"] == 0,
        "send answered {status}: {body}"
    );
    Ok(v["data"]["message_id"]
        .as_str()
        .with_context(|| format!("no message_id: {body}"))?
        .to_string())
}

struct Answered {
    id: String,
    sent: Instant,
    answered: Instant,
}

/// Sends `reqs` at `rate` per second, each at its own moment whatever the previous ones
/// are doing (an open loop), and returns when each was answered.
async fn paced(
    client: &reqwest::Client,
    base: &str,
    reqs: Vec<Req>,
    rate: u64,
) -> anyhow::Result<Vec<Answered>> {
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now() + Duration::from_millis(20);
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in reqs.into_iter().enumerate() {
        tokio::time::sleep_until(start + period * i as u32).await;
        let (client, base) = (client.clone(), base.to_string());
        set.spawn(async move {
            let sent = Instant::now();
            let id = send(&client, &base, &r).await?;
            Ok::<_, anyhow::Error>(Answered {
                id,
                sent,
                answered: Instant::now(),
            })
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r??);
    }
    Ok(out)
}

/// Sends every request, `concurrency` at a time; how many were acknowledged (all, or an
/// error).
async fn send_all(server: &Server, reqs: Vec<Req>, concurrency: usize) -> anyhow::Result<u64> {
    let reqs = Arc::new(reqs);
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (reqs, next, client, base) = (reqs.clone(), next.clone(), client.clone(), base.clone());
        set.spawn(async move {
            let mut done = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = reqs.get(i) else {
                    return Ok::<_, anyhow::Error>(done);
                };
                send(&client, &base, r).await?;
                done += 1;
            }
        });
    }
    let mut total = 0;
    while let Some(r) = set.join_next().await {
        total += r??;
    }
    Ok(total)
}

/// The dataset's events table (under its workload table).
pub fn markdown(o: &mut String, e: &EventsResult) {
    let _ = writeln!(
        o,
        "\nEvents: one webhook subscriber (`im.message.receive_v1`, every group message) at a receiver in the harness that answers at once.\n"
    );
    let _ = writeln!(o, "| events | measured | baseline / target | ratio |");
    let _ = writeln!(o, "|---|---:|---:|---:|");
    if let (Some(w), Some(b)) = (&e.send_with, &e.send_without) {
        let _ = writeln!(
            o,
            "| send/s without → with the subscriber | {:.0}/s (p99 {:.2} ms, {:.1} µs CPU) | {:.0}/s (p99 {:.2} ms, {:.1} µs CPU) | {:.2}× |",
            w.rps, w.p99_ms, w.cpu_us, b.rps, b.p99_ms, b.cpu_us, w.rps / b.rps
        );
        if let Some(a) = &e.send_all {
            let _ = writeln!(
                o,
                "| send/s with a Feishu, a WPS and a Yunxin subscriber | {:.0}/s (p99 {:.2} ms, {:.1} µs CPU; {} WPS and {} Yunxin events) | {:.0}/s without | {:.2}× |",
                a.rps, a.p99_ms, a.cpu_us, e.all_wps_events, e.all_yunxin_events, b.rps, a.rps / b.rps
            );
        }
        let _ = writeln!(
            o,
            "| acknowledged sends whose event arrived | {} ({} events) | {} acknowledged | last {:.2} s after the load |",
            e.delivered_with, e.events_with, e.acked_with, e.catch_up_s
        );
        let failed: Vec<String> = e
            .failed_attempts
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        let _ = writeln!(
            o,
            "| attempts the server logged as failed (sends and latency runs) | {} | | |",
            if failed.is_empty() {
                "none".to_string()
            } else {
                failed.join(", ")
            }
        );
    }
    if let Some(l) = &e.latency {
        let _ = writeln!(
            o,
            "| event latency at {}/s for {:.1} s, p50 / p99 / max (arrival − send answered) | {:.2} / {:.2} / {:.2} ms | p99 < 50 ms | {} of {} delivered; sends p50 {:.2}, p99 {:.2} ms |",
            l.rate, l.seconds, l.p50_ms, l.p99_ms, l.max_ms, l.delivered, l.answered, l.send_p50_ms, l.send_p99_ms
        );
    }
    if let Some(d) = &e.drain {
        let _ = writeln!(
            o,
            "| drain of a {}-event backlog (first to last arrival) | {:.0} events/s ({} messages, {} events, in {:.2} s) | 10000/s | {:.2}× |",
            d.backlog, d.rate, d.delivered, d.events, d.seconds, d.rate / 10_000.0
        );
        let _ = writeln!(
            o,
            "| server CPU from its start to the last arrival | {:.1} µs/event ({:.2} s) | | {:.2} s start to last |",
            d.cpu_us_per_event, d.cpu_s, d.start_to_last_s
        );
    }
}

/// The events targets: (name, measured, reference, ratio, met).
pub fn targets(label: &str, e: &EventsResult) -> Vec<(String, String, String, String, bool)> {
    let mut t = Vec::new();
    if let (Some(w), Some(b)) = (&e.send_with, &e.send_without) {
        t.push((
            format!("{label} send with one webhook subscriber ≥ 0.9× without"),
            format!("{:.0}/s", w.rps),
            format!("{:.0}/s", b.rps),
            format!("{:.2}×", w.rps / b.rps),
            w.rps >= 0.9 * b.rps,
        ));
        if let Some(a) = &e.send_all {
            t.push((
                format!("{label} send with one subscriber per dialect ≥ 0.9× without"),
                format!("{:.0}/s", a.rps),
                format!("{:.0}/s", b.rps),
                format!("{:.2}×", a.rps / b.rps),
                a.rps >= 0.9 * b.rps,
            ));
        }
        t.push((
            format!("{label} every acknowledged send's event delivered"),
            e.delivered_with.to_string(),
            e.acked_with.to_string(),
            format!(
                "{:.4}×",
                e.delivered_with as f64 / e.acked_with.max(1) as f64
            ),
            e.delivered_with >= e.acked_with,
        ));
    }
    if let Some(d) = &e.drain {
        t.push((
            format!("{label} deliverer drain ≥ 10,000 events/s"),
            format!("{:.0}/s", d.rate),
            "10000/s".into(),
            format!("{:.2}×", d.rate / 10_000.0),
            d.rate >= 10_000.0 && d.delivered >= d.backlog,
        ));
    }
    if let Some(l) = &e.latency {
        t.push((
            format!("{label} event latency p99 < 50 ms at {}/s", l.rate),
            format!("{:.2} ms", l.p99_ms),
            "50 ms".into(),
            format!("{:.2}×", l.p99_ms / 50.0),
            l.p99_ms < 50.0 && l.delivered >= l.answered,
        ));
    }
    t
}
