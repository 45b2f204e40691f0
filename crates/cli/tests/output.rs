//! What every command prints, as a user's shell sees it: a reader that goes away early
//! (`switchboard … | head -1`, `… | true`) ends the command quietly, and `admin --field`
//! prints bare values for scripts.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

fn switchboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("SWITCHBOARD_URL")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .env("SWITCHBOARD_LOG__LEVEL", "warn");
    c
}

/// Runs `cmd` with its stdout a pipe whose reading end is already closed, as in
/// `switchboard … | true` once `true` has exited.
fn with_closed_stdout(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run switchboard")
}

fn assert_quiet_exit(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exits quietly on a closed stdout, stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: says nothing: {stderr}"
    );
}

/// A one-shot admin API: answers every request with `body` (200, JSON) and returns the
/// request lines it saw.
fn fake_admin_api(body: &'static str) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let (mut conn, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&req).into_owned();
        seen.push(text.lines().next().unwrap_or_default().to_string());
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        seen
    });
    (url, handle)
}

const APPS: &str = r#"{"items":[{"id":1,"app_id":"cli_0123456789abcdef","name":"Build bot","dialect_ids":{"wps":{"spid":"7"}}},{"id":2,"app_id":"cli_fedcba9876543210","name":"Other"}]}"#;

#[test]
fn admin_output_into_a_closed_pipe_exits_quietly() {
    let (url, server) = fake_admin_api(APPS);
    let mut cmd = switchboard();
    cmd.args(["admin", "--url", &url, "--token", "t0123456789abcdef"])
        .args(["app", "list", "2"]);
    let out = with_closed_stdout(cmd);
    assert_quiet_exit(&out, "admin app list");
    assert_eq!(
        server.join().unwrap(),
        ["GET /admin/v1/tenants/2/apps HTTP/1.1"]
    );
}

#[test]
fn sign_and_help_into_a_closed_pipe_exit_quietly() {
    let mut sign = switchboard();
    sign.args(["sign", "wps", "--uri", "/v7/chats/1/messages/x"])
        .args(["--app-id", "AK123456", "--app-secret", "sk098765"]);
    assert_quiet_exit(&with_closed_stdout(sign), "sign wps");

    let mut yunxin = switchboard();
    yunxin.args(["sign", "yunxin", "--app-key", "k", "--app-secret", "s"]);
    assert_quiet_exit(&with_closed_stdout(yunxin), "sign yunxin");

    let mut help = switchboard();
    help.args(["admin", "--help"]);
    assert_quiet_exit(&with_closed_stdout(help), "admin --help");
}

#[test]
fn migrate_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = switchboard();
    cmd.args(["migrate", "--data-dir"]).arg(dir.path());
    assert_quiet_exit(&with_closed_stdout(cmd), "migrate");
}

#[test]
fn admin_field_prints_bare_values_for_scripts() {
    let (url, server) = fake_admin_api(APPS);
    let out = switchboard()
        .args(["admin", "--url", &url, "--token", "t0123456789abcdef"])
        .args(["app", "list", "2", "--field", "items.0.app_id"])
        .args([
            "--field",
            "items.1.id",
            "--field",
            "items.0.dialect_ids.wps",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "cli_0123456789abcdef\t2\t{\"spid\":\"7\"}\n"
    );
    server.join().unwrap();

    let (url, server) = fake_admin_api(APPS);
    let out = switchboard()
        .args(["admin", "--url", &url, "--token", "t0123456789abcdef"])
        .args(["--field", "nope", "app", "list", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no field \"nope\""), "{stderr}");
    server.join().unwrap();
}
