//! Two `switchboard serve` processes on one PostgreSQL database, written to at once: the
//! chat's positions are exactly 1..N, and each node serves what the other wrote.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const TOKEN: &str = "multinode-admin-token-0123456789";

struct Node {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node and reads its listening address from its JSON log.
fn start(database: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database,
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SWITCHBOARD_ADMIN_TOKEN", TOKEN)
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .env("SWITCHBOARD_LOG__LEVEL", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a node");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["fields"]["message"] == "switchboard listening" {
                base = v["fields"]["addr"].as_str().map(|a| format!("http://{a}"));
                break;
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Node {
        child,
        base: base.expect("the node logged its address"),
        _dir: dir,
    }
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
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_keep_positions_gapless() {
    let db = switchboard_store_postgres::testing::fresh_database().await;
    let a = Arc::new(start(db.url()));
    let b = Arc::new(start(db.url()));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    use reqwest::Method;
    let t = call(
        &http,
        &a,
        Method::POST,
        "/tenants",
        Some(json!({ "name": "Multi" })),
    )
    .await;
    let t = t["id"].as_i64().unwrap();
    call(
        &http,
        &a,
        Method::POST,
        &format!("/tenants/{t}/users"),
        Some(json!({ "name": "A", "user_id": "alice" })),
    )
    .await;
    let chat = call(
        &http,
        &b,
        Method::POST,
        &format!("/tenants/{t}/chats"),
        Some(json!({ "type": "group", "name": "g", "owner": { "type": "user", "id": "alice" } })),
    )
    .await;
    let path = format!("/tenants/{t}/chats/{}/messages", chat["id"]);
    const SENDERS_PER_NODE: usize = 8;
    const EACH: usize = 25;
    let mut tasks = Vec::new();
    for node in [a.clone(), b.clone()] {
        for s in 0..SENDERS_PER_NODE {
            let (node, http, path) = (node.clone(), http.clone(), path.clone());
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..EACH {
                    let body = json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": format!("{s}-{i}") } });
                    got.push(call(&http, &node, Method::POST, &path, Some(body)).await["position"].as_i64().unwrap());
                }
                got
            }));
        }
    }
    let mut positions = Vec::new();
    for t in tasks {
        positions.extend(t.await.unwrap());
    }
    positions.sort_unstable();
    let n = (2 * SENDERS_PER_NODE * EACH) as i64;
    assert_eq!(
        positions,
        (1..=n).collect::<Vec<_>>(),
        "acknowledged positions are exactly 1..={n}"
    );
    for node in [&a, &b] {
        let page = call(
            &http,
            node,
            Method::GET,
            &format!("{path}?limit=1000"),
            None,
        )
        .await;
        let listed: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["position"].as_i64().unwrap())
            .collect();
        assert_eq!(
            listed,
            (1..=n).collect::<Vec<_>>(),
            "{} lists every message",
            node.base
        );
    }
}
