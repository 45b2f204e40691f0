//! BOSS Hi and Feishu/Lark v1, through both faces, over real HTTP and a real SQLite file.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use switchboard_core::ManualClock;
use switchboard_dialect_lark::ids;
use switchboard_testkit::lark::{item, request_token, shape_diff, token_of, Face, Lark};
use switchboard_testkit::wps::{wps_id, WpsClient};
use switchboard_testkit::{spawn_app, spawn_app_with, Options, Reply, Seed, TestApp};

// ----- helpers ------------------------------------------------------------------------------

fn num(v: &Value) -> i64 {
    v["id"].as_i64().expect("canonical id")
}
fn oc(chat: &Value) -> String {
    ids::chat_id(ChatId(num(chat)))
}
fn ou(user: &Value, bot: &Value) -> String {
    ids::open_id(UserId(num(user)), AppId(num(bot)))
}
fn on(user: &Value) -> String {
    ids::union_id(UserId(num(user)))
}
fn tenant_key(seed: &Seed) -> String {
    ids::tenant_key(TenantId(num(&seed.tenant)))
}
/// The parsed `body.content` of a message object.
fn content(item: &Value) -> Value {
    let s = item["body"]["content"].as_str().expect("content string");
    serde_json::from_str(s).unwrap_or(Value::String(s.to_string()))
}
fn code(r: &Reply) -> i64 {
    r.body["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no code in {}", r.text))
}
fn assert_ok(r: &Reply) {
    assert_eq!(code(r), 0, "{}", r.text);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
fn is_json(r: &Reply) -> bool {
    r.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"))
}
fn lark_msg_id(admin_message: &Value) -> String {
    ids::message_id(MessageId(admin_message["id"].as_i64().unwrap()))
}
async fn last_position(app: &TestApp, seed: &Seed, chat: &Value) -> i64 {
    app.core
        .chat(TenantId(num(&seed.tenant)), ChatId(num(chat)))
        .await
        .unwrap()
        .last_position
}
async fn set_app(app: &TestApp, seed: &Seed, bot: &Value, patch: Value) {
    app.admin_ok(
        Method::PUT,
        &format!("/tenants/{}/apps/{}", seed.tenant["id"], bot["id"]),
        Some(patch),
    )
    .await;
}
/// Sends through the admin API as any actor, with mentions `(type, canonical id, name)`.
async fn admin_send(
    app: &TestApp,
    seed: &Seed,
    chat: &Value,
    sender: (&str, &Value),
    text: &str,
    mentions: &[(&str, Option<&Value>, &str)],
) -> Value {
    let mentions: Vec<Value> = mentions
        .iter()
        .enumerate()
        .map(|(i, (t, id, name))| json!({ "key": (i + 1).to_string(), "type": t, "id": id.map(num), "name": name }))
        .collect();
    let body = json!({ "sender": { "type": sender.0, "id": num(sender.1) }, "type": "text", "content": { "text": text }, "mentions": mentions });
    app.admin_ok(
        Method::POST,
        &format!(
            "/tenants/{}/chats/{}/messages",
            seed.tenant["id"], chat["id"]
        ),
        Some(body),
    )
    .await
}
async fn member_count(app: &TestApp, seed: &Seed, chat: &str) -> usize {
    let canonical = ids::parse_chat_id(chat).unwrap();
    app.core
        .members(TenantId(num(&seed.tenant)), canonical)
        .await
        .unwrap()
        .len()
}
async fn add_members(fs: &Lark<'_>, chat: &str, query: &str, list: Value) -> Reply {
    fs.call(
        Method::POST,
        &format!("/chats/{chat}/members?{query}"),
        Some(json!({ "id_list": list })),
    )
    .await
}
async fn manual() -> (TestApp, ManualClock) {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    (app, clock)
}

// ----- tokens ------------------------------------------------------------------------------

#[tokio::test]
async fn token_shapes_per_face_and_rotation() {
    let (app, clock) = manual().await;
    let seed = app.seed().await;
    let f = request_token(&app, Face::Feishu, seed.app_id(), seed.app_secret()).await;
    assert_ok(&f);
    assert!(is_json(&f));
    assert_eq!(f.body["msg"], "ok");
    let token = token_of(Face::Feishu, &f);
    assert!(token.starts_with("t-"));
    let expire = f.body["expire"].as_i64().unwrap();
    assert!(
        (1801..=7200).contains(&expire),
        "expire {expire} leaves the SDKs' 600 s margin"
    );

    let h = request_token(&app, Face::Hi, seed.app_id(), seed.app_secret()).await;
    assert_ok(&h);
    assert_eq!(h.body["success"], true);
    assert!(h.body["traceId"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(h.body["msg"], "操作成功");
    assert_eq!(
        h.body["data"]["tenant_access_token"],
        token.as_str(),
        "one token for both faces"
    );
    assert_eq!(h.body["data"]["expire"], expire);
    assert_eq!(
        h.body["tenant_access_token"],
        token.as_str(),
        "also at the top level, as Hi's field table lists it"
    );

    // Same token while >= 30 min remain.
    let advance = expire - 1800;
    clock.advance_ms(advance * 1000);
    let again = request_token(&app, Face::Feishu, seed.app_id(), seed.app_secret()).await;
    assert_eq!(token_of(Face::Feishu, &again), token);
    assert_eq!(again.body["expire"], 1800);
    // Then a new one, while the old keeps working until it expires.
    clock.advance_ms(1000);
    let fresh = request_token(&app, Face::Feishu, seed.app_id(), seed.app_secret()).await;
    let new_token = token_of(Face::Feishu, &fresh);
    assert_ne!(new_token, token);
    assert_eq!(fresh.body["expire"], 7199);
    let old = Lark {
        app: &app,
        face: Face::Feishu,
        token: token.clone(),
    };
    let id = old
        .send_text(&oc(&seed.group), "old token still valid")
        .await;
    clock.advance_ms(1798 * 1000);
    assert_ok(&old.get(&id, "").await);
    clock.advance_ms(1000);
    let expired = old.get(&id, "").await;
    assert_eq!(code(&expired), 99991663, "{}", expired.text);
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let new = Lark {
        app: &app,
        face: Face::Hi,
        token: new_token,
    };
    assert_ok(&new.get(&id, "").await);

    // app_access_token: its own shape; not accepted by the IM API.
    let r = app
        .http
        .post(app.url("/open-apis/auth/v3/app_access_token/internal"))
        .json(&json!({ "app_id": seed.app_id(), "app_secret": seed.app_secret() }))
        .send()
        .await
        .unwrap();
    let r = Reply::from(r).await;
    assert_ok(&r);
    let app_token = r.body["app_access_token"].as_str().unwrap().to_string();
    assert!(app_token.starts_with("a-"));
    assert!(r.body["tenant_access_token"]
        .as_str()
        .unwrap()
        .starts_with("t-"));
    assert!(r.body["expire"].as_i64().unwrap() > 600);
    let refused = old
        .raw(
            Method::GET,
            &format!("/open-apis/im/v1/messages/{id}"),
            Some(&app_token),
            None,
        )
        .await;
    assert_eq!(code(&refused), 99991663);
}

#[tokio::test]
async fn tokens_are_accepted_by_every_node_sharing_the_database() {
    let a = spawn_app().await;
    let seed = a.seed().await;
    let lark = Lark::login(&a, &seed, Face::Feishu).await;
    let id = lark.send_text(&oc(&seed.group), "from node a").await;
    let b = if switchboard_testkit::store_kind() == "postgres" {
        a.second_node().await
    } else {
        spawn_app_with(Options {
            data_dir: Some(a.data_dir.clone()),
            ..Options::default()
        })
        .await
    };
    let on_b = Lark {
        app: &b,
        face: Face::Feishu,
        token: lark.token.clone(),
    };
    let got = on_b.get_one(&id).await;
    assert_eq!(content(&got), json!({ "text": "from node a" }));
}

#[tokio::test]
async fn rotating_the_secret_revokes_tokens() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let lark = Lark::login(&app, &seed, Face::Feishu).await;
    app.admin_ok(
        Method::POST,
        &format!(
            "/tenants/{}/apps/{}/rotate_secret",
            seed.tenant["id"], seed.bot["id"]
        ),
        None,
    )
    .await;
    let r = lark
        .send(&oc(&seed.group), "text", json!({ "text": "x" }))
        .await;
    assert_eq!(code(&r), 99991663);
}

// ----- get: the seed snapshot and the fields ------------------------------------------------

#[tokio::test]
async fn hi_get_matches_the_seed_example() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let hi = Lark::login(&app, &seed, Face::Hi).await;
    let alice = ou(&seed.alice, &seed.bot);
    let bob = ou(&seed.bob, &seed.bot);
    // As in the example: a reply, sent the Hi way (ids beside the text, "-1" for @all).
    let root = hi.send_text(&oc(&seed.group), "root").await;
    let hi_text =
        json!({ "atIdList": ["-1", alice, bob], "text": " @所有人    @Alice   @Bob test" });
    let sent = hi
        .call(
            Method::POST,
            &format!("/messages/{root}/reply"),
            Some(json!({ "msg_type": "text", "content": hi_text.to_string() })),
        )
        .await;
    assert_ok(&sent);
    let id = sent.body["data"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = hi.get(&id, "").await;
    assert_ok(&r);
    assert!(is_json(&r));

    let example: Value =
        serde_json::from_str(include_str!("fixtures/lark/hi_get_message.json")).unwrap();
    let extra = [
        "data.sender.id_type",
        "data.sender.sender_type",
        "data.sender.tenant_key",
        "data.mentions[].key",
        "data.mentions[].name",
    ];
    let diff = shape_diff(&example, &r.body, &extra);
    assert!(
        diff.is_empty(),
        "differs from the seed's example: {diff:#?}\n{}",
        r.text
    );

    let b = &r.body;
    assert_eq!(b["msg"], "操作成功");
    assert_eq!(b["success"], true);
    assert_eq!(
        b["traceId"].as_str(),
        r.headers.get("x-tt-logid").and_then(|v| v.to_str().ok()),
        "traceId is the log id"
    );
    let d = &b["data"];
    assert_eq!(d["message_id"], id.as_str());
    assert_eq!(d["msg_type"], "text");
    assert_eq!(d["chat_id"], oc(&seed.group).as_str());
    assert_eq!(d["root_id"], root.as_str());
    assert_eq!(d["parent_id"], root.as_str());
    assert!(
        d["upper_message_id"].is_null(),
        "null when absent, as in the example"
    );
    let ct = d["create_time"].as_str().unwrap();
    assert_eq!(ct.len(), 13, "milliseconds");
    assert_eq!(d["update_time"], ct);
    assert_eq!(d["deleted"], false);
    assert_eq!(d["updated"], false);
    let tk = tenant_key(&seed);
    assert_eq!(
        d["sender"],
        json!({
            "id": seed.app_id(), "id_type": "app_id", "idType": "app_id",
            "sender_type": "IM机器人", "senderType": "IM机器人",
            "tenant_key": tk, "tenantKey": tk,
        })
    );
    assert_eq!(
        content(d),
        json!({ "atIdList": ["-1", alice, bob], "text": " @所有人    @Alice   @Bob test" })
    );
    let m = d["mentions"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0]["id"], "-1");
    assert_eq!(m[0]["id_type"], "open_id");
    assert_eq!(m[0]["tenant_key"], tk.as_str());
    assert_eq!(m[1]["id"], alice.as_str());
    assert_eq!(m[1]["name"], "Alice");
    assert_eq!(m[2]["id"], bob.as_str());
    assert_eq!(m[2]["id_type"], "open_id");
}

#[tokio::test]
async fn feishu_get_fields_and_sender_kinds() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let alice = ou(&seed.alice, &seed.bot);
    let text = format!("<at user_id=\"{alice}\">Alice</at> hi <at user_id=\"all\">所有人</at>");
    let sent = fs
        .send(&oc(&seed.group), "text", json!({ "text": text }))
        .await;
    assert_ok(&sent);
    let id = sent.body["data"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.starts_with("om_") && id.len() == 35);
    let r = fs.get(&id, "").await;
    assert_ok(&r);
    assert_eq!(r.body["msg"], "success");
    assert!(
        r.body.get("success").is_none() && r.body.get("traceId").is_none(),
        "Feishu's envelope is {{code, msg, data}}"
    );
    let items = r.body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let it = &items[0];
    for absent in ["root_id", "parent_id", "thread_id", "upper_message_id"] {
        assert!(
            it.get(absent).is_none(),
            "{absent} is omitted when absent: {it}"
        );
    }
    assert_eq!(it["msg_type"], "text");
    assert_eq!(it["chat_id"], oc(&seed.group).as_str());
    assert_eq!(it["deleted"], false);
    assert_eq!(it["updated"], false);
    assert!(it["create_time"].as_str().unwrap().parse::<i64>().is_ok());
    let tk = tenant_key(&seed);
    assert_eq!(
        it["sender"],
        json!({ "id": seed.app_id(), "id_type": "app_id", "sender_type": "app", "tenant_key": tk })
    );
    assert_eq!(content(it), json!({ "text": "@_user_1 hi @_all" }));
    assert_eq!(
        it["mentions"],
        json!([{ "key": "@_user_1", "id": alice, "id_type": "open_id", "name": "Alice", "tenant_key": tk }])
    );
    // The send response is the same message object.
    assert_eq!(&sent.body["data"], it);

    // A user's message: sender_type user (Feishu) / 用户 (Hi), id by user_id_type.
    let from_alice = admin_send(
        &app,
        &seed,
        &seed.group,
        ("user", &seed.alice),
        "hello bot",
        &[],
    )
    .await;
    let mid = lark_msg_id(&from_alice);
    let it = fs.get_one(&mid).await;
    assert_eq!(
        it["sender"],
        json!({ "id": alice, "id_type": "open_id", "sender_type": "user", "tenant_key": tk })
    );
    assert!(it.get("mentions").is_none(), "Feishu omits empty mentions");
    let hi = fs.with_face(Face::Hi).get_one(&mid).await;
    assert_eq!(hi["sender"]["senderType"], "用户");
    assert_eq!(hi["sender"]["sender_type"], "用户");
    assert_eq!(hi["sender"]["idType"], "open_id");
    assert_eq!(hi["mentions"], json!([]), "Hi always carries mentions");
}

#[tokio::test]
async fn user_id_type_round_trips() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let scopes: Vec<Value> = seed.bot["scopes"].as_array().unwrap().clone();
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let m = admin_send(
        &app,
        &seed,
        &seed.group,
        ("user", &seed.alice),
        "hi <at id=\"1\">Bob</at>",
        &[("user", Some(&seed.bob), "Bob")],
    )
    .await;
    let mid = lark_msg_id(&m);

    // user_id needs the field scope: 230027 on both faces until it is granted, then at once.
    for face in Face::BOTH {
        let r = fs.with_face(face).get(&mid, "?user_id_type=user_id").await;
        assert_eq!(code(&r), 230027, "{}", r.text);
        assert!(is_json(&r));
    }
    let mut granted = scopes.clone();
    granted.push(json!("contact:user.employee_id:readonly"));
    set_app(&app, &seed, &seed.bot, json!({ "scopes": granted })).await;

    let cases = [
        (
            "open_id",
            ou(&seed.alice, &seed.bot),
            ou(&seed.bob, &seed.bot),
        ),
        ("union_id", on(&seed.alice), on(&seed.bob)),
        ("user_id", "alice".to_string(), "bob".to_string()),
    ];
    for face in Face::BOTH {
        let client = fs.with_face(face);
        for (kind, alice, bob) in &cases {
            let r = client.get(&mid, &format!("?user_id_type={kind}")).await;
            assert_ok(&r);
            let it = item(face, &r);
            assert_eq!(it["sender"]["id"], alice.as_str(), "{face:?} {kind}");
            assert_eq!(it["sender"]["id_type"], *kind);
            assert_eq!(it["mentions"][0]["id"], bob.as_str());
            assert_eq!(it["mentions"][0]["id_type"], *kind);
            if face == Face::Hi {
                assert_eq!(it["sender"]["idType"], *kind);
                assert_eq!(content(&it)["atIdList"], json!([bob]));
            }
            // The id read back addresses the same person: it lands in the bot's p2p with alice.
            let s = client
                .send_to(
                    kind,
                    alice,
                    "text",
                    json!({ "text": format!("to {kind}") }),
                    None,
                )
                .await;
            assert_ok(&s);
            assert_eq!(
                s.body["data"]["chat_id"],
                oc(&seed.p2p).as_str(),
                "{face:?} {kind}"
            );
        }
    }
    // Default is open_id; an app is always its app_id.
    let it = fs.get_one(&mid).await;
    assert_eq!(it["sender"]["id_type"], "open_id");
    let own = fs.send_text(&oc(&seed.group), "mine").await;
    let r = fs.get(&own, "?user_id_type=union_id").await;
    assert_eq!(item(Face::Feishu, &r)["sender"]["id"], seed.app_id());
    assert_eq!(item(Face::Feishu, &r)["sender"]["id_type"], "app_id");
    // Invalid values: 230001 with an ext= hint.
    let bad = fs.get(&mid, "?user_id_type=email").await;
    assert_eq!(code(&bad), 230001);
    assert!(
        bad.body["msg"].as_str().unwrap().contains("ext="),
        "{}",
        bad.text
    );
}

// ----- permissions -------------------------------------------------------------------------

#[tokio::test]
async fn scopes_and_bot_ability() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let id = fs.send_text(&group, "hello").await;
    let others: Vec<Value> = seed.bot["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s.as_str().unwrap().starts_with("im:message"))
        .cloned()
        .collect();

    // Each read scope is enough on its own; without either, 99991672.
    for (scopes, can_read, can_send) in [
        (vec!["im:message"], true, true),
        (vec!["im:message:readonly"], true, false),
        (vec![], false, false),
    ] {
        let mut s = others.clone();
        s.extend(scopes.iter().map(|x| json!(x)));
        set_app(&app, &seed, &seed.bot, json!({ "scopes": s })).await;
        for face in Face::BOTH {
            let c = fs.with_face(face);
            let r = c.get(&id, "").await;
            assert_eq!(code(&r) == 0, can_read, "{scopes:?} {face:?}: {}", r.text);
            if !can_read {
                assert_eq!(code(&r), 99991672);
                assert_eq!(r.status, StatusCode::FORBIDDEN);
                if face == Face::Feishu {
                    let v = &r.body["error"]["permission_violations"];
                    assert!(
                        v.as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p["subject"] == "im:message:readonly"),
                        "{}",
                        r.text
                    );
                }
            }
            let before = last_position(&app, &seed, &seed.group).await;
            let r = c.send(&group, "text", json!({ "text": "x" })).await;
            assert_eq!(code(&r) == 0, can_send, "{scopes:?} {face:?}: {}", r.text);
            if !can_send {
                assert_eq!(code(&r), 99991672);
                assert_eq!(
                    last_position(&app, &seed, &seed.group).await,
                    before,
                    "nothing written"
                );
            }
        }
    }
    // Bot ability off: 230006 before anything else, on both faces; back on, at once.
    let mut all = others.clone();
    all.push(json!("im:message"));
    set_app(
        &app,
        &seed,
        &seed.bot,
        json!({ "scopes": all, "bot_enabled": false }),
    )
    .await;
    for face in Face::BOTH {
        let c = fs.with_face(face);
        assert_eq!(code(&c.get(&id, "").await), 230006);
        assert_eq!(
            code(&c.send(&group, "text", json!({ "text": "x" })).await),
            230006
        );
        assert_eq!(
            code(
                &c.call(Method::DELETE, &format!("/messages/{id}"), None)
                    .await
            ),
            230006
        );
    }
    set_app(&app, &seed, &seed.bot, json!({ "bot_enabled": true })).await;
    assert_ok(&fs.get(&id, "").await);
    // Chat management needs im:chat.
    set_app(&app, &seed, &seed.bot, json!({ "scopes": ["im:message"] })).await;
    let r = fs
        .call(Method::POST, "/chats", Some(json!({ "name": "x" })))
        .await;
    assert_eq!(code(&r), 99991672);
}

#[tokio::test]
async fn the_bot_reads_and_writes_only_its_own_chats() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    // A group without the bot, and a p2p chat between two people.
    let other = app
        .create_chat(
            &seed.tenant,
            "group",
            Some("Private"),
            ("user", &seed.alice["id"]),
            &[("user", &seed.bob["id"])],
        )
        .await;
    let p2p = app
        .create_chat(
            &seed.tenant,
            "p2p",
            None,
            ("user", &seed.alice["id"]),
            &[("user", &seed.bob["id"])],
        )
        .await;
    // Another bot's p2p chat with bob.
    let bot2 = app.create_app(&seed.tenant, "Other bot").await;
    let p2p2 = app
        .create_chat(
            &seed.tenant,
            "p2p",
            None,
            ("app", &bot2["id"]),
            &[("user", &seed.bob["id"])],
        )
        .await;
    for chat in [&other, &p2p, &p2p2] {
        let m = admin_send(&app, &seed, chat, ("user", &seed.bob), "secret", &[]).await;
        for face in Face::BOTH {
            let c = fs.with_face(face);
            let r = c.get(&lark_msg_id(&m), "").await;
            assert_eq!(code(&r), 230002, "{}", r.text);
            assert_eq!(r.status, StatusCode::BAD_REQUEST);
            let before = last_position(&app, &seed, chat).await;
            let r = c.send(&oc(chat), "text", json!({ "text": "x" })).await;
            assert_eq!(code(&r), 230002);
            let r = c
                .call(
                    Method::POST,
                    &format!("/messages/{}/reply", lark_msg_id(&m)),
                    Some(json!({ "msg_type": "text", "content": "{\"text\":\"x\"}" })),
                )
                .await;
            assert_eq!(code(&r), 230002);
            assert_eq!(last_position(&app, &seed, chat).await, before);
        }
    }
    // Another tenant's message does not exist for this bot.
    let t2 = app.create_tenant("Other").await;
    let u = app.create_user(&t2, "Zed", "zed").await;
    let g = app
        .create_chat(&t2, "group", Some("G"), ("user", &u["id"]), &[])
        .await;
    let m = app
        .admin_send_text(&t2, &g, ("user", &u["id"]), "elsewhere")
        .await;
    let r = fs.get(&lark_msg_id(&m), "").await;
    assert_eq!(code(&r), 230001);
    // Its own p2p chat with alice works.
    let own = admin_send(&app, &seed, &seed.p2p, ("user", &seed.alice), "hi bot", &[]).await;
    assert_ok(&fs.get(&lark_msg_id(&own), "").await);
}

// ----- content -----------------------------------------------------------------------------

#[tokio::test]
async fn every_content_type_round_trips() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let alice = ou(&seed.alice, &seed.bot);
    let card = json!({ "config": { "wide_screen_mode": true }, "elements": [{ "tag": "div", "text": { "tag": "lark_md", "content": "**hi**" } }] });
    let cases = vec![
        ("text", json!({ "text": "plain" })),
        (
            "post",
            json!({ "zh_cn": { "title": "T", "content": [[{ "tag": "text", "text": "a ", "style": ["bold"] }, { "tag": "a", "text": "link", "href": "https://example.com" }], [{ "tag": "hr" }]] } }),
        ),
        ("image", json!({ "image_key": "img_v2_1" })),
        (
            "file",
            json!({ "file_key": "file_v2_1", "file_name": "a.pdf" }),
        ),
        (
            "audio",
            json!({ "file_key": "file_v2_2", "duration": 2000 }),
        ),
        (
            "media",
            json!({ "file_key": "file_v2_3", "image_key": "img_v2_3", "file_name": "v.mp4", "duration": 5000 }),
        ),
        ("sticker", json!({ "file_key": "file_v2_4" })),
        ("interactive", card.clone()),
        ("share_chat", json!({ "chat_id": group })),
        ("share_user", json!({ "user_id": alice })),
    ];
    for (t, c) in &cases {
        let r = fs.send(&group, t, c.clone()).await;
        assert_ok(&r);
        assert_eq!(r.body["data"]["msg_type"], *t);
        let it = fs
            .get_one(r.body["data"]["message_id"].as_str().unwrap())
            .await;
        assert_eq!(it["msg_type"], *t);
        assert_eq!(&content(&it), c, "{t}");
    }
    // Post mentions read as keys, with the ids in mentions[].
    let post = json!({ "zh_cn": { "title": "", "content": [[{ "tag": "at", "user_id": alice, "user_name": "Alice" }, { "tag": "text", "text": " see" }]] } });
    let r = fs.send(&group, "post", post).await;
    assert_ok(&r);
    let it = fs
        .get_one(r.body["data"]["message_id"].as_str().unwrap())
        .await;
    assert_eq!(
        content(&it)["zh_cn"]["content"][0][0],
        json!({ "tag": "at", "user_id": "@_user_1", "user_name": "Alice" })
    );
    assert_eq!(it["mentions"][0]["id"], alice.as_str());

    // Hi spellings: rich_text and compressive_card, whose content Hi does not return.
    let hi = fs.with_face(Face::Hi);
    let r = hi
        .send(
            &group,
            "rich_text",
            json!({ "zh_cn": { "title": "T", "content": [[{ "tag": "text", "text": "x" }]] } }),
        )
        .await;
    assert_ok(&r);
    let rid = r.body["data"]["message_id"].as_str().unwrap().to_string();
    assert_eq!(hi.get_one(&rid).await["msg_type"], "rich_text");
    assert_eq!(fs.get_one(&rid).await["msg_type"], "post");
    let r = hi.send(&group, "compressive_card", json!({ "header": { "text": { "content": "T", "tag": "plain_text" }, "color": "white" }, "modules": [{ "tag": "split_line" }] })).await;
    assert_ok(&r);
    let cid = r.body["data"]["message_id"].as_str().unwrap().to_string();
    let h = hi.get_one(&cid).await;
    assert_eq!(h["msg_type"], "compressive_card");
    assert_eq!(
        h["body"]["content"], "",
        "the Hi seed: no content for compressive_card"
    );
    let f = fs.get_one(&cid).await;
    assert_eq!(f["msg_type"], "interactive");
    assert_eq!(content(&f)["header"]["color"], "white");
    let r = fs.send(&group, "interactive", card).await;
    let h = hi
        .get_one(r.body["data"]["message_id"].as_str().unwrap())
        .await;
    assert_eq!(h["body"]["content"], "");
}

// ----- recall and delete -------------------------------------------------------------------

#[tokio::test]
async fn recalled_reads_as_deleted_and_hard_deleted_is_230110() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let id = fs.send_text(&oc(&seed.group), "oops").await;
    let r = fs
        .call(Method::DELETE, &format!("/messages/{id}"), None)
        .await;
    assert_ok(&r);
    for face in Face::BOTH {
        let it = fs.with_face(face).get_one(&id).await;
        assert_eq!(it["deleted"], true);
        assert_eq!(content(&it), json!({ "text": "This message was recalled" }));
        assert_eq!(it["msg_type"], "text");
    }
    // Recalling again, editing or replying: 230011.
    assert_eq!(
        code(
            &fs.call(Method::DELETE, &format!("/messages/{id}"), None)
                .await
        ),
        230011
    );
    let edit = json!({ "msg_type": "text", "content": "{\"text\":\"x\"}" });
    assert_eq!(
        code(
            &fs.call(Method::PUT, &format!("/messages/{id}"), Some(edit.clone()))
                .await
        ),
        230011
    );
    assert_eq!(
        code(
            &fs.call(
                Method::POST,
                &format!("/messages/{id}/reply"),
                Some(edit.clone())
            )
            .await
        ),
        230011
    );

    // A hard delete (Yunxin-style, here through the admin API) is gone: 230110.
    let m = admin_send(
        &app,
        &seed,
        &seed.group,
        ("user", &seed.alice),
        "to delete",
        &[],
    )
    .await;
    let path = format!(
        "/tenants/{}/chats/{}/messages/{}?kind=deleted",
        seed.tenant["id"], seed.group["id"], m["id"]
    );
    app.admin_ok(Method::DELETE, &path, None).await;
    let did = lark_msg_id(&m);
    for face in Face::BOTH {
        let c = fs.with_face(face);
        let r = c.get(&did, "").await;
        assert_eq!(code(&r), 230110, "{}", r.text);
        assert!(is_json(&r));
        assert_eq!(
            code(
                &c.call(Method::PUT, &format!("/messages/{did}"), Some(edit.clone()))
                    .await
            ),
            230110
        );
        assert_eq!(
            code(
                &c.call(Method::DELETE, &format!("/messages/{did}"), None)
                    .await
            ),
            230110
        );
        // Replying to or forwarding it reads the same: the refusal carries the removal.
        let reply = json!({ "msg_type": "text", "content": "{\"text\":\"re\"}" });
        assert_eq!(
            code(
                &c.call(Method::POST, &format!("/messages/{did}/reply"), Some(reply))
                    .await
            ),
            230110
        );
        let to = json!({ "receive_id": oc(&seed.group) });
        assert_eq!(
            code(
                &c.call(
                    Method::POST,
                    &format!("/messages/{did}/forward?receive_id_type=chat_id"),
                    Some(to)
                )
                .await
            ),
            230110
        );
    }
}

#[tokio::test]
async fn recall_windows_and_owner_rights() {
    let (app, clock) = manual().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let fresh = fs.send_text(&group, "fresh").await;
    let old = fs.send_text(&group, "old").await;
    assert_ok(
        &fs.call(Method::DELETE, &format!("/messages/{fresh}"), None)
            .await,
    );
    clock.advance_ms(24 * 3600 * 1000 + 1);
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let r = fs
        .call(Method::DELETE, &format!("/messages/{old}"), None)
        .await;
    assert_eq!(code(&r), 230009, "{}", r.text);
    // Someone else's message in a group the bot merely belongs to: 230026.
    let alices = admin_send(&app, &seed, &seed.group, ("user", &seed.alice), "mine", &[]).await;
    let r = fs
        .call(
            Method::DELETE,
            &format!("/messages/{}", lark_msg_id(&alices)),
            None,
        )
        .await;
    assert_eq!(code(&r), 230026);
    assert_eq!(fs.get_one(&lark_msg_id(&alices)).await["deleted"], false);
    // In a group the bot owns, it may.
    let r = fs
        .call(
            Method::POST,
            "/chats",
            Some(json!({ "name": "Bot's", "user_id_list": [ou(&seed.alice, &seed.bot)] })),
        )
        .await;
    assert_ok(&r);
    let chat = r.body["data"]["chat_id"].as_str().unwrap().to_string();
    let chat_v = json!({ "id": ids::parse_chat_id(&chat).unwrap().0 });
    let m = admin_send(&app, &seed, &chat_v, ("user", &seed.alice), "hello", &[]).await;
    assert_ok(
        &fs.call(
            Method::DELETE,
            &format!("/messages/{}", lark_msg_id(&m)),
            None,
        )
        .await,
    );
    assert_eq!(fs.get_one(&lark_msg_id(&m)).await["deleted"], true);
}

// ----- send, idempotency, reply, edit, cards -------------------------------------------------

#[tokio::test]
async fn uuid_makes_a_send_idempotent_for_an_hour() {
    let (app, clock) = manual().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let before = last_position(&app, &seed, &seed.group).await;
    let a = fs
        .send_to(
            "chat_id",
            &group,
            "text",
            json!({ "text": "once" }),
            Some("u-1"),
        )
        .await;
    let b = fs
        .with_face(Face::Hi)
        .send_to(
            "chat_id",
            &group,
            "text",
            json!({ "text": "once" }),
            Some("u-1"),
        )
        .await;
    assert_ok(&a);
    assert_ok(&b);
    assert_eq!(a.body["data"]["message_id"], b.body["data"]["message_id"]);
    assert_eq!(last_position(&app, &seed, &seed.group).await, before + 1);
    clock.advance_ms(3600 * 1000 + 1);
    // An hour on, the first token may have expired (tokens are issued on 90-minute
    // windows): fetch a fresh one, as a bot would.
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let c = fs
        .send_to(
            "chat_id",
            &group,
            "text",
            json!({ "text": "once" }),
            Some("u-1"),
        )
        .await;
    assert_ne!(c.body["data"]["message_id"], a.body["data"]["message_id"]);
    assert_eq!(last_position(&app, &seed, &seed.group).await, before + 2);
}

#[tokio::test]
async fn replies_follow_the_root_parent_rule_and_threads() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let reply = |id: String, in_thread: bool| {
        let fs = &fs;
        async move {
            let body = json!({ "msg_type": "text", "content": "{\"text\":\"re\"}", "reply_in_thread": in_thread });
            let r = fs
                .call(Method::POST, &format!("/messages/{id}/reply"), Some(body))
                .await;
            assert_ok(&r);
            r.body["data"].clone()
        }
    };
    let m1 = fs.send_text(&oc(&seed.group), "root").await;
    let m2 = reply(m1.clone(), false).await;
    assert_eq!(m2["root_id"], m1.as_str());
    assert_eq!(m2["parent_id"], m1.as_str());
    assert!(m2.get("thread_id").is_none());
    let m3 = reply(m2["message_id"].as_str().unwrap().to_string(), false).await;
    assert_eq!(m3["root_id"], m1.as_str());
    assert_eq!(m3["parent_id"], m2["message_id"]);
    assert_eq!(m3["chat_id"], oc(&seed.group).as_str());
    // In a thread every reply answers the root.
    let m4 = reply(m3["message_id"].as_str().unwrap().to_string(), true).await;
    let thread = m4["thread_id"].as_str().unwrap().to_string();
    assert!(thread.starts_with("omt_"));
    assert_eq!(m4["root_id"], m1.as_str());
    assert_eq!(m4["parent_id"], m1.as_str());
    let m5 = reply(m4["message_id"].as_str().unwrap().to_string(), false).await;
    assert_eq!(m5["thread_id"], thread.as_str());
    assert_eq!(m5["parent_id"], m1.as_str());
    let got = fs.get_one(m5["message_id"].as_str().unwrap()).await;
    assert_eq!(got["thread_id"], thread.as_str());
    let hi = fs
        .with_face(Face::Hi)
        .get_one(m3["message_id"].as_str().unwrap())
        .await;
    assert_eq!(hi["root_id"], m1.as_str());
    assert_eq!(hi["parent_id"], m2["message_id"]);
}

#[tokio::test]
async fn edits_text_and_post_by_the_sender_at_most_twenty_times() {
    let (app, clock) = manual().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let id = fs.send_text(&group, "v0").await;
    let created = fs.get_one(&id).await["create_time"]
        .as_str()
        .unwrap()
        .to_string();
    clock.advance_ms(5000);
    let edit = |n: usize| json!({ "msg_type": "text", "content": json!({ "text": format!("v{n}") }).to_string() });
    let r = fs
        .call(Method::PUT, &format!("/messages/{id}"), Some(edit(1)))
        .await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["updated"], true);
    let it = fs.get_one(&id).await;
    assert_eq!(it["updated"], true);
    assert_eq!(content(&it), json!({ "text": "v1" }));
    let updated: i64 = it["update_time"].as_str().unwrap().parse().unwrap();
    assert_eq!(updated, created.parse::<i64>().unwrap() + 5000);
    assert_eq!(it["create_time"], created.as_str());
    // To post and back, through both faces, up to 20 edits.
    let post = json!({ "msg_type": "post", "content": json!({ "zh_cn": { "title": "P", "content": [[{ "tag": "text", "text": "p" }]] } }).to_string() });
    assert_ok(
        &fs.with_face(Face::Hi)
            .call(Method::PUT, &format!("/messages/{id}"), Some(post))
            .await,
    );
    assert_eq!(fs.get_one(&id).await["msg_type"], "post");
    for n in 3..=20 {
        let face = if n % 2 == 0 { Face::Hi } else { Face::Feishu };
        assert_ok(
            &fs.with_face(face)
                .call(Method::PUT, &format!("/messages/{id}"), Some(edit(n)))
                .await,
        );
    }
    let r = fs
        .call(Method::PUT, &format!("/messages/{id}"), Some(edit(21)))
        .await;
    assert_eq!(code(&r), 230072, "{}", r.text);
    assert_eq!(content(&fs.get_one(&id).await), json!({ "text": "v20" }));
    // Only the sender; only text and post.
    let alices = admin_send(&app, &seed, &seed.group, ("user", &seed.alice), "hers", &[]).await;
    let r = fs
        .call(
            Method::PUT,
            &format!("/messages/{}", lark_msg_id(&alices)),
            Some(edit(1)),
        )
        .await;
    assert_eq!(code(&r), 230071);
    let img = fs
        .send(&group, "image", json!({ "image_key": "img_1" }))
        .await;
    let img = img.body["data"]["message_id"].as_str().unwrap().to_string();
    let r = fs
        .call(Method::PUT, &format!("/messages/{img}"), Some(edit(1)))
        .await;
    assert_eq!(code(&r), 230054);
}

#[tokio::test]
async fn cards_are_updated_through_both_faces_within_fourteen_days() {
    let (app, clock) = manual().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let r = fs.send(&group, "interactive", json!({ "elements": [{ "tag": "div", "text": { "tag": "plain_text", "content": "v1" } }] })).await;
    let id = r.body["data"]["message_id"].as_str().unwrap().to_string();
    let v2 =
        json!({ "elements": [{ "tag": "div", "text": { "tag": "plain_text", "content": "v2" } }] });
    let r = fs
        .call(
            Method::PATCH,
            &format!("/messages/{id}"),
            Some(json!({ "content": v2.to_string() })),
        )
        .await;
    assert_ok(&r);
    assert_eq!(content(&fs.get_one(&id).await), v2);
    let v3 =
        json!({ "header": { "text": { "content": "v3", "tag": "plain_text" } }, "modules": [] });
    let hi = fs.with_face(Face::Hi);
    let r = hi
        .call(
            Method::POST,
            &format!("/messages/{id}/update"),
            Some(json!({ "content": v3.to_string(), "msg_type": "compressive_card" })),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["success"], true);
    assert_eq!(content(&fs.get_one(&id).await), v3);
    // Not a card: 230054. Too old: 230031.
    let text = fs.send_text(&group, "t").await;
    let r = fs
        .call(
            Method::PATCH,
            &format!("/messages/{text}"),
            Some(json!({ "content": v2.to_string() })),
        )
        .await;
    assert_eq!(code(&r), 230054);
    clock.advance_ms(14 * 24 * 3600 * 1000 + 1);
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let r = fs
        .call(
            Method::PATCH,
            &format!("/messages/{id}"),
            Some(json!({ "content": v2.to_string() })),
        )
        .await;
    assert_eq!(code(&r), 230031);
}

// ----- forward and merge-forward ------------------------------------------------------------

#[tokio::test]
async fn forward_and_merge_forward_with_children() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let m1 = fs.send_text(&group, "one").await;
    let m2 = admin_send(&app, &seed, &seed.group, ("user", &seed.alice), "two", &[]).await;
    let m2 = lark_msg_id(&m2);

    let alice = ou(&seed.alice, &seed.bot);
    let r = fs
        .call(
            Method::POST,
            &format!("/messages/{m1}/forward?receive_id_type=open_id"),
            Some(json!({ "receive_id": alice })),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["chat_id"], oc(&seed.p2p).as_str());
    assert_eq!(content(&r.body["data"]), json!({ "text": "one" }));

    let bogus = ids::message_id(MessageId::timeline(ChatId(999_999), 1).unwrap());
    let body = json!({ "receive_id": group, "message_id_list": [m1, m2, "om_not_an_id", bogus] });
    let r = fs
        .call(
            Method::POST,
            "/messages/merge_forward?receive_id_type=chat_id",
            Some(body),
        )
        .await;
    assert_ok(&r);
    let container = r.body["data"]["message"].clone();
    assert_eq!(container["msg_type"], "merge_forward");
    assert_eq!(container["body"]["content"], "Merged and Forwarded Message");
    let mut invalid: Vec<String> =
        serde_json::from_value(r.body["data"]["invalid_message_id_list"].clone()).unwrap();
    invalid.sort();
    let mut expect = vec!["om_not_an_id".to_string(), bogus];
    expect.sort();
    assert_eq!(invalid, expect);

    let cid = container["message_id"].as_str().unwrap().to_string();
    let r = fs.get(&cid, "").await;
    assert_ok(&r);
    let items = r.body["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "container then its children: {}", r.text);
    assert_eq!(items[0]["message_id"], cid.as_str());
    assert!(items[0].get("upper_message_id").is_none());
    for (child, (text, sender_type)) in items[1..].iter().zip([("one", "app"), ("two", "user")]) {
        assert_eq!(child["upper_message_id"], cid.as_str());
        assert_eq!(content(child), json!({ "text": text }));
        assert_eq!(child["sender"]["sender_type"], sender_type);
        assert_ne!(
            child["message_id"],
            m1.as_str(),
            "children are copies with their own ids"
        );
        // Each child can be fetched by its own id.
        let again = fs.get_one(child["message_id"].as_str().unwrap()).await;
        assert_eq!(again["upper_message_id"], cid.as_str());
    }
    // Hi returns the one object.
    let h = fs.with_face(Face::Hi).get(&cid, "").await;
    assert_ok(&h);
    assert_eq!(h.body["data"]["msg_type"], "merge_forward");
    assert!(h.body["data"]["upper_message_id"].is_null());
}

// ----- chats ---------------------------------------------------------------------------------

#[tokio::test]
async fn chats_members_and_is_in_chat() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let carol = app.create_user(&seed.tenant, "Carol", "carol").await;
    let dave = app.create_user(&seed.tenant, "Dave", "dave").await;
    let r = fs.call(Method::POST, "/chats?user_id_type=open_id", Some(json!({ "name": "Team", "user_id_list": [ou(&seed.alice, &seed.bot)], "chat_mode": "group", "chat_type": "private" }))).await;
    assert_ok(&r);
    let d = &r.body["data"];
    let chat = d["chat_id"].as_str().unwrap().to_string();
    assert!(chat.starts_with("oc_"));
    assert_eq!(d["name"], "Team");
    assert_eq!(d["owner_id"], seed.app_id());
    assert_eq!(d["owner_id_type"], "app_id");
    assert_eq!(d["tenant_key"], tenant_key(&seed).as_str());
    let r = fs
        .call(
            Method::GET,
            &format!("/chats/{chat}/members/is_in_chat"),
            None,
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["is_in_chat"], true);
    assert_ok(&fs.send(&chat, "text", json!({ "text": "welcome" })).await);
    assert_eq!(member_count(&app, &seed, &chat).await, 2);

    // succeed_type 0 (default): all usable, or nothing.
    let r = add_members(
        &fs,
        &chat,
        "member_id_type=open_id",
        json!([ou(&seed.bob, &seed.bot), "ou_garbage"]),
    )
    .await;
    assert_eq!(code(&r), 230001);
    assert_eq!(member_count(&app, &seed, &chat).await, 2, "nothing added");
    let r = add_members(
        &fs,
        &chat,
        "member_id_type=open_id",
        json!([ou(&seed.bob, &seed.bot)]),
    )
    .await;
    assert_ok(&r);
    assert_eq!(
        r.body["data"],
        json!({ "invalid_id_list": [], "not_existed_id_list": [], "pending_approval_id_list": [] })
    );
    // succeed_type 2: refuse and list.
    let r = add_members(
        &fs,
        &chat,
        "member_id_type=user_id&succeed_type=2",
        json!(["carol", "nobody"]),
    )
    .await;
    assert_eq!(code(&r), 230027, "user_id needs its scope here too");
    let mut scopes = seed.bot["scopes"].as_array().unwrap().clone();
    scopes.push(json!("contact:user.employee_id:readonly"));
    set_app(&app, &seed, &seed.bot, json!({ "scopes": scopes })).await;
    let r = add_members(
        &fs,
        &chat,
        "member_id_type=user_id&succeed_type=2",
        json!(["carol", "nobody"]),
    )
    .await;
    assert_eq!(code(&r), 230001);
    assert_eq!(r.body["data"]["not_existed_id_list"], json!(["nobody"]));
    assert_eq!(member_count(&app, &seed, &chat).await, 3);
    // succeed_type 1: add the usable, report the rest.
    let r = add_members(
        &fs,
        &chat,
        "member_id_type=union_id&succeed_type=1",
        json!([on(&carol), "on_bad", on(&dave)]),
    )
    .await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["invalid_id_list"], json!(["on_bad"]));
    assert_eq!(member_count(&app, &seed, &chat).await, 5);
    // Bots by app_id.
    let bot2 = app.create_app(&seed.tenant, "Helper").await;
    let r = fs
        .with_face(Face::Hi)
        .call(
            Method::POST,
            &format!("/chats/{chat}/members?member_id_type=app_id"),
            Some(json!({ "id_list": [bot2["app_id"]] })),
        )
        .await;
    assert_ok(&r);
    let helper = Lark::login_as(&app, &bot2, Face::Hi).await;
    let r = helper
        .call(
            Method::GET,
            &format!("/chats/{chat}/members/is_in_chat"),
            None,
        )
        .await;
    assert_eq!(r.body["data"]["is_in_chat"], true);
    let r = helper
        .call(
            Method::GET,
            &format!("/chats/{}/members/is_in_chat", oc(&seed.group)),
            None,
        )
        .await;
    assert_eq!(r.body["data"]["is_in_chat"], false);
    // Adding to a chat the bot is not in: 230002.
    let r = helper
        .call(
            Method::POST,
            &format!("/chats/{}/members", oc(&seed.group)),
            Some(json!({ "id_list": [ou(&carol, &bot2)] })),
        )
        .await;
    assert_eq!(code(&r), 230002);
}

// ----- rate limits ---------------------------------------------------------------------------

#[tokio::test]
async fn rate_limit_answers_99991400_with_429_and_headers() {
    let clock = ManualClock::new(1_800_000_000_000);
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        configure: Some(Box::new(|c| {
            c.lark.rate_limit_per_second = 3;
            c.lark.rate_limit_per_minute = 5;
        })),
        ..Options::default()
    })
    .await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let id = fs.send_text(&oc(&seed.group), "x").await;
    assert_ok(&fs.get(&id, "").await);
    assert_ok(&fs.with_face(Face::Hi).get(&id, "").await);
    for face in Face::BOTH {
        let r = fs.with_face(face).get(&id, "").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(code(&r), 99991400);
        assert!(is_json(&r));
        assert_eq!(r.headers["x-ogw-ratelimit-limit"], "3");
        assert_eq!(r.headers["x-ogw-ratelimit-reset"], "1");
    }
    clock.advance_ms(1000);
    assert_ok(&fs.get(&id, "").await);
    assert_ok(&fs.get(&id, "").await);
    let r = fs.get(&id, "").await;
    assert_eq!(code(&r), 99991400);
    assert_eq!(r.headers["x-ogw-ratelimit-limit"], "5");
    // Another app has its own budget; token requests are not limited.
    let bot2 = app.create_app(&seed.tenant, "Other").await;
    assert_eq!(
        request_token(&app, Face::Feishu, seed.app_id(), seed.app_secret())
            .await
            .body["code"],
        0
    );
    let other = Lark::login_as(&app, &bot2, Face::Feishu).await;
    assert_ne!(code(&other.get(&id, "").await), 99991400);
}

// ----- bad requests --------------------------------------------------------------------------

/// The world the bad-request tests send into: the bot's Feishu token, a text `mid` and an
/// image `img` in the seed's group, a chat without the bot holding `outside_msg`, an id
/// naming no message, and three Authorization values that must each be refused.
struct LarkBadWorld {
    app: TestApp,
    seed: Seed,
    token: String,
    group: String,
    mid: String,
    img: String,
    outside: Value,
    outside_msg: String,
    missing: String,
    bearer_tampered: String,
    bearer_app: String,
    bearer_forged_app: String,
    /// The group's last position once all this exists.
    before: i64,
}

async fn lark_bad_world() -> LarkBadWorld {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let mid = fs.send_text(&group, "target").await;
    let img = fs
        .send(&group, "image", json!({ "image_key": "img_1" }))
        .await
        .body["data"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let outside = app
        .create_chat(
            &seed.tenant,
            "group",
            Some("No bot"),
            ("user", &seed.alice["id"]),
            &[],
        )
        .await;
    let outside_msg = lark_msg_id(
        &app.admin_send_text(&seed.tenant, &outside, ("user", &seed.alice["id"]), "x")
            .await,
    );
    let missing = ids::message_id(MessageId::timeline(ChatId(999_999), 1).unwrap());
    let app_token: String = {
        let r = app
            .http
            .post(app.url("/open-apis/auth/v3/app_access_token/internal"))
            .json(&json!({ "app_id": seed.app_id(), "app_secret": seed.app_secret() }))
            .send()
            .await
            .unwrap();
        Reply::from(r).await.body["app_access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut tampered = fs.token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    let forged_app = format!(
        "{}{}",
        &app_token[..app_token.len() - 1],
        if app_token.ends_with('0') { '1' } else { '0' }
    );
    let before = last_position(&app, &seed, &seed.group).await;
    let token = fs.token;
    LarkBadWorld {
        token,
        group,
        mid,
        img,
        outside,
        outside_msg,
        missing,
        bearer_tampered: format!("Bearer {tampered}"),
        bearer_app: format!("Bearer {app_token}"),
        bearer_forged_app: format!("Bearer {forged_app}"),
        before,
        app,
        seed,
    }
}

/// The Authorization a row sends: the world's good token, none, or this header value.
enum Tok<'a> {
    Good,
    None,
    Raw(&'a str),
}
use Tok::{Good, Raw};

enum Body {
    None,
    Json(Value),
    Raw(&'static str),
    Big(usize),
}

/// (name, face, method, path under the IM prefix, token, body, HTTP status, code)
type Row<'a> = (&'a str, Face, Method, String, Tok<'a>, Body, u16, i64);

/// The faces a row is sent through.
const F: Face = Face::Feishu;
const H: Face = Face::Hi;

impl LarkBadWorld {
    /// A text send into the seed's group with this `content`.
    fn send(&self, content: String) -> Value {
        json!({ "receive_id": self.group, "msg_type": "text", "content": content })
    }
}

fn text(t: &str) -> String {
    json!({ "text": t }).to_string()
}

/// No rejected request changed the group, the chat without the bot, or the target message.
async fn assert_nothing_written(w: &LarkBadWorld) {
    let (app, seed) = (&w.app, &w.seed);
    let fs = Lark {
        app,
        face: Face::Feishu,
        token: w.token.clone(),
    };
    assert_eq!(
        last_position(app, seed, &seed.group).await,
        w.before,
        "no rejected request wrote anything"
    );
    assert_eq!(last_position(app, seed, &w.outside).await, 1);
    assert_eq!(
        content(&fs.get_one(&w.mid).await),
        json!({ "text": "target" })
    );
    assert_eq!(fs.get_one(&w.mid).await["updated"], false);
}

/// Sends each row; each must get its HTTP status and code in its face's JSON error
/// envelope, and together they must write nothing. Failures name the row.
async fn each_gets_its_documented_code_and_writes_nothing(w: &LarkBadWorld, table: Vec<Row<'_>>) {
    let app = &w.app;
    for (name, face, method, path, tok, body, status, expect) in table {
        let url = app.url(&format!("{}{}", face.im(), path));
        let mut req = app.http.request(method.clone(), url);
        match tok {
            Good => req = req.bearer_auth(&w.token),
            Tok::None => {}
            Raw(v) => req = req.header("Authorization", v),
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(s) => req.header("Content-Type", "application/json").body(s),
            Body::Big(n) => req
                .header("Content-Type", "application/json")
                .body(format!("{{\"receive_id\":\"{}\"}}", "x".repeat(n))),
        };
        let r = Reply::from(req.send().await.unwrap()).await;
        assert!(
            is_json(&r),
            "{name}: not JSON: {:?}",
            r.headers.get("content-type")
        );
        assert_eq!(r.body["code"], expect, "{name}: {}", r.text);
        assert_eq!(r.status.as_u16(), status, "{name}: {}", r.text);
        assert!(
            r.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
        if expect == 230001 {
            assert!(
                r.body["msg"].as_str().unwrap().contains("ext="),
                "{name}: {}",
                r.text
            );
        }
        match face {
            Face::Hi => {
                assert_eq!(r.body["success"], false, "{name}");
                assert!(r.body["traceId"].is_string(), "{name}");
            }
            Face::Feishu => assert!(r.body["error"]["log_id"].is_string(), "{name}: {}", r.text),
        }
    }
    assert_nothing_written(w).await;
}

#[tokio::test]
async fn a_token_request_with_bad_credentials_gets_its_code_and_writes_nothing() {
    let w = lark_bad_world().await;
    let (app, seed) = (&w.app, &w.seed);
    for (face, body, expect) in [
        (
            Face::Feishu,
            json!({ "app_id": seed.app_id(), "app_secret": "wrong" }),
            10014,
        ),
        (
            Face::Hi,
            json!({ "app_id": "cli_unknown", "app_secret": "x" }),
            10014,
        ),
        (Face::Hi, json!({ "app_id": seed.app_id() }), 10003),
        (
            Face::Feishu,
            json!({ "app_id": 5, "app_secret": "x" }),
            10003,
        ),
    ] {
        let r = Reply::from(
            app.http
                .post(app.url(face.token_path()))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.body["code"], expect, "{}", r.text);
        assert!(is_json(&r));
    }
    let r = Reply::from(
        app.http
            .post(app.url(Face::Feishu.token_path()))
            .body("not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.body["code"], 10003);
    assert_nothing_written(&w).await;
}

#[tokio::test]
async fn a_request_without_a_valid_tenant_token_gets_401_and_writes_nothing() {
    let w = lark_bad_world().await;
    let m = &w.mid;
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("no Authorization", F, Method::GET, format!("/messages/{m}"), Tok::None, Body::None, 401, 99991661),
        ("not a bearer token", H, Method::GET, format!("/messages/{m}"), Raw("Basic abc"), Body::None, 401, 99991661),
        ("garbage token", H, Method::GET, format!("/messages/{m}"), Raw("Bearer abc"), Body::None, 401, 99991671),
        ("tampered token", F, Method::GET, format!("/messages/{m}"), Raw(&w.bearer_tampered), Body::None, 401, 99991663),
        ("app token on the IM API", H, Method::GET, format!("/messages/{m}"), Raw(&w.bearer_app), Body::None, 401, 99991663),
        ("forged app token", F, Method::GET, format!("/messages/{m}"), Raw(&w.bearer_forged_app), Body::None, 401, 99991664),
    ];
    assert_eq!(table.len(), 6);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

#[tokio::test]
async fn a_get_of_a_malformed_unknown_or_unreachable_message_gets_its_code_and_writes_nothing() {
    let w = lark_bad_world().await;
    let m = &w.mid;
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("malformed message_id", H, Method::GET, "/messages/om_zzz".into(), Good, Body::None, 400, 230001),
        ("unknown message", F, Method::GET, format!("/messages/{}", w.missing), Good, Body::None, 400, 230001),
        ("bad user_id_type", F, Method::GET, format!("/messages/{m}?user_id_type=email"), Good, Body::None, 400, 230001),
        ("user_id without scope", H, Method::GET, format!("/messages/{m}?user_id_type=user_id"), Good, Body::None, 400, 230027),
        ("bot not in chat", F, Method::GET, format!("/messages/{}", w.outside_msg), Good, Body::None, 400, 230002),
    ];
    assert_eq!(table.len(), 5);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

#[tokio::test]
async fn a_send_to_a_bad_or_unreachable_receiver_gets_its_code_and_writes_nothing() {
    let w = lark_bad_world().await;
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("send without receive_id_type", F, Method::POST, "/messages".into(), Good, Body::Json(w.send(text("x"))), 400, 230001),
        ("unknown receive_id_type", H, Method::POST, "/messages?receive_id_type=foo".into(), Good, Body::Json(w.send(text("x"))), 400, 230001),
        ("email receive_id_type", F, Method::POST, "/messages?receive_id_type=email".into(), Good, Body::Json(w.send(text("x"))), 400, 230001),
        ("malformed chat id", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": "oc_nope", "msg_type": "text", "content": text("x") })), 400, 230001),
        ("another app's open_id", F, Method::POST, "/messages?receive_id_type=open_id".into(), Good, Body::Json(json!({ "receive_id": ids::open_id(UserId(num(&w.seed.alice)), AppId(num(&w.seed.bot) + 1)), "msg_type": "text", "content": text("x") })), 400, 230001),
        ("missing receive_id", H, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "msg_type": "text", "content": text("x") })), 400, 230001),
        ("send into a chat without the bot", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": oc(&w.outside), "msg_type": "text", "content": text("x") })), 400, 230002),
    ];
    assert_eq!(table.len(), 7);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

#[tokio::test]
async fn a_send_with_a_bad_type_content_or_size_gets_its_code_and_writes_nothing() {
    let w = lark_bad_world().await;
    let group = &w.group;
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("unknown msg_type", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "msg_type": "hologram", "content": text("x") })), 400, 230001),
        ("merge_forward is not sent", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "msg_type": "merge_forward", "content": text("x") })), 400, 230001),
        ("content not JSON", H, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(w.send("hello".into())), 400, 230001),
        ("content without text", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(w.send("{\"txt\":\"x\"}".into())), 400, 230001),
        ("content as an object", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "msg_type": "text", "content": { "text": "x" } })), 400, 230001),
        ("empty text", H, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(w.send(text(""))), 400, 230001),
        ("unknown mention", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(w.send(text("<at user_id=\"nobody\">N</at> hi"))), 400, 230001),
        ("unknown post tag", H, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "msg_type": "rich_text", "content": json!({ "zh_cn": { "content": [[{ "tag": "blink" }]] } }).to_string() })), 400, 230001),
        ("image without key", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "msg_type": "image", "content": "{}" })), 400, 230001),
        ("uuid too long", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "msg_type": "text", "content": text("x"), "uuid": "u".repeat(51) })), 400, 230001),
        ("malformed JSON body", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Raw("{\"receive_id\":"), 400, 230001),
        ("text over 150 KB", H, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Json(w.send(text(&"x".repeat(151 * 1024)))), 400, 230025),
        ("body over the server limit", F, Method::POST, "/messages?receive_id_type=chat_id".into(), Good, Body::Big(2 * 1024 * 1024), 413, 230025),
    ];
    assert_eq!(table.len(), 13);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

#[tokio::test]
async fn a_bad_reply_edit_card_update_recall_or_forward_gets_its_code_and_writes_nothing() {
    let w = lark_bad_world().await;
    let (m, group) = (&w.mid, &w.group);
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("reply to a malformed id", F, Method::POST, "/messages/om_1/reply".into(), Good, Body::Json(json!({ "msg_type": "text", "content": text("x") })), 400, 230001),
        ("reply without content", H, Method::POST, format!("/messages/{m}/reply"), Good, Body::Json(json!({ "msg_type": "text" })), 400, 230001),
        ("edit to an image", F, Method::PUT, format!("/messages/{m}"), Good, Body::Json(json!({ "msg_type": "image", "content": "{\"image_key\":\"i\"}" })), 400, 230001),
        ("edit an image", H, Method::PUT, format!("/messages/{}", w.img), Good, Body::Json(json!({ "msg_type": "text", "content": text("x") })), 400, 230054),
        ("edit an unknown message", H, Method::PUT, format!("/messages/{}", w.missing), Good, Body::Json(json!({ "msg_type": "text", "content": text("x") })), 400, 230001),
        ("card update with a text type", H, Method::POST, format!("/messages/{m}/update"), Good, Body::Json(json!({ "msg_type": "text", "content": "{}" })), 400, 230001),
        ("card update of a text", F, Method::PATCH, format!("/messages/{m}"), Good, Body::Json(json!({ "content": "{\"elements\":[]}" })), 400, 230054),
        ("recall outside the bot's chats", F, Method::DELETE, format!("/messages/{}", w.outside_msg), Good, Body::None, 400, 230002),
        ("forward without receive_id", F, Method::POST, format!("/messages/{m}/forward?receive_id_type=chat_id"), Good, Body::Json(json!({})), 400, 230001),
        ("merge_forward of nothing", H, Method::POST, "/messages/merge_forward?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "message_id_list": [] })), 400, 230001),
        ("merge_forward of bad ids only", F, Method::POST, "/messages/merge_forward?receive_id_type=chat_id".into(), Good, Body::Json(json!({ "receive_id": group, "message_id_list": ["x"] })), 400, 230001),
    ];
    assert_eq!(table.len(), 11);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

#[tokio::test]
async fn a_bad_chat_or_member_request_gets_its_code_and_writes_nothing() {
    let w = lark_bad_world().await;
    let group = &w.group;
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("chat_mode topic", F, Method::POST, "/chats".into(), Good, Body::Json(json!({ "name": "x", "chat_mode": "topic" })), 400, 230001),
        ("unknown chat member", H, Method::POST, "/chats".into(), Good, Body::Json(json!({ "name": "x", "user_id_list": ["ou_nobody"] })), 400, 230001),
        ("succeed_type 5", F, Method::POST, format!("/chats/{group}/members?succeed_type=5"), Good, Body::Json(json!({ "id_list": ["ou_x"] })), 400, 230001),
        ("member_id_type xyz", H, Method::POST, format!("/chats/{group}/members?member_id_type=xyz"), Good, Body::Json(json!({ "id_list": ["ou_x"] })), 400, 230001),
        ("succeed_type not a number", F, Method::POST, format!("/chats/{group}/members?succeed_type=one"), Good, Body::Json(json!({ "id_list": ["ou_x"] })), 400, 230001),
        ("is_in_chat of a malformed chat", F, Method::GET, "/chats/oc_zz/members/is_in_chat".into(), Good, Body::None, 400, 230001),
    ];
    assert_eq!(table.len(), 6);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

#[tokio::test]
async fn an_unknown_endpoint_or_wrong_method_gets_404_or_405_and_writes_nothing() {
    let w = lark_bad_world().await;
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        ("unknown endpoint", F, Method::GET, "/nope".into(), Good, Body::None, 404, 404),
        ("wrong method", H, Method::GET, "/messages/merge_forward".into(), Good, Body::None, 405, 405),
    ];
    assert_eq!(table.len(), 2);
    each_gets_its_documented_code_and_writes_nothing(&w, table).await;
}

// ----- across dialects ------------------------------------------------------------------------

#[tokio::test]
async fn admin_messages_read_here_and_lark_messages_read_there() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    // Admin API -> both faces.
    let m = admin_send(
        &app,
        &seed,
        &seed.group,
        ("user", &seed.alice),
        "<at id=\"1\">Bob</at> lunch? <at id=\"2\">all</at>",
        &[("user", Some(&seed.bob), "Bob"), ("all", None, "")],
    )
    .await;
    let id = lark_msg_id(&m);
    assert_eq!(m["dialect_ids"]["lark"], id.as_str());
    let f = fs.get_one(&id).await;
    assert_eq!(content(&f), json!({ "text": "@_user_1 lunch? @_all" }));
    assert_eq!(f["mentions"][0]["id"], ou(&seed.bob, &seed.bot).as_str());
    let h = fs.with_face(Face::Hi).get_one(&id).await;
    assert_eq!(
        content(&h),
        json!({ "atIdList": [ou(&seed.bob, &seed.bot), "-1"], "text": "@Bob lunch? @all" })
    );
    assert_eq!(h["mentions"][1]["id"], "-1");
    // Lark -> admin API, in canonical form.
    let alice = ou(&seed.alice, &seed.bot);
    let r = fs
        .send(
            &oc(&seed.group),
            "text",
            json!({ "text": format!("hi <at user_id=\"{alice}\">Alice</at>") }),
        )
        .await;
    let lid = r.body["data"]["message_id"].as_str().unwrap();
    let a = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{lid}",
                seed.tenant["id"], seed.group["id"]
            ),
            None,
        )
        .await;
    assert_eq!(a["type"], "text");
    assert_eq!(a["sender"], json!({ "type": "app", "id": num(&seed.bot) }));
    assert_eq!(a["content"]["text"], "hi <at id=\"@_user_1\">Alice</at>");
    assert_eq!(a["mentions"][0]["type"], "user");
    assert_eq!(a["mentions"][0]["id"], num(&seed.alice));
    // A post becomes canonical rich text.
    let r = fs.send(&oc(&seed.group), "post", json!({ "en_us": { "title": "News", "content": [[{ "tag": "text", "text": "big" }]] } })).await;
    let pid = r.body["data"]["message_id"].as_str().unwrap();
    let a = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{pid}",
                seed.tenant["id"], seed.group["id"]
            ),
            None,
        )
        .await;
    assert_eq!(a["type"], "rich_text");
    assert_eq!(a["text"], "News\nbig");
    // Admin rich text and images render as Feishu shapes.
    let body = json!({ "sender": { "type": "user", "id": num(&seed.alice) }, "type": "image", "content": { "key": "img_k", "width": 10 } });
    let m = app
        .admin_ok(
            Method::POST,
            &format!(
                "/tenants/{}/chats/{}/messages",
                seed.tenant["id"], seed.group["id"]
            ),
            Some(body),
        )
        .await;
    assert_eq!(
        content(&fs.get_one(&lark_msg_id(&m)).await),
        json!({ "image_key": "img_k" })
    );
    let body = json!({ "sender": { "type": "user", "id": num(&seed.alice) }, "type": "rich_text", "content": { "title": "T", "paragraphs": [[{ "tag": "text", "text": "x" }]] } });
    let m = app
        .admin_ok(
            Method::POST,
            &format!(
                "/tenants/{}/chats/{}/messages",
                seed.tenant["id"], seed.group["id"]
            ),
            Some(body),
        )
        .await;
    let it = fs.get_one(&lark_msg_id(&m)).await;
    assert_eq!(it["msg_type"], "post");
    assert_eq!(
        content(&it),
        json!({ "zh_cn": { "title": "T", "content": [[{ "tag": "text", "text": "x", "style": [] }]] } })
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_in_the_envelope() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    for (path, status) in [
        ("/open-apis/im/v1/unknown", 404),
        ("/open-apis/whatever", 404),
        ("/open-apis/im/messages/merge_forward", 405),
    ] {
        let r = fs.raw(Method::GET, path, None, None).await;
        assert_eq!(r.status.as_u16(), status, "{path}");
        assert!(is_json(&r), "{path}");
        assert_eq!(r.body["code"], status);
        assert!(r.headers.contains_key("x-tt-logid"));
    }
}

#[tokio::test]
async fn demo_commands_name_both_faces() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let t = TenantId(num(&seed.tenant));
    let bot = app.core.app(t, AppId(num(&seed.bot))).await.unwrap();
    let group = app.core.chat(t, ChatId(num(&seed.group))).await.unwrap();
    let alice = app.core.user(t, UserId(num(&seed.alice))).await.unwrap();
    let m = admin_send(&app, &seed, &seed.group, ("user", &seed.alice), "demo", &[]).await;
    let out = switchboard_dialect_lark::demo_commands(
        &app.base,
        &bot,
        &group,
        MessageId(m["id"].as_i64().unwrap()),
        &alice,
    );
    for needle in [
        format!(
            "{}/open-apis/auth/v3/tenant_access_token/internal",
            app.base
        ),
        format!("{}/open-apis/auth/tenant_access_token/internal", app.base),
        format!("/open-apis/im/v1/messages/{}", lark_msg_id(&m)),
        format!("/open-apis/im/messages/{}", lark_msg_id(&m)),
        oc(&seed.group),
        ou(&seed.alice, &seed.bot),
        seed.app_secret().to_string(),
    ] {
        assert!(out.contains(&needle), "missing {needle} in\n{out}");
    }
    // The commands work as printed, when curl is there to run them.
    let has_curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok();
    if has_curl {
        let script = out.clone();
        let run = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap()
        });
        let output = run.await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.matches("\"code\":0").count(),
            5,
            "get, two sends (Feishu), get and send (Hi):\n{stdout}"
        );
        assert!(stdout.contains(r#"\"text\":\"demo\""#), "{stdout}");
        assert!(stdout.contains("\"success\":true"), "{stdout}");
    }
}

#[tokio::test]
async fn wps_messages_read_here_and_lark_messages_read_in_wps() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let wps = WpsClient::for_seed(&app, &seed).await;
    let wps_group = wps_id(&seed.group);
    let wid = wps.send_text(&app, ("chat", &wps_group), "from WPS").await;
    // The same message under its Hi/Feishu name.
    let admin = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{wid}",
                seed.tenant["id"], seed.group["id"]
            ),
            None,
        )
        .await;
    let lid = lark_msg_id(&admin);
    for face in Face::BOTH {
        let it = fs.with_face(face).get_one(&lid).await;
        assert_eq!(content(&it), json!({ "text": "from WPS" }), "{face:?}");
        assert_eq!(it["sender"]["id"], seed.app_id());
    }
    // And the reverse: sent here, read through WPS.
    let mine = fs.send_text(&oc(&seed.group), "from Feishu").await;
    let canonical = ids::parse_message_id(&mine).unwrap();
    let wps_mid = switchboard_dialect_wps::ids::message_id(canonical);
    let r = wps.get_message(&app, &wps_group, &wps_mid).await;
    assert_eq!(r.body["code"], 0, "{}", r.text);
    assert!(r.text.contains("from Feishu"), "{}", r.text);
}

#[tokio::test]
async fn a_dissolved_chat_takes_no_messages() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let id = fs.send_text(&oc(&seed.group), "last words").await;
    app.admin_ok(
        Method::DELETE,
        &format!("/tenants/{}/chats/{}", seed.tenant["id"], seed.group["id"]),
        None,
    )
    .await;
    let before = last_position(&app, &seed, &seed.group).await;
    for face in Face::BOTH {
        let r = fs
            .with_face(face)
            .send(&oc(&seed.group), "text", json!({ "text": "x" }))
            .await;
        assert_eq!(code(&r), 232009, "{}", r.text);
        let r = add_members(
            &fs.with_face(face),
            &oc(&seed.group),
            "",
            json!([ou(&seed.bob, &seed.bot)]),
        )
        .await;
        assert_eq!(code(&r), 232009, "{}", r.text);
    }
    assert_eq!(last_position(&app, &seed, &seed.group).await, before);
    // History stays readable.
    assert_eq!(
        content(&fs.get_one(&id).await),
        json!({ "text": "last words" })
    );
}

#[tokio::test]
async fn set_bot_manager_makes_the_bot_an_admin_of_the_new_group() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let t = &seed.tenant["id"];
    let alice = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/users/alice?app={}", seed.app_id()),
            None,
        )
        .await;
    let alice_open = alice["dialect_ids"]["lark"]["open_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Every spelling the SDKs send: lark-oapi (Python) sends `True`.
    for (query, manager) in [
        ("&set_bot_manager=true", true),
        ("&set_bot_manager=True", true),
        ("&set_bot_manager=TRUE", true),
        ("&set_bot_manager=1", true),
        ("&set_bot_manager=false", false),
        ("&set_bot_manager=False", false),
        ("&set_bot_manager=FALSE", false),
        ("&set_bot_manager=0", false),
        ("", false),
    ] {
        let body =
            json!({ "name": "Managed", "owner_id": alice_open, "user_id_list": [alice_open] });
        let path = format!("/chats?user_id_type=open_id{query}");
        let r = fs.call(Method::POST, &path, Some(body)).await;
        assert_eq!(code(&r), 0, "{}", r.text);
        let chat_id = r.body["data"]["chat_id"].as_str().unwrap().to_string();
        let chat = app
            .admin_ok(Method::GET, &format!("/tenants/{t}/chats/{chat_id}"), None)
            .await;
        let bot_role = chat["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["type"] == "app")
            .map(|m| m["role"].clone())
            .unwrap();
        assert_eq!(
            bot_role,
            if manager { "admin" } else { "member" },
            "{query}"
        );
        let m = admin_send(&app, &seed, &chat, ("user", &seed.alice), "recall me", &[]).await;
        let om = m["dialect_ids"]["lark"].as_str().unwrap();
        let r = fs
            .call(Method::DELETE, &format!("/messages/{om}"), None)
            .await;
        if manager {
            assert_eq!(
                code(&r),
                0,
                "an admin bot recalls a member's message: {}",
                r.text
            );
        } else {
            assert_ne!(code(&r), 0, "a plain member bot cannot: {}", r.text);
        }
    }
}

/// A message the domain refuses (here: more mentions than it allows, which Feishu's own
/// checks let through) sent to a user leaves no p2p chat behind: the domain validates a
/// message to a party before it creates their chat.
#[tokio::test]
async fn a_refused_message_to_a_user_creates_no_p2p_chat() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let lark = Lark::login(&app, &seed, Face::Feishu).await;
    let tenant = TenantId(num(&seed.tenant));
    let bot = switchboard_core::model::Actor::App(AppId(num(&seed.bot)));
    let bob = switchboard_core::model::Actor::User(UserId(num(&seed.bob)));
    let alice = ou(&seed.alice, &seed.bot);
    let crowded = format!("<at user_id=\"{alice}\">Alice</at> ").repeat(101);
    let r = lark
        .send_to(
            "open_id",
            &ou(&seed.bob, &seed.bot),
            "text",
            json!({ "text": crowded }),
            None,
        )
        .await;
    assert_ne!(code(&r), 0, "{}", r.text);
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        app.core.find_p2p(tenant, bot, bob).await.unwrap().is_none(),
        "no p2p chat for a refused message"
    );
    let r = lark
        .send_to(
            "open_id",
            &ou(&seed.bob, &seed.bot),
            "text",
            json!({ "text": "hi" }),
            None,
        )
        .await;
    assert_ok(&r);
    assert!(app.core.find_p2p(tenant, bot, bob).await.unwrap().is_some());
}
