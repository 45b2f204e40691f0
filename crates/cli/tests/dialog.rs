//! `switchboard dialog run` against a served binary, with a bot simulated in the test that
//! answers "hi <user_id>" when mentioned and a Feishu webhook receiver subscribed for it.

#[path = "support/bot.rs"]
mod bot;
#[path = "support/node.rs"]
mod node;
#[path = "support/receiver.rs"]
mod receiver;

use bot::World;
use serde_json::json;
use std::process::Output;

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Writes a dialog into the world's temp dir and plays it with `--junit`: (exit code,
/// stdout, stderr, JUnit XML).
fn play(w: &World, name: &str, dialog: &str) -> (Option<i32>, String, String, String) {
    let file = w.tmp.path().join(name);
    std::fs::write(&file, dialog).unwrap();
    let junit = w.tmp.path().join(format!("{name}.xml"));
    let o = w.run(&[
        "dialog",
        "run",
        file.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let (stdout, stderr) = out(&o);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    (o.status.code(), stdout, stderr, xml)
}

fn subscribe(w: &World) -> receiver::Receiver {
    let rx = receiver::Receiver::start();
    w.call(
        reqwest::Method::PUT,
        &format!("/tenants/{}/apps/{}/events/feishu", w.tenant, w.app),
        Some(json!({ "mode": "webhook", "url": rx.url, "event_types": ["im.message.receive_v1"] })),
    );
    rx
}

const PASSING: &str = r#"
name = "hello"

[[step]]
say = "hello @bot"
as = "alice"
chat = "ops"

[[step]]
expect = "^hi alice"     # a regex
from = "bot"
chat = "ops"
within = "3s"

[[step]]
recall = "last"
as = "alice"
chat = "ops"

[[step]]
expect_event = "im.message.receive_v1"
app = "bot"
within = "3s"
"#;

#[test]
fn a_dialog_that_passes_exits_0_with_a_clean_junit() {
    let w = World::start();
    let rx = subscribe(&w);
    let (code, stdout, stderr, xml) = play(&w, "hello.dialog.toml", PASSING);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout
            .contains("PASS step 1 (line 4): alice says \"hello @bot\" in ops: sent at position 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "PASS step 2 (line 9): bot answers /^hi alice/ in ops: hi alice at position 2"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("PASS step 3 (line 15): alice recalls their last message in ops: recalled the message at position 1"), "{stdout}");
    assert!(
        stdout.contains("PASS step 4 (line 20): bot receives im.message.receive_v1: event "),
        "{stdout}"
    );
    assert!(stdout.ends_with("hello: all 4 steps passed\n"), "{stdout}");
    assert!(
        xml.contains("<testsuite name=\"hello\" tests=\"4\" failures=\"0\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
    // The recall happened, and the receiver got the event the step saw.
    let first = w.call(
        reqwest::Method::GET,
        &format!(
            "/tenants/{}/chats/{}/messages?after_position=0",
            w.tenant, w.chat
        ),
        None,
    );
    assert_eq!(first["items"][0]["removed"]["kind"], "recalled");
    assert!(rx
        .seen()
        .iter()
        .any(|s| s.event_type == "im.message.receive_v1"));
}

#[test]
fn a_failed_expectation_names_the_step_and_what_arrived() {
    let w = World::start();
    let dialog = r#"[defaults]
chat = "ops"
within = "1s"

[[step]]
say = "hello @bot"
as = "alice"

[[step]]
name = "bot says bye"
expect = "^bye"
from = "bot"

[[step]]
say = "never sent"
as = "alice"
"#;
    let (code, stdout, stderr, xml) = play(&w, "bye.dialog.toml", dialog);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("PASS step 1 (line 5)"), "{stdout}");
    assert!(
        stdout.contains("FAIL step 2 (line 9): bot says bye"),
        "{stdout}"
    );
    assert!(stdout.contains("no message from bot matching /^bye/ within 1s after position 1; arrived meanwhile:\n  2  bot: hi alice"), "{stdout}");
    assert!(stdout.contains("SKIP step 3 (line 14)"), "{stdout}");
    assert!(stderr.contains("2 of 3 steps did not pass"), "{stderr}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("2  bot: hi alice</failure>"), "{xml}");
    assert_eq!(xml.matches("<skipped ").count(), 1, "{xml}");
    // The skipped step sent nothing.
    let msgs = w.call(
        reqwest::Method::GET,
        &format!(
            "/tenants/{}/chats/{}/messages?after_position=0",
            w.tenant, w.chat
        ),
        None,
    );
    assert_eq!(msgs["items"].as_array().unwrap().len(), 2, "{msgs}");
}

#[test]
fn an_unknown_key_is_refused_with_its_line_and_nothing_runs() {
    let w = World::start();
    let dialog = "[[step]]\nsay = \"hello @bot\"\nas = \"alice\"\nchat = \"ops\"\n\n[[step]]\nexpect = \"^hi\"\nfrom = \"bot\"\nchat = \"ops\"\nwithn = \"3s\"\n";
    let (code, stdout, stderr, xml) = play(&w, "typo.dialog.toml", dialog);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("line 10"), "{stderr}");
    assert!(stderr.contains("unknown field `withn`"), "{stderr}");
    assert!(stderr.contains("typo.dialog.toml"), "{stderr}");
    assert_eq!(xml, "", "no JUnit for a file that does not parse");
    let msgs = w.call(
        reqwest::Method::GET,
        &format!("/tenants/{}/chats/{}/messages", w.tenant, w.chat),
        None,
    );
    assert_eq!(msgs["items"], json!([]));
}

#[test]
fn the_example_dialogs_parse() {
    let w = World::start();
    let _rx = subscribe(&w);
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/dialogs/hello.dialog.toml"
    );
    let o = w.run(&["dialog", "run", dir]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
}
