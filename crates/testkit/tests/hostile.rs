//! Hostile input against every API at once (the admin API, WPS, Hi, Feishu and Yunxin):
//! malformed path segments, query strings and bodies, unknown paths and wrong methods must
//! each be answered in the API's own error envelope with its own code, never with axum's
//! plain-text rejections or the server's generic fallback; ids holding a NUL are refused as
//! malformed before any store sees them (PostgreSQL's `text` cannot hold one); and message
//! content holding a NUL is still kept exactly. Runs on SQLite and, with
//! `SWITCHBOARD_TEST_STORE=postgres`, on PostgreSQL.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::ids::TenantId;
use switchboard_core::service::{Access, ListQuery};
use switchboard_core::store::Page;
use switchboard_testkit::lark::{Face, Lark};
use switchboard_testkit::wps::{wps_id, WpsClient};
use switchboard_testkit::yunxin::{self, Body, YunxinClient};
use switchboard_testkit::{spawn_app, Reply, Seed, TestApp};

/// The API a request speaks, hence the envelope its errors come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Admin,
    Wps,
    Hi,
    Feishu,
    Yunxin,
}

/// One hostile request and the answer it must get.
struct Case {
    label: String,
    api: Api,
    method: Method,
    /// Path and query exactly as sent (percent escapes are not normalised).
    path: String,
    /// Content type and raw bytes.
    body: Option<(&'static str, Vec<u8>)>,
    status: u16,
    code: Value,
}

fn case(
    label: impl Into<String>,
    api: Api,
    method: Method,
    path: impl Into<String>,
    status: u16,
    code: Value,
) -> Case {
    Case {
        label: label.into(),
        api,
        method,
        path: path.into(),
        body: None,
        status,
        code,
    }
}

impl Case {
    fn body(mut self, content_type: &'static str, bytes: impl Into<Vec<u8>>) -> Case {
        self.body = Some((content_type, bytes.into()));
        self
    }
}

struct Clients<'a> {
    app: &'a TestApp,
    wps: WpsClient,
    hi: Lark<'a>,
    feishu: Lark<'a>,
    yx: YunxinClient<'a>,
}

impl Clients<'_> {
    /// Sends `c` with valid credentials for its API (so that only the hostile part fails).
    async fn send(&self, c: &Case) -> Reply {
        let app = self.app;
        match c.api {
            Api::Wps => {
                let (ct, bytes) = c.body.clone().unwrap_or(("application/json", vec![]));
                self.wps
                    .build(c.method.as_str(), &c.path, ct, bytes)
                    .send(app)
                    .await
            }
            Api::Yunxin => {
                let body = c.body.clone().map(|(ct, bytes)| Body::Raw {
                    content_type: Some(ct.into()),
                    bytes,
                });
                self.yx
                    .request(c.method.clone(), &c.path, Some(&self.yx.sign()), body)
                    .await
            }
            Api::Admin | Api::Hi | Api::Feishu => {
                let token = match c.api {
                    Api::Admin => app.admin_token.as_str(),
                    Api::Hi => self.hi.token.as_str(),
                    _ => self.feishu.token.as_str(),
                };
                let mut req = app
                    .http
                    .request(c.method.clone(), app.url(&c.path))
                    .bearer_auth(token);
                if let Some((ct, bytes)) = &c.body {
                    req = req.header("Content-Type", *ct).body(bytes.clone());
                }
                Reply::from(req.send().await.expect("request")).await
            }
        }
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

/// Asserts that `r` is an error in `api`'s own envelope, JSON with a JSON content type.
fn assert_envelope(api: Api, r: &Reply, label: &str) {
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{label}: content-type {ct:?}, body {}",
        r.text
    );
    assert!(r.body.is_object(), "{label}: not a JSON object: {}", r.text);
    let msg_key = if api == Api::Admin { "message" } else { "msg" };
    assert!(
        r.body[msg_key].as_str().is_some_and(|m| !m.is_empty()),
        "{label}: no {msg_key}: {}",
        r.text
    );
    match api {
        Api::Admin => {
            assert_eq!(keys(&r.body), ["code", "message"], "{label}: {}", r.text);
            assert!(r.body["code"].is_string(), "{label}: {}", r.text);
        }
        Api::Wps => {
            assert_eq!(keys(&r.body), ["code", "msg"], "{label}: {}", r.text);
        }
        Api::Hi => {
            assert_eq!(
                keys(&r.body),
                ["code", "data", "msg", "success", "traceId"],
                "{label}: {}",
                r.text
            );
            assert_eq!(r.body["success"], false, "{label}: {}", r.text);
            assert!(
                r.body["traceId"].as_str().is_some_and(|t| !t.is_empty()),
                "{label}: {}",
                r.text
            );
        }
        Api::Feishu => {
            let k = keys(&r.body);
            assert!(
                k == ["code", "error", "msg"] || k == ["code", "data", "error", "msg"],
                "{label}: {}",
                r.text
            );
            assert!(
                r.body["error"]["log_id"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
                "{label}: {}",
                r.text
            );
        }
        Api::Yunxin => {
            assert_eq!(
                r.status, 200,
                "{label}: Yunxin answers HTTP 200: {}",
                r.text
            );
            assert_eq!(
                keys(&r.body),
                ["code", "data", "msg"],
                "{label}: {}",
                r.text
            );
            assert_eq!(r.body["data"], json!({}), "{label}: {}", r.text);
        }
    }
    if matches!(api, Api::Hi | Api::Feishu) {
        assert!(
            r.headers.contains_key("x-tt-logid"),
            "{label}: no X-Tt-Logid"
        );
    }
}

/// Everything a request could write: tenants, their users, apps, chats, members, messages.
async fn snapshot(app: &TestApp) -> String {
    let core = &app.core;
    let page = Page {
        after: 0,
        limit: 1000,
    };
    let mut out = String::new();
    for t in core.list_tenants(page).await.unwrap() {
        out.push_str(&format!("tenant {} {:?}\n", t.id, t.name));
        let t = TenantId(t.id.0);
        for u in core.list_users(t, page).await.unwrap() {
            out.push_str(&format!("user {:?}\n", u));
        }
        for a in core.list_apps(t, page).await.unwrap() {
            out.push_str(&format!(
                "app {} {} {} {:?} {:?}\n",
                a.id,
                a.app_id,
                a.name,
                a.scopes,
                a.app_secret.expose()
            ));
        }
        for c in core.list_chats(t, page).await.unwrap() {
            out.push_str(&format!("chat {:?}\n", c));
            for m in core.members(t, c.id).await.unwrap() {
                out.push_str(&format!("  member {:?}\n", m));
            }
            let q = ListQuery {
                tenant: t,
                access: Access::Admin,
                chat: c.id,
                after_position: 0,
                before_position: None,
                since_ms: None,
                until_ms: None,
                limit: 1000,
                descending: false,
            };
            for v in core.list(q).await.unwrap() {
                out.push_str(&format!("  msg {:?}\n", v.message));
            }
        }
    }
    out
}

struct World {
    app: TestApp,
    seed: Seed,
}

async fn world() -> World {
    let app = spawn_app().await;
    let seed = app.seed().await;
    World { app, seed }
}

impl World {
    async fn clients(&self) -> Clients<'_> {
        Clients {
            app: &self.app,
            wps: WpsClient::for_seed(&self.app, &self.seed).await,
            hi: Lark::login(&self.app, &self.seed, Face::Hi).await,
            feishu: Lark::login(&self.app, &self.seed, Face::Feishu).await,
            yx: YunxinClient::new(&self.app, self.seed.app_id(), self.seed.app_secret()),
        }
    }

    /// A text message in the group, sent as alice through the admin API.
    async fn message(&self, text: &str) -> Value {
        self.app
            .admin_send_text(
                &self.seed.tenant,
                &self.seed.group,
                ("user", &self.seed.alice["id"]),
                text,
            )
            .await
    }
}

async fn run(c: &Clients<'_>, cases: &[Case]) {
    let before = snapshot(c.app).await;
    for k in cases {
        let r = c.send(k).await;
        assert_eq!(
            r.status.as_u16(),
            k.status,
            "{} ({:?} {} {}): {}",
            k.label,
            k.api,
            k.method,
            k.path,
            r.text
        );
        assert_envelope(k.api, &r, &k.label);
        assert_eq!(
            r.body["code"], k.code,
            "{} ({:?} {} {}): {}",
            k.label, k.api, k.method, k.path, r.text
        );
    }
    assert_eq!(
        snapshot(c.app).await,
        before,
        "a refused request wrote something"
    );
}

const JSON: &str = "application/json";
/// Bytes that are not UTF-8 inside a JSON string.
const NOT_UTF8_JSON: &[u8] = b"{\"name\":\"\xff\xfe\"}";

#[tokio::test]
#[rustfmt::skip] // one row per request
async fn hostile_requests_are_answered_in_each_apis_own_envelope() {
    let w = world().await;
    let c = w.clients().await;
    let s = &w.seed;
    let t = &s.tenant["id"];
    let g = &s.group["id"];
    let m = w.message("hello").await;
    let long = "x".repeat(300);
    use Api::*;

    // The admin API: `{code, message}`, `invalid_argument` for anything malformed.
    let bad = || json!("invalid_argument");
    let a = |p: &str| format!("/admin/v1{p}");
    let mut cases = vec![
        case("tenant not UTF-8", Admin, Method::GET, a("/tenants/%FF%FE"), 400, bad()),
        case("user not UTF-8", Admin, Method::GET, a(&format!("/tenants/{t}/users/%FF")), 400, bad()),
        case("app: overlong UTF-8 (NUL)", Admin, Method::GET, a(&format!("/tenants/{t}/apps/%C0%80")), 400, bad()),
        case("chat not UTF-8", Admin, Method::GET, a(&format!("/tenants/{t}/chats/%FF")), 400, bad()),
        case("message not UTF-8", Admin, Method::GET, a(&format!("/tenants/{t}/chats/{g}/messages/%FE")), 400, bad()),
        case("members of a chat not UTF-8", Admin, Method::POST, a(&format!("/tenants/{t}/chats/%FF/members")), 400, bad())
            .body(JSON, r#"{"members":[{"type":"user","id":"bob"}]}"#),
        case("tenant with NUL", Admin, Method::GET, a("/tenants/1%00"), 400, bad()),
        case("chat with NUL", Admin, Method::GET, a(&format!("/tenants/{t}/chats/{g}%00")), 400, bad()),
        case("user overlong", Admin, Method::GET, a(&format!("/tenants/{t}/users/{long}")), 400, bad()),
        case("query not UTF-8", Admin, Method::GET, a(&format!("/tenants/{t}/users?limit=%FF")), 400, bad()),
        case("query with NUL", Admin, Method::GET, a(&format!("/tenants/{t}/users/alice?app=cli%00")), 400, bad()),
        case("query of the wrong type", Admin, Method::GET, a(&format!("/tenants/{t}/users?limit=abc")), 400, bad()),
        case("unknown query parameter", Admin, Method::GET, a(&format!("/tenants/{t}/users?colour=red")), 400, bad()),
        case("body not JSON", Admin, Method::POST, a(&format!("/tenants/{t}/users")), 400, json!("invalid_json"))
            .body(JSON, r#"{"name":"#),
        case("body not UTF-8", Admin, Method::POST, a(&format!("/tenants/{t}/users")), 400, json!("invalid_json"))
            .body(JSON, NOT_UTF8_JSON),
        case("body of the wrong shape", Admin, Method::POST, a(&format!("/tenants/{t}/users")), 400, bad())
            .body(JSON, r#"{"name":1}"#),
        case("body not declared JSON", Admin, Method::POST, a("/tenants"), 415, json!("unsupported_media_type"))
            .body("text/plain", r#"{"name":"x"}"#),
        case("unknown path", Admin, Method::GET, a("/nope"), 404, json!("not_found")),
        case("unknown path with bad UTF-8", Admin, Method::GET, a("/%FF/x"), 404, json!("not_found")),
        case("/admin/v1/", Admin, Method::GET, "/admin/v1/", 404, json!("not_found")),
        case("another version", Admin, Method::GET, "/admin/v2/tenants", 404, json!("not_found")),
        case("/admin", Admin, Method::GET, "/admin", 404, json!("not_found")),
        case("wrong method", Admin, Method::DELETE, a("/tenants"), 405, json!("method_not_allowed")),
        case("wrong method on a user", Admin, Method::PATCH, a(&format!("/tenants/{t}/users/alice")), 405, json!("method_not_allowed")),
    ];

    // WPS: `{code, msg}`; 400001 for a malformed parameter, 400002 for a body that is not JSON.
    let wg = wps_id(&s.group);
    let wm = m["dialect_ids"]["wps"].as_str().unwrap().to_string();
    let p = || json!(400_001);
    cases.extend([
        case("chat_id not UTF-8", Wps, Method::GET, format!("/v7/chats/%FF%FE/messages/{wm}"), 400, p()),
        case("message_id overlong UTF-8", Wps, Method::GET, format!("/v7/chats/{wg}/messages/%C0%80"), 400, p()),
        case("message_id with NUL", Wps, Method::GET, format!("/v7/chats/{wg}/messages/{wm}%00"), 400, p()),
        case("chat_id overlong", Wps, Method::GET, format!("/v7/chats/{long}"), 400, p()),
        case("chat_id not UTF-8 under /openapi", Wps, Method::GET, "/openapi/v7/chats/%FF/members", 400, p()),
        case("query not UTF-8", Wps, Method::GET, "/v7/chats/get_p2p_chat?user_id=%FF", 400, p()),
        case("query with NUL", Wps, Method::GET, "/v7/chats/get_p2p_chat?user_id=alice%00", 400, p()),
        case("query of the wrong type", Wps, Method::GET, format!("/v7/chats/{wg}/messages?page_size=abc"), 400, p()),
        case("body not JSON", Wps, Method::POST, "/v7/messages/create", 400, json!(400_002))
            .body(JSON, r#"{"type":"#),
        case("body not UTF-8", Wps, Method::POST, "/v7/chats/create", 400, json!(400_002))
            .body(JSON, NOT_UTF8_JSON),
        case("token form not UTF-8", Wps, Method::POST, "/oauth2/token", 400, p())
            .body("application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=%FF&client_secret=x"),
        case("token form with NUL", Wps, Method::POST, "/oauth2/token", 400, p())
            .body("application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=cli%00&client_secret=x"),
        case("unknown path", Wps, Method::GET, "/v7/nope", 404, json!(404_004)),
        case("/v7", Wps, Method::GET, "/v7", 404, json!(404_004)),
        case("/v7/", Wps, Method::POST, "/v7/", 404, json!(404_004)),
        case("unknown path under /openapi", Wps, Method::GET, "/openapi/nope", 404, json!(404_004)),
        case("/openapi/", Wps, Method::GET, "/openapi/", 404, json!(404_004)),
        case("wrong method", Wps, Method::DELETE, "/v7/messages/create", 405, json!(405_001)),
        case("wrong method on the token", Wps, Method::GET, "/oauth2/token", 405, json!(405_001)),
    ]);

    // Hi and Feishu: 230001 for malformed parameters (10003 on the token calls); the HTTP
    // status doubles as the code for unknown paths and methods.
    let om = m["dialect_ids"]["lark"].as_str().unwrap().to_string();
    let oc = s.group["dialect_ids"]["lark"].as_str().unwrap().to_string();
    for face in Face::BOTH {
        let api = if face == Face::Hi { Hi } else { Feishu };
        let im = face.im();
        let p = || json!(230_001);
        cases.extend([
            case("message_id not UTF-8", api, Method::GET, format!("{im}/messages/%FF%FE"), 400, p()),
            case("message_id overlong UTF-8", api, Method::DELETE, format!("{im}/messages/%C0%80"), 400, p()),
            case("message_id with NUL", api, Method::GET, format!("{im}/messages/{om}%00"), 400, p()),
            case("message_id overlong", api, Method::GET, format!("{im}/messages/{long}"), 400, p()),
            case("chat_id not UTF-8", api, Method::POST, format!("{im}/chats/%FF/members"), 400, p())
                .body(JSON, r#"{"id_list":[]}"#),
            case("query not UTF-8", api, Method::GET, format!("{im}/messages/{om}?user_id_type=%FF"), 400, p()),
            case("query with NUL", api, Method::GET, format!("{im}/messages/{om}?user_id_type=open_id%00"), 400, p()),
            case("query of the wrong type", api, Method::POST, format!("{im}/chats/{oc}/members?succeed_type=x"), 400, p())
                .body(JSON, r#"{"id_list":[]}"#),
            case("boolean query not a boolean", api, Method::POST, format!("{im}/chats?set_bot_manager=maybe"), 400, p())
                .body(JSON, r#"{"name":"x"}"#),
            case("body not JSON", api, Method::POST, format!("{im}/messages?receive_id_type=chat_id"), 400, p())
                .body(JSON, r#"{"receive_id":"#),
            case("body not UTF-8", api, Method::POST, format!("{im}/chats"), 400, p())
                .body(JSON, NOT_UTF8_JSON),
            case("token body not JSON", api, Method::POST, face.token_path(), 400, json!(10_003))
                .body(JSON, r#"{"app_id":"#),
            case("unknown path", api, Method::GET, format!("{im}/nope"), 404, json!(404)),
            case("unknown path with bad UTF-8", api, Method::GET, format!("{im}/nope/%FF"), 404, json!(404)),
            case("wrong method", api, Method::PUT, format!("{im}/messages"), 405, json!(405)),
            case("wrong method on the token", api, Method::GET, face.token_path(), 405, json!(405)),
        ]);
    }
    cases.push(case("/open-apis/", Hi, Method::GET, "/open-apis/", 404, json!(404)));
    cases.push(case("/open-apis", Hi, Method::GET, "/open-apis", 404, json!(404)));

    // Yunxin: HTTP 200, `{code, msg, data: {}}`; 414 for anything malformed (and, as
    // documented, for a wrong method), 404 for an unknown path.
    let mid = m["id"].as_i64().unwrap();
    let conv = yunxin::conv("alice", 2, g);
    for prefix in ["/im/v2", "/im/v2.1"] {
        let y = |p: String| format!("{prefix}{p}");
        let p = || json!(414);
        cases.extend([
            case("conversation_id not UTF-8", Yunxin, Method::GET, y(format!("/conversations/%FF%FE/messages/{mid}")), 200, p()),
            case("message_server_id overlong UTF-8", Yunxin, Method::GET, y(format!("/conversations/{conv}/messages/%C0%80")), 200, p()),
            case("conversation owner with NUL", Yunxin, Method::GET, y(format!("/conversations/alice%00%7C2%7C{g}/messages/{mid}")), 200, p()),
            case("account with NUL", Yunxin, Method::GET, y("/accounts/alice%00".into()), 200, p()),
            case("account overlong", Yunxin, Method::GET, y(format!("/accounts/{long}")), 200, p()),
            case("team_id not UTF-8", Yunxin, Method::DELETE, y("/teams/%FF?operator_id=alice".into()), 200, p()),
            case("query not UTF-8", Yunxin, Method::GET, y(format!("/conversations/{conv}/messages/{mid}?check_team_valid=%FF")), 200, p()),
            case("query with NUL", Yunxin, Method::GET, y(format!("/conversations/{conv}/messages/{mid}?message_time=%00")), 200, p()),
            case("boolean query not a boolean", Yunxin, Method::GET, y(format!("/conversations/{conv}/messages/{mid}?check_team_valid=maybe")), 200, p()),
            case("body not JSON", Yunxin, Method::POST, y(format!("/conversations/{conv}/messages")), 200, p())
                .body(JSON, r#"{"message":"#),
            case("body not UTF-8", Yunxin, Method::POST, y("/accounts".into()), 200, p())
                .body(JSON, NOT_UTF8_JSON),
            case("unknown path", Yunxin, Method::GET, y("/nope".into()), 200, json!(404)),
            case("unknown path with bad UTF-8", Yunxin, Method::GET, y("/%FF".into()), 200, json!(404)),
            case("the prefix alone", Yunxin, Method::GET, y(String::new()), 200, json!(404)),
            case("wrong method", Yunxin, Method::PUT, y("/accounts".into()), 200, p()),
        ]);
    }
    cases.push(case("/im", Yunxin, Method::GET, "/im", 200, json!(404)));
    cases.push(case("/im/", Yunxin, Method::GET, "/im/", 200, json!(404)));

    run(&c, &cases).await;
}

/// A NUL in an id, name or key (which the stores keep in text columns) is the API's
/// parameter error in every API, checked before any store sees it: PostgreSQL's `text`
/// refuses NUL, and these were 500s there (404s on SQLite).
#[tokio::test]
#[rustfmt::skip] // one row per request
async fn ids_holding_nul_are_parameter_errors_in_every_api() {
    let w = world().await;
    let c = w.clients().await;
    let s = &w.seed;
    let t = &s.tenant["id"];
    let g = &s.group["id"];
    let app_id = s.app_id().to_string();
    let m = w.message("hello").await;
    use Api::*;

    let bad = || json!("invalid_argument");
    let a = |p: &str| format!("/admin/v1{p}");
    let j = |v: Value| v.to_string();
    let mut cases = vec![
        // The issue's three requests.
        case("user id", Admin, Method::GET, a(&format!("/tenants/{t}/users/1%00")), 400, bad()),
        case("app id", Admin, Method::GET, a(&format!("/tenants/{t}/apps/1%00")), 400, bad()),
        case("rotate an app id", Admin, Method::POST, a(&format!("/tenants/{t}/apps/1%00/rotate_secret")), 400, bad()),
        case("user_id", Admin, Method::GET, a(&format!("/tenants/{t}/users/alice%00")), 400, bad()),
        case("app_id", Admin, Method::GET, a(&format!("/tenants/{t}/apps/{app_id}%00")), 400, bad()),
        case("?app=", Admin, Method::GET, a(&format!("/tenants/{t}/users/alice?app={app_id}%00")), 400, bad()),
        case("tenant name", Admin, Method::POST, a("/tenants"), 400, bad())
            .body(JSON, j(json!({ "name": "A\u{0}" }))),
        case("user name", Admin, Method::POST, a(&format!("/tenants/{t}/users")), 400, bad())
            .body(JSON, j(json!({ "name": "N\u{0}", "user_id": "nul1" }))),
        case("new user_id", Admin, Method::POST, a(&format!("/tenants/{t}/users")), 400, bad())
            .body(JSON, j(json!({ "name": "N", "user_id": "nul\u{0}" }))),
        case("new account_id", Admin, Method::POST, a(&format!("/tenants/{t}/users")), 400, bad())
            .body(JSON, j(json!({ "name": "N", "user_id": "nul2", "account_id": "nul\u{0}" }))),
        case("app name", Admin, Method::POST, a(&format!("/tenants/{t}/apps")), 400, bad())
            .body(JSON, j(json!({ "name": "B\u{0}" }))),
        case("app rename", Admin, Method::PATCH, a(&format!("/tenants/{t}/apps/{app_id}")), 400, bad())
            .body(JSON, j(json!({ "name": "B\u{0}" }))),
        case("scope", Admin, Method::PUT, a(&format!("/tenants/{t}/apps/{app_id}")), 400, bad())
            .body(JSON, j(json!({ "scopes": ["im:message\u{0}"] }))),
        case("chat name", Admin, Method::POST, a(&format!("/tenants/{t}/chats")), 400, bad())
            .body(JSON, j(json!({ "type": "group", "name": "G\u{0}", "owner": { "type": "user", "id": "alice" } }))),
        case("chat owner", Admin, Method::POST, a(&format!("/tenants/{t}/chats")), 400, bad())
            .body(JSON, j(json!({ "type": "group", "name": "G", "owner": { "type": "user", "id": "alice\u{0}" } }))),
        case("member", Admin, Method::POST, a(&format!("/tenants/{t}/chats/{g}/members")), 400, bad())
            .body(JSON, j(json!({ "members": [{ "type": "app", "id": format!("{app_id}\u{0}") }] }))),
        case("sender", Admin, Method::POST, a(&format!("/tenants/{t}/chats/{g}/messages")), 400, bad())
            .body(JSON, j(json!({ "sender": { "type": "user", "id": "alice\u{0}" }, "type": "text", "content": { "text": "x" } }))),
        case("client_msg_id", Admin, Method::POST, a(&format!("/tenants/{t}/chats/{g}/messages")), 400, bad())
            .body(JSON, j(json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "x" }, "client_msg_id": "k\u{0}" }))),
        case("mentioned user", Admin, Method::POST, a(&format!("/tenants/{t}/chats/{g}/messages")), 400, bad())
            .body(JSON, j(json!({ "sender": { "type": "user", "id": "alice" }, "type": "text", "content": { "text": "x" }, "mentions": [{ "type": "user", "id": "bob\u{0}" }] }))),
    ];

    let wg = wps_id(&s.group);
    let p = || json!(400_001);
    let send = |receiver: Value, mentions: Value| {
        j(json!({ "type": "text", "receiver": receiver, "content": { "text": { "content": "x", "type": "plain" } }, "mentions": mentions }))
    };
    cases.extend([
        case("get_p2p_chat user_id", Wps, Method::GET, "/v7/chats/get_p2p_chat?user_id=alice%00", 400, p()),
        case("is_in_chat user_id", Wps, Method::GET, format!("/v7/chats/{wg}/members/is_in_chat?user_id=bob%00"), 400, p()),
        case("receiver user_id", Wps, Method::POST, "/v7/messages/create", 400, p())
            .body(JSON, send(json!({ "type": "user", "receiver_id": "alice\u{0}" }), json!([]))),
        case("mentioned user_id", Wps, Method::POST, "/v7/messages/create", 400, p())
            .body(JSON, send(json!({ "type": "chat", "receiver_id": wg }), json!([{ "id": "1", "type": "user", "identity": { "id": "bob\u{0}", "type": "user" } }]))),
        case("chat name", Wps, Method::POST, "/v7/chats/create", 400, p())
            .body(JSON, j(json!({ "type": "group", "name": "G\u{0}", "members": [] }))),
        case("chat member", Wps, Method::POST, format!("/v7/chats/{wg}/members/batch_create"), 400, p())
            .body(JSON, j(json!({ "members": [{ "type": "user", "id": "bob\u{0}" }] }))),
        case("token client_id", Wps, Method::POST, "/oauth2/token", 400, p())
            .body("application/x-www-form-urlencoded", format!("grant_type=client_credentials&client_id={app_id}%00&client_secret=x")),
    ]);

    let om = m["dialect_ids"]["lark"].as_str().unwrap().to_string();
    let oc = s.group["dialect_ids"]["lark"].as_str().unwrap().to_string();
    for face in Face::BOTH {
        let api = if face == Face::Hi { Hi } else { Feishu };
        let im = face.im();
        let p = || json!(230_001);
        let text = json!({ "text": "x" }).to_string();
        cases.extend([
            case("union_id receiver", api, Method::POST, format!("{im}/messages?receive_id_type=union_id"), 400, p())
                .body(JSON, j(json!({ "receive_id": "on_\u{0}", "msg_type": "text", "content": text }))),
            case("uuid in the body", api, Method::POST, format!("{im}/messages?receive_id_type=chat_id"), 400, p())
                .body(JSON, j(json!({ "receive_id": oc, "msg_type": "text", "content": text, "uuid": "u\u{0}" }))),
            case("uuid in the query", api, Method::POST, format!("{im}/messages/{om}/forward?receive_id_type=chat_id&uuid=u%00"), 400, p())
                .body(JSON, j(json!({ "receive_id": oc }))),
            case("reply uuid", api, Method::POST, format!("{im}/messages/{om}/reply"), 400, p())
                .body(JSON, j(json!({ "msg_type": "text", "content": text, "uuid": "u\u{0}" }))),
            case("chat name", api, Method::POST, format!("{im}/chats"), 400, p())
                .body(JSON, j(json!({ "name": "G\u{0}" }))),
            case("bot in bot_id_list", api, Method::POST, format!("{im}/chats"), 400, p())
                .body(JSON, j(json!({ "name": "G", "bot_id_list": [format!("{app_id}\u{0}")] }))),
            case("token app_id", api, Method::POST, face.token_path(), 400, json!(10_003))
                .body(JSON, j(json!({ "app_id": format!("{app_id}\u{0}"), "app_secret": "x" }))),
        ]);
    }

    let conv = yunxin::conv("alice", 2, g);
    let p = || json!(414);
    let y = |p: &str| format!("/im/v2{p}");
    cases.extend([
        case("conversation owner", Yunxin, Method::POST, y(&format!("/conversations/alice%00%7C2%7C{g}/messages")), 200, p())
            .body(JSON, j(json!({ "message": { "message_type": 0, "text": "x" } }))),
        case("p2p peer", Yunxin, Method::POST, y("/conversations/alice%7C1%7Cbob%00/messages"), 200, p())
            .body(JSON, j(json!({ "message": { "message_type": 0, "text": "x" } }))),
        case("message_client_id", Yunxin, Method::POST, y(&format!("/conversations/{conv}/messages")), 200, p())
            .body(JSON, j(json!({ "message": { "message_type": 0, "text": "x", "message_client_id": "c\u{0}" } }))),
        case("batch sender", Yunxin, Method::POST, y("/conversations/messages"), 200, p())
            .body(JSON, j(json!({ "sender_id": "alice\u{0}", "receiver_ids": ["bob"], "message": { "message_type": 0, "text": "x" } }))),
        case("new account_id", Yunxin, Method::POST, y("/accounts"), 200, p())
            .body(JSON, j(json!({ "account_id": "carol\u{0}" }))),
        case("account name", Yunxin, Method::PATCH, y("/accounts/alice"), 200, p())
            .body(JSON, j(json!({ "user_information": { "name": "A\u{0}" } }))),
        case("team owner", Yunxin, Method::POST, "/im/v2.1/teams", 200, p())
            .body(JSON, j(json!({ "owner_account_id": "alice\u{0}", "team_type": 1, "name": "T" }))),
        case("team name", Yunxin, Method::POST, "/im/v2.1/teams", 200, p())
            .body(JSON, j(json!({ "owner_account_id": "alice", "team_type": 1, "name": "T\u{0}" }))),
        case("invite operator", Yunxin, Method::POST, y("/team_members"), 200, p())
            .body(JSON, j(json!({ "operator_id": "alice\u{0}", "team_id": g, "team_type": 1, "invite_account_ids": ["bob"] }))),
        case("kick list", Yunxin, Method::DELETE, y(&format!("/team_members/actions/kick_member?operator_id=alice&team_id={g}&team_type=1&kick_account_ids=bob%00")), 200, p()),
        case("disband operator", Yunxin, Method::DELETE, y(&format!("/teams/{g}?operator_id=alice%00")), 200, p()),
        case("modify operator", Yunxin, Method::POST, y("/messages/actions/modifyMsg"), 200, p())
            .body(JSON, j(json!({ "operator": "alice\u{0}", "type": 2, "message": { "message_server_id": m["id"], "message_type": 0, "text": "y" } }))),
    ]);

    run(&c, &cases).await;

    // Yunxin lists: such an account is listed as failed (414), the others proceed.
    let before = snapshot(&w.app).await;
    let invite = json!({ "operator_id": "alice", "team_id": g, "team_type": 1, "invite_account_ids": ["bob\u{0}"] });
    let r = c.yx.post("/team_members", invite).await;
    let d = yunxin::ok(&r);
    assert_eq!(d["failed_list"][0]["error_code"], 414, "{}", r.text);
    assert_eq!(d["success_list"], json!([]), "{}", r.text);
    let batch = json!({ "sender_id": "alice", "receiver_ids": ["bob\u{0}"], "message": { "message_type": 0, "text": "x" } });
    let r = c.yx.post("/conversations/messages", batch).await;
    let d = yunxin::ok(&r);
    assert_eq!(d["failed_list"][0]["error_code"], 414, "{}", r.text);
    assert_eq!(snapshot(&w.app).await, before, "nothing was written");
}

/// Message content holding a NUL character is not an id: it is stored (in a JSON document,
/// where it is the escape `\u0000`) and read back exactly, through every API.
#[tokio::test]
async fn message_content_with_nul_is_kept_exactly() {
    let w = world().await;
    let c = w.clients().await;
    let app = &w.app;
    let s = &w.seed;
    let t = &s.tenant["id"];
    let g = &s.group["id"];

    // Through the admin API, read back everywhere.
    let m = w.message("a\u{0}b").await;
    let got = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{g}/messages/{}", m["id"]),
            None,
        )
        .await;
    assert_eq!(got["content"]["text"], "a\u{0}b");
    let wm = m["dialect_ids"]["wps"].as_str().unwrap();
    let r = c.wps.get_message(app, &wps_id(&s.group), wm).await;
    assert_eq!(
        r.body["data"]["content"]["text"]["content"], "a\u{0}b",
        "{}",
        r.text
    );
    let item = c
        .feishu
        .get_one(m["dialect_ids"]["lark"].as_str().unwrap())
        .await;
    let content: Value = serde_json::from_str(item["body"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["text"], "a\u{0}b");
    let r = c.yx.query(&yunxin::conv("alice", 2, g), &m["id"], "").await;
    assert_eq!(yunxin::ok(&r)["text"], "a\u{0}b");

    // Through WPS, read back by WPS exactly.
    let sent = c
        .wps
        .send(
            app,
            ("chat", &wps_id(&s.group)),
            "text",
            json!({ "text": { "content": "w\u{0}ps", "type": "plain" } }),
            json!([]),
        )
        .await;
    assert_eq!(sent.body["code"], 0, "{}", sent.text);
    let r = c
        .wps
        .get_message(
            app,
            &wps_id(&s.group),
            sent.body["data"]["message_id"].as_str().unwrap(),
        )
        .await;
    assert_eq!(
        r.body["data"]["content"],
        json!({ "text": { "content": "w\u{0}ps", "type": "plain" } }),
        "{}",
        r.text
    );

    // Through Hi and Feishu.
    let oc = s.group["dialect_ids"]["lark"].as_str().unwrap();
    for l in [&c.hi, &c.feishu] {
        let id = l.send_text(oc, "l\u{0}ark").await;
        let item = l.get_one(&id).await;
        let content: Value =
            serde_json::from_str(item["body"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(content["text"], "l\u{0}ark", "{:?}", l.face);
    }

    // Through Yunxin: text, attachment and extension echoed verbatim.
    let conv = yunxin::conv("alice", 2, g);
    let r = c
        .yx
        .send(
            &conv,
            json!({ "message": { "message_type": 100, "text": "y\u{0}x", "attachment": { "k": "v\u{0}" } }, "extension": "e\u{0}" }),
        )
        .await;
    let id = yunxin::ok(&r)["message_server_id"].clone();
    let got = c.yx.query(&conv, &id, "").await;
    let d = yunxin::ok(&got);
    assert_eq!(d["text"], "y\u{0}x", "{}", got.text);
    assert_eq!(d["attachment"], json!({ "k": "v\u{0}" }), "{}", got.text);
    assert_eq!(d["extension"], "e\u{0}", "{}", got.text);
}
