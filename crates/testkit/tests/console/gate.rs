//! The session gate.

use crate::support::*;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::StatusCode;
use switchboard_testkit::{spawn_app, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_without_a_session_redirect_to_sign_in_and_come_back() {
    let app = spawn_app().await;
    let http = client();
    for cookie in [None, Some("sb_console=0123456789abcdef-forged")] {
        for path in PAGES {
            let mut req = http.get(app.url(path));
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            let r = Reply::from(req.send().await.unwrap()).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "GET {path} {cookie:?}");
            assert_eq!(
                location(&r),
                format!("/console/sign-in?next={}", encode_all(path)),
                "GET {path} {cookie:?}"
            );
            assert!(set_cookie_line(&r.headers, "sb_console").is_none());
        }
    }
    // The page named by `next` is where the sign-in form sends the browser back to.
    let r = Reply::from(
        http.get(app.url(&format!(
            "/console/sign-in?next={}",
            encode_all("/console/admin/tenant?tenant=7")
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        hidden_field(&r.text, "next").as_deref(),
        Some("/console/admin/tenant?tenant=7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_and_streams_without_a_session_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let w = world(&app, "Gate").await;
    let before = snapshot(&app, &w).await;
    let secret = before["secret"].as_str().unwrap().to_string();
    let http = client();
    for cookie in [None, Some("sb_console=forged-session-cookie")] {
        for (path, fields) in state_changing_forms(&w) {
            let mut fields = fields.clone();
            fields.push(("csrf".into(), "whatever".into()));
            let mut req = http.post(app.url(path)).form(&fields);
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            let r = Reply::from(req.send().await.unwrap()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "POST {path} {cookie:?}");
            assert!(!r.text.contains(&secret), "POST {path} leaked the secret");
        }
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
            let mut req = http.get(app.url(&path)).header(ACCEPT, "text/event-stream");
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            let r = Reply::from(req.send().await.unwrap()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "GET {path} {cookie:?}");
        }
    }
    assert_eq!(snapshot(&app, &w).await, before, "a refused request wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_are_served_without_a_session() {
    let app = spawn_app().await;
    let http = client();
    for (file, kind, probe) in [
        ("console.css", "text/css", "{"),
        ("console.js", "text/javascript", "function"),
    ] {
        let r = Reply::from(
            http.get(app.url(&format!("/console/assets/{file}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{file}");
        let ct = r.headers.get(CONTENT_TYPE).unwrap().to_str().unwrap();
        assert!(ct.starts_with(kind), "{file}: {ct}");
        assert!(r.text.contains(probe), "{file} has a body");
    }
    let r = Reply::from(
        http.get(app.url("/console/assets/secrets.txt"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
