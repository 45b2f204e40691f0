use super::envelope::{build, Seen};
use super::*;
use crate::ids;
use serde_json::{json, Value};
use std::collections::HashMap;
use switchboard_core::events::{DeliveryStatus, Mode};
use switchboard_core::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use switchboard_core::model::MentionTarget;
use switchboard_core::model::{
    Chat, Content, Mention, Message, MessageExtra, MessageType, Removal, RemovalKind, Secret, User,
};
use switchboard_core::service::AppCard;

const T: TenantId = TenantId(1);
const CHAT: ChatId = ChatId(3);
const BOT: AppId = AppId(7);
const OTHER_BOT: AppId = AppId(8);
const TOM: UserId = UserId(5);
const ANN: UserId = UserId(6);

// ----- crypto and wire ---------------------------------------------------------------

#[test]
fn official_vector_decrypts() {
    let plain =
        crypto::decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").unwrap();
    assert_eq!(plain, b"hello world");
    assert!(crypto::decrypt("wrong key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=").is_err());
    assert!(crypto::decrypt("test key", "not base64!").is_err());
    assert!(crypto::decrypt("test key", "AAAA").is_err(), "too short");
}

#[test]
fn official_vector_is_reproduced_with_its_iv() {
    let b64 = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let iv: [u8; 16] = raw[..16].try_into().unwrap();
    assert_eq!(crypto::encrypt_with_iv("test key", iv, b"hello world"), b64);
}

#[test]
fn signature_vector() {
    assert_eq!(
        crypto::signature(
            "1700000000",
            "n0nce",
            "test key",
            br#"{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}"#
        ),
        "bed8fdd3e4bbc581364c140b572ec676edff3db612d57bbc07a24d062c40ddf3"
    );
}

#[test]
fn encrypt_round_trips_with_fresh_ivs() {
    let plain = r#"{"text":"中文 / emoji 🎉"}"#.as_bytes();
    let a = crypto::encrypt("k", plain);
    let b = crypto::encrypt("k", plain);
    assert_ne!(a, b, "a fresh IV per call");
    assert_eq!(crypto::decrypt("k", &a).unwrap(), plain);
    assert_eq!(crypto::decrypt("k", &b).unwrap(), plain);
    // Whole blocks: 16 (IV) + padded length.
    for n in [0usize, 1, 15, 16, 17, 100] {
        let p = vec![b'x'; n];
        assert_eq!(crypto::decrypt("k", &crypto::encrypt("k", &p)).unwrap(), p);
    }
}

fn header<'a>(o: &'a Outgoing, name: &str) -> &'a str {
    let found: Vec<&str> = o
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(found.len(), 1, "{name} exactly once in {:?}", o.headers);
    found[0]
}

#[test]
fn header_names_in_exact_case_on_both_faces() {
    for face in [Face::Feishu, Face::Hi] {
        let o = request(face, "", b"{}", 1_700_000_000_123);
        let names: Vec<&str> = o.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "X-Lark-Request-Timestamp",
                "X-Lark-Request-Nonce",
                "X-Lark-Signature"
            ]
        );
        assert_eq!(
            header(&o, "Content-Type"),
            "application/json; charset=utf-8"
        );
    }
    assert_eq!(FEISHU_HEADERS.signature, "X-Lark-Signature");
    assert_eq!(HI_HEADERS, FEISHU_HEADERS);
}

#[test]
fn plaintext_requests_are_signed_with_an_empty_key() {
    let plain = br#"{"schema":"2.0"}"#;
    let o = request(Face::Feishu, "", plain, 1_700_000_000_999);
    assert_eq!(o.body, plain, "sent as is");
    let ts = header(&o, "X-Lark-Request-Timestamp");
    assert_eq!(ts, "1700000000", "unix seconds");
    let nonce = header(&o, "X-Lark-Request-Nonce");
    assert!(!nonce.is_empty());
    assert_eq!(
        header(&o, "X-Lark-Signature"),
        crypto::signature(ts, nonce, "", &o.body)
    );
    let again = request(Face::Feishu, "", plain, 1_700_000_000_999);
    assert_ne!(header(&again, "X-Lark-Request-Nonce"), nonce, "fresh nonce");
}

#[test]
fn encrypted_requests_carry_only_the_ciphertext_and_sign_it() {
    let plain = r#"{"schema":"2.0","name":"研发/一组"}"#.as_bytes();
    let o = request(Face::Hi, "secret key", plain, 1_700_000_000_000);
    let v: Value = serde_json::from_slice(&o.body).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "exactly {{\"encrypt\":…}}");
    let b64 = obj["encrypt"].as_str().unwrap();
    assert_eq!(
        o.body,
        format!(r#"{{"encrypt":"{b64}"}}"#).into_bytes(),
        "compact, / unescaped"
    );
    assert_eq!(crypto::decrypt("secret key", b64).unwrap(), plain);
    let ts = header(&o, "X-Lark-Request-Timestamp");
    let nonce = header(&o, "X-Lark-Request-Nonce");
    let sig = header(&o, "X-Lark-Signature");
    assert_eq!(sig, crypto::signature(ts, nonce, "secret key", &o.body));
    assert!(
        sig.len() == 64
            && sig
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}

#[test]
fn challenge_bodies_and_answers() {
    assert_eq!(
        challenge_body("ajls384kdjx98XX", "vt/ö"),
        r#"{"challenge":"ajls384kdjx98XX","token":"vt/ö","type":"url_verification"}"#.as_bytes()
    );
    assert_eq!(
        challenge_body("c", ""),
        br#"{"challenge":"c","token":"","type":"url_verification"}"#
    );
    // Encrypted when a key is set, with the same headers.
    let plain = challenge_body("c1", "tok");
    let o = request(Face::Feishu, "k", &plain, 0);
    let v: Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(
        crypto::decrypt("k", v["encrypt"].as_str().unwrap()).unwrap(),
        plain
    );
    assert_eq!(header(&o, "X-Lark-Request-Timestamp"), "0");

    assert!(echoes_challenge("c1", br#"{"challenge":"c1"}"#));
    assert!(echoes_challenge(
        "c1",
        br#"{ "challenge" : "c1", "msg": "ok" }"#
    ));
    assert!(!echoes_challenge("c1", br#"{"challenge":"c2"}"#));
    assert!(!echoes_challenge("c1", br#"{"challenge":1}"#));
    assert!(!echoes_challenge("c1", br#"{}"#));
    assert!(!echoes_challenge("c1", b"c1"));
    assert!(!echoes_challenge("c1", b""));
}

// ----- names and who hears what ------------------------------------------------------

fn app(scopes: &[&str]) -> App {
    App {
        id: BOT,
        tenant: T,
        app_id: "cli_0123456789abcdef".into(),
        app_secret: Secret::new("s"),
        name: "Bot".into(),
        bot_enabled: true,
        signing_required: false,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        created_at: 0,
    }
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
fn event_type_names_per_face() {
    let a = app(&[SCOPE_GROUP_MSG]);
    for (face, list) in [
        (Face::Feishu, FEISHU_EVENT_TYPES),
        (Face::Hi, HI_EVENT_TYPES),
    ] {
        let named: Vec<&str> = names(face).iter().map(|(_, n)| *n).collect();
        assert_eq!(named, list, "the subscription list is the table's");
        for (k, n) in names(face) {
            assert_eq!(
                event_type(face, &a, &hearing(*k, false, ChatKind::Group)),
                Some(*n)
            );
            assert_eq!(kind_of(face, n), Some(*k));
        }
        assert_eq!(
            event_type(
                face,
                &a,
                &hearing(EventKind::MessageEdited, true, ChatKind::P2p)
            ),
            None,
            "edits are not pushed"
        );
    }
    assert_eq!(
        event_type(
            Face::Hi,
            &a,
            &hearing(EventKind::MessageReceived, false, ChatKind::P2p)
        ),
        Some("im.message.receive")
    );
    assert_eq!(
        event_type(
            Face::Feishu,
            &a,
            &hearing(EventKind::MessageReceived, false, ChatKind::P2p)
        ),
        Some("im.message.receive_v1")
    );
    assert_eq!(kind_of(Face::Hi, "im.message.receive_v1"), None);
    assert!(!crate::auth::DEFAULT_SCOPES.contains(&SCOPE_GROUP_MSG));
}

#[test]
fn group_messages_need_a_mention_or_the_scope() {
    let plain = app(&["im:message"]);
    let all = app(&["im:message", SCOPE_GROUP_MSG]);
    for kind in [EventKind::MessageReceived, EventKind::MessageRecalled] {
        for group in [ChatKind::Group, ChatKind::SuperGroup] {
            assert_eq!(
                event_type(Face::Feishu, &plain, &hearing(kind, false, group)),
                None
            );
            assert!(event_type(Face::Feishu, &plain, &hearing(kind, true, group)).is_some());
            assert!(event_type(Face::Feishu, &all, &hearing(kind, false, group)).is_some());
            assert_eq!(
                event_type(Face::Hi, &plain, &hearing(kind, false, group)),
                None
            );
        }
        assert!(event_type(Face::Feishu, &plain, &hearing(kind, false, ChatKind::P2p)).is_some());
    }
    // Membership events do not depend on it.
    assert!(event_type(
        Face::Feishu,
        &plain,
        &hearing(EventKind::UsersAdded, false, ChatKind::Group)
    )
    .is_some());
}

// ----- envelopes ---------------------------------------------------------------------

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
    HashMap::from([
        (
            Actor::User(TOM),
            Some(Party::User(user(TOM, "e33ggbyz", "Tom"))),
        ),
        (
            Actor::User(ANN),
            Some(Party::User(user(ANN, "ann01", "安妮"))),
        ),
        (
            Actor::App(BOT),
            Some(Party::App(AppCard {
                id: BOT,
                app_id: "cli_0123456789abcdef".into(),
                name: "Bot".into(),
            })),
        ),
        (
            Actor::App(OTHER_BOT),
            Some(Party::App(AppCard {
                id: OTHER_BOT,
                app_id: "cli_fedcba9876543210".into(),
                name: "Other".into(),
            })),
        ),
    ])
}

fn chat(kind: ChatKind) -> Chat {
    Chat {
        id: CHAT,
        tenant: T,
        kind,
        name: "研发/一组".into(),
        description: String::new(),
        owner: Actor::User(ANN),
        created_at: 1,
        dissolved_at: None,
        last_position: 9,
    }
}

fn text_message(pos: i64, sender: Actor, text: &str, mentions: Vec<Mention>) -> Message {
    Message {
        id: MessageId::timeline(CHAT, pos).unwrap(),
        tenant: T,
        chat: CHAT,
        sender,
        kind: MessageType::Text,
        content: Content {
            text: text.into(),
            data: json!({ "text": text }).into(),
            original: None,
        },
        mentions,
        created_at: 1_609_073_151_345,
        updated_at: 1_609_073_151_345,
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

fn delivery(event_type: &str, body: ChangeBody) -> Delivery {
    Delivery {
        id: 1,
        event_id: "5e3702a84e847582be8db7fb73283c02".into(),
        tenant: T,
        app: BOT,
        dialect: "feishu".into(),
        mode: Mode::Webhook,
        event_type: event_type.into(),
        chat: CHAT,
        message: body.message().map(|m| m.id),
        seq: 1,
        body,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: None,
        created_at: 1_608_725_989_000,
    }
}

struct Fixture {
    app: App,
    parties: HashMap<Actor, Option<Party>>,
    chat: Chat,
}

impl Fixture {
    fn new(scopes: &[&str], kind: ChatKind) -> Fixture {
        Fixture {
            app: app(scopes),
            parties: parties(),
            chat: chat(kind),
        }
    }

    fn render(&self, face: Face, d: &Delivery, role: Option<Role>) -> Vec<u8> {
        let seen = Seen {
            face,
            app: &self.app,
            user_id_visible: self.app.has_scope("contact:user.employee_id:readonly"),
            token: "vtoken",
            chat: Some(&self.chat),
            parties: &self.parties,
            remover_role: role,
        };
        build(&seen, kind_of(face, &d.event_type).unwrap(), d).unwrap()
    }

    fn value(&self, face: Face, d: &Delivery, role: Option<Role>) -> Value {
        serde_json::from_slice(&self.render(face, d, role)).unwrap()
    }
}

fn header_json(event_type: &str, create_time: &str) -> Value {
    json!({
        "event_id": "5e3702a84e847582be8db7fb73283c02",
        "event_type": event_type,
        "create_time": create_time,
        "token": "vtoken",
        "app_id": "cli_0123456789abcdef",
        "tenant_key": ids::tenant_key(T),
    })
}

fn mention_tom() -> Mention {
    Mention {
        key: "k1".into(),
        target: MentionTarget::User(TOM),
        name: String::new(),
    }
}

#[test]
fn feishu_receive_is_compact_and_exact() {
    let f = Fixture::new(&["im:message"], ChatKind::Group);
    let mut m = text_message(
        4,
        Actor::User(ANN),
        "<at user_id=\"k1\">Tom</at> 你好 a/b",
        vec![mention_tom()],
    );
    m.parent = Some(MessageId::timeline(CHAT, 2).unwrap());
    m.root = Some(MessageId::timeline(CHAT, 1).unwrap());
    let d = delivery(
        "im.message.receive_v1",
        ChangeBody::MessageCreated { message: m.clone() },
    );
    let got = String::from_utf8(f.render(Face::Feishu, &d, None)).unwrap();
    let tk = ids::tenant_key(T);
    let expected = format!(
        concat!(
            r#"{{"schema":"2.0","header":{{"event_id":"5e3702a84e847582be8db7fb73283c02","#,
            r#""event_type":"im.message.receive_v1","create_time":"1609073151345","token":"vtoken","#,
            r#""app_id":"cli_0123456789abcdef","tenant_key":"{tk}"}},"event":{{"sender":{{"sender_id":"#,
            r#"{{"union_id":"{ann_on}","open_id":"{ann_ou}"}},"sender_type":"user","tenant_key":"{tk}"}},"#,
            r#""message":{{"message_id":"{mid}","root_id":"{root}","parent_id":"{parent}","#,
            r#""create_time":"1609073151345","update_time":"1609073151345","chat_id":"{cid}","#,
            r#""chat_type":"group","message_type":"text","content":"{{\"text\":\"@_user_1 你好 a/b\"}}","#,
            r#""mentions":[{{"key":"@_user_1","id":{{"union_id":"{tom_on}","open_id":"{tom_ou}"}},"#,
            r#""name":"Tom","tenant_key":"{tk}"}}]}}}}}}"#
        ),
        tk = tk,
        ann_on = ids::union_id(ANN),
        ann_ou = ids::open_id(ANN, BOT),
        tom_on = ids::union_id(TOM),
        tom_ou = ids::open_id(TOM, BOT),
        mid = ids::message_id(m.id),
        root = ids::message_id(m.root.unwrap()),
        parent = ids::message_id(m.parent.unwrap()),
        cid = ids::chat_id(CHAT),
    );
    assert_eq!(got, expected);
    assert!(!got.contains("\\u"), "non-ASCII unescaped");
    assert!(!got.contains("\\/"), "/ unescaped");
    assert!(!got.contains("thread_id"), "empty ids are left out");
}

#[test]
fn ids_are_the_receiving_apps_and_user_id_needs_the_scope() {
    let m = text_message(4, Actor::User(TOM), "hi", vec![]);
    let d = delivery(
        "im.message.receive_v1",
        ChangeBody::MessageCreated { message: m },
    );
    let f = Fixture::new(&["im:message"], ChatKind::P2p);
    let v = f.value(Face::Feishu, &d, None);
    assert_eq!(
        v["event"]["sender"]["sender_id"],
        json!({
            "union_id": ids::union_id(TOM), "open_id": ids::open_id(TOM, BOT)
        })
    );
    assert_eq!(v["event"]["message"]["chat_type"], "p2p");
    assert!(v["event"]["message"].get("mentions").is_none());

    let mut other = Fixture::new(
        &["im:message", "contact:user.employee_id:readonly"],
        ChatKind::P2p,
    );
    other.app.id = OTHER_BOT;
    other.app.app_id = "cli_fedcba9876543210".into();
    let v = other.value(Face::Feishu, &d, None);
    assert_eq!(v["header"]["app_id"], "cli_fedcba9876543210");
    assert_eq!(
        v["event"]["sender"]["sender_id"],
        json!({
            "union_id": ids::union_id(TOM), "user_id": "e33ggbyz", "open_id": ids::open_id(TOM, OTHER_BOT)
        })
    );
    assert_ne!(ids::open_id(TOM, OTHER_BOT), ids::open_id(TOM, BOT));
}

#[test]
fn an_app_sender_is_named_by_its_app_id() {
    let mut m = text_message(
        4,
        Actor::App(OTHER_BOT),
        "<at user_id=\"a\">Bot</at> go",
        vec![Mention {
            key: "a".into(),
            target: MentionTarget::App(BOT),
            name: String::new(),
        }],
    );
    m.thread = Some(MessageId::timeline(CHAT, 1).unwrap());
    let d = delivery(
        "im.message.receive_v1",
        ChangeBody::MessageCreated { message: m },
    );
    let v = Fixture::new(&[], ChatKind::Group).value(Face::Feishu, &d, None);
    let s = &v["event"]["sender"];
    assert_eq!(s["sender_type"], "app");
    assert_eq!(
        s["sender_id"],
        json!({ "union_id": "cli_fedcba9876543210", "open_id": "cli_fedcba9876543210" })
    );
    let msg = &v["event"]["message"];
    assert_eq!(
        msg["thread_id"],
        ids::thread_id(MessageId::timeline(CHAT, 1).unwrap())
    );
    assert_eq!(msg["mentions"][0]["id"]["open_id"], "cli_0123456789abcdef");
    assert_eq!(msg["mentions"][0]["name"], "Bot");
    assert_eq!(msg["content"], r#"{"text":"@_user_1 go"}"#);
}

#[test]
fn hi_receive_uses_hi_names_and_shapes() {
    let f = Fixture::new(&["im:message"], ChatKind::Group);
    let m = text_message(
        4,
        Actor::User(ANN),
        "<at user_id=\"k1\">Tom</at> hi <at user_id=\"all\">所有人</at>",
        vec![
            mention_tom(),
            Mention {
                key: "all".into(),
                target: MentionTarget::All,
                name: String::new(),
            },
        ],
    );
    let d = delivery(
        "im.message.receive",
        ChangeBody::MessageCreated { message: m.clone() },
    );
    let v = f.value(Face::Hi, &d, None);
    assert_eq!(
        v["header"],
        header_json("im.message.receive", "1609073151345")
    );
    let msg = &v["event"]["message"];
    assert_eq!(msg["message_type"], "text");
    let content: Value = serde_json::from_str(msg["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        content,
        json!({ "atIdList": [ids::open_id(TOM, BOT), "-1"], "text": "@Tom hi @所有人" })
    );
    assert_eq!(
        msg["mentions"].as_array().unwrap().len(),
        2,
        "Hi lists @all"
    );
    assert_eq!(msg["mentions"][1]["key"], "@_all");
    assert_eq!(msg["mentions"][1]["id"], json!({ "open_id": "-1" }));
    assert_eq!(v["event"]["sender"]["sender_type"], "user");
    // Feishu leaves @all out of mentions, as its get does.
    let d = delivery(
        "im.message.receive_v1",
        ChangeBody::MessageCreated { message: m },
    );
    let v = f.value(Face::Feishu, &d, None);
    assert_eq!(
        v["event"]["message"]["mentions"].as_array().unwrap().len(),
        1
    );

    // Hi's msg_type spellings.
    let mut rich = text_message(5, Actor::User(ANN), "", vec![]);
    rich.kind = MessageType::RichText;
    rich.content.data =
        json!({ "title": "T", "paragraphs": [[{ "tag": "text", "text": "x" }]] }).into();
    let mut card = text_message(6, Actor::User(ANN), "card", vec![]);
    card.kind = MessageType::Card;
    for (m, hi, feishu) in [
        (rich, "rich_text", "post"),
        (card, "compressive_card", "interactive"),
    ] {
        let d = delivery(
            "im.message.receive",
            ChangeBody::MessageCreated { message: m.clone() },
        );
        assert_eq!(
            f.value(Face::Hi, &d, None)["event"]["message"]["message_type"],
            hi
        );
        let d = delivery(
            "im.message.receive_v1",
            ChangeBody::MessageCreated { message: m },
        );
        assert_eq!(
            f.value(Face::Feishu, &d, None)["event"]["message"]["message_type"],
            feishu
        );
    }
}

fn removed(by: Actor) -> Message {
    let mut m = text_message(4, Actor::User(TOM), "hi", vec![]);
    m.removal = Some(Removal {
        kind: RemovalKind::Recalled,
        by,
        at: 1_609_073_200_000,
    });
    m
}

#[test]
fn recalled_events() {
    let f = Fixture::new(&["im:message"], ChatKind::Group);
    let cases = [
        (Actor::User(TOM), None, "message_owner"),
        (Actor::User(ANN), Some(Role::Owner), "group_owner"),
        (Actor::User(ANN), None, "group_owner"), // the chat's owner
        (Actor::App(OTHER_BOT), Some(Role::Admin), "group_manager"),
        (Actor::App(OTHER_BOT), None, "enterprise_manager"),
    ];
    for (face, name) in [
        (Face::Feishu, "im.message.recalled_v1"),
        (Face::Hi, "im.message.recalled"),
    ] {
        for (by, role, want) in cases {
            let m = removed(by);
            let d = delivery(name, ChangeBody::MessageRemoved { message: m.clone() });
            let v = f.value(face, &d, role);
            assert_eq!(v["header"], header_json(name, "1609073200000"));
            assert_eq!(
                v["event"],
                json!({
                    "message_id": ids::message_id(m.id),
                    "chat_id": ids::chat_id(CHAT),
                    "recall_time": "1609073200000",
                    "recall_type": want,
                }),
                "{by:?} {role:?}"
            );
        }
    }
}

#[test]
fn membership_and_disband_events() {
    let f = Fixture::new(&["im:message"], ChatKind::Group);
    let by = Some(Actor::User(ANN));
    let ann_ids = json!({ "union_id": ids::union_id(ANN), "open_id": ids::open_id(ANN, BOT) });
    let chat_part = json!({
        "chat_id": ids::chat_id(CHAT),
        "operator_id": ann_ids,
        "external": false,
        "operator_tenant_key": ids::tenant_key(T),
        "name": "研发/一组",
        "i18n_names": {},
    });
    let feishu_and_hi = [(Face::Feishu, "_v1"), (Face::Hi, "")];
    for (face, suffix) in feishu_and_hi {
        for (added, bot) in [
            (true, "im.chat.member.bot.added"),
            (false, "im.chat.member.bot.deleted"),
        ] {
            let members = vec![Actor::App(BOT), Actor::User(TOM)];
            let body = if added {
                ChangeBody::MembersAdded { by, members }
            } else {
                ChangeBody::MembersRemoved { by, members }
            };
            let name = format!("{bot}{suffix}");
            let d = delivery(&name, body.clone());
            let v = f.value(face, &d, None);
            assert_eq!(v["header"], header_json(&name, "1608725989000"));
            assert_eq!(v["event"], chat_part, "{name}");

            let users = bot.replace(".bot.", ".user.");
            let name = format!("{users}{suffix}");
            let d = delivery(&name, body);
            let v = f.value(face, &d, None);
            let mut want = chat_part.clone();
            want["users"] = json!([{
                "name": "Tom",
                "tenant_key": ids::tenant_key(T),
                "user_id": { "union_id": ids::union_id(TOM), "open_id": ids::open_id(TOM, BOT) },
            }]);
            assert_eq!(v["event"], want, "{name}");
        }
        let name = format!("im.chat.disbanded{suffix}");
        let d = delivery(&name, ChangeBody::ChatDissolved { by: None });
        let v = f.value(face, &d, None);
        let mut want = chat_part.clone();
        want["operator_id"] = json!({});
        assert_eq!(v["event"], want);
        // Keys in the documented order, compact.
        let raw = String::from_utf8(f.render(face, &d, None)).unwrap();
        assert!(raw.contains(r#""event":{"chat_id":"#), "{raw}");
        assert!(raw.contains(r#""operator_id":{},"external":false,"operator_tenant_key":"#));
        assert!(raw.contains(r#""name":"研发/一组","i18n_names":{}"#));
    }
}

#[test]
fn a_mismatched_body_is_refused() {
    let f = Fixture::new(&["im:message"], ChatKind::Group);
    let d = delivery(
        "im.message.receive_v1",
        ChangeBody::ChatDissolved { by: None },
    );
    let seen = Seen {
        face: Face::Feishu,
        app: &f.app,
        user_id_visible: false,
        token: "",
        chat: None,
        parties: &f.parties,
        remover_role: None,
    };
    assert!(build(&seen, EventKind::MessageReceived, &d).is_err());
    // No token: the field is still there, empty.
    let d = delivery(
        "im.chat.disbanded_v1",
        ChangeBody::ChatDissolved { by: None },
    );
    let v: Value =
        serde_json::from_slice(&build(&seen, EventKind::ChatDisbanded, &d).unwrap()).unwrap();
    assert_eq!(v["header"]["token"], "");
    assert_eq!(v["event"]["name"], "", "a chat that is gone has no name");
}

#[test]
fn parties_named_by_a_change() {
    let m = text_message(1, Actor::User(TOM), "x", vec![mention_tom()]);
    assert_eq!(
        ChangeBody::MessageCreated { message: m }.actors(),
        vec![Actor::User(TOM)]
    );
    assert_eq!(
        ChangeBody::MembersAdded {
            by: Some(Actor::App(BOT)),
            members: vec![Actor::User(ANN), Actor::App(BOT)]
        }
        .actors(),
        vec![Actor::User(ANN), Actor::App(BOT)]
    );
    assert_eq!(
        ChangeBody::MessageRemoved {
            message: removed(Actor::User(ANN))
        }
        .actors(),
        vec![Actor::User(TOM), Actor::User(ANN)]
    );
}
