//! What the real binary tells its operator: with JSON logs and the access log on, every
//! request is one JSON line with its request id, dialect, route template, status, latency
//! and calling app; `/metrics` is served on its own listener when configured (and not on the
//! main one); and no secret the run used — the admin token, app secrets, access tokens,
//! signatures, a wrong token — appears anywhere in the log.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_core::ids::ChatId;

const ADMIN: &str = "observe-admin-token-5f1d2c3b4a";

struct Server {
    child: Child,
    base: String,
    metrics: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .env("SWITCHBOARD_LOG__LEVEL", "debug")
        .env("SWITCHBOARD_LOG__ACCESS", "true")
        .env("SWITCHBOARD_METRICS__LISTEN", "127.0.0.1:0")
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start switchboard");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut base, mut metrics) = (None, None);
    for line in reader.by_ref() {
        let line = line.unwrap();
        lines.lock().unwrap().push(line.clone());
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let addr = v["fields"]["addr"].as_str().map(|a| format!("http://{a}"));
        match v["fields"]["message"].as_str() {
            Some("metrics listening") => metrics = addr,
            Some("switchboard listening") => {
                base = addr;
                break;
            }
            _ => {}
        }
    }
    let keep = lines.clone();
    std::thread::spawn(move || {
        for l in reader.map_while(Result::ok) {
            keep.lock().unwrap().push(l);
        }
    });
    Server {
        child,
        base: base.expect("the server logged its address"),
        metrics: metrics.expect("the metrics listener logged its address"),
        lines,
    }
}

/// A request's answer: status, body, and the request id it carries.
struct Answer {
    status: u16,
    body: Value,
    request_id: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        request_id,
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_names_each_request_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = server.base.clone();
    let admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}/admin/v1{path}"))
            .bearer_auth(ADMIN)
    };

    // The world, through the admin API.
    let tenant = send(admin(reqwest::Method::POST, "/tenants").json(&json!({"name": "Obs"}))).await;
    assert_eq!(tenant.status, 201, "{}", tenant.body);
    let t = tenant.body["id"].as_i64().unwrap();
    let user = send(
        admin(reqwest::Method::POST, &format!("/tenants/{t}/users"))
            .json(&json!({"name": "Ann", "user_id": "ann", "account_id": "ann_acc"})),
    )
    .await;
    assert_eq!(user.status, 201, "{}", user.body);
    let app = send(
        admin(reqwest::Method::POST, &format!("/tenants/{t}/apps")).json(&json!({"name": "Bot"})),
    )
    .await;
    assert_eq!(app.status, 201, "{}", app.body);
    let app_id = app.body["app_id"].as_str().unwrap().to_string();
    let secret = app.body["app_secret"].as_str().unwrap().to_string();
    let chat = send(
        admin(reqwest::Method::POST, &format!("/tenants/{t}/chats")).json(&json!({
            "type": "group", "name": "ops",
            "owner": {"type": "user", "id": user.body["id"]},
            "members": [{"type": "app", "id": app.body["id"]}],
        })),
    )
    .await;
    assert_eq!(chat.status, 201, "{}", chat.body);
    let chat_id = ChatId(chat.body["id"].as_i64().unwrap());

    // Feishu: a token for the app secret, then a send with it.
    let token = send(
        http.post(format!(
            "{base}/open-apis/auth/v3/tenant_access_token/internal"
        ))
        .json(&json!({"app_id": app_id, "app_secret": secret})),
    )
    .await;
    let feishu_token = token.body["tenant_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = send(
        http.post(format!(
            "{base}/open-apis/im/v1/messages?receive_id_type=chat_id"
        ))
        .bearer_auth(&feishu_token)
        .json(&json!({
            "receive_id": switchboard_dialect_lark::ids::chat_id(chat_id),
            "msg_type": "text",
            "content": "{\"text\":\"hello\"}",
        })),
    )
    .await;
    assert_eq!(
        (sent.status, &sent.body["code"]),
        (200, &json!(0)),
        "{}",
        sent.body
    );
    // A wrong token: refused, and not logged either.
    let wrong = "t-g1044wrongwrongwrongwrongwrong0";
    let refused = send(
        http.get(format!(
            "{base}/open-apis/im/v1/messages/om_0123456789abcdef"
        ))
        .bearer_auth(wrong),
    )
    .await;
    assert_eq!(refused.status, 401, "{}", refused.body);

    // WPS: a token, then a signed read of the chat's history.
    let wps = send(http.post(format!("{base}/oauth2/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", app_id.as_str()),
        ("client_secret", secret.as_str()),
    ]))
    .await;
    assert_eq!(wps.status, 200, "{}", wps.body);
    let wps_token = wps.body["access_token"].as_str().unwrap().to_string();
    let uri = format!(
        "/v7/chats/{}/messages",
        switchboard_dialect_wps::ids::chat_id(chat_id)
    );
    let date = switchboard_dialect_wps::kso_date(now_secs());
    let signed =
        switchboard_dialect_wps::sign_headers("GET", &uri, "", b"", &app_id, &secret, &date);
    let mut req = http.get(format!("{base}{uri}")).bearer_auth(&wps_token);
    for (k, v) in &signed {
        req = req.header(k, v);
    }
    let history = send(req).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let kso_signature = signed[1].1.rsplit(':').next().unwrap().to_string();

    // Yunxin: a signed read of the user's account.
    let yx = switchboard_dialect_yunxin::sign_headers(&app_id, &secret, "nonce-obs-1", now_secs());
    let mut req = http.get(format!("{base}/im/v2/accounts/ann_acc"));
    for (k, v) in &yx {
        req = req.header(k, v);
    }
    let account = send(req).await;
    assert_eq!(account.status, 200, "{}", account.body);
    let checksum = yx[3].1.clone();

    // Metrics: on their own listener only.
    let main = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404);
    let scraped = http
        .get(format!("{}/metrics", server.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scraped.contains(r#"http_requests_total{dialect="feishu",route="/open-apis/im/v1/messages",method="POST",status="2xx"} 1"#),
        "{scraped}"
    );

    // Stop (SIGTERM: a clean exit flushes the log), then read everything it wrote.
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "clean exit: {status}");
    std::thread::sleep(Duration::from_millis(100));
    let lines = server.lines.lock().unwrap().clone();
    let log = lines.join("\n");

    // One access line per request, with its fields.
    let access: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "switchboard::access")
        .collect();
    let line_of = |a: &Answer| -> Value {
        access
            .iter()
            .find(|v| v["fields"]["request_id"] == a.request_id.as_str())
            .unwrap_or_else(|| panic!("no access line for {}:\n{log}", a.request_id))["fields"]
            .clone()
    };
    let expect = [
        (&tenant, "admin", "/admin/v1/tenants", "POST", 201, "-"),
        (
            &token,
            "feishu",
            "/open-apis/auth/v3/tenant_access_token/internal",
            "POST",
            200,
            "-",
        ),
        (
            &sent,
            "feishu",
            "/open-apis/im/v1/messages",
            "POST",
            200,
            app_id.as_str(),
        ),
        (
            &refused,
            "feishu",
            "/open-apis/im/v1/messages/{message_id}",
            "GET",
            401,
            "-",
        ),
        (&wps, "wps", "/oauth2/token", "POST", 200, "-"),
        (
            &history,
            "wps",
            "/v7/chats/{chat_id}/messages",
            "GET",
            200,
            app_id.as_str(),
        ),
        (
            &account,
            "yunxin",
            "/im/v2/accounts/{account_id}",
            "GET",
            200,
            app_id.as_str(),
        ),
    ];
    for (answer, dialect, route, method, status, app) in expect {
        let f = line_of(answer);
        assert_eq!(f["dialect"], dialect, "{f}");
        assert_eq!(f["route"], route, "{f}");
        assert_eq!(f["method"], method, "{f}");
        assert_eq!(f["status"], status, "{f}");
        assert_eq!(f["app"], app, "{f}");
        assert!(f["latency_us"].as_u64().is_some(), "{f}");
    }
    // And the user, app and chat creations and the main listener's 404 for /metrics: every
    // request on the main listener, once.
    assert_eq!(access.len(), expect.len() + 4, "{log}");

    // No secret, token or signature anywhere in the log.
    for (what, s) in [
        ("admin token", ADMIN),
        ("app secret", secret.as_str()),
        ("feishu token", feishu_token.as_str()),
        ("wrong token", wrong),
        ("wps token", wps_token.as_str()),
        ("kso signature", kso_signature.as_str()),
        ("yunxin checksum", checksum.as_str()),
    ] {
        assert!(!log.contains(s), "the {what} is in the log:\n{log}");
    }
}
