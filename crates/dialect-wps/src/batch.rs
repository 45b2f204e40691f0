//! `POST /v7/messages/batch_create`: one message to several receivers.
//! <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/create-msg>
//!
//! Each receiver gets its own copy: a user in the caller's p2p chat with them (created on
//! first use), a chat in that chat. The content and mentions are checked once, before
//! anything is sent; a receiver that cannot be reached (unknown user, a chat the caller is
//! not in, a dissolved chat, a receiver type Switchboard has no directory for) does not stop
//! the others and is answered in `invalid_receivers`, grouped as the request grouped it.

use crate::auth::Caller;
use crate::content::{self, WireMention};
use crate::error::{code, WResult, WpsError};
use crate::extract::WpsJson;
use crate::{ok, WpsState};
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::error::Error;
use switchboard_core::model::{Actor, MessageType};
use switchboard_core::service::{Recipient, Send};

/// Receiver ids one request may name, over all its `receivers` entries (the vendor allows
/// 200 users per entry).
const MAX_RECEIVERS: usize = 200;

#[derive(Deserialize)]
pub(crate) struct BatchBody {
    /// `"text"`, or `{"msg_type": "text"}` as the `wps365` client writes it.
    #[serde(rename = "type")]
    kind: Value,
    receivers: Vec<Receivers>,
    #[serde(default)]
    mentions: Vec<WireMention>,
    content: Value,
}

#[derive(Deserialize)]
pub(crate) struct Receivers {
    /// Absent: users (the `wps365` client names none).
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    receiver_ids: Vec<String>,
    /// One receiver, as some clients write it beside or instead of `receiver_ids`.
    #[serde(default)]
    receiver_id: Option<String>,
    #[serde(default)]
    partner_id: Option<String>,
}

/// The receiver types the vendor documents; the first two are served.
const DIRECTORY_TYPES: &[&str] = &[
    "company",
    "dept",
    "enterprise_partner",
    "enterprise_partner_dept",
    "enterprise_partner_user",
];

fn message_type(v: &Value) -> WResult<MessageType> {
    let name = match v {
        Value::String(s) => s.as_str(),
        Value::Object(m) => m.get("msg_type").and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    if name.is_empty() {
        return Err(WpsError::invalid(
            "type is required: text, rich_text, image …",
        ));
    }
    content::sendable_type(name)
}

/// `{"text": "hi"}` (a bare string, as the `wps365` client sends text) becomes the
/// documented `{"text": {"content": "hi", "type": "plain"}}`; a redundant sibling
/// `"type": "text"` is dropped. Anything else is left for the content parser to judge.
fn normalise(kind: MessageType, content: Value) -> Value {
    let Value::Object(mut m) = content else {
        return content;
    };
    let name = kind.as_str();
    if m.len() == 2 && m.get("type").and_then(Value::as_str) == Some(name) {
        m.remove("type");
    }
    if kind == MessageType::Text {
        if let Some(Value::String(s)) = m.get(name) {
            let text = json!({ "content": s, "type": "plain" });
            m.insert(name.to_string(), text);
        }
    }
    Value::Object(m)
}

/// Send one message to several users and chats.
pub(crate) async fn batch_create(
    State(s): State<WpsState>,
    c: Caller,
    WpsJson(b): WpsJson<BatchBody>,
) -> WResult<Json<Value>> {
    let kind = message_type(&b.kind)?;
    let content = normalise(kind, b.content);
    if b.receivers.is_empty() {
        return Err(WpsError::invalid("receivers must not be empty"));
    }
    let mut total = 0;
    for (i, r) in b.receivers.iter().enumerate() {
        let kind = r.kind.as_deref().unwrap_or("user");
        if !matches!(kind, "user" | "chat") && !DIRECTORY_TYPES.contains(&kind) {
            return Err(WpsError::invalid(format!(
                "receivers[{i}].type must be user, chat, company, dept or an enterprise partner type, not {kind:?}"
            )));
        }
        let n = r.receiver_ids.len() + usize::from(r.receiver_id.is_some());
        if n == 0 {
            return Err(WpsError::invalid(format!(
                "receivers[{i}].receiver_ids must not be empty"
            )));
        }
        total += n;
    }
    if total > MAX_RECEIVERS {
        return Err(WpsError::invalid(format!(
            "at most {MAX_RECEIVERS} receivers in one request"
        )));
    }
    // Once for all receivers: a bad content or mention refuses the request before any send.
    let draft = s.draft(c.tenant, kind, &content, &b.mentions).await?;
    let mut first: Option<String> = None;
    let mut invalid = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in &b.receivers {
        let rtype = r.kind.as_deref().unwrap_or("user");
        let mut refused = Vec::new();
        for id in r.receiver_ids.iter().chain(&r.receiver_id) {
            if seen.contains(&(rtype, id.as_str())) {
                continue;
            }
            seen.push((rtype, id.as_str()));
            let to = match rtype {
                "user" => match s.user(c.tenant, id).await {
                    Ok(u) => Some(Recipient::Direct(Actor::User(u.id))),
                    Err(e) if e.code == code::USER_NOT_FOUND => None,
                    Err(e) => return Err(e),
                },
                "chat" => s.chat_id(id).ok().map(Recipient::Chat),
                _ => None,
            };
            let Some(to) = to else {
                refused.push(id.clone());
                continue;
            };
            let mut cmd = Send::new(c.tenant, to, c.actor, kind, draft.content.clone());
            cmd.mentions = draft.mentions.clone();
            match s.core.send(cmd).await {
                Ok(v) => {
                    if first.is_none() {
                        first = Some(crate::ids::message_id(v.message.id));
                    }
                }
                Err(e) if unreachable(&e) => refused.push(id.clone()),
                Err(e) => return Err(e.into()),
            }
        }
        if !refused.is_empty() {
            let mut item = Map::new();
            if let Some(p) = &r.partner_id {
                item.insert("partner_id".into(), json!(p));
            }
            item.insert("receiver_ids".into(), json!(refused));
            item.insert("type".into(), json!(rtype));
            invalid.push(Value::Object(item));
        }
    }
    Ok(ok(json!({
        "message_id": first.unwrap_or_default(),
        "invalid_receivers": invalid,
    })))
}

/// A refusal that concerns one receiver (reported in `invalid_receivers`) rather than the
/// request (the content's size, the store being down: answered as an error).
fn unreachable(e: &Error) -> bool {
    match e {
        Error::NotFound(_) | Error::Forbidden(_) | Error::Conflict(_) => true,
        Error::Invalid { field, .. } => *field != "content",
        Error::Unavailable(_) | Error::Internal(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_shapes_are_normalised() {
        assert_eq!(
            message_type(&json!({ "msg_type": "text" })).unwrap(),
            MessageType::Text
        );
        assert_eq!(message_type(&json!("image")).unwrap(), MessageType::Image);
        assert!(message_type(&json!({})).is_err());
        assert!(message_type(&json!(3)).is_err());
        assert_eq!(
            normalise(MessageType::Text, json!({ "text": "hi" })),
            json!({ "text": { "content": "hi", "type": "plain" } })
        );
        assert_eq!(
            normalise(MessageType::Text, json!({ "type": "text", "text": "hi" })),
            json!({ "text": { "content": "hi", "type": "plain" } })
        );
        let doc = json!({ "text": { "content": "hi", "type": "markdown" } });
        assert_eq!(normalise(MessageType::Text, doc.clone()), doc);
    }
}
