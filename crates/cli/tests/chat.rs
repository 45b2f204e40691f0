//! `switchboard chat send|wait|log` against a served binary, with a bot simulated in the
//! test that answers "hi <user_id>" when mentioned.

#[path = "support/bot.rs"]
mod bot;
#[path = "support/node.rs"]
mod node;

use bot::World;
use serde_json::Value;
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn send_mentions_the_bot_and_wait_matches_its_answer() {
    let w = World::start();
    let sent = json(&ok(w.run(&[
        "chat",
        "send",
        "--as",
        "alice",
        "--chat",
        "ops",
        "hello @bot",
    ])));
    assert_eq!(sent["chat_id"], w.chat);
    assert_eq!(sent["sender"]["type"], "user");
    assert_eq!(sent["mentions"][0]["type"], "app");
    assert_eq!(sent["mentions"][0]["id"], w.app);
    assert_eq!(sent["content"]["text"], "hello <at id=\"1\">bot</at>");
    let p = sent["position"].as_i64().unwrap();

    // No --after: it waits after the position `chat send` recorded.
    let got = json(&ok(w.run(&[
        "chat",
        "wait",
        "--chat",
        "ops",
        "--from",
        "bot",
        "--timeout",
        "5s",
        "--match",
        "^hi alice$",
    ])));
    assert_eq!(got["sender"]["type"], "app");
    assert_eq!(got["sender"]["id"], w.app);
    assert_eq!(got["text"], "hi alice");
    assert!(got["position"].as_i64().unwrap() > p, "{got}");

    // With --after, and the chat named by canonical id and the sender by display name.
    let again = json(&ok(w.run(&[
        "chat",
        "wait",
        "--chat",
        &w.chat.to_string(),
        "--from",
        "bot",
        "--after",
        &(p - 1).to_string(),
        "--timeout",
        "1s",
    ])));
    assert_eq!(again["position"], got["position"]);
    let alice = json(&ok(w.run(&[
        "chat",
        "wait",
        "--chat",
        "ops",
        "--from",
        "Alice",
        "--after",
        &(p - 1).to_string(),
        "--timeout",
        "1s",
    ])));
    assert_eq!(alice["position"], p);
}

#[test]
fn wait_times_out_with_exit_1_and_reports_what_arrived() {
    let w = World::start();
    ok(w.run(&[
        "chat",
        "send",
        "--as",
        "alice",
        "--chat",
        "ops",
        "hello @bot",
    ]));
    let o = w.run(&[
        "chat",
        "wait",
        "--chat",
        "ops",
        "--from",
        "bot",
        "--match",
        "^bye",
        "--timeout",
        "1500ms",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.contains("timed out after 1500ms"), "{err}");
    assert!(err.contains("matching /^bye/"), "{err}");
    assert!(
        err.contains("arrived meanwhile:\n  2  bot: hi alice"),
        "{err}"
    );

    // Nothing at all after the bot's answer: says so.
    let o = w.run(&[
        "chat",
        "wait",
        "--chat",
        "ops",
        "--from",
        "alice",
        "--after",
        "2",
        "--timeout",
        "200ms",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("nothing arrived meanwhile"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn log_prints_the_last_messages_as_json_lines_or_text() {
    let w = World::start();
    for t in ["one", "two", "three"] {
        ok(w.run(&["chat", "send", "--as", "alice", "--chat", "ops", t]));
    }
    let out = ok(w.run(&["chat", "log", "--chat", "ops", "--last", "2"]));
    let lines: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["position"], 2);
    assert_eq!(lines[0]["text"], "two");
    assert_eq!(lines[1]["position"], 3);
    assert_eq!(lines[1]["text"], "three");

    let text = ok(w.run(&[
        "chat", "log", "--chat", "ops", "--last", "20", "--format", "text",
    ]));
    assert_eq!(text, "1  Alice: one\n2  Alice: two\n3  Alice: three\n");
}

#[test]
fn names_are_resolved_across_tenants_and_ambiguity_is_refused() {
    let w = World::start();
    use reqwest::Method;
    let other = w.call(
        Method::POST,
        "/tenants",
        Some(serde_json::json!({ "name": "Beta" })),
    )["id"]
        .as_i64()
        .unwrap();
    w.call(
        Method::POST,
        &format!("/tenants/{other}/users"),
        Some(serde_json::json!({ "name": "Alice", "user_id": "alice" })),
    );
    w.call(
        Method::POST,
        &format!("/tenants/{other}/chats"),
        Some(serde_json::json!({ "type": "group", "name": "ops", "owner": {"type": "user", "id": "alice"}, "members": [] })),
    );
    let o = w.run(&["chat", "send", "--as", "alice", "--chat", "ops", "x"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("2 chats are named \"ops\""),
        "{}",
        stderr(&o)
    );
    let sent = json(&ok(w.run(&[
        "chat", "send", "--tenant", "Beta", "--as", "alice", "--chat", "ops", "x",
    ])));
    assert_eq!(sent["position"], 1);
    assert_ne!(sent["chat_id"], w.chat);
    // An unknown sender is named in the error; nothing is sent.
    let o = w.run(&[
        "chat", "send", "--tenant", "Acme", "--as", "mallory", "--chat", "ops", "x",
    ]);
    assert!(
        stderr(&o).contains("no user or app named \"mallory\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        ok(w.run(&["chat", "log", "--tenant", "Acme", "--chat", "ops"])),
        ""
    );
}
