//! Sign-out.

use crate::support::*;
use reqwest::{Method, StatusCode};
use switchboard_testkit::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_at_once() {
    let app = spawn_app().await;
    let browser = Browser::sign_in(&app).await;
    let other = Browser::sign_in(&app).await;
    let r = browser.post_csrf("/console/sign-out", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/sign-in");
    let line = set_cookie_line(&r.headers, "sb_console").expect("the cookie is cleared");
    assert_eq!(cookie_value(&line), "");
    assert!(line.contains("Max-Age=0"), "{line}");
    assert!(line.contains("Path=/console"), "{line}");

    let r = browser.get("/console/admin").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        format!("/console/sign-in?next={}", encode_all("/console/admin"))
    );
    let r = browser
        .post_csrf("/console/admin", &form(&[("name", "After Sign-out")]))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let tenants = app.admin_ok(Method::GET, "/tenants", None).await;
    assert!(!tenants.to_string().contains("After Sign-out"));
    // Another browser's session is its own.
    assert_eq!(other.get("/console/admin").await.status, StatusCode::OK);
}
