//! A `switchboard serve` process for tests: started on a data directory (and a database
//! URL when given) with extra environment, its address read from its JSON log; killed
//! when dropped.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Node {
    pub child: Child,
    pub base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` with the admin token `token` and the variables `env`.
pub fn start(dir: &Path, database: Option<&str>, token: &str, env: &[(&str, &str)]) -> Node {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SWITCHBOARD_ADMIN_TOKEN", token)
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .env("SWITCHBOARD_LOG__LEVEL", "info")
        .env_remove("SWITCHBOARD_DATABASE")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    let mut child = cmd.spawn().expect("start switchboard");
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
