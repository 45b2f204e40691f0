//! Prometheus metrics: the process-wide recorder, its `/metrics` rendering, and what is
//! sampled only when scraped (store and outbox gauges, uptime).
//!
//! One recorder per process, installed as the `metrics` facade's global recorder the first
//! time a server is built with metrics on: the stores and the deliverer record through the
//! facade without knowing where it goes. Every label is bounded whatever the traffic: route
//! templates (never raw paths), dialect names, methods, status classes, outcome names.
//!
//! - `http.rs`: the layer that counts and times every request (and writes the access log);
//! - this file: the recorder, the names and their help texts, the scrape handler.

mod http;

pub use http::{note_route, Observe};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Request latency buckets, in seconds: a cached get answers in tens of microseconds, a
/// write in about a millisecond, a timeout after 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
/// Event delivery latency buckets, in seconds (from the change to the receiver's answer).
const DELIVERY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0,
];
/// Write batch sizes (messages or operations per commit).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often histogram samples are folded into their buckets between scrapes, so that a
/// server nobody scrapes does not keep every sample.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

struct Installed {
    handle: PrometheusHandle,
    started: Instant,
}

static INSTALLED: OnceLock<Option<Installed>> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle). `None` when
/// another recorder was installed first, in which case nothing is recorded here.
pub fn install() -> Option<PrometheusHandle> {
    INSTALLED
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(names::DELIVERY_LATENCY.into()),
                        DELIVERY_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), BATCH_BUCKETS)
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                })
                .ok()?;
            metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(Installed {
                handle,
                started: Instant::now(),
            })
        })
        .as_ref()
        .map(|i| i.handle.clone())
}

/// The metric names: a contract with dashboards and alerts (`docs/operations.md`).
pub mod names {
    pub const HTTP_REQUESTS: &str = "http_requests_total";
    pub const HTTP_DURATION: &str = "http_request_duration_seconds";
    pub const BUILD_INFO: &str = "switchboard_build_info";
    pub const UPTIME: &str = "switchboard_uptime_seconds";
    pub const STORE_UP: &str = "switchboard_store_up";
    pub const OUTBOX_DEPTH: &str = "switchboard_events_outbox_depth";
    pub const OUTBOX_OLDEST: &str = "switchboard_events_oldest_pending_seconds";
    pub const UNROUTED: &str = "switchboard_events_unrouted_changes";
    pub const ATTEMPTS: &str = "switchboard_events_attempts_total";
    pub const DELIVERY_LATENCY: &str = "switchboard_events_delivery_latency_seconds";
    pub const LONG_CONNECTIONS: &str = "switchboard_events_long_connections";
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests answered, by dialect, route template, method and status class"
    );
    describe_histogram!(
        names::HTTP_DURATION,
        Unit::Seconds,
        "Time from a request's arrival to its answer's headers"
    );
    describe_gauge!(names::BUILD_INFO, "Always 1; the version is a label");
    describe_gauge!(
        names::UPTIME,
        Unit::Seconds,
        "Seconds since the process started"
    );
    describe_gauge!(
        names::STORE_UP,
        "1 when the store answered the scrape's ping, 0 otherwise"
    );
    describe_gauge!(
        names::OUTBOX_DEPTH,
        "Event deliveries not yet delivered or given up, by dialect"
    );
    describe_gauge!(
        names::OUTBOX_OLDEST,
        Unit::Seconds,
        "Age of the oldest event delivery not yet delivered, by dialect"
    );
    describe_gauge!(
        names::UNROUTED,
        "Recorded changes the router has not yet turned into deliveries"
    );
    describe_counter!(
        names::ATTEMPTS,
        "Event delivery attempts, by dialect and outcome (delivered or the error class)"
    );
    describe_histogram!(
        names::DELIVERY_LATENCY,
        Unit::Seconds,
        "From a change being recorded to its event being delivered, by dialect"
    );
    describe_gauge!(
        names::LONG_CONNECTIONS,
        "Open Feishu long connections (event receivers)"
    );
    switchboard_store_sqlite::metrics::describe();
    switchboard_store_postgres::metrics::describe();
}

/// `GET /metrics`: the Prometheus text format, with the scrape-time gauges refreshed first.
pub async fn scrape(State(s): State<crate::AppState>) -> Response {
    let Some(installed) = INSTALLED.get().and_then(Option::as_ref) else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            "metrics are off in this process\n",
        )
            .into_response();
    };
    metrics::gauge!(names::UPTIME).set(installed.started.elapsed().as_secs_f64());
    let up = s.core.ping().await.is_ok();
    metrics::gauge!(names::STORE_UP).set(if up { 1.0 } else { 0.0 });
    if up {
        s.events.sample_metrics().await;
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        installed.handle.render(),
    )
        .into_response()
}
