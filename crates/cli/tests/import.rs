//! `switchboard import` as a user runs it: the real binary on a JSON Lines file, into a
//! SQLite data directory provisioned beforehand, read back through the store afterwards.

use std::path::Path;
use std::process::{Command, Output};
use switchboard_core::ids::{ChatId, MessageId, TenantId};
use switchboard_core::model::{Actor, ChatKind};
use switchboard_core::service::{CreateChat, CreateUser};

struct World {
    tenant: TenantId,
    chat: ChatId,
    outsider_id: String,
    app_id: String,
    config: std::path::PathBuf,
}

async fn provision(dir: &Path) -> World {
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nadmin_token = \"import-test-admin-token\"\n",
            dir.display().to_string()
        ),
    )
    .unwrap();
    let cfg = switchboard_server::config::Config::load(
        Some(&config),
        &switchboard_server::config::Overrides::default(),
    )
    .unwrap();
    let core = switchboard_server::core(switchboard_server::open_store(&cfg).await.unwrap());
    let tenant = core.create_tenant("Import").await.unwrap().id;
    let user = |name: &str| CreateUser {
        name: name.into(),
        user_id: Some(name.into()),
        account_id: None,
    };
    let alice = core.create_user(tenant, user("alice")).await.unwrap();
    let outsider = core.create_user(tenant, user("mallory")).await.unwrap();
    let app = core.create_app(tenant, "Importer").await.unwrap();
    let chat = core
        .create_chat(
            tenant,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("History".into()),
                owner: Actor::User(alice.id),
                members: vec![Actor::App(app.id)],
            },
        )
        .await
        .unwrap();
    World {
        tenant,
        chat: chat.id,
        outsider_id: outsider.user_id,
        app_id: app.app_id,
        config,
    }
}

fn import(w: &World, file: &Path, batch: usize) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["import", "--quiet", "--config"])
        .arg(&w.config)
        .args(["--tenant", &w.tenant.0.to_string()])
        .args(["--batch", &batch.to_string()])
        .arg(file)
        .env("SWITCHBOARD_LOG__LEVEL", "warn")
        .output()
        .expect("run switchboard import")
}

/// Writes `lines` to `file`, imports it and expects a failure; returns what it printed.
fn import_fails(w: &World, file: &Path, lines: &[String], batch: usize) -> String {
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
    let out = import(w, file, batch);
    assert!(!out.status.success(), "the import should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn text_line(chat: ChatId, kind: &str, id: &str, text: &str, at: i64) -> String {
    serde_json::json!({
        "chat": chat.0,
        "sender": {"type": kind, "id": id},
        "type": "text",
        "content": {"text": text},
        "created_at": at,
    })
    .to_string()
}

/// The texts stored in `chat`, in position order (positions 1, 2, … with no gap).
async fn texts(w: &World) -> Vec<(String, i64)> {
    let cfg = switchboard_server::config::Config::load(
        Some(&w.config),
        &switchboard_server::config::Overrides::default(),
    )
    .unwrap();
    let store = switchboard_server::open_store(&cfg).await.unwrap();
    let mut out = Vec::new();
    for pos in 1.. {
        let id = MessageId::timeline(w.chat, pos).unwrap();
        match store.get_message(id).await.unwrap() {
            Some(m) => out.push((m.content.text.clone(), m.created_at)),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn a_file_is_imported_in_order_across_batches_with_its_times() {
    let dir = tempfile::tempdir().unwrap();
    let w = provision(dir.path()).await;
    let file = dir.path().join("history.jsonl");
    let mut lines = Vec::new();
    for i in 0..7 {
        let (kind, id) = if i % 2 == 0 {
            ("user", "alice")
        } else {
            ("app", w.app_id.as_str())
        };
        lines.push(text_line(
            w.chat,
            kind,
            id,
            &format!("m{i}"),
            1_600_000_000_000 + i,
        ));
    }
    // A blank line is skipped.
    lines.insert(3, String::new());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let out = import(&w, &file, 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("imported 7 messages in "), "{stdout}");
    let got = texts(&w).await;
    let want: Vec<(String, i64)> = (0..7)
        .map(|i| (format!("m{i}"), 1_600_000_000_000 + i))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_bad_line_stops_the_import_with_its_number_and_keeps_earlier_batches() {
    let dir = tempfile::tempdir().unwrap();
    let w = provision(dir.path()).await;
    let file = dir.path().join("history.jsonl");
    let mut lines: Vec<String> = (0..3)
        .map(|i| text_line(w.chat, "user", "alice", &format!("m{i}"), 1_000 + i))
        .collect();
    lines.push(r#"{"chat": 1, "sender": {"type": "user", "id": "alice"}, "type": "hologram", "content": {}}"#.into());
    lines.push(text_line(w.chat, "user", "alice", "after", 2_000));

    // Batches of two: lines 1–2 commit; line 4 is in the batch of lines 3–4.
    let stderr = import_fails(&w, &file, &lines, 2);
    assert!(
        stderr.contains("line 4") && stderr.contains("hologram"),
        "{stderr}"
    );
    let got: Vec<String> = texts(&w).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(got, ["m0", "m1"]);
}

#[tokio::test]
async fn a_sender_outside_the_chat_is_refused_and_nothing_of_its_batch_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let w = provision(dir.path()).await;
    let file = dir.path().join("history.jsonl");
    let lines = [
        text_line(w.chat, "user", "alice", "kept", 1_000),
        text_line(w.chat, "user", "alice", "second", 1_001),
        text_line(w.chat, "user", &w.outsider_id, "intruder", 1_002),
        text_line(w.chat, "user", "nobody", "ghost", 1_003),
    ];
    let stderr = import_fails(&w, &file, &lines, 1);
    assert!(
        stderr.contains("line 3: \"mallory\" is not a member of chat"),
        "{stderr}"
    );
    let got: Vec<String> = texts(&w).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(got, ["kept", "second"]);

    // The same file in one batch: the outsider's line fails the batch, so none is stored.
    let dir2 = tempfile::tempdir().unwrap();
    let w2 = provision(dir2.path()).await;
    let lines2 = [
        text_line(w2.chat, "user", "alice", "a", 1_000),
        text_line(w2.chat, "user", &w2.outsider_id, "intruder", 1_001),
    ];
    let file2 = dir2.path().join("history.jsonl");
    import_fails(&w2, &file2, &lines2, 10);
    assert!(texts(&w2).await.is_empty());

    // An unknown sender is named with its line.
    let lines3 = [text_line(w2.chat, "user", "nobody", "ghost", 1_000)];
    let stderr = import_fails(&w2, &file2, &lines3, 10);
    assert!(
        stderr.contains("line 1") && stderr.contains("nobody"),
        "{stderr}"
    );

    // So is a chat that is not in the tenant.
    let lines4 = [text_line(
        ChatId(w2.chat.0 + 100),
        "user",
        "alice",
        "lost",
        1_000,
    )];
    let stderr = import_fails(&w2, &file2, &lines4, 10);
    assert!(
        stderr.contains(&format!(
            "line 1: no chat {} in this tenant",
            w2.chat.0 + 100
        )),
        "{stderr}"
    );
    assert!(texts(&w2).await.is_empty());
}

#[test]
fn an_import_never_creates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.jsonl");
    std::fs::write(
        &file,
        r#"{"chat": 1, "sender": {"type": "user", "id": "alice"}, "type": "text", "content": {"text": "hi"}}"#,
    )
    .unwrap();
    let run = |data: &Path| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["import", "--quiet", "--tenant", "1", "--data-dir"])
            .arg(data)
            .arg(&file)
            .env("SWITCHBOARD_LOG__LEVEL", "warn")
            .output()
            .unwrap()
    };
    // A mistyped data directory, then an existing directory without a database.
    let missing = dir.path().join("no-such-dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for data in [&missing, &empty] {
        let out = run(data);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        let db = data.join("switchboard.db");
        assert!(
            stderr.contains(&format!("{} does not exist", db.display()))
                && stderr.contains("switchboard migrate"),
            "{stderr}"
        );
        assert!(
            !db.exists(),
            "no database was created in {}",
            data.display()
        );
    }
    assert!(!missing.exists(), "no directory was created");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[tokio::test]
async fn a_batch_size_outside_1_to_100000_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = provision(dir.path()).await;
    let file = dir.path().join("history.jsonl");
    let lines = [text_line(w.chat, "user", "alice", "m", 1_000)];
    for batch in [0, 100_001, 200_000] {
        let stderr = import_fails(&w, &file, &lines, batch);
        assert!(
            stderr.contains("--batch") && stderr.contains("1..=100000"),
            "--batch {batch}: {stderr}"
        );
    }
    assert!(texts(&w).await.is_empty());
    // The bounds themselves are accepted.
    for batch in [1, 100_000] {
        let out = import(&w, &file, batch);
        assert!(out.status.success(), "--batch {batch}: {out:?}");
    }
}

#[tokio::test]
async fn an_error_names_one_line_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = provision(dir.path()).await;
    let file = dir.path().join("history.jsonl");
    let mut lines: Vec<String> = (0..2)
        .map(|i| text_line(w.chat, "user", "alice", &format!("m{i}"), 1_000 + i))
        .collect();
    lines.push(format!(
        r#"{{"chat": {}, "sender": {{"type": "user", "id": "alice"}}, "type": "text", "content": {{"text": "x"}}, "colour": "red"}}"#,
        w.chat.0
    ));
    let stderr = import_fails(&w, &file, &lines, 10);
    assert!(
        stderr.contains("line 3: unknown field `colour`") && stderr.contains("(column "),
        "{stderr}"
    );
    assert!(
        !stderr.contains("at line"),
        "one line number only: {stderr}"
    );

    lines[2] = "{\"chat\": 1,".into();
    let stderr = import_fails(&w, &file, &lines, 10);
    assert!(stderr.contains("line 3: EOF while parsing"), "{stderr}");
    assert!(
        !stderr.contains("at line"),
        "one line number only: {stderr}"
    );
}

/// `switchboard upgrade-documents` rewrites the documents an older version stored as JSON,
/// and only those; the messages read the same.
#[tokio::test]
async fn upgrade_documents_rewrites_json_documents_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let w = provision(dir.path()).await;
    let file = dir.path().join("history.jsonl");
    let lines: Vec<String> = (0..5)
        .map(|i| {
            text_line(
                w.chat,
                "user",
                "alice",
                &format!("m{i}"),
                1_600_000_000_000 + i,
            )
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    assert!(import(&w, &file, 100).status.success());
    let before = texts(&w).await;
    // Two documents as the JSON form wrote them.
    let cfg = switchboard_server::config::Config::load(
        Some(&w.config),
        &switchboard_server::config::Overrides::default(),
    )
    .unwrap();
    let store = switchboard_server::open_store(&cfg).await.unwrap();
    let mut json = Vec::new();
    for pos in [2, 4] {
        let id = MessageId::timeline(w.chat, pos).unwrap();
        let m = store.get_message(id).await.unwrap().unwrap();
        json.push((id.0, serde_json::to_string(&m).unwrap()));
    }
    drop(store);
    let db = dir.path().join("switchboard.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    for (id, doc) in &json {
        conn.execute(
            "UPDATE messages SET doc = ?2 WHERE id = ?1",
            rusqlite::params![id, doc],
        )
        .unwrap();
    }
    let text_rows = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row(
            "SELECT count(*) FROM messages WHERE typeof(doc) = 'text'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(text_rows(&conn), 2);
    drop(conn);
    assert_eq!(texts(&w).await, before, "both forms read");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["upgrade-documents", "--batch", "2", "--config"])
        .arg(&w.config)
        .env("SWITCHBOARD_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "looked at 5 messages, rewrote 2 in the current form"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(text_rows(&conn), 0);
    drop(conn);
    assert_eq!(texts(&w).await, before);
}
