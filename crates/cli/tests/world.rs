//! `serve --world` and `serve --ephemeral`, on the real binary: the declared world's
//! credentials work over the vendor API, a second start changes nothing, every bad world
//! is refused with its line named and writes nothing, and an ephemeral server leaves no
//! directory behind.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const TOKEN: &str = "world-test-admin-token-0123456789";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/world.example.toml")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

struct Server {
    child: Child,
    base: String,
    /// The `world applied` log line, when there was one.
    applied: Option<Value>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[&str], dir: &Path, database: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SWITCHBOARD_ADMIN_TOKEN", TOKEN)
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .env("SWITCHBOARD_LOG__LEVEL", "info")
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("RUST_LOG");
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    cmd
}

/// Starts `serve` on `dir` and waits for its address in the JSON log.
fn start(args: &[&str], dir: &Path, database: Option<&str>) -> Server {
    let mut child = command(args, dir, database)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut base, mut applied) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["fields"]["message"] == "world applied" {
                applied = Some(v["fields"].clone());
            }
            if v["fields"]["message"] == "switchboard listening" {
                base = v["fields"]["addr"].as_str().map(|a| format!("http://{a}"));
                break;
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base: base.expect("the server logged its address"),
        applied,
    }
}

async fn admin_get(base: &str, path: &str) -> Value {
    let r = http()
        .get(format!("{base}/admin/v1{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// Every tenant, with its users, apps, chats and each chat's members, as the admin API
/// lists them.
async fn listings(base: &str) -> Value {
    let tenants = admin_get(base, "/tenants?limit=100").await;
    let mut out = vec![tenants.clone()];
    for t in tenants["items"].as_array().unwrap() {
        let id = &t["id"];
        out.push(admin_get(base, &format!("/tenants/{id}/users?limit=100")).await);
        let apps = admin_get(base, &format!("/tenants/{id}/apps?limit=100")).await;
        for a in apps["items"].as_array().unwrap() {
            let path = format!("/tenants/{id}/apps/{}/events", a["id"]);
            out.push(admin_get(base, &path).await);
        }
        out.push(apps);
        let chats = admin_get(base, &format!("/tenants/{id}/chats?limit=100")).await;
        for c in chats["items"].as_array().unwrap() {
            let path = format!("/tenants/{id}/chats/{}/members", c["id"]);
            out.push(admin_get(base, &path).await);
        }
        out.push(chats);
    }
    Value::Array(out)
}

async fn tenant_count(dir: &Path, database: Option<&str>) -> usize {
    let s = start(&[], dir, database);
    let v = admin_get(&s.base, "/tenants?limit=100").await;
    v["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn an_ephemeral_server_serves_the_declared_world_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let world = example();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--ephemeral", "--world"])
        .arg(&world)
        .env("TMPDIR", tmp.path())
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line).expect("one line of JSON");
    let keys: Vec<_> = ready.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 2, "{ready}");
    let base = ready["url"].as_str().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{ready}");
    assert!(
        ready["admin_token"].as_str().unwrap().len() >= 16,
        "{ready}"
    );
    // The data lives in the one temporary directory made under TMPDIR.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

    let http = http();
    // The declared app, with its declared secret, gets a tenant token …
    let r: Value = http
        .post(format!(
            "{base}/open-apis/auth/v3/tenant_access_token/internal"
        ))
        .json(
            &json!({ "app_id": "cli_ci0000000000001", "app_secret": "ci-secret-0123456789abcdef" }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    let token = r["tenant_access_token"].as_str().unwrap().to_string();
    // … sees the declared chat it is a member of …
    let chats: Value = http
        .get(format!("{base}/open-apis/im/v1/chats"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ci = chats["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "CI")
        .unwrap_or_else(|| panic!("no chat CI: {chats}"));
    // … and sends to it.
    let sent: Value = http
        .post(format!(
            "{base}/open-apis/im/v1/messages?receive_id_type=chat_id"
        ))
        .bearer_auth(&token)
        .json(&json!({ "receive_id": ci["chat_id"], "msg_type": "text",
                       "content": "{\"text\":\"build green\"}" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["code"], 0, "{sent}");
    // A wrong secret is refused.
    let r: Value = http
        .post(format!(
            "{base}/open-apis/auth/v3/tenant_access_token/internal"
        ))
        .json(&json!({ "app_id": "cli_ci0000000000001", "app_secret": "not-the-secret-000000" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(r["code"], 0, "{r}");

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    // Nothing more on stdout than the one line.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the temporary directory is gone"
    );
}

async fn second_start_changes_nothing(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let world = example();
    let world = world.to_str().unwrap();
    let first = start(&["--world", world], dir.path(), database);
    assert_eq!(first.applied.as_ref().unwrap()["created"], 7);
    let before = listings(&first.base).await;
    drop(first);
    let second = start(&["--world", world], dir.path(), database);
    let applied = second.applied.as_ref().unwrap();
    assert_eq!(
        (&applied["created"], &applied["updated"]),
        (&json!(0), &json!(0))
    );
    let after = listings(&second.base).await;
    assert_eq!(before, after);
    // What the file declares is there: one tenant, two users, two apps, two chats.
    let t = &before[0]["items"];
    assert_eq!(t.as_array().unwrap().len(), 1, "{before}");
    assert_eq!(t[0]["name"], "Acme CI");
    // The declared subscription is saved: CI Bot's Feishu long connection.
    let subs: Vec<&Value> = before
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| {
            v["items"]
                .as_array()
                .is_some_and(|i| i.iter().any(|x| x["dialect"].is_string()))
        })
        .collect();
    assert_eq!(subs.len(), 1, "{before}");
    let sub = &subs[0]["items"][0];
    assert_eq!(sub["app_id"], "cli_ci0000000000001", "{sub}");
    assert_eq!(sub["mode"], "long_connection", "{sub}");
    assert_eq!(
        sub["event_types"],
        json!(["im.message.receive_v1"]),
        "{sub}"
    );
}

#[tokio::test]
async fn a_world_saves_a_webhook_without_a_challenge_and_reads_secrets_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hook.toml");
    let text = BASE.replacen(
        "app_secret = \"secret-0123456789abcdef\"",
        "app_secret_env = \"SB_WORLD_TEST_SECRET\"\n[tenants.apps.events.wps]\nmode = \"webhook\"\nurl = \"http://127.0.0.1:9/nobody-listens\"",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let mut cmd = command(
        &["--world", file.to_str().unwrap()],
        &dir.path().join("data"),
        None,
    );
    cmd.env("SB_WORLD_TEST_SECRET", "from-the-environment-0123");
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|v| v["fields"]["message"] == "switchboard listening")
        .and_then(|v| v["fields"]["addr"].as_str().map(|a| format!("http://{a}")))
        .expect("listening");
    std::thread::spawn(move || for _ in lines {});
    let server = Server {
        child,
        base,
        applied: None,
    };
    let tenants = admin_get(&server.base, "/tenants").await;
    let t = &tenants["items"][0]["id"];
    let apps = admin_get(&server.base, &format!("/tenants/{t}/apps")).await;
    let app = &apps["items"][0];
    let subs = admin_get(
        &server.base,
        &format!("/tenants/{t}/apps/{}/events", app["id"]),
    )
    .await;
    let sub = &subs["items"][0];
    assert_eq!(sub["dialect"], "wps", "{subs}");
    assert_eq!(sub["mode"], "webhook", "{subs}");
    assert_eq!(sub["url"], "http://127.0.0.1:9/nobody-listens", "{subs}");
    // Every WPS event type, since the file names none.
    let all: Vec<&str> = switchboard_dialect_wps::events::EVENT_TYPES.to_vec();
    let mut want: Vec<&str> = all.clone();
    want.sort();
    assert_eq!(sub["event_types"], json!(want), "{subs}");
    // The secret came from the environment: it mints a WPS token.
    let r: Value = http()
        .post(format!("{}/oauth2/token", server.base))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "cli_0123456789abcdef"),
            ("client_secret", "from-the-environment-0123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["access_token"].is_string(), "{r}");
}

#[tokio::test]
async fn a_second_start_with_the_same_world_changes_nothing() {
    second_start_changes_nothing(None).await;
}

#[tokio::test]
async fn a_second_start_with_the_same_world_changes_nothing_on_postgres() {
    let db = switchboard_store_postgres::testing::fresh_database().await;
    second_start_changes_nothing(Some(db.url())).await;
}

/// A good world with one line replaced; `# here` marks the line the error must name.
const BASE: &str = r#"
[[tenants]]
name = "T"

[[tenants.users]]
name = "Alice"
user_id = "alice"

[[tenants.apps]]
name = "Bot"
app_id = "cli_0123456789abcdef"
app_secret = "secret-0123456789abcdef"

[[tenants.chats]]
name = "Room"
owner = "Alice"
members = ["Bot"]
"#;

fn bad_worlds() -> Vec<(&'static str, String)> {
    let swap = |from: &str, to: &str| {
        assert!(BASE.contains(from));
        BASE.replacen(from, to, 1)
    };
    vec![
        (
            "unknown key",
            swap("user_id = \"alice\"", "user_id = \"alice\"\ncolour = \"red\" # here"),
        ),
        (
            "duplicate name",
            swap(
                "[[tenants.apps]]\nname = \"Bot\"",
                "[[tenants.apps]]\nname = \"Alice\" # here",
            ),
        ),
        (
            "member that does not exist",
            swap("members = [\"Bot\"]", "members = [\"Bot\", \"Carol\"] # here"),
        ),
        (
            "secret too short",
            swap(
                "app_secret = \"secret-0123456789abcdef\"",
                "app_secret = \"short\" # here",
            ),
        ),
        (
            "app_id of the wrong form",
            swap(
                "app_id = \"cli_0123456789abcdef\"",
                "app_id = \"app_0123456789abcdef\" # here",
            ),
        ),
        (
            "unknown scope",
            swap(
                "app_secret = \"secret-0123456789abcdef\"",
                "app_secret = \"secret-0123456789abcdef\"\nscopes = [\"im:message\",\n  \"im:everything\"] # here",
            ),
        ),
        (
            "unknown event type",
            swap(
                "app_secret = \"secret-0123456789abcdef\"",
                "app_secret = \"secret-0123456789abcdef\"\n[tenants.apps.events.feishu]\nmode = \"long_connection\"\nevent_types = [\"im.message.receive_v1\", \"im.nothing\"] # here",
            ),
        ),
        (
            "webhook without a url",
            swap(
                "app_secret = \"secret-0123456789abcdef\"",
                "app_secret = \"secret-0123456789abcdef\"\n[tenants.apps.events.wps]\nmode = \"webhook\" # here",
            ),
        ),
        (
            "missing environment variable",
            swap(
                "app_secret = \"secret-0123456789abcdef\"",
                "app_secret_env = \"SB_WORLD_TEST_UNSET\" # here",
            ),
        ),
    ]
}

fn marked_line(text: &str) -> usize {
    text.lines().position(|l| l.contains("# here")).unwrap() + 1
}

/// Runs `serve --world` to its end and returns its stderr (it must fail).
fn refused(dir: &Path, database: Option<&str>, world: &Path) -> String {
    let out = command(&["--world", world.to_str().unwrap()], dir, database)
        .env_remove("SB_WORLD_TEST_UNSET")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

async fn bad_worlds_are_refused(postgres: bool) {
    for (what, text) in bad_worlds() {
        let dir = tempfile::tempdir().unwrap();
        let guard = match postgres {
            true => Some(switchboard_store_postgres::testing::fresh_database().await),
            false => None,
        };
        let db = guard.as_ref().map(|d| d.url().to_string());
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, &text).unwrap();
        let stderr = refused(&dir.path().join("data"), db.as_deref(), &file);
        let want = format!("bad.toml:{}:", marked_line(&text));
        assert!(stderr.contains(&want), "{what}: want {want} in {stderr}");
        assert_eq!(
            tenant_count(&dir.path().join("data"), db.as_deref()).await,
            0,
            "{what}: nothing is created"
        );
    }
}

#[tokio::test]
async fn each_bad_world_is_refused_with_its_line_and_creates_nothing() {
    bad_worlds_are_refused(false).await;
}

#[tokio::test]
async fn each_bad_world_is_refused_with_its_line_and_creates_nothing_on_postgres() {
    bad_worlds_are_refused(true).await;
}

#[tokio::test]
async fn a_world_that_conflicts_with_the_database_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, BASE).unwrap();
    let s = start(&["--world", good.to_str().unwrap()], &data, None);
    let before = listings(&s.base).await;
    drop(s);

    let other_secret = BASE.replacen(
        "app_secret = \"secret-0123456789abcdef\"",
        "app_secret = \"another-secret-0123456789\" # here",
        1,
    );
    // The same app_id declared in a new tenant, whose creation must not happen either.
    let other_tenant = format!(
        "{BASE}\n[[tenants]]\nname = \"U\"\n\n[[tenants.apps]]\nname = \"Bot\"\napp_id = \"cli_0123456789abcdef\"\napp_secret = \"secret-0123456789abcdef\"\n"
    );
    // The app_id of the app in tenant U, the last one.
    let other_tenant_line = other_tenant
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("app_id = "))
        .last()
        .unwrap()
        .0
        + 1;
    for (what, text, line) in [
        (
            "another secret",
            other_secret.clone(),
            marked_line(&other_secret),
        ),
        ("another tenant", other_tenant, other_tenant_line),
    ] {
        let file = dir.path().join("conflict.toml");
        std::fs::write(&file, &text).unwrap();
        let stderr = refused(&data, None, &file);
        let want = format!("conflict.toml:{line}:");
        assert!(stderr.contains(&want), "{what}: want {want} in {stderr}");
        let s = start(&[], &data, None);
        assert_eq!(listings(&s.base).await, before, "{what}: nothing changed");
    }
}

#[tokio::test]
async fn a_changed_world_updates_names_and_scopes_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("w.toml");
    std::fs::write(&file, BASE).unwrap();
    drop(start(&["--world", file.to_str().unwrap()], &data, None));
    let changed = BASE
        .replacen("name = \"Alice\"", "name = \"Alice Liddell\"", 1)
        .replacen("owner = \"Alice\"", "owner = \"Alice Liddell\"", 1)
        .replacen(
            "app_secret = \"secret-0123456789abcdef\"",
            "app_secret = \"secret-0123456789abcdef\"\nscopes = [\"im:message\"]",
            1,
        );
    std::fs::write(&file, changed).unwrap();
    let s = start(&["--world", file.to_str().unwrap()], &data, None);
    let applied = s.applied.as_ref().unwrap();
    assert_eq!(
        (&applied["created"], &applied["updated"]),
        (&json!(0), &json!(2))
    );
    let t = &admin_get(&s.base, "/tenants").await["items"][0]["id"];
    let users = admin_get(&s.base, &format!("/tenants/{t}/users")).await;
    assert_eq!(users["items"][0]["name"], "Alice Liddell", "{users}");
    let apps = admin_get(&s.base, &format!("/tenants/{t}/apps")).await;
    assert_eq!(apps["items"][0]["scopes"], json!(["im:message"]), "{apps}");
}
