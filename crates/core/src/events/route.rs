//! Who hears a change: the routing rules, and the dialect hook that names and filters.
//!
//! The rules (docs/events.md holds the same list, and `testing::events` a test for each):
//! - a message: every app that is a member of its chat, except its sender, hears it; in a
//!   p2p chat always, in a group when it is mentioned (by name or by @all) or, when the
//!   dialect says so, always (Feishu's "all group messages" scope);
//! - a removal (recall or delete): the apps that heard the message, except the remover;
//! - an edit: the apps that heard the message, except its editor;
//! - members added to or removed from a group: each app among them hears that it was
//!   added or removed; each other app in the group hears which users came or went;
//! - a dissolved chat: every app in it;
//! - nothing of another tenant's chats (a chat's members are of its tenant), and only the
//!   event types each app subscribed to (the dialect's names, in its subscription).

use crate::events::{Change, ChangeBody, Delivery, Subscription};
use crate::ids::AppId;
use crate::model::{Actor, App, Chat, ChatKind, Member, MentionTarget, Message, Millis};
use async_trait::async_trait;
use rand::RngCore;
use std::sync::Arc;

/// What an app hears, before a dialect names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    MessageReceived,
    MessageEdited,
    MessageRecalled,
    BotAdded,
    BotRemoved,
    UsersAdded,
    UsersRemoved,
    ChatDisbanded,
}

/// One app's hearing of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hearing {
    pub app: AppId,
    pub kind: EventKind,
    /// For a message: whether it mentions the app (or everyone).
    pub mentioned: bool,
    pub chat_kind: ChatKind,
}

/// A request to a receiver, as a dialect renders it: header names in the exact casing to
/// send, and the exact body bytes (signatures are computed over them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A dialect's part in routing and rendering: the names of its event types, which
/// hearings its apps may receive beyond the common rules, and its wire.
#[async_trait]
pub trait EventDialect: Send + Sync {
    /// The dialect's name in subscriptions ("feishu", "hi", …).
    fn name(&self) -> &'static str;
    /// Every event type the dialect can deliver (a subscription may name only these).
    fn event_types(&self) -> &'static [&'static str];
    /// Whether a subscriber hears every chat of its tenant, member or not (Yunxin's message
    /// copy is a data sync of the whole app, not a bot's view).
    fn hears_every_chat(&self) -> bool {
        false
    }
    /// The long connections its apps hold on this node, when the dialect has that mode.
    fn connections(&self) -> Option<Arc<dyn Connections>> {
        None
    }
    /// The event type `app` receives for `h` on this dialect, or `None` when the dialect
    /// has no such event or `app` may not hear it (a group message that does not mention
    /// it, without the scope for every group message).
    fn event_type(&self, app: &App, h: &Hearing) -> Option<&'static str>;
    /// The plaintext event of `d` as `sub`'s app sees it (ids rendered for that app).
    async fn render(&self, sub: &Subscription, d: &Delivery) -> Result<Vec<u8>, String>;
    /// One webhook attempt's request for the rendered event `plain` (encrypted and signed
    /// as the subscription says, or with `app`'s credentials where the vendor keys events
    /// with them; a fresh nonce per attempt).
    fn webhook(&self, sub: &Subscription, app: &App, plain: &[u8], now: Millis) -> Outgoing;
    /// The URL-verification request sent when `app`'s webhook subscription is saved.
    fn challenge(&self, sub: &Subscription, app: &App, challenge: &str, now: Millis) -> Outgoing;
    /// Whether the change is announced on this dialect at all (a Yunxin message sent with
    /// its copy switched off is not). Asked before any hearing is named.
    fn announces(&self, _change: &ChangeBody) -> bool {
        true
    }
    /// Whether a receiver's answer body to [`EventDialect::challenge`] echoes it.
    fn challenge_answered(&self, challenge: &str, body: &[u8]) -> bool;
}

/// Whether a receiver's answer body echoes `challenge` as `{"challenge":"…"}` (other keys
/// allowed): the URL verification Feishu, Hi and WPS share.
pub fn echoes_challenge(challenge: &str, body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Answer {
        challenge: Option<String>,
    }
    serde_json::from_slice::<Answer>(body)
        .ok()
        .and_then(|a| a.challenge)
        .is_some_and(|c| c == challenge)
}

/// What came back from pushing an event down a long connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The client acked it with this code (Feishu: 200 for handled, 500 for a failed
    /// handler).
    Acked(i32),
    /// No ack within the deadline.
    NoAck,
    /// The app has no connection open on this node (any more).
    NoConnection,
}

/// The long connections of a dialect's apps held by this node: the deliverer pushes
/// long-connection deliveries through them.
#[async_trait]
pub trait Connections: Send + Sync {
    /// The apps with at least one connection open on this node.
    fn apps(&self) -> Vec<AppId>;
    /// How many connections are open on this node, all apps together.
    fn open(&self) -> usize;
    /// Sends the plaintext event `plain` (with its id) to one of `app`'s connections and
    /// waits up to `deadline` for the client's ack.
    async fn push(
        &self,
        app: AppId,
        event_id: &str,
        plain: Vec<u8>,
        deadline: std::time::Duration,
    ) -> Pushed;
    /// Resolves when an app's connection opens on this node (events may be waiting for it).
    async fn opened(&self);
}

/// Every app that hears `change`, given its chat and the chat's members now, and the apps
/// that hear every chat of the tenant as if they were members (`everywhere`).
pub fn hearers(
    change: &Change,
    chat: &Chat,
    members: &[Member],
    everywhere: &[AppId],
) -> Vec<Hearing> {
    let mut listed: Vec<AppId> = members
        .iter()
        .filter_map(|m| match m.actor {
            Actor::App(a) => Some(a),
            Actor::User(_) => None,
        })
        .collect();
    for a in everywhere {
        if !listed.contains(a) {
            listed.push(*a);
        }
    }
    let apps = listed.iter().copied();
    let hear = |app, kind, mentioned| Hearing {
        app,
        kind,
        mentioned,
        chat_kind: chat.kind,
    };
    match &change.body {
        ChangeBody::MessageCreated { message } => apps
            .filter(|a| message.sender != Actor::App(*a))
            .map(|a| hear(a, EventKind::MessageReceived, mentions(message, a)))
            .collect(),
        ChangeBody::MessageEdited { message } => apps
            .filter(|a| message.sender != Actor::App(*a))
            .filter(|a| message.edit.as_ref().is_none_or(|e| e.by != Actor::App(*a)))
            .map(|a| hear(a, EventKind::MessageEdited, mentions(message, a)))
            .collect(),
        ChangeBody::MessageRemoved { message } => apps
            .filter(|a| message.sender != Actor::App(*a))
            .filter(|a| {
                message
                    .removal
                    .as_ref()
                    .is_none_or(|r| r.by != Actor::App(*a))
            })
            .map(|a| hear(a, EventKind::MessageRecalled, mentions(message, a)))
            .collect(),
        ChangeBody::MembersAdded { members: came, .. }
        | ChangeBody::MembersRemoved { members: came, .. } => {
            if chat.kind == ChatKind::P2p {
                return Vec::new();
            }
            let added = matches!(change.body, ChangeBody::MembersAdded { .. });
            let (bot, users) = if added {
                (EventKind::BotAdded, EventKind::UsersAdded)
            } else {
                (EventKind::BotRemoved, EventKind::UsersRemoved)
            };
            let mut out: Vec<Hearing> = came
                .iter()
                .filter_map(|a| match a {
                    Actor::App(a) => Some(hear(*a, bot, false)),
                    Actor::User(_) => None,
                })
                .collect();
            if came.iter().any(|a| matches!(a, Actor::User(_))) {
                let told: Vec<AppId> = out.iter().map(|h| h.app).collect();
                out.extend(
                    apps.filter(|a| !told.contains(a))
                        .map(|a| hear(a, users, false)),
                );
            }
            out
        }
        ChangeBody::ChatDissolved { .. } => apps
            .map(|a| hear(a, EventKind::ChatDisbanded, false))
            .collect(),
    }
}

fn mentions(m: &Message, app: AppId) -> bool {
    m.mentions
        .iter()
        .any(|x| matches!(x.target, MentionTarget::All) || x.target == MentionTarget::App(app))
}

/// A fresh event id: 32 lowercase hex digits (128 random bits), as Feishu's are.
pub fn new_event_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}
