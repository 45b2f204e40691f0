//! Security headers.

use crate::support::*;
use reqwest::{Method, StatusCode};
use switchboard_testkit::{spawn_app, spawn_app_with, Options, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_forbid_foreign_scripts_framing_and_caching() {
    let app = spawn_app().await;
    app.seed().await;
    let browser = Browser::sign_in(&app).await;
    let http = client();
    let mut answers = vec![
        (
            "sign-in".to_string(),
            Reply::from(http.get(app.url("/console/sign-in")).send().await.unwrap()).await,
        ),
        (
            "redirect".to_string(),
            Reply::from(http.get(app.url("/console/admin")).send().await.unwrap()).await,
        ),
    ];
    for path in [
        "/console/playground",
        "/console/admin",
        "/console/deliveries",
        "/console/inspector",
        "/console/nowhere",
    ] {
        answers.push((path.to_string(), browser.get(path).await));
    }
    for (what, r) in answers {
        let csp = r
            .headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("{what}: no CSP"))
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert_eq!(r.headers.get("x-frame-options").unwrap(), "DENY", "{what}");
        assert_eq!(
            r.headers.get("cache-control").unwrap(),
            "no-store",
            "{what}: no page is cached"
        );
    }
    let css = browser.get("/console/assets/console.css").await;
    assert_eq!(css.headers.get("cache-control").unwrap(), "no-cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_console_is_not_there() {
    let app = spawn_app_with(Options {
        configure: Some(Box::new(|c| c.console.enabled = false)),
        ..Default::default()
    })
    .await;
    let http = client();
    for path in [
        "/console/sign-in",
        "/console/playground",
        "/console/assets/console.js",
    ] {
        let r = Reply::from(http.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    // The rest of the server is up.
    app.admin_ok(Method::GET, "/tenants", None).await;
}
