//! WPS 365 v7 dialect over real HTTP: a signing client, a real SQLite file, a manual clock.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::auth::mint_token;
use switchboard_core::ids::TenantId;
use switchboard_core::service::{Access, ListQuery};
use switchboard_core::store::Page;
use switchboard_core::ManualClock;
use switchboard_server::config::Config;
use switchboard_testkit::wps::{wps_id, WpsClient, WpsRequest, JSON};
use switchboard_testkit::{spawn_app_with, Options, Reply, Seed, TestApp};

struct W {
    app: TestApp,
    seed: Seed,
    bot: WpsClient,
    clock: ManualClock,
    group: String,
    p2p: String,
    company: String,
    spid: String,
}

async fn world_with(f: impl FnOnce(&mut Config) + Send + 'static) -> W {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        configure: Some(Box::new(f)),
        ..Options::default()
    })
    .await;
    let seed = app.seed().await;
    let bot = WpsClient::for_seed(&app, &seed).await;
    let (group, p2p, company) = (wps_id(&seed.group), wps_id(&seed.p2p), wps_id(&seed.tenant));
    let spid = seed.bot["spid"].as_str().unwrap().to_string();
    W {
        app,
        seed,
        bot,
        clock,
        group,
        p2p,
        company,
        spid,
    }
}

async fn world() -> W {
    world_with(|_| {}).await
}

fn code(r: &Reply) -> i64 {
    r.body["code"].as_i64().unwrap_or(-1)
}

/// A failure in the WPS envelope: the status, JSON, the code and a message.
fn assert_fails(r: &Reply, status: u16, expected: i64, ctx: &str) {
    assert_eq!(r.status.as_u16(), status, "{ctx}: {}", r.text);
    assert_eq!(code(r), expected, "{ctx}: {}", r.text);
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{ctx}: content-type {ct:?}"
    );
    assert!(
        r.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{ctx}: msg"
    );
}

fn assert_ok(r: &Reply, ctx: &str) -> Value {
    assert_eq!(r.status.as_u16(), 200, "{ctx}: {}", r.text);
    assert_eq!(code(r), 0, "{ctx}: {}", r.text);
    assert_eq!(r.body["msg"], "success", "{ctx}");
    r.body["data"].clone()
}

/// Everything a request could have written: every tenant's chats, members, messages and apps.
async fn fingerprint(app: &TestApp) -> String {
    let core = &app.core;
    let page = Page {
        after: 0,
        limit: 1000,
    };
    let mut out = Vec::new();
    for t in core.list_tenants(page).await.unwrap() {
        out.push(json!(core.list_apps(t.id, page).await.unwrap()));
        for c in core.list_chats(t.id, page).await.unwrap() {
            let members = core.members(t.id, c.id).await.unwrap();
            let q = ListQuery {
                tenant: t.id,
                access: Access::Admin,
                chat: c.id,
                after_position: 0,
                before_position: None,
                since_ms: None,
                until_ms: None,
                limit: 1000,
                descending: false,
            };
            let msgs: Vec<Value> = core
                .list(q)
                .await
                .unwrap()
                .iter()
                .map(|v| json!(v.message))
                .collect();
            out.push(json!({ "chat": c, "members": members, "messages": msgs }));
        }
    }
    serde_json::to_string(&out).unwrap()
}

fn text(s: &str) -> Value {
    json!({ "text": { "content": s, "type": "plain" } })
}

async fn admin_message(w: &W, chat: &Value, sender: (&str, &Value), body: &str) -> String {
    wps_id(
        &w.app
            .admin_send_text(&w.seed.tenant, chat, sender, body)
            .await,
    )
}

/// Same keys and JSON types as `expected`, recursively; `extra` lists the paths allowed
/// beyond it.
fn same_shape(expected: &Value, actual: &Value, path: &str, extra: &[&str], out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => same_shape(ev, av, &format!("{path}.{k}"), extra, out),
                    None => out.push(format!("{path}.{k} missing")),
                }
            }
            for k in a.keys().filter(|k| !e.contains_key(*k)) {
                if !extra.contains(&format!("{path}.{k}").as_str()) {
                    out.push(format!("{path}.{k} not in the seed"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                if a.is_empty() {
                    out.push(format!("{path} is empty"));
                }
                for (i, av) in a.iter().enumerate() {
                    same_shape(first, av, &format!("{path}[{i}]"), extra, out);
                }
            }
        }
        (Value::Number(e), Value::Number(a)) if e.is_i64() == a.is_i64() => {}
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        _ => out.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

// ----- auth ------------------------------------------------------------------------------

#[tokio::test]
async fn token_grant_shape_errors_and_expiry() {
    let w = world().await;
    let id = w.seed.app_id();
    let secret = w.seed.app_secret();
    let r = WpsClient::fetch_token(
        &w.app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body["access_token"]
        .as_str()
        .is_some_and(|t| t.len() > 20));
    assert_eq!(r.body["expires_in"], 7200);
    assert_eq!(r.body["token_type"], "bearer");

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, i64);
    let bad: Vec<Case> = vec![
        (
            "wrong secret",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "nope"),
            ],
            401,
            401_004,
        ),
        (
            "unknown client",
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "cli_nobody"),
                ("client_secret", secret),
            ],
            401,
            401_004,
        ),
        (
            "authorization_code",
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", id),
                ("client_secret", secret),
            ],
            400,
            400_001,
        ),
        (
            "no grant",
            vec![("client_id", id), ("client_secret", secret)],
            400,
            400_001,
        ),
        (
            "no client_id",
            vec![
                ("grant_type", "client_credentials"),
                ("client_secret", secret),
            ],
            400,
            400_001,
        ),
        (
            "no secret",
            vec![("grant_type", "client_credentials"), ("client_id", id)],
            400,
            400_001,
        ),
    ];
    for (name, form, status, c) in bad {
        assert_fails(
            &WpsClient::fetch_token(&w.app, &form).await,
            status,
            c,
            name,
        );
    }
    let as_json = w.app.http.post(w.app.url("/oauth2/token")).json(&json!({ "grant_type": "client_credentials", "client_id": id, "client_secret": secret })).send().await.unwrap();
    assert_fails(&Reply::from(as_json).await, 415, 415_001, "JSON body");
    let prefixed = w
        .app
        .http
        .post(w.app.url("/openapi/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        Reply::from(prefixed).await.status,
        200,
        "the gateway prefix is tolerated"
    );

    // Valid for 7200 s by the server clock, then expired; a fresh token works again.
    let uri = format!("/v7/chats/{}/messages", w.group);
    w.clock.advance_ms(7_199_000);
    assert_ok(&w.bot.get(&w.app, &uri).await, "just before expiry");
    w.clock.advance_ms(1_000);
    assert_fails(&w.bot.get(&w.app, &uri).await, 401, 401_003, "expired");
    let fresh = WpsClient::for_seed(&w.app, &w.seed).await;
    assert_ok(&fresh.get(&w.app, &uri).await, "fresh token");
}

#[tokio::test]
async fn tokens_are_stateless_across_nodes_and_restarts() {
    let w = world().await;
    let id = w
        .bot
        .send_text(&w.app, ("chat", &w.group), "from node one")
        .await;
    let rotate = format!(
        "/tenants/{}/apps/{}/rotate_secret",
        w.seed.tenant["id"], w.seed.bot["id"]
    );
    if switchboard_testkit::store_kind() == "postgres" {
        // A second node on the same database accepts node one's token, and a secret
        // rotated through node one revokes it there once the change's notification
        // arrives (milliseconds; docs/scaling.md). Until then it still answers as
        // before the rotation, and nothing else.
        let other = w.app.second_node().await;
        let data = assert_ok(&w.bot.get_message(&other, &w.group, &id).await, "node two");
        assert_eq!(data["content"], text("from node one"));
        w.app.admin_ok(Method::POST, &rotate, None).await;
        let start = std::time::Instant::now();
        let refused = loop {
            let r = w.bot.get_message(&other, &w.group, &id).await;
            if r.status.as_u16() != 200 {
                break r;
            }
            assert_ok(&r, "node two before the notification");
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "node two still accepts the revoked token after 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_fails(&refused, 401, 401_002, "after rotation");
    } else {
        // SQLite serves one process: a restarted server (no state kept but the database)
        // accepts the token minted before the restart.
        let W {
            app, bot, group, ..
        } = w;
        let app = app.restart().await;
        let data = assert_ok(&bot.get_message(&app, &group, &id).await, "after restart");
        assert_eq!(data["content"], text("from node one"));
        app.admin_ok(Method::POST, &rotate, None).await;
        assert_fails(
            &bot.get_message(&app, &group, &id).await,
            401,
            401_002,
            "after rotation",
        );
    }
}

#[tokio::test]
async fn signing_can_be_switched_off_per_app_but_the_token_is_always_required() {
    let w = world().await;
    let uri = format!("/v7/chats/{}/messages", w.group);
    let unsigned = |c: &WpsClient| {
        c.get_req(&uri)
            .without("X-Kso-Date")
            .without("X-Kso-Authorization")
    };
    assert_fails(
        &unsigned(&w.bot).send(&w.app).await,
        401,
        401_011,
        "signing on by default",
    );
    let path = format!("/tenants/{}/apps/{}", w.seed.tenant["id"], w.seed.bot["id"]);
    w.app
        .admin_ok(
            Method::PATCH,
            &path,
            Some(json!({ "signing_required": false })),
        )
        .await;
    assert_ok(
        &unsigned(&w.bot).send(&w.app).await,
        "signing off: Bearer alone",
    );
    assert_fails(
        &unsigned(&w.bot).without("Authorization").send(&w.app).await,
        401,
        401_001,
        "no token",
    );
    w.app
        .admin_ok(
            Method::PATCH,
            &path,
            Some(json!({ "signing_required": true })),
        )
        .await;
    assert_fails(
        &unsigned(&w.bot).send(&w.app).await,
        401,
        401_011,
        "signing back on, at once",
    );
    assert_ok(&w.bot.get(&w.app, &uri).await, "signed");
}

#[tokio::test]
async fn gateway_prefix_is_tolerated_and_not_signed() {
    let w = world().await;
    let id = w
        .bot
        .send_text(&w.app, ("chat", &w.group), "via gateway")
        .await;
    let plain = format!("/v7/chats/{}/messages/{}", w.group, id);
    let gateway = format!("/openapi{plain}");
    // Signed over the unprefixed path, as the vendor specifies.
    let r = w.bot.get_req(&plain).uri(&gateway).send(&w.app).await;
    assert_eq!(assert_ok(&r, "prefix not signed")["id"], id);
    // A client that signed the whole path proves the same secret.
    assert_ok(&w.bot.get(&w.app, &gateway).await, "prefix signed");
    let body = json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": w.group }, "content": text("x") });
    let r = w
        .bot
        .post_req("/v7/messages/create", &body)
        .uri("/openapi/v7/messages/create")
        .send(&w.app)
        .await;
    assert_ok(&r, "send through the gateway");
}

#[tokio::test]
async fn date_window_is_configurable() {
    let w = world_with(|c| c.wps.signature_skew_secs = 60).await;
    let uri = format!("/v7/chats/{}/messages", w.group);
    let now = w.app.core.now_ms() / 1000;
    for (offset, ok) in [(-60, true), (60, true), (-61, false), (61, false)] {
        let date = switchboard_dialect_wps::kso_date(now + offset);
        let r = w
            .bot
            .build_at("GET", &uri, JSON, vec![], &date)
            .send(&w.app)
            .await;
        if ok {
            assert_ok(&r, &format!("offset {offset}"));
        } else {
            assert_fails(&r, 401, 401_013, &format!("offset {offset}"));
        }
    }
}

#[tokio::test]
async fn rate_limit_is_per_app_with_the_vendor_envelope() {
    let w = world_with(|c| {
        c.wps.rate_limit_per_sec = 1;
        c.wps.rate_limit_burst = 2;
    })
    .await;
    let body = json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": w.group }, "content": text("x") });
    assert_ok(&w.bot.post(&w.app, "/v7/messages/create", &body).await, "1");
    assert_ok(&w.bot.post(&w.app, "/v7/messages/create", &body).await, "2");
    let before = fingerprint(&w.app).await;
    assert_fails(
        &w.bot.post(&w.app, "/v7/messages/create", &body).await,
        429,
        429_001,
        "3rd in the same second",
    );
    assert_eq!(
        fingerprint(&w.app).await,
        before,
        "a limited request writes nothing"
    );
    // Another app has its own bucket.
    let other = w.app.create_app(&w.seed.tenant, "Other").await;
    let oc = WpsClient::connect(
        &w.app,
        other["app_id"].as_str().unwrap(),
        other["app_secret"].as_str().unwrap(),
    )
    .await;
    assert_ok(
        &oc.post(&w.app, "/v7/chats/create", &json!({ "name": "Mine" }))
            .await,
        "other app",
    );
    w.clock.advance_ms(1_000);
    assert_ok(
        &w.bot.post(&w.app, "/v7/messages/create", &body).await,
        "after a second",
    );
}

#[tokio::test]
async fn each_scope_is_checked_and_takes_effect_at_once() {
    let w = world().await;
    let id = w.bot.send_text(&w.app, ("chat", &w.group), "scoped").await;
    let path = format!("/tenants/{}/apps/{}", w.seed.tenant["id"], w.seed.bot["id"]);
    let get = format!("/v7/chats/{}/messages/{}", w.group, id);
    let hist = format!("/v7/chats/{}/messages", w.group);
    let send = json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": w.group }, "content": text("x") });
    let reply = json!({ "type": "text", "content": text("re") });
    let chat_info = format!("/v7/chats/{}", w.group);

    w.app
        .admin_ok(
            Method::PUT,
            &path,
            Some(json!({ "scopes": ["kso.chat.readwrite"] })),
        )
        .await;
    let before = fingerprint(&w.app).await;
    assert_fails(
        &w.bot.get(&w.app, &get).await,
        403,
        403_001,
        "get without message scope",
    );
    assert_fails(
        &w.bot.get(&w.app, &hist).await,
        403,
        403_001,
        "history without message scope",
    );
    assert_fails(
        &w.bot.post(&w.app, "/v7/messages/create", &send).await,
        403,
        403_001,
        "send without message scope",
    );
    assert_fails(
        &w.bot.post(&w.app, &format!("{get}/reply"), &reply).await,
        403,
        403_001,
        "reply without message scope",
    );
    assert_fails(
        &w.bot
            .post(&w.app, &format!("/v7/messages/{id}/recall"), &json!({}))
            .await,
        403,
        403_001,
        "recall without message scope",
    );
    assert_eq!(fingerprint(&w.app).await, before);
    assert_ok(
        &w.bot.get(&w.app, &chat_info).await,
        "chat scope still granted",
    );

    w.app
        .admin_ok(
            Method::PUT,
            &path,
            Some(json!({ "scopes": ["kso.chat_message.readwrite"] })),
        )
        .await;
    assert_fails(
        &w.bot.get(&w.app, &chat_info).await,
        403,
        403_001,
        "chat info without chat scope",
    );
    assert_fails(
        &w.bot
            .post(&w.app, "/v7/chats/create", &json!({ "name": "X" }))
            .await,
        403,
        403_001,
        "create chat without chat scope",
    );
    assert_fails(
        &w.bot
            .get(&w.app, "/v7/chats/get_p2p_chat?user_id=alice")
            .await,
        403,
        403_001,
        "p2p without chat scope",
    );
    assert_ok(
        &w.bot.get(&w.app, &get).await,
        "message scope granted again, at once",
    );

    w.app
        .admin_ok(
            Method::PUT,
            &path,
            Some(json!({ "scopes": ["kso.chat.readwrite", "kso.chat_message.readwrite"] })),
        )
        .await;
    assert_ok(&w.bot.get(&w.app, &chat_info).await, "both");
}

// ----- get one message: the seed -----------------------------------------------------------

#[tokio::test]
async fn get_message_matches_the_seed_example() {
    let w = world().await;
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/wps/get_message.json")).unwrap();
    let content = json!({ "text": { "content": "hi <at id=\"1\">Bob</at>", "type": "plain" } });
    let mentions = json!([{ "id": "1", "type": "user", "identity": { "company_id": w.company, "id": "bob", "type": "user" } }]);
    // An earlier message, so that the one under test is not at position 1.
    admin_message(&w, &w.seed.group, ("user", &w.seed.alice["id"]), "first").await;
    let r = w
        .bot
        .send(
            &w.app,
            ("chat", &w.group),
            "text",
            content.clone(),
            mentions.clone(),
        )
        .await;
    let sent = assert_ok(&r, "send");
    let id = sent["message_id"].as_str().unwrap().to_string();
    assert_eq!(sent["chat_id"], w.group.as_str());

    let r = w.bot.get_message(&w.app, &w.group, &id).await;
    assert_ok(&r, "get");
    let mut diffs = Vec::new();
    same_shape(&fixture, &r.body, "", &[".data.quote_msg_id"], &mut diffs);
    assert!(
        diffs.is_empty(),
        "shape differs from the seed: {diffs:#?}\n{}",
        r.text
    );

    let d = &r.body["data"];
    assert_eq!(d["id"], id);
    assert_eq!(
        d["id"].as_str().unwrap().len(),
        16,
        "16 base62 characters like Q3iOi5TYS6tBSgS1"
    );
    assert_eq!(d["chat_id"], w.group.as_str());
    assert_eq!(d["type"], "text");
    assert_eq!(
        d["content"], content,
        "the content comes back exactly as sent"
    );
    assert_eq!(d["position"], 2);
    assert_eq!(d["quote_msg_id"], "");
    let ctime = d["ctime"].as_i64().unwrap();
    assert_eq!(ctime.to_string().len(), 13, "milliseconds");
    assert_eq!(
        ctime,
        w.app.core.now_ms(),
        "ctime is the server clock in ms"
    );
    assert_eq!(
        d["sender"],
        json!({ "type": "sp", "id": w.spid, "app_id": w.seed.app_id(), "company_id": w.company })
    );
    assert_ne!(
        d["sender"]["id"],
        w.seed.app_id(),
        "an spid differs from the app id"
    );
    assert_eq!(
        d["mentions"], mentions,
        "mentions[].id is the <at id> index"
    );
}

#[tokio::test]
async fn messages_from_the_admin_api_read_here_and_ours_read_there() {
    let w = world().await;
    let raw = w
        .app
        .admin_send_text(
            &w.seed.tenant,
            &w.seed.group,
            ("user", &w.seed.alice["id"]),
            "from alice",
        )
        .await;
    let id = wps_id(&raw);
    let d = assert_ok(
        &w.bot.get_message(&w.app, &w.group, &id).await,
        "admin message via WPS",
    );
    assert_eq!(d["type"], "text");
    assert_eq!(d["content"], text("from alice"));
    assert_eq!(
        d["sender"],
        json!({ "type": "user", "id": "alice", "app_id": "", "company_id": w.company })
    );
    assert_eq!(d["ctime"], raw["created_at"]);
    assert_eq!(d["position"], raw["position"]);

    // Admin mentions render with WPS indexes and identities.
    let body = json!({ "sender": { "type": "user", "id": w.seed.alice["id"] }, "type": "text",
        "content": { "text": "hey <at id=\"1\">Bob</at> and <at id=\"2\">all</at>" },
        "mentions": [{ "type": "user", "id": w.seed.bob["id"] }, { "type": "all" }] });
    let m = w
        .app
        .admin_ok(
            Method::POST,
            &format!(
                "/tenants/{}/chats/{}/messages",
                w.seed.tenant["id"], w.seed.group["id"]
            ),
            Some(body),
        )
        .await;
    let d = assert_ok(
        &w.bot.get_message(&w.app, &w.group, &wps_id(&m)).await,
        "mentions",
    );
    assert_eq!(
        d["mentions"],
        json!([
            { "id": "1", "type": "user", "identity": { "company_id": w.company, "id": "bob", "type": "user" } },
            { "id": "2", "type": "all", "identity": {} }
        ])
    );
    assert_eq!(
        d["content"]["text"]["content"],
        "hey <at id=\"1\">Bob</at> and <at id=\"2\">all</at>"
    );

    // And the other way round.
    let ours = w
        .bot
        .send_text(&w.app, ("chat", &w.group), "from the bot")
        .await;
    let a = w
        .app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{}",
                w.seed.tenant["id"], w.seed.group["id"], ours
            ),
            None,
        )
        .await;
    assert_eq!(a["text"], "from the bot");
    assert_eq!(a["type"], "text");
    assert_eq!(
        a["sender"],
        json!({ "type": "app", "id": w.seed.bot["id"] })
    );
}

#[tokio::test]
async fn every_sendable_type_round_trips() {
    let w = world().await;
    let cases = [
        (
            "text",
            json!({ "text": { "content": "**bold**", "type": "markdown" } }),
        ),
        (
            "rich_text",
            json!({ "rich_text": { "elements": [
            { "type": "nl", "alt_text": "line", "index": 0, "indent": 0, "elements": [
                { "type": "text", "alt_text": "hi ", "style_text_content": { "text": "hi ", "style": { "bold": true, "italic": false, "color": "#000000FF" } } },
                { "type": "mention", "alt_text": "@Alice", "mention_content": { "identity": { "id": "alice", "type": "user", "company_id": w.company, "name": "Alice" }, "text": "@Alice" } },
                { "type": "link", "alt_text": "site", "link_content": { "text": "site", "url": "https://example.com" } }
            ] }
        ] } }),
        ),
        (
            "image",
            json!({ "image": { "storage_key": "img-1", "type": "image/png", "name": "a.png", "size": 1024, "width": 64, "height": 32, "thumbnail_storage_key": "thumb-1", "thumbnail_type": "image/jpg" } }),
        ),
        (
            "file",
            json!({ "file": { "type": "local", "local": { "name": "report.pdf", "size": 2048, "storage_key": "file-1" } } }),
        ),
        (
            "audio",
            json!({ "audio": { "storage_key": "aud-1", "media": { "channels": 1, "codec": "amr", "duration": 3, "format": "wav", "sample_bits": 16, "sample_rate": 8000, "size": 999 } } }),
        ),
        (
            "video",
            json!({ "video": { "storage_key": "vid-1", "media": { "codec": "h.264", "cover_storage_key": "cover-1", "duration": 10, "format": "mp4", "height": 720, "width": 1280, "size": 123456 } } }),
        ),
        (
            "card",
            json!({ "card": { "config": { "wide_screen_mode": true }, "i18n_items": [{ "language": "zh-CN", "elements": [] }], "link": { "url": "https://example.com" } } }),
        ),
    ];
    let mut last = 0;
    for (kind, content) in cases {
        let r = w
            .bot
            .send(&w.app, ("chat", &w.group), kind, content.clone(), json!([]))
            .await;
        let sent = assert_ok(&r, kind);
        assert_eq!(sent["type"], kind);
        assert_eq!(
            sent["content"], content,
            "{kind}: create echoes the content"
        );
        let d = assert_ok(
            &w.bot
                .get_message(&w.app, &w.group, sent["message_id"].as_str().unwrap())
                .await,
            kind,
        );
        assert_eq!(d["type"], kind);
        assert_eq!(d["content"], content, "{kind}: get returns it exactly");
        let pos = d["position"].as_i64().unwrap();
        assert_eq!(pos, last + 1, "strictly consecutive");
        last = pos;
        if kind == "rich_text" {
            assert_eq!(
                d["mentions"],
                json!([{ "id": "1", "type": "user", "identity": { "company_id": w.company, "id": "alice", "type": "user" } }])
            );
        }
    }
}

#[tokio::test]
async fn positions_are_consecutive_under_concurrency_and_history_pages_by_position() {
    let w = world().await;
    let t0 = w.app.core.now_ms() / 1000;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            w.bot
                .send_text(&w.app, ("chat", &w.group), &format!("m{i}"))
                .await,
        );
        w.clock.advance_ms(10_000);
    }
    // Concurrent writers through two faces.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let body = json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": w.group }, "content": text(&format!("c{i}")) });
        let req = w.bot.post_req("/v7/messages/create", &body);
        let http = w.app.http.clone();
        let url = w.app.url(&req.uri);
        tasks.spawn(async move {
            let mut b = http.post(url).body(req.body.clone());
            for (k, v) in &req.headers {
                b = b.header(k, v);
            }
            b.send().await.unwrap().status().as_u16()
        });
    }
    admin_message(&w, &w.seed.group, ("user", &w.seed.bob["id"]), "from bob").await;
    while let Some(s) = tasks.join_next().await {
        assert_eq!(s.unwrap(), 200);
    }
    // 3 + 8 + 1 messages; pages of 5 in position order, no gap, no repeat.
    let mut positions = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let q = if token.is_empty() {
            "page_size=5".to_string()
        } else {
            format!("page_size=5&page_token={token}")
        };
        let d = assert_ok(&w.bot.history(&w.app, &w.group, &q).await, "history");
        pages += 1;
        for it in d["items"].as_array().unwrap() {
            positions.push(it["position"].as_i64().unwrap());
            assert!(it["content"]["text"].is_object());
        }
        token = d["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(positions, (1..=12).collect::<Vec<_>>());
    assert_eq!(pages, 3);
    assert_eq!(
        w.app
            .core
            .chat(
                TenantId(w.seed.tenant["id"].as_i64().unwrap()),
                switchboard_core::ids::ChatId(w.seed.group["id"].as_i64().unwrap())
            )
            .await
            .unwrap()
            .last_position,
        12
    );

    // start_time / end_time are seconds and inclusive.
    let d = assert_ok(
        &w.bot
            .history(
                &w.app,
                &w.group,
                &format!("start_time={}&end_time={}", t0 + 10, t0 + 10),
            )
            .await,
        "window",
    );
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], ids[1]);
    let d = assert_ok(
        &w.bot
            .history(&w.app, &w.group, &format!("end_time={}", t0 + 5))
            .await,
        "until",
    );
    assert_eq!(d["items"].as_array().unwrap().len(), 1);
    // An item of the history is the get shape.
    let d = assert_ok(
        &w.bot.history(&w.app, &w.group, "page_size=1").await,
        "first",
    );
    let g = assert_ok(&w.bot.get_message(&w.app, &w.group, &ids[0]).await, "get");
    assert_eq!(d["items"][0], g);
}

// ----- lifecycle -------------------------------------------------------------------------

#[tokio::test]
async fn send_to_a_user_uses_the_p2p_chat_and_creates_it_once() {
    let w = world().await;
    // alice already has a p2p chat with the bot.
    let r = w
        .bot
        .send(
            &w.app,
            ("user", "alice"),
            "text",
            text("hi alice"),
            json!([]),
        )
        .await;
    assert_eq!(assert_ok(&r, "to alice")["chat_id"], w.p2p.as_str());
    let p = assert_ok(
        &w.bot
            .get(&w.app, "/v7/chats/get_p2p_chat?user_id=bob")
            .await
            .into_not_found(),
        "",
    );
    assert!(p.is_null());
    let r1 = assert_ok(
        &w.bot
            .send(&w.app, ("user", "bob"), "text", text("hi bob"), json!([]))
            .await,
        "to bob",
    );
    let r2 = assert_ok(
        &w.bot
            .send(&w.app, ("user", "bob"), "text", text("again"), json!([]))
            .await,
        "again",
    );
    assert_eq!(r1["chat_id"], r2["chat_id"]);
    assert_ne!(r1["chat_id"], w.p2p.as_str());
    let chat = assert_ok(
        &w.bot
            .get(&w.app, "/v7/chats/get_p2p_chat?user_id=bob")
            .await,
        "p2p",
    );
    assert_eq!(chat["id"], r1["chat_id"]);
    assert_eq!(chat["type"], "p2p");
    assert_eq!(chat["status"], "active");
    let d = assert_ok(
        &w.bot
            .get_message(
                &w.app,
                chat["id"].as_str().unwrap(),
                r2["message_id"].as_str().unwrap(),
            )
            .await,
        "read p2p",
    );
    assert_eq!(d["position"], 2);
}

trait NotFound {
    fn into_not_found(self) -> Reply;
}
impl NotFound for Reply {
    /// Turns an expected "chat not found" into an empty success, so a test can assert absence.
    fn into_not_found(self) -> Reply {
        assert_fails(&self, 404, 404_001, "expected not found");
        Reply {
            status: reqwest::StatusCode::OK,
            body: json!({ "code": 0, "msg": "success", "data": null }),
            ..self
        }
    }
}

#[tokio::test]
async fn reply_sets_quote_msg_id() {
    let w = world().await;
    let parent = admin_message(&w, &w.seed.group, ("user", &w.seed.alice["id"]), "question").await;
    let uri = format!("/v7/chats/{}/messages/{}/reply", w.group, parent);
    let r = w
        .bot
        .post(
            &w.app,
            &uri,
            &json!({ "type": "text", "content": text("answer"), "mentions": [] }),
        )
        .await;
    let d = assert_ok(&r, "reply");
    assert_eq!(d["type"], "text");
    let got = assert_ok(
        &w.bot
            .get_message(&w.app, &w.group, d["message_id"].as_str().unwrap())
            .await,
        "get reply",
    );
    assert_eq!(got["quote_msg_id"], parent);
    assert_eq!(got["content"], text("answer"));
}

#[tokio::test]
async fn recall_on_both_paths_and_how_a_recalled_message_reads() {
    let w = world().await;
    let a = w.bot.send_text(&w.app, ("chat", &w.group), "oops").await;
    let b = w
        .bot
        .send_text(&w.app, ("chat", &w.group), "oops again")
        .await;
    let keep = w.bot.send_text(&w.app, ("chat", &w.group), "fine").await;
    assert_eq!(
        assert_ok(
            &w.bot
                .post(&w.app, &format!("/v7/messages/{a}/recall"), &json!({}))
                .await,
            "recall by id"
        ),
        Value::Null
    );
    let r = w
        .bot
        .build(
            "POST",
            &format!("/v7/chats/{}/messages/{b}/recall", w.group),
            "",
            vec![],
        )
        .send(&w.app)
        .await;
    assert_ok(&r, "recall under the chat, empty body");

    // get: a distinct error; history: a tombstone that keeps the position.
    assert_fails(
        &w.bot.get_message(&w.app, &w.group, &a).await,
        410,
        410_001,
        "get recalled",
    );
    let d = assert_ok(&w.bot.history(&w.app, &w.group, "").await, "history");
    let items = d["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["id"], a);
    assert_eq!(items[0]["recalled"], true);
    assert_eq!(items[0]["content"], json!({}));
    assert_eq!(items[0]["position"], 1);
    assert_eq!(items[0]["sender"]["type"], "sp");
    assert_eq!(items[2]["id"], keep);
    assert!(items[2].get("recalled").is_none());
    // The admin API sees the removal.
    let m = w
        .app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{a}",
                w.seed.tenant["id"], w.seed.group["id"]
            ),
            None,
        )
        .await;
    assert_eq!(m["removed"]["kind"], "recalled");

    // Replying to a recalled message is refused.
    let r = w
        .bot
        .post(
            &w.app,
            &format!("/v7/chats/{}/messages/{a}/reply", w.group),
            &json!({ "type": "text", "content": text("re") }),
        )
        .await;
    assert_fails(&r, 410, 410_001, "reply to recalled");

    // The recall window (24 h by default).
    w.clock.advance_ms(86_400_001);
    let fresh = WpsClient::for_seed(&w.app, &w.seed).await;
    assert_fails(
        &fresh
            .post(&w.app, &format!("/v7/messages/{keep}/recall"), &json!({}))
            .await,
        409,
        409_004,
        "too late",
    );
}

#[tokio::test]
async fn a_group_owning_app_may_recall_others_messages() {
    let w = world().await;
    let d = assert_ok(
        &w.bot
            .post(
                &w.app,
                "/v7/chats/create",
                &json!({ "name": "Bot's room", "members": [{ "type": "user", "id": "alice" }] }),
            )
            .await,
        "create",
    );
    let room = d["id"].as_str().unwrap().to_string();
    let chat = w
        .app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/chats/{room}", w.seed.tenant["id"]),
            None,
        )
        .await;
    let m = admin_message(&w, &chat, ("user", &w.seed.alice["id"]), "alice here").await;
    assert_ok(
        &w.bot
            .post(
                &w.app,
                &format!("/v7/chats/{room}/messages/{m}/recall"),
                &json!({}),
            )
            .await,
        "owner recalls",
    );
    assert_fails(
        &w.bot.get_message(&w.app, &room, &m).await,
        410,
        410_001,
        "gone",
    );
}

#[tokio::test]
async fn card_update_only_for_own_cards() {
    let w = world().await;
    let card = json!({ "card": { "config": {}, "i18n_items": [{ "title": "v1" }] } });
    let d = assert_ok(
        &w.bot
            .send(&w.app, ("chat", &w.group), "card", card, json!([]))
            .await,
        "card",
    );
    let id = d["message_id"].as_str().unwrap().to_string();
    let v2 = json!({ "card": { "config": { "x": 1 }, "i18n_items": [{ "title": "v2" }] } });
    let r = w
        .bot
        .post(
            &w.app,
            &format!("/v7/messages/{id}/update"),
            &json!({ "type": "card", "content": v2 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "code": 0, "msg": "success" }));
    let got = assert_ok(
        &w.bot.get_message(&w.app, &w.group, &id).await,
        "after update",
    );
    assert_eq!(got["content"], v2);
    assert_eq!(got["type"], "card");

    // Another app in the group may not update the bot's card.
    let other = w.app.create_app(&w.seed.tenant, "Other").await;
    w.app
        .admin_ok(
            Method::POST,
            &format!(
                "/tenants/{}/chats/{}/members",
                w.seed.tenant["id"], w.seed.group["id"]
            ),
            Some(json!({ "members": [{ "type": "app", "id": other["id"] }] })),
        )
        .await;
    let oc = WpsClient::connect(
        &w.app,
        other["app_id"].as_str().unwrap(),
        other["app_secret"].as_str().unwrap(),
    )
    .await;
    let before = fingerprint(&w.app).await;
    let r = oc
        .post(
            &w.app,
            &format!("/v7/messages/{id}/update"),
            &json!({ "type": "card", "content": { "card": { "config": {}, "i18n_items": [] } } }),
        )
        .await;
    assert_fails(&r, 403, 403_004, "not the sender");
    assert_eq!(fingerprint(&w.app).await, before);
    // The other app reads the bot's card: sender is the bot's sp.
    let got = assert_ok(&oc.get_message(&w.app, &w.group, &id).await, "other reads");
    assert_eq!(got["sender"]["id"], w.spid);
}

// ----- access rules ----------------------------------------------------------------------

#[tokio::test]
async fn access_rules() {
    let w = world().await;
    let t = &w.seed.tenant;
    // A group without the bot.
    let closed = w
        .app
        .create_chat(
            t,
            "group",
            Some("Closed"),
            ("user", &w.seed.alice["id"]),
            &[("user", &w.seed.bob["id"])],
        )
        .await;
    let closed_msg = admin_message(&w, &closed, ("user", &w.seed.alice["id"]), "private").await;
    let closed_id = wps_id(&closed);
    // A p2p chat between two users, and one between alice and another app.
    let ab = w
        .app
        .create_chat(
            t,
            "p2p",
            None,
            ("user", &w.seed.alice["id"]),
            &[("user", &w.seed.bob["id"])],
        )
        .await;
    let ab_msg = admin_message(&w, &ab, ("user", &w.seed.alice["id"]), "just us").await;
    let other = w.app.create_app(t, "Other").await;
    let other_p2p = w
        .app
        .create_chat(
            t,
            "p2p",
            None,
            ("app", &other["id"]),
            &[("user", &w.seed.alice["id"])],
        )
        .await;
    let other_msg = admin_message(
        &w,
        &other_p2p,
        ("user", &w.seed.alice["id"]),
        "to the other app",
    )
    .await;
    // The bot's own p2p chat and its group are readable.
    let own = admin_message(&w, &w.seed.p2p, ("user", &w.seed.alice["id"]), "to the bot").await;
    assert_ok(&w.bot.get_message(&w.app, &w.p2p, &own).await, "own p2p");
    let in_group = admin_message(&w, &w.seed.group, ("user", &w.seed.bob["id"]), "group").await;
    assert_ok(
        &w.bot.get_message(&w.app, &w.group, &in_group).await,
        "group member",
    );

    assert_fails(
        &w.bot.get_message(&w.app, &closed_id, &closed_msg).await,
        403,
        403_002,
        "group without the bot",
    );
    assert_fails(
        &w.bot.history(&w.app, &closed_id, "").await,
        403,
        403_002,
        "history of a group without the bot",
    );
    assert_fails(
        &w.bot.get_message(&w.app, &wps_id(&ab), &ab_msg).await,
        403,
        403_003,
        "p2p of two users",
    );
    assert_fails(
        &w.bot
            .get_message(&w.app, &wps_id(&other_p2p), &other_msg)
            .await,
        403,
        403_003,
        "another app's p2p",
    );
    assert_fails(
        &w.bot.get_message(&w.app, &w.group, &own).await,
        404,
        404_002,
        "a message of another chat",
    );
    assert_fails(
        &w.bot.get_message(&w.app, &w.group, &closed_msg).await,
        404,
        404_002,
        "a message of an unreadable chat, named under ours",
    );
    let missing = switchboard_dialect_wps::ids::message_id(
        switchboard_core::ids::MessageId::timeline(
            switchboard_core::ids::ChatId(w.seed.group["id"].as_i64().unwrap()),
            77,
        )
        .unwrap(),
    );
    assert_fails(
        &w.bot.get_message(&w.app, &w.group, &missing).await,
        404,
        404_002,
        "no such position",
    );
    assert_fails(
        &w.bot.get_message(&w.app, "999999", &in_group).await,
        404,
        404_002,
        "chat path and message disagree",
    );
    assert_fails(
        &w.bot.history(&w.app, "999999", "").await,
        404,
        404_001,
        "no such chat",
    );

    // Another tenant's chat is not found, even with a valid id.
    let t2 = w.app.create_tenant("Globex").await;
    let carol = w.app.create_user(&t2, "Carol", "carol").await;
    let g2 = w
        .app
        .create_chat(&t2, "group", Some("Theirs"), ("user", &carol["id"]), &[])
        .await;
    let m2 = wps_id(
        &w.app
            .admin_send_text(&t2, &g2, ("user", &carol["id"]), "secret")
            .await,
    );
    assert_fails(
        &w.bot.get_message(&w.app, &wps_id(&g2), &m2).await,
        404,
        404_001,
        "another tenant",
    );
    assert_fails(
        &w.bot
            .get(&w.app, "/v7/chats/get_p2p_chat?user_id=carol")
            .await,
        404,
        404_003,
        "another tenant's user",
    );

    // Leaving the group takes effect at once.
    let r = w
        .bot
        .post(
            &w.app,
            &format!("/v7/chats/{}/members/batch_delete", w.group),
            &json!({ "members": [{ "type": "sp", "id": w.spid }] }),
        )
        .await;
    assert_ok(&r, "leave");
    assert_fails(
        &w.bot.get_message(&w.app, &w.group, &in_group).await,
        403,
        403_002,
        "after leaving",
    );
}

#[tokio::test]
async fn chat_and_member_endpoints() {
    let w = world().await;
    let d = assert_ok(&w.bot.post(&w.app, "/v7/chats/create", &json!({ "type": "group", "name": "Ops", "members": [{ "type": "user", "id": "alice" }] })).await, "create");
    let room = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["type"], "group");
    assert_eq!(d["name"], "Ops");
    assert_eq!(d["status"], "active");
    assert_eq!(d["ctime"], w.app.core.now_ms());
    assert_eq!(
        assert_ok(
            &w.bot.get(&w.app, &format!("/v7/chats/{room}")).await,
            "info"
        ),
        d
    );
    let members = assert_ok(
        &w.bot
            .get(&w.app, &format!("/v7/chats/{room}/members"))
            .await,
        "members",
    );
    assert_eq!(
        members["items"],
        json!([{ "type": "sp", "id": w.spid, "role": "owner" }, { "type": "user", "id": "alice", "role": "member" }])
    );

    let is_in = |q: &str| format!("/v7/chats/{room}/members/is_in_chat{q}");
    assert_eq!(
        assert_ok(&w.bot.get(&w.app, &is_in("?user_id=bob")).await, "bob")["is_in_chat"],
        false
    );
    let added = assert_ok(
        &w.bot
            .post(
                &w.app,
                &format!("/v7/chats/{room}/members/batch_create"),
                &json!({ "members": [{ "type": "user", "id": "bob" }] }),
            )
            .await,
        "add",
    );
    assert_eq!(
        added["items"],
        json!([{ "type": "user", "id": "bob", "role": "member" }])
    );
    assert_eq!(
        assert_ok(&w.bot.get(&w.app, &is_in("?user_id=bob")).await, "bob in")["is_in_chat"],
        true
    );
    assert_eq!(
        assert_ok(&w.bot.get(&w.app, &is_in("")).await, "bot")["is_in_chat"],
        true
    );
    let removed = assert_ok(
        &w.bot
            .post(
                &w.app,
                &format!("/v7/chats/{room}/members/batch_delete"),
                &json!({ "members": [{ "type": "user", "id": "bob" }] }),
            )
            .await,
        "remove",
    );
    assert_eq!(removed["items"], json!([{ "type": "user", "id": "bob" }]));
    assert_eq!(
        assert_ok(&w.bot.get(&w.app, &is_in("?user_id=bob")).await, "bob out")["is_in_chat"],
        false
    );

    // The bot is not in alice's closed group: it may ask about itself, not about others.
    let closed = w
        .app
        .create_chat(
            &w.seed.tenant,
            "group",
            Some("Closed"),
            ("user", &w.seed.alice["id"]),
            &[],
        )
        .await;
    let cid = wps_id(&closed);
    assert_eq!(
        assert_ok(
            &w.bot
                .get(&w.app, &format!("/v7/chats/{cid}/members/is_in_chat"))
                .await,
            "self"
        )["is_in_chat"],
        false
    );
    assert_fails(
        &w.bot
            .get(
                &w.app,
                &format!("/v7/chats/{cid}/members/is_in_chat?user_id=alice"),
            )
            .await,
        403,
        403_002,
        "others",
    );
    assert_fails(
        &w.bot.get(&w.app, &format!("/v7/chats/{cid}")).await,
        403,
        403_002,
        "info",
    );

    // p2p through create: the same chat as get_p2p_chat and the seeded one.
    let p = assert_ok(
        &w.bot
            .post(
                &w.app,
                "/v7/chats/create",
                &json!({ "type": "p2p", "members": [{ "type": "user", "id": "alice" }] }),
            )
            .await,
        "p2p",
    );
    assert_eq!(p["id"], w.p2p.as_str());
    assert_eq!(p["type"], "p2p");
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_in_the_envelope() {
    let w = world().await;
    assert_fails(
        &w.bot.get(&w.app, "/v7/nothing/here").await,
        404,
        404_004,
        "unknown",
    );
    assert_fails(
        &w.bot.get(&w.app, "/openapi/v7/nothing").await,
        404,
        404_004,
        "unknown behind the gateway",
    );
    let r = w
        .bot
        .build(
            "DELETE",
            &format!("/v7/chats/{}/messages", w.group),
            JSON,
            vec![],
        )
        .send(&w.app)
        .await;
    assert_fails(&r, 405, 405_001, "method");
}

// ----- the bad-request table -------------------------------------------------------------

#[tokio::test]
async fn bad_requests_get_their_documented_code_and_write_nothing() {
    let w = world_with(|c| c.http.body_limit_bytes = 64 * 1024).await;
    let t = &w.seed.tenant;
    let tid = t["id"].clone();
    let g = w.group.clone();
    let bot_msg = w.bot.send_text(&w.app, ("chat", &g), "mine").await;
    let alice_msg =
        admin_message(&w, &w.seed.group, ("user", &w.seed.alice["id"]), "alice's").await;
    let gone = w.bot.send_text(&w.app, ("chat", &g), "recalled").await;
    assert_ok(
        &w.bot
            .post(&w.app, &format!("/v7/messages/{gone}/recall"), &json!({}))
            .await,
        "setup recall",
    );
    let p2p_msg = admin_message(&w, &w.seed.p2p, ("user", &w.seed.alice["id"]), "p2p").await;
    let closed = w
        .app
        .create_chat(
            t,
            "group",
            Some("Closed"),
            ("user", &w.seed.alice["id"]),
            &[("user", &w.seed.bob["id"])],
        )
        .await;
    let ab = w
        .app
        .create_chat(
            t,
            "p2p",
            None,
            ("user", &w.seed.alice["id"]),
            &[("user", &w.seed.bob["id"])],
        )
        .await;
    let t2 = w.app.create_tenant("Globex").await;
    let carol = w.app.create_user(&t2, "Carol", "carol").await;
    let g2 = w
        .app
        .create_chat(&t2, "group", Some("Theirs"), ("user", &carol["id"]), &[])
        .await;
    let other = w.app.create_app(t, "Other").await;
    let other_id = other["app_id"].as_str().unwrap().to_string();
    let other_secret = other["app_secret"].as_str().unwrap().to_string();
    let stale = WpsClient::connect(&w.app, &other_id, &other_secret).await;
    w.app
        .admin_ok(
            Method::POST,
            &format!("/tenants/{tid}/apps/{}/rotate_secret", other["id"]),
            None,
        )
        .await;
    let model = w.app.core.app_by_public_id(w.seed.app_id()).await.unwrap();
    let now = w.app.core.now_ms() / 1000;
    let expired = w.bot.with_token(&mint_token(
        &model,
        switchboard_dialect_wps::auth::ACCESS_TOKEN,
        now - 7200,
    ));
    let lark_kind = w.bot.with_token(&mint_token(
        &model,
        switchboard_dialect_lark::token::TENANT_TOKEN,
        now,
    ));
    let mut flipped = w.bot.token.clone().into_bytes();
    flipped[40] = if flipped[40] == b'0' { b'1' } else { b'0' };
    let flipped = w.bot.with_token(&String::from_utf8(flipped).unwrap());
    let mut wrong_secret = w.bot.clone();
    wrong_secret.app_secret = "not-the-secret".into();
    let mut other_key = w.bot.clone();
    other_key.app_id = other_id.clone();

    let create = "/v7/messages/create";
    let send = |to: (&str, &str), c: Value| json!({ "type": "text", "receiver": { "type": to.0, "receiver_id": to.1 }, "content": c });
    let good = send(("chat", &g), text("hello"));
    let good_bytes = serde_json::to_vec(&good).unwrap();
    let b = &w.bot;
    let sig_of = |r: &WpsRequest| r.get_header("X-Kso-Authorization").unwrap().to_string();
    let date_minus_1 = switchboard_dialect_wps::kso_date(now - 1);
    let reply_to = |m: &str| format!("/v7/chats/{g}/messages/{m}/reply");
    let reply_body = json!({ "type": "text", "content": text("re") });

    let cases: Vec<(&str, WpsRequest, u16, i64)> = vec![
        ("no Authorization", b.post_req(create, &good).without("Authorization"), 401, 401_001),
        ("Basic scheme", b.post_req(create, &good).header("Authorization", "Basic YTpi"), 401, 401_001),
        ("garbage token", b.with_token("nonsense").post_req(create, &good), 401, 401_002),
        ("tampered token", flipped.post_req(create, &good), 401, 401_002),
        ("expired token", expired.post_req(create, &good), 401, 401_003),
        ("token of another grant", lark_kind.post_req(create, &good), 401, 401_002),
        ("token of a rotated secret", stale.post_req("/v7/chats/create", &json!({ "name": "x" })), 401, 401_002),
        ("no X-Kso-Date", b.post_req(create, &good).without("X-Kso-Date"), 401, 401_011),
        ("no X-Kso-Authorization", b.post_req(create, &good).without("X-Kso-Authorization"), 401, 401_011),
        ("ISO date", b.build_at("POST", create, JSON, good_bytes.clone(), "2024-01-01T00:00:00Z"), 401, 401_013),
        ("stale date", b.build_at("POST", create, JSON, good_bytes.clone(), &switchboard_dialect_wps::kso_date(now - 16 * 60)), 401, 401_013),
        ("future date", b.build_at("POST", create, JSON, good_bytes.clone(), &switchboard_dialect_wps::kso_date(now + 16 * 60)), 401, 401_013),
        ("KSO-2 scheme", { let r = b.post_req(create, &good); let s = sig_of(&r).replace("KSO-1", "KSO-2"); r.header("X-Kso-Authorization", &s) }, 401, 401_012),
        ("wrong secret", wrong_secret.post_req(create, &good), 401, 401_012),
        ("another app's access key", other_key.post_req(create, &good), 401, 401_012),
        ("uppercase signature", { let r = b.post_req(create, &good); let s = sig_of(&r); let (k, h) = s.split_once(':').unwrap(); r.header("X-Kso-Authorization", &format!("{k}:{}", h.to_uppercase())) }, 401, 401_012),
        ("tampered path", b.post_req(&reply_to(&bot_msg), &reply_body).uri(&reply_to(&alice_msg)), 401, 401_012),
        ("tampered query", b.get_req(&format!("/v7/chats/{g}/messages?page_size=2")).uri(&format!("/v7/chats/{g}/messages?page_size=3")), 401, 401_012),
        ("tampered body", b.post_req(create, &good).body(serde_json::to_vec(&send(("chat", &g), text("evil"))).unwrap()), 401, 401_012),
        ("tampered date", b.post_req(create, &good).header("X-Kso-Date", &date_minus_1), 401, 401_012),
        ("tampered content type", b.post_req(create, &good).header("Content-Type", "application/json; charset=utf-8"), 401, 401_012),
        ("tampered method", { let mut r = b.build("GET", &format!("/v7/messages/{bot_msg}/recall"), JSON, vec![]); r.method = "POST".into(); r }, 401, 401_012),
        ("malformed chat_id", b.get_req(&format!("/v7/chats/abc/messages/{bot_msg}")), 400, 400_001),
        ("zero-padded chat_id", b.post_req(create, &send(("chat", &format!("0{g}")), text("x"))), 400, 400_001),
        ("malformed message_id", b.get_req(&format!("/v7/chats/{g}/messages/short")), 400, 400_001),
        ("another face's message id", b.post_req(&reply_to("om_0123456789abcdef0123456789abcdef"), &reply_body), 400, 400_001),
        ("message of another chat", b.post_req(&reply_to(&p2p_msg), &reply_body), 404, 404_002),
        ("recall under the wrong chat", b.post_req(&format!("/v7/chats/{g}/messages/{p2p_msg}/recall"), &json!({})), 404, 404_002),
        ("another tenant's chat", b.post_req(create, &send(("chat", &wps_id(&g2)), text("x"))), 404, 404_001),
        ("no such chat", b.post_req(create, &send(("chat", "999999"), text("x"))), 404, 404_001),
        // A decimal beyond the chat id range is a well-formed chat_id naming nothing.
        ("chat_id beyond 2^31", b.post_req(create, &send(("chat", "7000825398"), text("x"))), 404, 404_001),
        ("chat_id beyond 2^63", b.get_req("/v7/chats/99999999999999999999999/members"), 404, 404_001),
        ("history of a chat_id beyond 2^31", b.get_req("/v7/chats/7000825398/messages"), 404, 404_001),
        ("group without the bot", b.post_req(create, &send(("chat", &wps_id(&closed)), text("x"))), 403, 403_002),
        ("p2p of two users", b.post_req(create, &send(("chat", &wps_id(&ab)), text("x"))), 403, 403_003),
        ("invalid JSON", b.build("POST", create, JSON, b"{not json".to_vec()), 400, 400_002),
        ("no receiver", b.post_req(create, &json!({ "type": "text", "content": text("x") })), 400, 400_001),
        ("unknown type", b.post_req(create, &json!({ "type": "gif", "receiver": { "type": "chat", "receiver_id": g }, "content": { "gif": {} } })), 400, 400_001),
        ("content key differs from type", b.post_req(create, &json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": g }, "content": { "image": { "storage_key": "k" } } })), 400, 400_001),
        ("image without storage_key", b.post_req(create, &json!({ "type": "image", "receiver": { "type": "chat", "receiver_id": g }, "content": { "image": { "width": 3 } } })), 400, 400_001),
        ("5001 characters", b.post_req(create, &send(("chat", &g), text(&"a".repeat(5001)))), 400, 400_003),
        ("5001 characters to a new p2p", b.post_req(create, &send(("user", "bob"), text(&"字".repeat(5001)))), 400, 400_003),
        ("text/plain body", b.build("POST", create, "text/plain", good_bytes.clone()), 415, 415_001),
        ("oversize body", b.build("POST", create, JSON, vec![b' '; 100 * 1024]), 413, 413_001),
        ("unknown receiver user", b.post_req(create, &send(("user", "nobody"), text("x"))), 404, 404_003),
        ("partner receiver", b.post_req(create, &send(("enterprise_partner_user", "bob"), text("x"))), 400, 400_001),
        ("bad receiver type", b.post_req(create, &send(("dept", "1"), text("x"))), 400, 400_001),
        ("mention of an unknown user", b.post_req(create, &json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": g }, "content": text("<at id=\"1\">x</at>"), "mentions": [{ "id": "1", "type": "user", "identity": { "id": "nobody", "type": "user" } }] })), 400, 400_001),
        ("duplicate mention ids", b.post_req(create, &json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": g }, "content": text("x"), "mentions": [{ "id": "1", "type": "all" }, { "id": "1", "type": "all" }] })), 400, 400_001),
        ("mention of another company", b.post_req(create, &json!({ "type": "text", "receiver": { "type": "chat", "receiver_id": g }, "content": text("x"), "mentions": [{ "id": "1", "type": "user", "identity": { "id": "bob", "type": "user", "company_id": "999999" } }] })), 400, 400_001),
        ("reply with a card", b.post_req(&reply_to(&bot_msg), &json!({ "type": "card", "content": { "card": { "config": {}, "i18n_items": [] } } })), 400, 400_004),
        ("reply to a recalled message", b.post_req(&reply_to(&gone), &reply_body), 410, 410_001),
        ("update a text message", b.post_req(&format!("/v7/messages/{bot_msg}/update"), &json!({ "type": "card", "content": { "card": { "config": {}, "i18n_items": [] } } })), 400, 400_004),
        ("update as text", b.post_req(&format!("/v7/messages/{bot_msg}/update"), &json!({ "type": "text", "content": text("x") })), 400, 400_004),
        ("recall alice's message", b.post_req(&format!("/v7/messages/{alice_msg}/recall"), &json!({})), 403, 403_005),
        ("recall twice", b.post_req(&format!("/v7/messages/{gone}/recall"), &json!({})), 410, 410_001),
        ("get a recalled message", b.get_req(&format!("/v7/chats/{g}/messages/{gone}")), 410, 410_001),
        ("garbage page_token", b.get_req(&format!("/v7/chats/{g}/messages?page_token=zzz")), 400, 400_001),
        ("another chat's page_token", b.get_req(&format!("/v7/chats/{g}/messages?page_token={}", switchboard_dialect_wps::ids::page_token(switchboard_core::ids::ChatId(w.seed.p2p["id"].as_i64().unwrap()), 1))), 400, 400_001),
        ("page_size 0", b.get_req(&format!("/v7/chats/{g}/messages?page_size=0")), 400, 400_001),
        ("page_size 101", b.get_req(&format!("/v7/chats/{g}/messages?page_size=101")), 400, 400_001),
        ("start after end", b.get_req(&format!("/v7/chats/{g}/messages?start_time=20&end_time=10")), 400, 400_001),
        ("start_time in ms words", b.get_req(&format!("/v7/chats/{g}/messages?start_time=yesterday")), 400, 400_001),
        ("new chat with an unknown user", b.post_req("/v7/chats/create", &json!({ "name": "N", "members": [{ "type": "user", "id": "nobody" }] })), 404, 404_003),
        ("group without a name", b.post_req("/v7/chats/create", &json!({ "members": [] })), 400, 400_001),
        ("add members where the bot is not", b.post_req(&format!("/v7/chats/{}/members/batch_create", wps_id(&closed)), &json!({ "members": [{ "type": "user", "id": "alice" }] })), 403, 403_002),
        ("add members to a p2p", b.post_req(&format!("/v7/chats/{}/members/batch_create", w.p2p), &json!({ "members": [{ "type": "user", "id": "bob" }] })), 400, 400_001),
        ("remove the owner", b.post_req(&format!("/v7/chats/{g}/members/batch_delete"), &json!({ "members": [{ "type": "user", "id": "alice" }] })), 400, 400_001),
        ("unknown endpoint", b.post_req("/v7/messages/explode", &good), 404, 404_004),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());
    // Without this, "tampered content type" would be refused for its Content-Type instead.
    assert!(cases.iter().any(|(n, ..)| *n == "tampered content type"));
    let before = fingerprint(&w.app).await;
    for (name, req, status, c) in &cases {
        let r = req.send(&w.app).await;
        assert_fails(&r, *status, *c, name);
        assert_eq!(
            fingerprint(&w.app).await,
            before,
            "{name}: nothing may be written"
        );
    }
    // The same requests, correctly signed, do work: the table rejects for the stated reason.
    assert_ok(&b.post(&w.app, create, &good).await, "the good request");
}

// ----- the demo commands -----------------------------------------------------------------

#[tokio::test]
async fn demo_commands_work_from_a_shell() {
    let tools = ["bash", "curl", "openssl"];
    if tools.iter().any(|t| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .output()
            .map_or(true, |o| !o.status.success())
    }) {
        eprintln!("skipped: needs {tools:?}");
        return;
    }
    let w = world().await;
    let msg = admin_message(&w, &w.seed.group, ("user", &w.seed.alice["id"]), "demo").await;
    let core = &w.app.core;
    let tenant = TenantId(w.seed.tenant["id"].as_i64().unwrap());
    let app = core.app_by_public_id(w.seed.app_id()).await.unwrap();
    let group = core
        .chat(
            tenant,
            switchboard_core::ids::ChatId(w.seed.group["id"].as_i64().unwrap()),
        )
        .await
        .unwrap();
    let bob = core
        .user(
            tenant,
            switchboard_core::ids::UserId(w.seed.bob["id"].as_i64().unwrap()),
        )
        .await
        .unwrap();
    let id = switchboard_dialect_wps::ids::parse_message_id(&msg).unwrap();
    let script = switchboard_dialect_wps::demo_commands(&w.app.base, &app, &group, id, &bob);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0]["code"], 0, "get: {}", lines[0]);
    assert_eq!(lines[0]["data"]["id"], msg);
    assert_eq!(lines[1]["code"], 0, "send: {}", lines[1]);
    let p2p = assert_ok(
        &w.bot
            .get(&w.app, "/v7/chats/get_p2p_chat?user_id=bob")
            .await,
        "the demo wrote to bob",
    );
    assert_eq!(lines[1]["data"]["chat_id"], p2p["id"]);
}

#[tokio::test]
async fn a_message_sent_through_feishu_reads_here() {
    use switchboard_testkit::lark::{Face, Lark};
    let w = world().await;
    let fs = Lark::login(&w.app, &w.seed, Face::Feishu).await;
    let oc = w.seed.group["dialect_ids"]["lark"]
        .as_str()
        .unwrap()
        .to_string();
    let lid = fs.send_text(&oc, "from Feishu").await;
    let canonical = switchboard_dialect_lark::ids::parse_message_id(&lid).unwrap();
    let id = switchboard_dialect_wps::ids::message_id(canonical);
    let d = assert_ok(
        &w.bot.get_message(&w.app, &w.group, &id).await,
        "Feishu message via WPS",
    );
    assert_eq!(d["type"], "text");
    assert_eq!(d["content"], text("from Feishu"));
    assert_eq!(
        d["sender"],
        json!({ "type": "sp", "id": w.spid, "app_id": w.seed.app_id(), "company_id": w.company })
    );
    let hist = assert_ok(&w.bot.history(&w.app, &w.group, "").await, "history");
    assert_eq!(hist["items"][0], d);
}
