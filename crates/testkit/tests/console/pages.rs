//! What the pages show.

use crate::support::*;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};
use switchboard_testkit::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_opens_at_the_last_page_and_pages_back() {
    let app = spawn_app().await;
    let w = world(&app, "Pager").await;
    // The world's own message is position 1; these are 2..=61.
    for i in 1..=60 {
        app.admin_send_text(
            &w.tenant,
            &w.group,
            ("user", &w.user["id"]),
            &format!("pager-msg-{i:02}"),
        )
        .await;
    }
    let browser = Browser::sign_in(&app).await;
    let page = browser
        .page(&format!(
            "/console/playground?tenant={}&as={}&chat={}",
            w.t(),
            w.user["id"],
            w.chat()
        ))
        .await;
    assert_eq!(count(&page, "<article"), 50);
    for i in 1..=60 {
        let text = format!("pager-msg-{i:02}<");
        assert_eq!(page.contains(&text), i > 10, "message {i} on the last page");
    }
    // In order, oldest first.
    let p11 = page.find("pager-msg-11<").unwrap();
    let p60 = page.find("pager-msg-60<").unwrap();
    assert!(p11 < p60);
    assert!(page.contains("data-live=\"/console/playground/live?"));

    let at = page
        .find(">Older messages</a>")
        .expect("an Older messages link");
    let href_at = page[..at].rfind("href=\"").unwrap() + 6;
    let href = page[href_at..at]
        .trim_end_matches('"')
        .replace("&amp;", "&");
    assert!(href.contains("before="), "{href}");
    let older = browser.page(&href).await;
    assert_eq!(count(&older, "<article"), 11);
    assert!(older.contains("Pager says hello<"));
    for i in 1..=60 {
        let text = format!("pager-msg-{i:02}<");
        assert_eq!(
            older.contains(&text),
            i <= 10,
            "message {i} on the first page"
        );
    }
    assert!(
        !older.contains("Older messages"),
        "the first page is the end"
    );
    assert!(!older.contains("data-live="), "an older page is not live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_shows_a_message_through_all_four_dialects() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let msg = app
        .admin_send_text(
            &s.tenant,
            &s.group,
            ("user", &s.alice["id"]),
            "inspector-probe-text",
        )
        .await;
    let om = msg["dialect_ids"]["lark"].as_str().unwrap();
    assert!(om.starts_with("om_"));
    let browser = Browser::sign_in(&app).await;
    let page = browser.page(&format!("/console/inspector?id={om}")).await;
    let sections: Vec<&str> = page.split("<section class=\"pane\"").skip(1).collect();
    assert_eq!(sections.len(), 4, "{page}");
    for (section, heading) in
        sections
            .iter()
            .zip(["WPS 365 v7", "BOSS Hi", "Feishu v1", "Yunxin v2"])
    {
        assert!(section.contains(&format!(">{heading}</h2>")), "{heading}");
        assert!(section.contains("HTTP 200"), "{heading}: {section}");
        assert!(
            section.contains("inspector-probe-text"),
            "{heading}: {section}"
        );
    }

    let unknown = browser
        .page("/console/inspector?id=om_00000000000000000000000000000000")
        .await;
    assert!(unknown.contains("No tenant has a message"), "{unknown}");
    assert!(!unknown.contains("<section class=\"pane\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_timeline_streams_new_and_edited_messages() {
    let app = spawn_app().await;
    let w = world(&app, "Live").await;
    let second = app
        .admin_send_text(&w.tenant, &w.group, ("user", &w.user["id"]), "live-second")
        .await;
    let browser = Browser::sign_in(&app).await;
    let res = browser
        .http
        .get(browser.url(&format!(
            "/console/playground/live?tenant={}&as={}&chat={}",
            w.t(),
            w.user["id"],
            w.chat()
        )))
        .header(COOKIE, format!("sb_console={}", browser.session))
        .header(ACCEPT, "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let mut events = Events {
        res,
        buf: String::new(),
    };

    let newest = events
        .next_where("message", Duration::from_secs(5), |_| true)
        .await;
    let first = if newest["position"] == second["position"] {
        newest
    } else {
        events
            .next_where("message", Duration::from_secs(5), |_| true)
            .await
    };
    assert_eq!(first["position"], second["position"]);
    assert!(first["html"].as_str().unwrap().contains("live-second"));
    assert!(first["html"].as_str().unwrap().starts_with("<article"));

    let sent = Instant::now();
    let third = app
        .admin_send_text(&w.tenant, &w.group, ("user", &w.user["id"]), "live-third")
        .await;
    let pos = third["position"].clone();
    let ev = events
        .next_where("message", Duration::from_secs(2), |v| v["position"] == pos)
        .await;
    assert!(sent.elapsed() <= Duration::from_secs(2));
    assert!(ev["html"].as_str().unwrap().contains("live-third"));

    app.admin_ok(
        Method::PUT,
        &format!(
            "/tenants/{}/chats/{}/messages/{}",
            w.t(),
            w.chat(),
            third["id"]
        ),
        Some(json!({ "content": { "text": "live-third, edited" } })),
    )
    .await;
    let old_version = ev["version"].clone();
    let edited = events
        .next_where("message", Duration::from_secs(2), |v| {
            v["position"] == pos && v["version"] != old_version
        })
        .await;
    let html = edited["html"].as_str().unwrap();
    assert!(html.contains("live-third, edited"), "{html}");
    assert!(html.contains(">edited</span>"), "{html}");
}

/// An open page must not hold a graceful shutdown for its grace period: the live streams
/// end when the server begins to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_live_streams_end_when_the_server_stops() {
    let mut app = spawn_app().await;
    assert!(
        app.config.http.shutdown_grace_secs >= 10,
        "a grace worth waiting for"
    );
    let w = world(&app, "Stop").await;
    let browser = Browser::sign_in(&app).await;
    let mut streams = Vec::new();
    for path in [
        format!(
            "/console/playground/live?tenant={}&as={}&chat={}",
            w.t(),
            w.user["id"],
            w.chat()
        ),
        format!(
            "/console/deliveries/live?tenant={}&app={}",
            w.t(),
            w.bot["id"]
        ),
    ] {
        let res = browser
            .http
            .get(browser.url(&path))
            .header(COOKIE, format!("sb_console={}", browser.session))
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        streams.push(res);
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the server stops without waiting out its grace period");
    assert!(started.elapsed() < Duration::from_secs(5));
    for mut res in streams {
        // What was sent before the end, then the end itself.
        let end = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(Some(_)) = res.chunk().await {}
        })
        .await;
        assert!(end.is_ok(), "the stream ended");
    }
}
