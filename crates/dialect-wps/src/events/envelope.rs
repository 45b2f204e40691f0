//! The decrypted event bodies (spec `events.md` §2.5), and the frame that carries one from
//! `render` to `webhook`.
//!
//! Pure: every read (the receiving app, the chat, the parties the change names) is done
//! beforehand by [`super::WpsEvents`] and handed in as a [`Seen`], so this file is tested
//! without a store.
//!
//! Ids are the get-message API's ([`crate::ids`], [`crate::render`]): `company_id` and
//! `chat_id` decimal strings, message ids 16 base62 characters, users by their tenant-wide
//! `user_id` (`type: user`), apps by their `spid` (`type: sp`). They are the same for every
//! app of the tenant, as the API's are.
//!
//! JSON is compact (`serde_json::to_vec`), keys in alphabetical order as in the vendor's
//! example.

use super::{
    OP_CREATE, OP_DELETE, TOPIC_GROUP, TOPIC_MESSAGE, TOPIC_RECALL, TOPIC_ROBOT, TOPIC_USER,
};
use crate::ids;
use crate::render::{self, MessageOut, SenderOut};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_core::events::{ChangeBody, Delivery};
use switchboard_core::model::{Actor, App, Chat, ChatKind, Message};
use switchboard_core::service::{MessageView, Party};

/// What a delivery's rendering needs besides the delivery: looked up for the receiving app.
pub struct Seen<'a> {
    /// The receiving app (its public `app_id` is the APPID of the signature).
    pub app: &'a App,
    /// The change's chat, when it still exists.
    pub chat: Option<&'a Chat>,
    /// Every party the change names (sender, mentions, remover, operator, members);
    /// `None` (or absent) for one that no longer exists.
    pub parties: &'a HashMap<Actor, Option<Party>>,
}

/// One rendered event: the envelope's `topic` and `operation`, and the body to encrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub topic: &'static str,
    pub operation: &'static str,
    /// The receiving app's public `app_id` (APPID).
    pub app_id: String,
    /// The decrypted body, compact JSON.
    pub data: Vec<u8>,
}

/// The first line of the bytes `render` hands `webhook`.
#[derive(Serialize, Deserialize)]
struct FrameHead {
    topic: String,
    operation: String,
    app_id: String,
}

impl Rendered {
    /// The bytes `render` returns: one line of compact JSON
    /// `{"topic":…,"operation":…,"app_id":…}`, a `\n`, then the body as it is (compact JSON
    /// escapes every newline, so the first `\n` ends the line). No secret is in them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let head = serde_json::to_vec(&FrameHead {
            topic: self.topic.to_string(),
            operation: self.operation.to_string(),
            app_id: self.app_id.clone(),
        })
        .expect("strings always serialise");
        let mut out = Vec::with_capacity(head.len() + 1 + self.data.len());
        out.extend_from_slice(&head);
        out.push(b'\n');
        out.extend_from_slice(&self.data);
        out
    }
}

/// [`Rendered::to_bytes`] read back: `(topic, operation, app_id, body)`.
pub fn unframe(bytes: &[u8]) -> Result<(String, String, String, &[u8]), String> {
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("a rendered WPS event without its head line")?;
    let head: FrameHead = serde_json::from_slice(&bytes[..nl])
        .map_err(|e| format!("a rendered WPS event with a bad head line: {e}"))?;
    Ok((head.topic, head.operation, head.app_id, &bytes[nl + 1..]))
}

/// An identity as the events name one: `{id, type}`, a user by `user_id` (`type: user`),
/// an app by `spid` (`type: sp`), a party that no longer exists by `""`, nobody (an
/// operator's action) as `{"id":"","type":"unknown"}`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct IdentityOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
struct ChatRef {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `kso.app_chat.message` / `create`.
#[derive(Serialize)]
struct MessageEvent<'a> {
    chat: ChatRef,
    company_id: String,
    event_id: &'a str,
    message: &'a MessageOut<'a>,
    send_time: i64,
    /// The message's `sender`, as in `message`.
    sender: &'a SenderOut<'a>,
}

/// `kso.app_chat.message.recall` (flat).
#[derive(Serialize)]
struct RecallEvent<'a> {
    chat_id: String,
    company_id: String,
    event_id: &'a str,
    id: String,
    operator: IdentityOut,
    recall_time: i64,
}

/// The group topics: robot and user membership, group dissolved.
#[derive(Serialize)]
struct ChatEvent<'a> {
    chat_id: String,
    company_id: String,
    event_id: &'a str,
    operator: IdentityOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<Vec<IdentityOut>>,
}

/// `chat.type`: `p2p` or `group` (a super group is a group).
pub fn chat_type(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::P2p => "p2p",
        ChatKind::Group | ChatKind::SuperGroup => "group",
    }
}

impl Seen<'_> {
    fn party(&self, actor: Actor) -> Option<&Party> {
        self.parties.get(&actor).and_then(Option::as_ref)
    }

    /// `actor` as the receiving app sees it (the same for every app of the tenant).
    pub fn identity(&self, actor: Option<Actor>) -> IdentityOut {
        match actor {
            None => IdentityOut {
                id: String::new(),
                kind: "unknown",
            },
            Some(Actor::User(u)) => IdentityOut {
                id: match self.party(Actor::User(u)) {
                    Some(Party::User(user)) => user.user_id.clone(),
                    _ => String::new(),
                },
                kind: "user",
            },
            Some(Actor::App(a)) => IdentityOut {
                id: ids::spid(a),
                kind: "sp",
            },
        }
    }

    /// The view the get-message API would render `m` from.
    fn view(&self, m: &Message) -> MessageView {
        let chat = self
            .chat
            .cloned()
            .unwrap_or_else(|| Chat::gone(m.tenant, m.chat));
        MessageView::assemble(m.clone(), chat, |a| self.party(a).cloned())
    }
}

/// The event of `d` for the receiving app: topic and operation from the delivery's event
/// type (a topic) and its change (a membership added is `create`, removed is `delete`).
pub fn build(seen: &Seen, d: &Delivery) -> Result<Rendered, String> {
    let company_id = ids::company_id(d.tenant);
    let done = |topic, operation, data: Result<Vec<u8>, serde_json::Error>| {
        Ok(Rendered {
            topic,
            operation,
            app_id: seen.app.app_id.clone(),
            data: data.map_err(|e| format!("unserialisable event: {e}"))?,
        })
    };
    let chat_event = |by: &Option<Actor>, users: Option<Vec<IdentityOut>>| ChatEvent {
        chat_id: ids::chat_id(d.chat),
        company_id: company_id.clone(),
        event_id: &d.event_id,
        operator: seen.identity(*by),
        users,
    };
    let users_of = |members: &[Actor]| {
        members
            .iter()
            .filter(|a| matches!(a, Actor::User(_)))
            .map(|a| seen.identity(Some(*a)))
            .collect::<Vec<_>>()
    };
    match (d.event_type.as_str(), &d.body) {
        (TOPIC_MESSAGE, ChangeBody::MessageCreated { message: m }) => {
            let v = seen.view(m);
            let out = render::message_out(&v);
            let ev = MessageEvent {
                chat: ChatRef {
                    id: ids::chat_id(m.chat),
                    kind: chat_type(v.chat.kind),
                },
                company_id: company_id.clone(),
                event_id: &d.event_id,
                send_time: m.created_at,
                sender: &out.sender,
                message: &out,
            };
            done(TOPIC_MESSAGE, OP_CREATE, serde_json::to_vec(&ev))
        }
        (TOPIC_RECALL, ChangeBody::MessageRemoved { message: m }) => {
            let removal = m
                .removal
                .as_ref()
                .ok_or_else(|| "a removed message without its removal".to_string())?;
            let ev = RecallEvent {
                chat_id: ids::chat_id(m.chat),
                company_id: company_id.clone(),
                event_id: &d.event_id,
                id: ids::message_id(m.id),
                operator: seen.identity(Some(removal.by)),
                recall_time: removal.at,
            };
            done(TOPIC_RECALL, OP_CREATE, serde_json::to_vec(&ev))
        }
        (TOPIC_ROBOT, ChangeBody::MembersAdded { by, .. }) => done(
            TOPIC_ROBOT,
            OP_CREATE,
            serde_json::to_vec(&chat_event(by, None)),
        ),
        (TOPIC_ROBOT, ChangeBody::MembersRemoved { by, .. }) => done(
            TOPIC_ROBOT,
            OP_DELETE,
            serde_json::to_vec(&chat_event(by, None)),
        ),
        (TOPIC_USER, ChangeBody::MembersAdded { by, members }) => done(
            TOPIC_USER,
            OP_CREATE,
            serde_json::to_vec(&chat_event(by, Some(users_of(members)))),
        ),
        (TOPIC_USER, ChangeBody::MembersRemoved { by, members }) => done(
            TOPIC_USER,
            OP_DELETE,
            serde_json::to_vec(&chat_event(by, Some(users_of(members)))),
        ),
        (TOPIC_GROUP, ChangeBody::ChatDissolved { by }) => done(
            TOPIC_GROUP,
            OP_DELETE,
            serde_json::to_vec(&chat_event(by, None)),
        ),
        _ => Err(format!(
            "a {} change cannot be rendered as {}",
            d.body.kind(),
            d.event_type
        )),
    }
}
