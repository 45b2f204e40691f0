//! Feishu/Lark (and Hi) history, chats and members calls, over real HTTP and a real store
//! (SQLite by default; `SWITCHBOARD_TEST_STORE=postgres` for PostgreSQL).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::ids::{AppId, ChatId, UserId};
use switchboard_core::ManualClock;
use switchboard_dialect_lark::ids;
use switchboard_testkit::lark::{has_more, page_texts as texts, page_token as token, Face, Lark};
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
fn code(r: &Reply) -> i64 {
    r.body["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no code in {}", r.text))
}
fn assert_ok(r: &Reply) {
    assert_eq!(code(r), 0, "{}", r.text);
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
fn assert_refused(r: &Reply, expected: i64) {
    assert_eq!(code(r), expected, "{}", r.text);
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}
async fn get(fs: &Lark<'_>, path: &str) -> Reply {
    fs.call(Method::GET, path, None).await
}
/// A group created by the bot through the API, with `users` (open_ids) in it.
async fn bot_group(fs: &Lark<'_>, name: &str, users: &[String]) -> String {
    let r = fs
        .call(
            Method::POST,
            "/chats",
            Some(json!({ "name": name, "user_id_list": users })),
        )
        .await;
    assert_ok(&r);
    r.body["data"]["chat_id"].as_str().unwrap().to_string()
}
async fn reply_in_thread(fs: &Lark<'_>, parent: &str, text: &str) -> Value {
    let body = json!({ "msg_type": "text", "content": json!({ "text": text }).to_string(), "reply_in_thread": true });
    let r = fs
        .call(
            Method::POST,
            &format!("/messages/{parent}/reply"),
            Some(body),
        )
        .await;
    assert_ok(&r);
    r.body["data"].clone()
}
async fn set_scopes(app: &TestApp, seed: &Seed, bot: &Value, scopes: &[&str]) {
    app.admin_ok(
        Method::PUT,
        &format!("/tenants/{}/apps/{}", seed.tenant["id"], bot["id"]),
        Some(json!({ "scopes": scopes })),
    )
    .await;
}
/// A second tenant with its own bot in its own group.
async fn other_tenant(app: &TestApp) -> (Value, Value) {
    let t = app.create_tenant("Other").await;
    let carol = app.create_user(&t, "Carol", "carol").await;
    let bot = app.create_app(&t, "Other bot").await;
    let group = app
        .create_chat(
            &t,
            "group",
            Some("Elsewhere"),
            ("user", &carol["id"]),
            &[("app", &bot["id"])],
        )
        .await;
    (bot, group)
}

// ----- history ------------------------------------------------------------------------------

#[tokio::test]
async fn history_pages_in_both_orders_across_a_send() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    for i in 1..=5 {
        fs.send_text(&group, &format!("m{i}")).await;
    }
    let base = format!("container_id_type=chat&container_id={group}&page_size=2");

    let p1 = fs.history(&base).await;
    assert_ok(&p1);
    assert_eq!(texts(&p1), ["m1", "m2"]);
    assert!(has_more(&p1));
    let item = &p1.body["data"]["items"][0];
    assert_eq!(item["chat_id"], group.as_str());
    assert_eq!(item["msg_type"], "text");
    assert_eq!(item["sender"]["id"], seed.app_id());
    assert!(item["message_id"].as_str().unwrap().starts_with("om_"));
    // Sent between two pages: it lands at the end, and no page shifts.
    fs.send_text(&group, "m6").await;
    let p2 = fs
        .history(&format!("{base}&page_token={}", token(&p1)))
        .await;
    assert_eq!(texts(&p2), ["m3", "m4"]);
    let p3 = fs
        .history(&format!("{base}&page_token={}", token(&p2)))
        .await;
    assert_eq!(texts(&p3), ["m5", "m6"]);
    assert!(!has_more(&p3));
    assert_eq!(token(&p3), "");

    let desc = format!("{base}&sort_type=ByCreateTimeDesc");
    let d1 = fs.history(&desc).await;
    assert_eq!(texts(&d1), ["m6", "m5"]);
    fs.send_text(&group, "m7").await;
    let d2 = fs
        .history(&format!("{desc}&page_token={}", token(&d1)))
        .await;
    assert_eq!(
        texts(&d2),
        ["m4", "m3"],
        "a newer send does not enter older pages"
    );
    let d3 = fs
        .history(&format!("{desc}&page_token={}", token(&d2)))
        .await;
    assert_eq!(texts(&d3), ["m2", "m1"]);
    assert!(!has_more(&d3));

    // A token of one order is refused by the other.
    let r = fs
        .history(&format!("{base}&page_token={}", token(&d1)))
        .await;
    assert_refused(&r, 230001);

    // The default page is 20; Hi answers the same list in its envelope.
    let all = fs
        .history(&format!("container_id_type=chat&container_id={group}"))
        .await;
    assert_eq!(texts(&all).len(), 7);
    let hi = fs.with_face(Face::Hi);
    let h = hi
        .history(&format!("container_id_type=chat&container_id={group}"))
        .await;
    assert_ok(&h);
    assert_eq!(h.body["success"], true);
    assert_eq!(texts(&h), texts(&all));
}

#[tokio::test]
async fn history_time_window() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let mut secs = vec![];
    for t in ["early", "middle", "late"] {
        let r = fs.send(&group, "text", json!({ "text": t })).await;
        assert_ok(&r);
        let ms: i64 = r.body["data"]["create_time"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        secs.push(ms / 1000);
        clock.advance_ms(10_000);
    }
    let base = format!("container_id_type=chat&container_id={group}");
    let r = fs
        .history(&format!("{base}&start_time={0}&end_time={0}", secs[1]))
        .await;
    assert_eq!(
        texts(&r),
        ["middle"],
        "both bounds inclusive, to the second"
    );
    let r = fs.history(&format!("{base}&start_time={}", secs[1])).await;
    assert_eq!(texts(&r), ["middle", "late"]);
    let r = fs
        .history(&format!(
            "{base}&end_time={}&sort_type=ByCreateTimeDesc",
            secs[1]
        ))
        .await;
    assert_eq!(texts(&r), ["middle", "early"]);
    let r = fs
        .history(&format!("{base}&start_time={}", secs[2] + 1))
        .await;
    assert_ok(&r);
    assert!(texts(&r).is_empty());
    assert!(!has_more(&r));
    let r = fs
        .history(&format!(
            "{base}&start_time={}&end_time={}",
            secs[2], secs[0]
        ))
        .await;
    assert_refused(&r, 230001);
    let r = fs.history(&format!("{base}&start_time=yesterday")).await;
    assert_refused(&r, 230001);
}

#[tokio::test]
async fn thread_history_and_the_chat_shows_only_its_root() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let root = fs.send_text(&group, "root").await;
    let first = reply_in_thread(&fs, &root, "r1").await;
    let thread = first["thread_id"].as_str().expect("thread_id").to_string();
    fs.send_text(&group, "outside").await;
    reply_in_thread(&fs, &root, "r2").await;

    let t = format!("container_id_type=thread&container_id={thread}");
    let r = fs.history(&t).await;
    assert_ok(&r);
    assert_eq!(texts(&r), ["root", "r1", "r2"]);
    assert_eq!(r.body["data"]["items"][1]["thread_id"], thread.as_str());
    let r = fs
        .history(&format!("{t}&sort_type=ByCreateTimeDesc&page_size=2"))
        .await;
    assert_eq!(texts(&r), ["r2", "r1"]);
    assert!(has_more(&r));
    let r2 = fs
        .history(&format!(
            "{t}&sort_type=ByCreateTimeDesc&page_size=2&page_token={}",
            token(&r)
        ))
        .await;
    assert_eq!(texts(&r2), ["root"]);
    // A thread's token does not page the chat.
    let c = format!("container_id_type=chat&container_id={group}");
    let bad = fs.history(&format!("{c}&page_token={}", token(&r))).await;
    assert_refused(&bad, 230001);

    let r = fs.history(&c).await;
    assert_eq!(
        texts(&r),
        ["root", "outside"],
        "thread replies stay in their thread"
    );
}

#[tokio::test]
async fn history_refusals() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    fs.send_text(&group, "hello").await;
    let c = format!("container_id_type=chat&container_id={group}");
    for (what, query) in [
        ("garbage token", format!("{c}&page_token=garbage")),
        ("forged token", format!("{c}&page_token={}", "0".repeat(32))),
        ("page_size 0", format!("{c}&page_size=0")),
        ("page_size 51", format!("{c}&page_size=51")),
        ("page_size text", format!("{c}&page_size=ten")),
        ("sort_type", format!("{c}&sort_type=ByName")),
        (
            "container_id_type",
            format!("container_id_type=user&container_id={group}"),
        ),
        ("no container_id_type", format!("container_id={group}")),
        ("no container_id", "container_id_type=chat".to_string()),
        (
            "malformed chat",
            "container_id_type=chat&container_id=oc_zz".to_string(),
        ),
        (
            "a chat id as a thread",
            format!("container_id_type=thread&container_id={group}"),
        ),
        ("user_id_type", format!("{c}&user_id_type=email")),
    ] {
        let r = fs.history(&query).await;
        assert_refused(&r, 230001);
        assert!(
            r.body["msg"].as_str().unwrap().contains("ext="),
            "{what}: {}",
            r.text
        );
    }

    // Another chat's token is not this chat's.
    let other = bot_group(&fs, "Other", &[]).await;
    fs.send_text(&other, "a").await;
    fs.send_text(&other, "b").await;
    let p = fs
        .history(&format!(
            "container_id_type=chat&container_id={other}&page_size=1"
        ))
        .await;
    assert!(has_more(&p));
    let r = fs.history(&format!("{c}&page_token={}", token(&p))).await;
    assert_refused(&r, 230001);

    // An app of the tenant that is not in the chat is refused.
    let outsider = app.create_app(&seed.tenant, "Outsider").await;
    let out = Lark::login_as(&app, &outsider, Face::Feishu).await;
    let r = out.history(&c).await;
    assert_refused(&r, 230002);

    // Another tenant's chat is not found, whether or not its bot is in it.
    let (their_bot, their_group) = other_tenant(&app).await;
    let them = Lark::login_as(&app, &their_bot, Face::Feishu).await;
    let r = them.history(&c).await;
    assert_refused(&r, 230001);
    assert!(
        r.body["msg"]
            .as_str()
            .unwrap()
            .contains("container_id not found"),
        "{}",
        r.text
    );
    let r = fs
        .history(&format!(
            "container_id_type=chat&container_id={}",
            oc(&their_group)
        ))
        .await;
    assert_refused(&r, 230001);

    // The history scope alone is enough; a chat scope is not.
    set_scopes(&app, &seed, &seed.bot, &["im:message.history:readonly"]).await;
    assert_ok(&fs.history(&c).await);
    set_scopes(&app, &seed, &seed.bot, &["im:chat"]).await;
    let r = fs.history(&c).await;
    assert_eq!(code(&r), 99991672, "{}", r.text);
}

// ----- chats ----------------------------------------------------------------------------------

#[tokio::test]
async fn chats_list_only_the_apps_groups_and_pages() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let mut mine = vec![oc(&seed.group)];
    for n in ["A", "B", "C"] {
        mine.push(bot_group(&fs, n, &[ou(&seed.alice, &seed.bot)]).await);
    }
    // A group without the bot, and a dissolved one with it, are not listed.
    app.create_chat(
        &seed.tenant,
        "group",
        Some("Private"),
        ("user", &seed.alice["id"]),
        &[("user", &seed.bob["id"])],
    )
    .await;
    let gone = bot_group(&fs, "Gone", &[]).await;
    assert_ok(
        &fs.call(Method::DELETE, &format!("/chats/{gone}"), None)
            .await,
    );

    let mut seen = vec![];
    let mut query = "page_size=3".to_string();
    loop {
        let r = get(&fs, &format!("/chats?{query}")).await;
        assert_ok(&r);
        for i in r.body["data"]["items"].as_array().unwrap() {
            assert!(i["chat_id"].as_str().unwrap().starts_with("oc_"));
            assert_eq!(i["external"], false);
            seen.push(i["chat_id"].as_str().unwrap().to_string());
        }
        if !has_more(&r) {
            break;
        }
        query = format!("page_size=3&page_token={}", token(&r));
    }
    assert_eq!(
        seen, mine,
        "groups only (no p2p), in creation order, each once"
    );
    let first = get(&fs, "/chats").await;
    let general = &first.body["data"]["items"][0];
    assert_eq!(general["name"], "General");
    assert_eq!(general["owner_id"], ou(&seed.alice, &seed.bot).as_str());
    assert_eq!(general["owner_id_type"], "open_id");
    let by_union = get(&fs, "/chats?user_id_type=union_id").await;
    assert_eq!(
        by_union.body["data"]["items"][0]["owner_id"],
        ids::union_id(UserId(num(&seed.alice))).as_str()
    );

    // Another app's token, or a bad page size, sort or id type, is refused.
    let p = get(&fs, "/chats?page_size=1").await;
    let other = app.create_app(&seed.tenant, "Second").await;
    let second = Lark::login_as(&app, &other, Face::Feishu).await;
    let r = get(&second, &format!("/chats?page_token={}", token(&p))).await;
    assert_refused(&r, 232001);
    let r = get(&second, "/chats").await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["items"], json!([]));
    assert_refused(&get(&fs, "/chats?page_size=101").await, 232001);
    assert_refused(&get(&fs, "/chats?sort_type=ByName").await, 232001);
    assert_refused(&get(&fs, "/chats?user_id_type=email").await, 232015);
    assert_ok(&get(&fs, "/chats?sort_type=ByActiveTimeDesc").await);
    // Through Hi too.
    let h = get(&fs.with_face(Face::Hi), "/chats").await;
    assert_ok(&h);
    assert_eq!(h.body["data"]["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn get_update_transfer_and_dissolve() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let general = oc(&seed.group);
    let alice = ou(&seed.alice, &seed.bot);
    let bob = ou(&seed.bob, &seed.bot);

    let r = get(&fs, &format!("/chats/{general}")).await;
    assert_ok(&r);
    let d = &r.body["data"];
    assert_eq!(d["name"], "General");
    assert_eq!(d["owner_id"], alice.as_str());
    assert_eq!(d["user_count"], "2");
    assert_eq!(d["bot_count"], "1");
    assert_eq!(d["chat_mode"], "group");
    assert_eq!(
        d["tenant_key"],
        ids::tenant_key(switchboard_core::ids::TenantId(num(&seed.tenant))).as_str()
    );
    let r = get(&fs, &format!("/chats/{}", oc(&seed.p2p))).await;
    assert_eq!(r.body["data"]["chat_mode"], "p2p", "{}", r.text);

    // A plain member may not edit or dissolve.
    let r = fs
        .call(
            Method::PUT,
            &format!("/chats/{general}"),
            Some(json!({ "name": "Renamed" })),
        )
        .await;
    assert_refused(&r, 232002);
    assert_refused(
        &fs.call(Method::DELETE, &format!("/chats/{general}"), None)
            .await,
        232017,
    );
    assert_eq!(
        get(&fs, &format!("/chats/{general}")).await.body["data"]["name"],
        "General"
    );
    // Nor change a p2p chat.
    let r = fs
        .call(
            Method::PUT,
            &format!("/chats/{}", oc(&seed.p2p)),
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_refused(&r, 232008);

    // The owner renames and describes its group, then hands it to a member.
    let mine = bot_group(&fs, "Mine", std::slice::from_ref(&alice)).await;
    let r = fs
        .call(
            Method::PUT,
            &format!("/chats/{mine}"),
            Some(json!({ "name": "Ours", "description": "for us", "avatar": "ignored" })),
        )
        .await;
    assert_ok(&r);
    let d = get(&fs, &format!("/chats/{mine}")).await.body["data"].clone();
    assert_eq!(
        (d["name"].as_str(), d["description"].as_str()),
        (Some("Ours"), Some("for us"))
    );
    assert_eq!(d["owner_id"], seed.app_id());
    assert_eq!(d["owner_id_type"], "app_id");
    let put = |body: Value| {
        let fs = &fs;
        let mine = mine.clone();
        async move {
            fs.call(Method::PUT, &format!("/chats/{mine}"), Some(body))
                .await
        }
    };
    assert_refused(&put(json!({ "owner_id": bob })).await, 232012);
    assert_refused(&put(json!({ "owner_id": "ou_nobody" })).await, 232030);
    assert_refused(&put(json!({ "name": "   " })).await, 232001);
    assert_refused(
        &put(json!({ "description": "x".repeat(1025) })).await,
        232001,
    );
    assert_ok(&put(json!({ "owner_id": alice })).await);
    let d = get(&fs, &format!("/chats/{mine}")).await.body["data"].clone();
    assert_eq!(d["owner_id"], alice.as_str());
    assert_eq!(d["owner_id_type"], "open_id");
    assert_refused(&put(json!({ "name": "Mine again" })).await, 232002);
    // By user_id, through Hi.
    let theirs = bot_group(&fs, "Theirs", std::slice::from_ref(&alice)).await;
    set_scopes(
        &app,
        &seed,
        &seed.bot,
        &["im:chat", "im:message", "contact:user.employee_id:readonly"],
    )
    .await;
    let r = fs
        .with_face(Face::Hi)
        .call(
            Method::PUT,
            &format!("/chats/{theirs}?user_id_type=user_id"),
            Some(json!({ "owner_id": "alice" })),
        )
        .await;
    assert_ok(&r);
    let r = get(&fs, &format!("/chats/{theirs}?user_id_type=user_id")).await;
    assert_eq!(r.body["data"]["owner_id"], "alice", "{}", r.text);

    // Dissolve, then every group call on it answers 232009.
    let doomed = bot_group(&fs, "Doomed", std::slice::from_ref(&alice)).await;
    fs.send_text(&doomed, "before").await;
    assert_ok(
        &fs.call(Method::DELETE, &format!("/chats/{doomed}"), None)
            .await,
    );
    assert_refused(&get(&fs, &format!("/chats/{doomed}")).await, 232009);
    let r = fs
        .history(&format!("container_id_type=chat&container_id={doomed}"))
        .await;
    assert_eq!(
        texts(&r),
        ["before"],
        "its history stays readable: {}",
        r.text
    );
    let r = fs
        .call(
            Method::PUT,
            &format!("/chats/{doomed}"),
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_refused(&r, 232009);
    assert_refused(
        &fs.call(Method::DELETE, &format!("/chats/{doomed}"), None)
            .await,
        232009,
    );
    assert_refused(&get(&fs, &format!("/chats/{doomed}/members")).await, 232009);

    // Malformed, unknown and foreign chat ids are all 232006; a non-member gets 232011.
    assert_refused(&get(&fs, "/chats/oc_zz").await, 232006);
    let (their_bot, their_group) = other_tenant(&app).await;
    assert_refused(
        &get(&fs, &format!("/chats/{}", oc(&their_group))).await,
        232006,
    );
    let them = Lark::login_as(&app, &their_bot, Face::Feishu).await;
    assert_refused(&get(&them, &format!("/chats/{general}")).await, 232006);
    let r = them
        .call(Method::DELETE, &format!("/chats/{general}"), None)
        .await;
    assert_refused(&r, 232006);
    let outsider = app.create_app(&seed.tenant, "Outsider").await;
    let out = Lark::login_as(&app, &outsider, Face::Feishu).await;
    assert_refused(&get(&out, &format!("/chats/{general}")).await, 232011);
    let r = out
        .call(
            Method::PUT,
            &format!("/chats/{general}"),
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_refused(&r, 232011);
}

// ----- members --------------------------------------------------------------------------------

#[tokio::test]
async fn members_list_add_remove_and_is_in_chat() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let alice = ou(&seed.alice, &seed.bot);
    let bob = ou(&seed.bob, &seed.bot);
    let mine = bot_group(&fs, "Mine", std::slice::from_ref(&alice)).await;
    let members = |q: &str| {
        let fs = &fs;
        let path = format!("/chats/{mine}/members{q}");
        async move { get(fs, &path).await }
    };

    let r = members("").await;
    assert_ok(&r);
    assert_eq!(
        r.body["data"]["member_total"], 1,
        "bots are not listed: {}",
        r.text
    );
    let i = &r.body["data"]["items"][0];
    assert_eq!(i["member_id"], alice.as_str());
    assert_eq!(i["member_id_type"], "open_id");
    assert_eq!(i["name"], "Alice");

    // Add: unusable ids are reported in the vendor's lists.
    let foreign = ids::open_id(UserId(num(&seed.bob)), AppId(num(&seed.bot) + 1000));
    let missing = ids::open_id(UserId(999_999), AppId(num(&seed.bot)));
    let r = fs
        .call(
            Method::POST,
            &format!("/chats/{mine}/members?succeed_type=1"),
            Some(json!({ "id_list": [bob, foreign, missing] })),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["invalid_id_list"], json!([foreign]));
    assert_eq!(r.body["data"]["not_existed_id_list"], json!([missing]));
    assert_eq!(r.body["data"]["pending_approval_id_list"], json!([]));

    // Two users now, one per page.
    let p1 = members("?page_size=1").await;
    assert_eq!(p1.body["data"]["member_total"], 2);
    assert!(has_more(&p1));
    let p2 = members(&format!("?page_size=1&page_token={}", token(&p1))).await;
    assert!(!has_more(&p2));
    let mut ids_seen = vec![
        p1.body["data"]["items"][0]["member_id"].clone(),
        p2.body["data"]["items"][0]["member_id"].clone(),
    ];
    ids_seen.sort_by_key(|v| v.as_str().unwrap().to_string());
    let mut want = vec![json!(alice), json!(bob)];
    want.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(ids_seen, want);
    let r = members("?member_id_type=union_id").await;
    assert_eq!(r.body["data"]["items"][0]["member_id_type"], "union_id");
    assert!(r.body["data"]["items"][0]["member_id"]
        .as_str()
        .unwrap()
        .starts_with("on_"));
    assert_refused(&members("?member_id_type=email").await, 232015);
    assert_refused(&members("?page_size=0").await, 232001);
    assert_refused(&members("?page_token=nope").await, 232001);
    // A token of another chat's list is refused.
    let general_page = get(
        &fs,
        &format!("/chats/{}/members?page_size=1", oc(&seed.group)),
    )
    .await;
    assert!(has_more(&general_page));
    assert_refused(
        &members(&format!("?page_token={}", token(&general_page))).await,
        232001,
    );

    let in_chat = |path: String| {
        let fs = &fs;
        async move { get(fs, &path).await.body["data"]["is_in_chat"].clone() }
    };
    assert_eq!(
        in_chat(format!("/chats/{mine}/members/is_in_chat")).await,
        true
    );

    // Remove: ids that are unusable or name no member come back in invalid_id_list.
    let remove = |ids: Value, q: &str| {
        let fs = &fs;
        let path = format!("/chats/{mine}/members{q}");
        async move {
            fs.call(Method::DELETE, &path, Some(json!({ "id_list": ids })))
                .await
        }
    };
    let r = remove(json!([bob, "ou_bad"]), "").await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["invalid_id_list"], json!(["ou_bad"]));
    assert_eq!(members("").await.body["data"]["member_total"], 1);
    let r = remove(json!([bob]), "").await;
    assert_eq!(
        r.body["data"]["invalid_id_list"],
        json!([bob]),
        "{}",
        r.text
    );
    // The owner stays, and a request naming it removes nobody.
    let r = remove(json!([seed.app_id()]), "?member_id_type=app_id").await;
    assert_refused(&r, 232076);
    assert_ok(
        &fs.call(
            Method::POST,
            &format!("/chats/{mine}/members"),
            Some(json!({ "id_list": [bob] })),
        )
        .await,
    );
    let r = remove(json!([bob]), "").await;
    assert_eq!(r.body["data"]["invalid_id_list"], json!([]), "{}", r.text);
    assert_refused(&remove(json!([]), "").await, 232001);
    assert_refused(
        &remove(json!([alice]), "?member_id_type=email").await,
        232015,
    );
    assert_eq!(members("").await.body["data"]["member_total"], 1);

    // A plain member may list but not remove; a non-member may do neither.
    let general = oc(&seed.group);
    assert_ok(&get(&fs, &format!("/chats/{general}/members")).await);
    let r = fs
        .call(
            Method::DELETE,
            &format!("/chats/{general}/members"),
            Some(json!({ "id_list": [bob] })),
        )
        .await;
    assert_refused(&r, 232014);
    let outsider = app.create_app(&seed.tenant, "Outsider").await;
    let out = Lark::login_as(&app, &outsider, Face::Feishu).await;
    assert_refused(
        &get(&out, &format!("/chats/{general}/members")).await,
        232011,
    );
    assert_eq!(
        in_chat(format!("/chats/{general}/members/is_in_chat")).await,
        true
    );
    let r = get(&out, &format!("/chats/{general}/members/is_in_chat")).await;
    assert_eq!(r.body["data"]["is_in_chat"], false, "{}", r.text);
    // Another tenant's chat is not found.
    let (_, their_group) = other_tenant(&app).await;
    assert_refused(
        &get(&fs, &format!("/chats/{}/members", oc(&their_group))).await,
        232006,
    );
    let r = get(
        &fs,
        &format!("/chats/{}/members/is_in_chat", oc(&their_group)),
    )
    .await;
    assert_refused(&r, 230001);
    // Hi serves the same list.
    let h = get(&fs.with_face(Face::Hi), &format!("/chats/{mine}/members")).await;
    assert_ok(&h);
    assert_eq!(h.body["data"]["member_total"], 1);
}
