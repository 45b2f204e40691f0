//! Outgoing: a message's content as Yunxin shows it.

use super::{type_number, FORMAT};
use crate::extract::Long;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use switchboard_core::content::{MediaData, TextView};
use switchboard_core::files::FileKey;
use switchboard_core::ids::MessageId;
use switchboard_core::json::Json;
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
    pub attachment: Option<Json>,
    pub extension: Option<String>,
}

/// A Yunxin original as stored: the message object as received, and its extension.
#[derive(Deserialize, Default)]
struct OriginalView<'a> {
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    extension: Option<&'a RawValue>,
}

/// The fields of a received message that its echo shows.
#[derive(Deserialize, Default)]
struct SentView<'a> {
    #[serde(borrow, default)]
    sub_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    attachment: Option<&'a RawValue>,
}

/// Renders a message: our own original echoed (the latest edit's, when edited through
/// Yunxin), else canonical data converted.
pub fn outgoing(v: &MessageView) -> Rendered {
    let m = &v.message;
    let message_type = type_number(m.kind);
    if let Some(o) = m.content.original.as_ref().filter(|o| o.format == FORMAT) {
        // Read field by field from the stored text: each part is copied as it is.
        let original: OriginalView = o.value.parse().unwrap_or_default();
        let msg: SentView = original
            .message
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default();
        let extension = match original.extension {
            None => m.extra.extension.clone(),
            Some(r) => Some(serde_json::from_str(r.get()).unwrap_or_else(|_| r.get().to_string())),
        };
        return Rendered {
            message_type,
            sub_type: msg
                .sub_type
                .and_then(|r| serde_json::from_str::<Long>(r.get()).ok())
                .map(|l| l.0)
                .or(m.extra.sub_type),
            text: msg
                .text
                .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
                .filter(|t| !t.is_empty()),
            attachment: msg
                .attachment
                .filter(|a| a.get().starts_with('{'))
                .map(|a| Json::from_trusted(a.get().to_string())),
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
        let d = data.parse::<MediaData>().unwrap_or_default();
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
    // The rarer types read their payload as a tree.
    let tree = || data.to_value();
    let opaque = || -> Value {
        match tree().get("json") {
            Some(Value::Object(o)) => Value::Object(o.clone()),
            Some(Value::Null) | None => json!({}),
            Some(other) => json!({ "value": other }),
        }
    };
    let (text, attachment): (_, Option<Value>) = match m.kind {
        MessageType::Text | MessageType::Tip => {
            let raw = match data.parse::<TextView>() {
                Ok(t) => t.text,
                Err(_) => Cow::Borrowed(m.content.text.as_str()),
            };
            (Some(unmark_mentions(&raw, mention_name)), None)
        }
        MessageType::RichText => (Some(unmark_mentions(&m.content.text, mention_name)), None),
        MessageType::Image | MessageType::Sticker => (None, Some(media_att(true, true, false))),
        MessageType::Audio => (None, Some(media_att(false, false, true))),
        MessageType::Video => (None, Some(media_att(false, true, true))),
        MessageType::File => (None, Some(media_att(true, false, false))),
        MessageType::Location => {
            let data = tree();
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
            Some(json!({ "type": m.kind.as_str(), "data": tree() })),
        ),
    };
    Rendered {
        message_type,
        sub_type: m.extra.sub_type,
        text,
        attachment: attachment.as_ref().map(Json::from_value),
        extension: m.extra.extension.clone(),
    }
}
