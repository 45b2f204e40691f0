//! Event delivery: the outbox's router and deliverer, and the webhook client.
//!
//! - `config`: `[events]` settings (schedule, deadline, caps, retention);
//! - `webhook`: the outbound HTTP client (HTTP/1.1, title-case headers, no redirects) and
//!   the URL verification a webhook subscription must pass before it is saved;
//! - `deliverer`: the loops that route changes into deliveries and make attempts.
//!
//! [`Events`] ties them to the dialects that render events; `serve` starts its loops.

mod config;
mod deliverer;
mod http1;
mod webhook;
mod wire;

pub use config::EventsConfig;
pub use webhook::Webhook;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use switchboard_core::events::route::EventDialect;
use switchboard_core::events::schedule::Schedule;
use switchboard_core::Core;
use tokio::sync::Notify;

/// Everything event delivery needs, shared by the admin API (subscriptions, redelivery)
/// and the deliverer's loops.
#[derive(Clone)]
pub struct Events(Arc<EventsParts>);

pub struct EventsParts {
    pub core: Core,
    pub config: EventsConfig,
    pub schedule: Schedule,
    pub dialects: Vec<Arc<dyn EventDialect>>,
    pub webhook: Webhook,
    /// Wakes the router (a write recorded a change).
    pub(crate) wake_router: Arc<Notify>,
    /// Wake the webhook loop and the long-connection loop (deliveries are due): one each,
    /// so that a wake meant for one is never taken by the other.
    pub(crate) wake_webhooks: Arc<Notify>,
    pub(crate) wake_connections: Arc<Notify>,
    /// This node's name in leases.
    pub(crate) owner: String,
    /// Whether the deliverer's loops run (for `/readyz`).
    running: std::sync::atomic::AtomicBool,
    /// Set when the server begins to shut down: long-lived streams (the console's live
    /// pages) end, so that they do not hold the graceful drain for its whole grace period.
    closing: tokio::sync::watch::Sender<bool>,
}

impl std::ops::Deref for Events {
    type Target = EventsParts;
    fn deref(&self) -> &EventsParts {
        &self.0
    }
}

impl Events {
    /// Event delivery over `core` for `dialects`. Registers the core's change hook so that
    /// a write wakes the router at once.
    pub fn new(core: Core, config: EventsConfig, dialects: Vec<Arc<dyn EventDialect>>) -> Self {
        let schedule = config.schedule().expect("validated at start");
        let wake_router = Arc::new(Notify::new());
        let hook = wake_router.clone();
        core.on_change(Box::new(move || hook.notify_one()));
        let webhook = Webhook::new(std::time::Duration::from_millis(config.timeout_ms));
        let owner = format!("{}-{:016x}", hostname(), rand::random::<u64>());
        Events(Arc::new(EventsParts {
            core,
            config,
            schedule,
            dialects,
            webhook,
            wake_router,
            wake_webhooks: Arc::new(Notify::new()),
            wake_connections: Arc::new(Notify::new()),
            owner,
            running: std::sync::atomic::AtomicBool::new(false),
            closing: tokio::sync::watch::channel(false).0,
        }))
    }

    /// Tells long-lived streams to end: call it when shutdown begins, before the drain.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// What a long-lived stream watches to end with the server ([`Events::close_streams`]).
    pub fn streams_closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The dialect named `name` ("feishu", "hi", …).
    pub fn dialect(&self, name: &str) -> Option<&Arc<dyn EventDialect>> {
        self.dialects.iter().find(|d| d.name() == name)
    }

    /// Refreshes the outbox gauges of `/metrics` (read when scraped, not kept up to date).
    pub async fn sample_metrics(&self) {
        use crate::metrics::names;
        let stats = match self.core.outbox_stats().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox for metrics failed");
                return;
            }
        };
        let now = self.core.now_ms();
        for d in &self.dialects {
            let name = d.name();
            let (n, oldest) = stats
                .open
                .iter()
                .find(|(dialect, _, _)| dialect == name)
                .map_or((0, now), |(_, n, at)| (*n, *at));
            let age = (now - oldest).max(0) as f64 / 1000.0;
            metrics::gauge!(names::OUTBOX_DEPTH, "dialect" => name.to_string()).set(n as f64);
            metrics::gauge!(names::OUTBOX_OLDEST, "dialect" => name.to_string()).set(age);
        }
        metrics::gauge!(names::UNROUTED).set(stats.unrouted as f64);
        // Feishu and Hi share one registry of long connections: count it once.
        let open = self
            .dialect("feishu")
            .and_then(|d| d.connections())
            .map_or(0, |c| c.open());
        metrics::gauge!(names::LONG_CONNECTIONS).set(open as f64);
    }

    /// Makes the deliverer look for due deliveries now (after a redelivery).
    pub fn poke(&self) {
        self.wake_webhooks.notify_one();
        self.wake_connections.notify_one();
    }

    /// Starts the router, deliverer and pruning loops; they stop when `shutdown` resolves.
    pub fn start(
        &self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            if me.config.enabled {
                me.running.store(true, Ordering::Release);
                // Cleared however the loops end (a panic included).
                let _stopped = Stopped(me.clone());
                deliverer::run(me, shutdown).await
            }
        })
    }

    /// Whether delivery is as configured: off, or on with its loops running.
    pub fn healthy(&self) -> bool {
        !self.config.enabled || self.running.load(Ordering::Acquire)
    }
}

struct Stopped(Events);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty() && h.len() < 64)
        .unwrap_or_else(|| "node".into())
}
