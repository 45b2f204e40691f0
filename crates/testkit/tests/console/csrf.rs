//! CSRF.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_testkit::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_without_the_sessions_csrf_token_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let w = world(&app, "Csrf").await;
    let browser = Browser::sign_in(&app).await;
    let other = Browser::sign_in(&app).await;
    assert_ne!(browser.csrf, other.csrf);
    let before = snapshot(&app, &w).await;
    let secret = before["secret"].as_str().unwrap().to_string();
    for (path, fields) in state_changing_forms(&w) {
        let wrong = |token: &str| {
            let mut f = fields.clone();
            f.push(("csrf".into(), token.into()));
            f
        };
        let cases = [
            ("missing", fields.clone(), vec![]),
            ("empty", wrong(""), vec![]),
            ("wrong", wrong(&"0".repeat(64)), vec![]),
            ("another session's", wrong(&other.csrf), vec![]),
            (
                "another session's in the header",
                fields.clone(),
                vec![("x-csrf-token", other.csrf.as_str())],
            ),
        ];
        for (what, f, headers) in cases {
            let r = browser.post_with(path, &f, &headers).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path}, {what} CSRF");
            assert!(!r.text.contains(&secret), "POST {path} leaked the secret");
        }
    }
    assert_eq!(snapshot(&app, &w).await, before, "a refused form wrote");
    // The refused sign-out did not end the session.
    assert_eq!(browser.get("/console/admin").await.status, StatusCode::OK);
    // A token sent in the header where the form has none counts as well.
    let r = browser
        .post_with(
            "/console/admin",
            &form(&[("name", "Header Tenant")]),
            &[("x-csrf-token", browser.csrf.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
}

/// The same forms with the right token do write: the refusals above are the CSRF check's,
/// not a broken form's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_forms_with_the_right_token_do_write() {
    let app = spawn_app().await;
    let w = world(&app, "Right").await;
    let browser = Browser::sign_in(&app).await;
    let before = snapshot(&app, &w).await;
    let forms = state_changing_forms(&w);
    let find = |p: &str| forms.iter().find(|(path, _)| *path == p).unwrap().1.clone();
    let t = w.t();

    let r = browser
        .post_csrf(
            "/console/playground/edit",
            &find("/console/playground/edit"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = browser
        .post_csrf(
            "/console/playground/send",
            &find("/console/playground/send"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(location(&r).contains("notice=Sent"), "{}", location(&r));
    assert_eq!(
        chat_texts(&app, &w).await,
        vec!["forged edit".to_string(), "forged send".to_string()]
    );
    let r = browser
        .post_csrf(
            "/console/playground/recall",
            &find("/console/playground/recall"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let m = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{t}/chats/{}/messages/{}",
                w.chat(),
                w.message["id"]
            ),
            None,
        )
        .await;
    assert_eq!(m["removed"]["kind"], "recalled");

    // Redeliver before unsubscribing: the subscription's end takes its pending events along.
    let r = browser
        .post_csrf(
            "/console/deliveries/redeliver",
            &find("/console/deliveries/redeliver"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        location(&r).contains(&format!("notice=Event%20{}%20queued", w.event_id)),
        "{}",
        location(&r)
    );

    let subscriptions = format!("/tenants/{t}/apps/{}/events", w.bot["id"]);
    let r = browser
        .post_csrf(
            "/console/admin/app/events/delete",
            &find("/console/admin/app/events/delete"),
        )
        .await;
    assert!(location(&r).contains("notice="), "{}", location(&r));
    let left = app.admin_ok(Method::GET, &subscriptions, None).await;
    assert_eq!(left["items"], json!([]), "unsubscribed");

    for path in [
        "/console/admin",
        "/console/admin/users",
        "/console/admin/apps",
        "/console/admin/app",
        "/console/admin/app/events",
        "/console/admin/chats",
        "/console/admin/chat",
    ] {
        let r = browser.post_csrf(path, &find(path)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "POST {path}: {}", r.text);
        assert!(
            location(&r).contains("notice="),
            "POST {path} -> {}",
            location(&r)
        );
    }
    let reveal = browser
        .post_csrf(
            "/console/admin/app/reveal",
            &find("/console/admin/app/reveal"),
        )
        .await;
    assert_eq!(reveal.status, StatusCode::OK);
    assert!(reveal.text.contains(before["secret"].as_str().unwrap()));
    let rotate = browser
        .post_csrf(
            "/console/admin/app/rotate",
            &find("/console/admin/app/rotate"),
        )
        .await;
    assert_eq!(rotate.status, StatusCode::OK);

    let after = snapshot(&app, &w).await;
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&after["tenants"]).contains(&"Forged Tenant".to_string()));
    assert!(names(&after["users"]).contains(&"Forged User".to_string()));
    assert!(names(&after["apps"]).contains(&"Forged App".to_string()));
    assert!(names(&after["apps"]).contains(&"Forged Name".to_string()));
    assert_eq!(
        after["chats"].as_u64().unwrap(),
        before["chats"].as_u64().unwrap() + 1
    );
    assert_eq!(
        after["members"].as_array().unwrap().len(),
        before["members"].as_array().unwrap().len() + 1
    );
    let mut types: Vec<&str> = after["events"][0]["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["im.message.recalled_v1", "im.message.receive_v1"]);
    assert_ne!(after["secret"], before["secret"], "rotated");
    assert!(rotate.text.contains(after["secret"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_send_answers_json() {
    let app = spawn_app().await;
    let w = world(&app, "Script").await;
    let browser = Browser::sign_in(&app).await;
    let fields = form(&[
        ("tenant", &w.t()),
        ("as", &w.user["id"].to_string()),
        ("chat", &w.chat()),
        ("text", "sent by the script"),
    ]);
    let r = browser
        .post_with(
            "/console/playground/send",
            &fields,
            &[
                ("accept", "application/json"),
                ("x-csrf-token", browser.csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ok"], true, "{}", r.text);
    assert_eq!(r.body["message"]["text"], "sent by the script");
    assert_eq!(r.body["message"]["sender"]["id"], w.user["id"]);
    let stored = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{}",
                w.t(),
                w.chat(),
                r.body["message"]["id"]
            ),
            None,
        )
        .await;
    assert_eq!(stored["text"], "sent by the script");
    assert_eq!(
        chat_texts(&app, &w).await.last().unwrap(),
        "sent by the script"
    );
}
