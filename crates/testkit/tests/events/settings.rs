//! `SWITCHBOARD_EVENTS__*` reach `Config::load`. Environment variables are process-wide,
//! so the check runs in a child process (this test binary again, running only
//! `settings::child`) with the variables set there and nowhere else.

use std::process::Command;
use switchboard_server::config::{Config, Overrides};

/// Set in the child only: what `child` should find.
const CHILD: &str = "SWITCHBOARD_EVENTS_TEST_CHILD";

fn run_child(vars: &[(&str, &str)], expect: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "settings::child",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .current_dir(dir.path());
    // Only the variables under test configure the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.env(CHILD, expect);
    let out = cmd.output().expect("run the child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    text
}

#[test]
fn retry_schedule_and_timeout_come_from_the_environment() {
    run_child(
        &[
            ("SWITCHBOARD_EVENTS__RETRY_SCHEDULE", "100ms,200ms"),
            ("SWITCHBOARD_EVENTS__TIMEOUT_MS", "250"),
        ],
        "ok",
    );
    run_child(&[("SWITCHBOARD_EVENTS__RETRY_SCHEDULE", "5x")], "err");
}

/// Runs only inside [`run_child`]'s process.
#[test]
fn child() {
    let Ok(expect) = std::env::var(CHILD) else {
        return;
    };
    let toml = tempfile::NamedTempFile::new().unwrap();
    let loaded = Config::load(Some(toml.path()), &Overrides::default());
    match expect.as_str() {
        "ok" => {
            let cfg = loaded.expect("loads");
            assert_eq!(cfg.events.retry_schedule, "100ms,200ms");
            assert_eq!(cfg.events.timeout_ms, 250);
            assert_eq!(cfg.events.schedule().unwrap().intervals_ms(), &[100, 200]);
            // The rest keeps its defaults.
            let d = Config::default();
            assert_eq!(
                cfg.events.challenge_timeout_ms,
                d.events.challenge_timeout_ms
            );
            assert_eq!(cfg.events.lease_ms, d.events.lease_ms);
        }
        "err" => {
            let e = loaded.expect_err("a bad schedule is refused").to_string();
            assert!(e.contains("retry_schedule"), "{e}");
        }
        other => panic!("unknown expectation {other}"),
    }
}
