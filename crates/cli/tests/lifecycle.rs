//! The real binary's life on a SQLite data directory: killed with SIGKILL or stopped with
//! SIGTERM and started again (a signed Yunxin request accepted before is refused after; a
//! SIGTERM under a send load exits 0 with every acknowledged message kept), and backed up
//! under load and restored into a fresh directory.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const TOKEN: &str = "killed-admin-token-0123456789";

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on `dir` and reads its address from its JSON log.
fn start(dir: &Path) -> Node {
    start_on(dir, None)
}

/// Starts `serve` on `dir`, on the PostgreSQL `database` when given.
fn start_on(dir: &Path, database: Option<&str>) -> Node {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    let mut child = cmd
        .env("SWITCHBOARD_ADMIN_TOKEN", TOKEN)
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .env("SWITCHBOARD_LOG__LEVEL", "info")
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start switchboard");
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
        base: base.expect("the server logged its address"),
    }
}

async fn admin(http: &reqwest::Client, node: &Node, path: &str, body: Value) -> Value {
    let r = http
        .post(format!("{}/admin/v1{path}", node.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// What every test here works in: tenant "Acme", user alice, app "Bot", and the group "Ops"
/// that alice owns and the bot is in.
struct World {
    t: i64,
    alice: Value,
    app: Value,
    chat: Value,
}

async fn world(http: &reqwest::Client, node: &Node) -> World {
    let tenant = admin(http, node, "/tenants", json!({ "name": "Acme" })).await;
    let t = tenant["id"].as_i64().unwrap();
    let users = format!("/tenants/{t}/users");
    let alice = admin(
        http,
        node,
        &users,
        json!({ "name": "Alice", "user_id": "alice" }),
    )
    .await;
    let app = admin(
        http,
        node,
        &format!("/tenants/{t}/apps"),
        json!({ "name": "Bot" }),
    )
    .await;
    let chat = admin(
        http,
        node,
        &format!("/tenants/{t}/chats"),
        json!({ "type": "group", "name": "Ops", "owner": { "type": "user", "id": alice["id"] },
                "members": [{ "type": "app", "id": app["id"] }] }),
    )
    .await;
    World {
        t,
        alice,
        app,
        chat,
    }
}

/// One signed Yunxin request, always with the same headers and body.
struct Signed {
    app_key: String,
    nonce: String,
    cur_time: String,
    checksum: String,
    path: String,
}

impl Signed {
    async fn send(&self, http: &reqwest::Client, node: &Node) -> Value {
        http.post(format!("{}{}", node.base, self.path))
            .header("AppKey", &self.app_key)
            .header("Nonce", &self.nonce)
            .header("CurTime", &self.cur_time)
            .header("CheckSum", &self.checksum)
            .header("Content-Type", "application/json;charset=UTF-8")
            .body(r#"{"message":{"message_type":0,"text":"only once"}}"#)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn stop(node: &mut Node, signal: &str) {
    let pid = node.child.id().to_string();
    let status = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(status.success());
    node.child.wait().unwrap();
}

#[tokio::test]
async fn a_signed_request_is_accepted_once_across_sigkill_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut node = start(dir.path());
    let World { t, app, chat, .. } = world(&http, &node).await;
    let secret = app["app_secret"].as_str().unwrap();
    let cur_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let nonce = "killed-test-nonce-1";
    let signed = Signed {
        app_key: app["app_id"].as_str().unwrap().to_string(),
        nonce: nonce.into(),
        checksum: switchboard_dialect_yunxin::auth::checksum(secret, nonce, &cur_time),
        cur_time,
        path: format!(
            "/im/v2/conversations/alice%7C2%7C{}/messages",
            chat["id"].as_i64().unwrap()
        ),
    };
    assert_eq!(signed.send(&http, &node).await["code"], 200);
    assert_eq!(signed.send(&http, &node).await["code"], 414);

    for signal in ["-KILL", "-TERM"] {
        stop(&mut node, signal);
        node = start(dir.path());
        let again = signed.send(&http, &node).await;
        assert_eq!(again["code"], 414, "after {signal}: {again}");
        assert!(
            again["msg"].as_str().unwrap().contains("replayed"),
            "{again}"
        );
    }

    // The chat holds the one message.
    let r = http
        .get(format!(
            "{}/admin/v1/tenants/{t}/chats/{}/messages",
            node.base, chat["id"]
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let history: Value = r.json().await.unwrap();
    let sent = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"]["text"] == "only once")
        .count();
    assert_eq!(sent, 1, "{history}");
}

#[tokio::test]
async fn sigterm_under_load_answers_what_it_accepted_keeps_every_ack_and_exits_zero() {
    sigterm_under_load(None).await;
}

#[tokio::test]
async fn sigterm_under_load_on_postgres_keeps_every_ack_and_exits_zero() {
    let db = switchboard_store_postgres::testing::fresh_database().await;
    sigterm_under_load(Some(db.url())).await;
}

/// Eight senders, SIGTERM in the middle: exit 0, every answer correct, every
/// acknowledged message at its position after a restart, positions gapless.
async fn sigterm_under_load(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut node = start_on(dir.path(), database);
    let World { t, alice, chat, .. } = world(&http, &node).await;
    let url = format!(
        "{}/admin/v1/tenants/{t}/chats/{}/messages",
        node.base, chat["id"]
    );

    // Eight senders in a loop; SIGTERM lands while they run.
    let senders: Vec<_> = (0..8)
        .map(|w| {
            let (http, url, alice) = (http.clone(), url.clone(), alice["id"].clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0.. {
                    let body = json!({ "sender": { "type": "user", "id": alice }, "type": "text",
                                       "content": { "text": format!("{w}-{i}") } });
                    let r = http.post(&url).bearer_auth(TOKEN).json(&body).send().await;
                    let Ok(r) = r else { break }; // refused or cut: never acknowledged
                    let status = r.status();
                    let Ok(v) = r.json::<Value>().await else {
                        break;
                    };
                    // Every answer that arrives is a correct one.
                    assert!(status.is_success(), "{status}: {v}");
                    assert_eq!(v["content"]["text"], format!("{w}-{i}"), "{v}");
                    acked.push((v["position"].as_i64().unwrap(), format!("{w}-{i}")));
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let pid = node.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = node.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    assert!(acked.len() > 50, "the load ran: {} sends", acked.len());

    node = start_on(dir.path(), database);
    let stored: std::collections::HashMap<i64, String> =
        timeline(&http, &node, t, chat["id"].as_i64().unwrap())
            .await
            .into_iter()
            .collect();
    for (position, text) in &acked {
        assert_eq!(
            stored.get(position),
            Some(text),
            "acknowledged at {position}"
        );
    }
    // Positions are gapless: 1..=N.
    let n = stored.len() as i64;
    assert!((1..=n).all(|p| stored.contains_key(&p)), "gapless 1..={n}");
}

/// Every message of `chat` as (position, text), read through the admin API of `node`.
async fn timeline(http: &reqwest::Client, node: &Node, t: i64, chat: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(0, |(p, _)| *p);
        let url = format!(
            "{}/admin/v1/tenants/{t}/chats/{chat}/messages?after_position={after}&limit=1000",
            node.base
        );
        let page: Value = http
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for m in page["items"].as_array().unwrap() {
            out.push((
                m["position"].as_i64().unwrap(),
                m["content"]["text"].as_str().unwrap().to_string(),
            ));
        }
        if page["has_more"] != true {
            return out;
        }
    }
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_every_message_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("live");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let node = start(&data);
    let World { t, alice, chat, .. } = world(&http, &node).await;
    let c = chat["id"].as_i64().unwrap();
    let url = format!("{}/admin/v1/tenants/{t}/chats/{c}/messages", node.base);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..4)
        .map(|w| {
            let (http, url, alice) = (http.clone(), url.clone(), alice["id"].clone());
            let (stop, acked) = (stop.clone(), acked.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let text = format!("{w}-{i}");
                    let body = json!({ "sender": { "type": "user", "id": alice }, "type": "text",
                                       "content": { "text": text } });
                    let v: Value = http
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let at = std::time::Instant::now();
                    acked
                        .lock()
                        .unwrap()
                        .push((at, v["position"].as_i64().unwrap(), text));
                    i += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    let file = dir.path().join("backup.db");
    let began = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["backup", "--to"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("SWITCHBOARD_DATABASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let before: Vec<_> = acked.iter().filter(|(at, ..)| *at < began).collect();
    assert!(
        before.len() > 20,
        "the load ran before the backup: {}",
        before.len()
    );
    assert!(
        acked.len() > before.len(),
        "sends went on during and after the backup"
    );

    let restored = dir.path().join("restored");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&restored)
        .env_remove("SWITCHBOARD_DATABASE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second restore over it is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&restored)
        .env_remove("SWITCHBOARD_DATABASE")
        .output()
        .unwrap();
    assert!(!again.status.success());

    let copy = start(&restored);
    let stored: std::collections::HashMap<i64, String> =
        timeline(&http, &copy, t, c).await.into_iter().collect();
    for (_, position, text) in &before {
        assert_eq!(
            stored.get(position),
            Some(text),
            "acknowledged at {position}"
        );
    }
    let n = stored.len() as i64;
    assert!((1..=n).all(|p| stored.contains_key(&p)), "gapless 1..={n}");
    drop(node);
}
