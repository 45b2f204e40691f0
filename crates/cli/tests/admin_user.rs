//! `switchboard admin user wps-sid …` against a served binary: the sid it prints is taken by
//! `/v7/dev/agent/token`, still after the server restarts on the same data directory, and a
//! bad lifetime or an unknown user fails with the admin API's message.

#[path = "support/node.rs"]
mod node;

use node::Node;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

const TOKEN: &str = "wps-sid-cli-admin-token-0123456789";

/// `switchboard admin --url … --token … ARGS`: (success, stdout, stderr).
fn admin(node: &Node, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["admin", "--url", &node.base, "--token", TOKEN])
        .args(args)
        .env_remove("SWITCHBOARD_URL")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .output()
        .expect("run switchboard admin");
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(node: &Node, args: &[&str]) -> String {
    let (success, stdout, stderr) = admin(node, args);
    assert!(success, "admin {args:?}: {stdout}{stderr}");
    stdout.trim_end_matches('\n').to_string()
}

/// `POST /v7/dev/agent/token` with the sid as a cookie, as the `wps365` client sends it:
/// (status, JSON body).
fn agent_token(node: &Node, sid: &str) -> (u16, Value) {
    let addr = node.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /v7/dev/agent/token HTTP/1.1\r\nHost: {addr}\r\nCookie: wps_sid={sid}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn admin_user_wps_sid_issues_a_sid_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = node::start(dir.path(), None, TOKEN, &[]);
    let t = ok(&node, &["tenant", "create", "Acme", "--field", "id"]);
    ok(
        &node,
        &[
            "user",
            "create",
            &t,
            "--name",
            "Alice",
            "--user-id",
            "alice",
        ],
    );
    let whole: Value = serde_json::from_str(&ok(&node, &["user", "wps-sid", &t, "alice"])).unwrap();
    let keys: Vec<&String> = whole.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["wps_sid"]);
    let sid = ok(
        &node,
        &[
            "user",
            "wps-sid",
            &t,
            "alice",
            "--ttl-secs",
            "3600",
            "--field",
            "wps_sid",
        ],
    );
    assert!(sid.starts_with("V02S"), "{sid}");
    let (status, body) = agent_token(&node, &sid);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    let (status, body) = agent_token(&node, &format!("{sid}0"));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], 401_002);

    // The admin API's answer on stdout, its status on stderr.
    let (success, stdout, stderr) =
        admin(&node, &["user", "wps-sid", &t, "alice", "--ttl-secs", "0"]);
    assert!(!success);
    assert!(stdout.contains("ttl_secs"), "{stdout}");
    assert!(stderr.contains("400"), "{stderr}");
    let (success, stdout, stderr) = admin(&node, &["user", "wps-sid", &t, "nobody"]);
    assert!(!success);
    assert!(stdout.contains("not_found"), "{stdout}");
    assert!(stderr.contains("404"), "{stderr}");

    // Nothing was stored: the sid is checked against the same persisted admin token.
    drop(node);
    let node = node::start(dir.path(), None, TOKEN, &[]);
    let (status, body) = agent_token(&node, &sid);
    assert_eq!(status, 200, "after restart: {body}");
}
