//! Byte-for-byte snapshots of the get-message answer of every dialect (WPS 365 v7, BOSS Hi,
//! Feishu v1, NetEase Yunxin v2) for one stored message of every content type, plus an
//! edited message, replies, recalls and p2p messages.
//!
//! The messages are stored through the admin API (canonical content, no vendor original),
//! so every dialect renders them from the canonical form; the merge-forward container is
//! made by Feishu's merge-forward call, as only a forward makes one. Each message is read
//! as a bot reads it, with the dialect's own authentication, and the raw body is compared
//! with `tests/snapshots/<dialect>-<case>.json` after the values that are random per run
//! are replaced by placeholders (see [`Redactor`]). Everything else (field order,
//! escaping, number formatting, times) must match exactly: the files are the contract the
//! renderers are held to.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p switchboard-testkit --test snapshots` rewrites the
//! files (and removes files no case produces any more); review the diff before keeping it.

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use switchboard_core::model::MessageType;
use switchboard_core::ManualClock;
use switchboard_testkit::lark::{Face, Lark};
use switchboard_testkit::wps::{wps_id, WpsClient};
use switchboard_testkit::yunxin::{conv, YunxinClient};
use switchboard_testkit::{spawn_app_with, Options, Reply, Seed, TestApp};

/// 2026-01-01T00:00:00Z: every stored time derives from it, so the snapshots hold exact times.
const START_MS: i64 = 1_767_225_600_000;

const DIALECTS: [Dialect; 4] = [Dialect::Wps, Dialect::Hi, Dialect::Feishu, Dialect::Yunxin];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dialect {
    Wps,
    Hi,
    Feishu,
    Yunxin,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Wps => "wps",
            Dialect::Hi => "hi",
            Dialect::Feishu => "feishu",
            Dialect::Yunxin => "yunxin",
        }
    }
}

/// The chat a case's message is in: the seeded group, or the bot's p2p chat with alice.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Where {
    Group,
    P2p,
}

/// One stored message to read through every dialect.
struct Case {
    name: &'static str,
    chat: Where,
    /// The message as the admin API answers it (canonical id, `type`, `dialect_ids`).
    message: Value,
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

fn updating() -> bool {
    std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1")
}

fn num(v: &Value) -> i64 {
    v["id"].as_i64().expect("canonical id")
}

/// Replaces the values that differ from run to run. Exact strings (the app's generated
/// `app_id` and secret) are replaced wherever they occur; per-request log ids are replaced
/// by the field that carries them, and each must be the response's `X-Tt-Logid` (so the
/// placeholder never hides some other value).
///
/// Everything else is deterministic in a fresh database, on SQLite and PostgreSQL alike:
/// canonical ids count from 1 in each, the dialects' ids (`om_`, `oc_`, `ou_`, `on_`,
/// tenant keys, WPS ids, spids) are pure functions of the canonical ids, user ids are
/// given, and every time comes from the manual clock.
struct Redactor {
    exact: Vec<(String, &'static str)>,
}

impl Redactor {
    fn new(seed: &Seed) -> Redactor {
        Redactor {
            exact: vec![
                (seed.app_id().to_string(), "<APP_ID>"),
                (seed.app_secret().to_string(), "<APP_SECRET>"),
            ],
        }
    }

    fn apply(&self, r: &Reply, dialect: Dialect) -> String {
        let mut text = r.text.clone();
        for (value, placeholder) in &self.exact {
            text = text.replace(value.as_str(), placeholder);
        }
        if matches!(dialect, Dialect::Hi | Dialect::Feishu) {
            let logid = r
                .headers
                .get("x-tt-logid")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("no X-Tt-Logid on {}", r.text))
                .to_string();
            for field in ["traceId", "log_id"] {
                text = redact_field(&text, field, "<LOG_ID>", &logid);
            }
        }
        text
    }
}

/// Replaces the string value of every `"field":"…"` in `text` with `placeholder`, asserting
/// that each value is `expected`.
fn redact_field(text: &str, field: &str, placeholder: &str, expected: &str) -> String {
    let needle = format!("\"{field}\":\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let start = at + needle.len();
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('"')
            .unwrap_or_else(|| panic!("unterminated {field} in {text}"));
        let value = &rest[start..start + end];
        assert_eq!(value, expected, "{field} is not the X-Tt-Logid in {text}");
        out.push_str(placeholder);
        rest = &rest[start + end..];
    }
    out.push_str(rest);
    out
}

/// Checks the HTTP status against the code in the body, as each dialect documents them
/// together: WPS's first three digits of the code are the status; Hi and Feishu answer
/// code 0 with 200 and anything else with an error status; Yunxin always answers 200.
fn check_status(dialect: Dialect, r: &Reply, file: &str) {
    let status = r.status.as_u16();
    let code = r.body["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("{file}: no code in {}", r.text));
    let ok = match dialect {
        Dialect::Wps if code == 0 => status == 200,
        Dialect::Wps => i64::from(status) == code / 1000,
        Dialect::Hi | Dialect::Feishu if code == 0 => status == 200,
        Dialect::Hi | Dialect::Feishu => status >= 400,
        Dialect::Yunxin => status == 200,
    };
    assert!(ok, "{file}: HTTP {status} with code {code}: {}", r.text);
}

/// Where two texts first differ, line by line, with the surroundings of the first
/// differing byte (the bodies are single-line JSON, so a whole line says little).
fn first_difference(expected: &str, actual: &str) -> String {
    let (mut e_lines, mut a_lines) = (expected.split('\n'), actual.split('\n'));
    let mut line = 1;
    loop {
        match (e_lines.next(), a_lines.next()) {
            (Some(e), Some(a)) if e == a => line += 1,
            (e, a) => {
                let (e, a) = (e.unwrap_or("<end of file>"), a.unwrap_or("<end of body>"));
                let col = e
                    .bytes()
                    .zip(a.bytes())
                    .position(|(x, y)| x != y)
                    .unwrap_or(e.len().min(a.len()));
                let window = |s: &str| {
                    let mut from = col.saturating_sub(60);
                    while !s.is_char_boundary(from.min(s.len())) {
                        from -= 1;
                    }
                    let mut to = (col + 60).min(s.len());
                    while !s.is_char_boundary(to) {
                        to += 1;
                    }
                    let from = from.min(s.len());
                    format!(
                        "{}{}{}",
                        if from > 0 { "…" } else { "" },
                        &s[from..to],
                        if to < s.len() { "…" } else { "" }
                    )
                };
                return format!(
                    "first difference at line {line}, byte {col}:\n  expected: {}\n  actual:   {}",
                    window(e),
                    window(a)
                );
            }
        }
    }
}

/// Sends one message through the admin API; returns the admin API's message.
async fn send(
    app: &TestApp,
    seed: &Seed,
    chat: &Value,
    sender: (&str, &Value),
    body: Value,
) -> Value {
    let mut body = body;
    body["sender"] = json!({ "type": sender.0, "id": num(sender.1) });
    let m = app
        .admin_ok(
            Method::POST,
            &format!(
                "/tenants/{}/chats/{}/messages",
                num(&seed.tenant),
                num(chat)
            ),
            Some(body),
        )
        .await;
    // A second apart, so that every time in the snapshots is distinct and in order.
    app.clock.as_ref().unwrap().advance_ms(1000);
    m
}

/// The message again from the admin API (after an edit or a recall, or one made elsewhere).
async fn admin_get(app: &TestApp, seed: &Seed, id: &str) -> Value {
    app.admin_ok(
        Method::GET,
        &format!("/tenants/{}/messages/{id}", num(&seed.tenant)),
        None,
    )
    .await
}

/// Stores the messages: one of every content type in the group, then the variants.
async fn store_messages(app: &TestApp, seed: &Seed) -> Vec<Case> {
    let (alice, bob, bot) = (&seed.alice, &seed.bob, &seed.bot);
    let group = &seed.group;
    let mut cases = Vec::new();
    let mut add = |name, chat, message: Value| {
        cases.push(Case {
            name,
            chat,
            message,
        })
    };
    let text = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({
            "type": "text",
            "content": { "text": "Hi <at id=\"1\">Bob</at> and <at id=\"2\">Bot</at>, <at id=\"3\">all</at>: \"quotes\", <tags> & ünïcødé 你好 🎉" },
            "mentions": [
                { "type": "user", "id": num(bob), "name": "Bob" },
                { "type": "app", "id": num(bot), "name": "Bot" },
                { "type": "all", "name": "all" }
            ]
        }),
    )
    .await;
    add("text", Where::Group, text.clone());

    let markdown = send(
        app,
        seed,
        group,
        ("user", bob),
        json!({ "type": "text", "content": { "text": "**bold** and `code`", "markdown": true } }),
    )
    .await;
    add("text-markdown", Where::Group, markdown);

    let rich = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({
            "type": "rich_text",
            "content": {
                "title": "Release notes",
                "paragraphs": [
                    [
                        { "tag": "text", "text": "Plain, " },
                        { "tag": "text", "text": "bold", "style": ["bold"] },
                        { "tag": "text", "text": " and italic", "style": ["italic"] },
                        { "tag": "at", "key": "1", "name": "Bob" }
                    ],
                    [
                        { "tag": "a", "text": "the docs", "href": "https://example.com/docs?a=1&b=2" },
                        { "tag": "emoji", "text": "👍" },
                        { "tag": "img", "key": "img-key-1" }
                    ],
                    [{ "tag": "code_block", "text": "fn main() {}\n", "language": "rust" }],
                    [{ "tag": "hr" }]
                ]
            },
            "mentions": [{ "type": "user", "id": num(bob), "name": "Bob" }]
        }),
    )
    .await;
    add("rich_text", Where::Group, rich);

    let image = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "image", "content": json!({
            "key": "img-key-2", "name": "photo.png", "format": "image/png", "size": 20480,
            "width": 640, "height": 480, "url": "https://files.example.com/img-key-2",
            "md5": "0123456789abcdef0123456789abcdef", "ext": "png", "cover_key": "img-thumb-2",
            "extra": { "thumbnail_type": "image/jpeg" }
        }) }),
    )
    .await;
    add("image", Where::Group, image.clone());

    let file = send(
        app,
        seed,
        group,
        ("user", bob),
        json!({ "type": "file", "content": json!({
            "key": "file-key-1", "name": "report.pdf", "format": "application/pdf",
            "size": 1048576, "md5": "fedcba9876543210fedcba9876543210", "ext": "pdf"
        }) }),
    )
    .await;
    add("file", Where::Group, file);

    // Known only by a URL: WPS's cloud file, the other branch of its file rendering.
    let cloud = send(
        app,
        seed,
        group,
        ("user", bob),
        json!({ "type": "file", "content": { "name": "sheet.xlsx", "url": "https://drive.example.com/s/abc" } }),
    )
    .await;
    add("file-url-only", Where::Group, cloud);

    let audio = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "audio", "content": json!({
            "key": "audio-key-1", "format": "wav", "size": 64000, "duration_ms": 3500,
            "extra": { "codec": "pcm", "sample_rate": 16000 }
        }) }),
    )
    .await;
    add("audio", Where::Group, audio);

    let video = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "video", "content": json!({
            "key": "video-key-1", "name": "clip.mp4", "format": "mp4", "size": 5242880,
            "width": 1920, "height": 1080, "duration_ms": 12000, "cover_key": "video-cover-1"
        }) }),
    )
    .await;
    add("video", Where::Group, video);

    let sticker = send(
        app,
        seed,
        group,
        ("user", bob),
        json!({ "type": "sticker", "content": { "key": "sticker-key-1", "width": 128, "height": 128 } }),
    )
    .await;
    add("sticker", Where::Group, sticker);

    let card = send(
        app,
        seed,
        group,
        ("app", bot),
        json!({ "type": "card", "content": { "card": {
            "config": { "wide_screen_mode": true },
            "header": { "title": { "tag": "plain_text", "content": "Deploy" } },
            "elements": [
                { "tag": "div", "text": { "tag": "lark_md", "content": "**v1.2** is live" } },
                { "tag": "action", "actions": [{ "tag": "button", "text": { "tag": "plain_text", "content": "Open" }, "value": { "k": 1 } }] }
            ]
        } } }),
    )
    .await;
    add("card", Where::Group, card);

    let location = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "location", "content": {
            "title": "Office", "address": "1 Main St, Springfield", "latitude": 39.9042, "longitude": 116.4074
        } }),
    )
    .await;
    add("location", Where::Group, location);

    let share_chat = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "share_chat", "content": { "chat_id": num(group) } }),
    )
    .await;
    add("share_chat", Where::Group, share_chat);

    let share_user = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "share_user", "content": { "user_id": num(bob) } }),
    )
    .await;
    add("share_user", Where::Group, share_user);

    for (kind, data) in [
        (
            "vote",
            json!({ "title": "Lunch?", "options": ["noodles", "rice"] }),
        ),
        (
            "calendar",
            json!({ "summary": "Standup", "start_time": 1767258000, "end_time": 1767259800 }),
        ),
        (
            "meeting",
            json!({ "topic": "Review", "meeting_id": "123-456-789" }),
        ),
        (
            "notification",
            json!({ "event": "member_joined", "user": "bob" }),
        ),
        ("robot", json!({ "answer": "42", "confidence": 0.99 })),
        (
            "custom",
            json!({ "kind": "order", "id": 7, "nested": { "ok": true, "none": null } }),
        ),
        (
            "system",
            json!({ "template": "{user} joined", "user": "Bob" }),
        ),
    ] {
        let m = send(
            app,
            seed,
            group,
            ("user", alice),
            json!({ "type": kind, "content": { "json": data } }),
        )
        .await;
        add(kind, Where::Group, m);
    }

    let tip = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "tip", "content": { "text": "Messages are kept for 30 days" } }),
    )
    .await;
    add("tip", Where::Group, tip);

    // Merge-forward: only a forward makes one, so the bot merge-forwards two messages
    // through Feishu. Its children are copies off the timeline.
    let fs = Lark::login(app, seed, Face::Feishu).await;
    let oc = group["dialect_ids"]["lark"].as_str().unwrap().to_string();
    let sources = [&text, &image].map(|m| m["dialect_ids"]["lark"].clone());
    let r = fs
        .call(
            Method::POST,
            "/messages/merge_forward?receive_id_type=chat_id",
            Some(json!({ "receive_id": oc, "message_id_list": sources })),
        )
        .await;
    assert_eq!(r.body["code"], 0, "merge_forward: {}", r.text);
    app.clock.as_ref().unwrap().advance_ms(1000);
    let container = r.body["data"]["message"]["message_id"]
        .as_str()
        .expect("container id");
    add(
        "merge_forward",
        Where::Group,
        admin_get(app, seed, container).await,
    );

    // Edited: sent, then edited a minute later by its sender.
    let edited = send(
        app,
        seed,
        group,
        ("user", bob),
        json!({ "type": "text", "content": { "text": "first draft" } }),
    )
    .await;
    app.clock.as_ref().unwrap().advance_ms(60_000);
    app.admin_ok(
        Method::PUT,
        &format!(
            "/tenants/{}/chats/{}/messages/{}",
            num(&seed.tenant),
            num(group),
            num(&edited)
        ),
        Some(json!({ "content": { "text": "final text, cc <at id=\"1\">Alice</at>" }, "mentions": [{ "type": "user", "id": num(alice), "name": "Alice" }] })),
    )
    .await;
    app.clock.as_ref().unwrap().advance_ms(1000);
    let edited = admin_get(app, seed, &num(&edited).to_string()).await;
    assert_eq!(edited["edit_count"], 1, "{edited}");
    add("edited", Where::Group, edited);

    // A reply (quote) to the text; a reply to that reply (root and parent differ); a reply
    // in a thread, which the store starts on the root.
    let reply = send(
        app,
        seed,
        group,
        ("user", bob),
        json!({ "type": "text", "content": { "text": "agreed" }, "reply_to": num(&text) }),
    )
    .await;
    add("reply", Where::Group, reply.clone());
    let nested = send(
        app,
        seed,
        group,
        ("app", bot),
        json!({ "type": "text", "content": { "text": "noted" }, "reply_to": num(&reply) }),
    )
    .await;
    add("reply-to-reply", Where::Group, nested);
    let thread = send(
        app,
        seed,
        group,
        ("user", alice),
        json!({ "type": "text", "content": { "text": "in a thread" }, "reply_to": num(&reply), "reply_in_thread": true }),
    )
    .await;
    add("reply-in-thread", Where::Group, thread);

    // Recalled for everyone, and recalled one way (Yunxin's sender keeps it).
    for (name, kind) in [
        ("recalled", "recalled"),
        ("recalled-one-way", "recalled_one_way"),
    ] {
        let m = send(
            app,
            seed,
            group,
            ("user", alice),
            json!({ "type": "text", "content": { "text": "oops, wrong chat" } }),
        )
        .await;
        app.admin_ok(
            Method::DELETE,
            &format!(
                "/tenants/{}/chats/{}/messages/{}?kind={kind}",
                num(&seed.tenant),
                num(group),
                num(&m)
            ),
            None,
        )
        .await;
        app.clock.as_ref().unwrap().advance_ms(1000);
        let m = admin_get(app, seed, &num(&m).to_string()).await;
        assert_eq!(m["removed"]["kind"], kind, "{m}");
        add(name, Where::Group, m);
    }

    // The bot's p2p chat with alice: Yunxin reads p2p conversations on its step-by-step
    // path (teams on the direct one), and names a receiver instead of a team.
    let p2p = &seed.p2p;
    let p2p_text = send(
        app,
        seed,
        p2p,
        ("user", alice),
        json!({ "type": "text", "content": { "text": "hello bot" } }),
    )
    .await;
    add("p2p-text", Where::P2p, p2p_text.clone());
    let p2p_reply = send(
        app,
        seed,
        p2p,
        ("app", bot),
        json!({ "type": "rich_text", "content": { "paragraphs": [[{ "tag": "text", "text": "hello " }, { "tag": "at", "key": "1", "name": "Alice" }]] }, "mentions": [{ "type": "user", "id": num(alice), "name": "Alice" }], "reply_to": num(&p2p_text) }),
    )
    .await;
    add("p2p-reply", Where::P2p, p2p_reply);

    cases
}

/// Reads one message through one dialect, as the seeded bot.
struct Readers<'a> {
    wps: WpsClient,
    hi: Lark<'a>,
    feishu: Lark<'a>,
    yunxin: YunxinClient<'a>,
    seed: &'a Seed,
}

impl Readers<'_> {
    async fn get(&self, app: &TestApp, dialect: Dialect, case: &Case) -> Reply {
        let chat = match case.chat {
            Where::Group => &self.seed.group,
            Where::P2p => &self.seed.p2p,
        };
        let ids = &case.message["dialect_ids"];
        let om = ids["lark"].as_str().expect("lark id");
        match dialect {
            Dialect::Wps => {
                let id = ids["wps"].as_str().expect("wps id");
                self.wps.get_message(app, &wps_id(chat), id).await
            }
            Dialect::Hi => self.hi.get(om, "").await,
            Dialect::Feishu => self.feishu.get(om, "").await,
            Dialect::Yunxin => {
                let owner = self.seed.app_id();
                let conversation = match case.chat {
                    Where::Group => conv(owner, 2, num(chat)),
                    Where::P2p => {
                        let peer = self.seed.alice["dialect_ids"]["yunxin"].as_str();
                        conv(owner, 1, peer.expect("alice's account id"))
                    }
                };
                let id = ids["yunxin"].as_i64().expect("yunxin id");
                self.yunxin.query(&conversation, id, "").await
            }
        }
    }
}

#[tokio::test]
async fn get_message_snapshots_of_every_content_type_in_every_dialect() {
    let clock = ManualClock::new(START_MS);
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Default::default()
    })
    .await;
    let seed = app.seed().await;
    let cases = store_messages(&app, &seed).await;

    // Every content type the store knows has a case of its own name.
    let stored: BTreeSet<&str> = cases
        .iter()
        .map(|c| c.message["type"].as_str().expect("type"))
        .collect();
    let known: BTreeSet<&str> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(stored, known, "a content type without a message");
    for t in &known {
        assert!(
            cases
                .iter()
                .any(|c| c.name == *t && c.message["type"] == *t),
            "no case named {t}"
        );
    }

    let readers = Readers {
        wps: WpsClient::for_seed(&app, &seed).await,
        hi: Lark::login(&app, &seed, Face::Hi).await,
        feishu: Lark::login(&app, &seed, Face::Feishu).await,
        yunxin: YunxinClient::new(&app, seed.app_id(), seed.app_secret()),
        seed: &seed,
    };
    let redactor = Redactor::new(&seed);
    let dir = snapshot_dir();
    let update = updating();
    if update {
        std::fs::create_dir_all(&dir).expect("snapshot dir");
    }
    let mut produced = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        for dialect in DIALECTS {
            // Reads a second apart: a bot's pace, well inside every rate limit, which
            // count on the manual clock. Reads render stored times only.
            clock.advance_ms(1000);
            let file = format!("{}-{}.json", dialect.name(), case.name);
            let r = readers.get(&app, dialect, case).await;
            check_status(dialect, &r, &file);
            let body = redactor.apply(&r, dialect);
            let path = dir.join(&file);
            produced.insert(file.clone());
            // The file holds the body and a final newline, so that it is a well-formed
            // text file; the body's own bytes are compared exactly.
            let golden = format!("{body}\n");
            if update {
                std::fs::write(&path, &golden).expect("write snapshot");
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(expected) if expected == golden => {}
                Ok(expected) => failures.push(format!(
                    "{file}: the body differs from the golden file {}\n{}",
                    path.display(),
                    first_difference(&expected, &golden)
                )),
                Err(e) => failures.push(format!(
                    "{file}: no golden file at {} ({e}); run with UPDATE_SNAPSHOTS=1 to write it\n  actual: {body}",
                    path.display()
                )),
            }
        }
    }

    // Files no case produces are stale: the cases they held are gone.
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    for stale in on_disk.difference(&produced) {
        if update {
            std::fs::remove_file(dir.join(stale)).expect("remove stale snapshot");
        } else {
            failures.push(format!(
                "{stale}: a golden file no case produces (remove it, or run with UPDATE_SNAPSHOTS=1)"
            ));
        }
    }

    let mut report = String::new();
    for f in &failures {
        let _ = writeln!(report, "{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {} snapshots differ (UPDATE_SNAPSHOTS=1 rewrites them):\n\n{report}",
        failures.len(),
        produced.len()
    );
    assert_eq!(produced.len(), cases.len() * DIALECTS.len());
}
