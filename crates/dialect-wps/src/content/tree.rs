//! The `Value`-tree renderer: content that did not come in through WPS and that the typed
//! serialisers do not write, and the form they are held to byte for byte.

use super::{put_int, put_str, rekey_at_tags, MentionLook};
use crate::ids;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::content::{
    CardData, LocationData, MediaData, MergeForwardData, Node, OpaqueData, RichTextData, TextData,
};
use switchboard_core::ids::MessageId;
use switchboard_core::model::{Content, MessageType};

/// [`outgoing`](fn@super::outgoing) for content that did not come in through WPS.
pub(super) fn from_canonical(
    kind: MessageType,
    c: &Content,
    ctime: i64,
    wps_id: &dyn Fn(&str) -> Option<String>,
    mentions: &[MentionLook],
) -> (&'static str, Value) {
    let d = &c.data;
    let fallback_text = |text: &str| {
        (
            "text",
            json!({ "text": { "content": text, "type": "plain" } }),
        )
    };
    match kind {
        MessageType::Text => match TextData::deserialize(d) {
            Ok(t) => {
                let ty = if t.markdown { "markdown" } else { "plain" };
                (
                    "text",
                    json!({ "text": { "content": rekey_at_tags(&t.text, wps_id), "type": ty } }),
                )
            }
            Err(_) => fallback_text(&c.text),
        },
        MessageType::RichText => match RichTextData::deserialize(d) {
            Ok(r) => (
                "rich_text",
                json!({ "rich_text": { "elements": rich_text_out(&r, mentions) } }),
            ),
            Err(_) => fallback_text(&c.text),
        },
        MessageType::Image | MessageType::Sticker => {
            let m = MediaData::deserialize(d).unwrap_or_default();
            let mut img = Map::new();
            img.insert("storage_key".into(), json!(m.key));
            put_str(&mut img, "type", m.format.clone());
            put_str(&mut img, "name", m.name.clone());
            put_int(&mut img, "size", m.size);
            put_int(&mut img, "width", m.width);
            put_int(&mut img, "height", m.height);
            if kind == MessageType::Image {
                put_str(&mut img, "thumbnail_storage_key", m.cover_key.clone());
                if let Some(t) = m.extra.get("thumbnail_type") {
                    img.insert("thumbnail_type".into(), t.clone());
                }
                ("image", json!({ "image": img }))
            } else {
                ("sticker", json!({ "sticker": { "image": img } }))
            }
        }
        MessageType::File => {
            let m = MediaData::deserialize(d).unwrap_or_default();
            if m.key.is_empty() && !m.url.is_empty() {
                (
                    "file",
                    json!({ "file": { "type": "cloud", "cloud": { "id": "", "link_url": m.url, "link_id": "" } } }),
                )
            } else {
                let mut local = Map::new();
                local.insert("storage_key".into(), json!(m.key));
                local.insert("name".into(), json!(m.name));
                put_int(&mut local, "size", m.size);
                (
                    "file",
                    json!({ "file": { "type": "local", "local": local } }),
                )
            }
        }
        MessageType::Audio | MessageType::Video => {
            let m = MediaData::deserialize(d).unwrap_or_default();
            let mut media = Map::new();
            put_str(&mut media, "format", m.format.clone());
            put_int(&mut media, "size", m.size);
            put_int(
                &mut media,
                "duration",
                m.duration_ms.map(|ms| (ms + 999) / 1000),
            );
            for k in ["codec", "channels", "sample_bits", "sample_rate"] {
                if let Some(v) = m.extra.get(k) {
                    media.insert(k.into(), v.clone());
                }
            }
            if kind == MessageType::Video {
                put_int(&mut media, "width", m.width);
                put_int(&mut media, "height", m.height);
                put_str(&mut media, "cover_storage_key", m.cover_key.clone());
            }
            let name = kind.as_str();
            (
                if kind == MessageType::Audio {
                    "audio"
                } else {
                    "video"
                },
                json!({ name: { "storage_key": m.key, "media": media } }),
            )
        }
        // Cards are vendor-specific: the card JSON is shown as its sender gave it.
        MessageType::Card => match CardData::deserialize(d) {
            Ok(card) => ("card", json!({ "card": card.card })),
            Err(_) => fallback_text(&c.text),
        },
        MessageType::Location => match LocationData::deserialize(d) {
            Ok(l) => (
                "location",
                json!({ "location": { "address": l.address, "latitude": l.latitude, "longitude": l.longitude, "storage_key": "", "title": l.title } }),
            ),
            Err(_) => fallback_text(&c.text),
        },
        MessageType::MergeForward => {
            let mf = MergeForwardData::deserialize(d).unwrap_or_default();
            let ids: Vec<String> = mf
                .source_ids
                .iter()
                .filter_map(|raw| MessageId::from_raw(*raw))
                .map(ids::message_id)
                .collect();
            (
                "merge_forward",
                json!({ "merge_forward": { "title": mf.title, "start_time": ctime, "end_time": ctime, "msg_id_list": ids, "msg_previews": [] } }),
            )
        }
        MessageType::Vote | MessageType::Calendar | MessageType::Meeting => {
            let o = OpaqueData::deserialize(d).unwrap_or_default();
            let body = if o.json.is_object() {
                o.json
            } else {
                json!({})
            };
            (kind.as_str(), json!({ kind.as_str(): body }))
        }
        // No WPS type exists for these: their plain rendition is shown as text.
        MessageType::ShareChat
        | MessageType::ShareUser
        | MessageType::Notification
        | MessageType::Tip
        | MessageType::Robot
        | MessageType::Custom
        | MessageType::System => fallback_text(&c.text),
    }
}

fn rich_text_out(r: &RichTextData, mentions: &[MentionLook]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut index = 0;
    if !r.title.is_empty() {
        let el = json!({ "type": "text", "alt_text": r.title, "style_text_content": { "text": r.title, "style": { "bold": true } } });
        out.push(json!({ "type": "nl", "alt_text": r.title, "index": index, "indent": 0, "elements": [el] }));
        index += 1;
    }
    for p in &r.paragraphs {
        let single = RichTextData {
            title: String::new(),
            paragraphs: vec![p.clone()],
        };
        let els: Vec<Value> = p.iter().map(|n| node_out(n, mentions)).collect();
        out.push(json!({ "type": "nl", "alt_text": single.plain(), "index": index, "indent": 0, "elements": els }));
        index += 1;
    }
    out
}

fn node_out(n: &Node, mentions: &[MentionLook]) -> Value {
    match n {
        Node::Text { text, style } if !style.is_empty() => {
            let has = |s: &str| style.iter().any(|x| x == s);
            json!({ "type": "text", "alt_text": text, "style_text_content": { "text": text, "style": { "bold": has("bold"), "italic": has("italic") } } })
        }
        Node::Text { text, .. } | Node::CodeBlock { text, .. } => {
            json!({ "type": "text", "alt_text": text, "text_content": { "content": text, "type": "plain" } })
        }
        Node::A { text, href } => {
            json!({ "type": "link", "alt_text": text, "link_content": { "text": text, "url": href } })
        }
        Node::At { key, name } => {
            let identity = mentions
                .iter()
                .find(|m| &m.key == key)
                .map(|m| m.identity.clone())
                .unwrap_or_else(|| json!({}));
            json!({ "type": "mention", "alt_text": format!("@{name}"), "mention_content": { "identity": identity, "text": format!("@{name}") } })
        }
        Node::Img { key } => {
            json!({ "type": "image", "alt_text": "[image]", "image_content": { "storage_key": key } })
        }
        Node::Emoji { text } => {
            json!({ "type": "emoji", "alt_text": text, "text_content": { "content": text, "type": "plain" } })
        }
        Node::Hr => {
            json!({ "type": "text", "alt_text": "---", "text_content": { "content": "---", "type": "plain" } })
        }
    }
}
