use super::envelope::{build, unframe, Rendered, Seen};
use super::*;
use crate::ids;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_core::events::ChangeBody;
use switchboard_core::events::{DeliveryStatus, Mode};
use switchboard_core::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use switchboard_core::model::MentionTarget;
use switchboard_core::model::Secret;
use switchboard_core::model::{
    Chat, Content, Mention, Message, MessageExtra, MessageType, Removal, RemovalKind, User,
};
use switchboard_core::service::{AppCard, MessageView};

const T: TenantId = TenantId(1);
const CHAT: ChatId = ChatId(3);
const BOT: AppId = AppId(7);
const OTHER_BOT: AppId = AppId(8);
const TOM: UserId = UserId(5);
const ANN: UserId = UserId(6);

// ----- an independent receiver ---------------------------------------------------------
//
// Written from the spec (§2.4) without the sending code: AES-256-CBC by hand over the raw
// block cipher, PKCS#7 stripped by hand, the MD5 hex key, HMAC-SHA256 checked in constant
// time, base64url without padding decoded (not re-encoded) for the comparison.

mod receiver {
    use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use md5::{Digest, Md5};
    use serde_json::Value;
    use sha2::Sha256;

    /// What a receiver gets out of an envelope: `(topic, operation, time, decrypted body)`.
    pub fn open(
        app_id: &str,
        app_key: &str,
        body: &[u8],
    ) -> Result<(String, String, i64, Value), String> {
        let env: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let s = |k: &str| {
            env[k]
                .as_str()
                .map(str::to_string)
                .ok_or(format!("{k} is not a string"))
        };
        let (topic, operation, nonce, signature, data) = (
            s("topic")?,
            s("operation")?,
            s("nonce")?,
            s("signature")?,
            s("encrypted_data")?,
        );
        let time = env["time"].as_i64().ok_or("time is not an integer")?;
        // Signature.
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&signature)
            .map_err(|e| format!("signature not base64url: {e}"))?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_key.as_bytes()).unwrap();
        mac.update(app_id.as_bytes());
        mac.update(b":");
        mac.update(topic.as_bytes());
        mac.update(b":");
        mac.update(nonce.as_bytes());
        mac.update(b":");
        mac.update(time.to_string().as_bytes());
        mac.update(b":");
        mac.update(data.as_bytes());
        mac.verify_slice(&sig).map_err(|_| "bad signature")?;
        // Decryption.
        let key_hex: String = Md5::digest(app_key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let cipher = aes::Aes256::new(GenericArray::from_slice(key_hex.as_bytes()));
        let ct = base64::engine::general_purpose::STANDARD
            .decode(&data)
            .map_err(|e| format!("data not base64: {e}"))?;
        if ct.is_empty() || ct.len() % 16 != 0 || nonce.len() < 16 {
            return Err("bad lengths".into());
        }
        let mut prev: Vec<u8> = nonce.as_bytes()[..16].to_vec();
        let mut plain = Vec::with_capacity(ct.len());
        for block in ct.chunks(16) {
            let mut b = GenericArray::clone_from_slice(block);
            cipher.decrypt_block(&mut b);
            plain.extend(b.iter().zip(&prev).map(|(x, p)| x ^ p));
            prev = block.to_vec();
        }
        let pad = *plain.last().unwrap() as usize;
        if pad == 0
            || pad > 16
            || !plain[plain.len() - pad..]
                .iter()
                .all(|b| *b as usize == pad)
        {
            return Err("bad padding".into());
        }
        plain.truncate(plain.len() - pad);
        let value = serde_json::from_slice(&plain).map_err(|e| format!("not JSON: {e}"))?;
        Ok((topic, operation, time, value))
    }
}

// ----- the spec's vector and the crypto --------------------------------------------------

const V_APPID: &str = "AK123456";
const V_APPKEY: &str = "sk098765";
const V_NONCE: &str = "0123456789abcdef";
const V_TIME: i64 = 1704074400;
const V_PLAIN: &str = r#"{"chat":{"id":"8225957","type":"p2p"},"company_id":"eueue","message":{"content":{"text":{"content":"666"}},"id":"w7i5fgFzh6uRtOTN","type":"text"},"send_time":1734426254026,"sender":{"id":"erueru","type":"user"}}"#;
const V_DATA: &str = "iRwo+vXQA3lYOU3iXG6vQ7MnU84qYuk7mk0qxHNPJ65QiUzxIqDcQjcazbgVYMa6TuO37AndXVdRZDsy4+v65FSmn3Y5J5hzIpu/G4tsP5mLIceXOZMyHDTDLl62GqvC1aORxUbDQHsUc0oF6sTmKhogvLwwZz/JFU9tTFqTYCZbgKx1QN2A4jcFF3XzoQvQsoJU1c4i7ZtLU/Tu1D+qfNBZUfIiC8pbPxs3V3eYI9Fr9eTC3u+KMPsGRKrelxRW3KyO8Nu9dL/HLUlKsFAXRbBA+QL0fJKUW6Z1RxBc/Bs=";
const V_SIG: &str = "Cs7LlxPBf_7JAfkTINMZjxN-f-MU39c-LC50h7GD244";

#[test]
fn spec_vector() {
    assert_eq!(
        crypto::cipher_key(V_APPKEY),
        "e841b3fe64f8513b26187479d3bd5db7"
    );
    assert_eq!(
        crypto::encrypt(V_APPKEY, V_NONCE, V_PLAIN.as_bytes()),
        V_DATA
    );
    assert_eq!(
        crypto::decrypt(V_APPKEY, V_NONCE, V_DATA).unwrap(),
        V_PLAIN.as_bytes()
    );
    assert_eq!(
        crypto::signature(V_APPKEY, V_APPID, TOPIC_MESSAGE, V_NONCE, V_TIME, V_DATA),
        V_SIG
    );
    // The whole request, at 1704074400.999 s (the envelope says whole seconds).
    let o = request_with_nonce(
        V_APPID,
        V_APPKEY,
        TOPIC_MESSAGE,
        OP_CREATE,
        V_PLAIN.as_bytes(),
        V_TIME * 1000 + 999,
        V_NONCE,
    );
    assert_eq!(
        String::from_utf8(o.body.clone()).unwrap(),
        format!(
            r#"{{"topic":"kso.app_chat.message","operation":"create","time":1704074400,"nonce":"0123456789abcdef","signature":"{V_SIG}","encrypted_data":"{V_DATA}"}}"#
        ),
        "compact, the vendor's key order, / and + unescaped"
    );
    // The independent receiver agrees.
    let (topic, op, time, v) = receiver::open(V_APPID, V_APPKEY, &o.body).unwrap();
    assert_eq!(
        (topic.as_str(), op.as_str(), time),
        (TOPIC_MESSAGE, OP_CREATE, V_TIME)
    );
    assert_eq!(v, serde_json::from_str::<Value>(V_PLAIN).unwrap());
}

#[test]
fn receiver_refuses_tampering_and_wrong_keys() {
    let o = request(V_APPID, V_APPKEY, TOPIC_ROBOT, OP_DELETE, br#"{"a":1}"#, 0);
    assert!(receiver::open(V_APPID, V_APPKEY, &o.body).is_ok());
    assert!(
        receiver::open("AK000000", V_APPKEY, &o.body).is_err(),
        "APPID is signed"
    );
    assert!(receiver::open(V_APPID, "other", &o.body).is_err());
    let mut env: Value = serde_json::from_slice(&o.body).unwrap();
    env["topic"] = json!(TOPIC_USER);
    let tampered = serde_json::to_vec(&env).unwrap();
    assert!(
        receiver::open(V_APPID, V_APPKEY, &tampered).is_err(),
        "the topic is signed"
    );
    let mut env: Value = serde_json::from_slice(&o.body).unwrap();
    env["time"] = json!(1);
    let tampered = serde_json::to_vec(&env).unwrap();
    assert!(
        receiver::open(V_APPID, V_APPKEY, &tampered).is_err(),
        "the time is signed"
    );
    assert!(
        crypto::decrypt("other", V_NONCE, V_DATA).is_err() || {
            // A wrong key may still unpad by chance; it never yields the plaintext.
            crypto::decrypt("other", V_NONCE, V_DATA).unwrap() != V_PLAIN.as_bytes()
        }
    );
    assert!(crypto::decrypt(V_APPKEY, V_NONCE, "not base64!").is_err());
    assert!(
        crypto::decrypt(V_APPKEY, V_NONCE, "AAAA").is_err(),
        "not whole blocks"
    );
    assert!(crypto::decrypt(V_APPKEY, "short", V_DATA).is_err(), "no IV");
}

#[test]
fn round_trips_any_length_and_text() {
    let n = crypto::nonce();
    for len in [0usize, 1, 15, 16, 17, 100] {
        let p = vec![b'x'; len];
        let c = crypto::encrypt("k", &n, &p);
        assert_eq!(crypto::decrypt("k", &n, &c).unwrap(), p);
        assert_eq!(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &c)
                .unwrap()
                .len(),
            (len / 16 + 1) * 16,
            "PKCS#7 always pads, no IV prefix"
        );
    }
    let p = r#"{"text":"中文 / emoji 🎉 \n"}"#.as_bytes();
    let o = request("A", "秘密", TOPIC_MESSAGE, OP_CREATE, p, 1_700_000_000_000);
    let (_, _, _, v) = receiver::open("A", "秘密", &o.body).unwrap();
    assert_eq!(v, serde_json::from_slice::<Value>(p).unwrap());
}

#[test]
fn nonces_are_16_alphanumerics_fresh_per_attempt() {
    let a = crypto::nonce();
    let b = crypto::nonce();
    assert_ne!(a, b);
    for n in [&a, &b] {
        assert_eq!(n.len(), 16);
        assert!(n.bytes().all(|c| c.is_ascii_alphanumeric()), "{n}");
    }
    let o1 = request("A", "k", TOPIC_MESSAGE, OP_CREATE, b"{}", 0);
    let o2 = request("A", "k", TOPIC_MESSAGE, OP_CREATE, b"{}", 0);
    let n1: Value = serde_json::from_slice(&o1.body).unwrap();
    let n2: Value = serde_json::from_slice(&o2.body).unwrap();
    assert_ne!(n1["nonce"], n2["nonce"]);
    assert_ne!(
        n1["encrypted_data"], n2["encrypted_data"],
        "the nonce is the IV"
    );
}

#[test]
fn header_names_in_exact_case() {
    let o = request("A", "k", TOPIC_MESSAGE, OP_CREATE, b"{}", 0);
    assert_eq!(
        o.headers,
        vec![("Content-Type".to_string(), "application/json".to_string())]
    );
    let body: Value = serde_json::from_slice(&o.body).unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "topic",
        "operation",
        "time",
        "nonce",
        "signature",
        "encrypted_data",
    ];
    want.sort();
    assert_eq!(keys, want, "exactly the six fields");
    assert!(body["time"].is_i64(), "time is a JSON integer");
}

#[test]
fn challenge_is_plain_and_echoed() {
    let (_dir, ev) = events_without_store();
    let o = ev.challenge(&sub(BOT), &app(&[]), "ajls384kdjx98XX", 1_700_000_000_000);
    assert_eq!(o.body, br#"{"challenge":"ajls384kdjx98XX"}"#);
    assert_eq!(
        o.headers,
        vec![("Content-Type".to_string(), "application/json".to_string())]
    );
    assert_eq!(
        challenge_body("a\"/ö"),
        r#"{"challenge":"a\"/ö"}"#.as_bytes()
    );
    assert!(ev.challenge_answered("c1", br#"{"challenge":"c1"}"#));
    assert!(echoes_challenge(
        "c1",
        br#"{ "challenge" : "c1", "msg": "ok" }"#
    ));
    assert!(!echoes_challenge("c1", br#"{"challenge":"c2"}"#));
    assert!(!echoes_challenge("c1", br#"{"challenge":1}"#));
    assert!(!echoes_challenge("c1", b"{}"));
    assert!(!echoes_challenge("c1", b"c1"));
    assert!(!echoes_challenge("c1", b""));
}

// ----- names and who hears what ----------------------------------------------------------

fn app_with(id: AppId, app_id: &str, secret: &str, scopes: &[&str]) -> App {
    App {
        id,
        tenant: T,
        app_id: app_id.into(),
        app_secret: Secret::new(secret),
        name: format!("Bot{}", id.0),
        bot_enabled: true,
        signing_required: true,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        created_at: 0,
    }
}

fn app(scopes: &[&str]) -> App {
    app_with(BOT, "AK_bot_7", "secret-7", scopes)
}

fn hearing(kind: EventKind, mentioned: bool, chat_kind: ChatKind) -> Hearing {
    Hearing {
        app: BOT,
        kind,
        mentioned,
        chat_kind,
    }
}

#[test]
fn topics_and_subscription_names() {
    let a = app(&[SCOPE_GROUP_MSG]);
    let (_dir, ev) = events_without_store();
    assert_eq!(ev.name(), "wps");
    assert_eq!(
        ev.event_types(),
        [
            "kso.app_chat.message",
            "kso.app_chat.message.recall",
            "kso.xz.app.group_chat.member.robot",
            "kso.xz.app.group_chat.member.user",
            "kso.xz.app.group_chat",
        ]
    );
    let want = [
        (EventKind::MessageReceived, Some(TOPIC_MESSAGE)),
        (EventKind::MessageRecalled, Some(TOPIC_RECALL)),
        (EventKind::BotAdded, Some(TOPIC_ROBOT)),
        (EventKind::BotRemoved, Some(TOPIC_ROBOT)),
        (EventKind::UsersAdded, Some(TOPIC_USER)),
        (EventKind::UsersRemoved, Some(TOPIC_USER)),
        (EventKind::ChatDisbanded, Some(TOPIC_GROUP)),
        (EventKind::MessageEdited, None),
    ];
    for (k, name) in want {
        assert_eq!(
            ev.event_type(&a, &hearing(k, false, ChatKind::Group)),
            name,
            "{k:?}"
        );
        if let Some(n) = name {
            assert!(EVENT_TYPES.contains(&n));
            assert!(kinds_of(n).contains(&k));
        }
    }
    for n in EVENT_TYPES {
        assert!(!kinds_of(n).is_empty());
    }
    assert!(kinds_of("kso.app_chat.create").is_empty(), "not offered");
    assert!(
        kinds_of("kso.app_chat.message.create").is_empty(),
        "codes are not types"
    );
    assert!(!crate::auth::DEFAULT_SCOPES.contains(&SCOPE_GROUP_MSG));
    assert!(ev.connections().is_none(), "no WebSocket mode");
    assert!(!ev.hears_every_chat());
}

#[test]
fn group_messages_need_a_mention_or_the_scope() {
    let plain = app(&[crate::auth::MESSAGE_SCOPE]);
    let all = app(&[crate::auth::MESSAGE_SCOPE, SCOPE_GROUP_MSG]);
    for kind in [EventKind::MessageReceived, EventKind::MessageRecalled] {
        for group in [ChatKind::Group, ChatKind::SuperGroup] {
            assert_eq!(event_type(&plain, &hearing(kind, false, group)), None);
            assert!(event_type(&plain, &hearing(kind, true, group)).is_some());
            assert!(event_type(&all, &hearing(kind, false, group)).is_some());
        }
        assert!(event_type(&plain, &hearing(kind, false, ChatKind::P2p)).is_some());
    }
    for kind in [
        EventKind::BotAdded,
        EventKind::UsersRemoved,
        EventKind::ChatDisbanded,
    ] {
        assert!(event_type(&plain, &hearing(kind, false, ChatKind::Group)).is_some());
    }
}

// ----- bodies ------------------------------------------------------------------------------

fn user(id: UserId, user_id: &str, name: &str) -> User {
    User {
        id,
        tenant: T,
        user_id: user_id.into(),
        account_id: String::new(),
        name: name.into(),
        created_at: 0,
    }
}

fn parties() -> HashMap<Actor, Option<Party>> {
    let card = |id: AppId| {
        Some(Party::App(AppCard {
            id,
            app_id: format!("AK_bot_{}", id.0),
            name: format!("Bot{}", id.0),
        }))
    };
    HashMap::from([
        (
            Actor::User(TOM),
            Some(Party::User(user(TOM, "tom01", "Tom"))),
        ),
        (
            Actor::User(ANN),
            Some(Party::User(user(ANN, "ann01", "安妮"))),
        ),
        (Actor::App(BOT), card(BOT)),
        (Actor::App(OTHER_BOT), card(OTHER_BOT)),
    ])
}

fn group() -> Chat {
    Chat {
        id: CHAT,
        tenant: T,
        kind: ChatKind::Group,
        name: "研发/一组".into(),
        description: String::new(),
        owner: Actor::User(TOM),
        created_at: 0,
        dissolved_at: None,
        last_position: 9,
    }
}

fn message(text: &str, mentions: Vec<Mention>) -> Message {
    Message {
        id: MessageId::timeline(CHAT, 9).unwrap(),
        tenant: T,
        chat: CHAT,
        sender: Actor::User(TOM),
        kind: MessageType::Text,
        content: Content {
            text: text.into(),
            data: json!({ "text": text }).into(),
            original: None,
        },
        mentions,
        created_at: 1_734_426_254_026,
        updated_at: 1_734_426_254_026,
        edit: None,
        removal: None,
        parent: None,
        root: None,
        thread: None,
        upper: None,
        copied_from: None,
        client_msg_id: None,
        extra: MessageExtra::default(),
    }
}

fn delivery(app: AppId, event_type: &str, body: ChangeBody) -> Delivery {
    Delivery {
        id: 1,
        event_id: "0123456789abcdef0123456789abcdef".into(),
        tenant: T,
        app,
        dialect: "wps".into(),
        mode: Mode::Webhook,
        event_type: event_type.into(),
        chat: CHAT,
        message: body.message().map(|m| m.id),
        seq: 1,
        body,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: None,
        created_at: 1_700_000_000_000,
    }
}

fn sub(app: AppId) -> Subscription {
    Subscription {
        tenant: T,
        app,
        dialect: "wps".into(),
        mode: Mode::Webhook,
        url: "http://127.0.0.1:9/events".into(),
        encrypt_key: "unused".into(),
        verification_token: "unused".into(),
        event_types: EVENT_TYPES.iter().map(|s| s.to_string()).collect(),
        created_at: 0,
        updated_at: 0,
    }
}

fn render_for(a: &App, d: &Delivery) -> (Rendered, Value) {
    let chat = group();
    let parties = parties();
    let seen = Seen {
        app: a,
        chat: Some(&chat),
        parties: &parties,
    };
    let r = build(&seen, d).unwrap();
    let v = serde_json::from_slice(&r.data).unwrap();
    (r, v)
}

fn mention_bot() -> Mention {
    Mention {
        key: "b".into(),
        target: MentionTarget::App(BOT),
        name: "Bot7".into(),
    }
}

#[test]
fn message_body_is_the_get_apis_message() {
    let a = app(&[]);
    let m = message("<at id=\"b\">Bot7</at> hello", vec![mention_bot()]);
    let d = delivery(
        BOT,
        TOPIC_MESSAGE,
        ChangeBody::MessageCreated { message: m.clone() },
    );
    let (r, v) = render_for(&a, &d);
    assert_eq!((r.topic, r.operation), (TOPIC_MESSAGE, OP_CREATE));
    assert_eq!(r.app_id, "AK_bot_7");
    // The message, exactly as GET /v7/chats/{chat_id}/messages/{message_id} renders it.
    let parties = parties();
    let view = MessageView {
        message: m.clone(),
        chat: group(),
        sender: parties[&Actor::User(TOM)].clone(),
        mention_parties: vec![parties[&Actor::App(BOT)].clone()],
    };
    assert_eq!(v["message"], crate::render::message(&view));
    let mid = ids::message_id(m.id);
    assert_eq!(
        v,
        json!({
            "chat": { "id": "3", "type": "group" },
            "company_id": "1",
            "event_id": "0123456789abcdef0123456789abcdef",
            "message": {
                "chat_id": "3",
                "content": { "text": { "content": "<at id=\"1\">Bot7</at> hello", "type": "plain" } },
                "ctime": 1_734_426_254_026_i64,
                "id": mid,
                "mentions": [{
                    "id": "1",
                    "identity": { "company_id": "1", "id": ids::spid(BOT), "type": "sp" },
                    "type": "user"
                }],
                "position": 9,
                "quote_msg_id": "",
                "sender": { "app_id": "", "company_id": "1", "id": "tom01", "type": "user" },
                "type": "text"
            },
            "send_time": 1_734_426_254_026_i64,
            "sender": { "app_id": "", "company_id": "1", "id": "tom01", "type": "user" }
        })
    );
    // Compact JSON, keys in alphabetical order at the top (as the vendor's example).
    let s = String::from_utf8(r.data.clone()).unwrap();
    assert!(
        s.starts_with(r#"{"chat":{"id":"3","type":"group"},"company_id":"1","event_id":"#),
        "{s}"
    );
    assert!(!s.contains(": ") && !s.contains(", "));
    // The id it carries is the one the get API takes.
    assert_eq!(ids::parse_message_id(&mid), Some(m.id));
    assert_eq!(
        ids::parse_chat_id(v["chat"]["id"].as_str().unwrap()),
        Some(CHAT)
    );
}

#[test]
fn p2p_message_and_an_apps_message() {
    let a = app(&[]);
    let mut m = message("hi", vec![]);
    m.sender = Actor::App(OTHER_BOT);
    let mut chat = group();
    chat.kind = ChatKind::P2p;
    let parties = parties();
    let seen = Seen {
        app: &a,
        chat: Some(&chat),
        parties: &parties,
    };
    let d = delivery(
        BOT,
        TOPIC_MESSAGE,
        ChangeBody::MessageCreated { message: m },
    );
    let v: Value = serde_json::from_slice(&build(&seen, &d).unwrap().data).unwrap();
    assert_eq!(v["chat"]["type"], "p2p");
    assert_eq!(
        v["sender"],
        json!({ "app_id": "AK_bot_8", "company_id": "1", "id": ids::spid(OTHER_BOT), "type": "sp" })
    );
    assert_eq!(v["message"]["mentions"], json!([]));
    assert_eq!(
        v["message"]["content"],
        json!({ "text": { "content": "hi", "type": "plain" } })
    );
    // A chat gone since: rendered from the message alone.
    let gone = Seen {
        app: &a,
        chat: None,
        parties: &parties,
    };
    let v: Value = serde_json::from_slice(&build(&gone, &d).unwrap().data).unwrap();
    assert_eq!(v["chat"], json!({ "id": "3", "type": "group" }));
}

#[test]
fn recall_body() {
    let a = app(&[]);
    let mut m = message("hi", vec![]);
    m.removal = Some(Removal {
        kind: RemovalKind::Recalled,
        by: Actor::User(TOM),
        at: 1_734_426_300_000,
    });
    let d = delivery(
        BOT,
        TOPIC_RECALL,
        ChangeBody::MessageRemoved { message: m.clone() },
    );
    let (r, v) = render_for(&a, &d);
    assert_eq!((r.topic, r.operation), (TOPIC_RECALL, OP_CREATE));
    assert_eq!(
        v,
        json!({
            "chat_id": "3",
            "company_id": "1",
            "event_id": "0123456789abcdef0123456789abcdef",
            "id": ids::message_id(m.id),
            "operator": { "id": "tom01", "type": "user" },
            "recall_time": 1_734_426_300_000_i64
        })
    );
    // A removed message without its removal is refused, not invented.
    let mut bad = m;
    bad.removal = None;
    let chat = group();
    let parties = parties();
    let seen = Seen {
        app: &a,
        chat: Some(&chat),
        parties: &parties,
    };
    assert!(build(
        &seen,
        &delivery(
            BOT,
            TOPIC_RECALL,
            ChangeBody::MessageRemoved { message: bad }
        )
    )
    .is_err());
}

#[test]
fn membership_and_group_bodies() {
    let a = app(&[]);
    let base = |op: &str| {
        json!({
            "chat_id": "3",
            "company_id": "1",
            "event_id": "0123456789abcdef0123456789abcdef",
            "operator": { "id": "tom01", "type": "user" },
            "_op": op
        })
    };
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("_op");
        v
    };
    let by = Some(Actor::User(TOM));
    let cases = [
        (
            TOPIC_ROBOT,
            ChangeBody::MembersAdded {
                by,
                members: vec![Actor::App(BOT)],
            },
            OP_CREATE,
            strip(base("create")),
        ),
        (
            TOPIC_ROBOT,
            ChangeBody::MembersRemoved {
                by,
                members: vec![Actor::App(BOT)],
            },
            OP_DELETE,
            strip(base("delete")),
        ),
        (
            TOPIC_USER,
            ChangeBody::MembersAdded {
                by,
                members: vec![
                    Actor::User(ANN),
                    Actor::App(OTHER_BOT),
                    Actor::User(UserId(99)),
                ],
            },
            OP_CREATE,
            {
                let mut v = strip(base("create"));
                v["users"] =
                    json!([{ "id": "ann01", "type": "user" }, { "id": "", "type": "user" }]);
                v
            },
        ),
        (
            TOPIC_USER,
            ChangeBody::MembersRemoved {
                by,
                members: vec![Actor::User(ANN)],
            },
            OP_DELETE,
            {
                let mut v = strip(base("delete"));
                v["users"] = json!([{ "id": "ann01", "type": "user" }]);
                v
            },
        ),
        (
            TOPIC_GROUP,
            ChangeBody::ChatDissolved { by },
            OP_DELETE,
            strip(base("delete")),
        ),
    ];
    for (topic, body, op, want) in cases {
        let d = delivery(BOT, topic, body);
        let (r, v) = render_for(&a, &d);
        assert_eq!((r.topic, r.operation), (topic, op), "{topic}");
        assert_eq!(v, want, "{topic} {op}");
    }
    // No operator (an administrator's action), or an app as the operator.
    let d = delivery(BOT, TOPIC_GROUP, ChangeBody::ChatDissolved { by: None });
    assert_eq!(
        render_for(&a, &d).1["operator"],
        json!({ "id": "", "type": "unknown" })
    );
    let d = delivery(
        BOT,
        TOPIC_ROBOT,
        ChangeBody::MembersAdded {
            by: Some(Actor::App(OTHER_BOT)),
            members: vec![Actor::App(BOT)],
        },
    );
    assert_eq!(
        render_for(&a, &d).1["operator"],
        json!({ "id": ids::spid(OTHER_BOT), "type": "sp" })
    );
}

#[test]
fn a_change_under_the_wrong_topic_is_refused() {
    let a = app(&[]);
    let chat = group();
    let parties = parties();
    let seen = Seen {
        app: &a,
        chat: Some(&chat),
        parties: &parties,
    };
    let m = message("hi", vec![]);
    for (topic, body) in [
        (
            TOPIC_RECALL,
            ChangeBody::MessageCreated { message: m.clone() },
        ),
        (TOPIC_MESSAGE, ChangeBody::MessageEdited { message: m }),
        (
            TOPIC_GROUP,
            ChangeBody::MembersAdded {
                by: None,
                members: vec![],
            },
        ),
        (
            "kso.app_chat.create",
            ChangeBody::ChatDissolved { by: None },
        ),
    ] {
        assert!(
            build(&seen, &delivery(BOT, topic, body)).is_err(),
            "{topic}"
        );
    }
}

#[test]
fn frame_round_trips_and_holds_no_secret() {
    let r = Rendered {
        topic: TOPIC_MESSAGE,
        operation: OP_CREATE,
        app_id: "AK\n\"x".into(),
        data: br#"{"text":"line\nbreak"}"#.to_vec(),
    };
    let bytes = r.to_bytes();
    let (topic, op, app_id, data) = unframe(&bytes).unwrap();
    assert_eq!(
        (topic.as_str(), op.as_str(), app_id.as_str(), data),
        (TOPIC_MESSAGE, OP_CREATE, "AK\n\"x", r.data.as_slice())
    );
    assert!(unframe(b"no head line").is_err());
    assert!(unframe(b"[]\n{}").is_err());
}

#[test]
fn ids_and_keys_per_app() {
    // Two apps hear the same message: the same ids (WPS ids are tenant-wide, as the get
    // API's are), each sealed with its own app's keys.
    let a7 = app_with(BOT, "AK_bot_7", "secret-7", &[]);
    let a8 = app_with(OTHER_BOT, "AK_bot_8", "secret-8", &[]);
    let m = message("<at id=\"b\">Bot7</at> hi", vec![mention_bot()]);
    let (r7, v7) = render_for(
        &a7,
        &delivery(
            BOT,
            TOPIC_MESSAGE,
            ChangeBody::MessageCreated { message: m.clone() },
        ),
    );
    let (r8, v8) = render_for(
        &a8,
        &delivery(
            OTHER_BOT,
            TOPIC_MESSAGE,
            ChangeBody::MessageCreated { message: m },
        ),
    );
    assert_eq!(v7, v8, "same event id in this test, same ids");
    assert_eq!(
        (r7.app_id.as_str(), r8.app_id.as_str()),
        ("AK_bot_7", "AK_bot_8")
    );
    let o7 = request(&r7.app_id, "secret-7", r7.topic, r7.operation, &r7.data, 0);
    assert!(receiver::open("AK_bot_7", "secret-7", &o7.body).is_ok());
    assert!(
        receiver::open("AK_bot_8", "secret-8", &o7.body).is_err(),
        "not another app's"
    );
    assert!(
        receiver::open("AK_bot_8", "secret-7", &o7.body).is_err(),
        "APPID is the receiver's"
    );
}

/// For the tests that never render: a Core over a throwaway store (kept alive by the dir).
fn events_without_store() -> (tempfile::TempDir, WpsEvents) {
    let (dir, ev, _) = store();
    (dir, ev)
}

fn store() -> (tempfile::TempDir, WpsEvents, Core) {
    use switchboard_core::clock::ManualClock;
    use switchboard_core::service::CoreConfig;
    use switchboard_store_sqlite::{SqliteOptions, SqliteStore};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    let core = Core::new(
        Arc::new(store),
        Arc::new(ManualClock::new(1_700_000_000_000)),
        CoreConfig::default(),
    );
    (dir, WpsEvents::new(core.clone(), &Config::default()), core)
}

// ----- through a store: render, then webhook, then the receiver ----------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_then_webhook_end_to_end() {
    use switchboard_core::service::{Access, CreateChat, CreateUser, Recipient, Send};
    let (_dir, ev, core) = store();
    let t = core.create_tenant("Acme").await.unwrap();
    let alice = core
        .create_user(
            t.id,
            CreateUser {
                name: "Alice".into(),
                user_id: Some("alice".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();
    let bot = core.create_app(t.id, "Bot").await.unwrap();
    let chat = core
        .create_chat(
            t.id,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("General".into()),
                owner: Actor::User(alice.id),
                members: vec![Actor::App(bot.id)],
            },
        )
        .await
        .unwrap();
    let mut send = Send::new(
        t.id,
        Recipient::Chat(chat.id),
        Actor::User(alice.id),
        MessageType::Text,
        Content {
            text: "<at id=\"b\">Bot</at> ping".into(),
            data: json!({ "text": "<at id=\"b\">Bot</at> ping" }).into(),
            original: None,
        },
    );
    send.mentions = vec![Mention {
        key: "b".into(),
        target: MentionTarget::App(bot.id),
        name: "Bot".into(),
    }];
    let sent = core.send(send).await.unwrap();
    let mut d = delivery(
        bot.id,
        TOPIC_MESSAGE,
        ChangeBody::MessageCreated {
            message: sent.message.clone(),
        },
    );
    d.tenant = t.id;
    d.chat = chat.id;
    let mut s = sub(bot.id);
    s.tenant = t.id;

    let plain = ev.render(&s, &d).await.unwrap();
    assert!(
        !plain
            .windows(bot.app_secret.expose().len())
            .any(|w| w == bot.app_secret.expose().as_bytes()),
        "the secret is not in the rendered bytes"
    );
    let now = 1_700_000_123_456;
    let o1 = ev.webhook(&s, &bot, &plain, now);
    let o2 = ev.webhook(&s, &bot, &plain, now + 15_000);
    assert_eq!(
        o1.headers,
        vec![("Content-Type".to_string(), "application/json".to_string())]
    );
    let (topic, op, time, v) =
        receiver::open(&bot.app_id, bot.app_secret.expose(), &o1.body).unwrap();
    assert_eq!(
        (topic.as_str(), op.as_str(), time),
        (TOPIC_MESSAGE, OP_CREATE, 1_700_000_123)
    );
    let (_, _, time2, v2) = receiver::open(&bot.app_id, bot.app_secret.expose(), &o2.body).unwrap();
    assert_eq!(time2, 1_700_000_138);
    assert_eq!(v, v2, "every attempt carries the same event");
    let e1: Value = serde_json::from_slice(&o1.body).unwrap();
    let e2: Value = serde_json::from_slice(&o2.body).unwrap();
    assert_ne!(e1["nonce"], e2["nonce"], "a fresh nonce per attempt");

    // The message is the get API's, and the bot can fetch it by the ids it got.
    let got = core
        .get(
            t.id,
            Access::Member(Actor::App(bot.id)),
            Some(chat.id),
            sent.message.id,
        )
        .await
        .unwrap();
    assert_eq!(v["message"], crate::render::message(&got));
    assert_eq!(
        v["message"]["mentions"][0]["identity"]["id"],
        ids::spid(bot.id)
    );
    assert_eq!(
        ids::parse_message_id(v["message"]["id"].as_str().unwrap()),
        Some(sent.message.id)
    );
    assert_eq!(
        v["chat"],
        json!({ "id": ids::chat_id(chat.id), "type": "group" })
    );
    assert_eq!(v["company_id"], ids::company_id(t.id));
    assert_eq!(v["sender"]["id"], "alice");

    // The keys are the app's as the attempt finds it: a rotated secret applies at once.
    let rotated = core.rotate_app_secret(t.id, bot.id).await.unwrap();
    let o3 = ev.webhook(&s, &rotated, &plain, now);
    assert!(receiver::open(&bot.app_id, bot.app_secret.expose(), &o3.body).is_err());
    assert!(receiver::open(&bot.app_id, rotated.app_secret.expose(), &o3.body).is_ok());

    // Unknown event types and vanished apps are render errors.
    let mut other = d.clone();
    other.event_type = "im.message.receive_v1".into();
    assert!(ev.render(&s, &other).await.is_err());
    let mut gone = d.clone();
    gone.app = AppId(424242);
    assert!(ev.render(&s, &gone).await.is_err());
}
