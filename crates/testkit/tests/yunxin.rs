//! The NetEase Yunxin dialect over real HTTP, driven by a client that signs every request
//! (AppKey / Nonce / CurTime / CheckSum): the seed's query, accounts, teams, sends, replies,
//! modify, every recall type, the check flags, both path prefixes, cross-dialect reads, rate
//! limiting, and a table of bad requests that must each get their code and write nothing.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::ids::{ChatId, MessageId, TenantId};
use switchboard_core::service::{Access, ListQuery};
use switchboard_core::store::{Page, UserKey};
use switchboard_core::ManualClock;
use switchboard_server::config::Config;
use switchboard_testkit::yunxin::{conv, fails, fresh_nonce, ok, Body, Signing, YunxinClient};
use switchboard_testkit::{spawn_app, spawn_app_with, Options, Reply, Seed, TestApp};

/// The seed example's `create_time`: every test starts its clock there.
const T0: i64 = 1_698_752_272_248;
const DAY_MS: i64 = 86_400_000;

async fn world() -> (TestApp, Seed) {
    world_with(|_| {}).await
}

async fn world_with(f: impl FnOnce(&mut Config) + Send + 'static) -> (TestApp, Seed) {
    let app = spawn_app_with(Options {
        clock: Some(ManualClock::new(T0)),
        configure: Some(Box::new(f)),
        ..Default::default()
    })
    .await;
    let s = app.seed().await;
    (app, s)
}

fn client<'a>(app: &'a TestApp, s: &Seed) -> YunxinClient<'a> {
    YunxinClient::new(app, s.app_id(), s.app_secret())
}

fn clock(app: &TestApp) -> &ManualClock {
    app.clock.as_ref().expect("manual clock")
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

/// The `message_server_id` of a Yunxin send.
fn sent_id(r: &Reply) -> i64 {
    n(&ok(r)["message_server_id"])
}

/// Sends through the admin API as `(type, id)` with canonical content; returns the message.
async fn admin_send(
    app: &TestApp,
    s: &Seed,
    chat: i64,
    sender: (&str, Value),
    kind: &str,
    content: Value,
    mentions: Value,
) -> Value {
    let body = json!({ "sender": { "type": sender.0, "id": sender.1 }, "type": kind, "content": content, "mentions": mentions });
    app.admin_ok(
        Method::POST,
        &format!("/tenants/{}/chats/{chat}/messages", s.tenant["id"]),
        Some(body),
    )
    .await
}

async fn admin_message(app: &TestApp, s: &Seed, chat: i64, id: i64) -> Value {
    app.admin_ok(
        Method::GET,
        &format!("/tenants/{}/chats/{chat}/messages/{id}", s.tenant["id"]),
        None,
    )
    .await
}

/// Everything a request could write in `tenants`: chats, their members and messages, users.
async fn snapshot(app: &TestApp, tenants: &[i64]) -> String {
    let core = &app.core;
    let page = Page {
        after: 0,
        limit: 1000,
    };
    let mut out = String::new();
    for &t in tenants {
        let t = TenantId(t);
        for u in core.list_users(t, page).await.unwrap() {
            out.push_str(&format!("user {} {} {}\n", u.id, u.account_id, u.name));
        }
        for c in core.list_chats(t, page).await.unwrap() {
            out.push_str(&format!(
                "chat {} {} {:?} {:?}\n",
                c.id, c.last_position, c.dissolved_at, c.name
            ));
            for m in core.members(t, c.id).await.unwrap() {
                out.push_str(&format!("  member {:?} {:?}\n", m.actor, m.role));
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
                let m = v.message;
                out.push_str(&format!(
                    "  msg {} {:?} {:?} {:?}\n",
                    m.id, m.content, m.edit, m.removal
                ));
            }
        }
    }
    out
}

/// Same keys at every level, and the same JSON types (integers stay integers).
fn assert_same_shape(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let mut ek: Vec<&String> = e.keys().collect();
            let mut ak: Vec<&String> = a.keys().collect();
            ek.sort();
            ak.sort();
            assert_eq!(ek, ak, "keys of {path}");
            for (k, v) in e {
                assert_same_shape(v, &a[k], &format!("{path}.{k}"));
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            assert_eq!(
                e.is_i64() || e.is_u64(),
                a.is_i64() || a.is_u64(),
                "integer-ness of {path}: {e} vs {a}"
            );
        }
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        (Value::Array(_), Value::Array(_)) => {}
        (e, a) => panic!("type of {path}: expected like {e}, got {a}"),
    }
}

#[tokio::test]
async fn query_matches_the_seed_example() {
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/yunxin/query_message_response.json")).unwrap();
    let (app, s) = world().await;
    let yx = client(&app, &s);
    ok(&yx.create_account("dog1", "Dog").await);
    let team = n(&ok(&yx
        .create_team("dog1", 2, "Seed super team", &["alice"])
        .await)["team_info"]["team_id"]);

    // Sent through another face: no client id, no client type, so exactly the seed's fields.
    let m = admin_send(
        &app,
        &s,
        team,
        ("user", json!("dog1")),
        "text",
        json!({ "text": "aaa" }),
        json!([]),
    )
    .await;
    let r = yx.query(&conv("dog1", 3, team), &m["id"], "").await;
    assert_same_shape(&fixture, &r.body, "$");
    let d = ok(&r);
    assert_eq!(d["text"], "aaa");
    assert_eq!(d["sender_id"], "dog1");
    assert_eq!(d["conversation_type"], 3);
    assert_eq!(d["team_id"], team);
    assert_eq!(d["message_type"], 0);
    assert_eq!(d["create_time"], fixture["data"]["create_time"]);
    assert_eq!(d["message_server_id"], m["id"]);
    assert!(
        d.get("receiver_id").is_none(),
        "team_id and receiver_id are never both present"
    );
    assert_eq!(r.headers["content-type"], "application/json");

    // Sent through Yunxin: the seed's fields plus the client id and client type it carries.
    let sent = yx.send(&conv("dog1", 3, team), json!({ "message": { "message_type": 0, "text": "aaa", "message_client_id": "cid-1" } })).await;
    let id = sent_id(&sent);
    let r = yx.query(&conv("alice", 3, team), id, "").await;
    let mut expected = fixture.clone();
    expected["data"]["message_client_id"] = json!("cid-1");
    expected["data"]["sender_client_type"] = json!(32);
    assert_same_shape(&expected, &r.body, "$");
    assert_eq!(ok(&r)["sender_client_type"], 32);

    // After a modify: the seed's camelCase and the SDKs' snake_case, both.
    clock(&app).advance_ms(5);
    let modify = json!({ "operator": "dog1", "type": 3, "message": { "message_server_id": id, "message_type": 0, "text": "bbb" } });
    ok(&yx.modify(modify).await);
    let r = yx.query(&conv("alice", 3, team), id, "").await;
    for k in [
        "modifyAccountId",
        "modifyTime",
        "modify_account_id",
        "modify_time",
    ] {
        expected["data"][k] = if k.contains("ccount") {
            json!("x")
        } else {
            json!(0)
        };
    }
    assert_same_shape(&expected, &r.body, "$");
    let d = ok(&r);
    assert_eq!(
        (
            d["text"].as_str(),
            d["modifyAccountId"].as_str(),
            d["modify_account_id"].as_str()
        ),
        (Some("bbb"), Some("dog1"), Some("dog1"))
    );
    assert_eq!(
        (n(&d["modifyTime"]), n(&d["modify_time"])),
        (T0 + 5, T0 + 5)
    );
    assert_eq!(d["create_time"], T0, "a modify keeps the send time");
}

/// alice's advanced team "Project" with bob and carol (made as the account, team and invite
/// tests make it), and carol's first message in it, sent at `T0` with a client id and an
/// extension.
struct TeamWorld {
    app: TestApp,
    s: Seed,
    team: i64,
    first: i64,
    /// The send's reply data for `first`.
    sent: Value,
}

/// The team's conversation as alice, bob and carol each see it.
fn convs(team: i64) -> (String, String, String) {
    (
        conv("alice", 2, team),
        conv("bob", 2, team),
        conv("carol", 2, team),
    )
}

async fn team_world() -> TeamWorld {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    ok(&yx.create_account("carol", "Carol").await);
    let created = ok(&yx
        .create_team("alice", 1, "Project", &["bob", "ghost"])
        .await)
    .clone();
    let team = n(&created["team_info"]["team_id"]);
    ok(&yx.invite("alice", team, 1, &["carol", "bob"]).await);
    let carol = conv("carol", 2, team);
    let sent = yx
        .send(&carol, json!({ "message": { "message_type": 0, "text": "hello team", "message_client_id": "c-1" }, "extension": "{\"k\":1}" }))
        .await;
    let sent = ok(&sent).clone();
    let first = n(&sent["message_server_id"]);
    TeamWorld {
        app,
        s,
        team,
        first,
        sent,
    }
}

#[tokio::test]
async fn accounts_are_users_of_the_app_keys_tenant_and_can_be_renamed() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let t = &s.tenant["id"];

    // Accounts are users of the AppKey's tenant.
    let d = ok(&yx.create_account("carol", "Carol").await).clone();
    assert_eq!(
        (
            d["account_id"].as_str(),
            d["user_information"]["name"].as_str()
        ),
        (Some("carol"), Some("Carol"))
    );
    assert_eq!(d["configuration"]["enabled"], true);
    ok(&yx
        .patch(
            "/accounts/carol",
            json!({ "user_information": { "name": "Caroline" } }),
        )
        .await);
    assert_eq!(
        ok(&yx.get("/accounts/carol").await)["user_information"]["name"],
        "Caroline"
    );
    let u = app
        .admin_ok(Method::GET, &format!("/tenants/{t}/users/carol"), None)
        .await;
    assert_eq!(
        (u["name"].as_str(), u["account_id"].as_str()),
        (Some("Caroline"), Some("carol"))
    );
    fails(&yx.get("/accounts/nobody").await, 404);
    fails(
        &yx.patch(
            "/accounts/nobody",
            json!({ "user_information": { "name": "X" } }),
        )
        .await,
        404,
    );
}

#[tokio::test]
async fn a_team_is_created_with_its_invitees_and_says_who_could_not_join() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let t = &s.tenant["id"];
    ok(&yx.create_account("carol", "Carol").await);

    // An advanced team, with an invite at creation and one later.
    let created = ok(&yx
        .create_team("alice", 1, "Project", &["bob", "ghost"])
        .await)
    .clone();
    let team = n(&created["team_info"]["team_id"]);
    assert_eq!(created["team_info"]["team_type"], 1);
    assert_eq!(created["team_info"]["owner_account_id"], "alice");
    assert_eq!(created["team_info"]["member_count"], 2);
    assert_eq!(
        created["failed_list"],
        json!([{ "account_id": "ghost", "error_code": 404, "error_msg": "account \"ghost\" does not exist" }])
    );
    let inv = ok(&yx.invite("alice", team, 1, &["carol", "bob"]).await).clone();
    assert_eq!(inv["success_list"], json!(["carol"]));
    assert_eq!(inv["failed_list"][0]["account_id"], "bob");
    assert_eq!(inv["failed_list"][0]["error_code"], 809);
    let chat = app
        .admin_ok(Method::GET, &format!("/tenants/{t}/chats/{team}"), None)
        .await;
    assert_eq!(
        (
            chat["type"].as_str(),
            chat["members"].as_array().unwrap().len()
        ),
        (Some("group"), 3)
    );
}

#[tokio::test]
async fn a_team_message_reads_back_as_sent_under_both_prefixes() {
    let w = team_world().await;
    let (app, s, team, first, sent) = (w.app, w.s, w.team, w.first, w.sent);
    let yx = client(&app, &s);
    let alice = conv("alice", 2, team);

    // Sent as carol; read from alice's side under both prefixes.
    assert_eq!(
        (
            sent["sender_id"].as_str(),
            n(&sent["team_id"]),
            n(&sent["conversation_type"])
        ),
        (Some("carol"), team, 2)
    );
    assert_eq!(
        (
            sent["message_client_id"].as_str(),
            sent["extension"].as_str()
        ),
        (Some("c-1"), Some("{\"k\":1}"))
    );
    for prefix in ["/im/v2", "/im/v2.1"] {
        assert_eq!(
            ok(&yx.with_prefix(prefix).query(&alice, first, "").await),
            &sent,
            "{prefix}"
        );
    }
}

#[tokio::test]
async fn a_reply_to_a_reply_keeps_the_first_message_as_its_thread_root() {
    let w = team_world().await;
    let (app, s, team, first) = (w.app, w.s, w.team, w.first);
    let yx = client(&app, &s);
    let (alice, bob, carol) = convs(team);

    // A reply via thread_config, and a reply to the reply: the root stays the first message.
    let thread = |reply: i64| json!({ "thread_root": { "message_server_id": first }, "thread_reply": { "message_server_id": reply } });
    let r1 = yx.send(&alice, json!({ "message": { "message_type": 0, "text": "welcome" }, "thread_config": thread(first) })).await;
    let r1 = ok(&r1).clone();
    let r1_id = n(&r1["message_server_id"]);
    let tc = &r1["thread_config"];
    for k in ["thread_root", "thread_reply"] {
        assert_eq!(n(&tc[k]["message_server_id"]), first);
        assert_eq!(tc[k]["sender_id"], "carol");
        assert_eq!(tc[k]["receiver_id"], team.to_string());
        assert_eq!(n(&tc[k]["create_time"]), T0);
        assert_eq!(tc[k]["message_client_id"], "c-1");
    }
    let r2 = yx.send(&bob, json!({ "message": { "message_type": 0, "text": "+1" }, "thread_config": thread(r1_id) })).await;
    let r2_id = sent_id(&r2);
    let q = yx.query(&carol, r2_id, "").await;
    let q = ok(&q);
    assert_eq!(
        (
            n(&q["thread_config"]["thread_root"]["message_server_id"]),
            n(&q["thread_config"]["thread_reply"]["message_server_id"])
        ),
        (first, r1_id)
    );
    assert_eq!(q["thread_config"]["thread_reply"]["sender_id"], "alice");
    let a = admin_message(&app, &s, team, r2_id).await;
    assert_eq!((n(&a["reply_to"]), n(&a["root_id"])), (r1_id, first));
    let wrong_root = json!({ "thread_root": { "message_server_id": r1_id }, "thread_reply": { "message_server_id": r2_id } });
    fails(
        &yx.send(
            &bob,
            json!({ "message": { "message_type": 0, "text": "x" }, "thread_config": wrong_root }),
        )
        .await,
        414,
    );
}

#[tokio::test]
async fn modify_sets_both_spellings_and_only_the_sender_or_an_owner_may_modify() {
    let w = team_world().await;
    let (app, s, team, first) = (w.app, w.s, w.team, w.first);
    let yx = client(&app, &s);
    let (alice, bob, _) = convs(team);

    // Modify: sets both spellings of the modify fields; twice within a second is 107449.
    let modify = |op: &str, text: &str| {
        json!({ "operator": op, "type": 2, "message": {
            "message_server_id": first, "sender_id": "carol", "receiver_id": team.to_string(), "time": T0, "message_type": 0, "text": text } })
    };
    ok(&yx.modify(modify("carol", "hello team (edited)")).await);
    let q = ok(&yx.query(&alice, first, "").await).clone();
    assert_eq!(q["text"], "hello team (edited)");
    assert_eq!(
        (q["modifyAccountId"].as_str(), n(&q["modifyTime"])),
        (Some("carol"), T0)
    );
    assert_eq!(
        (q["modify_account_id"].as_str(), n(&q["modify_time"])),
        (Some("carol"), T0)
    );
    assert_eq!(
        q["extension"], "{\"k\":1}",
        "a modify without extension keeps the send's"
    );
    fails(&yx.modify(modify("carol", "too soon")).await, 107449);
    assert_eq!(
        ok(&yx.query(&alice, first, "").await)["text"],
        "hello team (edited)"
    );
    clock(&app).advance_ms(1000);
    fails(&yx.modify(modify("bob", "not yours")).await, 802);
    ok(&yx.modify(modify("alice", "edited by the owner")).await);
    let q = ok(&yx.query(&bob, first, "").await).clone();
    assert_eq!(
        (
            q["text"].as_str(),
            q["modifyAccountId"].as_str(),
            n(&q["modifyTime"])
        ),
        (Some("edited by the owner"), Some("alice"), T0 + 1000)
    );
    let a = admin_message(&app, &s, team, first).await;
    assert_eq!(
        (a["text"].as_str(), a["edit_count"].as_i64()),
        (Some("edited by the owner"), Some(2))
    );
    // A modify that carries extension and sub_type replaces them.
    clock(&app).advance_ms(1000);
    let mut with_extra = modify("carol", "with extension");
    with_extra["extension"] = json!("{\"k\":2}");
    with_extra["message"]["sub_type"] = json!(9);
    ok(&yx.modify(with_extra).await);
    let q = ok(&yx.query(&alice, first, "").await).clone();
    assert_eq!(
        (q["extension"].as_str(), n(&q["sub_type"])),
        (Some("{\"k\":2}"), 9)
    );
    let mut mismatched = modify("carol", "x");
    mismatched["message"]["sender_id"] = json!("bob");
    clock(&app).advance_ms(1000);
    fails(&yx.modify(mismatched).await, 107404);
    let mut mismatched = modify("carol", "x");
    mismatched["message"]["time"] = json!(T0 + 1);
    fails(&yx.modify(mismatched).await, 107404);
}

#[tokio::test]
async fn each_recall_type_removes_the_message_for_the_right_members() {
    let w = team_world().await;
    let (app, s, team) = (w.app, w.s, w.team);
    let yx = client(&app, &s);
    let (alice, bob, carol) = convs(team);

    // Recall type 1 (one-way): the receivers lose it, the sender's own conversation keeps it.
    let one_way = sent_id(&yx.send_text(&bob, "one-way").await);
    ok(&yx.withdraw(&bob, one_way, 1, "").await);
    assert_eq!(ok(&yx.query(&bob, one_way, "").await)["text"], "one-way");
    fails(&yx.query(&alice, one_way, "").await, 107404);
    // Type 2 (two-way) and type 3 (delete): gone for everyone.
    let two_way = sent_id(&yx.send_text(&bob, "two-way").await);
    ok(&yx.withdraw(&bob, two_way, 2, "").await);
    let deleted = sent_id(&yx.send_text(&bob, "deleted").await);
    ok(&yx.withdraw(&bob, deleted, 3, "").await);
    for id in [two_way, deleted] {
        fails(&yx.query(&bob, id, "").await, 107404);
        fails(&yx.query(&alice, id, "").await, 107404);
    }
    fails(&yx.withdraw(&bob, two_way, 2, "").await, 417);
    for (id, kind) in [
        (one_way, "recalled_one_way"),
        (two_way, "recalled"),
        (deleted, "deleted"),
    ] {
        assert_eq!(
            admin_message(&app, &s, team, id).await["removed"]["kind"],
            kind
        );
    }
    // A member may not remove another's message; the owner may.
    let others = sent_id(&yx.send_text(&bob, "mind your own").await);
    fails(&yx.withdraw(&carol, others, 2, "").await, 802);
    ok(&yx.withdraw(&alice, others, 2, "").await);
}

#[tokio::test]
async fn each_recall_type_has_its_time_window() {
    let w = team_world().await;
    let (app, s, team) = (w.app, w.s, w.team);
    let yx = client(&app, &s);
    let (alice, bob, _) = convs(team);

    // Windows: two-way 2 minutes (508 after), one-way and delete 30 days.
    let late = sent_id(&yx.send_text(&bob, "late").await);
    clock(&app).advance_ms(121_000);
    fails(&yx.withdraw(&bob, late, 2, "").await, 508);
    ok(&yx.withdraw(&bob, late, 1, "").await);
    let old = sent_id(&yx.send_text(&bob, "old").await);
    clock(&app).advance_ms(30 * DAY_MS + 1000);
    fails(&yx.withdraw(&bob, old, 3, "").await, 508);
    fails(&yx.withdraw(&bob, old, 1, "").await, 508);
    assert_eq!(
        ok(&yx.query(&alice, old, "").await)["text"],
        "old",
        "a refused recall changes nothing"
    );
    ok(&yx.withdraw(&bob, old, 2, "ignore_revoke_time=1").await);
    fails(&yx.query(&alice, old, "").await, 107404);
}

#[tokio::test]
async fn a_kicked_member_no_longer_reads_or_sends() {
    let w = team_world().await;
    let (app, s, team, first) = (w.app, w.s, w.team, w.first);
    let yx = client(&app, &s);
    let (_, _, carol) = convs(team);

    // Kicked: the member's conversation no longer reads or sends.
    let kicked = ok(&yx.kick("alice", team, 1, &["carol"]).await).clone();
    assert_eq!(kicked["success_list"], json!(["carol"]));
    fails(
        &yx.query(&carol, first, "check_team_member_valid=true")
            .await,
        804,
    );
    fails(&yx.query(&carol, first, "").await, 107404);
    fails(&yx.send_text(&carol, "still here?").await, 804);
}

#[tokio::test]
async fn query_check_flags_and_message_time() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let alice = conv("alice", 2, g);
    let m = admin_send(
        &app,
        &s,
        g,
        ("user", json!("bob")),
        "text",
        json!({ "text": "flags" }),
        json!([]),
    )
    .await;
    let id = n(&m["id"]);

    ok(&yx.query(&alice, id, &format!("message_time={T0}")).await);
    fails(
        &yx.query(&alice, id, &format!("message_time={}", T0 + 1))
            .await,
        107404,
    );
    // Every spelling the SDKs send (switchboard_core::input::parse_bool).
    for v in [
        "true", "True", "TRUE", "1", "false", "False", "FALSE", "0", "",
    ] {
        ok(&yx
            .query(
                &alice,
                id,
                &format!("check_team_valid={v}&check_team_member_valid={v}"),
            )
            .await);
    }

    // A team named with the other team type is a malformed conversation id, checked or not.
    for q in ["", "check_team_valid=true"] {
        fails(&yx.query(&conv("alice", 3, g), id, q).await, 414);
    }

    // A missing team, and another tenant's team, are "no such message" unless checked.
    let other_tenant = app.create_tenant("Other").await;
    let zed = app.create_user(&other_tenant, "Zed", "zed").await;
    let foreign = app
        .create_chat(
            &other_tenant,
            "group",
            Some("Theirs"),
            ("user", &zed["id"]),
            &[],
        )
        .await;
    let foreign_msg = app
        .admin_send_text(&other_tenant, &foreign, ("user", &zed["id"]), "private")
        .await;
    for team in [9_999_999, n(&foreign["id"])] {
        fails(
            &yx.query(&conv("alice", 2, team), &foreign_msg["id"], "")
                .await,
            107404,
        );
        fails(
            &yx.query(
                &conv("alice", 2, team),
                &foreign_msg["id"],
                "check_team_valid=true",
            )
            .await,
            108404,
        );
    }

    // A non-member owner: 107404, or 804 with check_team_member_valid.
    ok(&yx.create_account("dave", "Dave").await);
    let dave = conv("dave", 2, g);
    fails(&yx.query(&dave, id, "").await, 107404);
    fails(&yx.query(&dave, id, "check_team_valid=true").await, 107404);
    fails(
        &yx.query(&dave, id, "check_team_member_valid=true").await,
        804,
    );

    // A dissolved team's history stays readable unless check_team_valid asks.
    app.admin_ok(
        Method::DELETE,
        &format!("/tenants/{}/chats/{g}", s.tenant["id"]),
        None,
    )
    .await;
    assert_eq!(ok(&yx.query(&alice, id, "").await)["text"], "flags");
    ok(&yx.query(&alice, id, "check_team_member_valid=true").await);
    for v in ["true", "True", "TRUE", "1"] {
        let q = format!("check_team_valid={v}");
        fails(&yx.query(&alice, id, &q).await, 108404);
    }
    for v in ["false", "False", "FALSE", "0"] {
        ok(&yx.query(&alice, id, &format!("check_team_valid={v}")).await);
    }
    fails(&yx.send_text(&alice, "after dissolve").await, 108404);
}

/// Team ids are Java `Long`s: every Long is a well-formed team id, and one beyond the
/// range of chat ids (e.g. 7000825398 > 2^32) names a team that does not exist (108404
/// where the vendor checks the team, 107404 for a plain query), never a parameter error.
/// Only what is not a Long at all is 414.
#[tokio::test]
async fn team_ids_are_longs_and_a_long_naming_no_team_is_a_missing_team() {
    // Many requests within one frozen second: no rate limit.
    let (app, s) = world_with(|c| c.yunxin.rate_limit_per_second = 0).await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let t = n(&s.tenant["id"]);
    let m = admin_send(
        &app,
        &s,
        g,
        ("user", s.alice["id"].clone()),
        "text",
        json!({ "text": "hi" }),
        json!([]),
    )
    .await;
    let id = n(&m["id"]);
    let before = snapshot(&app, &[t]).await;
    for team in [
        "7000825398",
        "4294967296",
        "2147483648",
        "9223372036854775807",
        "0",
        "-7000825398",
    ] {
        for kind in [2, 3] {
            let c = conv("alice", kind, team);
            fails(&yx.query(&c, id, "check_team_valid=true").await, 108404);
            fails(&yx.query(&c, id, "").await, 107404);
            fails(
                &yx.query(&c, id, "check_team_member_valid=true").await,
                107404,
            );
            fails(&yx.send_text(&c, "x").await, 108404);
            fails(&yx.withdraw(&c, id, 2, "").await, 108404);
        }
        for prefix in ["/im/v2", "/im/v2.1"] {
            let y = yx.with_prefix(prefix);
            fails(&y.get(&format!("/teams/{team}?team_type=1")).await, 108404);
            fails(
                &y.delete(&format!("/teams/{team}?operator_id=alice")).await,
                108404,
            );
            fails(
                &y.delete(&format!(
                    "/team_members/actions/kick_member?operator_id=alice&team_id={team}&team_type=1&kick_account_ids=bob"
                ))
                .await,
                108404,
            );
            for team_id in [json!(team), json!(team.parse::<i64>().unwrap())] {
                let body = json!({ "operator_id": "alice", "team_id": team_id, "team_type": 1, "invite_account_ids": ["bob"] });
                fails(&y.post("/team_members", body).await, 108404);
            }
        }
        // A modify naming such a team as the receiver does not match the message.
        let body = json!({ "operator": "alice", "type": 2, "message": { "message_server_id": id, "receiver_id": team, "message_type": 0, "text": "y" } });
        fails(&yx.modify(body).await, 107404);
        // The admin API takes the conversation id as a chat key: no such chat.
        let r = app
            .admin(
                Method::GET,
                &format!("/tenants/{t}/chats/{}", conv("alice", 2, team)),
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{team}: {}", r.text);
    }
    // Not a Long at all (beyond 2^63 - 1, not digits): a parameter error.
    for bad in ["9223372036854775808", "7e9", "abc", "+1"] {
        let c = conv("alice", 2, bad);
        fails(&yx.query(&c, id, "check_team_valid=true").await, 414);
        fails(&yx.send_text(&c, "x").await, 414);
        fails(&yx.get(&format!("/teams/{bad}")).await, 414);
    }
    let body = json!({ "operator_id": "alice", "team_id": "9223372036854775808", "team_type": 1, "invite_account_ids": ["bob"] });
    fails(&yx.post("/team_members", body).await, 414);
    assert_eq!(snapshot(&app, &[t]).await, before, "nothing was written");
    // The real team still answers.
    ok(&yx
        .query(&conv("alice", 2, g), id, "check_team_valid=true")
        .await);
}

#[tokio::test]
async fn p2p_conversations_ids_and_encodings() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let bot = s.app_id().to_string();
    let p2p = n(&s.p2p["id"]);

    // The bot's own p2p chat with alice, addressed from either side.
    let m = admin_send(
        &app,
        &s,
        p2p,
        ("app", json!(bot)),
        "text",
        json!({ "text": "hi alice" }),
        json!([]),
    )
    .await;
    let from_alice = ok(&yx.query(&conv("alice", 1, &bot), &m["id"], "").await).clone();
    assert_eq!(
        (
            from_alice["sender_id"].as_str(),
            from_alice["receiver_id"].as_str()
        ),
        (Some(bot.as_str()), Some("alice"))
    );
    assert_eq!(from_alice["conversation_type"], 1);
    assert!(from_alice.get("team_id").is_none());
    assert_eq!(
        ok(&yx.query(&conv(&bot, 1, "alice"), &m["id"], "").await),
        &from_alice
    );
    fails(&yx.query(&conv("bob", 1, &bot), &m["id"], "").await, 107404);
    fails(
        &yx.query(&conv("alice", 1, "bob"), &m["id"], "").await,
        107404,
    );

    // A first message opens the p2p conversation; `|` raw or encoded in either case.
    let sent = yx.send_text(&conv("alice", 1, "bob"), "hi bob").await;
    let sent = ok(&sent).clone();
    assert_eq!(
        (sent["sender_id"].as_str(), sent["receiver_id"].as_str()),
        (Some("alice"), Some("bob"))
    );
    let id = n(&sent["message_server_id"]);
    for c in [
        "bob|1|alice",
        "bob%7C1%7Calice",
        "bob%7c1%7calice",
        "alice|1|bob",
    ] {
        for prefix in ["/im/v2", "/im/v2.1"] {
            assert_eq!(
                ok(&yx.with_prefix(prefix).query(c, id, "").await),
                &sent,
                "{prefix} {c}"
            );
        }
    }
    let p2p_chat = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/chats/alice%7C1%7Cbob", s.tenant["id"]),
            None,
        )
        .await;
    assert_eq!(p2p_chat["type"], "p2p");

    // The receiver cannot recall the sender's message; a one-way recall hides it from bob only.
    fails(&yx.withdraw(&conv("bob", 1, "alice"), id, 2, "").await, 403);
    ok(&yx.withdraw(&conv("alice", 1, "bob"), id, 1, "").await);
    ok(&yx.query(&conv("alice", 1, "bob"), id, "").await);
    fails(&yx.query(&conv("bob", 1, "alice"), id, "").await, 107404);
    // A p2p modify names the receiver account.
    let next = sent_id(&yx.send_text(&conv("alice", 1, "bob"), "typo").await);
    let body = json!({ "operator": "alice", "type": 1, "message": { "message_server_id": next, "receiver_id": "bob", "message_type": 0, "text": "fixed" } });
    ok(&yx.modify(body).await);
    for c in [conv("bob", 1, "alice"), conv("alice", 1, "bob")] {
        let d = ok(&yx.query(&c, next, "").await).clone();
        assert_eq!(
            (
                d["text"].as_str(),
                d["sender_id"].as_str(),
                d["receiver_id"].as_str(),
                d["modify_account_id"].as_str()
            ),
            (Some("fixed"), Some("alice"), Some("bob"), Some("alice")),
            "{c}"
        );
    }
    clock(&app).advance_ms(1000);
    let body = json!({ "operator": "bob", "type": 1, "message": { "message_server_id": next, "message_type": 0, "text": "mine now" } });
    fails(&yx.modify(body).await, 403);
}

#[tokio::test]
async fn message_types_round_trip_and_cross_faces() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let alice = conv("alice", 2, g);

    // Yunxin -> Yunxin: attachments come back exactly as sent, with sub_type and extension.
    let cases = [
        json!({ "message_type": 0, "text": "plain" }),
        json!({ "message_type": 1, "text": "a photo", "attachment": { "name": "p.png", "md5": "9f", "url": "https://x/p.png", "ext": "png", "w": 640, "h": 480, "size": 1234 } }),
        json!({ "message_type": 2, "attachment": { "dur": 3000, "md5": "ab", "url": "https://x/a.aac", "ext": "aac", "size": 99 } }),
        json!({ "message_type": 3, "attachment": { "dur": 8000, "md5": "cd", "url": "https://x/v.mp4", "width": 320, "height": 240, "ext": "mp4", "size": 5000 } }),
        json!({ "message_type": 4, "attachment": { "title": "Hangzhou", "lng": 120.15, "lat": 30.28 } }),
        json!({ "message_type": 6, "attachment": { "name": "f.pdf", "md5": "ef", "url": "https://x/f.pdf", "ext": "pdf", "size": 77 } }),
        json!({ "message_type": 10, "text": "a tip" }),
        json!({ "message_type": 100, "sub_type": 7, "attachment": { "kind": "poll", "options": ["a", "b"], "nested": { "x": null } } }),
    ];
    for (i, msg) in cases.iter().enumerate() {
        let sent = yx
            .send(
                &alice,
                json!({ "message": msg, "extension": format!("ext-{i}") }),
            )
            .await;
        let id = sent_id(&sent);
        let q = yx.query(&conv("bob", 2, g), id, "").await;
        let d = ok(&q);
        assert_eq!(d["message_type"], msg["message_type"], "{msg}");
        assert_eq!(d.get("attachment"), msg.get("attachment"), "{msg}");
        assert_eq!(d.get("text"), msg.get("text"), "{msg}");
        assert_eq!(d.get("sub_type"), msg.get("sub_type"), "{msg}");
        assert_eq!(d["extension"], format!("ext-{i}"));
        assert_eq!(d["sender_client_type"], 32);
        // The admin face reads the canonical form.
        let a = admin_message(&app, &s, g, id).await;
        let expected_type = [
            "text", "image", "audio", "video", "location", "file", "tip", "custom",
        ][i];
        assert_eq!(a["type"], expected_type, "{msg}");
        match expected_type {
            "image" => assert_eq!(
                (a["content"]["url"].as_str(), a["content"]["width"].as_i64()),
                (Some("https://x/p.png"), Some(640))
            ),
            "video" => assert_eq!(
                (
                    a["content"]["duration_ms"].as_i64(),
                    a["content"]["height"].as_i64()
                ),
                (Some(8000), Some(240))
            ),
            "location" => assert_eq!(
                (
                    a["content"]["latitude"].as_f64(),
                    a["content"]["title"].as_str()
                ),
                (Some(30.28), Some("Hangzhou"))
            ),
            "custom" => assert_eq!(a["content"]["json"]["kind"], "poll"),
            "text" | "tip" => assert_eq!(a["text"], msg["text"]),
            _ => assert_eq!(a["content"]["url"], msg["attachment"]["url"]),
        }
    }

    // Other faces -> Yunxin: each canonical type renders with its Yunxin number.
    let bob_id = s.bob["id"].clone();
    let sends = [
        (
            "text",
            json!({ "text": "<at id=\"1\">Bob</at> and <at id=\"2\">everyone</at>: hi" }),
            json!([{ "key": "1", "type": "user", "id": bob_id, "name": "Bob" }, { "key": "2", "type": "all", "name": "everyone" }]),
            0,
        ),
        (
            "image",
            json!({ "key": "img_1", "name": "w.png", "width": 10, "height": 20, "size": 30 }),
            json!([]),
            1,
        ),
        (
            "audio",
            json!({ "key": "aud_1", "duration_ms": 4200, "format": "amr" }),
            json!([]),
            2,
        ),
        (
            "location",
            json!({ "title": "Office", "address": "1 Road", "latitude": 39.9, "longitude": 116.4 }),
            json!([]),
            4,
        ),
        (
            "notification",
            json!({ "json": { "event": "joined" } }),
            json!([]),
            5,
        ),
        ("robot", json!({ "json": { "answer": 42 } }), json!([]), 11),
        (
            "rich_text",
            json!({ "title": "T", "paragraphs": [[{ "tag": "text", "text": "line" }]] }),
            json!([]),
            0,
        ),
        ("card", json!({ "card": { "header": "h" } }), json!([]), 100),
    ];
    for (kind, content, mentions, number) in sends {
        let m = admin_send(
            &app,
            &s,
            g,
            ("user", json!("alice")),
            kind,
            content.clone(),
            mentions,
        )
        .await;
        let q = yx.query(&alice, &m["id"], "").await;
        let d = ok(&q);
        assert_eq!(d["message_type"], number, "{kind}");
        assert!(
            d.get("sender_client_type").is_none(),
            "{kind}: the admin face does not say"
        );
        match kind {
            "text" => assert_eq!(d["text"], "@Bob and @everyone: hi"),
            "image" => assert_eq!(
                d["attachment"],
                json!({ "key": "img_1", "name": "w.png", "w": 10, "h": 20, "size": 30 })
            ),
            "audio" => assert_eq!(
                d["attachment"],
                json!({ "key": "aud_1", "ext": "amr", "dur": 4200 })
            ),
            "location" => assert_eq!(
                d["attachment"],
                json!({ "title": "Office", "lat": 39.9, "lng": 116.4 })
            ),
            "notification" => assert_eq!(d["attachment"], json!({ "event": "joined" })),
            "robot" => assert_eq!(d["attachment"], json!({ "answer": 42 })),
            "rich_text" => assert_eq!(d["text"], "T\nline"),
            "card" => {
                assert_eq!(d["attachment"], json!({ "type": "card", "data": content }));
                assert_eq!(d["text"], "[card]");
            }
            _ => unreachable!(),
        }
    }

    // Yunxin mentions (force-push list) become canonical mentions, and echo back as sent.
    let body = json!({
        "message": { "message_type": 0, "text": "@Bob look, @all too" },
        "push_config": { "push_forcepush_enable": true, "push_forcepush_ids": ["bob"], "push_forcepush_all": true }
    });
    let id = sent_id(&yx.send(&alice, body).await);
    let a = admin_message(&app, &s, g, id).await;
    assert_eq!(
        a["text"],
        "<at id=\"1\">Bob</at> look, <at id=\"2\">all</at> too"
    );
    assert_eq!(a["mentions"][0]["type"], "user");
    assert_eq!(a["mentions"][0]["id"], s.bob["id"]);
    assert_eq!(a["mentions"][1]["type"], "all");
    assert_eq!(
        ok(&yx.query(&alice, id, "").await)["text"],
        "@Bob look, @all too"
    );

    // An edit through another face replaces the Yunxin original: rendered from canonical.
    let put = json!({ "content": { "text": "edited elsewhere" } });
    app.admin_ok(
        Method::PUT,
        &format!("/tenants/{}/chats/{g}/messages/{id}", s.tenant["id"]),
        Some(put),
    )
    .await;
    let d = ok(&yx.query(&alice, id, "").await).clone();
    assert_eq!(
        (d["text"].as_str(), d["modifyAccountId"].as_str()),
        (Some("edited elsewhere"), Some("alice"))
    );
}

#[tokio::test]
async fn idempotent_sends_and_batch_p2p() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let alice = conv("alice", 2, g);
    let before = app
        .core
        .chat(TenantId(n(&s.tenant["id"])), ChatId(g))
        .await
        .unwrap()
        .last_position;
    let body =
        json!({ "message": { "message_type": 0, "text": "once", "message_client_id": "same-id" } });
    let a = sent_id(&yx.send(&alice, body.clone()).await);
    let b = sent_id(&yx.send(&alice, body.clone()).await);
    assert_eq!(a, b);
    assert_eq!(
        app.core
            .chat(TenantId(n(&s.tenant["id"])), ChatId(g))
            .await
            .unwrap()
            .last_position,
        before + 1
    );
    // The same client id in another conversation is refused, not mistaken for a retry.
    ok(&yx.create_account("erin", "Erin").await);
    fails(&yx.send(&conv("alice", 1, "erin"), body).await, 414);

    // Batch: one message to each receiver in its own p2p conversation; failures are listed.
    let batch = json!({
        "sender_id": "alice",
        "receiver_ids": ["bob", s.app_id(), "nobody", "bob"],
        "message": { "message_type": 0, "text": "broadcast", "message_client_id": "b-1" }
    });
    let r = yx.post("/conversations/messages", batch.clone()).await;
    let d = ok(&r).clone();
    let success = d["success_list"].as_array().unwrap();
    assert_eq!(success.len(), 2, "{d}");
    assert_eq!(success[0]["receiver_id"], "bob");
    assert_eq!(success[1]["receiver_id"], s.app_id());
    assert_eq!(success[0]["message_client_id"], "b-1:bob");
    assert_eq!(
        d["failed_list"],
        json!([{ "receiver_id": "nobody", "error_code": 404, "error_msg": "account \"nobody\" does not exist" }])
    );
    let to_bob = n(&success[0]["message_server_id"]);
    assert_eq!(
        ok(&yx.query(&conv("bob", 1, "alice"), to_bob, "").await)["text"],
        "broadcast"
    );
    let again = yx.post("/conversations/messages", batch).await;
    assert_eq!(
        ok(&again)["success_list"][0]["message_server_id"],
        to_bob,
        "a retried batch sends nothing twice"
    );
    let bot_chat = app
        .core
        .chat(TenantId(n(&s.tenant["id"])), ChatId(n(&s.p2p["id"])))
        .await
        .unwrap();
    assert_eq!(
        bot_chat.last_position, 1,
        "the bot's p2p with alice got exactly one message"
    );
}

#[tokio::test]
async fn super_teams_members_and_disband() {
    let (app, s) = world().await;
    let yx = client(&app, &s).with_prefix("/im/v2.1");
    let created = ok(&yx.create_team("alice", 2, "All hands", &["bob"]).await).clone();
    let team = n(&created["team_info"]["team_id"]);
    assert_eq!(created["team_info"]["team_type"], 2);
    let info = ok(&yx.get(&format!("/teams/{team}?team_type=2")).await).clone();
    assert_eq!(
        (
            info["team_info"]["name"].as_str(),
            n(&info["team_info"]["member_count"])
        ),
        (Some("All hands"), 2)
    );
    fails(&yx.get(&format!("/teams/{team}?team_type=1")).await, 805);
    fails(&yx.get("/teams/9999999").await, 108404);
    let chat = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/chats/{team}", s.tenant["id"]),
            None,
        )
        .await;
    assert_eq!(chat["type"], "super_group");

    // Type 1 and 3 do not apply to super teams; type 2 does.
    let id = sent_id(&yx.send_text(&conv("bob", 3, team), "big room").await);
    fails(&yx.withdraw(&conv("bob", 3, team), id, 1, "").await, 414);
    fails(&yx.withdraw(&conv("bob", 3, team), id, 3, "").await, 414);
    ok(&yx.withdraw(&conv("bob", 3, team), id, 2, "").await);

    ok(&yx.create_account("carol", "Carol").await);
    fails(&yx.invite("bob", team, 2, &["carol"]).await, 802);
    fails(&yx.invite("carol", team, 2, &["carol"]).await, 804);
    fails(&yx.invite("alice", team, 1, &["carol"]).await, 805);
    assert_eq!(
        ok(&yx.invite("alice", team, 2, &["carol"]).await)["success_list"],
        json!(["carol"])
    );
    let k = ok(&yx
        .kick("alice", team, 2, &["alice", "nobody", "carol", "dave"])
        .await)
    .clone();
    assert_eq!(k["success_list"], json!(["carol"]));
    let codes: Vec<(String, i64)> = k["failed_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["account_id"].as_str().unwrap().to_string(),
                n(&f["error_code"]),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("alice".to_string(), 802),
            ("nobody".into(), 404),
            ("dave".into(), 404)
        ]
    );
    fails(&yx.kick("bob", team, 2, &["alice"]).await, 802);

    fails(
        &yx.delete(&format!("/teams/{team}?team_type=2&operator_id=bob"))
            .await,
        802,
    );
    ok(&yx
        .delete(&format!("/teams/{team}?team_type=2&operator_id=alice"))
        .await);
    fails(&yx.get(&format!("/teams/{team}")).await, 108404);
    fails(
        &yx.send_text(&conv("alice", 3, team), "anyone?").await,
        108404,
    );
    fails(&yx.invite("alice", team, 2, &["carol"]).await, 108404);
}

#[tokio::test]
async fn auth_header_and_content_type_variants() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let path = format!("/conversations/{}/messages", conv("alice", 2, g));
    let body =
        serde_json::to_vec(&json!({ "message": { "message_type": 0, "text": "ct" } })).unwrap();
    for ct in [
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/json;charset=UTF-8"),
        None,
    ] {
        let r = yx
            .request(
                Method::POST,
                &path,
                Some(&yx.sign()),
                Some(Body::Raw {
                    content_type: ct.map(str::to_string),
                    bytes: body.clone(),
                }),
            )
            .await;
        ok(&r);
    }
    // Header names in any case; CheckSum hex in upper case.
    let mut sig = yx.sign();
    sig.checksum = sig.checksum.map(|c| c.to_uppercase());
    let mut req = app.http.get(app.url("/im/v2/accounts/alice"));
    for (k, v) in sig.headers() {
        req = req.header(k.to_lowercase(), v);
    }
    let r = Reply::from(req.send().await.unwrap()).await;
    assert_eq!(ok(&r)["account_id"], "alice");
    // The dialect's own sign_headers (what `switchboard sign yunxin` prints) are accepted.
    let headers = switchboard_dialect_yunxin::sign_headers(
        s.app_id(),
        s.app_secret(),
        &fresh_nonce(),
        yx.now_secs(),
    );
    let mut req = app.http.get(app.url("/im/v2.1/accounts/bob"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    assert_eq!(
        ok(&Reply::from(req.send().await.unwrap()).await)["account_id"],
        "bob"
    );
    // CurTime exactly at the edge of the window is accepted.
    let edge = (yx.now_secs() - 300).to_string();
    ok(&yx
        .request(
            Method::GET,
            "/accounts/alice",
            Some(&yx.signing(&fresh_nonce(), &edge)),
            None,
        )
        .await);
}

#[tokio::test]
async fn rate_limited_per_app_key() {
    let (app, s) = world_with(|c| c.yunxin.rate_limit_per_second = 3).await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    for _ in 0..3 {
        ok(&yx.get("/accounts/alice").await);
    }
    let before = snapshot(&app, &[n(&s.tenant["id"])]).await;
    fails(
        &yx.send_text(&conv("alice", 2, g), "over the limit").await,
        416,
    );
    assert_eq!(
        snapshot(&app, &[n(&s.tenant["id"])]).await,
        before,
        "a limited request writes nothing"
    );
    // Another AppKey has its own budget.
    let other = app.create_app(&s.tenant, "Other bot").await;
    let other = YunxinClient::new(
        &app,
        other["app_id"].as_str().unwrap(),
        other["app_secret"].as_str().unwrap(),
    );
    ok(&other.get("/accounts/alice").await);
    clock(&app).advance_ms(1000);
    ok(&yx.send_text(&conv("alice", 2, g), "next second").await);
}

/// The world the bad-request tests send into: the seed, a super team `st` with a message
/// `gm` sent by alice in the seed's group, an account carol outside the group, a team in
/// another tenant, and a nonce already used once.
struct BadWorld {
    app: TestApp,
    s: Seed,
    /// The seed's tenant and the other one: the tenants whose data no case may change.
    tenants: [i64; 2],
    g: i64,
    p2p: i64,
    st: i64,
    gm: i64,
    foreign: i64,
    replayed: String,
}

async fn bad_world() -> BadWorld {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let p2p = n(&s.p2p["id"]);
    let st = n(&ok(&yx.create_team("alice", 2, "Super", &["bob"]).await)["team_info"]["team_id"]);
    ok(&yx.create_account("carol", "Carol").await);
    let gm = sent_id(
        &yx.send(
            &conv("alice", 2, g),
            json!({ "message": { "message_type": 0, "text": "x", "message_client_id": "dup-1" } }),
        )
        .await,
    );
    let other_tenant = app.create_tenant("Other").await;
    let zed = app.create_user(&other_tenant, "Zed", "zed").await;
    let foreign = n(&app
        .create_chat(
            &other_tenant,
            "group",
            Some("Theirs"),
            ("user", &zed["id"]),
            &[],
        )
        .await["id"]);
    let replayed = fresh_nonce();
    ok(&yx
        .request(
            Method::GET,
            "/accounts/alice",
            Some(&yx.signing(&replayed, &yx.now_secs().to_string())),
            None,
        )
        .await);
    let tenants = [n(&s.tenant["id"]), n(&other_tenant["id"])];
    BadWorld {
        app,
        s,
        tenants,
        g,
        p2p,
        st,
        gm,
        foreign,
        replayed,
    }
}

impl BadWorld {
    fn yx(&self) -> YunxinClient<'_> {
        client(&self.app, &self.s)
    }

    /// alice's conversation with the seed's group.
    fn alice_g(&self) -> String {
        conv("alice", 2, self.g)
    }

    /// A valid signature, except for what `f` changes.
    fn signed_but(&self, f: fn(&mut Signing)) -> Option<Signing> {
        let mut sig = self.yx().sign();
        f(&mut sig);
        Some(sig)
    }
}

/// One request that must be refused: HTTP 200 with `code`, and nothing written.
struct Bad {
    name: &'static str,
    method: Method,
    path: String,
    /// `None`: a valid signature, made when the request is sent.
    signing: Option<Option<Signing>>,
    body: Option<Body>,
    code: i64,
}

impl Bad {
    fn new(name: &'static str, method: Method, path: impl Into<String>, code: i64) -> Self {
        Bad {
            name,
            method,
            path: path.into(),
            signing: None,
            body: None,
            code,
        }
    }

    fn get(name: &'static str, path: impl Into<String>, code: i64) -> Self {
        Bad::new(name, Method::GET, path, code)
    }

    fn delete(name: &'static str, path: impl Into<String>, code: i64) -> Self {
        Bad::new(name, Method::DELETE, path, code)
    }

    fn post(name: &'static str, path: impl Into<String>, body: Value, code: i64) -> Self {
        Bad::new(name, Method::POST, path, code).body(Body::Json(body))
    }

    fn body(mut self, body: Body) -> Self {
        self.body = Some(body);
        self
    }

    fn signed(mut self, signing: Option<Signing>) -> Self {
        self.signing = Some(signing);
        self
    }
}

fn text(t: &str) -> Value {
    json!({ "message": { "message_type": 0, "text": t } })
}

fn send_path(conversation: &str) -> String {
    format!("/conversations/{conversation}/messages")
}

fn message_path(conversation: &str, id: impl std::fmt::Display) -> String {
    format!("/conversations/{conversation}/messages/{id}")
}

fn raw(content_type: &str, bytes: &[u8]) -> Body {
    Body::Raw {
        content_type: Some(content_type.into()),
        bytes: bytes.to_vec(),
    }
}

/// Sends each case in turn; each must get HTTP 200, a JSON envelope with its `code`, a
/// message and empty data, and leave both tenants as they were. Failures name the case.
async fn each_gets_its_code_and_writes_nothing(w: &BadWorld, cases: Vec<Bad>) {
    let yx = w.yx();
    for Bad {
        name,
        method,
        path,
        signing,
        body,
        code,
    } in cases
    {
        let signing = signing.unwrap_or_else(|| Some(yx.sign()));
        let before = snapshot(&w.app, &w.tenants).await;
        let r = yx.request(method, &path, signing.as_ref(), body).await;
        assert_eq!(r.status, reqwest::StatusCode::OK, "{name}: {}", r.text);
        let ct = r
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            ct.starts_with("application/json"),
            "{name}: content-type {ct:?}"
        );
        assert_eq!(r.body["code"], code, "{name}: {}", r.text);
        assert!(
            r.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {}",
            r.text
        );
        assert_eq!(r.body["data"], json!({}), "{name}");
        assert_eq!(
            snapshot(&w.app, &w.tenants).await,
            before,
            "{name} wrote something"
        );
    }
}

#[tokio::test]
async fn a_send_without_a_valid_signature_gets_414_and_writes_nothing() {
    let w = bad_world().await;
    let yx = w.yx();
    let now = yx.now_secs();
    let at = |nonce: &str, cur_time: &str| Some(yx.signing(nonce, cur_time));
    let post = |name| Bad::post(name, send_path(&w.alice_g()), text("a"), 414);
    let cases = vec![
        post("no AppKey").signed(w.signed_but(|s| s.app_key = None)),
        post("no Nonce").signed(w.signed_but(|s| s.nonce = None)),
        post("no CurTime").signed(w.signed_but(|s| s.cur_time = None)),
        post("no CheckSum").signed(w.signed_but(|s| s.checksum = None)),
        post("no headers at all").signed(None),
        post("stale CurTime").signed(at(&fresh_nonce(), &(now - 301).to_string())),
        post("future CurTime").signed(at(&fresh_nonce(), &(now + 301).to_string())),
        post("CurTime in milliseconds").signed(at(&fresh_nonce(), &(now * 1000).to_string())),
        post("CurTime not a number").signed(at(&fresh_nonce(), "soon")),
        post("replayed nonce").signed(at(&w.replayed, &now.to_string())),
        post("nonce too long").signed(at(&"n".repeat(129), &now.to_string())),
        post("wrong secret").signed(Some(
            YunxinClient::new(&w.app, w.s.app_id(), "not-the-secret").sign(),
        )),
        post("unknown AppKey").signed(Some(
            YunxinClient::new(&w.app, "cli_nobody", w.s.app_secret()).sign(),
        )),
        post("CheckSum not hex").signed(w.signed_but(|s| s.checksum = Some("z".repeat(40)))),
    ];
    assert_eq!(cases.len(), 14);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_malformed_or_unusable_conversation_id_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let (g, st, gm) = (w.g, w.st, w.gm);
    let post = |name, conversation: String, code| {
        Bad::post(name, send_path(&conversation), text("a"), code)
    };
    let cases = vec![
        post("conversation id with two parts", "alice%7C2".into(), 414),
        post(
            "conversation id with four parts",
            format!("alice%7C2%7C{g}%7Cx"),
            414,
        ),
        post("unknown conversation type", format!("alice%7C4%7C{g}"), 414),
        post("empty owner", format!("%7C2%7C{g}"), 414),
        post("team id not a number", conv("alice", 2, "abc"), 414),
        post("type 3 on an advanced team", conv("alice", 3, g), 414),
        Bad::get(
            "type 2 on a super team",
            message_path(&conv("alice", 2, st), gm),
            414,
        ),
        post("a p2p chat as a team", conv("alice", 2, w.p2p), 414),
        post("p2p with oneself", conv("alice", 1, "alice"), 414),
        post("another tenant's team", conv("alice", 2, w.foreign), 108404),
        post("a missing team", conv("alice", 2, 9_999_999), 108404),
        post("unknown owner account", conv("ghost", 2, g), 404),
        post("owner not in the team", conv("carol", 2, g), 804),
    ];
    assert_eq!(cases.len(), 13);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_malformed_message_id_or_query_flag_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let (alice_g, gm) = (w.alice_g(), w.gm);
    let cases = vec![
        Bad::get(
            "message_server_id not a number",
            message_path(&alice_g, "abc"),
            414,
        ),
        // A Long (the vendor's type), so well formed: it just names no message.
        Bad::get(
            "message_server_id negative",
            message_path(&alice_g, "-5"),
            107404,
        ),
        Bad::get(
            "message_time not a number",
            message_path(&alice_g, format!("{gm}?message_time=yesterday")),
            414,
        ),
        Bad::get(
            "check flag not a boolean",
            message_path(&alice_g, format!("{gm}?check_team_valid=maybe")),
            414,
        ),
    ];
    assert_eq!(cases.len(), 4);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_send_with_a_malformed_body_gets_414_and_writes_nothing() {
    let w = bad_world().await;
    let to_g = send_path(&w.alice_g());
    let post = |name, body| Bad::post(name, &to_g, body, 414);
    let post_raw = |name, content_type: &str, bytes: &[u8]| {
        Bad::new(name, Method::POST, &to_g, 414).body(raw(content_type, bytes))
    };
    let big = "x".repeat(1024 * 1024 + 10);
    let cases = vec![
        post("text over 5000 characters", text(&"y".repeat(5001))),
        post("body over the size limit", text(&big)),
        post_raw("invalid JSON", "application/json", b"{\"message\":"),
        post_raw(
            "form content type",
            "application/x-www-form-urlencoded",
            b"message=hi",
        ),
        post_raw("empty body", "application/json", b""),
        post("no message", json!({ "extension": "x" })),
        post("no message_type", json!({ "message": { "text": "a" } })),
        post(
            "unknown message_type",
            json!({ "message": { "message_type": 7, "text": "a" } }),
        ),
        post(
            "notification is server-made",
            json!({ "message": { "message_type": 5, "attachment": {} } }),
        ),
        post(
            "image without url",
            json!({ "message": { "message_type": 1, "attachment": { "w": 1 } } }),
        ),
        post(
            "attachment as a string",
            json!({ "message": { "message_type": 100, "attachment": "{}" } }),
        ),
        Bad::post(
            "client id reused in another conversation",
            send_path(&conv("alice", 3, w.st)),
            json!({ "message": { "message_type": 0, "text": "b", "message_client_id": "dup-1" } }),
            414,
        ),
    ];
    assert_eq!(cases.len(), 12);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_reply_or_mention_naming_nothing_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let to_g = send_path(&w.alice_g());
    let cases = vec![
        Bad::post(
            "reply to a missing message",
            &to_g,
            json!({ "message": { "message_type": 0, "text": "r" }, "thread_config": { "thread_reply": { "message_server_id": w.gm + 1000 } } }),
            107404,
        ),
        Bad::post(
            "reply without an id",
            &to_g,
            json!({ "message": { "message_type": 0, "text": "r" }, "thread_config": { "thread_reply": {} } }),
            414,
        ),
        Bad::post(
            "mention of an unknown account",
            &to_g,
            json!({ "message": { "message_type": 0, "text": "@x" }, "push_config": { "push_forcepush_ids": ["ghost"] } }),
            404,
        ),
    ];
    assert_eq!(cases.len(), 3);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_recall_of_the_wrong_type_time_or_conversation_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let (alice_g, gm) = (w.alice_g(), w.gm);
    let cases = vec![
        Bad::delete(
            "recall type 4",
            message_path(&alice_g, format!("{gm}?type=4")),
            414,
        ),
        Bad::delete("recall without type", message_path(&alice_g, gm), 414),
        Bad::delete(
            "recall with the wrong message_time",
            message_path(&alice_g, format!("{gm}?type=2&message_time=1")),
            107404,
        ),
        Bad::delete(
            "recall in the wrong conversation",
            message_path(&conv("alice", 3, w.st), format!("{gm}?type=2")),
            107404,
        ),
    ];
    assert_eq!(cases.len(), 4);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_modify_that_breaks_a_rule_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let gm = w.gm;
    let modify = |name, body, code| Bad::post(name, "/messages/actions/modifyMsg", body, code);
    let cases = vec![
        modify(
            "modify without operator",
            json!({ "type": 2, "message": { "message_server_id": gm, "message_type": 0, "text": "m" } }),
            414,
        ),
        modify(
            "modify with the wrong type",
            json!({ "operator": "alice", "type": 3, "message": { "message_server_id": gm, "message_type": 0, "text": "m" } }),
            414,
        ),
        modify(
            "modify changing message_type",
            json!({ "operator": "alice", "type": 2, "message": { "message_server_id": gm, "message_type": 100, "attachment": {} } }),
            414,
        ),
        modify(
            "modify a missing message",
            json!({ "operator": "alice", "type": 2, "message": { "message_server_id": gm + 1000, "message_type": 0, "text": "m" } }),
            107404,
        ),
        modify(
            "modify id not a Long",
            json!({ "operator": "alice", "type": 2, "message": { "message_server_id": "abc", "message_type": 0, "text": "m" } }),
            414,
        ),
    ];
    assert_eq!(cases.len(), 5);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn a_bad_batch_team_account_or_membership_request_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let g = w.g;
    let mut hundred_one: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    hundred_one.push("bob".into());
    let cases = vec![
        Bad::post(
            "batch over 100 receivers",
            "/conversations/messages",
            json!({ "sender_id": "alice", "receiver_ids": hundred_one, "message": { "message_type": 0, "text": "b" } }),
            414,
        ),
        Bad::post(
            "team_type 3",
            "/im/v2.1/teams",
            json!({ "owner_account_id": "alice", "team_type": 3, "name": "T" }),
            414,
        ),
        Bad::post(
            "team without name",
            "/im/v2.1/teams",
            json!({ "owner_account_id": "alice", "team_type": 1 }),
            414,
        ),
        Bad::post(
            "duplicate account",
            "/accounts",
            json!({ "account_id": "alice" }),
            414,
        ),
        Bad::post(
            "account id with a bar",
            "/accounts",
            json!({ "account_id": "a|b" }),
            414,
        ),
        Bad::post(
            "invite with the wrong team_type",
            "/team_members",
            json!({ "operator_id": "alice", "team_id": g, "team_type": 2, "invite_account_ids": ["carol"] }),
            805,
        ),
        Bad::delete(
            "kick without accounts",
            format!("/team_members/actions/kick_member?operator_id=alice&team_id={g}&team_type=1"),
            414,
        ),
    ];
    assert_eq!(cases.len(), 7);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn an_unsupported_method_or_unknown_endpoint_gets_its_code_and_writes_nothing() {
    let w = bad_world().await;
    let cases = vec![
        Bad::new(
            "unsupported method",
            Method::PUT,
            message_path(&w.alice_g(), w.gm),
            414,
        ),
        Bad::get("unknown endpoint", "/im/v2/no_such_thing", 404),
    ];
    assert_eq!(cases.len(), 2);
    each_gets_its_code_and_writes_nothing(&w, cases).await;
}

#[tokio::test]
async fn auth_failures_name_the_check() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let msg = |r: Reply| r.body["msg"].as_str().unwrap_or_default().to_string();
    let mut sig = yx.sign();
    sig.nonce = None;
    assert!(msg(yx
        .request(Method::GET, "/accounts/alice", Some(&sig), None)
        .await)
    .contains("missing header Nonce"));
    let stale = yx.signing(&fresh_nonce(), &(yx.now_secs() - 400).to_string());
    assert!(msg(yx
        .request(Method::GET, "/accounts/alice", Some(&stale), None)
        .await)
    .contains("CurTime"));
    let wrong = YunxinClient::new(&app, s.app_id(), "bad").sign();
    assert!(msg(yx
        .request(Method::GET, "/accounts/alice", Some(&wrong), None)
        .await)
    .contains("CheckSum mismatch"));
    let nonce = fresh_nonce();
    let first = yx.signing(&nonce, &yx.now_secs().to_string());
    ok(&yx
        .request(Method::GET, "/accounts/alice", Some(&first), None)
        .await);
    assert!(msg(yx
        .request(Method::GET, "/accounts/alice", Some(&first), None)
        .await)
    .contains("Nonce has already been used"));
    // Once its CurTime has left the window the nonce is forgotten, and the stale CurTime is what fails.
    clock(&app).advance_ms(301_000);
    assert!(msg(yx
        .request(Method::GET, "/accounts/alice", Some(&first), None)
        .await)
    .contains("CurTime"));
}

#[tokio::test]
async fn admin_messages_are_readable_here_and_yunxin_messages_there() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let t = &s.tenant["id"];
    // Admin -> Yunxin, as the bot (an app sender shows its app_id).
    let m = app
        .admin_send_text(&s.tenant, &s.group, ("app", &s.bot["id"]), "from the bot")
        .await;
    let d = ok(&yx.query(&conv("bob", 2, g), &m["id"], "").await).clone();
    assert_eq!(
        (d["text"].as_str(), d["sender_id"].as_str()),
        (Some("from the bot"), Some(s.app_id()))
    );
    // The bot may act as a conversation owner too.
    let id = sent_id(
        &yx.send_text(&conv(s.app_id(), 2, g), "bot via yunxin")
            .await,
    );
    let a = admin_message(&app, &s, g, id).await;
    assert_eq!(
        (a["sender"]["type"].as_str(), a["text"].as_str()),
        (Some("app"), Some("bot via yunxin"))
    );
    // Yunxin -> admin: the canonical text and the Yunxin id of the message.
    let id = sent_id(&yx.send_text(&conv("bob", 2, g), "from yunxin").await);
    let a = admin_message(&app, &s, g, id).await;
    assert_eq!(
        (a["type"].as_str(), a["text"].as_str()),
        (Some("text"), Some("from yunxin"))
    );
    assert_eq!(a["dialect_ids"]["yunxin"], id);
    let listed = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{t}/chats/{g}/messages"),
            None,
        )
        .await;
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == id));
    let stored = app
        .core
        .get(TenantId(n(t)), Access::Admin, None, MessageId(id))
        .await
        .unwrap();
    let original = stored.message.content.original.unwrap();
    assert_eq!(
        (
            original.format.as_str(),
            &original.value.to_value()["message"]
        ),
        (
            "yunxin",
            &json!({ "message_type": 0, "text": "from yunxin" })
        )
    );
}

#[tokio::test]
async fn demo_commands_work_against_a_running_server() {
    let have = |bin: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {bin}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !["bash", "curl", "sha1sum", "od"].iter().all(|b| have(b)) {
        eprintln!("skipped: bash, curl, sha1sum and od are needed to run the demo commands");
        return;
    }
    // The commands sign with `date +%s`, so this server runs on the system clock.
    let app = spawn_app().await;
    let s = app.seed().await;
    let t = TenantId(n(&s.tenant["id"]));
    let m = app
        .admin_send_text(
            &s.tenant,
            &s.group,
            ("user", &s.alice["id"]),
            "demo message",
        )
        .await;
    let bot = app.core.app_by_public_id(s.app_id()).await.unwrap();
    let group = app.core.chat(t, ChatId(n(&s.group["id"]))).await.unwrap();
    let alice = app
        .core
        .find_user(t, UserKey::AccountId("alice"))
        .await
        .unwrap();
    let script = switchboard_dialect_yunxin::demo_commands(
        &app.base,
        &bot,
        &group,
        MessageId(n(&m["id"])),
        &alice,
    );
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
    let replies: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (
            replies[0]["code"].as_i64(),
            replies[0]["data"]["text"].as_str()
        ),
        (Some(200), Some("demo message")),
        "{stdout}"
    );
    assert_eq!(
        (
            replies[1]["code"].as_i64(),
            replies[1]["data"]["text"].as_str()
        ),
        (Some(200), Some("hello from Yunxin")),
        "{stdout}"
    );
    assert_eq!(
        app.core.chat(t, group.id).await.unwrap().last_position,
        group.last_position + 1
    );
}

#[tokio::test]
async fn wps_and_lark_messages_read_here_and_yunxin_messages_read_there() {
    use switchboard_testkit::lark::{Face, Lark};
    use switchboard_testkit::wps::{wps_id, WpsClient};
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let g = n(&s.group["id"]);
    let alice = conv("alice", 2, g);

    // WPS -> Yunxin, through the group's team conversation.
    let wps = WpsClient::for_seed(&app, &s).await;
    let wps_group = wps_id(&s.group);
    let wid = wps.send_text(&app, ("chat", &wps_group), "from WPS").await;
    let id = switchboard_dialect_wps::ids::parse_message_id(&wid).expect("a WPS message id");
    let d = ok(&yx.query(&alice, id.get(), "").await).clone();
    assert_eq!(
        (
            d["text"].as_str(),
            d["sender_id"].as_str(),
            d["message_type"].as_i64()
        ),
        (Some("from WPS"), Some(s.app_id()), Some(0))
    );

    // Feishu and Hi -> Yunxin.
    let fs = Lark::login(&app, &s, Face::Feishu).await;
    let oc = switchboard_dialect_lark::ids::chat_id(ChatId(g));
    for (face, text) in [(Face::Feishu, "from Feishu"), (Face::Hi, "from Hi")] {
        let lid = fs.with_face(face).send_text(&oc, text).await;
        let id = switchboard_dialect_lark::ids::parse_message_id(&lid).expect("a Lark message id");
        assert_eq!(
            ok(&yx.query(&conv("bob", 2, g), id.get(), "").await)["text"],
            text,
            "{face:?}"
        );
    }

    // Yunxin -> WPS and Feishu.
    let mine = MessageId(sent_id(&yx.send_text(&alice, "from Yunxin").await));
    let r = wps
        .get_message(
            &app,
            &wps_group,
            &switchboard_dialect_wps::ids::message_id(mine),
        )
        .await;
    assert_eq!(r.body["code"], 0, "{}", r.text);
    assert!(r.text.contains("from Yunxin"), "{}", r.text);
    let it = fs
        .get_one(&switchboard_dialect_lark::ids::message_id(mine))
        .await;
    let content: Value = serde_json::from_str(it["body"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({ "text": "from Yunxin" }));
}
