//! Domain -> WPS wire JSON: messages (the documented example's `data` object), chats and members.

use crate::content::{self, ContentOut, MentionLook};
use crate::ids;
use serde::Serialize;
use serde_json::{json, Value};
use switchboard_core::model::{Actor, Chat, ChatKind, Member, MentionTarget};
use switchboard_core::service::{MessageView, Party};

/// The WPS index shown for each mention: the sender's own index when the message came in
/// through WPS, otherwise 1, 2, 3 … in mention order (rewriting `<at id>` tags to match).
fn wps_ids(v: &MessageView) -> Vec<String> {
    let from_wps = v
        .message
        .content
        .original
        .as_ref()
        .is_some_and(|o| o.format == content::FORMAT);
    v.message
        .mentions
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if from_wps {
                m.key.clone()
            } else {
                (i + 1).to_string()
            }
        })
        .collect()
}

fn identity(v: &MessageView, i: usize) -> Value {
    let company = ids::company_id(v.message.tenant);
    match (
        &v.message.mentions[i].target,
        v.mention_parties.get(i).and_then(Option::as_ref),
    ) {
        (MentionTarget::All, _) => json!({}),
        (_, Some(Party::User(u))) => {
            json!({ "company_id": company, "id": u.user_id, "type": "user" })
        }
        (_, Some(Party::App(a))) => {
            json!({ "company_id": company, "id": ids::spid(a.id), "type": "sp" })
        }
        (MentionTarget::App(a), None) => {
            json!({ "company_id": company, "id": ids::spid(*a), "type": "sp" })
        }
        // A since-removed user: the mention stays, its id is no longer known.
        (MentionTarget::User(_), None) => {
            json!({ "company_id": company, "id": "", "type": "user" })
        }
    }
}

/// `sender` of a message. Fields in alphabetical order: the output is byte for byte what
/// the same object built as a `serde_json::Value` (whose maps are sorted) serialises to.
#[derive(Debug, Serialize)]
pub struct SenderOut<'a> {
    pub app_id: &'a str,
    pub company_id: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

fn sender_out(v: &MessageView) -> SenderOut<'_> {
    let company_id = ids::company_id(v.message.tenant);
    let (kind, id, app_id) = match (&v.sender, v.message.sender) {
        (Some(Party::User(u)), _) => ("user", u.user_id.clone(), ""),
        (Some(Party::App(a)), _) => ("sp", ids::spid(a.id), a.app_id.as_str()),
        (None, Actor::App(a)) => ("sp", ids::spid(a), ""),
        (None, Actor::User(_)) => ("user", String::new(), ""),
    };
    SenderOut {
        app_id,
        company_id,
        id,
        kind,
    }
}

fn sender(v: &MessageView) -> Value {
    serde_json::to_value(sender_out(v)).expect("plain data serialises")
}

/// One mention as the get-message response lists it (alphabetical, as above).
#[derive(Debug, Serialize)]
pub struct MentionOut {
    pub id: String,
    pub identity: Value,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The `data` of `GET /v7/chats/{chat_id}/messages/{message_id}`, rendered straight to
/// JSON (no intermediate `Value` tree for the message itself). Alphabetical, as above.
#[derive(Debug, Serialize)]
pub struct MessageOut<'a> {
    pub chat_id: String,
    pub content: ContentOut<'a>,
    pub ctime: i64,
    pub id: String,
    pub mentions: Vec<MentionOut>,
    pub position: i64,
    pub quote_msg_id: String,
    pub sender: SenderOut<'a>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One message as `GET /v7/chats/{chat_id}/messages/{message_id}` returns it in `data`.
pub fn message_out(v: &MessageView) -> MessageOut<'_> {
    let m = &v.message;
    let (kind, content, mentions) = if m.mentions.is_empty() {
        let (kind, content) = content::outgoing(m.kind, &m.content, m.created_at, &|_| None, &[]);
        (kind, content, Vec::new())
    } else {
        let wps = wps_ids(v);
        let looks: Vec<MentionLook> = (0..m.mentions.len())
            .map(|i| MentionLook {
                wps_id: wps[i].clone(),
                key: m.mentions[i].key.clone(),
                identity: identity(v, i),
            })
            .collect();
        let rekey = |key: &str| {
            looks
                .iter()
                .find(|l| l.key == key)
                .map(|l| l.wps_id.clone())
        };
        let (kind, content) = content::outgoing(m.kind, &m.content, m.created_at, &rekey, &looks);
        let mentions = looks
            .into_iter()
            .zip(&m.mentions)
            .map(|(l, mn)| MentionOut {
                id: l.wps_id,
                identity: l.identity,
                kind: if mn.target == MentionTarget::All {
                    "all"
                } else {
                    "user"
                },
            })
            .collect();
        (kind, content, mentions)
    };
    MessageOut {
        chat_id: ids::chat_id(m.chat),
        content,
        ctime: m.created_at,
        id: ids::message_id(m.id),
        mentions,
        position: m.position().unwrap_or(0),
        quote_msg_id: m.parent.map(ids::message_id).unwrap_or_default(),
        sender: sender_out(v),
        kind,
    }
}

/// [`message_out`] as a `Value`, for responses that embed it in other JSON.
pub fn message(v: &MessageView) -> Value {
    serde_json::to_value(message_out(v)).expect("plain data serialises")
}

/// A recalled message in a history page: it keeps its place (positions stay consecutive)
/// and its metadata, but not its content or mentions.
pub fn tombstone(v: &MessageView) -> Value {
    let m = &v.message;
    json!({
        "id": ids::message_id(m.id),
        "chat_id": ids::chat_id(m.chat),
        "type": m.kind.as_str(),
        "ctime": m.created_at,
        "position": m.position().unwrap_or(0),
        "quote_msg_id": m.parent.map(ids::message_id).unwrap_or_default(),
        "content": {},
        "sender": sender(v),
        "mentions": [],
        "recalled": true,
    })
}

/// A chat as `get_p2p_chat` documents it: `{ctime, id, name, status, type}`.
pub fn chat(c: &Chat) -> Value {
    json!({
        "id": ids::chat_id(c.id),
        "name": c.name,
        "type": if c.kind == ChatKind::P2p { "p2p" } else { "group" },
        "status": if c.dissolved_at.is_some() { "dismissed" } else { "active" },
        "ctime": c.created_at,
    })
}

/// A member as `{type: user|sp, id}` (the user's user_id or the app's spid), with its role.
pub fn member(actor_id: &str, m: &Member) -> Value {
    let kind = match m.actor {
        Actor::User(_) => "user",
        Actor::App(_) => "sp",
    };
    json!({ "type": kind, "id": actor_id, "role": m.role.as_str() })
}
