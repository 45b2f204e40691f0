//! The admin API over real HTTP: provisioning, dialect ids, messages, restart durability,
//! idempotency, and a table of bad inputs that must each get a 4xx JSON error and write nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_testkit::{spawn_app, Seed, TestApp};

/// (method, path, JSON body, raw body, expected status, expected code)
type Case<'a> = (Method, String, Option<Value>, Option<&'a str>, u16, &'a str);

async fn counts(app: &TestApp, s: &Seed) -> (usize, usize, usize, usize, i64, usize) {
    let t = &s.tenant["id"];
    let n = |v: Value| v["items"].as_array().map(Vec::len).unwrap_or(0);
    let tenants = n(app.admin_ok(Method::GET, "/tenants", None).await);
    let users = n(app
        .admin_ok(Method::GET, &format!("/tenants/{t}/users"), None)
        .await);
    let apps = n(app
        .admin_ok(Method::GET, &format!("/tenants/{t}/apps"), None)
        .await);
    let chats = n(app
        .admin_ok(Method::GET, &format!("/tenants/{t}/chats"), None)
        .await);
    let group = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{}", s.group["id"]),
            None,
        )
        .await;
    let members = group["members"].as_array().unwrap().len();
    (
        tenants,
        users,
        apps,
        chats,
        group["last_position"].as_i64().unwrap(),
        members,
    )
}

#[tokio::test]
async fn provisioning_round_trip_with_dialect_ids() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let t = &s.tenant["id"];
    assert_eq!(s.tenant["name"], "Acme");
    assert_eq!(s.tenant["dialect_ids"]["wps"], t.to_string());
    let tk = s.tenant["dialect_ids"]["lark"].as_str().unwrap();
    assert_eq!(tk.len(), 20);
    // The tenant is reachable by its Feishu tenant_key too.
    assert_eq!(
        app.admin_ok(Method::GET, &format!("/tenants/{tk}"), None)
            .await["id"],
        *t
    );

    assert_eq!(s.alice["user_id"], "alice");
    assert_eq!(s.alice["account_id"], "alice");
    assert_eq!(s.alice["dialect_ids"]["wps"], "alice");
    assert_eq!(s.alice["dialect_ids"]["yunxin"], "alice");
    let union = s.alice["dialect_ids"]["lark"]["union_id"].as_str().unwrap();
    assert!(union.starts_with("on_"));
    // open_id is per app and needs ?app=.
    let with_app = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/users/alice?app={}", s.app_id()),
            None,
        )
        .await;
    let open = with_app["dialect_ids"]["lark"]["open_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(open.starts_with("ou_"));
    for key in [s.alice["id"].to_string(), "alice".into(), union.to_string()] {
        assert_eq!(
            app.admin_ok(Method::GET, &format!("/tenants/{t}/users/{key}"), None)
                .await["id"],
            s.alice["id"],
            "{key}"
        );
    }
    let by_open = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/users/{open}?app={}", s.app_id()),
            None,
        )
        .await;
    assert_eq!(by_open["id"], s.alice["id"]);

    assert!(s.app_id().starts_with("cli_"));
    assert_eq!(s.app_secret().len(), 32);
    assert_ne!(s.bot["spid"], s.bot["app_id"]);
    assert_eq!(s.bot["dialect_ids"]["wps"]["spid"], s.bot["spid"]);
    assert_eq!(s.bot["bot_enabled"], true);
    let listed = app
        .admin_ok(Method::GET, &format!("/tenants/{t}/apps"), None)
        .await;
    assert!(
        listed["items"][0].get("app_secret").is_none(),
        "secrets are shown only on create and rotate"
    );

    assert_eq!(s.group["type"], "group");
    assert_eq!(s.group["members"].as_array().unwrap().len(), 3);
    assert_eq!(s.group["dialect_ids"]["wps"], s.group["id"].to_string());
    assert_eq!(s.group["dialect_ids"]["yunxin"], s.group["id"]);
    let oc = s.group["dialect_ids"]["lark"].as_str().unwrap();
    assert!(oc.starts_with("oc_"));
    assert_eq!(
        s.p2p["dialect_ids"]["yunxin"],
        format!("alice|1|{}", s.app_id())
    );
    // {chat} accepts every dialect's id.
    for key in [
        s.group["id"].to_string(),
        oc.to_string(),
        format!("alice%7C2%7C{}", s.group["id"]),
    ] {
        assert_eq!(
            app.admin_ok(Method::GET, &format!("/tenants/{t}/chats/{key}"), None)
                .await["id"],
            s.group["id"],
            "{key}"
        );
    }
    let p2p_key = format!("alice%7C1%7C{}", s.app_id());
    assert_eq!(
        app.admin_ok(Method::GET, &format!("/tenants/{t}/chats/{p2p_key}"), None)
            .await["id"],
        s.p2p["id"]
    );

    // Scopes and bot ability are managed here and take effect immediately.
    let patched = app
        .admin_ok(
            Method::PATCH,
            &format!("/tenants/{t}/apps/{}", s.app_id()),
            Some(json!({ "bot_enabled": false, "scopes": ["im:message", "im:message"] })),
        )
        .await;
    assert_eq!(patched["bot_enabled"], false);
    assert_eq!(patched["scopes"], json!(["im:message"]));
    let promoted = app
        .admin_ok(
            Method::PATCH,
            &format!("/tenants/{t}/chats/{}/members", s.group["id"]),
            Some(json!({ "members": [{ "type": "user", "id": "bob" }], "role": "admin" })),
        )
        .await;
    assert_eq!(promoted["items"][0]["role"], "admin");
    let members = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{}/members", s.group["id"]),
            None,
        )
        .await;
    assert!(members["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == s.bob["id"] && m["role"] == "admin"));
    let rotated = app
        .admin_ok(
            Method::POST,
            &format!("/tenants/{t}/apps/{}/rotate_secret", s.app_id()),
            None,
        )
        .await;
    assert_ne!(rotated["app_secret"], s.bot["app_secret"]);
}

#[tokio::test]
async fn messages_through_the_admin_api() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let (t, g) = (&s.tenant["id"], &s.group["id"]);
    let m1 = app
        .admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "hello")
        .await;
    assert_eq!(m1["position"], 1);
    assert_eq!(m1["type"], "text");
    assert_eq!(m1["content"], json!({ "text": "hello" }));
    let ids = &m1["dialect_ids"];
    assert_eq!(ids["yunxin"], m1["id"]);
    for key in [
        m1["id"].to_string(),
        ids["lark"].as_str().unwrap().into(),
        ids["wps"].as_str().unwrap().into(),
    ] {
        let got = app
            .admin_ok(
                Method::GET,
                &format!("/tenants/{t}/chats/{g}/messages/{key}"),
                None,
            )
            .await;
        assert_eq!(got["id"], m1["id"], "{key}");
    }
    let reply = app
        .admin_ok(
            Method::POST,
            &format!("/tenants/{t}/chats/{g}/messages"),
            Some(json!({
                "sender": { "type": "user", "id": "bob" }, "type": "text",
                "content": { "text": "<at id=\"1\">Alice</at> <at id=\"2\">all</at> ok" },
                "mentions": [{ "key": "1", "type": "user", "id": "alice", "name": "Alice" }, { "key": "2", "type": "all" }],
                "reply_to": ids["lark"]
            })),
        )
        .await;
    assert_eq!(reply["reply_to"], m1["id"]);
    assert_eq!(reply["root_id"], m1["id"]);
    assert_eq!(reply["mentions"][0]["id"], s.alice["id"]);
    assert_eq!(reply["mentions"][1]["type"], "all");
    let card = app
        .admin_ok(
            Method::POST,
            &format!("/tenants/{t}/chats/{g}/messages"),
            Some(json!({ "sender": { "type": "app", "id": s.app_id() }, "type": "card", "content": { "card": { "title": "x" } } })),
        )
        .await;
    assert_eq!(card["sender"], json!({ "type": "app", "id": s.bot["id"] }));
    let edited = app
        .admin_ok(
            Method::PUT,
            &format!("/tenants/{t}/chats/{g}/messages/{}", m1["id"]),
            Some(json!({ "content": { "text": "hello, edited" } })),
        )
        .await;
    assert_eq!(edited["updated"], true);
    assert_eq!(edited["edit_count"], 1);
    assert_eq!(edited["text"], "hello, edited");
    let recalled = app
        .admin_ok(
            Method::DELETE,
            &format!("/tenants/{t}/chats/{g}/messages/{}", card["id"]),
            None,
        )
        .await;
    assert_eq!(recalled["removed"]["kind"], "recalled");
    let page = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{g}/messages?limit=2"),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["next_after_position"], 2);
    let rest = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{g}/messages?after_position=2"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["items"][0]["position"], 3);
}

#[tokio::test]
async fn idempotent_send_with_client_msg_id() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let path = format!(
        "/tenants/{}/chats/{}/messages",
        s.tenant["id"], s.group["id"]
    );
    let body = json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "once" }, "client_msg_id": "abc-1" });
    let a = app.admin_ok(Method::POST, &path, Some(body.clone())).await;
    let b = app.admin_ok(Method::POST, &path, Some(body)).await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["client_msg_id"], "abc-1");
    let g = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/chats/{}", s.tenant["id"], s.group["id"]),
            None,
        )
        .await;
    assert_eq!(g["last_position"], 1);
}

#[tokio::test]
async fn restart_keeps_every_acknowledged_message() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let mut acked = Vec::new();
    for i in 0..30 {
        acked.push(
            app.admin_send_text(
                &s.tenant,
                &s.group,
                ("user", &s.bob["id"]),
                &format!("m{i}"),
            )
            .await,
        );
    }
    let app = app.restart().await;
    for m in &acked {
        let got = app
            .admin_ok(
                Method::GET,
                &format!(
                    "/tenants/{}/chats/{}/messages/{}",
                    s.tenant["id"], s.group["id"], m["id"]
                ),
                None,
            )
            .await;
        assert_eq!(got["text"], m["text"]);
        assert_eq!(got["position"], m["position"]);
    }
    let next = app
        .admin_send_text(&s.tenant, &s.group, ("user", &s.bob["id"]), "after restart")
        .await;
    assert_eq!(next["position"], 31);
}

#[tokio::test]
async fn admin_auth_is_required() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/admin/v1/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    let r = app
        .http
        .get(app.url("/admin/v1/tenants"))
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .http
        .post(app.url("/admin/v1/tenants"))
        .bearer_auth("nope")
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.core
            .list_tenants(switchboard_core::store::Page {
                after: 0,
                limit: 10
            })
            .await
            .unwrap()
            .len(),
        0,
        "nothing written"
    );
    let h = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
}

#[tokio::test]
async fn bad_inputs_get_4xx_json_and_write_nothing() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let (t, g) = (s.tenant["id"].to_string(), s.group["id"].to_string());
    let other = app.create_tenant("Other").await;
    let stranger = app.create_user(&other, "Stranger", "stranger").await;
    let before = counts(&app, &s).await;
    let msgs = format!("/tenants/{t}/chats/{g}/messages");
    let text =
        |sender: Value| json!({ "sender": sender, "type": "text", "content": { "text": "x" } });
    let big = "x".repeat(200 * 1024);

    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/tenants".into(),
            Some(json!({})),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            "/tenants".into(),
            Some(json!({ "name": "" })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            "/tenants".into(),
            Some(json!({ "name": "   " })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            "/tenants".into(),
            Some(json!({ "name": 5 })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            "/tenants".into(),
            Some(json!({ "name": "a", "extra": 1 })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            "/tenants".into(),
            None,
            Some("{not json"),
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/tenants".into(),
            Some(json!({ "name": "x".repeat(129) })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            "/tenants/999999/users".into(),
            Some(json!({ "name": "u" })),
            None,
            404,
            "not_found",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/users"),
            Some(json!({ "name": "u", "user_id": "alice" })),
            None,
            409,
            "already_exists",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/users"),
            Some(json!({ "name": "u", "user_id": "a|b" })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/users"),
            Some(json!({ "name": "u", "account_id": "x".repeat(33) })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/users"),
            Some(json!({ "name": "u", "user_id": "new1", "account_id": "bob" })),
            None,
            409,
            "already_exists",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/apps"),
            Some(json!({ "name": "" })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::PATCH,
            format!("/tenants/{t}/apps/{}", s.app_id()),
            Some(json!({ "scopes": ["has space"] })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::PATCH,
            format!("/tenants/{t}/apps/cli_missing"),
            Some(json!({ "bot_enabled": false })),
            None,
            404,
            "not_found",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(
                json!({ "type": "channel", "name": "x", "owner": { "type": "user", "id": "alice" } }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(json!({ "type": "group", "owner": { "type": "user", "id": "alice" } })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(
                json!({ "type": "group", "name": "x", "owner": { "type": "user", "id": "ghost" } }),
            ),
            None,
            404,
            "not_found",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(
                json!({ "type": "group", "name": "x", "owner": { "type": "robot", "id": "alice" } }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(
                json!({ "type": "p2p", "owner": { "type": "user", "id": "alice" }, "members": [] }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(
                json!({ "type": "p2p", "owner": { "type": "app", "id": s.app_id() }, "members": [{ "type": "user", "id": "alice" }] }),
            ),
            None,
            409,
            "already_exists",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats"),
            Some(
                json!({ "type": "group", "name": "x", "owner": { "type": "user", "id": "alice" }, "members": [{ "type": "user", "id": stranger["id"] }] }),
            ),
            None,
            404,
            "not_found",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats/{g}/members"),
            Some(json!({ "members": [] })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{t}/chats/{}/members", s.p2p["id"]),
            Some(json!({ "members": [{ "type": "user", "id": "bob" }] })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(text(json!({ "type": "user", "id": "ghost" }))),
            None,
            404,
            "not_found",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "sms", "content": {} }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "" } }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": "plain" }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "image", "content": { "width": 3 } }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": big } }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "x" }, "reply_to": "nonsense" }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "x" }, "mentions": [{ "type": "user" }] }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(
                json!({ "sender": { "type": "user", "id": "alice" }, "type": "merge_forward", "content": { "title": "x" } }),
            ),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::POST,
            format!("/tenants/{}/chats/{g}/messages", other["id"]),
            Some(text(json!({ "type": "user", "id": "stranger" }))),
            None,
            404,
            "not_found",
        ),
        (
            Method::POST,
            msgs.clone(),
            Some(text(json!({ "type": "user", "id": stranger["id"] }))),
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            format!("{msgs}?limit=0"),
            None,
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::GET,
            format!("{msgs}?limit=abc"),
            None,
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::GET,
            format!("{msgs}?after_position=-1"),
            None,
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::GET,
            format!("{msgs}/om_00000000000000000000000000000000"),
            None,
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            format!("{msgs}/{}", (s.p2p["id"].as_i64().unwrap() << 32) + 1),
            None,
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            format!("/tenants/{}/chats/{g}", other["id"]),
            None,
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            "/tenants/abc".into(),
            None,
            None,
            404,
            "not_found",
        ),
        (
            Method::GET,
            format!("/tenants/{t}/users/ou_0123"),
            None,
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::PUT,
            format!("/tenants/{t}/chats/{g}"),
            Some(json!({})),
            None,
            405,
            "method_not_allowed",
        ),
        (
            Method::PATCH,
            format!("/tenants/{t}/chats/{g}/members"),
            Some(json!({ "members": [{ "type": "user", "id": "bob" }], "role": "owner" })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::PATCH,
            format!("/tenants/{t}/chats/{g}/members"),
            Some(json!({ "members": [{ "type": "user", "id": "alice" }], "role": "member" })),
            None,
            400,
            "invalid_argument",
        ),
        (
            Method::PATCH,
            format!("/tenants/{t}/chats/{g}/members"),
            Some(json!({ "members": [{ "type": "user", "id": stranger["id"] }], "role": "admin" })),
            None,
            404,
            "not_found",
        ),
        (Method::GET, "/nope".into(), None, None, 404, "not_found"),
    ];
    assert!(cases.len() >= 20);
    for (i, (method, path, body, raw, status, code)) in cases.into_iter().enumerate() {
        let r = match raw {
            Some(raw) => {
                let resp = app
                    .http
                    .request(method.clone(), app.url(&format!("/admin/v1{path}")))
                    .bearer_auth(&app.admin_token)
                    .header("content-type", "application/json")
                    .body(raw.to_string())
                    .send()
                    .await
                    .unwrap();
                switchboard_testkit::Reply::from(resp).await
            }
            None => app.admin(method.clone(), &path, body).await,
        };
        assert_eq!(
            r.status.as_u16(),
            status,
            "case {i}: {method} {path}: {}",
            r.text
        );
        assert_eq!(
            r.body["code"], code,
            "case {i}: {method} {path}: {}",
            r.text
        );
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "case {i}: message present"
        );
        assert_eq!(r.headers["content-type"], "application/json", "case {i}");
    }
    // Wrong content type.
    let r = app
        .http
        .post(app.url("/admin/v1/tenants"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/plain")
        .body("{\"name\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Oversized body.
    let huge = json!({ "name": "x".repeat(2 * 1024 * 1024) });
    let r = app.admin(Method::POST, "/tenants", Some(huge)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.body["code"], "payload_too_large");

    assert_eq!(
        counts(&app, &s).await,
        before,
        "rejected requests wrote nothing"
    );
}

#[tokio::test]
async fn listing_pages_past_the_maximum_page_size() {
    use switchboard_core::model::{Actor, MessageType};
    use switchboard_core::service::Send;
    use switchboard_core::{ChatId, TenantId, UserId};
    let app = spawn_app().await;
    let s = app.seed().await;
    let (t, g) = (
        TenantId(s.tenant["id"].as_i64().unwrap()),
        ChatId(s.group["id"].as_i64().unwrap()),
    );
    let alice = Actor::User(UserId(s.alice["id"].as_i64().unwrap()));
    let items = (0..1001)
        .map(|i| {
            let c = switchboard_core::content::canonical(
                MessageType::Text,
                json!({ "text": format!("m{i}") }),
            )
            .unwrap();
            (Send::new(t, g, alice, MessageType::Text, c), None)
        })
        .collect();
    app.core.import(t, items).await.unwrap();
    let path = format!(
        "/tenants/{}/chats/{}/messages",
        s.tenant["id"], s.group["id"]
    );
    let first = app
        .admin_ok(Method::GET, &format!("{path}?limit=1000"), None)
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1000);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["next_after_position"], 1000);
    let rest = app
        .admin_ok(
            Method::GET,
            &format!("{path}?after_position=1000&limit=1000"),
            None,
        )
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["position"], 1001);
    assert_eq!(rest["has_more"], false);
}

#[tokio::test]
async fn the_admin_api_cannot_remove_a_chats_owner() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let (t, g) = (&s.tenant["id"], &s.group["id"]);
    let path = format!("/tenants/{t}/chats/{g}/members");
    // Alone or beside another member, the owner is refused and nobody is removed.
    for members in [
        json!([{ "type": "user", "id": "alice" }]),
        json!([{ "type": "user", "id": "bob" }, { "type": "user", "id": "alice" }]),
    ] {
        let r = app
            .admin(Method::DELETE, &path, Some(json!({ "members": members })))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.body["code"], "owner_cannot_be_removed", "{}", r.text);
        assert_eq!(r.body["message"], "the chat's owner cannot be removed");
    }
    let members = app.admin_ok(Method::GET, &path, None).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 3, "{members}");
    // Another member can still be removed.
    let r = app
        .admin(
            Method::DELETE,
            &path,
            Some(json!({ "members": [{ "type": "user", "id": "bob" }] })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
