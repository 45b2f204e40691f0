//! Tenant isolation.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_testkit::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_one_tenant_show_nothing_of_another() {
    let app = spawn_app().await;
    let a = world(&app, "Aland").await;
    let b = world(&app, "Borduria").await;
    let bm = marks(&b);
    let browser = Browser::sign_in(&app).await;
    let at = a.t();
    let (au, bu) = (a.user["id"].to_string(), b.user["id"].to_string());
    let (ac, bc) = (a.chat(), b.chat());
    let bmsg = b.message["id"].to_string();

    // A's own page shows A's world: the negative checks below look at real pages.
    let own = browser
        .page(&format!(
            "/console/playground?tenant={at}&as={au}&chat={ac}"
        ))
        .await;
    let in_group = |m: &&String| !m.contains("Outsider") && !m.contains("whispers");
    for m in marks(&a).iter().filter(in_group) {
        assert!(own.contains(m.as_str()), "A's page lacks {m:?}");
    }
    assert_none_of(&own, &bm, "A's playground");

    let page = browser
        .page(&format!("/console/playground?tenant={at}&as={bu}"))
        .await;
    assert!(
        page.contains(&format!("<option value=\"{au}\" selected>")),
        "acting falls back to A's first user"
    );
    assert_none_of(&page, &bm, "A's playground acting as B's user");

    for (what, path, accept) in [
        (
            "A's playground with B's chat",
            format!("/console/playground?tenant={at}&as={au}&chat={bc}"),
            None,
        ),
        (
            "A's admin chat page with B's chat",
            format!("/console/admin/chat?tenant={at}&chat={bc}"),
            None,
        ),
        (
            "A's message page with B's message",
            format!("/console/messages?tenant={at}&chat={bc}&message={bmsg}"),
            None,
        ),
        (
            "A's message page with B's message's Feishu id",
            format!(
                "/console/messages?tenant={at}&chat={bc}&message={}",
                b.message["dialect_ids"]["lark"].as_str().unwrap()
            ),
            None,
        ),
        (
            "A's message page with A's chat and B's message",
            format!("/console/messages?tenant={at}&chat={ac}&message={bmsg}"),
            None,
        ),
        (
            "A's app page with B's app",
            format!("/console/admin/app?tenant={at}&app={}", b.bot["id"]),
            None,
        ),
        (
            "A's deliveries tail with B's app",
            format!("/console/deliveries/live?tenant={at}&app={}", b.bot["id"]),
            Some("text/event-stream"),
        ),
        (
            "A's live stream with B's chat",
            format!("/console/playground/live?tenant={at}&as={au}&chat={bc}"),
            Some("text/event-stream"),
        ),
        (
            "A's live stream acting as B's user in B's chat",
            format!("/console/playground/live?tenant={at}&as={bu}&chat={bc}"),
            Some("text/event-stream"),
        ),
    ] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let r = browser.get_with(&path, &headers).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{what}: {}", r.text);
        assert_none_of(&r.text, &bm, what);
    }

    // The admin pages of A and the deliveries of A with B's app.
    for path in [
        format!("/console/admin/tenant?tenant={at}"),
        format!("/console/deliveries?tenant={at}&app={}", b.bot["id"]),
    ] {
        let page = browser.page(&path).await;
        assert_none_of(&page, &bm, &path);
    }
    // Revealing B's secret through tenant A finds no such app.
    let b_secret = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/apps/{}/secret", b.t(), b.bot["id"]),
            None,
        )
        .await["app_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let r = browser
        .post_csrf(
            "/console/admin/app/reveal",
            &form(&[("tenant", &at), ("app", &b.bot["id"].to_string())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.text.contains(&b_secret));

    // A send through tenant A into B's chat writes nothing anywhere.
    let before_b = chat_texts(&app, &b).await;
    let before_a = chat_texts(&app, &a).await;
    for acting in [&au, &bu] {
        let r = browser
            .post_with(
                "/console/playground/send",
                &form(&[
                    ("tenant", &at),
                    ("as", acting),
                    ("chat", &bc),
                    ("text", "crossing the border"),
                    ("csrf", &browser.csrf),
                ]),
                &[("accept", "application/json")],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        assert_eq!(r.body["ok"], false);
    }
    assert_eq!(chat_texts(&app, &b).await, before_b);
    assert_eq!(chat_texts(&app, &a).await, before_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_outside_a_chat_sees_and_changes_nothing_of_it() {
    let app = spawn_app().await;
    let a = world(&app, "Member").await;
    let browser = Browser::sign_in(&app).await;
    let (t, c) = (a.t(), a.chat());
    let out = a.outsider["id"].to_string();
    let text = a.message["text"].as_str().unwrap();

    let page = browser
        .page(&format!("/console/playground?tenant={t}&as={out}&chat={c}"))
        .await;
    assert!(page.contains("The user you act as is not a member of this chat."));
    assert!(!page.contains(text));
    assert_eq!(count(&page, "<article"), 0);
    assert!(!page.contains("action=\"/console/playground/send\""));

    let r = browser
        .get_with(
            &format!("/console/playground/live?tenant={t}&as={out}&chat={c}"),
            &[("accept", "text/event-stream")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.text.contains(text));

    // Sending as the outsider is the admin API's refusal, and writes nothing.
    let before_texts = chat_texts(&app, &a).await;
    let r = browser
        .post_with(
            "/console/playground/send",
            &form(&[
                ("tenant", &t),
                ("as", &out),
                ("chat", &c),
                ("text", "an outsider writes"),
            ]),
            &[
                ("accept", "application/json"),
                ("x-csrf-token", browser.csrf.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["ok"], false);
    assert_eq!(chat_texts(&app, &a).await, before_texts);

    // Neither an outsider nor a fellow member may change the speaker's message.
    let bob = app.create_user(&a.tenant, "Member Bob", "member-bob").await;
    app.admin_ok(
        Method::POST,
        &format!("/tenants/{t}/chats/{c}/members"),
        Some(json!({ "members": [{ "type": "user", "id": bob["id"] }] })),
    )
    .await;
    let message_path = format!("/tenants/{t}/chats/{c}/messages/{}", a.message["id"]);
    let before = app.admin_ok(Method::GET, &message_path, None).await;
    for acting in [out.clone(), bob["id"].to_string()] {
        for (path, extra) in [
            ("/console/playground/edit", Some(("text", "hijacked"))),
            ("/console/playground/recall", None),
        ] {
            let mut f = form(&[
                ("tenant", &t),
                ("as", &acting),
                ("chat", &c),
                ("message", &a.message["id"].to_string()),
            ]);
            if let Some((k, v)) = extra {
                f.push((k.into(), v.into()));
            }
            let r = browser
                .post_with(
                    path,
                    &f,
                    &[
                        ("accept", "application/json"),
                        ("x-csrf-token", browser.csrf.as_str()),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} as {acting}");
            assert_eq!(r.body["ok"], false, "{path}: {}", r.text);
            assert_eq!(r.body["code"], "not_the_sender", "{path}: {}", r.text);
        }
    }
    assert_eq!(
        app.admin_ok(Method::GET, &message_path, None).await,
        before,
        "the message is unchanged"
    );
}
