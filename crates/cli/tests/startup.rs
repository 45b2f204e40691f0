//! Starting `serve` and `demo` as a user does, with the real binary: a busy port fails
//! before anything is created (so the admin token is still printed by the next start that
//! succeeds), and a SQLite database serves one server at a time and no import meanwhile.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn switchboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env("SWITCHBOARD_LOG__LEVEL", "warn")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .env_remove("RUST_LOG");
    c
}

/// A server process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `args` expecting a quick failure; returns its stderr.
fn fails(args: &[&str], data_dir: &Path) -> String {
    let mut child = switchboard()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            assert!(!status.success(), "{args:?} should fail: {stderr}");
            return stderr;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `serve` on a free port and returns it with what it printed on stderr up to
/// "switchboard listening" (JSON log lines are not kept).
fn serve(data_dir: &Path) -> (Running, String, String) {
    let mut child = switchboard()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("SWITCHBOARD_LOG__LEVEL", "info")
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut printed = String::new();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) if v["fields"]["message"] == "switchboard listening" => {
                addr = v["fields"]["addr"].as_str().map(str::to_string);
                break;
            }
            Ok(_) => {}
            Err(_) => {
                printed.push_str(&line);
                printed.push('\n');
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let addr = addr.unwrap_or_else(|| panic!("serve did not start: {printed}"));
    (Running(child), addr, printed)
}

#[test]
fn a_busy_port_fails_before_anything_is_created_and_the_next_start_prints_the_token() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let root = tempfile::tempdir().unwrap();

    for cmd in ["serve", "demo"] {
        let data = root.path().join(format!("{cmd}-data"));
        let stderr = fails(&[cmd, "--listen", &addr], &data);
        assert!(
            stderr.contains(&format!("cannot listen on {addr}"))
                && stderr.contains("already in use")
                && stderr.contains("--listen"),
            "{cmd}: a clear message: {stderr}"
        );
        assert!(!stderr.contains("admin token"), "{cmd}: no token: {stderr}");
        assert!(!data.exists(), "{cmd}: no data directory was created");
    }
    drop(busy);

    // The next start that succeeds generates the token and prints it.
    let data = root.path().join("serve-data");
    let (server, _, printed) = serve(&data);
    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    assert!(
        printed.contains("Generated admin token") && printed.contains(token.trim()),
        "{printed}"
    );
    drop(server);
}

#[test]
fn one_server_per_sqlite_database_and_no_import_while_it_runs() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (server, _, _) = serve(&data);
    let db = data.join("switchboard.db");
    let lock = data.join("switchboard.db.lock");
    assert!(lock.exists(), "the lock file sits beside the database");

    // A second server on the same data directory is refused.
    let stderr = fails(&["serve", "--listen", "127.0.0.1:0"], &data);
    assert!(
        stderr.contains("already in use by another switchboard server")
            && stderr.contains(&db.display().to_string()),
        "{stderr}"
    );

    // So is an import into its database, with a message saying why.
    let file = root.path().join("history.jsonl");
    std::fs::write(&file, "").unwrap();
    let out = switchboard()
        .args(["import", "--quiet", "--tenant", "1", "--data-dir"])
        .arg(&data)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("is using the SQLite database")
            && stderr.contains("stop it before importing"),
        "{stderr}"
    );

    // Once the server is gone, the same import runs (the file is empty: nothing to do but
    // find the tenant, which does not exist in this fresh database).
    drop(server);
    let out = switchboard()
        .args(["import", "--quiet", "--tenant", "1", "--data-dir"])
        .arg(&data)
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("is using the SQLite database"),
        "the lock went with the server: {stderr}"
    );
}
