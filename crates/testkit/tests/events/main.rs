//! Event delivery over real HTTP: the admin API's subscriptions and delivery log, retries
//! on a millisecond schedule, isolation between apps, order within a chat, settings from
//! the environment, two nodes on one PostgreSQL, and tenants. The receivers are
//! `switchboard_testkit::receiver::Receiver`s (real sockets, scripted answers).

mod admin;
mod cross;
mod delivery;
mod flow;
mod nodes;
mod settings;

use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use switchboard_core::ids::{ChatId, MessageId, TenantId};
use switchboard_dialect_lark::ids;
use switchboard_server::config::Config;
use switchboard_testkit::receiver::Received;
use switchboard_testkit::{spawn_app_with, Options, TestApp};

/// How long any one wait may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// Retries after 100 ms and 200 ms (3 attempts), 300 ms per attempt, a 20 ms poll.
pub fn fast(cfg: &mut Config) {
    cfg.events.retry_schedule = "100ms,200ms".into();
    cfg.events.timeout_ms = 300;
    cfg.events.poll_ms = 20;
}

/// A node with [`fast`] settings, then `more`.
pub async fn spawn_fast(more: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
    spawn_app_with(Options {
        configure: Some(Box::new(move |c| {
            fast(c);
            more(c);
        })),
        ..Options::default()
    })
    .await
}

pub fn num(v: &Value) -> i64 {
    v["id"].as_i64().expect("canonical id")
}

/// `oc_…`, the chat id events carry.
pub fn oc(chat: &Value) -> String {
    ids::chat_id(ChatId(num(chat)))
}

/// `om_…`, the message id events carry, of an admin-API message.
pub fn om(message: &Value) -> String {
    ids::message_id(MessageId(num(message)))
}

pub fn tenant_key(tenant: &Value) -> String {
    ids::tenant_key(TenantId(num(tenant)))
}

pub fn sub_path(tenant: &Value, app: &Value, dialect: &str) -> String {
    format!(
        "/tenants/{}/apps/{}/events/{dialect}",
        tenant["id"], app["id"]
    )
}

/// A Feishu webhook subscription body for `url`.
pub fn sub_body(url: &str, key: &str, token: &str, types: &[&str]) -> Value {
    json!({
        "mode": "webhook", "url": url, "encrypt_key": key,
        "verification_token": token, "event_types": types,
    })
}

/// Subscribes `app` to Feishu's `im.message.receive_v1` at `url` (must succeed).
pub async fn subscribe(node: &TestApp, tenant: &Value, app: &Value, url: &str, key: &str) -> Value {
    node.admin_ok(
        Method::PUT,
        &sub_path(tenant, app, "feishu"),
        Some(sub_body(url, key, "vt", &["im.message.receive_v1"])),
    )
    .await
}

/// The app's delivery log (newest first).
pub async fn deliveries(node: &TestApp, tenant: &Value, app: &Value) -> Vec<Value> {
    let page = node
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/apps/{}/deliveries?limit=200",
                tenant["id"], app["id"]
            ),
            None,
        )
        .await;
    page["items"].as_array().expect("items").clone()
}

/// Polls the delivery log until `event_id`'s delivery has `status`; returns it.
pub async fn wait_delivery(
    node: &TestApp,
    tenant: &Value,
    app: &Value,
    event_id: &str,
    status: &str,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let items = deliveries(node, tenant, app).await;
        let d = items.iter().find(|d| d["event_id"] == event_id).cloned();
        if let Some(d) = &d {
            if d["status"] == status {
                return d.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "delivery {event_id} never became {status}: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The distinct event ids among `reqs`, in order of first arrival.
pub fn distinct_ids(reqs: &[Received]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in reqs {
        if let Some(id) = r.event_id() {
            if !out.iter().any(|x| x == id) {
                out.push(id.to_string());
            }
        }
    }
    out
}
