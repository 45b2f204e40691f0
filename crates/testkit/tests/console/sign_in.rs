//! Sign-in.

use crate::support::*;
use reqwest::header::COOKIE;
use reqwest::StatusCode;
use switchboard_testkit::{spawn_app, Reply};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_admin_token_gets_no_session() {
    let app = spawn_app().await;
    let http = client();
    let pre = sign_in_form(&http, &app.base).await;
    for token in ["", "not-the-token", &format!("{}x", app.admin_token)] {
        let r = post_sign_in(
            &http,
            &app.base,
            Some(&pre),
            &[("token", token), ("pre", &pre), ("next", "/console/admin")],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "token {token:?}");
        assert!(
            set_cookie_line(&r.headers, "sb_console").is_none(),
            "token {token:?}: {:?}",
            set_cookies(&r.headers)
        );
        assert!(r.text.contains("not the admin token"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_needs_the_forms_own_pre_value() {
    let app = spawn_app().await;
    let http = client();
    let pre = sign_in_form(&http, &app.base).await;
    let other = sign_in_form(&http, &app.base).await;
    assert_ne!(pre, other, "each form has its own value");
    let token = app.admin_token.as_str();
    let (pre, other) = (pre.as_str(), other.as_str());
    let cases = [
        ("no cookie", None, vec![("token", token), ("pre", pre)]),
        ("no field", Some(pre), vec![("token", token)]),
        ("empty both", Some(""), vec![("token", token), ("pre", "")]),
        (
            "another form's value",
            Some(pre),
            vec![("token", token), ("pre", other)],
        ),
        (
            "another form's cookie",
            Some(other),
            vec![("token", token), ("pre", pre)],
        ),
    ];
    for (what, cookie, fields) in cases {
        let r = post_sign_in(&http, &app.base, cookie, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
        assert!(
            set_cookie_line(&r.headers, "sb_console").is_none(),
            "{what}: {:?}",
            set_cookies(&r.headers)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_locked_down() {
    let app = spawn_app().await;
    let http = client();
    let pre = sign_in_form(&http, &app.base).await;
    let r = post_sign_in(
        &http,
        &app.base,
        Some(&pre),
        &[
            ("token", &app.admin_token),
            ("pre", &pre),
            ("next", "/console/admin?after=0"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/console/admin?after=0");
    let line = set_cookie_line(&r.headers, "sb_console").expect("a session cookie");
    let attrs: Vec<String> = line.split(';').map(|a| a.trim().to_string()).collect();
    assert!(cookie_value(&line).len() >= 32, "{line}");
    for want in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(attrs.iter().any(|a| a == want), "{want} missing: {line}");
    }
    let max_age: u64 = attrs
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age="))
        .expect("Max-Age")
        .parse()
        .unwrap();
    assert!(max_age > 0, "{line}");
    assert!(
        !attrs.iter().any(|a| a == "Secure"),
        "plain HTTP gets no Secure: {line}"
    );
    // The session works.
    let page = Reply::from(
        http.get(app.url("/console/admin"))
            .header(COOKIE, format!("sb_console={}", cookie_value(&line)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_outside_the_console_lands_on_the_playground() {
    let app = spawn_app().await;
    let http = client();
    for next in [
        "https://evil.example/",
        "//evil",
        "//evil.example/console",
        "/admin/v1/tenants",
        "/console/sign-out",
        "",
        // Same site, but a browser resolves it out of the console.
        "/console/../admin/v1/tenants",
        "/console/%2e%2E/admin/v1/tenants",
        "/consolex",
        // Not a header value: the answer must still be the redirect, never a 500.
        "/console\x7f",
        "/console/\u{e9}",
    ] {
        let pre = sign_in_form(&http, &app.base).await;
        let r = post_sign_in(
            &http,
            &app.base,
            Some(&pre),
            &[("token", &app.admin_token), ("pre", &pre), ("next", next)],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "next {next:?}");
        assert_eq!(location(&r), "/console/playground", "next {next:?}");
    }
}
