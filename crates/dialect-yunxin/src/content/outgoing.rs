//! Outgoing: a message's content as Yunxin shows it.

use super::{type_number, FORMAT};
use crate::extract::Long;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::content::MediaData;
use switchboard_core::files::FileKey;
use switchboard_core::ids::MessageId;
use switchboard_core::model::{MentionTarget, MessageType};
use switchboard_core::service::{MessageView, Party};

/// Replaces each canonical `<at id="KEY">name</at>` with `@name`; `fallback(KEY)` names a
/// mention whose marker is empty.
pub fn unmark_mentions(text: &str, fallback: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at id=\"") {
        let after_open = &rest[start + 8..];
        let parsed = after_open.find("\">").and_then(|q| {
            let key = &after_open[..q];
            let body = &after_open[q + 2..];
            body.find("</at>")
                .map(|e| (key, &body[..e], &body[e + 5..]))
        });
        match parsed {
            Some((key, name, tail)) if !key.contains('<') && !name.contains("<at ") => {
                out.push_str(&rest[..start]);
                out.push('@');
                if name.is_empty() {
                    out.push_str(&fallback(key));
                } else {
                    out.push_str(name);
                }
                rest = tail;
            }
            _ => {
                out.push_str(&rest[..start + 8]);
                rest = after_open;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where a stored file a message references is downloaded from (Yunxin attachments carry
/// a `url`): `FILE_URL_PREFIX` + the message's `message_server_id` + `/` + the key, a path
/// on this server, answered with the bytes to a request signed as every Yunxin call is
/// (docs/files.md).
pub const FILE_URL_PREFIX: &str = "/files/v1/messages/";

/// The download path of stored file `key` through message `m`.
pub fn file_url(m: MessageId, key: &FileKey) -> String {
    format!(
        "{FILE_URL_PREFIX}{}/{key}",
        crate::ids::message_server_id(m)
    )
}

/// A message's content as Yunxin shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub message_type: i64,
    pub sub_type: Option<i64>,
    pub text: Option<String>,
    pub attachment: Option<Value>,
    pub extension: Option<String>,
}

fn long_of(v: &Value) -> Option<i64> {
    serde_json::from_value::<Long>(v.clone()).ok().map(|l| l.0)
}

/// Renders a message: our own original echoed (the latest edit's, when edited through
/// Yunxin), else canonical data converted.
pub fn outgoing(v: &MessageView) -> Rendered {
    let m = &v.message;
    let message_type = type_number(m.kind);
    if let Some(o) = m.content.original.as_ref().filter(|o| o.format == FORMAT) {
        let msg = &o.value["message"];
        let extension = match o.value.get("extension") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => m.extra.extension.clone(),
            Some(other) => Some(other.to_string()),
        };
        return Rendered {
            message_type,
            sub_type: msg.get("sub_type").and_then(long_of).or(m.extra.sub_type),
            text: msg
                .get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            attachment: msg.get("attachment").filter(|a| a.is_object()).cloned(),
            extension,
        };
    }
    let mention_name = |key: &str| -> String {
        let Some(i) = m.mentions.iter().position(|mn| mn.key == key) else {
            return key.to_string();
        };
        match (
            &m.mentions[i].target,
            v.mention_parties.get(i).and_then(Option::as_ref),
        ) {
            (MentionTarget::All, _) => "all".to_string(),
            (_, Some(Party::User(u))) => u.name.clone(),
            (_, Some(Party::App(a))) => a.name.clone(),
            (_, None) => key.to_string(),
        }
    };
    let data = &m.content.data;
    let media_att = |with_name: bool, with_dims: bool, with_dur: bool| -> Value {
        let d = MediaData::deserialize(data).unwrap_or_default();
        let mut a = Map::new();
        let mut put = |k: &str, v: Value| {
            a.insert(k.to_string(), v);
        };
        if !d.url.is_empty() {
            put("url", json!(d.url));
        } else if let Some(k) = FileKey::parse(&d.key) {
            // A file stored here: the URL serves it (the same key as every dialect's).
            put("url", json!(file_url(m.id, &k)));
        }
        if !d.key.is_empty() {
            put("key", json!(d.key));
        }
        if with_name && !d.name.is_empty() {
            put("name", json!(d.name));
        }
        if !d.md5.is_empty() {
            put("md5", json!(d.md5));
        }
        let ext = if d.ext.is_empty() {
            d.format.rsplit('/').next().unwrap_or("").to_string()
        } else {
            d.ext.clone()
        };
        if !ext.is_empty() {
            put("ext", json!(ext));
        }
        if let Some(s) = d.size {
            put("size", json!(s));
        }
        if with_dims {
            if let Some(w) = d.width {
                put("w", json!(w));
            }
            if let Some(h) = d.height {
                put("h", json!(h));
            }
        }
        if with_dur {
            if let Some(ms) = d.duration_ms {
                put("dur", json!(ms));
            }
        }
        for (k, v) in d.extra {
            a.entry(k).or_insert(v);
        }
        Value::Object(a)
    };
    let opaque = || -> Value {
        match data.get("json") {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            Some(Value::Null) | None => json!({}),
            Some(other) => json!({ "value": other }),
        }
    };
    let (text, attachment) = match m.kind {
        MessageType::Text | MessageType::Tip => {
            let raw = data
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or(&m.content.text);
            (Some(unmark_mentions(raw, mention_name)), None)
        }
        MessageType::RichText => (Some(unmark_mentions(&m.content.text, mention_name)), None),
        MessageType::Image | MessageType::Sticker => (None, Some(media_att(true, true, false))),
        MessageType::Audio => (None, Some(media_att(false, false, true))),
        MessageType::Video => (None, Some(media_att(false, true, true))),
        MessageType::File => (None, Some(media_att(true, false, false))),
        MessageType::Location => {
            let title = data
                .get("title")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            let title = title
                .or_else(|| data.get("address").and_then(Value::as_str))
                .unwrap_or("");
            (
                None,
                Some(
                    json!({ "title": title, "lat": data.get("latitude"), "lng": data.get("longitude") }),
                ),
            )
        }
        MessageType::Notification | MessageType::Robot | MessageType::Custom => {
            (None, Some(opaque()))
        }
        MessageType::Card
        | MessageType::MergeForward
        | MessageType::ShareChat
        | MessageType::ShareUser
        | MessageType::Vote
        | MessageType::Calendar
        | MessageType::Meeting
        | MessageType::System => (
            Some(m.content.text.clone()).filter(|t| !t.is_empty()),
            Some(json!({ "type": m.kind.as_str(), "data": data })),
        ),
    };
    Rendered {
        message_type,
        sub_type: m.extra.sub_type,
        text,
        attachment,
        extension: m.extra.extension.clone(),
    }
}
