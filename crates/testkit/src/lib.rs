//! `spawn_app()`: a whole Switchboard on a random 127.0.0.1 port over a fresh database in a
//! temp dir, with an admin client and helpers per endpoint. Dialect clients that sign their
//! own requests live in this crate's modules.

pub mod lark;
pub mod receiver;
pub mod verify;
pub mod wps;
pub mod yunxin;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_core::{Clock, Core, ManualClock};
use switchboard_server::config::Config;

const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Selects the store every `spawn_app()` uses: `sqlite` (default) or `postgres`.
pub const STORE_ENV: &str = "SWITCHBOARD_TEST_STORE";

/// The store tests run on, from [`STORE_ENV`].
pub fn store_kind() -> &'static str {
    match std::env::var(STORE_ENV).as_deref() {
        Ok("postgres") => "postgres",
        Ok("sqlite") | Err(_) => "sqlite",
        Ok(other) => panic!("{STORE_ENV}={other:?}: expected sqlite or postgres"),
    }
}

/// A change applied to the configuration before the app is built.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// Options for [`spawn_app_with`].
#[derive(Default)]
pub struct Options {
    /// Drive time by hand (token expiry, signature skew, recall windows).
    pub clock: Option<ManualClock>,
    /// Adjust the configuration before the app is built.
    pub configure: Option<Configure>,
    /// Reuse this data directory (for restart tests).
    pub data_dir: Option<Arc<tempfile::TempDir>>,
    /// Use this PostgreSQL database (a second node, or a restart) instead of a fresh one.
    pub database: Option<Arc<switchboard_store_postgres::testing::TestDatabase>>,
    /// Use this database URL as it is (e.g. a dedicated cluster a test crashes and restarts).
    pub database_url: Option<String>,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub admin_token: String,
    pub http: reqwest::Client,
    pub core: Core,
    pub clock: Option<ManualClock>,
    pub config: Config,
    pub data_dir: Arc<tempfile::TempDir>,
    /// The PostgreSQL database when running on PostgreSQL (kept alive by this handle).
    pub database: Option<Arc<switchboard_store_postgres::testing::TestDatabase>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    let data_dir = opts
        .data_dir
        .unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("temp dir")));
    let mut config = Config {
        data_dir: data_dir.path().to_path_buf(),
        admin_token: ADMIN_TOKEN.into(),
        ..Config::default()
    };
    let database = match (opts.database, store_kind()) {
        (Some(db), _) => Some(db),
        (None, "postgres") => Some(Arc::new(
            switchboard_store_postgres::testing::fresh_database().await,
        )),
        (None, _) => None,
    };
    if let Some(db) = &database {
        config.database = db.url().to_string();
    }
    if let Some(url) = opts.database_url {
        config.database = url;
    }
    if let Some(f) = opts.configure {
        f(&mut config);
    }
    let store = switchboard_server::open_store(&config)
        .await
        .expect("open store");
    let clock: Arc<dyn Clock> = match &opts.clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(switchboard_core::SystemClock),
    };
    let core = switchboard_server::core_for(store, clock, &config);
    let (app, events) = switchboard_server::build(
        core.clone(),
        switchboard_core::model::Secret::new(ADMIN_TOKEN),
        &config,
    );
    let (stop_events, events_stopped) = tokio::sync::watch::channel(false);
    let deliverer = events.start(events_stopped);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let http = config.http.clone();
    let closing = events.clone();
    let server = tokio::spawn(async move {
        switchboard_server::serve(listener, app, &http, async move {
            let _ = rx.await;
            closing.close_streams();
        })
        .await
        .expect("server");
        let _ = stop_events.send(true);
        let _ = deliverer.await;
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        admin_token: ADMIN_TOKEN.into(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        core,
        clock: opts.clock,
        config,
        data_dir,
        database,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// A response: status, headers and the body parsed as JSON (or `Value::Null` when it is not).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let clock = self.clock.clone();
        let dir = self.data_dir.clone();
        let database = self.database.clone();
        let cfg = self.config.clone();
        drop(self);
        spawn_app_with(Options {
            clock,
            data_dir: Some(dir),
            database,
            database_url: None,
            configure: Some(Box::new(move |c| {
                *c = Config {
                    data_dir: c.data_dir.clone(),
                    admin_token: c.admin_token.clone(),
                    ..cfg
                };
            })),
        })
        .await
    }

    /// Another node on the same database (PostgreSQL only: SQLite serves one process),
    /// with its own data directory, connection pool and in-memory state.
    pub async fn second_node(&self) -> TestApp {
        let db = self
            .database
            .clone()
            .expect("a second node needs the PostgreSQL store (SWITCHBOARD_TEST_STORE=postgres)");
        let cfg = self.config.clone();
        spawn_app_with(Options {
            clock: self.clock.clone(),
            database: Some(db),
            configure: Some(Box::new(move |c| {
                *c = Config {
                    data_dir: c.data_dir.clone(),
                    admin_token: c.admin_token.clone(),
                    database: c.database.clone(),
                    ..cfg
                };
            })),
            data_dir: None,
            database_url: None,
        })
        .await
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// An admin API call with the admin token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .http
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    /// An admin call that must succeed; returns the body.
    pub async fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let r = self.admin(method.clone(), path, body).await;
        assert!(
            r.status.is_success(),
            "{method} {path} -> {}: {}",
            r.status,
            r.text
        );
        r.body
    }

    pub async fn create_tenant(&self, name: &str) -> Value {
        self.admin_ok(Method::POST, "/tenants", Some(json!({ "name": name })))
            .await
    }

    pub async fn create_user(&self, tenant: &Value, name: &str, user_id: &str) -> Value {
        let path = format!("/tenants/{}/users", tenant["id"]);
        self.admin_ok(
            Method::POST,
            &path,
            Some(json!({ "name": name, "user_id": user_id })),
        )
        .await
    }

    pub async fn create_app(&self, tenant: &Value, name: &str) -> Value {
        self.admin_ok(
            Method::POST,
            &format!("/tenants/{}/apps", tenant["id"]),
            Some(json!({ "name": name })),
        )
        .await
    }

    /// Creates a chat; `members` are `(type, canonical id)` pairs.
    pub async fn create_chat(
        &self,
        tenant: &Value,
        kind: &str,
        name: Option<&str>,
        owner: (&str, &Value),
        members: &[(&str, &Value)],
    ) -> Value {
        let members: Vec<Value> = members
            .iter()
            .map(|(t, id)| json!({ "type": t, "id": id }))
            .collect();
        let body = json!({ "type": kind, "name": name, "owner": { "type": owner.0, "id": owner.1 }, "members": members });
        self.admin_ok(
            Method::POST,
            &format!("/tenants/{}/chats", tenant["id"]),
            Some(body),
        )
        .await
    }

    /// Sends a text message through the admin API as a user or app.
    pub async fn admin_send_text(
        &self,
        tenant: &Value,
        chat: &Value,
        sender: (&str, &Value),
        text: &str,
    ) -> Value {
        let body = json!({ "sender": { "type": sender.0, "id": sender.1 }, "type": "text", "content": { "text": text } });
        self.admin_ok(
            Method::POST,
            &format!("/tenants/{}/chats/{}/messages", tenant["id"], chat["id"]),
            Some(body),
        )
        .await
    }

    /// A standard world: tenant "Acme", users alice and bob, app "Bot", a group "General"
    /// owned by alice holding all three, and the bot's p2p chat with alice.
    pub async fn seed(&self) -> Seed {
        let tenant = self.create_tenant("Acme").await;
        let alice = self.create_user(&tenant, "Alice", "alice").await;
        let bob = self.create_user(&tenant, "Bob", "bob").await;
        let bot = self.create_app(&tenant, "Bot").await;
        let group = self
            .create_chat(
                &tenant,
                "group",
                Some("General"),
                ("user", &alice["id"]),
                &[("user", &bob["id"]), ("app", &bot["id"])],
            )
            .await;
        let p2p = self
            .create_chat(
                &tenant,
                "p2p",
                None,
                ("app", &bot["id"]),
                &[("user", &alice["id"])],
            )
            .await;
        Seed {
            tenant,
            alice,
            bob,
            bot,
            group,
            p2p,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// What [`TestApp::seed`] created, as the admin API returned it.
#[derive(Debug, Clone)]
pub struct Seed {
    pub tenant: Value,
    pub alice: Value,
    pub bob: Value,
    pub bot: Value,
    pub group: Value,
    pub p2p: Value,
}

impl Seed {
    pub fn app_id(&self) -> &str {
        self.bot["app_id"].as_str().unwrap()
    }
    pub fn app_secret(&self) -> &str {
        self.bot["app_secret"].as_str().unwrap()
    }
}
