//! A minimal webhook receiver in the harness process. At `/events`, Feishu's: answers the
//! URL verification challenge, answers every event 200 `{"msg":"success"}` at once, and
//! records when each message's event arrived (by `event.message.message_id`). At `/wps`
//! and `/yunxin`: echoes a plaintext challenge and counts the events it is sent (they are
//! encrypted or signed for their apps; the tests check those wires, the harness their cost).

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Default)]
struct Log {
    /// Events received (duplicates included).
    events: u64,
    /// The first arrival of each message's event.
    arrivals: HashMap<String, Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Events counted at `/wps` and `/yunxin`.
    other: HashMap<String, u64>,
}

/// What the receiver has seen since it was last reset.
pub struct Seen {
    pub events: u64,
    pub messages: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

pub struct Receiver {
    pub url: String,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new()
            .route("/events", post(event))
            .route("/{dialect}", post(other))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/events", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url, log, task })
    }

    /// The URL of the route that counts `dialect`'s events.
    pub fn url_for(&self, dialect: &str) -> String {
        self.url.replace("/events", &format!("/{dialect}"))
    }

    /// Events counted at `dialect`'s route since the last reset.
    pub fn counted(&self, dialect: &str) -> u64 {
        let l = self.log.lock().expect("not poisoned");
        l.other.get(dialect).copied().unwrap_or(0)
    }

    /// Forgets everything seen so far.
    pub fn reset(&self) {
        *self.log.lock().expect("not poisoned") = Log::default();
    }

    pub fn seen(&self) -> Seen {
        let l = self.log.lock().expect("not poisoned");
        Seen {
            events: l.events,
            messages: l.arrivals.len() as u64,
            first: l.first,
            last: l.last,
        }
    }

    /// When the event of message `id` (as the listener sees it) first arrived.
    pub fn arrival(&self, id: &str) -> Option<Instant> {
        self.log
            .lock()
            .expect("not poisoned")
            .arrivals
            .get(id)
            .copied()
    }

    /// Waits until `want` messages' events have arrived, or until none has arrived for
    /// `idle` (the deliverer has stopped delivering); returns what was seen.
    pub async fn wait_for(&self, want: u64, idle: std::time::Duration) -> Seen {
        let mut last_count = 0;
        let mut last_change = Instant::now();
        loop {
            let s = self.seen();
            if s.messages >= want {
                return s;
            }
            if s.messages != last_count {
                last_count = s.messages;
                last_change = Instant::now();
            } else if last_change.elapsed() >= idle {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn event(State(log): State<Arc<Mutex<Log>>>, body: Bytes) -> Json<Value> {
    let now = Instant::now();
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return Json(json!({ "msg": "success" }));
    };
    if v["type"] == "url_verification" {
        return Json(json!({ "challenge": v["challenge"] }));
    }
    let mut l = log.lock().expect("not poisoned");
    l.events += 1;
    if let Some(id) = v["event"]["message"]["message_id"].as_str() {
        l.arrivals.entry(id.to_string()).or_insert(now);
    }
    l.first.get_or_insert(now);
    l.last = Some(now);
    Json(json!({ "msg": "success" }))
}

async fn other(
    State(log): State<Arc<Mutex<Log>>>,
    axum::extract::Path(dialect): axum::extract::Path<String>,
    body: Bytes,
) -> Json<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        if let Some(c) = v.get("challenge").filter(|_| v.get("eventType").is_none()) {
            return Json(json!({ "challenge": c }));
        }
    }
    let mut l = log.lock().expect("not poisoned");
    *l.other.entry(dialect).or_default() += 1;
    Json(json!({ "msg": "success" }))
}
