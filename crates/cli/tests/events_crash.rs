//! The event outbox across `kill -9`: the real binary under a send load of p2p messages to
//! a subscribed bot is killed mid-load and started again on the same store, the load goes
//! on, and once the deliveries settle the receiver (in the test process, so its URL
//! outlives the server) has seen, for every message the chat holds, exactly one event id;
//! every acknowledged message is among them; and no event names a message that was never
//! sent. On SQLite, and on PostgreSQL (a fresh database, as in multinode.rs).

#[path = "support/node.rs"]
mod node;
#[path = "support/receiver.rs"]
mod receiver;

use node::Node;
use receiver::Receiver;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "events-crash-admin-token-0123456789";
/// How long a dead process's leases hold its changes and deliveries back on PostgreSQL,
/// where nodes share the database and a restarted one waits them out (the default is a
/// minute; at least twice either timeout). SQLite releases them when it opens the file.
const LEASE_MS: &str = "2000";

/// Starts `serve` on `dir` (and `database` when given) with a fast retry schedule.
fn start(dir: &Path, database: Option<&str>) -> Node {
    let env = [
        (
            "SWITCHBOARD_EVENTS__RETRY_SCHEDULE",
            "100ms,200ms,500ms,1s,2s",
        ),
        ("SWITCHBOARD_EVENTS__TIMEOUT_MS", "1000"),
        ("SWITCHBOARD_EVENTS__YUNXIN_TIMEOUT_MS", "1000"),
        ("SWITCHBOARD_EVENTS__LEASE_MS", LEASE_MS),
    ];
    node::start(dir, database, TOKEN, &env)
}

async fn call(
    http: &reqwest::Client,
    node: &Node,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http
        .request(method, format!("{}/admin/v1{path}", node.base))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// What the senders saw: acknowledged messages by their Feishu id (om_…) with their text,
/// and the texts of sends that had no answer (the kill cut them).
#[derive(Default)]
struct Sent {
    acked: HashMap<String, String>,
    in_flight: HashSet<String>,
}

/// `workers` tasks sending p2p messages in a loop until `stop` or until their connection
/// fails (the server died). Texts are `{round}-{worker}-{i}`.
fn load(
    http: &reqwest::Client,
    url: String,
    round: &str,
    workers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    sent: Arc<Mutex<Sent>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let (http, url, stop, sent) = (http.clone(), url.clone(), stop.clone(), sent.clone());
            let round = round.to_string();
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let text = format!("{round}-{w}-{i}");
                    let body = json!({ "sender": { "type": "user", "id": "alice" },
                                       "type": "text", "content": { "text": text } });
                    let answer = async {
                        let r = http
                            .post(&url)
                            .bearer_auth(TOKEN)
                            .json(&body)
                            .send()
                            .await?;
                        let status = r.status();
                        Ok::<_, reqwest::Error>((status, r.json::<Value>().await?))
                    }
                    .await;
                    match answer {
                        Ok((status, v)) => {
                            assert!(status.is_success(), "{status}: {v}");
                            assert_eq!(v["content"]["text"], text.as_str(), "{v}");
                            let om = v["dialect_ids"]["lark"].as_str().unwrap().to_string();
                            sent.lock().unwrap().acked.insert(om, text);
                            // A steady load, not a flood: the deliveries keep up with it.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(_) => {
                            // Refused or cut: it may or may not have been stored.
                            sent.lock().unwrap().in_flight.insert(text);
                            return;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Every message of the chat as (om_…, text), through the admin API.
async fn timeline(http: &reqwest::Client, node: &Node, path: &str) -> Vec<(String, String)> {
    let (mut out, mut after) = (Vec::new(), 0);
    loop {
        let page = call(
            http,
            node,
            reqwest::Method::GET,
            &format!("{path}?after_position={after}&limit=1000"),
            None,
        )
        .await;
        for m in page["items"].as_array().unwrap() {
            after = m["position"].as_i64().unwrap();
            out.push((
                m["dialect_ids"]["lark"].as_str().unwrap().to_string(),
                m["content"]["text"].as_str().unwrap().to_string(),
            ));
        }
        if page["has_more"] != true {
            return out;
        }
    }
}

async fn crash_under_load(database: Option<&str>) {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    use reqwest::Method;
    let mut node = start(dir.path(), database);

    let t = call(
        &http,
        &node,
        Method::POST,
        "/tenants",
        Some(json!({ "name": "Acme" })),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    call(
        &http,
        &node,
        Method::POST,
        &format!("/tenants/{t}/users"),
        Some(json!({ "name": "Alice", "user_id": "alice" })),
    )
    .await;
    let app = call(
        &http,
        &node,
        Method::POST,
        &format!("/tenants/{t}/apps"),
        Some(json!({ "name": "Bot" })),
    )
    .await["id"]
        .clone();
    let chat = call(
        &http,
        &node,
        Method::POST,
        &format!("/tenants/{t}/chats"),
        Some(
            json!({ "type": "p2p", "owner": { "type": "user", "id": "alice" },
                     "members": [{ "type": "app", "id": app }] }),
        ),
    )
    .await["id"]
        .clone();
    call(
        &http,
        &node,
        Method::PUT,
        &format!("/tenants/{t}/apps/{app}/events/feishu"),
        Some(
            json!({ "mode": "webhook", "url": rx.url, "verification_token": "vt",
                     "event_types": ["im.message.receive_v1"] }),
        ),
    )
    .await;
    let messages = format!("/tenants/{t}/chats/{chat}/messages");

    // Eight senders; SIGKILL lands while they run.
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = format!("{}/admin/v1{messages}", node.base);
    let before = load(&http, url, "a", 8, stop.clone(), sent.clone());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = node.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    node.child.wait().unwrap();
    for s in before {
        s.await.unwrap();
    }
    let (acked_before, delivered_before) = (sent.lock().unwrap().acked.len(), rx.seen().len());
    assert!(acked_before > 50, "the load ran: {acked_before} sends");
    assert!(
        delivered_before < acked_before,
        "the kill landed before delivery caught up: {delivered_before} of {acked_before}"
    );

    // Started again on the same store; a little more load.
    node = start(dir.path(), database);
    let url = format!("{}/admin/v1{messages}", node.base);
    let after = load(&http, url, "b", 4, stop.clone(), sent.clone());
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in after {
        s.await.unwrap();
    }

    // Settled: the receiver has seen every stored message, and nothing is still open.
    let stored = timeline(&http, &node, &messages).await;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let seen: HashSet<String> = rx.seen().into_iter().filter_map(|s| s.message_id).collect();
        let missing = stored.iter().filter(|(om, _)| !seen.contains(om)).count();
        let mut open = 0;
        for status in ["pending", "retrying"] {
            let page = call(
                &http,
                &node,
                Method::GET,
                &format!("/tenants/{t}/apps/{app}/deliveries?status={status}&limit=200"),
                None,
            )
            .await;
            open += page["items"].as_array().unwrap().len();
        }
        if missing == 0 && open == 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "not settled: {missing} of {} stored messages never delivered, {open} deliveries open",
            stored.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = call(
        &http,
        &node,
        Method::GET,
        &format!("/tenants/{t}/apps/{app}/deliveries?status=failed&limit=200"),
        None,
    )
    .await;
    assert_eq!(failed["items"], json!([]), "no delivery failed");

    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let seen = rx.seen();
    let mut ids: HashMap<String, BTreeSet<String>> = HashMap::new();
    for s in &seen {
        assert_eq!(s.event_id.len(), 32, "{s:?}");
        assert_eq!(s.event_type, "im.message.receive_v1", "{s:?}");
        let om = s
            .message_id
            .clone()
            .expect("a message event names its message");
        ids.entry(om).or_default().insert(s.event_id.clone());
    }
    // Exactly one event id per message, whatever the redeliveries.
    for (om, eids) in &ids {
        assert_eq!(eids.len(), 1, "{om} has several event ids: {eids:?}");
    }
    // Every acknowledged message is stored, and was delivered.
    let stored: HashMap<String, String> = stored.into_iter().collect();
    for (om, text) in &sent.acked {
        assert_eq!(stored.get(om), Some(text), "acknowledged {om} is stored");
        assert!(
            ids.contains_key(om),
            "acknowledged {om} ({text}) was never delivered"
        );
    }
    // Every stored message was delivered (an unacknowledged one that was committed too).
    for om in stored.keys() {
        assert!(ids.contains_key(om), "stored {om} was never delivered");
    }
    // None invented: each event names an acknowledged message, or one whose send had no
    // answer at the kill and which the server holds.
    let mut unacked = 0;
    for om in ids.keys() {
        if sent.acked.contains_key(om) {
            continue;
        }
        unacked += 1;
        let m = call(&http, &node, Method::GET, &format!("{messages}/{om}"), None).await;
        let text = m["content"]["text"].as_str().unwrap_or_default();
        assert!(
            sent.in_flight.contains(text),
            "an event names {om} ({text:?}), which no sender sent without an answer"
        );
    }
    assert!(unacked <= sent.in_flight.len());
    eprintln!(
        "{} acknowledged ({acked_before} before the kill, {delivered_before} delivered by then), \
         {} in flight at the kill, {unacked} of them stored; {} events received for {} \
         messages; {:.1} s",
        sent.acked.len(),
        sent.in_flight.len(),
        seen.len(),
        ids.len(),
        began.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_mid_load_loses_no_event_and_invents_none() {
    crash_under_load(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_9_mid_load_loses_no_event_and_invents_none() {
    let db = switchboard_store_postgres::testing::fresh_database().await;
    crash_under_load(Some(db.url())).await;
}
