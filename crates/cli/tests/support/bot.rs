//! A served binary provisioned for conversation tests, with a bot simulated in the test:
//! tenant "Acme", user Alice (`alice`), app "bot" and group chat "ops" holding both. The
//! bot polls the chat through the admin API and answers "hi <user_id>" to every user
//! message that mentions it, as the app. On PostgreSQL when `SWITCHBOARD_TEST_STORE=postgres`.

use super::node::{self, Node};
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const TOKEN: &str = "chat-cli-admin-token-0123456789";

#[allow(dead_code)]
pub struct World {
    pub node: Node,
    pub tenant: i64,
    pub app: i64,
    pub chat: i64,
    /// The chat commands' temp dir, where `chat send` keeps its state file.
    pub tmp: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    stop: Arc<AtomicBool>,
    _data: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[allow(dead_code)]
impl World {
    pub fn start() -> World {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = match std::env::var("SWITCHBOARD_TEST_STORE").as_deref() {
            Ok("postgres") => {
                Some(rt.block_on(switchboard_store_postgres::testing::fresh_database_url()))
            }
            _ => None,
        };
        let data = tempfile::tempdir().unwrap();
        let env = [
            ("SWITCHBOARD_EVENTS__RETRY_SCHEDULE", "100ms,200ms"),
            ("SWITCHBOARD_EVENTS__TIMEOUT_MS", "1000"),
        ];
        let node = node::start(data.path(), db.as_deref(), TOKEN, &env);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let call = |m, p: &str, b| rt.block_on(call(&http, &node.base, m, p, b));
        use reqwest::Method;
        let tenant = call(Method::POST, "/tenants", Some(json!({ "name": "Acme" })))["id"]
            .as_i64()
            .unwrap();
        call(
            Method::POST,
            &format!("/tenants/{tenant}/users"),
            Some(json!({ "name": "Alice", "user_id": "alice" })),
        );
        let app = call(
            Method::POST,
            &format!("/tenants/{tenant}/apps"),
            Some(json!({ "name": "bot" })),
        )["id"]
            .as_i64()
            .unwrap();
        let chat = call(
            Method::POST,
            &format!("/tenants/{tenant}/chats"),
            Some(json!({ "type": "group", "name": "ops",
                "owner": {"type": "user", "id": "alice"},
                "members": [{"type": "app", "id": app}] })),
        )["id"]
            .as_i64()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (base, halt) = (node.base.clone(), stop.clone());
        std::thread::spawn(move || bot(base, tenant, app, chat, halt));
        World {
            node,
            tenant,
            app,
            chat,
            tmp: tempfile::tempdir().unwrap(),
            rt,
            http,
            stop,
            _data: data,
        }
    }

    /// An admin API call that must succeed.
    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.rt
            .block_on(call(&self.http, &self.node.base, method, path, body))
    }

    /// `switchboard ARGS` against this server (URL and token from the environment).
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(args)
            .env("SWITCHBOARD_URL", &self.node.base)
            .env("SWITCHBOARD_ADMIN_TOKEN", TOKEN)
            .env("TMPDIR", self.tmp.path())
            .output()
            .expect("run switchboard")
    }
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http
        .request(method, format!("{base}/admin/v1{path}"))
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

/// The simulated bot: answers "hi <user_id>" to each user message mentioning it.
fn bot(base: String, tenant: i64, app: i64, chat: i64, stop: Arc<AtomicBool>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut after = 0;
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/tenants/{tenant}/chats/{chat}/messages?after_position={after}");
        let Ok(page) = rt.block_on(try_call(&http, &base, reqwest::Method::GET, &path, None))
        else {
            return;
        };
        for m in page["items"].as_array().cloned().unwrap_or_default() {
            after = m["position"].as_i64().unwrap();
            let mentioned = m["mentions"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|x| x["type"] == "app" && x["id"] == app));
            if m["sender"]["type"] != "user" || !mentioned {
                continue;
            }
            let user = format!("/tenants/{tenant}/users/{}", m["sender"]["id"]);
            let Ok(u) = rt.block_on(try_call(&http, &base, reqwest::Method::GET, &user, None))
            else {
                return;
            };
            let reply = json!({
                "sender": {"type": "app", "id": app}, "type": "text",
                "content": {"text": format!("hi {}", u["user_id"].as_str().unwrap_or("?"))},
            });
            let send = format!("/tenants/{tenant}/chats/{chat}/messages");
            if rt
                .block_on(try_call(
                    &http,
                    &base,
                    reqwest::Method::POST,
                    &send,
                    Some(reply),
                ))
                .is_err()
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn try_call(
    http: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, reqwest::Error> {
    let mut req = http
        .request(method, format!("{base}/admin/v1{path}"))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await?.error_for_status()?.json().await
}
