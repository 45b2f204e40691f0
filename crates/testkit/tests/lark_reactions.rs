//! Feishu/Lark (and Hi) reactions, pins and read receipts, over real HTTP and a real store
//! (SQLite by default; `SWITCHBOARD_TEST_STORE=postgres` for PostgreSQL).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::ids::{AppId, ChatId, MessageId, UserId};
use switchboard_core::model::Actor;
use switchboard_core::ManualClock;
use switchboard_dialect_lark::ids;
use switchboard_testkit::lark::{Face, Lark};
use switchboard_testkit::{spawn_app, spawn_app_with, Options, Reply, Seed, TestApp};

// ----- helpers ------------------------------------------------------------------------------

fn num(v: &Value) -> i64 {
    v["id"].as_i64().expect("canonical id")
}
fn oc(chat: &Value) -> String {
    ids::chat_id(ChatId(num(chat)))
}
fn om(message: &Value) -> String {
    ids::message_id(MessageId::from_raw(num(message)).unwrap())
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
fn items(r: &Reply) -> Vec<Value> {
    r.body["data"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .clone()
}
fn field(r: &Reply, name: &str) -> Vec<String> {
    items(r)
        .iter()
        .map(|i| i[name].as_str().unwrap_or_default().to_string())
        .collect()
}
fn page_token(r: &Reply) -> String {
    r.body["data"]["page_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no page_token in {}", r.text))
        .to_string()
}
fn has_more(r: &Reply) -> bool {
    r.body["data"]["has_more"]
        .as_bool()
        .unwrap_or_else(|| panic!("no has_more in {}", r.text))
}

async fn react(fs: &Lark<'_>, message: &str, emoji: &str) -> Reply {
    fs.call(
        Method::POST,
        &format!("/messages/{message}/reactions"),
        Some(json!({ "reaction_type": { "emoji_type": emoji } })),
    )
    .await
}
async fn reactions(fs: &Lark<'_>, message: &str, query: &str) -> Reply {
    fs.call(
        Method::GET,
        &format!("/messages/{message}/reactions?{query}"),
        None,
    )
    .await
}
async fn unreact(fs: &Lark<'_>, message: &str, reaction: &str) -> Reply {
    fs.call(
        Method::DELETE,
        &format!("/messages/{message}/reactions/{reaction}"),
        None,
    )
    .await
}
async fn pin(fs: &Lark<'_>, message: &str) -> Reply {
    fs.call(
        Method::POST,
        "/pins",
        Some(json!({ "message_id": message })),
    )
    .await
}
async fn pins(fs: &Lark<'_>, query: &str) -> Reply {
    fs.call(Method::GET, &format!("/pins?{query}"), None).await
}
async fn read_users(fs: &Lark<'_>, message: &str, query: &str) -> Reply {
    fs.call(
        Method::GET,
        &format!("/messages/{message}/read_users?{query}"),
        None,
    )
    .await
}
async fn mark_read(app: &TestApp, seed: &Seed, user: Value, position: i64) -> Reply {
    app.admin(
        Method::POST,
        &format!(
            "/tenants/{}/chats/{}/read",
            seed.tenant["id"], seed.group["id"]
        ),
        Some(json!({ "user": user, "position": position })),
    )
    .await
}
/// An app of the seed's tenant that is in no chat.
async fn outsider<'a>(app: &'a TestApp, seed: &Seed) -> Lark<'a> {
    let other = app.create_app(&seed.tenant, "Outsider").await;
    Lark::login_as(app, &other, Face::Feishu).await
}
/// A bot of another tenant, in a group of its own.
async fn stranger(app: &TestApp) -> Lark<'_> {
    let t = app.create_tenant("Elsewhere").await;
    let bot = app.create_app(&t, "Stranger").await;
    let u = app.create_user(&t, "Zed", "zed").await;
    app.create_chat(
        &t,
        "group",
        Some("Theirs"),
        ("user", &u["id"]),
        &[("app", &bot["id"])],
    )
    .await;
    Lark::login_as(app, &bot, Face::Feishu).await
}

// ----- reactions ----------------------------------------------------------------------------

#[tokio::test]
async fn reactions_add_list_filter_page_and_delete() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let msg = fs.send_text(&oc(&seed.group), "react to me").await;

    let r = react(&fs, &msg, "SMILE").await;
    assert_ok(&r);
    let d = &r.body["data"];
    let smile = d["reaction_id"].as_str().unwrap().to_string();
    assert_eq!(d["operator"]["operator_id"], seed.bot["app_id"]);
    assert_eq!(d["operator"]["operator_type"], "app");
    assert_eq!(d["reaction_type"]["emoji_type"], "SMILE");
    let at = d["action_time"].as_str().expect("action_time is a string");
    assert!(at.parse::<i64>().unwrap() > 1_600_000_000_000, "{at}");
    // Reacting again with the same type is the same reaction.
    let again = react(&fs, &msg, "SMILE").await;
    assert_ok(&again);
    assert_eq!(again.body["data"]["reaction_id"], smile.as_str());
    let mut ids_in_order = vec![smile.clone()];
    for e in ["THUMBSUP", "OK"] {
        let r = react(&fs, &msg, e).await;
        assert_ok(&r);
        ids_in_order.push(r.body["data"]["reaction_id"].as_str().unwrap().to_string());
    }
    // Bob (a user: users react in their own clients) smiles too.
    let bob = Actor::User(UserId(num(&seed.bob)));
    let tenant = switchboard_core::ids::TenantId(num(&seed.tenant));
    let m = ids::parse_message_id(&msg).unwrap();
    app.core
        .add_reaction(tenant, bob, m, "SMILE")
        .await
        .unwrap();

    // All of them, oldest first, in pages of two.
    let p1 = reactions(&fs, &msg, "page_size=2").await;
    assert_ok(&p1);
    assert_eq!(field(&p1, "reaction_id"), ids_in_order[..2].to_vec());
    assert!(has_more(&p1));
    let p2 = reactions(
        &fs,
        &msg,
        &format!("page_size=2&page_token={}", page_token(&p1)),
    )
    .await;
    assert_ok(&p2);
    let rest = items(&p2);
    assert_eq!(rest.len(), 2, "{}", p2.text);
    assert_eq!(rest[0]["reaction_id"], ids_in_order[2].as_str());
    assert_eq!(rest[1]["operator"]["operator_type"], "user");
    assert_eq!(rest[1]["operator"]["operator_id"], ou(&seed.bob, &seed.bot));
    assert!(!has_more(&p2));
    let bobs = rest[1]["reaction_id"].as_str().unwrap().to_string();

    // Filtered by type, with users shown by union_id.
    let smiles = reactions(&fs, &msg, "reaction_type=SMILE&user_id_type=union_id").await;
    assert_ok(&smiles);
    assert_eq!(
        field(&smiles, "reaction_id"),
        vec![smile.clone(), bobs.clone()]
    );
    assert_eq!(
        items(&smiles)[1]["operator"]["operator_id"],
        ids::union_id(UserId(num(&seed.bob)))
    );
    let none = reactions(&fs, &msg, "reaction_type=HEART").await;
    assert_ok(&none);
    assert!(items(&none).is_empty());
    assert!(!has_more(&none));

    // The vendor's refusals of bad input.
    assert_refused(&react(&fs, &msg, "NOT_AN_EMOJI").await, 231001);
    let r = fs
        .call(
            Method::POST,
            &format!("/messages/{msg}/reactions"),
            Some(json!({})),
        )
        .await;
    assert_refused(&r, 231001);
    assert_refused(&reactions(&fs, &msg, "reaction_type=nope").await, 231001);
    assert_refused(&reactions(&fs, &msg, "page_token=garbage").await, 231012);
    assert_refused(&reactions(&fs, &msg, "user_id_type=email").await, 231014);
    assert_refused(&reactions(&fs, &msg, "page_size=51").await, 230001);

    // Deleting: not another's, not through another message, not an unknown id.
    assert_refused(&unreact(&fs, &msg, &bobs).await, 231007);
    let other = fs.send_text(&oc(&seed.group), "another").await;
    assert_refused(&unreact(&fs, &other, &smile).await, 231010);
    assert_refused(&unreact(&fs, &msg, "notareactionid00").await, 231011);
    let r = unreact(&fs, &msg, &smile).await;
    assert_ok(&r);
    assert_eq!(r.body["data"]["reaction_id"], smile.as_str());
    assert_eq!(r.body["data"]["reaction_type"]["emoji_type"], "SMILE");
    assert_refused(&unreact(&fs, &msg, &smile).await, 231011);
    let left = reactions(&fs, &msg, "").await;
    assert_eq!(
        field(&left, "reaction_id"),
        vec![
            ids_in_order[1].clone(),
            ids_in_order[2].clone(),
            bobs.clone()
        ]
    );

    // The Hi face serves the same calls in its envelope.
    let hi = fs.with_face(Face::Hi);
    let r = react(&hi, &msg, "HEART").await;
    assert_ok(&r);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["data"]["reaction_type"]["emoji_type"], "HEART");
    let r = reactions(&hi, &msg, "reaction_type=HEART").await;
    assert_ok(&r);
    assert_eq!(items(&r).len(), 1);
}

#[tokio::test]
async fn reactions_are_refused_to_outsiders_and_on_recalled_messages() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let msg = fs.send_text(&oc(&seed.group), "members only").await;
    let r = react(&fs, &msg, "OK").await;
    assert_ok(&r);
    let mine = r.body["data"]["reaction_id"].as_str().unwrap().to_string();

    let out = outsider(&app, &seed).await;
    assert_refused(&react(&out, &msg, "OK").await, 231002);
    assert_refused(&reactions(&out, &msg, "").await, 231008);
    assert_refused(&unreact(&out, &msg, &mine).await, 231002);

    // Another tenant's bot: the message does not exist for it.
    let far = stranger(&app).await;
    assert_refused(&react(&far, &msg, "OK").await, 231003);
    assert_refused(&reactions(&far, &msg, "").await, 231003);
    assert_refused(&unreact(&far, &msg, &mine).await, 231003);

    // A recalled message takes no reactions, and lists none.
    let r = fs
        .call(Method::DELETE, &format!("/messages/{msg}"), None)
        .await;
    assert_ok(&r);
    assert_refused(&react(&fs, &msg, "SMILE").await, 231003);
    assert_refused(&reactions(&fs, &msg, "").await, 231003);
    // A message id that never existed.
    let missing = ids::message_id(MessageId::timeline(ChatId(num(&seed.group)), 999).unwrap());
    assert_refused(&react(&fs, &missing, "OK").await, 231003);
}

// ----- pins ---------------------------------------------------------------------------------

#[tokio::test]
async fn pins_add_list_in_a_window_page_and_delete() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let mut msgs = vec![];
    for t in ["one", "two", "three"] {
        msgs.push(fs.send_text(&group, t).await);
    }
    let mut times = vec![];
    for m in &msgs {
        clock.advance_ms(1_000);
        let r = pin(&fs, m).await;
        assert_ok(&r);
        let p = &r.body["data"]["pin"];
        assert_eq!(p["message_id"], m.as_str());
        assert_eq!(p["chat_id"], group.as_str());
        assert_eq!(p["operator_id"], seed.bot["app_id"]);
        assert_eq!(p["operator_id_type"], "app_id");
        times.push(p["create_time"].as_str().unwrap().parse::<i64>().unwrap());
    }
    // One pin per message: pinning again answers the first pin.
    clock.advance_ms(1_000);
    let again = pin(&fs, &msgs[0]).await;
    assert_ok(&again);
    assert_eq!(
        again.body["data"]["pin"]["create_time"],
        times[0].to_string()
    );

    let all = pins(&fs, &format!("chat_id={group}")).await;
    assert_ok(&all);
    let newest_first: Vec<String> = msgs.iter().rev().cloned().collect();
    assert_eq!(field(&all, "message_id"), newest_first);
    assert!(!has_more(&all));
    let window = pins(
        &fs,
        &format!(
            "chat_id={group}&start_time={}&end_time={}",
            times[1], times[2]
        ),
    )
    .await;
    assert_eq!(
        field(&window, "message_id"),
        vec![msgs[2].clone(), msgs[1].clone()]
    );
    let before = pins(&fs, &format!("chat_id={group}&end_time={}", times[0])).await;
    assert_eq!(field(&before, "message_id"), vec![msgs[0].clone()]);
    let p1 = pins(&fs, &format!("chat_id={group}&page_size=2")).await;
    assert_eq!(field(&p1, "message_id"), newest_first[..2].to_vec());
    assert!(has_more(&p1));
    let p2 = pins(
        &fs,
        &format!("chat_id={group}&page_size=2&page_token={}", page_token(&p1)),
    )
    .await;
    assert_eq!(field(&p2, "message_id"), vec![msgs[0].clone()]);
    assert!(!has_more(&p2));

    // Bad input.
    assert_refused(&pins(&fs, "").await, 230001);
    assert_refused(&pins(&fs, "chat_id=oc_nope").await, 230001);
    assert_refused(
        &pins(&fs, &format!("chat_id={group}&start_time=soon")).await,
        230001,
    );
    assert_refused(
        &pins(&fs, &format!("chat_id={group}&page_token=zzz")).await,
        230001,
    );
    assert_refused(
        &pins(&fs, &format!("chat_id={group}&page_size=0")).await,
        230001,
    );
    let r = fs.call(Method::POST, "/pins", Some(json!({}))).await;
    assert_refused(&r, 230001);

    // Unpinning answers `{}`, also for a message that is not pinned.
    let r = fs
        .call(Method::DELETE, &format!("/pins/{}", msgs[1]), None)
        .await;
    assert_ok(&r);
    assert_eq!(r.body["data"], json!({}));
    let r = fs
        .call(Method::DELETE, &format!("/pins/{}", msgs[1]), None)
        .await;
    assert_ok(&r);
    let left = pins(&fs, &format!("chat_id={group}")).await;
    assert_eq!(
        field(&left, "message_id"),
        vec![msgs[2].clone(), msgs[0].clone()]
    );

    // Outsiders, other tenants, recalled messages.
    let out = outsider(&app, &seed).await;
    assert_refused(&pin(&out, &msgs[1]).await, 230002);
    assert_refused(&pins(&out, &format!("chat_id={group}")).await, 230002);
    let far = stranger(&app).await;
    assert_refused(&pin(&far, &msgs[1]).await, 230001);
    assert_refused(&pins(&far, &format!("chat_id={group}")).await, 230045);
    let r = fs
        .call(Method::DELETE, &format!("/messages/{}", msgs[1]), None)
        .await;
    assert_ok(&r);
    assert_refused(&pin(&fs, &msgs[1]).await, 230011);

    // The Hi face: the same calls on its version-less paths.
    let hi = fs.with_face(Face::Hi);
    let r = pins(&hi, &format!("chat_id={group}")).await;
    assert_ok(&r);
    assert_eq!(r.body["success"], true);
    assert_eq!(items(&r).len(), 2);
}

// ----- read receipts ------------------------------------------------------------------------

#[tokio::test]
async fn read_users_after_marking_read_through_the_admin_api() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let seed = app.seed().await;
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    let group = oc(&seed.group);
    let m1 = fs.send_text(&group, "first").await;
    let m2 = fs.send_text(&group, "second").await;

    // Nobody has read anything yet.
    let r = read_users(&fs, &m1, "user_id_type=open_id").await;
    assert_ok(&r);
    assert!(items(&r).is_empty());
    assert!(!has_more(&r));

    clock.advance_ms(500);
    let r = mark_read(&app, &seed, json!("bob"), 2).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["position"], 2);
    let bob_at = r.body["read_at"].as_i64().unwrap();
    let r = mark_read(&app, &seed, seed.alice["id"].clone(), 1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A mark never moves back.
    let r = mark_read(&app, &seed, json!("bob"), 1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["position"].as_i64(), r.body["read_at"].as_i64()),
        (Some(2), Some(bob_at))
    );

    let r = read_users(&fs, &m2, "user_id_type=open_id").await;
    assert_ok(&r);
    let got = items(&r);
    assert_eq!(got.len(), 1, "{}", r.text);
    assert_eq!(got[0]["user_id"], ou(&seed.bob, &seed.bot));
    assert_eq!(got[0]["user_id_type"], "open_id");
    assert_eq!(got[0]["timestamp"], bob_at.to_string());
    let key = ids::tenant_key(switchboard_core::ids::TenantId(num(&seed.tenant)));
    assert_eq!(got[0]["tenant_key"], key.as_str());
    let r = read_users(&fs, &m1, "user_id_type=union_id").await;
    // By ascending user: alice was created first.
    let want = vec![
        ids::union_id(UserId(num(&seed.alice))),
        ids::union_id(UserId(num(&seed.bob))),
    ];
    assert_eq!(field(&r, "user_id"), want);
    // In pages of one.
    let p1 = read_users(&fs, &m1, "user_id_type=open_id&page_size=1").await;
    assert_eq!(items(&p1).len(), 1);
    assert!(has_more(&p1));
    let p2 = read_users(
        &fs,
        &m1,
        &format!(
            "user_id_type=open_id&page_size=1&page_token={}",
            page_token(&p1)
        ),
    )
    .await;
    assert_eq!(items(&p2).len(), 1);
    assert_ne!(items(&p2)[0]["user_id"], items(&p1)[0]["user_id"]);
    assert!(!has_more(&p2));

    // Only the sender may ask, and only with a user_id_type.
    let alices = app
        .admin_send_text(
            &seed.tenant,
            &seed.group,
            ("user", &seed.alice["id"]),
            "mine",
        )
        .await;
    assert_refused(
        &read_users(&fs, &om(&alices), "user_id_type=open_id").await,
        230012,
    );
    assert_refused(&read_users(&fs, &m1, "").await, 230001);
    assert_refused(&read_users(&fs, &m1, "user_id_type=email").await, 230001);
    let out = outsider(&app, &seed).await;
    assert_refused(&read_users(&out, &m1, "user_id_type=open_id").await, 230002);
    let far = stranger(&app).await;
    assert_refused(&read_users(&far, &m1, "user_id_type=open_id").await, 230001);

    // The admin call's own refusals.
    let r = mark_read(&app, &seed, json!("bob"), 99).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let carol = app.create_user(&seed.tenant, "Carol", "carol").await;
    let r = mark_read(&app, &seed, carol["id"].clone(), 1).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = mark_read(&app, &seed, json!("nobody"), 1).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // Feishu answers read receipts for a week.
    clock.advance_ms(8 * 24 * 3600 * 1000);
    let fs = Lark::login(&app, &seed, Face::Feishu).await;
    assert_refused(&read_users(&fs, &m1, "user_id_type=open_id").await, 230033);
}
