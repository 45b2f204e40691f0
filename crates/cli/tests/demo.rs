//! `switchboard demo` as a user runs it: the real binary, a fresh data directory, a random
//! port. The banner's admin token works, the seeded data is there, and a second run reuses it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Demo {
    child: Child,
    base: String,
    token: String,
    group: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SWITCHBOARD_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (mut base, mut token, mut group) = (None, None, None);
    let mut lines = out.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Switchboard demo is running on ") {
            base = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Admin token : ") {
            token = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Group chat  : ") {
            group = rest.split_whitespace().next().map(str::to_string);
        } else if line.starts_with("# Admin API") {
            break;
        }
    }
    // Keep reading what the demo prints, as a terminal would.
    std::thread::spawn(move || for _ in lines {});
    Demo {
        child,
        base: base.expect("banner address"),
        token: token.expect("banner token"),
        group: group.expect("banner group"),
    }
}

async fn get(d: &Demo, path: &str) -> serde_json::Value {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", d.base))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn demo_serves_a_seeded_tenant_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path());
    let msgs = get(
        &first,
        &format!(
            "/admin/v1/tenants/1/chats/{}/messages?limit=1000",
            first.group
        ),
    )
    .await;
    let items = msgs["items"].as_array().unwrap();
    assert!(
        items.len() >= 15,
        "about 20 messages of several types: {}",
        items.len()
    );
    let kinds: std::collections::HashSet<&str> =
        items.iter().filter_map(|m| m["type"].as_str()).collect();
    for k in [
        "text",
        "rich_text",
        "image",
        "file",
        "audio",
        "video",
        "card",
    ] {
        assert!(kinds.contains(k), "a {k} message");
    }
    assert!(items.iter().any(|m| !m["reply_to"].is_null()), "a reply");
    assert!(
        items
            .iter()
            .any(|m| m["mentions"].as_array().is_some_and(|a| !a.is_empty())),
        "a mention"
    );
    assert!(items.iter().any(|m| m["updated"] == true), "an edit");
    assert!(items.iter().any(|m| !m["removed"].is_null()), "a recall");
    drop(first);

    let second = start(dir.path());
    let chats = get(&second, "/admin/v1/tenants/1/chats").await;
    assert_eq!(
        chats["items"].as_array().unwrap().len(),
        3,
        "the same demo data, not a second copy"
    );
    let tenants = get(&second, "/admin/v1/tenants").await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1);
}
