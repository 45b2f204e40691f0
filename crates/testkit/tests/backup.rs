//! PostgreSQL backups as docs/operations.md describes them: `pg_dump` of a live database,
//! `pg_restore` into an empty one, and a node started on the copy serves every message.
//! (SQLite's `switchboard backup`/`restore` are tested with the real binary in the
//! command-line crate.) Runs on the PostgreSQL pass of the suite only.

use reqwest::Method;
use std::process::Command;
use switchboard_testkit::{spawn_app, spawn_app_with, store_kind, Options};

#[tokio::test]
async fn a_pg_dump_restored_with_pg_restore_serves_every_message() {
    if store_kind() != "postgres" {
        return;
    }
    let app = spawn_app().await;
    let s = app.seed().await;
    let mut sent = Vec::new();
    for i in 0..25 {
        let m = app
            .admin_send_text(
                &s.tenant,
                &s.group,
                ("user", &s.alice["id"]),
                &format!("m{i}"),
            )
            .await;
        sent.push((m["position"].as_i64().unwrap(), format!("m{i}")));
    }
    let source = app
        .database
        .as_ref()
        .expect("a PostgreSQL database")
        .url()
        .to_string();
    let dump = app.data_path().join("switchboard.dump");
    let out = Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&source)
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let target = switchboard_store_postgres::testing::fresh_database().await;
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--dbname", target.url()])
        .arg(&dump)
        .output()
        .expect("pg_restore runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let copy = spawn_app_with(Options {
        database_url: Some(target.url().to_string()),
        ..Options::default()
    })
    .await;
    let path = format!(
        "/tenants/{}/chats/{}/messages?limit=1000",
        s.tenant["id"], s.group["id"]
    );
    let page = copy.admin_ok(Method::GET, &path, None).await;
    let got: Vec<(i64, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["position"].as_i64().unwrap(),
                m["content"]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, sent);
    // The copy goes on where the original stopped.
    let next = copy
        .admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "after")
        .await;
    assert_eq!(next["position"].as_i64().unwrap(), 26);
    drop(target);
}
