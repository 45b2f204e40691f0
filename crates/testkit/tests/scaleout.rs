//! Several stateless nodes on one PostgreSQL: one truth. These tests always run on
//! PostgreSQL (SQLite serves a single process), each node with its own connection pool,
//! HTTP server and in-memory state, sharing only the database.

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use switchboard_store_postgres::testing::{fresh_database, Cluster};
use switchboard_testkit::{spawn_app_with, Options, Seed, TestApp};

async fn two_nodes() -> (TestApp, TestApp) {
    let db = Arc::new(fresh_database().await);
    let a = spawn_app_with(Options {
        database: Some(db),
        ..Options::default()
    })
    .await;
    let b = a.second_node().await;
    (a, b)
}

fn messages_path(s: &Seed) -> String {
    format!(
        "/tenants/{}/chats/{}/messages",
        s.tenant["id"], s.group["id"]
    )
}

async fn all_positions(node: &TestApp, s: &Seed) -> Vec<i64> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = node
            .admin_ok(
                Method::GET,
                &format!("{}?after_position={after}&limit=1000", messages_path(s)),
                None,
            )
            .await;
        let items = page["items"].as_array().unwrap();
        out.extend(items.iter().map(|m| m["position"].as_i64().unwrap()));
        if page["has_more"] != true {
            return out;
        }
        after = page["next_after_position"].as_i64().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_stay_gapless_with_two_nodes_writing_one_chat() {
    let (a, b) = two_nodes().await;
    let s = a.seed().await;
    const PER_NODE: usize = 8;
    const EACH: usize = 40;
    let nodes = [Arc::new(a), Arc::new(b)];
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for sender in 0..PER_NODE {
            let node = node.clone();
            let path = messages_path(&s);
            let who = if sender % 2 == 0 { "alice" } else { "bob" };
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..EACH {
                    let body = json!({ "sender": { "type": "user", "id": who }, "type": "text", "content": { "text": format!("n{n}-s{sender}-{i}") } });
                    let m = node.admin_ok(Method::POST, &path, Some(body)).await;
                    got.push(m["position"].as_i64().unwrap());
                }
                got
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let total = 2 * PER_NODE * EACH;
    acked.sort_unstable();
    assert_eq!(
        acked,
        (1..=total as i64).collect::<Vec<_>>(),
        "acknowledged positions are exactly 1..={total}"
    );
    assert_eq!(
        all_positions(&nodes[1], &s).await,
        (1..=total as i64).collect::<Vec<_>>(),
        "node B lists them all, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_recalls_and_idempotency_keys_are_shared_across_nodes() {
    let (a, b) = two_nodes().await;
    let s = a.seed().await;
    let path = messages_path(&s);
    let m = a
        .admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "v1")
        .await;
    let on_b = b
        .admin_ok(Method::GET, &format!("{path}/{}", m["id"]), None)
        .await;
    assert_eq!(on_b["text"], "v1");
    a.admin_ok(
        Method::PUT,
        &format!("{path}/{}", m["id"]),
        Some(json!({ "content": { "text": "v2" } })),
    )
    .await;
    let on_b = b
        .admin_ok(Method::GET, &format!("{path}/{}", m["id"]), None)
        .await;
    assert_eq!(
        (on_b["text"].as_str(), on_b["edit_count"].as_i64()),
        (Some("v2"), Some(1)),
        "B never serves the old version"
    );
    b.admin_ok(Method::DELETE, &format!("{path}/{}", m["id"]), None)
        .await;
    let on_a = a
        .admin_ok(Method::GET, &format!("{path}/{}", m["id"]), None)
        .await;
    assert_eq!(on_a["removed"]["kind"], "recalled");

    let body = json!({ "sender": { "type": "user", "id": "bob" }, "type": "text", "content": { "text": "once" }, "client_msg_id": "k-1" });
    let first = a.admin_ok(Method::POST, &path, Some(body.clone())).await;
    let again = b.admin_ok(Method::POST, &path, Some(body)).await;
    assert_eq!(
        first["id"], again["id"],
        "the key sent to node B returns node A's message"
    );
    assert_eq!(all_positions(&a, &s).await, vec![1, 2]);
}

/// Crashes a real PostgreSQL (immediate stop) while two nodes are under write load, then
/// starts it again: requests fail fast with 503 meanwhile, service resumes by itself, and
/// every acknowledged message survives at its position with no gap or duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_crash_under_load_loses_nothing_acknowledged() {
    let cluster = Arc::new(
        tokio::task::spawn_blocking(|| Cluster::start(true))
            .await
            .unwrap(),
    );
    let url = cluster.url.clone();
    let a = spawn_app_with(Options {
        database_url: Some(url.clone()),
        configure: Some(Box::new(|c| {
            c.postgres.connect_timeout_secs = 2;
            c.postgres.acquire_timeout_secs = 2;
        })),
        ..Options::default()
    })
    .await;
    let s = a.seed().await;
    let a = Arc::new(a);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..6 {
        let (node, stop, path) = (a.clone(), stop.clone(), messages_path(&s));
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<Value> = Vec::new();
            let mut failures = 0usize;
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let body = json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": format!("w{w}-{i}") } });
                let r = node.admin(Method::POST, &path, Some(body)).await;
                if r.status.is_success() {
                    acked.push(r.body);
                } else {
                    assert_eq!(r.status.as_u16(), 503, "failures are 'unavailable', never a 500: {}", r.text);
                    assert_eq!(r.body["code"], "unavailable");
                    failures += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            (acked, failures)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.crash())
        .await
        .unwrap();
    // While the database is down, a read fails fast with 503 too.
    let down = a
        .admin(Method::GET, &format!("{}?limit=1", messages_path(&s)), None)
        .await;
    assert_eq!(down.status.as_u16(), 503, "{}", down.text);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart())
        .await
        .unwrap();
    // Service resumes by itself: wait until writes succeed again, then a little more load.
    let mut resumed = false;
    for _ in 0..100 {
        let r = a
            .admin(Method::GET, &format!("{}?limit=1", messages_path(&s)), None)
            .await;
        if r.status.is_success() {
            resumed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        resumed,
        "the node did not recover after the database came back"
    );
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut acked = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (a, f) = t.await.unwrap();
        acked.extend(a);
        failures += f;
    }
    assert!(failures > 0, "the outage was observed by the writers");
    let positions = all_positions(&a, &s).await;
    let n = positions.len() as i64;
    assert_eq!(
        positions,
        (1..=n).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let stored: HashSet<i64> = positions.into_iter().collect();
    for m in &acked {
        let p = m["position"].as_i64().unwrap();
        assert!(
            stored.contains(&p),
            "acknowledged message at position {p} lost"
        );
        let got = a
            .admin_ok(
                Method::GET,
                &format!("{}/{}", messages_path(&s), m["id"]),
                None,
            )
            .await;
        assert_eq!(got["text"], m["text"], "acknowledged content changed");
    }
    let after: Vec<i64> = acked
        .iter()
        .map(|m| m["position"].as_i64().unwrap())
        .collect();
    assert!(!after.is_empty());
    let _ = url;
}

/// A Yunxin request replayed on another node (same nonce, still fresh) is refused there:
/// nonces are shared through the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yunxin_nonce_is_single_use_across_nodes() {
    use switchboard_testkit::yunxin::{fresh_nonce, YunxinClient};
    let (a, b) = two_nodes().await;
    let s = a.seed().await;
    let on_a = YunxinClient::new(&a, s.app_id(), s.app_secret());
    let on_b = YunxinClient::new(&b, s.app_id(), s.app_secret());
    let m = a
        .admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "hi")
        .await;
    let path = format!(
        "/conversations/alice%7C2%7C{}/messages/{}",
        s.group["id"], m["id"]
    );
    let signing = on_a.signing(&fresh_nonce(), &on_a.now_secs().to_string());
    let first = on_a.request(Method::GET, &path, Some(&signing), None).await;
    assert_eq!(first.body["code"], 200, "{}", first.text);
    assert_eq!(first.body["data"]["text"], "hi");
    let replay = on_b.request(Method::GET, &path, Some(&signing), None).await;
    assert_eq!(replay.body["code"], 414, "{}", replay.text);
    assert!(
        replay.body["msg"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nonce"),
        "{}",
        replay.text
    );
}

/// A Feishu send repeated with the same `uuid` on another node returns the first message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feishu_uuid_is_honoured_across_nodes() {
    use switchboard_testkit::lark::{Face, Lark};
    let (a, b) = two_nodes().await;
    let s = a.seed().await;
    let on_a = Lark::login(&a, &s, Face::Feishu).await;
    let on_b = Lark {
        app: &b,
        face: Face::Feishu,
        token: on_a.token.clone(),
    };
    let oc = s.group["dialect_ids"]["lark"].as_str().unwrap();
    let first = on_a
        .send_to(
            "chat_id",
            oc,
            "text",
            json!({ "text": "once" }),
            Some("uuid-1"),
        )
        .await;
    let again = on_b
        .send_to(
            "chat_id",
            oc,
            "text",
            json!({ "text": "once" }),
            Some("uuid-1"),
        )
        .await;
    assert_eq!(first.body["code"], 0, "{}", first.text);
    assert_eq!(again.body["code"], 0, "{}", again.text);
    assert_eq!(
        first.body["data"]["message_id"],
        again.body["data"]["message_id"]
    );
    assert_eq!(all_positions(&b, &s).await, vec![1]);
}

/// Each node caches apps; a secret rotated through one node is refused by the other once
/// the change's notification arrives (milliseconds), and the new secret is accepted there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_on_one_node_is_refused_by_the_other() {
    use switchboard_testkit::yunxin::YunxinClient;
    let (a, b) = two_nodes().await;
    let s = a.seed().await;
    let old_on_b = YunxinClient::new(&b, s.app_id(), s.app_secret());
    let before = old_on_b
        .request(Method::GET, "/accounts/alice", Some(&old_on_b.sign()), None)
        .await;
    assert_eq!(before.body["code"], 200, "{}", before.text);
    let rotated = a
        .admin_ok(
            Method::POST,
            &format!(
                "/tenants/{}/apps/{}/rotate_secret",
                s.tenant["id"], s.bot["id"]
            ),
            None,
        )
        .await;
    let new_secret = rotated["app_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, s.app_secret());
    let start = std::time::Instant::now();
    loop {
        let r = old_on_b
            .request(Method::GET, "/accounts/alice", Some(&old_on_b.sign()), None)
            .await;
        if r.body["msg"]
            .as_str()
            .is_some_and(|m| m.contains("CheckSum mismatch"))
        {
            break;
        }
        assert_eq!(r.body["code"], 200, "{}", r.text);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "node B still accepts the old secret after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let new_on_b = YunxinClient::new(&b, s.app_id(), &new_secret);
    let after = new_on_b
        .request(Method::GET, "/accounts/alice", Some(&new_on_b.sign()), None)
        .await;
    assert_eq!(after.body["code"], 200, "{}", after.text);
}
