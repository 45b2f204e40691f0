use super::outgoing::post_string;
use super::*;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::content::{Node, RichTextData};
use switchboard_core::model::{Mention, MentionTarget};
use switchboard_core::service::MessageView;

fn post_from_canonical(data: &Value, v: &MessageView, rm: &ReadMentions) -> Value {
    let rt = RichTextData::deserialize(data).unwrap_or_default();
    let paragraphs: Vec<Value> = rt
        .paragraphs
        .iter()
        .map(|p| {
            p.iter()
                .map(|n| match n {
                    Node::Text { text, style } => json!({ "tag": "text", "text": text, "style": style }),
                    Node::A { text, href } => json!({ "tag": "a", "text": text, "href": href }),
                    Node::At { key, name } => match rm.by_canonical(v, key) {
                        Some(i) => json!({ "tag": "at", "user_id": rm.keys[i].0, "user_name": if name.is_empty() { &rm.keys[i].1 } else { name } }),
                        None => json!({ "tag": "text", "text": format!("@{name}") }),
                    },
                    Node::Img { key } => json!({ "tag": "img", "image_key": key }),
                    Node::Emoji { text } => json!({ "tag": "emotion", "emoji_type": text }),
                    Node::CodeBlock { text, language } => json!({ "tag": "code_block", "text": text, "language": language }),
                    Node::Hr => json!({ "tag": "hr" }),
                })
                .collect()
        })
        .collect();
    json!({ "zh_cn": { "title": rt.title, "content": paragraphs } })
}

#[test]
fn typed_post_is_byte_for_byte_the_value_form() {
    use switchboard_core::ids::{ChatId, MessageId, TenantId, UserId};
    use switchboard_core::model::{Actor, Chat, ChatKind};
    let chat = ChatId(3);
    let data = json!({ "title": "T \"q\" 中文", "paragraphs": [
        [{ "tag": "text", "text": "plain" }, { "tag": "a", "text": "details", "href": "https://e.x/1?a=b&c" }],
        [{ "tag": "text", "text": "b", "style": ["bold", "italic"] }, { "tag": "at", "key": "k1" },
         { "tag": "at", "key": "k1", "name": "Robert" }, { "tag": "at", "key": "nobody", "name": "X" }],
        [{ "tag": "img", "key": "img_1" }, { "tag": "emoji", "text": "SMILE" },
         { "tag": "code_block", "text": "fn main() {}", "language": "rust" },
         { "tag": "code_block", "text": "x" }, { "tag": "hr" }],
        []
    ] });
    let mut message =
        switchboard_core::testing::new_text(TenantId(1), chat, Actor::User(UserId(1)), "plain", 5)
            .to_message(MessageId::timeline(chat, 1).unwrap(), 5, None);
    message.kind = MessageType::RichText;
    message.content.data = data.clone().into();
    message.mentions = vec![Mention {
        key: "k1".into(),
        target: MentionTarget::User(UserId(2)),
        name: "Bob".into(),
    }];
    let v = MessageView {
        chat: Chat {
            id: chat,
            tenant: TenantId(1),
            kind: ChatKind::Group,
            name: "g".into(),
            description: String::new(),
            owner: Actor::User(UserId(1)),
            created_at: 1,
            dissolved_at: None,
            last_position: 1,
        },
        message,
        sender: None,
        mention_parties: vec![None],
    };
    let rm = ReadMentions::of(&v);
    for d in [data, json!({ "paragraphs": [] }), json!("not rich text")] {
        assert_eq!(
            post_string(&d.clone().into(), &v, &rm),
            serde_json::to_string(&post_from_canonical(&d, &v, &rm)).unwrap(),
            "{d}"
        );
    }
}

#[test]
fn at_scanner() {
    let p = scan_at(r#"hi <at user_id="ou_1">Tom</at>, <at id='2'>Ann</at> <at bad>x</at> end"#);
    assert_eq!(
        p,
        vec![
            Piece::Lit("hi ".into()),
            Piece::At {
                id: "ou_1".into(),
                name: "Tom".into()
            },
            Piece::Lit(", ".into()),
            Piece::At {
                id: "2".into(),
                name: "Ann".into()
            },
            Piece::Lit(" <at bad>x</at> end".into()),
        ]
    );
    assert_eq!(scan_at("plain"), vec![Piece::Lit("plain".into())]);
    assert_eq!(
        scan_at("<at user_id=\"all\"></at>"),
        vec![Piece::At {
            id: "all".into(),
            name: String::new()
        }]
    );
}

#[test]
fn msg_types_per_face() {
    assert_eq!(msg_type(Face::Hi, MessageType::RichText), "rich_text");
    assert_eq!(msg_type(Face::Feishu, MessageType::RichText), "post");
    assert_eq!(msg_type(Face::Hi, MessageType::Card), "compressive_card");
    assert_eq!(msg_type(Face::Feishu, MessageType::Card), "interactive");
    assert_eq!(msg_type(Face::Feishu, MessageType::Custom), "text");
    for t in [
        "text",
        "post",
        "rich_text",
        "image",
        "file",
        "audio",
        "media",
        "sticker",
        "interactive",
        "compressive_card",
        "share_chat",
        "share_user",
    ] {
        let k = parse_msg_type(t).unwrap();
        assert!(
            [msg_type(Face::Hi, k), msg_type(Face::Feishu, k)].contains(&t) || t == "system_card"
        );
    }
    assert_eq!(
        parse_msg_type("merge_forward"),
        None,
        "merge-forward messages are made by forwarding"
    );
}
