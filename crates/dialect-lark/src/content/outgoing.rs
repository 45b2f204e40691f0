//! Outgoing: a message's `body.content` string as a reader on either face sees it.

use super::{scan_at, Piece, FORMAT};
use crate::face::Face;
use crate::ids;
use crate::render::Reader;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use switchboard_core::content::{
    self as canon, MediaData, Node, RichTextData, ShareChatData, ShareUserData, TextView,
};
use switchboard_core::json::Json;
use switchboard_core::model::{MentionTarget, MessageType};
use switchboard_core::service::{MessageView, Party};

/// The body of a merge-forward container, as Feishu shows it (a plain string, not JSON).
pub const MERGE_FORWARD_BODY: &str = "Merged and Forwarded Message";
/// What a recalled message reads as.
pub const RECALLED_TEXT: &str = "This message was recalled";

/// How a reader names each of a message's mentions.
pub struct ReadMentions {
    /// Per mention: its key on this face (`@_user_N`, `@_all`) and display name.
    pub keys: Vec<(String, String)>,
}

impl ReadMentions {
    pub fn of(v: &MessageView) -> ReadMentions {
        let mut users = 0;
        let keys = v
            .message
            .mentions
            .iter()
            .zip(&v.mention_parties)
            .map(|(m, p)| {
                let key = if m.target == MentionTarget::All {
                    "@_all".to_string()
                } else {
                    users += 1;
                    format!("@_user_{users}")
                };
                let name = if !m.name.is_empty() {
                    m.name.clone()
                } else {
                    match p {
                        Some(Party::User(u)) => u.name.clone(),
                        Some(Party::App(a)) => a.name.clone(),
                        None if m.target == MentionTarget::All => "所有人".to_string(),
                        None => String::new(),
                    }
                };
                (key, name)
            })
            .collect();
        ReadMentions { keys }
    }

    pub(super) fn by_canonical(&self, v: &MessageView, key: &str) -> Option<usize> {
        v.message.mentions.iter().position(|m| m.key == key)
    }
}

/// The `body.content` string of `v` as `r` reads it (the message is not removed).
pub fn outgoing(r: &Reader, v: &MessageView, rm: &ReadMentions) -> String {
    let m = &v.message;
    let original = m
        .content
        .original
        .as_ref()
        .filter(|o| o.format == FORMAT)
        .map(|o| &o.value);
    let data = &m.content.data;
    // The stored original is the compact text of the content as received: echoed, it is
    // copied as it is.
    let value = match m.kind {
        MessageType::Text => return text(r, v, rm),
        MessageType::RichText => match original {
            // Without mentions there is no `at` node to rewrite.
            Some(o) if m.mentions.is_empty() => return o.as_str().to_string(),
            Some(o) => rewrite_at_nodes(o.to_value(), v, rm),
            None => return post_string(data, v, rm),
        },
        MessageType::Card => match (r.face, original) {
            // Hi's documentation: "when the message is a compressive_card, the content returned is \"\"".
            (Face::Hi, _) => return String::new(),
            (Face::Feishu, Some(o)) => return o.as_str().to_string(),
            (Face::Feishu, None) => {
                json!({ "elements": [{ "tag": "div", "text": { "tag": "plain_text", "content": m.content.text } }] })
            }
        },
        MessageType::MergeForward => return MERGE_FORWARD_BODY.to_string(),
        _ if original.is_some()
            && !matches!(m.kind, MessageType::ShareChat | MessageType::ShareUser) =>
        {
            return original.map(|o| o.as_str().to_string()).unwrap_or_default();
        }
        MessageType::Image => {
            let md = data.parse::<MediaData>().unwrap_or_default();
            json!({ "image_key": md.key })
        }
        MessageType::File | MessageType::Audio | MessageType::Video | MessageType::Sticker => {
            let md = data.parse::<MediaData>().unwrap_or_default();
            let mut o = json!({ "file_key": md.key });
            if !md.name.is_empty() && matches!(m.kind, MessageType::File | MessageType::Video) {
                o["file_name"] = json!(md.name);
            }
            if let Some(d) = md
                .duration_ms
                .filter(|_| matches!(m.kind, MessageType::Audio | MessageType::Video))
            {
                o["duration"] = json!(d);
            }
            if m.kind == MessageType::Video && !md.cover_key.is_empty() {
                o["image_key"] = json!(md.cover_key);
            }
            o
        }
        MessageType::ShareChat => {
            let c = data.parse::<ShareChatData>().map_or(0, |d| d.chat_id);
            json!({ "chat_id": ids::chat_id(switchboard_core::ids::ChatId(c)) })
        }
        // Feishu shares users by open_id, which is the reader app's own.
        MessageType::ShareUser => {
            let u = data.parse::<ShareUserData>().map_or(0, |d| d.user_id);
            json!({ "user_id": ids::open_id(switchboard_core::ids::UserId(u), r.app.id) })
        }
        MessageType::Location => {
            let l = data.parse::<canon::LocationData>().unwrap_or_default();
            json!({ "name": if l.title.is_empty() { l.address } else { l.title }, "latitude": l.latitude.to_string(), "longitude": l.longitude.to_string() })
        }
        MessageType::System => json!({ "template": m.content.text }),
        _ => json!({ "text": m.content.text }),
    };
    serde_json::to_string(&value).expect("serialisable")
}

/// The placeholder body of a recalled message.
pub fn recalled() -> String {
    json!({ "text": RECALLED_TEXT }).to_string()
}

fn text(r: &Reader, v: &MessageView, rm: &ReadMentions) -> String {
    let content = &v.message.content;
    let canonical = match content.data.parse::<TextView>() {
        Ok(t) => t.text,
        Err(_) => Cow::Borrowed(content.text.as_str()),
    };
    let mut out = String::new();
    for piece in scan_at(&canonical) {
        match piece {
            Piece::Lit(s) => out.push_str(&s),
            Piece::At { id, name } => match (rm.by_canonical(v, &id), r.face) {
                (Some(i), Face::Feishu) => out.push_str(&rm.keys[i].0),
                (Some(i), Face::Hi) => {
                    out.push('@');
                    out.push_str(if name.is_empty() {
                        &rm.keys[i].1
                    } else {
                        &name
                    });
                }
                (None, _) => {
                    out.push('@');
                    out.push_str(&name);
                }
            },
        }
    }
    let mut o = Map::new();
    if r.face == Face::Hi && !v.message.mentions.is_empty() {
        let list: Vec<Value> = v
            .message
            .mentions
            .iter()
            .zip(&v.mention_parties)
            .map(|(m, p)| json!(r.mention_id(&m.target, p.as_ref()).0))
            .collect();
        o.insert("atIdList".into(), Value::Array(list));
    }
    o.insert("text".into(), json!(out));
    Value::Object(o).to_string()
}

/// Rewrites the `user_id` of every `at` node of an original post to the reader's mention key.
fn rewrite_at_nodes(mut value: Value, v: &MessageView, rm: &ReadMentions) -> Value {
    fn walk(node: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
        match node {
            Value::Array(a) => a.iter_mut().for_each(|n| walk(n, f)),
            Value::Object(o) => {
                if o.get("tag").and_then(Value::as_str) == Some("at") {
                    f(o);
                } else {
                    o.values_mut().for_each(|n| walk(n, f));
                }
            }
            _ => {}
        }
    }
    let sender_app = match v.message.sender {
        switchboard_core::model::Actor::App(a) => Some(a),
        _ => None,
    };
    walk(&mut value, &mut |o| {
        let raw = o
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let found = v
            .message
            .mentions
            .iter()
            .zip(&v.mention_parties)
            .position(|(m, p)| match (&m.target, p) {
                (MentionTarget::All, _) => raw == "all",
                (MentionTarget::User(u), p) => {
                    sender_app.is_some_and(|a| ids::parse_open_id(&raw, a) == Some(*u))
                        || ids::parse_union_id(&raw) == Some(*u)
                        || matches!(p, Some(Party::User(x)) if x.user_id == raw)
                }
                (MentionTarget::App(_), Some(Party::App(a))) => a.app_id == raw,
                _ => false,
            });
        if let Some(i) = found {
            o.insert("user_id".into(), json!(rm.keys[i].0));
            if !o.contains_key("user_name") {
                o.insert("user_name".into(), json!(rm.keys[i].1));
            }
        }
    });
    value
}

/// A `post` rendered from canonical rich text, written straight to its JSON string: the
/// same bytes as `post_from_canonical`'s tree in `tests`
/// (`typed_post_is_byte_for_byte_the_value_form`) without building, serialising and freeing
/// that tree on every read.
pub(super) fn post_string(data: &Json, v: &MessageView, rm: &ReadMentions) -> String {
    use serde::ser::{Serialize, SerializeMap, Serializer};
    struct Nodes<'b>(&'b [Node], &'b MessageView, &'b ReadMentions);
    struct Paragraphs<'b>(&'b RichTextData, &'b MessageView, &'b ReadMentions);
    // Fields in alphabetical order, as the tree's maps write them.
    #[derive(serde::Serialize)]
    struct Post<'b> {
        zh_cn: Body<'b>,
    }
    #[derive(serde::Serialize)]
    struct Body<'b> {
        content: Paragraphs<'b>,
        title: &'b str,
    }
    impl Serialize for Paragraphs<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (v, rm) = (self.1, self.2);
            s.collect_seq(self.0.paragraphs.iter().map(|p| Nodes(p, v, rm)))
        }
    }
    impl Serialize for Nodes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (v, rm) = (self.1, self.2);
            s.collect_seq(self.0.iter().map(|n| NodeOut(n, v, rm)))
        }
    }
    struct NodeOut<'b>(&'b Node, &'b MessageView, &'b ReadMentions);
    impl Serialize for NodeOut<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            match self.0 {
                Node::Text { text, style } => {
                    m.serialize_entry("style", style)?;
                    m.serialize_entry("tag", "text")?;
                    m.serialize_entry("text", text)?;
                }
                Node::A { text, href } => {
                    m.serialize_entry("href", href)?;
                    m.serialize_entry("tag", "a")?;
                    m.serialize_entry("text", text)?;
                }
                Node::At { key, name } => match self.2.by_canonical(self.1, key) {
                    Some(i) => {
                        let (user_id, shown) = &self.2.keys[i];
                        m.serialize_entry("tag", "at")?;
                        m.serialize_entry("user_id", user_id)?;
                        m.serialize_entry("user_name", if name.is_empty() { shown } else { name })?;
                    }
                    None => {
                        m.serialize_entry("tag", "text")?;
                        m.serialize_entry("text", &format!("@{name}"))?;
                    }
                },
                Node::Img { key } => {
                    m.serialize_entry("image_key", key)?;
                    m.serialize_entry("tag", "img")?;
                }
                Node::Emoji { text } => {
                    m.serialize_entry("emoji_type", text)?;
                    m.serialize_entry("tag", "emotion")?;
                }
                Node::CodeBlock { text, language } => {
                    m.serialize_entry("language", language)?;
                    m.serialize_entry("tag", "code_block")?;
                    m.serialize_entry("text", text)?;
                }
                Node::Hr => m.serialize_entry("tag", "hr")?,
            }
            m.end()
        }
    }
    let rt = data.parse::<RichTextData>().unwrap_or_default();
    let post = Post {
        zh_cn: Body {
            content: Paragraphs(&rt, v, rm),
            title: &rt.title,
        },
    };
    serde_json::to_string(&post).expect("serialisable")
}
