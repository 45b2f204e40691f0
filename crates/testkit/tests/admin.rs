//! The admin API over real HTTP: provisioning, dialect ids, messages, restart durability,
//! idempotency, and a table of bad inputs that must each get a 4xx JSON error and write nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_testkit::{spawn_app, Seed, TestApp};

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

/// The world the bad-input tests send into: the seed, plus a second tenant with a user,
/// `stranger`, whom no chat of the seed's tenant may name.
struct AdminWorld {
    app: TestApp,
    s: Seed,
    t: String,
    g: String,
    other: Value,
    stranger: Value,
}

async fn admin_world() -> AdminWorld {
    let app = spawn_app().await;
    let s = app.seed().await;
    let (t, g) = (s.tenant["id"].to_string(), s.group["id"].to_string());
    let other = app.create_tenant("Other").await;
    let stranger = app.create_user(&other, "Stranger", "stranger").await;
    AdminWorld {
        app,
        s,
        t,
        g,
        other,
        stranger,
    }
}

impl AdminWorld {
    /// The path of the seed group's messages.
    fn msgs(&self) -> String {
        format!("/tenants/{}/chats/{}/messages", self.t, self.g)
    }
}

/// One admin request that must be refused with `status` and `code`.
struct Refused {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    /// Sent as-is with `content-type: application/json` instead of `body`.
    raw: Option<&'static str>,
    status: u16,
    code: &'static str,
}

const INVALID: (u16, &str) = (400, "invalid_argument");
const NOT_FOUND: (u16, &str) = (404, "not_found");
const EXISTS: (u16, &str) = (409, "already_exists");

fn refused(
    name: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    (status, code): (u16, &'static str),
) -> Refused {
    Refused {
        name,
        method,
        path: path.into(),
        body,
        raw: None,
        status,
        code,
    }
}

/// A text message from `sender`.
fn text_from(sender: Value) -> Value {
    json!({ "sender": sender, "type": "text", "content": { "text": "x" } })
}

/// Sends each case in turn; each must get its status, a JSON error with its code and a
/// message, and all of them together must write nothing. Failures name the case.
async fn each_is_refused_and_writes_nothing(w: &AdminWorld, cases: Vec<Refused>) {
    let app = &w.app;
    let before = counts(app, &w.s).await;
    for Refused {
        name,
        method,
        path,
        body,
        raw,
        status,
        code,
    } in cases
    {
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
            "{name}: {method} {path}: {}",
            r.text
        );
        assert_eq!(r.body["code"], code, "{name}: {method} {path}: {}", r.text);
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: message present"
        );
        assert_eq!(r.headers["content-type"], "application/json", "{name}");
    }
    assert_eq!(
        counts(app, &w.s).await,
        before,
        "rejected requests wrote nothing"
    );
}

#[tokio::test]
async fn a_tenant_without_a_valid_name_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let post = |name, body| refused(name, Method::POST, "/tenants", Some(body), INVALID);
    let mut not_json = refused("body not JSON", Method::POST, "/tenants", None, INVALID);
    not_json.raw = Some("{not json");
    not_json.code = "invalid_json";
    let cases = vec![
        post("no name", json!({})),
        post("empty name", json!({ "name": "" })),
        post("blank name", json!({ "name": "   " })),
        post("name not a string", json!({ "name": 5 })),
        post("unknown field", json!({ "name": "a", "extra": 1 })),
        not_json,
        post(
            "name over 128 characters",
            json!({ "name": "x".repeat(129) }),
        ),
    ];
    assert_eq!(cases.len(), 7);
    each_is_refused_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_body_of_the_wrong_content_type_or_size_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let (app, s) = (&w.app, &w.s);
    let before = counts(app, s).await;
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
        counts(app, s).await,
        before,
        "rejected requests wrote nothing"
    );
}

#[tokio::test]
async fn a_user_or_app_that_is_taken_malformed_or_missing_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let t = &w.t;
    let users = format!("/tenants/{t}/users");
    let user = |name, body, expect| refused(name, Method::POST, &users, Some(body), expect);
    let cases = vec![
        refused(
            "user in a missing tenant",
            Method::POST,
            "/tenants/999999/users",
            Some(json!({ "name": "u" })),
            NOT_FOUND,
        ),
        user(
            "user_id taken",
            json!({ "name": "u", "user_id": "alice" }),
            EXISTS,
        ),
        user(
            "user_id with a bar",
            json!({ "name": "u", "user_id": "a|b" }),
            INVALID,
        ),
        user(
            "account_id over 32 characters",
            json!({ "name": "u", "account_id": "x".repeat(33) }),
            INVALID,
        ),
        user(
            "account_id taken",
            json!({ "name": "u", "user_id": "new1", "account_id": "bob" }),
            EXISTS,
        ),
        refused(
            "app with an empty name",
            Method::POST,
            format!("/tenants/{t}/apps"),
            Some(json!({ "name": "" })),
            INVALID,
        ),
        refused(
            "app scope with a space",
            Method::PATCH,
            format!("/tenants/{t}/apps/{}", w.s.app_id()),
            Some(json!({ "scopes": ["has space"] })),
            INVALID,
        ),
        refused(
            "patch of a missing app",
            Method::PATCH,
            format!("/tenants/{t}/apps/cli_missing"),
            Some(json!({ "bot_enabled": false })),
            NOT_FOUND,
        ),
    ];
    assert_eq!(cases.len(), 8);
    each_is_refused_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_chat_or_membership_change_that_breaks_a_rule_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let stranger_id = w.stranger["id"].clone();
    let (t, g) = (&w.t, &w.g);
    let chats = format!("/tenants/{t}/chats");
    let chat = |name, body, expect| refused(name, Method::POST, &chats, Some(body), expect);
    let members = format!("/tenants/{t}/chats/{g}/members");
    let role = |name, body, expect| refused(name, Method::PATCH, &members, Some(body), expect);
    let cases = vec![
        chat(
            "chat type channel",
            json!({ "type": "channel", "name": "x", "owner": { "type": "user", "id": "alice" } }),
            INVALID,
        ),
        chat(
            "group without a name",
            json!({ "type": "group", "owner": { "type": "user", "id": "alice" } }),
            INVALID,
        ),
        chat(
            "unknown owner",
            json!({ "type": "group", "name": "x", "owner": { "type": "user", "id": "ghost" } }),
            NOT_FOUND,
        ),
        chat(
            "owner of an unknown type",
            json!({ "type": "group", "name": "x", "owner": { "type": "robot", "id": "alice" } }),
            INVALID,
        ),
        chat(
            "p2p without the other party",
            json!({ "type": "p2p", "owner": { "type": "user", "id": "alice" }, "members": [] }),
            INVALID,
        ),
        chat(
            "p2p that already exists",
            json!({ "type": "p2p", "owner": { "type": "app", "id": w.s.app_id() }, "members": [{ "type": "user", "id": "alice" }] }),
            EXISTS,
        ),
        chat(
            "member from another tenant",
            json!({ "type": "group", "name": "x", "owner": { "type": "user", "id": "alice" }, "members": [{ "type": "user", "id": stranger_id }] }),
            NOT_FOUND,
        ),
        refused(
            "adding no members",
            Method::POST,
            &members,
            Some(json!({ "members": [] })),
            INVALID,
        ),
        refused(
            "adding a member to a p2p chat",
            Method::POST,
            format!("/tenants/{t}/chats/{}/members", w.s.p2p["id"]),
            Some(json!({ "members": [{ "type": "user", "id": "bob" }] })),
            INVALID,
        ),
        role(
            "making a member owner",
            json!({ "members": [{ "type": "user", "id": "bob" }], "role": "owner" }),
            INVALID,
        ),
        role(
            "demoting the owner",
            json!({ "members": [{ "type": "user", "id": "alice" }], "role": "member" }),
            INVALID,
        ),
        role(
            "a role for a non-member from another tenant",
            json!({ "members": [{ "type": "user", "id": stranger_id }], "role": "admin" }),
            NOT_FOUND,
        ),
    ];
    assert_eq!(cases.len(), 12);
    each_is_refused_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_message_with_a_bad_sender_type_or_content_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let msgs = w.msgs();
    let post = |name, body, expect| refused(name, Method::POST, &msgs, Some(body), expect);
    let big = "x".repeat(200 * 1024);
    let cases = vec![
        post(
            "unknown sender",
            text_from(json!({ "type": "user", "id": "ghost" })),
            NOT_FOUND,
        ),
        post(
            "unknown message type",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "sms", "content": {} }),
            INVALID,
        ),
        post(
            "empty text",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "" } }),
            INVALID,
        ),
        post(
            "content not an object",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": "plain" }),
            INVALID,
        ),
        post(
            "image content without its key",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "image", "content": { "width": 3 } }),
            INVALID,
        ),
        post(
            "text over the size limit",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": big } }),
            INVALID,
        ),
        post(
            "reply_to not a message id",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "x" }, "reply_to": "nonsense" }),
            INVALID,
        ),
        post(
            "mention without an id",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "x" }, "mentions": [{ "type": "user" }] }),
            INVALID,
        ),
        post(
            "merge_forward without messages",
            json!({ "sender": { "type": "user", "id": "alice" }, "type": "merge_forward", "content": { "title": "x" } }),
            INVALID,
        ),
        refused(
            "the group through another tenant",
            Method::POST,
            format!("/tenants/{}/chats/{}/messages", w.other["id"], w.g),
            Some(text_from(json!({ "type": "user", "id": "stranger" }))),
            NOT_FOUND,
        ),
        post(
            "sender from another tenant",
            text_from(json!({ "type": "user", "id": w.stranger["id"] })),
            NOT_FOUND,
        ),
    ];
    assert_eq!(cases.len(), 11);
    each_is_refused_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_read_with_bad_paging_or_an_id_naming_nothing_here_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let (t, g, msgs) = (&w.t, &w.g, w.msgs());
    let get = |name, path, expect| refused(name, Method::GET, path, None, expect);
    let cases = vec![
        get("limit 0", format!("{msgs}?limit=0"), INVALID),
        get("limit not a number", format!("{msgs}?limit=abc"), INVALID),
        get(
            "negative after_position",
            format!("{msgs}?after_position=-1"),
            INVALID,
        ),
        get(
            "unknown message id",
            format!("{msgs}/om_00000000000000000000000000000000"),
            NOT_FOUND,
        ),
        get(
            "a p2p message through the group",
            format!("{msgs}/{}", (w.s.p2p["id"].as_i64().unwrap() << 32) + 1),
            NOT_FOUND,
        ),
        get(
            "the group through another tenant",
            format!("/tenants/{}/chats/{g}", w.other["id"]),
            NOT_FOUND,
        ),
        get("tenant id not a number", "/tenants/abc".into(), NOT_FOUND),
        get(
            "user id of another dialect",
            format!("/tenants/{t}/users/ou_0123"),
            INVALID,
        ),
    ];
    assert_eq!(cases.len(), 8);
    each_is_refused_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn an_unsupported_method_or_unknown_path_is_refused_and_writes_nothing() {
    let w = admin_world().await;
    let cases = vec![
        refused(
            "PUT on a chat",
            Method::PUT,
            format!("/tenants/{}/chats/{}", w.t, w.g),
            Some(json!({})),
            (405, "method_not_allowed"),
        ),
        refused("unknown path", Method::GET, "/nope", None, NOT_FOUND),
    ];
    assert_eq!(cases.len(), 2);
    each_is_refused_and_writes_nothing(&w, cases).await;
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

/// What the console reads: a user's chats, a timeline paged back from its end, an app's
/// secret on demand and a message found by its id alone, each kept inside its tenant.
#[tokio::test]
async fn console_reads_user_chats_pages_back_reveals_secrets_and_finds_messages() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let t = &s.tenant["id"];
    let g = &s.group["id"];

    let chats = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/users/alice/chats"),
            None,
        )
        .await;
    let items = chats["items"].as_array().unwrap();
    let ids: Vec<&Value> = items.iter().map(|c| &c["id"]).collect();
    assert!(ids.contains(&g), "{chats}");
    let group = items.iter().find(|c| &c["id"] == g).unwrap();
    assert!(
        group["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "app" && m["id"] == s.bot["id"]),
        "each chat comes with its members: {group}"
    );
    let bob_only = app
        .create_chat(
            &s.tenant,
            "group",
            Some("Bob only"),
            ("user", &s.bob["id"]),
            &[],
        )
        .await;
    let alice_chats = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/users/alice/chats"),
            None,
        )
        .await;
    assert!(
        !alice_chats["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == bob_only["id"]),
        "only the user's own chats"
    );
    let missing = app
        .admin(
            Method::GET,
            &format!("/tenants/{t}/users/nobody/chats"),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    for i in 1..=7 {
        app.admin_send_text(
            &s.tenant,
            &s.group,
            ("user", &s.alice["id"]),
            &format!("m{i}"),
        )
        .await;
    }
    let last = app
        .admin_ok(Method::GET, &format!("/tenants/{t}/chats/{g}"), None)
        .await["last_position"]
        .as_i64()
        .unwrap();
    let page = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{t}/chats/{g}/messages?before_position={}&limit=3",
                last + 1
            ),
            None,
        )
        .await;
    let positions: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, vec![last - 2, last - 1, last], "{page}");
    assert_eq!(page["has_more"], true);
    assert_eq!(page["next_before_position"], last - 2);
    let first = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{g}/messages?before_position=3&limit=50"),
            None,
        )
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["has_more"], false);
    for bad in [
        "before_position=0",
        "before_position=2&after_position=1",
        "before_position=x",
    ] {
        let r = app
            .admin(
                Method::GET,
                &format!("/tenants/{t}/chats/{g}/messages?{bad}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }

    let secret = app
        .admin(
            Method::GET,
            &format!("/tenants/{t}/apps/{}/secret", s.bot["id"]),
            None,
        )
        .await;
    assert_eq!(secret.status, StatusCode::OK);
    assert_eq!(secret.body["app_secret"], s.bot["app_secret"]);
    assert_eq!(secret.body["app_id"], s.bot["app_id"]);
    assert_eq!(
        secret.headers.get("cache-control").unwrap(),
        "no-store",
        "a secret is never cached"
    );

    let msg = app
        .admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "find me")
        .await;
    for form in [
        msg["id"].to_string(),
        msg["dialect_ids"]["lark"].as_str().unwrap().to_string(),
        msg["dialect_ids"]["wps"].as_str().unwrap().to_string(),
    ] {
        let found = app
            .admin_ok(Method::GET, &format!("/tenants/{t}/messages/{form}"), None)
            .await;
        assert_eq!(found["id"], msg["id"], "{form}");
        assert_eq!(found["text"], "find me");
    }
    let other = app.create_tenant("Other").await;
    let elsewhere = app
        .admin(
            Method::GET,
            &format!("/tenants/{}/messages/{}", other["id"], msg["id"]),
            None,
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::NOT_FOUND,
        "another tenant's message is not found: {}",
        elsewhere.text
    );
    let other_secret = app
        .admin(
            Method::GET,
            &format!("/tenants/{}/apps/{}/secret", other["id"], s.bot["id"]),
            None,
        )
        .await;
    assert_eq!(other_secret.status, StatusCode::NOT_FOUND);
    let other_chats = app
        .admin(
            Method::GET,
            &format!("/tenants/{}/users/alice/chats", other["id"]),
            None,
        )
        .await;
    assert_eq!(other_chats.status, StatusCode::NOT_FOUND);
}
