//! WPS and Yunxin deliveries opened by receivers written from the vendors' specs alone
//! (`switchboard_testkit::verify`: RustCrypto used directly, no dialect crypto module),
//! and one group heard by a Feishu, a WPS and a Yunxin subscriber at once: each message
//! reaches every other subscriber in its own wire, names the message in its own id form,
//! and that id fetches the same message through that dialect's own API.

use crate::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard_core::ids::MessageId;
use switchboard_testkit::lark::{Face, Lark};
use switchboard_testkit::verify::{
    is_compact_sorted_json, lark_signature_ok, wps_open, yunxin_check, Hit, Hook, WpsEvent,
};
use switchboard_testkit::wps::{wps_id, WpsClient};
use switchboard_testkit::yunxin::{conv, ok, YunxinClient};
use switchboard_testkit::TestApp;

const WPS_TOPICS: [&str; 5] = [
    "kso.app_chat.message",
    "kso.app_chat.message.recall",
    "kso.xz.app.group_chat.member.robot",
    "kso.xz.app.group_chat.member.user",
    "kso.xz.app.group_chat",
];

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn str_of<'v>(v: &'v Value, what: &str) -> &'v str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

/// Subscribes `app` on `dialect` with `body` (must succeed); returns the subscription.
async fn put_sub(node: &TestApp, tenant: &Value, app: &Value, dialect: &str, body: Value) -> Value {
    let sub = node
        .admin_ok(Method::PUT, &sub_path(tenant, app, dialect), Some(body))
        .await;
    assert_eq!(sub["dialect"], dialect, "{sub}");
    sub
}

/// Adds `scope` to the app's current scopes.
async fn grant(node: &TestApp, tenant: &Value, app: &Value, scope: &str) {
    let path = format!("/tenants/{}/apps/{}", tenant["id"], app["id"]);
    let cur = node.admin_ok(Method::GET, &path, None).await;
    let mut scopes: Vec<Value> = cur["scopes"].as_array().expect("scopes").clone();
    scopes.push(json!(scope));
    let after = node
        .admin_ok(Method::PUT, &path, Some(json!({ "scopes": scopes })))
        .await;
    assert!(
        after["scopes"].as_array().unwrap().contains(&json!(scope)),
        "{after}"
    );
}

/// Every WPS event among `hits` (challenges left out), verified and opened with the app's
/// credentials, checked for what every event has; repeats of an event id dropped.
fn wps_events(hits: &[Hit], app: &Value) -> Vec<WpsEvent> {
    let (id, secret) = (
        str_of(&app["app_id"], "app_id"),
        str_of(&app["app_secret"], "secret"),
    );
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for h in hits.iter().filter(|h| !h.is_challenge()) {
        assert_eq!(h.method, "POST");
        assert_eq!(
            h.header("Content-Type"),
            Some("application/json"),
            "{:?}",
            h.headers
        );
        assert!(
            !h.headers.iter().any(|(k, _)| k.starts_with("X-")),
            "WPS events carry no X- header: {:?}",
            h.headers
        );
        let ev = wps_open(id, secret, &h.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&h.body));
        });
        assert!(
            (ev.time - now_secs()).abs() <= 300,
            "time {} is not now",
            ev.time
        );
        assert!(
            is_compact_sorted_json(&ev.plain),
            "not compact with sorted keys: {}",
            String::from_utf8_lossy(&ev.plain)
        );
        let eid = str_of(&ev.data["event_id"], "event_id").to_string();
        assert!(is_hex32(&eid), "{eid}");
        if seen.insert(eid) {
            out.push(ev);
        }
    }
    out
}

/// Every Yunxin copy among `hits` verified with the app's credentials; the `"0"` probe and
/// team-change notices left out, repeats of `(eventType, msgidServer)` dropped.
fn yunxin_copies(hits: &[Hit], app: &Value) -> Vec<Value> {
    let (id, secret) = (
        str_of(&app["app_id"], "app_id"),
        str_of(&app["app_secret"], "secret"),
    );
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for h in hits {
        assert_eq!(
            h.header("Content-Type"),
            Some("application/json"),
            "{:?}",
            h.headers
        );
        // Header names case-insensitively: see `yunxin_copy_headers_keep_their_documented_casing`.
        let c = yunxin_check(id, secret, &h.headers, &h.body, false).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&h.body));
        });
        assert!(
            is_compact_sorted_json(&h.body),
            "not compact with sorted keys: {}",
            String::from_utf8_lossy(&h.body)
        );
        // The probe; and team-change notices, which these tests make none of after
        // subscribing (the seed's own may arrive: see
        // `nothing_from_before_a_subscription_is_delivered`).
        if c["eventType"] == "0" || c["msgType"] == "NOTIFICATION" {
            continue;
        }
        if seen.insert((c["eventType"].to_string(), c["msgidServer"].to_string())) {
            out.push(c);
        }
    }
    out
}

/// The text of a message event's `message` (WPS: `content.text.content`).
fn wps_text(m: &Value) -> Option<&str> {
    m["content"]["text"]["content"].as_str()
}

/// Checks a `kso.app_chat.message` event against the get API's answer for its message.
async fn check_wps_message(
    node: &TestApp,
    wps: &WpsClient,
    ev: &WpsEvent,
    chat: (&str, &str),
    company: &str,
) {
    assert_eq!(
        (ev.topic.as_str(), ev.operation.as_str()),
        ("kso.app_chat.message", "create")
    );
    let d = &ev.data;
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "chat",
            "company_id",
            "event_id",
            "message",
            "send_time",
            "sender"
        ],
        "{d}"
    );
    assert_eq!(d["chat"], json!({ "id": chat.0, "type": chat.1 }), "{d}");
    assert_eq!(d["company_id"], company, "{d}");
    assert_eq!(d["sender"], d["message"]["sender"], "{d}");
    assert!(d["send_time"].is_i64(), "{d}");
    assert_eq!(
        d["send_time"], d["message"]["ctime"],
        "send_time is the message's ms: {d}"
    );
    let id = str_of(&d["message"]["id"], "message.id");
    let got = wps.get_message(node, chat.0, id).await;
    assert_eq!(got.body["code"], 0, "get {id}: {}", got.text);
    assert_eq!(
        got.body["data"], d["message"],
        "the event's message is the get API's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wps_events_open_with_an_independent_receiver_and_carry_the_get_apis_message() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let t = &s.tenant["id"];
    let hook = Hook::start().await;
    put_sub(
        &node,
        &s.tenant,
        &s.bot,
        "wps",
        json!({ "mode": "webhook", "url": hook.url("/wps"), "event_types": WPS_TOPICS }),
    )
    .await;
    // The URL check: `{"challenge":"…"}` in plaintext, unsigned.
    let ch = hook.hits("/wps");
    assert_eq!(ch.len(), 1, "{ch:?}");
    let body = ch[0].json();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    assert!(
        body["challenge"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert_eq!(ch[0].header("Content-Type"), Some("application/json"));

    let wps = WpsClient::for_seed(&node, &s).await;
    let (company, p2p, group) = (wps_id(&s.tenant), wps_id(&s.p2p), wps_id(&s.group));
    let spid = str_of(&s.bot["spid"], "spid").to_string();

    // A p2p message; a group message that does not mention the bot (not heard), then one
    // that does.
    let m1_msg = node
        .admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), "hello wps")
        .await;
    let m1 = wps_id(&m1_msg);
    node.admin_send_text(
        &s.tenant,
        &s.group,
        ("user", &s.bob["id"]),
        "not for the bot",
    )
    .await;
    let m2 = node
        .admin_ok(
            Method::POST,
            &format!("/tenants/{t}/chats/{}/messages", s.group["id"]),
            Some(json!({
                "sender": {"type": "user", "id": s.bob["id"]}, "type": "text",
                "content": {"text": "<at id=\"1\">Bot</at> hi bot"},
                "mentions": [{"key": "1", "type": "app", "id": s.bot["id"], "name": "Bot"}],
            })),
        )
        .await;
    let m2 = wps_id(&m2);
    let evs = hook
        .wait("/wps", WAIT, "two message events", |h| {
            let e: Vec<WpsEvent> = wps_events(h, &s.bot)
                .into_iter()
                .filter(|e| e.topic == "kso.app_chat.message")
                .collect();
            (e.len() >= 2).then_some(e)
        })
        .await;
    let by_id: BTreeMap<&str, &WpsEvent> = evs
        .iter()
        .map(|e| (e.data["message"]["id"].as_str().unwrap_or(""), e))
        .collect();
    assert_eq!(by_id.keys().copied().collect::<Vec<_>>().len(), 2);
    let e1 = by_id.get(m1.as_str()).expect("the p2p message's event");
    let e2 = by_id.get(m2.as_str()).unwrap_or_else(|| {
        panic!(
            "the mention's event ({m2}); got {:?} (the unmentioned message must not be heard)",
            evs.iter().map(|e| &e.data).collect::<Vec<_>>()
        )
    });
    check_wps_message(&node, &wps, e1, (&p2p, "p2p"), &company).await;
    assert_eq!(wps_text(&e1.data["message"]), Some("hello wps"));
    assert_eq!(
        e1.data["sender"],
        json!({ "app_id": "", "company_id": company, "id": wps_id(&s.alice), "type": "user" })
    );
    check_wps_message(&node, &wps, e2, (&group, "group"), &company).await;
    let text = wps_text(&e2.data["message"]).unwrap_or("");
    assert!(text.contains("<at id=\"1\">"), "{text}");
    assert_eq!(
        e2.data["message"]["mentions"][0]["identity"]["id"], spid,
        "{}",
        e2.data
    );

    // The p2p message recalled by alice.
    node.admin_ok(
        Method::DELETE,
        &format!(
            "/tenants/{t}/chats/{}/messages/{}",
            s.p2p["id"], m1_msg["id"]
        ),
        None,
    )
    .await;
    // The bot's own message is not heard; alice's next one is (same chat: in order).
    wps.send_text(&node, ("chat", &p2p), "mine").await;
    let m3 = wps_id(
        &node
            .admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), "after mine")
            .await,
    );

    // Membership of a new group, then the seed group dissolved.
    let carol = node.create_user(&s.tenant, "Carol", "carol").await;
    let ops = node
        .create_chat(
            &s.tenant,
            "group",
            Some("Ops"),
            ("user", &s.alice["id"]),
            &[("user", &s.bob["id"])],
        )
        .await;
    let members = format!("/tenants/{t}/chats/{}/members", ops["id"]);
    let one = |kind: &str, v: &Value| json!({ "members": [{ "type": kind, "id": v["id"] }] });
    // Who hears a membership change is read when it is routed: each step waits for its
    // event, so that the bot is still in the group when carol leaves.
    let steps = [
        (
            Method::POST,
            one("app", &s.bot),
            "kso.xz.app.group_chat.member.robot",
            "create",
        ),
        (
            Method::POST,
            one("user", &carol),
            "kso.xz.app.group_chat.member.user",
            "create",
        ),
        (
            Method::DELETE,
            one("user", &carol),
            "kso.xz.app.group_chat.member.user",
            "delete",
        ),
        (
            Method::DELETE,
            one("app", &s.bot),
            "kso.xz.app.group_chat.member.robot",
            "delete",
        ),
    ];
    for (method, body, topic, op) in steps {
        node.admin_ok(method, &members, Some(body)).await;
        hook.wait("/wps", WAIT, &format!("{topic}/{op}"), |h| {
            wps_events(h, &s.bot)
                .iter()
                .any(|e| e.topic == topic && e.operation == op)
                .then_some(())
        })
        .await;
    }
    node.admin_ok(
        Method::DELETE,
        &format!("/tenants/{t}/chats/{}", s.group["id"]),
        None,
    )
    .await;

    let evs = hook
        .wait(
            "/wps",
            WAIT,
            "three messages, a recall, the dissolution",
            |h| {
                let e = wps_events(h, &s.bot);
                let n = |t: &str| e.iter().filter(|x| x.topic == t).count();
                (n("kso.app_chat.message") >= 3
                    && n("kso.app_chat.message.recall") >= 1
                    && n("kso.xz.app.group_chat") >= 1)
                    .then_some(e)
            },
        )
        .await;
    // The seed's own membership changes, made before the subscription, may be delivered
    // too (see `nothing_from_before_a_subscription_is_delivered`), and so may the
    // creation of Ops if it is routed after the bot joined (membership is read when a
    // change is routed): the membership events are picked by chat and users.
    let ops_id = wps_id(&ops);
    let carol_id = wps_id(&carol);
    let find = |topic: &str, op: &str| -> Vec<&WpsEvent> {
        evs.iter()
            .filter(|e| e.topic == topic && e.operation == op)
            .filter(|e| match topic {
                "kso.xz.app.group_chat.member.robot" => e.data["chat_id"] == ops_id,
                "kso.xz.app.group_chat.member.user" => {
                    e.data["chat_id"] == ops_id && e.data["users"][0]["id"] == carol_id
                }
                _ => true,
            })
            .collect()
    };
    let msgs = find("kso.app_chat.message", "create");
    let texts: Vec<&str> = msgs
        .iter()
        .filter_map(|e| wps_text(&e.data["message"]))
        .collect();
    assert_eq!(msgs.len(), 3, "{texts:?}");
    assert!(!texts.contains(&"mine"), "the bot heard itself: {texts:?}");
    let e3 = msgs
        .iter()
        .find(|e| e.data["message"]["id"] == m3)
        .expect("after mine");
    assert_eq!(wps_text(&e3.data["message"]), Some("after mine"));
    check_wps_message(&node, &wps, e3, (&p2p, "p2p"), &company).await;

    let recall = find("kso.app_chat.message.recall", "create");
    assert_eq!(recall.len(), 1);
    let r = &recall[0].data;
    assert!(r["recall_time"].is_i64(), "{r}");
    let mut want = json!({
        "chat_id": p2p, "company_id": company, "event_id": r["event_id"], "id": m1,
        "operator": { "id": wps_id(&s.alice), "type": "user" }, "recall_time": r["recall_time"],
    });
    assert_eq!(r, &want, "recall");
    assert!(
        r["recall_time"].as_i64().unwrap() > now_secs() * 1000 - 300_000,
        "ms: {r}"
    );

    let admin_op = json!({ "id": "", "type": "unknown" });
    for (topic, op, users) in [
        ("kso.xz.app.group_chat.member.robot", "create", None),
        ("kso.xz.app.group_chat.member.user", "create", Some(&carol)),
        ("kso.xz.app.group_chat.member.user", "delete", Some(&carol)),
        ("kso.xz.app.group_chat.member.robot", "delete", None),
    ] {
        let got = find(topic, op);
        assert_eq!(
            got.len(),
            1,
            "{topic}/{op}: {:?}",
            got.iter().map(|e| &e.data).collect::<Vec<_>>()
        );
        let d = &got[0].data;
        want = json!({ "chat_id": ops_id, "company_id": company, "event_id": d["event_id"], "operator": admin_op });
        if let Some(u) = users {
            want["users"] = json!([{ "id": wps_id(u), "type": "user" }]);
        }
        assert_eq!(d, &want, "{topic}/{op}");
    }
    let gone = find("kso.xz.app.group_chat", "delete");
    assert_eq!(gone.len(), 1);
    let d = &gone[0].data;
    assert_eq!(
        d,
        &json!({ "chat_id": group, "company_id": company, "event_id": d["event_id"], "operator": admin_op })
    );
    // Each attempt its own nonce; each event its own id.
    let nonces: BTreeSet<&str> = evs.iter().map(|e| e.nonce.as_str()).collect();
    assert_eq!(nonces.len(), evs.len());
}

/// Checks a message copy (`eventType` `"1"`) against the query API's answer for it, read
/// from the sender's side of the conversation; returns the query's `data`.
async fn check_copy(yx: &YunxinClient<'_>, c: &Value) -> Value {
    assert_eq!(c["eventType"], "1", "{c}");
    let (from, to) = (
        str_of(&c["fromAccount"], "fromAccount"),
        str_of(&c["to"], "to"),
    );
    let conversation = match c["convType"].as_str() {
        Some("PERSON") => conv(from, 1, to),
        Some("TEAM") => conv(from, 2, to),
        Some("SUPER_TEAM") => conv(from, 3, to),
        other => panic!("convType {other:?}: {c}"),
    };
    let id = str_of(&c["msgidServer"], "msgidServer");
    let d = ok(&yx.query(&conversation, id, "").await).clone();
    assert_eq!(d["message_server_id"].to_string(), id, "{d}");
    assert_eq!(d["sender_id"], c["fromAccount"], "{d}");
    assert_eq!(d["text"], c["body"], "{d}");
    assert_eq!(d["message_type"], 0, "{d}");
    assert_eq!(c["msgType"], "TEXT", "{c}");
    assert_eq!(
        d["create_time"].to_string(),
        str_of(&c["msgTimestamp"], "msgTimestamp")
    );
    let client_id = d["message_client_id"].as_str().unwrap_or("");
    assert_eq!(c["msgidClient"], client_id, "{c}");
    assert_eq!(c["fromClientType"], "REST", "{c}");
    assert_eq!(
        (&c["fromDeviceId"], &c["resendFlag"], &c["attach"]),
        (&json!(""), &json!("0"), &json!("")),
        "{c}"
    );
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yunxin_copies_verify_independently_and_name_messages_the_query_api_returns() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let hook = Hook::start().await;
    put_sub(
        &node,
        &s.tenant,
        &s.bot,
        "yunxin",
        json!({ "mode": "webhook", "url": hook.url("/yx"), "event_types": ["1", "7", "8"] }),
    )
    .await;
    // The URL check: a signed probe.
    let probe = hook.hits("/yx");
    assert_eq!(probe.len(), 1, "{probe:?}");
    let p = yunxin_check(
        s.app_id(),
        s.app_secret(),
        &probe[0].headers,
        &probe[0].body,
        false,
    )
    .unwrap_or_else(|e| panic!("probe: {e}"));
    assert_eq!(p["eventType"], "0");
    assert!(is_hex32(str_of(&p["challenge"], "challenge")), "{p}");
    assert_eq!(p.as_object().unwrap().len(), 2, "{p}");

    let yx = YunxinClient::new(&node, s.app_id(), s.app_secret());
    let g = num(&s.group);
    let team = conv("alice", 2, g);
    // A team message through the admin API (no mention: a copy is everything), and a p2p
    // message between two users through the Yunxin API (the bot is no member there).
    let a = node
        .admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "team hello")
        .await;
    let a_id = a["dialect_ids"]["yunxin"].to_string();
    assert_eq!(a_id, a["id"].to_string());
    let b = ok(&yx.send_text(&conv("alice", 1, "bob"), "hi bob").await)["message_server_id"]
        .to_string();
    let copies = hook
        .wait("/yx", WAIT, "two copies", |h| {
            let c = yunxin_copies(h, &s.bot);
            (c.len() >= 2).then_some(c)
        })
        .await;
    let by_id: BTreeMap<String, &Value> = copies
        .iter()
        .map(|c| (c["msgidServer"].as_str().unwrap_or("").to_string(), c))
        .collect();
    let ca = by_id
        .get(&a_id)
        .unwrap_or_else(|| panic!("{a_id} in {copies:?}"));
    check_copy(&yx, ca).await;
    assert_eq!(
        (
            &ca["convType"],
            &ca["to"],
            &ca["fromAccount"],
            &ca["fromNick"],
            &ca["body"]
        ),
        (
            &json!("TEAM"),
            &json!(g.to_string()),
            &json!("alice"),
            &json!("Alice"),
            &json!("team hello")
        )
    );
    let cb = by_id.get(&b).unwrap_or_else(|| panic!("{b} in {copies:?}"));
    check_copy(&yx, cb).await;
    assert_eq!(
        (&cb["convType"], &cb["to"], &cb["fromAccount"], &cb["body"]),
        (
            &json!("PERSON"),
            &json!("bob"),
            &json!("alice"),
            &json!("hi bob")
        )
    );

    // The app's own message is not copied to it; alice's two-way recall of her message
    // is (`"8"`, a team's), and so is her next message.
    ok(&yx
        .send_text(&conv(s.app_id(), 2, g), "from the app itself")
        .await);
    ok(&yx.withdraw(&team, &a_id, 2, "").await);
    let c = ok(&yx.send_text(&team, "after the recall").await)["message_server_id"].to_string();
    let copies = hook
        .wait("/yx", WAIT, "four copies", |h| {
            let c = yunxin_copies(h, &s.bot);
            (c.len() >= 4).then_some(c)
        })
        .await;
    assert_eq!(copies.len(), 4, "{copies:?}");
    assert!(
        !copies.iter().any(|c| c["body"] == "from the app itself"),
        "the app heard itself: {copies:?}"
    );
    let recall = copies
        .iter()
        .find(|c| c["eventType"] == "8")
        .unwrap_or_else(|| panic!("a team recall in {copies:?}"));
    assert_eq!(
        (
            &recall["convType"],
            &recall["to"],
            &recall["fromAccount"],
            &recall["msgidServer"]
        ),
        (
            &json!("TEAM"),
            &json!(g.to_string()),
            &json!("alice"),
            &json!(a_id)
        )
    );
    assert_eq!(recall["recallType"], "2", "{recall}");
    assert_eq!(recall["msgTimestamp"], ca["msgTimestamp"], "{recall}");
    assert_eq!(recall["msgidClient"], ca["msgidClient"], "{recall}");
    let ts: i64 = str_of(&recall["timestamp"], "timestamp")
        .parse()
        .expect("ms");
    assert!(
        ts >= ca["msgTimestamp"].as_str().unwrap().parse::<i64>().unwrap(),
        "{recall}"
    );
    let cc = copies
        .iter()
        .find(|x| x["msgidServer"] == c.as_str() && x["eventType"] == "1")
        .unwrap_or_else(|| panic!("{c} in {copies:?}"));
    check_copy(&yx, cc).await;
    assert_eq!(cc["body"], "after the recall");
}

/// A message the test sent, in each dialect's id form (from the admin API's `dialect_ids`).
struct Sent {
    text: &'static str,
    lark: String,
    wps: String,
    yunxin: String,
}

async fn sent(
    node: &TestApp,
    tenant: &Value,
    chat: &Value,
    id: MessageId,
    text: &'static str,
) -> Sent {
    let m = node
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{}",
                tenant["id"], chat["id"], id.0
            ),
            None,
        )
        .await;
    assert_eq!(m["text"], text, "{m}");
    Sent {
        text,
        lark: str_of(&m["dialect_ids"]["lark"], "lark id").to_string(),
        wps: str_of(&m["dialect_ids"]["wps"], "wps id").to_string(),
        yunxin: m["dialect_ids"]["yunxin"].to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_group_three_dialects_each_other_subscriber_hears_each_message_in_its_own_wire() {
    let node = spawn_fast(|_| {}).await;
    let tenant = node.create_tenant("Cross").await;
    let alice = node.create_user(&tenant, "Alice", "alice").await;
    let bob = node.create_user(&tenant, "Bob", "bob").await;
    let fa = node.create_app(&tenant, "FeishuBot").await;
    let wa = node.create_app(&tenant, "WpsBot").await;
    let ya = node.create_app(&tenant, "YunxinApp").await;
    let group = node
        .create_chat(
            &tenant,
            "group",
            Some("Three"),
            ("user", &alice["id"]),
            &[
                ("user", &bob["id"]),
                ("app", &fa["id"]),
                ("app", &wa["id"]),
                ("app", &ya["id"]),
            ],
        )
        .await;
    grant(&node, &tenant, &fa, "im:message.group_msg").await;
    grant(&node, &tenant, &wa, "kso.chat_message.group_msg.read").await;

    let hook = Hook::start().await;
    put_sub(
        &node,
        &tenant,
        &fa,
        "feishu",
        sub_body(&hook.url("/f"), "", "vt", &["im.message.receive_v1"]),
    )
    .await;
    put_sub(
        &node,
        &tenant,
        &wa,
        "wps",
        json!({ "mode": "webhook", "url": hook.url("/w"), "event_types": ["kso.app_chat.message"] }),
    )
    .await;
    put_sub(
        &node,
        &tenant,
        &ya,
        "yunxin",
        json!({ "mode": "webhook", "url": hook.url("/y"), "event_types": ["1", "7", "8"] }),
    )
    .await;

    let lark = Lark::login_as(&node, &fa, Face::Feishu).await;
    let wps = WpsClient::connect(
        &node,
        str_of(&wa["app_id"], "app_id"),
        str_of(&wa["app_secret"], "secret"),
    )
    .await;
    let yx = YunxinClient::new(
        &node,
        str_of(&ya["app_id"], "app_id"),
        str_of(&ya["app_secret"], "secret"),
    );
    let (oc, wchat, g) = (
        str_of(&group["dialect_ids"]["lark"], "oc").to_string(),
        wps_id(&group),
        num(&group),
    );

    // (a) alice through the admin API; (b) the WPS app through WPS; (c) the Feishu app
    // through Feishu; (d) bob's account through Yunxin (signed with the Yunxin app's keys).
    let a = node
        .admin_send_text(&tenant, &group, ("user", &alice["id"]), "from admin")
        .await;
    let a = sent(&node, &tenant, &group, MessageId(num(&a)), "from admin").await;
    let b = wps.send_text(&node, ("chat", &wchat), "from wps").await;
    let b_id = switchboard_dialect_wps::ids::parse_message_id(&b).expect("a WPS id");
    let b = sent(&node, &tenant, &group, b_id, "from wps").await;
    let c = lark.send_text(&oc, "from feishu").await;
    let c_id = switchboard_dialect_lark::ids::parse_message_id(&c).expect("an om_ id");
    let c = sent(&node, &tenant, &group, c_id, "from feishu").await;
    let d = ok(&yx.send_text(&conv("bob", 2, g), "from yunxin").await)["message_server_id"].clone();
    let d = sent(
        &node,
        &tenant,
        &group,
        MessageId(d.as_i64().expect("id")),
        "from yunxin",
    )
    .await;

    // Feishu: every message but its own, `om_…` ids, fetched through Feishu.
    let want_f = [&a, &b, &d];
    let fs = hook
        .wait("/f", WAIT, "the Feishu app's three events", |h| {
            let evs: Vec<Hit> = h
                .iter()
                .filter(|x| !x.json()["header"].is_null())
                .cloned()
                .collect();
            let mut ids: Vec<String> = evs
                .iter()
                .map(|x| x.json()["header"]["event_id"].to_string())
                .collect();
            ids.sort();
            ids.dedup();
            (ids.len() >= want_f.len()).then_some(evs)
        })
        .await;
    let mut heard = BTreeMap::new();
    for h in &fs {
        assert!(
            lark_signature_ok(&h.headers, &h.body, ""),
            "{:?}",
            h.headers
        );
        let e = h.json();
        assert_eq!(e["schema"], "2.0");
        assert_eq!(e["header"]["event_type"], "im.message.receive_v1");
        assert_eq!(e["header"]["app_id"], fa["app_id"]);
        assert_eq!(e["event"]["message"]["chat_id"], oc.as_str());
        let id = str_of(&e["event"]["message"]["message_id"], "message_id").to_string();
        assert!(id.starts_with("om_"), "{id}");
        let content: Value =
            serde_json::from_str(str_of(&e["event"]["message"]["content"], "content")).unwrap();
        heard.insert(id, content["text"].as_str().unwrap_or("").to_string());
    }
    let want: BTreeMap<String, String> = want_f
        .iter()
        .map(|m| (m.lark.clone(), m.text.to_string()))
        .collect();
    assert_eq!(
        heard, want,
        "Feishu heard each other message once by its om_ id, never its own"
    );
    for (id, text) in &heard {
        let it = lark.get_one(id).await;
        let content: Value =
            serde_json::from_str(str_of(&it["body"]["content"], "body.content")).unwrap();
        assert_eq!(content["text"], text.as_str(), "Feishu get {id}");
    }

    // WPS: every message but its own, WPS ids, fetched through WPS.
    let want_w = [&a, &c, &d];
    let ws = hook
        .wait("/w", WAIT, "the WPS app's three events", |h| {
            let e = wps_events(h, &wa);
            (e.len() >= want_w.len()).then_some(e)
        })
        .await;
    let company = wps_id(&tenant);
    let mut heard = BTreeMap::new();
    for e in &ws {
        check_wps_message(&node, &wps, e, (&wchat, "group"), &company).await;
        let m = &e.data["message"];
        heard.insert(
            str_of(&m["id"], "message.id").to_string(),
            wps_text(m).unwrap_or("").to_string(),
        );
    }
    let want: BTreeMap<String, String> = want_w
        .iter()
        .map(|m| (m.wps.clone(), m.text.to_string()))
        .collect();
    assert_eq!(
        heard, want,
        "WPS heard each other message once by its WPS id, never its own"
    );

    // Yunxin: every message (none is the Yunxin app's own), `msgidServer`, fetched through
    // Yunxin.
    let want_y = [&a, &b, &c, &d];
    let ys = hook
        .wait("/y", WAIT, "the Yunxin app's four copies", |h| {
            let c = yunxin_copies(h, &ya);
            (c.len() >= want_y.len()).then_some(c)
        })
        .await;
    let mut heard = BTreeMap::new();
    for copy in &ys {
        assert_eq!(
            (&copy["convType"], &copy["to"]),
            (&json!("TEAM"), &json!(g.to_string())),
            "{copy}"
        );
        let data = check_copy(&yx, copy).await;
        heard.insert(
            str_of(&copy["msgidServer"], "msgidServer").to_string(),
            data["text"].as_str().unwrap_or("").to_string(),
        );
    }
    let want: BTreeMap<String, String> = want_y
        .iter()
        .map(|m| (m.yunxin.clone(), m.text.to_string()))
        .collect();
    assert_eq!(
        heard, want,
        "Yunxin copied each message once by its msgidServer"
    );
}

/// docs/events.md ("Yunxin message copy", "The request"): "Header names are sent in
/// exactly this casing" (`AppKey`, `CurTime`, `MD5`, `CheckSum`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yunxin_copy_headers_keep_their_documented_casing() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let hook = Hook::start().await;
    put_sub(
        &node,
        &s.tenant,
        &s.bot,
        "yunxin",
        json!({ "mode": "webhook", "url": hook.url("/yx"), "event_types": ["1"] }),
    )
    .await;
    node.admin_send_text(&s.tenant, &s.group, ("user", &s.alice["id"]), "casing")
        .await;
    let hits = hook
        .wait("/yx", WAIT, "the probe and a copy", |h| {
            (h.len() >= 2).then(|| h.to_vec())
        })
        .await;
    for h in &hits {
        let names: Vec<&str> = h.headers.iter().map(|(k, _)| k.as_str()).collect();
        for want in ["Content-Type", "AppKey", "CurTime", "MD5", "CheckSum"] {
            assert!(names.contains(&want), "{want} not sent as such: {names:?}");
        }
        yunxin_check(s.app_id(), s.app_secret(), &h.headers, &h.body, true)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// docs/events.md, "Who gets what": "Nothing that happened before a subscription existed
/// is delivered." The changes of the seed and a message are written while the router is
/// behind (here: events off, so they wait in the outbox), the bot subscribes, then the
/// router catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_from_before_a_subscription_is_delivered() {
    let mut node = spawn_fast(|c| c.events.enabled = false).await;
    let s = node.seed().await;
    node.admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), "before")
        .await;
    let hook = Hook::start().await;
    let types = ["im.message.receive_v1", "im.chat.member.bot.added_v1"];
    put_sub(
        &node,
        &s.tenant,
        &s.bot,
        "feishu",
        sub_body(&hook.url("/f"), "", "vt", &types),
    )
    .await;

    // The same store, events on.
    node.stop().await;
    let (dir, db) = (node.data_dir.clone(), node.database.clone());
    drop(node);
    let node = spawn_app_with(Options {
        data_dir: Some(dir),
        database: db,
        configure: Some(Box::new(fast)),
        ..Options::default()
    })
    .await;
    let after = node
        .admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), "after")
        .await;
    hook.wait("/f", WAIT, "the event of \"after\"", |h| {
        h.iter()
            .any(|x| x.json()["event"]["message"]["message_id"] == om(&after))
            .then_some(())
    })
    .await;
    // Changes are routed in order: by now every earlier one has been.
    let made: Vec<(Value, Value)> = deliveries(&node, &s.tenant, &s.bot)
        .await
        .iter()
        .map(|d| (d["event_type"].clone(), d["message"].clone()))
        .collect();
    assert_eq!(
        made,
        vec![(json!("im.message.receive_v1"), after["id"].clone())],
        "deliveries of changes made before the subscription"
    );
}
