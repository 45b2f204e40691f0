//! `/metrics` after a mixed load: the request counters and latency histograms move by
//! exactly the requests sent, per dialect, route template, method and status class; no
//! raw path or id becomes a label; the store's, the outbox's and the process's metrics are
//! there. One test in this binary: the recorder is the process's, shared by every server
//! the process builds.

use reqwest::Method;
use std::collections::{BTreeMap, HashMap};
use switchboard_core::ids::ChatId;
use switchboard_dialect_lark::ids;
use switchboard_testkit::lark::{Face, Lark};
use switchboard_testkit::{spawn_app, store_kind, TestApp};

/// One sample: the metric name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// Parses the text format's samples (comments and blank lines skipped).
fn parse(text: &str) -> HashMap<Series, f64> {
    let mut out = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        // Label values here never contain `",`: templates, names and classes.
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
            map.insert(k.to_string(), v.trim_end_matches('"').to_string());
        }
        out.insert((name.to_string(), map), value.parse().expect("a number"));
    }
    out
}

async fn scrape(app: &TestApp) -> (String, HashMap<Series, f64>) {
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();
    let parsed = parse(&text);
    (text, parsed)
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    (
        name.to_string(),
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn http(dialect: &str, route: &str, method: &str, status: &str) -> [(&'static str, String); 4] {
    [
        ("dialect", dialect.to_string()),
        ("route", route.to_string()),
        ("method", method.to_string()),
        ("status", status.to_string()),
    ]
}

/// How much a request series moved between two scrapes: (requests, histogram count).
fn moved(
    before: &HashMap<Series, f64>,
    after: &HashMap<Series, f64>,
    labels: &[(&'static str, String); 4],
) -> (f64, f64) {
    let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let get =
        |m: &HashMap<Series, f64>, name: &str| m.get(&series(name, &l)).copied().unwrap_or(0.0);
    (
        get(after, "http_requests_total") - get(before, "http_requests_total"),
        get(after, "http_request_duration_seconds_count")
            - get(before, "http_request_duration_seconds_count"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_mixed_load_exactly() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let feishu = Lark::login(&app, &seed, Face::Feishu).await;
    let hi = Lark::login(&app, &seed, Face::Hi).await;
    let chat = ids::chat_id(ChatId(seed.group["id"].as_i64().unwrap()));
    // A first send and get, so that every series below exists before the baseline.
    let first = feishu.send_text(&chat, "warm-up").await;
    feishu.get_one(&first).await;
    let (_, before) = scrape(&app).await;

    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(feishu.send_text(&chat, &format!("m{i}")).await);
    }
    for id in &sent[..3] {
        feishu.get_one(id).await;
    }
    // Missing messages: 4xx on the same template; the id must not become a label.
    let missing = "om_0000000000000000000000000000dead";
    for _ in 0..2 {
        let r = feishu.get(missing, "").await;
        assert!(r.status.is_client_error(), "{} {}", r.status, r.text);
    }
    let hi_get = hi.get(&sent[0], "").await;
    assert_eq!(hi_get.status, 200, "{}", hi_get.text);
    // Unknown paths: WPS's catch-all route, and no route at all.
    for _ in 0..2 {
        let r = app
            .http
            .get(app.url("/v7/no/such/thing/12345"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    for _ in 0..3 {
        let r = app
            .http
            .get(app.url("/nowhere/at-all-777"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    app.admin_ok(Method::GET, "/tenants", None).await;

    let (text, after) = scrape(&app).await;
    let expect = [
        (
            http("feishu", "/open-apis/im/v1/messages", "POST", "2xx"),
            5.0,
        ),
        (
            http(
                "feishu",
                "/open-apis/im/v1/messages/{message_id}",
                "GET",
                "2xx",
            ),
            3.0,
        ),
        (
            http(
                "feishu",
                "/open-apis/im/v1/messages/{message_id}",
                "GET",
                "4xx",
            ),
            2.0,
        ),
        (
            http("hi", "/open-apis/im/messages/{message_id}", "GET", "2xx"),
            1.0,
        ),
        (http("wps", "/v7/{*rest}", "GET", "4xx"), 2.0),
        (http("server", "unmatched", "GET", "4xx"), 3.0),
        (http("admin", "/admin/v1/tenants", "GET", "2xx"), 1.0),
    ];
    for (labels, n) in &expect {
        assert_eq!(
            moved(&before, &after, labels),
            (*n, *n),
            "{labels:?}\n{text}"
        );
    }
    // Nothing else moved but the first scrape (counted once its answer was ready; this
    // one is not, yet).
    let total = |m: &HashMap<Series, f64>| -> f64 {
        m.iter()
            .filter(|((n, _), _)| n == "http_requests_total")
            .map(|(_, v)| v)
            .sum()
    };
    let scrapes = 1.0;
    assert_eq!(
        total(&after) - total(&before),
        5.0 + 3.0 + 2.0 + 1.0 + 2.0 + 3.0 + 1.0 + scrapes,
        "{text}"
    );

    // Bounded labels: no raw path, no message id, no chat id.
    for raw in [
        missing,
        sent[0].as_str(),
        chat.as_str(),
        "12345",
        "at-all-777",
    ] {
        assert!(!text.contains(raw), "{raw} became a label:\n{text}");
    }
    // Buckets are histogram buckets with the documented bounds.
    assert!(
        text.contains("http_request_duration_seconds_bucket{") && text.contains("le=\"0.001\""),
        "{text}"
    );

    // Process, store and outbox.
    let has = |name: &str| after.keys().any(|(n, _)| n == name);
    assert_eq!(after[&series("switchboard_store_up", &[])], 1.0);
    assert!(after[&series("switchboard_uptime_seconds", &[])] >= 0.0);
    assert!(
        after
            .keys()
            .any(|(n, l)| n == "switchboard_build_info" && l.get("version").is_some()),
        "{text}"
    );
    for d in ["feishu", "hi", "wps", "yunxin"] {
        let depth = series("switchboard_events_outbox_depth", &[("dialect", d)]);
        assert_eq!(
            after.get(&depth),
            Some(&0.0),
            "{d}: nobody subscribed\n{text}"
        );
    }
    assert!(has("switchboard_events_unrouted_changes"), "{text}");
    assert!(has("switchboard_events_long_connections"), "{text}");
    assert!(has("switchboard_cache_hits_total"), "{text}");
    match store_kind() {
        "sqlite" => {
            let commits = after[&series("switchboard_sqlite_commit_seconds_count", &[])];
            assert!(commits >= 6.0, "every send committed: {commits}\n{text}");
            assert!(has("switchboard_sqlite_write_batch_size_bucket"), "{text}");
            assert!(has("switchboard_sqlite_wal_frames"), "{text}");
        }
        _ => {
            assert!(after[&series("switchboard_postgres_pool_connections", &[])] >= 1.0);
            assert!(has("switchboard_postgres_acquire_seconds_count"), "{text}");
        }
    }
}
