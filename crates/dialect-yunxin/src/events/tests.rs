use super::body::{self, RecallInfo, TeamNotice, TeamOp};
use super::*;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Map};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use switchboard_core::clock::ManualClock;
use switchboard_core::events::{DeliveryQuery, Mode};
use switchboard_core::ids::AppId;
use switchboard_core::ids::MessageId;
use switchboard_core::model::{Chat, RemovalKind};
use switchboard_core::service::{CoreConfig, CreateChat, CreateUser, SubscribeCmd};
use switchboard_store_sqlite::{SqliteOptions, SqliteStore};
use tower::ServiceExt;

// ----- the receiver's side, written from the spec alone (not from `body`) -----------------

/// Verifies a copy as a receiver would (spec §3.2): `MD5` is the lowercase hex MD5 of the
/// raw body, `CheckSum` the lowercase hex SHA-1 of AppSecret + MD5 + CurTime, `CurTime`
/// milliseconds. Returns the parsed body.
fn receive(
    headers: &[(String, String)],
    raw: &[u8],
    secret: &str,
) -> Result<Map<String, Value>, String> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or(format!("no {name} header"))
    };
    let (md5_header, cur_time, check_sum) = (get("MD5")?, get("CurTime")?, get("CheckSum")?);
    get("AppKey")?;
    let md5 = {
        use md5::Digest;
        let mut h = md5::Md5::new();
        h.update(raw);
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    if md5 != md5_header {
        return Err(format!("MD5 mismatch: {md5} vs {md5_header}"));
    }
    let expected = {
        use sha1::Digest;
        let mut h = sha1::Sha1::new();
        h.update(format!("{secret}{md5}{cur_time}").as_bytes());
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    if expected != check_sum {
        return Err("CheckSum mismatch".into());
    }
    if cur_time.len() != 13 || !cur_time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("CurTime {cur_time} is not milliseconds"));
    }
    serde_json::from_slice(raw).map_err(|e| e.to_string())
}

const SPEC_BODY: &str = r#"{"attach":"","body":"hello","convType":"PERSON","eventType":"1","fromAccount":"111","fromClientType":"REST","fromDeviceId":"","fromNick":"mike","msgTimestamp":"1441977355557","msgType":"TEXT","msgidClient":"1234567","msgidServer":"3456789","resendFlag":"0","to":"222"}"#;

#[test]
fn the_spec_vector() {
    assert_eq!(
        body::md5_hex(SPEC_BODY.as_bytes()),
        "fa0274e689bd2e777a15033558e9d2ec"
    );
    assert_eq!(
        body::checksum(
            "secret123",
            "fa0274e689bd2e777a15033558e9d2ec",
            "1700000000000"
        ),
        "51310304a273d41c4d8d768fd6da63578e933688"
    );
    let out = body::request(
        "key",
        "secret123",
        SPEC_BODY.as_bytes().to_vec(),
        1_700_000_000_000,
    );
    assert_eq!(out.body, SPEC_BODY.as_bytes());
    assert_eq!(
        out.headers,
        [
            ("Content-Type", "application/json"),
            ("AppKey", "key"),
            ("CurTime", "1700000000000"),
            ("MD5", "fa0274e689bd2e777a15033558e9d2ec"),
            ("CheckSum", "51310304a273d41c4d8d768fd6da63578e933688"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let parsed = receive(&out.headers, &out.body, "secret123").unwrap();
    assert_eq!(parsed["msgidServer"], "3456789");
    assert!(receive(&out.headers, &out.body, "wrong").is_err());
    let mut tampered = out.body.clone();
    tampered[10] ^= 1;
    assert!(receive(&out.headers, &tampered, "secret123").is_err());
}

#[test]
fn the_spec_body_is_what_message_copy_writes() {
    let data = render::MessageData {
        message_server_id: 3456789,
        message_client_id: Some("1234567".into()),
        sender_id: "111".into(),
        conversation_type: 1,
        receiver_id: Some("222".into()),
        team_id: None,
        message_type: 0,
        sub_type: None,
        create_time: 1441977355557,
        text: Some("hello".into()),
        attachment: None,
        extension: None,
        modify_account_id_seed: None,
        modify_time_seed: None,
        modify_account_id: None,
        modify_time: None,
        sender_client_type: Some(32),
        thread_config: None,
    };
    let f = body::message_copy(&data, ChatKind::P2p, "mike");
    assert_eq!(String::from_utf8(body::encode(&f)).unwrap(), SPEC_BODY);
}

#[test]
fn event_types_per_hearing() {
    let h = |kind, chat_kind| Hearing {
        app: AppId(1),
        kind,
        mentioned: false,
        chat_kind,
    };
    use EventKind::*;
    for k in [
        MessageReceived,
        UsersAdded,
        UsersRemoved,
        BotAdded,
        BotRemoved,
        ChatDisbanded,
    ] {
        assert_eq!(event_type(&h(k, ChatKind::Group)), Some("1"), "{k:?}");
    }
    // No mention filter: a group message that mentions no one is copied.
    assert_eq!(
        event_type(&h(MessageReceived, ChatKind::SuperGroup)),
        Some("1")
    );
    assert_eq!(event_type(&h(MessageRecalled, ChatKind::P2p)), Some("7"));
    assert_eq!(event_type(&h(MessageRecalled, ChatKind::Group)), Some("8"));
    assert_eq!(
        event_type(&h(MessageRecalled, ChatKind::SuperGroup)),
        Some("8")
    );
    assert_eq!(event_type(&h(MessageEdited, ChatKind::P2p)), None);
    for t in EVENT_TYPES {
        assert!(["1", "7", "8"].contains(t));
    }
}

#[test]
fn the_route_switch_is_read_in_every_spelling() {
    let off = |rc: Value, r: Option<Value>| route_disabled(Some(&rc), r.as_ref()).unwrap();
    assert!(off(json!({"route_enabled": false}), None));
    assert!(off(json!({"route_enabled": "false"}), None));
    assert!(off(json!({"route_enabled": 0}), None));
    assert!(!off(json!({"route_enabled": true}), None));
    assert!(!off(json!({"route_environment": "prod"}), None));
    assert!(!off(Value::Null, None));
    assert!(off(Value::Null, Some(json!("0"))));
    assert!(off(Value::Null, Some(json!(0))));
    assert!(!off(Value::Null, Some(json!(1))));
    assert!(!route_disabled(None, None).unwrap());
    assert!(route_disabled(Some(&json!({"route_enabled": "maybe"})), None).is_err());
    assert!(route_disabled(Some(&json!([1])), None).is_err());
}

#[test]
fn team_notices_and_recalls() {
    let n = TeamNotice {
        kind: ChatKind::SuperGroup,
        team_id: 42,
        op: TeamOp::Invite,
        operator: "alice",
        operator_nick: "Alice",
        accounts: vec!["bob".into()],
        msgid_server: 9,
        at: 5,
    };
    let f = body::team_notice(&n);
    assert_eq!(f["msgType"], "NOTIFICATION");
    assert_eq!(f["convType"], "SUPER_TEAM");
    assert_eq!(
        f["attach"],
        r#"{"data":{"ids":["bob"],"tid":"42"},"id":401}"#
    );
    assert_eq!(
        [TeamOp::Invite, TeamOp::Kick, TeamOp::Leave, TeamOp::Dismiss]
            .map(|o| o.id(ChatKind::Group)),
        [0, 1, 2, 4]
    );
    assert_eq!(TeamOp::Dismiss.id(ChatKind::SuperGroup), 405);
    let r = body::recall_copy(&RecallInfo {
        kind: ChatKind::P2p,
        to: "bob".into(),
        operator: "alice",
        operator_nick: "Alice",
        msgid_server: 77,
        msgid_client: None,
        sent_at: 1,
        removal: RemovalKind::RecalledOneWay,
        removed_at: 2,
    });
    assert_eq!(
        String::from_utf8(body::encode(&r)).unwrap(),
        r#"{"convType":"PERSON","eventType":"7","fromAccount":"alice","fromNick":"Alice","msgTimestamp":"1","msgidClient":"","msgidServer":"77","recallType":"1","timestamp":"2","to":"bob"}"#
    );
}

// ----- against a store, through the Yunxin API ------------------------------------------

struct World {
    _dir: tempfile::TempDir,
    core: Core,
    events: YunxinEvents,
    api: axum::Router,
    tenant: TenantId,
    /// The subscriber: a member of no chat.
    cc: App,
    /// The app the API calls are made with.
    caller: App,
    p2p_cid: String,
    team: Chat,
    sup: Chat,
    sub: Subscription,
}

static NONCE: AtomicU64 = AtomicU64::new(1);

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let core = Core::new(Arc::new(store), Arc::new(clock), CoreConfig::default());
    let tenant = core.create_tenant("Acme").await.unwrap().id;
    let user = |name: &str, acc: &str| CreateUser {
        name: name.into(),
        user_id: Some(acc.into()),
        account_id: Some(acc.into()),
    };
    let alice = core
        .create_user(tenant, user("Alice", "alice"))
        .await
        .unwrap();
    let bob = core.create_user(tenant, user("Bob", "bob")).await.unwrap();
    let cc = core.create_app(tenant, "Archive").await.unwrap();
    let caller = core.create_app(tenant, "Server").await.unwrap();
    let group = |kind| CreateChat {
        kind,
        name: Some("G".into()),
        owner: Actor::User(alice.id),
        members: vec![Actor::User(bob.id)],
    };
    let team = core
        .create_chat(tenant, group(ChatKind::Group))
        .await
        .unwrap();
    let sup = core
        .create_chat(tenant, group(ChatKind::SuperGroup))
        .await
        .unwrap();
    let sub = core
        .subscribe(SubscribeCmd {
            tenant,
            app: cc.id,
            dialect: NAME.into(),
            mode: Mode::Webhook,
            url: "http://127.0.0.1:9/cc".into(),
            encrypt_key: String::new(),
            verification_token: String::new(),
            event_types: EVENT_TYPES.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap();
    let events = YunxinEvents::new(core.clone(), &Config::default());
    let api = crate::router(core.clone(), Config::default());
    World {
        _dir: dir,
        core,
        events,
        api,
        tenant,
        cc,
        caller,
        p2p_cid: "alice|1|bob".into(),
        team,
        sup,
        sub,
    }
}

impl World {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let n = format!("n{}", NONCE.fetch_add(1, Ordering::Relaxed));
        let now = self.core.clock().now_secs();
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in crate::sign_headers(
            &self.caller.app_id,
            self.caller.app_secret.expose(),
            &n,
            now,
        ) {
            req = req.header(k, v);
        }
        let req = match body {
            Some(b) => req
                .header("Content-Type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.api.clone().oneshot(req).await.unwrap();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["code"], 200, "{v}");
        v
    }

    async fn send(&self, cid: &str, body: Value) -> Value {
        let path = format!("/im/v2/conversations/{}/messages", cid.replace('|', "%7C"));
        self.call("POST", &path, Some(body)).await["data"].clone()
    }

    /// Routes the outbox with this dialect and returns the subscriber's deliveries, oldest
    /// first.
    async fn deliveries(&self) -> Vec<Delivery> {
        let d: Arc<dyn EventDialect> = Arc::new(self.events.clone());
        while self
            .core
            .route_changes("t", std::slice::from_ref(&d), 100, 60_000)
            .await
            .unwrap()
            > 0
        {}
        let mut out: Vec<Delivery> = self
            .core
            .deliveries(DeliveryQuery {
                tenant: self.tenant,
                app: self.cc.id,
                status: None,
                event_type: None,
                before: None,
                limit: 200,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.delivery)
            .collect();
        out.reverse();
        out
    }

    async fn copy_of(&self, d: &Delivery) -> Map<String, Value> {
        let plain = self.events.render(&self.sub, d).await.unwrap();
        let out = self
            .events
            .webhook(&self.sub, &self.cc, &plain, 1_700_000_000_123);
        assert_eq!(out.body, plain);
        let map = receive(&out.headers, &out.body, self.cc.app_secret.expose()).unwrap();
        assert!(
            map.values().all(Value::is_string),
            "every value a string: {map:?}"
        );
        assert_eq!(
            out.headers.iter().find(|(n, _)| n == "AppKey").unwrap().1,
            self.cc.app_id,
            "AppKey is the subscriber's public app id"
        );
        map
    }
}

fn of_message(ds: &[Delivery], id: i64, event_type: &str) -> Delivery {
    ds.iter()
        .find(|d| d.message.map(|m| m.0) == Some(id) && d.event_type == event_type)
        .unwrap_or_else(|| panic!("no {event_type} delivery of {id} in {ds:?}"))
        .clone()
}

/// The copy names the message exactly as the send API answered it.
fn assert_matches_api(copy: &Map<String, Value>, data: &Value, conv: &str, msg_type: &str) {
    assert_eq!(copy["eventType"], "1");
    assert_eq!(copy["convType"], conv);
    assert_eq!(copy["msgidServer"], data["message_server_id"].to_string());
    assert_eq!(copy["fromAccount"], data["sender_id"]);
    let to = match &data["receiver_id"] {
        Value::String(s) => s.clone(),
        _ => data["team_id"].to_string(),
    };
    assert_eq!(copy["to"], to);
    assert_eq!(copy["msgType"], msg_type);
    assert_eq!(copy["msgTimestamp"], data["create_time"].to_string());
    assert_eq!(copy["body"], data["text"].as_str().unwrap_or(""));
    let attach = match &data["attachment"] {
        Value::Null => String::new(),
        a => a.to_string(),
    };
    assert_eq!(copy["attach"], attach);
    assert_eq!(copy["fromClientType"], "REST");
    assert_eq!(copy["resendFlag"], "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conversation_type_is_copied_as_the_api_renders_it() {
    let w = world().await;
    let text = w
        .send(&w.p2p_cid, json!({"message": {"message_type": 0, "text": "hi", "message_client_id": "c1"}, "extension": "{\"k\":1}"}))
        .await;
    let image = json!({"message_type": 1, "attachment": {"name": "a.png", "md5": "m", "url": "https://x/a.png", "ext": "png", "w": 1, "h": 2, "size": 3}});
    let team = w
        .send(
            &format!("alice|2|{}", w.team.id.0),
            json!({"message": image}),
        )
        .await;
    let sup = w
        .send(
            &format!("bob|3|{}", w.sup.id.0),
            json!({"message": {"message_type": 0, "text": "super"}}),
        )
        .await;
    let ds = w.deliveries().await;
    // The subscriber is a member of none of these: the copy hears the whole app.
    let id = |v: &Value| v["message_server_id"].as_i64().unwrap();

    let c = w.copy_of(&of_message(&ds, id(&text), "1")).await;
    assert_matches_api(&c, &text, "PERSON", "TEXT");
    assert_eq!(
        (c["to"].as_str(), c["fromNick"].as_str()),
        (Some("bob"), Some("Alice"))
    );
    assert_eq!(c["msgidClient"], "c1");
    assert_eq!(c["ext"], "{\"k\":1}");

    let c = w.copy_of(&of_message(&ds, id(&team), "1")).await;
    assert_matches_api(&c, &team, "TEAM", "PICTURE");
    assert_eq!(c["to"], w.team.id.0.to_string());
    assert!(!c.contains_key("ext"));
    let attach: Value = serde_json::from_str(c["attach"].as_str().unwrap()).unwrap();
    assert_eq!(attach["url"], "https://x/a.png");

    let c = w.copy_of(&of_message(&ds, id(&sup), "1")).await;
    assert_matches_api(&c, &sup, "SUPER_TEAM", "TEXT");
    assert_eq!(c["fromAccount"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalls_and_team_changes() {
    let w = world().await;
    let p2p = w
        .send(
            &w.p2p_cid,
            json!({"message": {"message_type": 0, "text": "oops"}}),
        )
        .await;
    let team = w
        .send(
            &format!("alice|2|{}", w.team.id.0),
            json!({"message": {"message_type": 0, "text": "t"}}),
        )
        .await;
    for (cid, m) in [
        (w.p2p_cid.clone(), &p2p),
        (format!("alice|2|{}", w.team.id.0), &team),
    ] {
        let path = format!(
            "/im/v2/conversations/{}/messages/{}?type=2",
            cid.replace('|', "%7C"),
            m["message_server_id"]
        );
        w.call("DELETE", &path, None).await;
    }
    let carol = w
        .core
        .create_user(
            w.tenant,
            CreateUser {
                name: "Carol".into(),
                user_id: Some("carol".into()),
                account_id: Some("carol".into()),
            },
        )
        .await
        .unwrap();
    w.core
        .add_members(w.tenant, w.sup.id, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    w.core
        .dissolve_chat(w.tenant, w.team.id, None)
        .await
        .unwrap();
    let ds = w.deliveries().await;
    let id = |v: &Value| v["message_server_id"].as_i64().unwrap();

    let c = w.copy_of(&of_message(&ds, id(&p2p), "7")).await;
    assert_eq!(c["eventType"], "7");
    assert_eq!(c["convType"], "PERSON");
    assert_eq!(c["msgidServer"], p2p["message_server_id"].to_string());
    assert_eq!(c["fromAccount"], "alice");
    assert_eq!(c["to"], "bob");
    assert_eq!(c["recallType"], "2");
    assert_eq!(c["msgTimestamp"], p2p["create_time"].to_string());

    let c = w.copy_of(&of_message(&ds, id(&team), "8")).await;
    assert_eq!(
        (c["eventType"].as_str(), c["convType"].as_str()),
        (Some("8"), Some("TEAM"))
    );
    assert_eq!(c["to"], w.team.id.0.to_string());

    let notices: Vec<Map<String, Value>> = {
        let mut v = Vec::new();
        for d in ds.iter().filter(|d| d.message.is_none()) {
            let c = w.copy_of(d).await;
            assert_eq!(c["msgType"], "NOTIFICATION");
            assert_eq!(c["msgidServer"], d.seq.to_string(), "stable per change");
            v.push(c);
        }
        v
    };
    let (sup_tid, team_tid) = (w.sup.id.0.to_string(), w.team.id.0.to_string());
    let added = notices
        .iter()
        .find(|c| c["to"] == sup_tid.as_str() && c["attach"].as_str().unwrap().contains("carol"))
        .expect("carol's arrival");
    assert_eq!(added["convType"], "SUPER_TEAM");
    assert_eq!(
        added["fromAccount"], "alice",
        "the operator acts as the owner"
    );
    let attach: Value = serde_json::from_str(added["attach"].as_str().unwrap()).unwrap();
    assert_eq!(
        attach,
        json!({"data": {"ids": ["carol"], "tid": w.sup.id.0.to_string()}, "id": 401})
    );
    let dismissed = notices
        .iter()
        .find(|c| {
            c["to"] == team_tid.as_str() && c["attach"].as_str().unwrap().ends_with("\"id\":4}")
        })
        .expect("the team's dismissal");
    assert_eq!(dismissed["convType"], "TEAM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_with_copies_off_is_not_copied() {
    let w = world().await;
    let off = w
        .send(&w.p2p_cid, json!({"message": {"message_type": 0, "text": "quiet"}, "route_config": {"route_enabled": false}}))
        .await;
    let on = w
        .send(&w.p2p_cid, json!({"message": {"message_type": 0, "text": "loud"}, "route_config": {"route_enabled": true}}))
        .await;
    let batch = w
        .call(
            "POST",
            "/im/v2/conversations/messages",
            Some(json!({"sender_id": "alice", "receiver_ids": ["bob"], "message": {"message_type": 0, "text": "v1"}, "route": "0"})),
        )
        .await;
    let batch = batch["data"]["success_list"][0].clone();
    let path = format!(
        "/im/v2/conversations/{}/messages/{}?type=2",
        w.p2p_cid.replace('|', "%7C"),
        off["message_server_id"]
    );
    w.call("DELETE", &path, None).await;
    let ds = w.deliveries().await;
    let id = |v: &Value| v["message_server_id"].as_i64().unwrap();

    // The stored message carries the switch; the API still renders it unchanged.
    let stored = w
        .core
        .get(
            w.tenant,
            switchboard_core::service::Access::Admin,
            None,
            MessageId(id(&off)),
        )
        .await
        .unwrap();
    assert!(!copies(&stored.message));
    assert!(!copies_change(&ChangeBody::MessageCreated {
        message: stored.message.clone()
    }));
    assert_eq!(
        crate::content::outgoing(&stored).text.as_deref(),
        Some("quiet"),
        "the switch does not show in the content"
    );

    // The router never makes a delivery of them (nor of the recall of one) …
    for m in [&off, &batch] {
        assert!(
            !ds.iter().any(|d| d.message.map(|x| x.0) == Some(id(m))),
            "no delivery of {m}: {ds:?}"
        );
    }
    // … and render refuses one, should it be asked.
    let mut d = of_message(&ds, id(&on), "1");
    d.body = ChangeBody::MessageCreated {
        message: stored.message.clone(),
    };
    let e = w.events.render(&w.sub, &d).await.unwrap_err();
    assert!(e.contains("not copied"), "{e}");
    let c = w.copy_of(&of_message(&ds, id(&on), "1")).await;
    assert_eq!(c["body"], "loud");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_check_is_a_signed_probe() {
    let w = world().await;
    let out = w
        .events
        .challenge(&w.sub, &w.cc, "abc123", 1_700_000_000_000);
    let map = receive(&out.headers, &out.body, w.cc.app_secret.expose()).unwrap();
    assert_eq!(
        Value::Object(map),
        json!({"challenge": "abc123", "eventType": "0"})
    );
    let names: Vec<&str> = out.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Content-Type", "AppKey", "CurTime", "MD5", "CheckSum"]
    );
    assert_eq!(out.headers[1].1, w.cc.app_id);
    assert_eq!(out.headers[2].1, "1700000000000", "CurTime in milliseconds");
    assert!(w.events.challenge_answered("abc123", b""));
    assert!(w.events.challenge_answered("abc123", b"ok"));
    assert_eq!(w.events.name(), "yunxin");
    assert!(w.events.hears_every_chat());
    assert!(w.events.connections().is_none());
}
