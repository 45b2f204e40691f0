//! `switchboard demo` as a user runs it: the real binary, a fresh data directory, a random
//! port. The banner's admin token works, the seeded data is there, and a second run reuses it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Demo {
    child: Child,
    base: String,
    token: String,
    group: String,
    console: String,
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
    let (mut base, mut token, mut group, mut console) = (None, None, None, None);
    let mut lines = out.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Switchboard demo is running on ") {
            base = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Admin token : ") {
            token = Some(rest.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("Console     : ") {
            console = rest.split_whitespace().next().map(str::to_string);
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
        console: console.expect("banner console URL"),
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
    // The console the banner names asks for the admin token it printed.
    assert_eq!(first.console, format!("{}/console", first.base));
    let page = reqwest::get(&first.console).await.unwrap();
    assert!(
        page.url().path().starts_with("/console/sign-in"),
        "{}",
        page.url()
    );
    assert!(page.text().await.unwrap().contains("Admin token"));
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

/// Starts the demo and returns it with everything its banner printed, up to its last
/// command.
fn start_with_banner(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SWITCHBOARD_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    // Keep reading what the demo prints, as a terminal would.
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    // The banner is one write: once it has begun, a pause means it has ended.
    let mut wait = std::time::Duration::from_secs(60);
    let mut banner = String::new();
    while let Ok(line) = rx.recv_timeout(wait) {
        wait = std::time::Duration::from_secs(5);
        banner.push_str(&line);
        banner.push('\n');
        // The last command: the Yunxin query signed by `switchboard sign yunxin`.
        if line.starts_with("  \"'$YX_BASE/im/v2/conversations/") {
            break;
        }
    }
    (child, banner)
}

/// Words a shell would glob (`?`, `*`) outside quotes, per command line.
fn unquoted_globs(script: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in script.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let (mut single, mut double, mut escaped) = (false, false, false);
        for c in line.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' if !single => escaped = true,
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '?' | '*' if !single && !double => {
                    bad.push(line.to_string());
                    break;
                }
                _ => {}
            }
        }
    }
    bad
}

#[test]
fn every_command_the_demo_prints_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (child, banner) = start_with_banner(dir.path());
    let _demo = Demo {
        child,
        base: String::new(),
        token: String::new(),
        group: String::new(),
        console: String::new(),
    };
    let first = "[ -z \"${ZSH_VERSION-}\" ] || setopt interactive_comments\n";
    let script = &banner[banner
        .find(first)
        .unwrap_or_else(|| panic!("the commands, from their first line: {banner}"))..];
    assert!(
        !script.lines().any(|l| l.starts_with("switchboard ")),
        "the binary is named by its path: {script}"
    );
    let exe = env!("CARGO_BIN_EXE_switchboard");
    assert!(
        script.contains(&format!("{exe} admin message list")),
        "{script}"
    );
    assert!(script.contains(&format!("{exe} sign wps")), "{script}");
    assert!(
        script
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .ends_with("; echo"),
        "the last line is a command: {script}"
    );
    assert_eq!(unquoted_globs(script), Vec::<String>::new(), "{script}");

    // Pasted in order into bash (and zsh), with `switchboard` nowhere on the PATH.
    let path = std::env::var("PATH").unwrap_or_default();
    let path: Vec<&str> = path
        .split(':')
        .filter(|d| !std::path::Path::new(d).join("switchboard").exists())
        .collect();
    let run = |shell: &str, args: &[&str]| {
        let mut cmd = Command::new(shell);
        cmd.args(args)
            .env("PATH", path.join(":"))
            .env_remove("SWITCHBOARD_URL")
            .env_remove("SWITCHBOARD_ADMIN_TOKEN");
        if args.contains(&"-c") {
            cmd.arg(script);
            cmd.output().expect(shell)
        } else {
            // Interactive, reading the lines as a terminal would hand them over.
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect(shell);
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(script.as_bytes()).unwrap();
            drop(stdin);
            child.wait_with_output().unwrap()
        }
    };
    let mut shells = vec![("bash", vec!["-e", "-o", "pipefail", "-c"])];
    // zsh, where installed: its globbing and its interactive handling of `#`.
    if Command::new("zsh").arg("-fc").arg("true").status().is_ok() {
        shells.push(("zsh", vec!["-f", "-i"]));
    }
    for (shell, args) in shells {
        let out = run(shell, &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{shell}: {stdout}\n{stderr}");
        for complaint in [
            "not found",
            "parse error",
            "no matches",
            "unknown file attribute",
        ] {
            assert!(!stderr.contains(complaint), "{shell}: {stderr}");
        }
        // Every answer on a line of its own; each a success in its API's terms.
        let (mut admin, mut zero, mut yunxin) = (0, 0, 0);
        for line in stdout
            .lines()
            .filter(|l| l.starts_with('{') && l.ends_with('}'))
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{shell}: {e}: {line}\n{stdout}"));
            match &v["code"] {
                serde_json::Value::Null => admin += 1,
                c if c == 0 => zero += 1,
                c if c == 200 => yunxin += 1,
                _ => panic!("{shell}: a failed call: {line}\n{stdout}"),
            }
        }
        // Admin: 3 curls. WPS: get, send, signed get; Feishu: 3; Hi: 2. Yunxin: 3.
        assert_eq!((admin, zero, yunxin), (3, 8, 3), "{shell}: {stdout}");
        assert!(
            stdout.contains("\"position\": 1"),
            "{shell}: `admin message list` printed its page: {stdout}"
        );
    }
}
