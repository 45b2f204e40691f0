//! `switchboard admin events …` against a served binary, with a Feishu receiver in the
//! test process: subscribe (the receiver echoes the challenge; a dead URL is refused),
//! list, a message delivered and found in the delivery log, redelivered with the same
//! event id, then unsubscribed.

#[path = "support/node.rs"]
mod node;
#[path = "support/receiver.rs"]
mod receiver;

use node::Node;
use receiver::Receiver;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = "events-cli-admin-token-0123456789";

/// Starts `serve` on a fresh SQLite data directory, with a fast retry schedule.
fn start() -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("SWITCHBOARD_EVENTS__RETRY_SCHEDULE", "100ms,200ms"),
        ("SWITCHBOARD_EVENTS__TIMEOUT_MS", "1000"),
    ];
    (node::start(dir.path(), None, TOKEN, &env), dir)
}

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

/// An admin command that must succeed; its stdout without the final newline.
fn ok(node: &Node, args: &[&str]) -> String {
    let (success, stdout, stderr) = admin(node, args);
    assert!(success, "admin {args:?}: {stdout}{stderr}");
    stdout.trim_end_matches('\n').to_string()
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn admin_events_subscribe_list_deliveries_redeliver_and_delete() {
    let rx = Receiver::start();
    let (node, _dir) = start();
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
    let app = ok(
        &node,
        &["app", "create", &t, "--name", "Bot", "--field", "id"],
    );
    let chat = ok(
        &node,
        &[
            "chat",
            "create",
            &t,
            "--type",
            "p2p",
            "--owner",
            "user:alice",
            "--member",
            &format!("app:{app}"),
            "--field",
            "id",
        ],
    );

    // A URL where nothing listens: refused, not saved, and the answer says why.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/events", l.local_addr().unwrap())
    };
    let (success, stdout, stderr) = admin(
        &node,
        &[
            "events",
            "put",
            &t,
            &app,
            "feishu",
            "--mode",
            "webhook",
            "--url",
            &dead,
            "--event-type",
            "im.message.receive_v1",
        ],
    );
    assert!(!success, "{stdout}");
    assert_eq!(json(&stdout)["code"], "challenge_failed", "{stdout}");
    assert!(stderr.contains("400"), "{stderr}");
    assert_eq!(
        json(&ok(&node, &["events", "list", &t, &app]))["items"],
        serde_json::json!([])
    );

    // Subscribed once the receiver echoes the challenge.
    let sub = json(&ok(
        &node,
        &[
            "events",
            "put",
            &t,
            &app,
            "feishu",
            "--mode",
            "webhook",
            "--url",
            &rx.url,
            "--verification-token",
            "vt-cli",
            "--event-type",
            "im.message.receive_v1",
            "--event-type",
            "im.chat.disbanded_v1",
        ],
    ));
    assert_eq!(rx.challenges(), 1);
    assert_eq!(sub["dialect"], "feishu");
    assert_eq!(sub["mode"], "webhook");
    assert_eq!(sub["url"], rx.url.as_str());
    assert_eq!(sub["verification_token"], "vt-cli");
    // The server keeps the event types sorted.
    assert_eq!(
        sub["event_types"],
        serde_json::json!(["im.chat.disbanded_v1", "im.message.receive_v1"])
    );
    let listed = ok(
        &node,
        &[
            "events",
            "list",
            &t,
            &app,
            "--field",
            "items.0.dialect",
            "--field",
            "items.0.url",
        ],
    );
    assert_eq!(listed, format!("feishu\t{}", rx.url));

    // A message to the bot arrives, and the log has it.
    let om = ok(
        &node,
        &[
            "message",
            "send",
            &t,
            &chat,
            "--sender",
            "user:alice",
            "--text",
            "hello bot",
            "--field",
            "dialect_ids.lark",
        ],
    );
    wait_for("the event", || !rx.seen().is_empty());
    let first = rx.seen()[0].clone();
    assert_eq!(first.event_type, "im.message.receive_v1");
    assert_eq!(first.message_id.as_deref(), Some(om.as_str()));
    assert_eq!(first.event_id.len(), 32, "{first:?}");
    let logged = json(&ok(
        &node,
        &[
            "events",
            "deliveries",
            &t,
            &app,
            "--event-type",
            "im.message.receive_v1",
            "--limit",
            "10",
        ],
    ));
    let items = logged["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{logged}");
    assert_eq!(items[0]["event_id"], first.event_id.as_str());
    assert_eq!(logged["next"], Value::Null);
    // The receiver answered before the attempt was recorded: wait for the log to say so.
    wait_for("delivered", || {
        ok(
            &node,
            &[
                "events",
                "deliveries",
                &t,
                &app,
                "--status",
                "delivered",
                "--field",
                "items",
            ],
        ) != "[]"
    });
    assert_eq!(
        ok(
            &node,
            &[
                "events",
                "deliveries",
                &t,
                &app,
                "--status",
                "failed",
                "--field",
                "items"
            ],
        ),
        "[]"
    );
    // Paging: limit 1 gives a next, and the page after it is empty.
    let next = ok(
        &node,
        &[
            "events",
            "deliveries",
            &t,
            &app,
            "--limit",
            "1",
            "--field",
            "next",
        ],
    );
    assert_ne!(next, "null");
    assert_eq!(
        ok(
            &node,
            &[
                "events",
                "deliveries",
                &t,
                &app,
                "--limit",
                "1",
                "--after",
                &next,
                "--field",
                "items"
            ],
        ),
        "[]"
    );
    // A bad status is the server's 400, printed, and a failure.
    let (success, stdout, _) = admin(
        &node,
        &["events", "deliveries", &t, &app, "--status", "lost"],
    );
    assert!(!success);
    assert_eq!(json(&stdout)["code"], "invalid_argument", "{stdout}");

    // Redelivered: the same event id, once more.
    let again = json(&ok(&node, &["events", "redeliver", &t, &first.event_id]));
    assert_eq!(again["event_id"], first.event_id.as_str());
    wait_for("the redelivery", || rx.seen().len() == 2);
    assert_eq!(rx.seen()[1].event_id, first.event_id);
    let (success, _, _) = admin(&node, &["events", "redeliver", &t, &"0".repeat(32)]);
    assert!(!success, "an unknown event id is refused");

    // Unsubscribed: nothing pending to drop, and the list is empty.
    let gone = json(&ok(&node, &["events", "delete", &t, &app, "feishu"]));
    assert_eq!(gone["dialect"], "feishu");
    assert_eq!(gone["dropped_deliveries"], 0);
    assert_eq!(
        ok(&node, &["events", "list", &t, &app, "--field", "items"]),
        "[]"
    );
}
