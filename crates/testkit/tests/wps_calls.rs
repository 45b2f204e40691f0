//! The WPS 365 v7 calls real clients (the `wps365` package) make, over real HTTP on a real
//! store: `batch_create`, the chat list, chat update and dissolve, both member body shapes, a
//! reply without `type`, and user-context tokens (`wps_sid` → `/v7/dev/agent/token`).

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::ids::{TenantId, UserId};
use switchboard_core::service::{Access, ListQuery};
use switchboard_core::store::Page;
use switchboard_core::ManualClock;
use switchboard_dialect_wps::user_token::SidKey;
use switchboard_testkit::wps::{wps_id, WpsClient, WpsUser};
use switchboard_testkit::{spawn_app_with, Options, Reply, Seed, TestApp};

struct W {
    app: TestApp,
    seed: Seed,
    bot: WpsClient,
    clock: ManualClock,
    group: String,
    p2p: String,
}

async fn world() -> W {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let seed = app.seed().await;
    let bot = WpsClient::for_seed(&app, &seed).await;
    let (group, p2p) = (wps_id(&seed.group), wps_id(&seed.p2p));
    W {
        app,
        seed,
        bot,
        clock,
        group,
        p2p,
    }
}

/// A second tenant with its own user, bot and group (the bot and the user in it).
async fn other_tenant(app: &TestApp) -> (Value, WpsClient, String) {
    let t = app.create_tenant("Other").await;
    let carol = app.create_user(&t, "Carol", "carol").await;
    let bot = app.create_app(&t, "OtherBot").await;
    let group = app
        .create_chat(
            &t,
            "group",
            Some("Theirs"),
            ("user", &carol["id"]),
            &[("app", &bot["id"])],
        )
        .await;
    let client = WpsClient::connect(
        app,
        bot["app_id"].as_str().unwrap(),
        bot["app_secret"].as_str().unwrap(),
    )
    .await;
    (t, client, wps_id(&group))
}

fn code(r: &Reply) -> i64 {
    r.body["code"].as_i64().unwrap_or(-1)
}

fn assert_fails(r: &Reply, status: u16, expected: i64, ctx: &str) {
    assert_eq!(r.status.as_u16(), status, "{ctx}: {}", r.text);
    assert_eq!(code(r), expected, "{ctx}: {}", r.text);
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

/// Everything a request could have written: every tenant's chats, members and messages.
async fn fingerprint(app: &TestApp) -> String {
    let core = &app.core;
    let page = Page {
        after: 0,
        limit: 1000,
    };
    let mut out = Vec::new();
    for t in core.list_tenants(page).await.unwrap() {
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

/// The texts of a chat's history, oldest first, as `client` reads them.
async fn texts(w: &W, chat: &str) -> Vec<String> {
    let d = assert_ok(
        &w.bot.history(&w.app, chat, "page_size=100").await,
        "history",
    );
    d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["content"]["text"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

// ----- batch_create ------------------------------------------------------------------------

#[tokio::test]
async fn batch_create_sends_to_the_good_receivers_and_reports_the_others() {
    let w = world().await;
    let (_, _, theirs) = other_tenant(&w.app).await;
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
    let closed = wps_id(&closed);
    let body = json!({
        "type": "text",
        "receivers": [
            { "type": "user", "receiver_ids": ["alice", "nobody", "alice"] },
            { "type": "chat", "receiver_ids": [w.group, closed, "abc", theirs] },
            { "type": "dept", "receiver_ids": ["d1"] },
        ],
        "content": { "text": { "content": "to everyone", "type": "plain" } },
    });
    let d = assert_ok(
        &w.bot.post(&w.app, "/v7/messages/batch_create", &body).await,
        "batch",
    );
    assert_eq!(
        d["invalid_receivers"],
        json!([
            { "type": "user", "receiver_ids": ["nobody"] },
            { "type": "chat", "receiver_ids": [closed, "abc", theirs] },
            { "type": "dept", "receiver_ids": ["d1"] },
        ])
    );
    // The first receiver's copy: alice's p2p chat with the bot, once despite the repeat.
    let id = d["message_id"].as_str().unwrap();
    let m = assert_ok(&w.bot.get_message(&w.app, &w.p2p, id).await, "get");
    assert_eq!(m["content"]["text"]["content"], "to everyone");
    assert_eq!(texts(&w, &w.p2p).await, ["to everyone"]);
    assert_eq!(texts(&w, &w.group).await, ["to everyone"]);

    // As the `wps365` client writes it: `type` an object, text a bare string, no receiver type.
    let d = assert_ok(
        &w.bot
            .post(
                &w.app,
                "/v7/messages/batch_create",
                &json!({
                    "type": { "msg_type": "text" },
                    "content": { "text": "from wps365" },
                    "receivers": [{ "receiver_ids": ["bob"] }],
                }),
            )
            .await,
        "wps365 shape",
    );
    assert_eq!(d["invalid_receivers"], json!([]));
    let bob_p2p = assert_ok(
        &w.bot
            .get(&w.app, "/v7/chats/get_p2p_chat?user_id=bob")
            .await,
        "bob's p2p",
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = assert_ok(
        &w.bot
            .get_message(&w.app, &bob_p2p, d["message_id"].as_str().unwrap())
            .await,
        "bob's copy",
    );
    assert_eq!(
        m["content"],
        json!({ "text": { "content": "from wps365", "type": "plain" } })
    );

    // Refusals of the whole request write nothing.
    let before = fingerprint(&w.app).await;
    let all_bad = assert_ok(
        &w.bot
            .post(
                &w.app,
                "/v7/messages/batch_create",
                &json!({ "type": "text", "receivers": [{ "type": "user", "receiver_ids": ["nobody"] }], "content": { "text": { "content": "x" } } }),
            )
            .await,
        "nobody reachable",
    );
    assert_eq!(all_bad["message_id"], "");
    assert_eq!(
        all_bad["invalid_receivers"],
        json!([{ "type": "user", "receiver_ids": ["nobody"] }])
    );
    let long = "x".repeat(5001);
    for (name, body, status, c) in [
        (
            "no receivers",
            json!({ "type": "text", "receivers": [], "content": { "text": { "content": "x" } } }),
            400,
            400_001,
        ),
        (
            "empty ids",
            json!({ "type": "text", "receivers": [{ "type": "user", "receiver_ids": [] }], "content": { "text": { "content": "x" } } }),
            400,
            400_001,
        ),
        (
            "unknown receiver type",
            json!({ "type": "text", "receivers": [{ "type": "planet", "receiver_ids": ["x"] }], "content": { "text": { "content": "x" } } }),
            400,
            400_001,
        ),
        (
            "too many",
            json!({ "type": "text", "receivers": [{ "type": "user", "receiver_ids": vec!["alice"; 201] }], "content": { "text": { "content": "x" } } }),
            400,
            400_001,
        ),
        (
            "no type",
            json!({ "receivers": [{ "type": "user", "receiver_ids": ["alice"] }], "content": { "text": { "content": "x" } } }),
            400,
            400_001,
        ),
        (
            "bad type",
            json!({ "type": "sticker", "receivers": [{ "type": "user", "receiver_ids": ["alice"] }], "content": {} }),
            400,
            400_001,
        ),
        (
            "too long",
            json!({ "type": "text", "receivers": [{ "type": "user", "receiver_ids": ["alice"] }], "content": { "text": { "content": long } } }),
            400,
            400_003,
        ),
        (
            "content of another type",
            json!({ "type": "text", "receivers": [{ "type": "user", "receiver_ids": ["alice"] }], "content": { "image": { "storage_key": "k" } } }),
            400,
            400_001,
        ),
        (
            "unknown mention",
            json!({ "type": "text", "receivers": [{ "type": "chat", "receiver_ids": [w.group] }], "mentions": [{ "id": "1", "type": "user", "identity": { "id": "nobody", "type": "user" } }], "content": { "text": { "content": "<at id=\"1\">x</at>" } } }),
            400,
            400_001,
        ),
    ] {
        let r = w.bot.post(&w.app, "/v7/messages/batch_create", &body).await;
        assert_fails(&r, status, c, name);
    }
    assert_eq!(fingerprint(&w.app).await, before, "nothing was written");
}

// ----- chats -------------------------------------------------------------------------------

#[tokio::test]
async fn the_chat_list_pages_through_the_callers_chats_only() {
    let w = world().await;
    let (_, theirs_bot, theirs) = other_tenant(&w.app).await;
    let all = assert_ok(&w.bot.get(&w.app, "/v7/chats").await, "list");
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [w.group.as_str(), w.p2p.as_str()]);
    assert_eq!(all["next_page_token"], "");
    assert_eq!(all["items"][0]["name"], "General");
    assert_eq!(all["items"][1]["type"], "p2p");

    let first = assert_ok(&w.bot.get(&w.app, "/v7/chats?page_size=1").await, "page 1");
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["items"][0]["id"], w.group.as_str());
    let token = first["next_page_token"].as_str().unwrap();
    assert!(!token.is_empty());
    let second = assert_ok(
        &w.bot
            .get(&w.app, &format!("/v7/chats?page_size=1&page_token={token}"))
            .await,
        "page 2",
    );
    assert_eq!(second["items"][0]["id"], w.p2p.as_str());
    assert_eq!(second["next_page_token"], "");

    // The other tenant's bot sees its own chat and nothing of Acme's.
    let theirs_list = assert_ok(&theirs_bot.get(&w.app, "/v7/chats").await, "theirs");
    assert_eq!(theirs_list["items"].as_array().unwrap().len(), 1);
    assert_eq!(theirs_list["items"][0]["id"], theirs.as_str());

    // A dissolved chat leaves the list.
    let ops = assert_ok(
        &w.bot
            .post(&w.app, "/v7/chats/create", &json!({ "name": "Ops" }))
            .await,
        "create",
    );
    let ops = ops["id"].as_str().unwrap();
    let listed = |d: &Value| {
        d["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == ops)
    };
    assert!(listed(&assert_ok(
        &w.bot.get(&w.app, "/v7/chats").await,
        "with ops"
    )));
    assert_ok(
        &w.bot
            .post(&w.app, &format!("/v7/chats/{ops}/delete"), &json!({}))
            .await,
        "dissolve",
    );
    assert!(!listed(&assert_ok(
        &w.bot.get(&w.app, "/v7/chats").await,
        "without ops"
    )));

    for (q, name) in [
        ("page_size=0", "page_size 0"),
        ("page_size=101", "page_size 101"),
        ("page_token=garbage", "garbage token"),
    ] {
        assert_fails(
            &w.bot.get(&w.app, &format!("/v7/chats?{q}")).await,
            400,
            400_001,
            name,
        );
    }
    // A history cursor is not a chat-list cursor.
    let h = switchboard_dialect_wps::ids::page_token(switchboard_core::ids::ChatId(1), 1);
    assert_fails(
        &w.bot
            .get(&w.app, &format!("/v7/chats?page_token={h}"))
            .await,
        400,
        400_001,
        "history cursor",
    );
}

#[tokio::test]
async fn chat_update_and_dissolve_follow_the_owner_rules() {
    let w = world().await;
    let (_, _, theirs) = other_tenant(&w.app).await;
    let ops = assert_ok(
        &w.bot
            .post(
                &w.app,
                "/v7/chats/create",
                &json!({ "name": "Ops", "members": [{ "type": "user", "id": "alice" }] }),
            )
            .await,
        "create",
    );
    let ops = ops["id"].as_str().unwrap().to_string();
    let update = |chat: &str| format!("/v7/chats/{chat}/update");
    let delete = |chat: &str| format!("/v7/chats/{chat}/delete");

    assert_eq!(
        w.bot
            .post(
                &w.app,
                &update(&ops),
                &json!({ "name": "Ops 2", "description": "on call" })
            )
            .await
            .body,
        json!({ "code": 0, "msg": "success" })
    );
    let info = assert_ok(
        &w.bot.get(&w.app, &format!("/v7/chats/{ops}")).await,
        "info",
    );
    assert_eq!(info["name"], "Ops 2");
    let id = switchboard_core::ids::ChatId(ops.parse().unwrap());
    let tenant = TenantId(w.seed.tenant["id"].as_i64().unwrap());
    assert_eq!(
        w.app.core.chat(tenant, id).await.unwrap().description,
        "on call"
    );

    let before = fingerprint(&w.app).await;
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
    let closed = wps_id(&closed);
    let before_closed = fingerprint(&w.app).await;
    assert_ne!(before, before_closed);
    let cases: Vec<(&str, String, Value, u16, i64)> = vec![
        (
            "rename a group the bot is a plain member of",
            update(&w.group),
            json!({ "name": "X" }),
            403,
            403_005,
        ),
        (
            "rename a group the bot is not in",
            update(&closed),
            json!({ "name": "X" }),
            403,
            403_002,
        ),
        (
            "rename another tenant's chat",
            update(&theirs),
            json!({ "name": "X" }),
            404,
            404_001,
        ),
        (
            "rename a p2p chat",
            update(&w.p2p),
            json!({ "name": "X" }),
            400,
            400_001,
        ),
        (
            "an empty name",
            update(&ops),
            json!({ "name": "  " }),
            400,
            400_001,
        ),
        ("nothing to change", update(&ops), json!({}), 400, 400_001),
        (
            "an owner who is not a member",
            update(&ops),
            json!({ "owner_id": "bob" }),
            404,
            404_005,
        ),
        (
            "an owner who does not exist",
            update(&ops),
            json!({ "owner_id": "nobody" }),
            404,
            404_003,
        ),
        (
            "a malformed chat id",
            update("abc"),
            json!({ "name": "X" }),
            400,
            400_001,
        ),
        (
            "dissolve a group the bot does not own",
            delete(&w.group),
            json!({}),
            403,
            403_005,
        ),
        (
            "dissolve a group the bot is not in",
            delete(&closed),
            json!({}),
            403,
            403_002,
        ),
        (
            "dissolve another tenant's chat",
            delete(&theirs),
            json!({}),
            404,
            404_001,
        ),
        (
            "dissolve a p2p chat",
            delete(&w.p2p),
            json!({}),
            400,
            400_001,
        ),
        (
            "dissolve no chat",
            delete("999999"),
            json!({}),
            404,
            404_001,
        ),
    ];
    for (name, uri, body, status, c) in &cases {
        let r = w.bot.post(&w.app, uri, body).await;
        assert_fails(&r, *status, *c, name);
        assert_eq!(
            fingerprint(&w.app).await,
            before_closed,
            "{name}: nothing written"
        );
    }

    // Ownership handed to alice: the bot, now a plain member, may no longer rename.
    assert_ok(
        &w.bot
            .post(&w.app, &update(&ops), &json!({ "owner_id": "alice" }))
            .await,
        "hand over",
    );
    let members = assert_ok(
        &w.bot.get(&w.app, &format!("/v7/chats/{ops}/members")).await,
        "members",
    );
    assert!(members["items"]
        .as_array()
        .unwrap()
        .contains(&json!({ "type": "user", "id": "alice", "role": "owner" })));
    assert_fails(
        &w.bot
            .post(&w.app, &update(&ops), &json!({ "name": "Y" }))
            .await,
        403,
        403_005,
        "after the hand-over",
    );
    assert_fails(
        &w.bot.post(&w.app, &delete(&ops), &json!({})).await,
        403,
        403_005,
        "dissolve after the hand-over",
    );

    // The bot's own group: dissolved once, then it is a dissolved chat.
    let mine = assert_ok(
        &w.bot
            .post(&w.app, "/v7/chats/create", &json!({ "name": "Mine" }))
            .await,
        "mine",
    );
    let mine = mine["id"].as_str().unwrap();
    assert_eq!(
        w.bot.post(&w.app, &delete(mine), &json!({})).await.body,
        json!({ "code": 0, "msg": "success" })
    );
    assert_eq!(
        assert_ok(
            &w.bot.get(&w.app, &format!("/v7/chats/{mine}")).await,
            "info"
        )["status"],
        "dismissed"
    );
    assert_fails(
        &w.bot.post(&w.app, &delete(mine), &json!({})).await,
        409,
        409_001,
        "twice",
    );
    assert_fails(
        &w.bot
            .post(&w.app, &update(mine), &json!({ "name": "Z" }))
            .await,
        409,
        409_001,
        "rename dissolved",
    );
}

#[tokio::test]
async fn members_accept_both_body_shapes() {
    let w = world().await;
    let room = assert_ok(
        &w.bot
            .post(&w.app, "/v7/chats/create", &json!({ "name": "Room" }))
            .await,
        "create",
    );
    let room = room["id"].as_str().unwrap();
    let add = format!("/v7/chats/{room}/members/batch_create");
    let del = format!("/v7/chats/{room}/members/batch_delete");
    let added = assert_ok(
        &w.bot
            .post(
                &w.app,
                &add,
                &json!({ "account_id_list": [{ "account_id": "alice" }, { "account_id": "bob" }] }),
            )
            .await,
        "add by account_id_list",
    );
    assert_eq!(
        added["items"],
        json!([{ "type": "user", "id": "alice", "role": "member" }, { "type": "user", "id": "bob", "role": "member" }])
    );
    let removed = assert_ok(
        &w.bot
            .post(
                &w.app,
                &del,
                &json!({ "account_id_list": [{ "account_id": "bob" }] }),
            )
            .await,
        "remove by account_id_list",
    );
    assert_eq!(removed["items"], json!([{ "type": "user", "id": "bob" }]));
    let removed = assert_ok(
        &w.bot
            .post(
                &w.app,
                &del,
                &json!({ "members": [{ "type": "user", "id": "alice" }] }),
            )
            .await,
        "remove by members",
    );
    assert_eq!(removed["items"], json!([{ "type": "user", "id": "alice" }]));
    let members = assert_ok(
        &w.bot
            .get(&w.app, &format!("/v7/chats/{room}/members"))
            .await,
        "members",
    );
    assert_eq!(
        members["items"],
        json!([{ "type": "sp", "id": w.seed.bot["spid"], "role": "owner" }])
    );

    let before = fingerprint(&w.app).await;
    for (name, body, status, c) in [
        (
            "both shapes",
            json!({ "members": [{ "type": "user", "id": "bob" }], "account_id_list": [{ "account_id": "bob" }] }),
            400,
            400_001,
        ),
        ("neither", json!({}), 400, 400_001),
        (
            "an empty list",
            json!({ "account_id_list": [] }),
            400,
            400_001,
        ),
        (
            "an unknown account",
            json!({ "account_id_list": [{ "account_id": "nobody" }] }),
            404,
            404_003,
        ),
        (
            "an entry without account_id",
            json!({ "account_id_list": [{ "id": "bob" }] }),
            400,
            400_001,
        ),
    ] {
        assert_fails(&w.bot.post(&w.app, &add, &body).await, status, c, name);
        assert_fails(&w.bot.post(&w.app, &del, &body).await, status, c, name);
    }
    assert_eq!(fingerprint(&w.app).await, before, "nothing written");

    // Chat creation takes account_id_list too, beside members.
    let both = assert_ok(
        &w.bot
            .post(
                &w.app,
                "/v7/chats/create",
                &json!({ "name": "Both", "members": [{ "type": "user", "id": "alice" }], "account_id_list": [{ "account_id": "bob" }] }),
            )
            .await,
        "create with account_id_list",
    );
    let both = both["id"].as_str().unwrap();
    let members = assert_ok(
        &w.bot
            .get(&w.app, &format!("/v7/chats/{both}/members"))
            .await,
        "members",
    );
    let mut ids: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let spid = w.seed.bot["spid"].as_str().unwrap();
    let mut expected = vec!["alice", "bob", spid];
    expected.sort_unstable();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_reply_without_type_is_text() {
    let w = world().await;
    let parent = w
        .bot
        .send_text(&w.app, ("chat", &w.group), "question")
        .await;
    let d = assert_ok(
        &w.bot
            .post(
                &w.app,
                &format!("/v7/chats/{}/messages/{parent}/reply", w.group),
                &json!({ "content": { "text": { "content": "answer" } } }),
            )
            .await,
        "reply",
    );
    assert_eq!(d["type"], "text");
    let m = assert_ok(
        &w.bot
            .get_message(&w.app, &w.group, d["message_id"].as_str().unwrap())
            .await,
        "get",
    );
    assert_eq!(m["quote_msg_id"], parent.as_str());
    assert_eq!(m["type"], "text");
    assert_eq!(m["content"]["text"]["content"], "answer");
    // Without type, the content must still be text.
    assert_fails(
        &w.bot
            .post(
                &w.app,
                &format!("/v7/chats/{}/messages/{parent}/reply", w.group),
                &json!({ "content": { "image": { "storage_key": "k" } } }),
            )
            .await,
        400,
        400_001,
        "image content without type",
    );
}

// ----- user-context tokens -----------------------------------------------------------------

#[tokio::test]
async fn a_user_token_acts_as_that_user() {
    let w = world().await;
    let bob = WpsUser::connect(&w.app, &w.seed.tenant, "bob").await;
    let t = WpsUser::agent_token(&w.app, &bob.sid).await;
    assert_eq!(t.body["token_type"], "bearer");
    assert_eq!(t.body["expires_in"], 7200);
    assert_eq!(
        t.headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    // Bob is in the group only (the p2p chat is the bot's with alice).
    let list = assert_ok(&bob.get(&w.app, "/v7/chats").await, "list");
    assert_eq!(
        list["items"],
        json!([assert_ok(
            &w.bot.get(&w.app, &format!("/v7/chats/{}", w.group)).await,
            "info"
        )])
    );
    let from_bot = w.bot.send_text(&w.app, ("chat", &w.group), "hi bob").await;
    let m = assert_ok(
        &bob.get(
            &w.app,
            &format!("/v7/chats/{}/messages/{from_bot}", w.group),
        )
        .await,
        "read the group",
    );
    assert_eq!(m["content"]["text"]["content"], "hi bob");
    let p2p_msg = w.bot.send_text(&w.app, ("chat", &w.p2p), "for alice").await;
    assert_fails(
        &bob.get(&w.app, &format!("/v7/chats/{}/messages/{p2p_msg}", w.p2p))
            .await,
        403,
        403_003,
        "someone else's p2p",
    );
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
    assert_fails(
        &bob.get(&w.app, &format!("/v7/chats/{}", wps_id(&closed)))
            .await,
        403,
        403_002,
        "a group bob is not in",
    );
    assert_fails(
        &bob.get(&w.app, &format!("/v7/chats/{}/messages", wps_id(&closed)))
            .await,
        403,
        403_002,
        "its history",
    );

    // Bob sends as himself, Bearer-only: no KSO-1 headers.
    let sent = assert_ok(
        &bob.post(
            &w.app,
            "/v7/messages/batch_create",
            &json!({ "type": "text", "receivers": [{ "type": "chat", "receiver_ids": [w.group] }], "content": { "text": { "content": "from bob" } } }),
        )
        .await,
        "send",
    );
    let m = assert_ok(
        &w.bot
            .get_message(&w.app, &w.group, sent["message_id"].as_str().unwrap())
            .await,
        "the bot reads bob's message",
    );
    assert_eq!(m["sender"]["type"], "user");
    assert_eq!(m["sender"]["id"], "bob");
    let reply = assert_ok(
        &bob.post(
            &w.app,
            &format!("/v7/chats/{}/messages/{from_bot}/reply", w.group),
            &json!({ "content": { "text": { "content": "thanks" } } }),
        )
        .await,
        "reply",
    );
    let rid = reply["message_id"].as_str().unwrap();
    assert_ok(
        &bob.post(&w.app, &format!("/v7/messages/{rid}/recall"), &json!({}))
            .await,
        "recall his own",
    );
    assert_fails(
        &bob.post(
            &w.app,
            &format!("/v7/messages/{from_bot}/recall"),
            &json!({}),
        )
        .await,
        403,
        403_005,
        "recall the bot's",
    );
    // A plain member (not the owner) may not rename the group.
    assert_fails(
        &bob.post(
            &w.app,
            &format!("/v7/chats/{}/update", w.group),
            &json!({ "name": "Mine" }),
        )
        .await,
        403,
        403_005,
        "rename",
    );
    // Alice owns the group: her token renames it.
    let alice = WpsUser::connect(&w.app, &w.seed.tenant, "alice").await;
    assert_ok(
        &alice
            .post(
                &w.app,
                &format!("/v7/chats/{}/update", w.group),
                &json!({ "name": "Renamed" }),
            )
            .await,
        "owner renames",
    );
    let members = assert_ok(
        &bob.get(&w.app, &format!("/v7/chats/{}/members", w.group))
            .await,
        "members",
    );
    assert_eq!(members["items"].as_array().unwrap().len(), 3);

    // An app token without KSO-1 is still refused: only user tokens skip the signature.
    let unsigned = w
        .app
        .http
        .get(w.app.url("/v7/chats"))
        .bearer_auth(&w.bot.token)
        .send()
        .await
        .unwrap();
    let unsigned = Reply::from(unsigned).await;
    assert_fails(&unsigned, 401, 401_011, "app token without KSO-1");
}

#[tokio::test]
async fn bad_sids_and_tokens_are_refused() {
    let w = world().await;
    let (other, _, _) = other_tenant(&w.app).await;
    let sid = WpsUser::connect(&w.app, &w.seed.tenant, "bob").await.sid;

    assert_fails(
        &WpsUser::agent_token(&w.app, "").await,
        401,
        401_001,
        "no cookie",
    );
    let mut forged = sid.clone().into_bytes();
    let i = 4 + 31;
    forged[i] = if forged[i] == b'a' { b'b' } else { b'a' };
    let forged = String::from_utf8(forged).unwrap();
    assert_fails(
        &WpsUser::agent_token(&w.app, &forged).await,
        401,
        401_002,
        "forged",
    );
    assert_fails(
        &WpsUser::agent_token(&w.app, "V02Sgarbage").await,
        401,
        401_002,
        "garbage",
    );
    // Signed with another server's key.
    let tenant = TenantId(w.seed.tenant["id"].as_i64().unwrap());
    let bob_id = UserId(w.seed.bob["id"].as_i64().unwrap());
    let far = i64::MAX / 2;
    let foreign =
        SidKey::from_admin_token("some-other-admin-token-000").issue_sid(tenant, bob_id, far);
    assert_fails(
        &WpsUser::agent_token(&w.app, &foreign).await,
        401,
        401_002,
        "another key",
    );
    // Correctly signed, but naming Acme with the other tenant's user: no such user there.
    let key = SidKey::from_admin_token(&w.app.admin_token);
    let carol = w
        .app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/users/carol", other["id"]),
            None,
        )
        .await;
    let crossed = key.issue_sid(tenant, UserId(carol["id"].as_i64().unwrap()), far);
    assert_fails(
        &WpsUser::agent_token(&w.app, &crossed).await,
        401,
        401_002,
        "another tenant's user",
    );
    // A token (not a sid) as the cookie, and a sid as the Bearer token.
    let user = WpsUser::connect(&w.app, &w.seed.tenant, "bob").await;
    assert_fails(
        &WpsUser::agent_token(&w.app, &user.token).await,
        401,
        401_002,
        "token as sid",
    );
    let as_bearer = WpsUser {
        sid: sid.clone(),
        token: sid.clone(),
    };
    assert_fails(
        &as_bearer.get(&w.app, "/v7/chats").await,
        401,
        401_002,
        "sid as token",
    );
    let mut bad_token = user.token.clone().into_bytes();
    let j = bad_token.len() - 1;
    bad_token[j] = if bad_token[j] == b'0' { b'1' } else { b'0' };
    let bad = WpsUser {
        sid: sid.clone(),
        token: String::from_utf8(bad_token).unwrap(),
    };
    assert_fails(
        &bad.get(&w.app, "/v7/chats").await,
        401,
        401_002,
        "forged token",
    );

    // A short sid: its token dies with it, and then the sid itself is refused.
    let r = WpsUser::issue_sid(
        &w.app,
        &w.seed.tenant,
        "bob",
        Some(json!({ "ttl_secs": 60 })),
    )
    .await;
    let short = r.body["wps_sid"].as_str().unwrap().to_string();
    let t = WpsUser::agent_token(&w.app, &short).await;
    assert_eq!(t.body["expires_in"], 60, "{}", t.text);
    let short_user = WpsUser {
        sid: short.clone(),
        token: t.body["access_token"].as_str().unwrap().to_string(),
    };
    assert_ok(&short_user.get(&w.app, "/v7/chats").await, "before expiry");
    w.clock.advance_ms(60_000);
    assert_fails(
        &short_user.get(&w.app, "/v7/chats").await,
        401,
        401_003,
        "token expired",
    );
    assert_fails(
        &WpsUser::agent_token(&w.app, &short).await,
        401,
        401_003,
        "sid expired",
    );
    // The long sid still works, and its fresh tokens last token_ttl_secs.
    assert_eq!(
        assert_ok_token(&WpsUser::agent_token(&w.app, &sid).await),
        7200
    );
    w.clock.advance_ms(7_200_000);
    assert_fails(
        &user.get(&w.app, "/v7/chats").await,
        401,
        401_003,
        "an old token",
    );
}

fn assert_ok_token(r: &Reply) -> i64 {
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert!(r.body["access_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    r.body["expires_in"].as_i64().unwrap()
}

#[tokio::test]
async fn a_sid_survives_a_restart() {
    let w = world().await;
    let user = WpsUser::connect(&w.app, &w.seed.tenant, "bob").await;
    let group = w.group.clone();
    let app = w.app.restart().await;
    assert_ok_token(&WpsUser::agent_token(&app, &user.sid).await);
    let list = assert_ok(
        &user.get(&app, "/v7/chats").await,
        "old token after restart",
    );
    assert_eq!(list["items"][0]["id"], group.as_str());
}

#[tokio::test]
async fn issuing_a_sid_needs_the_admin_token() {
    let w = world().await;
    let path = format!(
        "/admin/v1/tenants/{}/users/bob/wps_sid",
        w.seed.tenant["id"]
    );
    let none = Reply::from(w.app.http.post(w.app.url(&path)).send().await.unwrap()).await;
    assert_eq!(none.status, 401, "{}", none.text);
    assert_eq!(none.body["code"], "unauthorized");
    let wrong = Reply::from(
        w.app
            .http
            .post(w.app.url(&path))
            .bearer_auth("not-the-admin-token-at-all")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(wrong.body.get("wps_sid").is_none());
    // With it: exactly `{"wps_sid"}`, by user_id or canonical id.
    let ok = WpsUser::issue_sid(&w.app, &w.seed.tenant, "bob", None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let keys: Vec<&String> = ok.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["wps_sid"]);
    let by_id =
        WpsUser::issue_sid(&w.app, &w.seed.tenant, &w.seed.bob["id"].to_string(), None).await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    assert_ok_token(&WpsUser::agent_token(&w.app, by_id.body["wps_sid"].as_str().unwrap()).await);
    for (name, user, body, status) in [
        ("unknown user", "nobody", None, 404),
        ("ttl 0", "bob", Some(json!({ "ttl_secs": 0 })), 400),
        (
            "ttl over a year",
            "bob",
            Some(json!({ "ttl_secs": 366 * 86_400 })),
            400,
        ),
        ("unknown field", "bob", Some(json!({ "ttl": 5 })), 400),
    ] {
        let r = WpsUser::issue_sid(&w.app, &w.seed.tenant, user, body).await;
        assert_eq!(r.status.as_u16(), status, "{name}: {}", r.text);
        assert!(r.body["code"].is_string(), "{name}: the admin envelope");
    }
    let r = WpsUser::issue_sid(&w.app, &json!({ "id": 999_999 }), "bob", None).await;
    assert_eq!(r.status, 404, "unknown tenant: {}", r.text);
}
